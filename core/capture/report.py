"""report.html (for people) and report.json (for machines) of a capture."""

from __future__ import annotations

import html
from pathlib import Path

import numpy as np

from core.capture.results import CaptureResult
from core.motion import Motion

__all__ = ["_report", "_report_json", "_jsonable", "_world_html"]


def _world_html(motion: Motion, res: CaptureResult) -> str:
    w = motion.world or {}
    if not w:
        return ""
    if w.get("frame") != "world":
        return f"<h2>World</h2><p>{html.escape(w.get('message', ''))}</p>"
    height = f"{w['camera_height_m']:.2f} m"
    sd = w.get("camera_height_sd_m")
    if isinstance(sd, (int, float)) and sd == sd:  # absent or NaN in older bundles
        height += f" (+- {sd:.2f}, one standard error)"
    rows = "".join(
        f"<tr><td>{k}</td><td>{v}</td></tr>"
        for k, v in (
            ("camera height above the floor", height),
            ("camera pitch (+ = looking down)", f"{w['camera_pitch_deg']:.1f} deg"),
            ("camera roll", f"{w['camera_roll_deg']:.1f} deg"),
            ("focal length", f"{w['focal_px']:.0f} px"),
            ("floor from", f"{w['floor_source']} ({w['n_floor_points']} points, "
             f"RMS {100 * w['floor_rms_m']:.1f} cm)"),
        )
    )  # fmt: skip
    plot = ""
    if "contacts_plot" in res.outputs:
        plot = "<img src='feet_contacts.png' width='900'>"
    return (
        "<h2>World</h2><p>Y up along gravity, floor at Y = 0, the subject starts at the origin "
        f"facing +X.</p><table>{rows}</table>{plot}"
    )


def _jsonable(x):
    """Plain JSON values: non-finite numbers become null, numpy scalars/arrays plain lists."""
    if isinstance(x, dict):
        return {str(k): _jsonable(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [_jsonable(v) for v in x]
    if isinstance(x, np.ndarray):
        return _jsonable(x.tolist())
    if isinstance(x, (np.floating, float)):
        return float(x) if np.isfinite(x) else None
    if isinstance(x, np.integer):
        return int(x)
    return x


def _report_json(path: Path, video: Path, det, motion: Motion, res: CaptureResult) -> Path:
    """report.html's content for machines: frames, fps, stage timings, reprojection, notes,
    the world record and provenance; file paths relative to the capture folder."""
    import json

    from core.motion import atomic_write

    total_s = float(sum(res.timings_s.values()))
    data = {
        "format": "biomocap-capture-report",
        "version": 1,
        "source": str(video),
        "frames": res.n_frames,
        "fps": motion.fps,
        "image_size_px": list(det.image_size_px),
        "subject": {"height_m": motion.height_m, "mass_kg": motion.mass_kg},
        "reprojection_px": {
            "mean": res.mean_reprojection_px,
            "before_refinement": res.initial_reprojection_px,
        },
        "limit_violations": res.limit_violations,
        "timings_s": res.timings_s,
        "total_s": total_s,
        "frames_per_s": res.n_frames / total_s if total_s > 0 else None,
        "notes": list(res.notes),
        "world": motion.world or {},
        "provenance": motion.provenance,
        "outputs": {
            k: str(p.relative_to(path.parent)) if p.is_relative_to(path.parent) else str(p)
            for k, p in res.outputs.items()
        }
        | {"report": "report.html", "report_json": path.name},
    }
    text = json.dumps(_jsonable(data), indent=1, ensure_ascii=False, allow_nan=False)
    atomic_write(path, lambda f: f.write(text + "\n"))
    return path


def _report(path: Path, video: Path, det, motion: Motion, res: CaptureResult) -> Path:
    from core.motion import atomic_write

    rows = "".join(
        f"<tr><td>{html.escape(k)}</td><td>{v:.1f} s</td></tr>" for k, v in res.timings_s.items()
    )
    prov = "".join(
        f"<tr><td>{html.escape(k)}</td><td>{html.escape(str(v))}</td></tr>"
        for k, v in motion.provenance.items()
    )
    files = "".join(
        f"<li><a href='{html.escape(p.name if p.parent == path.parent else str(p.relative_to(path.parent)))}'>"
        f"{html.escape(k)}</a></li>"
        for k, p in res.outputs.items()
    )
    overlay = res.outputs.get("overlay")
    media = ""
    if overlay is not None and overlay.suffix == ".mp4":
        media = f"<video src='{overlay.name}' controls width='720'></video>"
    elif overlay is not None:
        media = f"<img src='{overlay.name}' width='720'>"
    text = f"""<!doctype html><html><head><meta charset='utf-8'><title>biomocap: {html.escape(video.name)}</title>
<style>body{{font-family:sans-serif;max-width:980px;margin:2em auto}}td{{padding:2px 12px}}</style></head><body>
<h1>Capture of {html.escape(video.name)}</h1>
<p>{res.n_frames} frames at {motion.fps:.2f} fps, {det.image_size_px[0]}x{det.image_size_px[1]} px;
subject {motion.height_m:.2f} m, {motion.mass_kg:.0f} kg.</p>
<p>Mean reprojection error of the BlazePose keypoints: <b>{res.mean_reprojection_px:.1f} px</b>
(before refinement {res.initial_reprojection_px:.1f} px). Joint-limit violations: <b>{res.limit_violations}</b>.</p>
<p>{"<br>".join(html.escape(n) for n in res.notes)}</p>
{media}
{_world_html(motion, res)}
<h2>Joint angles</h2><img src='joint_angles.png' width='900'>
<h2>Timings</h2><table>{rows}</table>
<h2>Files</h2><ul>{files}</ul>
<h2>Provenance</h2><table>{prov}</table>
</body></html>"""
    atomic_write(path, lambda f: f.write(text))
    return path
