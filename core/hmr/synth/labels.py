"""The labels of a synthetic dataset (``DIR/labels.npz``) and its ``meta.json``.

Frames and conventions: the world is OpenSim's (X forward, Y up, Z right; the floor is y = 0);
the camera is OpenCV's (x right, y down, z forward); pixels are those of the stored image with
pixel centres at integer coordinates. For sample i::

    rot, org = core.fk_numpy.forward_kinematics(q_rad[i], zeros(3), offsets_m[i])
    joints_cam_m[i] = (org - org[0]) @ R_cam_world[i].T + t_cam_m[i]
    joints_2d_px[i] = project(K[i], joints_cam_m[i])
    keypoints: body_points(rot, org, kp_bodies, kp_local_m[i]), the same way

``kp_bodies`` is one array for all samples (BlazePose landmarks sit on the same bodies for every
subject); everything else has the sample axis first. Fields beyond the contract are marked
"extra" below. Strings are fixed-width unicode, so ``np.load(..., allow_pickle=False)`` reads it.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, fields
from pathlib import Path

import numpy as np

from core.motion import atomic_write

__all__ = ["FORMAT_VERSION", "SynthLabels", "read_meta", "write_meta"]

FORMAT_VERSION = 1


@dataclass
class SynthLabels:
    q_rad: np.ndarray  # (N, 46) BSM-46 angles; pelvis angles w.r.t. the world
    shape: np.ndarray  # (N, S) Anny phenotype values 0..1 (meta's shape_labels order)
    offsets_m: np.ndarray  # (N, 24, 3) joint offsets (core.skeleton body order)
    R_cam_world: np.ndarray  # (N, 3, 3) world -> camera rotation  # noqa: N815
    t_cam_m: np.ndarray  # (N, 3) pelvis origin in the camera frame
    K: np.ndarray  # (N, 3, 3) intrinsics of the stored image, pixels
    joints_cam_m: np.ndarray  # (N, 24, 3) body origins in the camera frame
    joints_2d_px: np.ndarray  # (N, 24, 2)
    keypoints_2d_px: np.ndarray  # (N, 33, 2) BlazePose points
    keypoints_vis: np.ndarray  # (N, 33) bool: inside the image and not hidden by a prop
    kp_bodies: np.ndarray  # (33,) int body of each BlazePose point
    kp_local_m: np.ndarray  # (N, 33, 3) BlazePose points in their body's frame
    held_out: np.ndarray  # (N,) bool
    # extra
    keypoints_cam_m: np.ndarray  # (N, 33, 3) BlazePose points in the camera frame
    keypoints_occluded: np.ndarray  # (N, 33) bool: behind a prop (inside the image or not)
    person_box_px: np.ndarray  # (N, 4) x0, y0, x1, y1 of the body's projected vertices
    height_m: np.ndarray  # (N,) the subject's stature
    subject_id: np.ndarray  # (N,) index in the dataset's subject pool
    camera_centre_m: np.ndarray  # (N, 3) camera centre in the world
    fov_deg: np.ndarray  # (N,) field of view of the conceptual full frame (long side)
    elevation_deg: np.ndarray  # (N,) camera elevation seen from the body's bbox centre
    n_props: np.ndarray  # (N,) props in the scene; has_occluder: one is in front of the body
    has_occluder: np.ndarray  # (N,) bool
    source: np.ndarray  # (N,) str: CMU clip name or "random"
    source_frame: np.ndarray  # (N,) int: frame of the clip at 30 fps (-1 if not one frame)
    index: np.ndarray  # (N,) int: sample index (image DIR/images/%06d.jpg)

    def __len__(self) -> int:
        return len(self.q_rad)

    @classmethod
    def concat(cls, parts: list[SynthLabels]) -> SynthLabels:
        if not parts:
            raise ValueError("nothing to concatenate")
        kp = parts[0].kp_bodies
        for p in parts[1:]:
            if not np.array_equal(p.kp_bodies, kp):
                raise ValueError("kp_bodies differ between label parts")
        out = {}
        for f in fields(cls):
            if f.name == "kp_bodies":
                out[f.name] = kp
            elif f.name == "source":
                width = max(p.source.dtype.itemsize // 4 for p in parts)
                out[f.name] = np.concatenate([p.source.astype(f"<U{width}") for p in parts])
            else:
                out[f.name] = np.concatenate([getattr(p, f.name) for p in parts])
        return cls(**out)

    def save(self, path: Path) -> None:
        """Atomically (temp file, then rename)."""
        arrays = {f.name: np.asarray(getattr(self, f.name)) for f in fields(self)}
        atomic_write(path, lambda fh: np.savez(fh, **arrays), binary=True)

    @classmethod
    def load(cls, path: Path) -> SynthLabels:
        with np.load(path, allow_pickle=False) as z:
            missing = [f.name for f in fields(cls) if f.name not in z.files]
            if missing:
                raise ValueError(f"{path}: not synthetic labels, missing {', '.join(missing)}")
            return cls(**{f.name: z[f.name] for f in fields(cls)})


def write_meta(path: Path, meta: dict) -> None:
    atomic_write(path, lambda f: json.dump(meta, f, indent=1))


def read_meta(path: Path) -> dict:
    meta = json.loads(Path(path).read_text())
    if meta.get("version") != FORMAT_VERSION:
        raise ValueError(
            f"{path}: dataset format version {meta.get('version')}, this code writes "
            f"{FORMAT_VERSION}"
        )
    return meta
