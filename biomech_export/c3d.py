"""C3D marker export through ezc3d (optional: ``pip install 'biomocap[opensim]'``)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from biomech_export.trc import TrcData
from core.motion import atomic_write

__all__ = ["write_c3d", "read_c3d"]


def _ezc3d():
    try:
        import ezc3d
    except ImportError as e:
        raise ImportError("C3D needs ezc3d: pip install 'biomocap[opensim]'") from e
    return ezc3d


def write_c3d(path: str | Path, data: TrcData) -> Path:
    """Write markers (metres, NaN = missing) as a C3D file in millimetres, atomically."""
    ezc3d = _ezc3d()
    path = Path(path)
    xyz = np.asarray(data.markers_m, dtype=np.float64) * 1000.0
    t, m = xyz.shape[:2]
    c = ezc3d.c3d()
    c["parameters"]["POINT"]["RATE"]["value"] = [float(data.rate_hz)]
    c["parameters"]["POINT"]["LABELS"]["value"] = list(data.marker_names)
    c["parameters"]["POINT"]["UNITS"]["value"] = ["mm"]
    pts = np.ones((4, m, t))
    pts[:3] = xyz.transpose(2, 1, 0)
    c["data"]["points"] = pts
    tmp = path.parent / f".{path.stem}.tmp.c3d"
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        c.write(str(tmp))
        payload = tmp.read_bytes()
    finally:
        tmp.unlink(missing_ok=True)
    atomic_write(path, lambda f: f.write(payload), binary=True)
    return path


def read_c3d(path: str | Path) -> TrcData:
    """Read the markers of a C3D file to metres."""
    ezc3d = _ezc3d()
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"C3D file not found: {path}")
    c = ezc3d.c3d(str(path))
    units = c["parameters"]["POINT"]["UNITS"]["value"][0].strip().lower()
    scale = {"mm": 1e-3, "cm": 1e-2, "m": 1.0}.get(units)
    if scale is None:
        raise ValueError(f"{path}: unknown point units {units!r}")
    rate = float(c["parameters"]["POINT"]["RATE"]["value"][0])
    pts = np.asarray(c["data"]["points"])[:3].transpose(2, 1, 0) * scale
    names = tuple(c["parameters"]["POINT"]["LABELS"]["value"])
    return TrcData(rate, np.arange(pts.shape[0]) / rate, names, pts)
