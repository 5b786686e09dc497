"""Scale an OpenSim model to a subject from a static-trial ``.trc``, as OpenSim users do.

``scale_model`` writes ``NAME_Setup_Scale.xml`` (paths relative to it, so the OpenSim GUI or
``opensim-cmd run-tool`` reruns it), runs the ScaleTool from that file and publishes
``NAME.osim`` (scaled, markers placed on the static pose), the scale factors, the static pose
(``NAME_static_pose.mot``) and the tool's log. Measurements (which marker distances scale which
bodies) come from a setup template (e.g. Rajagopal2016's ``scale_setup_walk.xml``), else from
the built-in table for the model: BSM-46 (our virtual markers) or OpenCap's LaiUhlrich2022
(OpenCap's "augmenter" markers, as in OpenCap's own scaling setup).

Before anything runs, the inputs are checked: every body a measurement scales must exist in the
model and every marker it or the marker placer needs must be in the static trial (and on the
model); otherwise one ``ValueError`` names what is missing and nothing is written.
"""

from __future__ import annotations

import contextlib
import logging
import math
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from biomech_export._opensim import c_numeric_locale, require_opensim
from biomech_export.trc import read_trc

__all__ = [
    "ScaleResult",
    "Measurement",
    "BSM46_MEASUREMENTS",
    "OPENCAP_MEASUREMENTS",
    "OPENCAP_MARKER_WEIGHTS",
    "scale_model",
]

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Measurement:
    name: str
    marker_pairs: tuple[tuple[str, str], ...]
    bodies: tuple[tuple[str, str], ...]  # (body, axes "X Y Z" or a subset)


def _sides(name: str, pairs, bodies) -> tuple[Measurement, ...]:
    """One measurement per side: '{s}'/'{S}' in names become r/l and R/L."""
    out = []
    for s, big in (("r", "R"), ("l", "L")):
        out.append(
            Measurement(
                f"{name}_{s}",
                tuple((a.format(s=s, S=big), b.format(s=s, S=big)) for a, b in pairs),
                tuple((b.format(s=s, S=big), ax) for b, ax in bodies),
            )
        )
    return tuple(out)


_XYZ = "X Y Z"
# BSM-46 with the virtual markers of core.landmarks (uniform scale per body group).
BSM46_MEASUREMENTS: tuple[Measurement, ...] = (
    Measurement(
        "pelvis",
        (("R_ASIS", "L_ASIS"), ("R_PSIS", "L_PSIS"), ("R_ASIS", "R_PSIS"), ("L_ASIS", "L_PSIS")),
        (("pelvis", _XYZ),),
    ),
    *_sides("femur", (("{S}_GT", "{S}_knee"), ("{S}_GT", "{S}_mknee")), (("femur_{s}", _XYZ),)),
    *_sides(
        "tibia", (("{S}_knee", "{S}_ankle"), ("{S}_mknee", "{S}_mankle")), (("tibia_{s}", _XYZ),)
    ),
    *_sides(
        "foot",
        (("{S}_calc", "{S}_toe"), ("{S}_calc", "{S}_5meta")),
        (("talus_{s}", _XYZ), ("calcn_{s}", _XYZ), ("toes_{s}", _XYZ)),
    ),
    Measurement(
        "torso",
        (("C7", "R_PSIS"), ("C7", "L_PSIS"), ("R_Shoulder", "L_Shoulder")),
        (("lumbar", _XYZ), ("thorax", _XYZ)),
    ),
    Measurement(
        "head",
        (("R_head_front", "R_head_back"), ("L_head_front", "L_head_back")),
        (("head", _XYZ),),
    ),
    *_sides("scapula", (("CLAV", "{S}_Shoulder"),), (("scapula_{s}", _XYZ),)),
    *_sides(
        "humerus",
        (("{S}_Shoulder", "{S}_elbow_lat"), ("{S}_Shoulder", "{S}_elbow_med")),
        (("humerus_{s}", _XYZ),),
    ),
    *_sides(
        "forearm",
        (("{S}_elbow_lat", "{S}_wrist_radius"), ("{S}_elbow_med", "{S}_wrist_ulna")),
        (("ulna_{s}", _XYZ), ("radius_{s}", _XYZ)),
    ),
    *_sides(
        "hand",
        (("{S}_wrist_radius", "{S}_hand_index"), ("{S}_wrist_ulna", "{S}_hand_pinky")),
        (("hand_{s}", _XYZ),),
    ),
)

# OpenCap's LaiUhlrich2022 scaling (the measurements of OpenCap's Setup_scaling_LaiUhlrich2022
# .xml, on its augmenter markers); OpenCap's left markers start with "L", right ones with "r".
OPENCAP_MEASUREMENTS: tuple[Measurement, ...] = (
    Measurement(
        "foot",
        tuple((f"{s}_calc_study", f"{s}_{m}_study") for s in ("r", "L") for m in ("toe", "5meta")),
        tuple((f"{b}_{s}", _XYZ) for s in "rl" for b in ("talus", "calcn", "toes")),
    ),
    *(
        Measurement(
            f"tibia_{s}",
            ((f"{p}_knee_study", f"{p}_ankle_study"), (f"{p}_mknee_study", f"{p}_mankle_study")),
            ((f"tibia_{s}", _XYZ),),
        )
        for s, p in (("r", "r"), ("l", "L"))
    ),
    *(
        Measurement(
            f"femur_{s}",
            ((f"{s.upper()}HJC_study", f"{p}_knee_study"),),
            ((f"femur_{s}", _XYZ), (f"patella_{s}", _XYZ)),
        )
        for s, p in (("r", "r"), ("l", "L"))
    ),
    Measurement(
        "pelvisXY",
        (("r.ASIS_study", "r.PSIS_study"), ("L.ASIS_study", "L.PSIS_study")),
        (("pelvis", "X Y"),),
    ),
    Measurement("pelvisZ", (("RHJC_study", "LHJC_study"),), (("pelvis", "Z"),)),
    Measurement(
        "torsoXY",
        (
            ("r_shoulder_study", "r.PSIS_study"),
            ("L_shoulder_study", "L.PSIS_study"),
            ("C7_study", "r.PSIS_study"),
            ("C7_study", "L.PSIS_study"),
        ),
        (("torso", "X Y"),),
    ),
    Measurement("torsoZ", (("r_shoulder_study", "L_shoulder_study"),), (("torso", "Z"),)),
    Measurement(
        "humerus",
        tuple(
            (f"{p}_shoulder_study", f"{p}_{e}elbow_study") for p in ("r", "L") for e in ("l", "m")
        ),
        (("humerus_r", _XYZ), ("humerus_l", _XYZ)),
    ),
    Measurement(
        "radius",
        tuple(
            (f"{p}_{e}wrist_study", f"{p}_{e}elbow_study") for p in ("r", "L") for e in ("l", "m")
        ),
        tuple((f"{b}_{s}", _XYZ) for s in "rl" for b in ("ulna", "radius", "hand")),
    ),
)

# Marker weights of OpenCap's IK setup (Setup_IK.xml) for the augmenter markers.
OPENCAP_MARKER_WEIGHTS: dict[str, float] = {
    "C7_study": 5.0,
    **{f"{p}_shoulder_study": 5.0 for p in ("r", "L")},
    **{f"{p}.{m}_study": 25.0 for p in ("r", "L") for m in ("ASIS", "PSIS")},
    **{
        f"{p}_{m}_study": 30.0
        for p in ("r", "L")
        for m in ("knee", "mknee", "ankle", "mankle", "toe", "5meta")
    },
    **{f"{p}_calc_study": 60.0 for p in ("r", "L")},
    **{
        f"{p}_{m}_study": 5.0 for p in ("r", "L") for m in ("lelbow", "melbow", "lwrist", "mwrist")
    },
    **{f"{s}HJC_study": 25.0 for s in "RL"},
    **{f"{p}_{m}{k}_study": 4.0 for p in ("r", "L") for m in ("thigh", "sh") for k in (1, 2, 3)},
}


@dataclass
class ScaleResult:
    osim_path: Path
    setup_path: Path
    log_path: Path
    scale_factors_path: Path | None
    static_pose_path: Path | None
    # static-trial marker RMS of the scaled model before its markers are moved onto the trial
    # (how well scaling alone fits; after placement the markers coincide by construction)
    marker_rms_m: float
    scale_factors: dict[str, tuple[float, float, float]]


def _model_info(osim: Any, model_path: Path) -> tuple[set[str], set[str], set[str]]:
    model = osim.Model(str(model_path))
    bodies = {model.getBodySet().get(i).getName() for i in range(model.getBodySet().getSize())}
    markers = {
        model.getMarkerSet().get(i).getName() for i in range(model.getMarkerSet().getSize())
    }
    coords = {
        model.getCoordinateSet().get(i).getName()
        for i in range(model.getCoordinateSet().getSize())
    }
    return bodies, markers, coords


def measurements_for(bodies: set[str], coords: set[str]) -> tuple[Measurement, ...] | None:
    """The built-in measurement table for a model, by its coordinates (None: unknown model)."""
    if "shoulder_r_x" in coords and "scapula_abduction_r" in coords:
        return BSM46_MEASUREMENTS
    if "arm_flex_r" in coords and "torso" in bodies and "knee_angle_r_beta" in coords:
        return OPENCAP_MEASUREMENTS
    return None


def _one_line(items: list[str], n: int = 8) -> str:
    return ", ".join(items[:n]) + (f" (+{len(items) - n} more)" if len(items) > n else "")


def _template_measurements(osim: Any, template: Path) -> tuple[Measurement, ...]:
    tool = osim.ScaleTool(str(template))
    ms = tool.getModelScaler().getMeasurementSet()
    out = []
    for i in range(ms.getSize()):
        m = ms.get(i)
        if not m.getApply():
            continue
        pairs = []
        for k in range(m.getNumMarkerPairs()):
            mp = m.getMarkerPair(k)
            pairs.append((mp.getMarkerName(0), mp.getMarkerName(1)))
        bodies = []
        bss = m.getBodyScaleSet()
        for k in range(bss.getSize()):
            bs = bss.get(k)
            axes = " ".join(bs.getAxisNames().get(j) for j in range(bs.getAxisNames().getSize()))
            bodies.append((bs.getName(), axes))
        out.append(Measurement(m.getName(), tuple(pairs), tuple(bodies)))
    return tuple(out)


def _static_frame_range(trc_path: Path, time_range_s: tuple[float, float] | None):
    trc = read_trc(trc_path)
    if time_range_s is None:
        time_range_s = (float(trc.time_s[0]), float(trc.time_s[-1]))
    return trc, time_range_s


def scale_model(
    model_path: str | Path,
    static_trc: str | Path,
    output_dir: str | Path,
    *,
    name: str | None = None,
    mass_kg: float | None = None,
    height_m: float | None = None,
    setup_template: str | Path | None = None,
    measurements: tuple[Measurement, ...] | None = None,
    marker_weights: dict[str, float] | None = None,
    time_range_s: tuple[float, float] | None = None,
    marker_set: str | Path | None = None,
    static_pose: dict[str, float] | None = None,
    static_pose_weight: float = 1000.0,
) -> ScaleResult:
    """Scale ``model_path`` to the static trial ``static_trc`` into ``output_dir``.

    ``mass_kg``: the subject's mass (default: the model's; mass distribution is preserved).
    Measurements from ``measurements``, else ``setup_template``'s, else the built-in table for
    the model. Marker placement uses every marker present on both model and trial, with
    ``marker_weights`` (default 1, or OpenCap's weights for its markers), then writes the model
    with the markers moved onto the static pose."""
    osim = require_opensim()
    model_path = Path(model_path)
    static_trc = Path(static_trc)
    for p, what in ((model_path, "model"), (static_trc, "static trial")):
        if not p.is_file():
            raise FileNotFoundError(f"{what} not found: {p}")
    template = Path(setup_template) if setup_template is not None else None
    if template is not None and not template.is_file():
        raise FileNotFoundError(f"scale setup template not found: {template}")
    out = Path(output_dir)
    name = name or f"{model_path.stem}_scaled"
    bodies, model_markers, coords = _model_info(osim, model_path)
    if marker_set is not None:
        marker_set = Path(marker_set)
        if not marker_set.is_file():
            raise FileNotFoundError(f"marker set not found: {marker_set}")
        mset = osim.MarkerSet(str(marker_set))
        model_markers = {mset.get(i).getName() for i in range(mset.getSize())}
        missing = sorted(
            {mset.get(i).getParentFrameName().split("/")[-1] for i in range(mset.getSize())}
            - bodies
        )
        if missing:
            raise ValueError(
                f"{marker_set.name} puts markers on bodies {model_path.name} lacks: {_one_line(missing)}"
            )
    if measurements is None:
        if template is not None:
            measurements = _template_measurements(osim, template)
        else:
            measurements = measurements_for(bodies, coords)
            if measurements is None:
                raise ValueError(
                    f"{model_path.name}: no built-in measurement set for this model (it is "
                    "neither BSM-46 nor LaiUhlrich2022); pass --setup-template with a Scale "
                    "setup whose MeasurementSet fits it"
                )
    if not measurements:
        log.warning(
            "%s: no measurements (an empty MeasurementSet): the model is not scaled, only its "
            "markers are placed on the static trial",
            template.name if template is not None else "measurements",
        )
    trc, time_range_s = _static_frame_range(static_trc, time_range_s)
    # --- check everything before writing anything
    missing_bodies = sorted({b for m in measurements for b, _ in m.bodies} - bodies)
    if missing_bodies:
        raise ValueError(
            f"{model_path.name} lacks the bodies the scale measurements need: "
            f"{_one_line(missing_bodies)}"
        )
    needed = sorted({mk for m in measurements for pair in m.marker_pairs for mk in pair})
    not_in_trial = [m for m in needed if m not in trc.marker_names]
    if not_in_trial:
        raise ValueError(
            f"{static_trc.name} lacks markers the scale measurements need: "
            f"{_one_line(not_in_trial)}"
        )
    not_on_model = [m for m in needed if m not in model_markers]
    if not_on_model:
        raise ValueError(
            f"{model_path.name} has no markers named {_one_line(not_on_model)} (used by the "
            "scale measurements); add them to the model's marker set"
        )
    rows = (trc.time_s >= time_range_s[0] - 1e-9) & (trc.time_s <= time_range_s[1] + 1e-9)
    if not rows.any():
        raise ValueError(
            f"{static_trc.name} has no frame in {time_range_s[0]:g}..{time_range_s[1]:g} s"
        )
    for m in needed:
        v = trc.markers_m[rows][:, trc.marker_names.index(m)]
        if not np.isfinite(v).all(axis=-1).any():
            raise ValueError(f"{static_trc.name}: marker {m} has no data in the static frames")
    placed = [m for m in trc.marker_names if m in model_markers]
    unknown = sorted(set(marker_weights or {}) - model_markers)
    if unknown:
        raise ValueError(f"marker_weights names markers the model lacks: {_one_line(unknown)}")
    weights = dict(marker_weights or {})  # then the template's, then OpenCap's (in _run)
    unknown = sorted(set(static_pose or {}) - coords)
    if unknown:
        raise ValueError(f"static_pose names coordinates the model lacks: {_one_line(unknown)}")
    if mass_kg is not None and not (10.0 <= mass_kg <= 300.0):
        raise ValueError(f"mass must lie in 10..300 kg, got {mass_kg:g}")
    # --- write into a staging folder beside the output, publish when complete
    out.mkdir(parents=True, exist_ok=True)
    stage = Path(tempfile.mkdtemp(prefix=f".{name}.scale.", dir=out))
    try:
        res = _run(
            osim,
            stage,
            name,
            model_path,
            static_trc,
            template,
            measurements,
            placed,
            weights,
            mass_kg,
            height_m,
            time_range_s,
            marker_set,
            static_pose or {},
            static_pose_weight,
        )
        final = {}
        for p in sorted(stage.iterdir()):
            dst = out / p.name
            p.replace(dst)
            final[p.name] = dst
    finally:
        shutil.rmtree(stage, ignore_errors=True)

    def moved(p: Path | None) -> Path | None:
        return None if p is None else final.get(p.name)

    return ScaleResult(
        final[res.osim_path.name],
        final[res.setup_path.name],
        final[res.log_path.name],
        moved(res.scale_factors_path),
        moved(res.static_pose_path),
        res.marker_rms_m,
        res.scale_factors,
    )


def _run(
    osim: Any,
    out: Path,
    name: str,
    model_path: Path,
    static_trc: Path,
    template: Path | None,
    measurements: tuple[Measurement, ...],
    placed: list[str],
    weights: dict[str, float],
    mass_kg: float | None,
    height_m: float | None,
    time_range_s: tuple[float, float],
    marker_set: Path | None,
    static_pose: dict[str, float],
    static_pose_weight: float,
) -> ScaleResult:
    import os

    def rel(p: Path) -> str:
        return os.path.relpath(Path(p).resolve(), out.resolve())

    model = osim.Model(str(model_path))
    state = model.initSystem()
    generic_mass = float(model.getTotalMass(state))
    mass = float(mass_kg) if mass_kg is not None else generic_mass
    tool = osim.ScaleTool(str(template)) if template is not None else osim.ScaleTool()
    tool.setName(name)
    tool.setSubjectMass(mass)
    if height_m is not None:
        tool.setSubjectHeight(float(height_m) * 1000.0)
    gmm = tool.getGenericModelMaker()
    gmm.setModelFileName(rel(model_path))
    if marker_set is not None:
        gmm.setMarkerSetFileName(rel(marker_set))
    elif template is not None and gmm.getMarkerSetFileName().strip() not in ("", "Unassigned"):
        gmm.setMarkerSetFileName(rel(template.parent / gmm.getMarkerSetFileName().strip()))
    # model scaler: our measurement set (replacing the template's: same content when it came
    # from there)
    ms = tool.getModelScaler()
    ms.setApply(True)
    order = osim.ArrayStr()
    order.append("measurements")
    ms.setScalingOrder(order)
    mset = ms.getMeasurementSet()
    mset.clearAndDestroy()
    for m in measurements:
        meas = osim.Measurement()
        meas.setName(m.name)
        meas.setApply(True)
        for a, b in m.marker_pairs:
            meas.getMarkerPairSet().cloneAndAppend(osim.MarkerPair(a, b))
        for body, axes in m.bodies:
            bs = osim.BodyScale()
            bs.setName(body)
            names = osim.ArrayStr()
            for ax in axes.split():
                names.append(ax)
            bs.setAxisNames(names)
            meas.getBodyScaleSet().cloneAndAppend(bs)
        mset.cloneAndAppend(meas)
    ms.setMarkerFileName(rel(static_trc))
    tr = osim.ArrayDouble()
    tr.append(float(time_range_s[0]))
    tr.append(float(time_range_s[1]))
    ms.setTimeRange(tr)
    ms.setPreserveMassDist(True)
    ms.setOutputModelFileName("")
    ms.setOutputScaleFileName(f"{name}_scale_factors.xml")
    mp = tool.getMarkerPlacer()
    mp.setApply(True)
    mp.setStaticPoseFileName(rel(static_trc))
    mp.setTimeRange(tr)
    tasks = mp.getIKTaskSet()
    # marker tasks for every marker on both model and trial (a template's weights kept); a
    # template's coordinate tasks (e.g. "joint angles near 0 in the static pose") kept as well
    keep = []
    for i in range(tasks.getSize()):
        t = tasks.get(i)
        if t.getConcreteClassName() == "IKMarkerTask":
            if t.getApply():
                weights.setdefault(t.getName(), float(t.getWeight()))
        else:
            keep.append(t.clone())
    for k, v in OPENCAP_MARKER_WEIGHTS.items():
        weights.setdefault(k, v)
    tasks.clearAndDestroy()
    for m in placed:
        t = osim.IKMarkerTask()
        t.setName(m)
        t.setApply(True)
        t.setWeight(float(weights.get(m, 1.0)))
        tasks.cloneAndAppend(t)
    for t in keep:
        if t.getName() not in static_pose:
            tasks.cloneAndAppend(t)
    for c, v in static_pose.items():
        t = osim.IKCoordinateTask()
        t.setName(c)
        t.setApply(True)
        t.setWeight(float(static_pose_weight))
        t.setValueType(osim.IKCoordinateTask.ManualValue)
        t.setValue(float(v))
        tasks.cloneAndAppend(t)
    mp.setOutputModelFileName(f"{name}.osim")
    mp.setOutputMotionFileName(f"{name}_static_pose.mot")
    mp.setOutputMarkerFileName("")
    mp.setMaxMarkerMovement(-1.0)
    setup_path = out / f"{name}_Setup_Scale.xml"
    log_path = out / f"{name}_scale.log"
    with c_numeric_locale():
        tool.printToXML(str(setup_path))
    osim.Logger.removeFileSink()
    osim.Logger.addFileSink(str(log_path))
    try:
        with c_numeric_locale(), contextlib.chdir(out):
            runner = osim.ScaleTool(setup_path.name)
            ok = runner.run()
    finally:
        osim.Logger.removeFileSink()
    osim_path = out / f"{name}.osim"
    if not ok or not osim_path.is_file():
        raise RuntimeError(f"OpenSim scaling failed; see {log_path.name} ({log_path})")
    scaled = osim.Model(str(osim_path))
    scaled.initSystem()  # the written model must load
    factors = _read_scale_factors(osim, out / f"{name}_scale_factors.xml")
    pose = out / f"{name}_static_pose.mot"
    return ScaleResult(
        osim_path,
        setup_path,
        log_path,
        out / f"{name}_scale_factors.xml"
        if (out / f"{name}_scale_factors.xml").is_file()
        else None,
        pose if pose.is_file() else None,
        _log_marker_rms(log_path),
        factors,
    )


def _read_scale_factors(osim: Any, path: Path) -> dict[str, tuple[float, float, float]]:
    if not path.is_file():
        return {}
    ss = osim.ScaleSet(str(path))
    out = {}
    for i in range(ss.getSize()):
        s = ss.get(i)
        f = s.getScaleFactors()
        out[s.getSegmentName()] = (f.get(0), f.get(1), f.get(2))
    return out


def _log_marker_rms(log_path: Path) -> float:
    """The marker RMS the ScaleTool logs for the static pose (before marker placement)."""
    import re

    if not log_path.is_file():
        return math.nan
    m = re.findall(r"marker error: RMS = ([0-9.eE+-]+)", log_path.read_text(errors="replace"))
    return float(m[0]) if m else math.nan
