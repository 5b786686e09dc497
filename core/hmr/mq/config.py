"""MQ-HMR configuration: one dataclass, saved as ``config.json`` beside the weights.

Two presets: ``small`` (trains on a laptop CPU in tens of minutes) and ``large`` (ViT-B-like
backbone for a GPU). A config is versioned; loading a config of another version, or one trained
for another DOF order or shape-parameter list, is an error, never a silent mismatch.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

from core import skeleton as sk

__all__ = ["CONFIG_VERSION", "MQHMRConfig", "preset", "default_shape_labels", "PRESETS"]

CONFIG_VERSION = 1
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


@dataclass
class MQHMRConfig:
    shape_labels: tuple[str, ...]  # Anny phenotype parameters, in the head's output order
    name: str = "small"
    input_size: int = 192  # square RGB crop, pixels
    mean: tuple[float, float, float] = IMAGENET_MEAN  # of 0..1 RGB
    std: tuple[float, float, float] = IMAGENET_STD
    patch: int = 16
    vit_dim: int = 192
    vit_depth: int = 8
    vit_heads: int = 3
    mlp_ratio: float = 4.0
    pyramid_layers: tuple[int, ...] = (4, 6, 8)  # 1-based ViT block outputs feeding the pyramid
    pyramid_strides: tuple[int, ...] = (8, 16, 32)  # one per pyramid layer
    d_model: int = 128
    dec_layers: int = 3
    dec_heads: int = 4
    dec_points: int = 4  # sampling points per head and level
    ff_mult: int = 2
    dof_names: tuple[str, ...] = sk.DOF_NAMES
    body_names: tuple[str, ...] = sk.BODY_NAMES  # one pose query per body
    # 2D-informed queries: the detector's 33 BlazePose keypoints condition the initial queries
    # and are attended to in every decoder layer (core.hmr.mq.network). Configs saved before
    # this field existed load with False (image-only networks).
    keypoint_queries: bool = True
    # Skeleton sign convention of the training labels (core.skeleton.SKELETON_CONVENTION);
    # configs saved before it existed were trained in convention 1 and load with 1.
    skeleton_convention: int = sk.SKELETON_CONVENTION
    version: int = CONFIG_VERSION
    training: dict = field(default_factory=dict)  # how the weights were made

    def __post_init__(self) -> None:
        if self.input_size % self.patch:
            raise ValueError(f"input_size {self.input_size} is not a multiple of {self.patch}")
        if len(self.pyramid_layers) != len(self.pyramid_strides):
            raise ValueError("pyramid_layers and pyramid_strides must have the same length")
        if any(not 1 <= i <= self.vit_depth for i in self.pyramid_layers):
            raise ValueError(f"pyramid_layers {self.pyramid_layers} outside 1..{self.vit_depth}")
        if any(s not in (4, 8, 16, 32, 64) or s < self.patch // 4 for s in self.pyramid_strides):
            raise ValueError(f"unsupported pyramid stride in {self.pyramid_strides}")
        if self.vit_dim % self.vit_heads or self.d_model % self.dec_heads:
            raise ValueError("vit_dim / d_model must be divisible by the number of heads")

    @property
    def n_shape(self) -> int:
        return len(self.shape_labels)

    @property
    def n_queries(self) -> int:
        """Pose queries (one per body), shape queries (one per parameter), one camera query."""
        return len(self.body_names) + self.n_shape + 1

    def to_json(self) -> str:
        return json.dumps(asdict(self), indent=2)

    @classmethod
    def from_json(cls, text: str) -> MQHMRConfig:
        d = json.loads(text)
        if d.get("version", 0) != CONFIG_VERSION:
            raise ValueError(
                f"MQ-HMR config version {d.get('version')} is not {CONFIG_VERSION}: these "
                "weights were written by another version of core.hmr.mq; retrain them with "
                "python -m core.hmr.mq.train"
            )
        for k in (
            "shape_labels",
            "mean",
            "std",
            "pyramid_layers",
            "pyramid_strides",
            "dof_names",
            "body_names",
        ):
            d[k] = tuple(d[k])
        d.setdefault("keypoint_queries", False)  # written before 2D-informed queries existed
        d.setdefault("skeleton_convention", 1)  # written before skeleton convention 2
        if d["dof_names"] != sk.DOF_NAMES or d["body_names"] != sk.BODY_NAMES:
            raise ValueError("MQ-HMR weights were trained for a different BSM-46 DOF/body order")
        unknown = set(d) - set(cls.__dataclass_fields__)
        if unknown:
            raise ValueError(f"unknown MQ-HMR config field(s) {sorted(unknown)}")
        return cls(**d)

    @classmethod
    def load(cls, path: str | Path) -> MQHMRConfig:
        return cls.from_json(Path(path).read_text())


def default_shape_labels() -> tuple[str, ...]:
    """Anny's phenotype labels (loads Anny, a few seconds)."""
    from core.anny_neutral import phenotype_vector

    return phenotype_vector(None)[1]


PRESETS: dict[str, dict] = {
    "small": {},
    "large": dict(
        name="large",
        input_size=256,
        vit_dim=768,
        vit_depth=12,
        vit_heads=12,
        pyramid_layers=(4, 8, 12),
        d_model=256,
        dec_layers=4,
        dec_heads=8,
    ),
}


def preset(name: str, shape_labels: tuple[str, ...] | None = None, **overrides) -> MQHMRConfig:
    """The ``small`` or ``large`` configuration; ``shape_labels`` default to Anny's."""
    if name not in PRESETS:
        raise ValueError(f"unknown MQ-HMR configuration {name!r}; choose one of {list(PRESETS)}")
    labels = tuple(shape_labels) if shape_labels is not None else default_shape_labels()
    cfg = MQHMRConfig(shape_labels=labels, **PRESETS[name])
    return replace(cfg, **overrides) if overrides else cfg
