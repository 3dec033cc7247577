"""The benchmark: how fast each path trains and evaluates, as ratios measured in one run on this machine.

    python -m reptile.bench                        # a few minutes on a 2-core CPU; writes results/bench/<device>.json
    python -m reptile.bench --tf --authors-code ~/supervised-reptile   # also time the authors' TensorFlow code
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

import json
import os
import statistics
import sys
import time
from pathlib import Path
from typing import Any

import torch

from .. import results as R
from ..provenance import environment
from ..provenance import with_environ  # noqa: F401 (bench.cli reads it here)
from ..validate import resolve_device
from .paths import (AUTHORS_SETTING, SETTINGS, conv_rate, device_name, eval_task_flops, gpu_matmul_rate,
                    kernel_profile,  # noqa: F401 (the command line, bench.cli, reads it here: tests replace it)
                    matmul_rate, one_process_per_core, onednn_timed, population_evaluation, population_replay,
                    population_streams, population_training, setting, solo_evaluation, solo_training, step_flops,
                    synthetic_images)

# ---------------------------------------------------------------------------------------------- the report


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

    dev = resolve_device(device)
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
            with with_environ(REPTILE_FUSED="0"):
                add(name, f"population of {big}, PyTorch kernels", 1, 1, population_training(cfg, big, seconds, dev),
                    population_evaluation(cfg, seconds, dev), big)
        if onednn_timed(dev):  # PyTorch's (oneDNN's) convolutions instead of
            # im2col and the BLAS's batched multiplies, at the campaign's size: on every layer, and on the layers
            # where they pay (Conv4.onednn_layers)
            for mode, label in (("all", "oneDNN convolutions"), ("1", "oneDNN where it pays")):
                with with_environ(REPTILE_ONEDNN=mode):
                    add(name, f"population of 3, {label}", 1, 1, population_training(cfg, 3, seconds, dev),
                        population_evaluation(cfg, seconds, dev), 3)
        if dev.type == "cuda":  # what recording the outer iteration as a CUDA graph brings (.engine.graphs)
            big = sizes[-1]
            with with_environ(REPTILE_CUDA_GRAPHS="0"):
                add(name, f"population of {big}, no CUDA graphs", 1, 1, population_training(cfg, big, seconds, dev),
                    None, big)
            with with_environ(REPTILE_FEW_KERNELS="0"):  # what the formulation with fewer kernels brings
                add(name, f"population of {big}, more kernels", 1, 1,
                    _measured(say, population_training, cfg, big, seconds, dev), None, big)
            add(name, f"population of {big}, graph replay only", 1, 1,
                _measured(say, population_replay, cfg, big, seconds, dev), None, big)
            # the campaign's populations (3 seeds): one alone, and three at once on streams (campaign --streams)
            add(name, "population of 3", 1, 1, population_training(cfg, 3, seconds, dev), None, 3)
            with with_environ(REPTILE_FEW_KERNELS="0"):
                add(name, "population of 3, more kernels", 1, 1,
                    _measured(say, population_training, cfg, 3, seconds, dev), None, 3)
            add(name, "3 populations of 3, on streams", 1, 1,
                _measured(say, population_streams, cfg, 3, 3, seconds, dev), None, 9)
            # the graph's inner step compiled by torch.compile (a minute per shape), for the population of 3 seeds
            # that the campaign and a cell's run train (at 64 members on an H200 it was ahead of the eager step's
            # formulation of fewer kernels, level with the one of more kernels)
            with with_environ(REPTILE_COMPILE="1"):
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
              "fused_kernels": fused.library() is not None, "rows": rows, "environment": environment(dev),
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
            with with_environ(REPTILE_ONEDNN=mode):
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
