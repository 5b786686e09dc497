"""Export the (retargeted) character with Blender's own FBX, BVH and glTF exporters."""

from __future__ import annotations

import bpy
from bpy.props import EnumProperty, StringProperty

FORMATS = {"FBX": ".fbx", "BVH": ".bvh", "GLTF": ".glb"}


def export_character(context, arm, fmt: str, filepath: str) -> None:
    """Write ``arm`` (and the meshes it deforms) with Blender's exporter for ``fmt``: the take
    that plays (topmost unmuted NLA track) is exported as the armature's one animation."""
    if fmt not in FORMATS:
        raise ValueError(f"format must be one of {', '.join(FORMATS)}, got {fmt!r}")
    from . import anim
    from .ops_retarget import playing_take

    ad = arm.animation_data
    take = playing_take(arm)
    # Blender's FBX importer puts the file's time 0 on frame 1 (anim_offset) and its exporter
    # writes frame f at time f / fps: a copy of the take one frame earlier makes the re-import
    # frame-exact (glTF and BVH already are: tests/blender/test_retarget.py)
    shift = 1 if fmt == "FBX" else 0
    scene = context.scene
    saved = None
    if ad is not None and take is not None:
        saved = (ad.action, [t.mute for t in ad.nla_tracks], scene.frame_start, scene.frame_end)
        for t in ad.nla_tracks:
            t.mute = True
        export_take = take
        if shift:
            export_take = take.copy()
            _shift_keys(export_take, -shift)
        anim.assign_action(arm, export_take)
        scene.frame_start, scene.frame_end = scene.frame_start - shift, scene.frame_end - shift
    try:
        if fmt == "FBX" and _is_control_rig(arm):
            _export_deform_only(context, arm, filepath)
        else:
            _export(context, arm, fmt, filepath)
    finally:
        if saved is not None:
            used = ad.action
            ad.action = saved[0]
            if saved[0] is not None:
                anim.assign_action(arm, saved[0])
            for t, m in zip(ad.nla_tracks, saved[1], strict=True):
                t.mute = m
            scene.frame_start, scene.frame_end = saved[2], saved[3]
            if used is not take and used is not None:
                bpy.data.actions.remove(used)


def _is_control_rig(arm) -> bool:
    """A generated Rigify rig (or alike): deform bones named DEF- that follow control bones."""
    return any(b.name.startswith("DEF-") for b in arm.data.bones) and any(
        len(pb.constraints) for pb in arm.pose.bones
    )


def _deformed_meshes(arm) -> list:
    return [
        o
        for o in bpy.data.objects
        if o.type == "MESH" and any(m.type == "ARMATURE" and m.object is arm for m in o.modifiers)
    ]


def _export_deform_only(context, arm, filepath: str) -> None:
    """FBX of the deform bones alone: a temporary armature holding only them (each under its
    nearest deform ancestor) follows ``arm`` through Copy Transforms, the meshes are bound to it
    for the export; everything is put back afterwards."""
    keep = {b.name for b in arm.data.bones if b.use_deform}
    data = arm.data.copy()
    copy = bpy.data.objects.new(arm.name, data)
    copy.matrix_world = arm.matrix_world
    context.scene.collection.objects.link(copy)
    name = arm.name
    swapped = []
    try:
        vl = context.view_layer
        vl.update()
        for o in vl.objects:
            o.select_set(False)
        vl.objects.active = copy
        copy.select_set(True)
        bpy.ops.object.mode_set(mode="EDIT")
        ebs = data.edit_bones
        parent = {}
        for eb in ebs:
            if eb.name in keep:
                p = eb.parent
                while p is not None and p.name not in keep:
                    p = p.parent
                parent[eb.name] = p.name if p is not None else None
        for eb in [eb for eb in ebs if eb.name not in keep]:
            ebs.remove(eb)
        for n, p in parent.items():
            ebs[n].parent = ebs[p] if p else None
        bpy.ops.object.mode_set(mode="OBJECT")
        for pb in copy.pose.bones:
            for c in list(pb.constraints):
                pb.constraints.remove(c)
            c = pb.constraints.new("COPY_TRANSFORMS")
            c.target, c.subtarget = arm, pb.name
        for mesh in _deformed_meshes(arm):
            for m in mesh.modifiers:
                if m.type == "ARMATURE" and m.object is arm:
                    m.object = copy
                    swapped.append(m)
        arm.name = f"{name}.controls"
        copy.name = name
        _export(context, copy, "FBX", filepath, meshes=[m.id_data for m in swapped])
    finally:
        if context.object is not None and context.object.mode != "OBJECT":
            bpy.ops.object.mode_set(mode="OBJECT")
        for m in swapped:
            m.object = arm
        bpy.data.objects.remove(copy)
        bpy.data.armatures.remove(data)
        arm.name = name


def _shift_keys(action, frames: int) -> None:
    """Move every key (and its handles) of ``action`` by ``frames``."""
    import numpy as np

    for fc in _all_fcurves(action):
        kp = fc.keyframe_points
        for attr in ("co", "handle_left", "handle_right"):
            v = np.empty(2 * len(kp), dtype=np.float32)
            kp.foreach_get(attr, v)
            v[0::2] += frames
            kp.foreach_set(attr, v)
        fc.update()


def _all_fcurves(action):
    if hasattr(action, "layers"):  # Blender 4.4+: layered actions
        for layer in action.layers:
            for strip in layer.strips:
                for cb in strip.channelbags:
                    yield from cb.fcurves
    else:  # pragma: no cover - Blender 4.2/4.3
        yield from action.fcurves


def _export(context, arm, fmt: str, filepath: str, meshes: list | None = None) -> None:
    if context.object is not None and context.object.mode != "OBJECT":
        bpy.ops.object.mode_set(mode="OBJECT")
    vl = context.view_layer
    for o in vl.objects:
        o.select_set(False)
    arm.select_set(True)
    if meshes is None:
        meshes = [c for c in arm.children_recursive if c.type == "MESH"]
    for mesh in meshes:
        if mesh.name in vl.objects:
            mesh.select_set(True)
    vl.objects.active = arm
    scene = context.scene
    if fmt == "FBX":
        bpy.ops.export_scene.fbx(
            filepath=filepath,
            use_selection=True,
            object_types={"ARMATURE", "MESH"},
            bake_anim=True,
            bake_anim_use_all_actions=False,
            bake_anim_use_nla_strips=False,
            add_leaf_bones=False,
            bake_anim_simplify_factor=0.0,
            use_armature_deform_only=False,
        )
    elif fmt == "BVH":
        bpy.ops.export_anim.bvh(
            filepath=filepath,
            frame_start=scene.frame_start,
            frame_end=scene.frame_end,
            root_transform_only=False,
        )
        # Blender writes its Z-up armature space; BVH readers (Blender's defaults too) want Y up
        from pathlib import Path

        from .logic.bvh_axes import convert_bvh_axes

        path = Path(filepath)
        tmp = path.with_name(f".{path.name}.tmp")
        tmp.write_text(convert_bvh_axes(path.read_text(encoding="utf-8")), encoding="utf-8")
        tmp.replace(path)
    else:
        bpy.ops.export_scene.gltf(
            filepath=filepath,
            export_format="GLB",
            use_selection=True,
            export_animations=True,
            export_animation_mode="ACTIVE_ACTIONS",
            export_force_sampling=True,
            export_frame_range=True,
        )


class BIOMECH_OT_export_character(bpy.types.Operator):
    bl_idname = "biomech.export_character"
    bl_label = "Export Character"
    bl_description = "Export the target character with its baked motion"

    format: EnumProperty(items=[(k, k, "") for k in FORMATS], default="FBX")
    filepath: StringProperty(subtype="FILE_PATH")

    def invoke(self, context, event):
        context.window_manager.fileselect_add(self)
        return {"RUNNING_MODAL"}

    def execute(self, context):
        arm = context.scene.biomech.target
        if arm is None:
            self.report({"ERROR"}, "pick a target character first")
            return {"CANCELLED"}
        path = bpy.path.ensure_ext(self.filepath, FORMATS[self.format])
        export_character(context, arm, self.format, path)
        self.report({"INFO"}, f"wrote {path}")
        return {"FINISHED"}


def register() -> None:
    bpy.utils.register_class(BIOMECH_OT_export_character)


def unregister() -> None:
    bpy.utils.unregister_class(BIOMECH_OT_export_character)
