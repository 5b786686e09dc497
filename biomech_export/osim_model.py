"""Build the subject's BSM-46 OpenSim model (``.osim``) with the opensim API.

Bodies carry de Leva masses and inertias (``core.anthropometry``); each joint is a
``CustomJoint`` whose ``SpatialTransform`` rotates about the ``core.skeleton`` DOF axes in DOF
order (body-fixed, as ``core.fk_numpy`` does); the root joint ``ground_pelvis`` follows gait2392
(rotation1..3 = pelvis_tilt, pelvis_list, pelvis_rotation, then pelvis_tx/ty/tz along ground X, Y,
Z). Coordinate ranges equal the BSM-46 limits and are clamped; the virtual markers of the motion
become the model's markers.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from biomech_export._opensim import c_numeric_locale, require_opensim
from biomech_export.geometry import ellipsoid_meshes, surface_meshes, write_obj
from core import skeleton as sk
from core.anthropometry import segment_inertia
from core.motion import Motion, atomic_write

__all__ = ["OsimExport", "build_model", "write_osim", "GRAVITY", "ROOT_RANGE_RAD", "ROOT_RANGE_M"]

log = logging.getLogger(__name__)

GRAVITY = (0.0, -9.80665, 0.0)
ROOT_RANGE_RAD = (-2.0 * math.pi, 2.0 * math.pi)  # pelvis rotations are unlimited
ROOT_RANGE_M = (-100.0, 100.0)


@dataclass
class OsimExport:
    osim_path: Path
    geometry_dir: Path | None
    mesh_files: tuple[str, ...]
    total_mass_kg: float
    n_markers: int


def _independent_axes(used: list[np.ndarray]) -> list[np.ndarray]:
    """Complete the used rotation axes to three linearly independent ones (Gram-Schmidt)."""
    basis = [u / np.linalg.norm(u) for u in used]
    ortho: list[np.ndarray] = []
    for b in basis:
        v = b - sum(np.dot(b, o) * o for o in ortho)
        ortho.append(v / np.linalg.norm(v))
    out = list(basis)
    for cand in np.eye(3):
        if len(out) == 3:
            break
        v = cand - sum(np.dot(cand, o) * o for o in ortho)
        if np.linalg.norm(v) > 1e-6:
            v = v / np.linalg.norm(v)
            ortho.append(v)
            out.append(v)
    return out


def _spatial_transform(osim: Any, body: sk.Body) -> Any:
    st = osim.SpatialTransform()
    dofs = [sk.DOFS[sk.DOF[n]] for n in body.dofs]
    axes = _independent_axes([np.array(d.axis) for d in dofs])
    for k in range(3):
        ta = st.updTransformAxis(k)
        ta.setAxis(osim.Vec3(*map(float, axes[k])))
        if k < len(dofs):
            ta.setCoordinateNames(osim.ArrayStr(dofs[k].name, 1))
            ta.set_function(osim.LinearFunction(1.0, 0.0))
        else:
            ta.set_function(osim.Constant(0.0))
    for k in range(3):
        ta = st.updTransformAxis(3 + k)
        ta.setAxis(osim.Vec3(*map(float, np.eye(3)[k])))
        if body.parent is None:
            ta.setCoordinateNames(osim.ArrayStr(sk.ROOT_TRANSLATION_NAMES[k], 1))
            ta.set_function(osim.LinearFunction(1.0, 0.0))
        else:
            ta.set_function(osim.Constant(0.0))
    return st


def build_model(
    motion: Motion,
    *,
    name: str = "bsm46",
    sex: str = "male",
    mesh_files: dict[str, str] | None = None,
) -> Any:
    """An ``opensim.Model`` of the subject in ``motion`` (skeleton, masses, markers), not yet
    initialised. ``mesh_files`` maps body name -> mesh file name to attach as visual geometry."""
    osim = require_opensim()
    inert = segment_inertia(motion.offsets_m, motion.mass_kg, motion.height_m, sex)
    model = osim.Model()
    model.setName(name)
    model.setGravity(osim.Vec3(*GRAVITY))
    bodies: dict[str, Any] = {}
    lo, hi = sk.limits_rad()
    for i, b in enumerate(sk.BODIES):
        in_ = inert.inertia_kgm2[i]
        body = osim.Body(
            b.name,
            float(inert.masses_kg[i]),
            osim.Vec3(*map(float, inert.com_local_m[i])),
            osim.Inertia(
                float(in_[0, 0]),
                float(in_[1, 1]),
                float(in_[2, 2]),
                float(in_[0, 1]),
                float(in_[0, 2]),
                float(in_[1, 2]),
            ),
        )
        model.addBody(body)
        if mesh_files and b.name in mesh_files:
            mesh = osim.Mesh(mesh_files[b.name])
            mesh.setName(f"{b.name}_geom")
            body.attachGeometry(mesh)
        bodies[b.name] = body
        parent = model.getGround() if b.parent is None else bodies[b.parent]
        joint = osim.CustomJoint(
            b.joint,
            parent,
            osim.Vec3(*map(float, motion.offsets_m[i])),
            osim.Vec3(0, 0, 0),
            body,
            osim.Vec3(0, 0, 0),
            osim.Vec3(0, 0, 0),
            _spatial_transform(osim, b),
        )
        model.addJoint(joint)
    for mname, bi, loc in zip(
        motion.marker_names, motion.marker_bodies, motion.marker_local_m, strict=True
    ):
        model.addMarker(
            osim.Marker(mname, bodies[sk.BODY_NAMES[int(bi)]], osim.Vec3(*map(float, loc)))
        )
    model.finalizeFromProperties()
    coords = model.updCoordinateSet()
    for k in range(coords.getSize()):
        _set_range(coords.get(k), lo, hi)
    model.finalizeConnections()
    return model


def _set_range(coord: Any, lo: np.ndarray, hi: np.ndarray) -> None:
    cname = coord.getName()
    coord.setDefaultValue(0.0)
    if cname in sk.DOF:
        j = sk.DOF[cname]
        if sk.DOFS[j].limited:
            coord.setRangeMin(float(lo[j]))
            coord.setRangeMax(float(hi[j]))
            coord.setDefaultClamped(True)
            return
        rng = ROOT_RANGE_RAD
    else:
        rng = ROOT_RANGE_M
    coord.setRangeMin(rng[0])
    coord.setRangeMax(rng[1])
    coord.setDefaultClamped(False)


def write_osim(
    motion: Motion,
    path: str | Path,
    *,
    name: str | None = None,
    sex: str = "male",
    geometry: bool = True,
) -> OsimExport:
    """Write ``path`` (.osim) and, with ``geometry``, one mesh per body in ``Geometry/`` beside it.
    The model is checked with ``initSystem()`` before it is written."""
    path = Path(path)
    if path.suffix != ".osim":
        raise ValueError(f"model path must end in .osim, got {path}")
    name = name or path.stem
    mesh_files: dict[str, str] = {}
    geom_dir = None
    if geometry:
        geom_dir = path.parent / "Geometry"
        meshes = (
            surface_meshes(motion.surface, motion.offsets_m)
            if motion.surface is not None
            else ellipsoid_meshes(motion.offsets_m, motion.height_m)
        )
        for body, (v, f) in meshes.items():
            fname = f"{name}_{body}.obj"
            write_obj(geom_dir / fname, v, f)
            mesh_files[body] = fname
    osim = require_opensim()
    level = osim.Logger.getLevelString()
    osim.Logger.setLevelString("Error")  # an unsaved model cannot find its meshes yet: noise
    try:
        model = build_model(motion, name=name, sex=sex, mesh_files=mesh_files)
    finally:
        osim.Logger.setLevelString(level)
    tmp = path.parent / f".{path.stem}.tmp.osim"
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        with c_numeric_locale():
            model.printToXML(str(tmp))
        check = osim.Model(str(tmp))  # the written file itself must load and initialise
        total = float(check.getTotalMass(check.initSystem()))
        text = tmp.read_text(encoding="utf-8")
    finally:
        tmp.unlink(missing_ok=True)
    atomic_write(path, lambda f: f.write(text))
    log.info(
        "wrote %s (%d bodies, %d markers, %.1f kg)",
        path,
        sk.N_BODIES,
        len(motion.marker_names),
        total,
    )
    return OsimExport(path, geom_dir, tuple(mesh_files.values()), total, len(motion.marker_names))
