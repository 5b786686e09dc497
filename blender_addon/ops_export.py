"""Export the (retargeted) character with Blender's own FBX, BVH and glTF exporters."""

from __future__ import annotations

import bpy
from bpy.props import EnumProperty, StringProperty

FORMATS = {"FBX": ".fbx", "BVH": ".bvh", "GLTF": ".glb"}


def export_character(context, arm, fmt: str, filepath: str) -> None:
    """Write ``arm`` (and the meshes it deforms) with Blender's exporter for ``fmt``."""
    if fmt not in FORMATS:
        raise ValueError(f"format must be one of {', '.join(FORMATS)}, got {fmt!r}")
    if context.object is not None and context.object.mode != "OBJECT":
        bpy.ops.object.mode_set(mode="OBJECT")
    vl = context.view_layer
    for o in vl.objects:
        o.select_set(False)
    arm.select_set(True)
    for child in arm.children_recursive:
        if child.type == "MESH" and child.name in vl.objects:
            child.select_set(True)
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
        )
    elif fmt == "BVH":
        bpy.ops.export_anim.bvh(
            filepath=filepath,
            frame_start=scene.frame_start,
            frame_end=scene.frame_end,
            root_transform_only=False,
        )
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
