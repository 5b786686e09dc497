"""The world stage: floor plane, camera height/pitch/roll and the gravity-aligned world frame.

Input is the refined motion in the *level-camera frame* (``core.refine``'s frame before this stage:
origin at the camera centre, Y up along the image's up, Z pointing back out of the screen, i.e.
``Camera.rotation = diag(1, -1, -1)``). Output is a rigid transform into the *world frame*:
Y up along gravity, the floor at Y = 0, the subject's pelvis at frame 0 above the origin and facing
+X (OpenSim's X forward, Y up, Z right), plus the camera's pose in that frame.

How the floor is found (``estimate_floor``): the person's sole points (heel and toe of both feet,
``core.contacts``) over the whole clip. Sole points whose keypoints are confident and that move
slowly (a foot in stance, a person standing) are floor candidates. Where they fall into levels
more than ``level_gap_m`` apart along the prior up (a person who steps down from a box onto the
ground), only the lowest level's are (when seen in enough frames). Then

* a consensus plane (RANSAC over triples of candidates from different moments, tilted at most
  ``max_prior_angle_deg`` from the prior up): the plane with the most candidates within
  ``inlier_m``. Among the planes with at least ``lower_support`` of that support the lowest one
  wins: a person who stands on a box or a stair for a while still has the floor under it as the
  floor, and the box's points are outliers (they keep their own height in the refinement);
* ridge least squares of ``height = a * u + c * w + d`` (u, w horizontal axes of the prior up) on
  the inliers, the ridge pulling the tilt toward the prior up direction (the body's mean vertical,
  or a level camera), so a walk along one line (which leaves the tilt about that line unobserved)
  falls back to the prior there instead of tipping over.

Is the plane below the camera at all? Its height under the camera is an extrapolation: the feet
fix the plane where they are (D metres away), its tilt only as well as their spread in depth and
the tilt prior allow, and a tilt error of d rad moves the plane under the camera by about D * d.
On the accuracy harness's renders (feet 5-8 m away, spanning 0.5-1.2 m in depth) that tilt
error is 2-10 deg, and it is the whole camera-height error: with the true floor normal the same
estimated feet give the camera height to a median 6 cm. So the fit carries the standard error of
the camera height (``FloorFit.camera_height_sd_m``, from the ridge fit's covariance), and a plane
is the floor only when the camera is above it by more than ``min_height_sd`` of those (and by
``min_camera_height_m``). A person standing on one spot of a raised support near the camera's
height (the demo man on his box) fails this: the support may be above the camera as well as
below it, so it is not the floor; a wrong floor would pull every contact onto it. The search
then looks again among the candidates clearly below that support (the man steps down onto the
lawn: a few stance-foot points there can make the floor), and claims no floor when too few
remain.

Camera pitch (+ = looking down) and roll (+ = camera turned clockwise about its viewing direction,
as seen from behind it) follow from the plane normal in the camera frame; its height from the
plane's distance to the camera centre.

When the feet are not seen (keypoint confidence, too few candidate frames) no floor is estimated:
the motion stays in the level-camera frame (``frame = "camera"``, ``floor_source = "none"``) and
the result says so. A handheld, slowly moving camera is assumed static here: its motion shows up
as a tilted or blurred floor (a larger ``floor_rms_m``) and as foot sliding in the camera frame;
nothing fails.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np

from core import fk_numpy
from core import skeleton as sk
from core.motion import Camera

__all__ = [
    "LEVEL_CAMERA_ROTATION",
    "FloorConfig",
    "FloorFit",
    "WorldFrame",
    "estimate_floor",
    "body_up_direction",
    "world_frame",
    "camera_frame_only",
    "floor_with_scene_lines",
    "scene_frames",
    "scene_line_segments",
    "to_world",
    "treadmill_velocity",
    "unwrap_root_angles",
    "pitch_roll_from_up",
]

log = logging.getLogger(__name__)

# World (Y up) -> camera (Y down, looking along +Z_c = -Z of the level frame).
LEVEL_CAMERA_ROTATION = np.diag([1.0, -1.0, -1.0])
_ROOT_DOFS = [sk.DOF["pelvis_tilt"], sk.DOF["pelvis_list"], sk.DOF["pelvis_rotation"]]


@dataclass
class FloorConfig:
    min_conf: float = 0.5  # keypoint confidence for a sole point to count as seen
    min_frames: int = 8  # fewer candidate frames: no floor
    min_seen_fraction: float = 0.2  # of the clip's frames with a seen foot
    max_speed_mps: float = 0.6  # candidate: the lowest sole point moving slower than this
    inlier_m: float = 0.04  # consensus band around the floor level
    prior_tilt_deg: float = 8.0  # ridge on the plane's tilt away from the prior up direction
    noise_m: float = 0.03  # expected height noise of a stance sole point
    decorrelation_s: float = 0.2  # candidates closer in time count as one observation
    max_prior_angle_deg: float = 30.0  # a body-up prior further from level is ignored
    lower_support: float = 0.3  # a lower plane with this share of the best support is the floor
    # Candidates in two groups this far apart along the prior up (the noise of a stance sole point
    # is a few cm, a stair's rise under 0.2 m): the lower group is where the floor is, when it
    # is seen in min_frames frames (a person who steps down from a box onto the ground).
    level_gap_m: float = 0.5
    # A camera that sees a floor is above it: a plane less than this far below the camera is an
    # elevated support seen from below (a box top, a stage), never the floor.
    min_camera_height_m: float = 0.2
    # ... and a plane is the floor only when the camera is above it by more than this many
    # standard errors of its height (see ``FloorFit.camera_height_sd_m``): a support seen from
    # one spot at 6 m, with the tilt known to a few degrees, cannot say whether it is 0.2 m below
    # the camera or 0.2 m above it.
    min_height_sd: float = 1.0


@dataclass
class FloorFit:
    up: np.ndarray  # (3,) unit floor normal in the level-camera frame
    offset_m: float  # floor: up . p = offset_m (negative: floor below the camera)
    n_candidates: int
    n_inliers: int
    rms_m: float  # RMS distance of the inliers to the plane
    elevated_fraction: float  # candidates above the floor band (box, stairs)
    # Standard error of the camera's height above the plane (its intercept under the camera,
    # from the ridge fit's covariance: the feet's spread and noise, the prior's tilt). A tilt
    # error of d rad moves the plane under a camera D metres away by about D * d.
    camera_height_sd_m: float = float("nan")


@dataclass
class WorldFrame:
    """The level-camera -> world transform ``p_world = rotation @ (p_level - origin_m)`` and the
    camera's pose. ``to_dict`` is what ``Motion.world`` stores."""

    rotation: np.ndarray  # (3, 3)
    origin_m: np.ndarray  # (3,) world origin in the level-camera frame
    camera_height_m: float  # camera centre above the floor (nan without a floor)
    camera_pitch_deg: float  # + = looking down
    camera_roll_deg: float  # + = turned clockwise about the viewing direction, seen from behind
    focal_px: float
    floor_source: str  # "feet" | "lowest-foot" | "none"
    frame: str  # "world" | "camera"
    floor_rms_m: float = float("nan")
    n_floor_points: int = 0
    elevated_fraction: float = 0.0
    camera_height_sd_m: float = float("nan")  # standard error of camera_height_m (see FloorFit)
    message: str = ""
    notes: list[str] = field(default_factory=list)

    def camera(self, cam: Camera) -> Camera:
        """``cam`` (a level camera at the level frame's origin) expressed in the world frame."""
        r_level = np.asarray(cam.rotation, dtype=np.float64)
        t_level = np.asarray(cam.translation_m, dtype=np.float64)
        # x_c = R_l p_l + t_l, p_l = W^T p_w + o  ->  x_c = (R_l W^T) p_w + (R_l o + t_l)
        rot = r_level @ self.rotation.T
        trans = r_level @ self.origin_m + t_level
        return Camera(
            cam.focal_px,
            cam.cx_px,
            cam.cy_px,
            cam.width_px,
            cam.height_px,
            rotation=rot,
            translation_m=trans,
            focal_source=cam.focal_source,
        )

    def to_dict(self) -> dict:
        return {
            "camera_height_m": float(self.camera_height_m),
            "camera_pitch_deg": float(self.camera_pitch_deg),
            "camera_roll_deg": float(self.camera_roll_deg),
            "focal_px": float(self.focal_px),
            "floor_source": self.floor_source,
            "frame": self.frame,
            "floor_rms_m": float(self.floor_rms_m),
            "n_floor_points": int(self.n_floor_points),
            "elevated_fraction": float(self.elevated_fraction),
            "camera_height_sd_m": float(self.camera_height_sd_m),
            "level_to_world_rotation": np.asarray(self.rotation).round(9).tolist(),
            "level_origin_m": np.asarray(self.origin_m).round(9).tolist(),
            "message": self.message,
        }


def _unit(v: np.ndarray) -> np.ndarray:
    return v / max(float(np.linalg.norm(v)), 1e-12)


def _basis(up: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Two horizontal unit axes (u along the camera's x where possible, w = u x up)."""
    u = _unit(np.array([1.0, 0.0, 0.0]) - up[0] * up)
    w = np.cross(u, up)
    return u, w


def pitch_roll_from_up(up_level: np.ndarray) -> tuple[float, float]:
    """Camera pitch (+ down) and roll (+ clockwise seen from behind), degrees, from the world's up
    direction in the level-camera frame (x right, y up, z back)."""
    n = _unit(np.asarray(up_level, dtype=np.float64))
    pitch = float(np.rad2deg(np.arcsin(np.clip(n[2], -1.0, 1.0))))
    roll = float(np.rad2deg(np.arctan2(-n[0], n[1])))
    return pitch, roll


def body_up_direction(
    q_rad: np.ndarray, root_m: np.ndarray, offsets_m: np.ndarray, weights: np.ndarray | None = None
) -> np.ndarray:
    """The body's mean vertical over the clip: from the midpoint of the ankles to the midpoint of
    the hips and shoulders (a standing or walking person's centre of mass is above the support on
    average). (3,) unit vector in the motion's frame."""
    _, org = fk_numpy.forward_kinematics(q_rad, root_m, offsets_m)
    b = sk.BODY
    feet = 0.5 * (org[:, b["talus_r"]] + org[:, b["talus_l"]])
    top = 0.25 * (
        org[:, b["femur_r"]]
        + org[:, b["femur_l"]]
        + org[:, b["humerus_r"]]
        + org[:, b["humerus_l"]]
    )
    v = top - feet
    v = v / np.maximum(np.linalg.norm(v, axis=-1, keepdims=True), 1e-9)
    w = np.ones(len(v)) if weights is None else np.asarray(weights, dtype=np.float64)
    return _unit((v * w[:, None]).sum(0))


def _speed(points: np.ndarray, fps: float, carried: np.ndarray | None = None) -> np.ndarray:
    """(T, P) speed of (T, P, 3) points, central differences, m/s; relative to the velocity
    ``carried`` (3,) when given (a treadmill belt's)."""
    if len(points) < 2:
        return np.zeros(points.shape[:2])
    v = np.gradient(points, axis=0) * fps
    if carried is not None:
        v = v - np.asarray(carried, np.float64)
    return np.linalg.norm(v, axis=-1)


def treadmill_velocity(
    q_rad: np.ndarray, up: np.ndarray, fps: float, speed_mps: float
) -> np.ndarray | None:
    """(3,) a treadmill belt's velocity in the motion's frame: ``speed_mps`` backward along the
    subject's horizontal facing (``up``: the frame's up); None when the facing is unclear."""
    fwd = _facing(q_rad, _unit(np.asarray(up, np.float64)), fps)
    return None if fwd is None else -float(speed_mps) * fwd


def _feet_seen(sole: np.ndarray, conf: np.ndarray | None, cfg: FloorConfig) -> np.ndarray | None:
    """(T, P) the sole points seen (finite, confident), or None when they are seen in too few
    frames to say where the floor is."""
    seen = np.isfinite(sole).all(-1)
    if conf is not None:
        seen &= np.asarray(conf) >= cfg.min_conf
    if seen.any(1).sum() < max(cfg.min_frames, cfg.min_seen_fraction * len(sole)):
        return None
    return seen


def estimate_floor(
    sole_m: np.ndarray,
    fps: float,
    conf: np.ndarray | None = None,
    prior_up: np.ndarray | None = None,
    cfg: FloorConfig | None = None,
    belt_velocity_mps: np.ndarray | None = None,
) -> FloorFit | None:
    """Fit the floor to the slow sole points (see the module text).

    sole_m: (T, P, 3) sole points (heel/toe of both feet) in the level-camera frame; conf: (T, P)
    0..1 keypoint confidence of each point (None: all seen); prior_up: (3,) prior up direction;
    belt_velocity_mps: (3,) a treadmill belt's velocity in that frame (``treadmill_velocity``):
    a stance foot rides the belt, so "slow" is then slow relative to it (else the candidates are
    the swing feet turning round in the air, and the floor comes out above the stance feet).
    Returns None when the feet are not seen well enough to say where the floor is.
    """
    cfg = cfg or FloorConfig()
    sole = np.asarray(sole_m, dtype=np.float64)
    if sole.ndim != 3 or sole.shape[-1] != 3:
        raise ValueError(f"expected sole points of shape (T, P, 3), got {sole.shape}")
    seen = _feet_seen(sole, conf, cfg)
    if seen is None:
        return None
    level = np.array([0.0, 1.0, 0.0])
    up0 = level if prior_up is None else _unit(np.asarray(prior_up, dtype=np.float64))
    if np.rad2deg(np.arccos(np.clip(up0 @ level, -1, 1))) > cfg.max_prior_angle_deg:
        up0 = level
    speed = _speed(np.nan_to_num(sole), fps, belt_velocity_mps)
    # A point less than min_camera_height_m below the camera (or above it) rests on a raised
    # support seen from below (the demo man's 2 m box top), never on the floor: no candidate.
    # Without this the box's many still points hide the few the person stands on the ground.
    seen &= np.nan_to_num(sole) @ up0 < -cfg.min_camera_height_m
    if not seen.any():
        return None
    slow = seen & (speed < cfg.max_speed_mps)
    if slow.any(1).sum() < cfg.min_frames:
        # Nobody stands still: take the slower half of the seen points.
        slow = seen & (speed <= np.median(speed[seen]))
    if slow.any(1).sum() < cfg.min_frames:
        return None
    frame_of = np.nonzero(slow)[0]
    pts = all_pts = sole[slow]
    pts, frame_of = _lowest_level(pts, frame_of, up0, cfg)
    for _ in range(3):
        fit, raised = _fit_plane(pts, frame_of, up0, fps, cfg)
        if fit is not None and len(pts) < len(all_pts):  # found below a raised support
            above = all_pts @ fit.up - fit.offset_m > cfg.inlier_m
            return replace(fit, n_candidates=len(all_pts), elevated_fraction=float(above.mean()))
        if fit is not None or raised is None:
            return fit
        # The best support is not clearly below the camera: a raised one (a box top, a stage),
        # whose points are no floor. A floor may still lie below it, seen on fewer points (the
        # demo man steps down from his box onto the lawn): look again among the points below.
        normal, offset = raised
        below = pts @ normal - offset < -2 * cfg.inlier_m
        if len(np.unique(frame_of[below])) < cfg.min_frames:
            return None
        pts, frame_of = pts[below], frame_of[below]
    return None


def _lowest_level(
    pts: np.ndarray, frame_of: np.ndarray, up0: np.ndarray, cfg: FloorConfig
) -> tuple[np.ndarray, np.ndarray]:
    """The candidates of the lowest level when they fall into groups more than
    ``cfg.level_gap_m`` apart along ``up0`` and the lowest group is seen in ``cfg.min_frames``
    frames; else all of them. The consensus plane alone can prefer a raised support the person
    stands on longer: the demo man's box top, whose few-degree tilt error, over the metre of
    depth his feet span on it, can put its plane under the camera."""
    h = pts @ up0
    order = np.argsort(h)
    gaps = np.flatnonzero(np.diff(h[order]) > cfg.level_gap_m)
    for g in gaps:
        low = order[: g + 1]
        if len(np.unique(frame_of[low])) >= cfg.min_frames:
            return pts[low], frame_of[low]
    return pts, frame_of


def _fit_plane(
    pts: np.ndarray, frame_of: np.ndarray, up0: np.ndarray, fps: float, cfg: FloorConfig
) -> tuple[FloorFit | None, tuple[np.ndarray, float] | None]:
    """The floor among candidate sole points ``pts`` (N, 3) seen at frames ``frame_of`` (N,):
    (the fit, None), or (None, (normal, offset)) when the best support is not clearly below the
    camera, or (None, None) when no plane fits."""
    # Consensus plane (RANSAC over triples of points from different moments).
    rng = np.random.default_rng(0)
    max_tilt = np.cos(np.deg2rad(cfg.max_prior_angle_deg))
    centroid = pts.mean(0)
    planes: list[tuple[int, float, np.ndarray, float]] = []
    min_gap = max(1, int(round(cfg.decorrelation_s * fps)))
    for _ in range(400):
        i = rng.choice(len(pts), 3, replace=False)
        f = frame_of[i]
        if min(abs(f[0] - f[1]), abs(f[0] - f[2]), abs(f[1] - f[2])) < min_gap:
            continue
        n = np.cross(pts[i[1]] - pts[i[0]], pts[i[2]] - pts[i[0]])
        if np.linalg.norm(n) < 0.02:  # nearly collinear (area < 1 dm^2)
            continue
        n = _unit(n)
        n = n if n @ up0 > 0 else -n
        if n @ up0 < max_tilt:
            continue
        off = float(n @ pts[i[0]])
        count = int(np.sum(np.abs(pts @ n - off) <= cfg.inlier_m))
        if -off < cfg.min_camera_height_m:  # the camera would stand under this "floor"
            continue
        planes.append((count, float(n @ centroid - off), n, off))
    if not planes and np.percentile(pts @ up0, 10) > -cfg.min_camera_height_m:
        return None, None  # the feet are level with or above the camera: no floor is seen
    if planes:
        best = max(planes, key=lambda p: p[0])
        # A distinct lower level (parallel within 5 deg, more than 2 bands below the best plane
        # at the candidates' centroid) with enough support is the floor under a box or stair.
        lower = [
            p
            for p in planes
            if p[0] >= cfg.lower_support * best[0]
            and p[2] @ best[2] > np.cos(np.deg2rad(5.0))
            and p[1] - best[1] > 2 * cfg.inlier_m
        ]
        _, _, n_best, off_best = max(lower, key=lambda p: p[0]) if lower else best
    else:  # every sample degenerate (feet on one spot): a level plane through the lowest band
        n_best = up0
        off_best = float(np.percentile(pts @ up0, 10))
    inl = np.abs(pts @ n_best - off_best) <= cfg.inlier_m
    # Ridge least squares on the inliers, in the prior's basis: h = a*u + c*w + d.
    u_ax, w_ax = _basis(up0)
    hu, hh, hw = pts @ u_ax, pts @ up0, pts @ w_ax
    n_eff_scale = min(1.0, 1.0 / max(cfg.decorrelation_s * fps, 1.0))
    lam = (cfg.noise_m / np.tan(np.deg2rad(cfg.prior_tilt_deg))) ** 2 / n_eff_scale
    for _ in range(2):
        x = np.stack([hu[inl], hw[inl], np.ones(inl.sum())], -1)
        normal_eq = x.T @ x + np.diag([lam, lam, 0.0])
        a, c, d = np.linalg.solve(normal_eq, x.T @ hh[inl])
        normal = _unit(up0 - a * u_ax - c * w_ax)
        offset = float(normal @ (d * up0))
        inl = np.abs(pts @ normal - offset) <= cfg.inlier_m
        if inl.sum() < 3:
            return None, None
    # Posterior covariance of (a, c, d): noise_m^2 / n_eff_scale * normal_eq^-1 (each point
    # counts as n_eff_scale independent observations, the ridge is the prior on the tilt).
    height_sd = float(np.sqrt(cfg.noise_m**2 / n_eff_scale * np.linalg.inv(normal_eq)[2, 2]))
    if -offset < max(cfg.min_camera_height_m, cfg.min_height_sd * height_sd):
        log.info(
            "support plane %.2f m (+- %.2f m) below the camera: not clearly below it, not the "
            "floor",
            -offset,
            height_sd,
        )
        return None, (normal, offset)
    resid = pts[inl] @ normal - offset
    above = (pts @ normal - offset) > cfg.inlier_m
    fit = FloorFit(
        normal,
        offset,
        int(len(pts)),
        int(inl.sum()),
        float(np.sqrt(np.mean(resid**2))),
        float(above.mean()),
        height_sd,
    )
    return fit, None


# ------------------------------------------------------------------ the scene's lines (opt-in)
# The scene's horizontal lines give the floor's tilt to about a degree where the feet give 2-10;
# their say is bounded: a line family counts only when its direction lies within the feet fit's
# tilt uncertainty (3 standard errors, at least SCENE_MIN_TOL_DEG: on the harness's renders the
# feet's normal is 2-10 deg off, median 4.4, and its stated error is optimistic) of horizontal.
SCENE_TILT_DEG = 1.0  # ridge on the tilt away from the scene-constrained normal
SCENE_MIN_TOL_DEG = 10.0
SCENE_MAX_TOL_DEG = 15.0
# A second family (then the normal is perpendicular to both) needs this share of the first's
# total segment length and 30 deg between the two (chosen on 16 harness clips: 0.5 gave a median
# camera-height error of 0.248 m, 0.25 gave 0.239 m and the two demo people, one camera, 1.38 and
# 1.39 m where 0.5 left them 1.48 and 1.90 m).
SCENE_SECOND_FAMILY = 0.25


def scene_frame_indices(n: int, n_frames: int = 5) -> np.ndarray:
    """Which of ``n`` frames :func:`scene_frames` looks at: ``n_frames`` spread evenly."""
    return np.unique(np.linspace(0, n - 1, min(n_frames, n)).round().astype(int))


def scene_frames(
    video: str | Path,
    times_s: np.ndarray,
    keypoints_px: np.ndarray,
    width_px: int,
    n_frames: int = 5,
    frames=None,
) -> list[tuple[np.ndarray, np.ndarray]]:
    """``n_frames`` grey frames spread over ``times_s`` at the camera's width, each with the
    person's box (keypoints' extent plus 15 %) to mask: [(gray (H, W) uint8, box (4,))].
    ``frames``: the frames at :func:`scene_frame_indices` already decoded (core.video.Frame, in
    time order), instead of decoding ``video`` again."""
    from core.video import iter_frames

    times = np.asarray(times_s, np.float64)
    want = scene_frame_indices(len(times), n_frames)
    out: list[tuple[np.ndarray, np.ndarray]] = []
    k = 0
    if frames is None:
        frames = iter_frames(video, start_s=float(times[0]) - 1e-3, end_s=float(times[-1]) + 1e-3)
    for fr in frames:
        if k >= len(want):
            break
        if fr.time_s + 1e-3 < times[want[k]]:
            continue
        rgb = fr.rgb
        scale = width_px / rgb.shape[1]
        gray = (rgb.astype(np.float32) @ np.array([0.299, 0.587, 0.114], np.float32)).astype(
            np.uint8
        )
        if abs(scale - 1.0) > 1e-6:
            import cv2

            gray = cv2.resize(gray, (width_px, int(round(gray.shape[0] * scale))))
        kp = np.asarray(keypoints_px[want[k]], np.float64)
        kp = kp[np.isfinite(kp).all(1)]
        if len(kp):
            lo, hi = kp.min(0), kp.max(0)
            pad = 0.15 * (hi - lo) + 10.0
            box = np.r_[lo - pad, hi + pad]
        else:
            box = np.array([np.nan] * 4)
        out.append((gray, box))
        k += 1
    return out


def scene_line_segments(frames: list[tuple[np.ndarray, np.ndarray]]) -> np.ndarray:
    """(N, 4) line segments (x0, y0, x1, y1 px) of :func:`scene_frames`' frames, the person's box
    masked out (``core.horizon.line_segments``). It needs only the frames and the detections, so
    a capture runs it beside the refinement (``core.capture.ground.start_scene_lines``)."""
    from core.horizon import line_segments

    segs = [
        line_segments(gray, None if not np.isfinite(box).all() else box[None])
        for gray, box in frames
    ]
    return np.concatenate(segs) if segs else np.zeros((0, 4))


def floor_with_scene_lines(
    fit: FloorFit | None,
    sole_m: np.ndarray,
    fps: float,
    conf: np.ndarray | None,
    frames: list[tuple[np.ndarray, np.ndarray]] | None,
    intrinsics: np.ndarray,
    cfg: FloorConfig | None = None,
    belt_velocity_mps: np.ndarray | None = None,
    prior_up: np.ndarray | None = None,
    segments: np.ndarray | None = None,
) -> tuple[FloorFit | None, str]:
    """The feet's floor fit re-done with the scene's strongest horizontal line family as the tilt
    prior (``core.horizon``): the normal closest to the feet's that is perpendicular to it, held
    within ``SCENE_TILT_DEG``. Returns the fit (the feet's own when the scene has no usable
    family, or the refit fails) and a note saying which.

    Without a feet fit (``fit`` None: the feet alone left the floor's height under the camera
    too uncertain to call it below the camera, as for a low camera far from a person on one
    spot) the family is looked for within ``SCENE_MAX_TOL_DEG`` of ``prior_up`` (the body's
    mean vertical) and the fit tried with the scene's tilt; None when that finds no floor either.

    ``segments``: :func:`scene_line_segments` of the frames, already found (``frames`` is then
    not looked at).
    """
    from core.horizon import constrain_up, horizontal_directions

    cfg = cfg or FloorConfig()
    if fit is None and prior_up is None:
        return None, "scene lines: not used (no floor from the feet and no prior up)"
    if fit is None and _feet_seen(np.asarray(sole_m, np.float64), conf, cfg) is None:
        # the refit would fail on the same test: no need to look for lines
        return None, "scene lines: not used (the feet are not seen in enough frames)"
    seg = scene_line_segments(frames or []) if segments is None else np.asarray(segments)
    sole = np.asarray(sole_m, np.float64)
    seen = np.isfinite(sole).all(-1) if conf is None else np.asarray(conf) >= cfg.min_conf
    depth = float(np.median(-sole[..., 2][seen])) if seen.any() else float("nan")
    if fit is not None:
        ref_up, what = fit.up, "the feet's floor"
        tilt_sd = np.degrees(fit.camera_height_sd_m / depth) if np.isfinite(depth) else 90.0
        tol = float(np.clip(3.0 * tilt_sd, SCENE_MIN_TOL_DEG, SCENE_MAX_TOL_DEG))
    else:
        ref_up, what = _unit(np.asarray(prior_up, np.float64)), "the body's vertical"
        tol = SCENE_MAX_TOL_DEG
    up_cam = LEVEL_CAMERA_ROTATION @ ref_up  # level frame -> camera frame (y down, z forward)
    lines = horizontal_directions(seg, intrinsics, up_cam, tol)
    if not len(lines.directions):
        return fit, f"scene lines: no horizontal family within {tol:.1f} deg of {what}"
    up_c = constrain_up(up_cam, lines.directions[0])
    if (
        len(lines.directions) > 1
        and lines.length_px[1] >= SCENE_SECOND_FAMILY * lines.length_px[0]
        and abs(lines.directions[0] @ lines.directions[1]) < np.cos(np.deg2rad(30.0))
    ):
        # Two distinct horizontal families: the normal is perpendicular to both.
        both = np.cross(lines.directions[0], lines.directions[1])
        both = both / np.linalg.norm(both) * np.sign(both @ up_cam)
        if both @ up_cam > np.cos(np.deg2rad(tol)):
            up_c = both
    up_scene = LEVEL_CAMERA_ROTATION @ up_c
    refit = estimate_floor(
        sole_m, fps, conf=conf, prior_up=up_scene, cfg=replace(cfg, prior_tilt_deg=SCENE_TILT_DEG),
        belt_velocity_mps=belt_velocity_mps,
    )  # fmt: skip
    moved = np.degrees(np.arccos(np.clip(up_scene @ ref_up, -1.0, 1.0)))
    met = (
        f"scene lines: {lines.n_segments[0]} of {lines.n_candidates} segments, on "
        f"{lines.n_lines[0]} distinct lines, meet on the horizon"
    )
    if fit is None:
        if refit is None:
            return None, "scene lines: no floor with the scene's tilt either"
        return refit, (
            f"{met}; with their tilt ({moved:.1f} deg from the body's vertical) the feet give a "
            f"floor the feet alone could not: camera {-refit.offset_m:.2f} m above it"
        )
    if refit is None:
        return fit, "scene lines: the refit with the scene's tilt found no floor; the feet's kept"
    return refit, (
        f"{met}; the floor's tilt moved {moved:.1f} deg, camera height "
        f"{-fit.offset_m:.2f} -> {-refit.offset_m:.2f} m"
    )


def unwrap_root_angles(q_rad: np.ndarray) -> np.ndarray:
    """Pelvis tilt, list and rotation without 360-deg steps (``numpy.unwrap``), and the rotation
    brought near 0 at frame 0 by whole turns."""
    q = np.array(q_rad, dtype=np.float64, copy=True)
    for j in _ROOT_DOFS:
        q[:, j] = np.unwrap(q[:, j])
        q[:, j] -= 2 * np.pi * np.round(q[0, j] / (2 * np.pi))
    return q


def _pelvis_rotations(q_rad: np.ndarray) -> np.ndarray:
    axes = sk.dof_axes()[_ROOT_DOFS]
    r = fk_numpy.axis_angle_matrix(axes, q_rad[:, _ROOT_DOFS])  # (T, 3, 3, 3)
    return r[:, 0] @ r[:, 1] @ r[:, 2]


def _pelvis_angles(r: np.ndarray) -> np.ndarray:
    """Inverse of ``_pelvis_rotations`` (Rz(tilt) Rx(list) Ry(rotation)), as in
    ``core.kinematics.pelvis_angles_from_matrix``."""
    lst = np.arcsin(np.clip(r[..., 2, 1], -1.0, 1.0))
    rot = np.arctan2(-r[..., 2, 0], r[..., 2, 2])
    tilt = np.arctan2(-r[..., 0, 1], r[..., 1, 1])
    return np.stack([tilt, lst, rot], -1)


def _facing(q_rad: np.ndarray, up: np.ndarray, fps: float) -> np.ndarray | None:
    """The pelvis's forward (+X body axis) over the first half second, horizontal, unit."""
    n = max(1, min(len(q_rad), int(round(0.5 * fps))))
    fwd = _pelvis_rotations(q_rad[:n])[:, :, 0].mean(0)
    fwd = fwd - (fwd @ up) * up
    if np.linalg.norm(fwd) < 0.2:
        return None
    return _unit(fwd)


def camera_frame_only(cam: Camera, message: str, lowest_y_m: float | None = None) -> WorldFrame:
    """No floor: keep the level-camera frame's axes (gravity not estimated). With
    ``lowest_y_m`` (the lowest sole point's height in that frame) the origin is moved down to it,
    so the feet's lowest point lies at Y = 0 (``floor_source = "lowest-foot"``): a rig stands on
    the ground plane of Blender or OpenSim instead of hanging below the camera."""
    shift = 0.0 if lowest_y_m is None or not np.isfinite(lowest_y_m) else float(lowest_y_m)
    return WorldFrame(
        np.eye(3),
        np.array([0.0, shift, 0.0]),
        float("nan"),
        float("nan"),
        float("nan"),
        float(cam.focal_px),
        "none" if lowest_y_m is None else "lowest-foot",
        "camera",
        message=message,
    )


def world_frame(
    fit: FloorFit,
    q_rad: np.ndarray,
    root_m: np.ndarray,
    fps: float,
    cam: Camera,
    scale_sd_rel: float = 0.0,
) -> WorldFrame:
    """World axes from the floor fit: Y = floor normal, X = the subject's initial facing (the
    camera's right when the pelvis points at the camera's axis), origin on the floor under the
    pelvis at frame 0.

    ``scale_sd_rel``: the relative standard error of the scene's scale (the subject's stature
    when it was not given: ``core.hmr.fit.POPULATION_STATURE_SD_M`` over the mean). The camera
    height's stated uncertainty adds it to the floor fit's own (``FloorFit.camera_height_sd_m``,
    which knows the feet's spread and the tilt, not the scale)."""
    up = _unit(fit.up)
    fwd = _facing(q_rad, up, fps)
    if fwd is None:
        fwd = _unit(np.array([1.0, 0.0, 0.0]) - up[0] * up)
    right = np.cross(fwd, up)  # X x Y = Z (right-handed: forward x up = right)
    rot = np.stack([fwd, up, right])  # rows: world axes in the level frame
    r0 = np.asarray(root_m[0], dtype=np.float64)
    origin = r0 - (r0 @ up - fit.offset_m) * up
    pitch, roll = pitch_roll_from_up(up)
    height = float(-fit.offset_m)
    scale_sd = height * float(scale_sd_rel)
    sd = float(np.hypot(fit.camera_height_sd_m, scale_sd))
    why = ", most of it the subject's unknown stature" if scale_sd > fit.camera_height_sd_m else ""
    return WorldFrame(
        rot,
        origin,
        height,
        pitch,
        roll,
        float(cam.focal_px),
        "feet",
        "world",
        floor_rms_m=fit.rms_m,
        n_floor_points=fit.n_inliers,
        elevated_fraction=fit.elevated_fraction,
        camera_height_sd_m=sd,
        message=(
            f"floor from {fit.n_inliers} stance-foot points (RMS {100 * fit.rms_m:.1f} cm): "
            f"camera {height:.2f} m (+- {sd:.2f}{why}) above it, "
            f"pitch {pitch:.1f} deg, roll {roll:.1f} deg"
        ),
    )


def to_world(
    frame: WorldFrame, q_rad: np.ndarray, root_m: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Re-express a motion (q with pelvis angles, pelvis positions) in the world frame; the root
    angles come back unwrapped."""
    q = np.array(q_rad, dtype=np.float64, copy=True)
    root = (np.asarray(root_m, dtype=np.float64) - frame.origin_m) @ frame.rotation.T
    r = frame.rotation @ _pelvis_rotations(q)
    q[:, _ROOT_DOFS] = _pelvis_angles(r)
    return unwrap_root_angles(q), root
