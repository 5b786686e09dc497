"""OpenSim ``.mot`` / ``.sto`` tables in plain numpy: a writer and a tolerant reader.

Header: a name line, ``version=1``, ``nRows``, ``nColumns``, ``inDegrees=yes|no``,
``endheader``; then a tab-separated label row starting with ``time`` and the data. Numbers are
written with Python's formatting, so the decimal point is '.' whatever the locale.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from core import skeleton as sk
from core.motion import Motion, atomic_write

__all__ = [
    "MotTable",
    "write_mot",
    "read_mot",
    "motion_to_table",
    "table_to_q_root",
    "check_columns",
    "check_angle_units",
]

log = logging.getLogger(__name__)


@dataclass
class MotTable:
    time_s: np.ndarray  # (T,)
    labels: tuple[str, ...]  # column labels without "time"
    data: np.ndarray  # (T, C) as stored in the file (degrees where in_degrees, metres)
    in_degrees: bool | None  # None: the header does not say
    name: str = "biomocap"
    header: dict[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.time_s = np.asarray(self.time_s, dtype=np.float64).reshape(-1)
        self.data = np.asarray(self.data, dtype=np.float64)
        if self.data.ndim != 2 or self.data.shape != (len(self.time_s), len(self.labels)):
            raise ValueError(
                f"expected data of shape ({len(self.time_s)}, {len(self.labels)}), "
                f"got {self.data.shape}"
            )

    def column(self, label: str) -> np.ndarray:
        try:
            return self.data[:, self.labels.index(label)]
        except ValueError:
            raise KeyError(
                f"column {label!r} not in table (has {list(self.labels[:6])}...)"
            ) from None


def _fmt(v: float) -> str:
    return (
        "nan" if not np.isfinite(v) else repr(float(v)) if abs(v) < 1e-4 and v != 0 else f"{v:.8f}"
    )


def write_mot(path: str | Path, table: MotTable) -> Path:
    """Write an OpenSim storage file (.mot or .sto) atomically."""
    path = Path(path)
    if any("\t" in lab or not lab for lab in table.labels):
        raise ValueError("column labels must be non-empty and contain no tabs")
    n_rows, n_cols = table.data.shape

    def write(f) -> None:
        f.write(f"{table.name}\nversion=1\nnRows={n_rows}\nnColumns={n_cols + 1}\n")
        if table.in_degrees is not None:
            f.write(f"inDegrees={'yes' if table.in_degrees else 'no'}\n")
        for k, v in table.header.items():
            if k not in ("version", "nRows", "nColumns", "inDegrees"):
                f.write(f"{k}={v}\n")
        f.write("endheader\n")
        f.write("time\t" + "\t".join(table.labels) + "\n")
        for t, row in zip(table.time_s, table.data, strict=True):
            f.write(f"{t:.8f}\t" + "\t".join(_fmt(v) for v in row) + "\n")

    atomic_write(path, write)
    return path


def read_mot(path: str | Path) -> MotTable:
    """Read a .mot/.sto file; tolerant of spaces instead of tabs and of missing header keys."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"storage file not found: {path}")
    lines = path.read_text(encoding="utf-8-sig", errors="replace").splitlines()
    try:
        end = next(i for i, ln in enumerate(lines) if ln.strip().lower() == "endheader")
    except StopIteration:
        raise ValueError(
            f"{path} has no 'endheader' line: not an OpenSim .mot/.sto file"
        ) from None
    header: dict[str, str] = {}
    name = lines[0].strip() if end > 0 and "=" not in lines[0] else path.stem
    for ln in lines[:end]:
        if "=" in ln:
            k, v = ln.split("=", 1)
            header[k.strip()] = v.strip()
    label_line = next((i for i in range(end + 1, len(lines)) if lines[i].strip()), None)
    if label_line is None:
        raise ValueError(f"{path} has no column labels after 'endheader'")
    sep = "\t" if "\t" in lines[label_line] else None
    labels = [c.strip() for c in lines[label_line].split(sep) if c.strip()]
    if not labels or labels[0].lower() != "time":
        raise ValueError(f"{path}: first column must be 'time', got {labels[:1]}")
    rows = []
    for line_no, ln in enumerate(lines[label_line + 1 :], start=label_line + 2):
        if not ln.strip():
            continue
        cells = ln.split()
        if len(cells) != len(labels):
            raise ValueError(
                f"{path}, line {line_no}: {len(cells)} values for {len(labels)} columns; "
                "fix or delete the row"
            )
        row = []
        for lab, c in zip(labels, cells, strict=True):
            try:
                row.append(float(c))
            except ValueError:
                raise ValueError(
                    f"{path}, line {line_no}, column {lab!r}: {c[:20]!r} is not a number"
                ) from None
        if rows and not row[0] > rows[-1][0]:
            raise ValueError(
                f"{path}, line {line_no}: time {row[0]:g} does not come after {rows[-1][0]:g}; "
                "the rows must be in time order"
            )
        rows.append(row)
    if not rows:
        raise ValueError(f"{path} has column labels but no data rows")
    data = np.array(rows, dtype=np.float64).reshape(-1, len(labels))
    if not np.all(np.isfinite(data[:, 0])):
        raise ValueError(f"{path}: the time column has NaN/inf values")
    deg = header.get("inDegrees", "").lower()
    in_degrees = True if deg == "yes" else False if deg == "no" else None
    return MotTable(data[:, 0], tuple(labels[1:]), data[:, 1:], in_degrees, name, header)


def motion_to_table(motion: Motion, *, degrees: bool = True, name: str | None = None) -> MotTable:
    """BSM-46 coordinates (+ pelvis_tx/ty/tz in metres) of a motion as an OpenSim table."""
    q = np.rad2deg(motion.q_rad) if degrees else motion.q_rad
    data = np.concatenate([q, motion.root_m], axis=1)
    labels = tuple(sk.DOF_NAMES) + sk.ROOT_TRANSLATION_NAMES
    return MotTable(motion.times_s, labels, data, degrees, name or "biomocap_coordinates")


def table_to_q_root(
    table: MotTable, *, assume_degrees: bool | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """(T, 46) radians and (T, 3) metres from a table holding all BSM-46 coordinate columns.

    Units come from the header's ``inDegrees``; without one, ``assume_degrees`` decides, and if
    that is None too, angles beyond 2*pi anywhere mean degrees (logged)."""
    missing = [n for n in sk.DOF_NAMES + sk.ROOT_TRANSLATION_NAMES if n not in table.labels]
    if missing:
        raise ValueError(
            f"table lacks BSM-46 coordinate column(s) {missing[:5]} ({len(missing)} missing)"
        )
    q = np.stack([table.column(n) for n in sk.DOF_NAMES], axis=1)
    root = np.stack([table.column(n) for n in sk.ROOT_TRANSLATION_NAMES], axis=1)
    degrees = table.in_degrees if table.in_degrees is not None else assume_degrees
    if degrees is None:
        degrees = bool(np.nanmax(np.abs(q)) > 2 * np.pi)
        log.warning(
            "no inDegrees in header: taking angles as %s", "degrees" if degrees else "radians"
        )
    return (np.deg2rad(q) if degrees else q), root


def check_columns(
    table: MotTable,
    known: list[str] | tuple[str, ...],
    path: str | Path,
    *,
    allow_partial: bool = False,
    required: list[str] | tuple[str, ...] | None = None,
    what: str = "coordinate",
) -> tuple[list[str], list[str]]:
    """Check the columns of ``table`` against the ``known`` coordinate names.

    Errors (listing the names) unless ``allow_partial``: a column whose name is a near miss of a
    known coordinate the file lacks (a misspelling: ``knee_angel_r``), and ``required`` names
    the file lacks. A table without any known column is an error always. Other columns (forces,
    marker positions ``NAME_tx``) are ignored with a log line. Returns (unknown, missing)."""
    import difflib

    known_set = set(known)
    twice = sorted({n for n in table.labels if n in known_set and table.labels.count(n) > 1})
    if twice:  # (other columns may repeat: two force plates' ground_force_vx...)
        raise ValueError(f"{path}: coordinate column(s) named twice: {_some(twice)}; rename one")
    unknown = [n for n in table.labels if n not in known_set]
    missing = [n for n in (required or ()) if n not in table.labels]
    if not any(n in known_set for n in table.labels):
        raise ValueError(
            f"{path}: none of its {len(table.labels)} columns is a known {what} "
            f"(has {_some(list(table.labels), 4)}; expected e.g. {_some(list(known), 3)})"
        )
    absent = [n for n in known if n not in set(table.labels)]
    near = {}
    for n in unknown:
        m = difflib.get_close_matches(n, absent, n=1, cutoff=0.8)
        if m:
            near[n] = m[0]
    if (near or missing) and not allow_partial:
        parts = []
        if near:
            pairs = [f"{u} (did you mean {k}?)" for u, k in near.items()]
            parts.append(f"unknown {what}(s) {_some(pairs)}")
        if missing:
            parts.append(f"{len(missing)} missing {what}(s) {_some(missing)}")
        raise ValueError(
            f"{path}: {' and '.join(parts)}; fix the names, or pass --allow-partial to ignore "
            f"unknown columns and set missing {what}s to 0"
        )
    if unknown or missing:
        log.warning(
            "%s: ignoring %d column(s) that are no %s (%s); %d %s(s) missing (set to 0)",
            path,
            len(unknown),
            what,
            _some(unknown, 3),
            len(missing),
            what,
        )
    return unknown, missing


def _some(names: list[str], k: int = 6) -> str:
    return ", ".join(names[:k]) + (f" (+{len(names) - k} more)" if len(names) > k else "")


def check_angle_units(table: MotTable, rotational: list[str], path: str | Path) -> bool | None:
    """Whether the angles are in degrees, checked against the header's ``inDegrees``.

    Raises ValueError when the header contradicts the values: angles over 2 pi labelled radians
    (they must be degrees), or with ``inDegrees=yes`` every one of at least 3 moving angles
    within +-pi "degrees" (a motion that small is radians mislabelled). Without ``inDegrees``
    returns None and leaves the guess to the caller."""
    cols = [n for n in rotational if n in table.labels]
    if not cols:
        return table.in_degrees
    vals = np.stack([table.column(n) for n in cols], axis=1)
    finite = vals[np.isfinite(vals)]
    if finite.size == 0:
        return table.in_degrees
    biggest = float(np.max(np.abs(finite)))
    if table.in_degrees is False and biggest > 2 * np.pi:
        raise ValueError(
            f"{path}: inDegrees=no but an angle is {biggest:.1f}: the values look like degrees; "
            "fix the header (inDegrees=yes)"
        )
    moving = int((np.ptp(np.nan_to_num(vals), axis=0) > 1e-6).sum())
    if table.in_degrees is True and len(cols) >= 3 and moving >= 3 and biggest < np.pi:
        raise ValueError(
            f"{path}: inDegrees=yes but no angle exceeds {biggest:.3f} degrees: the values look "
            "like radians; fix the header (inDegrees=no)"
        )
    return table.in_degrees
