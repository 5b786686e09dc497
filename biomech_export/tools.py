"""OpenSim inverse kinematics and inverse dynamics, run in-process.

Each run writes its setup XML (paths relative to the setup, so it can be rerun in the OpenSim
GUI or with ``opensim-cmd run-tool``), the tool's log and the results into one folder. The tool is
always run from the setup file it wrote, so what ran is what was saved.
"""

from __future__ import annotations

import contextlib
import logging
import math
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from biomech_export._opensim import c_numeric_locale, require_opensim
from biomech_export.mot import read_mot
from biomech_export.trc import read_trc

__all__ = [
    "IKResult",
    "IDResult",
    "run_ik",
    "run_id",
    "run_ik_setup",
    "run_id_setup",
    "write_ik_setup",
    "write_id_setup",
    "write_external_loads",
]

log = logging.getLogger(__name__)

# weight of the coordinate tasks an exported IK setup carries (see write_ik_setup)
COORDINATE_TASK_WEIGHT = 1e-3


@dataclass
class IKResult:
    mot_path: Path
    setup_path: Path
    log_path: Path
    marker_errors_path: Path | None
    marker_rms_m: float  # mean over frames of the per-frame RMS marker error (nan if not reported)
    marker_max_m: float  # largest marker error of any frame


@dataclass
class IDResult:
    sto_path: Path
    setup_path: Path
    log_path: Path


def _rel(path: Path, start: Path) -> str:
    return os.path.relpath(Path(path).resolve(), start.resolve())


@contextlib.contextmanager
def _log_to(osim: Any, log_path: Path) -> Iterator[None]:
    log_path.parent.mkdir(parents=True, exist_ok=True)
    log_path.unlink(missing_ok=True)
    osim.Logger.removeFileSink()
    osim.Logger.addFileSink(str(log_path))
    try:
        yield
    finally:
        osim.Logger.removeFileSink()


def _check_file(path: Path, what: str) -> Path:
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{what} not found: {path}")
    return path


def write_ik_setup(
    model_path: str | Path,
    trc_path: str | Path,
    output_dir: str | Path,
    *,
    name: str | None = None,
    time_range_s: tuple[float, float] | None = None,
    marker_weights: dict[str, float] | None = None,
    setup_template: str | Path | None = None,
    accuracy: float = 1e-5,
    unclamped: bool = False,
    coordinate_file: str | Path | None = None,
    coordinate_weight: float = COORDINATE_TASK_WEIGHT,
) -> Path:
    """Write ``NAME_Setup_IK.xml`` in ``output_dir`` (paths relative to it) and return its path.

    ``unclamped``: solve on a copy of the model with coordinate clamping off
    (``NAME_unclamped.osim`` beside the setup). Measured on exact synthetic markers, OpenSim's
    bounded solver stops at ~0.8 mm marker RMS (several degrees on the scapulae) while the
    unbounded one reaches ~0.1 mm; the price is that results may leave the joint ranges.

    Tasks: from ``setup_template`` (an existing IK setup: its task set and accuracy are kept, its
    paths replaced), else one marker task per marker present in both model and file, with
    ``marker_weights`` (default 1).

    ``coordinate_file`` (a .mot, e.g. the motion being exported): adds a weak coordinate task
    (``coordinate_weight``, per rad^2 or m^2; marker weights are per m^2) toward that file for
    every model coordinate it has. Why (measured on exact synthetic markers): as soon as any
    coordinate is clamped, OpenSim's solver (Simbody's assembler with bounds) stops ~0.8 mm
    short of the exact pose; in the directions the markers hardly see (the scapulothoracic and
    shoulder chain, whose axes nearly repeat each other, and the lumbar/thorax twists) that
    leaves 1-6 deg. A weight of 1e-3 makes a 1 deg deviation cost as much as a 0.55 mm marker
    error: it removes the stall (every coordinate back within 0.05 deg) while coordinates the
    markers do see still follow the markers (a 3 deg error in the file on the knee comes out
    0.6 deg)."""
    osim = require_opensim()
    model_path = _check_file(model_path, "model")
    trc_path = _check_file(trc_path, "marker file")
    out = Path(output_dir)
    out.mkdir(parents=True, exist_ok=True)
    name = name or trc_path.stem
    setup_path = out / f"{name}_Setup_IK.xml"
    trc = read_trc(trc_path)
    if time_range_s is None:
        time_range_s = (float(trc.time_s[0]), float(trc.time_s[-1]))
    if unclamped:
        model_path = _unclamped_copy(osim, model_path, out / f"{name}_unclamped.osim")
    if setup_template is not None:
        tool = osim.InverseKinematicsTool(str(_check_file(Path(setup_template), "IK setup")))
    else:
        tool = osim.InverseKinematicsTool()
        tool.set_accuracy(accuracy)
        model_markers = _model_marker_names(osim, model_path)
        tasks = tool.getIKTaskSet()
        weights = marker_weights or {}
        unknown = sorted(set(weights) - set(model_markers))
        if unknown:
            raise ValueError(f"marker_weights names markers the model lacks: {unknown[:5]}")
        used = [m for m in trc.marker_names if m in model_markers]
        if not used:
            raise ValueError(f"no marker of {trc_path.name} is on the model {model_path.name}")
        for m in used:
            task = osim.IKMarkerTask()
            task.setName(m)
            task.setApply(True)
            task.setWeight(float(weights.get(m, 1.0)))
            tasks.cloneAndAppend(task)
        if coordinate_file is not None:
            coordinate_file = _check_file(Path(coordinate_file), "coordinates file")
            columns = set(read_mot(coordinate_file).labels)
            for c in _model_coordinate_names(osim, model_path):
                if c not in columns:
                    continue
                task = osim.IKCoordinateTask()
                task.setName(c)
                task.setApply(True)
                task.setWeight(float(coordinate_weight))
                task.setValueType(osim.IKCoordinateTask.FromFile)
                tasks.cloneAndAppend(task)
    tool.setName(name)
    tool.set_model_file(_rel(model_path, out))
    tool.set_marker_file(_rel(trc_path, out))
    tool.set_coordinate_file(
        _rel(coordinate_file, out)
        if coordinate_file is not None and setup_template is None
        else ""
    )
    tool.set_results_directory(".")
    tool.set_output_motion_file(f"{name}_ik.mot")
    tool.set_report_errors(True)
    tool.setStartTime(float(time_range_s[0]))
    tool.setEndTime(float(time_range_s[1]))
    with c_numeric_locale():
        tool.printToXML(str(setup_path))
    return setup_path


def run_ik(
    model_path: str | Path, trc_path: str | Path, output_dir: str | Path, **setup_options: Any
) -> IKResult:
    """OpenSim IK of ``trc_path`` on ``model_path``: writes the setup (``write_ik_setup``
    options), runs it from that file and returns the result paths and marker errors."""
    setup_path = write_ik_setup(model_path, trc_path, output_dir, **setup_options)
    return run_ik_setup(setup_path)


def run_ik_setup(setup_path: str | Path) -> IKResult:
    """Run an IK setup XML written by ``write_ik_setup`` (its log goes beside it)."""
    osim = require_opensim()
    setup_path = _check_file(Path(setup_path), "IK setup").resolve()
    out = setup_path.parent
    name = setup_path.name.removesuffix("_Setup_IK.xml")
    log_path = out / f"{name}_ik.log"
    # OpenSim resolves some setup paths against the working directory: run from the setup's.
    with _log_to(osim, log_path), c_numeric_locale(), contextlib.chdir(out):
        runner = osim.InverseKinematicsTool(setup_path.name)
        mot_path = out / runner.get_output_motion_file()
        mot_path.unlink(missing_ok=True)  # a stale result must not pass for this run's
        if not runner.run():
            raise RuntimeError(f"OpenSim IK failed; see {log_path}")
    if not mot_path.is_file():
        raise RuntimeError(f"OpenSim IK wrote no {mot_path}; see {log_path}")
    err_path = out / f"{name}_ik_marker_errors.sto"
    rms = mx = math.nan
    if err_path.is_file():
        errs = read_mot(err_path)
        rms = float(np.mean(errs.column("marker_error_RMS")))
        mx = float(np.max(errs.column("marker_error_max")))
    log.info("IK %s: marker RMS %.1f mm, max %.1f mm", name, rms * 1e3, mx * 1e3)
    return IKResult(
        mot_path, setup_path, log_path, err_path if err_path.is_file() else None, rms, mx
    )


def _unclamped_copy(osim: Any, model_path: Path, out_path: Path) -> Path:
    model = osim.Model(str(model_path))
    coords = model.updCoordinateSet()
    for i in range(coords.getSize()):
        coords.get(i).setDefaultClamped(False)
    # (visual meshes are not needed for IK; OpenSim only warns if it cannot find them)
    with c_numeric_locale():
        model.printToXML(str(out_path))
    return out_path


def _model_coordinate_names(osim: Any, model_path: Path) -> list[str]:
    model = osim.Model(str(model_path))  # keep it alive while its coordinate set is read
    cs = model.getCoordinateSet()
    return [cs.get(i).getName() for i in range(cs.getSize())]


def _model_marker_names(osim: Any, model_path: Path) -> list[str]:
    model = osim.Model(str(model_path))
    ms = model.getMarkerSet()
    return [ms.get(i).getName() for i in range(ms.getSize())]


def write_external_loads(
    template_xml: str | Path, grf_mot: str | Path, out_xml: str | Path
) -> Path:
    """Copy an ExternalLoads XML, pointing its data file at ``grf_mot`` (relative path)."""
    osim = require_opensim()
    template_xml = _check_file(Path(template_xml), "external loads XML")
    grf_mot = _check_file(Path(grf_mot), "ground reaction force file")
    out_xml = Path(out_xml)
    loads = osim.ExternalLoads(str(template_xml), True)
    loads.setDataFileName(_rel(grf_mot, out_xml.parent))
    with c_numeric_locale():
        loads.printToXML(str(out_xml))
    return out_xml


def write_id_setup(
    model_path: str | Path,
    coordinates_path: str | Path,
    output_dir: str | Path,
    *,
    name: str | None = None,
    external_loads: str | Path | None = None,
    grf_path: str | Path | None = None,
    time_range_s: tuple[float, float] | None = None,
    lowpass_hz: float = 6.0,
    forces_to_exclude: tuple[str, ...] = ("Muscles",),
) -> Path:
    """Write ``NAME_Setup_ID.xml`` for OpenSim ID: generalized forces for
    ``coordinates_path`` (.mot) on ``model_path``.

    ``external_loads`` is an ExternalLoads XML; with ``grf_path`` its data file is replaced by
    that .mot (a copy of the XML is written beside the results). ``lowpass_hz`` filters the
    coordinates as OpenSim does (``lowpass_cutoff_frequency_for_coordinates``; <= 0: none)."""
    osim = require_opensim()
    model_path = _check_file(model_path, "model")
    coordinates_path = _check_file(coordinates_path, "coordinates file")
    out = Path(output_dir)
    out.mkdir(parents=True, exist_ok=True)
    name = name or coordinates_path.stem
    setup_path = out / f"{name}_Setup_ID.xml"
    sto_path = out / f"{name}_id.sto"
    sto_path.unlink(missing_ok=True)
    coords = read_mot(coordinates_path)
    if time_range_s is None:
        time_range_s = (float(coords.time_s[0]), float(coords.time_s[-1]))
    tool = osim.InverseDynamicsTool()
    tool.setName(name)
    tool.setModelFileName(_rel(model_path, out))
    tool.setCoordinatesFileName(_rel(coordinates_path, out))
    tool.setLowpassCutoffFrequency(float(lowpass_hz) if lowpass_hz > 0 else -1.0)
    tool.setResultsDir(".")
    tool.setOutputGenForceFileName(sto_path.name)
    tool.setStartTime(float(time_range_s[0]))
    tool.setEndTime(float(time_range_s[1]))
    excl = osim.ArrayStr()
    for f in forces_to_exclude:
        excl.append(f)
    tool.setExcludedForces(excl)
    if external_loads is not None:
        loads_xml = _check_file(Path(external_loads), "external loads XML")
        if grf_path is not None:
            loads_xml = write_external_loads(
                loads_xml, grf_path, out / f"{name}_ExternalLoads.xml"
            )
        tool.setExternalLoadsFileName(_rel(loads_xml, out))
    elif grf_path is not None:
        raise ValueError("grf_path needs external_loads (an ExternalLoads XML naming the bodies)")
    with c_numeric_locale():
        tool.printToXML(str(setup_path))
    return setup_path


def run_id(
    model_path: str | Path,
    coordinates_path: str | Path,
    output_dir: str | Path,
    **setup_options: Any,
) -> IDResult:
    """OpenSim ID: writes the setup (``write_id_setup`` options), runs it from that file."""
    return run_id_setup(write_id_setup(model_path, coordinates_path, output_dir, **setup_options))


def run_id_setup(setup_path: str | Path) -> IDResult:
    """Run an ID setup XML written by ``write_id_setup`` (its log goes beside it)."""
    osim = require_opensim()
    setup_path = _check_file(Path(setup_path), "ID setup").resolve()
    out = setup_path.parent
    name = setup_path.name.removesuffix("_Setup_ID.xml")
    log_path = out / f"{name}_id.log"
    with _log_to(osim, log_path), c_numeric_locale(), contextlib.chdir(out):
        runner = osim.InverseDynamicsTool(setup_path.name)
        sto_path = out / runner.getOutputGenForceFileName()
        sto_path.unlink(missing_ok=True)
        if not runner.run():
            raise RuntimeError(f"OpenSim ID failed; see {log_path}")
    if not sto_path.is_file():
        raise RuntimeError(f"OpenSim ID wrote no {sto_path}; see {log_path}")
    return IDResult(sto_path, setup_path, log_path)
