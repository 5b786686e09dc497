"""Target rigs: a plain description of a character's bones, naming detection and bone mapping.

A mapping assigns *roles* (hips, thigh_l, ...) to target bone names. Each role is driven by one
BSM-46 body (``ROLE_BODY``). Conventions known: Rigify meta-rig, Rigify generated (FK controls),
Mixamo (with or without the ``mixamorig:`` prefix, also the Kenney/mesh2motion variant), Unreal
mannequin, Khronos CesiumMan. Mappings are editable and saved/loaded as JSON presets.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

__all__ = [
    "ROLES",
    "ROLE_BODY",
    "RigRest",
    "BoneMapping",
    "detect_mapping",
    "save_preset",
    "load_preset",
]

# role -> BSM-46 body that drives it
ROLE_BODY: dict[str, str] = {
    "hips": "pelvis",
    "spine": "lumbar",
    "chest": "thorax",
    "neck": "thorax",
    "head": "head",
    **{f"shoulder_{s}": f"scapula_{s}" for s in "lr"},
    **{f"upper_arm_{s}": f"humerus_{s}" for s in "lr"},
    **{f"forearm_{s}": f"ulna_{s}" for s in "lr"},
    **{f"hand_{s}": f"hand_{s}" for s in "lr"},
    **{f"thigh_{s}": f"femur_{s}" for s in "lr"},
    **{f"shin_{s}": f"tibia_{s}" for s in "lr"},
    **{f"foot_{s}": f"calcn_{s}" for s in "lr"},
    **{f"toe_{s}": f"toes_{s}" for s in "lr"},
}
ROLES: tuple[str, ...] = tuple(ROLE_BODY)
REQUIRED_ROLES = ("hips", "thigh_l", "thigh_r", "shin_l", "shin_r", "foot_l", "foot_r")


def _sided(template: dict[str, list[str]], left: str, right: str) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for role, names in template.items():
        if role.endswith("_X"):
            base = role[:-2]
            out[base + "_l"] = [n.replace("{S}", left) for n in names]
            out[base + "_r"] = [n.replace("{S}", right) for n in names]
        else:
            out[role] = names
    return out


# convention -> role -> candidate names (first present wins)
CONVENTIONS: dict[str, dict[str, list[str]]] = {
    "rigify_metarig": _sided(
        {
            "hips": ["spine"],
            "spine": ["spine.001"],
            "chest": ["spine.003"],
            "neck": ["spine.004"],
            "head": ["spine.006"],
            "shoulder_X": ["shoulder.{S}"],
            "upper_arm_X": ["upper_arm.{S}"],
            "forearm_X": ["forearm.{S}"],
            "hand_X": ["hand.{S}"],
            "thigh_X": ["thigh.{S}"],
            "shin_X": ["shin.{S}"],
            "foot_X": ["foot.{S}"],
            "toe_X": ["toe.{S}"],
        },
        "L",
        "R",
    ),
    # a generated Rigify rig is animated through its FK controls (its DEF- bones are constrained)
    "rigify_generated": _sided(
        {
            "hips": ["torso"],
            "chest": ["chest"],
            "neck": ["neck"],
            "head": ["head"],
            "shoulder_X": ["shoulder.{S}"],
            "upper_arm_X": ["upper_arm_fk.{S}"],
            "forearm_X": ["forearm_fk.{S}"],
            "hand_X": ["hand_fk.{S}"],
            "thigh_X": ["thigh_fk.{S}"],
            "shin_X": ["shin_fk.{S}"],
            "foot_X": ["foot_fk.{S}"],
            "toe_X": ["toe_fk.{S}"],
        },
        "L",
        "R",
    ),
    "mixamo": _sided(
        {
            "hips": ["Hips"],
            "spine": ["Spine"],
            "chest": ["Spine2", "UpperChest", "Chest", "Spine1"],
            "neck": ["Neck"],
            "head": ["Head"],
            "shoulder_X": ["{S}Shoulder"],
            "upper_arm_X": ["{S}Arm"],
            "forearm_X": ["{S}ForeArm"],
            "hand_X": ["{S}Hand"],
            "thigh_X": ["{S}UpLeg"],
            "shin_X": ["{S}Leg"],
            "foot_X": ["{S}Foot"],
            "toe_X": ["{S}ToeBase", "{S}Toes", "{S}Toe"],
        },
        "Left",
        "Right",
    ),
    "unreal": _sided(
        {
            "hips": ["pelvis"],
            "spine": ["spine_01"],
            "chest": ["spine_05", "spine_03"],
            "neck": ["neck_01"],
            "head": ["head"],
            "shoulder_X": ["clavicle_{S}"],
            "upper_arm_X": ["upperarm_{S}"],
            "forearm_X": ["lowerarm_{S}"],
            "hand_X": ["hand_{S}"],
            "thigh_X": ["thigh_{S}"],
            "shin_X": ["calf_{S}"],
            "foot_X": ["foot_{S}"],
            "toe_X": ["ball_{S}"],
        },
        "l",
        "r",
    ),
    "cesium_man": {
        "hips": ["Skeleton_torso_joint_1"],
        "spine": ["Skeleton_torso_joint_2"],
        "chest": ["torso_joint_3"],
        "neck": ["Skeleton_neck_joint_1"],
        "head": ["Skeleton_neck_joint_2"],
        # three joints per arm: shoulder (at the torso's side), elbow, wrist; no clavicle
        "upper_arm_l": ["Skeleton_arm_joint_L__4_"],
        "forearm_l": ["Skeleton_arm_joint_L__3_"],
        "hand_l": ["Skeleton_arm_joint_L__2_"],
        "upper_arm_r": ["Skeleton_arm_joint_R"],
        "forearm_r": ["Skeleton_arm_joint_R__2_"],
        "hand_r": ["Skeleton_arm_joint_R__3_"],
        **{f"thigh_{s}": [f"leg_joint_{s.upper()}_1"] for s in "lr"},
        **{f"shin_{s}": [f"leg_joint_{s.upper()}_2"] for s in "lr"},
        **{f"foot_{s}": [f"leg_joint_{s.upper()}_3"] for s in "lr"},
        **{f"toe_{s}": [f"leg_joint_{s.upper()}_5"] for s in "lr"},
    },
}

_PREFIX = re.compile(r"^(?:[^:|]*[:|])+")  # "mixamorig:Hips", "Armature|Hips" -> "Hips"


def strip_prefix(name: str) -> str:
    return _PREFIX.sub("", name)


@dataclass
class RigRest:
    """A target armature at rest, in armature space (Blender's ``bone.matrix_local``)."""

    names: tuple[str, ...]
    parents: tuple[int, ...]  # -1 for roots; parents precede children
    rest: np.ndarray  # (N, 4, 4) bone rest matrices (Y along the bone), armature space
    up: np.ndarray | None = None  # (3,) the world's up in armature space; None: from the joints

    def __post_init__(self) -> None:
        self.rest = np.asarray(self.rest, dtype=np.float64)
        if self.up is not None:
            self.up = np.asarray(self.up, dtype=np.float64) / np.linalg.norm(self.up)
        n = len(self.names)
        if self.rest.shape != (n, 4, 4) or len(self.parents) != n:
            raise ValueError(
                f"expected {n} parents and (N, 4, 4) rest matrices, got {self.rest.shape}"
            )
        for i, p in enumerate(self.parents):
            if p >= i:
                raise ValueError(f"bone {self.names[i]!r}: parents must precede children")

    @property
    def index(self) -> dict[str, int]:
        return {n: i for i, n in enumerate(self.names)}

    def head(self, name: str) -> np.ndarray:
        return self.rest[self.index[name], :3, 3]

    @classmethod
    def from_unsorted(cls, names, parent_names, rest, up=None) -> RigRest:
        """Build from bones in any order (parent given by name, None for a root)."""
        order: list[int] = []
        placed: set[str] = set()
        pending = list(range(len(names)))
        while pending:
            nxt = [i for i in pending if parent_names[i] is None or parent_names[i] in placed]
            if not nxt:
                raise ValueError("bone hierarchy has a cycle or a missing parent")
            for i in nxt:
                order.append(i)
                placed.add(names[i])
            pending = [i for i in pending if i not in set(nxt)]
        new_names = tuple(names[i] for i in order)
        idx = {n: k for k, n in enumerate(new_names)}
        parents = tuple(-1 if parent_names[i] is None else idx[parent_names[i]] for i in order)
        return cls(new_names, parents, np.asarray(rest, dtype=np.float64)[order], up)


@dataclass
class BoneMapping:
    convention: str
    roles: dict[str, str] = field(default_factory=dict)  # role -> target bone name
    score: float = 0.0  # fraction of roles found

    def missing_required(self) -> list[str]:
        return [r for r in REQUIRED_ROLES if r not in self.roles]


def detect_mapping(bone_names: list[str] | tuple[str, ...]) -> BoneMapping:
    """The naming convention that explains most of the bone names, and its role mapping."""
    by_stripped: dict[str, str] = {}
    for n in bone_names:
        by_stripped.setdefault(strip_prefix(n), n)
    exact = set(bone_names)
    best = BoneMapping("unknown")
    for conv, table in CONVENTIONS.items():
        roles: dict[str, str] = {}
        for role, cands in table.items():
            for c in cands:
                if c in exact:
                    roles[role] = c
                    break
                if c in by_stripped:
                    roles[role] = by_stripped[c]
                    break
        score = len(roles) / len(table)
        if score > best.score:
            best = BoneMapping(conv, roles, score)
    if best.score < 0.5:
        return BoneMapping("unknown", {}, best.score)
    return best


def save_preset(mapping: BoneMapping, path: str | Path) -> Path:
    """Write the mapping as JSON (atomically)."""
    import os
    import tempfile

    path = Path(path)
    unknown = sorted(set(mapping.roles) - set(ROLES))
    if unknown:
        raise ValueError(f"unknown role(s) {unknown}; roles are {', '.join(ROLES)}")
    data = {
        "format": "biomocap.bone_mapping",
        "version": 1,
        "convention": mapping.convention,
        "roles": dict(sorted(mapping.roles.items())),
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        json.dump(data, f, indent=2)
    os.replace(tmp, path)
    return path


def load_preset(path: str | Path) -> BoneMapping:
    path = Path(path)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as e:
        raise ValueError(f"cannot read bone-mapping preset {path}: {e}") from e
    if not isinstance(data, dict) or data.get("format") != "biomocap.bone_mapping":
        raise ValueError(f"{path} is not a biomocap bone-mapping preset")
    if int(data.get("version", 0)) > 1:
        raise ValueError(f"{path} is a newer bone-mapping preset (version {data['version']})")
    roles = {str(k): str(v) for k, v in data.get("roles", {}).items()}
    unknown = sorted(set(roles) - set(ROLES))
    if unknown:
        raise ValueError(f"{path}: unknown role(s) {unknown}")
    return BoneMapping(str(data.get("convention", "preset")), roles, 1.0)
