"""``.trc`` marker files in plain numpy: a writer and a tolerant reader.

The reader accepts the variants found in real data: header values separated by several tabs
(OpenSim's Rajagopal walk trial), spaces in the first line, trailing tabs, empty cells for
missing markers (read as NaN) and units in mm or m (converted to metres).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from core.motion import atomic_write

__all__ = ["TrcData", "write_trc", "read_trc"]

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


def read_trc(path: str | Path) -> TrcData:
    """Read a .trc file to metres; missing markers become NaN."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"marker file not found: {path}")
    lines = path.read_text(encoding="utf-8", errors="replace").splitlines()
    if len(lines) < 5 or not lines[0].startswith("PathFileType"):
        raise ValueError(f"{path} is not a .trc file (no 'PathFileType' first line)")
    keys = lines[1].split()
    values = lines[2].split()
    if len(values) < len(keys) or "Units" not in keys or "DataRate" not in keys:
        raise ValueError(f"{path}: malformed .trc header (keys {keys}, values {values})")
    head = dict(zip(keys, values, strict=False))
    units = head["Units"].strip().lower()
    if units not in _UNITS_TO_M:
        raise ValueError(f"{path}: unknown units {head['Units']!r} (expected mm, cm or m)")
    rate = float(head["DataRate"])
    names_cells = lines[3].rstrip("\r\n").split("\t")
    names = tuple(c.strip() for c in names_cells[2:] if c.strip())
    n_markers = int(float(head.get("NumMarkers", len(names))))
    if len(names) < n_markers:
        raise ValueError(f"{path}: header says {n_markers} markers, label row names {len(names)}")
    names = names[:n_markers]
    n_cols = 2 + 3 * n_markers
    frames, times, rows = [], [], []
    for ln in lines[5:]:
        if not ln.strip():
            continue
        cells = ln.rstrip("\r\n").split("\t") if "\t" in ln else ln.split()
        cells = (cells + [""] * n_cols)[:n_cols]
        frames.append(int(float(cells[0])))
        times.append(float(cells[1]))
        rows.append([float(c) if c.strip() else np.nan for c in cells[2:]])
    xyz = np.array(rows, dtype=np.float64).reshape(len(rows), n_markers, 3) * _UNITS_TO_M[units]
    return TrcData(rate, np.array(times), names, xyz, np.array(frames))
