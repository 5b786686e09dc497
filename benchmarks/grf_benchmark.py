"""GRF and joint moments from kinematics alone, against real force plates.

    .venv/bin/python benchmarks/grf_benchmark.py [--out DIR] [--skip-run] [--no-video]

1. gait2392 walk (OpenSim example, treadmill): the reference scaled model and IK
   (OutputReference/) -> estimated GRF vs the force plates (per foot vertical / AP / ML RMSE and
   MAE in % body weight, r; total vertical), and hip/knee/ankle flexion moments (N m/kg) from ID
   with the estimated GRF vs ID with the measured GRF, the plates both raw and low-passed at the
   coordinates' cut-off (the same cut-off for kinematics and forces, as OpenSim users are told:
   Kristianslund et al. 2012, J Biomech 45:666). Cross-checked with ../shared/tools/grfcmp.py.
   Printed twice: with the AP force from the kinematics alone and with the default (inverted
   pendulum above split.PENDULUM_ABOVE_HZ).
2. Rajagopal run (OpenSim example, treadmill): Rajagopal2016.osim scaled with this project's
   `biomech_export scale` and the example's Scale setup (OpenSim's ScaleTool through the API if
   that command is absent), IK with `biomech_export ik` on the run markers, then the same
   comparison.
3. The gait2392 walk as video: the accuracy harness's renders (.cache/accuracy/clips/seed0/
   gait2392_walk_v*, three viewpoints; video frame i is trial time start_s + i / fps) captured
   with `python -m core capture --focal F --height H --mass M --treadmill-speed V --dynamics`
   (the render's true focal, the rendered subject's height, the trial subject's mass as a lab
   user types it; the belt speed found on the reference IK). Captures are cached in DIR/video (--recapture redoes them); the estimate is then
   compared with the plates in body weights (the capture's mass for the estimate, the trial
   subject's for the plates), at 6 Hz and as `capture --dynamics` does (VIDEO_LOWPASS_HZ,
   the ML pendulum above VIDEO_ML_PENDULUM_HZ). Then the contacts' timing against the
   plates (heel strike and toe off: vertical force crossing 20 N; error in ms, events missed,
   frame precision/recall/F1), the capture's own (its .sto) and those the GRF estimate used.
   And the reviewer's `grfcmp.py` on each capture's own `dynamics/video_grf.mot` (in % of the
   trial subject's body weight; without --mass it would also count the capture's mass guess).
   The same for the Rajagopal run's renders (rajagopal_run_v*, `--only run-video`; the belt
   speed found on our IK of the run). --no-video skips both.

--grf-only skips every ID run (no moments, no residuals): with the captures cached in DIR/video
it re-scores only the dynamics, the loop for working on biomech_export/dynamics.
Plots of estimated vs measured GRF go to DIR (default /tmp/biomocap_grf_benchmark).
Reads ../shared/data (BIOMOCAP_SHARED_DATA); nothing is written into the repository.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from biomech_export.dynamics import (  # noqa: E402
    VIDEO_LOWPASS_HZ,
    VIDEO_ML_PENDULUM_HZ,
    estimate_loads,
)
from biomech_export.dynamics.outputs import plot_grf, write_grf_mot  # noqa: E402
from biomech_export.dynamics.split import PENDULUM_ABOVE_HZ, FootLoads  # noqa: E402
from biomech_export.dynamics.wholebody import lowpass  # noqa: E402
from biomech_export.mot import MotTable, read_mot, write_mot  # noqa: E402

SHARED = Path(os.environ.get("BIOMOCAP_SHARED_DATA", REPO.parent / "shared" / "data"))
GRFCMP = SHARED.parent / "tools" / "grfcmp.py"
AXES = (("vertical", 1), ("AP", 0), ("ML", 2))
G = 9.80665
LOWPASS_HZ = 6.0  # coordinates (ours and OpenSim ID's) and, for the filtered reference, plates
CLIPS = REPO / ".cache" / "accuracy" / "clips" / "seed0"
VARIANTS = (("AP from kinematics only", 0.0), ("default (pendulum AP)", PENDULUM_ABOVE_HZ))
GRF_ONLY = False  # --grf-only: the GRF comparison alone (no ID runs): a fast loop on the cache


@dataclass
class Plates:
    """A trial's force plates: the .mot, its ExternalLoads .xml, the column prefixes per foot
    (force, point, torque) and the mass of the subject who stood on them."""

    mot: Path
    xml: Path
    prefixes: dict[str, tuple[str, str, str]]
    mass_kg: float


@dataclass
class Reference:
    """ID with the measured GRF on the trial's own model and IK: raw plates and plates low-passed
    at the coordinates' cut-off."""

    stos: dict[str, Path]
    mass_kg: float
    t_range: tuple[float, float]


def measured_loads(
    grf_mot: Path, time_s: np.ndarray, prefixes: dict[str, tuple[str, str, str]]
) -> FootLoads:
    """Force-plate forces per foot on the estimate's time samples (NaN outside the plates).
    prefixes: side -> (force, point, torque) column stems, e.g. 'R_ground_force_v'."""
    t = read_mot(grf_mot)
    outside = (time_s < t.time_s[0]) | (time_s > t.time_s[-1])

    def col(lab: str) -> np.ndarray:
        return np.where(outside, np.nan, np.interp(time_s, t.time_s, t.column(lab)))

    force, cop, torque = {}, {}, {}
    for s, (fp, pp, tp) in prefixes.items():
        force[s] = np.stack([col(f"{fp}{a}") for a in "xyz"], axis=1)
        cop[s] = np.stack([col(f"{pp}{a}") for a in "xyz"], axis=1)
        torque[s] = np.stack([col(f"{tp}{a}") for a in "xyz"], axis=1)
    share = {s: np.zeros_like(time_s) for s in "rl"}
    return FootLoads(time_s, force, cop, torque, share)


def filtered_plates(plates: Plates, cutoff_hz: float, out: Path) -> Path:
    """The plate file with its forces and torques low-passed at ``cutoff_hz`` (at the plates'
    own rate, zero lag); the centres of pressure are kept."""
    t = read_mot(plates.mot)
    out.mkdir(parents=True, exist_ok=True)
    fs = 1.0 / float(np.mean(np.diff(t.time_s)))
    data = t.data.copy()
    cols = [j for j, lab in enumerate(t.labels) if "force_p" not in lab]
    data[:, cols] = lowpass(data[:, cols], fs, cutoff_hz)
    name = f"{plates.mot.stem}_lp{cutoff_hz:g}"
    return write_mot(out / f"{name}.mot", MotTable(t.time_s, t.labels, data, t.in_degrees, name))


def compare_grf(est: FootLoads, meas: FootLoads, keep: np.ndarray, weight: float) -> dict:
    res = {}

    def stats(e: np.ndarray, m: np.ndarray) -> tuple[float, float, float]:
        d = e - m
        return (
            100 * float(np.sqrt(np.mean(d**2))) / weight,
            100 * float(np.mean(np.abs(d))) / weight,
            float(np.corrcoef(e, m)[0, 1]),
        )

    for s in "rl":
        for name, k in AXES:
            res[(s, name)] = stats(est.force_n[s][keep, k], meas.force_n[s][keep, k])
    total = [f.force_n["r"][keep, 1] + f.force_n["l"][keep, 1] for f in (est, meas)]
    res[("total", "vertical")] = stats(*total)
    return res


def print_grf(title: str, res: dict) -> None:
    print(f"\n{title}: GRF estimated from kinematics vs force plates (% body weight)")
    print(f"  {'foot':6s}{'component':10s}{'RMSE':>8s}{'MAE':>8s}{'r':>8s}")
    for (s, name), (rmse, mae, r) in res.items():
        print(f"  {s:6s}{name:10s}{rmse:8.1f}{mae:8.1f}{r:8.3f}")


def compare_moments(
    sto_est: Path, mass_est: float, sto_ref: Path, ref: Reference, offset_s: float = 0.0
) -> dict:
    """Hip/knee/ankle flexion moments per kg: estimate (its time + offset_s) vs reference."""
    a, b = read_mot(sto_est), read_mot(sto_ref)
    t = a.time_s + offset_s
    keep = (t >= ref.t_range[0]) & (t <= ref.t_range[1])
    res = {}
    for c in ("hip_flexion", "knee_angle", "ankle_angle"):
        for s in "rl":
            lab = f"{c}_{s}_moment"
            x = a.column(lab)[keep] / mass_est
            y = np.interp(t[keep], b.time_s, b.column(lab)) / ref.mass_kg
            res[lab] = (float(np.sqrt(np.mean((x - y) ** 2))), float(np.corrcoef(x, y)[0, 1]))
    return res


def print_moments(title: str, results: dict[str, dict]) -> None:
    """results: reference label -> compare_moments() result."""
    print(f"\n{title}: joint moments, ID with estimated vs with measured GRF (N m/kg)")
    labels = list(results)
    print(f"  {'moment':24s}" + "".join(f"{'RMSE':>8s}{'r':>7s}  " for _ in labels))
    print(f"  {'(measured GRF:)':24s}" + "".join(f"{lab[:15]:>17s}" for lab in labels))
    for m in next(iter(results.values())):
        cells = "".join(f"{results[lab][m][0]:8.3f}{results[lab][m][1]:7.3f}  " for lab in labels)
        print(f"  {m:24s}{cells}")


def pelvis_residual(sto: Path) -> tuple[float, float]:
    """RMS over frames of the pelvis residual force (N) and moment (N m) of an ID result."""
    t = read_mot(sto)
    f = np.linalg.norm(np.stack([t.column(f"pelvis_t{a}_force") for a in "xyz"], 1), axis=1)
    m_cols = ("pelvis_tilt_moment", "pelvis_list_moment", "pelvis_rotation_moment")
    m = np.linalg.norm(np.stack([t.column(c) for c in m_cols], 1), axis=1)
    return float(np.sqrt(np.mean(f**2))), float(np.sqrt(np.mean(m**2)))


def print_residuals(title: str, stos: dict[str, Path], weight: float) -> None:
    """Pelvis residuals (RMS over frames) of ID runs: what ground reactions leave unbalanced."""
    print(f"\n{title}: pelvis residuals of ID (RMS)")
    for label, sto in stos.items():
        f, m = pelvis_residual(sto)
        print(f"  {label:34s} force {f / weight:6.3f} BW   moment {m:6.1f} N m")


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

    osim = require_opensim()
    table = osim.TimeSeriesTable(str(mot))
    names = list(table.getColumnLabels())
    m = osim.Model(str(model))  # kept alive while its coordinate set is used
    keep = [n for n in names if m.getCoordinateSet().contains(n)]
    data = np.array(table.getMatrix().to_numpy())  # a copy while the table lives
    times = np.array(table.getIndependentColumn())
    cols = data[:, [names.index(n) for n in keep]]
    return write_mot(dst, MotTable(times, tuple(keep), cols, True, mot.stem))


def reference_id(
    model: Path, ik: Path, plates: Plates, out: Path, name: str, t_range
) -> Reference:
    """ID with the measured GRF, raw and low-passed at LOWPASS_HZ, and without any GRF."""
    from biomech_export.tools import run_id

    filt = filtered_plates(plates, LOWPASS_HZ, out)
    stos = {}
    for label, mot in (("raw plates", plates.mot), (f"plates {LOWPASS_HZ:g} Hz", filt)):
        sub = out / ("meas" if mot == plates.mot else "meas_lp")
        r = run_id(
            model, ik, sub, name=name, external_loads=plates.xml, grf_path=mot,
            time_range_s=t_range, lowpass_hz=LOWPASS_HZ,
        )  # fmt: skip
        stos[label] = r.sto_path
    stos["none"] = run_id(
        model, ik, out / "none", name=name, time_range_s=t_range, lowpass_hz=LOWPASS_HZ
    ).sto_path
    return Reference(stos, plates.mass_kg, t_range)


def report_trial(
    title: str,
    name: str,
    model: Path,
    ik: Path,
    plates: Plates,
    out: Path,
    *,
    contacts: Path | None = None,
    treadmill_speed_m_s: float | None = None,
    ref: Reference | None = None,
    offset_s: float = 0.0,
    grfcmp_args: list[str] | None = None,
    lowpass_hz: float = LOWPASS_HZ,
    ml_pendulum_above_hz: float = 0.0,
    variants: tuple[tuple[str, float], ...] = VARIANTS,
) -> dict:
    """Estimate the GRF of one motion (each of VARIANTS), compare it with the plates (in body
    weights: the estimate's own, the plates' subject's), run ID with it and compare the moments
    with the measured-GRF ID (``ref``: made here on ``model``/``ik`` when not given). The
    estimate's time + offset_s is trial time. Returns the default variant's numbers."""
    from biomech_export.dynamics.outputs import write_external_loads_xml
    from biomech_export.tools import run_id

    out.mkdir(parents=True, exist_ok=True)
    own_ref = ref is None  # the reference ID is of this very model and motion
    summary: dict = {}
    for label, pendulum_hz in variants:
        t0 = time.perf_counter()
        est = estimate_loads(
            model,
            ik,
            contacts_path=contacts,
            treadmill_speed_m_s=treadmill_speed_m_s,
            lowpass_hz=lowpass_hz,
            pendulum_above_hz=pendulum_hz,
            ml_pendulum_above_hz=ml_pendulum_above_hz,
        )
        dt = time.perf_counter() - t0
        t = est.loads.time_s + offset_s
        meas = measured_loads(plates.mot, t, plates.prefixes)
        to_est_bw = est.weight_n / (plates.mass_kg * G)  # plates in the estimate's body weights
        meas = replace(meas, force_n={s: f * to_est_bw for s, f in meas.force_n.items()})
        keep = np.isfinite(meas.force_n["r"][:, 1])
        t_range = (float(t[keep][0]), float(t[keep][-1]))
        print(
            f"\n== {title} [{label}]: {est.mass_kg:.1f} kg; {keep.sum()} frames "
            f"{t_range[0]:.2f}-{t_range[1]:.2f} s with plates; estimate {dt:.1f} s; ground "
            f"velocity {np.linalg.norm(est.ground_velocity_m_s):.2f} m/s; contacts "
            f"{'from ' + contacts.name if contacts else 'estimated'}"
        )
        grf = compare_grf(est.loads, meas, keep, est.weight_n)
        print_grf(title, grf)
        if GRF_ONLY:  # --grf-only: no ID runs, no moments
            summary = {"grf": grf, "moments": None, "estimate": est, "meas": meas, "ref": ref}
            continue
        if ref is None:
            ref = reference_id(model, ik, plates, out / "ref", name, t_range)
        tag = "kin" if pendulum_hz <= 0 else "default"
        mot = write_grf_mot(out / f"{name}_{tag}_grf.mot", est.loads, f"{name}_grf")
        xml = write_external_loads_xml(out / f"{name}_{tag}_grf.xml", mot)
        id_range = (t_range[0] - offset_s, t_range[1] - offset_s)
        sto = run_id(
            model, ik, out / f"est_{tag}", name=name, external_loads=xml,
            time_range_s=id_range, lowpass_hz=lowpass_hz,
        ).sto_path  # fmt: skip
        moments = {
            lab: compare_moments(sto, est.mass_kg, ref_sto, ref, offset_s)
            for lab, ref_sto in ref.stos.items()
            if lab != "none"
        }
        print_moments(title, moments)
        res_stos = {"estimated from kinematics": sto}
        if own_ref:  # the reference's residuals belong to this model and motion
            res_stos = {"no ground reactions": ref.stos["none"], **res_stos}
            res_stos.update({f"measured ({k})": v for k, v in ref.stos.items() if k != "none"})
        print_residuals(title, res_stos, est.weight_n)
        if grfcmp_args is not None and own_ref:
            print("\n  grfcmp.py: " + grfcmp(mot, plates.mot, est.mass_kg, grfcmp_args))
        summary = {"grf": grf, "moments": moments, "estimate": est, "meas": meas, "ref": ref}
    est_loads = summary["estimate"].loads  # drawn on trial time, as the plates are
    png = plot_grf(
        out.parent / f"{name}_grf_vs_plates.png",
        replace(est_loads, time_s=est_loads.time_s + offset_s),
        summary["estimate"].weight_n,
        f"{title}: estimated (solid) vs force plates (dashed), trial time",
        measured=summary["meas"],
    )
    print(f"  plot: {png}")
    return summary


GAIT2392 = SHARED / "opensim" / "gait2392_subject01"
GAIT2392_PLATES = Plates(
    GAIT2392 / "subject01_walk1_grf.mot",
    GAIT2392 / "subject01_walk1_grf.xml",
    {
        "r": ("ground_force_v", "ground_force_p", "ground_torque_"),
        "l": ("1_ground_force_v", "1_ground_force_p", "1_ground_torque_"),
    },
    72.6,  # subject01_simbody.osim
)


def gait2392(out: Path) -> dict:
    model = GAIT2392 / "OutputReference" / "subject01_simbody.osim"
    ik = coordinates_only(
        GAIT2392 / "OutputReference" / "subject01_walk1_ik.mot",
        model,
        out / "subject01_walk1_ik.mot",
    )
    return report_trial(
        "gait2392 walk (treadmill), reference IK",
        "gait2392_walk1",
        model,
        ik,
        GAIT2392_PLATES,
        out / "gait2392",
        grfcmp_args=["--meas-r", "ground_force_v", "--meas-l", "1_ground_force_v"],
    )


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


RUN_PLATES = Plates(
    SHARED / "opensim" / "rajagopal_walk_run" / "ExpData" / "grf_run.mot",
    SHARED / "opensim" / "rajagopal_walk_run" / "ID" / "grf_run.xml",
    {
        "r": ("R_ground_force_v", "R_ground_force_p", "R_ground_torque_"),
        "l": ("L_ground_force_v", "L_ground_force_p", "L_ground_torque_"),
    },
    72.84,  # the example's Scale setup
)


def rajagopal_run(out: Path, skip_run: bool) -> dict:
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
            sys.executable, "-m", "biomech_export", "ik", str(scaled),
            str(d / "ExpData" / "motion_capture_run.trc"), "-o", str(work / "ik"), "--name", "run",
            "--setup-template", str(d / "IK" / "ik_setup_run.xml"),
        ]  # fmt: skip
        p = subprocess.run(cmd, capture_output=True, text=True, cwd=REPO, check=False)
        if p.returncode != 0:
            raise RuntimeError(f"IK failed: {p.stderr.strip().splitlines()[-1:]}")
        print("  " + p.stdout.strip().splitlines()[-1])
    print(
        f"\nRajagopal run: scaled ({how}) + IK (biomech_export ik) "
        f"{time.perf_counter() - t0:.0f} s"
    )
    return report_trial(
        "Rajagopal run (treadmill), our scale + IK",
        "rajagopal_run",
        scaled,
        ik,
        RUN_PLATES,
        work / "report",
        grfcmp_args=["--meas-r", "R_ground_force_v", "--meas-l", "L_ground_force_v"],
    )


PLATE_CONTACT_N = 20.0  # a foot is on its plate above this vertical force


def _events(on: np.ndarray, t: np.ndarray) -> list[tuple[float, bool]]:
    """(time, True = strike / False = toe off) of each change of a boolean series."""
    e = np.flatnonzero(np.diff(on.astype(np.int8)))
    return [(0.5 * (t[i] + t[i + 1]), bool(on[i + 1])) for i in e]


def contact_timing(
    on: dict[str, np.ndarray], time_s: np.ndarray, plates: Plates, window_s: float = 0.4
) -> dict:
    """Contact phases (side -> (T,) bool on trial time ``time_s``) against the plates: each
    plate event (vertical force crossing PLATE_CONTACT_N; the trial's first and last 50 ms
    aside) matched with the nearest found event of its kind within ``window_s``; errors in ms
    (found - plate: + late), events missed, found events left over, frame precision/recall."""
    t_pl = read_mot(plates.mot)
    err: dict[str, list[float]] = {"strike": [], "toe off": []}
    missed = extra = tp = fp = fn = 0
    for s in "rl":
        force = t_pl.column(f"{plates.prefixes[s][0]}y")
        truth = [
            e
            for e in _events(force > PLATE_CONTACT_N, t_pl.time_s)
            if time_s[0] + 0.05 < e[0] < time_s[-1] - 0.05
        ]
        found = _events(on[s], time_s)
        used: set[int] = set()
        for te, kind in truth:
            cands = [
                (abs(fe - te), j)
                for j, (fe, k) in enumerate(found)
                if k == kind and abs(fe - te) < window_s and j not in used
            ]
            if not cands:
                missed += 1
                continue
            j = min(cands)[1]
            used.add(j)
            err["strike" if kind else "toe off"].append(1000 * (found[j][0] - te))
        extra += len(found) - len(used)
        loaded = np.interp(time_s, t_pl.time_s, force) > PLATE_CONTACT_N
        tp += int((on[s] & loaded).sum())
        fp += int((on[s] & ~loaded).sum())
        fn += int((~on[s] & loaded).sum())
    return {
        "errors_ms": err,
        "missed": missed,
        "extra": extra,
        "precision": tp / max(tp + fp, 1),
        "recall": tp / max(tp + fn, 1),
        "f1": 2 * tp / max(2 * tp + fp + fn, 1),
    }


def print_timing(label: str, r: dict) -> None:
    def cell(kind: str) -> str:
        e = np.asarray(r["errors_ms"][kind])
        if not len(e):
            return f"{kind} -"
        return f"{kind} {np.mean(e):+4.0f} ms (|err| mean {np.mean(np.abs(e)):3.0f}, n {len(e)})"

    print(
        f"  {label:36s} {cell('strike')}; {cell('toe off')}; missed {r['missed']}, extra "
        f"{r['extra']}; frames P {r['precision']:.2f} R {r['recall']:.2f} F1 {r['f1']:.2f}"
    )


def report_contact_timing(
    title: str, osim_dir: Path, est, offset_s: float, plates: Plates = GAIT2392_PLATES
) -> dict:
    """The capture's contacts (its .sto, > 0.5 per foot) and those the GRF estimate used
    (vetted by the motion) against the plates."""
    print(f"\n{title}: contact timing vs force plates (> {PLATE_CONTACT_N:g} N)")
    sto = read_mot(osim_dir / "video_contacts.sto")
    t = sto.time_s + offset_s
    cap = {s: np.maximum(sto.column(f"heel_{s}"), sto.column(f"toe_{s}")) > 0.5 for s in "rl"}
    res = {"capture": contact_timing(cap, t, plates)}
    print_timing("capture (video_contacts.sto)", res["capture"])
    used = {s: est.contacts.foot(s) > 0.5 for s in "rl"}
    res["grf"] = contact_timing(used, est.loads.time_s + offset_s, plates)
    print_timing("used by the GRF (vetted by the motion)", res["grf"])
    return res


def capture_video(
    clip: Path, dst: Path, height_m: float, mass_kg: float, belt_m_s: float, redo: bool
) -> Path:
    """The capture of one rendered clip (cached in ``dst``, redone when its mass differs): its
    OpenSim export folder."""
    info = json.loads((clip / "info.json").read_text())
    osim_dir = dst / "opensim"
    report = dst / "report.json"
    cached_mass = (
        json.loads(report.read_text())["subject"]["mass_kg"] if report.is_file() else None
    )
    stale = cached_mass is None or abs(cached_mass - mass_kg) > 0.05
    if redo or stale or not (osim_dir / "video.mot").is_file():
        cmd = [
            sys.executable, "-m", "core", "capture", str(clip / "video.mp4"), "-o", str(dst),
            "--focal", f"{info['spec']['camera']['focal_px']}", "--height", f"{height_m}",
            "--mass", f"{mass_kg}", "--treadmill-speed", f"{belt_m_s:.2f}", "--dynamics",
            "--no-overlay",
        ]  # fmt: skip
        t0 = time.perf_counter()
        p = subprocess.run(cmd, capture_output=True, text=True, cwd=REPO, check=False)
        if p.returncode != 0:
            raise RuntimeError(f"capture of {clip.name} failed: {p.stderr.strip()[-300:]}")
        print(f"  captured {clip.name} in {time.perf_counter() - t0:.0f} s")
    return osim_dir


def grfcmp_on_trial_time(est_mot: Path, offset_s: float, plates: Plates, work: Path) -> str:
    """The reviewer's ``grfcmp.py`` on a capture's own GRF file, against the trial's plates.
    grfcmp compares on equal time stamps: a clip that starts ``offset_s`` into the trial is
    shifted onto trial time first (a copy in ``work``)."""
    if not est_mot.is_file():
        return f"{est_mot} missing (capture without --dynamics?)"
    if offset_s:
        lines = est_mot.read_text().splitlines()
        end = next(i for i, line in enumerate(lines) if line.strip().lower() == "endheader")
        body = []
        for line in lines[end + 2 :]:
            if line.strip():
                t, _, rest = line.partition("\t")
                body.append(f"{float(t) + offset_s:.8f}\t{rest}")
        shifted = work / "video_grf_trial_time.mot"
        shifted.write_text("\n".join(lines[: end + 2] + body) + "\n")
        est_mot = shifted
    meas = ["--meas-r", plates.prefixes["r"][0], "--meas-l", plates.prefixes["l"][0]]
    return grfcmp(est_mot, plates.mot, plates.mass_kg, meas)


def trial_offset_s(spec: dict) -> float:
    """Trial time of a rendered trial clip's first frame: the harness runs IK over the trial's
    window (benchmarks/accuracy/data.py TRIALS: from its start t0) and the clip then skips
    ``start_s`` more of that motion (render.prepare_motion), so frame i is trial time
    t0 + start_s + i / fps (gait2392: t0 = start_s = 0; the Rajagopal run: 0.3 + 0.3)."""
    from benchmarks.accuracy.data import TRIALS

    t0 = {t[0]: t[5][0] for t in TRIALS}[spec["take"]]
    return float(t0) + float(spec["start_s"])


def video(
    out: Path,
    walk: dict,
    redo: bool,
    take: str = "gait2392_walk",
    plates: Plates | None = None,
    label: str = "gait2392 walk",
) -> None:
    """A rendered trial (default the gait2392 walk), captured from each viewpoint, against its
    plates; ``walk``: report_trial()'s result on the trial's own kinematics (belt speed and
    the measured-GRF ID)."""
    plates = plates or GAIT2392_PLATES
    clips = sorted(CLIPS.glob(f"{take}_v*"))
    if not clips:
        print(f"\n== video: no renders under {CLIPS} (run benchmarks/accuracy/run.py first)")
        return
    belt = float(np.linalg.norm(walk["estimate"].ground_velocity_m_s))
    rows = []
    timing: dict[str, dict] = {}
    grfcmp_lines: dict[str, str] = {}
    for clip in clips:
        info = json.loads((clip / "info.json").read_text())
        spec = info["spec"]
        # The rendered body's stature, the trial subject's mass (the plates'): what a lab user
        # types (--height, --mass); the video cannot show the real subject's mass.
        osim_dir = capture_video(
            clip, out / "video" / clip.name, info["subject"]["height_m"], plates.mass_kg, belt,
            redo,
        )  # fmt: skip
        offset = trial_offset_s(spec)
        title = (
            f"{label} video {clip.name} (azimuth {spec['camera']['azimuth_deg']:g} deg, "
            f"focal {spec['camera']['focal_px']:.0f} px, belt {belt:.2f} m/s)"
        )
        res = report_trial(
            title,
            clip.name,
            osim_dir / "video.osim",
            osim_dir / "video.mot",
            plates,
            out / "video" / f"{clip.name}_report",
            contacts=osim_dir / "video_contacts.sto",
            treadmill_speed_m_s=belt,
            ref=walk["ref"],
            offset_s=offset,
        )
        rows.append((clip.name, "6 Hz", res))
        # what `capture --dynamics` does: the stronger low-pass for video kinematics and the
        # pendulum for the ML force too
        res = report_trial(
            title + f", {VIDEO_LOWPASS_HZ:g} Hz, ML pendulum",
            clip.name + "_video_lp",
            osim_dir / "video.osim",
            osim_dir / "video.mot",
            plates,
            out / "video" / f"{clip.name}_video_lp_report",
            contacts=osim_dir / "video_contacts.sto",
            treadmill_speed_m_s=belt,
            ref=walk["ref"],
            offset_s=offset,
            lowpass_hz=VIDEO_LOWPASS_HZ,
            ml_pendulum_above_hz=VIDEO_ML_PENDULUM_HZ,
            variants=VARIANTS[1:],
        )
        rows.append((clip.name, "as capture --dynamics", res))
        timing[clip.name] = report_contact_timing(title, osim_dir, res["estimate"], offset, plates)
        grfcmp_lines[clip.name] = grfcmp_on_trial_time(
            osim_dir / "dynamics" / "video_grf.mot", offset, plates, out / "video" / clip.name
        )
    print(
        "\n== video summary (pendulum AP, the capture's contacts vetted by the motion): "
        "% BW RMSE per foot, moments r vs raw-plate ID"
    )
    for name, how, res in rows:
        g = res["grf"]
        m = res["moments"]["raw plates"] if res["moments"] else None
        moments = (
            f"; r hip {m['hip_flexion_r_moment'][1]:.2f}, knee "
            f"{m['knee_angle_r_moment'][1]:.2f}, ankle {m['ankle_angle_r_moment'][1]:.2f} (right)"
            if m
            else ""
        )
        print(
            f"  {name} ({how}): vertical {g[('r', 'vertical')][0]:.1f} / "
            f"{g[('l', 'vertical')][0]:.1f}, AP {g[('r', 'AP')][0]:.1f} / {g[('l', 'AP')][0]:.1f},"
            f" ML {g[('r', 'ML')][0]:.1f} / {g[('l', 'ML')][0]:.1f}, total vertical "
            f"{g[('total', 'vertical')][0]:.1f}{moments}"
        )
    print(
        "\n== grfcmp.py on each capture's own dynamics/video_grf.mot (captured with the trial "
        f"subject's --mass {plates.mass_kg:g}; % BW of that mass)"
    )
    for name, line in grfcmp_lines.items():
        print(f"  {name}: {line}")
    print("\n== video contact timing vs the plates (strike / toe off: mean |error| ms; F1)")
    for name, r in timing.items():
        c, g = r["capture"], r["grf"]

        def mean_abs(x: dict, kind: str) -> float:
            e = x["errors_ms"][kind]
            return float(np.mean(np.abs(e))) if e else float("nan")

        print(
            f"  {name}: capture {mean_abs(c, 'strike'):.0f} / {mean_abs(c, 'toe off'):.0f} ms, "
            f"F1 {c['f1']:.2f}, missed {c['missed']}; used by the GRF "
            f"{mean_abs(g, 'strike'):.0f} / {mean_abs(g, 'toe off'):.0f} ms, F1 {g['f1']:.2f}, "
            f"missed {g['missed']}"
        )


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--out", type=Path, default=Path("/tmp/biomocap_grf_benchmark"))
    ap.add_argument(
        "--skip-run",
        action="store_true",
        help="reuse the Rajagopal scaled model and IK from an earlier run in --out",
    )
    ap.add_argument(
        "--only", choices=("gait2392", "rajagopal", "video", "run-video"), default=None
    )
    ap.add_argument("--no-video", action="store_true", help="skip the rendered-video part")
    ap.add_argument("--recapture", action="store_true", help="redo the cached video captures")
    ap.add_argument(
        "--grf-only",
        action="store_true",
        help="compare the GRF only, no ID runs or moments (with the cached captures in --out: "
        "re-scores biomech_export/dynamics in about a minute)",
    )
    a = ap.parse_args(argv)
    global GRF_ONLY
    GRF_ONLY = a.grf_only
    if not (SHARED / "opensim").is_dir():
        print(f"error: reference data not found under {SHARED} (set BIOMOCAP_SHARED_DATA)")
        return 2
    a.out.mkdir(parents=True, exist_ok=True)
    from biomech_export._opensim import require_opensim

    require_opensim().Logger.setLevelString("error")  # the tools' model summaries and warnings
    if a.only in (None, "gait2392", "video"):
        walk = gait2392(a.out)
        if a.only in (None, "video") and not a.no_video:
            video(a.out, walk, a.recapture)
    if a.only in (None, "rajagopal", "run-video"):
        run = rajagopal_run(a.out, a.skip_run)
        if a.only in (None, "run-video") and not a.no_video:
            video(a.out, run, a.recapture, "rajagopal_run", RUN_PLATES, "Rajagopal run")
    return 0


if __name__ == "__main__":
    sys.exit(main())
