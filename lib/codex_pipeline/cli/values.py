"""argparse value types shared by the verbs, so a flag means the same thing everywhere."""

from __future__ import annotations

import argparse
import math


def seconds(raw: str) -> float:
    """A duration in seconds: finite and greater than 0 (``nan`` and ``inf`` parse as floats)."""
    try:
        value = float(raw)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{raw!r} is not a number of seconds") from None
    if not math.isfinite(value) or value <= 0:
        raise argparse.ArgumentTypeError(f"{raw!r}: expected a number of seconds greater than 0, e.g. 2.5")
    return value


def count(raw: str) -> int:
    """A whole number, 0 or more."""
    try:
        value = int(raw)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{raw!r} is not a whole number") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"{raw!r}: expected a whole number, 0 or more")
    return value


def port(raw: str) -> int:
    """A TCP port, 0 meaning any free one."""
    value = count(raw)
    if value > 65535:
        raise argparse.ArgumentTypeError(f"{raw!r}: a port is at most 65535")
    return value
