"""NeurIK on the held-out CMU clips (131_01..03) with detector-like noise, against optimisation IK.

Prints, per method, the mean absolute joint-angle error per DOF group (deg), MPJPE of the body
origins (mm), jitter (mean joint acceleration, m/s^2) and time per frame. Methods: NeurIK
(anatomical markers), core's optimisation IK (per frame, no smoothing), and OpenSim IK on the same
markers and our exported model (on a subset of frames: it is slow).

    .venv/bin/python benchmarks/neurik_eval.py [--frames 600] [--opensim-frames 120]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from core import fk_numpy
from core import skeleton as sk
from core.metrics import dof_group_errors_deg, mpjpe_mm

GROUPS = sk.DOF_GROUPS
SHARED = Path(__file__).resolve().parents[2] / "shared" / "data" / "mocap" / "cmu"


def metrics(
    q: np.ndarray,
    q_true: np.ndarray,
    root: np.ndarray,
    root_true: np.ndarray,
    offsets_pred,
    offsets_true,
    fps: float,
) -> dict[str, float]:
    out = dof_group_errors_deg(q, q_true, GROUPS)
    _, o_pred = fk_numpy.forward_kinematics(q, root, offsets_pred)
    _, o_true = fk_numpy.forward_kinematics(q_true, root_true, offsets_true)
    out["mpjpe_mm"] = float(mpjpe_mm(o_pred, o_true).mean())
    acc = (o_pred[2:] - 2 * o_pred[1:-1] + o_pred[:-2]) * fps**2
    out["jitter_mps2"] = float(np.linalg.norm(acc, axis=-1).mean())
    return out


def _opensim_ik(
    subject, markers_m: np.ndarray, fps: float, folder: Path
) -> tuple[np.ndarray, np.ndarray]:
    """OpenSim IK on our exported model and the same (noisy) markers; includes the model export
    and file IO, as a user would run it."""
    from biomech_export import export_motion, read_mot, run_ik
    from biomech_export.mot import table_to_q_root
    from core.motion import Motion

    t = len(markers_m)
    motion = Motion(
        fps=fps,
        q_rad=np.zeros((t, 46)),
        root_m=np.zeros((t, 3)),
        offsets_m=subject.offsets_m,
        height_m=subject.height_m,
        mass_kg=subject.mass_kg,
        marker_names=subject.marker_names,
        marker_bodies=subject.marker_bodies,
        marker_local_m=subject.marker_local_m,
        markers_m=markers_m,
    )
    res = export_motion(motion, folder, name="eval", setups=False)
    ik = run_ik(res.osim_path, res.trc_path, folder / "ik")
    return table_to_q_root(read_mot(ik.mot_path))


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("--frames", type=int, default=600, help="frames per clip (at 30 fps)")
    p.add_argument("--opensim-frames", type=int, default=60)
    p.add_argument("--seed", type=int, default=0)
    args = p.parse_args(argv)
    torch.set_num_threads(1)  # faster than 2 on these 2-core machines (measured)

    from core.body import default_subject
    from core.bvh import retarget_bvh
    from core.ik import solve_ik
    from core.neurik.data import NoiseConfig, Sampler, SubjectGeometry
    from core.neurik.markersets import anatomical
    from core.neurik.runtime import load_neurik, run_neurik

    subject = default_subject()
    ms = anatomical(subject.marker_names)
    geom = SubjectGeometry(subject.offsets_m, subject.marker_bodies, subject.marker_local_m)
    net = load_neurik("anatomical")
    rng = np.random.default_rng(args.seed)
    rows: dict[str, list[dict]] = {"NeurIK": [], "core IK": [], "OpenSim IK": []}
    times: dict[str, list[float]] = {k: [] for k in rows}
    for clip in ("131_01", "131_02", "131_03"):
        motion, _ = retarget_bvh(SHARED / f"{clip}.bvh")
        step = max(1, round(motion.fps / 30))
        q_true = motion.q_rad[::step][: args.frames]
        fps = motion.fps / step
        root_true = motion.root_m[::step][: args.frames]
        fk = fk_numpy.forward_kinematics(q_true, root_true, subject.offsets_m)
        clean = fk_numpy.body_points(*fk, subject.marker_bodies, subject.marker_local_m)
        sampler = Sampler([geom], ms, None, NoiseConfig(), window=len(q_true), seed=args.seed)
        sampler.rng = rng
        noisy, conf = sampler._corrupt(clean[None])
        noisy, conf = noisy[0], conf[0]

        t0 = time.perf_counter()
        nk = run_neurik(noisy, conf, model=net)
        times["NeurIK"].append((time.perf_counter() - t0) / len(q_true))
        rows["NeurIK"].append(
            metrics(nk.q_rad, q_true, nk.root_m, root_true, nk.offsets_m, subject.offsets_m, fps)
        )

        t0 = time.perf_counter()
        ik = solve_ik(
            torch.from_numpy(noisy),
            subject.marker_bodies,
            subject.marker_local_m,
            subject.offsets_m,
            weights=torch.from_numpy(conf),
        )
        times["core IK"].append((time.perf_counter() - t0) / len(q_true))
        rows["core IK"].append(
            metrics(
                ik.q_rad.numpy(),
                q_true,
                ik.root_m.numpy(),
                root_true,
                subject.offsets_m,
                subject.offsets_m,
                fps,
            )
        )
        n_os = min(args.opensim_frames, len(q_true))
        with tempfile.TemporaryDirectory() as tmp:
            t0 = time.perf_counter()
            q_os, root_os = _opensim_ik(subject, noisy[:n_os], fps, Path(tmp))
            times["OpenSim IK"].append((time.perf_counter() - t0) / n_os)
        rows["OpenSim IK"].append(
            metrics(
                q_os,
                q_true[:n_os],
                root_os,
                root_true[:n_os],
                subject.offsets_m,
                subject.offsets_m,
                fps,
            )
        )

    cols = list(GROUPS) + ["mpjpe_mm", "jitter_mps2"]
    print(f"held-out CMU 131_01..03, {args.frames} frames each at 30 fps, detector-like noise")
    print(f"{'method':12}" + "".join(f"{c:>12}" for c in cols) + f"{'ms/frame':>12}")
    for k, r in rows.items():
        if not r:
            continue
        mean = {c: np.mean([x[c] for x in r]) for c in cols}
        print(
            f"{k:12}"
            + "".join(f"{mean[c]:12.2f}" for c in cols)
            + f"{1000 * np.mean(times[k]):12.3f}"
        )
    if times["OpenSim IK"]:
        print(
            f"NeurIK speed-up over OpenSim IK: {np.mean(times['OpenSim IK']) / np.mean(times['NeurIK']):.0f}x"
        )
    print(
        "(angle columns: mean absolute error in degrees; truth = the clip retargeted onto BSM-46)"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
