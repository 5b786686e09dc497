"""Contact timing against real force plates, and the two video cues behind it.

Force plates: OpenSim's gait2392 treadmill walk (reference scaled model and IK): the heel and toe
points of its calcaneus and toes bodies, sampled at 30 fps like a video, go through
``core.contacts.detect_contacts``; each heel strike and toe off must fall within two video frames
of the plates' (vertical force crossing 20 N). Measured: within 37 ms, mean |error| 20 ms.

Video cues (a camera and the feet's keypoints): a foot riding a treadmill belt moves across the
image at the belt's speed, and a monocular capture's stance foot drifts along the line of sight;
neither may hide a planted foot, and neither may turn a foot sliding across the image into one.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from core import skeleton as sk
from core.contacts import (
    ContactConfig,
    contact_point_definitions,
    contact_positions,
    detect_contacts,
)
from core.motion import Camera

FPS = 30.0
PLATE_N = 20.0  # a foot is loaded above this vertical force
OFFSETS = sk.default_offsets(1.75)
BODIES, LOCAL = contact_point_definitions(OFFSETS)


def _events(on: np.ndarray, t: np.ndarray) -> list[tuple[float, bool]]:
    """(time, True for a strike / False for a toe off) of each change of a boolean series."""
    e = np.flatnonzero(np.diff(on.astype(int)))
    return [(0.5 * (t[i] + t[i + 1]), bool(on[i + 1])) for i in e]


@pytest.mark.opensim
def test_gait2392_walk_contacts_match_force_plates(tmp_path) -> None:
    pytest.importorskip("opensim")
    from biomech_export.dynamics.wholebody import (
        body_kinematics,
        load_model,
        load_trajectory,
        lowpass,
    )
    from biomech_export.mot import read_mot
    from tests.test_grf import _gait2392

    model_path, ik, plates_path = _gait2392()
    model = load_model(model_path)
    traj = load_trajectory(model, ik)
    fs = 1.0 / float(np.mean(np.diff(traj.time_s)))
    traj.q = lowpass(traj.q, fs, 6.0)
    kin = body_kinematics(model, traj)
    pts = np.stack([kin.heel_m["r"], kin.toe_m["r"], kin.heel_m["l"], kin.toe_m["l"]], axis=1)
    step = int(round(fs / FPS))
    pts, t = pts[::step], kin.time_s[::step]
    floor = float(np.percentile(pts[..., 1], 2))  # the model's floor is not at Y = 0
    belt = np.array([-1.13, 0.0, 0.0])  # the belt speed the GRF estimate finds on this trial
    cr = detect_contacts(pts, FPS, floor_y=floor, belt_velocity_mps=belt)
    plates = read_mot(plates_path)
    inside = (t >= plates.time_s[0]) & (t <= plates.time_s[-1])
    errors = []
    for side, k, col in (("r", 0, "ground_force_vy"), ("l", 2, "1_ground_force_vy")):
        loaded = plates.column(col) > PLATE_N
        truth = [
            e for e in _events(loaded, plates.time_s) if t[inside][0] + 0.05 < e[0] < t[inside][-1]
        ]
        found = _events(cr.state[inside, k : k + 2].any(1), t[inside])
        assert len(truth) >= 3
        assert len(found) == len(truth), (side, truth, found)  # no missed or extra events
        for (te, strike), (fe, f_strike) in zip(truth, found, strict=True):
            assert strike == f_strike
            errors.append(fe - te)
    assert np.max(np.abs(errors)) < 2.0 / FPS, np.round(errors, 3)


def _side_camera(depth_m: float = 4.0) -> Camera:
    """A level camera 1 m above the floor looking along world -Z at the origin (walking along X
    crosses the image)."""
    rot = np.diag([1.0, -1.0, -1.0])  # world Y up -> image y down, looking along -Z
    return Camera(800.0, 320.0, 240.0, 640, 480, rotation=rot,
                  translation_m=-rot @ np.array([0.0, 1.0, depth_m]))  # fmt: skip


def _front_camera(depth_m: float = 4.0) -> Camera:
    """The same camera looking along world -X: forward motion is along the line of sight."""
    rot = np.array([[0.0, 0.0, -1.0], [0.0, -1.0, 0.0], [-1.0, 0.0, 0.0]])
    return Camera(800.0, 320.0, 240.0, 640, 480, rotation=rot,
                  translation_m=-rot @ np.array([depth_m, 1.0, 0.0]))  # fmt: skip


def _standing(n: int, x: np.ndarray, z: np.ndarray | None = None) -> np.ndarray:
    """(n, 4, 3) sole points of a person standing (soles on Y = 0) with the pelvis at x (, z)."""
    q = np.zeros((n, sk.N_DOFS))
    root = np.zeros((n, 3))
    stand = contact_positions(q[:1], root[:1], OFFSETS, BODIES, LOCAL)[0, :, 1].min()
    root[:, 0], root[:, 1] = x, -stand
    if z is not None:
        root[:, 2] = z
    return contact_positions(q, root, OFFSETS, BODIES, LOCAL)


def test_feet_on_a_belt_are_still_in_the_image_too() -> None:
    """Feet carried back at 2 m/s across a side view: planted with the belt's speed given, even
    though the keypoints move across the image; not planted on a still floor."""
    n = 40
    pts = _standing(n, -2.0 * np.arange(n) / FPS)
    cam = _side_camera()
    kp = cam.project(pts)
    belt = np.array([-2.0, 0.0, 0.0])
    on_belt = detect_contacts(pts, FPS, belt_velocity_mps=belt, camera=cam, keypoints_px=kp)
    floor = detect_contacts(pts, FPS, camera=cam, keypoints_px=kp)
    assert on_belt.state.all()
    assert np.median(on_belt.speed_mps) < 0.05  # the image motion is the belt's, nothing left
    assert not floor.state.any()


def test_line_of_sight_drift_does_not_hide_a_planted_foot() -> None:
    """A capture whose standing person drifts 1.5 m/s along the line of sight (a monocular
    depth error) while the keypoints stay put: planted once the support's drift is taken off;
    a real slide across the image (the keypoints move) still is not a contact."""
    n = 40
    still = _standing(n, np.zeros(n))
    cam = _front_camera()
    kp = cam.project(still)
    drifting = _standing(n, 1.5 * np.arange(n) / FPS)  # toward the camera, along its axis
    cr = detect_contacts(drifting, FPS, camera=cam, keypoints_px=kp)
    assert cr.state.all()
    off = replace(ContactConfig(), support_drift=False)
    assert not detect_contacts(drifting, FPS, camera=cam, keypoints_px=kp, cfg=off).state.any()
    sliding = _standing(n, 1.5 * np.arange(n) / FPS, z=1.5 * np.arange(n) / FPS)
    cr = detect_contacts(sliding, FPS, camera=cam, keypoints_px=cam.project(sliding))
    assert not cr.state.any()
