"""Detect stage: video -> the tracked person's 2D keypoints (+conf) and 3D world landmarks on a
uniform time grid, and the camera's intrinsics (core.detect)."""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np

from core.capture.grid import on_uniform_grid
from core.capture.options import CaptureOptions
from core.capture.results import Detected
from core.motion import Camera

__all__ = ["detect_stage"]

log = logging.getLogger(__name__)


def detect_stage(video: Path, opts: CaptureOptions, progress) -> Detected:
    from core.detect import detect
    from core.refine import level_camera_rotation

    notes: list[str] = []
    det = detect(
        video,
        start_s=opts.start_s,
        end_s=opts.end_s,
        person=opts.person,
        focal_px=opts.focal_px,
        fov_deg=opts.fov_deg,
        progress=progress.stage("detect"),
    )
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
    return Detected(det, found, times, fps, cam, tuple(notes))
