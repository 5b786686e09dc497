"""Acclaim ASF/AMC (the original CMU format): skeleton (.asf) + motion (.amc) -> joint positions.

Semantics (Acclaim spec as the CMU files use it): every bone has a global ``direction`` and
``length`` in its rest pose and a local frame given by ``axis`` (Euler angles in degrees, applied
in the listed order about fixed axes: "axis 0 0 20 XYZ" is Rz(20) Ry(0) Rx(0)). A bone's world
rotation is ``W = W_parent C M C^-1`` where ``M`` composes the AMC values of its ``dof`` line in
the listed order (``rx ry rz`` -> Rz Ry Rx); the bone starts where its parent ends and ends at
``start + length * W direction``. The root's ``order`` line says which AMC columns are the
translation and the rotation. Lengths are in file units; ``:units length 0.45`` (CMU) means
1 unit = 1/0.45 inch.

Joint positions follow the BVH convention (a joint is where its bone starts), so an ASF skeleton
reads like the CMU BVH conversions of the same take (``lfemur`` = hip centre, ``ltibia`` = knee).
The AMC frame rate is not in the file: CMU's is 120 Hz.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

__all__ = ["AsfBone", "AsfSkeleton", "read_asf", "read_amc", "amc_positions", "CMU_AMC_FPS"]

CMU_AMC_FPS = 120.0
_AXES = "xyz"


@dataclass
class AsfBone:
    name: str
    direction: np.ndarray  # (3,) unit vector, global rest frame
    length: float  # file units
    axis_deg: np.ndarray  # (3,)
    axis_order: str  # e.g. "XYZ"
    dofs: tuple[str, ...]  # e.g. ("rx", "ry", "rz")
    parent: int = -1  # index into AsfSkeleton.bones; -1 = the root


@dataclass
class AsfSkeleton:
    name: str
    length_unit_in: float  # inches per file unit (CMU: 1/0.45)
    root_order: tuple[str, ...]  # e.g. ("tx", "ty", "tz", "rx", "ry", "rz")
    root_axis: str
    root_position: np.ndarray  # (3,)
    root_orientation_deg: np.ndarray  # (3,)
    bones: list[AsfBone]

    @property
    def unit_m(self) -> float:
        return 0.0254 * self.length_unit_in

    def index(self, name: str) -> int:
        for i, b in enumerate(self.bones):
            if b.name == name:
                return i
        raise ValueError(f"ASF {self.name}: no bone {name!r}")


def _rot(axis: str, deg: np.ndarray) -> np.ndarray:
    a = np.deg2rad(deg)
    c, s = np.cos(a), np.sin(a)
    o, z = np.ones_like(a), np.zeros_like(a)
    m = {
        "x": [[o, z, z], [z, c, -s], [z, s, c]],
        "y": [[c, z, s], [z, o, z], [-s, z, c]],
        "z": [[c, -s, z], [s, c, z], [z, z, o]],
    }[axis.lower()]
    return np.moveaxis(np.array(m, dtype=np.float64), (0, 1), (-2, -1))


def _euler(order: str, deg: np.ndarray) -> np.ndarray:
    """Rotation (..., 3, 3) for angles (..., len(order)) about fixed axes in the listed order."""
    deg = np.asarray(deg, dtype=np.float64)
    r = np.broadcast_to(np.eye(3), deg.shape[:-1] + (3, 3)).copy()
    for k, ax in enumerate(order):
        r = _rot(ax, deg[..., k]) @ r
    return r


def read_asf(path: str | Path) -> AsfSkeleton:
    """Parse an ASF skeleton; a malformed file raises ValueError naming the file and line."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"ASF file not found: {path}")
    lines = [ln.split("#", 1)[0].strip() for ln in path.read_text(errors="replace").splitlines()]
    section = ""
    name = path.stem
    unit_in = 1.0
    root = {"order": ("tx", "ty", "tz", "rx", "ry", "rz"), "axis": "XYZ"}
    root_pos, root_ori = np.zeros(3), np.zeros(3)
    bones: list[AsfBone] = []
    cur: dict | None = None
    children: list[tuple[str, list[str]]] = []
    no = 0
    try:
        for no, ln in enumerate(lines, 1):  # noqa: B007 (named in the error below)
            if not ln:
                continue
            tok = ln.split()
            if tok[0].startswith(":"):
                section = tok[0][1:].lower()
                if section == "name" and len(tok) > 1:
                    name = tok[1]
                continue
            if section == "units" and tok[0] == "length":
                unit_in = 1.0 / float(tok[1])
            elif section == "root":
                if tok[0] == "order":
                    root["order"] = tuple(t.lower() for t in tok[1:])
                elif tok[0] == "axis":
                    root["axis"] = tok[1].upper()
                elif tok[0] == "position":
                    root_pos = np.array([float(v) for v in tok[1:4]])
                elif tok[0] == "orientation":
                    root_ori = np.array([float(v) for v in tok[1:4]])
            elif section == "bonedata":
                if tok[0] == "begin":
                    cur = {"dofs": ()}
                elif tok[0] == "end":
                    if cur is None or "name" not in cur:
                        raise ValueError("'end' without a named bone")
                    bones.append(
                        AsfBone(
                            cur["name"],
                            np.asarray(cur.get("direction", np.zeros(3))),
                            float(cur.get("length", 0.0)),
                            np.asarray(cur.get("axis", np.zeros(3))),
                            cur.get("order", "XYZ"),
                            tuple(cur["dofs"]),
                        )
                    )
                    cur = None
                elif cur is None:
                    if tok[0] != "limits" and not tok[0].startswith("("):
                        raise ValueError(f"{tok[0]!r} outside begin/end")
                elif tok[0] == "name":
                    cur["name"] = tok[1]
                elif tok[0] == "direction":
                    d = np.array([float(v) for v in tok[1:4]])
                    cur["direction"] = d / max(np.linalg.norm(d), 1e-12)
                elif tok[0] == "length":
                    cur["length"] = float(tok[1])
                elif tok[0] == "axis":
                    cur["axis"] = np.array([float(v) for v in tok[1:4]])
                    cur["order"] = tok[4].upper() if len(tok) > 4 else "XYZ"
                elif tok[0] == "dof":
                    cur["dofs"] = tuple(t.lower() for t in tok[1:])
            elif section == "hierarchy":
                if tok[0] in ("begin", "end"):
                    continue
                children.append((tok[0], tok[1:]))
    except (IndexError, ValueError) as e:
        raise ValueError(f"{path}: malformed ASF (line {no}: {e})") from e
    if not bones:
        raise ValueError(f"{path}: not an ASF skeleton (no :bonedata bones)")
    names = [b.name for b in bones]
    for parent, kids in children:
        for kid in kids:
            if kid not in names:
                raise ValueError(f"{path}: :hierarchy names an unknown bone {kid!r}")
            bones[names.index(kid)].parent = -1 if parent == "root" else names.index(parent)
    order = _topological(bones)
    if order is None:
        raise ValueError(f"{path}: :hierarchy has a cycle or a bone without a parent chain")
    bones = [bones[i] for i in order]
    remap = {old: new for new, old in enumerate(order)}
    for b in bones:
        b.parent = remap[b.parent] if b.parent >= 0 else -1
    return AsfSkeleton(
        name, unit_in, tuple(root["order"]), root["axis"], root_pos, root_ori, bones
    )


def _topological(bones: list[AsfBone]) -> list[int] | None:
    done: list[int] = []
    placed: set[int] = set()
    while len(done) < len(bones):
        progress = False
        for i, b in enumerate(bones):
            if i not in placed and (b.parent < 0 or b.parent in placed):
                done.append(i)
                placed.add(i)
                progress = True
        if not progress:
            return None
    return done


def read_amc(path: str | Path, skeleton: AsfSkeleton) -> dict[str, np.ndarray]:
    """Per-bone value arrays (T, n_dof) and 'root' (T, 6) from an AMC file."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"AMC file not found: {path}")
    n_dof = {b.name: len(b.dofs) for b in skeleton.bones}
    n_dof["root"] = len(skeleton.root_order)
    frames: list[dict[str, list[float]]] = []
    try:
        for no, raw in enumerate(path.read_text(errors="replace").splitlines(), 1):
            ln = raw.split("#", 1)[0].strip()
            if not ln or ln.startswith(":"):
                continue
            tok = ln.split()
            if len(tok) == 1 and tok[0].isdigit():
                frames.append({})
                continue
            if not frames:
                raise ValueError(f"line {no}: values before the first frame number")
            if tok[0] not in n_dof:
                raise ValueError(f"line {no}: bone {tok[0]!r} is not in the ASF skeleton")
            vals = [float(v) for v in tok[1:]]
            if len(vals) != n_dof[tok[0]]:
                raise ValueError(
                    f"line {no}: {tok[0]} has {len(vals)} values, the ASF says {n_dof[tok[0]]}"
                )
            frames[-1][tok[0]] = vals
    except ValueError as e:
        raise ValueError(f"{path}: malformed AMC ({e})") from e
    if not frames:
        raise ValueError(f"{path}: no frames in the AMC file")
    out = {}
    for name, n in n_dof.items():
        arr = np.zeros((len(frames), n))
        for t, f in enumerate(frames):
            if name in f:
                arr[t] = f[name]
        out[name] = arr
    if not np.isfinite(out["root"]).all() or not all(f.get("root") for f in frames):
        raise ValueError(f"{path}: some frames have no (finite) root values")
    return out


def amc_positions(
    skeleton: AsfSkeleton, motion: dict[str, np.ndarray] | None
) -> tuple[np.ndarray, np.ndarray]:
    """Bone start (= joint) positions (T, B+1, 3) with the root first, and bone end positions
    (T, B+1, 3) (the root's 'end' is its position), file units. ``motion`` None: the rest pose."""
    t = 1 if motion is None else len(motion["root"])
    nb = len(skeleton.bones)
    start = np.zeros((t, nb + 1, 3))
    end = np.zeros((t, nb + 1, 3))
    world = np.zeros((t, nb + 1, 3, 3))
    root_c = _euler(skeleton.root_axis, skeleton.root_orientation_deg)
    if motion is None:
        trans, rot = np.broadcast_to(skeleton.root_position, (1, 3)), np.eye(3)[None]
    else:
        vals = motion["root"]
        order = skeleton.root_order
        trans = np.stack([vals[:, order.index(f"t{a}")] for a in _AXES], -1)
        rot_axes = "".join(o[1] for o in order if o.startswith("r"))
        rot_vals = np.stack([vals[:, order.index(f"r{a}")] for a in rot_axes], -1)
        rot = root_c @ _euler(rot_axes, rot_vals) @ root_c.T
    start[:, 0] = trans
    end[:, 0] = trans
    world[:, 0] = rot
    for k, b in enumerate(skeleton.bones, 1):
        c = _euler(b.axis_order, b.axis_deg)
        if motion is None or not b.dofs:
            m = np.eye(3)[None]
        else:
            rot_dofs = [d for d in b.dofs if d.startswith("r")]
            cols = [b.dofs.index(d) for d in rot_dofs]
            m = _euler("".join(d[1] for d in rot_dofs), motion[b.name][:, cols])
        p = b.parent + 1
        world[:, k] = world[:, p] @ c @ m @ c.T
        start[:, k] = end[:, p]
        end[:, k] = start[:, k] + b.length * (world[:, k] @ b.direction)
    return start, end
