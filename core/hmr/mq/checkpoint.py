"""MQ-HMR weights on disk: ``model.safetensors`` + ``config.json`` in one folder (as core.neurik),
written atomically, loaded strictly: a config of another version, a missing or unexpected tensor,
or a tensor of the wrong shape is an error that says which, never a partial load."""

from __future__ import annotations

import json
import logging
import os
from pathlib import Path

import torch

from core.hmr.mq.config import MQHMRConfig
from core.hmr.mq.network import MQHMR, build_model

__all__ = [
    "WEIGHTS_DIR",
    "TRAIN_COMMAND",
    "save_weights",
    "load_weights",
    "load_mq_hmr",
    "write_json_atomic",
]

log = logging.getLogger(__name__)

WEIGHTS_DIR = Path(__file__).resolve().parent / "weights"
TRAIN_COMMAND = (
    "python -m core.hmr.mq.train --data DIR --config {name} --out core/hmr/mq/weights/{name} "
    "--minutes 30"
)


def write_json_atomic(path: Path, obj_or_text: dict | str) -> None:
    text = obj_or_text if isinstance(obj_or_text, str) else json.dumps(obj_or_text, indent=2)
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(text)
    os.replace(tmp, path)


def save_weights(model: MQHMR, folder: str | Path, stem: str = "model") -> Path:
    """Write ``{stem}.safetensors`` and ``config.json`` (with ``model.cfg.training``)."""
    from safetensors.torch import save_file

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{stem}.safetensors"
    tmp = folder / f".{stem}.safetensors.tmp"
    tensors = {k: v.detach().float().cpu().contiguous() for k, v in model.state_dict().items()}
    save_file(tensors, str(tmp), metadata={"config_version": str(model.cfg.version)})
    os.replace(tmp, path)
    write_json_atomic(folder / "config.json", model.cfg.to_json())
    return path


def _check_state(state: dict[str, torch.Tensor], model: MQHMR, where: Path) -> None:
    want = model.state_dict()
    missing = sorted(set(want) - set(state))
    unexpected = sorted(set(state) - set(want))
    wrong = sorted(
        k for k in set(want) & set(state) if tuple(want[k].shape) != tuple(state[k].shape)
    )
    if missing or unexpected or wrong:
        parts = []
        if missing:
            parts.append(f"{len(missing)} missing (e.g. {missing[:3]})")
        if unexpected:
            parts.append(f"{len(unexpected)} unexpected (e.g. {unexpected[:3]})")
        if wrong:
            k = wrong[0]
            parts.append(
                f"{len(wrong)} of the wrong shape (e.g. {k}: {tuple(state[k].shape)} in the file, "
                f"{tuple(want[k].shape)} for this config)"
            )
        raise ValueError(
            f"MQ-HMR weights in {where} do not match their config.json: " + "; ".join(parts)
        )


def load_weights(folder: str | Path, stem: str = "model") -> MQHMR:
    """Strict load of ``folder/{stem}.safetensors`` with ``folder/config.json``; eval mode."""
    from safetensors.torch import load_file

    folder = Path(folder)
    path = folder / f"{stem}.safetensors"
    if not path.is_file() or not (folder / "config.json").is_file():
        raise FileNotFoundError(f"no MQ-HMR weights ({path.name} + config.json) in {folder}")
    cfg = MQHMRConfig.load(folder / "config.json")
    model = build_model(cfg)
    state = load_file(str(path))
    _check_state(state, model, path)
    model.load_state_dict(state, strict=True)
    return model.eval()


def load_mq_hmr(path_or_name: str | Path = "small", device: str | torch.device = "cpu") -> MQHMR:
    """Shipped weights by configuration name ('small', 'large') or a folder path; eval mode."""
    folder = Path(path_or_name)
    if not folder.is_dir():
        folder = WEIGHTS_DIR / str(path_or_name)
    if not (folder / "model.safetensors").is_file():
        name = str(path_or_name) if str(path_or_name) in ("small", "large") else "small"
        raise FileNotFoundError(
            f"no MQ-HMR weights in {folder}; train them with "
            + TRAIN_COMMAND.format(name=name)
            + " (DIR: synthetic data from core.hmr.synth)"
        )
    return load_weights(folder).to(device)
