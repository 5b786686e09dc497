"""The real gait2392 walking trial on a BSM-46 model of that subject: our IK + ID against
OpenSim's reference inverse dynamics (hip, knee, ankle sagittal moments)."""

from __future__ import annotations

import numpy as np
import pytest

from biomech_export.compare import compare_columns, plot_comparison
from biomech_export.mot import MotTable, read_mot
from tests.conftest import shared_path

pytest.importorskip("opensim")
pytestmark = pytest.mark.opensim

from biomech_export.from_osim import subject_from_osim  # noqa: E402
from biomech_export.osim_model import write_osim  # noqa: E402
from biomech_export.tools import run_id, run_ik  # noqa: E402


def test_gait2392_walk_on_bsm46(tmp_path):
    root = shared_path("opensim", "gait2392_subject01")
    subject = subject_from_osim(root / "OutputReference" / "subject01_simbody.osim")
    assert subject.mass_kg == pytest.approx(72.6) and not subject.unmapped_markers
    model = write_osim(subject.motion, tmp_path / "subject01_bsm46.osim").osim_path
    ik = run_ik(
        model,
        root / "subject01_walk1.trc",
        tmp_path,
        name="walk1",
        setup_template=root / "subject01_Setup_IK.xml",
        time_range_s=(0.0, 2.5),
    )
    id_ = run_id(
        model,
        ik.mot_path,
        tmp_path,
        name="walk1",
        external_loads=root / "subject01_walk1_grf.xml",
        grf_path=root / "subject01_walk1_grf.mot",
        time_range_s=(0.4, 1.6),
    )
    ref = read_mot(root / "OutputReference" / "InverseDynamicsOutput.sto")
    # The reference's coordinates start at 0.5 s: before that its ID is extrapolated.
    keep = ref.time_s >= 0.5
    ref = MotTable(ref.time_s[keep], ref.labels, ref.data[keep], ref.in_degrees)
    # gait2392's knee flexes negative about +Z; BSM-46's knee flexes positive.
    pairs = [
        (f"{j}_{s}_moment", f"{j}_{s}_moment", -1.0 if j == "knee_angle" else 1.0)
        for s in "rl"
        for j in ("hip_flexion", "knee_angle", "ankle_angle")
    ]
    rows = compare_columns(read_mot(id_.sto_path), ref, pairs)
    print(
        f"gait2392 walk on BSM-46 ({subject.mass_kg:.1f} kg, {subject.height_m:.2f} m), "
        f"IK marker RMS {ik.marker_rms_m * 1e3:.1f} mm:"
    )
    for r in rows:
        print(
            f"  {r.reference}: RMS {r.rms:.2f} N m, r = {r.correlation:.3f} "
            f"(reference range {r.reference_range:.0f} N m)"
        )
    png = plot_comparison(
        rows, tmp_path / "moments.png", title="gait2392 walk: BSM-46 vs reference"
    )
    assert png.stat().st_size > 10_000
    assert all(r.correlation > 0.95 for r in rows)
    assert all(r.rms < 0.1 * r.reference_range for r in rows)
    # The angles themselves, against the reference IK (different model, same markers).
    ik_rows = compare_columns(
        read_mot(ik.mot_path),
        read_mot(root / "OutputReference" / "subject01_walk1_ik.mot"),
        [
            (f"{j}_{s}", f"{j}_{s}", -1.0 if j == "knee_angle" else 1.0)
            for s in "rl"
            for j in ("hip_flexion", "knee_angle", "ankle_angle")
        ],
    )
    print("  angles vs reference IK: " + ", ".join(f"{r.ours} {r.rms:.2f} deg" for r in ik_rows))
    assert all(r.rms < 3.0 for r in ik_rows)
    assert np.isfinite([r.rms for r in rows]).all()
