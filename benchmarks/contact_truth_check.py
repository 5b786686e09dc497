"""Is the accuracy harness's contact truth physical? Its rule (``benchmarks.accuracy.render``:
a sole point within a height of the stance level and slower than a speed) applied to the two
marker trials' own motion (the IK of real markers driving the rendered body, the treadmill's
belt speed taken off), against those trials' force plates (a foot loaded above 20 N), for a
grid of height and speed limits: frame precision, recall and F1 per render, as
``benchmarks/grf_benchmark.py`` scores the capture's contacts.

    .venv/bin/python benchmarks/contact_truth_check.py

Needs the harness's rendered trials (``benchmarks/accuracy/run.py`` renders them into
``.cache/accuracy/clips/seed0``) and ``../shared/data/opensim`` (the plates).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from benchmarks import grf_benchmark as grf  # noqa: E402
from benchmarks.accuracy import render  # noqa: E402
from benchmarks.accuracy.run import belt_speed_mps  # noqa: E402

TAKES = (("gait2392_walk", grf.GAIT2392_PLATES), ("rajagopal_run", grf.RUN_PLATES))
HEIGHTS_M = (0.03, 0.04, 0.06, 0.08)
SPEEDS_MPS = (0.15, 0.30, 0.45, 0.60, 0.80, 1.00, 1.20, 1.50)


def belt_velocity(truth, vel: np.ndarray, low: np.ndarray, band_m: float = 0.03) -> np.ndarray:
    """(2,) the belt surface's horizontal velocity (X, Z): the harness's belt speed
    (``run.belt_speed_mps``) along the direction the stance soles ride (the mean velocity of
    the points within ``band_m`` of their lowest height)."""
    near = low[..., 1] < low[..., 1].min(0) + band_m
    drift = vel[near].mean(0)
    return drift / max(np.linalg.norm(drift), 1e-9) * belt_speed_mps(truth)


def trial_motion(clip: Path):
    """The rendered trial's true patch points (T, 4, 3), their speeds over the belt (T, 4) and
    the trial time of each frame."""
    from core.body import pose_surface

    info = json.loads((clip / "info.json").read_text())
    truth = render.Truth.load(clip / "truth.npz")
    subject = render.rebuilt_subject(info["spec"]["seed"], info["spec"]["take"], truth, clip)
    verts = pose_surface(subject, truth.q_rad, truth.root_m)
    low, vel = render.patch_motion(verts, render._foot_patches(subject), truth.fps)
    speed = np.linalg.norm(vel - belt_velocity(truth, vel, low), axis=-1)
    t = grf.trial_offset_s(info["spec"]) + np.arange(len(speed)) / truth.fps
    return low, speed, t


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--clips", type=Path, default=grf.CLIPS, help="rendered clips folder")
    args = ap.parse_args(argv)
    clips = [(c, plates) for take, plates in TAKES for c in sorted(args.clips.glob(f"{take}_v*"))]
    if not clips:
        print(f"error: no rendered trials under {args.clips}: run benchmarks/accuracy/run.py")
        return 1
    if not grf.GAIT2392_PLATES.mot.is_file():
        print(f"error: {grf.GAIT2392_PLATES.mot} not found: set BIOMOCAP_SHARED_DATA")
        return 1
    motions = [(c.name, *trial_motion(c), plates) for c, plates in clips]
    print(
        f"contact truth rule vs force plates (> {grf.PLATE_CONTACT_N:g} N), frame F1 per render; "
        f"the harness's rule: {render.CONTACT_HEIGHT_M:g} m, {render.CONTACT_SPEED_MPS:g} m/s"
    )
    print("height  speed  " + " ".join(f"{n[:7]}{n[-2:]:>4s}" for n, *_ in motions) + "  mean")
    for h in HEIGHTS_M:
        for s in SPEEDS_MPS:
            f1 = []
            for _, low, speed, t, plates in motions:
                flags, _, _ = render.contact_flags(low, speed, h, s)
                on = {"r": flags[:, 0] | flags[:, 1], "l": flags[:, 2] | flags[:, 3]}
                f1.append(grf.contact_timing(on, t, plates)["f1"])
            mark = (
                " <- the harness"
                if (h, s) == (render.CONTACT_HEIGHT_M, render.CONTACT_SPEED_MPS)
                else ""
            )
            print(
                f"{h:5.2f}  {s:5.2f}  " + " ".join(f"{x:11.2f}" for x in f1)
                + f"  {np.mean(f1):.3f}{mark}"
            )  # fmt: skip
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
