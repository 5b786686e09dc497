"""Grounding numbers of a capture against a render's truth (issue 12): camera height and pitch
error, contact precision/recall/F1, foot sliding per contact phase and floor penetration.

They need a capture in a floor-registered world (``Motion.world`` with ``frame == "world"``) and
per-point contact probabilities (``Motion.contacts``, ``core.contacts.CONTACT_POINTS``: heel and
toe of each foot, the harness truth's order); where the capture at hand has neither (an older
commit), the result says so and measures nothing. The measures are core's own
(``core.metrics.contact_f1``, ``foot_sliding_per_phase``, ``floor_penetration``), so the product
and the harness share one definition:

* contact P/R/F1: the capture's contact probability > 0.5 vs the truth's flags, all four points
  (the truth labels contact against the stance level of the soles, HuMoR's rule:
  ``benchmarks.accuracy.render``'s docstring; clips cached before it are relabelled on load);
* sliding: per TRUE planted phase (at least 3 frames in contact and still,
  ``Truth.contact_still``; the contact flags under older rules) of each point, the largest
  horizontal distance between two positions of the captured point in that phase (core's
  definition), median and 90th percentile over phases, metres;
* penetration: per frame, how far the captured sole points' lowest one is below Y = 0; median
  over frames and the largest, metres.

Where the camera-height error comes from (issue 12), when the capture records its camera:

* ``floor_tilt_err_deg``: the angle between the capture's floor normal and the truth's, both in
  the camera's own frame (pitch and roll errors together);
* ``camera_height_true_tilt_err_m``: the camera height the capture's own contact points give
  along the TRUE floor normal (median over the truth's contact frames), minus the truth: the part
  of the error that is not the tilt (the scene's scale from the stature, depth, the sole points);
* ``camera_height_sd_m``: the capture's own standard error of its camera height, and
  ``camera_height_within_sd``: 1.0 where the error is within it, else 0.0 (its mean over clips is
  the coverage: about 0.68 for an honest standard error);
* ``contact_fp_boundary`` / ``contact_fp_partial`` / ``contact_fp_raised``: where the capture's
  false contacts lie, as shares of its frames x points in contact that the truth has not: within
  2 frames of a true contact of the same point (touch-down/lift-off timing), while the foot's
  other point is in true contact (a heel up while the toe stands, or the reverse), or with the
  whole foot off the floor (swing, a raised or hovering foot); see ``false_contact_kinds``;
* ``contact_fp_on_floor_moving``: the share of the capture's false contacts whose true sole
  point lies within the truth's contact height of the stance level (the truth refused them for
  their speed alone: a foot sliding, dragging or pivoting on the floor), and
  ``contact_f1_height_only``: the F1 against that height alone; diagnostics beside the F1 under
  the truth's rule, which stays the measure;
* ``camera_height_stance_err_m``: the camera height error against the truth's camera height
  above the stance level (where the true soles stand, 0.6-6 cm above the rendered floor; a
  capture can only find the floor where the feet stand).
"""

from __future__ import annotations

import numpy as np

_UP = np.array([0.0, 1.0, 0.0])


def _world(motion) -> dict | None:
    w = getattr(motion, "world", None)
    if not isinstance(w, dict) or w.get("frame") != "world":
        return None
    return w


def false_contact_kinds(pred: np.ndarray, true: np.ndarray, near: int = 2) -> dict[str, int]:
    """Counts of the false contacts (``pred`` and not ``true``, both (T, 4) bool in
    ``CONTACT_POINTS`` order: heel, toe of the right foot, then of the left) by kind: "boundary"
    (a true contact of the same point within ``near`` frames), "partial" (else, the same foot's
    other point truly in contact), "raised" (the rest)."""
    pred, true = np.asarray(pred, bool), np.asarray(true, bool)
    t = len(true)
    close = true.copy()
    for d in range(1, near + 1):
        close[d:] |= true[:-d]
        close[: t - d] |= true[d:]
    other = true[:, [1, 0, 3, 2]]
    fp = pred & ~true
    return {
        "boundary": int((fp & close).sum()),
        "partial": int((fp & ~close & other).sum()),
        "raised": int((fp & ~close & ~other).sum()),
    }


def planted_phases(truth, n: int) -> np.ndarray:
    """(n, 4) bool: the truth's planted frames (``contact_still``, else ``contact``) in phases of
    3 frames or more (a 1-2 frame flag is a touch, not a stance): where sliding is measured."""
    from core.contacts import contact_phases

    still = getattr(truth, "contact_still", None)
    planted = np.asarray((truth.contact if still is None else still)[:n], bool)
    keep = np.zeros_like(planted)
    for k, a, b in contact_phases(planted):
        keep[a:b, k] = b - a >= 3
    return keep


def scores(motion, truth, cap: dict | None = None, camera_only: bool = False) -> dict:
    """The grounding scores of a capture against its render's truth (the module text says which).
    ``camera_only``: the camera pose and floor tilt alone, for a treadmill trial, where the belt
    moves the stance feet and the truth has no contact or sliding to compare with
    (``"camera_only": True`` in the result)."""
    world = _world(motion)
    if world is None:
        reason = (
            "no Motion.world"
            if getattr(motion, "world", None) is None
            else f"floor not found ({motion.world.get('floor_source')})"
        )
        return {"note": f"grounding not measured: {reason}"}
    out: dict = {
        "camera_height_err_m": abs(float(world["camera_height_m"]) - truth.cam_height_m),
        "camera_pitch_err_deg": abs(float(world["camera_pitch_deg"]) - truth.cam_pitch_deg),
        "camera_height_m": float(world["camera_height_m"]),
        "camera_height_true_m": truth.cam_height_m,
    }
    level = float(getattr(truth, "stance_level_m", 0.0) or 0.0)
    if getattr(truth, "contact_rule", "") and level < 0.2:  # a treadmill's level means nothing
        out["camera_height_stance_err_m"] = abs(
            float(world["camera_height_m"]) - (truth.cam_height_m - level)
        )
    cam = getattr(motion, "camera", None)
    if getattr(truth, "R_cam_world", None) is None:
        cam = None
    if cam is not None:
        up_true = np.asarray(truth.R_cam_world, np.float64) @ _UP  # camera frame: y down
        up_cap = np.asarray(cam.rotation, np.float64) @ _UP
        cos = float(np.clip(up_cap @ up_true, -1.0, 1.0))
        out["floor_tilt_err_deg"] = float(np.degrees(np.arccos(cos)))
    sd = world.get("camera_height_sd_m")
    if isinstance(sd, (int, float)) and np.isfinite(sd):
        out["camera_height_sd_m"] = float(sd)
        out["camera_height_within_sd"] = float(out["camera_height_err_m"] <= sd)
    if camera_only:
        out["camera_only"] = True
        return out
    contacts = getattr(motion, "contacts", None)
    if contacts is None:
        out["note"] = "the capture has a world frame but no Motion.contacts"
        return out
    from core.contacts import contact_point_definitions, contact_positions
    from core.metrics import (
        contact_f1,
        contact_precision_recall,
        floor_penetration,
        foot_sliding_per_phase,
    )

    prob = np.asarray(contacts, np.float64)
    n = min(len(prob), len(truth.contact))
    true = np.asarray(truth.contact[:n], bool)
    p, r = contact_precision_recall(prob[:n], true)
    out.update(contact_precision=p, contact_recall=r, contact_f1=contact_f1(prob[:n], true))
    kinds = false_contact_kinds(prob[:n] > 0.5, true)
    n_fp = sum(kinds.values())
    if n_fp:
        out.update({f"contact_fp_{k}": v / n_fp for k, v in kinds.items()})
    pos = getattr(truth, "contact_pos_m", None)
    if pos is not None and getattr(truth, "contact_rule", ""):
        from benchmarks.accuracy.render import CONTACT_HEIGHT_M

        on_floor = np.asarray(pos[:n, :, 1]) - level < CONTACT_HEIGHT_M
        fp = (prob[:n] > 0.5) & ~true
        if fp.any():
            out["contact_fp_on_floor_moving"] = float((fp & on_floor).sum() / fp.sum())
        out["contact_f1_height_only"] = contact_f1(prob[:n], on_floor)
    bodies, local = contact_point_definitions(motion.offsets_m, motion.surface)
    pts = contact_positions(motion.q_rad[:n], motion.root_m[:n], motion.offsets_m, bodies, local)
    keep = planted_phases(truth, n)
    if cam is not None and true.any():
        x_cam = pts[true] @ np.asarray(cam.rotation, np.float64).T + cam.translation_m
        along_true = float(np.median(-(x_cam @ up_true)))  # camera above its contact points
        out["camera_height_true_tilt_err_m"] = abs(along_true - truth.cam_height_m)
    slide = foot_sliding_per_phase(pts, keep, truth.fps)
    if len(slide):
        out["sliding_median_m"] = float(np.median(slide))
        out["sliding_p90_m"] = float(np.percentile(slide, 90))
    pen = floor_penetration(pts)
    out["penetration_median_m"] = float(np.median(pen))
    out["penetration_max_m"] = float(np.max(pen))
    return out
