"""Write the Blender tests' motion bundles with the core (run with the project's 3.11 .venv).

Usage: ``.venv/bin/python tests/blender/make_bundles.py OUT_DIR``. Writes
* walk.motion.npz: a procedural walk (2 s, 30 fps) on ``default_offsets(1.75)`` with a camera and
  a capsule surface skinned with top-2 weights (``core.body.default_subject()``'s surface when
  that exists);
* walk_ref.npz: core.fk_numpy world rotations and origins of it (the independent reference);
* cmu_01_01.motion.npz (+ _ref) when ``core.bvh.retarget_bvh`` exists and the CMU clip is there
  (5 s of CMU 01_01: two-footed forward jumps and turns);
* cmu_131_01_walk.motion.npz (+ _ref): the walking steps of CMU 131_01 (frames 450-749 at
  120 Hz), 30 fps;
* cmu_131_03_jump.motion.npz (+ _ref): the jump in CMU 131_03 (its frames 700-899 at 120 Hz, cut
  into a temporary BVH beside the bundles), 30 fps.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO))

from core import fk_numpy  # noqa: E402
from core import skeleton as sk  # noqa: E402
from core.motion import Camera, Motion, Surface  # noqa: E402


def procedural_walk(n: int = 60, fps: float = 30.0) -> tuple[np.ndarray, np.ndarray]:
    t = np.arange(n) / fps
    ph = 2 * np.pi * t / 1.1  # stride period 1.1 s
    q = np.zeros((n, sk.N_DOFS))
    d = sk.DOF
    deg = np.deg2rad
    for side, off in (("r", 0.0), ("l", np.pi)):
        p = ph + off
        q[:, d[f"hip_flexion_{side}"]] = deg(10 + 25 * np.sin(p))
        q[:, d[f"knee_angle_{side}"]] = deg(30 + 28 * np.sin(p + 1.2))
        q[:, d[f"ankle_angle_{side}"]] = deg(12 * np.sin(p - 0.5))
        q[:, d[f"mtp_angle_{side}"]] = deg(10 + 10 * np.sin(p))
        q[:, d[f"hip_adduction_{side}"]] = deg(3 * np.sin(p))
        q[:, d[f"shoulder_{side}_z"]] = deg(-20 * np.sin(p))
        q[:, d[f"shoulder_{side}_x"]] = deg(8)
        q[:, d[f"elbow_flexion_{side}"]] = deg(30 + 15 * np.sin(p))
        q[:, d[f"pro_sup_{side}"]] = deg(40)
        q[:, d[f"wrist_flexion_{side}"]] = deg(10 * np.sin(p))
    q[:, d["pelvis_rotation"]] = deg(6 * np.sin(ph))
    q[:, d["pelvis_tilt"]] = deg(-3)
    q[:, d["lumbar_twist"]] = deg(-5 * np.sin(ph))
    q[:, d["head_extension"]] = deg(-4)
    root = np.stack([1.2 * t, 0.96 + 0.02 * np.cos(2 * ph), 0.05 * np.sin(ph)], 1)
    sk.check_q(q)
    return q, root


def capsule_surface(offsets: np.ndarray) -> Surface:
    """Low-poly cylinders along each segment; vertices near a joint blend parent and child."""
    _, origins = fk_numpy.forward_kinematics(np.zeros(sk.N_DOFS), np.zeros(3), offsets)
    par = sk.parents()
    verts, faces, bodies, weights = [], [], [], []
    for child in range(1, sk.N_BODIES):
        p = int(par[child])
        a, b = origins[p], origins[child]
        axis = b - a
        length = np.linalg.norm(axis)
        if length < 0.05:
            continue
        u = axis / length
        e1 = np.cross(u, [1.0, 0, 0]) if abs(u[0]) < 0.9 else np.cross(u, [0, 0, 1.0])
        e1 /= np.linalg.norm(e1)
        e2 = np.cross(u, e1)
        r = 0.02 + 0.05 * min(length, 0.45)
        base = len(verts)
        rings = 5
        for k in range(rings):
            s = k / (rings - 1)
            c = a + s * axis
            w_child = np.clip((s - 0.75) / 0.25, 0, 1) * 0.5  # blend into the child at the end
            for j in range(8):
                ang = 2 * np.pi * j / 8
                verts.append(c + r * (np.cos(ang) * e1 + np.sin(ang) * e2))
                bodies.append((p, child))
                weights.append((1 - w_child, w_child))
        for k in range(rings - 1):
            for j in range(8):
                i0 = base + k * 8 + j
                i1 = base + k * 8 + (j + 1) % 8
                faces.append((i0, i1, i1 + 8))
                faces.append((i0, i1 + 8, i0 + 8))
    return Surface(np.array(verts), np.array(faces), np.array(bodies), np.array(weights))


def write_with_ref(motion: Motion, path: Path) -> None:
    motion.save(path)
    rots, origins = fk_numpy.forward_kinematics(motion.q_rad, motion.root_m, motion.offsets_m)
    ref = path.with_name(path.name.replace(".motion.npz", "_ref.npz"))
    np.savez(ref, rotations=rots, origins=origins, q_rad=motion.q_rad, offsets_m=motion.offsets_m)


def main(out: Path) -> None:
    out.mkdir(parents=True, exist_ok=True)
    offsets = sk.default_offsets(1.75)
    q, root = procedural_walk()
    surface = None
    try:
        from core.body import default_subject  # type: ignore[import-not-found]

        subj = default_subject()
        surface, offsets, height = subj.surface, subj.offsets_m, float(subj.height_m)
    except ImportError:
        height = 1.75
        surface = capsule_surface(offsets)
    rot = np.array([[1.0, 0.0, 0.0], [0.0, -1.0, 0.0], [0.0, 0.0, -1.0]])  # looks along -Z_os
    cam_center = np.array([1.2, 1.0, 4.0])
    cam = Camera(1000.0, 610.0, 385.0, 1280, 720, rot, -rot @ cam_center, "user")  # off-centre
    walk = Motion(
        30.0,
        q,
        root,
        offsets,
        height,
        70.0,
        camera=cam,
        surface=surface,
        provenance={"test": "procedural walk"},
    )
    write_with_ref(walk, out / "walk.motion.npz")
    try:  # the same walk as OpenSim files, written by biomech_export
        from biomech_export.cli import main as export_main

        export_main(["export", str(out / "walk.motion.npz"), "-o", str(out / "walk_opensim")])
    except ImportError:
        pass
    from core.bvh import retarget_bvh

    shared = Path(os.environ.get("BIOMOCAP_SHARED_DATA", REPO.parent / "shared" / "data"))
    bvh = shared / "mocap" / "cmu" / "01_01.bvh"
    if bvh.is_file():  # real CMU motion (forward jumps), 5 s at 30 fps
        m, _report = retarget_bvh(bvh, target_fps=30.0, max_frames=150)
        write_with_ref(m, out / "cmu_01_01.motion.npz")
    walk = shared / "mocap" / "cmu" / "131_01.bvh"
    if walk.is_file():  # real alternating steps, 2.5 s at 30 fps
        cut = cut_bvh(walk, out / "cmu_131_01_walk.bvh", 450, 750)
        m, _report = retarget_bvh(cut, target_fps=30.0)
        write_with_ref(m, out / "cmu_131_01_walk.motion.npz")
    jump = shared / "mocap" / "cmu" / "131_03.bvh"
    if jump.is_file():  # a real CMU jump (take-off ~6.6 s, landing ~6.9 s), 1.67 s at 30 fps
        cut = cut_bvh(jump, out / "cmu_131_03_jump.bvh", 700, 900)
        m, _report = retarget_bvh(cut, target_fps=30.0)
        write_with_ref(m, out / "cmu_131_03_jump.motion.npz")


def cut_bvh(src: Path, dst: Path, first: int, stop: int) -> Path:
    """Frames [first, stop) of a BVH file as a new BVH file."""
    lines = src.read_text().splitlines()
    i = next(k for k, line in enumerate(lines) if line.strip().startswith("Frames:"))
    frames = [line for line in lines[i + 2 :] if line.strip()][first:stop]
    dst.write_text("\n".join([*lines[:i], f"Frames: {len(frames)}", lines[i + 1], *frames]) + "\n")
    return dst


if __name__ == "__main__":
    main(Path(sys.argv[1]))
