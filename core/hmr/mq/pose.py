"""BSM-46 pose from the network's per-body outputs, inside the joint limits by construction.

Each body's query gives six raw numbers; how they become that body's joint angles depends on its
joint:

* **pelvis** (free root): 6D rotation (Zhou et al. 2019) -> matrix -> ``pelvis_tilt, _list,
  _rotation`` (``core.kinematics.pelvis_angles_from_matrix``); unlimited.
* **3-DOF joints with orthogonal axes** (hips, lumbar, thorax, head, shoulders): 6D -> the joint's
  local rotation R (child frame in the parent's) -> the three body-fixed angles about the joint's
  own DOF axes, in DOF order (generalised Tait-Bryan angles; the middle angle is taken in
  [-90, 90] deg, which holds every middle-axis range of BSM-46) -> each angle projected onto its
  limit arc.
* **hinges** (knee, ankle, subtalar, mtp, elbow, pro_sup): (cos, sin) -> atan2 -> projected onto
  the limit arc.
* **wrist** (2-DOF universal joint, flexion then deviation): two independent (cos, sin) pairs,
  i.e. two hinges. A 6D rotation would carry a third (twist) angle the joint cannot make.
* **scapulothoracic** (3 DOF): the upward-rotation axis (the scapular-plane normal) is not
  orthogonal to the elevation axis, so a rotation matrix has no closed-form decomposition into
  these three axes (Davenport angles need the middle axis orthogonal to both others). These
  three DOFs use NeurIK's bounded map ``lo + (hi - lo) * sigmoid(u)``
  (``core.kinematics.q_from_free``); scapular motion is small and always within its range.

"Projected onto the limit arc" means the closest angle of the allowed arc on the circle: an
angle outside the range goes to the nearer limit measured around the circle (a knee at -170 deg
goes to 135 deg, not to 0). A final ``clamp_to_limits`` removes rounding: no input, however
adversarial, gives an angle outside the limits (NaN inputs excepted: they stay NaN); in float32
the limits are rounded inwards so that the float64 check holds exactly too.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from torch import Tensor

from core import kinematics as K
from core import skeleton as sk
from core.neurik.model import rotation_6d_to_matrix

__all__ = [
    "RAW_PER_BODY",
    "ROT6D_BODIES",
    "EULER_BODIES",
    "CS_DOFS",
    "BOUNDED_DOFS",
    "PoseOutput",
    "pose_from_raw",
    "pose_raw_from_q",
    "local_rotations",
    "euler_from_matrix",
    "project_to_arc",
    "reframe_pelvis",
]

RAW_PER_BODY = 6
_PELVIS = sk.BODY["pelvis"]
_BODY_DOFS: list[list[int]] = [[sk.DOF[n] for n in b.dofs] for b in sk.BODIES]
_AXES = sk.dof_axes()


def _orthogonal(ax: np.ndarray) -> bool:
    return all(abs(float(ax[i] @ ax[j])) < 1e-9 for i, j in ((0, 1), (1, 2), (0, 2)))


EULER_BODIES: tuple[int, ...] = tuple(
    i for i, d in enumerate(_BODY_DOFS) if i != _PELVIS and len(d) == 3 and _orthogonal(_AXES[d])
)
_BOUNDED_BODIES = tuple(
    i for i, d in enumerate(_BODY_DOFS) if len(d) == 3 and i not in EULER_BODIES + (_PELVIS,)
)
ROT6D_BODIES: tuple[int, ...] = (_PELVIS,) + EULER_BODIES  # bodies whose raw output is 6D
# (body, slot) of every DOF predicted as (cos, sin): raw[body, 2*slot : 2*slot + 2]
CS_DOFS: tuple[tuple[int, int, int], ...] = tuple(
    (dof, i, slot)
    for i, d in enumerate(_BODY_DOFS)
    if len(d) in (1, 2)
    for slot, dof in enumerate(d)
)
BOUNDED_DOFS: tuple[tuple[int, int, int], ...] = tuple(
    (dof, i, slot) for i in _BOUNDED_BODIES for slot, dof in enumerate(_BODY_DOFS[i])
)

_EULER_DOFS = [d for i in EULER_BODIES for d in _BODY_DOFS[i]]
_ORDER = _BODY_DOFS[_PELVIS] + _EULER_DOFS + [c[0] for c in CS_DOFS] + [c[0] for c in BOUNDED_DOFS]
if sorted(_ORDER) != list(range(sk.N_DOFS)):  # a new joint type in the skeleton table
    raise RuntimeError("core.hmr.mq.pose does not cover every BSM-46 DOF exactly once")
_INV = np.argsort(_ORDER)


def _euler_frames() -> tuple[np.ndarray, np.ndarray]:
    """Per Euler body: P = [a1, a2, a1 x a2] (a proper rotation) and s = a3 . (a1 x a2)."""
    ps, signs = [], []
    for i in EULER_BODIES:
        a1, a2, a3 = _AXES[_BODY_DOFS[i]]
        c = np.cross(a1, a2)
        ps.append(np.stack([a1, a2, c], 1))
        signs.append(float(np.sign(a3 @ c)))
    return np.stack(ps), np.array(signs)


_P, _SIGN = _euler_frames()


def _inward_float32() -> tuple[np.ndarray, np.ndarray]:
    """The limits in float32, rounded inwards: a float32 limit rounded to nearest can lie a hair
    outside the float64 range that ``skeleton.check_q`` tests."""
    lo, hi = sk.limits_rad()
    lo32, hi32 = lo.astype(np.float32), hi.astype(np.float32)
    lo32 = np.where(lo32 < lo, np.nextafter(lo32, np.float32(np.inf)), lo32)
    hi32 = np.where(hi32 > hi, np.nextafter(hi32, np.float32(-np.inf)), hi32)
    return lo32, hi32


_LIMITS = {torch.float64: sk.limits_rad(), torch.float32: _inward_float32()}


def _inner_limits(like: Tensor) -> tuple[Tensor, Tensor]:
    """(46,) limits in like's dtype (float64 or float32) that no rounding takes outside."""
    if like.dtype not in _LIMITS:
        raise ValueError(f"pose decoding needs float32 or float64 values, got {like.dtype}")
    lo, hi = _LIMITS[like.dtype]
    return (
        torch.as_tensor(lo, dtype=like.dtype, device=like.device),
        torch.as_tensor(hi, dtype=like.dtype, device=like.device),
    )


def _lim(idx: list[int], like: Tensor) -> tuple[Tensor, Tensor]:
    lo, hi = _inner_limits(like)
    i = torch.as_tensor(idx, device=like.device)
    return lo[i], hi[i]


def project_to_arc(theta: Tensor, lo: Tensor, hi: Tensor) -> Tensor:
    """The angle of the arc [lo, hi] (radians, hi - lo < 2 pi) closest to theta on the circle."""
    mid = 0.5 * (lo + hi)
    half = 0.5 * (hi - lo)
    d = theta - mid
    d = torch.atan2(torch.sin(d), torch.cos(d))
    return mid + torch.maximum(torch.minimum(d, half), -half)


def euler_from_matrix(r: Tensor, p: Tensor, sign: Tensor) -> Tensor:
    """(..., 3, 3) rotations -> (..., 3) angles about orthonormal axes a1, a2, a3 (body-fixed,
    in that order), given p = [a1, a2, a1 x a2] (..., 3, 3) and sign = a3 . (a1 x a2) (...)."""
    rp = p.transpose(-1, -2) @ r @ p  # = Rx(t1) Ry(t2) Rz(sign * t3)
    t1 = torch.atan2(-rp[..., 1, 2], rp[..., 2, 2])
    t2 = torch.atan2(rp[..., 0, 2], torch.sqrt(rp[..., 0, 0] ** 2 + rp[..., 0, 1] ** 2 + 1e-20))
    t3 = sign * torch.atan2(-rp[..., 0, 1], rp[..., 0, 0])
    return torch.stack([t1, t2, t3], -1)


def _check_raw(raw: Tensor) -> None:
    if raw.shape[-2:] != (sk.N_BODIES, RAW_PER_BODY):
        raise ValueError(
            f"expected raw pose outputs of shape (B, {sk.N_BODIES}, {RAW_PER_BODY}), "
            f"got {tuple(raw.shape)}"
        )


@dataclass
class PoseOutput:
    q_rad: Tensor  # (B, 46) within the limits; pelvis angles w.r.t. the frame of the pelvis 6D
    rot6d: Tensor  # (B, len(ROT6D_BODIES), 3, 3) rotations before decomposition (pelvis first)
    cs_unit: Tensor  # (B, len(CS_DOFS), 2) unit (cos, sin) before projection

    @property
    def R_cam_pelvis(self) -> Tensor:  # noqa: N802 (a matrix)
        return self.rot6d[:, 0]


def pose_from_raw(raw: Tensor) -> PoseOutput:
    """raw (B, 24, 6) -> PoseOutput. The pelvis rotation is expressed in whatever frame the raw
    6D refers to (for MQ-HMR: the camera frame, OpenCV axes)."""
    _check_raw(raw)
    b = raw.shape[0]
    rot_bodies = list(ROT6D_BODIES)
    rots = rotation_6d_to_matrix(raw[:, rot_bodies])  # (B, n, 3, 3)
    root = K.pelvis_angles_from_matrix(rots[:, 0])
    p = torch.as_tensor(_P, dtype=raw.dtype, device=raw.device)
    sign = torch.as_tensor(_SIGN, dtype=raw.dtype, device=raw.device)
    euler = euler_from_matrix(rots[:, 1:], p, sign).reshape(b, -1)
    lo, hi = _lim(_EULER_DOFS, raw)
    euler = project_to_arc(euler, lo, hi)
    cs = torch.stack([raw[:, i, 2 * s : 2 * s + 2] for _, i, s in CS_DOFS], 1)  # (B, n, 2)
    hinge = torch.atan2(cs[..., 1], cs[..., 0])
    lo, hi = _lim([c[0] for c in CS_DOFS], raw)
    hinge = project_to_arc(hinge, lo, hi)
    u = torch.stack([raw[:, i, s] for _, i, s in BOUNDED_DOFS], 1)
    lo, hi = _lim([c[0] for c in BOUNDED_DOFS], raw)
    bounded = lo + (hi - lo) * torch.sigmoid(u)
    q = torch.cat([root, euler, hinge, bounded], 1)[:, torch.as_tensor(_INV, device=raw.device)]
    lo, hi = _inner_limits(q)
    q = torch.maximum(torch.minimum(q, hi), lo)
    cs_unit = cs / torch.sqrt((cs**2).sum(-1, keepdim=True) + 1e-12)
    return PoseOutput(q, rots, cs_unit)


def local_rotations(q: Tensor) -> Tensor:
    """(B, 46) -> (B, 24, 3, 3): each body's joint rotation (child frame in the parent's)."""
    axes = torch.as_tensor(_AXES, dtype=q.dtype, device=q.device)
    dof_rot = K.axis_angle_matrix(axes, q)
    eye = torch.eye(3, dtype=q.dtype, device=q.device).expand(q.shape[0], 3, 3)
    out = []
    for dofs in _BODY_DOFS:
        r = eye
        for j in dofs:
            r = r @ dof_rot[:, j]
        out.append(r)
    return torch.stack(out, 1)


def reframe_pelvis(q: Tensor, r_new_old: Tensor) -> Tensor:
    """q (B, 46) with pelvis angles w.r.t. frame "old" -> the same q with pelvis angles w.r.t.
    frame "new", given r_new_old (B, 3, 3) or (3, 3) (e.g. R_cam_world: world -> camera)."""
    root = _BODY_DOFS[_PELVIS]
    axes = torch.as_tensor(_AXES[root], dtype=q.dtype, device=q.device)
    rot = K.axis_angle_matrix(axes, q[:, root])
    r_old_pelvis = rot[:, 0] @ rot[:, 1] @ rot[:, 2]
    r = r_new_old.to(q.dtype).expand(q.shape[0], 3, 3) @ r_old_pelvis
    root_idx = torch.as_tensor(root, device=q.device)
    return q.index_copy(1, root_idx, K.pelvis_angles_from_matrix(r))


def pose_raw_from_q(q: Tensor) -> Tensor:
    """Inverse of :func:`pose_from_raw` for q (B, 46) within the limits: raw (B, 24, 6) whose
    decoding gives q back (the pelvis 6D refers to the same frame as q's pelvis angles)."""
    loc = local_rotations(q)
    raw = torch.zeros(q.shape[0], sk.N_BODIES, RAW_PER_BODY, dtype=q.dtype, device=q.device)
    six = torch.cat([loc[..., :, 0], loc[..., :, 1]], -1)  # first two columns
    raw[:, list(ROT6D_BODIES)] = six[:, list(ROT6D_BODIES)]
    for dof, i, s in CS_DOFS:
        raw[:, i, 2 * s] = torch.cos(q[:, dof])
        raw[:, i, 2 * s + 1] = torch.sin(q[:, dof])
    free = K.free_from_q(q)
    for dof, i, s in BOUNDED_DOFS:
        raw[:, i, s] = free[:, dof]
    return raw
