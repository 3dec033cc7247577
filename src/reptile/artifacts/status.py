"""The status page: which of the paper's artifacts have stored runs, the environments that produced them, the
campaign's progress and the measured speed.

The ``*_table`` functions give pandas DataFrames (the command lines print them, other modules and tests read their
columns); the ``*_view`` functions and :func:`speed_summary` / :func:`speed_report` give the page's tables
(:class:`reptile.artifacts.common.Table`: a caption, constant columns in it, widths that fit the page).
"""

from __future__ import annotations

from typing import Sequence

import pandas as pd

from ..bench.report import bench_table
from ..campaign.report import campaign_table, progress_frame  # noqa: F401 (progress_frame: importable here too)
from .common import Aligned, Table, seed_list, shared_columns
from .environments import (  # noqa: F401 (the environment tables, importable here as the page and tests use them)
    environment_table, environment_view, package_view, pins, run_device)

# The paper's artifacts and where this book stands on each (a chapter fills its row once its runs are stored).
PAPER_ARTIFACTS = [
    ("Section 3, Figure 1: sine-wave regression", "sine"),
    ("Section 4.1: Taylor-expansion identities", "taylor"),
    ("Section 4.2, Figure 2: solution manifolds", "manifolds"),
    ("Tables 1-2: few-shot classification (Mini-ImageNet, Omniglot)", "fewshot"),
    ("Section 5.2, Figure 3: gradient combinations", "gradcomb"),
]
# Runs beyond the paper, listed after its artifacts: (label, experiment).
BEYOND_PAPER = [("beyond the paper: MAML and first-order MAML on Omniglot (Table 2's quoted rows)", "maml")]


def coverage_table(runs: Sequence[dict]) -> pd.DataFrame:
    """One row per artifact (the paper's, then those beyond it) and stored configuration, with its seeds; 'not yet
    run' where nothing is stored."""
    rows = []
    for label, experiment in PAPER_ARTIFACTS + BEYOND_PAPER:
        by_name: dict[str, list[int]] = {}
        for r in runs:
            if r["experiment"] == experiment:
                by_name.setdefault(r["name"], []).append(r["seed"])
        if not by_name:
            rows.append({"artifact": label, "configuration": "-", "seeds": "not yet run"})
        for name, seeds in sorted(by_name.items()):
            rows.append({"artifact": label, "configuration": name, "seeds": seed_list(sorted(seeds))})
    return pd.DataFrame(rows).set_index(["artifact", "configuration"])


def _commit(report: dict) -> str:
    """The commit a benchmark report or timed run was measured at, short (``+dirty`` with uncommitted changes)."""
    from ..results import short_commit

    return short_commit(report.get("environment", report))


def population_run_table(results_dir=None) -> pd.DataFrame:
    """The timed population runs (``python -m reptile.bench --population-run DIR``,
    ``results/bench/population/*.json``): measured training and evaluation rates, and the hours its preset's full
    protocol takes at those rates. The accuracies are the shortened run's, not the paper protocol's."""
    import json
    import statistics

    from ..results import results_root

    files = sorted((results_root(results_dir) / "bench" / "population").glob("*.json"))
    if not files:
        return pd.DataFrame({"timed population run": ["not yet run: python -m reptile.bench --population-run DIR"]})
    rows = []
    for f in files:
        r = json.loads(f.read_text())
        accs = [100 * a for a in r["accuracy"]["non_transductive"]]
        spread = f" ± {statistics.stdev(accs):.2f}" if len(accs) > 1 else ""
        switches = r.get("switches")  # None: not recorded (runs before results kept them)
        rows.append({"device": r["device"], "preset": r["preset"], "code": _commit(r),
                     "engine switches": "not recorded" if switches is None else
                     " ".join(f"{k}={v}" for k, v in sorted(switches.items())) or "defaults",
                     "seeds": seed_list(r["seeds"]),
                     "outer iterations timed": f"{r['outer_iters']:,}",
                     "outer it/s": round(r["outer_iters_per_s"], 1),
                     "eval tasks/s": round(r["eval_tasks_per_s"], 1),
                     "accuracy of the timed run (%)": f"{statistics.mean(accs):.2f}{spread}",
                     "full protocol": f"{r['full_protocol']['outer_iters']:,} outer it., "
                                      f"{r['full_protocol']['eval_tasks_per_seed']:,} tasks per seed",
                     "full protocol, hours at these rates": round(r["full_protocol"]["hours"], 2)})
    return pd.DataFrame(rows).set_index(["device", "preset"])


def campaign_view(table: pd.DataFrame) -> pd.DataFrame:
    """:func:`campaign_table` in six columns, to fit a page: the progress of the phase a population is in (outer
    iterations while training, test tasks during its final evaluation), device hours, devices, that phase's rate and
    the hours it has left at that rate, and the test accuracy once done. The seeds become a column only where
    populations differ in them (the page's prose names them otherwise)."""
    rows = []
    for population, r in table.iterrows():
        if r["state"] == "done":  # evaluated on r["evaluation tasks"] (10,000 per seed)
            progress, rate, left = "done", "-", "-"
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
    beyond = {label for label, _ in BEYOND_PAPER}
    t["artifact"] = [a if a in beyond else "paper " + a for a in t["artifact"]]
    return Table(t.set_index(["artifact", "configuration"]),
                 "The paper's artifacts, then this companion's runs beyond the paper (rows), the configurations "
                 "stored for each and their seeds; an artifact with no stored run says not yet run.")


def campaign_view_table(results_dir=None) -> Table:
    """The campaign's progress (:func:`campaign_view` of :func:`campaign_table`) for the page."""
    table = campaign_table(results_dir)
    view = campaign_view(table)
    seeds = ("" if "seeds" in view.columns or table.empty else
             f" Each population trains seeds {table['seeds'].iloc[0]} of its configuration together.")
    for col in ("device hours", "hours left"):
        view[col] = [_fmt(v, 2) if isinstance(v, (int, float)) else str(v) for v in view[col]]
    view["progress"] = [str(v).removesuffix(" outer it") for v in view["progress"]]
    return Aligned(view.astype(str),
                    "The campaign's populations at the paper's budget (experiment/preset): progress, the outer "
                    "iterations (or, during the final evaluation, the test tasks) done of total; device hours spent; "
                    "the devices and the outer iterations each trained; the latest measured rate and the hours left at "
                    "it; the test accuracy once done (mean ± standard deviation over seeds)." + seeds,
                    nowrap=["rate"])


# the speed report's columns: (name in bench_table, shown name, digits)
# (the cores a path used are in its name: "2 threads" and "2 processes" two, every other path one, or the one GPU)
_TRAIN = [("train run-steps/s", "run-steps/s", 0), ("train GFLOP/s per core", "GFLOP/s per core", 1),
          ("train % of matmul", "% of matmul", 1), ("train x reference", "× reference", 2),
          ("train x authors", "× authors", 2)]
_EVAL = [("eval core-s per task", "core-ms per task", None), ("eval x reference", "× reference", 2),
         ("eval x authors", "× authors", 2)]


def _fmt(value, digits) -> str:
    """A number as the speed tables show it: ``digits`` decimals (thousands separated), '-' where there is none;
    ``digits`` None: milliseconds from seconds, to about three significant figures."""
    if value is None or (isinstance(value, float) and value != value):
        return "-"
    if digits is None:
        ms = 1000 * value
        return f"{ms:,.{0 if ms >= 100 else 1 if ms >= 10 else 2 if ms >= 1 else 3}f}"
    return f"{value:,.{digits}f}"


def _reports(results_dir=None) -> list[tuple[dict, pd.DataFrame]]:
    from ..bench import load
    from ..results import results_root

    return [(rep, bench_table(rep)) for rep in load(results_root(results_dir) / "bench")]


def _matmul_words(reports) -> str:
    parts = []
    for rep, _ in reports:
        mm = rep["matmul_gflops"]
        rate = (f"{mm['gpu']:,.0f} on the GPU" if "gpu" in mm else
                ", ".join(f"{v:,.0f} on {k} core{'s' if k != '1' else ''}" for k, v in mm.items()))
        conv = rep.get("conv_gflops_1_thread")  # oneDNN's convolution, the other yardstick (reptile.bench.paths)
        if conv:
            rate += f", and oneDNN's convolution (the engine's second layer) {conv:,.0f} on 1 core"
        parts.append(f"{rep['device']} {rate} (code {_commit(rep)})")
    return "; ".join(parts)


def speed_summary(results_dir=None) -> Table:
    """What a reader needs of the speed report: per device and setting, the engine's fastest training path on one
    core (one GPU), as the reference and the authors' code ran: its rate, useful GFLOP/s, the fraction of the
    matrix-multiply rate, and the ratios to the plain-PyTorch reference and to the authors' code where timed."""
    reports = _reports(results_dir)
    if not reports:
        return Table(pd.DataFrame({"benchmark": ["not yet run: python -m reptile.bench"]}).set_index("benchmark"),
                     "The measured speed.")
    rows = []
    for rep, t in reports:
        engine = t[t["path"].str.startswith("population") & (t["cores"] == 1)
                   & ~t["path"].str.contains("replay only")]
        for setting, group in engine.groupby("setting", sort=False):
            best = group.loc[group["train run-steps/s"].idxmax()]
            rows.append({"device": rep["device"], "setting": setting, "engine path": best["path"],
                         "run-steps/s": _fmt(best["train run-steps/s"], 0),
                         "useful GFLOP/s": _fmt(best["train GFLOP/s"], 0),
                         "% of matmul": _fmt(best["train % of matmul"], 1),
                         "× reference": _fmt(best["train x reference"], 2),
                         "× authors": _fmt(best["train x authors"], 2)})
    frame = pd.DataFrame(rows).set_index(["device", "setting"])
    return Aligned(frame, "Training speed on each device (rows: device and setting) of the engine's fastest path "
                           "on one CPU core or one GPU: run-steps (one inner optimiser step of one run) per second, "
                           "the useful GFLOP/s (the convolutions' and dense layer's multiply-adds), their percentage "
                           "of the device's matrix-multiply rate, and the rate over that of the plain-PyTorch "
                           "reference and of the authors' TensorFlow code (where timed: on the CPU) in the same "
                           "benchmark run. Matrix-multiply GFLOP/s: " + _matmul_words(reports) + "." +
                  (" A percentage above 100: oneDNN's convolutions, which this percentage compares with the BLAS's "
                   "multiply, run faster than it (the status page's speed section)."
                   if any(float(str(r["% of matmul"]).replace(",", "")) > 100 for r in rows
                          if str(r["% of matmul"]).replace(",", "").replace(".", "").isdigit()) else ""),
                  nowrap_index=[])


def speed_report(results_dir=None, part: str = "training") -> Table:
    """The whole benchmark report, one row per device, setting and path: ``part="training"`` (cores used, rate,
    useful GFLOP/s per core, % of the matrix-multiply rate, ratios to the reference and the authors' code) or
    ``"evaluation"`` (core-milliseconds per test task and the same ratios; the paths that timed it)."""
    if part not in ("training", "evaluation"):
        raise ValueError(f"part must be 'training' or 'evaluation', got {part!r}")
    reports = _reports(results_dir)
    if not reports:
        return Table(pd.DataFrame({"benchmark": ["not yet run: python -m reptile.bench"]}).set_index("benchmark"),
                     "The measured speed.")
    columns = _TRAIN if part == "training" else _EVAL
    frames, multi = [], {}
    for rep, t in reports:
        multi.update({path: int(c) for path, c in zip(t["path"], t["cores"]) if c > 1})
        if part == "evaluation":
            t = t[t["eval core-s per task"].notna() & (t["eval core-s per task"] > 0)]
        out = pd.DataFrame({"device": rep["device"], "setting": t["setting"], "path": t["path"]})
        for src, name, digits in columns:
            out[name] = [_fmt(v if v == v else None, digits) for v in pd.to_numeric(t[src], errors="coerce")]
        frames.append(out)
    frame = pd.concat(frames, ignore_index=True).set_index(["device", "setting", "path"])
    what = ("training: run-steps per second, useful GFLOP/s per core and their percentage of the matrix-multiply "
            "rate of the cores used" if part == "training" else
            "evaluation: core-milliseconds per test task (cores used × seconds), for the paths that timed it")
    cores = "; ".join(f"'{path}' {c} cores" for path, c in sorted(multi.items()))
    return Aligned(frame, f"The full benchmark report, {what}, and the ratios to the plain-PyTorch reference and "
                           f"to the authors' TensorFlow code of the same setting, measured in the same run. A path "
                           f"uses one CPU core, or the one GPU{f', except: {cores}' if cores else ''}. "
                           f"Matrix-multiply GFLOP/s: {_matmul_words(reports)}.")


def population_run_view(results_dir=None) -> Table:
    """:func:`population_run_table` for the page, its constant columns in the caption."""
    t = population_run_table(results_dir)
    if "timed population run" in t.columns:
        return Table(t.set_index("timed population run"), "The timed population runs.")
    t = t.reset_index(level="preset") if t.index.get_level_values("preset").nunique() == 1 else t
    t = t.rename(columns={"outer iterations timed": "outer iterations", "full protocol, hours at these rates":
                          "hours for the full protocol", "accuracy of the timed run (%)": "accuracy (%)"})
    t["outer it/s"] = [_fmt(v, 1) for v in t["outer it/s"]]
    t["eval tasks/s"] = [_fmt(v, 1) for v in t["eval tasks/s"]]
    t["hours for the full protocol"] = [_fmt(v, 2) for v in t["hours for the full protocol"]]
    frame, words = shared_columns(t)
    return Aligned(frame, "Short population runs timed end to end, one row per device: the code they ran, the "
                           "engine switches set, the measured training rate (learning-curve evaluations included) and "
                           "evaluation rate, the accuracy of the short run (mean ± standard deviation over seeds; not "
                           "the paper's protocol), and the hours the preset's full protocol takes at these rates."
                    + words)


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
        rows.append({"chapter": CHAPTERS[experiment], "configuration": name,
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
