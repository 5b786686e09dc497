"""Build Blender objects from a motion bundle: BSM-46 armature with locks, limits and keys;
skinned surface; bone meshes; camera with the video as background."""

from __future__ import annotations

import logging
from pathlib import Path

import bpy
import numpy as np
from mathutils import Matrix

from . import anim
from .logic import bsm46
from .logic.bundle import MotionBundle, read_bundle
from .logic.kinematics import OPENSIM_TO_BLENDER as C
from .logic.kinematics import to_blender
from .logic.layout import BoneLayout, armature_layout, pose_values

log = logging.getLogger(__name__)

PROP_MOTION = "biomech_motion_path"
PROP_OSIM = "biomech_osim_path"


def load_source(obj) -> MotionBundle:
    """Re-read the motion behind an imported armature (bundle, or .osim + .mot pair)."""
    from .logic.opensim_io import bundle_from_opensim

    path = obj.get(PROP_MOTION)
    if not path:
        raise ValueError(f"{obj.name} is not an imported biomocap motion (no {PROP_MOTION})")
    if obj.get(PROP_OSIM):
        return bundle_from_opensim(obj[PROP_OSIM], path)
    return read_bundle(path)


def _matrix(rot: np.ndarray, head: np.ndarray) -> Matrix:
    m = np.eye(4)
    m[:3, :3] = rot
    m[:3, 3] = head
    return Matrix(m.tolist())


def _link(context, obj) -> None:
    coll = getattr(context, "collection", None) or context.scene.collection
    coll.objects.link(obj)


def build_armature(context, bundle: MotionBundle, name: str) -> bpy.types.Object:
    layout = armature_layout(bundle.offsets_m)
    data = bpy.data.armatures.new(name)
    data.display_type = "OCTAHEDRAL"
    obj = bpy.data.objects.new(name, data)
    _link(context, obj)
    obj[PROP_MOTION] = str(bundle.path)
    if "opensim" in bundle.provenance:
        obj[PROP_OSIM] = str(bundle.provenance["opensim"]["osim"])
    view_layer = context.view_layer
    view_layer.update()  # bases of objects removed since the last update would read as None
    for o in view_layer.objects:
        if o is not None:
            o.select_set(False)
    view_layer.objects.active = obj
    obj.select_set(True)
    view_layer.update()
    bpy.ops.object.mode_set(mode="EDIT")
    for bl in layout:
        eb = data.edit_bones.new(bl.body)
        eb.head = (0.0, 0.0, 0.0)
        eb.tail = (0.0, bl.length_m, 0.0)
        eb.matrix = _matrix(C @ bl.frame_array, to_blender(np.array(bl.head_m)))
        if bl.parent:
            eb.parent = data.edit_bones[bl.parent]
    bpy.ops.object.mode_set(mode="OBJECT")
    view_layer.update()
    for bl in layout:
        _setup_pose_bone(obj.pose.bones[bl.body], bl)
    _key_motion(obj, bundle, layout)
    return obj


def _setup_pose_bone(pb, bl: BoneLayout) -> None:
    pb.rotation_mode = bl.rotation_mode
    if bl.body != "pelvis":
        pb.lock_location = (True, True, True)
    pb.lock_scale = (True, True, True)
    if bl.rotation_mode == "QUATERNION":
        return
    pb.lock_rotation = bl.locked
    if not any(lim is not None for lim in bl.limits_rad):
        return
    c = pb.constraints.new("LIMIT_ROTATION")
    c.name = f"BSM-46 {bl.joint_type} limits"
    c.owner_space = "LOCAL"
    c.euler_order = bl.rotation_mode
    for k, ax in enumerate("xyz"):
        lim = bl.limits_rad[k]
        if lim is None:
            continue
        setattr(c, f"use_limit_{ax}", True)
        setattr(c, f"min_{ax}", lim[0])
        setattr(c, f"max_{ax}", lim[1])


def _key_motion(obj, bundle: MotionBundle, layout: list[BoneLayout]) -> None:
    frames = np.arange(1, bundle.n_frames + 1, dtype=np.float64)
    values = pose_values(layout, bundle.q_rad)
    _action, cb = anim.new_action(obj, f"{obj.name}_motion")
    for bl in layout:
        path = f'pose.bones["{bl.body}"]'
        if bl.rotation_mode == "QUATERNION":
            anim.key_channels(cb, f"{path}.rotation_quaternion", frames, values[bl.body], bl.body)
        else:
            anim.key_channels(cb, f"{path}.rotation_euler", frames, values[bl.body], bl.body)
    pel = next(bl for bl in layout if bl.body == "pelvis")
    loc = bundle.root_m @ pel.frame_array  # basis location: F^T root (bone-local rest axes)
    anim.key_channels(cb, 'pose.bones["pelvis"].location', frames, loc, "pelvis")


def _skin(obj, arm, bodies: np.ndarray, weights: np.ndarray) -> None:
    """Vertex groups per body from top-K skin weights, plus an armature modifier."""
    groups = {}
    for k in np.unique(bodies[weights > 0]):
        groups[int(k)] = obj.vertex_groups.new(name=bsm46.BODY_NAMES[int(k)])
    v_idx, k_idx = np.nonzero(weights > 1e-6)
    for v, k in zip(v_idx.tolist(), k_idx.tolist(), strict=True):
        groups[int(bodies[v, k])].add([v], float(weights[v, k]), "ADD")
    mod = obj.modifiers.new("Armature", "ARMATURE")
    mod.object = arm
    obj.parent = arm


def build_surface(context, bundle: MotionBundle, arm) -> bpy.types.Object | None:
    s = bundle.surface
    if s is None:
        return None
    mesh = bpy.data.meshes.new(f"{arm.name}_surface")
    mesh.from_pydata(to_blender(s.vertices_m).tolist(), [], s.faces.tolist())
    mesh.update()
    obj = bpy.data.objects.new(mesh.name, mesh)
    _link(context, obj)
    _skin(obj, arm, s.skin_bodies, s.skin_weights)
    for poly in mesh.polygons:
        poly.use_smooth = True
    return obj


def build_bone_meshes(context, bundle: MotionBundle, arm) -> bpy.types.Object:
    """One rigid octahedron per body (head to tail), bound to its bone."""
    layout = armature_layout(bundle.offsets_m)
    verts, faces, vbody = [], [], []
    for i, bl in enumerate(layout):
        f = C @ bl.frame_array
        head = to_blender(np.array(bl.head_m))
        x, y, z = f[:, 0], f[:, 1], f[:, 2]
        r = 0.12 * bl.length_m
        base = len(verts)
        ring = [head + 0.2 * bl.length_m * y + r * d for d in (x, z, -x, -z)]
        verts += [head, *ring, head + bl.length_m * y]
        for a in range(4):
            b = (a + 1) % 4
            faces.append((base, base + 1 + b, base + 1 + a))
            faces.append((base + 5, base + 1 + a, base + 1 + b))
        vbody += [i] * 6
    mesh = bpy.data.meshes.new(f"{arm.name}_bones")
    mesh.from_pydata([tuple(map(float, v)) for v in verts], [], faces)
    mesh.update()
    obj = bpy.data.objects.new(mesh.name, mesh)
    _link(context, obj)
    vb = np.array(vbody)[:, None]
    _skin(obj, arm, vb, np.ones_like(vb, dtype=np.float64))
    return obj


def build_camera(context, bundle: MotionBundle, video: str | None, name: str):
    """A camera matching the bundle's pinhole camera; the video as its background."""
    cam = bundle.camera
    if cam is None:
        return None
    data = bpy.data.cameras.new(name)
    obj = bpy.data.objects.new(name, data)
    _link(context, obj)
    r = np.asarray(cam.rotation)
    center = -r.T @ np.asarray(cam.translation_m)
    # OpenCV camera axes (x right, y down, z forward) -> Blender camera (x right, y up, -z fwd)
    rot_bl = C @ r.T @ np.diag([1.0, -1.0, -1.0])
    obj.matrix_world = _matrix(rot_bl, to_blender(center))
    data.sensor_fit = "HORIZONTAL"
    data.sensor_width = 36.0
    data.lens = cam.focal_px / cam.width_px * 36.0
    big = float(max(cam.width_px, cam.height_px))
    data.shift_x = (cam.width_px / 2 - cam.cx_px) / big
    data.shift_y = (cam.cy_px - cam.height_px / 2) / big
    scene = context.scene
    scene.render.resolution_x = cam.width_px
    scene.render.resolution_y = cam.height_px
    if video and Path(video).is_file():
        clip = bpy.data.movieclips.load(str(video), check_existing=True)
        data.show_background_images = True
        bg = data.background_images.new()
        bg.source = "MOVIE_CLIP"
        bg.clip = clip
        bg.alpha = 0.7
        bg.frame_method = "FIT"
    return obj


def import_bundle(
    context,
    bundle: MotionBundle,
    *,
    surface=True,
    bone_meshes=True,
    camera=True,
    video: str | None = None,
) -> bpy.types.Object:
    """Everything for one bundle; returns the armature (made active)."""
    name = Path(bundle.path).name.removesuffix(".npz").removesuffix(".motion") or "motion"
    anim.set_scene_timing(context.scene, bundle.fps, bundle.n_frames)
    arm = build_armature(context, bundle, name)
    if surface:
        build_surface(context, bundle, arm)
    if bone_meshes:
        build_bone_meshes(context, bundle, arm)
    if camera:
        build_camera(context, bundle, video, f"{name}_camera")
    context.view_layer.objects.active = arm
    log.info("imported %s: %d frames at %g fps", bundle.path, bundle.n_frames, bundle.fps)
    return arm
