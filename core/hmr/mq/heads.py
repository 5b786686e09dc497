"""Output heads on the decoder's final query states: pose (one query per body), Anny shape (one
query per phenotype parameter) and camera (one query). Raw outputs are decoded by pure functions
(``pose.pose_from_raw``, ``camera``), which parameter refinement reuses."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from torch import Tensor, nn

from core import skeleton as sk
from core.hmr.mq.camera import camera_from_raw, translation_from_camera
from core.hmr.mq.pose import RAW_PER_BODY, pose_from_raw, pose_raw_from_q

__all__ = ["HeadOutput", "RawOutput", "Heads", "decode_raw", "UPRIGHT_FACING_CAMERA"]

# Pelvis axes (X anterior, Y up, Z right) written in the camera frame (x right, y down, z
# forward) for a person standing upright and facing the camera: the untrained head's start.
UPRIGHT_FACING_CAMERA = ((0.0, 0.0, -1.0), (0.0, -1.0, 0.0), (-1.0, 0.0, 0.0))  # rows


@dataclass
class RawOutput:
    pose: Tensor  # (B, 24, 6) per-body raw values (see core.hmr.mq.pose)
    shape_logit: Tensor  # (B, S)
    camera: Tensor  # (B, 3) unbounded


@dataclass
class HeadOutput:
    q_rad: Tensor  # (B, 46) radians within the limits; pelvis angles w.r.t. the camera frame
    R_cam_pelvis: Tensor  # (B, 3, 3) pelvis orientation in the camera frame (OpenCV axes)
    rot6d: Tensor  # (B, n, 3, 3) pelvis + 3-DOF joint rotations before decomposition
    cs_unit: Tensor  # (B, n_cs, 2) hinge (cos, sin) before projection
    shape: Tensor  # (B, S) Anny phenotype values in 0..1
    camera: Tensor  # (B, 3) log_s, u, v (core.hmr.mq.camera)
    t_cam_m: Tensor  # (B, 3) pelvis origin in the camera frame, metres
    raw: RawOutput


def decode_raw(
    raw: RawOutput, k: Tensor, size: int, convention: int = sk.SKELETON_CONVENTION
) -> HeadOutput:
    """Raw head values -> typed outputs; K (B, 3, 3) in pixels of the S x S network input.

    ``convention``: the skeleton convention the weights were trained in; angles of DOFs whose
    sign changed since then are negated (their limits are symmetric), so the output is always in
    the current convention (``core.skeleton.to_current_convention``)."""
    pose = pose_from_raw(raw.pose)
    cam = camera_from_raw(raw.camera)
    q = pose.q_rad
    if convention != sk.SKELETON_CONVENTION:
        sign = torch.as_tensor(
            sk.to_current_convention(np.ones(sk.N_DOFS), convention), dtype=q.dtype
        ).to(q.device)
        q = q * sign
    return HeadOutput(
        q_rad=q,
        R_cam_pelvis=pose.rot6d[:, 0],
        rot6d=pose.rot6d,
        cs_unit=pose.cs_unit,
        shape=torch.sigmoid(raw.shape_logit),
        camera=cam,
        t_cam_m=translation_from_camera(cam, k, size),
        raw=raw,
    )


class _GroupLinear(nn.Module):
    """One linear map per query: (B, G, d) -> (B, G, k)."""

    def __init__(self, groups: int, d: int, k: int, gain: float) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.randn(groups, d, k) * (gain / d**0.5))
        self.bias = nn.Parameter(torch.zeros(groups, k))

    def forward(self, x: Tensor) -> Tensor:
        return torch.einsum("bgd,gdk->bgk", x, self.weight) + self.bias


class Heads(nn.Module):
    def __init__(self, d: int, n_shape: int, gain: float = 0.1) -> None:
        super().__init__()
        self.n_shape = n_shape
        self.pose = _GroupLinear(sk.N_BODIES, d, RAW_PER_BODY, gain)
        self.shape = _GroupLinear(n_shape, d, 1, gain)
        self.camera = nn.Linear(d, 3)
        with torch.no_grad():  # start at the neutral pose, upright and facing the camera
            self.pose.bias.copy_(pose_raw_from_q(torch.zeros(1, sk.N_DOFS))[0])
            r = torch.tensor(UPRIGHT_FACING_CAMERA)
            self.pose.bias[sk.BODY["pelvis"]] = torch.cat([r[:, 0], r[:, 1]])
            self.camera.weight.mul_(gain)
            self.camera.bias.zero_()

    def forward(self, h: Tensor) -> RawOutput:
        """h (B, Q, d): pose queries, then shape queries, then the camera query."""
        nb = sk.N_BODIES
        return RawOutput(
            pose=self.pose(h[:, :nb]),
            shape_logit=self.shape(h[:, nb : nb + self.n_shape])[..., 0],
            camera=self.camera(h[:, nb + self.n_shape]),
        )
