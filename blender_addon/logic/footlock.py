"""Foot locking on a retargeted character (pure numpy, the character's armature space).

During each contact of the source (``ground.CONTACT_NAMES``), the character's foot is planted:

* heel contact: the heel sole point that is lowest when the contact starts stays where it was
  (horizontally); toe-only contact: the same for the toe/ball sole point; at the switch from heel
  to toe the new point is locked where it is, so nothing jumps;
* heel and toe both down (flat foot): the foot keeps the rotation it had when it became flat
  (its rotation correction fades back to the source's over ``blend_frames`` afterwards);
* vertically the lowest sole point of that foot sits on the floor;
* the ankle goes where the planted foot needs it by an analytic two-bone IK: a bend about the
  knee's own hinge axis (estimated from the motion, so a knee stays a hinge) and a swing of the
  leg about the hip; when the leg is too short the hips go down.

Corrections fade in and out over ``blend_frames`` around contacts and scale with ``strength``.
Sole points come from the character's mesh (vertices that follow the foot/toe bones) or from its
bones; see ``FootSoles``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .ground import CONTACT_NAMES
from .layout import matrix_from_quat, quat_from_matrix

__all__ = ["FootSoles", "LockReport", "lock_feet"]


@dataclass
class FootSoles:
    """Sole sample points of one foot at rest, armature space."""

    points: np.ndarray  # (K, 3) rest positions
    owner: np.ndarray  # (K,) 0 = follows the foot bone, 1 = follows the toe bone
    heel: np.ndarray  # (K,) True for the rear half of the sole
    pin: np.ndarray  # (K,) True for points on the sole itself (candidates to plant)
    rigid: np.ndarray | None = None  # (K,) True: moves with the foot/toe bones alone (no blend)


@dataclass
class LockReport:
    frames_locked: dict[str, int]  # side -> frames with a contact
    hips_drop_max: float  # largest lowering of the hips (armature units)
    unreachable_frames: int  # frames where the leg could not reach its planted foot


def _horizontal(v: np.ndarray, up: np.ndarray) -> np.ndarray:
    return v - (v @ up)[..., None] * up


def _rot(axis: np.ndarray, angle: np.ndarray) -> np.ndarray:
    """(T, 3) unit axes, (T,) angles -> (T, 3, 3)."""
    x, y, z = axis[:, 0], axis[:, 1], axis[:, 2]
    c, s = np.cos(angle), np.sin(angle)
    t = 1 - c
    return np.stack(
        [
            np.stack([c + x * x * t, x * y * t - z * s, x * z * t + y * s], -1),
            np.stack([y * x * t + z * s, c + y * y * t, y * z * t - x * s], -1),
            np.stack([z * x * t - y * s, z * y * t + x * s, c + z * z * t], -1),
        ],
        -2,
    )


def _swing(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """(T, 3), (T, 3) -> (T, 3, 3) smallest rotations taking direction a to direction b."""
    a = a / np.maximum(np.linalg.norm(a, axis=-1, keepdims=True), 1e-12)
    b = b / np.maximum(np.linalg.norm(b, axis=-1, keepdims=True), 1e-12)
    v = np.cross(a, b)
    s = np.linalg.norm(v, axis=-1)
    c = np.sum(a * b, -1)
    axis = np.where(s[:, None] > 1e-12, v / np.maximum(s, 1e-12)[:, None], [[1.0, 0.0, 0.0]])
    return _rot(axis, np.arctan2(s, c))


def _power(r: np.ndarray, alpha: np.ndarray) -> np.ndarray:
    """(T, 3, 3) rotations to the power alpha (T,) (slerp from identity)."""
    q = quat_from_matrix(r)
    q = q * np.where(q[:, :1] < 0, -1.0, 1.0)
    ang = 2 * np.arccos(np.clip(q[:, 0], -1, 1))
    s = np.sin(ang / 2)
    axis = np.where(s[:, None] > 1e-9, q[:, 1:] / np.maximum(s, 1e-9)[:, None], [[1.0, 0, 0]])
    half = alpha * ang / 2
    return matrix_from_quat(
        np.concatenate([np.cos(half)[:, None], axis * np.sin(half)[:, None]], 1)
    )


def _runs(on: np.ndarray) -> list[tuple[int, int]]:
    out, t = [], 0
    while t < len(on):
        if on[t]:
            e = t
            while e < len(on) and on[e]:
                e += 1
            out.append((t, e))
            t = e
        else:
            t += 1
    return out


def _fade_weights(on: np.ndarray, blend: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """For frames off contact: index of the nearest contact frame before/after and weights."""
    t_all = len(on)
    idx = np.flatnonzero(on)
    prev = np.full(t_all, -1)
    nxt = np.full(t_all, -1)
    w = np.zeros((t_all, 2))
    if not len(idx):
        return prev, nxt, w
    for t in range(t_all):
        if on[t]:
            continue
        before = idx[idx < t]
        after = idx[idx > t]
        if len(before) and t - before[-1] <= blend:
            prev[t] = before[-1]
            w[t, 0] = 1 - (t - before[-1]) / (blend + 1)
        if len(after) and after[0] - t <= blend:
            nxt[t] = after[0]
            w[t, 1] = 1 - (after[0] - t) / (blend + 1)
    tot = w.sum(1)
    w[tot > 1] /= tot[tot > 1, None]
    return prev, nxt, w


def knee_axis_local(want_thigh: np.ndarray, want_shin: np.ndarray) -> np.ndarray:
    """The knee's hinge axis in the thigh bone's frame, from the motion: relative rotations
    rel(t) rel(t0)^T of a hinge all turn about it. Falls back to the leg plane's normal."""
    rel = np.swapaxes(want_thigh, -1, -2) @ want_shin
    d = rel @ np.swapaxes(rel[0], -1, -2)
    ang = np.arccos(np.clip((np.trace(d, axis1=-2, axis2=-1) - 1) / 2, -1, 1))
    k = int(np.argmax(ang))
    if ang[k] > np.deg2rad(5):
        m = d[k]
        w = np.array([m[2, 1] - m[1, 2], m[0, 2] - m[2, 0], m[1, 0] - m[0, 1]])
        return w / np.linalg.norm(w)
    # a leg that never bends: the bone's local X (Blender bones bend about X by convention)
    return np.array([1.0, 0.0, 0.0])


def lock_feet(
    pose_fn,
    want: dict[str, np.ndarray],
    hips_head: np.ndarray,
    roles: dict[str, str],
    rest_of,
    contacts: np.ndarray,
    soles: dict[str, FootSoles],
    floor_point: np.ndarray,
    up: np.ndarray,
    *,
    strength: float = 1.0,
    blend_frames: int = 4,
) -> tuple[dict[str, np.ndarray], np.ndarray, LockReport]:
    """Plant the feet. ``pose_fn(want, hips_head) -> callable(name) -> (T, 4, 4)`` gives the
    armature-space pose of any bone; ``rest_of(name) -> (4, 4)`` its rest matrix. Returns the
    corrected ``want`` rotations (thighs, shins, feet, toes), hips head and a report."""
    want = {k: v.copy() for k, v in want.items()}
    hips_head = hips_head.copy()
    up = up / np.linalg.norm(up)
    floor_h = float(floor_point @ up)
    strength = float(np.clip(strength, 0.0, 1.0))
    t_all = hips_head.shape[0]
    c = np.asarray(contacts) >= 0.5
    on_side = {}

    # 1. flat feet keep their rotation (correction Q, faded out after)
    for s in "rl":
        foot = roles[f"foot_{s}"]
        heel = c[:, CONTACT_NAMES.index(f"heel_{s}")]
        toe = c[:, CONTACT_NAMES.index(f"toe_{s}")]
        on_side[s] = heel | toe
        if s not in soles:
            continue
        delta = want[foot] @ rest_of(foot)[:3, :3].T  # world rotation change of the foot
        q = np.broadcast_to(np.eye(3), (t_all, 3, 3)).copy()
        flat = heel & toe
        for a, b in _runs(flat):
            q[a:b] = delta[a] @ np.swapaxes(delta[a:b], -1, -2)
            for k in range(1, blend_frames + 1):  # fade back to the source's rotation
                if b - 1 + k >= t_all or flat[b - 1 + k]:
                    break
                q[b - 1 + k] = _power(
                    (delta[a] @ delta[b - 1 + k].T)[None], np.array([1 - k / (blend_frames + 1)])
                )[0]
        q = _power(q, np.full(t_all, strength))
        for role in (f"foot_{s}", f"toe_{s}"):
            if role in roles:
                want[roles[role]] = q @ want[roles[role]]

    # 2. where each foot must go: translation delta per frame
    pose = pose_fn(want, hips_head)
    targets: dict[str, np.ndarray] = {}
    n_locked: dict[str, int] = {}
    for s in "rl":
        if s not in soles:
            continue
        so = soles[s]
        foot, toe = roles[f"foot_{s}"], roles.get(f"toe_{s}", roles[f"foot_{s}"])
        pts = np.zeros((t_all, len(so.points), 3))
        for o, name in ((0, foot), (1, toe)):
            m = so.owner == o
            if not m.any():
                continue
            mat = pose(name) @ np.linalg.inv(rest_of(name))
            pts[:, m] = (
                np.einsum("tij,kj->tki", mat[:, :3, :3], so.points[m]) + mat[:, None, :3, 3]
            )
        heights = pts @ up - floor_h
        heel_c = c[:, CONTACT_NAMES.index(f"heel_{s}")]
        toe_c = c[:, CONTACT_NAMES.index(f"toe_{s}")]
        d = np.zeros((t_all, 3))
        pin = so.pin
        if (
            so.rigid is not None
            and (so.pin & so.rigid & so.heel).any()
            and (so.pin & so.rigid & ~so.heel).any()
        ):  # plant points that no other bone (e.g. the shin) also moves
            pin = so.pin & so.rigid
        cand_h = np.flatnonzero(pin & so.heel)
        cand_t = np.flatnonzero(pin & ~so.heel)
        if not len(cand_h) or not len(cand_t):
            cand_h = cand_t = np.flatnonzero(so.pin)
        pin_h = pin_t = -1
        lock_h = lock_t = np.zeros(3)
        prev_h = prev_t = False
        for t in range(t_all):
            hc, tc = bool(heel_c[t]), bool(toe_c[t])
            flat_t = _horizontal(pts[t], up)

            def hz(k: int, flat_t: np.ndarray = flat_t) -> np.ndarray:
                return flat_t[k]

            if hc and prev_h:
                cur = lock_h - hz(pin_h)
            elif tc and prev_t:
                cur = lock_t - hz(pin_t)
            elif (prev_h or prev_t) and t > 0:
                cur = _horizontal(d[t - 1], up)
            else:
                cur = np.zeros(3)
            if hc and not prev_h:  # a heel contact starts: plant its lowest heel point
                pin_h = int(cand_h[np.argmin(heights[t, cand_h])])
                lock_h = hz(pin_h) + cur
            if tc and not prev_t:  # a toe contact starts: plant its lowest toe point
                pin_t = int(cand_t[np.argmin(heights[t, cand_t])])
                lock_t = hz(pin_t) + cur
            if hc:
                d[t] = lock_h - hz(pin_h) - heights[t].min() * up
            elif tc:
                d[t] = lock_t - hz(pin_t) - heights[t].min() * up
            prev_h, prev_t = hc, tc
        prev, nxt, w = _fade_weights(on_side[s], blend_frames)
        off = ~on_side[s]
        d[off] = w[off, :1] * d[np.maximum(prev[off], 0)] + w[off, 1:] * d[np.maximum(nxt[off], 0)]
        d *= strength
        targets[s] = pose(foot)[:, :3, 3] + d
        n_locked[s] = int(on_side[s].sum())

    # 3. hips down where a leg cannot reach its planted foot
    drop = np.zeros(t_all)
    reach = {}
    for s in targets:
        thigh, shin, foot = (roles[f"{r}_{s}"] for r in ("thigh", "shin", "foot"))
        h0 = rest_of(thigh)[:3, 3]
        k0 = rest_of(shin)[:3, 3]
        a0 = rest_of(foot)[:3, 3]
        reach[s] = 0.998 * (np.linalg.norm(k0 - h0) + np.linalg.norm(a0 - k0))
        r = targets[s] - pose(thigh)[:, :3, 3]
        a = r @ up
        cc = np.sum(r * r, -1) - reach[s] ** 2
        disc = a * a - cc
        need = np.where(cc > 0, np.where(disc >= 0, -a - np.sqrt(np.maximum(disc, 0)), -a), 0.0)
        drop = np.maximum(drop, np.clip(need, 0.0, None))
    hips_head = hips_head - drop[:, None] * up
    pose = pose_fn(want, hips_head)

    # 4. two-bone IK about the knee's hinge axis, then a swing about the hip
    unreachable = 0
    for s, a_star in targets.items():
        thigh, shin, foot = (roles[f"{r}_{s}"] for r in ("thigh", "shin", "foot"))
        hh = pose(thigh)[:, :3, 3]
        kk = pose(shin)[:, :3, 3]
        aa = pose(foot)[:, :3, 3]
        if np.abs(a_star - aa).max() < 1e-9:
            continue
        axis_l = knee_axis_local(want[thigh], want[shin])
        n = np.einsum("tij,j->ti", want[thigh], axis_l)
        u, w_ = aa - kk, hh - kk
        u_par = np.sum(u * n, -1)
        w_par = np.sum(w_ * n, -1)
        u_perp = u - u_par[:, None] * n
        w_perp = w_ - w_par[:, None] * n
        lu, lw = np.linalg.norm(u_perp, axis=-1), np.linalg.norm(w_perp, axis=-1)
        dist = np.linalg.norm(a_star - hh, axis=-1)
        cos_t = (np.sum(u * u, -1) + np.sum(w_ * w_, -1) - 2 * u_par * w_par - dist**2) / (
            2 * np.maximum(lu * lw, 1e-12)
        )
        unreachable += int(np.sum((cos_t < -1 - 1e-6) | (cos_t > 1 + 1e-6)))
        beta_t = np.arccos(np.clip(cos_t, -0.99999, 1.0))
        beta0 = np.arctan2(np.sum(np.cross(w_perp, u_perp) * n, -1), np.sum(w_perp * u_perp, -1))
        bent = np.abs(beta0) < np.deg2rad(175)
        usual = 1.0 if not bent.any() or np.median(np.sign(beta0[bent])) >= 0 else -1.0
        sign = np.where(bent, np.sign(beta0) + (beta0 == 0), usual)  # nearly straight: usual side
        rb = _rot(n, sign * beta_t - beta0)
        a_bent = kk + np.einsum("tij,tj->ti", rb, u)
        sw = _swing(a_bent - hh, a_star - hh)
        moved = np.linalg.norm(a_star - aa, axis=-1) > 1e-9
        want[thigh][moved] = (sw @ want[thigh])[moved]
        want[shin][moved] = (sw @ rb @ want[shin])[moved]
    report = LockReport(n_locked, float(drop.max()) if t_all else 0.0, unreachable)
    return want, hips_head, report


def soles_from_points(
    points: np.ndarray,
    owner: np.ndarray,
    up: np.ndarray,
    forward: np.ndarray,
    rigid: np.ndarray | None = None,
) -> FootSoles:
    """Rest points of one foot (mesh vertices following the foot/toe bones, or points made from
    the bones) -> FootSoles: the lowest tenth of the foot's height range is the sole (candidates
    to plant), split at the sole's middle into heel (rear) and toe (front) halves."""
    points = np.asarray(points, dtype=np.float64)
    if len(points) == 0:
        raise ValueError("a foot without sole points")
    h = points @ up
    span = max(float(h.max() - h.min()), 1e-6)
    pin = h <= h.min() + 0.1 * span + 1e-9
    f = points @ forward
    mid = 0.5 * (f[pin].min() + f[pin].max())
    return FootSoles(
        points,
        np.asarray(owner, dtype=np.int64),
        f < mid,
        pin,
        None if rigid is None else np.asarray(rigid, dtype=bool),
    )
