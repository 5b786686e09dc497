"""Random cameras that see a person the way a detector's crop of a photo would.

A conceptual full frame (16:9 landscape, 4:3 landscape or 9:16 portrait, long side 1920 px) has a
horizontal-or-vertical field of view of 40-75 deg across its long side. The camera stands at an
azimuth around the body's bounding-box centre, at an elevation of -10..35 deg (raised where the
camera would be less than 15 cm above the floor), at the distance that makes the body span
30-95 % of the frame height; it is then panned so that the body lands anywhere in the frame (off
the optical axis, with the perspective that brings) and rolled by a few degrees. A detector-like
square box around the body's projected bounding box (the box's side: the longer bbox side / a
fill of 0.7-0.9; its centre jittered by up to 6 % of the side) is the crop. The crop is rendered
directly: its intrinsics are the full frame's, shifted to the box and scaled to ``size`` pixels.

Conventions (OpenCV): camera x right, y down, z forward; ``K`` in pixels of the crop with pixel
centres at integer coordinates (the top-left pixel's centre is (0, 0), its area spans
-0.5..0.5); ``R_cam_world`` takes OpenSim-world vectors (X forward, Y up, Z right) to camera axes.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from core.hmr.synth.blender import camera_matrix_blender

__all__ = ["CameraConfig", "CropCamera", "sample_camera", "look_at"]

_UP = np.array([0.0, 1.0, 0.0])
_FRAMES = ((1920, 1080), (1920, 1440), (1080, 1920))  # landscape 16:9, 4:3, portrait 9:16
_FRAME_P = (0.6, 0.2, 0.2)


@dataclass(frozen=True)
class CameraConfig:
    fov_deg: tuple[float, float] = (40.0, 75.0)  # across the full frame's long side
    elevation_deg: tuple[float, float] = (-10.0, 35.0)
    body_frame_fraction: tuple[float, float] = (0.3, 0.95)  # body extent / frame height
    fill: tuple[float, float] = (0.7, 0.9)  # bbox long side / crop side
    centre_jitter: float = 0.06  # box centre offset, fraction of the box side (uniform +-)
    roll_deg: float = 3.0  # std
    min_height_m: float = 0.15  # camera centre above the floor (y = 0)


@dataclass(frozen=True)
class CropCamera:
    K: np.ndarray  # (3, 3) crop intrinsics, pixels (OpenCV, pixel centres at integers)
    R_cam_world: np.ndarray  # (3, 3) OpenSim world -> camera (x right, y down, z forward)
    centre_m: np.ndarray  # (3,) camera centre in the OpenSim world
    size_px: int  # the crop is size_px x size_px
    fov_deg: float  # of the conceptual full frame (long side)
    elevation_deg: float  # of the camera above the body's bbox centre, seen from there
    azimuth_deg: float  # around the vertical axis, 0 = on the world's +X side

    def to_camera(self, points_m: np.ndarray) -> np.ndarray:
        """World points (..., 3) -> camera frame (..., 3), metres."""
        return (np.asarray(points_m) - self.centre_m) @ self.R_cam_world.T

    def project(self, points_m: np.ndarray) -> np.ndarray:
        """World points (..., 3) -> crop pixels (..., 2)."""
        return project_camera(self.K, self.to_camera(points_m))

    def blender_matrix_world(self) -> np.ndarray:
        """(4, 4) Blender camera matrix (Blender world, Z up)."""
        right, down, fwd = self.R_cam_world
        return camera_matrix_blender(right, -down, fwd, self.centre_m)

    def blender_lens(self, sensor_mm: float = 36.0) -> tuple[float, float, float]:
        """(lens_mm, shift_x, shift_y) for a square render with a horizontal sensor fit.

        Blender's image plane spans 0..size with the principal point at size/2 - shift_x size
        (x) and size/2 + shift_y size (y down); OpenCV's pixel coordinates are Blender's - 0.5."""
        s = float(self.size_px)
        fx, fy = self.K[0, 0], self.K[1, 1]
        if abs(fx - fy) > 1e-9 * fx:
            raise ValueError(f"Blender cameras have square pixels; got fx={fx}, fy={fy}")
        cx, cy = self.K[0, 2] + 0.5, self.K[1, 2] + 0.5
        return fx * sensor_mm / s, (s / 2 - cx) / s, (cy - s / 2) / s


def project_camera(K: np.ndarray, points_cam: np.ndarray) -> np.ndarray:  # noqa: N803
    """Camera-frame points (..., 3) -> pixels (..., 2) with intrinsics K (3, 3)."""
    p = np.asarray(points_cam) @ np.asarray(K).T
    return p[..., :2] / p[..., 2:3]


def look_at(forward: np.ndarray) -> np.ndarray:
    """(3, 3) world -> camera rotation (rows: right, down, forward) of a level camera."""
    f = forward / np.linalg.norm(forward)
    r = np.cross(f, _UP)
    r /= np.linalg.norm(r)
    return np.stack([r, np.cross(f, r), f])


def _rotation_z_to(d: np.ndarray) -> np.ndarray:
    """Smallest rotation taking (0, 0, 1) onto the unit vector d."""
    z = np.array([0.0, 0.0, 1.0])
    v = np.cross(z, d)
    s, c = np.linalg.norm(v), float(z @ d)
    if s < 1e-12:
        return np.eye(3)
    k = np.array([[0, -v[2], v[1]], [v[2], 0, -v[0]], [-v[1], v[0], 0]]) / s
    a = np.arctan2(s, c)
    return np.eye(3) + np.sin(a) * k + (1 - np.cos(a)) * k @ k


def sample_camera(
    rng: np.random.Generator, vertices_m: np.ndarray, size_px: int, cfg: CameraConfig
) -> CropCamera:
    """A random crop camera for a posed body (vertices (V, 3), OpenSim world, floor y = 0)."""
    lo, hi = vertices_m.min(0), vertices_m.max(0)
    target = 0.5 * (lo + hi)
    extent = float((hi - lo).max())
    radius = float(np.linalg.norm(vertices_m - target, axis=1).max())
    frame = _FRAMES[rng.choice(len(_FRAMES), p=_FRAME_P)]
    wf, hf = frame
    fov = rng.uniform(*cfg.fov_deg)
    f_full = 0.5 * max(wf, hf) / np.tan(np.radians(fov) / 2)
    frac = rng.uniform(*cfg.body_frame_fraction)
    dist = max(f_full * extent / (frac * hf), radius + 0.5)
    elev = np.radians(rng.uniform(*cfg.elevation_deg))
    s_min = (cfg.min_height_m - target[1]) / dist
    if np.sin(elev) < s_min:
        elev = float(np.arcsin(min(s_min, 0.99)))
    azim = rng.uniform(0.0, 2 * np.pi)
    to_cam = np.array([np.cos(elev) * np.cos(azim), np.sin(elev), -np.cos(elev) * np.sin(azim)])
    centre = target + dist * to_cam
    r0 = look_at(-to_cam)

    # Where the body's centre lands in the full frame: anywhere the body still fits.
    k_full = np.array([[f_full, 0, wf / 2], [0, f_full, hf / 2], [0, 0, 1.0]])
    px0 = project_camera(k_full, (vertices_m - centre) @ r0.T)
    half = 0.5 * (px0.max(0) - px0.min(0))
    room = np.maximum(np.array([wf / 2, hf / 2]) - half, 0.0)
    off = rng.uniform(-1.0, 1.0, 2) * room
    d = np.array([off[0] / f_full, off[1] / f_full, 1.0])
    pan = _rotation_z_to(d / np.linalg.norm(d))  # the body centre's ray onto that pixel
    roll = np.radians(rng.normal(0.0, cfg.roll_deg))
    c, s = np.cos(roll), np.sin(roll)
    rz = np.array([[c, -s, 0.0], [s, c, 0.0], [0.0, 0.0, 1.0]])
    rot = rz @ pan @ r0

    # Detector-like square box around the body's projection in the full frame.
    pc = (vertices_m - centre) @ rot.T
    if pc[:, 2].min() < 0.05:
        raise RuntimeError("camera placement put the body behind the camera")  # by construction
    px = project_camera(k_full, pc)
    b0, b1 = px.min(0), px.max(0)
    side = float((b1 - b0).max()) / rng.uniform(*cfg.fill)
    box_c = 0.5 * (b0 + b1) + rng.uniform(-cfg.centre_jitter, cfg.centre_jitter, 2) * side
    box0 = box_c - side / 2
    scale = size_px / side
    # Continuous full-frame coordinates (image spans 0..W) -> crop pixels, OpenCV centres.
    k = np.array(
        [
            [f_full * scale, 0.0, (wf / 2 - box0[0]) * scale - 0.5],
            [0.0, f_full * scale, (hf / 2 - box0[1]) * scale - 0.5],
            [0.0, 0.0, 1.0],
        ]
    )
    return CropCamera(
        K=k,
        R_cam_world=rot,
        centre_m=centre,
        size_px=int(size_px),
        fov_deg=float(fov),
        elevation_deg=float(np.degrees(elev)),
        azimuth_deg=float(np.degrees(azim)),
    )
