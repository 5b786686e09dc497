"""Video and still-image decoding with PyAV: real timestamps, rotation metadata honoured.

Any container FFmpeg reads (mp4, mov, avi, webm, mkv...) at any resolution. Frame times are the
decoder's presentation timestamps (``pts * time_base``, relative to the stream start), so a
variable-frame-rate phone clip keeps its true timing. A display matrix (phone videos shot in
portrait) is applied so that frames come out upright, as players show them. Still images (jpg,
png...) are a one-frame clip, with their EXIF orientation applied.
"""

from __future__ import annotations

import logging
import queue
import threading
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import numpy as np

__all__ = [
    "VideoInfo",
    "Frame",
    "DecodeReport",
    "read_video_info",
    "iter_frames",
    "decode_ahead",
    "is_image",
    "focal_35mm_equivalent",
    "IMAGE_SUFFIXES",
]

log = logging.getLogger(__name__)

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".webp", ".tif", ".tiff")
STILL_IMAGE_FPS = 1.0  # nominal rate given to a still image (a 1-frame clip)


@dataclass
class VideoInfo:
    path: Path
    width_px: int  # after rotation (as displayed)
    height_px: int  # after rotation (as displayed)
    fps: float  # nominal (average) frame rate; real times come with each Frame
    n_frames: int  # from the container; estimated as duration * fps when it does not say
    rotation_deg: int  # 0, 90, 180 or 270: counter-clockwise turn applied to decoded frames
    duration_s: float
    codec: str


@dataclass
class DecodeReport:
    """What went wrong while decoding, filled in by :func:`iter_frames` as it goes."""

    frames: int = 0  # frames yielded
    damaged_packets: int = 0  # packets the decoder rejected (their frames are missing)
    stopped_early: str = ""  # why decoding ended before the requested range did, if it did
    # frames the container claims for the requested range (0: unknown); set when decoding ends
    expected_frames: int = 0

    @property
    def shortfall(self) -> bool:
        """Clearly fewer frames decoded than the container claims (a truncated file)."""
        tol = max(2, int(0.02 * self.expected_frames))
        return self.expected_frames > 0 and self.frames < self.expected_frames - tol

    def warning(self) -> str:
        parts = []
        if self.shortfall:
            parts.append(
                f"only {self.frames} of the {self.expected_frames} frames the container claims "
                "could be decoded (truncated or damaged file)"
            )
        if self.damaged_packets:
            parts.append(f"{self.damaged_packets} damaged packet(s) skipped")
        if self.stopped_early:
            parts.append(f"decoding stopped early ({self.stopped_early})")
        return "; ".join(parts)


@dataclass
class Frame:
    index: int  # position in the stream, counting from 0 at its first frame
    time_s: float  # presentation time, seconds from the stream start
    rgb: np.ndarray  # (H, W, 3) uint8, upright


def is_image(path: str | Path) -> bool:
    return Path(path).suffix.lower() in IMAGE_SUFFIXES


def _check_exists(path: Path) -> None:
    if not path.exists():
        raise FileNotFoundError(f"video or image not found: {path}")
    if not path.is_file():
        raise ValueError(f"expected a video or image file, got a folder: {path}")


def _open_image(path: Path) -> np.ndarray:
    from PIL import Image, ImageOps, UnidentifiedImageError

    try:
        with Image.open(path) as im:
            im = ImageOps.exif_transpose(im)
            return np.asarray(im.convert("RGB"))
    except (UnidentifiedImageError, OSError) as e:
        raise ValueError(f"{path} is not a readable image ({e})") from e


def focal_35mm_equivalent(path: str | Path) -> float | None:
    """The focal length in 35 mm-equivalent millimetres that the file records, or None: EXIF
    ``FocalLengthIn35mmFilm`` for photos, the QuickTime key
    ``com.apple.quicktime.camera.focal_length.35mm_equivalent`` (iPhone) for videos."""
    path = Path(path)
    _check_exists(path)
    value = None
    if is_image(path):
        from PIL import Image, UnidentifiedImageError

        try:
            with Image.open(path) as im:
                value = im.getexif().get_ifd(0x8769).get(0xA405)
        except (UnidentifiedImageError, OSError):
            return None
    else:
        import av

        try:
            with av.open(str(path)) as c:
                tags = {**c.metadata, **(c.streams.video[0].metadata if c.streams.video else {})}
        except av.error.FFmpegError:
            return None
        for key, v in tags.items():
            if "focal_length.35mm_equivalent" in key.lower():
                value = v
    try:
        f = float(value) if value is not None else None
    except (TypeError, ValueError):
        return None
    return f if f is not None and 5.0 <= f <= 2000.0 else None


def _rotation_k(rotation_deg: float) -> int:
    """Counter-clockwise display rotation in degrees -> number of np.rot90 quarter turns."""
    k = int(round(float(rotation_deg) / 90.0)) % 4
    if abs(float(rotation_deg) - 90.0 * round(float(rotation_deg) / 90.0)) > 1.0:
        log.warning(
            "display rotation %.1f deg is not a multiple of 90; using %d", rotation_deg, 90 * k
        )
    return k


def apply_rotation(rgb: np.ndarray, rotation_deg: float) -> np.ndarray:
    """Turn a decoded frame counter-clockwise by ``rotation_deg`` (a multiple of 90), the way
    FFmpeg's display matrix (as PyAV's ``VideoFrame.rotation`` reports it) asks players to."""
    k = _rotation_k(rotation_deg)
    return np.ascontiguousarray(np.rot90(rgb, k)) if k else rgb


def _open_container(path: Path):
    import av

    try:
        container = av.open(str(path))
    except av.error.FFmpegError as e:
        raise ValueError(f"{path} is not a readable video ({e.__class__.__name__}: {e})") from e
    if not container.streams.video:
        container.close()
        raise ValueError(f"{path} has no video stream")
    return container


def _stream_rate(stream) -> float:
    for rate in (stream.average_rate, stream.guessed_rate, stream.base_rate):
        if rate:
            return float(rate)
    return 0.0


def read_video_info(path: str | Path) -> VideoInfo:
    """Size (as displayed), nominal fps, frame count, rotation, duration and codec of a video or
    image. Decodes the first frame to read its rotation and to check the file is decodable."""
    path = Path(path)
    _check_exists(path)
    if is_image(path):
        rgb = _open_image(path)
        return VideoInfo(
            path,
            rgb.shape[1],
            rgb.shape[0],
            STILL_IMAGE_FPS,
            1,
            0,
            0.0,
            path.suffix.lower().lstrip("."),
        )
    container = _open_container(path)
    with container:
        stream = container.streams.video[0]
        fps = _stream_rate(stream)
        first = _first_frame(container, stream, path)
        rotation = 90 * _rotation_k(getattr(first, "rotation", 0) or 0)
        width, height = first.width, first.height
        if rotation in (90, 270):
            width, height = height, width
        if stream.duration is not None and stream.time_base is not None:
            duration = float(stream.duration * stream.time_base)
        elif container.duration is not None:
            duration = container.duration / 1e6
        else:
            duration = 0.0
        n_frames = int(stream.frames) if stream.frames else int(round(duration * fps))
        return VideoInfo(
            path,
            width,
            height,
            fps,
            max(n_frames, 1),
            rotation,
            duration,
            stream.codec_context.name,
        )


def _first_frame(container, stream, path: Path):
    import av

    try:
        for frame in container.decode(stream):
            return frame
    except av.error.FFmpegError as e:
        raise ValueError(f"{path}: could not decode a frame ({e.__class__.__name__}: {e})") from e
    raise ValueError(f"{path} contains no decodable video frame")


_END = object()  # the last item of decode_ahead's queue


def decode_ahead(items: Iterable, depth: int = 3) -> Iterator:
    """``items`` (decoded frames) made in a thread up to ``depth`` ahead of the caller: FFmpeg's
    decoding and swscale release the GIL, so decoding runs beside the caller's work on each
    frame (the detector, the overlay's drawing). The same items in the same order; an error
    comes out where its item would have; closing the iterator stops and closes ``items``."""
    q: queue.Queue = queue.Queue(depth)
    stop = threading.Event()

    def put(x) -> bool:
        while not stop.is_set():
            try:
                q.put(x, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def run() -> None:
        it = iter(items)
        try:
            for x in it:
                if not put((x, None)):
                    return
            put((_END, None))
        except BaseException as e:  # noqa: BLE001 - re-raised in the caller's thread
            put((_END, e))
        finally:
            close = getattr(it, "close", None)
            if close is not None:
                close()

    thread = threading.Thread(target=run, name="decode-ahead", daemon=True)
    thread.start()
    try:
        while True:
            x, err = q.get()
            if err is not None:
                raise err
            if x is _END:
                return
            yield x
    finally:
        stop.set()
        thread.join()


def _scaled_size(width: int, height: int, max_side_px: int | None) -> tuple[int, int]:
    if max_side_px is None or max(width, height) <= max_side_px:
        return width, height
    s = max_side_px / max(width, height)
    # even sizes keep swscale's chroma handling exact
    return max(2, int(round(width * s / 2)) * 2), max(2, int(round(height * s / 2)) * 2)


def iter_frames(
    path: str | Path,
    start_s: float | None = None,
    end_s: float | None = None,
    max_side_px: int | None = None,
    report: DecodeReport | None = None,
) -> Iterator[Frame]:
    """Upright RGB frames with their real timestamps, from ``start_s`` to ``end_s`` (inclusive,
    seconds from the stream start). ``max_side_px`` shrinks large frames (aspect kept).

    Frames before ``start_s`` are decoded (so indices stay exact for variable-rate video) but
    not converted. Damaged packets mid-clip are skipped (their frames are missing; the real
    timestamps of the others keep the timing right) and counted in ``report``. Raises ValueError
    for an undecodable file or an empty time range."""
    path = Path(path)
    _check_exists(path)
    if max_side_px is not None and max_side_px < 16:
        raise ValueError(f"max_side_px must be >= 16, got {max_side_px}")
    if start_s is not None and end_s is not None and end_s < start_s:
        raise ValueError(f"end_s ({end_s}) is before start_s ({start_s})")
    if is_image(path):
        rgb = _open_image(path)
        if max_side_px is not None and max(rgb.shape[:2]) > max_side_px:
            from PIL import Image

            w, h = _scaled_size(rgb.shape[1], rgb.shape[0], max_side_px)
            rgb = np.asarray(Image.fromarray(rgb).resize((w, h), Image.BILINEAR))
        if report is not None:
            report.frames = 1
        yield Frame(0, 0.0, rgb)
        return
    # decoded in a thread a few frames ahead (decode_ahead): the caller's work on a frame and
    # the decoding of the next ones overlap
    yield from decode_ahead(
        _iter_video(path, start_s, end_s, max_side_px, report or DecodeReport())
    )


def _decoded(container, stream, report: DecodeReport):
    """Frames of ``stream``, packet by packet: a damaged packet is skipped, not fatal."""
    import av

    for packet in container.demux(stream):
        try:
            yield from packet.decode()
        except av.error.InvalidDataError as e:
            report.damaged_packets += 1
            log.warning("damaged video packet at pts %s skipped (%s)", packet.pts, e)


def _iter_video(path: Path, start_s, end_s, max_side_px, report: DecodeReport) -> Iterator[Frame]:
    import av

    container = _open_container(path)
    n_out = 0
    with container:
        stream = container.streams.video[0]
        stream.thread_type = "AUTO"
        tb = stream.time_base or Fraction(1, 1)
        t0 = stream.start_time
        rate = _stream_rate(stream) or 30.0
        index = -1
        last_t = -np.inf
        reached_end = False
        try:
            for frame in _decoded(container, stream, report):
                index += 1
                if frame.pts is not None:
                    t = float((frame.pts - (t0 or 0)) * tb)
                else:  # no timestamp: continue at the nominal rate
                    t = last_t + 1.0 / rate if np.isfinite(last_t) else 0.0
                last_t = t
                if start_s is not None and t < start_s - 1e-6:
                    continue
                if end_s is not None and t > end_s + 1e-6:
                    reached_end = True
                    break
                rotation = getattr(frame, "rotation", 0) or 0
                w, h = _scaled_size(frame.width, frame.height, max_side_px)
                if (w, h) != (frame.width, frame.height):
                    frame = frame.reformat(width=w, height=h)
                rgb = apply_rotation(frame.to_ndarray(format="rgb24"), rotation)
                n_out += 1
                report.frames = n_out
                yield Frame(index, t, rgb)
        except av.error.FFmpegError as e:
            if n_out == 0:
                raise ValueError(
                    f"{path}: could not decode video ({e.__class__.__name__}: {e})"
                ) from e
            report.stopped_early = f"after {n_out} frames: {e}"
            log.warning("%s: decoding stopped after %d frames (%s)", path, n_out, e)
        if not reached_end:
            report.expected_frames = _claimed_frames(stream, rate, start_s, end_s)
            if report.shortfall:
                log.warning("%s: %s", path, report.warning())
    if n_out == 0:
        if index < 0:
            raise ValueError(f"{path} contains no decodable video frame")
        raise ValueError(
            f"{path}: no frame "
            + (
                f"from {start_s:g} s"
                if end_s is None
                else f"between {start_s:g} s and {end_s:g} s"
            )
            + f" (the video has {index + 1} frames, last at {last_t:.3f} s)"
        )


def _claimed_frames(stream, rate: float, start_s: float | None, end_s: float | None) -> int:
    """Frames the container says lie in [start_s, end_s] (0 when it does not say)."""
    total = int(stream.frames or 0)
    duration = (
        float(stream.duration * stream.time_base) if stream.duration and stream.time_base else 0.0
    )
    if total <= 0:
        total = int(round(duration * rate)) if duration > 0 else 0
    if total <= 0 or rate <= 0:
        return 0
    first = 0 if start_s is None else int(np.ceil(max(start_s, 0.0) * rate - 1e-6))
    last = total - 1 if end_s is None else min(total - 1, int(np.floor(end_s * rate + 1e-6)))
    return max(0, last - first + 1)
