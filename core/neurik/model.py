"""NeurIK: a spatio-temporal transformer from marker sequences to BSM-46 joint angles.

Per frame, each marker becomes a token (position relative to the frame's marker centroid, its
confidence, and a learned marker embedding; missing markers are replaced by a learned mask token).
Attention across markers mixes the tokens of a frame, which are then concatenated (keeping each
marker's identity) into one frame token; attention across time mixes frames.
Heads give, per frame, the pelvis orientation (6D, unlimited), the 43 limited angles through the
bounded map of ``core.kinematics.q_from_free`` (so no input can produce an angle outside the limits)
and the pelvis position relative to the marker centroid; per sequence, one scale per body segment.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path

import torch
from torch import Tensor, nn

from core import kinematics as K
from core import skeleton as sk

__all__ = [
    "NeurIKConfig",
    "NeurIKOutput",
    "NeurIK",
    "rotation_6d_to_matrix",
]

CONFIG_VERSION = 1
_ROOT = [sk.DOF["pelvis_tilt"], sk.DOF["pelvis_list"], sk.DOF["pelvis_rotation"]]
_LIMITED = [i for i in range(sk.N_DOFS) if i not in _ROOT]
SCALE_RANGE = (0.7, 1.35)  # per-segment scale relative to skeleton.default_offsets(1.75)
# sigmoid(_SCALE_OFFSET) puts an untrained head at scale 1.
_SCALE_OFFSET = float(
    torch.logit(torch.tensor((1 - SCALE_RANGE[0]) / (SCALE_RANGE[1] - SCALE_RANGE[0])))
)


@dataclass
class NeurIKConfig:
    marker_set: str  # "anatomical" or "blazepose33"
    marker_names: tuple[str, ...]
    window: int = 32
    d_model: int = 128
    d_spatial: int = 32  # marker tokens are narrower: there are M of them per frame
    n_heads: int = 4
    n_spatial_layers: int = 1
    n_temporal_layers: int = 3
    ff_mult: int = 2
    dof_names: tuple[str, ...] = sk.DOF_NAMES
    version: int = CONFIG_VERSION
    training: dict = field(default_factory=dict)  # how the weights were made
    # core.skeleton sign convention of the angles the weights were trained on; configs written
    # before the key existed are convention 1 (the runtime converts their output)
    skeleton_convention: int = sk.SKELETON_CONVENTION

    def to_json(self) -> str:
        return json.dumps(asdict(self), indent=2)

    @classmethod
    def from_json(cls, text: str) -> NeurIKConfig:
        d = json.loads(text)
        if d.get("version", 0) != CONFIG_VERSION:
            raise ValueError(f"NeurIK config version {d.get('version')} is not {CONFIG_VERSION}")
        d["marker_names"] = tuple(d["marker_names"])
        d["dof_names"] = tuple(d["dof_names"])
        d.setdefault("skeleton_convention", 1)
        if not 1 <= int(d["skeleton_convention"]) <= sk.SKELETON_CONVENTION:
            raise ValueError(
                f"NeurIK weights use skeleton convention {d['skeleton_convention']}, newer than "
                f"this biomocap ({sk.SKELETON_CONVENTION})"
            )
        if d["dof_names"] != sk.DOF_NAMES:
            raise ValueError("NeurIK weights were trained for a different DOF order")
        return cls(**d)

    @classmethod
    def load(cls, path: Path) -> NeurIKConfig:
        return cls.from_json(Path(path).read_text())


@dataclass
class NeurIKOutput:
    q_rad: Tensor  # (B, T, 46) within the limits by construction
    root_m: Tensor  # (B, T, 3) pelvis origin, same frame as the input markers
    segment_scale: Tensor  # (B, 24) one per sequence, relative to default_offsets(1.75)


def rotation_6d_to_matrix(x: Tensor) -> Tensor:
    """(..., 6) -> (..., 3, 3) by Gram-Schmidt (Zhou et al. 2019); columns are the basis."""
    a1, a2 = x[..., :3], x[..., 3:]
    b1 = nn.functional.normalize(a1, dim=-1)
    b2 = nn.functional.normalize(a2 - (b1 * a2).sum(-1, keepdim=True) * b1, dim=-1)
    b3 = torch.cross(b1, b2, dim=-1)
    return torch.stack([b1, b2, b3], dim=-1)


class _Block(nn.Module):
    def __init__(self, d: int, heads: int, ff_mult: int) -> None:
        super().__init__()
        self.norm1 = nn.LayerNorm(d)
        self.attn = nn.MultiheadAttention(d, heads, batch_first=True)
        self.norm2 = nn.LayerNorm(d)
        self.ff = nn.Sequential(nn.Linear(d, ff_mult * d), nn.GELU(), nn.Linear(ff_mult * d, d))

    def forward(self, x: Tensor, key_padding_mask: Tensor | None = None) -> Tensor:
        h = self.norm1(x)
        x = x + self.attn(h, h, h, key_padding_mask=key_padding_mask, need_weights=False)[0]
        return x + self.ff(self.norm2(x))


class NeurIK(nn.Module):
    def __init__(self, cfg: NeurIKConfig) -> None:
        super().__init__()
        self.cfg = cfg
        d, ds, m = cfg.d_model, cfg.d_spatial, len(cfg.marker_names)
        self.marker_embed = nn.Parameter(torch.randn(m, ds) * 0.02)
        self.mask_token = nn.Parameter(torch.zeros(ds))
        self.inp = nn.Sequential(nn.Linear(4, ds), nn.GELU(), nn.Linear(ds, ds))
        self.spatial = nn.ModuleList(
            _Block(ds, cfg.n_heads, cfg.ff_mult) for _ in range(cfg.n_spatial_layers)
        )
        # Flattening keeps each marker's identity (attention pooling alone would blur it).
        self.frame_in = nn.Sequential(nn.LayerNorm(m * ds), nn.Linear(m * ds, d))
        self.traj_in = nn.Linear(3, d)
        self.time_embed = nn.Parameter(torch.randn(cfg.window, d) * 0.02)
        self.temporal = nn.ModuleList(
            _Block(d, cfg.n_heads, cfg.ff_mult) for _ in range(cfg.n_temporal_layers)
        )
        self.norm = nn.LayerNorm(d)
        self.head_root_rot = nn.Linear(d, 6)
        self.head_root_pos = nn.Linear(d, 3)
        self.head_q = nn.Linear(d, len(_LIMITED))
        self.head_scale = nn.Linear(d, sk.N_BODIES)
        with torch.no_grad():  # start at the identity pelvis and the mid-range of every joint
            self.head_root_rot.weight.mul_(0.01)
            self.head_root_rot.bias.copy_(torch.tensor([1.0, 0, 0, 0, 1.0, 0]))
            self.head_q.weight.mul_(0.01)
            self.head_q.bias.copy_(
                K.free_from_q(torch.zeros(sk.N_DOFS, dtype=torch.float32))[_LIMITED]
            )
            self.head_scale.weight.mul_(0.01)
            self.head_scale.bias.zero_()

    def forward(self, markers_m: Tensor, confidence: Tensor) -> NeurIKOutput:
        """markers_m (B, T, M, 3) metres, Y up (NaN allowed where confidence is 0);
        confidence (B, T, M) in 0..1 (0 = missing). T <= cfg.window."""
        b, t, m, _ = markers_m.shape
        if m != len(self.cfg.marker_names):
            raise ValueError(f"expected {len(self.cfg.marker_names)} markers, got {m}")
        if t > self.cfg.window:
            raise ValueError(
                f"at most {self.cfg.window} frames per call, got {t} (use core.neurik.run)"
            )
        valid = (confidence > 0) & torch.isfinite(markers_m).all(-1)
        x = torch.where(valid.unsqueeze(-1), markers_m, torch.zeros_like(markers_m))
        w = valid.to(x.dtype)
        n = w.sum(-1, keepdim=True).clamp_min(1.0)
        centroid = (x * w.unsqueeze(-1)).sum(-2) / n  # (B, T, 3)
        rel = (x - centroid.unsqueeze(-2)) * w.unsqueeze(-1)
        tok = self.inp(torch.cat([rel, (confidence * w).unsqueeze(-1)], -1)) + self.marker_embed
        tok = torch.where(valid.unsqueeze(-1), tok, self.mask_token + self.marker_embed)
        tok = tok.reshape(b * t, m, -1)
        for blk in self.spatial:
            tok = blk(tok)
        frame = tok.reshape(b, t, -1)
        # The centroid trajectory (relative to the window's mean) carries global motion.
        traj = centroid - centroid.mean(1, keepdim=True)
        h = self.frame_in(frame) + self.traj_in(traj) + self.time_embed[:t]
        for blk in self.temporal:
            h = blk(h)
        h = self.norm(h)
        root_angles = K.pelvis_angles_from_matrix(rotation_6d_to_matrix(self.head_root_rot(h)))
        limited = K.q_from_free(
            torch.zeros(b, t, sk.N_DOFS, dtype=h.dtype, device=h.device).index_copy(
                -1, torch.tensor(_LIMITED, device=h.device), self.head_q(h)
            )
        )
        root_idx = torch.tensor(_ROOT, device=h.device)
        q_rad = limited.index_copy(-1, root_idx, root_angles)
        root_m = centroid + self.head_root_pos(h)
        lo, hi = SCALE_RANGE
        scale = lo + (hi - lo) * torch.sigmoid(self.head_scale(h.mean(1)) + _SCALE_OFFSET)
        return NeurIKOutput(q_rad, root_m, scale)
