"""``python -m core batch`` on real clips cut from the embedded demo clip: the local process pool
and a real local Ray cluster (2 CPUs) give each clip exactly the motion a single capture gives,
a corrupt file is one failed line in the summary, --resume does nothing the second time, a Ray
worker killed mid-clip is retried; bad input is one line and starts nothing."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from core.batch.inputs import Clip, collect_clips, options_key
from core.batch.summary import SUMMARY, is_complete, read_summary
from core.batch.worker import TEST_PID_DIR_ENV
from core.cli import main
from tests.conftest import REPO

GOOD = {"a": 2.0, "b": 2.6, "c": 3.2}  # clip name -> start in the demo clip, seconds
SECONDS = 0.3  # 10 frames each: the pipeline runs whole, quickly
SIZE = (884, 496)  # half the demo's resolution (even for H.264)
# Captures in the test process and in the workers use one torch thread: the same arithmetic.
BATCH_ARGS = ["--workers", "2", "--threads", "1", "--no-overlay"]


def _make_clips(folder: Path) -> Path:
    import av

    from core.demo_clip import demo_clip_path
    from core.video import iter_frames

    try:
        demo = demo_clip_path()
    except FileNotFoundError as e:
        pytest.skip(str(e))
    folder.mkdir()
    for name, start in GOOD.items():
        with av.open(str(folder / f"{name}.mp4"), "w") as c:
            s = c.add_stream("libx264", rate=30)
            s.width, s.height, s.pix_fmt = *SIZE, "yuv420p"
            for f in iter_frames(demo, start_s=start, end_s=start + SECONDS):
                frame = av.VideoFrame.from_ndarray(f.rgb, format="rgb24").reformat(*SIZE)
                for p in s.encode(frame):
                    c.mux(p)
            for p in s.encode():
                c.mux(p)
    (folder / "corrupt.mp4").write_bytes(b"\x00\x00\x00\x18ftypmp42" + b"not a video " * 64)
    return folder


@pytest.fixture(scope="module")
def clips(tmp_path_factory) -> Path:
    return _make_clips(tmp_path_factory.mktemp("batch") / "clips")


@pytest.fixture(scope="module")
def single(clips, tmp_path_factory) -> dict[str, Path]:
    """Each good clip captured alone by ``python -m core capture`` (in this process)."""
    import torch

    out = tmp_path_factory.mktemp("single")
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        for name in GOOD:
            rc = main(
                ["capture", str(clips / f"{name}.mp4"), "-o", str(out / name), "--no-overlay"]
            )
            assert rc == 0
    finally:
        torch.set_num_threads(threads)
    return {name: out / name for name in GOOD}


def _files(folder: Path) -> dict[str, tuple[int, int]]:
    """Every file under ``folder`` (relative path) -> (inode, mtime_ns)."""
    return {
        str(p.relative_to(folder)): (p.stat().st_ino, p.stat().st_mtime_ns)
        for p in sorted(folder.rglob("*"))
        if p.is_file()
    }


def _check_batch(out: Path, clips: Path, single: dict[str, Path]) -> dict:
    """The batch's outputs against the single captures and the corrupt file's line."""
    from core.motion import Motion

    summary = json.loads((out / SUMMARY).read_text())
    by_name = {c["name"]: c for c in summary["clips"]}
    assert set(by_name) == {*GOOD, "corrupt"}
    assert summary["counts"] == {"ok": 3, "failed": 1}
    bad = by_name["corrupt"]
    assert bad["status"] == "failed" and "corrupt.mp4" in bad["error"]
    assert "readable" in bad["error"] and "\n" not in bad["error"]
    assert not (out / "corrupt").exists()  # nothing half-written for it
    for name, ref_dir in single.items():
        entry = by_name[name]
        assert entry["status"] == "ok", entry
        got, ref = (
            Motion.load(out / name / f"{name}.motion.npz"),
            Motion.load(ref_dir / f"{name}.motion.npz"),
        )
        assert got.q_rad.shape == ref.q_rad.shape and got.n_frames == entry["frames"] == 10
        np.testing.assert_allclose(got.q_rad, ref.q_rad, rtol=0, atol=1e-6)
        np.testing.assert_allclose(got.root_m, ref.root_m, rtol=0, atol=1e-6)
        # the folder holds what a single capture writes, no more, no less
        assert set(_files(out / name)) == set(_files(ref_dir))
        report = json.loads((out / name / "report.json").read_text())
        assert report["frames"] == entry["frames"]
        assert entry["outputs"]["motion"] == f"{name}.motion.npz"
        assert set(entry["timings_s"]) >= {"detect", "refine", "outputs"}
        assert entry["reprojection_px"]["mean"] == pytest.approx(
            report["reprojection_px"]["mean"], abs=1e-3
        )
    assert not [p for p in out.iterdir() if p.name.startswith(".")]  # no staging left
    return summary


@pytest.mark.slow
def test_local_pool_equals_single_captures_and_resume_does_nothing(
    clips, single, tmp_path, capsys
) -> None:
    out = tmp_path / "out"
    rc = main(["batch", str(clips), "-o", str(out), *BATCH_ARGS])
    assert rc == 1  # the corrupt clip failed; the others did not stop
    printed = capsys.readouterr().out
    assert "FAILED   corrupt:" in printed and "3 ok, 1 failed" in printed
    _check_batch(out, clips, single)
    before = {name: _files(out / name) for name in GOOD}

    rc = main(["batch", str(clips), "-o", str(out), *BATCH_ARGS, "--resume"])
    assert rc == 1
    summary = read_summary(out)
    status = {c["name"]: c["status"] for c in summary["clips"]}
    assert status == {"a": "skipped", "b": "skipped", "c": "skipped", "corrupt": "failed"}
    assert {name: _files(out / name) for name in GOOD} == before  # not one file touched
    assert all(c["frames"] == 10 for c in summary["clips"] if c["status"] == "skipped")

    # "complete" needs the same options and every output listed in report.json
    clip = collect_clips([clips / "a.mp4"], {"overlay": False})[0]
    assert is_complete(out, clip, options_key(clip), summary)
    taller = Clip(clip.name, clip.video, {**clip.options, "height_m": 1.9})
    assert not is_complete(out, taller, options_key(taller), summary)
    (out / "a" / "opensim" / "a.osim").unlink()
    assert not is_complete(out, clip, options_key(clip), summary)


@pytest.mark.slow
def test_ray_cluster_equals_single_captures_and_retries_a_killed_worker(
    clips, single, tmp_path
) -> None:
    pytest.importorskip("ray", reason="Ray not installed: pip install 'biomocap[ray]'")
    out, pids = tmp_path / "out", tmp_path / "pids"
    pids.mkdir()
    env = {**os.environ, TEST_PID_DIR_ENV: str(pids), "OMP_NUM_THREADS": "1"}
    cmd = [sys.executable, "-m", "core", "batch", str(clips), "-o", str(out), "--engine", "ray"]
    proc = subprocess.Popen(
        cmd + BATCH_ARGS, cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        text=True,
    )  # fmt: skip
    killed = None
    deadline = time.monotonic() + 600
    try:
        while killed is None and proc.poll() is None and time.monotonic() < deadline:
            started = sorted(pids.glob("b.*.pid"))
            if started:  # clip b has begun in a Ray worker: kill that worker outright
                killed = int(started[0].read_text())
                time.sleep(1.0)
                os.kill(killed, signal.SIGKILL)
            time.sleep(0.2)
        stdout, stderr = proc.communicate(timeout=max(1.0, deadline - time.monotonic()))
    finally:
        if proc.poll() is None:
            proc.kill()
    assert killed is not None, f"clip b never started\n{stderr[-2000:]}"
    assert proc.returncode == 1, stderr[-2000:]
    tries = sorted(int(p.read_text()) for p in pids.glob("b.*.pid"))
    assert len(tries) == 2 and killed in tries  # run again, in another worker process
    summary = _check_batch(out, clips, single)
    assert summary["engine"] == "ray"
    assert "[4/4]" in stdout
    assert not [ln for ln in stderr.splitlines() if ln.startswith("error:")]


def _error_line(capsys) -> str:
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error: "), err
    return err[0]


def test_bad_input_is_one_line_and_starts_nothing(tmp_path, capsys, monkeypatch) -> None:
    video = tmp_path / "a.mp4"
    video.write_bytes(b"x")
    out = tmp_path / "out"

    def run(*args: str) -> str:
        assert main(["batch", *args, "-o", str(out)]) == 2
        assert not out.exists()
        return _error_line(capsys)

    (tmp_path / "missing.csv").write_text("video,height\na.mp4,1.7\nnope.mp4,1.8\n")
    line = run(str(tmp_path / "missing.csv"))
    assert "missing.csv line 3" in line and "nope.mp4" in line
    (tmp_path / "typo.csv").write_text("video,hieght\na.mp4,1.7\n")
    line = run(str(tmp_path / "typo.csv"))
    assert "'hieght'" in line and "height" in line
    (tmp_path / "typo.json").write_text(json.dumps([{"video": "a.mp4", "colour": "red"}]))
    assert "'colour'" in run(str(tmp_path / "typo.json"))
    (tmp_path / "range.json").write_text(json.dumps({"clips": [{"video": "a.mp4", "mass": 3}]}))
    assert "mass must lie in 10..300 kg" in run(str(tmp_path / "range.json"))
    assert "input not found" in run(str(tmp_path / "nothing.mp4"))
    (tmp_path / "empty").mkdir()
    assert "no videos in this folder" in run(str(tmp_path / "empty"))

    out.write_text("a file")
    assert main(["batch", str(video), "-o", str(out)]) == 2
    assert "is a file" in _error_line(capsys) and out.read_text() == "a file"
    out.unlink()

    t = time.monotonic()
    assert "cannot reach the Ray cluster" in run(
        str(video), "--engine", "ray", "--ray-address", f"127.0.0.1:{_closed_port()}"
    )
    assert time.monotonic() - t < 30
    monkeypatch.setitem(sys.modules, "ray", None)  # as if Ray were not installed
    assert "pip install 'biomocap[ray]'" in run(str(video), "--engine", "ray")


def _closed_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_manifest_options_names_and_duplicates(tmp_path) -> None:
    sub = tmp_path / "day2"
    sub.mkdir()
    for p in (tmp_path / "walk.mp4", sub / "walk.mp4", sub / "run.MOV", sub / "notes.txt"):
        p.write_bytes(b"x")
    (tmp_path / "lab.csv").write_text(
        "# trials of day 1\nvideo,name,height,start,end,focal,person\n"
        "walk.mp4,,1.62,1.5,4,,left\n"
        "day2/walk.mp4,trial 2,,,,1400,\n"
    )
    (tmp_path / "lab.json").write_text(json.dumps([{"video": "walk.mp4", "name": "trial 2"}]))
    defaults = {"fov_deg": 60.0, "mass_kg": 70.0, "overlay": False}
    clips = collect_clips(
        [tmp_path / "lab.csv", sub, tmp_path / "lab.json", tmp_path / "walk.mp4"], defaults
    )
    names = [c.name for c in clips]
    assert names == ["walk", "trial 2", "run", "walk-2", "trial 2-2", "walk-3"]
    a, b = clips[0], clips[1]
    assert a.video == (tmp_path / "walk.mp4").resolve() and a.origin.endswith("lab.csv line 3")
    assert a.options == {"fov_deg": 60.0, "mass_kg": 70.0, "overlay": False, "height_m": 1.62,
                         "start_s": 1.5, "end_s": 4.0, "person": "left"}  # fmt: skip
    # the row's own lens replaces the batch-wide one
    assert b.options == {"mass_kg": 70.0, "overlay": False, "focal_px": 1400.0, "name": "trial 2"}
    assert clips[2].video.name == "run.MOV" and clips[2].options == defaults
    assert options_key(a) != options_key(Clip(a.name, a.video, {**a.options, "end_s": 5.0}))
    assert options_key(a) == options_key(Clip("other", a.video, dict(a.options)))
    with pytest.raises(ValueError, match="end .* must come after the start"):
        (tmp_path / "bad.csv").write_text("video,start,end\nwalk.mp4,3,2\n")
        collect_clips([tmp_path / "bad.csv"], {})
    with pytest.raises(ValueError, match="unknown person selector"):
        (tmp_path / "who.csv").write_text("video,person\nwalk.mp4,tallest\n")
        collect_clips([tmp_path / "who.csv"], {})


def _dies_once(task: dict) -> dict:
    """A pool task that kills its own worker process the first time it runs for a clip
    (``task["die"]`` times in all), as the OOM killer or a user's ``kill -9`` would."""
    marks = Path(task["marks"])
    tries = len(list(marks.glob(f"{task['name']}.*"))) + 1
    (marks / f"{task['name']}.{tries}").write_text(str(os.getpid()))
    if tries <= task["die"]:
        os.kill(os.getpid(), signal.SIGKILL)
    time.sleep(task.get("sleep", 0))
    return {"status": "ok", "error": None, "pid": os.getpid()}


def test_local_pool_runs_again_the_clips_of_a_dead_worker(tmp_path) -> None:
    from core.batch.engines import run_local

    tasks = [
        {"name": "innocent", "die": 0, "sleep": 10, "marks": str(tmp_path)},
        {"name": "once", "die": 1, "marks": str(tmp_path)},
        {"name": "always", "die": 99, "marks": str(tmp_path)},
    ]
    done: dict[str, dict] = {}
    run_local(tasks, 2, 1, lambda t, o: done.setdefault(t["name"], o), retries=2, func=_dies_once)
    assert done["once"]["status"] == "ok" and done["once"]["attempts"] == 2
    # terminated by the broken pool while the others died: run again without using a retry
    assert done["innocent"]["status"] == "ok" and done["innocent"]["attempts"] == 1
    pids = {int(p.read_text()) for p in tmp_path.glob("once.*")}
    assert len(pids) == 2  # the second attempt ran in a new process
    bad = done["always"]
    assert bad["status"] == "failed" and bad["attempts"] == 3  # 1 + 2 retries, then given up
    assert "worker process died" in bad["error"]
    assert len(list(tmp_path.glob("always.*"))) == 3
