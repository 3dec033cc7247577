"""Tables 1 and 2 (few-shot classification) in the paper's layout, beside ours, and what our runs rest on; rebuilt
from stored runs of :mod:`reptile.experiments.fewshot` without re-running anything."""

from __future__ import annotations

import re
from collections import Counter
from typing import Sequence

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from ..config import FEWSHOT_PRESETS, table_cell_preset
from ..paper import MAML_ROW_SOURCE, TABLE1, TABLE2, printed
from ..stats import NOT_YET_RUN, THRESHOLD, UNDER_WAY, Estimate, compare, t975, z_text
from ..validate import check
from .common import (Check, Table, constant_columns, finish_curve_panel, pm_label, seed_list, seed_spread,
                     verdict_words)
from .environments import eval_device, run_device
from .transduction_batch import rerun_check

PAPER_PM = pm_label(3)  # the paper's Reptile rows: the mean over 3 seeds ± the standard deviation across seeds
QUOTED_PM = {1: "as the paper gives them (quoted from Finn et al., ± their 95% interval)",
             2: ("as the paper gives them (quoted from Finn et al., ± their 95% interval, but for the first-order "
                 "MAML row, which is not in Finn et al. and has no source)")}  # the paper's MAML rows (reptile.paper)
OURS = {"paper": "this companion, paper protocol", "reduced": "this companion, reduced budget"}  # our rows' source
TABLES = {1: ("miniimagenet", TABLE1), 2: ("omniglot", TABLE2)}  # the paper's table number -> dataset, its numbers


def _table(table: int):
    if table not in TABLES:
        raise ValueError(f"table must be 1 (Mini-ImageNet) or 2 (Omniglot), got {table!r}")
    return TABLES[table]


def _fewshot_cell(runs: Sequence[dict], transductive: bool) -> tuple[float, float, str]:
    """Mean accuracy over seeds (percent), its spread and what the spread is: the standard deviation over seeds,
    or with one seed the half-width of the 95% interval over its evaluation tasks."""
    key = "transductive" if transductive else "non_transductive"
    accs = [100 * r["eval"][key]["accuracy"] for r in runs]
    return seed_spread(accs, 100 * runs[0]["eval"][key]["ci95"])


def campaign_progress(results_dir=None, experiment: str = "fewshot") -> dict[str, str]:
    """Preset name -> how far the campaign (:mod:`reptile.campaign`) has taken its paper-protocol entry, for the
    entries of ``experiment`` ('fewshot' or 'maml') under way: outer iterations done of total (for a MAML entry,
    whose seeds train one after another, those of the seed under way), or evaluation tasks done of total. A cell of the paper-protocol table without a finished run shows it instead of 'not yet run'."""
    from ..campaign.plan import PLAN, progress

    out = {}
    for row in progress(results_dir=results_dir):
        kind, name = row["population"].split("/", 1)
        if kind != experiment or row["state"] not in ("training", "evaluating"):
            continue
        tasks = row["evaluation tasks"]
        done = row["outer iterations"] if row["state"] == "training" else (
            tasks.replace(" (a seed)", "") + " tasks of a seed" if tasks.endswith("(a seed)") else tasks + " tasks")
        entry = next((e for e in PLAN if e.experiment == kind and e.name == name), None)
        if row["state"] == "training" and kind == "maml" and entry is not None:  # its seeds train one after another
            it = int(done.split(" / ")[0].replace(",", ""))
            k = min(it // entry.outer_iters, len(entry.seeds) - 1)
            at = it - k * entry.outer_iters
            if at == 0:  # the seeds before it finished, this one has no checkpoint yet
                out[name] = f"seed {entry.seeds[k]} not started"
                continue
            done = f"seed {entry.seeds[k]} at {at:,} / {entry.outer_iters:,}"
        out[name] = f"{row['state']}: {done}"
    return out


def fewshot_table(table: int, runs_by_name: dict[str, list[dict]], budget: str = "paper",
                  progress: dict[str, str] | None = None, maml_runs: dict[str, list[dict]] | None = None,
                  maml_progress: dict[str, str] | None = None) -> Table:
    """Table 1 (Mini-ImageNet) or Table 2 (Omniglot) in the paper's layout: the paper's numbers, and ours from
    ``runs_by_name`` (preset name -> stored runs) at ``budget`` ('paper' or 'reduced'), or 'not yet run' (or, for a
    cell whose preset is in ``progress``, what :func:`campaign_progress` says of its run under way).

    The caption says what ± is: the paper's Reptile rows, and ours with several seeds, are the mean over seeds ± the
    standard deviation across seeds; ours with one seed, the mean over its evaluation tasks ± their 95% interval.
    Where our cells differ in that, each of our cells says its own. With ``maml_runs`` (preset -> stored runs of
    :mod:`reptile.maml.experiment`), Table 2's quoted MAML rows get this companion's runs of them beneath, under
    Finn et al.'s protocol and under Reptile's (:func:`reptile.artifacts.maml.table2_rows`; ``maml_progress``:
    :func:`campaign_progress` of the MAML entries, shown in their cells without a finished run)."""
    dataset, paper = _table(table)
    if budget not in ("paper", "reduced"):
        raise ValueError(f"budget must be 'paper' or 'reduced', got {budget!r}")
    cells, presets = {}, {}
    for row in paper["rows"]:
        if not row.startswith("Reptile"):
            continue  # the MAML rows are quoted by the paper from Finn et al.; this companion does not run MAML here
        for c in paper["columns"]:
            presets[(row, c)] = table_cell_preset(dataset, c, row, budget)
            found = runs_by_name.get(presets[(row, c)], [])
            if found:
                cells[(row, c)] = _fewshot_cell(found, transductive=row.endswith("Transduction"))
    labels = sorted({label for _, _, label in cells.values()})
    rows = {}
    for row, values in paper["rows"].items():
        rows[(row, "paper")] = {c: printed(table, row, m, s) for c, (m, s) in zip(paper["columns"], values)}
        if not row.startswith("Reptile"):
            if maml_runs is not None and table == 2:
                from .maml import table2_rows

                ours = table2_rows(maml_runs, budget, maml_progress)
                rows.update({key: cells for key, cells in ours.items() if key[0] == row})
            continue
        ours = {}
        for c in paper["columns"]:
            if (row, c) not in cells:
                ours[c] = "-" if presets[(row, c)] not in FEWSHOT_PRESETS else (progress or {}).get(
                    presets[(row, c)], "not yet run")  # "-": a cell with no preset at this budget
                continue
            m, s, label = cells[(row, c)]
            ours[c] = f"{m:.2f} ± {s:.2f}" + ("" if len(labels) == 1 else f" ({label})")
        rows[(row, OURS[budget])] = ours
    df = pd.DataFrame(rows).T
    ours_pm = labels
    caption = (f"Paper Table {table}, {'Mini-ImageNet' if table == 1 else 'Omniglot'}: accuracy (%) on new tasks, "
               f"the paper's rows ({PAPER_PM.replace('std', 'mean ± standard deviation')} for Reptile, as this book reads the "
               f"paper's confidence intervals; the MAML "
               f"rows {QUOTED_PM[table]}) and ours ({OURS[budget]}"
               + (f"; Reptile's ± is the {ours_pm[0].replace('std', 'standard deviation')}" if len(ours_pm) == 1
                  else "")
               + "). A cell without a finished run says how far its run has come, or not yet run."
               + (" This companion's MAML rows are transductive, as the quoted ones; their ± is the standard deviation "
                  "over seeds where several are stored, else the one seed's 95% interval over its test tasks."
                  if maml_runs is not None and table == 2 else "")
               + (" '-' marks a cell with no reduced preset." if any("-" in r.values() for r in rows.values())
                  else ""))
    caption += (" Reptile + Transduction's 1-shot 5-way cell is a run of its own, trained with paper Table 5's "
                "settings (the -transductive presets), so it is not the same networks as the Reptile row's cell and "
                "need not lie above it." if table == 2 else "")
    if budget == "reduced":
        caption += " Reduced budgets are not the paper's protocol."
    return Table(df, caption)


def _estimate(runs: Sequence[dict], transductive: bool) -> Estimate:
    """A cell's accuracy (%) for the book's rule: over seeds, or for one seed over its evaluation tasks."""
    key = "transductive" if transductive else "non_transductive"
    accs = [100 * r["eval"][key]["accuracy"] for r in runs]
    return Estimate.of(accs) if len(accs) >= 2 else Estimate(accs[0], se=100 * runs[0]["eval"][key]["ci95"] / 1.96)


def comparisons(table: int, runs_by_name: dict[str, list[dict]], progress: dict[str, str] | None = None) -> list[dict]:
    """Each Reptile cell of paper Table 1 or 2 against ours at the paper's protocol, by the book's rule
    (:func:`reptile.stats.compare`; the paper's ± read as standard deviations over 3 seeds): ``row``, ``column``,
    ``paper`` and ``ours`` (text), ``paper_values`` (mean, ±), ``seeds``, ``tasks``, ``comparison`` and ``estimate``
    (ours, :class:`reptile.stats.Estimate`; both None when not run) and ``verdict``
    (reproduces / differs / not resolved / not yet run, or under way for a cell the campaign is training, whose
    ``ours`` says how far it is)."""
    dataset, paper = _table(table)
    out = []
    for row, values in paper["rows"].items():
        if not row.startswith("Reptile"):
            continue
        for c, (pm, ps) in zip(paper["columns"], values):
            preset = table_cell_preset(dataset, c, row, "paper")
            runs = runs_by_name.get(preset, [])
            item = {"row": row, "column": c, "paper": f"{pm:.2f} ± {ps:.2f}", "paper_values": (pm, ps),
                    "preset": preset, "seeds": len(runs), "tasks": None, "comparison": None, "estimate": None,
                    "verdict": UNDER_WAY if preset in (progress or {}) else NOT_YET_RUN,
                    "ours": (progress or {}).get(preset, "not yet run")}
            if runs:
                ours = _estimate(runs, transductive=row.endswith("Transduction"))
                cmp = compare(ours, Estimate(pm, ps, 3))
                spread = f" ± {ours.sd:.2f}" if ours.n >= 2 else f" ± {1.96 * ours.standard_error():.2f} (95%, 1 seed)"
                item.update(ours=f"{ours.mean:.2f}{spread}", comparison=cmp, estimate=ours, verdict=cmp.agreement(),
                            tasks=runs[0]["eval"]["non_transductive"]["tasks"])
            out.append(item)
    return out


# How the paper's ± on its Reptile rows can be read (its words: reptile.paper.PM_SENTENCE), as the standard error of
# its mean over 3 seeds: the book's reading first (the rule's, book/protocol.md), then the two others the words allow.
PM_READINGS = {"the standard deviation over 3 seeds": lambda pm: pm / 3 ** 0.5,
               "the standard error of the mean": lambda pm: pm,
               "a 95% interval over 3 seeds (Student's t)": lambda pm: pm / t975(2)}


def pm_readings(runs_by_name: dict[str, list[dict]]) -> str:
    """Whether the finished Reptile cells' verdicts (Tables 1 and 2, the paper's protocol) depend on how the paper's
    ± is read (:data:`PM_READINGS`): a sentence naming each cell whose verdict changes, else saying none does, with
    the range of z over the readings of the cell whose z moves most."""
    first, *others = PM_READINGS
    cells, moved = 0, []
    widest = None
    for table in (1, 2):
        for it in comparisons(table, runs_by_name):
            if it["comparison"] is None:
                continue
            cells += 1
            (pm, ps), ours = it["paper_values"], it["estimate"]
            got = {r: compare(ours, Estimate(pm, se=f(ps))) for r, f in PM_READINGS.items()}
            name = f"Table {table}'s {it['row']}, {it['column']}"
            moved += [f"{name} ({r}: {c.agreement()}, z = {z_text(c.z)})" for r, c in got.items()
                      if c.agreement() != got[first].agreement()]
            zs = [c.z for c in got.values()]
            if widest is None or max(zs) - min(zs) > widest[1] - widest[0]:
                widest = (min(zs), max(zs), name)
    if not cells:
        return "No Reptile cell of Tables 1 and 2 is finished at the paper's protocol yet."
    alt = " or as ".join(others)
    head = (f"Read as {alt} instead of {first}, the paper's ± changes "
            + ("no verdict among" if not moved else "the verdicts of " + "; ".join(moved) + " among")
            + f" the {cells} finished Reptile cells. Their z values move, the most that of {widest[2]}, between "
              f"{z_text(widest[0])} and {z_text(widest[1])}.")
    return head


def comparison_table(table: int, runs_by_name: dict[str, list[dict]], progress: dict[str, str] | None = None) -> Table:
    """:func:`comparisons` as the chapter shows them: one row per Reptile cell of paper Table 1 or 2."""
    rows = []
    for it in comparisons(table, runs_by_name, progress):
        cmp = it["comparison"]
        rows.append({"cell": f"{it['row']}, {it['column']}", "paper": it["paper"], "ours": it["ours"],
                     "difference": "-" if cmp is None else f"{cmp.difference:+.2f}",
                     "z": "-" if cmp is None else z_text(cmp.z), "verdict": it["verdict"]})
    seeds = sorted({it["seeds"] for it in comparisons(table, runs_by_name) if it["seeds"]})
    tasks = sorted({it["tasks"] for it in comparisons(table, runs_by_name) if it["tasks"]})
    basis = (f"ours over {'/'.join(map(str, seeds))} seeds and {'/'.join(f'{t:,}' for t in tasks)} test tasks per "
             f"seed, " if seeds else "")
    caption = (f"Paper Table {table}'s Reptile cells against ours at the paper's protocol: accuracy (%), mean ± "
               f"standard deviation over seeds ({basis}the paper's over 3 seeds); difference in points; z, the "
               f"difference over its standard error; the verdict by the book's rule (reproduces when |z| < "
               f"{THRESHOLD:g}).")
    return Table(pd.DataFrame(rows).set_index("cell"), caption)


def cell_verdict(runs_by_name: dict[str, list[dict]], row: str, column: str, table: int = 2,
                 progress: dict[str, str] | None = None) -> str:
    """One cell's verdict as the chapter's prose quotes it (``"differs (z = -12.2)"``), from :func:`paper_checks`'
    row for it: the prose names the verdict the tables compute instead of typing it."""
    dataset = "Mini-ImageNet" if table == 1 else "Omniglot"
    item = f"paper Table {table} ({dataset}), {row}, {column}"
    found = [c for c in paper_checks(runs_by_name, progress) if c.item == item]
    check(len(found) == 1, f"no cell {row!r}, {column!r} in paper Table {table}")
    return verdict_words(found[0])


def paper_checks(runs_by_name: dict[str, list[dict]], progress: dict[str, str] | None = None,
                 maml_runs: dict[str, list[dict]] | None = None,
                 maml_progress: dict[str, str] | None = None) -> list[Check]:
    """The front page's rows for paper Tables 1 and 2: each Reptile cell, and Table 2's MAML rows (quoted by the
    paper; with ``maml_runs``, judged against this companion's runs of them under Finn et al.'s protocol,
    :func:`reptile.artifacts.maml.quoted_row_checks`). Table 1's MAML rows are no rows: this companion has no
    Mini-ImageNet preset for MAML, so nothing here checks them (the chapter's Table 1 still quotes them)."""
    rows = []
    for table in (2, 1):
        dataset, paper = _table(table)
        name = "Mini-ImageNet" if table == 1 else "Omniglot"
        for it in comparisons(table, runs_by_name, progress):
            cmp = it["comparison"]
            rows.append(Check(
                item=f"paper Table {table} ({name}), {it['row']}, {it['column']}", claim="",
                paper=it["paper"], ours=it["ours"] + (f" ({it['seeds']} seeds)" if it["seeds"] else ""),
                z=None if cmp is None else cmp.z, verdict=it["verdict"], where=f"fewshot.ipynb#fewshot-table{table}"))
        if table == 2:  # Table 2's transductive 1-shot 5-way cell run again and evaluated as the authors' command
            rows.append(rerun_check(runs_by_name, progress))
        for row, values in paper["rows"].items():
            if row.startswith("Reptile") or table == 1:
                continue
            columns = paper["columns"]
            items = [{"cells": columns, "ours": "-", "z": None, "verdict": NOT_YET_RUN}]
            where = f"fewshot.ipynb#fewshot-table{table}"
            if table == 2 and maml_runs is not None:  # this companion runs them (the MAML chapter), cell by cell
                from .maml import quoted_row_checks

                algorithm = "maml" if row.startswith("MAML") else "fomaml"
                items, where = quoted_row_checks(algorithm, maml_runs, maml_progress), "maml.ipynb#maml-table2"
            for it in items:
                cells = [values[columns.index(c)] for c in it["cells"]]
                own = len(it["cells"]) == 1 and it["verdict"] != NOT_YET_RUN  # a cell with its own row
                rows.append(Check(
                    item=f"paper Table {table} ({name}), {row}" + (f", {it['cells'][0]}" if own else ""),
                    claim="" if own else (f"{len(cells)} cells" if len(cells) == len(columns) else
                                          f"{len(cells)} other cell{'s' if len(cells) > 1 else ''}: "
                                          + ", ".join(it["cells"])),
                    paper=", ".join(printed(table, row, m, s) for m, s in cells)
                    + f" ({MAML_ROW_SOURCE[(table, row)]})",
                    ours=it["ours"], z=it["z"], verdict=it["verdict"], where=where))
    return rows


def trained_states(results_dir=None) -> str:
    """The configurations whose trained state is stored beside their records (``trained-seeds*.pt``, kept by the
    campaign when a population finishes since it began keeping them), as the chapter's prose names them."""
    from ..results import results_root

    names = sorted({p.parent.name for p in (results_root(results_dir) / "fewshot").glob("*/trained-*.pt")})
    return ", ".join(names) or "none yet"  # plain text: a glued string is not parsed as Markdown


def paper_transduction_gain() -> str:
    """What transduction adds to Reptile's 1-shot 5-way accuracy in the paper, in points, as the chapter's text quotes
    it, ``"<points> (Mini-ImageNet, Table 1) and <points> (Omniglot, Table 2)"``, from :mod:`reptile.paper`."""
    def gain(t):
        i = t["columns"].index("1-shot 5-way")
        return t["rows"]["Reptile + Transduction"][i][0] - t["rows"]["Reptile"][i][0]

    return f"{gain(TABLE1):.1f} (Mini-ImageNet, Table 1) and {gain(TABLE2):.1f} (Omniglot, Table 2)"


def our_transduction_gain(runs_by_name: dict[str, list[dict]], preset: str = "omniglot-1shot-5way") -> str:
    """What transduction alone adds on our runs of ``preset`` (the same networks evaluated both ways), in points,
    mean ± standard deviation over seeds, as the chapter's text quotes it; "not yet run" when nothing is stored."""
    runs = runs_by_name.get(preset, [])
    if not runs:
        return "not yet run"
    gains = [100 * (r["eval"]["transductive"]["accuracy"] - r["eval"]["non_transductive"]["accuracy"]) for r in runs]
    mean, spread, label = seed_spread(gains, float("nan"))
    return f"{mean:.2f}" + (f" ± {spread:.2f}" if len(gains) >= 2 else "") + f" ({len(gains)} seeds)"


def status_summary(runs_by_name: dict[str, list[dict]], progress: dict[str, str] | None = None,
                   as_of: str | None = None, maml_runs: dict[str, list[dict]] | None = None,
                   maml_progress: dict[str, str] | None = None) -> str:
    """One paragraph, generated from the stored runs, on where the chapter's paper-protocol cells stand (the cells
    under way with their progress ``as_of`` a date, :func:`reptile.artifacts.verdict.progress_date`), Table 2's
    second run of a cell where it has a verdict, and with ``maml_runs`` (and ``maml_progress``) where this
    companion's runs of the MAML rows Table 2 quotes stand, as the front page counts them."""
    parts = []
    for table in (2, 1):
        items = comparisons(table, runs_by_name, progress)
        done = [it for it in items if it["comparison"] is not None]
        verdicts = [it["verdict"] for it in done]
        plural = {"reproduces": "reproduce", "differs": "differ"}
        counts = ", ".join(f"{verdicts.count(v)} {v if verdicts.count(v) == 1 else plural.get(v, v)}"
                           for v in ("reproduces", "differs", "not resolved") if verdicts.count(v))
        going = [f"{it['row']}, {it['column']} ({it['ours']})" for it in items
                 if it["comparison"] is None and it["ours"] != "not yet run"]
        name = "Omniglot" if table == 2 else "Mini-ImageNet"
        if not done and not going:
            parts.append(f"Paper Table {table} ({name}): its {len(items)} Reptile cells not yet run")
        else:
            parts.append(f"Paper Table {table} ({name}): {len(done)} of {len(items)} Reptile cells finished at the "
                         f"paper's protocol" + (f" ({counts})" if counts else "") +
                         (f"; under way: {'; '.join(going)}" + (f" (as of {as_of})" if as_of else "") if going
                          else "") + ("; the rest not yet run" if len(done) + len(going) < len(items) else ""))
        again = rerun_check(runs_by_name, progress) if table == 2 else None
        if again is not None and again.verdict not in (UNDER_WAY, NOT_YET_RUN):
            cell = again.item.split("), ", 1)[1].removesuffix(", a second run")
            parts[-1] += f"; a second run of {cell}, {again.claim}, {again.verdict} (z = {z_text(again.z)})"
        if table == 2 and maml_runs is not None:
            from .maml import quoted_row_checks

            cells = Counter()
            for it in quoted_row_checks("maml", maml_runs, maml_progress):
                cells[it["verdict"]] += len(it["cells"])
            parts[-1] += ("; its quoted MAML row, run by this companion under Finn et al.'s protocol: "
                          + ", ".join(f"{n} cell{'s' if n > 1 else ''} {v}" for v, n in cells.items())
                          + (f" (progress as of {as_of})" if as_of and UNDER_WAY in cells else "")
                          + "; its first-order MAML row has no source to reproduce, so no verdict (the MAML chapter "
                            "shows our runs of it); both rows under Reptile's protocol are the MAML chapter's")
        parts[-1] += "."
    return " ".join(parts)


def _seconds_by_device(runs: list[dict]) -> str:
    """Seconds of training per outer iteration: per device where the runs record their pieces (a population trained a
    piece at a time on several devices; its pieces' times are the population's), else the runs' mean."""
    segments = ((runs[0].get("engine") or {}).get("segments") if isinstance(runs[0].get("engine"), dict) else None)
    if segments and all("seconds" in g for g in segments):
        seconds, iters = {}, {}
        for g in segments:
            seconds[g["device"]] = seconds.get(g["device"], 0.0) + g["seconds"]
            iters[g["device"]] = iters.get(g["device"], 0) + g["end"] - g["start"]
        parts = [(d, seconds[d] / iters[d]) for d in seconds if iters[d] > 0]
        if len(parts) > 1:
            return "; ".join(f"{d}: {v:.3g}" for d, v in parts)
    return f"{np.mean([r['seconds_per_outer_iter'] for r in runs]):.3g}"


def fewshot_basis(runs_by_name: dict[str, list[dict]]) -> Table:
    """What each stored few-shot configuration rests on: seeds, budget, evaluation tasks, the device(s) that trained
    it (with their outer iterations, for a population trained a piece at a time), the device(s) of its final
    evaluation, measured speed (three significant figures: a GPU evaluates a task in well under a millisecond)."""
    rows = []
    for name, runs in sorted(runs_by_name.items()):
        c = runs[0]["config"]
        rows.append({"configuration": name, "budget": c["budget"], "seeds": seed_list(r["seed"] for r in runs),
                     "outer iterations": f"{c['meta']['outer_iters']:,}",
                     "evaluation tasks": f"{runs[0]['eval']['non_transductive']['tasks']:,}",
                     "trained on": run_device(runs[0]), "evaluated on": eval_device(runs[0]),
                     "engine": "population" if "engine" in runs[0] else "one seed at a time",
                     "s / outer iteration": _seconds_by_device(runs),
                     "s / evaluation task": f"{np.mean([r['seconds_per_eval_task'] for r in runs]):.3g}"})
    if not rows:
        return Table(pd.DataFrame({"configuration": ["none stored yet"]}).set_index("configuration"),
                     "The stored few-shot runs.")
    df = pd.DataFrame(rows).set_index("configuration")
    shared = constant_columns(df)
    return Table(df.drop(columns=list(shared)),
                 "What each stored few-shot configuration rests on: its seeds, budget, evaluation tasks per seed, the "
                 "devices that trained and evaluated it (with the outer iterations each ran), and its measured speed "
                 "(seconds of training per outer iteration, on each device where several trained it, and seconds per "
                 "evaluation task on the device that evaluated it). The engine column says how the seeds ran: as "
                 "one population, whose evaluation adapts many test tasks of every seed side by side (far faster per "
                 "task, most of all on a GPU), or one seed at a time; compare speeds "
                 "within one engine"
                 + (". Every configuration has " + "; ".join(f"{k} {v}" for k, v in shared.items()) if shared else "")
                 + ".")


def campaign_curves(results_dir=None) -> dict[str, dict]:
    """Preset name -> the learning curves so far of its paper-protocol population under way in the campaign, read
    from the committed checkpoint (:mod:`reptile.campaign`): ``{"curves": one {"iteration", "test_accuracy"} per
    seed, "done": outer iterations done, "total": the preset's, "curve_tasks": tasks per point}``."""
    from ..campaign.plan import PLAN, checkpoint_path, finished
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


SUFFIX_WORDS = {"transductive": "trained for transduction (paper Table 5)",
                "eval25": "evaluated in batches of 25", "v2": "the authors' later settings"}


def readable(name: str) -> str:
    """A few-shot preset in words, as a legend shows it: ``omniglot-1shot-5way-transductive-eval25`` is "Omniglot
    1-shot 5-way, trained for transduction (paper Table 5), evaluated in batches of 25"; a customised preset adds
    "customised". The budget is the panel's, so it is not said."""
    base, custom = name.split("-custom-")[0], "-custom-" in name
    m = re.fullmatch(r"(?:reduced-)?(omniglot|miniimagenet)-(\d+)shot-(\d+)way((?:-[a-z0-9]+)*)", base)
    if m is None:
        return name
    data = {"omniglot": "Omniglot", "miniimagenet": "Mini-ImageNet"}[m[1]]
    words = [f"{data} {m[2]}-shot {m[3]}-way"] + [SUFFIX_WORDS.get(x, x) for x in m[4].split("-") if x]
    return ", ".join(words + (["customised"] if custom else []))


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
            _draw_curves(ax, [r["curve"] for r in runs], colors[_base(name)], f"{readable(name)} ({len(runs)} seeds)")
            tasks.add(runs[0]["config"]["curve_tasks"])
        if budget == "paper":
            for name, got in sorted(in_progress.items()):
                if name in panels["paper"]:
                    continue
                _draw_curves(ax, got["curves"], colors[_base(name)],
                             f"{readable(name)} ({len(got['curves'])} seeds): so far, {got['done']:,} / "
                             f"{got['total']:,}",
                             dashed=True)
                tasks.add(got["curve_tasks"])
        per = f"; {' or '.join(map(str, sorted(tasks)))} test tasks per seed and point" if tasks else ""
        ax.set_title(("reduced budget" if budget == "reduced" else "the paper's budget") + per, fontsize=9)
        finish_curve_panel(ax, "test accuracy (%)")
    fig.tight_layout()
    return fig
