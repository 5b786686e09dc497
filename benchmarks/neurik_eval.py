"""NeurIK weights compared on the held-out real motion (``core.mocap.holdout``: subject 131 and
the named walking/running/jumping/dance/martial-arts/turning takes), BlazePose landmarks.

Each held-out take is retargeted onto BSM-46 (30 fps, first ``--frames`` frames), put on a few
Anny subjects, and observed three ways: ``clean`` (exact landmarks), ``legacy`` (the noise the
first weights were trained with: jitter, depth error on a random horizontal axis, dropouts,
swaps, scale) and ``mediapipe`` (MediaPipe-world-landmark-like: camera pitch/roll, hip-centred,
depth error on the camera axis, limb depth ambiguity, frames without detection). The ``mediapipe``
model is the one the new weights were trained with: it favours them; ``clean`` and ``legacy``
do not. The accuracy harness (benchmarks/accuracy) judges on real MediaPipe output.

Prints per weights and condition: mean absolute error (deg) of hip flexion/adduction, knee,
ankle and elbow (both sides) and their mean, MPJPE (mm; body origins relative to the pelvis, with
the true pelvis orientation and skeleton, so only the joint angles count) and the mean error per
activity.

    .venv/bin/python benchmarks/neurik_eval.py [--weights blazepose33 PATH ...] [--frames 150]
    .venv/bin/python benchmarks/neurik_eval.py --legacy   # anatomical NeurIK vs core/OpenSim IK
    .venv/bin/python benchmarks/neurik_eval.py --accuracy-cache .cache/accuracy/clips \
        --weights blazepose33 PATH       # real MediaPipe world landmarks of the harness' renders

``--accuracy-cache`` runs the weights on the MediaPipe detections the accuracy harness cached for
its renders of held-out motion (``truth.npz`` + ``detections-*.npz`` per clip), exactly as the
capture feeds NeurIK, and compares with the rendered truth: the prior alone on real detector
output, no surface fit or refinement.
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


def legacy_anatomical(args: argparse.Namespace) -> int:
    """NeurIK (anatomical markers) vs core IK vs OpenSim IK on 131_01..03 (the first benchmark)."""
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


KEY_DOFS = tuple(
    f"{n}_{s}"
    for n in ("hip_flexion", "hip_adduction", "knee_angle", "ankle_angle", "elbow_flexion")
    for s in ("r", "l")
)
REPO = Path(__file__).resolve().parents[1]


def _held_out_motions(shared: Path, frames: int, cache: Path) -> list[tuple[str, str, np.ndarray]]:
    """[(activity, clip, q_rad (T, 46))] for every held-out take, retargeted at 30 fps (cached)."""
    import hashlib

    from core.bvh import retarget_bvh
    from core.ik import IKConfig
    from core.mocap.holdout import HELD_OUT, clip_id, held_out_paths

    activity = {c: a for a, clips in HELD_OUT.items() for c in clips}
    out = []
    for path in held_out_paths(shared):
        cid = clip_id(path)
        key = hashlib.sha1(path.read_bytes() + (REPO / "core/bvh.py").read_bytes()).hexdigest()
        f = cache / f"{cid}-{frames}-{key[:10]}.npz"
        if f.is_file():
            q = np.load(f)["q_rad"]
        else:
            motion, _ = retarget_bvh(
                path, target_fps=30, max_frames=frames, ik_config=IKConfig(restart_rms_m=0.015)
            )
            q = motion.q_rad
            cache.mkdir(parents=True, exist_ok=True)
            np.savez(f, q_rad=q)
        out.append((activity.get(cid, "walking"), cid, q))
    return out


def _noise(kind: str):
    from core.neurik.data import NoiseConfig

    if kind == "clean":
        return NoiseConfig(jitter_m=0, depth_m=0, dropout=0, swap_rate=0, scale=0)
    if kind == "legacy":  # what core.neurik.train used for blazepose33 before the bank
        return NoiseConfig(jitter_m=0.02, depth_m=0.06, scale=0.06)
    return NoiseConfig(
        jitter_m=0.02,
        depth_m=0.06,
        scale=0.06,
        camera_frame=True,
        limb_depth=0.15,
        frame_drop=0.02,
    )


def _pose_mpjpe_mm(q: np.ndarray, q_true: np.ndarray, offsets: np.ndarray) -> float:
    q = q.copy()
    root_idx = [sk.DOF["pelvis_tilt"], sk.DOF["pelvis_list"], sk.DOF["pelvis_rotation"]]
    q[:, root_idx] = q_true[:, root_idx]
    zero = np.zeros((len(q), 3))
    _, a = fk_numpy.forward_kinematics(q, zero, offsets)
    _, b = fk_numpy.forward_kinematics(q_true, zero, offsets)
    return float(1e3 * np.linalg.norm(a - b, axis=-1).mean())


def compare_weights(args: argparse.Namespace) -> int:
    from core.neurik.data import Sampler
    from core.neurik.runtime import load_neurik, run_neurik
    from core.neurik.train import make_subjects

    torch.set_num_threads(1)
    shared = args.shared_data
    motions = _held_out_motions(shared, args.frames, REPO / ".cache" / "neurik_eval")
    ms, subjects = make_subjects("blazepose33", args.subjects, seed=12345)
    nets = {w: load_neurik(w) for w in args.weights}
    rows = []  # (weights, condition, activity, clip, {dof: mae}, mpjpe, ms_per_frame)
    for ci, (act, clip, q_true) in enumerate(motions):
        subj = subjects[ci % len(subjects)]
        root = np.zeros((1, len(q_true), 3)) + [0.0, 0.95, 0.0]
        for cond in args.conditions:
            sampler = Sampler([subj], ms, None, _noise(cond), window=len(q_true), seed=ci)
            b = sampler.observe(q_true[None], root, [subj])
            x, c = b.markers_m[0].double().numpy(), b.confidence[0].double().numpy()
            qt = b.q_rad[0].double().numpy()
            for w, net in nets.items():
                t0 = time.perf_counter()
                res = run_neurik(x, c, model=net)
                dt = (time.perf_counter() - t0) / len(qt)
                mae = {
                    n: float(np.rad2deg(np.abs(res.q_rad[:, sk.DOF[n]] - qt[:, sk.DOF[n]])).mean())
                    for n in KEY_DOFS
                }
                mp = _pose_mpjpe_mm(res.q_rad, qt, subj.offsets_m)
                rows.append((w, cond, act, clip, mae, mp, 1e3 * dt))
    n_frames = sum(len(m[2]) for m in motions)
    print(
        f"held-out real motion: {len(motions)} takes ({n_frames} frames at 30 fps, first "
        f"{args.frames} of each), {len(subjects)} Anny subjects, BlazePose landmarks"
    )
    short = {n: n.replace("_angle", "").replace("_flexion", "_flex").replace("adduction", "add")
             for n in KEY_DOFS}  # fmt: skip
    print(
        f"{'weights':28s} {'condition':10s}"
        + "".join(f"{short[n]:>12s}" for n in KEY_DOFS)
        + f"{'mean':>7s}{'MPJPE':>7s}{'ms/fr':>7s}"
    )
    summary = {}
    for w in args.weights:
        for cond in args.conditions:
            sel = [r for r in rows if r[0] == w and r[1] == cond]
            per = {n: np.mean([r[4][n] for r in sel]) for n in KEY_DOFS}
            mean = float(np.mean(list(per.values())))
            mp = float(np.mean([r[5] for r in sel]))
            summary[(w, cond)] = (mean, mp)
            print(
                f"{str(w)[-28:]:28s} {cond:10s}"
                + "".join(f"{per[n]:12.1f}" for n in KEY_DOFS)
                + f"{mean:7.1f}{mp:7.0f}{np.mean([r[6] for r in sel]):7.2f}"
            )
    acts = list(dict.fromkeys(r[2] for r in rows))
    print("\nmean of the 10 DOFs (deg) per activity")
    print(f"{'weights':28s} {'condition':10s}" + "".join(f"{a:>13s}" for a in acts))
    for w in args.weights:
        for cond in args.conditions:
            vals = [
                np.mean([np.mean(list(r[4].values())) for r in rows
                         if r[0] == w and r[1] == cond and r[2] == a])
                for a in acts
            ]  # fmt: skip
            print(f"{str(w)[-28:]:28s} {cond:10s}" + "".join(f"{v:13.1f}" for v in vals))
    if args.json:
        import json

        args.json.write_text(
            json.dumps(
                [
                    {"weights": str(r[0]), "condition": r[1], "activity": r[2], "clip": r[3],
                     "mae_deg": r[4], "mpjpe_mm": r[5], "ms_per_frame": r[6]}
                    for r in rows
                ],
                indent=1,
            )
        )  # fmt: skip
    return 0


def on_accuracy_cache(args: argparse.Namespace) -> int:
    from core.neurik.markersets import mediapipe_world_to_bsm
    from core.neurik.runtime import load_neurik, run_neurik

    torch.set_num_threads(1)
    nets = {w: load_neurik(w) for w in args.weights}
    rows = []
    for truth_p in sorted(args.accuracy_cache.rglob("truth.npz")):
        dets = sorted(truth_p.parent.glob("detections-*.npz"))
        if not dets:
            continue
        with np.load(truth_p) as t, np.load(dets[-1]) as d:
            q_true, offsets = t["q_rad"], t["offsets_m"]
            world = mediapipe_world_to_bsm(d["keypoints_3d_m"])
            conf = np.where(d["person_found"][:, None], d["confidence"], 0.0)
            idx = d["frame_indices"]
        q_true = q_true[idx]
        if not (conf > 0).any():
            continue
        name = truth_p.parent.name
        for w, net in nets.items():
            res = run_neurik(world, conf, model=net)
            mae = {
                n: float(np.rad2deg(np.abs(res.q_rad[:, sk.DOF[n]] - q_true[:, sk.DOF[n]])).mean())
                for n in KEY_DOFS
            }
            rows.append((w, name, len(q_true), mae, _pose_mpjpe_mm(res.q_rad, q_true, offsets)))
    if not rows:
        print(f"no clip with truth.npz and detections-*.npz under {args.accuracy_cache}")
        return 1
    clips = list(dict.fromkeys(r[1] for r in rows))
    print(
        f"NeurIK alone on MediaPipe world landmarks of {len(clips)} rendered held-out clips "
        f"({sum(r[2] for r in rows) // len(nets)} frames): MAE (deg) of the 10 judged DOFs"
    )
    print(
        f"{'weights':28s}" + "".join(f"{n.replace('_angle', ''):>17s}" for n in KEY_DOFS)
        + f"{'mean':>7s}{'MPJPE':>7s}"
    )  # fmt: skip
    for w in args.weights:
        sel = [r for r in rows if r[0] == w]
        nf = np.array([r[2] for r in sel], dtype=float)
        per = {n: float(np.average([r[3][n] for r in sel], weights=nf)) for n in KEY_DOFS}
        mp = float(np.average([r[4] for r in sel], weights=nf))
        print(
            f"{str(w)[-28:]:28s}" + "".join(f"{per[n]:17.1f}" for n in KEY_DOFS)
            + f"{np.mean(list(per.values())):7.1f}{mp:7.0f}"
        )  # fmt: skip
    print("per clip, mean of the 10 DOFs:")
    for c in clips:
        print(
            f"  {c:24s}"
            + "".join(f"{np.mean(list(r[3].values())):8.1f}" for r in rows if r[1] == c)
        )
    return 0


def main(argv: list[str] | None = None) -> int:
    import os

    p = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("--weights", nargs="+", default=["blazepose33"], help="names or folders")
    p.add_argument("--conditions", nargs="+", default=["clean", "legacy", "mediapipe"])
    p.add_argument("--frames", type=int, default=150, help="frames per take (at 30 fps)")
    p.add_argument("--subjects", type=int, default=3)
    p.add_argument("--json", type=Path, default=None)
    p.add_argument(
        "--shared-data",
        type=Path,
        default=Path(os.environ.get("BIOMOCAP_SHARED_DATA", REPO.parent / "shared" / "data")),
    )
    p.add_argument("--legacy", action="store_true", help="the first benchmark (anatomical)")
    p.add_argument("--accuracy-cache", type=Path, default=None, help="harness clip cache")
    p.add_argument("--opensim-frames", type=int, default=60, help="--legacy only")
    p.add_argument("--seed", type=int, default=0, help="--legacy only")
    args = p.parse_args(argv)
    if args.legacy:
        if args.frames == 150:
            args.frames = 600
        return legacy_anatomical(args)
    if args.accuracy_cache:
        return on_accuracy_cache(args)
    return compare_weights(args)


if __name__ == "__main__":
    raise SystemExit(main())
