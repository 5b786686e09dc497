"""Forward kinematics of BSM-46 in numpy, and the one conversion between OpenSim and Blender axes.

Same conventions as core/fk_numpy.py (tests compare the two): each joint rotates its child by
body-fixed rotations about the DOF axes in DOF order; body frames are parallel to the world at
q = 0; ``offsets_m`` are joint centres in the parent's frame.
"""

from __future__ import annotations

import numpy as np

from . import bsm46

__all__ = ["OPENSIM_TO_BLENDER", "to_blender", "axis_angle_matrix", "forward_kinematics"]

# OpenSim world: X forward, Y up, Z to the subject's right. Blender: Z up, a character faces -Y,
# so its right hand is at -X. Columns are the Blender images of OpenSim's X, Y, Z (det = +1).
OPENSIM_TO_BLENDER = np.array([[0.0, 0.0, -1.0], [-1.0, 0.0, 0.0], [0.0, 1.0, 0.0]])


def to_blender(v: np.ndarray) -> np.ndarray:
    """(..., 3) points or directions, or (..., 3, 3) rotations, OpenSim frame -> Blender frame.

    Rotations are conjugated (C R C^T): a rotation about OpenSim's X becomes one about -Y."""
    v = np.asarray(v, dtype=np.float64)
    c = OPENSIM_TO_BLENDER
    if v.shape[-2:] == (3, 3):
        return c @ v @ c.T
    if v.shape[-1] != 3:
        raise ValueError(f"expected (..., 3) vectors or (..., 3, 3) rotations, got {v.shape}")
    return v @ c.T


def axis_angle_matrix(axes: np.ndarray, angles: np.ndarray) -> np.ndarray:
    """(K, 3) unit axes, (..., K) radians -> (..., K, 3, 3) rotation matrices (Rodrigues)."""
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


def dof_axes() -> np.ndarray:
    """(46, 3) unit DOF axes."""
    return np.array([d[2] for d in bsm46.DOFS], dtype=np.float64)


def joint_rotations(q: np.ndarray) -> np.ndarray:
    """(..., 46) radians -> (..., 24, 3, 3) rotation of each body relative to its parent."""
    q = np.asarray(q, dtype=np.float64)
    dof_rot = axis_angle_matrix(dof_axes(), q)
    out = np.broadcast_to(np.eye(3), q.shape[:-1] + (bsm46.N_BODIES, 3, 3)).copy()
    for i, dofs in enumerate(bsm46.BODY_DOFS):
        for j in dofs:
            out[..., i, :, :] = out[..., i, :, :] @ dof_rot[..., j, :, :]
    return out


def forward_kinematics(
    q: np.ndarray, root_m: np.ndarray, offsets_m: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """q (..., 46) rad, root_m (..., 3), offsets_m (24, 3) -> world rotations (..., 24, 3, 3)
    and origins (..., 24, 3), OpenSim frame."""
    q = np.asarray(q, dtype=np.float64)
    root_m = np.asarray(root_m, dtype=np.float64)
    offsets_m = np.asarray(offsets_m, dtype=np.float64)
    if q.shape[-1] != bsm46.N_DOFS:
        raise ValueError(f"expected q of shape (..., {bsm46.N_DOFS}) radians, got {q.shape}")
    if root_m.shape != q.shape[:-1] + (3,):
        raise ValueError(f"expected root_m of shape {q.shape[:-1] + (3,)}, got {root_m.shape}")
    if offsets_m.shape != (bsm46.N_BODIES, 3):
        raise ValueError(f"expected offsets_m of shape (24, 3), got {offsets_m.shape}")
    local = joint_rotations(q)
    rots: list[np.ndarray] = []
    origins: list[np.ndarray] = []
    for i, p in enumerate(bsm46.PARENTS):
        if p < 0:
            rots.append(local[..., i, :, :])
            origins.append(root_m + offsets_m[i])
        else:
            rots.append(rots[p] @ local[..., i, :, :])
            origins.append(origins[p] + rots[p] @ offsets_m[i])
    return np.stack(rots, -3), np.stack(origins, -2)
