"""Retarget a BSM-46 motion onto a character's armature (pure numpy).

Method (world-space transfer with a per-bone rest alignment):

* The target's own axes ``B`` (columns: forward, up, right, in armature space): "up" is the
  world's up seen from the armature, "right" runs from the left to the right thigh head, so any
  facing and any armature orientation (glTF Y-up parents, Blender Z-up) works.
  Source directions map by ``v_t = B v_os``.
* For a limb bone the rest alignment ``D`` is the smallest rotation that turns the source
  segment's rest direction (BSM-46 neutral: arms down) into the target's rest direction (T- or
  A-pose), measured joint centre to joint centre. Torso bones use ``D = I``. The target bone's
  armature-space rotation is then ``B S(t) B^T D^-1 T0`` where ``S(t)`` is the source body's world
  rotation and ``T0`` the bone's rest rotation: the bone points where the source segment points,
  and twist follows the source.
* End bones (hand, toe) reuse their parent's ``D``. A knee or elbow stays a hinge whatever the
  two ``D``: the shin's rotation relative to the thigh is ``A R(theta) B`` with constant ``A``,
  ``B``, so between any two frames it turns about one fixed axis (``hinge_off_axis_deg``).
* Proportions: root translation scales by the leg-length ratio; heights are measured from the
  lowest foot joint so the feet stay on the character's ground.

The result is the pose-basis rotation of every animated bone (Blender's local pose channels,
assuming default inheritance) plus the hips' basis location.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from . import bsm46
from .kinematics import forward_kinematics
from .layout import quat_from_matrix
from .rigs import REQUIRED_ROLES, ROLE_BODY, ROLES, BoneMapping, RigRest

__all__ = [
    "RetargetOptions",
    "RetargetResult",
    "target_axes",
    "retarget",
    "retarget_world",
    "root_bone_of",
]

_TORSO = ("hips", "spine", "chest", "neck", "head")
# role -> (role whose head ends the segment, source rest vector (OpenSim) from the offsets)
_SEGMENTS = {
    "thigh": ("shin", lambda o, s: o[bsm46.BODY[f"tibia_{s}"]]),
    "shin": ("foot", lambda o, s: o[bsm46.BODY[f"talus_{s}"]]),
    "forearm": ("hand", lambda o, s: o[bsm46.BODY[f"radius_{s}"]] + o[bsm46.BODY[f"hand_{s}"]]),
    "foot": ("toe", lambda o, s: o[bsm46.BODY[f"calcn_{s}"]] + o[bsm46.BODY[f"toes_{s}"]]),
    "upper_arm": ("forearm", lambda o, s: o[bsm46.BODY[f"ulna_{s}"]]),
    "shoulder": ("upper_arm", lambda o, s: o[bsm46.BODY[f"humerus_{s}"]]),
}
_REUSE = {
    "toe": "foot",
    "hand": "forearm",
    "forearm": "upper_arm",
    "shin": "thigh",
    "foot": "shin",
    "upper_arm": "shoulder",
}


@dataclass
class RetargetResult:
    bone_names: tuple[str, ...]  # animated bones (mapped roles), target order
    quaternions: np.ndarray  # (T, K, 4) pose-basis rotations (w, x, y, z)
    root_bone: str  # the bone that also gets a location
    root_location: np.ndarray  # (T, 3) pose-basis location of root_bone
    pose: np.ndarray  # (T, N, 4, 4) expected armature-space pose matrices of all bones
    scale: float  # target leg length / source leg length
    axes: np.ndarray  # (3, 3) target forward, up, right (columns), armature space
    rest_alignment: dict[str, np.ndarray]  # role -> D (3, 3)
    locations: dict[str, np.ndarray] = field(default_factory=dict)  # bone -> (T, 3) basis loc.
    lock: object | None = None  # footlock.LockReport when feet were locked


def _unit(v: np.ndarray) -> np.ndarray:
    n = float(np.linalg.norm(v))
    if n < 1e-12:
        raise ValueError("degenerate rig: two joints that should differ coincide")
    return v / n


def _swing(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Smallest rotation taking unit a to unit b."""
    a, b = _unit(a), _unit(b)
    v = np.cross(a, b)
    c = float(a @ b)
    if c < -1 + 1e-9:  # opposite: rotate 180 deg about any perpendicular axis
        p = np.cross(a, [1.0, 0, 0])
        if np.linalg.norm(p) < 1e-6:
            p = np.cross(a, [0, 1.0, 0])
        p = _unit(p)
        return 2 * np.outer(p, p) - np.eye(3)
    k = np.array([[0, -v[2], v[1]], [v[2], 0, -v[0]], [-v[1], v[0], 0]])
    return np.eye(3) + k + k @ k / (1 + c)


def target_axes(rig: RigRest, roles: dict[str, str]) -> np.ndarray:
    """(3, 3) columns forward, up, right of the character at rest, armature space. Up is the
    world's up when the rig knows it (``rig.up``), else hips -> shoulders/head."""
    h = rig.head
    right0 = h(roles["thigh_r"]) - h(roles["thigh_l"])
    if rig.up is not None:
        up = _unit(rig.up)
    else:
        top = [
            roles[r] for r in ("upper_arm_l", "upper_arm_r", "head", "neck", "chest") if r in roles
        ]
        if not top:
            raise ValueError("mapping needs an arm, head, neck or chest bone to find 'up'")
        up = _unit(
            np.mean([h(n) for n in top], 0) - 0.5 * (h(roles["thigh_r"]) + h(roles["thigh_l"]))
        )
    right = _unit(right0 - (right0 @ up) * up)
    fwd = np.cross(up, right)
    return np.stack([fwd, up, right], 1)


def _leg_length(points: list[tuple[np.ndarray, np.ndarray, np.ndarray]]) -> float:
    return float(np.mean([np.linalg.norm(k - h) + np.linalg.norm(a - k) for h, k, a in points]))


ROOT_MOTION_MODES = ("root", "hips", "in_place")


@dataclass
class RetargetOptions:
    """How the motion lands on the character.

    ``root_motion``: "root" puts the horizontal travel on the rig's root bone (the top ancestor of
    the hips, as in UE/Mixamo-style rigs; rigs without one keep it on the hips) and height on the
    hips; "hips" puts everything on the hips; "in_place" removes the horizontal travel.
    ``foot_lock``/``lock_strength``: plant the feet during the source's contacts (footlock.py).
    The character starts at its rest position (the capture's start is moved onto it)."""

    foot_lock: bool = True
    lock_strength: float = 1.0
    root_motion: str = "root"
    blend_frames: int = 4

    def __post_init__(self) -> None:
        if self.root_motion not in ROOT_MOTION_MODES:
            raise ValueError(
                f"root_motion must be one of {', '.join(ROOT_MOTION_MODES)}, got {self.root_motion!r}"
            )
        if not 0.0 <= self.lock_strength <= 1.0:
            raise ValueError(f"lock_strength must lie in 0..1, got {self.lock_strength}")


def retarget(
    q_rad: np.ndarray,
    root_m: np.ndarray,
    offsets_m: np.ndarray,
    rig: RigRest,
    mapping: BoneMapping,
    **kw,
) -> RetargetResult:
    """Pose channels for every frame of the motion (joint angles) on the target rig."""
    rots, origins = forward_kinematics(q_rad, root_m, offsets_m)
    return retarget_world(rots, origins, offsets_m, rig, mapping, **kw)


def root_bone_of(rig: RigRest, hips_bone: str) -> str | None:
    """The top ancestor of the hips bone (UE/Mixamo-style ``root``), None if the hips are a root."""
    i = rig.index[hips_bone]
    if rig.parents[i] < 0:
        return None
    while rig.parents[i] >= 0:
        i = rig.parents[i]
    return rig.names[i]


def retarget_world(
    rots: np.ndarray,
    origins: np.ndarray,
    offsets_m: np.ndarray,
    rig: RigRest,
    mapping: BoneMapping,
    *,
    options: RetargetOptions | None = None,
    contacts: np.ndarray | None = None,
    soles: dict | None = None,
    floor_point: np.ndarray | None = None,
) -> RetargetResult:
    """Pose channels for every frame on the target rig, from BSM-46 body world rotations
    (T, 24, 3, 3) and origins (T, 24, 3) in the OpenSim frame (e.g. read back from an edited
    action). ``contacts`` (T, 4) and ``soles`` (side -> footlock.FootSoles) enable foot locking;
    ``floor_point`` is a point of the floor in armature space (default: the rest sole level)."""
    opts = options or RetargetOptions(root_motion="hips")
    missing = mapping.missing_required()
    if missing:
        raise ValueError(f"bone mapping lacks required role(s) {missing}; map them in the panel")
    idx = rig.index
    bad = [f"{r}->{n}" for r, n in mapping.roles.items() if n not in idx]
    if bad:
        raise ValueError(f"mapped bone(s) not in the armature: {bad[:4]}")
    roles = mapping.roles
    rots = np.asarray(rots, dtype=np.float64)
    origins = np.asarray(origins, dtype=np.float64)
    t = rots.shape[0]
    b = target_axes(rig, roles)
    up = b[:, 1]
    h = rig.head
    o = np.asarray(offsets_m, dtype=np.float64)

    # proportions: leg length ratio
    tgt_leg = _leg_length(
        [(h(roles[f"thigh_{s}"]), h(roles[f"shin_{s}"]), h(roles[f"foot_{s}"])) for s in "lr"]
    )
    src_leg = float(
        np.mean(
            [
                np.linalg.norm(o[bsm46.BODY[f"tibia_{s}"]])
                + np.linalg.norm(o[bsm46.BODY[f"talus_{s}"]])
                for s in "lr"
            ]
        )
    )
    scale = tgt_leg / src_leg

    # rest alignment per role, parents first (ROLES order). A limb segment whose end joint is
    # not mapped (e.g. CesiumMan has no hands) reuses its parent's alignment: imported bones'
    # own Y axes are importer guesses, not anatomy.
    d_align: dict[str, np.ndarray] = {}
    for role in [r for r in ROLES if r in roles]:
        kind, side = (role[:-2], role[-1]) if role[-2:] in ("_l", "_r") else (role, "")
        if kind in _SEGMENTS and f"{_SEGMENTS[kind][0]}_{side}" in roles:
            child_kind, src_vec = _SEGMENTS[kind]
            tv = h(roles[f"{child_kind}_{side}"]) - h(roles[role])
            d_align[role] = _swing(b @ src_vec(o, side), tv)
        elif kind in _REUSE and f"{_REUSE[kind]}_{side}" in d_align:
            d_align[role] = d_align[f"{_REUSE[kind]}_{side}"]
        else:
            d_align[role] = np.eye(3)

    rest = rig.rest
    rest_inv = np.linalg.inv(rest)
    want = {
        roles[r]: b
        @ rots[:, bsm46.BODY[ROLE_BODY[r]]]
        @ b.T
        @ d_align[r].T
        @ rest[idx[roles[r]], :3, :3]
        for r in roles
    }

    # root trajectory, heights from the lowest foot joint; the capture's start on the rig's rest
    feet = [bsm46.BODY[f"{p}_{s}"] for p in ("calcn", "toes") for s in "rl"]
    src_ground = float(origins[:, feet, 1].min())
    _, rest_origins = forward_kinematics(np.zeros(bsm46.N_DOFS), np.zeros(3), o)
    src_stand = -float(rest_origins[feet, 1].min())  # pelvis height above its foot joints at rest
    pel = origins[:, bsm46.BODY["pelvis"]]
    v = np.stack(
        [
            scale * (pel[:, 0] - pel[0, 0]),
            scale * (pel[:, 1] - src_ground - src_stand),
            scale * (pel[:, 2] - pel[0, 2]),
        ],
        1,
    )
    hips_bone = roles["hips"]
    hips_head = h(hips_bone) + v @ b.T
    root_bone = root_bone_of(rig, hips_bone) if opts.root_motion == "root" else None

    def chain(want_, hips_head_, root_shift=None) -> np.ndarray:
        pose = np.zeros((t, len(rig.names), 4, 4))
        for i, name in enumerate(rig.names):
            p = rig.parents[i]
            c = rest[i] if p < 0 else pose[:, p] @ rest_inv[p] @ rest[i]
            c = np.broadcast_to(c, (t, 4, 4)).copy()
            if name in want_:
                c[:, :3, :3] = want_[name]
            if name == hips_bone:
                c[:, :3, 3] = hips_head_
            elif name == root_bone and root_shift is not None:
                c[:, :3, 3] += root_shift
            pose[:, i] = c
        return pose

    lock_report = None
    if opts.foot_lock and opts.lock_strength > 0 and contacts is not None and soles:
        from .footlock import lock_feet

        def pose_fn(want_, hips_head_):
            pose = chain(want_, hips_head_)
            return lambda name: pose[:, idx[name]]

        if floor_point is None:
            floor_point = min(
                (so.points[np.argmin(so.points @ up)] for so in soles.values()),
                key=lambda pt: float(pt @ up),
            )
        want, hips_head, lock_report = lock_feet(
            pose_fn,
            want,
            hips_head,
            roles,
            lambda name: rest[idx[name]],
            np.asarray(contacts, dtype=np.float64),
            soles,
            np.asarray(floor_point, dtype=np.float64),
            up,
            strength=opts.lock_strength,
            blend_frames=opts.blend_frames,
        )

    travel = hips_head - hips_head[:1]
    travel_h = travel - (travel @ up)[:, None] * up
    root_shift = None
    if opts.root_motion == "in_place":
        hips_head = hips_head - travel_h
    elif root_bone is not None:
        root_shift = travel_h
    pose = chain(want, hips_head, root_shift)

    bone_role = {n: r for r, n in roles.items()}
    animated = [n for n in rig.names if n in bone_role or n == root_bone]
    ai = [idx[n] for n in animated]
    basis = np.zeros((t, len(ai), 4, 4))
    for k, i in enumerate(ai):
        p = rig.parents[i]
        local_rest = rest[i] if p < 0 else rest_inv[p] @ rest[i]
        parent_pose_inv = np.linalg.inv(pose[:, p]) if p >= 0 else np.eye(4)
        basis[:, k] = np.linalg.inv(local_rest) @ parent_pose_inv @ pose[:, i]
    quats = quat_from_matrix(basis[:, :, :3, :3])
    for f in range(1, t):  # quaternion sign continuity
        quats[f][np.sum(quats[f] * quats[f - 1], -1) < 0] *= -1
    locations = {hips_bone: basis[:, animated.index(hips_bone), :3, 3]}
    if root_bone is not None:
        locations[root_bone] = basis[:, animated.index(root_bone), :3, 3]
    return RetargetResult(
        bone_names=tuple(animated),
        quaternions=quats,
        root_bone=hips_bone,
        root_location=locations[hips_bone],
        pose=pose,
        scale=scale,
        axes=b,
        rest_alignment=d_align,
        locations=locations,
        lock=lock_report,
    )


def hinge_off_axis_deg(parent_pose: np.ndarray, child_pose: np.ndarray) -> float:
    """Largest rotation (deg) of the child relative to its parent that is not about one fixed
    axis: relative rotations M(t) M(0)^-1 are split into a twist about the best-fit axis and a
    swing; returns the largest swing angle. (T, 3, 3) inputs, armature space."""
    rel = np.swapaxes(parent_pose, -1, -2) @ child_pose
    d = rel @ np.swapaxes(rel[0], -1, -2)
    # rotation vectors of d
    ang = np.arccos(np.clip((np.trace(d, axis1=-2, axis2=-1) - 1) / 2, -1, 1))
    w = np.stack([d[:, 2, 1] - d[:, 1, 2], d[:, 0, 2] - d[:, 2, 0], d[:, 1, 0] - d[:, 0, 1]], -1)
    big = ang > np.deg2rad(5)
    if not big.any():
        return 0.0
    axis = _unit(
        np.linalg.svd(
            w[big]
            / np.linalg.norm(w[big], axis=1, keepdims=True)
            * np.sign(w[big] @ w[big][0])[:, None]
        )[2][0]
    )
    q = quat_from_matrix(d)  # (T, 4)
    twist = q[:, 1:] @ axis
    swing_cos = np.sqrt(np.clip(q[:, 0] ** 2 + twist**2, 0, 1))
    return float(np.rad2deg(2 * np.arccos(np.clip(swing_cos, -1, 1))).max())


__all__ += ["hinge_off_axis_deg", "REQUIRED_ROLES"]
