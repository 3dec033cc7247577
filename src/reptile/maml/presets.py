"""The MAML experiments' configuration: one typed cell (:class:`MAMLExperimentConfig`) and its named presets
(:data:`PRESETS`, :func:`describe`, :func:`resolve`).

* ``finn-{maml,fomaml}-omniglot-{1,5}shot-{5,20}way``: Finn et al.'s protocol exactly as their code and paper give it
  (:mod:`reptile.maml.protocol`): their 1100/100/423 split, a random 90-degree rotation per class per task at training
  and test, support/query K/K, meta-batch 32 (5-way) / 16 (20-way), inner SGD 0.4 x 1 step (5-way) / 0.1 x 5 steps
  (20-way) on their loss (sum of cross-entropies / K), 3 (5-way) / 5 (20-way) steps at test, Adam 1e-3, 60,000
  iterations, 200,000 training tasks cycled, 600 fixed test tasks, their network (:func:`finn_conv4`), the last
  iterate, +- = 1.96 std / sqrt(600). Transductive (query batch statistics) as theirs; non-transductive recorded too.
* ``{maml,fomaml}-omniglot-{1,5}shot-{5,20}way``: the same algorithm and hyper-parameters (inner step on Finn's
  loss, so the step on the mean loss is N times it, as theirs) on Reptile's protocol: Reptile's split of the run's seed
  (1200 characters x 4 rotations as classes, 423 unrotated test characters), fresh training tasks, Reptile's Conv4
  (flatten, batch-norm scale and shift, Glorot dense), 10,000 test tasks with one query per class, non-transductive
  and transductive from the same adapted weights, +- = Student's 95% interval over tasks (as Reptile's results).
* ``reduced-*``: the 5-way cells with 250 (1-shot) or 30 (5-shot) iterations and
  fewer test tasks, to run in minutes on a CPU. Not the paper's budget; the name says so.
* ``ci``: seconds, for the test suite.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any, Mapping

from ..config import resolve_flat
from ..results import config_digest
from ..validate import check, is_int, is_positive
from .algorithm import LOSS_SCALES, MAMLConfig
from .protocol import FINN_TEST_SEED, FINN_TEST_TASKS, FINN_TRAIN_TASKS, NETWORKS

EXPERIMENT = "maml"
PROTOCOLS = ("finn", "reptile")
ALGORITHMS = ("maml", "fomaml")
MODES = ("transductive", "non_transductive")


@dataclass(frozen=True)
class MAMLExperimentConfig:
    """One MAML cell on Omniglot: the protocol (data, rotations, evaluation), the algorithm and its
    hyper-parameters. The defaults are Finn et al.'s 1-shot 5-way cell."""

    name: str = "finn-maml-omniglot-1shot-5way"
    protocol: str = "finn"  # 'finn' (their split, rotations per task, 600 fixed tasks) or 'reptile' (Reptile's)
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
    loss_scale: str = "finn"  # 'finn': sum CE / K (theirs); 'mean': mean CE (the same step is then N times smaller)
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
        adapted in the inner loop (Finn's); training's query loss is on the query batch alone (theirs)."""
        return MAMLConfig(n_way=self.n_way, shots=self.shots, queries=self.queries, meta_batch=self.meta_batch,
                          inner_step=self.inner_step, inner_steps=self.inner_steps,
                          eval_inner_steps=self.eval_inner_steps, outer_lr=self.outer_lr,
                          outer_iters=self.outer_iters, loss_scale=self.loss_scale,
                          first_order=self.algorithm == "fomaml", transductive=True, adapt_norm=False)

    @property
    def mean_loss_step(self) -> float:
        """The inner step on PyTorch's mean loss that this step is (``N * step / 1`` on Finn's loss of K-shot
        batches: their loss is ``N`` times the mean)."""
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
                               f"al.'s protocol: their split (1100/100/423), a random 90-degree rotation per class per "
                               f"task (training and test), {k} support / {k} query per class, their network, "
                               f"meta-batch {_cell(n)['meta_batch']}, inner step {_cell(n)['inner_step']} on their "
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
                           f"{eval_tasks} test tasks" + (" (theirs: 600)" if prefix else " (Reptile's protocol: 10,000)"))
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
