"""PCK of the capture's reprojected joints on the COCO test images, against MediaPipe's own 2D.

Every annotated person with >= 10 keypoints is captured (single-image mode, one run per person
found, selected by index), matched to the ground truth by box overlap, and scored on the 17 COCO
joints: PCK@0.05 and PCK@0.1 relative to the ground-truth box size, for MediaPipe's 2D keypoints
and for the refined BSM-46 body's keypoints projected with the fitted camera.

    .venv/bin/python benchmarks/capture_coco_pck.py [--data ../shared/data/images/coco]
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]


def _iou(a: np.ndarray, b: np.ndarray) -> float:
    x0, y0 = np.maximum(a[:2], b[:2])
    x1, y1 = np.minimum(a[2:], b[2:])
    inter = max(0.0, x1 - x0) * max(0.0, y1 - y0)
    area = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return inter / area if area > 0 else 0.0


@dataclass
class CocoErrors:
    """2D errors on the COCO test people, in units of the ground-truth box size (max side)."""

    mediapipe: np.ndarray  # (P, 17) MediaPipe's own 2D keypoints; NaN where not annotated
    capture: np.ndarray  # (P, 17) the captured body's keypoints, projected
    n_people: int  # annotated people with >= 10 keypoints
    n_matched: int  # of them captured and matched by box overlap
    limit_violations: int = 0  # joint-limit violations over every capture run

    @staticmethod
    def pck(errors: np.ndarray, threshold: float) -> float:
        e = errors[np.isfinite(errors)]
        return float((e < threshold).mean()) if e.size else float("nan")


def coco_errors(data: Path, **capture_options) -> CocoErrors:
    """Capture every person of the COCO test images (single-image mode, ``capture_options`` go
    to ``CaptureOptions``, e.g. ``hmr="mq"``) and score the 17 COCO joints."""
    from core.capture import CaptureOptions, Progress, capture
    from core.detect import COCO17_KEYPOINT_NAMES
    from core.motion import Motion
    from core.neurik.markersets import BLAZEPOSE_NAMES

    idx = [BLAZEPOSE_NAMES.index(n) for n in COCO17_KEYPOINT_NAMES]
    gt = json.loads((data / "test_coco.json").read_text())
    err_mp, err_fit, n_people, n_matched, violations = [], [], 0, 0, 0
    for im in gt["images"]:
        anns = [
            a for a in gt["annotations"] if a["image_id"] == im["id"] and a["num_keypoints"] >= 10
        ]
        n_people += len(anns)
        used: set[int] = set()
        for person in range(8):
            with tempfile.TemporaryDirectory() as tmp, open(os.devnull, "w") as null:
                try:
                    res = capture(
                        data / im["file_name"],
                        CaptureOptions(
                            output=Path(tmp),
                            person=str(person),
                            export_opensim=False,
                            overlay=False,
                            **capture_options,
                        ),
                        Progress(jsonl=True, stream=null),
                    )
                except ValueError as e:
                    if "person index" in str(e) or "no person found" in str(e):
                        break  # no more people
                    raise
                m = Motion.load(res.motion_path)
                violations += res.limit_violations
            mp = m.keypoints_2d[0, :, :2]
            fit = res.keypoints_2d_fit_px[0]
            ok = np.isfinite(mp).all(1)
            box = np.r_[mp[ok].min(0), mp[ok].max(0)]
            best, best_iou = None, 0.3
            for k, a in enumerate(anns):
                x, y, w, h = a["bbox"]
                iou = _iou(box, np.array([x, y, x + w, y + h]))
                if k not in used and iou > best_iou:
                    best, best_iou = k, iou
            if best is None:
                continue
            used.add(best)
            n_matched += 1
            a = anns[best]
            g = np.asarray(a["keypoints"], float).reshape(17, 3)
            vis = g[:, 2] > 0
            scale = max(a["bbox"][2], a["bbox"][3])
            e_mp_all = np.linalg.norm(mp[idx] - g[:, :2], axis=1) / scale
            e_fit_all = np.linalg.norm(fit[idx] - g[:, :2], axis=1) / scale
            err_mp.append(np.where(vis, e_mp_all, np.nan))
            err_fit.append(np.where(vis, e_fit_all, np.nan))
    return CocoErrors(np.stack(err_mp), np.stack(err_fit), n_people, n_matched, violations)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument(
        "--data", type=Path, default=REPO.parent / "shared" / "data" / "images" / "coco"
    )
    p.add_argument("--per-joint", action="store_true", help="also print PCK per COCO joint")
    args = p.parse_args(argv)
    logging.basicConfig(level=logging.WARNING)
    from core.detect import COCO17_KEYPOINT_NAMES

    res = coco_errors(args.data)
    per_mp, per_fit, n_people, n_matched = res.mediapipe, res.capture, res.n_people, res.n_matched
    e_mp, e_fit = per_mp[np.isfinite(per_mp)], per_fit[np.isfinite(per_fit)]
    print(
        f"COCO test images: {n_people} people with >= 10 keypoints, {n_matched} captured and matched, "
        f"{e_mp.size} keypoints"
    )
    print(f"{'':28}{'PCK@0.05':>10}{'PCK@0.1':>10}")
    for name, e in (("MediaPipe 2D", e_mp), ("capture (refined, reproj.)", e_fit)):
        print(f"{name:28}{(e < 0.05).mean():10.3f}{(e < 0.1).mean():10.3f}")
    if args.per_joint:
        print(f"\n{'joint':18}{'n':>4}{'MediaPipe':>11}{'capture':>9}   (PCK@0.05; median error)")
        for j, name in enumerate(COCO17_KEYPOINT_NAMES):
            a, b = per_mp[:, j], per_fit[:, j]
            ok = np.isfinite(a)
            print(
                f"{name:18}{ok.sum():4d}{(a[ok] < 0.05).mean():11.2f}{(b[ok] < 0.05).mean():9.2f}"
                f"   {np.median(a[ok]):.3f} {np.median(b[ok]):.3f}"
            )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
