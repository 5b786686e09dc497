"""Prior stage: a 3D pose per frame learned from real motion. NeurIK (MediaPipe world
landmarks -> BSM-46 angles and segment scales) always runs: its scales give the stature; with
the "lift" prior (default) the angles come from the lifter (core.lift, 2D keypoints)."""

from __future__ import annotations

from dataclasses import replace

import numpy as np

from core.capture.results import Detected, Prior

__all__ = ["prior_stage"]


def prior_stage(d: Detected, prior: str, device: str, progress) -> Prior:
    from core.neurik.markersets import mediapipe_world_to_bsm
    from core.neurik.runtime import load_neurik, run_neurik

    det = d.detections
    progress("neurik", 0.0, "MediaPipe world landmarks -> BSM-46")
    world = mediapipe_world_to_bsm(det.keypoints_3d_m)
    conf = np.where(d.found[:, None], det.confidence, 0.0)
    net = load_neurik("blazepose33")
    nk = run_neurik(world, conf, model=net, device=device)
    lifted = None
    if prior == "lift":  # angles from the lifter; NeurIK's segment scales still give the stature
        from core.lift.runtime import lift_detections

        lifted = lift_detections(det, d.fps)
        nk = replace(nk, q_rad=lifted.q_rad)
    progress("neurik", 1.0, "done")
    return Prior(prior, world, conf, nk, net, lifted)
