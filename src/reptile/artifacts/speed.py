"""The engine's speed on a CPU beyond the benchmark's table: where an inner step's time goes (``python -m reptile.bench
--profile``), the campaign's rate at an earlier commit against this one (``--versus REV``), and the authors' code timed
in turns with ours (``--tf``). Each function reads the stored reports under ``results/bench/`` and draws one table."""

from __future__ import annotations

import json
import statistics
from pathlib import Path

import pandas as pd

from .common import Aligned, Table
from .status import _commit, _fmt

REST = "the rest (other operations, Python between them)"
MAML_PATHS = {"engine, population of 1": "engine", "engine, populations of tasks": "engine",
              "engine, population of 1, oneDNN where it pays": "engine, oneDNN",
              "engine, populations of tasks, oneDNN where it pays": "engine, oneDNN",
              "vmap over the meta-batch": "vmap", "one task at a time": "loop"}


def _load(sub: str, results_dir=None) -> list[dict]:
    from ..results import results_root

    folder = results_root(results_dir) / "bench" / sub
    return [json.loads(p.read_text()) for p in sorted(Path(folder).glob("*.json"))]


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
            t[col] = [_fmt(v, digits) for v in t[col]]
        t.insert(0, "device", rep["device"])
        frames.append(t)
        words.append(f"{rep['device']}: population of {rep['population']}, matrix multiply "
                     f"{rep['matmul_gflops_1_thread']:,.0f} GFLOP/s on one thread, code {_commit(rep)}, "
                     f"load average {rep['load_average'][0]:.1f}")
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
                             "earlier": _fmt(statistics.median(t["theirs"]), 2),
                             "later": _fmt(statistics.median(t["ours"]), 2),
                             "ratio (median)": _fmt(t["median"], 2),
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
        words.append(f"{rep['device']}: {cpu.get('model', '?')} ({', '.join(cpu.get('features', [])) or 'no flags'}), "
                     f"TensorFlow {next(iter(rep['authors_interleaved'].values())).get('tensorflow')}, code "
                     f"{_commit(rep)}, load average {rep.get('load_average', ['?'])[0]:.1f} at the end")
        for setting, comparisons in rep["authors_interleaved"].items():
            for what, t in comparisons.items():
                if not isinstance(t, dict):
                    continue
                shares = t.get("our_cpu_share"), t.get("their_cpu_share")
                rows.append({"device": rep["device"], "setting": setting, "ours against theirs": what,
                             "ratio (median)": _fmt(t["median"], 2), "ratio range": f"{t['min']:.2f} to {t['max']:.2f}",
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
        words.append(f"{rep['device']}: matrix multiply "
                     + ((f"{rate:,.0f} GFLOP/s " + ("on one thread" if on_cpu else "in float32")) if rate
                        else "rate not measured")
                     + f", {rep['seconds_per_measurement']:g} s per measurement, code {_commit(rep)}, load average "
                       f"{rep['load_average'][0]:.1f}")
        for r in rep["rows"]:
            rows.append({"device": rep["device"], "setting": r["setting"], "algorithm": r["algorithm"],
                         "path": MAML_PATHS.get(r["path"], r["path"]),
                         "ms per outer iteration": _fmt(1e3 * r["seconds_per_iteration"], 0),
                         "% of matmul rate": _fmt(None if r["fraction_of_matmul"] is None
                                                  else 100 * r["fraction_of_matmul"], 0),
                         "outer iterations": f"{r['iterations_per_run']:,}",
                         "hours per seed": _fmt(r["hours_per_run"], 1)})
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
                    # the algorithm may wrap ("first-order / MAML"), so that the table fits the page column
                    nowrap_index=[i for i, n in enumerate(frame.index.names) if n != "algorithm"])
