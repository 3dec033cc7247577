"""Input checks shared by every configuration and entry point: each failure is a ValueError naming the value and
what is allowed. The seeds, flags, overrides and device a run is given are read here too, with one rule for the API,
the notebooks and the command lines (whose own checks are :mod:`reptile.cli`'s)."""

from __future__ import annotations

import ast
import json
import math
from typing import Any, Mapping

import torch


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


# ------------------------------------------------------------------------------------------- memory bounds

MEMORY_SHARE = 0.8  # of the memory available at the start: what one command's largest allocation may take


def available_memory() -> int | None:
    """Bytes of memory this process may still allocate: ``MemAvailable`` of ``/proc/meminfo`` (Linux), else the
    physical memory (``os.sysconf``), else None (unknown: no bound is derived)."""
    import os

    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    try:
        return int(os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE"))
    except (AttributeError, OSError, ValueError):
        return None


def human_bytes(n: float) -> str:
    """``n`` bytes as ``"1.5 GB"`` (powers of 1000)."""
    for unit in ("bytes", "kB", "MB", "GB", "TB", "PB"):
        if abs(n) < 1000 or unit == "PB":
            return f"{n:.0f} {unit}" if unit == "bytes" else f"{n:.1f} {unit}"
        n /= 1000
    return f"{n:.1f} PB"  # pragma: no cover


def check_size(name: str, value: int, bytes_each: float, what: str, memory: int | None = None,
               where: str = "this machine's memory", hint: str = "") -> None:
    """Refuse a size whose memory cannot fit: ``value`` units of ``bytes_each`` bytes (``what`` says what they are)
    must fit in :data:`MEMORY_SHARE` of ``memory`` (default: :func:`available_memory`; unknown: no check). The
    ValueError names the field, the value, the memory it would need, what is available, and the largest value
    allowed here; ``hint`` may add what the paper's protocol uses."""
    memory = available_memory() if memory is None else memory
    if memory is None or bytes_each <= 0:
        return
    budget = MEMORY_SHARE * memory
    if value * bytes_each > budget:
        allowed = max(0, int(budget // bytes_each))
        raise ValueError(f"{name}={value!r} does not fit in {where}: {what} take about {human_bytes(bytes_each)} "
                         f"each, {human_bytes(value * bytes_each)} in all, and {human_bytes(memory)} is available; "
                         f"allowed here: {name} <= {allowed:,}{hint}. Nothing was run")


# ------------------------------------------------------------------------------------ seeds, flags, overrides

SEED_MAX = 2**32 - 1  # the largest seed: the random streams and Omniglot's split take any seed up to here


def validate_seed(seed: Any) -> int:
    """A run's seed: an integer in 0..:data:`SEED_MAX` (the one rule for the API, the notebooks and the command
    lines)."""
    if not isinstance(seed, int) or isinstance(seed, bool) or seed < 0:
        raise ValueError(f"seed must be an integer >= 0, got {seed!r}")
    if seed > SEED_MAX:
        raise ValueError(f"seed must be an integer in 0..{SEED_MAX}, got {seed!r}")
    return seed


def validate_seeds(seeds: Any) -> list[int]:
    """An integer or a non-empty list of integers >= 0."""
    if isinstance(seeds, int) and not isinstance(seeds, bool):
        seeds = [seeds]
    if not isinstance(seeds, (list, tuple)) or not seeds:
        raise ValueError(f"seeds must be a non-empty list of integers >= 0, got {seeds!r}")
    seeds = [validate_seed(s) for s in seeds]
    repeated = sorted({s for s in seeds if seeds.count(s) > 1})
    if repeated:
        raise ValueError(f"seeds {seeds} name {repeated} more than once; give each seed once")
    return seeds


TRUE_WORDS, FALSE_WORDS = ("true",), ("false",)


def parse_bool(value: Any, name: str) -> bool:
    """``True``/``False``, or the strings ``"true"``/``"false"`` in any case (what ``papermill -p x false`` and
    ``--set x=false`` give); anything else is a ValueError naming ``name``, the value and what is allowed."""
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.strip().lower() in TRUE_WORDS + FALSE_WORDS:
        return value.strip().lower() in TRUE_WORDS
    raise ValueError(f"{name} must be True or False, got {value!r}; allowed: True, False, or the strings "
                     f"'true'/'false' (any case)")


def parse_overrides(overrides: Any, name: str = "overrides") -> dict[str, Any]:
    """``overrides`` as a dict: None gives ``{}``, a mapping is copied, and a string (what ``papermill -p overrides
    "{'outer_iters': 100}"`` passes) is read as a Python or JSON literal that must be a dict."""
    how = (f"pass a dict such as {{'outer_iters': 100}}: with papermill, -y \"{name}: {{outer_iters: 100}}\" or "
           f"-p {name} \"{{'outer_iters': 100}}\"; with the runner, -p {name} \"{{'outer_iters': 100}}\"")
    if overrides is None:
        return {}
    if isinstance(overrides, Mapping):
        return dict(overrides)
    if isinstance(overrides, str):
        text = overrides.strip()
        if text in ("", "None", "null", "none"):
            return {}
        value: Any = None
        for parse in (ast.literal_eval, json.loads):
            try:
                value = parse(text)
                break
            except (ValueError, SyntaxError, TypeError, MemoryError, RecursionError):
                continue
        if isinstance(value, Mapping):
            return dict(value)
        raise ValueError(f"{name} must be a dict, got the string {overrides!r}, which is not a Python or JSON dict "
                         f"literal; {how}")
    raise ValueError(f"{name} must be a dict, got {type(overrides).__name__} {overrides!r}; {how}")


def resolve_device(device: str = "auto") -> torch.device:
    """``"auto"``: CUDA when present, else the CPU. Otherwise any name ``torch.device`` accepts."""
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        dev = torch.device(device)
    except RuntimeError as e:
        raise ValueError(f"unknown device {device!r}; allowed: 'auto', 'cpu', 'cuda', 'cuda:N'") from e
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise ValueError(f"device {device!r} asked for, but CUDA is not available here; use 'auto' or 'cpu'")
    return dev
