"""Lazy access to the optional ``opensim`` package, and a C numeric locale for its writers."""

from __future__ import annotations

import contextlib
import locale
from collections.abc import Iterator
from types import ModuleType

__all__ = ["require_opensim", "c_numeric_locale"]

_HINT = "pip install 'biomocap[opensim]'"
_sink_removed = False


def require_opensim() -> ModuleType:
    """Import opensim (without its default ./opensim.log) or raise ImportError naming the extra
    to install."""
    try:
        import opensim
    except ImportError as e:
        raise ImportError(f"this needs the OpenSim Python package (opensim 4.6): {_HINT}") from e
    global _sink_removed
    if not _sink_removed:
        # OpenSim otherwise appends to ./opensim.log wherever the user runs us; our tools write
        # their logs beside their results instead.
        opensim.Logger.removeFileSink()
        _sink_removed = True
    return opensim


@contextlib.contextmanager
def c_numeric_locale() -> Iterator[None]:
    """Force '.' as the decimal point (OpenSim's C++ writers follow the process locale)."""
    old = locale.setlocale(locale.LC_NUMERIC)
    try:
        locale.setlocale(locale.LC_NUMERIC, "C")
        yield
    finally:
        locale.setlocale(locale.LC_NUMERIC, old)
