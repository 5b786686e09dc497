"""2D-informed refinement on synthetic sequences with known answers."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import torch

from core import kinematics as K
from core import skeleton as sk
from core.motion import Camera
from core.neurik.data import random_trajectories
from core.neurik.markersets import blazepose33
from core.refine import (
    RefineConfig,
    RefineInputs,
    initial_translation,
    level_camera_rotation,
    refine,
)


def _scene(t: int = 40, seed: int = 0):
    rng = np.random.default_rng(seed)
    q = random_trajectories(rng, 1, t, fps=30.0)[0]
    q[:, sk.DOF["pelvis_rotation"]] = 0.4
    root = np.zeros((t, 3))
    root[:, 0] = np.linspace(-0.5, 0.5, t)
    root[:, 1] = 0.0
    root[:, 2] = -4.0  # 4 m in front of the camera
    offsets = sk.default_offsets(1.75)
    subject = SimpleNamespace(offsets_m=offsets, height_m=1.75)
    bodies, local = blazepose33().define(subject)
    cam = Camera(1200.0, 640.0, 360.0, 1280, 720, rotation=level_camera_rotation())
    fk = K.forward_kinematics(
        torch.from_numpy(q), torch.from_numpy(root), torch.from_numpy(offsets)
    )
    pts = K.body_points(fk, torch.from_numpy(bodies), torch.from_numpy(local)).numpy()
    kp = cam.project(pts) + rng.normal(scale=2.0, size=(t, 33, 2))
    return q, root, offsets, bodies, local, cam, kp, pts


def test_initial_translation_recovers_a_known_position() -> None:
    q, root, offsets, bodies, local, cam, kp, pts = _scene()
    rel = (pts - root[:, None]) @ cam.rotation.T  # camera-oriented, origin at the pelvis
    t_cam = initial_translation(rel, kp, np.ones(kp.shape[:2]), cam)
    expected = root @ cam.rotation.T
    assert np.abs(t_cam - expected).max() < 0.15  # metres, with 2 px detection noise at 4 m


def test_refinement_reduces_reprojection_error_and_moves_toward_truth() -> None:
    q, root, offsets, bodies, local, cam, kp, _ = _scene()
    rng = np.random.default_rng(5)
    lo, hi = sk.limits_rad()
    q_noisy = np.clip(
        q + rng.normal(scale=0.12, size=q.shape),
        np.where(np.isfinite(lo), lo, -9),
        np.where(np.isfinite(hi), hi, 9),
    )
    root_noisy = root + [0.1, 0.05, 0.3]
    inp = RefineInputs(
        kp,
        np.ones(kp.shape[:2]),
        cam,
        offsets,
        bodies,
        local,
        q_noisy,
        root_noisy,
        30.0,
        foot_keypoints=(29, 30, 31, 32),
    )
    # A start with independent per-frame noise (7 deg here) is what the default smooth
    # correction (w_smooth_dq) is not for: it keeps the start's frame-to-frame motion (the
    # lifter's; tests/test_refine_smooth.py). With the correction free per frame the data terms
    # must pull every frame onto the keypoints.
    cfg = RefineConfig(w_prior_q=0.05, w_smooth_dq=0.0, offset_param=False)
    res = refine(inp, cfg)
    before = np.nanmean(res.initial_reprojection_px)
    after = np.nanmean(res.reprojection_px)
    assert after < 0.5 * before, (before, after)
    assert after < 6.0  # px, detections carry 2 px noise
    assert sk.limit_violations(res.q_rad) == 0
    well = [
        sk.DOF[n]
        for n in (
            "hip_flexion_r",
            "hip_flexion_l",
            "knee_angle_r",
            "knee_angle_l",
            "elbow_flexion_r",
            "elbow_flexion_l",
        )
    ]
    err_before = np.abs(q_noisy[:, well] - q[:, well]).mean()
    err_after = np.abs(res.q_rad[:, well] - q[:, well]).mean()
    assert err_after < err_before, (np.rad2deg(err_before), np.rad2deg(err_after))
