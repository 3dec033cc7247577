"""What every command line shares: its checks, which stop it on bad input before any work, an experiment's
standard options, and printing a table.

Every command checks its whole command line before any work (loading data, timing, training): a bad value stops it
with one line, ``<prog>: error: <what was given and what is allowed>``, and exit code 2, as argparse does for the
values it checks itself (book/contract.md).
"""

from __future__ import annotations

import argparse
import ast
from pathlib import Path
from typing import Any

from . import threads as cpu_threads  # looked up at each call: tests replace threads.cores
from .validate import SEED_MAX, DivergedError, is_int, resolve_device


def fail(parser, error: BaseException | str) -> None:
    """Stop a command on bad input: ``<prog>: error: <message>`` on stderr, exit code 2 (what ``parser.error``
    does, without repeating the usage)."""
    parser.exit(2, f"{parser.prog}: error: {error}\n")


def parse_value(text: str) -> Any:
    """``-p name value`` (the runner) and ``--set KEY=VALUE``: a Python literal (``True``, ``3``,
    ``{'outer_iters': 100}``), else the string itself."""
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
    cores = cpu_threads.cores()
    if not (is_int(threads) and 1 <= threads <= 4 * cores):
        fail(parser, f"--threads {threads}: allowed: an integer from 1 to {4 * cores} (4 x this machine's {cores} "
                     f"cores)")


def check_device_argument(parser, device: str):
    """``--device``: resolved (:func:`reptile.validate.resolve_device`), or stop with :func:`fail`."""
    try:
        return resolve_device(device)
    except ValueError as e:
        fail(parser, e)


def check_data_root_argument(parser, data_root) -> None:
    """``--data-root``: None ($REPTILE_DATA) or an existing folder, or stop with :func:`fail`. (What the folder
    must hold, the data's loader says, naming each file it looked for.)"""
    if data_root is not None and not Path(data_root).expanduser().is_dir():
        fail(parser, f"--data-root {data_root}: not a folder; allowed: the folder that holds omniglot/ (and "
                     f"miniimagenet/), or no --data-root for $REPTILE_DATA")


THREADS_HELP = ("CPU threads for this process (default: $REPTILE_THREADS, else $OMP_NUM_THREADS outside torchrun, "
                "else the cores, divided among torchrun's processes on this machine; reptile.threads.configure)")


def experiment_parser(prog: str, doc: str | None, presets, example: str, *, seeds: tuple[int, ...] = (0,),
                      data_root: bool = False, field: str = "a field"):
    """A command line of an experiment: ``--preset`` (required; one of ``presets``, or None for a command that adds
    its own), ``--seeds`` (default ``seeds``), ``--set KEY=VALUE`` (``example`` shows one), ``--recompute``,
    ``--device``, ``--threads``, and with ``data_root`` ``--data-root``. ``field`` says what ``--set`` overrides.
    :func:`check_arguments` checks them."""
    parser = argparse.ArgumentParser(prog=prog, description=doc, formatter_class=argparse.RawDescriptionHelpFormatter)
    if presets is not None:
        parser.add_argument("--preset", required=True, help=f"one of: {', '.join(presets)}")
    parser.add_argument("--seeds", type=int, nargs="+", default=list(seeds),
                        help=f"seeds to make sure are stored (default {' '.join(map(str, seeds))})")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                        help=f"override {field}, e.g. {example} (repeatable)")
    parser.add_argument("--recompute", action="store_true", help="compute again even if the result exists")
    parser.add_argument("--device", default="auto", help="'auto' (CUDA when present), 'cpu', 'cuda', 'cuda:N'")
    parser.add_argument("--threads", type=int, default=None, help=THREADS_HELP)
    if data_root:
        parser.add_argument("--data-root", default=None, help="data root (default: $REPTILE_DATA)")
    parser.example = example
    return parser


def check_arguments(parser, a: argparse.Namespace) -> tuple[dict[str, Any], list[int]]:
    """Check every value of an :func:`experiment_parser`'s options, stopping with :func:`fail` on a bad one before
    any work; returns the overrides (``--set``) and the seeds."""
    overrides = parse_sets(parser, a.set, parser.example)
    seeds = check_seeds_argument(parser, a.seeds)
    check_threads_argument(parser, a.threads)
    check_device_argument(parser, a.device)
    if hasattr(a, "data_root"):
        check_data_root_argument(parser, a.data_root)
    return overrides, seeds


def run_experiment(parser, argv, load_or_run, options: tuple[str, ...] = ()) -> list[dict[str, Any]]:
    """Parse ``argv`` with an :func:`experiment_parser`, check every value (stopping with :func:`fail` on a bad
    one, before any work), then return ``load_or_run(preset, seeds, recompute, overrides, device=..., <each of
    options>=<its parsed value>)``, which validates the configuration before it computes. Its ValueError,
    FileNotFoundError or DivergedError stops the command the same way."""
    a = parser.parse_args(argv)
    overrides, seeds = check_arguments(parser, a)
    given = {name: getattr(a, name) for name in options}
    try:
        cpu_threads.configure(a.threads)
        return load_or_run(a.preset, seeds, a.recompute, overrides, device=a.device, **given)
    except (ValueError, FileNotFoundError, DivergedError) as e:
        fail(parser, e)
    raise AssertionError("unreachable")  # pragma: no cover - fail exits


def show(table, index: bool = True) -> None:
    """Print a table (a pandas DataFrame) whole, for the command lines: every column, no wrapping, floats to 3
    significant digits."""
    print(table.to_string(index=index, float_format="{:.3g}".format))
