"""Named anatomical landmarks as fixed vertices of Anny's mesh, and the virtual marker set.

Every Anny shape shares one topology, so a landmark is one vertex index, chosen once on the
default body in the neutral pose by a written geometric rule (:data:`RULES`) and stored in
:data:`LANDMARK_VERTICES`. ``python -m core.landmarks`` re-runs the rules and prints the table;
a test checks that the stored table is what the rules give.

A rule says: start at an Anny rig joint (the head of a bone, or the midpoint of two), move by a
small offset (metres, default body), and take, among the vertices within ``radius_m`` of that point
that Anny skins mostly to the listed bones (and, for midline points, that lie within 5 mm of the
sagittal plane), the one furthest along ``direction``: "the most lateral point of the knee" is the
lateral femoral epicondyle on the skin. Right-side rules are written with +Z lateral; the left
side mirrors them.

Marker names follow OpenCap's mocap marker set (``LaiUhlrich2022_markers_mocap.xml``: ``C7``,
``r.ASIS``, ``r_knee``, ``r_mknee``, ``r_ankle``, ``r_mankle``, ``r_toe``, ``r_5meta``, ``r_calc``,
``R_Shoulder``, ``R_elbow_lat``, ``R_wrist_radius`` ...) with one consistent side prefix
``R_``/``L_`` (OpenCap mixes ``r.``, ``L.``, ``r_``, ``R_``); :data:`OPENCAP_NAMES` maps ours to
theirs where OpenCap has the marker.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

__all__ = [
    "LandmarkRule",
    "RULES",
    "MARKER_BODIES",
    "OPENCAP_NAMES",
    "LANDMARK_VERTICES",
    "landmark_names",
    "pick_landmarks",
]


@dataclass(frozen=True)
class LandmarkRule:
    name: str  # without side prefix for paired landmarks
    anchor: tuple[str, ...]  # Anny bone labels (side suffix added for paired rules); midpoint
    offset_m: tuple[float, float, float]  # right side, OpenSim frame, default body
    direction: tuple[float, float, float]  # right side; the landmark is the extreme along it
    radius_m: float
    bones: tuple[str, ...]  # Anny bone-label prefixes the vertex must be skinned mostly to
    paired: bool = True  # False: one midline landmark
    slab_m: float = 1.0  # and within this height of the centre (epicondyles, malleoli...)


_LEG = ("upperleg", "lowerleg")
_PELVIS = ("root", "pelvis", "spine05", "spine04", "upperleg01")
_FOOT = ("foot", "toe", "lowerleg02")
_ARM = ("upperarm", "lowerarm")
_HAND = ("wrist", "metacarpal", "finger")
_HEAD = ("head", "neck03")

RULES: tuple[LandmarkRule, ...] = (
    # pelvis
    LandmarkRule("ASIS", ("upperleg01",), (0.05, 0.07, 0.02), (1, 0, 0.2), 0.05, _PELVIS),
    LandmarkRule("PSIS", ("upperleg01",), (-0.08, 0.09, -0.05), (-1, 0, 0), 0.04, _PELVIS),
    # thigh and knee
    LandmarkRule("GT", ("upperleg01",), (0.0, -0.05, 0.06), (0, 0, 1), 0.05, _LEG + _PELVIS),
    LandmarkRule("thigh", ("upperleg02", "lowerleg01"), (0, 0, 0), (0.5, 0, 1), 0.1, _LEG),
    LandmarkRule("knee", ("lowerleg01",), (0, 0, 0), (0, 0, 1), 0.06, _LEG, slab_m=0.015),
    LandmarkRule("mknee", ("lowerleg01",), (0, 0, 0), (0, 0, -1), 0.06, _LEG, slab_m=0.015),
    # shank and ankle
    LandmarkRule("shank", ("lowerleg01", "foot"), (0, 0, 0), (1, 0, 0), 0.08, _LEG),
    LandmarkRule("ankle", ("foot",), (0, 0, 0), (0, 0, 1), 0.05, _FOOT, slab_m=0.012),
    LandmarkRule("mankle", ("foot",), (0, 0, 0), (0, 0, -1), 0.05, _FOOT, slab_m=0.012),
    # foot
    LandmarkRule("calc", ("foot",), (-0.04, -0.05, 0), (-1, -0.3, 0), 0.05, _FOOT),
    LandmarkRule("toe", ("toe2-1",), (0.03, 0, 0), (1, 0, 0), 0.04, _FOOT),
    LandmarkRule("5meta", ("toe5-1",), (0, 0, 0), (0, 0.3, 1), 0.03, _FOOT),
    LandmarkRule("1meta", ("toe1-1",), (0, 0, 0), (0, 0.3, -1), 0.03, _FOOT),
    # shoulder, arm, elbow
    LandmarkRule(
        "Shoulder",
        ("upperarm01",),
        (0, 0.02, 0),
        (0, 1, 0.6),
        0.06,
        ("clavicle", "shoulder01", "upperarm01"),
    ),
    LandmarkRule("arm", ("upperarm01", "lowerarm01"), (0, 0, 0), (0, 0, 1), 0.07, _ARM),
    LandmarkRule("elbow_lat", ("lowerarm01",), (0, 0, 0), (0, 0, 1), 0.05, _ARM, slab_m=0.012),
    LandmarkRule("elbow_med", ("lowerarm01",), (0, 0, 0), (0, 0, -1), 0.05, _ARM, slab_m=0.012),
    # wrist and hand (palms forward: the radius is lateral, the back of the hand posterior)
    LandmarkRule(
        "wrist_radius", ("wrist",), (0, 0, 0), (0, 0, 1), 0.04, ("lowerarm",) + _HAND, slab_m=0.012
    ),
    LandmarkRule(
        "wrist_ulna", ("wrist",), (0, 0, 0), (0, 0, -1), 0.04, ("lowerarm",) + _HAND, slab_m=0.012
    ),
    LandmarkRule("hand_index", ("finger2-1",), (0, 0, 0), (-1, 0, 0), 0.025, _HAND),
    LandmarkRule("hand_pinky", ("finger5-1",), (0, 0, 0), (-1, 0, 0), 0.025, _HAND),
    # head
    LandmarkRule("head_front", ("head",), (0.07, 0.1, 0.04), (1, 0.3, 0.6), 0.05, _HEAD),
    LandmarkRule("head_back", ("head",), (-0.06, 0.09, 0.04), (-1, 0.3, 0.6), 0.05, _HEAD),
    # midline
    LandmarkRule("C7", ("neck01",), (-0.04, 0.0, 0), (-1, 0.2, 0), 0.04, ("spine", "neck"), False),
    LandmarkRule("T10", ("spine02",), (-0.06, 0.03, 0), (-1, 0, 0), 0.05, ("spine",), False),
    LandmarkRule(
        "CLAV",
        ("neck01",),
        (0.07, -0.03, 0),
        (1, 0, 0),
        0.03,
        ("spine", "neck", "clavicle"),
        False,
    ),
    LandmarkRule("STRN", ("spine02",), (0.1, 0.08, 0), (1, 0, 0), 0.05, ("spine",), False),
)

# The BSM-46 body each marker is fixed to (its vertex is skinned rigidly to that body).
MARKER_BODIES: dict[str, str] = {
    "ASIS": "pelvis",
    "PSIS": "pelvis",
    "GT": "femur",
    "thigh": "femur",
    "knee": "femur",
    "mknee": "femur",
    "shank": "tibia",
    "ankle": "tibia",
    "mankle": "tibia",
    "calc": "calcn",
    "5meta": "calcn",
    "1meta": "calcn",
    "toe": "toes",
    "Shoulder": "scapula",
    "arm": "humerus",
    "elbow_lat": "humerus",
    "elbow_med": "humerus",
    "wrist_radius": "radius",
    "wrist_ulna": "radius",
    "hand_index": "hand",
    "hand_pinky": "hand",
    "head_front": "head",
    "head_back": "head",
    "C7": "thorax",
    "T10": "thorax",
    "CLAV": "thorax",
    "STRN": "thorax",
}

OPENCAP_NAMES: dict[str, str] = {
    "C7": "C7",
    "R_ASIS": "r.ASIS",
    "L_ASIS": "L.ASIS",
    "R_PSIS": "r.PSIS",
    "L_PSIS": "L.PSIS",
    **{
        f"{s.upper()}_{n}": f"{s if s == 'r' else 'L'}_{n}"
        for s in "rl"
        for n in ("knee", "mknee", "ankle", "mankle", "toe", "5meta", "calc")
    },
    **{
        f"{s}_{n}": f"{s}_{n}"
        for s in "RL"
        for n in ("Shoulder", "elbow_lat", "elbow_med", "wrist_radius", "wrist_ulna")
    },
}


def landmark_names() -> tuple[str, ...]:
    """All landmark (= marker) names in table order: midline ones bare, paired ``R_``/``L_``."""
    out: list[str] = []
    for r in RULES:
        out.extend([f"R_{r.name}", f"L_{r.name}"] if r.paired else [r.name])
    return tuple(out)


def _side_bone(label: str, side: str) -> str:
    if side and label not in ("root",) and not label.startswith(("spine", "neck", "head")):
        return f"{label}.{side}"
    return label


def pick_landmarks(
    vertices_m: np.ndarray,
    bone_heads_m: dict[str, np.ndarray],
    vertex_bone_indices: np.ndarray,
    vertex_bone_weights: np.ndarray,
    bone_labels: tuple[str, ...],
) -> dict[str, int]:
    """Apply :data:`RULES` to a neutral Anny body (OpenSim frame) -> landmark name -> vertex."""
    top = vertex_bone_indices[np.arange(len(vertices_m)), np.argmax(vertex_bone_weights, 1)]
    top_label = np.array(bone_labels)[top]
    out: dict[str, int] = {}
    for r in RULES:
        for side in ("R", "L") if r.paired else ("",):
            mirror = np.array([1.0, 1.0, -1.0 if side == "L" else 1.0])
            anchor = np.mean([bone_heads_m[_side_bone(a, side)] for a in r.anchor], axis=0)
            centre = anchor + np.asarray(r.offset_m) * mirror
            d = np.asarray(r.direction, dtype=np.float64) * mirror
            d /= np.linalg.norm(d)
            ok = np.linalg.norm(vertices_m - centre, axis=1) <= r.radius_m
            ok &= np.char.startswith(top_label.astype(str), r.bones[0])
            for b in r.bones[1:]:
                ok |= (
                    np.linalg.norm(vertices_m - centre, axis=1) <= r.radius_m
                ) & np.char.startswith(top_label.astype(str), b)
            if side:
                ok &= np.char.endswith(top_label.astype(str), f".{side}") | ~np.char.endswith(
                    top_label.astype(str), f".{'L' if side == 'R' else 'R'}"
                )
                ok &= (vertices_m[:, 2] > 0.0) if side == "R" else (vertices_m[:, 2] < 0.0)
            else:
                ok &= np.abs(vertices_m[:, 2]) < 0.005
            ok &= np.abs(vertices_m[:, 1] - centre[1]) <= r.slab_m
            if not ok.any():
                raise ValueError(f"landmark rule {side}_{r.name} matches no vertex")
            cand = np.flatnonzero(ok)
            name = f"{side}_{r.name}" if side else r.name
            out[name] = int(cand[np.argmax(vertices_m[cand] @ d)])
    return out


# Generated by ``python -m core.landmarks`` on the default Anny body (all phenotypes 0.5).
LANDMARK_VERTICES: dict[str, int] = {
    "R_ASIS": 4352,
    "L_ASIS": 10959,
    "R_PSIS": 4185,
    "L_PSIS": 10807,
    "R_GT": 4424,
    "L_GT": 11026,
    "R_thigh": 6734,
    "L_thigh": 13314,
    "R_knee": 4611,
    "L_knee": 11213,
    "R_mknee": 4602,
    "L_mknee": 11204,
    "R_shank": 4710,
    "L_shank": 11312,
    "R_ankle": 4810,
    "L_ankle": 11412,
    "R_mankle": 6411,
    "L_mankle": 12992,
    "R_calc": 5829,
    "L_calc": 12410,
    "R_toe": 4917,
    "L_toe": 11519,
    "R_5meta": 6135,
    "L_5meta": 12716,
    "R_1meta": 5777,
    "L_1meta": 12358,
    "R_Shoulder": 1546,
    "L_Shoulder": 8209,
    "R_arm": 1647,
    "L_arm": 8303,
    "R_elbow_lat": 3373,
    "L_elbow_lat": 10025,
    "R_elbow_med": 3385,
    "L_elbow_med": 10037,
    "R_wrist_radius": 3906,
    "L_wrist_radius": 10555,
    "R_wrist_ulna": 3887,
    "L_wrist_ulna": 10536,
    "R_hand_index": 3226,
    "L_hand_index": 9878,
    "R_hand_pinky": 3209,
    "L_hand_pinky": 9861,
    "R_head_front": 3730,
    "L_head_front": 10382,
    "R_head_back": 5357,
    "L_head_back": 11942,
    "C7": 1467,
    "T10": 3944,
    "CLAV": 1524,
    "STRN": 4072,
}


def _main() -> None:
    from core.anny_neutral import anny_neutral, phenotype_vector

    shape, _ = phenotype_vector(None)
    n = anny_neutral(shape)
    table = pick_landmarks(
        n.vertices_m, n.bone_heads_m, n.vertex_bone_indices, n.vertex_bone_weights, n.bone_labels
    )
    print("LANDMARK_VERTICES: dict[str, int] = {")
    for k, v in table.items():
        print(f'    "{k}": {v},')
    print("}")


if __name__ == "__main__":
    _main()
