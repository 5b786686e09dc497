"""GRF estimation and inverse dynamics from kinematics alone: the commands' entry points."""

from __future__ import annotations

import json
import logging
import os
import shutil
import tempfile
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np

from biomech_export.dynamics.contacts import (
    Contacts,
    estimate_contacts,
    ground_velocity,
    read_contacts,
    vet_contacts,
)
from biomech_export.dynamics.outputs import (
    plot_grf,
    plot_moments,
    write_external_loads_xml,
    write_grf_mot,
)
from biomech_export.dynamics.split import (
    PENDULUM_ABOVE_HZ,
    VIDEO_ML_PENDULUM_HZ,
    FootLoads,
    smooth_vertical,
    split_wrench,
)
from biomech_export.dynamics.wholebody import (
    BodyKinematics,
    Wrench,
    body_kinematics,
    external_wrench,
    load_model,
    load_trajectory,
    lowpass,
)
from biomech_export.mot import read_mot

__all__ = [
    "VIDEO_LOWPASS_HZ",
    "VIDEO_ML_PENDULUM_HZ",
    "GRFEstimate",
    "GRFResult",
    "DynamicsResult",
    "estimate_loads",
    "estimate_grf",
    "inverse_dynamics_with_estimated_grf",
]

log = logging.getLogger(__name__)

# Coordinates' low-pass for motions captured from video (`capture --dynamics`): their root and
# centre of mass carry noise that 6 Hz (the marker-mocap default) passes. Measured on the
# accuracy harness's rendered gait2392 walk, 3 viewpoints (benchmarks/grf_benchmark.py): mean
# per-foot vertical GRF RMSE 28.9 % body weight at 6 Hz, 22.8 at 3 Hz (19.3 at 2 Hz, not taken:
# it smooths the joint angles for ID too much and was picked on the same three clips).
VIDEO_LOWPASS_HZ = 3.0
# A contacts file is vetted against the feet's motion low-passed at no less than this (the
# usual gait cut-off): 3 Hz blurs a heel strike's stop over about 0.1 s and cuts stance phases
# short at both ends (see contacts.vet_contacts).
VET_LOWPASS_HZ = 6.0


@dataclass
class GRFEstimate:
    loads: FootLoads
    wrench: Wrench
    contacts: Contacts
    kinematics: BodyKinematics
    mass_kg: float
    weight_n: float
    ground_velocity_m_s: np.ndarray  # (3,) 0 overground, the belt's velocity on a treadmill


@dataclass
class GRFResult:
    mot_path: Path
    xml_path: Path
    plot_path: Path
    estimate: GRFEstimate


@dataclass
class DynamicsResult:
    grf: GRFResult
    id_sto_path: Path
    id_no_grf_sto_path: Path
    setup_path: Path
    moments_plot_path: Path
    summary_path: Path
    residual_before_bw: float  # RMS over frames of |pelvis residual force| / body weight
    residual_after_bw: float
    residual_moment_before_nm: float  # RMS of |pelvis residual moment|
    residual_moment_after_nm: float
    summary: dict = field(default_factory=dict)


def estimate_loads(
    model_path: str | Path,
    motion_path: str | Path,
    *,
    contacts_path: str | Path | None = None,
    treadmill_speed_m_s: float | None = None,
    lowpass_hz: float = 6.0,
    pendulum_above_hz: float = PENDULUM_ABOVE_HZ,
    ml_pendulum_above_hz: float = 0.0,
    double_support: str | None = None,
) -> GRFEstimate:
    """Both feet's ground reaction (force, centre of pressure, free moment) for a motion on an
    OpenSim model, from the kinematics and the model's mass distribution alone.
    ``pendulum_above_hz``: see ``split.PENDULUM_ABOVE_HZ`` (<= 0: kinematic AP force only);
    ``ml_pendulum_above_hz`` the same for the ML force (off by default; VIDEO_ML_PENDULUM_HZ
    for motions from video); ``double_support``: see ``split.split_wrench``."""
    if treadmill_speed_m_s is not None and not (0 <= treadmill_speed_m_s < 15):
        raise ValueError(f"treadmill speed {treadmill_speed_m_s} m/s: expected 0..15")
    model = load_model(model_path)
    traj = load_trajectory(model, motion_path)
    fs = 1.0 / float(np.mean(np.diff(traj.time_s)))
    q_raw = traj.q
    traj.q = lowpass(q_raw, fs, lowpass_hz)
    # contacts are read (and checked) before the long part
    contacts = None
    if contacts_path is not None:
        contacts = read_contacts(contacts_path, traj.time_s, len(traj.time_s))
    kin = body_kinematics(model, traj)
    wrench = external_wrench(kin)
    gvel = ground_velocity(kin, treadmill_speed_m_s, str(motion_path))
    if contacts is not None and max(float(contacts.foot(s).max()) for s in "rl") < 0.5:
        raise ValueError(f"{contacts_path}: no foot is ever in contact (all probabilities < 0.5)")
    kinematic = estimate_contacts(kin, wrench, gvel, str(motion_path), require=contacts is None)
    if contacts is None:
        contacts = kinematic
    else:
        if 0 < lowpass_hz < VET_LOWPASS_HZ:
            # the feet's timing from less smoothed kinematics (the loads keep lowpass_hz)
            sharp = replace(traj, q=lowpass(q_raw, fs, VET_LOWPASS_HZ))
            kinematic = estimate_contacts(
                body_kinematics(model, sharp), wrench, gvel, str(motion_path), require=False
            )
        contacts = vet_contacts(contacts, kinematic)
    if 0 < lowpass_hz < VET_LOWPASS_HZ:
        # video kinematics (the coordinates low-passed below the gait default): the walk's
        # total vertical force from their centre of mass height is smoothed further
        wrench = smooth_vertical(
            wrench, contacts, kin.total_mass_kg * float(np.linalg.norm(kin.gravity))
        )
    loads = split_wrench(
        kin, wrench, contacts, pendulum_above_hz, ml_pendulum_above_hz, double_support
    )
    mass = kin.total_mass_kg
    return GRFEstimate(
        loads, wrench, contacts, kin, mass, mass * float(np.linalg.norm(kin.gravity)), gvel
    )


def _stem(motion_path: Path) -> str:
    name = motion_path.name
    for suf in (".mot", ".sto"):
        name = name.removesuffix(suf)
    return name.removesuffix("_ik")


def estimate_grf(
    model_path: str | Path,
    motion_path: str | Path,
    output_dir: str | Path,
    *,
    name: str | None = None,
    contacts_path: str | Path | None = None,
    treadmill_speed_m_s: float | None = None,
    lowpass_hz: float = 6.0,
) -> GRFResult:
    """Estimate the ground reactions and write ``NAME_grf.mot``, ``NAME_grf.xml`` (ExternalLoads
    on calcn_r/calcn_l for OpenSim's ID tool) and ``NAME_grf.png`` into ``output_dir``.
    Everything is computed before anything is written; each file is written atomically."""
    motion_path = Path(motion_path)
    est = estimate_loads(
        model_path,
        motion_path,
        contacts_path=contacts_path,
        treadmill_speed_m_s=treadmill_speed_m_s,
        lowpass_hz=lowpass_hz,
    )
    out = Path(output_dir)
    name = name or _stem(motion_path)
    return _write_grf(est, out, name)


def _write_grf(est: GRFEstimate, out: Path, name: str) -> GRFResult:
    out.mkdir(parents=True, exist_ok=True)
    mot = write_grf_mot(out / f"{name}_grf.mot", est.loads, f"{name}_grf")
    xml = write_external_loads_xml(out / f"{name}_grf.xml", mot)
    png = plot_grf(
        out / f"{name}_grf.png",
        est.loads,
        est.weight_n,
        f"{name}: ground reaction estimated from kinematics ({est.mass_kg:.1f} kg)",
    )
    return GRFResult(mot, xml, png, est)


def _pelvis_residuals(sto: Path) -> tuple[np.ndarray, np.ndarray]:
    t = read_mot(sto)
    f = np.stack([t.column(f"pelvis_t{a}_force") for a in "xyz"], axis=1)
    m_cols = [
        c
        for c in ("pelvis_tilt_moment", "pelvis_list_moment", "pelvis_rotation_moment")
        if c in t.labels
    ]
    m = np.stack([t.column(c) for c in m_cols], axis=1)
    return np.linalg.norm(f, axis=1), np.linalg.norm(m, axis=1)


def _rms(x: np.ndarray) -> float:
    return float(np.sqrt(np.mean(np.square(x))))


def inverse_dynamics_with_estimated_grf(
    model_path: str | Path,
    motion_path: str | Path,
    output_dir: str | Path,
    *,
    name: str | None = None,
    contacts_path: str | Path | None = None,
    treadmill_speed_m_s: float | None = None,
    lowpass_hz: float = 6.0,
    time_range_s: tuple[float, float] | None = None,
    ml_pendulum_above_hz: float = 0.0,
) -> DynamicsResult:
    """GRF from kinematics, then OpenSim ID with and without them: joint moments (.sto), a plot
    of the moments per kg, and the pelvis residuals before and after.

    Runs in a staging folder inside ``output_dir``; the results replace earlier ones only when
    everything succeeded."""
    from biomech_export.tools import run_id, write_id_setup

    model_path, motion_path = Path(model_path), Path(motion_path)
    est = estimate_loads(
        model_path,
        motion_path,
        contacts_path=contacts_path,
        treadmill_speed_m_s=treadmill_speed_m_s,
        lowpass_hz=lowpass_hz,
        ml_pendulum_above_hz=ml_pendulum_above_hz,
    )
    name = name or _stem(motion_path)
    out = Path(output_dir)
    out.mkdir(parents=True, exist_ok=True)
    stage = Path(tempfile.mkdtemp(prefix=f".{name}-dynamics-", dir=out))
    try:
        grf = _write_grf(est, stage, name)
        opts = dict(time_range_s=time_range_s, lowpass_hz=lowpass_hz)
        before = run_id(model_path, motion_path, stage, name=f"{name}_noGRF", **opts)
        after = run_id(
            model_path, motion_path, stage, name=name, external_loads=grf.xml_path, **opts
        )
        fb, mb = _pelvis_residuals(before.sto_path)
        fa, ma = _pelvis_residuals(after.sto_path)
        w = est.weight_n
        plot_moments(
            stage / f"{name}_moments.png",
            after.sto_path,
            est.mass_kg,
            f"{name}: joint moments with estimated GRF (per kg body mass)",
        )
        summary = {
            # paths relative to this file: they stay right when the folder is moved into place
            "model": _rel(model_path, out),
            "motion": _rel(motion_path, out),
            "mass_kg": est.mass_kg,
            "contacts": (
                _rel(Path(contacts_path), out) if contacts_path is not None else "estimated"
            ),
            "ground_velocity_m_s": [float(v) for v in est.ground_velocity_m_s],
            "lowpass_hz": lowpass_hz,
            "ml_pendulum_above_hz": ml_pendulum_above_hz,
            "pelvis_residual_force_rms_bw": {
                "without_grf": _rms(fb) / w,
                "with_estimated_grf": _rms(fa) / w,
            },
            "pelvis_residual_moment_rms_nm": {
                "without_grf": _rms(mb),
                "with_estimated_grf": _rms(ma),
            },
            "peak_vertical_grf_bw": {s: float(est.loads.force_n[s][:, 1].max() / w) for s in "rl"},
        }
        _json(stage / f"{name}_dynamics.json", summary)
        # publish: GRF files first, then the ID setups rewritten for OUT, then their results
        final = {}
        for p in sorted(stage.iterdir()):
            if p.name.endswith(("_Setup_ID.xml", "_id.sto", "_ExternalLoads.xml")):
                continue
            os.replace(p, out / p.name)
            final[p.name] = out / p.name
        for n, res, loads in (
            (f"{name}_noGRF", before, None),
            (name, after, out / grf.xml_path.name),
        ):
            setup = write_id_setup(
                model_path, motion_path, out, name=n, external_loads=loads, **opts
            )
            os.replace(res.sto_path, out / res.sto_path.name)
            final[setup.name] = setup
    finally:
        shutil.rmtree(stage, ignore_errors=True)
    grf_final = GRFResult(
        out / grf.mot_path.name, out / grf.xml_path.name, out / grf.plot_path.name, est
    )
    return DynamicsResult(
        grf_final,
        out / after.sto_path.name,
        out / before.sto_path.name,
        out / f"{name}_Setup_ID.xml",
        out / f"{name}_moments.png",
        out / f"{name}_dynamics.json",
        _rms(fb) / w,
        _rms(fa) / w,
        _rms(mb),
        _rms(ma),
        summary,
    )


def _rel(path: Path, start: Path) -> str:
    return os.path.relpath(Path(path).resolve(), Path(start).resolve())


def _json(path: Path, obj: dict) -> None:
    from core.motion import atomic_write

    atomic_write(path, lambda f: json.dump(obj, f, indent=2))
