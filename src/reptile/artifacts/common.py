"""Helpers shared by the chapters' figures and tables.

Every table that shows ``mean ± spread`` says which spread it is, in the table's own text. The convention is the
paper's: the mean over seeds ± the standard deviation across seeds; with a single seed, where there is no spread
across seeds, the mean over that seed's evaluation tasks ± the half-width of its 95% confidence interval.
"""

from __future__ import annotations

import hashlib
import math
import re
from dataclasses import dataclass
from typing import Any, Iterable, Sequence

import numpy as np
import pandas as pd

from ..stats import std, z_text

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


class Table:
    """A table as the book shows it: a caption above it (what the rows are, what ± is, what every row shares), no
    index-name row, numbers right-aligned. In HTML (the book) a styled table with ``<caption>``; as plain text (what
    nbval compares) the caption and the frame, so the stored numbers stay under test.

    A chapter returns one from its artifact function: ``Table(df, "Final test accuracy, ...")``. Columns whose
    value is the same in every row belong in the caption, not in the table (:func:`constant_columns` finds them).
    """

    def __init__(self, frame: pd.DataFrame, caption: str, index: bool = True, precision: int = 2):
        self.frame, self.caption, self.index, self.precision = frame, caption, index, precision

    def _styler(self):
        df = self.frame.copy()
        if isinstance(df.index, pd.MultiIndex):
            df.index.names = [None] * df.index.nlevels
        else:
            df.index.name = None
        df.columns.name = None
        uuid = hashlib.sha1(self.caption.encode()).hexdigest()[:8]  # stable ids: re-executed pages diff cleanly
        sty = df.style.set_uuid(uuid).set_caption(self.caption).set_table_attributes('class="dataframe book-table"')
        sty = sty.format(precision=self.precision, thousands=",", na_rep="-")
        numeric = [c for c in df.columns if pd.api.types.is_numeric_dtype(df[c])]
        if numeric:
            sty = sty.set_properties(subset=numeric, **{"text-align": "right"})
        if not self.index:
            sty = sty.hide(axis="index")
        return sty

    def _repr_html_(self) -> str:
        return self._styler().to_html()

    def __repr__(self) -> str:
        df = self.frame.copy() if self.index else self.frame.reset_index(drop=True)
        if self.index and not isinstance(df.index, pd.MultiIndex):
            df.index.name = None
        return f"{self.caption}\n\n{df.to_string(index=self.index)}"


def constant_columns(frame: pd.DataFrame) -> dict[str, Any]:
    """The columns of ``frame`` that hold one value in every row (they go into the table's caption), by name."""
    if len(frame) < 2:
        return {}
    return {c: frame[c].iloc[0] for c in frame.columns if frame[c].astype(str).nunique() == 1}


class Note:
    """A short paragraph shown where a table has nothing to show (Markdown in the book, the text in plain form)."""

    def __init__(self, text: str):
        self.text = text

    def _repr_markdown_(self) -> str:
        return f"> **Note.** {self.text}"

    def __repr__(self) -> str:
        return f"Note. {self.text}"


@dataclass(frozen=True)
class Check:
    """One row of the front page's verdict table: a number or claim of the paper against this companion's stored
    runs, judged by the book's rule (:func:`reptile.stats.compare`; the verdict strings are ``reptile.stats``'
    constants: reproduces / differs / not resolved / not yet run for a number, holds / does not hold / not resolved
    for a claim). Each chapter's artifact module gives its rows with a ``paper_checks(...)`` function."""

    item: str     # what of the paper: "Figure 1", "Table 2, Reptile, 1-shot 5-way", "paper Eq. 15", ...
    claim: str    # what is compared, in a few words
    paper: str    # the paper's value or words ("95.32 ± 0.05"; "a picture"; "Reptile < joint training")
    ours: str     # ours, with its spread and basis ("95.38 ± 0.13 (3 seeds)"); "-" when not yet run
    z: float | None  # the difference in standard errors (None: none formed, e.g. a float64 identity)
    verdict: str
    where: str    # the chapter and label that shows it: "sine.ipynb#figure-1" style target for a Markdown link


def finish_curve_panel(ax, ylabel: str, loc: str = "lower right") -> None:
    """Label a learning-curve panel (outer iterations across, ``ylabel`` up) and give it its legend, or, with nothing
    drawn, say that no runs are stored."""
    ax.set_xlabel("outer iteration")
    ax.set_ylabel(ylabel)
    if ax.lines:
        ax.legend(fontsize=7, loc=loc)
    else:
        ax.text(0.5, 0.5, "no runs stored yet", ha="center", va="center", transform=ax.transAxes)


def fmt_number(value, digits) -> str:
    """A number as the status and speed tables show it: ``digits`` decimals (thousands separated), '-' where there is none;
    ``digits`` None: milliseconds from seconds, to about three significant figures."""
    if value is None or (isinstance(value, float) and value != value):
        return "-"
    if digits is None:
        ms = 1000 * value
        return f"{ms:,.{0 if ms >= 100 else 1 if ms >= 10 else 2 if ms >= 1 else 3}f}"
    return f"{value:,.{digits}f}"


def verdict_words(check: Check) -> str:
    """A verdict row as the chapters' prose quotes it: ``"holds (z = +16.9)"``, or the verdict alone where no z was
    formed (a deterministic check, or a standard error of zero)."""
    return (f"{check.verdict} (z = {z_text(check.z)})" if check.z is not None and math.isfinite(check.z)
            else check.verdict)


def table_checks(checks: Sequence[Check], caption: str | None = None) -> Table:
    """A chapter's verdict rows as a table (what the front page shows for that chapter)."""
    df = pd.DataFrame([{"paper": c.item, "claim": c.claim, "the paper says": c.paper, "ours": c.ours,
                        "z": "-" if c.z is None or not math.isfinite(c.z) else z_text(c.z), "verdict": c.verdict}
                       for c in checks])
    if caption is None:
        caption = "What the paper says and what the stored runs give, one row per claim."
        if any(c.z is not None for c in checks):
            caption += (" z: the difference over its standard error. By the book's rule a number reproduces the "
                        "paper's when |z| < 3 and differs when |z| ≥ 3; a claim holds when z ≥ 3, does not hold when "
                        "z ≤ −3, and is not resolved in between.")
        if any(c.z is None for c in checks):
            caption += " A row without z is judged against the tolerance its claim states."
    return Table(df, caption, index=False)


def stored_runs(experiment: str, config, results_dir=None) -> list[dict]:
    """The stored runs of ``config`` (every seed), read without computing anything: ``[]`` when none is stored; a
    run made with another configuration than ``config`` is refused, as the chapters refuse it."""
    from .. import results as R

    runs = R.load_runs(experiment, config.name, results_dir)
    R.refuse_stale(experiment, config, runs)
    return runs


# ------------------------------------------------------------------ tables of formatted numbers (status, speed)

_NUMBER = re.compile(r"^(?:[-+]?[\d,]*\.?\d+(?: ± [\d.]+)?|-)$")  # one formatted number, or "-"
_NUMBERS = re.compile(r"^[\d,.]+(?: [\d,.]+)*$")  # several, separated by spaces


class Aligned(Table):
    """A :class:`Table` whose columns of formatted numbers (text such as ``"1,171"``, ``"0.47"``, ``"-"``) are
    right-aligned like numbers, and kept on one line where they hold one number a cell. ``nowrap``: other columns,
    and ``nowrap_index``: index levels, kept on one line too (short values that would otherwise break, such as
    dates at their hyphens)."""

    def __init__(self, frame: pd.DataFrame, caption: str, nowrap: Sequence[str] = (),
                 nowrap_index: Sequence[int] = (), **kwargs):
        super().__init__(frame, caption, **kwargs)
        self.nowrap, self.nowrap_index = list(nowrap), list(nowrap_index)

    def _styler(self):
        sty = super()._styler()
        cols = [c for c in self.frame.columns if not pd.api.types.is_numeric_dtype(self.frame[c])]
        single = [c for c in cols if all(_NUMBER.match(str(v)) for v in self.frame[c])]
        several = [c for c in cols if c not in single and all(_NUMBER.match(str(v)) or _NUMBERS.match(str(v))
                                                              for v in self.frame[c])]
        if single or several:
            sty = sty.set_properties(subset=single + several, **{"text-align": "right"})
        if single or self.nowrap:
            # each column once: a column both of numbers and named in nowrap would select a frame, not a cell
            sty = sty.set_properties(subset=list(dict.fromkeys(single + self.nowrap)), **{"white-space": "nowrap"})
        for level in self.nowrap_index:
            sty = sty.map_index(lambda _: "white-space: nowrap", axis=0, level=level)
        return sty


def shared_columns(frame: pd.DataFrame, keep: Sequence[str] = ()) -> tuple[pd.DataFrame, str]:
    """``frame`` without its constant columns (those not in ``keep``), and the caption's words for them."""
    shared = {k: v for k, v in constant_columns(frame).items() if k not in keep}
    words = "; ".join(f"{k}: {v}" for k, v in shared.items())
    return frame.drop(columns=list(shared)), (f" Every row has {words}." if words else "")


def shown_name(experiment: str, name: str, config: dict) -> str:
    """A configuration's name as the page shows it: a customised preset (``<preset>-custom-<digest>``, run with
    ``--set``) by its preset and the settings it changed, where its experiment's presets are known."""
    base = name.split("-custom-")[0]
    if base == name:
        return name
    from ..config import FEWSHOT_PRESETS
    from ..maml.presets import PRESETS as MAML_PRESETS

    preset = {"fewshot": FEWSHOT_PRESETS, "maml": MAML_PRESETS}.get(experiment, {}).get(base)
    if preset is None:
        return name
    was = preset.to_dict()
    changed = [f"{k}={v}" for k, v in config.items() if k != "name" and k in was and was[k] != v]
    return f"{base}, customised: {', '.join(changed)}" if changed else name
