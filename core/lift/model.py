"""The lifter: a residual temporal convolution network from 2D keypoint windows to BSM-46 angles.

Per frame the features of :mod:`core.lift.features` are embedded by a linear layer; residual
blocks of dilated 1D convolutions over time (receptive field ~1 s at 30 fps) mix the frames; heads
give, per frame, the pelvis orientation relative to the virtual camera (6D, unlimited) and the 43
limited angles through :func:`core.kinematics.q_from_free` (no input can produce an angle outside
the limits, as in NeurIK).
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path

import torch
from torch import Tensor, nn

from core import kinematics as K
from core import skeleton as sk
from core.lift.features import FEATURES_PER_FRAME
from core.neurik.model import rotation_6d_to_matrix

__all__ = ["LiftConfig", "LiftOutput", "Lifter", "build_model", "grow_model"]

CONFIG_VERSION = 1
ROOT = [sk.DOF["pelvis_tilt"], sk.DOF["pelvis_list"], sk.DOF["pelvis_rotation"]]
LIMITED = [i for i in range(sk.N_DOFS) if i not in ROOT]


@dataclass
class LiftConfig:
    window: int = 32  # frames per call at fps_hz
    fps_hz: float = 30.0
    width: int = 128
    dilations: tuple[int, ...] = (1, 2, 4, 8)
    kernel: int = 3
    dropout: float = 0.05
    n_features: int = FEATURES_PER_FRAME
    dof_names: tuple[str, ...] = sk.DOF_NAMES
    skeleton_convention: int = sk.SKELETON_CONVENTION
    version: int = CONFIG_VERSION
    training: dict = field(default_factory=dict)  # how the weights were made

    def to_json(self) -> str:
        return json.dumps(asdict(self), indent=2)

    @classmethod
    def from_json(cls, text: str, source: str = "config.json") -> LiftConfig:
        d = json.loads(text)
        if d.get("version") != CONFIG_VERSION:
            raise ValueError(f"{source}: lifter config version {d.get('version')} is not 1")
        d["dof_names"], d["dilations"] = tuple(d["dof_names"]), tuple(d["dilations"])
        if d["dof_names"] != sk.DOF_NAMES:
            raise ValueError(f"{source}: the weights were trained for a different DOF order")
        if d["skeleton_convention"] != sk.SKELETON_CONVENTION:
            raise ValueError(
                f"{source}: weights in skeleton convention {d['skeleton_convention']}, this "
                f"biomocap uses {sk.SKELETON_CONVENTION}; retrain with python -m core.lift.train"
            )
        return cls(**d)


@dataclass
class LiftOutput:
    q_rad: Tensor  # (B, T, 46) limited DOFs within the limits; root angles virtual-camera relative
    pelvis_rot: Tensor  # (B, T, 3, 3) pelvis orientation in the virtual camera's BSM frame


class _Block(nn.Module):
    def __init__(self, width: int, kernel: int, dilation: int, dropout: float) -> None:
        super().__init__()
        pad = dilation * (kernel - 1) // 2
        self.norm = nn.GroupNorm(1, width)
        self.conv1 = nn.Conv1d(width, width, kernel, padding=pad, dilation=dilation)
        self.conv2 = nn.Conv1d(width, width, 1)
        self.drop = nn.Dropout(dropout)

    def forward(self, x: Tensor) -> Tensor:
        h = self.conv1(nn.functional.gelu(self.norm(x)))
        return x + self.conv2(self.drop(nn.functional.gelu(h)))


class Lifter(nn.Module):
    def __init__(self, cfg: LiftConfig) -> None:
        super().__init__()
        self.cfg = cfg
        w = cfg.width
        self.inp = nn.Sequential(
            nn.Linear(cfg.n_features, w), nn.GELU(), nn.Linear(w, w)
        )  # per frame
        self.blocks = nn.ModuleList(_Block(w, cfg.kernel, d, cfg.dropout) for d in cfg.dilations)
        self.norm = nn.LayerNorm(w)
        self.head_rot = nn.Linear(w, 6)
        self.head_q = nn.Linear(w, len(LIMITED))
        with torch.no_grad():  # start at a neutral pelvis facing the camera and mid-range joints
            self.head_rot.weight.mul_(0.01)
            self.head_rot.bias.copy_(torch.tensor([1.0, 0, 0, 0, 1.0, 0]))
            self.head_q.weight.mul_(0.01)
            self.head_q.bias.copy_(
                K.free_from_q(torch.zeros(sk.N_DOFS, dtype=torch.float32))[LIMITED]
            )
        self.register_buffer("_limited", torch.tensor(LIMITED), persistent=False)
        self.register_buffer("_root", torch.tensor(ROOT), persistent=False)

    def forward(self, features: Tensor) -> LiftOutput:
        """features (B, T, n_features) from :func:`core.lift.features.window_features`."""
        if features.dim() != 3 or features.shape[-1] != self.cfg.n_features:
            raise ValueError(
                f"expected features of shape (B, T, {self.cfg.n_features}), "
                f"got {tuple(features.shape)}"
            )
        h = self.inp(features).transpose(1, 2)  # (B, W, T)
        for blk in self.blocks:
            h = blk(h)
        h = self.norm(h.transpose(1, 2))
        rot = rotation_6d_to_matrix(self.head_rot(h))
        b, t = h.shape[:2]
        free = torch.zeros(b, t, sk.N_DOFS, dtype=h.dtype, device=h.device)
        q = K.q_from_free(free.index_copy(-1, self._limited, self.head_q(h)))
        q = q.index_copy(-1, self._root, K.pelvis_angles_from_matrix(rot))
        return LiftOutput(q, rot)


def build_model(cfg: LiftConfig) -> Lifter:
    return Lifter(cfg)


def grow_model(
    net: Lifter, width: int, dilations: tuple[int, ...], window: int | None = None,
    noise: float = 0.01, seed: int = 0,
) -> Lifter:  # fmt: skip
    """A wider and deeper copy of trained weights that computes the same function (Net2Net,
    Chen et al. 2016), to fine-tune where the trained network has stopped improving.

    ``width`` must be a whole multiple of the trained width: every channel of the residual
    stream and of the input layer is copied that many times, so GroupNorm(1) and LayerNorm see
    the same statistics, and each weight reading those channels is divided among the copies.
    When doubling, the division differs between the two copies by +-``noise`` of that layer's
    weight spread (summing to the same total), so that they receive different gradients and can
    part; wider multiples rely on dropout for that.
    ``dilations`` must begin with the trained ones; each added residual block starts as the
    identity (its last convolution zero). ``window``: frames per call (default: unchanged)."""
    old = net.cfg
    k, rem = divmod(width, old.width)
    if rem or k < 1:
        raise ValueError(f"width {width} is not a whole multiple of the trained {old.width}")
    dilations = tuple(int(d) for d in dilations)
    if dilations[: len(old.dilations)] != tuple(old.dilations):
        raise ValueError(
            f"dilations {dilations} must begin with the trained {tuple(old.dilations)}"
        )
    cfg = LiftConfig(
        window=window or old.window, fps_hz=old.fps_hz, width=width, dilations=dilations,
        kernel=old.kernel, dropout=old.dropout, n_features=old.n_features,
    )  # fmt: skip
    new = build_model(cfg)
    gen = torch.Generator().manual_seed(seed)
    src = net.state_dict()
    idx = torch.arange(width) % old.width  # new channel -> the trained channel it copies

    def split_inputs(w: Tensor) -> Tensor:
        """Weights reading the widened channels (dim 1), divided among the copies."""
        out = w.index_select(1, idx) / k
        if noise > 0 and k == 2:  # +d on one copy, -d on the other: the sum is unchanged
            d = noise * w.std() * torch.randn(w.shape, generator=gen, dtype=w.dtype)
            out = out + torch.cat([d, -d], dim=1)
        return out

    grown = {}
    for name, w in src.items():
        if name.startswith("inp.0."):  # features -> widened units
            grown[name] = w.index_select(0, idx)
        elif name.startswith(("head_rot.", "head_q.")):
            grown[name] = split_inputs(w) if name.endswith("weight") else w.clone()
        elif w.dim() == 1:  # biases and norm parameters of widened channels
            grown[name] = w.index_select(0, idx)
        else:  # inp.2, blocks' convolutions: widened in and out
            grown[name] = split_inputs(w).index_select(0, idx)
    state = new.state_dict()
    for name in state:
        if name in grown:
            state[name] = grown[name].to(state[name].dtype)
        elif name.endswith(("conv2.weight", "conv2.bias")):  # an added block: the identity
            state[name] = torch.zeros_like(state[name])
    new.load_state_dict(state, strict=True)
    return new


def load_config(path: Path) -> LiftConfig:
    return LiftConfig.from_json(Path(path).read_text(), source=str(path))
