"""Loading the Anny body model once per process, with its cache in a project-local folder."""

from __future__ import annotations

import functools
import logging
import os
from pathlib import Path

log = logging.getLogger(__name__)

_REPO_ROOT = Path(__file__).resolve().parent.parent


def anny_cache_dir() -> Path:
    """``$ANNY_CACHE_DIR`` if set, else ``<repo>/.cache/anny`` (what scripts/setup.sh builds)."""
    env = os.environ.get("ANNY_CACHE_DIR")
    return Path(env) if env else _REPO_ROOT / ".cache" / "anny"


@functools.lru_cache(maxsize=1)
def load_anny():
    """The Anny full-body model (float64, CPU). The first call in a fresh cache builds ~0.8 GB of
    model data (about a minute); later calls load it in seconds."""
    cache = anny_cache_dir()
    cache.mkdir(parents=True, exist_ok=True)
    os.environ.setdefault("ANNY_CACHE_DIR", str(cache))
    try:
        import anny
        import anny.paths
    except ImportError as e:
        raise ImportError("the Anny body model is missing: pip install 'biomocap[core]'") from e
    anny.paths.set_anny_cache_path(cache)
    if not any(cache.iterdir()):
        log.info("building the Anny model cache in %s (once, about a minute)", cache)
    return anny.Anny()
