"""BSM-46: the biomechanical skeleton, as one table.

24 bodies, 46 rotational DOFs (SKEL's names and order) plus the root translation. Every body frame
is parallel to the ground frame at the zero pose (anatomical neutral: standing, arms at the sides,
palms forward), with OpenSim's axes: X anterior, Y superior, Z to the subject's right. A joint
rotates its child body by body-fixed rotations about the listed axes in DOF order (as an OpenSim
``CustomJoint``'s ``SpatialTransform`` does); left-side axes are the right-side ones mirrored
through the sagittal plane, ``(x, y, z) -> (-x, -y, z)``, so a positive angle means the same
anatomical motion on both sides.

Geometry (where each joint centre lies in its parent body) is not part of this table: it belongs
to the subject (``core.body``). ``default_offsets`` gives a generic adult for callers without one.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

__all__ = [
    "BODIES",
    "BODY",
    "DOFS",
    "DOF",
    "DOF_NAMES",
    "DOF_GROUPS",
    "BODY_NAMES",
    "ROOT_TRANSLATION_NAMES",
    "N_DOFS",
    "N_BODIES",
    "Body",
    "Dof",
    "LIMIT_CHANGES",
    "limits_rad",
    "dof_axes",
    "parents",
    "default_offsets",
    "check_q",
    "resolve_dof_names",
    "SKELETON_CONVENTION",
    "CONVENTION_FLIPS",
    "to_current_convention",
]


@dataclass(frozen=True)
class Dof:
    """One rotational degree of freedom."""

    name: str
    body: str  # the child body the joint moves
    axis: tuple[float, float, float]  # unit axis in the parent's zero-pose frame (body-fixed)
    lower_deg: float
    upper_deg: float
    source: str  # where the limit comes from
    positive: str  # what a positive angle means anatomically

    @property
    def limited(self) -> bool:
        return math.isfinite(self.lower_deg) and math.isfinite(self.upper_deg)


@dataclass(frozen=True)
class Body:
    name: str
    parent: str | None
    joint: str  # joint name as written to OpenSim
    joint_type: str  # free | ball | hinge | universal | scapulothoracic | weld
    dofs: tuple[str, ...]


def _unit(v: tuple[float, float, float]) -> tuple[float, float, float]:
    n = math.sqrt(sum(c * c for c in v))
    return (v[0] / n, v[1] / n, v[2] / n)


def _mirror(v: tuple[float, float, float]) -> tuple[float, float, float]:
    """Mirror a rotation axis (a pseudo-vector) through the sagittal plane."""
    return (-v[0], -v[1], v[2])


_INF = math.inf
_SKEL = "SKEL/HSMR joint ranges (Keller et al. 2023; Xia et al. 2025) as in DESIGN.md"
_AAOS = "AAOS clinical ROM (Greene & Heckman 1994), re-anchored to the palms-forward zero"

# Oblique hinge axes of the lower limb and elbow, right side (OpenSim gait2392 / Rajagopal 2016;
# Inman 1976 for the talocrural and subtalar axes). Signs are Rajagopal2016's / LaiUhlrich2022's
# (skeleton convention 2, see CONVENTION_FLIPS): subtalar + = inversion (gait2392's right
# subtalar axis; convention 1 had the mirror image of the left one, so + was eversion), mtp + =
# flexion, toes down (the Z axis of Rajagopal's mtp_r joint frame, orientation
# (-3.14159, 0.619901, 0); convention 1 had gait2392's opposite sign).
_ANKLE_R = _unit((-0.10501355, -0.17402245, 0.97912632))
_SUBTALAR_R = _unit((0.78717961, 0.60474746, -0.12094949))
_MTP_R = _unit((0.5809544, 0.0, -0.81393611))
_ELBOW_R = _unit((0.0494, 0.0366, 0.99810825))
_PROSUP_R = _unit((0.0, 0.9927, 0.1208))
# Scapular plane: ~35 deg anterior to the frontal plane (Poppen & Walker 1976); upward rotation is
# about its normal, so that the glenoid turns upward.
_SCAP_NORMAL_R = _unit((-0.8192, 0.0, 0.5736))


def _side_dofs(side: str) -> list[Dof]:
    s = side
    m = (lambda v: v) if s == "r" else _mirror
    rows = [
        # name, body, axis (right side), lo, hi, source, positive
        ("hip_flexion", "femur", (0, 0, 1), -45, 135, _SKEL, "flexion"),
        ("hip_adduction", "femur", (1, 0, 0), -45, 30, _SKEL, "adduction"),
        ("hip_rotation", "femur", (0, 1, 0), -45, 45, _SKEL, "internal rotation"),
        ("knee_angle", "tibia", (0, 0, -1), 0, 135, _SKEL, "flexion"),
        ("ankle_angle", "talus", _ANKLE_R, -45, 45, _SKEL, "dorsiflexion"),
        ("subtalar_angle", "calcn", _SUBTALAR_R, -45, 45, _SKEL, "inversion"),
        ("mtp_angle", "toes", _MTP_R, -45, 45, _SKEL, "flexion (toes down)"),
    ]
    return [
        Dof(f"{n}_{s}", f"{b}_{s}", _unit(m(tuple(map(float, a)))), lo, hi, src, pos)
        for n, b, a, lo, hi, src, pos in rows
    ]


def _arm_dofs(side: str) -> list[Dof]:
    s = side
    m = (lambda v: v) if s == "r" else _mirror
    rows = [
        ("scapula_abduction", "scapula", (0, 1, 0), -25, 25, _SKEL, "protraction"),
        ("scapula_elevation", "scapula", (-1, 0, 0), -29, 40, _SKEL, "elevation"),
        ("scapula_upward_rot", "scapula", _SCAP_NORMAL_R, -30, 60, _SKEL, "upward rotation"),
        ("shoulder_{s}_x", "humerus", (-1, 0, 0), -90, 176, _SKEL, "abduction"),
        ("shoulder_{s}_y", "humerus", (0, 1, 0), -90, 90, _SKEL, "internal rotation"),
        ("shoulder_{s}_z", "humerus", (0, 0, 1), -90, 90, _SKEL, "flexion"),
        ("elbow_flexion", "ulna", _ELBOW_R, 0, 135, _SKEL, "flexion"),
        ("pro_sup", "radius", _PROSUP_R, -10, 160, _AAOS, "pronation"),
        ("wrist_flexion", "hand", (0, 0, 1), -90, 90, _SKEL, "flexion (palm side)"),
        ("wrist_deviation", "hand", (1, 0, 0), -57, 45, _SKEL, "ulnar deviation"),
    ]
    out = []
    for n, b, a, lo, hi, src, pos in rows:
        name = n.format(s=s) if "{s}" in n else f"{n}_{s}"
        out.append(Dof(name, f"{b}_{s}", _unit(m(tuple(map(float, a)))), lo, hi, src, pos))
    return out


def _spine_dofs(
    prefix: str, body: str, bend: tuple[float, float], ext: tuple[float, float]
) -> list[Dof]:
    return [
        Dof(f"{prefix}_bending", body, (1.0, 0.0, 0.0), *bend, _SKEL, "bending to the right"),
        Dof(f"{prefix}_extension", body, (0.0, 0.0, 1.0), *ext, _SKEL, "extension (backward)"),
        Dof(f"{prefix}_twist", body, (0.0, 1.0, 0.0), -45, 45, _SKEL, "twist to the left"),
    ]


_ROOT = "root: unlimited"
DOFS: tuple[Dof, ...] = tuple(
    [
        Dof("pelvis_tilt", "pelvis", (0.0, 0.0, 1.0), -_INF, _INF, _ROOT, "posterior tilt"),
        Dof("pelvis_list", "pelvis", (1.0, 0.0, 0.0), -_INF, _INF, _ROOT, "list to the right"),
        Dof("pelvis_rotation", "pelvis", (0.0, 1.0, 0.0), -_INF, _INF, _ROOT, "turn left"),
    ]
    + _side_dofs("r")
    + _side_dofs("l")
    + _spine_dofs("lumbar", "lumbar", (-30, 30), (-52, 45))
    + _spine_dofs("thorax", "thorax", (-45, 45), (-45, 45))
    + _spine_dofs("head", "head", (-45, 45), (-45, 45))
    + _arm_dofs("r")
    + _arm_dofs("l")
)

# Every change to DESIGN.md's starting ranges, with its reason. Tests check this table against
# the DOF table so the two cannot drift.
LIMIT_CHANGES: dict[str, tuple[tuple[float, float], tuple[float, float], str]] = {
    # name: ((design lo, hi), (ours lo, hi), reason)
    **{
        f"pro_sup_{s}": (
            (-68.0, 68.0) if s == "r" else (-90.0, 90.0),
            (-10.0, 160.0),
            "DESIGN's range is centred on SKEL's palms-down zero. With our palms-forward zero "
            "(the anatomical position is near full supination), clinical ROM is ~80-90 deg "
            "supination + ~80-90 deg pronation from mid-position, so 0 must lie near the lower "
            "limit; symmetric left and right.",
        )
        for s in "rl"
    },
    **{
        f"scapula_abduction_{s}": (
            (-_INF, _INF),
            (-25.0, 25.0),
            "DESIGN gives no range; protraction/retraction of ~25 deg each way about the "
            "thorax vertical (Ludewig et al. 2009).",
        )
        for s in "rl"
    },
    "lumbar_extension": (
        (-45.0, 45.0),
        (-52.0, 45.0),
        "DESIGN: lumbar extension may reach -52 (flexion side) as in SKEL.",
    ),
}

DOF_NAMES: tuple[str, ...] = tuple(d.name for d in DOFS)
N_DOFS = len(DOFS)
DOF: dict[str, int] = {n: i for i, n in enumerate(DOF_NAMES)}
ROOT_TRANSLATION_NAMES = ("pelvis_tx", "pelvis_ty", "pelvis_tz")

_BODY_ROWS: list[tuple[str, str | None, str, str]] = [
    ("pelvis", None, "ground_pelvis", "free"),
    ("femur_r", "pelvis", "hip_r", "ball"),
    ("tibia_r", "femur_r", "knee_r", "hinge"),
    ("talus_r", "tibia_r", "ankle_r", "hinge"),
    ("calcn_r", "talus_r", "subtalar_r", "hinge"),
    ("toes_r", "calcn_r", "mtp_r", "hinge"),
    ("femur_l", "pelvis", "hip_l", "ball"),
    ("tibia_l", "femur_l", "knee_l", "hinge"),
    ("talus_l", "tibia_l", "ankle_l", "hinge"),
    ("calcn_l", "talus_l", "subtalar_l", "hinge"),
    ("toes_l", "calcn_l", "mtp_l", "hinge"),
    ("lumbar", "pelvis", "lumbar", "ball"),
    ("thorax", "lumbar", "thorax", "ball"),
    ("head", "thorax", "head", "ball"),
    ("scapula_r", "thorax", "scapulothoracic_r", "scapulothoracic"),
    ("humerus_r", "scapula_r", "shoulder_r", "ball"),
    ("ulna_r", "humerus_r", "elbow_r", "hinge"),
    ("radius_r", "ulna_r", "radioulnar_r", "hinge"),
    ("hand_r", "radius_r", "wrist_r", "universal"),
    ("scapula_l", "thorax", "scapulothoracic_l", "scapulothoracic"),
    ("humerus_l", "scapula_l", "shoulder_l", "ball"),
    ("ulna_l", "humerus_l", "elbow_l", "hinge"),
    ("radius_l", "ulna_l", "radioulnar_l", "hinge"),
    ("hand_l", "radius_l", "wrist_l", "universal"),
]

BODIES: tuple[Body, ...] = tuple(
    Body(n, p, j, t, tuple(d.name for d in DOFS if d.body == n)) for n, p, j, t in _BODY_ROWS
)
BODY_NAMES: tuple[str, ...] = tuple(b.name for b in BODIES)
BODY: dict[str, int] = {n: i for i, n in enumerate(BODY_NAMES)}
N_BODIES = len(BODIES)


# DOF groups used when reporting joint-angle errors (benchmarks, evaluations).
DOF_GROUPS: dict[str, tuple[str, ...]] = {
    "hips": tuple(n for n in DOF_NAMES if n.startswith("hip_")),
    "knees": ("knee_angle_r", "knee_angle_l"),
    "ankles": ("ankle_angle_r", "ankle_angle_l"),
    "spine": tuple(n for n in DOF_NAMES if n.startswith(("lumbar_", "thorax_"))),
    "shoulders": tuple(n for n in DOF_NAMES if n.startswith("shoulder_")),
    "elbows": ("elbow_flexion_r", "elbow_flexion_l"),
}


# Sign conventions of the joint angles. A stored angle array (Motion bundle, NeurIK or MQ-HMR
# weights) records the convention it was made in; ``to_current_convention`` brings it to this one.
#   1: first table; subtalar + = eversion and mtp + = extension (opposite to Rajagopal2016).
#   2: every coordinate shared with Rajagopal2016 / LaiUhlrich2022 has their sign and zero.
SKELETON_CONVENTION = 2
# convention -> DOFs whose sign changed on the way from the previous convention to it
CONVENTION_FLIPS: dict[int, tuple[str, ...]] = {
    2: ("subtalar_angle_r", "mtp_angle_r", "subtalar_angle_l", "mtp_angle_l"),
}


def to_current_convention(q: np.ndarray, convention: int) -> np.ndarray:
    """Angles (..., 46) radians made in skeleton ``convention`` -> the current one (a copy).

    The flipped DOFs are negated (their limits are symmetric, so in-limit stays in-limit). For
    subtalar the axis itself also moved by 14 deg between conventions 1 and 2 (1 used a mirrored
    axis): negation is the closest angle, not an exact equivalent."""
    if not (1 <= int(convention) <= SKELETON_CONVENTION):
        raise ValueError(
            f"unknown skeleton convention {convention}; this biomocap knows 1.."
            f"{SKELETON_CONVENTION} (upgrade biomocap)"
        )
    q = np.array(q, dtype=np.float64, copy=True)
    for c in range(int(convention) + 1, SKELETON_CONVENTION + 1):
        for name in CONVENTION_FLIPS.get(c, ()):
            q[..., DOF[name]] *= -1.0
    return q


def parents() -> np.ndarray:
    """(24,) parent index of each body, -1 for the pelvis; parents precede children."""
    return np.array([-1 if b.parent is None else BODY[b.parent] for b in BODIES], dtype=np.int64)


def dof_axes() -> np.ndarray:
    """(46, 3) unit rotation axis of each DOF."""
    return np.array([d.axis for d in DOFS], dtype=np.float64)


def limits_rad() -> tuple[np.ndarray, np.ndarray]:
    """(46,), (46,) lower and upper limits in radians (+-inf for the root rotations)."""
    lo = np.deg2rad(np.array([d.lower_deg for d in DOFS], dtype=np.float64))
    hi = np.deg2rad(np.array([d.upper_deg for d in DOFS], dtype=np.float64))
    return lo, hi


def _dof_body_index() -> np.ndarray:
    return np.array([BODY[d.body] for d in DOFS], dtype=np.int64)


# A generic adult (1.75 m) in the zero pose: where each body's joint centre lies in its parent's
# frame, metres. Proportions from Drillis & Contini (1966) and de Leva (1996) segment lengths.
_DEFAULT_OFFSETS_175 = {
    "pelvis": (0.0, 0.0, 0.0),
    "femur_r": (-0.005, -0.065, 0.085),
    "tibia_r": (0.0, -0.425, 0.0),
    "talus_r": (0.0, -0.43, 0.0),
    "calcn_r": (-0.049, -0.042, 0.008),
    "toes_r": (0.18, -0.002, 0.001),
    "lumbar": (-0.07, 0.03, 0.0),
    "thorax": (0.0, 0.17, 0.0),
    "head": (0.0, 0.29, 0.0),
    "scapula_r": (0.06, 0.23, 0.02),
    "humerus_r": (-0.05, -0.02, 0.155),
    "ulna_r": (0.0, -0.30, 0.0),
    "radius_r": (0.0, -0.01, 0.02),
    "hand_r": (0.0, -0.245, -0.02),
}


def default_offsets(height_m: float = 1.75) -> np.ndarray:
    """(24, 3) joint-centre offsets of a generic adult of the given height, metres."""
    if not (0.5 <= height_m <= 2.6):
        raise ValueError(f"height_m must lie in 0.5..2.6 m, got {height_m}")
    out = np.zeros((N_BODIES, 3))
    for name, i in BODY.items():
        base = name[:-2] if name.endswith(("_r", "_l")) else name
        v = _DEFAULT_OFFSETS_175[base + "_r" if name.endswith(("_r", "_l")) else base]
        x, y, z = v
        out[i] = (x, y, -z if name.endswith("_l") else z)
    return out * (height_m / 1.75)


def resolve_dof_names(names: list[str] | tuple[str, ...]) -> np.ndarray:
    """Indices into the BSM-46 order for the given names; unknown names are an error."""
    unknown = [n for n in names if n not in DOF]
    if unknown:
        raise ValueError(
            f"unknown DOF name(s) {unknown[:5]}{'...' if len(unknown) > 5 else ''}; "
            f"BSM-46 names are e.g. {DOF_NAMES[3]}, {DOF_NAMES[6]} (see core.skeleton.DOF_NAMES)"
        )
    return np.array([DOF[n] for n in names], dtype=np.int64)


def check_q(q: np.ndarray, *, atol_rad: float = 1e-6, what: str = "q") -> None:
    """Raise ValueError unless q is (..., 46) finite radians within the limits."""
    q = np.asarray(q)
    if q.ndim < 1 or q.shape[-1] != N_DOFS:
        raise ValueError(f"expected {what} of shape (..., {N_DOFS}) radians, got {q.shape}")
    if not np.all(np.isfinite(q)):
        bad = np.argwhere(~np.isfinite(q.reshape(-1, N_DOFS)))[0]
        raise ValueError(f"{what} has NaN/inf (first at frame {bad[0]}, DOF {DOF_NAMES[bad[1]]})")
    lo, hi = limits_rad()
    below = q < lo - atol_rad
    above = q > hi + atol_rad
    if below.any() or above.any():
        flat = (below | above).reshape(-1, N_DOFS)
        f, j = np.argwhere(flat)[0]
        v = np.rad2deg(q.reshape(-1, N_DOFS)[f, j])
        raise ValueError(
            f"{what} violates the joint limits at {int(flat.sum())} value(s); first: "
            f"{DOF_NAMES[j]} = {v:.1f} deg at frame {f} (range {DOFS[j].lower_deg:g}.."
            f"{DOFS[j].upper_deg:g})"
        )


def limit_violations(q: np.ndarray, atol_rad: float = 1e-6) -> int:
    """Number of values of q (..., 46) outside the limits (NaN counts as a violation)."""
    q = np.asarray(q, dtype=np.float64)
    lo, hi = limits_rad()
    ok = (q >= lo - atol_rad) & (q <= hi + atol_rad)
    return int((~ok).sum())
