"""What an import or a retarget becomes in Blender, decided without bpy: the motion put on the
floor (and resampled/smoothed as asked), the capture's identity, and the take's name."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from . import bsm46
from .bundle import MotionBundle
from .ground import GroundInfo, ground_motion, resample, smooth
from .kinematics import forward_kinematics

__all__ = ["PreparedMotion", "prepare_motion", "capture_id", "take_name"]

MAX_NAME = 63  # Blender's ID name length


@dataclass
class PreparedMotion:
    fps: float  # frame rate of q_rad/root_m (the scene's when resampled)
    q_rad: np.ndarray  # (T, 46)
    root_m: np.ndarray  # (T, 3) OpenSim frame, floor at Y = 0
    contacts: np.ndarray  # (T, 4) 0..1
    shift_m: (
        np.ndarray
    )  # (3,) added to the bundle's world (root and camera) to put it on the floor
    ground: GroundInfo


def prepare_motion(
    bundle: MotionBundle, *, target_fps: float | None = None, smoothing_frames: float = 0.0
) -> PreparedMotion:
    """Smooth (zero-phase Gaussian, sigma in source frames), resample to ``target_fps`` and put
    the motion on the floor: a bundle with a world record already has its floor at Y = 0;
    otherwise the floor is found under the feet (ground.py). Joint angles stay within their
    limits: smoothing and linear resampling only average in-limit values."""
    q = np.unwrap(bundle.q_rad, axis=0)  # pelvis angles may wrap
    root = bundle.root_m
    contacts = bundle.contacts
    if smoothing_frames > 0:
        q = smooth(q, smoothing_frames)
        root = smooth(root, smoothing_frames)
    fps = bundle.fps
    if target_fps and abs(target_fps - bundle.fps) > 1e-6:
        q = resample(q, bundle.fps, target_fps)
        root = resample(root, bundle.fps, target_fps)
        if contacts is not None:
            contacts = resample(contacts, bundle.fps, target_fps)
        fps = float(target_fps)
    lo = np.array([d[3] for d in bsm46.DOFS]) * np.pi / 180
    hi = np.array([d[4] for d in bsm46.DOFS]) * np.pi / 180
    q = np.clip(q, lo, hi)
    _, origins = forward_kinematics(q, root, bundle.offsets_m)
    world = bundle.world is not None
    g = ground_motion(
        origins,
        fps,
        bundle.offsets_m,
        contacts=contacts,
        world_frame=world,
        surface_vertices_m=None if bundle.surface is None else bundle.surface.vertices_m,
    )
    shift = np.array([0.0, -g.floor_y_m, 0.0])
    return PreparedMotion(fps, q, root + shift, g.contacts, shift, g)


def capture_id(path: str | Path) -> str:
    """Short content hash of a bundle file: ties an armature (and its takes) to one capture."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()[:16]


def take_name(clip: str, person: str = "", settings: str = "") -> str:
    """``clip [person] settings`` within Blender's name length."""
    name = clip
    if person:
        name += f" [{person}]"
    if settings:
        name += f" {settings}"
    return name[:MAX_NAME]
