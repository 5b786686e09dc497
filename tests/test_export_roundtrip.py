"""Our .trc through OpenSim IK on our .osim gives back our .mot."""

from __future__ import annotations

import numpy as np
import pytest

from biomech_export.geometry import segment_vectors
from biomech_export.mot import read_mot, table_to_q_root
from core import skeleton as sk
from core.motion import Motion

pytest.importorskip("opensim")
pytestmark = pytest.mark.opensim

from biomech_export.export import export_motion  # noqa: E402
from biomech_export.tools import run_ik, run_ik_setup  # noqa: E402


def smooth_motion(n_frames: int = 40, fps: float = 30.0, seed: int = 0) -> Motion:
    """Every DOF swings smoothly inside its range; 3 markers on each body."""
    rng = np.random.default_rng(seed)
    lo, hi = sk.limits_rad()
    lo = np.where(np.isfinite(lo), lo, -0.6)
    hi = np.where(np.isfinite(hi), hi, 0.6)
    mid, amp = 0.5 * (lo + hi), 0.3 * (hi - lo)
    t = np.arange(n_frames) / fps
    phase = rng.uniform(0, 2 * np.pi, sk.N_DOFS)
    q = mid + amp * np.sin(2 * np.pi * 0.5 * t[:, None] + phase)
    root = np.stack([0.8 * t, 0.95 + 0.02 * np.sin(4 * t), 0.1 * t], axis=1)
    # Markers as on a real subject: spread over each segment (not bunched at the joint centre),
    # 3 per body, 4-8 cm off the segment line.
    offsets = sk.default_offsets(1.7)
    seg = segment_vectors(offsets, 1.7)
    bodies = np.repeat(np.arange(sk.N_BODIES), 3)
    frac = np.tile([0.3, 0.7, 1.0], sk.N_BODIES)
    local = frac[:, None] * seg[bodies] + rng.uniform(0.04, 0.08, (len(bodies), 3)) * rng.choice(
        [-1.0, 1.0], (len(bodies), 3)
    )
    names = tuple(f"{sk.BODY_NAMES[b]}_{k % 3}" for k, b in enumerate(bodies))
    return Motion(
        fps=fps,
        q_rad=q,
        root_m=root,
        offsets_m=offsets,
        height_m=1.7,
        mass_kg=65.0,
        marker_names=names,
        marker_bodies=bodies,
        marker_local_m=local,
    )


def _ik_errors(motion: Motion, mot_path) -> tuple[np.ndarray, np.ndarray, float]:
    q, root = table_to_q_root(read_mot(mot_path))
    assert q.shape == motion.q_rad.shape
    err_deg = np.rad2deg(np.sqrt(np.mean((q - motion.q_rad) ** 2, axis=0)))
    root_rms = float(np.sqrt(np.mean((root - motion.root_m) ** 2)))
    return q, err_deg, root_rms


def _report(tag: str, err_deg: np.ndarray, root_rms: float, marker_rms: float) -> dict:
    worst = int(np.argmax(err_deg))
    over = {sk.DOF_NAMES[j]: round(float(e), 2) for j, e in enumerate(err_deg) if e >= 1.0}
    print(
        f"IK round trip ({tag}): worst RMS {sk.DOF_NAMES[worst]} {err_deg[worst]:.3f} deg, "
        f"median {np.median(err_deg):.3f} deg, root RMS {root_rms * 1e3:.3f} mm, "
        f"marker RMS {marker_rms * 1e3:.3f} mm; over 1 deg: {over}"
    )
    return over


def test_ik_round_trip_within_half_a_degree(tmp_path):
    """On the model as exported (clamped ranges) and on its unclamped copy."""
    motion = smooth_motion()
    res = export_motion(motion, tmp_path, name="rt")
    for p in (
        res.osim_path,
        res.mot_path,
        res.trc_path,
        res.ik_setup_path,
        res.id_setup_path,
        res.readme_path,
    ):
        assert p.is_file(), p
    # Unbounded solve, markers only: every coordinate within 0.5 deg RMS.
    ik = run_ik(res.osim_path, res.trc_path, tmp_path / "unclamped", name="rt", unclamped=True)
    _, err_deg, root_rms = _ik_errors(motion, ik.mot_path)
    over = _report("unclamped", err_deg, root_rms, ik.marker_rms_m)
    assert err_deg.max() < 0.5, f"worst {sk.DOF_NAMES[int(np.argmax(err_deg))]} {err_deg.max()}"
    assert root_rms < 1e-3
    # The exported setup as a GUI user would run it (clamped coordinates, bounded solver, the
    # setup's weak coordinate tasks toward the .mot): every coordinate within 0.5 deg RMS
    # (measured 0.05 deg; markers alone stall at ~0.8 mm and leave the scapulae 2-5 deg off).
    ik = run_ik_setup(res.ik_setup_path)
    q, err_deg, root_rms = _ik_errors(motion, ik.mot_path)
    over = _report("clamped", err_deg, root_rms, ik.marker_rms_m)
    assert sk.limit_violations(q, atol_rad=1e-4) == 0
    assert err_deg.max() < 0.5, over or {sk.DOF_NAMES[int(np.argmax(err_deg))]: err_deg.max()}
    assert root_rms < 1e-3 and ik.marker_rms_m < 0.3e-3


def test_ik_setup_coordinate_tasks_do_not_override_the_markers(tmp_path):
    """The setup's coordinate tasks only steer what the markers leave open: with the .mot it
    points at 3 deg off on the knee (which its markers see), OpenSim's result goes back to the
    markers' knee (measured 0.6 deg off, i.e. 80 % of the error removed)."""
    from biomech_export.mot import motion_to_table, write_mot
    from biomech_export.tools import write_ik_setup

    motion = smooth_motion()
    res = export_motion(motion, tmp_path, name="rt", setups=False)
    q = motion.q_rad.copy()
    q[:, sk.DOF["knee_angle_r"]] += np.radians(3.0)
    wrong = Motion(
        fps=motion.fps,
        q_rad=np.clip(q, *sk.limits_rad()),
        root_m=motion.root_m,
        offsets_m=motion.offsets_m,
        height_m=motion.height_m,
        mass_kg=motion.mass_kg,
    )
    prior = write_mot(tmp_path / "wrong.mot", motion_to_table(wrong, name="wrong"))
    setup = write_ik_setup(res.osim_path, res.trc_path, tmp_path / "ik", coordinate_file=prior)
    _, err_deg, _ = _ik_errors(motion, run_ik_setup(setup).mot_path)
    knee = err_deg[sk.DOF["knee_angle_r"]]
    print(f"knee_angle_r with a 3 deg wrong prior: {knee:.2f} deg RMS off")
    assert knee < 1.5


def test_ik_round_trip_anny_markers(tmp_path):
    """The project's own virtual marker set (core.body): what OpenSim IK can recover from it.

    No marker sits on the lumbar, talus or ulna bodies, so lumbar and thorax rotations are
    only determined together (their twists trade off freely); the legs are fully determined."""
    body = pytest.importorskip("core.body")
    import os

    from tests.conftest import REPO

    os.environ.setdefault("ANNY_CACHE_DIR", str(REPO / ".cache" / "anny"))
    s = body.default_subject()
    base = smooth_motion()
    motion = Motion(
        fps=base.fps,
        q_rad=base.q_rad,
        root_m=base.root_m,
        offsets_m=s.offsets_m,
        height_m=s.height_m,
        mass_kg=s.mass_kg,
        marker_names=s.marker_names,
        marker_bodies=s.marker_bodies,
        marker_local_m=s.marker_local_m,
    )
    res = export_motion(motion, tmp_path, name="anny", setups=False)
    ik = run_ik(res.osim_path, res.trc_path, tmp_path / "ik", name="anny", unclamped=True)
    _, err_deg, root_rms = _ik_errors(motion, ik.mot_path)
    _report("Anny markers, unclamped", err_deg, root_rms, ik.marker_rms_m)
    legs = [
        j
        for j, n in enumerate(sk.DOF_NAMES)
        if n.startswith(("hip_", "knee_", "ankle_", "subtalar_", "pelvis_"))
    ]
    assert err_deg[legs].max() < 1.0, {sk.DOF_NAMES[j]: err_deg[j] for j in legs}
    assert ik.marker_rms_m < 1e-3


def test_exported_id_setup_static_pose_weight(tmp_path):
    """ID of a held pose with no external loads: the root must carry the whole weight."""
    from biomech_export.tools import run_id_setup

    base = smooth_motion(n_frames=30)
    q = np.repeat(base.q_rad[7:8], 30, axis=0)
    root = np.repeat(base.root_m[7:8], 30, axis=0)
    motion = Motion(
        fps=30.0,
        q_rad=q,
        root_m=root,
        offsets_m=base.offsets_m,
        height_m=1.7,
        mass_kg=65.0,
        marker_names=base.marker_names,
        marker_bodies=base.marker_bodies,
        marker_local_m=base.marker_local_m,
    )
    res = export_motion(motion, tmp_path, name="static")
    sto = read_mot(run_id_setup(res.id_setup_path).sto_path)
    assert len(sto.labels) == sk.N_DOFS + 3
    weight = 65.0 * 9.80665
    print(
        f"static ID: pelvis_ty_force {sto.column('pelvis_ty_force').mean():.3f} N "
        f"(m g = {weight:.3f} N)"
    )
    np.testing.assert_allclose(sto.column("pelvis_ty_force"), weight, rtol=1e-4)
    np.testing.assert_allclose(sto.column("pelvis_tx_force"), 0.0, atol=1e-3)
    np.testing.assert_allclose(sto.column("pelvis_tz_force"), 0.0, atol=1e-3)


def test_missing_markers_in_trc_are_skipped_by_opensim_ik(tmp_path):
    """Gaps (NaN) in any marker column, including the last, survive our .trc writer and OpenSim
    IK still recovers the pose from the markers that remain."""
    motion = smooth_motion(n_frames=12)
    from biomech_export.export import motion_markers

    markers = motion_markers(motion).copy()
    markers[3:6, -1] = np.nan  # the last column: empty cells there broke OpenSim's reader
    markers[7, 5] = np.nan
    motion.markers_m = markers
    res = export_motion(motion, tmp_path, name="gaps", setups=False)
    ik = run_ik(res.osim_path, res.trc_path, tmp_path / "ik", name="gaps", unclamped=True)
    _, err_deg, root_rms = _ik_errors(motion, ik.mot_path)
    legs = [sk.DOF[n] for n in ("hip_flexion_r", "knee_angle_r", "ankle_angle_l", "knee_angle_l")]
    assert err_deg[legs].max() < 1.0 and root_rms < 2e-3
