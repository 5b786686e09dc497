"""Numpy twin of ``core.kinematics`` for callers without torch (the exporter, the Blender add-on's
logic). Same conventions; tests check agreement with the torch version."""

from __future__ import annotations

import numpy as np

from core import skeleton as sk

__all__ = ["axis_angle_matrix", "forward_kinematics", "body_points"]

_PARENTS = sk.parents().tolist()
_BODY_DOFS: list[list[int]] = [
    [j for j, d in enumerate(sk.DOFS) if sk.BODY[d.body] == i] for i in range(sk.N_BODIES)
]


def axis_angle_matrix(axes: np.ndarray, angles: np.ndarray) -> np.ndarray:
    """(K, 3) unit axes, (..., K) radians -> (..., K, 3, 3)."""
    x, y, z = axes[:, 0], axes[:, 1], axes[:, 2]
    c, s = np.cos(angles), np.sin(angles)
    t = 1.0 - c
    return np.stack(
        [
            np.stack([c + x * x * t, x * y * t - z * s, x * z * t + y * s], -1),
            np.stack([y * x * t + z * s, c + y * y * t, y * z * t - x * s], -1),
            np.stack([z * x * t - y * s, z * y * t + x * s, c + z * z * t], -1),
        ],
        -2,
    )


def forward_kinematics(
    q: np.ndarray, root_m: np.ndarray, offsets_m: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """q (..., 46) rad, root_m (..., 3), offsets_m (24, 3) -> rotations (..., 24, 3, 3),
    origins (..., 24, 3)."""
    q = np.asarray(q, dtype=np.float64)
    root_m = np.asarray(root_m, dtype=np.float64)
    offsets_m = np.asarray(offsets_m, dtype=np.float64)
    if q.shape[-1] != sk.N_DOFS:
        raise ValueError(f"expected q of shape (..., {sk.N_DOFS}) radians, got {q.shape}")
    if root_m.shape != q.shape[:-1] + (3,):
        raise ValueError(f"expected root_m of shape {q.shape[:-1] + (3,)}, got {root_m.shape}")
    if offsets_m.shape != (sk.N_BODIES, 3):
        raise ValueError(f"expected offsets_m of shape ({sk.N_BODIES}, 3), got {offsets_m.shape}")
    dof_rot = axis_angle_matrix(sk.dof_axes(), q)
    eye = np.broadcast_to(np.eye(3), q.shape[:-1] + (3, 3))
    rots: list[np.ndarray] = []
    origins: list[np.ndarray] = []
    for i in range(sk.N_BODIES):
        local = eye
        for j in _BODY_DOFS[i]:
            local = local @ dof_rot[..., j, :, :]
        p = _PARENTS[i]
        if p < 0:
            rots.append(local)
            origins.append(root_m + offsets_m[i])
        else:
            rots.append(rots[p] @ local)
            origins.append(origins[p] + rots[p] @ offsets_m[i])
    return np.stack(rots, -3), np.stack(origins, -2)


def body_points(
    rotations: np.ndarray, origins: np.ndarray, body_index: np.ndarray, local_m: np.ndarray
) -> np.ndarray:
    r = rotations[..., body_index, :, :]
    o = origins[..., body_index, :]
    return o + np.einsum("...mij,mj->...mi", r, local_m)
