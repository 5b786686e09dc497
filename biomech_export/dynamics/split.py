"""Split the whole-body external wrench between the two feet.

Single support: the foot in contact carries all of it. Double support: the vertical share
follows the centre of pressure of the total wrench (the point on the floor where its horizontal
moment vanishes) along the line between the two feet's contact points, i.e. the lever rule;
the soft contact probabilities blend single and double support, so the transfer from the
trailing to the leading foot is smooth (the smooth transition assumption of Ren et al. 2008,
J Biomech 41:2750, here driven by the measured dynamics instead of a fixed curve). Each foot's
anterior-posterior force points from its contact point towards the body's centre of mass (the
leading foot brakes while the trailing one pushes off); what this leaves of the total is shared
in proportion to the vertical share, as are the medio-lateral force and the free moment.

Each foot's centre of pressure lies on its heel-toe line: where the contact probabilities put
it (heel strike at the heel, push-off at the toe), and in single support at the total centre
of pressure, kept inside the foot.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from biomech_export.dynamics.contacts import Contacts
from biomech_export.dynamics.wholebody import BodyKinematics, Wrench

__all__ = ["FootLoads", "split_wrench", "total_cop"]

FOOT_HALF_WIDTH_M = 0.045  # the centre of pressure stays this close to the heel-toe line
FLOOR_Y_M = 0.0


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


def split_wrench(kin: BodyKinematics, w: Wrench, contacts: Contacts) -> FootLoads:
    weight = kin.total_mass_kg * float(np.linalg.norm(kin.gravity))
    p_total = total_cop(w, weight)
    prior = {}
    for s in "rl":
        ph, pt = contacts.prob[f"heel_{s}"], contacts.prob[f"toe_{s}"]
        q = (ph[:, None] * kin.heel_m[s] + pt[:, None] * kin.toe_m[s]) / (ph + pt + 1e-9)[:, None]
        q[:, 1] = FLOOR_Y_M
        prior[s] = q
    # vertical share: lever rule on the total centre of pressure between the feet
    d = prior["r"] - prior["l"]
    d[:, 1] = 0.0
    lever = np.einsum("ti,ti->t", p_total - prior["l"], d) / np.maximum(
        np.einsum("ti,ti->t", d, d), 1e-6
    )
    lever = np.clip(lever, 0.0, 1.0)
    pr, pl = contacts.foot("r"), contacts.foot("l")
    num_r = pr * (1 - pl) + pr * pl * lever
    num_l = pl * (1 - pr) + pr * pl * (1 - lever)
    den = num_r + num_l
    share = {
        "r": np.where(den > 1e-9, num_r / np.maximum(den, 1e-9), 0.0),
        "l": np.where(den > 1e-9, num_l / np.maximum(den, 1e-9), 0.0),
    }
    # unloaded (flight, or no contact at all): no force on either foot
    loaded = np.clip(2.0 * np.maximum(pr, pl), 0.0, 1.0)
    f_total = w.force_n * loaded[:, None]
    # anterior-posterior: towards the centre of mass; medio-lateral: by vertical share
    k = kin.names.index("pelvis") if "pelvis" in kin.names else 0
    fwd = kin.rot[:, k, :, 0].mean(axis=0)
    fwd[1] = 0.0
    fwd /= max(float(np.linalg.norm(fwd)), 1e-9)
    com = kin.com_total_m
    ap_total = f_total @ fwd
    ap = {}
    for s in "rl":
        lean = ((com - prior[s]) @ fwd) / np.maximum(com[:, 1] - FLOOR_Y_M, 0.3)
        ap[s] = share[s] * f_total[:, 1] * lean
    rest = ap_total - ap["r"] - ap["l"]
    force, cop, torque = {}, {}, {}
    for s in "rl":
        f = share[s][:, None] * f_total
        f += ((ap[s] + share[s] * rest) - f @ fwd)[:, None] * fwd[None, :]
        force[s] = f
        # centre of pressure: the total one in single support, the contact prior in double
        other = contacts.foot("l" if s == "r" else "r")
        single = _onto_foot(p_total, kin.heel_m[s], kin.toe_m[s])
        cop[s] = (1 - other)[:, None] * single + other[:, None] * prior[s]
        cop[s][:, 1] = FLOOR_Y_M
    # free moment: what the feet's forces leave of the total vertical moment
    m_feet = sum(np.cross(cop[s], force[s]) for s in "rl")
    resid_y = w.moment_o_nm[:, 1] * loaded - m_feet[:, 1]
    for s in "rl":
        t = np.zeros_like(force[s])
        t[:, 1] = share[s] * resid_y
        torque[s] = t
    return FootLoads(w.time_s, force, cop, torque, share)
