"""The outer training loop: progress, periodic evaluation, checkpoints and resume."""

from __future__ import annotations

import io
import sys
import time
from pathlib import Path
from typing import Any, Callable

import torch

from .core import MetaLearner
from .results import atomic_write_bytes
from .tasks import Task


def save_checkpoint(path: Path, state: dict[str, Any]) -> None:
    buf = io.BytesIO()
    torch.save(state, buf)
    atomic_write_bytes(path, buf.getvalue())


def load_checkpoint(path: Path) -> dict[str, Any]:
    return torch.load(path, map_location="cpu", weights_only=False)


def _to_device(state: Any, device: torch.device) -> Any:
    if isinstance(state, torch.Tensor):
        return state if state.dtype == torch.uint8 and state.dim() == 1 else state.to(device)
    if isinstance(state, dict):
        return {k: (v if k == "generator" else _to_device(v, device)) for k, v in state.items()}
    if isinstance(state, tuple):
        return tuple(_to_device(v, device) for v in state)
    return state


def train(
    learner: MetaLearner,
    sample_tasks: Callable[[torch.Generator], list[Task]],
    task_generator: torch.Generator,
    outer_iters: int,
    *,
    evaluate: Callable[[MetaLearner], dict[str, float]] | None = None,
    eval_every: int = 1000,
    checkpoint: Path | None = None,
    checkpoint_every: int = 1000,
    label: str = "",
    progress: bool = True,
) -> dict[str, Any]:
    """Run ``outer_iters`` outer iterations of ``learner``; resume from ``checkpoint`` if it exists.

    ``sample_tasks(task_generator)`` returns one meta-batch. ``evaluate(learner)`` is called at iteration 0, every
    ``eval_every`` iterations and at the end; its numbers form the learning curve. The checkpoint holds the learner,
    the task generator and the curve, so a resumed run gives the same numbers as an uninterrupted one.
    Returns ``{"curve": {...}, "train_seconds": float}``.
    """
    curve: dict[str, list[float]] = {"iteration": []}
    seconds = 0.0
    if checkpoint is not None and checkpoint.exists():
        state = load_checkpoint(checkpoint)
        device = learner.phi[0].device
        learner.load_state_dict(_to_device(state["learner"], device))
        task_generator.set_state(state["task_generator"])
        curve, seconds = state["curve"], state["train_seconds"]
        if progress:
            print(f"[{label}] resumed from {checkpoint} at iteration {learner.iteration}", file=sys.stderr, flush=True)

    def record() -> None:
        if evaluate is None or (curve["iteration"] and curve["iteration"][-1] == learner.iteration):
            return
        curve["iteration"].append(learner.iteration)
        for k, v in evaluate(learner).items():
            curve.setdefault(k, []).append(v)

    def save() -> None:
        if checkpoint is not None:
            save_checkpoint(checkpoint, {"learner": learner.state_dict(), "curve": curve, "train_seconds": seconds,
                                         "task_generator": task_generator.get_state()})

    if learner.iteration == 0:
        record()
    start = time.perf_counter() - seconds
    report_every = max(1, outer_iters // 10)
    while learner.iteration < outer_iters:
        learner.meta_step(sample_tasks(task_generator))
        it = learner.iteration
        if it % eval_every == 0:
            record()
        seconds = time.perf_counter() - start
        if checkpoint is not None and it % checkpoint_every == 0 and it < outer_iters:
            save()
        if progress and (it % report_every == 0 or it == outer_iters):
            rate = seconds / max(it, 1)
            print(f"[{label}] {it}/{outer_iters} outer iterations ({100 * it / outer_iters:.0f}%), "
                  f"{seconds:.0f}s elapsed, ~{rate * (outer_iters - it):.0f}s left", file=sys.stderr, flush=True)
    record()
    seconds = time.perf_counter() - start
    return {"curve": curve, "train_seconds": seconds}
