"""OpenCap's LaiUhlrich2022 model (Rajagopal2016 family) next to ours: names, signs, markers.

``COORDINATE_MAP`` says which BSM-46 coordinate each LaiUhlrich2022/Rajagopal2016 coordinate
corresponds to and with which sign (checked by ``tests/test_conventions.py`` by driving both
models in OpenSim). Coordinates with the same name have the same sign and zero (skeleton
convention 2). Named differently: ``lumbar_rotation`` = our ``lumbar_twist``, ``elbow_flex`` =
``elbow_flexion``, and the shoulder: theirs rotates the humerus on the torso, ours on the
scapula (SKEL's chain), so ``arm_flex/arm_add/arm_rot`` only approximately equal
``shoulder_*_z``, ``-shoulder_*_x`` (ours is abduction, theirs adduction) and ``shoulder_*_y``.
"""

from __future__ import annotations

__all__ = ["COORDINATE_MAP"]

# their coordinate -> (our coordinate, sign: theirs = sign * ours)
COORDINATE_MAP: dict[str, tuple[str, float]] = {
    "pelvis_tilt": ("pelvis_tilt", 1.0),
    "pelvis_list": ("pelvis_list", 1.0),
    "pelvis_rotation": ("pelvis_rotation", 1.0),
    "pelvis_tx": ("pelvis_tx", 1.0),
    "pelvis_ty": ("pelvis_ty", 1.0),
    "pelvis_tz": ("pelvis_tz", 1.0),
    "lumbar_extension": ("lumbar_extension", 1.0),
    "lumbar_bending": ("lumbar_bending", 1.0),
    "lumbar_rotation": ("lumbar_twist", 1.0),
    **{
        f"{n}_{s}": (f"{n}_{s}", 1.0)
        for s in "rl"
        for n in (
            "hip_flexion",
            "hip_adduction",
            "hip_rotation",
            "knee_angle",
            "ankle_angle",
            "subtalar_angle",
            "mtp_angle",
            "pro_sup",
        )
    },
    **{f"wrist_flex_{s}": (f"wrist_flexion_{s}", 1.0) for s in "rl"},  # Rajagopal2016 only
    **{f"wrist_dev_{s}": (f"wrist_deviation_{s}", 1.0) for s in "rl"},
    **{f"elbow_flex_{s}": (f"elbow_flexion_{s}", 1.0) for s in "rl"},
    **{f"arm_flex_{s}": (f"shoulder_{s}_z", 1.0) for s in "rl"},
    **{f"arm_add_{s}": (f"shoulder_{s}_x", -1.0) for s in "rl"},
    **{f"arm_rot_{s}": (f"shoulder_{s}_y", 1.0) for s in "rl"},
}
