"""The fixed evaluation set of real motion: clips that no training may see.

``HELD_OUT`` names CMU takes (file stems, the same for BVH and AMC: ``02_01.bvh`` and
``02_01.amc`` are one take) by activity. The accuracy harness renders exactly these; every
training path refuses them (:func:`check_not_held_out`). Keep this list stable: changing it
invalidates every number measured on it.

How the activities were decided (from the data, not from file names alone, because the CMU
descriptions do not ship with the files): root speed, hip height over leg length, both-feet
airborne frames and heading changes of the hip line, at 30 fps.

- walking: all of subject 131 (walk/hop, the project's test set since the start) plus three
  walks of other subjects (07_05, 08_04 slow, 12_02; 1.1-1.4 m/s, hips never below 0.85 leg).
- running: 09_05, 09_11 (4.4 m/s; short, about 1.2 s each as recorded).
- jumping: 13_13 (forward jumps, hips down to 0.57 leg), 13_41 (jumps in place from a deep
  crouch, hips down to 0.47 leg: also the deepest squatting in the set), 16_02 (15 s of two-footed
  jumps in place, 30 fps, BVH with ASF joint names).
- dance: salsa_05 and salsa_20 (the two partners of one salsa take: the dance/ folder pairs
  salsa_NN with salsa_NN+15, so both are held out) and indian_07.
- martial_arts: martial_04, martial_09.
- turning: 14_08 (22 s of everyday moves with repeated 70-85 deg turns within 2 s).
No clean sitting-down or one-leg-balance take was found in this data; none is claimed.
"""

from __future__ import annotations

import os
from pathlib import Path

__all__ = [
    "HELD_OUT",
    "HELD_OUT_SUBJECTS",
    "HeldOutClipError",
    "clip_id",
    "is_held_out",
    "check_not_held_out",
    "held_out_ids",
    "held_out_paths",
]

HELD_OUT_SUBJECTS: tuple[str, ...] = ("131",)  # every take of these CMU subjects

HELD_OUT: dict[str, tuple[str, ...]] = {
    "walking": ("131_01", "131_02", "131_03", "07_05", "08_04", "12_02"),
    "running": ("09_05", "09_11"),
    "jumping": ("13_13", "13_41", "16_02"),
    "dance": ("salsa_05", "salsa_20", "indian_07"),
    "martial_arts": ("martial_04", "martial_09"),
    "turning": ("14_08",),
}

_MOTION_SUFFIXES = (".bvh", ".amc")


class HeldOutClipError(ValueError):
    """A held-out evaluation clip was offered to training."""


def clip_id(path_or_id: str | os.PathLike[str]) -> str:
    """'…/cmu_more/subjects/07_05.bvh' -> '07_05'; an id is returned as it is (lower case)."""
    name = Path(path_or_id).name
    for suffix in _MOTION_SUFFIXES:
        if name.lower().endswith(suffix):
            name = name[: -len(suffix)]
    return name.lower()


def held_out_ids() -> tuple[str, ...]:
    """All named held-out clip ids, in activity order."""
    return tuple(c for clips in HELD_OUT.values() for c in clips)


def is_held_out(path_or_id: str | os.PathLike[str]) -> bool:
    """True for a clip named in ``HELD_OUT`` or any take of a held-out subject (``131_*``)."""
    cid = clip_id(path_or_id)
    if cid in held_out_ids():
        return True
    subject = cid.split("_", 1)[0]
    return "_" in cid and subject in HELD_OUT_SUBJECTS


def check_not_held_out(path_or_id: str | os.PathLike[str], what: str = "training") -> None:
    """Raise :class:`HeldOutClipError` if the clip is held out for evaluation."""
    if is_held_out(path_or_id):
        raise HeldOutClipError(
            f"{path_or_id}: clip {clip_id(path_or_id)!r} is held out for evaluation "
            f"(core.mocap.holdout.HELD_OUT) and must not be used for {what}; leave it out"
        )


def held_out_paths(shared_data_root: str | os.PathLike[str]) -> list[Path]:
    """The motion file of every held-out clip under ``shared_data_root`` (the folder holding
    ``mocap/``), one per take (BVH preferred over AMC), in ``HELD_OUT`` order. Raises
    FileNotFoundError naming the clips that are missing."""
    root = Path(shared_data_root)
    mocap = root / "mocap" if (root / "mocap").is_dir() else root
    if not mocap.is_dir():
        raise FileNotFoundError(f"no mocap data under {root} (expected {root / 'mocap'})")
    found: dict[str, Path] = {}
    for suffix in _MOTION_SUFFIXES:  # BVH first
        for p in sorted(mocap.rglob(f"*{suffix}")):
            cid = clip_id(p)
            if cid not in found and is_held_out(cid):
                found[cid] = p
    missing = [c for c in held_out_ids() if c not in found]
    if missing:
        raise FileNotFoundError(f"held-out clips missing under {mocap}: {', '.join(missing)}")
    named = [found[c] for c in held_out_ids()]
    extra = [p for c, p in sorted(found.items()) if c not in held_out_ids()]  # other 131_* takes
    return named + extra
