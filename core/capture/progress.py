"""Progress of a capture for people (a tqdm bar on stderr) or machines (JSON lines on stdout:
``{"stage", "progress", "message"}``, then ``{"done": true, ...}`` or ``{"error": ...}``; the
Blender add-on and batch read these)."""

from __future__ import annotations

import json
import sys
import threading
from collections.abc import Callable

__all__ = ["Progress"]


class Progress:
    """Progress for people (a tqdm bar on stderr) or machines (JSON lines on stdout)."""

    def __init__(self, jsonl: bool = False, stream=None) -> None:
        self.jsonl = jsonl
        self.stream = stream or sys.stdout
        self._bar = None
        self._stage = ""
        # The outputs stage reports from two threads (the overlay runs beside the other files).
        self._lock = threading.Lock()

    def __call__(self, stage: str, fraction: float, message: str = "") -> None:
        with self._lock:
            self._report(stage, float(min(max(fraction, 0.0), 1.0)), message)

    def _report(self, stage: str, fraction: float, message: str) -> None:
        if self.jsonl:
            self.stream.write(
                json.dumps({"stage": stage, "progress": round(fraction, 4), "message": message})
                + "\n"
            )
            self.stream.flush()
            return
        from tqdm import tqdm

        if stage != self._stage:
            if self._bar is not None:
                self._bar.close()
            self._bar = tqdm(
                total=1000,
                desc=stage,
                unit="",
                bar_format="{desc:>8} {percentage:3.0f}%|{bar}| {postfix}",
            )
            self._stage = stage
        self._bar.n = int(fraction * 1000)
        self._bar.set_postfix_str(message[:60])
        self._bar.refresh()

    def stage(self, stage: str) -> Callable[[float, str], None]:
        return lambda fraction, message="": self(stage, fraction, message)

    def beside(self) -> Callable[[str, float, str], None]:
        """Progress of work running beside another stage's (the outputs stage writes the files
        while the overlay is drawn): JSON lines as usual; for people no bar of its own, so the
        two do not open a new bar at every switch."""
        return self if self.jsonl else lambda stage, fraction, message="": None

    def close(self) -> None:
        with self._lock:
            if self._bar is not None:
                self._bar.close()
                self._bar = None
            self._stage = ""

    def done(self, **payload) -> None:
        self.close()
        if self.jsonl:
            with self._lock:
                self.stream.write(
                    json.dumps({"done": True, **{k: str(v) for k, v in payload.items()}}) + "\n"
                )
                self.stream.flush()

    def error(self, message: str) -> None:
        self.close()
        if self.jsonl:
            with self._lock:
                self.stream.write(json.dumps({"error": message}) + "\n")
                self.stream.flush()
