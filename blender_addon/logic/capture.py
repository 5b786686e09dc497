"""Run the core's capture as a subprocess and read its JSON-lines progress protocol.

Protocol (one JSON object per stdout line):
  {"stage": "detect", "progress": 0.42, "message": "..."}   progress in 0..1 (overall)
  {"done": true, "motion": "path/to/clip.motion.npz"}        last line on success
  {"error": "one line"}                                      last line on failure
Lines that are not JSON objects are kept as log text. ``CaptureJob`` reads stdout on a thread
and hands events to the caller's polling loop (Blender's timer, or ``run_sync``); bpy is never
touched here.
"""

from __future__ import annotations

import json
import os
import queue
import signal
import subprocess
import sys
import threading
import time
from collections import deque
from dataclasses import dataclass
from pathlib import Path

__all__ = [
    "ProgressEvent",
    "CaptureOutcome",
    "CaptureJob",
    "parse_progress_line",
    "build_capture_command",
    "find_core_python",
    "OverallProgress",
    "people_preview_command",
    "parse_people_preview",
]

# the core's stages in order with their typical share of the run time (per-stage progress from
# the core restarts at 0 for each stage; the panel shows one bar 0..1 across all of them)
STAGE_WEIGHTS: tuple[tuple[str, float], ...] = (
    ("detect", 0.34),
    ("neurik", 0.05),
    ("surface", 0.20),
    ("world", 0.03),
    ("refine", 0.25),
    ("export", 0.05),
    ("overlay", 0.08),
)


class OverallProgress:
    """Per-stage fractions -> one overall fraction 0..1 that never goes back."""

    def __init__(self, stages: tuple[tuple[str, float], ...] = STAGE_WEIGHTS) -> None:
        total = sum(w for _, w in stages)
        self._start: dict[str, float] = {}
        self._weight: dict[str, float] = {}
        acc = 0.0
        for name, w in stages:
            self._start[name] = acc / total
            self._weight[name] = w / total
            acc += w
        self.value = 0.0
        self.stage = ""

    def update(self, stage: str, fraction: float | None) -> float:
        if stage:
            self.stage = stage
        if stage in self._start and fraction is not None:
            v = self._start[stage] + self._weight[stage] * min(1.0, max(0.0, fraction))
            self.value = max(self.value, v)
        return self.value

    def finish(self) -> float:
        self.value = 1.0
        return self.value


@dataclass(frozen=True)
class ProgressEvent:
    stage: str = ""
    progress: float | None = None  # 0..1
    message: str = ""
    done: bool = False
    motion: str | None = None
    error: str | None = None
    raw: str = ""  # a line that was not a protocol object


@dataclass(frozen=True)
class CaptureOutcome:
    status: str  # "done" | "error" | "cancelled"
    motion: Path | None
    message: str  # one line
    returncode: int | None


def parse_progress_line(line: str) -> ProgressEvent:
    """One stdout line -> ProgressEvent (``raw`` set for non-protocol text)."""
    text = line.strip()
    if not text.startswith("{"):
        return ProgressEvent(raw=text)
    try:
        obj = json.loads(text)
    except json.JSONDecodeError:
        return ProgressEvent(raw=text)
    if not isinstance(obj, dict):
        return ProgressEvent(raw=text)
    if "error" in obj:
        msg = " ".join(str(obj["error"]).split())  # one line
        return ProgressEvent(error=msg or "capture failed (empty error message)")
    if obj.get("done"):
        motion = obj.get("motion")
        if not motion:
            return ProgressEvent(error="capture reported done but named no motion file")
        return ProgressEvent(done=True, motion=str(motion), progress=1.0)
    prog = obj.get("progress")
    try:
        prog = None if prog is None else min(1.0, max(0.0, float(prog)))
    except (TypeError, ValueError):
        prog = None
    return ProgressEvent(
        stage=str(obj.get("stage", "")), progress=prog, message=str(obj.get("message", ""))
    )


def build_capture_command(
    python: str | Path,
    video: str | Path,
    out_dir: str | Path,
    *,
    height_m: float = 0.0,
    mass_kg: float = 0.0,
    focal_px: float = 0.0,
    fov_deg: float = 0.0,
    start_s: float = 0.0,
    end_s: float = 0.0,
    device: str = "auto",
    person: str = "",
    surface_method: str = "",
) -> list[str]:
    """argv of ``<python> -m core capture VIDEO -o OUT --progress-jsonl [options]`` (options as
    core/cli.py defines them); zero values mean "let the core decide" and are left out."""
    devices = {"auto": "auto", "cpu": "cpu", "gpu": "cuda"}
    if device not in devices:
        raise ValueError(f"device must be auto, cpu or gpu, got {device!r}")
    cmd = [
        str(python),
        "-m",
        "core",
        "capture",
        str(video),
        "-o",
        str(out_dir),
        "--progress-jsonl",
    ]
    if height_m > 0:
        cmd += ["--height", f"{height_m:g}"]
    if mass_kg > 0:
        cmd += ["--mass", f"{mass_kg:g}"]
    if focal_px > 0:
        cmd += ["--focal", f"{focal_px:g}"]
    elif fov_deg > 0:
        cmd += ["--fov", f"{fov_deg:g}"]
    if start_s > 0:
        cmd += ["--start", f"{start_s:g}"]
    if end_s > 0:
        if end_s <= start_s:
            raise ValueError(
                f"frame range end ({end_s:g} s) must come after its start ({start_s:g} s)"
            )
        cmd += ["--end", f"{end_s:g}"]
    if device != "auto":
        cmd += ["--device", devices[device]]
    person = person.strip()
    if person and person != "main":
        if not (person in ("largest", "center", "left", "right") or person.isdigit()):
            raise ValueError(
                f"person must be main, largest, center, left, right or an index, got {person!r}"
            )
        cmd += ["--person", person]
    if surface_method and surface_method != "fit":
        if surface_method not in ("fit", "mq"):
            raise ValueError(f"surface method must be fit or mq, got {surface_method!r}")
        cmd += ["--hmr", surface_method]
    return cmd


def find_core_python(
    start: str | Path | None = None, environ: dict | None = None, *, search_cwd: bool = True
) -> Path | None:
    """The core's interpreter: $BIOMOCAP_PYTHON, else a ``.venv/bin/python`` (Windows:
    ``.venv/Scripts/python.exe``) with a ``core`` package beside it, in ``start`` (default: this
    add-on's folder), the working directory, or one of their parents; None if not found."""
    env = os.environ if environ is None else environ
    if env.get("BIOMOCAP_PYTHON"):
        p = Path(env["BIOMOCAP_PYTHON"])
        return p if p.is_file() else None
    addon_dir = Path(__file__).resolve().parent.parent
    starts = [Path(start or addon_dir).resolve()]
    built_from = _built_from_repo(addon_dir if start is None else Path(start))
    if built_from is not None:  # an installed extension lives far from the repository
        starts.append(built_from)
    if search_cwd:
        starts.append(Path.cwd().resolve())
    for here in starts:
        for d in (here, *here.parents):
            for rel in (".venv/bin/python", ".venv/Scripts/python.exe"):
                cand = d / rel
                if cand.is_file() and (d / "core" / "__init__.py").is_file():
                    return cand
    return None


def _built_from_repo(addon_dir: Path) -> Path | None:
    """The repository recorded in ``build_info.json`` by scripts/build_addon.py, if any."""
    info = addon_dir / "build_info.json"
    try:
        repo = json.loads(info.read_text(encoding="utf-8")).get("repo")
    except (OSError, ValueError, AttributeError):
        return None
    return Path(repo) if isinstance(repo, str) and repo else None


class CaptureJob:
    """A running capture subprocess; poll() from the main thread, cancel() stops it."""

    def __init__(self, argv: list[str], *, cwd: str | Path | None = None, env: dict | None = None):
        self.argv = list(argv)
        self._events: queue.Queue[ProgressEvent] = queue.Queue()
        self._stderr: deque[str] = deque(maxlen=20)
        self.last: ProgressEvent = ProgressEvent(stage="starting", progress=0.0)
        self.overall = OverallProgress()  # one bar across all stages
        self.outcome: CaptureOutcome | None = None
        self._final: ProgressEvent | None = None
        self._cancelled = False
        kw = {}
        if sys.platform == "win32":
            kw["creationflags"] = subprocess.CREATE_NEW_PROCESS_GROUP  # type: ignore[attr-defined]
        else:
            kw["start_new_session"] = True
        try:
            self.proc = subprocess.Popen(
                self.argv,
                cwd=cwd,
                env=env,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                stdin=subprocess.DEVNULL,
                text=True,
                encoding="utf-8",
                errors="replace",
                bufsize=1,
                **kw,
            )
        except OSError as e:
            raise ValueError(
                f"cannot start the capture ({self.argv[0]}): {e.strerror or e}"
            ) from e
        self._t_out = threading.Thread(target=self._read_stdout, daemon=True)
        self._t_err = threading.Thread(target=self._read_stderr, daemon=True)
        self._t_out.start()
        self._t_err.start()

    def _read_stdout(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            if line.strip():
                self._events.put(parse_progress_line(line))

    def _read_stderr(self) -> None:
        assert self.proc.stderr is not None
        for line in self.proc.stderr:
            if line.strip():
                self._stderr.append(line.strip())

    def _drain(self) -> list[ProgressEvent]:
        out: list[ProgressEvent] = []
        while True:
            try:
                ev = self._events.get_nowait()
            except queue.Empty:
                return out
            out.append(ev)
            if ev.done or ev.error:
                self._final = ev
                if ev.done:
                    self.overall.finish()
            elif not ev.raw:
                self.last = ev
                self.overall.update(ev.stage, ev.progress)

    def poll(self) -> list[ProgressEvent]:
        """New events since the last call; sets ``outcome`` once the process has ended."""
        out = self._drain()
        if self.outcome is None and self.proc.poll() is not None:
            self._t_out.join(timeout=2)
            self._t_err.join(timeout=2)
            out += self._drain()
            self.outcome = self._finish()
        return out

    def _finish(self) -> CaptureOutcome:
        rc = self.proc.returncode
        if self._cancelled:
            return CaptureOutcome("cancelled", None, "capture cancelled", rc)
        f = self._final
        if f is not None and f.error:
            return CaptureOutcome("error", None, f"capture failed: {f.error}", rc)
        if f is not None and f.done and rc == 0:
            path = Path(f.motion or "")
            if not path.is_file():
                return CaptureOutcome(
                    "error", None, f"capture named {path} but it does not exist", rc
                )
            return CaptureOutcome("done", path, f"captured {path.name}", rc)
        tail = self._stderr[-1] if self._stderr else "no error message"
        return CaptureOutcome("error", None, f"capture exited with code {rc}: {tail}", rc)

    def cancel(self, grace_s: float = 5.0) -> None:
        """Stop the subprocess (and its children); poll() then reports 'cancelled'.

        SIGTERM first: the core's capture then removes its staging folder and leaves the user's
        earlier result as it was (``core.transaction``). Only a process still running after
        ``grace_s`` seconds is killed outright."""
        self._cancelled = True
        if self.proc.poll() is not None:
            return
        try:
            if sys.platform == "win32":
                self.proc.terminate()
            else:
                os.killpg(self.proc.pid, signal.SIGTERM)
        except ProcessLookupError:
            return
        try:
            self.proc.wait(timeout=grace_s)
            return
        except subprocess.TimeoutExpired:
            pass
        try:
            if sys.platform == "win32":
                self.proc.kill()
            else:
                os.killpg(self.proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        self.proc.wait(timeout=10)

    def run_sync(self, on_event=None, timeout_s: float | None = None) -> CaptureOutcome:
        """Block until the process ends, calling ``on_event(ev)`` for each event."""
        t0 = time.monotonic()
        while self.outcome is None:
            for ev in self.poll():
                if on_event is not None:
                    on_event(ev)
            if timeout_s is not None and time.monotonic() - t0 > timeout_s:
                self.cancel()
                self.poll()
                return CaptureOutcome(
                    "error", None, f"capture timed out after {timeout_s:g} s", None
                )
            time.sleep(0.02)
        return self.outcome


def people_preview_command(python: str | Path, video: str | Path, time_s: float, out_png) -> list:
    """The core's ``people`` command: the frame at ``time_s`` with every person its detector
    accepts boxed and numbered from the left (the index the Person setting takes), written to
    ``out_png``; it prints one JSON line with the boxes. The add-on imports no core code."""
    return [
        str(python), "-m", "core", "people", str(video),
        "--time", f"{max(0.0, time_s):g}", "-o", str(out_png),
    ]  # fmt: skip


def parse_people_preview(stdout: str, stderr: str = "") -> list[tuple[float, float, float, float]]:
    """The boxes (x0, y0, x1, y1 pixels, left to right) from the ``people`` command's JSON line;
    ValueError with the core's one-line ``error:`` message when it failed."""
    for line in reversed(stdout.strip().splitlines()):
        ev = None
        try:
            ev = json.loads(line)
        except json.JSONDecodeError:
            continue
        if isinstance(ev, dict) and "error" in ev:
            raise ValueError(str(ev["error"]))
        if isinstance(ev, dict) and "people" in ev:
            return [tuple(b) for b in ev["people"]]
    for line in reversed(stderr.strip().splitlines()):
        if line.startswith("error:"):
            raise ValueError(line[len("error:") :].strip())
    raise ValueError("the people preview printed no result")
