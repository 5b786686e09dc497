"""Forward kinematics of BSM-46 batched per tree level, for the refinement's inner loop.

The same maths as :func:`core.kinematics.forward_kinematics` (tests check that they agree to
round-off, values and gradients), arranged for few autograd nodes: each body's joint rotation is
the product of at most three DOF rotations, computed for all 24 bodies at once (two batched
matrix products), and the chain is walked one tree level at a time (8 levels) instead of one body
at a time (24). On the refinement's small tensors (a clip of ~100 frames) the per-operation
overhead, not arithmetic, is the cost: this roughly halves the time of a refinement iteration.
"""

from __future__ import annotations

import functools

import torch
from torch import Tensor

from core import skeleton as sk
from core.kinematics import FKResult, axis_angle_matrix

__all__ = ["forward_kinematics_levels"]


@functools.cache
def _plan() -> tuple[list[list[int]], list[list[int]], list[int]]:
    """DOF index per body and position (N_DOFS = identity), the bodies of each tree level, and
    for each level's body the position of its parent within the level before."""
    parents = sk.parents().tolist()
    dof_body = [sk.BODY[d.body] for d in sk.DOFS]
    body_dofs = [[j for j, b in enumerate(dof_body) if b == i] for i in range(sk.N_BODIES)]
    if max(len(d) for d in body_dofs) > 3:
        raise ValueError("a body with more than 3 DOFs: extend the level FK's product")
    slots = [[d[k] if k < len(d) else sk.N_DOFS for d in body_dofs] for k in range(3)]
    depth = [0] * sk.N_BODIES
    for i, p in enumerate(parents):
        if p >= 0:
            if p >= i:
                raise ValueError("BSM-46 bodies must be listed after their parents")
            depth[i] = depth[p] + 1
    levels = [[i for i in range(sk.N_BODIES) if depth[i] == d] for d in range(max(depth) + 1)]
    return slots, levels, parents


def forward_kinematics_levels(q: Tensor, root_m: Tensor, offsets_m: Tensor) -> FKResult:
    """Body frames of BSM-46: q (..., 46) radians, root_m (..., 3), offsets_m (24, 3) (the same
    contract as :func:`core.kinematics.forward_kinematics` for a shared skeleton)."""
    if q.shape[-1] != sk.N_DOFS or root_m.shape != q.shape[:-1] + (3,):
        raise ValueError(
            f"expected q (..., {sk.N_DOFS}) and root_m (..., 3), got {tuple(q.shape)} and "
            f"{tuple(root_m.shape)}"
        )
    if offsets_m.shape != (sk.N_BODIES, 3):
        raise ValueError(f"expected offsets_m of shape ({sk.N_BODIES}, 3), got {offsets_m.shape}")
    slots, levels, parents = _plan()
    axes = torch.as_tensor(sk.dof_axes(), dtype=q.dtype, device=q.device)
    eye = torch.eye(3, dtype=q.dtype, device=q.device).expand(*q.shape[:-1], 1, 3, 3)
    dof_rot = torch.cat([axis_angle_matrix(axes, q), eye], -3)  # (..., 47, 3, 3)
    idx = [torch.as_tensor(s, device=q.device) for s in slots]
    d = dof_rot.dim() - 3  # the DOF axis
    local = (
        dof_rot.index_select(d, idx[0])
        @ dof_rot.index_select(d, idx[1])
        @ dof_rot.index_select(d, idx[2])
    )
    offsets_m = offsets_m.to(q.dtype)
    rot = local[..., levels[0], :, :]  # the pelvis: (..., 1, 3, 3)
    org = (root_m + offsets_m[levels[0][0]]).unsqueeze(-2)
    rots, orgs, order = [rot], [org], list(levels[0])
    for prev, level in zip(levels[:-1], levels[1:], strict=False):
        where = torch.as_tensor([prev.index(parents[i]) for i in level], device=q.device)
        rp = rot.index_select(d, where)
        org = org.index_select(d, where) + (rp @ offsets_m[level].unsqueeze(-1)).squeeze(-1)
        rot = rp @ local.index_select(d, torch.as_tensor(level, device=q.device))
        rots.append(rot)
        orgs.append(org)
        order += level
    back = torch.as_tensor(sorted(range(len(order)), key=order.__getitem__), device=q.device)
    return FKResult(
        torch.cat(rots, -3).index_select(d, back), torch.cat(orgs, -2).index_select(d, back)
    )
