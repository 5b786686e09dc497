"""The numbers the accuracy harness reports, as pure numpy functions.

Joint angles are judged on the ten DOFs the issue names (hip flexion and adduction, knee, ankle,
elbow; both sides), in degrees, with OpenSim's signs (BSM-46 shares them with Rajagopal2016 and
Pose2Sim's model, so a peer's ``.mot`` columns compare directly):

* MAE per DOF: mean |pred - true| over the frames; their mean over the DOFs is "MAE".
* offset-free MAE: the same after removing each DOF's mean difference (curve shape only; a
  constant offset such as another model's neutral pose is not counted).
* Pearson r per DOF (NaN where either curve is constant) and its mean over the defined ones.

Positions (``core.metrics``): MPJPE of the 24 body origins relative to the pelvis after one
rotation per clip (the capture's heading is its own), PA-MPJPE per frame (similarity transform),
jitter (mean |acceleration| of the pelvis-relative body origins, m/s^2; the truth's own value is
given beside it), and the number of joint-angle values outside the model's limits.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

__all__ = [
    "JUDGED_DOFS",
    "AngleScores",
    "angle_scores",
    "pose_scores",
    "jitter_mps2",
    "contact_scores",
    "sliding_per_phase_m",
    "phases",
]

JUDGED_DOFS = (
    "hip_flexion_r",
    "hip_flexion_l",
    "hip_adduction_r",
    "hip_adduction_l",
    "knee_angle_r",
    "knee_angle_l",
    "ankle_angle_r",
    "ankle_angle_l",
    "elbow_flexion_r",
    "elbow_flexion_l",
)


@dataclass
class AngleScores:
    mae_deg: dict[str, float]  # per judged DOF
    mae_offset_free_deg: dict[str, float]
    r: dict[str, float]  # Pearson r per DOF (NaN: a constant curve)
    n_frames: int
    bias_deg: dict[str, float] = field(default_factory=dict)  # mean signed error, pred - true

    @property
    def mean_mae_deg(self) -> float:
        return float(np.mean(list(self.mae_deg.values())))

    @property
    def mean_mae_offset_free_deg(self) -> float:
        return float(np.mean(list(self.mae_offset_free_deg.values())))

    @property
    def mean_r(self) -> float:
        v = [x for x in self.r.values() if np.isfinite(x)]
        return float(np.mean(v)) if v else float("nan")

    def as_dict(self) -> dict:
        return {
            "mae_deg": self.mae_deg,
            "mae_offset_free_deg": self.mae_offset_free_deg,
            "r": self.r,
            "mean_mae_deg": self.mean_mae_deg,
            "mean_mae_offset_free_deg": self.mean_mae_offset_free_deg,
            "mean_r": self.mean_r,
            "n_frames": self.n_frames,
            "bias_deg": self.bias_deg,
        }


def _pearson(a: np.ndarray, b: np.ndarray) -> float:
    if a.std() < 1e-9 or b.std() < 1e-9:
        return float("nan")
    return float(np.corrcoef(a, b)[0, 1])


def angle_scores(
    pred_deg: dict[str, np.ndarray], true_deg: dict[str, np.ndarray], dofs=JUDGED_DOFS
) -> AngleScores:
    """Angle errors on the frames where both curves are finite. ``pred_deg``/``true_deg`` map
    DOF names to (T,) degree curves of equal length."""
    missing = [d for d in dofs if d not in pred_deg or d not in true_deg]
    if missing:
        raise ValueError(f"angle curves missing for {', '.join(missing)}")
    lengths = {len(pred_deg[d]) for d in dofs} | {len(true_deg[d]) for d in dofs}
    if len(lengths) != 1:
        raise ValueError(f"angle curves of different lengths: {sorted(lengths)}")
    p = np.stack([np.asarray(pred_deg[d], np.float64) for d in dofs], 1)
    t = np.stack([np.asarray(true_deg[d], np.float64) for d in dofs], 1)
    ok = np.isfinite(p).all(1) & np.isfinite(t).all(1)
    if ok.sum() < 2:
        raise ValueError("fewer than two frames with both curves defined")
    p, t = p[ok], t[ok]
    diff = p - t
    mae = np.abs(diff).mean(0)
    mae_of = np.abs(diff - diff.mean(0)).mean(0)
    return AngleScores(
        {d: float(v) for d, v in zip(dofs, mae, strict=True)},
        {d: float(v) for d, v in zip(dofs, mae_of, strict=True)},
        {d: _pearson(p[:, i], t[:, i]) for i, d in enumerate(dofs)},
        int(ok.sum()),
        {d: float(v) for d, v in zip(dofs, diff.mean(0), strict=True)},
    )


def q_to_curves(q_rad: np.ndarray, dofs=JUDGED_DOFS) -> dict[str, np.ndarray]:
    """BSM-46 angles (T, 46) radians -> {dof: (T,) degrees}."""
    from core import skeleton as sk

    q = np.asarray(q_rad, np.float64)
    return {d: np.rad2deg(q[:, sk.DOF[d]]) for d in dofs}


def jitter_mps2(points_m: np.ndarray, fps: float) -> float:
    """Mean |second difference| * fps^2 of points (T, J, 3), m/s^2 (NaN frames skipped)."""
    p = np.asarray(points_m, np.float64)
    acc = (p[2:] - 2 * p[1:-1] + p[:-2]) * fps**2
    return float(np.nanmean(np.linalg.norm(acc, axis=-1)))


def pose_scores(pred_m: np.ndarray, true_m: np.ndarray, fps: float) -> dict[str, float]:
    """Body origins (T, 24, 3) of prediction and truth (any world frames): MPJPE (pelvis-relative,
    one rotation per clip), PA-MPJPE (per frame, with scale), jitter of the prediction and of the
    truth (pelvis-relative)."""
    from core.metrics import mpjpe_mm, pa_mpjpe_mm, procrustes_align

    p = np.asarray(pred_m, np.float64)
    t = np.asarray(true_m, np.float64)
    if p.shape != t.shape or p.ndim != 3:
        raise ValueError(f"expected two (T, J, 3) point arrays, got {p.shape} and {t.shape}")
    p = p - p[:, :1]
    t = t - t[:, :1]
    # One rotation for the whole clip about the origin (both are pelvis-relative): append the
    # origin so the Procrustes centroid shift cannot move the pelvis.
    n, j = p.shape[:2]
    flat_p, flat_t = p.reshape(1, -1, 3), t.reshape(1, -1, 3)
    aligned = procrustes_align(
        np.concatenate([flat_p, -flat_p], 1), np.concatenate([flat_t, -flat_t], 1), scale=False
    )[:, : n * j].reshape(p.shape)
    return {
        "mpjpe_mm": float(mpjpe_mm(aligned, t).mean()),
        "pa_mpjpe_mm": float(pa_mpjpe_mm(p, t).mean()),
        "jitter_mps2": jitter_mps2(p, fps),
        "jitter_true_mps2": jitter_mps2(t, fps),
    }


# ------------------------------------------------------------------------------ grounding
def phases(contact: np.ndarray, min_frames: int = 3) -> list[tuple[int, int]]:
    """Runs [a, b) of True in a (T,) bool array, at least ``min_frames`` long."""
    c = np.concatenate([[False], np.asarray(contact, bool), [False]])
    d = np.diff(c.astype(np.int8))
    starts, ends = np.flatnonzero(d == 1), np.flatnonzero(d == -1)
    return [(int(a), int(b)) for a, b in zip(starts, ends, strict=True) if b - a >= min_frames]


def contact_scores(pred: np.ndarray, true: np.ndarray) -> dict[str, float]:
    """Precision, recall and F1 of binary contact labels (any shape, same for both)."""
    p = np.asarray(pred, bool).ravel()
    t = np.asarray(true, bool).ravel()
    if p.shape != t.shape:
        raise ValueError(f"contact labels of different shapes: {p.shape} vs {t.shape}")
    tp = float((p & t).sum())
    prec = tp / p.sum() if p.sum() else float("nan")
    rec = tp / t.sum() if t.sum() else float("nan")
    f1 = 2 * prec * rec / (prec + rec) if prec + rec > 0 else 0.0
    return {"precision": prec, "recall": rec, "f1": f1}


def sliding_per_phase_m(points_m: np.ndarray, contact: np.ndarray, min_frames: int = 3) -> float:
    """Median over contact phases of the horizontal (X, Z) path length a contact point (T, 3)
    travels while in contact (world frame, Y up), metres. NaN without a phase."""
    p = np.asarray(points_m, np.float64)
    slides = []
    for a, b in phases(contact, min_frames):
        step = np.linalg.norm(np.diff(p[a:b][:, [0, 2]], axis=0), axis=-1)
        slides.append(float(np.nansum(step)))
    return float(np.median(slides)) if slides else float("nan")
