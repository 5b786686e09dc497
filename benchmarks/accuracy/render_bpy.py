"""Render one synthetic video clip with Blender (bpy 5.x, Workbench), one PNG per frame.

Runs in the Blender interpreter (``.venv-blender``, Python 3.13, no torch), as a script::

    .venv-blender/bin/python benchmarks/accuracy/render_bpy.py CLIP.npz OUT_DIR

CLIP.npz is written by ``benchmarks/accuracy/render.py`` in the core venv (Blender world: Z up,
metres). The scene is static except for the body:

* ``faces`` (F, 3); ``vertices_m`` (T, V, 3) float32; ``face_material`` (F,) into the slots of
  ``material_rgb`` (K, 3) linear RGB
* ``camera_matrix_world`` (4, 4); ``lens_mm`` for a 36 mm sensor across the image width;
  ``width_px``, ``height_px`` (principal point at the image centre)
* ``floor_texture`` (N, N, 3) uint8 sRGB, ``floor_tile_m``; ``background_rgb`` (3,) linear
* ``prop_kind`` (P,) 1 box, 2 cylinder; ``prop_matrix_world`` (P, 4, 4) of the unit primitive
  (cube -1..1, cylinder radius 1 along local Y, -1..1); ``prop_rgb`` (P, 3)
* ``studio_light`` name, ``studio_rotate_z``, ``light_direction`` (3,), ``shadows`` bool,
  ``shadow_intensity``, ``cavity`` bool, ``aa`` (Workbench anti-aliasing samples, e.g. "5")

Frames go to OUT_DIR/frame_0000.png ...; frames already there are skipped (resumable), one JSON
line per rendered frame to stdout: {"frame": t, "s": seconds}.
"""

from __future__ import annotations

import argparse
import atexit
import json
import math
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

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
    "faces",
    "vertices_m",
    "face_material",
    "material_rgb",
    "camera_matrix_world",
    "lens_mm",
    "width_px",
    "height_px",
    "floor_texture",
    "floor_tile_m",
    "background_rgb",
    "prop_kind",
    "prop_matrix_world",
    "prop_rgb",
    "studio_light",
    "studio_rotate_z",
    "light_direction",
    "shadows",
    "shadow_intensity",
    "cavity",
    "aa",
)
_FLOOR_HALF_M = 40.0


def load(path: Path) -> dict[str, np.ndarray]:
    with np.load(path, allow_pickle=False) as z:
        missing = [k for k in _REQUIRED if k not in z.files]
        if missing:
            raise ValueError(f"{path}: not a clip scene, missing {', '.join(missing)}")
        data = {k: z[k] for k in z.files}
    v = data["vertices_m"]
    if v.ndim != 3 or v.shape[2] != 3 or v.shape[0] < 1:
        raise ValueError(f"{path}: expected vertices_m of shape (T, V, 3), got {v.shape}")
    return data


def _material(name: str, rgb=None) -> bpy.types.Material:
    mat = bpy.data.materials.new(name)
    mat.roughness = 0.6
    if rgb is not None:
        mat.diffuse_color = (float(rgb[0]), float(rgb[1]), float(rgb[2]), 1.0)
    return mat


def _primitive(kind: int) -> bpy.types.Mesh:
    """Unit cube (-1..1) or unit cylinder (radius 1, local Y -1..1, 32 sides)."""
    if kind == 1:
        v = [(x, y, z) for x in (-1, 1) for y in (-1, 1) for z in (-1, 1)]
        f = [(0, 1, 3, 2), (4, 6, 7, 5), (0, 4, 5, 1), (2, 3, 7, 6), (0, 2, 6, 4), (1, 5, 7, 3)]
    else:
        n = 32
        ring = [(math.cos(2 * math.pi * k / n), math.sin(2 * math.pi * k / n)) for k in range(n)]
        v = [(c, -1.0, -s) for c, s in ring] + [(c, 1.0, -s) for c, s in ring]
        f = [(k, (k + 1) % n, n + (k + 1) % n, n + k) for k in range(n)]
        f += [tuple(range(n - 1, -1, -1)), tuple(range(n, 2 * n))]
    mesh = bpy.data.meshes.new(f"prim_{kind}")
    mesh.from_pydata(v, [], f)
    mesh.update()
    return mesh


def build_scene(d: dict[str, np.ndarray]) -> bpy.types.Object:
    bpy.ops.wm.read_factory_settings(use_empty=True)
    scene = bpy.context.scene
    faces = np.asarray(d["faces"], dtype=np.int64)
    mesh = bpy.data.meshes.new("body")
    mesh.from_pydata(d["vertices_m"][0].astype(float).tolist(), [], faces.tolist())
    for k, rgb in enumerate(d["material_rgb"]):
        mesh.materials.append(_material(f"body_{k}", rgb))
    mesh.polygons.foreach_set("material_index", np.asarray(d["face_material"], np.int32))
    mesh.polygons.foreach_set("use_smooth", np.ones(len(faces), dtype=bool))
    mesh.update()
    body = bpy.data.objects.new("body", mesh)
    scene.collection.objects.link(body)

    # Floor: a large textured plane at z = 0.
    g = _FLOOR_HALF_M
    fmesh = bpy.data.meshes.new("floor")
    fmesh.from_pydata([(-g, -g, 0.0), (g, -g, 0.0), (g, g, 0.0), (-g, g, 0.0)], [], [(0, 1, 2, 3)])
    uv = fmesh.uv_layers.new(name="uv")
    k = _FLOOR_HALF_M / float(d["floor_tile_m"])
    uv.data.foreach_set("uv", np.array([[-k, -k], [k, -k], [k, k], [-k, k]], np.float32).ravel())
    tex = d["floor_texture"].astype(np.float32) / 255.0
    n = tex.shape[0]
    image = bpy.data.images.new("floor", n, n, alpha=False)
    rgba = np.concatenate([tex, np.ones(tex.shape[:2] + (1,), np.float32)], -1)
    image.pixels.foreach_set(rgba[::-1].ravel())  # Blender rows go bottom-up
    fmat = _material("floor")
    fmat.use_nodes = True
    nodes = fmat.node_tree.nodes
    tnode = nodes.new("ShaderNodeTexImage")
    tnode.image = image
    fmat.node_tree.links.new(tnode.outputs["Color"], nodes["Principled BSDF"].inputs["Base Color"])
    nodes.active = tnode
    fmesh.materials.append(fmat)
    scene.collection.objects.link(bpy.data.objects.new("floor", fmesh))

    for j, (kind, mat, rgb) in enumerate(
        zip(d["prop_kind"], d["prop_matrix_world"], d["prop_rgb"], strict=True)
    ):
        if int(kind) not in (1, 2):
            continue
        obj = bpy.data.objects.new(f"prop_{j}", _primitive(int(kind)))
        obj.data.materials.append(_material(f"prop_{j}", rgb))
        obj.matrix_world = Matrix(np.asarray(mat, float).tolist())
        scene.collection.objects.link(obj)

    w, h = int(d["width_px"]), int(d["height_px"])
    cam_data = bpy.data.cameras.new("camera")
    cam_data.sensor_fit = "HORIZONTAL"
    cam_data.sensor_width = 36.0
    cam_data.lens = float(d["lens_mm"])
    cam_data.clip_start, cam_data.clip_end = 0.05, 300.0
    cam = bpy.data.objects.new("camera", cam_data)
    cam.matrix_world = Matrix(np.asarray(d["camera_matrix_world"], float).tolist())
    scene.collection.objects.link(cam)
    scene.camera = cam

    world = bpy.data.worlds.new("world")
    world.color = tuple(float(c) for c in d["background_rgb"])
    scene.world = world
    scene.render.engine = "BLENDER_WORKBENCH"
    scene.render.resolution_x, scene.render.resolution_y = w, h
    scene.render.resolution_percentage = 100
    scene.render.pixel_aspect_x = scene.render.pixel_aspect_y = 1.0
    scene.render.film_transparent = False
    scene.render.image_settings.file_format = "PNG"
    scene.render.image_settings.color_mode = "RGB"
    scene.view_settings.view_transform = "Standard"
    scene.view_settings.look = "None"
    sh = scene.display.shading
    sh.light = "STUDIO"
    sh.color_type = "TEXTURE"
    sh.use_world_space_lighting = True
    sh.studio_light = str(d["studio_light"])
    sh.studiolight_rotate_z = float(d["studio_rotate_z"])
    sh.show_shadows = bool(d["shadows"])
    sh.shadow_intensity = float(d["shadow_intensity"])
    sh.show_cavity = bool(d["cavity"])
    sh.cavity_type = "WORLD"
    scene.display.light_direction = tuple(float(x) for x in d["light_direction"])
    scene.display.render_aa = str(d["aa"])
    return body


def render(clip: Path, out_dir: Path) -> list[Path]:
    d = load(clip)
    body = build_scene(d)
    out_dir.mkdir(parents=True, exist_ok=True)
    scene = bpy.context.scene
    verts = d["vertices_m"]
    paths = []
    for t in range(verts.shape[0]):
        path = out_dir / f"frame_{t:04d}.png"
        paths.append(path)
        if path.is_file():
            continue
        t0 = time.perf_counter()
        body.data.vertices.foreach_set("co", verts[t].astype(np.float32).ravel())
        body.data.update()
        tmp = out_dir / f".tmp_{t:04d}.png"
        scene.render.filepath = str(tmp)
        bpy.ops.render.render(write_still=True)
        tmp.replace(path)
        sys.stdout.write(json.dumps({"frame": t, "s": time.perf_counter() - t0}) + "\n")
        sys.stdout.flush()
    return paths


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("clip", type=Path, help="clip scene .npz (see above)")
    p.add_argument("out_dir", type=Path, help="folder for frame_NNNN.png")
    args = p.parse_args(argv)
    if not args.clip.is_file():
        print(f"error: clip scene not found: {args.clip}", file=sys.stderr)
        return 2
    try:
        render(args.clip, args.out_dir)
    except ValueError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
