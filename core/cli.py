"""``python -m core``: the biomocap command line."""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

log = logging.getLogger("biomocap")

EPILOG = """examples:
  python -m core capture clip.mp4 -o out/clip           # video -> motion, OpenSim, overlay, plots
  python -m core show-skeleton -o out/skeleton          # PNGs of the subject, skeleton, markers
  python -m core demo -o out/demo                       # the demo on the embedded default clip
  python -m core batch trials/ -o out/trials --workers 2  # many clips (process pool or --engine ray)
  python -m core warm-cache                             # build the Anny model cache once
"""


def _cmd_warm_cache(args: argparse.Namespace) -> int:
    from core.anny_loader import anny_cache_dir, load_anny

    load_anny()
    print(f"Anny cache ready in {anny_cache_dir()}")
    return 0


def _cmd_show_skeleton(args: argparse.Namespace) -> int:
    from core.pictures import show_skeleton

    paths = show_skeleton(args.output, height_m=args.height, mass_kg=args.mass)
    for p in paths:
        print(p)
    return 0


def _cmd_capture(args: argparse.Namespace) -> int:
    from core.capture import CaptureOptions, Progress, capture

    if getattr(args, "dynamics", False):
        from core.video import is_image

        if is_image(args.video):
            raise ValueError(
                f"--dynamics needs a video (motion over time), not an image: {args.video}"
            )
    progress = Progress(jsonl=args.progress_jsonl)
    opts = CaptureOptions(
        output=args.output,
        device=args.device,
        fps=args.fps,
        focal_px=args.focal,
        fov_deg=args.fov,
        start_s=args.start,
        end_s=args.end,
        person=args.person,
        height_m=args.height,
        mass_kg=args.mass,
        overlay=not args.no_overlay,
        hmr=args.hmr,
        hmr_refine=args.hmr_refine,
        hmr_checkpoint=args.hmr_checkpoint,
        treadmill_speed_mps=args.treadmill_speed,
        dynamics=getattr(args, "dynamics", False),
        prior=getattr(args, "prior", None),
        scene_lines=not getattr(args, "no_scene_lines", False),
        threads=getattr(args, "threads", None),
    )
    try:
        res = capture(args.video, opts, progress)
    except (ValueError, FileNotFoundError, ImportError, OSError) as e:
        progress.error(str(e))
        raise
    except KeyboardInterrupt:
        progress.error("cancelled")
        raise
    progress.done(motion=res.motion_path, report=res.outputs["report"])
    if not args.progress_jsonl:
        print(f"motion: {res.motion_path}")
        for k, p in res.outputs.items():
            if k != "motion":
                print(f"{k}: {p}")
        print(
            f"{res.n_frames} frames, mean reprojection {res.mean_reprojection_px:.1f} px, "
            f"joint-limit violations {res.limit_violations}"
        )
    return 0


def _cmd_detect(args: argparse.Namespace) -> int:
    from core.detect import detect

    det = detect(
        args.video,
        start_s=args.start,
        end_s=args.end,
        person=args.person,
        focal_px=args.focal,
        fov_deg=args.fov,
    )
    det.save(args.output)
    print(
        f"{args.output}: {det.n_frames} frames, person in {int(det.person_found.sum())}, "
        f"focal {det.camera.focal_px:.0f} px ({det.camera.focal_source})"
    )
    return 0


def _cmd_people(args: argparse.Namespace) -> int:
    import json

    from core.people import people_at

    found = people_at(args.video, args.time, args.output)
    print(json.dumps(found))
    return 0


def _cmd_retarget_bvh(args: argparse.Namespace) -> int:
    from core.bvh import retarget_bvh

    motion, report = retarget_bvh(args.bvh, max_frames=args.max_frames)
    motion.save(args.output)
    print(report.summary())
    print(args.output)
    return 0


def _cmd_demo(args: argparse.Namespace) -> int:
    from core.demo import run_demo

    return run_demo(args.output)


def add_capture_options(s: argparse.ArgumentParser) -> None:
    """The options of one capture, shared by ``capture`` and ``batch`` (where a manifest row
    overrides them per clip)."""
    s.add_argument("--device", default="auto", choices=["auto", "cpu", "cuda"])
    s.add_argument("--fps", type=float, default=None, help="override the frame rate")
    s.add_argument("--focal", type=float, default=None, help="focal length in pixels")
    s.add_argument("--fov", type=float, default=None, help="horizontal field of view in degrees")
    s.add_argument("--start", type=float, default=None, help="start time, seconds")
    s.add_argument("--end", type=float, default=None, help="end time, seconds")
    s.add_argument(
        "--person",
        default=None,
        help="which person: main (default: largest, favouring the centre), largest, center, left, right, or an index from the left",
    )
    s.add_argument(
        "--height",
        type=float,
        default=None,
        help="subject height, metres (else the adult mean, 1.69 m: it sets the scene's scale)",
    )
    s.add_argument("--mass", type=float, default=None, help="subject mass, kg")
    s.add_argument("--no-overlay", action="store_true", help="skip the overlay video")
    s.add_argument(
        "--dynamics",
        action="store_true",
        help="also estimate ground reaction forces from the motion and run OpenSim inverse "
        "dynamics with them (opensim/dynamics/: GRF, joint moments, plots, pelvis residuals)",
    )
    s.add_argument(
        "--hmr",
        default="fit",
        choices=["fit", "mq"],
        help="body-surface stage: fit (optimisation, default) or mq (MQ-HMR network)",
    )
    s.add_argument(
        "--prior",
        default=None,
        choices=["lift", "neurik"],
        help="3D prior: lift (2D keypoints -> angles, core.lift) or neurik (MediaPipe world "
        "landmarks); default: BIOMOCAP_PRIOR, else lift",
    )
    s.add_argument(
        "--hmr-refine",
        default="query",
        choices=["query", "params", "none"],
        help="MQ-HMR test-time refinement against the 2D keypoints (default: query)",
    )
    s.add_argument(
        "--hmr-checkpoint",
        default="small",
        help="MQ-HMR weights: small (shipped), large, or a folder with model.safetensors + config.json",
    )
    s.add_argument(
        "--treadmill-speed",
        type=float,
        default=None,
        metavar="M_PER_S",
        help="treadmill belt speed: planted feet move backward (-X) at it instead of staying put",
    )
    s.add_argument(
        "--no-scene-lines",
        action="store_true",
        help="floor tilt from the feet alone (default: also from the scene's horizontal lines)",
    )
    s.add_argument(
        "--progress-jsonl", action="store_true", help="progress as JSON lines on stdout"
    )


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m core",
        description="biomocap: biomechanically accurate motion capture from one video.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    sub = p.add_subparsers(dest="command", required=True)

    s = sub.add_parser("warm-cache", help="build the Anny body-model cache (once)")
    s.set_defaults(func=_cmd_warm_cache)

    s = sub.add_parser("show-skeleton", help="PNGs of the subject surface, skeleton and markers")
    s.add_argument("-o", "--output", type=Path, default=Path("out/skeleton"))
    s.add_argument("--height", type=float, default=None, help="subject height, metres")
    s.add_argument("--mass", type=float, default=None, help="subject mass, kg")
    s.set_defaults(func=_cmd_show_skeleton)

    s = sub.add_parser(
        "capture",
        help="video or image of a person -> motion, OpenSim files, overlay video, plots, report",
        epilog="example: python -m core capture clip.mp4 -o out/clip --height 1.78 --fov 60",
    )
    s.add_argument("video", type=Path, help="video (mp4/mov/avi/webm/...) or image (jpg/png)")
    s.add_argument("-o", "--output", type=Path, required=True, help="output folder")
    add_capture_options(s)
    s.add_argument(
        "--threads", type=int, default=None,
        help="torch threads on the CPU (default: OMP_NUM_THREADS, else 1: the stages are many "
             "small solves, fastest on one thread)",
    )  # fmt: skip
    s.set_defaults(func=_cmd_capture)

    s = sub.add_parser(
        "detect",
        help="video or image -> tracked person's 2D/3D keypoints (.npz)",
        epilog="example: python -m core detect clip.mp4 -o clip.det.npz --person left",
    )
    s.add_argument("video", type=Path, help="video (mp4/mov/avi/webm/...) or image (jpg/png)")
    s.add_argument("-o", "--output", type=Path, required=True, help="output .npz")
    s.add_argument("--start", type=float, default=None, help="start time, seconds")
    s.add_argument("--end", type=float, default=None, help="end time, seconds")
    s.add_argument(
        "--person",
        default=None,
        help="main (default: largest, favouring the centre), largest, center, left, "
        "right, or an index from the left on the first frame with people",
    )
    s.add_argument("--focal", type=float, default=None, help="focal length in pixels")
    s.add_argument("--fov", type=float, default=None, help="horizontal field of view in degrees")
    s.set_defaults(func=_cmd_detect)

    s = sub.add_parser(
        "people",
        help="one frame with every person found boxed and numbered (the index --person takes)",
        epilog="example: python -m core people clip.mp4 --time 2 -o who.png  "
        '(prints {"people": [[x0, y0, x1, y1], ...], "time_s": t})',
    )
    s.add_argument("video", type=Path, help="video or image")
    s.add_argument("--time", type=float, default=0.0, help="seconds from the start (default 0)")
    s.add_argument("-o", "--output", type=Path, required=True, help="output .png")
    s.set_defaults(func=_cmd_people)

    s = sub.add_parser("demo", help="run the demo on the embedded default clip")
    s.add_argument("-o", "--output", type=Path, default=Path("out/demo"))
    s.set_defaults(func=_cmd_demo)

    s = sub.add_parser(
        "retarget-bvh",
        help="CMU-style BVH -> motion bundle on BSM-46 (IK on joint centres)",
        epilog="example: python -m core retarget-bvh 01_01.bvh -o walk.motion.npz",
    )
    s.add_argument("bvh", type=Path)
    s.add_argument("-o", "--output", type=Path, required=True, help="NAME.motion.npz")
    s.add_argument("--max-frames", type=int, default=None, help="only the first N frames")
    s.set_defaults(func=_cmd_retarget_bvh)

    from core.batch.cli import add_batch_parser  # many clips on a process pool or Ray

    add_batch_parser(sub)
    return p


# Where each command writes and the name of its result in a folder: the output is staged and
# published whole by core.transaction (a failure or Ctrl-C never leaves a mix of old and new).
_OUTPUTS = {
    "capture": ("folder", "capture"),
    "detect": ("file", ""),
    "people": ("file", ""),
    "retarget-bvh": ("file", ""),
    "show-skeleton": ("folder", "show-skeleton"),
    "demo": ("folder", "demo"),
}
# Numeric options: valid range, unit, what a missing value means.
_NUMBERS = {
    "height": (0.5, 2.6, "m", "leave it out for the adult mean, 1.69 m"),
    "mass": (10.0, 300.0, "kg", "leave it out to estimate it"),
    "fps": (1.0, 1000.0, "fps", "leave it out to use the video's timestamps"),
    "focal": (1.0, 1e6, "px", "leave it out to read it from the file or assume a lens"),
    "fov": (1.0, 179.0, "deg", "leave it out to read it from the file or assume a lens"),
    "start": (0.0, 1e7, "s", "seconds from the start of the video"),
    "time": (0.0, 1e7, "s", "seconds from the start of the video"),
    "end": (0.0, 1e7, "s", "seconds from the start of the video"),
    "max_frames": (1, 1e9, "frames", ""),
    "treadmill_speed": (0.0, 15.0, "m/s", "the belt speed; leave it out for level ground"),
    "threads": (1, 1024, "threads", "leave it out for OMP_NUM_THREADS, else 1"),
}


def _check_args(args: argparse.Namespace) -> None:
    import math

    for attr, (lo, hi, unit, hint) in _NUMBERS.items():
        v = getattr(args, attr, None)
        if v is not None and not (math.isfinite(v) and lo <= v <= hi):
            opt = "--" + attr.replace("_", "-")
            raise ValueError(
                f"{opt} must lie in {lo:g}..{hi:g} {unit}, got {v:g}"
                + (f" ({hint})" if hint else "")
            )
    start, end = getattr(args, "start", None), getattr(args, "end", None)
    if start is not None and end is not None and end <= start:
        raise ValueError(f"--end ({end:g} s) must come after --start ({start:g} s)")
    if getattr(args, "focal", None) is not None and getattr(args, "fov", None) is not None:
        raise ValueError("give either --focal or --fov, not both")
    if args.command == "capture":
        from core.transaction import check_output

        check_output(args.output, "folder")
    if getattr(args, "person", None) is not None:
        from core.detect import _check_selector

        _check_selector(args.person)


def main(argv: list[str] | None = None) -> int:
    from core.transaction import (
        display,
        exit_code,
        interrupted_message,
        interrupts_raise,
        run_with_output,
    )

    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO,
        format="%(levelname)s %(name)s: %(message)s",
    )
    try:
        with interrupts_raise():
            _check_args(args)
            kind, key = _OUTPUTS.get(args.command, (None, ""))
            return exit_code(
                run_with_output(args.func, args, kind=kind, key=key), argv is not None
            )
    except (ValueError, FileNotFoundError, ImportError) as e:
        print(f"error: {' '.join(display(e).split())}", file=sys.stderr)
        return exit_code(2, argv is not None)
    except OSError as e:
        what = f"{e.strerror}: {e.filename}" if e.strerror and e.filename else str(e)
        print(f"error: {' '.join(display(what).split())}", file=sys.stderr)
        return exit_code(2, argv is not None)
    except KeyboardInterrupt as e:
        line, code = interrupted_message(e)
        print(line, file=sys.stderr)
        return exit_code(code, argv is not None)
