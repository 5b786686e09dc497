"""Render a chunk of synthetic scenes with Blender (bpy 5.x, Workbench), one RGBA PNG each.

Runs in the Blender interpreter (``.venv-blender``, Python 3.13, no torch), as a script::

    .venv-blender/bin/python core/hmr/synth/render_bpy.py CHUNK.npz OUT_DIR

CHUNK.npz is written by ``core.hmr.synth.scenes.write_render_chunk`` in the core venv (Blender
world: Z up, metres; B scenes, P prop slots):

* ``index`` (B,): sample indices; outputs are ``OUT_DIR/rgba_%06d.png`` (and ``mask_%06d.png``)
* ``faces`` (F, 3); ``vertices_m`` (B, V, 3); ``face_material`` (B, F) into 6 material slots;
  ``material_rgb`` (B, 6, 3) linear RGB
* ``camera_matrix_world`` (B, 4, 4); ``lens_mm``, ``shift_x``, ``shift_y`` (B,) for a 36 mm
  horizontal sensor; ``size_px``: square image side
* ``floor_on`` (B,); ``floor_texture`` (B, T, T, 3) uint8 sRGB; ``floor_tile_m`` (B,)
* ``prop_kind`` (B, P) 0 none, 1 box, 2 cylinder; ``prop_matrix_world`` (B, P, 4, 4) of the unit
  primitive (cube -1..1, cylinder radius 1 along local Y, -1..1); ``prop_rgb`` (B, P, 3)
* ``studio_light`` (B,) name; ``studio_rotate_z`` (B,); ``light_direction`` (B, 3);
  ``shadows``, ``cavity``, ``specular`` (B,) bool; ``shadow_intensity`` (B,)
* ``masks``: also render a flat mask per scene (red: body, green: props; no floor, no
  anti-aliasing) for checks and segmentation labels

Workbench (studio lighting, material and texture colours, cavity, 8x anti-aliasing; 5x where
shadows are on) was measured at ~0.17 s per 256 px image on one CPU core without shadows and
~0.4 s with them; Eevee needs ~10 s per image with software OpenGL and Cycles ~1 s at only 16
samples (a sphere; more for the body). The world is transparent (film_transparent): the core venv
composites the background behind. The view transform is "Standard" so that colours are what
they say. One JSON line per image goes to stdout: {"index": i, "s": seconds}.
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


def isolate_user_folders() -> None:
    """Point Blender's user folders at a temporary directory (call before importing bpy), so a
    render never writes into ~/.config/blender."""
    user = Path(tempfile.mkdtemp(prefix="biomocap-render-user-"))
    atexit.register(shutil.rmtree, user, ignore_errors=True)
    for var, sub in (
        ("BLENDER_USER_RESOURCES", "resources"),
        ("BLENDER_USER_CONFIG", "config"),
        ("BLENDER_USER_SCRIPTS", "scripts"),
        ("BLENDER_USER_EXTENSIONS", "extensions"),
        ("BLENDER_USER_DATAFILES", "datafiles"),
    ):
        os.environ.setdefault(var, str(user / sub))


isolate_user_folders()

import bpy  # noqa: E402
import numpy as np  # noqa: E402
from mathutils import Matrix  # noqa: E402

N_MATERIALS = 6
_REQUIRED = (
    "index",
    "size_px",
    "masks",
    "faces",
    "vertices_m",
    "face_material",
    "material_rgb",
    "camera_matrix_world",
    "lens_mm",
    "shift_x",
    "shift_y",
    "floor_on",
    "floor_texture",
    "floor_tile_m",
    "prop_kind",
    "prop_matrix_world",
    "prop_rgb",
    "studio_light",
    "studio_rotate_z",
    "light_direction",
    "shadows",
    "shadow_intensity",
    "cavity",
    "specular",
)
_FLOOR_HALF_M = 40.0


def load_chunk(path: Path) -> dict[str, np.ndarray]:
    with np.load(path, allow_pickle=False) as z:
        missing = [k for k in _REQUIRED if k not in z.files]
        if missing:
            raise ValueError(f"{path}: not a render chunk, missing {', '.join(missing)}")
        data = {k: z[k] for k in z.files}
    b = len(data["index"])
    v = data["vertices_m"]
    if v.ndim != 3 or v.shape[0] != b or v.shape[2] != 3:
        raise ValueError(f"{path}: expected vertices_m of shape ({b}, V, 3), got {v.shape}")
    if data["face_material"].shape != (b, len(data["faces"])):
        raise ValueError(f"{path}: face_material must be (B, F)")
    if data["material_rgb"].shape[1] != N_MATERIALS:
        raise ValueError(f"{path}: expected {N_MATERIALS} materials")
    return data


def _material(name: str) -> bpy.types.Material:
    mat = bpy.data.materials.new(name)
    mat.roughness = 0.6
    return mat


def _primitive_mesh(kind: int) -> bpy.types.Mesh:
    """Unit cube (-1..1) or unit cylinder (radius 1, local Y -1..1, 32 sides) as mesh data."""
    if kind == 1:
        v = [(x, y, z) for x in (-1, 1) for y in (-1, 1) for z in (-1, 1)]
        f = [(0, 1, 3, 2), (4, 6, 7, 5), (0, 4, 5, 1), (2, 3, 7, 6), (0, 2, 6, 4), (1, 5, 7, 3)]
        name = "unit_box"
    else:
        n = 32
        ring = [(math.cos(2 * math.pi * k / n), math.sin(2 * math.pi * k / n)) for k in range(n)]
        v = [(c, -1.0, -s) for c, s in ring] + [(c, 1.0, -s) for c, s in ring]
        f = [(k, (k + 1) % n, n + (k + 1) % n, n + k) for k in range(n)]
        f += [tuple(range(n - 1, -1, -1)), tuple(range(n, 2 * n))]
        name = "unit_cylinder"
    mesh = bpy.data.meshes.new(name)
    mesh.from_pydata(v, [], f)
    mesh.update()
    return mesh


class ChunkScene:
    """The Blender scene, built once per chunk and updated per sample."""

    def __init__(self, data: dict[str, np.ndarray]) -> None:
        bpy.ops.wm.read_factory_settings(use_empty=True)
        self.scene = scene = bpy.context.scene
        self.data = data
        faces = np.asarray(data["faces"], dtype=np.int64)
        mesh = bpy.data.meshes.new("body")
        mesh.from_pydata(data["vertices_m"][0].astype(float).tolist(), [], faces.tolist())
        self.materials = [_material(f"body_{k}") for k in range(N_MATERIALS)]
        for m in self.materials:
            mesh.materials.append(m)
        mesh.polygons.foreach_set("use_smooth", np.ones(len(faces), dtype=bool))
        mesh.update()
        self.body = bpy.data.objects.new("body", mesh)
        scene.collection.objects.link(self.body)

        # Floor: a large plane, UVs in metres / tile size, with an image texture.
        g = _FLOOR_HALF_M
        fmesh = bpy.data.meshes.new("floor")
        fmesh.from_pydata(
            [(-g, -g, 0.0), (g, -g, 0.0), (g, g, 0.0), (-g, g, 0.0)], [], [(0, 1, 2, 3)]
        )
        self.floor_uv = fmesh.uv_layers.new(name="uv")
        t = int(data["floor_texture"].shape[1])
        self.floor_image = bpy.data.images.new("floor", t, t, alpha=False)
        fmat = _material("floor")
        fmat.use_nodes = True
        nodes = fmat.node_tree.nodes
        tex = nodes.new("ShaderNodeTexImage")
        tex.image = self.floor_image
        tex.interpolation = "Linear"
        fmat.node_tree.links.new(
            tex.outputs["Color"], nodes["Principled BSDF"].inputs["Base Color"]
        )
        nodes.active = tex
        fmesh.materials.append(fmat)
        self.floor = bpy.data.objects.new("floor", fmesh)
        scene.collection.objects.link(self.floor)

        # Props: a pool of boxes and cylinders, one material each.
        n_props = data["prop_kind"].shape[1]
        self.props: dict[int, list[bpy.types.Object]] = {}
        for kind in (1, 2):
            shape = _primitive_mesh(kind)
            pool = []
            for j in range(n_props):
                obj = bpy.data.objects.new(f"prop_{kind}_{j}", shape.copy())
                obj.data.materials.append(_material(f"prop_{kind}_{j}"))
                scene.collection.objects.link(obj)
                pool.append(obj)
            self.props[kind] = pool

        size = int(data["size_px"])
        cam_data = bpy.data.cameras.new("camera")
        cam_data.sensor_fit = "HORIZONTAL"
        cam_data.sensor_width = 36.0
        cam_data.clip_start, cam_data.clip_end = 0.02, 300.0
        self.camera = bpy.data.objects.new("camera", cam_data)
        scene.collection.objects.link(self.camera)
        scene.camera = self.camera

        scene.world = bpy.data.worlds.new("world")
        scene.render.engine = "BLENDER_WORKBENCH"
        scene.render.resolution_x = scene.render.resolution_y = size
        scene.render.resolution_percentage = 100
        scene.render.pixel_aspect_x = scene.render.pixel_aspect_y = 1.0
        scene.render.film_transparent = True
        scene.render.image_settings.file_format = "PNG"
        scene.render.image_settings.color_mode = "RGBA"
        scene.view_settings.view_transform = "Standard"
        scene.view_settings.look = "None"
        shading = scene.display.shading
        shading.light = "STUDIO"
        shading.color_type = "TEXTURE"
        shading.use_world_space_lighting = True
        shading.cavity_type = "WORLD"

    def set_sample(self, i: int) -> None:
        d = self.data
        body = self.body.data
        body.vertices.foreach_set("co", d["vertices_m"][i].astype(np.float32).ravel())
        body.polygons.foreach_set("material_index", d["face_material"][i].astype(np.int32))
        body.update()
        for m, rgb in zip(self.materials, d["material_rgb"][i], strict=True):
            m.diffuse_color = (float(rgb[0]), float(rgb[1]), float(rgb[2]), 1.0)

        self.floor.hide_render = not bool(d["floor_on"][i])
        tex = d["floor_texture"][i].astype(np.float32) / 255.0
        rgba = np.concatenate([tex, np.ones(tex.shape[:2] + (1,), np.float32)], -1)
        self.floor_image.pixels.foreach_set(rgba[::-1].ravel())  # Blender rows go bottom-up
        k = _FLOOR_HALF_M / float(d["floor_tile_m"][i])
        uv = np.array([[-k, -k], [k, -k], [k, k], [-k, k]], np.float32)
        self.floor_uv.data.foreach_set("uv", uv.ravel())

        used = {1: 0, 2: 0}
        for kind, mat, rgb in zip(
            d["prop_kind"][i], d["prop_matrix_world"][i], d["prop_rgb"][i], strict=True
        ):
            if kind == 0:
                continue
            obj = self.props[int(kind)][used[int(kind)]]
            used[int(kind)] += 1
            obj.matrix_world = Matrix(np.asarray(mat, float).tolist())
            obj.data.materials[0].diffuse_color = (*map(float, rgb), 1.0)
            obj.hide_render = False
        for kind, pool in self.props.items():
            for obj in pool[used[kind] :]:
                obj.hide_render = True

        cam = self.camera
        cam.matrix_world = Matrix(np.asarray(d["camera_matrix_world"][i], float).tolist())
        cam.data.lens = float(d["lens_mm"][i])
        cam.data.shift_x = float(d["shift_x"][i])
        cam.data.shift_y = float(d["shift_y"][i])

        shading = self.scene.display.shading
        shading.studio_light = str(d["studio_light"][i])
        shading.studiolight_rotate_z = float(d["studio_rotate_z"][i])
        shading.show_shadows = bool(d["shadows"][i])
        shading.shadow_intensity = float(d["shadow_intensity"][i])
        shading.show_cavity = bool(d["cavity"][i])
        shading.show_specular_highlight = bool(d["specular"][i])
        self.scene.display.light_direction = tuple(float(x) for x in d["light_direction"][i])

    def render(self, path: Path, mask: bool = False) -> None:
        scene = self.scene
        shading = scene.display.shading
        if not mask:
            # Workbench shadows cost per anti-aliasing sample (256 px: ~0.17 s at 8x without,
            # ~0.4 s at 5x and ~0.8 s at 8x with them): fewer samples when they are on.
            scene.display.render_aa = "5" if shading.show_shadows else "8"
            scene.render.dither_intensity = 1.0
            self.scene.render.filepath = str(path)
            bpy.ops.render.render(write_still=True)
            return
        saved = (shading.light, shading.color_type, self.floor.hide_render)
        saved_fx = (shading.show_shadows, shading.show_cavity, shading.show_specular_highlight)
        shading.light, shading.color_type = "FLAT", "OBJECT"
        shading.show_shadows = shading.show_cavity = shading.show_specular_highlight = False
        self.floor.hide_render = True
        self.body.color = (1.0, 0.0, 0.0, 1.0)
        for pool in self.props.values():
            for obj in pool:
                obj.color = (0.0, 1.0, 0.0, 1.0)
        scene.display.render_aa = "OFF"
        scene.render.dither_intensity = 0.0
        scene.render.filepath = str(path)
        bpy.ops.render.render(write_still=True)
        shading.light, shading.color_type, self.floor.hide_render = saved
        shading.show_shadows, shading.show_cavity, shading.show_specular_highlight = saved_fx


def render_chunk(chunk: Path, out_dir: Path) -> list[Path]:
    data = load_chunk(chunk)
    scene = ChunkScene(data)
    out_dir.mkdir(parents=True, exist_ok=True)
    masks = bool(data["masks"])
    paths = []
    for i, index in enumerate(data["index"]):
        t0 = time.perf_counter()
        scene.set_sample(i)
        path = out_dir / f"rgba_{int(index):06d}.png"
        scene.render(path)
        if masks:
            scene.render(out_dir / f"mask_{int(index):06d}.png", mask=True)
        paths.append(path)
        line = {"index": int(index), "s": round(time.perf_counter() - t0, 4)}
        sys.stdout.write(json.dumps(line) + "\n")
        sys.stdout.flush()
    return paths


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("chunk", type=Path, help="render chunk .npz (see above)")
    p.add_argument("out_dir", type=Path, help="folder for rgba_NNNNNN.png")
    args = p.parse_args(argv)
    if not args.chunk.is_file():
        print(f"error: render chunk not found: {args.chunk}", file=sys.stderr)
        return 2
    try:
        render_chunk(args.chunk, args.out_dir)
    except ValueError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
