"""The benchmark: how fast each path trains and evaluates, as ratios measured in one run on this machine.

    python -m reptile.bench                        # a few minutes on a 2-core CPU; writes results/bench/<device>.json
    python -m reptile.bench --tf --authors-code ../supervised-reptile   # also time the authors' TensorFlow code
    python -m reptile.bench --maml                 # Reptile, MAML and first-order MAML per outer iteration (bench.maml)

For each setting (Table 2's 1-shot and 5-shot 5-way Omniglot cells, and Figure 3's four-step plain-SGD setting) it
measures, on synthetic images shaped like Omniglot's (the arithmetic does not depend on the pixels):

* **training**: run-steps per second, a run-step being one inner optimiser step of one run on ``inner_batch``
  images (so a population of S runs makes S run-steps per step);
* **evaluation**: test tasks per second (``eval_iters`` steps of ``eval_batch``, then both predictions);

for these paths:

* ``reference``: Reptile as a user would write it (:mod:`reptile.bench.reference`: ``nn.Module``, ``deepcopy``
  and ``torch.optim.Adam`` per task, the optimiser state carried by hand); the ratios are to it;
* ``solo``: the project's per-run code (:class:`reptile.core.MetaLearner`, what ``--engine solo`` runs);
* ``population``: the engine (:mod:`reptile.engine`), S runs in lockstep, on 1 thread, on all threads of one
  process, and as one process per core (what ``torchrun`` or the runner's ``--jobs`` give); on a CPU, also with
  its PyTorch elementwise path instead of the fused C kernels (:mod:`reptile.engine.fused`) and with PyTorch's
  convolutions (oneDNN's) instead of im2col and batched multiplies, on every layer (``REPTILE_ONEDNN=all``) and
  on the layers where they pay (``REPTILE_ONEDNN=1``), and on a GPU without
  recording the outer iteration as a CUDA graph (:mod:`reptile.engine.graphs`), with the network's formulation
  of more kernels (``REPTILE_FEW_KERNELS=0``, the one before ``Conv4(few_kernels=...)``) and with its inner step
  compiled by ``torch.compile`` (``REPTILE_COMPILE=1``), to show what those bring, the recorded graph replayed alone (the
  GPU's share of a step: the rest is the host sampling tasks and copying them), and the campaign's populations of 3
  seeds, one alone and three at once on CUDA streams of their own (``campaign --streams``);
* ``authors``: their TensorFlow code, with ``--tf`` (:mod:`reptile.bench.tf_harness`).

The paths themselves, and the work they count, are in :mod:`reptile.bench.paths`. The table is drawn by
:func:`reptile.bench.report.bench_table` (the status page, :mod:`reptile.artifacts.status`, shows every
stored report).

The useful work of a step is counted as the multiply-adds of its convolutions and dense layer (forward, the weight
gradients, and the input gradients below the first layer), so GFLOP/s compare with the matrix-multiply rate
measured first (on a GPU, the GPU's float32 rate); batch norm, ReLU and the optimiser count as overhead.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import shutil
import statistics
import sys
import time
from pathlib import Path
from typing import Any

import torch

from .. import results as R
from .paths import (AUTHORS_SETTING, SETTINGS, conv_rate, device_name, eval_task_flops, gpu_matmul_rate, kernel_profile,
                          matmul_rate, one_process_per_core, onednn_timed, population_evaluation, population_replay,
                          population_streams, population_training, setting, solo_evaluation, solo_training,
                          slug, step_flops, synthetic_images)
from ..validate import check_device_argument, fail

# ---------------------------------------------------------------------------------------------- the report


@contextlib.contextmanager
def _environ(**values: str):
    saved = {k: os.environ.get(k) for k in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


def _measured(say, measure, *args) -> float | None:
    """``measure(*args)``, or None (shown as '-') with the error said, for the optional rows a GPU adds: one that
    fails there leaves the rest of the report."""
    try:
        return measure(*args)
    except Exception as e:  # noqa: BLE001 - reported, and the row stays empty
        say(f"  not measured: {type(e).__name__}: {e}")
        return None


def run(seconds: float = 6.0, sizes: tuple[int, ...] | None = None, device: str = "auto", tf: bool = False,
        authors_code: str | None = None, tf_python: str | None = None, settings=SETTINGS,
        progress: bool = True) -> dict[str, Any]:
    """Measure every path on every setting; returns the report (shown by :func:`reptile.bench.report.bench_table`)."""
    from ..engine import fused
    from ..engine.memory import keep_freed_memory
    from .reference import time_evaluation, time_training
    from ..threads import cores

    dev = R.resolve_device(device)
    keep_freed_memory()  # the reference and the solo path get it too: the ratios are the engine's alone
    n_cores = cores()
    sizes = tuple(sizes or ((1, 3, 8) if dev.type == "cpu" else (8, 64)))  # 3: the campaign's populations
    say = (lambda *a: print(*a, file=sys.stderr, flush=True)) if progress else (lambda *a: None)
    torch.set_num_threads(1)
    say("matrix multiply ...")
    if dev.type == "cuda":  # the GPU's rate is the one its paths are compared with
        mm = {"gpu": gpu_matmul_rate(dev)}
    else:
        mm = {"1": matmul_rate(1)}
        if n_cores > 1:
            mm[str(n_cores)] = matmul_rate(n_cores)
    rows: list[dict[str, Any]] = []
    versus: dict[str, Any] = {}

    def add(name, path, threads, processes, train=None, evaluation=None, population=None):
        cfg = setting(name)
        rows.append({"setting": name, "path": path, "threads": threads, "processes": processes,
                     "population": population, "run_steps_per_s": train, "eval_tasks_per_s": evaluation,
                     "train_gflops": None if train is None else train * step_flops(cfg.n_way, cfg.meta.inner_batch) / 1e9,
                     "eval_gflops": None if evaluation is None else evaluation * eval_task_flops(cfg) / 1e9})
        say(f"  {name:18s} {path:34s} train {train or 0:8.1f} run-steps/s   eval {evaluation or 0:7.2f} tasks/s")

    for name in settings:
        cfg = setting(name)
        say(f"{name} ...")
        torch.set_num_threads(1)
        images = synthetic_images().to(dev)
        add(name, "reference", 1, 1, time_training(cfg, images, seconds, dev)["run_steps_per_s"],
            time_evaluation(cfg, images, seconds, dev)["tasks_per_s"])
        add(name, "solo", 1, 1, solo_training(cfg, seconds, dev), solo_evaluation(cfg, seconds, dev))
        for size in sizes:
            add(name, f"population of {size}", 1, 1, population_training(cfg, size, seconds, dev),
                population_evaluation(cfg, seconds, dev) if size == sizes[0] else None, size)
        if fused.usable(images.float()):  # what the fused C kernels bring, measured against the PyTorch path
            big = sizes[-1]
            with _environ(REPTILE_FUSED="0"):
                add(name, f"population of {big}, PyTorch kernels", 1, 1, population_training(cfg, big, seconds, dev),
                    population_evaluation(cfg, seconds, dev), big)
        if onednn_timed(dev):  # PyTorch's (oneDNN's) convolutions instead of
            # im2col and the BLAS's batched multiplies, at the campaign's size: on every layer, and on the layers
            # where they pay (Conv4.onednn_layers)
            for mode, label in (("all", "oneDNN convolutions"), ("1", "oneDNN where it pays")):
                with _environ(REPTILE_ONEDNN=mode):
                    add(name, f"population of 3, {label}", 1, 1, population_training(cfg, 3, seconds, dev),
                        population_evaluation(cfg, seconds, dev), 3)
        if dev.type == "cuda":  # what recording the outer iteration as a CUDA graph brings (.engine.graphs)
            big = sizes[-1]
            with _environ(REPTILE_CUDA_GRAPHS="0"):
                add(name, f"population of {big}, no CUDA graphs", 1, 1, population_training(cfg, big, seconds, dev),
                    None, big)
            with _environ(REPTILE_FEW_KERNELS="0"):  # what the formulation with fewer kernels brings
                add(name, f"population of {big}, more kernels", 1, 1,
                    _measured(say, population_training, cfg, big, seconds, dev), None, big)
            add(name, f"population of {big}, graph replay only", 1, 1,
                _measured(say, population_replay, cfg, big, seconds, dev), None, big)
            # the campaign's populations (3 seeds): one alone, and three at once on streams (campaign --streams)
            add(name, "population of 3", 1, 1, population_training(cfg, 3, seconds, dev), None, 3)
            with _environ(REPTILE_FEW_KERNELS="0"):
                add(name, "population of 3, more kernels", 1, 1,
                    _measured(say, population_training, cfg, 3, seconds, dev), None, 3)
            add(name, "3 populations of 3, on streams", 1, 1,
                _measured(say, population_streams, cfg, 3, 3, seconds, dev), None, 9)
            # the graph's inner step compiled by torch.compile (a minute per shape), for the population of 3 seeds
            # that the campaign and a cell's run train (at 64 members on an H200 it was ahead of the eager step's
            # formulation of fewer kernels, level with the one of more kernels)
            with _environ(REPTILE_COMPILE="1"):
                add(name, "population of 3, compiled", 1, 1,
                    _measured(say, population_training, cfg, 3, seconds, dev), None, 3)
                add(name, "population of 3, compiled, graph replay only", 1, 1,
                    _measured(say, population_replay, cfg, 3, seconds, dev), None, 3)
            add(name, "population of 3, graph replay only", 1, 1,
                _measured(say, population_replay, cfg, 3, seconds, dev), None, 3)
        if dev.type == "cpu" and n_cores > 1:
            big = sizes[-1]
            torch.set_num_threads(n_cores)
            add(name, f"population of {big}, {n_cores} threads", n_cores, 1,
                population_training(cfg, big, seconds, dev), population_evaluation(cfg, seconds, dev), big)
            torch.set_num_threads(1)
            add(name, f"population of {big}, {n_cores} processes", 1, n_cores,
                one_process_per_core("train", name, big, seconds, n_cores),
                one_process_per_core("eval", name, big, seconds, n_cores), big)
        if tf and name in AUTHORS_SETTING:
            say(f"  the authors' TensorFlow code, in turns with ours ({AUTHORS_REPETITIONS} pairs each) ...")
            versus[name] = authors_versus(cfg, AUTHORS_SETTING[name], seconds, dev, tf_python, authors_code)
            t = versus[name]
            add(name, "authors (TensorFlow)", 1, 1, statistics.median(t["train, population of 1"]["theirs"]),
                statistics.median(t["evaluation"]["theirs"]))
    report = {"device": device_name(dev), "cores": n_cores, "matmul_gflops": mm, "seconds_per_measurement": seconds,
              "fused_kernels": fused.library() is not None, "rows": rows, "environment": R.environment(dev),
              "load_average": os.getloadavg(), "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}
    if dev.type == "cpu":
        from .measure import cpu_features

        report["cpu"] = cpu_features()
        report["conv_gflops_1_thread"] = conv_rate(1)  # oneDNN's convolution: the other yardstick (paths.conv_rate)
    if versus:
        report["authors_interleaved"] = versus
    return report


AUTHORS_REPETITIONS = 3  # pairs (ours, theirs) per comparison with the authors' code, in ABBA order


def authors_versus(cfg, authors_setting: str, seconds: float, dev, tf_python=None, authors_code=None,
                   repetitions: int = AUTHORS_REPETITIONS) -> dict[str, Any]:
    """The authors' TensorFlow code against ours on one setting, measured in turns (ours, theirs, theirs, ours,
    ...; :func:`reptile.bench.measure.interleaved`) so that both see the same load: training run-steps per
    second of a population of 1 and of 3 (the campaign's) against theirs, and evaluation tasks per second; on a CPU
    with the fused kernels, also the population of 3 and the evaluation with oneDNN's convolutions where they pay
    (``REPTILE_ONEDNN=1``). Each comparison gives every pair's ratio ours / theirs, their median and spread; their
    measurements carry the share of a core their process had (CPU time over wall time)."""
    from .measure import interleaved
    from .tf_harness import AuthorsTimer

    out: dict[str, Any] = {}
    shares: dict[str, list[float]] = {"ours": [], "theirs": []}

    def ours_train(size):
        t0, c0 = time.perf_counter(), time.process_time()
        rate = population_training(cfg, size, seconds, dev)
        shares["ours"].append((time.process_time() - c0) / (time.perf_counter() - t0))
        return rate

    def theirs_train(timer):
        t = timer.train(seconds)
        shares["theirs"].append(t.get("cpu_share"))
        return t["run_steps_per_s"]

    paths = [("", "0")] + ([(", oneDNN where it pays", "1")] if onednn_timed(dev) else [])
    with AuthorsTimer(tf_python, authors_code, authors_setting) as timer:
        for label, mode in paths:
            with _environ(REPTILE_ONEDNN=mode):
                for size in (1, 3) if not label else (3,):
                    for v in shares.values():
                        v.clear()
                    out[f"train, population of {size}{label}"] = {
                        **interleaved(lambda: ours_train(size), lambda: theirs_train(timer), repetitions,
                                      order="ABBA"),
                        "our_cpu_share": list(shares["ours"]), "their_cpu_share": list(shares["theirs"])}
                out[f"evaluation{label}"] = interleaved(lambda: population_evaluation(cfg, seconds, dev),
                                                        lambda: timer.evaluate(seconds)["eval_tasks_per_s"],
                                                        repetitions, order="ABBA")
        out["tensorflow"] = timer.info.get("tensorflow")
    return out


def print_profile(name: str, got: dict[str, Any], rate: float | None) -> None:
    """One setting's profile (:func:`reptile.bench.paths.kernel_profile`) as text: on a CPU, first where an inner
    step's time goes and its useful rate as a fraction of the matrix-multiply ``rate``, then its operations."""
    what = "kernels" if "kernels" in got else "operations"
    print(f"\n{name}, population of {got['population']} on {got['device']}: {got[what]:.1f} {what} per inner step "
          f"(over {got['inner_steps']} inner steps, no CUDA graph)")
    if "split_us_per_step" in got:
        wall, useful = got["wall_us_per_step"], got["useful_gflop_per_step"]
        print(f"  {wall:9.1f} us per inner step without the profiler: {useful * 1e6 / wall:.1f} useful GFLOP/s, "
              f"{100 * useful * 1e6 / wall / rate:.0f}% of the matrix-multiply rate; at that rate the step's "
              f"multiply-adds alone take {useful * 1e6 / rate:.1f} us")
        for part, us in got["split_us_per_step"].items():
            print(f"  {us:9.1f} us  {100 * us / wall:4.0f}%  {part}")
    for r in got["rows"][:25]:
        print(f"  {r['us_per_step']:9.2f} us  {r['per_step']:6.2f} x  {r['name'][:110]}")


def population_run(folder: str | Path) -> dict[str, Any]:
    """What one timed population run measured, and the time of its preset's full protocol at those rates.

    ``folder`` holds the results files of one configuration's seeds trained together as one population (for
    example ``--preset omniglot-1shot-5way --seeds 0 1 2 --set outer_iters=2000`` into a scratch results folder).
    Training time includes the learning-curve evaluations, as a full run's does; the full protocol's time is its
    preset's ``outer_iters`` at the measured training rate plus its ``eval_tasks`` per seed at the measured
    evaluation rate. Not a result of the paper's protocol: the accuracies are those of the shortened run."""
    from ..config import FEWSHOT_PRESETS

    runs = [R.read_run(p) for p in sorted(Path(folder).glob("seed-*.json"))]
    if not runs:
        raise FileNotFoundError(f"no results files (seed-*.json) in {folder}")
    first = runs[0]
    if {r["digest"] for r in runs} != {first["digest"]} or first.get("engine", {}).get("name") != "population":
        raise ValueError(f"{folder} does not hold the seeds of one population run")
    preset = first["name"].split("-custom-")[0]
    if preset not in FEWSHOT_PRESETS:
        raise ValueError(f"{folder}: {first['name']!r} is not a few-shot preset or a variant of one")
    full, cfg = FEWSHOT_PRESETS[preset], first["config"]
    seeds = [r["seed"] for r in runs]
    iters, train_s = cfg["meta"]["outer_iters"], first["train_seconds"]
    per_task = first["seconds_per_eval_task"]  # over all seeds' tasks: the population's wall time
    full_s = full.meta.outer_iters * train_s / iters + full.eval_tasks * len(seeds) * per_task
    return {"device": first["environment"].get("device_name") or first["environment"]["device"],
            "preset": preset, "seeds": seeds, "outer_iters": iters, "train_seconds": train_s,
            "outer_iters_per_s": iters / train_s, "eval_tasks": cfg["eval_tasks"] * len(seeds),
            "eval_tasks_per_s": 1 / per_task,
            "accuracy": {mode: [r["eval"][mode]["accuracy"] for r in runs] for mode in first["eval"]},
            "full_protocol": {"outer_iters": full.meta.outer_iters, "eval_tasks_per_seed": full.eval_tasks,
                              "hours": full_s / 3600},
            "commit": first["environment"].get("commit"), "switches": first["environment"].get("switches"),
            "created": first["environment"].get("date")}


def load(folder: str | Path | None = None) -> list[dict[str, Any]]:
    """Every stored benchmark report (``results/bench/*.json``)."""
    folder = Path(folder) if folder else R.results_root() / "bench"
    return [json.loads(p.read_text()) for p in sorted(folder.glob("*.json"))]


# the campaign's 20-way and eval-25 entries (reptile.campaign.PLAN): what --versus times by default
CAMPAIGN_PRESETS = ("omniglot-1shot-20way", "omniglot-5shot-20way", "omniglot-1shot-5way-transductive-eval25")
MAX_SECONDS = 600.0  # per measurement: a report makes a few dozen measurements (more on a GPU), so 600 s is hours
MEMBER_BYTES = 64 << 20  # a population member in the benchmark: its synthetic images (3 MB), weights, optimiser
#                          state, and its share of a step's activations, with room to spare


def check_arguments(parser: argparse.ArgumentParser, a: argparse.Namespace):
    """Every value of the command line, before any timing: stops with one line and exit code 2
    (:func:`reptile.validate.fail`) on a bad one. Returns the device."""
    import math

    from . import tf_harness
    from ..validate import check_size

    if not (math.isfinite(a.seconds) and 0 < a.seconds <= MAX_SECONDS):
        fail(parser, f"--seconds {a.seconds}: allowed: a finite number of seconds per measurement in (0, "
                     f"{MAX_SECONDS:g}] (the report makes a few dozen measurements; the default is 6)")
    if a.population is not None:
        bad = [n for n in a.population if n < 1]
        if bad:
            fail(parser, f"--population {' '.join(map(str, bad))}: allowed: population sizes >= 1")
        try:
            check_size("--population", max(a.population), MEMBER_BYTES, "the benchmark's population members")
        except ValueError as e:
            fail(parser, e)
    modes = [flag for flag, on in (("--population-run", a.population_run is not None), ("--profile", a.profile),
                                   ("--versus", a.versus is not None), ("--maml", a.maml)) if on]
    if len(modes) > 1:
        fail(parser, f"{' and '.join(modes)}: each replaces the report with a measurement of its own; allowed: one "
                     f"of --population-run, --profile, --versus and --maml at a time")
    dev = check_device_argument(parser, a.device)
    if (a.authors_code or a.tf_python) and not a.tf:
        fail(parser, f"{'--authors-code' if a.authors_code else '--tf-python'} is used only with --tf (time the "
                     f"authors' TensorFlow code); add --tf, or leave it out")
    if a.tf:
        if not a.authors_code:
            fail(parser, "--tf needs --authors-code PATH, a checkout of openai/supervised-reptile")
        code = Path(a.authors_code)
        if not (code / "supervised_reptile" / "reptile.py").is_file():
            fail(parser, f"--authors-code {a.authors_code}: not a checkout of openai/supervised-reptile (no "
                         f"supervised_reptile/reptile.py there); {tf_harness.GET_CODE.format(path=code)}")
        python = Path(a.tf_python) if a.tf_python else tf_harness.DEFAULT_PYTHON
        exe = shutil.which(str(python))
        if exe is None:
            fail(parser, f"--tf-python {str(python)!r}: no Python there for the authors' TensorFlow code; "
                         f"{tf_harness.GET_TF}, or pass --tf-python PATH")
        import subprocess

        try:  # a few seconds now rather than a traceback after the project's timings
            found = subprocess.run([exe, "-c", "import tensorflow"], capture_output=True, timeout=300,
                                   env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"}).returncode == 0
        except (OSError, subprocess.SubprocessError):
            found = False
        if not found:
            fail(parser, f"--tf-python {str(python)!r}: TensorFlow cannot be imported by it; {tf_harness.GET_TF}")
    if a.versus is not None:
        from ..config import FEWSHOT_PRESETS, FIGURE3_PRESETS

        bad = [p for p in a.versus_presets if p not in {**FEWSHOT_PRESETS, **FIGURE3_PRESETS}]
        if bad:
            fail(parser, f"--versus-presets {' '.join(bad)}: allowed: few-shot or Figure 3 presets "
                         f"({', '.join({**FEWSHOT_PRESETS, **FIGURE3_PRESETS})})")
        if a.repetitions < 1:
            fail(parser, f"--repetitions {a.repetitions}: allowed: an integer >= 1")
        if a.device not in ("auto", "cpu"):
            fail(parser, f"--device {a.device}: --versus times the CPU engine, one thread per measurement; allowed "
                         f"with it: auto or cpu")
    if a.population_run is not None and not Path(a.population_run).is_dir():
        fail(parser, f"--population-run {a.population_run}: not a folder; allowed: the folder of one timed "
                     f"population run's results files (seed-*.json)")
    # the folder of what is written at the end
    sub = ("population" if a.population_run else "profile" if a.profile else "versus" if a.versus else
           "maml" if a.maml else "")
    try:
        R.check_writable(Path(a.out) if a.out else R.results_root() / "bench" / sub, "report",
                         "Pass --out DIR, a folder you can write.")
    except ValueError as e:
        fail(parser, e)
    return dev


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m reptile.bench", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=6.0, help="time per measurement (default 6)")
    parser.add_argument("--population", type=int, nargs="+", default=None,
                        help="population sizes to time (default: 1 3 8 on a CPU, 8 64 on a GPU)")
    parser.add_argument("--device", default="auto")
    parser.add_argument("--settings", nargs="+", default=list(SETTINGS), choices=SETTINGS, metavar="SETTING",
                        help=f"default: all of {', '.join(SETTINGS)}")
    parser.add_argument("--tf", action="store_true", help="also time the authors' TensorFlow code")
    parser.add_argument("--authors-code", default=None, help="a checkout of openai/supervised-reptile (with --tf)")
    parser.add_argument("--tf-python", default=None, help="the Python of the TensorFlow environment "
                                                          "(default .venv-tf/bin/python, `make tf-env`)")
    parser.add_argument("--out", default=None, help="folder of the report (default results/bench)")
    parser.add_argument("--population-run", default=None, metavar="DIR",
                        help="instead: summarise the timed population run whose results files are in DIR (rates, "
                             "the full protocol's time at them) into results/bench/population/")
    parser.add_argument("--profile", action="store_true",
                        help="instead: what one inner step of a population (the first --population size, default 3, "
                             "the campaign's) is made of, for each of --settings: its kernels on a GPU; on a CPU the "
                             "split between matrix multiplies, fused kernels and the rest, the fraction of the "
                             "matrix-multiply rate, and its operations, with counts and times per inner step; "
                             "written to results/bench/profile/<device>.json, which the status page shows")
    parser.add_argument("--versus", default=None, metavar="REV",
                        help="instead: the campaign's outer iterations per second (populations of 3, 1 thread) at "
                             "commit REV and at this checkout, in turns, --repetitions times --seconds each, into "
                             "results/bench/versus/ (reptile.bench.versus)")
    parser.add_argument("--versus-presets", nargs="+", default=list(CAMPAIGN_PRESETS), metavar="PRESET",
                        help=f"with --versus: the presets timed (default: {' '.join(CAMPAIGN_PRESETS)})")
    parser.add_argument("--repetitions", type=int, default=3, help="with --versus: pairs of measurements (default 3)")
    parser.add_argument("--maml", action="store_true",
                        help="instead: one outer iteration of Reptile, MAML and first-order MAML on each of --settings "
                             "(the 5-way and 20-way Omniglot cells; MAML with Finn et al.'s hyper-parameters, its "
                             "meta-batch vectorised and one task at a time; on a CPU the engine's path also with "
                             "oneDNN's convolutions where they pay) on one thread, with the fraction of the "
                             "matrix-multiply rate and the hours of a full-budget seed; written to "
                             "results/bench/maml/<device>.json (reptile.bench.maml)")
    a = parser.parse_args(argv)
    dev = check_arguments(parser, a)  # every value, before any timing
    if a.versus:
        from .versus import versus

        try:
            got = versus(a.versus, a.versus_presets, a.repetitions, a.seconds)
        except ValueError as e:
            fail(parser, e)
        folder = Path(a.out) if a.out else R.results_root() / "bench" / "versus"
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / f"{slug(device_name(torch.device('cpu')))}-{got['versus'][:7]}.json"
        R.atomic_write_bytes(path, (json.dumps(got, indent=1) + "\n").encode())
        for key, unit in (("settings", "outer it/s"), ("evaluation", "test tasks/s")):
            for preset, t in got.get(key, {}).items():
                print(f"{preset:45s} {got['versus'][:7]} {statistics.median(t['theirs']):6.3f}  this "
                      f"{statistics.median(t['ours']):6.3f} {unit:12s}   ratio {t['median']:.3f} "
                      f"({t['min']:.3f}-{t['max']:.3f})")
        print(f"wrote {path}")
        return
    if a.maml:
        from . import maml

        names = tuple(n for n in a.settings if n in maml.MAML_SETTINGS)
        if not names:
            fail(parser, f"--maml --settings {' '.join(a.settings)}: allowed: one or more of the cells "
                         f"{', '.join(maml.MAML_SETTINGS)}")
        torch.set_num_threads(1)
        rate = gpu_matmul_rate(dev) if dev.type == "cuda" else matmul_rate(1)  # what the fractions are of
        report = maml.report(names, a.seconds, dev, rate,
                             say=lambda *x: print(*x, file=sys.stderr, flush=True))
        folder = Path(a.out) if a.out else R.results_root() / "bench" / "maml"
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / f"{report['device']}.json"
        R.atomic_write_bytes(path, (json.dumps(report, indent=1) + "\n").encode())
        for r in report["rows"]:
            print(f"{r['setting']:14s} {r['algorithm']:17s} {r['path']:50s} {1e3 * r['seconds_per_iteration']:9.1f} "
                  f"ms/iteration  {r['gflops']:6.1f} GFLOP/s  {r['hours_per_run']:7.1f} h per seed")
        print(f"wrote {path}")
        return
    if a.profile:
        size = a.population[0] if a.population else 3
        torch.set_num_threads(1)
        rate = None if dev.type == "cuda" else matmul_rate(1)
        if rate:
            print(f"matrix multiply: {rate:.0f} GFLOP/s on 1 thread")
        with _environ(REPTILE_ONEDNN="0"):  # the default path
            got = {name: kernel_profile(setting(name), size, dev) for name in a.settings}
        for name, profile in got.items():
            print_profile(name, profile, rate)
        dnn = {}
        if onednn_timed(dev):  # and oneDNN's convolutions where they pay
            with _environ(REPTILE_ONEDNN="1"):
                dnn = {name: kernel_profile(setting(name), size, dev) for name in a.settings}
            for name, profile in dnn.items():
                print_profile(f"{name}, oneDNN where it pays", profile, rate)
        folder = Path(a.out) if a.out else R.results_root() / "bench" / "profile"
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / f"{device_name(dev)}.json"
        report = {"device": device_name(dev), "population": size, "matmul_gflops_1_thread": rate, "profiles": got,
                  "profiles_onednn": dnn,
                  "environment": R.environment(dev), "load_average": os.getloadavg(),
                  "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}
        R.atomic_write_bytes(path, (json.dumps(report, indent=1) + "\n").encode())
        print(f"wrote {path}")
        return
    if a.population_run:
        try:
            summary = population_run(a.population_run)
        except (ValueError, FileNotFoundError) as e:
            fail(parser, e)
        folder = Path(a.out) if a.out else R.results_root() / "bench" / "population"
        folder.mkdir(parents=True, exist_ok=True)
        name = slug(f"{summary['device']} {summary['preset']}")
        R.atomic_write_bytes(folder / f"{name}.json", (json.dumps(summary, indent=1) + "\n").encode())
        print(json.dumps(summary, indent=1))
        return
    report = run(a.seconds, tuple(a.population) if a.population else None, a.device, a.tf, a.authors_code,
                 a.tf_python, tuple(a.settings))
    folder = Path(a.out) if a.out else R.results_root() / "bench"
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{report['device']}.json"
    R.atomic_write_bytes(path, (json.dumps(report, indent=1) + "\n").encode())
    from ..results import show
    from .report import bench_table

    print(f"matrix multiply: {', '.join(f'{v:.0f} GFLOP/s on {k} thread(s)' for k, v in report['matmul_gflops'].items())}")
    show(bench_table(report), index=False)
    print(f"wrote {path}")

