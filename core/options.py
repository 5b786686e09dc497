"""Command-line values checked where they are parsed: numbers in their valid range, safe names.

``argparse`` types, so a bad value is one ``error:`` line naming the option and its range:

    s.add_argument("--height", type=number("m", 0.5, 2.6), help="...")
"""

from __future__ import annotations

import argparse
import math
import re
import unicodedata
from collections.abc import Callable

__all__ = ["number", "safe_name", "component_name", "check_time_range"]


def number(
    unit: str,
    lo: float,
    hi: float,
    *,
    lo_open: bool = False,
    hint: str = "",
) -> Callable[[str], float]:
    """An argparse type: a finite float in ``lo..hi`` (``lo`` excluded with ``lo_open``)."""

    def parse(text: str) -> float:
        try:
            v = float(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
        bad = not math.isfinite(v) or v > hi or (v <= lo if lo_open else v < lo)
        if bad:
            rng = (
                f"{'above ' if lo_open else ''}{lo:g}..{hi:g}"
                if math.isfinite(hi)
                else (f"{'>' if lo_open else '>='} {lo:g}")
            )
            u = f" {unit}" if unit else ""
            raise argparse.ArgumentTypeError(
                f"must lie in {rng}{u}, got {text}{('; ' + hint) if hint else ''}"
            )
        return v

    parse.__name__ = "number"  # argparse names the type in some messages
    return parse


_BAD_NAME_CHARS = re.compile(r"[/\\\x00-\x1f\x7f]")


def safe_name(text: str) -> str:
    """An argparse type for ``--name``: a file stem that stays inside the output folder. Spaces
    and non-ASCII letters are fine; path separators, control characters, '.' and '..' are not."""
    name = unicodedata.normalize("NFC", str(text)).strip()
    if not name or name in (".", "..") or _BAD_NAME_CHARS.search(name):
        raise argparse.ArgumentTypeError(
            f"{text!r} is not a file name: use letters, digits, spaces, '-', '_' or '.', "
            "without '/' or '\\' (the files go into the -o folder)"
        )
    if len(name.encode("utf-8")) > 200:
        raise argparse.ArgumentTypeError(f"name is too long ({len(name)} characters; max ~200)")
    return name


def stem_name(text: str) -> str:
    """``safe_name`` for a name taken from an input file (never raises): unsafe characters
    become '_'."""
    name = _BAD_NAME_CHARS.sub("_", unicodedata.normalize("NFC", str(text))).strip()
    return name if name and name not in (".", "..") else "subject"


def component_name(name: str) -> str:
    """A name OpenSim accepts for a component (model, body, tool): ASCII letters, digits, '_',
    '-' and '.'; anything else becomes '_' (accents are dropped first: 'Jose' for 'José')."""
    ascii_ = unicodedata.normalize("NFKD", str(name)).encode("ascii", "ignore").decode()
    out = re.sub(r"[^A-Za-z0-9_.-]", "_", ascii_).strip("._-")
    if not out:
        out = "subject"
    if not (out[0].isalpha() or out[0] == "_"):
        out = "s_" + out
    return out


def check_time_range(rng: tuple[float, float] | None, option: str = "--time-range") -> None:
    """Both ends finite, start < end."""
    if rng is None:
        return
    a, b = rng
    if not (math.isfinite(a) and math.isfinite(b)):
        raise ValueError(f"{option} needs two finite times in seconds, got {a} {b}")
    if b <= a:
        raise ValueError(f"{option}: the end ({b:g} s) must come after the start ({a:g} s)")
