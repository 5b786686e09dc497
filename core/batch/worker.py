"""One clip in a worker process: the same transaction as ``python -m core capture`` (staged
beside ``OUT/<name>/`` and published whole), its failure turned into one error line.

Runs in a process-pool worker (engine ``local``) or a Ray task (engine ``ray``); it never imports
Ray. Application errors are returned, not raised: they are the clip's result, and Ray must not
retry them. Only a dead worker (killed, out of memory) makes the engine retry the clip.
"""

from __future__ import annotations

import argparse
import logging
import os
import time
from pathlib import Path
from typing import Any

__all__ = ["run_clip", "set_threads", "TEST_PID_DIR_ENV"]

log = logging.getLogger(__name__)

# Test hook: when set, each attempt writes its process id to DIR/<clip>.<pid>.pid before it
# starts, so a test can kill the worker mid-clip and watch the retry.
TEST_PID_DIR_ENV = "BIOMOCAP_BATCH_TEST_PID_DIR"


def set_threads(threads: int) -> None:
    """Intra-op threads of this worker (torch, OpenMP): ``threads`` cores of the machine's, so
    that N workers x threads do not oversubscribe the CPU."""
    threads = max(1, int(threads))
    for var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
        os.environ[var] = str(threads)
    import torch

    if torch.get_num_threads() != threads:
        torch.set_num_threads(threads)


_started = None  # the pool's queue of (clip, pid) as tasks begin (engine "local")


def pool_task(func, task: dict[str, Any]) -> dict[str, Any]:
    """Process-pool entry: say which process runs which clip (so the pool can tell which clip
    was in a worker that died), then run it."""
    if _started is not None:
        _started.put((task["name"], os.getpid()))
    return func(task)


def init_worker(threads: int, log_level: int, started=None) -> None:
    """Process-pool initializer: quiet native libraries (OpenSim's and Warp's info lines on
    stdout, MediaPipe's on stderr) so the batch's own lines stay readable; Python warnings and
    errors still reach stderr."""
    os.environ.setdefault("GLOG_minloglevel", "2")
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, 1)
    os.close(devnull)
    global _started
    _started = started
    logging.basicConfig(level=log_level, format="%(levelname)s %(name)s: %(message)s")
    set_threads(threads)


def _error_line(e: BaseException) -> str:
    from core.transaction import display

    if isinstance(e, OSError) and e.strerror and e.filename:
        text = f"{e.strerror}: {e.filename}"
    elif isinstance(e, (ValueError, FileNotFoundError, ImportError, OSError)):
        text = str(e)
    else:  # a bug, not bad input: name the exception so it can be reported
        text = f"internal error ({type(e).__name__}): {e}"
    return " ".join(display(text).split()) or type(e).__name__


def run_clip(task: dict[str, Any]) -> dict[str, Any]:
    """Capture one clip into ``task["folder"]``; returns its outcome (JSON values).

    ``task``: name, video, folder, options (CaptureOptions fields), threads."""
    from core.batch.inputs import capture_options
    from core.capture import Progress, capture
    from core.transaction import run_with_output

    t0 = time.perf_counter()
    pid = os.getpid()
    set_threads(task.get("threads", 1))
    hook = os.environ.get(TEST_PID_DIR_ENV)
    if hook:
        Path(hook, f"{task['name']}.{pid}.pid").write_text(str(pid))
    video, folder = Path(task["video"]), Path(task["folder"])
    held: dict[str, Any] = {}

    def run(args: argparse.Namespace) -> int:
        held["stage"] = Path(args.output)
        with open(os.devnull, "w") as sink:  # the batch shows its own progress
            held["result"] = capture(
                video, capture_options(task["options"], args.output), Progress(True, sink)
            )
        return 0

    outcome: dict[str, Any] = {"status": "failed", "error": None, "pid": pid}
    try:
        run_with_output(run, argparse.Namespace(output=folder), kind="folder", key="capture")
    except KeyboardInterrupt:
        raise
    except Exception as e:  # every failure is this clip's result, never the batch's
        outcome["error"] = _error_line(e)
        log.debug("%s failed", task["name"], exc_info=True)
    else:
        res, stage = held["result"], held["stage"]
        outcome.update(
            status="ok",
            frames=int(res.n_frames),
            timings_s={k: round(float(v), 3) for k, v in res.timings_s.items()},
            reprojection_px={
                "mean": _num(res.mean_reprojection_px),
                "before_refinement": _num(res.initial_reprojection_px),
            },
            limit_violations=int(res.limit_violations),
            outputs={k: _relative(p, stage) for k, p in res.outputs.items()},
            notes=list(res.notes),
        )
    outcome["wall_s"] = round(time.perf_counter() - t0, 3)
    return outcome


def _num(x: float) -> float | None:
    import math

    return round(float(x), 4) if math.isfinite(x) else None


def _relative(p: Path, stage: Path) -> str:
    p = Path(p)
    try:
        return str(p.relative_to(stage))
    except ValueError:
        return p.name
