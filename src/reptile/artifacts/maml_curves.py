"""The MAML chapter's learning curves: each run's transductive accuracy on held-out tasks during meta-training, after
its test-time steps (``curve_tasks`` tasks every ``curve_every`` outer iterations; tasks of the validation characters
under Finn et al.'s protocol, of the test characters under Reptile's, which has no validation split), from the
stored records and, for the campaign's full-budget entries, from their committed checkpoints while a seed is under
way. Beside them, the accuracy paper Table 2 quotes for the cell. Rebuilt from stored files; nothing here runs or
types a number."""

from __future__ import annotations

import re
from typing import Any

import matplotlib.pyplot as plt
import numpy as np

from .common import finish_curve_panel

MODE = "transductive"  # the curves' mode: Table 2's MAML rows are transductive, and every run records it


def _curve(curve: dict) -> dict[str, list]:
    """A stored curve (a record's or a checkpoint's) as iterations and accuracies in percent, its missing points
    dropped."""
    pairs = [(i, 100 * a) for i, a in zip(curve["iteration"], curve.get(f"curve_accuracy_{MODE}", []))
             if a is not None]
    return {"iteration": [i for i, _ in pairs], "accuracy": [a for _, a in pairs]}


def _cell(name: str) -> str | None:
    """The Omniglot cell a preset names, as paper Table 2 heads its columns ("1-shot 5-way"), or None."""
    cell = re.search(r"omniglot-(\d+)shot-(\d+)way", name)
    return f"{cell[1]}-shot {cell[2]}-way" if cell else None


def campaign_curves(results_dir=None) -> dict[str, dict[str, Any]]:
    """Preset -> the curves of the campaign's full-budget MAML entry, seed by seed, for every entry with a seed
    finished or under way: ``{"seeds": {seed: {"iteration", "accuracy", "done"}}, "total": outer iterations per
    seed, "curve_tasks": tasks per point}``; ``done`` is the outer iterations the seed has trained (its total once
    its record is written). A finished seed's curve is its record's; a seed under way, its checkpoint's."""
    from .. import results as R
    from ..campaign.plan import PLAN, maml_checkpoint
    from ..train import load_checkpoint

    out: dict[str, dict[str, Any]] = {}
    for entry in (e for e in PLAN if e.experiment == "maml"):
        cfg, seeds = entry.config, {}
        for s in entry.seeds:
            path = R.run_path(entry.experiment, entry.name, s, results_dir)
            record = R.read_run(path) if path.exists() else None
            if record is not None and record.get("digest") == cfg.digest():
                seeds[s] = {**_curve(record["curve"]), "done": cfg.outer_iters}
                continue
            ck = maml_checkpoint(entry, s, results_dir)
            if ck.exists():
                state = load_checkpoint(ck)
                seeds[s] = {**_curve(state["curve"]), "done": state["learner"]["iteration"]}
        if seeds:
            out[entry.name] = {"seeds": seeds, "total": cfg.outer_iters, "curve_tasks": cfg.curve_tasks}
    return out


def _paper_value(name: str) -> float | None:
    """The accuracy (%) paper Table 2 quotes for the preset's algorithm and cell (its MAML rows), or None."""
    from ..paper import TABLE2

    algorithm = "first-order MAML" if "fomaml-" in name else "MAML"
    row, column = TABLE2["rows"].get(f"{algorithm} + Transduction"), _cell(name)
    if row is None or column not in TABLE2["columns"]:
        return None
    return row[TABLE2["columns"].index(column)][0]


def readable(name: str) -> str:
    """A preset's algorithm and protocol in words: ``MAML, Finn et al.'s protocol`` for ``finn-maml-...``,
    ``first-order MAML, Reptile's protocol`` for ``fomaml-...`` (reduced or not, customised or not)."""
    kind = re.sub(r"^reduced-|-omniglot-\d+shot-\d+way$", "", name.split("-custom-")[0])
    algorithm = "first-order MAML" if kind.endswith("fomaml") else "MAML"
    return f"{algorithm}, {'Finn et al.' if kind.startswith('finn-') else 'Reptile'}'s protocol"


def _reduced_label(name: str, runs: list[dict]) -> str:
    """A reduced run's legend entry in a panel of one cell: its algorithm and protocol (:func:`readable`), what a
    customised preset changed where it changed the network, and its number of seeds."""
    label = readable(name)
    cfg = runs[0]["config"]
    if "-custom-" in name:
        network = cfg.get("network", cfg.get("protocol"))
        label += f", {network.capitalize()}'s network" if network != cfg.get("protocol") else ", customised"
    return f"{label} ({len(runs)} seed{'s' if len(runs) > 1 else ''})"


def _colour_key(name: str, runs: list[dict] | None = None) -> str:
    """What a curve's colour stands for, the same in every panel: the algorithm and protocol
    (:func:`readable`), and the network where a customised run swapped it (not the cell, not the budget)."""
    key = readable(name)
    if "-custom-" in name and runs:
        key += f", {runs[0]['config'].get('network')} network"
    return key


SEED_MARKERS = ("o", "s", "^", "D", "v")  # seed s of an entry: SEED_MARKERS[s % 5], so a preset's seeds part


def learning_curves(runs_by_name: dict[str, list[dict]], in_progress: dict[str, dict] | None = None):
    """Transductive accuracy on held-out tasks against outer iterations. Above, one panel per cell of the reduced-budget runs
    (the mean over their seeds), their budgets being too different to share an axis; below, the full-budget
    campaign entries seed by seed (solid once finished, dashed while under way, each seed its own marker,
    :data:`SEED_MARKERS`; from :func:`campaign_curves`), with
    the accuracy paper Table 2 quotes for each entry's algorithm and cell (dotted for MAML, dash-dotted for
    first-order MAML). An algorithm under a protocol (and a swapped network) has one colour in every panel."""
    in_progress = in_progress or {}
    reduced = {n: runs for n, runs in runs_by_name.items() if n.startswith("reduced-")}
    keys = sorted({_colour_key(n, reduced.get(n)) for n in {*reduced, *in_progress}})
    palette = {k: plt.get_cmap("tab10")(i % 10) for i, k in enumerate(keys)}
    colors = {n: palette[_colour_key(n, reduced.get(n))] for n in {*reduced, *in_progress}}
    cells = sorted({_cell(n) or "other" for n in reduced}, key=lambda c: (len(c), c)) or ["1-shot 5-way"]
    fig = plt.figure(figsize=(7.5, 8.5))
    grid = fig.add_gridspec(2, len(cells), height_ratios=(1, 1.15))
    above = [fig.add_subplot(grid[0, i]) for i in range(len(cells))]
    for ax, cell in zip(above, cells):
        here = {n: runs for n, runs in reduced.items() if (_cell(n) or "other") == cell}
        for name, runs in sorted(here.items()):
            curves = [_curve(r["curve"]) for r in runs]
            n = min(len(c["iteration"]) for c in curves)
            vals = np.array([c["accuracy"][:n] for c in curves])
            ax.plot(curves[0]["iteration"][:n], vals.mean(0), color=colors[name], label=_reduced_label(name, runs))
        tasks = sorted({runs[0]["config"]["curve_tasks"] for runs in here.values()})
        ax.set_title(f"{cell}, reduced budget\n(not the protocols')"
                     + (f"; {' or '.join(map(str, tasks))} held-out tasks per point" if tasks else ""), fontsize=9)
    ax = fig.add_subplot(grid[1, :])
    quoted: dict[tuple[str, str], float] = {}  # (algorithm, cell) -> the accuracy paper Table 2 quotes
    for name, got in sorted(in_progress.items()):
        for seed, c in sorted(got["seeds"].items()):
            under_way = c["done"] < got["total"]
            label = (f"{readable(name)}, {_cell(name)}, seed {seed}"
                     + (f": so far, {c['done']:,} / {got['total']:,}" if under_way else ""))
            ax.plot(c["iteration"], c["accuracy"], color=colors[name], ls="--" if under_way else "-", label=label,
                    marker=SEED_MARKERS[seed % len(SEED_MARKERS)], ms=3.5, markevery=max(1, len(c["iteration"]) // 8))
        value = _paper_value(name)
        if value is not None:
            quoted[("first-order MAML" if "fomaml-" in name else "MAML", _cell(name))] = value
    for (algorithm, cell), value in sorted(quoted.items()):
        ax.axhline(value, color="0.35", lw=1, ls=":" if algorithm == "MAML" else "-.",
                   label=f"paper Table 2, {algorithm}, {cell}: {value:.1f}")
    tasks = sorted({got["curve_tasks"] for got in in_progress.values()})
    ax.set_title("full budget (the campaign's entries)"
                 + (f"; {' or '.join(map(str, tasks))} held-out tasks per point" if tasks else ""), fontsize=9)
    for panel in above:
        finish_curve_panel(panel, f"{MODE} held-out accuracy (%)" if panel is above[0] else "", loc="best")
        if panel.get_legend() is not None:  # under the panel: the reduced curves fill it
            panel.legend(fontsize=7, loc="upper center", bbox_to_anchor=(0.5, -0.2), frameon=False)
    finish_curve_panel(ax, f"{MODE} held-out accuracy (%)", loc="best")
    fig.tight_layout()
    return fig


__all__ = ["campaign_curves", "learning_curves"]
