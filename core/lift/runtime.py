"""Running the lifter on a capture's detections: 2D keypoints (+ confidences, intrinsics) -> BSM-46
angles with the pelvis orientation in the capture's camera-aligned frame (X right, Y up, Z towards
the camera, as :func:`core.neurik.markersets.mediapipe_world_to_bsm`).

Whole clips run in overlapping windows at the weights' rate (30 fps): a faster video is split
into interleaved 30-fps streams, a slower one is used as it is. Windows are blended with triangle
weights (a convex blend of in-limit angles stays in the limits); pelvis orientations are blended
as matrices and re-orthonormalised.

Test-time flip (``flip=True``, or ``BIOMOCAP_LIFT_FLIP=0/1`` for a benchmark run): the clip is
lifted a second time mirrored left-right in the image (BlazePose's left and right keypoints
swapped), the mirrored answer is mapped back (:func:`mirror_q`, the pelvis orientation reflected
in the camera and in the body) and the two are averaged.

Detector calibration (``calibrate=True``, or ``BIOMOCAP_LIFT_CALIBRATE=0/1``): where the weights'
folder holds ``mediapipe_bias.json``, its constant per-DOF offsets are subtracted from the
answer. The lifter learned from BlazePose points placed on the body by definition; MediaPipe's
real keypoints sit differently (the toe point ~4 cm behind its definition, ...), which biases
some angles the same way in every clip (ankle +17 deg). The offsets are the lifter's mean error
on the harness's declared tuning clips only (``benchmarks/refine_replay.py bias``), mirror-
symmetrised, kept only where larger than twice their standard error.
"""

from __future__ import annotations

import functools
import logging
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from core import kinematics as K
from core import skeleton as sk
from core.lift.features import N_KEYPOINTS, virtual_to_camera_bsm, window_features
from core.lift.model import ROOT, LiftConfig, Lifter, build_model
from core.neurik.markersets import mirror_name

# save_weights: the same files as NeurIK (model.safetensors + config.json)
from core.neurik.runtime import save_weights, weights_label

__all__ = [
    "LiftResult",
    "WEIGHTS_DIR",
    "DEFAULT_WEIGHTS",
    "save_weights",
    "load_lifter",
    "lift",
    "mirror_q",
]

log = logging.getLogger(__name__)

WEIGHTS_DIR = Path(__file__).resolve().parent / "weights"
DEFAULT_WEIGHTS = "bank2d_v7"
DEFAULT_FLIP = True
DEFAULT_CALIBRATE = True
BIAS_FILE = "mediapipe_bias.json"


@dataclass
class LiftResult:
    q_rad: np.ndarray  # (T, 46) limited DOFs within the limits; pelvis angles in the camera frame
    pelvis_rot: np.ndarray  # (T, 3, 3) pelvis orientation, camera-aligned Y-up frame
    weights: str  # the weights folder used (provenance)
    command: str = ""  # the command that trained them

    @property
    def n_frames(self) -> int:
        return int(self.q_rad.shape[0])


@functools.lru_cache(maxsize=4)
def load_lifter(name_or_folder: str = DEFAULT_WEIGHTS) -> Lifter:
    """Shipped weights by name (a folder under ``core/lift/weights``) or a folder path;
    ``BIOMOCAP_LIFT_WEIGHTS`` names other weights for a benchmark run."""
    alias = os.environ.get("BIOMOCAP_LIFT_WEIGHTS")
    if alias and name_or_folder == DEFAULT_WEIGHTS:
        name_or_folder = alias
    folder = Path(name_or_folder)
    if not folder.is_dir():
        folder = WEIGHTS_DIR / name_or_folder
    if not (folder / "model.safetensors").is_file() or not (folder / "config.json").is_file():
        raise FileNotFoundError(
            f"no lifter weights in {folder}; train them with python -m core.lift.train"
        )
    from safetensors.torch import load_file

    cfg = LiftConfig.from_json((folder / "config.json").read_text(), source=str(folder))
    net = build_model(cfg)
    net.load_state_dict(load_file(str(folder / "model.safetensors")), strict=True)
    net.eval()
    net.weights_folder = folder.resolve()
    return net


def _validate(kp: np.ndarray, conf: np.ndarray | None) -> tuple[np.ndarray, np.ndarray]:
    x = np.asarray(kp, dtype=np.float64)
    if x.ndim != 3 or x.shape[1:] != (N_KEYPOINTS, 2):
        raise ValueError(
            f"expected 2D keypoints of shape (T, {N_KEYPOINTS}, 2) pixels, got {x.shape}"
        )
    if x.shape[0] < 1:
        raise ValueError("the keypoint sequence is empty (0 frames)")
    c = np.ones(x.shape[:2]) if conf is None else np.asarray(conf, dtype=np.float64)
    if c.shape != x.shape[:2]:
        raise ValueError(f"expected confidences of shape {x.shape[:2]}, got {c.shape}")
    c = np.where(np.isfinite(x).all(-1) & np.isfinite(c), np.clip(c, 0.0, 1.0), 0.0)
    if not (c > 0).any():
        raise ValueError("no keypoint in the whole sequence (all missing or zero confidence)")
    return x, c


def _starts(t: int, w: int, step: int) -> list[int]:
    if t <= w:
        return [0]
    s = list(range(0, t - w + 1, step))
    if s[-1] != t - w:
        s.append(t - w)
    return s


@functools.lru_cache(maxsize=1)
def _mirror_tables() -> tuple[np.ndarray, np.ndarray]:
    """DOF permutation and signs of the left-right mirror image of a pose: a left DOF's axis is
    the right one's mirror image as a pseudo-vector (``core.skeleton``), so the sides swap with
    their signs; a central DOF about an axis in the sagittal plane (bending, twist, list) changes
    sign, one about the lateral axis (extension, tilt) keeps it. Derived from the axes, checked."""
    names, axes = list(sk.DOF_NAMES), sk.dof_axes()
    perm, sign = np.arange(len(names)), np.ones(len(names))
    for i, n in enumerate(names):
        j = names.index(mirror_name(n))
        mirrored = axes[j] * np.array([-1.0, -1.0, 1.0])  # pseudo-vector through the X-Y plane
        if np.allclose(axes[i], mirrored, atol=1e-9):
            perm[i], sign[i] = j, 1.0
        elif np.allclose(axes[i], -mirrored, atol=1e-9):
            perm[i], sign[i] = j, -1.0
        else:
            raise AssertionError(f"{n}: its axis is not the mirror image of {names[j]}'s")
    return perm, sign


def mirror_q(q_rad: np.ndarray) -> np.ndarray:
    """Angles (..., 46) of a pose -> those of its left-right mirror image (the body reflected
    through its sagittal plane), the pelvis angles included. Exact: FK of the result on a
    symmetric skeleton is the reflected FK of the input (tests/test_lift.py)."""
    perm, sign = _mirror_tables()
    return np.asarray(q_rad)[..., perm] * sign


# Reflections: the image's X in the camera's BSM frame (X right, Y up, Z towards the camera) and
# the body's sagittal plane in its own frame (Z lateral).
_M_CAM = np.diag([-1.0, 1.0, 1.0])
_M_BODY = np.diag([1.0, 1.0, -1.0])


def detector_bias_rad(net: Lifter) -> np.ndarray | None:
    """(46,) radians to subtract from the lifter's angles on MediaPipe keypoints (the weights'
    ``mediapipe_bias.json``), or None without that file."""
    path = Path(getattr(net, "weights_folder", "")) / BIAS_FILE
    if not path.is_file():
        return None
    import json

    table = json.loads(path.read_text())["bias_deg"]
    unknown = sorted(set(table) - set(sk.DOF_NAMES))
    if unknown:
        raise ValueError(f"{path}: unknown DOF names {', '.join(unknown)}")
    bias = np.zeros(sk.N_DOFS)
    for name, deg in table.items():
        bias[sk.DOF[name]] = np.deg2rad(float(deg))
    return bias


def _run_stream(
    net: Lifter, kp: np.ndarray, conf: np.ndarray, focal: float, pp: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """One stream at the weights' rate -> limited q (T, 46) and pelvis matrices (T, 3, 3)."""
    w = net.cfg.window
    t = kp.shape[0]
    if t < w:  # a short clip or a still image: the last frame held; padding dropped afterwards
        kp = np.concatenate([kp, np.repeat(kp[-1:], w - t, 0)])
        conf = np.concatenate([conf, np.repeat(conf[-1:], w - t, 0)])
    tt = kp.shape[0]
    starts = _starts(tt, w, max(1, w // 4))
    feats, rot_v = window_features(
        np.stack([kp[s : s + w] for s in starts]),
        np.stack([conf[s : s + w] for s in starts]),
        focal,
        pp,
    )
    with torch.no_grad():
        out = net(torch.from_numpy(feats))
    q = out.q_rad.double().numpy()
    rot = virtual_to_camera_bsm(rot_v, out.pelvis_rot.double().numpy())
    ramp = np.minimum(np.arange(1, w + 1), np.arange(w, 0, -1)).astype(np.float64)
    acc_q, acc_r, acc_w = np.zeros((tt, sk.N_DOFS)), np.zeros((tt, 3, 3)), np.zeros(tt)
    for k, s in enumerate(starts):
        acc_q[s : s + w] += ramp[:, None] * q[k]
        acc_r[s : s + w] += ramp[:, None, None] * rot[k]
        acc_w[s : s + w] += ramp
    u, _, vt = np.linalg.svd(acc_r / acc_w[:, None, None])
    d = np.sign(np.linalg.det(u @ vt))
    u[..., :, 2] *= d[:, None]
    return (acc_q / acc_w[:, None])[:t], (u @ vt)[:t]


@functools.lru_cache(maxsize=1)
def _keypoint_swap() -> np.ndarray:
    from core.neurik.markersets import blazepose33

    names = list(blazepose33().names)
    return np.array([names.index(mirror_name(n)) for n in names])


def lift(
    keypoints_px: np.ndarray,
    confidence: np.ndarray | None,
    *,
    focal_px: float,
    principal_px: tuple[float, float] | np.ndarray,
    fps: float,
    model: Lifter | str = DEFAULT_WEIGHTS,
    flip: bool | None = None,
    calibrate: bool | None = None,
) -> LiftResult:
    """Angles for a whole clip of 2D keypoints (T, 33, 2) pixels (NaN = missing) with their
    confidences (T, 33), the camera's focal length and principal point (pixels) and the clip's
    frame rate. ``flip``: average with the mirrored clip's answer (None: ``BIOMOCAP_LIFT_FLIP``,
    else :data:`DEFAULT_FLIP`); ``calibrate``: subtract the weights' MediaPipe bias where they
    have one (None: ``BIOMOCAP_LIFT_CALIBRATE``, else :data:`DEFAULT_CALIBRATE`)."""
    kp, conf = _validate(keypoints_px, confidence)
    if not (np.isfinite(focal_px) and focal_px > 0):
        raise ValueError(f"expected a positive focal length in pixels, got {focal_px}")
    if not (np.isfinite(fps) and fps > 0):
        raise ValueError(f"expected a positive frame rate, got {fps}")
    net = load_lifter(model) if isinstance(model, str) else model
    pp = np.asarray(principal_px, dtype=np.float64).reshape(2)
    t = kp.shape[0]
    k = max(1, int(round(fps / net.cfg.fps_hz))) if fps > 1.5 * net.cfg.fps_hz else 1

    def streams(kp: np.ndarray, conf: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        q, rot = np.zeros((t, sk.N_DOFS)), np.zeros((t, 3, 3))
        for phase in range(min(k, t)):
            q[phase::k], rot[phase::k] = _run_stream(
                net, kp[phase::k], conf[phase::k], float(focal_px), pp
            )
        return sk.to_current_convention(q, net.cfg.skeleton_convention), rot

    q, rot = streams(kp, conf)
    flip = _switch(flip, "BIOMOCAP_LIFT_FLIP", DEFAULT_FLIP)
    if flip:
        swap = _keypoint_swap()
        kp_m = kp[:, swap].copy()
        kp_m[..., 0] = 2.0 * pp[0] - kp_m[..., 0]
        q_m, rot_m = streams(kp_m, conf[:, swap])
        q = 0.5 * (q + mirror_q(q_m))
        u, _, vt = np.linalg.svd(rot + _M_CAM @ rot_m @ _M_BODY)
        d = np.sign(np.linalg.det(u @ vt))
        u[..., :, 2] *= d[:, None]
        rot = u @ vt
    q[:, ROOT] = K.pelvis_angles_from_matrix(torch.from_numpy(rot)).numpy()
    label = weights_label(net, WEIGHTS_DIR / DEFAULT_WEIGHTS)
    bias = (
        detector_bias_rad(net)
        if _switch(calibrate, "BIOMOCAP_LIFT_CALIBRATE", DEFAULT_CALIBRATE)
        else None
    )
    if bias is not None:
        q = q - bias  # the pelvis DOFs have no entry (0)
        label += f" - {BIAS_FILE}"
    if flip:
        label += " (flip-averaged)"
    lo, hi = sk.limits_rad()
    q = np.clip(q, np.where(np.isfinite(lo), lo, -np.inf), np.where(np.isfinite(hi), hi, np.inf))
    return LiftResult(q, rot, label, net.cfg.training.get("command", "unknown"))


def _switch(value: bool | None, env: str, default: bool) -> bool:
    if value is not None:
        return bool(value)
    v = os.environ.get(env)
    return default if v is None else v not in ("", "0")


def lift_detections(
    det,
    fps: float,
    model: Lifter | str = DEFAULT_WEIGHTS,
    flip: bool | None = None,
    calibrate: bool | None = None,
) -> LiftResult:
    """:func:`lift` on a :class:`core.detect.Detections` (frames without a person: no input)."""
    found = np.asarray(det.person_found, bool)
    conf = np.where(found[:, None], det.confidence, 0.0)
    cam = det.camera
    return lift(
        det.keypoints_2d_px,
        conf,
        focal_px=float(cam.focal_px),
        principal_px=(float(cam.cx_px), float(cam.cy_px)),
        fps=fps,
        model=model,
        flip=flip,
        calibrate=calibrate,
    )
