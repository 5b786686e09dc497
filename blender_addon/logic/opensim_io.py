"""Read a BSM-46 OpenSim model (.osim written by biomech_export) and a coordinates file (.mot)
into a MotionBundle, with the standard library's XML parser and numpy (no opensim package).

Only BSM-46 models are accepted: joint names from the BSM-46 table, CustomJoints whose parent
offset frame carries the joint centre (``offsets_m``) and no orientation offsets.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from pathlib import Path

import numpy as np

from . import bsm46
from .bundle import BundleError, MotionBundle
from .kinematics import forward_kinematics

__all__ = ["read_osim_skeleton", "read_mot", "bundle_from_opensim"]


def _vec(text: str | None) -> np.ndarray:
    return np.array([float(v) for v in (text or "").split()], dtype=np.float64)


def read_osim_skeleton(path: str | Path) -> tuple[np.ndarray, float]:
    """(24, 3) joint-centre offsets and total mass (kg) of a BSM-46 .osim."""
    path = Path(path)
    try:
        root = ET.parse(path).getroot()
    except (OSError, ET.ParseError) as e:
        raise BundleError(f"cannot read OpenSim model {path.name}: {e}") from e
    joints = {j.get("name"): j for j in root.iter() if j.tag.endswith("Joint") and j.get("name")}
    offsets = np.zeros((bsm46.N_BODIES, 3))
    for i, (_body, _parent, joint_name, _jt) in enumerate(bsm46.BODIES):
        j = joints.get(joint_name)
        if j is None:
            raise BundleError(
                f"{path.name} is not a BSM-46 model (no joint '{joint_name}'); "
                "import models written by biomech_export"
            )
        parent_frame = (j.findtext("socket_parent_frame") or "").strip()
        frame = next(
            (f for f in j.iter("PhysicalOffsetFrame") if f.get("name") == parent_frame), None
        )
        if frame is None:
            raise BundleError(f"{path.name}: joint {joint_name} has no frame {parent_frame}")
        if np.abs(_vec(frame.findtext("orientation"))).max(initial=0.0) > 1e-9:
            raise BundleError(f"{path.name}: joint {joint_name} has a rotated offset frame")
        t = _vec(frame.findtext("translation"))
        if t.shape != (3,):
            raise BundleError(f"{path.name}: joint {joint_name} has a bad translation")
        offsets[i] = t
    mass = sum(float(b.findtext("mass") or 0) for b in root.iter("Body"))
    return offsets, mass


def read_mot(path: str | Path) -> tuple[np.ndarray, tuple[str, ...], np.ndarray, bool | None]:
    """times (T,), labels, data (T, C) as stored, inDegrees (None when the header is silent)."""
    path = Path(path)
    try:
        lines = path.read_text(encoding="utf-8", errors="replace").splitlines()
    except OSError as e:
        raise BundleError(f"cannot read {path.name}: {e}") from e
    end = next((i for i, ln in enumerate(lines) if ln.strip().lower() == "endheader"), None)
    if end is None:
        raise BundleError(f"{path.name} has no 'endheader' line: not an OpenSim .mot file")
    deg = None
    for ln in lines[:end]:
        if ln.strip().lower().startswith("indegrees="):
            deg = ln.split("=", 1)[1].strip().lower() == "yes"
    labels = lines[end + 1].split()
    if not labels or labels[0].lower() != "time":
        raise BundleError(f"{path.name}: the label row after 'endheader' must start with 'time'")
    rows = [ln.split() for ln in lines[end + 2 :] if ln.strip()]
    try:
        data = np.array(rows, dtype=np.float64)
    except ValueError as e:
        raise BundleError(f"{path.name}: non-numeric or ragged data ({e})") from e
    if data.ndim != 2 or data.shape[1] != len(labels) or len(data) < 1:
        raise BundleError(f"{path.name}: {len(labels)} labels but data of shape {data.shape}")
    return data[:, 0], tuple(labels[1:]), data[:, 1:], deg


def bundle_from_opensim(osim_path: str | Path, mot_path: str | Path) -> MotionBundle:
    """A MotionBundle (no surface, no camera) from a BSM-46 .osim and its .mot."""
    offsets, mass = read_osim_skeleton(osim_path)
    times, labels, data, deg = read_mot(mot_path)
    col = {n: k for k, n in enumerate(labels)}
    missing = [n for n in bsm46.DOF_NAMES if n not in col]
    if missing:
        raise BundleError(f"{Path(mot_path).name} lacks BSM-46 coordinate(s) {missing[:4]}")
    q = data[:, [col[n] for n in bsm46.DOF_NAMES]]
    if deg is None or deg:
        q = np.deg2rad(q)
    root = np.zeros((len(times), 3))
    for k, n in enumerate(("pelvis_tx", "pelvis_ty", "pelvis_tz")):
        if n in col:
            root[:, k] = data[:, col[n]]
    dt = np.diff(times)
    fps = float(1.0 / np.median(dt)) if len(dt) and np.median(dt) > 0 else 30.0
    _, origins = forward_kinematics(np.zeros(bsm46.N_DOFS), np.zeros(3), offsets)
    # stature ~ 1.2-1.25 x the span of joint centres (default adult 1.20, Anny subject 1.25)
    height = float(origins[:, 1].max() - origins[:, 1].min()) * 1.23
    return MotionBundle(
        path=Path(mot_path),
        fps=fps,
        q_rad=q,
        root_m=root,
        offsets_m=offsets,
        height_m=height,
        mass_kg=mass,
        marker_names=(),
        marker_bodies=np.zeros(0, np.int64),
        marker_local_m=np.zeros((0, 3)),
        camera=None,
        surface=None,
        provenance={"opensim": {"osim": str(osim_path), "mot": str(mot_path)}},
    )
