"""The outer loop of a population: learning curves, a live progress bar, checkpoints and resume.

The checkpoint is one file per population (:meth:`Population.state_dict` plus the curves so far), overwritten in
place, and records which device ran which outer iterations. A resumed population gives the numbers of an
uninterrupted one (``tests/test_engine.py``).
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any, Callable

import torch

from ..provenance import engine_switches, git_commit, short_commit, utc_now
from ..train import config_differences, load_checkpoint, save_checkpoint
from .population import Population

FORMAT = 1  # of the checkpoint file around Population.state_dict()


def progress_bar(total: int, initial: int = 0, desc: str = "", unit: str = "it", enabled: bool = True):
    """A live progress bar with the rate and the time left, in a terminal or a notebook (``tqdm.auto``); None when
    disabled or when tqdm is not installed."""
    if not enabled:
        return None
    try:
        from tqdm.auto import tqdm
    except ImportError:  # pragma: no cover - tqdm comes with papermill
        return None
    return tqdm(total=total, initial=initial, desc=desc, unit=unit, dynamic_ncols=True, smoothing=0.05)


def check_same_run(path: Path, state: dict[str, Any], run_config: dict[str, Any]) -> None:
    """Refuse a checkpoint of another format, configuration or set of seeds."""
    fix = f"delete {path} to start this population over, or run it with the configuration it was written with"
    if state.get("format") != FORMAT:
        raise ValueError(f"checkpoint {path} has format {state.get('format')!r}, this code reads {FORMAT}; {fix}")
    diff = config_differences(state.get("run"), run_config)
    if diff:
        raise ValueError(f"checkpoint {path} was written with another configuration: {'; '.join(diff)}. {fix}")


def train(pop: Population, outer_iters: int, *, evaluate: Callable[[Population], list[dict[str, float]]] | None = None,
          eval_every: int = 1000, checkpoint: Path | None = None, checkpoint_every: int = 1000,
          checkpoint_seconds: float = 600.0, label: str = "", progress: bool = True,
          run_config: dict[str, Any] | None = None, stop_after: float | None = None,
          stop: Callable[[], bool] | None = None, segment_note: dict[str, Any] | None = None) -> dict[str, Any]:
    """Run the population to ``outer_iters`` outer iterations, resuming from ``checkpoint`` if it exists.

    ``evaluate(pop)`` returns one dict of numbers per member; it is called at iteration 0, every ``eval_every``
    iterations and at the end, and its numbers form each member's learning curve. The checkpoint is written every
    ``checkpoint_every`` iterations or ``checkpoint_seconds`` of wall time, whichever comes first. With
    ``stop_after`` (seconds), the loop checkpoints and returns early once that much wall time has passed (the
    campaign advances runs a piece at a time), and likewise as soon as ``stop()`` returns True (a campaign asked to
    stop by a signal); ``done`` in the result says whether ``outer_iters`` were reached. ``segment_note`` adds its
    items to this call's segment (the campaign records how many populations it advanced at once on the device).
    Every member must stay finite (:meth:`Population.check_finite`, read every iteration on a CPU, every 100 on a
    GPU, and before each checkpoint and the end), or the run stops.

    Returns ``{"curves": [per member], "train_seconds": float, "segments": [...], "done": bool}``.
    """
    run_config = run_config or {}
    curves: list[dict[str, list[float]]] = [{"iteration": []} for _ in pop.seeds]
    seconds, segments = 0.0, []
    if checkpoint is not None and checkpoint.exists():
        state = load_checkpoint(checkpoint)
        check_same_run(checkpoint, state, run_config)
        pop.load_state_dict(state["population"])
        curves, seconds, segments = state["curves"], state["train_seconds"], state["segments"]
    device = str(pop.device) if pop.device.type == "cpu" else torch.cuda.get_device_name(pop.device)
    # a run resumed across commits says which code ran which iterations, and with which engine switches if any
    switches = engine_switches()
    segment = {"device": device, "start": pop.iteration, "end": pop.iteration, "seconds": 0.0,
               "code": short_commit(git_commit()), **({"switches": switches} if switches else {}),
               **(segment_note or {})}
    segments.append(segment)

    def record() -> None:
        if evaluate is None or (curves[0]["iteration"] and curves[0]["iteration"][-1] == pop.iteration):
            return
        for curve, numbers in zip(curves, evaluate(pop)):
            curve["iteration"].append(pop.iteration)
            for k, v in numbers.items():
                curve.setdefault(k, []).append(v)

    def save() -> None:
        if checkpoint is not None:
            pop.check_finite(now=True)  # never checkpoint a diverged run
            segment["written"] = utc_now()  # how current the checkpoint is (the campaign's progress tables say)
            save_checkpoint(checkpoint, {"format": FORMAT, "run": run_config, "population": pop.state_dict(),
                                         "curves": curves, "train_seconds": seconds, "segments": segments})

    if pop.iteration == 0:
        record()
    bar = progress_bar(outer_iters, pop.iteration, label, "outer it", progress)
    began = time.perf_counter()
    start, last_save = began - seconds, began
    try:
        while pop.iteration < outer_iters:
            pop.meta_step()
            pop.check_finite()
            it = pop.iteration
            if it % eval_every == 0:
                record()
            now = time.perf_counter()
            seconds = now - start
            segment.update(end=it, seconds=now - began)
            if bar is not None:
                bar.update(1)
            out_of_time = (stop_after is not None and now - began >= stop_after) or (stop is not None and stop())
            if it < outer_iters and (it % checkpoint_every == 0 or now - last_save >= checkpoint_seconds
                                     or out_of_time):
                save()
                last_save = now
            if out_of_time and it < outer_iters:
                return {"curves": curves, "train_seconds": seconds, "segments": segments, "done": False}
    finally:
        if bar is not None:
            bar.close()
    pop.check_finite(now=True)
    record()
    seconds = time.perf_counter() - start
    segment.update(seconds=time.perf_counter() - began, written=utc_now())
    return {"curves": curves, "train_seconds": seconds, "segments": segments, "done": True}
