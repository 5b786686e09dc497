"""core.ik: round trips through the anatomical marker set of core.body, joint-centre targets,
missing markers, limits, input checks."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from core import ik
from core import kinematics as kin
from core import skeleton as sk

# DOFs pinned by core.body's markers. Not in this list, and why:
# - lumbar_* / thorax_*: no marker on the lumbar body, so only the pelvis->thorax rotation is
#   seen; its split between the two joints is set by the prior.
# - scapula_* and shoulder_*: one marker (acromion) on the scapula for 3 scapula DOFs; the
#   humerus markers fix the humerus, the scapula/shoulder split is partly the prior's.
# - pro_sup_*: the radius has two markers near the wrist axis; the forearm roll is weakly seen.
WELL_OBSERVED = [
    n
    for n in sk.DOF_NAMES
    if n.startswith(("pelvis_", "hip_", "knee_", "ankle_", "subtalar_", "mtp_", "head_", "elbow_"))
    or n.startswith("wrist_")
]


def _random_poses(n: int, frac: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Uniform within the central ``frac`` of every range; pelvis turned anywhere about the
    vertical and tilted/listed up to +-30 deg; root within ~1 m of the origin."""
    rng = np.random.default_rng(seed)
    lo, hi = sk.limits_rad()
    lim = np.isfinite(lo)
    span = np.where(lim, hi - np.where(lim, lo, 0.0), 0.0)
    mid = np.where(lim, np.where(lim, lo, 0.0) + 0.5 * span, 0.0)
    q = mid + frac * span * rng.uniform(-0.5, 0.5, (n, sk.N_DOFS))
    q[:, sk.DOF["pelvis_tilt"]] = rng.uniform(-0.5, 0.5, n)
    q[:, sk.DOF["pelvis_list"]] = rng.uniform(-0.5, 0.5, n)
    q[:, sk.DOF["pelvis_rotation"]] = rng.uniform(-np.pi, np.pi, n)
    root = rng.normal(0, 1, (n, 3)) + [0, 1, 0]
    return q, root


def _per_dof_rms_deg(q_est: np.ndarray, q_true: np.ndarray) -> np.ndarray:
    d = q_est - q_true
    d[:, :3] = (d[:, :3] + np.pi) % (2 * np.pi) - np.pi
    return np.rad2deg(np.sqrt((d**2).mean(0)))


def _round_trip(n: int, frac: float, seed: int):
    body = pytest.importorskip("core.body")
    subject = body.default_subject()
    q, root = _random_poses(n, frac, seed)
    x = body.marker_positions(subject, q, root)
    res = ik.solve_ik(
        torch.from_numpy(x), subject.marker_bodies, subject.marker_local_m, subject.offsets_m
    )
    q_est = res.q_rad.numpy()
    assert sk.limit_violations(q_est) == 0
    rms = res.marker_rms_m.numpy()
    ok = rms < 1e-3  # converged; the rest are local minima the restarts did not leave
    table = _per_dof_rms_deg(q_est[ok], q[ok])
    print(
        f"\n{n} poses (central {frac:.0%} of each range): {int((~ok).sum())} not converged "
        f"(marker RMS >= 1 mm); median marker RMS {1e3 * np.median(rms):.3f} mm; "
        f"{res.iterations} iterations"
    )
    print(f"{'DOF':24s} RMS deg  (* = asserted < 0.5)")
    for name, e in zip(sk.DOF_NAMES, table, strict=True):
        print(f"{name:24s} {e:7.3f} {'*' if name in WELL_OBSERVED else ''}")
    return ok, table


def test_round_trip_small_batch():
    ok, table = _round_trip(60, 0.6, seed=1)
    assert ok.mean() >= 0.95
    idx = sk.resolve_dof_names(WELL_OBSERVED)
    assert table[idx].max() < 0.5, dict(zip(WELL_OBSERVED, table[idx].round(3), strict=True))


@pytest.mark.slow
def test_round_trip_1000_random_poses():
    ok, table = _round_trip(1000, 0.6, seed=0)
    assert ok.mean() >= 0.98
    idx = sk.resolve_dof_names(WELL_OBSERVED)
    assert table[idx].max() < 0.5, dict(zip(WELL_OBSERVED, table[idx].round(3), strict=True))


def _joint_centre_problem(n: int, seed: int):
    off = sk.default_offsets(1.8)
    q, root = _random_poses(n, 0.5, seed)
    bodies = np.arange(sk.N_BODIES)
    fk = kin.forward_kinematics(torch.as_tensor(q), torch.as_tensor(root), torch.as_tensor(off))
    return off, q, root, bodies, fk.origins.numpy()


def test_joint_centre_targets_and_missing_markers():
    off, q, root, bodies, x = _joint_centre_problem(20, seed=4)
    x = x.copy()
    x[3, sk.BODY["hand_r"]] = np.nan  # a missing target
    x[5, [sk.BODY["femur_l"], sk.BODY["tibia_l"]]] = np.nan
    res = ik.solve_ik(x, bodies, np.zeros((sk.N_BODIES, 3)), off)
    assert res.q_rad.shape == (20, sk.N_DOFS) and res.root_m.shape == (20, 3)
    assert sk.limit_violations(res.q_rad.numpy()) == 0
    np.testing.assert_allclose(res.root_m.numpy(), root, atol=1e-3)  # prior bias
    fk = kin.forward_kinematics(res.q_rad, res.root_m, torch.as_tensor(off))
    err = np.linalg.norm(fk.origins.numpy() - np.nan_to_num(x), axis=-1)
    err[~np.isfinite(x).all(-1)] = 0
    assert err.max() < 2e-3  # metres (the weak prior on unobserved DOFs costs ~1 mm)
    # Knees are hinges between observed centres (the elbow is not: the wrist centre also moves
    # with pro_sup through the radius offset, and frame 3 has no hand).
    for name in ("knee_angle_r", "knee_angle_l", "hip_flexion_r"):
        j = sk.DOF[name]
        assert np.abs(np.rad2deg(res.q_rad[:, j].numpy() - q[:, j])).max() < 0.5, name


def test_targets_outside_reach_stay_within_limits_and_weights_matter():
    off, q, root, bodies, x = _joint_centre_problem(4, seed=9)
    x = x.copy()
    # Push the right ankle far forward of the knee: the knee would have to hyper-extend.
    x[:, sk.BODY["talus_r"]] = x[:, sk.BODY["tibia_r"]] + [0.5, 0.0, 0.0]
    w = np.ones(sk.N_BODIES)
    res = ik.solve_ik(x, bodies, np.zeros((sk.N_BODIES, 3)), off, weights=w)
    assert sk.limit_violations(res.q_rad.numpy()) == 0
    w0 = w.copy()
    w0[sk.BODY["talus_r"]] = 0.0  # ignore the impossible target: everything else fits
    res0 = ik.solve_ik(x, bodies, np.zeros((sk.N_BODIES, 3)), off, weights=w0)
    assert res0.marker_rms_m.max() < res.marker_rms_m.min()


def test_warm_start_and_smoothness_and_progress():
    off, q, root, bodies, x = _joint_centre_problem(8, seed=2)
    first = ik.solve_ik(x, bodies, np.zeros((sk.N_BODIES, 3)), off)
    seen: list[ik.IKProgress] = []
    cfg = ik.IKConfig(smoothness_weight=1e-6, smooth_max_iter=20)
    again = ik.solve_ik(
        x, bodies, np.zeros((sk.N_BODIES, 3)), off, init=first, config=cfg, progress=seen.append
    )
    assert seen and seen[-1].phase == "smooth"
    assert again.iterations < first.iterations + 40
    assert float(again.marker_rms_m.max()) < 2e-3
    assert sk.limit_violations(again.q_rad.numpy()) == 0


def test_pelvis_angles_from_matrix_round_trip():
    q = np.zeros((50, sk.N_DOFS))
    rng = np.random.default_rng(0)
    q[:, :3] = rng.uniform(-1.4, 1.4, (50, 3))
    fk = kin.forward_kinematics(
        torch.as_tensor(q),
        torch.zeros(50, 3, dtype=torch.float64),
        torch.as_tensor(sk.default_offsets()),
    )
    ang = kin.pelvis_angles_from_matrix(fk.rotations[:, sk.BODY["pelvis"]])
    np.testing.assert_allclose(ang.numpy(), q[:, :3], atol=1e-9)


def test_bad_inputs():
    off = sk.default_offsets()
    b = np.arange(sk.N_BODIES)
    loc = np.zeros((sk.N_BODIES, 3))
    x = np.zeros((2, sk.N_BODIES, 3))
    with pytest.raises(ValueError, match=r"\(T, M, 3\)"):
        ik.solve_ik(np.zeros((sk.N_BODIES, 3)), b, loc, off)
    with pytest.raises(ValueError, match="marker_bodies"):
        ik.solve_ik(x, b[:-1], loc, off)
    with pytest.raises(ValueError, match="marker_bodies must index"):
        ik.solve_ik(x, b + 1, loc, off)
    with pytest.raises(ValueError, match="offsets_m"):
        ik.solve_ik(x, b, loc, off[:3])
    with pytest.raises(ValueError, match="all NaN"):
        ik.solve_ik(np.full_like(x, np.nan), b, loc, off)
    with pytest.raises(ValueError, match="finite"):
        ik.solve_ik(x, b, loc * np.nan, off)
    with pytest.raises(ValueError, match="weights"):
        ik.solve_ik(x, b, loc, off, weights=np.ones(3))
