"""Export a Motion bundle to an OpenSim folder: model, coordinates, markers, setups, README."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from biomech_export.mot import motion_to_table, write_mot
from biomech_export.trc import TrcData, write_trc
from core import fk_numpy
from core.motion import Motion, atomic_write

__all__ = ["ExportResult", "export_motion", "motion_markers", "write_contacts_sto"]

log = logging.getLogger(__name__)


@dataclass
class ExportResult:
    folder: Path
    osim_path: Path
    mot_path: Path
    trc_path: Path | None
    ik_setup_path: Path | None
    id_setup_path: Path | None
    readme_path: Path
    c3d_path: Path | None = None
    contacts_path: Path | None = None


def motion_markers(motion: Motion) -> np.ndarray:
    """(T, M, 3) marker trajectories: the observed ones where given, else the model's markers
    placed by forward kinematics."""
    if motion.markers_m is not None:
        return motion.markers_m
    rot, org = fk_numpy.forward_kinematics(motion.q_rad, motion.root_m, motion.offsets_m)
    return fk_numpy.body_points(rot, org, motion.marker_bodies, motion.marker_local_m)


def write_contacts_sto(motion: Motion, path: str | Path, name: str = "contacts") -> Path:
    """``NAME_contacts.sto``: time and the contact probability (0..1, > 0.5 = in contact) of each
    ``core.contacts.CONTACT_POINTS`` column (heel_r, toe_r, heel_l, toe_l); floor at Y = 0."""
    from biomech_export.mot import MotTable
    from core.contacts import CONTACT_POINTS

    if motion.contacts is None:
        raise ValueError("the motion has no contacts to write")
    table = MotTable(
        motion.times_s, CONTACT_POINTS, motion.contacts, in_degrees=False, name=f"{name}_contacts"
    )
    return write_mot(path, table)


_README = """{name}: exported by biomocap (biomech_export) from {source}

{name}.osim          OpenSim 4 model of the subject: BSM-46 skeleton (24 bodies, 46 rotational
                     coordinates + pelvis_tx/ty/tz), de Leva (1996) masses and inertias for
                     {mass:.1f} kg / {height:.2f} m, {n_markers} virtual markers. Joint ranges are
                     clamped to the BSM-46 limits.
Geometry/            one mesh (.obj) per body, found by OpenSim beside the model.
{name}.mot           coordinates, {n_frames} frames at {fps:g} Hz (angles in degrees,
                     translations in metres).
{trc_line}{c3d_line}{name}_Setup_IK.xml  inverse kinematics of {name}.trc on {name}.osim
                     (OpenSim GUI: Tools > Inverse Kinematics > Load; or opensim-cmd run-tool),
                     with weak coordinate tasks toward {name}.mot (weight 1e-3) so OpenSim's
                     bounded solver reproduces it; remove them to fit the markers alone.
{name}_Setup_ID.xml  inverse dynamics of {name}.mot (no external loads: add force plates in the
                     GUI, or run `python -m biomech_export id --external-loads ...`).

Axes: X forward, Y up, Z right (OpenSim). Zero pose: anatomical neutral.
"""


def export_motion(
    motion: Motion,
    folder: str | Path,
    *,
    name: str = "subject",
    setups: bool = True,
    c3d: bool = False,
    sex: str = "male",
    source: str = "a Motion bundle",
) -> ExportResult:
    """Write NAME.osim (+ Geometry/), NAME.mot, NAME.trc, the IK/ID setups and README.txt."""
    from biomech_export.osim_model import write_osim

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    from core.options import component_name

    # the file keeps the user's name; the model inside gets one OpenSim accepts (no spaces...)
    osim = write_osim(motion, folder / f"{name}.osim", name=component_name(name), sex=sex)
    mot = write_mot(folder / f"{name}.mot", motion_to_table(motion, name=name))
    trc_path = c3d_path = ik_setup = id_setup = contacts_path = None
    if motion.contacts is not None:
        contacts_path = write_contacts_sto(motion, folder / f"{name}_contacts.sto", name=name)
    if motion.marker_names:
        data = TrcData(
            motion.fps, motion.times_s, tuple(motion.marker_names), motion_markers(motion)
        )
        trc_path = write_trc(folder / f"{name}.trc", data)
        if c3d:
            from biomech_export.c3d import write_c3d

            c3d_path = write_c3d(folder / f"{name}.c3d", data)
    if setups:
        from biomech_export.tools import write_id_setup, write_ik_setup

        if trc_path is not None:
            # weak coordinate tasks toward the .mot: OpenSim's bounded solver then reaches it
            ik_setup = write_ik_setup(
                osim.osim_path, trc_path, folder, name=name, coordinate_file=mot
            )
        id_setup = write_id_setup(osim.osim_path, mot, folder, name=name)
    trc_line = (
        f"{name}.trc           the virtual markers (the model's markers), mm.\n"
        if trc_path
        else ""
    )
    c3d_line = f"{name}.c3d           the same markers as C3D.\n" if c3d_path else ""
    text = _README.format(
        name=name,
        source=source,
        mass=motion.mass_kg,
        height=motion.height_m,
        n_markers=len(motion.marker_names),
        n_frames=motion.n_frames,
        fps=motion.fps,
        trc_line=trc_line,
        c3d_line=c3d_line,
    )
    readme = folder / "README.txt"
    atomic_write(readme, lambda f: f.write(text))
    log.info("exported %s to %s", name, folder)
    return ExportResult(
        folder, osim.osim_path, mot, trc_path, ik_setup, id_setup, readme, c3d_path, contacts_path
    )
