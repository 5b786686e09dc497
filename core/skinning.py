"""Skinning of the subject's surface to the 24 BSM-46 bodies.

Weights: Anny's artist-made bone weights, summed per BSM-46 body (:data:`ANNY_BONE_TO_BODY`),
except along the forearm, where the ulna/radius split is a smooth ramp from the elbow (all ulna)
to the wrist (all radius), so pronation/supination twists the forearm gradually. Marker vertices
are bound rigidly to their marker's body, so virtual markers stay on the skin.

Deformation: dual-quaternion skinning (Kavan et al. 2007), which blends rigid transforms without
the volume loss of linear blending: a forearm twisted by pro_sup keeps its cross-section (no
"candy wrapper"), a flexed knee keeps its thickness. In Blender the same is the armature
modifier's "Preserve Volume" option. numpy (``pose_surface_dq``) and torch
(:func:`pose_surface_torch`, differentiable) twins.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import Tensor

from core import fk_numpy
from core import kinematics as K
from core import skeleton as sk

__all__ = [
    "ANNY_BONE_TO_BODY",
    "anny_weights_to_bodies",
    "forearm_twist_weights",
    "top_k_weights",
    "pose_vertices_numpy",
    "SurfacePoser",
    "pose_surface_torch",
]


def _body_of_anny_bone(label: str) -> str:
    side = label[-1].lower() if label.endswith((".R", ".L")) else ""
    base = label[:-2] if side else label
    table = [
        (("root", "pelvis", "spine05"), "pelvis"),
        (("upperleg",), "femur"),
        (("lowerleg",), "tibia"),
        (("foot",), "calcn"),
        (("toe",), "toes"),
        (("spine04", "spine03"), "lumbar"),
        (("spine02", "spine01"), "thorax"),
        (("neck", "head", "eye"), "head"),
        (("clavicle", "shoulder01"), "scapula"),
        (("upperarm",), "humerus"),
        (("lowerarm01",), "ulna"),
        (("lowerarm02",), "radius"),
        (("wrist", "metacarpal", "finger"), "hand"),
    ]
    for prefixes, body in table:
        if base.startswith(prefixes):
            return f"{body}_{side}" if body not in ("pelvis", "lumbar", "thorax", "head") else body
    raise ValueError(f"no BSM-46 body for Anny bone {label!r}")


def ANNY_BONE_TO_BODY(bone_labels: tuple[str, ...]) -> np.ndarray:  # noqa: N802 - a table
    """(B,) BSM-46 body index of each Anny bone."""
    return np.array([sk.BODY[_body_of_anny_bone(b)] for b in bone_labels], dtype=np.int64)


def anny_weights_to_bodies(
    vertex_bone_indices: np.ndarray, vertex_bone_weights: np.ndarray, bone_labels: tuple[str, ...]
) -> np.ndarray:
    """(V, 24) dense body weights, rows summing to 1."""
    body_of = ANNY_BONE_TO_BODY(bone_labels)
    v = vertex_bone_indices.shape[0]
    dense = np.zeros((v, sk.N_BODIES))
    np.add.at(
        dense,
        (
            np.repeat(np.arange(v), vertex_bone_indices.shape[1]),
            body_of[vertex_bone_indices].ravel(),
        ),
        vertex_bone_weights.ravel(),
    )
    return dense / dense.sum(1, keepdims=True)


def forearm_twist_weights(
    dense: np.ndarray, vertices_m: np.ndarray, joint_centres_m: np.ndarray
) -> np.ndarray:
    """Re-split each forearm's ulna+radius weight by a smoothstep ramp of the position along the
    elbow->wrist segment: all ulna at the elbow, all radius at the wrist."""
    out = dense.copy()
    for s in "rl":
        u, r = sk.BODY[f"ulna_{s}"], sk.BODY[f"radius_{s}"]
        e, w = joint_centres_m[u], joint_centres_m[sk.BODY[f"hand_{s}"]]
        axis = w - e
        t = np.clip((vertices_m - e) @ axis / (axis @ axis), 0.0, 1.0)
        ramp = t * t * (3 - 2 * t)
        total = out[:, u] + out[:, r]
        out[:, u] = total * (1 - ramp)
        out[:, r] = total * ramp
    return out


def top_k_weights(dense: np.ndarray, k: int = 4) -> tuple[np.ndarray, np.ndarray]:
    """(V, 24) -> bodies (V, k) int, weights (V, k) renormalised to sum 1 (zeros pad)."""
    idx = np.argsort(-dense, axis=1)[:, :k]
    w = np.take_along_axis(dense, idx, 1)
    w = w / w.sum(1, keepdims=True)
    return idx.astype(np.int64), w


# ----------------------------------------------------------------------- dual quaternions


def _quat_from_matrix_np(r: np.ndarray) -> np.ndarray:
    """(..., 3, 3) -> (..., 4) unit quaternions (w, x, y, z)."""
    m = r
    t = np.stack(
        [
            1 + m[..., 0, 0] + m[..., 1, 1] + m[..., 2, 2],
            1 + m[..., 0, 0] - m[..., 1, 1] - m[..., 2, 2],
            1 - m[..., 0, 0] + m[..., 1, 1] - m[..., 2, 2],
            1 - m[..., 0, 0] - m[..., 1, 1] + m[..., 2, 2],
        ],
        -1,
    )
    cand = np.stack(
        [
            np.stack(
                [
                    t[..., 0],
                    m[..., 2, 1] - m[..., 1, 2],
                    m[..., 0, 2] - m[..., 2, 0],
                    m[..., 1, 0] - m[..., 0, 1],
                ],
                -1,
            ),
            np.stack(
                [
                    m[..., 2, 1] - m[..., 1, 2],
                    t[..., 1],
                    m[..., 1, 0] + m[..., 0, 1],
                    m[..., 0, 2] + m[..., 2, 0],
                ],
                -1,
            ),
            np.stack(
                [
                    m[..., 0, 2] - m[..., 2, 0],
                    m[..., 1, 0] + m[..., 0, 1],
                    t[..., 2],
                    m[..., 2, 1] + m[..., 1, 2],
                ],
                -1,
            ),
            np.stack(
                [
                    m[..., 1, 0] - m[..., 0, 1],
                    m[..., 0, 2] + m[..., 2, 0],
                    m[..., 2, 1] + m[..., 1, 2],
                    t[..., 3],
                ],
                -1,
            ),
        ],
        -2,
    )
    best = np.argmax(t, -1)
    q = np.take_along_axis(cand, best[..., None, None], -2)[..., 0, :]
    return q / np.linalg.norm(q, axis=-1, keepdims=True)


def _qmul_np(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    aw, ax, ay, az = np.moveaxis(a, -1, 0)
    bw, bx, by, bz = np.moveaxis(b, -1, 0)
    return np.stack(
        [
            aw * bw - ax * bx - ay * by - az * bz,
            aw * bx + ax * bw + ay * bz - az * by,
            aw * by - ax * bz + ay * bw + az * bx,
            aw * bz + ax * by - ay * bx + az * bw,
        ],
        -1,
    )


def pose_vertices_numpy(
    vertices_m: np.ndarray,
    skin_bodies: np.ndarray,
    skin_weights: np.ndarray,
    joint_centres_m: np.ndarray,
    rotations: np.ndarray,
    origins: np.ndarray,
) -> np.ndarray:
    """Dual-quaternion skinning. Body b moves a zero-pose point x to
    ``rotations[b] @ (x - joint_centres_m[b]) + origins[b]``. Shapes: vertices (V, 3), skin
    (V, K), rotations (..., 24, 3, 3), origins (..., 24, 3) -> (..., V, 3)."""
    qr = _quat_from_matrix_np(rotations)  # (..., 24, 4)
    t = origins - np.einsum("...bij,bj->...bi", rotations, joint_centres_m)
    tq = np.concatenate([np.zeros(t.shape[:-1] + (1,)), t], -1)
    qd = 0.5 * _qmul_np(tq, qr)
    # Per vertex, flip bodies whose rotation lies in the other hemisphere from the dominant one.
    qr_v = qr[..., skin_bodies, :]  # (..., V, K, 4)
    qd_v = qd[..., skin_bodies, :]
    sign = np.sign(np.sum(qr_v * qr_v[..., :1, :], -1, keepdims=True))
    sign[sign == 0] = 1.0
    w = skin_weights[..., None] * sign
    br = np.sum(w * qr_v, -2)
    bd = np.sum(w * qd_v, -2)
    n = np.linalg.norm(br, axis=-1, keepdims=True)
    br, bd = br / n, bd / n
    # x' = R(br) x + 2 * (bd * conj(br)).vec
    w0, v = br[..., :1], br[..., 1:]
    x = vertices_m
    rx = x + 2 * np.cross(v, np.cross(v, x) + w0 * x)
    conj = br * np.array([1.0, -1.0, -1.0, -1.0])
    trans = 2 * _qmul_np(bd, conj)[..., 1:]
    return rx + trans


class SurfacePoser:
    """:func:`pose_vertices_numpy` for one frame at a time, about 8x cheaper (the overlay video
    poses every frame): the per-vertex blend of the 24 bodies' dual quaternions is K gathers of
    the (8, 24) body table into (8, V) rows (coordinate-major: every step a contiguous
    elementwise one), the hemisphere flips come from the 24 x 24 signs of the bodies' rotation
    quaternions against each other, and the quaternion products are written out per coordinate.
    Same result up to rounding (1e-12 m)."""

    def __init__(
        self,
        vertices_m: np.ndarray,
        skin_bodies: np.ndarray,
        skin_weights: np.ndarray,
        joint_centres_m: np.ndarray,
    ) -> None:
        self.vertices_m = np.asarray(vertices_m, dtype=np.float64)
        self.bodies = np.asarray(skin_bodies, dtype=np.int64)
        self.weights = np.asarray(skin_weights, dtype=np.float64)
        self.joint_centres_m = np.asarray(joint_centres_m, dtype=np.float64)
        self._x = np.ascontiguousarray(self.vertices_m.T)  # (3, V)
        self._bodies_t = np.ascontiguousarray(self.bodies.T)  # (K, V)
        self._weights_t = np.ascontiguousarray(self.weights.T)

    def __call__(self, rotations: np.ndarray, origins: np.ndarray) -> np.ndarray:
        """rotations (24, 3, 3), origins (24, 3) -> posed vertices (V, 3)."""
        qr = _quat_from_matrix_np(rotations)  # (24, 4)
        t = origins - np.einsum("bij,bj->bi", rotations, self.joint_centres_m)
        tq = np.concatenate([np.zeros((len(t), 1)), t], -1)
        qd = 0.5 * _qmul_np(tq, qr)
        flip = np.sign(qr @ qr.T)  # body a against body b
        flip[flip == 0] = 1.0
        table = np.concatenate([qr, qd], 1).T.copy()  # (8, 24)
        bodies, first = self._bodies_t, self._bodies_t[0]
        b = np.zeros((8, self._x.shape[1]))
        for k in range(len(bodies)):  # against the vertex's first body; a body twice adds up
            b += (self._weights_t[k] * flip[bodies[k], first]) * table[:, bodies[k]]
        b *= 1.0 / np.sqrt(b[0] * b[0] + b[1] * b[1] + b[2] * b[2] + b[3] * b[3])
        w, vx, vy, vz, dw, dx, dy, dz = b
        x, y, z = self._x
        # x' = R(br) x + 2 * (bd * conj(br)).vec, R(br) x = x + 2 v x (v x x + w x)
        cx, cy, cz = vy * z - vz * y + w * x, vz * x - vx * z + w * y, vx * y - vy * x + w * z
        out = np.empty((len(x), 3))
        out[:, 0] = x + 2 * (vy * cz - vz * cy - dw * vx + dx * w - dy * vz + dz * vy)
        out[:, 1] = y + 2 * (vz * cx - vx * cz - dw * vy + dx * vz + dy * w - dz * vx)
        out[:, 2] = z + 2 * (vx * cy - vy * cx - dw * vz - dx * vy + dy * vx + dz * w)
        return out


def pose_surface_numpy(subject, q_rad: np.ndarray, root_m: np.ndarray) -> np.ndarray:
    """(..., 46), (..., 3) -> (..., V, 3) posed surface of a ``core.body.Subject``."""
    rot, org = fk_numpy.forward_kinematics(q_rad, root_m, subject.offsets_m)
    s = subject.surface
    return pose_vertices_numpy(
        s.vertices_m, s.skin_bodies, s.skin_weights, subject.joint_centres_m, rot, org
    )


# ----------------------------------------------------------------------- torch twin


def _quat_from_matrix_t(m: Tensor) -> Tensor:
    t = torch.stack(
        [
            1 + m[..., 0, 0] + m[..., 1, 1] + m[..., 2, 2],
            1 + m[..., 0, 0] - m[..., 1, 1] - m[..., 2, 2],
            1 - m[..., 0, 0] + m[..., 1, 1] - m[..., 2, 2],
            1 - m[..., 0, 0] - m[..., 1, 1] + m[..., 2, 2],
        ],
        -1,
    )
    cand = torch.stack(
        [
            torch.stack(
                [
                    t[..., 0],
                    m[..., 2, 1] - m[..., 1, 2],
                    m[..., 0, 2] - m[..., 2, 0],
                    m[..., 1, 0] - m[..., 0, 1],
                ],
                -1,
            ),
            torch.stack(
                [
                    m[..., 2, 1] - m[..., 1, 2],
                    t[..., 1],
                    m[..., 1, 0] + m[..., 0, 1],
                    m[..., 0, 2] + m[..., 2, 0],
                ],
                -1,
            ),
            torch.stack(
                [
                    m[..., 0, 2] - m[..., 2, 0],
                    m[..., 1, 0] + m[..., 0, 1],
                    t[..., 2],
                    m[..., 2, 1] + m[..., 1, 2],
                ],
                -1,
            ),
            torch.stack(
                [
                    m[..., 1, 0] - m[..., 0, 1],
                    m[..., 0, 2] + m[..., 2, 0],
                    m[..., 2, 1] + m[..., 1, 2],
                    t[..., 3],
                ],
                -1,
            ),
        ],
        -2,
    )
    best = torch.argmax(t, -1)
    idx = best[..., None, None].expand(*best.shape, 1, 4)
    q = torch.gather(cand, -2, idx)[..., 0, :]
    return q / torch.linalg.norm(q, dim=-1, keepdim=True)


def _qmul_t(a: Tensor, b: Tensor) -> Tensor:
    aw, ax, ay, az = a.unbind(-1)
    bw, bx, by, bz = b.unbind(-1)
    return torch.stack(
        [
            aw * bw - ax * bx - ay * by - az * bz,
            aw * bx + ax * bw + ay * bz - az * by,
            aw * by - ax * bz + ay * bw + az * bx,
            aw * bz + ax * by - ay * bx + az * bw,
        ],
        -1,
    )


def pose_surface_torch(
    q_rad: Tensor,
    root_m: Tensor,
    offsets_m: Tensor,
    vertices_m: Tensor,
    skin_bodies: Tensor,
    skin_weights: Tensor,
    joint_centres_m: Tensor,
) -> Tensor:
    """Differentiable twin of ``core.body.pose_surface``: (..., 46), (..., 3) -> (..., V, 3).

    All tensors share q's dtype/device (``offsets_m`` may be batched for per-frame scales)."""
    fk = K.forward_kinematics(q_rad, root_m, offsets_m)
    rot, org = fk.rotations, fk.origins
    jc = joint_centres_m.to(rot)
    qr = _quat_from_matrix_t(rot)
    t = org - (rot @ jc.unsqueeze(-1)).squeeze(-1)
    tq = torch.cat([torch.zeros_like(t[..., :1]), t], -1)
    qd = 0.5 * _qmul_t(tq, qr)
    qr_v = qr[..., skin_bodies, :]
    qd_v = qd[..., skin_bodies, :]
    dots = torch.sum(qr_v * qr_v[..., :1, :], -1, keepdim=True)
    sign = torch.where(dots < 0, -torch.ones_like(dots), torch.ones_like(dots))
    w = skin_weights.to(rot)[..., None] * sign
    br = torch.sum(w * qr_v, -2)
    bd = torch.sum(w * qd_v, -2)
    n = torch.linalg.norm(br, dim=-1, keepdim=True)
    br, bd = br / n, bd / n
    w0, v = br[..., :1], br[..., 1:]
    x = vertices_m.to(rot)
    x = x.expand_as(v) if x.dim() < v.dim() else x
    rx = x + 2 * torch.linalg.cross(v, torch.linalg.cross(v, x, dim=-1) + w0 * x, dim=-1)
    conj = br * torch.tensor([1.0, -1.0, -1.0, -1.0], dtype=br.dtype, device=br.device)
    trans = 2 * _qmul_t(bd, conj)[..., 1:]
    return rx + trans
