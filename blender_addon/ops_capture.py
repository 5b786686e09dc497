"""Capture from video: run the core as a subprocess, show progress, import the result.

``invoke`` (a button press) runs a timer-driven modal operator: progress in the status bar and
the window's progress indicator; Esc stops the subprocess (SIGTERM, so the core keeps any earlier
result intact; SIGKILL after 5 s) and imports nothing.
``execute`` (scripts, background mode, tests) runs the same job synchronously.
"""

from __future__ import annotations

from pathlib import Path

import bpy
from bpy.props import BoolProperty

from . import build
from .logic.bundle import BundleError, read_bundle
from .logic.capture import CaptureJob, CaptureOutcome, OverallProgress, build_capture_command
from .props import core_python

PROGRESS_HISTORY: list[float] = []  # the overall values shown during the last capture (tests)


def _output_dir(settings, video: Path) -> Path:
    if settings.output_dir:
        return Path(bpy.path.abspath(settings.output_dir))
    return video.parent / f"{video.stem}_capture"


def _video_fps(video: Path) -> float | None:
    try:
        clip = bpy.data.movieclips.load(str(video), check_existing=True)
    except RuntimeError:
        return None
    return float(clip.fps) if clip.fps else None


def start_job(context) -> CaptureJob:
    """Check the settings and start the subprocess; ValueError with one line if they are bad."""
    s = context.scene.biomech
    if not s.video_path:
        raise ValueError("pick a video file first")
    video = Path(bpy.path.abspath(s.video_path))
    if not video.is_file():
        raise ValueError(f"video not found: {video}")
    python = core_python(context)
    if python is None or not python.is_file():
        raise ValueError("core interpreter not found: set it in the add-on preferences")
    start_s = end_s = 0.0
    if s.frame_start or s.frame_end:
        fps = _video_fps(video)
        if fps is None:
            raise ValueError("cannot read the video's frame rate to convert the frame range")
        start_s, end_s = s.frame_start / fps, s.frame_end / fps if s.frame_end else 0.0
    out = _output_dir(s, video)
    out.mkdir(parents=True, exist_ok=True)
    argv = build_capture_command(
        python,
        video,
        out,
        height_m=s.height_m,
        mass_kg=s.mass_kg,
        focal_px=s.focal_px,
        fov_deg=s.fov_deg,
        start_s=start_s,
        end_s=end_s,
        device=s.device,
        person=s.person,
        surface_method=s.surface_method,
    )
    return CaptureJob(argv)


def import_options(context) -> dict:
    """The panel's import settings as keyword arguments of build.import_bundle."""
    s = context.scene.biomech
    r = context.scene.render
    return {
        "surface": s.import_surface,
        "bone_meshes": s.import_bone_meshes,
        "camera": s.import_camera,
        "target_fps": r.fps / r.fps_base if s.resample_to_scene else None,
        "smoothing_frames": s.smoothing,
    }


def finish(op, context, outcome: CaptureOutcome) -> set[str]:
    s = context.scene.biomech
    s.status = outcome.message
    if outcome.status != "done":
        op.report({"WARNING"} if outcome.status == "cancelled" else {"ERROR"}, outcome.message)
        return {"CANCELLED"}
    try:
        bundle = read_bundle(outcome.motion)
    except BundleError as e:
        op.report({"ERROR"}, str(e))
        return {"CANCELLED"}
    method = "mq" if s.surface_method == "mq" else "fit"
    try:
        arm = build.import_bundle(
            context,
            bundle,
            video=bpy.path.abspath(s.video_path),
            person=s.person or "main",
            settings=f"{method} s{s.smoothing:g}",
            **import_options(context),
        )
    except ValueError as e:
        op.report({"ERROR"}, str(e))
        return {"CANCELLED"}
    s.source = arm
    op.report({"INFO"}, f"{outcome.message}: {bundle.n_frames} frames imported")
    return {"FINISHED"}


def _show(s, job: CaptureJob) -> None:
    s.progress = job.overall.value
    stage = job.overall.stage or "starting"
    s.status = f"{stage}: {job.overall.value:.0%} {job.last.message}".strip()


class BIOMECH_OT_capture_from_video(bpy.types.Operator):
    bl_idname = "biomech.capture_from_video"
    bl_label = "Capture from Video"
    bl_description = "Run the biomocap capture on the video and import the motion (Esc cancels)"
    bl_options = {"REGISTER", "UNDO"}

    synchronous: BoolProperty(
        name="Wait",
        default=False,
        options={"SKIP_SAVE"},
        description="Block until the capture ends (scripts)",
    )

    _job: CaptureJob | None = None
    _timer = None

    def execute(self, context):
        s = context.scene.biomech
        try:
            job = start_job(context)
        except ValueError as e:
            self.report({"ERROR"}, str(e))
            return {"CANCELLED"}
        history = PROGRESS_HISTORY
        history.clear()

        bar = OverallProgress()  # per event (poll() may hand over several at once)

        def on_event(ev):
            if ev.progress is None:
                return
            value = bar.finish() if ev.done else bar.update(ev.stage, ev.progress)
            s.progress = value
            s.status = f"{bar.stage or 'capture'}: {value:.0%} {ev.message}".strip()
            history.append(value)

        return finish(self, context, job.run_sync(on_event))

    def invoke(self, context, event):
        if bpy.app.background or self.synchronous:
            return self.execute(context)
        try:
            self._job = start_job(context)
        except ValueError as e:
            self.report({"ERROR"}, str(e))
            return {"CANCELLED"}
        wm = context.window_manager
        self._timer = wm.event_timer_add(0.2, window=context.window)
        PROGRESS_HISTORY.clear()
        wm.progress_begin(0, 100)
        wm.modal_handler_add(self)
        context.scene.biomech.status = "capture starting"
        return {"RUNNING_MODAL"}

    def _cleanup(self, context) -> None:
        wm = context.window_manager
        if self._timer is not None:
            wm.event_timer_remove(self._timer)
            self._timer = None
        wm.progress_end()
        if context.workspace is not None:
            context.workspace.status_text_set(None)

    def modal(self, context, event):
        job = self._job
        s = context.scene.biomech
        if event.type == "ESC":
            job.cancel()
            job.poll()
            self._cleanup(context)
            return finish(self, context, job.outcome)
        if event.type != "TIMER":
            return {"PASS_THROUGH"}
        job.poll()
        if job.last.progress is not None:
            _show(s, job)
            PROGRESS_HISTORY.append(s.progress)
            context.window_manager.progress_update(int(100 * s.progress))
            if context.workspace is not None:
                context.workspace.status_text_set(f"Capture: {s.status}  (Esc to cancel)")
        for area in context.screen.areas if context.screen else ():
            if area.type == "VIEW_3D":
                area.tag_redraw()
        if job.outcome is None:
            return {"RUNNING_MODAL"}
        self._cleanup(context)
        return finish(self, context, job.outcome)


class BIOMECH_OT_preview_frame(bpy.types.Operator):
    bl_idname = "biomech.preview_frame"
    bl_label = "Preview People"
    bl_description = (
        "Show the video frame at Start in the panel with every person the core finds boxed and "
        "numbered from the left (the index Person takes)"
    )

    def execute(self, context):
        import shutil
        import subprocess
        import tempfile

        from .logic.capture import parse_people_preview, people_preview_command
        from .panels import PREVIEW_IMAGE

        s = context.scene.biomech
        video = Path(bpy.path.abspath(s.video_path)) if s.video_path else None
        if video is None or not video.is_file():
            self.report({"ERROR"}, f"video not found: {video or '(none picked)'}")
            return {"CANCELLED"}
        python = core_python(context)
        if python is None or not python.is_file():
            self.report({"ERROR"}, "core interpreter not found: set it in the add-on preferences")
            return {"CANCELLED"}
        time_s = 0.0
        if s.frame_start:
            fps = _video_fps(video)
            time_s = s.frame_start / fps if fps else 0.0
        out = Path(tempfile.mkdtemp(prefix="biomech-preview-")) / "people.png"
        try:
            try:
                r = subprocess.run(
                    people_preview_command(python, video, time_s, out),
                    capture_output=True,
                    text=True,
                    timeout=300,
                )
                boxes = parse_people_preview(r.stdout, r.stderr)
            except (OSError, subprocess.TimeoutExpired, ValueError) as e:
                self.report({"ERROR"}, f"people preview failed: {e}")
                return {"CANCELLED"}
            old = bpy.data.images.get(PREVIEW_IMAGE)
            if old is not None:
                bpy.data.images.remove(old)
            img = bpy.data.images.load(str(out))
            img.name = PREVIEW_IMAGE
            img.pack()
            img.preview_ensure()
        finally:  # the image is packed into the .blend; the folder goes
            shutil.rmtree(out.parent, ignore_errors=True)
        s.preview_people = len(boxes)
        self.report({"INFO"}, f"{len(boxes)} people at {time_s:.2f} s, numbered from the left")
        return {"FINISHED"}


_CLASSES = (BIOMECH_OT_capture_from_video, BIOMECH_OT_preview_frame)


def register() -> None:
    for c in _CLASSES:
        bpy.utils.register_class(c)


def unregister() -> None:
    for c in reversed(_CLASSES):
        bpy.utils.unregister_class(c)
