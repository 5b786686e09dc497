"""`python -m biomech_export` subcommands end to end (real opensim where they need it)."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest

from biomech_export.cli import main
from biomech_export.mot import read_mot, write_mot
from core import skeleton as sk
from core.motion import Motion
from tests.conftest import REPO, shared_path


def test_help_shows_examples(capsys):
    with pytest.raises(SystemExit) as e:
        main(["--help"])
    assert e.value.code == 0
    assert "python -m biomech_export export" in capsys.readouterr().out


def test_user_error_is_one_line_and_nonzero(tmp_path, capsys):
    assert main(["export", str(tmp_path / "missing.motion.npz"), "-o", str(tmp_path)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error:") and "missing.motion.npz" in err[0]
    assert main(["convert", str(tmp_path / "x.fbx"), "-o", str(tmp_path / "y.motion.npz")]) == 2


def test_missing_opensim_names_the_extra():
    code = (
        "import sys; sys.modules['opensim'] = None\n"
        "from biomech_export._opensim import require_opensim\n"
        "try:\n    require_opensim()\nexcept ImportError as e:\n    print(e)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO)
    assert "biomocap[opensim]" in out.stdout


@pytest.mark.opensim
def test_export_then_validate(tmp_path, capsys):
    pytest.importorskip("opensim")
    rng = np.random.default_rng(0)
    lo, hi = sk.limits_rad()
    q = rng.uniform(np.maximum(lo, -1.0), np.minimum(hi, 1.0), size=(10, sk.N_DOFS))
    bodies = np.arange(sk.N_BODIES)
    motion = Motion(
        fps=25.0,
        q_rad=q,
        root_m=np.zeros((10, 3)),
        offsets_m=sk.default_offsets(),
        height_m=1.75,
        mass_kg=70.0,
        marker_names=tuple(f"m{i}" for i in bodies),
        marker_bodies=bodies,
        marker_local_m=np.full((sk.N_BODIES, 3), 0.02),
    )
    motion.save(tmp_path / "walk.motion.npz")
    out = tmp_path / "out"
    assert main(["export", str(tmp_path / "walk.motion.npz"), "-o", str(out), "--c3d"]) == 0
    for f in (
        "walk.osim",
        "walk.mot",
        "walk.trc",
        "walk.c3d",
        "walk_Setup_IK.xml",
        "walk_Setup_ID.xml",
        "README.txt",
    ):
        assert (out / f).is_file(), f
    # the pelvis at Y = 0 puts the feet a metre under the floor: usable, but not plausible
    assert (
        main(["validate", str(out / "walk.osim"), str(out / "walk.mot"), "--no-plausibility"]) == 0
    )
    capsys.readouterr()
    assert main(["validate", str(out / "walk.osim"), str(out / "walk.mot")]) == 1
    assert "feet below the floor" in capsys.readouterr().out
    # Break it: knee beyond its range, a NaN, and radians labelled as degrees.
    tab = read_mot(out / "walk.mot")
    tab.data[2, tab.labels.index("knee_angle_r")] = 170.0
    tab.data[4, tab.labels.index("hip_flexion_l")] = np.nan
    write_mot(out / "bad.mot", tab)
    capsys.readouterr()
    assert main(["validate", str(out / "walk.osim"), str(out / "bad.mot")]) == 1
    text = capsys.readouterr().out
    assert "knee_angle_r" in text and "NaN" in text and "INVALID" in text
    tab = read_mot(out / "walk.mot")
    rot = [i for i, n in enumerate(tab.labels) if n in sk.DOF]
    tab.data[:, rot] = np.deg2rad(tab.data[:, rot])
    write_mot(out / "rad.mot", tab)
    assert main(["validate", str(out / "walk.osim"), str(out / "rad.mot")]) == 1
    assert "looks like radians" in capsys.readouterr().out


def test_convert_gait2392_mot(tmp_path):
    src = shared_path("opensim", "gait2392_subject01", "OutputReference", "subject01_walk1_ik.mot")
    assert (
        main(["convert", str(src), "-o", str(tmp_path / "g.motion.npz"), "--height", "1.8"]) == 0
    )
    m = Motion.load(tmp_path / "g.motion.npz")
    ref = read_mot(src)
    assert m.n_frames == len(ref.time_s) and sk.limit_violations(m.q_rad) == 0
    knee = np.rad2deg(m.q_rad[:, sk.DOF["knee_angle_r"]])
    assert knee.max() > 50  # flexion-negative gait2392 knee became flexion-positive
    hip = np.clip(ref.column("hip_flexion_r"), -45, 135)
    np.testing.assert_allclose(np.rad2deg(m.q_rad[:, sk.DOF["hip_flexion_r"]]), hip, atol=1e-6)
    assert "lumbar_twist" in m.provenance["convert"]["mapped"]


def test_convert_skel_params(tmp_path):
    from core.skel_convert import bsm_to_skel

    rng = np.random.default_rng(4)
    lo, hi = sk.limits_rad()
    q = rng.uniform(np.maximum(lo, -1.0), np.minimum(hi, 1.0), size=(6, sk.N_DOFS))
    np.savez(
        tmp_path / "hsmr.npz", poses=bsm_to_skel(q), trans=np.ones((6, 3)), betas=np.zeros(10)
    )
    assert main(["convert", str(tmp_path / "hsmr.npz"), "-o", str(tmp_path / "h.motion.npz")]) == 0
    m = Motion.load(tmp_path / "h.motion.npz")
    np.testing.assert_allclose(m.q_rad, q, atol=1e-9)
    np.testing.assert_allclose(m.root_m, 1.0)


@pytest.mark.opensim
def test_ik_and_id_subcommands(tmp_path, capsys):
    pytest.importorskip("opensim")
    root = shared_path("opensim", "gait10dof18musc_subject01")
    ik_args = [
        "ik",
        str(root / "subject01.osim"),
        str(root / "ExperimentalData" / "subject01_walk.trc"),
        "-o",
        str(tmp_path),
        "--name",
        "walk",
        "--time-range",
        "0",
        "1",
        "--setup-template",
        str(root / "IK" / "walk_Setup_IK.xml"),
    ]
    assert main(ik_args) == 0
    assert "marker RMS" in capsys.readouterr().out
    mot = read_mot(tmp_path / "walk_ik.mot")
    assert mot.time_s[-1] == pytest.approx(1.0, abs=0.02) and "knee_angle_r" in mot.labels
    grf = root / "ExperimentalData"
    id_args = [
        "id",
        str(root / "subject01.osim"),
        str(tmp_path / "walk_ik.mot"),
        "-o",
        str(tmp_path),
        "--name",
        "walk",
        "--external-loads",
        str(grf / "subject01_walk_grf.xml"),
        "--grf",
        str(grf / "subject01_walk_grf.mot"),
        "--lowpass",
        "6",
    ]
    assert main(id_args) == 0
    sto = read_mot(tmp_path / "walk_id.sto")
    assert np.ptp(sto.column("knee_angle_r_moment")) > 20  # N m: real loads were applied
    for f in (
        "walk_Setup_IK.xml",
        "walk_Setup_ID.xml",
        "walk_ik.log",
        "walk_id.log",
        "walk_ExternalLoads.xml",
    ):
        assert (tmp_path / f).is_file(), f


def test_convert_trc_through_core_ik(tmp_path):
    """Our .trc back to a motion with the core IK (an independent solver from OpenSim's)."""
    pytest.importorskip("torch")
    from biomech_export.export import motion_markers
    from biomech_export.trc import TrcData, write_trc
    from tests.test_export_roundtrip import smooth_motion

    motion = smooth_motion(n_frames=12)
    subject = Motion(
        fps=motion.fps,
        q_rad=motion.q_rad[:1],
        root_m=motion.root_m[:1],
        offsets_m=motion.offsets_m,
        height_m=motion.height_m,
        mass_kg=motion.mass_kg,
        marker_names=motion.marker_names,
        marker_bodies=motion.marker_bodies,
        marker_local_m=motion.marker_local_m,
    )
    subject.save(tmp_path / "subject.motion.npz")
    write_trc(
        tmp_path / "m.trc",
        TrcData(motion.fps, motion.times_s, motion.marker_names, motion_markers(motion)),
    )
    args = [
        "convert",
        str(tmp_path / "m.trc"),
        "-o",
        str(tmp_path / "m.motion.npz"),
        "--subject",
        str(tmp_path / "subject.motion.npz"),
    ]
    assert main(args) == 0
    back = Motion.load(tmp_path / "m.motion.npz")
    err = np.rad2deg(np.sqrt(np.mean((back.q_rad - motion.q_rad) ** 2, axis=0)))
    print(f"trc -> core IK: worst RMS {sk.DOF_NAMES[int(err.argmax())]} {err.max():.3f} deg")
    assert err.max() < 1.0
    assert main(["convert", str(tmp_path / "m.trc"), "-o", str(tmp_path / "x.motion.npz")]) == 2


@pytest.mark.opensim
def test_no_opensim_log_in_working_dir(tmp_path, monkeypatch):
    pytest.importorskip("opensim")
    rng = np.random.default_rng(9)
    bodies = np.arange(sk.N_BODIES)
    motion = Motion(
        fps=25.0,
        q_rad=np.zeros((3, sk.N_DOFS)),
        root_m=rng.normal(size=(3, 3)),
        offsets_m=sk.default_offsets(),
        height_m=1.75,
        mass_kg=70.0,
        marker_names=tuple(f"m{i}" for i in bodies),
        marker_bodies=bodies,
        marker_local_m=np.full((sk.N_BODIES, 3), 0.05),
    )
    motion.save(tmp_path / "a.motion.npz")
    work = tmp_path / "cwd"
    work.mkdir()
    monkeypatch.chdir(work)
    assert main(["export", str(tmp_path / "a.motion.npz"), "-o", str(tmp_path / "out")]) == 0
    assert (
        main(
            [
                "ik",
                str(tmp_path / "out" / "a.osim"),
                str(tmp_path / "out" / "a.trc"),
                "-o",
                str(tmp_path / "ik"),
            ]
        )
        == 0
    )
    assert list(work.iterdir()) == []
    assert (tmp_path / "ik" / "a_ik.log").stat().st_size > 0


@pytest.mark.opensim
def test_validate_opensim_example_files(capsys):
    pytest.importorskip("opensim")
    root = shared_path("opensim", "gait2392_subject01")
    model = str(root / "OutputReference" / "subject01_simbody.osim")
    assert main(["validate", model, str(root / "subject01_walk1_ik.mot")]) == 0
    # OutputReference's IK is a SIMM file without inDegrees: OpenSim would read radians.
    assert main(["validate", model, str(root / "OutputReference" / "subject01_walk1_ik.mot")]) == 1
    assert "looks like degrees" in capsys.readouterr().out
