"""Input checks shared by every configuration: each failure is a ValueError naming the value and what is allowed."""

from __future__ import annotations

import ast
import math
from typing import Any

from .results import SEED_MAX  # the seeds' bound: one for the API, the notebooks and the command lines


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


# ------------------------------------------------------------------------------------------ command lines
#
# Every command checks its whole command line before any work (loading data, timing, training): a bad value stops
# it with one line, ``<prog>: error: <what was given and what is allowed>``, and exit code 2, as argparse does for
# the values it checks itself (book/contract.md).


def fail(parser, error: BaseException | str) -> None:
    """Stop a command on bad input: ``<prog>: error: <message>`` on stderr, exit code 2 (what ``parser.error``
    does, without repeating the usage)."""
    parser.exit(2, f"{parser.prog}: error: {error}\n")


def parse_value(text: str) -> Any:
    """``-p name value`` (the runner) and ``--set KEY=VALUE``: a Python literal (``True``, ``3``, ``{'outer_iters': 100}``), else the string itself."""
    try:
        return ast.literal_eval(text)
    except (ValueError, SyntaxError, TypeError, MemoryError, RecursionError):
        return text


def parse_sets(parser, items, example: str = "eval_tasks=2000") -> dict[str, Any]:
    """``--set KEY=VALUE`` items as overrides (each value a Python literal, else the string; converted to the
    field's type, or refused, by :func:`reptile.config.resolve`), or stop with :func:`fail`."""
    overrides: dict[str, Any] = {}
    for item in items:
        k, eq, v = item.partition("=")
        k = k.strip()
        if not eq or not k:
            fail(parser, f"--set takes KEY=VALUE (e.g. {example}), got {item!r}")
        if k in overrides:
            fail(parser, f"--set {k}=... is given more than once; give each key once")
        overrides[k] = parse_value(v.strip())
    return overrides


def check_seeds_argument(parser, seeds) -> list[int]:
    """``--seeds`` of a command line: distinct integers in 0..:data:`SEED_MAX`, or stop with :func:`fail`."""
    bad = [s for s in seeds if not (is_int(s) and 0 <= s <= SEED_MAX)]
    if bad:
        fail(parser, f"--seeds {' '.join(map(str, bad))}: seeds must be integers in 0..{SEED_MAX}")
    repeated = sorted({s for s in seeds if seeds.count(s) > 1})
    if repeated:
        fail(parser, f"--seeds names {repeated} more than once; give each seed once")
    return list(seeds)


def check_threads_argument(parser, threads) -> None:
    """``--threads``: None (the default rule) or an integer from 1 to 4 x the cores (more only slows a run down),
    or stop with :func:`fail`."""
    if threads is None:
        return
    from .threads import cores

    top = 4 * cores()
    if not (is_int(threads) and 1 <= threads <= top):
        fail(parser, f"--threads {threads}: allowed: an integer from 1 to {top} (4 x this machine's {cores()} cores)")


def check_device_argument(parser, device: str):
    """``--device``: resolved (:func:`reptile.results.resolve_device`), or stop with :func:`fail`."""
    from .results import resolve_device

    try:
        return resolve_device(device)
    except ValueError as e:
        fail(parser, e)


def check_data_root_argument(parser, data_root) -> None:
    """``--data-root``: None ($REPTILE_DATA) or an existing folder, or stop with :func:`fail`. (What the folder
    must hold, the data's loader says, naming each file it looked for.)"""
    from pathlib import Path

    if data_root is not None and not Path(data_root).expanduser().is_dir():
        fail(parser, f"--data-root {data_root}: not a folder; allowed: the folder that holds omniglot/ (and "
                     f"miniimagenet/), or no --data-root for $REPTILE_DATA")


THREADS_HELP = ("CPU threads for this process (default: $REPTILE_THREADS, else $OMP_NUM_THREADS outside torchrun, "
                "else the cores, divided among torchrun's processes on this machine; reptile.threads.configure)")


def experiment_parser(prog: str, doc: str | None, presets, example: str):
    """A command line of an experiment: ``--preset`` (required), ``--seeds``, ``--set KEY=VALUE``, ``--recompute``,
    ``--device``, ``--threads``."""
    import argparse

    parser = argparse.ArgumentParser(prog=prog, description=doc, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--preset", required=True, help=f"one of: {', '.join(presets)}")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0], help="seeds to make sure are stored (default 0)")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                        help=f"override a field, e.g. {example} (repeatable)")
    parser.add_argument("--recompute", action="store_true", help="compute again even if the result exists")
    parser.add_argument("--device", default="auto", help="'auto' (CUDA when present), 'cpu', 'cuda', 'cuda:N'")
    parser.add_argument("--threads", type=int, default=None, help=THREADS_HELP)
    parser.example = example
    return parser


def run_experiment(parser, argv, load_or_run, options: tuple[str, ...] = ()) -> list[dict[str, Any]]:
    """Parse ``argv`` with an :func:`experiment_parser`, check every value (stopping with :func:`fail` on a bad
    one, before any work), then return ``load_or_run(preset, seeds, recompute, overrides, device=..., <each of
    options>=<its parsed value>)``, which validates the configuration before it computes. Its ValueError,
    FileNotFoundError or DivergedError stops the command the same way."""
    a = parser.parse_args(argv)
    overrides = parse_sets(parser, a.set, parser.example)
    seeds = check_seeds_argument(parser, a.seeds)
    check_threads_argument(parser, a.threads)
    check_device_argument(parser, a.device)
    given = {name: getattr(a, name) for name in options}
    try:
        from .threads import configure

        configure(a.threads)
        return load_or_run(a.preset, seeds, a.recompute, overrides, device=a.device, **given)
    except (ValueError, FileNotFoundError, DivergedError) as e:
        fail(parser, e)
    raise AssertionError("unreachable")  # pragma: no cover - fail exits
