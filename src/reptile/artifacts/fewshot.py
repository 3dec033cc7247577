"""Tables 1 and 2 (few-shot classification) in the paper's layout, beside ours, and what our runs rest on; rebuilt
from stored runs of :mod:`reptile.fewshot_experiment` without re-running anything."""

from __future__ import annotations

from typing import Sequence

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from ..paper import TABLE1, TABLE2
from .common import PM_COLUMN, pm_label, seed_spread

PAPER_PM = pm_label(3)  # the paper's Reptile rows: the mean over 3 seeds ± the standard deviation across seeds
QUOTED_PM = "as quoted from Finn et al. (their 95% interval)"  # the paper's MAML rows, taken from Finn et al.


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
    """Mean accuracy over seeds (percent), its spread and what the spread is: the standard deviation over seeds,
    or with one seed the half-width of the 95% interval over its evaluation tasks."""
    key = "transductive" if transductive else "non_transductive"
    accs = [100 * r["eval"][key]["accuracy"] for r in runs]
    return seed_spread(accs, 100 * runs[0]["eval"][key]["ci95"])


def campaign_progress(results_dir=None) -> dict[str, str]:
    """Preset name -> how far the campaign (:mod:`reptile.campaign`) has taken its paper-protocol population, for
    the few-shot entries under way: outer iterations done of total, or evaluation tasks done of total. A cell of
    the paper-protocol table without a finished run shows it instead of 'not yet run'."""
    from ..campaign import progress

    out = {}
    for row in progress(results_dir=results_dir):
        experiment, name = row["population"].split("/", 1)
        if experiment != "fewshot" or row["state"] not in ("training", "evaluating"):
            continue
        done = row["outer iterations"] if row["state"] == "training" else row["evaluation tasks"] + " tasks"
        out[name] = f"{row['state']}: {done}"
    return out


def fewshot_table(table: int, runs_by_name: dict[str, list[dict]], budget: str = "paper",
                  progress: dict[str, str] | None = None) -> pd.DataFrame:
    """Table 1 (Mini-ImageNet) or Table 2 (Omniglot) in the paper's layout: the paper's numbers, and ours from
    ``runs_by_name`` (preset name -> stored runs) at ``budget`` ('paper' or 'reduced'), or 'not yet run' (or, for a
    cell whose preset is in ``progress``, what :func:`campaign_progress` says of its run under way).

    The column ``± is`` says what each row's ± is: the paper's rows, and ours with several seeds, are the mean over
    seeds ± the standard deviation across seeds; ours with one seed, the mean over its evaluation tasks ± their 95%
    interval. Where the cells of one of our rows differ in that, each cell says its own and the column 'per cell'."""
    check_in = {1: ("miniimagenet", TABLE1), 2: ("omniglot", TABLE2)}
    if table not in check_in:
        raise ValueError(f"table must be 1 (Mini-ImageNet) or 2 (Omniglot), got {table!r}")
    if budget not in ("paper", "reduced"):
        raise ValueError(f"budget must be 'paper' or 'reduced', got {budget!r}")
    dataset, paper = check_in[table]
    rows = {}
    for row, values in paper["rows"].items():
        rows[(row, "paper")] = {**{c: f"{m:.2f} ± {s:.2f}" for c, (m, s) in zip(paper["columns"], values)},
                                PM_COLUMN: PAPER_PM if row.startswith("Reptile") else QUOTED_PM}
        if not row.startswith("Reptile"):
            continue  # the MAML rows are quoted by the paper from Finn et al.; this companion does not run MAML here
        cells, presets = {}, {}
        for c in paper["columns"]:
            presets[c] = _fewshot_cell_preset(dataset, c, row, budget)
            found = runs_by_name.get(presets[c], [])
            if found:
                cells[c] = _fewshot_cell(found, transductive=row.endswith("Transduction"))
        labels = {label for _, _, label in cells.values()}
        ours = {}
        for c in paper["columns"]:
            if c not in cells:
                ours[c] = (progress or {}).get(presets[c], "not yet run")
                continue
            m, s, label = cells[c]
            ours[c] = f"{m:.2f} ± {s:.2f}" + ("" if len(labels) == 1 else f" ({label})")
        ours[PM_COLUMN] = labels.pop() if len(labels) == 1 else ("per cell" if labels else "-")
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
