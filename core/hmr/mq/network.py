"""MQ-HMR: ViT backbone -> feature pyramid -> multi-query deformable decoder -> heads.

Queries (``cfg.n_queries`` of them): one per BSM-46 body (pose), one per Anny phenotype parameter
(shape) and one camera query. Their start is a learned embedding (``query_embed``) plus a
projection of the image's mean backbone token, so each frame has its own initial queries; a
caller may pass its own (B, Q, d) queries instead (test-time query refinement optimises them).
Each decoder layer: self-attention among all queries, multi-scale deformable cross-attention
around a reference point predicted from the query, FFN (pre-norm residual blocks).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor, nn

from core.hmr.mq.backbone import FeaturePyramid, ViT
from core.hmr.mq.config import MQHMRConfig
from core.hmr.mq.deform_attn import MSDeformAttn
from core.hmr.mq.heads import HeadOutput, Heads, RawOutput, decode_raw

__all__ = ["Encoded", "MQHMROutput", "MQHMR", "build_model"]


@dataclass
class Encoded:
    pyramid: list[Tensor]  # one (B, d_model, h_l, w_l) map per level, finest first
    pooled: Tensor  # (B, vit_dim) mean token of the last tapped block


@dataclass
class MQHMROutput(HeadOutput):
    queries: Tensor  # (B, Q, d_model) the initial queries used for this output
    reference: Tensor  # (B, Q, 2) last layer's reference points, normalised (x, y) in 0..1


class DecoderLayer(nn.Module):
    def __init__(self, cfg: MQHMRConfig) -> None:
        super().__init__()
        d = cfg.d_model
        self.norm1 = nn.LayerNorm(d)
        self.self_attn = nn.MultiheadAttention(d, cfg.dec_heads, batch_first=True)
        self.norm2 = nn.LayerNorm(d)
        self.ref = nn.Linear(d, 2)
        self.cross = MSDeformAttn(d, len(cfg.pyramid_strides), cfg.dec_heads, cfg.dec_points)
        self.norm3 = nn.LayerNorm(d)
        self.ff = nn.Sequential(
            nn.Linear(d, cfg.ff_mult * d), nn.GELU(), nn.Linear(cfg.ff_mult * d, d)
        )
        with torch.no_grad():  # reference points start at the crop centre
            self.ref.weight.mul_(0.1)
            self.ref.bias.zero_()

    def forward(self, q: Tensor, features: list[Tensor]) -> tuple[Tensor, Tensor]:
        h = self.norm1(q)
        q = q + self.self_attn(h, h, h, need_weights=False)[0]
        h = self.norm2(q)
        ref = torch.sigmoid(self.ref(h))
        q = q + self.cross(h, ref, features)
        return q + self.ff(self.norm3(q)), ref


class MQHMR(nn.Module):
    def __init__(self, cfg: MQHMRConfig) -> None:
        super().__init__()
        self.cfg = cfg
        d = cfg.d_model
        self.backbone = ViT(cfg)
        self.pyramid = FeaturePyramid(cfg)
        self.level_embed = nn.Parameter(torch.zeros(len(cfg.pyramid_strides), d))
        self.query_embed = nn.Parameter(torch.randn(cfg.n_queries, d))
        self.query_cond = nn.Sequential(nn.LayerNorm(cfg.vit_dim), nn.Linear(cfg.vit_dim, d))
        self.layers = nn.ModuleList(DecoderLayer(cfg) for _ in range(cfg.dec_layers))
        self.norm = nn.LayerNorm(d)
        self.heads = Heads(d, cfg.n_shape)

    def encode(self, images: Tensor) -> Encoded:
        """images (B, 3, S, S), normalised with cfg.mean/std."""
        s = self.cfg.input_size
        if images.dim() != 4 or tuple(images.shape[1:]) != (3, s, s):
            raise ValueError(
                f"expected images of shape (B, 3, {s}, {s}) (normalised RGB), got "
                f"{tuple(images.shape)}; use core.hmr.mq.predict for uint8 crops"
            )
        maps = self.backbone(images)
        pyr = [
            f + e.view(1, -1, 1, 1)
            for f, e in zip(self.pyramid(maps), self.level_embed, strict=True)
        ]
        return Encoded(pyr, maps[-1].mean((2, 3)))

    def initial_queries(self, enc: Encoded) -> Tensor:
        """(B, Q, d): the learned embedding conditioned on the image."""
        return self.query_embed.unsqueeze(0) + self.query_cond(enc.pooled).unsqueeze(1)

    def decode(self, enc: Encoded, k: Tensor, queries: Tensor | None = None) -> MQHMROutput:
        """K (B, 3, 3) intrinsics in pixels of the network input; queries (B, Q, d) or None."""
        b = enc.pooled.shape[0]
        want = (b, self.cfg.n_queries, self.cfg.d_model)
        if queries is None:
            queries = self.initial_queries(enc)
        elif tuple(queries.shape) != want:
            raise ValueError(f"expected queries of shape {want}, got {tuple(queries.shape)}")
        if tuple(k.shape) != (b, 3, 3):
            raise ValueError(f"expected K of shape ({b}, 3, 3) pixels, got {tuple(k.shape)}")
        h = queries
        ref = queries.new_zeros(b, self.cfg.n_queries, 2)
        for layer in self.layers:
            h, ref = layer(h, enc.pyramid)
        raw = self.heads(self.norm(h))
        raw = RawOutput(raw.pose.float(), raw.shape_logit.float(), raw.camera.float())
        # Angles, limits and the camera in float32 even under mixed precision.
        with torch.autocast(device_type=k.device.type, enabled=False):
            out = decode_raw(raw, k.float(), self.cfg.input_size)
        return MQHMROutput(**vars(out), queries=queries, reference=ref)

    def forward(self, images: Tensor, k: Tensor, queries: Tensor | None = None) -> MQHMROutput:
        return self.decode(self.encode(images), k, queries)


def build_model(cfg: MQHMRConfig) -> MQHMR:
    return MQHMR(cfg)
