"""Train the 2D->3D lifter on the real-motion bank with random phone cameras.

    nice -n 10 python -m core.lift.train -o core/lift/weights/bank2d --steps 6000 --minutes 45

Data: :mod:`core.lift.data` (the bank, ``python -m core.mocap.bank build``, held-out clips
refused; landmarks precomputed once under ``.cache/lift/``). One CPU thread by default; a
checkpoint every 200 steps beside the output (``--resume`` continues it); ``--minutes`` is a time
budget: the learning rate decays to 0 by the end of the steps or of the minutes, whichever comes
first, so a run on a loaded machine still ends annealed). ``--init WEIGHTS`` fine-tunes from
trained weights (a name under ``core/lift/weights`` or a folder; their network shape is used),
as the default weights ``bank2d_v7`` were made (their README; then rebuild their detector
calibration, ``benchmarks/refine_replay.py bias``):

    nice -n 10 python -m core.lift.train -o DIR --init bank2d_v4 --lr 3e-4 --warmup 50 \
        --steps 20000 --minutes 65 --mirror 0

``--grow`` (with ``--init``) starts from a wider and deeper copy of those weights that
computes the same function (``core.lift.model.grow_model``), shaped by ``--width``,
``--dilations`` and ``--window``; ``bank2d_v10`` (width 256, 2 s window) was made so and not
shipped: its training error fell 14 %, its held-out error did not (``RESULTS.md``, fourteenth
session).

``--noise MIN MAX`` sets the range of the per-window 2D keypoint noise (std over the person's
image height; default 0.3-2 %). MediaPipe on the harness's 480x270 renders is off by 1.5-2.5 %
on the body and 2.7-4.8 % on hands and feet (``benchmarks/accuracy/RESULTS.md``, eleventh
session); a fine-tune on 0.3-3 % was no better in the capture and was not shipped.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
import time
from dataclasses import asdict
from pathlib import Path

import numpy as np
import torch
from tqdm import tqdm
from tqdm.contrib.logging import logging_redirect_tqdm

from core import kinematics as K
from core.lift.data import AugmentConfig, LiftSampler, precompute
from core.lift.model import LIMITED, LiftConfig, build_model, grow_model

log = logging.getLogger(__name__)

WEIGHTS = {"angle": 3.0, "root": 1.0, "joints_m": 5.0, "vel": 2.0}


def loss_terms(out, batch) -> dict[str, torch.Tensor]:
    lim = torch.tensor(LIMITED)
    err = out.q_rad[..., lim] - batch.q_rad[..., lim]
    ang = err.abs().mean()
    root = (out.pelvis_rot - batch.pelvis_rot).square().sum((-1, -2)).mean()
    # Joint positions with the true pelvis orientation: the limbs' own error, weighted by effect.
    # (every 4th frame: FK is the costly part of a step on CPU)
    q_true = batch.q_rad[:, ::4]
    q_pred = q_true.clone()
    q_pred[..., lim] = out.q_rad[:, ::4, lim]
    zero = torch.zeros(q_true.shape[:-1] + (3,))
    offs = batch.offsets_m[:, None]
    p_pred = K.forward_kinematics(q_pred, zero, offs).origins
    p_true = K.forward_kinematics(q_true, zero, offs).origins
    joints = (p_pred - p_true).norm(dim=-1).mean()
    vel = ((err[:, 1:] - err[:, :-1]).abs()).mean()
    return {"angle": ang, "root": root, "joints_m": joints, "vel": vel}


def _checkpoint(ckpt: Path, net, opt, sampler, history, step: int, seconds: float) -> None:
    ckpt.parent.mkdir(parents=True, exist_ok=True)
    tmp = ckpt.with_suffix(".tmp")
    torch.save(
        {
            "net": net.state_dict(), "opt": opt.state_dict(),
            "rng": sampler.rng.bit_generator.state, "torch_rng": torch.get_rng_state(),
            "history": history, "step": step, "seconds": seconds,
        },
        tmp,
    )  # fmt: skip
    tmp.replace(ckpt)


def _init_weights(name_or_folder: str):
    """Trained weights to start from: a folder, else a name under ``core/lift/weights``
    (resolved here, so ``BIOMOCAP_LIFT_WEIGHTS`` cannot redirect it); a fresh, uncached copy."""
    from core.lift.runtime import WEIGHTS_DIR, load_lifter

    folder = Path(name_or_folder)
    if not folder.is_dir():
        folder = WEIGHTS_DIR / name_or_folder
    return load_lifter.__wrapped__(str(folder.resolve()))


def _init_label(init) -> str | None:
    """The initial weights as the config records them: a repository-relative folder, and the
    command that trained them."""
    if init is None:
        return None
    from core.neurik.runtime import weights_label

    cmd = init.cfg.training.get("command", "")
    return f"{weights_label(init, init.weights_folder)}" + (f" (trained by: {cmd})" if cmd else "")


def _bank_convention(bank: Path | None) -> str:
    """The bank's convention (``python -m core.mocap.bank build --convention``)."""
    from core.mocap.bank import DEFAULT_BANK, DEFAULT_CONVENTION

    index = json.loads((Path(bank or DEFAULT_BANK) / "bank.json").read_text())
    return index.get("convention", DEFAULT_CONVENTION)


def train(args: argparse.Namespace) -> Path:
    from core.neurik.markersets import MEDIAPIPE_OFFSETS_M

    torch.manual_seed(args.seed)
    torch.set_num_threads(args.threads)
    init = _init_weights(args.init) if args.init else None  # bad weights fail before any work
    cfg = LiftConfig(window=args.window, width=args.width, dilations=tuple(args.dilations))
    # The network first: a shape --grow cannot keep fails before the data is read.
    if init is not None and args.grow:  # wider/deeper, the same function to start with
        net = grow_model(init, args.width, tuple(args.dilations), args.window, seed=args.seed)
        cfg = net.cfg
        log.info("grown from %s to width %d, dilations %s, window %d", init.weights_folder,
                 cfg.width, cfg.dilations, cfg.window)  # fmt: skip
    elif init is not None:
        icfg = init.cfg
        cfg = LiftConfig(window=icfg.window, width=icfg.width, dilations=icfg.dilations,
                         kernel=icfg.kernel, dropout=icfg.dropout)  # fmt: skip
        net = build_model(cfg)
        net.load_state_dict(init.state_dict(), strict=True)
        log.info("initialised from %s", init.weights_folder)
    else:
        net = build_model(cfg)
    t0 = time.time()
    data = precompute(args.bank, n_subjects=args.subjects, seed=args.seed)
    log.info("data ready in %.0f s: %d frames x %d subjects", time.time() - t0,
             len(data.q_rad), len(data.heights_m))  # fmt: skip
    aug = augment_config(args)
    sampler = LiftSampler(data, aug, cfg.window, seed=args.seed)
    opt = torch.optim.AdamW(net.parameters(), lr=args.lr, weight_decay=1e-4)
    out_dir = Path(args.output)
    ckpt = out_dir / "checkpoint.pt"
    history: list[dict] = []
    start, spent = 0, 0.0
    if args.resume and ckpt.is_file():
        state = torch.load(ckpt, weights_only=False)
        net.load_state_dict(state["net"])
        opt.load_state_dict(state["opt"])
        sampler.rng.bit_generator.state = state["rng"]
        torch.set_rng_state(state["torch_rng"])
        history, start, spent = state["history"], state["step"] + 1, state["seconds"]
        log.info("resumed at step %d", start)
    t_run = time.time()
    stopped_at = args.steps
    net.train()
    with logging_redirect_tqdm():
        bar = tqdm(range(start, args.steps), desc="lifter", unit="step")
        for step in bar:
            # Warm-up, then a cosine decay over the budget: steps or minutes, whichever ends
            # first (a loaded machine still ends with an annealed model).
            spent_s = time.time() - t_run + spent
            frac = step / args.steps
            if args.minutes:
                frac = max(frac, spent_s / (60 * args.minutes))
            if frac >= 1.0:
                stopped_at = step
                log.warning("budget reached at step %d (%.1f min)", step, spent_s / 60)
                break
            lr = args.lr * min(1.0, (step + 1) / args.warmup) * 0.5 * (1 + np.cos(np.pi * frac))
            for g in opt.param_groups:
                g["lr"] = lr
            batch = sampler(args.batch)
            terms = loss_terms(net(batch.features), batch)
            loss = sum(WEIGHTS[k] * v for k, v in terms.items())
            opt.zero_grad(set_to_none=True)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(net.parameters(), 1.0)
            opt.step()
            if step % 50 == 0 or step == args.steps - 1:
                row = {k: float(v) for k, v in terms.items()} | {"step": step, "loss": float(loss)}
                history.append(row)
                bar.set_postfix(deg=f"{np.rad2deg(row['angle']):.1f}",
                                mm=f"{1000 * row['joints_m']:.0f}")  # fmt: skip
            if (step + 1) % 200 == 0:
                _checkpoint(ckpt, net, opt, sampler, history, step, time.time() - t_run + spent)
    net.eval()
    cfg.training = {
        "steps": stopped_at,
        "planned_steps": args.steps,
        "batch": args.batch,
        "lr": args.lr,
        "seed": args.seed,
        "threads": args.threads,
        "subjects": [round(float(h), 3) for h in data.heights_m],
        "motion": (
            f"real-motion bank ({len(data.piece_names)} pieces, {len(data.q_rad) / 1800:.1f} min "
            "at 30 fps; core.mocap.bank; held-out clips of core.mocap.holdout excluded)"
        ),
        "bank_convention": _bank_convention(args.bank),
        "augment": asdict(aug),
        # where the training puts MediaPipe's keypoints on the body (core.neurik.markersets)
        "keypoint_offsets_m": {k: list(v) for k, v in sorted(MEDIAPIPE_OFFSETS_M.items())},
        "minutes": round((time.time() - t_run + spent) / 60, 1),
        "final": history[-1] if history else {},
        "init": _init_label(init),
        "command": "python -m core.lift.train " + " ".join(args.argv),
    }
    from core.lift.runtime import save_weights

    path = save_weights(net, out_dir)
    (out_dir / "history.json").write_text(json.dumps(history))
    log.info("saved %s after %.1f min", path, cfg.training["minutes"])
    return path


def augment_config(args: argparse.Namespace) -> AugmentConfig:
    """The training augmentation the command line asks for (the rest: AugmentConfig's own)."""
    return AugmentConfig(mirror=args.mirror, noise_frac=(args.noise[0], args.noise[1]))


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(
        prog="python -m core.lift.train",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("-o", "--output", type=Path, required=True, help="weights folder")
    p.add_argument("--steps", type=int, default=4000)
    p.add_argument("--batch", type=int, default=64)
    p.add_argument("--lr", type=float, default=1e-3)
    p.add_argument("--warmup", type=int, default=100, help="warm-up steps")
    p.add_argument("--window", type=int, default=32)
    p.add_argument("--width", type=int, default=128)
    p.add_argument("--dilations", type=int, nargs="+", default=[1, 2, 4, 8])
    p.add_argument("--subjects", type=int, default=8)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument(
        "--minutes", type=float, default=None,
        help="training budget: the learning rate decays over steps or minutes, whichever ends first",
    )  # fmt: skip
    p.add_argument("--bank", type=Path, default=None, help="bank folder (.cache/motion_bank)")
    p.add_argument("--resume", action="store_true", help="continue from the output's checkpoint")
    p.add_argument(
        "--grow", action="store_true",
        help="with --init: start from a wider/deeper copy of those weights that computes the "
        "same function (core.lift.model.grow_model), shaped by --width, --dilations, --window",
    )  # fmt: skip
    p.add_argument(
        "--init", default=None, metavar="WEIGHTS",
        help="fine-tune from these weights (name under core/lift/weights, or a folder)",
    )  # fmt: skip
    p.add_argument(
        "--mirror", type=float, default=AugmentConfig.mirror,
        help="fraction of windows mirrored left-right (0-1)",
    )  # fmt: skip
    p.add_argument(
        "--noise", type=float, nargs=2, default=list(AugmentConfig.noise_frac),
        metavar=("MIN", "MAX"),
        help="2D keypoint noise: std / person height, drawn per window from [MIN, MAX]",
    )  # fmt: skip
    args = p.parse_args(argv)
    if not 0.0 <= args.mirror <= 1.0:
        p.error(f"--mirror {args.mirror}: a fraction from 0 to 1")
    if args.grow and not args.init:
        p.error("--grow needs --init: the trained weights to grow")
    if not 0.0 <= args.noise[0] <= args.noise[1] < 0.5:
        p.error(f"--noise {args.noise[0]:g} {args.noise[1]:g}: 0 <= MIN <= MAX < 0.5")
    args.argv = list(argv) if argv is not None else sys.argv[1:]
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    try:
        train(args)
    except (FileNotFoundError, ValueError) as e:  # no bank; a held-out clip in it
        print(f"error: {e}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
