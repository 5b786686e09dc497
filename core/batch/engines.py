"""Where a batch's clips run: a local process pool or a Ray cluster.

Both take the tasks (one per clip, see ``core.batch.worker.run_clip``) and call ``on_done(task,
outcome)`` in the calling thread as each clip finishes. A clip whose worker process dies (killed,
out of memory) is run again up to ``retries`` times; a clip that fails by itself (bad video, no
person) is not: its error line is its result.

Ray is imported only here, and only for ``engine="ray"``: the capture never needs it.
"""

from __future__ import annotations

import contextlib
import logging
import os
import shutil
import socket
import tempfile
from collections.abc import Callable
from typing import Any

__all__ = ["run_local", "run_ray", "check_ray", "RAY_EXTRA_HINT"]

log = logging.getLogger(__name__)

RAY_EXTRA_HINT = "pip install 'biomocap[ray]'"
Task = dict[str, Any]
OnDone = Callable[[Task, dict[str, Any]], None]


def _died(what: str, attempts: int) -> dict[str, Any]:
    return {
        "status": "failed",
        "error": f"the worker process died ({what}) in {attempts} attempt(s); "
        "if it ran out of memory, run fewer --workers",
    }


# --------------------------------------------------------------------------- local
def run_local(
    tasks: list[Task],
    workers: int,
    threads: int,
    on_done: OnDone,
    retries: int = 2,
    func: Callable[[Task], dict[str, Any]] | None = None,
) -> None:
    """A pool of ``workers`` spawned processes, ``threads`` torch threads each, running
    ``func`` (default ``run_clip``) on each task, never more tasks handed out than workers (so
    a cancel finds nothing queued inside the pool).

    When a worker dies the pool breaks and every clip in flight fails with it. They go to a
    fresh pool; only the clip that was running in the dead process uses up one of its
    ``retries`` (the others were terminated by the pool). On a cancel (KeyboardInterrupt) the
    workers are interrupted too, then ended: no clip goes on after the batch has stopped."""
    import multiprocessing as mp
    from collections import deque
    from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
    from concurrent.futures.process import BrokenProcessPool

    from core.batch.worker import init_worker, pool_task, run_clip

    ctx = mp.get_context("spawn")
    deaths = {t["name"]: 0 for t in tasks}
    queue = deque(tasks)
    level = logging.getLogger().getEffectiveLevel()
    while queue:
        started = ctx.SimpleQueue()  # (clip, pid) as each task begins in a worker
        n_workers = max(1, min(workers, len(queue)))
        pool = ProcessPoolExecutor(
            max_workers=n_workers,
            mp_context=ctx,
            initializer=init_worker,
            initargs=(threads, max(level, logging.WARNING), started),
        )
        procs: dict = {}
        broken: list[Task] = []
        running: dict = {}

        def finish(fut, running=running, broken=broken) -> None:
            """A finished future -> on_done; a clip of a broken pool goes to ``broken``."""
            t = running.pop(fut)
            try:
                outcome = fut.result()
            except BrokenProcessPool:
                broken.append(t)
                return
            except Exception as e:  # e.g. the task could not be sent to the worker
                outcome = {"status": "failed", "error": f"internal error: {e}"}
            outcome["attempts"] = deaths[t["name"]] + 1
            on_done(t, outcome)

        try:
            while (queue or running) and not broken:
                while queue and len(running) < n_workers:
                    t = queue.popleft()
                    running[pool.submit(pool_task, func or run_clip, t)] = t
                    procs.update(getattr(pool, "_processes", None) or {})
                done, _ = wait(set(running), return_when=FIRST_COMPLETED)
                for fut in done:
                    finish(fut)
            if broken:  # the others in flight fail with the same pool
                for fut in list(running):
                    wait([fut])
                    finish(fut)
        except BaseException:
            pool.shutdown(wait=False, cancel_futures=True)
            _end_processes(procs)
            raise
        pool.shutdown(wait=True)
        if not broken:
            continue
        for t in _blame(broken, started, procs):
            deaths[t["name"]] += 1
        for t in reversed(broken):
            if deaths[t["name"]] > retries:
                outcome = _died("killed, or out of memory", deaths[t["name"]])
                on_done(t, {**outcome, "attempts": deaths[t["name"]]})
            else:
                log.warning("%s: a worker process died; running it again", t["name"])
                queue.appendleft(t)


def _end_processes(procs: dict) -> None:
    """On a cancel: interrupt this pool's own workers (SIGINT: the transaction removes their
    staging folders), give them a few seconds, then end those still there."""
    import signal
    import time

    alive = [p for p in procs.values() if p.is_alive()]
    for p in alive:
        with contextlib.suppress(OSError):
            os.kill(p.pid, signal.SIGINT)
    deadline = time.monotonic() + 5.0
    for p in alive:
        p.join(timeout=max(0.1, deadline - time.monotonic()))
    for p in alive:
        if p.is_alive():
            p.kill()
            p.join(timeout=5)


def _blame(broken: list[Task], started, procs: dict) -> list[Task]:
    """The clips that were running in a process that died by itself (not one the broken pool
    terminated with SIGTERM); all unfinished clips when that cannot be told."""
    import signal

    ran: dict[int, str] = {}
    while not started.empty():
        name, pid = started.get()
        ran[pid] = name
    dead = {pid for pid, p in procs.items() if p.exitcode not in (None, 0, -signal.SIGTERM)}
    names = {ran[pid] for pid in dead if pid in ran}
    blamed = [t for t in broken if t["name"] in names]
    return blamed or broken


# --------------------------------------------------------------------------- ray
def check_ray(address: str | None, timeout_s: float = 5.0) -> None:
    """Before anything starts: Ray is installed and, for ``--ray-address host:port``, something
    answers there. Raises ImportError / ValueError with one line."""
    try:
        import ray  # noqa: F401
    except ImportError:
        raise ImportError(
            f"--engine ray needs Ray, which is not installed: {RAY_EXTRA_HINT}"
        ) from None
    if not address or address in ("auto", "local"):
        return
    hostport = address.split("://", 1)[-1].rstrip("/")
    host, _, port = hostport.rpartition(":")
    if not host or not port.isdigit():
        raise ValueError(
            f"--ray-address {address!r} is not HOST:PORT (e.g. 10.0.0.5:6379, ray://head:10001 "
            "or auto)"
        )
    try:
        with socket.create_connection((host.strip("[]"), int(port)), timeout=timeout_s):
            pass
    except OSError as e:
        raise ValueError(
            f"cannot reach the Ray cluster at {address} ({e.strerror or e}); start it with "
            "`ray start --head` there, or leave out --ray-address for a local cluster"
        ) from None


def run_ray(
    tasks: list[Task],
    workers: int,
    threads: int,
    on_done: OnDone,
    *,
    address: str | None = None,
    gpus_per_clip: float | None = None,
    retries: int = 2,
) -> None:
    """One Ray task per clip (``num_cpus=threads``, ``num_gpus`` when the cluster has GPUs),
    retried ``retries`` times when its worker dies; application errors are never retried (the
    task returns them). Without ``address``: a private local cluster of ``workers * threads``
    CPUs, no dashboard, its files in a temporary folder that is removed afterwards."""
    import ray

    from core.batch.worker import run_clip

    tmp = None
    quiet = {"logging_level": logging.ERROR, "log_to_driver": False}
    os.environ.setdefault("RAY_BACKEND_LOG_LEVEL", "error")  # no C++ retry lines on stderr
    handlers = _python_handlers()
    try:
        if address:
            try:
                ray.init(address=address, **quiet)
            except (ConnectionError, RuntimeError, ValueError) as e:
                raise ValueError(
                    f"cannot connect to the Ray cluster at {address} ({e}); if it uses token "
                    "authentication, set RAY_AUTH_MODE=token and RAY_AUTH_TOKEN to its token "
                    "(`ray get-auth-token` on the head)"
                ) from None
        else:
            # Short path: Ray's socket names must stay under ~107 bytes.
            tmp = tempfile.mkdtemp(prefix="bmr-")
            ray.init(
                num_cpus=workers * threads,
                num_gpus=_local_gpus(),
                include_dashboard=False,
                _temp_dir=tmp,
                object_store_memory=128 * 1024**2,  # results are small dicts
                **quiet,
            )
        _restore_handlers(handlers)
        gpus = ray.cluster_resources().get("GPU", 0.0)
        if gpus_per_clip is None:
            gpus_per_clip = 1.0 if gpus >= 1 else 0.0
        remote = ray.remote(run_clip).options(
            num_cpus=threads,
            num_gpus=gpus_per_clip,
            max_retries=retries,
            retry_exceptions=False,
            name="biomocap-capture",
        )
        refs = {}
        for t in tasks:
            if gpus_per_clip and t["options"].get("device", "auto") == "auto":
                t = {**t, "options": {**t["options"], "device": "cuda"}}
            refs[remote.remote(t)] = t
        try:
            _collect(ray, refs, on_done, retries)
        except BaseException as e:  # a cancel: interrupt the running captures (staging goes)
            log.debug("stopping the Ray tasks: %r", e)
            for ref in refs:
                with contextlib.suppress(Exception):
                    ray.cancel(ref)
            with contextlib.suppress(BaseException):
                ray.wait(list(refs), num_returns=len(refs), timeout=5.0)
            raise
    finally:
        with contextlib.suppress(BaseException):  # keep the exception that stopped the batch
            ray.shutdown()
        if tmp is not None:
            shutil.rmtree(tmp, ignore_errors=True)


def _python_handlers() -> dict:
    import signal
    import threading

    if threading.current_thread() is not threading.main_thread():
        return {}
    return {s: signal.getsignal(s) for s in (signal.SIGINT, signal.SIGTERM)}


def _restore_handlers(handlers: dict) -> None:
    """``ray.init`` puts a C++ handler on SIGTERM that aborts the driver (exit 134, the local
    cluster left running, the summary unfinished): give the signals back to Python, so a
    SIGTERM cancels the batch like Ctrl-C (the tasks interrupted, the cluster shut down)."""
    import signal

    for s, h in handlers.items():
        if h is not None:
            signal.signal(s, h)


def _collect(ray, refs: dict, on_done: OnDone, retries: int) -> None:
    """Hand each clip's outcome to ``on_done`` as its task ends (``refs`` empties)."""
    from ray.exceptions import RayError, TaskCancelledError, WorkerCrashedError

    while refs:
        done, _ = ray.wait(list(refs), num_returns=1)
        for ref in done:
            t = refs.pop(ref)
            try:
                outcome = ray.get(ref)
            except (WorkerCrashedError, TaskCancelledError) as e:
                outcome = _died(type(e).__name__, retries + 1)
                log.debug("%s", e)
            except RayError as e:
                first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
                outcome = {"status": "failed", "error": f"Ray: {first}"}
            on_done(t, outcome)


def _local_gpus() -> int:
    try:
        import torch

        return torch.cuda.device_count() if torch.cuda.is_available() else 0
    except ImportError:
        return 0
