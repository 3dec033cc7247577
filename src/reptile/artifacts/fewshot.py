"""Tables 1 and 2 (few-shot classification) in the paper's layout, beside ours, and what our runs rest on; rebuilt
from stored runs of :mod:`reptile.fewshot_experiment` without re-running anything."""

from __future__ import annotations

from typing import Sequence

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from ..paper import TABLE1, TABLE2
from .common import PM_COLUMN, pm_label, seed_list, seed_spread
from .status import eval_device, run_device

PAPER_PM = pm_label(3)  # the paper's Reptile rows: the mean over 3 seeds ± the standard deviation across seeds
QUOTED_PM = "as quoted from Finn et al. (their 95% interval)"  # the paper's MAML rows, taken from Finn et al.
OURS = {"paper": "this companion, paper protocol", "reduced": "this companion, reduced budget"}  # our rows' source
TABLES = {1: ("miniimagenet", TABLE1), 2: ("omniglot", TABLE2)}  # the paper's table number -> dataset, its numbers


def _table(table: int):
    if table not in TABLES:
        raise ValueError(f"table must be 1 (Mini-ImageNet) or 2 (Omniglot), got {table!r}")
    return TABLES[table]


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
    dataset, paper = _table(table)
    if budget not in ("paper", "reduced"):
        raise ValueError(f"budget must be 'paper' or 'reduced', got {budget!r}")
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
        rows[(row, OURS[budget])] = ours
    df = pd.DataFrame(rows).T
    df.index.names = ["", "source"]
    return df


FAR = 3.0  # standard errors of a difference beyond which the seeds' spread does not explain it


def paper_comparison(table: int, runs_by_name: dict[str, list[dict]]) -> str:
    """Markdown: for each Reptile cell of Table 1 or 2 that has finished at the paper's protocol with at least two
    seeds, our mean against the paper's and their difference, in points and in standard errors of that difference,
    sqrt(s_ours² / n_ours + s_paper² / 3) (both ± are standard deviations over seeds; the paper's are over 3 seeds),
    saying so where that is more than :data:`FAR` of them. Cells that have not finished are not compared."""
    dataset, paper = _table(table)
    items = []
    for row, values in paper["rows"].items():
        if not row.startswith("Reptile"):
            continue
        for c, (pm, ps) in zip(paper["columns"], values):
            runs = runs_by_name.get(_fewshot_cell_preset(dataset, c, row, "paper"), [])
            if len(runs) < 2:
                continue
            m, s, _ = _fewshot_cell(runs, transductive=row.endswith("Transduction"))
            diff, se = m - pm, float(np.sqrt(s ** 2 / len(runs) + ps ** 2 / 3))
            tasks = runs[0]["eval"]["non_transductive"]["tasks"]
            items.append(f"- **{row}, {c}**: ours {m:.2f} ± {s:.2f} ({len(runs)} seeds, {tasks:,} test tasks each), "
                         f"the paper's {pm:.2f} ± {ps:.2f}: " + (
                             "the same to two decimals." if round(abs(diff), 2) == 0 else
                             f"ours is {abs(diff):.2f} points {'higher' if diff > 0 else 'lower'}, "
                             f"{abs(diff) / se:.1f} standard errors of the difference ({se:.2f})." + (
                                 f" More than the spread over seeds explains (over {FAR:g} standard errors)."
                                 if abs(diff) > FAR * se else "")))
    if not items:
        return f"No Reptile cell of Table {table} has finished at the paper's protocol yet."
    return (f"The cells of Table {table} finished at the paper's protocol, against the paper's numbers "
            f"(computed from the stored runs):\n\n" + "\n".join(items))


def fewshot_basis(runs_by_name: dict[str, list[dict]]) -> pd.DataFrame:
    """What each stored few-shot configuration rests on: seeds, budget, evaluation tasks, the device(s) that trained
    it (with their outer iterations, for a population trained a piece at a time), the device(s) of its final
    evaluation, measured speed (three significant figures: a GPU evaluates a task in well under a millisecond)."""
    rows = []
    for name, runs in sorted(runs_by_name.items()):
        c = runs[0]["config"]
        rows.append({"configuration": name, "budget": c["budget"], "seeds": seed_list(r["seed"] for r in runs),
                     "outer iterations": f"{c['meta']['outer_iters']:,}",
                     "evaluation tasks": f"{runs[0]['eval']['non_transductive']['tasks']:,}",
                     "device": run_device(runs[0]), "evaluated on": eval_device(runs[0]),
                     "s / outer iteration": f"{np.mean([r['seconds_per_outer_iter'] for r in runs]):.3g}",
                     "s / evaluation task": f"{np.mean([r['seconds_per_eval_task'] for r in runs]):.3g}"})
    if not rows:
        return pd.DataFrame({"configuration": ["none stored yet"]}).set_index("configuration")
    return pd.DataFrame(rows).set_index("configuration")


def campaign_curves(results_dir=None) -> dict[str, dict]:
    """Preset name -> the learning curves so far of its paper-protocol population under way in the campaign, read
    from the committed checkpoint (:mod:`reptile.campaign`): ``{"curves": one {"iteration", "test_accuracy"} per
    seed, "done": outer iterations done, "total": the preset's, "curve_tasks": tasks per point}``."""
    from ..campaign import PLAN, checkpoint_path, finished
    from ..train import load_checkpoint

    out = {}
    for entry in PLAN:
        path = checkpoint_path(entry, results_dir)
        if entry.experiment != "fewshot" or finished(entry, results_dir) or not path.exists():
            continue
        state = load_checkpoint(path)
        out[entry.name] = {"curves": state["curves"], "done": state["population"]["iteration"],
                           "total": entry.config.meta.outer_iters, "curve_tasks": entry.config.curve_tasks}
    return out


def _base(name: str) -> str:
    return name.removeprefix("reduced-")


def _draw_curves(ax, curves: Sequence[dict], color, label: str, dashed: bool = False) -> None:
    """The mean over seeds of ``curves`` (accuracy in percent against outer iterations), with a band of one standard
    deviation across seeds when there are several."""
    its = np.asarray(curves[0]["iteration"])
    vals = np.array([c["test_accuracy"] for c in curves]) * 100
    ax.plot(its, vals.mean(0), color=color, ls="--" if dashed else "-", label=label)
    if len(curves) > 1:
        sd = vals.std(0, ddof=1)
        ax.fill_between(its, vals.mean(0) - sd, vals.mean(0) + sd, color=color, alpha=0.15, lw=0)


def fewshot_learning_curves(runs_by_name: dict[str, list[dict]], in_progress: dict[str, dict] | None = None):
    """Test-split accuracy (non-transductive, ``curve_tasks`` tasks per seed and point) against outer iterations:
    the reduced-budget runs above; below the paper's budget, finished runs (solid) and the campaign's
    runs under way so far (dashed, from :func:`campaign_curves`). Mean over seeds, band: one standard deviation
    across seeds. A configuration has one colour in both panels."""
    in_progress = in_progress or {}
    panels = {"reduced": {}, "paper": {}}
    for name, runs in runs_by_name.items():
        panels["reduced" if runs[0]["config"]["budget"] == "reduced" else "paper"][name] = runs
    bases = sorted({_base(n) for n in [*runs_by_name, *in_progress]})
    colors = {b: plt.get_cmap("tab10")(i % 10) for i, b in enumerate(bases)}
    fig, axes = plt.subplots(2, 1, figsize=(7.5, 8))  # stacked: each panel as wide as the page
    for ax, budget in zip(axes, ("reduced", "paper")):
        tasks = set()
        for name, runs in sorted(panels[budget].items()):
            _draw_curves(ax, [r["curve"] for r in runs], colors[_base(name)], f"{name} ({len(runs)} seeds)")
            tasks.add(runs[0]["config"]["curve_tasks"])
        if budget == "paper":
            for name, got in sorted(in_progress.items()):
                if name in panels["paper"]:
                    continue
                _draw_curves(ax, got["curves"], colors[_base(name)],
                             f"{name} ({len(got['curves'])} seeds): so far, {got['done']:,} / {got['total']:,}",
                             dashed=True)
                tasks.add(got["curve_tasks"])
        per = f"; {' or '.join(map(str, sorted(tasks)))} test tasks per seed and point" if tasks else ""
        ax.set_title(("reduced budget" if budget == "reduced" else "the paper's budget") + per, fontsize=9)
        ax.set_xlabel("outer iteration")
        ax.set_ylabel("test accuracy (%)")
        if ax.lines:
            ax.legend(fontsize=7, loc="lower right")
        else:
            ax.text(0.5, 0.5, "no runs stored yet", ha="center", va="center", transform=ax.transAxes)
    fig.tight_layout()
    return fig
