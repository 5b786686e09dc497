"""NeurIK throughput on this machine: torch (CPU) and onnxruntime, frames per second, plus the
largest torch/onnxruntime disagreement on the same input.

    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/neurik_benchmark.py [--marker-set anatomical]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("--marker-set", default="anatomical", choices=["anatomical", "blazepose33"])
    p.add_argument("--frames", type=int, default=3000)
    args = p.parse_args(argv)
    from core.neurik.runtime import OnnxNeurIK, export_onnx, load_neurik, run_neurik

    net = load_neurik(args.marker_set)
    m = len(net.cfg.marker_names)
    rng = np.random.default_rng(0)
    x = np.cumsum(rng.normal(scale=0.01, size=(args.frames, m, 3)), 0) + rng.normal(
        scale=0.3, size=(1, m, 3)
    )
    run_neurik(x[:64], model=net)  # warm-up
    t0 = time.perf_counter()
    a = run_neurik(x, model=net)
    t_torch = time.perf_counter() - t0
    with tempfile.TemporaryDirectory() as tmp:
        path = export_onnx(net, Path(tmp) / "neurik.onnx")
        size_mb = path.stat().st_size / 1e6
        runner = OnnxNeurIK(path, net.cfg)
        runner(x[:64])
        t0 = time.perf_counter()
        b = runner(x)
        t_ort = time.perf_counter() - t0
    print(f"NeurIK {args.marker_set}: {m} markers, window {net.cfg.window}, ONNX {size_mb:.1f} MB")
    print(
        f"  torch CPU:       {args.frames / t_torch:8.0f} frames/s ({1000 * t_torch / args.frames:.3f} ms/frame)"
    )
    print(
        f"  onnxruntime CPU: {args.frames / t_ort:8.0f} frames/s ({1000 * t_ort / args.frames:.3f} ms/frame)"
    )
    print(f"  max |q_onnx - q_torch| = {np.abs(a.q_rad - b.q_rad).max():.2e} rad")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
