"""How the floor fit weighs two horizontal scene families against the feet (core.world's
floor_with_scene_lines): two families far enough apart fix the floor's tilt and the feet only its
level; a second family close in direction to the first is not trusted with the tilt."""

from __future__ import annotations

import numpy as np
import pytest

from core import world
from core.world import LEVEL_CAMERA_ROTATION, estimate_floor, floor_with_scene_lines
from tests.test_world_scene_lines import K, _angle_deg, _camera, _draw, _tiles, _true_up_camera

pytest.importorskip("cv2")

HEIGHT_M, PITCH, ROLL = 1.4, 9.0, 2.0


def _stance_feet(rot, trans, depth_bias: float, seed: int = 3) -> np.ndarray:
    """(60, 4, 3) sole points of feet walking from 5 to 8 m ahead, in the level frame, with 2 cm
    noise; ``depth_bias``: each point moved along its ray to range * (range / 6.5 m) ** bias (a
    capture whose depth error grows with distance, as the harness's captures do: up to
    0.6 in log-log)."""
    rng = np.random.default_rng(seed)
    ahead = rot.T @ np.array([0.0, 0.0, 1.0])
    ahead = np.array([ahead[0], 0.0, ahead[2]]) / np.hypot(ahead[0], ahead[2])
    side = np.cross(ahead, [0.0, 1.0, 0.0])
    centre = -rot.T @ trans
    n, pts = 60, []
    for i in range(n):
        base = centre + (5.0 + 3.0 * i / n) * ahead + (0.15 if i % 2 else -0.15) * side
        base[1] = 0.0
        pts.append([base, base + 0.22 * ahead, base + 0.08 * side, base + 0.22 * ahead])
    world_pts = np.array(pts) + rng.normal(scale=0.02, size=(n, 4, 3)) * [1.0, 0.0, 1.0]
    level = (world_pts - centre) @ (LEVEL_CAMERA_ROTATION @ rot).T
    rng_m = np.linalg.norm(level, axis=-1, keepdims=True)
    return level * (rng_m / 6.5) ** depth_bias


def test_two_families_fix_the_tilt_the_feet_only_the_level() -> None:
    """Feet whose depth is compressed with distance (exponent -0.3) tilt their own plane by
    degrees; a tiled floor (two families 90 deg apart, each within 0.3 deg of horizontal) then
    holds the normal within 0.4 deg of the truth. With the one-family ridge (1 deg) the biased
    feet pull it further off (the old behaviour, checked here so the test can fail)."""
    rot, trans = _camera(PITCH, ROLL, HEIGHT_M)
    level = _stance_feet(rot, trans, depth_bias=-0.3)
    truth = LEVEL_CAMERA_ROTATION @ _true_up_camera(rot)
    fit = estimate_floor(level, 30.0)
    assert fit is not None and _angle_deg(fit.up, truth) > 2.0
    frames = [(_draw(rot, trans, _tiles()), np.full(4, np.nan))]
    new, note = floor_with_scene_lines(fit, level, 30.0, None, frames, K)
    assert _angle_deg(new.up, truth) < 0.4, note
    old_ridge = world.SCENE_TWO_FAMILY_TILT_DEG
    try:
        world.SCENE_TWO_FAMILY_TILT_DEG = world.SCENE_TILT_DEG
        loose, _ = floor_with_scene_lines(fit, level, 30.0, None, frames, K)
    finally:
        world.SCENE_TWO_FAMILY_TILT_DEG = old_ridge
    assert _angle_deg(loose.up, truth) > _angle_deg(new.up, truth) + 1.0


def test_a_second_family_close_to_the_first_is_not_trusted() -> None:
    """Floor lines along one direction, and a second family 40 deg from it that climbs 4 deg (a
    ramp's edges: not horizontal). The normal perpendicular to both would be degrees off; with
    the second family ignored, the first fixes one tilt axis and the (here unbiased) feet the
    other: within 1 deg of the truth."""
    rot, trans = _camera(PITCH, ROLL, HEIGHT_M)
    truth = LEVEL_CAMERA_ROTATION @ _true_up_camera(rot)
    along = _tiles()[: len(_tiles()) // 2]  # lines along world x only
    a, s = np.deg2rad(40.0), np.tan(np.deg2rad(4.0))
    d = np.array([np.cos(a), s, np.sin(a)])
    ramp = np.array(
        [(np.array([0.0, 0.0, z]) - 12.0 * d, np.array([0.0, 0.0, z]) + 12.0 * d)
         for z in np.arange(-6.0, 6.01, 0.5)]
    )  # fmt: skip
    frames = [(_draw(rot, trans, np.concatenate([along, ramp])), np.full(4, np.nan))]
    level = _stance_feet(rot, trans, depth_bias=0.0)
    fit = estimate_floor(level, 30.0)
    assert fit is not None
    new, note = floor_with_scene_lines(fit, level, 30.0, None, frames, K)
    assert _angle_deg(new.up, truth) < 1.0, (note, _angle_deg(fit.up, truth))
    old_angle = world.SCENE_FAMILY_ANGLE_DEG
    try:
        world.SCENE_FAMILY_ANGLE_DEG = 30.0
        trusting, _ = floor_with_scene_lines(fit, level, 30.0, None, frames, K)
    finally:
        world.SCENE_FAMILY_ANGLE_DEG = old_angle
    assert _angle_deg(trusting.up, truth) > _angle_deg(new.up, truth) + 1.0
