"""Foot contact: read the capture's contact estimate, or estimate it from the feet's kinematics.

Contacts are probabilities 0..1 for four points, ``heel_r, toe_r, heel_l, toe_l`` (the columns
of ``NAME_contacts.sto`` written by the capture; floor at Y = 0). Without a file, a point is in
contact when it is near its lowest height and moves with the ground: still overground, backward
at the belt speed on a treadmill. The ground's velocity is given (``--treadmill-speed``) or
taken as the median velocity of the lowest foot point, which finds a treadmill by itself.
A file's contacts are checked against the same kinematic estimate (``vet_contacts``: their
geometric mean), so a point the file calls planted while the motion has it in the air or
sliding carries little: on the rendered gait2392 walk captured from three viewpoints this
lowered the per-foot vertical GRF RMSE from 47 to 30 % body weight on the side view (mean of
the three 39 -> 29, benchmarks/grf_benchmark.py). The estimate's phases are widened by
VET_SLACK_S first (and, for video, taken from kinematics low-passed at 6 Hz rather than the
loads' 3 Hz, pipeline.VET_LOWPASS_HZ): low-passed kinematics end a stance early at both ends,
and the capture's contacts, which see the feet in the image, time them better (against the
force plates: heel strike and toe off within 33 ms on the side view; the 3 Hz kinematic
estimate was 30-100 ms late at heel strike and 60-130 ms early at toe off).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from biomech_export.dynamics.wholebody import BodyKinematics, Wrench
from biomech_export.mot import read_mot

__all__ = [
    "POINTS",
    "Contacts",
    "read_contacts",
    "estimate_contacts",
    "ground_velocity",
    "stance_heights",
    "vet_contacts",
]

log = logging.getLogger(__name__)

POINTS = ("heel_r", "toe_r", "heel_l", "toe_l")
FLOOR_REACH_M = 0.25  # a foot point whose usual lowest height is farther from Y=0 never touches
HEIGHT_TOL_M = 0.025  # a contact point lies within this of its stance height ...
SPEED_TOL_M_S = 0.35  # ... and moves with the ground to within this speed
STANCE_SPREAD_M = 0.04  # stance heights of the foot points differ by at most this
MIN_BELT_SPEED_M_S = 0.4  # slower "ground" motion is foot sliding (video), not a treadmill
UNLOADED_BW = 0.05  # total vertical force below this fraction of body weight: flight
# A contacts file's phases may reach this far past the kinematic estimate's: the estimate comes
# from low-passed kinematics (3 Hz for video), whose stance phases lose about this at each end.
VET_SLACK_S = 0.1


@dataclass
class Contacts:
    time_s: np.ndarray  # (T,)
    prob: dict[str, np.ndarray]  # point name -> (T,) probability 0..1
    source: str  # file path or "estimated"

    def foot(self, side: str) -> np.ndarray:
        """(T,) probability that the foot bears load."""
        return np.maximum(self.prob[f"heel_{side}"], self.prob[f"toe_{side}"])


def read_contacts(path: str | Path, time_s: np.ndarray, n_motion_frames: int) -> Contacts:
    """Contacts from a .sto written by the capture, checked against the motion's frames."""
    path = Path(path)
    table = read_mot(path)
    missing = [p for p in POINTS if p not in table.labels]
    if missing:
        raise ValueError(
            f"{path}: contacts file lacks column(s) {missing} (needs time, {', '.join(POINTS)})"
        )
    if len(table.time_s) != n_motion_frames:
        raise ValueError(
            f"{path}: contacts file has {len(table.time_s)} frames, the motion "
            f"{n_motion_frames}: give the contacts written with this motion"
        )
    if abs(table.time_s[0] - time_s[0]) > 1e-3 or abs(table.time_s[-1] - time_s[-1]) > 1e-3:
        raise ValueError(
            f"{path}: contacts span {table.time_s[0]:.3f}-{table.time_s[-1]:.3f} s, the motion "
            f"{time_s[0]:.3f}-{time_s[-1]:.3f} s: give the contacts written with this motion"
        )
    prob = {}
    for p in POINTS:
        v = table.column(p)
        if not np.all(np.isfinite(v)):
            raise ValueError(f"{path}: column {p} has NaN/inf values")
        prob[p] = np.clip(np.interp(time_s, table.time_s, v), 0.0, 1.0)
    return Contacts(np.asarray(time_s), prob, str(path))


def _points(kin: BodyKinematics) -> dict[str, np.ndarray]:
    return {
        "heel_r": kin.heel_m["r"],
        "toe_r": kin.toe_m["r"],
        "heel_l": kin.heel_m["l"],
        "toe_l": kin.toe_m["l"],
    }


def _heading(kin: BodyKinematics) -> np.ndarray:
    """Unit horizontal forward direction: the pelvis X axis averaged over the trial."""
    k = kin.names.index("pelvis") if "pelvis" in kin.names else 0
    fwd = kin.rot[:, k, :, 0].mean(axis=0)
    fwd[1] = 0.0
    n = np.linalg.norm(fwd)
    return fwd / n if n > 1e-6 else np.array([1.0, 0.0, 0.0])


def stance_heights(kin: BodyKinematics, source: str = "motion") -> dict[str, float]:
    """Each foot point's height when it stands on the floor (error if none ever does)."""
    pts = _points(kin)
    low = {p: float(np.percentile(x[:, 1], 5)) for p, x in pts.items()}
    if min(abs(v) for v in low.values()) > FLOOR_REACH_M:
        raise ValueError(
            f"{source}: no foot ever comes within {FLOOR_REACH_M * 100:.0f} cm of the floor "
            f"(Y = 0; lowest foot point at {min(low.values()):.2f} m): GRF estimation needs a "
            "motion standing, walking or running on the floor"
        )
    # a point's stance height is its usual lowest one (heel and toe points sit at different
    # heights above the sole), but never far above the lowest point of all: a foot held up
    # for the whole motion is not standing on anything
    floor = min(low.values())
    return {p: min(v, floor + STANCE_SPREAD_M) for p, v in low.items()}


def ground_velocity(
    kin: BodyKinematics, treadmill_speed_m_s: float | None, source: str = "motion"
) -> np.ndarray:
    """(3,) velocity of the surface the feet stand on: the belt moving backward at the given
    speed, else the median horizontal velocity of the lowest foot point (0 overground)."""
    if treadmill_speed_m_s is not None:
        return -float(treadmill_speed_m_s) * _heading(kin)
    pts = _points(kin)
    low = stance_heights(kin, source)
    h = np.stack([pts[p][:, 1] - low[p] for p in POINTS], axis=1)
    lowest = np.argmin(h, axis=1)
    vel = {p: np.gradient(pts[p], kin.time_s, axis=0) for p in POINTS}
    v = np.stack([vel[POINTS[j]][t] for t, j in enumerate(lowest)])
    v = np.median(v, axis=0)
    v[1] = 0.0
    if np.linalg.norm(v) < MIN_BELT_SPEED_M_S:  # overground: the foot rests on a still floor
        return np.zeros(3)
    log.info("feet stand on a moving surface: %.2f m/s (a treadmill)", np.linalg.norm(v))
    return v


def _sigmoid(x: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-np.clip(x, -50, 50)))


def estimate_contacts(
    kin: BodyKinematics,
    wrench: Wrench,
    ground_vel: np.ndarray,
    source: str = "motion",
    *,
    require: bool = True,
) -> Contacts:
    """Contact probabilities from the foot points' height and their speed over the ground;
    none while the body is unloaded (flight). ``require``: error when no foot is ever on the
    floor."""
    pts = _points(kin)
    low = stance_heights(kin, source)
    weight = kin.total_mass_kg * float(np.linalg.norm(kin.gravity))
    loaded = _sigmoid((wrench.force_n[:, 1] / weight - UNLOADED_BW) / 0.02)
    prob = {}
    for p in POINTS:
        x = pts[p]
        v = np.gradient(x, kin.time_s, axis=0) - ground_vel
        speed = np.linalg.norm(v[:, [0, 2]], axis=1)
        height = x[:, 1] - low[p]
        near = _sigmoid((HEIGHT_TOL_M - height) / (0.25 * HEIGHT_TOL_M))
        still = _sigmoid((SPEED_TOL_M_S - speed) / (0.25 * SPEED_TOL_M_S))
        prob[p] = near * still * loaded
    on_floor = max(float(np.max(np.maximum(prob[f"heel_{s}"], prob[f"toe_{s}"]))) for s in "rl")
    if require and on_floor < 0.5:
        raise ValueError(
            f"{source}: no foot is ever on the floor (near Y = 0 and not sliding): GRF "
            "estimation needs a motion standing, walking or running on the floor"
        )
    return Contacts(kin.time_s, prob, "estimated")


def vet_contacts(given: Contacts, kinematic: Contacts) -> Contacts:
    """A contacts file checked against the motion itself: per point the geometric mean of the
    file's probability and the kinematic estimate's, that widened by VET_SLACK_S at each end
    (both must agree for a firm contact; a point the motion has off the floor for longer than
    the slack carries nothing). Where the kinematics never put a foot on the floor (feet
    sliding all along), the file is kept as it is."""
    if max(float(kinematic.foot(s).max()) for s in "rl") < 0.5:
        log.warning(
            "%s: the motion never has a foot still on the floor; contacts as given", given.source
        )
        return given
    n = (
        max(0, int(round(VET_SLACK_S / float(np.mean(np.diff(given.time_s))))))
        if len(given.time_s) > 1
        else 0
    )
    prob = {p: np.sqrt(given.prob[p] * _widen(kinematic.prob[p], n)) for p in POINTS}
    return Contacts(given.time_s, prob, given.source)


def _widen(x: np.ndarray, n: int) -> np.ndarray:
    """Running maximum over 2n+1 samples (a contact phase lengthened by n at each end)."""
    if n < 1:
        return x
    from scipy.ndimage import maximum_filter1d

    return maximum_filter1d(x, 2 * n + 1, mode="nearest")
