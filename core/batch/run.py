"""Run a batch: skip what ``--resume`` finds complete, send the rest to an engine, keep
``OUT/batch_summary.json`` current, show one overall bar and a line per finished clip."""

from __future__ import annotations

import json
import logging
import os
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from core.batch.inputs import Clip, options_key
from core.batch.summary import Summary, carry_previous, format_table, is_complete, read_summary

__all__ = ["BatchConfig", "run_batch"]

log = logging.getLogger(__name__)
_LOCK = ".biomocap-batch-lock"


@dataclass
class BatchConfig:
    out: Path
    engine: str = "local"  # local | ray
    workers: int = 1
    threads: int = 1  # torch threads per clip (Ray: CPUs per task)
    resume: bool = False
    ray_address: str | None = None
    retries: int = 2  # a clip whose worker dies is run again this many times
    jsonl: bool = False  # progress as JSON lines (for programs) instead of a bar


def run_batch(clips: list[Clip], cfg: BatchConfig) -> Summary:
    """Capture every clip into ``cfg.out/<name>/``; returns the final summary. Never raises for a
    clip's failure (it is in the summary); raises ValueError when OUT cannot be used."""
    from core.transaction import OutputBusy, _Lock

    out = Path(cfg.out)
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise ValueError(f"cannot create the output folder {out} ({e.strerror})") from None
    lock = _Lock(out / _LOCK, out)
    try:
        lock.acquire()
    except OutputBusy:
        raise ValueError(
            f"{out} is being written by another batch; wait for it or choose another -o"
        ) from None
    try:
        return _run(clips, cfg, out)
    finally:
        lock.release()


def _run(clips: list[Clip], cfg: BatchConfig, out: Path) -> Summary:
    previous = read_summary(out) if cfg.resume else {}
    keys = [options_key(c) for c in clips]
    run_info = {
        "engine": cfg.engine,
        "workers": cfg.workers,
        "threads_per_clip": cfg.threads,
        "ray_address": cfg.ray_address,
        "resume": cfg.resume,
    }
    summary = Summary(out, clips, keys, run_info)
    show = _Show(len(clips), cfg.jsonl)
    tasks = []
    for clip, key in zip(clips, keys, strict=True):
        if cfg.resume and is_complete(out, clip, key, previous):
            e = summary.entry(clip.name)
            e.update(status="skipped", **carry_previous(e, previous))
            show.finished(clip.name, e)
            continue
        tasks.append(
            {
                "name": clip.name,
                "video": str(clip.video),
                "folder": str(out / clip.name),
                "options": clip.options,
                "threads": cfg.threads,
            }
        )
    summary.write()
    log.info(
        "%d clip(s) to capture, %d complete already; engine %s%s, %d worker(s) x %d thread(s)",
        len(tasks), len(clips) - len(tasks), cfg.engine,
        f" at {cfg.ray_address}" if cfg.ray_address else "", cfg.workers, cfg.threads,
    )  # fmt: skip

    def on_done(task: dict[str, Any], outcome: dict[str, Any]) -> None:
        outcome.pop("pid", None)
        summary.update(task["name"], **outcome)
        show.finished(task["name"], summary.entry(task["name"]))

    try:
        if tasks and cfg.engine == "ray":
            from core.batch.engines import run_ray

            run_ray(
                tasks, cfg.workers, cfg.threads, on_done, address=cfg.ray_address,
                retries=cfg.retries,
            )  # fmt: skip
        elif tasks:
            from core.batch.engines import run_local

            run_local(tasks, cfg.workers, cfg.threads, on_done, retries=cfg.retries)
    finally:
        summary.finish()
        show.close()
    return summary


class _Show:
    """One overall bar (stderr) and a line per finished clip (stdout), or JSON lines."""

    def __init__(self, total: int, jsonl: bool) -> None:
        self.total, self.done, self.jsonl = total, 0, jsonl
        self.bar = None
        if not jsonl:
            from tqdm import tqdm

            self.bar = tqdm(total=total, desc="batch", unit="clip", file=sys.stderr)

    def finished(self, name: str, e: dict[str, Any]) -> None:
        self.done += 1
        if self.jsonl:
            line = {"clip": name, "status": e["status"], "done": self.done, "total": self.total}
            if e.get("error"):
                line["error"] = e["error"]
            sys.stdout.write(json.dumps(line) + "\n")
            sys.stdout.flush()
            return
        from tqdm import tqdm

        if e["status"] == "ok":
            rep = (e.get("reprojection_px") or {}).get("mean")
            text = f"ok       {name}: {e.get('frames')} frames in {e.get('wall_s', 0):.1f} s" + (
                f", reprojection {rep:.1f} px" if rep is not None else ""
            )
        elif e["status"] == "skipped":
            text = f"skipped  {name}: complete from an earlier run"
        else:
            text = f"FAILED   {name}: {e.get('error')}"
        tqdm.write(f"[{self.done}/{self.total}] {text}", file=sys.stdout)
        self.bar.update(1)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()


def print_result(summary: Summary, jsonl: bool) -> None:
    if jsonl:
        c = summary.counts()
        sys.stdout.write(
            json.dumps({"done": True, "summary": str(summary.path), "counts": c}) + "\n"
        )
        return
    print(format_table(summary.data))
    print(f"summary: {summary.path}")


def default_workers(n_clips: int) -> int:
    """As many workers as cores, at most one per clip, and ~1.5 GB of available memory each (a
    capture peaks near 1 GB)."""
    cores = os.cpu_count() or 1
    avail = _available_memory_gb()
    by_memory = max(1, int(avail / 1.5)) if avail else cores
    return max(1, min(cores, n_clips, by_memory))


def _available_memory_gb() -> float | None:
    try:
        for ln in Path("/proc/meminfo").read_text().splitlines():
            if ln.startswith("MemAvailable:"):
                return int(ln.split()[1]) / 1024**2
    except (OSError, ValueError, IndexError):
        pass
    return None
