"""``OUT/batch_summary.json``: the state of every clip of a batch, rewritten atomically each time a
clip finishes; what ``--resume`` reads; and the table printed at the end.

Per clip: name, video, origin, options and their key, status (``pending``, ``ok``, ``failed``,
``skipped`` = complete from an earlier run, ``cancelled``), the error line, frames, stage timings,
wall time, reprojection, joint-limit violations and the outputs (relative to the clip's folder).
"""

from __future__ import annotations

import json
import math
import time
from pathlib import Path
from typing import Any

from core.batch.inputs import Clip

__all__ = ["SUMMARY", "Summary", "is_complete", "format_table"]

SUMMARY = "batch_summary.json"
FORMAT = "biomocap-batch-summary"
DONE = ("ok", "skipped")


def _now() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S%z")


def read_summary(out: Path) -> dict[str, Any]:
    """The previous summary in ``out``, or {} when there is none (or it is not ours)."""
    try:
        data = json.loads((out / SUMMARY).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) and data.get("format") == FORMAT else {}


def is_complete(out: Path, clip: Clip, key: str, previous: dict[str, Any]) -> bool:
    """A clip is complete when the last batch into ``out`` finished it with the same input and
    options (same key) and its published capture is whole: ``report.json`` (written last but
    one, published in the same swap as everything else) parses and every output it lists
    exists."""
    entry = next((c for c in previous.get("clips", []) if c.get("name") == clip.name), None)
    if not entry or entry.get("status") not in DONE or entry.get("options_key") != key:
        return False
    folder = out / clip.name
    try:
        report = json.loads((folder / "report.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    outputs = report.get("outputs") if isinstance(report, dict) else None
    if not isinstance(outputs, dict) or "motion" not in outputs:
        return False
    return all(isinstance(p, str) and (folder / p).exists() for p in outputs.values())


class Summary:
    """The summary of one batch run, written to ``out/batch_summary.json`` on every change."""

    def __init__(self, out: Path, clips: list[Clip], keys: list[str], run: dict[str, Any]):
        self.path = out / SUMMARY
        self.data: dict[str, Any] = {
            "format": FORMAT,
            "version": 1,
            **run,
            "started": _now(),
            "updated": _now(),
            "finished": None,
            "counts": {},
            "clips": [
                {
                    "name": c.name,
                    "video": str(c.video),
                    "origin": c.origin,
                    "folder": c.name,
                    "options": c.options,
                    "options_key": k,
                    "status": "pending",
                    "error": None,
                }
                for c, k in zip(clips, keys, strict=True)
            ],
        }
        self._index = {c.name: i for i, c in enumerate(clips)}

    def entry(self, name: str) -> dict[str, Any]:
        return self.data["clips"][self._index[name]]

    def update(self, name: str, **fields: Any) -> None:
        self.entry(name).update(fields)
        self.write()

    def finish(self) -> None:
        for c in self.data["clips"]:
            if c["status"] == "pending":
                c["status"] = "cancelled"
        self.data["finished"] = _now()
        self.write()

    def counts(self) -> dict[str, int]:
        out: dict[str, int] = {}
        for c in self.data["clips"]:
            out[c["status"]] = out.get(c["status"], 0) + 1
        return out

    def write(self) -> None:
        from core.motion import atomic_write

        self.data["updated"] = _now()
        self.data["counts"] = self.counts()
        text = json.dumps(_plain(self.data), indent=1, ensure_ascii=False, allow_nan=False)
        atomic_write(self.path, lambda f: f.write(text + "\n"))


def _plain(x: Any) -> Any:
    if isinstance(x, dict):
        return {str(k): _plain(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [_plain(v) for v in x]
    if isinstance(x, float) and not math.isfinite(x):
        return None
    if isinstance(x, Path):
        return str(x)
    return x


def format_table(summary: dict[str, Any]) -> str:
    """The end-of-batch table: one row per clip."""
    rows = [("clip", "status", "frames", "wall s", "frames/s", "reproj px", "error")]
    for c in summary["clips"]:
        frames, wall = c.get("frames"), c.get("wall_s")
        rep = (c.get("reprojection_px") or {}).get("mean")
        rows.append(
            (
                c["name"],
                c["status"],
                "" if frames is None else str(frames),
                "" if wall is None or c["status"] == "skipped" else f"{wall:.1f}",
                ""
                if not frames or not wall or c["status"] == "skipped"
                else f"{frames / wall:.1f}",
                "" if rep is None else f"{rep:.1f}",
                (c.get("error") or "")[:100],
            )
        )
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]) - 1)]
    lines = []
    for r in rows:
        cells = [r[i].ljust(widths[i]) if i < 2 else r[i].rjust(widths[i]) for i in range(6)]
        lines.append("  ".join(cells + [r[6]]).rstrip())
    counts = ", ".join(f"{v} {k}" for k, v in summary.get("counts", {}).items())
    return "\n".join(lines + [f"{len(summary['clips'])} clips: {counts}"])


def carry_previous(entry: dict[str, Any], previous: dict[str, Any]) -> dict[str, Any]:
    """The fields of a skipped clip's earlier result (frames, timings, outputs...)."""
    old = next((c for c in previous.get("clips", []) if c.get("name") == entry["name"]), {})
    keep = ("frames", "timings_s", "wall_s", "reprojection_px", "limit_violations", "outputs")
    return {k: old[k] for k in keep if k in old}
