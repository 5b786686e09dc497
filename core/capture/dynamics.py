"""Optional dynamics output: ground reactions estimated from the motion, then OpenSim inverse
dynamics with them (biomech_export.dynamics)."""

from __future__ import annotations

import json
from pathlib import Path

from core.capture.options import CaptureOptions

__all__ = ["_dynamics", "_dynamics_note"]


def _dynamics(exported, name: str, opts: CaptureOptions, progress) -> dict[str, Path]:
    """Ground reactions estimated from the motion (the capture's contacts, floor at Y = 0), then
    OpenSim ID with them: into opensim/dynamics/ (biomech_export.dynamics)."""
    from biomech_export.dynamics import (
        VIDEO_LOWPASS_HZ,
        VIDEO_ML_PENDULUM_HZ,
        inverse_dynamics_with_estimated_grf,
    )

    progress("dynamics", 0.0, "ground reactions and joint moments")
    res = inverse_dynamics_with_estimated_grf(
        exported.osim_path,
        exported.mot_path,
        exported.folder / "dynamics",
        name=name,
        contacts_path=exported.contacts_path,
        treadmill_speed_m_s=opts.treadmill_speed_mps,
        lowpass_hz=VIDEO_LOWPASS_HZ,  # video kinematics: noisier than marker mocap
        ml_pendulum_above_hz=VIDEO_ML_PENDULUM_HZ,  # their ML axis is largely camera depth
    )
    progress("dynamics", 1.0, "done")
    return {
        "grf": res.grf.mot_path,
        "grf_plot": res.grf.plot_path,
        "joint_moments": res.id_sto_path,
        "moments_plot": res.moments_plot_path,
        "dynamics": res.summary_path,
    }


def _dynamics_note(summary_path: Path) -> str:
    s = json.loads(Path(summary_path).read_text())
    f, m = s["pelvis_residual_force_rms_bw"], s["pelvis_residual_moment_rms_nm"]
    return (
        f"dynamics: pelvis residual force {f['without_grf']:.2f} BW without ground reactions -> "
        f"{f['with_estimated_grf']:.3f} BW with the estimated ones (moment "
        f"{m['without_grf']:.0f} -> {m['with_estimated_grf']:.0f} N m); peak vertical GRF "
        f"{s['peak_vertical_grf_bw']['r']:.2f} / {s['peak_vertical_grf_bw']['l']:.2f} BW (r / l)"
    )
