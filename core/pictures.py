"""Pictures of the subject: surface, skeleton and virtual markers (matplotlib, Agg).

``python -m core show-skeleton -o DIR`` writes, for the rest pose and three poses (a walking
stride, a squat, arms raised), a front and a side view: the surface as a light point cloud, the
bones as lines between joint centres, and the markers as dots with a few labelled.
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np

from core import fk_numpy
from core import skeleton as sk

__all__ = ["show_skeleton", "example_poses"]

log = logging.getLogger(__name__)

_LABELLED = ("R_ASIS", "R_knee", "R_ankle", "R_Shoulder", "R_elbow_lat", "R_wrist_radius", "C7")


def example_poses() -> dict[str, np.ndarray]:
    """Named example poses (46,) radians, all within the joint limits."""

    def pose(**deg: float) -> np.ndarray:
        q = np.zeros(sk.N_DOFS)
        for name, v in deg.items():
            q[sk.DOF[name]] = np.deg2rad(v)
        return q

    poses = {
        "rest": pose(),
        "walk": pose(
            hip_flexion_r=30,
            knee_angle_r=10,
            ankle_angle_r=5,
            hip_flexion_l=-15,
            knee_angle_l=40,
            ankle_angle_l=-15,
            shoulder_r_z=-25,
            shoulder_l_z=25,
            elbow_flexion_r=20,
            elbow_flexion_l=30,
            pelvis_rotation=5,
        ),
        "squat": pose(
            hip_flexion_r=100,
            hip_flexion_l=100,
            knee_angle_r=120,
            knee_angle_l=120,
            ankle_angle_r=30,
            ankle_angle_l=30,
            lumbar_extension=-20,
            shoulder_r_z=80,
            shoulder_l_z=80,
            hip_adduction_r=-10,
            hip_adduction_l=-10,
        ),
        "arms_raised": pose(
            shoulder_r_x=150,
            shoulder_l_x=150,
            scapula_upward_rot_r=30,
            scapula_upward_rot_l=30,
            elbow_flexion_r=10,
            elbow_flexion_l=10,
            pro_sup_r=90,
            pro_sup_l=90,
            head_extension=10,
        ),
    }
    for name, q in poses.items():
        sk.check_q(q, what=f"example pose {name}")
    return poses


def show_skeleton(
    out_dir: str | Path, height_m: float | None = None, mass_kg: float | None = None
) -> list[Path]:
    """Write PNGs of the subject in four poses, front and side views; return their paths."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from core.body import build_subject, default_subject, marker_positions, pose_surface

    subject = (
        default_subject()
        if height_m is None and mass_kg is None
        else build_subject(height_m=height_m, mass_kg=mass_kg)
    )
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    par = sk.parents()
    paths: list[Path] = []
    for name, q in example_poses().items():
        root = np.zeros(3)
        verts = pose_surface(subject, q, root)
        _, origins = fk_numpy.forward_kinematics(q, root, subject.offsets_m)
        markers = marker_positions(subject, q, root)
        fig, axes = plt.subplots(1, 2, figsize=(10, 8))
        # Front view: looking at the subject (along -X), its right side on the viewer's left.
        for ax, (hx, title) in zip(
            axes,
            (((lambda p: -p[..., 2]), "front"), ((lambda p: p[..., 0]), "side (facing right)")),
            strict=True,
        ):
            ax.scatter(hx(verts[::2]), verts[::2, 1], s=0.6, c="0.6", alpha=0.5, linewidths=0)
            for b in range(1, sk.N_BODIES):
                p = origins[[par[b], b]]
                ax.plot(hx(p), p[:, 1], "-", color="tab:blue", lw=2)
            ax.plot(hx(origins), origins[:, 1], "o", color="navy", ms=3)
            ax.plot(hx(markers), markers[:, 1], ".", color="tab:red", ms=5)
            for m, p in zip(subject.marker_names, markers, strict=False):
                if m in _LABELLED:
                    ax.annotate(
                        m, (hx(p), p[1]), fontsize=6, xytext=(3, 3), textcoords="offset points"
                    )
            ax.set_aspect("equal")
            ax.set_title(f"{name}: {title}")
            ax.set_xlabel("m")
        fig.suptitle(
            f"BSM-46 subject: stature {subject.height_m:.2f} m, mass {subject.mass_kg:.1f} kg, "
            f"{len(subject.marker_names)} markers"
        )
        path = out_dir / f"skeleton_{name}.png"
        tmp = out_dir / f".skeleton_{name}.tmp.png"
        fig.savefig(tmp, dpi=100)
        plt.close(fig)
        tmp.replace(path)
        paths.append(path)
        log.info("wrote %s", path)
    return paths
