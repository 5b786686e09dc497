"""MediaPipe's left/right swaps put back over time (core.capture.sides)."""

import numpy as np
import pytest

from core.capture.sides import LIMBS, TRUNK, _gait_relabel, fix_side_swaps
from core.detect import BLAZEPOSE_KEYPOINT_NAMES as NAMES

IDX = {n: i for i, n in enumerate(NAMES)}


def _walk(t: int = 60, fps: float = 30.0):
    """A person 300 px tall seen from the side walking right: the feet take turns to stand still
    and swing past each other (so the legs cross in the picture twice a stride)."""
    kp = np.zeros((t, len(NAMES), 2))
    kp[:, :, 0] = 200.0
    kp[:, :, 1] = np.linspace(100, 400, len(NAMES))  # a height span for the scale
    kp[:, IDX["nose"], 1], kp[:, IDX["left_heel"], 1] = 100.0, 400.0
    phase = np.arange(t) / fps * 2 * np.pi  # one stride a second
    x_pelvis = 200.0 + 60.0 * np.arange(t) / fps  # 60 px/s
    for side, sign in (("left", 1.0), ("right", -1.0)):
        foot_x = x_pelvis + sign * 40.0 * np.sin(phase)  # +-40 px about the pelvis
        for part, y in (("knee", 300.0), ("ankle", 380.0), ("heel", 395.0), ("foot_index", 398.0)):
            kp[:, IDX[f"{side}_{part}"], 0] = (
                foot_x if part != "knee" else 0.5 * (foot_x + x_pelvis)
            )
            kp[:, IDX[f"{side}_{part}"], 1] = y
        for part, dx in (("elbow", 15.0), ("wrist", 25.0), ("pinky", 28.0), ("index", 29.0),
                         ("thumb", 27.0)):  # fmt: skip
            kp[:, IDX[f"{side}_{part}"], 0] = x_pelvis - sign * dx * np.sin(phase)
            kp[:, IDX[f"{side}_{part}"], 1] = 200.0 + dx
    conf = np.full((t, len(NAMES)), 0.9)
    k3 = np.random.default_rng(0).normal(size=(t, len(NAMES), 3))
    return kp, conf, k3, np.ones(t, bool)


def _swap(arr: np.ndarray, frames, parts) -> np.ndarray:
    out = arr.copy()
    left = [IDX[f"left_{p}"] for p in parts]
    right = [IDX[f"right_{p}"] for p in parts]
    out[np.ix_(frames, left + right)] = arr[np.ix_(frames, right + left)]
    return out


def test_a_short_leg_swap_is_put_back_and_nothing_else_moves():
    kp, conf, k3, found = _walk()
    frames = [5, 6, 7, 8, 9]  # a quarter stride: feet 60-80 px (0.2-0.27 heights) apart
    bad_kp, bad_k3 = _swap(kp, frames, LIMBS["legs"]), _swap(k3, frames, LIMBS["legs"])
    fix = fix_side_swaps(bad_kp, conf, bad_k3, found, NAMES, limbs=("legs", "arms"))
    assert np.flatnonzero(fix.swapped["legs"]).tolist() == frames
    assert not fix.swapped["arms"].any() and not fix.flipped.any()
    np.testing.assert_array_equal(fix.keypoints_2d_px, kp)
    np.testing.assert_array_equal(fix.keypoints_3d_m, k3)
    np.testing.assert_array_equal(fix.confidence, conf)
    assert fix.n_swapped == 5


def test_legs_passing_each_other_are_left_alone():
    kp, conf, k3, found = _walk(t=120)  # four crossings of the feet, no swap
    fix = fix_side_swaps(kp, conf, k3, found, NAMES)
    assert fix.n_swapped == 0
    np.testing.assert_array_equal(fix.keypoints_2d_px, kp)


def _gait(t: int = 120, stride_px: float = 120.0, period: int = 30):
    """A side view of a walk as the feet really move: each foot stands still for 60 % of a
    one-second stride and swings 120 px forward in the rest; the swinging foot passes the
    standing one half-way, so the feet cross at frames 6, 21, 36, ... (the person 300 px tall)."""
    kp, conf, k3, found = _walk(t)
    frames = np.arange(t)
    swing = int(0.4 * period)
    feet = {}
    for side, start, x0 in (("left", 0, 100.0), ("right", period // 2, 100.0 + stride_px / 2)):
        k = frames - start
        done = np.where(k >= 0, k // period, 0)  # swings finished
        frac = np.where(k >= 0, np.clip((k % period) / swing, 0.0, 1.0), 0.0)
        feet[side] = x0 + stride_px * (done + frac)
    pelvis = 0.5 * (feet["left"] + feet["right"])
    for side in ("left", "right"):
        for part in LIMBS["legs"]:
            x = feet[side] if part != "knee" else 0.5 * (feet[side] + pelvis)
            kp[:, IDX[f"{side}_{part}"], 0] = x
    return kp, conf, k3, found


def test_a_leg_swap_from_one_crossing_to_the_next_is_put_back_in_a_walk():
    """MediaPipe's labels exchanged from just after one crossing of the feet to the next (frames
    22-36): relabelling at a crossing costs no motion, so only the gait pass can tell: the foot
    that stands still through a crossing keeps its label. All of it is put back, nothing else."""
    kp, conf, k3, found = _gait()
    frames = list(range(22, 37))
    bad_kp, bad_k3 = _swap(kp, frames, LIMBS["legs"]), _swap(k3, frames, LIMBS["legs"])
    fix = fix_side_swaps(bad_kp, conf, bad_k3, found, NAMES)
    assert np.flatnonzero(fix.swapped["legs"]).tolist() == frames
    np.testing.assert_array_equal(fix.keypoints_2d_px, kp)
    np.testing.assert_array_equal(fix.keypoints_3d_m, k3)
    clean = fix_side_swaps(kp, conf, k3, found, NAMES)
    assert not clean.swapped["legs"].any()


def test_the_gait_pass_leaves_feet_that_never_stand_still_alone():
    """Feet that keep moving as they pass (a dance, a run seen badly): no foot stands still at
    the crossings, so the gait pass claims nothing, swapped stretch or not."""
    kp, conf, k3, found = _walk(t=120)  # sinusoidal feet: neither is ever still
    left, right = (np.array([IDX[f"{s}_{p}"] for p in LIMBS["legs"]]) for s in ("left", "right"))
    scale = np.full(len(kp), 300.0)
    for frames in ([], list(range(16, 31))):
        bad = _swap(kp, frames, LIMBS["legs"]) if frames else kp
        assert not _gait_relabel(bad, conf, left, right, scale).any()


def test_arm_swap_and_frames_without_a_person():
    kp, conf, k3, found = _walk()
    found[30:33] = False
    kp[30:33], conf[30:33] = np.nan, 0.0
    frames = [40, 41, 42]
    bad = _swap(kp, frames, LIMBS["arms"])
    fix = fix_side_swaps(bad, conf, k3, found, NAMES, limbs=("legs", "arms"))
    assert np.flatnonzero(fix.swapped["arms"]).tolist() == frames
    assert not fix.swapped["legs"].any()
    assert np.isnan(fix.keypoints_2d_px[30:33]).all()  # untouched
    fix = fix_side_swaps(bad, conf, k3, found, NAMES)  # the default: the legs only
    assert fix.n_swapped == 0 and list(fix.swapped) == ["legs"]


def test_a_whole_body_flip_is_left_as_detected():
    kp, conf, k3, found = _walk()
    kp[:, [IDX["left_hip"], IDX["left_shoulder"]], 0] += 60.0  # hips and shoulders 60 px apart
    frames = [5, 6, 7, 8, 9]
    flip = _swap(kp, frames, LIMBS["legs"] + LIMBS["arms"] + TRUNK)
    fix = fix_side_swaps(flip, conf, k3, found, NAMES, limbs=("legs", "arms"))
    assert np.flatnonzero(fix.flipped).tolist() == frames
    assert fix.n_swapped == 0
    np.testing.assert_array_equal(fix.keypoints_2d_px, flip)


def test_bad_shapes_and_names_are_refused():
    kp, conf, k3, found = _walk(t=10)
    with pytest.raises(ValueError, match="expected keypoints"):
        fix_side_swaps(kp[:, :5], conf, k3, found, NAMES)
    with pytest.raises(ValueError, match="not BlazePose"):
        fix_side_swaps(kp, conf, k3, found, tuple(f"p{i}" for i in range(len(NAMES))))
    with pytest.raises(ValueError, match="unknown limb"):
        fix_side_swaps(kp, conf, k3, found, NAMES, limbs=("tail",))


def test_the_detect_stage_puts_swaps_back_and_says_so(monkeypatch):
    from core.capture.detection import _sides_fixed
    from core.detect import Detections
    from core.motion import Camera

    kp, conf, k3, found = _walk()
    n = len(kp)
    det = Detections(
        np.arange(n) / 30.0, np.arange(n), NAMES, _swap(kp, [5, 6, 7], LIMBS["legs"]), conf, k3,
        found, np.ones((n, 4)), (640, 480), Camera(500.0, 320.0, 240.0, 640, 480),
    )  # fmt: skip
    fixed, note = _sides_fixed(det, found)
    np.testing.assert_array_equal(fixed.keypoints_2d_px, kp)
    assert note == "MediaPipe's left/right labels exchanged back in legs 3 frame(s)"
    clean, none = _sides_fixed(fixed, found)
    assert clean is fixed and none is None
    monkeypatch.setenv("BIOMOCAP_SIDE_LIMBS", "")  # the benchmark's switch: off
    same, none = _sides_fixed(det, found)
    assert same is det and none is None


def test_the_detect_stage_says_when_it_leaves_a_whole_body_flip():
    from core.capture.detection import _sides_fixed
    from core.detect import Detections
    from core.motion import Camera

    kp, conf, k3, found = _walk()
    kp[:, [IDX["left_hip"], IDX["left_shoulder"]], 0] += 60.0
    flip = _swap(kp, [5, 6, 7], LIMBS["legs"] + LIMBS["arms"] + TRUNK)
    n = len(kp)
    det = Detections(
        np.arange(n) / 30.0, np.arange(n), NAMES, flip, conf, k3, found, np.ones((n, 4)),
        (640, 480), Camera(500.0, 320.0, 240.0, 640, 480),
    )  # fmt: skip
    same, note = _sides_fixed(det, found)
    assert same is det
    assert note.startswith("3 frame(s) look like MediaPipe took the person as facing the other")
