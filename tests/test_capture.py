"""Capture end to end on real data: real MediaPipe on the Sports2D clip and an HSMR photo, real
OpenSim validating what was written; bad input gives one clear error."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from core import skeleton as sk
from core.motion import Motion
from core.neurik.runtime import WEIGHTS_DIR
from tests.conftest import REPO, shared_path

pytestmark = pytest.mark.skipif(
    not (WEIGHTS_DIR / "blazepose33" / "model.safetensors").is_file(),
    reason="NeurIK weights not shipped",
)


@pytest.fixture(scope="module")
def demo_capture(tmp_path_factory) -> tuple[Path, object]:
    from core.capture import CaptureOptions, Progress, capture

    video = shared_path("videos", "sports2d", "demo.mp4")
    out = tmp_path_factory.mktemp("capture")
    res = capture(
        video, CaptureOptions(output=out, start_s=2.0, end_s=3.5, name="clip"), Progress()
    )
    return out, res


@pytest.mark.slow
def test_video_capture_writes_valid_outputs(demo_capture) -> None:
    out, res = demo_capture
    for key in ("motion", "plot", "opensim", "overlay", "report"):
        assert res.outputs[key].is_file(), key
    motion = Motion.load(res.motion_path)
    assert 40 <= motion.n_frames <= 50 and abs(motion.fps - 30.0) < 0.5
    assert sk.limit_violations(motion.q_rad) == 0 and res.limit_violations == 0
    assert motion.markers_m.shape == (motion.n_frames, len(motion.marker_names), 3)
    assert "surface" in motion.provenance and "MQ-HMR" in motion.provenance["surface"]
    assert motion.provenance["neurik"].startswith("core/neurik/weights/blazepose33 ")
    from core.capture.options import CaptureOptions, resolve_threads

    assert motion.provenance["threads"] == str(resolve_threads(CaptureOptions(output=out)))
    # Refinement fits the detections: well under the 2D error of the unrefined solution.
    assert res.mean_reprojection_px < 25.0
    # report.json says the same as the run, for machines (strict JSON: no NaN).
    rep = json.loads(
        res.outputs["report_json"].read_text(),
        parse_constant=lambda c: pytest.fail(f"report.json has {c}"),
    )
    assert rep["frames"] == motion.n_frames and abs(rep["fps"] - motion.fps) < 1e-9
    assert abs(rep["reprojection_px"]["mean"] - res.mean_reprojection_px) < 1e-9
    assert {"detect", "refine", "world", "outputs"} <= set(rep["timings_s"])
    assert rep["world"]["frame"] == motion.world["frame"] and rep["limit_violations"] == 0
    assert (out / rep["outputs"]["motion"]).is_file() and rep["outputs"]["report"] == "report.html"
    # No --height: the adult population's mean stature (the body is fitted to it by bisection),
    # and the report says so.
    from core.hmr.fit import POPULATION_STATURE_M

    assert abs(motion.height_m - POPULATION_STATURE_M) < 0.01, motion.height_m
    assert any("pass --height" in n for n in rep["notes"]), rep["notes"]
    assert res.mean_reprojection_px < res.initial_reprojection_px
    from biomech_export import validate_files

    rep = validate_files(out / "opensim" / "clip.osim", out / "opensim" / "clip.mot")
    assert rep.ok, rep.problems
    html = res.outputs["report"].read_text()
    assert "reprojection" in html and "joint_angles.png" in html


HSMR_PHOTOS = ("ballerina.png", "exercise.jpeg", "rock_climbing.jpg", "skate.jpg",
               "skateboard.jpg", "yoga1.jpg", "yoga2.jpeg")  # fmt: skip


@pytest.mark.slow
@pytest.mark.parametrize("name", HSMR_PHOTOS)
def test_single_image_capture_on_every_hsmr_photo(tmp_path, name) -> None:
    from biomech_export import validate_files
    from core.capture import CaptureOptions, Progress, capture

    image = shared_path("images", "hsmr", name)
    res = capture(
        image, CaptureOptions(output=tmp_path), Progress(jsonl=True, stream=open(os.devnull, "w"))
    )  # noqa: SIM115
    motion = Motion.load(res.motion_path)
    assert motion.n_frames == 1 and sk.limit_violations(motion.q_rad) == 0
    assert res.outputs["overlay"].suffix == ".png" and res.outputs["overlay"].is_file()
    rep = validate_files(res.outputs["opensim"], res.outputs["opensim"].with_suffix(".mot"))
    assert rep.ok, rep.problems
    # The fitted body explains the detected keypoints: a few percent of the person's size.
    kp = motion.keypoints_2d[0]
    ok = kp[:, 2] > 0.5
    size = float(np.ptp(kp[ok, :2], axis=0).max())
    assert res.mean_reprojection_px < 0.05 * size, (res.mean_reprojection_px, size)


def _run_cli(*args: str, cwd: Path = REPO) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "core", *args], cwd=cwd, capture_output=True, text=True, timeout=300
    )


def test_missing_and_corrupt_inputs_give_one_clear_line(tmp_path) -> None:
    r = _run_cli("capture", str(tmp_path / "nope.mp4"), "-o", str(tmp_path / "o"))
    assert r.returncode != 0 and "not found" in r.stderr.strip().splitlines()[-1]
    bad = tmp_path / "bad.mp4"
    bad.write_text("this is not a video")
    r = _run_cli("capture", str(bad), "-o", str(tmp_path / "o2"), "--progress-jsonl")
    assert r.returncode != 0
    last = json.loads(r.stdout.strip().splitlines()[-1])
    assert "error" in last and "bad.mp4" in last["error"]
    assert not (tmp_path / "o2" / "bad.motion.npz").exists()


def test_no_person_in_view(tmp_path) -> None:
    import av

    path = tmp_path / "black.mp4"
    with av.open(str(path), "w") as c:
        s = c.add_stream("libx264", rate=10)
        s.width, s.height, s.pix_fmt = 160, 120, "yuv420p"
        for _ in range(5):
            for p in s.encode(
                av.VideoFrame.from_ndarray(np.zeros((120, 160, 3), np.uint8), format="rgb24")
            ):
                c.mux(p)
        for p in s.encode():
            c.mux(p)
    r = _run_cli("capture", str(path), "-o", str(tmp_path / "o"))
    assert r.returncode != 0 and "no person" in r.stderr.strip().splitlines()[-1]


def test_bad_options(tmp_path) -> None:
    video = shared_path("videos", "sports2d", "demo.mp4")
    r = _run_cli("capture", str(video), "-o", str(tmp_path), "--fps", "0", "--end", "0.2")
    assert r.returncode != 0 and "--fps" in r.stderr.strip().splitlines()[-1]


def test_torch_threads_come_from_the_option_the_environment_or_one(tmp_path, monkeypatch) -> None:
    """A capture runs torch on one CPU thread unless told otherwise (--threads, else
    OMP_NUM_THREADS): two threads made the refinement 10x slower on a busy 2-core machine.
    A bad count is one clear line before any work."""
    from core.capture.options import CaptureOptions, resolve_threads

    monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
    assert resolve_threads(CaptureOptions(output=tmp_path)) == 1
    monkeypatch.setenv("OMP_NUM_THREADS", "3")
    assert resolve_threads(CaptureOptions(output=tmp_path)) == 3
    assert resolve_threads(CaptureOptions(output=tmp_path, threads=2)) == 2
    video = shared_path("videos", "sports2d", "demo.mp4")
    r = _run_cli("capture", str(video), "-o", str(tmp_path / "out"), "--threads", "0")
    last = r.stderr.strip().splitlines()[-1]
    assert r.returncode != 0 and last.startswith("error:") and "--threads" in last
    assert not (tmp_path / "out").exists()


def _clip(path: Path, n_frames: int, start_frame: int = 60, keyint: int = 5) -> Path:
    """``n_frames`` of the real Sports2D clip (half size), re-encoded as H.264."""
    import av

    src = shared_path("videos", "sports2d", "demo.mp4")
    with av.open(str(src)) as c, av.open(str(path), "w") as out:
        s = out.add_stream("libx264", rate=30)
        s.options = {"g": str(keyint)}
        for i, f in enumerate(c.decode(video=0)):
            if i < start_frame:
                continue
            if i >= start_frame + n_frames:
                break
            rgb = f.to_ndarray(format="rgb24")[::2, ::2]
            h, w = rgb.shape[0] // 2 * 2, rgb.shape[1] // 2 * 2
            if i == start_frame:
                s.width, s.height, s.pix_fmt = w, h, "yuv420p"
            frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(rgb[:h, :w]), format="rgb24")
            for p in s.encode(frame):
                out.mux(p)
        for p in s.encode():
            out.mux(p)
    return path


def _damage_middle(path: Path) -> Path:
    data = bytearray(path.read_bytes())
    rng = np.random.default_rng(0)
    for k in range(int(len(data) * 0.45), int(len(data) * 0.55), 7):
        data[k] = rng.integers(256)
    bad = path.with_name("damaged" + path.suffix)
    bad.write_bytes(bytes(data))
    return bad


def test_damaged_packets_mid_clip_are_skipped_and_counted(tmp_path) -> None:
    from core.video import DecodeReport, iter_frames

    clean = _clip(tmp_path / "clean.mp4", 30)
    report = DecodeReport()
    frames = list(iter_frames(_damage_middle(clean), report=report))
    assert report.damaged_packets > 0 and "damaged" in report.warning()
    # Frames after the damage are still decoded, with their real (unique) timestamps; a damaged
    # stream may deliver them out of order, which the capture's uniform grid puts right.
    times = np.array([f.time_s for f in frames])
    assert 0 < len(frames) <= 30 and times.max() > 0.9 and len(np.unique(times)) == len(times)


def test_uniform_grid_fills_gaps_with_empty_frames() -> None:
    from dataclasses import replace

    from core.capture import on_uniform_grid
    from core.detect import BLAZEPOSE_KEYPOINT_NAMES, Detections
    from core.motion import Camera

    t = np.array([0.0, 0.1, 0.2, 0.5, 0.6, 0.7])  # 10 fps with frames 3 and 4 missing
    n = len(t)
    det = Detections(
        t, np.arange(n), BLAZEPOSE_KEYPOINT_NAMES, np.random.rand(n, 33, 2),
        np.full((n, 33), 0.9), np.random.rand(n, 33, 3), np.ones(n, bool), np.ones((n, 4)),
        (64, 48), Camera(50.0, 32.0, 24.0, 64, 48),
    )  # fmt: skip
    grid, filled = on_uniform_grid(det, 10.0)
    assert filled == 2 and grid.n_frames == 8
    np.testing.assert_allclose(grid.times_s, np.arange(8) / 10.0)
    assert list(grid.person_found) == [True] * 3 + [False] * 2 + [True] * 3
    assert list(grid.frame_indices) == [0, 1, 2, -1, -1, 3, 4, 5]
    np.testing.assert_array_equal(grid.keypoints_2d_px[5], det.keypoints_2d_px[3])
    assert np.isnan(grid.keypoints_2d_px[3]).all() and (grid.confidence[4] == 0).all()
    uniform = replace(det, times_s=np.arange(n) / 10.0)
    same, none = on_uniform_grid(uniform, 10.0)  # no gaps, in order: unchanged
    assert none == 0 and same is uniform
    order = np.array([0, 2, 1, 3, 4, 5])  # out of order, as a damaged stream delivers them
    shuffled = replace(det, times_s=t[order], frame_indices=order)
    fixed, _ = on_uniform_grid(shuffled, 10.0)
    assert list(fixed.frame_indices) == [0, 1, 2, -1, -1, 3, 4, 5]


@pytest.mark.slow
def test_one_frame_and_damaged_videos_give_results_with_warnings(tmp_path) -> None:
    one = _clip(tmp_path / "one.mp4", 1)
    r = _run_cli("capture", str(one), "-o", str(tmp_path / "o1"), "--no-overlay")
    assert r.returncode == 0, r.stderr
    assert Motion.load(tmp_path / "o1" / "one.motion.npz").n_frames == 1
    bad = _damage_middle(_clip(tmp_path / "clip.mp4", 30))
    r = _run_cli("capture", str(bad), "-o", str(tmp_path / "o2"), "--no-overlay")
    assert r.returncode == 0, r.stderr
    motion = Motion.load(tmp_path / "o2" / "damaged.motion.npz")
    assert motion.n_frames == 30 and sk.limit_violations(motion.q_rad) == 0
    assert "damaged" in motion.provenance["notes"]
    assert "damaged" in r.stderr  # the warning reaches the terminal too
    assert not list((tmp_path / "o2").glob(".*partial"))


def test_unwritable_output_gives_one_line(tmp_path) -> None:
    blocker = tmp_path / "file.txt"
    blocker.write_text("a file where the output folder should go")
    one = _clip(tmp_path / "one.mp4", 1)
    r = _run_cli("capture", str(one), "-o", str(blocker / "out"))
    assert r.returncode != 0
    assert "cannot create the output folder" in r.stderr.strip().splitlines()[-1]
    assert blocker.read_text().startswith("a file")


@pytest.mark.slow
def test_ctrl_c_leaves_previous_outputs_and_nothing_half_written(tmp_path) -> None:
    import signal
    import time

    clip = _clip(tmp_path / "clip.mp4", 45)
    out = tmp_path / "out"
    out.mkdir()
    previous = out / "clip.motion.npz"
    previous.write_bytes(b"previous run")  # a user's earlier result must survive a cancel
    proc = subprocess.Popen(
        [sys.executable, "-m", "core", "capture", str(clip), "-o", str(out), "--progress-jsonl"],
        cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        for line in proc.stdout:  # wait until the pipeline is refining, then press Ctrl-C
            if line.startswith("{") and json.loads(line).get("stage") == "refine":
                break
        time.sleep(0.5)
        proc.send_signal(signal.SIGINT)
        stdout, stderr = proc.communicate(timeout=120)
    finally:
        proc.kill()
    assert proc.returncode == 130, stderr
    assert stderr.strip().splitlines()[-1].startswith("cancelled")
    assert sorted(p.name for p in out.iterdir()) == ["clip.motion.npz"]
    assert previous.read_bytes() == b"previous run"


@pytest.mark.slow
def test_capture_with_the_mq_hmr_surface_stage(tmp_path) -> None:
    """--hmr mq runs end to end (crops, network, query refinement, whole-sequence refinement) and
    the provenance names the checkpoint. The network here is randomly initialised: this tests the
    plumbing and the limits, not accuracy (benchmarks/hmr_eval.py measures that)."""
    import torch

    from core.capture import CaptureOptions, Progress, capture
    from core.hmr.mq import build_model, preset, save_weights

    torch.manual_seed(0)
    ckpt = tmp_path / "mq"
    save_weights(build_model(preset("small")), ckpt)
    video = shared_path("videos", "sports2d", "demo.mp4")
    opts = CaptureOptions(
        output=tmp_path / "out", start_s=2.0, end_s=2.4, name="clip", hmr="mq",
        hmr_checkpoint=str(ckpt), overlay=False,
    )  # fmt: skip
    res = capture(video, opts, Progress(jsonl=True, stream=open(os.devnull, "w")))  # noqa: SIM115
    motion = Motion.load(res.motion_path)
    assert motion.n_frames >= 10 and res.limit_violations == 0
    assert sk.limit_violations(motion.q_rad) == 0
    assert motion.provenance["surface"].startswith("MQ-HMR small checkpoint")
    assert (
        str(ckpt) in motion.provenance["surface"]
        and "query refinement" in motion.provenance["surface"]
    )
    assert np.isfinite(res.mean_reprojection_px) and res.mean_reprojection_px < 40.0
    from biomech_export import validate_files

    rep = validate_files(res.outputs["opensim"], res.outputs["opensim"].with_suffix(".mot"))
    assert rep.ok, rep.problems


def test_unknown_surface_method_and_missing_weights(tmp_path) -> None:
    video = shared_path("videos", "sports2d", "demo.mp4")
    r = _run_cli(
        "capture", str(video), "-o", str(tmp_path / "o"), "--end", "0.1", "--hmr", "mq",
        "--hmr-checkpoint", str(tmp_path / "nowhere"),
    )  # fmt: skip
    last = r.stderr.strip().splitlines()[-1]
    assert r.returncode != 0 and "no MQ-HMR weights" in last and "core.hmr.mq.train" in last
    assert not (tmp_path / "o" / "demo.motion.npz").exists()


@pytest.fixture(scope="module")
def walk_capture(tmp_path_factory) -> tuple[Path, object]:
    """The demo clip's woman walking on the lawn (2-3.5 s), without the overlay video."""
    from core.capture import CaptureOptions, Progress, capture

    video = shared_path("videos", "sports2d", "demo.mp4")
    out = tmp_path_factory.mktemp("walk")
    opts = CaptureOptions(
        output=out, start_s=2.0, end_s=3.5, name="walk", person="right", overlay=False
    )
    return out, capture(video, opts, Progress(jsonl=True, stream=open(os.devnull, "w")))  # noqa: SIM115


@pytest.mark.slow
def test_box_top_above_the_camera_is_not_the_floor(demo_capture) -> None:
    """The man stands on a box whose top is above the camera (2-3.5 s). From one spot 6 m away
    the box top's height under the camera is known only to about 0.7 m (the tilt prior's), and
    the estimate (0.2 m below) is within that: no floor is claimed, so the capture keeps the
    camera's axes and puts his lowest foot point at Y = 0 (core.world.FloorConfig.min_height_sd;
    the lifter prior alone put the box top 0.2009 m below the camera, past the 0.2 m bound)."""
    _, res = demo_capture
    w = Motion.load(res.motion_path).world
    assert w["frame"] == "camera" and w["floor_source"] == "lowest-foot", w
    assert any("floor could not be estimated" in n for n in res.notes), res.notes


@pytest.mark.slow
def test_capture_is_world_grounded(walk_capture) -> None:
    """The woman walking on the lawn is in a world frame: floor at Y = 0 under her stance feet,
    a camera above it, a continuous root, contacts in the bundle, the .sto and pictures."""
    from biomech_export.mot import read_mot
    from core.contacts import CONTACT_POINTS

    out, res = walk_capture
    motion = Motion.load(res.motion_path)
    w = motion.world
    assert w["frame"] == "world" and w["floor_source"] == "feet", w
    # A handheld camera filming a walker from a few metres: somewhere between knee and 3 m high.
    assert 0.3 < w["camera_height_m"] < 3.0, w
    # The lowest foot marker of each frame sits on the floor (markers are 1-6 cm above the sole;
    # the bound for the median is [-0.03, 0.10] m).
    feet = [
        i for i, n in enumerate(motion.marker_names) if "calc" in n or "toe" in n or "meta" in n
    ]
    lowest = np.nanmin(motion.markers_m[:, feet, 1], axis=1)
    assert -0.03 <= np.median(lowest) <= 0.10, np.median(lowest)
    assert np.isfinite([w["camera_height_m"], w["camera_pitch_deg"], w["camera_roll_deg"]]).all()
    assert abs(w["focal_px"] - motion.camera.focal_px) < 1e-6
    # The camera's centre in the world frame is camera_height_m above the floor.
    centre = -np.asarray(motion.camera.rotation).T @ np.asarray(motion.camera.translation_m)
    assert abs(centre[1] - w["camera_height_m"]) < 1e-6
    root_angles = motion.q_rad[:, [sk.DOF[n] for n in ("pelvis_tilt", "pelvis_list",
                                                        "pelvis_rotation")]]  # fmt: skip
    assert np.rad2deg(np.abs(np.diff(root_angles, axis=0))).max() < 20.0
    assert motion.contacts is not None and motion.contacts.shape == (motion.n_frames, 4)
    sto = read_mot(out / "opensim" / "walk_contacts.sto")
    assert sto.labels == CONTACT_POINTS and np.allclose(sto.data, motion.contacts, atol=1e-6)
    assert res.outputs["contacts_plot"].is_file()
    assert "camera height" in res.outputs["report"].read_text()


@pytest.mark.slow
def test_capture_without_feet_keeps_the_camera_frame(tmp_path) -> None:
    """Feet cut off (the top 40% of the demo clip: the man on the box down to his knees): the
    capture works, says the floor could not be estimated and keeps the camera frame's axes, with
    the lowest foot point moved to Y = 0."""
    import av

    from core.capture import CaptureOptions, Progress, capture
    from core.video import iter_frames

    video = shared_path("videos", "sports2d", "demo.mp4")
    path = tmp_path / "no_feet.mp4"
    with av.open(str(path), "w") as c:
        s = c.add_stream("libx264", rate=30)
        s.pix_fmt = "yuv420p"
        for i, f in enumerate(iter_frames(video, start_s=2.0, end_s=3.0, max_side_px=1280)):
            crop = np.ascontiguousarray(f.rgb[: int(0.4 * f.rgb.shape[0]) // 2 * 2])
            if i == 0:
                s.width, s.height = crop.shape[1] // 2 * 2, crop.shape[0]
            crop = crop[:, : s.width]
            for p in s.encode(av.VideoFrame.from_ndarray(crop, format="rgb24")):
                c.mux(p)
        for p in s.encode():
            c.mux(p)
    res = capture(
        path,
        CaptureOptions(output=tmp_path / "o", export_opensim=False, overlay=False),
        Progress(jsonl=True, stream=open(os.devnull, "w")),  # noqa: SIM115
    )
    motion = Motion.load(res.motion_path)
    assert motion.world["frame"] == "camera" and motion.world["floor_source"] == "lowest-foot"
    assert motion.contacts is None
    # Moved down so the lowest foot point is at Y = 0: foot markers sit a few cm above the sole.
    feet = [
        i for i, n in enumerate(motion.marker_names) if "calc" in n or "toe" in n or "meta" in n
    ]
    assert feet and -0.01 <= np.nanmin(motion.markers_m[:, feet, 1]) <= 0.15
    assert any("floor could not be estimated" in n for n in res.notes), res.notes
    assert np.allclose(motion.camera.rotation, np.diag([1.0, -1.0, -1.0]))
    assert sk.limit_violations(motion.q_rad) == 0


@pytest.mark.slow
def test_scene_frames_kept_while_detecting_equal_a_second_decode(tmp_path) -> None:
    """The world stage's scene-line frames come from the detection pass (no second decode of the
    video): the same grey frames and boxes as decoding them again."""
    from core.capture import CaptureOptions, Progress
    from core.capture.detection import detect_stage
    from core.world import scene_frames

    video = shared_path("videos", "sports2d", "demo.mp4")
    opts = CaptureOptions(output=tmp_path, start_s=2.0, end_s=3.5)
    d = detect_stage(video, opts, Progress(jsonl=True, stream=open(os.devnull, "w")))
    assert d.scene_frames is not None and len(d.scene_frames) == 5
    kp, width = d.detections.keypoints_2d_px, int(d.camera.width_px)
    kept = scene_frames(video, d.times_s, kp, width, frames=d.scene_frames)
    decoded = scene_frames(video, d.times_s, kp, width)
    assert len(kept) == len(decoded) == 5
    for (g1, b1), (g2, b2) in zip(kept, decoded, strict=True):
        assert np.array_equal(g1, g2) and np.array_equal(b1, b2, equal_nan=True)
    # the capture finds their line segments in a thread beside the refinement: the same segments
    from core.capture.ground import start_scene_lines
    from core.world import scene_line_segments

    future = start_scene_lines(video, d, opts)
    segments = scene_line_segments(decoded)
    assert len(segments) > 20 and np.array_equal(future.result(timeout=60), segments)
    # without scene lines nothing is kept, and no lines are looked for
    off = detect_stage(
        video, CaptureOptions(output=tmp_path, start_s=2.0, end_s=2.5, scene_lines=False),
        Progress(jsonl=True, stream=open(os.devnull, "w")),
    )  # fmt: skip
    assert off.scene_frames is None
    assert (
        start_scene_lines(video, off, CaptureOptions(output=tmp_path, scene_lines=False)) is None
    )


def test_scene_frame_keeper_gives_up_when_a_frame_is_missing_or_shrunk() -> None:
    from core.capture.detection import _SceneFrameKeeper
    from core.video import Frame

    def run(n: int, expected: int, width: int = 64) -> tuple | None:
        keep = _SceneFrameKeeper(64)
        for i in range(n):
            keep(Frame(i, i / 30, np.full((8, width, 3), i, np.uint8)), expected)
        return keep.frames(np.arange(n) / 30)

    kept = run(100, 101)  # the container off by one: kept
    assert [f.index for f in kept] == [0, 25, 50, 74, 99]
    assert [int(f.rgb[0, 0, 0]) for f in kept] == [0, 25, 50, 74, 99]  # each its own pixels
    assert run(100, 140) is None  # far from the container's count: decoded again
    assert run(100, 100, width=32) is None  # shrunk for the detector: decoded again


@pytest.mark.gpu
@pytest.mark.skipif(not __import__("torch").cuda.is_available(), reason="needs a CUDA GPU")
def test_capture_on_cuda_matches_the_cpu(tmp_path) -> None:
    """With --device cuda NeurIK, the surface fit and both refinements run on the GPU; the
    optimisation reaches the same motion as on the CPU (float64 both; only summation order
    differs, so the optima agree far below a degree)."""
    from core.capture import CaptureOptions, Progress, capture

    video = shared_path("videos", "sports2d", "demo.mp4")
    res = {}
    for device in ("cpu", "cuda"):
        opts = CaptureOptions(
            output=tmp_path / device, start_s=2.0, end_s=3.0, device=device, overlay=False,
            export_opensim=False,
        )  # fmt: skip
        res[device] = capture(video, opts, Progress(jsonl=True, stream=open(os.devnull, "w")))
    a, b = (Motion.load(res[d].motion_path) for d in ("cpu", "cuda"))
    assert b.provenance["device"] == "cuda"
    assert np.degrees(np.abs(a.q_rad - b.q_rad)).mean() < 0.5
    assert np.abs(a.root_m - b.root_m).max() < 0.02
    assert abs(res["cpu"].mean_reprojection_px - res["cuda"].mean_reprojection_px) < 0.5


def test_overlay_poser_equals_the_reference_skinning() -> None:
    """The overlay's per-frame poser (K gathers of the (8, 24) body table) gives
    pose_vertices_numpy's vertices, including vertices whose bodies lie in opposite quaternion
    hemispheres and a vertex listing one body twice."""
    from core.skinning import SurfacePoser, pose_vertices_numpy

    rng = np.random.default_rng(3)
    n_v, n_b, k = 400, 24, 4
    verts = rng.normal(size=(n_v, 3))
    bodies = np.stack([rng.choice(n_b, k, replace=False) for _ in range(n_v)])
    bodies[0, 1] = bodies[0, 0]  # a body twice in one row: its weights add up in both
    weights = rng.random((n_v, k))
    weights[:, -1] = 0.0  # zero-weight padding, as top_k_weights leaves it
    weights /= weights.sum(1, keepdims=True)
    centres = rng.normal(size=(n_b, 3))
    poser = SurfacePoser(verts, bodies, weights, centres)
    for _ in range(5):
        # random rotations, some near 180 deg (their quaternions flip hemisphere against others)
        axis = rng.normal(size=(n_b, 3))
        axis /= np.linalg.norm(axis, axis=1, keepdims=True)
        ang = rng.uniform(0.0, np.pi, n_b)
        kx = np.zeros((n_b, 3, 3))
        kx[:, 0, 1], kx[:, 0, 2], kx[:, 1, 2] = -axis[:, 2], axis[:, 1], -axis[:, 0]
        kx -= kx.transpose(0, 2, 1)
        rot = (
            np.eye(3)
            + np.sin(ang)[:, None, None] * kx
            + (1 - np.cos(ang))[:, None, None] * (kx @ kx)
        )
        org = rng.normal(size=(n_b, 3))
        ref = pose_vertices_numpy(verts, bodies, weights, centres, rot, org)
        np.testing.assert_allclose(poser(rot, org), ref, rtol=0, atol=1e-10)


def test_overlay_outline_of_a_square_and_of_broken_vertices() -> None:
    """The surface outline: a square of two triangles facing the camera gives its four corners;
    a triangle facing away, NaN and huge vertices add nothing."""
    from core.visualize import _outline

    v = np.array(
        [
            [10, 10],
            [50, 10],
            [50, 40],
            [10, 40],
            [60, 60],
            [70, 60],
            [60, 70],
            [np.nan, 5],
            [1e9, 5],
        ],
        float,
    )
    # image coordinates (y down): (0, 1, 2) has a positive cross product, as the outline keeps
    faces = np.array([[0, 1, 2], [0, 2, 3], [4, 6, 5], [0, 1, 7], [0, 1, 8]])
    cs = _outline((100, 100), v, faces)
    assert len(cs) == 1
    pts = cs[0].reshape(-1, 2)
    assert {tuple(p) for p in pts} == {(10, 10), (50, 10), (50, 40), (10, 40)}


def test_overlay_outline_in_its_box_equals_the_whole_frames() -> None:
    """The outline is filled and traced in the box its triangles cover: the same contours as a
    fill of the whole frame, for a mesh inside the frame, across each of its edges and with
    coordinates far outside."""
    import cv2

    from core.visualize import _outline

    def whole_frame(shape_hw, v, faces):
        mask = np.zeros(shape_hw, np.uint8)
        vi = np.round(v).astype(np.int64)
        tri = vi[faces]
        e1, e2 = tri[:, 1] - tri[:, 0], tri[:, 2] - tri[:, 0]
        facing = e1[:, 0] * e2[:, 1] - e1[:, 1] * e2[:, 0] > 0
        cv2.fillPoly(mask, list(tri[facing].astype(np.int32)), 255)
        return cv2.findContours(mask, cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE)[0]

    rng = np.random.default_rng(5)
    # a bumpy closed surface (a sphere's grid) projected: both facings, small triangles
    th, ph = np.meshgrid(np.linspace(0.05, np.pi - 0.05, 20), np.linspace(0, 2 * np.pi, 31)[:-1])
    r = 1 + 0.2 * rng.random(th.shape)
    pts = np.stack([r * np.sin(th) * np.cos(ph), r * np.cos(th)], -1).reshape(-1, 2)
    idx = np.arange(th.size).reshape(th.shape)
    a, b = idx[:, :-1], idx[:, 1:]
    c, d = np.roll(a, -1, 0), np.roll(b, -1, 0)
    faces = np.concatenate(
        [np.stack([a, b, c], -1).reshape(-1, 3), np.stack([b, d, c], -1).reshape(-1, 3)]
    )
    shape = (120, 160)
    for centre in ([80, 60], [5, 60], [155, 60], [80, 3], [80, 118], [-30, -20], [400, 60]):
        v = pts * 40 + centre
        got, ref = _outline(shape, v, faces), whole_frame(shape, v, faces)
        assert len(got) == len(ref)
        assert all(np.array_equal(g, f) for g, f in zip(got, ref, strict=True))
    v = pts * 40 + [80, 60]
    v[::9] *= 600  # some vertices far outside (+-29000 px)
    got, ref = _outline(shape, v, faces), whole_frame(shape, v, faces)
    assert len(got) == len(ref) and len(got) >= 1
    assert all(np.array_equal(g, f) for g, f in zip(got, ref, strict=True))


def test_outputs_failure_stops_the_overlay_beside_it(tmp_path, monkeypatch) -> None:
    """The overlay runs in a thread beside the other outputs: when they fail, the overlay is told
    to stop and has stopped before the error leaves the outputs stage (the staging folder is
    removed next: nothing may still write into it)."""
    import time
    from types import SimpleNamespace

    import core.capture.outputs as O
    from core.capture import Progress

    seen = {}

    def overlay(*args):
        cancel = args[-1]
        t0 = time.perf_counter()
        while not cancel.is_set() and time.perf_counter() - t0 < 20:
            time.sleep(0.01)
        seen["cancelled"] = cancel.is_set()
        time.sleep(0.2)  # a frame's work after the request
        seen["finished"] = True
        raise RuntimeError("overlay cancelled")

    def files(*args):
        raise OSError("disk full")

    monkeypatch.setattr(O, "_overlay", overlay)
    monkeypatch.setattr(O, "_files", files)
    opts = SimpleNamespace(overlay=True)
    motion = SimpleNamespace(n_frames=10)
    with pytest.raises(OSError, match="disk full"):
        O._write_outputs(tmp_path, "x", None, opts, None, motion, None, None, Progress(), None)
    assert seen == {"cancelled": True, "finished": True}
