"""Per-stage and end-to-end speed of ``python -m core capture`` on this machine.

    .venv/bin/python benchmarks/capture_benchmark.py [VIDEO] [--seconds 4] [--device auto]

Default clip: ../shared/data/videos/sports2d/demo.mp4 (1768x994, 30 fps). The clip is also
re-encoded to exactly 1920x1080 (H.264) and captured again, for the issue's 1080p target
(>= 10 frames/s end to end). Prints seconds and milliseconds per frame for every stage
(detect = decode + MediaPipe + tracking; neurik; surface; refine; outputs = bundle, plots,
OpenSim export and the overlay video), the load average while it ran, and which stage limits.
"""

from __future__ import annotations

import argparse
import logging
import os
import platform
import tempfile
import time
from pathlib import Path

DEFAULT = Path(__file__).resolve().parent.parent.parent / "shared/data/videos/sports2d/demo.mp4"


def _reencode_1080p(src: Path, dst: Path, start_s: float, seconds: float) -> Path:
    import av

    from core.video import iter_frames

    with av.open(str(dst), "w") as out:
        stream = out.add_stream("libx264", rate=30)
        stream.width, stream.height, stream.pix_fmt = 1920, 1080, "yuv420p"
        stream.options = {"crf": "18"}
        for f in iter_frames(src, start_s=start_s, end_s=start_s + seconds):
            frame = av.VideoFrame.from_ndarray(f.rgb, format="rgb24").reformat(1920, 1080)
            for p in stream.encode(frame):
                out.mux(p)
        for p in stream.encode():
            out.mux(p)
    return dst


def _run(video: Path, out: Path, device: str, start_s, end_s, overlay: bool) -> None:
    from core.capture import CaptureOptions, Progress, capture
    from core.video import read_video_info

    info = read_video_info(video)
    t = time.perf_counter()
    with open(os.devnull, "w") as sink:
        res = capture(
            video,
            CaptureOptions(
                output=out, device=device, start_s=start_s, end_s=end_s, overlay=overlay
            ),
            Progress(jsonl=True, stream=sink),
        )
    wall = time.perf_counter() - t
    n = res.n_frames
    print(f"\n{video.name}: {info.width_px}x{info.height_px}, {n} frames, overlay {overlay}")
    print(f"{'stage':10}{'s':>8}{'ms/frame':>10}{'frames/s':>10}")
    for stage, s in res.timings_s.items():
        print(f"{stage:10}{s:8.2f}{1e3 * s / n:10.1f}{n / s:10.1f}")
    print(f"{'total':10}{wall:8.2f}{1e3 * wall / n:10.1f}{n / wall:10.1f}")
    slow = max(res.timings_s, key=res.timings_s.get)
    print(f"slowest stage: {slow} ({res.timings_s[slow] / wall:.0%} of the wall time)")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    ap.add_argument("video", type=Path, nargs="?", default=DEFAULT)
    ap.add_argument("--seconds", type=float, default=4.0)
    ap.add_argument("--start", type=float, default=1.0)
    ap.add_argument("--device", default="auto", choices=["auto", "cpu", "cuda"])
    args = ap.parse_args(argv)
    logging.basicConfig(level=logging.WARNING)
    import torch

    print(f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores, "
          f"torch threads {torch.get_num_threads()}, "
          f"CUDA {torch.cuda.get_device_name(0) if torch.cuda.is_available() else 'none'}")  # fmt: skip
    load0 = os.getloadavg()[0]
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        end = args.start + args.seconds
        t = time.perf_counter()  # first call: model loading, Anny subject cache, OpenSim init
        _run(args.video, tmp / "w", args.device, args.start, args.start + 0.3, overlay=False)
        print(f"(warm-up run above, 0.3 s of video, cold start: {time.perf_counter() - t:.1f} s)")
        _run(args.video, tmp / "a", args.device, args.start, end, overlay=True)
        _run(args.video, tmp / "b", args.device, args.start, end, overlay=False)
        hd = _reencode_1080p(args.video, tmp / "clip_1080p.mp4", args.start, args.seconds)
        _run(hd, tmp / "c", args.device, None, None, overlay=False)
    print(
        f"\nload average (1 min) at start {load0:.2f}, at end {os.getloadavg()[0]:.2f} "
        f"(above {os.cpu_count()} means other work shared the CPU)"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
