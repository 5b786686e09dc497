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
    "contact_precision_recall",
    "contact_f1",
    "foot_sliding_per_phase",
    "floor_penetration",
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


# ---------------------------------------------------------------- grounding (floor, contacts)
def contact_precision_recall(
    pred_prob: np.ndarray, true_bool: np.ndarray, threshold: float = 0.5
) -> tuple[float, float]:
    """Precision and recall of contact frames: ``pred_prob > threshold`` against ``true_bool``,
    both (T, P) (e.g. P = 4 ``core.contacts.CONTACT_POINTS``); nan where undefined."""
    p = np.asarray(pred_prob, dtype=np.float64)
    t = np.asarray(true_bool, dtype=bool)
    if p.shape != t.shape:
        raise ValueError(
            f"expected predictions and truth of one shape, got {p.shape} and {t.shape}"
        )
    pred = p > threshold
    tp = float(np.sum(pred & t))
    precision = tp / pred.sum() if pred.sum() else float("nan")
    recall = tp / t.sum() if t.sum() else float("nan")
    return precision, recall


def contact_f1(pred_prob: np.ndarray, true_bool: np.ndarray, threshold: float = 0.5) -> float:
    """F1 score of contact frames (harmonic mean of precision and recall, over all points)."""
    precision, recall = contact_precision_recall(pred_prob, true_bool, threshold)
    if not (precision + recall > 0):
        return 0.0 if np.isfinite(precision + recall) else float("nan")
    return 2.0 * precision * recall / (precision + recall)


def foot_sliding_per_phase(
    points_m: np.ndarray, contact_bool: np.ndarray, fps: float
) -> np.ndarray:
    """Horizontal sliding of each contact phase, metres: the largest horizontal (X, Z; Y is up)
    distance between two frames of one run of contact frames of one point. points_m (T, P, 3),
    contact_bool (T, P); returns one value per phase (point by point, in time order). ``fps`` is
    checked only (phases are runs of frames)."""
    pts = np.asarray(points_m, dtype=np.float64)
    c = np.asarray(contact_bool, dtype=bool)
    if pts.ndim != 3 or pts.shape[-1] != 3 or c.shape != pts.shape[:2]:
        raise ValueError(
            f"expected points (T, P, 3) and contacts (T, P), got {pts.shape} and {c.shape}"
        )
    if not (fps > 0):
        raise ValueError(f"fps must be positive, got {fps}")
    out = []
    for k in range(c.shape[1]):
        edges = np.diff(np.concatenate([[0], c[:, k].astype(np.int8), [0]]))
        for a, b in zip(np.flatnonzero(edges == 1), np.flatnonzero(edges == -1), strict=True):
            xz = pts[a:b, k][:, [0, 2]]
            xz = xz[np.isfinite(xz).all(-1)]
            if len(xz) < 2:
                out.append(0.0)
                continue
            d = np.linalg.norm(xz[:, None] - xz[None], axis=-1)
            out.append(float(d.max()))
    return np.asarray(out)


def floor_penetration(points_m: np.ndarray, floor_y: float = 0.0) -> np.ndarray:
    """(T,) depth of the lowest of the points (..., T, P, 3) below the floor (Y up), metres; 0
    where none is below."""
    pts = np.asarray(points_m, dtype=np.float64)
    if pts.ndim < 2 or pts.shape[-1] != 3:
        raise ValueError(f"expected points of shape (T, P, 3), got {pts.shape}")
    low = np.nanmin(pts[..., 1], axis=-1)
    return np.maximum(0.0, floor_y - low)
