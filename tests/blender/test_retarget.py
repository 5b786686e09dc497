"""Retarget onto every character in ../shared/data/rigs, bake, export with Blender's FBX, BVH and
glTF exporters, re-import each export with Blender's importers and compare; Workbench renders.

Measured per rig (also written to out/blender/retarget_metrics.json):
* Blender's evaluated pose vs the logic's predicted pose (checks the pose-basis maths);
* end-effector paths (ankles = foot heads, wrists = hand heads) relative to the limb's root joint
  against the source's, scaled by the leg-length ratio (reported) and by the limb's own length
  ratio (asserted: characters' arm/leg proportions differ from the subject's);
* off-axis rotation of knees and elbows between frames (a hinge turns about one axis);
* feet on the ground: lowest foot/toe head over the clip vs at rest.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import numpy as np
import pytest

from tests.blender.conftest import OUT, reset_scene
from tests.conftest import shared_path

bpy = pytest.importorskip("bpy")

RIGS = {
    "rigify_basic_metarig": (
        "blender_rigify_generated/rigify_basic_human_metarig.glb",
        "rigify_metarig",
    ),
    "rigify_human_metarig": (
        "blender_rigify_generated/rigify_human_metarig.blend",
        "rigify_metarig",
    ),
    "cesium_man": ("khronos_CesiumMan/CesiumMan.glb", "cesium_man"),
    "m2m_male": ("mesh2motion/human-male.glb", "unreal"),
    "m2m_female": ("mesh2motion/human-female.glb", "unreal"),
    "m2m_zombie": ("mesh2motion/human-zombie.glb", "unreal"),
    "m2m_rig_human": ("mesh2motion/rig-human.glb", "unreal"),
    "m2m_kenney_mixamo": ("mesh2motion/human-kenney-retarget-rig.glb", "mixamo"),
}
FRAMES = list(range(1, 61, 3))
METRICS: dict[str, dict] = {}


def load_rig(rel: str):
    path = shared_path("rigs", *rel.split("/"))
    before = set(bpy.data.objects)
    if path.suffix == ".glb":
        bpy.ops.import_scene.gltf(filepath=str(path))
    else:
        with bpy.data.libraries.load(str(path)) as (src, dst):
            dst.objects = list(src.objects)
        for o in dst.objects:
            bpy.context.scene.collection.objects.link(o)
    arms = [o for o in bpy.data.objects if o not in before and o.type == "ARMATURE"]
    assert len(arms) == 1, arms
    return arms[0]


def sample(arm, names, frames, *, local=False, shift=0):
    """(F, K, 3) heads and (F, K, 3, 3) armature-space rotations of the named pose bones."""
    pos, rot = [], []
    mw = arm.matrix_world
    for f in frames:
        bpy.context.scene.frame_set(f + shift)
        pos.append(
            [
                np.array(arm.pose.bones[n].head if local else mw @ arm.pose.bones[n].head)
                for n in names
            ]
        )
        rot.append(
            [
                np.array(arm.pose.bones[n].matrix.to_3x3())
                @ np.array(arm.pose.bones[n].bone.matrix_local.to_3x3()).T
                for n in names
            ]
        )
    return np.array(pos), np.array(rot)


def retarget_and_measure(bundles: Path, clip: str, key: str) -> tuple[object, dict]:
    from bl_ext.user_default.biomocap.logic import bsm46
    from bl_ext.user_default.biomocap.logic.bundle import read_bundle
    from bl_ext.user_default.biomocap.logic.retarget import hinge_off_axis_deg, retarget
    from bl_ext.user_default.biomocap.logic.rigs import BoneMapping
    from bl_ext.user_default.biomocap.ops_retarget import rig_rest

    rel, convention = RIGS[key]
    reset_scene()
    assert bpy.ops.biomech.import_motion(
        filepath=str(bundles / f"{clip}.motion.npz"), surface=False, camera=False
    ) == {"FINISHED"}
    tgt = load_rig(rel)
    s = bpy.context.scene.biomech
    s.target = tgt
    assert bpy.ops.biomech.detect_mapping() == {"FINISHED"}
    assert s.convention == convention
    # the retarget's own maths here: no foot lock, all travel on the hips (test_feet.py and
    # test_takes.py measure those)
    s.foot_lock, s.root_motion = False, "hips"
    t0 = time.perf_counter()
    assert bpy.ops.biomech.retarget() == {"FINISHED"}
    bake_s = time.perf_counter() - t0
    roles = s.mapping_dict()
    rig = rig_rest(tgt)
    b = read_bundle(bundles / f"{clip}.motion.npz")
    res = retarget(b.q_rad, b.root_m, b.offsets_m, rig, BoneMapping(convention, roles))
    ref = np.load(bundles / f"{clip}_ref.npz")
    frames = [f for f in FRAMES if f <= b.n_frames]
    names = list(roles.values())
    pos_w, rot = sample(tgt, names, frames)
    pos, _ = sample(tgt, names, frames, local=True)
    at = {r: i for i, r in enumerate(roles)}
    # 1. Blender's pose == predicted pose
    idx = rig.index
    pred = res.pose[np.array(frames) - 1][:, [idx[n] for n in names]][..., :3, 3]
    pose_err = float(np.abs(pos - pred).max())
    # 2. end effectors vs source, scaled by leg length
    h = rig.head
    tleg = float(
        np.mean(
            [
                np.linalg.norm(h(roles[f"shin_{x}"]) - h(roles[f"thigh_{x}"]))
                + np.linalg.norm(h(roles[f"foot_{x}"]) - h(roles[f"shin_{x}"]))
                for x in "lr"
            ]
        )
    )
    o = ref["origins"][np.array(frames) - 1]
    B = bsm46.BODY
    eff, eff_leg = {}, {}
    limbs = (
        ("foot_l", "talus_l", "thigh_l", "femur_l", "shin_l", "tibia_l"),
        ("foot_r", "talus_r", "thigh_r", "femur_r", "shin_r", "tibia_r"),
        ("hand_l", "hand_l", "upper_arm_l", "humerus_l", "forearm_l", "ulna_l"),
        ("hand_r", "hand_r", "upper_arm_r", "humerus_r", "forearm_r", "ulna_r"),
    )
    for role, body, base_role, base_body, mid_role, mid_body in limbs:
        if not all(r in roles for r in (role, base_role, mid_role)):
            continue
        src = (o[:, B[body]] - o[:, B[base_body]]) @ res.axes.T
        got = pos[:, at[role]] - pos[:, at[base_role]]
        # as asked: source scaled by the leg-length ratio, error in target leg lengths
        eff_leg[role] = float(np.linalg.norm(src * res.scale - got, axis=1).max() / tleg)
        # and scaled by the limb's own length ratio (arms differ from legs between characters)
        tl = np.linalg.norm(h(roles[mid_role]) - h(roles[base_role])) + np.linalg.norm(
            h(roles[role]) - h(roles[mid_role])
        )
        sl = np.linalg.norm(ref["offsets_m"][B[mid_body]]) + np.linalg.norm(
            ref["offsets_m"][B[body]]
            if role.startswith("foot")
            else ref["offsets_m"][B[body.replace("hand", "radius")]] + ref["offsets_m"][B[body]]
        )
        eff[role] = float(np.linalg.norm(src * tl / sl - got, axis=1).max() / tl)
    # 3. hinges
    hinge = {
        c: hinge_off_axis_deg(rot[:, at[p]], rot[:, at[c]])
        for c, p in (
            ("shin_l", "thigh_l"),
            ("shin_r", "thigh_r"),
            ("forearm_l", "upper_arm_l"),
            ("forearm_r", "upper_arm_r"),
        )
        if c in roles and p in roles
    }
    # 4. feet on the ground (world z, the rigs stand on z = 0 in world)
    feet = [at[r] for r in ("foot_l", "foot_r", "toe_l", "toe_r") if r in roles]
    rest_low = min(float((tgt.matrix_world @ tgt.data.bones[names[i]].head_local).z) for i in feet)
    ground_err = abs(float(pos_w[:, feet, 2].min()) - rest_low) / tleg
    m = {
        "convention": convention,
        "roles": len(roles),
        "bones": len(tgt.data.bones),
        "scale": res.scale,
        "pose_err_m": pose_err,
        "effector_err_limb": eff,
        "effector_err_leg_scaled": eff_leg,
        "hinge_off_axis_deg": hinge,
        "ground_err_leg": ground_err,
        "bake_s": bake_s,
        "leg_m": tleg,
    }
    return tgt, m


@pytest.mark.parametrize("key", list(RIGS))
def test_retarget_bake_export_reimport(addon, bundles, key, tmp_path):
    from bl_ext.user_default.biomocap.ops_export import export_character

    tgt, m = retarget_and_measure(bundles, "walk", key)
    assert m["pose_err_m"] < 1e-4 * max(1.0, m["leg_m"])
    for role, err in m["effector_err_limb"].items():
        assert err < (0.05 if role.startswith("foot") else 0.10), (role, err)
    assert len(m["hinge_off_axis_deg"]) >= 2
    for joint, off in m["hinge_off_axis_deg"].items():
        assert off < 0.5, (joint, off)
    assert m["ground_err_leg"] < 0.08
    # exports and re-imports
    s = bpy.context.scene.biomech
    roles = s.mapping_dict()
    eff = [roles[r] for r in ("hand_l", "hand_r", "foot_l", "foot_r") if r in roles]
    n_frames = bpy.context.scene.frame_end
    ref_w, _ = sample(tgt, eff, FRAMES)
    ref_l, _ = sample(tgt, eff, FRAMES, local=True)
    m["exports"] = {}
    for fmt, ext in (("FBX", ".fbx"), ("BVH", ".bvh"), ("GLTF", ".glb")):
        path = tmp_path / f"{key}{ext}"
        export_character(bpy.context, tgt, fmt, str(path))
        assert path.stat().st_size > 0
        before = set(bpy.data.objects)
        if fmt == "FBX":
            bpy.ops.import_scene.fbx(filepath=str(path))
        elif fmt == "BVH":  # Blender's default import (Y up in the file) must stand upright
            bpy.ops.import_anim.bvh(
                filepath=str(path), update_scene_fps=False, update_scene_duration=False
            )
        else:
            bpy.ops.import_scene.gltf(filepath=str(path))
        (new,) = [o for o in bpy.data.objects if o not in before and o.type == "ARMATURE"]
        act = new.animation_data.action
        first, last = (int(round(v)) for v in act.frame_range)
        assert last - first + 1 == n_frames, (fmt, act.frame_range)
        assert len(new.data.bones) == len(tgt.data.bones), fmt
        assert first == 1, (fmt, first)  # frame-exact with the importers' defaults
        got, _ = sample(new, eff, FRAMES)
        # BVH holds the character's armature space: the default import (Y up in the file) must
        # give it back upright, as Blender's Z-up world coordinates
        want = ref_l if fmt == "BVH" else ref_w
        err = float(np.abs(got - want).max()) / m["leg_m"]
        assert err < 1e-3, (fmt, err)
        m["exports"][fmt] = {
            "frames": last - first + 1,
            "first_frame": first,
            "bones": len(new.data.bones),
            "effector_err_leg": err,
        }
        for o in [o for o in bpy.data.objects if o not in before]:
            bpy.data.objects.remove(o)
    METRICS[key] = m
    OUT.mkdir(parents=True, exist_ok=True)
    (OUT / "retarget_metrics.json").write_text(json.dumps(METRICS, indent=1, sort_keys=True))


def test_retarget_real_cmu_clip(addon, bundles):
    if not (bundles / "cmu_01_01.motion.npz").is_file():
        pytest.skip("CMU 01_01.bvh not found in the shared reference data: no CMU bundle")
    _tgt, m = retarget_and_measure(bundles, "cmu_01_01", "m2m_male")
    METRICS["cmu_01_01->m2m_male"] = m
    print(f"\nCMU 01_01 -> UE male: end-effector error / limb length {m['effector_err_limb']}")
    # Real motion drives the arms (scapula, shoulder rotation) far more than the procedural walk:
    # hands are measured at ~14 % of the arm's length here (feet ~2 %); see the issue notes.
    for role, err in m["effector_err_limb"].items():
        assert err < (0.05 if role.startswith("foot") else 0.15), (role, err)
    for joint, off in m["hinge_off_axis_deg"].items():
        assert off < 0.5, (joint, off)


def test_mapping_preset_roundtrip_in_blender(addon, bundles, tmp_path):
    reset_scene()
    tgt = load_rig(RIGS["m2m_kenney_mixamo"][0])
    s = bpy.context.scene.biomech
    s.target = tgt
    bpy.ops.biomech.detect_mapping()
    for item in s.mapping:
        if item.role == "chest":
            item.bone = "UpperChest"  # a user edit
    path = tmp_path / "kenney.json"
    assert bpy.ops.biomech.save_mapping_preset(filepath=str(path)) == {"FINISHED"}
    s.mapping.clear()
    assert bpy.ops.biomech.load_mapping_preset(filepath=str(path)) == {"FINISHED"}
    assert s.mapping_dict()["chest"] == "UpperChest"
    assert json.loads(path.read_text())["roles"]["thigh_l"] == "LeftUpLeg"


def _render(path: Path, frame: int, target: np.ndarray, dist: float) -> None:
    from mathutils import Vector

    scene = bpy.context.scene
    scene.frame_set(frame)
    cam = scene.camera
    eye = Vector(target) + Vector((dist * 0.55, -dist, dist * 0.25))
    cam.location = eye
    cam.rotation_euler = (Vector(target) - eye).to_track_quat("-Z", "Y").to_euler()
    scene.render.filepath = str(path)
    bpy.ops.render.render(write_still=True)


def test_workbench_renders(addon, bundles):
    """PNG renders of the imported rig (surface + bone meshes) and of a retargeted character."""
    OUT.mkdir(parents=True, exist_ok=True)
    reset_scene()
    bpy.ops.biomech.import_motion(filepath=str(bundles / "walk.motion.npz"), camera=False)
    arm = bpy.context.scene.biomech.source
    surf = bpy.data.objects[f"{arm.name}_surface"]
    scene = bpy.context.scene
    scene.render.engine = "BLENDER_WORKBENCH"
    scene.render.resolution_x = scene.render.resolution_y = 512
    scene.render.image_settings.file_format = "PNG"
    scene.display.shading.light = "STUDIO"
    scene.display.shading.color_type = "OBJECT"
    surf.color = (0.8, 0.6, 0.5, 1.0)
    surf.show_transparent = True
    scene.display.shading.show_xray = False
    cam = bpy.data.objects.new("render_cam", bpy.data.cameras.new("render_cam"))
    scene.collection.objects.link(cam)
    scene.camera = cam
    # a second, bones-only view: hide the surface
    written = []
    for f in (1, 20, 40):
        scene.frame_set(f)
        centre = np.array(arm.matrix_world @ arm.pose.bones["pelvis"].head)
        p = OUT / f"imported_surface_f{f:03d}.png"
        _render(p, f, centre, 3.2)
        written.append(p)
    surf.hide_render = True
    for f in (1, 40):
        scene.frame_set(f)
        centre = np.array(arm.matrix_world @ arm.pose.bones["pelvis"].head)
        p = OUT / f"imported_bones_f{f:03d}.png"
        _render(p, f, centre, 3.2)
        written.append(p)
    s = bpy.context.scene.biomech
    tgt = load_rig(RIGS["m2m_male"][0])
    s.target = tgt
    bpy.ops.biomech.retarget()
    arm.hide_render = True
    for o in bpy.data.objects:
        if o.type == "MESH" and o.parent is arm:
            o.hide_render = True
    for f in (1, 20, 40):
        scene.frame_set(f)
        centre = np.array(tgt.matrix_world @ tgt.pose.bones[s.mapping_dict()["hips"]].head)
        p = OUT / f"retargeted_m2m_male_f{f:03d}.png"
        _render(p, f, centre, 3.2)
        written.append(p)
    tgt.hide_render = True
    for o in tgt.children_recursive:
        o.hide_render = True
    for key in ("cesium_man", "m2m_kenney_mixamo"):
        before = set(bpy.data.objects)
        other = load_rig(RIGS[key][0])
        s.target = other
        bpy.ops.biomech.detect_mapping()
        bpy.ops.biomech.retarget()
        scene.frame_set(20)
        hips = other.pose.bones[s.mapping_dict()["hips"]]
        centre = np.array(other.matrix_world @ hips.head)
        top = max((other.matrix_world @ b.tail_local).z for b in other.data.bones)
        centre[2] = 0.5 * top  # frame the whole character, head included
        p = OUT / f"retargeted_{key}_f020.png"
        _render(p, 20, centre, 1.9 * top)
        written.append(p)
        for o in bpy.data.objects:
            if o not in before:
                o.hide_render = True
    for p in written:
        assert p.is_file() and p.stat().st_size > 2000, p
        img = bpy.data.images.load(str(p))
        px = np.array(img.pixels[:]).reshape(-1, 4)
        bpy.data.images.remove(img)
        assert px[:, :3].std() > 0.02, f"{p.name} is blank"


def test_generated_rigify_rig(addon, bundles, rigify_blend):
    """A real generated Rigify rig (Blender's bundled Rigify run on the shared meta-rig): the
    motion is baked onto its FK controls through the rig's own constraints, and its deform (DEF-)
    bones, which the character's mesh follows, must follow the source."""
    from bl_ext.user_default.biomocap.logic import bsm46
    from bl_ext.user_default.biomocap.logic.retarget import hinge_off_axis_deg, target_axes
    from bl_ext.user_default.biomocap.ops_retarget import rig_rest

    from tests.blender.conftest import RIGIFY_GENERATE_S, load_generated_rigify

    reset_scene()
    bpy.ops.biomech.import_motion(
        filepath=str(bundles / "walk.motion.npz"), surface=False, camera=False
    )
    rig = load_generated_rigify(rigify_blend)
    gen_s = RIGIFY_GENERATE_S[0]
    s = bpy.context.scene.biomech
    s.target = rig
    bpy.ops.biomech.detect_mapping()
    assert s.convention == "rigify_generated"
    s.foot_lock, s.root_motion = False, "hips"  # the FK transfer itself (feet: test_feet.py)
    t0 = time.perf_counter()
    assert bpy.ops.biomech.retarget() == {"FINISHED"}
    bake_s = time.perf_counter() - t0
    roles = s.mapping_dict()
    axes = target_axes(rig_rest(rig), roles)
    names = [
        "DEF-thigh.L",
        "DEF-shin.L",
        "DEF-foot.L",
        "DEF-upper_arm.L",
        "DEF-forearm.L",
        "DEF-hand.L",
        "thigh_fk.L",
        "shin_fk.L",
        "upper_arm_fk.L",
        "forearm_fk.L",
    ]
    pos, rot = sample(rig, names, FRAMES, local=True)
    at = {n: i for i, n in enumerate(names)}
    ref = np.load(bundles / "walk_ref.npz")
    o = ref["origins"][np.array(FRAMES) - 1]
    off = ref["offsets_m"]
    B = bsm46.BODY

    def rest(n):
        return np.array(rig.data.bones[n].head_local)

    err = {}
    for tip, mid, base, (sb, smid, stip) in (
        ("DEF-foot.L", "DEF-shin.L", "DEF-thigh.L", ("femur_l", "tibia_l", "talus_l")),
        ("DEF-hand.L", "DEF-forearm.L", "DEF-upper_arm.L", ("humerus_l", "ulna_l", "hand_l")),
    ):
        tl = np.linalg.norm(rest(mid) - rest(base)) + np.linalg.norm(rest(tip) - rest(mid))
        sl = np.linalg.norm(off[B[smid]]) + np.linalg.norm(
            off[B[stip]] + (off[B["radius_l"]] if stip == "hand_l" else 0)
        )
        src = (o[:, B[stip]] - o[:, B[sb]]) @ axes.T * (tl / sl)
        err[tip] = float(
            np.linalg.norm(src - (pos[:, at[tip]] - pos[:, at[base]]), axis=1).max() / tl
        )
    hinge = {
        "knee_fk": hinge_off_axis_deg(rot[:, at["thigh_fk.L"]], rot[:, at["shin_fk.L"]]),
        "elbow_fk": hinge_off_axis_deg(rot[:, at["upper_arm_fk.L"]], rot[:, at["forearm_fk.L"]]),
    }
    METRICS["rigify_generated"] = {
        "bones": len(rig.data.bones),
        "roles": len(roles),
        "generate_s": gen_s,
        "bake_s": bake_s,
        "effector_err_limb": err,
        "hinge_off_axis_deg": hinge,
    }
    OUT.mkdir(parents=True, exist_ok=True)
    (OUT / "retarget_metrics.json").write_text(json.dumps(METRICS, indent=1, sort_keys=True))
    assert err["DEF-foot.L"] < 0.05 and err["DEF-hand.L"] < 0.10, err
    assert max(hinge.values()) < 0.5, hinge


def test_export_operator_and_core_python_detection(addon, bundles, tmp_path, monkeypatch):
    from tests.blender.conftest import CORE_PYTHON, EXT_MODULE

    reset_scene()
    bpy.ops.biomech.import_motion(
        filepath=str(bundles / "walk.motion.npz"), surface=False, camera=False
    )
    tgt = load_rig(RIGS["m2m_kenney_mixamo"][0])
    bpy.context.scene.biomech.target = tgt
    assert bpy.ops.biomech.retarget() == {"FINISHED"}
    for fmt, ext in (("FBX", ".fbx"), ("BVH", ".bvh"), ("GLTF", ".glb")):
        out = tmp_path / f"char{ext}"
        assert bpy.ops.biomech.export_character(format=fmt, filepath=str(out)) == {"FINISHED"}
        assert out.stat().st_size > 1000, fmt
    assert "MOTION" in (tmp_path / "char.bvh").read_text()[:20000]
    prefs = bpy.context.preferences.addons[EXT_MODULE].preferences
    monkeypatch.setenv("BIOMOCAP_PYTHON", str(CORE_PYTHON))
    assert bpy.ops.biomech.detect_core_python() == {"FINISHED"}
    assert prefs.core_python == str(CORE_PYTHON)
    monkeypatch.setenv("BIOMOCAP_PYTHON", str(tmp_path / "missing-python"))
    with pytest.raises(RuntimeError, match="no core interpreter found"):
        bpy.ops.biomech.detect_core_python()
    prefs.core_python = ""
