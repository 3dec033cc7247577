"""One function per paper artifact, each rebuilt from stored results without re-running anything.

The paper's own numbers live in :mod:`reptile.paper`; everything here is computed from run records.
"""

from __future__ import annotations

from typing import Sequence

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from .results import pick_run
from .stats import mean_ci95, std

METHOD_LABELS = {"reptile": "Reptile", "maml": "MAML", "fomaml": "First-order MAML", "joint": "Joint training"}
METHOD_COLORS = {"reptile": "tab:green", "maml": "tab:blue", "fomaml": "tab:purple", "joint": "tab:gray"}
STEP_STYLES = {"0": ("pre-update", ":"), "1": ("after 1 step", "--"), "32": ("after 32 steps", "-")}


def _methods(runs: Sequence[dict]) -> list[str]:
    if not runs:
        raise ValueError("no runs to show: run the experiment first (recompute=True)")
    return list(runs[0]["methods"])


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
    """Long table of the test MSE after each step: mean and 95% CI over all (seed, task) pairs, and the standard
    deviation of the per-seed means."""
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
                         "seed_std": std(seed_means), "tasks": len(pooled), "seeds": len(runs)})
    return pd.DataFrame(rows)


def _fmt(x: float) -> str:
    return f"{x:.3f}" if abs(x) < 1e4 else f"{x:.2e}"


def sine_table(runs: Sequence[dict], steps: Sequence[int] = (0, 1, 32)) -> pd.DataFrame:
    """The chapter's table: MSE on the 50-point grid after 0, 1 and 32 steps, ``mean ± 95% CI``, and the median
    after the last step (robust to a few diverging tasks)."""
    st = sine_mse_stats(runs, steps)
    table = {}
    for m, g in st.groupby("method", sort=False):
        row = {f"MSE after {s} step{'s' if s != 1 else ''}": f"{_fmt(r.mse)} ± {_fmt(r.ci95)}"
               for s, r in zip(g["steps"], g.itertuples())}
        row[f"median after {steps[-1]}"] = _fmt(g["median"].iloc[-1])
        table[METHOD_LABELS[m]] = row
    df = pd.DataFrame(table).T
    df.index.name = f"{st['tasks'].iloc[0]} tasks, {st['seeds'].iloc[0]} seeds"
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
            ax.plot(x, task["prediction"][step], ls=ls, color=METHOD_COLORS[method], lw=1.5, label=label)
    ax.scatter(task["x_support"], task["y_support"], color="tab:red", zorder=3, s=18, label="10 sampled points")
    ax.set_xlim(x.min(), x.max())
    a = abs(task["a"])
    ax.set_ylim(-1.6 * a - 0.3, 1.6 * a + 0.3)  # a diverging prediction leaves the frame rather than flattening it
    if title:
        ax.set_title(METHOD_LABELS[method])


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
        ax.plot(steps, curves.mean(0), color=METHOD_COLORS[m], label=METHOD_LABELS[m])
        if len(runs) > 1:
            ax.fill_between(steps, curves.min(0), curves.max(0), color=METHOD_COLORS[m], alpha=0.2)
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
            ax.plot(its, vals.mean(0), color=METHOD_COLORS[m], label=METHOD_LABELS[m])
        ax.axhline(zero_function_mse(), color="black", ls=":", lw=1)
        ax.set_title(f"held-out MSE {title}")
        ax.set_xlabel("outer iteration")
        ax.set_yscale("log")
    axes[0].set_ylabel("MSE")
    axes[1].legend(fontsize=8)
    fig.tight_layout()
    return fig



def environment_table(runs: Sequence[dict]) -> pd.DataFrame:
    """Where each stored run came from."""
    rows = []
    for r in runs:
        e = r["environment"]
        rows.append({"experiment": f"{r['experiment']}/{r['name']}", "seed": r["seed"], "device": e["device"],
                     "torch": e["packages"].get("torch"), "python": e["python"],
                     "commit": (e["commit"] or "none")[:10] + ("+dirty" if e.get("dirty") else ""),
                     "date": e["date"][:10], "wall time (s)": round(r["wall_seconds"])})
    return pd.DataFrame(rows)




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


# The paper's artifacts and where this book stands on each (a chapter fills its row once its runs are stored).
PAPER_ARTIFACTS = [
    ("Section 3, Figure 1: sine-wave regression", "sine", "paper"),
    ("Section 4.1: Taylor-expansion identities", "taylor", None),
    ("Section 4.2, Figure 2: solution manifolds", "manifolds", None),
    ("Tables 1-2: few-shot classification (Mini-ImageNet, Omniglot)", "fewshot", None),
    ("Section 5.2, Figure 3: gradient combinations", "gradcomb", None),
]


def coverage_table(runs: Sequence[dict]) -> pd.DataFrame:
    """One row per paper artifact and stored configuration, with its seeds; 'not yet run' where nothing is stored."""
    rows = []
    for label, experiment, _ in PAPER_ARTIFACTS:
        by_name: dict[str, list[int]] = {}
        for r in runs:
            if r["experiment"] == experiment:
                by_name.setdefault(r["name"], []).append(r["seed"])
        if not by_name:
            rows.append({"paper artifact": label, "configuration": "-", "seeds": "not yet run"})
        for name, seeds in sorted(by_name.items()):
            rows.append({"paper artifact": label, "configuration": name, "seeds": str(sorted(seeds))})
    return pd.DataFrame(rows).set_index(["paper artifact", "configuration"])


def package_table(runs: Sequence[dict]) -> pd.DataFrame:
    """Python, device and package versions (rows) of each distinct environment among the stored runs (columns)."""
    combos: dict[tuple, list[str]] = {}
    for r in runs:
        e = r["environment"]
        key = (("python", e["python"]), ("device", e["device_name"]),
               *sorted((k, v or "-") for k, v in e["packages"].items()))
        combos.setdefault(key, []).append(f"{r['experiment']}/{r['name']}")
    columns = {}
    for i, (key, names) in enumerate(combos.items(), start=1):
        columns[f"environment {i} ({len(names)} runs)"] = dict(key)
    return pd.DataFrame(columns)

# ------------------------------------------------------------------------------------------ Tables 1 and 2


def _fewshot_cell_preset(dataset: str, column: str, row: str, budget: str) -> str:
    """The preset whose runs fill ``row`` x ``column`` of the paper's table (``column`` like '1-shot 5-way').
    Transduction is an evaluation mode: 'Reptile + Transduction' reads the transductive accuracy of the same runs,
    except 1-shot 5-way, which the paper trained with the Table 5 settings."""
    shots, way = column.split("-shot ")
    name = f"{dataset}-{shots}shot-{way.replace('-way', 'way')}"
    if row == "Reptile + Transduction" and column == "1-shot 5-way":
        name += "-transductive"
    return f"reduced-{name}" if budget == "reduced" else name


def _fewshot_cell(runs: Sequence[dict], transductive: bool) -> tuple[float, float, str]:
    """Mean accuracy over seeds (percent), its spread (std over seeds; the 95% task interval with one seed)."""
    key = "transductive" if transductive else "non_transductive"
    accs = [100 * r["eval"][key]["accuracy"] for r in runs]
    if len(accs) >= 2:
        return float(np.mean(accs)), std(accs), "std over seeds"
    return accs[0], 100 * runs[0]["eval"][key]["ci95"], "95% CI over tasks"


def fewshot_table(table: int, runs_by_name: dict[str, list[dict]], budget: str = "paper") -> pd.DataFrame:
    """Table 1 (Mini-ImageNet) or Table 2 (Omniglot) in the paper's layout: the paper's numbers, and ours from
    ``runs_by_name`` (preset name -> stored runs) at ``budget`` ('paper' or 'reduced'), or 'not yet run'."""
    from .paper import TABLE1, TABLE2

    check_in = {1: ("miniimagenet", TABLE1), 2: ("omniglot", TABLE2)}
    if table not in check_in:
        raise ValueError(f"table must be 1 (Mini-ImageNet) or 2 (Omniglot), got {table!r}")
    if budget not in ("paper", "reduced"):
        raise ValueError(f"budget must be 'paper' or 'reduced', got {budget!r}")
    dataset, paper = check_in[table]
    rows = {}
    for row, values in paper["rows"].items():
        rows[(row, "paper")] = {c: f"{m:.2f} ± {s:.2f}" for c, (m, s) in zip(paper["columns"], values)}
        if not row.startswith("Reptile"):
            continue  # the MAML rows are quoted by the paper from Finn et al.; this companion does not run MAML here
        ours = {}
        for c in paper["columns"]:
            found = runs_by_name.get(_fewshot_cell_preset(dataset, c, row, budget), [])
            if found:
                m, s, _ = _fewshot_cell(found, transductive=row.endswith("Transduction"))
                ours[c] = f"{m:.2f} ± {s:.2f}"
            else:
                ours[c] = "not yet run"
        rows[(row, "this companion" if budget == "paper" else "this companion, reduced budget")] = ours
    df = pd.DataFrame(rows).T
    df.index.names = ["", "source"]
    return df


def fewshot_basis(runs_by_name: dict[str, list[dict]]) -> pd.DataFrame:
    """What each stored few-shot configuration rests on: seeds, budget, evaluation tasks, measured speed."""
    rows = []
    for name, runs in sorted(runs_by_name.items()):
        c = runs[0]["config"]
        rows.append({"configuration": name, "budget": c["budget"], "seeds": str([r["seed"] for r in runs]),
                     "outer iterations": f"{c['meta']['outer_iters']:,}",
                     "evaluation tasks": f"{runs[0]['eval']['non_transductive']['tasks']:,}",
                     "device": runs[0]["environment"]["device"],
                     "s / outer iteration": f"{np.mean([r['seconds_per_outer_iter'] for r in runs]):.3f}",
                     "s / evaluation task": f"{np.mean([r['seconds_per_eval_task'] for r in runs]):.3f}"})
    if not rows:
        return pd.DataFrame({"configuration": ["none stored yet"]}).set_index("configuration")
    return pd.DataFrame(rows).set_index("configuration")


def fewshot_learning_curves(runs_by_name: dict[str, list[dict]]):
    """Test-split accuracy (non-transductive, a few tasks per point) against outer iterations, per configuration."""
    fig, ax = plt.subplots(figsize=(6.5, 3.8))
    for name, runs in sorted(runs_by_name.items()):
        its = np.asarray(runs[0]["curve"]["iteration"])
        vals = np.array([r["curve"]["test_accuracy"] for r in runs]) * 100
        ax.plot(its, vals.mean(0), label=f"{name} ({len(runs)} seeds)")
    ax.set_xlabel("outer iteration")
    ax.set_ylabel("test accuracy (%)")
    if runs_by_name:
        ax.legend(fontsize=7)
    else:
        ax.text(0.5, 0.5, "no few-shot runs stored yet", ha="center", va="center", transform=ax.transAxes)
    fig.tight_layout()
    return fig
