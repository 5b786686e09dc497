"""Synthetic renders for the capture benchmark: a posed Anny body rendered by real Blender
(``benchmarks/render_synthetic.py`` in ``.venv-blender``) must be a person to real MediaPipe,
at the place the known camera projects it to."""

from __future__ import annotations

import importlib.util
import sys

import numpy as np
import pytest

from tests.conftest import REPO

_SPEC = importlib.util.spec_from_file_location(
    "capture_synthetic_eval", REPO / "benchmarks" / "capture_synthetic_eval.py"
)


@pytest.fixture(scope="module")
def bench():
    mod = importlib.util.module_from_spec(_SPEC)
    sys.modules.setdefault("capture_synthetic_eval", mod)
    _SPEC.loader.exec_module(mod)
    if not mod.BLENDER_PYTHON.is_file():
        pytest.skip(
            f"Blender interpreter not found: {mod.BLENDER_PYTHON} (see requirements-blender.txt)"
        )
    return mod


def test_rendered_person_is_found_where_the_camera_puts_them(bench, tmp_path):
    from PIL import Image

    from core.body import default_subject, pose_surface
    from core.detect import BLAZEPOSE_KEYPOINT_NAMES, PoseEstimator, find_people, select_person

    subject = default_subject()
    motion = bench.random_motion(subject, seed=3, seconds=5 / 30, fps=30.0)
    verts = pose_surface(subject, motion.q_rad, motion.root_m)
    cam = bench.place_camera(verts, motion.q_rad, 35.0, 300.0, (320, 240), 1.0)
    scene = bench.write_scene(tmp_path / "scene.npz", subject, motion, cam, verts)
    frames = bench.render_frames(scene, tmp_path / "frames", timeout_s=300)
    assert len(frames) == len(motion.q_rad) == 5

    # The true joint centres, projected with the known camera: MediaPipe's 2D hips, knees,
    # ankles, shoulders, elbows and wrists must lie near them.
    truth_px = cam.project(
        bench.limb_points(motion.q_rad, motion.root_m, subject.offsets_m, subject.height_m)
    )
    names = bench.LIMB_LANDMARKS
    body_px = float(np.ptp(truth_px[..., 1]))  # person's height in the image, pixels
    with PoseEstimator() as est:
        for k, path in enumerate(frames):
            rgb = np.asarray(Image.open(path).convert("RGB"))
            assert rgb.shape == (240, 320, 3)
            people = find_people(rgb, est)
            assert people, f"MediaPipe found nobody in {path.name}"
            # The capture's own choice among candidates (duplicates from tiles can appear).
            pose = people[select_person(people, "main", (320, 240))].pose
            idx = [BLAZEPOSE_KEYPOINT_NAMES.index(n) for n in names]
            err = np.linalg.norm(pose.keypoints_2d_px[idx] - truth_px[k], axis=-1)
            # ~2 px measured on a ~120 px tall person; swapping left and right gives ~30 px.
            assert np.median(err) < 0.05 * body_px, (path.name, err.round(1))
