"""``python -m core batch INPUTS... -o OUT``: the ``batch`` subcommand's arguments and command."""

from __future__ import annotations

import argparse
import signal
import sys
from pathlib import Path

__all__ = ["add_batch_parser"]

EPILOG = """examples:
  python -m core batch trials/ -o out/trials                  # every video in a folder
  python -m core batch clips.csv -o out/lab --workers 2 --resume
  python -m core batch trials/ -o out/trials --engine ray     # a local Ray cluster
  python -m core batch trials/ -o out/t --engine ray --ray-address 10.0.0.5:6379

A manifest (.csv with a header line, or .json: a list of objects) has a 'video' column and any of
name, person, height, mass, start, end, focal, fov, fps, treadmill_speed; an empty cell takes the
batch-wide option. Each clip goes to OUT/<name>/ as `python -m core capture` writes it;
OUT/batch_summary.json lists every clip. Exit code 1 when a clip failed, 2 on bad input.
"""


def add_batch_parser(sub) -> argparse.ArgumentParser:
    s = sub.add_parser(
        "batch",
        help="capture many clips (files, folders, CSV/JSON manifest) on a process pool or Ray",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    s.add_argument(
        "inputs", type=Path, nargs="+", metavar="INPUT",
        help="videos, folders of videos, or CSV/JSON manifests with per-clip options",
    )  # fmt: skip
    s.add_argument("-o", "--output", type=Path, required=True, help="output folder")
    s.add_argument(
        "--workers", type=int, default=None,
        help="clips at a time (default: one per core, ~1.5 GB of free memory each)",
    )  # fmt: skip
    s.add_argument(
        "--threads", type=int, default=None,
        help="torch threads per clip (default: OMP_NUM_THREADS, else 1)",
    )  # fmt: skip
    s.add_argument("--engine", default="local", choices=["local", "ray"])
    s.add_argument(
        "--ray-address", default=None, metavar="ADDR",
        help="an existing Ray cluster (HOST:PORT, ray://HOST:PORT or auto); default: a local one",
    )  # fmt: skip
    s.add_argument(
        "--resume", action="store_true",
        help="skip clips already captured completely with the same input and options",
    )  # fmt: skip
    s.add_argument(
        "--retries", type=int, default=2,
        help="runs again a clip whose worker process died (killed, out of memory); default 2",
    )  # fmt: skip
    from core.cli import add_capture_options

    add_capture_options(s)  # for every clip; a manifest row overrides them
    s.set_defaults(func=_cmd_batch)
    return s


def _defaults(args: argparse.Namespace) -> dict:
    """The batch-wide capture options (CaptureOptions names), only those that differ from a
    single capture's defaults, so that a clip's key says what was asked for."""
    opts = {
        "device": args.device,
        "fps": args.fps,
        "focal_px": args.focal,
        "fov_deg": args.fov,
        "start_s": args.start,
        "end_s": args.end,
        "person": args.person,
        "height_m": args.height,
        "mass_kg": args.mass,
        "overlay": not args.no_overlay,
        "dynamics": args.dynamics,
        "hmr": args.hmr,
        "hmr_refine": args.hmr_refine,
        "hmr_checkpoint": args.hmr_checkpoint,
        "treadmill_speed_mps": args.treadmill_speed,
        "prior": args.prior,
        "scene_lines": not args.no_scene_lines,
    }
    plain = {"device": "auto", "overlay": True, "dynamics": False, "hmr": "fit",
             "hmr_refine": "query", "hmr_checkpoint": "small", "scene_lines": True}  # fmt: skip
    return {k: v for k, v in opts.items() if v is not None and plain.get(k, None) != v}


def _cmd_batch(args: argparse.Namespace) -> int:
    from core.batch.engines import check_ray
    from core.batch.inputs import collect_clips
    from core.batch.run import BatchConfig, default_workers, print_result, run_batch
    from core.capture.options import default_threads
    from core.transaction import check_output

    for opt, v, lo in (("--workers", args.workers, 1), ("--threads", args.threads, 1),
                       ("--retries", args.retries, 0)):  # fmt: skip
        if v is not None and not (lo <= v <= 1024):
            raise ValueError(f"{opt} must lie in {lo}..1024, got {v}")
    if args.ray_address and args.engine != "ray":
        raise ValueError("--ray-address needs --engine ray")
    check_output(args.output, "folder")
    clips = collect_clips(args.inputs, _defaults(args))
    if args.engine == "ray":
        check_ray(args.ray_address)
    workers = args.workers or default_workers(len(clips))
    threads = args.threads or default_threads()
    cfg = BatchConfig(
        out=args.output,
        engine=args.engine,
        workers=workers,
        threads=threads,
        resume=args.resume,
        ray_address=args.ray_address,
        retries=args.retries,
        jsonl=args.progress_jsonl,
    )
    try:
        summary = run_batch(clips, cfg)
    except KeyboardInterrupt as e:  # Interrupted (SIGINT/SIGTERM) or a plain Ctrl-C
        from core.batch.summary import read_summary

        data = read_summary(Path(args.output))
        done = sum(c.get("status") in ("ok", "skipped") for c in data.get("clips", []))
        signum = getattr(e, "signum", signal.SIGINT)
        print(
            f"cancelled by {signal.Signals(signum).name}: {done} of {len(clips)} clips are "
            "complete (see "
            f"{Path(args.output) / 'batch_summary.json'}); clips in progress kept any earlier "
            "result; --resume continues",
            file=sys.stderr,
        )
        return 128 + int(signum)
    print_result(summary, args.progress_jsonl)
    return 1 if summary.counts().get("failed") else 0
