"""Surface stage: the Anny body and its place in the camera (core.hmr: fitted to the keypoints,
or the MQ-HMR network), then the body's BlazePose points relative to the pelvis."""

from __future__ import annotations

from pathlib import Path

from core.capture.options import CaptureOptions
from core.capture.results import Detected, Prior, Surfaced

__all__ = ["surface_options", "surface_stage"]


def surface_options(opts: CaptureOptions, device: str) -> dict:
    """The surface method's keyword options; MQ-HMR's weights are loaded here, before the long
    stages, so that missing or invalid weights fail first."""
    from core.hmr import METHODS

    if opts.hmr not in METHODS:
        raise ValueError(f"unknown surface method {opts.hmr!r}; use one of {', '.join(METHODS)}")
    if opts.hmr != "mq":
        return {}
    from core.hmr.mq import load_mq_hmr

    return {
        "refine": opts.hmr_refine,
        "checkpoint": opts.hmr_checkpoint,
        "model": load_mq_hmr(opts.hmr_checkpoint, device=device),
    }


def surface_stage(
    video: Path, d: Detected, p: Prior, opts: CaptureOptions, device: str, options: dict,
    progress,
) -> Surfaced:  # fmt: skip
    import torch

    from core import kinematics as K
    from core.hmr import SurfaceInputs, estimate_surface
    from core.world import unwrap_root_angles

    surf = estimate_surface(
        opts.hmr,
        SurfaceInputs(
            video, d.detections, d.camera, p.neurik, opts.height_m, opts.mass_kg, device
        ),
        progress=progress.stage("surface"),
        **options,
    )
    subject = surf.subject
    # Root angles without 360-deg steps from the start: the refinement's wrapped terms would
    # otherwise let a wrap in the estimate grow into a spurious full turn.
    q0, root0 = unwrap_root_angles(surf.q_rad), surf.root_m
    with torch.no_grad():
        fk = K.forward_kinematics(
            torch.as_tensor(q0), torch.zeros(d.n_frames, 3, dtype=torch.float64),
            torch.as_tensor(subject.offsets_m),
        )  # fmt: skip
        rel = K.body_points(
            fk, torch.as_tensor(surf.keypoint_bodies), torch.as_tensor(surf.keypoint_local_m)
        ).numpy()
    return Surfaced(surf, q0, root0, rel)
