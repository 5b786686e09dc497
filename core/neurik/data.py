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
import warnings
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
_ROOT_DOFS = [sk.DOF["pelvis_tilt"], sk.DOF["pelvis_list"], sk.DOF["pelvis_rotation"]]
# BlazePose limb chains for the depth ambiguity: (parent joint, joint, points that move with it)
_LIMB_CHAINS = (
    ("hip", "knee", ("ankle", "heel", "foot_index")),
    ("knee", "ankle", ("heel", "foot_index")),
    ("shoulder", "elbow", ("wrist", "pinky", "index", "thumb")),
    ("elbow", "wrist", ("pinky", "index", "thumb")),
)


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
    # MediaPipe world landmarks: a camera-aligned frame (X right, Y image-up, Z towards the
    # camera) centred on the detector's own hip midpoint. With ``camera_frame`` the sampler draws
    # a camera pitch/roll (the person's vertical tilts in that frame), puts the depth error on Z,
    # centres every frame on the noisy hip midpoint, and adds the monocular depth ambiguity of
    # limbs: the depth of a knee, ankle, elbow or wrist relative to its parent joint scaled by a
    # smooth factor (down to -1 = mirrored in depth, the same 2D picture) over part of a window.
    camera_frame: bool = False
    pitch_deg: tuple[float, float] = (-35.0, 20.0)  # uniform; negative = camera looking down
    roll_deg: float = 4.0  # std
    limb_depth: float = 0.0  # probability per limb and window of a depth-ratio error
    frame_drop: float = 0.0  # fraction of frames with no detection (every marker missing)


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

    def add_bank(self, folder: Path | None = None) -> None:
        """Every clip of the real-motion bank (``python -m core.mocap.bank build``)."""
        from core.mocap.bank import DEFAULT_BANK, load_bank

        for clip in load_bank(folder or DEFAULT_BANK):
            self.add(clip.clip, clip.q_rad, clip.fps)
        log.info(
            "motion bank: %d pieces, %.1f min", len(self.clips), sum(map(len, self.clips)) / 1800
        )

    def sample(self, rng: np.random.Generator, n: int, t: int) -> np.ndarray:
        """(n, t, 46) windows, random start, random playback speed 0.7..1.4, random heading."""
        out = np.empty((n, t, sk.N_DOFS))
        # Clips are drawn with probability ~ sqrt(length): long takes (20 s of salsa) are seen
        # more than 1 s runs, but do not swamp them.
        p_clip = np.sqrt([len(c) for c in self.clips])
        p_clip /= p_clip.sum()
        for i in range(n):
            k = rng.choice(len(self.clips), p=p_clip)
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
        # Root: a random walk near the origin at pelvis height.
        root = np.cumsum(rng.normal(scale=0.02, size=(batch_size, t, 3)), 1)
        root += rng.normal(scale=[1.0, 0.1, 1.0], size=(batch_size, 1, 3)) + [0, 0.95, 0]
        return self.observe(q_np, root, subj)

    def observe(self, q: np.ndarray, root: np.ndarray, subjects: list[SubjectGeometry]) -> Batch:
        """Markers of given motions (B, T, 46), roots (B, T, 3) and subjects (B of them) as the
        noise model sees them (camera view, corruption, centring when configured)."""
        if len(subjects) != q.shape[0]:
            raise ValueError(
                f"expected {q.shape[0]} subjects (one per motion), got {len(subjects)}"
            )
        offsets = np.stack([s.offsets_m for s in subjects])
        bodies = np.stack([s.marker_bodies for s in subjects])
        local = np.stack([s.marker_local_m for s in subjects])
        q_np = np.asarray(q, dtype=np.float64)
        root = np.asarray(root, dtype=np.float64)
        if self.noise.camera_frame:
            q_np, root = self._camera_view(q_np, root, offsets)
        qt = torch.from_numpy(q_np)
        fk = K.forward_kinematics(qt, torch.from_numpy(root), torch.from_numpy(offsets)[:, None])
        b_idx = torch.from_numpy(bodies[0])
        if not (bodies == bodies[0]).all():
            raise ValueError("all subjects must share the marker set's body assignment")
        clean = K.body_points(fk, b_idx, torch.from_numpy(local)[:, None])  # (B, T, M, 3)
        noisy, conf = self._corrupt(clean.numpy())
        if self.noise.camera_frame:  # MediaPipe's origin: its own (noisy) hip midpoint
            hips = [self.markers.names.index(n) for n in ("left_hip", "right_hip")]
            with np.errstate(invalid="ignore"), warnings.catch_warnings():
                warnings.simplefilter("ignore", RuntimeWarning)  # frames with both hips missing
                centre = np.nanmean(noisy[:, :, hips], axis=2)  # (B, T, 3)
            centre = np.where(np.isfinite(centre), centre, clean.numpy()[:, :, hips].mean(2))
            noisy = noisy - centre[:, :, None]
            clean = clean - torch.from_numpy(centre)[:, :, None]
            root = root - centre
        return Batch(
            markers_m=torch.from_numpy(noisy).float(),
            confidence=torch.from_numpy(conf).float(),
            q_rad=qt.float(),
            root_m=torch.from_numpy(root).float(),
            offsets_m=torch.from_numpy(offsets).float(),
            segment_scale=torch.from_numpy(np.stack([s.segment_scale for s in subjects])).float(),
            clean_markers_m=clean.float(),
        )

    def _camera_view(
        self, q: np.ndarray, root: np.ndarray, offsets: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray]:
        """Seen from a pitched and rolled camera: pelvis orientation and root rotated by
        R = Rx(pitch) Rz(roll) (X = camera right, Z = towards the camera)."""
        rng, nz = self.rng, self.noise
        b = q.shape[0]
        pitch = np.deg2rad(rng.uniform(*nz.pitch_deg, size=b))
        roll = np.deg2rad(rng.normal(scale=nz.roll_deg, size=b))
        cp, sp, cr, sr = np.cos(pitch), np.sin(pitch), np.cos(roll), np.sin(roll)
        z, o = np.zeros(b), np.ones(b)
        rx = np.stack([np.stack([o, z, z], -1), np.stack([z, cp, -sp], -1),
                       np.stack([z, sp, cp], -1)], -2)  # fmt: skip
        rz = np.stack([np.stack([cr, -sr, z], -1), np.stack([sr, cr, z], -1),
                       np.stack([z, z, o], -1)], -2)  # fmt: skip
        cam = torch.from_numpy(rx @ rz)[:, None]  # (B, 1, 3, 3)
        qt = torch.from_numpy(q)
        pel = K.forward_kinematics(
            qt, torch.from_numpy(root), torch.from_numpy(offsets)[:, None]
        ).rotations[..., 0, :, :]
        q = q.copy()
        q[..., _ROOT_DOFS] = K.pelvis_angles_from_matrix(cam @ pel).numpy()
        root = (cam.numpy() @ root[..., None])[..., 0]
        return q, root

    def _limb_depth(self, x: np.ndarray) -> None:
        """In place: per limb, with probability ``limb_depth``, the distal joint's depth (Z)
        relative to its parent scaled by a factor that ramps in and out over part of the window
        (the markers further down the limb move with it)."""
        rng, names = self.rng, self.markers.names
        b, t = x.shape[:2]
        tt = np.arange(t)
        for side in ("left", "right"):
            for prox, dist, follow in _LIMB_CHAINS:
                try:
                    ip = names.index(f"{side}_{prox}")
                    idx = [names.index(f"{side}_{n}") for n in (dist, *follow)]
                except ValueError:
                    continue
                hit = np.flatnonzero(rng.random(b) < self.noise.limb_depth)
                for bi in hit:
                    a, c = np.sort(rng.uniform(-0.3 * t, 1.3 * t, size=2))
                    ramp = max(2.0, 0.15 * t)
                    env = np.clip(np.minimum(tt - a, c - tt) / ramp + 0.5, 0.0, 1.0)
                    factor = 1.0 + (rng.uniform(-1.0, 0.6) - 1.0) * env  # (T,)
                    dz = x[bi, :, idx[0], 2] - x[bi, :, ip, 2]
                    shift = (factor - 1.0) * dz  # (T,)
                    x[bi, :, idx, 2] += shift[None, :]

    def _corrupt(self, clean: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        rng, nz = self.rng, self.noise
        b, t, m, _ = clean.shape
        x = clean.copy()
        if nz.limb_depth > 0:
            self._limb_depth(x)
        level = rng.uniform(0.0, 1.5, size=(b, 1, 1, 1))  # some clean sequences, some very noisy
        x += nz.jitter_m * level * _smooth_noise(rng, b, t, m * 3, 2.0).reshape(b, t, m, 3)
        # Depth error along the camera axis (Z in the camera frame; else a random horizontal
        # axis), per marker.
        ang = rng.uniform(0, 2 * np.pi, size=b)
        axis = np.stack([np.cos(ang), np.zeros(b), np.sin(ang)], -1)[:, None, None, :]
        if nz.camera_frame:
            axis = np.broadcast_to(np.array([0.0, 0.0, 1.0]), axis.shape)
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
        if nz.frame_drop > 0:  # frames where the detector found nobody: every marker missing
            drop |= (rng.random((b, t)) < nz.frame_drop * rng.uniform(0, 2, size=(b, 1)))[
                ..., None
            ]
        conf[drop] = 0.0
        x[drop] = np.nan
        return x, conf
