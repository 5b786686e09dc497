"""Speed and memory of ``python -m core capture`` end to end, per stage, on this machine.

    .venv/bin/python benchmarks/capture_benchmark.py                    # 1080p and 4K, 4 s each
    .venv/bin/python benchmarks/capture_benchmark.py --sizes 1080p --seconds 3
    .venv/bin/python benchmarks/capture_benchmark.py --sizes 1080p --minutes 10 --no-overlay
    .venv/bin/python benchmarks/capture_benchmark.py --video my.mp4 --sizes native

Inputs are made from the embedded demo clip (core.demo_clip, 1768x994 VP9, 30 fps): a stretch of
``--seconds`` re-encoded (H.264) at exactly 1920x1080 and 3840x2160; with ``--minutes M`` also a
long clip, the demo played forward and backward in turn (no jump cut) for M minutes at the first
size. Each capture runs as its own process, as a user runs it (``python -m core capture``), with
this process's environment (OMP_NUM_THREADS...). Printed for each input:

- seconds, ms/frame and share of every stage (from the capture's report.json: detect = decode +
  MediaPipe + tracking; neurik; surface; refine; world; outputs = bundle, plots, OpenSim export,
  overlay video);
- all stages / the detect stage: the issue's target is <= 1.5;
- frames/s of the stages and end to end (the process's wall time, start-up included);
- CPU seconds of the capture process (user + system): the number least changed by other work on a
  shared machine;
- peak RSS: of the process tree (sampled every 0.1 s, summed over the capture and any child) and
  the largest single process (the kernel's exact high-water mark).

The first line says what machine, how many cores, which torch threads and what load it ran under:
timings on a shared machine are only comparable under a similar load. ``--json FILE`` writes all
numbers for a before/after comparison.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
SIZES = {"720p": (1280, 720), "1080p": (1920, 1080), "4k": (3840, 2160), "native": None}


def _machine() -> dict:
    model = platform.processor() or platform.machine()
    try:
        for ln in Path("/proc/cpuinfo").read_text().splitlines():
            if ln.startswith("model name"):
                model = ln.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    import torch

    return {
        "cpu": model,
        "cores": os.cpu_count(),
        "cores_usable": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else None,
        "omp_num_threads": os.environ.get("OMP_NUM_THREADS", "unset"),
        "torch_threads": torch.get_num_threads(),
        "cuda": torch.cuda.get_device_name(0) if torch.cuda.is_available() else "none",
        "python": platform.python_version(),
        "torch": torch.__version__,
    }


def _encode(frames, path: Path, size: tuple[int, int] | None, fps: float = 30.0) -> int:
    """Write RGB frames as H.264 (yuv420p) at ``size`` (None: as they come); returns the count."""
    import av

    n = 0
    with av.open(str(path), "w") as out:
        stream = out.add_stream("libx264", rate=int(round(fps)))
        stream.pix_fmt = "yuv420p"
        stream.options = {"crf": "18", "preset": "veryfast"}
        for rgb in frames:
            frame = av.VideoFrame.from_ndarray(rgb, format="rgb24")
            if n == 0:
                w, h = size or (rgb.shape[1] // 2 * 2, rgb.shape[0] // 2 * 2)
                stream.width, stream.height = w, h
            frame = frame.reformat(stream.width, stream.height)
            for p in stream.encode(frame):
                out.mux(p)
            n += 1
        for p in stream.encode():
            out.mux(p)
    return n


def _stretch(src: Path, start_s: float, seconds: float):
    from core.video import iter_frames

    for f in iter_frames(src, start_s=start_s, end_s=start_s + seconds):
        yield f.rgb


def _long(src: Path, minutes: float, fps: float = 30.0):
    """The clip forward, backward, forward... for ``minutes`` (frames of the first pass kept in
    memory at the clip's own size: the demo is 230 frames)."""
    from core.video import iter_frames

    clip = [f.rgb for f in iter_frames(src)]
    need = int(round(minutes * 60 * fps))
    order = list(range(len(clip))) + list(range(len(clip) - 2, 0, -1))
    for k in range(need):
        yield clip[order[k % len(order)]]


def _tree_rss_kb(pid: int) -> tuple[int, int]:
    """Resident memory of ``pid`` and all its descendants, kB (Linux /proc), and the largest
    kernel high-water mark (VmHWM) among them, kB."""
    total, hwm, todo = 0, 0, [pid]
    while todo:
        p = todo.pop()
        try:
            for ln in Path(f"/proc/{p}/status").read_text().splitlines():
                if ln.startswith("VmRSS:"):
                    total += int(ln.split()[1])
                elif ln.startswith("VmHWM:"):
                    hwm = max(hwm, int(ln.split()[1]))
            for t in Path(f"/proc/{p}/task").iterdir():
                kids = Path(f"/proc/{p}/task/{t.name}/children").read_text().split()
                todo += [int(k) for k in kids]
        except (OSError, ValueError):
            continue
    return total, hwm


def _capture(video: Path, out: Path, args) -> dict:
    cmd = [sys.executable, "-m", "core", "capture", str(video), "-o", str(out), "--progress-jsonl"]
    cmd += ["--device", args.device] + (["--no-overlay"] if args.no_overlay else [])
    err_path = out.parent / f"{out.name}.stderr.txt"
    ru0 = resource.getrusage(resource.RUSAGE_CHILDREN)
    t = time.perf_counter()
    with open(err_path, "w") as err:
        proc = subprocess.Popen(cmd, cwd=REPO, stdout=subprocess.DEVNULL, stderr=err)
        peak = hwm = 0
        while proc.poll() is None:
            tree, high = _tree_rss_kb(proc.pid)
            peak, hwm = max(peak, tree), max(hwm, high)
            time.sleep(0.1)
    wall = time.perf_counter() - t
    ru1 = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (ru1.ru_utime - ru0.ru_utime) + (ru1.ru_stime - ru0.ru_stime)
    if proc.returncode != 0:
        tail = err_path.read_text(errors="replace").strip().splitlines()[-3:]
        raise SystemExit(f"error: the capture of {video} failed: {' | '.join(tail)}")
    report = json.loads((out / "report.json").read_text())
    return {
        "frames": report["frames"],
        "image_size_px": report["image_size_px"],
        "timings_s": report["timings_s"],
        "wall_s": wall,
        "cpu_s": cpu,
        "peak_rss_tree_mb": peak / 1024,
        # the capture's own high-water mark (VmHWM, read while it runs): getrusage's ru_maxrss
        # for children also counts this process's memory at the fork, before the exec
        "peak_rss_process_mb": hwm / 1024,
    }


def _print(label: str, r: dict) -> None:
    n, tim = r["frames"], r["timings_s"]
    stages = sum(tim.values())
    w, h = r["image_size_px"]
    print(f"\n{label}: {w}x{h}, {n} frames")
    print(f"  {'stage':10}{'s':>9}{'ms/frame':>10}{'share':>8}")
    for k, s in tim.items():
        print(f"  {k:10}{s:9.2f}{1e3 * s / n:10.1f}{s / stages:8.0%}")
    print(f"  {'stages':10}{stages:9.2f}{1e3 * stages / n:10.1f}")
    print(
        f"  {'wall':10}{r['wall_s']:9.2f}{1e3 * r['wall_s'] / n:10.1f}   (process, start-up incl.)"
    )
    print(
        f"  CPU time of the capture process: {r['cpu_s']:.1f} s "
        f"({1e3 * r['cpu_s'] / n:.0f} ms/frame; {r['cpu_s'] / r['wall_s']:.0%} of its wall time: "
        "well under 100% x threads means it waited for a shared CPU)"
    )
    det = tim.get("detect") or float("nan")
    print(
        f"  all stages / detect: {stages / det:.2f}x (target <= 1.5x); "
        f"end to end / detect: {r['wall_s'] / det:.2f}x"
    )
    print(
        f"  frames/s: {n / stages:.1f} stages, {n / r['wall_s']:.1f} end to end "
        f"(detect alone {n / det:.1f}); target >= 15 at 1080p"
    )
    print(
        f"  peak RSS: {r['peak_rss_tree_mb']:.0f} MB process tree (sampled), "
        f"{r['peak_rss_process_mb']:.0f} MB largest process (kernel high-water mark)"
    )


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--video", type=Path, default=None, help="source clip (default: the demo)")
    ap.add_argument(
        "--sizes",
        default="1080p,4k",
        help=f"comma-separated: {', '.join(SIZES)} (default 1080p,4k)",
    )
    ap.add_argument("--seconds", type=float, default=4.0, help="length of the short inputs")
    ap.add_argument("--start", type=float, default=1.0, help="where the stretch starts, s")
    ap.add_argument("--minutes", type=float, default=None, help="also a long clip of M minutes")
    ap.add_argument("--device", default="auto", choices=["auto", "cpu", "cuda"])
    ap.add_argument("--no-overlay", action="store_true", help="captures without overlay video")
    ap.add_argument("--keep", type=Path, default=None, help="keep inputs and outputs here")
    ap.add_argument("--json", type=Path, default=None, help="write the numbers to this file")
    args = ap.parse_args(argv)
    sizes = [s.strip().lower() for s in args.sizes.split(",") if s.strip()]
    bad = [s for s in sizes if s not in SIZES]
    if bad or not sizes:
        ap.error(f"unknown size {bad}; use {', '.join(SIZES)}")
    if args.video is None:
        from core.demo_clip import demo_clip_path

        try:
            args.video = demo_clip_path()
        except FileNotFoundError as e:
            print(f"error: {e}", file=sys.stderr)
            return 2
    if not args.video.is_file():
        print(f"error: video not found: {args.video}", file=sys.stderr)
        return 2

    machine = _machine()
    load0 = os.getloadavg()
    print(
        f"machine: {machine['cpu']}, {machine['cores']} cores ({machine['cores_usable']} usable), "
        f"OMP_NUM_THREADS={machine['omp_num_threads']}, torch threads {machine['torch_threads']}, "
        f"CUDA {machine['cuda']}, Python {machine['python']}, torch {machine['torch']}"
    )
    print(f"load average at start: {load0[0]:.1f} (1 min), {load0[1]:.1f} (5 min)")
    results: dict[str, dict] = {}
    with tempfile.TemporaryDirectory(prefix="capbench-") as tmp:
        work = args.keep or Path(tmp)
        work.mkdir(parents=True, exist_ok=True)
        jobs = []
        for s in sizes:
            path = work / f"clip_{s}.mp4"
            t = time.perf_counter()
            n = _encode(_stretch(args.video, args.start, args.seconds), path, SIZES[s])
            print(f"(made {path.name}: {n} frames in {time.perf_counter() - t:.0f} s)")
            jobs.append((f"{s}, {args.seconds:g} s", path))
        if args.minutes:
            path = work / f"long_{args.minutes:g}min_{sizes[0]}.mp4"
            t = time.perf_counter()
            n = _encode(_long(args.video, args.minutes), path, SIZES[sizes[0]])
            print(f"(made {path.name}: {n} frames in {time.perf_counter() - t:.0f} s)")
            jobs.append((f"{sizes[0]}, {args.minutes:g} min", path))
        for i, (label, path) in enumerate(jobs):
            results[label] = r = _capture(path, work / f"out_{i}", args)
            _print(label, r)
    load1 = os.getloadavg()
    print(
        f"\nload average at end: {load1[0]:.1f} (1 min); above {machine['cores']} means other "
        "work shared the CPU and the times above are inflated"
    )
    if args.json:
        args.json.write_text(
            json.dumps(
                {"machine": machine, "load_start": load0, "load_end": load1, "runs": results},
                indent=1,
            )
            + "\n"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
