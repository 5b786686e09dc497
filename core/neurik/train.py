"""Train NeurIK on synthetic data and write the weights shipped in ``core/neurik/weights``.

    python -m core.neurik.train --marker-set anatomical --steps 6000 -o core/neurik/weights/anatomical
    python -m core.neurik.train --marker-set blazepose33 --bank --steps 6000 -o core/neurik/weights/blazepose33

``--bank`` trains on the real-motion bank (``python -m core.mocap.bank build``: every CMU take
except the held-out ones) instead of the CMU BVH folder; ``--camera-noise`` corrupts BlazePose
landmarks as MediaPipe's world landmarks are (camera-aligned frame with pitch/roll, hip-centred,
depth errors on the camera axis, limb depth ambiguity, frames without detection).
``--init-from`` starts from other weights of the same architecture; ``--resume`` continues an
interrupted run from its checkpoint (written every 200 steps beside the output).

Deterministic for a given seed (on CPU). About 0.2 s per step on 2 CPU cores at the default size.
"""

from __future__ import annotations

import argparse
import json
import logging
import time
from pathlib import Path

import numpy as np
import torch
from tqdm import tqdm
from tqdm.contrib.logging import logging_redirect_tqdm

from core import kinematics as K
from core import skeleton as sk
from core.neurik.data import MotionBank, NoiseConfig, Sampler, SubjectGeometry
from core.neurik.markersets import get_marker_set
from core.neurik.model import NeurIK, NeurIKConfig

log = logging.getLogger(__name__)

_ROOT_IDX = [sk.DOF["pelvis_tilt"], sk.DOF["pelvis_list"], sk.DOF["pelvis_rotation"]]


def make_subjects(marker_set_name: str, n: int, seed: int):
    """n random Anny subjects (plus the default one) as SubjectGeometry for the marker set."""
    from core.body import build_subject, default_subject

    rng = np.random.default_rng(seed)
    subjects = [default_subject()]
    labels = subjects[0].shape_labels
    for _ in range(n - 1):
        shape = {lab: float(np.clip(rng.beta(2.0, 2.0), 0.02, 0.98)) for lab in labels}
        subjects.append(build_subject(shape))
    ms = get_marker_set(marker_set_name, subjects[0].marker_names)
    out = []
    for s in subjects:
        bodies, local = ms.define(s)
        out.append(SubjectGeometry(np.asarray(s.offsets_m), bodies, local))
    return ms, out


def loss_terms(out, batch) -> dict[str, torch.Tensor]:
    """Angle, position, root and scale losses. Positions use the true skeleton so that the pose
    terms do not depend on the scale estimate; the scale has its own term."""
    q_err = out.q_rad - batch.q_rad
    limited = torch.ones(sk.N_DOFS, dtype=torch.bool)
    limited[_ROOT_IDX] = False
    ang = q_err[..., limited].abs().mean()
    root_ang = (1 - torch.cos(q_err[..., ~limited])).mean()
    offsets = batch.offsets_m[:, None]
    # Limb terms use the true pelvis orientation: an early heading error would otherwise swamp the
    # gradient of every joint angle. The pelvis angles have their own term above.
    q_limbs = out.q_rad.clone()
    q_limbs[..., ~limited] = batch.q_rad[..., ~limited]
    fk_pred = K.forward_kinematics(q_limbs, batch.root_m, offsets)
    fk_true = K.forward_kinematics(batch.q_rad, batch.root_m, offsets)
    joints = (fk_pred.origins - fk_true.origins).norm(dim=-1).mean()
    rot = (fk_pred.rotations - fk_true.rotations).square().sum((-1, -2)).mean()
    root = (out.root_m - batch.root_m).norm(dim=-1).mean()
    scale = (out.segment_scale - batch.segment_scale).abs().mean()
    vel = (
        ((out.q_rad[:, 1:] - out.q_rad[:, :-1]) - (batch.q_rad[:, 1:] - batch.q_rad[:, :-1]))[
            ..., limited
        ]
        .abs()
        .mean()
    )
    return {
        "angle": ang,
        "root_angle": root_ang,
        "joints_m": joints,
        "rot": rot,
        "root_m": root,
        "scale": scale,
        "vel": vel,
    }


WEIGHTS = {
    "angle": 3.0,
    "root_angle": 2.0,
    "joints_m": 5.0,
    "rot": 0.1,
    "root_m": 2.0,
    "scale": 1.0,
    "vel": 2.0,
}


def train(args: argparse.Namespace) -> Path:
    torch.manual_seed(args.seed)
    torch.set_num_threads(args.threads)
    t0 = time.time()
    ms, subjects = make_subjects(args.marker_set, args.subjects, args.seed)
    log.info("built %d subjects in %.0f s", len(subjects), time.time() - t0)
    bank = MotionBank()
    bank_dir = None
    if args.bank:
        from core.mocap.bank import DEFAULT_BANK

        bank_dir = DEFAULT_BANK if args.bank is True else Path(args.bank)
        bank.add_bank(bank_dir)
    elif args.cmu and args.cmu.is_dir():
        bank.add_bvh_folder(args.cmu)
    noise = NoiseConfig(scale=0.06 if args.marker_set == "blazepose33" else 0.0)
    if args.marker_set == "blazepose33":
        noise.jitter_m, noise.depth_m = 0.02, 0.06
    if args.camera_noise:
        noise.camera_frame, noise.limb_depth, noise.frame_drop = True, 0.15, 0.02
    sampler = Sampler(
        subjects,
        ms,
        bank,
        noise,
        window=args.window,
        seed=args.seed,
        random_fraction=args.random_fraction,
    )
    cfg = NeurIKConfig(
        marker_set=ms.name,
        marker_names=ms.names,
        window=args.window,
        d_model=args.d_model,
        n_temporal_layers=args.layers,
    )
    net = NeurIK(cfg)
    if args.init_from:
        from safetensors.torch import load_file

        net.load_state_dict(
            load_file(str(Path(args.init_from) / "model.safetensors")), strict=True
        )
        log.info("initialised from %s", args.init_from)
    opt = torch.optim.AdamW(net.parameters(), lr=args.lr, weight_decay=1e-4)
    sched = torch.optim.lr_scheduler.OneCycleLR(
        opt, max_lr=args.lr, total_steps=args.steps, pct_start=0.05
    )
    history: list[dict] = []
    bank_mtime = (bank_dir / "bank.json").stat().st_mtime if bank_dir else None
    growth = [[0, len(bank.names), sum(map(len, bank.clips))]]  # [step, pieces, frames]
    start = 0
    ckpt = Path(args.output) / "checkpoint.pt"
    if args.resume and ckpt.is_file():
        state = torch.load(ckpt, weights_only=False)
        net.load_state_dict(state["net"])
        opt.load_state_dict(state["opt"])
        if state["sched"].get("total_steps") == args.steps:
            sched.load_state_dict(state["sched"])
        else:  # a new step budget: anneal from the current rate to 0 over the steps left
            lr_now = opt.param_groups[0]["lr"]
            left = max(1, args.steps - state["step"] - 1)
            for g in opt.param_groups:
                g["lr"] = g["initial_lr"] = lr_now
            sched = torch.optim.lr_scheduler.LambdaLR(
                opt, lambda k: 0.5 * (1 + np.cos(np.pi * min(k, left) / left))
            )
            log.info(
                "new step budget %d: lr %.2e annealed over %d steps", args.steps, lr_now, left
            )
        sampler.rng.bit_generator.state = state["rng"]
        torch.set_rng_state(state["torch_rng"])
        history, start = state["history"], state["step"] + 1
        growth = state.get("growth", growth)
        if args.bank_follow and bank_dir is not None:
            bank_mtime = None  # reload at the next check
        t0 -= state["seconds"]
        log.info("resumed at step %d", start)
    with logging_redirect_tqdm():
        bar = tqdm(range(start, args.steps), desc=f"NeurIK {ms.name}", unit="step")
        for step in bar:
            batch = sampler(args.batch)
            out = net(batch.markers_m, batch.confidence)
            terms = loss_terms(out, batch)
            loss = sum(WEIGHTS[k] * v for k, v in terms.items())
            opt.zero_grad(set_to_none=True)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(net.parameters(), 1.0)
            opt.step()
            sched.step()
            if step % 50 == 0 or step == args.steps - 1:
                row = {k: float(v) for k, v in terms.items()} | {"step": step, "loss": float(loss)}
                history.append(row)
                bar.set_postfix(
                    mpjpe_mm=f"{1000 * row['joints_m']:.0f}", deg=f"{np.rad2deg(row['angle']):.1f}"
                )
            if args.bank_follow and bank_dir is not None and (step + 1) % 200 == 0:
                mtime = (bank_dir / "bank.json").stat().st_mtime
                if mtime != bank_mtime:  # the bank is still being built: take the new takes
                    grown = MotionBank()
                    grown.add_bank(bank_dir)
                    sampler.bank, bank_mtime = grown, mtime
                    growth.append([step + 1, len(grown.names), sum(map(len, grown.clips))])
            if (step + 1) % 200 == 0 and step + 1 < args.steps:
                Path(args.output).mkdir(parents=True, exist_ok=True)
                tmp = ckpt.with_suffix(".tmp")
                torch.save(
                    {
                        "net": net.state_dict(),
                        "opt": opt.state_dict(),
                        "sched": sched.state_dict(),
                        "rng": sampler.rng.bit_generator.state,
                        "torch_rng": torch.get_rng_state(),
                        "history": history,
                        "growth": growth,
                        "step": step,
                        "seconds": time.time() - t0,
                    },
                    tmp,
                )
                tmp.replace(ckpt)
    cfg.training = {
        "steps": args.steps,
        "batch": args.batch,
        "lr": args.lr,
        "seed": args.seed,
        "subjects": len(subjects),
        "motion": (
            f"real-motion bank ({len(sampler.bank.names)} pieces, "
            f"{sum(map(len, sampler.bank.clips)) / 1800:.1f} min at 30 fps; core.mocap.bank)"
            if args.bank
            else f"CMU BVH folder: {', '.join(bank.names)}"
        ),
        "random_fraction": sampler.random_fraction,
        "bank_growth": growth if args.bank_follow else None,
        "bank_clips": sampler.bank.names if sampler.bank is not None else [],
        "noise": {k: v for k, v in vars(noise).items()},
        "init_from": str(args.init_from) if args.init_from else None,
        "minutes": round((time.time() - t0) / 60, 1),
        "final": history[-1] if history else {},
        "command": "python -m core.neurik.train " + " ".join(args.argv),
    }
    from core.neurik.runtime import save_weights

    path = save_weights(net, args.output)
    (Path(args.output) / "history.json").write_text(json.dumps(history))
    ckpt.unlink(missing_ok=True)
    log.info("saved %s after %.1f min", path, (time.time() - t0) / 60)
    return path


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(
        prog="python -m core.neurik.train",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--marker-set", choices=["anatomical", "blazepose33"], required=True)
    p.add_argument("-o", "--output", type=Path, required=True)
    p.add_argument("--steps", type=int, default=6000)
    p.add_argument("--batch", type=int, default=32)
    p.add_argument("--lr", type=float, default=1e-3)
    p.add_argument("--window", type=int, default=32)
    p.add_argument("--d-model", type=int, default=128)
    p.add_argument("--layers", type=int, default=3)
    p.add_argument("--subjects", type=int, default=24)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument(
        "--cmu",
        type=Path,
        default=Path(__file__).resolve().parents[2].parent / "shared/data/mocap/cmu",
        help="folder of CMU BVH clips (held-out clips are skipped); unused with --bank",
    )
    p.add_argument(
        "--bank",
        nargs="?",
        const=True,
        default=None,
        type=Path,
        help="train on the real-motion bank (default folder .cache/motion_bank)",
    )
    p.add_argument(
        "--bank-follow",
        action="store_true",
        help="re-read the bank every 200 steps (training while the bank is being built)",
    )
    p.add_argument("--random-fraction", type=float, default=0.5, help="in-limit random motions")
    p.add_argument("--camera-noise", action="store_true", help="MediaPipe world-landmark noise")
    p.add_argument("--init-from", type=Path, default=None, help="weights folder to start from")
    p.add_argument("--resume", action="store_true", help="continue from the output's checkpoint")
    args = p.parse_args(argv)
    args.argv = list(argv) if argv is not None else __import__("sys").argv[1:]
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    train(args)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
