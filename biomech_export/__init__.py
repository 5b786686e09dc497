"""biomech_export: BSM-46 motions to OpenSim (.osim, .mot, .trc, .sto, setups), C3D, and back.

Only numpy is imported here; ``opensim`` is imported inside the functions that need it
(install it with ``pip install 'biomocap[opensim]'``). The Python API mirrors the CLI::

    from biomech_export import export_motion, run_ik, run_id, validate_files
    res = export_motion(Motion.load("walk.motion.npz"), "out/walk", name="walk")
    ik = run_ik(res.osim_path, res.trc_path, "out/walk/ik")
"""

from __future__ import annotations

import importlib
from typing import Any

_API = {
    "export_motion": "biomech_export.export",
    "write_osim": "biomech_export.osim_model",
    "build_model": "biomech_export.osim_model",
    "run_ik": "biomech_export.tools",
    "run_id": "biomech_export.tools",
    "run_ik_setup": "biomech_export.tools",
    "run_id_setup": "biomech_export.tools",
    "write_ik_setup": "biomech_export.tools",
    "write_id_setup": "biomech_export.tools",
    "validate_files": "biomech_export.validate",
    "read_mot": "biomech_export.mot",
    "write_mot": "biomech_export.mot",
    "read_trc": "biomech_export.trc",
    "write_trc": "biomech_export.trc",
    "write_c3d": "biomech_export.c3d",
    "read_c3d": "biomech_export.c3d",
    "mot_to_motion": "biomech_export.convert",
    "trc_to_motion": "biomech_export.convert",
    "skel_params_to_motion": "biomech_export.convert",
    "bvh_to_motion": "biomech_export.convert",
    "subject_from_osim": "biomech_export.from_osim",
    "compare_columns": "biomech_export.compare",
}
__all__ = sorted(_API)


def __getattr__(name: str) -> Any:
    if name in _API:
        return getattr(importlib.import_module(_API[name]), name)
    raise AttributeError(f"module 'biomech_export' has no attribute {name!r}")
