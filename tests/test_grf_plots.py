"""The GRF and moment plots keep their (long) titles inside the picture."""

from __future__ import annotations

import numpy as np
import pytest

from biomech_export.dynamics import outputs
from biomech_export.dynamics.split import FootLoads

LONG = (
    "gait2392 walk video gait2392_walk_v1 (azimuth 90 deg, focal 347 px, belt 1.13 m/s), "
    "3 Hz, ML pendulum: estimated (solid) vs force plates (dashed)"
)


def test_long_grf_title_stays_inside_the_figure(tmp_path, monkeypatch) -> None:
    pytest.importorskip("matplotlib")
    seen = {}
    save = outputs._save_png

    def keep(fig, path):
        fig.canvas.draw()
        renderer = fig.canvas.get_renderer()
        seen["fig"] = fig.bbox
        seen["title"] = fig.axes[0].title.get_window_extent(renderer)
        return save(fig, path)

    monkeypatch.setattr(outputs, "_save_png", keep)
    t = np.linspace(0.0, 2.0, 50)
    f = {s: np.stack([np.sin(t), 700 + 100 * np.cos(3 * t), 0 * t], 1) for s in "rl"}
    loads = FootLoads(t, f, f, f, {s: 0.5 + 0 * t for s in "rl"})
    png = outputs.plot_grf(tmp_path / "grf.png", loads, 700.0, LONG)
    assert png.is_file()
    fig, title = seen["fig"], seen["title"]
    assert fig.x0 <= title.x0 and title.x1 <= fig.x1
    assert fig.y0 <= title.y0 and title.y1 <= fig.y1
