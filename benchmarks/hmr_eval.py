"""MQ-HMR against the optimisation fit: accuracy on held-out synthetic renders, 2D accuracy and
pictures on real images, and speed. Each part prints tables; ``--json`` also saves the numbers.

synthetic  The held-out samples of a ``core.hmr.synth`` folder (``--data``, ``--limit``). Every
           method sees the same image and the same known intrinsics: the render is pasted into a
           black canvas whose centre is the labelled principal point (the capture pipeline puts
           the principal point at the image centre; the crops' is off-centre), so the camera of
           ``core.capture`` with ``focal_px = K[0, 0]`` is the labelled one to within 0.5 px.
           Real MediaPipe (``core.detect.detect``) runs once on the canvas; the same call inside
           the pipeline gives the same keypoints (checked: ``keypoint_mismatch_px``). If it finds
           nobody, the image is a failure of every method (counted). Methods:

             mq            MQ-HMR alone on the pipeline's crop around the MediaPipe keypoints
                           (``core.hmr.mq_stage.crops_for_detections``), subject built from the
                           predicted Anny shape
             mq+query      the same, then ``refine_queries(mode="query")`` against the MediaPipe
                           keypoints (``--refine-steps``, default 10)
             mq+params     the same with ``mode="params"``
             pipeline fit  ``core.capture.capture`` on the canvas, single-image mode, --hmr fit
                           (the optimisation-fit surface stage, then the 2D refinement)
             pipeline mq   the same with --hmr mq (query refinement, then the 2D refinement)

           Errors per image against the labels, averaged over the images every method handled:
           mean absolute joint-angle error per DOF group (deg, ``core.skeleton.DOF_GROUPS``),
           pelvis orientation error in the camera frame (deg), MPJPE of the 24 body origins
           after moving the pelvis onto the true one (mm; no rotation alignment), PA-MPJPE
           (similarity Procrustes, mm) and the pelvis position error in the camera (mm). Each
           method's body origins come from its OWN skeleton (the offsets of the subject it built
           from its predicted shape or fitted height), as a user gets them, so skeleton-size
           errors count. ms/img is the median of each method's own time after MediaPipe
           (MediaPipe's mean time is printed once); for the pipeline: its neurik + surface +
           refine stages (model loading inside them included; file outputs excluded).

real       COCO PCK@0.05/0.1 of the captured body's projected keypoints (``capture_coco_pck``)
           for --hmr fit and --hmr mq (query refinement), next to MediaPipe's own 2D. With
           ``--pictures OUT``: a 2-panel PNG (fit | mq, the pipeline's own overlays drawn by
           ``core.visualize.draw_overlay``) per HSMR photo and per sampled frame of the Sports2D
           clip.

speed      images/s of MQ-HMR ``predict`` (crop resize + network) on real crops with torch on
           CPU at 1 thread, batch 1 and 16: the checkpoint's model and a RANDOMLY INITIALISED
           ``large`` model (only its speed is measured), and onnxruntime (1 thread) for the
           checkpoint; the largest ONNX-vs-torch difference on 8 real crops.

Every output of every part is checked for joint-limit violations (counted and printed).

    .venv/bin/python benchmarks/hmr_eval.py --part synthetic --checkpoint /tmp/mqc/dev --limit 20
    .venv/bin/python benchmarks/hmr_eval.py --part all --pictures out/hmr_pictures --json r.json
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import logging
import math
import os
import sys
import tempfile
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from core import fk_numpy
from core import skeleton as sk

log = logging.getLogger("hmr_eval")

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared" / "data"
DEFAULT_DATA = REPO / ".cache" / "hmr_data" / "heldout"
DEFAULT_VIDEO = SHARED / "videos" / "sports2d" / "demo.mp4"
METHODS = ("mq", "mq+query", "mq+params", "pipeline fit", "pipeline mq")
GROUPS = tuple(sk.DOF_GROUPS)
COLUMNS = (*GROUPS, "pelvis_deg", "mpjpe_mm", "pa_mpjpe_mm", "root_mm", "ms")
_LABEL_KEYS = ("q_rad", "offsets_m", "R_cam_world", "t_cam_m", "K", "joints_cam_m", "held_out")


def _sibling(name: str):
    """A benchmark script next to this one, imported as a module."""
    if name in sys.modules:
        return sys.modules[name]
    spec = importlib.util.spec_from_file_location(name, Path(__file__).with_name(f"{name}.py"))
    mod = importlib.util.module_from_spec(spec)
    sys.modules[name] = mod
    spec.loader.exec_module(mod)
    return mod


class _Discard:
    """A text stream that drops what is written (the pipeline's JSON progress lines)."""

    def write(self, text: str) -> int:
        return len(text)

    def flush(self) -> None:
        pass


def _quiet_progress():
    from core.capture import Progress

    return Progress(jsonl=True, stream=_Discard())


# ------------------------------------------------------------------------------ synthetic
@dataclass
class PoseInCamera:
    """A pose with its own skeleton, in the OpenCV camera frame."""

    q_rad: np.ndarray  # (46,) joint angles (pelvis angles not compared)
    joints_cam_m: np.ndarray  # (24, 3) body origins
    R_cam_pelvis: np.ndarray  # (3, 3)  # noqa: N815

    @classmethod
    def from_camera_frame(cls, q_cam: np.ndarray, t_cam_m: np.ndarray, offsets_m: np.ndarray):
        """q with pelvis angles w.r.t. the camera frame, pelvis at t_cam_m."""
        rot, org = fk_numpy.forward_kinematics(q_cam, t_cam_m, offsets_m)
        return cls(np.asarray(q_cam, dtype=np.float64), org, rot[0])

    @classmethod
    def from_world(cls, q_world, root_m, offsets_m, r_cam_world, t_cam_world_m):
        """q with world pelvis angles and a world root, seen by x_c = R x_w + t."""
        rot, org = fk_numpy.forward_kinematics(q_world, root_m, offsets_m)
        return cls(
            np.asarray(q_world, dtype=np.float64),
            org @ r_cam_world.T + t_cam_world_m,
            r_cam_world @ rot[0],
        )


def pose_errors(pred: PoseInCamera, true: PoseInCamera) -> dict[str, float]:
    from core.metrics import dof_group_errors_deg, mpjpe_mm, pa_mpjpe_mm, rotation_error_deg

    out = dof_group_errors_deg(pred.q_rad, true.q_rad)
    out["pelvis_deg"] = float(rotation_error_deg(pred.R_cam_pelvis, true.R_cam_pelvis))
    out["mpjpe_mm"] = float(mpjpe_mm(pred.joints_cam_m, true.joints_cam_m))
    out["pa_mpjpe_mm"] = float(pa_mpjpe_mm(pred.joints_cam_m, true.joints_cam_m))
    out["root_mm"] = 1000.0 * float(np.linalg.norm(pred.joints_cam_m[0] - true.joints_cam_m[0]))
    return out


def principal_point_canvas(rgb: np.ndarray, k: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The image pasted (integer shift) into a black canvas whose centre (w/2, h/2, the capture
    pipeline's principal point) is K's principal point; returns the canvas and the shift (x, y).
    K uses pixel-centre coordinates, the pipeline's centre is in pixel-edge ones (+0.5)."""
    h, w = rgb.shape[:2]
    a, b = float(k[0, 2]) + 0.5, float(k[1, 2]) + 0.5
    half_w = math.ceil(max(a, w - a)) + 1
    half_h = math.ceil(max(b, h - b)) + 1
    ox, oy = round(half_w - a), round(half_h - b)
    canvas = np.zeros((2 * half_h, 2 * half_w, 3), np.uint8)
    canvas[oy : oy + h, ox : ox + w] = rgb
    return canvas, np.array([ox, oy])


@dataclass
class MethodRun:
    pose: PoseInCamera
    ms: float
    violations: int


@dataclass
class SyntheticResults:
    data: str
    checkpoint: str
    refine_steps: int
    n_images: int = 0
    mediapipe_failures: int = 0
    mediapipe_ms: float = float("nan")
    methods: dict[str, dict[str, float]] = field(default_factory=dict)  # means on common images
    method_failures: dict[str, int] = field(default_factory=dict)
    violations: dict[str, int] = field(default_factory=dict)
    n_common: int = 0
    keypoint_mismatch_px: float = 0.0  # MediaPipe here vs inside the pipeline (0: identical)
    per_image: list[dict] = field(default_factory=list)


def _load_labels(folder: Path) -> dict[str, np.ndarray]:
    path = folder / "labels.npz"
    if not path.is_file():
        raise FileNotFoundError(f"{folder} is not an MQ-HMR data folder (no labels.npz)")
    with np.load(path, allow_pickle=False) as z:
        missing = [k for k in _LABEL_KEYS if k not in z.files]
        if missing:
            raise ValueError(f"{path} lacks {', '.join(missing)}")
        return {k: z[k] for k in _LABEL_KEYS}


def _truth(lab: dict[str, np.ndarray], i: int) -> PoseInCamera:
    # q_rad's pelvis angles are w.r.t. the world; R_cam_world turns the world into the camera
    rot, _ = fk_numpy.forward_kinematics(lab["q_rad"][i], np.zeros(3), lab["offsets_m"][i])
    return PoseInCamera(lab["q_rad"][i], lab["joints_cam_m"][i], lab["R_cam_world"][i] @ rot[0])


def _run_mq(model, canvas: Path, det, k_full, steps: int, modes: list[str]) -> dict:
    from core.body import build_subject
    from core.hmr.mq import predict, refine_queries
    from core.hmr.mq_stage import crops_for_detections
    from core.neurik.markersets import blazepose33

    out: dict[str, MethodRun] = {}
    t0 = time.perf_counter()
    crops, ks, kps, rows = crops_for_detections(canvas, det, k_full, model.cfg.input_size)
    pred = predict(model, crops, ks, kps, det.confidence[rows])  # MediaPipe 2D-informed queries
    subject = build_subject(pred.shape_dict(0))
    base_ms = 1000.0 * (time.perf_counter() - t0)
    out["mq"] = MethodRun(
        PoseInCamera.from_camera_frame(pred.q_rad[0], pred.t_cam_m[0], subject.offsets_m),
        base_ms,
        sk.limit_violations(pred.q_rad),
    )
    for mode in modes:
        t0 = time.perf_counter()
        bodies, local = blazepose33().define(subject)
        ref = refine_queries(
            model, crops, ks, kps, det.confidence[rows], bodies, local, subject.offsets_m,
            steps=steps, mode=mode,
        )  # fmt: skip
        out[f"mq+{mode}"] = MethodRun(
            PoseInCamera.from_camera_frame(ref.q_rad[0], ref.t_cam_m[0], subject.offsets_m),
            base_ms + 1000.0 * (time.perf_counter() - t0),
            sk.limit_violations(ref.q_rad),
        )
    return out


def _run_pipeline(canvas: Path, focal_px: float, hmr: str, checkpoint: str, work: Path):
    from core.capture import CaptureOptions, capture
    from core.motion import Motion

    opts = CaptureOptions(
        output=work, focal_px=focal_px, export_opensim=False, overlay=False, name="img",
        hmr=hmr, hmr_refine="query", hmr_checkpoint=checkpoint, device="cpu",
    )  # fmt: skip
    res = capture(canvas, opts, _quiet_progress())
    m = Motion.load(res.motion_path)
    cam = m.camera
    pose = PoseInCamera.from_world(
        m.q_rad[0], m.root_m[0], m.offsets_m, np.asarray(cam.rotation), cam.translation_m
    )
    ms = 1000.0 * sum(res.timings_s[k] for k in ("neurik", "surface", "refine"))
    run = MethodRun(pose, ms, sk.limit_violations(m.q_rad))
    return run, m.keypoints_2d[0, :, :2]


def evaluate_synthetic(
    data: Path,
    checkpoint: str,
    limit: int | None,
    steps: int = 10,
    methods: tuple[str, ...] = METHODS,
) -> SyntheticResults:
    import cv2
    from tqdm import tqdm
    from tqdm.contrib.logging import logging_redirect_tqdm

    from core.detect import detect
    from core.hmr.mq import load_mq_hmr

    unknown = set(methods) - set(METHODS)
    if unknown:
        raise ValueError(f"unknown method(s) {sorted(unknown)}; choose from {METHODS}")
    lab = _load_labels(data)
    held = np.flatnonzero(lab["held_out"].astype(bool))
    if held.size == 0:
        raise ValueError(f"{data} has no held-out samples (labels.npz held_out is all False)")
    idx = held[:limit] if limit else held
    model = load_mq_hmr(checkpoint) if any(m.startswith("mq") for m in methods) else None
    modes = [m.split("+")[1] for m in methods if m.startswith("mq+")]
    res = SyntheticResults(str(data), str(checkpoint), steps, n_images=len(idx))
    res.method_failures = {m: 0 for m in methods}
    res.violations = {m: 0 for m in methods}
    det_ms = []
    with tempfile.TemporaryDirectory() as tmp, logging_redirect_tqdm():
        work = Path(tmp)
        for i in tqdm(idx, desc="synthetic", unit="img"):
            i = int(i)
            bgr = cv2.imread(str(data / "images" / f"{i:06d}.jpg"), cv2.IMREAD_COLOR)
            if bgr is None:
                raise FileNotFoundError(f"cannot read {data}/images/{i:06d}.jpg")
            k = lab["K"][i]
            canvas, _ = principal_point_canvas(bgr, k)
            path = work / "canvas.png"
            cv2.imwrite(str(path), canvas)  # BGR in, the PNG holds RGB
            focal = float(k[0, 0])
            t0 = time.perf_counter()
            try:
                det = detect(path, focal_px=focal)
            except ValueError as e:
                if "no person found" not in str(e):
                    raise
                res.mediapipe_failures += 1
                res.per_image.append({"index": i, "mediapipe": "no person found"})
                continue
            det_ms.append(1000.0 * (time.perf_counter() - t0))
            c = det.camera
            k_full = np.array([[c.focal_px, 0, c.cx_px], [0, c.focal_px, c.cy_px], [0, 0, 1.0]])
            truth = _truth(lab, i)
            runs: dict[str, MethodRun] = {}
            row: dict = {"index": i}
            if model is not None:
                try:
                    got = _run_mq(model, path, det, k_full, steps, modes)
                    runs.update({m: r for m, r in got.items() if m in methods})
                except ValueError as e:
                    log.warning("sample %d: MQ-HMR failed: %s", i, e)
                    row["mq error"] = str(e)
            for hmr in ("fit", "mq"):
                name = f"pipeline {hmr}"
                if name not in methods:
                    continue
                try:
                    run, kp = _run_pipeline(path, focal, hmr, str(checkpoint), work / hmr)
                except ValueError as e:
                    log.warning("sample %d: %s failed: %s", i, name, e)
                    row[f"{name} error"] = str(e)
                    continue
                runs[name] = run
                both = np.isfinite(kp).all(1) & np.isfinite(det.keypoints_2d_px[0]).all(1)
                diff = np.abs(kp[both] - det.keypoints_2d_px[0][both]).max(initial=0.0)
                res.keypoint_mismatch_px = max(res.keypoint_mismatch_px, float(diff))
            for m in methods:
                if m not in runs:
                    res.method_failures[m] += 1
                    continue
                res.violations[m] += runs[m].violations
                row[m] = pose_errors(runs[m].pose, truth) | {"ms": runs[m].ms}
            res.per_image.append(row)
    res.mediapipe_ms = float(np.mean(det_ms)) if det_ms else float("nan")
    common = [r for r in res.per_image if all(m in r for m in methods)]
    res.n_common = len(common)
    for m in methods:  # means; ms: the median (the first image pays one-off loading)
        avg = {c: np.median if c == "ms" else np.mean for c in COLUMNS}
        res.methods[m] = {
            c: float(avg[c]([r[m][c] for r in common])) if common else float("nan")
            for c in COLUMNS
        }
    return res


def print_synthetic(r: SyntheticResults) -> None:
    print(f"\n== Synthetic held-out renders: {r.data}")
    print(
        f"checkpoint {r.checkpoint}; {r.n_images} images, MediaPipe found nobody in "
        f"{r.mediapipe_failures} (a failure of every method); means over the {r.n_common} "
        f"images every method handled"
    )
    print(
        f"MediaPipe: {r.mediapipe_ms:.0f} ms/img (shared, not in ms); query/params refinement: "
        f"{r.refine_steps} steps; keypoints here vs inside the pipeline differ by at most "
        f"{r.keypoint_mismatch_px:.2g} px"
    )
    head = {"pelvis_deg": "pelvis", "mpjpe_mm": "MPJPE", "pa_mpjpe_mm": "PA-MPJPE"}
    head |= {"root_mm": "root mm", "ms": "ms/img"}  # ms: median
    print(f"{'method':<14}" + "".join(f"{head.get(c, c):>10}" for c in COLUMNS) + "  fail  viol")
    for m, vals in r.methods.items():
        cells = "".join(f"{vals[c]:>10.1f}" for c in COLUMNS)
        print(f"{m:<14}{cells}{r.method_failures[m]:>6}{r.violations[m]:>6}")
    print("(angles and pelvis in deg, MPJPE/PA-MPJPE/root in mm; fail: images the method")
    print(" could not handle beyond MediaPipe's; viol: joint-limit violations in its outputs)")
    reasons = sorted({v for row in r.per_image for k, v in row.items() if k.endswith("error")})
    for reason in reasons:
        print(f"  failure: {reason}")


# ------------------------------------------------------------------------------ real
def coco_part(coco: Path, checkpoint: str) -> dict:
    pck = _sibling("capture_coco_pck")
    fit = pck.coco_errors(coco, hmr="fit")
    mq = pck.coco_errors(coco, hmr="mq", hmr_refine="query", hmr_checkpoint=checkpoint)
    rows = {
        "MediaPipe 2D": fit.mediapipe,
        "pipeline fit": fit.capture,
        "pipeline mq (query)": mq.capture,
    }
    return {
        "n_people": fit.n_people,
        "matched": {"fit": fit.n_matched, "mq": mq.n_matched},
        "pck": {k: {t: pck.CocoErrors.pck(v, t) for t in (0.05, 0.1)} for k, v in rows.items()},
        "mediapipe_same_in_both_runs": bool(
            np.array_equal(fit.mediapipe, mq.mediapipe, equal_nan=True)
        ),
        "violations": {"fit": fit.limit_violations, "mq": mq.limit_violations},
    }


def print_coco(r: dict) -> None:
    print(
        f"\n== COCO test images: {r['n_people']} people with >= 10 keypoints; captured and "
        f"matched: fit {r['matched']['fit']}, mq {r['matched']['mq']}"
    )
    print(f"{'':24}{'PCK@0.05':>10}{'PCK@0.1':>10}")
    for name, v in r["pck"].items():
        print(f"{name:24}{v[0.05]:10.3f}{v[0.1]:10.3f}")
    print(
        f"joint-limit violations: fit {r['violations']['fit']}, mq {r['violations']['mq']}; "
        f"MediaPipe identical in both runs: {r['mediapipe_same_in_both_runs']}"
    )


def _titled(rgb: np.ndarray, title: str) -> np.ndarray:
    import cv2

    h, w = rgb.shape[:2]
    band = max(28, h // 18)
    out = np.full((h + band, w, 3), 30, np.uint8)
    out[band:] = rgb
    scale = band / 40.0
    cv2.putText(
        out, title, (8, int(band * 0.72)), cv2.FONT_HERSHEY_SIMPLEX, scale, (255, 255, 255),
        max(1, round(scale * 2)), cv2.LINE_AA,
    )  # fmt: skip
    return out


def _save_png(path: Path, rgb: np.ndarray) -> Path:
    from PIL import Image

    from core.motion import atomic_write

    atomic_write(path, lambda f: Image.fromarray(rgb).save(f, "PNG"), binary=True)
    return path


def _side_by_side(panels: list[np.ndarray]) -> np.ndarray:
    h = max(p.shape[0] for p in panels)
    padded = [np.pad(p, ((0, h - p.shape[0]), (0, 8), (0, 0))) for p in panels]
    return np.concatenate(padded, 1)[:, :-8]


def pictures_part(
    out: Path, checkpoint: str, photos: Path, video: Path, window_s: tuple[float, float], n: int
) -> dict:
    """Fit | mq overlays of every photo in ``photos`` and ``n`` frames of ``video``."""
    from core.capture import CaptureOptions, capture
    from core.video import is_image, iter_frames

    out.mkdir(parents=True, exist_ok=True)
    written, violations, failed = [], {"fit": 0, "mq": 0}, []

    def run(src: Path, work: Path, hmr: str, **kw):
        opts = CaptureOptions(
            output=work / hmr, export_opensim=False, overlay=True, name=src.stem, hmr=hmr,
            hmr_refine="query", hmr_checkpoint=checkpoint, device="cpu", **kw,
        )  # fmt: skip
        res = capture(src, opts, _quiet_progress())
        violations[hmr] += res.limit_violations
        return res

    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        for photo in sorted(p for p in photos.iterdir() if is_image(p)):
            try:
                res = {h: run(photo, work / photo.stem, h) for h in ("fit", "mq")}
            except ValueError as e:
                log.warning("%s: %s", photo.name, e)
                failed.append(f"{photo.name}: {e}")
                continue
            panels = []
            for h, r in res.items():
                img = next(iter_frames(r.outputs["overlay"])).rgb
                panels.append(
                    _titled(img, f"--hmr {h}: {r.mean_reprojection_px:.1f} px reprojection")
                )
            written.append(_save_png(out / f"hsmr_{photo.stem}.png", _side_by_side(panels)))
        a, b = window_s
        res = {h: run(video, work / "video", h, start_s=a, end_s=b) for h in ("fit", "mq")}
        frames = {h: [f.rgb for f in iter_frames(r.outputs["overlay"])] for h, r in res.items()}
        count = min(len(v) for v in frames.values())
        for j in np.linspace(0, count - 1, min(n, count)).round().astype(int):
            panels = [_titled(frames[h][j], f"--hmr {h}: frame {j}") for h in ("fit", "mq")]
            written.append(
                _save_png(out / f"{video.stem}_{a:.1f}s_frame{j:03d}.png", _side_by_side(panels))
            )
    return {"written": [str(p) for p in written], "violations": violations, "failed": failed}


# ------------------------------------------------------------------------------ speed
def real_crops(video: Path, size: int, n: int = 8, start_s: float = 2.0) -> tuple:
    """``n`` crops (n, size, size, 3) and their K around the person in ``video``, as the MQ
    surface stage makes them."""
    from core.detect import detect
    from core.hmr.mq_stage import crops_for_detections

    det = detect(video, start_s=start_s, end_s=start_s + (n + 4) / 25.0)
    c = det.camera
    k_full = np.array([[c.focal_px, 0, c.cx_px], [0, c.focal_px, c.cy_px], [0, 0, 1.0]])
    crops, ks, _, _ = crops_for_detections(video, det, k_full, size)
    if len(crops) < n:
        raise ValueError(f"{video}: only {len(crops)} frames with the person from {start_s} s")
    return crops[:n], ks[:n]


def _rate(fn, batch: int, min_s: float, min_reps: int = 3) -> float:
    fn()  # warm-up
    reps, t0 = 0, time.perf_counter()
    while reps < min_reps or time.perf_counter() - t0 < min_s:
        fn()
        reps += 1
    return reps * batch / (time.perf_counter() - t0)


def _wrapped_max(a: np.ndarray, b: np.ndarray) -> float:
    d = np.asarray(a, np.float64) - np.asarray(b, np.float64)
    return float(np.abs(np.arctan2(np.sin(d), np.cos(d))).max())


def speed_part(checkpoint: str, video: Path, min_s: float) -> dict:
    import onnxruntime as ort
    import torch

    from core.hmr.mq import OnnxMQHMR, build_model, export_onnx, load_mq_hmr, predict, preset

    torch.set_num_threads(1)
    small = load_mq_hmr(checkpoint)
    crops, ks = real_crops(video, 256)
    tile = np.concatenate([crops, crops])
    k_tile = np.concatenate([ks, ks])
    out: dict = {"threads": 1, "crop_px": 256, "rates": {}, "violations": {}}
    torch.manual_seed(0)
    large = build_model(preset("large", shape_labels=small.cfg.shape_labels)).eval()
    for label, model in (
        (f"{small.cfg.name} (checkpoint)", small),
        ("large (random init)", large),
    ):
        viol = 0
        for b in (1, 16):
            x, k = tile[:b], k_tile[:b]
            out["rates"][f"torch {label} batch {b}"] = _rate(
                lambda x=x, k=k, model=model: predict(model, x, k, batch=16), b, min_s
            )
            viol += sk.limit_violations(predict(model, x, k, batch=16).q_rad)
        out["violations"][f"torch {label}"] = viol
    del large
    with tempfile.TemporaryDirectory() as tmp:
        path = export_onnx(small, Path(tmp) / "mq.onnx")
        runner = OnnxMQHMR(path)
        so = ort.SessionOptions()
        so.intra_op_num_threads = 1
        so.inter_op_num_threads = 1
        runner.session = ort.InferenceSession(
            str(path), sess_options=so, providers=["CPUExecutionProvider"]
        )
        viol = 0
        for b in (1, 16):
            x, k = tile[:b], k_tile[:b]
            out["rates"][f"onnxruntime {small.cfg.name} batch {b}"] = _rate(
                lambda x=x, k=k: runner.predict(x, k), b, min_s
            )
            viol += sk.limit_violations(runner.predict(x, k).q_rad)
        out["violations"][f"onnxruntime {small.cfg.name}"] = viol
        a, t = runner.predict(crops, ks), predict(small, crops, ks)
    out["onnx_vs_torch_max_abs"] = {
        "q_rad (wrapped)": _wrapped_max(a.q_rad, t.q_rad),
        "R_cam_pelvis": float(np.abs(a.R_cam_pelvis - t.R_cam_pelvis).max()),
        "t_cam_m": float(np.abs(a.t_cam_m - t.t_cam_m).max()),
        "shape": float(np.abs(a.shape - t.shape).max()),
    }
    return out


def print_speed(r: dict) -> None:
    print(
        f"\n== Speed: MQ-HMR predict on real {r['crop_px']} px crops, CPU, {r['threads']} thread"
    )
    for k, v in r["rates"].items():
        print(f"{k:44}{v:8.2f} images/s")
    print("the large model is randomly initialised: only its speed is meaningful")
    print("ONNX vs torch on 8 real crops, max abs difference:")
    for k, v in r["onnx_vs_torch_max_abs"].items():
        print(f"  {k:18}{v:.2e}")
    print("joint-limit violations: " + ", ".join(f"{k} {v}" for k, v in r["violations"].items()))


# ------------------------------------------------------------------------------ main
def _jsonable(x):
    if isinstance(x, dict):
        return {str(k): _jsonable(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [_jsonable(v) for v in x]
    if isinstance(x, (np.floating, float)):
        return float(x)
    if isinstance(x, np.integer):
        return int(x)
    return x


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("--part", choices=["synthetic", "real", "speed", "all"], default="all")
    p.add_argument(
        "--checkpoint", default="small", help="MQ-HMR weights: a shipped name or a folder"
    )
    p.add_argument("--data", type=Path, default=DEFAULT_DATA, help="synthetic data folder")
    p.add_argument("--limit", type=int, default=0, help="first N held-out samples (0: all)")
    p.add_argument("--refine-steps", type=int, default=10)
    p.add_argument("--methods", nargs="+", choices=METHODS, default=list(METHODS))
    p.add_argument("--coco", type=Path, default=SHARED / "images" / "coco")
    p.add_argument("--pictures", type=Path, help="write fit | mq overlay PNGs here")
    p.add_argument("--photos", type=Path, default=SHARED / "images" / "hsmr")
    p.add_argument("--video", type=Path, default=DEFAULT_VIDEO)
    p.add_argument("--video-window", type=float, nargs=2, default=(2.0, 4.0), metavar=("A", "B"))
    p.add_argument("--video-frames", type=int, default=4, help="frames of --video to picture")
    p.add_argument("--speed-seconds", type=float, default=5.0, help="timing per measurement")
    p.add_argument("--json", type=Path, help="also write the numbers here")
    args = p.parse_args(argv)
    if args.limit < 0 or args.refine_steps < 0:
        p.error("--limit and --refine-steps must be >= 0")
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    os.environ.setdefault("ANNY_CACHE_DIR", str(REPO / ".cache" / "anny"))
    import torch

    torch.set_num_threads(1)
    parts = ("synthetic", "real", "speed") if args.part == "all" else (args.part,)
    report: dict = {"checkpoint": str(args.checkpoint)}
    try:
        if "synthetic" in parts:
            res = evaluate_synthetic(
                args.data, args.checkpoint, args.limit or None, args.refine_steps,
                tuple(args.methods),
            )  # fmt: skip
            print_synthetic(res)
            report["synthetic"] = asdict(res)
        if "real" in parts:
            report["coco"] = coco_part(args.coco, args.checkpoint)
            print_coco(report["coco"])
            if args.pictures:
                pics = pictures_part(
                    args.pictures, args.checkpoint, args.photos, args.video,
                    tuple(args.video_window), args.video_frames,
                )  # fmt: skip
                report["pictures"] = pics
                print(f"\n== Pictures: {len(pics['written'])} PNGs in {args.pictures}")
                print("joint-limit violations: " + str(pics["violations"]))
                for line in pics["failed"]:
                    print(f"  not captured: {line}")
        if "speed" in parts:
            report["speed"] = speed_part(args.checkpoint, args.video, args.speed_seconds)
            print_speed(report["speed"])
    except (FileNotFoundError, ValueError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    if args.json:
        from core.motion import atomic_write

        atomic_write(args.json, lambda f: json.dump(_jsonable(report), f, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
