"""What the harness renders: held-out real motion (CMU, ``core.mocap.holdout``) and the real
marker trials of OpenSim's examples (IK onto BSM-46), each with a seeded subject, look, camera
and scene.

A clip is a window of a held-out take; the clip list is fixed by the held-out list and the
seed: two windows per take (one for the short runs, three for the long turning take; windows of
a short take overlap but are seen by another camera on another body). Cameras are phone-like:
35 mm-equivalent focal 24-30 mm (main camera) or 48-77 mm (tele), portrait or landscape,
0.5-2 m above the floor, 2-8 m from the subject (further when needed to keep the whole clip in
view, as a person filming would step back), aimed at the subject's mean position with a small
random pitch offset and roll.
"""

from __future__ import annotations

import hashlib
import logging
import os
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from core import skeleton as sk

log = logging.getLogger(__name__)

REPO = Path(__file__).resolve().parents[2]
FPS = 30.0
SHARED = Path(os.environ.get("BIOMOCAP_SHARED_DATA", REPO.parent / "shared" / "data"))
# The reviewer's measuring scripts (peer baseline, motcmp) live beside the shared data.
TOOLS = Path(os.environ.get("BIOMOCAP_SHARED_TOOLS", SHARED.parent / "tools"))

# Windows per held-out take (default 2) and their length.
WINDOWS = {"running": 1, "turning": 3}
WINDOW_S = 3.0
# Video size (landscape; portrait swaps): small, so that ~3000 frames render in ~20 min of the
# 2 shared CPU cores (Workbench without anti-aliasing or shadows: ~0.35 s a frame measured).
RES = (480, 270)
# ``--scale K`` renders the same clips (same cameras in 35 mm terms, seeds and motion) at K times
# that size: 4 is a phone's 1080p, where the person is 4x as many pixels tall.


# Whose convention a held-out take's truth is in: "own" (its retarget as it is, the default) or
# "bank" (moved into the motion bank's convention as the bank's training takes are: --truth bank,
# RESULTS.md twelfth session). The marker trials' truth is the IK of their markers either way.
TRUTHS = ("own", "bank")


def _check_truth(truth: str) -> None:
    if truth not in TRUTHS:
        raise ValueError(f"unknown truth convention {truth!r}; use one of {TRUTHS}")


def clip_subdir(seed: int, scale: int = 1, truth: str = "own", kind: str = "synthetic") -> str:
    """The clip cache's folder for a seed, a video scale and the synthetic truth's convention
    (``TRUTHS``; the bank's renders live apart, so neither set is rendered over the other). A
    marker trial (``kind="trial"``) has one truth under every convention: its own folder."""
    _check_truth(truth)
    base = f"seed{seed}" if scale == 1 else f"seed{seed}-x{scale}"
    return base if truth == "own" or kind == "trial" else f"{base}-{truth}"


# The OpenSim marker trials: (name, folder, trc, model, activity, time range s)
TRIALS = (
    (
        "gait2392_walk",
        "gait2392_subject01",
        "subject01_walk1.trc",
        "OutputReference/subject01_simbody.osim",
        "walking (treadmill, markers)",
        (0.0, 2.5),
    ),
    (
        "rajagopal_run",
        "rajagopal_walk_run",
        "ExpData/motion_capture_run.trc",
        "Rajagopal2016.osim",
        "running (treadmill, markers)",
        (0.3, 2.8),
    ),
    # A second walking subject, overground (3 m in 2.3 s), independent of the bank and of the
    # gait2392 walk: added in the thirteenth session (RESULTS.md), after the first two.
    (
        "rajagopal_walk",
        "rajagopal_walk_run",
        "ExpData/motion_capture_walk.trc",
        "Rajagopal2016.osim",
        "walking (overground, markers)",
        (0.0, 2.3),
    ),
)
# Trials on a treadmill: the harness captures them with their belt's speed (``--treadmill-speed``,
# run.belt_speed_mps); the others on a still floor.
TREADMILL_TRIALS = ("gait2392_walk", "rajagopal_run")
# Trials judged on the legs only: gait2392 has no arm markers; the Rajagopal walk's arm markers
# do not fit its arms (its static trial reads the elbows at 102-110 deg, where the run's static
# and the run itself read what the arms do).
LOWER_LIMB_TRIALS = ("gait2392_walk", "rajagopal_walk")
TRIAL_VIEWS_DEG = (30.0, 90.0, 150.0)  # camera azimuth off the subject's heading
# Rajagopal2016's arm bodies carry over like the legs; its torso markers sit on the thorax.
_RAJAGOPAL_BODIES = {
    **{f"{b}_{s}": f"{b}_{s}" for b in ("femur", "tibia", "talus", "calcn", "toes") for s in "rl"},
    **{f"{b}_{s}": f"{b}_{s}" for b in ("humerus", "ulna", "radius", "hand") for s in "rl"},
    "pelvis": "pelvis",
    "torso": "lumbar",
}
_RAJAGOPAL_MARKERS = {
    m: "thorax" for m in ("RACR", "LACR", "C7", "CLAV", "RASH", "RPSH", "LASH", "LPSH")
}
# How a Rajagopal trial's subject is scaled and its markers placed (OpenSim ScaleTool, from the
# trial's own setup): its static trial and scale setup, and for the walk the lab's applied scale
# factors and the generic model's marker set (the walk's setup scales a model it was given
# already scaled, with no measurements of its own).
_RAJAGOPAL_SCALING = {
    "rajagopal_run": ("ExpData/static_run.trc", "Scale/scale_setup_run.xml", None, None),
    "rajagopal_walk": (
        "ExpData/static_walk_2.trc",
        "Scale/scale_setup_walk.xml",
        "Scale/scaleSet_applied_walk.xml",
        "Scale/markerset_walk_preScale.xml",
    ),
}
TRIAL_MAPS = {name: (_RAJAGOPAL_BODIES, _RAJAGOPAL_MARKERS) for name in _RAJAGOPAL_SCALING}
TRIAL_IK_SETUPS = {"gait2392_walk": "subject01_Setup_IK.xml"}  # the trial's own marker weights


@dataclass(frozen=True)
class CameraSpec:
    width_px: int
    height_px: int
    focal_px: float
    focal_35mm: float
    height_m: float  # camera centre above the floor
    distance_m: float  # wanted horizontal distance to the subject's mean position
    azimuth_deg: float  # camera direction seen from the subject, off its mean heading
    pitch_offset_deg: float  # added to the look-at pitch (positive: looks further down)
    roll_deg: float


@dataclass(frozen=True)
class ClipSpec:
    name: str
    take: str  # held-out take id or trial name
    activity: str
    path: str  # motion file
    start_s: float
    seconds: float
    seed: int  # subject, look and scene
    camera: CameraSpec
    # The truth's convention: "" for a take's own retarget (and the marker trials), else
    # ``truth_convention()`` (the bank's, with a digest of its measurement).
    truth: str = ""

    def as_dict(self) -> dict:
        return asdict(self)


def _rng(seed: int, *key: int) -> np.random.Generator:
    return np.random.default_rng(np.random.SeedSequence(seed, spawn_key=key))


def _duration_s(path: Path) -> float:
    frames = frame_time = None
    with open(path, encoding="utf-8", errors="replace") as f:
        for line in f:
            s = line.strip()
            if s.startswith("Frames:"):
                frames = int(s.split()[1])
            elif s.startswith("Frame Time:"):
                frame_time = float(s.split()[2])
                break
    if frames is None or frame_time is None:
        raise ValueError(f"{path}: no 'Frames:'/'Frame Time:' lines (not a BVH motion?)")
    return frames * frame_time


def sample_camera(
    rng: np.random.Generator, azimuth_deg: float | None = None, scale: int = 1
) -> CameraSpec:
    portrait = rng.random() < 0.5
    res = (RES[0] * scale, RES[1] * scale)
    w, h = (res[1], res[0]) if portrait else res
    f35 = rng.uniform(24, 30) if rng.random() < 0.7 else rng.uniform(48, 77)
    # 35 mm equivalent: 36 mm across the long side (phones quote it so for 4:3 and 16:9 alike).
    focal = f35 / 36.0 * max(w, h)
    return CameraSpec(
        w,
        h,
        float(focal),
        float(f35),
        float(rng.uniform(0.5, 2.0)),
        float(rng.uniform(2.0, 8.0)),
        float(rng.uniform(-150, 150) if azimuth_deg is None else azimuth_deg),
        float(rng.normal(0.0, 3.0)),
        float(rng.normal(0.0, 1.5)),
    )


def _activity_of(take: str) -> str:
    from core.mocap.holdout import HELD_OUT

    for act, takes in HELD_OUT.items():
        if take in takes:
            return act
    return "walking"  # other takes of subject 131


def synthetic_clips(seed: int = 0, scale: int = 1, truth: str = "own") -> list[ClipSpec]:
    """All synthetic clips, ordered round-robin over activities (so the first N cover them);
    ``scale`` multiplies the video size (the cameras are otherwise the same); ``truth``: whose
    convention their truth is in (``TRUTHS``; the same clips, cameras and bodies either way)."""
    from core.mocap.holdout import clip_id, held_out_paths

    _check_truth(truth)
    tag = truth_convention() if truth == "bank" else ""
    paths = held_out_paths(SHARED)
    by_act: dict[str, list[ClipSpec]] = {}
    for k, path in enumerate(paths):
        take = clip_id(path)
        act = _activity_of(take)
        dur = _duration_s(path)
        n = WINDOWS.get(act, 2)
        secs = min(WINDOW_S, dur - 0.1)
        starts = np.linspace(0.3, max(dur - secs - 0.05, 0.0), n) if dur > secs + 0.35 else [0.0]
        starts = list(starts) + [starts[-1]] * (n - len(starts))
        for w, start in enumerate(starts):
            rng = _rng(seed, k, w)
            by_act.setdefault(act, []).append(
                ClipSpec(
                    f"{take}_w{w}",
                    take,
                    act,
                    str(path),
                    float(round(start, 3)),
                    float(secs),
                    int(rng.integers(2**31)),
                    sample_camera(rng, scale=scale),
                    tag,
                )
            )
    out: list[ClipSpec] = []
    queues = list(by_act.values())
    while any(queues):
        for q in queues:
            if q:
                out.append(q.pop(0))
    return out


def trial_clips(seed: int = 0, scale: int = 1) -> list[ClipSpec]:
    """The marker trials, each from three viewpoints (camera 1.2 m high, 4 m away). The
    clips start where the trial's IK does (:func:`load_trial` solves only the TRIALS window, so
    a clip's ``start_s`` is 0 in it) and last the whole window."""
    out = []
    for k, (name, folder, trc, _model, act, (t0, t1)) in enumerate(TRIALS):
        for v, az in enumerate(TRIAL_VIEWS_DEG):
            rng = _rng(seed, 1000 + k, v)
            sample_camera(rng, azimuth_deg=az)  # keeps the seed's draws as they were
            w, h = RES[0] * scale, RES[1] * scale
            cam = CameraSpec(w, h, 26 / 36 * w, 26.0, 1.2, 4.0, az, 0.0, 0.0)
            out.append(
                ClipSpec(
                    f"{name}_v{v}",
                    name,
                    act,
                    str(SHARED / "opensim" / folder / trc),
                    0.0,  # the IK's own window starts at t0 (load_trial)
                    t1 - t0,
                    int(rng.integers(2**31)),
                    cam,
                )
            )
    return out


# ------------------------------------------------------------------------------ motions
@dataclass
class TrueMotion:
    q_rad: np.ndarray  # (T, 46) at FPS
    root_m: np.ndarray  # (T, 3) OpenSim world of the source skeleton, metres
    offsets_m: np.ndarray  # (24, 3) the source skeleton
    source: str
    tracking_note: str = ""


def _cache_key(*paths: Path) -> str:
    h = hashlib.sha1()
    for p in paths:
        h.update(Path(p).read_bytes())
    return h.hexdigest()[:12]


def truth_convention(measured: tuple[np.ndarray, str] | None = None) -> str:
    """The bank's convention with a digest of the measurement behind it (``measured``: the
    Daz-minus-AMC mean and the convention, default ``core.mocap.bank.bank_convention()``'s): a
    ``--truth bank`` clip's spec carries it, so a clip rendered under another measurement is
    rendered again."""
    if measured is None:
        from core.mocap.bank import bank_convention

        measured = bank_convention()[:2]
    bias, convention = measured
    digest = hashlib.sha1(np.round(np.rad2deg(bias), 2).tobytes()).hexdigest()[:8]
    return f"bank-{convention}-{digest}"


def load_take(
    path: Path, cache: Path, max_frames: int | None = None, truth: str = "own"
) -> TrueMotion:
    """A held-out take retargeted onto BSM-46 at 30 fps (``core.bvh``; its first ``max_frames``
    only, if given), cached on disk. ``truth="bank"``: then put into the motion bank's
    convention as the bank's training takes are (``core.mocap.bank.to_convention``: a
    Daz-friendly take moved by the measured Daz-minus-AMC mean), the convention the prior
    learnt; "own" (default) keeps the take's own retarget."""
    import core.bvh

    _check_truth(truth)
    path = Path(path)
    part = f"-{max_frames}f" if max_frames else ""
    tag = ""
    if truth == "bank":
        from core.mocap.bank import bank_convention, to_convention

        bias, convention, _ = bank_convention()
        tag = f"-{truth_convention((bias, convention))}"
    key = _cache_key(path, Path(core.bvh.__file__))
    f = cache / "motions" / f"{path.stem}{part}-{key}{tag}.npz"
    if f.is_file():
        with np.load(f, allow_pickle=False) as z:
            return TrueMotion(z["q_rad"], z["root_m"], z["offsets_m"], str(z["source"]))
    from core.bvh import retarget_bvh
    from core.motion import atomic_write

    motion, report = retarget_bvh(path, target_fps=FPS, max_frames=max_frames)
    if abs(motion.fps - FPS) > 0.5:
        raise ValueError(f"{path}: retargeted at {motion.fps:.1f} fps, expected {FPS:g}")
    q = motion.q_rad
    src = f"{path.name} via core.bvh.retarget_bvh"
    if truth == "bank":
        naming = str(report.convention)
        q = to_convention(q, naming, bias, convention)
        moved = "moved into" if (convention == "daz") != (naming == "daz") else "kept as"
        src += f", {naming} naming, {moved} the bank's {convention} convention"
    note = report.summary().splitlines()[0] if hasattr(report, "summary") else ""
    arrays = dict(
        q_rad=q,
        root_m=motion.root_m,
        offsets_m=motion.offsets_m,
        source=np.array(src),
        note=np.array(note),
    )
    atomic_write(f, lambda fh: np.savez(fh, **arrays), binary=True)
    return TrueMotion(q, motion.root_m, motion.offsets_m, src, note)


def _without_patellae(model: Path, out: Path) -> Path:
    """A copy of Rajagopal2016 without its patellae (their frames are not parallel to ground in
    the default pose, which ``subject_from_osim`` needs), muscles and constraints (IK uses
    neither). The skeleton and markers that matter here are unchanged."""
    from biomech_export._opensim import require_opensim

    osim = require_opensim()
    path = out / f"{model.stem}_nopatella.osim"
    if path.is_file():
        return path
    m = osim.Model(str(model))
    m.updForceSet().clearAndDestroy()
    m.updConstraintSet().clearAndDestroy()
    joints = m.updJointSet()
    for jn in [joints.get(i).getName() for i in range(joints.getSize())]:
        if "patell" in jn:
            joints.remove(joints.get(jn))
    bodies = m.updBodySet()
    for bn in ("patella_r", "patella_l"):
        bodies.remove(bodies.get(bn))
    m.finalizeConnections()
    m.initSystem()
    tmp = path.with_name(f".{path.name}.tmp")
    m.printToXML(str(tmp))
    tmp.replace(path)
    return path


def _scaled_rajagopal(model: Path, root: Path, out: Path, name: str) -> Path:
    """The subject of the Rajagopal trial ``name``: OpenSim ScaleTool with the trial's own scale
    setup (``_RAJAGOPAL_SCALING``: scaling and marker placement on its static trial), run from a
    setup file written beside the result."""
    from biomech_export._opensim import require_opensim

    osim = require_opensim()
    out = out.resolve()
    placed = out / f"{name}_scaled.osim"
    if placed.is_file():
        return placed

    def rel(p: Path) -> str:
        return os.path.relpath(p, out)

    static, setup_file, scale_set, marker_set = _RAJAGOPAL_SCALING[name]
    tool = osim.ScaleTool(str(root / setup_file))
    maker = tool.getGenericModelMaker()
    maker.setModelFileName(rel(model))
    if marker_set:  # (absolute: OpenSim reads these two from the working folder)
        maker.setMarkerSetFileName(str(root.resolve() / marker_set))
    scaler = tool.getModelScaler()
    if scale_set:
        scaler.setScaleSetFile(str(root.resolve() / scale_set))
        order = osim.ArrayStr()
        order.append("manualScale")
        scaler.setScalingOrder(order)
    scaler.setMarkerFileName(rel(root / static))
    scaler.setOutputModelFileName(f"{name}_scaled_only.osim")
    scaler.setOutputScaleFileName(f"{name}_scale_set.xml")
    placer = tool.getMarkerPlacer()
    placer.setMarkerFileName(rel(root / static))
    placer.setOutputModelFileName(f".{name}_scaled.tmp.osim")
    placer.setOutputMotionFileName(f"{name}_static.mot")
    setup = out / f"{name}_Setup_Scale.xml"
    tool.printToXML(str(setup))
    if not osim.ScaleTool(str(setup)).run():
        raise RuntimeError(f"OpenSim ScaleTool failed on {setup}")
    (out / f".{name}_scaled.tmp.osim").replace(placed)
    return placed


def load_trial(name: str, cache: Path) -> TrueMotion:
    """IK of a real marker trial onto a BSM-46 model of its subject (``biomech_export``: the
    subject's skeleton and markers from the trial's OpenSim model, OpenSim IK with the trial's
    markers), resampled to 30 fps. Cached on disk."""
    spec = {t[0]: t for t in TRIALS}[name]
    _, folder, trc, model, _, (t0, t1) = spec
    root = SHARED / "opensim" / folder
    f = cache / "motions" / f"{name}-{_cache_key(root / trc, root / model, Path(__file__))}.npz"
    if f.is_file():
        with np.load(f, allow_pickle=False) as z:
            return TrueMotion(z["q_rad"], z["root_m"], z["offsets_m"], str(z["source"]))
    from biomech_export.from_osim import subject_from_osim
    from biomech_export.mot import read_mot, table_to_q_root
    from biomech_export.osim_model import write_osim
    from biomech_export.tools import run_ik
    from core.motion import atomic_write

    out = cache / "trials" / name
    out.mkdir(parents=True, exist_ok=True)
    body_map, marker_bodies = TRIAL_MAPS.get(name, (None, None))
    if name in _RAJAGOPAL_SCALING:
        model_path = _scaled_rajagopal(_without_patellae(root / model, out), root, out, name)
    else:
        model_path = root / model
    subject = subject_from_osim(model_path, body_map=body_map, marker_bodies=marker_bodies)
    osim = write_osim(subject.motion, out / f"{name}_bsm46.osim").osim_path
    template = TRIAL_IK_SETUPS.get(name)
    ik = run_ik(
        osim,
        root / trc,
        out,
        name=name,
        time_range_s=(t0, t1),
        setup_template=root / template if template else None,
    )
    table = read_mot(ik.mot_path)
    q, r = table_to_q_root(table)
    t = np.asarray(table.time_s)
    grid = np.arange(t[0], t[-1] + 1e-9, 1.0 / FPS)
    q30 = np.stack([np.interp(grid, t, q[:, i]) for i in range(q.shape[1])], 1)
    r30 = np.stack([np.interp(grid, t, r[:, i]) for i in range(3)], 1)
    lo, hi = sk.limits_rad()
    q30 = np.clip(
        q30, np.where(np.isfinite(lo), lo, -np.inf), np.where(np.isfinite(hi), hi, np.inf)
    )
    src = (
        f"{folder}/{trc} {t0:g}-{t1:g} s: OpenSim IK onto BSM-46 ({model_path.name} subject), "
        f"marker RMS {ik.marker_rms_m * 1e3:.1f} mm"
    )
    arrays = dict(
        q_rad=q30,
        root_m=r30,
        offsets_m=subject.motion.offsets_m,
        source=np.array(src),
        mot=np.array(str(ik.mot_path)),
    )
    atomic_write(f, lambda fh: np.savez(fh, **arrays), binary=True)
    return TrueMotion(q30, r30, subject.motion.offsets_m, src)
