"""The status page: which of the paper's artifacts have stored runs, the campaign's progress and what each chapter
costs; the environments that produced the runs are :mod:`.environments` (re-exported here) and the measured speed
:mod:`.speed`.

The ``*_table`` functions give pandas DataFrames (the command lines print them, other modules and tests read their
columns); the ``*_view`` functions give the page's tables (:class:`reptile.artifacts.common.Table`: a caption,
constant columns in it, widths that fit the page).
"""

from __future__ import annotations

from typing import Sequence

import pandas as pd

from ..campaign.report import campaign_table, progress_frame  # noqa: F401 (progress_frame: importable here too)
from .common import Aligned, Table, fmt_number, seed_list, shown_name
from .environments import (  # noqa: F401 (the environment tables, importable here as the page and tests use them)
    environment_table, environment_view, package_view, pins, run_device, trained_at)

# The paper's artifacts and where this book stands on each (a chapter fills its row once its runs are stored).
PAPER_ARTIFACTS = [  # (label, experiment, the word its runs' names hold, or None for all of the experiment's)
    ("Section 3, Figure 1: sine-wave regression", "sine", None),
    ("Section 4.1: Taylor-expansion identities", "taylor", None),
    ("Section 4.2, Figure 2: solution manifolds", "manifolds", None),
    ("Table 1: few-shot classification on Mini-ImageNet", "fewshot", "miniimagenet"),
    ("Table 2: few-shot classification on Omniglot", "fewshot", "omniglot"),
    ("Section 5.2, Figure 3: gradient combinations", "gradcomb", None),
]
# Runs beyond the paper, listed after its artifacts: (label, experiment, word).
BEYOND_PAPER = [("beyond the paper: MAML and first-order MAML on Omniglot (Table 2's quoted rows)", "maml", None)]


def coverage_table(runs: Sequence[dict]) -> pd.DataFrame:
    """One row per artifact (the paper's, then those beyond it) and stored configuration, with its seeds; 'not yet
    run' where nothing is stored."""
    rows = []
    for label, experiment, word in PAPER_ARTIFACTS + BEYOND_PAPER:
        by_name: dict[str, list[int]] = {}
        for r in runs:
            if r["experiment"] == experiment and (word is None or word in r["name"]):
                by_name.setdefault(shown_name(experiment, r["name"], r.get("config", {})), []).append(r["seed"])
        if not by_name:
            rows.append({"artifact": label, "configuration": "-", "seeds": "not yet run"})
        for name, seeds in sorted(by_name.items()):
            rows.append({"artifact": label, "configuration": name, "seeds": seed_list(sorted(seeds))})
    return pd.DataFrame(rows).set_index(["artifact", "configuration"])


def campaign_view(table: pd.DataFrame) -> pd.DataFrame:
    """:func:`campaign_table` in six columns, to fit a page: the progress of the phase a population is in (outer
    iterations while training, test tasks during its final evaluation), device hours, devices, that phase's rate and
    the hours it has left at that rate, and the test accuracy once done. The seeds become a column only where
    populations differ in them (the page's prose names them otherwise)."""
    rows = []
    for population, r in table.iterrows():
        if r["state"] == "done":  # evaluated on r["evaluation tasks"] (10,000 per seed)
            progress, rate, left = "done", "-", "-"
        elif r["state"] == "checking evaluation batches":  # recorded; its planned check of the trained state left
            progress, rate, left = f"recorded; its evaluation-batch check: {r['evaluation tasks']}", "-", "-"
        elif r["state"] == "evaluating":
            progress, left = f"{r['evaluation tasks']} test tasks", r["hours left (evaluation)"]
            rate = "-" if r["evaluation tasks/s"] == "-" else f"{r['evaluation tasks/s']:g} tasks/s"
        else:
            progress, left = f"{r['outer iterations']} outer it", r["hours left (training)"]
            rate = "-" if r["outer it/s"] == "-" else f"{r['outer it/s']:g} it/s"
        rows.append({"population": population, "seeds": r["seeds"], "progress": progress,
                     "device hours": r["device hours"], "devices": r["devices"], "rate": rate,
                     "hours left": left, "test accuracy (%)": r["test accuracy (%)"]})
    view = pd.DataFrame(rows, columns=["population", "seeds", "progress", "device hours", "devices", "rate",
                                       "hours left", "test accuracy (%)"]).set_index("population")
    if view["seeds"].nunique() <= 1:
        view = view.drop(columns="seeds")
    return view


# ------------------------------------------------------------------------------------------- the page's tables

def coverage_view(runs: Sequence[dict]) -> Table:
    """:func:`coverage_table` for the page."""
    t = coverage_table(runs).reset_index()
    beyond = {label for label, _, _ in BEYOND_PAPER}
    t["artifact"] = [a if a in beyond else "paper " + a for a in t["artifact"]]
    return Table(t.set_index(["artifact", "configuration"]),
                 "The paper's artifacts, then this companion's runs beyond the paper (rows), the configurations "
                 "stored for each and their seeds; an artifact with no stored run says not yet run.")


def campaign_view_table(results_dir=None) -> Table:
    """The campaign's progress (:func:`campaign_view` of :func:`campaign_table`) for the page."""
    table = campaign_table(results_dir)
    view = campaign_view(table)
    maml = any(str(p).startswith("maml/") for p in table.index)
    seeds = ("" if "seeds" in view.columns or table.empty else
             f" Each population trains seeds {table['seeds'].iloc[0]} of its configuration"
             + (" (Reptile's together, MAML's one after another)." if maml else " together."))
    for col in ("device hours", "hours left"):
        view[col] = [fmt_number(v, 2) if isinstance(v, (int, float)) else str(v) for v in view[col]]
    view["progress"] = [str(v).removesuffix(" outer it") for v in view["progress"]]
    from ..campaign.report import snapshot_date

    date = snapshot_date(results_dir)
    return Aligned(view.astype(str),
                    (f"As of {date}, the" if date else "The") + " campaign's populations at the paper's budget "
                    "(experiment/preset): progress, the outer "
                    "iterations (or, during the final evaluation, the test tasks) done of total; device hours spent; "
                    "the devices and the outer iterations each trained; the latest measured rate and the hours left at "
                    "it; the test accuracy once done (mean ± standard deviation over seeds; for a MAML entry under "
                    "way, the mean of the seeds finished so far)."
                    + (" A population whose records are written but whose planned evaluation-batch check (its "
                       "trained networks evaluated again with several evaluation batches, a piece per seed and "
                       "batch) is still to run says how many of those pieces are done."
                       if (table["state"] == "checking evaluation batches").any() else "") + seeds,
                    nowrap=["rate"])


CHAPTERS = {"sine": "Sine wave (paper Section 3)", "taylor": "Taylor expansion (paper Section 4.1)",
            "manifolds": "Solution manifolds (paper Section 4.2)", "fewshot": "Few-shot (paper Tables 1-2)",
            "gradcomb": "Figure 3 (paper Section 5.2)", "maml": "Reptile and MAML (beyond the paper)"}


def _group(run: dict) -> str:
    """Figure 3's ten curves are one row per budget; every other configuration is a row of its own."""
    name = run["name"]
    if run["experiment"] == "gradcomb":
        return ("reduced-figure3-*" if name.startswith("reduced-") else "figure3-*") + (
            " (custom)" if "-custom-" in name else "")
    return name


def _duration(seconds: Sequence[float]) -> str:
    """A range of wall times in the unit that suits its longest: seconds, minutes or hours."""
    lo, hi = min(seconds), max(seconds)
    unit, div = ("s", 1) if hi < 120 else ("min", 60) if hi < 7200 else ("h", 3600)
    fmt = (lambda v: f"{v / div:.0f}") if unit != "h" else (lambda v: f"{v / div:.1f}")
    return (fmt(lo) if fmt(lo) == fmt(hi) else f"{fmt(lo)} to {fmt(hi)}") + f" {unit}"


def chapter_costs(runs: Sequence[dict]) -> Table:
    """What recomputing each stored configuration cost, from the runs' own records: the seeds, the devices that
    trained them, the wall-clock hours of one run (a population trains its seeds together, so its hours are the
    population's; Figure 3's row gives the range over its curves), and the measured training rate on each device
    (outer iterations per second of a population, from the pieces it was trained in)."""
    groups: dict[tuple[str, str], list[dict]] = {}
    for r in runs:
        if r.get("experiment") in CHAPTERS and "wall_seconds" in r:
            groups.setdefault((r["experiment"], _group(r)), []).append(r)
    rows = []
    for (experiment, name), rs in sorted(groups.items(), key=lambda kv: (list(CHAPTERS).index(kv[0][0]), kv[0][1])):
        by_run: dict[tuple, float] = {}  # one wall time per population (its seeds share it), else per seed
        rates: dict[str, list[float]] = {}
        for r in rs:
            engine = r.get("engine") if isinstance(r.get("engine"), dict) else {}
            key = (r["name"],) if engine.get("name") == "population" else (r["name"], r["seed"])
            by_run[key] = r["wall_seconds"]
            for seg in engine.get("segments") or []:
                if r["seed"] == engine["seeds"][0]:
                    dev = rates.setdefault(seg["device"], [0.0, 0.0])
                    dev[0] += seg["end"] - seg["start"]
                    dev[1] += seg["seconds"]
            if not engine and r.get("train_seconds") and r.get("config", {}).get("outer_iters"):
                env = r.get("environment", {})  # a run alone (MAML): named as the engine's segments name devices
                dev = rates.setdefault(env.get("device_name") or env.get("device", "?"), [0.0, 0.0])
                dev[0] += r["config"]["outer_iters"]
                dev[1] += r["train_seconds"]
        seeds = sorted({r["seed"] for r in rs})
        rows.append({"chapter": CHAPTERS[experiment], "configuration": shown_name(experiment, name,
                                                                                rs[0].get("config", {})),
                     "seeds": " ".join(map(str, seeds)),
                     "trained on": ", ".join(sorted({d.split(":")[0] for r in rs for d in run_device(r).split("; ")})),
                     "time per run": _duration(list(by_run.values())),
                     "outer it/s by device": "; ".join(f"{d}: {n / s:,.1f}" for d, (n, s) in sorted(rates.items())
                                                       if s > 0) or "-"})
    frame = pd.DataFrame(rows).set_index(["chapter", "configuration"])
    return Aligned(frame, "What each stored configuration cost to compute, read from its records: the seeds, the "
                           "devices that trained it, the wall-clock time of one run (the seeds of a population train "
                           "together, so its time covers all of them; Figure 3's rows give the range over its ten "
                           "curves; evaluation included), and, for runs trained in pieces, the measured outer "
                           "iterations per second on each device.", nowrap=["time per run"])
