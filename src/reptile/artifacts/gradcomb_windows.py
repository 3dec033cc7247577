"""Where two of Figure 3's learning curves cross: their difference window by window over training.

Paper Section 5.2's claim 2 ("two-step Reptile is noticeably worse than two-step FOMAML") is judged in two readings
(:data:`reptile.artifacts.gradcomb.READINGS`), at the end of training and over the whole learning curve, which can
disagree when the curves cross. :func:`window_table` shows where: the difference between the two curves' mean
accuracies over each quarter of training, and :func:`crossing_text` says from which point on one curve stays below
the other. Both describe the curves; they are not verdicts (windows chosen after seeing the curves would make four
more tests of one claim), and the book's verdicts stay those of the two readings.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from ..stats import Estimate, compare, z_text
from .common import Table
from .gradcomb import RunsByCurve, _curves, _runs, combination

WINDOWS = 4  # quarters of training


def _aligned(runs_by_curve: RunsByCurve, first: str, second: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The iterations both curves share and each curve's accuracy (%) per seed there, cut to the shorter."""
    it_a, a = _curves(_runs(runs_by_curve, first))
    it_b, b = _curves(_runs(runs_by_curve, second))
    n = min(len(it_a), len(it_b))
    if not np.array_equal(it_a[:n], it_b[:n]):
        raise ValueError(f"the curves {first} and {second} are not evaluated at the same iterations")
    return it_a[:n], a[:, :n], b[:, :n]


def window_table(runs_by_curve: RunsByCurve, first: str = "last2", second: str = "sum2",
                 windows: int = WINDOWS) -> Table:
    """One row per window of training (``windows`` equal spans of outer iterations, the first one holding the point
    at iteration 0): each curve's mean accuracy (%) over the window's learning-curve points, as mean ± standard
    deviation over seeds, and ``first`` minus ``second`` with its z by the book's rule
    (:func:`reptile.stats.compare`). Defaults: claim 2's curves, g2 (``last2``) and g1+g2 (``sum2``)."""
    if not _runs(runs_by_curve, first) or not _runs(runs_by_curve, second):
        missing = [c for c in (first, second) if not _runs(runs_by_curve, c)]
        frame = pd.DataFrame({"": ["not yet run"]}, index=["every window"])
        return Table(frame, f"{combination(first)} against {combination(second)} by window of training: not yet run "
                            f"({', '.join(missing)} not stored).")
    it, a, b = _aligned(runs_by_curve, first, second)
    edges = np.linspace(0, it[-1], windows + 1)
    rows = {}
    for w in range(windows):
        inside = (it <= edges[w + 1]) & ((it > edges[w]) if w else (it >= edges[0]))
        if not inside.any():
            continue
        ea, eb = Estimate.of(a[:, inside].mean(1).tolist()), Estimate.of(b[:, inside].mean(1).tolist())
        c = compare(ea, eb)
        label = f"{int(it[inside][0]):,} to {int(it[inside][-1]):,}"
        rows[label] = {"points": int(inside.sum()), combination(first): f"{ea.mean:.2f} ± {ea.sd:.2f}",
                       combination(second): f"{eb.mean:.2f} ± {eb.sd:.2f}",
                       f"{combination(first)} minus {combination(second)}": f"{c.difference:+.2f}",
                       "z": z_text(c.z)}
    frame = pd.DataFrame(rows).T
    caption = (f"{combination(first)} against {combination(second)}, window by window: each curve's mean test "
               f"accuracy (%) over the learning-curve points of each quarter of training (rows: the outer "
               f"iterations of its first and last point), ± the standard deviation over {a.shape[0]} seeds; z is the "
               f"difference over its standard error. A description of where the curves cross, not a verdict.")
    return Table(frame, caption)


def crossing_text(runs_by_curve: RunsByCurve, first: str = "last2", second: str = "sum2") -> str:
    """A sentence on where ``first``'s mean curve (over seeds) stands against ``second``'s: at how many points it
    lies above, and from which point to the end it stays on the side where it ends; empty when either is not
    stored."""
    if not _runs(runs_by_curve, first) or not _runs(runs_by_curve, second):
        return ""
    it, a, b = _aligned(runs_by_curve, first, second)
    d = a.mean(0) - b.mean(0)
    end = np.sign(d[-1])
    if end == 0:
        return (f"The mean curves of {combination(first)} and {combination(second)} end level, at iteration "
                f"{int(it[-1]):,}.")
    k = len(d)
    while k > 0 and d[k - 1] * end > 0:  # the last run of points on the side where the curves end
        k -= 1
    side = "above" if end > 0 else "below"
    other = "below" if end > 0 else "above"
    before = int((d[:k] * end < 0).sum())
    tail = len(d) - k
    text = (f"Over seeds, {combination(first)}'s mean curve lies {side} {combination(second)}'s at every point from "
            f"iteration {int(it[k]):,} to the end ({tail} of {len(d)} points)")
    if k == 0:
        return text + "."
    return text + (f"; before it, {other} at {before} of the {k} points from iteration {int(it[0]):,} to "
                   f"{int(it[k - 1]):,}.")
