"""Body poses (BSM-46 joint angles, within the limits) for synthetic images.

Training: half from real CMU motion (every clip in the CMU folder except the held-out 131_*,
retargeted by ``core.bvh`` into a ``core.neurik.data.MotionBank``, which refuses held-out clips:
one frame per image at a random time, random heading, sometimes a little jitter), half from
``core.neurik.data.random_trajectories`` (in-limit sampling with a pose prior). Held-out: frames
of the CMU test clips 131_01..03 only, with a random heading.

Retargeting a clip takes seconds (01_01: ~11 s), so retargeted clips are cached on disk as
``CACHE/motions/<clip>-<fps>fps-<key>.npz``; the key hashes the BVH file and ``core/bvh.py``, so
a changed clip or retargeter never serves a stale cache.
"""

from __future__ import annotations

import hashlib
import logging
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from core import skeleton as sk
from core.neurik.data import HELD_OUT_CLIPS, MotionBank, random_trajectories

__all__ = ["Pose", "load_clip", "TrainingPoses", "HeldOutPoses", "cmu_clips"]

log = logging.getLogger(__name__)

FPS = 30.0


@dataclass(frozen=True)
class Pose:
    q_rad: np.ndarray  # (46,) within the limits; pelvis angles w.r.t. the world
    source: str  # CMU clip name, or "random"
    frame: int  # frame of the clip at FPS (-1 for random poses)


def cmu_clips(folder: Path, held_out: bool) -> list[Path]:
    """The CMU BVH files a dataset draws from: the held-out clips, or all the others."""
    paths = sorted(Path(folder).glob("*.bvh"))
    is_held = [any(p.stem.startswith(h) for h in HELD_OUT_CLIPS) for p in paths]
    return [p for p, h in zip(paths, is_held, strict=True) if h == held_out]


def _key(path: Path) -> str:
    import core.bvh

    h = hashlib.sha1(path.read_bytes())
    h.update(Path(core.bvh.__file__).read_bytes())
    return h.hexdigest()[:12]


def load_clip(path: Path, cache_dir: Path) -> np.ndarray:
    """(T, 46) joint angles of a CMU BVH retargeted at 30 fps (disk-cached)."""
    from core.motion import atomic_write

    cache = Path(cache_dir) / "motions" / f"{path.stem}-{FPS:g}fps-{_key(path)}.npz"
    if cache.is_file():
        with np.load(cache, allow_pickle=False) as z:
            return z["q_rad"]
    from core.bvh import retarget_bvh

    log.info("retargeting %s (cached afterwards in %s)", path.name, cache.parent)
    motion, _ = retarget_bvh(path, target_fps=FPS)
    q = np.asarray(motion.q_rad, dtype=np.float64)
    sk.check_q(q, what=f"retargeted clip {path.stem}")
    atomic_write(cache, lambda f: np.savez(f, q_rad=q), binary=True)
    return q


def _wrap(a: float) -> float:
    return float((a + np.pi) % (2 * np.pi) - np.pi)


class TrainingPoses:
    """Half CMU motion (MotionBank, never 131_*), half in-limit random poses."""

    def __init__(self, clips: list[Path], cache_dir: Path, random_fraction: float = 0.5) -> None:
        self.bank = MotionBank()
        for p in clips:
            self.bank.add(p.stem, load_clip(p, cache_dir), FPS)  # refuses held-out clips
        self.random_fraction = random_fraction if self.bank.clips else 1.0
        self.names = tuple(self.bank.names)

    def sample(self, rng: np.random.Generator) -> Pose:
        if rng.random() < self.random_fraction:
            q = random_trajectories(rng, 1, 1, FPS)[0, 0]
            source, frame = "random", -1
        else:
            # MotionBank.sample draws a clip, a start and a speed; one frame is its start.
            state = rng.bit_generator.state
            k = int(rng.integers(len(self.bank.clips)))
            rng.bit_generator.state = state
            q = self.bank.sample(rng, 1, 1)[0, 0]
            source, frame = self.bank.names[k], -1
        q = q.copy()
        q[sk.DOF["pelvis_rotation"]] = _wrap(q[sk.DOF["pelvis_rotation"]])
        return Pose(q, source, frame)


class HeldOutPoses:
    """Frames of the CMU test clips (131_*) only, random heading."""

    def __init__(self, clips: list[Path], cache_dir: Path) -> None:
        bad = [p.stem for p in clips if not any(p.stem.startswith(h) for h in HELD_OUT_CLIPS)]
        if bad or not clips:
            raise ValueError(f"held-out poses come from {HELD_OUT_CLIPS} only; got {bad or []}")
        self.clips = [load_clip(p, cache_dir) for p in clips]
        self.names = tuple(p.stem for p in clips)
        self._starts = np.cumsum([0] + [len(c) for c in self.clips])

    def sample(self, rng: np.random.Generator) -> Pose:
        i = int(rng.integers(self._starts[-1]))  # uniform over all frames
        k = int(np.searchsorted(self._starts, i, side="right") - 1)
        f = i - int(self._starts[k])
        q = self.clips[k][f].copy()
        q[sk.DOF["pelvis_rotation"]] = _wrap(
            q[sk.DOF["pelvis_rotation"]] + rng.uniform(-np.pi, np.pi)
        )
        return Pose(q, self.names[k], f)
