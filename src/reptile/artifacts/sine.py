"""Section 3, Figure 1: the sine-wave chapter's figures and tables, rebuilt from stored runs of
:mod:`reptile.sine_experiment` without re-running anything."""

from __future__ import annotations

from typing import Sequence

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from ..results import pick_run
from ..stats import mean_ci95, std
from .common import PM_COLUMN, pm_label, require_runs

# The methods in the order tables and figures show them; a run shows those it holds.
METHOD_ORDER = ("reptile", "maml", "fomaml", "fomaml_k1", "joint")
METHOD_LABELS = {"reptile": "Reptile", "maml": "MAML", "fomaml": "First-order MAML",
                 "fomaml_k1": "First-order MAML (k = 1)", "joint": "Joint training"}
METHOD_COLORS = {"reptile": "tab:green", "maml": "tab:blue", "fomaml": "tab:purple", "fomaml_k1": "tab:orange",
                 "joint": "tab:gray"}
STEP_STYLES = {"0": ("pre-update", ":"), "1": ("after 1 step", "--"), "32": ("after 32 steps", "-")}


def _methods(runs: Sequence[dict]) -> list[str]:
    """The methods the runs hold, in ``METHOD_ORDER`` (any method not listed there after them, as stored)."""
    require_runs(runs, "recompute=True")
    held = list(runs[0]["methods"])
    return [m for m in METHOD_ORDER if m in held] + [m for m in held if m not in METHOD_ORDER]


def _label(m: str) -> str:
    return METHOD_LABELS.get(m, m)


def run_summary(runs: Sequence[dict]) -> str:
    """One line on what the numbers rest on: configuration, seeds, budget, evaluation tasks."""
    r0 = runs[0]
    cfg = r0["config"]
    iters = sorted({m["outer_iters"] for m in cfg["methods"].values()})
    seeds = [r["seed"] for r in runs]
    return (f"sine/{r0['name']}: {len(runs)} seed(s) {seeds}, {', '.join(f'{i:,}' for i in iters)} outer "
            f"iterations, {cfg['eval_tasks']} held-out tasks per seed, {cfg['activation']} MLP "
            f"1 -> {' -> '.join(map(str, cfg['hidden']))} -> 1")


# ------------------------------------------------------------------------------------------------------ table


def sine_mse_stats(runs: Sequence[dict], steps: Sequence[int] = (0, 1, 32)) -> pd.DataFrame:
    """Long table of the test MSE after each step, per method: the mean and 95% CI over all (seed, task) pairs
    (``mse``, ``ci95``) and their median; the mean and standard deviation of the per-seed means (``seed_mean``,
    ``seed_std``); the numbers of tasks and seeds."""
    rows = []
    for m in _methods(runs):
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
    """Figure 1: MAML and Reptile on the same held-out sine task, before and after 1 and 32 SGD steps on 10 points.

    ``task`` indexes the stored figure tasks; by default the one with the largest amplitude, the most legible."""
    run = pick_run(runs, seed)
    methods = [m for m in ("maml", "reptile") if m in run["methods"]]
    if task is None:
        stored = run["methods"][methods[0]]["figure"]
        task = max(range(len(stored)), key=lambda i: stored[i]["a"])
    fig, axes = plt.subplots(1, len(methods), figsize=(5.2 * len(methods), 3.6), sharey=True, squeeze=False)
    for ax, m in zip(axes[0], methods):
        _panel(ax, run["methods"][m]["figure"][task], m)
        ax.set_xlabel("x")
    axes[0][0].set_ylabel("y")
    axes[0][-1].legend(loc="lower right", fontsize=8)
    fig.suptitle(f"Figure 1 (seed {run['seed']}, held-out task {task})", fontsize=10)
    fig.tight_layout()
    return fig


def sine_predictions(runs: Sequence[dict], seed: int | None = None):
    """Every method (columns) on every stored held-out task (rows)."""
    run = pick_run(runs, seed)
    methods = _methods(runs)
    n_tasks = len(run["methods"][methods[0]]["figure"])
    fig, axes = plt.subplots(n_tasks, len(methods), figsize=(3.4 * len(methods), 2.6 * n_tasks), sharex=True,
                             squeeze=False)
    for i in range(n_tasks):
        for j, m in enumerate(methods):
            _panel(axes[i][j], run["methods"][m]["figure"][i], m, title=i == 0)
    axes[0][-1].legend(fontsize=7, loc="lower right")
    fig.tight_layout()
    return fig


def sine_adaptation_curves(runs: Sequence[dict]):
    """Test MSE against the number of SGD steps on the 10 points, mean over seeds with the min-max band."""
    fig, ax = plt.subplots(figsize=(6, 3.8))
    for m in _methods(runs):
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
    """Held-out MSE before adaptation and after 32 steps, against outer iterations (mean over seeds)."""
    fig, axes = plt.subplots(1, 2, figsize=(10, 3.6), sharey=True)
    for ax, key, title in zip(axes, ("mse_step0", "mse_step32"), ("before adaptation", "after 32 steps")):
        for m in _methods(runs):
            its = np.asarray(runs[0]["methods"][m]["curve"]["iteration"])
            vals = np.array([r["methods"][m]["curve"][key] for r in runs])
            ax.plot(its, vals.mean(0), color=METHOD_COLORS.get(m), label=_label(m))
        ax.axhline(zero_function_mse(), color="black", ls=":", lw=1)
        ax.set_title(f"held-out MSE {title}")
        ax.set_xlabel("outer iteration")
        ax.set_yscale("log")
    axes[0].set_ylabel("MSE")
    axes[1].legend(fontsize=8)
    fig.tight_layout()
    return fig


def sine_key_numbers(runs: Sequence[dict]) -> dict[str, str]:
    """The numbers the chapter's prose quotes, formatted, keyed by name (glued into the text)."""
    st = sine_mse_stats(runs).set_index(["method", "steps"])
    out = {"zero_mse": f"{zero_function_mse():.2f}", "n_seeds": str(len(runs)),
           "n_tasks": str(int(st["tasks"].iloc[0]))}
    for m in _methods(runs):
        for s in (0, 1, 32):
            out[f"{m}_mse{s}"] = _fmt(st.loc[(m, s), "mse"])
            out[f"{m}_median{s}"] = _fmt(st.loc[(m, s), "median"])
        out[f"{m}_rms0"] = f"{prediction_rms(runs, m):.2f}"
    return out


# --------------------------------------------------------------------------------- first-order MAML and J

JACOBIAN_KEYS = ("fo_maml_cosine", "fo_avggrad_cosine", "maml_avggrad_cosine")
SETTLED = 5000  # the Jacobian summaries average the curve points from this outer iteration on


def _curve_mean(runs: Sequence[dict], method: str, key: str) -> tuple[np.ndarray, np.ndarray]:
    """(iterations, the curve ``key`` of ``method`` averaged over seeds)."""
    its = np.asarray(runs[0]["methods"][method]["curve"]["iteration"])
    return its, np.array([r["methods"][method]["curve"][key] for r in runs]).mean(0)


def _inner_iters(runs: Sequence[dict], m: str) -> int:
    return runs[0]["config"]["methods"][m]["inner_iters"]


def _jacobian_methods(runs: Sequence[dict]) -> list[str]:
    return [m for m in ("fomaml", "fomaml_k1", "maml", "reptile") if m in _methods(runs)
            and JACOBIAN_KEYS[0] in runs[0]["methods"][m]["curve"]]


def sine_jacobian_curves(runs: Sequence[dict]):
    """Left: the cosine between first-order MAML's and MAML's mean meta-gradients at each method's initialisation
    (with its own k), i.e. how far the dropped Jacobian turns the step. Right: the cosine of first-order MAML's
    mean step with AvgGrad, the gradient of the error before adaptation (positive: the step lowers it)."""
    fig, axes = plt.subplots(1, 2, figsize=(10, 3.6), sharey=True)
    for m in _jacobian_methods(runs):
        label = f"at {_label(m)}'s initialisation (k = {_inner_iters(runs, m)})"
        for ax, key in zip(axes, ("fo_maml_cosine", "fo_avggrad_cosine")):
            its, vals = _curve_mean(runs, m, key)
            ax.plot(its, vals, color=METHOD_COLORS.get(m), label=label, marker=".", lw=1)
    axes[0].set_title("cos(first-order MAML step, MAML step)")
    axes[1].set_title("cos(first-order MAML step, AvgGrad)")
    for ax in axes:
        ax.axhline(0, color="black", lw=0.8)
        ax.set_xlabel("outer iteration")
        ax.set_ylim(-1, 1)
    axes[0].set_ylabel(f"cosine (mean over {len(runs)} seed(s))")
    axes[1].legend(fontsize=7, loc="lower left")
    fig.tight_layout()
    return fig


def sine_jacobian_table(runs: Sequence[dict]) -> pd.DataFrame:
    """Per method, averaged over the curve points from ``SETTLED`` outer iterations on (and over seeds): the MSE
    before adaptation, the cosine between first-order MAML's and MAML's mean steps, and each step's cosine with
    AvgGrad."""
    rows = {}
    for m in _jacobian_methods(runs):
        its, _ = _curve_mean(runs, m, "mse_step0")
        late = its >= SETTLED
        row = {"k": _inner_iters(runs, m)}
        for key, name in (("mse_step0", "MSE before adaptation"), ("fo_maml_cosine", "cos(FO step, MAML step)"),
                          ("fo_avggrad_cosine", "cos(FO step, AvgGrad)"),
                          ("maml_avggrad_cosine", "cos(MAML step, AvgGrad)")):
            row[name] = _fmt(_curve_mean(runs, m, key)[1][late].mean())
        rows[f"at {_label(m)}'s initialisation"] = row
    df = pd.DataFrame.from_dict(rows, orient="index")
    df.index.name = f"mean from iteration {SETTLED:,}, {len(runs)} seed(s)"
    return df


def sine_jacobian_numbers(runs: Sequence[dict]) -> dict[str, str]:
    """The numbers the first-order MAML section quotes (glued into the text)."""
    out = {}
    for m in _jacobian_methods(runs):
        its, _ = _curve_mean(runs, m, "mse_step0")
        late = its >= SETTLED
        for key in JACOBIAN_KEYS:
            out[f"{m}_{key}"] = f"{_curve_mean(runs, m, key)[1][late].mean():.2f}"
        pre = _curve_mean(runs, m, "mse_step0")[1]
        out[f"{m}_mse0_peak"] = _fmt(pre.max())
        drift = np.nonzero(pre > 2 * zero_function_mse())[0]
        out[f"{m}_drift_start"] = f"{its[drift[0]]:,}" if len(drift) else "never"
    out["settled"] = f"{SETTLED:,}"
    return out
