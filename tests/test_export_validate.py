"""`validate` checks plausibility, not only ranges: steps between frames, the root's speed and
acceleration, feet under the floor (Y = 0), residual forces of inverse dynamics. Real OpenSim
on OpenSim's own gait2392 example (a clean motion) and on copies broken on purpose."""

from __future__ import annotations

import pytest

from biomech_export.mot import read_mot, write_mot
from tests.conftest import shared_path

pytest.importorskip("opensim")
pytestmark = pytest.mark.opensim

from biomech_export.cli import main  # noqa: E402
from biomech_export.validate import validate_files  # noqa: E402


@pytest.fixture(scope="module")
def gait2392():
    root = shared_path("opensim", "gait2392_subject01")
    return (
        root / "OutputReference" / "subject01_simbody.osim",
        root / "subject01_walk1_ik.mot",
        root / "subject01_walk1_grf.xml",
    )


def test_clean_walk_passes_with_and_without_grf(gait2392):
    model, mot, grf = gait2392
    rep = validate_files(model, mot)
    assert rep.ok, rep.problems
    # without GRF the pelvis must carry the body: about 1 body weight, never 5
    assert 0.8 < rep.residual_peak_bw < 2.0
    rep = validate_files(model, mot, external_loads=grf)
    assert rep.ok, rep.problems
    assert rep.residual_peak_bw < 0.5  # measured 0.17 where the force plates have data


def test_a_300_degree_step_fails_naming_frame_coordinate_and_size(gait2392, tmp_path, capsys):
    model, mot, _ = gait2392
    tab = read_mot(mot)
    j = tab.labels.index("pelvis_rotation")
    tab.data[100:, j] += 300.0  # a wrap-around as a careless unwrap leaves it
    write_mot(tmp_path / "step.mot", tab)
    assert main(["validate", str(model), str(tmp_path / "step.mot")]) == 1
    out = capsys.readouterr().out
    line = next(x for x in out.splitlines() if x.startswith("problem: pelvis_rotation"))
    step = float(line.split("largest ")[1].split(" deg")[0])
    assert "frame 99" in line and abs(step - 300.0) < 5.0, line  # 300 + the walk's own step
    # and the residual check sees what OpenSim would do with it
    assert "residual force" in out and "INVALID" in out


def test_half_a_metre_under_the_floor_fails(gait2392, tmp_path, capsys):
    model, mot, _ = gait2392
    tab = read_mot(mot)
    tab.data[:, tab.labels.index("pelvis_ty")] -= 0.5
    write_mot(tmp_path / "sunk.mot", tab)
    assert main(["validate", str(model), str(tmp_path / "sunk.mot")]) == 1
    line = next(x for x in capsys.readouterr().out.splitlines() if "below the floor" in x)
    assert "211 frame(s)" in line
    depth = float(line.split("at Y = ")[1].split()[0])
    assert -0.6 < depth < -0.4, line  # the markers' own depth, independent of the shift


def test_root_speed_and_acceleration(gait2392, tmp_path):
    model, mot, _ = gait2392
    tab = read_mot(mot)
    tab.data[150, tab.labels.index("pelvis_tx")] += 1.0  # one frame 1 m off: a teleport
    write_mot(tmp_path / "jump.mot", tab)
    rep = validate_files(model, tmp_path / "jump.mot")
    text = "\n".join(rep.problems)
    assert "root speed" in text and "root acceleration" in text and "at frame 150" in text
