"""Per-frame MQ-HMR prediction from uint8 crops, as a typed numpy result.

Pelvis convention of ``q_rad``: the pelvis angles are taken with the **camera frame as the
ground frame** (OpenCV axes: x right, y down, z forward), so
``core.kinematics.forward_kinematics(q_rad, t_cam_m, offsets_m)`` gives the body origins directly
in camera coordinates. For a world (OpenSim: X forward, Y up, Z right) pelvis use
:func:`pelvis_angles_in_world` with the camera's rotation ``R_cam_world``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from core import skeleton as sk
from core.hmr.mq.network import MQHMR, MQHMROutput
from core.hmr.mq.pose import reframe_pelvis
from core.hmr.mq.preprocess import preprocess_crops, preprocess_keypoints

__all__ = ["MQPrediction", "predict", "prediction_from_output", "pelvis_angles_in_world"]


@dataclass
class MQPrediction:
    q_rad: np.ndarray  # (B, 46) within the limits; pelvis angles w.r.t. the camera frame
    R_cam_pelvis: np.ndarray  # (B, 3, 3) pelvis orientation in the camera frame
    shape: np.ndarray  # (B, S) Anny phenotype values in 0..1, order: shape_labels
    t_cam_m: np.ndarray  # (B, 3) pelvis origin in the camera frame, metres
    queries: np.ndarray  # (B, Q, d) float32 decoder queries that produced this prediction
    shape_labels: tuple[str, ...]

    def shape_dict(self, i: int) -> dict[str, float]:
        """Frame i's phenotype as {label: value} (what core.body.build_subject takes)."""
        return {k: float(v) for k, v in zip(self.shape_labels, self.shape[i], strict=True)}


def prediction_from_output(out: MQHMROutput, shape_labels: tuple[str, ...]) -> MQPrediction:
    def n(t: torch.Tensor) -> np.ndarray:
        return t.detach().double().cpu().numpy()

    return MQPrediction(
        q_rad=n(out.q_rad),
        R_cam_pelvis=n(out.R_cam_pelvis),
        shape=n(out.shape),
        t_cam_m=n(out.t_cam_m),
        queries=out.queries.detach().float().cpu().numpy(),
        shape_labels=tuple(shape_labels),
    )


def _device(model: MQHMR) -> torch.device:
    return next(model.parameters()).device


@torch.no_grad()
def predict(
    model: MQHMR,
    crops_uint8: np.ndarray,
    k_crop: np.ndarray,
    keypoints_px: np.ndarray | None = None,
    conf: np.ndarray | None = None,
    *,
    batch: int = 32,
) -> MQPrediction:
    """crops (B, H, W, 3) uint8 RGB (any square-ish size: resized to the model's input) and
    their intrinsics K (B, 3, 3) (or one (3, 3)) in pixels of those crops; optionally the
    detector's 33 BlazePose keypoints (B, 33, 2) in pixels of those crops and their confidences
    (B, 33), which condition the queries of a ``keypoint_queries`` network (ignored otherwise)."""
    images, k_in = preprocess_crops(crops_uint8, k_crop, model.cfg)
    kp_in = preprocess_keypoints(
        keypoints_px, conf, images.shape[0], np.asarray(crops_uint8).shape[-3:-1], model.cfg
    )
    dev = _device(model)
    outs = []
    for i in range(0, images.shape[0], batch):
        x = torch.from_numpy(images[i : i + batch]).to(dev)
        k = torch.from_numpy(k_in[i : i + batch]).to(dev)
        kp = torch.from_numpy(kp_in[i : i + batch]).to(dev)
        out = model.eval()(x, k, keypoints=kp)
        outs.append(prediction_from_output(out, model.cfg.shape_labels))
    return MQPrediction(
        **{
            f: np.concatenate([getattr(o, f) for o in outs])
            for f in ("q_rad", "R_cam_pelvis", "shape", "t_cam_m", "queries")
        },
        shape_labels=tuple(model.cfg.shape_labels),
    )


def pelvis_angles_in_world(q_rad: np.ndarray, r_cam_world: np.ndarray) -> np.ndarray:
    """q (B, 46) with camera-frame pelvis angles -> the same q with the pelvis angles w.r.t. the
    world: R_world_pelvis = R_cam_world^T @ R_cam_pelvis (R_cam_world (B, 3, 3) or (3, 3))."""
    q = np.asarray(q_rad, dtype=np.float64)
    if q.ndim != 2 or q.shape[1] != sk.N_DOFS:
        raise ValueError(f"expected q of shape (B, {sk.N_DOFS}) radians, got {q.shape}")
    r = torch.as_tensor(np.asarray(r_cam_world, dtype=np.float64)).transpose(-1, -2)
    return reframe_pelvis(torch.from_numpy(q), r).numpy()
