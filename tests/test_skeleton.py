"""The BSM-46 table: structure, limits and their recorded changes, mirror symmetry, input checks."""

from __future__ import annotations

import numpy as np
import pytest

from core import skeleton as sk

SKEL_DOF_ORDER = (
    "pelvis_tilt pelvis_list pelvis_rotation "
    "hip_flexion_r hip_adduction_r hip_rotation_r knee_angle_r ankle_angle_r subtalar_angle_r mtp_angle_r "
    "hip_flexion_l hip_adduction_l hip_rotation_l knee_angle_l ankle_angle_l subtalar_angle_l mtp_angle_l "
    "lumbar_bending lumbar_extension lumbar_twist thorax_bending thorax_extension thorax_twist "
    "head_bending head_extension head_twist "
    "scapula_abduction_r scapula_elevation_r scapula_upward_rot_r shoulder_r_x shoulder_r_y shoulder_r_z "
    "elbow_flexion_r pro_sup_r wrist_flexion_r wrist_deviation_r "
    "scapula_abduction_l scapula_elevation_l scapula_upward_rot_l shoulder_l_x shoulder_l_y shoulder_l_z "
    "elbow_flexion_l pro_sup_l wrist_flexion_l wrist_deviation_l"
).split()

# DESIGN.md's starting ranges (deg); every difference must be recorded in LIMIT_CHANGES.
DESIGN_RANGES = {
    "knee_angle": (0, 135),
    "elbow_flexion": (0, 135),
    "ankle_angle": (-45, 45),
    "subtalar_angle": (-45, 45),
    "mtp_angle": (-45, 45),
    "hip_flexion": (-45, 135),
    "hip_adduction": (-45, 30),
    "hip_rotation": (-45, 45),
    "lumbar_bending": (-30, 30),
    "lumbar_extension": (-45, 45),
    "lumbar_twist": (-45, 45),
    "thorax_": (-45, 45),
    "head_": (-45, 45),
    "shoulder_r_x": (-90, 176),
    "shoulder_l_x": (-90, 176),
    "shoulder_r_y": (-90, 90),
    "shoulder_r_z": (-90, 90),
    "shoulder_l_y": (-90, 90),
    "shoulder_l_z": (-90, 90),
    "scapula_elevation": (-29, 40),
    "scapula_upward_rot": (-30, 60),
    "pro_sup_r": (-68, 68),
    "pro_sup_l": (-90, 90),
    "wrist_flexion": (-90, 90),
    "wrist_deviation": (-57, 45),
}


def _design_range(name: str) -> tuple[float, float]:
    for key, rng in DESIGN_RANGES.items():
        if name.startswith(key):
            return rng
    return (-np.inf, np.inf)


def test_dof_names_and_order_are_skels() -> None:
    assert list(sk.DOF_NAMES) == SKEL_DOF_ORDER
    assert sk.N_DOFS == 46 and sk.N_BODIES == 24


def test_tree_is_topologically_ordered_and_every_dof_has_a_body() -> None:
    par = sk.parents()
    assert par[0] == -1 and all(0 <= p < i for i, p in enumerate(par[1:], start=1))
    assert sum(len(b.dofs) for b in sk.BODIES) == 46
    counts = {b.joint_type: len(b.dofs) for b in sk.BODIES}
    assert counts == {"free": 3, "ball": 3, "hinge": 1, "universal": 2, "scapulothoracic": 3}


def test_axes_are_unit_and_left_mirrors_right() -> None:
    axes = sk.dof_axes()
    np.testing.assert_allclose(np.linalg.norm(axes, axis=1), 1.0, atol=1e-12)
    for d in sk.DOFS:
        if d.name.endswith("_r") or "_r_" in d.name:
            left = d.name[:-2] + "_l" if d.name.endswith("_r") else d.name.replace("_r_", "_l_")
            dl = sk.DOFS[sk.DOF[left]]
            np.testing.assert_allclose(dl.axis, (-d.axis[0], -d.axis[1], d.axis[2]), atol=1e-12)
            assert (dl.lower_deg, dl.upper_deg) == (d.lower_deg, d.upper_deg), d.name


def test_every_departure_from_design_ranges_is_recorded_with_a_reason() -> None:
    for d in sk.DOFS:
        design = _design_range(d.name)
        ours = (d.lower_deg, d.upper_deg)
        if d.name in sk.LIMIT_CHANGES:
            recorded_design, recorded_ours, reason = sk.LIMIT_CHANGES[d.name]
            assert tuple(recorded_ours) == ours, d.name
            assert tuple(recorded_design) == tuple(map(float, design)), d.name
            assert len(reason) > 40
        else:
            assert ours == tuple(map(float, design)), f"{d.name}: {ours} vs DESIGN {design}"
    assert set(sk.LIMIT_CHANGES) <= set(sk.DOF_NAMES)


def test_zero_pose_is_inside_every_limit() -> None:
    assert sk.limit_violations(np.zeros(46)) == 0


def test_check_q_messages() -> None:
    with pytest.raises(ValueError, match=r"shape \(\.\.\., 46\)"):
        sk.check_q(np.zeros((3, 45)))
    q = np.zeros((2, 46))
    q[1, sk.DOF["knee_angle_r"]] = np.nan
    with pytest.raises(ValueError, match="NaN.*knee_angle_r"):
        sk.check_q(q)
    q[1, sk.DOF["knee_angle_r"]] = np.deg2rad(-20)
    with pytest.raises(ValueError, match="knee_angle_r = -20.0 deg"):
        sk.check_q(q)
    assert sk.limit_violations(q) == 1


def test_unknown_dof_names_are_named() -> None:
    with pytest.raises(ValueError, match="knee_r"):
        sk.resolve_dof_names(["hip_flexion_r", "knee_r"])
    assert sk.resolve_dof_names(["knee_angle_l"]).tolist() == [sk.DOF["knee_angle_l"]]


def test_default_offsets_are_mirrored_and_checked() -> None:
    off = sk.default_offsets(1.8)
    for name, i in sk.BODY.items():
        if name.endswith("_r"):
            j = sk.BODY[name[:-2] + "_l"]
            np.testing.assert_allclose(off[j], off[i] * [1, 1, -1])
    with pytest.raises(ValueError, match="height_m"):
        sk.default_offsets(7.0)
