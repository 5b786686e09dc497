"""Sidebar panels (3D view, tab "Biomech")."""

from __future__ import annotations

import bpy

PREVIEW_IMAGE = "biomech video preview"


class _Base:
    bl_space_type = "VIEW_3D"
    bl_region_type = "UI"
    bl_category = "Biomech"


class BIOMECH_PT_capture(_Base, bpy.types.Panel):
    bl_idname = "BIOMECH_PT_capture"
    bl_label = "Capture"

    def draw(self, context):
        s = context.scene.biomech
        col = self.layout.column(align=True)
        col.prop(s, "video_path")
        col.prop(s, "output_dir")
        col = self.layout.column(align=True)
        col.label(text="Subject (optional)")
        row = col.row(align=True)
        row.prop(s, "height_m")
        row.prop(s, "mass_kg")
        col.label(text="Camera (optional)")
        row = col.row(align=True)
        row.prop(s, "focal_px")
        row.prop(s, "fov_deg")
        row = col.row(align=True)
        row.prop(s, "frame_start")
        row.prop(s, "frame_end")
        col = self.layout.column(align=True)
        col.label(text="Options")
        row = col.row(align=True)
        row.prop(s, "person")
        row.operator("biomech.preview_frame", text="", icon="IMAGE_DATA")
        img = bpy.data.images.get(PREVIEW_IMAGE)
        if img is not None:
            col.template_icon(icon_value=img.preview_ensure().icon_id, scale=8.0)
            if s.preview_people >= 0:
                col.label(text=f"{s.preview_people} people, boxed 0.. from the left")
        col.prop(s, "surface_method")
        row = col.row(align=True)
        row.prop(s, "smoothing")
        row.prop(s, "resample_to_scene")
        col.prop(s, "device")
        self.layout.operator("biomech.capture_from_video", icon="REC")
        if s.status:
            self.layout.progress(factor=s.progress, text=s.status)


class BIOMECH_PT_import(_Base, bpy.types.Panel):
    bl_idname = "BIOMECH_PT_import"
    bl_label = "Import"

    def draw(self, context):
        s = context.scene.biomech
        row = self.layout.row(align=True)
        row.prop(s, "import_surface")
        row.prop(s, "import_bone_meshes")
        row.prop(s, "import_camera")
        op = self.layout.operator("biomech.import_motion", icon="IMPORT")
        op.surface, op.bone_meshes, op.camera = (
            s.import_surface,
            s.import_bone_meshes,
            s.import_camera,
        )
        op.video = s.video_path


class BIOMECH_UL_mapping(bpy.types.UIList):
    def draw_item(self, context, layout, data, item, icon, active_data, active_propname, index=0):
        target = context.scene.biomech.target
        row = layout.row(align=True)
        row.label(text=item.role)
        if target is not None:
            row.prop_search(item, "bone", target.data, "bones", text="")
        else:
            row.prop(item, "bone", text="")


class BIOMECH_PT_retarget(_Base, bpy.types.Panel):
    bl_idname = "BIOMECH_PT_retarget"
    bl_label = "Retarget"

    def draw(self, context):
        s = context.scene.biomech
        lay = self.layout
        lay.prop(s, "source")
        lay.prop(s, "target")
        row = lay.row(align=True)
        row.operator("biomech.detect_mapping", icon="VIEWZOOM")
        row.operator("biomech.load_mapping_preset", text="", icon="FILEBROWSER")
        row.operator("biomech.save_mapping_preset", text="", icon="FILE_TICK")
        if s.convention:
            lay.label(text=f"Naming: {s.convention}")
        lay.template_list("BIOMECH_UL_mapping", "", s, "mapping", s, "mapping_index", rows=6)
        row = lay.row(align=True)
        row.prop(s, "foot_lock")
        sub = row.row(align=True)
        sub.enabled = s.foot_lock
        sub.prop(s, "lock_strength")
        lay.prop(s, "root_motion")
        lay.operator("biomech.retarget", icon="ARMATURE_DATA")
        row = lay.row(align=True)
        for fmt in ("FBX", "BVH", "GLTF"):
            row.operator("biomech.export_character", text=fmt).format = fmt


_CLASSES = (BIOMECH_PT_capture, BIOMECH_PT_import, BIOMECH_UL_mapping, BIOMECH_PT_retarget)


def register() -> None:
    for c in _CLASSES:
        bpy.utils.register_class(c)


def unregister() -> None:
    for c in reversed(_CLASSES):
        bpy.utils.unregister_class(c)
