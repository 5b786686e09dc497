"""BVH reading and retargeting of CMU-family motion onto BSM-46 by IK on joint positions.

Any of the CMU namings (CMU ``Hips/LeftUpLeg``, cgspeed ``Hips/LeftHip``, Daz-friendly
``hip/lThigh``, ASF names) and ASF/AMC files are read through ``core.mocap.track``; the notes below
use the CMU names. Daz-friendly files have no toe joint: the toe tip (the foot's end site) is a
marker on the calcaneus with the MTP at neutral, and the eye midpoint is a head marker.

Units: the BVH length unit is chosen from the data: the candidate (m, cm, mm, inch, CMU's
inch/0.45) that puts the median standing height of the root (Hips) nearest 0.95 m.
Axes: BVH is Y-up; the subject's left and forward are read from the rest pose (LeftUpLeg minus
RightUpLeg; forward = left x up) and mapped onto OpenSim's X forward, Y up, Z right.

Mapping (BSM-46 body origin <- BVH joint position); what does not correspond exactly:
- pelvis <- Hips; lumbar joint at Hips (CMU's LowerBack pivot is at Hips: offset 0);
- femur <- UpLeg, tibia <- Leg, talus <- Foot, toes <- ToeBase (CMU's ToeBase is near the MTP);
  the toe end site is a marker on the toes body. calcn (subtalar) has no BVH joint;
- thorax <- Spine1 (CMU has a middle Spine joint: used as a marker on the lumbar body),
  head <- Neck1 (CMU's Neck pivots at Spine1, so the neck base moves a little relative to the
  thorax; BSM-46 cannot), Head and the head end site are markers on the head body;
- humerus <- Arm, ulna <- ForeArm, hand <- Hand (BSM-46's wrist centre is the hand origin);
  the finger end (LFingers/RFingers end) is a marker on the hand. Scapulae have no BVH joint:
  the shoulder centre moves through the scapula DOFs.
Segment lengths come from the BVH rest offsets; directions from the BSM-46 template (the CMU
rest pose is a T-pose with abducted legs, BSM-46's zero is the anatomical position).
``RetargetReport.needed_range_deg`` stays empty: an IK without limits was tried to measure the
range a clip needs, but its solutions wrap and are ambiguous; not reported until done properly.
Not observable from these targets (kept near neutral by the IK prior): subtalar, pro_sup, wrist
deviation, the split between scapula and shoulder DOFs.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from core import skeleton as sk

__all__ = ["BvhJoint", "BvhData", "read_bvh", "bvh_positions", "RetargetReport", "retarget_bvh"]

log = logging.getLogger(__name__)


@dataclass
class BvhJoint:
    name: str
    parent: int  # -1 for the root
    offset: np.ndarray  # (3,) in the parent's frame, file units
    channels: tuple[str, ...]
    end_site: np.ndarray | None = None  # (3,) offset of the end site, if any


@dataclass
class BvhData:
    joints: list[BvhJoint]
    frame_time_s: float
    motion: np.ndarray  # (T, C) channel values, file units and degrees

    @property
    def names(self) -> list[str]:
        return [j.name for j in self.joints]

    def index(self, name: str) -> int:
        for i, j in enumerate(self.joints):
            if j.name == name:
                return i
        raise ValueError(f"BVH has no joint {name!r} (joints: {', '.join(self.names[:8])}...)")


def read_bvh(path: str | Path) -> BvhData:
    """Parse a BVH file (HIERARCHY + MOTION). A malformed file raises ValueError naming the file
    and what is wrong (unbalanced braces, bad channels, frame time <= 0, value count)."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"BVH file not found: {path}")
    tokens = path.read_text(errors="replace").split()
    joints: list[BvhJoint] = []
    stack: list[int] = []
    i = 0
    pending_end = False

    def bad(msg: str) -> ValueError:
        return ValueError(f"{path}: malformed BVH ({msg})")

    if not tokens or tokens[0].upper() != "HIERARCHY":
        raise ValueError(f"{path}: not a BVH file (no HIERARCHY at the start)")
    try:
        i = 1
        while tokens[i].upper() != "MOTION":
            t = tokens[i]
            if t in ("ROOT", "JOINT"):
                if t == "ROOT" and stack:
                    raise bad(f"ROOT {tokens[i + 1]!r} inside another joint's braces")
                if t == "JOINT" and not stack:
                    raise bad(f"JOINT {tokens[i + 1]!r} outside any ROOT's braces")
                joints.append(BvhJoint(tokens[i + 1], stack[-1] if stack else -1, np.zeros(3), ()))
                i += 2
            elif t == "End":
                pending_end = True
                i += 2
            elif t == "{":
                stack.append(-2 if pending_end else len(joints) - 1)
                i += 1
            elif t == "}":
                if not stack:
                    raise bad("unbalanced braces: '}' without a matching '{'")
                stack.pop()
                pending_end = False
                i += 1
            elif t == "OFFSET":
                if not stack:
                    raise bad("OFFSET outside any joint's braces")
                v = np.array([float(x) for x in tokens[i + 1 : i + 4]])
                if stack[-1] == -2:
                    parent = [s for s in stack if s >= 0][-1]
                    joints[parent].end_site = v
                else:
                    joints[stack[-1]].offset = v
                i += 4
            elif t == "CHANNELS":
                if not joints:
                    raise bad("CHANNELS before any joint")
                n = int(tokens[i + 1])
                ch = tuple(tokens[i + 2 : i + 2 + n])
                wrong = [c for c in ch if c[:1] not in "XYZ" or c[1:] not in _CHANNEL_KINDS]
                if wrong:
                    raise bad(f"unknown channel {wrong[0]!r} of joint {joints[-1].name!r}")
                joints[-1].channels = ch
                i += 2 + n
            else:
                raise bad(f"unexpected token {t!r} in HIERARCHY")
        if stack:
            raise bad(f"unbalanced braces: {len(stack)} '{{' not closed before MOTION")
        if tokens[i + 1] != "Frames:" or tokens[i + 3] != "Frame" or tokens[i + 4] != "Time:":
            raise bad("expected 'Frames: N' and 'Frame Time: S' after MOTION")
        n_frames = int(tokens[i + 2])
        frame_time = float(tokens[i + 5])
        values = np.array(tokens[i + 6 :], dtype=np.float64)
    except IndexError:
        raise bad("file ends early") from None
    except ValueError as e:
        if str(e).startswith(str(path)):
            raise
        raise bad(str(e)) from e
    if not joints:
        raise bad("no joints in HIERARCHY")
    if not (np.isfinite(frame_time) and frame_time > 0):
        raise bad(f"Frame Time must be a positive number of seconds, got {tokens[i + 5]}")
    if n_frames < 1:
        raise bad(f"Frames must be at least 1, got {n_frames}")
    n_ch = sum(len(j.channels) for j in joints)
    if n_ch == 0 or values.size != n_frames * n_ch:
        raise bad(f"expected {n_frames} frames x {n_ch} channels, got {values.size} values")
    if not np.isfinite(values).all():
        raise bad("non-finite values (nan/inf) in MOTION")
    return BvhData(joints, frame_time, values.reshape(n_frames, n_ch))


_CHANNEL_KINDS = ("position", "rotation")


def _axis_rot(axis: str, deg: np.ndarray) -> np.ndarray:
    a = np.deg2rad(deg)
    c, s = np.cos(a), np.sin(a)
    o, z = np.ones_like(a), np.zeros_like(a)
    if axis == "X":
        m = [[o, z, z], [z, c, -s], [z, s, c]]
    elif axis == "Y":
        m = [[c, z, s], [z, o, z], [-s, z, c]]
    else:
        m = [[c, -s, z], [s, c, z], [z, z, o]]
    return np.moveaxis(np.array(m), (0, 1), (-2, -1))


def bvh_positions(data: BvhData, rest: bool = False) -> tuple[np.ndarray, np.ndarray]:
    """World joint positions (T, J, 3) and end-site positions (T, J, 3) (NaN where a joint has no
    end site), file units and axes. ``rest``: the zero-channel pose (one frame)."""
    motion = np.zeros((1, data.motion.shape[1])) if rest else data.motion
    t = motion.shape[0]
    pos = np.zeros((t, len(data.joints), 3))
    ends = np.full((t, len(data.joints), 3), np.nan)
    rots: list[np.ndarray] = []
    col = 0
    for k, j in enumerate(data.joints):
        r = np.broadcast_to(np.eye(3), (t, 3, 3)).copy()
        trans = np.zeros((t, 3))
        for ch in j.channels:
            v = motion[:, col]
            col += 1
            if ch.endswith("position"):
                trans[:, "XYZ".index(ch[0])] = v
            elif ch.endswith("rotation"):
                r = r @ _axis_rot(ch[0], v)
        if j.parent < 0:
            pos[:, k] = j.offset + trans
            rots.append(r)
        else:
            rp = rots[j.parent]
            pos[:, k] = pos[:, j.parent] + rp @ j.offset
            rots.append(rp @ r)
        if j.end_site is not None:
            ends[:, k] = pos[:, k] + rots[k] @ j.end_site
    return pos, ends


_UNITS = {"m": 1.0, "cm": 0.01, "mm": 0.001, "inch": 0.0254, "cmu (inch/0.45)": 0.0254 / 0.45}


@dataclass
class RetargetReport:
    source: str
    n_frames: int
    fps: float
    unit: str
    unit_m: float
    stature_m: float  # BVH subject: lowest foot point to head end site, rest pose
    target_names: tuple[str, ...]
    error_mean_mm: dict[str, float]  # per target: mean distance model vs BVH
    error_p95_mm: dict[str, float]
    at_limit_fraction: dict[str, float]  # per limited DOF: frames within 2 deg of a limit
    needed_range_deg: dict[str, tuple[float, float, int]] = field(default_factory=dict)
    # DOF -> (min, max, frames outside the table) from an IK without limits, where outside
    convention: str = ""  # joint naming read (core.mocap.track.CONVENTIONS)

    def summary(self) -> str:
        lines = [
            f"{self.source}: {self.n_frames} frames at {self.fps:g} Hz; "
            f"naming {self.convention or '?'}; unit {self.unit} "
            f"({self.unit_m:.5f} m); BVH stature {self.stature_m:.2f} m",
            f"{'target':18s} mean mm  p95 mm",
        ]
        for n in self.target_names:
            lines.append(f"{n:18s} {self.error_mean_mm[n]:7.1f} {self.error_p95_mm[n]:7.1f}")
        pressed = {k: v for k, v in self.at_limit_fraction.items() if v > 0.01}
        lines.append(
            "DOFs within 2 deg of a limit (fraction of frames): "
            + (
                ", ".join(
                    f"{k} {v:.2f}" for k, v in sorted(pressed.items(), key=lambda kv: -kv[1])
                )
                or "none above 1%"
            )
        )
        for k, (lo, hi, n) in self.needed_range_deg.items():
            d = sk.DOFS[sk.DOF[k]]
            lines.append(
                f"needs more range: {k} {lo:.1f}..{hi:.1f} deg (table "
                f"{d.lower_deg:g}..{d.upper_deg:g}) in {n} frames"
            )
        return "\n".join(lines)


def _choose_unit(pos: np.ndarray) -> tuple[str, float]:
    root_height = float(np.median(pos[:, 0, 1] - pos[:, :, 1].min(axis=1)))
    if not np.isfinite(root_height) or root_height <= 0:
        raise ValueError("cannot choose a length unit: the root is never above the other joints")
    best = min(_UNITS.items(), key=lambda kv: abs(np.log(root_height * kv[1] / 0.95)))
    return best


def retarget_bvh(
    path: str | Path,
    unit_m: float | None = None,
    max_frames: int | None = None,
    target_fps: float | None = None,
    ik_config=None,
):
    """A CMU-family motion file -> (Motion, RetargetReport) on a BSM-46 skeleton scaled to its
    subject. BVH in any supported naming (``core.mocap.track.CONVENTIONS``) or ASF/AMC (the .asf
    beside the .amc). ``target_fps`` keeps every n-th frame so that the rate is at most that
    (e.g. 120 Hz -> 30). ``ik_config``: a ``core.ik.IKConfig`` (default: its defaults)."""
    from core.mocap.track import load_track

    track = load_track(path, target_fps=target_fps, max_frames=max_frames)
    return retarget_track(track, unit_m=unit_m, ik_config=ik_config)


def retarget_track(track, unit_m: float | None = None, ik_config=None):
    """``core.mocap.track.JointTrack`` -> (Motion, RetargetReport); see :func:`retarget_bvh`."""
    import torch

    from core import ik
    from core import kinematics as kin
    from core.mocap.track import find_convention
    from core.motion import Motion

    path = track.source
    if track.n_frames < 1:
        raise ValueError(f"{path}: no frames to retarget")
    roles = find_convention(track)
    pos, rest = track.pos, track.rest
    if unit_m:
        unit, scale = "given", unit_m
    elif track.unit_m:
        unit, scale = (
            "cmu (inch/0.45)" if abs(track.unit_m - 0.0254 / 0.45) < 1e-9 else "asf",
            (track.unit_m),
        )
    else:
        unit, scale = _choose_unit(pos)
    pt = lambda role: roles.point(track, role)  # noqa: E731
    rp = lambda role: roles.point(track, role, rest=True)  # noqa: E731
    # Axes: file -> OpenSim (X forward, Y up, Z right) from the rest pose.
    up = np.array([0.0, 1.0, 0.0])
    left = rp("upleg_l") - rp("upleg_r")
    left = left - up * (left @ up)
    left /= np.linalg.norm(left)
    fwd = np.cross(left, up)
    basis = np.stack([fwd, up, -left])  # rows: OpenSim axes in file coordinates
    to_os = lambda p: scale * (p @ basis.T)  # noqa: E731
    P = {r: to_os(pt(r)) for r in roles.specs}
    R = {r: to_os(rp(r)) for r in roles.specs}
    all_rest = to_os(np.concatenate([rest, track.rest_ends[np.isfinite(track.rest_ends).all(1)]]))

    def seg(a: str, b: str) -> float:
        return float(np.linalg.norm(R[b] - R[a]))

    off = sk.default_offsets(1.75)
    B = sk.BODY
    new = np.zeros_like(off)
    new[B["lumbar"]] = 0.0
    new[B["thorax"]] = R["spine1"] - R["hips"]
    new[B["head"]] = R["neck1"] - R["spine1"]
    toe_tip_template = np.array([0.04, 0.0, 0.0])  # toes origin (MTP) -> tip, 1.75 m adult
    for s in "rl":
        new[B[f"femur_{s}"]] = R[f"upleg_{s}"] - R["hips"]
        new[B[f"tibia_{s}"]] = [0.0, -seg(f"upleg_{s}", f"leg_{s}"), 0.0]
        new[B[f"talus_{s}"]] = [0.0, -seg(f"leg_{s}", f"foot_{s}"), 0.0]
        foot = off[B[f"calcn_{s}"]] + off[B[f"toes_{s}"]]
        if roles.has(f"toe_{s}"):
            k = seg(f"foot_{s}", f"toe_{s}") / np.linalg.norm(foot)
        elif roles.has(f"foot_end_{s}"):  # ankle -> toe tip only (Daz): scale the whole foot
            k = seg(f"foot_{s}", f"foot_end_{s}") / np.linalg.norm(foot + toe_tip_template)
        else:
            k = np.linalg.norm(new[B[f"tibia_{s}"]]) / np.linalg.norm(off[B[f"tibia_{s}"]])
        new[B[f"calcn_{s}"]] = off[B[f"calcn_{s}"]] * k
        new[B[f"toes_{s}"]] = off[B[f"toes_{s}"]] * k
        shoulder = R[f"arm_{s}"] - R["spine1"]
        stature_k = np.linalg.norm(new[B["thorax"]] + new[B["head"]]) / 0.46
        new[B[f"scapula_{s}"]] = off[B[f"scapula_{s}"]] * stature_k
        new[B[f"humerus_{s}"]] = shoulder - new[B[f"scapula_{s}"]]
        new[B[f"ulna_{s}"]] = [0.0, -seg(f"arm_{s}", f"forearm_{s}"), 0.0]
        fa = off[B[f"radius_{s}"]] + off[B[f"hand_{s}"]]
        k = seg(f"forearm_{s}", f"hand_{s}") / np.linalg.norm(fa)
        new[B[f"radius_{s}"]] = off[B[f"radius_{s}"]] * k
        new[B[f"hand_{s}"]] = off[B[f"hand_{s}"]] * k
    # Targets: body origins plus markers.
    names, bodies, local, cols = [], [], [], []

    def add(name: str, body: str, loc, series: np.ndarray) -> None:
        names.append(name)
        bodies.append(B[body])
        local.append(np.asarray(loc, dtype=np.float64))
        cols.append(series)

    add("Hips", "pelvis", [0, 0, 0], P["hips"])
    add("Spine", "lumbar", R["spine"] - R["hips"], P["spine"])
    add("Spine1", "thorax", [0, 0, 0], P["spine1"])
    add("Neck1", "head", [0, 0, 0], P["neck1"])
    add("Head", "head", R["head"] - R["neck1"], P["head"])
    for extra, label in (("head_end", "Head_end"), ("eyes", "Eyes")):
        if roles.has(extra):
            add(label, "head", R[extra] - R["neck1"], P[extra])
    for s, side in (("r", "Right"), ("l", "Left")):
        for key, body, label in (
            ("upleg", "femur", "UpLeg"),
            ("leg", "tibia", "Leg"),
            ("foot", "talus", "Foot"),
            ("toe", "toes", "ToeBase"),
            ("arm", "humerus", "Arm"),
            ("forearm", "ulna", "ForeArm"),
            ("hand", "hand", "Hand"),
        ):
            if roles.has(f"{key}_{s}"):
                add(side + label, f"{body}_{s}", [0, 0, 0], P[f"{key}_{s}"])
        if roles.has(f"toe_{s}") and roles.has(f"toe_end_{s}"):
            length = seg(f"toe_{s}", f"toe_end_{s}")
            add(f"{side}Toe_end", f"toes_{s}", [length, 0, 0], P[f"toe_end_{s}"])
        elif roles.has(f"foot_end_{s}"):  # toe tip on the foot with the MTP at neutral
            tip = new[B[f"toes_{s}"]] + toe_tip_template * _k_foot(new, off, B, s)
            add(f"{side}Toe_end", f"calcn_{s}", tip, P[f"foot_end_{s}"])
        if roles.has(f"fingers_{s}"):
            length = seg(f"hand_{s}", f"fingers_{s}")
            add(f"{side}Fingers_end", f"hand_{s}", [0, -length, 0], P[f"fingers_{s}"])
    x = np.stack(cols, 1)
    if not np.isfinite(x).all():
        raise ValueError(f"{path}: non-finite joint positions (NaN/inf values in the motion)")
    bodies_a, local_a = np.array(bodies), np.stack(local)
    log.info(
        "%s (%s naming): %d frames, unit %s, %d targets",
        path,
        roles.convention.label,
        len(x),
        unit,
        len(names),
    )
    res = ik.solve_ik(torch.from_numpy(x), bodies_a, local_a, new, config=ik_config)
    q = res.q_rad.numpy()
    root = res.root_m.numpy()
    fk = kin.forward_kinematics(res.q_rad, res.root_m, torch.from_numpy(new))
    model = kin.body_points(fk, torch.from_numpy(bodies_a), torch.from_numpy(local_a)).numpy()
    err_mm = 1e3 * np.linalg.norm(model - x, axis=-1)
    lo, hi = sk.limits_rad()
    lim = np.isfinite(lo)
    near = (q - lo < np.deg2rad(2)) | (hi - q < np.deg2rad(2))
    frac = {n: float(near[:, i].mean()) for i, n in enumerate(sk.DOF_NAMES) if lim[i]}
    needed: dict[str, tuple[float, float, int]] = {}  # not estimated yet (see module doc)
    stature = float(all_rest[:, 1].max() - all_rest[:, 1].min())
    fps = 1.0 / track.frame_time_s
    report = RetargetReport(
        str(path),
        len(x),
        fps,
        unit,
        scale,
        stature,
        tuple(names),
        {n: float(err_mm[:, k].mean()) for k, n in enumerate(names)},
        {n: float(np.percentile(err_mm[:, k], 95)) for k, n in enumerate(names)},
        frac,
        needed,
        convention=roles.convention.name,
    )
    height = float(np.clip(stature, 0.5, 2.6))
    motion = Motion(
        fps=fps,
        q_rad=q,
        root_m=root,
        offsets_m=new,
        height_m=height,
        mass_kg=float(np.clip(70.0 * (height / 1.75) ** 2, 10, 300)),
        marker_names=tuple(names),
        marker_bodies=bodies_a,
        marker_local_m=local_a,
        markers_m=x,
        provenance={
            "retarget_bvh": {
                "source": str(path),
                "format": track.format,
                "naming": roles.convention.name,
                "unit": unit,
                "unit_m": scale,
                "ik": "core.ik (joint-centre targets)",
                "median_target_error_mm": float(np.median(err_mm)),
            }
        },
    )
    return motion, report


def _k_foot(new: np.ndarray, off: np.ndarray, B: dict, s: str) -> float:
    """Scale of the retargeted foot relative to the template (calcn offset ratio)."""
    return float(np.linalg.norm(new[B[f"calcn_{s}"]]) / np.linalg.norm(off[B[f"calcn_{s}"]]))
