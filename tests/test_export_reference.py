"""Our IK/ID tools and readers reproduce OpenSim's own reference results on its example data."""

from __future__ import annotations

import numpy as np
import pytest

from biomech_export.mot import MotTable, read_mot
from tests.conftest import shared_path

pytest.importorskip("opensim")
pytestmark = pytest.mark.opensim

from biomech_export.tools import run_id, run_ik  # noqa: E402


def rms_by_column(ours: MotTable, ref: MotTable) -> dict[str, float]:
    """RMS difference per reference column, ours interpolated to the reference times."""
    lo, hi = max(ours.time_s[0], ref.time_s[0]), min(ours.time_s[-1], ref.time_s[-1])
    keep = (ref.time_s >= lo - 1e-9) & (ref.time_s <= hi + 1e-9)
    assert keep.sum() > 20
    out = {}
    for label in ref.labels:
        if label not in ours.labels:  # e.g. marker columns in gait2392's reference IK
            continue
        d = np.interp(ref.time_s[keep], ours.time_s, ours.column(label)) - ref.column(label)[keep]
        out[label] = float(np.sqrt(np.mean(d**2)))
    return out


def _rotational(labels, model_translations=("pelvis_tx", "pelvis_ty", "pelvis_tz")):
    return [c for c in labels if c not in model_translations]


def test_gait10dof_ik_and_id(tmp_path):
    root = shared_path("opensim", "gait10dof18musc_subject01")
    model = root / "subject01.osim"
    ik = run_ik(
        model,
        root / "ExperimentalData" / "subject01_walk.trc",
        tmp_path,
        name="walk",
        setup_template=root / "IK" / "walk_Setup_IK.xml",
        time_range_s=(0.0, 2.5),
    )
    assert ik.setup_path.is_file() and ik.log_path.stat().st_size > 0
    ref_ik = read_mot(root / "OutputReference" / "IK" / "subject01_walk_IK.mot")
    err = rms_by_column(read_mot(ik.mot_path), ref_ik)
    worst = max(_rotational(ref_ik.labels), key=err.get)
    print(
        f"gait10dof IK: worst RMS {worst} {err[worst]:.4f} deg; "
        f"marker RMS {ik.marker_rms_m * 1e3:.1f} mm"
    )
    assert all(err[c] < 0.1 for c in _rotational(ref_ik.labels))
    assert all(err[c] < 1e-3 for c in ("pelvis_tx", "pelvis_ty"))
    grf = root / "ExperimentalData"
    ref_id = read_mot(root / "OutputReference" / "ID" / "Results" / "subject01_walk_ID.sto")
    # ID from the reference IK (the setup's coordinates file): the ID tool alone.
    res = run_id(
        model,
        root / "OutputReference" / "IK" / "subject01_walk_IK.mot",
        tmp_path / "id_ref",
        external_loads=grf / "subject01_walk_grf.xml",
        grf_path=grf / "subject01_walk_grf.mot",
        time_range_s=(0.0, 2.5),
        lowpass_hz=6.0,
    )
    err = rms_by_column(read_mot(res.sto_path), ref_id)
    print(f"gait10dof ID from reference IK: max RMS {max(err.values()):.2e}")
    assert max(err.values()) < 1.0
    # The whole chain: our IK output into our ID.
    res = run_id(
        model,
        ik.mot_path,
        tmp_path / "id_ours",
        external_loads=grf / "subject01_walk_grf.xml",
        grf_path=grf / "subject01_walk_grf.mot",
        time_range_s=(0.0, 2.5),
    )
    err = rms_by_column(read_mot(res.sto_path), ref_id)
    moments = [c for c in ref_id.labels if c.endswith("_moment")]
    print("gait10dof ID from our IK: " + ", ".join(f"{c} {err[c]:.2f}" for c in moments))
    assert all(err[c] < 1.0 for c in moments)


def test_gait2392_ik_and_id(tmp_path):
    root = shared_path("opensim", "gait2392_subject01")
    model = root / "OutputReference" / "subject01_simbody.osim"
    ik = run_ik(
        model,
        root / "subject01_walk1.trc",
        tmp_path,
        name="walk1",
        setup_template=root / "subject01_Setup_IK.xml",
        time_range_s=(0.5, 2.5),
    )
    ref_ik = read_mot(root / "OutputReference" / "subject01_walk1_ik.mot")
    err = rms_by_column(read_mot(ik.mot_path), ref_ik)
    rot = _rotational(err)
    assert len(rot) == 20
    worst = max(rot, key=err.get)
    print(
        f"gait2392 IK: worst RMS {worst} {err[worst]:.4f} deg; "
        f"marker RMS {ik.marker_rms_m * 1e3:.1f} mm"
    )
    assert all(err[c] < 0.1 for c in rot)
    # SOURCES.md: the reference ID used the setup folder's IK file, not OutputReference's.
    res = run_id(
        model,
        root / "subject01_walk1_ik.mot",
        tmp_path / "id",
        external_loads=root / "subject01_walk1_grf.xml",
        grf_path=root / "subject01_walk1_grf.mot",
        time_range_s=(0.4, 1.6),
        lowpass_hz=6.0,
    )
    ref_id = read_mot(root / "OutputReference" / "InverseDynamicsOutput.sto")
    err = rms_by_column(read_mot(res.sto_path), ref_id)
    moments = [c for c in ref_id.labels if c.endswith("_moment")]
    worst = max(moments, key=err.get)
    print(f"gait2392 ID: worst moment RMS {worst} {err[worst]:.3f} N m")
    assert all(err[c] < 1.0 for c in moments)
    assert (
        tmp_path / "id" / f"{res.sto_path.stem.removesuffix('_id')}_ExternalLoads.xml"
    ).is_file()
