"""Segment masses, centres of mass and inertias for the BSM-46 bodies (numpy only).

Source: de Leva P. (1996) "Adjustments to Zatsiorsky-Seluyanov's segment inertia parameters",
J Biomech 29(9):1223-1230, Table 4 (adult male / female): segment mass as % of body mass, COM
position as % of the segment length from the proximal end point, radii of gyration as % of the
segment length about the sagittal (antero-posterior, our X), transverse (medio-lateral, our Z)
and longitudinal (along the segment) axes.

How BSM-46 bodies map onto de Leva's 15 segments (bodies de Leva does not have share a segment):

- pelvis = lower trunk (OMPH-MIDH); lumbar = middle trunk (XYPH-OMPH); thorax = upper trunk
  (CERV-XYPH) minus both scapulae; head = head + neck (VERT-CERV).
- scapula_r/l: de Leva has no shoulder-girdle segment. Each scapula (with clavicle) takes
  ``SCAPULA_FRACTION_OF_UPPER_TRUNK`` of the upper-trunk mass (an assumption, close to the
  shoulder-girdle mass of OpenSim's upper-body models), with a small solid-sphere inertia.
- ulna/radius: the forearm is split 50/50 (as in OpenSim's Rajagopal 2016 model); both halves
  keep the forearm COM location and half its inertia, each expressed in its own body frame.
- talus/calcn/toes: the foot is split in gait2392's mass proportions (talus 6.4 %, calcaneus
  79.8 %, toes 13.8 %). The calcaneus carries the foot COM (de Leva: 44.15 % of heel-to-toe-tip
  from the heel); talus and toes get point-like COMs at their joint / mid-segment with the foot's
  radii of gyration scaled by their share of the length.

Segment lengths come from the subject's joint offsets where BSM-46 has both end joints (thigh,
shank, upper arm, forearm, trunk parts); otherwise (head, hand, foot) from de Leva's mean length
scaled by stature. Principal axes are the body axes at the zero pose (the segment lies along Y,
the foot along X).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from core import skeleton as sk

__all__ = ["SegmentInertia", "segment_inertia", "DE_LEVA", "SCAPULA_FRACTION_OF_UPPER_TRUNK"]

# segment: (mean length mm, mass %, COM % from proximal, r_sag %, r_trans %, r_long %)
# de Leva 1996, Table 4. Stature of the samples: male 1741 mm, female 1735 mm.
DE_LEVA: dict[str, dict[str, tuple[float, float, float, float, float, float]]] = {
    "male": {
        "head": (242.9, 6.94, 59.76, 36.2, 37.6, 31.2),
        "upper_trunk": (242.1, 15.96, 29.99, 71.6, 45.4, 65.9),
        "mid_trunk": (215.5, 16.33, 45.02, 48.2, 38.3, 46.8),
        "lower_trunk": (145.7, 11.17, 61.15, 61.5, 55.1, 58.7),
        "upper_arm": (281.7, 2.71, 57.72, 28.5, 26.9, 15.8),
        "forearm": (268.9, 1.62, 45.74, 27.6, 26.5, 12.1),
        "hand": (86.2, 0.61, 79.00, 62.8, 51.3, 40.1),
        "thigh": (422.2, 14.16, 40.95, 32.9, 32.9, 14.9),
        "shank": (434.0, 4.33, 44.59, 25.5, 24.9, 10.3),
        "foot": (258.1, 1.37, 44.15, 25.7, 24.5, 12.4),
    },
    "female": {
        "head": (243.7, 6.68, 58.94, 33.0, 35.9, 31.8),
        "upper_trunk": (228.0, 15.45, 20.77, 74.6, 50.2, 71.8),
        "mid_trunk": (205.3, 14.65, 45.12, 43.3, 35.4, 41.5),
        "lower_trunk": (181.5, 12.47, 49.20, 43.3, 40.2, 44.4),
        "upper_arm": (275.1, 2.55, 57.54, 27.8, 26.0, 14.8),
        "forearm": (264.3, 1.38, 45.59, 26.1, 25.7, 9.4),
        "hand": (78.0, 0.56, 74.74, 53.1, 45.4, 33.5),
        "thigh": (368.5, 14.78, 36.12, 36.9, 36.4, 16.2),
        "shank": (432.3, 4.81, 44.16, 27.1, 26.7, 9.3),
        "foot": (228.3, 1.29, 40.14, 29.9, 27.9, 13.9),
    },
}
_STATURE_MM = {"male": 1741.0, "female": 1735.0}
SCAPULA_FRACTION_OF_UPPER_TRUNK = 0.08
_FOOT_SPLIT = {"talus": 0.1 / 1.5666, "calcn": 1.25 / 1.5666, "toes": 0.2166 / 1.5666}


@dataclass
class SegmentInertia:
    masses_kg: np.ndarray  # (24,) kg, BSM-46 body order
    com_local_m: np.ndarray  # (24, 3) COM in each body's frame, metres
    inertia_kgm2: np.ndarray  # (24, 3, 3) inertia about the COM in body axes, kg m^2


def _principal(
    mass: float, length: float, r_sag: float, r_trans: float, r_long: float, long_axis: int = 1
) -> np.ndarray:
    """Diagonal inertia (3, 3): X gets r_sag, Z r_trans, the long axis r_long (all % of length)."""
    radii = {0: r_sag, 1: r_sag, 2: r_trans}
    radii[long_axis] = r_long
    if long_axis == 0:  # the foot: its "sagittal" axis is the vertical one
        radii[1] = r_sag
    return np.diag([mass * (radii[a] / 100.0 * length) ** 2 for a in range(3)])


def segment_inertia(
    offsets_m: np.ndarray, mass_kg: float, height_m: float, sex: str = "male"
) -> SegmentInertia:
    """de Leva (1996) masses, COMs and inertias of the 24 BSM-46 bodies of one subject."""
    offsets_m = np.asarray(offsets_m, dtype=np.float64)
    if offsets_m.shape != (sk.N_BODIES, 3):
        raise ValueError(f"expected offsets_m of shape ({sk.N_BODIES}, 3), got {offsets_m.shape}")
    if not np.all(np.isfinite(offsets_m)):
        raise ValueError("offsets_m contains NaN or inf")
    if not (10.0 <= mass_kg <= 300.0):
        raise ValueError(f"mass_kg must lie in 10..300 kg, got {mass_kg}")
    if not (0.5 <= height_m <= 2.6):
        raise ValueError(f"height_m must lie in 0.5..2.6 m, got {height_m}")
    if sex not in DE_LEVA:
        raise ValueError(f"sex must be 'male' or 'female', got {sex!r}")
    table = DE_LEVA[sex]
    stature_scale = height_m * 1000.0 / _STATURE_MM[sex]
    off = {name: offsets_m[i] for name, i in sk.BODY.items()}
    masses = np.zeros(sk.N_BODIES)
    com = np.zeros((sk.N_BODIES, 3))
    inertia = np.zeros((sk.N_BODIES, 3, 3))
    up = np.array([0.0, 1.0, 0.0])

    def put(body: str, m: float, c: np.ndarray, inert: np.ndarray) -> None:
        i = sk.BODY[body]
        masses[i], com[i], inertia[i] = m, c, inert

    def seg(name: str) -> tuple[float, float, float, float, float]:
        _, pct, c, rs, rt, rl = table[name]
        return pct / 100.0 * mass_kg, c / 100.0, rs, rt, rl

    def mean_length(name: str) -> float:
        return table[name][0] / 1000.0 * stature_scale

    # Trunk: pelvis (lower trunk, proximal end OMPH above the hips), lumbar, thorax.
    m, c, rs, rt, rl = seg("lower_trunk")
    mid_hip = 0.5 * (off["femur_r"] + off["femur_l"])
    length = mean_length("lower_trunk")
    put("pelvis", m, mid_hip + (1.0 - c) * length * up, _principal(m, length, rs, rt, rl))
    m, c, rs, rt, rl = seg("mid_trunk")
    length = float(np.linalg.norm(off["thorax"])) or mean_length("mid_trunk")
    put("lumbar", m, (1.0 - c) * off["thorax"], _principal(m, length, rs, rt, rl))
    m, c, rs, rt, rl = seg("upper_trunk")
    length = float(np.linalg.norm(off["head"])) or mean_length("upper_trunk")
    m_scap = SCAPULA_FRACTION_OF_UPPER_TRUNK * m
    m_thorax = m - 2.0 * m_scap
    put("thorax", m_thorax, (1.0 - c) * off["head"], _principal(m_thorax, length, rs, rt, rl))
    r_scap = 0.06 * stature_scale  # ~6 cm radius of gyration of the shoulder girdle
    for s in "rl":
        put(f"scapula_{s}", m_scap, 0.5 * off[f"humerus_{s}"], np.eye(3) * m_scap * r_scap**2)
    m, c, rs, rt, rl = seg("head")
    length = mean_length("head")
    put("head", m, (1.0 - c) * length * up, _principal(m, length, rs, rt, rl))

    for s in "rl":
        # Long bones: COM on the line from this joint to the next one.
        for body, child, name in (
            ("femur", "tibia", "thigh"),
            ("tibia", "talus", "shank"),
            ("humerus", "ulna", "upper_arm"),
        ):
            m, c, rs, rt, rl = seg(name)
            vec = off[f"{child}_{s}"]
            put(f"{body}_{s}", m, c * vec, _principal(m, float(np.linalg.norm(vec)), rs, rt, rl))
        m, c, rs, rt, rl = seg("forearm")
        vec = off[f"radius_{s}"] + off[f"hand_{s}"]  # elbow -> wrist
        length = float(np.linalg.norm(vec))
        half = _principal(0.5 * m, length, rs, rt, rl)
        put(f"ulna_{s}", 0.5 * m, c * vec, half)
        put(f"radius_{s}", 0.5 * m, c * vec - off[f"radius_{s}"], half)
        m, c, rs, rt, rl = seg("hand")
        length = mean_length("hand")
        put(f"hand_{s}", m, -c * length * up, _principal(m, length, rs, rt, rl))
        # Foot: heel ~ calcn origin, toe tip ahead of the MTP joint.
        m, c, rs, rt, rl = seg("foot")
        length = mean_length("foot")
        toes = off[f"toes_{s}"]
        toe_len = max(length - float(toes[0]), 0.02)
        parts = {
            "talus": (np.zeros(3), 0.25 * length),
            "calcn": (np.array([c * length, 0.0, 0.0]), length),
            "toes": (np.array([0.5 * toe_len, 0.0, 0.0]), toe_len),
        }
        for part, (c_local, part_len) in parts.items():
            mp = _FOOT_SPLIT[part] * m
            put(f"{part}_{s}", mp, c_local, _principal(mp, part_len, rs, rt, rl, long_axis=0))
    return SegmentInertia(masses_kg=masses, com_local_m=com, inertia_kgm2=inertia)
