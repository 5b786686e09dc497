"""Loading the Anny body model once per process, with its cache in a project-local folder.

The same model data on every machine
------------------------------------
``anny.Anny()`` compacts the 624 phenotype blendshapes into a 136-direction basis by SVD and
caches the result (``v14/build_compact_model_data_<key>.safetensors``). Two things make that
file depend on the machine that built it (anny 0.6.2, torch 2.13.0):

- the SVD's round-off depends on the number of torch threads (1 and 2 threads give bits that
  differ by ~1e-13), and
- anny fixes each direction's sign by its largest-magnitude entry, but the body is mirror
  symmetric: in directions 57 and 75 the two largest entries are a left and a right bone's, equal
  in magnitude and opposite in sign, so that round-off picks the sign.

The two builds are the same model (bodies agree to 1e-15 m), but the capture amplifies such
round-off: the demo clip captured with a 2-thread build differs from the 1-thread one by up to
3.8 deg (mean 0.19; 18 instead of 20 floor points), and with ``w_3d`` 5 the 2-thread build found
no floor at all. A 1-thread build is the same on any number of cores, so this loader builds the
cache with one torch thread (the build the accuracy harness's numbers were made with), checks an
existing file against the fingerprint of that build, and rebuilds one that does not match (made
by ``anny.Anny()`` under several threads, e.g. by the set-up before this check).
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import json
import logging
import mmap
import os
import struct
from collections.abc import Iterator
from pathlib import Path

log = logging.getLogger(__name__)

_REPO_ROOT = Path(__file__).resolve().parent.parent

# The arguments ``anny.Anny()`` passes to its compact-data builder (its defaults).
_COMPACT_BUILDER_KWARGS = {
    "local_changes": "none",
    "facial_actions": "none",
    "phenotypes": "default",
    "rank": None,
}

# Fingerprint (``cache_fingerprint``) of the compact file built with one torch thread, by
# (anny version, cache file name). Measured on the x86-64 CI and development machines with the
# pinned torch 2.13.0 CPU wheel: /work/main/.cache/anny (built 2026-12-01, the accuracy
# harness's runs) and a single-threaded rebuild give these bits; a 2-thread build does not.
REFERENCE_FINGERPRINTS = {
    (
        "0.6.2",
        "v14/build_compact_model_data_404d18204cb4a7d334eacadcf17850cf.safetensors",
    ): "117d33ba6dd8c4d6b99680a3dbe9ad3bede32b468441f946ad1208e2c591db4c",
}

# Beside a compact file this loader built: its fingerprint. A file that matches it was built here
# with one thread, and is kept even where the machine's bits differ from the reference.
_BUILT_SUFFIX = ".biomocap-built"


def anny_cache_dir() -> Path:
    """``$ANNY_CACHE_DIR`` if set, else ``<repo>/.cache/anny`` (what scripts/setup.sh builds)."""
    env = os.environ.get("ANNY_CACHE_DIR")
    return Path(env) if env else _REPO_ROOT / ".cache" / "anny"


@contextlib.contextmanager
def single_torch_thread() -> Iterator[None]:
    """Torch (and its BLAS/LAPACK) on one thread inside the block; the old count after it. Only
    around a cache build (seconds to minutes, once): it is the process's setting, not a thread's."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def _compact_builder_kwargs() -> dict:
    from anny.models.model_data import RigConfig, TopologyConfig

    return {
        "rig": RigConfig.from_string("anny"),
        "topology": TopologyConfig.from_string("anny"),
        **_COMPACT_BUILDER_KWARGS,
    }


def compact_cache_path(cache: Path) -> Path:
    """The file ``anny.Anny()`` loads its model data from in ``cache`` (anny's own cache key)."""
    from anny.models import build_compact_model_data
    from anny.models.model_data import CURRENT_DATA_VERSION, _get_builder_metadata

    meta = _get_builder_metadata(build_compact_model_data.__wrapped__, **_compact_builder_kwargs())
    key = hashlib.sha256(json.dumps(meta, sort_keys=True).encode()).hexdigest()[:32]
    return Path(cache) / f"v{CURRENT_DATA_VERSION}" / f"build_compact_model_data_{key}.safetensors"


def cache_fingerprint(path: Path) -> str:
    """sha256 of a safetensors file's tensors (names, dtypes, shapes, bytes, in name order) and of
    anny's ``metadata`` string. The header's key order, which changes from one write to the next,
    does not count."""
    h = hashlib.sha256()
    with open(path, "rb") as f, mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ) as m:
        (n,) = struct.unpack("<Q", m[:8])
        header = json.loads(m[8 : 8 + n])
        meta = header.pop("__metadata__", {}) or {}
        h.update(json.dumps([meta.get("data_version"), meta.get("metadata")]).encode())
        for name in sorted(header):
            t = header[name]
            start, end = t["data_offsets"]
            h.update(json.dumps([name, t["dtype"], t["shape"]]).encode())
            h.update(m[8 + n + start : 8 + n + end])
    return h.hexdigest()


def _reference_fingerprint(cache: Path, path: Path) -> str | None:
    import anny

    rel = path.relative_to(cache).as_posix()
    return REFERENCE_FINGERPRINTS.get((anny.__version__, rel))


def _built_here(path: Path) -> str | None:
    marker = path.with_name(path.name + _BUILT_SUFFIX)
    return marker.read_text().strip() if marker.is_file() else None


def _build_compact_file(path: Path) -> str:
    """Build the compact model data with one thread into ``path`` (atomically: concurrent
    loaders see the old file or the new one, never half of one). Returns its fingerprint."""
    from anny.models import build_compact_model_data

    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        with single_torch_thread():
            data = build_compact_model_data.__wrapped__(**_compact_builder_kwargs())
        data.save_safetensors(tmp)
        digest = cache_fingerprint(tmp)
        marker = path.with_name(path.name + _BUILT_SUFFIX)
        marker_tmp = marker.with_name(f".{marker.name}.{os.getpid()}.tmp")
        marker_tmp.write_text(digest + "\n")
        os.replace(tmp, path)
        os.replace(marker_tmp, marker)
    finally:
        tmp.unlink(missing_ok=True)
    return digest


def ensure_compact_cache(cache: Path) -> str:
    """Make ``cache`` hold the single-threaded build of Anny's compact model data: keep a file
    that matches the reference fingerprint (or the one this loader built on this machine),
    rebuild any other. Returns "ok", "built" or "rebuilt". The first build also makes anny's
    intermediate caches (load_data, build_model_data: ~0.8 GB, about a minute)."""
    import anny.paths

    cache = Path(cache)
    anny.paths.set_anny_cache_path(cache)
    path = compact_cache_path(cache)
    reference = _reference_fingerprint(cache, path)
    status = "built"
    if path.is_file():
        digest = cache_fingerprint(path)
        if digest == reference or digest == _built_here(path):
            return "ok"
        log.warning(
            "the Anny cache file %s is not the single-threaded build this project measures with "
            "(fingerprint %s, expected %s; a multi-threaded build makes other signs and "
            "round-off, which change captures): rebuilding it with one thread (~30 s)",
            path,
            digest[:12],
            (reference or "unknown for this anny version")[:12],
        )
        status = "rebuilt"
    else:
        log.info("building the Anny model cache in %s (once, about a minute)", cache)
    digest = _build_compact_file(path)
    if reference is not None and digest != reference:
        log.warning(
            "the Anny cache built on this machine (%s) differs from the reference build (%s) by "
            "round-off (another CPU or BLAS): captures may differ in detail from the published "
            "numbers",
            digest[:12],
            reference[:12],
        )
    return status


@functools.lru_cache(maxsize=1)
def load_anny():
    """The Anny full-body model (float64, CPU). The first call in a fresh cache builds ~0.8 GB of
    model data (about a minute); later calls load it in seconds."""
    cache = anny_cache_dir()
    cache.mkdir(parents=True, exist_ok=True)
    os.environ.setdefault("ANNY_CACHE_DIR", str(cache))
    try:
        import anny
    except ImportError as e:
        raise ImportError("the Anny body model is missing: pip install 'biomocap[core]'") from e
    ensure_compact_cache(cache)
    # Only loads: the file is there (tests/test_anny_cache.py checks that anny's cache key is
    # compact_cache_path's). The thread count is left alone, as the capture loads the model in a
    # warm-up thread while detection runs (core.capture.warmup).
    return anny.Anny()
