"""MQ-HMR: per-frame BSM-46 pose, Anny shape and camera from a person crop.

A ViT backbone, a feature pyramid from several of its layers, a decoder of learnable query groups
(one per body, one per shape parameter, one camera) with multi-scale deformable attention in
plain torch, and heads whose pose is inside the joint limits by construction. Public API::

    model = load_mq_hmr("small")                      # weights in core/hmr/mq/weights/small
    crop = crop_from_keypoints(frame, kp_px, conf, K_full, size=256)
    pred = predict(model, crop.image[None], crop.K[None])            # MQPrediction
    pred = refine_queries(model, crops, K, kp_px, conf, kp_bodies, kp_local_m, offsets_m)
    export_onnx(model, "mq_small.onnx"); OnnxMQHMR("mq_small.onnx").predict(crops, K)

Conventions: camera frame OpenCV (x right, y down, z forward); ``MQPrediction.q_rad`` has the
pelvis angles w.r.t. the camera frame (``pelvis_angles_in_world`` converts them); ``t_cam_m`` is
the pelvis origin in the camera frame (``core.hmr.mq.camera`` documents the camera head).
Training: ``python -m core.hmr.mq.train --help``.
"""

from core.hmr.mq.checkpoint import WEIGHTS_DIR, load_mq_hmr, load_weights, save_weights
from core.hmr.mq.config import MQHMRConfig, preset
from core.hmr.mq.crop import Crop, crop_from_keypoints, frame_to_crop
from core.hmr.mq.inference import MQPrediction, pelvis_angles_in_world, predict
from core.hmr.mq.network import MQHMR, build_model
from core.hmr.mq.onnx import OnnxMQHMR, export_onnx
from core.hmr.mq.query_refine import RefineSettings, refine_queries

__all__ = [
    "MQHMR",
    "MQHMRConfig",
    "MQPrediction",
    "Crop",
    "RefineSettings",
    "OnnxMQHMR",
    "WEIGHTS_DIR",
    "build_model",
    "preset",
    "load_mq_hmr",
    "load_weights",
    "save_weights",
    "predict",
    "refine_queries",
    "export_onnx",
    "crop_from_keypoints",
    "frame_to_crop",
    "pelvis_angles_in_world",
]
