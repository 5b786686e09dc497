"""The MQ-HMR surface method: the network trained by this project (:mod:`core.hmr.mq`) on crops
around the tracked person, one Anny shape for the clip (the per-parameter median of the frames'
predictions, or fitted to the user's height), and test-time refinement of the decoder's query
tokens (or of the output parameters) against the 2D keypoints of each frame.

Frames where the person was not found take the pose of the nearest frame that has one, and a
linearly interpolated root; the whole-sequence refinement (:mod:`core.refine`) follows.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path

import numpy as np

from core.hmr import SurfaceEstimate, SurfaceInputs

__all__ = ["mq_surface", "crops_for_detections"]

log = logging.getLogger(__name__)

REFINE_MODES = ("query", "params", "none")


def crops_for_detections(
    video: Path, detections, k_full: np.ndarray, size: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Crops (N, size, size, 3) uint8 around the tracked person in every frame where they were
    found, their intrinsics (N, 3, 3), the keypoints in crop pixels (N, 33, 2), and the frames'
    indices into ``detections`` (N,)."""
    from core.hmr.mq import crop_from_keypoints, frame_to_crop
    from core.video import iter_frames

    det = detections
    found = np.asarray(det.person_found, bool)
    wanted = {int(det.frame_indices[k]): k for k in np.flatnonzero(found)}
    times = np.asarray(det.times_s)[found]
    crops, ks, kps, rows = [], [], [], []
    eps = 1e-3
    for frame in iter_frames(
        video, start_s=float(times.min()) - eps, end_s=float(times.max()) + eps
    ):
        k = wanted.get(frame.index)
        if k is None:
            continue
        kp, c = det.keypoints_2d_px[k], det.confidence[k]
        crop = crop_from_keypoints(frame.rgb, kp, c, k_full, size)
        crops.append(crop.image)
        ks.append(crop.K)
        kps.append(frame_to_crop(kp, crop.K, k_full))
        rows.append(k)
    if not rows:
        raise ValueError(f"{video}: no frame with the tracked person could be read for MQ-HMR")
    return np.stack(crops), np.stack(ks), np.stack(kps), np.asarray(rows)


def _fill_missing(values: np.ndarray, have: np.ndarray, nearest: bool) -> np.ndarray:
    """(T, ...) values known where ``have``: the rest from the nearest known frame or linear."""
    t = np.arange(len(values))
    known = np.flatnonzero(have)
    out = values.copy()
    if nearest:
        idx = known[np.abs(t[:, None] - known[None]).argmin(1)]
        out[~have] = values[idx[~have]]
        return out
    flat = out.reshape(len(out), -1)
    for j in range(flat.shape[1]):
        flat[~have, j] = np.interp(t[~have], known, flat[known, j])
    return flat.reshape(values.shape)


def mq_surface(
    inputs: SurfaceInputs,
    progress: Callable[[float, str], None] | None = None,
    *,
    refine: str = "query",
    checkpoint: str | Path = "small",
    model=None,
    steps: int = 10,
    batch: int = 16,
) -> SurfaceEstimate:
    """``model``: the network of ``checkpoint`` when the caller has loaded it already."""
    from core.body import build_subject
    from core.hmr.mq import load_mq_hmr, pelvis_angles_in_world, predict, refine_queries
    from core.neurik.markersets import blazepose33

    if refine not in REFINE_MODES:
        raise ValueError(f"unknown MQ-HMR refinement {refine!r}; use one of {REFINE_MODES}")
    progress = progress or (lambda f, m="": None)
    if model is None:
        model = load_mq_hmr(checkpoint, device=inputs.device)
    cam = inputs.camera
    det = inputs.detections
    k_full = cam.intrinsics
    progress(0.0, "MQ-HMR: cropping the person")
    crops, ks, kps, rows = crops_for_detections(inputs.video, det, k_full, model.cfg.input_size)
    n = len(rows)
    progress(0.1, f"MQ-HMR: {n} crops")
    conf = det.confidence[rows]
    pred = predict(model, crops, ks, kps, conf, batch=batch)  # 2D-informed queries

    # One body for the clip: the per-parameter median of the frames' phenotypes.
    shape = dict(zip(pred.shape_labels, np.median(pred.shape, axis=0).tolist(), strict=True))
    if inputs.height_m is not None:
        shape.pop("height", None)  # let build_subject fit the stature the user gave
    if inputs.mass_kg is not None:
        shape.pop("weight", None)
    subject = build_subject(shape, height_m=inputs.height_m, mass_kg=inputs.mass_kg)
    kp_bodies, kp_local = blazepose33().define(subject)
    progress(0.3, f"MQ-HMR: subject {subject.height_m:.2f} m")

    if refine != "none" and steps > 0:
        parts = []
        for i in range(0, n, batch):
            sl = slice(i, i + batch)
            parts.append(
                refine_queries(
                    model,
                    crops[sl],
                    ks[sl],
                    kps[sl],
                    conf[sl],
                    kp_bodies,
                    kp_local,
                    subject.offsets_m,
                    steps=steps,
                    mode=refine,
                )  # fmt: skip
            )
            progress(0.3 + 0.7 * min(1.0, (i + batch) / n), f"MQ-HMR {refine} refinement")
        q_cam = np.concatenate([p.q_rad for p in parts])
        t_cam = np.concatenate([p.t_cam_m for p in parts])
    else:
        q_cam, t_cam = pred.q_rad, pred.t_cam_m

    t = det.n_frames
    have = np.zeros(t, bool)
    have[rows] = True
    q = np.zeros((t, q_cam.shape[1]))
    root = np.zeros((t, 3))
    q[rows] = pelvis_angles_in_world(q_cam, cam.rotation)
    root[rows] = (t_cam - cam.translation_m) @ cam.rotation  # camera -> world
    q = _fill_missing(q, have, nearest=True)
    root = _fill_missing(root, have, nearest=False)
    progress(1.0, f"MQ-HMR done, {n} frames")
    training = model.cfg.training or {}
    what = ", ".join(
        f"{k} {training[k]}"
        for k in ("steps", "minutes", "best_val_mpjpe_mm", "train_samples")
        if training.get(k) is not None
    )
    refined = f"{refine} refinement, {steps} steps" if refine != "none" else "no refinement"
    return SurfaceEstimate(
        subject=subject,
        q_rad=q,
        root_m=root,
        method="mq",
        provenance=f"MQ-HMR {model.cfg.name} checkpoint {checkpoint} ({what}); {refined}",
        keypoint_bodies=kp_bodies,
        keypoint_local_m=kp_local,
        notes=[f"subject shape from MQ-HMR (median over {n} frames): {subject.height_m:.2f} m"],
    )
