"""Whole-body Newton-Euler from an OpenSim model and a coordinate trajectory.

The model gives each body's mass, centre of mass and inertia; OpenSim's own kinematics place the
bodies frame by frame (position level only). The external wrench the ground must supply is then

    F = sum_i m_i (a_i - g)                      (linear momentum)
    M_O = dL_O/dt - sum_i c_i x m_i g            (angular momentum about the ground origin O)

with L_O = sum_i (c_i x m_i v_i + R_i I_i R_i^T w_i). Velocities and accelerations are central
differences of the low-passed trajectory (a zero-lag Butterworth, as OpenSim's ID filters its
coordinates), so the result is exact for the filtered motion up to the differencing error.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from biomech_export._opensim import require_opensim
from biomech_export.mot import read_mot

__all__ = [
    "FOOT_BODIES",
    "Trajectory",
    "BodyKinematics",
    "Wrench",
    "load_model",
    "load_trajectory",
    "lowpass",
    "body_kinematics",
    "external_wrench",
]

log = logging.getLogger(__name__)

FOOT_BODIES = {"r": ("calcn_r", "toes_r"), "l": ("calcn_l", "toes_l")}
# speed/acceleration/marker columns an IK or states file may carry beside the coordinates
_EXTRA_SUFFIXES = ("_u", "/speed", "/value", "_speed", "_acc")


@dataclass
class Trajectory:
    time_s: np.ndarray  # (T,) uniform
    names: tuple[str, ...]  # model coordinates, the model's order
    q: np.ndarray  # (T, C) radians / metres (the model's units)
    source: Path
    in_file: tuple[bool, ...] = ()  # (C,) the coordinate came from the file


@dataclass
class BodyKinematics:
    time_s: np.ndarray  # (T,)
    names: tuple[str, ...]  # (B,) bodies with mass
    mass_kg: np.ndarray  # (B,)
    com_m: np.ndarray  # (T, B, 3) centre of mass in ground
    rot: np.ndarray  # (T, B, 3, 3) body-to-ground rotation
    inertia_kgm2: np.ndarray  # (B, 3, 3) about the COM, body frame
    gravity: np.ndarray  # (3,) m/s^2
    heel_m: dict[str, np.ndarray]  # side -> (T, 3) heel point in ground
    toe_m: dict[str, np.ndarray]  # side -> (T, 3) toe tip in ground

    @property
    def total_mass_kg(self) -> float:
        return float(self.mass_kg.sum())

    @property
    def com_total_m(self) -> np.ndarray:  # (T, 3) whole-body centre of mass
        return np.einsum("tbk,b->tk", self.com_m, self.mass_kg) / self.total_mass_kg


@dataclass
class Wrench:
    time_s: np.ndarray  # (T,)
    force_n: np.ndarray  # (T, 3) external force on the body, ground frame
    moment_o_nm: np.ndarray  # (T, 3) its moment about the ground origin


@contextlib.contextmanager
def _quiet(osim: Any) -> Iterator[None]:
    """OpenSim warns about every missing display mesh: keep loading quiet."""
    old = osim.Logger.getLevelString()
    osim.Logger.setLevelString("error")
    try:
        yield
    finally:
        osim.Logger.setLevelString(old)


def load_model(model_path: str | Path) -> Any:
    """An initialised ``opensim.Model`` that has both foot bodies, or ValueError saying why not."""
    osim = require_opensim()
    model_path = Path(model_path)
    if not model_path.is_file():
        raise FileNotFoundError(f"model not found: {model_path}")
    with _quiet(osim):
        try:
            model = osim.Model(str(model_path))
        except Exception as e:  # OpenSim raises its own exception types
            why = " ".join(str(e).split())
            why = why[:120] + "..." if len(why) > 120 else why
            raise ValueError(
                f"{model_path}: OpenSim cannot read this model file; give an .osim model ({why})"
            ) from None
        model.initSystem()
    bodies = model.getBodySet()
    missing = [b for side in FOOT_BODIES.values() for b in side if not bodies.contains(b)]
    if missing:
        raise ValueError(
            f"{model_path}: the model has no {', '.join(missing)} bodies; GRF estimation needs "
            "OpenSim foot bodies calcn_r/l and toes_r/l (as in gait2392, Rajagopal2016, "
            "LaiUhlrich2022 or a model written by 'biomech_export export')"
        )
    return model


def load_trajectory(model: Any, motion_path: str | Path) -> Trajectory:
    """Model coordinates from a .mot/.sto (IK output), on a uniform time grid, model units.

    Every free (not dependent, not locked) model coordinate must be in the file; a column that
    is neither a model coordinate nor a marker/speed column is an error (a motion for another
    model)."""
    motion_path = Path(motion_path)
    table = read_mot(motion_path)
    coords = model.getCoordinateSet()
    state = model.getWorkingState()
    names = [coords.get(i).getName() for i in range(coords.getSize())]
    markers = model.getMarkerSet()
    marker_names = {markers.get(i).getName() for i in range(markers.getSize())}

    labels = set(table.labels)

    def is_extra(label: str) -> bool:
        # IK writes marker locations as NAME_tx/_ty/_tz triplets (model markers or not)
        if label[-3:] in ("_tx", "_ty", "_tz"):
            base = label[:-3]
            if base in marker_names or all(base + s in labels for s in ("_tx", "_ty", "_tz")):
                return True
        if any(w in label.lower() for w in ("force", "torque", "moment")):
            return True  # ground reaction / load columns some IK files carry along
        return any(label.endswith(s) and label[: -len(s)] in names for s in _EXTRA_SUFFIXES)

    unknown = [c for c in table.labels if c not in names and not is_extra(c)]
    if unknown:
        raise ValueError(
            f"{motion_path}: column(s) {unknown[:5]} are not coordinates of the model "
            f"({len(unknown)} unknown): give the motion solved for this model (its IK .mot)"
        )
    free = [
        n
        for n in names
        if not coords.get(n).isDependent(state) and not coords.get(n).getDefaultLocked()
    ]
    missing = [n for n in free if n not in table.labels]
    if missing:
        raise ValueError(
            f"{motion_path}: missing coordinate column(s) {missing[:5]} of the model "
            f"({len(missing)} missing): give the motion solved for this model (its IK .mot)"
        )
    if len(table.time_s) < 10:
        raise ValueError(f"{motion_path}: {len(table.time_s)} frames; need at least 10")
    dt = np.diff(table.time_s)
    if np.any(dt <= 0):
        raise ValueError(f"{motion_path}: time column is not strictly increasing")
    degrees = table.in_degrees
    rot_idx = [
        i for i, n in enumerate(names) if coords.get(n).getMotionType() == 1 and n in table.labels
    ]
    if degrees is None:
        vals = np.concatenate([table.column(names[i]) for i in rot_idx]) if rot_idx else [0]
        degrees = bool(np.nanmax(np.abs(vals)) > 2 * np.pi)
        log.warning(
            "%s has no inDegrees: angles taken as %s",
            motion_path.name,
            "degrees" if degrees else "radians",
        )
    t_uniform = np.linspace(table.time_s[0], table.time_s[-1], len(table.time_s))
    q = np.empty((len(t_uniform), len(names)))
    for j, n in enumerate(names):
        c = coords.get(n)
        if n in table.labels:
            v = table.column(n).astype(float)
            if not np.all(np.isfinite(v)):
                raise ValueError(f"{motion_path}: column {n} has NaN/inf values")
            if degrees and c.getMotionType() == 1:
                v = np.deg2rad(v)
            q[:, j] = np.interp(t_uniform, table.time_s, v)
        else:
            q[:, j] = c.getDefaultValue()  # locked or dependent (set by assembly later)
    in_file = tuple(n in table.labels for n in names)
    return Trajectory(t_uniform, tuple(names), q, motion_path, in_file)


def lowpass(x: np.ndarray, fs_hz: float, cutoff_hz: float, order: int = 4) -> np.ndarray:
    """Zero-lag Butterworth low-pass along axis 0 (padded by odd reflection); <= 0: no filter."""
    from scipy.signal import butter, filtfilt

    if cutoff_hz <= 0 or cutoff_hz >= 0.5 * fs_hz:
        return np.array(x, dtype=float)
    b, a = butter(order // 2, cutoff_hz / (0.5 * fs_hz))  # filtfilt doubles the order
    pad = min(3 * max(len(a), len(b)) * 4, len(x) - 1)
    return filtfilt(b, a, x, axis=0, padlen=pad, padtype="odd")


def _mat(rot: Any) -> np.ndarray:
    return np.array([[rot.get(i, j) for j in range(3)] for i in range(3)])


def body_kinematics(model: Any, traj: Trajectory) -> BodyKinematics:
    """Place every body with OpenSim for each frame of ``traj`` (dependent coordinates, e.g.
    Rajagopal's knee_angle_r_beta, assembled from their constraints)."""
    osim = require_opensim()
    state = model.initSystem()
    coords = model.getCoordinateSet()
    cs = [coords.get(n) for n in traj.names]
    # dependent coordinates (Rajagopal's knee_angle_r_beta) are taken from the file when IK
    # wrote them, else assembled from their constraints (slower)
    given = traj.in_file or (True,) * len(cs)
    set_idx = [i for i, c in enumerate(cs) if not c.isDependent(state) or given[i]]
    needs_assembly = len(set_idx) < len(cs)
    bset = model.getBodySet()
    bodies = [bset.get(i) for i in range(bset.getSize())]
    bodies = [b for b in bodies if b.getMass() > 0]
    names = tuple(b.getName() for b in bodies)
    mass = np.array([b.getMass() for b in bodies])
    com_local = np.array([b.getMassCenter().to_numpy() for b in bodies])
    inertia = np.zeros((len(bodies), 3, 3))
    for k, b in enumerate(bodies):
        inert = b.getInertia()
        mo, pr = inert.getMoments().to_numpy(), inert.getProducts().to_numpy()
        inertia[k] = [[mo[0], pr[0], pr[1]], [pr[0], mo[1], pr[2]], [pr[1], pr[2], mo[2]]]
    heel_local, toe_local = {}, {}
    foot_bodies = {}
    for side, (calcn, toes) in FOOT_BODIES.items():
        cb, tb = bset.get(calcn), bset.get(toes)
        foot_bodies[side] = (cb, tb)
        # toes origin (the MTP joint) in the calcn frame, in the default pose
        mtp = tb.findStationLocationInAnotherFrame(state, osim.Vec3(0, 0, 0), cb).to_numpy()
        foot_len = float(np.linalg.norm(mtp[[0, 2]]))
        heel_local[side] = np.zeros(3)  # OpenSim foot models: calcn origin at the heel
        toe_local[side] = np.array([0.3 * foot_len, 0.0, 0.0])  # toe tip, toes frame
    n_t, n_b = len(traj.time_s), len(bodies)
    com = np.empty((n_t, n_b, 3))
    rot = np.empty((n_t, n_b, 3, 3))
    heel = {s: np.empty((n_t, 3)) for s in FOOT_BODIES}
    toe = {s: np.empty((n_t, 3)) for s in FOOT_BODIES}
    for t in range(n_t):
        for i in set_idx:
            cs[i].setValue(state, float(traj.q[t, i]), False)
        if needs_assembly:
            model.assemble(state)
        model.realizePosition(state)
        for k, b in enumerate(bodies):
            tr = b.getTransformInGround(state)
            r = _mat(tr.R())
            rot[t, k] = r
            com[t, k] = tr.p().to_numpy() + r @ com_local[k]
        for side, (cb, tb) in foot_bodies.items():
            tr = cb.getTransformInGround(state)
            heel[side][t] = tr.p().to_numpy() + _mat(tr.R()) @ heel_local[side]
            tr = tb.getTransformInGround(state)
            toe[side][t] = tr.p().to_numpy() + _mat(tr.R()) @ toe_local[side]
    gravity = model.getGravity().to_numpy()
    return BodyKinematics(traj.time_s, names, mass, com, rot, inertia, gravity, heel, toe)


def _skew_vee(m: np.ndarray) -> np.ndarray:
    return 0.5 * np.stack(
        [m[..., 2, 1] - m[..., 1, 2], m[..., 0, 2] - m[..., 2, 0], m[..., 1, 0] - m[..., 0, 1]],
        axis=-1,
    )


def external_wrench(kin: BodyKinematics) -> Wrench:
    """Total external force and moment (about the ground origin) that moves the bodies as
    ``kin`` says: Newton-Euler of the whole body."""
    t = kin.time_s
    v = np.gradient(kin.com_m, t, axis=0)
    a = np.gradient(v, t, axis=0)
    rdot = np.gradient(kin.rot, t, axis=0)
    omega = _skew_vee(np.einsum("tbij,tbkj->tbik", rdot, kin.rot))  # (T, B, 3) in ground
    i_ground = np.einsum("tbij,bjk,tblk->tbil", kin.rot, kin.inertia_kgm2, kin.rot)
    m = kin.mass_kg[None, :, None]
    lin = m * v
    ang = np.cross(kin.com_m, lin) + np.einsum("tbij,tbj->tbi", i_ground, omega)
    l_total = ang.sum(axis=1)
    force = (m * (a - kin.gravity)).sum(axis=1)
    moment = np.gradient(l_total, t, axis=0) - np.cross(kin.com_m, m * kin.gravity).sum(axis=1)
    return Wrench(t, force, moment)
