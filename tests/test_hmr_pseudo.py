"""Pseudo ground truth on real frames (``core.hmr.pseudo``): the real capture pipeline on 0.3 s of
the Sports2D clip, the folder read back by the MQ-HMR data loader, the labels re-derived by
forward kinematics and projection, the 2D labels against MediaPipe (the capture's detections and
a fresh MediaPipe run on the written crops); and the per-sample weight in the loader and the
losses."""

from __future__ import annotations

import json
import math
import os
import stat

import numpy as np
import pytest
import torch

from core import fk_numpy
from core import skeleton as sk
from core.hmr.mq import build_model, preset
from core.hmr.mq.data import SynthDataset
from core.hmr.mq.losses import loss_terms
from core.neurik.markersets import BLAZEPOSE_NAMES, MEDIAPIPE_OFFSETS_M
from tests.conftest import REPO, shared_path
from tests.test_hmr_mq import LABELS, write_fake_data

os.environ.setdefault("ANNY_CACHE_DIR", str(REPO / ".cache" / "anny"))


def _project(k: np.ndarray, p: np.ndarray) -> np.ndarray:
    uvw = np.einsum("nij,nmj->nmi", k, p)
    return uvw[..., :2] / uvw[..., 2:]


@pytest.fixture(scope="module")
def pseudo_folder(tmp_path_factory):
    from core.hmr.pseudo import main

    video = shared_path("videos", "sports2d", "demo.mp4")
    out = tmp_path_factory.mktemp("pseudo") / "sports"
    argv = [str(video), "-o", str(out), "--start", "2.0", "--end", "2.3", "--quiet"]
    assert main(argv) == 0
    return out


def test_pseudo_folder_loads_and_labels_are_consistent(pseudo_folder) -> None:
    d = pseudo_folder
    meta = json.loads((d / "meta.json").read_text())
    with np.load(d / "labels.npz", allow_pickle=False) as z:
        lab = {k: z[k] for k in z.files}
    n = meta["n"]
    assert meta["source"] == "pseudo" and meta["version"] == 1 and n >= 8  # 0.3 s at 30 fps
    assert meta["image_size"] == [256, 256] and meta["keypoint_names"] == list(BLAZEPOSE_NAMES)
    assert meta["generator"].startswith("python -m core.hmr.pseudo")
    src = meta["provenance"]["inputs"][0]
    assert src["samples"] == n and src["limit_violations"] == 0 and "surface" in str(src)
    assert not lab["held_out"].any() and sk.limit_violations(lab["q_rad"]) == 0
    assert stat.S_IMODE(d.stat().st_mode) & 0o055  # not the 0700 of a temp folder
    assert [p.name for p in d.parent.iterdir()] == [d.name]  # no staging folder left

    # The MQ-HMR loader reads it (its own checks: FK vs joints_cam_m, projection vs 2D).
    cfg = preset("small", shape_labels=tuple(meta["shape_labels"]))
    ds = SynthDataset([d], cfg, "train")
    assert len(ds) == n and len(SynthDataset([d], cfg, "val")) == 0
    b = ds.collate([ds[i] for i in range(n)])
    np.testing.assert_allclose(b.weight.numpy(), lab["weight"], rtol=1e-6)

    # Labels re-derived as the contract states: FK of the world pose, rotated into the camera.
    org = np.stack(
        [fk_numpy.forward_kinematics(q, np.zeros(3), o)[1] for q, o in zip(lab["q_rad"], lab["offsets_m"], strict=True)]
    )  # fmt: skip
    cam = np.einsum("nij,nbj->nbi", lab["R_cam_world"], org - org[:, :1])
    cam += lab["t_cam_m"][:, None]
    np.testing.assert_allclose(cam, lab["joints_cam_m"], atol=1e-9)
    np.testing.assert_allclose(_project(lab["K"], cam), lab["joints_2d_px"], atol=1e-6)
    # BlazePose knees and elbows sit at the joint centres moved by where MediaPipe puts them
    # (MEDIAPIPE_OFFSETS_M, scaled with a stature under 2.2 m): their labels project within that
    # distance of the joints.
    for kp, body, kind in (("left_knee", "tibia_l", "knee"), ("right_elbow", "ulna_r", "elbow")):
        reach_m = np.linalg.norm(MEDIAPIPE_OFFSETS_M[kind]) * 2.2 / 1.75
        reach_px = reach_m * lab["K"][:, 0, 0] / cam[:, sk.BODY[body], 2]
        dist = np.linalg.norm(
            lab["keypoints_2d_px"][:, BLAZEPOSE_NAMES.index(kp)]
            - lab["joints_2d_px"][:, sk.BODY[body]],
            axis=-1,
        )
        assert (dist <= reach_px + 1e-6).all(), (kp, dist, reach_px)
    # keypoints_vis: MediaPipe confidence > 0.5 and the labelled point inside the crop.
    kp = lab["keypoints_2d_px"]
    inside = ((kp >= -0.5) & (kp <= 255.5)).all(-1)
    np.testing.assert_array_equal(lab["keypoints_vis"], (lab["keypoints_conf"] > 0.5) & inside)
    # The weight: exp(-e / 10 px), e the confidence-weighted distance to MediaPipe's points.
    conf = np.where(lab["keypoints_conf"] > 0.5, lab["keypoints_conf"], 0.0)
    dist = np.linalg.norm(kp - lab["keypoints_mp_px"], axis=-1)
    e = (conf * dist).sum(1) / conf.sum(1)
    np.testing.assert_allclose(lab["reprojection_px"], e, rtol=1e-9)
    np.testing.assert_allclose(lab["weight"], np.exp(-e / 10.0), rtol=1e-9)
    assert (lab["weight"] > 0.2).all() and (lab["weight"] <= 1).all()
    # The refined body's 2D points lie close to MediaPipe's where MediaPipe is confident.
    near = dist[lab["keypoints_conf"] > 0.5]
    assert np.percentile(near, 90) < 15.0, np.percentile(near, [50, 90])


def test_fresh_mediapipe_on_the_crops_agrees_with_the_labels(pseudo_folder) -> None:
    """Real MediaPipe run again on the written JPEG crops finds the person where the labels
    (projected with the crop's K) put them: checks the crop, its K and the frame alignment."""
    from PIL import Image

    from core.detect import PoseEstimator, find_people

    d = pseudo_folder
    with np.load(d / "labels.npz") as z:
        kp, n = z["keypoints_2d_px"], len(z["q_rad"])
    errs = []
    with PoseEstimator() as est:
        for i in range(n):
            rgb = np.asarray(Image.open(d / "images" / f"{i:06d}.jpg").convert("RGB"))
            assert rgb.shape == (256, 256, 3)
            people = find_people(rgb, est)
            assert people, f"crop {i}: MediaPipe finds nobody"
            pose = min(
                people, key=lambda c: np.median(np.linalg.norm(c.pose.keypoints_2d_px - kp[i], axis=1))
            ).pose  # fmt: skip
            ok = pose.confidence > 0.5
            errs.append(np.linalg.norm(pose.keypoints_2d_px - kp[i], axis=1)[ok])
    errs = np.concatenate(errs)
    assert errs.size > 15 * n and np.percentile(errs, 90) < 15.0, np.percentile(errs, [50, 90])


def test_existing_output_is_refused_in_one_line(pseudo_folder, capsys) -> None:
    from core.hmr.pseudo import main

    before = sorted(p.name for p in pseudo_folder.iterdir())
    video = shared_path("videos", "sports2d", "demo.mp4")
    rc = main([str(video), "-o", str(pseudo_folder), "--end", "0.1", "--quiet"])
    err = capsys.readouterr().err.strip().splitlines()
    assert rc == 2 and len(err) == 1 and "already exists" in err[0]
    assert sorted(p.name for p in pseudo_folder.iterdir()) == before
    rc = main([str(video), "-o", str(pseudo_folder.parent / "x"), "--every", "0", "--quiet"])
    assert rc == 2 and "--every" in capsys.readouterr().err


# ------------------------------------------------------------------------------ weights


def test_loader_reads_weight_or_defaults_to_one(tmp_path) -> None:
    d = write_fake_data(tmp_path / "d", 4)
    cfg = preset("small", shape_labels=LABELS)
    assert [SynthDataset([d], cfg, "all")[i]["weight"] for i in range(4)] == [1.0] * 4
    lab = dict(np.load(d / "labels.npz"))
    np.savez(d / "labels.npz", **lab, weight=np.array([0.5, 1.0, 0.0, 2.0]))
    ds = SynthDataset([d], cfg, "all")
    assert ds.collate([ds[i] for i in range(4)]).weight.tolist() == [0.5, 1.0, 0.0, 2.0]
    np.savez(d / "labels.npz", **lab, weight=np.array([0.5, -1.0, 0.0, 1.0]))
    with pytest.raises(ValueError, match="weight must be"):
        SynthDataset([d], cfg, "all")


def test_sample_weight_scales_every_loss_term(tmp_path) -> None:
    """A sample of weight 0 changes no term; equal weights give the plain means."""
    torch.manual_seed(0)
    d = write_fake_data(tmp_path / "d", 3, size=64)
    cfg = preset(
        "small", shape_labels=LABELS, input_size=64, vit_dim=64, vit_depth=3, vit_heads=2,
        pyramid_layers=(1, 2, 3), d_model=32, dec_layers=1, dec_heads=2,
    )  # fmt: skip
    model = build_model(cfg).eval()
    ds = SynthDataset([d], cfg, "all")
    items = [ds[i] for i in range(3)]

    def terms(idx: list[int], w: list[float]) -> tuple[dict[str, float], object, object]:
        its = [dict(items[i], weight=np.float64(wi)) for i, wi in zip(idx, w, strict=True)]
        b = ds.collate(its)
        with torch.no_grad():
            out = model(b.images, b.K)
            t = loss_terms(out, b, cfg.input_size)
        return {k: float(v) for k, v in t.items() if k != "scapula_rad"}, out, b

    solo, _, _ = terms([0], [1.0])
    masked, _, _ = terms([0, 1, 2], [1.0, 0.0, 0.0])
    for k in solo:
        assert masked[k] == pytest.approx(solo[k], rel=1e-4, abs=1e-7), k
    ones, out, b = terms([0, 1, 2], [1.0, 1.0, 1.0])
    twos, _, _ = terms([0, 1, 2], [2.0, 2.0, 2.0])
    for k in ones:
        assert twos[k] == pytest.approx(ones[k], rel=1e-6), k
    # Equal weights: the plain mean over the batch, computed here independently.
    from core import kinematics as K

    fk = K.forward_kinematics(out.q_rad, torch.zeros_like(out.t_cam_m), b.offsets_m)
    gt = b.joints_cam_m - b.joints_cam_m[:, :1]
    plain = float((fk.origins - gt).norm(dim=-1).mean())
    assert ones["joints3d_m"] == pytest.approx(plain, rel=1e-5)
    assert ones["shape"] == pytest.approx(float((out.shape - b.shape).abs().mean()), rel=1e-5)
    assert not math.isclose(masked["joints3d_m"], ones["joints3d_m"], rel_tol=1e-3)
