"""A square person crop around confident 2D keypoints, with its intrinsics."""

from __future__ import annotations

from typing import NamedTuple

import cv2
import numpy as np

from core.hmr.mq.preprocess import scale_intrinsics

__all__ = ["Crop", "crop_from_keypoints", "frame_to_crop"]


class Crop(NamedTuple):
    image: np.ndarray  # (size, size, 3) uint8 RGB
    K: np.ndarray  # (3, 3) intrinsics of the crop, pixels (frame pixel p -> K @ inv(K_full) @ p)


def frame_to_crop(points_px: np.ndarray, crop_k: np.ndarray, k_full: np.ndarray) -> np.ndarray:
    """(..., 2) frame pixels -> the same points in pixels of the crop with intrinsics ``crop_k``
    (the crop is a scale and shift of the frame: ``crop_k @ inv(k_full)``)."""
    a = np.asarray(crop_k, np.float64) @ np.linalg.inv(np.asarray(k_full, np.float64))
    return np.asarray(points_px, np.float64) @ a[:2, :2].T + a[:2, 2]


def crop_from_keypoints(
    frame_rgb: np.ndarray,
    keypoints_2d_px: np.ndarray,
    conf: np.ndarray,
    k_full: np.ndarray,
    size: int,
    *,
    enlarge: float = 1.25,
    min_conf: float = 0.3,
) -> Crop:
    """Square box around the keypoints with conf >= min_conf, its side ``enlarge`` times the
    longer side of their bounding box, resampled to size x size with ``cv2.warpAffine`` (zeros
    outside the frame). ``K_crop = A @ K_full`` with A the frame-to-crop pixel map."""
    frame = np.asarray(frame_rgb)
    if frame.ndim != 3 or frame.shape[2] != 3 or frame.dtype != np.uint8:
        raise ValueError(f"expected an RGB uint8 frame (H, W, 3), got {frame.dtype} {frame.shape}")
    kp = np.asarray(keypoints_2d_px, dtype=np.float64)
    c = np.asarray(conf, dtype=np.float64)
    if kp.ndim != 2 or kp.shape[1] != 2 or c.shape != kp.shape[:1]:
        raise ValueError(f"expected keypoints (N, 2) and conf (N,), got {kp.shape}, {c.shape}")
    k_full = np.asarray(k_full, dtype=np.float64)
    if k_full.shape != (3, 3):
        raise ValueError(f"expected K_full of shape (3, 3), got {k_full.shape}")
    if size < 8:
        raise ValueError(f"crop size must be at least 8 pixels, got {size}")
    ok = (c >= min_conf) & np.isfinite(kp).all(1)
    if ok.sum() < 2:
        raise ValueError(
            f"need at least 2 keypoints with confidence >= {min_conf} to place a crop, "
            f"got {int(ok.sum())}"
        )
    lo, hi = kp[ok].min(0), kp[ok].max(0)
    centre = 0.5 * (lo + hi)
    side = max(float((hi - lo).max()) * enlarge, 16.0)
    scale = size / side
    # Frame pixel (x, y) -> crop pixel: pixel centres map onto pixel centres.
    ox = (0.5 * size - 0.5) - scale * centre[0]
    oy = (0.5 * size - 0.5) - scale * centre[1]
    a = np.array([[scale, 0.0, ox], [0.0, scale, oy], [0.0, 0.0, 1.0]])
    src, a_src = frame, a
    if scale < 0.5:  # warpAffine has no area filter: shrink with one first to avoid aliasing
        r = 2.0 * scale
        h, w = frame.shape[:2]
        nw, nh = max(1, round(w * r)), max(1, round(h * r))
        src = cv2.resize(frame, (nw, nh), interpolation=cv2.INTER_AREA)
        a_src = a @ np.linalg.inv(scale_intrinsics(np.eye(3), nw / w, nh / h))
    image = cv2.warpAffine(
        src,
        a_src[:2],
        (size, size),
        flags=cv2.INTER_LINEAR,
        borderMode=cv2.BORDER_CONSTANT,
        borderValue=(0, 0, 0),
    )
    return Crop(image, a @ k_full)
