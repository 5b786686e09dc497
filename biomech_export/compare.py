"""Compare generalized forces (or coordinates) of two OpenSim tables: RMS, correlation, plot."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from biomech_export.mot import MotTable

__all__ = ["ColumnComparison", "compare_columns", "plot_comparison"]


@dataclass
class ColumnComparison:
    ours: str
    reference: str
    sign: float  # applied to ours before comparing
    rms: float  # in the table's unit (N m for moments)
    correlation: float  # Pearson r
    reference_range: float  # peak-to-peak of the reference
    time_s: np.ndarray  # reference times inside both tables
    ours_values: np.ndarray  # ours (signed) interpolated to time_s
    reference_values: np.ndarray


def compare_columns(
    ours: MotTable, ref: MotTable, pairs: list[tuple[str, str, float]]
) -> list[ColumnComparison]:
    """pairs: (our column, reference column, sign applied to ours); ours is interpolated to the
    reference times they share."""
    lo, hi = max(ours.time_s[0], ref.time_s[0]), min(ours.time_s[-1], ref.time_s[-1])
    keep = (ref.time_s >= lo - 1e-9) & (ref.time_s <= hi + 1e-9)
    if keep.sum() < 3:
        raise ValueError(f"tables share too little time ({lo:.3f}..{hi:.3f} s)")
    t = ref.time_s[keep]
    out = []
    for a, b, sign in pairs:
        x = sign * np.interp(t, ours.time_s, ours.column(a))
        y = ref.column(b)[keep]
        rms = float(np.sqrt(np.mean((x - y) ** 2)))
        r = float(np.corrcoef(x, y)[0, 1])
        out.append(ColumnComparison(a, b, sign, rms, r, float(np.ptp(y)), t, x, y))
    return out


def plot_comparison(
    rows: list[ColumnComparison], path: str | Path, *, title: str = "", unit: str = "N m"
) -> Path:
    """One panel per compared column (needs matplotlib)."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError as e:
        raise ImportError("plots need matplotlib: pip install 'biomocap[core]'") from e
    path = Path(path)
    n = len(rows)
    cols = 3 if n >= 3 else n
    nrows = (n + cols - 1) // cols
    fig, axes = plt.subplots(nrows, cols, figsize=(4.2 * cols, 3.0 * nrows), squeeze=False)
    for ax, c in zip(axes.flat, rows, strict=False):
        ax.plot(c.time_s, c.reference_values, "k-", label="reference")
        ax.plot(c.time_s, c.ours_values, "r--", label="BSM-46")
        ax.set_title(f"{c.reference}\nRMS {c.rms:.1f} {unit}, r = {c.correlation:.2f}", fontsize=9)
        ax.set_xlabel("time (s)")
    for ax in list(axes.flat)[n:]:
        ax.axis("off")
    axes.flat[0].legend(fontsize=8)
    if title:
        fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.stem}.tmp.png")
    fig.savefig(tmp, dpi=110)
    plt.close(fig)
    tmp.replace(path)
    return path
