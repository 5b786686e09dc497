"""Retarget operators: detect the naming, edit/save/load the mapping, bake onto the character."""

from __future__ import annotations

import bpy
import numpy as np
from bpy.props import StringProperty
from bpy_extras.io_utils import ExportHelper, ImportHelper

from . import anim
from .build import load_source
from .logic.bundle import BundleError
from .logic.retarget import retarget
from .logic.rigs import BoneMapping, RigRest, detect_mapping, load_preset, save_preset


def rig_rest(arm_obj) -> RigRest:
    bones = arm_obj.data.bones
    names = [b.name for b in bones]
    parents = [b.parent.name if b.parent else None for b in bones]
    rest = np.array([np.array(b.matrix_local) for b in bones])
    world_up = np.array(arm_obj.matrix_world.to_3x3().inverted()) @ np.array([0.0, 0.0, 1.0])
    return RigRest.from_unsorted(names, parents, rest, up=world_up)


class BIOMECH_OT_detect_mapping(bpy.types.Operator):
    bl_idname = "biomech.detect_mapping"
    bl_label = "Detect Bone Names"
    bl_description = "Guess the target's naming convention and fill the bone mapping"

    def execute(self, context):
        s = context.scene.biomech
        if s.target is None:
            self.report({"ERROR"}, "pick a target armature first")
            return {"CANCELLED"}
        m = detect_mapping([b.name for b in s.target.data.bones])
        s.set_mapping(m.convention, m.roles)
        if m.convention == "unknown":
            self.report({"WARNING"}, "naming not recognised: fill the mapping by hand")
        else:
            self.report({"INFO"}, f"{m.convention}: {len(m.roles)} roles mapped")
        return {"FINISHED"}


class BIOMECH_OT_save_mapping(bpy.types.Operator, ExportHelper):
    bl_idname = "biomech.save_mapping_preset"
    bl_label = "Save Mapping Preset"
    filename_ext = ".json"
    filter_glob: StringProperty(default="*.json", options={"HIDDEN"})

    def execute(self, context):
        s = context.scene.biomech
        try:
            save_preset(
                BoneMapping(s.convention or "preset", s.mapping_dict(), 1.0), self.filepath
            )
        except (ValueError, OSError) as e:
            self.report({"ERROR"}, str(e))
            return {"CANCELLED"}
        return {"FINISHED"}


class BIOMECH_OT_load_mapping(bpy.types.Operator, ImportHelper):
    bl_idname = "biomech.load_mapping_preset"
    bl_label = "Load Mapping Preset"
    filename_ext = ".json"
    filter_glob: StringProperty(default="*.json", options={"HIDDEN"})

    def execute(self, context):
        s = context.scene.biomech
        try:
            m = load_preset(self.filepath)
        except ValueError as e:
            self.report({"ERROR"}, str(e))
            return {"CANCELLED"}
        s.set_mapping(m.convention, m.roles)
        return {"FINISHED"}


def _constrained(target, names) -> bool:
    """True when a mapped bone or one of its ancestors has constraints (e.g. a generated Rigify
    rig): then Blender itself must turn the wanted matrices into pose channels."""
    for n in names:
        b = target.pose.bones[n]
        while b is not None:
            if len(b.constraints):
                return True
            b = b.parent
    return False


def _bake_through_blender(context, target, res, n_frames: int) -> tuple[np.ndarray, np.ndarray]:
    """Per frame, set each mapped bone's armature-space matrix (parents first) and read back
    the pose channels Blender computes through the rig's own constraints."""
    from mathutils import Matrix

    names = res.bone_names
    quats = np.zeros((n_frames, len(names), 4))
    loc = np.zeros((n_frames, 3))
    idx = {n: i for i, n in enumerate(rig_rest(target).names)}
    for n in names:
        target.pose.bones[n].rotation_mode = "QUATERNION"
    # one depsgraph update per bone: a control may follow an earlier one through constraints
    # (not only through its parent), so bones are not grouped
    for f in range(n_frames):
        for k, n in enumerate(names):
            pb = target.pose.bones[n]
            pb.matrix = Matrix(res.pose[f, idx[n]].tolist())
            if n != res.root_bone:
                pb.location = (0.0, 0.0, 0.0)
            quats[f, k] = tuple(pb.rotation_quaternion)
            if n == res.root_bone:
                loc[f] = tuple(pb.location)
            context.view_layer.update()
    for f in range(1, n_frames):  # quaternion sign continuity
        quats[f][np.sum(quats[f] * quats[f - 1], -1) < 0] *= -1
    return quats, loc


def bake_retarget(context, source, target, mapping: BoneMapping):
    """Retarget the motion behind ``source`` onto ``target``; returns the RetargetResult."""
    bundle = load_source(source)
    res = retarget(bundle.q_rad, bundle.root_m, bundle.offsets_m, rig_rest(target), mapping)
    if target.animation_data is not None:
        target.animation_data.action = None
    for pb in target.pose.bones:
        pb.matrix_basis.identity()
        pb.location = (0, 0, 0)
        pb.rotation_quaternion = (1, 0, 0, 0)
        pb.rotation_euler = (0, 0, 0)
        pb.scale = (1, 1, 1)
        if "IK_FK" in pb.keys():  # Rigify limbs: 1.0 = follow the FK controls we animate
            pb["IK_FK"] = 1.0
    context.view_layer.update()
    quats, loc = res.quaternions, res.root_location
    if _constrained(target, res.bone_names):
        quats, loc = _bake_through_blender(context, target, res, bundle.n_frames)
    frames = np.arange(1, bundle.n_frames + 1, dtype=np.float64)
    _act, cb = anim.new_action(target, f"{target.name}_biomech")
    for k, name in enumerate(res.bone_names):
        pb = target.pose.bones[name]
        pb.rotation_mode = "QUATERNION"
        path = f'pose.bones["{name}"].rotation_quaternion'
        anim.key_channels(cb, path, frames, quats[:, k], name)
    path = f'pose.bones["{res.root_bone}"].location'
    anim.key_channels(cb, path, frames, loc, res.root_bone)
    anim.set_scene_timing(context.scene, bundle.fps, bundle.n_frames)
    return res


class BIOMECH_OT_retarget(bpy.types.Operator):
    bl_idname = "biomech.retarget"
    bl_label = "Retarget and Bake"
    bl_description = "Bake the imported motion onto the target character's bones"
    bl_options = {"REGISTER", "UNDO"}

    def execute(self, context):
        s = context.scene.biomech
        if s.source is None or s.target is None:
            self.report({"ERROR"}, "pick the imported motion (source) and a character (target)")
            return {"CANCELLED"}
        if not s.mapping_dict():
            m = detect_mapping([b.name for b in s.target.data.bones])
            s.set_mapping(m.convention, m.roles)
        mapping = BoneMapping(s.convention, s.mapping_dict(), 1.0)
        if context.object is not None and context.object.mode != "OBJECT":
            bpy.ops.object.mode_set(mode="OBJECT")
        try:
            res = bake_retarget(context, s.source, s.target, mapping)
        except (ValueError, BundleError) as e:
            self.report({"ERROR"}, str(e))
            return {"CANCELLED"}
        self.report({"INFO"}, f"baked {len(res.bone_names)} bones, scale {res.scale:.3f}")
        return {"FINISHED"}


_CLASSES = (
    BIOMECH_OT_detect_mapping,
    BIOMECH_OT_save_mapping,
    BIOMECH_OT_load_mapping,
    BIOMECH_OT_retarget,
)


def register() -> None:
    for c in _CLASSES:
        bpy.utils.register_class(c)


def unregister() -> None:
    for c in reversed(_CLASSES):
        bpy.utils.unregister_class(c)
