"""The outer training loop: progress, periodic evaluation, checkpoints and resume."""

from __future__ import annotations

import io
import subprocess
import sys
import time
from pathlib import Path
from typing import Any, Callable

import torch

from .core import MetaLearner
from .results import atomic_write_bytes
from .tasks import Task
from .validate import DivergedError


class CheckpointWriteError(OSError):
    """A checkpoint (or trained state) could not be written: a full disk, a read-only or vanished folder. Its
    message names the file and says that what is there is the previous version, untouched (:func:`save_checkpoint`
    writes atomically); ``errno`` is the system's."""

    def __str__(self) -> str:
        return str(self.strerror)


def save_checkpoint(path: Path, state: dict[str, Any]) -> None:
    """Write ``state`` to ``path`` atomically: readers see the previous file or the new one, never part of one, and a
    failed write (a full disk) leaves no temporary file; it raises :class:`CheckpointWriteError` naming the file."""
    buf = io.BytesIO()
    torch.save(state, buf)
    try:
        atomic_write_bytes(path, buf.getvalue())
    except OSError as e:
        before = ("the previous version there is untouched" if Path(path).exists() else
                  "nothing was written there")
        raise CheckpointWriteError(e.errno, f"cannot write {path} ({e.strerror or e}): {before} and no part of this "
                                            f"write was left behind. Free some space (or make the folder writable) "
                                            f"and run the same command again: it resumes from the last checkpoint",
                                   str(path)) from e


KINDS = ("checkpoint", "trained state")  # what load_checkpoint reads: a resume point, or a finished run's network


def committed_version(path: Path) -> tuple[str, str, str] | None:
    """Where an intact copy of ``path`` is in the history of the git repository holding it: ``(commit, path in the
    repository, the repository's folder)`` for the latest commit whose version of the file differs from the file
    there now (``git log -1 --format=%h -- <path>`` when the damage is not committed); None outside a repository,
    for a file never committed, or without git."""
    path = Path(path).absolute()

    def git(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run(["git", "-C", str(path.parent), *args], capture_output=True, text=True, timeout=60)

    try:
        top = git("rev-parse", "--show-toplevel")
        if top.returncode != 0:
            return None
        log = git("log", "-n", "200", "--format=%x01%H", "--raw", "--no-abbrev", "--no-renames", "--", path.name)
        now = git("hash-object", "--", path.name) if path.exists() else None
    except (OSError, subprocess.SubprocessError):
        return None
    if log.returncode != 0:
        return None
    current = now.stdout.strip() if now is not None and now.returncode == 0 else None
    for entry in log.stdout.split("\x01")[1:]:
        lines = entry.strip().splitlines()
        blobs = [line.split("\t")[0].split()[3] for line in lines[1:] if line.startswith(":")]
        if blobs and blobs[0].strip("0") and blobs[0] != current:  # not a deletion, not the damaged file itself
            root = Path(top.stdout.strip())
            try:
                inside = path.resolve().relative_to(root.resolve()).as_posix()
            except ValueError:
                inside = path.name
            short = git("rev-parse", "--short", lines[0].strip())
            commit = short.stdout.strip() if short.returncode == 0 else lines[0].strip()[:7]
            return commit, inside, str(root)
    return None


def unreadable(path: Path, reason: str, kind: str = "checkpoint") -> str:
    """The message for a ``kind`` file (:data:`KINDS`) that cannot be read: what it is, and how to get it back
    (from the repository's history where it was committed), or, for a checkpoint of which no intact version was
    committed, how to start that run over."""
    path = Path(path)
    found = committed_version(path)
    restore = None
    if found is not None:
        commit, inside, root = found
        restore = f"restore the version of commit {commit} with: git -C '{root}' checkout {commit} -- '{inside}'"
    head = f"cannot read the {kind} {path} ({reason}); it is truncated or damaged (a full disk, or an incomplete copy?)"
    if kind == "trained state":
        lost = ("It is the meta-trained network of a finished run, kept beside its records (seed-*.json, which stay "
                "valid): deleting it would lose that network and start nothing over")
        if restore is not None:
            return f"{head}. {lost}. It is committed to the repository: {restore}"
        return (f"{head}. {lost}. Restore it from the copy it came from: the repository commits the trained states "
                f"of finished runs (git log -- {path.name} in a clone finds them); without a copy, only training "
                f"that population again makes it again (python -m reptile.campaign, after moving its seed-*.json "
                f"records aside)")
    if restore is not None:
        return (f"{head}. It is committed to the repository: {restore}, then run again (deleting it instead would "
                f"start that run over from the beginning and lose the compute it holds)")
    return f"{head}. Delete it to start that run over from the beginning: rm '{path}'"


def load_checkpoint(path: Path, kind: str = "checkpoint") -> dict[str, Any]:
    """The state :func:`save_checkpoint` wrote; a file that cannot be read (truncated, damaged, not a checkpoint)
    raises :class:`reptile.results.CheckpointError` naming it, what it is (``kind``: ``"checkpoint"`` or
    ``"trained state"``) and how to get it back: the commit that holds an intact copy when it is in a git
    repository's history (:func:`committed_version`), else, for a checkpoint, how to start that run over."""
    from .results import CheckpointError

    if kind not in KINDS:
        raise ValueError(f"kind must be one of {', '.join(map(repr, KINDS))}, got {kind!r}")
    try:
        state = torch.load(path, map_location="cpu", weights_only=False)
    except FileNotFoundError:
        raise
    except Exception as e:  # truncated zip, bad pickle, not a torch file, unreadable
        text = str(e).splitlines()[0] if str(e) else ""
        reason = f"{type(e).__name__}: {text.split('. ')[0]}"  # the first sentence: torch's go on about causes
        raise CheckpointError(unreadable(path, reason, kind)) from e
    if not isinstance(state, dict):
        raise CheckpointError(unreadable(path, f"it holds a {type(state).__name__}, not a {kind} (a dict)", kind))
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


def config_differences(a: Any, b: Any, prefix: str = "") -> list[str]:
    """The keys (dotted) whose values differ between two nested dicts."""
    if isinstance(a, dict) and isinstance(b, dict):
        out = []
        for k in sorted(set(a) | set(b), key=str):
            out += config_differences(a.get(k), b.get(k), f"{prefix}{k}.")
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
    diff = config_differences(stored, now)
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
