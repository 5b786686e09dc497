"""Train MQ-HMR on synthetic data folders (``core.hmr.synth``) within a time budget.

    python -m core.hmr.mq.train --data DIR --config small --out core/hmr/mq/weights/small --minutes 30
    python -m core.hmr.mq.train --data DIR --data DIR2 --config large --out runs/large \\
        --minutes 600 --device cuda --batch 64 --backbone-weights vit_base_mae.pth
    python -m core.hmr.mq.train ... --resume          # continue in the same --out folder
    python -m core.hmr.mq.train --data DIR --config small --out runs/kp --init-from runs/small

--init-from starts a new run from another run's weights (``model.safetensors``, else
``last.safetensors``): every tensor whose name and shape match is loaded, tensors new in this
config (e.g. the keypoint branch of 2D-informed queries) keep their initialisation and are
logged; any other mismatch is an error. The network is fed the labelled 2D keypoints
(``Batch.keypoints_in``: corrupted like a detector's in training, clean in validation).

Writes to --out: ``model.safetensors`` (best held-out MPJPE so far; the latest weights when the
data has no held-out samples), ``last.safetensors`` and ``train_state.pt`` (optimiser, step,
history: what --resume needs) and ``config.json`` (the model config plus how it was trained: the
command, data, steps, validation numbers). On CUDA: bf16 autocast (fp16 with loss scaling where
bf16 is missing). The learning rate warms up, then follows a cosine over this run's budget
(a resumed run restarts the cosine: a warm restart). The final validation and save run after the
budget is spent.
"""

from __future__ import annotations

import argparse
import contextlib
import logging
import math
import shlex
import sys
import time
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path

import torch
from tqdm import tqdm
from tqdm.contrib.logging import logging_redirect_tqdm

from core.hmr.mq.checkpoint import load_weights, save_weights
from core.hmr.mq.config import MQHMRConfig, preset
from core.hmr.mq.data import Batch, SynthDataset, worker_init
from core.hmr.mq.heads import RawOutput
from core.hmr.mq.losses import loss_terms, mpjpe_mm, total_loss
from core.hmr.mq.network import MQHMR, MQHMROutput, build_model

__all__ = ["TrainState", "train", "main"]

log = logging.getLogger(__name__)

_STATE = "train_state.pt"
_WARMUP_STEPS = 100


@dataclass
class TrainState:
    step: int = 0
    elapsed_s: float = 0.0
    best_mpjpe_mm: float = math.inf
    best_step: int = -1
    validation: list[dict] = field(default_factory=list)
    losses: list[dict] = field(default_factory=list)  # every 50 steps
    runs: list[dict] = field(default_factory=list)  # each invocation: command, first step


def _device(name: str) -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name.startswith("cuda") and not torch.cuda.is_available():
        raise ValueError("--device cuda given but CUDA is not available here")
    return torch.device(name)


def _autocast(dev: torch.device) -> tuple[contextlib.AbstractContextManager, str]:
    if dev.type != "cuda":
        return contextlib.nullcontext(), "fp32"
    dtype = torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
    return torch.autocast("cuda", dtype=dtype), str(dtype).replace("torch.", "")


def _batches(loader: torch.utils.data.DataLoader) -> Iterator[Batch]:
    while True:
        yield from loader


@torch.no_grad()
def validate(
    model: MQHMR, ds: SynthDataset, dev: torch.device, max_samples: int, batch: int
) -> tuple[float, dict[str, float]]:
    """Mean held-out MPJPE (mm, pelvis-aligned body origins) and the mean loss terms."""
    model.eval()
    n = min(len(ds), max_samples)
    errs, terms_sum = [], {}
    for i in range(0, n, batch):
        b: Batch = ds.collate([ds[j] for j in range(i, min(n, i + batch))]).to(dev)
        out = model(b.images, b.K, keypoints=b.keypoints_in)
        errs.append(mpjpe_mm(out, b).cpu())
        for k, v in loss_terms(out, b, model.cfg.input_size).items():
            terms_sum[k] = terms_sum.get(k, 0.0) + float(v) * len(b)
    model.train()
    return float(torch.cat(errs).mean()), {k: v / n for k, v in terms_sum.items()}


def _lr(base: float, step_in_run: int, frac: float) -> float:
    warm = min(1.0, (step_in_run + 1) / _WARMUP_STEPS)
    return base * warm * (0.05 + 0.95 * 0.5 * (1.0 + math.cos(math.pi * min(frac, 1.0))))


def _save_state(out: Path, opt, scaler, state: TrainState, ds: SynthDataset) -> None:
    tmp = out / f".{_STATE}.tmp"
    torch.save(
        {
            "state": asdict(state),
            "optimizer": opt.state_dict(),
            "scaler": scaler.state_dict() if scaler is not None else {},
            "torch_rng": torch.get_rng_state(),
            "data_rng": ds.rng.bit_generator.state,
        },
        str(tmp),
    )
    tmp.replace(out / _STATE)


def _record(model: MQHMR, args: argparse.Namespace, state: TrainState, extra: dict) -> None:
    model.cfg.training = {
        "command": _command(args),
        "runs": state.runs,
        "data": [str(p) for p in args.data],
        "steps": state.step,
        "minutes": round(state.elapsed_s / 60.0, 2),
        "batch": args.batch,
        "lr": args.lr,
        "seed": args.seed,
        "backbone_weights": str(args.backbone_weights) if args.backbone_weights else None,
        "init_from": str(args.init_from) if args.init_from else None,
        "validation": state.validation,
        "best_val_mpjpe_mm": None if math.isinf(state.best_mpjpe_mm) else state.best_mpjpe_mm,
        "best_step": state.best_step,  # the step of model.safetensors
        "last_losses": state.losses[-1] if state.losses else {},
        **extra,
    }


def _command(args: argparse.Namespace) -> str:
    return "python -m core.hmr.mq.train " + shlex.join(args.argv)


def train(args: argparse.Namespace) -> Path:
    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    dev = _device(args.device)
    out: Path = args.out
    state = TrainState()
    resume_blob = None
    init_info: dict = {}
    if args.resume:
        if not (out / _STATE).is_file() or not (out / "last.safetensors").is_file():
            raise FileNotFoundError(f"--resume: no {_STATE} + last.safetensors in {out}")
        model = load_weights(out, stem="last").train()
        if model.cfg.name != args.config:
            raise ValueError(
                f"--resume: {out} holds a {model.cfg.name!r} model, not {args.config!r}"
            )
        resume_blob = torch.load(str(out / _STATE), map_location="cpu", weights_only=True)
        state = TrainState(**resume_blob["state"])
        log.info("resuming at step %d (%.1f min trained)", state.step, state.elapsed_s / 60)
    else:
        if (out / "last.safetensors").exists():
            raise ValueError(f"{out} already holds a training run: pass --resume or another --out")
        labels = _shape_labels(args.data)
        model = build_model(preset(args.config, shape_labels=labels)).train()
        if args.backbone_weights:
            from core.hmr.mq.pretrained import load_backbone_weights

            rep = load_backbone_weights(model.backbone, args.backbone_weights)
            log.info("backbone: %d tensors loaded from %s", len(rep.loaded), args.backbone_weights)
        if args.init_from:
            init_info = {
                "init_from": str(args.init_from),
                "new_tensors": init_from(model, args.init_from),
            }
    cfg: MQHMRConfig = model.cfg
    state.runs.append({"command": _command(args), "start_step": state.step, **init_info})
    workers = args.workers if args.workers >= 0 else (6 if dev.type == "cuda" else 0)
    model.to(dev)
    model.backbone.activation_checkpointing = args.activation_checkpointing
    train_ds = SynthDataset(args.data, cfg, "train", augment=True, seed=args.seed)
    val_ds = SynthDataset(args.data, cfg, "val", augment=False)
    if len(train_ds) == 0:
        raise ValueError("no training samples (every sample is held out)")
    if len(val_ds) == 0:
        log.warning("no held-out samples: model.safetensors will hold the latest weights")
    n_params = sum(p.numel() for p in model.parameters())
    log.info(
        "%s: %.2f M parameters, %d train / %d held-out samples, %s",
        cfg.name,
        n_params / 1e6,
        len(train_ds),
        len(val_ds),
        dev,
    )
    opt = torch.optim.AdamW(model.parameters(), lr=args.lr, weight_decay=args.weight_decay)
    autocast, amp = _autocast(dev)
    scaler = torch.amp.GradScaler("cuda") if amp == "float16" else None
    if resume_blob is not None:
        opt.load_state_dict(resume_blob["optimizer"])
        if scaler is not None and resume_blob["scaler"]:
            scaler.load_state_dict(resume_blob["scaler"])
        torch.set_rng_state(resume_blob["torch_rng"])
        train_ds.rng.bit_generator.state = resume_blob["data_rng"]
    gen = torch.Generator().manual_seed(args.seed + state.step)
    loader = torch.utils.data.DataLoader(
        train_ds,
        batch_size=args.batch,
        shuffle=True,
        drop_last=len(train_ds) >= args.batch,
        num_workers=workers,
        collate_fn=train_ds.collate,
        generator=gen,
        worker_init_fn=worker_init,
        pin_memory=dev.type == "cuda",
        persistent_workers=workers > 0,
    )
    extra = {"device": str(dev), "amp": amp, "parameters": n_params}
    extra |= {"train_samples": len(train_ds), "val_samples": len(val_ds)}
    budget_s = args.minutes * 60.0
    t_run = time.time()
    e0 = state.elapsed_s
    last_ckpt, last_ckpt_step = time.time(), -1
    step_in_run = 0
    start_step = state.step
    size = cfg.input_size

    def checkpoint() -> None:
        nonlocal last_ckpt, last_ckpt_step
        if state.step == last_ckpt_step:
            return
        improved = not len(val_ds)
        if len(val_ds):
            err, terms = validate(model, val_ds, dev, args.val_samples, args.batch)
            row = {"step": state.step, "mpjpe_mm": round(err, 2)}
            row |= {k: round(v, 5) for k, v in terms.items()}
            state.validation.append(row)
            log.info("step %d: held-out MPJPE %.1f mm", state.step, err)
            if err < state.best_mpjpe_mm:
                state.best_mpjpe_mm, state.best_step = err, state.step
                improved = True
        if improved:
            state.best_step = state.step
        _record(model, args, state, extra)  # config.json: best_step says which weights it is
        save_weights(model, out, "last")
        if improved:
            save_weights(model, out, "model")
        _save_state(out, opt, scaler, state, train_ds)
        last_ckpt, last_ckpt_step = time.time(), state.step

    batches = _batches(loader)
    with logging_redirect_tqdm():
        bar = tqdm(total=round(budget_s), unit="s", desc=f"MQ-HMR {cfg.name}")
        while True:
            run_s = time.time() - t_run
            if run_s >= budget_s or (args.max_steps and state.step >= args.max_steps):
                break
            frac = run_s / budget_s
            if args.max_steps:
                frac = max(frac, step_in_run / max(1, args.max_steps - start_step))
            for g in opt.param_groups:
                g["lr"] = _lr(args.lr, step_in_run, frac)
            b = next(batches).to(dev)
            with autocast:
                o = model(b.images, b.K, keypoints=b.keypoints_in)
            terms = loss_terms(_float(o), b, size)
            loss = total_loss(terms)
            if not torch.isfinite(loss):
                log.warning("step %d: non-finite loss, batch skipped", state.step)
                opt.zero_grad(set_to_none=True)
                continue
            opt.zero_grad(set_to_none=True)
            if scaler is not None:
                scaler.scale(loss).backward()
                scaler.unscale_(opt)
            else:
                loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            if scaler is not None:
                scaler.step(opt)
                scaler.update()
            else:
                opt.step()
            state.step += 1
            step_in_run += 1
            state.elapsed_s = e0 + time.time() - t_run
            loss_v = float(loss.detach())
            if state.step % 50 == 0 or step_in_run == 1:
                row = {k: round(float(v.detach()), 5) for k, v in terms.items()}
                state.losses.append({"step": state.step, "loss": round(loss_v, 5)} | row)
            bar.update(min(round(time.time() - t_run), round(budget_s)) - bar.n)
            bar.set_postfix(
                step=state.step,
                loss=f"{loss_v:.3f}",
                mm=f"{1000 * float(terms['joints3d_m'].detach()):.0f}",
            )
            if state.step % args.val_every == 0 or time.time() - last_ckpt > 60 * args.save_min:
                checkpoint()
        bar.close()
    state.elapsed_s = e0 + time.time() - t_run
    checkpoint()
    log.info(
        "saved %s at step %d after %.1f min (best held-out MPJPE %s)",
        out,
        state.step,
        state.elapsed_s / 60,
        "n/a" if math.isinf(state.best_mpjpe_mm) else f"{state.best_mpjpe_mm:.1f} mm",
    )
    return out


def init_from(model: MQHMR, folder: Path) -> list[str]:
    """Load every tensor of ``folder``'s weights whose name and shape match ``model``'s; return
    the names of the model's tensors the file lacks (left as initialised). Refuses a file with
    tensors the model lacks or of another shape, or another shape-parameter list."""
    from safetensors.torch import load_file

    folder = Path(folder)
    path = next(
        (folder / f for f in ("model.safetensors", "last.safetensors") if (folder / f).is_file()),
        None,
    )
    if path is None:
        raise FileNotFoundError(
            f"--init-from: no model.safetensors or last.safetensors in {folder}"
        )
    if (folder / "config.json").is_file():
        src_cfg = MQHMRConfig.load(folder / "config.json")
        if src_cfg.shape_labels != model.cfg.shape_labels:
            raise ValueError(
                f"--init-from: {folder} predicts shape parameters {list(src_cfg.shape_labels)}, "
                f"not {list(model.cfg.shape_labels)}"
            )
    state = load_file(str(path))
    want = model.state_dict()
    unexpected = sorted(set(state) - set(want))
    wrong = sorted(
        f"{k}: {tuple(state[k].shape)} in the file, {tuple(want[k].shape)} here"
        for k in set(state) & set(want)
        if tuple(state[k].shape) != tuple(want[k].shape)
    )
    if unexpected or wrong:
        raise ValueError(
            f"--init-from: {path} does not fit the {model.cfg.name!r} config: "
            f"{len(unexpected)} tensor(s) it lacks (e.g. {unexpected[:3]}), "
            f"{len(wrong)} of another shape (e.g. {wrong[:2]})"
        )
    new = sorted(set(want) - set(state))
    model.load_state_dict(state, strict=False)
    log.info("--init-from %s: %d tensors loaded, %d new: %s", path, len(state), len(new), new)
    return new


def _float(o: MQHMROutput) -> MQHMROutput:
    """Autocast outputs back to float32 for the losses (FK and projection in full precision)."""
    kw = {}
    for f in fields(o):
        v = getattr(o, f.name)
        if isinstance(v, torch.Tensor):
            v = v.float()
        elif isinstance(v, RawOutput):
            v = RawOutput(v.pose.float(), v.shape_logit.float(), v.camera.float())
        kw[f.name] = v
    return type(o)(**kw)


def _shape_labels(folders: list[Path]) -> tuple[str, ...]:
    import json

    meta = folders[0] / "meta.json"
    if not meta.is_file():
        raise FileNotFoundError(f"{folders[0]} is not an MQ-HMR data folder (no meta.json)")
    return tuple(json.loads(meta.read_text())["shape_labels"])


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(
        prog="python -m core.hmr.mq.train",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--data", type=Path, action="append", required=True, help="data folder")
    p.add_argument("--config", choices=["small", "large"], default="small")
    p.add_argument("--out", type=Path, required=True, help="weights folder")
    p.add_argument("--minutes", type=float, default=30.0, help="training time budget")
    p.add_argument("--max-steps", type=int, default=0, help="stop at this total step count")
    p.add_argument("--resume", action="store_true", help="continue the run in --out")
    p.add_argument(
        "--init-from",
        type=Path,
        help="start from another run's weights (matching tensors; new ones initialised)",
    )
    p.add_argument("--device", default="auto", help="auto | cpu | cuda")
    p.add_argument("--batch", type=int, default=32)
    p.add_argument("--lr", type=float, default=4e-4)
    p.add_argument("--weight-decay", type=float, default=0.05)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--threads", type=int, default=1, help="torch CPU threads")
    p.add_argument(
        "--workers",
        type=int,
        default=-1,
        help="DataLoader processes (default: 0 on CPU, 6 on CUDA)",
    )
    p.add_argument("--val-every", type=int, default=250, help="validate every N steps")
    p.add_argument("--val-samples", type=int, default=256, help="held-out samples per check")
    p.add_argument("--save-min", type=float, default=10.0, help="checkpoint every N minutes")
    p.add_argument("--backbone-weights", type=Path, help="pretrained ViT state dict (timm names)")
    p.add_argument("--activation-checkpointing", action="store_true", help="less GPU memory")
    args = p.parse_args(argv)
    args.argv = list(argv) if argv is not None else sys.argv[1:]
    if args.resume and args.init_from:
        p.error("--init-from starts a new run; it cannot be combined with --resume")
    if args.init_from and args.init_from.resolve() == args.out.resolve():
        p.error("--init-from must name another folder than --out")
    if args.minutes <= 0 or args.batch < 1 or args.val_every < 1:
        p.error("--minutes, --batch and --val-every must be positive")
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    try:
        train(args)
    except (ValueError, FileNotFoundError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
