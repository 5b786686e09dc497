"""Multi-scale deformable attention (Zhu et al. 2021, Deformable DETR) in plain torch.

Each query attends to a few points per head and pyramid level around its reference point, with
offsets and weights predicted from the query itself. Sampling is bilinear through
``F.grid_sample`` (``align_corners=False``: a level of width W has pixel centres at
``(i + 0.5) / W`` in normalised [0, 1] coordinates, zero outside), so the module runs on CPU and
exports to ONNX (GridSample, opset >= 16) without custom operators.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor, nn

__all__ = ["ms_deform_attn", "MSDeformAttn"]


def ms_deform_attn(
    values: list[Tensor], locations: Tensor, weights: Tensor
) -> Tensor:  # (B, Q, H * Dh)
    """The sampling core.

    values: one (B, H, Dh, h_l, w_l) map per level; locations: (B, Q, H, L, P, 2) normalised
    (x, y) in [0, 1] (x to the right, y down); weights: (B, Q, H, L, P), summing to 1 over (L, P)
    for each head. Returns the weighted sum of the bilinearly sampled values, heads concatenated.
    """
    b, q, h, n_levels, p, _ = locations.shape
    grids = 2.0 * locations - 1.0
    terms = []
    for lvl, v in enumerate(values):
        v = v.flatten(0, 1)  # (B*H, Dh, h_l, w_l)
        g = grids[:, :, :, lvl].permute(0, 2, 1, 3, 4).flatten(0, 1)  # (B*H, Q, P, 2)
        s = F.grid_sample(v, g, mode="bilinear", padding_mode="zeros", align_corners=False)
        w = weights[:, :, :, lvl].permute(0, 2, 1, 3).flatten(0, 1)  # (B*H, Q, P)
        terms.append((s * w.unsqueeze(1)).sum(-1))  # (B*H, Dh, Q)
    out = torch.stack(terms).sum(0)
    return out.reshape(b, h, -1, q).permute(0, 3, 1, 2).reshape(b, q, -1)


class MSDeformAttn(nn.Module):
    def __init__(self, d_model: int, n_levels: int, n_heads: int, n_points: int) -> None:
        super().__init__()
        self.h, self.l, self.p = n_heads, n_levels, n_points
        self.offsets = nn.Linear(d_model, n_heads * n_levels * n_points * 2)
        self.attn_weights = nn.Linear(d_model, n_heads * n_levels * n_points)
        self.value_proj = nn.Linear(d_model, d_model)
        self.out_proj = nn.Linear(d_model, d_model)
        with torch.no_grad():  # Deformable DETR's start: each head looks in its own direction
            self.offsets.weight.zero_()
            theta = torch.arange(n_heads, dtype=torch.float32) * (2.0 * math.pi / n_heads)
            grid = torch.stack([theta.cos(), theta.sin()], -1)
            grid = grid / grid.abs().max(-1, keepdim=True)[0]
            grid = grid.view(n_heads, 1, 1, 2).repeat(1, n_levels, n_points, 1)
            grid = grid * torch.arange(1, n_points + 1, dtype=torch.float32).view(1, 1, -1, 1)
            self.offsets.bias.copy_(grid.flatten())
            self.attn_weights.weight.zero_()
            self.attn_weights.bias.zero_()

    def forward(self, query: Tensor, reference: Tensor, features: list[Tensor]) -> Tensor:
        """query (B, Q, d); reference (B, Q, 2) normalised (x, y) in [0, 1]; features: one
        (B, d, h_l, w_l) map per level. Offsets are in units of each level's pixels."""
        b, q, d = query.shape
        dh = d // self.h
        values = []
        sizes = []
        for f in features:
            hl, wl = int(f.shape[-2]), int(f.shape[-1])
            v = self.value_proj(f.flatten(2).transpose(1, 2))  # (B, hl*wl, d)
            values.append(v.transpose(1, 2).reshape(b, self.h, dh, hl, wl))
            sizes.append([float(wl), float(hl)])
        norm = torch.tensor(sizes, dtype=query.dtype, device=query.device)
        norm = norm.view(1, 1, 1, self.l, 1, 2)
        off = self.offsets(query).view(b, q, self.h, self.l, self.p, 2)
        loc = reference.view(b, q, 1, 1, 1, 2) + off / norm
        w = self.attn_weights(query).view(b, q, self.h, self.l * self.p).softmax(-1)
        w = w.view(b, q, self.h, self.l, self.p)
        return self.out_proj(ms_deform_attn(values, loc, w))
