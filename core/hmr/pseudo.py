"""Pseudo ground truth for MQ-HMR on real frames, as HSMR does: fit the body to real video by
optimisation, keep the fits as training labels, down-weight the poor ones.

Each input (video or image) goes through the capture pipeline (:func:`core.capture.capture`:
MediaPipe, NeurIK, the surface stage ``--hmr fit|mq``, the whole-sequence 2D refinement). For
every K-th frame where the person was found, a 256 x 256 crop around MediaPipe's keypoints
(:func:`core.hmr.mq.crop_from_keypoints`) and its labels are written in the folder format of
:mod:`core.hmr.mq.data` (version 1), so :class:`core.hmr.mq.data.SynthDataset` trains on it:

* ``q_rad`` the refined angles (pelvis angles w.r.t. the capture's world: Y up, a level camera
  at the origin looking along -Z; only the camera-frame pose, with ``R_cam_world``, matters to
  the trainer); ``shape`` and ``offsets_m`` the captured subject's; ``R_cam_world`` the capture
  camera's rotation; ``t_cam_m`` the pelvis in the camera; ``K`` the crop's intrinsics;
* ``joints_cam_m``, ``joints_2d_px``, ``keypoints_2d_px`` by forward kinematics and projection;
  ``kp_bodies``/``kp_local_m`` from ``blazepose33().define(subject)``;
* ``keypoints_vis``: MediaPipe confidence > 0.5 and the labelled point inside the crop;
* ``weight`` (N,): ``exp(-e / 10 px)``, e the confidence-weighted mean distance (crop pixels)
  of the labelled BlazePose points from MediaPipe's (confidence > 0.5), so the trainer can
  down-weight poor fits; ``held_out`` False.

Extra arrays (ignored by the loader): ``keypoints_mp_px`` and ``keypoints_conf`` (MediaPipe's
points in the crop and their confidence), ``reprojection_px``, ``frame_index``, ``time_s``,
``source``. ``meta.json`` says ``"source": "pseudo"`` and records the provenance (inputs, each
capture's provenance, options, command). The folder is assembled beside ``-o`` and renamed into
place when complete: a crash or Ctrl-C leaves no partial dataset.
"""

from __future__ import annotations

import argparse
import logging
import math
import os
import shlex
import shutil
import sys
import tempfile
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path

import numpy as np

from core import fk_numpy
from core import skeleton as sk

__all__ = ["PseudoOptions", "PseudoSample", "InputReport", "PseudoResult", "make_pseudo", "main"]

log = logging.getLogger(__name__)

EXAMPLE = """examples:
  python -m core.hmr.pseudo clip.mp4 -o .cache/hmr_data/pseudo_clip --every 3
  python -m core.hmr.pseudo a.mp4 b.jpg -o DIR --person left --start 2 --end 6 --hmr mq \\
      --checkpoint core/hmr/mq/weights/small
"""
PIXEL_CONVENTION = "pixel centres at integer coordinates (top-left pixel = (0, 0))"
WORLD_FRAME = (
    "capture world: Y up, a level camera at the origin looking along -Z (not OpenSim's floor "
    "frame); the camera-frame pose (q_rad re-expressed with R_cam_world) is what is labelled"
)
JPEG_QUALITY = 95


@dataclass
class PseudoOptions:
    out: Path
    person: str | None = None  # core.detect selector: main, largest, center, left, right, index
    start_s: float | None = None
    end_s: float | None = None
    every: int = 1  # keep every K-th frame where the person was found
    hmr: str = "fit"  # surface stage of the capture: "fit" or "mq"
    hmr_refine: str = "query"  # MQ-HMR refinement with hmr="mq"
    checkpoint: str = "small"  # MQ-HMR weights with hmr="mq"
    size: int = 256  # crop side, pixels
    focal_px: float | None = None
    fov_deg: float | None = None
    height_m: float | None = None
    device: str = "auto"
    vis_conf: float = 0.5  # MediaPipe confidence above which a keypoint is "visible"
    weight_scale_px: float = 10.0  # weight = exp(-reprojection_px / weight_scale_px)

    def check(self) -> None:
        if self.every < 1:
            raise ValueError(f"--every must be at least 1, got {self.every}")
        if not 32 <= self.size <= 1024:
            raise ValueError(f"--size must lie in 32..1024 pixels, got {self.size}")
        if self.hmr not in ("fit", "mq"):
            raise ValueError(f"unknown surface method {self.hmr!r}; use fit or mq")
        if self.weight_scale_px <= 0:
            raise ValueError(f"weight_scale_px must be positive, got {self.weight_scale_px}")


@dataclass
class PseudoSample:
    """One crop and its labels (the per-sample rows of labels.npz)."""

    image: np.ndarray  # (S, S, 3) uint8 RGB crop
    q_rad: np.ndarray  # (46,) pelvis angles w.r.t. the capture world
    shape: np.ndarray  # (S,) Anny phenotype values
    offsets_m: np.ndarray  # (24, 3)
    R_cam_world: np.ndarray  # (3, 3) world -> camera  # noqa: N815
    t_cam_m: np.ndarray  # (3,) pelvis origin in the camera
    K: np.ndarray  # (3, 3) intrinsics of the crop, pixels
    joints_cam_m: np.ndarray  # (24, 3)
    joints_2d_px: np.ndarray  # (24, 2) crop pixels
    keypoints_2d_px: np.ndarray  # (33, 2) the fitted BlazePose points, projected
    keypoints_vis: np.ndarray  # (33,) bool
    kp_local_m: np.ndarray  # (33, 3)
    weight: float  # exp(-reprojection_px / scale)
    reprojection_px: float  # labelled vs MediaPipe keypoints, crop pixels
    keypoints_mp_px: np.ndarray  # (33, 2) MediaPipe's keypoints in the crop
    keypoints_conf: np.ndarray  # (33,) MediaPipe's confidence
    frame_index: int  # index of the frame in the input
    time_s: float
    source: str  # the input file's name


_ARRAY_FIELDS = tuple(f.name for f in fields(PseudoSample) if f.name != "image")


@dataclass
class InputReport:
    path: str
    frames: int  # frames of the capture
    found: int  # of them with the person
    samples: int  # written
    skipped: int  # found but not usable (no confident keypoint, crop impossible, behind camera)
    mean_reprojection_px: float  # the capture's own (full-frame pixels)
    limit_violations: int
    capture_provenance: dict = field(default_factory=dict)


@dataclass
class PseudoResult:
    out: Path
    n: int
    inputs: list[InputReport]
    mean_weight: float


def _project(k: np.ndarray, p_cam: np.ndarray) -> np.ndarray:
    uvw = p_cam @ k.T
    return uvw[..., :2] / uvw[..., 2:3]


def _subject_of(motion):
    """The captured subject rebuilt from the motion's Anny shape, checked against its skeleton."""
    from core.body import build_subject

    subject = build_subject(dict(zip(motion.shape_labels, motion.shape.tolist(), strict=True)))
    err = float(np.abs(subject.offsets_m - motion.offsets_m).max())
    if err > 1e-6:
        raise ValueError(
            f"the captured subject's shape does not rebuild its skeleton (offsets differ by "
            f"{1000 * err:.2f} mm); was the motion made with another body model version?"
        )
    return subject


def label_frame(
    rgb: np.ndarray,
    motion,
    k: int,
    kp_bodies: np.ndarray,
    kp_local_m: np.ndarray,
    opts: PseudoOptions,
    frame_index: int,
    time_s: float,
    source: str,
) -> PseudoSample | None:
    """The crop and labels of motion frame ``k`` drawn from the frame image ``rgb`` (None when
    the frame has no usable keypoints)."""
    from core.hmr.mq import crop_from_keypoints, frame_to_crop

    cam = motion.camera
    if rgb.shape[:2] != (cam.height_px, cam.width_px):
        raise ValueError(
            f"{source}: frame of {rgb.shape[1]}x{rgb.shape[0]} px, the capture's camera is "
            f"{cam.width_px}x{cam.height_px} px"
        )
    kp_mp = motion.keypoints_2d[k, :, :2]
    conf = np.where(np.isfinite(kp_mp).all(1), motion.keypoints_2d[k, :, 2], 0.0)
    k_full = cam.intrinsics
    try:
        crop = crop_from_keypoints(rgb, np.nan_to_num(kp_mp), conf, k_full, opts.size)
    except ValueError as e:
        log.debug("%s frame %d: no crop (%s)", source, frame_index, e)
        return None
    kp_mp_crop = frame_to_crop(np.nan_to_num(kp_mp), crop.K, k_full)
    r, t = np.asarray(cam.rotation, np.float64), np.asarray(cam.translation_m, np.float64)
    rot, org = fk_numpy.forward_kinematics(motion.q_rad[k], motion.root_m[k], motion.offsets_m)
    joints_cam = org @ r.T + t
    kp_cam = fk_numpy.body_points(rot, org, kp_bodies, kp_local_m) @ r.T + t
    if min(joints_cam[:, 2].min(), kp_cam[:, 2].min()) < 0.05:
        log.warning("%s frame %d: the fitted body reaches behind the camera", source, frame_index)
        return None
    kp_2d = _project(crop.K, kp_cam)
    confident = conf > opts.vis_conf
    if not confident.any():
        return None
    dist = np.linalg.norm(kp_2d - kp_mp_crop, axis=1)
    err = float((conf * dist)[confident].sum() / conf[confident].sum())
    inside = ((kp_2d >= -0.5) & (kp_2d <= opts.size - 0.5)).all(1)
    return PseudoSample(
        image=crop.image,
        q_rad=motion.q_rad[k].copy(),
        shape=np.asarray(motion.shape, np.float64).copy(),
        offsets_m=np.asarray(motion.offsets_m, np.float64).copy(),
        R_cam_world=r.copy(),
        t_cam_m=joints_cam[sk.BODY["pelvis"]].copy(),
        K=crop.K,
        joints_cam_m=joints_cam,
        joints_2d_px=_project(crop.K, joints_cam),
        keypoints_2d_px=kp_2d,
        keypoints_vis=confident & inside,
        kp_local_m=np.asarray(kp_local_m, np.float64).copy(),
        weight=math.exp(-err / opts.weight_scale_px),
        reprojection_px=err,
        keypoints_mp_px=kp_mp_crop,
        keypoints_conf=conf,
        frame_index=int(frame_index),
        time_s=float(time_s),
        source=source,
    )


def _label_frames(
    path: Path,
    motion,
    wanted: set[int],
    kp_bodies: np.ndarray,
    kp_local: np.ndarray,
    opts: PseudoOptions,
) -> list[PseudoSample]:
    """Label the ``wanted`` frames of the capture's time grid ``t0 + k / fps`` (the grid
    ``core.capture`` puts detections on), each from the decoded frame nearest its time."""
    from core.video import iter_frames

    fps = motion.fps
    best: dict[int, tuple[float, PseudoSample | None]] = {}
    t0 = None
    last_slot = -1
    for frame in iter_frames(path, opts.start_s, opts.end_s):
        t0 = frame.time_s if t0 is None else t0
        slot = int(np.rint((frame.time_s - t0) * fps))
        last_slot = max(last_slot, slot)
        d = abs(frame.time_s - t0 - slot / fps)
        if slot in wanted and (slot not in best or d < best[slot][0]):
            sample = label_frame(
                frame.rgb, motion, slot, kp_bodies, kp_local, opts, frame.index, frame.time_s,
                path.name,
            )  # fmt: skip
            best[slot] = (d, sample)
    if last_slot + 1 != motion.n_frames:
        raise ValueError(
            f"{path}: {last_slot + 1} frames on the capture's {fps:.2f} fps grid, but the "
            f"capture has {motion.n_frames}; the input decodes differently on a second pass"
        )
    return [best[k][1] for k in sorted(best) if best[k][1] is not None]


def pseudo_label_input(path: Path, opts: PseudoOptions, progress=None):
    """Capture ``path`` and label every ``opts.every``-th frame with the person."""
    from core.capture import CaptureOptions, Progress, capture
    from core.motion import Motion
    from core.neurik.markersets import blazepose33

    with tempfile.TemporaryDirectory(prefix="pseudo-capture-") as tmp:
        res = capture(
            path,
            CaptureOptions(
                output=Path(tmp),
                device=opts.device,
                focal_px=opts.focal_px,
                fov_deg=opts.fov_deg,
                start_s=opts.start_s,
                end_s=opts.end_s,
                person=opts.person,
                height_m=opts.height_m,
                overlay=False,
                export_opensim=False,
                name="pseudo",
                hmr=opts.hmr,
                hmr_refine=opts.hmr_refine,
                hmr_checkpoint=str(opts.checkpoint),
                # A label trains a per-frame network: it must fit its own image (the smooth
                # correction trades per-frame 2D fit for less jitter; labels 90th-percentile
                # 18 px from MediaPipe on the crops with it, tests/test_hmr_pseudo.py)
                smooth_correction=False,
            ),
            progress or Progress(jsonl=True, stream=_Discard()),
        )
        motion = Motion.load(res.motion_path)
    subject = _subject_of(motion)
    kp_bodies, kp_local = blazepose33().define(subject)
    kp = motion.keypoints_2d
    found = (np.asarray(motion.confidence) > 0) & np.isfinite(kp[..., :2]).all(-1).any(-1)
    slots = np.flatnonzero(found)[:: opts.every]
    samples = _label_frames(path, motion, set(slots.tolist()), kp_bodies, kp_local, opts)
    report = InputReport(
        path=str(path),
        frames=motion.n_frames,
        found=int(found.sum()),
        samples=len(samples),
        skipped=len(slots) - len(samples),
        mean_reprojection_px=float(res.mean_reprojection_px),
        limit_violations=int(res.limit_violations),
        capture_provenance=dict(motion.provenance),
    )
    return samples, kp_bodies, motion.shape_labels, report


class _Discard:
    """A text stream that drops what is written (the capture's JSON progress lines)."""

    def write(self, text: str) -> int:
        return len(text)

    def flush(self) -> None:
        pass


def _write_folder(
    stage: Path,
    samples: list[PseudoSample],
    kp_bodies: np.ndarray,
    meta: dict,
) -> None:
    import json

    from PIL import Image

    (stage / "images").mkdir(parents=True)
    for i, s in enumerate(samples):
        Image.fromarray(s.image).save(stage / "images" / f"{i:06d}.jpg", quality=JPEG_QUALITY)
    arrays = {f: np.stack([np.asarray(getattr(s, f)) for s in samples]) for f in _ARRAY_FIELDS}
    arrays["keypoints_vis"] = arrays["keypoints_vis"].astype(bool)
    arrays["source"] = arrays["source"].astype(str)
    arrays["kp_bodies"] = np.asarray(kp_bodies, dtype=np.int64)
    arrays["held_out"] = np.zeros(len(samples), dtype=bool)
    np.savez(stage / "labels.npz", **arrays)
    (stage / "meta.json").write_text(json.dumps(meta, indent=1))


def make_pseudo(
    inputs: list[Path], opts: PseudoOptions, progress=None, command: str = ""
) -> PseudoResult:
    """Pseudo-label ``inputs`` into the data folder ``opts.out`` (must not exist or be empty).
    ``progress``: a ``core.capture.Progress`` for the captures (default: silent); ``command``:
    recorded in meta.json."""
    from core.hmr.mq.data import DATA_VERSION
    from core.neurik.markersets import BLAZEPOSE_NAMES

    opts.check()
    if not inputs:
        raise ValueError("no input given")
    for p in inputs:
        if not Path(p).exists():
            raise FileNotFoundError(f"input not found: {p}")
    out = Path(opts.out)
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise ValueError(f"{out} already exists and is not an empty folder; choose another -o")
    samples: list[PseudoSample] = []
    reports: list[InputReport] = []
    kp_bodies, labels = None, None
    for p in inputs:
        log.info("capturing %s (--hmr %s)", p, opts.hmr)
        got, kb, lab, rep = pseudo_label_input(Path(p), opts, progress)
        if kp_bodies is not None and (not np.array_equal(kb, kp_bodies) or lab != labels):
            raise ValueError(f"{p}: keypoint bodies or shape labels differ from the first input")
        kp_bodies, labels = kb, lab
        log.info(
            "%s: %d frames, person in %d, %d samples (%d skipped)",
            p, rep.frames, rep.found, rep.samples, rep.skipped,
        )  # fmt: skip
        samples += got
        reports.append(rep)
    if not samples:
        raise ValueError("no usable frame with the person in any input; nothing written")
    weights = np.array([s.weight for s in samples])
    meta = {
        "version": DATA_VERSION,
        "n": len(samples),
        "image_size": [opts.size, opts.size],
        "shape_labels": list(labels),
        "keypoint_names": list(BLAZEPOSE_NAMES),
        "camera_convention": "opencv",
        "source": "pseudo",
        "held_out": False,
        "pixel_convention": PIXEL_CONVENTION,
        "world_frame": WORLD_FRAME,
        "dof_names": list(sk.DOF_NAMES),
        "body_names": list(sk.BODY_NAMES),
        "generator": command or "core.hmr.pseudo.make_pseudo",
        "provenance": {
            "method": "core.capture.capture per input (MediaPipe, NeurIK, surface stage, "
            "whole-sequence 2D refinement); crops by core.hmr.mq.crop_from_keypoints around "
            "MediaPipe's keypoints",
            "weight": f"exp(-reprojection_px / {opts.weight_scale_px:g}); reprojection_px: "
            f"confidence-weighted mean distance in crop pixels of the labelled BlazePose points "
            f"from MediaPipe's, over points with confidence > {opts.vis_conf:g}",
            "options": {k: str(v) if isinstance(v, Path) else v for k, v in asdict(opts).items()},
            "inputs": [asdict(r) for r in reports],
            "mean_weight": float(weights.mean()),
        },
    }
    out.parent.mkdir(parents=True, exist_ok=True)
    stage = Path(tempfile.mkdtemp(prefix=f".{out.name}.partial-", dir=out.parent))
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(stage, 0o777 & ~umask)  # mkdtemp makes 0700; give the folder the usual permissions
    try:
        _write_folder(stage, samples, kp_bodies, meta)
        os.replace(stage, out)  # onto a missing or empty folder: the dataset appears whole
    finally:
        if stage.exists():
            shutil.rmtree(stage, ignore_errors=True)
    return PseudoResult(out, len(samples), reports, float(weights.mean()))


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(
        prog="python -m core.hmr.pseudo",
        description=__doc__,
        epilog=EXAMPLE,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("inputs", type=Path, nargs="+", help="videos and/or images")
    p.add_argument("-o", "--output", type=Path, required=True, help="new data folder")
    p.add_argument("--person", default=None, help="main (default), largest, center, left, ...")
    p.add_argument("--start", type=float, default=None, help="start time, seconds")
    p.add_argument("--end", type=float, default=None, help="end time, seconds")
    p.add_argument("--every", type=int, default=1, help="every K-th frame with the person")
    p.add_argument("--hmr", choices=["fit", "mq"], default="fit", help="surface stage")
    p.add_argument("--hmr-refine", choices=["query", "params", "none"], default="query")
    p.add_argument("--checkpoint", default="small", help="MQ-HMR weights for --hmr mq")
    p.add_argument("--size", type=int, default=256, help="crop side, pixels")
    p.add_argument("--focal", type=float, default=None, help="focal length in pixels")
    p.add_argument("--fov", type=float, default=None, help="horizontal field of view, degrees")
    p.add_argument("--height", type=float, default=None, help="subject height, metres")
    p.add_argument("--device", default="auto", choices=["auto", "cpu", "cuda"])
    p.add_argument("-q", "--quiet", action="store_true", help="no progress bars")
    args = p.parse_args(argv)
    logging.basicConfig(
        level=logging.WARNING if args.quiet else logging.INFO,
        format="%(levelname)s %(name)s: %(message)s",
    )
    opts = PseudoOptions(
        out=args.output, person=args.person, start_s=args.start, end_s=args.end,
        every=args.every, hmr=args.hmr, hmr_refine=args.hmr_refine, checkpoint=args.checkpoint,
        size=args.size, focal_px=args.focal, fov_deg=args.fov, height_m=args.height,
        device=args.device,
    )  # fmt: skip
    from core.capture import Progress

    progress = None if args.quiet else Progress()
    try:
        argv_used = list(argv) if argv is not None else sys.argv[1:]
        command = "python -m core.hmr.pseudo " + shlex.join(str(a) for a in argv_used)
        res = make_pseudo(args.inputs, opts, progress, command)
    except (ValueError, FileNotFoundError, ImportError) as e:
        if progress is not None:
            progress.close()
        print(f"error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("cancelled: nothing was written", file=sys.stderr)
        return 130
    if progress is not None:
        progress.close()
    print(f"{res.out}: {res.n} samples, mean weight {res.mean_weight:.2f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
