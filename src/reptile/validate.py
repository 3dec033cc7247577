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
