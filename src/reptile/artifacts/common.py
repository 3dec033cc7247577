"""Helpers shared by the chapters' figures and tables.

Every table that shows ``mean ± spread`` says which spread it is, in the table's own text. The convention is the
paper's: the mean over seeds ± the standard deviation across seeds; with a single seed, where there is no spread
across seeds, the mean over that seed's evaluation tasks ± the half-width of its 95% confidence interval.
"""

from __future__ import annotations

from typing import Iterable, Sequence

import numpy as np

from ..stats import std

PM_COLUMN = "± is"  # the column that says what a row's ± is


def require_runs(runs: Sequence[dict], hint: str) -> None:
    """Raise if there is nothing stored to show; ``hint`` says how to compute it."""
    if not runs:
        raise ValueError(f"no runs to show: run the experiment first ({hint})")


def seed_list(seeds: Iterable[int]) -> str:
    """Seeds as every table shows them: space-separated, in the order given (``[0, 1, 2]`` -> ``"0 1 2"``)."""
    return " ".join(str(int(s)) for s in seeds)


def pm_label(n_seeds: int) -> str:
    """What ``±`` means for a value aggregated over ``n_seeds`` seeds: the standard deviation across seeds when
    there are several, else the 95% interval over the seed's evaluation tasks. (Short enough that a cell holding a
    value and this label in brackets stays within pandas' 50-character text column.)"""
    return f"std over {n_seeds} seeds" if n_seeds >= 2 else "95% interval over tasks, 1 seed"


def seed_spread(seed_values: Sequence[float], one_seed_ci95: float) -> tuple[float, float, str]:
    """``(mean, ±, label)`` by the convention above: with several seeds, the mean of the per-seed values and their
    standard deviation (n - 1); with one seed, its value and ``one_seed_ci95``, the half-width of its 95% interval
    over tasks."""
    n = len(seed_values)
    if n == 0:
        raise ValueError("seed_spread of no seeds")
    if n >= 2:
        return float(np.mean(seed_values)), std(seed_values), pm_label(n)
    return float(seed_values[0]), float(one_seed_ci95), pm_label(1)
