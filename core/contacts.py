"""Foot contact: where the sole points are, and when each one is on its support.

Four contact points per subject, ``CONTACT_POINTS`` (heel and toe of each foot), fixed in the
calcaneus and toes bodies at the sole (the lowest skin of the heel pad and of the toes in the
zero pose when the subject has a surface; else a skeleton-proportional guess).

The contact probability per frame (``detect_contacts``) combines

* height above the support: the point's height above the floor (Y = 0); a point that stays still
  for at least ``elevated_still_s`` while being the lowest part of the body (within
  ``elevated_margin_m`` of the lowest sole point) is on a support of its own (a box, a stair) and
  its height counts as 0 there. A jump's apex is still only for an instant, so flight stays
  flight; a foot held still in the air while the other one stands lower is not a contact;
* speed: a planted point hardly moves (relative to the belt on a treadmill). With a camera and
  the foot keypoints, the speed across the image comes from the 2D keypoints (pixels/s times the
  point's depth / focal length: far steadier than a monocular depth; a belt's own image motion
  taken off) and only the speed along the line of sight from the 3D motion, less the support's
  apparent drift there (the median line-of-sight speed of the lowest foot point: a monocular
  capture shortens or stretches steps in depth, so its stance feet glide along the line of
  sight), smoothed over ``depth_smooth_s``. On the accuracy harness's renders of OpenSim's
  gait2392 treadmill walk (3 views) against its force plates (benchmarks/grf_benchmark.py):
  heel strike / toe off mean |error| 14-66 / 55-221 ms before these two, 2-33 / 7-88 ms after;
  frame F1 0.76-0.89 -> 0.92-0.99;
* at the clip's ends, where a centred window does not fit, positions and speeds come from a
  straight line fitted to the first (last) window (``_smooth``), not from the raw end frame:
  the 30 deg render's stance toe 'moved' 1 m/s in frame 0 and lost its contact;
* the keypoint confidence of the foot: an unseen foot's evidence is the motion alone, so its
  probability is pulled toward 0.5 (undecided) rather than trusted.

A foot (``flat_height_m``; 0 turns it off) in contact at
one point whose other point is within ``flat_height_m`` of the support (and not fast) rests
flat, and both points are in contact: the contact refinement pins a single point and lets the
foot turn about it, which the demo's man showed as a skating foot (left toe planted, heel 2-4 cm
up 'moving' 1 m/s in depth noise). It never adds a frame to a foot's contact, only a second
point to pin, so the force-plate timing per foot is unchanged.

The decision is a hysteresis on that probability (enter above 0.6, leave below 0.4) with a minimum
phase length; the stored probability is moved onto the decided side of 0.5 (>= 0.55 in contact,
<= 0.45 out of it), so thresholding it at 0.5 gives the decided phases.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np

from core import fk_numpy
from core import skeleton as sk

__all__ = [
    "CONTACT_POINTS",
    "CONTACT_BODIES",
    "ContactConfig",
    "ContactResult",
    "contact_point_definitions",
    "contact_positions",
    "sole_point_definitions",
    "detect_contacts",
    "contact_phases",
]

log = logging.getLogger(__name__)

CONTACT_POINTS: tuple[str, ...] = ("heel_r", "toe_r", "heel_l", "toe_l")
CONTACT_BODIES: tuple[str, ...] = ("calcn_r", "toes_r", "calcn_l", "toes_l")


def _fallback_local(offsets_m: np.ndarray) -> np.ndarray:
    """Sole points from the skeleton alone: under the calcaneus origin and 3 cm ahead of the toes
    origin, at the sole height implied by a standing zero pose (toes and calcaneus origins of
    ``skeleton.default_offsets`` are 3.6 cm above the floor at 1.75 m)."""
    s = float(np.linalg.norm(offsets_m[sk.BODY["tibia_r"]])) / 0.425  # shank length vs 1.75 m
    out = np.zeros((4, 3))
    for k, name in enumerate(CONTACT_BODIES):
        side = -1.0 if name.endswith("_l") else 1.0
        out[k] = (0.0 if name.startswith("calcn") else 0.03, -0.036, 0.0)
        out[k] *= s
        out[k, 2] *= side
    return out


def contact_point_definitions(
    offsets_m: np.ndarray, surface=None
) -> tuple[np.ndarray, np.ndarray]:
    """(4,) body indices and (4, 3) local positions (body frame, metres) of ``CONTACT_POINTS``.

    With a ``core.motion.Surface`` the points are the skin's sole: among the vertices skinned
    mostly to the calcaneus (toes) body, the mean of those within 5 mm of its lowest vertex in the
    zero pose (FK with root 0 places the zero-pose surface; body frames are then world-aligned)."""
    offsets_m = np.asarray(offsets_m, dtype=np.float64)
    bodies = np.array([sk.BODY[b] for b in CONTACT_BODIES], dtype=np.int64)
    local = _fallback_local(offsets_m)
    if surface is None:
        return bodies, local
    verts = np.asarray(surface.vertices_m, dtype=np.float64)
    sb = np.asarray(surface.skin_bodies)
    sw = np.asarray(surface.skin_weights)
    _, org = fk_numpy.forward_kinematics(np.zeros(sk.N_DOFS), np.zeros(3), offsets_m)
    dominant = sb[np.arange(len(sb)), np.argmax(sw, axis=1)]
    for k, name in enumerate(CONTACT_BODIES):
        b = sk.BODY[name]
        v = verts[dominant == b]
        if len(v) < 3:
            log.warning("surface has no vertices on %s: sole point from the skeleton", name)
            continue
        low = v[v[:, 1] <= v[:, 1].min() + 0.005]
        if name.startswith("toes"):
            # The toe contact: the front of the toes' lowest skin.
            low = v[(v[:, 1] <= v[:, 1].min() + 0.01)]
            low = low[low[:, 0] >= np.percentile(low[:, 0], 50)]
        local[k] = low.mean(0) - org[b]
    return bodies, local


def sole_point_definitions(
    offsets_m: np.ndarray, surface=None, marker_bodies=None, marker_local_m=None
) -> tuple[np.ndarray, np.ndarray]:
    """(P,) bodies and (P, 3) local positions of the foot points that must never go below the
    floor: the ``CONTACT_POINTS``, the foot's skin outline (of the calcaneus and toes skin: the
    lowest, front-most, rear-most, medial-most and lateral-most vertex of its lower half, and the
    front-most vertex overall, i.e. the toe tip) and the given markers fixed to a calcaneus or toes
    body (the ``.trc``'s heel, metatarsal and toe markers). The contact points alone are not
    enough: a foot pitched toes-down in push-off or swing puts its toe tip 5-10 cm under a floor
    its heel and forefoot sole points stay above."""
    bodies, local = contact_point_definitions(offsets_m, surface)
    out_b, out_l = [bodies], [local]
    foot = [sk.BODY[b] for b in CONTACT_BODIES]
    if surface is None:
        # The toe tips from the skeleton: 5.5 cm ahead of the toes origin, 2 cm above the sole
        # (at 1.75 m; see _fallback_local).
        s = float(np.linalg.norm(offsets_m[sk.BODY["tibia_r"]])) / 0.425
        for b in (sk.BODY["toes_r"], sk.BODY["toes_l"]):
            out_b.append(np.array([b], dtype=np.int64))
            out_l.append(np.array([[0.055 * s, -0.016 * s, 0.0]]))
    else:
        verts = np.asarray(surface.vertices_m, dtype=np.float64)
        sb, sw = np.asarray(surface.skin_bodies), np.asarray(surface.skin_weights)
        dominant = sb[np.arange(len(sb)), np.argmax(sw, axis=1)]
        _, org = fk_numpy.forward_kinematics(np.zeros(sk.N_DOFS), np.zeros(3), offsets_m)
        for b in foot:
            v = verts[dominant == b]
            if len(v) < 3:
                continue
            lower = v[v[:, 1] <= np.median(v[:, 1])]
            picks = [lower[:, 1].argmin(), lower[:, 0].argmax(), lower[:, 0].argmin()]
            picks += [lower[:, 2].argmax(), lower[:, 2].argmin()]
            pts = np.concatenate([lower[picks], v[[v[:, 0].argmax()]]])
            out_b.append(np.full(len(pts), b, dtype=np.int64))
            out_l.append(pts - org[b])
    if marker_bodies is not None and marker_local_m is not None:
        mb = np.asarray(marker_bodies, dtype=np.int64)
        on_foot = np.isin(mb, foot)
        out_b.append(mb[on_foot])
        out_l.append(np.asarray(marker_local_m, dtype=np.float64)[on_foot])
    return np.concatenate(out_b), np.concatenate(out_l)


def contact_positions(
    q_rad: np.ndarray,
    root_m: np.ndarray,
    offsets_m: np.ndarray,
    bodies: np.ndarray,
    local_m: np.ndarray,
) -> np.ndarray:
    """(T, 4, 3) contact points in the motion's frame."""
    rot, org = fk_numpy.forward_kinematics(q_rad, root_m, offsets_m)
    return fk_numpy.body_points(rot, org, bodies, local_m)


@dataclass
class ContactConfig:
    height_m: float = 0.06  # probability 0.5 at this height above the support
    height_scale_m: float = 0.015
    # Probability 0.5 at this speed: a swinging foot moves at 2-5 m/s; a planted one seen by a
    # monocular capture still 'moves' a few tenths (depth noise, 2D jitter).
    speed_mps: float = 0.6
    speed_scale_mps: float = 0.15
    low_height_m: float = 0.03  # below this height the speed limit rises toward low_speed_mps
    low_speed_mps: float = 1.2
    elevated_still_s: float = 0.25  # stillness that makes a raised point a support contact
    elevated_margin_m: float = 0.1  # ... when it is this close to the frame's lowest sole point
    smooth_s: float = 0.05  # positions are smoothed over about this before speeds are taken
    depth_smooth_s: float = 0.15  # the line-of-sight speed (noisy in a monocular capture)
    # A contact phase begins where the probability passes 0.5 (0.6 before 2026-12-03): the
    # stricter entry let a landing foot that is already planted in the truth slide for its first
    # frames. Replay of 39 recorded harness clips (benchmarks/refine_replay.py, cc.enter=0.5),
    # tuning subset / 31 others: sliding p90 over the true planted phases 2.0 -> 1.7 / 2.8 ->
    # 2.2 cm, contact F1 0.731 -> 0.728 / 0.886 -> 0.886, angle MAE unchanged (7.93 / 8.38 deg).
    enter: float = 0.5
    leave: float = 0.4
    min_phase_s: float = 0.1
    max_gap_s: float = 0.067  # shorter breaks inside a contact phase are closed
    # Take the support's apparent drift along the line of sight (the median line-of-sight speed
    # of the lowest foot point) off that speed: a monocular capture shortens or lengthens steps
    # in depth, so a stance foot on a still floor or a belt 'moves' there with a steady bias.
    support_drift: bool = True
    # A foot planted at one point (heel or toe) whose other point is this close to the support
    # (0.045: about 13 deg of pitch over a 0.2 m heel-toe line) and slower than low_speed_mps
    # rests flat: both are in contact (0 turns it off). Measured with the contact phase at 100
    # iterations (capture 55f9a31): it left the demo
    # man's SLIDE on the lawn at 0.104 -> 0.105 m/s (whole clip 0.108 -> 0.105; his left foot's
    # pinned frames 0.10-0.12 -> 0.01-0.04 m/s), the woman's at 0.025, the gait2392 video's
    # per-foot contact timing unchanged and its vertical GRF per foot (as capture --dynamics)
    # 20.0/17.8, 6.2/7.3, 16.5/16.0 -> 20.0/17.8, 6.1/7.2, 11.8/10.4 % BW (views 0, 1, 2).
    flat_height_m: float = 0.045


@dataclass
class ContactResult:
    probability: np.ndarray  # (T, 4) 0..1, > 0.5 exactly in the decided contact phases
    state: np.ndarray  # (T, 4) bool
    height_m: np.ndarray  # (T, 4) height above the support used
    speed_mps: np.ndarray  # (T, 4)


def _sigmoid(x: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-np.clip(x, -50, 50)))


def _smooth(x: np.ndarray, n: int) -> np.ndarray:
    """Centred moving average over 2n+1 frames along axis 0. Within n frames of either end of
    the clip, where that window does not fit, the value of a straight line fitted to the first
    (last) 2n+1 frames: the same noise reduction as inside (a symmetric window shrunk to the
    end frame alone would leave its noise whole, and a speed taken there by a one-sided
    difference doubles it: a planted foot 'moved' 1 m/s at the first frame of the rendered
    gait2392 walk), and unbiased for a steady motion. np.gradient of the result at the ends
    is that line's slope. Shorter clips than 2n+1 frames: the longest window that fits."""
    t = len(x)
    n = min(n, (t - 1) // 2)
    if n < 1:
        return x
    c = np.cumsum(np.concatenate([np.zeros_like(x[:1]), x]), axis=0)
    out = (c[2 * n + 1 :] - c[: t - 2 * n]) / (2 * n + 1)  # frames n .. t-n-1
    j = np.arange(2 * n + 1, dtype=np.float64) - n  # window frames about its centre
    # least-squares line through the end window, evaluated at offset i - n: mean + slope * (i - n)
    w = 1.0 / (2 * n + 1) + np.outer(j, j) / float((j**2).sum())  # (evaluated at, window frame)
    head = np.tensordot(w[:n], x[: 2 * n + 1], axes=(1, 0))
    tail = np.tensordot(w[n + 1 :], x[t - 2 * n - 1 :], axes=(1, 0))
    return np.concatenate([head, out, tail], axis=0)


def contact_phases(state: np.ndarray) -> list[tuple[int, int, int]]:
    """(point, first frame, last frame + 1) of each run of True in a (T, P) boolean array."""
    state = np.asarray(state, bool)
    out = []
    for k in range(state.shape[1]):
        s = np.concatenate([[False], state[:, k], [False]]).astype(np.int8)
        d = np.diff(s)
        for a, b in zip(np.flatnonzero(d == 1), np.flatnonzero(d == -1), strict=True):
            out.append((k, int(a), int(b)))
    return out


def _hysteresis(p: np.ndarray, cfg: ContactConfig, fps: float) -> np.ndarray:
    state = np.zeros(p.shape, bool)
    for k in range(p.shape[1]):
        on = p[0, k] > 0.5
        for i in range(len(p)):
            on = p[i, k] > cfg.leave if on else p[i, k] > cfg.enter
            state[i, k] = on
    min_len = max(1, int(round(cfg.min_phase_s * fps)))
    max_gap = int(round(cfg.max_gap_s * fps))
    for k in range(p.shape[1]):
        # Close short gaps, then drop short phases.
        for _, a, b in contact_phases(~state[:, k : k + 1]):
            if a > 0 and b < len(p) and b - a <= max_gap:
                state[a:b, k] = True
        for _, a, b in contact_phases(state[:, k : k + 1]):
            if b - a < min_len:
                state[a:b, k] = False
    return state


def _flat_feet(
    state: np.ndarray, height: np.ndarray, speed: np.ndarray, cfg: ContactConfig, fps: float
) -> np.ndarray:
    """A foot in contact at its heel (toe) whose toe (heel) lies within ``flat_height_m`` of the
    support, slower than ``low_speed_mps``, rests flat: that point is in contact too (runs of at
    least ``min_phase_s``). Without it the contact refinement pins one point and lets the foot
    turn about it, so a foot resting on the floor still skates (the demo's man on the lawn:
    toe pinned, heel 2 cm up 'moving' 1 m/s in depth noise). Per foot, a frame is in contact
    exactly when it was before: only which of its points are pinned changes."""
    if state.shape[1] != 4:
        return state
    out = state.copy()
    min_len = max(1, int(round(cfg.min_phase_s * fps)))
    for a, b in ((0, 1), (1, 0), (2, 3), (3, 2)):
        add = state[:, b] & ~state[:, a] & (height[:, a] < cfg.flat_height_m)
        add &= speed[:, a] < cfg.low_speed_mps
        for _, i, j in contact_phases(add[:, None]):
            if j - i >= min_len:
                out[i:j, a] = True
    return out


def _support_drift(pts: np.ndarray, v_los: np.ndarray, floor_y: float) -> float:
    """The line-of-sight speed the capture gives its support: the median, over the frames
    where the lowest point is near the floor, of that point's line-of-sight speed."""
    h = pts[..., 1] - floor_y
    low = np.argmin(h, axis=1)
    frames = np.arange(len(pts))
    near = h[frames, low] < 0.03
    if near.sum() < 3:
        return 0.0
    return float(np.median(v_los[frames[near], low[near]]))


def _image_speed(pts, vel, camera, kp, fps, cfg, speed3d, belt=None, floor_y=0.0) -> np.ndarray:
    """Speed from the image across the line of sight and the 3D motion along it (see the
    module text); frames without a keypoint keep the 3D speed. belt: (3,) world velocity of the
    support; its image motion at each point (pinhole: d(x/z)/dt = (u_x - u_z x / z) / z) is
    taken off the keypoints' so that a foot riding a treadmill belt counts as still."""
    rot = np.asarray(camera.rotation, dtype=np.float64)
    pc = pts @ rot.T + np.asarray(camera.translation_m, dtype=np.float64)
    depth = np.clip(pc[..., 2], 0.1, None)
    ray = pc / np.linalg.norm(pc, axis=-1, keepdims=True)
    vel_c = vel @ rot.T
    v_los = (vel_c * ray).sum(-1)
    if cfg.support_drift:
        v_los = v_los - _support_drift(pts, v_los, floor_y)
    v_los = _smooth(v_los, int(round(cfg.depth_smooth_s * fps)))
    ok = np.isfinite(kp).all(-1)
    kp = kp.copy()
    frames = np.arange(len(kp))
    for k in range(kp.shape[1]):
        if ok[:, k].sum() < 2:
            continue
        for c in range(2):
            kp[~ok[:, k], k, c] = np.interp(
                frames[~ok[:, k]], frames[ok[:, k]], kp[ok[:, k], k, c]
            )
    kp = _smooth(kp, int(round(cfg.smooth_s * fps)))
    v_px = np.gradient(kp, axis=0) * fps  # (T, P, 2) pixels/s
    if belt is not None:
        u = rot @ np.asarray(belt, dtype=np.float64)  # the belt's velocity, camera frame
        v_px = (
            v_px
            - camera.focal_px * (u[:2] - pc[..., :2] / depth[..., None] * u[2]) / depth[..., None]
        )
    v_img = np.linalg.norm(v_px, axis=-1) * depth / camera.focal_px
    combined = np.sqrt(v_img**2 + v_los**2)
    return np.where(ok & np.isfinite(combined), combined, speed3d)


def detect_contacts(
    points_m: np.ndarray,
    fps: float,
    conf: np.ndarray | None = None,
    floor_y: float = 0.0,
    belt_velocity_mps: np.ndarray | None = None,
    cfg: ContactConfig | None = None,
    camera=None,
    keypoints_px: np.ndarray | None = None,
) -> ContactResult:
    """Contact probabilities of (T, P, 3) points (world frame, Y up, floor at ``floor_y``).

    conf: (T, P) keypoint confidence 0..1 of each point's foot (None: fully seen).
    belt_velocity_mps: (3,) velocity of a treadmill belt under the feet (None: still floor).
    camera (``core.motion.Camera``, world -> camera) and keypoints_px (T, P, 2) detected image
    points of the same contact points (NaN = missing): the speed across the image from them."""
    cfg = cfg or ContactConfig()
    pts = np.asarray(points_m, dtype=np.float64)
    if pts.ndim != 3 or pts.shape[-1] != 3:
        raise ValueError(f"expected contact points of shape (T, P, 3), got {pts.shape}")
    t = len(pts)
    pts = _smooth(pts, int(round(cfg.smooth_s * fps)))
    h_abs = np.maximum(pts[..., 1] - floor_y, 0.0)  # below the floor is on it
    if t > 1:
        vel = np.gradient(pts, axis=0) * fps
    else:
        vel = np.zeros_like(pts)
    if belt_velocity_mps is not None:
        vel = vel - np.asarray(belt_velocity_mps, dtype=np.float64)
    speed = np.linalg.norm(vel, axis=-1)
    if camera is not None and keypoints_px is not None and t > 2:
        speed = _image_speed(
            pts, vel, camera, np.asarray(keypoints_px, float), fps, cfg, speed,
            belt_velocity_mps, floor_y,
        )  # fmt: skip
    # Raised supports: long enough still, and the lowest part of the body.
    lowest = np.nanmin(pts[..., 1], axis=1, keepdims=True)
    min_still = max(2, int(round(cfg.elevated_still_s * fps)))
    elevated = np.zeros(h_abs.shape, bool)
    for k, a, b in contact_phases(speed < cfg.speed_mps):
        if b - a >= min_still:
            elevated[a:b, k] = True
    elevated &= pts[..., 1] - lowest < cfg.elevated_margin_m
    height = np.where(elevated, 0.0, h_abs)
    # A point right on its support may 'move' faster in a jittery capture and still be planted;
    # a swinging foot skimming the floor moves at several m/s.
    on_support = np.clip(1.0 - height / cfg.low_height_m, 0.0, 1.0)
    speed_limit = cfg.speed_mps + (cfg.low_speed_mps - cfg.speed_mps) * on_support
    p = _sigmoid((cfg.height_m - height) / cfg.height_scale_m) * _sigmoid(
        (speed_limit - speed) / cfg.speed_scale_mps
    )
    if conf is not None:
        c = np.clip(np.nan_to_num(np.asarray(conf, dtype=np.float64)), 0.0, 1.0)
        p = c * p + (1.0 - c) * 0.5 * (p + 0.5) * 0.9  # unseen: toward (but below) undecided
    state = _flat_feet(_hysteresis(p, cfg, fps), height, speed, cfg, fps)
    prob = np.where(state, np.maximum(p, 0.55), np.minimum(p, 0.45))
    return ContactResult(prob, state, height, speed)
