"""Writing keyframes with Blender 5's layered actions (bpy only, no logic)."""

from __future__ import annotations

import bpy
import numpy as np

try:
    from bpy_extras import anim_utils
except ImportError:  # pragma: no cover - very old Blender
    anim_utils = None

_LINEAR = 1  # Keyframe.interpolation enum index of 'LINEAR'


class _LegacyChannels:
    """Blender < 4.4 (no action slots): F-curves live on the action itself."""

    def __init__(self, action) -> None:
        self._action = action
        self.fcurves = self

    def new(self, data_path: str, index: int = 0, group_name: str = ""):
        return self._action.fcurves.new(data_path, index=index, action_group=group_name)


def new_action(obj, name: str):
    """A fresh action assigned to ``obj`` with its own slot; returns (action, channelbag)."""
    action = bpy.data.actions.new(name)
    ad = obj.animation_data or obj.animation_data_create()
    if not hasattr(action, "slots"):  # Blender 4.2/4.3 (untested here: tests run bpy 5.2)
        ad.action = action
        return action, _LegacyChannels(action)
    slot = action.slots.new(id_type="OBJECT", name=obj.name)
    ad.action = action
    if ad.action_slot != slot:  # setting the already chosen slot crashes bpy 5.x
        ad.action_slot = slot
    return action, anim_utils.action_ensure_channelbag_for_slot(action, slot)


def assign_action(obj, action) -> None:
    """Make ``action`` the active action of ``obj`` with its first slot."""
    ad = obj.animation_data or obj.animation_data_create()
    ad.action = action
    slots = getattr(action, "slots", None)
    if slots is not None and len(slots) and ad.action_slot != slots[0]:
        ad.action_slot = slots[0]


def key_channels(
    channelbag, data_path: str, frames: np.ndarray, values: np.ndarray, group: str = ""
) -> None:
    """values (T, C): one linear F-curve per column of ``data_path``."""
    frames = np.asarray(frames, dtype=np.float32)
    values = np.asarray(values, dtype=np.float32)
    for c in range(values.shape[1]):
        fc = channelbag.fcurves.new(data_path, index=c, group_name=group)
        kp = fc.keyframe_points
        kp.add(len(frames))
        co = np.empty(2 * len(frames), dtype=np.float32)
        co[0::2] = frames
        co[1::2] = values[:, c]
        kp.foreach_set("co", co)
        kp.foreach_set("interpolation", np.full(len(frames), _LINEAR, dtype=np.int32))
        fc.update()


def set_scene_timing(scene, fps: float, n_frames: int) -> None:
    ifps = max(1, int(round(fps)))
    scene.render.fps = ifps
    scene.render.fps_base = ifps / fps
    scene.frame_start = 1
    scene.frame_end = n_frames
