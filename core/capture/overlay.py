"""The overlay video (or image): the fitted body, skeleton, keypoints, floor grid and contacts
drawn on the clip's frames at the overlay's size."""

from __future__ import annotations

import threading
from pathlib import Path

import numpy as np

from core.capture.ground import Grounded
from core.capture.options import CaptureOptions
from core.motion import Motion

__all__ = ["_overlay"]


def _overlay(
    video: Path,
    opts: CaptureOptions,
    det,
    motion: Motion,
    subject,
    progress,
    path: Path,
    grounded: Grounded | None = None,
    cancel: threading.Event | None = None,
) -> Path:
    """The overlay at ``path`` (an image's: beside it, .png). ``cancel`` set: stop at the next
    frame (the outputs stage failed or was interrupted while this ran beside it)."""
    from core import fk_numpy
    from core.skinning import SurfacePoser
    from core.video import is_image, iter_frames
    from core.visualize import draw_overlay, write_overlay_video

    cam = motion.camera
    # Draw on frames decoded at the overlay's size (max side 1280): decoding, the outline fill and
    # the encoder all work on fewer pixels.
    side = None if is_image(video) else 1280
    rot, org = fk_numpy.forward_kinematics(motion.q_rad, motion.root_m, motion.offsets_m)
    joints_px = cam.project(org)
    faces = np.asarray(subject.surface.faces)
    sf = subject.surface
    pose = SurfacePoser(sf.vertices_m, sf.skin_bodies, sf.skin_weights, subject.joint_centres_m)
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
        if cancel is not None and cancel.is_set():
            raise RuntimeError("overlay cancelled")
        k = index_of.get(i + int(det.frame_indices[0]), None)
        if k is None:
            return rgb
        surf = pose(rot[k], org[k])  # only the frames drawn are posed
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
