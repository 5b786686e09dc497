"""The floor replay's scorer (benchmarks/refine_replay.py floor) on hand-made floor inputs: a walk
of planted feet on a floor seen by a camera of known height and pitch, with the body's vertical
(the tilt prior) wrong by a known angle."""

from __future__ import annotations

import numpy as np
import pytest


def _walk_on_floor(height_m: float, pitch_deg: float, fps: float = 30.0):
    """Sole points (T, 4, 3) in the level-camera frame (x right, y up, z back) of a person who
    walks away from a camera ``height_m`` above the floor, pitched ``pitch_deg`` down: each
    foot planted for 15 frames on a step 0.35 m further, the feet 0.2 m apart, heel and toe
    0.2 m apart. Returns the points and the true floor normal in that frame."""
    a = np.deg2rad(pitch_deg)
    up = np.array([0.0, np.cos(a), np.sin(a)])  # core.world.pitch_roll_from_up: pitch asin(z)
    fwd = np.cross([1.0, 0.0, 0.0], up)  # horizontal, away from the camera (toward -z)
    side = np.array([1.0, 0.0, 0.0])
    t = 150
    pts = np.zeros((t, 4, 3))
    for i in range(t):
        for f, lateral in ((0, 0.1), (1, -0.1)):
            step = 2 * ((i + 15 * f) // 30) + f  # the two feet alternate every 15 frames
            heel = -height_m * up + (4.0 + 0.35 * step) * fwd + lateral * side
            pts[i, 2 * f] = heel
            pts[i, 2 * f + 1] = heel + 0.2 * fwd
    return pts, up, fps


@pytest.mark.parametrize("pitch_deg", [-4.0, 6.0])
def test_floor_scores_recover_a_known_camera(pitch_deg):
    """With the body's vertical 3 deg off the truth and the feet spanning 2.5 m of depth, the
    feet's floor is the true one to well within the error the pitch would make if its sign were
    read the wrong way round (2 x 4-6 deg): pitch within 1 deg, height within 5 cm. The scorer's
    signs are capture minus truth."""
    from benchmarks.refine_replay import floor_scores, floor_variant

    pts, up, fps = _walk_on_floor(1.4, pitch_deg)
    tilt = np.deg2rad(3.0)
    prior = np.array([0.0, np.cos(np.arcsin(up[2]) + tilt), np.sin(np.arcsin(up[2]) + tilt)])
    inputs = {
        "args": (pts, fps),
        "kwargs": {"conf": np.ones(pts.shape[:2]), "prior_up": prior, "belt_velocity_mps": None},
        "segments": np.zeros((0, 4)),
        "intrinsics": np.array([[500.0, 0, 240], [0, 500.0, 135], [0, 0, 1]]),
        "up_true": up,
        "camera_height_true_m": 1.4,
        "stance_level_m": 0.0,
    }
    cfg, scene, constants = floor_variant("default")
    s = floor_scores(inputs, cfg, scene)
    assert s is not None
    assert abs(s["pitch_err_deg"]) < 1.0
    assert abs(s["camera_height_err_m"]) < 0.05
    assert s["tilt_err_deg"] < 1.0
    # the scorer is signed: the same floor scored against a camera 0.3 m higher reads -0.3 m
    s2 = floor_scores({**inputs, "camera_height_true_m": 1.7}, cfg, scene)
    assert s2["camera_height_err_m"] == pytest.approx(s["camera_height_err_m"] - 0.3)


def test_floor_variants_parse():
    from benchmarks.refine_replay import floor_variant

    cfg, scene, constants = floor_variant("feet")
    assert scene is False and constants == {}
    cfg, scene, constants = floor_variant("inlier_m=0.05,SCENE_SECOND_FAMILY=1e9")
    assert scene is True
    assert cfg.inlier_m == pytest.approx(0.05)
    assert constants == {"SCENE_SECOND_FAMILY": 1e9}
    with pytest.raises(SystemExit, match="no field 'nonsense'"):
        floor_variant("nonsense=1")


def test_floor_replay_refuses_a_folder_without_recordings(tmp_path, capsys):
    from benchmarks.refine_replay import main

    assert main(["floor", str(tmp_path / "missing")]) == 2
    assert "error:" in capsys.readouterr().err
    assert main(["floor", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error:") and "record" in err
