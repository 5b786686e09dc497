"""Quick accuracy check of the lifter against NeurIK on the accuracy harness's cached clips.

    python -m core.lift.evaluate                       # every clip under .cache/accuracy/clips/seed0
    python -m core.lift.evaluate --weights DIR --clips 12

Per clip (held-out takes rendered from random phone cameras, and the marker trials), from the
harness's cached MediaPipe detections and truth (``benchmarks/accuracy``; no capture is run):

* ``lift@mp``: the lifter on MediaPipe's 2D keypoints (the harness's true focal length);
* ``lift@gt2d``: the lifter on the projected true landmarks + Gaussian noise of 1 % of the
  person's image height (seeded);
* ``blend@mp``: the mean of ``lift@mp`` and NeurIK's default weights' angles;
* ``neurik@mp``: NeurIK (``core/neurik/weights/blazepose33``, and ``blazepose33_bank``) on
  MediaPipe's world landmarks, as the capture's prior stage runs it.

Angle MAE (deg) over hip flexion/adduction, knee, ankle, elbow (both sides; the gait2392 trial has
no arm markers: no elbows), and the lifter's pelvis orientation error against the truth seen
from the camera (deg, median). Then, per judged DOF, the lifter's MAE and mean signed error
(lifter minus truth: a constant bias shows here) on MediaPipe 2D, synthetic clips and trials.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np
import torch

from core import skeleton as sk
from core.lift.features import _BSM
from core.lift.model import ROOT
from core.lift.runtime import DEFAULT_WEIGHTS, lift, load_lifter

JUDGED = (
    "hip_flexion_r", "hip_flexion_l", "hip_adduction_r", "hip_adduction_l",
    "knee_angle_r", "knee_angle_l", "ankle_angle_r", "ankle_angle_l",
    "elbow_flexion_r", "elbow_flexion_l",
)  # fmt: skip
# The first 12 synthetic clips of ``benchmarks/accuracy/run.py --clips 12``
HARNESS_FIRST_12 = (
    "131_01_w0", "09_05_w0", "13_13_w0", "salsa_05_w0", "martial_04_w0", "14_08_w0",
    "131_01_w1", "09_11_w0", "13_13_w1", "salsa_05_w1", "martial_04_w1", "14_08_w1",
)  # fmt: skip
CLIPS = Path(__file__).resolve().parents[2] / ".cache" / "accuracy" / "clips" / "seed0"


def angle_mae(q_pred: np.ndarray, q_true: np.ndarray, dofs=JUDGED) -> dict[str, float]:
    idx = [sk.DOF[d] for d in dofs]
    err = np.rad2deg(np.abs(q_pred[:, idx] - q_true[:, idx])).mean(0)
    return dict(zip(dofs, err.tolist(), strict=True))


def angle_bias(q_pred: np.ndarray, q_true: np.ndarray, dofs=JUDGED) -> dict[str, float]:
    """Mean signed error (deg), prediction minus truth, per DOF."""
    idx = [sk.DOF[d] for d in dofs]
    err = np.rad2deg(q_pred[:, idx] - q_true[:, idx]).mean(0)
    return dict(zip(dofs, err.tolist(), strict=True))


def pelvis_error_deg(rot_pred: np.ndarray, q_true: np.ndarray, r_cam_world: np.ndarray) -> float:
    from core.lift.data import _root_matrix

    r_true = _BSM @ r_cam_world @ _root_matrix(q_true[:, ROOT])
    rel = np.swapaxes(rot_pred, -1, -2) @ r_true
    cos = np.clip((np.trace(rel, axis1=-2, axis2=-1) - 1) / 2, -1, 1)
    return float(np.median(np.rad2deg(np.arccos(cos))))


def evaluate_clip(folder: Path, net, seed: int = 0) -> dict:
    truth = np.load(folder / "truth.npz")
    det_p = sorted(folder.glob("detections-*.npz"))
    if not det_p:
        raise FileNotFoundError(f"{folder}: no cached detections (run benchmarks/accuracy first)")
    det = np.load(det_p[0])
    q_true = truth["q_rad"]
    fps = float(truth["fps"])
    f, cx, cy = det["camera_intrinsics"][:3]
    dofs = JUDGED[:8] if folder.name.startswith("gait2392") else JUDGED
    out: dict = {"clip": folder.name, "frames": len(q_true)}
    conf = np.where(det["person_found"][:, None], det["confidence"], 0.0)
    res = lift(det["keypoints_2d_px"], conf, focal_px=f, principal_px=(cx, cy), fps=fps, model=net)
    out["lift@mp"] = angle_mae(res.q_rad, q_true, dofs)
    out["lift_bias@mp"] = angle_bias(res.q_rad, q_true, dofs)
    out["pelvis_deg@mp"] = pelvis_error_deg(res.pelvis_rot, q_true, truth["R_cam_world"])
    rng = np.random.default_rng(seed)
    px = truth["blaze_px"]
    h = np.median(px[..., 1].max(-1) - px[..., 1].min(-1))
    gt = lift(px + rng.normal(scale=0.01 * h, size=px.shape), np.ones(px.shape[:2]),
              focal_px=f, principal_px=(cx, cy), fps=fps, model=net)  # fmt: skip
    out["lift@gt2d"] = angle_mae(gt.q_rad, q_true, dofs)
    out["pelvis_deg@gt2d"] = pelvis_error_deg(gt.pelvis_rot, q_true, truth["R_cam_world"])
    from core.neurik.markersets import mediapipe_world_to_bsm
    from core.neurik.runtime import run_neurik

    world = mediapipe_world_to_bsm(det["keypoints_3d_m"])
    for name in ("blazepose33", "blazepose33_bank"):
        try:
            nk = run_neurik(world, conf, model=name)
        except FileNotFoundError:
            continue
        out[f"neurik@mp:{name}"] = angle_mae(nk.q_rad, q_true, dofs)
        if name == "blazepose33":  # the two priors' mean (a convex blend stays in the limits)
            out["blend@mp"] = angle_mae(0.5 * (nk.q_rad + res.q_rad), q_true, dofs)
    return out


def _mean(rows: list[dict], key: str) -> float:
    vals = [np.mean(list(r[key].values())) for r in rows if key in r]
    return float(np.mean(vals)) if vals else float("nan")


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(
        prog="python -m core.lift.evaluate",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--weights", default=DEFAULT_WEIGHTS, help="lifter weights name or folder")
    p.add_argument("--cache", type=Path, default=CLIPS, help="the harness's clip folder")
    p.add_argument("--clips", type=int, default=None, help="only the first N synthetic clips")
    p.add_argument("--json", type=Path, default=None, help="write the per-clip rows here")
    args = p.parse_args(argv)
    torch.set_num_threads(1)
    try:
        net = load_lifter(args.weights)
    except (FileNotFoundError, ValueError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    folders = sorted(d for d in args.cache.glob("*") if (d / "truth.npz").is_file())
    if not folders:
        print(f"error: no harness clips in {args.cache}; run benchmarks/accuracy/run.py first",
              file=sys.stderr)  # fmt: skip
        return 2
    synth = [d for d in folders if not d.name.startswith(("gait2392", "rajagopal"))]
    trials = [d for d in folders if d.name.startswith(("gait2392", "rajagopal"))]
    if args.clips:  # the harness's order (benchmarks/accuracy/data.py: activities interleaved)
        first = [d for d in (args.cache / n for n in HARNESS_FIRST_12) if d in synth]
        synth = (first + [d for d in synth if d not in first])[: args.clips]
    rows = []
    keys = ["lift@mp", "lift@gt2d", "neurik@mp:blazepose33", "neurik@mp:blazepose33_bank",
            "blend@mp"]  # fmt: skip
    print("clip".ljust(20), " ".join(k.replace("neurik@mp:", "nk:")[:14].rjust(14) for k in keys),
          "pelvis@mp", "pelvis@gt2d")  # fmt: skip
    for d in synth + trials:
        r = evaluate_clip(d, net)
        rows.append(r)
        vals = [np.mean(list(r[k].values())) if k in r else np.nan for k in keys]
        print(d.name.ljust(20), " ".join(f"{v:14.1f}" for v in vals),
              f"{r['pelvis_deg@mp']:9.1f} {r['pelvis_deg@gt2d']:11.1f}", flush=True)  # fmt: skip
    for label, group in (("synthetic", synth), ("trials", trials)):
        names = {d.name for d in group}
        sub = [r for r in rows if r["clip"] in names]
        if sub:
            print(f"MEAN {label} ({len(sub)})".ljust(20),
                  " ".join(f"{_mean(sub, k):14.1f}" for k in keys),
                  f"{np.median([r['pelvis_deg@mp'] for r in sub]):9.1f}",
                  f"{np.median([r['pelvis_deg@gt2d'] for r in sub]):11.1f}")  # fmt: skip
    print(per_dof_table(rows, {d.name for d in synth}, {d.name for d in trials}))
    if args.json:
        args.json.write_text(json.dumps(rows, indent=1))
    return 0


def per_dof_table(rows: list[dict], synth: set[str], trials: set[str]) -> str:
    """The lifter on MediaPipe 2D per judged DOF: MAE and mean signed error (deg), averaged over
    the clips that judge the DOF."""
    lines = [
        f"{'lift@mp per DOF':20s} {'synth MAE':>9s} {'bias':>6s} {'trials MAE':>10s} {'bias':>6s}"
    ]
    for dof in JUDGED:
        vals = []
        for names in (synth, trials):
            sub = [r for r in rows if r["clip"] in names and dof in r["lift@mp"]]
            mae = np.mean([r["lift@mp"][dof] for r in sub]) if sub else np.nan
            bias = np.mean([r["lift_bias@mp"][dof] for r in sub]) if sub else np.nan
            vals += [mae, bias]
        lines.append(f"{dof:20s} {vals[0]:9.1f} {vals[1]:+6.1f} {vals[2]:10.1f} {vals[3]:+6.1f}")
    return "\n".join(lines)


if __name__ == "__main__":
    raise SystemExit(main())
