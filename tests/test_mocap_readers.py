"""Readers for the CMU conventions (CMU, cgspeed, Daz-friendly BVH; ASF/AMC), checked against
each other on takes that exist in two formats, and their bad-input messages."""

from __future__ import annotations

import numpy as np
import pytest

from core import skeleton as sk
from core.mocap import asf_amc
from core.mocap.track import find_convention, load_track
from tests.conftest import shared_path

CMU_M = 0.0254 / 0.45  # metres per CMU ASF unit


@pytest.mark.parametrize(
    ("rel", "naming"),
    [
        (("mocap", "cmu", "01_01.bvh"), "cmu"),
        (("mocap", "cmu", "131_01.bvh"), "cgspeed"),
        (("mocap", "cmu_more", "subjects", "07_01.bvh"), "daz"),
        (("mocap", "cmu_more", "subjects", "16_01.bvh"), "asf"),  # BVH keeping ASF names
        (("mocap", "cmu", "11_01.amc"), "asf"),
    ],
)
def test_every_convention_is_recognised(rel, naming):
    track = load_track(shared_path(*rel), target_fps=30, max_frames=3)
    roles = find_convention(track)
    assert roles.convention.name == naming
    assert track.n_frames == 3 and abs(1 / track.frame_time_s - 30) < 0.5
    # Y is up in every convention: the head is above both ankles in the rest pose.
    head = roles.point(track, "head", rest=True)[1]
    assert head > roles.point(track, "foot_l", rest=True)[1]
    assert head > roles.point(track, "foot_r", rest=True)[1]


def test_amc_reader_matches_cmu_bvh_of_the_same_take():
    """01_01 exists as ASF/AMC and as CMU's own BVH conversion (made by another program, with
    one extra rest frame at the start): the hip, knee, ankle, toe and thorax centres must
    coincide frame by frame."""
    a = load_track(shared_path("mocap", "cmu", "01_01.bvh"), max_frames=241)
    b = load_track(shared_path("mocap", "cmu", "01_01.amc"), max_frames=240)
    ra, rb = find_convention(a), find_convention(b)
    assert (ra.convention.name, rb.convention.name) == ("cmu", "asf")
    assert b.unit_m == pytest.approx(CMU_M) and abs(1 / b.frame_time_s - 120) < 1e-6
    for role in ("hips", "upleg_l", "leg_l", "foot_r", "toe_r", "spine1", "toe_end_l"):
        d = CMU_M * np.linalg.norm(ra.point(a, role)[1:] - rb.point(b, role), axis=-1)
        assert d.max() < 1e-4, (role, d.max())  # measured 0.005 mm (the BVH's 6 decimals)
    # Rigid bones: the AMC thigh keeps the ASF length in every frame.
    skel = asf_amc.read_asf(shared_path("mocap", "cmu", "01.asf"))
    thigh = np.linalg.norm(rb.point(b, "leg_l") - rb.point(b, "upleg_l"), axis=-1)
    np.testing.assert_allclose(thigh, skel.bones[skel.index("lfemur")].length, rtol=1e-9)


def _bvh(tmp_path, hierarchy: str, motion: str = "Frames: 1\nFrame Time: 0.0333\n0 0 0 0 0 0\n"):
    p = tmp_path / "x.bvh"
    p.write_text(f"HIERARCHY\n{hierarchy}\nMOTION\n{motion}")
    return p


ONE_JOINT = "ROOT Foo\n{\n OFFSET 0 0 0\n CHANNELS 6 Xposition Yposition Zposition Zrotation Xrotation Yrotation\n}"


def test_bvh_structure_errors(tmp_path):
    from core.bvh import read_bvh

    with pytest.raises(ValueError, match="unbalanced braces"):
        read_bvh(_bvh(tmp_path, ONE_JOINT + "\n}"))
    with pytest.raises(ValueError, match="not closed"):
        read_bvh(_bvh(tmp_path, ONE_JOINT[:-1]))
    with pytest.raises(ValueError, match="Frame Time must be a positive"):
        read_bvh(_bvh(tmp_path, ONE_JOINT, "Frames: 1\nFrame Time: 0\n0 0 0 0 0 0\n"))
    with pytest.raises(ValueError, match="expected 2 frames x 6 channels"):
        read_bvh(_bvh(tmp_path, ONE_JOINT, "Frames: 2\nFrame Time: 0.01\n0 0 0 0 0 0\n"))
    with pytest.raises(ValueError, match="unknown channel"):
        read_bvh(_bvh(tmp_path, ONE_JOINT.replace("Yrotation", "Wobble")))
    with pytest.raises(ValueError, match="ends early"):
        read_bvh(_bvh(tmp_path, ONE_JOINT, "Frames: 1\n"))


def test_unknown_naming_names_joints_and_conventions(tmp_path, capsys):
    from core.cli import main

    p = _bvh(tmp_path, ONE_JOINT)
    with pytest.raises(ValueError) as e:
        find_convention(load_track(p))
    msg = str(e.value)
    assert "joints found: Foo" in msg and "\n" not in msg
    for label in ("CMU (Hips, LeftUpLeg", "cgspeed (Hips, LeftHip", "Daz-friendly (hip, lThigh"):
        assert label in msg
    assert "ASF/AMC" in msg
    # The CLI says it in one line, exits non-zero and writes nothing.
    out = tmp_path / "o.motion.npz"
    assert main(["retarget-bvh", str(p), "-o", str(out)]) != 0
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error:") and "unknown skeleton naming" in err[0]
    assert not out.exists()


def test_asf_amc_errors(tmp_path):
    asf = shared_path("mocap", "cmu", "11.asf")
    amc = tmp_path / "11_01.amc"
    amc.write_text(":FULLY-SPECIFIED\n:DEGREES\n1\nroot 0 0 0 0 0 0\nlfemur 1 2 3\n")
    with pytest.raises(FileNotFoundError, match="no ASF skeleton"):
        load_track(amc)
    (tmp_path / "11.asf").write_text(asf.read_text())
    track = load_track(amc)
    assert track.n_frames == 1 and track.format == "asf/amc"
    amc.write_text("1\nroot 0 0 0 0 0 0\nwing 1 2 3\n")
    with pytest.raises(ValueError, match="bone 'wing' is not in the ASF"):
        load_track(amc)
    amc.write_text("1\nroot 0 0 0 0 0 0\nlfemur 1 2\n")
    with pytest.raises(ValueError, match="lfemur has 2 values, the ASF says 3"):
        load_track(amc)
    (tmp_path / "11.asf").write_text(":bonedata\n begin\n name a\n length x\n end\n")
    with pytest.raises(ValueError, match="malformed ASF"):
        load_track(amc)


@pytest.mark.slow
def test_retarget_agrees_across_formats():
    """Joint angles of the same take read from two formats. CMU BVH vs AMC (01_01): within a
    few degrees. Daz-friendly BVH vs AMC (02_01): the knee and elbow biases of the Daz rest pose
    (+8 and +17 deg before straightening) are gone."""
    from core.bvh import retarget_bvh

    def q(*rel, n=45):
        m, rep = retarget_bvh(shared_path(*rel), target_fps=30, max_frames=n)
        assert sk.limit_violations(m.q_rad) == 0
        return np.rad2deg(m.q_rad), rep

    a, _ = q("mocap", "cmu", "01_01.bvh")
    b, rep = q("mocap", "cmu", "01_01.amc")
    assert rep.convention == "asf" and max(rep.error_mean_mm.values()) < 15
    for name in ("hip_flexion_r", "knee_angle_r", "knee_angle_l", "ankle_angle_l"):
        assert np.abs(a[:, sk.DOF[name]] - b[:, sk.DOF[name]]).mean() < 3.0, name
    c, rep = q("mocap", "cmu_more", "subjects", "02_01.bvh")
    d, _ = q("mocap", "cmu_more", "asfamc", "02", "02_01.amc")
    assert rep.convention == "daz" and rep.unit == "cm"
    for name in ("knee_angle_r", "knee_angle_l", "elbow_flexion_r", "elbow_flexion_l"):
        bias = (c[:, sk.DOF[name]] - d[:, sk.DOF[name]]).mean()
        assert abs(bias) < 4.0, (name, bias)  # measured within 1.1 deg
