"""de Leva (1996) segment parameters on BSM-46 bodies, against hand computation."""

from __future__ import annotations

import numpy as np
import pytest

from core import skeleton as sk
from core.anthropometry import DE_LEVA, segment_inertia


@pytest.mark.parametrize("sex", ["male", "female"])
def test_masses_sum_to_body_mass(sex):
    seg = segment_inertia(sk.default_offsets(1.7), 68.0, 1.7, sex)
    assert seg.masses_kg.sum() == pytest.approx(68.0, rel=2e-3)  # de Leva's % sum to 100 +- 0.01
    assert np.all(seg.masses_kg > 0)


def test_thigh_by_hand():
    off = sk.default_offsets(1.8)
    seg = segment_inertia(off, 80.0, 1.8)
    i = sk.BODY["femur_r"]
    knee = off[sk.BODY["tibia_r"]]
    length = np.linalg.norm(knee)
    m = 0.1416 * 80.0
    assert seg.masses_kg[i] == pytest.approx(m)
    np.testing.assert_allclose(seg.com_local_m[i], 0.4095 * knee)
    want = np.diag(
        [m * (0.329 * length) ** 2, m * (0.149 * length) ** 2, m * (0.329 * length) ** 2]
    )
    np.testing.assert_allclose(seg.inertia_kgm2[i], want)


def test_split_segments_and_symmetry():
    seg = segment_inertia(sk.default_offsets(), 75.0, 1.75)
    b = sk.BODY
    forearm = DE_LEVA["male"]["forearm"][1] / 100 * 75.0
    assert seg.masses_kg[b["ulna_r"]] + seg.masses_kg[b["radius_r"]] == pytest.approx(forearm)
    foot = DE_LEVA["male"]["foot"][1] / 100 * 75.0
    parts = [seg.masses_kg[b[f"{p}_l"]] for p in ("talus", "calcn", "toes")]
    assert sum(parts) == pytest.approx(foot)
    trunk = sum(DE_LEVA["male"][k][1] for k in ("upper_trunk", "mid_trunk", "lower_trunk"))
    got = sum(
        seg.masses_kg[b[n]] for n in ("pelvis", "lumbar", "thorax", "scapula_r", "scapula_l")
    )
    assert got == pytest.approx(trunk / 100 * 75.0)
    for name, i in b.items():
        if name.endswith("_r"):
            j = b[name[:-2] + "_l"]
            assert seg.masses_kg[i] == pytest.approx(seg.masses_kg[j])
            np.testing.assert_allclose(seg.com_local_m[j], seg.com_local_m[i] * [1, 1, -1])
    eig = np.linalg.eigvalsh(seg.inertia_kgm2)
    assert np.all(eig > 0)
    # Triangle inequality of a physical inertia tensor.
    d = np.diagonal(seg.inertia_kgm2, axis1=1, axis2=2)
    assert np.all(d[:, 0] <= d[:, 1] + d[:, 2] + 1e-12)
    assert np.all(d[:, 1] <= d[:, 0] + d[:, 2] + 1e-12)
    assert np.all(d[:, 2] <= d[:, 0] + d[:, 1] + 1e-12)


def test_scaling_and_errors():
    a = segment_inertia(sk.default_offsets(1.5), 60.0, 1.5)
    b = segment_inertia(sk.default_offsets(1.5), 120.0, 1.5)
    np.testing.assert_allclose(b.inertia_kgm2, 2 * a.inertia_kgm2)
    with pytest.raises(ValueError, match="offsets_m"):
        segment_inertia(np.zeros((3, 3)), 60.0, 1.5)
    with pytest.raises(ValueError, match="mass_kg"):
        segment_inertia(sk.default_offsets(), 1.0, 1.75)
    with pytest.raises(ValueError, match="sex"):
        segment_inertia(sk.default_offsets(), 70.0, 1.75, sex="x")
