"""The body-surface stage: per frame, the Anny surface (one body shape per subject, a pose) and
its place in front of the camera.

Two methods fill the same result, :class:`SurfaceEstimate`:

* ``"fit"`` (:mod:`core.hmr.fit`): the Anny body fitted by optimisation to the keypoints: height
  from NeurIK's segment scales (or the user), a subject built from it, NeurIK's pose, and the
  pelvis placed in the camera frame by least squares on the 2D keypoints.
* ``"mq"`` (:mod:`core.hmr.mq_stage`): the MQ-HMR network trained by this project
  (:mod:`core.hmr.mq`) on crops around the tracked person, with optional test-time query
  refinement against the 2D keypoints.

The capture pipeline records ``SurfaceEstimate.provenance`` in the output, so every result says
which method produced its surface.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from core.body import Subject
    from core.detect import Detections
    from core.motion import Camera
    from core.neurik.runtime import NeurIKResult

__all__ = ["METHODS", "SurfaceInputs", "SurfaceEstimate", "estimate_surface"]

METHODS = ("fit", "mq")


@dataclass
class SurfaceInputs:
    """What the capture pipeline knows when the surface stage starts."""

    video: Path
    detections: Detections  # tracked BlazePose keypoints, full-image pixels
    camera: Camera  # intrinsics; rotation = the (level) camera's world -> camera rotation
    neurik: NeurIKResult  # NeurIK angles and segment scales from the 3D keypoints
    height_m: float | None = None  # the user's stature, if given
    mass_kg: float | None = None
    device: str = "cpu"


@dataclass
class SurfaceEstimate:
    subject: Subject  # one Anny body for the whole clip (shape, skeleton offsets, markers)
    q_rad: np.ndarray  # (T, 46) joint angles within the limits, pelvis angles w.r.t. the world
    root_m: np.ndarray  # (T, 3) pelvis origin in the world frame, metres
    method: str  # "fit" or "mq"
    provenance: str  # one line: what produced this surface (checkpoint, refinement...)
    keypoint_bodies: np.ndarray  # (33,) BlazePose points' bodies on this subject
    keypoint_local_m: np.ndarray  # (33, 3) and their body-local positions
    notes: list[str] = field(default_factory=list)

    @property
    def n_frames(self) -> int:
        return int(self.q_rad.shape[0])


def estimate_surface(
    method: str,
    inputs: SurfaceInputs,
    progress: Callable[[float, str], None] | None = None,
    **options,
) -> SurfaceEstimate:
    """Run the surface stage ``method`` ("fit" or "mq"); ``options`` go to that method."""
    if method == "fit":
        from core.hmr.fit import fit_surface

        return fit_surface(inputs, progress=progress, **options)
    if method == "mq":
        from core.hmr.mq_stage import mq_surface

        return mq_surface(inputs, progress=progress, **options)
    raise ValueError(f"unknown surface method {method!r}; use one of {', '.join(METHODS)}")
