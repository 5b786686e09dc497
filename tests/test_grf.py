"""GRF from kinematics alone (biomech_export.dynamics, `grf` and `id --estimate-grf`).

Known answers: a static pose must be carried by exactly m g (OpenSim's total mass), split
equally between two symmetric feet and wholly by the standing foot when the other is lifted,
with the total centre of pressure under OpenSim's centre of mass. Against real force plates:
OpenSim's gait2392 walk (reference scaled model and IK, treadmill). Bad inputs: one error line.
"""

from __future__ import annotations

import numpy as np
import pytest

from biomech_export.cli import main
from biomech_export.mot import MotTable, read_mot, write_mot
from tests.conftest import shared_path

pytestmark = pytest.mark.opensim
osim = pytest.importorskip("opensim")

G2392 = ("opensim", "gait2392_subject01")


_IK_CACHE: dict[str, object] = {}


def _gait2392():
    """(model, reference IK coordinates, force plates). OpenSim's reference IK file also holds
    marker and force columns (some named twice); its coordinates are taken with OpenSim's own
    reader into a plain .mot once per session."""
    d = shared_path(*G2392)
    model = d / "OutputReference" / "subject01_simbody.osim"
    if "ik" not in _IK_CACHE:
        import atexit
        import shutil
        import tempfile
        from pathlib import Path

        table = osim.TimeSeriesTable(str(d / "OutputReference" / "subject01_walk1_ik.mot"))
        names = list(table.getColumnLabels())
        m = osim.Model(str(model))  # keep the model alive while its coordinate set is used
        keep = [n for n in names if m.getCoordinateSet().contains(n)]
        data = np.array(table.getMatrix().to_numpy())  # copy while the table lives
        cols = data[:, [names.index(n) for n in keep]]
        times = np.array(table.getIndependentColumn())
        out = Path(tempfile.mkdtemp(prefix="biomocap_grf_test_")) / "subject01_walk1_ik.mot"
        atexit.register(shutil.rmtree, out.parent, ignore_errors=True)
        write_mot(out, MotTable(times, tuple(keep), cols, True, "walk1"))
        _IK_CACHE["ik"] = out
    return model, _IK_CACHE["ik"], d / "subject01_walk1_grf.mot"


PLATE_PREFIX = {"r": "", "l": "1_"}  # gait2392's force columns per foot


def _plate(g, t, side, axis="y"):
    """The gait2392 plate force of one foot (N), component ``axis``, at times ``t``."""
    return np.interp(t, g.time_s, g.column(f"{PLATE_PREFIX[side]}ground_force_v{axis}"))


def _plate_contacts(g, t, tmp_path):
    """A contacts file (heel and toe of each foot) that is 1 where that foot's plate carries
    more than 20 N, at times ``t``: the plates' own contact periods, as a capture writes them.
    Returns the file and each foot's on-plate mask."""
    on = {s: _plate(g, t, s) > 20.0 for s in "rl"}
    prob = np.stack([on["r"], on["r"], on["l"], on["l"]], axis=1).astype(float)
    cont = tmp_path / "walk_contacts.sto"
    write_mot(cont, MotTable(t, ("heel_r", "toe_r", "heel_l", "toe_l"), prob, False))
    return cont, on


def _static_pose(model_path, tmp_path, name, values_deg, n=40, fps=50.0):
    """A .mot holding one pose still, lowered so that its lowest foot point touches Y = 0;
    returns (path, total mass, centre of mass in ground)."""
    model = osim.Model(str(model_path))
    state = model.initSystem()
    coords = model.getCoordinateSet()
    for k, v in values_deg.items():
        coords.get(k).setValue(state, np.deg2rad(v), False)
    model.realizePosition(state)
    bodies = model.getBodySet()
    low = min(
        bodies.get(b).findStationLocationInGround(state, osim.Vec3(*p)).get(1)
        for b, p in (
            ("calcn_r", (0, 0, 0)),
            ("calcn_l", (0, 0, 0)),
            ("toes_r", (0.05, 0, 0)),
            ("toes_l", (0.05, 0, 0)),
        )
    )
    ty = coords.get("pelvis_ty")
    ty.setValue(state, ty.getValue(state) - low, False)
    model.realizePosition(state)
    com = model.calcMassCenterPosition(state).to_numpy()
    names, row = [], []
    for i in range(coords.getSize()):
        c = coords.get(i)
        names.append(c.getName())
        v = c.getValue(state)
        row.append(np.rad2deg(v) if c.getMotionType() == 1 else v)
    t = np.arange(n) / fps
    path = tmp_path / f"{name}.mot"
    write_mot(path, MotTable(t, tuple(names), np.tile(row, (n, 1)), True, name))
    return path, model.getTotalMass(state), com


def test_bouncing_bsm46_body_known_force(tmp_path):
    """No reference data needed: our exported model (BSM-46, anatomical neutral) bounced
    rigidly up and down by 1 cm at 1 Hz needs exactly F_y = m (g - A w^2 sin wt) from the
    floor (Newton), shared equally by its two symmetric feet. The 6 Hz filter passes 1 Hz to
    within 0.1 %, so the bound is 0.5 % of body weight."""
    from biomech_export.dynamics import estimate_loads
    from biomech_export.export import export_motion
    from core import skeleton as sk
    from core.motion import Motion

    fps, n, amp, omega = 100.0, 200, 0.01, 2 * np.pi
    t = np.arange(n) / fps
    root = np.stack([np.zeros(n), 1.0 + amp * np.sin(omega * t), np.zeros(n)], axis=1)
    motion = Motion(
        fps=fps,
        q_rad=np.zeros((n, sk.N_DOFS)),
        root_m=root,
        offsets_m=sk.default_offsets(1.7),
        height_m=1.7,
        mass_kg=65.0,
        marker_names=(),
        marker_bodies=np.zeros(0, int),
        marker_local_m=np.zeros((0, 3)),
    )
    res = export_motion(motion, tmp_path / "bounce", name="bounce", setups=False)
    est = estimate_loads(res.osim_path, res.mot_path)
    assert est.mass_kg == pytest.approx(65.0, rel=1e-6)
    mid = slice(20, -20)  # away from the filter's ends
    f = est.loads.force_n
    expected = est.mass_kg * (9.80665 - amp * omega**2 * np.sin(omega * t))
    total = f["r"][mid, 1] + f["l"][mid, 1]
    assert np.abs(total - expected[mid]).max() < 0.005 * est.weight_n
    np.testing.assert_allclose(f["r"][mid, 1], f["l"][mid, 1], rtol=1e-3)


def test_static_standing_is_carried_by_mg_split_by_symmetry(tmp_path):
    from biomech_export.dynamics import estimate_loads

    model_path, _, _ = _gait2392()
    mot, mass, com = _static_pose(model_path, tmp_path, "stand", {})
    est = estimate_loads(model_path, mot)
    mg = mass * 9.80665
    f = est.loads.force_n
    mid = slice(10, -10)  # away from the filter's ends
    total = f["r"][mid] + f["l"][mid]
    np.testing.assert_allclose(total[:, 1], mg, rtol=1e-3)
    assert np.abs(total[:, [0, 2]]).max() < 1e-3 * mg
    # the model is left-right symmetric: each foot carries half
    np.testing.assert_allclose(f["r"][mid, 1], mg / 2, rtol=0.02)
    # total centre of pressure under OpenSim's centre of mass (static equilibrium)
    w = est.wrench
    cop_x = w.moment_o_nm[mid, 2] / w.force_n[mid, 1]
    cop_z = -w.moment_o_nm[mid, 0] / w.force_n[mid, 1]
    np.testing.assert_allclose(cop_x, com[0], atol=1e-3)
    np.testing.assert_allclose(cop_z, com[2], atol=1e-3)


def test_static_one_foot_lifted_standing_foot_carries_all(tmp_path):
    from biomech_export.dynamics import estimate_loads

    model_path, _, _ = _gait2392()
    mot, mass, _ = _static_pose(
        model_path, tmp_path, "flamingo", {"hip_flexion_l": 60, "knee_angle_l": -45}
    )
    est = estimate_loads(model_path, mot)
    mg = mass * 9.80665
    f = est.loads.force_n
    np.testing.assert_allclose(f["r"][10:-10, 1], mg, rtol=1e-3)
    assert np.abs(f["l"]).max() < 1e-6 * mg
    assert est.contacts.foot("l").max() < 0.01


def test_gait2392_walk_against_force_plates():
    """Treadmill walk, reference IK: measured 3.5/3.4 % BW vertical RMSE per foot, 3.9 total,
    AP 1.1/1.4 (benchmarks/grf_benchmark.py); bounds leave margin, and the issue's targets
    (10 % per foot, 5 % total, 3 % AP) must hold. The AP bound holds only with the pendulum
    above 2 Hz (kinematic AP alone: 1.9/1.7). OpenSim's own IK file (with its marker and force
    columns) gives the same result as its coordinates alone."""
    from biomech_export.dynamics import estimate_loads

    model_path, ik, plates = _gait2392()
    est = estimate_loads(model_path, ik)
    raw = shared_path(*G2392, "OutputReference", "subject01_walk1_ik.mot")
    est_raw = estimate_loads(model_path, raw)
    np.testing.assert_allclose(est_raw.loads.force_n["r"], est.loads.force_n["r"], atol=0.01)
    assert 1.0 < np.linalg.norm(est.ground_velocity_m_s) < 1.3  # treadmill found by itself
    g = read_mot(plates)
    t = est.loads.time_s
    keep = (t >= g.time_s[0]) & (t <= g.time_s[-1])
    assert keep.sum() > 100
    bw = est.weight_n

    def rmse(side, axis):
        m = _plate(g, t[keep], side, "xyz"[axis])
        return 100 * np.sqrt(np.mean((est.loads.force_n[side][keep, axis] - m) ** 2)) / bw

    for side in "rl":
        assert rmse(side, 1) < 6.0
        assert rmse(side, 0) < 1.7
    tot = est.loads.force_n["r"][keep, 1] + est.loads.force_n["l"][keep, 1]
    meas = _plate(g, t[keep], "r") + _plate(g, t[keep], "l")
    assert 100 * np.sqrt(np.mean((tot - meas) ** 2)) / bw < 5.0


def test_gait2392_walk_moments_against_measured_grf_id(tmp_path):
    """OpenSim ID of the walk with the estimated GRF against ID with the plates (forces and
    torques low-passed at the coordinates' 6 Hz, as OpenSim users are told): hip, knee and ankle
    flexion moments r >= 0.9 (the issue's target). Measured r 0.95/0.94, 0.96/0.95, 0.98/0.99
    (right/left); with the pivot at the centre of mass instead of above it the left hip falls to
    0.86, with the AP force from the kinematics alone to 0.87/0.87."""
    from biomech_export.dynamics import estimate_grf
    from biomech_export.dynamics.wholebody import lowpass
    from biomech_export.tools import run_id

    model_path, ik, plates = _gait2392()
    g = read_mot(plates)
    fs = 1.0 / float(np.mean(np.diff(g.time_s)))
    data = g.data.copy()
    cols = [
        j for j, lab in enumerate(g.labels) if "force_p" not in lab
    ]  # centres of pressure kept
    data[:, cols] = lowpass(data[:, cols], fs, 6.0)
    plates_lp = write_mot(tmp_path / "plates_lp.mot", MotTable(g.time_s, g.labels, data, True))
    t_range = (0.5, 2.5)  # the reference IK starts at 0.5 s, the plates end at 2.5 s
    grf = estimate_grf(model_path, ik, tmp_path / "est", name="walk")
    est = run_id(
        model_path, ik, tmp_path / "id_est", name="walk", external_loads=grf.xml_path,
        time_range_s=t_range,
    )  # fmt: skip
    loads_xml = plates.with_suffix(".xml")  # the trial's ExternalLoads (calcn_r / calcn_l)
    meas = run_id(
        model_path, ik, tmp_path / "id_meas", name="walk", external_loads=loads_xml,
        grf_path=plates_lp, time_range_s=t_range,
    )  # fmt: skip
    a, b = read_mot(est.sto_path), read_mot(meas.sto_path)
    for c in ("hip_flexion", "knee_angle", "ankle_angle"):
        for s in "rl":
            x = a.column(f"{c}_{s}_moment")
            y = np.interp(a.time_s, b.time_s, b.column(f"{c}_{s}_moment"))
            assert np.corrcoef(x, y)[0, 1] >= 0.9, f"{c}_{s}"


def _short_ik(ik, tmp_path, t_end=1.5):
    tab = read_mot(ik)
    keep = tab.time_s <= t_end
    coords = [
        i
        for i, lab in enumerate(tab.labels)
        if not lab.endswith(("_tx", "_ty", "_tz")) or lab.startswith("pelvis_")
    ]
    coords = [i for i in coords if "force" not in tab.labels[i] and "torque" not in tab.labels[i]]
    out = tmp_path / "walk_ik.mot"
    write_mot(
        out,
        MotTable(
            tab.time_s[keep],
            tuple(tab.labels[i] for i in coords),
            tab.data[keep][:, coords],
            True,
            "walk",
        ),
    )
    return out


def test_grf_and_id_commands_write_loads_moments_and_residuals(tmp_path, capsys):
    model_path, ik, _ = _gait2392()
    short = _short_ik(ik, tmp_path)
    out = tmp_path / "grf"
    assert main(["grf", str(model_path), str(short), "-o", str(out)]) == 0
    tab = read_mot(out / "walk_grf.mot")
    for s in "rl":
        for c in (
            "ground_force_{}_vx",
            "ground_force_{}_vy",
            "ground_force_{}_pz",
            "ground_torque_{}_y",
        ):
            assert c.format(s) in tab.labels
    assert (out / "walk_grf.png").stat().st_size > 10_000
    # the ExternalLoads file is what OpenSim reads: two forces on the calcn bodies
    loads = osim.ExternalLoads(str(out / "walk_grf.xml"), True)
    bodies = sorted(loads.get(i).get_applied_to_body() for i in range(loads.getSize()))
    assert bodies == ["calcn_l", "calcn_r"]

    idout = tmp_path / "id"
    assert main(["id", str(model_path), str(short), "-o", str(idout), "--estimate-grf"]) == 0
    import json

    summ = json.loads((idout / "walk_dynamics.json").read_text())
    res = summ["pelvis_residual_force_rms_bw"]
    assert 0.8 < res["without_grf"] < 1.3  # the pelvis holds the body up without GRF
    assert res["with_estimated_grf"] < 0.05
    sto = read_mot(idout / "walk_id.sto")
    ankle = sto.column("ankle_angle_r_moment") / summ["mass_kg"]
    assert -2.5 < ankle.min() < -0.8  # stance plantarflexion moment, N m/kg (walking)
    assert (idout / "walk_moments.png").is_file()
    staged = [p for p in idout.iterdir() if p.name.startswith(".") and p.is_dir()]
    assert not staged  # no staging folder left behind
    assert "BW" in capsys.readouterr().out


def _bad(argv, capsys):
    assert main(argv) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error: "), err
    return err[0]


def test_bad_inputs_give_one_line_and_keep_earlier_results(tmp_path, capsys):
    model_path, ik, _ = _gait2392()
    short = _short_ik(ik, tmp_path)
    out = tmp_path / "out"
    assert main(["grf", str(model_path), str(short), "-o", str(out)]) == 0
    capsys.readouterr()
    before = {p.name: p.read_bytes() for p in out.iterdir()}
    tab = read_mot(short)

    # a model without foot bodies
    m = osim.Model()
    b = osim.Body("block", 10.0, osim.Vec3(0), osim.Inertia(1, 1, 1))
    m.addBody(b)
    m.addJoint(osim.FreeJoint("free", m.getGround(), b))
    m.finalizeConnections()
    nofeet = tmp_path / "block.osim"
    m.printToXML(str(nofeet))
    assert "calcn_r" in _bad(
        ["grf", str(nofeet), str(short), "-o", str(out), "--name", "walk"], capsys
    )

    # unknown and missing coordinates
    extra = tmp_path / "walk_extra.mot"
    write_mot(
        extra,
        MotTable(
            tab.time_s,
            tab.labels + ("shoulder_r_x",),
            np.c_[tab.data, np.zeros(len(tab.time_s))],
            True,
        ),
    )
    assert "shoulder_r_x" in _bad(
        ["grf", str(model_path), str(extra), "-o", str(out), "--name", "walk"], capsys
    )
    j = tab.labels.index("knee_angle_r")
    fewer = tmp_path / "walk_fewer.mot"
    write_mot(
        fewer,
        MotTable(
            tab.time_s, tab.labels[:j] + tab.labels[j + 1 :], np.delete(tab.data, j, axis=1), True
        ),
    )
    assert "knee_angle_r" in _bad(
        ["grf", str(model_path), str(fewer), "-o", str(out), "--name", "walk"], capsys
    )

    # nobody on the floor: the same walk two metres up
    up = tab.data.copy()
    up[:, tab.labels.index("pelvis_ty")] += 2.0
    swim = tmp_path / "walk_up.mot"
    write_mot(swim, MotTable(tab.time_s, tab.labels, up, True))
    assert "floor" in _bad(
        ["grf", str(model_path), str(swim), "-o", str(out), "--name", "walk"], capsys
    )

    # contacts of another length
    n = len(tab.time_s) - 5
    cont = tmp_path / "walk_contacts.sto"
    write_mot(
        cont,
        MotTable(tab.time_s[:n], ("heel_r", "toe_r", "heel_l", "toe_l"), np.ones((n, 4)), False),
    )
    msg = _bad(
        [
            "grf",
            str(model_path),
            str(short),
            "-o",
            str(out),
            "--name",
            "walk",
            "--contacts",
            str(cont),
        ],
        capsys,
    )
    assert "frames" in msg and "contacts" in msg

    # contacts without a column, and id --estimate-grf with a model lacking feet
    write_mot(
        cont,
        MotTable(tab.time_s, ("heel_r", "toe_r", "heel_l"), np.ones((len(tab.time_s), 3)), False),
    )
    assert "toe_l" in _bad(
        [
            "grf",
            str(model_path),
            str(short),
            "-o",
            str(out),
            "--name",
            "walk",
            "--contacts",
            str(cont),
        ],
        capsys,
    )
    assert "calcn_r" in _bad(
        ["id", str(nofeet), str(short), "-o", str(out), "--name", "walk", "--estimate-grf"], capsys
    )

    after = {p.name: p.read_bytes() for p in out.iterdir()}
    assert after == before  # nothing half-written, the earlier result kept


def test_exported_bsm46_model_walk(tmp_path):
    """Our own .osim (BSM-46, de Leva masses) carrying the gait2392 walk: whole walking cycles
    need on average exactly m g of vertical force (no net vertical acceleration), and the
    per-foot vertical force must follow the plates (measured 4.6/4.4 % BW RMSE)."""
    from biomech_export.convert import mot_to_motion
    from biomech_export.dynamics import estimate_loads
    from biomech_export.export import export_motion

    _, ik, plates = _gait2392()
    short = _short_ik(ik, tmp_path, t_end=2.5)  # the plates' range
    motion = mot_to_motion(short, height_m=1.8, mass_kg=72.6)
    res = export_motion(motion, tmp_path / "bsm", name="walk", setups=False)
    est = estimate_loads(res.osim_path, res.mot_path)
    assert abs(est.mass_kg - 72.6) < 0.5
    ik_t = read_mot(short).time_s  # frame i of the export is row i of the IK
    assert len(ik_t) == len(est.loads.time_s)
    g = read_mot(plates)
    fy = {s: est.loads.force_n[s][:, 1] for s in "rl"}
    # one full stride, right heel strike to the next (from the plates)
    fr = _plate(g, ik_t, "r")
    strikes = ik_t[1:][(fr[1:] > 20.0) & (fr[:-1] <= 20.0)]
    assert len(strikes) >= 2
    cyc = (ik_t >= strikes[0]) & (ik_t < strikes[1])
    mean_total = float(np.mean((fy["r"] + fy["l"])[cyc]))
    assert abs(mean_total / est.weight_n - 1.0) < 0.05
    for s in "rl":
        m = _plate(g, ik_t, s)
        assert 100 * np.sqrt(np.mean((fy[s] - m) ** 2)) / est.weight_n < 8.0


def test_contacts_file_drives_the_split(tmp_path):
    """Contacts given as a file (the capture's NAME_contacts.sto): here the force plates'
    own contact periods; the split must then follow the plates at least as well as with the
    estimated contacts (3.5 % BW), and a foot the file calls off the floor carries nothing."""
    from biomech_export.dynamics import estimate_loads

    model_path, ik, plates = _gait2392()
    short = _short_ik(ik, tmp_path, t_end=2.5)
    t = read_mot(short).time_s
    g = read_mot(plates)
    cont, on = _plate_contacts(g, t, tmp_path)
    est = estimate_loads(model_path, short, contacts_path=cont)
    assert est.contacts.source == str(cont)
    for s in "rl":
        fy = est.loads.force_n[s][:, 1]
        m = _plate(g, t, s)
        inner = (t > t[0] + 0.1) & (t < t[-1] - 0.1)  # away from the filter's ends
        assert 100 * np.sqrt(np.mean((fy - m)[inner] ** 2)) / est.weight_n < 5.0
        assert np.abs(fy[~on[s]]).max() < 0.02 * est.weight_n


def test_contacts_file_is_vetted_by_the_motion(tmp_path):
    """A contacts file that calls the right foot planted all the time (as a capture's erratic
    contacts may): the motion has that foot in the air during its swings, so it must carry
    next to nothing there (the file alone gives it up to 10 % of body weight). The file's
    timing is believed within VET_SLACK_S of the motion's own stance phases (their estimate
    from low-passed kinematics ends them early), so frames that close to the plates' stance
    are not judged."""
    from biomech_export.dynamics import estimate_loads
    from biomech_export.dynamics.contacts import VET_SLACK_S

    model_path, ik, plates = _gait2392()
    short = _short_ik(ik, tmp_path, t_end=2.5)
    t = read_mot(short).time_s
    g = read_mot(plates)
    on_l = (_plate(g, t, "l") > 20.0).astype(float)
    prob = np.stack([np.ones_like(t), np.ones_like(t), on_l, on_l], axis=1)
    cont = tmp_path / "walk_contacts.sto"
    write_mot(cont, MotTable(t, ("heel_r", "toe_r", "heel_l", "toe_l"), prob, False))
    est = estimate_loads(model_path, short, contacts_path=cont)
    swing_r = _plate(g, t, "r") < 1.0  # the plates: the right foot is off the floor
    swing_r &= (t > t[0] + 0.1) & (t < t[-1] - 0.1)  # away from the filter's ends
    stance_t = g.time_s[_plate(g, g.time_s, "r") >= 1.0]
    gap = np.abs(t[:, None] - stance_t[None, :]).min(axis=1)
    swing_r &= gap > VET_SLACK_S  # farther from the right foot's stance than the slack
    assert swing_r.sum() >= 10  # mid-swing: 0.24 s at 60 Hz
    assert np.abs(est.loads.force_n["r"][swing_r, 1]).max() < 0.05 * est.weight_n


def test_ml_pendulum_survives_lateral_root_noise(tmp_path):
    """Video-like noise on the lateral root translation (1 cm RMS, band-limited to 4 Hz: the
    camera's depth axis in a side view) makes the kinematic medio-lateral force noise; the
    inverted pendulum above 1 Hz (what `capture --dynamics` uses) keeps it near the plates.
    Measured at the video low-pass (3 Hz): ML RMSE 9.3/5.9 % BW kinematic, 3.8/2.1 pendulum."""
    from biomech_export.dynamics import VIDEO_LOWPASS_HZ, VIDEO_ML_PENDULUM_HZ, estimate_loads
    from biomech_export.dynamics.wholebody import lowpass

    model_path, ik, plates = _gait2392()
    short = _short_ik(ik, tmp_path, t_end=2.5)
    tab = read_mot(short)
    fs = 1.0 / float(np.mean(np.diff(tab.time_s)))
    noise = lowpass(np.random.default_rng(0).standard_normal(len(tab.time_s)), fs, 4.0)
    data = tab.data.copy()
    data[:, tab.labels.index("pelvis_tz")] += 0.01 * noise / noise.std()
    noisy = write_mot(tmp_path / "noisy.mot", MotTable(tab.time_s, tab.labels, data, True, "n"))
    g = read_mot(plates)
    rmse = {}
    for ml_hz in (0.0, VIDEO_ML_PENDULUM_HZ):
        est = estimate_loads(
            model_path, noisy, lowpass_hz=VIDEO_LOWPASS_HZ, ml_pendulum_above_hz=ml_hz
        )
        t = est.loads.time_s
        inner = (t > t[0] + 0.1) & (t < t[-1] - 0.1)  # away from the filter's ends
        rmse[ml_hz] = [
            100
            * np.sqrt(np.mean((est.loads.force_n[s][inner, 2] - _plate(g, t[inner], s, "z")) ** 2))
            / est.weight_n
            for s in "rl"
        ]
    assert max(rmse[VIDEO_ML_PENDULUM_HZ]) < 5.0
    assert min(rmse[0.0]) > 4.5  # the noise does reach the kinematic ML force
    for a, b in zip(rmse[VIDEO_ML_PENDULUM_HZ], rmse[0.0], strict=True):
        assert a < 0.6 * b


def test_opencap_laiuhlrich2022_video_walk():
    """OpenCap's model (33 DOF, knee couplers) and its video-derived walking example: the
    estimate runs and, the walk being steady, its mean vertical force is the body weight
    (the mean over the trial of sum m a_y is Delta(momentum)/duration, small here)."""
    from biomech_export.dynamics import estimate_loads

    d = shared_path("opensim", "opencap")
    est = estimate_loads(
        d / "core_pipeline" / "LaiUhlrich2022.osim",
        d / "processing_examples" / "walking1_videoAndMocap.mot",
    )
    f = est.loads.force_n
    mean_total = float(np.mean(f["r"][:, 1] + f["l"][:, 1]))
    assert abs(mean_total / est.weight_n - 1.0) < 0.1
    for s in "rl":  # both feet stand at some point, and each is off the floor at another
        assert f[s][:, 1].max() > 0.5 * est.weight_n
        assert f[s][:, 1].min() < 0.02 * est.weight_n


def test_capture_dynamics_stage(tmp_path, capsys):
    """`capture --dynamics` runs biomech_export.dynamics on the capture's OpenSim export:
    checked on the export of a real walk (the capture itself is tested elsewhere); a still
    image is refused before any work with one line."""
    from biomech_export.convert import mot_to_motion
    from biomech_export.dynamics import VIDEO_LOWPASS_HZ, VIDEO_ML_PENDULUM_HZ
    from biomech_export.export import export_motion
    from core.capture import CaptureOptions, Progress, _dynamics, _dynamics_note
    from core.cli import main as core_main

    _, ik, _ = _gait2392()
    motion = mot_to_motion(_short_ik(ik, tmp_path, t_end=2.0), height_m=1.8, mass_kg=72.6)
    exported = export_motion(motion, tmp_path / "cap" / "opensim", name="walk")
    opts = CaptureOptions(output=tmp_path / "cap", dynamics=True)
    out = _dynamics(exported, "walk", opts, Progress(jsonl=True))
    assert out["grf"].parent == exported.folder / "dynamics"
    for p in out.values():
        assert p.is_file()
    import json

    summary = json.loads(out["dynamics"].read_text())
    assert summary["lowpass_hz"] == VIDEO_LOWPASS_HZ  # video kinematics: the stronger low-pass
    assert summary["ml_pendulum_above_hz"] == VIDEO_ML_PENDULUM_HZ
    res = summary["pelvis_residual_force_rms_bw"]
    assert res["without_grf"] > 0.8 and res["with_estimated_grf"] < 0.05  # ~1 BW -> ~0
    note = _dynamics_note(out["dynamics"])
    assert f"{res['without_grf']:.2f} BW" in note and f"{res['with_estimated_grf']:.3f} BW" in note

    img = shared_path("images", "coco", "000000000785.jpg")
    capsys.readouterr()
    assert core_main(["capture", str(img), "-o", str(tmp_path / "img"), "--dynamics"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "--dynamics" in err[0]
    assert not (tmp_path / "img").exists()


def test_lowpass_help_matches_its_check(tmp_path, capsys):
    """`--lowpass` of grf and id: the help offers 0 for no filter (not "<=0", which the check
    refuses), and a negative cut-off gets one error line and writes nothing."""
    for cmd in ("grf", "id"):
        with pytest.raises(SystemExit):
            main([cmd, "--help"])
        text = " ".join(capsys.readouterr().out.split())
        assert "0: none" in text and "<=0" not in text
    model_path, ik, _ = _gait2392()
    out = tmp_path / "neg"
    err = _bad(["grf", str(model_path), str(ik), "-o", str(out), "--lowpass", "-1"], capsys)
    assert "--lowpass" in err
    assert not out.exists()


def test_transition_split_survives_ap_root_noise(tmp_path):
    """Video-like noise on the forward root translation (1 cm RMS, band-limited to 4 Hz: the
    camera's depth axis in a front view) moves the total centre of pressure, so the lever rule
    splits double support wrongly; the smooth transition over the contact phases (here the
    plates' own, given as a contacts file, as a capture's are) does not use it. Measured at the
    video low-pass (3 Hz): vertical RMSE 4.2/2.8 % BW transition, 16.7/15.3 lever (8.1/8.2
    without the noise)."""
    from biomech_export.dynamics import VIDEO_LOWPASS_HZ, estimate_loads
    from biomech_export.dynamics.wholebody import lowpass

    model_path, ik, plates = _gait2392()
    short = _short_ik(ik, tmp_path, t_end=2.5)
    tab = read_mot(short)
    t = tab.time_s
    fs = 1.0 / float(np.mean(np.diff(t)))
    noise = lowpass(np.random.default_rng(0).standard_normal(len(t)), fs, 4.0)
    data = tab.data.copy()
    data[:, tab.labels.index("pelvis_tx")] += 0.01 * noise / noise.std()
    noisy = write_mot(tmp_path / "noisy.mot", MotTable(t, tab.labels, data, True, "n"))
    g = read_mot(plates)
    cont, _ = _plate_contacts(g, t, tmp_path)
    inner = (t > t[0] + 0.1) & (t < t[-1] - 0.1)  # away from the filter's ends
    rmse = {}
    for how in (None, "lever"):  # None: the default for a contacts file, the transition
        est = estimate_loads(
            model_path, noisy, contacts_path=cont, lowpass_hz=VIDEO_LOWPASS_HZ, double_support=how
        )
        fy = est.loads.force_n
        rmse[how] = [
            100 * np.sqrt(np.mean((fy[s][inner, 1] - _plate(g, t[inner], s)) ** 2)) / est.weight_n
            for s in "rl"
        ]
    assert max(rmse[None]) < 6.0
    assert min(rmse["lever"]) > 12.0  # the noise does reach the lever rule


def test_decided_share_passes_the_load_smoothly():
    """Right single support, double support (right trailing), left single support, double
    support (left trailing), right again: all / none of the load in single support, a smooth
    monotone hand-over in double support, the lever rule's share where neither is down."""
    from biomech_export.dynamics.split import _decided_share

    on_r = np.array([1] * 5 + [1] * 6 + [0] * 5 + [1] * 4 + [1] * 5 + [0] * 3, bool)
    on_l = np.array([0] * 5 + [1] * 6 + [1] * 5 + [1] * 4 + [0] * 5 + [0] * 3, bool)
    soft = np.full(len(on_r), 0.3)
    share = _decided_share(on_r, on_l, soft)
    np.testing.assert_array_equal(share[:5], 1.0)
    np.testing.assert_array_equal(share[11:16], 0.0)
    np.testing.assert_array_equal(share[20:25], 1.0)
    np.testing.assert_array_equal(share[25:], 0.3)
    first, second = share[5:11], share[16:20]
    assert np.all(np.diff(first) < 0) and first[0] > 0.9 and first[-1] < 0.1
    assert np.all(np.diff(second) > 0) and second[0] < 0.1 and second[-1] > 0.9
    np.testing.assert_allclose(first, 1.0 - first[::-1])  # symmetric about the middle


def test_decided_share_places_the_hand_over_between_frames():
    """The double support's ends lie where the feet's probabilities cross 0.5 between frames:
    the same decided frames with the landing and leaving a third of a frame later move the
    whole hand-over a third of a frame later (the share halves at the middle of the two
    crossings, not of the frame boundaries); without probabilities, the frame boundaries."""
    from biomech_export.dynamics.split import _decided_share

    n = 20
    on_r = np.arange(n) < 12  # right down to frame 11: it leaves between frames 11 and 12
    on_l = np.arange(n) >= 6  # left lands between frames 5 and 6: double support 6..11
    soft = np.full(n, 0.5)
    plain = _decided_share(on_r, on_l, soft)
    # probabilities that cross 0.5 at frame 5 + 1/2 (land) and 11 + 1/2 (leave) ...
    p_l = np.clip((np.arange(n) - 5.5) * 0.6 + 0.5, 0, 1)
    p_r = np.clip((11.5 - np.arange(n)) * 0.6 + 0.5, 0, 1)
    np.testing.assert_allclose(_decided_share(on_r, on_l, soft, p_r, p_l), plain)
    # ... and a third of a frame later
    late = _decided_share(on_r, on_l, soft, np.clip(p_r + 0.2, 0, 1), np.clip(p_l - 0.2, 0, 1))
    assert np.all(late[6:12] >= plain[6:12]) and np.any(late[6:12] > plain[6:12])
    # the smooth step is 1/2 at the middle of the crossings (8.5 + 1/3): the share's curve
    # through frames 8 and 9 puts it there
    mid = 8 + (late[8] - 0.5) / (late[8] - late[9])
    assert abs(mid - (8.5 + 1 / 3)) < 0.05
    np.testing.assert_array_equal(late[:6], 1.0)
    np.testing.assert_array_equal(late[12:], 0.0)


def test_video_walk_vertical_force_drops_root_height_noise(tmp_path, monkeypatch):
    """Video kinematics (3 Hz): root-height noise between 2.5 and 4 Hz (4 mm RMS) passes the
    coordinates' low-pass and, differentiated twice, reaches the total vertical force; the
    walk's total is smoothed at 1.5 step rates (gait2392: 1.62 steps/s, 2.4 Hz), so the noise
    moves it less than half as much as without (measured: 2.2 vs 5.8 % BW RMS), and the total
    against the plates stays within 6.5 % BW (measured 5.9; 7.2 before smooth_vertical). The
    smoothing costs clean kinematics a little (4.0 -> 5.4 % BW total at 3 Hz): it is for
    video only."""
    from biomech_export.dynamics import VIDEO_LOWPASS_HZ, estimate_loads, split
    from biomech_export.dynamics.wholebody import lowpass

    model_path, ik, plates = _gait2392()
    clean = _short_ik(ik, tmp_path, t_end=2.5)
    tab = read_mot(clean)
    t = tab.time_s
    fs = 1.0 / float(np.mean(np.diff(t)))
    white = np.random.default_rng(0).standard_normal(len(t))
    band = lowpass(white, fs, 4.0) - lowpass(white, fs, 2.5)
    data = tab.data.copy()
    data[:, tab.labels.index("pelvis_ty")] += 0.004 * band / band.std()
    noisy = write_mot(tmp_path / "noisy.mot", MotTable(t, tab.labels, data, True, "n"))
    g = read_mot(plates)
    cont, _ = _plate_contacts(g, t, tmp_path)
    inner = (t > t[0] + 0.1) & (t < t[-1] - 0.1)
    meas = _plate(g, t[inner], "r") + _plate(g, t[inner], "l")

    def total(mot):
        est = estimate_loads(model_path, mot, contacts_path=cont, lowpass_hz=VIDEO_LOWPASS_HZ)
        f = est.loads.force_n
        return (f["r"][inner, 1] + f["l"][inner, 1]) / est.weight_n, est

    def rms(x):
        return 100 * float(np.sqrt(np.mean(x**2)))

    smooth_noisy, est = total(noisy)
    assert 1.4 < split.step_rate_hz(est.contacts) < 1.9
    moved = rms(smooth_noisy - total(clean)[0])
    assert rms(smooth_noisy - meas / est.weight_n) < 6.5
    monkeypatch.setattr(split, "VERTICAL_STEP_RATES", 1e6)  # no smoothing (before)
    moved_before = rms(total(noisy)[0] - total(clean)[0])
    assert moved < 0.5 * moved_before


def test_smooth_vertical_leaves_flight_and_short_motions_alone():
    """A run's total vertical force (flight phases: no foot down, force 0) is not low-passed
    (that would pull force into the flight); a walk's is, at 1.5 step rates; fewer than three
    strikes: untouched."""
    from biomech_export.dynamics.contacts import Contacts
    from biomech_export.dynamics.split import smooth_vertical, step_rate_hz
    from biomech_export.dynamics.wholebody import Wrench

    fs, weight = 100.0, 700.0
    t = np.arange(300) / fs
    phase = (t * 1.5) % 1.0  # 1.5 strides/s: 3 steps/s
    on_r, on_l = phase < 0.35, (phase >= 0.5) & (phase < 0.85)  # flight between
    f = np.zeros((len(t), 3))
    f[:, 1] = np.where(on_r | on_l, 2.2 * weight, 0.0)
    w = Wrench(t, f, np.zeros_like(f))
    run = Contacts(t, {"heel_r": on_r * 1.0, "toe_r": on_r * 1.0, "heel_l": on_l * 1.0,
                       "toe_l": on_l * 1.0}, "file")  # fmt: skip
    assert abs(step_rate_hz(run) - 3.0) < 0.05
    assert smooth_vertical(w, run, weight) is w
    walk_r, walk_l = phase < 0.6, (phase >= 0.5) | (phase < 0.1)  # double supports
    walk = Contacts(t, {"heel_r": walk_r * 1.0, "toe_r": walk_r * 1.0, "heel_l": walk_l * 1.0,
                        "toe_l": walk_l * 1.0}, "file")  # fmt: skip
    f[:, 1] = weight + 0.2 * weight * np.sin(2 * np.pi * 12.0 * t)  # 12 Hz ripple
    w = Wrench(t, f, np.zeros_like(f))
    out = smooth_vertical(w, walk, weight)
    assert np.abs(out.force_n[20:-20, 1] - weight).max() < 0.01 * weight
    np.testing.assert_array_equal(out.force_n[:, [0, 2]], f[:, [0, 2]])
    few = Contacts(t[:80], {k: v[:80] for k, v in walk.prob.items()}, "file")  # 2 strikes
    w_short = Wrench(t[:80], f[:80], np.zeros((80, 3)))
    assert smooth_vertical(w_short, few, weight) is w_short


def test_stride_edges_restore_a_steady_walks_ends():
    """A steady walk (2 steps/s) whose vertical force flattened to body weight over its last
    and first 0.3 s (what odd-reflection low-pass padding does to the centre of mass's
    acceleration) gets its periodic force back there from a stride away; where the feet's
    contact states a stride away differ (a gait that changes: here the clip starts standing),
    the end is left as it is."""
    from biomech_export.dynamics.contacts import Contacts
    from biomech_export.dynamics.split import EDGE_S, _stride_edges

    fs, weight = 50.0, 700.0
    t = np.arange(200) / fs  # 4 s: 1 stride/s, 2 steps/s
    phase = t % 1.0
    on_r, on_l = phase < 0.6, (phase >= 0.5) | (phase < 0.1)
    prob = {"heel_r": on_r * 1.0, "toe_r": on_r * 1.0, "heel_l": on_l * 1.0, "toe_l": on_l * 1.0}
    walk = Contacts(t, prob, "file")
    truth = weight * (1.0 + 0.2 * np.cos(2 * np.pi * 2.0 * t))
    ends = (t - t[0] < EDGE_S) | (t[-1] - t < EDGE_S)
    flat = np.where(ends, weight, truth)
    fixed = _stride_edges(flat, walk, 2.0)
    # blended linearly: all of the stride-away force at the clip's ends, none EDGE_S inside
    dist = np.minimum(t - t[0], t[-1] - t)
    keep_frac = np.clip(dist / EDGE_S, 0.0, 1.0)
    assert np.all(np.abs(fixed - truth) <= keep_frac * np.abs(flat - truth) + 1e-6 * weight)
    assert np.sqrt(np.mean((fixed - truth)[ends] ** 2)) < 0.7 * np.sqrt(  # linear: 1/sqrt(3)
        np.mean((flat - truth)[ends] ** 2)
    )
    np.testing.assert_allclose(fixed[[0, -1]], truth[[0, -1]], atol=1e-6 * weight)
    np.testing.assert_array_equal(fixed[~ends], flat[~ends])
    # standing (both feet down) for the first half second: its start is not a walk's phase
    stand = {k: np.where(t < 0.5, 1.0, v) for k, v in prob.items()}
    start = t - t[0] < EDGE_S
    kept = _stride_edges(flat, Contacts(t, stand, "file"), 2.0)
    np.testing.assert_array_equal(kept[start], flat[start])
