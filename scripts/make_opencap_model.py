"""Write ``biomech_export/models/LaiUhlrich2022.osim`` from OpenCap's files (run once; the result
is committed): OpenCap's LaiUhlrich2022 model (Apache-2.0) without its visual geometry (the
``.vtp`` bone meshes are not shipped), keeping all 80 muscles, with OpenCap's 43 "augmenter"
markers (``LaiUhlrich2022_markers_augmenter.xml``) as its marker set, none fixed (biomocap
places them all from its static trial) and the toe markers on the toes bodies.

    .venv/bin/python scripts/make_opencap_model.py ../shared/data/opensim/opencap/core_pipeline
"""

from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

TARGET = REPO / "biomech_export" / "models" / "LaiUhlrich2022.osim"


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument(
        "opencap_dir", type=Path, help="folder with LaiUhlrich2022.osim and its marker XMLs"
    )
    a = p.parse_args(argv)
    import opensim as osim

    src = a.opencap_dir / "LaiUhlrich2022.osim"
    markers = a.opencap_dir / "LaiUhlrich2022_markers_augmenter.xml"
    for f in (src, markers):
        if not f.is_file():
            print(f"error: {f} not found", file=sys.stderr)
            return 2
    text = src.read_text(encoding="utf-8")
    # drop every visual mesh (attached geometry), keep frames, muscles, wrapping surfaces
    text, n = re.subn(
        r"<attached_geometry>.*?</attached_geometry>", "<attached_geometry />", text, flags=re.S
    )
    tmp = TARGET.with_suffix(".tmp.osim")
    tmp.write_text(text, encoding="utf-8")
    osim.Logger.setLevelString("Error")
    model = osim.Model(str(tmp))
    model.updateMarkerSet(osim.MarkerSet(str(markers)))
    model.finalizeConnections()
    state = model.initSystem()
    # biomocap places every marker from its static trial (OpenCap fixes the arm markers), and
    # its toe marker sits on the toes (OpenCap puts it on the calcaneus, biomocap's moves with
    # the mtp joint): move the toe markers to the toes bodies, same place at the default pose
    ms = model.updMarkerSet()
    for i in range(ms.getSize()):
        ms.get(i).set_fixed(False)
    for side, prefix in (("r", "r"), ("l", "L")):
        mk = ms.get(f"{prefix}_toe_study")
        mk.changeFramePreserveLocation(state, model.getBodySet().get(f"toes_{side}"))
    model.finalizeConnections()
    model.initSystem()
    model.printToXML(str(TARGET))
    tmp.unlink()
    check = osim.Model(str(TARGET))
    check.initSystem()
    print(
        f"wrote {TARGET}: {n} geometry lists emptied, {check.getMuscles().getSize()} muscles, "
        f"{check.getMarkerSet().getSize()} markers, {check.getCoordinateSet().getSize()} coordinates"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
