"""``python -m core capture VIDEO -o OUT``: one video (or image) of a person -> a biomechanically
valid motion and everything to look at.

Stages (each a function of the previous ones' typed results, each timed, each recorded in the
Motion's provenance; :func:`capture` in ``pipeline.py`` chains them):

  detect   (detection.py) video frames -> tracked person's BlazePose 2D keypoints (+conf) and 3D
           world landmarks, left/right swaps put back (sides.py), on a uniform time grid
           -> :class:`Detected`
  neurik   (prior.py) the 3D prior: the lifter's angles (core.lift, default) or NeurIK's from the
           MediaPipe world landmarks; NeurIK's segment scales give the stature -> :class:`Prior`
  surface  (surface.py) body-surface stage (core.hmr): the Anny body and its place in the camera,
           either fitted by optimisation to the keypoints (--hmr fit, default) or predicted per
           frame by the MQ-HMR network with test-time query refinement (--hmr mq) -> :class:`Surfaced`
  refine   (refinement.py) whole-sequence 2D-informed optimisation (core.refine), in the
           level-camera frame -> :class:`Refined`
  world    (ground.py) floor plane and camera height/pitch/roll from the feet (core.world), the
           motion moved into the gravity-aligned world frame (Y up, floor Y = 0, facing +X), foot
           contacts (core.contacts), and a second refinement with the contacts planted -> :class:`Grounded`
  outputs  (outputs.py, overlay.py, dynamics.py, report.py) NAME.motion.npz, OpenSim folder,
           overlay video, joint-angle plots, report.html and report.json -> :class:`CaptureResult`

Options live in options.py (:class:`CaptureOptions`), progress reporting in progress.py.
"""

from __future__ import annotations

from core.capture.dynamics import _dynamics as _dynamics
from core.capture.dynamics import _dynamics_note as _dynamics_note
from core.capture.grid import on_uniform_grid
from core.capture.ground import Grounded
from core.capture.ground import _ground as _ground
from core.capture.options import DEFAULT_PRIOR, PRIORS, CaptureOptions
from core.capture.options import resolve_device as _device  # noqa: F401
from core.capture.outputs import _publish as _publish
from core.capture.outputs import _write_outputs as _write_outputs
from core.capture.overlay import _overlay as _overlay
from core.capture.pipeline import capture
from core.capture.progress import Progress
from core.capture.report import _jsonable as _jsonable
from core.capture.report import _report as _report
from core.capture.report import _report_json as _report_json
from core.capture.report import _world_html as _world_html
from core.capture.results import CaptureResult, Detected, Prior, Refined, Surfaced

__all__ = [
    "CaptureOptions",
    "CaptureResult",
    "capture",
    "on_uniform_grid",
    "Progress",
    "Detected",
    "Prior",
    "Surfaced",
    "Refined",
    "Grounded",
    "PRIORS",
    "DEFAULT_PRIOR",
]
