"""The scene's horizontal lines as a witness for the floor's tilt (core.horizon, core.world's
floor_with_scene_lines), on images drawn with OpenCV from a camera of known pose: a tiled floor
(its lines are horizontal), a facade of vertical edges (not horizontal) and plain noise."""

from __future__ import annotations

import numpy as np
import pytest

from core.horizon import constrain_up, horizontal_directions, line_segments
from core.world import LEVEL_CAMERA_ROTATION, estimate_floor, floor_with_scene_lines, scene_frames
from tests.conftest import shared_path
from tests.test_world import CAM_HEIGHT_M, PITCH_DEG, ROLL_DEG, camera_looking_at

cv2 = pytest.importorskip("cv2")

W_PX, H_PX, F_PX = 1280, 720, 1000.0
K = np.array([[F_PX, 0.0, W_PX / 2], [0.0, F_PX, H_PX / 2], [0.0, 0.0, 1.0]])


def _camera(pitch_deg: float, roll_deg: float, height_m: float):
    centre = np.array([0.0, height_m, 0.0])
    aim = centre + np.array([1.0, -np.tan(np.deg2rad(pitch_deg)), 0.3])
    return camera_looking_at(centre, aim, roll_deg)


def _draw(rot, trans, lines_world, seed=0) -> np.ndarray:
    """Grey image with the 3D segments (N, 2, 3) drawn, each clipped to 0.5 m in front."""
    rng = np.random.default_rng(seed)
    img = rng.integers(90, 110, size=(H_PX, W_PX)).astype(np.uint8)
    for a, b in lines_world:
        pa, pb = rot @ a + trans, rot @ b + trans
        if pa[2] < 0.5 and pb[2] < 0.5:
            continue
        if pa[2] < 0.5 or pb[2] < 0.5:  # clip in front of the camera
            t = (0.5 - pa[2]) / (pb[2] - pa[2])
            cut = pa + t * (pb - pa)
            pa, pb = (cut, pb) if pa[2] < 0.5 else (pa, cut)
        ua, ub = (K @ pa)[:2] / pa[2], (K @ pb)[:2] / pb[2]
        if np.abs(np.r_[ua, ub]).max() > 1e5:
            continue
        cv2.line(img, tuple(np.round(ua).astype(int)), tuple(np.round(ub).astype(int)), 200, 2)
    return img


def _tiles(tile_m=0.6, extent_m=12.0):
    g = np.arange(-extent_m, extent_m + 1e-9, tile_m)
    along_x = [((-extent_m, 0.0, z), (extent_m, 0.0, z)) for z in g]
    along_z = [((x, 0.0, -extent_m), (x, 0.0, extent_m)) for x in g]
    return np.array(along_x + along_z, np.float64)


def _true_up_camera(rot) -> np.ndarray:
    return rot @ np.array([0.0, 1.0, 0.0])  # camera frame: x right, y down, z forward


def _off_by(up: np.ndarray, pitch_deg: float, roll_deg: float) -> np.ndarray:
    """``up`` (camera frame) turned about the camera's x (pitch) and z (roll) axes."""
    p, r = np.deg2rad(pitch_deg), np.deg2rad(roll_deg)
    rx = np.array([[1, 0, 0], [0, np.cos(p), -np.sin(p)], [0, np.sin(p), np.cos(p)]])
    rz = np.array([[np.cos(r), -np.sin(r), 0], [np.sin(r), np.cos(r), 0], [0, 0, 1]])
    return rz @ rx @ up


def _angle_deg(a, b) -> float:
    return float(
        np.degrees(np.arccos(np.clip(abs(a @ b) / np.linalg.norm(a) / np.linalg.norm(b), -1, 1)))
    )


def test_tiled_floor_gives_the_horizon() -> None:
    """A tiled floor seen 1.4 m high, pitched 9 deg, rolled 2 deg; the feet's guess is 5 deg off
    in pitch and 3 deg in roll. The two tile families' vanishing directions are horizontal to
    within 0.3 deg (the drawing's pixel rounding); the normal perpendicular to both is within
    0.5 deg of the truth; one family alone removes the guess's error about one axis."""
    rot, trans = _camera(9.0, 2.0, 1.4)
    img = _draw(rot, trans, _tiles())
    truth = _true_up_camera(rot)
    guess = _off_by(truth, 5.0, 3.0)
    seg = line_segments(img)
    lines = horizontal_directions(seg, K, guess, max_tilt_deg=15.0)
    assert len(lines.directions) == 2, lines
    for d in lines.directions:
        assert abs(90.0 - _angle_deg(d, truth)) < 0.3, np.degrees(np.arcsin(abs(d @ truth)))
    both = np.cross(lines.directions[0], lines.directions[1])
    assert _angle_deg(both, truth) < 0.5
    # One family fixes one of the two tilt angles: the guess moved onto the plane that holds the
    # truth (perpendicular to the family) is never further from the truth.
    for d in lines.directions:
        one = constrain_up(guess, d)
        assert abs(one @ d) < 1e-9 and _angle_deg(one, truth) <= _angle_deg(guess, truth) + 0.05


def _dashed(start, direction, length_m, dash_m=1.5, gap_m=0.5) -> list:
    """One straight 3D line from ``start`` along ``direction`` drawn as dashes (N, 2, 3)."""
    u = np.asarray(direction, np.float64) / np.linalg.norm(direction)
    s = np.asarray(start, np.float64)
    ts = np.arange(0.0, length_m - dash_m, dash_m + gap_m)
    return [(s + t * u, s + (t + dash_m) * u) for t in ts]


def test_one_broken_line_is_not_a_family() -> None:
    """The pieces of one straight line (a kerb broken by shadows, one edge seen in every frame)
    meet anywhere along it: alone they are no family. Three parallel horizontal lines receding
    at 40 deg to the view are one, within 0.3 deg of horizontal, on 3 distinct lines. The drawn
    lines are 2 px wide: their two borders are one line."""
    rot, trans = _camera(6.0, 1.0, 1.4)
    centre = -rot.T @ trans
    ahead = rot.T @ np.array([0.0, 0.0, 1.0])
    ahead = np.array([ahead[0], 0.0, ahead[2]]) / np.hypot(ahead[0], ahead[2])
    side = np.cross(ahead, [0.0, 1.0, 0.0])
    along = np.cos(np.deg2rad(40.0)) * ahead + np.sin(np.deg2rad(40.0)) * side
    truth = _true_up_camera(rot)
    starts = [centre + 4.0 * ahead + k * 1.2 * (side - ahead) for k in (-1, 0, 1)]
    for s in starts:
        s[1] = 0.0
    one = np.array(_dashed(starts[1] - 6.0 * along, along, 30.0), np.float64)
    lines = horizontal_directions(
        line_segments(_draw(rot, trans, one)), K, truth, max_tilt_deg=10.0
    )
    assert len(lines.directions) == 0, lines
    three = np.array(sum((_dashed(s - 6.0 * along, along, 30.0) for s in starts), []))
    lines = horizontal_directions(
        line_segments(_draw(rot, trans, three)), K, truth, max_tilt_deg=10.0
    )
    assert len(lines.directions) >= 1, lines
    assert abs(90.0 - _angle_deg(lines.directions[0], truth)) < 0.3
    assert lines.n_lines[0] == 3, lines


def test_vertical_edges_and_noise_give_no_horizontal_family() -> None:
    """A facade of vertical edges 6 m ahead is not horizontal (its vanishing point is far from
    the horizon): no family; neither in plain noise."""
    rot, trans = _camera(5.0, 0.0, 1.4)
    verticals = np.array(
        [((6.0, 0.0, z), (6.0, 4.0, z)) for z in np.arange(-3.0, 3.01, 0.4)], np.float64
    )
    truth = _true_up_camera(rot)
    for img in (_draw(rot, trans, verticals), _draw(rot, trans, np.zeros((0, 2, 3)))):
        lines = horizontal_directions(line_segments(img), K, truth, max_tilt_deg=10.0)
        assert len(lines.directions) == 0, lines


def test_floor_with_scene_lines_fixes_the_feet_tilt() -> None:
    """Feet seen only at 6-7 m, spanning 0.6 m in depth, with 2 cm noise: the feet's floor is
    tilted; the tiled floor in the same camera puts it back within 0.5 deg and the camera height
    within 5 cm, and says so in its note. With a blank image the feet's fit is kept as it was."""
    rng = np.random.default_rng(5)
    rot, trans = _camera(PITCH_DEG, ROLL_DEG, CAM_HEIGHT_M)
    # Stance feet on the floor (world Y = 0), 6-7 m in front, then into the level frame.
    ahead = rot.T @ np.array([0.0, 0.0, 1.0])
    ahead = np.array([ahead[0], 0.0, ahead[2]]) / np.hypot(ahead[0], ahead[2])
    side = np.cross(ahead, [0.0, 1.0, 0.0])
    centre = -rot.T @ trans
    n, pts = 60, []
    for i in range(n):
        base = centre + (6.0 + 0.6 * i / n) * ahead + (1.5 * i / n - 0.75) * side
        base[1] = 0.0
        pts.append(
            [base, base + 0.2 * ahead, base + 0.25 * side, base + 0.2 * ahead + 0.25 * side]
        )
    world = np.array(pts) + rng.normal(scale=0.02, size=(n, 4, 3)) * [1.0, 0.0, 1.0]
    level = (world - centre) @ (LEVEL_CAMERA_ROTATION @ rot).T  # level frame: y up, z back
    level += rng.normal(scale=0.02, size=level.shape) * [0.0, 1.0, 0.0]
    truth_level = LEVEL_CAMERA_ROTATION @ _true_up_camera(rot)
    # The prior up (the body's mean vertical in a capture) 5 deg off in pitch.
    prior = LEVEL_CAMERA_ROTATION @ _off_by(_true_up_camera(rot), 5.0, 0.0)
    fit = estimate_floor(level, 30.0, prior_up=prior)
    assert fit is not None
    img = _draw(rot, trans, _tiles())
    new, note = floor_with_scene_lines(fit, level, 30.0, None, [(img, np.full(4, np.nan))], K)
    assert _angle_deg(new.up, truth_level) < 0.5, (note, _angle_deg(fit.up, truth_level))
    assert abs(-new.offset_m - CAM_HEIGHT_M) < 0.05, note
    assert "scene lines" in note
    blank = _draw(rot, trans, np.zeros((0, 2, 3)))
    same, note = floor_with_scene_lines(fit, level, 30.0, None, [(blank, np.full(4, np.nan))], K)
    assert same is fit and "no horizontal family" in note


def test_scene_frames_from_a_video() -> None:
    """Five grey frames spread over the clip's times, at the camera's width, each with the
    person's box around its keypoints (the demo clip, decoded by core.video)."""
    video = shared_path("videos", "sports2d", "demo.mp4")
    times = 2.0 + np.arange(45) / 30.0
    kp = np.full((45, 33, 2), np.nan)
    kp[:, :, 0] = np.linspace(500, 600, 33)
    kp[:, :, 1] = np.linspace(100, 400, 33)
    kp[11] = np.nan  # the second picked frame has no person: no box
    frames = scene_frames(video, times, kp, width_px=884)
    assert len(frames) == 5
    for gray, _ in frames:
        assert gray.dtype == np.uint8 and gray.shape == (497, 884)
        assert gray.std() > 10.0  # a real picture, not a blank
    box = frames[0][1]
    assert box[0] < 500 < 600 < box[2] and box[1] < 100 < 400 < box[3]
    assert np.isnan(frames[1][1]).all()


def test_scene_lines_give_a_floor_the_feet_alone_cannot() -> None:
    """A camera 0.4 m high, a person on one spot 7.5 m away, the prior up 3 deg off: the feet
    alone leave the floor's height under the camera too uncertain to call it below the camera
    (no floor); the tiled floor's lines pin the tilt, and the same feet then give the camera
    height (within 0.1 m: 0.5 deg of tilt is 6.5 cm at 7.5 m). A blank image claims nothing."""
    rng = np.random.default_rng(3)
    rot, trans = _camera(1.0, 0.5, 0.4)
    ahead = rot.T @ np.array([0.0, 0.0, 1.0])
    ahead = np.array([ahead[0], 0.0, ahead[2]]) / np.hypot(ahead[0], ahead[2])
    side = np.cross(ahead, [0.0, 1.0, 0.0])
    centre = -rot.T @ trans
    base = centre + 7.5 * ahead
    base[1] = 0.0
    feet = [base, base + 0.2 * ahead, base + 0.25 * side, base + 0.2 * ahead + 0.25 * side]
    world = np.array([feet] * 90) + rng.normal(scale=0.02, size=(90, 4, 3)) * [1.0, 0.0, 1.0]
    level = (world - centre) @ (LEVEL_CAMERA_ROTATION @ rot).T
    level += rng.normal(scale=0.02, size=level.shape) * [0.0, 1.0, 0.0]
    truth_level = LEVEL_CAMERA_ROTATION @ _true_up_camera(rot)
    prior = LEVEL_CAMERA_ROTATION @ _off_by(_true_up_camera(rot), 3.0, 0.0)
    assert estimate_floor(level, 30.0, prior_up=prior) is None
    img = _draw(rot, trans, _tiles())
    fit, note = floor_with_scene_lines(
        None, level, 30.0, None, [(img, np.full(4, np.nan))], K, prior_up=prior
    )
    assert fit is not None, note
    assert _angle_deg(fit.up, truth_level) < 1.0 and abs(-fit.offset_m - 0.4) < 0.1, note
    assert "the feet alone could not" in note
    blank = _draw(rot, trans, np.zeros((0, 2, 3)))
    none, note = floor_with_scene_lines(
        None, level, 30.0, None, [(blank, np.full(4, np.nan))], K, prior_up=prior
    )
    assert none is None and "no horizontal family" in note
