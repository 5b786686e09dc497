"""Forward kinematics of BSM-46 as pure batched functions (torch), plus the limit parametrisation.

Everything here is a function of tensors: device and dtype come from the inputs. ``core.fk_numpy``
is the same maths for callers without torch; tests check that the two agree.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor

from core import skeleton as sk

__all__ = [
    "FKResult",
    "axis_angle_matrix",
    "forward_kinematics",
    "body_points",
    "q_from_free",
    "free_from_q",
    "clamp_to_limits",
    "pelvis_angles_from_matrix",
]

_PARENTS = sk.parents().tolist()
_DOF_BODY = [sk.BODY[d.body] for d in sk.DOFS]
# For each body, the DOF indices that rotate it, in application order.
_BODY_DOFS: list[list[int]] = [
    [j for j, b in enumerate(_DOF_BODY) if b == i] for i in range(sk.N_BODIES)
]


@dataclass
class FKResult:
    rotations: Tensor  # (..., 24, 3, 3) body orientation in the ground frame
    origins: Tensor  # (..., 24, 3) metres: body origin (= its joint centre) in the ground frame


def axis_angle_matrix(axes: Tensor, angles: Tensor) -> Tensor:
    """Rotation matrices for unit ``axes`` (K, 3) by ``angles`` (..., K) radians -> (..., K, 3, 3)."""
    x, y, z = axes.unbind(-1)
    c, s = torch.cos(angles), torch.sin(angles)
    t = 1.0 - c
    row0 = torch.stack([c + x * x * t, x * y * t - z * s, x * z * t + y * s], -1)
    row1 = torch.stack([y * x * t + z * s, c + y * y * t, y * z * t - x * s], -1)
    row2 = torch.stack([z * x * t - y * s, z * y * t + x * s, c + z * z * t], -1)
    return torch.stack([row0, row1, row2], -2)


def forward_kinematics(q: Tensor, root_m: Tensor, offsets_m: Tensor) -> FKResult:
    """Body frames of BSM-46.

    q: (..., 46) radians; root_m: (..., 3) pelvis origin in the ground frame; offsets_m: (24, 3)
    or (..., 24, 3) joint centres in the parent's frame (``core.body`` or
    ``skeleton.default_offsets``).
    """
    if q.shape[-1] != sk.N_DOFS:
        raise ValueError(f"expected q of shape (..., {sk.N_DOFS}) radians, got {tuple(q.shape)}")
    if root_m.shape[-1] != 3 or root_m.shape[:-1] != q.shape[:-1]:
        raise ValueError(
            f"expected root_m of shape {tuple(q.shape[:-1]) + (3,)}, got {tuple(root_m.shape)}"
        )
    if offsets_m.shape[-2:] != (sk.N_BODIES, 3):
        raise ValueError(
            f"expected offsets_m of shape (..., {sk.N_BODIES}, 3), got {tuple(offsets_m.shape)}"
        )
    axes = torch.as_tensor(sk.dof_axes(), dtype=q.dtype, device=q.device)
    dof_rot = axis_angle_matrix(axes, q)  # (..., 46, 3, 3)
    offsets_m = offsets_m.to(q.dtype)
    eye = torch.eye(3, dtype=q.dtype, device=q.device).expand(*q.shape[:-1], 3, 3)
    rots: list[Tensor] = []
    origins: list[Tensor] = []
    for i in range(sk.N_BODIES):
        local = eye
        for j in _BODY_DOFS[i]:
            local = local @ dof_rot[..., j, :, :]
        p = _PARENTS[i]
        if p < 0:
            rots.append(local)
            origins.append(
                root_m + (offsets_m[..., i, :] if offsets_m.dim() > 2 else offsets_m[i])
            )
        else:
            rp = rots[p]
            off = offsets_m[..., i, :]
            rots.append(rp @ local)
            origins.append(origins[p] + (rp @ off.unsqueeze(-1)).squeeze(-1))
    return FKResult(torch.stack(rots, -3), torch.stack(origins, -2))


def body_points(fk: FKResult, body_index: Tensor, local_m: Tensor) -> Tensor:
    """World positions (..., M, 3) of points fixed in bodies: ``body_index`` (M,), ``local_m``
    (M, 3) or (..., M, 3) in the body's frame (zero-pose aligned with the ground).
    ``index_select`` rather than a fancy index: about half the cost, with its backward, on the
    refinement's small tensors."""
    d = fk.origins.dim() - 2
    idx = torch.as_tensor(body_index, dtype=torch.long, device=fk.origins.device)
    r = fk.rotations.index_select(d, idx)
    o = fk.origins.index_select(d, idx)
    return o + (r @ local_m.to(r.dtype).unsqueeze(-1)).squeeze(-1)


def _limits(like: Tensor) -> tuple[Tensor, Tensor]:
    lo, hi = sk.limits_rad()
    return (
        torch.as_tensor(lo, dtype=like.dtype, device=like.device),
        torch.as_tensor(hi, dtype=like.dtype, device=like.device),
    )


def q_from_free(u: Tensor) -> Tensor:
    """Map unconstrained values (..., 46) into the joint limits: ``lo + (hi - lo) * sigmoid(u)``
    for limited DOFs, identity for the root rotations. No optimiser or network can leave the
    limits through this map."""
    lo, hi = _limits(u)
    limited = torch.isfinite(lo)
    span = torch.where(limited, hi - lo, torch.ones_like(hi))
    base = torch.where(limited, lo, torch.zeros_like(lo))
    return torch.where(limited, base + span * torch.sigmoid(u), u)


def free_from_q(q: Tensor, eps: float = 1e-6) -> Tensor:
    """Inverse of :func:`q_from_free`; q is clamped a hair inside the limits first."""
    lo, hi = _limits(q)
    limited = torch.isfinite(lo)
    span = torch.where(limited, hi - lo, torch.ones_like(hi))
    base = torch.where(limited, lo, torch.zeros_like(lo))
    x = ((q - base) / span).clamp(eps, 1 - eps)
    return torch.where(limited, torch.logit(x), q)


def clamp_to_limits(q: Tensor) -> Tensor:
    lo, hi = _limits(q)
    return torch.maximum(torch.minimum(q, hi), lo)


def pelvis_angles_from_matrix(r: Tensor) -> Tensor:
    """(..., 3, 3) pelvis orientation -> (..., 3) pelvis_tilt, pelvis_list, pelvis_rotation.

    BSM-46 composes the root as Rz(tilt) @ Rx(list) @ Ry(rotation) (body-fixed, DOF order)."""
    lst = torch.asin(r[..., 2, 1].clamp(-1.0, 1.0))
    rot = torch.atan2(-r[..., 2, 0], r[..., 2, 2])
    tilt = torch.atan2(-r[..., 0, 1], r[..., 1, 1])
    return torch.stack([tilt, lst, rot], -1)
