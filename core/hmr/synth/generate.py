"""Make a synthetic HMR dataset: Anny bodies rendered by Blender, with exact labels.

Scenes are prepared here (core venv: subjects, poses, cameras, props, labels), rendered in chunks
by ``core/hmr/synth/render_bpy.py`` in the Blender interpreter (``.venv-blender``), composited
over procedural backgrounds and written as::

    DIR/meta.json            version, n, image_size, seed, shape_labels, keypoint_names, ...
    DIR/images/%06d.jpg      RGB crops (JPEG quality 95)
    DIR/labels.npz           see core.hmr.synth.labels.SynthLabels
    DIR/masks/%06d.png       with --masks: 0 background, 1 body, 2 prop

Sample i depends only on (seed, i): running again with a larger --n appends, and an interrupted
run resumes where it stopped. Images are written before the labels that name them, each file
atomically (temp file, then rename), so labels never claim a missing image.
"""

from __future__ import annotations

import argparse
import json
import logging
import shlex
import shutil
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from core import skeleton as sk
from core.hmr.synth.blender import REPO, BlenderNotFoundError, blender_env, blender_python
from core.hmr.synth.labels import FORMAT_VERSION, SynthLabels, read_meta, write_meta

__all__ = ["GenerateOptions", "generate", "main"]

log = logging.getLogger(__name__)

RENDER_SCRIPT = Path(__file__).with_name("render_bpy.py")
DEFAULT_CMU = REPO.parent / "shared" / "data" / "mocap" / "cmu"
DEFAULT_CACHE = REPO / ".cache" / "hmr_synth"
# Settings that must match to append to an existing dataset.
_SAME = ("seed", "image_size", "held_out", "shapes", "masks", "motion_clips")

EXAMPLE = """example:
  python -m core.hmr.synth.generate --out .cache/hmr_data/train_s0 --n 2000 --seed 0
  python -m core.hmr.synth.generate --out .cache/hmr_data/heldout --n 300 --seed 1000 --held-out
"""


class UsageError(ValueError):
    """Bad command-line input: reported as one line, exit code 2."""


@dataclass(frozen=True)
class GenerateOptions:
    out: Path
    n: int
    seed: int = 0
    size: int = 256
    held_out: bool = False
    shapes: int = 24
    workers: int = 1
    chunk: int = 100
    masks: bool = False
    cmu_dir: Path = DEFAULT_CMU
    cache_dir: Path = DEFAULT_CACHE
    command: str = ""

    def check(self) -> None:
        if self.n < 1:
            raise UsageError(f"--n must be at least 1, got {self.n}")
        if not 64 <= self.size <= 2048:
            raise UsageError(f"--size must lie in 64..2048 pixels, got {self.size}")
        if self.shapes < 1:
            raise UsageError(f"--shapes must be at least 1, got {self.shapes}")
        if self.workers < 1:
            raise UsageError(f"--workers must be at least 1, got {self.workers}")
        if self.chunk < 1:
            raise UsageError(f"--chunk must be at least 1, got {self.chunk}")
        if self.seed < 0:
            raise UsageError(f"--seed must be non-negative, got {self.seed}")
        if not self.cmu_dir.is_dir():
            raise UsageError(f"CMU mocap folder not found: {self.cmu_dir} (pass --cmu DIR)")
        if self.out.exists() and not self.out.is_dir():
            raise UsageError(f"--out exists and is not a folder: {self.out}")


@dataclass
class Timing:
    prep_s: float = 0.0  # scene sampling, posing, labels, chunk file
    render_wall_s: float = 0.0  # Blender subprocesses, start-up included
    render_s: float = 0.0  # Blender's own per-image time (scene update + render + PNG)
    composite_s: float = 0.0  # background, compositing, JPEG
    prepared: int = 0  # scenes prepared
    images: int = 0  # images rendered and committed

    def per_image(self) -> dict[str, float]:
        n = max(self.images, 1)
        return {
            "prep_s": self.prep_s / max(self.prepared, 1),
            "render_wall_s": self.render_wall_s / n,
            "render_s": self.render_s / n,
            "composite_s": self.composite_s / n,
        }


def _run_blender(
    chunk: Path, out_dir: Path, on_image: Callable[[dict], None], procs: list
) -> tuple[float, float]:
    """Render one chunk; returns (wall seconds, sum of per-image seconds)."""
    t0 = time.perf_counter()
    proc = subprocess.Popen(
        [str(blender_python()), str(RENDER_SCRIPT), str(chunk), str(out_dir)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=blender_env(),
    )
    procs.append(proc)
    err: list[str] = []
    reader = threading.Thread(target=lambda: err.extend(proc.stderr), daemon=True)
    reader.start()
    own = 0.0
    for line in proc.stdout:
        if line.startswith("{"):
            msg = json.loads(line)
            own += float(msg["s"])
            on_image(msg)
    rc = proc.wait()
    reader.join()
    procs.remove(proc)
    if rc != 0:
        tail = "".join(err)[-4000:]
        log.error("Blender's output for %s:\n%s", chunk.name, tail)
        last = tail.strip().splitlines()[-1] if tail.strip() else "no output"
        raise RuntimeError(f"Blender render of {chunk.name} failed (exit {rc}): {last}")
    return time.perf_counter() - t0, own


def _existing(opts: GenerateOptions, meta_new: dict) -> tuple[int, SynthLabels | None]:
    """Samples already in DIR (0 for a new dataset); refuses a DIR made otherwise."""
    meta_path = opts.out / "meta.json"
    if not meta_path.is_file():
        return 0, None
    try:
        meta = read_meta(meta_path)
    except (ValueError, OSError) as e:
        raise UsageError(f"cannot append to {opts.out}: {e}") from e
    diff = [k for k in _SAME if meta.get(k) != meta_new[k]]
    if diff:
        what = ", ".join(f"{k} {meta.get(k)!r} (now {meta_new[k]!r})" for k in diff)
        raise UsageError(f"{opts.out} holds a dataset made with other settings: {what}")
    labels_path = opts.out / "labels.npz"
    if not labels_path.is_file():
        return 0, None
    try:
        labels = SynthLabels.load(labels_path)
    except (ValueError, OSError) as e:
        raise UsageError(f"cannot append to {opts.out}: {e}") from e
    if not np.array_equal(labels.index, np.arange(len(labels))):
        raise UsageError(f"{labels_path}: sample indices are not 0..{len(labels) - 1}")
    return len(labels), labels


def generate(opts: GenerateOptions, progress: bool = True) -> Timing:
    """Make or extend the dataset in ``opts.out`` to ``opts.n`` samples."""
    from tqdm import tqdm

    from core.hmr.synth.backgrounds import background_image
    from core.hmr.synth.compose import composite, mask_labels, read_rgba, save_jpeg, save_png
    from core.hmr.synth.scenes import (
        BACKGROUND_STREAM,
        SceneConfig,
        SceneMaker,
        sample_rng,
        write_render_chunk,
    )

    opts.check()
    blender_python()  # fail early, with the install hint
    if (
        opts.out.is_dir()
        and not (opts.out / "meta.json").is_file()
        and any(p.name != ".work" for p in opts.out.iterdir())
    ):
        raise UsageError(f"--out {opts.out} is not empty and holds no dataset (meta.json)")
    maker = SceneMaker(
        SceneConfig(
            seed=opts.seed,
            size_px=opts.size,
            held_out=opts.held_out,
            shapes=opts.shapes,
            cmu_dir=opts.cmu_dir,
            cache_dir=opts.cache_dir,
        )
    )
    meta = {
        "version": FORMAT_VERSION,
        "n": 0,
        "image_size": [opts.size, opts.size],
        "seed": opts.seed,
        "shape_labels": list(maker.shape_labels),
        "keypoint_names": list(maker.keypoint_names),
        "camera_convention": "opencv",
        "generator": opts.command,
        "held_out": opts.held_out,
        # extra
        "pixel_convention": "pixel centres at integer coordinates (top-left pixel = (0, 0))",
        "world_frame": "OpenSim: X forward, Y up, Z right; floor at y = 0",
        "dof_names": list(sk.DOF_NAMES),
        "body_names": [b.name for b in sk.BODIES],
        "shapes": opts.shapes,
        "subject_shapes": [s.shape.tolist() for s in maker.subjects],
        "subject_height_m": [s.height_m for s in maker.subjects],
        "motion_clips": list(maker.motion_clips),
        "masks": opts.masks,
    }
    n_done, labels = _existing(opts, meta)
    meta["n"] = n_done
    meta["n_requested"] = max(opts.n, n_done)
    (opts.out / "images").mkdir(parents=True, exist_ok=True)
    if opts.masks:
        (opts.out / "masks").mkdir(exist_ok=True)
    write_meta(opts.out / "meta.json", meta)
    timing = Timing()
    if n_done >= opts.n:
        log.info("%s already holds %d samples (asked for %d)", opts.out, n_done, opts.n)
        return timing

    work = opts.out / ".work"
    work.mkdir(exist_ok=True)
    starts = list(range(n_done, opts.n, opts.chunk))
    procs: list[subprocess.Popen] = []
    lock = threading.Lock()
    bar = tqdm(total=opts.n, initial=n_done, unit="img", desc=opts.out.name, disable=not progress)

    def on_image(_msg: dict) -> None:
        with lock:
            bar.update(1)

    def render_and_compose(start: int, scenes: list) -> tuple[float, float, float]:
        chunk = work / f"chunk_{start:06d}.npz"
        frames = work / f"chunk_{start:06d}"
        wall, own = _run_blender(chunk, frames, on_image, procs)
        t0 = time.perf_counter()
        for sc in scenes:
            rgba = read_rgba(frames / f"rgba_{sc.index:06d}.png")
            bg = background_image(sample_rng(opts.seed, sc.index, BACKGROUND_STREAM), opts.size)
            save_jpeg(
                opts.out / "images" / f"{sc.index:06d}.jpg",
                composite(rgba, bg, sc.lighting.tint),
            )
            if opts.masks:
                m = mask_labels(read_rgba(frames / f"mask_{sc.index:06d}.png"))
                save_png(opts.out / "masks" / f"{sc.index:06d}.png", m)
        shutil.rmtree(frames, ignore_errors=True)
        chunk.unlink(missing_ok=True)
        return wall, own, time.perf_counter() - t0

    pending: list[tuple[int, Future, SynthLabels]] = []

    def commit_oldest() -> None:
        nonlocal labels
        start, fut, part = pending.pop(0)
        wall, own, comp = fut.result()
        timing.render_wall_s += wall
        timing.render_s += own
        timing.composite_s += comp
        timing.images += len(part)
        labels = part if labels is None else SynthLabels.concat([labels, part])
        labels.save(opts.out / "labels.npz")
        meta["n"] = len(labels)
        meta["timing_per_image_s"] = timing.per_image()
        write_meta(opts.out / "meta.json", meta)
        log.info(
            "chunk %d..%d done: %s",
            start,
            start + len(part) - 1,
            ", ".join(f"{k} {v:.3f}" for k, v in timing.per_image().items()),
        )

    pool = ThreadPoolExecutor(max_workers=opts.workers)
    try:
        for start in starts:
            t0 = time.perf_counter()
            made = [maker.make(i) for i in range(start, min(start + opts.chunk, opts.n))]
            scenes = [s for s, _ in made]
            write_render_chunk(work / f"chunk_{start:06d}.npz", scenes, maker.faces, opts.masks)
            timing.prep_s += time.perf_counter() - t0
            timing.prepared += len(made)
            part = SynthLabels.concat([lab for _, lab in made])
            pending.append((start, pool.submit(render_and_compose, start, scenes), part))
            while len(pending) > opts.workers:
                commit_oldest()
        while pending:
            commit_oldest()
    finally:
        for p in list(procs):  # only our own Blender processes
            if p.poll() is None:
                p.terminate()
        pool.shutdown(wait=True, cancel_futures=True)
        bar.close()
    shutil.rmtree(work, ignore_errors=True)
    return timing


class _Parser(argparse.ArgumentParser):
    def error(self, message: str):  # one clear line, not the usage block
        raise UsageError(message)


def build_parser() -> argparse.ArgumentParser:
    p = _Parser(
        prog="python -m core.hmr.synth.generate",
        description=__doc__,
        epilog=EXAMPLE,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--out", type=Path, required=True, help="dataset folder (created/extended)")
    p.add_argument("--n", type=int, required=True, help="number of samples the set should hold")
    p.add_argument("--seed", type=int, default=0, help="dataset seed (default 0)")
    p.add_argument("--size", type=int, default=256, help="square image side, pixels")
    p.add_argument(
        "--held-out",
        action="store_true",
        help="evaluation set: CMU 131_* poses only, shapes from the held-out pool",
    )
    p.add_argument("--shapes", type=int, default=24, help="subjects in the shape pool")
    p.add_argument("--workers", type=int, default=1, help="Blender processes in parallel")
    p.add_argument("--chunk", type=int, default=100, help="images per Blender call")
    p.add_argument("--masks", action="store_true", help="also write body/prop masks")
    p.add_argument("--cmu", type=Path, default=DEFAULT_CMU, help="CMU .bvh folder")
    p.add_argument("--cache", type=Path, default=DEFAULT_CACHE, help="retargeted-clip cache")
    p.add_argument("-q", "--quiet", action="store_true", help="no progress bar")
    return p


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    try:
        args = build_parser().parse_args(argv)
        opts = GenerateOptions(
            out=args.out,
            n=args.n,
            seed=args.seed,
            size=args.size,
            held_out=args.held_out,
            shapes=args.shapes,
            workers=args.workers,
            chunk=args.chunk,
            masks=args.masks,
            cmu_dir=args.cmu,
            cache_dir=args.cache,
            command=shlex.join(["python", "-m", "core.hmr.synth.generate", *argv]),
        )
        opts.check()
    except UsageError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    from tqdm.contrib.logging import logging_redirect_tqdm

    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    try:
        with logging_redirect_tqdm():
            timing = generate(opts, progress=not args.quiet)
    except (UsageError, BlenderNotFoundError, FileNotFoundError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    except RuntimeError as e:  # Blender failed: what is committed stays valid
        print(f"error: {e}", file=sys.stderr)
        return 1
    if timing.images:
        per = timing.per_image()
        print(
            f"{opts.out}: {timing.images} images made; per image: scene prep "
            f"{per['prep_s']:.3f} s, Blender {per['render_s']:.3f} s "
            f"({per['render_wall_s']:.3f} s with start-up), compositing {per['composite_s']:.3f} s"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
