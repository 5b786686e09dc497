"""``.trc`` marker files in plain numpy: a writer and a tolerant reader.

The reader accepts the variants found in real data: header values separated by several tabs
(OpenSim's Rajagopal walk trial), spaces in the first line, trailing tabs, padding columns (the
``X1 Y1 Z1`` row says where each marker's numbers are), empty cells for missing markers (read as
NaN, never 0) and units in mm, cm or m (converted to metres). Anything else is an error naming
the file and line.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from core.motion import atomic_write

__all__ = ["TrcData", "write_trc", "read_trc"]

log = logging.getLogger(__name__)

_UNITS_TO_M = {"m": 1.0, "mm": 1e-3, "cm": 1e-2}
_KEYS = (
    "DataRate",
    "CameraRate",
    "NumFrames",
    "NumMarkers",
    "Units",
    "OrigDataRate",
    "OrigDataStartFrame",
    "OrigNumFrames",
)


@dataclass
class TrcData:
    rate_hz: float
    time_s: np.ndarray  # (T,)
    marker_names: tuple[str, ...]
    markers_m: np.ndarray  # (T, M, 3) metres, NaN = missing
    frame_numbers: np.ndarray | None = None  # (T,) as in the file


def write_trc(path: str | Path, data: TrcData, *, units: str = "mm") -> Path:
    """Write ``data`` as a .trc file, atomically. Missing markers are written as NaN, which
    OpenSim reads as missing (empty cells at the end of a row make its reader miscount columns)."""
    path = Path(path)
    if units not in _UNITS_TO_M:
        raise ValueError(f"units must be one of {sorted(_UNITS_TO_M)}, got {units!r}")
    xyz = np.asarray(data.markers_m, dtype=np.float64) / _UNITS_TO_M[units]
    t, m = len(data.time_s), len(data.marker_names)
    if xyz.shape != (t, m, 3):
        raise ValueError(f"expected markers of shape ({t}, {m}, 3), got {xyz.shape}")
    if any(not n or "\t" in n for n in data.marker_names):
        raise ValueError("marker names must be non-empty and contain no tabs")
    frames = data.frame_numbers if data.frame_numbers is not None else np.arange(1, t + 1)

    def write(f) -> None:
        f.write(f"PathFileType\t4\t(X/Y/Z)\t{path.name}\n")
        f.write("\t".join(_KEYS) + "\n")
        r = f"{data.rate_hz:g}"
        f.write(f"{r}\t{r}\t{t}\t{m}\t{units}\t{r}\t{int(frames[0]) if t else 1}\t{t}\n")
        f.write(
            "Frame#\tTime\t" + "".join(f"{n}\t\t\t" for n in data.marker_names).rstrip("\t") + "\n"
        )
        f.write("\t\t" + "\t".join(f"X{k}\tY{k}\tZ{k}" for k in range(1, m + 1)) + "\n\n")
        for i in range(t):
            cells = ["NaN" if not np.isfinite(v) else f"{v:.6f}" for v in xyz[i].reshape(-1)]
            f.write(f"{int(frames[i])}\t{data.time_s[i]:.6f}\t" + "\t".join(cells) + "\n")

    atomic_write(path, write)
    return path


def _header(path: Path, lines: list[str]) -> tuple[dict[str, str], float, int, str]:
    if len(lines) < 5 or not lines[0].lstrip().startswith("PathFileType"):
        raise ValueError(f"{path} is not a .trc file (no 'PathFileType' first line)")
    keys = lines[1].split()
    values = lines[2].split()
    if "Units" not in keys or "DataRate" not in keys or len(values) < len(keys):
        raise ValueError(
            f"{path}: malformed .trc header on lines 2-3 (expected DataRate ... Units ... and "
            f"one value under each key; got {len(keys)} keys, {len(values)} values)"
        )
    head = dict(zip(keys, values, strict=False))
    units = head["Units"].strip().lower()
    if units not in _UNITS_TO_M:
        raise ValueError(f"{path}: unknown units {head['Units']!r} (expected mm, cm or m)")
    try:
        rate = float(head["DataRate"])
    except ValueError:
        rate = math.nan
    if not (math.isfinite(rate) and rate > 0):
        raise ValueError(
            f"{path}: DataRate {head['DataRate']!r} on line 3 is not a positive frame rate (Hz)"
        )
    try:
        n_markers = int(float(head.get("NumMarkers", "-1")))
    except ValueError:
        raise ValueError(f"{path}: NumMarkers {head['NumMarkers']!r} is not a number") from None
    return head, rate, n_markers, units


def _columns(path: Path, xyz_row: str, n_markers: int) -> list[int]:
    """Column of each marker's X, Y, Z (3 per marker) from the ``X1 Y1 Z1 ...`` row; the
    standard layout (2 + 3 k) where that row is absent or does not name every coordinate."""
    cells = [c.strip() for c in xyz_row.rstrip("\r\n").split("\t")]
    pos = {c: k for k, c in enumerate(cells) if c}
    cols = []
    for i in range(1, n_markers + 1):
        trio = [pos.get(f"{a}{i}") for a in "XYZ"]
        if None in trio:
            return [2 + k for k in range(3 * n_markers)]
        cols.extend(trio)
    return cols


def _number(path: Path, line_no: int, cell: str, what: str) -> float:
    c = cell.strip()
    if not c:
        return math.nan
    try:
        return float(c)
    except ValueError:
        raise ValueError(
            f"{path}, line {line_no}: {what} is {c[:20]!r}, not a number; fix or delete the row"
        ) from None


def read_trc(path: str | Path) -> TrcData:
    """Read a .trc file to metres; missing markers (empty cells, NaN) stay NaN, never zeros.

    Raises ValueError naming the file and line for a malformed header, a row whose cells do not
    match the header's markers, a cell that is not a number, time that does not increase, or a
    file without data rows."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"marker file not found: {path}")
    lines = path.read_text(encoding="utf-8-sig", errors="replace").splitlines()
    head, rate, n_markers, units = _header(path, lines)
    names_cells = lines[3].rstrip("\r\n").split("\t")
    names = tuple(c.strip() for c in names_cells[2:] if c.strip())
    if n_markers < 0:
        n_markers = len(names)
    if n_markers < 1 or len(names) < n_markers:
        raise ValueError(
            f"{path}: header says {n_markers} markers, the label row (line 4) names {len(names)}"
        )
    names = names[:n_markers]
    cols = _columns(path, lines[4], n_markers)
    first, last = min(cols), max(cols)
    frames, times, rows = [], [], []
    for line_no, ln in enumerate(lines[5:], start=6):
        if not ln.strip():
            continue
        cells = ln.rstrip("\r\n").split("\t") if "\t" in ln else ln.split()
        filled = [k for k, c in enumerate(cells) if c.strip()]
        if filled and filled[-1] > last:
            raise ValueError(
                f"{path}, line {line_no}: {len(cells)} cells but the header names {n_markers} "
                f"markers ({last + 1} columns): a ragged row; fix or delete it"
            )
        if len(cells) <= last and (last + 1 - max(len(cells), first)) % 3:
            raise ValueError(
                f"{path}, line {line_no}: the row ends inside a marker ({len(cells)} of "
                f"{last + 1} columns): a cut-off row; fix or delete it"
            )
        cells = cells + [""] * (last + 1 - len(cells))
        frame = _number(path, line_no, cells[0], "the frame number")
        t = _number(path, line_no, cells[1], "the time")
        if not (math.isfinite(frame) and math.isfinite(t)):
            raise ValueError(f"{path}, line {line_no}: frame number and time are required")
        if times and t <= times[-1]:
            raise ValueError(
                f"{path}, line {line_no}: time {t:g} s does not come after {times[-1]:g} s; "
                "the rows must be in time order"
            )
        vals = []
        for j, col in enumerate(cols):
            axis = "XYZ"[j % 3]
            vals.append(_number(path, line_no, cells[col], f"{names[j // 3]} {axis}"))
        frames.append(int(frame))
        times.append(t)
        rows.append(vals)
    if not rows:
        raise ValueError(f"{path} has a header but no data rows")
    n_frames = head.get("NumFrames")
    if n_frames is not None and n_frames.strip().isdigit() and int(n_frames) != len(rows):
        log.warning("%s: header says %s frames, the file has %d rows", path, n_frames, len(rows))
    xyz = np.array(rows, dtype=np.float64).reshape(len(rows), n_markers, 3) * _UNITS_TO_M[units]
    return TrcData(rate, np.array(times), names, xyz, np.array(frames))
