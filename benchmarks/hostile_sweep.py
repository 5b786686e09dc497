"""Hostile-input sweep: every case of ``tests/robustness/cases.py`` classified GOOD/WEAK/BAD.

Each case runs in a forked child (a segfault or a hang is a BAD, not the end of the sweep), in a
fresh copy of a folder with earlier results, and is judged as the cases module describes.

    .venv/bin/python benchmarks/hostile_sweep.py                 # all cases
    .venv/bin/python benchmarks/hostile_sweep.py --light         # skip the MediaPipe/torch ones
    .venv/bin/python benchmarks/hostile_sweep.py --code /tmp/old # judge another checkout's code
"""

from __future__ import annotations

import argparse
import atexit
import json
import os
import shutil
import signal
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent


def main() -> int:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--code", type=Path, default=REPO, help="checkout whose commands are judged")
    ap.add_argument("--light", action="store_true", help="skip cases that run MediaPipe/torch")
    ap.add_argument("--only", default="", help="run cases whose id matches this regex")
    ap.add_argument("--timeout", type=float, default=300.0, help="seconds per case")
    ap.add_argument("--json", type=Path, help="write the outcomes here")
    a = ap.parse_args()
    sys.path.insert(0, str(a.code.resolve()))
    cwd = tempfile.mkdtemp(prefix="hostile-cwd-")
    os.chdir(cwd)
    from tests.robustness import cases as C

    work = Path(tempfile.mkdtemp(prefix="hostile-sweep-"))
    parent = os.getpid()

    def tidy() -> None:  # the sweep's folders, removed by the sweep itself, not its children
        if os.getpid() == parent:
            for d in (cwd, work):
                shutil.rmtree(d, ignore_errors=True)

    atexit.register(tidy)
    t0 = time.perf_counter()
    base = C.build_base(work / "base")
    print(f"base results built in {time.perf_counter() - t0:.1f} s ({a.code})", flush=True)
    import re

    selected = [c for c in C.CASES if re.search(a.only, c.id) and not (a.light and c.heavy)]
    results = []
    for case in selected:
        t = time.perf_counter()
        r, w = os.pipe()
        pid = os.fork()
        if pid == 0:  # child
            os.close(r)
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, 1)
            os.dup2(devnull, 2)
            try:
                o = C.run_case(case, base, work / "case")
                msg = {"verdict": o.verdict, "reason": o.reason, "rc": o.rc}
            except BaseException as e:  # noqa: BLE001 - the harness itself failed on this case
                msg = {
                    "verdict": "BAD",
                    "reason": f"harness: {e.__class__.__name__}: {e}",
                    "rc": None,
                }
            os.write(w, json.dumps(msg).encode())
            os._exit(0)
        os.close(w)
        deadline = time.time() + a.timeout
        status = None
        while time.time() < deadline:
            done, status = os.waitpid(pid, os.WNOHANG)
            if done:
                break
            time.sleep(0.05)
        else:
            os.kill(pid, signal.SIGKILL)
            os.waitpid(pid, 0)
            status = -1
        data = os.read(r, 1 << 20)
        os.close(r)
        if data:
            msg = json.loads(data)
        elif status == -1:
            msg = {"verdict": "BAD", "reason": f"hung (> {a.timeout:g} s)", "rc": None}
        else:
            sig = os.WTERMSIG(status) if os.WIFSIGNALED(status) else None
            msg = {"verdict": "BAD", "reason": f"crashed (signal {sig})", "rc": None}
        msg["id"] = case.id
        msg["seconds"] = round(time.perf_counter() - t, 2)
        results.append(msg)
        print(f"{msg['verdict']:4} {case.id:40} {msg['reason'][:150]}", flush=True)
    counts = {v: sum(m["verdict"] == v for m in results) for v in ("GOOD", "WEAK", "BAD")}
    print(
        f"\n{len(results)} cases: {counts['GOOD']} GOOD, {counts['WEAK']} WEAK, {counts['BAD']} BAD "
        f"({time.perf_counter() - t0:.0f} s)"
    )
    if a.json:
        a.json.write_text(json.dumps(results, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
