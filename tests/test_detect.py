"""core.detect with the real MediaPipe models on real frames: person selection and tracking on
the two-person Sports2D clip, 2D accuracy against COCO ground truth, hard photos, bad input."""

from __future__ import annotations

import json
import math

import av
import numpy as np
import pytest

from core.detect import (
    BLAZEPOSE_KEYPOINT_NAMES,
    COCO17_FROM_BLAZEPOSE,
    COCO17_KEYPOINT_NAMES,
    DEFAULT_FOV_DEG,
    Detections,
    PoseEstimator,
    default_camera,
    detect,
    find_people,
)
from core.video import iter_frames
from tests.conftest import shared_path

KP = {n: i for i, n in enumerate(BLAZEPOSE_KEYPOINT_NAMES)}


def _demo():
    return shared_path("videos", "sports2d", "demo.mp4")


def _centre(b: np.ndarray) -> np.ndarray:
    return np.array([(b[0] + b[2]) / 2, (b[1] + b[3]) / 2])


def _iou(a: np.ndarray, b: np.ndarray) -> float:
    ix = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    iy = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - ix * iy
    return ix * iy / union


@pytest.fixture(scope="module")
def left_track() -> Detections:
    # 2.0 s: the man stands on the box (left), the woman walks on the grass (right)
    return detect(_demo(), start_s=2.0, end_s=3.0, person="left")


@pytest.fixture(scope="module")
def right_track() -> Detections:
    # 2.0-5.0 s: the woman walks leftwards right under the man
    return detect(_demo(), start_s=2.0, end_s=5.0, person="right")


def _assert_continuous(det: Detections) -> None:
    boxes = det.bbox_px[det.person_found]
    for a, b in zip(boxes[:-1], boxes[1:], strict=True):
        size = max(a[2] - a[0], a[3] - a[1])
        shift = np.linalg.norm(_centre(b) - _centre(a)) / size
        assert _iou(a, b) > 0.3 or shift < 0.3, (a, b)


def test_left_and_right_pick_different_people(left_track, right_track):
    h = left_track.image_size_px[1]
    assert left_track.image_size_px == (1768, 994)
    a, b = left_track.bbox_px[0], right_track.bbox_px[0]
    assert left_track.times_s[0] == pytest.approx(2.0) and left_track.frame_indices[0] == 60
    assert _iou(a, b) == 0.0
    assert _centre(a)[0] < _centre(b)[0]
    assert _centre(a)[1] < h / 2 < _centre(b)[1]  # the man stands above, the woman below


def test_tracked_subject_stays_the_same_person(left_track, right_track):
    h = right_track.image_size_px[1]
    for det in (left_track, right_track):
        assert det.person_found.mean() > 0.95
        _assert_continuous(det)
    # the man stays on the box (upper half) ...
    assert np.all(_centre(left_track.bbox_px[left_track.person_found].T)[1] < h / 2)
    # ... and the woman, passing beneath him, is never swapped for him
    found = right_track.bbox_px[right_track.person_found]
    assert np.all(_centre(found.T)[1] > h / 2)
    assert _centre(found[-1])[0] < _centre(found[0])[0] - 400  # she walked left across


def test_keypoints_2d_3d_and_confidence(left_track):
    det = left_track
    t = det.n_frames
    assert det.keypoint_names == BLAZEPOSE_KEYPOINT_NAMES
    assert det.keypoints_2d_px.shape == (t, 33, 2) and det.keypoints_3d_m.shape == (t, 33, 3)
    assert det.confidence.shape == (t, 33) and np.all(
        (det.confidence >= 0) & (det.confidence <= 1)
    )
    ok = det.person_found
    # body landmarks lie in their box (which is built from the confident ones)
    body = [KP[n] for n in ("left_shoulder", "right_shoulder", "left_hip", "right_hip")]
    xy = det.keypoints_2d_px[ok][:, body]
    box = det.bbox_px[ok][:, None]
    assert np.all((xy >= box[..., :2] - 1) & (xy <= box[..., 2:] + 1))
    assert det.confidence[ok][:, body].mean() > 0.9
    # world landmarks: metric and hip-centred
    w = det.keypoints_3d_m[ok]
    mid_hip = (w[:, KP["left_hip"]] + w[:, KP["right_hip"]]) / 2
    assert np.abs(mid_hip).max() < 0.05
    shoulders = np.linalg.norm(w[:, KP["left_shoulder"]] - w[:, KP["right_shoulder"]], axis=-1)
    assert 0.2 < np.median(shoulders) < 0.5
    # the 2D skeleton: head above hips in the image
    nose_y = det.keypoints_2d_px[ok][:, KP["nose"], 1]
    assert np.all(nose_y < det.keypoints_2d_px[ok][:, KP["left_hip"], 1])


def test_index_selector_counts_from_the_left(left_track, right_track):
    first = detect(_demo(), start_s=2.0, end_s=2.1, person=0)
    np.testing.assert_allclose(first.bbox_px[0], left_track.bbox_px[0], atol=1.0)
    second = detect(_demo(), start_s=2.0, end_s=2.0, person="1")
    np.testing.assert_allclose(second.bbox_px[0], right_track.bbox_px[0], atol=1.0)
    with pytest.raises(ValueError, match="only 2 people"):
        detect(_demo(), start_s=2.0, end_s=2.0, person=2)


def test_unknown_selector_and_bad_camera_are_rejected():
    with pytest.raises(ValueError, match="unknown person selector 'tallest'"):
        detect(_demo(), person="tallest")
    with pytest.raises(ValueError, match="either focal_px or fov_deg"):
        detect(_demo(), focal_px=1000, fov_deg=60)


def test_camera_intrinsics():
    cam = default_camera(1920, 1080)
    assert cam.focal_source == "default"
    # independent: the long side spans DEFAULT_FOV_DEG at the default focal
    assert 2 * math.degrees(math.atan(960 / cam.focal_px)) == pytest.approx(DEFAULT_FOV_DEG)
    assert (cam.cx_px, cam.cy_px) == (960, 540)
    user = default_camera(1920, 1080, focal_px=1500)
    assert (user.focal_px, user.focal_source) == (1500, "user")
    fov = default_camera(1080, 1920, fov_deg=90)  # portrait: the long side is the height
    assert fov.focal_px == pytest.approx(960) and fov.focal_source == "user"
    with pytest.raises(ValueError, match="fov_deg"):
        default_camera(100, 100, fov_deg=0)
    # a 35 mm-equivalent focal from the file: by definition f35 / 43.27 mm = f_px / diagonal_px
    meta = default_camera(3000, 2000, focal_35mm=26.0)
    assert meta.focal_source == "metadata"
    assert meta.focal_px == pytest.approx(26.0 / math.hypot(36, 24) * math.hypot(3000, 2000))
    assert default_camera(3000, 2000, focal_px=10.0, focal_35mm=26.0).focal_source == "user"


def test_detect_reads_focal_from_exif(tmp_path):
    from PIL import Image

    exif = Image.Exif()
    exif.get_ifd(0x8769)[0xA405] = 28
    rgb = next(iter_frames(shared_path("images", "hsmr", "skate.jpg"))).rgb
    Image.fromarray(rgb).save(tmp_path / "skate_exif.jpg", exif=exif, quality=95)
    det = detect(tmp_path / "skate_exif.jpg")
    h, w = rgb.shape[:2]
    assert det.camera.focal_source == "metadata"
    assert det.camera.focal_px == pytest.approx(28 / math.hypot(36, 24) * math.hypot(w, h))


def test_coco_pck_against_ground_truth():
    """Every annotated person (>= 10 keypoints) of the COCO test images, matched to a person
    found by the multi-person search; PCK relative to the ground-truth box size."""
    folder = shared_path("images", "coco")
    gt = json.loads((folder / "test_coco.json").read_text())
    assert tuple(gt["categories"][0]["keypoints"]) == COCO17_KEYPOINT_NAMES
    idx = [KP[COCO17_FROM_BLAZEPOSE[n]] for n in COCO17_KEYPOINT_NAMES]
    errs, n_people, n_found = [], 0, 0
    with PoseEstimator() as est:
        for im in gt["images"]:
            rgb = next(iter_frames(folder / im["file_name"])).rgb
            cands = find_people(rgb, est)
            for a in gt["annotations"]:
                if a["image_id"] != im["id"] or a["num_keypoints"] < 10:
                    continue
                n_people += 1
                x, y, w, h = a["bbox"]
                box = np.array([x, y, x + w, y + h])
                ious = [_iou(box, c.box_px) for c in cands]
                if not ious or max(ious) < 0.3:
                    continue
                n_found += 1
                pred = cands[int(np.argmax(ious))].pose.keypoints_2d_px[idx]
                g = np.asarray(a["keypoints"], float).reshape(17, 3)
                vis = g[:, 2] > 0
                errs.append(np.linalg.norm(pred[vis] - g[vis, :2], axis=1) / max(w, h))
    e = np.concatenate(errs)
    pck05, pck10 = float((e < 0.05).mean()), float((e < 0.1).mean())
    print(f"\nCOCO (4 images, {n_people} people with >= 10 keypoints): found {n_found}, "
          f"{e.size} keypoints, PCK@0.05 = {pck05:.3f}, PCK@0.1 = {pck10:.3f}")  # fmt: skip
    assert n_found >= 0.8 * n_people
    assert pck10 > 0.75 and pck05 > 0.55


@pytest.mark.parametrize(
    "name", ["ballerina.png", "exercise.jpeg", "rock_climbing.jpg", "skate.jpg",
             "skateboard.jpg", "yoga1.jpg", "yoga2.jpeg"],
)  # fmt: skip
def test_hsmr_photos(name):
    path = shared_path("images", "hsmr", name)
    det = detect(path, fov_deg=55)
    w, h = det.image_size_px
    assert det.n_frames == 1 and det.person_found[0]
    assert det.camera.focal_source == "user" and det.camera.width_px == w
    x0, y0, x1, y1 = det.bbox_px[0]
    assert -0.05 * w <= x0 < x1 <= 1.05 * w and -0.05 * h <= y0 < y1 <= 1.05 * h
    sure = det.confidence[0] > 0.5
    assert sure.sum() >= 10
    xy = det.keypoints_2d_px[0][sure]
    assert np.all((xy >= -2) & (xy <= np.array([w, h]) + 2))
    # the subject fills a good part of these photos
    assert (x1 - x0) * (y1 - y0) > 0.05 * w * h


def _write(path, frames, rotation=None):
    with av.open(str(path), "w") as c:
        s = c.add_stream("libx264", rate=30)
        s.width, s.height, s.pix_fmt = frames[0].shape[1], frames[0].shape[0], "yuv420p"
        if rotation is not None:
            s.set_display_rotation(rotation)
        for img in frames:
            for pk in s.encode(av.VideoFrame.from_ndarray(img, format="rgb24")):
                c.mux(pk)
        for pk in s.encode():
            c.mux(pk)
    return path


def test_rotated_phone_style_video_gives_upright_keypoints(tmp_path):
    """Frames stored sideways with a display matrix (as phones do) give the keypoints of the
    upright picture, in upright pixel coordinates."""
    from PIL import Image

    upright = next(iter_frames(_demo(), start_s=2.0, end_s=2.0, max_side_px=884)).rgb[:496]
    Image.fromarray(upright).save(tmp_path / "upright.png")
    stored = np.ascontiguousarray(np.rot90(upright, -1))  # turned clockwise on "disk" ...
    video = _write(tmp_path / "portrait.mp4", [stored] * 3, rotation=90)  # ... displayed ccw
    ref = detect(tmp_path / "upright.png", person="left")
    det = detect(video, person="left")
    assert det.image_size_px == ref.image_size_px == (884, 496)
    assert det.person_found.all()
    err = np.linalg.norm(det.keypoints_2d_px[0] - ref.keypoints_2d_px[0], axis=-1)
    sure = ref.confidence[0] > 0.5
    assert np.median(err[sure]) < 4.0  # px; h264 re-encoding only


def test_no_person_and_bad_files(tmp_path):
    black = _write(tmp_path / "black.mp4", [np.zeros((96, 128, 3), np.uint8)] * 3)
    with pytest.raises(ValueError, match="no person found"):
        detect(black)
    with pytest.raises(FileNotFoundError):
        detect(tmp_path / "missing.mp4")
    text = tmp_path / "clip.mp4"
    text.write_text("hello\n" * 100)
    with pytest.raises(ValueError, match="not a readable video"):
        detect(text)
    good = _write(tmp_path / "good.mp4", [np.full((96, 128, 3), 80, np.uint8)] * 10)
    cut = tmp_path / "cut.mp4"
    cut.write_bytes(good.read_bytes()[: good.stat().st_size // 2])
    with pytest.raises(ValueError, match="cut.mp4"):
        detect(cut)


def test_progress_save_load_and_cli(tmp_path):
    from core.cli import main

    path = shared_path("images", "hsmr", "skate.jpg")
    calls = []
    det = detect(path, focal_px=900.0, progress=lambda f, m: calls.append((f, m)))
    assert calls and calls[-1][0] == pytest.approx(1.0)
    assert all(0 <= f <= 1 for f, _ in calls)
    out = det.save(tmp_path / "det.npz")
    back = Detections.load(out)
    np.testing.assert_array_equal(back.keypoints_2d_px, det.keypoints_2d_px)
    np.testing.assert_array_equal(back.keypoints_3d_m, det.keypoints_3d_m)
    assert back.camera.focal_px == 900.0 and back.camera.focal_source == "user"
    assert back.image_size_px == det.image_size_px and back.keypoint_names == det.keypoint_names
    assert det.keypoints_2d_with_conf().shape == (1, 33, 3)
    with pytest.raises(ValueError, match="bbox_px"):
        Detections(**{**det.__dict__, "bbox_px": np.zeros((2, 4))})
    assert main(["detect", str(path), "-o", str(tmp_path / "cli.npz"), "--person", "largest"]) == 0
    cli = Detections.load(tmp_path / "cli.npz")
    assert cli.person_found.all() and cli.camera.focal_source == "default"
    assert main(["detect", str(tmp_path / "nope.mp4"), "-o", str(tmp_path / "x.npz")]) == 2
