"""Build the Blender extension zip (dist/biomocap-<version>.zip) from blender_addon/.

Equivalent to ``blender --command extension build`` for this layout: the manifest sits at the
zip's root; caches are left out. Usage: ``python scripts/build_addon.py [-o dist]``.
"""

from __future__ import annotations

import argparse
import re
import sys
import zipfile
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
SRC = REPO / "blender_addon"


def build(out_dir: Path) -> Path:
    manifest = (SRC / "blender_manifest.toml").read_text(encoding="utf-8")
    m_id = re.search(r'^id\s*=\s*"([^"]+)"', manifest, re.M)
    m_ver = re.search(r'^version\s*=\s*"([^"]+)"', manifest, re.M)
    if not (m_id and m_ver):
        raise ValueError("blender_manifest.toml lacks id or version")
    out_dir.mkdir(parents=True, exist_ok=True)
    path = out_dir / f"{m_id.group(1)}-{m_ver.group(1)}.zip"
    tmp = path.with_suffix(".zip.tmp")
    with zipfile.ZipFile(tmp, "w", zipfile.ZIP_DEFLATED) as z:
        for f in sorted(SRC.rglob("*")):
            rel = f.relative_to(SRC)
            if f.is_dir() or "__pycache__" in rel.parts or f.suffix == ".pyc":
                continue
            z.write(f, rel.as_posix())
    tmp.replace(path)
    return path


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("-o", "--output", type=Path, default=REPO / "dist", help="output folder")
    args = p.parse_args(argv)
    try:
        print(build(args.output))
    except (ValueError, OSError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
