"""The meta-learning algorithms, generic over the model (a loss of a parameter vector) and the task distribution.

Notation follows the paper: ``phi`` the initial parameters being meta-learned, ``W`` the weights after the inner
loop ``SGD(L_tau, phi, k)`` with ``k = inner_iters`` steps on minibatches of ``inner_batch`` samples, ``eps`` the
outer step size ``outer_step`` annealed linearly to 0, ``n = meta_batch`` tasks per outer iteration.

* Reptile, serial (Algorithm 1, n = 1) and batched (Algorithm 2):  ``phi <- phi + eps * (1/n) sum_i (W_i - phi)``
  (the paper's text writes ``1/k``; the average is over the n tasks).
* Reptile with an adaptive outer optimiser: ``(phi - W) / alpha`` is fed to Adam as a gradient (Section 2).
* First-order MAML: the meta-gradient is ``L'_query(W)``, the query-loss gradient at the adapted weights.
* First-order MAML as the authors' code runs it (``fomaml_last_step``): the update direction is the last inner step's
  weight change ``W_k - W_{k-1}``, applied like Reptile's: ``phi <- phi + eps * (1/n) sum_i (W_{i,k} - W_{i,k-1})``.
* MAML: the meta-gradient is ``d/dphi L_query(SGD(L_tau, phi, k))``, differentiating through the inner loop.
* Joint training on the expected loss: the gradient ``L'_tau(phi)`` with no inner loop (MAML with k = 0).

The inner optimiser is functional (see :mod:`reptile.optim`): its state (Adam's moments) runs on from task to task
through every meta-batch, and an evaluation starts from a copy of it, so nothing leaks between test tasks.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any, Callable

import torch
from torch import Tensor

from . import params as P
from .optim import Adam, SGD, State, detach_state, make_optimizer
from .params import Params
from .schedule import outer_step_size
from .tasks import Task, minibatch_indices
from .validate import check, is_int, is_number, is_positive

LossFn = Callable[[Params, tuple[Tensor, Tensor]], Tensor]

ALGORITHMS = ("reptile", "fomaml", "fomaml_last_step", "maml", "joint")
OPTIMIZERS = ("sgd", "adam")


@dataclass(frozen=True)
class MetaConfig:
    """Hyper-parameters of one meta-learning algorithm (the paper's names)."""

    algorithm: str = "reptile"  # 'reptile' | 'fomaml' | 'fomaml_last_step' | 'maml' | 'joint' (see the module doc)
    inner_optimizer: str = "sgd"  # 'sgd' or 'adam'; the few-shot runs use Adam with beta1 = 0
    inner_lr: float = 0.02  # alpha, the inner step size
    inner_betas: tuple[float, float] = (0.9, 0.999)  # Adam's betas for the inner loop
    inner_iters: int = 5  # k, optimiser steps per task
    inner_batch: int = 10  # samples per inner minibatch
    meta_batch: int = 1  # n, tasks per outer iteration (1 = Algorithm 1)
    outer_optimizer: str = "sgd"  # 'sgd': phi <- phi - eps * d (Reptile: phi + eps (W - phi)); 'adam': Adam on d
    outer_step: float = 0.1  # eps at the first outer iteration
    outer_betas: tuple[float, float] = (0.9, 0.999)  # Adam's betas when outer_optimizer == 'adam'
    outer_iters: int = 30_000  # number of outer iterations (the annealing horizon)
    anneal: bool = True  # anneal eps linearly to 0 over outer_iters

    def __post_init__(self) -> None:
        validate_meta_config(self)

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["inner_betas"] = list(self.inner_betas)
        d["outer_betas"] = list(self.outer_betas)
        return d



def validate_meta_config(c: MetaConfig) -> None:
    """Every field checked, each error naming the value and what is allowed."""
    check(c.algorithm in ALGORITHMS, f"unknown algorithm {c.algorithm!r}; allowed: {', '.join(ALGORITHMS)}")
    check(c.inner_optimizer in OPTIMIZERS, f"unknown inner_optimizer {c.inner_optimizer!r}; allowed: sgd, adam")
    check(c.outer_optimizer in OPTIMIZERS, f"unknown outer_optimizer {c.outer_optimizer!r}; allowed: sgd, adam")
    for name in ("inner_lr", "outer_step"):
        v = getattr(c, name)
        check(is_positive(v), f"{name} must be a finite number > 0, got {v!r}")
    for name in ("inner_iters", "inner_batch", "meta_batch", "outer_iters"):
        v = getattr(c, name)
        check(is_int(v) and v >= 1, f"{name} must be an integer >= 1, got {v!r}")
    for name in ("inner_betas", "outer_betas"):
        b = getattr(c, name)
        check(isinstance(b, (tuple, list)) and len(b) == 2 and all(is_number(x) and 0 <= x < 1 for x in b),
              f"{name} must be two numbers in [0, 1), got {b!r}")
    check(isinstance(c.anneal, bool), f"anneal must be True or False, got {c.anneal!r}")


# ----------------------------------------------------------------------------------------------- inner loop


def loss_and_grad(loss_fn: LossFn, w: Params, batch, create_graph: bool = False) -> tuple[Tensor, Params]:
    """``L(w)`` and ``L'(w)`` on one batch. With ``create_graph`` the gradient stays differentiable (MAML)."""
    if not create_graph:
        w = P.requires_grad(w)
    loss = loss_fn(w, batch)
    grads = torch.autograd.grad(loss, w, create_graph=create_graph)
    return loss, grads


def inner_loop(
    loss_fn: LossFn,
    phi: Params,
    task: Task,
    optimizer: SGD | Adam,
    state: State,
    inner_iters: int,
    inner_batch: int,
    generator: torch.Generator,
    create_graph: bool = False,
    lr: float | None = None,
    last_step: bool = False,
):
    """``W = SGD(L_tau, phi, k)``: ``inner_iters`` optimiser steps on minibatches of the task drawn without
    replacement. Returns the adapted weights and the optimiser state after the last step; with ``last_step``, also
    the last step's weight change ``W_k - W_{k-1}``."""
    w = prev = phi
    for idx in minibatch_indices(len(task), inner_batch, inner_iters, generator):
        _, grads = loss_and_grad(loss_fn, w, task.batch(idx), create_graph)
        prev = w
        w, state = optimizer.step(w if create_graph else P.detach(w), grads, state, lr)
    if not create_graph:
        w = P.detach(w)
    if last_step:
        return w, state, P.detach(P.sub(w, prev))
    return w, state


# ---------------------------------------------------------------------------------------------- meta-gradients


def reptile_direction(phi: Params, adapted: list[Params]) -> Params:
    """``phi - (1/n) sum_i W_i``: minus the Reptile update direction of Algorithm 2."""
    return P.sub(phi, P.mean(adapted))


def fomaml_gradient(loss_fn: LossFn, w: Params, task: Task) -> Params:
    """First-order MAML: ``L'_query(W)``, the second-derivative terms dropped."""
    return loss_and_grad(loss_fn, w, task.query())[1]


def joint_gradient(loss_fn: LossFn, phi: Params, task: Task) -> Params:
    """Joint training on the expected loss: ``L'_tau(phi)`` on the task's query samples (Equation 1)."""
    return loss_and_grad(loss_fn, phi, task.query())[1]


def maml_gradient(
    loss_fn: LossFn,
    phi: Params,
    task: Task,
    optimizer: SGD | Adam,
    state: State,
    inner_iters: int,
    inner_batch: int,
    generator: torch.Generator,
) -> tuple[Params, State]:
    """MAML: ``d/dphi L_query(SGD(L_tau, phi, k))``, by back-propagating through the ``k`` inner updates."""
    phi_leaf = P.requires_grad(phi)
    w, state = inner_loop(loss_fn, phi_leaf, task, optimizer, state, inner_iters, inner_batch, generator, True)
    loss = loss_fn(w, task.query())
    grads = torch.autograd.grad(loss, phi_leaf)
    return P.detach(grads), detach_state(state)


# -------------------------------------------------------------------------------------------------- the learner


@dataclass
class MetaLearner:
    """Meta-trains an initialisation ``phi`` with one of :data:`ALGORITHMS`.

    ``loss_fn(params, (x, y))`` is the model's loss; ``phi`` its initial parameter vector. ``generator`` drives the
    inner-loop minibatch shuffles (tasks are sampled by the caller, so the task distribution stays outside).
    """

    loss_fn: LossFn
    phi: Params
    config: MetaConfig
    generator: torch.Generator = field(default_factory=lambda: torch.Generator().manual_seed(0))
    iteration: int = 0

    def __post_init__(self) -> None:
        c = self.config
        self.phi = P.clone(self.phi)
        self.inner_opt = make_optimizer(c.inner_optimizer, c.inner_lr, c.inner_betas)
        self.inner_state = self.inner_opt.init(self.phi)
        self.outer_opt = make_optimizer(c.outer_optimizer, c.outer_step, c.outer_betas)
        self.outer_state = self.outer_opt.init(self.phi)

    # -- the outer step size
    def outer_step_size(self) -> float:
        c = self.config
        return outer_step_size(c.outer_step, c.anneal, self.iteration, c.outer_iters)

    # -- one outer iteration
    def meta_step(self, tasks: list[Task]) -> float:
        """One outer iteration on ``meta_batch`` tasks, run one after another. Returns the outer step used."""
        c = self.config
        if len(tasks) != c.meta_batch:
            raise ValueError(f"meta_step got {len(tasks)} tasks but meta_batch is {c.meta_batch}")
        eps = self.outer_step_size()
        if c.algorithm in ("reptile", "fomaml_last_step"):
            adapted = []
            for task in tasks:
                w, self.inner_state, step = inner_loop(
                    self.loss_fn, self.phi, task, self.inner_opt, self.inner_state, c.inner_iters, c.inner_batch,
                    self.generator, last_step=True,
                )
                # first-order MAML (authors' form) moves phi along the last step only: "W" = phi + (W_k - W_{k-1})
                adapted.append(w if c.algorithm == "reptile" else P.add(self.phi, step))
            if c.outer_optimizer == "sgd":
                # phi <- phi + eps * (1/n) sum_i (W_i - phi)          (Algorithms 1 and 2)
                self.phi = P.lerp(self.phi, P.mean(adapted), eps)
            else:
                # the Reptile gradient (phi - W) / alpha, fed to Adam  (Section 2)
                g = P.scale(reptile_direction(self.phi, adapted), 1.0 / c.inner_lr)
                self.phi, self.outer_state = self.outer_opt.step(self.phi, g, self.outer_state, eps)
        else:
            grads = [self._meta_gradient(task) for task in tasks]
            g = P.mean(grads)
            self.phi, self.outer_state = self.outer_opt.step(self.phi, g, self.outer_state, eps)
            self.phi = P.detach(self.phi)
        self.iteration += 1
        return eps

    def _meta_gradient(self, task: Task) -> Params:
        c = self.config
        if c.algorithm == "joint":
            return joint_gradient(self.loss_fn, self.phi, task)
        if c.algorithm == "fomaml":
            w, self.inner_state = inner_loop(
                self.loss_fn, self.phi, task, self.inner_opt, self.inner_state, c.inner_iters, c.inner_batch,
                self.generator,
            )
            return fomaml_gradient(self.loss_fn, w, task)
        g, self.inner_state = maml_gradient(
            self.loss_fn, self.phi, task, self.inner_opt, self.inner_state, c.inner_iters, c.inner_batch,
            self.generator,
        )
        return g

    # -- evaluation
    def adapt(self, task: Task, iters: int, batch: int, generator: torch.Generator) -> Params:
        """Fine-tune a copy of ``phi`` on ``task``. The learner's weights and optimiser state are left exactly as
        they were (the functional optimiser works on a copy), as the protocol's backup-and-restore requires."""
        w, _ = inner_loop(self.loss_fn, self.phi, task, self.inner_opt, dict(self.inner_state), iters, batch, generator)
        return w

    # -- checkpointing
    def state_dict(self) -> dict[str, Any]:
        return {
            "iteration": self.iteration,
            "phi": P.clone(self.phi),
            "inner_state": detach_state(self.inner_state),
            "outer_state": detach_state(self.outer_state),
            "generator": self.generator.get_state(),
            "config": self.config.to_dict(),
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        if state["config"] != self.config.to_dict():
            raise ValueError("checkpoint was written with a different configuration; delete it or use that config")
        self.iteration = state["iteration"]
        self.phi = P.clone(state["phi"])
        self.inner_state = detach_state(state["inner_state"])
        self.outer_state = detach_state(state["outer_state"])
        self.generator.set_state(state["generator"])


def finetune_losses(
    loss_fn: LossFn,
    phi: Params,
    support: tuple[Tensor, Tensor],
    evaluate: tuple[Tensor, Tensor],
    steps: int,
    lr: float,
) -> Tensor:
    """Full-batch SGD fine-tuning of ``phi`` on many independent tasks at once. ``support`` and ``evaluate`` hold
    one task per leading index; each task gets its own copy of the weights (the forward pass is vectorised with
    ``torch.func.vmap``, and the sum of the per-task losses has the per-task gradients). Returns the loss on
    ``evaluate`` after 0, 1, ..., ``steps`` steps, shape ``(tasks, steps + 1)``."""
    from torch.func import vmap

    batched_loss = vmap(loss_fn)
    n = len(support[0])
    w = tuple(p.detach().unsqueeze(0).expand(n, *p.shape).clone() for p in phi)
    out = []
    for step in range(steps + 1):
        with torch.no_grad():
            out.append(batched_loss(w, evaluate))
        if step < steps:
            w = P.requires_grad(w)
            grads = torch.autograd.grad(batched_loss(w, support).sum(), w)
            w = tuple((p - lr * g).detach() for p, g in zip(w, grads))
    return torch.stack(out, dim=1)
