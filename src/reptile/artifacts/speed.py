"""The measured speed, for the status page and the MAML chapter: the benchmark's report (``python -m reptile.bench``:
:func:`speed_summary`, :func:`speed_report`), where an inner step's time goes (``--profile``), the campaign's rate at an
earlier commit against this one (``--versus REV``), the authors' code timed in turns with ours (``--tf``), MAML's
iterations beside Reptile's (``--maml``) and the timed population runs (``--population-run``). Each function reads the
stored reports under ``results/bench/`` and draws one table."""

from __future__ import annotations

import re
import statistics

import pandas as pd

from ..bench.report import bench_table
from .common import Aligned, Table, fmt_number, seed_list, shared_columns

REST = "the rest (other operations, Python between them)"
MAML_PATHS = {"engine, population of 1": "engine", "engine, populations of tasks": "engine",
              "engine, population of 1, oneDNN where it pays": "engine, oneDNN",
              "engine, populations of tasks, oneDNN where it pays": "engine, oneDNN",
              "vmap over the meta-batch": "vmap", "one task at a time": "loop"}


def _load(sub: str, results_dir=None) -> list[dict]:
    from ..bench import load
    from ..results import results_root

    return load(results_root(results_dir) / "bench" / sub)


def _one_device(frame: pd.DataFrame, reports: list) -> pd.DataFrame:
    """The table without its "device" index level when its reports are of one device (which the caption names)."""
    return frame.droplevel("device") if len(reports) == 1 else frame


def _none(what: str, command: str) -> Table:
    return Table(pd.DataFrame({what: [f"not yet run: {command}"]}).set_index(what), f"{what}: not yet run.")


PROFILE_PATHS = (("profiles", "default"), ("profiles_onednn", "oneDNN where it pays"))
KERNELS = "longest fused kernels (µs)"
APART = ["oneDNN layers", "member groups", KERNELS]  # the columns that profile_kernels_view shows, apart
PROFILE_HEADERS = {"µs per inner step": "µs per step", "% of matmul rate": "% of matmul",
                   "matrix multiplies %": "matmul share", "oneDNN convolutions %": "oneDNN share",
                   "fused kernels %": "fused share", "rest %": "rest share", "arithmetic alone, % of rate": "ceiling"}


def profile_rows(report: dict) -> list[dict]:
    """One row per setting and path of a stored profile (the default one, and oneDNN's convolutions on the layers
    where they pay, in reports that have it): the inner step's time, its useful rate as a percentage of the
    one-thread matrix-multiply rate, the shares of its time (matrix multiplies, oneDNN's convolutions, fused C
    kernels, the rest), and the rate of that arithmetic alone (the step's useful multiply-adds over the time of the
    multiplies and convolutions): the ceiling the step would reach if everything else took no time."""
    rate = report["matmul_gflops_1_thread"]
    rows = []
    for name in report["profiles"]:  # setting by setting, each one's paths together
        for key, path in PROFILE_PATHS:
            p = report.get(key, {}).get(name)
            if p is None:
                continue
            wall, useful, split = p["wall_us_per_step"], p["useful_gflop_per_step"], p["split_us_per_step"]
            dnn = split.get("oneDNN convolutions", 0.0)  # reports before oneDNN's convolutions were timed: none
            fused = [r for r in p["rows"] if r["name"].startswith("fused")][:3]
            groups = p.get("member_groups", [p["population"]])  # reports before the CPU's groups: all at once
            layers = p.get("onednn_layers")
            rows.append({"setting": name, "path": path, "oneDNN layers": "-" if not layers or not any(layers) else
                         ", ".join(str(i + 1) for i, on in enumerate(layers) if on),
                         "member groups": "+".join(str(n) for n in groups), "µs per inner step": wall,
                         "% of matmul rate": 100 * useful * 1e6 / wall / rate,
                         "matrix multiplies %": 100 * split["matrix multiplies"] / wall,
                         "oneDNN convolutions %": 100 * dnn / wall,
                         "fused kernels %": 100 * split["fused kernels"] / wall,
                         "rest %": 100 * split[REST] / wall,
                         "arithmetic alone, % of rate": 100 * useful * 1e6 / (split["matrix multiplies"] + dnn) / rate,
                         KERNELS: ", ".join(f"{r['name'][6:]} {r['us_per_step']:.0f}"
                                                                 for r in fused)})
    return rows


def _profile_frames(results_dir=None) -> tuple[list[dict], pd.DataFrame | None, list[str]]:
    """The profiled CPUs' reports, their rows (:func:`profile_rows`) indexed by device, setting and path, and the
    caption's words for each report."""
    reports = [r for r in _load("profile", results_dir) if r.get("matmul_gflops_1_thread")]
    if not reports:
        return reports, None, []
    frames, words = [], []
    for rep in reports:
        t = pd.DataFrame(profile_rows(rep))
        for col, digits in (("µs per inner step", 0), ("% of matmul rate", 0), ("matrix multiplies %", 0),
                            ("oneDNN convolutions %", 0), ("fused kernels %", 0), ("rest %", 0),
                            ("arithmetic alone, % of rate", 0)):
            t[col] = [fmt_number(v, digits) for v in t[col]]
        t.insert(0, "device", device_name(rep, results_dir))
        frames.append(t)
        words.append(f"{device_name(rep, results_dir)}: population of {rep['population']}, matrix multiply "
                     f"{rep['matmul_gflops_1_thread']:,.0f} GFLOP/s on one thread, code {_commit(rep)}, "
                     f"load average {rep['load_average'][0]:.1f}{_load_flag(rep)}")
    frame = pd.concat(frames, ignore_index=True).set_index(["device", "setting", "path"])
    return reports, _one_device(frame, reports), words


def profile_view(results_dir=None) -> Table:
    """Where one inner step's time goes on each profiled CPU, one row per setting and path (:func:`profile_rows`);
    the longest fused kernels are :func:`profile_kernels_view`, so that the table fits the page."""
    reports, frame, words = _profile_frames(results_dir)
    if frame is None:
        return _none("profile", "python -m reptile.bench --profile")
    # short headers, each explained in the caption, so that the table fits the page column
    frame = frame.drop(columns=APART).rename(columns=PROFILE_HEADERS)
    return Aligned(frame, "Where one inner step's time goes on one CPU thread (python -m reptile.bench --profile; "
                           "the clock around every call), on the default path (im2col and the BLAS's batched "
                           "multiplies) and with oneDNN's convolutions on the layers where they pay "
                           "(REPTILE_ONEDNN=1; the next table names the layers it took): the step's time, "
                           "its useful multiply-adds as a percentage of the matrix-multiply rate, the shares of the "
                           "matrix multiplies, of oneDNN's convolutions (with the copies around them), of the fused "
                           "C kernels (im2col, col2im, batch norm with ReLU, Adam) and of the rest (other operations "
                           "and the Python between them), the rate that arithmetic reaches alone (the ceiling if "
                           "everything else took no time). Headers: µs "
                           "per step, the step's time; % of matmul, its rate; the four shares, percentages of the "
                           "step's time; ceiling, the arithmetic's rate alone as a percentage of the matrix multiply. "
                           + "; ".join(words) + ".")


def profile_kernels_view(results_dir=None) -> Table:
    """How each row of :func:`profile_view` ran: the layers on oneDNN's convolutions, the member groups, and the three
    longest fused C kernels."""
    reports, frame, words = _profile_frames(results_dir)
    if frame is None:
        return _none("profile", "python -m reptile.bench --profile")
    return Aligned(frame[APART], "How each inner step in the profile above ran (rows as there): the layers that "
                                 "went through oneDNN's convolutions, how the population's members were grouped "
                                 "(members whose inner loops run together, each group in turn), and the three longest "
                                 "fused C kernels with their microseconds per inner step.")


def versus_view(results_dir=None) -> Table:
    """The campaign's populations (3 seeds, one thread) at an earlier commit and at a later one, timed in turns:
    outer iterations per second of each (medians over the repetitions) and the ratio's median and range."""
    reports = _load("versus", results_dir)
    if not reports:
        return _none("engine against an earlier commit", "python -m reptile.bench --versus REV")
    rows = []
    for rep in reports:
        for key, what in (("settings", "training, outer it/s"), ("evaluation", "evaluation, test tasks/s")):
            for preset, t in rep.get(key, {}).items():  # reports before evaluation was timed have training only
                turns = f"{rep['repetitions']} pairs of {rep['seconds_per_measurement']:g} s"
                rows.append({"commits": f"{rep['versus'][:7]} → {rep['this']} ({turns})", "preset": preset,
                             "rate": what,
                             "earlier": fmt_number(statistics.median(t["theirs"]), 2),
                             "later": fmt_number(statistics.median(t["ours"]), 2),
                             "ratio (median)": fmt_number(t["median"], 2),
                             "ratio range": f"{t['min']:.2f} to {t['max']:.2f}"})
    rep = reports[-1]
    return Aligned(pd.DataFrame(rows).set_index(["commits", "preset", "rate"]),
                    f"The campaign's populations ({rep['population']} seeds, one thread, synthetic images) trained "
                    f"and evaluated by the engine at an earlier commit and at a later one, measured in turns "
                    f"(the pairs of measurements per preset and rate, and their length, beside the commits; so that "
                    f"both see the same load): outer iterations per second of training and test tasks per "
                    f"second of evaluation (the preset's test-time settings; reports before evaluation was timed "
                    f"give training only), medians, and the ratio later / earlier of each pair (median and range). "
                    f"Each commit pair is one run of python -m reptile.bench --versus.")


def authors_view(results_dir=None) -> Table:
    """The authors' TensorFlow code against the engine, measured in turns in one benchmark run (``--tf``): per
    setting and comparison, the median ratio ours / theirs, its range, and the share of a core each side had."""
    from ..bench import load
    from ..results import results_root

    reports = [r for r in load(results_root(results_dir) / "bench") if r.get("authors_interleaved")]
    if not reports:
        return _none("the authors' code", "python -m reptile.bench --tf --authors-code PATH")
    rows, words = [], []
    for rep in reports:
        cpu = rep.get("cpu", {})
        words.append(f"{device_name(rep, results_dir)}, flags {', '.join(cpu.get('features', [])) or 'none'}, "
                     f"TensorFlow {next(iter(rep['authors_interleaved'].values())).get('tensorflow')}, code "
                     f"{_commit(rep)}, load average {rep.get('load_average', ['?'])[0]:.1f} at the end"
                     f"{_load_flag(rep)}")
        for setting, comparisons in rep["authors_interleaved"].items():
            for what, t in comparisons.items():
                if not isinstance(t, dict):
                    continue
                shares = t.get("our_cpu_share"), t.get("their_cpu_share")
                rows.append({"device": device_name(rep, results_dir), "setting": setting, "ours against theirs": what,
                             "ratio (median)": fmt_number(t["median"], 2), "ratio range": f"{t['min']:.2f} to {t['max']:.2f}",
                             "core share, ours / theirs": "-" if not all(shares) else
                             f"{statistics.median(shares[0]):.2f} / {statistics.median(shares[1]):.2f}"})
    frame = pd.DataFrame(rows).set_index(["device", "setting", "ours against theirs"])
    frame = _one_device(frame, reports)
    return Aligned(frame,
                    "The engine against the authors' TensorFlow code on one thread each, measured in turns (ours, "
                    "theirs, theirs, ours, ...) in one benchmark run: the ratio of our rate to theirs (run-steps per "
                    "second in training, test tasks per second in evaluation; above 1, ours is faster) for each pair, "
                    "its median and range, and the median share of a core each process had while timed (CPU time "
                    "over wall time; below 1 when other work shared the core). " + "; ".join(words) + ".",
                    nowrap_index=[frame.index.names.index("setting")])


def maml_view(results_dir=None, latest: bool = False) -> Table:
    """MAML and first-order MAML beside Reptile on the same Omniglot cells (``python -m reptile.bench --maml``): the
    time of one outer iteration of each, its useful rate as a percentage of the one-thread matrix-multiply rate, and
    the hours a full-budget run of one seed takes at that rate, for every device measured (``latest``: only the
    report made last, as the MAML chapter shows it; the status page shows them all)."""
    reports = [r for r in _load("maml", results_dir) if r.get("rows")]
    if not reports:
        return _none("MAML against Reptile", "python -m reptile.bench --maml")
    if latest:
        reports = [max(reports, key=lambda r: r.get("created", ""))]
    rows, words = [], []
    for rep in reports:
        rate = rep.get("matmul_gflops_1_thread")
        on_cpu = rep.get("environment", {}).get("device", "cpu") == "cpu"
        words.append(f"{device_name(rep, results_dir)}: matrix multiply "
                     + ((f"{rate:,.0f} GFLOP/s " + ("on one thread" if on_cpu else "in float32")) if rate
                        else "rate not measured")
                     + f", {rep['seconds_per_measurement']:g} s per measurement, code {_commit(rep)}, load average "
                       f"{rep['load_average'][0]:.1f}{_load_flag(rep)}")
        for r in rep["rows"]:
            rows.append({"device": device_name(rep, results_dir), "setting": r["setting"], "algorithm": r["algorithm"],
                         "path": MAML_PATHS.get(r["path"], r["path"]),
                         "ms per outer iteration": fmt_number(1e3 * r["seconds_per_iteration"], 0),
                         "% of matmul rate": fmt_number(None if r["fraction_of_matmul"] is None
                                                  else 100 * r["fraction_of_matmul"], 0),
                         "outer iterations": f"{r['iterations_per_run']:,}",
                         "hours per seed": fmt_number(r["hours_per_run"], 1)})
    rep = reports[-1]
    frame = pd.DataFrame(rows).set_index(["device", "setting", "algorithm", "path"])
    frame = _one_device(frame, reports)
    return Aligned(frame,
                    "One outer iteration of Reptile (the engine, one run), MAML and first-order MAML (on Reptile's "
                    "Conv4, by three paths: engine, the tasks as populations on the engine's network with the second "
                    "order by hand; vmap, torch.func with the meta-batch vectorised; loop, torch.func one task after "
                    "another; on a CPU also engine, oneDNN: the engine with oneDNN's convolutions where they pay, "
                    "REPTILE_ONEDNN=1) on the device named below (a CPU: one thread), synthetic Omniglot-shaped "
                    "images, each cell with its own hyper-parameters (Reptile: the paper's; MAML: Finn et al.'s, "
                    f"{rep['maml_outer_iters']:,} outer iterations): the time of an iteration, its useful multiply-adds "
                    "(convolutions and dense layer, forward and backward; MAML's second-order inner step counted "
                    f"{rep['second_order_factor']} times a training step) as a percentage of the matrix-multiply "
                    "rate, and the hours of training one seed's full-budget run takes at that rate (the final "
                    "evaluation not included). " + "; ".join(words) + ".",
                    # the device, the algorithm and the path may wrap ("first-order / MAML"), so that the table of
                    # several devices fits the page column too
                    nowrap_index=[i for i, n in enumerate(frame.index.names) if n == "setting"])


# ----------------------------------------------------------------- the benchmark's report and timed runs

def _commit(report: dict) -> str:
    """The commit a benchmark report or timed run was measured at, short (``+dirty`` with uncommitted changes)."""
    from ..provenance import short_commit

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
        rows.append({"device": device_name(r, results_dir), "preset": r["preset"], "code": _commit(r),
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


# the speed report's columns: (name in bench_table, shown name, digits)
# (the cores a path used are in its name: "2 threads" and "2 processes" two, every other path one, or the one GPU)
_TRAIN = [("train run-steps/s", "run-steps/s", 0), ("train GFLOP/s per core", "GFLOP/s per core", 1),
          ("train % of matmul", "% of matmul", 1), ("train x reference", "× reference", 2),
          ("train x authors", "× authors", 2)]
_EVAL = [("eval core-s per task", "core-ms per task", None), ("eval x reference", "× reference", 2),
         ("eval x authors", "× authors", 2)]


def device_name(rep: dict, results_dir=None) -> str:
    """A report's device as the page shows it: the CPU's model ("AMD EPYC (CPU)") or the GPU's name, where the report
    is keyed by a slug of it (``cpu-amd-epyc``); a report that records neither (a profile, a MAML timing) borrows
    the name from the main benchmark report of the same device, else shows its slug."""
    def cpu_model(r):
        model = (r.get("cpu") or {}).get("model")
        return None if not model else re.sub(r"\s+", " ", re.sub(r"\((R|TM)\)", "", model)).strip() + " (CPU)"

    env = rep.get("environment") or {}
    found = cpu_model(rep) or (env.get("device_name") if env.get("device", "cpu") != "cpu" else None)
    if found:
        return found
    same = [r for r, _ in _reports(results_dir) if r["device"] == rep["device"]]
    return next((n for n in (cpu_model(r) or (r.get("environment") or {}).get("device_name") for r in same) if n),
                rep["device"])


def _reports(results_dir=None) -> list[tuple[dict, pd.DataFrame]]:
    from ..bench import load
    from ..results import results_root

    return [(rep, bench_table(rep)) for rep in load(results_root(results_dir) / "bench")]


def _load_flag(rep: dict) -> str:
    """A caption's warning for a report measured while other work held the cores (its load average at the end above
    its number of cores): its rates and ratios are then less reliable. Empty otherwise."""
    load, cores = rep.get("load_average"), rep.get("cores") or rep.get("environment", {}).get("cpu_count")
    if not load or not cores or load[0] <= cores:
        return ""
    return (f", measured under load: load average {load[0]:.1f} on {cores} cores, so other work shared them and this "
            f"report's rates and ratios are less reliable")


def _matmul_words(reports) -> str:
    parts = []
    for rep, _ in reports:
        mm = rep["matmul_gflops"]
        rate = (f"{mm['gpu']:,.0f} on the GPU" if "gpu" in mm else
                ", ".join(f"{v:,.0f} on {k} core{'s' if k != '1' else ''}" for k, v in mm.items()))
        conv = rep.get("conv_gflops_1_thread")  # oneDNN's convolution, the other yardstick (reptile.bench.paths)
        if conv:
            rate += f", and oneDNN's convolution (the engine's second layer) {conv:,.0f} on 1 core"
        parts.append(f"{device_name(rep)} {rate} (code {_commit(rep)}{_load_flag(rep)})")
    return "; ".join(parts)


def speed_summary(results_dir=None) -> Table:
    """What a reader needs of the speed report: per device and setting, the engine's fastest training path on one
    core (one GPU), as the reference and the authors' code ran: its rate, useful GFLOP/s, the fraction of the
    matrix-multiply rate, and the ratios to the plain-PyTorch reference and to the authors' code where timed."""
    reports = _reports(results_dir)
    if not reports:
        return Table(pd.DataFrame({"benchmark": ["not yet run: python -m reptile.bench"]}).set_index("benchmark"),
                     "The measured speed.")
    rows, loaded = [], []
    for rep, t in reports:
        engine = t[t["path"].str.startswith("population") & (t["cores"] == 1)
                   & ~t["path"].str.contains("replay only")]
        under_load = bool(_load_flag(rep))  # the authors' process then got a share of a core ours did not
        if under_load and engine["train x authors"].notna().any():
            loaded.append(device_name(rep, results_dir))
        for setting, group in engine.groupby("setting", sort=False):
            best = group.loc[group["train run-steps/s"].idxmax()]
            rows.append({"device": device_name(rep, results_dir), "setting": setting, "engine path": best["path"],
                         "run-steps/s": fmt_number(best["train run-steps/s"], 0),
                         "useful GFLOP/s": fmt_number(best["train GFLOP/s"], 0),
                         "% of matmul": fmt_number(best["train % of matmul"], 1),
                         "× reference": fmt_number(best["train x reference"], 2),
                         "× authors": "-" if under_load else fmt_number(best["train x authors"], 2)})
    frame = pd.DataFrame(rows).set_index(["device", "setting"])
    return Aligned(frame, "Training speed on each device (rows: device and setting) of the engine's fastest path "
                           "on one CPU core or one GPU: run-steps (one inner optimiser step of one run) per second, "
                           "the useful GFLOP/s (the convolutions' and dense layer's multiply-adds), their percentage "
                           "of the device's matrix-multiply rate, and the rate over that of the plain-PyTorch "
                           "reference and of the authors' TensorFlow code (where timed: on the CPU) in the same "
                           "benchmark run. Matrix-multiply GFLOP/s: " + _matmul_words(reports) + "." +
                  (" A percentage above 100: oneDNN's convolutions, which this percentage compares with the BLAS's "
                   "multiply, run faster than it (see where a CPU step's time goes, below)."
                   if any(float(str(r["% of matmul"]).replace(",", "")) > 100 for r in rows
                          if str(r["% of matmul"]).replace(",", "").replace(".", "").isdigit()) else "")
                  + (" +dirty: measured with uncommitted changes to the code, which the repository's history does "
                     "not hold, so that report cannot be rerun at its commit exactly."
                     if any(_commit(rep).endswith("+dirty") for rep, _ in reports) else "")
                  + (f" No ratio to the authors' code is given for {', '.join(loaded)}: measured under load, "
                     f"where other work can take unequal shares of a core from the two processes; the comparison with the authors' code in turns, "
                     f"below, measures it with each process's share." if loaded else ""),
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
        out = pd.DataFrame({"device": device_name(rep, results_dir), "setting": t["setting"], "path": t["path"]})
        for src, name, digits in columns:
            out[name] = [fmt_number(v if v == v else None, digits) for v in pd.to_numeric(t[src], errors="coerce")]
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
    t["outer it/s"] = [fmt_number(v, 1) for v in t["outer it/s"]]
    t["eval tasks/s"] = [fmt_number(v, 1) for v in t["eval tasks/s"]]
    t["hours for the full protocol"] = [fmt_number(v, 2) for v in t["hours for the full protocol"]]
    frame, words = shared_columns(t)
    return Aligned(frame, "Short population runs timed end to end, one row per device: the code they ran, the "
                           "engine switches set, the measured training rate (learning-curve evaluations included) and "
                           "evaluation rate, the accuracy of the short run (mean ± standard deviation over seeds; not "
                           "the paper's protocol), and the hours the preset's full protocol takes at these rates."
                    + words)


def dependent_steps(preset: str = "omniglot-1shot-5way") -> str:
    """Markdown: why a faster GPU shortens a paper-budget run less than its arithmetic suggests, with the number of
    sequential inner steps read from ``preset`` (its meta-batch times its inner steps, times its outer iterations)."""
    from ..config import FEWSHOT_PRESETS

    m = FEWSHOT_PRESETS[preset].meta
    per = m.meta_batch * m.inner_iters
    return (f"A GPU with more arithmetic shortens such a run by less than its arithmetic would suggest: each outer "
            f"iteration of `{preset}` is {per} inner steps ({m.meta_batch} tasks of {m.inner_iters}) that depend one "
            f"on the next (Adam's moments run on through the meta-batch's tasks, as in the authors' code), so the "
            f"full protocol is {per * m.outer_iters / 1e6:.1f} million dependent steps per seed, and its time is set "
            f"by how long one small step takes, not by how much arithmetic the device can do at once. The seeds of a "
            f"cell, and other cells on streams of their own, use the rest of the device. (The rows above differ in "
            f"their code and switches as well as their GPU, so they do not compare the GPUs alone.)")

