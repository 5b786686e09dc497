"""Frames per second of decoding and of detection + tracking (core.video, core.detect).

    .venv/bin/python benchmarks/detect_benchmark.py [VIDEO] [--seconds 3]

Default clip: ../shared/data/videos/sports2d/demo.mp4 (1768x994, 30 fps, two people).
Prints decode fps (full size and at 1920/640 max side), the cost of one full multi-person
search, of one landmark pass, and of detect() end to end.
"""

from __future__ import annotations

import argparse
import os
import platform
import time
from pathlib import Path

import numpy as np

from core.detect import PoseEstimator, Roi, detect, find_people
from core.video import iter_frames, read_video_info

DEFAULT = Path(__file__).resolve().parent.parent.parent / "shared/data/videos/sports2d/demo.mp4"


def _time(fn, repeat: int) -> float:
    t = time.perf_counter()
    for _ in range(repeat):
        fn()
    return (time.perf_counter() - t) / repeat


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    ap.add_argument("video", type=Path, nargs="?", default=DEFAULT)
    ap.add_argument("--seconds", type=float, default=3.0, help="length of the detect() run")
    ap.add_argument("--start", type=float, default=2.0)
    args = ap.parse_args(argv)

    info = read_video_info(args.video)
    print(f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores")
    print(f"video: {args.video.name} {info.width_px}x{info.height_px} {info.fps:.2f} fps "
          f"{info.n_frames} frames {info.codec}")  # fmt: skip
    for side in (None, 1920, 640):
        t = time.perf_counter()
        n = sum(1 for _ in iter_frames(args.video, max_side_px=side))
        dt = time.perf_counter() - t
        print(f"decode (max side {side or 'full'}): {n / dt:.1f} frames/s")

    frame = next(iter_frames(args.video, start_s=args.start, max_side_px=1920)).rgb
    with PoseEstimator() as est:
        find_people(frame, est)  # warm up
        quick = _time(lambda: find_people(frame, est, thorough=False), 5)
        thorough = _time(lambda: find_people(frame, est, thorough=True), 5)
        cands = find_people(frame, est)
        pose = cands[0].pose
        roi = pose.next_roi or Roi(*((pose.box_px[:2] + pose.box_px[2:]) / 2), 400.0)
        landmark = _time(lambda: est.landmarks(frame, roi), 20)
    print(f"people found at {args.start} s: {len(cands)}")
    print(f"full search: quick {quick * 1e3:.0f} ms, thorough {thorough * 1e3:.0f} ms")
    print(f"landmarks for one ROI: {landmark * 1e3:.1f} ms ({1 / landmark:.1f} /s)")

    t = time.perf_counter()
    det = detect(args.video, start_s=args.start, end_s=args.start + args.seconds)
    dt = time.perf_counter() - t
    print(f"detect() {det.n_frames} frames (decode + track, incl. model load): "
          f"{det.n_frames / dt:.1f} frames/s, person found in {np.mean(det.person_found):.0%}, "
          f"full searches {det.provenance['full_searches']}")  # fmt: skip
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
