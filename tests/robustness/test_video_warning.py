"""A video with fewer decodable frames than its container claims (a truncated download) is
reported with both counts: on stderr (log warning) and in the detections' provenance, which the
capture report shows."""

from __future__ import annotations

import logging
import re

import pytest

from core.video import DecodeReport, iter_frames
from tests.conftest import shared_path
from tests.robustness.cases import _tiny_video


def test_truncated_clip_reports_both_counts(tmp_path, caplog):
    pytest.importorskip("av")
    whole, cut = tmp_path / "whole.mp4", tmp_path / "cut.mp4"
    _tiny_video(whole, 30)
    _tiny_video(cut, 30, truncate=0.4)
    rep = DecodeReport()
    assert sum(1 for _ in iter_frames(whole, report=rep)) == 30
    assert rep.expected_frames == 30 and rep.warning() == ""
    rep = DecodeReport()
    with caplog.at_level(logging.WARNING, logger="core.video"):
        n = sum(1 for _ in iter_frames(cut, report=rep))
    assert 0 < n < 30
    assert rep.expected_frames == 30
    assert f"only {n} of the 30 frames" in rep.warning()
    assert any(f"only {n} of the 30" in r.getMessage() for r in caplog.records)
    # a range that ends inside the decodable part is complete: no warning
    rep = DecodeReport()
    list(iter_frames(cut, end_s=0.0, report=rep))
    assert rep.warning() == ""


@pytest.mark.slow
def test_truncated_demo_detect_names_both_counts(tmp_path, caplog):
    """The issue's case: the 230-frame demo cut to a quarter of its bytes."""
    pytest.importorskip("mediapipe")
    from core.detect import detect

    src = shared_path("videos", "sports2d", "demo.mp4")
    cut = tmp_path / "demo cut.mp4"
    data = src.read_bytes()
    cut.write_bytes(data[: len(data) // 4])
    with caplog.at_level(logging.WARNING):
        det = detect(cut)
    warning = det.provenance["decode_warning"]
    m = re.search(r"only (\d+) of the (\d+) frames", warning)
    assert m, warning
    assert int(m.group(1)) == len(det.times_s) and int(m.group(2)) == 230
    assert any("of the 230 frames" in r.getMessage() for r in caplog.records)
