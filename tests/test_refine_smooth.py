"""The refinement corrects the prior's bias without adding frame-to-frame noise (issue 11).

A start that follows the true motion but sits 10 deg off on every judged joint, with noisy 2D
keypoints (8 px, ~3 cm at 4 m) and noisy pelvis-relative 3D keypoints (3 cm): the refinement must
take the offset off while keeping the start's own motion, i.e. end with the truth's jitter and a
high correlation with the true curves. A smoothness on the angles alone (as before: jitter
1.17x the truth's, r 0.89) lets the per-frame noise of the keypoints into the angles; a smooth
correction of the start (``RefineConfig.w_smooth_dq``) with one offset per DOF
(``offset_param``) does not (1.02x, r 0.97, measured).
"""

from __future__ import annotations

import numpy as np
import pytest

from core import fk_numpy
from core import skeleton as sk
from core.refine import RefineConfig, RefineInputs, refine
from tests.test_refine import _scene
from tests.test_refine_exact import JUDGED, offset_start


def _jitter_mps2(q: np.ndarray, offsets: np.ndarray, fps: float) -> float:
    """The harness's jitter: mean |acceleration| of the pelvis-relative body origins."""
    _, org = fk_numpy.forward_kinematics(q, np.zeros((len(q), 3)), offsets)
    p = org - org[:, :1]
    return float(np.linalg.norm((p[2:] - 2 * p[1:-1] + p[:-2]) * fps**2, axis=-1).mean())


# (prior weight, the share of the start's offset that may stay): 1.0 with the 3D pull at 10 per
# m^2 measured 9.5 -> 4.1 deg (3.0 with w_3d 20); the video default (2.0, a weak 3D pull of 1:
# RefineConfig.w_3d) 9.5 -> 5.6 (the earlier 4.0 with w_3d 10: 5.8).
@pytest.mark.parametrize("w_prior_q, kept", [(1.0, 0.5), (None, 0.75)])
def test_a_biased_start_is_corrected_without_adding_jitter(w_prior_q, kept) -> None:
    q, root, offsets, bodies, local, cam, _, pts = _scene(t=45, seed=7)
    rng = np.random.default_rng(1)
    kp = cam.project(pts) + rng.normal(scale=8.0, size=(*pts.shape[:2], 2))
    k3d = pts - root[:, None] + rng.normal(scale=0.03, size=pts.shape)
    start = offset_start(q, 10.0)
    idx = [sk.DOF[n] for n in JUDGED]
    inp = RefineInputs(
        kp, np.ones(kp.shape[:2]), cam, offsets, bodies, local, start, root, 30.0,
        keypoints_3d_rel_m=k3d,
    )  # fmt: skip
    cfg = RefineConfig() if w_prior_q is None else RefineConfig(w_prior_q=w_prior_q, w_3d=10.0)
    res = refine(inp, cfg)
    err0 = np.rad2deg(np.abs(start[:, idx] - q[:, idx])).mean()
    err = np.rad2deg(np.abs(res.q_rad[:, idx] - q[:, idx])).mean()
    r = np.mean([np.corrcoef(res.q_rad[:, i], q[:, i])[0, 1] for i in idx])
    jit, jit_true = _jitter_mps2(res.q_rad, offsets, 30.0), _jitter_mps2(q, offsets, 30.0)
    assert err0 > 8.0  # the start really is off
    # The offset comes off (the rest is the keypoints' noise and the pull toward the start).
    assert err < kept * err0, (err0, err)
    # The motion stays the truth's: r 0.98 and 1.02x its jitter measured, both weights (0.89,
    # 1.17x with a smoothness on the angles alone).
    assert r > 0.95, r
    assert jit < 1.1 * jit_true, (jit, jit_true)
    assert sk.limit_violations(res.q_rad) == 0
