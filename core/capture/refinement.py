"""Refine stage: the whole-sequence 2D-informed optimisation (core.refine) in the level-camera
frame, from the surface stage's pose and the prior's pelvis-relative 3D keypoints."""

from __future__ import annotations

from core.capture.options import CaptureOptions
from core.capture.results import Detected, Prior, Refined, Surfaced

__all__ = ["refine_stage"]


def refine_stage(
    d: Detected, p: Prior, s: Surfaced, opts: CaptureOptions, device: str, progress
) -> Refined:
    from core.neurik.markersets import blazepose33
    from core.refine import Phase, RefineConfig, RefineInputs, refine

    ms = blazepose33()
    world, rel = p.world_m, s.keypoints_rel_m
    hip_mid = 0.5 * (world[:, ms.names.index("left_hip")] + world[:, ms.names.index("right_hip")])
    pelvis_in_hips = rel[:, [ms.names.index("left_hip"), ms.names.index("right_hip")]].mean(1)
    k3d_rel = world - hip_mid[:, None] + pelvis_in_hips[:, None]  # pelvis-relative, world axes
    foot = tuple(
        ms.names.index(k)
        for k in ("left_heel", "right_heel", "left_foot_index", "right_foot_index")
    )
    inp = RefineInputs(
        d.detections.keypoints_2d_px,
        p.confidence,
        d.camera,
        s.subject.offsets_m,
        s.surface.keypoint_bodies,
        s.surface.keypoint_local_m,
        s.q_rad,
        s.root_m,
        d.fps,
        foot_keypoints=foot,
        keypoints_3d_rel_m=k3d_rel,
    )
    cfg = RefineConfig()
    if p.lifted is None:
        # NeurIK's angles come from the same world landmarks as the 3D target: the weights from
        # before the lifter's refinement weakened that target (core.refine.RefineConfig.w_3d).
        cfg.w_prior_q, cfg.w_3d, cfg.sigma_px = 4.0, 10.0, 0.02
    # NeurIK's angles jitter (~40 m/s^2): no smooth correction of them
    if p.name == "neurik" or not opts.smooth_correction:
        cfg.w_smooth_dq, cfg.offset_param = 0.0, False
    if not opts.smooth_correction:
        # Per-frame labels (core.hmr.pseudo) must fit their own image: the weights from before the
        # calibrated lifter (prior pull 0.2, 3D pull 20). With the video's 1.0 / 5 the labels were
        # 16.3 px (90th percentile) from MediaPipe on their crops (tests/test_hmr_pseudo.py: < 15).
        cfg.w_prior_q, cfg.w_3d, cfg.sigma_px = 0.2, 20.0, 0.02
    if d.n_frames == 1:
        # A still image has no temporal evidence: trust the 2D keypoints more. COCO PCK@0.05 of
        # the reprojected joints: 0.614 with the video weights; with these, the corrected hip and
        # ankle landmarks and the wide-then-narrow robust loss 0.711, equal to MediaPipe's own 2D.
        cfg.w_prior_q, cfg.w_3d, cfg.sigma_px = 0.2, 2.0, 0.02
        cfg.phases = [
            Phase("global", 150, 0.03, False, sigma_scale=5.0),
            Phase("coarse", 200, 0.01, True, sigma_scale=5.0),
            Phase("all", 600, 0.01, True),
        ]
    res = refine(inp, cfg, device=device, progress=progress.stage("refine"))
    return Refined(inp, cfg, res)
