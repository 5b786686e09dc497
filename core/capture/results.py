"""The typed results the capture's stages hand on, and the capture's own result.

detect -> :class:`Detected` -> prior -> :class:`Prior` -> surface -> :class:`Surfaced` ->
refine -> :class:`Refined` -> world -> :class:`core.capture.world.Grounded` -> outputs ->
:class:`CaptureResult`."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from core.motion import Camera

__all__ = ["Detected", "Prior", "Surfaced", "Refined", "CaptureResult"]


@dataclass(frozen=True)
class Detected:
    """The detect stage: the tracked person's keypoints on a uniform time grid."""

    detections: Any  # core.detect.Detections on the grid (T frames)
    found: np.ndarray  # (T,) bool, a person in the frame
    times_s: np.ndarray  # (T,) seconds, uniform at ``fps``
    fps: float  # frames per second of the motion
    camera: Camera  # intrinsics; the level-camera rotation, no translation
    notes: tuple[str, ...] = ()
    # the frames the world stage's scene lines need (core.world.scene_frames), kept while
    # detecting; None: decode them again
    scene_frames: tuple | None = None

    @property
    def n_frames(self) -> int:
        return len(self.times_s)


@dataclass(frozen=True)
class Prior:
    """The prior stage: a 3D pose per frame learned from real motion."""

    name: str  # "lift" or "neurik"
    world_m: np.ndarray  # (T, 33, 3) MediaPipe world landmarks in BSM axes, metres
    confidence: np.ndarray  # (T, 33) keypoint confidence, 0 where no person was found
    neurik: Any  # core.neurik.runtime result: q_rad (T, 46) (the lifter's with "lift"), scales
    network: Any  # the NeurIK network (its provenance)
    lifted: Any = None  # core.lift.runtime.LiftResult with the "lift" prior


@dataclass(frozen=True)
class Surfaced:
    """The surface stage: the subject's body and its pose in the level-camera frame."""

    surface: Any  # core.hmr result (subject, q_rad, root_m, keypoint bodies, notes, provenance)
    q_rad: np.ndarray  # (T, 46) with root angles unwrapped
    root_m: np.ndarray  # (T, 3) metres, level-camera frame
    keypoints_rel_m: np.ndarray  # (T, 33, 3) the body's BlazePose points, pelvis at the origin

    @property
    def subject(self):
        return self.surface.subject


@dataclass(frozen=True)
class Refined:
    """The refine stage: the whole-sequence 2D-informed optimisation, level-camera frame."""

    inputs: Any  # core.refine.RefineInputs
    config: Any  # core.refine.RefineConfig
    result: Any  # core.refine.RefineResult


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
