"""SKEL <-> BSM-46 conversion, both ways, and what SKEL's zero pose looks like on our skeleton."""

from __future__ import annotations

import numpy as np
import pytest

from core import fk_numpy
from core import skeleton as sk
from core.skel_convert import bsm_to_skel, skel_to_bsm


def test_round_trip_both_ways() -> None:
    rng = np.random.default_rng(0)
    lo, hi = sk.limits_rad()
    lo = np.where(np.isfinite(lo), lo, -np.pi)
    hi = np.where(np.isfinite(hi), hi, np.pi)
    q_bsm = rng.uniform(lo, hi, size=(200, 46))
    back = skel_to_bsm(bsm_to_skel(q_bsm))
    assert back.n_clamped == 0
    np.testing.assert_allclose(back.q_rad, q_bsm, atol=1e-12)
    q_skel = bsm_to_skel(q_bsm)
    np.testing.assert_allclose(bsm_to_skel(skel_to_bsm(q_skel).q_rad), q_skel, atol=1e-12)


def test_skel_zero_is_a_t_pose_with_palms_down() -> None:
    q = skel_to_bsm(np.zeros(46)).q_rad
    rot, org = fk_numpy.forward_kinematics(q, np.zeros(3), sk.default_offsets())
    for side, lateral in (("r", 1.0), ("l", -1.0)):
        arm = org[sk.BODY[f"hand_{side}"]] - org[sk.BODY[f"humerus_{side}"]]
        arm /= np.linalg.norm(arm)
        assert arm[2] * lateral > 0.97, arm  # horizontal, pointing away from the body
        palm_normal = rot[sk.BODY[f"hand_{side}"]] @ np.array([1.0, 0.0, 0.0])  # forward at q=0
        assert palm_normal[1] < -0.9, palm_normal  # facing down


def test_out_of_range_skel_values_are_clamped_and_counted() -> None:
    q = np.zeros((3, 46))
    q[1, sk.DOF["knee_angle_r"]] = np.deg2rad(170)
    out = skel_to_bsm(q)
    assert out.n_clamped == 1 and out.clamped_dofs == ("knee_angle_r",)
    assert sk.limit_violations(out.q_rad) == 0


def test_bad_input() -> None:
    with pytest.raises(ValueError, match="46"):
        skel_to_bsm(np.zeros((4, 10)))
    with pytest.raises(ValueError, match="NaN"):
        bsm_to_skel(np.full(46, np.nan))


def _pin_axis(orientation_xyz: tuple[float, float, float]) -> np.ndarray:
    """Rotation axis of an OpenSim PinJoint: the Z axis of its joint frame, whose orientation is
    body-fixed X-Y-Z Euler angles."""
    from scipy.spatial.transform import Rotation

    return Rotation.from_euler("XYZ", orientation_xyz).as_matrix()[:, 2]


def test_foot_hinges_are_skels_rajagopal_pin_joints() -> None:
    """SKEL builds talus, calcn and toes (right side) as pin joints with Rajagopal2016's joint-frame
    orientations (public numbers, SKEL's skel_model.py); our axes must be the same ones with the
    same sign, so SKEL's foot angles map onto ours unchanged."""
    frames = {
        "ankle_angle_r": (0.175895, -0.105208, 0.0186622),
        "subtalar_angle_r": (-1.76818999, 0.906223, 1.8196000),
        "mtp_angle_r": (-3.141589999, 0.6199010, 0.0),
    }
    for name, ori in frames.items():
        ours = np.array(sk.DOFS[sk.DOF[name]].axis)
        cos = float(ours @ _pin_axis(ori))
        assert cos > np.cos(np.radians(0.5)), (name, np.degrees(np.arccos(cos)))
    # and the conversion leaves those angles alone, both ways
    q = np.zeros(sk.N_DOFS)
    for name in frames:
        q[sk.DOF[name]] = 0.3
    idx = [sk.DOF[n] for n in frames]
    np.testing.assert_allclose(skel_to_bsm(q).q_rad[idx], 0.3)
    np.testing.assert_allclose(bsm_to_skel(q)[idx], 0.3)
