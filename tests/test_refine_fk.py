"""The refinement's level-batched forward kinematics equals ``core.kinematics``' body-by-body FK:
the same values and the same gradients (an independent implementation of the same maths)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from core import kinematics as K
from core import skeleton as sk
from core.refine_fk import forward_kinematics_levels


def _inputs(shape: tuple[int, ...], seed: int = 0):
    g = torch.Generator().manual_seed(seed)
    q = (torch.randn(*shape, sk.N_DOFS, generator=g, dtype=torch.float64) * 0.7).requires_grad_()
    root = torch.randn(*shape, 3, generator=g, dtype=torch.float64).requires_grad_()
    offsets = torch.as_tensor(sk.default_offsets(1.68))
    return q, root, offsets


@pytest.mark.parametrize("shape", [(37,), (2, 5), ()])
def test_levels_fk_equals_the_body_by_body_fk(shape) -> None:
    q, root, offsets = _inputs(shape)
    a = K.forward_kinematics(q, root, offsets)
    b = forward_kinematics_levels(q, root, offsets)
    assert b.rotations.shape == a.rotations.shape and b.origins.shape == a.origins.shape
    # float64 round-off of ~8 chained 3x3 products
    assert torch.allclose(b.rotations, a.rotations, rtol=0, atol=1e-12)
    assert torch.allclose(b.origins, a.origins, rtol=0, atol=1e-12)
    w = torch.randn(a.origins.shape, dtype=torch.float64)
    wr = torch.randn(a.rotations.shape, dtype=torch.float64)
    ga = torch.autograd.grad((a.origins * w).sum() + (a.rotations * wr).sum(), [q, root])
    gb = torch.autograd.grad((b.origins * w).sum() + (b.rotations * wr).sum(), [q, root])
    for x, y in zip(ga, gb, strict=True):
        assert torch.allclose(x, y, rtol=0, atol=1e-10)


def test_levels_fk_zero_pose_stacks_the_offsets() -> None:
    # Hand-computed reference: at q = 0 every rotation is the identity and each origin is the
    # sum of the offsets along the chain from the pelvis.
    offsets = sk.default_offsets(1.75)
    root = np.array([0.3, 0.9, -2.0])
    fk = forward_kinematics_levels(
        torch.zeros(sk.N_DOFS, dtype=torch.float64),
        torch.as_tensor(root),
        torch.as_tensor(offsets),
    )
    parents = sk.parents()
    expected = np.zeros((sk.N_BODIES, 3))
    for i in range(sk.N_BODIES):
        expected[i] = offsets[i] + (root if parents[i] < 0 else expected[parents[i]])
    np.testing.assert_allclose(fk.origins.numpy(), expected, atol=1e-12)
    np.testing.assert_allclose(fk.rotations.numpy(), np.broadcast_to(np.eye(3), (24, 3, 3)))


def test_levels_fk_refuses_wrong_shapes() -> None:
    q, root, offsets = _inputs((4,))
    with pytest.raises(ValueError, match="expected q"):
        forward_kinematics_levels(q[:, :40], root, offsets)
    with pytest.raises(ValueError, match="offsets_m"):
        forward_kinematics_levels(q, root, offsets[:20])


def test_pelvis_frame_points_follow_the_pelvis_like_the_full_chain() -> None:
    # The refinement's global phase moves only the pelvis: keypoints fixed in the pelvis frame,
    # turned by the pelvis rotation, must be where the full FK puts them.
    from core.refine import _pelvis_rotation

    q, root, offsets = _inputs((11,), seed=4)
    q, root = q.detach(), root.detach()
    bodies = torch.arange(sk.N_BODIES)
    local = torch.randn(sk.N_BODIES, 3, dtype=torch.float64) * 0.1
    fk = K.forward_kinematics(q, root, offsets)
    r_p, o_p = fk.rotations[:, 0], fk.origins[:, 0]
    assert torch.allclose(_pelvis_rotation(q), r_p, atol=1e-12)
    rigid = (K.body_points(fk, bodies, local) - o_p[:, None]) @ r_p
    q2 = q.clone()
    pelvis = [sk.DOF[n] for n in ("pelvis_tilt", "pelvis_list", "pelvis_rotation")]
    q2[:, pelvis] += torch.tensor([0.3, -0.2, 1.1], dtype=torch.float64)  # the pelvis only
    root2 = root + 0.5
    fk2 = K.forward_kinematics(q2, root2, offsets)
    moved = (root2 + offsets[0]).unsqueeze(1) + rigid @ _pelvis_rotation(q2).transpose(-1, -2)
    assert torch.allclose(moved, K.body_points(fk2, bodies, local), atol=1e-12)
