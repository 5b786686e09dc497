"""Left and right kept apart over time: MediaPipe now and then gives a frame's left leg the right
leg's label (and the right the left's), most often in side views of small people. The swap shows
as both feet jumping to where the other one was. Per limb (the legs from the knee down; the arms
from the elbow down on request) a two-state Viterbi pass over each run of detected frames
chooses, frame by frame, the labels as detected or swapped: a path pays the distance its labels
move between frames (in person heights, confidence weighted) and ``swap_cost`` for every frame it
swaps. A short swap, two jumps of a foot's spacing, is undone; legs passing each other, which
move as far either way, are left as detected; so is a long run that a steady motion explains as
well. A whole-body flip (the person taken as facing the other way: hips and shoulders swapped
too, found by the same pass on them) is left as detected, limbs included.

Measured on the accuracy harness's cached MediaPipe detections against the renders' true
BlazePose points (a frame counts as swapped where the exchanged labels are less than half as far
from the truth; legs / arms / hips and shoulders): at 480x270 (33 clips and 6 trial views, 3309
frames), 39 / 83 / 61 frames were swapped; the pass puts back 28 / 42 / 29 and changes 7 / 40 / 5
frames that were not clearly swapped (of them 0 / 2 / 1 clearly right before). At 1920x1080:
11 / 21 / 17 swapped, 6 / 5 / 1 put back, 4 / 4 / 1 others changed (one 3-frame leg run at a
clip's start clearly right before). `benchmarks/accuracy/RESULTS.md`, tenth session, has what
it does to the angles and the floor, and why the arms and the whole-body flips are not put back
by default.

A swap that begins where the legs cross is not undone by that pass: relabelling there costs no
motion, so it cannot tell which side of the crossing the swap lies on, and the per-frame cost
prefers the shorter run. On the side view of Rajagopal's overground walk (fourteenth session)
MediaPipe swapped frames 3-12 and the pass exchanged frames 13-17 instead, leaving the labels
wrong from one crossing to the next.

So the legs get a second pass where the motion is a walk (``_gait_relabel``): in a walk the legs
cross while one foot stands and the other swings past it, so the foot that stands still just
before a crossing is the one that stands still just after it. Where the still foot's label
changes across a crossing, the labels between that crossing and the next are exchanged. It acts
only where the feet cross at least three times and, between crossings, the still foot changes
sides as a walk's does (four times in five or more, over at least half of the stretches): a
dance, a kick or a run whose feet are never still is left as the first pass left it. Over the 42 clips cached in the fifteenth session
(legs, 51 swapped frames): 27 put back instead of 18, 7 others changed instead of 9 (2 clearly
right before instead of 5); all of the difference is that walk's side view, whose 9 swapped
frames are all put back. At 1920x1080 nothing changed (on that view the feet jump there, and the
walk test refuses it).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

__all__ = ["DEFAULT_LIMBS", "LIMBS", "TRUNK", "SideFix", "fix_side_swaps"]

# Per limb, the BlazePose point names without their side prefix.
LIMBS: dict[str, tuple[str, ...]] = {
    "legs": ("knee", "ankle", "heel", "foot_index"),
    "arms": ("elbow", "wrist", "pinky", "index", "thumb"),
}
# The capture's default: the legs. Of the arms' swaps about half are put back, with as many frames
# changed that were not clearly swapped (the hands meet in front of the body).
DEFAULT_LIMBS: tuple[str, ...] = ("legs",)
# A whole-body flip (the person taken as facing the other way) swaps the hips and shoulders too.
# Such frames are found the same way and left as detected: exchanging them back on the demo clip
# made the motion jerk (a residual force of 5.8 body weights where the limit is 5).
TRUNK: tuple[str, ...] = ("shoulder", "hip")
# The gait pass (``_gait_relabel``): the feet cross where they come within CROSS_GAP person
# heights of each other along the walking axis; a foot stands still beside the other where its
# median speed over STILL_FRAMES frames is at most STILL_RATIO of the other's; a walk has
# MIN_CROSSINGS crossings or more and its still foot changes sides between crossings in
# WALK_SHARE of them or more.
CROSS_GAP = 0.08
STILL_FRAMES = 3
STILL_RATIO = 0.5
MIN_CROSSINGS = 3
WALK_SHARE = 0.8


@dataclass(frozen=True)
class SideFix:
    keypoints_2d_px: np.ndarray  # (T, K, 2) with swapped frames put back
    confidence: np.ndarray  # (T, K)
    keypoints_3d_m: np.ndarray  # (T, K, 3)
    swapped: dict[str, np.ndarray]  # limb -> (T,) bool: the frames whose labels were exchanged
    flipped: np.ndarray  # (T,) bool: frames that look like a whole-body flip, left as detected

    @property
    def n_swapped(self) -> int:
        return int(sum(int(v.sum()) for v in self.swapped.values()))


def _pairs(names: tuple[str, ...], parts: tuple[str, ...]) -> tuple[np.ndarray, np.ndarray]:
    index = {n: i for i, n in enumerate(names)}
    missing = [f"{s}_{p}" for p in parts for s in ("left", "right") if f"{s}_{p}" not in index]
    if missing:
        raise ValueError(f"keypoint names lack {', '.join(missing)}: not BlazePose's 33")
    return (
        np.array([index[f"left_{p}"] for p in parts]),
        np.array([index[f"right_{p}"] for p in parts]),
    )


def _moves(kp: np.ndarray, conf: np.ndarray, now: np.ndarray, before: np.ndarray) -> np.ndarray:
    """(T - 1,) confidence-weighted mean distance from each frame's points under the labels
    ``before`` to the next frame's under ``now`` (index arrays into the K points)."""
    w = np.minimum(conf[1:, now], conf[:-1, before])
    d = np.linalg.norm(kp[1:, now] - kp[:-1, before], axis=-1)
    ok = np.isfinite(d) & (w > 0)
    w = np.where(ok, w, 0.0)
    total = w.sum(1)
    return np.where(total > 0, (w * np.where(ok, d, 0.0)).sum(1) / np.maximum(total, 1e-300), 0.0)


def _viterbi(
    kp: np.ndarray, conf: np.ndarray, left: np.ndarray, right: np.ndarray, scale: np.ndarray,
    swap_cost: float,
) -> np.ndarray:  # fmt: skip
    """(T,) bool: the swapped frames of one run of detected frames."""
    t = len(kp)
    views = [np.r_[left, right], np.r_[right, left]]  # labels as detected, swapped
    step = np.empty((t - 1, 2, 2))  # [i - 1, s, p]: into frame i in state s from state p
    for s in range(2):
        for p in range(2):
            step[:, s, p] = _moves(kp, conf, views[s], views[p]) / scale[1:]
    per_frame = np.array([0.0, swap_cost])
    cost = per_frame.copy()
    back = np.zeros((t, 2), dtype=np.int8)
    for i in range(1, t):
        total = cost[None, :] + step[i - 1]
        back[i] = total.argmin(1)
        cost = total.min(1) + per_frame
    out = np.zeros(t, dtype=bool)
    s = int(cost.argmin())
    for i in range(t - 1, -1, -1):
        out[i] = bool(s)
        s = int(back[i, s])
    return out


def _exchange(arrays, frames: np.ndarray, left: np.ndarray, right: np.ndarray) -> None:
    """Exchange the ``left`` and ``right`` points of each array (T, K, ...) in ``frames`` (T,)
    bool, in place."""
    if frames.any():
        for arr in arrays:
            arr[np.ix_(frames, np.r_[left, right])] = arr[np.ix_(frames, np.r_[right, left])]


def _feet(kp: np.ndarray, conf: np.ndarray, points: np.ndarray) -> np.ndarray:
    """(T, 2) confidence-weighted mean of a foot's ``points`` (NaN where none is seen)."""
    w = np.where(np.isfinite(kp[:, points]).all(-1), conf[:, points], 0.0)
    total = w.sum(1)[:, None]
    weighted = (np.nan_to_num(kp[:, points]) * w[..., None]).sum(1)
    return np.where(total > 0, weighted / np.maximum(total, 1e-300), np.nan)


def _gait_relabel(
    kp: np.ndarray, conf: np.ndarray, left: np.ndarray, right: np.ndarray, scale: np.ndarray
) -> np.ndarray:
    """(T,) bool: the frames of one run whose leg labels to exchange so that the foot standing
    still at each crossing of the feet keeps its label; none unless the run walks (see the module
    text). ``left`` / ``right``: the legs' points, knee first."""
    t = len(kp)
    out = np.zeros(t, dtype=bool)
    foot_l, foot_r = _feet(kp, conf, left[1:]), _feet(kp, conf, right[1:])
    height = float(np.nanmedian(scale)) if np.isfinite(scale).any() else float("nan")
    apart = foot_l - foot_r
    seen = np.isfinite(apart).all(1)
    if not np.isfinite(height) or seen.sum() < 10:
        return out
    axis = np.linalg.svd(apart[seen], full_matrices=False)[2][0]  # the walking axis
    gap = np.full(t, np.inf)
    gap[seen] = np.abs(apart[seen] @ axis) / height
    crossings: list[int] = []
    for i in range(t):
        if gap[i] >= CROSS_GAP or gap[i] > gap[max(0, i - 3) : i + 4].min():
            continue
        if crossings and i - crossings[-1] < 5:
            if gap[i] < gap[crossings[-1]]:
                crossings[-1] = i
            continue
        crossings.append(i)
    if len(crossings) < MIN_CROSSINGS:
        return out
    speed_l = np.linalg.norm(np.gradient(foot_l, axis=0), axis=1)
    speed_r = np.linalg.norm(np.gradient(foot_r, axis=0), axis=1)

    def still(a: int, b: int) -> int | None:  # 0: left, 1: right, None: neither clearly
        a, b = max(a, 0), min(b, t)
        if b - a < 2:
            return None
        sl, sr = np.nanmedian(speed_l[a:b]), np.nanmedian(speed_r[a:b])
        if not (np.isfinite(sl) and np.isfinite(sr)):
            return None
        return 0 if sl <= STILL_RATIO * sr else 1 if sr <= STILL_RATIO * sl else None

    before = [still(c - STILL_FRAMES, c) for c in crossings]
    after = [still(c + 1, c + 1 + STILL_FRAMES) for c in crossings]
    between = [
        (after[k], before[k + 1])
        for k in range(len(crossings) - 1)
        if after[k] is not None and before[k + 1] is not None
    ]
    if len(between) < max(2, (len(crossings) - 1) / 2) or (
        np.mean([a != b for a, b in between]) < WALK_SHARE
    ):
        return out  # not a walk: too few stretches with a still foot at both ends, or no turns
    # Exchanged or not, per stretch between crossings: stretch k ends at crossing k.
    flip = np.zeros(len(crossings) + 1, dtype=bool)
    for k in range(len(crossings)):
        changed = before[k] is not None and after[k] is not None and before[k] != after[k]
        flip[k + 1] = flip[k] ^ changed
    ends = np.r_[-1, crossings, t - 1]
    frames = np.diff(ends)
    if (frames * flip).sum() > (frames * ~flip).sum():
        flip = ~flip  # of the two labellings that agree, the one that changes fewer frames
    for k in np.flatnonzero(flip):
        out[ends[k] + 1 : ends[k + 1] + 1] = True
    return out


def fix_side_swaps(
    keypoints_2d_px: np.ndarray,
    confidence: np.ndarray,
    keypoints_3d_m: np.ndarray,
    found: np.ndarray,
    names: tuple[str, ...],
    swap_cost: float = 0.05,
    limbs: tuple[str, ...] = DEFAULT_LIMBS,
) -> SideFix:
    """Put back the frames whose left and right limbs were exchanged. ``swap_cost``: person heights
    a path pays per swapped frame (0.05: a swap of up to ~2 * spacing / 0.05 frames is undone, 8
    frames for feet 0.2 heights apart)."""
    kp = np.array(keypoints_2d_px, dtype=np.float64)
    conf = np.array(confidence, dtype=np.float64)
    k3 = np.array(keypoints_3d_m, dtype=np.float64)
    found = np.asarray(found, bool)
    t = kp.shape[0]
    if kp.shape[1:] != (len(names), 2) or conf.shape != kp.shape[:2] or found.shape != (t,):
        raise ValueError(
            f"expected keypoints (T, {len(names)}, 2), confidences (T, {len(names)}) and found "
            f"(T,), got {kp.shape}, {conf.shape} and {found.shape}"
        )
    y = kp[..., 1]
    rows = np.isfinite(y).any(1)
    span = np.full(t, np.nan)  # the person's height in the picture, px
    span[rows] = np.nanmax(y[rows], axis=1) - np.nanmin(y[rows], axis=1)
    scale = np.where(span > 1.0, span, np.nan)
    usable = found & np.isfinite(scale)
    unknown = [x for x in limbs if x not in LIMBS]
    if unknown:
        raise ValueError(f"unknown limb {', '.join(unknown)}; use {', '.join(LIMBS)}")
    edges = np.flatnonzero(np.diff(np.r_[0, usable.astype(np.int8), 0]))
    runs = [(a, b) for a, b in zip(edges[::2], edges[1::2], strict=True) if b - a >= 3]

    def decide(parts: tuple[str, ...]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        left, right = _pairs(tuple(names), parts)
        mask = np.zeros(t, dtype=bool)
        for a, b in runs:
            mask[a:b] = _viterbi(kp[a:b], conf[a:b], left, right, scale[a:b], swap_cost)
        return mask, left, right

    flipped = decide(TRUNK)[0]
    swapped: dict[str, np.ndarray] = {}
    for limb in limbs:
        mask, left, right = decide(LIMBS[limb])
        mask &= ~flipped
        _exchange((kp, conf, k3), mask, left, right)
        if limb == "legs":
            gait = np.zeros(t, dtype=bool)
            for a, b in runs:
                gait[a:b] = _gait_relabel(kp[a:b], conf[a:b], left, right, scale[a:b])
            gait &= ~flipped
            _exchange((kp, conf, k3), gait, left, right)
            mask ^= gait
        swapped[limb] = mask
    return SideFix(kp, conf, k3, swapped, flipped)
