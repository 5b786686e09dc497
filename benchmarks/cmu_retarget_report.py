"""Retarget every CMU take in the shared data onto BSM-46 (IK on joint positions) and report, per
take, the naming read, the tracking error and how often each DOF presses against a limit (within
2 deg of it). Training takes come from the motion bank's cache when it holds them
(``python -m core.mocap.bank build``, same code); held-out takes and takes present in two formats
(the second copy) are retargeted here.

    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/cmu_retarget_report.py [--fps 30] [--max-frames N]
"""

from __future__ import annotations

import argparse
import json
import os
from pathlib import Path

import numpy as np

from core import skeleton as sk

REPO = Path(__file__).resolve().parents[1]


def _all_takes(shared: Path) -> list[tuple[Path, str]]:
    """(file, role) for every motion file: 'bank', 'held-out' or 'duplicate'."""
    from core.mocap.bank import bank_sources
    from core.mocap.holdout import held_out_paths

    sources, pairs = bank_sources(shared)
    out = [(p, "bank") for p in sources]
    out += [(p, "held-out") for p in held_out_paths(shared)]
    out += [(daz, "duplicate") for daz, _ in pairs]
    cmu_bvh = shared / "mocap" / "cmu" / "01_01.bvh"
    if cmu_bvh.is_file():
        out.append((cmu_bvh, "duplicate"))
    return out


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("--fps", type=float, default=30.0)
    p.add_argument("--max-frames", type=int, default=None, help="per take, after resampling")
    p.add_argument(
        "--shared-data",
        type=Path,
        default=Path(os.environ.get("BIOMOCAP_SHARED_DATA", REPO.parent / "shared" / "data")),
    )
    p.add_argument("--bank", type=Path, default=REPO / ".cache" / "motion_bank")
    args = p.parse_args(argv)
    from core.bvh import retarget_bvh
    from core.ik import IKConfig
    from core.mocap.holdout import clip_id

    print(
        f"{'take':12s} {'role':9s} {'naming':8s} {'frames':>6s} {'fps':>4s} {'track mm':>8s} "
        f"{'p95max':>6s} {'viol':>4s}  worst target / DOFs within 2 deg of a limit (>10 %)"
    )
    pressing: dict[str, list[float]] = {}
    errors = []
    for path, role in _all_takes(args.shared_data):
        meta_p = args.bank / "clips" / f"{clip_id(path)}.json"
        meta = json.loads(meta_p.read_text()) if meta_p.is_file() and role == "bank" else None
        if meta is not None:
            press = meta["pressing"]
            row = (meta["naming"], meta["n_frames"], meta["fps"], meta["error_mean_mm"],
                   meta["error_p95_max_mm"], meta["limit_violations"], meta["worst_target"],
                   meta["worst_target_mm"])  # fmt: skip
        else:
            motion, rep = retarget_bvh(
                path,
                target_fps=args.fps,
                max_frames=args.max_frames,
                ik_config=IKConfig(restart_rms_m=0.015),
            )
            press = {k: v for k, v in rep.at_limit_fraction.items() if v > 0.05}
            worst = max(rep.error_mean_mm, key=rep.error_mean_mm.get)
            row = (rep.convention, motion.n_frames, motion.fps,
                   float(np.mean(list(rep.error_mean_mm.values()))),
                   float(max(rep.error_p95_mm.values())), sk.limit_violations(motion.q_rad),
                   worst, rep.error_mean_mm[worst])  # fmt: skip
        naming, n, fps, err, p95, viol, worst, worst_mm = row
        errors.append(err)
        for k, v in press.items():
            pressing.setdefault(k, []).append(v)
        top = ", ".join(f"{k} {v:.0%}" for k, v in sorted(press.items(), key=lambda kv: -kv[1])
                        if v > 0.10)  # fmt: skip
        print(
            f"{clip_id(path):12s} {role:9s} {naming:8s} {n:6d} {fps:4.0f} {err:8.1f} {p95:6.1f} "
            f"{viol:4d}  {worst} {worst_mm:.1f} mm; {top or '-'}"
        )
    print(
        f"\n{len(errors)} takes; tracking error (mean over targets) median "
        f"{np.median(errors):.1f} mm, max {np.max(errors):.1f} mm"
    )
    print("DOFs pressing a limit (>5 % of frames) in how many takes:")
    for name, fr in sorted(pressing.items(), key=lambda kv: -len(kv[1])):
        d = sk.DOFS[sk.DOF[name]]
        print(
            f"  {name:22} {len(fr):3d} takes, mean {np.mean(fr):5.1%} of their frames "
            f"(range {d.lower_deg:g}..{d.upper_deg:g} deg)"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
