"""Paper Section 3's sine-wave chapter, its section on first-order MAML and the Jacobian it drops: the cosines that
every learning-curve point records (:mod:`reptile.experiments.sine`) as a figure, a table and the numbers the prose
quotes."""

from __future__ import annotations

from typing import Sequence

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from .common import Note, Table
from .sine import METHOD_COLORS, curve_mean, _fmt, _label, held_methods, zero_function_mse

JACOBIAN_KEYS = ("fo_maml_cosine", "fo_avggrad_cosine", "maml_avggrad_cosine")
SETTLED = 5000  # the Jacobian summaries average the curve points from this outer iteration on
DRIFT = 2  # a method drifts when its error before adaptation passes DRIFT x the f = 0 level at a curve point


def _inner_iters(runs: Sequence[dict], m: str) -> int:
    return runs[0]["config"]["methods"][m]["inner_iters"]


def jacobian_methods(runs: Sequence[dict]) -> list[str]:
    return [m for m in ("fomaml", "fomaml_k1", "maml", "reptile") if m in held_methods(runs)
            and JACOBIAN_KEYS[0] in runs[0]["methods"][m]["curve"]]


def sine_jacobian_curves(runs: Sequence[dict]):
    """Left: the cosine between first-order MAML's and MAML's mean meta-gradients at each method's initialisation
    (with its own k), i.e. how far the dropped Jacobian turns the step. Right: the cosine of first-order MAML's
    mean step with AvgGrad, the gradient of the error before adaptation (positive: the step lowers it)."""
    fig, axes = plt.subplots(1, 2, figsize=(10, 3.6), sharey=True)
    for m in jacobian_methods(runs):
        name = _label(m)
        label = name if "k =" in name else f"{name} (k = {_inner_iters(runs, m)})"
        for ax, key in zip(axes, ("fo_maml_cosine", "fo_avggrad_cosine")):
            its, vals = curve_mean(runs, m, key)
            if len(runs) > 1:  # each seed thinly beneath the mean: the seeds can differ in sign
                for r in runs:
                    c = r["methods"][m]["curve"]
                    ax.plot(c["iteration"], c[key], color=METHOD_COLORS.get(m), lw=0.6, alpha=0.35)
            ax.plot(its, vals, color=METHOD_COLORS.get(m), label=label, marker=".", lw=1.2)
    axes[0].set_title("cos(first-order MAML step, MAML step)")
    axes[1].set_title("cos(first-order MAML step, AvgGrad)")
    for ax in axes:
        ax.axhline(0, color="black", lw=0.8)
        ax.set_xlabel("outer iteration")
        ax.set_ylim(-1, 1)
    axes[0].set_ylabel(f"cosine (thick: mean over {len(runs)} seed{'s' if len(runs) != 1 else ''})")
    # one legend below both panels, where it covers no curve
    handles, labels = axes[0].get_legend_handles_labels()
    fig.legend(handles, labels, title="at the initialisation of", loc="lower center", ncol=min(len(labels), 3),
               fontsize=9, title_fontsize=9, frameon=False)
    fig.tight_layout(rect=(0, 0.08 * (1 + (len(labels) - 1) // 3), 1, 1))
    return fig


def sine_jacobian_table(runs: Sequence[dict]) -> pd.DataFrame:
    """Per method, averaged over the curve points from ``SETTLED`` outer iterations on (and over seeds): the MSE
    before adaptation, the cosine between first-order MAML's and MAML's mean steps, and each step's cosine with
    AvgGrad."""
    rows = {}
    for m in jacobian_methods(runs):
        its, _ = curve_mean(runs, m, "mse_step0")
        late = its >= SETTLED
        row = {"k": _inner_iters(runs, m)}
        for key, name in (("mse_step0", "MSE before adaptation"), ("fo_maml_cosine", "cos(FO step, MAML step)"),
                          ("fo_avggrad_cosine", "cos(FO step, AvgGrad)"),
                          ("maml_avggrad_cosine", "cos(MAML step, AvgGrad)")):
            row[name] = _fmt(curve_mean(runs, m, key)[1][late].mean())
        rows[f"at {_label(m)}'s initialisation"] = row
    df = pd.DataFrame.from_dict(rows, orient="index")
    df.index.name = f"mean from iteration {SETTLED:,}, {len(runs)} seed(s)"
    return df


def sine_jacobian_numbers(runs: Sequence[dict]) -> dict[str, str]:
    """The numbers the first-order MAML section quotes (glued into the text)."""
    out = {}
    for m in jacobian_methods(runs):
        its, _ = curve_mean(runs, m, "mse_step0")
        late = its >= SETTLED
        for key in JACOBIAN_KEYS:
            out[f"{m}_{key}"] = f"{curve_mean(runs, m, key)[1][late].mean():.2f}"
        pre = curve_mean(runs, m, "mse_step0")[1]
        out[f"{m}_mse0_peak"] = _fmt(pre.max())
        drift = np.nonzero(pre > DRIFT * zero_function_mse())[0]
        out[f"{m}_drift_start"] = f"{its[drift[0]]:,}" if len(drift) else "never"
    out["settled"] = f"{SETTLED:,}"
    return out


def _paper_iters() -> int:
    from ..config import SINE_PRESETS

    return max(c.outer_iters for c in SINE_PRESETS["paper"].methods.values())


def table_jacobian(runs: Sequence[dict]) -> Table | Note:
    """The chapter's table of :func:`sine_jacobian_table` as the book shows it, or, for a run too short to have curve
    points from ``SETTLED`` outer iterations on (the ``ci`` preset), a note that says so instead of a table of NaN."""
    methods = jacobian_methods(runs)
    its = np.asarray(runs[0]["methods"][methods[0]]["curve"]["iteration"]) if methods else np.array([])
    if not methods or not (its >= SETTLED).any():
        last = int(its.max()) if len(its) else 0
        return Note(f"These runs ({runs[0]['name']}) end at outer iteration {last:,}, before iteration "
                    f"{SETTLED:,} from which this table averages the learning-curve points, so there is nothing to "
                    f"average. The `paper` preset runs {_paper_iters():,}." if len(its) else
                    "These runs recorded no cosines (no method with plain SGD in its inner loop).")
    df = sine_jacobian_table(runs)
    df.index = [i.removeprefix("at ").removesuffix("'s initialisation") for i in df.index]
    df.index.name = None
    n_pts = int((its >= SETTLED).sum())
    cfg = runs[0]["config"]
    return Table(df, f"Mean over the {n_pts} learning-curve points from outer iteration {SETTLED:,} on and over "
                     f"{len(runs)} seed{'s' if len(runs) != 1 else ''}, at each method's initialisation (rows; k: its "
                     f"inner steps). Each point: {cfg['curve_tasks']} held-out tasks. FO step: first-order MAML's mean "
                     f"step; MAML step: MAML's mean step with the same k; AvgGrad: the gradient of the error before "
                     f"adaptation.")
