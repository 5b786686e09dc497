"""Visual geometry for the exported model: one Wavefront .obj mesh per body (numpy only).

With a subject surface, each body gets the faces whose vertices it dominates in the skinning
weights; without one, each body gets an ellipsoid spanning its segment.
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np

from core import fk_numpy
from core import skeleton as sk
from core.motion import Surface, atomic_write

__all__ = ["write_obj", "surface_meshes", "ellipsoid_meshes", "segment_vectors"]

log = logging.getLogger(__name__)


def write_obj(path: Path, vertices: np.ndarray, faces: np.ndarray) -> Path:
    """Write a triangle mesh (V, 3) metres, (F, 3) 0-based as a .obj file, atomically."""
    vertices = np.asarray(vertices, dtype=np.float64)
    faces = np.asarray(faces, dtype=np.int64)
    if vertices.ndim != 2 or vertices.shape[1] != 3 or faces.ndim != 2 or faces.shape[1] != 3:
        raise ValueError(
            f"expected (V, 3) vertices and (F, 3) faces, got {vertices.shape}, {faces.shape}"
        )

    def write(f) -> None:
        f.write("# biomocap body mesh, metres, body frame\n")
        f.writelines(f"v {x:.6f} {y:.6f} {z:.6f}\n" for x, y, z in vertices)
        f.writelines(f"f {a + 1} {b + 1} {c + 1}\n" for a, b, c in faces)

    atomic_write(path, write)
    return path


def segment_vectors(offsets_m: np.ndarray, height_m: float) -> np.ndarray:
    """(24, 3) a vector from each body's origin along its segment, in the body frame."""
    vec = np.zeros((sk.N_BODIES, 3))
    par = sk.parents()
    for i in range(sk.N_BODIES):
        kids = [
            k
            for k in range(sk.N_BODIES)
            if par[k] == i and not sk.BODY_NAMES[k].startswith("scapula")
        ]
        if kids:
            vec[i] = np.mean(offsets_m[kids], axis=0)
    s = height_m / 1.75
    vec[sk.BODY["head"]] = (0.0, 0.22 * s, 0.0)
    for side in "rl":
        vec[sk.BODY[f"hand_{side}"]] = (0.0, -0.18 * s, 0.0)
        vec[sk.BODY[f"toes_{side}"]] = (0.05 * s, 0.0, 0.0)
        vec[sk.BODY[f"scapula_{side}"]] = offsets_m[sk.BODY[f"humerus_{side}"]]
    return vec


def _unit_sphere(n_lat: int = 8, n_lon: int = 12) -> tuple[np.ndarray, np.ndarray]:
    verts = [(0.0, 0.0, 1.0)]
    for i in range(1, n_lat):
        th = np.pi * i / n_lat
        for j in range(n_lon):
            ph = 2 * np.pi * j / n_lon
            verts.append((np.sin(th) * np.cos(ph), np.sin(th) * np.sin(ph), np.cos(th)))
    verts.append((0.0, 0.0, -1.0))
    faces = []
    for j in range(n_lon):
        faces.append((0, 1 + j, 1 + (j + 1) % n_lon))
    for i in range(n_lat - 2):
        a0, b0 = 1 + i * n_lon, 1 + (i + 1) * n_lon
        for j in range(n_lon):
            j1 = (j + 1) % n_lon
            faces += [(a0 + j, b0 + j, b0 + j1), (a0 + j, b0 + j1, a0 + j1)]
    last = len(verts) - 1
    base = 1 + (n_lat - 2) * n_lon
    for j in range(n_lon):
        faces.append((last, base + (j + 1) % n_lon, base + j))
    return np.array(verts), np.array(faces, dtype=np.int64)


def ellipsoid_meshes(
    offsets_m: np.ndarray, height_m: float
) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Body name -> (vertices, faces): an ellipsoid from the origin to the segment's end."""
    sphere, faces = _unit_sphere()
    out = {}
    for name, vec in zip(sk.BODY_NAMES, segment_vectors(offsets_m, height_m), strict=True):
        length = float(np.linalg.norm(vec))
        if length < 1e-6:
            continue
        axis = vec / length
        # orthonormal frame with the segment as local z
        helper = np.array([1.0, 0.0, 0.0]) if abs(axis[0]) < 0.9 else np.array([0.0, 1.0, 0.0])
        u = np.cross(axis, helper)
        u /= np.linalg.norm(u)
        v = np.cross(axis, u)
        radius = max(0.12 * length, 0.02 * height_m / 1.75)
        if name in ("pelvis", "lumbar", "thorax"):
            radius = 0.09 * height_m / 1.75
        pts = sphere * np.array([radius, radius, 0.5 * length])
        verts = 0.5 * vec + pts @ np.stack([u, v, axis])
        out[name] = (verts, faces)
    return out


def surface_meshes(
    surface: Surface, offsets_m: np.ndarray
) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Split the zero-pose surface by each vertex's dominant skin body; vertices in body frames."""
    _, origins = fk_numpy.forward_kinematics(np.zeros(sk.N_DOFS), np.zeros(3), offsets_m)
    w = np.asarray(surface.skin_weights)
    dominant = np.asarray(surface.skin_bodies)[np.arange(len(w)), np.argmax(w, axis=1)]
    faces = np.asarray(surface.faces, dtype=np.int64)
    face_body = dominant[faces[:, 0]]
    out = {}
    for i, name in enumerate(sk.BODY_NAMES):
        f = faces[face_body == i]
        if len(f) == 0:
            continue
        used, inverse = np.unique(f, return_inverse=True)
        verts = np.asarray(surface.vertices_m)[used] - origins[i]  # zero pose: frames parallel
        out[name] = (verts, inverse.reshape(-1, 3))
    return out
