"""The capture: its stages chained, each timed (detect -> prior -> surface -> refine -> world
-> outputs; see the package's docstring)."""

from __future__ import annotations

import time
from pathlib import Path

from core.capture import warmup
from core.capture.detection import detect_stage
from core.capture.ground import start_scene_lines, world_stage
from core.capture.options import (
    CaptureOptions,
    check_options,
    output_folder,
    resolve_device,
    resolve_prior,
    resolve_threads,
)
from core.capture.outputs import build_motion, outputs_stage
from core.capture.prior import prior_stage
from core.capture.progress import Progress
from core.capture.refinement import refine_stage
from core.capture.results import CaptureResult
from core.capture.surface import surface_options, surface_stage

__all__ = ["capture"]


def capture(video: Path, opts: CaptureOptions, progress: Progress | None = None) -> CaptureResult:
    """One video (or image) of a person -> the motion and every output, in ``opts.output``."""
    from core import kinematics as K  # noqa: F401  (torch import early: fail fast if missing)

    video = Path(video)
    if not video.exists():
        raise FileNotFoundError(f"input not found: {video}")
    progress = progress or Progress()
    device = resolve_device(opts.device)
    check_options(opts)
    _use_threads(resolve_threads(opts))
    prior = resolve_prior(opts)
    surf_opts = surface_options(opts, device)
    out = output_folder(opts)
    name = opts.name or video.stem
    timings: dict[str, float] = {}

    t0 = time.perf_counter()
    detected = detect_stage(video, opts, progress)
    notes = list(detected.notes)
    timings["detect"] = time.perf_counter() - t0
    scene_lines = start_scene_lines(video, detected, opts)  # beside the next three stages

    t0 = time.perf_counter()
    warmup.wait()  # what is left of the later stages' start-up (warmup.py): counted here
    prior_pose = prior_stage(detected, prior, device, progress)
    timings["neurik"] = time.perf_counter() - t0

    t0 = time.perf_counter()
    surfaced = surface_stage(video, detected, prior_pose, opts, device, surf_opts, progress)
    notes.extend(surfaced.surface.notes)
    timings["surface"] = time.perf_counter() - t0

    t0 = time.perf_counter()
    refined = refine_stage(detected, prior_pose, surfaced, opts, device, progress)
    timings["refine"] = time.perf_counter() - t0

    t0 = time.perf_counter()
    grounded = world_stage(
        refined, surfaced.subject, opts, device, progress, video, detected.times_s,
        detected.scene_frames, scene_lines,
    )  # fmt: skip
    notes.extend(grounded.notes)
    timings["world"] = time.perf_counter() - t0

    t0 = time.perf_counter()
    motion = build_motion(video, detected, prior_pose, surfaced, grounded, device, notes)
    return outputs_stage(
        out, name, video, opts, detected, motion, surfaced, grounded, notes, timings, t0,
        progress,
    )  # fmt: skip


def _use_threads(threads: int) -> None:
    import torch

    if torch.get_num_threads() != threads:
        torch.set_num_threads(threads)
