"""SKEL <-> BSM-46 pose conversion: the one place where SKEL's conventions meet ours.

Both use SKEL's 46 DOF names and order and rotate about the same anatomical axes in the same order;
they differ in the zero pose. SKEL's q = 0 is a T-pose (arms abducted 90 deg, palms down); ours is the
anatomical neutral (arms at the sides, palms forward). From the anatomical neutral, the T-pose is
shoulder abduction 90 deg (``shoulder_*_x``, the first shoulder rotation, so the offset adds
directly) followed by 90 deg of forearm pronation (palm forward -> palm down with the arm
horizontal). Hence, per DOF, ``q_bsm = q_skel + OFFSET``.

Signs: SKEL's ankle, subtalar and mtp are Rajagopal2016's pin joints (SKEL's public
``skel_model.py`` builds them from the same joint-frame orientations), and from skeleton
convention 2 on ours are too (``tests/test_skel_convert.py`` checks our axes against those frame
orientations), so no DOF changes sign. Under convention 1 our subtalar and mtp had the opposite
sign, so conversions made before it were wrong for those four angles. Assumptions, stated
because the licensed SKEL files are not used here: the other SKEL angle signs equal ours
(positive = the anatomical motion named in ``core.skeleton.DOFS[i].positive``) and the palms-down
part of SKEL's T-pose is pronation, not humeral internal rotation. If a SKEL release disagrees,
``_OFFSETS_DEG`` and ``_SIGNS`` are the only things to change.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np

from core import skeleton as sk

__all__ = ["SkelConversion", "skel_to_bsm", "bsm_to_skel", "SKEL_OFFSETS_RAD"]

log = logging.getLogger(__name__)

_OFFSETS_DEG = {
    "shoulder_r_x": 90.0,
    "shoulder_l_x": 90.0,
    "pro_sup_r": 90.0,
    "pro_sup_l": 90.0,
}
_SIGNS: dict[str, float] = {}  # all +1 under the stated assumption

SKEL_OFFSETS_RAD = np.zeros(sk.N_DOFS)
for _name, _deg in _OFFSETS_DEG.items():
    SKEL_OFFSETS_RAD[sk.DOF[_name]] = np.deg2rad(_deg)
_SIGN_VEC = np.ones(sk.N_DOFS)
for _name, _s in _SIGNS.items():
    _SIGN_VEC[sk.DOF[_name]] = _s


@dataclass
class SkelConversion:
    q_rad: np.ndarray  # (..., 46) BSM-46 angles, within the limits
    n_clamped: int  # values that lay outside BSM-46's limits and were clamped onto them
    clamped_dofs: tuple[str, ...]  # names of the DOFs that were clamped at least once


def _check(q: np.ndarray, what: str) -> np.ndarray:
    q = np.asarray(q, dtype=np.float64)
    if q.ndim < 1 or q.shape[-1] != sk.N_DOFS:
        raise ValueError(f"expected {what} of shape (..., {sk.N_DOFS}) radians, got {q.shape}")
    if not np.all(np.isfinite(q)):
        raise ValueError(f"{what} contains NaN or inf")
    return q


def skel_to_bsm(q_skel: np.ndarray) -> SkelConversion:
    """SKEL pose parameters (..., 46) radians -> BSM-46 angles, clamped into our limits (the count
    of clamped values is returned so callers can report it)."""
    q = _SIGN_VEC * _check(q_skel, "SKEL poses") + SKEL_OFFSETS_RAD
    lo, hi = sk.limits_rad()
    out = np.clip(q, lo, hi)
    moved = np.abs(out - q) > 1e-9
    names = tuple(sk.DOF_NAMES[j] for j in np.flatnonzero(moved.reshape(-1, sk.N_DOFS).any(0)))
    if moved.any():
        log.warning(
            "SKEL->BSM-46: %d value(s) outside BSM-46 limits clamped (%s)",
            int(moved.sum()),
            ", ".join(names),
        )
    return SkelConversion(out, int(moved.sum()), names)


def bsm_to_skel(q_bsm: np.ndarray) -> np.ndarray:
    """BSM-46 angles (..., 46) -> SKEL pose parameters (exact inverse of the offset map)."""
    return (_check(q_bsm, "BSM-46 poses") - SKEL_OFFSETS_RAD) / _SIGN_VEC
