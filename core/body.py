"""``core.body``: the subject's body on the Anny surface.

From Anny phenotype values (and optionally a stature and a mass) this builds one consistent
subject: the surface mesh in the BSM-46 zero pose (``core.anny_neutral``), named anatomical
landmarks on it (``core.landmarks``), the joint centres those landmarks give by published
regressions, the BSM-46 offsets and segment lengths, the skinning of the surface to the 24 bodies
(``core.skinning``) and the virtual markers.

Joint centres (zero pose, OpenSim frame, pelvis origin at (0, 0, 0)):

========== ==================================================================================
pelvis     origin at the midpoint of the two ASIS (OpenSim gait2392's pelvis frame, Delp 1990)
hip        Harrington et al. 2007 (J Biomech 40:595) from ASIS/PSIS: in the pelvis frame
           (x anterior, z right, y up; PW = inter-ASIS width, PD = mid-ASIS to mid-PSIS depth)
           x = -0.24 PD - 9.9 mm, y = -0.30 PW - 10.9 mm, z = +-(0.33 PW + 7.3 mm)
knee       midpoint of the lateral and medial femoral epicondyles
ankle      midpoint of the lateral and medial malleoli (talus origin)
subtalar   ankle centre + gait2392's subtalar offset (-48.8, -42.0, 7.9) mm, scaled by stature
           / 1.80 m (calcaneus origin; no surface landmark for it)
mtp        midpoint of the 1st and 5th metatarsal heads (toes origin)
lumbar     L5/S1: at the height of Anny's rig joint ``spine04``, on the midline, 35 % of the
           torso depth in front of the back's skin (project rule, no published regression)
thorax     T12/L1: the same rule at the height of Anny's rig joint ``spine02``
head       C7/T1: Reed, Manary & Schneider 1999 (SAE 1999-01-0959): 55 % of the way from the
           C7 skin landmark to the suprasternale (jugular notch), on a line turned 8 deg
           below the C7-suprasternale line
scapula    sternoclavicular joint: beside the jugular notch landmark, (-15, -5, +-25) mm
           scaled by stature / 1.75 m (project rule)
shoulder   glenohumeral centre: Rab et al. 2002 (Gait Posture 15:113): 17 % of the
           acromion-to-elbow-centre distance below the acromion landmark, at the horizontal
           position of the humeral shaft axis (elbow centre to upper-arm marker level)
elbow      midpoint of the lateral and medial humeral epicondyles (ulna origin)
radius     radial head: elbow centre + a quarter of the epicondylar width laterally, 1 % of
           stature down (Rajagopal 2016 geometry)
wrist      midpoint of the radial and ulnar styloids (hand origin)
========== ==================================================================================

Mass: if not given, the neutral mesh's volume x 1010 kg/m^3 (whole-body density, Drillis &
Contini 1966 give 1.01-1.06 g/cm^3 depending on build); if given and the ``weight`` phenotype is
not, the ``weight`` phenotype is fitted so the mesh's volume matches the mass.
Height: if given, the ``height`` phenotype is fitted by bisection so the mesh's stature matches.
"""

from __future__ import annotations

import functools
import logging
import math
from dataclasses import dataclass

import numpy as np

from core import fk_numpy
from core import skeleton as sk
from core.anny_neutral import NeutralAnny, anny_neutral, phenotype_vector
from core.landmarks import LANDMARK_VERTICES, MARKER_BODIES, landmark_names
from core.motion import Surface
from core.skinning import (
    anny_weights_to_bodies,
    forearm_twist_weights,
    pose_surface_torch,
    pose_vertices_numpy,
    top_k_weights,
)

__all__ = [
    "Subject",
    "build_subject",
    "default_subject",
    "pose_surface",
    "pose_surface_torch",
    "marker_positions",
    "DENSITY_KG_M3",
]

log = logging.getLogger(__name__)

DENSITY_KG_M3 = 1010.0
_HEIGHT_RANGE_M = (0.5, 2.6)
_MASS_RANGE_KG = (10.0, 300.0)


@dataclass
class Subject:
    shape: np.ndarray  # (S,) Anny phenotype values in shape_labels order
    shape_labels: tuple[str, ...]  # Anny's phenotype labels
    height_m: float  # stature of the neutral mesh
    mass_kg: float
    offsets_m: np.ndarray  # (24, 3) joint centres in parent frames (core.skeleton order)
    joint_centres_m: np.ndarray  # (24, 3) zero-pose positions, pelvis origin at (0, 0, 0)
    segment_lengths_m: dict[str, float]
    surface: Surface  # zero-pose vertices (V, 3), faces, skin bodies/weights (top-4)
    marker_names: tuple[str, ...]
    marker_bodies: np.ndarray  # (M,) body index
    marker_local_m: np.ndarray  # (M, 3) in the body frame
    marker_vertices: np.ndarray  # (M,) surface vertex index each marker sits on
    landmarks_m: dict[str, np.ndarray]  # named zero-pose landmarks used for the joint centres
    mass_source: str = "volume"  # "volume" (mesh volume x density) or "user"
    volume_m3: float = float("nan")


# ---------------------------------------------------------------------------- geometry


def _stature(vertices_m: np.ndarray) -> float:
    return float(vertices_m[:, 1].max() - vertices_m[:, 1].min())


def mesh_volume(vertices_m: np.ndarray, faces: np.ndarray) -> float:
    """Volume (m^3) enclosed by a closed triangle mesh (divergence theorem)."""
    v0, v1, v2 = (vertices_m[faces[:, i]] for i in range(3))
    return float(abs(np.einsum("ij,ij->i", np.cross(v0, v1), v2).sum() / 6.0))


def _harrington_hjc(lm: dict[str, np.ndarray]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Mid-ASIS and the right/left hip joint centres (Harrington et al. 2007)."""
    ra, la, rp, lp = lm["R_ASIS"], lm["L_ASIS"], lm["R_PSIS"], lm["L_PSIS"]
    mid_asis = 0.5 * (ra + la)
    mid_psis = 0.5 * (rp + lp)
    z = (ra - la) / np.linalg.norm(ra - la)
    x = mid_asis - mid_psis
    x -= (x @ z) * z
    x /= np.linalg.norm(x)
    y = np.cross(z, x)
    pw = float(np.linalg.norm(ra - la))
    pd = float(np.linalg.norm(mid_asis - mid_psis))
    out = []
    for side in (1.0, -1.0):
        local = np.array([-0.24 * pd - 0.0099, -0.30 * pw - 0.0109, side * (0.33 * pw + 0.0073)])
        out.append(mid_asis + local[0] * x + local[1] * y + local[2] * z)
    return mid_asis, out[0], out[1]


def _reed_c7t1(c7: np.ndarray, ss: np.ndarray) -> np.ndarray:
    """C7/T1 joint centre (Reed et al. 1999): 55 % along C7->suprasternale turned 8 deg down."""
    d = ss - c7
    # Rotate d by 8 deg downward in the sagittal plane (about +Z for an anterior-pointing d).
    a = -math.radians(8.0)
    rz = np.array([[math.cos(a), -math.sin(a), 0.0], [math.sin(a), math.cos(a), 0.0], [0, 0, 1]])
    return c7 + 0.55 * (rz @ d)


def _joint_centres(
    n: NeutralAnny, lm: dict[str, np.ndarray], stature_m: float
) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """(24, 3) joint centres in the Anny-root frame, plus derived named points."""
    jc = np.zeros((sk.N_BODIES, 3))
    extra: dict[str, np.ndarray] = {}
    mid_asis, hjc_r, hjc_l = _harrington_hjc(lm)
    extra["mid_ASIS"] = mid_asis
    jc[sk.BODY["pelvis"]] = mid_asis
    jc[sk.BODY["femur_r"]], jc[sk.BODY["femur_l"]] = hjc_r, hjc_l
    scale = stature_m / 1.80
    for s, side in (("r", "R"), ("l", "L")):
        mz = 1.0 if s == "r" else -1.0
        jc[sk.BODY[f"tibia_{s}"]] = 0.5 * (lm[f"{side}_knee"] + lm[f"{side}_mknee"])
        ankle = 0.5 * (lm[f"{side}_ankle"] + lm[f"{side}_mankle"])
        jc[sk.BODY[f"talus_{s}"]] = ankle
        jc[sk.BODY[f"calcn_{s}"]] = ankle + np.array([-0.04877, -0.04195, 0.00792 * mz]) * scale
        jc[sk.BODY[f"toes_{s}"]] = 0.5 * (lm[f"{side}_1meta"] + lm[f"{side}_5meta"])
        jc[sk.BODY[f"scapula_{s}"]] = lm["CLAV"] + np.array([-0.015, -0.005, 0.025 * mz]) * (
            stature_m / 1.75
        )
        elbow = 0.5 * (lm[f"{side}_elbow_lat"] + lm[f"{side}_elbow_med"])
        acromion = lm[f"{side}_Shoulder"]
        drop = 0.17 * float(np.linalg.norm(acromion - elbow))
        # Humeral shaft axis: from the elbow centre through the middle of the arm at the
        # upper-arm marker's height (centroid of the arm's cross-section there).
        gh = acromion - np.array([0.0, drop, 0.0])
        arm_mid = _arm_section_centre(n, lm[f"{side}_arm"], side)
        axis = arm_mid - elbow
        t = (gh[1] - elbow[1]) / axis[1]
        gh[[0, 2]] = (elbow + t * axis)[[0, 2]]
        jc[sk.BODY[f"humerus_{s}"]] = gh
        jc[sk.BODY[f"ulna_{s}"]] = elbow
        width = lm[f"{side}_elbow_lat"] - lm[f"{side}_elbow_med"]
        jc[sk.BODY[f"radius_{s}"]] = elbow + 0.25 * width + np.array([0.0, -0.01 * stature_m, 0])
        jc[sk.BODY[f"hand_{s}"]] = 0.5 * (lm[f"{side}_wrist_radius"] + lm[f"{side}_wrist_ulna"])
    jc[sk.BODY["lumbar"]] = _spine_centre(n.vertices_m, n.bone_heads_m["spine04"][1])
    jc[sk.BODY["thorax"]] = _spine_centre(n.vertices_m, n.bone_heads_m["spine02"][1])
    jc[sk.BODY["head"]] = _reed_c7t1(lm["C7"], lm["CLAV"])
    # Midline joints lie exactly on the sagittal plane.
    for b in ("pelvis", "lumbar", "thorax", "head"):
        jc[sk.BODY[b], 2] = 0.0
    return jc, extra


def _spine_centre(vertices_m: np.ndarray, height_m: float) -> np.ndarray:
    """Vertebral-body centre at a height: on the midline, 35 % of the torso's front-to-back
    depth in front of the back's skin."""
    near = (np.abs(vertices_m[:, 2]) < 0.03) & (np.abs(vertices_m[:, 1] - height_m) < 0.015)
    back, front = vertices_m[near, 0].min(), vertices_m[near, 0].max()
    return np.array([back + 0.35 * (front - back), height_m, 0.0])


def _arm_section_centre(n: NeutralAnny, arm_marker: np.ndarray, side: str) -> np.ndarray:
    """Centroid of the upper-arm vertices within 1 cm of the arm marker's height."""
    top = n.vertex_bone_indices[np.arange(len(n.vertices_m)), np.argmax(n.vertex_bone_weights, 1)]
    labels = np.array(n.bone_labels)[top].astype(str)
    arm = np.char.startswith(labels, "upperarm") & np.char.endswith(labels, f".{side}")
    near = arm & (np.abs(n.vertices_m[:, 1] - arm_marker[1]) < 0.01)
    return n.vertices_m[near].mean(0)


def _segment_lengths(jc: np.ndarray, lm: dict[str, np.ndarray]) -> dict[str, float]:
    def d(a: np.ndarray, b: np.ndarray) -> float:
        return float(np.linalg.norm(a - b))

    B = sk.BODY  # noqa: N806
    out: dict[str, float] = {}
    for s, side in (("r", "R"), ("l", "L")):
        out[f"thigh_{s}"] = d(jc[B[f"femur_{s}"]], jc[B[f"tibia_{s}"]])
        out[f"shank_{s}"] = d(jc[B[f"tibia_{s}"]], jc[B[f"talus_{s}"]])
        out[f"foot_{s}"] = d(lm[f"{side}_calc"], lm[f"{side}_toe"])
        out[f"upper_arm_{s}"] = d(jc[B[f"humerus_{s}"]], jc[B[f"ulna_{s}"]])
        out[f"forearm_{s}"] = d(jc[B[f"ulna_{s}"]], jc[B[f"hand_{s}"]])
    out["hip_width"] = d(jc[B["femur_r"]], jc[B["femur_l"]])
    out["shoulder_width"] = d(jc[B["humerus_r"]], jc[B["humerus_l"]])
    out["trunk"] = d(jc[B["lumbar"]], jc[B["head"]])
    return out


# ---------------------------------------------------------------------------- building


def _check_range(name: str, value: float | None, lo: float, hi: float, unit: str) -> None:
    if value is None:
        return
    v = float(value)
    if not math.isfinite(v) or not lo <= v <= hi:
        raise ValueError(f"{name} must lie in {lo:g}..{hi:g} {unit}, got {value}")


def _fit_phenotype(
    shape: np.ndarray, index: int, target: float, measure, what: str, clamp: bool = False
) -> np.ndarray:
    """Bisection on one phenotype value so that ``measure(anny_neutral(shape))`` = target
    (``measure`` increases with the value). A target outside what the value reaches raises,
    or with ``clamp`` takes the nearer end."""
    lo_s, hi_s = shape.copy(), shape.copy()
    lo_s[index], hi_s[index] = 0.0, 1.0
    m_lo, m_hi = measure(lo_s), measure(hi_s)
    if not m_lo <= target <= m_hi:
        if clamp:
            return lo_s if target < m_lo else hi_s
        raise ValueError(
            f"{what} = {target:.3f} is outside what Anny reaches with the other shape values "
            f"({m_lo:.3f}..{m_hi:.3f})"
        )
    lo, hi = 0.0, 1.0
    s = shape.copy()
    for _ in range(30):
        mid = 0.5 * (lo + hi)
        s[index] = mid
        if measure(s) < target:
            lo = mid
        else:
            hi = mid
        if hi - lo < 2e-4:
            break
    s[index] = 0.5 * (lo + hi)
    return s


def build_subject(
    shape: dict[str, float] | None = None,
    height_m: float | None = None,
    mass_kg: float | None = None,
) -> Subject:
    """The subject for Anny phenotype values ``shape`` (names from Anny's ``phenotype_labels``,
    each 0..1, default 0.5), optionally fitted to a stature ``height_m`` and a ``mass_kg``."""
    _check_range("height_m", height_m, *_HEIGHT_RANGE_M, "m")
    _check_range("mass_kg", mass_kg, *_MASS_RANGE_KG, "kg")
    values, labels = phenotype_vector(shape)
    given = set(shape or {})
    lab = {n: i for i, n in enumerate(labels)}

    def stature(s: np.ndarray) -> float:
        return _stature(anny_neutral(s).vertices_m)

    def mass_of(s: np.ndarray) -> float:
        n = anny_neutral(s)
        return mesh_volume(n.vertices_m, n.faces) * DENSITY_KG_M3

    # Height and weight interact a little: alternate the two fits twice.
    for _ in range(2 if (height_m is not None and mass_kg is not None) else 1):
        if height_m is not None and "height" not in given:
            values = _fit_phenotype(values, lab["height"], float(height_m), stature, "height_m")
        if mass_kg is not None and "weight" not in given:
            # Anny's weight value alone spans a BMI of about 18-21 at the default build (1.75 m:
            # 54-65 kg): a heavier or lighter subject gets the nearest shape, and the model (its
            # segment masses and inertias, biomech_export) the mass given.
            values = _fit_phenotype(
                values, lab["weight"], float(mass_kg), mass_of, "mass_kg", clamp=True
            )
    if mass_kg is not None and "weight" not in given:
        shaped = mass_of(values)
        if abs(shaped - float(mass_kg)) > 0.01 * float(mass_kg):
            log.warning(
                "mass %.1f kg is beyond what Anny's body shape reaches at this stature and build "
                "(the nearest shape weighs %.1f kg): the model's mass and segment inertias use "
                "the %.1f kg given",
                float(mass_kg), shaped, float(mass_kg),
            )  # fmt: skip
    return _build_from_values(values, labels, mass_kg)


def _build_from_values(
    values: np.ndarray, labels: tuple[str, ...], mass_kg: float | None
) -> Subject:
    n = anny_neutral(values)
    stature = _stature(n.vertices_m)
    volume = mesh_volume(n.vertices_m, n.faces)
    lm_raw = {k: n.vertices_m[v] for k, v in LANDMARK_VERTICES.items()}
    jc, extra = _joint_centres(n, lm_raw, stature)
    origin = jc[sk.BODY["pelvis"]].copy()
    verts = n.vertices_m - origin
    jc = jc - origin
    lm = {k: v - origin for k, v in lm_raw.items()}
    lm.update({k: v - origin for k, v in extra.items()})
    par = sk.parents()
    offsets = np.zeros_like(jc)
    for i in range(sk.N_BODIES):
        offsets[i] = jc[i] if par[i] < 0 else jc[i] - jc[par[i]]

    names = landmark_names()
    marker_vertices = np.array([LANDMARK_VERTICES[m] for m in names], dtype=np.int64)
    marker_bodies = np.array([sk.BODY[_marker_body(m)] for m in names], dtype=np.int64)
    marker_local = verts[marker_vertices] - jc[marker_bodies]

    dense = anny_weights_to_bodies(n.vertex_bone_indices, n.vertex_bone_weights, n.bone_labels)
    dense = forearm_twist_weights(dense, verts, jc)
    dense[marker_vertices] = 0.0
    dense[marker_vertices, marker_bodies] = 1.0
    skin_bodies, skin_weights = top_k_weights(dense, 4)
    surface = Surface(verts, n.faces, skin_bodies, skin_weights)

    if mass_kg is None:
        mass, source = volume * DENSITY_KG_M3, "volume"
    else:
        mass, source = float(mass_kg), "user"
    return Subject(
        shape=values.copy(),
        shape_labels=labels,
        height_m=stature,
        mass_kg=float(mass),
        offsets_m=offsets,
        joint_centres_m=jc,
        segment_lengths_m=_segment_lengths(jc, lm),
        surface=surface,
        marker_names=names,
        marker_bodies=marker_bodies,
        marker_local_m=marker_local,
        marker_vertices=marker_vertices,
        landmarks_m=lm,
        mass_source=source,
        volume_m3=volume,
    )


def _marker_body(name: str) -> str:
    base = name[2:] if name[:2] in ("R_", "L_") else name
    body = MARKER_BODIES[base]
    return body if body in sk.BODY else f"{body}_{name[0].lower()}"


@functools.lru_cache(maxsize=1)
def default_subject() -> Subject:
    """The default Anny body (all phenotypes 0.5); cached per process. Do not mutate it."""
    return build_subject()


# ---------------------------------------------------------------------------- posing


def _check_pose(
    subject: Subject, q_rad: np.ndarray, root_m: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    q = np.asarray(q_rad, dtype=np.float64)
    r = np.asarray(root_m, dtype=np.float64)
    if q.ndim < 1 or q.shape[-1] != sk.N_DOFS:
        raise ValueError(f"expected q_rad of shape (..., {sk.N_DOFS}) radians, got {q.shape}")
    if r.shape != q.shape[:-1] + (3,):
        raise ValueError(f"expected root_m of shape {q.shape[:-1] + (3,)}, got {r.shape}")
    if not (np.all(np.isfinite(q)) and np.all(np.isfinite(r))):
        raise ValueError("q_rad and root_m must be finite (no NaN/inf)")
    return q, r


def pose_surface(subject: Subject, q_rad: np.ndarray, root_m: np.ndarray) -> np.ndarray:
    """Posed surface vertices (..., V, 3) for joint angles q_rad (..., 46) and pelvis position
    root_m (..., 3), by dual-quaternion skinning (``core.skinning``)."""
    q, r = _check_pose(subject, q_rad, root_m)
    rot, org = fk_numpy.forward_kinematics(q, r, subject.offsets_m)
    s = subject.surface
    return pose_vertices_numpy(
        s.vertices_m, s.skin_bodies, s.skin_weights, subject.joint_centres_m, rot, org
    )


def marker_positions(subject: Subject, q_rad: np.ndarray, root_m: np.ndarray) -> np.ndarray:
    """Virtual marker positions (..., M, 3) in the world frame."""
    q, r = _check_pose(subject, q_rad, root_m)
    rot, org = fk_numpy.forward_kinematics(q, r, subject.offsets_m)
    return fk_numpy.body_points(rot, org, subject.marker_bodies, subject.marker_local_m)
