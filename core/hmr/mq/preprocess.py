"""Crops to network input: resize to the configured size, normalise, and rescale intrinsics.

Pixel convention (OpenCV's): integer pixel coordinates are pixel centres, so resizing a W-wide
image to S pixels maps x to ``(x + 0.5) * S / W - 0.5``; intrinsics and 2D points change alike.
Torch inference, the onnxruntime runner and the training data loader all go through here, so the
three see identical inputs.
"""

from __future__ import annotations

import cv2
import numpy as np

from core.hmr.mq.config import MQHMRConfig

__all__ = [
    "N_KEYPOINTS",
    "scale_intrinsics",
    "scale_points",
    "resize_crop",
    "preprocess_crops",
    "preprocess_keypoints",
]

N_KEYPOINTS = 33  # BlazePose order


def scale_intrinsics(k: np.ndarray, sx: float, sy: float) -> np.ndarray:
    """K (..., 3, 3) of an image resized by (sx, sy) (new size / old size)."""
    a = np.array([[sx, 0.0, 0.5 * sx - 0.5], [0.0, sy, 0.5 * sy - 0.5], [0.0, 0.0, 1.0]])
    return a @ np.asarray(k, dtype=np.float64)


def scale_points(p: np.ndarray, sx: float, sy: float) -> np.ndarray:
    """2D pixel points (..., 2) of an image resized by (sx, sy)."""
    p = np.asarray(p, dtype=np.float64)
    return np.stack([(p[..., 0] + 0.5) * sx - 0.5, (p[..., 1] + 0.5) * sy - 0.5], -1)


def resize_crop(img: np.ndarray, size: int) -> np.ndarray:
    """(H, W, 3) uint8 -> (size, size, 3) uint8 (area averaging when shrinking)."""
    h, w = img.shape[:2]
    if (h, w) == (size, size):
        return img
    interp = cv2.INTER_AREA if size < min(h, w) else cv2.INTER_LINEAR
    return cv2.resize(img, (size, size), interpolation=interp)


def _check(crops: np.ndarray, k: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    crops = np.asarray(crops)
    if crops.ndim == 3:
        crops = crops[None]
    if crops.ndim != 4 or crops.shape[-1] != 3 or crops.dtype != np.uint8:
        raise ValueError(
            f"expected RGB crops as uint8 of shape (B, H, W, 3), got {crops.dtype} {crops.shape}"
        )
    k = np.asarray(k, dtype=np.float64)
    if k.shape == (3, 3):
        k = np.broadcast_to(k, (crops.shape[0], 3, 3))
    if k.shape != (crops.shape[0], 3, 3):
        raise ValueError(f"expected K of shape ({crops.shape[0]}, 3, 3) pixels, got {k.shape}")
    if not np.isfinite(k).all() or (k[:, 0, 0] <= 0).any() or (k[:, 1, 1] <= 0).any():
        raise ValueError("K must be finite with positive focal lengths (pixels)")
    return crops, k


def preprocess_crops(
    crops: np.ndarray, k: np.ndarray, cfg: MQHMRConfig
) -> tuple[np.ndarray, np.ndarray]:
    """uint8 crops (B, H, W, 3) RGB and their K (B, 3, 3) -> network images (B, 3, S, S)
    float32 normalised and K (B, 3, 3) float32 in pixels of the S x S input."""
    crops, k = _check(crops, k)
    s = cfg.input_size
    h, w = crops.shape[1:3]
    x = np.stack([resize_crop(c, s) for c in crops]).astype(np.float32) / 255.0
    x = (x - np.asarray(cfg.mean, np.float32)) / np.asarray(cfg.std, np.float32)
    k_in = scale_intrinsics(k, s / w, s / h).astype(np.float32)
    return np.ascontiguousarray(x.transpose(0, 3, 1, 2)), k_in


def preprocess_keypoints(
    keypoints_px: np.ndarray | None,
    conf: np.ndarray | None,
    b: int,
    crop_hw: tuple[int, int],
    cfg: MQHMRConfig,
) -> np.ndarray:
    """Detector keypoints (B, 33, 2) in pixels of the crops (H x W) and their confidences
    (B, 33) (None: 1 where finite) -> the network's keypoint input (B, 33, 3) float32:
    (x px, y px, conf) in pixels of the S x S input, scaled exactly as K by
    :func:`preprocess_crops`. NaN points and points outside the input get conf 0 and xy 0;
    ``keypoints_px=None`` gives all zeros (no detector)."""
    out = np.zeros((b, N_KEYPOINTS, 3), np.float32)
    if keypoints_px is None:
        if conf is not None:
            raise ValueError("conf given without keypoints_px")
        return out
    kp = np.asarray(keypoints_px, dtype=np.float64)
    if kp.shape != (b, N_KEYPOINTS, 2):
        raise ValueError(
            f"expected keypoints_px of shape ({b}, {N_KEYPOINTS}, 2) (BlazePose order, pixels "
            f"of the crops), got {kp.shape}"
        )
    c = np.ones(kp.shape[:2]) if conf is None else np.asarray(conf, dtype=np.float64)
    if c.shape != kp.shape[:2]:
        raise ValueError(f"expected conf of shape {kp.shape[:2]}, got {c.shape}")
    s = cfg.input_size
    h, w = crop_hw
    xy = scale_points(np.nan_to_num(kp), s / w, s / h)
    ok = np.isfinite(kp).all(-1) & np.isfinite(c) & (c > 0)
    ok &= ((xy >= -0.5) & (xy <= s - 0.5)).all(-1)
    out[..., :2] = np.where(ok[..., None], xy, 0.0)
    out[..., 2] = np.where(ok, np.clip(np.nan_to_num(c), 0.0, 1.0), 0.0)
    return out
