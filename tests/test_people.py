"""``python -m core people``: the frame the add-on's Person preview shows, from the real detector."""

from __future__ import annotations

import json
import subprocess
import sys

from PIL import Image

from tests.conftest import REPO, shared_path


def _people(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "core", "people", *args],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=300,
    )


def test_people_boxes_two_people_left_to_right(tmp_path):
    video = shared_path("videos", "sports2d", "demo.mp4")
    out = tmp_path / "who.png"
    r = _people(str(video), "--time", "2", "-o", str(out))
    assert r.returncode == 0, r.stderr
    found = json.loads(r.stdout.strip().splitlines()[-1])
    boxes = found["people"]
    assert len(boxes) == 2  # the clip shows a man and a woman at 2 s
    assert boxes[0][0] < boxes[1][0]  # numbered from the left, as --person takes them
    assert abs(found["time_s"] - 2.0) < 0.05
    img = Image.open(out)
    assert img.size == (1768, 994)
    for x0, y0, x1, y1 in boxes:
        assert 0 <= x0 < x1 <= img.width and 0 <= y0 < y1 <= img.height
        # the box outline is drawn in the frame (yellow 255, 220, 0)
        assert img.convert("RGB").getpixel((int(x0) + 1, int((y0 + y1) / 2))) == (255, 220, 0)
    assert [p.name for p in tmp_path.iterdir()] == ["who.png"]  # nothing staged left behind


def test_people_past_the_end_is_one_error_line(tmp_path):
    video = shared_path("videos", "sports2d", "demo.mp4")
    out = tmp_path / "who.png"
    r = _people(str(video), "--time", "9999", "-o", str(out))
    assert r.returncode == 2
    line = r.stderr.strip().splitlines()[-1]
    assert line.startswith(f"error: {video}: no frame from 9999 s (the video has 230 frames")
    assert not out.exists() and list(tmp_path.iterdir()) == []
