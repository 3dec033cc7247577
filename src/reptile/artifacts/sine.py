"""Paper Section 3, paper Figure 1: the sine-wave chapter's figures, tables and verdict rows, rebuilt from stored
runs of :mod:`reptile.experiments.sine` without re-running anything."""

from __future__ import annotations

from typing import Sequence

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from ..results import pick_run
from ..stats import NOT_YET_RUN, Estimate, compare, mean_ci95, std
from .common import PM_COLUMN, Check, Table, pm_label, require_runs, stored_runs, verdict_words
from .common import table_checks  # noqa: F401 (the chapter's checks: sine.table_checks() in the notebook)

# The methods in the order tables and figures show them; a run shows those it holds.
METHOD_ORDER = ("reptile", "maml", "fomaml", "fomaml_k1", "joint")
METHOD_LABELS = {"reptile": "Reptile", "maml": "MAML", "fomaml": "First-order MAML",
                 "fomaml_k1": "First-order MAML (k = 1)", "joint": "Joint training"}
METHOD_COLORS = {"reptile": "tab:green", "maml": "tab:blue", "fomaml": "tab:purple", "fomaml_k1": "tab:orange",
                 "joint": "tab:gray"}
STEP_STYLES = {"0": ("pre-update", ":"), "1": ("after 1 step", "--"), "32": ("after 32 steps", "-")}


def held_methods(runs: Sequence[dict]) -> list[str]:
    """The methods the runs hold, in ``METHOD_ORDER`` (any method not listed there after them, as stored)."""
    require_runs(runs, "recompute=True")
    held = list(runs[0]["methods"])
    return [m for m in METHOD_ORDER if m in held] + [m for m in held if m not in METHOD_ORDER]


def _label(m: str) -> str:
    return METHOD_LABELS.get(m, m)


def run_summary(runs: Sequence[dict]) -> str:
    """A few short lines on what the numbers rest on: configuration, seeds, budget, evaluation tasks."""
    r0 = runs[0]
    cfg = r0["config"]
    iters = sorted({m["outer_iters"] for m in cfg["methods"].values()})
    seeds = [r["seed"] for r in runs]
    return (f"sine/{r0['name']}: {len(runs)} seed(s) {seeds}\n{', '.join(f'{i:,}' for i in iters)} outer "
            f"iterations, {cfg['eval_tasks']} held-out tasks per seed\n{cfg['activation']} MLP "
            f"1 -> {' -> '.join(map(str, cfg['hidden']))} -> 1")


# ------------------------------------------------------------------------------------------------------ table


def sine_mse_stats(runs: Sequence[dict], steps: Sequence[int] = (0, 1, 32)) -> pd.DataFrame:
    """Long table of the test MSE after each step, per method: the mean and 95% CI over all (seed, task) pairs
    (``mse``, ``ci95``) and their median; the mean and standard deviation of the per-seed means (``seed_mean``,
    ``seed_std``); the numbers of tasks and seeds."""
    rows = []
    for m in held_methods(runs):
        for s in steps:
            pooled, seed_means = [], []
            for r in runs:
                vals = r["methods"][m]["eval"]["mse_tasks"][str(s)]
                pooled += vals
                seed_means.append(sum(vals) / len(vals))
            mean, ci = mean_ci95(pooled)
            rows.append({"method": m, "steps": s, "mse": mean, "ci95": ci, "median": float(np.median(pooled)),
                         "seed_mean": float(np.mean(seed_means)), "seed_std": std(seed_means),
                         "tasks": len(pooled), "seeds": len(runs)})
    return pd.DataFrame(rows)


def _fmt(x: float) -> str:
    return f"{x:.3f}" if abs(x) < 1e4 else f"{x:.2e}"


def sine_table(runs: Sequence[dict], steps: Sequence[int] = (0, 1, 32)) -> pd.DataFrame:
    """The chapter's table: MSE on the 50-point grid after 0, 1 and 32 steps, as the paper reports its numbers:
    the mean over seeds ± the standard deviation of the per-seed means, or with one seed the mean over its tasks ±
    their 95% interval; the column ``± is`` says which. Then the median over all tasks after the last step (robust
    to a few diverging tasks)."""
    st = sine_mse_stats(runs, steps)
    table = {}
    for m, g in st.groupby("method", sort=False):
        row = {}
        for r in g.itertuples():
            mean, pm = (r.seed_mean, r.seed_std) if r.seeds >= 2 else (r.mse, r.ci95)
            row[f"MSE after {r.steps} step{'s' if r.steps != 1 else ''}"] = f"{_fmt(mean)} ± {_fmt(pm)}"
        row[PM_COLUMN] = pm_label(int(g["seeds"].iloc[0]))
        row[f"median after {steps[-1]}"] = _fmt(g["median"].iloc[-1])
        table[_label(m)] = row
    df = pd.DataFrame(table).T
    n_seeds = st["seeds"].iloc[0]
    df.index.name = f"{st['tasks'].iloc[0]} tasks, {n_seeds} seed{'s' if n_seeds != 1 else ''}"
    return df


def zero_function_mse(amplitude=(0.1, 5.0)) -> float:
    """Expected MSE of the prediction f = 0: ``E[a^2 sin^2(x + b)] = E[a^2] / 2`` for ``a ~ U[lo, hi]``, ``b`` uniform
    over a period. The floor that joint training cannot go below before adaptation."""
    lo, hi = amplitude
    return (hi**3 - lo**3) / (3 * (hi - lo)) / 2


def prediction_rms(runs: Sequence[dict], method: str, step: str = "0") -> float:
    """Root mean square of the network's output over [-5, 5] at ``step``, averaged over the stored figure tasks and
    seeds: how close to the zero function the initialisation is."""
    vals = []
    for r in runs:
        for t in r["methods"][method]["figure"]:
            p = np.asarray(t["prediction"][step])
            vals.append(float(np.sqrt(np.mean(p**2))))
    return float(np.mean(vals))


# ---------------------------------------------------------------------------------------------------- figures


def _panel(ax, task: dict, method: str, title: bool = True) -> None:
    x = np.asarray(task["x"])
    ax.plot(x, task["a"] * np.sin(x + task["b"]), color="black", lw=1.5, label="true function")
    for step, (label, ls) in STEP_STYLES.items():
        if step in task["prediction"]:
            ax.plot(x, task["prediction"][step], ls=ls, color=METHOD_COLORS.get(method), lw=1.5, label=label)
    ax.scatter(task["x_support"], task["y_support"], color="tab:red", zorder=3, s=18, label="10 sampled points")
    ax.set_xlim(x.min(), x.max())
    a = abs(task["a"])
    ax.set_ylim(-1.6 * a - 0.3, 1.6 * a + 0.3)  # a diverging prediction leaves the frame rather than flattening it
    if title:
        ax.set_title(_label(method))


def figure1(runs: Sequence[dict], seed: int | None = None, task: int | None = None):
    """Paper Figure 1 redrawn: MAML and Reptile on the same held-out sine task, before and after 1 and 32 SGD steps
    on 10 points.

    ``task`` indexes the stored figure tasks; by default the one with the largest amplitude, the most legible
    (:func:`figure1_task`)."""
    run = pick_run(runs, seed)
    methods = [m for m in ("maml", "reptile") if m in run["methods"]]
    if task is None:
        task = figure1_task(runs, seed)
    fig, axes = plt.subplots(1, len(methods), figsize=(5.2 * len(methods), 3.6), sharey=True, squeeze=False)
    for ax, m in zip(axes[0], methods):
        _panel(ax, run["methods"][m]["figure"][task], m)
        ax.set_xlabel("x")
    axes[0][0].set_ylabel("y")
    axes[0][-1].legend(loc="lower right", fontsize=8)
    fig.tight_layout()
    return fig


def figure1_task(runs: Sequence[dict], seed: int | None = None) -> int:
    """The stored figure task :func:`figure1` shows by default: the one with the largest amplitude."""
    run = pick_run(runs, seed)
    m = next(m for m in ("maml", "reptile", *run["methods"]) if m in run["methods"])
    stored = run["methods"][m]["figure"]
    return max(range(len(stored)), key=lambda i: stored[i]["a"])


def sine_predictions(runs: Sequence[dict], seed: int | None = None):
    """Every method (columns) on every stored held-out task (rows)."""
    run = pick_run(runs, seed)
    methods = held_methods(runs)
    n_tasks = len(run["methods"][methods[0]]["figure"])
    fig, axes = plt.subplots(n_tasks, len(methods), figsize=(3.4 * len(methods), 2.6 * n_tasks), sharex=True,
                             squeeze=False)
    for i in range(n_tasks):
        for j, m in enumerate(methods):
            _panel(axes[i][j], run["methods"][m]["figure"][i], m, title=i == 0)
            axes[i][j].title.set_fontsize(14)
    # one legend for the grid, below it and legible at the page's width (the grid is shrunk to fit the column)
    handles, labels = axes[0][-1].get_legend_handles_labels()
    fig.legend(handles, labels, loc="lower center", ncol=len(labels), fontsize=13, frameon=False)
    fig.tight_layout(rect=(0, 0.07, 1, 1))
    return fig


def sine_adaptation_curves(runs: Sequence[dict]):
    """Test MSE against the number of SGD steps on the 10 points: the mean over seeds of each seed's mean over its
    held-out tasks, and with several seeds a band from the lowest to the highest seed's curve."""
    fig, ax = plt.subplots(figsize=(6, 3.8))
    for m in held_methods(runs):
        curves = np.array([r["methods"][m]["eval"]["mse_by_step"] for r in runs])
        steps = np.arange(curves.shape[1])
        line, = ax.plot(steps, curves.mean(0), color=METHOD_COLORS.get(m), label=_label(m))
        if len(runs) > 1:
            ax.fill_between(steps, curves.min(0), curves.max(0), color=line.get_color(), alpha=0.2)
    ax.axhline(zero_function_mse(), color="black", ls=":", lw=1, label="f = 0")
    ax.set_xlabel("SGD steps on the 10 sampled points")
    ax.set_ylabel("MSE on [-5, 5]")
    ax.set_yscale("log")
    ax.legend(fontsize=8)
    fig.tight_layout()
    return fig


def sine_learning_curves(runs: Sequence[dict]):
    """Held-out MSE before adaptation and after 32 steps, against outer iterations: the mean over seeds (thick),
    and with several seeds each seed (thin, in the method's colour), so that a jump of the mean made by one seed
    shows as that seed's."""
    fig, axes = plt.subplots(1, 2, figsize=(10, 3.6), sharey=True)
    for ax, key, title in zip(axes, ("mse_step0", "mse_step32"), ("before adaptation", "after 32 steps")):
        for m in held_methods(runs):
            its = np.asarray(runs[0]["methods"][m]["curve"]["iteration"])
            vals = np.array([r["methods"][m]["curve"][key] for r in runs])
            if len(runs) > 1:
                for v in vals:
                    ax.plot(its, v, color=METHOD_COLORS.get(m), lw=0.6, alpha=0.35)
            ax.plot(its, vals.mean(0), color=METHOD_COLORS.get(m), lw=1.8, label=_label(m))
        ax.axhline(zero_function_mse(), color="black", ls=":", lw=1)
        ax.set_title(f"held-out MSE {title}")
        ax.set_xlabel("outer iteration")
        ax.set_yscale("log")
    axes[0].set_ylabel("MSE")
    axes[1].legend(fontsize=8)
    fig.tight_layout()
    return fig


def sine_key_numbers(runs: Sequence[dict]) -> dict[str, str]:
    """The numbers the chapter's prose quotes, formatted, keyed by name (glued into the text); from the learning
    curves (mean over seeds): the error after 32 steps at the first and last points, the factor between them, its
    lowest point and where, and the error before adaptation at the last point."""
    st = sine_mse_stats(runs).set_index(["method", "steps"])
    out = {"zero_mse": f"{zero_function_mse():.2f}", "n_seeds": str(len(runs)),
           "n_tasks": str(int(st["tasks"].iloc[0]))}
    for m in held_methods(runs):
        for s in (0, 1, 32):
            out[f"{m}_mse{s}"] = _fmt(st.loc[(m, s), "mse"])
            out[f"{m}_median{s}"] = _fmt(st.loc[(m, s), "median"])
        out[f"{m}_rms0"] = f"{prediction_rms(runs, m):.2f}"
        its, after = curve_mean(runs, m, "mse_step32")
        low, before = int(after.argmin()), curve_mean(runs, m, "mse_step0")[1]
        out |= {f"{m}_curve32_first": _fmt(after[0]), f"{m}_curve32_last": _fmt(after[-1]),
                f"{m}_curve32_fall": f"{after[0] / after[-1]:.1f}", f"{m}_curve32_low": _fmt(after[low]),
                f"{m}_curve32_low_at": f"{int(its[low]):,}", f"{m}_curve0_last": _fmt(before[-1]),
                f"{m}_curve32_then": _then(its, after, low)}
    return out


def _then(its: np.ndarray, after: np.ndarray, low: int) -> str:
    """What a learning curve does after its lowest point ``low``, for the prose: nothing (its last point), a rise to
    its last value, or, where a later point stands above twice the last one, the peak on the way as well."""
    if low == len(after) - 1:
        return ", its last point"
    peak = low + int(after[low:].argmax())
    if peak < len(after) - 1 and after[peak] > 2 * after[-1]:
        return (f", then rises, up to {_fmt(after[peak])} at outer iteration {int(its[peak]):,} (a mean over seeds, "
                f"which one seed's jump can carry), and is {_fmt(after[-1])} at the last point")
    return f", then rises to {_fmt(after[-1])} by the last point"


def curve_mean(runs: Sequence[dict], method: str, key: str) -> tuple[np.ndarray, np.ndarray]:
    """(iterations, the curve ``key`` of ``method`` averaged over seeds)."""
    its = np.asarray(runs[0]["methods"][method]["curve"]["iteration"])
    return its, np.array([r["methods"][method]["curve"][key] for r in runs]).mean(0)


# ------------------------------------------------------------------------------------- the chapter's tables


def _seed_means(runs: Sequence[dict], method: str, step: int) -> list[float]:
    return [float(np.mean(r["methods"][method]["eval"]["mse_tasks"][str(step)])) for r in runs]


def mse_estimate(runs: Sequence[dict], method: str, step: int) -> Estimate:
    """The test MSE of ``method`` after ``step`` fine-tuning steps as the book's rule takes it: with several seeds,
    the per-seed means (each over that seed's held-out tasks); with one seed, its mean over tasks with the standard
    error over those tasks."""
    if len(runs) >= 2:
        return Estimate.of(_seed_means(runs, method, step))
    vals = runs[0]["methods"][method]["eval"]["mse_tasks"][str(step)]
    return Estimate(float(np.mean(vals)), se=std(vals) / np.sqrt(len(vals)) if len(vals) >= 2 else None)


def _spread_words(runs: Sequence[dict]) -> str:
    n_tasks = len(runs[0]["methods"][held_methods(runs)[0]]["eval"]["mse_tasks"]["0"])
    if len(runs) >= 2:
        return (f"the mean over {len(runs)} seeds of each seed's mean over its {n_tasks} held-out tasks ± the standard "
                f"deviation across seeds")
    return f"the mean over {n_tasks} held-out tasks of one seed ± the half-width of its 95% interval over those tasks"


def table_mse(runs: Sequence[dict], steps: Sequence[int] = (0, 1, 32)) -> Table:
    """The chapter's MSE table (:func:`sine_table`) as the book shows it: what ± is, the seeds and tasks in the
    caption."""
    df = sine_table(runs, steps).drop(columns=[PM_COLUMN])
    n_pairs = sum(len(r["methods"][held_methods(runs)[0]]["eval"]["mse_tasks"][str(steps[-1])]) for r in runs)
    return Table(df, f"Test MSE on the 50-point grid of held-out tasks after {', '.join(map(str, steps[:-1]))} and "
                     f"{steps[-1]} SGD steps on 10 sampled points, one row per method. A cell is "
                     f"{_spread_words(runs)}; the median is over all {n_pairs:,} (seed, task) pairs.")


def table_maml_settings(runs: Sequence[dict]) -> Table:
    """How MAML and first-order MAML are run here (from the stored configuration) beside Finn et al.'s sine-wave
    MAML (their paper, Section 5.1, and their code's defaults and command for this problem)."""
    cfg = runs[0]["config"]
    m = cfg["methods"].get("maml") or next(iter(cfg["methods"].values()))
    inner_pass = m["inner_iters"] * m["inner_batch"] == cfg["grid_points"]
    ours = {
        "tasks per meta-batch": str(m["meta_batch"]),
        "inner loop (training)": (f"{m['inner_iters']} SGD steps of {m['inner_lr']:g} on minibatches of "
                                  f"{m['inner_batch']} grid points" + (" (one pass over the grid)" if inner_pass else "")),
        "meta-loss": f"on all {cfg['grid_points']} grid points of the task",
        "meta-optimiser": (f"{m['outer_optimizer'].capitalize()}, step {m['outer_step']:g}"
                           + (", annealed linearly to 0" if m["anneal"] else "")),
        "outer iterations": f"{m['outer_iters']:,}",
        "network": f"{cfg['activation']} MLP 1-{'-'.join(map(str, cfg['hidden']))}-1",
    }
    finn = {
        "tasks per meta-batch": "25",
        "inner loop (training)": "1 gradient step of 0.01 on K = 10 sampled points",
        "meta-loss": "on 10 further sampled points of the task",
        "meta-optimiser": "Adam, step 0.001",
        "outer iterations": "70,000",
        "network": "ReLU MLP 1-40-40-1",
    }
    df = pd.DataFrame({"here": ours, "Finn et al.": finn})
    return Table(df, "MAML on the sine tasks: as run here (first-order MAML likewise, without the second-order "
                     "terms) and as Finn et al. ran it (their paper; the outer iterations from the command their "
                     "code's README gives for this experiment). At test time both fine-tune on 10 sampled points.")


# ------------------------------------------------------------------------------ the front page's verdict rows


def _est_text(e: Estimate, runs: Sequence[dict]) -> str:
    if e.n >= 2:
        return f"{_fmt(e.mean)} ± {_fmt(e.sd)}"
    return f"{_fmt(e.mean)} ± {_fmt(e.standard_error())} (s.e. over tasks)"


def _basis(runs: Sequence[dict]) -> str:
    if len(runs) >= 2:
        return f"mean ± std over {len(runs)} seeds"
    return "1 seed"


def _keyed_checks(runs: Sequence[dict]) -> list[tuple[str, Check]]:
    held = held_methods(runs) if runs else []
    zero = Estimate(zero_function_mse(), se=0.0)
    rows: list[tuple[str, Check]] = []

    def add(key: str, needs: Sequence[str], judge, **fields) -> None:
        """``judge()`` gives (ours, comparison, verdict); no runs: "not yet run"; a method not held: no row."""
        if not runs:
            rows.append((key, Check(ours="-", z=None, verdict=NOT_YET_RUN, **fields)))
        elif all(m in held for m in needs):
            ours, c, verdict = judge()
            rows.append((key, Check(ours=f"{ours}; {_basis(runs)}", z=c.z, verdict=verdict, **fields)))

    def zero_check(m: str):
        e = mse_estimate(runs, m, 0)
        c = compare(e, zero)
        return f"{_est_text(e, runs)} against {_fmt(zero.mean)} for f = 0 (E[a²]/2)", c, c.agreement()

    def joint_check(m: str):
        e, joint = mse_estimate(runs, m, 32), mse_estimate(runs, "joint", 32)
        c = compare(joint, e)
        return f"{_est_text(e, runs)} against {_est_text(joint, runs)}", c, c.claim()

    for m, words in (("joint", "the expected loss is minimised by the zero function f = 0"),
                     ("reptile", "Reptile's initialisation outputs approximately f(x) = 0 before training")):
        add(f"{m}_zero", [m], lambda m=m: zero_check(m), item="paper Section 3",
            claim=f"{_label(m)} predicts about f = 0 before adaptation: its test MSE equals f = 0's, within the "
                  f"spread of which tasks each seed drew (a coarse check: it cannot tell a small output from none)",
            paper=words, where="sine.ipynb#sine-zero-function")
    for m in ("reptile", "maml"):
        add(f"{m}_vs_joint", [m, "joint"], lambda m=m: joint_check(m),
            item="paper Section 3 and Figure 1" if m == "reptile" else
            "paper Figure 1, extended by this book (the paper sets joint training beside Reptile only)",
            claim=f"after 32 SGD steps on 10 points, {_label(m)}'s test MSE is below joint training's",
            paper=("\"after Reptile training, the network can quickly converge to a sampled sine wave\"; training on the "
                   "expected loss is \"useless\", minimised by f = 0" if m == "reptile" else
                   "Figure 1's caption: \"Demonstration of MAML and Reptile\" (32 steps on 10 points); the comparison "
                   "with training on the expected loss is this book's, as for Reptile"),
            where="sine.ipynb#sine-test-error")
    return rows


def paper_checks(runs: Sequence[dict]) -> list[Check]:
    """The rows of the front page's verdict table for paper Section 3 and paper Figure 1, each judged by the book's
    rule (:func:`reptile.stats.compare`) over the stored seeds (one seed: its standard error over tasks):

    * paper Section 3: before adaptation, joint training and Reptile predict about f = 0 (their test MSE against
      f = 0's, E[a²]/2; verdict ``agreement()``: reproduces / differs);
    * paper Figure 1: after 32 SGD steps on 10 points, Reptile's and MAML's test MSE are below joint training's
      (verdict ``claim()``: holds / does not hold / not resolved).

    A method the runs do not hold gives no row; with no runs at all, every row says "not yet run"."""
    return [c for _, c in _keyed_checks(runs)]


def verdict_numbers(runs: Sequence[dict]) -> dict[str, str]:
    """Each verdict row as the prose quotes it (``"holds (z = +16.9)"``), keyed ``check_<method>_zero`` and
    ``check_<method>_vs_joint`` (glued into the text)."""
    return {f"check_{key}": verdict_words(c) for key, c in _keyed_checks(runs)}


def caption_numbers(runs: Sequence[dict], seed: int | None = None) -> dict[str, str]:
    """The numbers the chapter's figure captions quote (glued)."""
    run = pick_run(runs, seed)
    cfg = run["config"]
    m0 = held_methods(runs)[0]
    its = sorted({c["outer_iters"] for c in cfg["methods"].values()})
    return {"fig1_seed": str(run["seed"]), "fig1_task": str(figure1_task(runs, seed) + 1),
            "n_figure_tasks": str(len(run["methods"][m0]["figure"])),
            "tasks_per_seed": str(len(run["methods"][m0]["eval"]["mse_tasks"]["0"])),
            "curve_tasks": str(cfg["curve_tasks"]), "curve_every": f"{cfg['curve_every']:,}",
            "outer_iters": ", ".join(f"{i:,}" for i in its), "eval_iters": str(cfg["eval_iters"]),
            "seed_list": ", ".join(str(r["seed"]) for r in runs),
            "seeds_words": f"{len(runs)} seed{'s' if len(runs) != 1 else ''}",
            "band_words": ("the shaded band spans the lowest to the highest seed's curve." if len(runs) >= 2
                           else "with one seed there is no band.")}



def chapter_runs(results_dir=None) -> list[dict]:
    """The runs this chapter shows with its default parameters (preset ``paper``, every stored seed), for
    :func:`paper_checks` on the front page: ``paper_checks(chapter_runs())``."""
    from ..config import SINE_PRESETS, resolve

    return stored_runs("sine", resolve(SINE_PRESETS, "paper"), results_dir)
