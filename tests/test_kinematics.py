"""Forward kinematics against independent references: finite differences, hand-computed poses,
the numpy twin; the limit parametrisation; input checks."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from core import fk_numpy
from core import kinematics as kin
from core import skeleton as sk
from core.ik import fk_with_axes

OFF = sk.default_offsets(1.75)


def _fk(q: np.ndarray, root: np.ndarray | None = None, dtype=torch.float64) -> kin.FKResult:
    q_t = torch.as_tensor(q, dtype=dtype)
    r_t = (
        torch.zeros(q_t.shape[:-1] + (3,), dtype=dtype)
        if root is None
        else torch.as_tensor(root, dtype=dtype)
    )
    return kin.forward_kinematics(q_t, r_t, torch.as_tensor(OFF, dtype=dtype))


def _origin(fk: kin.FKResult, body: str) -> np.ndarray:
    return fk.origins[..., sk.BODY[body], :].numpy()


def _random_q(n: int, seed: int = 0, frac: float = 0.8) -> np.ndarray:
    rng = np.random.default_rng(seed)
    lo, hi = sk.limits_rad()
    lim = np.isfinite(lo)
    q = rng.uniform(-np.pi, np.pi, (n, sk.N_DOFS))
    span = np.where(lim, hi - np.where(lim, lo, 0.0), 0.0)
    mid = np.where(lim, lo + 0.5 * span, 0.0)
    return np.where(lim, mid + frac * span * rng.uniform(-0.5, 0.5, (n, sk.N_DOFS)), q)


def test_jacobian_autograd_matches_finite_differences():
    """d(joint centres and marker-like points)/dq: central differences vs torch autograd."""
    q0 = torch.as_tensor(_random_q(1, seed=3)[0])
    bodies = torch.arange(sk.N_BODIES)
    local = torch.as_tensor(np.random.default_rng(1).normal(0, 0.05, (sk.N_BODIES, 3)))

    def points(q: torch.Tensor) -> torch.Tensor:
        fk = kin.forward_kinematics(q, torch.zeros(3, dtype=q.dtype), torch.as_tensor(OFF))
        return torch.cat([fk.origins, kin.body_points(fk, bodies, local)]).reshape(-1)

    jac = torch.autograd.functional.jacobian(points, q0).numpy()
    h = 1e-6
    fd = np.zeros_like(jac)
    for j in range(sk.N_DOFS):
        e = torch.zeros(sk.N_DOFS, dtype=torch.float64)
        e[j] = h
        fd[:, j] = ((points(q0 + e) - points(q0 - e)) / (2 * h)).numpy()
    np.testing.assert_allclose(jac, fd, atol=1e-8)
    assert np.abs(jac).max() > 0.5  # not trivially zero


def test_analytic_ik_jacobian_axes_match_autograd():
    """core.ik's world DOF axes: axis x (point - pivot) equals autograd for every body origin."""
    q0 = torch.as_tensor(_random_q(1, seed=5)[0])
    root = torch.zeros(3, dtype=torch.float64)
    off = torch.as_tensor(OFF)
    fk, axes = fk_with_axes(q0, root, off)
    ref = kin.forward_kinematics(q0, root, off)
    torch.testing.assert_close(fk.origins, ref.origins)
    torch.testing.assert_close(fk.rotations, ref.rotations)
    jac = torch.autograd.functional.jacobian(
        lambda q: kin.forward_kinematics(q, root, off).origins, q0
    )  # (24, 3, 46)
    par = sk.parents()
    for j, d in enumerate(sk.DOFS):
        b = sk.BODY[d.body]
        for c in range(sk.N_BODIES):
            a, moved = c, False
            while a >= 0:
                moved |= a == b and c != b  # a joint does not move its own origin
                a = par[a]
            pred = (
                torch.linalg.cross(axes[j], fk.origins[c] - fk.origins[b])
                if moved
                else 0 * axes[j]
            )
            torch.testing.assert_close(jac[c, :, j], pred, atol=1e-10, rtol=0)


def test_knee_90_puts_ankle_behind_knee():
    q = np.zeros(sk.N_DOFS)
    q[sk.DOF["knee_angle_r"]] = np.pi / 2
    fk = _fk(q)
    knee, ankle = _origin(fk, "tibia_r"), _origin(fk, "talus_r")
    shank = np.linalg.norm(OFF[sk.BODY["talus_r"]])
    # Knee flexion about -Z: the shank (pointing down) swings backward (-X) to horizontal.
    np.testing.assert_allclose(ankle - knee, [-shank, 0.0, 0.0], atol=1e-12)


def test_hip_flexion_90_puts_knee_in_front_at_hip_height():
    q = np.zeros(sk.N_DOFS)
    q[sk.DOF["hip_flexion_l"]] = np.pi / 2
    fk = _fk(q)
    hip, knee = _origin(fk, "femur_l"), _origin(fk, "tibia_l")
    thigh = np.linalg.norm(OFF[sk.BODY["tibia_l"]])
    np.testing.assert_allclose(knee - hip, [thigh, 0.0, 0.0], atol=1e-12)


def test_shoulder_abduction_90_makes_arm_horizontal_and_lateral():
    for side, z in (("r", 1.0), ("l", -1.0)):
        q = np.zeros(sk.N_DOFS)
        q[sk.DOF[f"shoulder_{side}_x"]] = np.pi / 2
        fk = _fk(q)
        d = _origin(fk, f"ulna_{side}") - _origin(fk, f"humerus_{side}")
        upper = np.linalg.norm(OFF[sk.BODY[f"ulna_{side}"]])
        np.testing.assert_allclose(d, [0.0, 0.0, z * upper], atol=1e-12)


def test_elbow_flexion_90_points_forearm_forward():
    q = np.zeros(sk.N_DOFS)
    q[sk.DOF["elbow_flexion_r"]] = np.pi / 2
    fk = _fk(q)
    d = _origin(fk, "hand_r") - _origin(fk, "ulna_r")
    # The oblique elbow axis (Rajagopal) tilts the forearm a few degrees; it must point forward.
    assert d[0] > 0.95 * np.linalg.norm(d)
    assert abs(d[1]) < 0.1 * np.linalg.norm(d)


def test_torch_numpy_agree_and_float32():
    q = _random_q(64, seed=7)
    root = np.random.default_rng(2).normal(0, 1, (64, 3))
    fk64 = _fk(q, root)
    rot_np, org_np = fk_numpy.forward_kinematics(q, root, OFF)
    np.testing.assert_allclose(fk64.rotations.numpy(), rot_np, atol=1e-12)
    np.testing.assert_allclose(fk64.origins.numpy(), org_np, atol=1e-12)
    fk32 = _fk(q, root, torch.float32)
    assert fk32.origins.dtype == torch.float32
    np.testing.assert_allclose(fk32.origins.numpy(), org_np, atol=2e-5)  # metres


def test_batch_shapes():
    q = torch.as_tensor(_random_q(6)).reshape(2, 3, sk.N_DOFS)
    fk = kin.forward_kinematics(q, torch.zeros(2, 3, 3, dtype=q.dtype), torch.as_tensor(OFF))
    assert fk.rotations.shape == (2, 3, sk.N_BODIES, 3, 3)
    assert fk.origins.shape == (2, 3, sk.N_BODIES, 3)
    flat = kin.forward_kinematics(
        q.reshape(6, -1), torch.zeros(6, 3, dtype=q.dtype), torch.as_tensor(OFF)
    )
    torch.testing.assert_close(fk.origins.reshape(6, sk.N_BODIES, 3), flat.origins)
    single = kin.forward_kinematics(q[1, 2], torch.zeros(3, dtype=q.dtype), torch.as_tensor(OFF))
    torch.testing.assert_close(single.origins, fk.origins[1, 2])


def test_q_from_free_keeps_any_input_inside_limits():
    rng = np.random.default_rng(0)
    u = torch.as_tensor(
        np.concatenate(
            [
                rng.normal(0, 1e6, (200, 46)),
                np.full((1, 46), 1e6),
                np.full((1, 46), -1e6),
                rng.normal(0, 3, (200, 46)),
            ]
        )
    )
    q = kin.q_from_free(u).numpy()
    assert np.isfinite(q).all()
    assert sk.limit_violations(q) == 0
    q32 = kin.q_from_free(u.float()).double().numpy()
    assert sk.limit_violations(q32, atol_rad=1e-6) == 0


def test_free_from_q_round_trip():
    q = torch.as_tensor(_random_q(500, seed=11, frac=0.98))
    back = kin.q_from_free(kin.free_from_q(q))
    torch.testing.assert_close(back, q, atol=1e-9, rtol=0)


def test_bad_inputs_raise_clear_errors():
    off = torch.as_tensor(OFF)
    with pytest.raises(ValueError, match="46"):
        kin.forward_kinematics(torch.zeros(5, 45), torch.zeros(5, 3), off)
    with pytest.raises(ValueError, match="root_m"):
        kin.forward_kinematics(torch.zeros(5, 46), torch.zeros(4, 3), off)
    with pytest.raises(ValueError, match="offsets_m"):
        kin.forward_kinematics(torch.zeros(5, 46), torch.zeros(5, 3), off[:20])
    with pytest.raises(ValueError, match="46"):
        fk_numpy.forward_kinematics(np.zeros((5, 40)), np.zeros((5, 3)), OFF)
    q = np.zeros((3, 46))
    q[1, sk.DOF["knee_angle_l"]] = np.nan
    with pytest.raises(ValueError, match="NaN.*knee_angle_l"):
        sk.check_q(q)
