"""The demo: capture on the embedded default clip (Sports2D's demo video, two people walking; the
largest person is tracked) and a picture of the subject's skeleton."""

from __future__ import annotations

import logging
from pathlib import Path

log = logging.getLogger(__name__)


def run_demo(output: Path) -> int:
    from core.capture import CaptureOptions, Progress, capture
    from core.demo_clip import demo_clip_path

    output = Path(output)
    clip = demo_clip_path()
    print(f"biomocap demo: capturing {clip} -> {output}")
    res = capture(clip, CaptureOptions(output=output, name="demo"), Progress())
    from core.pictures import show_skeleton

    pictures = show_skeleton(output / "skeleton")
    print(f"motion:  {res.motion_path}")
    for key, path in res.outputs.items():
        if key != "motion":
            print(f"{key + ':':8} {path}")
    print(f"skeleton pictures: {len(pictures)} PNGs in {output / 'skeleton'}")
    print(
        f"{res.n_frames} frames; mean reprojection error {res.mean_reprojection_px:.1f} px "
        f"(before refinement {res.initial_reprojection_px:.1f} px); "
        f"joint-limit violations: {res.limit_violations}"
    )
    for note in res.notes:
        print(f"note: {note}")
    return 0
