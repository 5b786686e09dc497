"""The optimisation-fit surface method: Anny fitted to the keypoints without a network.

Height comes from NeurIK's segment scales (or the user), the subject is built from it
(:func:`core.body.build_subject`), the pose is NeurIK's, and per frame the pelvis is placed in the
camera frame by linear least squares on the confident 2D keypoints (a PnP with known rotation).
The whole-sequence refinement (:mod:`core.refine`) then optimises all of it against the 2D
keypoints.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from core import skeleton as sk
from core.hmr import SurfaceEstimate, SurfaceInputs

__all__ = ["fit_surface", "height_from_scales", "place_in_camera"]


# Stature per unit of NeurIK's median segment scale (scales relative to
# ``skeleton.default_offsets(1.75)``). NeurIK reads them off MediaPipe's world landmarks, whose
# body has a roughly fixed size (metric by a learned average, not by the person): on the accuracy
# harness's renders every segment's scale is 0.92-0.97 of the true one (median 0.95 over 39
# clips), the stature from 1.75 * median(scale) is a median 0.94 of the true one and correlates
# only 0.18 with it. Raising the constant to 1.86 (1.75 / 0.942, the declared tuning subset: the
# harness's first 6 synthetic clips) was tried and undone (2026-12-02): the refinement also fits
# MediaPipe's metric 3D keypoints, which keep their fixed size, so a taller skeleton bends knees
# and ankles to match them: harness capture MAE 10.6 -> 12.3 deg (12 clips), 10.9 -> 13.8
# (trials), offset-free MAE unchanged, camera height error 0.190 -> 0.204 m. A stature
# correction needs that 3D term made scale-free first.
STATURE_PER_SCALE_M = 1.75


def height_from_scales(scale: np.ndarray) -> float:
    """Stature implied by NeurIK's segment scales (long bones of the legs, trunk and arms)."""
    names = ("tibia_r", "tibia_l", "talus_r", "talus_l", "thorax", "head", "ulna_r", "ulna_l")
    s = float(np.median([scale[sk.BODY[n]] for n in names]))
    return float(np.clip(STATURE_PER_SCALE_M * s, 1.2, 2.1))


def place_in_camera(
    q_rad: np.ndarray,
    offsets_m: np.ndarray,
    kp_bodies: np.ndarray,
    kp_local_m: np.ndarray,
    keypoints_2d_px: np.ndarray,
    conf: np.ndarray,
    camera,
) -> np.ndarray:
    """(T, 3) world pelvis positions that best project the posed keypoints onto the 2D ones."""
    import torch

    from core import kinematics as K
    from core.refine import initial_translation

    n = q_rad.shape[0]
    with torch.no_grad():
        fk = K.forward_kinematics(
            torch.as_tensor(q_rad), torch.zeros(n, 3, dtype=torch.float64),
            torch.as_tensor(offsets_m),
        )  # fmt: skip
        rel = K.body_points(fk, torch.as_tensor(kp_bodies), torch.as_tensor(kp_local_m)).numpy()
    t_cam = initial_translation(rel @ camera.rotation.T, keypoints_2d_px, conf, camera)
    return (t_cam - camera.translation_m) @ camera.rotation  # camera -> world


def fit_surface(
    inputs: SurfaceInputs, progress: Callable[[float, str], None] | None = None
) -> SurfaceEstimate:
    from core.body import build_subject
    from core.neurik.markersets import blazepose33

    progress = progress or (lambda f, m="": None)
    progress(0.0, "fitting the Anny body")
    notes = []
    height = inputs.height_m or height_from_scales(inputs.neurik.segment_scale)
    if inputs.height_m is None:
        notes.append(
            f"subject height estimated from the video: {height:.2f} m (pass --height to set it)"
        )
    subject = build_subject(height_m=height, mass_kg=inputs.mass_kg)
    kp_bodies, kp_local = blazepose33().define(subject)
    det = inputs.detections
    conf = np.where(det.person_found[:, None], det.confidence, 0.0)
    q = inputs.neurik.q_rad
    root = place_in_camera(
        q, subject.offsets_m, kp_bodies, kp_local, det.keypoints_2d_px, conf, inputs.camera
    )
    progress(1.0, f"height {height:.2f} m")
    return SurfaceEstimate(
        subject=subject,
        q_rad=q,
        root_m=root,
        method="fit",
        provenance="optimisation fit of the Anny body to the keypoints (no MQ-HMR network)",
        keypoint_bodies=kp_bodies,
        keypoint_local_m=kp_local,
        notes=notes,
    )
