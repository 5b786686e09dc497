"""OpenCap's LaiUhlrich2022 model (Rajagopal2016 family) next to ours: names, signs, markers,
and ``export_opencap``: the same motion on that model (80 muscles), scaled from our virtual
markers, by OpenSim IK; ``run_static_optimization`` for its muscles.

``COORDINATE_MAP`` says which BSM-46 coordinate each LaiUhlrich2022/Rajagopal2016 coordinate
corresponds to and with which sign (checked by ``tests/test_conventions.py`` by driving both
models in OpenSim). Coordinates with the same name have the same sign and zero (skeleton
convention 2). Named differently: ``lumbar_rotation`` = our ``lumbar_twist``, ``elbow_flex`` =
``elbow_flexion``, and the shoulder: theirs rotates the humerus on the torso, ours on the
scapula (SKEL's chain), so ``arm_flex/arm_add/arm_rot`` only approximately equal
``shoulder_*_z``, ``-shoulder_*_x`` (ours is abduction, theirs adduction) and ``shoulder_*_y``.
"""

from __future__ import annotations

import logging
import math
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from biomech_export.trc import TrcData, read_trc, write_trc
from core import fk_numpy
from core import skeleton as sk
from core.motion import Motion

__all__ = [
    "COORDINATE_MAP",
    "MODEL_PATH",
    "AUGMENTER_FROM_OURS",
    "OpenCapExport",
    "MarkerFit",
    "opencap_markers",
    "export_opencap",
    "run_static_optimization",
    "plot_activations",
]

log = logging.getLogger(__name__)

# their coordinate -> (our coordinate, sign: theirs = sign * ours)
COORDINATE_MAP: dict[str, tuple[str, float]] = {
    "pelvis_tilt": ("pelvis_tilt", 1.0),
    "pelvis_list": ("pelvis_list", 1.0),
    "pelvis_rotation": ("pelvis_rotation", 1.0),
    "pelvis_tx": ("pelvis_tx", 1.0),
    "pelvis_ty": ("pelvis_ty", 1.0),
    "pelvis_tz": ("pelvis_tz", 1.0),
    "lumbar_extension": ("lumbar_extension", 1.0),
    "lumbar_bending": ("lumbar_bending", 1.0),
    "lumbar_rotation": ("lumbar_twist", 1.0),
    **{
        f"{n}_{s}": (f"{n}_{s}", 1.0)
        for s in "rl"
        for n in (
            "hip_flexion",
            "hip_adduction",
            "hip_rotation",
            "knee_angle",
            "ankle_angle",
            "subtalar_angle",
            "mtp_angle",
            "pro_sup",
        )
    },
    **{f"wrist_flex_{s}": (f"wrist_flexion_{s}", 1.0) for s in "rl"},  # Rajagopal2016 only
    **{f"wrist_dev_{s}": (f"wrist_deviation_{s}", 1.0) for s in "rl"},
    **{f"elbow_flex_{s}": (f"elbow_flexion_{s}", 1.0) for s in "rl"},
    **{f"arm_flex_{s}": (f"shoulder_{s}_z", 1.0) for s in "rl"},
    **{f"arm_add_{s}": (f"shoulder_{s}_x", -1.0) for s in "rl"},
    **{f"arm_rot_{s}": (f"shoulder_{s}_y", 1.0) for s in "rl"},
}


# ----------------------------------------------------------------------------- the model
MODEL_PATH = Path(__file__).resolve().parent / "models" / "LaiUhlrich2022.osim"

# OpenCap's augmenter markers (their names) made from our virtual markers (core.landmarks) or,
# for the hip joint centres, from our joint centres (origins of femur_r/femur_l, on the pelvis).
AUGMENTER_FROM_OURS: dict[str, str] = {
    "C7_study": "C7",
    **{
        f"{p}.{m}_study": f"{s}_{m}" for p, s in (("r", "R"), ("L", "L")) for m in ("ASIS", "PSIS")
    },
    **{
        f"{p}_{m}_study": f"{s}_{m}"
        for p, s in (("r", "R"), ("L", "L"))
        for m in ("knee", "mknee", "ankle", "mankle", "toe", "5meta", "calc")
    },
    **{f"{p}_shoulder_study": f"{s}_Shoulder" for p, s in (("r", "R"), ("L", "L"))},
    **{
        f"{p}_{o}_study": f"{s}_{b}"
        for p, s in (("r", "R"), ("L", "L"))
        for o, b in (
            ("lelbow", "elbow_lat"),
            ("melbow", "elbow_med"),
            ("lwrist", "wrist_radius"),
            ("mwrist", "wrist_ulna"),
        )
    },
}
JOINT_CENTRE_MARKERS: dict[str, str] = {"RHJC_study": "femur_r", "LHJC_study": "femur_l"}

# OpenCap's thigh and shank cluster markers (its augmenter predicts them and its IK setup tracks
# them, weight 4): points of our femur/tibia, placed where LaiUhlrich2022's generic model has
# them relative to the segment's landmarks (``_cluster_markers``).
CLUSTER_MARKERS: dict[str, str] = {
    f"{p}_{m}{k}_study": f"{b}_{s}"
    for s, p in (("r", "r"), ("l", "L"))
    for m, b in (("thigh", "femur"), ("sh", "tibia"))
    for k in (1, 2, 3)
}
# the landmarks (OpenCap names, side prefix) that place a segment's cluster
_CLUSTER_LANDMARKS = {
    "femur": ("{P}HJC_study", "{p}_knee_study", "{p}_mknee_study"),
    "tibia": ("{p}_knee_study", "{p}_mknee_study", "{p}_ankle_study", "{p}_mankle_study"),
}

# The body whose joint centre a body's markers scale with when our generic virtual markers are
# put on another skeleton: body -> child whose offset is the body's length.
_LENGTH_CHILD = {
    "femur": "tibia",
    "tibia": "talus",
    "talus": "talus",
    "calcn": "toes",
    "toes": "toes",
    "lumbar": "thorax",
    "thorax": "head",
    "scapula": "humerus",
    "humerus": "ulna",
    "ulna": "hand",
    "radius": "hand",
    "hand": "hand",
}

_BODY_SCALE_BY_HEIGHT = ("pelvis", "head")


def _needed_ours() -> list[str]:
    return list(dict.fromkeys(AUGMENTER_FROM_OURS.values()))


def _virtual_marker_set(motion: Motion) -> tuple[tuple[str, ...], np.ndarray, np.ndarray, str]:
    """(names, bodies, local positions, where from) of our anatomical virtual markers on the
    motion's skeleton: the motion's own when it has them all, else the default Anny subject's
    (``core.body``) carried onto this skeleton by scaling each body's markers with that body's
    length (its main child's offset) relative to the subject's."""
    need = _needed_ours()
    if all(n in motion.marker_names for n in need):
        return (
            tuple(motion.marker_names),
            np.asarray(motion.marker_bodies),
            np.asarray(motion.marker_local_m),
            "the motion's virtual markers",
        )
    try:
        from core import body as core_body
    except ImportError as e:  # pragma: no cover - core is part of the package
        raise ImportError(f"virtual markers for this motion need core.body: {e}") from e
    subj = core_body.default_subject()
    local = np.array(subj.marker_local_m, dtype=np.float64, copy=True)
    for k, b in enumerate(subj.marker_bodies):
        name = sk.BODY_NAMES[int(b)]
        base = name[:-2] if name.endswith(("_r", "_l")) else name
        side = name[-2:] if name.endswith(("_r", "_l")) else ""
        child = _LENGTH_CHILD.get(base)
        if child is None or base in _BODY_SCALE_BY_HEIGHT:
            f = motion.height_m / subj.height_m
        else:
            c = sk.BODY[child + side] if child + side in sk.BODY else sk.BODY[child]
            d_sub = float(np.linalg.norm(subj.offsets_m[c]))
            f = float(np.linalg.norm(motion.offsets_m[c])) / d_sub if d_sub > 1e-6 else 1.0
        local[k] *= f
    return (
        tuple(subj.marker_names),
        np.asarray(subj.marker_bodies),
        local,
        "the default Anny subject's virtual markers, scaled per segment to the motion's skeleton",
    )


def _similarity(src: np.ndarray, dst: np.ndarray) -> tuple[float, np.ndarray, np.ndarray]:
    """Scale, rotation and translation with dst ~ s R src + t (least squares, Umeyama 1991)."""
    ms, md = src.mean(axis=0), dst.mean(axis=0)
    a, b = src - ms, dst - md
    u, sv, vt = np.linalg.svd(b.T @ a)
    d = np.diag([1.0, 1.0, np.sign(np.linalg.det(u @ vt))])
    rot = u @ d @ vt
    scale = float(np.trace(np.diag(sv) @ d) / np.sum(a * a))
    return scale, rot, md - scale * rot @ ms


def _cluster_markers(motion: Motion, model_path: Path = MODEL_PATH) -> dict[str, np.ndarray]:
    """``CLUSTER_MARKERS`` as points of our femur/tibia (body frame, metres): each segment's
    generic LaiUhlrich2022 markers in its default pose, carried onto our zero pose by the
    similarity transform that best maps its landmarks (``_CLUSTER_LANDMARKS``) onto ours."""
    from biomech_export._opensim import require_opensim

    osim = require_opensim()
    model = osim.Model(str(model_path))
    state = model.initSystem()
    ms = model.getMarkerSet()

    def generic(n: str) -> np.ndarray:
        if not ms.contains(n):
            raise ValueError(f"{Path(model_path).name} has no marker {n} (OpenCap's marker set)")
        v = ms.get(n).getLocationInGround(state)
        return np.array([v.get(0), v.get(1), v.get(2)])

    names, ours, _ = opencap_markers(motion, np.zeros((1, sk.N_DOFS)), np.zeros((1, 3)))
    rot, org = fk_numpy.forward_kinematics(
        np.zeros((1, sk.N_DOFS)), np.zeros((1, 3)), motion.offsets_m
    )
    out = {}
    for s, p in (("r", "r"), ("l", "L")):
        for seg, marks in _CLUSTER_LANDMARKS.items():
            lm = [m.format(p=p, P=s.upper()) for m in marks]
            scale, r, t = _similarity(
                np.stack([generic(m) for m in lm]), ours[0, [names.index(m) for m in lm]]
            )
            body = sk.BODY[f"{seg}_{s}"]
            for n, b in CLUSTER_MARKERS.items():
                if b == f"{seg}_{s}":
                    x = scale * r @ generic(n) + t
                    out[n] = rot[0, body].T @ (x - org[0, body])
    return out


def opencap_markers(
    motion: Motion,
    q_rad: np.ndarray | None = None,
    root_m: np.ndarray | None = None,
    clusters: dict[str, np.ndarray] | None = None,
) -> tuple[tuple[str, ...], np.ndarray, str]:
    """OpenCap augmenter marker names and their trajectories (T, M, 3) metres for the motion
    (or for the poses ``q_rad``/``root_m`` on its skeleton), and where the markers came from.
    ``clusters``: also the thigh/shank cluster markers at these points of our femur/tibia
    (``_cluster_markers``)."""
    names, bodies, local, source = _virtual_marker_set(motion)
    q = motion.q_rad if q_rad is None else q_rad
    root = motion.root_m if root_m is None else root_m
    rot, org = fk_numpy.forward_kinematics(q, root, motion.offsets_m)
    ours = fk_numpy.body_points(rot, org, bodies, local)
    if q_rad is None and motion.markers_m is not None and names == tuple(motion.marker_names):
        ours = motion.markers_m  # observed markers where the motion has them
    index = {n: i for i, n in enumerate(names)}
    missing = [n for n in _needed_ours() if n not in index]
    if missing:
        raise ValueError(
            f"the motion's marker set lacks {', '.join(missing[:6])}: cannot make OpenCap's "
            "markers (expected biomocap's virtual markers, core.landmarks)"
        )
    out_names = list(AUGMENTER_FROM_OURS) + list(JOINT_CENTRE_MARKERS)
    cols = [ours[:, index[AUGMENTER_FROM_OURS[n]]] for n in AUGMENTER_FROM_OURS]
    cols += [org[:, sk.BODY[b]] for b in JOINT_CENTRE_MARKERS.values()]
    for n, loc in (clusters or {}).items():
        b = sk.BODY[CLUSTER_MARKERS[n]]
        out_names.append(n)
        cols.append(org[:, b] + np.einsum("tij,j->ti", rot[:, b], loc))
    return tuple(out_names), np.stack(cols, axis=1), source


@dataclass
class OpenCapExport:
    osim_path: Path  # NAME_opencap.osim: LaiUhlrich2022 scaled to the subject, markers placed
    mot_path: Path  # NAME_opencap.mot: OpenSim IK on it, LaiUhlrich2022 coordinate names
    trc_path: Path  # NAME_opencap.trc: OpenCap's markers from ours
    static_trc_path: Path  # NAME_opencap_static.trc: the subject standing in the zero pose
    scale_setup_path: Path
    ik_setup_path: Path
    marker_rms_m: float  # IK: mean over frames of the per-frame marker RMS
    marker_max_m: float
    n_muscles: int
    marker_source: str
    scaled_osim_path: Path  # NAME_opencap_scaled.osim: as Scale made it (static placement)
    markers: dict[str, MarkerFit]  # per marker: body, registration move, IK error before/after


# What LaiUhlrich2022 cannot move: its torso is one rigid segment from the lumbar joint, so the
# static trial holds our thorax (relative to the lumbar spine) at the motion's mean posture and
# the markers placed on that torso sit where the motion carries them on average. Measured on CMU
# walks: IK marker RMS 16.2 -> 11.7 mm (01_01) and 15.8 -> 15.2 mm (131_01); doing the same for
# the scapulae made it worse (18.8 and 16.1 mm), so they stay at zero.
_POSTURE_DOFS = tuple(n for n in sk.DOF_NAMES if n.startswith("thorax_"))


def _static_trial(
    motion: Motion, seconds: float = 1.0, rate_hz: float = 10.0, clusters=None
) -> TrcData:
    """The subject standing in the zero pose (anatomical neutral, LaiUhlrich2022's default),
    lowest foot marker on the floor, with the thorax at the motion's mean posture relative to
    the lumbar spine (``_POSTURE_DOFS``)."""
    n = int(round(seconds * rate_hz)) + 1
    q = np.zeros((1, sk.N_DOFS))
    for name in _POSTURE_DOFS:
        q[0, sk.DOF[name]] = float(np.mean(motion.q_rad[:, sk.DOF[name]]))
    names, pts, _ = opencap_markers(motion, q, np.zeros((1, 3)), clusters)
    lift = -float(np.min(pts[0, :, 1]))
    pts = pts + np.array([0.0, lift, 0.0])
    return TrcData(rate_hz, np.arange(n) / rate_hz, names, np.repeat(pts, n, axis=0))


# Marker registration over the motion. Scale's marker placement registers each marker to its
# body in one static frame; where LaiUhlrich2022's joints differ from ours (one rigid torso
# instead of lumbar + thorax + scapulae, its knee and ankle axes and centres), markers placed in
# that frame sit on average several millimetres from where the motion carries them (measured on
# CMU 01_01: C7 25 mm, ankles 13-14 mm, knees 8-9 mm, mean over frames in the body's frame). So
# after placement each marker is moved, in its body's frame, by its mean IK error over the
# motion, and IK is run again (as AddBiomechanics optimises marker offsets over a trial; each
# step lowers the same weighted least-squares cost). Measured (OpenSim's IK marker RMS, mean
# over frames, 31 markers): CMU 01_01 11.3 -> 7.7 mm (80 frames), 11.7 -> 8.1 mm (150); 131_01
# 15.2 -> 10.7 mm (150); hip/knee/ankle angles against ours unchanged within 1 deg. What is
# left is variation LaiUhlrich2022 cannot follow (our scapulae and two-joint spine): shoulders,
# C7 and elbows 15-30 mm on 131_01. The arm markers keep their static placement: moving them
# too reached 5.8 mm on 01_01 but shifted elbow flexion by 3-8 deg against ours (the forearm
# markers trade off against the elbow angle).
REGISTER_ITERATIONS = 2
KEEP_STATIC_PLACEMENT = ("lelbow", "melbow", "lwrist", "mwrist")  # OpenCap name parts
_REGISTER_MAX_FRAMES = 100  # registration IK runs on at most this many frames, evenly spaced


@dataclass
class MarkerFit:
    """One OpenCap marker after ``export_opencap``: its body, how far registration moved it and
    its IK error before and after (RMS over frames, metres)."""

    body: str
    moved_m: float
    rms_placed_m: float  # with Scale's static placement only
    rms_m: float  # in the exported IK


def _marker_errors(
    osim, model_path: Path, mot_path: Path, trc: TrcData, max_frames: int = _REGISTER_MAX_FRAMES
) -> tuple[dict[str, np.ndarray], dict[str, float], dict[str, str]]:
    """Each model marker of ``trc`` on the IK result ``mot_path``: its mean error (measured
    minus model, metres) in its parent body's frame, its RMS error (metres) and its body."""
    from biomech_export.mot import read_mot

    model = osim.Model(str(model_path))
    state = model.initSystem()
    mot = read_mot(mot_path)
    cs = model.getCoordinateSet()
    ms = model.getMarkerSet()
    use = [n for n in trc.marker_names if ms.contains(n)]
    coords = [
        (cs.get(i), mot.column(cs.get(i).getName()), cs.get(i).getMotionType() == 1)
        for i in range(cs.getSize())
        if cs.get(i).getName() in mot.labels
    ]
    frames = np.unique(np.linspace(0, len(mot.time_s) - 1, max_frames).round().astype(int))
    local: dict[str, list[np.ndarray]] = {n: [] for n in use}
    for k in frames:
        for c, col, rotational in coords:
            c.setValue(state, float(np.radians(col[k]) if rotational else col[k]), False)
        model.realizePosition(state)
        j = int(np.argmin(np.abs(trc.time_s - mot.time_s[k])))
        for n in use:
            x = trc.markers_m[j, trc.marker_names.index(n)]
            if not np.isfinite(x).all():
                continue
            mk = ms.get(n)
            p = mk.getLocationInGround(state)
            r = mk.getParentFrame().getTransformInGround(state).R().asMat33()
            rot = np.array([[r.get(a, b) for b in range(3)] for a in range(3)])
            local[n].append(rot.T @ (x - np.array([p.get(0), p.get(1), p.get(2)])))
    mean = {n: np.mean(v, axis=0) for n, v in local.items() if v}
    rms = {n: float(np.sqrt(np.mean(np.sum(np.square(v), axis=1)))) for n, v in local.items() if v}
    bodies = {n: ms.get(n).getParentFrameName().split("/")[-1] for n in use}
    return mean, rms, bodies


def _move_markers(osim, model_path: Path, offsets: dict[str, np.ndarray], out_path: Path) -> None:
    """Write ``model_path`` to ``out_path`` with the named markers moved (body frame, metres)."""
    from biomech_export._opensim import c_numeric_locale

    model = osim.Model(str(model_path))
    ms = model.getMarkerSet()
    for n, d in offsets.items():
        loc = ms.get(n).get_location()
        ms.get(n).set_location(osim.Vec3(loc.get(0) + d[0], loc.get(1) + d[1], loc.get(2) + d[2]))
    model.finalizeConnections()
    with c_numeric_locale():
        model.printToXML(str(out_path))


def _register_markers(
    osim,
    placed_model: Path,
    trc: TrcData,
    out_model: Path,
    work: Path,
    weights: dict[str, float],
    iterations: int,
) -> tuple[dict[str, np.ndarray], dict[str, float], dict[str, str]]:
    """Write ``out_model``: ``placed_model`` with every marker not in ``KEEP_STATIC_PLACEMENT``
    moved by its mean IK error over ``trc`` (``iterations`` rounds of IK on at most
    ``_REGISTER_MAX_FRAMES`` frames, in ``work``). Returns the total moves, the RMS errors with
    the static placement and the markers' bodies."""
    from biomech_export.tools import run_ik_setup, write_ik_setup

    work.mkdir(parents=True, exist_ok=True)
    rows = np.unique(np.linspace(0, len(trc.time_s) - 1, _REGISTER_MAX_FRAMES).round().astype(int))
    sub = write_trc(
        work / "register.trc",
        TrcData(trc.rate_hz, trc.time_s[rows], trc.marker_names, trc.markers_m[rows]),
    )
    model = placed_model
    total: dict[str, np.ndarray] = {}
    rms_placed: dict[str, float] = {}
    bodies: dict[str, str] = {}
    for it in range(iterations):
        ik = run_ik_setup(
            write_ik_setup(model, sub, work, name=f"register{it}", marker_weights=weights)
        )
        mean, rms, bodies = _marker_errors(osim, model, ik.mot_path, trc)
        if it == 0:
            rms_placed = rms
        move = {n: d for n, d in mean.items() if not any(k in n for k in KEEP_STATIC_PLACEMENT)}
        for n, d in move.items():
            total[n] = total.get(n, np.zeros(3)) + d
        _move_markers(osim, model, move, out_model)
        model = out_model
    if iterations == 0:
        shutil.copyfile(placed_model, out_model)
    return total, rms_placed, bodies


_README = """{stem}: the motion on OpenCap's LaiUhlrich2022 model (80 muscles), by biomocap

{stem}_scaled.osim       LaiUhlrich2022 (OpenCap, Apache-2.0; Uhlrich et al. 2023, after Lai et
                         al. 2017 and Rajagopal et al. 2016) scaled to {mass:.1f} kg / {height:.2f} m
                         from {stem}_static.trc, markers placed there; no bone meshes.
{stem}_static.trc        the subject standing in the anatomical zero pose, thorax at the
                         motion's mean posture (OpenCap's marker names, made from {source}).
{stem}_scaled_Setup_Scale.xml
                         OpenSim Scale setup that made {stem}_scaled.osim (rerun it in the GUI).
{stem}.osim              {stem}_scaled.osim with its markers registered over the motion:
                         each marker but the elbow and wrist ones moved on its body by its
                         mean IK error ({iters} rounds); {stem}_markers.tsv lists the moves and
                         each marker's IK error before and after (RMS over markers and
                         frames {rms0:.1f} -> {rms1:.1f} mm).
{stem}.trc               OpenCap's 43 augmenter markers over the motion ({n} frames at {fps:g}
                         Hz): our virtual markers by name, hip joint centres, and the thigh and
                         shank clusters as points of our femur and tibia.
{stem}_Setup_IK.xml      OpenSim IK of {stem}.trc on {stem}.osim (OpenCap's marker weights).
{stem}.mot               its result, LaiUhlrich2022 coordinate names and signs (OpenSim's
                         marker RMS, mean over frames {rms:.1f} mm, max {mx:.1f} mm);
                         {stem}_ik.mot is the same file as IK writes it.
"""


def _zero_pose(osim, model_path: Path) -> dict[str, float]:
    """Every independent rotational coordinate of the model at 0."""
    model = osim.Model(str(model_path))
    state = model.initSystem()
    cs = model.getCoordinateSet()
    out = {}
    for i in range(cs.getSize()):
        c = cs.get(i)
        if c.getMotionType() == 1 and not c.isConstrained(state):
            out[c.getName()] = 0.0
    return out


def _overall(fits: dict[str, MarkerFit], *, placed: bool) -> float:
    """RMS over markers of the per-marker RMS errors (metres)."""
    v = [f.rms_placed_m if placed else f.rms_m for f in fits.values()]
    return float(np.sqrt(np.mean(np.square(v)))) if v else math.nan


def _write_marker_table(path: Path, fits: dict[str, MarkerFit]) -> None:
    lines = ["marker\tbody\tmoved_mm\trms_static_placement_mm\trms_registered_mm"]
    for n, f in fits.items():
        lines.append(
            f"{n}\t{f.body}\t{f.moved_m * 1e3:.1f}\t{f.rms_placed_m * 1e3:.1f}\t{f.rms_m * 1e3:.1f}"
        )
    lines.append(
        f"ALL\t-\t-\t{_overall(fits, placed=True) * 1e3:.1f}\t{_overall(fits, placed=False) * 1e3:.1f}"
    )
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")


def export_opencap(
    motion: Motion,
    folder: str | Path,
    *,
    name: str = "subject",
    model_path: str | Path = MODEL_PATH,
    register_iterations: int = REGISTER_ITERATIONS,
    with_clusters: bool = True,
) -> OpenCapExport:
    """Write NAME_opencap.osim/.mot/.trc, NAME_opencap_static.trc and the Scale and IK setups
    into ``folder``: LaiUhlrich2022 scaled from our virtual markers on a zero-pose static trial
    (NAME_opencap_scaled.osim), its markers registered over the motion (NAME_opencap.osim, see
    ``REGISTER_ITERATIONS``), then OpenSim IK of the motion's markers onto it. Everything is made in a staging folder and
    moved into place only when complete."""
    from biomech_export._opensim import require_opensim
    from biomech_export.scale import OPENCAP_MARKER_WEIGHTS, OPENCAP_MEASUREMENTS, scale_model
    from biomech_export.tools import run_ik_setup, write_ik_setup

    osim = require_opensim()
    model_path = Path(model_path)
    if not model_path.is_file():
        raise FileNotFoundError(f"OpenCap model not found: {model_path}")
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    stem = f"{name}_opencap"
    clusters = _cluster_markers(motion, model_path) if with_clusters else None
    names, pts, source = opencap_markers(motion, clusters=clusters)
    stage = Path(tempfile.mkdtemp(prefix=f".{stem}.", dir=folder))
    try:
        trc = write_trc(stage / f"{stem}.trc", TrcData(motion.fps, motion.times_s, names, pts))
        static = write_trc(stage / f"{stem}_static.trc", _static_trial(motion, clusters=clusters))
        weights = {k: v for k, v in OPENCAP_MARKER_WEIGHTS.items() if k in names}
        sc = scale_model(
            model_path,
            static,
            stage,
            name=f"{stem}_scaled",
            mass_kg=motion.mass_kg,
            height_m=motion.height_m,
            measurements=OPENCAP_MEASUREMENTS,
            marker_weights={k: v for k, v in OPENCAP_MARKER_WEIGHTS.items() if k in names},
            # the static trial is our zero pose = LaiUhlrich2022's default (anatomical) pose
            static_pose=_zero_pose(osim, model_path),
        )
        moved, rms_placed, _ = _register_markers(
            osim,
            sc.osim_path,
            TrcData(motion.fps, motion.times_s, names, pts),
            stage / f"{stem}.osim",
            stage / ".register",
            weights,
            register_iterations,
        )
        shutil.rmtree(stage / ".register")
        setup = write_ik_setup(
            stage / f"{stem}.osim", trc, stage, name=stem, marker_weights=weights
        )
        ik = run_ik_setup(setup)
        shutil.copyfile(ik.mot_path, stage / f"{stem}.mot")
        _, rms_final, bodies = _marker_errors(
            osim, stage / f"{stem}.osim", ik.mot_path, read_trc(trc)
        )
        fits = {
            n: MarkerFit(
                bodies[n],
                float(np.linalg.norm(moved.get(n, np.zeros(3)))),
                rms_placed.get(n, rms_final[n]),
                rms_final[n],
            )
            for n in rms_final
        }
        _write_marker_table(stage / f"{stem}_markers.tsv", fits)
        (stage / f"{stem}_README.txt").write_text(
            _README.format(
                stem=stem,
                mass=motion.mass_kg,
                height=motion.height_m,
                source=source,
                n=motion.n_frames,
                fps=motion.fps,
                rms=ik.marker_rms_m * 1e3,
                mx=ik.marker_max_m * 1e3,
                iters=register_iterations,
                rms0=_overall(fits, placed=True) * 1e3,
                rms1=_overall(fits, placed=False) * 1e3,
            ),
            encoding="utf-8",
        )
        model = osim.Model(str(stage / f"{stem}.osim"))
        model.initSystem()
        n_muscles = int(model.getMuscles().getSize())
        for p in sorted(stage.iterdir()):
            p.replace(folder / p.name)
    finally:
        shutil.rmtree(stage, ignore_errors=True)
    log.info(
        "OpenCap export %s: IK marker RMS %.1f mm, max %.1f mm, %d muscles",
        stem,
        ik.marker_rms_m * 1e3,
        ik.marker_max_m * 1e3,
        n_muscles,
    )
    return OpenCapExport(
        folder / f"{stem}.osim",
        folder / f"{stem}.mot",
        folder / f"{stem}.trc",
        folder / f"{stem}_static.trc",
        folder / sc.setup_path.name,
        folder / setup.name,
        ik.marker_rms_m,
        ik.marker_max_m,
        n_muscles,
        source,
        folder / f"{stem}_scaled.osim",
        fits,
    )


# --------------------------------------------------------------------- static optimisation
_SO_SETUP = """<?xml version="1.0" encoding="UTF-8" ?>
<OpenSimDocument Version="40000">
  <AnalyzeTool name="{name}">
    <model_file>{model}</model_file>
    <replace_force_set>false</replace_force_set>
    <force_set_files>{actuators}</force_set_files>
    <results_directory>.</results_directory>
    <output_precision>8</output_precision>
    <initial_time>{t0}</initial_time>
    <final_time>{t1}</final_time>
    <solve_for_equilibrium_for_auxiliary_states>false</solve_for_equilibrium_for_auxiliary_states>
    <AnalysisSet name="Analyses">
      <objects>
        <StaticOptimization name="StaticOptimization">
          <on>true</on>
          <start_time>{t0}</start_time>
          <end_time>{t1}</end_time>
          <step_interval>1</step_interval>
          <in_degrees>true</in_degrees>
          <use_model_force_set>true</use_model_force_set>
          <activation_exponent>2</activation_exponent>
          <use_muscle_physiology>true</use_muscle_physiology>
          <optimizer_convergence_criterion>0.0001</optimizer_convergence_criterion>
          <optimizer_max_iterations>200</optimizer_max_iterations>
        </StaticOptimization>
      </objects>
      <groups />
    </AnalysisSet>
    <ControllerSet name="Controllers">
      <objects />
      <groups />
    </ControllerSet>
    <external_loads_file>{loads}</external_loads_file>
    <coordinates_file>{coordinates}</coordinates_file>
    <lowpass_cutoff_frequency_for_coordinates>{lowpass}</lowpass_cutoff_frequency_for_coordinates>
  </AnalyzeTool>
</OpenSimDocument>
"""


def _actuators(osim, model) -> object:
    """Residual actuators on the pelvis and weak reserves on every other unactuated coordinate
    (the legs are moved by muscles; reserves only cover what the muscles cannot)."""
    fs = osim.ForceSet()
    have = set()
    forces = model.getForceSet()
    for i in range(forces.getSize()):
        ca = osim.CoordinateActuator.safeDownCast(forces.get(i))
        if ca is not None:
            have.add(ca.get_coordinate())
    cs = model.getCoordinateSet()
    for i in range(cs.getSize()):
        c = cs.get(i)
        n = c.getName()
        if n in have or c.isConstrained(model.initSystem()):
            continue
        a = osim.CoordinateActuator(n)
        a.setName(f"{'residual' if n.startswith('pelvis') else 'reserve'}_{n}")
        a.setOptimalForce(100.0 if n.startswith("pelvis") else 5.0)
        a.setMinControl(-math.inf)
        a.setMaxControl(math.inf)
        fs.cloneAndAppend(a)
    return fs


def run_static_optimization(
    model_path: str | Path,
    coordinates_path: str | Path,
    output_dir: str | Path,
    *,
    name: str = "so",
    external_loads: str | Path | None = None,
    time_range_s: tuple[float, float] | None = None,
    lowpass_hz: float = 6.0,
) -> Path:
    """OpenSim static optimisation (AnalyzeTool, from a setup XML written beside the results):
    returns NAME_StaticOptimization_activation.sto. Pelvis residuals and weak reserves are added
    (NAME_actuators.xml); ``external_loads``: an ExternalLoads XML (e.g. from
    ``biomech_export grf``)."""
    import contextlib
    import os

    from biomech_export._opensim import c_numeric_locale, require_opensim
    from biomech_export.mot import read_mot

    osim = require_opensim()
    model_path, coordinates_path = Path(model_path), Path(coordinates_path)
    for p, what in ((model_path, "model"), (coordinates_path, "coordinates file")):
        if not p.is_file():
            raise FileNotFoundError(f"{what} not found: {p}")
    out = Path(output_dir)
    out.mkdir(parents=True, exist_ok=True)

    def rel(p: Path) -> str:
        return os.path.relpath(Path(p).resolve(), out.resolve())

    model = osim.Model(str(model_path))
    model.initSystem()
    act_path = out / f"{name}_actuators.xml"
    with c_numeric_locale():
        _actuators(osim, model).printToXML(str(act_path))
    t = read_mot(coordinates_path).time_s
    t0, t1 = time_range_s if time_range_s is not None else (float(t[0]), float(t[-1]))
    setup = out / f"{name}_Setup_SO.xml"
    setup.write_text(
        _SO_SETUP.format(
            name=name,
            model=rel(model_path),
            actuators=act_path.name,
            t0=repr(float(t0)),
            t1=repr(float(t1)),
            loads=rel(Path(external_loads)) if external_loads else "Unassigned",
            coordinates=rel(coordinates_path),
            lowpass=repr(float(lowpass_hz)),
        ),
        encoding="utf-8",
    )
    log_path = out / f"{name}_so.log"
    result = out / f"{name}_StaticOptimization_activation.sto"
    result.unlink(missing_ok=True)
    osim.Logger.removeFileSink()
    osim.Logger.addFileSink(str(log_path))
    try:
        with c_numeric_locale(), contextlib.chdir(out):
            ok = osim.AnalyzeTool(setup.name).run()
    finally:
        osim.Logger.removeFileSink()
    if not ok or not result.is_file():
        raise RuntimeError(f"OpenSim static optimisation failed; see {log_path}")
    return result


def plot_activations(
    sto_path: str | Path, muscles: list[str], path: str | Path, *, title: str = ""
) -> Path:
    """Activation (0..1) of the given muscles over time, one line each (needs matplotlib)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from biomech_export.mot import read_mot

    tab = read_mot(sto_path)
    missing = [m for m in muscles if m not in tab.labels]
    if missing:
        raise ValueError(f"{Path(sto_path).name} has no activation for {missing}")
    fig, axes = plt.subplots(len(muscles), 1, figsize=(7, 1.4 * len(muscles)), sharex=True)
    for ax, m in zip(np.atleast_1d(axes), muscles, strict=True):
        ax.plot(tab.time_s, tab.column(m), "k-")
        ax.set_ylim(0, 1)
        ax.set_ylabel(m, rotation=0, ha="right", fontsize=8)
    np.atleast_1d(axes)[-1].set_xlabel("time (s)")
    if title:
        fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    path = Path(path)
    tmp = path.with_name(f".{path.stem}.tmp.png")
    fig.savefig(tmp, dpi=100)
    plt.close(fig)
    tmp.replace(path)
    return path


LEG_MUSCLES = ("glmax1_r", "recfem_r", "vaslat_r", "bflh_r", "tibant_r", "gasmed_r", "soleus_r")


@dataclass
class SOReport:
    activations_path: Path  # NAME_opencap_SO_StaticOptimization_activation.sto
    plot_path: Path  # NAME_opencap_activations.png
    grf_xml_path: Path  # the ExternalLoads used (estimated from the kinematics)
    grf_mot_path: Path  # its ground reactions (.mot)


def static_optimization_report(
    oc: OpenCapExport, folder: str | Path, *, name: str = "subject"
) -> SOReport:
    """Ground reactions estimated from the kinematics (``biomech_export.dynamics``), OpenSim
    static optimisation of the OpenCap export with them, and a plot of leg-muscle activations."""
    from biomech_export.dynamics import estimate_grf

    folder = Path(folder)
    stem = f"{name}_opencap"
    grf = estimate_grf(oc.osim_path, oc.mot_path, folder, name=stem)
    sto = run_static_optimization(
        oc.osim_path, oc.mot_path, folder, name=f"{stem}_SO", external_loads=grf.xml_path
    )
    plot = plot_activations(
        sto,
        list(LEG_MUSCLES),
        folder / f"{stem}_activations.png",
        title=f"{stem}: static optimisation, right leg",
    )
    return SOReport(sto, plot, grf.xml_path, grf.mot_path)
