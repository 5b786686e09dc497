"""Capture is transactional too: SIGINT/SIGTERM at several stages of a real capture (a still
image, a real process) leave OUT's earlier result byte-identical with exit 130/143 and one line;
a completed capture replaces the earlier clip's result as a whole and keeps the user's files."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from core.transaction import MANIFEST
from tests.conftest import REPO, shared_path
from tests.robustness.cases import snapshot

pytestmark = [pytest.mark.slow]


def _earlier_capture(out: Path) -> None:
    """OUT as an earlier capture of another clip left it (its manifest names its files)."""
    (out / "opensim").mkdir(parents=True)
    (out / "opensim" / "clipA.osim").write_text("<OpenSimDocument/>\n")
    (out / "clipA.motion.npz").write_bytes(b"earlier motion")
    (out / "report.html").write_text("<html>clip A</html>\n")
    (out / "my notes.txt").write_text("mine\n")
    manifest = {"version": 1, "txn": "0", "results": {
        "capture": ["clipA.motion.npz", "opensim", "report.html"]}}  # fmt: skip
    (out / MANIFEST).write_text(json.dumps(manifest))


def _run_until(image: Path, out: Path, stage: str | None, sig: int, timeout_s: float = 900):
    env = {**os.environ, "PYTHONPATH": str(REPO), "OMP_NUM_THREADS": "1"}
    cmd = [sys.executable, "-m", "core", "capture", str(image), "-o", str(out),
           "--progress-jsonl", "--no-overlay"]  # fmt: skip
    p = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    t0 = time.monotonic()
    sent = False
    for line in p.stdout:
        if stage is not None and not sent and f'"stage": "{stage}"' in line:
            p.send_signal(sig)
            sent = True
        if time.monotonic() - t0 > timeout_s:
            p.kill()
            break
    _, err = p.communicate(timeout=120)
    return p.returncode, err, sent


@pytest.mark.parametrize(
    ("stage", "sig"),
    [("detect", signal.SIGINT), ("export", signal.SIGTERM)],
    ids=["SIGINT-detect", "SIGTERM-export"],
)
def test_capture_signal_keeps_earlier_result(stage, sig, tmp_path):
    pytest.importorskip("mediapipe")
    image = shared_path("images", "coco", "000000040083.jpg")
    out = tmp_path / "out"
    _earlier_capture(out)
    before = snapshot(out)
    rc, err, sent = _run_until(image, out, stage, sig)
    assert sent, f"the capture never reached the {stage} stage: {err[-300:]}"
    assert "Traceback" not in err
    assert rc == 128 + sig, (rc, err[-500:])
    lines = [ln for ln in err.splitlines() if ln.startswith(("cancelled", "error:"))]
    assert len(lines) == 1 and lines[0].startswith("cancelled by SIG"), err[-500:]
    assert snapshot(out) == before
    assert not [p.name for p in tmp_path.iterdir() if p.name.startswith(".out.")]


def test_capture_replaces_earlier_clip_as_a_whole(tmp_path):
    pytest.importorskip("mediapipe")
    image = shared_path("images", "coco", "000000040083.jpg")
    out = tmp_path / "out"
    _earlier_capture(out)
    rc, err, _ = _run_until(image, out, None, 0)
    assert rc == 0, err[-800:]
    names = {p.name for p in out.iterdir()}
    assert "000000040083.motion.npz" in names and "report.html" in names
    assert "clipA.motion.npz" not in names  # the earlier clip's result went as a whole
    assert not (out / "opensim" / "clipA.osim").exists()
    assert (out / "opensim" / "000000040083.osim").is_file()
    assert (out / "my notes.txt").read_text() == "mine\n"
    assert not [p.name for p in tmp_path.iterdir() if p.name.startswith(".out.")]
