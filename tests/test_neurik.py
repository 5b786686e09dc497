"""NeurIK: limits by construction, ONNX agreement, robustness to bad and odd input."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from core import skeleton as sk
from core.kinematics import pelvis_angles_from_matrix
from core.neurik.markersets import BLAZEPOSE_NAMES
from core.neurik.model import NeurIK, NeurIKConfig
from core.neurik.runtime import WEIGHTS_DIR, OnnxNeurIK, export_onnx, load_neurik, run_neurik


def _nets() -> list[NeurIK]:
    torch.manual_seed(0)
    nets = [NeurIK(NeurIKConfig("blazepose33", BLAZEPOSE_NAMES)).eval()]
    for name in _SHIPPED:
        if (WEIGHTS_DIR / name / "model.safetensors").is_file():
            nets.append(load_neurik(name))
        else:
            nets.append(None)
    return nets


_SHIPPED = ("blazepose33", "anatomical", "blazepose33_bank")


@pytest.fixture(scope="module", params=range(4), ids=["untrained", *_SHIPPED])
def net(request) -> NeurIK:
    nets = _nets()
    if nets[request.param] is None:
        pytest.skip("shipped weights not present")
    return nets[request.param]


def test_bank_weights_record_their_training() -> None:
    """The shipped bank weights say what they were trained on: the current skeleton convention,
    the real-motion bank, and not one held-out take."""
    from core.mocap.holdout import is_held_out

    folder = WEIGHTS_DIR / "blazepose33_bank"
    if not (folder / "config.json").is_file():
        pytest.skip("blazepose33_bank weights not present")
    cfg = NeurIKConfig.load(folder / "config.json")
    assert cfg.skeleton_convention == sk.SKELETON_CONVENTION
    assert "real-motion bank" in cfg.training["motion"]
    clips = cfg.training["bank_clips"]
    assert len(clips) >= 100 and not any(is_held_out(c.split("#")[0]) for c in clips)
    assert "--bank" in cfg.training["command"]


def _n_markers(net: NeurIK) -> int:
    return len(net.cfg.marker_names)


def test_no_limit_violation_for_random_and_adversarial_input(net) -> None:
    g = torch.Generator().manual_seed(1)
    m, w = _n_markers(net), net.cfg.window
    inputs = [
        torch.randn(64, w, m, 3, generator=g),  # no human pose at all
        torch.randn(64, w, m, 3, generator=g) * 100.0,  # 100 m scatter
        torch.randn(16, w, m, 3, generator=g) * 1e4,  # far outside anything human
        torch.zeros(16, w, m, 3),  # all markers at one point
        torch.randn(16, w, m, 3, generator=g).cumsum(1),  # drifting
    ]
    with torch.no_grad():
        for x in inputs:
            out = net(x, torch.rand(x.shape[:3], generator=g))
            assert torch.isfinite(out.q_rad).all()
            assert sk.limit_violations(out.q_rad.double().numpy(), atol_rad=1e-5) == 0
    total = sum(x.shape[0] * x.shape[1] for x in inputs)
    assert total >= 5000  # thousands of frames checked


def test_pelvis_angle_extraction_inverts_fk() -> None:
    from core import kinematics as K

    q = torch.zeros(200, 46, dtype=torch.float64)
    g = torch.Generator().manual_seed(2)
    q[:, 0] = torch.rand(200, generator=g, dtype=torch.float64) * 6 - 3
    q[:, 1] = torch.rand(200, generator=g, dtype=torch.float64) * 2.4 - 1.2
    q[:, 2] = torch.rand(200, generator=g, dtype=torch.float64) * 6 - 3
    fk = K.forward_kinematics(
        q, torch.zeros(200, 3, dtype=torch.float64), torch.as_tensor(sk.default_offsets())
    )
    back = pelvis_angles_from_matrix(fk.rotations[:, 0])
    torch.testing.assert_close(back, q[:, :3], atol=1e-9, rtol=0)


def test_onnx_matches_torch(net, tmp_path) -> None:
    pytest.importorskip("onnxruntime")
    path = export_onnx(net, tmp_path / "neurik.onnx")
    runner = OnnxNeurIK(path, net.cfg)
    rng = np.random.default_rng(3)
    x = rng.normal(scale=0.3, size=(100, _n_markers(net), 3)) + [0, 1.0, 0]
    conf = rng.uniform(0.2, 1, size=x.shape[:2])
    a = run_neurik(x, conf, model=net)
    b = runner(x, conf)
    np.testing.assert_allclose(b.q_rad, a.q_rad, atol=1e-4)
    np.testing.assert_allclose(b.root_m, a.root_m, atol=1e-4)


def test_missing_markers_nan_frames_and_clip_lengths(net) -> None:
    rng = np.random.default_rng(4)
    m = _n_markers(net)
    x = rng.normal(scale=0.3, size=(50, m, 3)) + [0, 1.0, 0]
    x[rng.random(x.shape[:2]) < 0.2] = np.nan  # 20 % missing
    x[10] = np.nan  # a whole frame of NaNs
    out = run_neurik(x, None, model=net)
    assert out.q_rad.shape == (50, 46) and np.isfinite(out.q_rad).all()
    assert sk.limit_violations(out.q_rad) == 0
    one = run_neurik(x[:1], None, model=net)
    assert one.q_rad.shape == (1, 46)
    long = np.repeat(x[:20], 500, axis=0)  # 10,000 frames
    res = run_neurik(long, None, model=net)
    assert res.q_rad.shape == (10000, 46) and sk.limit_violations(res.q_rad) == 0


def test_bad_input_messages(net) -> None:
    m = _n_markers(net)
    with pytest.raises(ValueError, match=r"\(T, M, 3\)"):
        run_neurik(np.zeros((5, m)), model=net)
    with pytest.raises(ValueError, match=f"expected {m} markers"):
        run_neurik(np.zeros((5, m + 1, 3)), model=net)
    with pytest.raises(ValueError, match="no valid marker"):
        run_neurik(np.full((5, m, 3), np.nan), model=net)
    with pytest.raises(ValueError, match="empty"):
        run_neurik(np.zeros((0, m, 3)), model=net)


def _blaze_sampler(noise, bank=None, seed=0, window=24):
    from types import SimpleNamespace

    from core.neurik.data import Sampler, SubjectGeometry
    from core.neurik.markersets import blazepose33

    ms = blazepose33()
    off = sk.default_offsets(1.75)
    bodies, local = ms.define(SimpleNamespace(offsets_m=off, height_m=1.75))
    geom = SubjectGeometry(off, bodies, local)
    return ms, Sampler([geom], ms, bank, noise, window=window, seed=seed, random_fraction=1.0)


def test_camera_frame_sampling_is_a_rigid_view_of_the_pose() -> None:
    """MediaPipe-like sampling: the clean markers are the pose seen from a pitched camera (a
    rotation of the markers FK gives for the limb angles, checked here against FK without the
    camera), centred on the noisy hip midpoint; the limb depth errors change only Z."""
    from core import kinematics as K
    from core.neurik.data import NoiseConfig

    noise = NoiseConfig(
        jitter_m=0, depth_m=0, dropout=0, swap_rate=0, camera_frame=True, limb_depth=0.0
    )
    ms, sampler = _blaze_sampler(noise)
    b = sampler(8)
    hips = [ms.names.index("left_hip"), ms.names.index("right_hip")]
    np.testing.assert_allclose(b.markers_m[:, :, hips].mean(2).numpy(), 0.0, atol=1e-5)
    # Same limb angles with the pelvis upright: pairwise marker distances are unchanged, and the
    # limb angles themselves were not touched by the camera.
    q_up = b.q_rad.double().clone()
    q_up[..., :3] = 0.0
    off = torch.as_tensor(sk.default_offsets(1.75))
    fk = K.forward_kinematics(q_up, torch.zeros(*q_up.shape[:2], 3, dtype=torch.float64), off)
    geom = sampler.subjects[0]
    ref = K.body_points(
        fk, torch.from_numpy(geom.marker_bodies), torch.from_numpy(geom.marker_local_m)
    )
    d_ref = torch.cdist(ref, ref)
    d_got = torch.cdist(b.clean_markers_m.double(), b.clean_markers_m.double())
    torch.testing.assert_close(d_got, d_ref, atol=1e-4, rtol=0)
    # The camera pitch shows as a tilted body axis: not all windows upright.
    up = (b.clean_markers_m[:, 0, 11] + b.clean_markers_m[:, 0, 12]) / 2  # shoulder midpoint
    tilt = torch.rad2deg(torch.atan2(up[:, 2].abs(), up[:, 1]))
    assert tilt.max() > 8.0
    # Limb depth ambiguity: X and Y exactly as the clean markers, Z changed somewhere.
    noise2 = NoiseConfig(
        jitter_m=0, depth_m=0, dropout=0, swap_rate=0, camera_frame=True, limb_depth=1.0
    )
    _, s2 = _blaze_sampler(noise2, seed=1)
    b2 = s2(8)
    x, c = b2.markers_m.double(), b2.clean_markers_m.double()
    torch.testing.assert_close(x[..., :2], c[..., :2], atol=1e-5, rtol=0)
    assert (x[..., 2] - c[..., 2]).abs().max() > 0.05
    assert sk.limit_violations(b2.q_rad.double().numpy(), atol_rad=1e-5) == 0


def test_weights_alias_from_the_environment(monkeypatch) -> None:
    if not (WEIGHTS_DIR / "blazepose33_bank" / "model.safetensors").is_file():
        pytest.skip("blazepose33_bank weights not present")
    load_neurik.cache_clear()
    monkeypatch.setenv("BIOMOCAP_NEURIK_BLAZEPOSE33", "blazepose33_bank")
    try:
        net = load_neurik("blazepose33")
        assert "real-motion bank" in net.cfg.training["motion"]
    finally:
        load_neurik.cache_clear()


def test_mediapipe_offsets_move_each_keypoint_in_its_body_frame(monkeypatch, tmp_path) -> None:
    """The calibrated BlazePose points are the uncalibrated ones plus ``MEDIAPIPE_OFFSETS_M``
    scaled with stature, mirrored (lateral axis) on the left; nothing else moves."""
    from types import SimpleNamespace

    from core.neurik import markersets as ms

    rng = np.random.default_rng(3)
    subject = SimpleNamespace(offsets_m=rng.normal(size=(sk.N_BODIES, 3)) * 0.2, height_m=1.61)
    b0, raw = ms.blaze_points(subject, calibrated=False)
    b1, cal = ms.blaze_points(subject)
    assert (b0 == b1).all()
    s = 1.61 / 1.75
    moved = set()
    for kind, off in ms.MEDIAPIPE_OFFSETS_M.items():
        for side, z in (("right", 1.0), ("left", -1.0)):
            k = BLAZEPOSE_NAMES.index(f"{side}_{kind}")
            want = raw[k] + np.array([off[0], off[1], off[2] * z]) * s
            np.testing.assert_allclose(cal[k], want, atol=1e-12)
            moved.add(k)
    rest = [k for k in range(len(BLAZEPOSE_NAMES)) if k not in moved]
    np.testing.assert_array_equal(cal[rest], raw[rest])
    # The lifter's training landmarks are cached under a key that follows the offsets.
    from core.lift import data as lift_data

    (tmp_path / "bank.json").write_text("{}")
    key = lift_data._key(tmp_path, 8, 0)
    monkeypatch.setitem(ms.MEDIAPIPE_OFFSETS_M, "hip", (0.0, 0.0, 0.0))
    assert lift_data._key(tmp_path, 8, 0) != key


def test_keypoint_calibration_recovers_an_offset_despite_misdetections() -> None:
    """``benchmarks/keypoint_calibration.py``'s fit: pixel residuals made by a known body-frame
    offset, 1 px of detector noise and 10 % wild misdetections give that offset back to 2 mm."""
    from benchmarks.keypoint_calibration import median_px, robust_offset

    rng = np.random.default_rng(7)
    n = 2000
    jac = rng.normal(scale=60.0, size=(n, 2, 3))  # px per m: a person ~6 m away, f ~400 px
    true = np.array([-0.024, 0.011, 0.005])
    r = jac @ true + rng.normal(scale=1.0, size=(n, 2))
    wild = rng.random(n) < 0.1
    r[wild] += rng.normal(scale=40.0, size=(wild.sum(), 2))
    off = robust_offset(jac, r)
    assert np.abs(off - true).max() < 0.002, off
    assert median_px(jac, r, off) < median_px(jac, r, np.zeros(3))
