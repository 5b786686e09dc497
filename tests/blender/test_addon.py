"""The add-on inside real Blender (bpy 5.2): installed from its zip with Blender's extension
installer, importing bundles written by the core, checked against core.fk_numpy (computed in the
3.11 .venv: an independent reference), and the capture operator against a stand-in process."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

from tests.blender.conftest import EXT_MODULE, reset_scene

bpy = pytest.importorskip("bpy")

HERE = Path(__file__).resolve().parent


def _shift(arm) -> np.ndarray:
    """The floor shift the import applied (OpenSim frame): a pure vertical translation."""
    sh = np.array(arm["biomech_floor_shift_m"])
    assert sh[0] == 0 and sh[2] == 0 and abs(sh[1]) < 0.5, sh
    return sh


def _import_walk(bundles: Path, **kw):
    reset_scene()
    res = bpy.ops.biomech.import_motion(filepath=str(bundles / "walk.motion.npz"), **kw)
    assert res == {"FINISHED"}
    return bpy.context.scene.biomech.source


def test_extension_is_installed_and_registered(addon):
    assert addon.__name__ == EXT_MODULE
    for op in (
        "capture_from_video",
        "import_motion",
        "retarget",
        "export_character",
        "detect_mapping",
        "save_mapping_preset",
        "load_mapping_preset",
    ):
        assert hasattr(bpy.ops.biomech, op), op
    assert bpy.types.BIOMECH_OT_capture_from_video.bl_idname == "biomech.capture_from_video"
    for panel in ("BIOMECH_PT_capture", "BIOMECH_PT_import", "BIOMECH_PT_retarget"):
        cls = getattr(bpy.types, panel)
        assert cls.bl_category == "Biomech" and cls.bl_space_type == "VIEW_3D"
    assert type(bpy.context.scene.biomech).__name__ == "BIOMECH_PG_settings"
    assert bpy.context.preferences.addons[EXT_MODULE].preferences is not None


def test_import_matches_core_forward_kinematics(addon, bundles):
    from bl_ext.user_default.biomocap.logic import bsm46
    from bl_ext.user_default.biomocap.logic.kinematics import to_blender

    arm = _import_walk(bundles)
    ref = np.load(bundles / "walk_ref.npz")
    t = ref["q_rad"].shape[0]
    scene = bpy.context.scene
    assert [b.name for b in arm.data.bones] == list(bsm46.BODY_NAMES)
    assert (scene.frame_start, scene.frame_end, scene.render.fps) == (1, t, 30)
    pos_err = rot_err = 0.0
    for f in (1, 13, 31, t):
        scene.frame_set(f)
        for i, name in enumerate(bsm46.BODY_NAMES):
            pb = arm.pose.bones[name]
            head = np.array(arm.matrix_world @ pb.head)
            rot = np.array(pb.matrix.to_3x3()) @ np.array(pb.bone.matrix_local.to_3x3()).T
            want = to_blender(ref["origins"][f - 1, i] + _shift(arm))
            pos_err = max(pos_err, np.abs(head - want).max())
            rot_err = max(rot_err, np.abs(rot - to_blender(ref["rotations"][f - 1, i])).max())
    assert pos_err < 1e-5, pos_err  # metres
    assert rot_err < 1e-5, rot_err


def test_hinges_are_hinges_and_limits_hold(addon, bundles):
    arm = _import_walk(bundles)
    scene = bpy.context.scene
    for name in ("tibia_r", "ulna_l", "talus_r"):
        pb = arm.pose.bones[name]
        assert pb.rotation_mode != "QUATERNION"
        assert sum(pb.lock_rotation) == 2, name
        (c,) = [c for c in pb.constraints if c.type == "LIMIT_ROTATION"]
        assert c.owner_space == "LOCAL"
    knee = arm.pose.bones["tibia_r"]
    lim = knee.constraints[0]
    assert lim.use_limit_x and np.isclose(lim.max_x, np.deg2rad(135))
    # a keyed walk never leaves the limits; a hand-set hyperextension is clamped to 0
    arm.animation_data.action = None
    scene.frame_set(1)
    knee.rotation_euler = (-0.6, 0.0, 0.0)
    bpy.context.view_layer.update()
    parent = arm.pose.bones["femur_r"]
    rel = (parent.bone.matrix_local.inverted() @ knee.bone.matrix_local).inverted() @ (
        parent.matrix.inverted() @ knee.matrix
    )
    assert abs(rel.to_euler("XYZ").x) < 1e-6  # clamped at the 0 deg limit
    knee.rotation_euler = (0.7, 0.0, 0.0)
    bpy.context.view_layer.update()
    rel = (parent.bone.matrix_local.inverted() @ knee.bone.matrix_local).inverted() @ (
        parent.matrix.inverted() @ knee.matrix
    )
    assert abs(rel.to_euler("XYZ").x - 0.7) < 1e-6


def test_surface_follows_linear_blend_skinning(addon, bundles):
    """Blender's armature modifier on the imported surface equals LBS computed here in numpy from
    the core's FK (world rotations/origins) and the bundle's skin weights."""
    from bl_ext.user_default.biomocap.logic.bundle import read_bundle
    from bl_ext.user_default.biomocap.logic.kinematics import to_blender

    arm = _import_walk(bundles)
    surf = bpy.data.objects[f"{arm.name}_surface"]
    b = read_bundle(bundles / "walk.motion.npz")
    ref = np.load(bundles / "walk_ref.npz")
    s = b.surface
    f = 25
    bpy.context.scene.frame_set(f)
    dg = bpy.context.evaluated_depsgraph_get()
    ev = surf.evaluated_get(dg)
    mesh = ev.to_mesh()
    got = np.empty(len(mesh.vertices) * 3)
    mesh.vertices.foreach_get("co", got)
    ev.to_mesh_clear()
    got = got.reshape(-1, 3) @ np.array(surf.matrix_world.to_3x3()).T + np.array(
        surf.matrix_world.translation
    )
    from bl_ext.user_default.biomocap.logic.kinematics import forward_kinematics

    _, rest_o = forward_kinematics(np.zeros(46), np.zeros(3), b.offsets_m)
    rot, org = ref["rotations"][f - 1], ref["origins"][f - 1]
    v = s.vertices_m
    want = np.zeros_like(v)
    for k in range(s.skin_bodies.shape[1]):
        bi = s.skin_bodies[:, k]
        local = v - rest_o[bi]
        want += s.skin_weights[:, k, None] * (np.einsum("vij,vj->vi", rot[bi], local) + org[bi])
    want /= s.skin_weights.sum(1, keepdims=True)
    err = np.abs(got - to_blender(want + _shift(arm))).max()
    assert len(got) == len(v)
    assert err < 1e-4, err


def test_camera_matches_the_bundle_projection(addon, bundles):
    from bl_ext.user_default.biomocap.logic.kinematics import to_blender
    from bpy_extras.object_utils import world_to_camera_view
    from mathutils import Vector

    arm = _import_walk(bundles)
    cam = bpy.data.objects["walk_camera"]
    z = np.load(bundles / "walk.motion.npz")
    f_px, cx, cy, w, h = z["camera_intrinsics"].tolist()
    r, t = z["camera_rotation"], z["camera_translation_m"]
    pts = np.load(bundles / "walk_ref.npz")["origins"][::10].reshape(-1, 3)
    pc = pts @ r.T + t
    want = np.stack([f_px * pc[:, 0] / pc[:, 2] + cx, f_px * pc[:, 1] / pc[:, 2] + cy], 1)
    scene = bpy.context.scene
    got = []
    for p in pts:
        ndc = world_to_camera_view(scene, cam, Vector(to_blender(p + _shift(arm))))
        got.append((ndc.x * w, (1 - ndc.y) * h))
    err = np.abs(np.array(got) - want).max()
    assert err < 0.5, err  # pixels


def test_video_becomes_the_camera_background(addon, bundles):
    from tests.conftest import shared_path

    video = shared_path("videos", "sports2d", "demo.mp4")
    _import_walk(bundles, video=str(video))
    cam = bpy.data.objects["walk_camera"].data
    assert cam.show_background_images and len(cam.background_images) == 1
    bg = cam.background_images[0]
    assert bg.source == "MOVIE_CLIP" and bg.clip is not None
    assert tuple(bg.clip.size) == (1768, 994)  # the real clip's resolution, read by Blender
    scene = bpy.context.scene
    assert (scene.render.resolution_x, scene.render.resolution_y) == (1280, 720)  # bundle camera


def test_import_opensim_pair_matches_core_fk(addon, bundles):
    """.osim + .mot written by biomech_export (opensim in the 3.11 .venv) import to the same pose
    as the bundle they came from; retargeting works from that source too."""
    from bl_ext.user_default.biomocap.logic import bsm46
    from bl_ext.user_default.biomocap.logic.kinematics import to_blender

    mot = bundles / "walk_opensim" / "walk.mot"
    if not mot.is_file():
        pytest.skip("biomech_export did not write walk_opensim/ (opensim missing in .venv)")
    reset_scene()
    assert bpy.ops.biomech.import_opensim(filepath=str(mot)) == {"FINISHED"}
    arm = bpy.context.scene.biomech.source
    ref = np.load(bundles / "walk_ref.npz")
    err = 0.0
    for f in (1, 30, 60):
        bpy.context.scene.frame_set(f)
        for i, name in enumerate(bsm46.BODY_NAMES):
            head = np.array(arm.matrix_world @ arm.pose.bones[name].head)
            err = max(err, np.abs(head - to_blender(ref["origins"][f - 1, i] + _shift(arm))).max())
    assert err < 1e-5, err
    assert bpy.context.scene.frame_end == 60 and bpy.context.scene.render.fps == 30
    from tests.blender.test_retarget import RIGS, load_rig

    tgt = load_rig(RIGS["m2m_male"][0])
    bpy.context.scene.biomech.target = tgt
    assert bpy.ops.biomech.retarget() == {"FINISHED"}


def test_import_rejects_newer_format(addon, bundles, tmp_path):
    z = dict(np.load(bundles / "walk.motion.npz"))
    z["format_version"] = np.array(99)
    np.savez(tmp_path / "future.motion.npz", **z)
    reset_scene()
    with pytest.raises(RuntimeError, match="newer than this add-on reads"):
        bpy.ops.biomech.import_motion(filepath=str(tmp_path / "future.motion.npz"))
    assert not bpy.data.objects


# ------------------------------------------------------------------ capture (stand-in process)
@pytest.mark.skipif(os.name == "nt", reason="shell wrapper")
def test_capture_operator_imports_the_result(fake_core, monkeypatch):
    monkeypatch.setenv("FAKE_CAPTURE_MODE", "ok")
    assert bpy.ops.biomech.capture_from_video() == {"FINISHED"}
    s = bpy.context.scene.biomech
    assert s.status == "captured clip.motion.npz"
    assert s.source is not None and len(s.source.data.bones) == 24
    assert (fake_core / "out" / "clip.motion.npz").is_file()


@pytest.mark.skipif(os.name == "nt", reason="shell wrapper")
def test_capture_operator_reports_core_errors_in_one_line(fake_core, monkeypatch):
    monkeypatch.setenv("FAKE_CAPTURE_MODE", "error")
    with pytest.raises(RuntimeError) as e:
        bpy.ops.biomech.capture_from_video()
    assert "capture failed: no person found in the video (second line should be folded)" in str(
        e.value
    )
    assert not bpy.data.objects  # nothing half-imported
    monkeypatch.setenv("FAKE_CAPTURE_MODE", "crash")
    with pytest.raises(RuntimeError, match="exited with code 3: Traceback"):
        bpy.ops.biomech.capture_from_video()
    assert not bpy.data.objects


@pytest.mark.skipif(os.name == "nt", reason="shell wrapper")
def test_capture_cancel_kills_and_imports_nothing(fake_core, monkeypatch):
    """The modal operator's machinery (start_job + CaptureJob.poll/cancel, as its timer and Esc
    handlers call them); the modal event loop itself needs a window and is not run here."""
    import time

    from bl_ext.user_default.biomocap import ops_capture

    monkeypatch.setenv("FAKE_CAPTURE_MODE", "slow")
    job = ops_capture.start_job(bpy.context)
    assert job.argv[-2:] == ["--device", "cpu"] and "--height" in job.argv
    t0 = time.monotonic()
    while job.last.stage in ("", "starting"):
        job.poll()
        time.sleep(0.02)
        assert time.monotonic() - t0 < 30
    assert 0.0 <= job.last.progress <= 1.0
    job.cancel()
    job.poll()
    assert job.outcome.status == "cancelled"
    assert job.proc.returncode < 0
    assert not (fake_core / "out" / "clip.motion.npz").exists()
    assert not bpy.data.objects


def test_capture_operator_explains_missing_settings(addon):
    reset_scene()
    bpy.context.scene.biomech.video_path = ""
    with pytest.raises(RuntimeError, match="pick a video file first"):
        bpy.ops.biomech.capture_from_video()


def _drive_modal(fake_core, mode: str, monkeypatch, esc_after_stage: bool):
    """Call the modal operator's handler with synthetic TIMER (and ESC) events, the way the
    window manager would; ``self`` is a stand-in holding the operator's state."""
    import time
    from types import SimpleNamespace

    from bl_ext.user_default.biomocap import ops_capture

    op_cls = ops_capture.BIOMECH_OT_capture_from_video
    monkeypatch.setenv("FAKE_CAPTURE_MODE", mode)
    reports = []
    op = SimpleNamespace(
        _job=ops_capture.start_job(bpy.context),
        _timer=None,
        report=lambda kind, msg: reports.append((kind, msg)),
    )
    op._cleanup = lambda ctx: op_cls._cleanup(op, ctx)
    seen = []
    t0 = time.monotonic()
    while True:
        assert time.monotonic() - t0 < 60
        if esc_after_stage and op._job.last.stage not in ("", "starting"):
            return op_cls.modal(op, bpy.context, SimpleNamespace(type="ESC")), reports, seen, op
        ret = op_cls.modal(op, bpy.context, SimpleNamespace(type="TIMER"))
        seen.append(bpy.context.scene.biomech.status)
        if ret != {"RUNNING_MODAL"}:
            return ret, reports, seen, op
        time.sleep(0.05)


@pytest.mark.skipif(os.name == "nt", reason="shell wrapper")
def test_modal_handler_progress_and_import(fake_core, monkeypatch):
    ret, reports, seen, _op = _drive_modal(fake_core, "ok", monkeypatch, esc_after_stage=False)
    assert ret == {"FINISHED"}, reports
    assert any(s.startswith(("detect", "neurik", "surface", "refine", "export")) for s in seen)
    assert bpy.context.scene.biomech.source is not None
    assert reports[-1][0] == {"INFO"}


@pytest.mark.skipif(os.name == "nt", reason="shell wrapper")
def test_modal_handler_escape_cancels(fake_core, monkeypatch):
    ret, reports, _seen, op = _drive_modal(fake_core, "slow", monkeypatch, esc_after_stage=True)
    assert ret == {"CANCELLED"}
    assert reports == [({"WARNING"}, "capture cancelled")]
    assert op._job.proc.returncode is not None and op._job.proc.returncode < 0
    assert not bpy.data.objects
    assert not (fake_core / "out" / "clip.motion.npz").exists()


class _RecordingLayout:
    """Stands in for bpy.types.UILayout (no UI in background mode): checks that every property
    and operator a panel draws exists."""

    def __init__(self, log):
        self.log = log

    def _sub(self, *a, **k):
        return self

    column = row = box = split = _sub

    def prop(self, data, name, **kw):
        assert name in data.bl_rna.properties, name
        self.log.append(("prop", name))

    def prop_search(self, data, name, search_data, search_name, **kw):
        assert name in data.bl_rna.properties and hasattr(search_data, search_name)

    def operator(self, idname, **kw):
        mod, name = idname.split(".")
        assert hasattr(getattr(bpy.ops, mod), name), idname
        self.log.append(("operator", idname))
        from types import SimpleNamespace

        return SimpleNamespace()

    def label(self, **kw):
        self.log.append(("label", kw.get("text")))

    def progress(self, **kw):
        self.log.append(("progress", kw.get("text")))

    def template_list(self, listtype, list_id, data, prop, active_data, active_prop, **kw):
        assert hasattr(bpy.types, listtype) and prop in data.bl_rna.properties
        self.log.append(("list", prop))


def test_panels_draw(addon, bundles):
    from types import SimpleNamespace

    from bl_ext.user_default.biomocap import panels

    _import_walk(bundles)
    s = bpy.context.scene.biomech
    s.status, s.progress = "detect 42% frame 10", 0.42
    log = []
    for cls in (panels.BIOMECH_PT_capture, panels.BIOMECH_PT_import, panels.BIOMECH_PT_retarget):
        cls.draw(SimpleNamespace(layout=_RecordingLayout(log)), bpy.context)
    assert ("operator", "biomech.capture_from_video") in log
    assert ("progress", "detect 42% frame 10") in log
    for p in (
        "video_path",
        "height_m",
        "mass_kg",
        "focal_px",
        "fov_deg",
        "frame_start",
        "frame_end",
        "device",
        "target",
        "source",
    ):
        assert ("prop", p) in log, p
    assert ("list", "mapping") in log
