"""Progress of a capture for people (a tqdm bar on stderr) or machines (JSON lines on stdout:
``{"stage", "progress", "message"}``, then ``{"done": true, ...}`` or ``{"error": ...}``; the
Blender add-on and batch read these)."""

from __future__ import annotations

import json
import sys
from collections.abc import Callable

__all__ = ["Progress"]


class Progress:
    """Progress for people (a tqdm bar on stderr) or machines (JSON lines on stdout)."""

    def __init__(self, jsonl: bool = False, stream=None) -> None:
        self.jsonl = jsonl
        self.stream = stream or sys.stdout
        self._bar = None
        self._stage = ""

    def __call__(self, stage: str, fraction: float, message: str = "") -> None:
        fraction = float(min(max(fraction, 0.0), 1.0))
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

    def close(self) -> None:
        if self._bar is not None:
            self._bar.close()
            self._bar = None

    def done(self, **payload) -> None:
        self.close()
        if self.jsonl:
            self.stream.write(
                json.dumps({"done": True, **{k: str(v) for k, v in payload.items()}}) + "\n"
            )
            self.stream.flush()

    def error(self, message: str) -> None:
        self.close()
        if self.jsonl:
            self.stream.write(json.dumps({"error": message}) + "\n")
            self.stream.flush()
