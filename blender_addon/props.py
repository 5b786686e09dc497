"""Settings (one PointerProperty on the scene) and add-on preferences."""

from __future__ import annotations

from pathlib import Path

import bpy
from bpy.props import (
    BoolProperty,
    CollectionProperty,
    EnumProperty,
    FloatProperty,
    IntProperty,
    PointerProperty,
    StringProperty,
)

from .logic.capture import find_core_python
from .logic.rigs import ROLES


def _is_armature(_self, obj) -> bool:
    return obj.type == "ARMATURE"


class BIOMECH_PG_bone_map(bpy.types.PropertyGroup):
    role: StringProperty(name="Role")
    bone: StringProperty(name="Bone", description="Target bone driven by this role (empty: none)")


class BIOMECH_PG_settings(bpy.types.PropertyGroup):
    # capture
    video_path: StringProperty(name="Video", subtype="FILE_PATH")
    output_dir: StringProperty(
        name="Output",
        subtype="DIR_PATH",
        description="Folder for the capture (empty: beside the video)",
    )
    height_m: FloatProperty(
        name="Height",
        unit="LENGTH",
        min=0.0,
        max=2.6,
        default=0.0,
        description="Subject height in metres (0: the adult mean, 1.69 m; it sets the scene's scale)",
    )
    mass_kg: FloatProperty(
        name="Mass (kg)",
        min=0.0,
        max=300.0,
        default=0.0,
        description="Subject mass in kg (0: estimate)",
    )
    focal_px: FloatProperty(
        name="Focal (px)",
        min=0.0,
        default=0.0,
        description="Camera focal length in pixels (0: unknown)",
    )
    fov_deg: FloatProperty(
        name="FOV (deg)",
        min=0.0,
        max=179.0,
        default=0.0,
        description="Horizontal field of view in degrees (0: unknown)",
    )
    frame_start: IntProperty(
        name="Start", min=0, default=0, description="First video frame (0: start)"
    )
    frame_end: IntProperty(name="End", min=0, default=0, description="Last video frame (0: end)")
    device: EnumProperty(
        name="Device",
        items=[("auto", "Auto", "GPU when available"), ("cpu", "CPU", ""), ("gpu", "GPU", "CUDA")],
        default="auto",
    )
    person: StringProperty(
        name="Person",
        default="main",
        description="Who to capture: main, largest, center, left, right, or an index counted "
        "from the left of the preview frame (0 = leftmost)",
    )
    preview_people: IntProperty(
        name="People", default=-1, description="People found in the preview frame (-1: none yet)"
    )
    surface_method: EnumProperty(
        name="Surface",
        items=[
            ("fit", "Fit", "Fit the Anny body by optimisation (default)"),
            ("mq", "MQ-HMR", "MQ-HMR network (faster, needs its weights)"),
        ],
        default="fit",
    )
    smoothing: FloatProperty(
        name="Smoothing",
        min=0.0,
        max=10.0,
        default=0.0,
        description="Gaussian smoothing of the motion on import, sigma in video frames (0: off)",
    )
    resample_to_scene: BoolProperty(
        name="Scene frame rate",
        default=False,
        description="Resample the motion to the scene's frame rate (off: the scene takes the "
        "video's frame rate)",
    )
    # import
    import_surface: BoolProperty(name="Body surface", default=True)
    import_bone_meshes: BoolProperty(name="Bone meshes", default=True)
    import_camera: BoolProperty(name="Camera + video", default=True)
    # retarget
    source: PointerProperty(
        name="Source",
        type=bpy.types.Object,
        poll=_is_armature,
        description="Imported BSM-46 armature",
    )
    target: PointerProperty(
        name="Target",
        type=bpy.types.Object,
        poll=_is_armature,
        description="Character armature to animate",
    )
    convention: StringProperty(name="Naming", default="")
    foot_lock: BoolProperty(
        name="Foot lock",
        default=True,
        description="Plant the character's feet on the floor (z = 0) during the capture's contacts",
    )
    lock_strength: FloatProperty(
        name="Strength",
        min=0.0,
        max=1.0,
        default=1.0,
        subtype="FACTOR",
        description="How much of the foot-lock correction is applied",
    )
    root_motion: EnumProperty(
        name="Root motion",
        items=[
            (
                "root",
                "Root bone",
                "Horizontal travel on the root bone (UE/Mixamo-style rigs), "
                "height on the hips; rigs without a root bone keep it on the hips",
            ),
            ("hips", "Hips", "All travel on the hips"),
            ("in_place", "In place", "No horizontal travel"),
        ],
        default="root",
    )
    mapping: CollectionProperty(type=BIOMECH_PG_bone_map)
    mapping_index: IntProperty()
    # progress (read by the panel)
    progress: FloatProperty(min=0.0, max=1.0, subtype="FACTOR")
    status: StringProperty()

    def mapping_dict(self) -> dict[str, str]:
        return {m.role: m.bone for m in self.mapping if m.bone}

    def set_mapping(self, convention: str, roles: dict[str, str]) -> None:
        self.mapping.clear()
        self.convention = convention
        for r in ROLES:
            item = self.mapping.add()
            item.role = r
            item.bone = roles.get(r, "")


def addon_prefs(context) -> BIOMECH_AP_preferences | None:
    addon = context.preferences.addons.get(__package__)
    return addon.preferences if addon else None


def core_python(context) -> Path | None:
    """The configured core interpreter, else the auto-detected one."""
    prefs = addon_prefs(context)
    if prefs is not None and prefs.core_python:
        return Path(bpy.path.abspath(prefs.core_python))
    return find_core_python()


class BIOMECH_OT_detect_core_python(bpy.types.Operator):
    bl_idname = "biomech.detect_core_python"
    bl_label = "Auto-detect"
    bl_description = "Find the biomocap core's Python ($BIOMOCAP_PYTHON or a .venv beside core/)"

    def execute(self, context):
        p = find_core_python()
        if p is None:
            self.report(
                {"ERROR"}, "no core interpreter found: set $BIOMOCAP_PYTHON or pick the file"
            )
            return {"CANCELLED"}
        addon_prefs(context).core_python = str(p)
        self.report({"INFO"}, f"core interpreter: {p}")
        return {"FINISHED"}


class BIOMECH_AP_preferences(bpy.types.AddonPreferences):
    bl_idname = __package__

    core_python: StringProperty(
        name="Core Python",
        subtype="FILE_PATH",
        description="Python with the biomocap core installed (e.g. the repo's .venv/bin/python)",
    )

    def draw(self, context):
        row = self.layout.row()
        row.prop(self, "core_python")
        row.operator(BIOMECH_OT_detect_core_python.bl_idname, icon="VIEWZOOM")


_CLASSES = (
    BIOMECH_PG_bone_map,
    BIOMECH_PG_settings,
    BIOMECH_OT_detect_core_python,
    BIOMECH_AP_preferences,
)


def register() -> None:
    for c in _CLASSES:
        bpy.utils.register_class(c)
    bpy.types.Scene.biomech = PointerProperty(type=BIOMECH_PG_settings)


def unregister() -> None:
    del bpy.types.Scene.biomech
    for c in reversed(_CLASSES):
        bpy.utils.unregister_class(c)
