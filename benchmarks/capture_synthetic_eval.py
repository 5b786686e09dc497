"""Accuracy of the video capture pipeline on synthetic renders with known joint angles.

Motions with known BSM-46 angles (the held-out CMU clips 131_01..03 retargeted by ``core.bvh``;
smooth random in-limit motions from ``core.neurik.data`` when ``core.bvh`` is missing) are put
on the default Anny subject, skinned (``core.body.pose_surface``), rendered with Blender
(``benchmarks/render_synthetic.py`` in ``.venv-blender``: Workbench, clothed-looking materials,
level pinhole camera with a known focal length, person facing it at an angle) and encoded as mp4.
Then, on each clip:

  mp-raw    MediaPipe world landmarks as they come (hip-centred)
  (a) ik    MediaPipe world landmarks -> core.ik.solve_ik on the BlazePose marker definitions
            (on the TRUE subject's skeleton: an advantage the other methods do not get)
  (b) neurik  MediaPipe world landmarks -> NeurIK (blazepose33 weights)
  (c) capture the full pipeline, core.capture.capture on the mp4 with the true focal length
            (height estimated by the pipeline, as a user would run it)

Printed per method: mean absolute joint-angle error per DOF group (deg; pelvis angles excluded:
the heading depends on the camera), MPJPE of the 24 body origins relative to the pelvis (mm)
in the capture's frame (level camera at the origin, Y up, looking along -Z; the truth is moved
there with the known camera, then one rigid rotation per clip is fitted), PA-MPJPE (per-frame
Procrustes with scale), MPJPE of the 12 limb landmarks (shoulders ... ankles) relative to the
hip midpoint (this one also for the raw MediaPipe landmarks), and jitter: mean acceleration of
those 12 hip-centred landmarks (m/s^2; the truth's own value is printed for reference).

    nice -n 10 .venv/bin/python benchmarks/capture_synthetic_eval.py [--seconds 3] [--out out/synth]
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from types import SimpleNamespace

import numpy as np

from core import fk_numpy
from core import skeleton as sk
from core.hmr.synth.appearance import dominant_body_per_face
from core.hmr.synth.blender import (
    BLENDER_PYTHON,
    OPENSIM_TO_BLENDER,
    blender_env,
    camera_matrix_blender,
)
from core.metrics import dof_group_errors_deg, mpjpe_mm, pa_mpjpe_mm, procrustes_align

log = logging.getLogger("capture_synthetic_eval")

REPO = Path(__file__).resolve().parents[1]
RENDER_SCRIPT = REPO / "benchmarks" / "render_synthetic.py"
CMU = REPO.parent / "shared" / "data" / "mocap" / "cmu"
CLIPS = ("131_01", "131_02", "131_03")

GROUPS = sk.DOF_GROUPS
LIMB_LANDMARKS = tuple(
    f"{s}_{j}"
    for j in ("shoulder", "elbow", "wrist", "hip", "knee", "ankle")
    for s in ("left", "right")
)

# Clothing by body: shirt on the trunk and upper arms, trousers on the pelvis and legs, shoes on
# the feet, skin on the head, forearms and hands. Linear RGB.
MATERIALS = {
    "skin": ((0.62, 0.40, 0.28), ("head", "ulna_r", "ulna_l", "radius_r", "radius_l", "hand_r", "hand_l")),
    "shirt": ((0.50, 0.07, 0.05), ("lumbar", "thorax", "scapula_r", "scapula_l", "humerus_r", "humerus_l")),
    "trousers": ((0.10, 0.16, 0.35), ("pelvis", "femur_r", "femur_l", "tibia_r", "tibia_l")),
    "shoes": ((0.75, 0.75, 0.72), ("talus_r", "talus_l", "calcn_r", "calcn_l", "toes_r", "toes_l")),
}  # fmt: skip
BACKGROUND_RGB = (0.55, 0.62, 0.70)


# ------------------------------------------------------------------------------ motions
@dataclass
class TrueMotion:
    name: str
    fps: float
    q_rad: np.ndarray  # (T, 46)
    root_m: np.ndarray  # (T, 3) OpenSim world, floor at y = 0
    source: str


def _have_bvh() -> bool:
    try:
        from core.bvh import retarget_bvh  # noqa: F401
    except ImportError:
        return False
    return True


def _floor_to_zero(subject, q: np.ndarray, root: np.ndarray, per_frame: bool) -> np.ndarray:
    """Root shifted so the lowest surface point touches y = 0 (over the clip, or every frame)."""
    from core.body import pose_surface

    low = pose_surface(subject, q, root)[..., 1].min(-1)
    root = root.copy()
    root[:, 1] -= low if per_frame else low.min()
    return root


def cmu_motion(subject, clip: str, seconds: float, start_s: float, fps: float) -> TrueMotion:
    """A held-out CMU clip retargeted onto BSM-46, resampled to ``fps``, on ``subject``."""
    from core.bvh import retarget_bvh

    path = CMU / f"{clip}.bvh"
    if not path.is_file():
        raise FileNotFoundError(f"CMU clip not found: {path}")
    n_end = int(round((start_s + seconds) * fps)) + 1
    motion, _ = retarget_bvh(path, target_fps=fps, max_frames=n_end)
    a = int(round(start_s * motion.fps))
    idx = np.arange(a, min(motion.n_frames, a + int(round(seconds * motion.fps))))
    if len(idx) < 10:
        raise ValueError(f"{clip}: too short for a {seconds} s window from {start_s} s")
    q = motion.q_rad[idx]
    # Root translation scaled from the retargeted skeleton to the subject by leg length.
    leg = [sk.BODY[b] for b in ("tibia_r", "talus_r")]
    ratio = np.linalg.norm(subject.offsets_m[leg], axis=1).sum() / max(
        np.linalg.norm(motion.offsets_m[leg], axis=1).sum(), 1e-6
    )
    root = motion.root_m[idx] * ratio
    root[:, [0, 2]] -= root[:, [0, 2]].mean(0)
    root = _floor_to_zero(subject, q, root, per_frame=False)
    return TrueMotion(clip, motion.fps, q, root, f"CMU {clip} via core.bvh.retarget_bvh")


def random_motion(subject, seed: int, seconds: float, fps: float) -> TrueMotion:
    """Smooth in-limit motion (core.neurik.data.random_trajectories), feet on the floor."""
    from core.neurik.data import random_trajectories

    t = int(round(seconds * fps))
    q = random_trajectories(np.random.default_rng(seed), 1, t, fps)[0]
    root = _floor_to_zero(subject, q, np.zeros((t, 3)), per_frame=True)
    return TrueMotion(f"random_{seed}", fps, q, root, "core.neurik.data.random_trajectories")


# ------------------------------------------------------------------------------ scene
@dataclass
class TrueCamera:
    focal_px: float
    width_px: int
    height_px: int
    centre_m: np.ndarray  # (3,) OpenSim world
    rows: np.ndarray  # (3, 3) rows: right, up, forward (OpenSim world)

    def to_capture(self, points_m: np.ndarray) -> np.ndarray:
        """OpenSim-world points -> the capture's world (camera at 0, Y up, looking along -Z)."""
        m = self.rows * np.array([[1.0], [1.0], [-1.0]])
        return (points_m - self.centre_m) @ m.T

    def project(self, points_m: np.ndarray) -> np.ndarray:
        pc = (points_m - self.centre_m) @ self.rows.T  # x right, y up, z forward
        return np.stack(
            [
                self.focal_px * pc[..., 0] / pc[..., 2] + self.width_px / 2,
                -self.focal_px * pc[..., 1] / pc[..., 2] + self.height_px / 2,
            ],
            -1,
        )

    def blender_matrix_world(self) -> np.ndarray:
        return camera_matrix_blender(*self.rows, self.centre_m)


def place_camera(
    vertices_m: np.ndarray,
    q_rad: np.ndarray,
    yaw_deg: float,
    focal_px: float,
    size_px: tuple[int, int],
    height_m: float,
    margin: float = 0.08,
) -> TrueCamera:
    """A level camera in front of the person (turned ``yaw_deg`` off their mean heading),
    ``height_m`` above the floor, as near as it can be with the whole clip in view."""
    h = float(np.angle(np.exp(1j * q_rad[:, sk.DOF["pelvis_rotation"]]).mean()))
    a = h + np.radians(yaw_deg)
    # pelvis_rotation turns about +Y; the body faces +X at 0: facing = R_y(a) @ (1, 0, 0).
    to_cam = np.array([np.cos(a), 0.0, -np.sin(a)])
    centre = vertices_m.reshape(-1, 3).mean(0)
    centre[1] = 0.0
    fwd = -to_cam
    up = np.array([0.0, 1.0, 0.0])
    right = np.cross(fwd, up)
    rows = np.stack([right, up, fwd])
    w, hh = size_px
    pts = vertices_m[:, :: max(1, vertices_m.shape[1] // 3000)].reshape(-1, 3)
    for d in np.arange(2.5, 20.0, 0.1):
        cam = TrueCamera(focal_px, w, hh, centre + d * to_cam + up * height_m, rows)
        px = cam.project(pts)
        ok = (
            px[:, 0].min() > margin * w
            and px[:, 0].max() < (1 - margin) * w
            and px[:, 1].min() > margin * hh
            and px[:, 1].max() < (1 - margin) * hh
        )
        if ok:
            return cam
    raise ValueError("the motion does not fit in view from 20 m; use a shorter window")


def face_materials(subject) -> np.ndarray:
    """(F,) material index per face from the dominant skinning body of its vertices."""
    body_mat = np.zeros(sk.N_BODIES, dtype=np.int64)
    for k, (_, bodies) in enumerate(MATERIALS.values()):
        for b in bodies:
            body_mat[sk.BODY[b]] = k
    return dominant_body_per_face(subject, body_mat)


def write_scene(
    path: Path, subject, motion: TrueMotion, cam: TrueCamera, vertices_m: np.ndarray
) -> Path:
    from core.motion import atomic_write

    names = list(MATERIALS)
    arrays = dict(
        vertices_m=(vertices_m @ OPENSIM_TO_BLENDER.T).astype(np.float32),
        faces=np.asarray(subject.surface.faces, dtype=np.int32),
        face_material=face_materials(subject).astype(np.int32),
        material_names=np.array(names),
        material_rgb=np.array([MATERIALS[n][0] for n in names]),
        camera_matrix_world=cam.blender_matrix_world(),
        focal_px=np.float64(cam.focal_px),
        width_px=np.int64(cam.width_px),
        height_px=np.int64(cam.height_px),
        floor_z_m=np.float64(0.0),
        background_rgb=np.array(BACKGROUND_RGB),
    )
    atomic_write(path, lambda f: np.savez_compressed(f, **arrays), binary=True)
    return path


def render_frames(scene: Path, frames_dir: Path, timeout_s: float = 3600) -> list[Path]:
    """Run the Blender renderer in .venv-blender; returns the PNGs in frame order."""
    if not BLENDER_PYTHON.is_file():
        raise FileNotFoundError(f"Blender interpreter not found: {BLENDER_PYTHON}")
    env = blender_env()
    proc = subprocess.run(
        [str(BLENDER_PYTHON), str(RENDER_SCRIPT), str(scene), str(frames_dir)],
        capture_output=True,
        text=True,
        timeout=timeout_s,
        env=env,
    )
    if proc.returncode != 0:
        raise RuntimeError(f"render failed ({proc.returncode}): {proc.stderr[-2000:]}")
    return sorted(frames_dir.glob("frame_*.png"))


def encode_mp4(frames: list[Path], path: Path, fps: float) -> Path:
    """PNG frames -> H.264 mp4 (crf 16) with PyAV."""
    from fractions import Fraction

    import av
    from PIL import Image

    tmp = path.with_name(f".{path.name}.tmp.mp4")
    with av.open(str(tmp), "w") as out:
        stream = out.add_stream("libx264", rate=Fraction(fps).limit_denominator(1001))
        first = np.asarray(Image.open(frames[0]).convert("RGB"))
        stream.width, stream.height = first.shape[1], first.shape[0]
        stream.pix_fmt = "yuv420p"
        stream.options = {"crf": "16", "preset": "medium"}
        for p in frames:
            img = av.VideoFrame.from_ndarray(np.asarray(Image.open(p).convert("RGB")), "rgb24")
            out.mux(stream.encode(img))
        out.mux(stream.encode(None))
    tmp.replace(path)
    return path


# ------------------------------------------------------------------------------ metrics
def pose_errors(pred: np.ndarray, true: np.ndarray) -> dict[str, float]:
    """pred, true (T, 24, 3) body origins in the capture frame."""
    p = pred - pred[:, :1]
    t = true - true[:, :1]
    seq = procrustes_align(p.reshape(1, -1, 3), t.reshape(1, -1, 3), scale=False)
    # the clip-wide rotation recentres on the clip's centroid; the pelvis stays the reference
    seq = seq.reshape(p.shape)
    return {
        "mpjpe_cam_mm": float(mpjpe_mm(p, t).mean()),
        "mpjpe_mm": float(mpjpe_mm(seq, t).mean()),
        "pa_mpjpe_mm": float(pa_mpjpe_mm(p, t).mean()),
    }


def landmark_errors(pred: np.ndarray, true: np.ndarray, fps: float) -> dict[str, float]:
    """pred, true (T, 12, 3) limb landmarks; hip-midpoint relative MPJPE and jitter."""
    hips = [LIMB_LANDMARKS.index(n) for n in ("left_hip", "right_hip")]
    p = pred - pred[:, hips].mean(1, keepdims=True)
    t = true - true[:, hips].mean(1, keepdims=True)
    ok = np.isfinite(p).all((1, 2))
    seq = procrustes_align(p[ok].reshape(1, -1, 3), t[ok].reshape(1, -1, 3), scale=False)
    seq = seq.reshape(p[ok].shape)
    seq = seq - seq[:, hips].mean(1, keepdims=True)
    return {
        "lm_mpjpe_mm": 1000 * float(np.linalg.norm(seq - t[ok], axis=-1).mean()),
        "jitter_mps2": jitter(p, fps),
    }


def jitter(points: np.ndarray, fps: float) -> float:
    acc = (points[2:] - 2 * points[1:-1] + points[:-2]) * fps**2
    return float(np.nanmean(np.linalg.norm(acc, axis=-1)))


def angle_errors(q: np.ndarray, q_true: np.ndarray) -> dict[str, float]:
    return dof_group_errors_deg(q, q_true, GROUPS)


def limb_points(q, root, offsets_m, height_m) -> np.ndarray:
    from core.neurik.markersets import blazepose33

    ms = blazepose33()
    bodies, local = ms.define(SimpleNamespace(offsets_m=offsets_m, height_m=height_m))
    idx = [ms.names.index(n) for n in LIMB_LANDMARKS]
    rot, org = fk_numpy.forward_kinematics(q, root, offsets_m)
    return fk_numpy.body_points(rot, org, bodies[idx], local[idx])


# ------------------------------------------------------------------------------ one clip
def evaluate_clip(
    subject, motion: TrueMotion, out: Path, args: argparse.Namespace
) -> dict[str, dict[str, float]]:
    from core.body import pose_surface
    from core.capture import CaptureOptions, Progress, capture
    from core.detect import detect
    from core.ik import IKConfig, solve_ik
    from core.motion import Motion
    from core.neurik.markersets import blazepose33, mediapipe_world_to_bsm
    from core.neurik.runtime import run_neurik

    out.mkdir(parents=True, exist_ok=True)
    verts = pose_surface(subject, motion.q_rad, motion.root_m)
    cam = place_camera(
        verts, motion.q_rad, args.yaw_deg, args.focal_px, (args.width, args.height), 1.0
    )
    video = out / f"{motion.name}.mp4"
    if not video.is_file() or args.rerender:
        scene = write_scene(out / "scene.npz", subject, motion, cam, verts)
        t0 = time.perf_counter()
        frames = render_frames(scene, out / "frames")
        log.info(
            "%s: rendered %d frames in %.0f s", motion.name, len(frames), time.perf_counter() - t0
        )
        encode_mp4(frames, video, motion.fps)
        scene.unlink()
    # Truth in the capture's frame.
    _, org_true = fk_numpy.forward_kinematics(motion.q_rad, motion.root_m, subject.offsets_m)
    org_true = cam.to_capture(org_true)
    lm_true = cam.to_capture(
        limb_points(motion.q_rad, motion.root_m, subject.offsets_m, subject.height_m)
    )
    results: dict[str, dict[str, float]] = {"truth": {"jitter_mps2": 0.0}}
    hips = [LIMB_LANDMARKS.index(n) for n in ("left_hip", "right_hip")]
    results["truth"]["jitter_mps2"] = jitter(
        lm_true - lm_true[:, hips].mean(1, keepdims=True), motion.fps
    )

    det = detect(video, focal_px=cam.focal_px)
    fi = np.asarray(det.frame_indices)
    if len(fi) != len(motion.q_rad):
        log.warning("%s: %d frames decoded, %d rendered", motion.name, len(fi), len(motion.q_rad))
    found = np.asarray(det.person_found, bool)
    results["truth"]["found_pct"] = 100.0 * found.mean()
    q_true, org_t, lm_t = motion.q_rad[fi], org_true[fi], lm_true[fi]
    ms = blazepose33()
    world = mediapipe_world_to_bsm(det.keypoints_3d_m)
    conf = np.where(found[:, None], det.confidence, 0.0)
    idx = [ms.names.index(n) for n in LIMB_LANDMARKS]
    results["mp-raw"] = landmark_errors(world[:, idx], lm_t, motion.fps)
    # 2D accuracy of MediaPipe on the renders (limb landmarks vs the projected truth).
    lm_px = cam.project(
        limb_points(motion.q_rad, motion.root_m, subject.offsets_m, subject.height_m)
    )[fi]
    results["mp-raw"]["err2d_px"] = float(
        np.nanmean(np.linalg.norm(det.keypoints_2d_px[:, idx] - lm_px, axis=-1))
    )

    # (a) optimisation IK on the world landmarks, true skeleton.
    t0 = time.perf_counter()
    bodies, local = ms.define(subject)
    ik = solve_ik(world, bodies, local, subject.offsets_m, weights=conf, config=IKConfig())
    q_a, r_a = ik.q_rad.numpy(), ik.root_m.numpy()
    res_a = angle_errors(q_a, q_true)
    res_a.update(pose_errors(fk_numpy.forward_kinematics(q_a, r_a, subject.offsets_m)[1], org_t))
    res_a.update(
        landmark_errors(
            limb_points(q_a, r_a, subject.offsets_m, subject.height_m), lm_t, motion.fps
        )
    )
    res_a["time_s"] = time.perf_counter() - t0
    results["(a) ik"] = res_a

    # (b) NeurIK alone.
    t0 = time.perf_counter()
    nk = run_neurik(world, conf, model="blazepose33")
    res_b = angle_errors(nk.q_rad, q_true)
    res_b.update(
        pose_errors(fk_numpy.forward_kinematics(nk.q_rad, nk.root_m, nk.offsets_m)[1], org_t)
    )
    h_b = 1.75 * float(np.median(nk.segment_scale))
    res_b.update(
        landmark_errors(limb_points(nk.q_rad, nk.root_m, nk.offsets_m, h_b), lm_t, motion.fps)
    )
    res_b["time_s"] = time.perf_counter() - t0
    results["(b) neurik"] = res_b

    # (c) the full pipeline.
    t0 = time.perf_counter()
    cres = capture(
        video,
        CaptureOptions(output=out / "capture", focal_px=cam.focal_px, export_opensim=False),
        progress=Progress(jsonl=True, stream=open(os.devnull, "w")),
    )
    m = Motion.load(cres.motion_path)
    res_c = angle_errors(m.q_rad, q_true)
    res_c.update(
        pose_errors(fk_numpy.forward_kinematics(m.q_rad, m.root_m, m.offsets_m)[1], org_t)
    )
    res_c.update(
        landmark_errors(limb_points(m.q_rad, m.root_m, m.offsets_m, m.height_m), lm_t, motion.fps)
    )
    res_c["time_s"] = time.perf_counter() - t0
    res_c["reproj_px"] = cres.mean_reprojection_px
    res_c["height_m"] = m.height_m
    res_c["violations"] = float(cres.limit_violations)
    # Absolute pelvis position in the capture frame (depth from the known focal length).
    res_c["pelvis_pos_mm"] = 1000 * float(np.linalg.norm(m.root_m - org_t[:, 0], axis=-1).mean())
    results["(c) capture"] = res_c
    results["truth"]["height_m"] = subject.height_m
    return results


# ------------------------------------------------------------------------------ report
COLUMNS = (
    *GROUPS,
    "mpjpe_mm",
    "pa_mpjpe_mm",
    "mpjpe_cam_mm",
    "lm_mpjpe_mm",
    "jitter_mps2",
)


def print_table(name: str, results: dict[str, dict[str, float]]) -> None:
    print(f"\n== {name}")
    print(f"{'method':<12}" + "".join(f"{c[:11]:>12}" for c in COLUMNS))
    for method, r in results.items():
        cells = "".join(
            f"{r[c]:>12.1f}" if c in r and np.isfinite(r[c]) else f"{'-':>12}" for c in COLUMNS
        )
        print(f"{method:<12}{cells}")
    extra = {m: {k: v for k, v in r.items() if k not in COLUMNS} for m, r in results.items()}
    for method, r in extra.items():
        if r:
            print(f"  {method}: " + ", ".join(f"{k} {v:.2f}" for k, v in r.items()))


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("--out", type=Path, default=REPO / "out" / "synthetic_eval")
    p.add_argument("--seconds", type=float, default=3.0)
    p.add_argument("--start", type=float, default=1.0, help="window start in each CMU clip (s)")
    p.add_argument("--fps", type=float, default=30.0)
    p.add_argument("--width", type=int, default=640)
    p.add_argument("--height", type=int, default=480)
    p.add_argument("--focal-px", type=float, default=700.0)
    p.add_argument("--yaw-deg", type=float, default=35.0, help="camera off the person's heading")
    p.add_argument("--clips", nargs="*", default=list(CLIPS))
    p.add_argument("--random", action="store_true", help="random in-limit motions, not CMU")
    p.add_argument("--rerender", action="store_true", help="render again even if the mp4 exists")
    args = p.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    os.environ.setdefault("ANNY_CACHE_DIR", str(REPO / ".cache" / "anny"))
    if not BLENDER_PYTHON.is_file():
        print(f"error: Blender interpreter not found: {BLENDER_PYTHON}", file=sys.stderr)
        return 2
    from core.body import default_subject

    subject = default_subject()
    use_cmu = not args.random and _have_bvh()
    if not args.random and not use_cmu:
        log.warning("core.bvh is not available: using random in-limit motions instead of CMU")
    all_results = {}
    for k, clip in enumerate(args.clips):
        if use_cmu:
            motion = cmu_motion(subject, clip, args.seconds, args.start, args.fps)
        else:
            motion = random_motion(subject, 100 + k, args.seconds, args.fps)
        log.info(
            "%s: %d frames at %.1f fps (%s)",
            motion.name,
            len(motion.q_rad),
            motion.fps,
            motion.source,
        )
        res = evaluate_clip(subject, motion, args.out / motion.name, args)
        print_table(f"{motion.name} ({motion.source})", res)
        all_results[motion.name] = res
    methods = list(next(iter(all_results.values())))
    mean = {
        m: {
            k: float(np.mean([r[m][k] for r in all_results.values() if k in r[m]]))
            for k in all_results[next(iter(all_results))][m]
        }
        for m in methods
    }
    print_table(f"mean over {len(all_results)} clips", mean)
    (args.out / "results.json").write_text(json.dumps(all_results, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
