"""GRF and joint moments from kinematics alone, against real force plates.

    .venv/bin/python benchmarks/grf_benchmark.py [--out DIR] [--skip-run]

1. gait2392 walk (OpenSim example, treadmill): the reference scaled model and IK
   (OutputReference/) -> estimated GRF vs the force plates (per foot vertical / AP / ML RMSE and
   MAE in % body weight, r; total vertical), and hip/knee/ankle flexion moments (N m/kg) from ID
   with the estimated GRF vs ID with the measured GRF. Cross-checked with
   ../shared/tools/grfcmp.py.
2. Rajagopal run (OpenSim example, treadmill): Rajagopal2016.osim scaled with this project's
   `biomech_export scale` and the example's Scale setup (OpenSim's ScaleTool through the API if
   that command is absent), IK with `biomech_export ik` on the run markers, then the same
   comparison.

Plots of estimated vs measured GRF go to DIR (default /tmp/biomocap_grf_benchmark).
Reads ../shared/data (BIOMOCAP_SHARED_DATA); nothing is written into the repository.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from biomech_export.dynamics import estimate_loads  # noqa: E402
from biomech_export.dynamics.outputs import plot_grf, write_grf_mot  # noqa: E402
from biomech_export.dynamics.split import FootLoads  # noqa: E402
from biomech_export.mot import read_mot  # noqa: E402

SHARED = Path(os.environ.get("BIOMOCAP_SHARED_DATA", REPO.parent / "shared" / "data"))
GRFCMP = SHARED.parent / "tools" / "grfcmp.py"
AXES = (("vertical", 1), ("AP", 0), ("ML", 2))


def measured_loads(grf_mot: Path, time_s: np.ndarray, prefixes: dict[str, str]) -> FootLoads:
    """Force-plate forces per foot, on the estimate's time samples.
    prefixes: side -> (force prefix, point prefix, torque prefix) stem, e.g. 'R_ground_'."""
    t = read_mot(grf_mot)

    outside = (time_s < t.time_s[0]) | (time_s > t.time_s[-1])

    def col(lab: str) -> np.ndarray:  # NaN where the plates did not record
        return np.where(outside, np.nan, np.interp(time_s, t.time_s, t.column(lab)))

    force, cop, torque = {}, {}, {}
    for s, (fp, pp, tp) in prefixes.items():
        force[s] = np.stack([col(f"{fp}{a}") for a in "xyz"], axis=1)
        cop[s] = np.stack([col(f"{pp}{a}") for a in "xyz"], axis=1)
        torque[s] = np.stack([col(f"{tp}{a}") for a in "xyz"], axis=1)
    share = {s: np.zeros_like(time_s) for s in "rl"}
    return FootLoads(time_s, force, cop, torque, share)


def compare_grf(est: FootLoads, meas: FootLoads, keep: np.ndarray, weight: float) -> dict:
    res = {}
    for s in "rl":
        for name, k in AXES:
            e, m = est.force_n[s][keep, k], meas.force_n[s][keep, k]
            d = e - m
            res[(s, name)] = (
                100 * float(np.sqrt(np.mean(d**2))) / weight,
                100 * float(np.mean(np.abs(d))) / weight,
                float(np.corrcoef(e, m)[0, 1]),
            )
    e = est.force_n["r"][keep, 1] + est.force_n["l"][keep, 1]
    m = meas.force_n["r"][keep, 1] + meas.force_n["l"][keep, 1]
    res[("total", "vertical")] = (
        100 * float(np.sqrt(np.mean((e - m) ** 2))) / weight,
        100 * float(np.mean(np.abs(e - m))) / weight,
        float(np.corrcoef(e, m)[0, 1]),
    )
    return res


def print_grf(title: str, res: dict) -> None:
    print(f"\n{title}: GRF estimated from kinematics vs force plates (% body weight)")
    print(f"  {'foot':6s}{'component':10s}{'RMSE':>8s}{'MAE':>8s}{'r':>8s}")
    for (s, name), (rmse, mae, r) in res.items():
        print(f"  {s:6s}{name:10s}{rmse:8.1f}{mae:8.1f}{r:8.3f}")


def compare_moments(sto_est: Path, sto_meas: Path, mass: float, t_range) -> dict:
    a, b = read_mot(sto_est), read_mot(sto_meas)
    res = {}
    for c in ("hip_flexion", "knee_angle", "ankle_angle"):
        for s in "rl":
            lab = f"{c}_{s}_moment"
            keep = (a.time_s >= t_range[0]) & (a.time_s <= t_range[1])
            x = a.column(lab)[keep] / mass
            y = np.interp(a.time_s[keep], b.time_s, b.column(lab)) / mass
            res[lab] = (float(np.sqrt(np.mean((x - y) ** 2))), float(np.corrcoef(x, y)[0, 1]))
    return res


def print_residuals(title: str, stos: dict[str, Path], weight: float) -> None:
    """Pelvis residuals (RMS over frames) of ID runs: what the ground reactions leave unbalanced."""
    print(f"\n{title}: pelvis residuals of ID (RMS)")
    for label, sto in stos.items():
        t = read_mot(sto)
        f = np.linalg.norm(np.stack([t.column(f"pelvis_t{a}_force") for a in "xyz"], 1), axis=1)
        m_cols = ("pelvis_tilt_moment", "pelvis_list_moment", "pelvis_rotation_moment")
        m = np.linalg.norm(np.stack([t.column(c) for c in m_cols], 1), axis=1)
        print(
            f"  {label:26s} force {np.sqrt(np.mean(f**2)) / weight:6.3f} BW   "
            f"moment {np.sqrt(np.mean(m**2)):6.1f} N m"
        )


def print_moments(title: str, res: dict) -> None:
    print(f"\n{title}: joint moments, ID with estimated vs with measured GRF (N m/kg)")
    print(f"  {'moment':24s}{'RMSE':>8s}{'r':>8s}")
    for lab, (rmse, r) in res.items():
        print(f"  {lab:24s}{rmse:8.3f}{r:8.3f}")


def id_pair(model, ik, out: Path, est_xml_dir: Path, est, meas_xml, meas_mot, t_range, name):
    from biomech_export.dynamics.outputs import write_external_loads_xml
    from biomech_export.tools import run_id

    mot = write_grf_mot(est_xml_dir / f"{name}_grf.mot", est.loads, f"{name}_grf")
    xml = write_external_loads_xml(est_xml_dir / f"{name}_grf.xml", mot)
    r_none = run_id(model, ik, out / "none", name=name, time_range_s=t_range)
    r_est = run_id(model, ik, out / "est", name=name, external_loads=xml, time_range_s=t_range)
    r_meas = run_id(
        model,
        ik,
        out / "meas",
        name=name,
        external_loads=meas_xml,
        grf_path=meas_mot,
        time_range_s=t_range,
    )
    print_residuals(
        name,
        {
            "no ground reactions": r_none.sto_path,
            "measured (force plates)": r_meas.sto_path,
            "estimated from kinematics": r_est.sto_path,
        },
        est.weight_n,
    )
    return mot, r_est.sto_path, r_meas.sto_path


def grfcmp(est_mot: Path, meas_mot: Path, mass: float, extra: list[str]) -> str:
    if not GRFCMP.is_file():
        return "grfcmp.py not found"
    p = subprocess.run(
        [sys.executable, str(GRFCMP), str(est_mot), str(meas_mot), "--mass", f"{mass}", *extra],
        capture_output=True,
        text=True,
        check=False,
    )
    return (p.stdout + p.stderr).strip().splitlines()[-1]


def coordinates_only(mot: Path, model: Path, dst: Path) -> Path:
    """The model's coordinate columns of an OpenSim IK result, read with OpenSim's own reader
    (the gait2392 reference IK also carries marker and force columns, some named twice)."""
    from biomech_export._opensim import require_opensim
    from biomech_export.mot import MotTable, write_mot

    osim = require_opensim()
    table = osim.TimeSeriesTable(str(mot))
    names = list(table.getColumnLabels())
    m = osim.Model(str(model))  # kept alive while its coordinate set is used
    keep = [n for n in names if m.getCoordinateSet().contains(n)]
    data = np.array(table.getMatrix().to_numpy())  # a copy while the table lives
    times = np.array(table.getIndependentColumn())
    cols = data[:, [names.index(n) for n in keep]]
    return write_mot(dst, MotTable(times, tuple(keep), cols, True, mot.stem))


def gait2392(out: Path) -> None:
    d = SHARED / "opensim" / "gait2392_subject01"
    model = d / "OutputReference" / "subject01_simbody.osim"
    ik = coordinates_only(
        d / "OutputReference" / "subject01_walk1_ik.mot", model, out / "subject01_walk1_ik.mot"
    )
    meas_mot = d / "subject01_walk1_grf.mot"
    t0 = time.perf_counter()
    est = estimate_loads(model, ik)
    dt = time.perf_counter() - t0
    g = read_mot(meas_mot)
    t = est.loads.time_s
    keep = (t >= g.time_s[0]) & (t <= g.time_s[-1])
    meas = measured_loads(
        meas_mot,
        t,
        {
            "r": ("ground_force_v", "ground_force_p", "ground_torque_"),
            "l": ("1_ground_force_v", "1_ground_force_p", "1_ground_torque_"),
        },
    )
    print(
        f"\n== gait2392 walk1 (treadmill), reference IK; {est.mass_kg:.1f} kg; "
        f"{keep.sum()} frames {t[keep][0]:.2f}-{t[keep][-1]:.2f} s with plates; "
        f"estimate {dt:.1f} s; ground velocity {np.linalg.norm(est.ground_velocity_m_s):.2f} "
        "m/s (detected)"
    )
    print_grf("gait2392 walk", compare_grf(est.loads, meas, keep, est.weight_n))
    t_range = (float(t[keep][0]), float(t[keep][-1]))
    mot, sto_est, sto_meas = id_pair(
        model,
        ik,
        out / "gait2392_id",
        out,
        est,
        d / "subject01_walk1_grf.xml",
        meas_mot,
        t_range,
        "gait2392_walk1",
    )
    print_moments("gait2392 walk", compare_moments(sto_est, sto_meas, est.mass_kg, t_range))
    print(
        "\n  grfcmp.py: "
        + grfcmp(
            mot,
            meas_mot,
            est.mass_kg,
            ["--meas-r", "ground_force_v", "--meas-l", "1_ground_force_v"],
        )
    )
    png = plot_grf(
        out / "gait2392_walk1_grf_vs_plates.png",
        est.loads,
        est.weight_n,
        "gait2392 walk1: estimated (solid) vs force plates (dashed)",
        measured=meas,
    )
    print(f"  plot: {png}")


def _has_scale_command() -> bool:
    from biomech_export.cli import build_parser

    sub = next(a for a in build_parser()._actions if a.dest == "command")
    return "scale" in sub.choices


def scale_rajagopal(out: Path) -> tuple[Path, str]:
    """Rajagopal2016 scaled to the run subject (the example's Scale setup and mass): with this
    project's `biomech_export scale`, else OpenSim's ScaleTool through the API."""
    d = SHARED / "opensim" / "rajagopal_walk_run"
    if _has_scale_command():
        cmd = [
            sys.executable, "-m", "biomech_export", "scale", str(d / "Rajagopal2016.osim"),
            str(d / "ExpData" / "static_run.trc"), "-o", str(out), "--name",
            "subject_scaled_run", "--mass", "72.84", "--setup-template",
            str(d / "Scale" / "scale_setup_run.xml"),
        ]  # fmt: skip
        p = subprocess.run(cmd, capture_output=True, text=True, cwd=REPO, check=False)
        if p.returncode != 0:
            raise RuntimeError(f"scale failed: {p.stderr.strip().splitlines()[-1:]}")
        return out / "subject_scaled_run.osim", "biomech_export scale"
    return _scale_rajagopal_api(out), "OpenSim ScaleTool (API)"


def _scale_rajagopal_api(out: Path) -> Path:
    """Rajagopal2016 scaled to the run subject with the example's own Scale setup."""
    from biomech_export._opensim import c_numeric_locale, require_opensim

    osim = require_opensim()
    d = SHARED / "opensim" / "rajagopal_walk_run"
    out.mkdir(parents=True, exist_ok=True)
    scaled = out / "subject_scaled_run.osim"
    tool = osim.ScaleTool(str(d / "Scale" / "scale_setup_run.xml"))
    tool.getGenericModelMaker().setModelFileName(str(d / "Rajagopal2016.osim"))
    static = str(d / "ExpData" / "static_run.trc")
    tool.getModelScaler().setMarkerFileName(static)
    tool.getModelScaler().setOutputModelFileName("")
    tool.getModelScaler().setOutputScaleFileName("")
    tool.getMarkerPlacer().setMarkerFileName(static)
    tool.getMarkerPlacer().setOutputModelFileName(str(scaled))
    tool.getMarkerPlacer().setOutputMotionFileName("")
    tool.setPathToSubject("")
    with c_numeric_locale():
        if not tool.run():
            raise RuntimeError("OpenSim ScaleTool failed on the Rajagopal run setup")
    return scaled


def rajagopal_run(out: Path, skip_run: bool) -> None:
    d = SHARED / "opensim" / "rajagopal_walk_run"
    work = out / "rajagopal_run"
    scaled = work / "subject_scaled_run.osim"
    ik = work / "ik" / "run_ik.mot"
    t0 = time.perf_counter()
    how = "earlier run"
    if not (skip_run and scaled.is_file()):
        scaled, how = scale_rajagopal(work)
    if not (skip_run and ik.is_file()):
        cmd = [
            sys.executable,
            "-m",
            "biomech_export",
            "ik",
            str(scaled),
            str(d / "ExpData" / "motion_capture_run.trc"),
            "-o",
            str(work / "ik"),
            "--name",
            "run",
            "--setup-template",
            str(d / "IK" / "ik_setup_run.xml"),
        ]
        p = subprocess.run(cmd, capture_output=True, text=True, cwd=REPO, check=False)
        if p.returncode != 0:
            raise RuntimeError(f"IK failed: {p.stderr.strip().splitlines()[-1:]}")
        print("  " + p.stdout.strip().splitlines()[-1])
    t_prep = time.perf_counter() - t0
    meas_mot = d / "ExpData" / "grf_run.mot"
    t0 = time.perf_counter()
    est = estimate_loads(scaled, ik)
    dt = time.perf_counter() - t0
    t = est.loads.time_s
    g = read_mot(meas_mot)
    keep = (t >= g.time_s[0]) & (t <= g.time_s[-1])
    meas = measured_loads(
        meas_mot,
        t,
        {
            "r": ("R_ground_force_v", "R_ground_force_p", "R_ground_torque_"),
            "l": ("L_ground_force_v", "L_ground_force_p", "L_ground_torque_"),
        },
    )
    print(
        f"\n== Rajagopal run (treadmill): scaled ({how}) + IK (biomech_export ik) {t_prep:.0f} s; "
        f"{est.mass_kg:.1f} kg; {keep.sum()} frames; estimate {dt:.1f} s; ground velocity "
        f"{np.linalg.norm(est.ground_velocity_m_s):.2f} m/s (detected)"
    )
    print_grf("Rajagopal run", compare_grf(est.loads, meas, keep, est.weight_n))
    t_range = (float(t[keep][0]), float(t[keep][-1]))
    mot, sto_est, sto_meas = id_pair(
        scaled,
        ik,
        work / "id",
        work,
        est,
        d / "ID" / "grf_run.xml",
        meas_mot,
        t_range,
        "rajagopal_run",
    )
    print_moments("Rajagopal run", compare_moments(sto_est, sto_meas, est.mass_kg, t_range))
    print(
        "\n  grfcmp.py: "
        + grfcmp(
            mot,
            meas_mot,
            est.mass_kg,
            ["--meas-r", "R_ground_force_v", "--meas-l", "L_ground_force_v"],
        )
    )
    png = plot_grf(
        out / "rajagopal_run_grf_vs_plates.png",
        est.loads,
        est.weight_n,
        "Rajagopal run: estimated (solid) vs force plates (dashed)",
        measured=meas,
    )
    print(f"  plot: {png}")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--out", type=Path, default=Path("/tmp/biomocap_grf_benchmark"))
    ap.add_argument(
        "--skip-run",
        action="store_true",
        help="reuse the Rajagopal scaled model and IK from an earlier run in --out",
    )
    ap.add_argument("--only", choices=("gait2392", "rajagopal"), default=None)
    a = ap.parse_args(argv)
    if not (SHARED / "opensim").is_dir():
        print(f"error: reference data not found under {SHARED} (set BIOMOCAP_SHARED_DATA)")
        return 2
    a.out.mkdir(parents=True, exist_ok=True)
    from biomech_export._opensim import require_opensim

    require_opensim().Logger.setLevelString(
        "error"
    )  # the tools' model summaries and mesh warnings
    if a.only in (None, "gait2392"):
        gait2392(a.out)
    if a.only in (None, "rajagopal"):
        rajagopal_run(a.out, a.skip_run)
    return 0


if __name__ == "__main__":
    sys.exit(main())
