"""Training data for the lifter: real motion x subjects x random phone cameras x detector noise.

Training side only (the capture never imports this). Two parts:

* :func:`precompute` (once, cached under ``.cache/lift/``): every frame of the real-motion bank
  (``core.mocap.bank``; the held-out clips of ``core.mocap.holdout`` are never in it, and every
  piece is checked again here) posed on several Anny subjects of the training pool
  (``core.hmr.synth.subjects``), giving BlazePose-33 landmarks relative to the pelvis origin in
  the bank's world axes, plus the bank's root trajectory.
* :class:`LiftSampler`: cheap per-batch augmentation: a window at a random playback speed, a
  static camera per window (0.5-2 m high, 2-8 m away, aimed at the person with pitch/yaw jitter,
  roll ~4 deg, 35-mm-equivalent focal 24-77 mm, portrait or landscape), perspective projection,
  detector-like 2D noise (a fraction of the person's height, heavier on hands and feet), low
  confidences, dropouts, left/right swaps, frames with no detection and, sometimes, a wrong focal
  (the capture's default guess when the video has none). Half the windows show the motion's
  mirror image (``mirror_q``, the landmarks reflected with their sides swapped): the bank's
  ~25 min become two motions' worth, without a new subject or take.
"""

from __future__ import annotations

import hashlib
import json
import logging
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch

from core import kinematics as K
from core import skeleton as sk
from core.lift.features import _BSM, window_features
from core.lift.model import ROOT
from core.lift.runtime import _keypoint_swap, mirror_q
from core.mocap.holdout import check_not_held_out

__all__ = ["LiftData", "AugmentConfig", "LiftBatch", "LiftSampler", "precompute", "CACHE_DIR"]

log = logging.getLogger(__name__)

REPO = Path(__file__).resolve().parents[2]
CACHE_DIR = REPO / ".cache" / "lift"
_CACHE_VERSION = 2  # 2: the bank's convention is a build option (core.mocap.bank)
# BlazePose indices by detector difficulty
_FACE = list(range(0, 11))
_EXTREMITIES = [15, 16, 17, 18, 19, 20, 21, 22, 27, 28, 29, 30, 31, 32]
_LEFT = [1, 2, 3, 7, 9, 11, 13, 15, 17, 19, 21, 23, 25, 27, 29, 31]
_RIGHT = [4, 5, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30, 32]
_LEGS_L, _LEGS_R = [23, 25, 27, 29, 31], [24, 26, 28, 30, 32]
_ARMS_L, _ARMS_R = [11, 13, 15, 17, 19, 21], [12, 14, 16, 18, 20, 22]
_REFLECT = np.array([1.0, 1.0, -1.0])  # through the world's X-Y plane (mirror_q's reflection)


@dataclass
class LiftData:
    """Precomputed bank frames: pieces are contiguous runs of frames."""

    q_rad: np.ndarray  # (N, 46) bank angles (world heading)
    root_m: np.ndarray  # (N, 3) pelvis origin, the source's metres
    stature_m: np.ndarray  # (N,) the source subject's stature (to scale root_m)
    piece_start: np.ndarray  # (P + 1,) frame index where each piece starts (and the end)
    piece_names: list[str]
    landmarks_m: np.ndarray  # (S, N, 33, 3) float32, relative to the pelvis origin
    offsets_m: np.ndarray  # (S, 24, 3) subjects' skeletons
    heights_m: np.ndarray  # (S,)


def _bank_with_root(folder: Path) -> tuple[list, list[np.ndarray], list[float]]:
    """load_bank's pieces plus the root trajectory and stature of each (same cuts)."""
    from core.mocap.bank import load_bank

    pieces = load_bank(folder)
    index = json.loads((folder / "bank.json").read_text())
    roots, statures = [], []
    by_clip = {m["clip"]: m for m in index["clips"]}
    bad_mm = index.get("bad_frame_mm", 40.0)
    cache: dict[str, list[np.ndarray]] = {}
    for p in pieces:
        base = p.clip.split("#")[0]
        check_not_held_out(base, "training")
        if base not in cache:
            meta = by_clip[base]
            with np.load(folder / "clips" / f"{base}.npz") as z:
                root = z["root_m"].astype(np.float64)
                bad = z["frame_error_mm"] > bad_mm
            fps = float(meta["fps"])
            if abs(fps - p.fps) > 0.5:
                t_old = np.arange(len(root)) / fps
                t_new = np.arange(int(np.floor(t_old[-1] * p.fps)) + 1) / p.fps
                root = np.stack([np.interp(t_new, t_old, root[:, j]) for j in range(3)], 1)
                bad = bad[np.clip(np.round(t_new * fps).astype(int), 0, len(bad) - 1)]
            edges = np.flatnonzero(np.diff(np.r_[1, bad.astype(int), 1]))
            runs = [root[a:b] for a, b in zip(edges[::2], edges[1::2], strict=True)]
            cache[base] = [r for r in runs if len(r) / p.fps >= 1.0]
        run = cache[base].pop(0)
        if len(run) != len(p.q_rad):
            raise RuntimeError(f"bank piece {p.clip}: root and angles disagree in length")
        roots.append(run)
        statures.append(float(by_clip[base].get("stature_m", 1.7)))
    return pieces, roots, statures


def _key(bank_dir: Path, n_subjects: int, seed: int) -> str:
    h = hashlib.sha1((bank_dir / "bank.json").read_bytes())
    h.update(f"{n_subjects}-{seed}-{_CACHE_VERSION}".encode())
    # The landmarks depend on where MediaPipe's keypoints are taken to lie on the body.
    from core.neurik.markersets import mediapipe_offsets_signature

    h.update(mediapipe_offsets_signature())
    return h.hexdigest()[:12]


def precompute(
    bank_dir: Path | None = None, n_subjects: int = 8, seed: int = 0, cache_dir: Path = CACHE_DIR
) -> LiftData:
    """Landmarks of every bank frame on ``n_subjects`` Anny bodies (cached)."""
    from core.hmr.synth.subjects import subject_pool
    from core.mocap.bank import DEFAULT_BANK
    from core.neurik.markersets import blazepose33

    bank_dir = Path(bank_dir or DEFAULT_BANK)
    if not (bank_dir / "bank.json").is_file():
        raise FileNotFoundError(
            f"no motion bank at {bank_dir}; build it with: python -m core.mocap.bank build"
        )
    path = Path(cache_dir) / f"landmarks-{_key(bank_dir, n_subjects, seed)}.npz"
    pieces, roots, statures = _bank_with_root(bank_dir)
    if path.is_file():
        with np.load(path) as z:
            names = [str(n) for n in z["piece_names"]]
            if names == [p.clip for p in pieces]:
                log.info("lift data from %s", path)
                return LiftData(
                    z["q_rad"], z["root_m"], z["stature_m"], z["piece_start"], names,
                    z["landmarks_m"], z["offsets_m"], z["heights_m"],
                )  # fmt: skip
    q = np.concatenate([p.q_rad for p in pieces])
    root = np.concatenate(roots)
    stature = np.concatenate(
        [np.full(len(p.q_rad), s) for p, s in zip(pieces, statures, strict=True)]
    )
    starts = np.r_[0, np.cumsum([len(p.q_rad) for p in pieces])]
    subjects = subject_pool(n_subjects, seed, held_out=False)
    ms = blazepose33()
    lms, offs = [], []
    qt = torch.from_numpy(q)
    for s in subjects:
        bodies, local = ms.define(s)
        with torch.no_grad():
            fk = K.forward_kinematics(
                qt, torch.zeros(len(q), 3, dtype=torch.float64), torch.as_tensor(s.offsets_m)
            )
            lm = K.body_points(fk, torch.as_tensor(bodies), torch.as_tensor(local))
        lms.append(lm.numpy().astype(np.float32))
        offs.append(np.asarray(s.offsets_m))
        log.info("lift data: subject %.2f m, %d frames", s.height_m, len(q))
    data = LiftData(
        q, root, stature, starts, [p.clip for p in pieces], np.stack(lms), np.stack(offs),
        np.array([s.height_m for s in subjects]),
    )  # fmt: skip
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp.npz")
    np.savez(
        tmp, **{k: (np.array(v) if k == "piece_names" else v) for k, v in asdict(data).items()}
    )
    tmp.replace(path)
    return data


@dataclass
class AugmentConfig:
    speed: tuple[float, float] = (0.7, 1.4)  # playback speed
    cam_height_m: tuple[float, float] = (0.5, 2.0)  # above the window's lowest landmark
    distance_m: tuple[float, float] = (2.0, 8.0)  # from the window's mean pelvis, horizontal
    aim_jitter_deg: float = 4.0  # pitch and yaw of the aim (std)
    roll_deg: float = 4.0  # std
    focal_35mm_wide: tuple[float, float] = (24.0, 30.0)
    focal_35mm_tele: tuple[float, float] = (48.0, 77.0)
    tele_fraction: float = 0.3
    portrait_fraction: float = 0.5
    noise_frac: tuple[float, float] = (0.003, 0.02)  # 2D noise std / person height in pixels
    extremity_noise: float = 1.7  # multiplier on hands and feet
    face_noise: float = 0.6
    dropout: float = 0.06  # up to: fraction of keypoints missing
    swap_rate: float = 0.01  # frames with the legs' or arms' sides swapped
    frame_drop: float = 0.03  # up to: fraction of frames without detection
    wrong_focal: float = 0.3  # fraction of windows normalised with a wrong focal
    wrong_focal_range: tuple[float, float] = (0.6, 1.6)
    mirror: float = 0.5  # fraction of windows whose motion is mirrored left-right


@dataclass
class LiftBatch:
    features: torch.Tensor  # (B, T, F)
    q_rad: torch.Tensor  # (B, T, 46) truth, root angles relative to the virtual camera
    pelvis_rot: torch.Tensor  # (B, T, 3, 3) truth pelvis orientation, virtual camera BSM frame
    offsets_m: torch.Tensor  # (B, 24, 3)


def _root_matrix(q_root: np.ndarray) -> np.ndarray:
    """(..., 3) pelvis tilt, list, rotation -> (..., 3, 3) as core.kinematics composes them."""
    axes = sk.dof_axes()[ROOT]
    r = K.axis_angle_matrix(torch.from_numpy(axes), torch.from_numpy(q_root)).numpy()
    return r[..., 0, :, :] @ r[..., 1, :, :] @ r[..., 2, :, :]


def _smooth(rng: np.random.Generator, shape: tuple[int, ...], frames: int) -> np.ndarray:
    """Unit-std noise along axis 1 averaged over ``frames`` frames."""
    x = rng.normal(size=(shape[0], shape[1] + frames - 1) + shape[2:])
    c = np.cumsum(x, 1)
    c = np.concatenate([np.zeros_like(c[:, :1]), c], 1)
    return (c[:, frames:] - c[:, :-frames]) / np.sqrt(frames)


class LiftSampler:
    def __init__(self, data: LiftData, aug: AugmentConfig, window: int, seed: int = 0) -> None:
        self.data, self.aug, self.window = data, aug, window
        self.rng = np.random.default_rng(seed)
        lengths = np.diff(data.piece_start)
        self.p_piece = np.sqrt(lengths) / np.sqrt(lengths).sum()

    def _windows(self, b: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Frame positions (B, T) float into the data, piece per window."""
        rng, t, d = self.rng, self.window, self.data
        piece = rng.choice(len(self.p_piece), size=b, p=self.p_piece)
        a, e = d.piece_start[piece], d.piece_start[piece + 1] - 1
        speed = rng.uniform(*self.aug.speed, size=b)
        span = (t - 1) * speed
        start = a + rng.uniform(0, 1, size=b) * np.maximum(e - a - span, 0)
        pos = np.minimum(start[:, None] + np.arange(t) * speed[:, None], e[:, None])
        return pos, piece, a

    def __call__(self, b: int) -> LiftBatch:
        rng, aug, d = self.rng, self.aug, self.data
        pos, _, _ = self._windows(b)
        i0 = np.floor(pos).astype(int)
        i1 = np.minimum(i0 + 1, len(d.q_rad) - 1)
        w = (pos - i0)[..., None]
        subj = rng.integers(len(d.heights_m), size=b)
        lm = (
            d.landmarks_m[subj[:, None], i0] * (1 - w[..., None])
            + d.landmarks_m[subj[:, None], i1] * w[..., None]
        )  # (B, T, 33, 3)
        q0, q1 = d.q_rad[i0], d.q_rad[i1]
        dq = q1 - q0
        dq[..., ROOT] = (dq[..., ROOT] + np.pi) % (2 * np.pi) - np.pi
        q = q0 + w * dq  # limited DOFs: convex blend, inside the limits
        scale = (d.heights_m[subj] / d.stature_m[i0[:, 0]])[:, None, None]
        root = (d.root_m[i0] * (1 - w) + d.root_m[i1] * w) * scale
        if aug.mirror > 0:  # the motion's mirror image: another real-looking motion
            flip = rng.random(b) < aug.mirror
            q[flip] = mirror_q(q[flip])
            lm[flip] = lm[flip][:, :, _keypoint_swap()] * _REFLECT
            root[flip] *= _REFLECT
        pts = lm + root[:, :, None]  # world, Y up
        # Camera per window, aimed at the mean pelvis position.
        m = root.mean(1)  # (B, 3)
        reach = np.linalg.norm((root - m[:, None])[..., [0, 2]], axis=-1).max(1)
        az = rng.uniform(0, 2 * np.pi, size=b)
        dist = rng.uniform(*aug.distance_m, size=b) + reach
        floor = pts[..., 1].min((1, 2))
        cam = m + dist[:, None] * np.stack([np.sin(az), np.zeros(b), np.cos(az)], -1)
        cam[:, 1] = floor + rng.uniform(*aug.cam_height_m, size=b)
        fwd = m - cam
        fwd /= np.linalg.norm(fwd, axis=-1, keepdims=True)
        right = np.cross(fwd, [0.0, 1.0, 0.0])
        right /= np.linalg.norm(right, axis=-1, keepdims=True)
        down = np.cross(fwd, right)
        r_cw = np.stack([right, down, fwd], 1)  # rows: camera axes in world
        jit = np.deg2rad(rng.normal(scale=[aug.aim_jitter_deg, aug.aim_jitter_deg, aug.roll_deg],
                                    size=(b, 3)))  # fmt: skip
        r_cw = _euler_xyz(jit) @ r_cw
        pc = (pts - cam[:, None, None]) @ np.swapaxes(r_cw, -1, -2)[:, None]  # (B, T, 33, 3)
        # Intrinsics: 35-mm equivalent focal on the long side of a 16:9 picture.
        tele = rng.random(b) < aug.tele_fraction
        f35 = np.where(
            tele,
            rng.uniform(*aug.focal_35mm_tele, size=b),
            rng.uniform(*aug.focal_35mm_wide, size=b),
        )
        long_px = 1920.0
        f_px = f35 / 36.0 * long_px
        portrait = rng.random(b) < aug.portrait_fraction
        size_px = np.where(portrait[:, None], [1080.0, 1920.0], [1920.0, 1080.0])
        pp = size_px / 2
        z = np.clip(pc[..., 2:3], 0.2, None)
        px = f_px[:, None, None, None] * pc[..., :2] / z + pp[:, None, None]
        kp, conf = self._corrupt(px, size_px)
        f_used = np.where(
            rng.random(b) < aug.wrong_focal,
            f_px * np.exp(rng.uniform(*np.log(aug.wrong_focal_range), size=b)),
            f_px,
        )
        feats, r_v = window_features(kp, conf, f_used, pp)
        self.last_view = (pc, r_v, subj)  # camera-frame landmarks, for checks
        r_pw = _root_matrix(q[..., ROOT])  # (B, T, 3, 3) pelvis in the world
        r_t = (_BSM @ r_v)[:, None] @ r_cw[:, None] @ r_pw
        q_t = torch.from_numpy(q)
        rt = torch.from_numpy(r_t)
        q_t = q_t.index_copy(-1, torch.tensor(ROOT), K.pelvis_angles_from_matrix(rt))
        return LiftBatch(
            torch.from_numpy(feats), q_t.float(), rt.float(),
            torch.from_numpy(d.offsets_m[subj]).float(),
        )  # fmt: skip

    def _corrupt(self, px: np.ndarray, size_px: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        rng, aug = self.rng, self.aug
        b, t, k, _ = px.shape
        height = np.median(px[..., 1].max(-1) - px[..., 1].min(-1), 1)  # (B,) pixels
        ext = np.linalg.norm(px.max(2) - px.min(2), axis=-1)
        height = np.maximum(height, 0.5 * np.median(ext, 1))
        mult = np.ones(k)
        mult[_EXTREMITIES], mult[_FACE] = aug.extremity_noise, aug.face_noise
        sigma = rng.uniform(*aug.noise_frac, size=b) * height  # (B,)
        noise = 0.6 * rng.normal(size=px.shape) + 0.8 * _smooth(rng, px.shape, 4)
        err = sigma[:, None, None, None] * mult[None, None, :, None] * noise
        x = px + err
        # Confidence: a per-window level, per-frame jitter, lower where the error is large.
        base = rng.uniform(0.6, 1.0, size=(b, 1, k))
        rel_err = np.linalg.norm(err, axis=-1) / np.maximum(height, 1.0)[:, None, None]
        conf = np.clip(base + rng.normal(scale=0.08, size=(b, t, k)) - 4 * rel_err, 0.05, 1.0)
        outside = (x < 0).any(-1) | (x > size_px[:, None, None]).any(-1)
        conf = np.where(outside, np.minimum(conf, 0.2), conf)
        # Left/right swaps of a whole leg or arm pair in a frame.
        for bi, ti in zip(*np.nonzero(rng.random((b, t)) < aug.swap_rate), strict=True):
            la, ra = (_LEGS_L, _LEGS_R) if rng.random() < 0.6 else (_ARMS_L, _ARMS_R)
            x[bi, ti, la + ra] = x[bi, ti, ra + la]
        drop = rng.random((b, t, k)) < rng.uniform(0, aug.dropout, size=(b, 1, 1))
        drop |= (rng.random((b, t)) < rng.uniform(0, aug.frame_drop, size=(b, 1)))[..., None]
        conf[drop] = 0.0
        x[drop] = np.nan
        return x, conf


def _euler_xyz(a: np.ndarray) -> np.ndarray:
    """(B, 3) angles about the camera's x (pitch), y (yaw), z (roll) -> (B, 3, 3)."""
    c, s = np.cos(a), np.sin(a)
    o, z = np.ones(len(a)), np.zeros(len(a))
    rx = np.stack([np.stack([o, z, z], -1), np.stack([z, c[:, 0], -s[:, 0]], -1),
                   np.stack([z, s[:, 0], c[:, 0]], -1)], -2)  # fmt: skip
    ry = np.stack([np.stack([c[:, 1], z, s[:, 1]], -1), np.stack([z, o, z], -1),
                   np.stack([-s[:, 1], z, c[:, 1]], -1)], -2)  # fmt: skip
    rz = np.stack([np.stack([c[:, 2], -s[:, 2], z], -1), np.stack([s[:, 2], c[:, 2], z], -1),
                   np.stack([z, z, o], -1)], -2)  # fmt: skip
    return rz @ ry @ rx
