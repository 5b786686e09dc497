"""Import operator (also in File > Import) for .motion.npz bundles."""

from __future__ import annotations

import bpy
from bpy.props import BoolProperty, StringProperty
from bpy_extras.io_utils import ImportHelper

from . import build
from .logic.bundle import BundleError, read_bundle


class BIOMECH_OT_import_motion(bpy.types.Operator, ImportHelper):
    bl_idname = "biomech.import_motion"
    bl_label = "Import Motion"
    bl_description = "Import a biomocap motion bundle (.motion.npz) as a BSM-46 armature"
    bl_options = {"REGISTER", "UNDO"}

    filename_ext = ".npz"
    filter_glob: StringProperty(default="*.motion.npz;*.npz", options={"HIDDEN"})
    surface: BoolProperty(name="Body surface", default=True)
    bone_meshes: BoolProperty(name="Bone meshes", default=True)
    camera: BoolProperty(name="Camera + video", default=True)
    video: StringProperty(
        name="Video", subtype="FILE_PATH", description="Video for the camera background"
    )

    def execute(self, context):
        try:
            bundle = read_bundle(self.filepath)
        except BundleError as e:
            self.report({"ERROR"}, str(e))
            return {"CANCELLED"}
        if context.object is not None and context.object.mode != "OBJECT":
            bpy.ops.object.mode_set(mode="OBJECT")
        arm = build.import_bundle(
            context,
            bundle,
            surface=self.surface,
            bone_meshes=self.bone_meshes,
            camera=self.camera,
            video=self.video or None,
        )
        settings = context.scene.biomech
        settings.source = arm
        self.report({"INFO"}, f"imported {bundle.n_frames} frames at {bundle.fps:g} fps")
        return {"FINISHED"}


def _menu(self, context):
    self.layout.operator(BIOMECH_OT_import_motion.bl_idname, text="Biomech Motion (.motion.npz)")


def register() -> None:
    bpy.utils.register_class(BIOMECH_OT_import_motion)
    bpy.types.TOPBAR_MT_file_import.append(_menu)


def unregister() -> None:
    bpy.types.TOPBAR_MT_file_import.remove(_menu)
    bpy.utils.unregister_class(BIOMECH_OT_import_motion)
