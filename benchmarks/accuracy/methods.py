"""The methods the harness compares on one clip, each giving BSM-46 angles per video frame.

* ``capture``: the product, ``core.capture.capture`` on the video (true focal length given, as a
  phone's metadata would; height estimated). The stages inside it are recorded by wrapping the
  functions the capture calls (``core.neurik.runtime.run_neurik`` and ``core.refine.refine``:
  the refinement's initial solution is the surface stage's output), so one run gives
  ``neurik`` (the learned prior alone), ``surface`` (+ the body-surface fit) and ``capture``
  (+ the whole-sequence refinement). A stage the capture no longer calls is reported missing.
* ``mp+ik``: MediaPipe world landmarks -> ``core.ik.solve_ik`` on the BlazePose point
  definitions of the true subject's skeleton (an advantage the others do not get).
* ``gt2d``: the whole capture with the 2D keypoints replaced by the truth projected into the
  image plus detector-like noise (Gaussian, ``GT2D_NOISE`` of the subject's image height per
  coordinate); MediaPipe's 3D world landmarks and confidences are kept.
* ``gt3d``: as ``gt2d`` and the 3D world landmarks replaced by the truth too (2 cm noise): the
  error left when the detector is perfect, i.e. the lift/refinement's own share.
* ``neurik@true3d``: the NeurIK prior alone on the exact landmarks (no detector, no noise): the
  prior's own error. ``ik@true3d``: optimisation IK on the same landmarks and the true skeleton,
  a check of the truth and the metric chain (should be ~0 but for hip flexion: the landmarks do
  not fix pelvis tilt).
* ``peer``: ``../shared/tools/peer_baseline.py`` (MediaPipe world landmarks -> OpenSim IK on
  Pose2Sim's model), read from its ``.mot``.

MediaPipe's detections are computed once per clip and cached (keyed by ``core/detect.py``): the
methods share them and a re-run does not pay for them again; their time is measured when made.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
import subprocess
import sys
import time
from dataclasses import replace
from pathlib import Path

import numpy as np

from benchmarks.accuracy.data import TOOLS
from core import skeleton as sk

log = logging.getLogger(__name__)

REPO = Path(__file__).resolve().parents[2]
GT2D_NOISE = 0.01  # std of the 2D noise, fraction of the subject's height in the image
GT3D_NOISE_M = 0.02  # std of the 3D world-landmark noise (gt3d ablation), metres
PEER = TOOLS / "peer_baseline.py"


def _detect_key() -> str:
    import core.detect

    return hashlib.sha1(Path(core.detect.__file__).read_bytes()).hexdigest()[:10]


def detections(video: Path, focal_px: float, cache_dir: Path):
    """MediaPipe detections of the clip (cached) and the seconds they took when made."""
    from core.detect import Detections, detect

    path = cache_dir / f"detections-{_detect_key()}.npz"
    meta = path.with_suffix(".json")
    if path.is_file() and meta.is_file():
        return Detections.load(path), json.loads(meta.read_text())["detect_s"]
    t0 = time.perf_counter()
    det = detect(video, focal_px=focal_px)
    secs = time.perf_counter() - t0
    det.save(path)
    meta.write_text(json.dumps({"detect_s": secs}))
    return det, secs


@contextlib.contextmanager
def instrumented(det):
    """Within: ``core.detect.detect`` returns ``det``; NeurIK's and the refinement's inputs and
    outputs are recorded in the yielded dict."""
    import core.detect
    import core.neurik.runtime
    import core.refine

    rec: dict = {}
    orig = (core.detect.detect, core.neurik.runtime.run_neurik, core.refine.refine)

    def fake_detect(*args, **kwargs):
        return det

    def run_neurik(*args, **kwargs):
        out = orig[1](*args, **kwargs)
        rec["neurik"] = out
        return out

    def refine(inp, *args, **kwargs):
        # The first call's start is the surface stage's output; later calls (the world stage's
        # contact refinement) start from the first refinement's result and must not overwrite it.
        if "surface_q" not in rec:
            rec["surface_q"] = np.array(getattr(inp, "q_init_rad", np.nan))
            rec["surface_root"] = np.array(getattr(inp, "root_init_m", np.nan))
        out = orig[2](inp, *args, **kwargs)
        rec.setdefault("refine", out)
        return out

    core.detect.detect = fake_detect
    core.neurik.runtime.run_neurik = run_neurik
    core.refine.refine = refine
    try:
        yield rec
    finally:
        core.detect.detect, core.neurik.runtime.run_neurik, core.refine.refine = orig


def run_capture(
    video: Path,
    det,
    focal_px: float,
    out: Path,
    treadmill_speed_mps: float | None = None,
    height_m: float | None = None,
) -> dict:
    """The capture on ``video`` with detections ``det`` (and, for a treadmill trial, the belt
    speed a lab user would give; with ``height_m``, the subject's stature as a user types it);
    returns the motion and stage outputs."""
    from core.capture import CaptureOptions, Progress, capture
    from core.motion import Motion

    with open(os.devnull, "w") as devnull, instrumented(det) as rec:
        t0 = time.perf_counter()
        res = capture(
            video,
            CaptureOptions(
                output=out,
                focal_px=focal_px,
                overlay=False,
                export_opensim=False,
                treadmill_speed_mps=treadmill_speed_mps,
                height_m=height_m,
            ),  # fmt: skip
            progress=Progress(jsonl=True, stream=devnull),
        )
        wall = time.perf_counter() - t0
    motion = Motion.load(res.motion_path)
    stages = {}
    if "neurik" in rec:
        stages["neurik"] = np.asarray(rec["neurik"].q_rad)
    if "surface_q" in rec and rec["surface_q"].ndim == 2:
        stages["surface"] = rec["surface_q"]
    return {
        "motion": motion,
        "stages": stages,
        "wall_s": wall,
        "timings_s": {k: float(v) for k, v in res.timings_s.items()},
        "violations": int(res.limit_violations),
        "reprojection_px": float(res.mean_reprojection_px),
        "notes": list(res.notes),
    }


def gt2d_detections(det, truth, seed: int):
    """``det`` with its 2D keypoints replaced by the noisy projected truth."""
    rng = np.random.default_rng(seed)
    px = np.asarray(truth.blaze_px, np.float64)
    n = min(len(px), det.n_frames)
    span = np.ptp(px[..., 1], axis=1).mean()
    kp = det.keypoints_2d_px.copy()
    kp[:n] = px[:n] + rng.normal(scale=GT2D_NOISE * span, size=px[:n].shape)
    found = np.asarray(det.person_found, bool)
    kp[~found] = np.nan
    return replace(det, keypoints_2d_px=kp)


def true_landmarks_mp(truth) -> np.ndarray:
    """(T, 33, 3) the truth's BlazePose points as MediaPipe world landmarks: camera axes (x right,
    y down, z away), hip-centred, metres, no noise."""
    from core.neurik.markersets import blazepose33

    names = blazepose33().names
    hips = [names.index("left_hip"), names.index("right_hip")]
    pc = (np.asarray(truth.blaze_world_m) - truth.cam_centre_m) @ np.asarray(truth.R_cam_world).T
    return pc - pc[:, hips].mean(1, keepdims=True)


def neurik_on_truth(truth) -> np.ndarray:
    """The default NeurIK prior on the exact landmarks (its own error, no detector)."""
    from core.neurik.markersets import mediapipe_world_to_bsm
    from core.neurik.runtime import run_neurik

    lm = true_landmarks_mp(truth)
    conf = np.ones(lm.shape[:2])
    return np.asarray(run_neurik(mediapipe_world_to_bsm(lm), conf, model="blazepose33").q_rad)


def ik_on_truth(truth) -> np.ndarray:
    """Optimisation IK on the exact 3D landmarks and the true skeleton: what the landmarks
    determine (a check of the truth and the metric chain; pelvis tilt is the landmarks' blind
    spot, so hip flexion keeps a few degrees)."""
    from types import SimpleNamespace

    from core.ik import IKConfig, solve_ik
    from core.neurik.markersets import blazepose33

    bodies, local = blazepose33().define(
        SimpleNamespace(offsets_m=truth.offsets_m, height_m=truth.height_m)
    )
    pts = np.asarray(truth.blaze_world_m)
    ik = solve_ik(
        pts, bodies, local, truth.offsets_m, weights=np.ones(pts.shape[:2]), config=IKConfig()
    )
    return ik.q_rad.numpy()


def gt3d_detections(det, truth, seed: int):
    """``gt2d_detections`` plus the 3D world landmarks replaced by the truth's BlazePose points in
    MediaPipe's convention (camera axes: x right, y down, z away; hip-centred) with Gaussian
    noise of ``GT3D_NOISE_M`` per coordinate: what a perfect 2D+3D detector would give."""
    d = gt2d_detections(det, truth, seed)
    rng = np.random.default_rng(seed + 1)
    pc = true_landmarks_mp(truth)
    n = min(len(pc), det.n_frames)
    k3 = det.keypoints_3d_m.copy()
    k3[:n] = pc[:n] + rng.normal(scale=GT3D_NOISE_M, size=pc[:n].shape)
    k3[~np.asarray(det.person_found, bool)] = np.nan
    return replace(d, keypoints_3d_m=k3)


def mp_ik(det, truth) -> np.ndarray:
    """MediaPipe world landmarks -> optimisation IK on the true subject's skeleton."""
    from types import SimpleNamespace

    from core.ik import IKConfig, solve_ik
    from core.neurik.markersets import blazepose33, mediapipe_world_to_bsm

    ms = blazepose33()
    world = mediapipe_world_to_bsm(det.keypoints_3d_m)
    found = np.asarray(det.person_found, bool)
    conf = np.where(found[:, None], det.confidence, 0.0)
    bodies, local = ms.define(SimpleNamespace(offsets_m=truth.offsets_m, height_m=truth.height_m))
    ik = solve_ik(world, bodies, local, truth.offsets_m, weights=conf, config=IKConfig())
    return ik.q_rad.numpy()


def run_peer(video: Path, out: Path, timeout_s: float = 1800) -> tuple[dict, float]:
    """The peer baseline's angles {dof: (T,) deg on the video's frame grid} and its seconds."""
    from biomech_export.mot import read_mot

    mot = out / "peer_ik.mot"
    meta = out / "peer.json"
    if not (mot.is_file() and meta.is_file()):
        if not PEER.is_file():
            raise FileNotFoundError(f"peer baseline not found: {PEER}")
        out.mkdir(parents=True, exist_ok=True)
        t0 = time.perf_counter()
        proc = subprocess.run(
            [sys.executable, str(PEER), str(video), str(out)],
            capture_output=True,
            text=True,
            timeout=timeout_s,
        )
        if proc.returncode != 0 or not mot.is_file():
            tail = (proc.stderr or proc.stdout).strip().splitlines()[-1:] or ["no output"]
            raise RuntimeError(f"peer baseline failed on {video}: {tail[0]}")
        meta.write_text(json.dumps({"wall_s": time.perf_counter() - t0}))
    table = read_mot(mot)
    return {"time_s": np.asarray(table.time_s), **{
        lab: np.asarray(table.column(lab)) for lab in table.labels
    }}, json.loads(meta.read_text())["wall_s"]  # fmt: skip


PEER_NAMES = {"elbow_flexion_r": "elbow_flex_r", "elbow_flexion_l": "elbow_flex_l"}


def peer_curves(peer: dict, n_frames: int, fps: float, dofs) -> dict[str, np.ndarray]:
    """Peer columns on the video's frames 0..n-1 (NaN where the peer has no row)."""
    k = np.rint(np.asarray(peer["time_s"]) * fps).astype(int)
    out = {}
    for d in dofs:
        col = peer.get(d, peer.get(PEER_NAMES.get(d, d)))
        c = np.full(n_frames, np.nan)
        if col is not None:
            ok = (k >= 0) & (k < n_frames)
            c[k[ok]] = np.asarray(col)[ok]
        out[d] = c
    return out


def q_curves(q_rad: np.ndarray, n_frames: int, dofs) -> dict[str, np.ndarray]:
    q = np.asarray(q_rad, np.float64)
    out = {}
    for d in dofs:
        c = np.full(n_frames, np.nan)
        m = min(n_frames, len(q))
        c[:m] = np.rad2deg(q[:m, sk.DOF[d]])
        out[d] = c
    return out
