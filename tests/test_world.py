"""World stage on synthetic scenes with a known floor, camera and contacts.

A real CMU walk (core.bvh, 30 fps) is put on a floor at Y = 0 (its stance soles define the floor)
and seen by a camera of known height, pitch and roll. The 'estimated' motion handed to the stage
is that walk with smooth joint-angle and position errors, in the level-camera frame the capture
works in before grounding; the 2D keypoints are the true motion projected, plus pixel noise.
"""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest

from core import fk_numpy
from core import skeleton as sk
from core.contacts import CONTACT_POINTS, contact_point_definitions, contact_positions
from core.metrics import contact_f1, floor_penetration, foot_sliding_per_phase
from core.motion import Camera
from core.world import (
    LEVEL_CAMERA_ROTATION,
    FloorConfig,
    WorldFrame,
    estimate_floor,
    pitch_roll_from_up,
    to_world,
    unwrap_root_angles,
    world_frame,
)
from tests.conftest import shared_path

CAM_HEIGHT_M, PITCH_DEG, ROLL_DEG = 1.35, 12.0, 3.0


def camera_looking_at(
    centre: np.ndarray, target: np.ndarray, roll_deg: float
) -> tuple[np.ndarray, np.ndarray]:
    """World (Y up) -> camera (x right, y down, z forward) rotation and translation of a camera at
    ``centre`` looking at ``target``, turned clockwise (seen from behind) by ``roll_deg``."""
    f = target - centre
    f = f / np.linalg.norm(f)
    right = np.cross(f, [0.0, 1.0, 0.0])
    right /= np.linalg.norm(right)
    up = np.cross(right, f)
    a = np.deg2rad(roll_deg)
    up, right = np.cos(a) * up + np.sin(a) * right, np.cos(a) * right - np.sin(a) * up
    rot = np.stack([right, -up, f])
    return rot, -rot @ centre


def smooth_noise(rng, shape, sigma, frames=9):
    x = rng.normal(size=shape)
    k = np.hanning(2 * frames + 1)
    k /= np.sqrt((k**2).sum())
    return sigma * np.apply_along_axis(lambda v: np.convolve(v, k, mode="same"), 0, x)


def true_contacts(points: np.ndarray, fps: float) -> np.ndarray:
    """Contact truth of the clean motion: sole within 3 cm of the floor and slower than 0.3 m/s."""
    speed = np.linalg.norm(np.gradient(points, axis=0), axis=-1) * fps
    return (points[..., 1] < 0.03) & (speed < 0.3)


@pytest.fixture(scope="module")
def scene():
    return make_scene()


def make_scene(noise: bool = True):
    from core.bvh import retarget_bvh

    motion, _ = retarget_bvh(
        shared_path("mocap", "cmu", "01_01.bvh"), max_frames=300, target_fps=30
    )
    fps, q, root, offsets = motion.fps, motion.q_rad, motion.root_m.copy(), motion.offsets_m
    bodies, local = contact_point_definitions(offsets)
    sole = contact_positions(q, root, offsets, bodies, local)
    root[:, 1] -= np.percentile(sole[..., 1].min(1), 10)  # the stance soles are the floor
    sole = contact_positions(q, root, offsets, bodies, local)
    # A camera 4.5 m from the middle of the walk, pitched down at PITCH_DEG and rolled.
    mid = 0.5 * (root.min(0) + root.max(0))
    target = np.array([mid[0], 0.0, mid[2]])
    horiz = np.array([np.sin(0.5), 0.0, np.cos(0.5)])  # 29 deg off the walk's side view
    dist = CAM_HEIGHT_M / np.tan(np.deg2rad(PITCH_DEG + 5.0))  # sight line hits the floor ahead
    centre = target + dist * horiz + [0.0, CAM_HEIGHT_M, 0.0]
    # Aim so that the optical axis is pitched by exactly PITCH_DEG.
    aim = centre + np.array([-horiz[0], -np.tan(np.deg2rad(PITCH_DEG)), -horiz[2]])
    r_wc, t_wc = camera_looking_at(centre, aim, ROLL_DEG)
    cam_world = Camera(1400.0, 960.0, 540.0, 1920, 1080, rotation=r_wc, translation_m=t_wc)
    # The 'estimate': smooth angle and position errors, then into the level-camera frame.
    rng = np.random.default_rng(3)
    lo, hi = sk.limits_rad()
    q_est = q + smooth_noise(rng, q.shape, np.deg2rad(3.0 * noise))
    q_est = np.clip(q_est, np.where(np.isfinite(lo), lo, -9), np.where(np.isfinite(hi), hi, 9))
    ray = (root - centre) / np.linalg.norm(root - centre, axis=1, keepdims=True)
    root_est = root + noise * (
        smooth_noise(rng, root.shape, 0.02) + ray * smooth_noise(rng, (len(q), 1), 0.05)
    )
    to_level = WorldFrame(
        LEVEL_CAMERA_ROTATION @ r_wc, -(LEVEL_CAMERA_ROTATION @ r_wc).T @ (LEVEL_CAMERA_ROTATION @ t_wc),
        0, 0, 0, 1400.0, "feet", "world",
    )  # fmt: skip
    q_level, root_level = to_world(to_level, q_est, root_est)
    return SimpleNamespace(
        fps=fps, q=q, root=root, offsets=offsets, bodies=bodies, local=local, sole=sole,
        cam_world=cam_world, q_level=q_level, root_level=root_level,
        contacts=true_contacts(sole, fps),
    )  # fmt: skip


def test_pitch_roll_signs_follow_the_camera() -> None:
    # A camera pitched down sees the world's up tilted toward itself (+z of the level frame).
    for pitch, roll in ((10.0, 0.0), (0.0, 5.0), (-8.0, -4.0)):
        r_wc, _ = camera_looking_at(
            np.zeros(3), np.array([1.0, -np.tan(np.deg2rad(pitch)), 0.0]), roll
        )
        up_level = LEVEL_CAMERA_ROTATION @ r_wc @ np.array([0.0, 1.0, 0.0])
        p, r = pitch_roll_from_up(up_level)
        assert abs(p - pitch) < 1e-6 and abs(r - roll) < 1e-6, (pitch, roll, p, r)


def test_floor_and_camera_from_the_feet(scene) -> None:
    sole = contact_positions(
        scene.q_level, scene.root_level, scene.offsets, scene.bodies, scene.local
    )
    fit = estimate_floor(sole, scene.fps)
    assert fit is not None
    frame = world_frame(fit, scene.q_level, scene.root_level, scene.fps, scene.cam_world)
    assert abs(frame.camera_height_m - CAM_HEIGHT_M) < 0.10, frame.message
    assert abs(frame.camera_pitch_deg - PITCH_DEG) < 3.0, frame.message
    assert abs(frame.camera_roll_deg - ROLL_DEG) < 3.0, frame.message
    # In the world frame the subject starts above the origin facing +X, and the soles are on Y=0.
    q_w, root_w = to_world(frame, scene.q_level, scene.root_level)
    assert np.hypot(root_w[0, 0], root_w[0, 2]) < 1e-6
    rot, _ = fk_numpy.forward_kinematics(q_w[:12], root_w[:12], scene.offsets)
    fwd = rot[:, 0, :, 0].mean(0)
    assert fwd[0] > 0.95 * np.linalg.norm(fwd)
    sole_w = contact_positions(q_w, root_w, scene.offsets, scene.bodies, scene.local)
    stance = scene.contacts
    assert abs(np.median(sole_w[..., 1][stance])) < 0.05


def test_stature_uncertainty_joins_the_camera_height_error(scene) -> None:
    # Without --height the scene's scale is the population's stature: its spread (6 %) joins the
    # floor fit's own standard error in quadrature, and the message says which one dominates.
    from core.hmr.fit import POPULATION_STATURE_M, POPULATION_STATURE_SD_M

    sole = contact_positions(
        scene.q_level, scene.root_level, scene.offsets, scene.bodies, scene.local
    )
    fit = estimate_floor(sole, scene.fps)
    args = (fit, scene.q_level, scene.root_level, scene.fps, scene.cam_world)
    given = world_frame(*args)
    rel = POPULATION_STATURE_SD_M / POPULATION_STATURE_M
    unknown = world_frame(*args, scale_sd_rel=rel)
    assert given.camera_height_sd_m == fit.camera_height_sd_m
    expected = np.hypot(fit.camera_height_sd_m, rel * given.camera_height_m)
    assert abs(unknown.camera_height_sd_m - expected) < 1e-12
    assert unknown.camera_height_m == given.camera_height_m
    assert ("stature" in unknown.message) == (rel * given.camera_height_m > fit.camera_height_sd_m)
    assert "stature" not in given.message


def test_no_feet_seen_gives_no_floor(scene) -> None:
    sole = contact_positions(
        scene.q_level, scene.root_level, scene.offsets, scene.bodies, scene.local
    )
    conf = np.full(sole.shape[:2], 0.1)
    assert estimate_floor(sole, scene.fps, conf=conf) is None
    assert estimate_floor(sole[:5], scene.fps) is None  # too few frames to tell


def test_unwrapped_root_has_no_turn_steps() -> None:
    t = np.linspace(0, 4 * np.pi, 200)
    q = np.zeros((200, sk.N_DOFS))
    q[:, sk.DOF["pelvis_rotation"]] = np.angle(np.exp(1j * t))  # wraps at +-180 deg twice
    out = unwrap_root_angles(q)[:, sk.DOF["pelvis_rotation"]]
    assert np.abs(np.diff(out)).max() < np.deg2rad(5)
    assert abs(out[-1] - out[0] - 4 * np.pi) < 0.1


def test_metrics_on_hand_made_cases() -> None:
    pts = np.zeros((10, 1, 3))
    pts[:, 0, 0] = np.arange(10) * 0.01  # slides 1 cm per frame
    contact = np.zeros((10, 1), bool)
    contact[2:6] = True
    assert np.allclose(foot_sliding_per_phase(pts, contact, 30.0), [0.03])
    pts[4, 0, 1] = -0.02
    assert np.allclose(floor_penetration(pts), np.where(np.arange(10) == 4, 0.02, 0.0))
    truth = np.array([[1, 1, 0, 0]], bool).T
    assert contact_f1(np.array([[0.9, 0.2, 0.7, 0.1]]).T, truth) == pytest.approx(0.5)
    assert CONTACT_POINTS == ("heel_r", "toe_r", "heel_l", "toe_l")


def _grounded(scene):
    """The stage's steps on the scene: floor, world frame, contacts (as core.capture runs them)."""
    from core.contacts import detect_contacts

    sole = contact_positions(
        scene.q_level, scene.root_level, scene.offsets, scene.bodies, scene.local
    )
    fit = estimate_floor(sole, scene.fps)
    level_cam = Camera(1400.0, 960.0, 540.0, 1920, 1080, rotation=LEVEL_CAMERA_ROTATION)
    frame = world_frame(fit, scene.q_level, scene.root_level, scene.fps, level_cam)
    q_w, root_w = to_world(frame, scene.q_level, scene.root_level)
    cam_w = frame.camera(level_cam)
    sole_w = contact_positions(q_w, root_w, scene.offsets, scene.bodies, scene.local)
    # The detected heel/toe keypoints: the true sole points projected, with 2 px noise.
    rng = np.random.default_rng(7)
    kp = scene.cam_world.project(scene.sole) + rng.normal(
        scale=2.0, size=scene.sole.shape[:2] + (2,)
    )
    cr = detect_contacts(sole_w, scene.fps, camera=cam_w, keypoints_px=kp)
    return frame, q_w, root_w, cam_w, cr


def test_contacts_match_the_truth(scene) -> None:
    *_, cr = _grounded(scene)
    f1 = contact_f1(cr.probability, scene.contacts)
    assert f1 >= 0.9, f1
    assert ((cr.probability > 0.5) == cr.state).all()


def test_refinement_plants_the_contacts(scene) -> None:
    from core.neurik.markersets import blazepose33
    from core.refine import Phase, RefineConfig, RefineInputs, refine

    frame, q_w, root_w, cam_w, cr = _grounded(scene)
    win = slice(90, 180)  # 3 s of walking
    subject = SimpleNamespace(offsets_m=scene.offsets, height_m=1.75)
    kb, kl = blazepose33().define(subject)
    rot, org = fk_numpy.forward_kinematics(scene.q[win], scene.root[win], scene.offsets)
    kp_true = fk_numpy.body_points(rot, org, kb, kl)
    rng = np.random.default_rng(11)
    kp = scene.cam_world.project(kp_true) + rng.normal(scale=2.0, size=kp_true.shape[:2] + (2,))
    state = cr.state[win]
    inp = RefineInputs(
        kp, np.ones(kp.shape[:2]), cam_w, scene.offsets, kb, kl, q_w[win], root_w[win],
        scene.fps, contact_bodies=scene.bodies, contact_local_m=scene.local,
        contact_state=state,
    )  # fmt: skip
    res = refine(inp, RefineConfig(phases=[Phase("contact", 150, 0.01, True)]))
    sole = contact_positions(res.q_rad, res.root_m, scene.offsets, scene.bodies, scene.local)
    before = contact_positions(q_w[win], root_w[win], scene.offsets, scene.bodies, scene.local)
    slide = foot_sliding_per_phase(sole, state, scene.fps)
    slide0 = foot_sliding_per_phase(before, state, scene.fps)
    assert len(slide) >= 6
    assert np.median(slide) <= 0.02 and np.median(slide) < np.median(slide0), (slide, slide0)
    assert floor_penetration(sole).max() <= 0.01
    assert np.abs(sole[..., 1][state]).max() < 0.02  # planted on the floor
    assert np.nanmean(res.reprojection_px) < np.nanmean(res.initial_reprojection_px)


def test_floor_under_a_box_the_person_stands_on_longer() -> None:
    """Standing 2 s on a 0.4 m box and 1 s on the floor around it: the floor is the lower level
    (camera 1.2 m above it), not the box top."""
    rng = np.random.default_rng(0)
    fps = 30.0

    def still(n, x, y, z):  # two feet (heel, toe each) standing still, 2 cm noise
        base = np.array([[x, y, z], [x + 0.2, y, z], [x, y, z + 0.25], [x + 0.2, y, z + 0.25]])
        return base + rng.normal(scale=0.01, size=(n, 4, 3))

    sole = np.concatenate(
        [still(15, -1.0, -1.2, -4.0), still(60, 0.0, -0.8, -4.5), still(15, 1.0, -1.2, -5.0)]
    )
    fit = estimate_floor(sole, fps)
    assert fit is not None
    assert abs(-fit.offset_m - 1.2) < 0.03 and fit.up[1] > np.cos(np.deg2rad(3))
    assert 0.5 < fit.elevated_fraction < 0.8  # the box-top points


def treadmill_run_soles(rng, fps=30.0, seconds=3.0, belt=3.5, camera_height=1.2):
    """(T, 4, 3) heel/toe soles of a treadmill run seen from the side (level-camera frame, the
    runner facing +X 4 m away): each stance rides the belt backward on the floor; each swing
    leaves and lands at the belt's speed, turning round in the air twice (after toe-off and
    before touch-down, about 10 cm up: the only slow points in the camera's frame)."""
    cycle, stance = 0.7, 0.25
    t = np.arange(int(seconds * fps)) / fps
    span = belt * stance  # the belt carries the foot this far in a stance
    feet = []
    for shift, z in ((0.0, -4.0), (cycle / 2, -3.8)):
        ph = ((t + shift) % cycle) / cycle * cycle
        s = np.clip((ph - stance) / (cycle - stance), 0.0, 1.0)
        # swing: a cubic from the stance's end back to its start, leaving and landing with the
        # belt's velocity (-belt * swing seconds per unit of s)
        v = -belt * (cycle - stance)
        swing = 0.4 - span + span * (3 * s**2 - 2 * s**3) + v * (s - 2 * s**2 + s**3)
        swing += v * (s**3 - s**2)
        x = np.where(ph < stance, 0.4 - belt * ph, swing)
        y = np.where(ph < stance, 0.0, 0.25 * np.sin(np.pi * s)) - camera_height
        heel = np.stack([x, y, np.full_like(x, z)], -1)
        feet += [heel, heel + [0.2, 0.0, 0.0]]
    return np.stack(feet, 1) + rng.normal(scale=0.005, size=(len(t), 4, 3))


def test_treadmill_floor_from_the_feet_riding_the_belt() -> None:
    """On a treadmill the stance feet move at the belt's speed and the slow sole points are the
    swing feet turning round in the air: told the belt's velocity, the floor is under the stance
    feet (camera 1.2 m above it); taking 'slow' in the camera frame puts it too high."""
    rng = np.random.default_rng(5)
    sole = treadmill_run_soles(rng)
    fit = estimate_floor(sole, 30.0, belt_velocity_mps=np.array([-3.5, 0.0, 0.0]))
    # within 5 cm: the swing feet just after toe-off and before touch-down also move with the
    # belt, a few cm up, and count as candidates
    assert fit is not None and abs(-fit.offset_m - 1.2) < 0.05, fit
    assert fit.up[1] > np.cos(np.deg2rad(3))
    naive = estimate_floor(sole, 30.0)
    assert naive is None or -naive.offset_m < 1.2 - 0.1, naive  # the turning feet's level
    # The belt's direction comes from the subject's facing (the pelvis's +X).
    from core.world import treadmill_velocity

    q = np.zeros((30, sk.N_DOFS))
    v = treadmill_velocity(q, np.array([0.0, 1.0, 0.0]), 30.0, 3.5)
    assert np.allclose(v, [-3.5, 0.0, 0.0], atol=1e-9), v


def test_a_support_above_the_camera_is_never_the_floor() -> None:
    """Standing 2 s on a box top 0.5 m ABOVE the camera (seen from below) and 0.7 s on the ground
    1.4 m below it: the camera cannot stand under its floor, so the ground is the floor; with
    only the box top there is no floor at all."""
    rng = np.random.default_rng(1)

    def still(n, x, y, z):
        base = np.array([[x, y, z], [x + 0.2, y, z], [x, y, z + 0.25], [x + 0.2, y, z + 0.25]])
        return base + rng.normal(scale=0.01, size=(n, 4, 3))

    box = still(60, 0.0, 0.5, -6.0)
    ground = np.concatenate([still(10, 1.0, -1.4, -6.5), still(10, 2.0, -1.4, -7.0)])
    fit = estimate_floor(np.concatenate([box, ground]), 30.0)
    # Two ground clusters leave the tilt loose (the ridge keeps it within a degree): 10 cm.
    assert fit is not None and abs(-fit.offset_m - 1.4) < 0.10 and fit.up[1] > 0.999
    assert estimate_floor(box, 30.0) is None


def test_a_support_not_clearly_below_the_camera_is_not_the_floor() -> None:
    """Someone standing 1.5 s on one spot 8-9 m away (the demo man on his box): the feet fix
    the plane's height there, but its tilt, and so its height under the camera, only through
    the tilt prior. A support 0.3 m below the camera 9 m away is within one standard error of the
    camera's height (about 0.38 m: above the 0.2 m bound, yet it could as well be above the
    camera): no floor.
    The same feet 1.5 m below the camera are the floor. The standard error is the tilt's
    extrapolated to the camera, so it grows with the distance: about half at 4 m."""
    rng = np.random.default_rng(4)

    def still(y, z, n=45):
        base = np.array([[0, y, z], [0.2, y, z], [0, y, z + 0.25], [0.2, y, z + 0.25]])
        return base + rng.normal(scale=0.01, size=(n, 4, 3))

    assert estimate_floor(still(-0.3, -9.0), 30.0) is None
    fit = estimate_floor(still(-1.5, -8.0), 30.0)
    assert fit is not None and abs(-fit.offset_m - 1.5) < 0.05, fit
    assert 0.1 < fit.camera_height_sd_m < 1.5, fit
    near = estimate_floor(still(-1.5, -4.0), 30.0)
    assert near is not None
    assert 0.35 < near.camera_height_sd_m / fit.camera_height_sd_m < 0.65, (near, fit)


def test_ground_below_a_raised_support_not_clearly_below_the_camera() -> None:
    """A box top 0.25 m below the camera 9 m away, stood on for 2 s (not clearly below the
    camera: not the floor), then 0.5 s on the ground 1.5 m below the camera, on too few points
    to be the best support (under a third of the box's): the ground is still found, and the
    box's points are counted as raised. The box alone stays 'no floor'."""
    rng = np.random.default_rng(5)

    def still(n, x, y, z):
        base = np.array([[x, y, z], [x + 0.2, y, z], [x, y, z + 0.25], [x + 0.2, y, z + 0.25]])
        return base + rng.normal(scale=0.01, size=(n, 4, 3))

    box = still(60, 0.0, -0.25, -9.0)
    ground = np.concatenate([still(8, 1.0, -1.5, -8.5), still(8, 2.0, -1.5, -8.0)])
    fit = estimate_floor(np.concatenate([box, ground]), 30.0)
    assert fit is not None and abs(-fit.offset_m - 1.5) < 0.10, fit
    assert fit.elevated_fraction > 0.7, fit  # the box top's points
    assert estimate_floor(box, 30.0) is None


def test_ground_under_a_long_stay_above_the_camera() -> None:
    """The demo man: 6 s still on a box top 0.2 m ABOVE the camera, a landing 1.7 m below the
    camera that is still for only 0.1 s, then 1.3 s of running (stance feet still for 0.2 s at a
    time). The box's many still points must not hide the ground: the floor is found 1.7 m below
    the camera (it was 'no floor' when the box points were floor candidates)."""
    rng = np.random.default_rng(2)

    def still(n, x, y, z):
        base = np.array([[x, y, z], [x + 0.2, y, z], [x, y, z + 0.25], [x + 0.2, y, z + 0.25]])
        return base + rng.normal(scale=0.01, size=(n, 4, 3))

    box = still(180, 0.0, 0.2, -6.2)
    landing = still(3, 1.0, -1.7, -6.6)
    run = np.zeros((40, 4, 3))
    for i in range(40):
        for foot, z in ((0, -6.6), (1, -6.35)):
            step = (i + 6 * foot) // 6  # each foot: 6 frames of stance, 6 of swing
            stance = step % 2 == 0
            x = 1.0 + 0.6 * step + (0.0 if stance else 0.1 * ((i + 6 * foot) % 6))
            y = -1.7 if stance else -1.4
            run[i, 2 * foot : 2 * foot + 2] = [[x, y, z], [x + 0.2, y, z]]
    run += rng.normal(scale=0.01, size=run.shape)
    fit = estimate_floor(np.concatenate([box, landing, run]), 30.0)
    assert fit is not None
    assert abs(-fit.offset_m - 1.7) < 0.15, -fit.offset_m
    assert fit.up[1] > np.cos(np.deg2rad(8.0))


def test_ground_below_a_box_top_reconstructed_tilted() -> None:
    """The demo man's sole points as the capture reconstructs them (``tests/data/
    demo_man_sole.npz``: the first refinement's heel and toe points of ``python -m core demo``
    the clip's 7.6 s, level-camera frame, with their keypoint confidences and the body-up
    prior): 5 s walking about on a box top level with the camera, whose points climb with depth
    (a monocular depth error) and, under a body-up prior pitched 4.5 deg, pass as candidates below
    it; then the jump down and a few stance frames on the lawn 1.3-2 m below the camera. The box
    top's consensus plane, tilted ~8 deg, lies 0.92 m under the camera and has six times the
    lawn's support: taken for the floor, it sank the lawn 18 cm and slid the feet at 2.9 m/s.
    The lowest level wins: the floor is the lawn's (1.97 m here; the scene's lines then bring
    it to 1.34 m, the camera height the woman's capture gives)."""
    data = np.load(Path(__file__).parent / "data" / "demo_man_sole.npz")
    sole = data["sole_m"].astype(np.float64)
    conf, prior, fps = data["foot_conf"], data["prior_up"], float(data["fps"])
    fit = estimate_floor(sole, fps, conf=conf, prior_up=prior)
    assert fit is not None and 1.2 < -fit.offset_m < 2.5, fit
    assert fit.elevated_fraction > 0.5, fit  # the box top's points
    # Without the lowest level's say the box top's tilted plane is taken for the floor.
    wrong = estimate_floor(
        sole, fps, conf=conf, prior_up=prior, cfg=FloorConfig(level_gap_m=np.inf)
    )
    assert wrong is not None and -wrong.offset_m < 1.1, wrong


def test_slowly_moving_handheld_camera_degrades_without_breaking(scene) -> None:
    """A camera that pans 15 deg and tilts 4 deg over the clip (handheld, slowly): the stage
    assumes a static camera, so the floor is a compromise, but it is found, the world frame is
    valid and contacts are computed."""
    from core.contacts import detect_contacts
    from core.world import _pelvis_angles, _pelvis_rotations

    t = len(scene.q_level)
    s = np.linspace(0.0, 1.0, t)
    yaw, tilt = np.deg2rad(15.0) * s, np.deg2rad(4.0) * s
    cy, sy, ct, st = np.cos(yaw), np.sin(yaw), np.cos(tilt), np.sin(tilt)
    one, zero = np.ones(t), np.zeros(t)
    r_yaw = np.stack([np.stack([cy, zero, sy], -1), np.stack([zero, one, zero], -1),
                      np.stack([-sy, zero, cy], -1)], -2)  # fmt: skip
    r_tilt = np.stack([np.stack([one, zero, zero], -1), np.stack([zero, ct, -st], -1),
                       np.stack([zero, st, ct], -1)], -2)  # fmt: skip
    r = r_tilt @ r_yaw  # (T, 3, 3): the moving camera's view of the level frame
    root = np.einsum("tij,tj->ti", r, scene.root_level)
    q = scene.q_level.copy()
    q[:, :3] = _pelvis_angles(r @ _pelvis_rotations(q))
    sole = contact_positions(q, root, scene.offsets, scene.bodies, scene.local)
    fit = estimate_floor(sole, scene.fps)
    assert fit is not None and np.isfinite(fit.rms_m)
    level_cam = Camera(1400.0, 960.0, 540.0, 1920, 1080, rotation=LEVEL_CAMERA_ROTATION)
    frame = world_frame(fit, q, root, scene.fps, level_cam)
    assert abs(frame.camera_pitch_deg - PITCH_DEG) < 8.0, frame.message
    q_w, root_w = to_world(frame, q, root)
    cr = detect_contacts(
        contact_positions(q_w, root_w, scene.offsets, scene.bodies, scene.local), scene.fps
    )
    assert np.isfinite(cr.probability).all() and cr.state.any()
