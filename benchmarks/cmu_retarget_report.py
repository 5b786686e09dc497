"""Retarget the CMU BVH clips onto BSM-46 (IK on joint positions) and report tracking error and
how often each DOF presses against a limit (within 2 deg of it).

    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/cmu_retarget_report.py [--fps 30]
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

from core import skeleton as sk

CMU = Path(__file__).resolve().parents[2] / "shared" / "data" / "mocap" / "cmu"


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("--fps", type=float, default=30.0)
    p.add_argument("--folder", type=Path, default=CMU)
    args = p.parse_args(argv)
    from core.bvh import retarget_bvh

    pressing: dict[str, list[float]] = {}
    for path in sorted(args.folder.glob("*.bvh")):
        motion, rep = retarget_bvh(path, target_fps=args.fps)
        errs = np.array(list(rep.error_mean_mm.values()))
        p95 = np.array(list(rep.error_p95_mm.values()))
        worst = max(rep.error_mean_mm, key=rep.error_mean_mm.get)
        print(
            f"{path.stem}: {motion.n_frames} frames at {motion.fps:.0f} fps, stature {rep.stature_m:.2f} m; "
            f"tracking error mean {errs.mean():.1f} mm (worst joint {worst} {rep.error_mean_mm[worst]:.1f} mm), "
            f"95th pct up to {p95.max():.1f} mm; limit violations {sk.limit_violations(motion.q_rad)}"
        )
        for name, frac in rep.at_limit_fraction.items():
            pressing.setdefault(name, []).append(frac)
    print("\nfraction of frames within 2 deg of a limit (mean over clips), DOFs above 5 %:")
    for name, fr in sorted(pressing.items(), key=lambda kv: -np.mean(kv[1])):
        if np.mean(fr) > 0.05:
            d = sk.DOFS[sk.DOF[name]]
            print(
                f"  {name:22} {np.mean(fr):6.1%}  (range {d.lower_deg:g}..{d.upper_deg:g} deg; "
                f"per clip {', '.join(f'{f:.0%}' for f in fr)})"
            )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
