"""Inputs of the OpenSim tools checked before anything runs, each error naming the file.

OpenSim itself reports a bad model as a multi-line SimTK exception ("see messages window"), runs
IK on frames without markers, and computes inverse dynamics of a zero pose when no column of the
coordinates file matches the model. These checks turn each of those into one clear line.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np

from biomech_export._opensim import require_opensim
from biomech_export.mot import check_angle_units, check_columns, read_mot
from biomech_export.trc import read_trc

__all__ = [
    "ModelInfo",
    "load_model_info",
    "check_ik_inputs",
    "check_id_inputs",
    "check_setup_xml",
    "check_npz",
]


class ModelInfo:
    def __init__(self, coordinates: list[str], rotational: list[str], markers: list[str]):
        self.coordinates = coordinates
        self.rotational = rotational
        self.markers = markers


def load_model_info(path: str | Path) -> ModelInfo:
    """Coordinate and marker names of an .osim file; ValueError naming it when OpenSim cannot
    load it."""
    osim = require_opensim()
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"model not found: {path}")
    try:
        model = osim.Model(str(path))
        model.finalizeConnections()
    except Exception as e:  # noqa: BLE001 - OpenSim raises RuntimeError with SimTK text
        first = " ".join(str(e).split())[:160]
        raise ValueError(
            f"{path} is not an OpenSim model OpenSim can load ({first}); check the file"
        ) from None
    cs = model.getCoordinateSet()
    coords = [cs.get(i).getName() for i in range(cs.getSize())]
    rot = [cs.get(i).getName() for i in range(cs.getSize()) if cs.get(i).getMotionType() == 1]
    ms = model.getMarkerSet()
    return ModelInfo(coords, rot, [ms.get(i).getName() for i in range(ms.getSize())])


def _no_bom(path: Path) -> None:
    """OpenSim's readers reject a UTF-8 byte-order mark (some Windows editors add one)."""
    with open(path, "rb") as f:
        if f.read(3) == b"\xef\xbb\xbf":
            raise ValueError(
                f"{path} starts with a UTF-8 byte-order mark, which OpenSim's reader rejects; "
                "save it without one (e.g. 'UTF-8' rather than 'UTF-8 with BOM')"
            )


def _check_range(rng, t0: float, t1: float, path: Path) -> None:
    if rng is None:
        return
    a, b = (float(v) for v in rng)
    if not (math.isfinite(a) and math.isfinite(b)):
        raise ValueError(f"--time-range needs two finite times in seconds, got {a:g} {b:g}")
    if b <= a:
        raise ValueError(f"--time-range: the end ({b:g} s) must come after the start ({a:g} s)")
    if b < t0 or a > t1:
        raise ValueError(
            f"--time-range {a:g} {b:g} s is outside {path.name}, which covers {t0:g}..{t1:g} s"
        )


def check_setup_xml(path: Path, tool: str) -> None:
    """``path`` is an OpenSim setup file holding a ``tool`` element."""
    import xml.etree.ElementTree as ET

    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"setup file not found: {path}")
    try:
        root = ET.parse(path).getroot()
    except ET.ParseError as e:
        raise ValueError(f"{path} is not an XML setup file ({e})") from None
    if root.tag != tool and root.find(f".//{tool}") is None:
        raise ValueError(f"{path} holds no <{tool}>: not an OpenSim {tool} setup")


def check_npz(path: Path) -> None:
    """``path`` opens as an .npz archive of plain arrays."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"input not found: {path}")
    try:
        with np.load(path, allow_pickle=False) as z:
            for k in z.files:
                z[k]
    except Exception as e:  # noqa: BLE001 - zipfile/numpy raise many kinds
        raise ValueError(
            f"{path} is not a readable .npz of plain arrays ({e.__class__.__name__}: "
            f"{str(e)[:120]})"
        ) from None


def check_ik_inputs(model: Path, markers: Path, time_range=None, setup_template=None) -> None:
    """The model loads, the .trc reads, shares markers with the model, and every frame in the
    range has at least 3 of those markers."""
    if setup_template is not None:
        check_setup_xml(setup_template, "InverseKinematicsTool")
    info = load_model_info(model)
    trc = read_trc(markers)
    _no_bom(Path(markers))
    _check_range(time_range, float(trc.time_s[0]), float(trc.time_s[-1]), Path(markers))
    used = [i for i, n in enumerate(trc.marker_names) if n in set(info.markers)]
    if not used:
        raise ValueError(
            f"no marker of {Path(markers).name} is on the model {Path(model).name} "
            f"(file has {list(trc.marker_names[:3])}, model {info.markers[:3]})"
        )
    seen = np.isfinite(trc.markers_m[:, used]).all(axis=2).sum(axis=1)
    keep = np.ones(len(trc.time_s), bool)
    if time_range is not None:
        keep = (trc.time_s >= time_range[0] - 1e-9) & (trc.time_s <= time_range[1] + 1e-9)
    bad = np.flatnonzero(keep & (seen < 3))
    if len(bad):
        raise ValueError(
            f"{markers}: {len(bad)} frame(s) have fewer than 3 of the model's markers (first at "
            f"t={trc.time_s[bad[0]]:g} s): fill the gaps or leave those "
            "frames out with --time-range"
        )


def check_id_inputs(
    model: Path, coordinates: Path, time_range=None, *, allow_partial: bool = False
) -> None:
    """The model loads; the coordinates file names the model's coordinates (unknown or missing
    ones are an error unless ``allow_partial``), has finite values and plausible angle units."""
    info = load_model_info(model)
    table = read_mot(coordinates)
    _no_bom(Path(coordinates))
    check_columns(
        table,
        info.coordinates,
        coordinates,
        allow_partial=allow_partial,
        required=info.coordinates,
    )
    _check_range(time_range, float(table.time_s[0]), float(table.time_s[-1]), Path(coordinates))
    used = [n for n in table.labels if n in set(info.coordinates)]
    vals = np.stack([table.column(n) for n in used], axis=1)
    bad = ~np.isfinite(vals).all(axis=1)
    if bad.any():
        raise ValueError(
            f"{coordinates}: {int(bad.sum())} row(s) have NaN/inf coordinates (first at "
            f"t={table.time_s[bad][0]:g} s); fill or cut them"
        )
    check_angle_units(table, info.rotational, coordinates)
