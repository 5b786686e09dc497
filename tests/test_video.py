"""core.video: real clips and clips written here with PyAV (rotation metadata, variable rate,
several containers), checked against what was written and against OpenCV's own decoder."""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import pytest

from core.video import apply_rotation, focal_35mm_equivalent, iter_frames, read_video_info
from tests.conftest import shared_path


def _pattern(h: int = 48, w: int = 64) -> np.ndarray:
    """Black frame with a white block in the top-left corner: shows any turn or flip."""
    img = np.zeros((h, w, 3), np.uint8)
    img[: h // 3, : w // 4] = 255
    return img


def _write_clip(
    path: Path,
    frames: list[np.ndarray],
    *,
    codec: str = "libx264",
    rate: int = 30,
    rotation: int | None = None,
    pts_ms: list[int] | None = None,
) -> Path:
    with av.open(str(path), "w") as c:
        s = c.add_stream(codec, rate=rate)
        s.width, s.height = frames[0].shape[1], frames[0].shape[0]
        s.pix_fmt = "yuv420p" if codec != "mjpeg" else "yuvj420p"
        if pts_ms is not None:
            s.codec_context.time_base = Fraction(1, 1000)
        if rotation is not None:
            s.set_display_rotation(rotation)
        for i, img in enumerate(frames):
            fr = av.VideoFrame.from_ndarray(img, format="rgb24")
            if pts_ms is not None:
                fr.pts, fr.time_base = pts_ms[i], Fraction(1, 1000)
            for pk in s.encode(fr):
                c.mux(pk)
        for pk in s.encode():
            c.mux(pk)
    return path


def _block_centre(rgb: np.ndarray) -> np.ndarray:
    return np.argwhere(rgb[..., 0] > 128).mean(0)  # (row, col)


def test_demo_clip_info_and_timestamps():
    path = shared_path("videos", "sports2d", "demo.mp4")
    info = read_video_info(path)
    assert (info.width_px, info.height_px) == (1768, 994)
    assert info.fps == pytest.approx(30.0)
    assert info.n_frames == 230
    assert info.rotation_deg == 0
    assert info.duration_s == pytest.approx(230 / 30, abs=0.05)
    frames = list(iter_frames(path, start_s=1.0, end_s=1.5, max_side_px=640))
    idx = np.array([f.index for f in frames])
    t = np.array([f.time_s for f in frames])
    np.testing.assert_array_equal(idx, np.arange(30, 46))  # 1.0 .. 1.5 s inclusive at 30 fps
    np.testing.assert_allclose(t, idx / 30.0, atol=1e-3)
    assert frames[0].rgb.shape == (360, 640, 3) and frames[0].rgb.dtype == np.uint8


@pytest.mark.parametrize("rotation", [90, 180, 270])
def test_rotation_metadata_matches_opencv(tmp_path, rotation):
    """A clip whose display matrix asks for a turn comes out as OpenCV (FFmpeg autorotate)
    shows it, and as the rotation's definition (counter-clockwise) predicts."""
    import cv2

    path = _write_clip(tmp_path / "rot.mp4", [_pattern()] * 3, rotation=rotation)
    info = read_video_info(path)
    assert info.rotation_deg == rotation
    ours = next(iter_frames(path)).rgb
    expect_shape = (64, 48, 3) if rotation in (90, 270) else (48, 64, 3)
    assert ours.shape == expect_shape == (info.height_px, info.width_px, 3)
    cap = cv2.VideoCapture(str(path))
    ok, bgr = cap.read()
    cap.release()
    assert ok and bgr.shape == ours.shape
    assert np.abs(_block_centre(ours) - _block_centre(bgr[..., ::-1])).max() < 1.0
    # by hand: the top-left block ends bottom-left (90 ccw), bottom-right (180), top-right (270)
    r, c = _block_centre(ours) / np.array(ours.shape[:2])
    corner = {90: (r > 0.5, c < 0.5), 180: (r > 0.5, c > 0.5), 270: (r < 0.5, c > 0.5)}
    assert all(corner[rotation])


def test_apply_rotation_on_a_synthetic_matrix():
    img = np.arange(6).reshape(2, 3)[..., None].repeat(3, -1).astype(np.uint8)
    np.testing.assert_array_equal(apply_rotation(img, 90)[..., 0], [[2, 5], [1, 4], [0, 3]])
    np.testing.assert_array_equal(apply_rotation(img, -90), apply_rotation(img, 270))
    assert apply_rotation(img, 0) is img


def test_variable_frame_rate_keeps_real_timestamps(tmp_path):
    pts_ms = [0, 33, 50, 120, 400, 410]
    path = _write_clip(tmp_path / "vfr.mkv", [_pattern()] * len(pts_ms), pts_ms=pts_ms)
    frames = list(iter_frames(path))
    np.testing.assert_allclose([f.time_s for f in frames], np.array(pts_ms) / 1000, atol=1e-3)
    assert [f.index for f in frames] == list(range(len(pts_ms)))
    # a time window selects by real time, not by index * nominal rate
    sel = list(iter_frames(path, start_s=0.1, end_s=0.405))
    assert [f.index for f in sel] == [3, 4]


@pytest.mark.parametrize(
    "name,codec", [("a.webm", "libvpx-vp9"), ("a.avi", "mpeg4"), ("a.mov", "libx264"),
                   ("a.mkv", "mjpeg")],
)  # fmt: skip
def test_common_containers(tmp_path, name, codec):
    rng = np.random.default_rng(0)
    frames = [np.repeat(np.repeat(rng.integers(0, 255, (12, 16, 3), np.uint8), 4, 0), 4, 1)] * 4
    path = _write_clip(tmp_path / name, frames, codec=codec, rate=25)
    info = read_video_info(path)
    assert (info.width_px, info.height_px, info.fps) == (64, 48, 25.0)
    got = list(iter_frames(path))
    assert len(got) == 4
    np.testing.assert_allclose([f.time_s for f in got], np.arange(4) / 25, atol=1e-3)
    assert np.abs(got[0].rgb.astype(int) - frames[0]).mean() < 20  # lossy, but the same image


def test_still_images_png_and_exif_orientation(tmp_path):
    from PIL import Image

    img = _pattern(40, 60)
    Image.fromarray(img).save(tmp_path / "a.png")
    info = read_video_info(tmp_path / "a.png")
    assert (info.width_px, info.height_px, info.n_frames) == (60, 40, 1)
    frames = list(iter_frames(tmp_path / "a.png"))
    assert len(frames) == 1 and frames[0].index == 0 and frames[0].time_s == 0.0
    np.testing.assert_array_equal(frames[0].rgb, img)
    # EXIF orientation 6 = "rotate 90 deg clockwise to display"
    exif = Image.Exif()
    exif[0x0112] = 6
    Image.fromarray(img).save(tmp_path / "b.jpg", exif=exif, quality=95)
    rgb = next(iter_frames(tmp_path / "b.jpg")).rgb
    assert rgb.shape == (60, 40, 3)
    r, c = _block_centre(rgb) / np.array(rgb.shape[:2])
    assert r < 0.5 and c > 0.5  # top-left block turned clockwise -> top-right


def test_real_photo_and_downscale():
    path = shared_path("images", "hsmr", "skate.jpg")
    full = next(iter_frames(path)).rgb
    small = next(iter_frames(path, max_side_px=200)).rgb
    assert max(small.shape[:2]) <= 200
    assert small.shape[1] / small.shape[0] == pytest.approx(
        full.shape[1] / full.shape[0], rel=0.03
    )


def test_bad_inputs(tmp_path):
    with pytest.raises(FileNotFoundError, match="not found"):
        read_video_info(tmp_path / "missing.mp4")
    with pytest.raises(FileNotFoundError):
        list(iter_frames(tmp_path / "missing.mp4"))
    text = tmp_path / "notes.mp4"
    text.write_text("this is not a video\n" * 50)
    with pytest.raises(ValueError, match="not a readable video"):
        read_video_info(text)
    with pytest.raises(ValueError, match="not a readable video"):
        list(iter_frames(text))
    good = _write_clip(tmp_path / "good.mp4", [_pattern()] * 10)
    truncated = tmp_path / "truncated.mp4"
    truncated.write_bytes(good.read_bytes()[: good.stat().st_size // 2])
    with pytest.raises(ValueError, match="truncated.mp4"):
        list(iter_frames(truncated))
    fake_png = tmp_path / "fake.png"
    fake_png.write_text("no image here")
    with pytest.raises(ValueError, match="not a readable image"):
        read_video_info(fake_png)
    with pytest.raises(ValueError, match="folder"):
        read_video_info(tmp_path)
    with pytest.raises(ValueError, match="before start_s"):
        list(iter_frames(good, start_s=2.0, end_s=1.0))
    with pytest.raises(ValueError, match=r"no frame from 5 s \(the video has"):
        list(iter_frames(good, start_s=5.0))


def test_focal_35mm_equivalent_from_exif_and_quicktime_tags(tmp_path):
    from PIL import Image

    exif = Image.Exif()
    exif.get_ifd(0x8769)[0xA405] = 26  # FocalLengthIn35mmFilm
    Image.fromarray(_pattern()).save(tmp_path / "phone.jpg", exif=exif)
    assert focal_35mm_equivalent(tmp_path / "phone.jpg") == 26.0
    Image.fromarray(_pattern()).save(tmp_path / "plain.png")
    assert focal_35mm_equivalent(tmp_path / "plain.png") is None
    mov = tmp_path / "phone.mov"
    with av.open(str(mov), "w", options={"movflags": "use_metadata_tags"}) as c:
        c.metadata["com.apple.quicktime.camera.focal_length.35mm_equivalent"] = "24"
        s = c.add_stream("libx264", rate=30)
        s.width, s.height, s.pix_fmt = 64, 48, "yuv420p"
        for pk in s.encode(av.VideoFrame.from_ndarray(_pattern(), format="rgb24")):
            c.mux(pk)
        for pk in s.encode():
            c.mux(pk)
    assert focal_35mm_equivalent(mov) == 24.0
    assert focal_35mm_equivalent(_write_clip(tmp_path / "x.mp4", [_pattern()])) is None


def test_decode_ahead_same_items_errors_in_place_and_early_close():
    """core.video.decode_ahead: the items in order, a source's error raised where its item
    would have come, and closing early stops the thread and closes the source."""
    import threading

    from core.video import decode_ahead

    assert list(decode_ahead(iter(range(50)), 3)) == list(range(50))

    def failing():
        yield from range(5)
        raise ValueError("bad packet")

    got = []
    with pytest.raises(ValueError, match="bad packet"):
        for x in decode_ahead(failing(), 2):
            got.append(x)
    assert got == list(range(5))

    closed = threading.Event()

    def endless():
        try:
            i = 0
            while True:
                yield i
                i += 1
        finally:
            closed.set()

    it = decode_ahead(endless(), 2)
    assert [next(it) for _ in range(3)] == [0, 1, 2]
    it.close()  # joins the thread, which closes the source
    assert closed.is_set()
    assert not [t for t in threading.enumerate() if t.name == "decode-ahead"]


def test_iter_frames_decoded_ahead_equals_decoded_in_turn(tmp_path):
    """iter_frames (decoding in a thread ahead) gives the frames PyAV decodes one by one."""
    frames = [np.roll(_pattern(), 3 * i, axis=1) for i in range(12)]
    path = _write_clip(tmp_path / "c.mp4", frames)
    ours = [f.rgb for f in iter_frames(path)]
    with av.open(str(path)) as c:
        ref = [f.to_ndarray(format="rgb24") for f in c.decode(video=0)]
    assert len(ours) == len(ref) == 12
    for a, b in zip(ours, ref, strict=True):
        np.testing.assert_array_equal(a, b)


def test_overlay_video_threaded_encoder_same_file_and_failures(tmp_path):
    """write_overlay_video encodes in a thread: the file's frames are the drawn ones (decoded
    back), a drawing error leaves no file and no thread behind."""
    import threading

    from core.visualize import write_overlay_video

    frames = [np.roll(_pattern(64, 96), 4 * i, axis=1) for i in range(10)]
    out = write_overlay_video(tmp_path / "o.mp4", iter(frames), 30.0, lambda i, f: f, 10)
    with av.open(str(out)) as c:
        back = [f.to_ndarray(format="rgb24") for f in c.decode(video=0)]
    assert len(back) == 10
    # lossy H.264 (crf 23): the moving block is where it was drawn in every frame
    for a, b in zip(frames, back, strict=True):
        assert np.abs(a.astype(int) - b.astype(int)).mean() < 8

    def broken(i, f):
        if i == 4:
            raise RuntimeError("draw failed")
        return f

    with pytest.raises(RuntimeError, match="draw failed"):
        write_overlay_video(tmp_path / "bad.mp4", iter(frames), 30.0, broken, 10)
    assert not list(tmp_path.glob("*bad*"))
    assert not [t for t in threading.enumerate() if t.name.startswith("overlay-")]
