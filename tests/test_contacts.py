"""Contact detection and contact-planted refinement on hand-made motions with known contacts: a
jump (flight must stay flight), a step onto a box (the box is a support, not the floor) and a
treadmill (planted feet move with the belt)."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np

from core import fk_numpy
from core import skeleton as sk
from core.contacts import (
    ContactConfig,
    contact_phases,
    contact_point_definitions,
    contact_positions,
    detect_contacts,
)
from core.metrics import contact_f1, floor_penetration
from core.motion import Camera
from core.neurik.markersets import blazepose33
from core.refine import Phase, RefineConfig, RefineInputs, refine
from core.world import LEVEL_CAMERA_ROTATION

FPS = 30.0
OFFSETS = sk.default_offsets(1.75)
BODIES, LOCAL = contact_point_definitions(OFFSETS)


def standing_motion(root_y: np.ndarray, x: np.ndarray | None = None) -> tuple:
    """A person standing upright (zero pose, slightly bent knees) whose pelvis follows root_y
    (and x); soles on Y = 0 when root_y is at its standing height."""
    t = len(root_y)
    q = np.zeros((t, sk.N_DOFS))
    root = np.zeros((t, 3))
    if x is not None:
        root[:, 0] = x
    stand = contact_positions(q[:1], root[:1], OFFSETS, BODIES, LOCAL)[0, :, 1].min()
    root[:, 1] = root_y - stand
    return q, root


def jump(t_stand: int = 20, t_flight: int = 14) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Stand, jump 0.3 m up (parabolic flight of t_flight frames), land, stand."""
    y = np.zeros(2 * t_stand + t_flight)
    s = np.linspace(0, 1, t_flight + 2)[1:-1]
    y[t_stand : t_stand + t_flight] = 4 * 0.3 * s * (1 - s)
    q, root = standing_motion(y)
    truth = np.ones((len(y), 4), bool)
    truth[t_stand : t_stand + t_flight] = False
    return q, root, truth


def test_jump_flight_is_not_contact() -> None:
    q, root, truth = jump()
    sole = contact_positions(q, root, OFFSETS, BODIES, LOCAL)
    cr = detect_contacts(sole, FPS)
    assert contact_f1(cr.probability, truth) >= 0.9
    apex = len(q) // 2
    assert not cr.state[apex - 3 : apex + 4].any()  # the high part of the flight: no contact


def test_box_is_a_support_and_floor_still_counts() -> None:
    # Stand on the floor 1 s, step (0.3 s) onto a 0.3 m box, stand on it 1.5 s.
    y = np.concatenate([np.zeros(30), np.linspace(0, 0.3, 9), np.full(45, 0.3)])
    x = np.concatenate([np.zeros(30), np.linspace(0, 0.4, 9), np.full(45, 0.4)])
    q, root = standing_motion(y, x)
    sole = contact_positions(q, root, OFFSETS, BODIES, LOCAL)
    cr = detect_contacts(sole, FPS)
    assert cr.state[3:27].all()  # on the floor
    assert cr.state[45:-3].all()  # on the box: a support 0.3 m above the floor
    assert not cr.state[32:36].any()  # stepping up


def test_treadmill_feet_move_with_the_belt() -> None:
    x = -2.0 * np.arange(40) / FPS  # planted feet carried backward at 2 m/s (a run)
    q, root = standing_motion(np.zeros(40), x)
    sole = contact_positions(q, root, OFFSETS, BODIES, LOCAL)
    on_belt = detect_contacts(sole, FPS, belt_velocity_mps=np.array([-2.0, 0.0, 0.0]))
    still_floor = detect_contacts(sole, FPS)
    assert on_belt.state.all()
    assert not still_floor.state.any()


def test_a_foot_resting_on_its_toe_and_a_low_heel_is_planted_at_both() -> None:
    """Toes planted on the floor; the right heel 2 cm up (a foot pitched ~6 deg: resting), the
    left heel 8 cm up (a heel raise). A monocular capture's heels 'move' ~1 m/s in depth noise
    (the demo's man on the lawn): above the low-height speed limit, so a heel alone is not
    called. With ``flat_height_m`` (the default 0.045; 0 turns it off) the resting foot is pinned at both
    points (else the refinement lets it turn about its toe and skate); the raised heel stays
    free; per foot, the contact frames are those of the toes."""
    n = 30
    t = np.arange(n) / FPS
    pts = np.zeros((n, 4, 3))  # heel_r, toe_r, heel_l, toe_l
    pts[:, 1] = (0.2, 0.0, 0.1)
    pts[:, 3] = (0.2, 0.0, -0.1)
    pts[:, 0] = np.stack([0.9 * t, np.full(n, 0.02), np.full(n, 0.1)], 1)
    pts[:, 2] = np.stack([0.9 * t, np.full(n, 0.08), np.full(n, -0.1)], 1)
    off = detect_contacts(pts, FPS, cfg=ContactConfig(flat_height_m=0.0))  # a heel alone: no
    assert off.state[:, [1, 3]].all() and not off.state[:, [0, 2]].any()
    cr = detect_contacts(pts, FPS)  # the default
    assert cr.state[:, [1, 3]].all()  # the toes
    assert cr.state[:, 0].all()  # the resting right heel
    assert not cr.state[:, 2].any()  # the raised left heel
    assert (cr.probability[:, 0] > 0.5).all() and (cr.probability[:, 2] < 0.5).all()


def test_a_standing_foot_is_planted_at_the_clip_edges_too() -> None:
    """A person standing still, every contact point jittering 1.5 cm per frame (a monocular
    capture's noise): in contact in the first and last frames as in the others. Smoothing that
    shrinks to the end frame alone there, and a one-sided difference of it, made 0.5-1 m/s of
    'speed' out of that noise (at that time 93 of 200 seeds lost an end frame; the straight
    line fitted to the end window: 0 of 200, 10 of 200 at 2 cm)."""
    q, root = standing_motion(np.zeros(60))
    sole = contact_positions(q, root, OFFSETS, BODIES, LOCAL)
    for seed in range(20):
        noisy = sole + np.random.default_rng(seed).normal(0.0, 0.015, sole.shape)
        cr = detect_contacts(noisy, FPS)
        assert cr.state[[0, 1, -2, -1]].all(), seed
        assert (cr.probability[[0, -1]] > 0.5).all(), seed


def test_unseen_feet_are_undecided_not_planted() -> None:
    q, root, _ = jump()
    sole = contact_positions(q, root, OFFSETS, BODIES, LOCAL)
    cr = detect_contacts(sole, FPS, conf=np.zeros(sole.shape[:2]))
    assert (np.abs(cr.probability - 0.5) < 0.3).all()


def test_phases() -> None:
    s = np.array([[0, 1, 1, 0, 1], [1, 1, 0, 0, 0]], bool).T
    assert contact_phases(s) == [(0, 1, 3), (0, 4, 5), (1, 0, 2)]


def _refine_scene(q, root, state, seed=0, belt=None):
    """Refine a noisy start toward 2D keypoints of (q, root) seen by a level camera 4 m away."""
    rng = np.random.default_rng(seed)
    subject = SimpleNamespace(offsets_m=OFFSETS, height_m=1.75)
    kb, kl = blazepose33().define(subject)
    # Camera 1.0 m above the floor, 4 m in front: world -> camera with the world shifted.
    cam = Camera(1200.0, 640.0, 360.0, 1280, 720, rotation=LEVEL_CAMERA_ROTATION)
    cam.translation_m = LEVEL_CAMERA_ROTATION @ np.array([0.0, -1.0, -4.0])
    rot, org = fk_numpy.forward_kinematics(q, root, OFFSETS)
    kp = cam.project(fk_numpy.body_points(rot, org, kb, kl))
    kp += rng.normal(scale=1.5, size=kp.shape)
    lo, hi = sk.limits_rad()
    q0 = np.clip(
        q + rng.normal(scale=0.05, size=q.shape),
        np.where(np.isfinite(lo), lo + 1e-3, -9),
        np.where(np.isfinite(hi), hi - 1e-3, 9),
    )
    root0 = root + rng.normal(scale=0.03, size=root.shape)
    inp = RefineInputs(
        kp, np.ones(kp.shape[:2]), cam, OFFSETS, kb, kl, q0, root0, FPS,
        contact_bodies=BODIES, contact_local_m=LOCAL, contact_state=state,
        belt_velocity_mps=belt,
    )  # fmt: skip
    res = refine(inp, RefineConfig(phases=[Phase("contact", 150, 0.01, True)]))
    return res, contact_positions(res.q_rad, res.root_m, OFFSETS, BODIES, LOCAL)


def test_refined_jump_stays_a_jump() -> None:
    q, root, truth = jump()
    sole_true = contact_positions(q, root, OFFSETS, BODIES, LOCAL)
    cr = detect_contacts(sole_true, FPS)
    res, sole = _refine_scene(q, root, cr.state)
    apex = len(q) // 2
    # Flight keeps its height (the contact terms do not pull the airborne feet down)...
    assert abs(res.root_m[apex, 1] - root[apex, 1]) < 0.04
    assert sole[apex, :, 1].min() > 0.2
    # ...and the stance phases are on the floor, not below it.
    assert np.abs(sole[..., 1][cr.state]).max() < 0.02
    assert floor_penetration(sole).max() < 0.01


def test_refined_box_contact_keeps_its_height() -> None:
    y = np.concatenate([np.zeros(20), np.linspace(0, 0.3, 9), np.full(25, 0.3)])
    x = np.concatenate([np.zeros(20), np.linspace(0, 0.4, 9), np.full(25, 0.4)])
    q, root = standing_motion(y, x)
    sole_true = contact_positions(q, root, OFFSETS, BODIES, LOCAL)
    cr = detect_contacts(sole_true, FPS)
    res, sole = _refine_scene(q, root, cr.state, seed=1)
    on_box = cr.state.copy()
    on_box[:30] = False
    assert on_box.sum() > 40
    assert np.abs(sole[..., 1][on_box] - 0.3).max() < 0.03  # not forced down to Y = 0
    # No sliding on the box: each phase stays within 2 cm.
    for k, a, b in contact_phases(on_box):
        xz = sole[a:b, k][:, [0, 2]]
        assert np.linalg.norm(xz - xz[0], axis=1).max() < 0.02


def test_refined_step_down_below_the_floor_level_keeps_its_height() -> None:
    # The 'floor' (Y = 0) is a box top the person steps down from onto ground 0.3 m lower.
    y = np.concatenate([np.zeros(20), np.linspace(0, -0.3, 9), np.full(25, -0.3)])
    x = np.concatenate([np.zeros(20), np.linspace(0, 0.4, 9), np.full(25, 0.4)])
    q, root = standing_motion(y, x)
    cr = detect_contacts(contact_positions(q, root, OFFSETS, BODIES, LOCAL), FPS)
    res, sole = _refine_scene(q, root, cr.state, seed=2)
    below = cr.state.copy()
    below[:30] = False
    assert below.sum() > 40
    assert np.abs(sole[..., 1][below] + 0.3).max() < 0.03  # not pushed up to Y = 0


def test_refined_toes_dipped_through_the_floor_come_back_above_it() -> None:
    """The demo woman's regression: an initial solution with the right foot pitched toes-down
    (ankle plantarflexed, toes flexed) through the floor while the foot is unseen, and a short
    toe 'contact' phase called on that dip. The truth stands flat. After the refinement no foot
    point (contact points, toe tips) may be more than 1 cm under the floor: the dipped phase must
    not switch the floor bound off, and the toe tip (not only the sole points) is bounded."""
    from core.contacts import sole_point_definitions

    t = 40
    q, root = standing_motion(np.zeros(t))
    dip = slice(5, 36)
    q0 = q.copy()
    q0[dip, sk.DOF["ankle_angle_r"]] = np.deg2rad(-40.0)
    q0[dip, sk.DOF["mtp_angle_r"]] = np.deg2rad(10.0)
    fb, fl = sole_point_definitions(OFFSETS)
    root0 = root - [0.0, 0.03, 0.0]  # and the whole body 3 cm low
    tips0 = contact_positions(q0, root0, OFFSETS, fb, fl)
    assert tips0[dip, 1, 1].mean() < -0.1  # the initial toe contact point is well under the floor
    state = np.ones((t, 4), bool)
    state[dip, :2] = False  # the right foot is off the floor while dipped...
    state[dip.start + 2 : dip.stop - 2, 1] = True  # ...but a toe 'contact' is called on the dip
    cam = Camera(1200.0, 640.0, 360.0, 1280, 720, rotation=LEVEL_CAMERA_ROTATION)
    cam.translation_m = LEVEL_CAMERA_ROTATION @ np.array([0.0, -1.0, -4.0])
    subject = SimpleNamespace(offsets_m=OFFSETS, height_m=1.75)
    kb, kl = blazepose33().define(subject)
    rot, org = fk_numpy.forward_kinematics(q, root, OFFSETS)
    kp = cam.project(fk_numpy.body_points(rot, org, kb, kl))
    conf = np.ones(kp.shape[:2])
    names = blazepose33().names
    for k in ("right_ankle", "right_heel", "right_foot_index", "right_knee"):
        conf[:, names.index(k)] = 0.0  # the foot is not seen: the prior alone holds it
    inp = RefineInputs(
        kp, conf, cam, OFFSETS, kb, kl, q0, root0, FPS,
        contact_bodies=BODIES, contact_local_m=LOCAL, contact_state=state,
        floor_bodies=fb, floor_local_m=fl,
    )  # fmt: skip
    res = refine(inp, RefineConfig(phases=[Phase("contact", 150, 0.01, True)]))
    pts = contact_positions(res.q_rad, res.root_m, OFFSETS, fb, fl)
    assert pts[..., 1].min() > -0.01, pts[..., 1].min(0)


def test_a_short_contact_under_the_floor_keeps_the_floor_bound() -> None:
    """A running clip's only contacts: four frames with every sole point 12 cm under Y = 0 in the
    initial solution (a depth glitch). That is no evidence of a support below the floor (a step
    down from a box lasts longer than 0.5 s): the floor stays a bound and the points come up."""
    t = 30
    q, root = standing_motion(np.zeros(t))
    root0 = root.copy()
    root0[10:14, 1] -= 0.12
    state = np.zeros((t, 4), bool)
    state[10:14] = True
    cam = Camera(1200.0, 640.0, 360.0, 1280, 720, rotation=LEVEL_CAMERA_ROTATION)
    cam.translation_m = LEVEL_CAMERA_ROTATION @ np.array([0.0, -1.0, -4.0])
    kb, kl = blazepose33().define(SimpleNamespace(offsets_m=OFFSETS, height_m=1.75))
    rot, org = fk_numpy.forward_kinematics(q, root, OFFSETS)
    kp = cam.project(fk_numpy.body_points(rot, org, kb, kl))
    inp = RefineInputs(
        kp, np.ones(kp.shape[:2]) * 0.05, cam, OFFSETS, kb, kl, q.copy(), root0, FPS,
        contact_bodies=BODIES, contact_local_m=LOCAL, contact_state=state,
    )  # fmt: skip
    res = refine(inp, RefineConfig(phases=[Phase("contact", 150, 0.01, True)]))
    sole = contact_positions(res.q_rad, res.root_m, OFFSETS, BODIES, LOCAL)
    assert sole[..., 1].min() > -0.01, sole[..., 1].min()
