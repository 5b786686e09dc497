"""Blender test fixtures (run with ``.venv-blender/bin/python -m pytest tests/blender``).

Blender's user folders point at a temporary directory *before* bpy is imported, so the tests
never write into ~/.config/blender. The add-on is installed once per session from the built
extension zip with Blender's own extension installer.
"""

from __future__ import annotations

import os
import shutil
import stat
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
    reuse = os.environ.get("BIOMOCAP_TEST_BUNDLES")  # a folder make_bundles.py wrote (dev loop)
    if reuse and (Path(reuse) / "walk.motion.npz").is_file():
        return Path(reuse)
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
    for prop in (
        "foot_lock",
        "lock_strength",
        "root_motion",
        "resample_to_scene",
        "smoothing",
        "frame_start",
        "frame_end",
        "person",
        "surface_method",
        "preview_people",
    ):
        scene.biomech.property_unset(prop)


@pytest.fixture
def fake_core(addon, bundles, tmp_path, monkeypatch):
    """Point the add-on's core interpreter at a wrapper that runs tests/blender/fake_capture.py:
    the real capture takes minutes and models; the stand-in speaks the same JSONL protocol."""
    import bpy

    wrapper = tmp_path / "fake-python"
    fake = Path(__file__).with_name("fake_capture.py")
    wrapper.write_text(f'#!/bin/sh\nexec "{sys.executable}" "{fake}" "$@"\n')
    wrapper.chmod(wrapper.stat().st_mode | stat.S_IEXEC)
    prefs = bpy.context.preferences.addons[EXT_MODULE].preferences
    old = prefs.core_python
    prefs.core_python = str(wrapper)
    monkeypatch.setenv("FAKE_CAPTURE_BUNDLE", str(bundles / "walk.motion.npz"))
    video = tmp_path / "clip.mp4"
    video.write_bytes(b"not decoded by the stand-in")
    reset_scene()
    s = bpy.context.scene.biomech
    s.video_path = str(video)
    s.output_dir = str(tmp_path / "out")
    s.height_m, s.device = 1.8, "cpu"
    yield tmp_path
    prefs.core_python = old


RIGIFY_GENERATE_S: list[float] = []  # how long Blender's Rigify took to generate the rig


@pytest.fixture(scope="session")
def rigify_blend(addon, tmp_path_factory) -> Path:
    """A rig generated once per session by Blender's bundled Rigify from the shared human
    meta-rig, saved to a .blend (generation takes tens of seconds); load it with
    ``load_generated_rigify``."""
    import time

    import addon_utils
    import bpy

    from tests.conftest import shared_path

    addon_utils.enable("rigify", default_set=True)
    reset_scene()
    src = shared_path("rigs", "blender_rigify_generated", "rigify_human_metarig.blend")
    with bpy.data.libraries.load(str(src)) as (data_from, data_to):
        data_to.objects = list(data_from.objects)
    for o in data_to.objects:
        bpy.context.scene.collection.objects.link(o)
    (meta,) = [o for o in data_to.objects if o.type == "ARMATURE"]
    vl = bpy.context.view_layer
    for o in vl.objects:
        o.select_set(False)
    vl.objects.active = meta
    meta.select_set(True)
    t0 = time.perf_counter()
    assert bpy.ops.pose.rigify_generate() == {"FINISHED"}
    RIGIFY_GENERATE_S.append(time.perf_counter() - t0)
    (rig,) = [o for o in bpy.data.objects if o.type == "ARMATURE" and o is not meta]
    rig.name = "rigify_generated_rig"
    path = tmp_path_factory.mktemp("rigify") / "generated.blend"
    bpy.data.libraries.write(str(path), {rig}, fake_user=False)
    reset_scene()
    return path


def load_generated_rigify(path: Path):
    import bpy

    with bpy.data.libraries.load(str(path)) as (data_from, data_to):
        data_to.objects = [n for n in data_from.objects if n == "rigify_generated_rig"]
    (rig,) = data_to.objects
    bpy.context.scene.collection.objects.link(rig)
    bpy.context.view_layer.update()
    return rig
