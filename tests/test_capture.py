"""Capture end to end on real data: real MediaPipe on the Sports2D clip and an HSMR photo, real
OpenSim validating what was written; bad input gives one clear error."""

from __future__ import annotations

import json
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
    # Refinement fits the detections: well under the 2D error of the unrefined solution.
    assert res.mean_reprojection_px < 25.0
    assert res.mean_reprojection_px < res.initial_reprojection_px
    from biomech_export import validate_files

    rep = validate_files(out / "opensim" / "clip.osim", out / "opensim" / "clip.mot")
    assert rep.ok, rep.problems
    html = res.outputs["report"].read_text()
    assert "reprojection" in html and "joint_angles.png" in html


@pytest.mark.slow
def test_single_image_capture(tmp_path) -> None:
    from core.capture import CaptureOptions, Progress, capture

    image = shared_path("images", "hsmr", "yoga1.jpg")
    res = capture(image, CaptureOptions(output=tmp_path, export_opensim=False), Progress())
    motion = Motion.load(res.motion_path)
    assert motion.n_frames == 1 and sk.limit_violations(motion.q_rad) == 0
    assert res.outputs["overlay"].suffix == ".png" and res.outputs["overlay"].is_file()


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
