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
from .validate import DivergedError


def save_checkpoint(path: Path, state: dict[str, Any]) -> None:
    buf = io.BytesIO()
    torch.save(state, buf)
    atomic_write_bytes(path, buf.getvalue())


def load_checkpoint(path: Path) -> dict[str, Any]:
    """The state :func:`save_checkpoint` wrote; a file that cannot be read (truncated, damaged, not a checkpoint)
    raises :class:`reptile.results.CheckpointError` naming it and saying how to start the run over."""
    from .results import CheckpointError

    try:
        state = torch.load(path, map_location="cpu", weights_only=False)
    except FileNotFoundError:
        raise
    except Exception as e:  # truncated zip, bad pickle, not a torch file, unreadable
        raise CheckpointError(
            f"cannot read the checkpoint {path} ({type(e).__name__}: {str(e).splitlines()[0] if str(e) else ''}); "
            f"it is truncated or damaged (a full disk, or an incomplete copy?). Delete it to start that run over "
            f"from the beginning: rm '{path}'") from e
    if not isinstance(state, dict):
        raise CheckpointError(f"the checkpoint {path} holds a {type(state).__name__}, not a checkpoint (a dict); "
                              f"delete it to start that run over from the beginning: rm '{path}'")
    return state


def _to_device(state: Any, device: torch.device) -> Any:
    if isinstance(state, torch.Tensor):
        return state if state.dtype == torch.uint8 and state.dim() == 1 else state.to(device)
    if isinstance(state, dict):
        return {k: (v if k == "generator" else _to_device(v, device)) for k, v in state.items()}
    if isinstance(state, tuple):
        return tuple(_to_device(v, device) for v in state)
    return state


CHECKPOINT_FORMAT = 2  # 2: independent random streams (reptile.seeding); older checkpoints are refused


def _differences(a: Any, b: Any, prefix: str = "") -> list[str]:
    """The keys (dotted) whose values differ between two nested dicts."""
    if isinstance(a, dict) and isinstance(b, dict):
        out = []
        for k in sorted(set(a) | set(b), key=str):
            out += _differences(a.get(k), b.get(k), f"{prefix}{k}.")
        return out
    return [] if a == b else [f"{prefix[:-1]} ({a!r} in the checkpoint, {b!r} now)"]


def check_same_run(path: Path, state: dict[str, Any], run_config: dict[str, Any] | None, learner: MetaLearner) -> None:
    """Refuse to resume from a checkpoint of another configuration (any field, not only the meta-learner's)."""
    fix = f"delete {path} to start this run over, or run it with the configuration it was written with"
    if state.get("format") != CHECKPOINT_FORMAT:
        raise ValueError(f"checkpoint {path} was written by an older version of this code (format "
                         f"{state.get('format', 1)}, now {CHECKPOINT_FORMAT}) and cannot be resumed; {fix}")
    stored = {"run": state.get("run"), "meta": state["learner"]["config"]}
    now = {"run": run_config, "meta": learner.config.to_dict()}
    diff = _differences(stored, now)
    if diff:
        raise ValueError(f"checkpoint {path} was written with another configuration: {'; '.join(diff)}. {fix}")


WEIGHT_LIMIT = 1e6  # beyond this, float32 resolves only steps of about 0.1: no learning rate in use makes sense there


def check_finite(learner: MetaLearner, label: str = "") -> None:
    """Stop a diverging run: after outer iteration ``learner.iteration`` every meta-parameter must be finite and
    below :data:`WEIGHT_LIMIT` in magnitude (Adam with a huge step keeps the weights finite but meaningless: batch
    norm hides their scale, and such a run would otherwise store a chance-level result)."""
    largest = float(torch.stack([p.detach().abs().max() for p in learner.phi]).max())  # torch's max keeps a NaN
    if largest <= WEIGHT_LIMIT:
        return
    c = learner.config
    what = ("became NaN or infinite" if not largest < float("inf") else
            f"grew beyond {WEIGHT_LIMIT:.0e} in magnitude (largest {largest:.2e})")
    raise DivergedError(
        f"{label + ': ' if label else ''}the meta-parameters {what} at outer iteration {learner.iteration}: the run "
        f"diverged and no result is written. Lower the inner step size (inner_lr, now {c.inner_lr}) or the outer "
        f"step size (outer_step, now {c.outer_step})")


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
    run_config: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Run ``outer_iters`` outer iterations of ``learner``; resume from ``checkpoint`` if it exists.

    ``sample_tasks(task_generator)`` returns one meta-batch. ``evaluate(learner)`` is called at iteration 0, every
    ``eval_every`` iterations and at the end; its numbers form the learning curve. The checkpoint holds the learner,
    the task generator and the curve, so a resumed run gives the same numbers as an uninterrupted one.
    ``run_config`` (the whole experiment's configuration and seed) is stored in the checkpoint, and a checkpoint
    written with any other configuration is refused rather than resumed.

    Training stops with :class:`~reptile.validate.DivergedError` as soon as the meta-parameters stop being finite.
    Returns ``{"curve": {...}, "train_seconds": float}``.
    """
    curve: dict[str, list[float]] = {"iteration": []}
    seconds = 0.0
    if checkpoint is not None and checkpoint.exists():
        state = load_checkpoint(checkpoint)
        check_same_run(checkpoint, state, run_config, learner)
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
            save_checkpoint(checkpoint, {"format": CHECKPOINT_FORMAT, "run": run_config,
                                         "learner": learner.state_dict(), "curve": curve, "train_seconds": seconds,
                                         "task_generator": task_generator.get_state()})

    if learner.iteration == 0:
        record()
    start = time.perf_counter() - seconds
    report_every = max(1, outer_iters // 10)
    while learner.iteration < outer_iters:
        learner.meta_step(sample_tasks(task_generator))
        it = learner.iteration
        check_finite(learner, label)
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
