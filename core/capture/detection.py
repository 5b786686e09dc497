"""Detect stage: video -> the tracked person's 2D keypoints (+conf) and 3D world landmarks on a
uniform time grid, and the camera's intrinsics (core.detect)."""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np

from core.capture.grid import on_uniform_grid
from core.capture.options import CaptureOptions
from core.capture.results import Detected
from core.detect import BLAZEPOSE_KEYPOINT_NAMES
from core.motion import Camera
from core.video import is_image, read_video_info

__all__ = ["detect_stage", "hidden_limbs_note"]

log = logging.getLogger(__name__)


# Limbs whose keypoints (BlazePose: elbow + wrist, knee + ankle) MediaPipe barely sees for much of
# a clip: their angles then come from the 3D prior more than from the picture. On the accuracy
# harness's renders (33 clips at 480x270, RESULTS.md, eleventh session) the limbs with either
# point under 0.5 confidence in 80 % or more of the frames were off by a median 12.4 deg, those
# under 20 % by 7.7.
_LIMBS = (
    ("right arm", ("right_elbow", "right_wrist")),
    ("left arm", ("left_elbow", "left_wrist")),
    ("right leg", ("right_knee", "right_ankle")),
    ("left leg", ("left_knee", "left_ankle")),
)
HIDDEN_CONFIDENCE = 0.5
HIDDEN_SHARE = 0.5


def hidden_limbs_note(
    confidence: np.ndarray, found: np.ndarray, names: tuple[str, ...] = BLAZEPOSE_KEYPOINT_NAMES
) -> str | None:
    """A note naming the limbs with a keypoint under ``HIDDEN_CONFIDENCE`` in at least
    ``HIDDEN_SHARE`` of the frames with the person (confidence (T, K) of the keypoints ``names``,
    found (T,)), or None."""
    conf = np.nan_to_num(np.asarray(confidence, np.float64)[np.asarray(found, bool)])
    if not len(conf):
        return None
    index = {n: i for i, n in enumerate(names)}
    hidden = []
    for name, points in _LIMBS:
        idx = [index[p] for p in points]
        share = float((conf[:, idx].min(1) < HIDDEN_CONFIDENCE).mean())
        if share >= HIDDEN_SHARE:
            hidden.append(f"{name} in {100 * share:.0f}%")
    if not hidden:
        return None
    return (
        f"hardly seen (keypoint confidence under {HIDDEN_CONFIDENCE:g}): "
        + ", ".join(hidden)
        + " of the frames; there its joint angles come mostly from the learned 3D prior, not "
        "the picture (on the accuracy harness such limbs are off by a median 12 deg, seen ones "
        "by 8)"
    )


class _SceneFrameKeeper:
    """Keeps, while detection decodes, the few frames the world stage's scene lines look at
    (core.world.scene_frame_indices of the clip's frame count), so the video is not decoded a
    second time for them. The count is known only at the end: the frames are kept for every count
    within ``SLACK`` of the container's, and the latest frame (the last one at the end).

    They are copied into one block allocated at the first frame: frame-sized arrays kept alive
    between the decoder's freed ones fragment the heap (1080p: peak RSS +480 MB for ~20 kept
    frames); one block does not (+6 MB a kept frame). Frames shrunk for the detector (long side
    > 1920 px) are not the camera's pixels: nothing is kept, scene_frames decodes them itself."""

    SLACK = 3

    def __init__(self, width_px: int) -> None:
        self.width_px = int(width_px)
        self.slot: dict[int, int] | None = None  # frame number -> row of ``buf``
        self.buf: np.ndarray | None = None  # (slots + 1, H, W, 3) uint8, the last row: latest
        self.time_s = self.index = None  # per row
        self.k = -1
        self.off = False

    def __call__(self, frame, expected: int) -> None:
        from core.world import scene_frame_indices

        self.k += 1
        if self.off:
            return
        if self.slot is None:
            counts = range(max(1, expected - self.SLACK), expected + self.SLACK + 1)
            # every index but each count's last frame (the latest row holds that)
            wanted = sorted({int(i) for m in counts for i in scene_frame_indices(m)[:-1]})
            self.slot = {i: r for r, i in enumerate(wanted)}
            self.buf = np.empty((len(wanted) + 1, *frame.rgb.shape), np.uint8)
            self.time_s = np.full(len(wanted) + 1, np.nan)
            self.index = np.full(len(wanted) + 1, -1)
        if frame.rgb.shape != self.buf.shape[1:] or frame.rgb.shape[1] != self.width_px:
            self.off, self.buf = True, None
            return
        row = self.slot.get(self.k, len(self.slot))
        self.buf[row] = frame.rgb
        self.time_s[row], self.index[row] = frame.time_s, frame.index

    def frames(self, times_s: np.ndarray) -> tuple | None:
        """The frames scene_frames would decode for ``times_s`` (the detections' own times), or
        None when one was not kept (then it decodes them itself)."""
        from core.video import Frame
        from core.world import scene_frame_indices

        if self.off or self.buf is None:
            return None
        picked = []
        for i in scene_frame_indices(len(times_s)):
            row = self.slot.get(int(i), len(self.slot) if i == self.k else None)
            if row is None or abs(self.time_s[row] - times_s[i]) > 1e-6:
                return None
            picked.append(Frame(int(self.index[row]), float(self.time_s[row]), self.buf[row]))
        return tuple(picked)


def _sides_fixed(det, found: np.ndarray):
    """The detections with MediaPipe's left/right swaps put back (core.capture.sides), and a note
    saying how many frames changed (None when none did)."""
    import os
    from dataclasses import replace

    from core.capture.sides import DEFAULT_LIMBS, fix_side_swaps

    limbs = os.environ.get("BIOMOCAP_SIDE_LIMBS", ",".join(DEFAULT_LIMBS))
    if not limbs:
        return det, None
    fix = fix_side_swaps(
        det.keypoints_2d_px, det.confidence, det.keypoints_3d_m, found, det.keypoint_names,
        limbs=tuple(x for x in limbs.split(",") if x),
    )  # fmt: skip
    parts = []
    if fix.n_swapped:
        counts = ", ".join(f"{k} {int(v.sum())}" for k, v in fix.swapped.items() if v.any())
        parts.append(f"MediaPipe's left/right labels exchanged back in {counts} frame(s)")
        det = replace(
            det, keypoints_2d_px=fix.keypoints_2d_px, confidence=fix.confidence,
            keypoints_3d_m=fix.keypoints_3d_m,
        )  # fmt: skip
    if fix.flipped.any():
        parts.append(
            f"{int(fix.flipped.sum())} frame(s) look like MediaPipe took the person as facing the "
            "other way (hips and shoulders swapped too): left as detected"
        )
    if not parts:
        return det, None
    log.info("%s", "; ".join(parts))
    return det, "; ".join(parts)


def detect_stage(video: Path, opts: CaptureOptions, progress) -> Detected:
    from core.capture import warmup
    from core.detect import detect
    from core.refine import level_camera_rotation

    notes: list[str] = []
    keeper = None
    if opts.scene_lines and not is_image(video):
        keeper = _SceneFrameKeeper(read_video_info(video).width_px)

    def on_frame(frame, expected: int) -> None:
        if keeper is not None:
            keeper(frame, expected)
        warmup.start()  # the detector is set up: the later stages' start-up runs beside it

    det = detect(
        video,
        start_s=opts.start_s,
        end_s=opts.end_s,
        person=opts.person,
        focal_px=opts.focal_px,
        fov_deg=opts.fov_deg,
        progress=progress.stage("detect"),
        on_frame=on_frame,
    )
    if det.provenance.get("decode_warning"):
        notes.append(
            f"damaged video: {det.provenance['decode_warning']}; those frames are missing"
        )
        log.warning("%s: %s", video, det.provenance["decode_warning"])
    found = np.asarray(det.person_found, bool)
    if not found.any():
        raise ValueError(f"no person found in {video}")
    det, note = _sides_fixed(det, found)
    if note:
        notes.append(note)
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
    hidden = hidden_limbs_note(det.confidence, found, tuple(det.keypoint_names))
    if hidden:
        notes.append(hidden)
    scene = None
    if keeper is not None and det is decoded:  # the frames are the detections' own
        scene = keeper.frames(times)
    return Detected(det, found, times, fps, cam, tuple(notes), scene)
