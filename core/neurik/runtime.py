"""Loading NeurIK weights, running whole clips (windows with overlap blending), ONNX export and the
onnxruntime runner. Both runners return the same ``NeurIKResult``."""

from __future__ import annotations

import functools
import logging
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from core import skeleton as sk
from core.neurik.model import NeurIK, NeurIKConfig

__all__ = [
    "NeurIKResult",
    "WEIGHTS_DIR",
    "save_weights",
    "weights_label",
    "load_neurik",
    "run_neurik",
    "export_onnx",
    "OnnxNeurIK",
]

log = logging.getLogger(__name__)

WEIGHTS_DIR = Path(__file__).resolve().parent / "weights"
_ROOT_IDX = [sk.DOF["pelvis_tilt"], sk.DOF["pelvis_list"], sk.DOF["pelvis_rotation"]]


@dataclass
class NeurIKResult:
    q_rad: np.ndarray  # (T, 46) within the limits
    root_m: np.ndarray  # (T, 3)
    segment_scale: np.ndarray  # (24,) relative to skeleton.default_offsets(1.75)
    offsets_m: np.ndarray  # (24, 3) = default_offsets(1.75) scaled per segment

    @property
    def n_frames(self) -> int:
        return int(self.q_rad.shape[0])


def save_weights(net: NeurIK, folder: str | Path) -> Path:
    from safetensors.torch import save_file

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "model.safetensors"
    tmp = folder / ".model.safetensors.tmp"
    save_file({k: v.detach().contiguous() for k, v in net.state_dict().items()}, str(tmp))
    tmp.replace(path)
    (folder / "config.json").write_text(net.cfg.to_json())
    return path


def weights_label(net, default_folder: Path) -> str:
    """For provenance: the weights folder a network was loaded from (``net.weights_folder``, set
    by the loaders; else ``default_folder``), relative to the repository when inside it."""
    folder = Path(getattr(net, "weights_folder", None) or default_folder).resolve()
    repo = Path(__file__).resolve().parents[2]
    return str(folder.relative_to(repo)) if folder.is_relative_to(repo) else str(folder)


@functools.lru_cache(maxsize=4)
def load_neurik(marker_set_or_folder: str) -> NeurIK:
    """Shipped weights by marker-set name ('anatomical', 'blazepose33') or a folder path.
    ``BIOMOCAP_NEURIK_DIR`` (a folder holding ``<name>/``) replaces the shipped weights folder,
    and ``BIOMOCAP_NEURIK_<NAME>`` (e.g. ``BIOMOCAP_NEURIK_BLAZEPOSE33=blazepose33_bank``) names
    other weights for one name, so that a benchmark can run the whole capture with them."""
    alias = os.environ.get(f"BIOMOCAP_NEURIK_{marker_set_or_folder.upper()}")
    if alias and "/" not in marker_set_or_folder:
        marker_set_or_folder = alias
    folder = Path(marker_set_or_folder)
    if not folder.is_dir():
        folder = Path(os.environ.get("BIOMOCAP_NEURIK_DIR") or WEIGHTS_DIR) / marker_set_or_folder
    if not (folder / "model.safetensors").is_file():
        raise FileNotFoundError(
            f"no NeurIK weights in {folder}; train them with python -m core.neurik.train"
        )
    from safetensors.torch import load_file

    cfg = NeurIKConfig.load(folder / "config.json")
    net = NeurIK(cfg)
    net.load_state_dict(load_file(str(folder / "model.safetensors")), strict=True)
    net.eval()
    net.weights_folder = folder.resolve()  # what was loaded, for provenance
    return net


def _validate(
    markers_m: np.ndarray, confidence: np.ndarray | None, m_expected: int
) -> tuple[np.ndarray, np.ndarray]:
    x = np.asarray(markers_m, dtype=np.float32)
    if x.ndim != 3 or x.shape[2] != 3:
        raise ValueError(f"expected markers of shape (T, M, 3) metres, got {x.shape}")
    if x.shape[1] != m_expected:
        raise ValueError(
            f"expected {m_expected} markers per frame for these weights, got {x.shape[1]}"
        )
    if x.shape[0] < 1:
        raise ValueError("the marker sequence is empty (0 frames)")
    c = (
        np.ones(x.shape[:2], np.float32)
        if confidence is None
        else np.asarray(confidence, np.float32)
    )
    if c.shape != x.shape[:2]:
        raise ValueError(f"expected confidence of shape {x.shape[:2]}, got {c.shape}")
    c = np.where(np.isfinite(x).all(-1) & np.isfinite(c), np.clip(c, 0, 1), 0).astype(np.float32)
    if not (c > 0).any():
        raise ValueError(
            "no valid marker in the whole sequence (all missing, NaN or zero confidence)"
        )
    if np.nanmax(np.abs(np.where(c[..., None] > 0, x, 0))) > 1e4:
        raise ValueError("marker coordinates beyond 10 km: expected metres")
    return np.where(c[..., None] > 0, x, 0).astype(np.float32), c


def _windows(t: int, w: int) -> list[int]:
    if t <= w:
        return [0]
    step = w // 2
    starts = list(range(0, t - w + 1, step))
    if starts[-1] != t - w:
        starts.append(t - w)
    return starts


def _blend(
    predict: Callable[[np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray, np.ndarray]],
    x: np.ndarray,
    c: np.ndarray,
    w: int,
    batch: int = 64,
    convention: int = sk.SKELETON_CONVENTION,
) -> NeurIKResult:
    t = x.shape[0]
    if t < w:  # pad by repeating the edge frame; padded frames are dropped afterwards
        pad = w - t
        x = np.concatenate([x, np.repeat(x[-1:], pad, 0)])
        c = np.concatenate([c, np.repeat(c[-1:], pad, 0)])
    tt = x.shape[0]
    starts = _windows(tt, w)
    ramp = np.minimum(np.arange(1, w + 1), np.arange(w, 0, -1)).astype(np.float64)  # triangle
    acc_q = np.zeros((tt, sk.N_DOFS))
    acc_rot = np.zeros((tt, 3, 2))  # root angles blended on the circle
    acc_r = np.zeros((tt, 3))
    acc_w = np.zeros(tt)
    scales = []
    for i in range(0, len(starts), batch):
        chunk = starts[i : i + batch]
        xb = np.stack([x[s : s + w] for s in chunk])
        cb = np.stack([c[s : s + w] for s in chunk])
        q, root, scale = predict(xb, cb)
        for k, s in enumerate(chunk):
            acc_q[s : s + w] += ramp[:, None] * q[k]
            ang = q[k][:, _ROOT_IDX]
            acc_rot[s : s + w] += ramp[:, None, None] * np.stack([np.cos(ang), np.sin(ang)], -1)
            acc_r[s : s + w] += ramp[:, None] * root[k]
            acc_w[s : s + w] += ramp
            scales.append(scale[k])
    q = acc_q / acc_w[:, None]  # a convex blend of in-limit values stays in the limits
    q[:, _ROOT_IDX] = np.arctan2(acc_rot[..., 1], acc_rot[..., 0])
    q = sk.to_current_convention(q, convention)  # weights trained in an older sign convention
    lo, hi = sk.limits_rad()
    q = np.clip(q, np.where(np.isfinite(lo), lo, -np.inf), np.where(np.isfinite(hi), hi, np.inf))
    scale = np.mean(scales, 0)
    return NeurIKResult(
        q[:t], (acc_r / acc_w[:, None])[:t], scale, sk.default_offsets(1.75) * scale[:, None]
    )


def run_neurik(
    markers_m: np.ndarray,
    confidence: np.ndarray | None = None,
    *,
    model: NeurIK | str = "anatomical",
    device: str | torch.device = "cpu",
) -> NeurIKResult:
    """Joint angles for a whole clip: markers (T, M, 3) metres (Y up; NaN = missing), confidence
    (T, M) or None. Any length from 1 frame up; long clips run in overlapping windows."""
    net = load_neurik(model) if isinstance(model, str) else model
    net = net.to(device)
    x, c = _validate(markers_m, confidence, len(net.cfg.marker_names))

    @torch.no_grad()
    def predict(xb: np.ndarray, cb: np.ndarray):
        out = net(torch.from_numpy(xb).to(device), torch.from_numpy(cb).to(device))
        return (
            out.q_rad.double().cpu().numpy(),
            out.root_m.double().cpu().numpy(),
            out.segment_scale.double().cpu().numpy(),
        )

    return _blend(predict, x, c, net.cfg.window, convention=net.cfg.skeleton_convention)


def export_onnx(net: NeurIK, path: str | Path) -> Path:
    """ONNX with dynamic batch and time axes (time <= the config's window); checked."""
    import onnx

    path = Path(path)
    w, m = net.cfg.window, len(net.cfg.marker_names)
    net = net.eval()

    class _Wrap(torch.nn.Module):
        def __init__(self, inner: NeurIK) -> None:
            super().__init__()
            self.inner = inner

        def forward(self, markers: torch.Tensor, confidence: torch.Tensor):
            o = self.inner(markers, confidence)
            return o.q_rad, o.root_m, o.segment_scale

    args = (torch.zeros(2, w, m, 3), torch.ones(2, w, m))
    torch.onnx.export(
        _Wrap(net),
        args,
        str(path),
        input_names=["markers", "confidence"],
        output_names=["q_rad", "root_m", "segment_scale"],
        dynamic_axes={
            "markers": {0: "batch", 1: "time"},
            "confidence": {0: "batch", 1: "time"},
            "q_rad": {0: "batch", 1: "time"},
            "root_m": {0: "batch", 1: "time"},
            "segment_scale": {0: "batch"},
        },
        opset_version=17,
        dynamo=False,
    )
    onnx.checker.check_model(onnx.load(str(path)))
    return path


class OnnxNeurIK:
    """onnxruntime runner with the same result type as :func:`run_neurik`."""

    def __init__(self, onnx_path: str | Path, config: NeurIKConfig) -> None:
        import onnxruntime as ort

        self.cfg = config
        self.session = ort.InferenceSession(str(onnx_path), providers=["CPUExecutionProvider"])

    def __call__(
        self, markers_m: np.ndarray, confidence: np.ndarray | None = None
    ) -> NeurIKResult:
        x, c = _validate(markers_m, confidence, len(self.cfg.marker_names))

        def predict(xb: np.ndarray, cb: np.ndarray):
            q, root, scale = self.session.run(None, {"markers": xb, "confidence": cb})
            return q.astype(np.float64), root.astype(np.float64), scale.astype(np.float64)

        return _blend(predict, x, c, self.cfg.window, convention=self.cfg.skeleton_convention)
