"""Training losses of MQ-HMR and the validation metric.

Pose: rotation-matrix distance for the 6D-predicted rotations (pelvis in the camera frame,
3-DOF joints locally), unit-vector distance for hinge (cos, sin), L1 on every limited angle of
the final (projected) q; 3D body origins by FK with the sample's own skeleton (pelvis-relative);
2D reprojection of the 24 body origins and the 33 BlazePose points (smooth L1 in crop units,
invisible keypoints down-weighted); Anny shape L1; camera (log s, u, v) L1. Every term is a
weighted mean over the batch with the samples' ``Batch.weight`` (all 1 for synthetic data, so
then the plain mean).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

from core import kinematics as K
from core import skeleton as sk
from core.hmr.mq.camera import camera_from_translation
from core.hmr.mq.data import Batch
from core.hmr.mq.network import MQHMROutput
from core.hmr.mq.pose import BOUNDED_DOFS, CS_DOFS, ROT6D_BODIES, local_rotations
from core.hmr.mq.query_refine import project_points

__all__ = ["WEIGHTS", "loss_terms", "total_loss", "mpjpe_mm"]

WEIGHTS: dict[str, float] = {
    "rot": 1.0,
    "hinge": 1.0,
    "q": 1.0,
    "joints3d_m": 5.0,
    "joints2d": 5.0,
    "kp2d": 5.0,
    "shape": 1.0,
    "camera": 1.0,
}
_ROOT = [sk.DOF["pelvis_tilt"], sk.DOF["pelvis_list"], sk.DOF["pelvis_rotation"]]
_LIMITED = [i for i in range(sk.N_DOFS) if i not in _ROOT]
_BETA = 0.01  # smooth-L1 knee in crop units (~2 px on a 192 px crop)
_INVISIBLE_WEIGHT = 0.2


def _wrap(a: Tensor) -> Tensor:
    return torch.atan2(torch.sin(a), torch.cos(a))


def _wmean(per_sample: Tensor, w: Tensor) -> Tensor:
    """Weighted mean of per-sample values (B, ...) (each sample's own mean first)."""
    x = per_sample.reshape(per_sample.shape[0], -1).mean(1)
    return (w * x).sum() / w.sum().clamp_min(1e-12)


def loss_terms(out: MQHMROutput, batch: Batch, size: int) -> dict[str, Tensor]:
    q_gt = batch.q_cam.to(out.q_rad.dtype)
    sw = batch.weight.to(out.q_rad.dtype)  # (B,) per-sample weight
    loc = local_rotations(q_gt)
    rot_gt = loc[:, list(ROT6D_BODIES)]  # the pelvis' "local" rotation is its camera-frame one
    rot = _wmean((out.rot6d - rot_gt).square().sum((-1, -2)), sw)
    cs_dofs = [c[0] for c in CS_DOFS]
    cs_gt = torch.stack([torch.cos(q_gt[:, cs_dofs]), torch.sin(q_gt[:, cs_dofs])], -1)
    hinge = _wmean((out.cs_unit - cs_gt).square().sum(-1), sw)
    q_l1 = _wmean(_wrap(out.q_rad[:, _LIMITED] - q_gt[:, _LIMITED]).abs(), sw)
    off = batch.offsets_m
    zero = torch.zeros_like(out.t_cam_m)
    fk_rel = K.forward_kinematics(out.q_rad, zero, off)
    gt_rel = batch.joints_cam_m - batch.joints_cam_m[:, :1]
    joints3d = _wmean((fk_rel.origins - gt_rel).norm(dim=-1), sw)
    # Reprojection: the same pose placed at the predicted translation.
    j_cam = fk_rel.origins + out.t_cam_m[:, None]
    fk_cam = K.FKResult(fk_rel.rotations, j_cam)
    j2d = project_points(j_cam, batch.K)
    joints2d = _wmean(
        F.smooth_l1_loss(j2d / size, batch.joints_2d_px / size, beta=_BETA, reduction="none"), sw
    )
    kp = project_points(K.body_points(fk_cam, batch.kp_bodies, batch.kp_local_m), batch.K)
    w = torch.where(batch.keypoints_vis, 1.0, _INVISIBLE_WEIGHT).to(kp.dtype) * sw[:, None]
    per = F.smooth_l1_loss(
        kp / size, batch.keypoints_2d_px / size, beta=_BETA, reduction="none"
    ).sum(-1)
    kp2d = (w * per).sum() / w.sum().clamp_min(1e-12)
    shape = _wmean((out.shape - batch.shape).abs(), sw)
    cam_gt = camera_from_translation(batch.t_cam_m, batch.K, size)
    camera = _wmean((out.camera - cam_gt).abs(), sw)
    terms = {
        "rot": rot,
        "hinge": hinge,
        "q": q_l1,
        "joints3d_m": joints3d,
        "joints2d": joints2d,
        "kp2d": kp2d,
        "shape": shape,
        "camera": camera,
    }
    if BOUNDED_DOFS:  # scapula: also part of "q"; listed for monitoring
        b = [c[0] for c in BOUNDED_DOFS]
        terms["scapula_rad"] = (out.q_rad[:, b] - q_gt[:, b]).abs().mean().detach()
    return terms


def total_loss(terms: dict[str, Tensor]) -> Tensor:
    return sum(WEIGHTS[k] * v for k, v in terms.items() if k in WEIGHTS)


@torch.no_grad()
def mpjpe_mm(out: MQHMROutput, batch: Batch) -> Tensor:
    """(B,) mean per-joint position error of the 24 body origins, pelvis-aligned, millimetres."""
    fk = K.forward_kinematics(
        out.q_rad.double(), torch.zeros_like(out.t_cam_m).double(), batch.offsets_m.double()
    )
    gt = (batch.joints_cam_m - batch.joints_cam_m[:, :1]).double()
    return 1000.0 * (fk.origins - gt).norm(dim=-1).mean(-1)
