"""The add-on's Capture from Video button against the real core pipeline (not the stand-in):
real MediaPipe, NeurIK and refinement on half a second of the Sports2D clip, run by the
operator as a subprocess of the repository's .venv, then imported as an animated rig."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tests.blender.conftest import EXT_MODULE, reset_scene
from tests.conftest import REPO, shared_path

bpy = pytest.importorskip("bpy")

CORE_PYTHON = REPO / ".venv" / "bin" / "python"


@pytest.mark.slow
@pytest.mark.skipif(not CORE_PYTHON.is_file(), reason="the core .venv is not set up")
@pytest.mark.skipif(
    not (REPO / "core" / "neurik" / "weights" / "blazepose33" / "model.safetensors").is_file(),
    reason="NeurIK weights not shipped",
)
def test_capture_button_runs_the_real_pipeline(addon, tmp_path, monkeypatch):
    video = shared_path("videos", "sports2d", "demo.mp4")
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    monkeypatch.setenv(
        "ANNY_CACHE_DIR", os.environ.get("ANNY_CACHE_DIR", str(REPO / ".cache" / "anny"))
    )
    prefs = bpy.context.preferences.addons[EXT_MODULE].preferences
    old = prefs.core_python
    prefs.core_python = str(CORE_PYTHON)
    try:
        reset_scene()
        s = bpy.context.scene.biomech
        s.video_path = str(video)
        s.output_dir = str(tmp_path / "out")
        s.frame_start, s.frame_end = 60, 75  # 2.0 .. 2.5 s at 30 fps
        s.device = "cpu"
        assert bpy.ops.biomech.capture_from_video() == {"FINISHED"}
    finally:
        prefs.core_python = old
    motion = Path(tmp_path / "out" / "demo.motion.npz")
    assert motion.is_file()
    assert s.status == "captured demo.motion.npz"
    arm = s.source
    assert arm is not None and len(arm.data.bones) == 24
    action = arm.animation_data.action
    frames = action.frame_range
    assert 13 <= frames[1] - frames[0] + 1 <= 17
    assert (tmp_path / "out" / "overlay.mp4").is_file() and (
        tmp_path / "out" / "report.html"
    ).is_file()
