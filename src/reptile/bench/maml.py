"""MAML and first-order MAML in the benchmark, beside Reptile on the same settings (``python -m reptile.bench --maml``).

For each of Table 2's Omniglot cells it times, on one thread and on synthetic images shaped like Omniglot's (the
arithmetic does not depend on the pixels), one outer iteration of:

* ``Reptile``: the engine's population of 1 (:mod:`reptile.engine.population`), the cell's preset (paper Tables
  3-4: ``meta_batch`` tasks of ``inner_iters`` Adam steps on ``inner_batch`` images);
* ``MAML`` and ``first-order MAML``: one outer step of :class:`reptile.maml.MAMLLearner`, with Finn et al.'s
  hyper-parameters for the cell (meta-batch 32 for 5-way and 16 for 20-way; 1 inner step of 0.4 for 5-way and 5 of
  0.1 for 20-way on their loss; as many query images as support shots), on each of its meta-gradient paths: the
  engine's network with the second order by hand (:mod:`reptile.maml.population`), ``torch.func`` with the
  meta-batch vectorised by ``vmap``, and ``torch.func`` one task at a time.

On a CPU with the fused kernels, Reptile and the engine's MAML are timed a second time with oneDNN's convolutions
where they pay (``REPTILE_ONEDNN=1``, :meth:`reptile.engine.network.Conv4.onednn_layers`), Hessian-vector product
included; the other rows run the default path whatever the environment says.

Each row gives the seconds per outer iteration, the GFLOP/s of its useful work and their fraction of the one-thread
matrix-multiply rate measured in the same run, and the hours a run of the full budget takes at that rate (Reptile's
``outer_iters`` of the cell, MAML's 60,000). Useful work is counted as in :mod:`reptile.bench.paths`: the
multiply-adds of the convolutions and the dense layer, forward and backward (weight gradients, and input gradients
below the first layer). A first-order MAML task is ``inner_steps`` such steps on its support images and one on its
query images; second-order MAML's inner step counts three times that (the backward pass differentiated again: a
Hessian-vector product costs about two more passes).
"""

from __future__ import annotations

import time
from typing import Any, Callable

import torch

from ..maml import MAMLConfig, MAMLLearner, sample_tasks
from ..maml.algorithm import PATH_LABELS
from ..validate import check
from .paths import onednn_timed, setting, step_flops, synthetic_images

MAML_OUTER_ITERS = 60_000  # Finn et al.'s meta-training iterations on Omniglot (their Section 5.2 and code)
SECOND_ORDER_FACTOR = 3  # an inner step differentiated again costs about three training steps (see the module doc)
ALGORITHMS = ("Reptile", "MAML", "first-order MAML")
ONEDNN_LABEL = ", oneDNN where it pays"  # the rows with oneDNN's convolutions (a CPU with the fused kernels)
MAML_SETTINGS = ("1-shot 5-way", "5-shot 5-way", "1-shot 20-way", "5-shot 20-way")  # Table 2's Omniglot cells


def maml_setting(name: str) -> MAMLConfig:
    """Finn et al.'s MAML hyper-parameters for the Omniglot cell ``name`` (one of the benchmark's few-shot settings
    without transduction or another evaluation batch)."""
    check(name in MAML_SETTINGS, f"unknown benchmark setting {name!r} for MAML; allowed: {', '.join(MAML_SETTINGS)}")
    cfg = setting(name)
    if cfg.n_way == 5:
        return MAMLConfig(n_way=5, shots=cfg.shots, queries=cfg.shots, meta_batch=32, inner_step=0.4, inner_steps=1,
                          eval_inner_steps=3)
    return MAMLConfig(n_way=cfg.n_way, shots=cfg.shots, queries=cfg.shots, meta_batch=16, inner_step=0.1,
                      inner_steps=5, eval_inner_steps=5)


def maml_iteration_flops(cfg: MAMLConfig, first_order: bool) -> float:
    """The useful work of one MAML outer iteration (see the module doc)."""
    inner = cfg.inner_steps * step_flops(cfg.n_way, cfg.n_way * cfg.shots)
    if not first_order:
        inner *= SECOND_ORDER_FACTOR
    return cfg.meta_batch * (inner + step_flops(cfg.n_way, cfg.n_way * cfg.queries))


def reptile_iteration_flops(name: str) -> float:
    cfg = setting(name)
    return cfg.meta.meta_batch * cfg.meta.inner_iters * step_flops(cfg.n_way, cfg.meta.inner_batch)


def _timed(step: Callable[[], Any], seconds: float, device: torch.device) -> float:
    """Seconds per call of ``step`` over about ``seconds`` (at least 2 calls, after one untimed)."""
    from .reference import timed

    n, dt = timed(step, seconds, device)
    return dt / max(n, 1)


def reptile_seconds(name: str, seconds: float, device: torch.device, onednn: bool = False) -> float:
    """Seconds per outer iteration of the engine's population of 1 (``onednn``: oneDNN's convolutions where they
    pay, :class:`reptile.engine.network.Conv4`)."""
    from ..engine.population import Population

    cfg = setting(name)
    pop = Population(cfg, [0], [synthetic_images(seed=0)], device)
    pop.net.onednn = onednn
    return _timed(pop.meta_step, seconds, device)


def maml_seconds(name: str, first_order: bool, seconds: float, device: torch.device, path: str = "engine",
                 onednn: bool = False) -> float:
    """Seconds per outer iteration of MAML (or first-order) with Finn et al.'s hyper-parameters for ``name`` on
    meta-gradient ``path``; on the engine's path, ``onednn``: oneDNN's convolutions where they pay."""
    from ..fewshot import FunctionalNet, TaskSampler, conv4
    from ..maml.population import EngineNet

    cfg = maml_setting(name)
    cfg = MAMLConfig(**{**cfg.to_dict(), "first_order": first_order})
    learner = MAMLLearner(FunctionalNet(conv4("omniglot", cfg.n_way)), cfg, init=0, device=device, path=path,
                          engine=EngineNet("reptile", cfg.n_way, onednn=onednn) if path == "engine" else None)
    sampler, g = TaskSampler(synthetic_images().to(device)), torch.Generator().manual_seed(2)
    return _timed(lambda: learner.meta_step(sample_tasks(sampler, cfg, cfg.meta_batch, g, device)), seconds, device)


def run(settings: tuple[str, ...], seconds: float, device: torch.device, matmul: float,
        loop: bool = True, say: Callable[..., None] = lambda *a: None) -> list[dict[str, Any]]:
    """One row per setting x algorithm x path (see the module doc); ``matmul`` is the one-thread rate (GFLOP/s)
    the fractions are taken of."""
    rows: list[dict[str, Any]] = []

    def add(name, algorithm, path, s_per_iter, flops, iterations):
        gflops = flops / s_per_iter / 1e9
        rows.append({"setting": name, "algorithm": algorithm, "path": path, "seconds_per_iteration": s_per_iter,
                     "gflop_per_iteration": flops / 1e9, "gflops": gflops,
                     "fraction_of_matmul": gflops / matmul if matmul else None,
                     "iterations_per_run": iterations, "hours_per_run": s_per_iter * iterations / 3600})
        say(f"  {name:14s} {algorithm:17s} {path:50s} {s_per_iter * 1e3:9.1f} ms/iteration  {gflops:6.1f} GFLOP/s")

    dnn = onednn_timed(device)
    engines = [(False, "")] + ([(True, ONEDNN_LABEL)] if dnn else [])
    for name in settings:
        say(f"{name} ...")
        cfg = setting(name)
        for onednn, label in engines:
            add(name, "Reptile", "engine, population of 1" + label, reptile_seconds(name, seconds, device, onednn),
                reptile_iteration_flops(name), cfg.meta.outer_iters)
        for algorithm, first_order in (("MAML", False), ("first-order MAML", True)):
            flops = maml_iteration_flops(maml_setting(name), first_order)
            paths = [("engine", False, "")] + ([("engine", True, ONEDNN_LABEL)] if dnn else []) + \
                [(p, False, "") for p in (("vmap", "loop") if loop else ("vmap",))]
            for path, onednn, label in paths:
                add(name, algorithm, PATH_LABELS[path] + label,
                    maml_seconds(name, first_order, seconds, device, path, onednn), flops, MAML_OUTER_ITERS)
    return rows


def report(settings: tuple[str, ...], seconds: float, device: torch.device, matmul: float | None,
           say: Callable[..., None] = lambda *a: None) -> dict[str, Any]:
    """The ``--maml`` report: the rows of :func:`run` and what they were measured with."""
    import os

    from ..provenance import environment
    from .paths import device_name

    torch.set_num_threads(1)
    rows = run(settings, seconds, device, matmul or 0.0, say=say)
    return {"device": device_name(device), "threads": 1, "matmul_gflops_1_thread": matmul,
            "seconds_per_measurement": seconds, "maml_outer_iters": MAML_OUTER_ITERS,
            "second_order_factor": SECOND_ORDER_FACTOR, "rows": rows, "environment": environment(device),
            "load_average": os.getloadavg(), "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}
