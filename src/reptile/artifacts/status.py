"""The status page: which of the paper's artifacts have stored runs, and the environments that produced them."""

from __future__ import annotations

from typing import Sequence

import pandas as pd

from .common import seed_list

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
            rows.append({"paper artifact": label, "configuration": name, "seeds": seed_list(sorted(seeds))})
    return pd.DataFrame(rows).set_index(["paper artifact", "configuration"])


def run_device(run: dict) -> str:
    """The device that trained ``run``: the devices and their outer iterations when it records its segments (a
    population, perhaps trained a piece at a time on several devices), else the device it ran on."""
    from ..campaign import devices_label

    engine = run.get("engine") if isinstance(run.get("engine"), dict) else {}
    return devices_label(engine["segments"]) if engine.get("segments") else run["environment"]["device_name"]


def eval_device(run: dict) -> str:
    """The device(s) of ``run``'s final evaluation: those a campaign's evaluation ran on (in order, when it spanned
    sessions), else the device the run was written on."""
    engine = run.get("engine") if isinstance(run.get("engine"), dict) else {}
    return ", ".join(engine.get("evaluation_devices") or [run["environment"]["device_name"]])


def environment_table(runs: Sequence[dict]) -> pd.DataFrame:
    """Where the stored runs came from: one row per configuration and environment, the seeds that share both
    together (so the table stays whole on the page as runs accumulate). ``device`` names the devices that trained
    a run and their outer iterations, when it records its segments (a population); ``wall time`` is each seed's, in
    the order of ``seeds``, or one number where they are the same (the seeds of a population share theirs)."""
    groups: dict[tuple, list[dict]] = {}
    for r in sorted(runs, key=lambda r: (r["experiment"], r["name"], r["seed"])):
        e = r["environment"]
        key = (f"{r['experiment']}/{r['name']}", run_device(r), e["packages"].get("torch") or "-", e["python"],
               (e["commit"] or "none")[:10] + ("+dirty" if e.get("dirty") else ""), e["date"][:10])
        groups.setdefault(key, []).append(r)
    rows = []
    for (name, device, torch, python, commit, date), group in groups.items():
        walls = [f"{round(r['wall_seconds']):,}" for r in group]
        population = all((r.get("engine") or {}).get("name") == "population" for r in group)
        # one population's time: exactly equal, or, for the engine's populations (whose seeds' times differ by their
        # milliseconds of bookkeeping), equal once rounded
        shared = len({r["wall_seconds"] for r in group}) == 1 or (population and len(set(walls)) == 1)
        rows.append({"experiment": name, "seeds": seed_list(r["seed"] for r in group), "device": device,
                     "torch": torch, "python": python, "commit": commit, "date": date,
                     "wall time (s)": walls[0] if shared else " ".join(walls)})
    columns = ["experiment", "seeds", "device", "torch", "python", "commit", "date", "wall time (s)"]
    return pd.DataFrame(rows, columns=columns).set_index("experiment")


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


def bench_table(report: dict):
    """The report as a pandas DataFrame: rates, GFLOP/s, their fraction of the matrix-multiply rate on the cores
    used, and ratios to the reference (and to the authors' code when timed) of the same setting."""
    mm = report["matmul_gflops"]
    out = []
    for r in report["rows"]:
        ref = next(x for x in report["rows"] if x["setting"] == r["setting"] and x["path"] == "reference")
        authors = next((x for x in report["rows"] if x["setting"] == r["setting"] and x["path"].startswith("authors")),
                       None)
        used = r["threads"] * r["processes"]
        peak = mm["gpu"] if "gpu" in mm else mm.get(str(used)) or mm["1"] * used

        def ratio(key, base):
            return None if base is None or r[key] is None or not base[key] else r[key] / base[key]

        out.append({
            "setting": r["setting"], "path": r["path"], "cores": used,
            "train run-steps/s": r["run_steps_per_s"], "train GFLOP/s": r["train_gflops"],
            "train GFLOP/s per core": None if r["train_gflops"] is None else r["train_gflops"] / used,
            "train % of matmul": None if r["train_gflops"] is None else 100 * r["train_gflops"] / peak,
            "train x reference": ratio("run_steps_per_s", ref), "train x authors": ratio("run_steps_per_s", authors),
            "eval tasks/s": r["eval_tasks_per_s"],
            "eval core-s per task": None if not r["eval_tasks_per_s"] else used / r["eval_tasks_per_s"],
            "eval x reference": ratio("eval_tasks_per_s", ref), "eval x authors": ratio("eval_tasks_per_s", authors),
        })
    return pd.DataFrame(out)


def speed_table(results_dir=None) -> pd.DataFrame:
    """The stored benchmark reports (``python -m reptile.bench``, ``results/bench/<device>.json``), one row per
    device, setting and path: training rate and its useful GFLOP/s per core and fraction of the matrix-multiply rate
    on the cores used, evaluation core-seconds per task, and the ratios to the plain-PyTorch reference and to the
    authors' TensorFlow code, each measured in the same run. Each device's label names the commit its report was
    measured at: the engine changes, and a report speaks for the code it timed."""
    from ..bench import load
    from ..results import results_root

    reports = load(results_root(results_dir) / "bench")
    if not reports:
        return pd.DataFrame({"benchmark": ["not yet run: python -m reptile.bench"]})
    frames = []
    for rep in reports:
        t = bench_table(rep)
        mm = ", ".join(f"{v:.0f} on {k}" for k, v in rep["matmul_gflops"].items())
        t.insert(0, "device (matmul GFLOP/s on threads)", f"{rep['device']} ({mm}; code {_commit(rep)})")
        frames.append(t)
    t = pd.concat(frames, ignore_index=True)
    keep = {"device (matmul GFLOP/s on threads)": None, "setting": None, "path": None, "cores": None,
            "train run-steps/s": 0, "train GFLOP/s per core": 1, "train % of matmul": 1, "train x reference": 2,
            "train x authors": 2, "eval core-s per task": 3, "eval x reference": 2, "eval x authors": 2}
    t = t[list(keep)]
    for col, digits in keep.items():
        if digits is not None:
            t[col] = pd.to_numeric(t[col], errors="coerce").round(digits)
    return t.set_index(["device (matmul GFLOP/s on threads)", "setting", "path"]).fillna("-")


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
        return pd.DataFrame({"timed population run": ["not yet run: see .ci/device-session"]})
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


def campaign_table(results_dir=None, experiment: str | None = None) -> pd.DataFrame:
    """The campaign's progress (:func:`reptile.campaign.progress`), one row per planned population (only those of
    ``experiment`` if given)."""
    from ..campaign import PLAN, progress

    plan = [e for e in PLAN if experiment is None or e.experiment == experiment]
    return progress_frame(progress(plan, results_dir))


def progress_frame(rows: Sequence[dict]) -> pd.DataFrame:
    """:func:`reptile.campaign.progress`'s rows as a table indexed by population, '-' where a row has no value."""
    return pd.DataFrame(rows).set_index("population").astype(object).fillna("-")


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


def show(table: pd.DataFrame, index: bool = True) -> None:
    """Print a table whole, for the command lines."""
    with pd.option_context("display.width", 250, "display.max_columns", 30, "display.float_format", "{:.3g}".format):
        print(table.to_string(index=index))
