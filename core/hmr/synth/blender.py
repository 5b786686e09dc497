"""Running Blender's Python (``.venv-blender``, bpy 5.x, no torch) from the core venv.

The Blender interpreter lives beside the core venv at ``REPO/.venv-blender/bin/python`` (see
``requirements-blender.txt``); ``BIOMOCAP_BLENDER_PYTHON`` points elsewhere. Scripts run in a
clean environment (no ``PYTHONPATH``: the core venv's packages must not leak into Python 3.13).
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

__all__ = [
    "REPO",
    "BLENDER_PYTHON",
    "OPENSIM_TO_BLENDER",
    "BlenderNotFoundError",
    "blender_python",
    "blender_env",
    "camera_matrix_blender",
]

REPO = Path(__file__).resolve().parents[3]
BLENDER_PYTHON = REPO / ".venv-blender" / "bin" / "python"

# OpenSim world (X anterior, Y up, Z right) -> Blender world (Z up): a proper rotation.
OPENSIM_TO_BLENDER = np.array([[1.0, 0.0, 0.0], [0.0, 0.0, -1.0], [0.0, 1.0, 0.0]])


class BlenderNotFoundError(FileNotFoundError):
    """The Blender interpreter (.venv-blender) is missing."""


def blender_python() -> Path:
    """The Blender interpreter, or BlenderNotFoundError saying how to install it."""
    path = Path(os.environ.get("BIOMOCAP_BLENDER_PYTHON", BLENDER_PYTHON))
    if not path.is_file():
        raise BlenderNotFoundError(
            f"Blender interpreter not found: {path} (create .venv-blender with Python 3.13 and "
            "`pip install -r requirements-blender.txt`, or set BIOMOCAP_BLENDER_PYTHON)"
        )
    return path


def blender_env() -> dict[str, str]:
    """Environment for a Blender subprocess: ours without PYTHONPATH."""
    env = dict(os.environ)
    env.pop("PYTHONPATH", None)
    return env


def camera_matrix_blender(
    right: np.ndarray, up: np.ndarray, forward: np.ndarray, centre_m: np.ndarray
) -> np.ndarray:
    """Blender ``matrix_world`` (4, 4) of a camera whose image right/up/viewing directions and
    centre are given in the OpenSim world (a Blender camera looks along its local -Z, +Y up)."""
    r, u, f = (OPENSIM_TO_BLENDER @ np.asarray(v, dtype=np.float64) for v in (right, up, forward))
    m = np.eye(4)
    m[:3, 0], m[:3, 1], m[:3, 2] = r, u, -f
    m[:3, 3] = OPENSIM_TO_BLENDER @ np.asarray(centre_m, dtype=np.float64)
    return m
