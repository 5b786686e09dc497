"""Stand-in for ``python -m core capture VIDEO -o OUT --progress-jsonl``: speaks the JSON-lines
protocol without running the real pipeline (which needs minutes and models). Behaviour from the
environment: FAKE_CAPTURE_MODE = ok | error | crash | slow | tidy (slow; on SIGTERM writes
OUT/cleaned-up and exits 143, as the real capture does) | stubborn (slow; ignores SIGTERM); FAKE_CAPTURE_BUNDLE = a
.motion.npz to copy into OUT on success. Accepts (and checks) the real command's arguments."""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import sys
import time
from pathlib import Path


def main(argv: list[str]) -> int:
    if argv[:3] == ["-m", "core", "capture"]:
        argv = argv[3:]
    elif argv[:1] == ["capture"]:
        argv = argv[1:]
    p = argparse.ArgumentParser()
    p.add_argument("video", type=Path)
    p.add_argument("-o", "--output", type=Path, required=True)
    p.add_argument("--progress-jsonl", action="store_true")
    for opt in ("--height", "--mass", "--focal", "--fov", "--start", "--end"):
        p.add_argument(opt, type=float)
    p.add_argument("--device", choices=["auto", "cpu", "cuda"])
    p.add_argument("--person")
    p.add_argument("--hmr", choices=["fit", "mq"])
    args = p.parse_args(argv)
    mode = os.environ.get("FAKE_CAPTURE_MODE", "ok")
    if mode == "tidy":

        def tidy(signum, frame):
            args.output.mkdir(parents=True, exist_ok=True)
            (args.output / "cleaned-up").write_text("staging removed\n")
            print("cancelled: the earlier result is kept", file=sys.stderr, flush=True)
            raise SystemExit(143)

        signal.signal(signal.SIGTERM, tidy)
    elif mode == "stubborn":
        signal.signal(signal.SIGTERM, signal.SIG_IGN)

    def say(obj: dict) -> None:
        print(json.dumps(obj), flush=True)

    print("log text that is not JSON", flush=True)
    stages = ("detect", "neurik", "surface", "refine", "export")
    for i, stage in enumerate(stages):
        for f in (0.0, 0.5, 1.0):
            say({"stage": stage, "progress": f, "message": f"{stage} {int(f * 100)}% (#{i})"})
            time.sleep(0.5 if mode in ("slow", "tidy", "stubborn") else 0.005)
        if mode == "error" and stage == "neurik":
            say({"error": "no person found in the video\n(second line should be folded)"})
            return 2
        if mode == "crash" and stage == "surface":
            print("Traceback: something broke in the stand-in", file=sys.stderr, flush=True)
            return 3
    args.output.mkdir(parents=True, exist_ok=True)
    dst = args.output / f"{args.video.stem}.motion.npz"
    shutil.copyfile(os.environ["FAKE_CAPTURE_BUNDLE"], dst)
    say({"done": True, "motion": str(dst), "report": str(args.output / "report.json")})
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
