"""MAML and first-order MAML on Omniglot end to end: meta-train one cell, evaluate, store one JSON.

    python -m reptile.maml.experiment --list
    python -m reptile.maml.experiment --preset reduced-finn-maml-omniglot-1shot-5way --seeds 0
    python -m reptile.maml.experiment --preset finn-maml-omniglot-1shot-5way --seeds 0 1 2 --device cuda
    python -m reptile.maml.experiment --preset maml-omniglot-5shot-5way --seeds 0 --set eval_tasks=2000

Presets (:data:`PRESETS`, :func:`describe`):

* ``finn-{maml,fomaml}-omniglot-{1,5}shot-{5,20}way``: Finn et al.'s protocol exactly as his code and paper give it
  (:mod:`reptile.maml.protocol`): his 1100/100/423 split, a random 90-degree rotation per class per task at training
  and test, support/query K/K, meta-batch 32 (5-way) / 16 (20-way), inner SGD 0.4 x 1 step (5-way) / 0.1 x 5 steps
  (20-way) on his loss (sum of cross-entropies / K), 3 (5-way) / 5 (20-way) steps at test, Adam 1e-3, 60,000
  iterations, 200,000 training tasks cycled, 600 fixed test tasks, his network (:func:`finn_conv4`), the last
  iterate, +- = 1.96 std / sqrt(600). Transductive (query batch statistics) as his; non-transductive recorded too.
* ``{maml,fomaml}-omniglot-{1,5}shot-{5,20}way``: the same algorithm and hyper-parameters (inner step on Finn's
  loss, so the step on the mean loss is N times it, as his) on Reptile's protocol: Reptile's split of the run's seed
  (1200 characters x 4 rotations as classes, 423 unrotated test characters), fresh training tasks, Reptile's Conv4
  (flatten, batch-norm scale and shift, Glorot dense), 10,000 test tasks with one query per class, non-transductive
  and transductive from the same adapted weights, +- = Student's 95% interval over tasks (as Reptile's results).
* ``reduced-*``: the 5-way cells with 250 (1-shot) or 30 (5-shot) iterations and
  fewer test tasks, to run in minutes on a CPU. Not the paper's budget; the name says so.
* ``ci``: seconds, for the test suite.

Every run records the accuracy after each test step 0..k (k = ``eval_inner_steps``), in both prediction modes.
A run checkpoints every ``checkpoint_every`` iterations or ``checkpoint_minutes`` minutes, whichever comes first,
and resumes from the checkpoint when run again; its numbers are those of an uninterrupted run. A non-finite loss,
gradient or weight stops it with :class:`reptile.validate.DivergedError` and writes no result.
"""

from __future__ import annotations

import argparse
import dataclasses
import math
import sys
import time
from dataclasses import dataclass
from typing import Any, Mapping

import torch

from .. import results as R
from .. import seeding
from ..config import resolve_flat
from ..engine.memory import keep_freed_memory
from ..fewshot import param_count, predict
from ..results import config_digest
from ..stats import mean_ci95
from ..validate import (DivergedError, check, check_data_root_argument, check_device_argument, check_seeds_argument,
                        check_threads_argument, fail, is_int, is_positive, parse_sets)
from .algorithm import LOSS_SCALES, PATH_LABELS, MAMLConfig, MAMLLearner, TaskBatch, inner_adapt, inner_mask
from .population import EngineNet
from .protocol import (FINN_TEST_SEED, FINN_TEST_TASKS, FINN_TRAIN_TASKS, NETWORKS, ProtocolData, build_net,
                       draw_tasks, load_finn_omniglot, load_reptile_omniglot)

EXPERIMENT = "maml"
PROTOCOLS = ("finn", "reptile")
ALGORITHMS = ("maml", "fomaml")
MODES = ("transductive", "non_transductive")
EVAL_CHUNK = 25  # test tasks adapted together (vmap); fixed, so that the numbers do not depend on the machine
CHECKPOINT_FORMAT = 1


@dataclass(frozen=True)
class MAMLExperimentConfig:
    """One MAML cell on Omniglot: the protocol (data, rotations, evaluation), the algorithm and its
    hyper-parameters. The defaults are Finn et al.'s 1-shot 5-way cell."""

    name: str = "finn-maml-omniglot-1shot-5way"
    protocol: str = "finn"  # 'finn' (his split, rotations per task, 600 fixed tasks) or 'reptile' (Reptile's)
    network: str = "finn"  # 'finn' (finn_conv4: spatial mean, offset-only batch norm, N(0,1) dense) or 'reptile'
    algorithm: str = "maml"  # 'maml' (second order) or 'fomaml' (inner gradients stopped)
    n_way: int = 5
    shots: int = 1  # K support images per class (training and test tasks)
    queries: int = 1  # query images per class in a training task (Finn: K)
    eval_queries: int = 1  # query images per class in a test task (Finn: K; Reptile's protocol: 1)
    meta_batch: int = 32  # tasks per outer iteration (Finn: 32 for 5-way, 16 for 20-way)
    inner_step: float = 0.4  # inner SGD step on loss_scale's loss (Finn: 0.4 for 5-way, 0.1 for 20-way)
    inner_steps: int = 1  # inner SGD steps in meta-training (Finn: 1 for 5-way, 5 for 20-way)
    eval_inner_steps: int = 3  # inner SGD steps on a test task (Finn's paper: 3 for 5-way, 5 for 20-way)
    loss_scale: str = "finn"  # 'finn': sum CE / K (his); 'mean': mean CE (the same step is then N times smaller)
    outer_lr: float = 1e-3  # Adam on the meta-parameters
    outer_iters: int = 60_000
    train_task_pool: int = 0  # 0: fresh training tasks every iteration; P: P tasks drawn once, cycled (Finn: 200,000)
    eval_tasks: int = 600  # test tasks (Finn: 600; Reptile's protocol: 10,000)
    eval_task_seed: int = -1  # -1: test tasks from the run's own 'eval' stream; s >= 0: fixed for every run (Finn's)
    curve_every: int = 1000  # outer iterations between learning-curve points
    curve_tasks: int = 50  # tasks per learning-curve point (Finn's validation split; Reptile's protocol: test split)
    checkpoint_every: int = 1000  # outer iterations between checkpoints (also every checkpoint_minutes)
    checkpoint_minutes: float = 5.0
    non_transductive: bool = True  # also record non-transductive accuracy (each query in a batch with the support
    #                                set); False under Finn's protocol, which is transductive (and costs N*Q passes more)
    budget: str = "paper"  # 'paper' or 'reduced' (said in the preset's name too)

    def __post_init__(self) -> None:
        check(self.protocol in PROTOCOLS, f"unknown protocol {self.protocol!r}; allowed: {', '.join(PROTOCOLS)}")
        check(self.network in NETWORKS, f"unknown network {self.network!r}; allowed: {', '.join(NETWORKS)}")
        check(self.algorithm in ALGORITHMS, f"unknown algorithm {self.algorithm!r}; allowed: {', '.join(ALGORITHMS)}")
        check(self.loss_scale in LOSS_SCALES,
              f"unknown loss_scale {self.loss_scale!r}; allowed: {', '.join(LOSS_SCALES)}")
        check(is_int(self.n_way) and self.n_way >= 2, f"n_way must be an integer >= 2, got {self.n_way!r}")
        for name in ("shots", "queries", "eval_queries", "meta_batch", "inner_steps", "eval_inner_steps",
                     "outer_iters", "eval_tasks", "curve_every", "curve_tasks", "checkpoint_every"):
            v = getattr(self, name)
            check(is_int(v) and v >= 1, f"{name} must be an integer >= 1, got {v!r}")
        for name in ("inner_step", "outer_lr", "checkpoint_minutes"):
            v = getattr(self, name)
            check(is_positive(v), f"{name} must be a finite number > 0, got {v!r}")
        check(is_int(self.train_task_pool) and self.train_task_pool >= 0,
              f"train_task_pool must be an integer >= 0 (0: fresh tasks), got {self.train_task_pool!r}")
        check(is_int(self.eval_task_seed) and self.eval_task_seed >= -1,
              f"eval_task_seed must be -1 (the run's own stream) or an integer >= 0, got {self.eval_task_seed!r}")
        check(isinstance(self.non_transductive, bool),
              f"non_transductive must be True or False, got {self.non_transductive!r}")
        check(self.budget in ("paper", "reduced"), f"budget must be 'paper' or 'reduced', got {self.budget!r}")
        # 20 drawings per character: a task takes shots + queries of them
        for q, what in ((self.queries, "queries"), (self.eval_queries, "eval_queries")):
            check(self.shots + q <= 20, f"shots + {what} = {self.shots} + {q} does not fit: an Omniglot character "
                                        f"has 20 drawings; allowed: shots + {what} <= 20")

    def maml(self) -> MAMLConfig:
        """The algorithm's configuration (:class:`reptile.maml.MAMLConfig`); batch norm is meta-learned, not
        adapted in the inner loop (Finn's); training's query loss is on the query batch alone (his)."""
        return MAMLConfig(n_way=self.n_way, shots=self.shots, queries=self.queries, meta_batch=self.meta_batch,
                          inner_step=self.inner_step, inner_steps=self.inner_steps,
                          eval_inner_steps=self.eval_inner_steps, outer_lr=self.outer_lr,
                          outer_iters=self.outer_iters, loss_scale=self.loss_scale,
                          first_order=self.algorithm == "fomaml", transductive=True, adapt_norm=False)

    @property
    def mean_loss_step(self) -> float:
        """The inner step on PyTorch's mean loss that this step is (``N * step / 1`` on Finn's loss of K-shot
        batches: his loss is ``N`` times the mean)."""
        return self.inner_step * self.n_way if self.loss_scale == "finn" else self.inner_step

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    def digest(self) -> str:
        return config_digest(self.to_dict())


# ------------------------------------------------------------------------------------------------------ presets


def _cell(n_way: int) -> dict[str, Any]:
    """Finn's hyper-parameters of a cell that differ between 5-way and 20-way."""
    if n_way == 5:
        return dict(meta_batch=32, inner_step=0.4, inner_steps=1, eval_inner_steps=3)
    return dict(meta_batch=16, inner_step=0.1, inner_steps=5, eval_inner_steps=5)


def _presets() -> tuple[dict[str, MAMLExperimentConfig], dict[str, str]]:
    p: dict[str, MAMLExperimentConfig] = {}
    about: dict[str, str] = {}
    for alg in ALGORITHMS:
        for k in (1, 5):
            for n in (5, 20):
                cell = f"omniglot-{k}shot-{n}way"
                name = f"finn-{alg}-{cell}"
                p[name] = MAMLExperimentConfig(
                    name=name, protocol="finn", network="finn", algorithm=alg, n_way=n, shots=k, queries=k,
                    eval_queries=k, outer_iters=60_000, train_task_pool=FINN_TRAIN_TASKS, eval_tasks=FINN_TEST_TASKS,
                    eval_task_seed=FINN_TEST_SEED, curve_every=1000, curve_tasks=50, non_transductive=False,
                    **_cell(n))
                about[name] = (f"{'MAML' if alg == 'maml' else 'first-order MAML'} {k}-shot {n}-way under Finn et "
                               f"al.'s protocol: his split (1100/100/423), a random 90-degree rotation per class per "
                               f"task (training and test), {k} support / {k} query per class, his network, "
                               f"meta-batch {_cell(n)['meta_batch']}, inner step {_cell(n)['inner_step']} on his "
                               f"loss x {_cell(n)['inner_steps']} (test: {_cell(n)['eval_inner_steps']} steps), "
                               f"Adam 1e-3, 60,000 iterations, 600 fixed test tasks; the paper's budget")
                name = f"{alg}-{cell}"
                p[name] = MAMLExperimentConfig(
                    name=name, protocol="reptile", network="reptile", algorithm=alg, n_way=n, shots=k, queries=k,
                    eval_queries=1, outer_iters=60_000, train_task_pool=0, eval_tasks=10_000, eval_task_seed=-1,
                    curve_every=1000, curve_tasks=50, **_cell(n))
                about[name] = (f"{'MAML' if alg == 'maml' else 'first-order MAML'} {k}-shot {n}-way with Finn's "
                               f"hyper-parameters under Reptile's protocol: Reptile's split of the seed, rotations "
                               f"as extra training classes, unrotated test, Reptile's Conv4, 10,000 test tasks of "
                               f"one query per class, non-transductive and transductive; the paper's budget")
    # Reduced budgets for a loaded 2-core CPU, sized from measured seconds per iteration (the runs' records).
    # Measured at 1 thread with the machine otherwise idle but for a nice-19 campaign: second-order 0.48 / 4.3 s per
    # iteration (1-shot / 5-shot), first-order 0.20 / 1.1; a test task 0.05 s (1-shot) to 0.27 s (5-shot) in both
    # modes. The runs met about 3-4 times that (the cores shared with other work), hence 250 / 30 iterations and
    # fewer test tasks. Not the paper's budget; the names say so.
    reduced = {("maml", 1): 250, ("fomaml", 1): 250, ("maml", 5): 30, ("fomaml", 5): 30}
    for (alg, k), iters in reduced.items():
        for prefix, eval_tasks in (("finn-", FINN_TEST_TASKS if k == 1 else 200), ("", 500 if k == 1 else 200)):
            base = f"{prefix}{alg}-omniglot-{k}shot-5way"
            name = f"reduced-{base}"
            p[name] = dataclasses.replace(p[base], name=name, budget="reduced", outer_iters=iters,
                                          eval_tasks=eval_tasks, curve_every=max(1, iters // 4), curve_tasks=20,
                                          checkpoint_every=max(1, iters // 4))
            about[name] = (f"REDUCED budget, not the paper's: {base} with {iters} of 60,000 outer iterations and "
                           f"{eval_tasks} test tasks" + (" (his: 600)" if prefix else " (Reptile's protocol: 10,000)"))
    p["ci"] = dataclasses.replace(p["finn-maml-omniglot-1shot-5way"], name="ci", budget="reduced", meta_batch=4,
                                  outer_iters=6, eval_tasks=10, curve_every=3, curve_tasks=4, checkpoint_every=2)
    about["ci"] = ("seconds, for the test suite: Finn's 1-shot 5-way protocol with meta-batch 4, 6 iterations, "
                   "10 test tasks; REDUCED, not the paper's budget")
    return p, about


PRESETS, DESCRIPTIONS = _presets()


def describe(name: str) -> str:
    """What a preset is (a customised one: its preset's description and that it was customised)."""
    base = name.split("-custom-")[0]
    text = DESCRIPTIONS.get(base, "")
    return text + (" (customised with --set: see its config)" if base != name else "")


def resolve(preset: str, overrides: Mapping[str, Any] | None = None) -> MAMLExperimentConfig:
    """The preset with ``overrides`` (field -> value) applied and validated; a customised configuration is named
    ``<preset>-custom-<digest>`` (:func:`reptile.config.resolve_flat`)."""
    return resolve_flat(PRESETS, preset, overrides)


# --------------------------------------------------------------------------------------------------- the data


def load_data(cfg: MAMLExperimentConfig, seed: int, data_root=None, cache_dir=None) -> ProtocolData:
    """The protocol's classes for the run of ``seed`` (Finn's split is the same for every seed; Reptile's is the
    seed's own)."""
    if cfg.protocol == "finn":
        return load_finn_omniglot(data_root, cache_dir)
    return load_reptile_omniglot(seed, data_root, cache_dir)


def check_fits(cfg: MAMLExperimentConfig, data: ProtocolData) -> None:
    """Ways and shots against the data's splits, before any training starts."""
    from ..fewshot import TaskSampler

    TaskSampler(data.train).check(cfg.n_way, cfg.shots, "shots", queries=cfg.queries)
    TaskSampler(data.test).check(cfg.n_way, cfg.shots, "shots", queries=cfg.eval_queries)
    if data.val is not None:
        TaskSampler(data.val).check(cfg.n_way, cfg.shots, "shots", queries=cfg.eval_queries)


def training_tasks(cfg: MAMLExperimentConfig, data: ProtocolData, seed: int, iteration: int,
                   device=None) -> TaskBatch:
    """The meta-batch of outer iteration ``iteration`` (0-based), a function of the seed and the iteration alone (so
    a resumed run draws what an uninterrupted one does): fresh tasks from the stream ``tasks`` keyed by the
    iteration, or, with a pool of P tasks (Finn's 200,000), task ``j = iteration * meta_batch + b`` is the draw keyed
    ``j mod P`` (the same classes and drawings whenever it comes round). Finn's rotations come from the stream
    ``inner`` keyed by the iteration, afresh each time."""
    n = cfg.meta_batch
    if cfg.train_task_pool:
        first = iteration * n
        pickers = [seeding.generator(seed, "tasks", 1, (first + b) % cfg.train_task_pool) for b in range(n)]
    else:
        g = seeding.generator(seed, "tasks", 0, iteration)
        pickers = [g] * n
    rot = seeding.generator(seed, "inner", iteration) if data.rotate else None
    return draw_tasks(data.train, cfg.n_way, cfg.shots, cfg.queries, pickers, rot, device)


# ------------------------------------------------------------------------------------------------- evaluation


def score_steps(net, phi, tasks: TaskBatch, cfg: MAMLConfig, steps: int,
                non_transductive: bool = True, engine: EngineNet | None = None) -> dict[str, torch.Tensor]:
    """Query accuracy of each task after 0, 1, ..., ``steps`` inner SGD steps on its support set (``phi``
    untouched), ``(tasks, steps + 1)`` per mode: ``transductive`` (the query batch alone, its own batch statistics:
    Finn's) and ``non_transductive`` (each query in a batch with the support set, Reptile's). All tasks at once
    (vmap), or, given the run's ``engine`` network, as populations on it (:func:`reptile.maml.population.score_steps`,
    the same numbers to rounding); a non-finite output raises :class:`DivergedError`."""
    if engine is not None:
        t, n, ok = engine.score_steps(phi, tasks, cfg, steps, non_transductive)
        return _checked(t, n, ok[None], cfg)
    mask = inner_mask(net, cfg.adapt_norm)
    phi = tuple(p.detach() for p in phi)

    def one(sx, sy, qx, qy):
        w, out_t, out_n, ok = phi, [], [], []
        for s in range(steps + 1):
            if s:
                w = inner_adapt(net, w, (sx, sy), cfg.inner_step, 1, cfg.loss_scale, True, cfg.shots, mask)
                w = tuple(t.detach() for t in w)
            lt = predict(net, w, sx, qx, True)
            ln = predict(net, w, sx, qx, False) if non_transductive else lt
            out_t.append((lt.argmax(-1) == qy).to(lt.dtype).mean())
            out_n.append((ln.argmax(-1) == qy).to(ln.dtype).mean())
            ok.append(torch.isfinite(lt).all() & torch.isfinite(ln).all())
        return torch.stack(out_t), torch.stack(out_n), torch.stack(ok)

    t, n, ok = torch.vmap(one)(*tasks)
    return _checked(t, n if non_transductive else None, ok, cfg)


def _checked(t, n, ok, cfg: MAMLConfig) -> dict[str, torch.Tensor]:
    """The scores by mode, once every output was finite (``ok`` ``(tasks or 1, steps + 1)``)."""
    if not bool(ok.all()):
        first = int((~ok).any(0).nonzero()[0])
        raise DivergedError(f"evaluation: the adapted network's outputs are not finite (NaN or inf) after {first} "
                            f"inner steps; lower inner_step ({cfg.inner_step})")
    return {"transductive": t, "non_transductive": n} if n is not None else {"transductive": t}


def test_task_chunks(images, cfg: MAMLExperimentConfig, n_tasks: int, generator: torch.Generator, rotate: bool,
                     device=None):
    """The test tasks of an evaluation, in the order and chunks (:data:`EVAL_CHUNK`) it draws them from
    ``generator`` (each chunk: its tasks' picks, then their rotations): whoever draws through here sees the same
    tasks (the evaluation, :mod:`reptile.maml.probe`)."""
    done = 0
    while done < n_tasks:
        n = min(EVAL_CHUNK, n_tasks - done)
        yield draw_tasks(images, cfg.n_way, cfg.shots, cfg.eval_queries, [generator] * n,
                         generator if rotate else None, device)
        done += n


def evaluate(learner: MAMLLearner, images, cfg: MAMLExperimentConfig, n_tasks: int, generator: torch.Generator,
             rotate: bool, progress=None) -> dict[str, list[list[float]]]:
    """Per-task accuracies after each test step 0..``eval_inner_steps`` on ``n_tasks`` tasks drawn in order from
    ``generator`` (picks and rotations), in chunks of :data:`EVAL_CHUNK`: ``{mode: [[acc at step s] per task]}``."""
    modes = MODES if cfg.non_transductive else MODES[:1]
    out: dict[str, list[list[float]]] = {m: [] for m in modes}
    done = 0
    for tasks in test_task_chunks(images, cfg, n_tasks, generator, rotate, learner.device):
        n = tasks.support_x.shape[0]
        tasks = tasks._replace(support_x=tasks.support_x.to(learner.phi[0].dtype),
                               query_x=tasks.query_x.to(learner.phi[0].dtype))
        with torch.no_grad():
            acc = score_steps(learner.net, learner.phi, tasks, learner.cfg, cfg.eval_inner_steps,
                              cfg.non_transductive, learner.engine)
        for m in modes:
            out[m].extend(acc[m].double().cpu().tolist())
        done += n
        if progress is not None:
            progress(done)
    return out


def summarise(per_task: list[list[float]], protocol: str) -> dict[str, Any]:
    """Mean accuracy and its 95% interval after each test step: Finn's ``1.96 * std / sqrt(n)`` (``np.std``,
    ddof 0) under his protocol, Student's t over tasks (:func:`reptile.stats.mean_ci95`) under Reptile's."""
    n = len(per_task)
    steps = len(per_task[0])
    means, halves = [], []
    for s in range(steps):
        v = [row[s] for row in per_task]
        if protocol == "finn":
            m = sum(v) / n
            sd = math.sqrt(sum((x - m) ** 2 for x in v) / n)
            h = 1.96 * sd / math.sqrt(n)
        else:
            m, h = mean_ci95(v)
        means.append(m)
        halves.append(h)
    return {"accuracy": means[-1], "ci95": halves[-1], "tasks": n, "accuracy_per_step": means,
            "ci95_per_step": halves,
            "interval": "1.96 x std / sqrt(tasks) (Finn's)" if protocol == "finn" else "Student's t 95% over tasks"}


# ------------------------------------------------------------------------------------------------------ the run


EVAL_BLOCK = 20 * EVAL_CHUNK  # test tasks between the checkpoints of a stoppable run's final evaluation


def meta_gradient_path(cfg: MAMLExperimentConfig, device: torch.device, results_dir=None) -> str:
    """How the meta-gradient is computed (:data:`reptile.maml.PATHS`), whichever the benchmark (``python -m
    reptile.bench --maml``) measured fastest. On a CPU the engine (:mod:`reptile.maml.population`: 1.6-2.3 times
    the faster of the two ``torch.func`` paths on every cell in the stored reports). Off the CPU, the faster of the
    engine and ``vmap`` over the meta-batch for this cell and algorithm in the benchmark's report of this device
    (``results/bench/maml/``, matched by the device's name; :func:`faster_path`), and ``vmap`` where no report of
    it is stored. All give the same meta-gradient to rounding (tests/test_maml.py, tests/test_maml_population.py,
    tests/test_maml_gpu.py); the record says which ran, piece by piece."""
    if device.type == "cpu":
        return "engine"
    reports = [r for r in _bench_reports(results_dir) if r.get("environment", {}).get("device", "cpu") != "cpu"]
    name = R.environment(device)["device_name"] if reports else None
    for report in reports:
        if report["environment"].get("device_name") == name:
            return faster_path(report.get("rows", []), cfg) or "vmap"
    return "vmap"


def faster_path(rows: list[dict[str, Any]], cfg: MAMLExperimentConfig) -> str | None:
    """Of the engine and ``vmap``, the path with the shorter outer iteration for ``cfg``'s cell (ways and shots)
    and algorithm among a ``--maml`` report's ``rows``; None when the report lacks either."""
    setting = f"{cfg.shots}-shot {cfg.n_way}-way"
    algorithm = "first-order MAML" if cfg.algorithm == "fomaml" else "MAML"
    times = {path: r["seconds_per_iteration"] for r in rows for path in ("engine", "vmap")
             if (r.get("setting"), r.get("algorithm"), r.get("path")) == (setting, algorithm, PATH_LABELS[path])}
    return min(times, key=times.get) if len(times) == 2 else None


def _bench_reports(results_dir=None) -> list[dict[str, Any]]:
    import json

    folder = R.results_root(results_dir) / "bench" / "maml"
    out = []
    for p in sorted(folder.glob("*.json")) if folder.is_dir() else []:
        try:
            out.append(json.loads(p.read_text()))
        except (OSError, ValueError):  # a report being written or damaged: as if absent
            continue
    return out


def checkpoint_path(cfg: MAMLExperimentConfig, seed: int, checkpoint_dir=None):
    return R.checkpoint_root(checkpoint_dir) / EXPERIMENT / cfg.name / f"seed-{seed}" / "meta.pt"


def _finite_params(phi) -> bool:
    return all(bool(torch.isfinite(p).all()) for p in phi)


def run(cfg: MAMLExperimentConfig, seed: int, device: str = "auto", data_root=None, cache_dir=None,
        results_dir=None, checkpoint_dir=None, progress: bool = True, data: ProtocolData | None = None,
        stop_after: float | None = None, stop=None) -> dict[str, Any] | None:
    """Meta-train and evaluate one cell for ``seed``; write and return the run's record.

    Random streams (:mod:`reptile.seeding`): ``init`` the weights, ``tasks`` the training tasks (keyed by iteration
    or pool index), ``inner`` Finn's training rotations (keyed by iteration), ``curve`` the learning curve's tasks,
    ``eval`` the test tasks (of the fixed ``eval_task_seed`` when set). ``data`` may be passed to skip loading; it
    must be the protocol's data for this seed.

    ``stop_after`` (seconds of wall time from the call) and ``stop`` (a function returning True to stop): the run
    checkpoints and returns None at the next outer iteration after either, to be resumed by a later call (the
    campaign advances long runs so); the final evaluation is checkpointed between blocks of :data:`EVAL_BLOCK` tasks
    too, and resumes at its block with the same draws."""
    from ..train import load_checkpoint, save_checkpoint

    check(isinstance(cfg, MAMLExperimentConfig), f"cfg must be a MAMLExperimentConfig, got {cfg!r}")
    seed = R.validate_seed(seed)
    dev = R.resolve_device(device)
    seeding.deterministic(dev)
    keep_freed_memory()  # on a CPU, malloc reuses the heap instead of page-faulting each step's activations in
    started = time.perf_counter()
    env = R.environment(dev)
    data = data if data is not None else load_data(cfg, seed, data_root, cache_dir)
    check_fits(cfg, data)
    net = build_net(cfg.network, cfg.n_way)
    net.module.to(dev)
    mcfg = cfg.maml()
    path = meta_gradient_path(cfg, dev, results_dir)
    learner = MAMLLearner(net, mcfg, init=seeding.generator(seed, "init"), device=dev, path=path,
                          engine=EngineNet(cfg.network, cfg.n_way) if path == "engine" else None)
    label = f"{EXPERIMENT}/{cfg.name} seed {seed}"
    run_config = {"experiment": EXPERIMENT, "seed": seed, "config": cfg.to_dict()}
    ckpt = checkpoint_path(cfg, seed, checkpoint_dir)
    curve: dict[str, list] = {"iteration": [], "train_query_accuracy": [], "train_query_loss": [],
                              "curve_accuracy_transductive": [], "curve_accuracy_non_transductive": []}
    train_seconds, window = 0.0, {"loss": 0.0, "acc": 0.0, "n": 0}
    wall_before, pieces = 0.0, []  # earlier calls' wall time and pieces, from the checkpoint
    evaluation = None  # the final evaluation so far, when a call stopped during it
    if ckpt.exists():
        state = load_checkpoint(ckpt)
        if state.get("format") != CHECKPOINT_FORMAT or state.get("run") != run_config:
            raise ValueError(f"checkpoint {ckpt} was written with another configuration or seed; delete it to start "
                             f"this run over, or run it with the configuration it was written with")
        learner.load_state_dict(state["learner"])
        curve, train_seconds, window = state["curve"], state["train_seconds"], state["window"]
        wall_before, pieces = state.get("wall_seconds", 0.0), list(state.get("pieces", []))
        evaluation = state.get("evaluation")
        if progress:
            print(f"[{label}] resumed from {ckpt} at outer iteration {learner.iteration} of {cfg.outer_iters}",
                  file=sys.stderr, flush=True)

    curve_images = data.val if data.val is not None else data.test
    # this call's piece of the run (a run advanced by the campaign has several, perhaps on other devices)
    pieces.append({"device": env.get("device_name") or str(dev), "start": learner.iteration,
                   "end": learner.iteration, "path": learner.path})

    def record_curve() -> None:
        acc = evaluate(learner, curve_images, cfg, cfg.curve_tasks,
                       seeding.generator(seed, "curve", learner.iteration), data.rotate)
        curve["iteration"].append(learner.iteration)
        curve["train_query_accuracy"].append(window["acc"] / window["n"] if window["n"] else None)
        curve["train_query_loss"].append(window["loss"] / window["n"] if window["n"] else None)
        for m in MODES:
            if m in acc:
                curve[f"curve_accuracy_{m}"].append(sum(r[-1] for r in acc[m]) / len(acc[m]))
        window.update(loss=0.0, acc=0.0, n=0)

    def save(evaluation_state: dict | None = None) -> None:
        pieces[-1]["end"] = learner.iteration
        save_checkpoint(ckpt, {"format": CHECKPOINT_FORMAT, "run": run_config, "learner": learner.state_dict(),
                               "curve": curve, "train_seconds": train_seconds, "window": dict(window),
                               "wall_seconds": wall_before + time.perf_counter() - started, "pieces": pieces,
                               **({"evaluation": evaluation_state} if evaluation_state is not None else {})})

    if learner.iteration == 0 and not curve["iteration"]:
        record_curve()
    last_save = time.perf_counter()
    report_every = max(1, cfg.outer_iters // 20)
    while learner.iteration < cfg.outer_iters:
        tasks = training_tasks(cfg, data, seed, learner.iteration, dev)
        t0 = time.perf_counter()
        try:
            out = learner.meta_step(tasks)
        except FloatingPointError as e:
            raise DivergedError(f"{label}: {e}; the run diverged and no result is written") from e
        train_seconds += time.perf_counter() - t0
        it = learner.iteration
        if not (math.isfinite(out["query_loss"]) and _finite_params(learner.phi)):
            raise DivergedError(f"{label}: the query loss or the meta-parameters became NaN or infinite at outer "
                                f"iteration {it}: the run diverged and no result is written. Lower inner_step (now "
                                f"{cfg.inner_step}) or outer_lr (now {cfg.outer_lr})")
        window["loss"] += out["query_loss"]
        window["acc"] += out["query_accuracy"]
        window["n"] += 1
        if it % cfg.curve_every == 0 or it == cfg.outer_iters:
            record_curve()
        now = time.perf_counter()
        if it < cfg.outer_iters and (it % cfg.checkpoint_every == 0 or now - last_save > 60 * cfg.checkpoint_minutes):
            save()
            last_save = now
        if it < cfg.outer_iters and ((stop_after is not None and now - started >= stop_after)
                                     or (stop is not None and stop())):
            save()
            if progress:
                print(f"[{label}] stopped at outer iteration {it} of {cfg.outer_iters}; checkpoint {ckpt}",
                      file=sys.stderr, flush=True)
            return None
        if progress and (it % report_every == 0 or it == cfg.outer_iters):
            rate = train_seconds / it
            print(f"[{label}] {it}/{cfg.outer_iters} outer iterations ({100 * it / cfg.outer_iters:.0f}%), "
                  f"{rate:.3f} s/iteration, ~{rate * (cfg.outer_iters - it):.0f}s left; train query accuracy "
                  f"{out['query_accuracy']:.3f}", file=sys.stderr, flush=True)

    stoppable = stop_after is not None or stop is not None
    gen = seeding.generator(cfg.eval_task_seed if cfg.eval_task_seed >= 0 else seed, "eval")
    accs: dict[str, list] = {m: [] for m in (MODES if cfg.non_transductive else MODES[:1])}
    eval_seconds = 0.0
    if evaluation is not None:  # resumed during the evaluation: its tasks so far and where the draws stood
        gen.set_state(evaluation["generator"])
        accs, eval_seconds = evaluation["accuracies"], evaluation["seconds"]
    step = max(EVAL_CHUNK, (cfg.eval_tasks // 10) // EVAL_CHUNK * EVAL_CHUNK)

    def tell(done: int) -> None:
        if progress and (done % step == 0 or done == cfg.eval_tasks):
            print(f"[{label}] evaluation: {done}/{cfg.eval_tasks} test tasks", file=sys.stderr, flush=True)

    # in blocks of whole chunks (the draws are those of one call), checkpointed when the call may be stopped
    while (done := len(next(iter(accs.values())))) < cfg.eval_tasks:
        if stoppable:
            save({"generator": gen.get_state(), "accuracies": accs, "seconds": eval_seconds})
            if (stop_after is not None and time.perf_counter() - started >= stop_after) or (stop is not None and stop()):
                if progress:
                    print(f"[{label}] stopped at test task {done} of {cfg.eval_tasks}; checkpoint {ckpt}",
                          file=sys.stderr, flush=True)
                return None
        t_eval = time.perf_counter()
        got = evaluate(learner, data.test, cfg, min(EVAL_BLOCK, cfg.eval_tasks - done), gen, data.rotate,
                       lambda n: tell(done + n))
        for m in accs:
            accs[m] += got[m]
        eval_seconds += time.perf_counter() - t_eval
    record = R.make_record(
        EXPERIMENT, cfg, seed, env, started - wall_before,  # wall time of all the run's pieces
        description=describe(cfg.name),
        protocol=data.info,
        mean_loss_inner_step=cfg.mean_loss_step,
        parameters=param_count(learner.phi),
        train_seconds=round(train_seconds, 3),
        seconds_per_iteration=train_seconds / cfg.outer_iters,
        meta_gradient_path=learner.path,
        pieces=[{**p, "end": learner.iteration} if i == len(pieces) - 1 else p for i, p in enumerate(pieces)],
        eval_seconds=round(eval_seconds, 3),
        seconds_per_eval_task=eval_seconds / cfg.eval_tasks,
        curve=curve,
        eval={m: summarise(a, cfg.protocol) for m, a in accs.items()},
        primary_mode="transductive" if cfg.protocol == "finn" else "non_transductive",
    )
    R.save_run(record, R.run_path(EXPERIMENT, cfg.name, seed, results_dir))
    save_checkpoint(ckpt.parent / "final.pt", {"format": CHECKPOINT_FORMAT, "run": run_config,
                                               "learner": learner.state_dict()})  # the trained state, for analysis
    ckpt.unlink(missing_ok=True)
    return record


def load_or_run(preset: str = "ci", seeds=(0,), recompute: bool = False, overrides: Mapping[str, Any] | None = None,
                device: str = "auto", data_root=None, cache_dir=None, results_dir=None, checkpoint_dir=None,
                progress: bool = True) -> list[dict[str, Any]]:
    """Make sure ``seeds`` are stored for the preset (running what is missing, one seed after another), then return
    every stored seed; a stored file of another configuration is refused (:func:`reptile.results.compute_or_load`).
    Everything is checked before any training starts."""
    cfg = resolve(preset, overrides)
    seeds = R.validate_seeds(seeds)
    R.resolve_device(device)
    return R.compute_or_load(EXPERIMENT, cfg, seeds, recompute,
                             lambda s: run(cfg, s, device, data_root, cache_dir, results_dir, checkpoint_dir,
                                           progress),
                             results_dir, device, progress, checkpoint_dir=checkpoint_dir)


def format_run(r: dict[str, Any]) -> str:
    """One line per run: each mode's accuracy after each test step."""
    parts = []
    for m, v in r["eval"].items():
        steps = ", ".join(f"{100 * a:.2f}±{100 * h:.2f}" for a, h in zip(v["accuracy_per_step"], v["ci95_per_step"]))
        parts.append(f"{m} [steps 0..{len(v['accuracy_per_step']) - 1}] {steps}")
    return f"{r['name']} seed {r['seed']} ({r['seconds_per_iteration']:.3f} s/iteration): " + "; ".join(parts)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m reptile.maml.experiment", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--preset", default=None, help=f"one of: {', '.join(PRESETS)}")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0])
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                        help="override a field, e.g. eval_tasks=2000 (repeatable)")
    parser.add_argument("--list", action="store_true", help="list the presets with their key values, and stop")
    parser.add_argument("--recompute", action="store_true", help="train again even if the result exists")
    parser.add_argument("--device", default="auto", help="'auto' (CUDA when present), 'cpu', 'cuda', 'cuda:N'")
    parser.add_argument("--threads", type=int, default=None, help="CPU threads (default: the repository's rule)")
    parser.add_argument("--data-root", default=None, help="data root (default: $REPTILE_DATA)")
    a = parser.parse_args(argv)
    if a.list:
        for name, c in PRESETS.items():
            print(f"{name}: {c.protocol} protocol, {c.network} net, {c.algorithm}, {c.shots}-shot {c.n_way}-way, "
                  f"meta-batch {c.meta_batch}, inner {c.inner_step} x {c.inner_steps} ({c.loss_scale} loss; "
                  f"{c.mean_loss_step:g} on the mean), test steps {c.eval_inner_steps}, {c.outer_iters} iterations, "
                  f"{c.eval_tasks} test tasks [{c.budget}]")
        return
    if a.preset is None:
        fail(parser, f"--preset is required (or --list); allowed: {', '.join(PRESETS)}")
    overrides = parse_sets(parser, a.set, "eval_tasks=2000")
    seeds = check_seeds_argument(parser, a.seeds)
    check_threads_argument(parser, a.threads)
    check_device_argument(parser, a.device)
    check_data_root_argument(parser, a.data_root)
    try:
        resolve(a.preset, overrides)  # a bad preset or key stops here, before anything is loaded
        from ..threads import configure

        configure(a.threads)
        runs = load_or_run(a.preset, seeds, a.recompute, overrides, a.device, a.data_root)
    except (ValueError, FileNotFoundError, DivergedError) as e:
        fail(parser, e)
    for r in runs:
        print(format_run(r))


if __name__ == "__main__":
    main()
