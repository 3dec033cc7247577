"""Reptile and MAML under one protocol (beyond the paper): the MAML and first-order MAML runs of
:mod:`reptile.maml.experiment` under Finn et al.'s Omniglot protocol and under Reptile's, shown beside Reptile's runs
and the rows paper Table 2 quotes, judged by the book's one rule (:func:`reptile.stats.compare`). Rebuilt from stored
runs without re-running anything."""

from __future__ import annotations

import math
from dataclasses import replace
from typing import Sequence

import pandas as pd

from ..paper import MAML_ROW_SOURCE, TABLE2, printed
from ..validate import check
from ..stats import NO_SOURCE, NOT_YET_RUN, THRESHOLD, UNDER_WAY, Estimate, compare, z_text
from .common import Aligned, Table

ALGORITHM = {"maml": "MAML", "fomaml": "first-order MAML"}
PROTOCOL = {"finn": "Finn et al.'s", "reptile": "Reptile's"}
PAPER_ROW = {"maml": "MAML + Transduction", "fomaml": "first-order MAML + Transduction"}  # paper Table 2's rows
COLUMNS = tuple(TABLE2["columns"])  # '1-shot 5-way', ...
MODE = {"transductive": "transductive", "non_transductive": "non-transductive"}
SHORT = {"maml": "MAML", "fomaml": "FOMAML", "transductive": "T", "non_transductive": "NT"}  # the runs' table


def _cell(column: str) -> str:
    """A column of paper Table 2 as the presets name its cell: ``'1-shot 5-way'`` -> ``'omniglot-1shot-5way'``."""
    shots, way = column.split("-shot ")
    return f"omniglot-{shots}shot-{way.replace('-way', 'way')}"


def _column(cfg: dict) -> str:
    return f"{cfg['shots']}-shot {cfg['n_way']}-way"


def stored(results_dir=None) -> dict[str, list[dict]]:
    """Preset name -> its stored runs (every seed), for every MAML preset with any, and for every customised one
    stored; a run made with another configuration than its preset now defines is refused
    (:func:`reptile.artifacts.common.stored_runs`)."""
    from ..maml.presets import EXPERIMENT, PRESETS
    from .common import stored_runs

    from .. import results as R

    out = {}
    for name, cfg in PRESETS.items():
        runs = stored_runs(EXPERIMENT, cfg, results_dir)
        if runs:
            out[name] = runs
    # runs of a customised preset (--set / overrides: <preset>-custom-<digest>), whose configuration is their own
    for folder in sorted((R.results_root(results_dir) / EXPERIMENT).glob("*-custom-*")):
        runs = R.load_runs(EXPERIMENT, folder.name, results_dir)
        if runs:
            out[folder.name] = runs
    return out


FULL_SEEDS = 3  # a full-budget cell is finished with this many seeds stored


def _campaign_state(progress: dict[str, str] | None, as_of: str | None = None) -> str:
    """Where the campaign's full-budget entries stand, from ``progress`` (preset -> how far its entry under way has
    come, :func:`reptile.artifacts.fewshot.campaign_progress`), as of the date of its checkpoints (``as_of``)."""
    if not progress:
        return "The full-budget cells are campaign entries, queued after Reptile's (Status page)."
    under_way = "; ".join(f"`{n}`, {text}" for n, text in sorted(progress.items()))
    return (f"The full-budget cells are campaign entries; under way{f' as of {as_of}' if as_of else ''}: "
            f"{under_way} (Status page).")


def standing(runs_by_name: dict[str, list[dict]], progress: dict[str, str] | None = None,
             as_of: str | None = None) -> str:
    """The chapter's opening status, in Markdown, from what is stored: how many of the full-budget presets (both
    protocols, both algorithms, every cell) are finished with :data:`FULL_SEEDS` seeds, and so whether the chapter
    tests the paper's claim yet (only cells under Reptile's protocol can), and what the rest of what is stored
    shows; with ``progress``, the campaign's entries under way (as of ``as_of``)."""
    from ..maml.presets import PRESETS

    full = [n for n in PRESETS if not n.startswith("reduced-") and n != "ci"]
    done = [n for n in full if len(runs_by_name.get(n, [])) >= FULL_SEEDS]
    tested = [n for n in done if not n.startswith("finn-")]  # Reptile's protocol: the algorithms on equal terms
    reduced = sorted(n for n in runs_by_name if n.startswith("reduced-"))
    head = (f"**Where this chapter stands:** {len(done)} of the {len(full)} full-budget cells (MAML and first-order "
            f"MAML, both protocols, Omniglot's four columns) {'is' if len(done) == 1 else 'are'} finished with "
            f"{FULL_SEEDS} seeds"
            + (f": {', '.join(f'`{n}`' for n in done)}." if done else "."))
    if tested:
        return (head + " The comparisons of the algorithms at the full budget below rest on those under Reptile's "
                       "protocol. " + _campaign_state(progress, as_of))
    parts = []
    partial = [f"`{n}`, {len(runs_by_name[n])} of {FULL_SEEDS} seeds finished" for n in full
               if runs_by_name.get(n) and n not in done]
    if partial:
        parts.append(f"the full-budget comparisons below wait for their seeds ({'; '.join(partial)})")
    if done:
        parts.append(f"the finished {'cell' if len(done) == 1 else 'cells'} under Finn et al.'s protocol "
                     f"{'checks' if len(done) == 1 else 'check'} the MAML rows that paper Table 2 prints, not the claim")
    if reduced:
        seeds = sorted({len(runs_by_name[n]) for n in reduced})
        parts.append(f"the {len(reduced)} reduced-budget runs ({' or '.join(map(str, seeds))} seed"
                     f"{'s' if seeds != [1] else ''} each, a few hundred outer iterations at most) check the pipeline "
                     f"and measure the cost")
    return (head + " Until cells under Reptile's protocol are, this chapter does **not** test the paper's claim"
            + (": " + "; ".join(parts) if parts else "") + ". " + _campaign_state(progress, as_of))


def _estimate(runs: Sequence[dict], mode: str, step: int | None = None) -> Estimate:
    """Accuracy (%) after test step ``step`` (default the last): over seeds, or for one seed over its test tasks
    (the standard error from the stored 95% half-width: Finn's 1.96, Student's t over thousands of tasks ~1.96).
    Under Finn et al.'s protocol every seed is tested on the same 600 tasks, so the seeds' spread cannot show those
    tasks' sampling error: the mean seed's standard error over its tasks enters as ``shared_se``."""
    def acc(r):
        e = r["eval"][mode]
        return 100 * (e["accuracy"] if step is None else e["accuracy_per_step"][step])

    def task_se(r):
        e = r["eval"][mode]
        return 100 * (e["ci95"] if step is None else e["ci95_per_step"][step]) / 1.96

    accs = [acc(r) for r in runs]
    if len(accs) >= 2:
        est = Estimate.of(accs)
        if runs[0]["config"].get("protocol") == "finn":  # the same test tasks for every seed
            est = replace(est, shared_se=sum(task_se(r) for r in runs) / len(runs))
        return est
    return Estimate(accs[0], se=task_se(runs[0]))


def _text(est: Estimate, digits: int = 2) -> str:
    if est.n >= 2:
        return f"{est.mean:.{digits}f} ± {est.sd:.{digits}f}"
    return f"{est.mean:.{digits}f} ± {1.96 * est.standard_error():.{digits}f}"


def _seconds(runs: Sequence[dict]) -> str:
    """The mean over seeds of each run's training seconds per outer iteration, as the runs' table prints it."""
    got = [r["seconds_per_iteration"] for r in runs if r.get("seconds_per_iteration") is not None]
    return f"{sum(got) / len(got):.2f}" if got else "-"


def _devices(runs_by_name: dict[str, list[dict]], budget: str) -> str:
    """Where the runs at ``budget`` trained, from their records: the devices and CPU thread counts, in words."""
    seen = set()
    for runs in runs_by_name.values():
        for r in runs:
            if r["config"]["budget"] == budget:
                env = r.get("environment", {})
                threads = env.get("torch_threads")
                if env.get("device") == "cpu":
                    seen.add("the CPU" + (f" ({threads} thread{'s' if threads != 1 else ''})" if threads else ""))
                else:
                    seen.add(env.get("device_name", "an unrecorded device"))
    return "; ".join(sorted(seen)) or "no recorded device"


def runs_table(runs_by_name: dict[str, list[dict]], budget: str) -> Table:
    """Every stored MAML configuration at ``budget`` ('paper' or 'reduced'): protocol, algorithm, cell, outer
    iterations, test tasks, seconds per outer iteration, and the test accuracy after each test step in each
    prediction mode recorded."""
    if budget not in ("paper", "reduced"):
        raise ValueError(f"budget must be 'paper' or 'reduced', got {budget!r}")
    rows = []
    for name, runs in runs_by_name.items():
        cfg = runs[0]["config"]
        if cfg["budget"] != budget:
            continue
        for mode in MODE:
            if mode not in runs[0]["eval"]:
                continue
            steps = len(runs[0]["eval"][mode]["accuracy_per_step"])
            protocol = PROTOCOL[cfg["protocol"]].replace(" et al.'s", "'s")
            if cfg.get("network", cfg["protocol"]) != cfg["protocol"]:  # a customised run on the other network
                protocol += f", {cfg['network'].capitalize()}'s network"
            row = {"cell": _column(cfg), "algorithm": SHORT[cfg["algorithm"]],
                   "protocol": protocol, "prediction": SHORT[mode],
                   "seeds": ", ".join(str(r["seed"]) for r in runs),
                   "iterations / tasks": f"{cfg['outer_iters']:,} / {cfg['eval_tasks']:,}",
                   "s / it.": _seconds(runs)}
            for s in range(1, steps):
                row[f"step {s}"] = _text(_estimate(runs, mode, s), 1)
            rows.append(row)
    if not rows:
        return Table(pd.DataFrame({"runs": [NOT_YET_RUN]}), f"MAML at the {budget} budget: {NOT_YET_RUN}.",
                     index=False)
    frame = pd.DataFrame(rows).set_index(["cell", "algorithm", "protocol", "prediction"]).fillna("-")
    frame = frame.sort_index(level=["cell", "algorithm"], sort_remaining=False, kind="stable")
    seeds = ""
    if frame["seeds"].nunique() == 1:
        seeds = f" Seed {frame['seeds'].iloc[0]} of each configuration."
        frame = frame.drop(columns="seeds")
    caption = (f"MAML and first-order MAML on Omniglot at the {'paper' if budget == 'paper' else 'reduced'} budget"
               + (" (not the paper's: far fewer outer iterations and test tasks, to measure the pipeline and the "
                  "cost; their accuracies say little about the full runs)" if budget == "reduced" else "")
               + ": outer iterations and test tasks, and the test accuracy (%) after each test step of adaptation, "
                 "± the 95% interval over the test tasks for one seed (Finn et al.'s 1.96 x std / sqrt(tasks) under "
                 "their protocol) or the standard deviation over seeds. FOMAML: first-order MAML; T: transductive, "
                 "NT: non-transductive prediction. Step 0 (no adaptation, near chance: one in N for N classes) is left "
                 "out. s / it.: the run's own training time per outer iteration (the mean over its seeds), on "
                 f"{_devices(runs_by_name, budget)}, beside whatever else the machine ran; the benchmark's table "
                 "above times the algorithms side by side."
                 + seeds)
    # the cell and protocol levels may wrap ("Reptile's, Finn's network"), so that the steps' columns fit the page
    return Aligned(frame, caption, nowrap=[c for c in frame.columns if c.startswith("step")],
                    nowrap_index=[1, 3])


def comparisons(runs_by_name: dict[str, list[dict]], reptile_runs: dict[str, list[dict]] | None = None,
                budget: str = "paper", progress: dict[str, str] | None = None) -> list[dict]:
    """The comparisons the chapter makes, each by the book's rule: within each protocol and cell, MAML against
    first-order MAML ("MAML exceeds first-order MAML"); at the paper's budget, Reptile against MAML under Reptile's
    protocol ("MAML reproduces Reptile's accuracy": the paper's claim that Reptile performs similarly; Reptile's side
    is the run of paper Table 2's cell for the prediction, :func:`reptile.config.table_cell_preset`), and our MAML
    under Finn et al.'s protocol against the number paper Table 2 quotes from him ("reproduces"; not first-order
    MAML's row, whose Omniglot numbers have no source in their paper). A comparison with a side whose campaign entry is still
    training (``progress``: preset -> how far) is under way: the rule waits for its seeds."""
    from ..config import table_cell_preset

    out = []
    by_key, names = {}, {}
    for name, runs in runs_by_name.items():
        cfg = runs[0]["config"]
        if cfg["budget"] == budget and "-custom-" not in name:  # the presets only
            by_key[(cfg["protocol"], cfg["algorithm"], _column(cfg))] = runs
            names[(cfg["protocol"], cfg["algorithm"], _column(cfg))] = name

    def judged(item: dict, *keys, verdict: str) -> dict:
        going = [names[k] for k in keys if k is not None and names[k] in (progress or {})]  # None: Reptile's side
        if not going:
            return {**item, "verdict": verdict}
        for side, k in zip("ab", keys):
            if k is not None and names[k] in going:
                item[side] += f" ({len(by_key[k])} of {FULL_SEEDS} seeds; {progress[names[k]]})"
        return {**item, "z": math.nan, "verdict": UNDER_WAY}

    for (protocol, algorithm, column), runs in sorted(by_key.items()):
        key = (protocol, algorithm, column)
        mode = runs[0].get("primary_mode", "transductive")
        if algorithm == "maml" and (protocol, "fomaml", column) in by_key:
            other = by_key[(protocol, "fomaml", column)]
            a, b = _estimate(runs, mode), _estimate(other, mode)
            c = compare(a, b)
            out.append(judged({"comparison": f"MAML exceeds first-order MAML ({PROTOCOL[protocol]} protocol, {column}, "
                                             f"{MODE[mode]})", "a": _text(a), "b": _text(b), "z": c.z},
                              key, (protocol, "fomaml", column), verdict=c.claim()))
        if budget == "paper" and protocol == "finn" and algorithm == "maml":
            # only MAML's row has a source (Finn et al.'s Table 1); the first-order row's Omniglot numbers do not
            m, s = TABLE2["rows"][PAPER_ROW[algorithm]][COLUMNS.index(column)]
            a = _estimate(runs, "transductive")
            c = compare(a, Estimate(m, se=s / 1.96))  # Finn et al.'s ± is a 95% interval over 600 tasks
            out.append(judged({"comparison": f"{ALGORITHM[algorithm]} under Finn et al.'s protocol reproduces paper "
                                             f"Table 2's quoted {column} cell",
                               "a": _text(a), "b": f"{m:g} ± {s:g}", "z": c.z}, key, verdict=c.agreement()))
        if budget == "paper" and protocol == "reptile" and reptile_runs:
            for mode_ in ("non_transductive", "transductive"):
                row = "Reptile + Transduction" if mode_ == "transductive" else "Reptile"
                rep = reptile_runs.get(table_cell_preset("omniglot", column, row), [])
                if rep and mode_ in runs[0]["eval"]:
                    accs = [100 * r["eval"][mode_]["accuracy"] for r in rep]
                    a = Estimate.of(accs) if len(accs) >= 2 else \
                        Estimate(accs[0], se=100 * rep[0]["eval"][mode_]["ci95"] / 1.96)  # one seed: over its tasks
                    b = _estimate(runs, mode_)
                    c = compare(a, b)
                    out.append(judged({"comparison": f"{ALGORITHM[algorithm]} reproduces Reptile's accuracy under "
                                                     f"Reptile's protocol ({column}, {MODE[mode_]})", "a": _text(a),
                                       "b": _text(b), "z": c.z}, None, key, verdict=c.agreement()))
    return out


def comparison_table(runs_by_name: dict[str, list[dict]], reptile_runs: dict[str, list[dict]] | None = None,
                     budget: str = "paper", progress: dict[str, str] | None = None) -> Table:
    rows = [{"comparison": it["comparison"], "first": it["a"], "second": it["b"],
             "z": "-" if not math.isfinite(it["z"]) else z_text(it["z"]), "verdict": it["verdict"]}
            for it in comparisons(runs_by_name, reptile_runs, budget, progress)]
    planned = [("MAML exceeds first-order MAML", "each protocol and cell, in its runs' prediction"),
               ("MAML under Finn et al.'s protocol reproduces paper Table 2's quoted cell",
                "each cell, transductive (first-order MAML's quoted row has no source)"),
               ("MAML reproduces Reptile's accuracy under Reptile's protocol", "each cell, both predictions"),
               ("first-order MAML reproduces Reptile's accuracy under Reptile's protocol",
                "each cell, both predictions")]
    if budget != "paper":
        planned = planned[:1]
    if rows:  # the kinds of comparison no run has reached yet, each listed once, below the ones made
        rows += [{"comparison": f"{kind} ({where})", "first": "-", "second": "-", "z": "-", "verdict": NOT_YET_RUN}
                 for kind, where in planned if not any(r["comparison"].startswith(kind.removesuffix(" cell"))
                                                       for r in rows)]
    else:
        return Table(pd.DataFrame([{"comparison": c, "for": f, "verdict": NOT_YET_RUN} for c, f in planned]),
                     f"The comparisons this chapter makes at the {budget} budget by the book's rule, once both runs "
                     f"of a pair are finished: none is yet.", index=False)
    verdicts = {r["verdict"] for r in rows}
    caption = (f"The comparisons at the {'paper' if budget == 'paper' else 'reduced'} budget by the book's rule: "
               f"accuracy (%) of the first and second side (± as in the runs' table), z the difference over its "
               f"standard error; a claim holds at z >= {THRESHOLD:g} and does not hold at z <= -{THRESHOLD:g}; "
               f"two numbers agree (reproduces) at |z| < {THRESHOLD:g}, which says no difference was found, not that "
               f"they are equal."
               + (" Under Finn et al.'s protocol every seed is tested on the same 600 tasks, so with several seeds "
                  "those tasks' sampling error enters the standard error beside the seeds' spread." if budget ==
                  "paper" else "")
               + (" A quoted number of Finn et al. enters with its ± read as their 95% interval over 600 test tasks "
                  "(standard error ±/1.96)." if any("quoted" in r["comparison"] and r["z"] != "-" for r in rows)
                  else "")
               + (" A comparison whose runs are still training is under way." if UNDER_WAY in verdicts else "")
               + (" A kind of comparison no finished run has reached yet is listed once, not yet run."
                  if NOT_YET_RUN in verdicts else "")
               + (" Reduced runs measure the pipeline, not the algorithms at their budget." if budget == "reduced"
                  else ""))
    return Table(pd.DataFrame(rows).set_index("comparison"), caption)


def table2_rows(runs_by_name: dict[str, list[dict]], budget: str = "paper",
                progress: dict[str, str] | None = None) -> dict[tuple[str, str], dict[str, str]]:
    """Paper Table 2's MAML rows as this companion runs them: ``(paper row, 'this companion, <protocol>
    protocol')`` -> column -> text (transductive accuracy, as the paper's rows are), 'not yet run' where no run is
    stored at ``budget`` (or what ``progress`` says of a campaign entry under way)."""
    from ..maml.presets import PRESETS

    out: dict[tuple[str, str], dict[str, str]] = {}
    for algorithm in ("maml", "fomaml"):
        for protocol in ("finn", "reptile"):
            source = f"this companion, {PROTOCOL[protocol]} protocol" + (", reduced" if budget == "reduced" else "")
            cells = {}
            for column in COLUMNS:
                base = f"{'finn-' if protocol == 'finn' else ''}{algorithm}-{_cell(column)}"
                name = f"reduced-{base}" if budget == "reduced" else base
                runs = runs_by_name.get(name, [])
                if runs and "transductive" in runs[0]["eval"]:
                    cells[column] = _text(_estimate(runs, "transductive"))
                    if budget == "paper" and len(runs) < FULL_SEEDS and name in (progress or {}):
                        cells[column] += f" ({len(runs)} of {FULL_SEEDS} seeds; {progress[name]})"
                elif budget == "reduced" and name not in PRESETS:
                    cells[column] = "-"  # no reduced preset for this cell
                else:
                    cells[column] = (progress or {}).get(name, NOT_YET_RUN)
            out[(PAPER_ROW[algorithm], source)] = cells
    return out


def protocols_table(cell: str = "omniglot-1shot-5way") -> Table:
    """The two protocols side by side for one cell (MAML's presets ``finn-maml-<cell>`` and ``maml-<cell>``): every
    setting that differs, and the ones they share, read from the presets themselves."""
    from ..maml.presets import PRESETS

    finn, ours = PRESETS[f"finn-maml-{cell}"], PRESETS[f"maml-{cell}"]
    split = {"finn": "Finn et al.'s procedure: 1623 characters shuffled with their seed (the same for every run), "
                     "1100 training / 100 validation / 423 test, ignoring alphabets; shuffled from sorted order, as "
                     "their code's order (the file system's) cannot be rebuilt, so not their very characters",
             "reptile": "Reptile's: 1623 characters shuffled with the run's seed, 1200 training / 423 test, no "
                        "validation"}
    rows = {
        "characters": (split["finn"], split["reptile"]),
        "rotations": ("a random multiple of 90 degrees per class per task, training and test",
                      "extra training classes only; test tasks unrotated"),
        "images": ("28x28, inverted (strokes 1, background 0)", "28x28, not inverted"),
        "network": ("Finn's Conv4: batch-norm offset without scale, spatial mean into 64 features before the dense "
                    "layer, dense kernel N(0, 1)", "Reptile's Conv4 (the paper's few-shot chapters): batch-norm scale "
                    "and offset, 256 features flattened, Glorot-uniform dense kernel"),
        "training tasks": (f"{finn.train_task_pool:,} drawn once, then cycled", "fresh every iteration"),
        "test tasks": (f"{finn.eval_tasks:,}, the same for every run (fixed by a seed of ours: theirs rest on their "
                       f"character order), {finn.eval_queries} query per class",
                       f"{ours.eval_tasks:,} per seed, {ours.eval_queries} query per class"),
        "prediction at test": ("transductive (the query batch's own batch-norm statistics)",
                               "non-transductive and transductive, both recorded"),
        "± of a run": ("1.96 x std / sqrt(tasks), Finn et al.'s", "Student's t 95% interval over tasks"),
    }
    steps = f"{finn.inner_steps} inner SGD step{'s' if finn.inner_steps != 1 else ''}"
    shared = (f"Both: meta-batch {finn.meta_batch}, {steps} of {finn.inner_step:g} on "
              f"Finn et al.'s loss (the summed cross-entropy / K; {finn.mean_loss_step:g} on the mean loss) in "
              f"training and {finn.eval_inner_steps} at test, Adam {finn.outer_lr:g} on the meta-parameters, "
              f"{finn.outer_iters:,} outer iterations, the last iterate evaluated.")
    check((finn.meta_batch, finn.inner_step, finn.inner_steps, finn.eval_inner_steps, finn.outer_iters) ==
          (ours.meta_batch, ours.inner_step, ours.inner_steps, ours.eval_inner_steps, ours.outer_iters),
          f"the presets of {cell} no longer share their hyper-parameters")
    frame = pd.DataFrame(rows, index=["Finn et al.'s protocol (finn-*)", "Reptile's protocol (maml-*, fomaml-*)"]).T
    return Table(frame, f"The two protocols MAML is run under here, for the cell {cell} (the presets "
                        f"finn-maml-{cell} and maml-{cell}; first-order MAML's are the same). " + shared)


def table2_table(runs_by_name: dict[str, list[dict]], budget: str = "paper",
                 progress: dict[str, str] | None = None) -> Table:
    """Paper Table 2's MAML rows (:data:`reptile.paper.MAML_ROW_SOURCE`) with this companion's runs of them beneath
    (:func:`table2_rows`), at ``budget``."""
    rows = {}
    for algorithm in ("maml", "fomaml"):
        row = PAPER_ROW[algorithm]
        rows[(row, f"paper ({MAML_ROW_SOURCE[(2, row)]})")] = {c: printed(2, row, m, s)  # as printed: 98.7 ± 0.4
                                                               for c, (m, s) in zip(COLUMNS, TABLE2["rows"][row])}
        for (r, source), cells in table2_rows(runs_by_name, budget, progress).items():
            if r == row:
                rows[(r, source)] = cells
    caption = ("Paper Table 2 (Omniglot), its MAML rows: accuracy (%) on new tasks with transduction, as the paper "
               "gives them (MAML's quoted from Finn et al., ± their 95% interval over 600 tasks; first-order MAML's "
               "not in Finn et al., with no source), and this companion's runs "
               "(± the 95% interval over the test tasks for one seed, the standard deviation over seeds for more)"
               + (" at reduced budgets, not the paper's protocol; '-' marks a cell with no reduced preset"
                  if budget == "reduced" else " at the full budget") + ".")
    return Table(pd.DataFrame(rows).T, caption)


def quoted_row_checks(algorithm: str, runs_by_name: dict[str, list[dict]],
                      progress: dict[str, str] | None = None) -> list[dict]:
    """The front page's verdicts on one MAML row paper Table 2 quotes (from Finn et al. for MAML; first-order MAML's
    has no source in their paper), judged against our full-budget runs under their protocol
    (``finn-<algorithm>-<cell>``) by the book's rule, cell by cell as Reptile's rows are. One item per cell with
    something stored or under way: finished (no entry under way in ``progress``, preset -> the campaign's progress),
    it reproduces or differs, with its ``z``; a cell whose seeds are still training is under way, with how far and
    the seeds already finished. The cells with nothing yet share one last item, not yet run. First-order MAML's row
    has no source to reproduce: each of its items has no verdict (:data:`reptile.stats.NO_SOURCE`), with what our
    runs reached or how far they are, and no z. Each item: ``cells`` (the columns it covers, one for a cell's own),
    ``ours``, ``z``, ``verdict``."""
    items, idle = [], []
    for column, (m, s) in zip(COLUMNS, TABLE2["rows"][PAPER_ROW[algorithm]]):
        name = f"finn-{algorithm}-{_cell(column)}"
        runs, going = runs_by_name.get(name, []), (progress or {}).get(name)
        if not runs and going is None:
            idle.append(column)
            continue
        ours, z, verdict = going, None, UNDER_WAY
        if runs:
            est = _estimate(runs, "transductive")
            ours = f"{_text(est)} ({len(runs)}" + (f" of {FULL_SEEDS} seeds; {going})" if going else
                                                   f" seed{'s' if len(runs) > 1 else ''})")
            if going is None:
                cmp = compare(est, Estimate(m, se=s / 1.96))  # Finn et al.'s ± is a 95% interval over 600 tasks
                z, verdict = cmp.z, cmp.agreement()
        items.append({"cells": [column], "ours": ours, "z": z, "verdict": verdict})
    if idle:
        items.append({"cells": idle, "ours": "-", "z": None, "verdict": NOT_YET_RUN})
    if algorithm != "maml":  # a number without a source gets no verdict, whether our runs have finished or not
        items = [dict(it, verdict=NO_SOURCE, z=None) for it in items]
    return items
