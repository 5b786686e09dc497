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


class _SceneFrameKeeper:
    """Keeps, while detection decodes, the few frames the world stage's scene lines look at
    (core.world.scene_frame_indices of the clip's frame count), so the video is not decoded a
    second time for them. The count is known only at the end: the frames are kept for every count
    within ``SLACK`` of the container's, the latest frame always (it is the last one at the end)."""

    SLACK = 3

    def __init__(self) -> None:
        self.wanted: set[int] | None = None
        self.kept: dict[int, object] = {}
        self.last: tuple[int, object] | None = None
        self.k = -1

    def __call__(self, frame, expected: int) -> None:
        from core.world import scene_frame_indices

        if self.wanted is None:
            counts = range(max(1, expected - self.SLACK), expected + self.SLACK + 1)
            self.wanted = {int(i) for m in counts for i in scene_frame_indices(m)}
        self.k += 1
        if self.k in self.wanted:
            self.kept[self.k] = frame
        self.last = (self.k, frame)

    def frames(self, times_s: np.ndarray, width_px: int) -> tuple | None:
        """The frames scene_frames would decode for ``times_s`` (the detections' own times), or
        None when one is missing or was shrunk for the detector (then it decodes them itself)."""
        from core.world import scene_frame_indices

        picked = []
        for i in scene_frame_indices(len(times_s)):
            f = self.kept.get(int(i))
            if f is None and self.last is not None and self.last[0] == i:
                f = self.last[1]
            if f is None or f.rgb.shape[1] != width_px or abs(f.time_s - times_s[i]) > 1e-6:
                return None
            picked.append(f)
        return tuple(picked)


def detect_stage(video: Path, opts: CaptureOptions, progress) -> Detected:
    from core.detect import detect
    from core.refine import level_camera_rotation

    notes: list[str] = []
    keeper = _SceneFrameKeeper() if opts.scene_lines else None
    det = detect(
        video,
        start_s=opts.start_s,
        end_s=opts.end_s,
        person=opts.person,
        focal_px=opts.focal_px,
        fov_deg=opts.fov_deg,
        progress=progress.stage("detect"),
        on_frame=keeper,
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
    decoded = det
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
    scene = None
    if keeper is not None and det is decoded:  # the frames are the detections' own
        scene = keeper.frames(times, int(cam.width_px))
    return Detected(det, found, times, fps, cam, tuple(notes), scene)
