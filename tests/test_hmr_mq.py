"""MQ-HMR: shapes, joint limits by construction, deformable sampling against a hand-computed
bilinear lookup, strict checkpoints, ONNX agreement, query refinement, crops, and a short
train/resume run on a fake data folder written to the data contract."""

from __future__ import annotations

import json
from pathlib import Path
from types import SimpleNamespace

import cv2
import numpy as np
import pytest
import torch

from core import kinematics as K
from core import skeleton as sk
from core.hmr.mq import (
    OnnxMQHMR,
    build_model,
    crop_from_keypoints,
    export_onnx,
    frame_to_crop,
    load_mq_hmr,
    load_weights,
    pelvis_angles_in_world,
    predict,
    preset,
    refine_queries,
    save_weights,
)
from core.hmr.mq.data import SynthDataset
from core.hmr.mq.deform_attn import ms_deform_attn
from core.hmr.mq.pose import (
    EULER_BODIES,
    euler_from_matrix,
    pose_from_raw,
    pose_raw_from_q,
    project_to_arc,
    reframe_pelvis,
)
from core.hmr.mq.pretrained import load_backbone_weights
from core.neurik.markersets import BLAZEPOSE_NAMES, blazepose33

# Anny's phenotype labels, written out so that these tests need not load Anny.
LABELS = ("gender", "age", "muscle", "weight", "height", "proportions")
# World (OpenSim: X forward, Y up, Z right) -> camera (x right, y down, z forward) for a camera on
# the subject's +X side looking back at them.
R_FACING = np.array([[0.0, 0.0, -1.0], [0.0, -1.0, 0.0], [-1.0, 0.0, 0.0]])


@pytest.fixture(scope="module", autouse=True)
def _one_thread():
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)


@pytest.fixture(scope="module")
def model():
    torch.manual_seed(0)
    return build_model(preset("small", shape_labels=LABELS)).eval()


def _random_q(n: int, rng: np.random.Generator) -> np.ndarray:
    lo, hi = sk.limits_rad()
    q = rng.uniform(
        np.where(np.isfinite(lo), lo, -np.pi), np.where(np.isfinite(hi), hi, np.pi), (n, 46)
    )
    q[:, sk.DOF["pelvis_list"]] *= 0.45  # keep the list away from +-90 deg (gimbal lock)
    return q


def _k(size: int, f: float) -> np.ndarray:
    c = size / 2 - 0.5
    return np.array([[f, 0.0, c], [0.0, f, c], [0.0, 0.0, 1.0]])


def _project(k: np.ndarray, p: np.ndarray) -> np.ndarray:
    uvw = p @ k.T
    return uvw[..., :2] / uvw[..., 2:3]


# ---------------------------------------------------------------------------- network and pose


def test_output_shapes_and_query_override(model) -> None:
    s = model.cfg.input_size
    x = torch.randn(2, 3, s, s)
    k = torch.as_tensor(_k(s, 1.4 * s), dtype=torch.float32).expand(2, 3, 3)
    with torch.no_grad():
        out = model(x, k)
        q_count = sk.N_BODIES + len(LABELS) + 1
        assert out.q_rad.shape == (2, 46)
        assert out.R_cam_pelvis.shape == (2, 3, 3)
        assert out.shape.shape == (2, len(LABELS))
        assert out.t_cam_m.shape == (2, 3)
        assert out.queries.shape == (2, q_count, model.cfg.d_model)
        r = out.R_cam_pelvis.double()
        torch.testing.assert_close(r @ r.transpose(1, 2), torch.eye(3).double().expand(2, 3, 3))
        assert torch.allclose(torch.linalg.det(r), torch.ones(2, dtype=torch.float64))
        assert ((out.shape > 0) & (out.shape < 1)).all() and (out.t_cam_m[:, 2] > 0).all()
        # Passing the initial queries back reproduces the output; other queries change it.
        same = model(x, k, queries=out.queries)
        torch.testing.assert_close(same.q_rad, out.q_rad)
        other = model(x, k, queries=out.queries + torch.randn_like(out.queries))
        assert (other.q_rad - out.q_rad).abs().max() > 1e-3
        with pytest.raises(ValueError, match="queries of shape"):
            model(x, k, queries=out.queries[:, :5])
        with pytest.raises(ValueError, match="images of shape"):
            model(torch.randn(2, 3, s + 16, s), k)


def test_pose_decoding_inverts_encoding_and_matches_fk() -> None:
    q = torch.as_tensor(_random_q(2000, np.random.default_rng(0)))
    back = pose_from_raw(pose_raw_from_q(q)).q_rad
    d = back - q
    assert torch.atan2(d.sin(), d.cos()).abs().max() < 1e-9
    # Independent reference: the generalised Tait-Bryan angles applied to the pelvis axes must
    # agree with core.kinematics' own pelvis-angle extraction of FK's pelvis rotation.
    root = [sk.DOF["pelvis_tilt"], sk.DOF["pelvis_list"], sk.DOF["pelvis_rotation"]]
    a = torch.as_tensor(sk.dof_axes()[root])
    p = torch.stack([a[0], a[1], torch.linalg.cross(a[0], a[1])], 1)
    sign = torch.sign(a[2] @ torch.linalg.cross(a[0], a[1]))
    fk = K.forward_kinematics(
        q, torch.zeros(len(q), 3, dtype=q.dtype), torch.as_tensor(sk.default_offsets())
    )
    ours = euler_from_matrix(fk.rotations[:, 0], p, sign)
    torch.testing.assert_close(ours, K.pelvis_angles_from_matrix(fk.rotations[:, 0]))
    assert len(EULER_BODIES) == 7  # hips, lumbar, thorax, head, shoulders


def test_project_to_arc_hand_computed() -> None:
    lo, hi = torch.tensor(0.0), torch.tensor(np.deg2rad(135.0))
    cases = {-170.0: 135.0, -10.0: 0.0, 60.0: 60.0, 150.0: 135.0, -60.0: 0.0, 179.0: 135.0}
    for inp, want in cases.items():
        got = project_to_arc(torch.tensor(np.deg2rad(inp)), lo, hi)
        assert np.rad2deg(got.item()) == pytest.approx(want, abs=1e-4), inp


def test_no_limit_violation_for_random_and_adversarial_input(model) -> None:
    g = torch.Generator().manual_seed(1)
    raws = [
        torch.randn(500, 24, 6, generator=g),
        torch.randn(500, 24, 6, generator=g) * 1e6,
        torch.randn(500, 24, 6, generator=g) * 1e-9,
        torch.zeros(10, 24, 6),
        torch.full((10, 24, 6), -1e30),
        torch.randn(500, 24, 6, generator=g, dtype=torch.float64) * 50.0,
    ]
    for raw in raws:
        q = pose_from_raw(raw).q_rad.double().numpy()
        sk.check_q(q, atol_rad=0.0)  # finite and inside the limits, no tolerance
    s = model.cfg.input_size
    k = torch.as_tensor(_k(s, 1.4 * s), dtype=torch.float32)
    images = [
        torch.randn(8, 3, s, s, generator=g) * 1e4,
        torch.zeros(8, 3, s, s),
        torch.randn(8, 3, s, s, generator=g),
    ]
    with torch.no_grad():
        for x in images:
            out = model(x, k.expand(len(x), 3, 3))
            sk.check_q(out.q_rad.double().numpy(), atol_rad=0.0)
            wild = out.queries + 1e3 * torch.randn(out.queries.shape, generator=g)
            sk.check_q(model(x, k.expand(len(x), 3, 3), wild).q_rad.double().numpy(), atol_rad=0.0)


def test_deformable_sampling_equals_bilinear_lookup() -> None:
    rng = np.random.default_rng(2)
    h, w, d = 5, 7, 3
    v = rng.normal(size=(d, h, w))

    def bilinear(x: float, y: float) -> np.ndarray:
        # Pixel (i, j) has its centre at ((j + 0.5) / w, (i + 0.5) / h) in normalised units.
        px, py = x * w - 0.5, y * h - 0.5
        j0, i0 = int(np.floor(px)), int(np.floor(py))
        fx, fy = px - j0, py - i0
        out = np.zeros(d)
        for di, dj, wt in (
            (0, 0, (1 - fy) * (1 - fx)),
            (0, 1, (1 - fy) * fx),
            (1, 0, fy * (1 - fx)),
            (1, 1, fy * fx),
        ):
            i, j = i0 + di, j0 + dj
            if 0 <= i < h and 0 <= j < w:  # zeros outside
                out += wt * v[:, i, j]
        return out

    pts = [(0.37, 0.61), (0.5 / 7, 0.5 / 5), (0.93, 0.12), (0.02, 0.98)]
    value = torch.as_tensor(v).view(1, 1, d, h, w)
    for x, y in pts:
        loc = torch.tensor([x, y], dtype=torch.float64).view(1, 1, 1, 1, 1, 2)
        got = ms_deform_attn([value], loc, torch.ones(1, 1, 1, 1, 1, dtype=torch.float64))
        np.testing.assert_allclose(got.view(-1).numpy(), bilinear(x, y), atol=1e-12)
    # Two points with weights 0.25 / 0.75 give the weighted sum of the two lookups.
    loc = torch.tensor(pts[:2], dtype=torch.float64).view(1, 1, 1, 1, 2, 2)
    wts = torch.tensor([0.25, 0.75], dtype=torch.float64).view(1, 1, 1, 1, 2)
    got = ms_deform_attn([value], loc, wts).view(-1).numpy()
    np.testing.assert_allclose(
        got, 0.25 * bilinear(*pts[0]) + 0.75 * bilinear(*pts[1]), atol=1e-12
    )


# ---------------------------------------------------------------------------- checkpoints, ONNX


def test_checkpoint_roundtrip_and_strict_loading(model, tmp_path) -> None:
    from safetensors.torch import load_file, save_file

    folder = tmp_path / "w"
    save_weights(model, folder)
    back = load_weights(folder)
    s = model.cfg.input_size
    x = torch.randn(1, 3, s, s)
    k = torch.as_tensor(_k(s, 1.4 * s), dtype=torch.float32)[None]
    with torch.no_grad():
        torch.testing.assert_close(back(x, k).q_rad, model(x, k).q_rad)
    # A tensor missing from the file.
    state = load_file(str(folder / "model.safetensors"))
    state.pop("heads.camera.weight")
    save_file(state, str(folder / "model.safetensors"))
    with pytest.raises(ValueError, match=r"1 missing \(e\.g\. \['heads\.camera\.weight'\]\)"):
        load_weights(folder)
    # A config of another version.
    save_weights(model, folder)
    cfg = json.loads((folder / "config.json").read_text())
    cfg["version"] = 99
    (folder / "config.json").write_text(json.dumps(cfg))
    with pytest.raises(ValueError, match="version 99 is not 1"):
        load_weights(folder)
    # A config that does not describe the tensors (another width).
    cfg["version"] = 1
    cfg["d_model"] = 64
    cfg["dec_heads"] = 4
    (folder / "config.json").write_text(json.dumps(cfg))
    with pytest.raises(ValueError, match="wrong shape"):
        load_weights(folder)
    with pytest.raises(FileNotFoundError, match="python -m core.hmr.mq.train"):
        load_mq_hmr(tmp_path / "nowhere")


def test_backbone_weights_with_timm_names(model, tmp_path) -> None:
    torch.manual_seed(3)
    src = build_model(preset("small", shape_labels=LABELS)).backbone
    state = {f"module.{k}": v.clone() for k, v in src.state_dict().items()}
    # timm layout: a class token in front of a 14 x 14 grid (224 px), plus unused tensors.
    state["module.pos_embed"] = torch.randn(1, 1 + 14 * 14, src.pos_embed.shape[-1])
    state["module.cls_token"] = torch.zeros(1, 1, src.pos_embed.shape[-1])
    state["module.head.weight"] = torch.zeros(1000, src.pos_embed.shape[-1])
    path = tmp_path / "vit.pth"
    torch.save({"model": state}, path)
    dst = build_model(preset("small", shape_labels=LABELS)).backbone
    rep = load_backbone_weights(dst, path)
    assert rep.pos_embed_resized == (14, 14)
    assert set(rep.skipped) == {"cls_token", "head.weight"}
    torch.testing.assert_close(dst.blocks[3].attn.qkv.weight, src.blocks[3].attn.qkv.weight)
    # A bicubic resize of a constant grid is that constant.
    state["module.pos_embed"] = torch.full((1, 1 + 14 * 14, src.pos_embed.shape[-1]), 0.25)
    torch.save(state, path)
    load_backbone_weights(dst, path)
    torch.testing.assert_close(dst.pos_embed, torch.full_like(dst.pos_embed, 0.25))
    del state["module.blocks.7.mlp.fc2.weight"]
    torch.save(state, path)
    with pytest.raises(ValueError, match=r"blocks\.7\.mlp\.fc2\.weight"):
        load_backbone_weights(dst, path)


def test_onnx_matches_torch(model, tmp_path) -> None:
    pytest.importorskip("onnxruntime")
    path = export_onnx(model, tmp_path / "mq.onnx")
    runner = OnnxMQHMR(path)
    rng = np.random.default_rng(4)
    crops = rng.integers(0, 256, size=(3, 256, 256, 3), dtype=np.uint8)  # batch 3 != export's 2
    k = np.stack([_k(256, f) for f in (300.0, 380.0, 450.0)])
    a = predict(model, crops, k)
    b = runner.predict(crops, k)
    # Stated tolerance: 1e-4 rad on angles, 1e-4 on rotations and shape, 1e-4 m on translation.
    np.testing.assert_allclose(b.q_rad, a.q_rad, atol=1e-4)
    np.testing.assert_allclose(b.R_cam_pelvis, a.R_cam_pelvis, atol=1e-4)
    np.testing.assert_allclose(b.shape, a.shape, atol=1e-4)
    np.testing.assert_allclose(b.t_cam_m, a.t_cam_m, atol=1e-4)
    assert b.shape_labels == LABELS


# ---------------------------------------------------------------------------- refinement, crops


def _blaze(off: np.ndarray, height_m: float) -> tuple[np.ndarray, np.ndarray]:
    return blazepose33().define(SimpleNamespace(offsets_m=off, height_m=height_m))


@pytest.mark.parametrize("mode", ["query", "params"])
def test_refinement_reduces_reprojection_error(model, mode) -> None:
    s = 192
    off = sk.default_offsets(1.7)
    bodies, local = _blaze(off, 1.7)
    q = np.zeros((1, 46))
    for name, deg in (
        ("hip_flexion_r", 45),
        ("knee_angle_r", 60),
        ("shoulder_r_x", 70),
        ("elbow_flexion_l", 85),
        ("pelvis_rotation", 30),
    ):
        q[0, sk.DOF[name]] = np.deg2rad(deg)
    q_cam = reframe_pelvis(torch.as_tensor(q), torch.as_tensor(R_FACING))
    t = torch.tensor([[0.1, -0.05, 3.5]], dtype=torch.float64)
    k = _k(s, 1.4 * s)
    fk = K.forward_kinematics(q_cam, t, torch.as_tensor(off))
    target = _project(
        k, K.body_points(fk, torch.as_tensor(bodies), torch.as_tensor(local)).numpy()
    )
    crop = np.random.default_rng(5).integers(0, 256, (1, s, s, 3), dtype=np.uint8)

    def err_px(pred) -> float:
        f = K.forward_kinematics(
            torch.as_tensor(pred.q_rad), torch.as_tensor(pred.t_cam_m), torch.as_tensor(off)
        )
        p = _project(k, K.body_points(f, torch.as_tensor(bodies), torch.as_tensor(local)).numpy())
        return float(np.linalg.norm(p - target, axis=-1).mean())

    start = err_px(predict(model, crop, k[None]))
    ref = refine_queries(
        model, crop, k[None], target, np.ones((1, 33)), bodies, local, off, steps=20, mode=mode
    )
    sk.check_q(ref.q_rad, atol_rad=0.0)
    assert err_px(ref) < 0.85 * start, (start, err_px(ref))
    assert all(p.grad is None for p in model.parameters())  # the network itself is untouched
    if mode == "query":
        assert np.abs(ref.queries - predict(model, crop, k[None]).queries).max() > 1e-3


def test_crop_from_keypoints_intrinsics_follow_the_pixels() -> None:
    h, w = 720, 1280
    k_full = np.array([[1000.0, 0, 640.0], [0, 1000.0, 360.0], [0, 0, 1.0]])
    p_cam = np.array([[0.3, -0.8, 4.0], [-0.2, 0.9, 4.2], [0.05, 0.1, 3.9]])
    uv = _project(k_full, p_cam)
    frame = np.zeros((h, w, 3), np.uint8)
    dot = np.round(uv[2]).astype(int)
    frame[dot[1] - 3 : dot[1] + 4, dot[0] - 3 : dot[0] + 4] = 255  # a 7 x 7 white square
    # Enlarged 3.4 x (a half-pixel convention error would move the dot by 1.7 px) and shrunk
    # 4 x (through the anti-aliasing pre-shrink).
    for size, tol in ((900, 0.06), (128, 0.2)):
        crop = crop_from_keypoints(frame, uv, np.ones(3), k_full, size)
        assert crop.image.shape == (size, size, 3) and crop.image.dtype == np.uint8
        side = 1.25 * (uv.max(0) - uv.min(0)).max()  # the box: 1.25 x the keypoints' extent
        assert crop.K[0, 0] / k_full[0, 0] == pytest.approx(size / side)
        # The dot's centroid lies where K_crop projects its 3D ray.
        want = _project(crop.K, np.linalg.inv(k_full) @ np.array([*dot, 1.0]))
        g = crop.image[..., 0].astype(float)
        ys, xs = np.mgrid[:size, :size]
        got = np.array([(g * xs).sum(), (g * ys).sum()]) / g.sum()
        np.testing.assert_allclose(got, want, atol=tol)
    with pytest.raises(ValueError, match="at least 2 keypoints"):
        crop_from_keypoints(frame, uv, np.array([1.0, 0.0, 0.1]), k_full, 128)


def test_pelvis_angles_back_in_the_world() -> None:
    q = _random_q(100, np.random.default_rng(6))
    rng = np.random.default_rng(7)
    r_cw = np.stack([np.linalg.qr(rng.normal(size=(3, 3)))[0] for _ in range(100)])
    r_cw *= np.linalg.det(r_cw)[:, None, None]  # proper rotations
    q_cam = reframe_pelvis(torch.as_tensor(q), torch.as_tensor(r_cw)).numpy()
    back = pelvis_angles_in_world(q_cam, r_cw)
    fk_a = K.forward_kinematics(
        torch.as_tensor(q),
        torch.zeros(100, 3, dtype=torch.float64),
        torch.as_tensor(sk.default_offsets()),
    )
    fk_b = K.forward_kinematics(
        torch.as_tensor(back),
        torch.zeros(100, 3, dtype=torch.float64),
        torch.as_tensor(sk.default_offsets()),
    )
    torch.testing.assert_close(fk_a.rotations, fk_b.rotations)


# ---------------------------------------------------------------------------- data and training


def write_fake_data(
    folder: Path, n: int, size: int = 128, seed: int = 0, held_every: int = 3
) -> Path:
    """A data folder following the MQ-HMR data contract: random in-limit poses of default-shaped
    subjects in front of a camera, labels by FK, images of noise with the joints drawn in."""
    rng = np.random.default_rng(seed)
    (folder / "images").mkdir(parents=True, exist_ok=True)
    q = _random_q(n, rng) * 0.3
    q[:, [sk.DOF["pelvis_tilt"], sk.DOF["pelvis_list"]]] = 0.0
    q = np.clip(
        q,
        *[
            np.where(np.isfinite(x), x, s * np.inf)
            for x, s in zip(sk.limits_rad(), (-1, 1), strict=True)
        ],
    )
    heights = rng.uniform(1.5, 1.9, n)
    offsets = np.stack([sk.default_offsets(hh) for hh in heights])
    r_cw = np.broadcast_to(R_FACING, (n, 3, 3)).copy()
    t = np.stack(
        [rng.uniform(-0.1, 0.1, n), rng.uniform(-0.1, 0.1, n), rng.uniform(3.0, 4.0, n)], 1
    )
    kk = np.broadcast_to(_k(size, 1.5 * size), (n, 3, 3)).copy()
    q_cam = reframe_pelvis(torch.as_tensor(q), torch.as_tensor(r_cw))
    fk = K.forward_kinematics(q_cam, torch.as_tensor(t), torch.as_tensor(offsets))
    joints = fk.origins.numpy()
    kp_local, kp_bodies = [], None
    for hh, off in zip(heights, offsets, strict=True):
        kp_bodies, loc = _blaze(off, hh)
        kp_local.append(loc)
    kp_local = np.stack(kp_local)
    kp3 = K.body_points(fk, torch.as_tensor(kp_bodies), torch.as_tensor(kp_local)).numpy()
    j2d = np.stack([_project(kk[i], joints[i]) for i in range(n)])
    kp2d = np.stack([_project(kk[i], kp3[i]) for i in range(n)])
    vis = ((kp2d >= 0) & (kp2d <= size - 1)).all(-1)
    for i in range(n):
        img = rng.integers(0, 80, (size, size, 3), dtype=np.uint8)
        for p in j2d[i]:
            cv2.circle(img, tuple(int(v) for v in np.round(p)), 3, (255, 200, 50), -1)
        cv2.imwrite(str(folder / "images" / f"{i:06d}.jpg"), img[..., ::-1])
    np.savez(
        folder / "labels.npz",
        q_rad=q,
        shape=rng.uniform(0, 1, (n, len(LABELS))),
        offsets_m=offsets,
        R_cam_world=r_cw,
        t_cam_m=t,
        K=kk,
        joints_cam_m=joints,
        joints_2d_px=j2d,
        keypoints_2d_px=kp2d,
        keypoints_vis=vis,
        kp_bodies=kp_bodies,
        kp_local_m=kp_local,
        held_out=np.arange(n) % held_every == 0,
    )
    meta = {
        "version": 1,
        "n": n,
        "image_size": [size, size],
        "seed": seed,
        "shape_labels": list(LABELS),
        "keypoint_names": list(BLAZEPOSE_NAMES),
        "camera_convention": "opencv",
    }
    (folder / "meta.json").write_text(json.dumps(meta))
    return folder


def test_dataset_resizes_with_consistent_geometry(tmp_path) -> None:
    data = write_fake_data(tmp_path / "d", 6)
    cfg = preset("small", shape_labels=LABELS)
    for augment in (False, True):
        ds = SynthDataset([data], cfg, "all", augment=augment, seed=1)
        b = ds.collate([ds[i] for i in range(len(ds))])
        assert b.images.shape == (6, 3, 192, 192)
        # The 2D labels are still the projections of the 3D joints through the batch's K.
        proj = np.einsum("bij,bnj->bni", b.K.double().numpy(), b.joints_cam_m.double().numpy())
        proj = proj[..., :2] / proj[..., 2:]
        np.testing.assert_allclose(proj, b.joints_2d_px.double().numpy(), atol=1e-3)
    # Labels that break the convention (translation in the wrong frame) are refused.
    lab = dict(np.load(data / "labels.npz"))
    lab["t_cam_m"] = lab["t_cam_m"] @ R_FACING
    np.savez(data / "labels.npz", **lab)
    with pytest.raises(ValueError, match="joints_cam_m disagree with FK"):
        SynthDataset([data], cfg, "all")


def test_train_three_steps_then_resume(tmp_path) -> None:
    from core.hmr.mq.train import main

    data = write_fake_data(tmp_path / "data", 10)
    out = tmp_path / "run"
    common = ["--data", str(data), "--config", "small", "--out", str(out), "--batch", "4"]
    assert main([*common, "--max-steps", "3", "--minutes", "5"]) == 0
    cfg = json.loads((out / "config.json").read_text())
    assert cfg["training"]["steps"] == 3
    assert cfg["training"]["validation"] and cfg["training"]["validation"][-1]["step"] == 3
    assert np.isfinite(cfg["training"]["best_val_mpjpe_mm"])
    m1 = load_mq_hmr(out)  # strict load of the written checkpoint
    assert m1.cfg.shape_labels == LABELS
    assert main([*common, "--max-steps", "3", "--minutes", "5"]) == 2  # refuses to overwrite
    assert main([*common, "--max-steps", "5", "--minutes", "5", "--resume"]) == 0
    cfg = json.loads((out / "config.json").read_text())
    assert cfg["training"]["steps"] == 5
    assert [r["step"] for r in cfg["training"]["validation"]] == [3, 5]
    assert [r["start_step"] for r in cfg["training"]["runs"]] == [0, 3]
    last = load_weights(out, stem="last")
    changed = any(
        not torch.equal(a, b)
        for a, b in zip(m1.state_dict().values(), last.state_dict().values(), strict=True)
    )
    assert changed  # the resumed steps trained


# ---------------------------------------------------------------------------- 2D-informed queries


def _kp_input(b: int, s: int, seed: int) -> torch.Tensor:
    rng = np.random.default_rng(seed)
    kp = np.concatenate([rng.uniform(0, s - 1, (b, 33, 2)), rng.uniform(0.2, 1, (b, 33, 1))], -1)
    return torch.as_tensor(kp, dtype=torch.float32)


def test_keypoint_branch_starts_as_a_no_op_then_learns(model) -> None:
    s = model.cfg.input_size
    assert model.cfg.keypoint_queries and model.kp_encoder is not None
    x = torch.randn(1, 3, s, s)
    k = torch.as_tensor(_k(s, 1.4 * s), dtype=torch.float32)[None]
    kp = _kp_input(1, s, 0)
    with torch.no_grad():  # zero-initialised branch: keypoints change nothing yet
        a, b = model(x, k), model(x, k, keypoints=kp)
    torch.testing.assert_close(a.q_rad, b.q_rad, rtol=0, atol=0)
    torch.testing.assert_close(a.queries, b.queries, rtol=0, atol=0)
    with pytest.raises(ValueError, match="keypoints of shape"):
        model(x, k, keypoints=kp[:, :20])
    # A few optimisation steps on one sample: the branch now carries the keypoints through.
    torch.manual_seed(1)
    net = build_model(preset("small", shape_labels=LABELS)).train()
    net.load_state_dict(model.state_dict())
    opt = torch.optim.Adam(net.parameters(), lr=1e-3)
    target = torch.zeros(1, 46)
    for _ in range(3):
        opt.zero_grad()
        (net(x, k, keypoints=kp).q_rad - target).pow(2).sum().backward()
        opt.step()
    net.eval()
    with torch.no_grad():
        a, b = net(x, k), net(x, k, keypoints=kp)
        c = net(x, k, keypoints=_kp_input(1, s, 1))
    assert (a.q_rad - b.q_rad).abs().max() > 1e-4
    assert (b.q_rad - c.q_rad).abs().max() > 1e-4


def test_old_config_loads_without_keypoint_branch(model, tmp_path) -> None:
    old = preset("small", shape_labels=LABELS, keypoint_queries=False)
    d = json.loads(old.to_json())
    del d["keypoint_queries"]  # a config.json written before the field existed
    back = type(old).from_json(json.dumps(d))
    assert back.keypoint_queries is False
    net = build_model(back).eval()
    assert net.kp_encoder is None
    s = back.input_size
    x = torch.randn(1, 3, s, s)
    k = torch.as_tensor(_k(s, 1.4 * s), dtype=torch.float32)[None]
    with torch.no_grad():  # keypoints are accepted and ignored
        torch.testing.assert_close(net(x, k).q_rad, net(x, k, keypoints=_kp_input(1, s, 0)).q_rad)


def test_onnx_matches_torch_with_keypoints(model, tmp_path) -> None:
    pytest.importorskip("onnxruntime")
    torch.manual_seed(2)
    net = build_model(preset("small", shape_labels=LABELS)).eval()
    with torch.no_grad():  # a trained-like branch: non-zero last layers
        net.kp_encoder.mlp[-1].weight.normal_(0, 0.02)
        for layer in net.layers:
            layer.kp_attn.out_proj.weight.normal_(0, 0.05)
    runner = OnnxMQHMR(export_onnx(net, tmp_path / "mq.onnx"))
    rng = np.random.default_rng(6)
    crops = rng.integers(0, 256, size=(3, 256, 256, 3), dtype=np.uint8)
    k = np.stack([_k(256, f) for f in (300.0, 380.0, 450.0)])
    kps = rng.uniform(0, 255, (3, 33, 2))
    conf = rng.uniform(0, 1, (3, 33))
    conf[0, :5] = 0.0
    kps[1, 3] = np.nan
    a = predict(net, crops, k, kps, conf)
    b = runner.predict(crops, k, kps, conf)
    np.testing.assert_allclose(b.q_rad, a.q_rad, atol=1e-4)
    np.testing.assert_allclose(b.t_cam_m, a.t_cam_m, atol=1e-4)
    np.testing.assert_allclose(b.shape, a.shape, atol=1e-4)
    assert np.abs(a.q_rad - predict(net, crops, k).q_rad).max() > 1e-4  # keypoints matter
    np.testing.assert_allclose(  # without keypoints as well
        runner.predict(crops, k).q_rad, predict(net, crops, k).q_rad, atol=1e-4
    )


def test_keypoint_input_clean_and_corrupted() -> None:
    from core.hmr.mq.data import KeypointNoise, corrupt_keypoints, keypoint_input
    from core.hmr.mq.preprocess import preprocess_keypoints

    s = 192
    rng = np.random.default_rng(7)
    kp = rng.uniform(0, s - 1, (33, 2))
    kp[0] = (-20.0, 50.0)  # outside the crop
    vis = np.ones(33, bool)
    vis[5] = False  # occluded but labelled
    clean = keypoint_input(kp, vis, s)
    assert clean.shape == (33, 3)
    assert clean[0].tolist() == [0.0, 0.0, 0.0]
    assert clean[5, 2] == pytest.approx(0.3) and clean[6, 2] == 1.0
    np.testing.assert_allclose(clean[1:, :2], kp[1:], atol=1e-4)
    n_none, swapped = 0, 0
    for _ in range(400):
        c = corrupt_keypoints(clean, s, rng)
        assert c.shape == (33, 3) and c.dtype == np.float32
        assert ((c[:, 2] >= 0) & (c[:, 2] <= 1)).all()
        assert (c[c[:, 2] == 0, :2] == 0).all()
        n_none += int((c[:, 2] == 0).all())
    assert 15 < n_none < 70  # p = 0.1 of no keypoints at all
    for _ in range(50):  # a certain swap with no noise exchanges the left and right elbows
        c = corrupt_keypoints(clean, s, rng, KeypointNoise(0, 0, 0, 1.0, 0))
        swapped += int(np.allclose(c[13, :2], clean[14, :2]) or np.allclose(c[25], clean[26]))
    assert swapped == 50
    # Crop pixels -> network pixels as K: a 384 px crop halves the coordinates.
    cfg = preset("small", shape_labels=LABELS)
    kp2 = np.full((1, 33, 2), 101.5)
    kp2[0, 1] = np.nan
    net_in = preprocess_keypoints(kp2, np.ones((1, 33)), 1, (384, 384), cfg)
    assert net_in[0, 0].tolist() == [50.5, 50.5, 1.0]
    assert net_in[0, 1].tolist() == [0.0, 0.0, 0.0]


def test_train_init_from_an_image_only_run(tmp_path, caplog) -> None:
    from core.hmr.mq.train import main

    data = write_fake_data(tmp_path / "data", 8)
    torch.manual_seed(5)
    old = build_model(preset("small", shape_labels=LABELS, keypoint_queries=False))
    src = tmp_path / "old"
    save_weights(old, src)
    # Lossless: the new network initialised from the old weights gives the old outputs.
    from core.hmr.mq.train import init_from

    fresh = build_model(preset("small", shape_labels=LABELS))
    assert init_from(fresh, src) and fresh.cfg.keypoint_queries
    s = fresh.cfg.input_size
    x = torch.randn(2, 3, s, s)
    k = torch.as_tensor(_k(s, 1.4 * s), dtype=torch.float32).expand(2, 3, 3)
    with torch.no_grad():
        want = old.eval()(x, k).q_rad
        got = fresh.eval()(x, k, keypoints=_kp_input(2, s, 3)).q_rad
    torch.testing.assert_close(got, want, rtol=0, atol=1e-6)
    out = tmp_path / "run"
    common = ["--data", str(data), "--config", "small", "--batch", "4", "--minutes", "5"]
    with caplog.at_level("INFO"):
        assert main([*common, "--out", str(out), "--max-steps", "1", "--init-from", str(src)]) == 0
    cfg = json.loads((out / "config.json").read_text())
    new = cfg["training"]["runs"][0]["new_tensors"]
    assert new and all(n.startswith("kp_encoder.") or ".kp_" in n for n in new)
    assert "layers.0.kp_attn.out_proj.weight" in new and "kp_encoder.embed" in new
    assert "kp_encoder.embed" in caplog.text
    assert load_mq_hmr(out).cfg.keypoint_queries
    # Weights of another width do not fit: refused with one clear line.
    other = build_model(preset("small", shape_labels=LABELS, d_model=64, keypoint_queries=False))
    save_weights(other, tmp_path / "other")
    args = [*common, "--out", str(tmp_path / "run2"), "--max-steps", "1"]
    assert main([*args, "--init-from", str(tmp_path / "other")]) == 2


@pytest.mark.parametrize("name", ["skate.jpg", "yoga1.jpg", "ballerina.png"])
def test_shipped_small_weights_on_real_photos(name) -> None:
    """The shipped network on real HSMR photos with real MediaPipe keypoints: its body, before
    any refinement, reprojects onto the detected keypoints within ~8 % of the crop (measured
    ~6 px of 192; a randomly initialised network: 23-70 px), query refinement brings it closer,
    and nothing leaves the limits."""
    from core.body import build_subject
    from core.detect import detect
    from core.hmr.mq import WEIGHTS_DIR
    from core.video import iter_frames
    from tests.conftest import shared_path

    if not (WEIGHTS_DIR / "small" / "model.safetensors").is_file():
        pytest.skip("no shipped MQ-HMR weights in core/hmr/mq/weights/small")
    path = shared_path("images", "hsmr", name)
    net = load_mq_hmr("small")
    det = detect(path)
    cam = det.camera
    k_full = cam.intrinsics
    rgb = next(iter(iter_frames(path))).rgb
    kp, conf = det.keypoints_2d_px[0], det.confidence[0]
    crop = crop_from_keypoints(rgb, kp, conf, k_full, net.cfg.input_size)
    kp_crop = frame_to_crop(kp, crop.K, k_full)
    pred = predict(
        net, crop.image[None], crop.K[None], keypoints_px=kp_crop[None], conf=conf[None]
    )
    subject = build_subject(pred.shape_dict(0))
    bodies, local = blazepose33().define(subject)

    def median_error_px(p) -> float:
        fk = K.forward_kinematics(
            torch.as_tensor(p.q_rad),
            torch.as_tensor(p.t_cam_m),
            torch.as_tensor(subject.offsets_m),
        )
        pts = K.body_points(fk, torch.as_tensor(bodies), torch.as_tensor(local)).numpy()[0]
        uv = _project(crop.K, pts)
        ok = conf > 0.5
        return float(np.median(np.linalg.norm(uv[ok] - kp_crop[ok], axis=1)))

    refined = refine_queries(
        net, crop.image[None], crop.K[None], kp_crop[None], conf[None], bodies, local,
        subject.offsets_m, steps=10,
    )  # fmt: skip
    e0, e1 = median_error_px(pred), median_error_px(refined)
    assert e0 < 0.08 * net.cfg.input_size, e0
    assert e1 < e0
    assert sk.limit_violations(pred.q_rad) == 0 and sk.limit_violations(refined.q_rad) == 0
    assert pred.t_cam_m[0, 2] > 0.5  # in front of the camera


def test_weights_of_an_older_skeleton_convention_output_the_current_one(model, tmp_path) -> None:
    """A config.json without ``skeleton_convention`` was trained in convention 1 (subtalar and
    mtp with the opposite sign): the network's angles are converted, the rest is unchanged."""
    d = json.loads(model.cfg.to_json())
    del d["skeleton_convention"]
    old_cfg = type(model.cfg).from_json(json.dumps(d))
    assert old_cfg.skeleton_convention == 1
    old = build_model(old_cfg).eval()
    old.load_state_dict(model.state_dict())
    s = model.cfg.input_size
    x = torch.randn(1, 3, s, s)
    k = torch.as_tensor(_k(s, 1.4 * s), dtype=torch.float32)[None]
    with torch.no_grad():
        q_new, q_old = model(x, k).q_rad[0].double(), old(x, k).q_rad[0].double()
    flipped = [sk.DOF[n] for n in sk.CONVENTION_FLIPS[2]]
    same = [i for i in range(sk.N_DOFS) if i not in flipped]
    torch.testing.assert_close(q_old[flipped], -q_new[flipped])
    torch.testing.assert_close(q_old[same], q_new[same])
    assert model.cfg.skeleton_convention == sk.SKELETON_CONVENTION
