"""Input checks shared by every configuration: each failure is a ValueError naming the value and what is allowed."""

from __future__ import annotations

import math
from typing import Any


def check(cond: bool, message: str) -> None:
    if not cond:
        raise ValueError(message)


def is_int(v: Any) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def is_number(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)


def is_positive(v: Any) -> bool:
    """A finite number > 0 (not a bool)."""
    return is_number(v) and v > 0


class DivergedError(FloatingPointError):
    """A run's loss or weights became NaN or infinite. The message names where and the setting to change; no result
    is written for such a run."""
