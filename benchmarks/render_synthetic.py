"""Render a posed-surface sequence with Blender (bpy 5.x, background): one PNG per frame.

Runs in the Blender interpreter (``.venv-blender``, Python 3.13, no torch)::

    .venv-blender/bin/python benchmarks/render_synthetic.py SCENE.npz OUT_DIR

SCENE.npz (written by ``benchmarks/capture_synthetic_eval.py`` in the core ``.venv``) holds, in
Blender's world frame (Z up, metres):

* ``vertices_m`` (T, V, 3) float32: the posed surface per frame
* ``faces`` (F, 3) int: triangles
* ``face_material`` (F,) int: index into ``material_names`` / ``material_rgb`` (clothing, skin...)
* ``material_names`` (K,) str, ``material_rgb`` (K, 3) float linear RGB
* ``camera_matrix_world`` (4, 4): the camera's pose (looks along its local -Z, local +Y up)
* ``focal_px``, ``width_px``, ``height_px``: pinhole intrinsics (principal point at the centre)
* ``floor_z_m``: height of the ground plane
* ``background_rgb`` (3,)

Workbench engine (studio lighting, material colours, shadows, 8x anti-aliasing): no GPU needed.
Frames are written as OUT_DIR/frame_0000.png ...; one JSON line per frame goes to stdout.
"""

from __future__ import annotations

import argparse
import atexit
import json
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

# Blender's user folders point at a temporary directory before bpy is imported, so a render never
# writes into ~/.config/blender.
_USER = Path(tempfile.mkdtemp(prefix="biomocap-render-user-"))
atexit.register(shutil.rmtree, _USER, ignore_errors=True)
for _var, _sub in (
    ("BLENDER_USER_RESOURCES", "resources"),
    ("BLENDER_USER_CONFIG", "config"),
    ("BLENDER_USER_SCRIPTS", "scripts"),
    ("BLENDER_USER_EXTENSIONS", "extensions"),
    ("BLENDER_USER_DATAFILES", "datafiles"),
):
    os.environ.setdefault(_var, str(_USER / _sub))

import bpy  # noqa: E402
import numpy as np  # noqa: E402
from mathutils import Matrix  # noqa: E402

_REQUIRED = (
    "vertices_m",
    "faces",
    "face_material",
    "material_names",
    "material_rgb",
    "camera_matrix_world",
    "focal_px",
    "width_px",
    "height_px",
    "floor_z_m",
    "background_rgb",
)


def _load(path: Path) -> dict[str, np.ndarray]:
    with np.load(path, allow_pickle=False) as z:
        missing = [k for k in _REQUIRED if k not in z.files]
        if missing:
            raise ValueError(f"{path}: not a render scene, missing {', '.join(missing)}")
        data = {k: z[k] for k in z.files}
    v = data["vertices_m"]
    if v.ndim != 3 or v.shape[2] != 3 or v.shape[0] < 1:
        raise ValueError(f"{path}: expected vertices_m of shape (T, V, 3), got {v.shape}")
    if data["face_material"].shape != data["faces"].shape[:1]:
        raise ValueError(f"{path}: face_material must have one entry per face")
    return data


def _material(name: str, rgb) -> bpy.types.Material:
    mat = bpy.data.materials.new(name)
    mat.diffuse_color = (float(rgb[0]), float(rgb[1]), float(rgb[2]), 1.0)
    mat.roughness = 0.6
    return mat


def build_scene(data: dict[str, np.ndarray]) -> bpy.types.Object:
    """Empty the default scene, then add the body mesh, ground, camera and render settings."""
    bpy.ops.wm.read_factory_settings(use_empty=True)
    scene = bpy.context.scene

    verts = data["vertices_m"]
    faces = np.asarray(data["faces"], dtype=np.int64)
    mesh = bpy.data.meshes.new("body")
    mesh.from_pydata(verts[0].astype(float).tolist(), [], faces.tolist())
    for name, rgb in zip(data["material_names"], data["material_rgb"], strict=True):
        mesh.materials.append(_material(str(name), rgb))
    mesh.polygons.foreach_set("material_index", np.asarray(data["face_material"], np.int32))
    mesh.polygons.foreach_set("use_smooth", np.ones(len(faces), dtype=bool))
    mesh.update()
    body = bpy.data.objects.new("body", mesh)
    scene.collection.objects.link(body)

    # Ground: a large plane at the floor height.
    g = 30.0
    z = float(data["floor_z_m"])
    gmesh = bpy.data.meshes.new("ground")
    gmesh.from_pydata([(-g, -g, z), (g, -g, z), (g, g, z), (-g, g, z)], [], [(0, 1, 2, 3)])
    gmesh.materials.append(_material("ground", (0.9, 0.88, 0.8)))
    ground = bpy.data.objects.new("ground", gmesh)
    scene.collection.objects.link(ground)

    # Camera: pinhole with the given focal length in pixels (horizontal sensor fit).
    w, h = int(data["width_px"]), int(data["height_px"])
    cam_data = bpy.data.cameras.new("camera")
    cam_data.sensor_fit = "HORIZONTAL"
    cam_data.sensor_width = 36.0
    cam_data.lens = float(data["focal_px"]) * 36.0 / w
    cam_data.clip_start, cam_data.clip_end = 0.05, 200.0
    cam = bpy.data.objects.new("camera", cam_data)
    cam.matrix_world = Matrix(np.asarray(data["camera_matrix_world"], float).tolist())
    scene.collection.objects.link(cam)
    scene.camera = cam

    world = bpy.data.worlds.new("world")
    world.color = tuple(float(c) for c in data["background_rgb"])
    scene.world = world

    scene.render.engine = "BLENDER_WORKBENCH"
    scene.render.resolution_x, scene.render.resolution_y = w, h
    scene.render.resolution_percentage = 100
    scene.render.pixel_aspect_x = scene.render.pixel_aspect_y = 1.0
    scene.render.image_settings.file_format = "PNG"
    scene.render.image_settings.color_mode = "RGB"
    scene.render.film_transparent = False
    shading = scene.display.shading
    shading.light = "STUDIO"
    shading.color_type = "MATERIAL"
    shading.show_shadows = True
    shading.shadow_intensity = 0.35
    shading.show_cavity = True
    shading.cavity_type = "WORLD"
    shading.show_specular_highlight = True
    scene.display.render_aa = "8"
    scene.display.light_direction = (0.4, -0.35, 0.85)
    return body


def render(scene_npz: Path, out_dir: Path, every: int = 1) -> list[Path]:
    data = _load(scene_npz)
    body = build_scene(data)
    out_dir.mkdir(parents=True, exist_ok=True)
    scene = bpy.context.scene
    verts = data["vertices_m"]
    paths = []
    for t in range(0, verts.shape[0], every):
        t0 = time.perf_counter()
        body.data.vertices.foreach_set("co", verts[t].astype(np.float32).ravel())
        body.data.update()
        path = out_dir / f"frame_{t:04d}.png"
        scene.render.filepath = str(path)
        bpy.ops.render.render(write_still=True)
        paths.append(path)
        sys.stdout.write(
            json.dumps({"frame": t, "of": int(verts.shape[0]), "s": time.perf_counter() - t0})
            + "\n"
        )
        sys.stdout.flush()
    return paths


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("scene", type=Path, help="scene .npz (see above)")
    p.add_argument("out_dir", type=Path, help="folder for frame_NNNN.png")
    p.add_argument("--every", type=int, default=1, help="render every n-th frame only")
    args = p.parse_args(argv)
    if not args.scene.is_file():
        print(f"error: scene not found: {args.scene}", file=sys.stderr)
        return 2
    try:
        render(args.scene, args.out_dir, max(1, args.every))
    except ValueError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
