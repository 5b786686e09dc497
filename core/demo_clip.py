"""The embedded default clip: Sports2D's demo video (BSD-3-Clause), extracted from the `sports2d`
wheel on PyPI by scripts/setup.sh into .cache/demo/. Nothing is downloaded at run time."""

from __future__ import annotations

from pathlib import Path

_REPO_ROOT = Path(__file__).resolve().parent.parent


def demo_clip_path() -> Path:
    path = _REPO_ROOT / ".cache" / "demo" / "demo.mp4"
    if not path.is_file():
        raise FileNotFoundError(
            f"the default demo clip is missing ({path}); run `bash scripts/setup.sh` to fetch it"
        )
    return path
