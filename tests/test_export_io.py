"""Plain-numpy .mot/.trc IO (and C3D through ezc3d), checked against OpenSim's own readers."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest

from biomech_export.mot import MotTable, read_mot, table_to_q_root, write_mot
from biomech_export.trc import TrcData, read_trc, write_trc
from tests.conftest import REPO, shared_path


def _table(rng: np.random.Generator, degrees: bool = True) -> MotTable:
    t = np.arange(25) / 50.0
    return MotTable(
        t,
        ("hip_flexion_r", "knee_angle_r", "pelvis_tx"),
        rng.normal(size=(25, 3)) * 30,
        degrees,
        "test",
    )


def test_mot_round_trip_and_opensim_reads_it(tmp_path):
    tab = _table(np.random.default_rng(0))
    path = write_mot(tmp_path / "a.mot", tab)
    back = read_mot(path)
    assert back.labels == tab.labels and back.in_degrees is True and back.name == "test"
    np.testing.assert_allclose(back.data, tab.data, atol=1e-8)
    opensim = pytest.importorskip("opensim")
    sto = opensim.Storage(str(path))
    assert sto.getSize() == 25 and sto.isInDegrees()
    col = opensim.ArrayDouble()
    sto.getDataColumn("knee_angle_r", col)
    np.testing.assert_allclose(
        [col.get(i) for i in range(col.getSize())], tab.data[:, 1], atol=1e-6
    )


def test_mot_reader_tolerates_spaces_and_reports_units(tmp_path):
    p = tmp_path / "spaces.mot"
    p.write_text("x\nnRows=2\nendheader\ntime  a  b\n0 1 2\n0.1 3 4\n")
    t = read_mot(p)
    assert t.in_degrees is None and t.labels == ("a", "b") and t.data.shape == (2, 2)
    with pytest.raises(ValueError, match="endheader"):
        (tmp_path / "bad.mot").write_text("time\ta\n0\t1\n")
        read_mot(tmp_path / "bad.mot")


def test_degrees_and_radians_give_the_same_q(tmp_path):
    from core import skeleton as sk

    rng = np.random.default_rng(1)
    lo, hi = sk.limits_rad()
    q = rng.uniform(np.maximum(lo, -1), np.minimum(hi, 1), size=(5, sk.N_DOFS))
    labels = sk.DOF_NAMES + sk.ROOT_TRANSLATION_NAMES
    root = rng.normal(size=(5, 3))
    for deg in (True, False):
        data = np.concatenate([np.rad2deg(q) if deg else q, root], axis=1)
        write_mot(tmp_path / "q.mot", MotTable(np.arange(5) / 10, labels, data, deg))
        q2, r2 = table_to_q_root(read_mot(tmp_path / "q.mot"))
        np.testing.assert_allclose(q2, q, atol=1e-7)
        np.testing.assert_allclose(r2, root, atol=1e-7)


def test_trc_round_trip_missing_markers_and_opensim(tmp_path):
    rng = np.random.default_rng(2)
    xyz = rng.normal(size=(12, 4, 3))
    xyz[3, 1] = np.nan  # a missing marker
    data = TrcData(60.0, np.arange(12) / 60.0, ("A", "B", "C.x", "D"), xyz)
    path = write_trc(tmp_path / "m.trc", data)
    back = read_trc(path)
    assert back.marker_names == data.marker_names and back.rate_hz == 60.0
    np.testing.assert_allclose(back.markers_m, xyz, atol=1e-8, equal_nan=True)
    assert np.isnan(back.markers_m[3, 1]).all()
    opensim = pytest.importorskip("opensim")
    table = opensim.TimeSeriesTableVec3(str(path))  # keep `table` alive while using its matrix
    assert table.getNumRows() == 12 and list(table.getColumnLabels()) == list(data.marker_names)
    v = table.getRowAtIndex(5)[2]
    np.testing.assert_allclose([v.get(0), v.get(1), v.get(2)], xyz[5, 2] * 1000.0, atol=1e-3)


def test_reads_rajagopal_double_tab_trc():
    p = shared_path("opensim", "rajagopal_walk_run", "ExpData", "motion_capture_walk.trc")
    d = read_trc(p)
    assert d.rate_hz == 100.0 and d.markers_m.shape == (238, 41, 3)
    assert d.marker_names[:2] == ("R.Shoulder", "L.Shoulder")
    np.testing.assert_allclose(d.markers_m[0, 0], [-0.65263, 1.529542, -0.09452])  # mm -> m


def test_gait2392_reference_files_read():
    root = shared_path("opensim", "gait2392_subject01")
    ik = read_mot(root / "OutputReference" / "subject01_walk1_ik.mot")
    assert "knee_angle_r" in ik.labels and ik.data.shape[0] == 211
    idt = read_mot(root / "OutputReference" / "InverseDynamicsOutput.sto")
    assert idt.in_degrees is False and "knee_angle_r_moment" in idt.labels


def test_c3d_round_trip(tmp_path):
    pytest.importorskip("ezc3d")
    from biomech_export.c3d import read_c3d, write_c3d

    rng = np.random.default_rng(3)
    data = TrcData(
        100.0, np.arange(20) / 100.0, ("LASI", "RASI", "C7"), rng.normal(size=(20, 3, 3))
    )
    back = read_c3d(write_c3d(tmp_path / "m.c3d", data))
    assert back.marker_names == data.marker_names and back.rate_hz == 100.0
    np.testing.assert_allclose(back.markers_m, data.markers_m, atol=1e-5)  # float32 in file


def test_package_imports_without_opensim():
    code = (
        "import sys; import biomech_export.cli, biomech_export.mot, biomech_export.trc, "
        "biomech_export.export, biomech_export.convert, biomech_export.validate, "
        "biomech_export.tools, biomech_export.osim_model; "
        "bad = [m for m in ('opensim', 'torch', 'ezc3d') if m in sys.modules]; "
        "assert not bad, bad"
    )
    subprocess.run([sys.executable, "-c", code], check=True, cwd=REPO)


def test_decimal_point_whatever_the_locale(tmp_path):
    import locale

    old = locale.setlocale(locale.LC_NUMERIC)
    for name in ("de_DE.UTF-8", "de_DE.utf8", "fr_FR.UTF-8"):
        try:
            locale.setlocale(locale.LC_NUMERIC, name)
            break
        except locale.Error:
            continue
    else:
        pytest.skip("no locale with a decimal comma installed")
    try:
        path = write_mot(tmp_path / "a.mot", _table(np.random.default_rng(5)))
        body = path.read_text().split("endheader\n")[1].splitlines()[1]
        assert "," not in body and "." in body
    finally:
        locale.setlocale(locale.LC_NUMERIC, old)
