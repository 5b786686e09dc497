"""The lifter's input: 2D keypoints in a virtual camera aimed at the person, scale-normalised.

One function for training and capture, so both see the same numbers. Per window of frames:

1. pixels -> normalised camera rays with the intrinsics (focal known, or the detector's guess);
2. a virtual camera is aimed at the window's centre ray (mean torso point over the window) by a
   pan-tilt rotation (a level camera stays level), so the picture no longer depends on where in
   the image the person stands; the keypoints are re-projected in that virtual camera;
3. per frame, keypoints relative to that frame's torso centre, divided by the window's size (the
   median per-frame extent of the keypoints), plus the frame's centre and log size relative to the
   window (global motion), the window's log size (how far away, in focal units) and the
   confidences.

The pelvis orientation the lifter predicts is relative to the virtual camera (BSM axes: X right,
Y up, Z towards the camera); :func:`virtual_to_camera_bsm` maps it back.
"""

from __future__ import annotations

import warnings

import numpy as np

__all__ = ["N_KEYPOINTS", "FEATURES_PER_FRAME", "window_features", "virtual_to_camera_bsm"]

N_KEYPOINTS = 33
# x, y, confidence per keypoint; centre x, y and log size per frame; log window size
FEATURES_PER_FRAME = 3 * N_KEYPOINTS + 4
_TORSO = (11, 12, 23, 24)  # BlazePose shoulders and hips
_BSM = np.diag([1.0, -1.0, -1.0])  # camera (Y down, Z forward) <-> BSM camera frame (Y up)


def _pan_tilt_to_axis(d: np.ndarray) -> np.ndarray:
    """(B, 3) rays (camera coordinates, Y down) -> (B, 3, 3) rotations R = Rx(tilt) Ry(-pan) with
    R d along +Z: a pan-tilt head aimed at the ray, so a level camera stays level."""
    pan = np.arctan2(d[:, 0], d[:, 2])
    tilt = np.arctan2(d[:, 1], np.hypot(d[:, 0], d[:, 2]))
    cp, sp, ct, st = np.cos(pan), np.sin(pan), np.cos(tilt), np.sin(tilt)
    o, z = np.ones_like(pan), np.zeros_like(pan)
    ry = np.stack([np.stack([cp, z, -sp], -1), np.stack([z, o, z], -1),
                   np.stack([sp, z, cp], -1)], -2)  # fmt: skip
    rx = np.stack([np.stack([o, z, z], -1), np.stack([z, ct, -st], -1),
                   np.stack([z, st, ct], -1)], -2)  # fmt: skip
    return rx @ ry


def window_features(
    keypoints_px: np.ndarray,
    confidence: np.ndarray,
    focal_px: np.ndarray | float,
    principal_px: np.ndarray,
) -> tuple[np.ndarray, np.ndarray]:
    """Features of windows of 2D keypoints.

    keypoints_px (B, T, 33, 2) pixels (NaN where missing); confidence (B, T, 33) 0..1;
    focal_px scalar or (B,); principal_px (2,) or (B, 2). Returns features (B, T,
    FEATURES_PER_FRAME) float32 and the virtual-camera rotations (B, 3, 3) (camera coordinates,
    Y down: x_virtual = R @ x_camera)."""
    kp = np.asarray(keypoints_px, dtype=np.float64)
    b, t, k, _ = kp.shape
    f = np.broadcast_to(np.asarray(focal_px, dtype=np.float64), (b,))[:, None, None, None]
    pp = np.broadcast_to(np.asarray(principal_px, dtype=np.float64), (b, 2))[:, None, None]
    conf = np.asarray(confidence, dtype=np.float64)
    valid = (conf > 0) & np.isfinite(kp).all(-1)
    rays = np.concatenate([(kp - pp) / f, np.ones((b, t, k, 1))], -1)
    rays = np.where(valid[..., None], rays, np.nan)
    unit = rays / np.linalg.norm(rays, axis=-1, keepdims=True)  # a mean of directions turns
    with warnings.catch_warnings():  # with the camera (a mean of image points would not)
        warnings.simplefilter("ignore", RuntimeWarning)  # frames or windows with nothing valid
        torso = np.nanmean(unit[:, :, _TORSO], 2)  # (B, T, 3)
        torso = np.where(np.isfinite(torso), torso, np.nanmean(unit, 2))
        centre = np.nanmean(torso, 1)  # (B, 3)
    centre = np.where(np.isfinite(centre), centre, [0.0, 0.0, 1.0])
    rot = _pan_tilt_to_axis(centre / np.linalg.norm(centre, axis=-1, keepdims=True))
    v = rays @ np.swapaxes(rot, -1, -2)[:, None]  # (B, T, K, 3)
    xy = v[..., :2] / np.clip(v[..., 2:3], 1e-3, None)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        c_t = np.nanmean(xy[:, :, list(_TORSO)], 2)
        c_t = np.where(np.isfinite(c_t), c_t, np.nanmean(xy, 2))  # (B, T, 2)
        ext = np.nanmax(xy, 2) - np.nanmin(xy, 2)  # (B, T, 2)
        size_t = np.nanmax(ext, -1)  # (B, T)
        size = np.nanmedian(size_t, 1)  # (B,)
    size = np.where(np.isfinite(size) & (size > 1e-4), size, 1.0)
    found = np.isfinite(c_t).all(-1) & np.isfinite(size_t) & (size_t > 1e-6)  # (B, T)
    s = size[:, None, None, None]
    rel = np.where(valid[..., None], (xy - c_t[:, :, None]) / s, 0.0)
    rel = np.clip(np.nan_to_num(rel), -3.0, 3.0)
    cw = np.where(valid, np.clip(conf, 0.0, 1.0), 0.0)
    ctr = np.where(found[..., None], np.clip(np.nan_to_num(c_t) / s[..., 0], -5, 5), 0.0)
    lsz = np.where(found, np.log(np.clip(size_t, 1e-6, None) / size[:, None]), 0.0)
    glob = np.broadcast_to(np.log(size)[:, None, None], (b, t, 1))
    feats = np.concatenate(
        [rel.reshape(b, t, 2 * k), cw, ctr, np.clip(lsz, -2, 2)[..., None], glob], -1
    )
    return feats.astype(np.float32), rot


def virtual_to_camera_bsm(rot_virtual: np.ndarray, r_bsm_virtual: np.ndarray) -> np.ndarray:
    """Orientations (B, ..., 3, 3) in the virtual camera's BSM frame -> the real camera's BSM
    frame (X right, Y up, Z towards the camera), for the rotations returned by
    :func:`window_features`."""
    back = _BSM @ np.swapaxes(rot_virtual, -1, -2) @ _BSM  # (B, 3, 3)
    extra = r_bsm_virtual.ndim - back.ndim
    return back.reshape(back.shape[:1] + (1,) * extra + (3, 3)) @ r_bsm_virtual
