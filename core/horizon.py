"""Horizontal directions from the scene's straight lines: a second witness for the floor's tilt.

Why: the feet fix the floor where they are, but its tilt only as well as their spread in depth
allows (0.5-1.2 m at 5-8 m on the accuracy harness's renders), and the camera height is that
tilt extrapolated to the camera (``core.world``). Straight lines of the scene that are
horizontal in the world (floor tiles and planks, kerbs, window rows, a box's slats) meet at
vanishing points on the horizon; the direction ``K^-1 v`` of such a vanishing point ``v`` is
perpendicular to gravity, whatever the distance. Lines that recede from the camera pin its pitch,
lines across the view its roll.

How: line segments (OpenCV's LSD) on a few frames of the static camera, the person masked out;
RANSAC over pairs of segments for the vanishing point whose family of segments (each pointing
at it within ``angle_tol_deg``) is longest in total, refined by least squares on that family, among the vanishing points within
``max_tilt_deg`` of the horizon the feet suggest (vertical edges and random texture are not
candidates); then the next family among the remaining segments. ``constrain_up`` turns the
strongest family into the floor normal closest to the feet's that is perpendicular to it.

A family needs segments on at least ``min_lines`` distinct straight lines: the pieces of one line
(a kerb, the base of a wall, the far edge of a floor, or one edge seen in each of the frames
looked at) meet anywhere along it, so they say nothing of where its vanishing point is. Two
segments on one line never make a RANSAC hypothesis either. On the accuracy harness's renders
such one-line "families" were a floor's far edge 40 m away, whose vanishing point then sat
1-2 deg below the horizon (RESULTS.md, fifteenth session).

Limits: it assumes the line families it finds are horizontal. A sloped ramp's edges or a
family of random texture segments that happens to agree can mislead it; the world stage gives
the scene only a bounded say (``core.world``). It is on by default (``CaptureOptions.scene_lines``;
what it gives on the accuracy harness is in the README's grounding section).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np

__all__ = ["SceneLines", "line_segments", "horizontal_directions", "constrain_up"]

log = logging.getLogger(__name__)

_DIAGONAL_PX = float(np.hypot(480.0, 270.0))  # the frame ``collinear_px`` is given for


@dataclass
class SceneLines:
    """Families of scene segments that meet at a vanishing point near the horizon."""

    directions: (
        np.ndarray
    )  # (K, 3) unit 3D directions in the camera frame (x right, y down, z fwd)
    length_px: np.ndarray  # (K,) total segment length of each family, strongest first
    n_segments: np.ndarray  # (K,) segments in each family
    n_candidates: int  # segments considered (after masking and the length cut)
    n_lines: np.ndarray  # (K,) distinct straight lines the family's segments lie on


def line_segments(
    gray: np.ndarray, masks_px: np.ndarray | None = None, min_length_px: float = 15.0
) -> np.ndarray:
    """(S, 4) segments ``x1, y1, x2, y2`` (pixels) of a grey image (H, W) uint8, without those
    whose midpoint lies in one of the boxes ``masks_px`` (B, 4) ``x0, y0, x1, y1``."""
    import cv2

    img = np.asarray(gray)
    if img.ndim != 2:
        raise ValueError(f"expected a grey image (H, W), got {img.shape}")
    found = cv2.createLineSegmentDetector().detect(np.ascontiguousarray(img, dtype=np.uint8))[0]
    if found is None:
        return np.zeros((0, 4))
    seg = found.reshape(-1, 4).astype(np.float64)
    seg = seg[np.linalg.norm(seg[:, 2:] - seg[:, :2], axis=1) >= min_length_px]
    if masks_px is not None and len(seg):
        mid = 0.5 * (seg[:, :2] + seg[:, 2:])
        inside = np.zeros(len(seg), bool)
        for x0, y0, x1, y1 in np.asarray(masks_px, np.float64).reshape(-1, 4):
            inside |= (mid[:, 0] >= x0) & (mid[:, 0] <= x1) & (mid[:, 1] >= y0) & (mid[:, 1] <= y1)
        seg = seg[~inside]
    return seg


def horizontal_directions(
    segments_px: np.ndarray,
    intrinsics: np.ndarray,
    up_guess: np.ndarray,
    max_tilt_deg: float,
    angle_tol_deg: float = 1.0,
    min_segments: int = 6,
    max_families: int = 2,
    iterations: int = 800,
    seed: int = 0,
    min_lines: int = 3,
    collinear_px: float = 2.0,
) -> SceneLines:
    """Vanishing directions of segment families that lie within ``max_tilt_deg`` of
    perpendicular to ``up_guess`` (unit, camera frame: y down), strongest first. A family's
    segments lie on at least ``min_lines`` distinct lines: a segment whose endpoints are within
    ``collinear_px`` of a longer one's line is on that line (``collinear_px`` is for a 480x270
    frame and grows with the image's diagonal, taken from the principal point)."""
    seg = np.asarray(segments_px, np.float64).reshape(-1, 4)
    intrinsics = np.asarray(intrinsics, np.float64)
    kinv = np.linalg.inv(intrinsics)
    on_line_px = collinear_px * max(1.0, 2.0 * float(np.hypot(*intrinsics[:2, 2])) / _DIAGONAL_PX)
    up = np.asarray(up_guess, np.float64)
    up = up / np.linalg.norm(up)
    sin_tol = np.sin(np.deg2rad(max_tilt_deg))
    cos_line = np.cos(np.deg2rad(angle_tol_deg))
    rng = np.random.default_rng(seed)
    dirs, lengths, counts, n_lines = [], [], [], []
    n_candidates = len(seg)
    rest = seg
    while len(dirs) < max_families and len(rest) >= max(2, min_segments):
        a = np.c_[rest[:, :2], np.ones(len(rest))]
        b = np.c_[rest[:, 2:], np.ones(len(rest))]
        lines = np.cross(a, b)
        mid = 0.5 * (rest[:, :2] + rest[:, 2:])
        d = rest[:, 2:] - rest[:, :2]
        length = np.linalg.norm(d, axis=1)
        d = d / length[:, None]
        best_len, best_dir, best_inl = 0.0, None, None
        for _ in range(iterations):
            i, j = rng.choice(len(rest), 2, replace=False)
            if _off_line_px(rest[j], lines[i]) < on_line_px or (
                _off_line_px(rest[i], lines[j]) < on_line_px
            ):
                continue  # one line: its pieces meet anywhere along it
            v = np.cross(lines[i], lines[j])
            ray = kinv @ v
            norm = np.linalg.norm(ray)
            if norm < 1e-12:
                continue
            ray = ray / norm
            if abs(ray @ up) > sin_tol:  # not near the horizon the feet suggest
                continue
            if abs(v[2]) <= 1e-9 * np.abs(v[:2]).max():  # vanishing point at infinity
                to_v = np.broadcast_to(v[:2] / np.linalg.norm(v[:2]), mid.shape)
            else:
                to_v = v[:2] / v[2] - mid
                to_v = to_v / np.maximum(np.linalg.norm(to_v, axis=1, keepdims=True), 1e-9)
            inl = np.abs((to_v * d).sum(1)) >= cos_line
            total = float(length[inl].sum())
            if total > best_len and (
                _distinct_lines(rest[inl], lines[inl], on_line_px, min_lines) >= min_lines
            ):
                best_len, best_dir, best_inl = total, ray, inl
        if best_dir is None or best_inl.sum() < min_segments:
            break
        # Refine on all the family's segments: the point closest to all their lines
        # (lines normalised, weighted by length), i.e. the least eigenvector of sum(w l l^T).
        ln = lines[best_inl] / np.linalg.norm(lines[best_inl, :2], axis=1, keepdims=True)
        m = (ln * length[best_inl, None]).T @ ln
        v = np.linalg.eigh(m)[1][:, 0]
        ray = kinv @ v
        if np.linalg.norm(ray) > 1e-12 and abs(ray @ up) / np.linalg.norm(ray) <= sin_tol:
            best_dir = ray / np.linalg.norm(ray)
        # Sign: the direction that points away from the camera (z >= 0) for a stable output.
        dirs.append(best_dir if best_dir[2] >= 0 else -best_dir)
        lengths.append(best_len)
        counts.append(int(best_inl.sum()))
        n_lines.append(_distinct_lines(rest[best_inl], lines[best_inl], on_line_px))
        rest = rest[~best_inl]
    return SceneLines(
        np.array(dirs).reshape(-1, 3),
        np.array(lengths, np.float64),
        np.array(counts, np.int64),
        n_candidates,
        np.array(n_lines, np.int64),
    )


def _off_line_px(seg: np.ndarray, line: np.ndarray) -> float:
    """The larger distance (px) of the segment's ``x1, y1, x2, y2`` endpoints from ``line``
    (homogeneous, 3)."""
    ln = line / np.linalg.norm(line[:2])
    return max(abs(ln[:2] @ seg[:2] + ln[2]), abs(ln[:2] @ seg[2:] + ln[2]))


def _distinct_lines(
    seg: np.ndarray, lines: np.ndarray, on_line_px: float, enough: int | None = None
) -> int:
    """How many distinct straight lines the segments (N, 4) with their lines (N, 3) lie on,
    longest first (a segment on a longer one's line counts with it); stops at ``enough``."""
    order = np.argsort(-np.linalg.norm(seg[:, 2:] - seg[:, :2], axis=1))
    kept: list[int] = []
    for k in order:
        if all(_off_line_px(seg[k], lines[r]) >= on_line_px for r in kept):
            kept.append(int(k))
            if enough is not None and len(kept) >= enough:
                break
    return len(kept)


def constrain_up(up_guess: np.ndarray, direction: np.ndarray) -> np.ndarray:
    """The unit vector closest to ``up_guess`` that is perpendicular to the horizontal
    ``direction`` (both in the same frame)."""
    up = np.asarray(up_guess, np.float64)
    d = np.asarray(direction, np.float64)
    d = d / np.linalg.norm(d)
    n = up - (up @ d) * d
    norm = np.linalg.norm(n)
    if norm < 1e-9:
        raise ValueError("the direction is parallel to the up guess: it cannot be horizontal")
    return n / norm
