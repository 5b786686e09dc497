"""Writers for estimated ground reactions: OpenSim .mot, ExternalLoads .xml, plots."""

from __future__ import annotations

import os
import tempfile
import textwrap
from pathlib import Path

import numpy as np

from biomech_export._opensim import c_numeric_locale, require_opensim
from biomech_export.dynamics.split import FootLoads
from biomech_export.mot import MotTable, read_mot, write_mot
from core.options import component_name

__all__ = [
    "GRF_COLUMNS",
    "MOMENT_COORDS",
    "loads_table",
    "write_grf_mot",
    "write_external_loads_xml",
    "plot_grf",
    "plot_moments",
]


def _columns(side: str) -> list[str]:
    return (
        [f"ground_force_{side}_v{a}" for a in "xyz"]
        + [f"ground_force_{side}_p{a}" for a in "xyz"]
        + [f"ground_torque_{side}_{a}" for a in "xyz"]
    )


GRF_COLUMNS = tuple(_columns("r") + _columns("l"))  # Rajagopal / OpenCap names


def loads_table(loads: FootLoads, name: str) -> MotTable:
    data = np.concatenate(
        [
            np.concatenate([loads.force_n[s], loads.cop_m[s], loads.torque_nm[s]], axis=1)
            for s in "rl"
        ],
        axis=1,
    )
    return MotTable(loads.time_s, GRF_COLUMNS, data, False, name)


def write_grf_mot(path: Path, loads: FootLoads, name: str) -> Path:
    return write_mot(path, loads_table(loads, name))


def write_external_loads_xml(path: Path, grf_mot: Path) -> Path:
    """ExternalLoads for OpenSim's ID tool: one force per foot on calcn_r/calcn_l, force and
    point in ground, data from ``grf_mot`` (relative path)."""
    osim = require_opensim()
    path = Path(path)
    loads = osim.ExternalLoads()
    loads.setName(component_name(path.stem))  # OpenSim refuses spaces and accents
    for side in "rl":
        ef = osim.ExternalForce()
        ef.setName(f"{'right' if side == 'r' else 'left'}_foot_grf")
        ef.set_applied_to_body(f"calcn_{side}")
        ef.set_force_expressed_in_body("ground")
        ef.set_point_expressed_in_body("ground")
        ef.set_force_identifier(f"ground_force_{side}_v")
        ef.set_point_identifier(f"ground_force_{side}_p")
        ef.set_torque_identifier(f"ground_torque_{side}_")
        loads.cloneAndAppend(ef)
    loads.setDataFileName(os.path.relpath(Path(grf_mot).resolve(), path.parent.resolve()))
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    try:
        with c_numeric_locale():
            loads.printToXML(tmp)
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def _save_png(fig, path: Path) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".png", dir=path.parent)
    os.close(fd)
    try:
        fig.savefig(tmp, dpi=110)
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


TITLE_CHARS = 95  # a plot title's line length: a 9-inch figure shows about this many at 10 pt


def plot_grf(
    path: Path,
    loads: FootLoads,
    weight_n: float,
    title: str,
    measured: FootLoads | None = None,
) -> Path:
    """Vertical, anterior-posterior (X) and medio-lateral (Z) force per foot in % body weight;
    ``measured`` (force plates) drawn dashed when given."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(3, 1, figsize=(9, 8), sharex=True)
    for ax, (k, lab) in zip(
        axes,
        ((1, "vertical"), (0, "anterior-posterior (X)"), (2, "medio-lateral (Z)")),
        strict=True,
    ):
        for s, col in (("r", "tab:red"), ("l", "tab:blue")):
            ax.plot(
                loads.time_s,
                100 * loads.force_n[s][:, k] / weight_n,
                color=col,
                label=f"{s} estimated",
            )
            if measured is not None:
                ax.plot(
                    measured.time_s,
                    100 * measured.force_n[s][:, k] / weight_n,
                    "--",
                    color=col,
                    alpha=0.7,
                    label=f"{s} measured",
                )
        ax.set_ylabel(f"{lab}\n% body weight")
        ax.grid(alpha=0.3)
    axes[0].legend(ncol=4, fontsize=8)
    axes[0].set_title(textwrap.fill(title, TITLE_CHARS), fontsize=10)
    axes[-1].set_xlabel("time (s)")
    fig.tight_layout()
    out = _save_png(fig, path)
    plt.close(fig)
    return out


MOMENT_COORDS = ("hip_flexion", "knee_angle", "ankle_angle")


def plot_moments(path: Path, sto: Path, mass_kg: float, title: str) -> Path:
    """Hip, knee and ankle flexion moments (N m/kg) of an ID result, both sides."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    t = read_mot(sto)
    fig, axes = plt.subplots(len(MOMENT_COORDS), 1, figsize=(9, 8), sharex=True)
    for ax, c in zip(axes, MOMENT_COORDS, strict=True):
        for s, col in (("r", "tab:red"), ("l", "tab:blue")):
            lab = f"{c}_{s}_moment"
            if lab in t.labels:
                ax.plot(t.time_s, t.column(lab) / mass_kg, color=col, label=s)
        ax.set_ylabel(f"{c}\nN m/kg")
        ax.grid(alpha=0.3)
    axes[0].legend()
    axes[0].set_title(textwrap.fill(title, TITLE_CHARS), fontsize=10)
    axes[-1].set_xlabel("time (s)")
    fig.tight_layout()
    out = _save_png(fig, path)
    plt.close(fig)
    return out
