"""The optimisation-fit surface method: Anny fitted to the keypoints without a network.

Height comes from the user (else the adult population's mean, ``POPULATION_STATURE_M``), the
subject is built from it (:func:`core.body.build_subject`), the pose is NeurIK's, and per frame
the pelvis is placed in the camera frame by linear least squares on the confident 2D keypoints
(a PnP with known rotation). The whole-sequence refinement (:mod:`core.refine`) then optimises
all of it against the 2D keypoints.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from core.hmr import SurfaceEstimate, SurfaceInputs

__all__ = ["POPULATION_STATURE_M", "POPULATION_STATURE_SD_M", "fit_surface", "place_in_camera"]


# The stature used when the user gives none: the mean of adult men and women in the US national
# health survey (CDC NHANES 2015-2016: men about 1.75 m, women about 1.63 m). One camera cannot
# measure a person's size: a body twice as large twice as far projects the same, and MediaPipe's
# world landmarks (metric by a learned average body, not by the person) say little. Read off them
# through NeurIK's segment scales (1.75 m times their median, the estimate before 2026-12-03), the
# statures on the accuracy harness's 33 renders were 1.61 +- 0.04 m for subjects of 1.68 +- 0.12
# (correlation 0.05 at 1080p, 0.21 at 480x270): below any adult mean and no more informative than
# it. The scene's scale follows the stature (the camera height, the speeds, the OpenSim model's
# size and mass), so ``--height`` is what makes a capture metric; without it the error is the
# population's spread (``POPULATION_STATURE_SD_M``).
POPULATION_STATURE_M = 1.69
# Its spread: men about 1.75 m and women 1.61-1.63 m, each with a standard deviation of about
# 7 cm (NHANES adults: 5th to 95th percentile about 1.63-1.87 m and 1.50-1.72 m, i.e. 3.3 sd),
# pooled with half the 14 cm between them: about 0.10 m, 6 % of the stature. The whole scene scales
# with the stature, so without ``--height`` the camera height carries this relative error too
# (core.world.world_frame's ``scale_sd_rel``).
POPULATION_STATURE_SD_M = 0.10


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
    height = inputs.height_m or POPULATION_STATURE_M
    if inputs.height_m is None:
        notes.append(
            f"subject height not given: the adult mean {height:.2f} m is used, and the scene's "
            "scale with it (one camera cannot measure a person's size; pass --height)"
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
