"""A straightforward Reptile, written as a user would, for the benchmark's baseline.

Reptile's few-shot inner loop and evaluation on the Omniglot Conv4 network in plain PyTorch: an ``nn.Module``
(:func:`reptile.fewshot.conv4`), a ``copy.deepcopy`` of it and a ``torch.optim.Adam(betas=(0, 0.999), eps=1e-8)``
per task, the loss ``F.cross_entropy(..., reduction="sum")``, and the outer update
``phi += eps * (mean_i W_i - phi)`` under ``torch.no_grad()``. Reptile carries the inner Adam's moments from task to
task and across meta-iterations (the authors' TensorFlow optimiser is built once), so the optimiser state is carried
by hand: each task's ``optimizer.state_dict()`` is saved and loaded into the next task's optimiser. An evaluation
task starts from a deep copy of that state and of the module, so it changes neither (the protocol's
backup-and-restore).

It does not use the project's functional :class:`reptile.core.MetaLearner`; tasks are drawn with
:class:`reptile.fewshot.TaskSampler` only, so both sides of the benchmark see the same task distribution.

Timing: :func:`time_training` and :func:`time_evaluation`. They do not set the number of threads; the caller does.
A "run-step" is one inner optimiser step of one run on ``cfg.meta.inner_batch`` images.
"""

from __future__ import annotations

import copy
import time

import torch
import torch.nn.functional as F
from torch import nn

from ..config import FewShotConfig
from ..fewshot import TaskSampler, conv4


def minibatches(n: int, batch_size: int, num_batches: int, generator: torch.Generator):
    """``num_batches`` index batches of ``batch_size`` from ``n`` samples: shuffle, cut, reshuffle when an epoch
    runs out (a batch may straddle two epochs), as the authors' ``_mini_batches`` without replacement does."""
    order = torch.randperm(n, generator=generator)
    for _ in range(num_batches):
        while len(order) < batch_size:
            order = torch.cat([order, torch.randperm(n, generator=generator)])
        yield order[:batch_size]
        order = order[batch_size:]


class ReferenceReptile:
    """Reptile on ``cfg`` as a user would write it: ``self.model`` holds ``phi``; ``self.optimizer_state`` the
    inner Adam's ``state_dict()``, carried from task to task (``None`` before the first task)."""

    def __init__(self, cfg: FewShotConfig, device="cpu", seed: int = 0):
        torch.manual_seed(seed)
        self.cfg = cfg
        self.device = torch.device(device)
        self.model: nn.Module = conv4(cfg.dataset, cfg.n_way).to(self.device)
        self.optimizer_state: dict | None = None
        self.iteration = 0
        self.generator = torch.Generator().manual_seed(seed)  # minibatch shuffles

    def make_optimizer(self, model: nn.Module) -> torch.optim.Optimizer:
        if self.cfg.meta.inner_optimizer == "sgd":  # Figure 3's plain SGD
            return torch.optim.SGD(model.parameters(), lr=self.cfg.meta.inner_lr)
        return torch.optim.Adam(model.parameters(), lr=self.cfg.meta.inner_lr, betas=(0.0, 0.999), eps=1e-8)

    def adapt(self, x: torch.Tensor, y: torch.Tensor, iters: int, batch: int,
              optimizer_state: dict | None) -> tuple[nn.Module, dict]:
        """A copy of ``phi`` trained for ``iters`` Adam steps on minibatches of ``batch`` samples of ``(x, y)``,
        starting from ``optimizer_state``. Returns the trained copy and the optimiser's state after it."""
        model = copy.deepcopy(self.model)
        optimizer = self.make_optimizer(model)
        if optimizer_state is not None:
            optimizer.load_state_dict(optimizer_state)
        for idx in minibatches(len(x), batch, iters, self.generator):
            idx = idx.to(x.device)
            optimizer.zero_grad()
            loss = F.cross_entropy(model(x[idx]), y[idx], reduction="sum")
            loss.backward()
            optimizer.step()
        return model, optimizer.state_dict()

    def outer_step_size(self) -> float:
        """``eps``, annealed linearly from ``outer_step`` to 0 over ``outer_iters`` (the authors' schedule)."""
        m = self.cfg.meta
        frac = min(self.iteration, m.outer_iters) / m.outer_iters
        return (1.0 - frac) * m.outer_step

    def outer_iteration(self, tasks: list[tuple[torch.Tensor, torch.Tensor]], eps: float | None = None):
        """One Reptile outer iteration on ``tasks`` (``meta_batch`` pairs ``(x, y)``), run one after another with
        the Adam state carried from each task to the next. Returns the adapted weights ``W_i`` (lists of tensors)."""
        m = self.cfg.meta
        eps = self.outer_step_size() if eps is None else eps
        adapted = []
        for x, y in tasks:
            model, self.optimizer_state = self.adapt(x, y, m.inner_iters, m.inner_batch, self.optimizer_state)
            adapted.append([p.detach() for p in model.parameters()])
        with torch.no_grad():
            for i, phi in enumerate(self.model.parameters()):
                mean_w = torch.stack([w[i] for w in adapted]).mean(dim=0)
                phi += eps * (mean_w - phi)
        self.iteration += 1
        return adapted

    def evaluate_task(self, x: torch.Tensor, y: torch.Tensor, query_x: torch.Tensor) -> torch.Tensor:
        """Predicted labels of ``query_x`` after ``eval_iters`` Adam steps of ``eval_batch`` on ``(x, y)`` from a
        copy of ``phi`` and of the carried optimiser state. Non-transductive: each query is classified in a batch
        of all training images plus that query."""
        state = copy.deepcopy(self.optimizer_state)  # load_state_dict shares the tensors: copy, or Adam's
        #                                              in-place updates would leak into the training state
        model, _ = self.adapt(x, y, self.cfg.eval_iters, self.cfg.eval_batch, state)
        predictions = []
        with torch.no_grad():
            for q in query_x:
                logits = model(torch.cat([x, q[None]]))
                predictions.append(logits[-1].argmax())
        return torch.stack(predictions)


def _sync(device) -> None:
    if torch.device(device).type == "cuda":
        torch.cuda.synchronize(device)


def timed(step, seconds: float, device, warmup: int = 1) -> tuple[int, float]:
    """How many calls of ``step()`` run in about ``seconds`` after ``warmup`` untimed ones, and the time they took.
    The device is synchronised before the clock starts and once at the end, so a GPU's queued work is counted, and
    a path whose host prepares the next step while the device runs the last one is timed as a real run goes."""
    for _ in range(warmup):
        step()
    _sync(device)
    n, start = 0, time.perf_counter()
    while time.perf_counter() - start < seconds:
        step()
        n += 1
    _sync(device)
    return n, time.perf_counter() - start


def _training_tasks(cfg: FewShotConfig, sampler: TaskSampler, generator: torch.Generator, device):
    tasks = [sampler.training_task(cfg.n_way, cfg.train_shots, generator, device)
             for _ in range(cfg.meta.meta_batch)]
    return [(t.x, t.y) for t in tasks]


def time_training(cfg: FewShotConfig, images: torch.Tensor, seconds: float, device, warmup: int = 2,
                  seed: int = 0) -> dict:
    """Time the reference's meta-training on ``device``.

    Runs ``warmup`` untimed outer iterations, then outer iterations on random tasks drawn from ``images`` (uint8,
    shaped ``(classes, per_class, 1, 28, 28)``, as :class:`reptile.fewshot.TaskSampler` takes them; ``cfg.n_way``
    classes x ``cfg.train_shots`` images per task, ``cfg.meta.meta_batch`` tasks per iteration) until ``seconds``
    have passed. The time includes drawing the tasks.

    Returns ``{"outer_iters": n, "seconds": s, "run_steps_per_s": r, "seconds_per_outer_iter": s / n}``, where a
    run-step is one inner optimiser step of one run on ``cfg.meta.inner_batch`` images:
    ``r = n * meta_batch * inner_iters / s``.
    """
    sampler = TaskSampler(images)
    sampler.check(cfg.n_way, cfg.train_shots)
    reptile = ReferenceReptile(cfg, device, seed)
    generator = torch.Generator().manual_seed(seed + 1)  # task draws
    n, elapsed = timed(lambda: reptile.outer_iteration(_training_tasks(cfg, sampler, generator, device)), seconds,
                       device, warmup)
    steps = n * cfg.meta.meta_batch * cfg.meta.inner_iters
    return {"outer_iters": n, "seconds": elapsed, "run_steps_per_s": steps / elapsed,
            "seconds_per_outer_iter": elapsed / n}


def time_evaluation(cfg: FewShotConfig, images: torch.Tensor, seconds: float, device, warmup: int = 1,
                    seed: int = 0) -> dict:
    """Time the reference's evaluation on ``device``.

    After two untimed outer iterations (so the carried Adam state is not empty, as after training) and ``warmup``
    untimed tasks, adapts to evaluation tasks drawn from ``images`` (``cfg.n_way`` classes, ``cfg.shots`` training
    images and one query each; ``cfg.eval_iters`` Adam steps of ``cfg.eval_batch`` from a deep copy of the module
    and of the optimiser state, then the non-transductive prediction of each query) until ``seconds`` have passed.
    The time includes drawing the tasks.

    Returns ``{"tasks": n, "seconds": s, "tasks_per_s": n / s, "seconds_per_task": s / n}``.
    """
    sampler = TaskSampler(images)
    sampler.check(cfg.n_way, cfg.shots, "shots", queries=1)
    reptile = ReferenceReptile(cfg, device, seed)
    generator = torch.Generator().manual_seed(seed + 1)
    for _ in range(2):
        reptile.outer_iteration(_training_tasks(cfg, sampler, generator, device))

    def one_task():
        task = sampler.eval_task(cfg.n_way, cfg.shots, generator, device)
        return reptile.evaluate_task(task.x, task.y, task.query_x)

    n, elapsed = timed(one_task, seconds, device, warmup)
    return {"tasks": n, "seconds": elapsed, "tasks_per_s": n / elapsed, "seconds_per_task": elapsed / n}
