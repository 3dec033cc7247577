"""MAML and first-order MAML (Finn, Abbeel & Levine 2017) on the few-shot networks, the rows Tables 1-2 quote.

The paper's Section 2 names: ``phi`` the initial parameters being meta-learned, ``W = SGD(L_tau, phi, k)`` the weights
after ``k`` inner steps on a task's support set, ``n`` tasks per outer iteration (the meta-batch). Finn et al.'s
Eq. 1 is one inner step, ``W = phi - alpha * grad L_support(phi)``, and MAML minimises the query loss at ``W``:

* MAML: the meta-gradient ``d/dphi L_query(W(phi))`` differentiates through the ``k`` inner steps, the Jacobian
  ``dW/dphi = prod_i (I - alpha L''_support(W_i))`` included (the second-order term).
* First-order MAML (Finn et al.'s Section 5.2, the paper's Section 4.1 and Eq. 14; Finn's ``--stop_grad``): every
  inner gradient is treated as a
  constant, so ``dW/dphi = I`` and the meta-gradient is ``L'_query(W)``, the query gradient at the adapted weights,
  applied to ``phi``.

The meta-gradient is averaged over the ``n`` tasks (Finn's loss summed over the meta-batch / ``meta_batch``) and
fed to Adam (1e-3, TensorFlow's form, :class:`reptile.optim.Adam`). The tasks of a meta-batch are independent, so
:func:`meta_gradient` vectorises them with ``torch.func.vmap`` over ``torch.func.grad``; ``vectorised=False`` runs
the same per-task function one task at a time (the reference the tests compare with). The same quantity, faster on a
CPU, is computed on the engine's network with a hand-written Hessian-vector product in :mod:`reptile.maml.population`
(:class:`MAMLLearner`'s ``path="engine"``).

The network is a :class:`reptile.fewshot.FunctionalNet` (e.g. :func:`reptile.fewshot.conv4`): batch norm always on
the statistics of the batch it is given (support batch in the inner steps, query batch for the query loss), so a
query batch passed alone is transductive. As in Finn's code, the batch-norm parameters are meta-learned but not
adapted in the inner loop (``adapt_norm=False``). Finn's network itself (spatial mean before the dense layer,
batch-norm offset without scale, dense kernel ``N(0, 1)``), the 90-degree rotations of their tasks and their split are in
:mod:`reptile.maml.protocol`; the experiments in :mod:`reptile.maml.experiment`.

The loss scale trap. Finn's ``xent`` is the per-example cross-entropy divided by ``K`` (the support shots) and
``tf.gradients`` of that vector differentiates its SUM over the batch: ``L = sum_i CE_i / K``. On a batch of
``N * K`` examples that is ``N * mean_i CE_i``, so their inner step 0.4 (1-shot 5-way) is a step of ``0.4 * N = 2.0``
on PyTorch's mean loss. ``loss_scale="finn"`` uses their loss, ``"mean"`` PyTorch's ``reduction="mean"``;
``inner_step`` is always read on the chosen scale.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any, NamedTuple, Sequence

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch.func import grad, vmap

from ..fewshot import FunctionalNet, TaskSampler, predict, to_float
from ..optim import Adam, detach_state
from ..params import Params
from ..seeding import deterministic
from ..validate import DivergedError, check, is_int, is_positive, resolve_device

LOSS_SCALES = ("finn", "mean")


@dataclass(frozen=True)
class MAMLConfig:
    """MAML's hyper-parameters; the defaults are Finn et al.'s 1-shot 5-way Omniglot cell (Section 5.2, App. A.1).

    Against Reptile's names (:class:`reptile.core.MetaConfig`, :class:`reptile.config.FewShotConfig`) and Finn et
    al.'s code's flags:

    ============================  ==============================  ==============================
    here                          Reptile's                       Finn et al.'s code
    ============================  ==============================  ==============================
    ``inner_step`` (a step size)  ``inner_lr``                    ``update_lr``
    ``inner_steps`` (a count)     ``inner_iters``                 ``num_updates``
    ``eval_inner_steps``          ``eval_iters``                  (10 in their code's test run)
    ``shots``                     ``shots`` (K at test); MAML     ``update_batch_size``
                                  uses the same K in training,
                                  unlike ``train_shots``
    ``meta_batch``                ``meta_batch``                  ``meta_batch_size``
    ``outer_lr`` (Adam on phi)    none: ``outer_step`` is the     ``meta_lr``
                                  step epsilon of paper
                                  Algorithms 1-2, no optimiser
    ============================  ==============================  ==============================

    Mind the one letter between ``inner_step`` and ``inner_steps``."""

    n_way: int = 5  # N classes per task
    shots: int = 1  # K support images per class (Finn's update_batch_size; their loss divides by it)
    queries: int = 1  # query images per class (Finn's code: as many as the support shots)
    meta_batch: int = 32  # n tasks per outer iteration (32 for 5-way, 16 for 20-way)
    inner_step: float = 0.4  # alpha, on the loss_scale below (0.4 on Finn's loss = 0.4 * n_way on the mean loss)
    inner_steps: int = 1  # k, inner SGD steps in meta-training (1 for 5-way, 5 for 20-way)
    eval_inner_steps: int = 3  # inner SGD steps when adapting to a test task (paper: 3 for 5-way, 5 for 20-way)
    outer_lr: float = 1e-3  # Adam's step size on phi
    outer_iters: int = 60_000  # outer iterations of a full run (for the caller's loop; nothing is annealed)
    loss_scale: str = "finn"  # 'finn': sum_i CE_i / shots; 'mean': mean_i CE_i (see the module's doc)
    first_order: bool = False  # True: first-order MAML (inner gradients treated as constants)
    transductive: bool = True  # evaluation: True = the query batch alone (its own batch statistics, Finn's);
    #                            False = each query in a batch with the support set (reptile.fewshot.predict)
    adapt_norm: bool = False  # True: the inner loop also adapts batch norm's parameters (Finn's code does not)

    def __post_init__(self) -> None:
        check(is_int(self.n_way) and self.n_way >= 2, f"n_way must be an integer >= 2, got {self.n_way!r}")
        for name in ("shots", "queries", "meta_batch", "inner_steps", "eval_inner_steps", "outer_iters"):
            v = getattr(self, name)
            check(is_int(v) and v >= 1, f"{name} must be an integer >= 1, got {v!r}")
        for name in ("inner_step", "outer_lr"):
            v = getattr(self, name)
            check(is_positive(v), f"{name} must be a finite number > 0, got {v!r}")
        check(self.loss_scale in LOSS_SCALES,
              f"unknown loss_scale {self.loss_scale!r}; allowed: {', '.join(LOSS_SCALES)}")
        for name in ("first_order", "transductive", "adapt_norm"):
            v = getattr(self, name)
            check(isinstance(v, bool), f"{name} must be True or False, got {v!r}")

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


class TaskBatch(NamedTuple):
    """A meta-batch of tasks, task index first: support ``(n, N*K, C, H, W)`` / ``(n, N*K)``, query
    ``(n, N*Q, C, H, W)`` / ``(n, N*Q)``. One task is the same without the leading dimension."""

    support_x: Tensor
    support_y: Tensor
    query_x: Tensor
    query_y: Tensor


# ------------------------------------------------------------------------------------------------ the inner loop


def task_loss(logits: Tensor, y: Tensor, loss_scale: str, shots: int | None = None) -> Tensor:
    """The loss of one batch on the chosen scale.

    ``"finn"``: ``sum_i CE_i / shots``, Finn et al.'s (their ``xent`` divides each example's cross-entropy by the
    support shots K and TensorFlow differentiates the sum): on ``N * K`` examples, ``N`` times the mean, so a step
    ``alpha`` on it is a step ``N * alpha`` on ``"mean"``, PyTorch's ``mean_i CE_i``. Mixing the two up silently
    changes the inner step by the factor ``N`` (5 or 20)."""
    ce = F.cross_entropy(logits, y, reduction="none")
    if loss_scale == "mean":
        return ce.mean()
    check(loss_scale == "finn", f"unknown loss_scale {loss_scale!r}; allowed: {', '.join(LOSS_SCALES)}")
    check(is_int(shots) and shots >= 1, f"loss_scale 'finn' divides by the support shots K: shots must be an "
                                        f"integer >= 1, got {shots!r}")
    return ce.sum() / shots


def inner_mask(net: FunctionalNet, adapt_norm: bool = False) -> tuple[bool, ...]:
    """Which parameters (in ``net.names`` order) the inner loop adapts: all, or all but batch norm's."""
    def is_norm(name: str) -> bool:
        owner = net.module.get_submodule(name.rpartition(".")[0])
        return isinstance(owner, nn.modules.batchnorm._NormBase)

    return tuple(adapt_norm or not is_norm(n) for n in net.names)


def inner_adapt(net: FunctionalNet, params: Params, support: tuple[Tensor, Tensor], inner_step: float,
                inner_steps: int, loss_scale: str, first_order: bool, shots: int | None = None,
                adapt: Sequence[bool] | None = None) -> Params:
    """``W = SGD(L_support, phi, k)``: ``inner_steps`` plain full-batch SGD steps ``W <- W - inner_step *
    grad L_support(W)`` (Finn et al.'s Eq. 1, repeated), on the parameters where ``adapt`` is True (default: all).

    The gradients come from ``torch.func.grad``, which keeps them differentiable, as ``create_graph=True`` does:
    MAML's second-order term. ``first_order=True`` detaches each inner gradient (Finn's ``--stop_grad``), so
    ``W`` depends on ``params`` with Jacobian ``I``. Composes with ``vmap`` and an outer ``grad``."""
    x, y = support
    adapt = (True,) * len(params) if adapt is None else tuple(adapt)
    check(len(adapt) == len(params), f"adapt has {len(adapt)} flags for {len(params)} parameters")

    def support_loss(w: Params) -> Tensor:
        return task_loss(net(w, x), y, loss_scale, shots)

    w = tuple(params)
    for _ in range(inner_steps):
        g = grad(support_loss)(w)
        if first_order:
            g = tuple(t.detach() for t in g)
        w = tuple(p - inner_step * d if a else p for p, d, a in zip(w, g, adapt))
    return w


# ---------------------------------------------------------------------------------------------- the meta-gradient


def _task_objective(net: FunctionalNet, cfg: MAMLConfig, first_order: bool, adapt: tuple[bool, ...]):
    """``phi, one task -> (L_query(W(phi)), (loss, accuracy))``: the function whose gradient is one task's
    meta-gradient."""
    def objective(phi: Params, sx: Tensor, sy: Tensor, qx: Tensor, qy: Tensor):
        w = inner_adapt(net, phi, (sx, sy), cfg.inner_step, cfg.inner_steps, cfg.loss_scale, first_order,
                        cfg.shots, adapt)
        logits = net(w, qx)  # the query batch alone: its own batch-norm statistics (Finn's)
        loss = task_loss(logits, qy, cfg.loss_scale, cfg.shots)  # Finn: query CE / support K too
        accuracy = (logits.argmax(-1) == qy).to(logits.dtype).mean()
        return loss, (loss.detach(), accuracy.detach())

    return objective


def meta_gradient(net: FunctionalNet, params: Params, tasks: TaskBatch, cfg: MAMLConfig,
                  first_order: bool | None = None, vectorised: bool = True) -> tuple[Params, Tensor, Tensor]:
    """MAML's meta-gradient ``(1/n) sum_tau d/dphi L_query,tau(SGD(L_support,tau, phi, k))`` over the ``n`` tasks of
    ``tasks`` (first-order MAML's with ``first_order=True``; default ``cfg.first_order``), with the mean
    post-adaptation query loss and accuracy (detached, for logging).

    ``vectorised``: all tasks at once, ``vmap(grad(per-task objective))`` (each task gets its own copy of the
    weights); otherwise the same per-task function one task after another."""
    first_order = cfg.first_order if first_order is None else first_order
    check(isinstance(first_order, bool), f"first_order must be True or False, got {first_order!r}")
    sx, sy, qx, qy = tasks
    n = sx.shape[0]
    check(sy.shape[0] == n and qx.shape[0] == n and qy.shape[0] == n,
          f"a TaskBatch needs one leading task index in all four tensors, got {sx.shape[0]}, {sy.shape[0]}, "
          f"{qx.shape[0]}, {qy.shape[0]} tasks")
    g_task = grad(_task_objective(net, cfg, first_order, inner_mask(net, cfg.adapt_norm)), has_aux=True)
    params = tuple(p.detach() for p in params)
    if vectorised:
        grads, (losses, accs) = vmap(g_task, in_dims=(None, 0, 0, 0, 0))(params, sx, sy, qx, qy)
        return tuple(g.mean(0) for g in grads), losses.mean(), accs.mean()
    total: Params | None = None
    losses, accs = [], []
    for i in range(n):
        g, (loss, acc) = g_task(params, sx[i], sy[i], qx[i], qy[i])
        total = g if total is None else tuple(a + b for a, b in zip(total, g))
        losses.append(loss)
        accs.append(acc)
    return tuple(t / n for t in total), torch.stack(losses).mean(), torch.stack(accs).mean()


# ----------------------------------------------------------------------------------------------------- tasks


def sample_tasks(sampler: TaskSampler, cfg: MAMLConfig, n_tasks: int, generator: torch.Generator,
                 device: torch.device | str | None = None) -> TaskBatch:
    """``n_tasks`` tasks of ``cfg.n_way`` classes, each with ``cfg.shots`` support and ``cfg.queries`` query images
    per class (distinct images), labels ``0..N-1`` in a random class order; drawn only from ``generator``."""
    check(is_int(n_tasks) and n_tasks >= 1, f"n_tasks must be an integer >= 1, got {n_tasks!r}")
    sampler.check(cfg.n_way, cfg.shots, "shots", queries=cfg.queries)
    k, q = cfg.shots, cfg.queries
    x = torch.stack([sampler.gather(sampler.pick(cfg.n_way, k + q, generator)) for _ in range(n_tasks)])
    y = TaskSampler.labels(cfg.n_way, k + q).expand(n_tasks, -1, -1)
    x = to_float(x).to(device)
    y = y.to(device)
    support, query = (x[:, :, :k], y[:, :, :k]), (x[:, :, k:], y[:, :, k:])
    return TaskBatch(support[0].flatten(1, 2), support[1].flatten(1), query[0].flatten(1, 2), query[1].flatten(1))


# ------------------------------------------------------------------------------------------------ evaluation


def evaluate_task(net: FunctionalNet, params: Params, support: tuple[Tensor, Tensor], query: tuple[Tensor, Tensor],
                  cfg: MAMLConfig) -> float:
    """Query accuracy after ``cfg.eval_inner_steps`` SGD steps on the support set (the meta-parameters untouched).
    Transductive (``cfg.transductive``): the query batch alone, batch norm on its statistics, as Finn's code
    evaluates; otherwise each query is classified in a batch with the support set (:func:`reptile.fewshot.predict`)."""
    w = inner_adapt(net, tuple(p.detach() for p in params), support, cfg.inner_step, cfg.eval_inner_steps,
                    cfg.loss_scale, first_order=True, shots=cfg.shots, adapt=inner_mask(net, cfg.adapt_norm))
    with torch.no_grad():
        w = tuple(p.detach() for p in w)
        logits = predict(net, w, support[0], query[0], cfg.transductive)
        return float((logits.argmax(-1) == query[1]).double().mean())


# ------------------------------------------------------------------------------------------------ the learner


PATHS = ("engine", "vmap", "loop")  # how the meta-gradient is computed (see MAMLLearner)
# the paths as the benchmark's report names them (python -m reptile.bench --maml)
PATH_LABELS = {"engine": "engine, populations of tasks", "vmap": "vmap over the meta-batch",
               "loop": "one task at a time"}


class MAMLLearner:
    """Meta-trains ``phi`` with MAML (or first-order MAML): :meth:`meta_step` is one outer Adam step on a meta-batch.

    ``path``, how the meta-gradient is computed (all give it to rounding, ``tests/test_maml*.py``): ``"vmap"``, all
    tasks at once with ``torch.func``; ``"loop"``, one task at a time with ``torch.func``; ``"engine"``, the tasks as
    populations on the engine's network with the second order by hand (:mod:`reptile.maml.population`; pass its
    :class:`~reptile.maml.population.EngineNet` as ``engine``).

    Deterministic for a given ``init`` (a generator or seed for the network's own initialisation,
    :meth:`FunctionalNet.init_params`: Glorot-uniform for Reptile's Conv4; Finn's network,
    :class:`reptile.maml.protocol.FinnNet`, draws its dense kernel from N(0, 1)), path and tasks: nothing else is
    random. ``device="auto"`` runs on CUDA when present, else on the CPU."""

    def __init__(self, net: FunctionalNet, cfg: MAMLConfig, init: torch.Generator | int = 0,
                 device: torch.device | str = "auto", dtype: torch.dtype = torch.float32, path: str = "vmap",
                 engine: Any = None):
        check(isinstance(cfg, MAMLConfig), f"cfg must be a MAMLConfig, got {cfg!r}")
        check(dtype in (torch.float32, torch.float64), f"dtype must be torch.float32 or torch.float64, got {dtype!r}")
        check(path in PATHS, f"unknown meta-gradient path {path!r}; allowed: {', '.join(PATHS)}")
        check((path == "engine") == (engine is not None),
              "the 'engine' path needs its network as engine= (reptile.maml.population.EngineNet), and only it does")
        self.net, self.cfg, self.path, self.engine = net, cfg, path, engine
        self.device = resolve_device(device)
        deterministic(self.device)
        self.phi: Params = tuple(p.to(self.device, dtype) for p in net.init_params(init))
        self.outer = Adam(cfg.outer_lr)
        self.outer_state = self.outer.init(self.phi)
        self.iteration = 0

    def meta_step(self, tasks: TaskBatch) -> dict[str, float]:
        """One outer iteration: the meta-gradient over ``cfg.meta_batch`` tasks, then Adam on ``phi``. Returns the
        meta-batch's post-adaptation query loss and accuracy (before this step's update)."""
        n = tasks.support_x.shape[0]
        check(n == self.cfg.meta_batch, f"meta_step got {n} tasks but meta_batch is {self.cfg.meta_batch}")
        tasks = TaskBatch(*(t.to(self.device) for t in tasks))
        tasks = tasks._replace(support_x=tasks.support_x.to(self.phi[0].dtype),
                               query_x=tasks.query_x.to(self.phi[0].dtype))
        if self.engine is not None:
            g, loss, acc = self.engine.meta_gradient(self.phi, tasks, self.cfg)
        else:
            g, loss, acc = meta_gradient(self.net, self.phi, tasks, self.cfg, vectorised=self.path == "vmap")
        if not all(bool(torch.isfinite(t).all()) for t in g):
            raise DivergedError(f"outer iteration {self.iteration + 1}: the meta-gradient is not finite (NaN or "
                                f"inf); lower inner_step ({self.cfg.inner_step}) or outer_lr")
        self.phi, self.outer_state = self.outer.step(self.phi, g, self.outer_state)
        self.iteration += 1
        return {"query_loss": float(loss), "query_accuracy": float(acc)}

    def evaluate(self, tasks: TaskBatch) -> list[float]:
        """Each task's query accuracy after ``cfg.eval_inner_steps`` inner steps from ``phi`` (left as it was)."""
        dtype = self.phi[0].dtype
        return [evaluate_task(self.net, self.phi, (sx.to(self.device, dtype), sy.to(self.device)),
                              (qx.to(self.device, dtype), qy.to(self.device)), self.cfg)
                for sx, sy, qx, qy in zip(*tasks)]

    def state_dict(self) -> dict[str, Any]:
        return {"iteration": self.iteration, "phi": tuple(p.detach().clone() for p in self.phi),
                "outer_state": detach_state(self.outer_state), "config": self.cfg.to_dict()}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        check(state["config"] == self.cfg.to_dict(),
              "checkpoint was written with a different MAMLConfig; use that configuration or start afresh")
        self.iteration = state["iteration"]
        self.phi = tuple(p.to(self.device) for p in state["phi"])
        self.outer_state = {k: tuple(t.to(self.device) for t in v) if isinstance(v, tuple) else v
                            for k, v in detach_state(state["outer_state"]).items()}


__all__ = ["LOSS_SCALES", "MAMLConfig", "MAMLLearner", "PATHS", "TaskBatch", "evaluate_task", "inner_adapt",
           "inner_mask", "meta_gradient", "resolve_device", "sample_tasks", "task_loss"]
