"""Import operator (also in File > Import) for .motion.npz bundles."""

from __future__ import annotations

from pathlib import Path

import bpy
from bpy.props import BoolProperty, FloatProperty, StringProperty
from bpy_extras.io_utils import ImportHelper

from . import build
from .logic.bundle import BundleError, read_bundle
from .logic.opensim_io import bundle_from_opensim


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
        name="Video",
        subtype="FILE_PATH",
        description="Video for the camera background (empty: the capture's own video)",
    )
    resample_to_scene: BoolProperty(
        name="Scene frame rate",
        default=False,
        description="Resample to the scene's frame rate (off: the scene takes the motion's)",
    )
    smoothing: FloatProperty(
        name="Smoothing", min=0.0, max=10.0, default=0.0, description="Gaussian sigma, frames"
    )

    def execute(self, context):
        try:
            bundle = read_bundle(self.filepath)
        except BundleError as e:
            self.report({"ERROR"}, str(e))
            return {"CANCELLED"}
        if context.object is not None and context.object.mode != "OBJECT":
            bpy.ops.object.mode_set(mode="OBJECT")
        r = context.scene.render
        try:
            arm = build.import_bundle(
                context,
                bundle,
                surface=self.surface,
                bone_meshes=self.bone_meshes,
                camera=self.camera,
                video=self.video or None,
                target_fps=r.fps / r.fps_base if self.resample_to_scene else None,
                smoothing_frames=self.smoothing,
            )
        except ValueError as e:
            self.report({"ERROR"}, str(e))
            return {"CANCELLED"}
        settings = context.scene.biomech
        settings.source = arm
        self.report({"INFO"}, f"imported {bundle.n_frames} frames at {bundle.fps:g} fps")
        return {"FINISHED"}


def find_osim(mot: Path) -> Path | None:
    """The model beside a .mot: same stem first, else the only .osim in the folder."""
    same = mot.with_suffix(".osim")
    if same.is_file():
        return same
    models = sorted(mot.parent.glob("*.osim"))
    return models[0] if len(models) == 1 else None


class BIOMECH_OT_import_opensim(bpy.types.Operator, ImportHelper):
    bl_idname = "biomech.import_opensim"
    bl_label = "Import OpenSim Motion"
    bl_description = "Import a BSM-46 .osim + .mot pair written by biomech_export"
    bl_options = {"REGISTER", "UNDO"}

    filename_ext = ".mot"
    filter_glob: StringProperty(default="*.mot", options={"HIDDEN"})
    osim_path: StringProperty(
        name="Model", subtype="FILE_PATH", description="The .osim (empty: the one beside the .mot)"
    )
    bone_meshes: BoolProperty(name="Bone meshes", default=True)

    def execute(self, context):
        mot = Path(self.filepath)
        osim = Path(self.osim_path) if self.osim_path else find_osim(mot)
        if osim is None:
            self.report({"ERROR"}, f"no .osim model found beside {mot.name}: pick it in Model")
            return {"CANCELLED"}
        try:
            bundle = bundle_from_opensim(osim, mot)
        except BundleError as e:
            self.report({"ERROR"}, str(e))
            return {"CANCELLED"}
        if context.object is not None and context.object.mode != "OBJECT":
            bpy.ops.object.mode_set(mode="OBJECT")
        try:
            arm = build.import_bundle(
                context, bundle, surface=False, bone_meshes=self.bone_meshes, camera=False
            )
        except ValueError as e:
            self.report({"ERROR"}, str(e))
            return {"CANCELLED"}
        context.scene.biomech.source = arm
        self.report({"INFO"}, f"imported {bundle.n_frames} frames of {mot.name} ({osim.name})")
        return {"FINISHED"}


def _menu(self, context):
    self.layout.operator(BIOMECH_OT_import_motion.bl_idname, text="Biomech Motion (.motion.npz)")
    self.layout.operator(
        BIOMECH_OT_import_opensim.bl_idname, text="Biomech OpenSim (.osim + .mot)"
    )


def register() -> None:
    bpy.utils.register_class(BIOMECH_OT_import_motion)
    bpy.utils.register_class(BIOMECH_OT_import_opensim)
    bpy.types.TOPBAR_MT_file_import.append(_menu)


def unregister() -> None:
    bpy.types.TOPBAR_MT_file_import.remove(_menu)
    bpy.utils.unregister_class(BIOMECH_OT_import_opensim)
    bpy.utils.unregister_class(BIOMECH_OT_import_motion)
