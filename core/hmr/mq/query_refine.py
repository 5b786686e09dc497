"""Test-time refinement of MQ-HMR against 2D keypoints (as BioPose does).

``mode="query"`` optimises the decoder's per-frame query tokens: the backbone features stay
fixed and every step re-runs the decoder and heads, so the result is still a network output
(pose inside the limits by construction, shape and camera from their heads) that agrees better
with the 2D evidence. ``mode="params"`` is the fallback: it optimises the heads' raw outputs
(pose, shape, camera) directly, through the same bounded maps, so limits hold as well.

Objective per frame: confidence-weighted Huber loss of the reprojection error of the keypoints
(points fixed in BSM-46 bodies, e.g. BlazePose's from ``core.neurik.markersets``), in units of
the crop size, plus a prior keeping the variables near their start (relative squared distance).
The iterate with the lowest objective is returned, so refinement never ends worse than it began.
2D keypoints alone say little about the Anny shape (body geometry comes from ``offsets_m``):
shape changes only through the queries' shared decoder state.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor

from core import kinematics as K
from core import skeleton as sk
from core.hmr.mq.heads import HeadOutput, RawOutput, decode_raw
from core.hmr.mq.inference import MQPrediction, prediction_from_output
from core.hmr.mq.network import MQHMR, MQHMROutput
from core.hmr.mq.preprocess import (
    N_KEYPOINTS,
    preprocess_crops,
    preprocess_keypoints,
    scale_points,
)

__all__ = ["RefineSettings", "refine_queries", "reprojection_loss", "project_points"]

log = logging.getLogger(__name__)


@dataclass
class RefineSettings:
    lr_query: float = 0.1  # Adam step on the query tokens (unit-scale embeddings)
    lr_params: float = 0.05  # Adam step on the raw head outputs
    prior_weight: float = 0.05  # times the relative squared distance from the start
    huber_delta: float = 0.01  # in crop sizes (~2 px on a 192 px crop)
    min_depth_m: float = 0.05  # points nearer the camera are projected at this depth


def project_points(p_cam: Tensor, k: Tensor, min_depth_m: float = 0.05) -> Tensor:
    """(B, M, 3) camera-frame points, K (B, 3, 3) -> (B, M, 2) pixels."""
    z = p_cam[..., 2].clamp_min(min_depth_m)
    x = k[:, None, 0, 0] * p_cam[..., 0] / z + k[:, None, 0, 2]
    y = k[:, None, 1, 1] * p_cam[..., 1] / z + k[:, None, 1, 2]
    return torch.stack([x, y], -1)


def reprojection_loss(
    out: HeadOutput,
    k: Tensor,
    size: int,
    target_px: Tensor,
    conf: Tensor,
    kp_bodies: Tensor,
    kp_local_m: Tensor,
    offsets_m: Tensor,
    settings: RefineSettings,
) -> Tensor:
    """(B,) confidence-weighted Huber reprojection loss of each frame, in crop sizes."""
    fk = K.forward_kinematics(out.q_rad, out.t_cam_m, offsets_m)
    proj = project_points(K.body_points(fk, kp_bodies, kp_local_m), k, settings.min_depth_m)
    err = ((proj - target_px) / size).norm(dim=-1)
    rho = F.huber_loss(err, torch.zeros_like(err), reduction="none", delta=settings.huber_delta)
    return (conf * rho).sum(-1) / conf.sum(-1).clamp_min(1e-6)


def _as_batch(x: np.ndarray, b: int, tail: tuple[int, ...], what: str) -> Tensor:
    a = np.asarray(x, dtype=np.float64)
    if a.shape == tail:
        a = np.broadcast_to(a, (b, *tail))
    if a.shape != (b, *tail):
        raise ValueError(f"expected {what} of shape {tail} or {(b, *tail)}, got {a.shape}")
    if not np.isfinite(a).all():
        raise ValueError(f"{what} has NaN/inf values")
    return torch.from_numpy(np.ascontiguousarray(a, dtype=np.float32))


def refine_queries(
    model: MQHMR,
    crops: np.ndarray,
    k_crop: np.ndarray,
    keypoints_2d_px: np.ndarray,
    conf: np.ndarray,
    kp_bodies: np.ndarray,
    kp_local_m: np.ndarray,
    offsets_m: np.ndarray,
    steps: int = 10,
    mode: str = "query",
    *,
    settings: RefineSettings | None = None,
    progress: Callable[[int, float], None] | None = None,
) -> MQPrediction:
    """Refine the prediction for crops (B, H, W, 3) uint8 with intrinsics K (B, 3, 3) against
    keypoints (B, M, 2) in pixels of those crops with confidences (B, M) (0 = ignore).
    Keypoint m is the point ``kp_local_m[m]`` (M, 3) or (B, M, 3) fixed in body
    ``kp_bodies[m]``; ``offsets_m`` (24, 3) or (B, 24, 3) is the subject's skeleton.
    ``progress(step, mean_loss)`` is called after every step. When M is 33 (BlazePose order),
    the keypoints also condition the network's queries (``cfg.keypoint_queries``) throughout."""
    if mode not in ("query", "params"):
        raise ValueError(f"mode must be 'query' or 'params', got {mode!r}")
    if steps < 0:
        raise ValueError(f"steps must be >= 0, got {steps}")
    st = settings or RefineSettings()
    cfg = model.cfg
    images, k_in = preprocess_crops(crops, k_crop, cfg)
    b = images.shape[0]
    h, w = np.asarray(crops).shape[-3:-1]
    kp = np.asarray(keypoints_2d_px, dtype=np.float64)
    if kp.ndim != 3 or kp.shape[0] != b or kp.shape[2] != 2:
        raise ValueError(f"expected keypoints_2d_px of shape ({b}, M, 2), got {kp.shape}")
    m = kp.shape[1]
    c = np.asarray(conf, dtype=np.float64)
    if c.shape != (b, m):
        raise ValueError(f"expected conf of shape ({b}, {m}), got {c.shape}")
    c = np.where(np.isfinite(c) & np.isfinite(kp).all(-1), np.clip(c, 0.0, 1.0), 0.0)
    if not (c > 0).any(1).all():
        raise ValueError("every frame needs at least one keypoint with confidence > 0")
    bodies = np.asarray(kp_bodies)
    if bodies.shape != (m,) or bodies.min() < 0 or bodies.max() >= sk.N_BODIES:
        raise ValueError(f"expected kp_bodies of shape ({m},) with values 0..{sk.N_BODIES - 1}")
    s = cfg.input_size
    dev = next(model.parameters()).device
    target = torch.from_numpy(scale_points(np.nan_to_num(kp), s / w, s / h).astype(np.float32)).to(
        dev
    )
    args = dict(
        k=torch.from_numpy(k_in).to(dev),
        size=s,
        target_px=target,
        conf=torch.from_numpy(c.astype(np.float32)).to(dev),
        kp_bodies=torch.as_tensor(bodies, dtype=torch.long, device=dev),
        kp_local_m=_as_batch(kp_local_m, b, (m, 3), "kp_local_m").to(dev),
        offsets_m=_as_batch(offsets_m, b, (sk.N_BODIES, 3), "offsets_m").to(dev),
        settings=st,
    )
    kp_net = None
    if m == N_KEYPOINTS:
        kp_net = torch.from_numpy(preprocess_keypoints(kp, c, b, (h, w), cfg)).to(dev)
    model = model.eval()
    with torch.no_grad():
        enc = model.encode(torch.from_numpy(images).to(dev))
        q0 = model.initial_queries(enc, kp_net)
        start = model.decode(enc, args["k"], q0, kp_net)

    if mode == "query":
        x0: list[Tensor] = [q0]
        lr = st.lr_query

        def run(xs: list[Tensor]) -> HeadOutput:
            return model.decode(enc, args["k"], xs[0], kp_net)
    else:
        raw = start.raw
        x0 = [raw.pose, raw.shape_logit, raw.camera]
        lr = st.lr_params

        def run(xs: list[Tensor]) -> HeadOutput:
            return decode_raw(RawOutput(*xs), args["k"], s, model.cfg.skeleton_convention)

    xs = [x.detach().clone().requires_grad_(True) for x in x0]
    opt = torch.optim.Adam(xs, lr=lr)
    scale = [x.detach().pow(2).mean(tuple(range(1, x.dim()))).clamp_min(1e-6) for x in x0]

    def objective(o: HeadOutput) -> tuple[Tensor, Tensor]:
        data = reprojection_loss(o, **args)
        prior = sum(
            (x - x_0).pow(2).mean(tuple(range(1, x.dim()))) / sc
            for x, x_0, sc in zip(xs, x0, scale, strict=True)
        )
        return data, data + st.prior_weight * prior

    best_x = [x.detach().clone() for x in xs]
    best = torch.full((b,), float("inf"), device=dev)
    for step in range(steps + 1):
        out = run(xs)
        data, total = objective(out)
        with torch.no_grad():
            better = total < best
            best = torch.where(better, total, best)
            for bx, x in zip(best_x, xs, strict=True):
                bx[better] = x.detach()[better]
        if step == steps:
            break
        grads = torch.autograd.grad(total.sum(), xs)
        for x, g in zip(xs, grads, strict=True):
            x.grad = torch.nan_to_num(g)
        opt.step()
        if progress is not None:
            progress(step, float(data.mean()))
    with torch.no_grad():
        if mode == "query":
            final = model.decode(enc, args["k"], best_x[0], kp_net)
        else:
            o = run(best_x)
            final = MQHMROutput(**vars(o), queries=q0, reference=start.reference)
    return prediction_from_output(final, cfg.shape_labels)
