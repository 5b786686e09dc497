"""ONNX export of MQ-HMR (dynamic batch axis, checked with ``onnx.checker``) and an onnxruntime
runner returning the same :class:`MQPrediction` as the torch ``predict``.

The model's config travels inside the .onnx file (metadata key ``mq_hmr_config``), so the runner
needs nothing else. Deformable attention exports as ONNX ``GridSample`` (opset 17). A
``keypoint_queries`` network has a third input, ``keypoints`` (B, 33, 3) (x px, y px, conf in the
network input; all zeros without a detector).
"""

from __future__ import annotations

import logging
import os
import warnings
from pathlib import Path

import numpy as np
import torch

from core.hmr.mq.config import MQHMRConfig
from core.hmr.mq.inference import MQPrediction
from core.hmr.mq.network import MQHMR
from core.hmr.mq.preprocess import N_KEYPOINTS, preprocess_crops, preprocess_keypoints

__all__ = ["export_onnx", "OnnxMQHMR", "OPSET", "OUTPUT_NAMES"]

log = logging.getLogger(__name__)

OPSET = 17
OUTPUT_NAMES = ("q_rad", "R_cam_pelvis", "shape", "t_cam_m", "queries")
_META_KEY = "mq_hmr_config"


class _Wrap(torch.nn.Module):
    def __init__(self, inner: MQHMR) -> None:
        super().__init__()
        self.inner = inner

    def forward(
        self, image: torch.Tensor, k: torch.Tensor, keypoints: torch.Tensor | None = None
    ) -> tuple[torch.Tensor, ...]:
        o = self.inner(image, k, keypoints=keypoints)
        return o.q_rad, o.R_cam_pelvis, o.shape, o.t_cam_m, o.queries


def export_onnx(model: MQHMR, path: str | Path) -> Path:
    """Write ``path`` (inputs: ``image`` (B, 3, S, S) normalised float32, ``K`` (B, 3, 3)
    pixels of the network input and, for a ``keypoint_queries`` network, ``keypoints``
    (B, 33, 3); outputs: ``OUTPUT_NAMES``), atomically, and check it."""
    import onnx

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    s = model.cfg.input_size
    was_training = model.training
    model = model.eval()
    dev = next(model.parameters()).device
    args = (
        torch.zeros(2, 3, s, s, device=dev),
        torch.tensor([[s, 0.0, s / 2], [0.0, s, s / 2], [0.0, 0.0, 1.0]], device=dev).expand(
            2, 3, 3
        ),
    )
    inputs = ["image", "K"]
    if model.cfg.keypoint_queries:
        kp = torch.zeros(2, N_KEYPOINTS, 3, device=dev)
        kp[1, :, :2] = s / 2  # one sample with keypoints, so no branch is traced away
        kp[1, :, 2] = 1.0
        args = (*args, kp)
        inputs.append("keypoints")
    tmp = path.with_name(f".{path.name}.tmp")
    axes = {n: {0: "batch"} for n in (*inputs, *OUTPUT_NAMES)}
    with warnings.catch_warnings():  # constants folded into the trace are intended
        warnings.simplefilter("ignore", torch.jit.TracerWarning)
        warnings.simplefilter("ignore", DeprecationWarning)
        torch.onnx.export(
            _Wrap(model),
            args,
            str(tmp),
            input_names=inputs,
            output_names=list(OUTPUT_NAMES),
            dynamic_axes=axes,
            opset_version=OPSET,
            dynamo=False,
        )
    proto = onnx.load(str(tmp))
    entry = proto.metadata_props.add()
    entry.key, entry.value = _META_KEY, model.cfg.to_json()
    onnx.checker.check_model(proto)
    onnx.save(proto, str(tmp))
    os.replace(tmp, path)
    model.train(was_training)
    return path


class OnnxMQHMR:
    """onnxruntime MQ-HMR: ``predict(crops_uint8, K_crop, keypoints_px, conf)`` as
    :func:`core.hmr.mq.predict`."""

    def __init__(self, path: str | Path, providers: list[str] | None = None) -> None:
        try:
            import onnxruntime as ort
        except ImportError as e:  # pragma: no cover - depends on the environment
            raise ImportError(
                "onnxruntime is needed for OnnxMQHMR: pip install 'biomocap[capture]'"
            ) from e
        path = Path(path)
        if not path.is_file():
            raise FileNotFoundError(f"no ONNX model at {path}; write one with export_onnx")
        self.session = ort.InferenceSession(
            str(path), providers=providers or ["CPUExecutionProvider"]
        )
        meta = self.session.get_modelmeta().custom_metadata_map
        if _META_KEY not in meta:
            raise ValueError(f"{path} is not an MQ-HMR export (no {_META_KEY} metadata)")
        self.cfg = MQHMRConfig.from_json(meta[_META_KEY])

    def predict(
        self,
        crops_uint8: np.ndarray,
        k_crop: np.ndarray,
        keypoints_px: np.ndarray | None = None,
        conf: np.ndarray | None = None,
    ) -> MQPrediction:
        images, k_in = preprocess_crops(crops_uint8, k_crop, self.cfg)
        feed = {"image": images, "K": k_in}
        if self.cfg.keypoint_queries:
            hw = np.asarray(crops_uint8).shape[-3:-1]
            feed["keypoints"] = preprocess_keypoints(
                keypoints_px, conf, images.shape[0], hw, self.cfg
            )
        outs = self.session.run(list(OUTPUT_NAMES), feed)
        d = dict(zip(OUTPUT_NAMES, outs, strict=True))
        return MQPrediction(
            q_rad=d["q_rad"].astype(np.float64),
            R_cam_pelvis=d["R_cam_pelvis"].astype(np.float64),
            shape=d["shape"].astype(np.float64),
            t_cam_m=d["t_cam_m"].astype(np.float64),
            queries=d["queries"].astype(np.float32),
            shape_labels=tuple(self.cfg.shape_labels),
        )
