"""MQ-HMR's camera convention: (log s, u, v) per crop <-> pelvis translation in the camera frame.

The camera head predicts where the pelvis origin projects in the crop and how large the body
appears, both in crop-normalised units, and converts them with the crop's intrinsics K (pixels of
the network input, OpenCV axes: x right, y down, z forward) into a perspective translation:

* ``u, v`` in [-2, 2]: the pelvis origin's image position, ``x_px = S / 2 * (1 + u)`` (S the crop
  size in pixels; -1 and 1 are the crop's left/top and right/bottom edges).
* ``s = exp(log_s)``, log_s in [-3, 3]: apparent scale, the number of crop half-widths that one
  metre at the pelvis depth spans, so ``t_z = 2 f / (s S)`` with ``f = (fx + fy) / 2`` (HMR's
  weak-perspective scale, made exact with the true focal length).
* ``t_x = (x_px - cx) t_z / fx``, ``t_y = (y_px - cy) t_z / fy``: exact for any principal point.

A body ~1.7 m tall filling ~80 % of a crop has s ~ 1 (log_s = 0, the untrained head's output).
"""

from __future__ import annotations

import torch
from torch import Tensor

__all__ = [
    "LOG_S_MAX",
    "UV_MAX",
    "camera_from_raw",
    "translation_from_camera",
    "camera_from_translation",
]

LOG_S_MAX = 3.0
UV_MAX = 2.0


def camera_from_raw(raw: Tensor) -> Tensor:
    """Unbounded head output (B, 3) -> (log_s, u, v) within their ranges (smoothly)."""
    log_s = LOG_S_MAX * torch.tanh(raw[:, 0:1] / LOG_S_MAX)
    uv = UV_MAX * torch.tanh(raw[:, 1:3] / UV_MAX)
    return torch.cat([log_s, uv], 1)


def translation_from_camera(cam: Tensor, k: Tensor, size: int) -> Tensor:
    """(log_s, u, v) (B, 3) and intrinsics K (B, 3, 3) of an S x S crop -> t_cam (B, 3) metres."""
    fx, fy = k[:, 0, 0], k[:, 1, 1]
    cx, cy = k[:, 0, 2], k[:, 1, 2]
    tz = (fx + fy) / (torch.exp(cam[:, 0]) * size)
    x_px = 0.5 * size * (1.0 + cam[:, 1])
    y_px = 0.5 * size * (1.0 + cam[:, 2])
    return torch.stack([(x_px - cx) * tz / fx, (y_px - cy) * tz / fy, tz], 1)


def camera_from_translation(t: Tensor, k: Tensor, size: int) -> Tensor:
    """Inverse of :func:`translation_from_camera` (t_z > 0). Values may fall outside the head's
    ranges for bodies far outside the crop."""
    fx, fy = k[:, 0, 0], k[:, 1, 1]
    cx, cy = k[:, 0, 2], k[:, 1, 2]
    tz = t[:, 2]
    log_s = torch.log((fx + fy) / (tz * size))
    u = (fx * t[:, 0] / tz + cx) / (0.5 * size) - 1.0
    v = (fy * t[:, 1] / tz + cy) / (0.5 * size) - 1.0
    return torch.stack([log_s, u, v], 1)
