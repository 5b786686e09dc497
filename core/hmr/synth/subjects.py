"""A pool of adult Anny subjects with random phenotypes, deterministic by seed.

Each subject's phenotype values come from its own random stream (the dataset seed, the pool
kind and the subject's index): the training pool and the held-out pool use different kinds, so
their bodies never coincide whatever the seeds. Ranges (Anny's 0..1 phenotype values):

=========== ============ =============================================================
gender      0 .. 1       male .. female (Anny blends between them)
age         0.55 .. 1.0  adults: Anny's anchors are child 1/3, young 2/3, old 1
muscle      0.1 .. 0.9
weight      0.1 .. 0.9
height      0.2 .. 0.55  men ~1.55..1.95 m, women ~0.13 m less (0..0.75 spans 1.36..2.18 m)
proportions 0.2 .. 0.8
=========== ============ =============================================================

A draw whose stature falls outside 1.45..1.98 m is drawn again (seed 0's pool of 48 spans
1.50..1.91 m, median 1.68 m). ``core.body.build_subject`` takes ~0.05 s per body once Anny is
loaded, so the pool is built in memory (no disk cache).
"""

from __future__ import annotations

import logging

import numpy as np

from core.body import Subject, build_subject

__all__ = ["SHAPE_RANGES", "STATURE_RANGE_M", "sample_shape", "subject_pool"]

log = logging.getLogger(__name__)

SHAPE_RANGES: dict[str, tuple[float, float]] = {
    "gender": (0.0, 1.0),
    "age": (0.55, 1.0),
    "muscle": (0.1, 0.9),
    "weight": (0.1, 0.9),
    "height": (0.2, 0.55),
    "proportions": (0.2, 0.8),
}
STATURE_RANGE_M = (1.45, 1.98)
_POOL_TRAIN, _POOL_HELD_OUT = 1, 2  # random-stream kinds (see generate: 0 = samples)


def sample_shape(rng: np.random.Generator) -> dict[str, float]:
    return {k: float(rng.uniform(lo, hi)) for k, (lo, hi) in SHAPE_RANGES.items()}


def subject_pool(n: int, seed: int, held_out: bool) -> list[Subject]:
    """``n`` subjects for a dataset of this seed (training or held-out pool)."""
    if n < 1:
        raise ValueError(f"the subject pool needs at least one shape, got {n}")
    kind = _POOL_HELD_OUT if held_out else _POOL_TRAIN
    out = []
    for i in range(n):
        rng = np.random.default_rng(np.random.SeedSequence(seed, spawn_key=(kind, i)))
        for _ in range(100):
            s = build_subject(sample_shape(rng))
            if STATURE_RANGE_M[0] <= s.height_m <= STATURE_RANGE_M[1]:
                break
        else:  # pragma: no cover - the ranges make this practically impossible
            raise RuntimeError(f"no subject within {STATURE_RANGE_M} m after 100 draws")
        out.append(s)
    log.info(
        "subject pool: %d %s bodies, stature %.2f..%.2f m",
        n,
        "held-out" if held_out else "training",
        min(s.height_m for s in out),
        max(s.height_m for s in out),
    )
    return out
