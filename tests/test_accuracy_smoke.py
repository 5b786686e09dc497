"""The accuracy harness (benchmarks/accuracy): its numbers are computed right, and a smoke run
renders a short held-out clip with real Blender, captures it with the real pipeline and scores
it the way the shared reviewer tool does."""

from __future__ import annotations

import json
import subprocess
import sys
from types import SimpleNamespace

import numpy as np
import pytest

from benchmarks.accuracy import metrics as M
from core import fk_numpy
from core import skeleton as sk
from tests.conftest import REPO, SHARED_DATA


def _truth(seed: int = 0, t: int = 40):
    """A smooth in-limit motion on the default skeleton as a harness truth."""
    from core.neurik.data import random_trajectories

    q = random_trajectories(np.random.default_rng(seed), 1, t, 30.0)[0]
    offsets = sk.default_offsets(1.75)
    _, org = fk_numpy.forward_kinematics(q, np.zeros((t, 3)), offsets)
    return SimpleNamespace(q_rad=q, offsets_m=offsets, body_origins_m=org, fps=30.0)


def test_perfect_prediction_scores_zero():
    from benchmarks.accuracy.run import score_method

    truth = _truth()
    s = score_method(truth.q_rad.copy(), truth, M.JUDGED_DOFS, truth.offsets_m)
    assert s["angles"]["mean_mae_deg"] == pytest.approx(0.0, abs=1e-9)
    assert s["angles"]["mean_mae_offset_free_deg"] == pytest.approx(0.0, abs=1e-9)
    assert s["angles"]["mean_r"] == pytest.approx(1.0, abs=1e-9)
    assert s["pose"]["mpjpe_mm"] == pytest.approx(0.0, abs=1e-6)
    assert s["pose"]["pa_mpjpe_mm"] == pytest.approx(0.0, abs=1e-6)
    assert s["pose"]["jitter_mps2"] == pytest.approx(s["pose"]["jitter_true_mps2"])
    assert s["violations"] == 0


def test_known_offsets_are_measured():
    from benchmarks.accuracy.run import score_method

    truth = _truth(seed=1)
    q = truth.q_rad.copy()
    # +4 deg on the right knee and -2 deg on the left hip adduction, everywhere: MAE 4 and 2 on
    # those DOFs (0 elsewhere), mean (4 + 2) / 10, offset-free 0, correlation untouched.
    q[:, sk.DOF["knee_angle_r"]] += np.radians(4.0)
    q[:, sk.DOF["hip_adduction_l"]] -= np.radians(2.0)
    s = score_method(q, truth, M.JUDGED_DOFS, truth.offsets_m)["angles"]
    assert s["mae_deg"]["knee_angle_r"] == pytest.approx(4.0, abs=1e-9)
    assert s["mae_deg"]["hip_adduction_l"] == pytest.approx(2.0, abs=1e-9)
    assert s["mae_deg"]["elbow_flexion_r"] == pytest.approx(0.0, abs=1e-9)
    assert s["mean_mae_deg"] == pytest.approx(0.6, abs=1e-9)
    assert s["mean_mae_offset_free_deg"] == pytest.approx(0.0, abs=1e-9)
    assert s["r"]["knee_angle_r"] == pytest.approx(1.0, abs=1e-9)
    # A sign flip is no offset: offset-free MAE stays large and r becomes -1.
    q2 = truth.q_rad.copy()
    k = sk.DOF["hip_flexion_r"]
    mean = q2[:, k].mean()
    q2[:, k] = 2 * mean - q2[:, k]
    s2 = score_method(q2, truth, M.JUDGED_DOFS)["angles"]
    assert s2["r"]["hip_flexion_r"] == pytest.approx(-1.0, abs=1e-9)
    expected = 2 * np.rad2deg(np.abs(truth.q_rad[:, k] - mean)).mean()
    assert s2["mae_offset_free_deg"]["hip_flexion_r"] == pytest.approx(expected, rel=1e-9)


def test_pose_scores_ignore_heading_but_not_a_bent_limb():
    truth = _truth(seed=2)
    a = np.radians(70.0)
    ry = np.array([[np.cos(a), 0, np.sin(a)], [0, 1, 0], [-np.sin(a), 0, np.cos(a)]])
    moved = truth.body_origins_m @ ry.T + np.array([3.0, 0.2, -1.0])
    s = M.pose_scores(moved, truth.body_origins_m, 30.0)
    assert s["mpjpe_mm"] == pytest.approx(0.0, abs=1e-6)
    # One body 24 mm off in every frame: 1 mm mean over the 24 bodies before the clip's rotation
    # is fitted; the least-squares rotation spreads a little of it over the others (the mean
    # distance may rise a bit while the squared error falls), so about 1 mm, not 0 and not 24.
    off = truth.body_origins_m.copy()
    off[:, sk.BODY["hand_r"]] += np.array([0.0, 0.024, 0.0])
    assert 0.7 < M.pose_scores(off, truth.body_origins_m, 30.0)["mpjpe_mm"] < 1.5


def test_contact_and_sliding():
    true = np.array([1, 1, 1, 1, 0, 0, 0, 1, 1, 1], bool)
    pred = np.array([1, 1, 1, 0, 0, 1, 0, 1, 1, 1], bool)
    s = M.contact_scores(pred, true)
    assert s["precision"] == pytest.approx(6 / 7)
    assert s["recall"] == pytest.approx(6 / 7)
    assert s["f1"] == pytest.approx(6 / 7)
    assert M.phases(true) == [(0, 4), (7, 10)]
    # A point sliding 1 cm per frame along X during the first phase, still in the second.
    p = np.zeros((10, 3))
    p[:4, 0] = 0.01 * np.arange(4)
    assert M.sliding_per_phase_m(p, true) == pytest.approx(0.015)  # median of 0.03 and 0


def test_peer_columns_align_by_time():
    from benchmarks.accuracy.methods import peer_curves

    t = np.arange(2, 8) / 30.0  # the peer leaves out the first two frames
    peer = {"time_s": t, "knee_angle_r": np.arange(6.0), "elbow_flex_r": -np.arange(6.0)}
    c = peer_curves(peer, 10, 30.0, ("knee_angle_r", "elbow_flexion_r"))
    assert np.isnan(c["knee_angle_r"][:2]).all() and np.isnan(c["knee_angle_r"][8:]).all()
    np.testing.assert_array_equal(c["knee_angle_r"][2:8], np.arange(6.0))
    np.testing.assert_array_equal(c["elbow_flexion_r"][2:8], -np.arange(6.0))


def test_contact_truth_floor_is_the_stance_level_not_the_lowest_point():
    """A retargeted walk: each patch stands still 3 cm up, digs in to 0 at strike, swings at
    10-20 cm; the labels' floor is the stance level, so every still frame is a contact, the
    swing is not, and a still point 8 cm above the stance (a hovering foot) is not either."""
    from benchmarks.accuracy.render import CONTACT_POINTS, stance_level, truth_contacts

    fps, t = 30.0, 60
    y = np.full(t, 0.03)
    y[20] = 0.0  # strike: the heel digs in under the floor of the stance
    y[30:50] = 0.10 + 0.10 * np.sin(np.linspace(0, np.pi, 20))  # swing
    x = np.zeros(t)
    x[30:50] = np.linspace(0.0, 1.2, 20)  # 1.8 m/s forward
    x[50:] = 1.2
    patch = np.stack([x, y, np.zeros(t)], -1)[:, None] + np.array([[0, 0, 0], [0.02, 0.01, 0]])
    verts = np.concatenate([patch, patch + [0, 0.08, 0.3]], 1)  # second patch: 8 cm higher
    patches = {
        n: np.array([0, 1]) if k < 2 else np.array([2, 3]) for k, n in enumerate(CONTACT_POINTS)
    }
    flags, low, level, still = truth_contacts(verts, patches, fps)
    assert level == pytest.approx(0.03)
    speed = np.abs(np.gradient(x)) * fps
    assert stance_level(low[..., 1], np.stack([speed] * 4, 1)) == pytest.approx(0.03)
    moving = speed >= 0.3
    assert flags[~moving, 0].all() and not flags[30:50, 0].any()
    assert flags[:, 0].tolist() == flags[:, 1].tolist()
    # 8 cm over the stance (its dig-in 5 cm: over the 4 cm tolerance) while still: the dig-in
    # to 0 does not lower the floor of the labels, so the hovering patch stays out of contact
    assert not flags[:, 2:].any()
    np.testing.assert_array_equal(still, flags & (speed < 0.3)[:, None])


def test_contact_truth_keeps_a_loaded_foot_that_rolls_but_does_not_call_it_planted():
    """A foot on the stance level moving at 0.5 m/s (a heel rolling at strike, a running
    stance; force plates load it) is in contact under the rule calibrated on the plates, but
    is not planted, so the sliding measure does not count its true travel; at 2 m/s on the
    floor (a shuffle's swing) it is not in contact."""
    from benchmarks.accuracy.render import (
        CONTACT_POINTS,
        CONTACT_SPEED_MPS,
        STILL_SPEED_MPS,
        truth_contacts,
    )

    assert STILL_SPEED_MPS < 0.5 < CONTACT_SPEED_MPS < 2.0
    fps, t = 30.0, 90
    v = np.r_[np.zeros(30), np.full(30, 0.5), np.full(30, 2.0)]
    x = np.cumsum(v) / fps
    patch = np.stack([x, np.full(t, 0.02), np.zeros(t)], -1)[:, None] + [[0, 0, 0], [0.02, 0, 0]]
    verts = np.concatenate([patch] * 2, 1)
    patches = {
        n: np.array([0, 1]) if k < 2 else np.array([2, 3]) for k, n in enumerate(CONTACT_POINTS)
    }
    flags, _, level, still = truth_contacts(verts, patches, fps)
    assert level == pytest.approx(0.02)
    assert flags[2:58].all() and not flags[62:].any()
    assert still[2:28].all() and not still[32:].any()


@pytest.mark.slow
def test_smoke_run_end_to_end(tmp_path):
    """One 0.3 s held-out clip: rendered by real Blender, captured by the real pipeline; the
    harness's MAE for the capture equals the shared reviewer tool's (motcmp on .mot files)."""
    if not (SHARED_DATA / "mocap" / "cmu" / "131_01.bvh").is_file():
        pytest.skip(f"held-out CMU clips not found under {SHARED_DATA / 'mocap'}")
    from core.hmr.synth.blender import BLENDER_PYTHON

    if not BLENDER_PYTHON.is_file():
        pytest.skip(f"Blender interpreter not found: {BLENDER_PYTHON}")
    out = tmp_path / "run"
    proc = subprocess.run(
        [
            sys.executable,
            str(REPO / "benchmarks" / "accuracy" / "run.py"),
            "--smoke",
            "--no-peer",
            "--ablate",
            "0",
            "--out",
            str(out),
            "--cache",
            str(tmp_path / "cache"),
        ],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    run = json.loads((out / "results.json").read_text())
    clip = run["clips"]["smoke"]
    assert "error" not in clip, clip
    cap = clip["methods"]["capture"]
    assert clip["found_pct"] == 100.0
    assert cap["violations"] == 0
    assert set(clip["stages_recorded"]) >= {"neurik"}
    assert cap["angles"]["n_frames"] == clip["frames"] >= 8
    # A capture of a clearly visible walker is far from random (tens of degrees) ...
    assert cap["angles"]["mean_mae_deg"] < 25.0
    # ... and the harness's number is the reviewer tool's, where that tool is available.
    if clip["motcmp_mae_deg"] is not None:
        assert cap["angles"]["mean_mae_deg"] == pytest.approx(clip["motcmp_mae_deg"], abs=0.06)
    md = (out / "results.md").read_text()
    assert "Synthetic held-out clips: 1 clips" in md


def _camera_truth(seed: int = 3, t: int = 20):
    """A harness truth seen by a known camera (3 m away, 1.5 m high, looking down a little)."""
    from benchmarks.accuracy.render import project
    from core.neurik.markersets import blazepose33

    truth = _truth(seed, t)
    root = np.zeros((t, 3))
    root[:, 1] = 1.0
    rot, org = fk_numpy.forward_kinematics(truth.q_rad, root, truth.offsets_m)
    bodies, local = blazepose33().define(SimpleNamespace(offsets_m=truth.offsets_m, height_m=1.75))
    blaze = fk_numpy.body_points(rot, org, bodies, local)
    centre = np.array([3.0, 1.5, 0.0])
    fwd = np.array([-1.0, -0.2, 0.0]) / np.hypot(1.0, 0.2)
    right = np.cross(fwd, [0.0, 1.0, 0.0])
    right /= np.linalg.norm(right)
    R = np.stack([right, np.cross(fwd, right), fwd])
    K = np.array([[500.0, 0, 320], [0, 500.0, 240], [0, 0, 1]])
    truth.blaze_world_m = blaze
    truth.blaze_px = project(K, R, centre, blaze)
    truth.R_cam_world, truth.cam_centre_m, truth.K = R, centre, K
    return truth


def test_ground_truth_detections_are_the_truth_in_mediapipes_conventions(monkeypatch):
    from benchmarks.accuracy import methods
    from core.detect import Detections
    from core.motion import Camera
    from core.neurik.markersets import blazepose33, mediapipe_world_to_bsm

    truth = _camera_truth()
    t = len(truth.q_rad)
    det = Detections(
        times_s=np.arange(t) / 30.0,
        frame_indices=np.arange(t),
        keypoint_names=blazepose33().names,
        keypoints_2d_px=np.zeros((t, 33, 2)),
        confidence=np.ones((t, 33)),
        keypoints_3d_m=np.zeros((t, 33, 3)),
        person_found=np.ones(t, bool),
        bbox_px=np.zeros((t, 4)),
        image_size_px=(640, 480),
        camera=Camera(500.0, 320.0, 240.0, 640, 480),
    )
    monkeypatch.setattr(methods, "GT2D_NOISE", 0.0)
    monkeypatch.setattr(methods, "GT3D_NOISE_M", 0.0)
    d = methods.gt3d_detections(det, truth, seed=0)
    # 2D: the known camera's pinhole projection, by hand for one point.
    p = (truth.blaze_world_m[5, 0] - truth.cam_centre_m) @ truth.R_cam_world.T
    np.testing.assert_allclose(d.keypoints_2d_px[5, 0], 500.0 * p[:2] / p[2] + [320, 240])
    # 3D: hip-centred, y down (the pipeline's own conversion turns it Y up): a rigid copy of the
    # truth whose "up" (-y) is the camera's up.
    names = blazepose33().names
    k3 = mediapipe_world_to_bsm(d.keypoints_3d_m)
    hips = k3[:, [names.index("left_hip"), names.index("right_hip")]].mean(1)
    np.testing.assert_allclose(hips, 0.0, atol=1e-12)
    dw = np.linalg.norm(truth.blaze_world_m[:, :, None] - truth.blaze_world_m[:, None], axis=-1)
    dk = np.linalg.norm(k3[:, :, None] - k3[:, None], axis=-1)
    np.testing.assert_allclose(dk, dw, atol=1e-9)
    head, ankle = names.index("nose"), names.index("left_ankle")
    assert (k3[:, head, 1] > k3[:, ankle, 1]).all()  # head above ankle, Y up after conversion


def test_false_contacts_by_kind():
    from benchmarks.accuracy.grounding import false_contact_kinds

    true = np.zeros((20, 4), bool)
    true[5:10, 1] = True  # right toe stands 5..9
    pred = np.zeros_like(true)
    pred[4:12, 1] = True  # ... held 1 frame early and 2 late: 3 boundary frames
    pred[6:9, 0] = True  # right heel while only the toe stands: 3 partial
    pred[15:17, 2] = True  # left heel with the whole left foot up: 2 raised
    pred[14, 1] = True  # right toe 5 frames after its contact: raised, not boundary
    assert false_contact_kinds(pred, true) == {"boundary": 3, "partial": 3, "raised": 3}


def test_grounding_scores_of_a_perfect_capture():
    from benchmarks.accuracy.grounding import scores
    from core.contacts import contact_point_definitions, contact_positions

    truth = _truth(seed=4, t=30)
    root = np.zeros((30, 3))
    bodies, local = contact_point_definitions(truth.offsets_m)
    pts = contact_positions(truth.q_rad, root, truth.offsets_m, bodies, local)
    root[:, 1] = -pts[..., 1].min()  # lowest sole point of the clip on the floor
    contact = np.zeros((30, 4), bool)
    contact[5:20, 0] = True
    truth.contact, truth.cam_height_m, truth.cam_pitch_deg = contact, 1.3, 8.0
    motion = SimpleNamespace(
        world={"frame": "world", "camera_height_m": 1.4, "camera_pitch_deg": 5.0},
        contacts=np.where(contact, 0.9, 0.1),
        q_rad=truth.q_rad,
        root_m=root,
        offsets_m=truth.offsets_m,
        surface=None,
    )
    s = scores(motion, truth)
    assert s["camera_height_err_m"] == pytest.approx(0.1)
    assert s["camera_pitch_err_deg"] == pytest.approx(3.0)
    assert s["contact_f1"] == pytest.approx(1.0)
    assert s["penetration_max_m"] == pytest.approx(0.0, abs=1e-12)
    # The heel point's own horizontal travel during frames 5..19 is core's sliding of that phase.
    heel = contact_positions(truth.q_rad, root, truth.offsets_m, bodies, local)[5:20, 0][:, [0, 2]]
    travel = np.linalg.norm(heel[:, None] - heel[None], axis=-1).max()
    assert s["sliding_median_m"] == pytest.approx(travel)
    assert "contact_f1_height_only" not in s  # a truth without a contact rule: no diagnostic
    # The truth's rule refuses a sole on the floor that moves: the capture's contact there is
    # false, and the diagnostic says it lay on the floor (frames 20-24 of the heel, 1 cm up).
    truth.contact_rule, truth.stance_level_m = "stance-level-v2", 0.0
    truth.contact_pos_m = np.full((30, 4, 3), 0.3)
    truth.contact_pos_m[5:25, 0, 1] = 0.01
    motion.contacts = np.where(contact, 0.9, 0.1)
    motion.contacts[20:25, 0] = 0.9
    motion.contacts[26:28, 2] = 0.9  # the other foot, in the air
    s = scores(motion, truth)
    assert s["contact_precision"] == pytest.approx(15 / 22)
    assert s["contact_fp_on_floor_moving"] == pytest.approx(5 / 7)
    assert s["contact_f1_height_only"] == pytest.approx(2 * 20 / (20 + 22))
    motion.world = None
    assert "not measured" in scores(motion, truth)["note"]


def test_treadmill_trials_are_scored_on_their_camera_alone():
    """On a treadmill the belt moves the stance feet, so a trial there has no contact or sliding
    truth; its camera and floor are known. ``camera_only`` scores those alone, and the report
    gives them their own column, apart from the synthetic clips and the overground trials."""
    from benchmarks.accuracy.grounding import scores
    from benchmarks.accuracy.report import grounding_table

    truth = _truth(seed=4, t=30)
    truth.contact, truth.cam_height_m, truth.cam_pitch_deg = np.ones((30, 4), bool), 1.2, 4.0
    motion = SimpleNamespace(
        world={
            "frame": "world",
            "camera_height_m": 1.5,
            "camera_pitch_deg": 6.5,
            "camera_height_sd_m": 0.1,
        },  # fmt: skip
        contacts=np.zeros((30, 4)),  # every contact missed: it must not be scored
        q_rad=truth.q_rad,
        root_m=np.zeros((30, 3)),
        offsets_m=truth.offsets_m,
        surface=None,
    )
    s = scores(motion, truth, camera_only=True)
    assert s["camera_only"] is True
    assert s["camera_height_err_m"] == pytest.approx(0.3)
    assert s["camera_pitch_err_deg"] == pytest.approx(2.5)
    assert s["camera_height_within_sd"] == 0.0
    assert not any(k.startswith(("contact", "sliding", "penetration")) for k in s)

    def clip(kind, grounding):
        return {"kind": kind, "grounding": grounding}

    md = "\n".join(
        grounding_table(
            {
                "a": clip("synthetic", {"camera_height_err_m": 0.1, "contact_f1": 0.9}),
                "b": clip("trial", {"camera_height_err_m": 0.2, "contact_f1": 0.8}),
                "c": clip("trial", s),
            }
        )
    )
    header = next(x for x in md.splitlines() if x.startswith("| quantity"))
    assert "treadmill marker trials (camera only)" in header and "overground" in header
    row = next(x for x in md.splitlines() if x.startswith("| camera_height_err_m "))
    assert row.split("|")[2:8] == [" 0.100 ", " 1 ", " 0.200 ", " 1 ", " 0.300 ", " 1 "]
    assert "camera_only" not in md


def test_ik_on_exact_landmarks_recovers_the_truth():
    """The harness's truth chain (BlazePose points on the true body, FK, angle metric) is
    consistent: IK on the exact points with the true skeleton gives the true angles back, but
    for hip flexion (the landmarks leave pelvis tilt free; a few degrees)."""
    from benchmarks.accuracy.methods import ik_on_truth
    from benchmarks.accuracy.run import score_method

    truth = _camera_truth(seed=5, t=12)
    truth.height_m = 1.75
    a = score_method(ik_on_truth(truth), truth, M.JUDGED_DOFS)["angles"]["mae_deg"]
    for d in ("knee_angle_r", "knee_angle_l", "elbow_flexion_r", "elbow_flexion_l"):
        assert a[d] < 1.0, (d, a[d])
    assert a["hip_flexion_r"] < 6.0 and a["hip_flexion_l"] < 6.0, a


def test_scaled_clips_are_the_same_cameras_at_more_pixels():
    """``--scale K`` renders the same clips (take, window, seed, 35 mm focal, placement) at K
    times the pixels, into their own cache folder."""
    if not (SHARED_DATA / "mocap").is_dir():
        pytest.skip(f"shared mocap data not found at {SHARED_DATA} (set BIOMOCAP_SHARED_DATA)")
    from benchmarks.accuracy import data

    for clips in (data.synthetic_clips, data.trial_clips):
        base, big = clips(0), clips(0, scale=4)
        assert [c.name for c in base] == [c.name for c in big]
        for a, b in zip(base, big, strict=True):
            assert (a.take, a.start_s, a.seconds, a.seed) == (b.take, b.start_s, b.seconds, b.seed)
            ca, cb = a.camera, b.camera
            assert (cb.width_px, cb.height_px) == (4 * ca.width_px, 4 * ca.height_px)
            assert cb.focal_px == pytest.approx(4 * ca.focal_px, rel=1e-12)
            assert cb.focal_35mm == ca.focal_35mm
            assert cb.height_m == ca.height_m and cb.azimuth_deg == ca.azimuth_deg
    assert data.clip_subdir(0) == "seed0" and data.clip_subdir(0, 4) == "seed0-x4"


def test_truth_keypoints_follow_the_current_keypoint_rule(tmp_path):
    """A cached clip whose BlazePose truth was made with other keypoint offsets gets it
    recomputed on the rebuilt subject (the gt2d ablation and the exact-landmark checks must fit
    the points the capture fits); one already current is left as it is."""
    if not (SHARED_DATA / "mocap").is_dir():
        pytest.skip(f"shared mocap data not found at {SHARED_DATA} (set BIOMOCAP_SHARED_DATA)")
    from benchmarks.accuracy import data
    from benchmarks.accuracy.render import (
        CONTACT_RULE,
        Truth,
        _blaze_truth,
        keypoint_rule,
        make_subject,
        refresh_truth,
    )

    spec = data.synthetic_clips(0)[0]
    subject = make_subject(np.random.default_rng(spec.seed))
    truth = _camera_truth(t=6)
    truth.offsets_m = subject.offsets_m
    truth.root_m = np.tile([0.0, 1.0, 0.0], (6, 1))
    blaze, px = _blaze_truth(subject, truth)
    truth.blaze_world_m, truth.blaze_px = blaze + 0.03, px + 5.0  # older points
    truth.height_m = float(subject.height_m)
    truth.body_origins_m = np.zeros((6, 24, 3))
    truth.cam_height_m, truth.cam_pitch_deg, truth.cam_roll_deg = 1.5, 10.0, 0.0
    truth.contact = np.zeros((6, 4), bool)
    truth.contact_pos_m = np.zeros((6, 4, 3))
    truth.width_px, truth.height_px = 640, 480
    truth = Truth(
        **{k: getattr(truth, k) for k in Truth.__dataclass_fields__ if hasattr(truth, k)}
    )
    truth.contact_rule, truth.keypoint_rule = CONTACT_RULE, "older"
    truth.save(tmp_path / "truth.npz")
    fresh = refresh_truth(spec, tmp_path)
    assert fresh.keypoint_rule == keypoint_rule()
    np.testing.assert_allclose(fresh.blaze_world_m, blaze, atol=1e-9)
    np.testing.assert_allclose(fresh.blaze_px, px, atol=1e-6)
    again = Truth.load(tmp_path / "truth.npz")
    assert again.keypoint_rule == keypoint_rule()
    np.testing.assert_allclose(again.blaze_px, px, atol=1e-6)


def test_truth_in_the_bank_s_convention_is_opt_in_and_rendered_apart(tmp_path):
    """``--truth bank``: a Daz-friendly held-out take's truth is its retarget moved into the
    bank's convention by the bank's own measurement (what the prior was trained in); the default
    keeps the take's own retarget. Such clips name the convention in their spec and live in their
    own cache folder, so neither set of renders is taken for the other."""
    from benchmarks.accuracy import data
    from benchmarks.accuracy.render import _same_window
    from core.bvh import retarget_bvh
    from core.mocap import bank

    path = SHARED_DATA / "mocap" / "cmu_more" / "subjects" / "09_05.bvh"
    if not path.is_file():
        pytest.skip(f"held-out Daz-friendly take not found: {path}")
    raw, report = retarget_bvh(path, target_fps=data.FPS, max_frames=6)
    assert report.convention == "daz"
    own = data.load_take(path, tmp_path, max_frames=6)
    np.testing.assert_allclose(own.q_rad, raw.q_rad)
    moved = data.load_take(path, tmp_path, max_frames=6, truth="bank")
    bias, convention, _ = bank.bank_convention()
    assert f"the bank's {convention} convention" in moved.source
    np.testing.assert_allclose(moved.q_rad, bank.to_convention(raw.q_rad, "daz", bias, convention))
    assert sk.limit_violations(moved.q_rad) == 0
    again = data.load_take(path, tmp_path, max_frames=6, truth="bank")  # from the cache
    np.testing.assert_array_equal(again.q_rad, moved.q_rad)
    np.testing.assert_array_equal(data.load_take(path, tmp_path, max_frames=6).q_rad, own.q_rad)
    with pytest.raises(ValueError, match="unknown truth convention 'smpl'"):
        data.load_take(path, tmp_path, truth="smpl")

    assert data.clip_subdir(0) == "seed0" and data.clip_subdir(0, 4, "bank") == "seed0-x4-bank"
    own_spec = next(s for s in data.synthetic_clips(0) if s.take == "09_05")
    bank_spec = next(s for s in data.synthetic_clips(0, truth="bank") if s.take == "09_05")
    assert own_spec.truth == "" and bank_spec.truth == data.truth_convention()
    assert bank_spec.truth.startswith(f"bank-{convention}-")
    assert (own_spec.camera, own_spec.seed) == (bank_spec.camera, bank_spec.seed)
    assert _same_window(own_spec, {k: v for k, v in own_spec.as_dict().items() if k != "truth"})
    assert _same_window(bank_spec, bank_spec.as_dict())
    assert not _same_window(bank_spec, own_spec.as_dict())
    assert not _same_window(own_spec, bank_spec.as_dict())


def test_harness_refuses_an_unknown_truth_convention(capsys):
    from benchmarks.accuracy import run

    with pytest.raises(SystemExit) as exit_:
        run.main(["--truth", "smpl", "--no-peer"])
    assert exit_.value.code == 2
    assert "invalid choice: 'smpl'" in capsys.readouterr().err


def test_rajagopal_walk_trial_is_a_second_walking_subject(tmp_path):
    """The harness's third marker trial: Rajagopal's overground walk, its subject scaled and its
    markers placed on its own static trial (the lab's applied scale factors), then OpenSim IK onto
    BSM-46. A real walk comes out: the markers fit to a couple of centimetres, the legs' mean
    angles are a walk's (the gait2392 walk's within 2 deg in the thirteenth session; here within
    wide bands), and it is judged on the legs only and captured without a treadmill belt."""
    root = SHARED_DATA / "opensim" / "rajagopal_walk_run"
    if not (root / "ExpData" / "motion_capture_walk.trc").is_file():
        pytest.skip(f"the Rajagopal walk is not under {root}")
    from benchmarks.accuracy import data

    names = [t[0] for t in data.TRIALS]
    assert names[:2] == ["gait2392_walk", "rajagopal_run"]  # their seeds stay as they were
    assert "rajagopal_walk" in data.LOWER_LIMB_TRIALS
    assert "rajagopal_walk" not in data.TREADMILL_TRIALS
    truth = data.load_trial("rajagopal_walk", tmp_path)
    assert len(truth.q_rad) == pytest.approx(2.3 * data.FPS, abs=2)
    rms_mm = float(truth.source.split("marker RMS ")[1].split(" mm")[0])
    assert rms_mm < 25.0
    mean = {d: float(np.degrees(truth.q_rad[:, sk.DOF[d]].mean())) for d in sk.DOF_NAMES}
    for side in "rl":
        assert -5.0 < mean[f"hip_flexion_{side}"] < 15.0
        assert 15.0 < mean[f"knee_angle_{side}"] < 40.0
    assert np.ptp(truth.root_m[:, 0]) > 2.0 or np.ptp(truth.root_m[:, 2]) > 2.0  # overground
    assert (tmp_path / "trials" / "rajagopal_walk" / "rajagopal_walk_scaled.osim").is_file()
