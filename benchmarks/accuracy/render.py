"""Turn a clip spec into a video with known truth: the motion on a seeded Anny body, its look,
scene and camera, rendered by Blender (``render_bpy.py`` in ``.venv-blender``) and encoded as
H.264; ``truth.npz`` beside it holds everything the metrics need.

World frame of the truth: OpenSim's (X forward, Y up, Z right), floor at Y = 0 (the lowest
surface point of the clip touches it), the subject's mean position at X = Z = 0.

Truth foot contacts (``truth_contacts``), per foot at the heel and the forefoot, from the TRUE
motion only, labelled much as HuMoR labels AMASS mocap (Rempe et al. 2021,
``humor/scripts/process_amass_data.py``: ``determine_floor_height_and_contacts``): the floor of
the contact labels is the *stance level*, the median of the lowest cluster of the sole heights of
the still frames (slower than ``STILL_SPEED_MPS``; heights 1-D clustered with 5 mm gaps, as its
DBSCAN ``eps=0.005``), not the lowest skin point ever; a point is in contact where it is within
``CONTACT_HEIGHT_M`` of that level (HuMoR's toe threshold, 4 cm) and slower than
``CONTACT_SPEED_MPS``. The point is the lowest surface vertex of the heel patch (the rear third
of the calcaneus' skin) or the forefoot patch (toes and the front third of the calcaneus); its
speed is the patch centre's horizontal speed. Departures from HuMoR, for the retargeted CMU
motions and for what force plates say:

* the speed limit is 0.80 m/s horizontal, not 0.15 m/s (0.005 m/frame at 30 fps) in 3-D. The
  rule applied to the two marker trials' own motion (IK of real markers on the rendered body,
  belt speed taken off) against their force plates (> 20 N, ``benchmarks/contact_truth_check.py``)
  agrees best there: frame F1 0.93-0.97 (walk, 3 renders) and 0.54-0.73 (run) at 0.30 m/s, the
  rule before 2026-12-03 (``stance-level-v2``), 0.98-0.99 and 0.83-0.84 at 0.60-1.0 m/s (the
  best mean at 0.80); the stricter limit only dropped frames the plates load (heel strike, the
  loaded foot's roll, a running stance). The retargets also skate (their stance feet slide at
  0.1-0.3 m/s). The height stays HuMoR's: 6-8 cm would agree better with the run's plates
  (0.90-0.95) but no better with the walk's;
* the sliding measure's phases are the *planted* frames, contact and slower than
  ``STILL_SPEED_MPS`` (``Truth.contact_still``): a point that truly moves while loaded is not
  sliding when the capture moves it too;
* the rendered floor (Y = 0) stays where ``floor_height`` put it: under the lowest skin point,
  which lies 0.6-5 cm under the stance level (heel and toe dig in at strike and push-off where
  the retargeted ankle does not match the body), so a rule against Y = 0 flagged only 5-45 % of
  the frames of walks as contact (``CONTACT_RULE`` names the rule; ``refresh_truth`` recomputes
  the flags of a clip cached under an older one without re-rendering it, and its BlazePose
  points where MediaPipe's keypoints are now taken to lie, ``keypoint_rule``).
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import subprocess
import time
from dataclasses import dataclass, fields
from pathlib import Path

import numpy as np

from core import skeleton as sk

log = logging.getLogger(__name__)

HERE = Path(__file__).resolve().parent
BLENDER_SCRIPT = HERE / "render_bpy.py"
CONTACT_HEIGHT_M = 0.04  # above the stance level
CONTACT_SPEED_MPS = 0.80  # horizontal, the patch centre (calibrated on force plates: above)
STILL_SPEED_MPS = 0.30  # planted: the stance level's frames and the sliding measure's phases
STANCE_GAP_M = 0.005  # heights of still soles further apart than this are separate clusters
CONTACT_RULE = "stance-level-v3"  # v2: 0.30 m/s (before 2026-12-03); "": 4 cm above Y = 0
CONTACT_POINTS = ("heel_r", "forefoot_r", "heel_l", "forefoot_l")
_UP = np.array([0.0, 1.0, 0.0])


@dataclass
class Truth:
    """What is known about a rendered clip (all arrays per video frame)."""

    fps: float
    q_rad: np.ndarray  # (T, 46)
    root_m: np.ndarray  # (T, 3)
    offsets_m: np.ndarray  # (24, 3) the rendered subject's skeleton
    height_m: float
    body_origins_m: np.ndarray  # (T, 24, 3)
    blaze_world_m: np.ndarray  # (T, 33, 3) BlazePose points on the true body
    blaze_px: np.ndarray  # (T, 33, 2) their projections
    K: np.ndarray  # (3, 3)
    R_cam_world: np.ndarray  # (3, 3) world -> camera (x right, y down, z forward)
    cam_centre_m: np.ndarray  # (3,)
    cam_height_m: float
    cam_pitch_deg: float  # optical axis below the horizon, degrees (positive: looking down)
    cam_roll_deg: float
    contact: np.ndarray  # (T, 4) bool, CONTACT_POINTS order
    contact_pos_m: np.ndarray  # (T, 4, 3) the contact patches' lowest points
    width_px: int
    height_px: int
    stance_level_m: float = 0.0  # height of the contact labels' floor (stance soles) above Y = 0
    contact_rule: str = ""  # CONTACT_RULE the contact flags follow ("": the older rule)
    keypoint_rule: str = ""  # keypoint_rule() the BlazePose points follow ("": older points)
    contact_still: np.ndarray | None = None  # (T, 4) bool: in contact and planted (the sliding
    # measure's phases); None under an older contact rule

    def save(self, path: Path) -> None:
        """``path`` (npz) plus, for the contact rule, ``<stem>.contact.json`` beside it: the npz
        keeps the keys older harness code loads (a cache is shared between worktrees)."""
        from core.motion import atomic_write

        extra = ("stance_level_m", "contact_rule", "keypoint_rule")
        arrays = {
            k: np.asarray(v) for k, v in self.__dict__.items() if k not in extra and v is not None
        }
        atomic_write(path, lambda f: np.savez_compressed(f, **arrays), binary=True)
        side = {k: getattr(self, k) for k in extra}
        atomic_write(_contact_json(path), lambda f: f.write(json.dumps(side)))

    @classmethod
    def load(cls, path: Path) -> Truth:
        names = {f.name for f in fields(cls)}
        with np.load(path, allow_pickle=False) as z:
            kw = {k: z[k] for k in z.files if k in names}
        for k in ("fps", "height_m", "cam_height_m", "cam_pitch_deg", "cam_roll_deg"):
            kw[k] = float(kw[k])
        for k in ("width_px", "height_px"):
            kw[k] = int(kw[k])
        side = _contact_json(Path(path))
        if side.is_file():
            d = json.loads(side.read_text())
            kw["stance_level_m"] = float(d.get("stance_level_m", 0.0))
            kw["contact_rule"] = str(d.get("contact_rule", ""))
            kw["keypoint_rule"] = str(d.get("keypoint_rule", ""))
        return cls(**kw)


def _contact_json(truth_path: Path) -> Path:
    return Path(truth_path).with_suffix(".contact.json")


# ------------------------------------------------------------------------------ subject
def make_subject(rng: np.random.Generator, height_m: float | None = None):
    """A seeded adult Anny body (``core.hmr.synth.subjects`` ranges), or one of a given stature."""
    from core.body import build_subject
    from core.hmr.synth.subjects import STATURE_RANGE_M, sample_shape

    for _ in range(50):
        shape = sample_shape(rng)
        if height_m is not None:
            shape.pop("height")
            return build_subject(shape, height_m=float(np.clip(height_m, 1.45, 2.0)))
        s = build_subject(shape)
        if STATURE_RANGE_M[0] <= s.height_m <= STATURE_RANGE_M[1]:
            return s
    raise RuntimeError("no subject within the stature range after 50 draws")


def _foot_patches(subject) -> dict[str, np.ndarray]:
    """Vertex indices of the heel and forefoot skin patches (zero pose)."""
    from core.hmr.synth.appearance import dominant_body_per_face

    faces = np.asarray(subject.surface.faces)
    v = np.asarray(subject.surface.vertices_m)
    fb = dominant_body_per_face(subject)
    out = {}
    for s in "rl":
        calc = np.unique(faces[fb == sk.BODY[f"calcn_{s}"]])
        toes = np.unique(faces[fb == sk.BODY[f"toes_{s}"]])
        x = v[calc, 0]
        lo, hi = np.percentile(np.concatenate([x, v[toes, 0]]), [0, 100])
        span = hi - lo
        out[f"heel_{s}"] = calc[x < lo + span / 3]
        out[f"forefoot_{s}"] = np.concatenate([toes, calc[x > hi - span / 3]])
    return {k: out[k] for k in CONTACT_POINTS}


def stance_level(low_m: np.ndarray, speed_mps: np.ndarray) -> float:
    """Height of the soles when they stand: the median of the lowest cluster (3 or more heights,
    gaps under ``STANCE_GAP_M``) of the points' heights ``low_m`` in the frames where they are
    slower than ``STILL_SPEED_MPS`` (HuMoR's floor); 0 where no point is ever still."""
    h = np.sort(np.asarray(low_m)[np.asarray(speed_mps) < STILL_SPEED_MPS])
    if len(h) == 0:
        return 0.0
    for group in np.split(h, np.flatnonzero(np.diff(h) > STANCE_GAP_M) + 1):
        if len(group) >= 3:
            return float(np.median(group))
    return float(np.median(h))


def patch_motion(vertices_m: np.ndarray, patches: dict[str, np.ndarray], fps: float):
    """(T, 4, 3) lowest vertex of each contact patch and (T, 4, 2) horizontal velocity (X, Z,
    m/s) of the patch's centre, from the posed vertices (T, V, 3)."""
    lowest, vels = [], []
    for name in CONTACT_POINTS:
        p = vertices_m[:, patches[name]]  # (T, n, 3)
        k = p[..., 1].argmin(1)
        lowest.append(p[np.arange(len(p)), k])
        vels.append(np.gradient(p.mean(1)[:, [0, 2]], axis=0) * fps)
    return np.stack(lowest, 1), np.stack(vels, 1)


def contact_flags(
    low: np.ndarray,
    speed: np.ndarray,
    height_m: float = CONTACT_HEIGHT_M,
    speed_mps: float = CONTACT_SPEED_MPS,
):
    """(T, 4) contact flags, the stance level and (T, 4) planted flags from the patches' lowest
    points (T, 4, 3) and speeds (T, 4) under the rule with these limits (the module's text)."""
    level = stance_level(low[..., 1], speed)
    flags = (low[..., 1] - level < height_m) & (speed < speed_mps)
    return flags, level, flags & (speed < STILL_SPEED_MPS)


def truth_contacts(vertices_m: np.ndarray, patches: dict[str, np.ndarray], fps: float):
    """(T, 4) contact flags, (T, 4, 3) lowest patch points, the stance level (metres above
    Y = 0) and (T, 4) planted flags (contact and slower than ``STILL_SPEED_MPS``) from the true
    posed vertices (T, V, 3): see the module's docstring."""
    low, vel = patch_motion(vertices_m, patches, fps)
    flags, level, still = contact_flags(low, np.linalg.norm(vel, axis=-1))
    return flags, low, level, still


def keypoint_rule() -> str:
    """Names where the truth's BlazePose points lie on the body: a hash of
    ``core.neurik.markersets.MEDIAPIPE_OFFSETS_M`` (the points the capture fits to)."""
    import hashlib

    from core.neurik.markersets import mediapipe_offsets_signature

    return hashlib.sha1(mediapipe_offsets_signature()).hexdigest()[:10]


def _blaze_truth(subject, truth: Truth) -> tuple[np.ndarray, np.ndarray]:
    """The truth's BlazePose points (world, and projected by its camera) on ``subject``."""
    from core import fk_numpy
    from core.neurik.markersets import blazepose33

    rot, org = fk_numpy.forward_kinematics(truth.q_rad, truth.root_m, subject.offsets_m)
    bodies, local = blazepose33().define(subject)
    blaze = fk_numpy.body_points(rot, org, bodies, local)
    return blaze, project(truth.K, truth.R_cam_world, truth.cam_centre_m, blaze)


def rebuilt_subject(seed: int, take: str, truth: Truth, clip_dir: Path):
    """The rendered clip's subject rebuilt from its spec's seed as ``build_clip`` built it (a
    marker trial's at 1.75 m); an error where it is not the one ``truth`` was rendered with."""
    trial = not take[:1].isdigit() and take.endswith(("_walk", "_run"))
    subject = make_subject(np.random.default_rng(seed), height_m=1.75 if trial else None)
    if not np.allclose(subject.offsets_m, truth.offsets_m, atol=1e-5):
        raise RuntimeError(
            f"{clip_dir.name}: the subject rebuilt from the seed is not the rendered one; "
            f"delete {clip_dir} to render the clip again"
        )
    return subject


def refresh_truth(spec, clip_dir: Path) -> Truth:
    """The clip's truth with what follows a rule recomputed where it followed an older one
    (rewritten in place): the contact flags under ``CONTACT_RULE``, and the BlazePose points
    (``blaze_world_m``, ``blaze_px``: the gt2d/gt3d ablations and the exact-landmark checks use
    them) where MediaPipe's keypoints are now taken to lie (``keypoint_rule``). The subject is
    rebuilt from the spec's seed as ``build_clip`` built it and posed with the truth's own
    motion; nothing is re-rendered (about 10 s a clip)."""
    from core.body import pose_surface
    from core.motion import atomic_write

    truth = Truth.load(clip_dir / "truth.npz")
    kp_rule = keypoint_rule()
    if truth.contact_rule == CONTACT_RULE and truth.keypoint_rule == kp_rule:
        return truth
    subject = rebuilt_subject(spec.seed, spec.take, truth, clip_dir)
    if truth.keypoint_rule != kp_rule:
        truth.blaze_world_m, truth.blaze_px = _blaze_truth(subject, truth)
        truth.keypoint_rule = kp_rule
        log.info("%s: BlazePose truth recomputed (keypoint rule %s)", spec.name, kp_rule)
    if truth.contact_rule != CONTACT_RULE:
        verts = pose_surface(subject, truth.q_rad, truth.root_m)
        truth.contact, truth.contact_pos_m, truth.stance_level_m, truth.contact_still = (
            truth_contacts(verts, _foot_patches(subject), truth.fps)
        )
        truth.contact_rule = CONTACT_RULE
        log.info("%s: contact truth recomputed (%s)", spec.name, CONTACT_RULE)
    truth.save(clip_dir / "truth.npz")
    info_path = clip_dir / "info.json"
    if info_path.is_file():
        info = json.loads(info_path.read_text())
        info["contact_fraction"] = round(float(truth.contact.mean()), 3)
        info["stance_level_m"] = round(truth.stance_level_m, 3)
        atomic_write(info_path, lambda f: f.write(json.dumps(info, indent=1)))
    return truth


# ------------------------------------------------------------------------------ camera
def _heading_rad(q_rad: np.ndarray) -> float:
    return float(np.angle(np.exp(1j * q_rad[:, sk.DOF["pelvis_rotation"]]).mean()))


MAX_DISTANCE_M = 8.0
MIN_FOCAL_35MM = 22.0


def place_camera(vertices_m: np.ndarray, q_rad: np.ndarray, cam, margin: float = 0.06):
    """Camera (K, R_cam_world, centre, pitch, distance) from a CameraSpec: at the spec's height
    and azimuth, aimed at the body's mean centre, stepped back until the whole clip is in view;
    beyond ``MAX_DISTANCE_M`` the lens gets wider instead (down to ``MIN_FOCAL_35MM``), as a
    person filming a long run would zoom out rather than walk 20 m away."""
    w, h, f = cam.width_px, cam.height_px, cam.focal_px
    f_min = MIN_FOCAL_35MM / 36.0 * max(w, h)
    a = _heading_rad(q_rad) + np.radians(cam.azimuth_deg)
    to_cam = np.array([np.cos(a), 0.0, -np.sin(a)])  # body faces +X at pelvis_rotation 0
    flat = vertices_m.reshape(-1, 3)
    lo, hi = flat.min(0), flat.max(0)
    target = 0.5 * (lo + hi)
    roll = np.radians(cam.roll_deg)
    d = cam.distance_m
    for _ in range(80):
        K = np.array([[f, 0.0, w / 2], [0.0, f, h / 2], [0.0, 0.0, 1.0]])
        centre = target + to_cam * d
        centre[1] = cam.height_m
        look = target - centre
        pitch = -np.arctan2(look[1], np.hypot(look[0], look[2])) + np.radians(cam.pitch_offset_deg)
        horiz = np.array([look[0], 0.0, look[2]]) / np.hypot(look[0], look[2])
        fwd = np.cos(pitch) * horiz - np.sin(pitch) * _UP
        right = np.cross(fwd, _UP)
        right /= np.linalg.norm(right)
        down = np.cross(fwd, right)
        c, s = np.cos(roll), np.sin(roll)
        right, down = c * right + s * down, -s * right + c * down
        R = np.stack([right, down, fwd])
        pc = (flat - centre) @ R.T
        if pc[:, 2].min() > 0.3:
            px = pc[:, :2] / pc[:, 2:] * f + K[:2, 2]
            if (
                px[:, 0].min() > margin * w
                and px[:, 0].max() < (1 - margin) * w
                and px[:, 1].min() > margin * h
                and px[:, 1].max() < (1 - margin) * h
            ):
                return K, R, centre, float(np.degrees(pitch)), float(d)
        if d * 1.08 > max(MAX_DISTANCE_M, cam.distance_m) and f * 0.92 >= f_min:
            f *= 0.92
        else:
            d *= 1.08
    raise RuntimeError("no camera distance keeps the clip in view")


def project(K: np.ndarray, R: np.ndarray, centre: np.ndarray, points_m: np.ndarray) -> np.ndarray:
    pc = (np.asarray(points_m) - centre) @ R.T
    return pc[..., :2] / pc[..., 2:] * K[0, 0] + K[:2, 2]


# ------------------------------------------------------------------------------ clip
def prepare_motion(spec, motion, subject) -> tuple[np.ndarray, np.ndarray]:
    """The spec's window of a true motion on ``subject``: (q (T, 46), root (T, 3)), the root
    scaled by leg length, centred on X = Z = 0 and put on the floor."""
    from core.body import pose_surface

    fps = 30.0
    a = int(round(spec.start_s * fps))
    n = int(round(spec.seconds * fps))
    q = motion.q_rad[a : a + n]
    if len(q) < 10:
        raise ValueError(f"{spec.name}: only {len(q)} frames in the window")
    leg = [sk.BODY[b] for b in ("tibia_r", "talus_r")]
    ratio = np.linalg.norm(subject.offsets_m[leg], axis=1).sum() / max(
        np.linalg.norm(motion.offsets_m[leg], axis=1).sum(), 1e-6
    )
    root = motion.root_m[a : a + n] * ratio
    root[:, [0, 2]] -= root[:, [0, 2]].mean(0)
    root[:, 1] -= floor_height(pose_surface(subject, q, root)[..., 1].min(-1), fps)
    return q, root


def floor_height(low_m: np.ndarray, fps: float, window_s: float = 1.0) -> np.ndarray:
    """(T,) where the floor is under a retargeted motion whose height drifts (mocap on another
    skeleton: the feet of a walk hover 0-10 cm over a clip), from the lowest surface point per
    frame ``low_m``: its minimum over ``window_s`` (a foot touches down in every such window of
    walking, running, dancing; a jump's flight is shorter), smoothed over half that, and never
    above the lowest point (no frame goes through the floor)."""
    low = np.asarray(low_m, np.float64)
    w = max(1, int(round(window_s * fps / 2)))
    pad = np.pad(low, w, mode="edge")
    wmin = np.array([pad[i : i + 2 * w + 1].min() for i in range(len(low))])
    h = max(1, w // 2)
    kernel = np.ones(2 * h + 1) / (2 * h + 1)
    smooth = np.convolve(np.pad(wmin, h, mode="edge"), kernel, mode="valid")
    return np.minimum(smooth, low)


def build_clip(spec, motion, out: Path) -> tuple[Path, Truth, dict]:
    """Scene file for Blender and the truth of one clip (nothing rendered yet)."""
    from core import fk_numpy
    from core.body import pose_surface
    from core.hmr.synth.appearance import face_geometry, sample_appearance
    from core.hmr.synth.backgrounds import floor_texture
    from core.hmr.synth.blender import OPENSIM_TO_BLENDER, camera_matrix_blender
    from core.hmr.synth.props import PropConfig, sample_props
    from core.hmr.synth.scenes import _STUDIO_P, STUDIO_LIGHTS
    from core.motion import atomic_write
    from core.neurik.markersets import blazepose33

    rng = np.random.default_rng(spec.seed)
    trial = not spec.take[:1].isdigit() and spec.take.endswith(("_walk", "_run"))
    subject = make_subject(rng, height_m=1.75 if trial else None)
    q, root = prepare_motion(spec, motion, subject)
    verts = pose_surface(subject, q, root)
    cam = spec.camera
    K, R, centre, pitch_deg, dist = place_camera(verts, q, cam)
    look = sample_appearance(rng, face_geometry(subject))
    tex, tile, floor_kind = floor_texture(rng)
    right = R[0]
    props = sample_props(
        rng,
        verts[:: max(1, len(verts) // 10)].reshape(-1, 3),
        verts[:: max(1, len(verts) // 10)].reshape(-1, 3)[::50],
        centre,
        right,
        PropConfig(occluder_p=0.0, clutter_p=0.8, max_clutter=3),
    )
    a4 = np.eye(4)
    a4[:3, :3] = OPENSIM_TO_BLENDER
    el = rng.uniform(0.35, 1.4)
    az = rng.uniform(0, 2 * np.pi)
    rng.random()  # (was: shadows on/off; they double the render time, so they stay off)
    scene = dict(
        faces=np.asarray(subject.surface.faces, np.int32),
        vertices_m=(verts @ OPENSIM_TO_BLENDER.T).astype(np.float32),
        face_material=look.face_material.astype(np.int32),
        material_rgb=look.material_rgb.astype(np.float32),
        camera_matrix_world=camera_matrix_blender(R[0], -R[1], R[2], centre),
        lens_mm=np.float64(K[0, 0] * 36.0 / cam.width_px),
        width_px=np.int64(cam.width_px),
        height_px=np.int64(cam.height_px),
        floor_texture=tex,
        floor_tile_m=np.float64(tile),
        background_rgb=rng.uniform(0.15, 0.8, 3),
        prop_kind=np.array([p.kind for p in props] or [0], np.int8),
        prop_matrix_world=np.stack([a4 @ p.matrix_world() for p in props] or [np.eye(4)]),
        prop_rgb=np.stack([p.rgb for p in props] or [np.zeros(3)]).astype(np.float32),
        studio_light=np.array(str(rng.choice(STUDIO_LIGHTS, p=_STUDIO_P))),
        studio_rotate_z=np.float64(rng.uniform(-np.pi, np.pi)),
        light_direction=np.array([np.cos(az) * np.cos(el), np.sin(az) * np.cos(el), np.sin(el)]),
        shadows=np.bool_(False),
        shadow_intensity=np.float64(rng.uniform(0.2, 0.7)),
        cavity=np.bool_(rng.random() < 0.3),
        aa=np.array("OFF"),
    )
    out.mkdir(parents=True, exist_ok=True)
    scene_path = out / "scene.npz"
    atomic_write(scene_path, lambda f: np.savez(f, **scene), binary=True)

    rot, org = fk_numpy.forward_kinematics(q, root, subject.offsets_m)
    bodies, local = blazepose33().define(subject)
    blaze = fk_numpy.body_points(rot, org, bodies, local)
    contact, cpos, level, still = truth_contacts(verts, _foot_patches(subject), 30.0)
    fwd = R[2]
    truth = Truth(
        fps=30.0,
        q_rad=q,
        root_m=root,
        offsets_m=subject.offsets_m,
        height_m=float(subject.height_m),
        body_origins_m=org,
        blaze_world_m=blaze,
        blaze_px=project(K, R, centre, blaze),
        K=K,
        R_cam_world=R,
        cam_centre_m=centre,
        cam_height_m=float(centre[1]),
        cam_pitch_deg=float(np.degrees(np.arcsin(-fwd[1]))),
        cam_roll_deg=float(cam.roll_deg),
        contact=contact,
        contact_pos_m=cpos,
        width_px=int(cam.width_px),
        height_px=int(cam.height_px),
        stance_level_m=level,
        contact_still=still,
        contact_rule=CONTACT_RULE,
        keypoint_rule=keypoint_rule(),
    )
    info = {
        "spec": spec.as_dict(),
        "subject": {
            "height_m": round(float(subject.height_m), 3),
            "mass_kg": round(float(subject.mass_kg), 1),
            "shape": dict(
                zip(subject.shape_labels, np.round(subject.shape, 3).tolist(), strict=True)
            ),
        },
        "look": look.style,
        "floor": floor_kind,
        "props": len(props),
        "camera": {
            "distance_m": round(dist, 2),
            "height_m": round(float(centre[1]), 2),
            "pitch_deg": round(truth.cam_pitch_deg, 1),
            "focal_px": round(float(K[0, 0]), 1),
            "size": f"{cam.width_px}x{cam.height_px}",
        },
        "frames": int(len(q)),
        "contact_fraction": round(float(contact.mean()), 3),
        "stance_level_m": round(level, 3),
    }
    return scene_path, truth, info


def run_blender(scene: Path, frames_dir: Path, timeout_s: float = 3600) -> tuple[float, float]:
    """Render the frames (resumes: frames already there are kept); returns the wall seconds and
    the seconds spent in the frames' renders themselves."""
    from core.hmr.synth.blender import blender_env, blender_python

    t0 = time.perf_counter()
    proc = subprocess.run(
        [str(blender_python()), str(BLENDER_SCRIPT), str(scene), str(frames_dir)],
        capture_output=True,
        text=True,
        timeout=timeout_s,
        env=blender_env(),
    )
    if proc.returncode != 0:
        tail = proc.stderr.strip().splitlines()[-1:] or ["no output"]
        raise RuntimeError(f"Blender render of {scene} failed ({proc.returncode}): {tail[0]}")
    own = sum(
        json.loads(line)["s"] for line in proc.stdout.splitlines() if line.startswith('{"frame"')
    )
    return time.perf_counter() - t0, own


def encode_mp4(frames: list[Path], path: Path, fps: float) -> Path:
    """PNG frames -> H.264 mp4 (crf 18, yuv420p) with PyAV, written atomically."""
    from fractions import Fraction

    import av
    from PIL import Image

    tmp = path.with_name(f".{path.name}.tmp.mp4")
    with av.open(str(tmp), "w") as out:
        stream = out.add_stream("libx264", rate=Fraction(fps).limit_denominator(1001))
        first = np.asarray(Image.open(frames[0]).convert("RGB"))
        stream.width, stream.height = first.shape[1], first.shape[0]
        stream.pix_fmt = "yuv420p"
        stream.options = {"crf": "18", "preset": "fast"}
        for p in frames:
            img = av.VideoFrame.from_ndarray(np.asarray(Image.open(p).convert("RGB")), "rgb24")
            out.mux(stream.encode(img))
        out.mux(stream.encode(None))
    tmp.replace(path)
    return path


def _locked_by_other(lock: Path) -> bool:
    """True while another live process renders this clip (its pid is in the lock file)."""
    try:
        pid = int(lock.read_text().strip() or 0)
    except (OSError, ValueError):
        return False
    if pid <= 0 or pid == os.getpid():
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def ensure_clip(spec, motion, clip_dir: Path, wait_s: float = 3600) -> tuple[Path, Truth, dict]:
    """The clip's video, truth and info, rendered unless already complete (resumable; another
    harness process rendering the same clip is waited for). ``motion`` is the true motion or a
    function returning it (called only when the clip must be rendered)."""
    video = clip_dir / "video.mp4"
    truth_path = clip_dir / "truth.npz"
    info_path = clip_dir / "info.json"
    lock = clip_dir / ".render.lock"
    t_wait = time.monotonic()
    while True:
        if video.is_file() and truth_path.is_file() and info_path.is_file():
            info = json.loads(info_path.read_text())
            if _same_window(spec, info.get("spec", {})):
                return video, refresh_truth(spec, clip_dir), info
            # everything in the folder (detections, the peer's IK) belongs to the old picture
            log.info("%s: rendered for another window or camera: rendering again", spec.name)
            shutil.rmtree(clip_dir)
        if not _locked_by_other(lock):
            break
        if time.monotonic() - t_wait > wait_s:
            raise TimeoutError(f"{spec.name}: another process has been rendering it for too long")
        time.sleep(5)
    clip_dir.mkdir(parents=True, exist_ok=True)
    lock.write_text(str(os.getpid()))
    try:
        return _render_clip(spec, motion() if callable(motion) else motion, clip_dir)
    finally:
        lock.unlink(missing_ok=True)


def _same_window(spec, rendered: dict) -> bool:
    """Whether a clip rendered from ``rendered`` (its info.json's spec) shows what ``spec`` asks:
    the same take, time window, seed, camera and truth convention (the motion file's path may
    differ by machine; a clip rendered before specs named the convention has its own)."""
    want = spec.as_dict()
    keys = ("take", "start_s", "seconds", "seed", "camera")
    same_truth = rendered.get("truth", "") == want.get("truth", "")
    return same_truth and all(rendered.get(k) == want[k] for k in keys)


def _render_clip(spec, motion, clip_dir: Path) -> tuple[Path, Truth, dict]:
    video = clip_dir / "video.mp4"
    truth_path = clip_dir / "truth.npz"
    info_path = clip_dir / "info.json"
    scene, truth, info = build_clip(spec, motion, clip_dir)
    frames_dir = clip_dir / "frames"
    secs, own = run_blender(scene, frames_dir)
    frames = sorted(frames_dir.glob("frame_*.png"))
    if len(frames) != len(truth.q_rad):
        raise RuntimeError(
            f"{spec.name}: {len(frames)} frames rendered, {len(truth.q_rad)} wanted"
        )
    encode_mp4(frames, video, truth.fps)
    info["render_s"] = round(secs, 1)
    info["render_s_per_frame"] = round(own / len(frames), 3)
    truth.save(truth_path)
    from core.motion import atomic_write

    atomic_write(info_path, lambda f: f.write(json.dumps(info, indent=1)))
    for p in frames:
        p.unlink()
    frames_dir.rmdir()
    scene.unlink()
    log.info("%s: rendered %d frames in %.0f s", spec.name, len(frames), secs)
    return video, truth, info
