"""`biomech_export scale`: OpenSim's ScaleTool from a setup we write, on Rajagopal2016 with its
own static trial and on our BSM-46 model; bad input is refused before anything is written."""

from __future__ import annotations

import numpy as np
import pytest

from biomech_export.trc import read_trc, write_trc
from tests.conftest import shared_path

opensim = pytest.importorskip("opensim")
pytestmark = pytest.mark.opensim

from biomech_export.cli import main  # noqa: E402
from biomech_export.scale import scale_model  # noqa: E402


def _model_marker_positions(model_path) -> dict[str, np.ndarray]:
    model = opensim.Model(str(model_path))
    state = model.initSystem()
    ms = model.getMarkerSet()
    out = {}
    for i in range(ms.getSize()):
        p = ms.get(i).getLocationInGround(state)
        out[ms.get(i).getName()] = np.array([p.get(0), p.get(1), p.get(2)])
    return out


def test_rajagopal_scaled_from_its_static_trial(tmp_path):
    root = shared_path("opensim", "rajagopal_walk_run")
    model = root / "Rajagopal2016.osim"
    static = root / "ExpData" / "static_run.trc"
    res = scale_model(
        model,
        static,
        tmp_path,
        name="raj",
        mass_kg=72.84,
        setup_template=root / "Scale" / "scale_setup_run.xml",
    )
    for p in (res.osim_path, res.setup_path, res.scale_factors_path, res.log_path):
        assert p.is_file() and p.parent == tmp_path, p
    # the written setup reruns in OpenSim as it is (the GUI's Scale tool reads the same file)
    assert opensim.ScaleTool(str(res.setup_path)).getSubjectMass() == pytest.approx(72.84)
    scaled = opensim.Model(str(res.osim_path))
    assert scaled.getTotalMass(scaled.initSystem()) == pytest.approx(72.84, rel=1e-6)
    # Independent check of one measurement: femur = mean over the 4 thigh marker pairs of
    # (mean distance in the static trial) / (distance on the generic model).
    trc = read_trc(static)
    gen = _model_marker_positions(model)
    pairs = [("LHJC", "LLFC"), ("LHJC", "LMFC"), ("RHJC", "RMFC"), ("RHJC", "RLFC")]
    ratios = []
    for a, b in pairs:
        ia, ib = trc.marker_names.index(a), trc.marker_names.index(b)
        d = np.nanmean(np.linalg.norm(trc.markers_m[:, ia] - trc.markers_m[:, ib], axis=1))
        ratios.append(d / np.linalg.norm(gen[a] - gen[b]))
    want = float(np.mean(ratios))
    got = res.scale_factors["femur_r"]
    print(f"femur_r scale {got[0]:.4f} (independent {want:.4f}); static RMS {res.marker_rms_m}")
    assert got == pytest.approx((want, want, want), rel=2e-3)
    assert 0.8 < want < 1.3


def test_missing_markers_bodies_and_names_are_one_clear_line(tmp_path, capsys):
    root = shared_path("opensim", "rajagopal_walk_run")
    model = root / "Rajagopal2016.osim"
    setup = root / "Scale" / "scale_setup_run.xml"
    trc = read_trc(root / "ExpData" / "static_run.trc")
    keep = [i for i, n in enumerate(trc.marker_names) if n not in ("RHJC", "LLFC")]
    cut = type(trc)(
        trc.rate_hz,
        trc.time_s,
        tuple(trc.marker_names[i] for i in keep),
        trc.markers_m[:, keep],
    )
    static = write_trc(tmp_path / "static_cut.trc", cut)
    out = tmp_path / "out"
    args = ["scale", str(model), str(static), "-o", str(out), "--setup-template", str(setup)]
    assert main(args) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error:"), err
    assert "static_cut.trc lacks markers" in err[0] and "RHJC" in err[0] and "LLFC" in err[0]
    assert not out.exists() or not any(out.iterdir())  # nothing half-written
    # a model without the bodies the measurements scale
    g2392 = shared_path(
        "opensim", "gait2392_subject01", "OutputReference", "subject01_simbody.osim"
    )
    assert (
        main(
            [
                "scale",
                str(g2392),
                str(root / "ExpData" / "static_run.trc"),
                "-o",
                str(out),
                "--setup-template",
                str(setup),
            ]
        )
        == 2
    )
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "lacks the bodies" in err[0] and "humerus_r" in err[0], err
    # a model none of whose markers the measurements name, and no template: unknown model
    assert (
        main(["scale", str(g2392), str(root / "ExpData" / "static_run.trc"), "-o", str(out)]) == 2
    )
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "no built-in measurement set" in err[0], err
    assert not out.exists() or not any(out.iterdir())


def _marker_set_xml(path, markers: dict[str, str]):
    """A MarkerSet file: marker name -> parent body."""
    items = "".join(
        f'<Marker name="{n}"><socket_parent_frame>/bodyset/{b}</socket_parent_frame>'
        "<location>0 0 0</location><fixed>false</fixed></Marker>"
        for n, b in markers.items()
    )
    path.write_text(
        '<?xml version="1.0" encoding="UTF-8" ?><OpenSimDocument Version="40000">'
        f'<MarkerSet name="markers"><objects>{items}</objects><groups /></MarkerSet>'
        "</OpenSimDocument>",
        encoding="utf-8",
    )
    return path


def test_unknown_marker_names_are_one_clear_line(tmp_path, capsys):
    """Markers the model does not have (a replacing marker set without the measurement markers,
    or one on bodies the model lacks) and static trials whose names match nothing: one
    ``error:`` line naming them, exit 2, nothing written."""
    root = shared_path("opensim", "rajagopal_walk_run")
    model = root / "Rajagopal2016.osim"
    setup = root / "Scale" / "scale_setup_run.xml"
    static = root / "ExpData" / "static_run.trc"
    out = tmp_path / "out"
    base = ["scale", str(model), str(static), "-o", str(out), "--setup-template", str(setup)]

    def one_error() -> str:
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and err[0].startswith("error:"), err
        assert not out.exists() or not any(out.iterdir())  # nothing half-written
        return err[0]

    # a marker set on bodies the model lacks
    bad_bodies = _marker_set_xml(tmp_path / "m1.xml", {"RASI": "pelvis", "C7": "thorax"})
    assert main([*base, "--marker-set", str(bad_bodies)]) == 2
    line = one_error()
    assert "puts markers on bodies" in line and "thorax" in line and "pelvis" not in line
    # a marker set (on real bodies) without the markers the measurements use
    few = _marker_set_xml(tmp_path / "m2.xml", {"RASI": "pelvis", "MYMARK": "femur_r"})
    assert main([*base, "--marker-set", str(few)]) == 2
    line = one_error()
    assert "has no markers named" in line and "LASI" in line and "MYMARK" not in line
    # a static trial whose marker names are all unknown
    trc = read_trc(static)
    renamed = write_trc(
        tmp_path / "static_renamed.trc",
        type(trc)(
            trc.rate_hz, trc.time_s, tuple(f"X{n}" for n in trc.marker_names), trc.markers_m
        ),
    )
    assert (
        main(["scale", str(model), str(renamed), "-o", str(out), "--setup-template", str(setup)])
        == 2
    )
    line = one_error()
    assert "static_renamed.trc lacks markers" in line and "LASI" in line and "more)" in line


@pytest.mark.slow
def test_our_model_scaled_to_a_larger_copy_of_its_subject(tmp_path):
    """BSM-46 with its virtual markers (built-in measurements): a static trial of the same
    subject 8 % larger in every segment gives scale factors of 1.08 on every scaled body."""
    import os

    from biomech_export.osim_model import write_osim
    from biomech_export.trc import TrcData
    from core import fk_numpy
    from core import skeleton as sk
    from core.motion import Motion
    from tests.conftest import REPO

    body = pytest.importorskip("core.body")
    os.environ.setdefault("ANNY_CACHE_DIR", str(REPO / ".cache" / "anny"))
    s = body.default_subject()
    subject = Motion(
        fps=10.0,
        q_rad=np.zeros((1, sk.N_DOFS)),
        root_m=np.zeros((1, 3)),
        offsets_m=s.offsets_m,
        height_m=s.height_m,
        mass_kg=s.mass_kg,
        marker_names=s.marker_names,
        marker_bodies=s.marker_bodies,
        marker_local_m=s.marker_local_m,
    )
    model = write_osim(subject, tmp_path / "generic.osim", geometry=False).osim_path
    k = 1.08
    rot, org = fk_numpy.forward_kinematics(
        np.zeros((1, sk.N_DOFS)), np.array([[0.3, 1.0, -0.2]]), s.offsets_m * k
    )
    pts = fk_numpy.body_points(rot, org, s.marker_bodies, s.marker_local_m * k)
    static = write_trc(
        tmp_path / "static.trc",
        TrcData(10.0, np.arange(5) / 10.0, tuple(s.marker_names), np.repeat(pts, 5, axis=0)),
    )
    res = scale_model(model, static, tmp_path / "out", name="big", mass_kg=80.0)
    got = {b: f for b, f in res.scale_factors.items() if b in sk.BODY}
    print(
        {b: round(f[0], 4) for b, f in got.items()}, f"static RMS {res.marker_rms_m * 1e3:.2f} mm"
    )
    assert len(got) >= 20
    for b, f in got.items():
        assert f == pytest.approx((k, k, k), rel=5e-3), b
    # before marker placement, the scaled model already fits the trial to < 1 mm
    assert res.marker_rms_m < 1e-3
