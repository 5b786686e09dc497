"""Read a ``.motion.npz`` bundle with numpy alone (the format is defined in core/motion.py).

The add-on cannot import ``core``; this reader checks the magic string and the format version
itself and refuses newer versions with a message that says what to do.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from . import bsm46

__all__ = ["BundleError", "BundleCamera", "BundleSurface", "MotionBundle", "read_bundle"]


class BundleError(ValueError):
    """The file is not a motion bundle this add-on can read."""


@dataclass
class BundleCamera:
    """Pinhole camera. World (OpenSim frame) -> camera: x_c = R @ x_w + t; +Z_c fwd, Y_c down."""

    focal_px: float
    cx_px: float
    cy_px: float
    width_px: int
    height_px: int
    rotation: np.ndarray  # (3, 3)
    translation_m: np.ndarray  # (3,)


@dataclass
class BundleSurface:
    vertices_m: np.ndarray  # (V, 3) zero pose, root at the origin, OpenSim frame
    faces: np.ndarray  # (F, 3) int
    skin_bodies: np.ndarray  # (V, K) body indices
    skin_weights: np.ndarray  # (V, K) rows sum to 1


@dataclass
class MotionBundle:
    path: Path
    fps: float
    q_rad: np.ndarray  # (T, 46) BSM-46 joint angles, radians
    root_m: np.ndarray  # (T, 3) pelvis origin, OpenSim world frame, metres
    offsets_m: np.ndarray  # (24, 3) joint centres in the parent's frame, metres
    height_m: float
    mass_kg: float
    marker_names: tuple[str, ...]
    marker_bodies: np.ndarray  # (M,)
    marker_local_m: np.ndarray  # (M, 3)
    camera: BundleCamera | None
    surface: BundleSurface | None
    provenance: dict
    contacts: np.ndarray | None = None  # (T, 4) 0..1, ground.CONTACT_NAMES order
    world: dict | None = None  # the capture's world record (floor at Y = 0); None: unknown

    @property
    def n_frames(self) -> int:
        return int(self.q_rad.shape[0])


def _need(z, name: str, path: Path) -> np.ndarray:
    if name not in z.files:
        raise BundleError(f"{path.name}: motion bundle lacks the field '{name}'")
    return z[name]


def read_bundle(path: str | Path) -> MotionBundle:
    """Load and check a ``.motion.npz``; raise BundleError with one readable line if it is bad."""
    path = Path(path)
    if not path.is_file():
        raise BundleError(f"motion file not found: {path}")
    try:
        z = np.load(path, allow_pickle=False)
    except Exception as e:  # noqa: BLE001 - numpy raises many kinds for a non-npz file
        raise BundleError(
            f"{path.name} is not a .motion.npz bundle ({e.__class__.__name__})"
        ) from e
    with z:
        if not hasattr(z, "files") or "magic" not in z.files:
            raise BundleError(f"{path.name} is not a biomocap motion bundle (no magic field)")
        if str(z["magic"]) != bsm46.MOTION_MAGIC:
            raise BundleError(f"{path.name} is an .npz but not a biomocap motion bundle")
        version = int(_need(z, "format_version", path))
        if version > bsm46.MOTION_FORMAT_VERSION:
            raise BundleError(
                f"{path.name} has motion format version {version}, newer than this add-on reads "
                f"({bsm46.MOTION_FORMAT_VERSION}); update the biomocap add-on"
            )
        if version < 1:
            raise BundleError(f"{path.name} has an invalid motion format version {version}")
        dof_names = tuple(_need(z, "dof_names", path).tolist())
        if dof_names != bsm46.DOF_NAMES:
            raise BundleError(f"{path.name}: DOF names are not the BSM-46 order this add-on knows")
        q = np.array(_need(z, "q_rad", path), dtype=np.float64)
        # format 1 stored skeleton convention 1: negate the DOFs whose sign changed since
        stored = 1 if version < 2 else bsm46.SKELETON_CONVENTION
        for c in range(stored + 1, bsm46.SKELETON_CONVENTION + 1):
            for name in bsm46.CONVENTION_FLIPS.get(c, ()):
                q[:, bsm46.DOF_NAMES.index(name)] *= -1
        root = np.asarray(_need(z, "root_m", path), dtype=np.float64)
        offsets = np.asarray(_need(z, "offsets_m", path), dtype=np.float64)
        if q.ndim != 2 or q.shape[1] != bsm46.N_DOFS or q.shape[0] < 1:
            raise BundleError(f"{path.name}: expected q_rad of shape (T, 46), got {q.shape}")
        if root.shape != (q.shape[0], 3):
            raise BundleError(
                f"{path.name}: expected root_m of shape ({q.shape[0]}, 3), got {root.shape}"
            )
        if offsets.shape != (bsm46.N_BODIES, 3):
            raise BundleError(
                f"{path.name}: expected offsets_m of shape (24, 3), got {offsets.shape}"
            )
        for name, a in (("q_rad", q), ("root_m", root), ("offsets_m", offsets)):
            if not np.all(np.isfinite(a)):
                raise BundleError(f"{path.name}: {name} contains NaN or inf")
        fps = float(_need(z, "fps", path))
        if not (np.isfinite(fps) and fps > 0):
            raise BundleError(f"{path.name}: fps must be positive, got {fps}")
        camera = None
        if "camera_intrinsics" in z.files:
            f, cx, cy, w, h = z["camera_intrinsics"].tolist()
            camera = BundleCamera(
                float(f),
                float(cx),
                float(cy),
                int(w),
                int(h),
                np.asarray(z["camera_rotation"], dtype=np.float64),
                np.asarray(z["camera_translation_m"], dtype=np.float64),
            )
        surface = None
        if "surface_vertices_m" in z.files:
            surface = BundleSurface(
                np.asarray(z["surface_vertices_m"], dtype=np.float64),
                np.asarray(z["surface_faces"], dtype=np.int64),
                np.asarray(z["surface_skin_bodies"], dtype=np.int64),
                np.asarray(z["surface_skin_weights"], dtype=np.float64),
            )
            if surface.skin_bodies.shape != surface.skin_weights.shape or (
                surface.skin_bodies.shape[0] != surface.vertices_m.shape[0]
            ):
                raise BundleError(f"{path.name}: surface skin arrays do not match the vertices")
        prov = {}
        if "provenance_json" in z.files:
            prov = json.loads(str(z["provenance_json"]))
        contacts = None
        if "contacts" in z.files:
            contacts = np.asarray(z["contacts"], dtype=np.float64)
            if contacts.shape != (q.shape[0], 4) or not np.all(np.isfinite(contacts)):
                raise BundleError(
                    f"{path.name}: expected finite contacts of shape ({q.shape[0]}, 4), "
                    f"got {contacts.shape}"
                )
        world = _world_record(z)
        return MotionBundle(
            path=path,
            fps=fps,
            q_rad=q,
            root_m=root,
            offsets_m=offsets,
            height_m=float(_need(z, "height_m", path)),
            mass_kg=float(_need(z, "mass_kg", path)),
            marker_names=tuple(z["marker_names"].tolist()) if "marker_names" in z.files else (),
            marker_bodies=np.asarray(z["marker_bodies"])
            if "marker_bodies" in z.files
            else np.zeros(0, int),
            marker_local_m=np.asarray(z["marker_local_m"]).reshape(-1, 3)
            if "marker_local_m" in z.files
            else np.zeros((0, 3)),
            camera=camera,
            surface=surface,
            provenance=prov,
            contacts=contacts,
            world=world,
        )


def _world_record(z) -> dict | None:
    """The capture's world record: a JSON string ``world``/``world_json``, or ``world_*`` arrays."""
    for key in ("world_json", "world"):
        if key in z.files:
            try:
                rec = json.loads(str(z[key]))
            except ValueError:
                rec = {"value": z[key].tolist()}
            return rec if isinstance(rec, dict) else {"value": rec}
    keys = [k for k in z.files if k.startswith("world_")]
    return {k[6:]: z[k].tolist() for k in keys} or None
