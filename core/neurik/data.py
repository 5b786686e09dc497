"""Synthetic training data for NeurIK: motions x subjects x marker sets x detector-like noise.

Motions come from real CMU clips retargeted onto BSM-46 (``core.bvh``; the 131_* clips are the
test set and never enter training) and from smooth random trajectories inside the joint limits
with a pose prior (mid-range-centred, gait-like coupling of hips, knees and arms). Subjects are
Anny bodies of random shape (``core.body``), each with its own skeleton and marker positions.
Noise imitates a detector: temporally correlated per-marker jitter, larger errors along the
(random) camera's depth axis, dropouts, occasional left/right swaps and, for BlazePose landmarks,
a global scale error.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch import Tensor

from core import kinematics as K
from core import skeleton as sk
from core.mocap.holdout import check_not_held_out, is_held_out
from core.neurik.markersets import MarkerSet

__all__ = [
    "SubjectGeometry",
    "MotionBank",
    "NoiseConfig",
    "Batch",
    "Sampler",
    "random_trajectories",
    "HELD_OUT_CLIPS",
]

log = logging.getLogger(__name__)

# CMU subject 131, the MQ-HMR synthetic test poses; the full evaluation list (refused by
# MotionBank.add) is core.mocap.holdout.HELD_OUT.
HELD_OUT_CLIPS = ("131_01", "131_02", "131_03")
_DEFAULT_OFFSETS = sk.default_offsets(1.75)


@dataclass
class SubjectGeometry:
    offsets_m: np.ndarray  # (24, 3)
    marker_bodies: np.ndarray  # (M,)
    marker_local_m: np.ndarray  # (M, 3)

    @property
    def segment_scale(self) -> np.ndarray:
        """(24,) length of each joint offset relative to the generic 1.75 m adult."""
        ref = np.linalg.norm(_DEFAULT_OFFSETS, axis=1)
        cur = np.linalg.norm(self.offsets_m, axis=1)
        return np.where(ref > 1e-6, cur / np.maximum(ref, 1e-6), 1.0)


@dataclass
class NoiseConfig:
    jitter_m: float = 0.012  # per-marker, temporally correlated
    depth_m: float = 0.035  # extra error along the camera depth axis
    dropout: float = 0.08  # fraction of marker observations missing
    swap_rate: float = 0.01  # fraction of frames with one left/right pair swapped
    scale: float = (
        0.0  # global scale error (std), BlazePose world landmarks are not exactly metric
    )


@dataclass
class Batch:
    markers_m: Tensor  # (B, T, M, 3) noisy, NaN where missing
    confidence: Tensor  # (B, T, M)
    q_rad: Tensor  # (B, T, 46) ground truth
    root_m: Tensor  # (B, T, 3)
    offsets_m: Tensor  # (B, 24, 3)
    segment_scale: Tensor  # (B, 24)
    clean_markers_m: Tensor  # (B, T, M, 3)


def _smooth_noise(
    rng: np.random.Generator, n: int, t: int, d: int, corr_frames: float
) -> np.ndarray:
    """(n, t, d) Gaussian noise with unit std, smoothed over ~corr_frames frames."""
    x = rng.normal(size=(n, t + 4 * int(corr_frames) + 1, d))
    k = np.exp(
        -0.5
        * (np.arange(-2 * int(corr_frames), 2 * int(corr_frames) + 1) / max(corr_frames, 1e-3))
        ** 2
    )
    k /= np.sqrt((k**2).sum())
    out = np.apply_along_axis(lambda v: np.convolve(v, k, mode="valid"), 1, x)
    return out[:, :t]


def random_trajectories(rng: np.random.Generator, n: int, t: int, fps: float = 30.0) -> np.ndarray:
    """(n, t, 46) smooth joint-angle trajectories inside the limits, with a pose prior: a base pose
    near mid-range plus gait-like coupled oscillations and smooth per-DOF wander."""
    lo, hi = sk.limits_rad()
    # Base pose in the free space. Where 0 is a limit (knee, elbow), free_from_q(0) is ~ -14 and
    # noise alone would never bend the joint: start from +-2.5 at most, and for ~30 % of the DOFs
    # of each sequence draw the base uniformly across the whole range.
    neutral = K.free_from_q(torch.zeros(sk.N_DOFS, dtype=torch.float64)).numpy().clip(-2.5, 2.5)
    u = neutral + rng.normal(scale=0.8, size=(n, 1, sk.N_DOFS))
    anywhere = rng.random((n, 1, sk.N_DOFS)) < 0.3
    u = np.where(anywhere, rng.uniform(-3.0, 3.0, size=(n, 1, sk.N_DOFS)), u)
    u = u + _smooth_noise(
        rng, n, t, sk.N_DOFS, corr_frames=fps * rng.uniform(0.15, 0.6)
    ) * rng.uniform(0.2, 1.2, size=(n, 1, 1))
    q = K.q_from_free(torch.from_numpy(u)).numpy()
    # Gait-like coupling: hips in anti-phase, knees flex in swing, arms swing opposite to legs.
    tt = np.arange(t) / fps
    freq = rng.uniform(0.6, 1.6, size=(n, 1))
    phase = rng.uniform(0, 2 * np.pi, size=(n, 1))
    amp = rng.uniform(0.0, 1.0, size=(n, 1))
    s = np.sin(2 * np.pi * freq * tt + phase)
    c = np.cos(2 * np.pi * freq * tt + phase)
    add = {
        "hip_flexion_r": 0.45 * s,
        "hip_flexion_l": -0.45 * s,
        "knee_angle_r": 0.6 * np.clip(c, 0, None),
        "knee_angle_l": 0.6 * np.clip(-c, 0, None),
        "shoulder_r_z": -0.35 * s,
        "shoulder_l_z": 0.35 * s,
        "elbow_flexion_r": 0.3 * np.abs(s),
        "elbow_flexion_l": 0.3 * np.abs(s),
    }
    for name, v in add.items():
        q[:, :, sk.DOF[name]] += amp * v
    # Root orientation: any heading, moderate tilt and list.
    q[:, :, sk.DOF["pelvis_rotation"]] = (
        rng.uniform(-np.pi, np.pi, size=(n, 1)) + 0.3 * _smooth_noise(rng, n, t, 1, fps)[..., 0]
    )
    q[:, :, sk.DOF["pelvis_tilt"]] = (
        rng.normal(scale=0.15, size=(n, 1)) + 0.05 * _smooth_noise(rng, n, t, 1, fps)[..., 0]
    )
    q[:, :, sk.DOF["pelvis_list"]] = (
        rng.normal(scale=0.08, size=(n, 1)) + 0.04 * _smooth_noise(rng, n, t, 1, fps)[..., 0]
    )
    lo_f = np.where(np.isfinite(lo), lo, -np.inf)
    hi_f = np.where(np.isfinite(hi), hi, np.inf)
    return np.clip(q, lo_f, hi_f)


class MotionBank:
    """Joint-angle clips (each (T_i, 46), at fps_i) to cut training windows from."""

    def __init__(self) -> None:
        self.clips: list[np.ndarray] = []
        self.names: list[str] = []
        self.fps: list[float] = []

    def add(self, name: str, q_rad: np.ndarray, fps: float) -> None:
        check_not_held_out(name, "training")
        sk.check_q(q_rad, what=f"clip {name}")
        self.clips.append(np.asarray(q_rad, dtype=np.float64))
        self.names.append(name)
        self.fps.append(float(fps))

    def add_bvh_folder(self, folder: Path, target_fps: float = 30.0) -> None:
        """Retarget every CMU BVH in ``folder`` (except the held-out clips) and add it."""
        from core.bvh import retarget_bvh

        for path in sorted(Path(folder).glob("*.bvh")):
            if is_held_out(path):
                continue
            motion, report = retarget_bvh(path, target_fps=target_fps)
            self.add(path.stem, motion.q_rad, motion.fps)
            log.info(
                "motion bank: %s, %d frames at %.0f fps", path.stem, motion.n_frames, motion.fps
            )

    def sample(self, rng: np.random.Generator, n: int, t: int) -> np.ndarray:
        """(n, t, 46) windows, random start, random playback speed 0.7..1.4, random heading."""
        out = np.empty((n, t, sk.N_DOFS))
        for i in range(n):
            k = rng.integers(len(self.clips))
            clip = self.clips[k]
            speed = rng.uniform(0.7, 1.4)
            span = (t - 1) * speed
            start = rng.uniform(0, max(len(clip) - 1 - span, 0))
            pos = np.clip(start + np.arange(t) * speed, 0, len(clip) - 1)
            i0 = np.floor(pos).astype(int)
            i1 = np.minimum(i0 + 1, len(clip) - 1)
            w = (pos - i0)[:, None]
            out[i] = clip[i0] * (1 - w) + clip[i1] * w  # convex: stays within the limits
            out[i, :, sk.DOF["pelvis_rotation"]] += rng.uniform(-np.pi, np.pi)
            if rng.random() < 0.5:  # mirror left/right is not valid for joint angles; add jitter
                out[i] += rng.normal(scale=0.03, size=(1, sk.N_DOFS))
        lo, hi = sk.limits_rad()
        return np.clip(
            out, np.where(np.isfinite(lo), lo, -np.inf), np.where(np.isfinite(hi), hi, np.inf)
        )


class Sampler:
    """Draws training batches: motion windows x subjects x noise, markers by FK."""

    def __init__(
        self,
        subjects: list[SubjectGeometry],
        markers: MarkerSet,
        bank: MotionBank | None,
        noise: NoiseConfig,
        window: int,
        seed: int = 0,
        random_fraction: float = 0.5,
    ) -> None:
        if not subjects:
            raise ValueError("need at least one subject")
        self.subjects = subjects
        self.markers = markers
        self.bank = bank
        self.noise = noise
        self.window = window
        self.rng = np.random.default_rng(seed)
        self.random_fraction = random_fraction if bank and bank.clips else 1.0

    def __call__(self, batch_size: int) -> Batch:
        rng, t = self.rng, self.window
        n_rand = int(round(batch_size * self.random_fraction))
        q = [random_trajectories(rng, n_rand, t, fps=rng.uniform(20, 60))] if n_rand else []
        if batch_size - n_rand:
            q.append(self.bank.sample(rng, batch_size - n_rand, t))
        q_np = np.concatenate(q, 0)
        subj = [self.subjects[i] for i in rng.integers(len(self.subjects), size=batch_size)]
        offsets = np.stack([s.offsets_m for s in subj])
        bodies = np.stack([s.marker_bodies for s in subj])
        local = np.stack([s.marker_local_m for s in subj])
        # Root: a random walk near the origin at pelvis height.
        root = np.cumsum(rng.normal(scale=0.02, size=(batch_size, t, 3)), 1)
        root += rng.normal(scale=[1.0, 0.1, 1.0], size=(batch_size, 1, 3)) + [0, 0.95, 0]
        qt = torch.from_numpy(q_np)
        fk = K.forward_kinematics(qt, torch.from_numpy(root), torch.from_numpy(offsets)[:, None])
        b_idx = torch.from_numpy(bodies[0])
        if not (bodies == bodies[0]).all():
            raise ValueError("all subjects must share the marker set's body assignment")
        clean = K.body_points(fk, b_idx, torch.from_numpy(local)[:, None])  # (B, T, M, 3)
        noisy, conf = self._corrupt(clean.numpy())
        return Batch(
            markers_m=torch.from_numpy(noisy).float(),
            confidence=torch.from_numpy(conf).float(),
            q_rad=qt.float(),
            root_m=torch.from_numpy(root).float(),
            offsets_m=torch.from_numpy(offsets).float(),
            segment_scale=torch.from_numpy(np.stack([s.segment_scale for s in subj])).float(),
            clean_markers_m=clean.float(),
        )

    def _corrupt(self, clean: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        rng, nz = self.rng, self.noise
        b, t, m, _ = clean.shape
        x = clean.copy()
        level = rng.uniform(0.0, 1.5, size=(b, 1, 1, 1))  # some clean sequences, some very noisy
        x += nz.jitter_m * level * _smooth_noise(rng, b, t, m * 3, 2.0).reshape(b, t, m, 3)
        # Depth error along a random horizontal camera axis, per marker.
        ang = rng.uniform(0, 2 * np.pi, size=b)
        axis = np.stack([np.cos(ang), np.zeros(b), np.sin(ang)], -1)[:, None, None, :]
        x += nz.depth_m * level * _smooth_noise(rng, b, t, m, 3.0).reshape(b, t, m, 1) * axis
        if nz.scale > 0:
            centre = x.mean(2, keepdims=True)
            x = centre + (x - centre) * (1 + nz.scale * rng.normal(size=(b, 1, 1, 1)))
        pairs = self.markers.lr_pairs
        if pairs:
            for bi, ti in zip(*np.nonzero(rng.random((b, t)) < nz.swap_rate), strict=True):
                i, j = pairs[rng.integers(len(pairs))]
                x[bi, ti, [i, j]] = x[bi, ti, [j, i]]
        conf = np.clip(rng.normal(0.9, 0.1, size=(b, t, m)), 0.3, 1.0)
        drop = rng.random((b, t, m)) < nz.dropout * rng.uniform(0, 2.5, size=(b, 1, 1))
        conf[drop] = 0.0
        x[drop] = np.nan
        return x, conf
