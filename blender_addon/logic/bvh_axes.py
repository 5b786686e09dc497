"""Turn a BVH file written in Blender's axes (Z up) into the Y-up convention that BVH readers,
Blender's own importer with its defaults included (forward -Z, up Y), expect.

Every BVH joint frame is parallel to the file's axes at rest, so a change of axes ``A`` maps
offsets and positions by ``v -> A v`` and each joint rotation by ``M -> A M A^T`` (re-split into
the joint's own channel order)."""

from __future__ import annotations

import numpy as np

__all__ = ["Z_UP_TO_Y_UP", "convert_bvh_axes", "euler_to_matrix", "matrix_to_euler"]

# Blender (x, y, z) -> file (x, z, -y): the inverse of Blender's BVH import conversion
Z_UP_TO_Y_UP = np.array([[1.0, 0.0, 0.0], [0.0, 0.0, 1.0], [0.0, -1.0, 0.0]])
_AX = {"X": 0, "Y": 1, "Z": 2}


def _rot(axis: int, ang: np.ndarray) -> np.ndarray:
    c, s = np.cos(ang), np.sin(ang)
    m = np.zeros(ang.shape + (3, 3))
    i, j = (axis + 1) % 3, (axis + 2) % 3
    m[..., axis, axis] = 1
    m[..., i, i] = c
    m[..., j, j] = c
    m[..., i, j] = -s
    m[..., j, i] = s
    return m


def euler_to_matrix(deg: np.ndarray, order: str) -> np.ndarray:
    """(..., 3) degrees in channel order (e.g. "ZXY") -> (..., 3, 3) = R_1 R_2 R_3."""
    rad = np.deg2rad(np.asarray(deg, dtype=np.float64))
    m = _rot(_AX[order[0]], rad[..., 0])
    for k in (1, 2):
        m = m @ _rot(_AX[order[k]], rad[..., k])
    return m


def matrix_to_euler(m: np.ndarray, order: str) -> np.ndarray:
    """(..., 3, 3) -> (..., 3) degrees with ``euler_to_matrix(result, order) == m``."""
    i, j, k = (_AX[c] for c in order)
    sign = 1.0 if (i, j, k) in ((0, 1, 2), (1, 2, 0), (2, 0, 1)) else -1.0
    b = np.arcsin(np.clip(sign * m[..., i, k], -1.0, 1.0))
    a = np.arctan2(-sign * m[..., j, k], m[..., k, k])
    c = np.arctan2(-sign * m[..., i, j], m[..., i, i])
    return np.rad2deg(np.stack([a, b, c], -1))


def convert_bvh_axes(text: str, axes: np.ndarray = Z_UP_TO_Y_UP) -> str:
    """The BVH ``text`` with every offset, position and rotation expressed in new axes."""
    lines = text.splitlines()
    try:
        motion_at = next(n for n, line in enumerate(lines) if line.strip() == "MOTION")
    except StopIteration as e:
        raise ValueError("not a BVH file: no MOTION section") from e
    channels: list[list[str]] = []
    head = []
    for line in lines[:motion_at]:
        parts = line.split()
        if parts and parts[0] == "OFFSET":
            v = axes @ np.array([float(x) for x in parts[1:4]])
            indent = line[: len(line) - len(line.lstrip())]
            line = f"{indent}OFFSET {v[0]:.6f} {v[1]:.6f} {v[2]:.6f}"
        elif parts and parts[0] == "CHANNELS":
            channels.append(parts[2 : 2 + int(parts[1])])
        head.append(line)
    rows = [line for line in lines[motion_at + 3 :] if line.strip()]
    data = np.array([[float(x) for x in r.split()] for r in rows]).reshape(len(rows), -1)
    col = 0
    for ch in channels:
        pos = [col + n for n, c in enumerate(ch) if c.endswith("position")]
        rot = [col + n for n, c in enumerate(ch) if c.endswith("rotation")]
        if len(pos) == 3:
            order = [ch[p - col][0] for p in pos]
            v = np.zeros((len(rows), 3))
            for n, p in enumerate(pos):
                v[:, _AX[order[n]]] = data[:, p]
            v = v @ axes.T
            for n, p in enumerate(pos):
                data[:, p] = v[:, _AX[order[n]]]
        if len(rot) == 3:
            order = "".join(ch[r - col][0] for r in rot)
            m = axes @ euler_to_matrix(data[:, rot], order) @ axes.T
            data[:, rot] = matrix_to_euler(m, order)
        col += len(ch)
    if col != data.shape[1]:
        raise ValueError(f"BVH declares {col} channels but its frames have {data.shape[1]} values")
    body = [" ".join(f"{v:.6f}" for v in row) for row in data]
    return "\n".join([*head, *lines[motion_at : motion_at + 3], *body]) + "\n"
