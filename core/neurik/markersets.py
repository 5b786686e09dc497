"""The two NeurIK input marker sets: the anatomical virtual markers of ``core.body`` and the 33
BlazePose landmarks as MediaPipe's world coordinates give them."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from core import skeleton as sk

__all__ = [
    "MarkerSet",
    "BLAZEPOSE_NAMES",
    "anatomical",
    "blazepose33",
    "blaze_points",
    "MEDIAPIPE_OFFSETS_M",
    "mediapipe_offsets_signature",
    "get_marker_set",
    "mediapipe_world_to_bsm",
]

BLAZEPOSE_NAMES: tuple[str, ...] = (
    "nose",
    "left_eye_inner",
    "left_eye",
    "left_eye_outer",
    "right_eye_inner",
    "right_eye",
    "right_eye_outer",
    "left_ear",
    "right_ear",
    "mouth_left",
    "mouth_right",
    "left_shoulder",
    "right_shoulder",
    "left_elbow",
    "right_elbow",
    "left_wrist",
    "right_wrist",
    "left_pinky",
    "right_pinky",
    "left_index",
    "right_index",
    "left_thumb",
    "right_thumb",
    "left_hip",
    "right_hip",
    "left_knee",
    "right_knee",
    "left_ankle",
    "right_ankle",
    "left_heel",
    "right_heel",
    "left_foot_index",
    "right_foot_index",
)


@dataclass(frozen=True)
class MarkerSet:
    name: str
    names: tuple[str, ...]
    lr_pairs: tuple[tuple[int, int], ...]  # index pairs a detector may swap
    define: Callable  # subject -> (bodies (M,), local_m (M, 3))


_SIDE_SWAP = {"left": "right", "right": "left", "l": "r", "r": "l", "L": "R", "R": "L"}


def mirror_name(name: str) -> str:
    """The other side's name: swaps 'left'/'right' words and l/r or L/R side tokens."""
    parts = re.split(r"([._])", name)
    out = [_SIDE_SWAP.get(p, p) for p in parts]
    if out == parts and name[:1] in "LRlr" and len(name) > 3 and name[1:].isupper():  # e.g. RASI
        out = [_SIDE_SWAP[name[0]] + name[1:]]
    return "".join(out)


def _pairs(names: tuple[str, ...]) -> tuple[tuple[int, int], ...]:
    idx = {n.lower(): i for i, n in enumerate(names)}  # OpenCap mixes cases: r.ASIS / L.ASIS
    out = set()
    for i, n in enumerate(names):
        j = idx.get(mirror_name(n).lower())
        if j is not None and j != i:
            out.add((min(i, j), max(i, j)))
    return tuple(sorted(out))


def _anatomical_define(subject) -> tuple[np.ndarray, np.ndarray]:
    return np.asarray(subject.marker_bodies), np.asarray(subject.marker_local_m)


def anatomical(marker_names: tuple[str, ...]) -> MarkerSet:
    return MarkerSet(
        "anatomical", tuple(marker_names), _pairs(tuple(marker_names)), _anatomical_define
    )


# Where MediaPipe puts a keypoint relative to the skeleton point named for it (a joint centre, or
# the heel/toe points below): metres in that body's frame (x forward, y up, z lateral; the left
# side mirrors z) for a 1.75 m subject, scaled with stature. Hips, knees, shoulders, elbows and
# wrists measured by ``benchmarks/keypoint_calibration.py`` on the accuracy harness's 8 declared
# tuning clips (renders of held-out motion with exact skeletons; both sides pooled, a robust
# least-squares fit of the 2D residuals): the median residual on the 31 other clips falls from
# 2.6 to 1.7 px at the hips and 2.6 to 1.8 at the shoulders. The hip point lies 2.4 cm behind the
# joint centre and the knee point 1.1 cm in front of it: fitted to the joint centres, the thigh
# turned ~5 deg too far forward. The foot points keep their earlier values (ankle 1.5 cm up, from
# refined fits on 26 real photos): the measured ones (ankle 3.9 cm up, heel and toe 2-3 cm up)
# gave the floor a worse height under the camera (harness median error 0.116 -> 0.217 m) and lost
# one clip's floor. Hips were 0.5 cm down and 2 cm lateral before (the same photos).
MEDIAPIPE_OFFSETS_M: dict[str, tuple[float, float, float]] = {
    "hip": (-0.024, -0.011, 0.005),
    "knee": (0.011, -0.006, 0.003),
    "ankle": (0.0, 0.015, 0.0),
    "heel": (0.0, 0.0, 0.0),
    "foot_index": (0.0, 0.0, 0.0),
    "shoulder": (0.025, 0.015, 0.001),
    "elbow": (-0.008, 0.032, -0.002),
    "wrist": (0.007, 0.033, 0.002),
}


def mediapipe_offsets_signature() -> bytes:
    """:data:`MEDIAPIPE_OFFSETS_M` as bytes for cache keys: anything made from the keypoint
    points (the lifter's training landmarks, the harness's keypoint truth) is stale when it
    changes."""
    return repr(sorted(MEDIAPIPE_OFFSETS_M.items())).encode()


def blaze_points(subject, calibrated: bool = True) -> tuple[np.ndarray, np.ndarray]:
    """BlazePose landmarks as points on BSM-46 bodies, from the subject's joint centres:
    (bodies (33,), local_m (33, 3)). Hips, knees, ankles, shoulders, elbows and wrists are the
    joint centres, heel and toe fixed points of the foot, plus (``calibrated``) where MediaPipe
    puts them relative to those (:data:`MEDIAPIPE_OFFSETS_M`); face and hand points are fixed
    offsets scaled with the subject's height."""
    off = np.asarray(subject.offsets_m)
    s = subject.height_m / 1.75
    rows: dict[str, tuple[str, np.ndarray]] = {}
    for side, z in (("right", 1.0), ("left", -1.0)):
        c = side[0]
        rows[f"{side}_hip"] = ("pelvis", off[sk.BODY[f"femur_{c}"]])
        rows[f"{side}_knee"] = (f"femur_{c}", off[sk.BODY[f"tibia_{c}"]])
        rows[f"{side}_ankle"] = (f"tibia_{c}", off[sk.BODY[f"talus_{c}"]])
        rows[f"{side}_heel"] = (f"calcn_{c}", np.array([-0.02, -0.01, 0.0]) * s)
        rows[f"{side}_foot_index"] = (f"toes_{c}", np.array([0.05, -0.01, -0.01 * z]) * s)
        rows[f"{side}_shoulder"] = (f"scapula_{c}", off[sk.BODY[f"humerus_{c}"]])
        rows[f"{side}_elbow"] = (f"humerus_{c}", off[sk.BODY[f"ulna_{c}"]])
        rows[f"{side}_wrist"] = (f"radius_{c}", off[sk.BODY[f"hand_{c}"]])
        if calibrated:
            for kind, (dx, dy, dz) in MEDIAPIPE_OFFSETS_M.items():
                body, p = rows[f"{side}_{kind}"]
                rows[f"{side}_{kind}"] = (body, p + np.array([dx, dy, dz * z]) * s)
        rows[f"{side}_index"] = (f"hand_{c}", np.array([0.01, -0.085, 0.02 * z]) * s)
        rows[f"{side}_pinky"] = (f"hand_{c}", np.array([0.0, -0.075, -0.03 * z]) * s)
        rows[f"{side}_thumb"] = (f"hand_{c}", np.array([0.035, -0.05, 0.035 * z]) * s)
        # Face points in the head frame (origin at the cervicothoracic joint).
        rows[f"{side}_eye_inner"] = ("head", np.array([0.09, 0.215, 0.016 * z]) * s)
        rows[f"{side}_eye"] = ("head", np.array([0.085, 0.215, 0.032 * z]) * s)
        rows[f"{side}_eye_outer"] = ("head", np.array([0.075, 0.215, 0.048 * z]) * s)
        rows[f"{side}_ear"] = ("head", np.array([-0.005, 0.19, 0.075 * z]) * s)
        rows[f"mouth_{side}"] = ("head", np.array([0.085, 0.145, 0.024 * z]) * s)
    rows["nose"] = ("head", np.array([0.11, 0.18, 0.0]) * s)
    bodies = np.array([sk.BODY[rows[n][0]] for n in BLAZEPOSE_NAMES], dtype=np.int64)
    local = np.stack([np.asarray(rows[n][1], dtype=np.float64) for n in BLAZEPOSE_NAMES])
    return bodies, local


def blazepose33() -> MarkerSet:
    return MarkerSet("blazepose33", BLAZEPOSE_NAMES, _pairs(BLAZEPOSE_NAMES), blaze_points)


def get_marker_set(name: str, anatomical_names: tuple[str, ...] = ()) -> MarkerSet:
    if name == "blazepose33":
        return blazepose33()
    if name == "anatomical":
        return anatomical(anatomical_names)
    raise ValueError(f"unknown marker set {name!r}; choose 'anatomical' or 'blazepose33'")


def mediapipe_world_to_bsm(points: np.ndarray) -> np.ndarray:
    """MediaPipe world landmarks (x right in the image, y down, z away from the camera; hip-centred)
    -> a Y-up frame (a proper rotation: 180 deg about x)."""
    p = np.asarray(points, dtype=np.float64)
    return p * np.array([1.0, -1.0, -1.0])
