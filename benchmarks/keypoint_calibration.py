"""Where MediaPipe puts its BlazePose keypoints on a body, measured on renders with known truth.

    .venv/bin/python benchmarks/keypoint_calibration.py [--group tune|held|all] [--json OUT]

``core.neurik.markersets.blazepose33`` says which point of the BSM-46 skeleton each MediaPipe
keypoint is (a joint centre plus an offset in that body's frame). The capture's 2D fits (surface
stage, refinement, contact refinement) pull those points onto MediaPipe's 2D keypoints, so an
offset that is wrong by a few centimetres tilts a segment by degrees: a hip point 3 cm behind
where MediaPipe puts it and a knee point 1.5 cm in front of it turn the thigh about 6 deg.

This script measures the offsets on the accuracy harness's cached clips (renders of held-out
real motion, ``benchmarks/accuracy``; their MediaPipe detections and exact skeletons): per
keypoint kind (both sides pooled, the left mirrored), the constant offset in the body's frame
(x forward, y up, z lateral, metres at 1.75 m stature) that best explains MediaPipe's 2D
keypoints as projections of ``definition + offset``: a linearised least-squares fit, robust to
mis-detections (iteratively reweighted, Huber-like), over every confident keypoint of every
frame. Offsets are fitted on the ``tune`` group of ``benchmarks/refine_replay.py`` by default
and scored on the others (median pixel residual before and after), so the harness's held clips
judge them. Run it against the uncalibrated definition (``calibrated=False``), which is what the
printed offsets replace: ``core.neurik.markersets.MEDIAPIPE_OFFSETS_M``.
"""

from __future__ import annotations

import argparse
import glob
import json
import sys
from pathlib import Path
from types import SimpleNamespace

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

import numpy as np  # noqa: E402

from core.neurik.markersets import MEDIAPIPE_OFFSETS_M  # noqa: E402

KINDS = tuple(MEDIAPIPE_OFFSETS_M)  # hip, knee, ankle, heel, foot_index, shoulder, elbow, wrist
MIN_CONF = 0.5


def clip_rows(folder: Path, calibrated: bool) -> dict[str, tuple[np.ndarray, np.ndarray]] | None:
    """Per keypoint kind: (A (N, 2, 3) d pixel / d offset in the body frame (right-side
    convention), r (N, 2) MediaPipe minus the definition's projection, pixels)."""
    from benchmarks.accuracy.render import project
    from core import fk_numpy
    from core.detect import Detections
    from core.neurik.markersets import BLAZEPOSE_NAMES, blaze_points

    dets = sorted(folder.glob("detections-*.npz"), key=lambda p: p.stat().st_mtime)
    truth = folder / "truth.npz"
    if not dets or not truth.is_file():
        return None
    tr = np.load(truth)
    det = Detections.load(dets[-1])
    subject = SimpleNamespace(offsets_m=tr["offsets_m"], height_m=float(tr["height_m"]))
    bodies, local = blaze_points(subject, calibrated=calibrated)
    rot, org = fk_numpy.forward_kinematics(tr["q_rad"], tr["root_m"], tr["offsets_m"])
    k_mat, r_cam, centre = tr["K"], tr["R_cam_world"], tr["cam_centre_m"]
    n = min(len(rot), det.n_frames)
    kp = np.asarray(det.keypoints_2d_px, np.float64)[:n]
    conf = np.asarray(det.confidence, np.float64)[:n]
    found = np.asarray(det.person_found, bool)[:n]
    out: dict[str, tuple[np.ndarray, np.ndarray]] = {}
    for kind in KINDS:
        a_all, r_all = [], []
        for side, mirror in (("right", 1.0), ("left", -1.0)):
            k = BLAZEPOSE_NAMES.index(f"{side}_{kind}")
            b = bodies[k]
            p = org[:n, b] + np.einsum("tij,j->ti", rot[:n, b], local[k])
            u = project(k_mat, r_cam, centre, p)  # as the harness projects its truth
            pc = (p - centre) @ r_cam.T
            z = pc[:, 2]
            fx, fy = k_mat[0, 0], k_mat[1, 1]
            jac = np.zeros((n, 2, 3))
            jac[:, 0, 0], jac[:, 0, 2] = fx / z, -fx * pc[:, 0] / z**2
            jac[:, 1, 1], jac[:, 1, 2] = fy / z, -fy * pc[:, 1] / z**2
            a = jac @ r_cam[None] @ rot[:n, b] @ np.diag([1.0, 1.0, mirror])
            # Offsets are stored at 1.75 m stature and scaled with the subject, as the rest.
            a = a * (float(tr["height_m"]) / 1.75)
            ok = found & (conf[:, k] >= MIN_CONF) & np.isfinite(kp[:, k]).all(-1)
            a_all.append(a[ok])
            r_all.append((kp[:, k] - u)[ok])
        out[kind] = (np.concatenate(a_all), np.concatenate(r_all))
    return out


def robust_offset(a: np.ndarray, r: np.ndarray) -> np.ndarray:
    """The offset minimising a Huber-like loss of the pixel residuals."""
    a2, r2 = a.reshape(-1, 3), r.reshape(-1)
    w = np.ones(len(r2))
    sol = np.zeros(3)
    for _ in range(8):
        sol = np.linalg.lstsq(a2 * w[:, None], r2 * w, rcond=None)[0]
        res = r2 - a2 @ sol
        scale = 1.4826 * np.median(np.abs(res)) + 1e-6
        w = np.sqrt(np.minimum(1.0, 2.0 * scale / np.maximum(np.abs(res), 1e-12)))
    return sol


def median_px(a: np.ndarray, r: np.ndarray, offset: np.ndarray) -> float:
    return float(np.median(np.linalg.norm(r - a @ offset, axis=-1))) if len(r) else float("nan")


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    ap.add_argument("--cache", type=Path, default=REPO / ".cache" / "accuracy" / "clips" / "seed0")
    ap.add_argument("--group", choices=("tune", "held", "all"), default="tune")
    ap.add_argument(
        "--calibrated",
        action="store_true",
        help="measure what is left with the shipped offsets (should be about 0)",
    )
    ap.add_argument("--json", type=Path, help="write the offsets and scores here")
    args = ap.parse_args(argv)
    from benchmarks.refine_replay import TUNE

    folders = sorted(Path(p).parent for p in glob.glob(str(args.cache / "*" / "truth.npz")))
    if not folders:
        print(
            f"error: no harness clips in {args.cache}; run benchmarks/accuracy/run.py first",
            file=sys.stderr,
        )
        return 2
    fit_rows: dict[str, list] = {k: [] for k in KINDS}
    held_rows: dict[str, list] = {k: [] for k in KINDS}
    n_fit = n_held = 0
    for folder in folders:
        rows = clip_rows(folder, calibrated=args.calibrated)
        if rows is None:
            continue
        fit = args.group == "all" or (folder.name in TUNE) == (args.group == "tune")
        n_fit += fit
        n_held += not fit
        for kind, ar in rows.items():
            (fit_rows if fit else held_rows)[kind].append(ar)
    print(f"fitted on {n_fit} clips ({args.group}), scored on {n_held} others")
    print(
        "kind        offset cm at 1.75 m (fwd, up, lat)   median px fitted: before -> after"
        "   others: before -> after"
    )
    result = {}
    for kind in KINDS:
        a = np.concatenate([x[0] for x in fit_rows[kind]])
        r = np.concatenate([x[1] for x in fit_rows[kind]])
        off = robust_offset(a, r)
        zero = np.zeros(3)
        line = (
            f"{kind:11s} {100 * off[0]:+6.1f} {100 * off[1]:+6.1f} {100 * off[2]:+6.1f}"
            f"                    {median_px(a, r, zero):5.2f} -> {median_px(a, r, off):5.2f}"
        )
        scores = {"fit_px": [median_px(a, r, zero), median_px(a, r, off)]}
        if held_rows[kind]:
            ah = np.concatenate([x[0] for x in held_rows[kind]])
            rh = np.concatenate([x[1] for x in held_rows[kind]])
            line += f"          {median_px(ah, rh, zero):5.2f} -> {median_px(ah, rh, off):5.2f}"
            scores["held_px"] = [median_px(ah, rh, zero), median_px(ah, rh, off)]
        print(line)
        result[kind] = {"offset_m": [round(float(v), 4) for v in off], **scores}
    if args.json:
        args.json.write_text(
            json.dumps(
                {"group": args.group, "clips_fit": n_fit, "clips_scored": n_held, "kinds": result},
                indent=1,
            )
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
