"""``python -m core``: the biomocap command line."""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

log = logging.getLogger("biomocap")

EPILOG = """examples:
  python -m core show-skeleton -o out/skeleton          # PNGs of the subject, skeleton, markers
  python -m core demo -o out/demo                       # the demo on the embedded default clip
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


def _cmd_demo(args: argparse.Namespace) -> int:
    from core.demo import run_demo

    return run_demo(args.output)


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

    s = sub.add_parser("demo", help="run the demo on the embedded default clip")
    s.add_argument("-o", "--output", type=Path, default=Path("out/demo"))
    s.set_defaults(func=_cmd_demo)
    return p


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO,
        format="%(levelname)s %(name)s: %(message)s",
    )
    try:
        return int(args.func(args) or 0)
    except (ValueError, FileNotFoundError, ImportError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
