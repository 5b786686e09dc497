"""Check a model + coordinates file pair before a biomechanist relies on it."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from biomech_export._opensim import require_opensim
from biomech_export.mot import read_mot

__all__ = ["ValidationReport", "validate_files"]


@dataclass
class ValidationReport:
    problems: list[str] = field(default_factory=list)  # each one makes the pair unusable
    warnings: list[str] = field(default_factory=list)
    n_frames: int = 0
    n_coordinates: int = 0

    @property
    def ok(self) -> bool:
        return not self.problems


def validate_files(
    model_path: str | Path, mot_path: str | Path, *, range_tol_deg: float = 0.5
) -> ValidationReport:
    """Model loads and initialises; coordinate names match; values finite and within the
    (clamped) ranges; units plausible (degrees vs radians)."""
    osim = require_opensim()
    rep = ValidationReport()
    model_path, mot_path = Path(model_path), Path(mot_path)
    for p in (model_path, mot_path):
        if not p.is_file():
            rep.problems.append(f"file not found: {p}")
    if rep.problems:
        return rep
    try:
        model = osim.Model(str(model_path))
        model.initSystem()
    except Exception as e:  # noqa: BLE001 - OpenSim raises RuntimeError subclasses of all kinds
        rep.problems.append(f"model does not load in OpenSim: {e}")
        return rep
    try:
        table = read_mot(mot_path)
    except ValueError as e:
        rep.problems.append(str(e))
        return rep
    rep.n_frames = len(table.time_s)
    coords = model.getCoordinateSet()
    info = {}
    for i in range(coords.getSize()):
        c = coords.get(i)
        rotational = c.getMotionType() == 1  # Coordinate::Rotational
        info[c.getName()] = (rotational, c.getRangeMin(), c.getRangeMax(), c.getDefaultClamped())
    rep.n_coordinates = len(info)
    missing = [n for n in info if n not in table.labels]
    extra = [n for n in table.labels if n not in info]
    if missing:
        rep.problems.append(
            f"{len(missing)} model coordinate(s) missing from the file: {missing[:5]}"
        )
    if extra:
        rep.warnings.append(
            f"{len(extra)} column(s) not in the model (ignored by OpenSim): {extra[:5]}"
        )
    if not np.all(np.isfinite(table.time_s)) or np.any(np.diff(table.time_s) <= 0):
        rep.problems.append("time column is not finite and strictly increasing")
    rot_cols = [n for n in table.labels if n in info and info[n][0]]
    degrees = table.in_degrees
    if degrees is None:
        rep.warnings.append("header has no inDegrees: OpenSim will assume radians")
        degrees = False
    if rot_cols:
        vals = np.stack([table.column(n) for n in rot_cols], axis=1)
        biggest = float(np.nanmax(np.abs(vals))) if np.isfinite(vals).any() else 0.0
        if not degrees and biggest > 2 * math.pi:
            said = "no" if table.in_degrees is False else "absent"
            rep.problems.append(
                f"angles read as radians (inDegrees={said}) but a rotational value is "
                f"{biggest:.1f}: the file looks like degrees"
            )
        if degrees and len(rot_cols) >= 3 and 0 < biggest < math.pi:
            rep.problems.append(
                f"inDegrees=yes but no angle exceeds {biggest:.3f} deg: "
                "the file looks like radians"
            )
    for n in table.labels:
        if n not in info:
            continue
        v = table.column(n)
        bad = ~np.isfinite(v)
        if bad.any():
            rep.problems.append(
                f"{n}: {int(bad.sum())} NaN/inf value(s), first at t={table.time_s[bad][0]:g}"
            )
            continue
        rotational, lo, hi, clamped = info[n]
        if not clamped:
            continue
        vv = np.deg2rad(v) if (rotational and degrees) else v
        tol = math.radians(range_tol_deg) if rotational else 1e-3
        out = (vv < lo - tol) | (vv > hi + tol)
        if out.any():
            scale = 180 / math.pi if rotational else 1.0
            unit = "deg" if rotational else "m"
            worst = vv[out][np.argmax(np.abs(vv[out] - np.clip(vv[out], lo, hi)))]
            rep.problems.append(
                f"{n}: {int(out.sum())} value(s) outside the clamped range {lo * scale:.1f}.."
                f"{hi * scale:.1f} {unit} (worst {worst * scale:.1f})"
            )
    return rep
