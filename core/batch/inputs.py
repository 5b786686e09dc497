"""What a batch captures: clips from files, folders and CSV/JSON manifests, each with its capture
options and a unique folder name, all checked before anything starts.

A manifest lists one clip per row (CSV with a header line) or per object (JSON: a list, or
``{"clips": [...]}``). Columns / keys:

    video            the clip (relative paths are relative to the manifest's folder); required
    name             the clip's folder under OUT and its files' name (default: the video's stem)
    person, height, mass, start, end, focal, fov, fps, treadmill_speed
                     as the ``capture`` options of the same name; empty = the batch-wide value

Anything else is an error naming the column, so a typo never silently drops an option.
"""

from __future__ import annotations

import csv
import hashlib
import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

__all__ = [
    "Clip",
    "VIDEO_SUFFIXES",
    "MANIFEST_COLUMNS",
    "collect_clips",
    "capture_options",
    "options_key",
]

VIDEO_SUFFIXES = (
    ".mp4", ".m4v", ".mov", ".avi", ".mkv", ".webm", ".mpg", ".mpeg", ".wmv", ".flv", ".mts",
    ".m2ts", ".3gp", ".ogv",
)  # fmt: skip
MANIFEST_SUFFIXES = (".csv", ".json")
RESERVED_NAMES = ("batch_summary.json",)

# manifest column -> CaptureOptions field
MANIFEST_COLUMNS = {
    "name": "name",
    "person": "person",
    "height": "height_m",
    "mass": "mass_kg",
    "start": "start_s",
    "end": "end_s",
    "focal": "focal_px",
    "fov": "fov_deg",
    "fps": "fps",
    "treadmill_speed": "treadmill_speed_mps",
}
_NUMERIC = ("height", "mass", "start", "end", "focal", "fov", "fps", "treadmill_speed")


@dataclass(frozen=True)
class Clip:
    """One clip of a batch: where it comes from, its folder name under OUT and its options
    (``CaptureOptions`` field names, JSON values, without ``output``)."""

    name: str
    video: Path  # absolute
    options: dict[str, Any] = field(default_factory=dict)
    origin: str = ""  # "argument", "folder X", "X.csv line 3": for messages


def capture_options(options: dict[str, Any], output: Path):
    """The ``CaptureOptions`` a clip's options stand for."""
    from core.capture import CaptureOptions

    return CaptureOptions(output=Path(output), **options)


def options_key(clip: Clip) -> str:
    """Fingerprint of what a clip's result depends on: the input file (path, size, modification
    time) and every capture option. A clip whose key changed is captured again by --resume."""
    st = clip.video.stat()
    data = {
        "video": str(clip.video),
        "size": st.st_size,
        "mtime_ns": st.st_mtime_ns,
        "options": clip.options,
    }
    text = json.dumps(data, sort_keys=True, ensure_ascii=True)
    return hashlib.sha256(text.encode()).hexdigest()[:20]


def _check_number(col: str, value: float, where: str) -> None:
    from core.cli import _NUMBERS

    lo, hi, unit, hint = _NUMBERS[col]
    if not (math.isfinite(value) and lo <= value <= hi):
        raise ValueError(
            f"{where}: {col} must lie in {lo:g}..{hi:g} {unit}, got {value:g}"
            + (f" ({hint})" if hint else "")
        )


def _row_options(row: dict[str, Any], where: str) -> dict[str, Any]:
    """A manifest row's options (CaptureOptions names), checked; empty cells are left out."""
    from core.detect import _check_selector
    from core.options import safe_name

    opts: dict[str, Any] = {}
    for col, raw in row.items():
        if col == "video" or raw is None or (isinstance(raw, str) and not raw.strip()):
            continue
        if col in _NUMERIC:
            if isinstance(raw, bool):
                raise ValueError(f"{where}: {col} must be a number, got {raw!r}")
            try:
                v = float(raw)
            except (TypeError, ValueError):
                raise ValueError(f"{where}: {col} must be a number, got {raw!r}") from None
            _check_number(col, v, where)
            opts[MANIFEST_COLUMNS[col]] = v
        elif col == "person":
            try:
                _check_selector(str(raw).strip())
            except ValueError as e:
                raise ValueError(f"{where}: {e}") from None
            opts["person"] = str(raw).strip()
        elif col == "name":
            try:
                opts["name"] = safe_name(str(raw))
            except Exception as e:  # argparse.ArgumentTypeError
                raise ValueError(f"{where}: name {e}") from None
    return opts


def _check_columns(cols: list[str], where: str) -> None:
    allowed = ("video", *MANIFEST_COLUMNS)
    unknown = [c for c in cols if c not in allowed]
    if unknown:
        raise ValueError(
            f"{where}: unknown column{'s' if len(unknown) > 1 else ''} "
            f"{', '.join(repr(c) for c in unknown)}; a manifest may have {', '.join(allowed)}"
        )
    if "video" not in cols:
        raise ValueError(f"{where}: no 'video' column; each row names its clip in 'video'")


def _read_manifest(path: Path) -> list[tuple[dict[str, Any], str]]:
    """(row, where) for each clip of a CSV or JSON manifest."""
    try:
        text = path.read_text(encoding="utf-8-sig")
    except UnicodeDecodeError:
        raise ValueError(f"{path}: not a UTF-8 text manifest (CSV or JSON)") from None
    rows: list[tuple[dict[str, Any], str]] = []
    if path.suffix.lower() == ".json":
        try:
            data = json.loads(text)
        except json.JSONDecodeError as e:
            raise ValueError(f"{path}: not valid JSON ({e.msg}, line {e.lineno})") from None
        if isinstance(data, dict) and set(data) == {"clips"}:
            data = data["clips"]
        if not isinstance(data, list) or not all(isinstance(r, dict) for r in data):
            raise ValueError(
                f"{path}: expected a list of clips (objects with 'video', 'name', 'height', ...) "
                'or {"clips": [...]}'
            )
        for i, r in enumerate(data):
            where = f"{path} clip {i + 1}"
            _check_columns(list(r), where)
            rows.append((r, where))
    else:
        # blank lines and '#' comments are skipped; messages give the file's own line numbers
        numbered = [
            (i + 1, ln)
            for i, ln in enumerate(text.splitlines())
            if ln.strip() and not ln.lstrip().startswith("#")
        ]
        reader = csv.DictReader([ln for _, ln in numbered])
        cols = [c.strip() for c in (reader.fieldnames or [])]
        if not cols:
            raise ValueError(f"{path}: empty manifest; the first line names the columns")
        _check_columns(cols, f"{path} line {numbered[0][0]}")
        for i, r in enumerate(reader):
            where = f"{path} line {numbered[min(i + 1, len(numbered) - 1)][0]}"
            if None in r:
                raise ValueError(f"{where}: more cells than columns")
            rows.append(({k.strip(): v for k, v in r.items()}, where))
    if not rows:
        raise ValueError(f"{path}: the manifest lists no clips")
    return rows


def _resolve(video: Any, base: Path, where: str) -> Path:
    if not isinstance(video, str) or not video.strip():
        raise ValueError(f"{where}: 'video' is empty; give the clip's file")
    p = Path(video.strip()).expanduser()
    if not p.is_absolute():
        p = base / p
    if not p.is_file():
        raise FileNotFoundError(f"{where}: video not found: {p}")
    return p.resolve()


def collect_clips(inputs: list[Path], defaults: dict[str, Any]) -> list[Clip]:
    """Every clip named by ``inputs`` (files, folders of videos, CSV/JSON manifests) with the
    batch-wide ``defaults`` (CaptureOptions names) under each manifest row's own options, and a
    unique folder name each. Raises ValueError / FileNotFoundError naming the bad input."""
    from core.options import stem_name

    found: list[tuple[Path, dict[str, Any], str]] = []
    for item in inputs:
        item = Path(item).expanduser()
        if item.is_dir():
            vids = sorted(
                p for p in item.iterdir() if p.is_file() and p.suffix.lower() in VIDEO_SUFFIXES
            )
            if not vids:
                raise ValueError(
                    f"{item}: no videos in this folder (looked for {', '.join(VIDEO_SUFFIXES)})"
                )
            found += [(p.resolve(), {}, f"folder {item}") for p in vids]
        elif item.is_file() and item.suffix.lower() in MANIFEST_SUFFIXES:
            base = item.resolve().parent
            for row, where in _read_manifest(item):
                video = _resolve(row.get("video"), base, where)
                found.append((video, _row_options(row, where), where))
        elif item.is_file():
            found.append((item.resolve(), {}, "argument"))
        else:
            raise FileNotFoundError(f"input not found: {item}")
    if not found:
        raise ValueError("no clips to capture; give videos, folders of videos or a manifest")
    clips: list[Clip] = []
    taken: set[str] = {n.casefold() for n in RESERVED_NAMES}
    for video, row, where in found:
        opts = dict(defaults)
        if "focal_px" in row or "fov_deg" in row:  # the row's own lens replaces the batch's
            opts.pop("focal_px", None)
            opts.pop("fov_deg", None)
        opts.update(row)
        if opts.get("focal_px") is not None and opts.get("fov_deg") is not None:
            raise ValueError(f"{where}: give either focal or fov, not both")
        s, e = opts.get("start_s"), opts.get("end_s")
        if s is not None and e is not None and e <= s:
            raise ValueError(f"{where}: the end ({e:g} s) must come after the start ({s:g} s)")
        base = opts.get("name") or stem_name(video.stem)
        name, k = base, 1
        while name.casefold() in taken:
            k += 1
            name = f"{base}-{k}"
        taken.add(name.casefold())
        clips.append(Clip(name=name, video=video, options=opts, origin=where))
    return clips
