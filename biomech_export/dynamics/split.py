"""Split the whole-body external wrench between the two feet.

Single support: the foot in contact carries all of it. Double support: the vertical share
follows the centre of pressure of the total wrench (the point on the floor where its horizontal
moment vanishes) along the line between the two feet's roll-over points (the trailing foot near
its toe, the leading one near its heel), i.e. the lever rule; the soft contact probabilities
blend single and double support, so the load passes smoothly from the trailing to the leading
foot (the smooth transition assumption of Ren et al. 2008, J Biomech 41:2750, and Karatsidis
et al. 2017, Sensors 17:75, here driven by the whole-body dynamics instead of a fixed curve).
That is the default for contacts estimated from the kinematics (marker mocap: their centre of
pressure is good). With a contacts file (a capture's decided phases) the double support follows
the fixed curve instead (``double_support="transition"``): the trailing foot's share falls from
1 to 0 over each double support as a cubic smooth step, and a foot the file calls off the floor
carries nothing. The double support's ends are placed between frames, where the landing and the
leaving foot's probabilities cross 0.5 (linear interpolation; a 30 fps double support lasts 4-6
frames, so whole frames misplace it by up to a tenth): rendered gait2392 walk, 3 views, vertical
RMSE per foot 16.7/13.8, 6.1/7.0, 11.8/10.6 -> 16.0/12.9, 5.9/5.5, 11.7/10.8 % BW (captures of
7de430c); at f6f6554 (flip-averaged, calibrated lifter; benchmark, the 150 deg view's contacts
also changed by core.contacts' clip-edge fix) 13.3/10.9, 10.3/6.5, 13.0/11.9 -> 13.6/11.1,
8.7/5.1, 14.0/11.3: a smaller gain on average (mean of the six 11.0 -> 10.6), the 30 deg view
a little worse. From video the total centre of pressure is noise (its horizontal moment comes
from depth); the rendered gait2392 walk, 3 views, vertical RMSE per foot, lever -> transition
(both with the capture's contacts, vetted as in contacts.vet_contacts): mean 31.5 -> 14.9 % BW;
the marker walk with the plates' own phases as the file, 3 Hz: 8.1/8.2 -> 4.2/2.8 (with the
kinematic contacts the lever gives 3.5/3.4 and the transition 8.6/9.2, hence the default).
Anterior-posterior force: the whole-body total from the kinematics is exact for the low-passed
motion but loses the sharp push-off and braking peaks that the low-pass removes. Each foot's
force is taken to point from its centre of pressure at a virtual pivot point (VPP) over the
body's centre of mass, which needs positions only, not accelerations (in walking the ground
reaction forces cross above the centre of mass, in running below it: Wagner, Schmitz &
Bostroem 2024, Front Bioeng Biotechnol 12:1286644, who show that this improves GRF prediction;
Drama et al. 2022, J Exp Biol 225:jeb243080 for running). The VPP sits VPP_WALK_M above the
centre of mass, or VPP_RUN_M below it when the motion has flight phases. The two estimates are
combined as a complementary filter: the kinematic total below PENDULUM_ABOVE_HZ, the pendulum's
per-foot forces above it (the low-frequency difference shared by vertical share).

Measured with benchmarks/grf_benchmark.py, per foot AP RMSE in % body weight, kinematic only
-> pendulum: gait2392 treadmill walk 1.9/1.7 -> 1.1/1.4 (pivot at the centre of mass:
1.4/1.5), its hip flexion moment r 0.85/0.85 -> 0.93/0.90 against ID with the raw plates;
its rendered video (30 deg view, captured) 34/31 -> 13/11; the Rajagopal run 4.5/4.0 ->
4.6/4.0 (pivot at the centre of mass: 5.0/4.5). The two VPP heights are round values chosen
on these two trials (walk: +0.15..+0.3 m all better than 0; run: -0.1..-0.3 m alike).

The medio-lateral force and the free moment are shared by vertical share, except where the
medio-lateral total is known to be noise: from video its axis is largely the camera's depth,
and ``ml_pendulum_above_hz`` (what `capture --dynamics` passes) puts the same complementary
filter on it. Per foot ML RMSE % BW, kinematic -> pendulum above 1 Hz: rendered walk video,
3 views, mean 12.8 -> 5.2; gait2392 walk (marker mocap) 1.0/1.7 -> 2.3/1.9 (pivot at the
centre of mass), which is why it stays off by default.

Each foot's centre of pressure rolls along its heel-toe line over the stance (heel strike at
the heel, push-off near the toe); in single support it is averaged with the total centre of
pressure kept on the foot. A foot the contacts miss but that is at floor level still takes the
load when the other is in the air (landings in running); the floor only pushes, and friction
bounds the horizontal force.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from biomech_export.dynamics.contacts import UNLOADED_BW, Contacts, stance_heights
from biomech_export.dynamics.wholebody import BodyKinematics, Wrench, lowpass

__all__ = [
    "PENDULUM_ABOVE_HZ",
    "VIDEO_ML_PENDULUM_HZ",
    "VERTICAL_STEP_RATES",
    "FootLoads",
    "has_flight",
    "smooth_vertical",
    "split_wrench",
    "total_cop",
]

FOOT_HALF_WIDTH_M = 0.045  # the centre of pressure stays this close to the heel-toe line
FLOOR_Y_M = 0.0
ROLL_END = 0.92  # stance ends with the CoP this far from the heel to the toe tip
ROLL_FOREFOOT = 0.7  # where it starts when the toe lands first
NEAR_WEIGHT = 0.02  # contact weight of a foot at its stance height that no contact claims
NEAR_SCALE_M = 0.04  # ... falling off (Gaussian) with its height above that
MU = 1.0  # friction coefficient bounding the horizontal force
VPP_WALK_M = 0.2  # virtual pivot point above the centre of mass (walking, no flight)
VPP_RUN_M = -0.2  # ... below it when the motion has flight phases (running, hopping)
FLIGHT_FRACTION = 0.02  # a motion with more frames than this unloaded has flight phases
PENDULUM_ABOVE_HZ = 2.0  # AP force: kinematic total below, inverted pendulum above (<= 0: off)
VIDEO_ML_PENDULUM_HZ = 1.0  # the same for the ML force of motions from video (default: off)
VERTICAL_STEP_RATES = 1.5  # smooth_vertical's cut-off in multiples of the step rate
EDGE_S = 0.3  # smooth_vertical: the clip's first and last this long borrow from a stride away
# ... when this fraction of their frames has the same contacts there: a steady walk whose
# hand-overs jitter by a frame or two gets 0.67-1.0 over 0.3 s at 30 fps (the rendered walk's
# six ends), a clip that starts standing about 1/3 (only its double-support frames agree)
EDGE_AGREE = 0.6


@dataclass
class FootLoads:
    time_s: np.ndarray  # (T,)
    force_n: dict[str, np.ndarray]  # side "r"/"l" -> (T, 3) ground on foot, ground frame
    cop_m: dict[str, np.ndarray]  # side -> (T, 3) centre of pressure on the floor
    torque_nm: dict[str, np.ndarray]  # side -> (T, 3) free moment (vertical only)
    share: dict[str, np.ndarray]  # side -> (T,) fraction of the vertical force


def total_cop(w: Wrench, weight_n: float) -> np.ndarray:
    """(T, 3) point on the floor (Y = 0) where the total wrench has no horizontal moment."""
    fy = np.maximum(w.force_n[:, 1], 0.02 * weight_n)
    h = FLOOR_Y_M
    x = (w.moment_o_nm[:, 2] + h * w.force_n[:, 0]) / fy
    z = (h * w.force_n[:, 2] - w.moment_o_nm[:, 0]) / fy
    return np.stack([x, np.full_like(x, h), z], axis=1)


def has_flight(w: Wrench, contacts: Contacts, weight_n: float) -> bool:
    """The motion has flight phases (running, hopping): more than FLIGHT_FRACTION of its frames
    unloaded by the dynamics or with neither foot down by the contacts."""
    unloaded = w.force_n[:, 1] < UNLOADED_BW * weight_n
    airborne = np.maximum(contacts.foot("r"), contacts.foot("l")) < 0.5
    return max(float(np.mean(unloaded)), float(np.mean(airborne))) > FLIGHT_FRACTION


def step_rate_hz(contacts: Contacts) -> float | None:
    """Steps per second: the inverse of the median time between consecutive foot strikes (either
    foot; a strike is a foot's contact probability rising through 0.5). None with fewer than
    three strikes."""
    t = contacts.time_s
    strikes = np.sort(
        np.concatenate(
            [t[1:][np.diff((contacts.foot(s) > 0.5).astype(np.int8)) > 0] for s in "rl"]
        )
    )
    if len(strikes) < 3:
        return None
    gap = float(np.median(np.diff(strikes)))
    return 1.0 / gap if gap > 0 else None


def smooth_vertical(w: Wrench, contacts: Contacts, weight_n: float) -> Wrench:
    """The whole-body vertical force of a walk (no flight) low-passed at VERTICAL_STEP_RATES
    times its step rate; the wrench as it is for motions with flight, or too few steps.

    Why, for video kinematics: the total vertical force is body weight plus mass times the
    second derivative of the centre of mass height, which from one camera carries the depth
    and root-height noise of every frame; in walking the force itself (the plates) is a
    double hump per step whose energy lies at the step rate and its first harmonics, so a
    cut-off tied to the step rate keeps the hand-over peaks and the mid-stance valley and drops
    the rest. The feet's shares (the contact phases) are not smoothed. Rendered gait2392 walk
    captured at df60700, 3 views, vertical RMSE per foot (% BW) 13.6/11.1, 8.7/5.1,
    14.0/11.3 -> 12.3/11.1, 8.2/4.9, 13.0/10.5, total 12.1, 9.3, 10.0 -> 10.1, 8.8, 7.9
    (1.25 step rates: 12.1/11.3, 8.3/5.2, 13.2/10.5; a fixed 2.5 Hz the same as 1.5). The
    clip's ends then follow the stride before or after them (_stride_edges)."""
    rate = step_rate_hz(contacts)
    if rate is None or has_flight(w, contacts, weight_n):
        return w
    fs = 1.0 / float(np.mean(np.diff(w.time_s)))
    f = w.force_n.copy()
    f[:, 1] = _stride_edges(lowpass(f[:, 1], fs, VERTICAL_STEP_RATES * rate), contacts, rate)
    return Wrench(w.time_s, f, w.moment_o_nm)


def _stride_edges(fy: np.ndarray, contacts: Contacts, rate_hz: float) -> np.ndarray:
    """The vertical force's first and last EDGE_S blended (linearly, all of it at the clip's
    end) with the force one stride (two steps) inside the clip, each end only where both feet's
    decided contact states a stride away are the same in EDGE_AGREE of its frames (the same
    phases of a steady gait).

    Why: the coordinates are low-passed with odd reflection at the clip's ends, which leaves the
    centre of mass no acceleration there, so the force flattens to body weight over the
    filter's reach (the hand-over peaks and mid-stance valleys of the first and last steps are
    lost); steady walking repeats itself every stride. Rendered gait2392 walk (captures at
    df60700), vertical RMSE per foot 12.3/11.1, 8.2/4.9, 13.0/10.5 -> 11.8/11.0, 7.4/5.0,
    13.0/10.3 % BW, total 10.1/8.8/7.9 -> 8.7/7.3/8.0 (EDGE_S 0.2 s and 0.45 s alike)."""
    t = contacts.time_s
    stride = 2.0 / rate_hz
    if t[-1] - t[0] < stride + EDGE_S:
        return fy
    on = np.stack([contacts.foot(s) > 0.5 for s in "rl"], axis=1)
    out = fy.copy()
    for dist, shift in ((t - t[0], stride), (t[-1] - t, -stride)):
        edge = np.flatnonzero(dist < EDGE_S)
        away = np.argmin(np.abs(t[None, :] - (t[edge] + shift)[:, None]), axis=1)
        if np.mean(np.all(on[edge] == on[away], axis=1)) < EDGE_AGREE:
            continue  # not the same gait a stride away (starting, stopping, turning)
        w = 1.0 - dist[edge] / EDGE_S
        out[edge] = (1.0 - w) * fy[edge] + w * np.interp(t[edge] + shift, t, fy)
    return out


def _onto_foot(p: np.ndarray, heel: np.ndarray, toe: np.ndarray) -> np.ndarray:
    """Nearest point to p (floor plane) within FOOT_HALF_WIDTH_M of the heel-toe segment."""
    a, b = heel.copy(), toe.copy()
    a[:, 1] = b[:, 1] = FLOOR_Y_M
    d = b - a
    s = np.clip(
        np.einsum("ti,ti->t", p - a, d) / np.maximum(np.einsum("ti,ti->t", d, d), 1e-9), 0.0, 1.0
    )
    base = a + s[:, None] * d
    off = p - base
    off[:, 1] = 0.0
    n = np.linalg.norm(off, axis=1, keepdims=True)
    off *= np.minimum(1.0, FOOT_HALF_WIDTH_M / np.maximum(n, 1e-9))
    return base + off


def _rollover(kin: BodyKinematics, contacts: Contacts, side: str, fallback: np.ndarray):
    """(T, 3) centre of pressure rolling along the heel-toe line during each stance: from the
    heel (or, when the toe lands first, the forefoot) to ROLL_END of the way to the toe tip,
    fast at first and slower over the forefoot (s ~ sqrt of the stance fraction, the shape of
    measured walking CoP paths). A stance cut by the trial's start or end is taken to last as
    long as the others (median); with no whole stance at all it keeps ``fallback``."""
    on = contacts.foot(side) > 0.5
    heel, toe = kin.heel_m[side], kin.toe_m[side]
    out = fallback.copy()
    edges = np.flatnonzero(np.diff(np.r_[0, on.astype(int), 0]))
    spans = list(zip(edges[::2], edges[1::2], strict=True))
    whole = [j - i for i, j in spans if i > 0 and j < len(on)]
    if not whole:
        out[:, 1] = FLOOR_Y_M
        return out
    typical = float(np.median(whole))
    for i, j in spans:
        if i == 0 and j == len(on):
            continue  # standing throughout: no roll-over
        idx = np.arange(i, j) + 0.5
        if i == 0:
            tau = (idx - (j - max(typical, j - i))) / max(typical, j - i)
        elif j == len(on):
            tau = (idx - i) / max(typical, j - i)
        else:
            tau = (idx - i) / (j - i)
        tau = np.clip(tau, 0.0, 1.0)
        heel_first = contacts.prob[f"heel_{side}"][i] >= contacts.prob[f"toe_{side}"][i]
        s0 = 0.0 if heel_first else ROLL_FOREFOOT
        sv = s0 + (ROLL_END - s0) * np.sqrt(tau)
        out[i:j] = heel[i:j] + sv[:, None] * (toe[i:j] - heel[i:j])
    out[:, 1] = FLOOR_Y_M
    return out


def _horizontal(
    time_s: np.ndarray,
    total: np.ndarray,
    vertical: np.ndarray,
    share: dict[str, np.ndarray],
    lever_m: dict[str, np.ndarray],
    com_height_m: np.ndarray,
    pendulum_above_hz: float,
) -> dict[str, np.ndarray]:
    """(T,) horizontal force per foot along one axis: the pendulum's (vertical force times the
    foot's centre of pressure to pivot lever over the pivot's height) above
    ``pendulum_above_hz``, the kinematic ``total`` below it; off (<= 0): the total shared by
    the pendulum's proportions (for AP: the leading foot brakes, the trailing one pushes)."""
    pend = {s: share[s] * vertical * lever_m[s] / com_height_m for s in "rl"}
    pend_total = pend["r"] + pend["l"]
    if pendulum_above_hz <= 0:
        rest = total - pend_total
        return {s: pend[s] + share[s] * rest for s in "rl"}
    fs = 1.0 / float(np.mean(np.diff(time_s)))
    slow = lowpass(total, fs, pendulum_above_hz) - lowpass(pend_total, fs, pendulum_above_hz)
    return {s: pend[s] + share[s] * slow for s in "rl"}


def _transition(tau: np.ndarray) -> np.ndarray:
    """The trailing foot's share of the vertical force at fraction ``tau`` (0..1) of a double
    support: 1 at the leading foot's strike, 0 at its own toe off, a cubic smooth step between
    (zero slope at both ends, so the force passes from foot to foot without a kink)."""
    tau = np.clip(tau, 0.0, 1.0)
    return 1.0 - tau**2 * (3.0 - 2.0 * tau)


def _crossing(p: np.ndarray, i: int) -> float:
    """Where (in frames) ``p`` crosses 0.5 between frames i - 1 and i, linearly interpolated
    (i - 0.5 when it cannot be placed: an end of the clip, or no crossing)."""
    if i < 1 or i >= len(p):
        return i - 0.5
    a, b = float(p[i - 1]), float(p[i])
    if (a - 0.5) * (b - 0.5) > 0 or a == b:
        return i - 0.5
    return i - 1 + float(np.clip((0.5 - a) / (b - a), 0.0, 1.0))


def _decided_share(
    on_r: np.ndarray,
    on_l: np.ndarray,
    soft_r: np.ndarray,
    p_r: np.ndarray | None = None,
    p_l: np.ndarray | None = None,
) -> np.ndarray:
    """(T,) right foot's share of the vertical force from the decided contact phases: all of it
    in the right's single support, none in the left's, the smooth transition across each double
    support (the trailing foot is the one that leaves the floor when it ends; at the trial's end,
    the one that was down before it began); ``soft_r`` where neither foot is decided down."""
    n = len(on_r)
    share = np.where(on_r, 1.0, np.where(on_l, 0.0, soft_r))
    both = on_r & on_l
    edges = np.flatnonzero(np.diff(np.r_[0, both.astype(np.int8), 0]))
    for a, b in zip(edges[::2], edges[1::2], strict=True):
        r_after = b < n and on_r[b]
        l_after = b < n and on_l[b]
        if r_after != l_after:
            trailing_r = l_after
        elif a > 0 and on_r[a - 1] != on_l[a - 1]:
            trailing_r = bool(on_r[a - 1])
        else:  # both down throughout (standing): the dynamics' lever rule
            share[a:b] = soft_r[a:b]
            continue
        start, end = a - 0.5, b - 0.5  # the double support's first and last event
        if p_r is not None and p_l is not None:
            # between frames: where the landing foot's probability rose through 0.5 and the
            # leaving foot's fell through it
            if a > 0 and on_r[a - 1] != on_l[a - 1]:
                start = _crossing(p_l if on_r[a - 1] else p_r, a)
            if b < n and on_r[b] != on_l[b]:
                end = _crossing(p_l if on_r[b] else p_r, b)
        trail = _transition((np.arange(a, b) - start) / max(end - start, 1e-6))
        share[a:b] = trail if trailing_r else 1.0 - trail
    return share


def split_wrench(
    kin: BodyKinematics,
    w: Wrench,
    contacts: Contacts,
    pendulum_above_hz: float = PENDULUM_ABOVE_HZ,
    ml_pendulum_above_hz: float = 0.0,
    double_support: str | None = None,
) -> FootLoads:
    """``double_support``: how the vertical force is shared while both feet are down: "lever"
    (the total centre of pressure between the feet), "transition" (the smooth transition over
    the decided contact phases) or None: "transition" for contacts given as a file (a capture's
    decided phases), "lever" for contacts estimated here from the kinematics."""
    if double_support is None:
        double_support = "lever" if contacts.source == "estimated" else "transition"
    weight = kin.total_mass_kg * float(np.linalg.norm(kin.gravity))
    p_total = total_cop(w, weight)
    prior = {}
    for s in "rl":
        ph, pt = contacts.prob[f"heel_{s}"], contacts.prob[f"toe_{s}"]
        q = (ph[:, None] * kin.heel_m[s] + pt[:, None] * kin.toe_m[s]) / (ph + pt + 1e-9)[:, None]
        q[:, 1] = FLOOR_Y_M
        prior[s] = q
    roll = {s: _rollover(kin, contacts, s, prior[s]) for s in "rl"}
    # vertical share: lever rule on the total centre of pressure between the feet's
    # roll-over points (trailing foot near its toe, leading foot near its heel)
    d = roll["r"] - roll["l"]
    d[:, 1] = 0.0
    lever = np.einsum("ti,ti->t", p_total - roll["l"], d) / np.maximum(
        np.einsum("ti,ti->t", d, d), 1e-6
    )
    lever = np.clip(lever, 0.0, 1.0)
    # a foot near the floor counts a little even where the contact estimate misses it (the
    # landing of a run, blurred by the low-pass): then whichever foot is lower takes the load
    low = stance_heights(kin)
    near = {}
    for s in "rl":
        clearance = np.minimum(
            kin.heel_m[s][:, 1] - low[f"heel_{s}"], kin.toe_m[s][:, 1] - low[f"toe_{s}"]
        )
        near[s] = NEAR_WEIGHT * np.exp(-((np.maximum(clearance, 0.0) / NEAR_SCALE_M) ** 2))
    pr = np.maximum(contacts.foot("r"), near["r"])
    pl = np.maximum(contacts.foot("l"), near["l"])
    num_r = pr * (1 - pl) + pr * pl * lever
    num_l = pl * (1 - pr) + pr * pl * (1 - lever)
    den = num_r + num_l
    share_r = np.where(den > 1e-9, num_r / np.maximum(den, 1e-9), 0.0)
    if double_support == "transition":
        fr, fl = contacts.foot("r"), contacts.foot("l")
        share_r = _decided_share(fr > 0.5, fl > 0.5, share_r, fr, fl)
    elif double_support != "lever":
        raise ValueError(f"double_support must be 'transition' or 'lever', got {double_support!r}")
    share = {"r": share_r, "l": np.where(den > 1e-9, 1.0 - share_r, 0.0)}
    # no foot on or near the floor (flight): no force; the floor only pushes (vertical >= 0)
    # and friction bounds the horizontal force (|F_h| <= MU * F_y)
    loaded = np.clip(np.maximum(pr, pl) / (0.25 * NEAR_WEIGHT), 0.0, 1.0)
    f_total = w.force_n * loaded[:, None]
    f_total[:, 1] = np.maximum(f_total[:, 1], 0.0)
    h = np.linalg.norm(f_total[:, [0, 2]], axis=1)
    f_total[:, [0, 2]] *= np.minimum(1.0, MU * f_total[:, 1] / np.maximum(h, 1e-9))[:, None]
    # forward: the pelvis's heading in each frame, so turns are followed
    k = kin.names.index("pelvis") if "pelvis" in kin.names else 0
    fwd = kin.rot[:, k, :, 0].copy()
    fwd[:, 1] = 0.0
    fwd /= np.maximum(np.linalg.norm(fwd, axis=1, keepdims=True), 1e-9)
    com = kin.com_total_m

    def along(v: np.ndarray) -> np.ndarray:
        return np.einsum("ti,ti->t", v, fwd)

    cop = {}
    for s in "rl":
        # centre of pressure: the roll-over path, in single support averaged with the total
        # centre of pressure (kept on the foot)
        other = contacts.foot("l" if s == "r" else "r")
        single = 0.5 * (_onto_foot(p_total, kin.heel_m[s], kin.toe_m[s]) + roll[s])
        cop[s] = (1 - other)[:, None] * single + other[:, None] * roll[s]
        cop[s][:, 1] = FLOOR_Y_M
    # the pendulum's lever: from the centre of pressure (off: from the contact point, as before)
    # to the virtual pivot point over the centre of mass
    base = cop if pendulum_above_hz > 0 else prior
    height = np.maximum(com[:, 1] - FLOOR_Y_M, 0.3)
    if pendulum_above_hz > 0:
        flight = float(np.mean(w.force_n[:, 1] < UNLOADED_BW * weight)) > FLIGHT_FRACTION
        height = np.maximum(height + (VPP_RUN_M if flight else VPP_WALK_M), 0.3)
    ap = _horizontal(
        kin.time_s, along(f_total), f_total[:, 1], share, {s: along(com - base[s]) for s in "rl"},
        height, pendulum_above_hz,
    )  # fmt: skip
    force, torque = {}, {}
    for s in "rl":
        f = share[s][:, None] * f_total
        f += (ap[s] - along(f))[:, None] * fwd
        force[s] = f
    if ml_pendulum_above_hz > 0:
        lat = np.cross(fwd, np.array([0.0, 1.0, 0.0]))  # unit, horizontal, to the right

        def across(v: np.ndarray) -> np.ndarray:
            return np.einsum("ti,ti->t", v, lat)

        ml = _horizontal(
            kin.time_s, across(f_total), f_total[:, 1], share,
            {s: across(com - cop[s]) for s in "rl"}, height, ml_pendulum_above_hz,
        )  # fmt: skip
        for s in "rl":
            force[s] += (ml[s] - across(force[s]))[:, None] * lat
    # free moment: what the feet's forces leave of the total vertical moment
    m_feet = sum(np.cross(cop[s], force[s]) for s in "rl")
    resid_y = w.moment_o_nm[:, 1] * loaded - m_feet[:, 1]
    for s in "rl":
        t = np.zeros_like(force[s])
        t[:, 1] = share[s] * resid_y
        torque[s] = t
    return FootLoads(w.time_s, force, cop, torque, share)
