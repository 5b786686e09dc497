"""Synthetic HMR training data (``core.hmr.synth``): labels re-derived independently from the
joint angles, real Blender renders checked against the labelled camera pixel by pixel (a numpy
rasteriser of the posed mesh vs Blender's flat mask), occlusion labels against the rendered prop
mask, real MediaPipe on the rendered images, determinism, resume and command-line errors."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import numpy as np
import pytest

from core import fk_numpy
from core import skeleton as sk
from core.hmr.synth.props import BOX, CYLINDER, Prop, inside, segment_blocked
from tests.conftest import REPO, shared_path

os.environ.setdefault("ANNY_CACHE_DIR", str(REPO / ".cache" / "anny"))


def _cmu() -> Path:
    return shared_path("mocap", "cmu")


@pytest.fixture(scope="module")
def makers():
    """Training and held-out scene makers (small pools), built once."""
    from core.hmr.synth.scenes import SceneConfig, SceneMaker

    cmu = _cmu()
    cache = REPO / ".cache" / "hmr_synth"
    train = SceneMaker(SceneConfig(seed=3, size_px=192, shapes=4, cmu_dir=cmu, cache_dir=cache))
    held = SceneMaker(
        SceneConfig(seed=3, size_px=192, shapes=4, held_out=True, cmu_dir=cmu, cache_dir=cache)
    )
    return train, held


def _blender():
    from core.hmr.synth.blender import BlenderNotFoundError, blender_python

    try:
        return blender_python()
    except BlenderNotFoundError as e:
        pytest.skip(str(e))


# ------------------------------------------------------------------------------ no Blender


def test_segment_blocked_agrees_with_dense_sampling():
    """The analytic ray/solid test against points sampled densely along each segment."""
    rng = np.random.default_rng(0)
    hits = []
    for kind in (BOX, CYLINDER):
        for _ in range(20):
            q, _ = np.linalg.qr(rng.normal(size=(3, 3)))
            q *= np.sign(np.linalg.det(q))
            half = rng.uniform(0.1, 0.6, 3)
            if kind == CYLINDER:
                half[2] = half[0]
            prop = Prop(kind, rng.normal(size=3) * 0.3, q, half, np.ones(3), True)
            d = rng.normal(size=3)
            start = prop.centre_m + 2.0 * d / np.linalg.norm(d)
            ends = prop.centre_m + rng.normal(size=(200, 3)) * 0.7
            fast = segment_blocked(prop, start, ends)
            t = np.linspace(0.0, 1.0, 4001)
            pts = start + t[None, :, None] * (ends - start)[:, None, :]
            dense = inside(prop, pts.reshape(-1, 3)).reshape(len(ends), -1).any(1)
            # Dense sampling can only miss grazing hits (chord < 1/4000 of the segment).
            assert (dense <= fast).all()
            assert (fast != dense).sum() <= 2, (kind, (fast != dense).sum())
            hits.append(fast.mean())
    assert 0.1 < np.mean(hits) < 0.9  # both outcomes are tested


def test_labels_are_exact_and_within_limits(makers):
    """Re-derive every geometric label from q_rad, offsets_m, R_cam_world, t_cam_m and K."""
    from core.body import pose_surface
    from core.hmr.synth.camera import project_camera

    train, _ = makers
    for i in range(6):
        scene, lab = train.make(i)
        sk.check_q(lab.q_rad)
        q, off, r, t, k = (
            lab.q_rad[0],
            lab.offsets_m[0],
            lab.R_cam_world[0],
            lab.t_cam_m[0],
            lab.K[0],
        )
        assert np.allclose(r @ r.T, np.eye(3), atol=1e-12) and np.isclose(np.linalg.det(r), 1)
        assert k[0, 0] == k[1, 1] and k[0, 1] == 0 and np.array_equal(k[2], [0, 0, 1])
        rot, org = fk_numpy.forward_kinematics(q, np.zeros(3), off)
        cam = (org - org[0]) @ r.T + t
        np.testing.assert_allclose(cam, lab.joints_cam_m[0], atol=1e-9)
        uvw = cam @ k.T
        np.testing.assert_allclose(uvw[:, :2] / uvw[:, 2:], lab.joints_2d_px[0], atol=1e-6)
        kp = fk_numpy.body_points(rot, org, lab.kp_bodies, lab.kp_local_m[0])
        kp_cam = (kp - org[0]) @ r.T + t
        np.testing.assert_allclose(kp_cam, lab.keypoints_cam_m[0], atol=1e-9)
        np.testing.assert_allclose(project_camera(k, kp_cam), lab.keypoints_2d_px[0], atol=1e-6)
        # The rendered surface is the subject's, posed with these angles: in camera space.
        subj = train.subjects[int(lab.subject_id[0])]
        np.testing.assert_allclose(lab.shape[0], subj.shape)
        world_root = lab.camera_centre_m[0] + r.T @ t
        v = pose_surface(subj, q, world_root)
        np.testing.assert_allclose(v, scene.vertices_m, atol=1e-5)
        assert abs(v[:, 1].min()) < 1e-5  # standing on the floor
        # A detector-like box: the body's longer side fills 70..90 % of the crop.
        px = project_camera(k, (v - lab.camera_centre_m[0]) @ r.T)
        side = (px.max(0) - px.min(0)).max() / 192
        assert 0.7 - 1e-6 <= side <= 0.9 + 1e-6, side
        inside_img = ((lab.keypoints_2d_px[0] >= -0.5) & (lab.keypoints_2d_px[0] < 191.5)).all(1)
        assert np.array_equal(lab.keypoints_vis[0], inside_img & ~lab.keypoints_occluded[0])


def test_same_seed_same_samples_in_any_order(makers):
    from core.hmr.synth.scenes import SceneConfig, SceneMaker

    train, _ = makers
    again = SceneMaker(
        SceneConfig(
            seed=3, size_px=192, shapes=4, cmu_dir=_cmu(), cache_dir=REPO / ".cache" / "hmr_synth"
        )
    )
    other = SceneMaker(
        SceneConfig(
            seed=4, size_px=192, shapes=4, cmu_dir=_cmu(), cache_dir=REPO / ".cache" / "hmr_synth"
        )
    )
    a = [train.make(i) for i in (0, 1, 2)]
    b = [again.make(i) for i in (2, 1, 0)][::-1]
    for (sa, la), (sb, lb) in zip(a, b, strict=True):
        for name in la.__dataclass_fields__:
            assert np.array_equal(getattr(la, name), getattr(lb, name)), name
        assert np.array_equal(sa.vertices_m, sb.vertices_m)
        assert np.array_equal(sa.appearance.face_material, sb.appearance.face_material)
        assert np.array_equal(sa.floor_texture, sb.floor_texture)
    assert not np.allclose(a[0][1].q_rad, other.make(0)[1].q_rad)


def test_held_out_poses_and_shapes_are_disjoint_from_training(makers):
    train, held = makers
    assert set(held.motion_clips) == {"131_01", "131_02", "131_03"}
    assert not any(c.startswith("131") for c in train.motion_clips)
    held_labels = [held.make(i)[1] for i in range(30)]
    assert all(lab.source[0].startswith("131_") and lab.held_out[0] for lab in held_labels)
    train_labels = [train.make(i)[1] for i in range(30)]
    sources = {str(lab.source[0]) for lab in train_labels}
    assert not any(s.startswith("131") for s in sources)
    assert "random" in sources and sources - {"random"}  # both kinds of training poses
    train_shapes = np.stack([s.shape for s in train.subjects])
    for s in held.subjects:  # same seed, other pool
        assert np.abs(train_shapes - s.shape).max(1).min() > 1e-3


def _run_main(argv, capsys):
    from core.hmr.synth.generate import main

    rc = main([str(a) for a in argv])
    err = capsys.readouterr().err.strip()
    return rc, err


@pytest.mark.parametrize(
    "argv, says",
    [
        (["--n", "5"], "required: --out"),
        (["--out", "{tmp}/d", "--n", "0"], "--n must be at least 1"),
        (["--out", "{tmp}/d", "--n", "x"], "invalid int value"),
        (["--out", "{tmp}/d", "--n", "3", "--size", "8"], "--size must lie in 64..2048"),
        (["--out", "{tmp}/d", "--n", "3", "--workers", "0"], "--workers must be at least 1"),
        (["--out", "{tmp}/d", "--n", "3", "--cmu", "{tmp}/nope"], "CMU mocap folder not found"),
        (["--out", "{tmp}/d", "--n", "3", "--bogus"], "unrecognized arguments: --bogus"),
    ],
)
def test_bad_arguments_give_one_clear_line(tmp_path, capsys, argv, says):
    rc, err = _run_main([a.replace("{tmp}", str(tmp_path)) for a in argv], capsys)
    assert rc == 2
    assert len(err.splitlines()) == 1 and err.startswith("error: ") and says in err, err
    assert not (tmp_path / "d").exists()


def test_refuses_foreign_folder_and_missing_blender(tmp_path, capsys, monkeypatch):
    foreign = tmp_path / "photos"
    foreign.mkdir()
    (foreign / "x.txt").write_text("mine")
    rc, err = _run_main(["--out", foreign, "--n", "2", "--cmu", _cmu()], capsys)
    assert rc == 2 and "holds no dataset" in err and len(err.splitlines()) == 1
    monkeypatch.setenv("BIOMOCAP_BLENDER_PYTHON", str(tmp_path / "no-blender"))
    rc, err = _run_main(["--out", tmp_path / "d", "--n", "2", "--cmu", _cmu()], capsys)
    assert rc == 2 and "Blender interpreter not found" in err and len(err.splitlines()) == 1


# ------------------------------------------------------------------------------ Blender


def _rasterise(px: np.ndarray, faces: np.ndarray, size: int) -> np.ndarray:
    """(size, size) bool: pixel centres (integer coordinates) inside any projected triangle."""
    out = np.zeros((size, size), bool)
    tri = px[faces]  # (F, 3, 2)
    lo = np.clip(np.ceil(tri.min(1)).astype(int), 0, size - 1)
    hi = np.clip(np.floor(tri.max(1)).astype(int), 0, size - 1)
    span = (hi - lo).max(1)
    keep = (hi >= lo).all(1)
    for s in (2, 4, 8, 16, 32, 64, 10**6):
        sel = np.flatnonzero(keep & (span < s))
        keep[sel] = False
        if len(sel) == 0:
            continue
        w = min(s, size)
        oy, ox = np.mgrid[0:w, 0:w]
        for part in np.array_split(sel, max(1, len(sel) * w * w // 2_000_000)):
            x = lo[part, 0, None, None] + ox
            y = lo[part, 1, None, None] + oy
            a, b, c = (
                (tri[part, j, 0, None, None], tri[part, j, 1, None, None]) for j in range(3)
            )
            d = [
                (q[1] - p[1]) * (x - p[0]) - (q[0] - p[0]) * (y - p[1])
                for p, q in ((a, b), (b, c), (c, a))
            ]
            hit = ((d[0] >= 0) & (d[1] >= 0) & (d[2] >= 0)) | (
                (d[0] <= 0) & (d[1] <= 0) & (d[2] <= 0)
            )
            ok = hit & (x <= hi[part, 0, None, None]) & (y <= hi[part, 1, None, None])
            out[y[ok], x[ok]] = True
    return out


def _iou(a: np.ndarray, b: np.ndarray) -> float:
    return float((a & b).sum() / max((a | b).sum(), 1))


@pytest.mark.blender  # renders with .venv-blender in a subprocess (~3 s)
def test_blender_pixels_match_the_labelled_camera_and_occlusion(makers, tmp_path):
    """Blender's flat body mask = the posed mesh rasterised with the labelled K, R, centre (to
    the pixel: moving the raster by half a pixel is worse); keypoints labelled hidden lie under
    the rendered prop, visible ones do not."""
    import subprocess

    from core.hmr.synth.blender import blender_env
    from core.hmr.synth.compose import mask_labels, read_rgba
    from core.hmr.synth.generate import RENDER_SCRIPT
    from core.hmr.synth.props import PropConfig
    from core.hmr.synth.scenes import SceneConfig, SceneMaker, write_render_chunk

    python = _blender()
    train, _ = makers
    maker = SceneMaker(
        SceneConfig(
            seed=11,
            size_px=192,
            shapes=3,
            cmu_dir=_cmu(),
            cache_dir=REPO / ".cache" / "hmr_synth",
            props=PropConfig(occluder_p=1.0, clutter_p=0.0),
        )
    )
    made = [maker.make(i) for i in range(4)]
    assert sum(bool(lab.has_occluder[0]) for _, lab in made) >= 3
    chunk = write_render_chunk(tmp_path / "c.npz", [s for s, _ in made], maker.faces, masks=True)
    proc = subprocess.run(
        [str(python), str(RENDER_SCRIPT), str(chunk), str(tmp_path / "r")],
        capture_output=True,
        text=True,
        timeout=600,
        env=blender_env(),
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    agree_hidden, agree_vis = [], []
    for scene, lab in made:
        m = mask_labels(read_rgba(tmp_path / "r" / f"mask_{scene.index:06d}.png"))
        assert (m == 1).sum() > 1000
        px = scene.camera.project(scene.vertices_m)
        free = m != 2  # pixels not covered by a prop
        body = m == 1
        iou = _iou(_rasterise(px, maker.faces, 192) & free, body)
        # Measured: 1.0000 (the same pixels); a quarter-pixel shift gives ~0.97.
        assert iou > 0.995, (scene.index, iou)
        for d in ((0.5, 0), (-0.5, 0), (0, 0.5), (0, -0.5)):
            shifted = _iou(_rasterise(px + d, maker.faces, 192) & free, body)
            assert shifted < iou - 0.01, (scene.index, d, shifted)
        # Occlusion: labelled hidden (inside the image) <-> the prop is drawn there.
        kp = np.rint(lab.keypoints_2d_px[0]).astype(int)
        inside_img = ((kp >= 1) & (kp <= 190)).all(1)
        for j in np.flatnonzero(inside_img):
            win = m[kp[j, 1] - 1 : kp[j, 1] + 2, kp[j, 0] - 1 : kp[j, 0] + 2]
            if lab.keypoints_occluded[0, j]:
                agree_hidden.append(bool((win == 2).any()))
            else:
                agree_vis.append(bool((win != 2).any()))
    assert len(agree_hidden) >= 5 and np.mean(agree_hidden) >= 0.9, agree_hidden
    assert np.mean(agree_vis) >= 0.97


@pytest.mark.blender  # three short Blender runs and MediaPipe (~12 s)
def test_generate_command_resumes_deterministically_and_mediapipe_agrees(
    tmp_path, capsys, monkeypatch
):
    """The command end to end: a held-out set made in two runs (3, then 6 images) equals one
    made in one run; a failing Blender leaves the committed samples intact; real MediaPipe finds
    the person where the labels put the limbs."""
    from PIL import Image

    from core.detect import BLAZEPOSE_KEYPOINT_NAMES, PoseEstimator, find_people, select_person
    from core.hmr.synth.labels import SynthLabels, read_meta

    _blender()
    common = ["--seed", "7", "--size", "224", "--shapes", "3", "--held-out", "--cmu", _cmu()]
    common += ["--chunk", "2", "-q"]
    a, b = tmp_path / "a", tmp_path / "b"
    assert _run_main(["--out", a, "--n", "3", *common], capsys)[0] == 0
    assert _run_main(["--out", a, "--n", "6", *common], capsys)[0] == 0
    assert _run_main(["--out", b, "--n", "6", *common], capsys)[0] == 0
    la, lb = SynthLabels.load(a / "labels.npz"), SynthLabels.load(b / "labels.npz")
    assert len(la) == len(lb) == 6
    for name in la.__dataclass_fields__:
        assert np.array_equal(getattr(la, name), getattr(lb, name)), name
    meta = read_meta(a / "meta.json")
    assert meta["n"] == 6 and meta["image_size"] == [224, 224] and meta["held_out"] is True
    assert meta["camera_convention"] == "opencv" and len(meta["keypoint_names"]) == 33
    assert meta["shape_labels"] == ["gender", "age", "muscle", "weight", "height", "proportions"]
    assert la.held_out.all() and all(s.startswith("131_") for s in la.source)
    assert la.q_rad.shape == (6, 46) and la.kp_local_m.shape == (6, 33, 3)
    assert la.kp_bodies.shape == (33,) and la.keypoints_vis.dtype == bool
    sk.check_q(la.q_rad)
    imgs = {}
    for i in range(6):
        ia = np.asarray(Image.open(a / "images" / f"{i:06d}.jpg").convert("RGB"), np.float32)
        ib = np.asarray(Image.open(b / "images" / f"{i:06d}.jpg").convert("RGB"), np.float32)
        assert ia.shape == (224, 224, 3)
        assert np.abs(ia - ib).mean() < 1.0
        imgs[i] = ia.astype(np.uint8)

    # A Blender that fails: an error line and exit 1, the six samples stay valid.
    fake = tmp_path / "fake-blender"
    fake.write_text("#!/bin/sh\necho 'simulated crash' >&2\nexit 3\n")
    fake.chmod(fake.stat().st_mode | stat.S_IEXEC)
    with monkeypatch.context() as mp:
        mp.setenv("BIOMOCAP_BLENDER_PYTHON", str(fake))
        rc, err = _run_main(["--out", a, "--n", "9", *common], capsys)
    assert rc == 1 and "simulated crash" in err.splitlines()[-1]
    assert len(SynthLabels.load(a / "labels.npz")) == 6 and read_meta(a / "meta.json")["n"] == 6
    assert sorted(p.name for p in (a / "images").glob("*.jpg")) == [
        f"{i:06d}.jpg" for i in range(6)
    ]

    joints = ("shoulder", "elbow", "wrist", "hip", "knee", "ankle")
    limbs = [f"{s}_{j}" for j in joints for s in ("left", "right")]
    mp_idx = [BLAZEPOSE_KEYPOINT_NAMES.index(n) for n in limbs]
    lab_idx = [meta["keypoint_names"].index(n) for n in limbs]
    good = 0
    with PoseEstimator() as est:
        for i, rgb in imgs.items():
            people = find_people(rgb, est)
            if not people:
                continue
            pose = people[select_person(people, "main", (224, 224))].pose
            vis = la.keypoints_vis[i, lab_idx]
            err = np.linalg.norm(
                pose.keypoints_2d_px[mp_idx] - la.keypoints_2d_px[i, lab_idx], axis=-1
            )
            # Measured ~2-7 px on 256 px crops; a left/right mix-up or a miss is ~30 px or more.
            good += bool(vis.sum() >= 6 and np.median(err[vis]) < 0.04 * 224)
    assert good >= 4, good
