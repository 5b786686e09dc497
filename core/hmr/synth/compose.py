"""Final images: Blender's RGBA render over a procedural background, written atomically.

The render's colours (body, floor, props) are multiplied by the scene's light tint (light colour
and exposure; the background keeps its own colours), then composited over the background with
the render's (straight) alpha. Masks from the flat mask render become a label image:
0 background, 1 body, 2 prop.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image

from core.motion import atomic_write

__all__ = ["composite", "save_jpeg", "save_png", "mask_labels", "read_rgba"]

JPEG_QUALITY = 95


def read_rgba(path: Path) -> np.ndarray:
    with Image.open(path) as im:
        return np.asarray(im.convert("RGBA"))


def composite(rgba: np.ndarray, background: np.ndarray, tint: np.ndarray) -> np.ndarray:
    """(H, W, 4) uint8 render over (H, W, 3) uint8 background -> (H, W, 3) uint8."""
    if rgba.shape[:2] != background.shape[:2]:
        raise ValueError(f"render {rgba.shape[:2]} and background {background.shape[:2]} differ")
    a = rgba[..., 3:4].astype(np.float32) / 255.0
    fg = rgba[..., :3].astype(np.float32) * np.asarray(tint, np.float32)
    out = fg * a + background.astype(np.float32) * (1.0 - a)
    return np.clip(out + 0.5, 0, 255).astype(np.uint8)


def mask_labels(mask_rgba: np.ndarray) -> np.ndarray:
    """Flat mask render (red body, green props, transparent elsewhere) -> (H, W) uint8 0/1/2."""
    a = mask_rgba[..., 3] > 127
    r = mask_rgba[..., 0] > 127
    g = mask_rgba[..., 1] > 127
    out = np.zeros(mask_rgba.shape[:2], np.uint8)
    out[a & r & ~g] = 1
    out[a & g & ~r] = 2
    return out


def save_jpeg(path: Path, rgb: np.ndarray) -> None:
    im = Image.fromarray(rgb, "RGB")
    atomic_write(path, lambda f: im.save(f, "JPEG", quality=JPEG_QUALITY), binary=True)


def save_png(path: Path, img: np.ndarray) -> None:
    im = Image.fromarray(img)
    atomic_write(path, lambda f: im.save(f, "PNG"), binary=True)
