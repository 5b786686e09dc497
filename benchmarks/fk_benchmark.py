"""FK throughput (frames/s, batch of 1,000) for torch float32/float64 and numpy on this CPU,
and peak memory. Not a test: ``python benchmarks/fk_benchmark.py``."""

from __future__ import annotations

import platform
import resource
import time
import tracemalloc

import numpy as np
import torch

from core import fk_numpy
from core import kinematics as kin
from core import skeleton as sk


def _rate(fn, n_frames: int, repeats: int = 20) -> float:
    fn()  # warm-up
    t0 = time.perf_counter()
    for _ in range(repeats):
        fn()
    return n_frames * repeats / (time.perf_counter() - t0)


def main() -> None:
    n = 1000
    rng = np.random.default_rng(0)
    lo, hi = sk.limits_rad()
    q = np.where(np.isfinite(lo), 0.0, 0.0) + 0.3 * rng.standard_normal((n, sk.N_DOFS))
    root = rng.standard_normal((n, 3))
    off = sk.default_offsets()
    print(
        f"CPU: {platform.processor() or platform.machine()}, torch threads {torch.get_num_threads()}"
    )
    default_threads = torch.get_num_threads()
    for threads in sorted({1, default_threads}):
        torch.set_num_threads(threads)
        for dtype in (torch.float32, torch.float64):
            qt, rt, ot = (torch.as_tensor(a, dtype=dtype) for a in (q, root, off))
            with torch.no_grad():
                rate = _rate(lambda qt=qt, rt=rt, ot=ot: kin.forward_kinematics(qt, rt, ot), n)
            print(f"torch {str(dtype):14s} {threads} thread(s) {rate:12,.0f} frames/s")
    torch.set_num_threads(default_threads)
    rate = _rate(lambda: fk_numpy.forward_kinematics(q, root, off), n)
    print(f"numpy float64        {rate:12,.0f} frames/s")
    tracemalloc.start()
    fk_numpy.forward_kinematics(q, root, off)
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    print(f"numpy FK peak traced memory (batch {n}): {peak / 2**20:.1f} MiB")
    print(f"process max RSS: {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MiB")


if __name__ == "__main__":
    main()
