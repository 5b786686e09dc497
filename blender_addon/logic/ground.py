"""The captured subject's floor and foot contacts (pure numpy, OpenSim frame: Y up).

A bundle written with a world frame (floor at Y = 0) and a ``contacts`` array is used as it is.
Older bundles get both from the feet themselves:

* sole points: heel = calcaneus origin, toe = toes (MTP) origin, each lowered by the sole
  clearance (the calcaneus origin's height above the sole at rest: from the bundle's body surface
  when it has one, else ``SOLE_CLEARANCE_PER_LEG`` x leg length);
* floor: the 5th percentile of the lowest sole point per frame (a foot is on the ground in far
  more than 5 % of any walk or jump);
* contacts: a sole point is in contact while it is near the floor and nearly still, with
  hysteresis and a minimum duration; probabilities in 0..1 (threshold 0.5).

Also the per-frame helpers the import needs: resampling to another frame rate and zero-phase
Gaussian smoothing.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from . import bsm46
from .kinematics import forward_kinematics

__all__ = [
    "CONTACT_NAMES",
    "GroundInfo",
    "sole_clearance_m",
    "sole_points",
    "find_floor",
    "detect_contacts",
    "ground_motion",
    "resample",
    "smooth",
]

CONTACT_NAMES = ("heel_r", "toe_r", "heel_l", "toe_l")  # the bundle's ``contacts`` column order
_POINT_BODY = {"heel_r": "calcn_r", "toe_r": "toes_r", "heel_l": "calcn_l", "toe_l": "toes_l"}
SOLE_CLEARANCE_PER_LEG = 0.04  # calcaneus origin above the sole / (thigh + shank length)


@dataclass
class GroundInfo:
    floor_y_m: float  # floor height in the bundle's frame (0 for a world-frame bundle)
    contacts: np.ndarray  # (T, 4) probabilities 0..1, CONTACT_NAMES order
    source: str  # "bundle" (world frame and contacts from the capture) or "feet" (estimated)
    clearance_m: float  # sole below the calcaneus / toes origins


def _leg_length(offsets_m: np.ndarray) -> float:
    b = bsm46.BODY
    return float(
        np.mean(
            [
                np.linalg.norm(offsets_m[b[f"tibia_{s}"]])
                + np.linalg.norm(offsets_m[b[f"talus_{s}"]])
                for s in "rl"
            ]
        )
    )


def sole_clearance_m(offsets_m: np.ndarray, surface_vertices_m: np.ndarray | None = None) -> float:
    """Height of the calcaneus origin above the sole in the neutral pose."""
    offsets_m = np.asarray(offsets_m, dtype=np.float64)
    if surface_vertices_m is not None and len(surface_vertices_m):
        _, rest = forward_kinematics(np.zeros(bsm46.N_DOFS), np.zeros(3), offsets_m)
        heel_y = min(rest[bsm46.BODY[f"calcn_{s}"], 1] for s in "rl")
        c = float(heel_y - np.min(np.asarray(surface_vertices_m)[:, 1]))
        if 0.0 < c < 0.15:
            return c
    return SOLE_CLEARANCE_PER_LEG * _leg_length(offsets_m)


def sole_points(origins_m: np.ndarray, clearance_m: float) -> np.ndarray:
    """(T, 24, 3) body origins -> (T, 4, 3) sole points (CONTACT_NAMES order)."""
    idx = [bsm46.BODY[_POINT_BODY[n]] for n in CONTACT_NAMES]
    pts = np.array(origins_m[:, idx], dtype=np.float64)
    pts[..., 1] -= clearance_m
    return pts


def find_floor(soles_m: np.ndarray) -> float:
    """Floor height (Y) under (T, 4, 3) sole points."""
    return float(np.percentile(soles_m[..., 1].min(axis=1), 5))


def _min_duration(on: np.ndarray, n: int) -> np.ndarray:
    """Drop runs of True shorter than n frames."""
    out = on.copy()
    t = 0
    while t < len(on):
        if on[t]:
            e = t
            while e < len(on) and on[e]:
                e += 1
            if e - t < n:
                out[t:e] = False
            t = e
        else:
            t += 1
    return out


def detect_contacts(
    soles_m: np.ndarray,
    fps: float,
    floor_y_m: float,
    *,
    height_m: float = 0.04,
    speed_m_s: float = 0.45,
    min_frames: int = 2,
) -> np.ndarray:
    """(T, 4, 3) sole points -> (T, 4) contact probabilities: near the floor and nearly still.

    Probability = product of two soft ramps (height above the floor against ``height_m``,
    horizontal speed against ``speed_m_s``); contacts shorter than ``min_frames`` are dropped."""
    soles_m = np.asarray(soles_m, dtype=np.float64)
    t = soles_m.shape[0]
    h = soles_m[..., 1] - floor_y_m
    if t > 1:
        v = np.zeros((t, soles_m.shape[1]))
        d = np.linalg.norm(np.diff(soles_m[..., [0, 2]], axis=0), axis=-1) * fps
        v[1:-1] = 0.5 * (d[:-1] + d[1:])
        v[0], v[-1] = d[0], d[-1]
    else:
        v = np.zeros((t, soles_m.shape[1]))
    p_h = np.clip(1.5 - h / height_m, 0.0, 1.0)  # 1 below 0.5 h, 0 above 1.5 h
    p_v = np.clip(1.5 - v / speed_m_s, 0.0, 1.0)
    p = p_h * p_v
    for k in range(p.shape[1]):
        keep = _min_duration(p[:, k] >= 0.5, min_frames)
        p[~keep, k] = np.minimum(p[~keep, k], 0.49)
    return p


def ground_motion(
    origins_m: np.ndarray,
    fps: float,
    offsets_m: np.ndarray,
    *,
    contacts: np.ndarray | None = None,
    world_frame: bool = False,
    surface_vertices_m: np.ndarray | None = None,
) -> GroundInfo:
    """Floor height and contacts of a motion given its (T, 24, 3) body origins."""
    clearance = sole_clearance_m(offsets_m, surface_vertices_m)
    soles = sole_points(origins_m, clearance)
    floor = 0.0 if world_frame else find_floor(soles)
    if contacts is not None:
        c = np.clip(np.asarray(contacts, dtype=np.float64), 0.0, 1.0)
        if c.shape != (origins_m.shape[0], len(CONTACT_NAMES)):
            raise ValueError(
                f"expected contacts of shape ({origins_m.shape[0]}, 4), got {c.shape}"
            )
        return GroundInfo(floor, c, "bundle" if world_frame else "bundle contacts", clearance)
    return GroundInfo(floor, detect_contacts(soles, fps, floor), "feet", clearance)


def resample(values: np.ndarray, src_fps: float, dst_fps: float) -> np.ndarray:
    """(T, ...) samples at ``src_fps`` -> linearly interpolated samples at ``dst_fps`` covering the
    same duration (first and last sample kept)."""
    values = np.asarray(values, dtype=np.float64)
    if src_fps <= 0 or dst_fps <= 0:
        raise ValueError(f"frame rates must be positive, got {src_fps} and {dst_fps}")
    t = values.shape[0]
    if t < 2 or abs(src_fps - dst_fps) < 1e-9:
        return values.copy()
    duration = (t - 1) / src_fps
    n = int(np.floor(duration * dst_fps + 1e-6)) + 1
    x = np.arange(n) * (src_fps / dst_fps)
    i0 = np.clip(np.floor(x).astype(int), 0, t - 2)
    w = (x - i0).reshape((-1,) + (1,) * (values.ndim - 1))
    return (1 - w) * values[i0] + w * values[i0 + 1]


def smooth(values: np.ndarray, sigma_frames: float) -> np.ndarray:
    """Zero-phase Gaussian smoothing along axis 0 (edges reflected); sigma 0 = unchanged."""
    values = np.asarray(values, dtype=np.float64)
    if sigma_frames <= 0 or values.shape[0] < 3:
        return values.copy()
    r = max(1, int(np.ceil(3 * sigma_frames)))
    k = np.exp(-0.5 * (np.arange(-r, r + 1) / sigma_frames) ** 2)
    k /= k.sum()
    pad = np.concatenate([values[r:0:-1], values, values[-2 : -r - 2 : -1]], axis=0)
    if pad.shape[0] < values.shape[0] + 2 * r:  # very short clips: edge padding
        pad = np.concatenate([np.repeat(values[:1], r, 0), values, np.repeat(values[-1:], r, 0)])
    flat = pad.reshape(pad.shape[0], -1)
    out = np.stack([np.convolve(flat[:, c], k, mode="valid") for c in range(flat.shape[1])], 1)
    return out.reshape(values.shape)
