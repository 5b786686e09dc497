"""Detections on a uniform time grid (variable-rate or damaged streams)."""

from __future__ import annotations

import numpy as np

__all__ = ["on_uniform_grid"]


def on_uniform_grid(det, fps: float):
    """Detections on the uniform grid ``t0 + k / fps`` from the first to the last timestamp, in
    time order (a damaged stream can deliver frames out of order): each grid slot takes the frame
    nearest to it; slots without one (dropped or damaged frames, variable-rate gaps) become frames
    with no person, which the refinement fills in. Returns the new detections and the number of
    empty slots."""
    from dataclasses import replace

    times = np.asarray(det.times_s, dtype=np.float64)
    t0 = float(times.min())
    k = np.rint((times - t0) * fps).astype(np.int64)
    n = int(k.max()) + 1
    src = np.full(n, -1)
    err = np.full(n, np.inf)
    for i, (slot, t) in enumerate(zip(k, times, strict=True)):
        d = abs(t - t0 - slot / fps)
        if d < err[slot]:
            src[slot], err[slot] = i, d
    if (src == np.arange(n)).all() and n == len(times):
        return det, 0  # already uniform and in order
    have = src >= 0
    take = np.where(have, src, 0)

    def pick(a: np.ndarray, empty) -> np.ndarray:
        out = np.asarray(a)[take].copy()
        out[~have] = empty
        return out

    grid = replace(
        det,
        times_s=t0 + np.arange(n) / fps,
        frame_indices=pick(det.frame_indices, -1),
        keypoints_2d_px=pick(det.keypoints_2d_px, np.nan),
        confidence=pick(det.confidence, 0.0),
        keypoints_3d_m=pick(det.keypoints_3d_m, np.nan),
        person_found=pick(det.person_found, False),
        bbox_px=pick(det.bbox_px, np.nan),
    )
    return grid, int((~have).sum())
