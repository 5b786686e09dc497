"""BVH reader and CMU retargeting onto BSM-46."""

from __future__ import annotations

import numpy as np
import pytest

from core import bvh
from core import skeleton as sk
from tests.conftest import shared_path


def test_reader_and_bvh_fk_on_cmu_walk():
    data = bvh.read_bvh(shared_path("mocap", "cmu", "01_01.bvh"))
    assert data.motion.shape == (2752, 96)  # frames x channels as the header says
    assert abs(1.0 / data.frame_time_s - 120.0) < 0.1
    pos, ends = bvh.bvh_positions(data)
    # Rigid segments: the thigh length is the same in every frame (independent of our FK).
    thigh = np.linalg.norm(
        pos[:, data.index("LeftLeg")] - pos[:, data.index("LeftUpLeg")], axis=-1
    )
    off = np.linalg.norm(data.joints[data.index("LeftLeg")].offset)
    np.testing.assert_allclose(thigh, off, rtol=1e-9)
    # Y is up: the head is above the feet in every frame.
    assert (pos[:, data.index("Head"), 1] > pos[:, data.index("LeftFoot"), 1]).all()


def test_bad_bvh(tmp_path):
    p = tmp_path / "x.bvh"
    p.write_text("HELLO")
    with pytest.raises(ValueError, match="BVH"):
        bvh.read_bvh(p)
    with pytest.raises(FileNotFoundError):
        bvh.read_bvh(tmp_path / "missing.bvh")


@pytest.mark.slow
def test_retarget_cmu_walk_tracks_joint_centres():
    motion, report = bvh.retarget_bvh(shared_path("mocap", "cmu", "01_01.bvh"), max_frames=60)
    print("\n" + report.summary())
    assert report.unit.startswith("cmu")
    assert 1.4 < report.stature_m < 2.0
    assert sk.limit_violations(motion.q_rad) == 0
    assert motion.n_frames == 60 and motion.fps == pytest.approx(120, rel=1e-3)
    # Leg joint centres are tracked within a centimetre on average.
    for n in ("LeftLeg", "RightLeg", "LeftFoot", "RightFoot", "LeftUpLeg", "RightUpLeg"):
        assert report.error_mean_mm[n] < 10.0, (n, report.error_mean_mm[n])
    assert max(report.error_p95_mm.values()) < 60.0
