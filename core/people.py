"""Who is in the picture: one video frame with every person the detector accepts boxed and
numbered from the left, the index ``--person`` takes (``python -m core people``).

The Blender add-on shows this picture next to its Person setting; on the command line it answers
"which number is the person I want" before a long capture.
"""

from __future__ import annotations

from pathlib import Path


def people_at(video: str | Path, time_s: float, out_png: str | Path) -> dict:
    """Detect the people in the frame at ``time_s`` and draw them into ``out_png``.

    Returns ``{"people": [[x0, y0, x1, y1], ...] (pixels, left to right), "time_s": t}``, the
    time being that of the frame actually read. ValueError when the video has no frame there."""
    from PIL import Image, ImageDraw, ImageFont

    from core.detect import PoseEstimator, find_people
    from core.video import iter_frames

    video = Path(video)
    if not video.exists():
        raise FileNotFoundError(f"input not found: {video}")
    frame = next(iter(iter_frames(video, start_s=max(0.0, float(time_s)))), None)
    if frame is None:
        raise ValueError(f"no frame at {time_s:g} s in {video}; pick an earlier --time")
    with PoseEstimator() as est:
        people = find_people(frame.rgb, est)
    img = Image.fromarray(frame.rgb)
    draw = ImageDraw.Draw(img)
    w = max(2, img.width // 300)
    try:
        font = ImageFont.load_default(size=12 * w)
    except TypeError:  # Pillow < 10.1
        font = ImageFont.load_default()
    for i, c in enumerate(people):
        x0, y0, x1, y1 = (float(v) for v in c.box_px)
        draw.rectangle((x0, y0, x1, y1), outline=(255, 220, 0), width=w)
        draw.rectangle((x0, y0, x0 + 14 * w, y0 + 14 * w), fill=(255, 220, 0))
        draw.text((x0 + 3 * w, y0 + w), str(i), fill=(0, 0, 0), font=font)
    img.save(out_png, format="PNG")
    return {
        "people": [[float(v) for v in c.box_px] for c in people],
        "time_s": float(frame.time_s),
    }
