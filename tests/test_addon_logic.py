"""The Blender add-on's pure logic (blender_addon/logic), tested in the core's .venv without bpy,
against the core's own implementation (skeleton table, FK, Motion IO, CLI parser) and real rig
files (bone names read straight from the .glb JSON)."""

from __future__ import annotations

import json
import os
import signal
import struct
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from blender_addon.logic import bsm46, capture, kinematics, layout, retarget, rigs
from blender_addon.logic.bundle import BundleError, read_bundle
from core import fk_numpy
from core import skeleton as sk
from core.motion import Motion
from tests.conftest import REPO, shared_path

FAKE = REPO / "tests" / "blender" / "fake_capture.py"


def _random_q(n: int, seed: int = 0) -> np.ndarray:
    lo, hi = sk.limits_rad()
    lo = np.where(np.isfinite(lo), lo, -np.pi)
    hi = np.where(np.isfinite(hi), hi, np.pi)
    return np.random.default_rng(seed).uniform(lo, hi, (n, sk.N_DOFS))


# ------------------------------------------------------------------ generated table
def test_generated_table_is_up_to_date():
    r = subprocess.run(
        [sys.executable, str(REPO / "scripts" / "gen_addon_skeleton.py"), "--check"],
        capture_output=True,
        text=True,
    )
    assert r.returncode == 0, r.stdout + r.stderr


def test_generated_table_equals_core_skeleton():
    assert bsm46.DOF_NAMES == sk.DOF_NAMES
    assert bsm46.BODY_NAMES == sk.BODY_NAMES
    np.testing.assert_array_equal(np.array(bsm46.PARENTS), sk.parents())
    np.testing.assert_allclose(kinematics.dof_axes(), sk.dof_axes(), atol=0)
    lo, hi = sk.limits_rad()
    np.testing.assert_array_equal(np.deg2rad([d[3] for d in bsm46.DOFS]), lo)
    np.testing.assert_array_equal(np.deg2rad([d[4] for d in bsm46.DOFS]), hi)
    assert {b.name: b.joint_type for b in sk.BODIES} == bsm46.JOINT_TYPES


# ------------------------------------------------------------------ kinematics
def test_fk_matches_core_fk_numpy():
    q = _random_q(7)
    root = np.random.default_rng(1).normal(size=(7, 3))
    off = sk.default_offsets(1.62)
    r1, o1 = kinematics.forward_kinematics(q, root, off)
    r2, o2 = fk_numpy.forward_kinematics(q, root, off)
    np.testing.assert_allclose(r1, r2, atol=1e-12)
    np.testing.assert_allclose(o1, o2, atol=1e-12)


def test_opensim_to_blender_axes():
    c = kinematics.OPENSIM_TO_BLENDER
    assert np.isclose(np.linalg.det(c), 1.0)
    np.testing.assert_array_equal(kinematics.to_blender(np.array([1.0, 0, 0])), [0, -1, 0])  # fwd
    np.testing.assert_array_equal(kinematics.to_blender(np.array([0, 1.0, 0])), [0, 0, 1])  # up
    np.testing.assert_array_equal(
        kinematics.to_blender(np.array([0, 0, 1.0])), [-1, 0, 0]
    )  # right
    r = fk_numpy.axis_angle_matrix(np.array([[0, 0, 1.0]]), np.array([0.3]))[0]
    v = np.array([0.2, 0.5, -0.1])
    np.testing.assert_allclose(
        kinematics.to_blender(r) @ kinematics.to_blender(v),
        kinematics.to_blender(r @ v),
        atol=1e-12,
    )
    with pytest.raises(ValueError, match="expected"):
        kinematics.to_blender(np.zeros(4))


# ------------------------------------------------------------------ armature layout
def test_layout_channels_reproduce_joint_rotations():
    lay = layout.armature_layout(sk.default_offsets())
    q = _random_q(20, seed=3)
    rots, _ = fk_numpy.forward_kinematics(q, np.zeros((20, 3)), sk.default_offsets())
    vals = layout.pose_values(lay, q)
    par = sk.parents()
    for i, bl in enumerate(lay):
        rel = rots[:, i] if par[i] < 0 else np.swapaxes(rots[:, par[i]], -1, -2) @ rots[:, i]
        f = bl.frame_array
        want = f.T @ rel @ f
        got = (
            layout.matrix_from_quat(vals[bl.body])
            if bl.rotation_mode == "QUATERNION"
            else layout.euler_matrix(vals[bl.body], bl.rotation_mode)
        )
        np.testing.assert_allclose(got, want, atol=1e-9, err_msg=bl.body)
        np.testing.assert_allclose(f.T @ f, np.eye(3), atol=1e-12)
        assert np.isclose(np.linalg.det(f), 1.0)


def test_layout_hinges_are_single_axis_with_limits():
    lay = {b.body: b for b in layout.armature_layout(sk.default_offsets())}
    for body in ("tibia_r", "tibia_l", "ulna_r", "ulna_l", "talus_r", "radius_l", "toes_r"):
        bl = lay[body]
        assert bl.rotation_mode != "QUATERNION"
        assert sum(bl.locked) == 2, body
        ((j, k, s),) = bl.dof_slots
        d = sk.DOFS[j]
        want = np.deg2rad([d.lower_deg, d.upper_deg]) * s
        np.testing.assert_allclose(sorted(bl.limits_rad[k]), sorted(want))
    assert lay["scapula_r"].rotation_mode == "QUATERNION"  # one oblique axis among three
    assert lay["femur_r"].rotation_mode == "YXZ"  # flexion z, adduction x, rotation y
    assert not any(lay["femur_r"].locked)


# ------------------------------------------------------------------ bundle reader
def _motion(n: int = 5) -> Motion:
    q = np.clip(_random_q(n, 4) * 0.3, *sk.limits_rad())
    return Motion(25.0, q, np.zeros((n, 3)) + [0, 0.9, 0], sk.default_offsets(), 1.75, 70.0)


def test_bundle_reader_reads_what_core_writes(tmp_path):
    m = _motion()
    p = m.save(tmp_path / "a.motion.npz")
    b = read_bundle(p)
    np.testing.assert_array_equal(b.q_rad, m.q_rad)
    np.testing.assert_array_equal(b.root_m, m.root_m)
    np.testing.assert_array_equal(b.offsets_m, m.offsets_m)
    assert b.fps == 25.0 and b.n_frames == 5 and b.camera is None and b.surface is None


def test_bundle_reader_contacts_world_and_format_1(tmp_path):
    """Contacts and the world record as the core writes them; a format-1 bundle (skeleton sign
    convention 1) reads with the same angles as the core's own reader gives."""
    m = _motion()
    m.contacts = np.tile([1.0, 0.5, 0.0, 0.25], (5, 1))
    m.world = {"camera_height_m": 1.2, "frame": "world"}
    p = m.save(tmp_path / "w.motion.npz")
    b = read_bundle(p)
    np.testing.assert_array_equal(b.contacts, m.contacts)
    assert b.world["camera_height_m"] == 1.2
    z = dict(np.load(p))
    z["format_version"] = np.array(1)
    np.savez(tmp_path / "v1.motion.npz", **z)
    old = read_bundle(tmp_path / "v1.motion.npz")
    np.testing.assert_allclose(old.q_rad, Motion.load(tmp_path / "v1.motion.npz").q_rad)
    assert not np.allclose(old.q_rad, m.q_rad)  # subtalar/mtp signs did change


def test_bundle_reader_rejects_bad_files(tmp_path):
    p = _motion().save(tmp_path / "a.motion.npz")
    z = dict(np.load(p))
    z["format_version"] = np.array(bsm46.MOTION_FORMAT_VERSION + 1)
    np.savez(tmp_path / "new.motion.npz", **z)
    with pytest.raises(BundleError, match="newer than this add-on reads.*update"):
        read_bundle(tmp_path / "new.motion.npz")
    z["format_version"] = np.array(1)
    z["magic"] = np.array("something.else")
    np.savez(tmp_path / "magic.npz", **z)
    with pytest.raises(BundleError, match="not a biomocap motion bundle"):
        read_bundle(tmp_path / "magic.npz")
    (tmp_path / "text.npz").write_text("hello")
    with pytest.raises(BundleError, match="not a .motion.npz"):
        read_bundle(tmp_path / "text.npz")
    with pytest.raises(BundleError, match="not found"):
        read_bundle(tmp_path / "missing.motion.npz")


# ------------------------------------------------------------------ rig naming
def _glb_joint_names(path: Path) -> list[str]:
    data = path.read_bytes()
    length = struct.unpack_from("<I", data, 12)[0]
    doc = json.loads(data[20 : 20 + length])
    joints = [j for skin in doc.get("skins", []) for j in skin["joints"]]
    return [doc["nodes"][j].get("name", "") for j in joints]


@pytest.mark.parametrize(
    "rel,convention",
    [
        ("blender_rigify_generated/rigify_basic_human_metarig.glb", "rigify_metarig"),
        ("blender_rigify_generated/rigify_human_metarig.glb", "rigify_metarig"),
        ("khronos_CesiumMan/CesiumMan.glb", "cesium_man"),
        ("mesh2motion/human-male.glb", "unreal"),
        ("mesh2motion/human-female.glb", "unreal"),
        ("mesh2motion/human-zombie.glb", "unreal"),
        ("mesh2motion/rig-human.glb", "unreal"),
        ("mesh2motion/human-kenney-retarget-rig.glb", "mixamo"),
    ],
)
def test_detect_naming_on_real_rigs(rel, convention):
    names = _glb_joint_names(shared_path("rigs", *rel.split("/")))
    m = rigs.detect_mapping(names)
    assert m.convention == convention
    assert not m.missing_required()
    assert all(n in names for n in m.roles.values())
    assert m.roles["thigh_l"] != m.roles["thigh_r"]


def test_detect_naming_prefixes_and_unknown():
    names = [
        "mixamorig:" + n
        for n in (
            "Hips",
            "Spine",
            "Spine1",
            "Spine2",
            "Neck",
            "Head",
            "LeftUpLeg",
            "LeftLeg",
            "LeftFoot",
            "LeftToeBase",
            "RightUpLeg",
            "RightLeg",
            "RightFoot",
            "RightToeBase",
            "LeftArm",
            "LeftForeArm",
            "LeftHand",
        )
    ]
    m = rigs.detect_mapping(names)
    assert m.convention == "mixamo"
    assert m.roles["chest"] == "mixamorig:Spine2" and m.roles["toe_r"] == "mixamorig:RightToeBase"
    gen = ["root", "torso", "hips", "chest", "neck", "head", "MCH-torso.parent", "DEF-spine"]
    gen += [
        f"{b}.{s}"
        for b in (
            "thigh_fk",
            "shin_fk",
            "foot_fk",
            "toe_fk",
            "upper_arm_fk",
            "forearm_fk",
            "hand_fk",
            "shoulder",
            "thigh_ik",
            "DEF-thigh",
            "ORG-thigh",
        )
        for s in "LR"
    ]
    m = rigs.detect_mapping(gen)
    assert m.convention == "rigify_generated" and m.roles["shin_r"] == "shin_fk.R"
    assert rigs.detect_mapping(["a", "b", "c"]).convention == "unknown"


def test_mapping_preset_roundtrip_and_errors(tmp_path):
    m = rigs.BoneMapping("unreal", {"hips": "pelvis", "thigh_l": "thigh_l"}, 1.0)
    p = rigs.save_preset(m, tmp_path / "map.json")
    back = rigs.load_preset(p)
    assert back.roles == m.roles and back.convention == "unreal"
    with pytest.raises(ValueError, match="unknown role"):
        rigs.save_preset(rigs.BoneMapping("x", {"tail": "b"}), tmp_path / "bad.json")
    (tmp_path / "other.json").write_text('{"format": "something"}')
    with pytest.raises(ValueError, match="not a biomocap bone-mapping preset"):
        rigs.load_preset(tmp_path / "other.json")


# ------------------------------------------------------------------ retarget maths
def _bsm_rig(q_rest: np.ndarray, offsets: np.ndarray, yaw_deg: float = 0.0) -> rigs.RigRest:
    """The BSM-46 skeleton itself as a target rig, posed (e.g. T-pose) and turned about up."""
    rots, origins = fk_numpy.forward_kinematics(q_rest, np.zeros(3), offsets)
    yaw = fk_numpy.axis_angle_matrix(np.array([[0, 1.0, 0]]), np.array([np.deg2rad(yaw_deg)]))[0]
    c = kinematics.OPENSIM_TO_BLENDER @ yaw
    rest = np.zeros((sk.N_BODIES, 4, 4))
    for i in range(sk.N_BODIES):
        rest[i, :3, :3] = c @ rots[i] @ np.array([[0, 1.0, 0], [-1.0, 0, 0], [0, 0, 1.0]])
        rest[i, :3, 3] = c @ origins[i]
        rest[i, 3, 3] = 1
    names = tuple(f"B_{n}" for n in sk.BODY_NAMES)
    return rigs.RigRest(names, tuple(int(p) for p in sk.parents()), rest, up=c @ [0, 1.0, 0])


def _bsm_mapping() -> rigs.BoneMapping:
    return rigs.BoneMapping(
        "bsm", {r: f"B_{b}" for r, b in rigs.ROLE_BODY.items() if r not in ("neck",)}, 1.0
    )


@pytest.mark.parametrize("yaw_deg", [0.0, 90.0])
def test_retarget_onto_t_posed_copy_reproduces_the_motion(yaw_deg):
    """Target = the same skeleton in a T-pose (shoulders abducted 90 deg), turned about up: the
    limb joints must follow the source exactly (scale 1) and the knees stay hinges. The calcaneus
    origin is moved onto the ankle so that the rig's foot bone pivots where characters' do."""
    off = sk.default_offsets(1.75)
    off[[sk.BODY["calcn_r"], sk.BODY["calcn_l"]]] = 0.0
    q_t = np.zeros(sk.N_DOFS)
    q_t[[sk.DOF["shoulder_r_x"], sk.DOF["shoulder_l_x"]]] = np.deg2rad(90)
    rig = _bsm_rig(q_t, off, yaw_deg)
    n = 12
    q = np.clip(_random_q(n, 7) * 0.5, *sk.limits_rad())
    q[:, :3] = 0.3 * q[:, :3]
    root = np.stack([np.linspace(0, 1, n), np.full(n, 0.95), np.zeros(n)], 1)
    res = retarget.retarget(q, root, off, rig, _bsm_mapping())
    assert abs(res.scale - 1) < 1e-12
    _, src = fk_numpy.forward_kinematics(q, root, off)
    yaw = fk_numpy.axis_angle_matrix(np.array([[0, 1.0, 0]]), np.array([np.deg2rad(yaw_deg)]))[0]
    c = kinematics.OPENSIM_TO_BLENDER @ yaw
    pel = sk.BODY["pelvis"]
    # the forearm role follows the ulna; the radius (pronation) is not a role, so the wrist moves
    # by pro_sup acting on the radius's small offsets: ~1 cm here
    for body, tol in (
        ("talus_r", 1e-9),
        ("talus_l", 1e-9),
        ("toes_r", 1e-9),
        ("head", 1e-9),
        ("ulna_l", 1e-9),
        ("hand_r", 0.015),
        ("hand_l", 0.015),
    ):
        i = sk.BODY[body]
        want = (src[:, i] - src[:, pel]) @ c.T
        got = res.pose[:, i, :3, 3] - res.pose[:, pel, :3, 3]
        np.testing.assert_allclose(got, want, atol=tol, err_msg=body)
    for child, parent in (("tibia_r", "femur_r"), ("ulna_l", "humerus_l")):
        off_axis = retarget.hinge_off_axis_deg(
            res.pose[:, sk.BODY[parent], :3, :3], res.pose[:, sk.BODY[child], :3, :3]
        )
        assert off_axis < 1e-3  # degrees (arccos noise)


def test_hinge_metric_detects_a_ball_joint():
    """The off-axis measure must see a 3-DOF joint's motion (so that a 0 means something)."""
    off = sk.default_offsets()
    q = np.zeros((10, sk.N_DOFS))
    q[:, sk.DOF["hip_flexion_r"]] = np.linspace(0, 1.0, 10)
    q[:, sk.DOF["hip_adduction_r"]] = 0.5 * np.linspace(0, 1.0, 10) ** 2
    rots, _ = fk_numpy.forward_kinematics(q, np.zeros((10, 3)), off)
    assert retarget.hinge_off_axis_deg(rots[:, 0], rots[:, sk.BODY["femur_r"]]) > 5


def test_retarget_requires_legs():
    rig = _bsm_rig(np.zeros(sk.N_DOFS), sk.default_offsets())
    with pytest.raises(ValueError, match="lacks required role"):
        retarget.retarget(
            np.zeros((1, 46)),
            np.zeros((1, 3)),
            sk.default_offsets(),
            rig,
            rigs.BoneMapping("x", {"hips": "B_pelvis"}),
        )


# ------------------------------------------------------------------ capture protocol
def test_parse_progress_lines():
    ev = capture.parse_progress_line('{"stage": "detect", "progress": 0.42, "message": "m"}')
    assert (ev.stage, ev.progress, ev.message) == ("detect", 0.42, "m")
    ev = capture.parse_progress_line('{"done": true, "motion": "/x/a.motion.npz"}')
    assert ev.done and ev.motion == "/x/a.motion.npz"
    ev = capture.parse_progress_line('{"error": "bad\\nthing"}')
    assert ev.error == "bad thing"
    assert capture.parse_progress_line("plain text").raw == "plain text"
    assert capture.parse_progress_line('{"done": true}').error
    assert capture.parse_progress_line('{"stage": "x", "progress": 7}').progress == 1.0


def test_capture_command_is_accepted_by_the_core_cli(tmp_path):
    from core.cli import build_parser

    argv = capture.build_capture_command(
        "py",
        tmp_path / "v.mp4",
        tmp_path / "out",
        height_m=1.8,
        mass_kg=70,
        fov_deg=60,
        start_s=1.0,
        end_s=2.5,
        device="gpu",
    )
    assert argv[:4] == ["py", "-m", "core", "capture"]
    args = build_parser().parse_args(argv[3:])
    assert (args.height, args.mass, args.fov, args.start, args.end, args.device) == (
        1.8,
        70,
        60,
        1.0,
        2.5,
        "cuda",
    )
    assert args.progress_jsonl
    with pytest.raises(ValueError, match="device"):
        capture.build_capture_command("py", "v", "o", device="tpu")
    with pytest.raises(ValueError, match="after its start"):
        capture.build_capture_command("py", "v", "o", start_s=3, end_s=2)


def test_find_core_python():
    found = capture.find_core_python(REPO / "blender_addon" / "logic", environ={})
    if not (REPO / ".venv" / "bin" / "python").is_file():
        pytest.skip("no .venv here")
    assert found == REPO / ".venv" / "bin" / "python"
    assert capture.find_core_python("/", environ={}, search_cwd=False) is None
    assert capture.find_core_python("/", environ={"BIOMOCAP_PYTHON": sys.executable}) == Path(
        sys.executable
    )


def _job(tmp_path, mode: str) -> capture.CaptureJob:
    bundle = _motion().save(tmp_path / "src.motion.npz")
    env = dict(os.environ, FAKE_CAPTURE_MODE=mode, FAKE_CAPTURE_BUNDLE=str(bundle))
    argv = capture.build_capture_command(sys.executable, tmp_path / "clip.mp4", tmp_path / "out")
    return capture.CaptureJob([sys.executable, str(FAKE)] + argv[1:], env=env)


def test_capture_job_success_error_crash(tmp_path):
    events = []
    out = _job(tmp_path, "ok").run_sync(events.append, timeout_s=60)
    assert out.status == "done" and out.motion.name == "clip.motion.npz"
    assert read_bundle(out.motion).n_frames == 5
    stages = [e.stage for e in events if e.stage]
    assert stages[0] == "detect" and stages[-1] == "export"
    assert any(e.raw for e in events)  # non-JSON text kept apart
    out = _job(tmp_path, "error").run_sync(timeout_s=60)
    assert out.status == "error" and out.message == (
        "capture failed: no person found in the video (second line should be folded)"
    )
    out = _job(tmp_path, "crash").run_sync(timeout_s=60)
    assert out.status == "error" and "code 3" in out.message and "Traceback" in out.message


def _started(job) -> None:
    t0 = time.monotonic()
    while not job.last.stage or job.last.stage == "starting":
        job.poll()
        time.sleep(0.02)
        assert time.monotonic() - t0 < 30


def test_capture_job_cancel_stops_the_process(tmp_path):
    job = _job(tmp_path, "slow")
    _started(job)
    job.cancel()
    job.poll()
    assert job.outcome is not None and job.outcome.status == "cancelled"
    assert job.proc.returncode is not None and job.proc.returncode < 0  # ended by a signal
    assert not (tmp_path / "out" / "clip.motion.npz").exists()


def test_capture_job_cancel_lets_the_core_clean_up(tmp_path):
    """Cancel sends SIGTERM first, so the core's transaction can remove its staging folder."""
    job = _job(tmp_path, "tidy")
    _started(job)
    job.cancel(grace_s=10)
    job.poll()
    assert job.outcome is not None and job.outcome.status == "cancelled"
    assert job.proc.returncode == 143
    assert (tmp_path / "out" / "cleaned-up").exists()
    assert not (tmp_path / "out" / "clip.motion.npz").exists()


def test_capture_job_cancel_kills_a_process_that_ignores_sigterm(tmp_path):
    job = _job(tmp_path, "stubborn")
    _started(job)
    t0 = time.monotonic()
    job.cancel(grace_s=0.5)
    job.poll()
    assert time.monotonic() - t0 < 10
    assert job.outcome is not None and job.outcome.status == "cancelled"
    assert job.proc.returncode == -signal.SIGKILL


# ------------------------------------------------------------------ OpenSim pair
@pytest.mark.opensim
def test_opensim_pair_from_biomech_export(tmp_path):
    pytest.importorskip("opensim")
    from biomech_export.cli import main as export_main
    from blender_addon.logic.opensim_io import bundle_from_opensim

    m = _motion(8)
    m.root_m = m.root_m + np.linspace(0, 1, 8)[:, None] * [1.0, 0.0, 0.2]
    src = m.save(tmp_path / "w.motion.npz")
    assert export_main(["export", str(src), "-o", str(tmp_path / "os")]) == 0
    b = bundle_from_opensim(tmp_path / "os" / "w.osim", tmp_path / "os" / "w.mot")
    np.testing.assert_allclose(b.offsets_m, m.offsets_m, atol=1e-12)
    np.testing.assert_allclose(b.q_rad, m.q_rad, atol=1e-7)  # .mot keeps 8 decimals of degrees
    np.testing.assert_allclose(b.root_m, m.root_m, atol=1e-7)
    assert abs(b.fps - 25.0) < 1e-3
    assert abs(b.mass_kg - 70.0) < 0.5


def test_opensim_reader_rejects_other_models():
    from blender_addon.logic.opensim_io import read_osim_skeleton

    gait = shared_path("opensim", "gait2392_subject01")
    model = sorted(gait.glob("*.osim"))
    if not model:
        pytest.skip("no .osim in gait2392_subject01")
    with pytest.raises(BundleError, match="not a BSM-46 model"):
        read_osim_skeleton(model[0])


# ------------------------------------------------------------------ floor, contacts, foot lock
def _walk_motion(n: int = 90, fps: float = 30.0):
    """A procedural walk whose stance feet skate (no foot constraint) and whose floor is 0.3 m
    below Y = 0: what an older capture looks like to the add-on."""
    sys.path.insert(0, str(REPO / "tests" / "blender"))
    from make_bundles import procedural_walk

    q, root = procedural_walk(n, fps)
    root = root + [0.0, -0.3, 0.0]
    return q, root, sk.default_offsets(1.75)


def test_floor_and_contacts_from_the_feet():
    from blender_addon.logic import ground

    q, root, off = _walk_motion()
    _, origins = fk_numpy.forward_kinematics(q, root, off)
    g = ground.ground_motion(origins, 30.0, off)
    soles = ground.sole_points(origins, g.clearance_m)
    lowest = soles[..., 1].min(axis=1) - g.floor_y_m
    # independent: the lowest sole point per frame, 5th percentile, is the floor
    assert abs(np.percentile(lowest, 5)) < 1e-9
    assert g.source == "feet" and g.contacts.shape == (90, 4)
    # contacts: a sole point still on the floor, then a fast step (up and forward), then still
    # again; another one shuffling slowly 1 cm above the floor; one passing 1.5 cm above the
    # floor at 2.5 m/s (a swinging toe) is not a contact
    t = np.arange(40)
    pts = np.zeros((40, 4, 3))
    step = np.clip((t - 10) / 10, 0, 1)
    pts[:, 0, 0] = 0.7 * (1 - np.cos(np.pi * step)) / 2
    pts[:, 0, 1] = 0.1 * np.sin(np.pi * step)
    pts[:, 1, 0] = 0.003 * t
    pts[:, 1, 1] = 0.01
    pts[:, 2, 0] = 2.5 / 30 * t
    pts[:, 2, 1] = 0.015
    pts[:, 3, 1] = 0.3
    c = ground.detect_contacts(pts, 30.0, 0.0) >= 0.5
    want0 = (t <= 10) | (t >= 20)
    assert (c[:, 0] == want0).mean() > 0.9 and c[:5, 0].all() and c[-5:, 0].all()
    assert not c[11:19, 0].any()
    assert c[:, 1].all() and not c[:, 2].any() and not c[:, 3].any()
    # a world-frame bundle keeps its floor at 0 and its own contacts
    own = np.zeros((90, 4))
    own[:, 0] = 1
    g2 = ground.ground_motion(origins, 30.0, off, contacts=own, world_frame=True)
    assert g2.floor_y_m == 0.0 and np.array_equal(g2.contacts, own)


def test_resample_and_smooth():
    from blender_addon.logic import ground

    t = np.arange(31) / 30.0
    x = np.stack([np.sin(2 * np.pi * t), t], 1)
    y = ground.resample(x, 30.0, 24.0)
    assert y.shape == (25, 2)
    np.testing.assert_allclose(y[:, 1], np.arange(25) / 24.0, atol=1e-12)  # linear is exact
    np.testing.assert_allclose(y[:, 0], np.sin(2 * np.pi * np.arange(25) / 24), atol=0.01)
    noisy = 1.0 + 0.05 * np.random.default_rng(0).standard_normal((31, 1))
    sm = ground.smooth(noisy, 2.0)  # white noise x 0.38 inside (1 / sqrt(2 sqrt(pi) sigma))
    assert np.sqrt(np.mean((sm - 1) ** 2)) < 0.6 * np.sqrt(np.mean((noisy - 1) ** 2))
    assert np.array_equal(ground.smooth(noisy, 0.0), noisy)


def test_overall_progress_is_one_monotone_bar():
    p = capture.OverallProgress()
    seen = []
    for stage in ("detect", "neurik", "surface", "refine", "export"):
        for f in (0.0, 0.5, 1.0):
            seen.append(p.update(stage, f))
    assert seen[0] == 0.0 and all(b >= a for a, b in zip(seen, seen[1:], strict=False))
    assert 0.8 < seen[-1] < 1.0 and p.finish() == 1.0
    assert p.update("detect", 0.1) == 1.0  # never goes back


def test_find_core_python_from_an_installed_extension(tmp_path):
    """An extension installed into Blender's user folder finds the repository it was built
    from through build_info.json (written by scripts/build_addon.py)."""
    repo = tmp_path / "repo"
    (repo / "core").mkdir(parents=True)
    (repo / "core" / "__init__.py").write_text("")
    py = repo / ".venv" / "bin" / "python"
    py.parent.mkdir(parents=True)
    py.write_text("")
    ext = tmp_path / "user" / "extensions" / "user_default" / "biomocap"
    (ext / "logic").mkdir(parents=True)
    assert capture.find_core_python(ext, environ={}, search_cwd=False) is None
    (ext / "build_info.json").write_text(json.dumps({"repo": str(repo)}))
    assert capture.find_core_python(ext, environ={}, search_cwd=False) == py


def test_capture_command_person_and_surface_method(tmp_path):
    argv = capture.build_capture_command(
        "py", "v.mp4", tmp_path, person="left", surface_method="mq"
    )
    assert argv[argv.index("--person") + 1] == "left" and argv[argv.index("--hmr") + 1] == "mq"
    assert "--person" not in capture.build_capture_command("py", "v.mp4", tmp_path, person="main")
    with pytest.raises(ValueError, match="person must be"):
        capture.build_capture_command("py", "v.mp4", tmp_path, person="the tall one")


def test_foot_lock_plants_the_soles_and_keeps_knees_hinges():
    """The BSM-46 skeleton as the character (T-posed copy), sole points under its calcaneus and
    toes: during contacts the planted point does not move and the lowest sole point is on the
    floor; without the lock the same feet skate; knees stay hinges."""
    from blender_addon.logic import footlock, ground

    q, root, off = _walk_motion()
    off = off.copy()
    off[[sk.BODY["calcn_r"], sk.BODY["calcn_l"]]] = 0.0
    rig = _bsm_rig(np.zeros(sk.N_DOFS), off)
    rots, origins = fk_numpy.forward_kinematics(q, root, off)
    g = ground.ground_motion(origins, 30.0, off)
    up = rig.up
    fwd = retarget.target_axes(rig, _bsm_mapping().roles)[:, 0]
    side = np.cross(up, fwd)
    soles = {}
    for s in "rl":
        pts, own = [], []
        for bone, o in ((f"B_calcn_{s}", 0), (f"B_toes_{s}", 1)):
            for dx in (-0.03, 0.0, 0.04):
                for dz in (-0.02, 0.02):
                    pts.append(rig.head(bone) + dx * fwd + dz * side - 0.03 * up)
                    own.append(o)
        soles[s] = footlock.soles_from_points(np.array(pts), np.array(own), up, fwd)
    floor = min(float((so.points @ up).min()) for so in soles.values())
    floor_point = floor * up
    kw = dict(contacts=g.contacts, soles=soles, floor_point=floor_point)
    res = {}
    for lock in (True, False):
        opts = retarget.RetargetOptions(foot_lock=lock, root_motion="hips")
        res[lock] = retarget.retarget_world(
            rots, origins, off, rig, _bsm_mapping(), options=opts, **kw
        )
    idx = rig.index
    c = g.contacts >= 0.5
    slides = {True: [], False: []}
    for lock, r in res.items():
        for s, (ch, ct) in (("r", (0, 1)), ("l", (2, 3))):
            so = soles[s]
            mats = {
                o: r.pose[:, idx[n]] @ np.linalg.inv(rig.rest[idx[n]])
                for o, n in ((0, f"B_calcn_{s}"), (1, f"B_toes_{s}"))
            }
            pts = np.stack(
                [
                    mats[o][:, :3, :3] @ p + mats[o][:, :3, 3]
                    for p, o in zip(so.points, so.owner, strict=True)
                ],
                1,
            )
            h = pts @ up - floor
            on = c[:, ch] | c[:, ct]
            if lock:
                assert np.abs(h[on].min(axis=1)).max() < 1e-6
            horiz = pts - (pts @ up)[..., None] * up
            for col, half in ((ch, so.heel), (ct, ~so.heel)):
                for a, e in footlock._runs(c[:, col]):
                    d = np.linalg.norm(horiz[a:e][:, half] - horiz[a][None, half], axis=-1)
                    slides[lock].append(d.max(axis=0).min())
        knee = retarget.hinge_off_axis_deg(
            r.pose[:, idx["B_femur_r"], :3, :3], r.pose[:, idx["B_tibia_r"], :3, :3]
        )
        assert knee < 1e-3, (lock, knee)
    assert max(slides[True]) < 1e-6
    assert len(slides[True]) >= 4 and max(slides[False]) > 0.01  # unlocked, the feet skate


def test_bvh_axes_conversion_roundtrip():
    from blender_addon.logic import bvh_axes

    rng = np.random.default_rng(3)
    for order in ("XYZ", "ZXY", "YZX", "ZYX", "XZY", "YXZ"):
        e = rng.uniform(-80, 80, (20, 3))
        m = bvh_axes.euler_to_matrix(e, order)
        np.testing.assert_allclose(
            bvh_axes.euler_to_matrix(bvh_axes.matrix_to_euler(m, order), order), m, atol=1e-9
        )
    a = bvh_axes.Z_UP_TO_Y_UP
    assert np.allclose(a @ [0, 0, 1.0], [0, 1.0, 0]) and np.isclose(np.linalg.det(a), 1)
    text = """HIERARCHY
ROOT hips
{
  OFFSET 0.0 0.0 1.0
  CHANNELS 6 Xposition Yposition Zposition Zrotation Xrotation Yrotation
  JOINT shin
  {
    OFFSET 0.0 0.0 -0.5
    CHANNELS 3 Zrotation Xrotation Yrotation
    End Site
    {
      OFFSET 0.0 0.1 0.0
    }
  }
}
MOTION
Frames: 2
Frame Time: 0.033333
0.1 0.2 1.0 10 20 30 5 -15 40
0.2 0.3 0.9 0 0 90 0 0 0
"""
    out = bvh_axes.convert_bvh_axes(text)
    assert "OFFSET 0.000000 1.000000 0.000000" in out  # the hips stand on +Y now
    rows = np.array([[float(x) for x in r.split()] for r in out.splitlines()[-2:]])
    np.testing.assert_allclose(rows[:, :3], [[0.1, 1.0, -0.2], [0.2, 0.9, -0.3]])
    m_in = bvh_axes.euler_to_matrix(np.array([10, 20, 30.0]), "ZXY")
    m_out = bvh_axes.euler_to_matrix(rows[0, 3:6], "ZXY")
    np.testing.assert_allclose(m_out, a @ m_in @ a.T, atol=1e-6)
    # converting back (inverse axes) restores the file
    back = bvh_axes.convert_bvh_axes(out, a.T)
    vals = np.array([[float(x) for x in r.split()] for r in back.splitlines()[-2:]])
    m_back = bvh_axes.euler_to_matrix(vals[:, 3:6], "ZXY")
    np.testing.assert_allclose(m_back[0], m_in, atol=1e-6)


def test_people_preview_protocol():
    argv = capture.people_preview_command("py", "v.mp4", -1.0, "o.png")
    assert argv == ["py", "-m", "core", "people", "v.mp4", "--time", "0", "-o", "o.png"]
    out = 'log line\n{"people": [[1, 2, 3, 4], [5, 6, 7, 8]], "time_s": 2.0}\n'
    assert capture.parse_people_preview(out) == [(1, 2, 3, 4), (5, 6, 7, 8)]
    with pytest.raises(ValueError, match="no frame at"):
        capture.parse_people_preview('{"error": "no frame at 9 s in v.mp4"}')
    with pytest.raises(ValueError, match="^no frame at 9 s in v.mp4; pick an earlier --time$"):
        capture.parse_people_preview(
            "", "warning\nerror: no frame at 9 s in v.mp4; pick an earlier --time\n"
        )
    with pytest.raises(ValueError, match="no result"):
        capture.parse_people_preview("Traceback ...")
