"""``Motion``: the one interchange format between capture, export and Blender.

Saved as ``NAME.motion.npz`` (numpy only, ``allow_pickle=False``), so the exporter and the Blender
add-on read it without torch. World frame: OpenSim's (X forward, Y up, Z right), metres, radians.

Format history:
  1: first version.
  2: skeleton convention 2 (``core.skeleton.SKELETON_CONVENTION``): subtalar_angle + = inversion
     and mtp_angle + = flexion, as in Rajagopal2016/LaiUhlrich2022 (version 1 stored the opposite
     signs). Version-1 files are converted on read (those four angles negated) and say so in
     their provenance.
"""

from __future__ import annotations

import json
import logging
import os
import tempfile
from dataclasses import dataclass, field, fields
from pathlib import Path

import numpy as np

from core import skeleton as sk

__all__ = ["Motion", "Camera", "Surface", "FORMAT_VERSION", "MotionFormatError", "atomic_write"]

log = logging.getLogger(__name__)

FORMAT_VERSION = 2
# format version -> the skeleton sign convention its angles were stored in
_CONVENTION_OF_VERSION = {1: 1, 2: 2}
_MAGIC = "biomocap.motion"


class MotionFormatError(ValueError):
    """A file is not a Motion bundle this version can read."""


@dataclass
class Camera:
    """Pinhole camera. World -> camera: x_c = R @ x_w + t; camera looks along +Z_c, Y_c down."""

    focal_px: float
    cx_px: float
    cy_px: float
    width_px: int
    height_px: int
    rotation: np.ndarray = field(default_factory=lambda: np.eye(3))  # (3, 3)
    translation_m: np.ndarray = field(default_factory=lambda: np.zeros(3))  # (3,)
    focal_source: str = "default"  # "user", "metadata" or "default" (an assumption)

    @property
    def intrinsics(self) -> np.ndarray:
        """(3, 3) pinhole matrix K in pixels."""
        f = self.focal_px
        return np.array([[f, 0.0, self.cx_px], [0.0, f, self.cy_px], [0.0, 0.0, 1.0]])

    def project(self, points_m: np.ndarray) -> np.ndarray:
        """(..., 3) world points -> (..., 2) pixels."""
        pc = points_m @ np.asarray(self.rotation).T + np.asarray(self.translation_m)
        z = np.clip(pc[..., 2:3], 1e-6, None)
        return np.concatenate(
            [
                self.focal_px * pc[..., :1] / z + self.cx_px,
                self.focal_px * pc[..., 1:2] / z + self.cy_px,
            ],
            -1,
        )


@dataclass
class Surface:
    """The subject's skinned surface in the zero pose."""

    vertices_m: np.ndarray  # (V, 3) zero pose, body at the origin as FK places it with root 0
    faces: np.ndarray  # (F, 3) int
    skin_bodies: np.ndarray  # (V, K) int body indices
    skin_weights: np.ndarray  # (V, K) float, rows sum to 1


@dataclass
class Motion:
    fps: float
    q_rad: np.ndarray  # (T, 46) BSM-46 joint angles, radians
    root_m: np.ndarray  # (T, 3) pelvis origin in the world frame, metres
    offsets_m: np.ndarray  # (24, 3) joint centres in the parent's frame (the subject's skeleton)
    height_m: float
    mass_kg: float
    marker_names: tuple[str, ...] = ()
    marker_bodies: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))  # (M,)
    marker_local_m: np.ndarray = field(default_factory=lambda: np.zeros((0, 3)))  # (M, 3)
    markers_m: np.ndarray | None = None  # (T, M, 3) observed/virtual markers, NaN = missing
    confidence: np.ndarray | None = None  # (T,) 0..1 per frame
    shape: np.ndarray = field(default_factory=lambda: np.zeros(0))  # body-model shape values
    shape_labels: tuple[str, ...] = ()
    keypoints_2d: np.ndarray | None = None  # (T, K, 3) pixels x, y and confidence
    keypoint_names: tuple[str, ...] = ()
    camera: Camera | None = None
    surface: Surface | None = None
    provenance: dict = field(default_factory=dict)  # stage -> what produced it
    # (T, 4) contact probability 0..1 of core.contacts.CONTACT_POINTS (heel_r, toe_r, heel_l,
    # toe_l); > 0.5 = in contact. None: not estimated (e.g. no feet seen).
    contacts: np.ndarray | None = None
    # core.world.WorldFrame.to_dict(): camera_height_m, camera_pitch_deg (+ down),
    # camera_roll_deg, focal_px, floor_source ("feet" | "lowest-foot" | "none"), frame ("world": Y up along
    # gravity, floor Y = 0; "camera": the level-camera frame, no floor), floor_rms_m, message...
    # ``camera`` holds the world -> camera transform in that frame. Saved as JSON.
    world: dict | None = None
    dof_names: tuple[str, ...] = sk.DOF_NAMES

    def __post_init__(self) -> None:
        self.q_rad = np.asarray(self.q_rad, dtype=np.float64)
        self.root_m = np.asarray(self.root_m, dtype=np.float64)
        self.offsets_m = np.asarray(self.offsets_m, dtype=np.float64)
        self.validate()

    @property
    def n_frames(self) -> int:
        return int(self.q_rad.shape[0])

    @property
    def times_s(self) -> np.ndarray:
        return np.arange(self.n_frames) / self.fps

    def validate(self) -> None:
        """Raise ValueError naming the first thing that is wrong."""
        if tuple(self.dof_names) != sk.DOF_NAMES:
            idx = sk.resolve_dof_names(list(self.dof_names))  # names unknown -> clear error
            if len(idx) != sk.N_DOFS or len(set(idx.tolist())) != sk.N_DOFS:
                raise ValueError(f"dof_names must name all {sk.N_DOFS} BSM-46 DOFs once")
            raise ValueError("dof_names must be in BSM-46 order (core.skeleton.DOF_NAMES)")
        if not (np.isfinite(self.fps) and 0.1 <= self.fps <= 10000):
            raise ValueError(f"fps must be a positive frame rate (0.1..10000), got {self.fps}")
        if self.q_rad.ndim != 2 or self.q_rad.shape[1] != sk.N_DOFS or self.q_rad.shape[0] < 1:
            raise ValueError(
                f"expected q_rad of shape (T>=1, {sk.N_DOFS}), got {self.q_rad.shape}"
            )
        t = self.q_rad.shape[0]
        if self.root_m.shape != (t, 3):
            raise ValueError(f"expected root_m of shape ({t}, 3), got {self.root_m.shape}")
        if self.offsets_m.shape != (sk.N_BODIES, 3):
            raise ValueError(
                f"expected offsets_m of shape ({sk.N_BODIES}, 3), got {self.offsets_m.shape}"
            )
        for name in ("q_rad", "root_m", "offsets_m"):
            if not np.all(np.isfinite(getattr(self, name))):
                raise ValueError(f"{name} contains NaN or inf")
        sk.check_q(self.q_rad, what="q_rad")
        if not (0.5 <= self.height_m <= 2.6):
            raise ValueError(f"height_m must lie in 0.5..2.6 m, got {self.height_m}")
        if not (10 <= self.mass_kg <= 300):
            raise ValueError(f"mass_kg must lie in 10..300 kg, got {self.mass_kg}")
        m = len(self.marker_names)
        self.marker_bodies = np.asarray(self.marker_bodies, dtype=np.int64)
        self.marker_local_m = np.asarray(self.marker_local_m, dtype=np.float64).reshape(-1, 3)
        if self.marker_bodies.shape != (m,) or self.marker_local_m.shape != (m, 3):
            raise ValueError(
                f"{m} marker names but marker_bodies {self.marker_bodies.shape} and "
                f"marker_local_m {self.marker_local_m.shape}"
            )
        if m and (self.marker_bodies.min() < 0 or self.marker_bodies.max() >= sk.N_BODIES):
            raise ValueError("marker_bodies must index BSM-46 bodies (0..23)")
        if self.markers_m is not None:
            self.markers_m = np.asarray(self.markers_m, dtype=np.float64)
            if self.markers_m.shape != (t, m, 3):
                raise ValueError(
                    f"expected markers_m of shape ({t}, {m}, 3), got {self.markers_m.shape}"
                )
        if self.confidence is not None:
            self.confidence = np.asarray(self.confidence, dtype=np.float64)
            if self.confidence.shape != (t,):
                raise ValueError(
                    f"expected confidence of shape ({t},), got {self.confidence.shape}"
                )
        if self.keypoints_2d is not None:
            self.keypoints_2d = np.asarray(self.keypoints_2d, dtype=np.float64)
            k = len(self.keypoint_names)
            if self.keypoints_2d.shape != (t, k, 3):
                raise ValueError(
                    f"expected keypoints_2d of shape ({t}, {k}, 3), got {self.keypoints_2d.shape}"
                )
        if self.contacts is not None:
            self.contacts = np.asarray(self.contacts, dtype=np.float64)
            if self.contacts.shape != (t, 4):
                raise ValueError(f"expected contacts of shape ({t}, 4), got {self.contacts.shape}")
            if not np.all((self.contacts >= 0) & (self.contacts <= 1)):
                raise ValueError("contacts must be probabilities in 0..1")
        self.shape = np.asarray(self.shape, dtype=np.float64).reshape(-1)
        if len(self.shape_labels) not in (0, self.shape.size):
            raise ValueError(f"{len(self.shape_labels)} shape labels for {self.shape.size} values")

    # ---------------------------------------------------------------- file IO
    def save(self, path: str | Path) -> Path:
        """Write ``path`` (should end in ``.motion.npz``) atomically."""
        path = Path(path)
        self.validate()
        arrays: dict[str, np.ndarray] = {
            "magic": np.array(_MAGIC),
            "format_version": np.array(FORMAT_VERSION),
            "fps": np.array(float(self.fps)),
            "dof_names": np.array(self.dof_names),
            "q_rad": self.q_rad,
            "root_m": self.root_m,
            "offsets_m": self.offsets_m,
            "height_m": np.array(float(self.height_m)),
            "mass_kg": np.array(float(self.mass_kg)),
            "marker_names": np.array(self.marker_names, dtype=str),
            "marker_bodies": self.marker_bodies,
            "marker_local_m": self.marker_local_m,
            "shape": self.shape,
            "shape_labels": np.array(self.shape_labels, dtype=str),
            "keypoint_names": np.array(self.keypoint_names, dtype=str),
            "body_names": np.array(sk.BODY_NAMES),
            "body_parents": sk.parents(),
            "provenance_json": np.array(json.dumps(self.provenance, sort_keys=True)),
        }
        if self.world is not None:
            arrays["world_json"] = np.array(json.dumps(self.world, sort_keys=True))
        for name in ("markers_m", "confidence", "keypoints_2d", "contacts"):
            v = getattr(self, name)
            if v is not None:
                arrays[name] = v
        if self.camera is not None:
            c = self.camera
            arrays["camera_intrinsics"] = np.array(
                [c.focal_px, c.cx_px, c.cy_px, c.width_px, c.height_px], dtype=np.float64
            )
            arrays["camera_rotation"] = np.asarray(c.rotation, dtype=np.float64)
            arrays["camera_translation_m"] = np.asarray(c.translation_m, dtype=np.float64)
            arrays["camera_focal_source"] = np.array(c.focal_source)
        if self.surface is not None:
            s = self.surface
            arrays["surface_vertices_m"] = np.asarray(s.vertices_m, dtype=np.float32)
            arrays["surface_faces"] = np.asarray(s.faces, dtype=np.int32)
            arrays["surface_skin_bodies"] = np.asarray(s.skin_bodies, dtype=np.int16)
            arrays["surface_skin_weights"] = np.asarray(s.skin_weights, dtype=np.float32)

        def write(f) -> None:
            np.savez_compressed(f, **arrays)

        atomic_write(path, write, binary=True)
        log.info("wrote %s (%d frames)", path, self.n_frames)
        return path

    @classmethod
    def load(cls, path: str | Path) -> Motion:
        """Read a ``.motion.npz`` bundle. Anything wrong with the file (not an npz, truncated,
        foreign, missing or malformed arrays, invalid values) is a MotionFormatError naming it."""
        try:
            return cls._load(path)
        except (MotionFormatError, FileNotFoundError):
            raise
        except Exception as e:  # noqa: BLE001 - numpy/zipfile/json raise many kinds
            raise MotionFormatError(
                f"{path} is not a valid motion bundle ({e.__class__.__name__}: {e})"
            ) from e

    @classmethod
    def _load(cls, path: str | Path) -> Motion:
        path = Path(path)
        if not path.is_file():
            raise FileNotFoundError(f"motion file not found: {path}")
        try:
            z = np.load(path, allow_pickle=False)
        except Exception as e:  # noqa: BLE001 - numpy raises many kinds for a non-npz file
            raise MotionFormatError(
                f"{path} is not a .motion.npz bundle ({e.__class__.__name__}: {e})"
            ) from e
        with z:
            if "magic" not in z.files or str(z["magic"]) != _MAGIC:
                raise MotionFormatError(f"{path} is an .npz but not a biomocap motion bundle")
            version = int(z["format_version"])
            if version > FORMAT_VERSION:
                raise MotionFormatError(
                    f"{path} has motion format version {version}, newer than this biomocap "
                    f"reads ({FORMAT_VERSION}); upgrade biomocap"
                )
            if version < 1:
                raise MotionFormatError(f"{path} has an invalid format version {version}")

            def opt(name: str):
                return z[name] if name in z.files else None

            q_rad = z["q_rad"]
            provenance = json.loads(str(z["provenance_json"]))
            convention = _CONVENTION_OF_VERSION[version]
            if convention != sk.SKELETON_CONVENTION:
                q_rad = sk.to_current_convention(q_rad, convention)
                flipped = [
                    n for c, ns in sk.CONVENTION_FLIPS.items() if c > convention for n in ns
                ]
                provenance["format_conversion"] = (
                    f"read from format version {version}: {', '.join(flipped)} negated "
                    f"(skeleton convention {convention} -> {sk.SKELETON_CONVENTION})"
                )
                log.info("%s: motion format %d converted on read", path, version)

            camera = None
            if "camera_intrinsics" in z.files:
                f, cx, cy, w, h = z["camera_intrinsics"].tolist()
                camera = Camera(
                    f,
                    cx,
                    cy,
                    int(w),
                    int(h),
                    z["camera_rotation"],
                    z["camera_translation_m"],
                    str(z["camera_focal_source"]),
                )
            surface = None
            if "surface_vertices_m" in z.files:
                surface = Surface(
                    z["surface_vertices_m"].astype(np.float64),
                    z["surface_faces"].astype(np.int64),
                    z["surface_skin_bodies"].astype(np.int64),
                    z["surface_skin_weights"].astype(np.float64),
                )
            return cls(
                fps=float(z["fps"]),
                q_rad=q_rad,
                root_m=z["root_m"],
                offsets_m=z["offsets_m"],
                height_m=float(z["height_m"]),
                mass_kg=float(z["mass_kg"]),
                marker_names=tuple(z["marker_names"].tolist()),
                marker_bodies=z["marker_bodies"],
                marker_local_m=z["marker_local_m"],
                markers_m=opt("markers_m"),
                confidence=opt("confidence"),
                shape=z["shape"],
                shape_labels=tuple(z["shape_labels"].tolist()),
                keypoints_2d=opt("keypoints_2d"),
                keypoint_names=tuple(z["keypoint_names"].tolist()),
                camera=camera,
                surface=surface,
                provenance=provenance,
                dof_names=tuple(z["dof_names"].tolist()),
                contacts=opt("contacts"),
                world=json.loads(str(z["world_json"])) if "world_json" in z.files else None,
            )

    def field_names(self) -> list[str]:
        return [f.name for f in fields(self)]


def atomic_write(path: str | Path, write, *, binary: bool = False) -> None:
    """Call ``write(fileobj)`` on a temp file beside ``path``, then rename it into place: a crash
    or cancel never leaves a half-written file under the final name."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(
            fd,
            "wb" if binary else "w",
            **({} if binary else {"encoding": "utf-8", "newline": "\n"}),
        ) as f:
            write(f)
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)  # mkstemp makes 0600; give the file the usual permissions
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        raise
