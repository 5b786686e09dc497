"""Anny in the anatomical neutral pose, in OpenSim's frame.

Anny's rest pose is an A-pose (arms 40-45 deg out, elbows a little flexed, feet apart). This module
poses it with Anny's own rig and skinning into the BSM-46 zero pose (standing, arms straight at the
sides, palms forward, legs straight below the hips) and converts it from Anny's frame (Z up, the
body facing -Y, its right side at -X) to OpenSim's (X anterior, Y up, Z right).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np
import torch

from core.anny_loader import load_anny

__all__ = ["ANNY_TO_OPENSIM", "NeutralAnny", "anny_neutral", "phenotype_vector"]

log = logging.getLogger(__name__)

# Rows are OpenSim's axes written in Anny's: X = -Y_anny (anterior), Y = Z_anny (up),
# Z = -X_anny (the body's right). A proper rotation (det = +1).
ANNY_TO_OPENSIM = np.array([[0.0, -1.0, 0.0], [0.0, 0.0, 1.0], [-1.0, 0.0, 0.0]])

_DOWN = np.array([0.0, 0.0, -1.0])  # Anny's frame


@dataclass
class NeutralAnny:
    """One Anny body in the neutral pose, OpenSim frame, metres (origin: Anny's root)."""

    vertices_m: np.ndarray  # (V, 3)
    bone_heads_m: dict[str, np.ndarray]  # Anny bone label -> (3,) posed head
    faces: np.ndarray  # (F, 3) triangles
    vertex_bone_indices: np.ndarray  # (V, K) Anny bone indices
    vertex_bone_weights: np.ndarray  # (V, K)
    bone_labels: tuple[str, ...]


def phenotype_vector(values: dict[str, float] | None) -> tuple[np.ndarray, tuple[str, ...]]:
    """Anny phenotype values (S,) in Anny's label order from a name->value dict (default 0.5).

    Unknown names, NaN and values outside 0..1 raise ValueError naming the parameter."""
    labels = tuple(load_anny().phenotype_labels)
    values = dict(values or {})
    unknown = sorted(set(values) - set(labels))
    if unknown:
        raise ValueError(f"unknown Anny shape parameter(s) {unknown}; known: {list(labels)}")
    out = np.full(len(labels), 0.5)
    for i, name in enumerate(labels):
        if name in values:
            v = float(values[name])
            if not np.isfinite(v) or not 0.0 <= v <= 1.0:
                raise ValueError(f"Anny shape parameter {name!r} must lie in 0..1, got {v}")
            out[i] = v
    return out, labels


def _rotation_between(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Smallest rotation taking direction a onto direction b."""
    a = a / np.linalg.norm(a)
    b = b / np.linalg.norm(b)
    v = np.cross(a, b)
    c = float(a @ b)
    s = np.linalg.norm(v)
    if s < 1e-12:
        return np.eye(3)
    k = np.array([[0, -v[2], v[1]], [v[2], 0, -v[0]], [-v[1], v[0], 0]]) / s
    ang = np.arctan2(s, c)
    return np.eye(3) + np.sin(ang) * k + (1 - np.cos(ang)) * k @ k


def _rot_about(axis: np.ndarray, angle: float) -> np.ndarray:
    axis = axis / np.linalg.norm(axis)
    k = np.array([[0, -axis[2], axis[1]], [axis[2], 0, -axis[0]], [-axis[1], axis[0], 0]])
    return np.eye(3) + np.sin(angle) * k + (1 - np.cos(angle)) * k @ k


def _neutral_rotations(
    heads: np.ndarray, labels: tuple[str, ...], parents: list[int]
) -> np.ndarray:
    """(B, 3, 3) world rotation of each Anny bone about its head (Anny frame) that takes the rest
    A-pose into the neutral pose. Each bone inherits its parent's rotation, then adds its own."""
    idx = {n: i for i, n in enumerate(labels)}
    n = len(labels)
    g = np.tile(np.eye(3), (n, 1, 1))
    posed = heads.copy()

    for c in range(n):
        p = parents[c]
        if p >= 0:
            g[c] = g[p]
            posed[c] = posed[p] + g[p] @ (heads[c] - heads[p])
        name = labels[c]
        side = name[-1] if name.endswith((".R", ".L")) else ""
        extra = None
        if name.startswith("upperleg01."):
            extra = _rotation_between(g[c] @ (heads[idx[f"lowerleg01.{side}"]] - heads[c]), _DOWN)
        elif name.startswith("lowerleg01."):
            extra = _rotation_between(g[c] @ (heads[idx[f"foot.{side}"]] - heads[c]), _DOWN)
        elif name.startswith("upperarm01."):
            extra = _rotation_between(g[c] @ (heads[idx[f"lowerarm01.{side}"]] - heads[c]), _DOWN)
        elif name.startswith("lowerarm01."):
            extra = _rotation_between(g[c] @ (heads[idx[f"wrist.{side}"]] - heads[c]), _DOWN)
        elif name.startswith("lowerarm02."):
            # Palms forward: the index-to-little knuckle line points medially (+X_anny on the
            # right, -X_anny on the left), a twist about the vertical forearm axis.
            knuckles = g[c] @ (heads[idx[f"finger5-1.{side}"]] - heads[idx[f"finger2-1.{side}"]])
            medial = np.array([1.0 if side == "R" else -1.0, 0.0, 0.0])
            ang = np.arctan2(knuckles[1], knuckles[0]) - np.arctan2(medial[1], medial[0])
            extra = _rot_about(_DOWN, ang)
        elif name.startswith("wrist."):
            extra = _rotation_between(g[c] @ (heads[idx[f"finger3-1.{side}"]] - heads[c]), _DOWN)
        if extra is not None:
            g[c] = extra @ g[c]
    return g


def anny_neutral(shape: np.ndarray) -> NeutralAnny:
    """Anny with phenotype values ``shape`` (S,) in the anatomical neutral, OpenSim frame."""
    model = load_anny()
    dt = model.dtype
    pheno = torch.as_tensor(np.asarray(shape, dtype=np.float64), dtype=dt)[None]
    coeffs = model._get_phenotype_blendshape_coefficients(
        pheno,
        torch.zeros(1, len(model.local_change_labels), dtype=dt),
        torch.zeros(1, len(model.facial_action_labels), dtype=dt),
    )
    with torch.no_grad():
        rest = model.get_rest_model(coeffs)
        rest_poses = rest["rest_bone_poses"][0].numpy()
        labels = tuple(model.bone_labels)
        parents = [int(p) for p in model.bone_parents]
        g = _neutral_rotations(rest_poses[:, :3, 3], labels, parents)
        delta = np.tile(np.eye(4), (len(labels), 1, 1))
        delta[:, :3, :3] = g @ rest_poses[:, :3, :3]
        delta[0, :3, 3] = rest_poses[0, :3, 3]
        out = model(
            pose_parameters=torch.as_tensor(delta, dtype=dt)[None],
            phenotype_kwargs=pheno,
            pose_parameterization="world-orient",
        )
    verts = out["vertices"][0].numpy() @ ANNY_TO_OPENSIM.T
    heads = out["bone_poses"][0, :, :3, 3].numpy() @ ANNY_TO_OPENSIM.T
    return NeutralAnny(
        vertices_m=verts,
        bone_heads_m={n: heads[i] for i, n in enumerate(labels)},
        faces=model.faces.numpy().astype(np.int64),
        vertex_bone_indices=model.vertex_bone_indices.numpy().astype(np.int64),
        vertex_bone_weights=model.vertex_bone_weights.numpy().astype(np.float64),
        bone_labels=labels,
    )
