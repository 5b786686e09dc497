"""Other formats -> Motion bundles: another model's .mot, SKEL/HSMR parameters, BVH.

Each converter clamps into the BSM-46 limits (limits hold by construction) and records in
``Motion.provenance`` what it did and how many values it clamped.
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np

from biomech_export.mot import read_mot
from core import skeleton as sk
from core.motion import Motion

__all__ = [
    "trc_to_motion",
    "mot_to_motion",
    "skel_params_to_motion",
    "bvh_to_motion",
    "smpl_params_to_motion",
    "is_smpl_params",
    "COORDINATE_ALIASES",
    "SIGN_FLIPS",
]

log = logging.getLogger(__name__)

# Other OpenSim models' coordinate names -> BSM-46 names (same anatomical motion).
COORDINATE_ALIASES = {"lumbar_rotation": "lumbar_twist"}
# gait2392 / gait10dof knees rotate about +Z with flexion negative; ours is positive flexion.
SIGN_FLIPS = {"knee_angle_r": "median < 0", "knee_angle_l": "median < 0"}


def _clamp(q: np.ndarray) -> tuple[np.ndarray, int]:
    lo, hi = sk.limits_rad()
    out = np.clip(q, lo, hi)
    return out, int((np.abs(out - q) > 1e-9).sum())


def mot_to_motion(
    path: str | Path,
    *,
    height_m: float = 1.75,
    mass_kg: float = 75.0,
    fps: float | None = None,
    allow_partial: bool = False,
) -> Motion:
    """Coordinates of another OpenSim model (.mot/.sto) whose names map onto BSM-46.

    Columns that map onto nothing (a misspelt or another model's coordinate) are an error
    listing them unless ``allow_partial``; BSM-46 DOFs the file lacks (a legs-only model) stay 0
    and are named in the provenance. ``inDegrees`` is checked against the values. Knee angles
    stored flexion-negative (gait2392 convention) are negated. The skeleton is the generic one
    for ``height_m``."""
    from biomech_export.mot import check_angle_units, check_columns

    table = read_mot(path)
    known = [*sk.DOF_NAMES, *sk.ROOT_TRANSLATION_NAMES, *COORDINATE_ALIASES]
    check_columns(table, known, path, allow_partial=allow_partial)
    check_angle_units(table, [n for n in table.labels if n not in sk.ROOT_TRANSLATION_NAMES], path)
    labels = {COORDINATE_ALIASES.get(n, n): n for n in table.labels}
    mapped = [n for n in sk.DOF_NAMES if n in labels]
    if not mapped:
        raise ValueError(f"{path}: no column maps onto a BSM-46 coordinate (e.g. hip_flexion_r)")
    degrees = table.in_degrees
    if degrees is None:
        rot = np.stack([table.column(labels[n]) for n in mapped], axis=1)
        degrees = bool(np.nanmax(np.abs(rot)) > 2 * np.pi)
        log.warning(
            "%s has no inDegrees: angles taken as %s", path, "degrees" if degrees else "radians"
        )
    t = len(table.time_s)
    q = np.zeros((t, sk.N_DOFS))
    flipped = []
    for n in mapped:
        v = table.column(labels[n])
        v = np.deg2rad(v) if degrees else v
        if n in SIGN_FLIPS and np.median(v) < 0:
            v = -v
            flipped.append(n)
        q[:, sk.DOF[n]] = v
    if not np.all(np.isfinite(q)):
        raise ValueError(f"{path}: mapped coordinates contain NaN/inf")
    root = np.zeros((t, 3))
    for k, n in enumerate(sk.ROOT_TRANSLATION_NAMES):
        if n in table.labels:
            root[:, k] = table.column(n)
    q, n_clamped = _clamp(q)
    if fps is None:
        dt = np.diff(table.time_s)
        if len(dt) == 0 or np.any(dt <= 0):
            raise ValueError(f"{path}: time column is not increasing; pass fps")
        fps = float(1.0 / np.median(dt))
    unmapped = [n for n in sk.DOF_NAMES if n not in labels]
    prov = {
        "convert": {
            "from": str(path),
            "mapped": mapped,
            "unmapped_zero": unmapped,
            "negated": flipped,
            "n_clamped": n_clamped,
        }
    }
    log.info(
        "%s: %d DOFs mapped, %d zero, %d values clamped",
        path,
        len(mapped),
        len(unmapped),
        n_clamped,
    )
    return Motion(
        fps=fps,
        q_rad=q,
        root_m=root,
        offsets_m=sk.default_offsets(height_m),
        height_m=height_m,
        mass_kg=mass_kg,
        provenance=prov,
    )


def skel_params_to_motion(
    path: str | Path, *, fps: float = 30.0, height_m: float = 1.75, mass_kg: float = 75.0
) -> Motion:
    """SKEL/HSMR parameters (.npz with 'poses' (T, 46) radians and optional 'trans' (T, 3))."""
    from core.skel_convert import skel_to_bsm

    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"SKEL parameter file not found: {path}")
    with np.load(path, allow_pickle=False) as z:
        if "poses" not in z.files:
            raise ValueError(f"{path}: expected an array 'poses' (T, 46), found {z.files}")
        poses = np.asarray(z["poses"], dtype=np.float64)
        trans = np.asarray(z["trans"], dtype=np.float64) if "trans" in z.files else None
        betas = np.asarray(z["betas"], dtype=np.float64) if "betas" in z.files else None
    poses = poses.reshape(1, -1) if poses.ndim == 1 else poses
    if poses.ndim != 2 or poses.shape[1] != sk.N_DOFS:
        raise ValueError(f"{path}: expected 'poses' of shape (T, {sk.N_DOFS}), got {poses.shape}")
    conv = skel_to_bsm(poses)
    t = poses.shape[0]
    root = np.zeros((t, 3)) if trans is None else trans.reshape(t, 3)
    prov = {
        "convert": {
            "from": str(path),
            "format": "SKEL/HSMR params",
            "n_clamped": conv.n_clamped,
            "clamped_dofs": list(conv.clamped_dofs),
            "betas_ignored": betas is not None,
        }
    }
    return Motion(
        fps=fps,
        q_rad=conv.q_rad,
        root_m=root,
        offsets_m=sk.default_offsets(height_m),
        height_m=height_m,
        mass_kg=mass_kg,
        provenance=prov,
    )


def bvh_to_motion(path: str | Path, **kwargs) -> Motion:
    """BVH -> Motion through ``core.bvh.retarget_bvh`` (needs the core BVH module)."""
    try:
        from core.bvh import retarget_bvh
    except ImportError as e:
        raise ImportError(
            "BVH conversion needs core.bvh (biomocap[core]); it is not available "
            f"in this installation ({e})"
        ) from e
    motion, _report = retarget_bvh(path, **kwargs)
    return motion


def is_smpl_params(path: str | Path) -> bool:
    """True when ``path`` is a SMPL/SMPL-H/SMPL-X parameter file (see ``biomech_export.smpl``)."""
    from biomech_export.smpl import is_smpl_params as _is_smpl

    return _is_smpl(path)


def smpl_params_to_motion(path: str | Path, model_path: str | Path | None, **kwargs) -> Motion:
    """SMPL-family parameters -> Motion via the user's model file, virtual markers and IK
    (``biomech_export.smpl.smpl_to_motion``; needs torch, smplx and the core IK)."""
    try:
        from biomech_export.smpl import smpl_to_motion
    except ImportError as e:
        raise ImportError(f"SMPL conversion needs biomocap[core] (torch, smplx): {e}") from e
    return smpl_to_motion(path, model_path, **kwargs).motion


def trc_to_motion(path: str | Path, subject: Motion) -> Motion:
    """Markers (.trc) named as ``subject``'s marker set -> Motion, by ``core.ik`` (torch).

    ``subject`` supplies the skeleton, mass and marker set (e.g. a previous capture's bundle or
    ``core.body.default_subject()``); markers of the file it does not name are ignored."""
    from biomech_export.trc import read_trc

    try:
        from core.ik import solve_ik
    except ImportError as e:
        raise ImportError(
            f"marker files need the core IK (pip install 'biomocap[core]'): {e}"
        ) from e
    trc = read_trc(path)
    seen = np.isfinite(trc.markers_m).all(axis=2).sum(axis=1)
    if np.any(seen < 4):
        rows = np.flatnonzero(seen < 4)
        raise ValueError(
            f"{path}: {len(rows)} frame(s) have fewer than 4 markers (first at "
            f"t={trc.time_s[rows[0]]:g} s): fill the gaps or cut those frames out first"
        )
    index = {n: i for i, n in enumerate(trc.marker_names)}
    used = [k for k, n in enumerate(subject.marker_names) if n in index]
    if len(used) < 4:
        raise ValueError(
            f"{path}: only {len(used)} of its markers are in the subject's marker set "
            f"(e.g. {list(subject.marker_names[:4])}); need at least 4"
        )
    names = tuple(subject.marker_names[k] for k in used)
    obs = trc.markers_m[:, [index[n] for n in names]]
    res = solve_ik(
        obs, subject.marker_bodies[used], subject.marker_local_m[used], subject.offsets_m
    )
    q = res.q_rad.detach().cpu().numpy()
    root = res.root_m.detach().cpu().numpy()
    rms = res.marker_rms_m.detach().cpu().numpy()
    prov = {
        "convert": {
            "from": str(path),
            "format": "trc",
            "markers_used": len(used),
            "marker_rms_m_median": float(np.nanmedian(rms)),
        }
    }
    return Motion(
        fps=trc.rate_hz,
        q_rad=np.clip(q, *sk.limits_rad()),
        root_m=root,
        offsets_m=subject.offsets_m,
        height_m=subject.height_m,
        mass_kg=subject.mass_kg,
        marker_names=names,
        marker_bodies=subject.marker_bodies[used],
        marker_local_m=subject.marker_local_m[used],
        markers_m=obs,
        provenance=prov,
    )
