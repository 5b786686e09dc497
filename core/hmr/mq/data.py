"""Training data for MQ-HMR: folders written by the synthetic-data generator (``core.hmr.synth``).

Folder contract (version 1)::

    DIR/meta.json    {"version": 1, "n": N, "image_size": [H, W], "seed": int,
                      "shape_labels": [...], "keypoint_names": [33 BlazePose names],
                      "camera_convention": "opencv"}
    DIR/images/%06d.jpg   RGB crops, H x W
    DIR/labels.npz   q_rad (N, 46) world pelvis angles (OpenSim: X fwd, Y up, Z right);
                     shape (N, S); offsets_m (N, 24, 3); R_cam_world (N, 3, 3) world -> camera;
                     t_cam_m (N, 3) pelvis origin in the camera; K (N, 3, 3) pixels of the image;
                     joints_cam_m (N, 24, 3); joints_2d_px (N, 24, 2); keypoints_2d_px (N, 33, 2);
                     keypoints_vis (N, 33) bool; kp_bodies (33,) int; kp_local_m (N, 33, 3);
                     held_out (N,) bool (never trained on); optional: weight (N,) >= 0, how
                     much each sample counts in the losses (default 1; pseudo labels on real
                     frames, ``core.hmr.pseudo``, carry their fit's confidence)

Opening a folder checks the labels against each other (FK of the camera-frame pose against
``joints_cam_m``, the projection of ``joints_cam_m`` against ``joints_2d_px``), so a convention
mismatch between generator and trainer fails loudly instead of training a wrong network.
Images are resized to the network input (intrinsics and 2D labels follow,
``core.hmr.mq.preprocess``); training adds a random zoom/shift of the crop and colour jitter.

The network's keypoint input (``Batch.keypoints_in``, (x px, y px, conf) of the 33 BlazePose
points in the network input) comes from the labelled ``keypoints_2d_px``: confidence 1 where
visible, 0.3 where occluded, 0 (and xy 0) outside the crop. Validation uses these clean
keypoints; training corrupts them like a detector would (:func:`corrupt_keypoints`).
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass, fields
from pathlib import Path

import cv2
import numpy as np
import torch
from torch import Tensor

from core import kinematics as K
from core import skeleton as sk
from core.hmr.mq.config import MQHMRConfig
from core.hmr.mq.pose import reframe_pelvis
from core.hmr.mq.preprocess import resize_crop, scale_intrinsics

__all__ = [
    "DATA_VERSION",
    "LABEL_SHAPES",
    "Batch",
    "SynthDataset",
    "collate",
    "check_labels",
    "keypoint_input",
    "corrupt_keypoints",
    "KeypointNoise",
    "worker_init",
]

log = logging.getLogger(__name__)

DATA_VERSION = 1
_N_KP = 33
LABEL_SHAPES: dict[str, tuple[int | str, ...]] = {
    "q_rad": (sk.N_DOFS,),
    "shape": ("S",),
    "offsets_m": (sk.N_BODIES, 3),
    "R_cam_world": (3, 3),
    "t_cam_m": (3,),
    "K": (3, 3),
    "joints_cam_m": (sk.N_BODIES, 3),
    "joints_2d_px": (sk.N_BODIES, 2),
    "keypoints_2d_px": (_N_KP, 2),
    "keypoints_vis": (_N_KP,),
    "kp_local_m": (_N_KP, 3),
    "held_out": (),
}


@dataclass
class KeypointNoise:
    """Detector-like corruption of the training keypoints (fractions of the input size S)."""

    sigma: float = 0.015  # per-point Gaussian noise
    shift: float = 0.01  # per-sample global shift (Gaussian sigma)
    max_drop: float = 0.2  # each sample loses a uniform 0..max_drop fraction of its points
    p_swap: float = 0.03  # left/right swap of one limb's points
    p_none: float = 0.1  # no keypoints at all (the network also works from the image alone)


OCCLUDED_CONF = 0.3
# BlazePose left/right index pairs per limb (core.neurik.markersets.BLAZEPOSE_NAMES).
_LIMB_PAIRS = (
    ((13, 14), (15, 16), (17, 18), (19, 20), (21, 22)),  # arm: elbow, wrist, hand
    ((25, 26), (27, 28), (29, 30), (31, 32)),  # leg: knee, ankle, heel, foot
)


def keypoint_input(kp_px: np.ndarray, vis: np.ndarray, size: int) -> np.ndarray:
    """Labelled keypoints (33, 2) in network-input pixels and visibility (33,) -> the clean
    network input (33, 3): conf 1 visible, 0.3 occluded, 0 (xy 0) outside the crop or NaN."""
    kp = np.asarray(kp_px, dtype=np.float64)
    inside = np.isfinite(kp).all(-1) & ((kp >= -0.5) & (kp <= size - 0.5)).all(-1)
    conf = np.where(inside, np.where(vis, 1.0, OCCLUDED_CONF), 0.0)
    xy = np.where(inside[:, None], np.nan_to_num(kp), 0.0)
    return np.concatenate([xy, conf[:, None]], -1).astype(np.float32)


def corrupt_keypoints(
    kp_in: np.ndarray, size: int, rng: np.random.Generator, noise: KeypointNoise | None = None
) -> np.ndarray:
    """A detector-like copy of the clean keypoint input (33, 3): noise, a global shift, dropped
    points, occasionally a left/right limb swap or no keypoints at all. Dropped points have
    conf 0 and xy 0."""
    nz = noise or KeypointNoise()
    out = np.array(kp_in, dtype=np.float64)
    if rng.random() < nz.p_none:
        return np.zeros_like(kp_in, dtype=np.float32)
    n = out.shape[0]
    out[:, :2] += size * (
        nz.sigma * rng.standard_normal((n, 2)) + nz.shift * rng.standard_normal(2)
    )
    out[rng.random(n) < rng.uniform(0.0, nz.max_drop), 2] = 0.0
    if rng.random() < nz.p_swap:
        for a, b in _LIMB_PAIRS[rng.integers(len(_LIMB_PAIRS))]:
            out[[a, b]] = out[[b, a]]
    out[out[:, 2] <= 0, :2] = 0.0
    return out.astype(np.float32)


@dataclass
class Batch:
    images: Tensor  # (B, 3, S, S) normalised RGB
    K: Tensor  # (B, 3, 3) pixels of the network input
    q_rad: Tensor  # (B, 46) pelvis angles w.r.t. the world
    q_cam: Tensor  # (B, 46) pelvis angles w.r.t. the camera (what the network predicts)
    R_cam_world: Tensor  # (B, 3, 3)
    t_cam_m: Tensor  # (B, 3)
    offsets_m: Tensor  # (B, 24, 3)
    shape: Tensor  # (B, S) 0..1
    joints_cam_m: Tensor  # (B, 24, 3)
    joints_2d_px: Tensor  # (B, 24, 2) pixels of the network input
    keypoints_2d_px: Tensor  # (B, 33, 2) pixels of the network input
    keypoints_vis: Tensor  # (B, 33) bool
    kp_bodies: Tensor  # (33,) long
    kp_local_m: Tensor  # (B, 33, 3)
    keypoints_in: Tensor  # (B, 33, 3) network keypoint input: (x px, y px, conf), see above
    weight: Tensor  # (B,) per-sample loss weight (1 unless the folder has a ``weight`` label)

    def to(self, device: torch.device | str) -> Batch:
        return Batch(**{f.name: getattr(self, f.name).to(device) for f in fields(self)})

    def __len__(self) -> int:
        return int(self.images.shape[0])


def check_labels(lab: dict[str, np.ndarray], idx: np.ndarray, where: str) -> None:
    """Raise ValueError unless the samples ``idx`` agree with the contract's conventions."""
    q = torch.as_tensor(lab["q_rad"][idx], dtype=torch.float64)
    r_cw = torch.as_tensor(lab["R_cam_world"][idx], dtype=torch.float64)
    t = torch.as_tensor(lab["t_cam_m"][idx], dtype=torch.float64)
    off = torch.as_tensor(lab["offsets_m"][idx], dtype=torch.float64)
    fk = K.forward_kinematics(reframe_pelvis(q, r_cw), t, off)
    j3 = lab["joints_cam_m"][idx]
    err3 = np.abs(fk.origins.numpy() - j3).max()
    if err3 > 2e-3:
        raise ValueError(
            f"{where}: joints_cam_m disagree with FK of q_rad (pelvis re-expressed with "
            f"R_cam_world) placed at t_cam_m by {1000 * err3:.1f} mm; expected q_rad's pelvis "
            "w.r.t. the OpenSim world, R_cam_world world->camera (OpenCV) and t_cam_m the "
            "pelvis origin in the camera"
        )
    k = lab["K"][idx]
    uvw = np.einsum("nij,nbj->nbi", k, j3)
    front = uvw[..., 2] > 1e-3
    proj = uvw[..., :2] / np.where(front, uvw[..., 2], 1.0)[..., None]
    err2 = np.abs(proj - lab["joints_2d_px"][idx])[front].max(initial=0.0)
    if err2 > 1.0:
        raise ValueError(
            f"{where}: joints_2d_px differ from K @ joints_cam_m by up to {err2:.1f} px; "
            "expected OpenCV pinhole projection with pixel-centre integer coordinates"
        )
    kp3 = K.body_points(
        fk, torch.as_tensor(lab["kp_bodies"]), torch.as_tensor(lab["kp_local_m"][idx])
    ).numpy()
    uvw = np.einsum("nij,nbj->nbi", k, kp3)
    kp_err = np.abs(uvw[..., :2] / uvw[..., 2:3] - lab["keypoints_2d_px"][idx])
    if np.median(kp_err) > 2.0:
        log.warning(
            "%s: keypoints_2d_px differ from the projected kp_local_m points (median %.1f px): "
            "noisy 2D labels or another keypoint definition",
            where,
            float(np.median(kp_err)),
        )


def _load_folder(folder: Path, shape_labels: tuple[str, ...]) -> dict[str, np.ndarray]:
    meta_path = folder / "meta.json"
    if not meta_path.is_file():
        raise FileNotFoundError(f"{folder} is not an MQ-HMR data folder (no meta.json)")
    meta = json.loads(meta_path.read_text())
    if meta.get("version") != DATA_VERSION:
        raise ValueError(f"{meta_path}: data version {meta.get('version')} is not {DATA_VERSION}")
    if meta.get("camera_convention") != "opencv":
        raise ValueError(f"{meta_path}: camera_convention must be 'opencv'")
    if tuple(meta["shape_labels"]) != tuple(shape_labels):
        raise ValueError(
            f"{meta_path}: shape labels {meta['shape_labels']} differ from the model's "
            f"{list(shape_labels)}"
        )
    if len(meta["keypoint_names"]) != _N_KP:
        raise ValueError(f"{meta_path}: expected {_N_KP} keypoint names")
    n = int(meta["n"])
    with np.load(folder / "labels.npz") as z:
        lab = {k: z[k] for k in z.files}
    for key, tail in LABEL_SHAPES.items():
        if key not in lab:
            raise ValueError(f"{folder}/labels.npz lacks {key!r}")
        want = (n, *(len(shape_labels) if d == "S" else d for d in tail))
        if lab[key].shape != want:
            raise ValueError(f"{folder}/labels.npz: {key} has shape {lab[key].shape}, not {want}")
    if lab["kp_bodies"].shape != (_N_KP,):
        raise ValueError(f"{folder}/labels.npz: kp_bodies must have shape ({_N_KP},)")
    sk.check_q(lab["q_rad"], atol_rad=1e-4, what=f"{folder} q_rad")
    if "weight" in lab:
        w = lab["weight"]
        if w.shape != (n,) or not np.isfinite(w).all() or (w < 0).any():
            raise ValueError(
                f"{folder}/labels.npz: weight must be ({n},) finite values >= 0, got shape "
                f"{w.shape}"
            )
    else:
        lab["weight"] = np.ones(n)
    lab["image_hw"] = np.array(meta["image_size"])
    pick = np.linspace(0, n - 1, min(n, 8)).astype(int)
    check_labels(lab, pick, str(folder))
    return lab


class SynthDataset(torch.utils.data.Dataset):
    """Samples of one or more data folders; ``split``: 'train' (not held out), 'val' (held out)
    or 'all'."""

    def __init__(
        self,
        folders: list[Path],
        cfg: MQHMRConfig,
        split: str = "train",
        augment: bool = False,
        seed: int = 0,
    ) -> None:
        if split not in ("train", "val", "all"):
            raise ValueError(f"split must be 'train', 'val' or 'all', got {split!r}")
        if not folders:
            raise ValueError("no data folder given")
        self.cfg = cfg
        self.folders = [Path(f) for f in folders]
        self.labels = [_load_folder(f, cfg.shape_labels) for f in self.folders]
        kb = self.labels[0]["kp_bodies"]
        for f, lab in zip(self.folders, self.labels, strict=True):
            if not np.array_equal(lab["kp_bodies"], kb):
                raise ValueError(f"{f}: kp_bodies differ from {self.folders[0]}'s")
        self.kp_bodies = torch.as_tensor(kb, dtype=torch.long)
        self.index = []
        for fi, lab in enumerate(self.labels):
            held = lab["held_out"].astype(bool)
            keep = {"train": ~held, "val": held, "all": np.ones_like(held)}[split]
            self.index += [(fi, int(i)) for i in np.flatnonzero(keep)]
        self.augment = augment
        self.rng = np.random.default_rng(seed)

    def __len__(self) -> int:
        return len(self.index)

    def _image(self, fi: int, i: int) -> np.ndarray:
        path = self.folders[fi] / "images" / f"{i:06d}.jpg"
        img = cv2.imread(str(path), cv2.IMREAD_COLOR)
        if img is None:
            raise FileNotFoundError(f"cannot read {path}")
        return cv2.cvtColor(img, cv2.COLOR_BGR2RGB)

    def __getitem__(self, j: int) -> dict[str, np.ndarray]:
        fi, i = self.index[j]
        lab = self.labels[fi]
        img = self._image(fi, i)
        s = self.cfg.input_size
        h, w = img.shape[:2]
        if self.augment:
            # Resize, zoom by 0.85..1.15 about the centre and shift by up to 8 % in one warp.
            z = float(self.rng.uniform(0.85, 1.15))
            dx, dy = self.rng.uniform(-0.08, 0.08, 2) * s
            a = scale_intrinsics(np.eye(3), s / w, s / h)
            c = 0.5 * s - 0.5
            aug = np.array([[z, 0, c - z * c + dx], [0, z, c - z * c + dy], [0, 0, 1.0]])
            a = aug @ a
            img = cv2.warpAffine(img, a[:2], (s, s), flags=cv2.INTER_LINEAR)
            img = self._jitter(img)
        else:
            a = scale_intrinsics(np.eye(3), s / w, s / h)
            img = resize_crop(img, s)

        def pts(p: np.ndarray) -> np.ndarray:
            return p @ a[:2, :2].T + a[:2, 2]

        vis = lab["keypoints_vis"][i].astype(bool)
        kp = pts(lab["keypoints_2d_px"][i])
        vis &= ((kp >= -0.5) & (kp <= s - 0.5)).all(-1)
        kp_in = keypoint_input(kp, lab["keypoints_vis"][i].astype(bool), s)
        if self.augment:
            kp_in = corrupt_keypoints(kp_in, s, self.rng)
        x = (img.astype(np.float32) / 255.0 - np.asarray(self.cfg.mean, np.float32)) / np.asarray(
            self.cfg.std, np.float32
        )
        return {
            "images": x.transpose(2, 0, 1),
            "K": a @ lab["K"][i],
            "q_rad": lab["q_rad"][i],
            "R_cam_world": lab["R_cam_world"][i],
            "t_cam_m": lab["t_cam_m"][i],
            "offsets_m": lab["offsets_m"][i],
            "shape": lab["shape"][i],
            "joints_cam_m": lab["joints_cam_m"][i],
            "joints_2d_px": pts(lab["joints_2d_px"][i]),
            "keypoints_2d_px": kp,
            "keypoints_vis": vis,
            "kp_local_m": lab["kp_local_m"][i],
            "keypoints_in": kp_in,
            "weight": lab["weight"][i],
        }

    def _jitter(self, img: np.ndarray) -> np.ndarray:
        x = img.astype(np.float32)
        gain = self.rng.uniform(0.75, 1.25)
        bias = self.rng.uniform(-20, 20)
        grey = x.mean(-1, keepdims=True)
        sat = self.rng.uniform(0.7, 1.3)
        x = (grey + sat * (x - grey)) * gain + bias
        if self.rng.random() < 0.3:
            x = cv2.GaussianBlur(x, (0, 0), self.rng.uniform(0.3, 1.2))
        return np.clip(x, 0, 255).astype(np.uint8)

    def collate(self, items: list[dict[str, np.ndarray]]) -> Batch:
        return collate(items, self.kp_bodies)


def collate(items: list[dict[str, np.ndarray]], kp_bodies: Tensor) -> Batch:
    def t(key: str, dtype: torch.dtype = torch.float32) -> Tensor:
        return torch.as_tensor(np.stack([it[key] for it in items]), dtype=dtype)

    q = t("q_rad", torch.float64)
    r_cw = t("R_cam_world", torch.float64)
    return Batch(
        images=t("images"),
        K=t("K"),
        q_rad=q.float(),
        q_cam=reframe_pelvis(q, r_cw).float(),
        R_cam_world=r_cw.float(),
        t_cam_m=t("t_cam_m"),
        offsets_m=t("offsets_m"),
        shape=t("shape"),
        joints_cam_m=t("joints_cam_m"),
        joints_2d_px=t("joints_2d_px"),
        keypoints_2d_px=t("keypoints_2d_px"),
        keypoints_vis=t("keypoints_vis", torch.bool),
        kp_bodies=kp_bodies,
        kp_local_m=t("kp_local_m"),
        keypoints_in=t("keypoints_in"),
        weight=t("weight"),
    )


def worker_init(worker_id: int) -> None:
    """DataLoader hook: a different augmentation stream per worker and epoch."""
    info = torch.utils.data.get_worker_info()
    if info is not None and isinstance(info.dataset, SynthDataset):
        info.dataset.rng = np.random.default_rng(torch.initial_seed() % 2**32)
