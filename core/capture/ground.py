"""World stage: floor plane and camera height/pitch/roll from the refined feet (core.world, with
the scene's horizontal lines: core.horizon), the motion moved into the gravity-aligned world
frame (Y up, floor Y = 0, facing +X), foot contacts (core.contacts), and a second refinement
with the contacts planted (core.refine)."""

from __future__ import annotations

import logging
from concurrent.futures import Future
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from core.capture.options import CaptureOptions
from core.capture.results import Refined
from core.motion import Camera

__all__ = ["Grounded", "world_stage", "start_scene_lines", "_ground"]

log = logging.getLogger(__name__)


@dataclass(frozen=True)
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


def start_scene_lines(video: Path, detected, opts: CaptureOptions) -> Future | None:
    """The scene's line segments for the world stage (``core.world.scene_line_segments``), found
    in a thread beside the lifting, surface fit and refinement: they need only the frames and
    the detections. Line detection (OpenCV, which releases the GIL) costs about 0.24 s a 1080p
    frame, 5 frames a clip, which the world stage no longer waits for while torch runs on its
    one thread. None when scene lines are off or there are fewer than two frames."""
    if not opts.scene_lines or len(detected.times_s) < 2:
        return None
    from concurrent.futures import ThreadPoolExecutor

    from core.world import scene_frames, scene_line_segments

    def find() -> np.ndarray:
        frames = scene_frames(
            video, detected.times_s, detected.detections.keypoints_2d_px,
            detected.camera.width_px, frames=detected.scene_frames,
        )  # fmt: skip
        return scene_line_segments(frames)

    pool = ThreadPoolExecutor(1, thread_name_prefix="scene-lines")
    try:
        return pool.submit(find)
    finally:
        pool.shutdown(wait=False)  # the thread ends with its one task


def _ground(
    inp, cfg, res, subject, ms, fps: float, opts: CaptureOptions, device, progress,
    video: Path | None = None, times_s: np.ndarray | None = None, decoded_frames=None,
    scene_lines: Future | None = None,
):  # fmt: skip
    """World stage: floor and camera from the refined feet, the motion into the world frame,
    contacts, and a second refinement with the contacts planted (see core.world/contacts).
    ``scene_lines``: :func:`start_scene_lines`' segments, else they are found here."""
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
        treadmill_velocity,
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
    fit = prior = None
    belt_level = None  # the treadmill belt's velocity in the level-camera frame
    if n >= 2:
        seen = foot_conf.max(1) > 0.5
        prior = body_up_direction(q1, root1, subject.offsets_m, weights=seen | ~seen.any())
        if opts.treadmill_speed_mps:
            belt_level = treadmill_velocity(q1, prior, fps, opts.treadmill_speed_mps)
        fit = estimate_floor(
            sole, fps, conf=foot_conf, prior_up=prior, belt_velocity_mps=belt_level
        )
    if prior is not None and video is not None and times_s is not None and opts.scene_lines:
        # The feet span too little depth to fix the floor's tilt far from them (a tilt error of
        # d rad moves the plane under a camera D m away by D * d); the scene's horizontal lines
        # pin it (core.horizon). Harness, 12 synthetic clips: camera height error 0.45 -> 0.26 m,
        # pitch 2.8 -> 1.3 deg, angles unchanged; on the demo both people then agree on the camera.
        # Where the feet alone claimed no floor (its height under the camera too uncertain: a low
        # camera far from a person on one spot) the lines are tried too, from the body's vertical.
        from core.world import floor_with_scene_lines, scene_frames

        segments = None if scene_lines is None else scene_lines.result()
        frames = None
        if segments is None:
            frames = scene_frames(
                video, times_s, inp.keypoints_2d_px, inp.camera.width_px, frames=decoded_frames
            )
        fit, scene_note = floor_with_scene_lines(
            fit, sole, fps, foot_conf, frames, inp.camera.intrinsics,
            belt_velocity_mps=belt_level, prior_up=prior, segments=segments,
        )  # fmt: skip
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
    from core.hmr.fit import POPULATION_STATURE_M, POPULATION_STATURE_SD_M

    # Without --height the scene's scale is the population's mean stature: its spread is the
    # camera height's largest error on the harness (benchmarks/accuracy/RESULTS.md).
    scale_sd = 0.0 if opts.height_m else POPULATION_STATURE_SD_M / POPULATION_STATURE_M
    frame = world_frame(fit, q1, root1, fps, inp.camera, scale_sd_rel=scale_sd)
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


def world_stage(
    refined: Refined, subject, opts: CaptureOptions, device: str, progress, video: Path,
    times_s: np.ndarray, scene_frames=None, scene_lines: Future | None = None,
) -> Grounded:  # fmt: skip
    from core.neurik.markersets import blazepose33

    return _ground(
        refined.inputs, refined.config, refined.result, subject, blazepose33(), refined.inputs.fps,
        opts, device, progress, video=video, times_s=times_s,
        decoded_frames=scene_frames, scene_lines=scene_lines,
    )  # fmt: skip
