"""Joint positions over time from any supported motion file, and the naming conventions that say
which joint is which.

``load_track(path)`` reads BVH (``core.bvh``) or ASF/AMC (``core.mocap.asf_amc``) into a
``JointTrack`` (joint and end-site positions, file units, Y up) and ``find_convention`` maps its
joint names onto the roles the BSM-46 retarget needs. Supported conventions (the four common CMU
namings in the wild):

| convention | example joints |
|---|---|
| ``cmu`` (CMU's own BVH) | Hips, LeftUpLeg, LeftLeg, LeftFoot, LeftToeBase, Spine1, Neck1, LeftArm |
| ``cgspeed`` | Hips, LeftHip, LeftKnee, LeftAnkle, LeftToe, Chest2, LeftShoulder, LeftElbow |
| ``daz`` ("Daz-friendly") | hip, abdomen, chest, neck, head, lThigh, lShin, lFoot, lShldr, lForeArm |
| ``asf`` (ASF/AMC, and BVH keeping ASF names) | root/hip, lfemur, ltibia, lfoot, ltoes, thorax |
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

__all__ = [
    "JointTrack",
    "Convention",
    "CONVENTIONS",
    "Roles",
    "find_convention",
    "load_track",
    "find_asf",
]

# Roles: one point per role. A spec is a joint name, "Name:end" (its end site) or "A+B" (the
# midpoint of two joints). Side roles use {S} for the side token.
_REQUIRED = ("hips", "spine", "spine1", "neck1", "head")
_REQUIRED_SIDE = ("upleg", "leg", "foot", "arm", "forearm", "hand")


@dataclass(frozen=True)
class Convention:
    name: str
    label: str
    torso: dict[str, tuple[str, ...]]  # role -> candidate specs (first found wins)
    side: dict[str, tuple[str, ...]]  # role -> candidate specs with {S}
    sides: dict[str, str]  # 'r'/'l' -> side token

    def example(self) -> str:
        names = [self.torso["hips"][0], self.side["upleg"][0], self.side["leg"][0]]
        return f"{self.label} ({', '.join(n.replace('{S}', self.sides['l']) for n in names)})"


CONVENTIONS: tuple[Convention, ...] = (
    Convention(
        "cmu",
        "CMU",
        {
            "hips": ("Hips",),
            "spine": ("Spine",),
            "spine1": ("Spine1",),
            "neck1": ("Neck1",),
            "head": ("Head",),
            "head_end": ("Head:end",),
        },
        {
            "upleg": ("{S}UpLeg",),
            "leg": ("{S}Leg",),
            "foot": ("{S}Foot",),
            "toe": ("{S}ToeBase",),
            "toe_end": ("{S}ToeBase:end",),
            "arm": ("{S}Arm",),
            "forearm": ("{S}ForeArm",),
            "hand": ("{S}Hand",),
            "fingers": ("{s}Fingers:end", "{S}HandIndex1:end"),
        },
        {"r": "Right", "l": "Left"},
    ),
    Convention(
        "cgspeed",
        "cgspeed",
        {
            "hips": ("Hips",),
            "spine": ("Chest",),
            "spine1": ("Chest2",),
            "neck1": ("Neck",),
            "head": ("Head",),
            "head_end": ("Head:end",),
        },
        {
            "upleg": ("{S}Hip",),
            "leg": ("{S}Knee",),
            "foot": ("{S}Ankle",),
            "toe": ("{S}Toe",),
            "toe_end": ("{S}Toe:end",),
            "arm": ("{S}Shoulder",),
            "forearm": ("{S}Elbow",),
            "hand": ("{S}Wrist",),
            "fingers": ("{s}Fingers:end",),
        },
        {"r": "Right", "l": "Left"},
    ),
    Convention(
        "daz",
        "Daz-friendly",
        {
            "hips": ("hip",),
            "spine": ("abdomen",),
            "spine1": ("chest",),
            "neck1": ("neck",),
            "head": ("head",),
            "eyes": ("leftEye+rightEye",),
        },
        {
            "upleg": ("{S}Thigh",),
            "leg": ("{S}Shin",),
            "foot": ("{S}Foot",),
            "foot_end": ("{S}Foot:end",),
            "arm": ("{S}Shldr",),
            "forearm": ("{S}ForeArm",),
            "hand": ("{S}Hand",),
            "fingers": ("{S}Mid2:end",),
        },
        {"r": "r", "l": "l"},
    ),
    Convention(
        "asf",
        "ASF/AMC",
        {
            "hips": ("root", "hip", "hips"),
            "spine": ("upperback",),
            "spine1": ("thorax",),
            "neck1": ("upperneck",),
            "head": ("head",),
            "head_end": ("head:end",),
        },
        {
            "upleg": ("{S}femur",),
            "leg": ("{S}tibia",),
            "foot": ("{S}foot",),
            "toe": ("{S}toes",),
            "toe_end": ("{S}toes:end",),
            "arm": ("{S}humerus",),
            "forearm": ("{S}radius",),
            "hand": ("{S}wrist",),
            "fingers": ("{S}fingers:end", "{S}hand:end"),
        },
        {"r": "r", "l": "l"},
    ),
)


@dataclass
class JointTrack:
    """Joint positions of a motion file. Positions are file units, the file's axes (Y up)."""

    source: str
    format: str  # "bvh" | "asf/amc"
    names: list[str]
    frame_time_s: float
    pos: np.ndarray  # (T, J, 3) joint positions
    ends: np.ndarray  # (T, J, 3) end-site positions, NaN where a joint has none
    rest: np.ndarray  # (J, 3) the zero pose
    rest_ends: np.ndarray  # (J, 3)
    unit_m: float | None = None  # metres per file unit when the file says so (ASF :units)

    @property
    def n_frames(self) -> int:
        return int(self.pos.shape[0])


@dataclass(frozen=True)
class Roles:
    convention: Convention
    specs: dict[str, str]  # role (e.g. "upleg_l") -> the spec found

    def point(self, track: JointTrack, role: str, rest: bool = False) -> np.ndarray:
        """(T, 3) or, with ``rest``, (3,) position of a role."""
        return _point(track, self.specs[role], rest)

    def has(self, role: str) -> bool:
        return role in self.specs


def _point(track: JointTrack, spec: str, rest: bool) -> np.ndarray:
    pos, ends = (track.rest, track.rest_ends) if rest else (track.pos, track.ends)
    if "+" in spec:
        a, b = spec.split("+")
        return 0.5 * (pos[..., track.names.index(a), :] + pos[..., track.names.index(b), :])
    if spec.endswith(":end"):
        return ends[..., track.names.index(spec[:-4]), :]
    return pos[..., track.names.index(spec), :]


def _available(track: JointTrack, spec: str) -> bool:
    if "+" in spec:
        return all(n in track.names for n in spec.split("+"))
    if spec.endswith(":end"):
        n = spec[:-4]
        return n in track.names and bool(np.isfinite(track.rest_ends[track.names.index(n)]).all())
    return spec in track.names


def _resolve(conv: Convention, track: JointTrack) -> tuple[dict[str, str], list[str]]:
    specs: dict[str, str] = {}
    missing: list[str] = []
    for role, cands in conv.torso.items():
        hit = next((c for c in cands if _available(track, c)), None)
        if hit:
            specs[role] = hit
        elif role in _REQUIRED:
            missing.append(cands[0])
    for s, token in conv.sides.items():
        for role, cands in conv.side.items():
            cs = [c.replace("{S}", token).replace("{s}", token[0].upper()) for c in cands]
            hit = next((c for c in cs if _available(track, c)), None)
            if hit:
                specs[f"{role}_{s}"] = hit
            elif role in _REQUIRED_SIDE:
                missing.append(cs[0])
    return specs, missing


def find_convention(track: JointTrack) -> Roles:
    """The naming convention whose required joints are all in the track. Unknown naming raises
    ValueError with one line naming the joints found and the conventions supported."""
    best: tuple[int, Convention, list[str]] | None = None
    for conv in CONVENTIONS:
        specs, missing = _resolve(conv, track)
        if not missing:
            return Roles(conv, specs)
        if best is None or len(missing) < best[0]:
            best = (len(missing), conv, missing)
    found = ", ".join(track.names[:40]) + (" ..." if len(track.names) > 40 else "")
    supported = "; ".join(c.example() for c in CONVENTIONS)
    hint = ""
    if best is not None and best[0] <= 3:
        hint = f" (closest: {best[1].label}, missing {', '.join(best[2])})"
    raise ValueError(
        f"{track.source}: unknown skeleton naming{hint}; joints found: {found}; "
        f"supported conventions: {supported}"
    )


_DAZ_LIMBS = (("Shin", "Foot"), ("ForeArm", "Hand"))  # (upper segment's end, lower's end)


def _is_daz(names: list[str]) -> bool:
    return all(f"{s}{a}" in names and f"{s}{b}" in names for s in "rl" for a, b in _DAZ_LIMBS)


def _straighten_daz(data) -> None:
    """Daz-friendly files copy CMU's joint rotations onto the Daz figure's rest pose, whose knees
    (7-8 deg) and elbows (about 17 deg) are bent; CMU's rest has straight limbs. Aim the shin
    and forearm rest offsets along the thigh and upper arm (lengths kept), as in CMU's rest, so
    that the zero rotation is a straight limb again. Measured on the takes that exist in both
    formats (02_01 BVH vs AMC): the knee bias drops from +8.3 to +0.7 deg, the elbow's from
    +16.6 to -0.4 deg."""
    idx = {j.name: i for i, j in enumerate(data.joints)}
    for s in "rl":
        for upper_end, lower_end in _DAZ_LIMBS:
            a = data.joints[idx[f"{s}{upper_end}"]].offset
            b = data.joints[idx[f"{s}{lower_end}"]]
            b.offset = a / np.linalg.norm(a) * np.linalg.norm(b.offset)


def find_asf(amc: Path) -> Path:
    """The ASF skeleton of an AMC take: ``<subject>.asf`` beside it (CMU: 02_01.amc -> 02.asf),
    else the only .asf in its folder."""
    amc = Path(amc)
    cand = amc.with_name(amc.stem.split("_", 1)[0] + ".asf")
    if cand.is_file():
        return cand
    found = sorted(amc.parent.glob("*.asf"))
    if len(found) == 1:
        return found[0]
    raise FileNotFoundError(
        f"{amc}: no ASF skeleton found beside it (expected {cand.name}); "
        "put the subject's .asf next to the .amc"
    )


def load_track(
    path: str | Path,
    *,
    target_fps: float | None = None,
    max_frames: int | None = None,
    asf: str | Path | None = None,
    amc_fps: float | None = None,
) -> JointTrack:
    """Read a BVH or AMC (+ ASF) file into joint positions. ``target_fps`` keeps every n-th frame
    so that the rate is at most that; ``max_frames`` cuts after subsampling."""
    path = Path(path)
    if target_fps is not None and not (np.isfinite(target_fps) and target_fps > 0):
        raise ValueError(f"target_fps must be positive, got {target_fps}")
    suffix = path.suffix.lower()
    if suffix == ".bvh":
        from core.bvh import BvhData, bvh_positions, read_bvh

        data = read_bvh(path)
        if _is_daz(data.names):
            _straighten_daz(data)
        stride = 1
        if target_fps is not None:
            stride = max(1, round(1.0 / (data.frame_time_s * target_fps)))
        motion = data.motion[::stride][:max_frames]
        data = BvhData(data.joints, data.frame_time_s * stride, motion)
        pos, ends = bvh_positions(data)
        rest, rest_ends = bvh_positions(data, rest=True)
        return JointTrack(
            str(path), "bvh", data.names, data.frame_time_s, pos, ends, rest[0], rest_ends[0]
        )
    if suffix == ".amc":
        from core.mocap import asf_amc

        skel = asf_amc.read_asf(Path(asf) if asf else find_asf(path))
        values = asf_amc.read_amc(path, skel)
        fps = float(amc_fps or asf_amc.CMU_AMC_FPS)
        stride = 1 if target_fps is None else max(1, round(fps / target_fps))
        values = {k: v[::stride][:max_frames] for k, v in values.items()}
        start, end = asf_amc.amc_positions(skel, values)
        rs, re_ = asf_amc.amc_positions(skel, None)
        names = ["root"] + [b.name for b in skel.bones]
        has_child = {b.parent + 1 for b in skel.bones}
        leaf = np.array([k not in has_child and k > 0 for k in range(len(names))])
        ends = np.where(leaf[None, :, None], end, np.nan)
        rest_ends = np.where(leaf[:, None], re_[0], np.nan)
        return JointTrack(
            str(path), "asf/amc", names, stride / fps, start, ends, rs[0], rest_ends, skel.unit_m
        )
    raise ValueError(f"{path}: unsupported motion file (expected .bvh or .amc with its .asf)")
