"""The held-out evaluation list: ids, paths on the shared data, and training refusing them."""

from __future__ import annotations

import numpy as np
import pytest

from core import skeleton as sk
from core.mocap import holdout


def test_ids_and_subjects():
    assert holdout.is_held_out("131_01") and holdout.is_held_out("131_07")  # whole subject
    assert holdout.is_held_out("/x/cmu_more/dance/salsa_20.bvh")
    assert holdout.is_held_out("09_05.AMC")
    assert not holdout.is_held_out("01_01.bvh") and not holdout.is_held_out("salsa_06")
    assert not holdout.is_held_out("1131_01") and not holdout.is_held_out("13_1")
    ids = holdout.held_out_ids()
    assert len(ids) == len(set(ids))
    for activity in ("walking", "running", "jumping", "dance", "martial_arts"):
        assert holdout.HELD_OUT[activity], activity
    # Both partners of a salsa take are held out together (salsa_NN pairs with salsa_NN+15).
    for c in ids:
        if c.startswith("salsa_"):
            n = int(c.split("_")[1])
            partner = f"salsa_{n + 15 if n <= 15 else n - 15:02d}"
            assert holdout.is_held_out(partner), (c, partner)


def test_paths_on_shared_data(shared_data):
    paths = holdout.held_out_paths(shared_data)
    stems = [holdout.clip_id(p) for p in paths]
    assert stems[: len(holdout.held_out_ids())] == list(holdout.held_out_ids())
    assert len(stems) == len(set(stems))  # each take once
    assert all(p.is_file() and p.suffix == ".bvh" for p in paths)
    with pytest.raises(FileNotFoundError, match="no mocap data"):
        holdout.held_out_paths(shared_data / "does-not-exist")


def test_training_refuses_held_out_clips():
    from core.neurik.data import MotionBank

    bank = MotionBank()
    q = np.zeros((5, sk.N_DOFS))
    with pytest.raises(holdout.HeldOutClipError, match="held out for evaluation"):
        bank.add("martial_04", q, 30.0)
    with pytest.raises(ValueError, match="131_02"):
        bank.add("131_02", q, 30.0)
    bank.add("01_01", q, 30.0)
    assert bank.names == ["01_01"]
