"""Pose-accuracy metrics shared by the benchmarks: MPJPE, PA-MPJPE, joint-angle error per DOF
group and the angle between two orientations.

Point sets are numpy arrays (..., J, 3) in metres with body 0 the pelvis (``core.skeleton`` body
order); the results are in millimetres or degrees, one value per leading index so callers choose
how to average.
"""

from __future__ import annotations

import numpy as np

from core import skeleton as sk

__all__ = [
    "procrustes_align",
    "mpjpe_mm",
    "pa_mpjpe_mm",
    "dof_group_errors_deg",
    "rotation_error_deg",
]


def _check_points(pred: np.ndarray, true: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    p = np.asarray(pred, dtype=np.float64)
    t = np.asarray(true, dtype=np.float64)
    if p.shape != t.shape or p.ndim < 2 or p.shape[-1] != 3:
        raise ValueError(
            f"expected two point sets of the same shape (..., J, 3), got {p.shape} and {t.shape}"
        )
    return p, t


def procrustes_align(a: np.ndarray, b: np.ndarray, scale: bool) -> np.ndarray:
    """a (..., N, 3) moved onto b by the rotation (and, with ``scale``, the uniform scale) about
    the centroids that minimises the squared distance (Kabsch/Umeyama; per leading index)."""
    a, b = _check_points(a, b)
    ma, mb = a.mean(-2, keepdims=True), b.mean(-2, keepdims=True)
    a0, b0 = a - ma, b - mb
    u, s, vt = np.linalg.svd(np.swapaxes(a0, -1, -2) @ b0)
    d = np.sign(np.linalg.det(u @ vt))
    s = s.copy()
    s[..., -1] *= d
    u = u.copy()
    u[..., :, -1] *= d[..., None]
    r = u @ vt
    k = (s.sum(-1) / (a0**2).sum((-1, -2)))[..., None, None] if scale else 1.0
    return k * a0 @ r + mb


def mpjpe_mm(pred: np.ndarray, true: np.ndarray, root: int = 0) -> np.ndarray:
    """(...,) mean per-joint position error after moving both sets' ``root`` joint (the pelvis)
    onto each other; no rotation, so a wrong global orientation counts."""
    p, t = _check_points(pred, true)
    p = p - p[..., root : root + 1, :]
    t = t - t[..., root : root + 1, :]
    return 1000.0 * np.linalg.norm(p - t, axis=-1).mean(-1)


def pa_mpjpe_mm(pred: np.ndarray, true: np.ndarray) -> np.ndarray:
    """(...,) MPJPE after the similarity transform (rotation, translation, scale) that best
    aligns each predicted set with its truth."""
    p, t = _check_points(pred, true)
    return 1000.0 * np.linalg.norm(procrustes_align(p, t, scale=True) - t, axis=-1).mean(-1)


def dof_group_errors_deg(
    q_rad: np.ndarray,
    q_true_rad: np.ndarray,
    groups: dict[str, tuple[str, ...]] | None = None,
) -> dict[str, float]:
    """Mean absolute joint-angle error (degrees) over all frames and the DOFs of each group
    (default ``core.skeleton.DOF_GROUPS``: hips, knees, ankles, spine, shoulders, elbows)."""
    q = np.asarray(q_rad, dtype=np.float64)
    qt = np.asarray(q_true_rad, dtype=np.float64)
    if q.shape != qt.shape or q.shape[-1] != sk.N_DOFS:
        raise ValueError(
            f"expected two (..., {sk.N_DOFS}) joint-angle arrays, got {q.shape} and {qt.shape}"
        )
    out = {}
    for g, names in (groups or sk.DOF_GROUPS).items():
        idx = [sk.DOF[n] for n in names]
        out[g] = float(np.rad2deg(np.abs(q[..., idx] - qt[..., idx]).mean()))
    return out


def rotation_error_deg(r_pred: np.ndarray, r_true: np.ndarray) -> np.ndarray:
    """(...,) angle of the rotation taking r_true (..., 3, 3) to r_pred, degrees."""
    a = np.asarray(r_pred, dtype=np.float64)
    b = np.asarray(r_true, dtype=np.float64)
    if a.shape != b.shape or a.shape[-2:] != (3, 3):
        raise ValueError(f"expected two (..., 3, 3) rotations, got {a.shape} and {b.shape}")
    cos = 0.5 * (np.trace(np.swapaxes(b, -1, -2) @ a, axis1=-2, axis2=-1) - 1.0)
    return np.rad2deg(np.arccos(np.clip(cos, -1.0, 1.0)))
