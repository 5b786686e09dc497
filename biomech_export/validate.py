"""Check a model + coordinates file pair before a biomechanist relies on it.

Two levels: the pair is usable (model loads, names match, values finite, in range, units), and
the motion is physically plausible (no jumps between frames, a root that moves like a person's,
feet not under the floor at Y = 0, inverse-dynamics residuals a body could produce). Each problem
names the frame, the coordinate or body and the number."""

from __future__ import annotations

import logging
import math
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from biomech_export._opensim import require_opensim
from biomech_export.mot import MotTable, read_mot

__all__ = ["ValidationReport", "PlausibilityLimits", "validate_files"]

log = logging.getLogger(__name__)


@dataclass
class PlausibilityLimits:
    """Thresholds of the plausibility checks (each one: beyond it, the motion is rejected)."""

    max_step_deg: float = 30.0  # angle change between frames, at least this much is allowed...
    max_angular_speed_deg_s: float = 3000.0  # ...or this speed times the frame interval
    max_root_speed_m_s: float = 12.0  # faster than a sprinter
    max_root_accel_m_s2: float = 100.0  # ~10 g, after OpenSim's 6 Hz filter would be far less
    floor_tolerance_m: float = 0.05  # a foot point this far under Y = 0 is under the floor
    max_residual_bw_no_grf: float = 5.0  # |pelvis force| / body weight, ID without GRF
    max_residual_bw_grf: float = 1.0  # the same with the GRF applied (where the GRF file has data)


@dataclass
class ValidationReport:
    problems: list[str] = field(default_factory=list)  # each one makes the pair unusable
    warnings: list[str] = field(default_factory=list)
    n_frames: int = 0
    n_coordinates: int = 0
    residual_peak_bw: float | None = None  # peak |pelvis force| / body weight of the ID check

    @property
    def ok(self) -> bool:
        return not self.problems


def validate_files(
    model_path: str | Path,
    mot_path: str | Path,
    *,
    range_tol_deg: float = 0.5,
    plausibility: bool = True,
    limits: PlausibilityLimits | None = None,
    external_loads: str | Path | None = None,
    grf_path: str | Path | None = None,
) -> ValidationReport:
    """Model loads and initialises; coordinate names match; values finite and within the
    (clamped) ranges; units plausible (degrees vs radians). With ``plausibility`` (when the pair
    is usable): angle steps between frames, root speed and acceleration, feet below the floor
    (Y = 0), and the residual force of an inverse-dynamics run without ground reaction forces,
    or with them when ``external_loads`` (+ ``grf_path``) are given."""
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
    if plausibility and not rep.problems:
        lim = limits or PlausibilityLimits()
        rot = {n: info[n][0] for n in table.labels if n in info}
        _check_steps(rep, table, rot, bool(degrees), lim)
        _check_root(rep, table, lim)
        level = osim.Logger.getLevelString()
        osim.Logger.setLevelString("Warn")  # the ID tool's model summary is noise here
        try:
            _check_feet(rep, osim, model, table, info, bool(degrees), lim)
            _check_residuals(rep, model_path, mot_path, table, lim, external_loads, grf_path)
        finally:
            osim.Logger.setLevelString(level)
    return rep


def _at(table: MotTable, i: int) -> str:
    return f"frame {i} (t={table.time_s[i]:.3f} s)"


def _check_steps(
    rep: ValidationReport, table: MotTable, rot: dict[str, bool], degrees: bool, lim
) -> None:
    """Rotational coordinates must not jump between frames."""
    dt = np.diff(table.time_s)
    allowed = np.maximum(lim.max_step_deg, lim.max_angular_speed_deg_s * dt)
    for n, rotational in rot.items():
        if not rotational or len(table.time_s) < 2:
            continue
        v = table.column(n) if degrees else np.rad2deg(table.column(n))
        step = np.abs(np.diff(v))
        bad = step > allowed
        if bad.any():
            i = int(np.argmax(np.where(bad, step, -1.0)))
            rep.problems.append(
                f"{n}: {int(bad.sum())} step(s) between frames above "
                f"{allowed[i]:.0f} deg; largest {step[i]:.1f} deg from {_at(table, i)} to "
                f"frame {i + 1}"
            )


def _check_root(rep: ValidationReport, table: MotTable, lim) -> None:
    names = [n for n in ("pelvis_tx", "pelvis_ty", "pelvis_tz") if n in table.labels]
    if len(names) != 3 or len(table.time_s) < 3:
        return
    p = np.stack([table.column(n) for n in names], axis=1)
    t = table.time_s
    v = np.diff(p, axis=0) / np.diff(t)[:, None]
    speed = np.linalg.norm(v, axis=1)
    if speed.max() > lim.max_root_speed_m_s:
        i = int(np.argmax(speed))
        rep.problems.append(
            f"pelvis: root speed {speed[i]:.1f} m/s between {_at(table, i)} and frame {i + 1} "
            f"(limit {lim.max_root_speed_m_s:g} m/s)"
        )
    tm = 0.5 * (t[1:] + t[:-1])
    acc = np.linalg.norm(np.diff(v, axis=0) / np.diff(tm)[:, None], axis=1)
    if acc.max() > lim.max_root_accel_m_s2:
        i = int(np.argmax(acc)) + 1
        rep.problems.append(
            f"pelvis: root acceleration {acc[i - 1]:.0f} m/s^2 at {_at(table, i)} "
            f"(limit {lim.max_root_accel_m_s2:g} m/s^2)"
        )


def _foot_points(osim: Any, model: Any) -> list[tuple[str, Any, Any]]:
    """(label, frame, location) of the points that bound the feet from below: the markers on
    foot bodies (calcn, toes, foot) if the model has any, else those bodies' origins."""
    feet = ("calcn", "toes", "foot")
    out = []
    ms = model.getMarkerSet()
    for i in range(ms.getSize()):
        mk = ms.get(i)
        frame = mk.getParentFrame()
        if any(f in frame.getName() for f in feet):
            out.append((f"marker {mk.getName()}", frame, mk.get_location()))
    if not out:
        bodies = model.getBodySet()
        for i in range(bodies.getSize()):
            b = bodies.get(i)
            if any(f in b.getName() for f in feet):
                out.append((f"body {b.getName()}", b, osim.Vec3(0.0, 0.0, 0.0)))
    return out


def _check_feet(
    rep: ValidationReport,
    osim: Any,
    model: Any,
    table: MotTable,
    info: dict,
    degrees: bool,
    lim,
) -> None:
    """The lowest foot point of each frame must not lie under the floor (Y = 0)."""
    state = model.initSystem()
    points = _foot_points(osim, model)
    if not points:
        rep.warnings.append("no foot bodies (calcn/toes/foot) in the model: floor not checked")
        return
    coords = model.getCoordinateSet()
    cols = [n for n in table.labels if n in info]
    handles = [coords.get(n) for n in cols]
    values = np.stack([table.column(n) for n in cols], axis=1)
    rot = np.array([info[n][0] for n in cols])
    if degrees:
        values = np.where(rot, np.deg2rad(values), values)
    lowest = np.zeros(len(table.time_s))
    which = [""] * len(table.time_s)
    for f in range(len(table.time_s)):
        for c, v in zip(handles, values[f], strict=True):
            c.setValue(state, float(v), False)
        model.realizePosition(state)
        ys = [fr.findStationLocationInGround(state, loc).get(1) for _, fr, loc in points]
        k = int(np.argmin(ys))
        lowest[f], which[f] = ys[k], points[k][0]
    bad = lowest < -lim.floor_tolerance_m
    if bad.any():
        i = int(np.argmin(lowest))
        rep.problems.append(
            f"feet below the floor (Y = 0) in {int(bad.sum())} frame(s); lowest: {which[i]} "
            f"at Y = {lowest[i]:.3f} m at {_at(table, i)}"
        )


def _check_residuals(
    rep: ValidationReport,
    model_path: Path,
    mot_path: Path,
    table: MotTable,
    lim,
    external_loads,
    grf_path,
) -> None:
    """Inverse dynamics of the motion: the force on the pelvis translations is what the ground
    (no GRF) or nothing (with GRF) would have to supply, in body weights."""
    from biomech_export.tools import run_id

    names = ("pelvis_tx_force", "pelvis_ty_force", "pelvis_tz_force")
    if len(table.time_s) < 5:
        return
    with tempfile.TemporaryDirectory(prefix="biomocap_validate_") as tmp:
        try:
            res = run_id(
                model_path,
                mot_path,
                tmp,
                name="validate",
                external_loads=external_loads,
                grf_path=grf_path,
            )
            sto = read_mot(res.sto_path)
        except (RuntimeError, ValueError, FileNotFoundError) as e:
            rep.warnings.append(f"inverse dynamics did not run, residuals not checked: {e}")
            return
    if not all(n in sto.labels for n in names):
        rep.warnings.append("the model has no pelvis_tx/ty/tz: residual forces not checked")
        return
    osim = require_opensim()
    model = osim.Model(str(model_path))
    weight = float(model.getTotalMass(model.initSystem())) * 9.80665
    force = np.linalg.norm(np.stack([sto.column(n) for n in names], axis=1), axis=1) / weight
    if external_loads:
        t0, t1 = _grf_time_range(osim, Path(external_loads), grf_path)
        inside = (sto.time_s >= t0) & (sto.time_s <= t1)
        if not inside.all():
            rep.warnings.append(
                f"the GRF data cover {t0:.3f}..{t1:.3f} s only: residuals checked there"
            )
        if not inside.any():
            return
        force = np.where(inside, force, 0.0)
    limit = lim.max_residual_bw_grf if external_loads else lim.max_residual_bw_no_grf
    what = "with the given GRF" if external_loads else "without GRF"
    i = int(np.argmax(force))
    rep.residual_peak_bw = float(force[i])
    if force[i] > limit:
        t = sto.time_s[i]
        f = int(np.argmin(np.abs(table.time_s - t)))
        rep.problems.append(
            f"pelvis: residual force of inverse dynamics {what} peaks at {force[i]:.1f} body "
            f"weights at {_at(table, f)} (limit {limit:g}); the motion asks for forces no body "
            "produces"
        )


def _grf_time_range(osim: Any, loads_xml: Path, grf_path) -> tuple[float, float]:
    if grf_path is None:
        loads = osim.ExternalLoads(str(loads_xml), True)
        grf_path = loads_xml.parent / loads.getDataFileName()
    t = read_mot(grf_path).time_s
    return float(t[0]), float(t[-1])
