"""Working the way an animator does: the retarget reads the source armature's action as it is in
Blender (edits count), every capture and retarget is a take that survives the next one, the
character's own animation is kept, root motion goes where asked, bad input leaves nothing
half-made, the captured rig stands on the floor with a visible contact track."""

from __future__ import annotations

import json
import os

import numpy as np
import pytest

from tests.blender.conftest import reset_scene
from tests.blender.test_retarget import RIGS, load_rig

bpy = pytest.importorskip("bpy")


def _import(bundles, name="walk", **kw):
    kw = {"surface": False, "camera": False, "bone_meshes": False, **kw}
    assert bpy.ops.biomech.import_motion(filepath=str(bundles / f"{name}.motion.npz"), **kw) == {
        "FINISHED"
    }
    return bpy.context.scene.biomech.source


def _retarget(src, tgt, **opts):
    s = bpy.context.scene.biomech
    s.source, s.target = src, tgt
    s.foot_lock = opts.get("lock", True)
    s.root_motion = opts.get("root", "root")
    assert bpy.ops.biomech.retarget() == {"FINISHED"}
    return s.mapping_dict()


def _knee_deg(tgt, roles, side, frames) -> np.ndarray:
    """The character's knee bend: angle between thigh and shin directions, degrees."""
    out = []
    for f in frames:
        bpy.context.scene.frame_set(f)
        th, sh = (tgt.pose.bones[roles[f"{r}_{side}"]] for r in ("thigh", "shin"))
        a = np.array(th.tail - th.head)
        b = np.array(sh.tail - sh.head)
        cos = a @ b / np.linalg.norm(a) / np.linalg.norm(b)
        out.append(np.degrees(np.arccos(np.clip(cos, -1, 1))))
    return np.array(out)


def _state():
    return (
        sorted(o.name for o in bpy.data.objects),
        sorted(a.name for a in bpy.data.actions),
        sorted(c.name for c in bpy.data.collections),
    )


def _contact_array(arm) -> np.ndarray:
    from bl_ext.user_default.biomocap.source import _contact_curves

    curves = _contact_curves(arm)
    assert sorted(curves) == ["heel_l", "heel_r", "toe_l", "toe_r"]
    n = bpy.context.scene.frame_end
    names = ("heel_r", "toe_r", "heel_l", "toe_l")
    return np.array([[curves[k].evaluate(f) for k in names] for f in range(1, n + 1)])


def test_imported_rig_on_the_floor(addon, bundles):
    """The captured body's lowest surface vertex (evaluated by Blender) is on z = 0 when the
    feet are down, not metres below; the take is a fake-user action tied to the capture."""
    reset_scene()
    arm = _import(bundles, surface=True)
    surf = bpy.data.objects[f"{arm.name}_surface"]
    act = arm.animation_data.action
    assert act.use_fake_user and act.get("biomech_capture_id") == arm["biomech_capture_id"]
    n = bpy.context.scene.frame_end
    lows = []
    for f in range(1, n + 1, 2):
        bpy.context.scene.frame_set(f)
        dg = bpy.context.evaluated_depsgraph_get()
        ev = surf.evaluated_get(dg)
        me = ev.to_mesh()
        co = np.empty(len(me.vertices) * 3)
        me.vertices.foreach_get("co", co)
        ev.to_mesh_clear()
        m = np.array(surf.matrix_world)
        lows.append(float((co.reshape(-1, 3) @ m[:3, :3].T + m[:3, 3])[:, 2].min()))
    lows = np.array(lows)
    print(f"\nimported walk: lowest surface vertex per frame {lows.min():.4f}..{lows.max():.4f} m")
    # the surface's sole and the skeleton's sole estimate differ by up to ~2 cm
    assert abs(np.percentile(lows, 5)) < 0.02 and lows.min() > -0.03, lows


def test_contact_track_of_a_real_walk(addon, bundles):
    """CMU walking steps without contacts in the bundle: contacts detected from the feet and
    keyed as custom properties; left and right alternate."""
    reset_scene()
    arm = _import(bundles, name="cmu_131_01_walk")
    c = _contact_array(arm)
    assert c.min() >= 0 and c.max() <= 1
    on_r, on_l = c[:, :2].max(1) >= 0.5, c[:, 2:].max(1) >= 0.5
    assert on_r.sum() > 10 and on_l.sum() > 10
    assert (on_r | on_l).mean() > 0.8  # walking: a foot is nearly always down
    assert (on_r & ~on_l).sum() > 5 and (on_l & ~on_r).sum() > 5  # single support, both sides


def test_edited_source_action_changes_the_target(addon, bundles):
    reset_scene()
    src = _import(bundles)
    tgt = load_rig(RIGS["m2m_kenney_mixamo"][0])
    roles = _retarget(src, tgt, lock=False)
    frames = [1, 10, 30]  # knee bent 56, 36, 42 deg: a direction angle that is not near 0
    before = _knee_deg(tgt, roles, "r", frames)
    # the animator bends the right knee 15 deg more in the source action (every key)
    from bl_ext.user_default.biomocap.source import _contact_curves  # noqa: F401

    ad = src.animation_data
    from bpy_extras import anim_utils

    cb = anim_utils.action_get_channelbag_for_slot(ad.action, ad.action_slot)
    (fc,) = [
        f
        for f in cb.fcurves
        if f.data_path == 'pose.bones["tibia_r"].rotation_euler' and f.array_index == 0
    ]
    for kp in fc.keyframe_points:
        kp.co.y += np.deg2rad(15)
    fc.update()
    _retarget(src, tgt, lock=False)
    after = _knee_deg(tgt, roles, "r", frames)
    np.testing.assert_allclose(np.abs(after - before), 15.0, atol=1.0)
    # two takes: the newest plays; the first is still there and plays when switched back
    tracks = tgt.animation_data.nla_tracks
    assert len(tracks) == 2 and not tracks[1].mute and tracks[0].mute
    for a in (tracks[0].strips[0].action, tracks[1].strips[0].action):
        assert a.use_fake_user and a.users >= 2
    tracks[1].mute, tracks[0].mute = True, False
    np.testing.assert_allclose(_knee_deg(tgt, roles, "r", frames), before, atol=1e-3)


def test_armature_stays_tied_to_its_capture(addon, bundles, tmp_path):
    """Overwriting the bundle on disk (a second capture) changes nothing for the armature that
    came from the first; another capture's action on it is refused with one message."""
    import shutil

    reset_scene()
    path = tmp_path / "clip.motion.npz"
    shutil.copyfile(bundles / "walk.motion.npz", path)
    assert bpy.ops.biomech.import_motion(
        filepath=str(path), surface=False, camera=False, bone_meshes=False
    ) == {"FINISHED"}
    first = bpy.context.scene.biomech.source
    tgt = load_rig(RIGS["m2m_kenney_mixamo"][0])
    roles = _retarget(first, tgt, lock=False)
    ref = _knee_deg(tgt, roles, "l", [5, 25])
    shutil.copyfile(bundles / "cmu_01_01.motion.npz", path)  # the capture is overwritten
    assert bpy.ops.biomech.import_motion(
        filepath=str(path), surface=False, camera=False, bone_meshes=False
    ) == {"FINISHED"}
    second = bpy.context.scene.biomech.source
    assert second["biomech_capture_id"] != first["biomech_capture_id"]
    _retarget(first, tgt, lock=False)
    np.testing.assert_allclose(_knee_deg(tgt, roles, "l", [5, 25]), ref, atol=1e-3)
    # the second capture's take on the first armature: refused, nothing made
    from bl_ext.user_default.biomocap import anim

    anim.assign_action(first, second.animation_data.action)
    state = _state()
    tracks = len(tgt.animation_data.nla_tracks)
    s = bpy.context.scene.biomech
    s.source = first
    with pytest.raises(RuntimeError, match="belongs to capture"):
        bpy.ops.biomech.retarget()
    assert _state() == state and len(tgt.animation_data.nla_tracks) == tracks


def test_prior_animation_of_the_character_is_kept(addon, bundles):
    reset_scene()
    tgt = load_rig(RIGS["m2m_kenney_mixamo"][0])
    from bl_ext.user_default.biomocap import anim

    own, cb = anim.new_action(tgt, "wave")
    anim.key_channels(
        cb,
        'pose.bones["LeftArm"].rotation_quaternion',
        np.array([1.0, 10.0]),
        np.array([[1, 0, 0, 0], [0.9, 0.4, 0, 0]]),
    )
    src = _import(bundles)
    _retarget(src, tgt)
    _retarget(src, tgt)
    assert "wave" in bpy.data.actions and bpy.data.actions["wave"].use_fake_user
    tracks = tgt.animation_data.nla_tracks
    names = [t.name for t in tracks]
    assert names[0] == "biomech: original animation" and tracks[0].strips[0].action.name == "wave"
    assert len(tracks) == 3 and [t.mute for t in tracks] == [True, True, False]
    assert tgt.animation_data.action is None


def test_root_motion_modes(addon, bundles):
    """UE-style rig: horizontal travel on ``root``, height on the pelvis; in place: none."""
    reset_scene()
    src = _import(bundles, name="cmu_131_01_walk")
    tgt = load_rig(RIGS["m2m_male"][0])
    roles = _retarget(src, tgt, root="root")
    n = bpy.context.scene.frame_end
    scene = bpy.context.scene

    def track(name):
        out = []
        for f in (1, n // 2, n):
            scene.frame_set(f)
            out.append(np.array(tgt.matrix_world @ tgt.pose.bones[name].head))
        return np.array(out)

    root, hips = track("root"), track(roles["hips"])
    travel = np.linalg.norm(root[-1, :2] - root[0, :2])
    assert travel > 0.5, root  # 2.5 s of walking
    assert np.abs(root[:, 2]).max() < 1e-5  # the root stays on the floor
    assert np.linalg.norm(hips[:, :2] - root[:, :2], axis=1).max() < 0.25  # hips above the root
    assert np.linalg.norm(root[0, :2]) < 1e-4  # the take starts at the character's place
    _retarget(src, tgt, root="in_place")
    hips2 = track(roles["hips"])
    root2 = track("root")
    assert np.linalg.norm(root2 - root2[0], axis=1).max() < 1e-5
    assert np.linalg.norm(hips2[-1, :2] - hips2[0, :2]) < 0.25
    np.testing.assert_allclose(hips2[:, 2], hips[:, 2], atol=0.03)  # height kept


def test_bad_input_one_message_nothing_made(addon, bundles, tmp_path):
    reset_scene()
    src = _import(bundles)
    tgt = load_rig(RIGS["m2m_kenney_mixamo"][0])
    # 1. a target with no recognisable bones
    data = bpy.data.armatures.new("blob")
    blob = bpy.data.objects.new("blob", data)
    bpy.context.scene.collection.objects.link(blob)
    bpy.context.view_layer.objects.active = blob
    bpy.ops.object.mode_set(mode="EDIT")
    for k, name in enumerate(("a", "b", "c")):
        eb = data.edit_bones.new(name)
        eb.head, eb.tail = (0, 0, k), (0, 0, k + 1)
    bpy.ops.object.mode_set(mode="OBJECT")
    s = bpy.context.scene.biomech
    s.mapping.clear()
    s.source, s.target = src, blob
    state = _state()
    with pytest.raises(RuntimeError, match="no recognisable bone names"):
        bpy.ops.biomech.retarget()
    assert _state() == state and blob.animation_data is None
    # 2. a source that is not an imported capture
    s.mapping.clear()
    s.source, s.target = tgt, src
    with pytest.raises(RuntimeError, match="not an imported biomocap capture"):
        bpy.ops.biomech.retarget()
    assert _state() == state
    # 3. a capture whose video moved
    z = dict(np.load(bundles / "walk.motion.npz"))
    z["provenance_json"] = np.array(json.dumps({"source": str(tmp_path / "moved" / "clip.mp4")}))
    np.savez(tmp_path / "moved.motion.npz", **z)
    with pytest.raises(RuntimeError, match="video .* is not there"):
        bpy.ops.biomech.import_motion(filepath=str(tmp_path / "moved.motion.npz"), camera=True)
    assert _state() == state


def test_resample_to_scene_rate_and_smoothing(addon, bundles):
    reset_scene()
    scene = bpy.context.scene
    scene.render.fps, scene.render.fps_base = 24, 1.0
    arm = _import(bundles, resample_to_scene=True, smoothing=1.5)
    assert scene.render.fps == 24 and abs(scene.render.fps_base - 1) < 1e-9
    # 60 frames at 30 fps (1.967 s) -> 48 frames at 24 fps
    assert scene.frame_end == 48
    act = arm.animation_data.action
    assert int(round(act.frame_range[1])) == 48
    assert "24fps" in act.name and "s1.5" in act.name


@pytest.mark.skipif(os.name == "nt", reason="shell wrapper")
def test_captures_are_takes_with_one_progress_bar_and_undo(fake_core, monkeypatch):
    """Two captures: two takes (own collection, armature, fake-user action) and the first still
    plays; the panel's progress is one bar 0..1 over all stages; undo removes a capture, an
    import and a retarget again."""
    from bl_ext.user_default.biomocap import ops_capture

    monkeypatch.setenv("FAKE_CAPTURE_MODE", "ok")
    # Background Blender: the first push starts the undo system. A button press pushes an undo
    # step after an operator with the UNDO flag; from Python the test pushes it, as the UI does.
    bpy.ops.ed.undo_push(message="init")
    bpy.ops.ed.undo_push(message="start")
    before = _state()
    assert "UNDO" in bpy.types.BIOMECH_OT_capture_from_video.bl_options
    assert bpy.ops.biomech.capture_from_video() == {"FINISHED"}
    bpy.ops.ed.undo_push(message="Capture from Video")
    hist = list(ops_capture.PROGRESS_HISTORY)
    assert hist[0] < 0.1 and hist[-1] == 1.0 and len(hist) >= 10
    assert all(b >= a for a, b in zip(hist, hist[1:], strict=False)), hist
    assert _state() != before
    bpy.ops.ed.undo()
    assert _state() == before
    assert bpy.ops.biomech.capture_from_video() == {"FINISHED"}
    first = bpy.context.scene.biomech.source.name
    assert bpy.ops.biomech.capture_from_video() == {"FINISHED"}
    second = bpy.context.scene.biomech.source.name
    arms = [bpy.data.objects[n] for n in (first, second)]
    acts = [a.animation_data.action for a in arms]
    assert first != second and acts[0] != acts[1]
    assert all(a.use_fake_user for a in acts)
    assert arms[0].users_collection[0] != arms[1].users_collection[0]
    scene = bpy.context.scene
    heads = []
    for f in (1, 20):
        scene.frame_set(f)
        heads.append(np.array(arms[0].pose.bones["tibia_r"].head))
    assert np.linalg.norm(heads[1] - heads[0]) > 0.05  # the first take still plays
    # undo an import and a retarget
    bpy.ops.ed.undo_push(message="before import")
    before = _state()
    assert bpy.ops.biomech.import_motion(
        filepath=str(fake_core / "out" / "clip.motion.npz"), surface=False, camera=False
    ) == {"FINISHED"}
    bpy.ops.ed.undo_push(message="Import Motion")
    bpy.ops.ed.undo()
    assert _state() == before
    tgt_name = load_rig(RIGS["m2m_kenney_mixamo"][0]).name
    bpy.ops.ed.undo_push(message="character loaded")
    before = _state()
    _retarget(bpy.data.objects[first], bpy.data.objects[tgt_name])
    bpy.ops.ed.undo_push(message="Retarget and Bake")
    assert _state() != before
    bpy.ops.ed.undo()
    assert _state() == before
    tgt = bpy.data.objects[tgt_name]
    assert tgt.animation_data is None or not len(tgt.animation_data.nla_tracks)


def test_people_preview_boxes_who_is_who(addon, tmp_path):
    """The Person setting's preview: the core's detector (the real one, in the core's .venv) on
    the Sports2D clip, which shows two people; the panel's image is that frame with both boxed."""
    from tests.blender.conftest import CORE_PYTHON, EXT_MODULE
    from tests.conftest import shared_path

    if not CORE_PYTHON.is_file():
        pytest.skip("the core .venv is not set up")
    video = shared_path("videos", "sports2d", "demo.mp4")
    prefs = bpy.context.preferences.addons[EXT_MODULE].preferences
    old = prefs.core_python
    prefs.core_python = str(CORE_PYTHON)
    try:
        reset_scene()
        s = bpy.context.scene.biomech
        s.video_path, s.frame_start = str(video), 60  # 2 s in: both people in view
        assert bpy.ops.biomech.preview_frame() == {"FINISHED"}
    finally:
        prefs.core_python = old
    img = bpy.data.images["biomech video preview"]
    assert tuple(img.size) == (1768, 994)
    assert s.preview_people == 2
    s.video_path = str(tmp_path / "moved.mp4")
    with pytest.raises(RuntimeError, match="video not found"):
        bpy.ops.biomech.preview_frame()
