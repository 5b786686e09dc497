"""Grounding numbers of a capture against a render's truth (issue 12): camera height and pitch
error, contact precision/recall/F1, foot sliding per contact phase and floor penetration.

They need a capture in a floor-registered world (``Motion.world``) with per-foot contacts
(``Motion.contacts``); where the capture at hand has neither, the result says so and measures
nothing. Contact quality uses ``core.metrics.contact_f1``, ``foot_sliding_per_phase`` and
``floor_penetration`` when core provides them (one definition for the product and the harness),
and this module's own (``benchmarks.accuracy.metrics``) otherwise, saying which.
"""

from __future__ import annotations

import numpy as np

from benchmarks.accuracy import metrics as M


def _camera_pose(motion) -> tuple[float, float] | None:
    """(height above the floor m, pitch deg, positive looking down) of the capture's camera in
    its world frame, or None when the capture has no floor-registered world."""
    world = getattr(motion, "world", None)
    if world is None or motion.camera is None:
        return None
    R = np.asarray(motion.camera.rotation, np.float64)  # world -> camera (y down, z forward)
    t = np.asarray(motion.camera.translation_m, np.float64)
    centre = -R.T @ t
    fwd = R[2]
    return float(centre[1]), float(np.degrees(np.arcsin(np.clip(-fwd[1], -1, 1))))


def scores(motion, truth, cap: dict | None = None) -> dict:
    out: dict = {}
    pose = _camera_pose(motion)
    if pose is None:
        return {
            "note": "the capture has no floor-registered world (Motion.world) at this commit: "
            "camera, contact, sliding and penetration not measured"
        }
    out["camera_height_err_m"] = abs(pose[0] - truth.cam_height_m)
    out["camera_pitch_err_deg"] = abs(pose[1] - truth.cam_pitch_deg)
    contacts = getattr(motion, "contacts", None)
    if contacts is None:
        out["note"] = "the capture has a world frame but no Motion.contacts"
        return out
    prob = np.asarray(getattr(contacts, "probability", contacts), np.float64)
    n = min(len(prob), len(truth.contact))
    if prob.ndim != 2 or prob.shape[1] != truth.contact.shape[1]:
        out["note"] = (
            f"Motion.contacts has shape {prob.shape}; the harness expects (T, 4) per foot "
            "heel/forefoot (r, l)"
        )
        return out
    pred = prob[:n] >= 0.5
    out.update({f"contact_{k}": v for k, v in M.contact_scores(pred, truth.contact[:n]).items()})
    return out
