"""MQ-HMR: ViT backbone -> feature pyramid -> multi-query deformable decoder -> heads.

Queries (``cfg.n_queries`` of them): one per BSM-46 body (pose), one per Anny phenotype parameter
(shape) and one camera query. Their start is a learned embedding (``query_embed``) plus a
projection of the image's mean backbone token, so each frame has its own initial queries; a
caller may pass its own (B, Q, d) queries instead (test-time query refinement optimises them).
Each decoder layer: self-attention among all queries, multi-scale deformable cross-attention
around a reference point predicted from the query, FFN (pre-norm residual blocks).

2D-informed queries (``cfg.keypoint_queries``, in the spirit of BioPose): the detector's 33
BlazePose keypoints, given as (B, 33, 3) = (x px, y px, confidence) in pixels of the network
input (confidence 0 = missing), become one token per keypoint (a linear map of
(x / S, y / S, conf) plus a learned per-keypoint embedding). An MLP over the flattened tokens adds
a (B, Q, d) term to the initial queries, and each decoder layer cross-attends from the queries to
the tokens (a gated residual block). The last layer of both paths is zero-initialised, so a
network initialised from image-only weights gives exactly their output, with or without
keypoints. Without a detector, pass ``keypoints=None``: all confidences 0.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor, nn

from core.hmr.mq.backbone import FeaturePyramid, ViT
from core.hmr.mq.config import MQHMRConfig
from core.hmr.mq.deform_attn import MSDeformAttn
from core.hmr.mq.heads import HeadOutput, Heads, RawOutput, decode_raw
from core.hmr.mq.preprocess import N_KEYPOINTS

__all__ = ["N_KEYPOINTS", "Encoded", "MQHMROutput", "MQHMR", "KeypointEncoder", "build_model"]


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
        self.kp_norm: nn.LayerNorm | None = None
        self.kp_attn: nn.MultiheadAttention | None = None
        if cfg.keypoint_queries:  # queries attend to the keypoint tokens; starts as a no-op
            self.kp_norm = nn.LayerNorm(d)
            self.kp_attn = nn.MultiheadAttention(d, cfg.dec_heads, batch_first=True)
            with torch.no_grad():
                self.kp_attn.out_proj.weight.zero_()
                self.kp_attn.out_proj.bias.zero_()

    def forward(
        self, q: Tensor, features: list[Tensor], kp_tokens: Tensor | None = None
    ) -> tuple[Tensor, Tensor]:
        h = self.norm1(q)
        q = q + self.self_attn(h, h, h, need_weights=False)[0]
        if self.kp_attn is not None and kp_tokens is not None:
            h = self.kp_norm(q)
            q = q + self.kp_attn(h, kp_tokens, kp_tokens, need_weights=False)[0]
        h = self.norm2(q)
        ref = torch.sigmoid(self.ref(h))
        q = q + self.cross(h, ref, features)
        return q + self.ff(self.norm3(q)), ref


class KeypointEncoder(nn.Module):
    """(B, 33, 3) keypoints (x px, y px, conf) -> tokens (B, 33, d) and a (B, Q, d) query term."""

    def __init__(self, cfg: MQHMRConfig) -> None:
        super().__init__()
        d = cfg.d_model
        self.size = float(cfg.input_size)
        self.point = nn.Linear(3, d)
        self.embed = nn.Parameter(0.02 * torch.randn(N_KEYPOINTS, d))
        self.norm = nn.LayerNorm(d)
        self.squeeze = nn.Linear(d, d // 4)  # per token, before flattening
        self.mlp = nn.Sequential(
            nn.Linear(N_KEYPOINTS * (d // 4), 2 * d),
            nn.GELU(),
            nn.Linear(2 * d, cfg.n_queries * d),
        )
        self.n_queries = cfg.n_queries
        with torch.no_grad():  # zero-initialised: no effect until trained
            self.mlp[-1].weight.zero_()
            self.mlp[-1].bias.zero_()

    def tokens(self, keypoints: Tensor) -> Tensor:
        conf = keypoints[..., 2:3].clamp(0.0, 1.0)
        xy = torch.where(conf > 0, keypoints[..., :2] / self.size, torch.zeros_like(conf))
        return self.norm(self.point(torch.cat([xy, conf], -1)) + self.embed)

    def query_term(self, tokens: Tensor) -> Tensor:
        b = tokens.shape[0]
        return self.mlp(self.squeeze(tokens).flatten(1)).view(b, self.n_queries, -1)


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
        self.kp_encoder = KeypointEncoder(cfg) if cfg.keypoint_queries else None
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

    def keypoint_tokens(self, enc: Encoded, keypoints: Tensor | None) -> Tensor | None:
        """(B, 33, d) tokens of keypoints (B, 33, 3) (x px, y px, conf; None: all missing),
        or None for a network without the keypoint branch (keypoints are then ignored)."""
        b = enc.pooled.shape[0]
        if keypoints is None:
            keypoints = enc.pooled.new_zeros(b, N_KEYPOINTS, 3)
        elif tuple(keypoints.shape) != (b, N_KEYPOINTS, 3):
            raise ValueError(
                f"expected keypoints of shape ({b}, {N_KEYPOINTS}, 3) (x px, y px, confidence "
                f"in the network input, BlazePose order), got {tuple(keypoints.shape)}"
            )
        if self.kp_encoder is None:
            return None
        return self.kp_encoder.tokens(keypoints.to(enc.pooled.dtype))

    def initial_queries(self, enc: Encoded, keypoints: Tensor | None = None) -> Tensor:
        """(B, Q, d): the learned embedding conditioned on the image and the 2D keypoints
        (B, 33, 3) (x px, y px, conf in the network input; None: none detected)."""
        q = self.query_embed.unsqueeze(0) + self.query_cond(enc.pooled).unsqueeze(1)
        tokens = self.keypoint_tokens(enc, keypoints)
        if tokens is not None:
            q = q + self.kp_encoder.query_term(tokens)
        return q

    def decode(
        self,
        enc: Encoded,
        k: Tensor,
        queries: Tensor | None = None,
        keypoints: Tensor | None = None,
    ) -> MQHMROutput:
        """K (B, 3, 3) intrinsics in pixels of the network input; queries (B, Q, d) or None
        (the initial queries); keypoints (B, 33, 3) as for :meth:`initial_queries`."""
        b = enc.pooled.shape[0]
        want = (b, self.cfg.n_queries, self.cfg.d_model)
        if queries is None:
            queries = self.initial_queries(enc, keypoints)
        elif tuple(queries.shape) != want:
            raise ValueError(f"expected queries of shape {want}, got {tuple(queries.shape)}")
        if tuple(k.shape) != (b, 3, 3):
            raise ValueError(f"expected K of shape ({b}, 3, 3) pixels, got {tuple(k.shape)}")
        tokens = self.keypoint_tokens(enc, keypoints)
        h = queries
        ref = queries.new_zeros(b, self.cfg.n_queries, 2)
        for layer in self.layers:
            h, ref = layer(h, enc.pyramid, tokens)
        raw = self.heads(self.norm(h))
        raw = RawOutput(raw.pose.float(), raw.shape_logit.float(), raw.camera.float())
        # Angles, limits and the camera in float32 even under mixed precision.
        with torch.autocast(device_type=k.device.type, enabled=False):
            out = decode_raw(raw, k.float(), self.cfg.input_size, self.cfg.skeleton_convention)
        return MQHMROutput(**vars(out), queries=queries, reference=ref)

    def forward(
        self,
        images: Tensor,
        k: Tensor,
        queries: Tensor | None = None,
        keypoints: Tensor | None = None,
    ) -> MQHMROutput:
        return self.decode(self.encode(images), k, queries, keypoints)


def build_model(cfg: MQHMRConfig) -> MQHMR:
    return MQHMR(cfg)
