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
from .logic.bundle import BundleCamera, MotionBundle
from .logic.ground import CONTACT_NAMES
from .logic.kinematics import OPENSIM_TO_BLENDER as C
from .logic.kinematics import to_blender
from .logic.layout import BoneLayout, armature_layout, pose_values
from .logic.takes import PreparedMotion, capture_id, prepare_motion, take_name

log = logging.getLogger(__name__)

PROP_MOTION = "biomech_motion_path"
PROP_OSIM = "biomech_osim_path"
PROP_CAPTURE = "biomech_capture_id"  # content hash of the bundle the armature was built from
PROP_OFFSETS = "biomech_offsets_m"  # (24 * 3) the subject's skeleton, OpenSim frame
PROP_TAKE = "biomech_take"
PROP_SHIFT = "biomech_floor_shift_m"  # added to the bundle's world to put it on the floor
CONTACT_PROP = "biomech_contact_"  # + heel_r, toe_r, heel_l, toe_l: keyed 0..1 per frame


def _matrix(rot: np.ndarray, head: np.ndarray) -> Matrix:
    m = np.eye(4)
    m[:3, :3] = rot
    m[:3, 3] = head
    return Matrix(m.tolist())


def _link(context, obj) -> None:
    coll = context.view_layer.active_layer_collection.collection or context.scene.collection
    coll.objects.link(obj)


def build_armature(
    context, bundle: MotionBundle, motion: PreparedMotion, name: str, take: str
) -> bpy.types.Object:
    layout = armature_layout(bundle.offsets_m)
    data = bpy.data.armatures.new(name)
    data.display_type = "OCTAHEDRAL"
    obj = bpy.data.objects.new(name, data)
    _link(context, obj)
    obj[PROP_MOTION] = str(bundle.path)
    obj[PROP_OFFSETS] = [float(v) for v in np.asarray(bundle.offsets_m).reshape(-1)]
    obj[PROP_SHIFT] = [float(v) for v in motion.shift_m]
    obj[PROP_TAKE] = take
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
    _key_motion(obj, motion, layout, take)
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


def _key_motion(obj, motion: PreparedMotion, layout: list[BoneLayout], take: str) -> None:
    n = motion.q_rad.shape[0]
    frames = np.arange(1, n + 1, dtype=np.float64)
    values = pose_values(layout, motion.q_rad)
    action, cb = anim.new_action(obj, take)
    action.use_fake_user = True  # a take survives being unassigned
    action[PROP_TAKE] = take
    for bl in layout:
        path = f'pose.bones["{bl.body}"]'
        if bl.rotation_mode == "QUATERNION":
            anim.key_channels(cb, f"{path}.rotation_quaternion", frames, values[bl.body], bl.body)
        else:
            anim.key_channels(cb, f"{path}.rotation_euler", frames, values[bl.body], bl.body)
    pel = next(bl for bl in layout if bl.body == "pelvis")
    loc = motion.root_m @ pel.frame_array  # basis location: F^T root (bone-local rest axes)
    anim.key_channels(cb, 'pose.bones["pelvis"].location', frames, loc, "pelvis")
    # contacts as a visible custom-property track (graph editor; the retarget reads it back)
    for k, cname in enumerate(CONTACT_NAMES):
        prop = CONTACT_PROP + cname
        obj[prop] = float(motion.contacts[0, k])
        ui = obj.id_properties_ui(prop)
        ui.update(min=0.0, max=1.0, description=f"{cname} ground contact probability")
        anim.key_channels(cb, f'["{prop}"]', frames, motion.contacts[:, k : k + 1], "contacts")


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
        if bl.body.startswith("calcn_"):  # along the sole to the toes, not the hinge's bone axis
            y = to_blender(np.asarray(bundle.offsets_m[bsm46.BODY["toes" + bl.body[5:]]]))
            y = y / np.linalg.norm(y)
            x = np.cross(y, z)
            x /= np.linalg.norm(x)
            z = np.cross(x, y)
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


def build_camera(
    context, bundle: MotionBundle, video: str | None, name: str, shift_m: np.ndarray | None = None
):
    """A camera matching the bundle's pinhole camera (moved with the motion by ``shift_m``); the
    video as its background."""
    cam: BundleCamera | None = bundle.camera
    if cam is None:
        return None
    data = bpy.data.cameras.new(name)
    obj = bpy.data.objects.new(name, data)
    _link(context, obj)
    r = np.asarray(cam.rotation)
    center = -r.T @ np.asarray(cam.translation_m)
    if shift_m is not None:
        center = center + shift_m
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


def bundle_video(bundle: MotionBundle, video: str | None) -> str | None:
    """The video for the camera background: the one given, else the capture's own source.
    ValueError (one line) when it is not there (moved or deleted)."""
    src = video or bundle.provenance.get("source")
    if not src:
        return None
    if not Path(src).is_file():
        raise ValueError(
            f"the capture's video {src} is not there (moved?): pick it in Video, or untick "
            "Camera + video"
        )
    return str(src)


def import_bundle(
    context,
    bundle: MotionBundle,
    *,
    surface=True,
    bone_meshes=True,
    camera=True,
    video: str | None = None,
    target_fps: float | None = None,
    smoothing_frames: float = 0.0,
    person: str = "",
    settings: str = "",
) -> bpy.types.Object:
    """Everything for one bundle in a collection of its own (the take); returns the armature
    (made active). Bad input raises ValueError before anything is created."""
    if camera and bundle.camera is not None:
        video = bundle_video(bundle, video)
    motion = prepare_motion(bundle, target_fps=target_fps, smoothing_frames=smoothing_frames)
    name = Path(bundle.path).name.removesuffix(".npz").removesuffix(".motion") or "motion"
    if not settings:
        settings = f"{motion.fps:g}fps" + (f" s{smoothing_frames:g}" if smoothing_frames else "")
    take = take_name(name, person, settings)
    cid = capture_id(bundle.path) if Path(bundle.path).is_file() else "unknown"
    coll = bpy.data.collections.new(take)
    context.scene.collection.children.link(coll)
    vl = context.view_layer
    before = vl.active_layer_collection
    vl.active_layer_collection = vl.layer_collection.children[coll.name]
    try:
        anim.set_scene_timing(context.scene, motion.fps, motion.q_rad.shape[0])
        arm = build_armature(context, bundle, motion, name, take)
        arm[PROP_CAPTURE] = cid
        arm.animation_data.action[PROP_CAPTURE] = cid
        if surface:
            build_surface(context, bundle, arm)
        if bone_meshes:
            build_bone_meshes(context, bundle, arm)
        if camera:
            build_camera(context, bundle, video, f"{name}_camera", motion.shift_m)
    finally:
        vl.active_layer_collection = before
    vl.objects.active = arm
    log.info("imported %s: %d frames at %g fps", bundle.path, motion.q_rad.shape[0], motion.fps)
    return arm
