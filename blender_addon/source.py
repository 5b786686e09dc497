"""The retarget's source: what the imported armature's current action does in Blender now
(edits count), read back as BSM-46 body rotations and origins, plus its contact track."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .build import CONTACT_PROP, PROP_CAPTURE, PROP_OFFSETS, PROP_TAKE
from .logic import bsm46
from .logic.ground import CONTACT_NAMES
from .logic.kinematics import OPENSIM_TO_BLENDER as C


@dataclass
class SourceMotion:
    rots: np.ndarray  # (T, 24, 3, 3) body world rotations, OpenSim frame
    origins: np.ndarray  # (T, 24, 3) body origins, OpenSim frame (floor at Y = 0)
    offsets_m: np.ndarray  # (24, 3)
    contacts: np.ndarray | None  # (T, 4) from the action's contact track
    frame_start: int
    capture_id: str
    take: str


def check_source(obj) -> None:
    """ValueError (one line) unless ``obj`` is an armature imported from a biomocap capture."""
    if obj is None:
        raise ValueError("pick the imported capture armature as the source")
    if obj.type != "ARMATURE" or PROP_CAPTURE not in obj or PROP_OFFSETS not in obj:
        raise ValueError(
            f"{obj.name} is not an imported biomocap capture: import a .motion.npz (or capture a "
            "video) and pick the armature it made"
        )
    names = {b.name for b in obj.data.bones}
    missing = [n for n in bsm46.BODY_NAMES if n not in names]
    if missing:
        raise ValueError(f"{obj.name} lost BSM-46 bone(s) {missing[:3]}: re-import the capture")
    ad = obj.animation_data
    if ad is None or ad.action is None:
        raise ValueError(f"{obj.name} has no active action: assign one of its takes")
    act_id = ad.action.get(PROP_CAPTURE)
    if act_id is not None and act_id != obj[PROP_CAPTURE]:
        raise ValueError(
            f"action {ad.action.name} belongs to capture {act_id}, not to {obj.name}'s capture "
            f"{obj[PROP_CAPTURE]}: assign one of {obj.name}'s own takes"
        )


def _contact_curves(obj):
    ad = obj.animation_data
    act = ad.action
    try:
        from bpy_extras import anim_utils

        cb = anim_utils.action_get_channelbag_for_slot(act, ad.action_slot)
        curves = cb.fcurves if cb is not None else []
    except (ImportError, AttributeError):  # Blender < 4.4
        curves = act.fcurves
    out = {}
    for fc in curves:
        for name in CONTACT_NAMES:
            if fc.data_path == f'["{CONTACT_PROP}{name}"]':
                out[name] = fc
    return out


def read_source(context, obj) -> SourceMotion:
    """Evaluate the source armature's current action frame by frame (the scene frame is
    restored): every keyed change, constraint or edit of the action is what gets retargeted."""
    check_source(obj)
    act = obj.animation_data.action
    f0, f1 = (int(round(v)) for v in act.frame_range)
    frames = range(f0, f1 + 1)
    scene = context.scene
    keep = scene.frame_current
    bones = [obj.pose.bones[n] for n in bsm46.BODY_NAMES]
    rest_t = np.array([np.array(pb.bone.matrix_local.to_3x3()).T for pb in bones])
    rots = np.zeros((len(frames), bsm46.N_BODIES, 3, 3))
    origins = np.zeros((len(frames), bsm46.N_BODIES, 3))
    try:
        for i, f in enumerate(frames):
            scene.frame_set(f)
            mats = np.array([np.array(pb.matrix) for pb in bones])
            r_bl = mats[:, :3, :3] @ rest_t
            rots[i] = C.T @ r_bl @ C
            origins[i] = mats[:, :3, 3] @ C  # C^T h for each row
    finally:
        scene.frame_set(keep)
    curves = _contact_curves(obj)
    contacts = None
    if len(curves) == len(CONTACT_NAMES):
        contacts = np.array([[curves[n].evaluate(f) for n in CONTACT_NAMES] for f in frames])
    offsets = np.asarray(obj[PROP_OFFSETS], dtype=np.float64).reshape(bsm46.N_BODIES, 3)
    return SourceMotion(
        rots, origins, offsets, contacts, f0, str(obj[PROP_CAPTURE]), str(obj.get(PROP_TAKE, ""))
    )
