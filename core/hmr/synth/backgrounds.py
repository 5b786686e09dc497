"""Procedural backgrounds and floor textures, numpy only (sRGB uint8 images).

Backgrounds (behind everything the renderer draws, composited by alpha): a two- or three-colour
gradient or a fractal value-noise field through a random colour ramp, with, often, random
rectangles (walls, windows, shelves, posters; some of them noise-filled), stripes, a soft blur
(out-of-focus) and sensor grain. Floors (a texture tiled over the ground plane, random tile size):
plain with noise (concrete), two-colour tiles or checkers with grout, planks, grass-like noise.
"""

from __future__ import annotations

import numpy as np

__all__ = ["value_noise", "fractal_noise", "background_image", "floor_texture"]


def value_noise(rng: np.random.Generator, h: int, w: int, cells: int) -> np.ndarray:
    """(h, w) smooth noise in 0..1: a random (cells+1)^2 grid, bilinearly interpolated."""
    g = rng.random((cells + 1, cells + 1))
    y = np.linspace(0, cells, h, endpoint=False)
    x = np.linspace(0, cells, w, endpoint=False)
    y0, x0 = y.astype(int), x.astype(int)
    fy, fx = (y - y0)[:, None], (x - x0)[None, :]
    fy, fx = fy * fy * (3 - 2 * fy), fx * fx * (3 - 2 * fx)  # smoothstep
    a = g[y0][:, x0]
    b = g[y0][:, x0 + 1]
    c = g[y0 + 1][:, x0]
    d = g[y0 + 1][:, x0 + 1]
    return (a * (1 - fx) + b * fx) * (1 - fy) + (c * (1 - fx) + d * fx) * fy


def fractal_noise(
    rng: np.random.Generator, h: int, w: int, base_cells: int, octaves: int, gain: float = 0.5
) -> np.ndarray:
    """(h, w) fractal value noise normalised to 0..1."""
    out = np.zeros((h, w))
    amp, total = 1.0, 0.0
    for k in range(octaves):
        out += amp * value_noise(rng, h, w, base_cells * 2**k)
        total += amp
        amp *= gain
    out /= total
    lo, hi = out.min(), out.max()
    return (out - lo) / max(hi - lo, 1e-9)


def _ramp(t: np.ndarray, colours: np.ndarray) -> np.ndarray:
    """t (h, w) in 0..1 through colours (k, 3) -> (h, w, 3)."""
    k = len(colours)
    x = np.clip(t, 0, 1) * (k - 1)
    i = np.minimum(x.astype(int), k - 2)
    f = (x - i)[..., None]
    return colours[i] * (1 - f) + colours[i + 1] * f


def _colours(rng: np.random.Generator, k: int) -> np.ndarray:
    """k random sRGB colours in 0..1, often muted (backgrounds are rarely saturated)."""
    c = rng.random((k, 3))
    grey = c.mean(1, keepdims=True)
    mute = rng.uniform(0.0, 1.0, (k, 1)) ** 0.5
    return np.clip(grey + (c - grey) * mute, 0, 1)


def _box_blur(img: np.ndarray, r: int) -> np.ndarray:
    """Separable box blur of radius r (edges clamped), applied twice (~ Gaussian)."""
    for _ in range(2):
        for axis in (0, 1):
            pad = [(0, 0)] * img.ndim
            pad[axis] = (r + 1, r)
            c = np.cumsum(np.pad(img, pad, mode="edge"), axis=axis)
            n = img.shape[axis]
            hi = np.take(c, np.arange(2 * r + 1, 2 * r + 1 + n), axis=axis)
            lo = np.take(c, np.arange(0, n), axis=axis)
            img = (hi - lo) / (2 * r + 1)
    return img


def background_image(rng: np.random.Generator, size: int) -> np.ndarray:
    """(size, size, 3) uint8 sRGB background."""
    h = w = size
    yy, xx = np.mgrid[0:h, 0:w] / max(size - 1, 1)
    if rng.random() < 0.45:  # gradient
        a = rng.uniform(0, 2 * np.pi)
        t = (xx - 0.5) * np.cos(a) + (yy - 0.5) * np.sin(a) + 0.5
        if rng.random() < 0.3:  # radial
            cx, cy = rng.uniform(0, 1, 2)
            t = np.hypot(xx - cx, yy - cy) * rng.uniform(0.8, 1.6)
        img = _ramp(t, _colours(rng, int(rng.integers(2, 4))))
        img += (fractal_noise(rng, h, w, 4, 4)[..., None] - 0.5) * rng.uniform(0.0, 0.25)
    else:  # noise field
        t = fractal_noise(rng, h, w, int(rng.integers(2, 8)), int(rng.integers(2, 6)))
        img = _ramp(t, _colours(rng, int(rng.integers(2, 5))))
    if rng.random() < 0.6:  # rectangles: walls, windows, furniture
        for _ in range(int(rng.integers(2, 14))):
            x0, y0 = rng.integers(-size // 4, size, 2)
            bw, bh = rng.integers(size // 16, size // 1.5, 2)
            sl = (slice(max(y0, 0), max(y0 + bh, 0)), slice(max(x0, 0), max(x0 + bw, 0)))
            patch = img[sl]
            if patch.size == 0:
                continue
            col = _colours(rng, 1)[0]
            if rng.random() < 0.3:
                n = fractal_noise(rng, patch.shape[0], patch.shape[1], 3, 3)[..., None]
                fill = col * (0.7 + 0.6 * n)
            else:
                fill = np.broadcast_to(col, patch.shape)
            alpha = rng.uniform(0.5, 1.0)
            img[sl] = patch * (1 - alpha) + fill * alpha
    if rng.random() < 0.2:  # stripes
        a = rng.uniform(0, np.pi)
        period = rng.uniform(0.03, 0.3)
        s = ((xx * np.cos(a) + yy * np.sin(a)) / period) % 1.0 < rng.uniform(0.2, 0.8)
        img = np.where(s[..., None], img * rng.uniform(0.6, 1.4), img)
    if rng.random() < 0.5:  # out of focus
        img = _box_blur(img, int(rng.integers(1, max(2, size // 64))))
    img = img + rng.normal(0.0, rng.uniform(0.0, 0.02), img.shape)
    return (np.clip(img, 0, 1) * 255 + 0.5).astype(np.uint8)


def floor_texture(rng: np.random.Generator, n: int = 128) -> tuple[np.ndarray, float, str]:
    """(n, n, 3) uint8 sRGB tileable-enough floor texture, its tile size in metres and kind."""
    base = _colours(rng, 1)[0] * rng.uniform(0.4, 1.1)
    u = rng.random()
    if u < 0.3:
        kind, tile = "concrete", rng.uniform(1.0, 4.0)
        t = fractal_noise(rng, n, n, 4, 5)
        img = base * (0.75 + 0.5 * t[..., None])
    elif u < 0.55:
        kind, tile = "tiles", rng.uniform(0.5, 2.0)
        k = int(rng.choice([2, 4, 8]))
        yy, xx = np.mgrid[0:n, 0:n] * k // n
        other = _colours(rng, 1)[0] if rng.random() < 0.5 else base * rng.uniform(0.6, 0.9)
        img = np.where(((yy + xx) % 2 == 0)[..., None], base, other).astype(float)
        g = np.mgrid[0:n, 0:n] % (n // k)
        grout = (g < max(1, n // (k * 24))).any(0)
        img[grout] = _colours(rng, 1)[0] * 0.6
        img *= 0.9 + 0.2 * fractal_noise(rng, n, n, 8, 3)[..., None]
    elif u < 0.8:
        kind, tile = "planks", rng.uniform(0.8, 3.0)
        k = int(rng.integers(4, 10))
        plank = (np.arange(n) * k // n)[:, None] * np.ones((1, n), int)
        shade = rng.uniform(0.8, 1.2, k)[plank]
        grain = fractal_noise(rng, n, n, 2, 4)
        grain = 0.5 + 0.5 * np.sin(grain * rng.uniform(10, 40))
        img = base * (shade * (0.85 + 0.3 * grain))[..., None]
        img[(np.arange(n) % (n // k)) == 0] *= 0.5
    else:
        kind, tile = "grass", rng.uniform(0.5, 2.0)
        base = np.array([0.25, 0.45, 0.12]) * rng.uniform(0.6, 1.3, 3)
        t = fractal_noise(rng, n, n, 16, 3)
        img = base * (0.6 + 0.8 * t[..., None])
    return (np.clip(img, 0, 1) * 255 + 0.5).astype(np.uint8), float(tile), kind
