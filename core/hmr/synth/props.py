"""Boxes and cylinders in the scene: occluders in front of the body and clutter behind it.

Visibility of a labelled point is decided analytically, not from the pixels: a point is hidden
by a prop when the segment from the camera centre to the point passes through the prop's solid
(exact ray-box slab test; ray-cylinder: the quadratic for the side wall intersected with the
slab between the caps). The body's own surface is not tested (self-occlusion is not marked: the
joint centres lie inside the body, so "behind the skin" would mark every point). A test checks
the analytic answer against a rendered prop mask.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from core.hmr.synth.appearance import random_colour

__all__ = ["Prop", "PropConfig", "segment_blocked", "inside", "sample_props"]

BOX, CYLINDER = 1, 2  # kinds; 0 = no prop (padding in the render scene)


@dataclass(frozen=True)
class Prop:
    kind: int  # BOX or CYLINDER (axis: local Y)
    centre_m: np.ndarray  # (3,) OpenSim world
    rotation: np.ndarray  # (3, 3) local -> world
    half_m: np.ndarray  # (3,) box half extents; cylinder (radius, half height, radius)
    rgb: np.ndarray  # (3,) linear RGB
    occluder: bool  # placed in front of the body

    def matrix_world(self) -> np.ndarray:
        """(4, 4) local unit primitive (cube -1..1, cylinder radius 1, y -1..1) -> world."""
        m = np.eye(4)
        m[:3, :3] = self.rotation * self.half_m[None, :]
        m[:3, 3] = self.centre_m
        return m


@dataclass(frozen=True)
class PropConfig:
    occluder_p: float = 0.3
    clutter_p: float = 0.4
    max_clutter: int = 3


def _local(prop: Prop, p: np.ndarray) -> np.ndarray:
    return (np.asarray(p) - prop.centre_m) @ prop.rotation


def inside(prop: Prop, points_m: np.ndarray) -> np.ndarray:
    """(N,) bool: points inside the prop's solid."""
    q = _local(prop, points_m)
    h = prop.half_m
    if prop.kind == BOX:
        return np.all(np.abs(q) <= h, axis=-1)
    return (q[..., 0] ** 2 + q[..., 2] ** 2 <= h[0] ** 2) & (np.abs(q[..., 1]) <= h[1])


def segment_blocked(prop: Prop, start_m: np.ndarray, ends_m: np.ndarray) -> np.ndarray:
    """(N,) bool: the segments start (3,) -> ends (N, 3) pass through the prop's solid."""
    o = _local(prop, start_m)
    d = _local(prop, ends_m) - o  # (N, 3), segment parameter t in 0..1
    h = prop.half_m
    t0 = np.zeros(len(d))
    t1 = np.ones(len(d))

    def slab(axis: int, lo_v: float, hi_v: float) -> None:
        nonlocal t0, t1
        dv = d[:, axis]
        with np.errstate(divide="ignore", invalid="ignore"):
            a = (lo_v - o[axis]) / dv
            b = (hi_v - o[axis]) / dv
        par = np.abs(dv) < 1e-15
        inside_par = (o[axis] >= lo_v) & (o[axis] <= hi_v)
        a = np.where(par, -np.inf if inside_par else np.inf, a)
        b = np.where(par, np.inf if inside_par else -np.inf, b)
        t0 = np.maximum(t0, np.minimum(a, b))
        t1 = np.minimum(t1, np.maximum(a, b))

    if prop.kind == BOX:
        for ax in range(3):
            slab(ax, -h[ax], h[ax])
        return t0 <= t1
    slab(1, -h[1], h[1])
    # x^2 + z^2 <= r^2 along o + t d
    a = d[:, 0] ** 2 + d[:, 2] ** 2
    b = 2 * (o[0] * d[:, 0] + o[2] * d[:, 2])
    c = o[0] ** 2 + o[2] ** 2 - h[0] ** 2
    disc = b * b - 4 * a * c
    ok = disc >= 0
    sq = np.sqrt(np.where(ok, disc, 0.0))
    with np.errstate(divide="ignore", invalid="ignore"):
        w0 = np.where(a > 1e-15, (-b - sq) / (2 * a), -np.inf if c <= 0 else np.inf)
        w1 = np.where(a > 1e-15, (-b + sq) / (2 * a), np.inf if c <= 0 else -np.inf)
    return ok & (np.maximum(t0, w0) <= np.minimum(t1, w1))


def _yaw(rng: np.random.Generator) -> np.ndarray:
    a = rng.uniform(0, 2 * np.pi)
    c, s = np.cos(a), np.sin(a)
    return np.array([[c, 0.0, s], [0.0, 1.0, 0.0], [-s, 0.0, c]])


def _random_rotation(rng: np.random.Generator) -> np.ndarray:
    q = rng.normal(size=4)
    w, x, y, z = q / np.linalg.norm(q)
    return np.array(
        [
            [1 - 2 * (y * y + z * z), 2 * (x * y - z * w), 2 * (x * z + y * w)],
            [2 * (x * y + z * w), 1 - 2 * (x * x + z * z), 2 * (y * z - x * w)],
            [2 * (x * z - y * w), 2 * (y * z + x * w), 1 - 2 * (x * x + y * y)],
        ]
    )


def _clear(prop: Prop, vertices_m: np.ndarray, camera_m: np.ndarray) -> bool:
    """The prop touches neither the body nor the camera (with 25 cm to spare for the camera)."""
    if inside(prop, vertices_m).any():
        return False
    reach = float(np.linalg.norm(prop.half_m)) + 0.25
    return float(np.linalg.norm(prop.centre_m - camera_m)) > reach


def _occluder(
    rng: np.random.Generator,
    vertices_m: np.ndarray,
    points_m: np.ndarray,
    camera_m: np.ndarray,
    right_m: np.ndarray,
) -> Prop | None:
    """A box or cylinder between the camera and a random body point, hiding part of the body:
    some but at most 60 % of the labelled points (tried up to 20 times)."""
    for _ in range(20):
        p = vertices_m[rng.integers(len(vertices_m))]
        ray = camera_m - p
        dist = float(np.linalg.norm(ray))
        gap = rng.uniform(0.25, max(0.3, min(1.2, 0.5 * dist)))
        q = p + gap * ray / dist
        kind = BOX if rng.random() < 0.5 else CYLINDER
        standing = rng.random() < 0.6
        if standing:  # on the floor: a crate, a low wall, a pillar, a bin
            height = rng.uniform(0.3, 2.2)
            w = rng.uniform(0.08, 0.4)
            half = np.array([w, height / 2, rng.uniform(0.08, 0.4) if kind == BOX else w])
            centre = np.array([q[0], height / 2, q[2]]) + right_m * rng.uniform(-w, w)
            rot = _yaw(rng)
        else:  # anything held up in front: a sign, a branch, a bag
            half = rng.uniform(0.04, 0.3, 3)
            if kind == CYLINDER:
                half[2] = half[0]
                half[1] = rng.uniform(0.1, 0.6)
            centre = q + right_m * rng.uniform(-0.5, 0.5) * half.max()
            rot = _random_rotation(rng)
            centre[1] = max(centre[1], float(np.abs(rot * half).sum(1)[1]))  # above the floor
        prop = Prop(kind, centre, rot, half, random_colour(rng), occluder=True)
        if not _clear(prop, vertices_m, camera_m):
            continue
        hidden = segment_blocked(prop, camera_m, points_m).mean()
        if 0.0 < hidden <= 0.6:
            return prop
    return None


def _clutter(
    rng: np.random.Generator, vertices_m: np.ndarray, camera_m: np.ndarray
) -> Prop | None:
    """A box or cylinder on the floor beside or behind the body (not between it and the
    camera)."""
    body = vertices_m.mean(0)
    to_cam = camera_m - body
    to_cam[1] = 0.0
    to_cam /= max(np.linalg.norm(to_cam), 1e-9)
    for _ in range(10):
        a = rng.uniform(0, 2 * np.pi)
        d = np.array([np.cos(a), 0.0, np.sin(a)])
        if d @ to_cam > 0.2:
            continue
        kind = BOX if rng.random() < 0.6 else CYLINDER
        height = rng.uniform(0.2, 2.5)
        w = rng.uniform(0.15, 1.0)
        half = np.array([w, height / 2, rng.uniform(0.15, 1.0) if kind == BOX else w])
        centre = body + d * rng.uniform(0.8, 6.0) + np.array([0.0, 0.0, 0.0])
        centre[1] = height / 2
        prop = Prop(kind, centre, _yaw(rng), half, random_colour(rng), occluder=False)
        if _clear(prop, vertices_m, camera_m):
            return prop
    return None


def sample_props(
    rng: np.random.Generator,
    vertices_m: np.ndarray,
    points_m: np.ndarray,
    camera_m: np.ndarray,
    right_m: np.ndarray,
    cfg: PropConfig,
) -> list[Prop]:
    """Props for one image: an occluder with probability ``occluder_p`` (``points_m``, the
    labelled points, decide that it hides only part of the body) and 1..max_clutter clutter
    objects with probability ``clutter_p``."""
    props: list[Prop] = []
    if rng.random() < cfg.occluder_p:
        occ = _occluder(rng, vertices_m, points_m, camera_m, right_m)
        if occ is not None:
            props.append(occ)
    if rng.random() < cfg.clutter_p:
        for _ in range(rng.integers(1, cfg.max_clutter + 1)):
            c = _clutter(rng, vertices_m, camera_m)
            if c is not None:
                props.append(c)
    return props
