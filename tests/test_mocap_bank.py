"""The real-motion bank: which takes go in, a small build end to end, refusal of held-out takes."""

from __future__ import annotations

import json

import numpy as np
import pytest

from core import skeleton as sk
from core.mocap import bank
from core.mocap.holdout import HeldOutClipError, clip_id, is_held_out


def test_sources_count_each_take_once_and_skip_held_out(shared_data):
    sources, pairs = bank.bank_sources(shared_data)
    ids = [clip_id(p) for p in sources]
    assert len(ids) == len(set(ids))
    assert not any(is_held_out(p) for p in sources)
    assert {"01_01", "11_01", "salsa_01", "martial_03", "16_01"} <= set(ids)
    by_id = dict(zip(ids, sources, strict=True))
    # Takes in both formats come from the AMC (the subject's own skeleton).
    for take in ("01_01", "02_01", "02_04", "03_02"):
        assert by_id[take].suffix == ".amc", take
    assert sorted(clip_id(a) for a, _ in pairs) == [
        "02_01", "02_02", "02_03", "02_04", "03_01", "03_02"
    ]  # fmt: skip
    assert all(a.suffix == ".bvh" and b.suffix == ".amc" for a, b in pairs)


@pytest.fixture
def tiny_shared(shared_data, tmp_path):
    """A shared-data tree with one take in both formats, one Daz-only take and a held-out one."""
    more = shared_data / "mocap" / "cmu_more"
    root = tmp_path / "shared"
    (root / "mocap" / "cmu_more" / "subjects").mkdir(parents=True)
    (root / "mocap" / "cmu_more" / "asfamc" / "02").mkdir(parents=True)
    for rel in ("subjects/02_03.bvh", "subjects/09_01.bvh", "subjects/09_05.bvh",
                "asfamc/02/02.asf", "asfamc/02/02_03.amc"):  # fmt: skip
        (root / "mocap" / "cmu_more" / rel).symlink_to(more / rel)
    return root


def test_small_bank_build_and_load(tiny_shared, tmp_path):
    folder = tmp_path / "bank"
    index = bank.build_bank(tiny_shared, folder, fps=10.0)
    assert [m["clip"] for m in index["clips"]] == ["02_03", "09_01"]  # 09_05 is held out
    assert [m["naming"] for m in index["clips"]] == ["asf", "daz"]
    assert index["skeleton_convention"] == getattr(sk, "SKELETON_CONVENTION", 1)
    assert index["convention"] == bank.DEFAULT_CONVENTION == "amc"
    daz = index["daz_correction"]
    assert len(daz["bias_rad"]) == sk.N_DOFS and daz["bias_rad"][sk.DOF["pelvis_rotation"]] == 0
    for m in index["clips"]:
        assert m["limit_violations"] == 0 and m["error_mean_mm"] < 20, m
    clips = bank.load_bank(folder)
    assert [c.clip for c in clips] == ["02_03", "09_01"]
    for c in clips:
        assert c.fps == 30.0 and sk.limit_violations(c.q_rad) == 0
    # Resampled from 10 to 30 fps: about 3x the retargeted frames, same duration.
    n10 = {m["clip"]: m["n_frames"] for m in index["clips"]}
    for c in clips:
        assert abs(len(c.q_rad) - 3 * (n10[c.clip] - 1) - 1) <= 1
    # A second build reuses every take (nothing stale) and gives the same bank.
    again = bank.build_bank(tiny_shared, folder, fps=10.0)
    assert [m["key"] for m in again["clips"]] == [m["key"] for m in index["clips"]]
    np.testing.assert_array_equal(bank.load_bank(folder)[1].q_rad, clips[1].q_rad)
    # An index naming a held-out take is refused at load time (training never sees it).
    idx = json.loads((folder / "bank.json").read_text())
    idx["clips"][0]["clip"] = "09_05"
    (folder / "bank.json").write_text(json.dumps(idx))
    with pytest.raises(HeldOutClipError, match="09_05"):
        bank.load_bank(folder)


def test_bank_cli_errors(tmp_path, capsys):
    assert bank.main(["report", "--bank", str(tmp_path / "none")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error:") and "core.mocap.bank build" in err[0]
    assert bank.main(["build", "--shared-data", str(tmp_path), "--bank", str(tmp_path / "b")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "no mocap folder" in err[0]
    assert bank.main(["convention", "--bank", str(tmp_path / "none")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error:") and "core.mocap.bank build" in err[0]


def _hand_made_bank(folder, convention):
    """Two 2-s takes at 30 fps (one AMC, one Daz-friendly) with a known bias in the index."""
    (folder / "clips").mkdir(parents=True)
    q = np.zeros((60, sk.N_DOFS))
    q[:, sk.DOF["knee_angle_r"]] = 0.5
    bias = np.zeros(sk.N_DOFS)
    for name, deg in (("ankle_angle_r", -12.0), ("hip_flexion_r", 10.0), ("mtp_angle_r", 14.0),
                      ("pelvis_rotation", 30.0)):  # fmt: skip
        bias[sk.DOF[name]] = np.deg2rad(deg)
    clips = []
    for cid, naming in (("02_01", "asf"), ("09_01", "daz")):
        np.savez(folder / "clips" / f"{cid}.npz", q_rad=q, frame_error_mm=np.zeros(60))
        clips.append({"clip": cid, "naming": naming, "fps": 30.0, "source": f"{cid}.x"})
    index = {"fps": 30.0, "skeleton_convention": sk.SKELETON_CONVENTION, "clips": clips,
             "daz_correction": {"bias_rad": bias.tolist()}}  # fmt: skip
    if convention:
        index["convention"] = convention
    (folder / "bank.json").write_text(json.dumps(index))
    return q


def test_load_bank_puts_every_take_into_one_convention(tmp_path):
    """``daz``: Daz-friendly minus AMC is added to the toe-joint takes, Daz-friendly takes stay
    as retargeted. ``amc`` (the default, and an index without the field): the Daz-friendly takes
    are moved toward AMC. Heading and MTP are never shifted."""
    q = _hand_made_bank(tmp_path / "new", "daz")
    amc, daz = bank.load_bank(tmp_path / "new")
    shift = np.rad2deg(amc.q_rad - q).mean(0)
    assert shift[sk.DOF["ankle_angle_r"]] == pytest.approx(-12.0)
    assert shift[sk.DOF["hip_flexion_r"]] == pytest.approx(10.0)
    for name in ("mtp_angle_r", "pelvis_rotation", "knee_angle_r"):
        assert shift[sk.DOF[name]] == pytest.approx(0.0, abs=1e-9), name
    np.testing.assert_array_equal(daz.q_rad, q)
    for name, convention in (("amc", "amc"), ("old", None)):
        q = _hand_made_bank(tmp_path / name, convention)
        amc, daz = bank.load_bank(tmp_path / name)
        np.testing.assert_array_equal(amc.q_rad, q)
        shift = np.rad2deg(daz.q_rad - q).mean(0)
        assert shift[sk.DOF["ankle_angle_r"]] == pytest.approx(12.0)
        assert shift[sk.DOF["hip_flexion_r"]] == pytest.approx(-10.0)
        assert shift[sk.DOF["mtp_angle_r"]] == pytest.approx(0.0, abs=1e-9)


def test_bank_build_refuses_an_unknown_convention(tmp_path, capsys):
    with pytest.raises(SystemExit) as exit_:
        bank.main(["build", "--bank", str(tmp_path / "b"), "--convention", "smpl"])
    assert exit_.value.code == 2
    assert "invalid choice: 'smpl'" in capsys.readouterr().err
    with pytest.raises(ValueError, match="unknown bank convention 'smpl'"):
        bank.build_bank(tmp_path, tmp_path / "b", convention="smpl")


def test_to_convention_moves_only_the_other_sources_and_stays_in_limits():
    """A Daz-friendly take goes toward AMC by the measured mean (an AMC or toe-joint take stays
    as it is), and the other way round for the ``daz`` convention; heading and MTP never move,
    and a shifted angle is clipped to its limits as the bank does."""
    bias = np.zeros(sk.N_DOFS)
    bias[sk.DOF["ankle_angle_r"]] = np.deg2rad(-12.0)
    bias[sk.DOF["hip_flexion_r"]] = np.deg2rad(10.0)
    bias[sk.DOF["pelvis_rotation"]] = np.deg2rad(30.0)
    q = np.zeros((4, sk.N_DOFS))
    lo, _ = sk.limits_rad()
    q[3, sk.DOF["hip_flexion_r"]] = lo[sk.DOF["hip_flexion_r"]] + np.deg2rad(2.0)
    to_amc = bank.to_convention(q, "daz", bias, "amc")
    shift = np.rad2deg(to_amc - q)
    assert shift[0, sk.DOF["ankle_angle_r"]] == pytest.approx(12.0)
    assert shift[0, sk.DOF["hip_flexion_r"]] == pytest.approx(-10.0)
    assert shift[3, sk.DOF["hip_flexion_r"]] == pytest.approx(-2.0)  # clipped at the limit
    assert np.all(shift[:, sk.DOF["pelvis_rotation"]] == 0.0)
    assert sk.limit_violations(to_amc) == 0
    for naming in ("asf", "cgspeed", "cmu"):
        np.testing.assert_array_equal(bank.to_convention(q, naming, bias, "amc"), q)
    np.testing.assert_array_equal(bank.to_convention(q, "daz", bias, "daz"), q)
    to_daz = bank.to_convention(q, "asf", bias, "daz")
    assert np.rad2deg(to_daz - q)[0, sk.DOF["ankle_angle_r"]] == pytest.approx(-12.0)
    with pytest.raises(ValueError, match="unknown bank convention 'smpl'"):
        bank.to_convention(q, "daz", bias, "smpl")


def test_shipped_convention_file_is_the_bank_s_measurement(tmp_path, monkeypatch):
    """``bank_convention`` reads the built bank where there is one and the shipped
    ``convention.json`` otherwise; ``convention`` writes that file from the bank, so the two
    agree. Where this machine has the bank built, the shipped file matches it."""
    q = _hand_made_bank(tmp_path / "b", "amc")
    assert q.shape[1] == sk.N_DOFS
    out = bank.write_convention_file(tmp_path / "b", tmp_path / "convention.json")
    data = json.loads(out.read_text())
    assert data["convention"] == "amc"
    assert data["daz_minus_amc_deg"]["ankle_angle_r"] == pytest.approx(-12.0)
    from_bank, conv, where = bank.bank_convention(tmp_path / "b")
    monkeypatch.setattr(bank, "CONVENTION_FILE", out)
    from_file, conv2, where2 = bank.bank_convention(tmp_path / "no-bank")
    assert conv == conv2 == "amc" and where.endswith("bank.json") and where2 == str(out)
    np.testing.assert_allclose(from_file, from_bank, atol=np.deg2rad(1e-3))
    monkeypatch.setattr(bank, "CONVENTION_FILE", tmp_path / "missing.json")
    with pytest.raises(FileNotFoundError, match="python -m core.mocap.bank build"):
        bank.bank_convention(tmp_path / "no-bank")
    monkeypatch.undo()
    if (bank.DEFAULT_BANK / "bank.json").is_file():
        built, c_built, _ = bank.bank_convention()
        shipped = json.loads(bank.CONVENTION_FILE.read_text())
        assert shipped["convention"] == c_built
        deg = np.array([shipped["daz_minus_amc_deg"][n] for n in sk.DOF_NAMES])
        np.testing.assert_allclose(deg, np.rad2deg(built), atol=1e-3)
