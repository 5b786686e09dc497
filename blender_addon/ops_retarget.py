"""Retarget operators: detect the naming, edit/save/load the mapping, bake onto the character."""

from __future__ import annotations

import bpy
import numpy as np
from bpy.props import StringProperty
from bpy_extras.io_utils import ExportHelper, ImportHelper

from . import anim
from .build import PROP_CAPTURE, PROP_TAKE
from .logic.bundle import BundleError
from .logic.retarget import RetargetOptions, retarget_world, target_axes
from .logic.rigs import BoneMapping, RigRest, detect_mapping, load_preset, save_preset
from .logic.takes import take_name
from .source import check_source, read_source
from .target_feet import target_soles

ORIGINAL_TRACK = "biomech: original animation"


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


_ROLE_PARENT = {
    "spine": "hips",
    "chest": "spine",
    "neck": "chest",
    "head": "neck",
    "shoulder": "chest",
    "upper_arm": "shoulder",
    "forearm": "upper_arm",
    "hand": "forearm",
    "thigh": "hips",
    "shin": "thigh",
    "foot": "shin",
    "toe": "foot",
}


def _role_depth(role: str | None) -> int:
    """Depth of a role in the body's hierarchy (hips 0); a bone with no role (a root bone) -1."""
    if role is None:
        return -1
    depth = 0
    kind = role[:-2] if role[-2:] in ("_l", "_r") else role
    while kind in _ROLE_PARENT:
        kind = _ROLE_PARENT[kind]
        depth += 1
    return depth


def _bake_through_blender(
    context, target, res, n_frames: int, roles: dict[str, str]
) -> tuple[np.ndarray, dict]:
    """Per frame, set each mapped bone's armature-space matrix (parents first) and read back
    the pose channels Blender computes through the rig's own constraints."""
    from mathutils import Matrix

    names = res.bone_names
    quats = np.zeros((n_frames, len(names), 4))
    locs = {n: np.zeros((n_frames, 3)) for n in res.locations}
    idx = {n: i for i, n in enumerate(rig_rest(target).names)}
    for n in names:
        target.pose.bones[n].rotation_mode = "QUATERNION"
    # a control may follow another through constraints, not only through its parent: bones are
    # set in the order of the role hierarchy, one depsgraph update per level (bones of a level
    # do not depend on each other: left/right limbs, arm vs leg)
    by_name = {n: r for r, n in roles.items()}
    levels: dict[int, list[int]] = {}
    for k, n in enumerate(names):
        levels.setdefault(_role_depth(by_name.get(n)), []).append(k)
    for f in range(n_frames):
        for depth in sorted(levels):
            for k in levels[depth]:
                n = names[k]
                pb = target.pose.bones[n]
                pb.matrix = Matrix(res.pose[f, idx[n]].tolist())
                if n not in locs:
                    pb.location = (0.0, 0.0, 0.0)
            context.view_layer.update()
            for k in levels[depth]:
                pb = target.pose.bones[names[k]]
                quats[f, k] = tuple(pb.rotation_quaternion)
                if names[k] in locs:
                    locs[names[k]][f] = tuple(pb.location)
    for f in range(1, n_frames):  # quaternion sign continuity
        quats[f][np.sum(quats[f] * quats[f - 1], -1) < 0] *= -1
    return quats, locs


def keep_prior_animation(target) -> None:
    """The character's own active action (not one of our takes) goes onto a muted NLA track,
    with a fake user, so that it is never lost; every other track is muted."""
    ad = target.animation_data or target.animation_data_create()
    prior = ad.action
    if prior is not None and prior.get(PROP_TAKE) is None:
        prior.use_fake_user = True
        track = ad.nla_tracks.new()
        track.name = ORIGINAL_TRACK
        track.strips.new(prior.name, int(prior.frame_range[0]), prior)
    if prior is not None:
        ad.action = None
    for track in ad.nla_tracks:
        track.mute = True


def push_take(target, action, start: int) -> None:
    """The take as an unmuted NLA strip on a track of its own (the newest plays)."""
    ad = target.animation_data
    if ad.action is action:
        ad.action = None
    track = ad.nla_tracks.new()
    track.name = action.name
    strip = track.strips.new(action.name, start, action)
    if (
        hasattr(strip, "action_slot")
        and len(action.slots)
        and strip.action_slot != action.slots[0]
    ):
        strip.action_slot = action.slots[0]
    track.mute = False


def playing_take(target):
    """The action of the topmost unmuted NLA track (what plays), or the active action."""
    ad = target.animation_data
    if ad is None:
        return None
    for track in reversed(list(ad.nla_tracks)):
        if not track.mute and len(track.strips):
            return track.strips[0].action
    return ad.action


def settings_label(opts: RetargetOptions) -> str:
    lock = f"lock{opts.lock_strength:.2g}" if opts.foot_lock else "nolock"
    return f"{lock} {opts.root_motion}"


def bake_retarget(context, source, target, mapping: BoneMapping, options: RetargetOptions):
    """Retarget the source armature's current action onto ``target`` as a new take (an action
    with a fake user on an NLA track of its own); returns (RetargetResult, action). Bad input
    raises ValueError before the scene is touched."""
    src = read_source(context, source)
    rig = rig_rest(target)
    axes = target_axes(rig, mapping.roles) if not mapping.missing_required() else None
    soles = None
    floor_point = None
    if axes is not None and options.foot_lock:
        arm_inv = np.array(target.matrix_world.inverted())
        floor_point = arm_inv[:3, 3]  # the world origin (floor z = 0) in armature space
        soles = target_soles(
            target, mapping.roles, axes[:, 1], axes[:, 0], float(floor_point @ axes[:, 1])
        )
    res = retarget_world(
        src.rots,
        src.origins,
        src.offsets_m,
        rig,
        mapping,
        options=options,
        contacts=src.contacts,
        soles=soles,
        floor_point=floor_point,
    )
    n_frames = src.rots.shape[0]
    keep_prior_animation(target)
    for pb in target.pose.bones:
        pb.matrix_basis.identity()
        pb.location = (0, 0, 0)
        pb.rotation_quaternion = (1, 0, 0, 0)
        pb.rotation_euler = (0, 0, 0)
        pb.scale = (1, 1, 1)
        if "IK_FK" in pb.keys():  # Rigify limbs: 1.0 = follow the FK controls we animate
            pb["IK_FK"] = 1.0
    context.view_layer.update()
    quats, locs = res.quaternions, res.locations
    if _constrained(target, res.bone_names):
        quats, locs = _bake_through_blender(context, target, res, n_frames, mapping.roles)
    frames = np.arange(src.frame_start, src.frame_start + n_frames, dtype=np.float64)
    name = take_name(f"{src.take or source.name} > {target.name}", "", settings_label(options))
    act, cb = anim.new_action(target, name)
    act.use_fake_user = True
    act[PROP_TAKE] = name
    act[PROP_CAPTURE] = src.capture_id
    act["biomech_source"] = source.name
    for k, bone in enumerate(res.bone_names):
        pb = target.pose.bones[bone]
        pb.rotation_mode = "QUATERNION"
        path = f'pose.bones["{bone}"].rotation_quaternion'
        anim.key_channels(cb, path, frames, quats[:, k], bone)
    for bone, loc in locs.items():
        anim.key_channels(cb, f'pose.bones["{bone}"].location', frames, loc, bone)
    push_take(target, act, src.frame_start)
    scene = context.scene
    scene.frame_end = max(scene.frame_end, src.frame_start + n_frames - 1)
    return res, act


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
        if s.source is s.target:
            self.report({"ERROR"}, "source and target are the same armature: pick a character")
            return {"CANCELLED"}
        try:
            check_source(s.source)
        except ValueError as e:
            self.report({"ERROR"}, str(e))
            return {"CANCELLED"}
        roles = s.mapping_dict()
        convention = s.convention
        if not roles:
            m = detect_mapping([b.name for b in s.target.data.bones])
            if m.convention == "unknown":
                self.report(
                    {"ERROR"},
                    f"{s.target.name}: no recognisable bone names (Rigify, Mixamo, Unreal, "
                    "CesiumMan): map the bones by hand in the list",
                )
                return {"CANCELLED"}
            s.set_mapping(m.convention, m.roles)
            roles, convention = m.roles, m.convention
        mapping = BoneMapping(convention, roles, 1.0)
        try:
            options = RetargetOptions(
                foot_lock=s.foot_lock,
                lock_strength=s.lock_strength,
                root_motion=s.root_motion,
            )
        except ValueError as e:
            self.report({"ERROR"}, str(e))
            return {"CANCELLED"}
        if context.object is not None and context.object.mode != "OBJECT":
            bpy.ops.object.mode_set(mode="OBJECT")
        try:
            res, act = bake_retarget(context, s.source, s.target, mapping, options)
        except (ValueError, BundleError) as e:
            self.report({"ERROR"}, str(e))
            return {"CANCELLED"}
        msg = f"take {act.name}: {len(res.bone_names)} bones, scale {res.scale:.3f}"
        if options.root_motion == "root" and len(res.locations) < 2:
            msg += "; no root bone, travel stays on the hips"
        self.report({"INFO"}, msg)
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
