"""A BSM-46 subject and marker set taken from another OpenSim model (e.g. a scaled gait2392).

Both models stand in their zero pose with every body frame parallel to ground (true for the
gait2392/gait10dof/Rajagopal families), so a joint centre or marker is carried over by its
ground position: mapped bodies keep the other model's joint centres, the rest (spine above the
lumbar joint, head, arms) come from ``core.skeleton.default_offsets`` for the subject's height.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from biomech_export._opensim import require_opensim
from core import skeleton as sk
from core.motion import Motion

__all__ = ["GAIT2392_BODY_MAP", "GAIT2392_MARKER_BODIES", "SubjectFromModel", "subject_from_osim"]

log = logging.getLogger(__name__)

# their body -> our body whose joint centre (origin) equals their body's origin
GAIT2392_BODY_MAP = {
    **{f"{b}_{s}": f"{b}_{s}" for b in ("femur", "tibia", "talus", "calcn", "toes") for s in "rl"},
    "pelvis": "pelvis",
    "torso": "lumbar",
}
# markers whose BSM-46 body is not simply the image of their body
GAIT2392_MARKER_BODIES = {
    "Top.Head": "head",
    "Sternum": "thorax",
    "R.Acromium": "thorax",
    "L.Acromium": "thorax",
}


@dataclass
class SubjectFromModel:
    motion: Motion  # one frame, zero pose, root at the other model's pelvis height
    mass_kg: float
    height_m: float
    unmapped_markers: tuple[str, ...]


def _vec(v) -> np.ndarray:
    return np.array([v.get(0), v.get(1), v.get(2)])


def subject_from_osim(
    osim_path: str | Path,
    *,
    body_map: dict[str, str] | None = None,
    marker_bodies: dict[str, str] | None = None,
    height_m: float | None = None,
) -> SubjectFromModel:
    """BSM-46 skeleton, mass and markers of the subject in another OpenSim model."""
    osim = require_opensim()
    osim_path = Path(osim_path)
    if not osim_path.is_file():
        raise FileNotFoundError(f"model not found: {osim_path}")
    body_map = GAIT2392_BODY_MAP if body_map is None else body_map
    marker_bodies = GAIT2392_MARKER_BODIES if marker_bodies is None else marker_bodies
    model = osim.Model(str(osim_path))
    state = model.initSystem()
    mass = float(model.getTotalMass(state))
    bodies = model.getBodySet()
    their_pos: dict[str, np.ndarray] = {}
    for i in range(bodies.getSize()):
        b = bodies.get(i)
        rot = b.getTransformInGround(state).R()
        if max(abs(rot.get(r, c) - (r == c)) for r in range(3) for c in range(3)) > 1e-6:
            raise ValueError(
                f"{osim_path.name}: body {b.getName()} is not parallel to ground at "
                "the default pose; cannot carry joint centres over"
            )
        their_pos[b.getName()] = _vec(b.getPositionInGround(state))
    missing = [t for t in body_map if t not in their_pos]
    if missing:
        raise ValueError(f"{osim_path.name} lacks the mapped bodies {missing}")
    markers = model.getMarkerSet()
    m_names, m_ground, m_their_body = [], [], []
    for i in range(markers.getSize()):
        mk = markers.get(i)
        m_names.append(mk.getName())
        m_ground.append(_vec(mk.getLocationInGround(state)))
        m_their_body.append(mk.getParentFrame().getName())
    m_ground_arr = np.array(m_ground).reshape(-1, 3)
    if height_m is None:
        floor = float(min(their_pos[b][1] for b in their_pos) - 0.02)
        floor = min(floor, float(m_ground_arr[:, 1].min()) - 0.005) if len(m_ground) else floor
        height_m = float(m_ground_arr[:, 1].max() - floor) if len(m_ground) else 1.75
        log.info("%s: stature estimated from its markers: %.3f m", osim_path.name, height_m)
    default = sk.default_offsets(height_m)
    ours = {v: k for k, v in body_map.items()}
    pos = np.zeros((sk.N_BODIES, 3))
    par = sk.parents()
    for i, name in enumerate(sk.BODY_NAMES):
        if name in ours:
            pos[i] = their_pos[ours[name]]
        elif par[i] >= 0:
            pos[i] = pos[par[i]] + default[i]
    root = pos[sk.BODY["pelvis"]]
    offsets = np.zeros((sk.N_BODIES, 3))
    for i in range(1, sk.N_BODIES):
        offsets[i] = pos[i] - pos[par[i]]
    names, bodies_idx, local, skipped = [], [], [], []
    for n, g, tb in zip(m_names, m_ground_arr, m_their_body, strict=True):
        ob = marker_bodies.get(n, body_map.get(tb))
        if ob is None:
            skipped.append(n)
            continue
        names.append(n)
        bodies_idx.append(sk.BODY[ob])
        local.append(g - pos[sk.BODY[ob]])
    motion = Motion(
        fps=100.0,
        q_rad=np.zeros((1, sk.N_DOFS)),
        root_m=root[None],
        offsets_m=offsets,
        height_m=height_m,
        mass_kg=mass,
        marker_names=tuple(names),
        marker_bodies=np.array(bodies_idx, dtype=np.int64),
        marker_local_m=np.array(local).reshape(-1, 3),
        provenance={"subject": f"joint centres, markers and mass from {osim_path.name}"},
    )
    return SubjectFromModel(motion, mass, height_m, tuple(skipped))
