"""Plain ViT backbone (timm's parameter names, so that a user's pretrained ViT state dict maps
one-to-one) and the feature pyramid built from several of its layers (ViTDet's simple pyramid:
token maps of chosen blocks resampled to strides 8/16/32 by transposed or strided convolutions).
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch.utils.checkpoint import checkpoint

from core.hmr.mq.config import MQHMRConfig

__all__ = ["ViT", "FeaturePyramid"]


class PatchEmbed(nn.Module):
    def __init__(self, patch: int, dim: int) -> None:
        super().__init__()
        self.proj = nn.Conv2d(3, dim, kernel_size=patch, stride=patch)

    def forward(self, x: Tensor) -> Tensor:
        return self.proj(x).flatten(2).transpose(1, 2)  # (B, N, dim)


class Attention(nn.Module):
    def __init__(self, dim: int, heads: int) -> None:
        super().__init__()
        self.heads = heads
        self.qkv = nn.Linear(dim, 3 * dim)
        self.proj = nn.Linear(dim, dim)

    def forward(self, x: Tensor) -> Tensor:
        b, n, d = x.shape
        qkv = self.qkv(x).reshape(b, n, 3, self.heads, d // self.heads).permute(2, 0, 3, 1, 4)
        out = F.scaled_dot_product_attention(qkv[0], qkv[1], qkv[2])
        return self.proj(out.transpose(1, 2).reshape(b, n, d))


class Mlp(nn.Module):
    def __init__(self, dim: int, hidden: int) -> None:
        super().__init__()
        self.fc1 = nn.Linear(dim, hidden)
        self.act = nn.GELU()
        self.fc2 = nn.Linear(hidden, dim)

    def forward(self, x: Tensor) -> Tensor:
        return self.fc2(self.act(self.fc1(x)))


class Block(nn.Module):
    def __init__(self, dim: int, heads: int, mlp_ratio: float) -> None:
        super().__init__()
        self.norm1 = nn.LayerNorm(dim, eps=1e-6)
        self.attn = Attention(dim, heads)
        self.norm2 = nn.LayerNorm(dim, eps=1e-6)
        self.mlp = Mlp(dim, int(dim * mlp_ratio))

    def forward(self, x: Tensor) -> Tensor:
        x = x + self.attn(self.norm1(x))
        return x + self.mlp(self.norm2(x))


class ViT(nn.Module):
    """ViT without a class token; returns the token maps after the requested blocks."""

    def __init__(self, cfg: MQHMRConfig) -> None:
        super().__init__()
        self.grid = cfg.input_size // cfg.patch
        self.patch_embed = PatchEmbed(cfg.patch, cfg.vit_dim)
        self.pos_embed = nn.Parameter(torch.randn(1, self.grid * self.grid, cfg.vit_dim) * 0.02)
        self.blocks = nn.ModuleList(
            Block(cfg.vit_dim, cfg.vit_heads, cfg.mlp_ratio) for _ in range(cfg.vit_depth)
        )
        self.taps = tuple(cfg.pyramid_layers)
        self.activation_checkpointing = False  # trade compute for memory when training (GPU)

    def forward(self, x: Tensor) -> list[Tensor]:
        """x (B, 3, S, S) normalised -> one (B, dim, S/patch, S/patch) map per tapped block."""
        h = self.patch_embed(x) + self.pos_embed
        out = []
        last = max(self.taps)
        for i, blk in enumerate(self.blocks[:last], start=1):
            if self.activation_checkpointing and self.training:
                h = checkpoint(blk, h, use_reentrant=False)
            else:
                h = blk(h)
            if i in self.taps:
                b, n, d = h.shape
                out.append(h.transpose(1, 2).reshape(b, d, self.grid, self.grid))
        return out


def _resampler(dim: int, out: int, factor: float) -> nn.Module:
    """Resample a stride-``patch`` map by ``factor`` (>1 up, <1 down) to ``out`` channels."""
    if factor >= 1:
        layers: list[nn.Module] = []
        c = dim
        for _ in range(round(math.log2(factor))):
            layers += [nn.ConvTranspose2d(c, out, 2, stride=2), nn.GELU()]
            c = out
        layers.append(nn.Conv2d(c, out, 1))
        return nn.Sequential(*layers)
    layers = [nn.Conv2d(dim, out, 1)]
    for _ in range(round(math.log2(1 / factor))):
        layers += [nn.GELU(), nn.Conv2d(out, out, 3, stride=2, padding=1)]
    return nn.Sequential(*layers)


class _ChannelNorm(nn.Module):
    """LayerNorm over the channel axis of a (B, C, H, W) map."""

    def __init__(self, c: int) -> None:
        super().__init__()
        self.norm = nn.LayerNorm(c)

    def forward(self, x: Tensor) -> Tensor:
        return self.norm(x.permute(0, 2, 3, 1)).permute(0, 3, 1, 2)


class FeaturePyramid(nn.Module):
    """Token maps of the tapped blocks -> maps at the configured strides, ``d_model`` channels."""

    def __init__(self, cfg: MQHMRConfig) -> None:
        super().__init__()
        self.levels = nn.ModuleList(
            nn.Sequential(
                _ChannelNorm(cfg.vit_dim),
                _resampler(cfg.vit_dim, cfg.d_model, cfg.patch / s),
                _ChannelNorm(cfg.d_model),
            )
            for s in cfg.pyramid_strides
        )

    def forward(self, maps: list[Tensor]) -> list[Tensor]:
        return [level(m) for level, m in zip(self.levels, maps, strict=True)]
