"""How the BSM-46 armature is laid out in Blender: bone frames, rotation modes, locks and limits.

Each BSM-46 body becomes one bone whose head is the body origin (joint centre). The bone's rest
frame F (columns = bone-local x, y, z, in OpenSim coordinates) is chosen so that every DOF axis is
a bone-local coordinate axis where possible:

* hinges: local X is the (oblique) hinge axis, so a hinge is an Euler X rotation with Y and Z
  locked (local Y when the axis runs along the bone, e.g. pronation/supination);
* 2-3 DOF joints whose axes are coordinate axes: F is a signed permutation, and the body-fixed
  sequence R1 R2 R3 is Blender's Euler order ``k3 k2 k1`` (Blender applies the first letter
  first), with one value per DOF;
* the scapulothoracic joint (one oblique axis among three) is keyed as a quaternion.

Pose basis of a bone = F^T R_joint F (body frames are parallel at q = 0, so the parent's rest
frame and the joint's frame coincide).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from . import bsm46
from .kinematics import dof_axes, joint_rotations

__all__ = ["BoneLayout", "armature_layout", "pose_values"]

_AXES = "XYZ"


@dataclass(frozen=True)
class BoneLayout:
    body: str
    parent: str | None
    head_m: tuple[float, float, float]  # rest head, OpenSim world (root at the origin)
    frame: tuple[tuple[float, ...], ...]  # (3, 3) columns = bone x, y, z in OpenSim frame
    length_m: float
    rotation_mode: str  # Blender rotation mode: an Euler order or "QUATERNION"
    dof_slots: tuple[tuple[int, int, float], ...]  # (DOF index, local axis 0..2, sign)
    locked: tuple[bool, bool, bool]  # Euler axes that never move
    limits_rad: tuple[tuple[float, float] | None, ...]  # per local axis, None = free
    joint_type: str

    @property
    def frame_array(self) -> np.ndarray:
        return np.array(self.frame, dtype=np.float64)


def _unit(v: np.ndarray) -> np.ndarray:
    return v / np.linalg.norm(v)


def _segment_dirs(offsets_m: np.ndarray) -> dict[str, np.ndarray]:
    """Rest direction (OpenSim frame) and length of each body's segment."""
    o = offsets_m
    b = bsm46.BODY
    out: dict[str, np.ndarray] = {}
    for side in "rl":
        s = f"_{side}"
        out["femur" + s] = o[b["tibia" + s]]
        out["tibia" + s] = o[b["talus" + s]]
        out["talus" + s] = o[b["calcn" + s]] + o[b["toes" + s]]
        out["calcn" + s] = o[b["toes" + s]]
        out["toes" + s] = np.array([0.3, 0.0, 0.0]) * np.linalg.norm(o[b["toes" + s]])
        out["scapula" + s] = o[b["humerus" + s]]
        out["humerus" + s] = o[b["ulna" + s]]
        out["ulna" + s] = o[b["radius" + s]] + o[b["hand" + s]]
        out["radius" + s] = o[b["hand" + s]]
        out["hand" + s] = np.array([0.0, -0.35, 0.0]) * np.linalg.norm(o[b["hand" + s]])
    out["pelvis"] = o[b["lumbar"]] * 0 + np.array([0.0, 1.0, 0.0]) * np.linalg.norm(o[b["lumbar"]])
    out["lumbar"] = o[b["thorax"]]
    out["thorax"] = o[b["head"]]
    out["head"] = np.array([0.0, 0.8, 0.0]) * np.linalg.norm(o[b["head"]])
    return out


def _nearest_axis(d: np.ndarray) -> np.ndarray:
    k = int(np.argmax(np.abs(d)))
    e = np.zeros(3)
    e[k] = np.sign(d[k]) or 1.0
    return e


def _frame_hinge(axis: np.ndarray, d: np.ndarray) -> tuple[np.ndarray, int]:
    if abs(float(axis @ _unit(d))) > 0.8:  # axis along the bone: hinge about local Y
        y = axis * np.sign(axis @ d)
        ref = np.array([1.0, 0.0, 0.0]) if abs(y[0]) < 0.9 else np.array([0.0, 0.0, 1.0])
        x = _unit(ref - (ref @ y) * y)
        return np.stack([x, y, np.cross(x, y)], 1), 1
    x = axis
    y = _unit(d - (d @ x) * x)
    return np.stack([x, y, np.cross(x, y)], 1), 0


def _frame_multi(d: np.ndarray) -> np.ndarray:
    y = _nearest_axis(d)
    x = np.array([1.0, 0.0, 0.0]) if abs(y[0]) < 0.5 else np.array([0.0, 1.0, 0.0])
    return np.stack([x, y, np.cross(x, y)], 1)


def armature_layout(offsets_m: np.ndarray) -> list[BoneLayout]:
    """One BoneLayout per BSM-46 body, parents first."""
    offsets_m = np.asarray(offsets_m, dtype=np.float64)
    if offsets_m.shape != (bsm46.N_BODIES, 3):
        raise ValueError(f"expected offsets_m of shape (24, 3), got {offsets_m.shape}")
    axes = dof_axes()
    lo = np.deg2rad([d[3] for d in bsm46.DOFS])
    hi = np.deg2rad([d[4] for d in bsm46.DOFS])
    seg = _segment_dirs(offsets_m)
    heads = np.zeros((bsm46.N_BODIES, 3))
    out: list[BoneLayout] = []
    for i, (name, parent, _joint, jtype) in enumerate(bsm46.BODIES):
        p = bsm46.PARENTS[i]
        heads[i] = offsets_m[i] + (heads[p] if p >= 0 else 0.0)
        d = seg[name]
        length = max(float(np.linalg.norm(d)), 0.02)
        dofs = bsm46.BODY_DOFS[i]
        if len(dofs) == 1:
            frame, _k = _frame_hinge(axes[dofs[0]], d)
        else:
            frame = _frame_multi(d)
        local = axes[list(dofs)] @ frame  # rows: DOF axes in bone-local coordinates
        slots = []
        euler_ok = True
        for j, a in zip(dofs, local, strict=True):
            k = int(np.argmax(np.abs(a)))
            if abs(abs(a[k]) - 1.0) > 1e-9:
                euler_ok = False
            slots.append((j, k, float(np.sign(a[k]))))
        ks = [k for _, k, _ in slots]
        if euler_ok and len(set(ks)) == len(ks):
            missing = [k for k in range(3) if k not in ks]
            order = "".join(_AXES[k] for k in missing + ks[::-1])
            mode = order
        else:
            mode = "QUATERNION"
        locked = tuple(k not in ks for k in range(3)) if mode != "QUATERNION" else (False,) * 3
        limits: list[tuple[float, float] | None] = [None, None, None]
        if mode != "QUATERNION":
            for j, k, s in slots:
                if np.isfinite(lo[j]) and np.isfinite(hi[j]):
                    limits[k] = (
                        (float(lo[j]), float(hi[j])) if s > 0 else (float(-hi[j]), float(-lo[j]))
                    )
            for k in range(3):
                if locked[k]:
                    limits[k] = (0.0, 0.0)
        out.append(
            BoneLayout(
                body=name,
                parent=parent,
                head_m=tuple(float(v) for v in heads[i]),
                frame=tuple(tuple(float(v) for v in row) for row in frame),
                length_m=length,
                rotation_mode=mode,
                dof_slots=tuple(slots),
                locked=locked,  # type: ignore[arg-type]
                limits_rad=tuple(limits),
                joint_type=jtype,
            )
        )
    return out


def pose_values(layout: list[BoneLayout], q_rad: np.ndarray) -> dict[str, np.ndarray]:
    """Per bone: (T, 3) Euler values or (T, 4) quaternions (w, x, y, z), for the pose basis."""
    q_rad = np.asarray(q_rad, dtype=np.float64)
    rel = None
    out: dict[str, np.ndarray] = {}
    for bl in layout:
        if bl.rotation_mode != "QUATERNION":
            e = np.zeros(q_rad.shape[:-1] + (3,))
            for j, k, s in bl.dof_slots:
                e[..., k] += s * q_rad[..., j]
            out[bl.body] = e
        else:
            if rel is None:
                rel = joint_rotations(q_rad)
            f = bl.frame_array
            m = f.T @ rel[..., bsm46.BODY[bl.body], :, :] @ f
            out[bl.body] = quat_from_matrix(m)
    return out


def quat_from_matrix(m: np.ndarray) -> np.ndarray:
    """(..., 3, 3) rotations -> (..., 4) unit quaternions (w, x, y, z), sign-continuous along
    the first axis when it is time."""
    m = np.asarray(m, dtype=np.float64)
    t = np.trace(m, axis1=-2, axis2=-1)
    cand = np.stack(
        [
            1 + t,
            1 + 2 * m[..., 0, 0] - t,
            1 + 2 * m[..., 1, 1] - t,
            1 + 2 * m[..., 2, 2] - t,
        ],
        -1,
    )
    k = np.argmax(cand, -1)
    q = np.zeros(m.shape[:-2] + (4,))
    r = np.sqrt(np.maximum(np.take_along_axis(cand, k[..., None], -1)[..., 0], 1e-12))
    # four branches (Shepperd's method), evaluated everywhere and picked per element
    w = np.stack(
        [
            r,
            (m[..., 2, 1] - m[..., 1, 2]) / r,
            (m[..., 0, 2] - m[..., 2, 0]) / r,
            (m[..., 1, 0] - m[..., 0, 1]) / r,
        ],
        -1,
    )
    x = np.stack(
        [
            (m[..., 2, 1] - m[..., 1, 2]) / r,
            r,
            (m[..., 0, 1] + m[..., 1, 0]) / r,
            (m[..., 0, 2] + m[..., 2, 0]) / r,
        ],
        -1,
    )
    y = np.stack(
        [
            (m[..., 0, 2] - m[..., 2, 0]) / r,
            (m[..., 0, 1] + m[..., 1, 0]) / r,
            r,
            (m[..., 1, 2] + m[..., 2, 1]) / r,
        ],
        -1,
    )
    z = np.stack(
        [
            (m[..., 1, 0] - m[..., 0, 1]) / r,
            (m[..., 0, 2] + m[..., 2, 0]) / r,
            (m[..., 1, 2] + m[..., 2, 1]) / r,
            r,
        ],
        -1,
    )
    branches = np.stack([w, x, y, z], -2)  # (..., 4 branches, 4 comps)
    q = np.take_along_axis(branches, k[..., None, None], -2)[..., 0, :] * 0.5
    q /= np.linalg.norm(q, axis=-1, keepdims=True)
    if q.ndim >= 2:  # sign continuity along axis 0 (time)
        for f in range(1, q.shape[0]):
            flip = np.sum(q[f] * q[f - 1], -1) < 0
            q[f][flip] *= -1
    return q


def matrix_from_quat(q: np.ndarray) -> np.ndarray:
    """(..., 4) (w, x, y, z) -> (..., 3, 3)."""
    q = np.asarray(q, dtype=np.float64)
    q = q / np.linalg.norm(q, axis=-1, keepdims=True)
    w, x, y, z = q[..., 0], q[..., 1], q[..., 2], q[..., 3]
    return np.stack(
        [
            np.stack([1 - 2 * (y * y + z * z), 2 * (x * y - z * w), 2 * (x * z + y * w)], -1),
            np.stack([2 * (x * y + z * w), 1 - 2 * (x * x + z * z), 2 * (y * z - x * w)], -1),
            np.stack([2 * (x * z - y * w), 2 * (y * z + x * w), 1 - 2 * (x * x + y * y)], -1),
        ],
        -2,
    )


def euler_matrix(e: np.ndarray, order: str) -> np.ndarray:
    """Blender Euler (..., 3) with order ``order`` (first letter applied first) -> (..., 3, 3)."""
    e = np.asarray(e, dtype=np.float64)
    m = np.broadcast_to(np.eye(3), e.shape[:-1] + (3, 3)).copy()
    eye = np.eye(3)
    for ch in order:
        k = _AXES.index(ch)
        m = axis_angle_single(eye[k], e[..., k]) @ m
    return m


def axis_angle_single(axis: np.ndarray, angle: np.ndarray) -> np.ndarray:
    from .kinematics import axis_angle_matrix

    return axis_angle_matrix(
        np.asarray(axis, dtype=np.float64)[None], np.asarray(angle)[..., None]
    )[..., 0, :, :]
