"""Pictures of a capture: the overlay video (fitted skeleton and surface outline on the input
frames) and joint-angle plots."""

from __future__ import annotations

import logging
import queue
import threading
from collections.abc import Callable, Iterable
from pathlib import Path

import numpy as np

from core import skeleton as sk
from core.motion import Camera

__all__ = [
    "draw_overlay",
    "write_overlay_video",
    "plot_joint_angles",
    "plot_contacts",
    "floor_grid_px",
    "MAIN_DOFS",
]

log = logging.getLogger(__name__)

MAIN_DOFS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("Hip flexion", ("hip_flexion_r", "hip_flexion_l")),
    ("Hip adduction", ("hip_adduction_r", "hip_adduction_l")),
    ("Knee flexion", ("knee_angle_r", "knee_angle_l")),
    ("Ankle dorsiflexion", ("ankle_angle_r", "ankle_angle_l")),
    ("Lumbar extension", ("lumbar_extension",)),
    ("Shoulder abduction", ("shoulder_r_x", "shoulder_l_x")),
    ("Shoulder flexion", ("shoulder_r_z", "shoulder_l_z")),
    ("Elbow flexion", ("elbow_flexion_r", "elbow_flexion_l")),
)

_PARENTS = sk.parents()
_RIGHT = (40, 90, 255)  # BGR-free: frames are RGB; right side blue-ish, left orange
_LEFT = (255, 140, 0)
_MID = (240, 240, 240)


def _colour(body: str) -> tuple[int, int, int]:
    if body.endswith("_r"):
        return _RIGHT
    if body.endswith("_l"):
        return _LEFT
    return _MID


def _outline(
    shape_hw: tuple[int, int], verts_px: np.ndarray, faces: np.ndarray
) -> list[np.ndarray]:
    import cv2

    # Rounded and checked per vertex, then gathered per triangle (V rather than 3F values); the
    # facing test in int64 (coordinates up to 1e5: products overflow int32).
    v = np.asarray(verts_px, dtype=np.float64)
    good = np.isfinite(v).all(1)
    good[good] = (np.abs(np.round(v[good])) < 1e5).all(1)
    vi = np.zeros(v.shape, np.int32)
    vi[good] = np.round(v[good])
    x, y = vi[:, 0].astype(np.int64), vi[:, 1].astype(np.int64)
    f0, f1, f2 = np.asarray(faces).T
    # The silhouette of a closed mesh is the union of its triangles facing one way (about half of
    # them): filling only those is 3-4x faster and gives the same outline.
    x0, y0 = x[f0], y[f0]
    facing = (x[f1] - x0) * (y[f2] - y0) - (y[f1] - y0) * (x[f2] - x0) > 0
    if not good.all():
        facing &= good[f0] & good[f1] & good[f2]
    sel = vi[faces[facing]]  # (T, 3, 2) int32
    if not len(sel):
        return []
    # Filled and traced only in the box the triangles cover (clipped to the frame; 2 px margin):
    # the same contours as on the whole frame, without clearing and scanning all of it.
    h, w = shape_hw
    x0, y0 = np.maximum(sel.reshape(-1, 2).min(0) - 2, 0)
    x1, y1 = np.minimum(sel.reshape(-1, 2).max(0) + 3, (w, h))
    if x1 <= x0 or y1 <= y0:
        return []
    mask = np.zeros((y1 - y0, x1 - x0), np.uint8)
    cv2.fillPoly(mask, sel, 255, offset=(-int(x0), -int(y0)))
    contours, _ = cv2.findContours(
        mask, cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE, offset=(int(x0), int(y0))
    )
    return list(contours)


def draw_overlay(
    rgb: np.ndarray,
    joints_px: np.ndarray,
    *,
    surface_px: np.ndarray | None = None,
    faces: np.ndarray | None = None,
    keypoints_px: np.ndarray | None = None,
    label: str = "",
    floor_lines_px: list[np.ndarray] | None = None,
    contact_px: np.ndarray | None = None,
    in_contact: np.ndarray | None = None,
    info: str = "",
) -> np.ndarray:
    """One frame: floor grid (thin grey lines), surface outline (white), bones (right blue, left
    orange), detected keypoints (small green dots), foot contact points (red filled while in
    contact, hollow otherwise). joints_px (24, 2) body origins projected to the image;
    floor_lines_px polylines (N, 2); contact_px (P, 2) with in_contact (P,) bool; info: a text
    line at the bottom (the camera pose)."""
    import cv2

    img = np.ascontiguousarray(rgb.copy())
    h, w = img.shape[:2]
    thick = max(2, round(min(h, w) / 250))
    if floor_lines_px:
        grid = img.copy()
        for line in floor_lines_px:
            ok = np.isfinite(line).all(1) & (np.abs(line) < 1e5).all(1)
            if ok.sum() >= 2:
                cv2.polylines(
                    grid, [np.round(line[ok]).astype(np.int32)], False, (200, 200, 200),
                    max(1, thick // 2), cv2.LINE_AA,
                )  # fmt: skip
        img = cv2.addWeighted(grid, 0.6, img, 0.4, 0.0)
    if surface_px is not None and faces is not None:
        contours = _outline((h, w), surface_px, faces)
        cv2.drawContours(img, contours, -1, (255, 255, 255), max(1, thick // 2), cv2.LINE_AA)
    for i, p in enumerate(_PARENTS):
        if p < 0:
            continue
        a, b = joints_px[p], joints_px[i]
        if np.isfinite(a).all() and np.isfinite(b).all():
            cv2.line(
                img,
                tuple(np.round(a).astype(int)),
                tuple(np.round(b).astype(int)),
                _colour(sk.BODY_NAMES[i]),
                thick,
                cv2.LINE_AA,
            )
    for i, p in enumerate(joints_px):
        if np.isfinite(p).all():
            cv2.circle(
                img,
                tuple(np.round(p).astype(int)),
                thick + 1,
                _colour(sk.BODY_NAMES[i]),
                -1,
                cv2.LINE_AA,
            )
    if keypoints_px is not None:
        for p in keypoints_px:
            if np.isfinite(p).all():
                cv2.circle(
                    img,
                    tuple(np.round(p).astype(int)),
                    max(1, thick - 1),
                    (60, 220, 60),
                    -1,
                    cv2.LINE_AA,
                )
    if contact_px is not None:
        for k, p in enumerate(contact_px):
            if np.isfinite(p).all():
                on = in_contact is not None and bool(in_contact[k])
                cv2.circle(
                    img, tuple(np.round(p).astype(int)), thick + 3, (255, 40, 40),
                    -1 if on else max(1, thick // 2), cv2.LINE_AA,
                )  # fmt: skip
    if info:
        cv2.putText(
            img, info, (10, h - 10), cv2.FONT_HERSHEY_SIMPLEX, 0.3 * thick, (255, 255, 0),
            max(1, thick // 2), cv2.LINE_AA,
        )  # fmt: skip
    if label:
        cv2.putText(
            img,
            label,
            (10, 10 + 12 * thick),
            cv2.FONT_HERSHEY_SIMPLEX,
            0.35 * thick,
            (255, 255, 0),
            max(1, thick // 2),
            cv2.LINE_AA,
        )
    return img


_END = object()  # the last item of the encoder's queue


class _Encoder:
    """Scales (long side at most ``max_side_px``), converts and encodes drawn frames, in order, in
    its own thread: swscale and libx264 release the GIL, so this runs beside the drawing."""

    def __init__(self, container, fps: float, max_side_px: int, depth: int = 4) -> None:
        self.container, self.fps, self.max_side_px = container, fps, max_side_px
        self.stream = None
        self.error: BaseException | None = None
        self.q: queue.Queue = queue.Queue(depth)
        self.thread = threading.Thread(target=self._run, name="overlay-encode", daemon=True)
        self.thread.start()

    def put(self, img: np.ndarray) -> None:
        if self.error is not None:
            raise self.error
        self.q.put(img)

    def finish(self) -> None:
        """Encode what is queued, flush the encoder; raises the thread's error if any."""
        self.q.put(_END)
        self.thread.join()
        if self.error is not None:
            raise self.error

    def abort(self) -> None:
        """Stop without flushing (the caller failed)."""
        self.error = self.error or RuntimeError("overlay aborted")
        self.q.put(_END)
        self.thread.join()

    def _run(self) -> None:
        ended = False
        try:
            while not (ended := (img := self.q.get()) is _END):
                if self.error is None:
                    self._encode(img)
            if self.error is None and self.stream is not None:
                for packet in self.stream.encode():
                    self.container.mux(packet)
        except BaseException as e:  # noqa: BLE001 - raised by put/finish in the caller's thread
            self.error = e
            while not ended:  # let the caller's put() go on until it sees the error
                ended = self.q.get() is _END

    def _encode(self, img: np.ndarray) -> None:
        import av
        import cv2

        h, w = img.shape[:2]
        s = min(1.0, self.max_side_px / max(h, w))
        if s < 1.0:
            img = cv2.resize(
                img, (int(w * s) // 2 * 2, int(h * s) // 2 * 2), interpolation=cv2.INTER_AREA
            )
        elif h % 2 or w % 2:
            img = img[: h // 2 * 2, : w // 2 * 2]
        if self.stream is None:
            self.stream = self.container.add_stream("libx264", rate=max(1, round(self.fps)))
            self.stream.width, self.stream.height = img.shape[1], img.shape[0]
            self.stream.pix_fmt = "yuv420p"
            self.stream.options = {"crf": "23", "preset": "veryfast"}
        # RGB -> YUV 4:2:0 (BT.601, limited range, as swscale's default) by OpenCV: ~1.4 ms a 720p
        # frame against swscale's ~10 ms; the pictures differ by rounding at colour edges only
        yuv = cv2.cvtColor(np.ascontiguousarray(img), cv2.COLOR_RGB2YUV_I420)
        frame = av.VideoFrame.from_ndarray(yuv, format="yuv420p")
        for packet in self.stream.encode(frame):
            self.container.mux(packet)


def write_overlay_video(
    path: Path,
    frames: Iterable[np.ndarray],
    fps: float,
    draw: Callable[[int, np.ndarray], np.ndarray],
    n_frames: int,
    progress: Callable[[float, str], None] | None = None,
    max_side_px: int = 1280,
) -> Path:
    """Encode ``draw(i, frame)`` for every frame as H.264 mp4 (atomic: temp file, then rename).

    The encoding runs in a thread beside the drawing (and ``core.video.iter_frames`` decodes
    ahead in another): the file is the same as drawn and encoded one by one."""
    import av

    path = Path(path)
    tmp = path.with_name(f".{path.name}.tmp.mp4")
    container = av.open(str(tmp), mode="w")
    encoder = None
    try:
        encoder = _Encoder(container, fps, max_side_px)
        for i, rgb in enumerate(frames):
            encoder.put(draw(i, rgb))
            if progress and (i % 10 == 0 or i == n_frames - 1):
                progress((i + 1) / max(n_frames, 1), f"overlay frame {i + 1}/{n_frames}")
        encoder.finish()
        container.close()
        tmp.replace(path)
    except BaseException:
        if encoder is not None:
            encoder.abort()
        container.close()
        tmp.unlink(missing_ok=True)
        raise
    return path


def plot_joint_angles(q_rad: np.ndarray, fps: float, path: Path, title: str = "") -> Path:
    """A grid of the main DOFs over time (degrees), right solid, left dashed, limits shaded."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    t = np.arange(len(q_rad)) / fps
    fig, axes = plt.subplots(4, 2, figsize=(11, 10), sharex=True)
    for ax, (label, names) in zip(axes.ravel(), MAIN_DOFS, strict=True):
        d0 = sk.DOFS[sk.DOF[names[0]]]
        ax.axhspan(d0.lower_deg, d0.upper_deg, color="0.93", zorder=0)
        for n in names:
            style = (
                "-"
                if n.endswith("_r") or "_r_" in n
                else ("--" if n.endswith("_l") or "_l_" in n else "-")
            )
            colour = "tab:blue" if style == "-" and n != "lumbar_extension" else "tab:orange"
            if n == "lumbar_extension":
                colour = "0.2"
            ax.plot(
                t,
                np.rad2deg(q_rad[:, sk.DOF[n]]),
                style,
                color=colour,
                lw=1.4,
                label="right"
                if style == "-" and len(names) > 1
                else ("left" if len(names) > 1 else n),
            )
        # y given: matplotlib skips placing the title clear of top tick labels (there are none)
        ax.set_title(f"{label} (+ = {d0.positive})", fontsize=10, y=1.0)
        ax.set_ylabel("deg")
        ax.grid(alpha=0.3)
        if len(names) > 1:
            ax.legend(fontsize=8, loc="upper right")
    for ax in axes[-1]:
        ax.set_xlabel("time (s)")
    fig.suptitle(title or "Joint angles (grey band: joint limits)")
    # fixed margins: tight_layout() drew the figure once more only to measure its text
    # (~2 s of CPU, 40 % of the plot's cost)
    fig.subplots_adjust(left=0.07, right=0.985, bottom=0.055, top=0.93, hspace=0.3, wspace=0.18)
    path = Path(path)
    tmp = path.with_name(f".{path.stem}.tmp.png")
    fig.savefig(tmp, dpi=90)
    plt.close(fig)
    tmp.replace(path)
    return path


def floor_grid_px(
    cam: Camera, centre_xz_m: tuple[float, float, float, float], step_m: float = 0.5
) -> list[np.ndarray]:
    """Lines of a floor grid (Y = 0) covering x0..x1, z0..z1 (``centre_xz_m`` = (x0, x1, z0, z1),
    metres, rounded out to the step), projected by ``cam``; each line sampled every 5 cm, parts
    behind or very near the camera dropped (NaN)."""
    x0, x1, z0, z1 = centre_xz_m
    x0, z0 = np.floor(x0 / step_m) * step_m, np.floor(z0 / step_m) * step_m
    x1, z1 = np.ceil(x1 / step_m) * step_m, np.ceil(z1 / step_m) * step_m
    lines = []
    for x in np.arange(x0, x1 + 1e-9, step_m):
        z = np.arange(z0, z1 + 1e-9, 0.05)
        lines.append(np.stack([np.full_like(z, x), np.zeros_like(z), z], -1))
    for z in np.arange(z0, z1 + 1e-9, step_m):
        x = np.arange(x0, x1 + 1e-9, 0.05)
        lines.append(np.stack([x, np.zeros_like(x), np.full_like(x, z)], -1))
    out = []
    rot, trans = np.asarray(cam.rotation), np.asarray(cam.translation_m)
    for pts in lines:
        depth = (pts @ rot.T + trans)[:, 2]
        px = cam.project(pts)
        px[depth < 0.2] = np.nan
        out.append(px)
    return out


def plot_contacts(
    points_m: np.ndarray, state: np.ndarray, fps: float, path: Path, title: str = ""
) -> Path:
    """Side view over time of both feet: height (Y) and horizontal speed of each contact point
    (``core.contacts.CONTACT_POINTS``), contact phases shaded."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from core.contacts import CONTACT_POINTS

    pts = np.asarray(points_m, dtype=np.float64)
    t = np.arange(len(pts)) / fps
    speed = np.zeros(pts.shape[:2])
    if len(pts) > 1:
        speed = np.linalg.norm(np.gradient(pts[..., [0, 2]], axis=0), axis=-1) * fps
    fig, axes = plt.subplots(2, 2, figsize=(11, 6), sharex=True)
    colours = {"heel": "tab:blue", "toe": "tab:green"}
    for col, side in enumerate(("r", "l")):
        for k, name in enumerate(CONTACT_POINTS):
            if not name.endswith(side):
                continue
            part = name.split("_")[0]
            c = colours[part]
            on = np.asarray(state)[:, k]
            for row, y in enumerate((100 * pts[:, k, 1], speed[:, k])):
                ax = axes[row, col]
                ax.plot(t, y, "-", color=c, lw=1.3, label=part)
                lo = 0.0 if row else min(0.0, float(np.nanmin(y)))
                hi = float(np.nanmax(y)) if np.isfinite(y).any() else 1.0
                ax.fill_between(t, lo, hi, where=on, color=c, alpha=0.12, step="mid", lw=0)
        axes[0, col].set_title(f"{'right' if side == 'r' else 'left'} foot", y=1.0)
        axes[0, col].axhline(0.0, color="0.3", lw=0.8)
        axes[0, col].set_ylabel("height above floor (cm)")
        axes[1, col].set_ylabel("horizontal speed (m/s)")
        axes[1, col].set_xlabel("time (s)")
        axes[0, col].legend(fontsize=8, loc="upper right")
        for ax in axes[:, col]:
            ax.grid(alpha=0.3)
    fig.suptitle(title or "Feet height and speed (shaded: contact)")
    fig.subplots_adjust(left=0.07, right=0.985, bottom=0.09, top=0.9, hspace=0.15, wspace=0.2)
    path = Path(path)
    tmp = path.with_name(f".{path.stem}.tmp.png")
    fig.savefig(tmp, dpi=90)
    plt.close(fig)
    tmp.replace(path)
    return path


def project_points(cam: Camera, points_m: np.ndarray) -> np.ndarray:
    return cam.project(points_m)
