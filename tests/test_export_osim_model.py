"""The exported .osim against core.fk_numpy: OpenSim must put every marker where our FK does."""

from __future__ import annotations

import numpy as np
import pytest

from core import fk_numpy
from core import skeleton as sk
from core.anthropometry import segment_inertia
from core.motion import Motion, Surface
from tests.conftest import REPO

opensim = pytest.importorskip("opensim")
pytestmark = pytest.mark.opensim

from biomech_export.osim_model import GRAVITY, write_osim  # noqa: E402


def random_marker_motion(rng: np.random.Generator, n_frames: int, per_body: int = 3) -> Motion:
    """Random in-limit poses, random root, random markers on every body (default skeleton)."""
    lo, hi = sk.limits_rad()
    lo = np.where(np.isfinite(lo), lo, -np.pi)
    hi = np.where(np.isfinite(hi), hi, np.pi)
    q = rng.uniform(lo, hi, size=(n_frames, sk.N_DOFS))
    root = rng.uniform(-2.0, 2.0, size=(n_frames, 3))
    bodies = np.repeat(np.arange(sk.N_BODIES), per_body)
    local = rng.uniform(-0.15, 0.15, size=(len(bodies), 3))
    names = tuple(f"{sk.BODY_NAMES[b]}_m{k % per_body}" for k, b in enumerate(bodies))
    return Motion(
        fps=100.0,
        q_rad=q,
        root_m=root,
        offsets_m=sk.default_offsets(1.8),
        height_m=1.8,
        mass_kg=80.0,
        marker_names=names,
        marker_bodies=bodies,
        marker_local_m=local,
    )


def opensim_markers(model_path, motion: Motion) -> np.ndarray:
    model = opensim.Model(str(model_path))
    state = model.initSystem()
    coords = model.getCoordinateSet()
    names = list(sk.DOF_NAMES) + list(sk.ROOT_TRANSLATION_NAMES)
    handles = [coords.get(n) for n in names]
    values = np.concatenate([motion.q_rad, motion.root_m], axis=1)
    markers = model.getMarkerSet()
    out = np.zeros((motion.n_frames, markers.getSize(), 3))
    for t in range(motion.n_frames):
        for c, v in zip(handles, values[t], strict=True):
            c.setValue(state, float(v), False)
        model.realizePosition(state)
        for m in range(markers.getSize()):
            p = markers.get(m).getLocationInGround(state)
            out[t, m] = (p.get(0), p.get(1), p.get(2))
    return out


def test_fk_agrees_with_opensim_within_1mm(tmp_path):
    rng = np.random.default_rng(7)
    motion = random_marker_motion(rng, 1000)
    write_osim(motion, tmp_path / "subject.osim", geometry=False)
    got = opensim_markers(tmp_path / "subject.osim", motion)
    rot, org = fk_numpy.forward_kinematics(motion.q_rad, motion.root_m, motion.offsets_m)
    want = fk_numpy.body_points(rot, org, motion.marker_bodies, motion.marker_local_m)
    err = np.linalg.norm(got - want, axis=-1)
    print(f"FK vs OpenSim over {err.size} marker positions: max {err.max() * 1e3:.2e} mm")
    assert err.max() < 1e-3, f"max marker disagreement {err.max() * 1e3:.3f} mm"
    # The test can tell rotation conventions apart: space-fixed (reversed) order disagrees.
    wrong = _fk_space_fixed(motion)
    wrong_pts = fk_numpy.body_points(*wrong, motion.marker_bodies, motion.marker_local_m)
    assert np.linalg.norm(got - wrong_pts, axis=-1).max() > 0.05


def _fk_space_fixed(motion: Motion) -> tuple[np.ndarray, np.ndarray]:
    """FK with each joint's rotations composed in reverse (space-fixed) order."""
    dof_rot = fk_numpy.axis_angle_matrix(sk.dof_axes(), motion.q_rad)
    par = sk.parents()
    rots, orgs = [], []
    for i, b in enumerate(sk.BODIES):
        local = np.broadcast_to(np.eye(3), (motion.n_frames, 3, 3))
        for name in b.dofs:
            local = dof_rot[:, sk.DOF[name]] @ local
        if par[i] < 0:
            rots.append(local)
            orgs.append(motion.root_m + motion.offsets_m[i])
        else:
            rots.append(rots[par[i]] @ local)
            orgs.append(orgs[par[i]] + rots[par[i]] @ motion.offsets_m[i])
    return np.stack(rots, 1), np.stack(orgs, 1)


def test_model_contents(tmp_path):
    rng = np.random.default_rng(1)
    motion = random_marker_motion(rng, 2, per_body=1)
    res = write_osim(motion, tmp_path / "subj.osim")
    model = opensim.Model(str(res.osim_path))
    model.initSystem()
    coords = model.getCoordinateSet()
    names = [coords.get(i).getName() for i in range(coords.getSize())]
    assert sorted(names) == sorted(sk.DOF_NAMES + sk.ROOT_TRANSLATION_NAMES)
    lo, hi = sk.limits_rad()
    for j, d in enumerate(sk.DOFS):
        c = coords.get(d.name)
        assert c.getDefaultValue() == 0.0
        if d.limited:
            assert c.getRangeMin() == pytest.approx(lo[j]) and c.getRangeMax() == pytest.approx(
                hi[j]
            )
            assert c.getDefaultClamped()
    g = model.getGravity()
    assert (g.get(0), g.get(1), g.get(2)) == GRAVITY
    assert model.getTotalMass(model.initSystem()) == pytest.approx(80.0)
    assert model.getMarkerSet().getSize() == sk.N_BODIES
    root = model.getJointSet().get("ground_pelvis")
    assert root.getParentFrame().findBaseFrame().getName() == "ground"
    assert len(res.mesh_files) == sk.N_BODIES
    assert all((res.geometry_dir / f).is_file() for f in res.mesh_files)
    body = model.getBodySet().get("femur_r")
    inert = segment_inertia(motion.offsets_m, 80.0, 1.8)
    assert body.getMass() == pytest.approx(inert.masses_kg[sk.BODY["femur_r"]])
    assert body.getMass() == pytest.approx(0.1416 * 80.0)  # de Leva male thigh


def test_surface_split_geometry(tmp_path):
    """With a surface, each body's mesh is the faces its skin weights dominate."""
    rng = np.random.default_rng(3)
    motion = random_marker_motion(rng, 2, per_body=1)
    _, org = fk_numpy.forward_kinematics(np.zeros(sk.N_DOFS), np.zeros(3), motion.offsets_m)
    verts = np.concatenate([org + d for d in np.eye(3) * 0.01])  # 3 vertices near each origin
    faces = np.arange(3 * sk.N_BODIES).reshape(3, -1).T  # one face per body
    bodies = np.tile(np.arange(sk.N_BODIES), 3)[:, None]
    motion.surface = Surface(verts, faces, bodies, np.ones_like(bodies, dtype=float))
    res = write_osim(motion, tmp_path / "s.osim")
    text = (res.geometry_dir / "s_tibia_r.obj").read_text().split("\n")
    v = np.array([list(map(float, ln.split()[1:])) for ln in text if ln.startswith("v ")])
    assert v.shape == (3, 3)
    np.testing.assert_allclose(np.sort(v.max(axis=1)), [0.01] * 3, atol=1e-6)


def test_anny_subject_export(tmp_path):
    """A real subject (core.body: Anny surface, landmark joint centres, virtual markers)."""
    body = pytest.importorskip("core.body")
    import os

    os.environ.setdefault("ANNY_CACHE_DIR", str(REPO / ".cache" / "anny"))
    subject = body.default_subject()
    rng = np.random.default_rng(11)
    lo, hi = sk.limits_rad()
    q = rng.uniform(np.maximum(lo, -np.pi), np.minimum(hi, np.pi), size=(50, sk.N_DOFS))
    motion = Motion(
        fps=30.0,
        q_rad=q,
        root_m=rng.normal(size=(50, 3)),
        offsets_m=subject.offsets_m,
        height_m=subject.height_m,
        mass_kg=subject.mass_kg,
        marker_names=subject.marker_names,
        marker_bodies=subject.marker_bodies,
        marker_local_m=subject.marker_local_m,
        surface=subject.surface,
    )
    res = write_osim(motion, tmp_path / "anny.osim")
    assert res.total_mass_kg == pytest.approx(subject.mass_kg)
    assert len(res.mesh_files) >= 20  # surface split by dominant skin body
    got = opensim_markers(res.osim_path, motion)
    rot, org = fk_numpy.forward_kinematics(motion.q_rad, motion.root_m, motion.offsets_m)
    want = fk_numpy.body_points(rot, org, motion.marker_bodies, motion.marker_local_m)
    err = np.linalg.norm(got - want, axis=-1)
    print(
        f"Anny subject: {len(subject.marker_names)} markers, {subject.height_m:.2f} m, "
        f"{subject.mass_kg:.1f} kg; max FK disagreement {err.max() * 1e3:.2e} mm"
    )
    assert err.max() < 1e-3
