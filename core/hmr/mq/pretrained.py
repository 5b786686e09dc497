"""Loading a user's pretrained ViT into the MQ-HMR backbone (never downloaded).

Accepted: a ``.safetensors`` file or a torch checkpoint (``.pth``/``.pt``/``.bin``, read with
``weights_only=True``), either a plain state dict or one under ``"model"``/``"state_dict"``, with
timm's ViT names (``patch_embed.proj``, ``pos_embed``, ``blocks.N.norm1``, ``blocks.N.attn.qkv``,
``blocks.N.attn.proj``, ``blocks.N.mlp.fc1``/``fc2``...), optionally behind a ``module.``,
``backbone.`` or ``encoder.`` prefix (DDP, ViTPose, MAE). A class token in ``pos_embed`` is
dropped and the position grid is resized bicubically to the configured input. Every patch-embed
and block tensor the config needs must be present with the right shape (else ValueError);
tensors the backbone does not use (heads, final norm, class token) are reported and skipped.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass
from pathlib import Path

import torch
import torch.nn.functional as F

from core.hmr.mq.backbone import ViT

__all__ = ["BackboneLoadReport", "load_backbone_weights"]

log = logging.getLogger(__name__)

_PREFIXES = ("module.", "backbone.", "encoder.", "model.")


@dataclass
class BackboneLoadReport:
    loaded: tuple[str, ...]
    skipped: tuple[str, ...]  # in the file, not used by the backbone
    pos_embed_resized: tuple[int, int] | None  # source grid, when it was resized


def _read(path: Path) -> dict[str, torch.Tensor]:
    if not path.is_file():
        raise FileNotFoundError(f"backbone weights not found: {path}")
    if path.suffix == ".safetensors":
        from safetensors.torch import load_file

        state = load_file(str(path))
    else:
        state = torch.load(str(path), map_location="cpu", weights_only=True)
    for key in ("model", "state_dict"):
        if isinstance(state, dict) and key in state and isinstance(state[key], dict):
            state = state[key]
    if not isinstance(state, dict):
        raise ValueError(f"{path} does not hold a state dict (got {type(state).__name__})")
    out = {}
    for k, v in state.items():
        if not isinstance(v, torch.Tensor):
            continue
        while k.startswith(_PREFIXES):
            k = k.split(".", 1)[1]
        out[k] = v
    return out


def _resize_pos(pe: torch.Tensor, grid: int) -> tuple[torch.Tensor, tuple[int, int] | None]:
    n = pe.shape[1]
    side = math.isqrt(n)
    if side * side != n:  # class (or register) tokens first
        side = math.isqrt(n - 1)
        if side * side != n - 1:
            raise ValueError(f"pos_embed with {n} tokens is not a square grid (+1 class token)")
        pe = pe[:, 1:]
    if side == grid:
        return pe, None
    d = pe.shape[-1]
    img = pe.reshape(1, side, side, d).permute(0, 3, 1, 2).float()
    img = F.interpolate(img, size=(grid, grid), mode="bicubic", align_corners=False)
    return img.permute(0, 2, 3, 1).reshape(1, grid * grid, d), (side, side)


@torch.no_grad()
def load_backbone_weights(vit: ViT, path: str | Path) -> BackboneLoadReport:
    src = _read(Path(path))
    want = vit.state_dict()
    resized = None
    if "pos_embed" in src:
        src["pos_embed"], resized = _resize_pos(src["pos_embed"], vit.grid)
    missing = sorted(k for k in want if k not in src and k != "pos_embed")
    if missing:
        raise ValueError(
            f"{path} lacks {len(missing)} backbone tensor(s) this configuration needs (e.g. "
            f"{missing[:3]}); expected timm ViT names and depth >= {len(vit.blocks)}"
        )
    wrong = [k for k in want if k in src and tuple(src[k].shape) != tuple(want[k].shape)]
    if wrong:
        k = wrong[0]
        raise ValueError(
            f"{path}: {len(wrong)} tensor(s) of the wrong shape, e.g. {k}: "
            f"{tuple(src[k].shape)} in the file, {tuple(want[k].shape)} in the backbone "
            "(is it the configuration's ViT width and patch size?)"
        )
    new = {k: src[k].to(want[k].dtype) if k in src else want[k] for k in want}
    vit.load_state_dict(new, strict=True)
    skipped = tuple(sorted(set(src) - set(want)))
    loaded = tuple(k for k in want if k in src)
    if "pos_embed" not in src:
        log.warning("%s has no pos_embed: the position embedding stays random", path)
    if skipped:
        log.info("backbone weights: %d tensors not used (e.g. %s)", len(skipped), skipped[:3])
    return BackboneLoadReport(loaded, skipped, resized)
