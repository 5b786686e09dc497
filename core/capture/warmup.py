"""Start-up work of the later stages done while the detect stage runs.

The stages after detect import several heavy modules and build the Anny body model (2-cores
development machine, CPU seconds: ``torch._dynamo`` ~1.9, which ``torch.optim`` and ``roma``
pull in; the Anny model with ``roma`` and ``warp`` ~2.5; ``opensim`` ~0.3). MediaPipe releases
the GIL while it runs its graphs, so a thread doing that work during detection uses the second
core instead of adding it to the capture's wall time. Nothing here changes a result: the modules
and the (cached) model are the same ones the stages would load themselves.

The thread starts at the detector's first frame, so that the detector's own imports (mediapipe,
and matplotlib through it) are finished and the two threads never import the same package at
once. :func:`wait` is called before the first stage that needs the work; an error in the
thread is only logged (the stage that needs the module then raises it where it is used).
"""

from __future__ import annotations

import importlib
import logging
import threading

__all__ = ["start", "wait"]

log = logging.getLogger(__name__)

# What the prior, surface, refine, world and outputs stages import (heaviest first).
MODULES = (
    "torch._dynamo",  # torch.optim's first step imports it
    "core.neurik.runtime",
    "core.lift.runtime",
    "core.hmr.fit",
    "core.body",
    "core.refine",
    "core.world",
    "core.contacts",
    "core.skinning",
    "opensim",
    "biomech_export.export",
)

_lock = threading.Lock()
_thread: threading.Thread | None = None


def _run() -> None:
    for name in MODULES:
        try:
            importlib.import_module(name)
        except Exception as e:  # noqa: BLE001 - the stage that needs it reports it
            log.debug("warm-up: import %s failed: %s", name, e)
    try:
        from core.anny_loader import load_anny

        load_anny()  # cached: the surface stage gets this instance
    except Exception as e:  # noqa: BLE001
        log.debug("warm-up: loading the Anny model failed: %s", e)


def start() -> None:
    """Start the warm-up thread (once per process; later calls do nothing)."""
    global _thread
    with _lock:
        if _thread is None:
            # not a daemon: when a stage fails early the interpreter waits for it at exit
            # instead of tearing modules down under an import (or a write to stdout) in progress
            _thread = threading.Thread(target=_run, name="capture-warmup", daemon=False)
            _thread.start()


def wait() -> None:
    """Block until the warm-up (if started) is done."""
    with _lock:
        thread = _thread
    if thread is not None:
        thread.join()
