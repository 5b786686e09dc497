"""One synthetic image's scene and its exact labels (core venv side: Anny, posing, cameras).

:class:`SceneMaker` turns a sample index into a :class:`Scene` (what Blender draws: posed
vertices, clothing, camera, floor, props, lighting) and that sample's :class:`SynthLabels` row.
Everything is drawn from a random stream of (dataset seed, sample index) alone, so a sample is
the same whether it is made first or after a resume, alone or in any chunk.

The body stands on the floor (y = 0: the lowest vertex of the posed surface), its pelvis above
the world origin. :func:`write_render_chunk` writes a chunk of scenes for
``core/hmr/synth/render_bpy.py`` in Blender's world frame (Z up).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from core import fk_numpy
from core.body import Subject, pose_surface
from core.hmr.synth.appearance import Appearance, face_geometry, sample_appearance
from core.hmr.synth.backgrounds import floor_texture
from core.hmr.synth.blender import OPENSIM_TO_BLENDER
from core.hmr.synth.camera import CameraConfig, CropCamera, project_camera, sample_camera
from core.hmr.synth.labels import SynthLabels
from core.hmr.synth.poses import HeldOutPoses, TrainingPoses, cmu_clips
from core.hmr.synth.props import Prop, PropConfig, sample_props, segment_blocked
from core.hmr.synth.subjects import subject_pool
from core.neurik.markersets import blazepose33

__all__ = [
    "SceneConfig",
    "Lighting",
    "Scene",
    "SceneMaker",
    "write_render_chunk",
    "sample_rng",
    "STUDIO_LIGHTS",
]

STUDIO_LIGHTS = ("Default", "basic.sl", "outdoor.sl", "paint.sl", "studio.sl", "rim.sl")
_STUDIO_P = (0.25, 0.2, 0.2, 0.15, 0.15, 0.05)
SHADOW_P = 0.35  # Workbench shadows double the render time (see render_bpy)
SAMPLE_STREAM, BACKGROUND_STREAM = 0, 3  # random-stream kinds (subjects use 1 and 2)


def sample_rng(seed: int, index: int, stream: int = SAMPLE_STREAM) -> np.random.Generator:
    return np.random.default_rng(np.random.SeedSequence(seed, spawn_key=(stream, index)))


@dataclass(frozen=True)
class SceneConfig:
    seed: int
    size_px: int = 256
    held_out: bool = False
    shapes: int = 24
    cmu_dir: Path = Path("../shared/data/mocap/cmu")
    cache_dir: Path = Path(".cache/hmr_synth")
    floor_p: float = 0.85
    camera: CameraConfig = field(default_factory=CameraConfig)
    props: PropConfig = field(default_factory=PropConfig)


@dataclass(frozen=True)
class Lighting:
    studio_light: str  # one of STUDIO_LIGHTS (Workbench studio lighting)
    rotate_z_rad: float  # studio lights turned about the vertical (world-space lighting)
    light_direction: np.ndarray  # (3,) shadow light direction, Blender world
    shadows: bool
    shadow_intensity: float
    cavity: bool
    specular: bool
    tint: np.ndarray  # (3,) multiplies the rendered colours: light colour and exposure


@dataclass(frozen=True)
class Scene:
    index: int
    vertices_m: np.ndarray  # (V, 3) posed surface, OpenSim world
    appearance: Appearance
    camera: CropCamera
    props: list[Prop]
    floor: bool
    floor_texture: np.ndarray  # (T, T, 3) uint8 sRGB
    floor_tile_m: float  # size of one texture repeat on the floor
    lighting: Lighting


def _lighting(rng: np.random.Generator) -> Lighting:
    a = rng.uniform(0, 2 * np.pi)
    el = rng.uniform(0.35, 1.4)
    warm = rng.uniform(-1.0, 1.0)  # cool .. warm light
    tint = np.array([1.0 + 0.08 * warm, 1.0, 1.0 - 0.12 * warm]) * rng.uniform(0.85, 1.25)
    return Lighting(
        studio_light=str(rng.choice(STUDIO_LIGHTS, p=_STUDIO_P)),
        rotate_z_rad=float(rng.uniform(-np.pi, np.pi)),
        light_direction=np.array([np.cos(a) * np.cos(el), np.sin(a) * np.cos(el), np.sin(el)]),
        shadows=bool(rng.random() < SHADOW_P),
        shadow_intensity=float(rng.uniform(0.2, 0.7)),
        cavity=bool(rng.random() < 0.5),
        specular=bool(rng.random() < 0.7),
        tint=tint,
    )


class SceneMaker:
    """Subjects, poses and everything else for the samples of one dataset."""

    def __init__(self, cfg: SceneConfig) -> None:
        self.cfg = cfg
        clips = cmu_clips(cfg.cmu_dir, cfg.held_out)
        if not clips:
            what = "held-out 131_*" if cfg.held_out else "training (non-131_*)"
            raise FileNotFoundError(f"no {what} CMU .bvh clips in {cfg.cmu_dir}")
        self.poses: TrainingPoses | HeldOutPoses = (
            HeldOutPoses(clips, cfg.cache_dir)
            if cfg.held_out
            else TrainingPoses(clips, cfg.cache_dir)
        )
        self.subjects: list[Subject] = subject_pool(cfg.shapes, cfg.seed, cfg.held_out)
        self.shape_labels = self.subjects[0].shape_labels
        self.faces = np.asarray(self.subjects[0].surface.faces, dtype=np.int32)
        for s in self.subjects[1:]:
            if not np.array_equal(s.surface.faces, self.faces):
                raise ValueError("subjects of the pool do not share one mesh topology")
        self._geometry = [face_geometry(s) for s in self.subjects]
        ms = blazepose33()
        self.keypoint_names = ms.names
        defs = [ms.define(s) for s in self.subjects]
        self.kp_bodies = defs[0][0]
        if any(not np.array_equal(b, self.kp_bodies) for b, _ in defs):
            raise ValueError("BlazePose points must sit on the same bodies for every subject")
        self._kp_local = [loc for _, loc in defs]

    @property
    def motion_clips(self) -> tuple[str, ...]:
        return self.poses.names

    def make(self, index: int) -> tuple[Scene, SynthLabels]:
        cfg = self.cfg
        rng = sample_rng(cfg.seed, index)
        sid = int(rng.integers(len(self.subjects)))
        subj = self.subjects[sid]
        pose = self.poses.sample(rng)
        q = pose.q_rad
        verts0 = pose_surface(subj, q, np.zeros(3))
        root = np.array([0.0, -verts0[:, 1].min(), 0.0])
        verts = verts0 + root  # skinning commutes with a common translation
        rot, org = fk_numpy.forward_kinematics(q, root, subj.offsets_m)
        kp_local = self._kp_local[sid]
        kp_world = fk_numpy.body_points(rot, org, self.kp_bodies, kp_local)

        cam = sample_camera(rng, verts, cfg.size_px, cfg.camera)
        props = sample_props(rng, verts, kp_world, cam.centre_m, cam.R_cam_world[0], cfg.props)
        occluded = np.zeros(len(kp_world), dtype=bool)
        for p in props:
            occluded |= segment_blocked(p, cam.centre_m, kp_world)

        joints_cam = cam.to_camera(org)
        kp_cam = cam.to_camera(kp_world)
        kp_px = project_camera(cam.K, kp_cam)
        s = cfg.size_px
        inside = (
            (kp_cam[:, 2] > 0)
            & (kp_px >= -0.5).all(1)
            & (kp_px[:, 0] < s - 0.5)
            & (kp_px[:, 1] < s - 0.5)
        )
        vpx = cam.project(verts)
        labels = SynthLabels(
            q_rad=q[None],
            shape=subj.shape[None],
            offsets_m=subj.offsets_m[None],
            R_cam_world=cam.R_cam_world[None],
            t_cam_m=joints_cam[None, 0],
            K=cam.K[None],
            joints_cam_m=joints_cam[None],
            joints_2d_px=project_camera(cam.K, joints_cam)[None],
            keypoints_2d_px=kp_px[None],
            keypoints_vis=(inside & ~occluded)[None],
            kp_bodies=self.kp_bodies,
            kp_local_m=kp_local[None],
            held_out=np.array([cfg.held_out]),
            keypoints_cam_m=kp_cam[None],
            keypoints_occluded=occluded[None],
            person_box_px=np.concatenate([vpx.min(0), vpx.max(0)])[None],
            height_m=np.array([subj.height_m]),
            subject_id=np.array([sid]),
            camera_centre_m=cam.centre_m[None],
            fov_deg=np.array([cam.fov_deg]),
            elevation_deg=np.array([cam.elevation_deg]),
            n_props=np.array([len(props)]),
            has_occluder=np.array([any(p.occluder for p in props)]),
            source=np.array([pose.source]),
            source_frame=np.array([pose.frame]),
            index=np.array([index]),
        )
        floor = bool(rng.random() < cfg.floor_p)
        tex, tile, _ = floor_texture(rng)
        scene = Scene(
            index=index,
            vertices_m=verts.astype(np.float32),
            appearance=sample_appearance(rng, self._geometry[sid]),
            camera=cam,
            props=props,
            floor=floor,
            floor_texture=tex,
            floor_tile_m=tile,
            lighting=_lighting(rng),
        )
        return scene, labels


def write_render_chunk(path: Path, scenes: list[Scene], faces: np.ndarray, masks: bool) -> Path:
    """The scenes as one .npz for ``render_bpy.py`` (Blender world: Z up, metres)."""
    from core.motion import atomic_write

    a = np.eye(4)
    a[:3, :3] = OPENSIM_TO_BLENDER
    n_props = max(1, max(len(s.props) for s in scenes))
    b = len(scenes)
    prop_kind = np.zeros((b, n_props), np.int8)
    prop_mat = np.tile(np.eye(4), (b, n_props, 1, 1))
    prop_rgb = np.zeros((b, n_props, 3))
    for i, s in enumerate(scenes):
        for j, p in enumerate(s.props):
            prop_kind[i, j] = p.kind
            prop_mat[i, j] = a @ p.matrix_world()
            prop_rgb[i, j] = p.rgb
    lens = np.array([s.camera.blender_lens() for s in scenes])
    arrays = dict(
        index=np.array([s.index for s in scenes], np.int64),
        size_px=np.int64(scenes[0].camera.size_px),
        masks=np.bool_(masks),
        faces=np.asarray(faces, np.int32),
        vertices_m=np.stack([s.vertices_m @ OPENSIM_TO_BLENDER.T for s in scenes]).astype(
            np.float32
        ),
        face_material=np.stack([s.appearance.face_material for s in scenes]).astype(np.uint8),
        material_rgb=np.stack([s.appearance.material_rgb for s in scenes]).astype(np.float32),
        camera_matrix_world=np.stack([s.camera.blender_matrix_world() for s in scenes]),
        lens_mm=lens[:, 0],
        shift_x=lens[:, 1],
        shift_y=lens[:, 2],
        floor_on=np.array([s.floor for s in scenes]),
        floor_texture=np.stack([s.floor_texture for s in scenes]),
        floor_tile_m=np.array([s.floor_tile_m for s in scenes]),
        prop_kind=prop_kind,
        prop_matrix_world=prop_mat,
        prop_rgb=prop_rgb.astype(np.float32),
        studio_light=np.array([s.lighting.studio_light for s in scenes]),
        studio_rotate_z=np.array([s.lighting.rotate_z_rad for s in scenes]),
        light_direction=np.stack([s.lighting.light_direction for s in scenes]),
        shadows=np.array([s.lighting.shadows for s in scenes]),
        shadow_intensity=np.array([s.lighting.shadow_intensity for s in scenes]),
        cavity=np.array([s.lighting.cavity for s in scenes]),
        specular=np.array([s.lighting.specular for s in scenes]),
    )
    atomic_write(path, lambda f: np.savez(f, **arrays), binary=True)
    return path
