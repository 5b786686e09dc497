"""The harness's camera-height diagnostics (benchmarks/accuracy/grounding.py) on a hand-made
capture: the floor tilted by a known angle about the camera, the contact points exactly where the
truth has them."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest

from tests.test_accuracy_smoke import _truth


def _rot_x(deg: float) -> np.ndarray:
    a = np.deg2rad(deg)
    return np.array([[1, 0, 0], [0, np.cos(a), -np.sin(a)], [0, np.sin(a), np.cos(a)]])


def test_tilt_and_true_tilt_height_are_measured():
    """The capture's world is the truth's turned 4 deg about the camera's x axis (a pitch error)
    with its camera in the same place: the floor normal is 4 deg off in the camera frame, and
    the capture's contact points (the truth's, turned about the camera) give the camera's height
    above them along the true normal exactly as the truth does."""
    from benchmarks.accuracy.grounding import scores
    from core.contacts import contact_point_definitions, contact_positions
    from core.motion import Camera

    truth = _truth(seed=4, t=30)
    root = np.zeros((30, 3))
    bodies, local = contact_point_definitions(truth.offsets_m)
    pts = contact_positions(truth.q_rad, root, truth.offsets_m, bodies, local)
    root[:, 1] = -pts[..., 1].min()
    contact = np.zeros((30, 4), bool)
    contact[5:20, 0] = True
    centre = np.array([4.0, 1.3, 0.5])
    fwd = np.array([-1.0, -0.15, -0.1])
    fwd /= np.linalg.norm(fwd)
    right = np.cross(fwd, [0.0, 1.0, 0.0])
    right /= np.linalg.norm(right)
    r_true = np.stack([right, np.cross(fwd, right), fwd])  # world -> camera (y down)
    truth.contact, truth.cam_height_m, truth.cam_pitch_deg = contact, 1.3, 8.6
    truth.R_cam_world, truth.cam_centre_m = r_true, centre
    # The capture's world: p_cap = M p_true with M = r_true^T Rx(4) r_true (a rotation about the
    # camera's x axis through the camera centre), so its camera is r_true M^T.
    m = r_true.T @ _rot_x(4.0) @ r_true
    root_cap = (root - centre) @ m.T + centre  # the pelvis positions, rotated about the camera
    r_cap = r_true @ m.T
    cam = Camera(500.0, 320.0, 240.0, 640, 480, rotation=r_cap, translation_m=-r_cap @ centre)
    # The capture's pelvis orientation is turned by M too, so its whole body is the truth's
    # turned about the camera (core.world.to_world turns the pelvis angles).
    from core.world import WorldFrame, to_world

    q_cap, _ = to_world(
        WorldFrame(m, np.zeros(3), 0, 0, 0, 500.0, "feet", "world"), truth.q_rad, root
    )
    motion = SimpleNamespace(
        world={"frame": "world", "camera_height_m": 1.2, "camera_pitch_deg": 5.0,
               "camera_height_sd_m": 0.3},
        contacts=np.where(contact, 0.9, 0.1),
        q_rad=q_cap,
        root_m=root_cap,
        offsets_m=truth.offsets_m,
        surface=None,
        camera=cam,
    )  # fmt: skip
    s = scores(motion, truth)
    assert s["floor_tilt_err_deg"] == pytest.approx(4.0, abs=1e-6)
    # The random motion's heel is not on the floor in its "contact" frames: along the true
    # normal the camera is above the heel by 1.3 m minus the heel's true height (median).
    heel_true = contact_positions(truth.q_rad, root, truth.offsets_m, bodies, local)[5:20, 0, 1]
    assert s["camera_height_true_tilt_err_m"] == pytest.approx(np.median(heel_true), abs=1e-6)
    assert np.median(heel_true) > 0.01  # so the check above is not 0 == 0
    assert s["camera_height_err_m"] == pytest.approx(0.1)
    assert s["camera_height_sd_m"] == 0.3
    assert s["camera_height_within_sd"] == 1.0  # 0.1 m off, within the stated 0.3
    motion.world["camera_height_sd_m"] = 0.05
    assert scores(motion, truth)["camera_height_within_sd"] == 0.0
    motion.world["camera_height_sd_m"] = 0.3
    # Without a camera in the capture (an older bundle) the diagnostics are simply absent.
    motion.camera = None
    assert "floor_tilt_err_deg" not in scores(motion, truth)
