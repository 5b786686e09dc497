"""Blender test fixtures (run with ``.venv-blender/bin/python -m pytest tests/blender``).

Blender's user folders point at a temporary directory *before* bpy is imported, so the tests
never write into ~/.config/blender. The add-on is installed once per session from the built
extension zip with Blender's own extension installer.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

_USER = Path(tempfile.mkdtemp(prefix="biomocap-blender-user-"))
for _var, _sub in (
    ("BLENDER_USER_RESOURCES", "resources"),
    ("BLENDER_USER_CONFIG", "config"),
    ("BLENDER_USER_SCRIPTS", "scripts"),
    ("BLENDER_USER_EXTENSIONS", "extensions"),
    ("BLENDER_USER_DATAFILES", "datafiles"),
):
    os.environ[_var] = str(_USER / _sub)

import pytest  # noqa: E402

REPO = Path(__file__).resolve().parents[2]
CORE_PYTHON = REPO / ".venv" / "bin" / "python"
OUT = REPO / "out" / "blender"
EXT_MODULE = "bl_ext.user_default.biomocap"

try:
    import bpy  # noqa: F401

    HAVE_BPY = True
except ImportError:  # pragma: no cover - the suite runs in .venv-blender
    HAVE_BPY = False


def pytest_collection_modifyitems(config, items):
    for item in items:
        if "tests/blender" in str(item.fspath).replace(os.sep, "/"):
            item.add_marker(pytest.mark.blender)
            if not HAVE_BPY:
                item.add_marker(pytest.mark.skip(reason="bpy not installed (use .venv-blender)"))


def pytest_sessionfinish(session, exitstatus):
    shutil.rmtree(_USER, ignore_errors=True)


@pytest.fixture(scope="session")
def bundles(tmp_path_factory) -> Path:
    """Motion bundles written by the core in the 3.11 .venv (tests/blender/make_bundles.py)."""
    if not CORE_PYTHON.is_file():
        pytest.skip(f"core interpreter not found: {CORE_PYTHON} (run scripts/setup.sh)")
    out = tmp_path_factory.mktemp("bundles")
    env = dict(
        os.environ, ANNY_CACHE_DIR=os.environ.get("ANNY_CACHE_DIR", str(REPO / ".cache" / "anny"))
    )
    r = subprocess.run(
        [str(CORE_PYTHON), str(Path(__file__).with_name("make_bundles.py")), str(out)],
        capture_output=True,
        text=True,
        env=env,
        timeout=600,
    )
    if r.returncode != 0:
        raise RuntimeError(f"make_bundles.py failed:\n{r.stderr[-3000:]}")
    return out


@pytest.fixture(scope="session")
def addon(tmp_path_factory):
    """Build the extension zip and install + enable it with Blender's extension installer."""
    import addon_utils
    import bpy

    dist = tmp_path_factory.mktemp("dist")
    r = subprocess.run(
        [sys.executable, str(REPO / "scripts" / "build_addon.py"), "-o", str(dist)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert r.returncode == 0, r.stderr
    zip_path = Path(r.stdout.strip().splitlines()[-1])
    res = bpy.ops.extensions.package_install_files(
        filepath=str(zip_path), repo="user_default", enable_on_install=True
    )
    assert res == {"FINISHED"}, res
    loaded_default, loaded_state = addon_utils.check(EXT_MODULE)
    assert loaded_state, f"{EXT_MODULE} not enabled after install"
    yield sys.modules[EXT_MODULE]


def reset_scene():
    """Remove all data but keep the preferences (a factory reset would disable the add-on)."""
    import bpy

    if bpy.context.object is not None and bpy.context.object.mode != "OBJECT":
        bpy.ops.object.mode_set(mode="OBJECT")
    for coll in (
        bpy.data.objects,
        bpy.data.meshes,
        bpy.data.armatures,
        bpy.data.actions,
        bpy.data.cameras,
        bpy.data.materials,
        bpy.data.images,
        bpy.data.movieclips,
        bpy.data.collections,
        bpy.data.lights,
    ):
        for block in list(coll):
            coll.remove(block)
    scene = bpy.context.scene
    scene.biomech.mapping.clear()
    scene.biomech.convention = ""
