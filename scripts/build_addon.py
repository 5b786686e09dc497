"""Build the Blender extension zip (dist/biomocap-<version>.zip) with Blender's own extension build.

The add-on folder is staged in a temporary directory together with ``build_info.json`` (the
repository the zip was built from, so that an installed extension can still auto-detect the
core's interpreter ``<repo>/.venv/bin/python``), validated and zipped by Blender's
``blender_ext.py`` (what ``blender --command extension build`` runs). Blender's script is found
in the bpy module of this interpreter or of ``.venv-blender``, or a Blender executable on PATH.

Usage: ``python scripts/build_addon.py [-o dist] [--validate-only]``.
"""

from __future__ import annotations

import argparse
import glob
import importlib.util
import json
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
SRC = REPO / "blender_addon"
_EXT_REL = ("scripts", "addons_core", "bl_pkg", "cli", "blender_ext.py")


def find_blender_ext() -> list[str]:
    """The command prefix that runs Blender's extension tool (``... build``/``validate``)."""
    roots: list[Path] = []
    spec = importlib.util.find_spec("bpy")
    if spec is not None and spec.submodule_search_locations:
        roots += [Path(p) for p in spec.submodule_search_locations]
    roots += [
        Path(p) for p in glob.glob(str(REPO / ".venv-blender/lib/python3*/site-packages/bpy"))
    ]
    for root in roots:
        for version_dir in sorted(root.glob("[0-9]*.[0-9]*"), reverse=True):
            script = version_dir.joinpath(*_EXT_REL)
            if script.is_file():
                return [sys.executable, str(script)]
    blender = shutil.which("blender")
    if blender:
        return [blender, "--factory-startup", "--command", "extension"]
    raise FileNotFoundError(
        "Blender's extension tool not found: install bpy (scripts/setup.sh makes .venv-blender) "
        "or put a Blender 4.2+ executable on PATH"
    )


def _run(cmd: list[str]) -> str:
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    if r.returncode != 0:
        msg = " ".join((r.stdout + r.stderr).split())[-400:]
        raise ValueError(f"Blender's extension tool failed: {msg}")
    return r.stdout


def build(out_dir: Path, validate_only: bool = False) -> Path:
    ext = find_blender_ext()
    with tempfile.TemporaryDirectory(prefix="biomocap-addon-") as tmp:
        stage = Path(tmp) / "biomocap"
        shutil.copytree(SRC, stage, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
        (stage / "build_info.json").write_text(
            json.dumps({"repo": str(REPO)}, indent=1), encoding="utf-8"
        )
        _run([*ext, "validate", str(stage)])
        if validate_only:
            return SRC / "blender_manifest.toml"
        out_dir = out_dir.resolve()
        out_dir.mkdir(parents=True, exist_ok=True)
        stdout = _run([*ext, "build", "--source-dir", str(stage), "--output-dir", str(out_dir)])
    zips = [line.split('"')[1] for line in stdout.splitlines() if line.startswith("created:")]
    if not zips:
        built = sorted(out_dir.glob("biomocap-*.zip"), key=lambda p: p.stat().st_mtime)
        if not built:
            raise ValueError(f"Blender's extension build wrote no zip into {out_dir}")
        return built[-1]
    return Path(zips[-1])


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("-o", "--output", type=Path, default=REPO / "dist", help="output folder")
    p.add_argument(
        "--validate-only", action="store_true", help="only run Blender's extension validate"
    )
    args = p.parse_args(argv)
    try:
        print(build(args.output, args.validate_only))
    except (ValueError, OSError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
