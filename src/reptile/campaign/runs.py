"""Advancing the campaign's plan a piece at a time (one process, or one worker of :mod:`reptile.campaign.workers`):
:func:`advance` trains or evaluates one population from its checkpoint for a given wall time and writes its records
when done (then its evaluation-batch check, :func:`batch_check`, where the plan asks for one); :func:`run` advances
the plan in order, passing over a population another process holds (:func:`claim`); :func:`failure` says which
errors stop a call with one line."""

from __future__ import annotations

import contextlib
import os
import signal
import sys
import threading
import time
from pathlib import Path
from typing import Any

import torch

from .. import results as R
from .. import seeding
from ..provenance import environment, utc_now, with_environ
from ..validate import DivergedError, check, is_positive, resolve_device
from .plan import (PLAN, Entry, campaign_root, check_partial_path, check_pending, checkpoint_path, devices_label,
                   finished, maml_checkpoint)

try:
    import fcntl
except ImportError:  # not POSIX: one worker at a time
    fcntl = None

EVAL_BLOCK = 250  # final-evaluation tasks per member between checkpoints
STOP = threading.Event()  # set by SIGTERM or SIGINT (see stop_on_signals): checkpoint and return at the next step


def stop_on_signals() -> None:
    """Make SIGTERM and SIGINT (kill, Ctrl-C, the end of a session) stop this process's campaign gracefully: the
    population in hand finishes its outer iteration (or evaluation block), writes its checkpoint and returns, so
    that no work since the last periodic checkpoint is lost."""
    def handler(signum, frame):
        STOP.set()

    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, handler)


# ------------------------------------------------------------------------------------------------ advancing

AT_ONCE = threading.local()  # how many populations this campaign advances at the same time on the device


def at_once() -> int:
    """How many populations the campaign call running in this thread advances at once on its device (its workers:
    processes, each with its share of a CPU's cores, or threads on streams of one GPU); 1 for a plain call. Each
    training segment records it, since a population's device hours are its wall-clock time on a device it may have
    shared."""
    return getattr(AT_ONCE, "n", 1)


def advance(entry: Entry, seconds: float, device: str = "auto", results_dir=None, data_root=None, cache_dir=None,
            progress: bool = True, splits=None) -> bool:
    """Advance ``entry`` for at most about ``seconds`` of wall time: training, then the final evaluation, then the
    records. Returns whether the entry is finished. ``splits`` (one (training, test) pair per seed) skips loading.

    Its checkpoint is read and checked (:func:`reptile.engine.trainer.check_same_run`) before any data is loaded: a
    damaged or foreign one stops the call with a message naming it, and nothing is written. A resumed entry says
    where it resumes (:func:`resume_note`), and warns when its CPU thread count changed (:func:`thread_warning`)."""
    if entry.experiment == "maml":
        return advance_maml(entry, seconds, device, results_dir, data_root, cache_dir, progress)
    if check_pending(entry, results_dir):  # trained and recorded: only its evaluation-batch check is left
        return batch_check(entry, seconds, device, results_dir, data_root, cache_dir, progress, splits)
    from ..engine import evaluation as E
    from ..engine import trainer
    from ..engine.population import AdamState, Population
    from ..fewshot import TaskSampler
    from ..experiments.fewshot import check_fits, load_splits, population_curve
    from .trained import state as trained_state

    began = time.perf_counter()
    cfg, seeds = entry.config, list(entry.seeds)
    dev = resolve_device(device)
    path = checkpoint_path(entry, results_dir)
    run_config = {"experiment": entry.experiment, "seeds": seeds, "config": cfg.to_dict()}
    state = trainer.load_checkpoint(path) if path.exists() else None
    if state is not None:
        trainer.check_same_run(path, state, run_config)
        if progress:
            print(f"campaign: {resume_note(entry, state, path)}", file=sys.stderr, flush=True)
        warning = thread_warning(entry, state, dev)
        if warning:
            print(f"campaign: warning: {warning}", file=sys.stderr, flush=True)
    seeding.deterministic(dev)
    path.parent.mkdir(parents=True, exist_ok=True)
    if splits is None:
        splits = [load_splits(cfg, s, data_root, cache_dir) for s in seeds]
    for tr, te in splits:
        check_fits(cfg, tr, te)
    m = cfg.meta
    pop = Population(cfg, seeds, [tr.images for tr, _ in splits], dev)
    test = [TaskSampler(te.images.to(dev)) for _, te in splits]

    curve_eval = population_curve(cfg, seeds, test)

    if state is None or "evaluation" not in state:
        note = {"populations_at_once": at_once(), "threads": torch.get_num_threads()}
        trained = trainer.train(pop, m.outer_iters, evaluate=curve_eval, eval_every=cfg.curve_every,
                                checkpoint=path, checkpoint_every=cfg.checkpoint_every, checkpoint_seconds=600,
                                label=entry.key, progress=progress, run_config=run_config,
                                stop_after=max(0.0, seconds - (time.perf_counter() - began)), stop=STOP.is_set,
                                segment_note=note)
        if not trained["done"]:
            return False
        state = {"format": trainer.FORMAT, "run": run_config, "population": pop.state_dict(),
                 "curves": trained["curves"], "train_seconds": trained["train_seconds"],
                 "segments": trained["segments"],
                 "evaluation": {"generators": [seeding.generator(s, "eval").get_state() for s in seeds],
                                "accuracies": [{"non_transductive": [], "transductive": []} for _ in seeds],
                                "seconds": 0.0, "devices": []}}
        state["evaluation"]["written"] = utc_now()
        trainer.save_checkpoint(path, state)
    else:
        pop.load_state_dict(state["population"])
    ev = state["evaluation"]
    generators = [torch.Generator().set_state(g) for g in ev["generators"]]
    bar = trainer.progress_bar(len(seeds) * cfg.eval_tasks, sum(len(a["non_transductive"]) for a in ev["accuracies"]),
                               f"{entry.key}: evaluation", "task", progress)
    rows = {k: pop.net.rows(t) for k, t in (("phi", pop.phi), ("m", pop.inner.m), ("v", pop.inner.v))}
    device_label = str(dev) if dev.type == "cpu" else torch.cuda.get_device_name(dev)
    if device_label not in ev["devices"]:
        ev["devices"].append(device_label)
    ev["threads"] = torch.get_num_threads() if dev.type == "cpu" else None  # of the latest piece (thread_warning)
    try:
        for i, seed in enumerate(seeds):  # member by member, in blocks: the draws are those of one whole call
            acc = ev["accuracies"][i]
            while len(acc["non_transductive"]) < cfg.eval_tasks:
                t0 = time.perf_counter()
                n = min(EVAL_BLOCK, cfg.eval_tasks - len(acc["non_transductive"]))
                one = [i]
                st = AdamState(pop.net.stack(rows["m"][one]), pop.net.stack(rows["v"][one]), pop.inner.step)
                got = E.evaluate(pop.net, pop.net.stack(rows["phi"][one]), st, [test[i]], [generators[i]],
                                 cfg.n_way, cfg.shots, cfg.eval_iters, cfg.eval_batch, n, m.inner_lr, m.inner_betas,
                                 pop.dtype, optimizer=m.inner_optimizer, progress=bar)[0]
                for k in acc:
                    acc[k] += got[k]
                ev["generators"][i] = generators[i].get_state()
                ev["seconds"] += time.perf_counter() - t0
                ev["written"] = utc_now()
                trainer.save_checkpoint(path, state)
                more = i + 1 < len(seeds) or len(acc["non_transductive"]) < cfg.eval_tasks
                if more and (time.perf_counter() - began >= seconds or STOP.is_set()):
                    return False
    finally:
        if bar is not None:
            bar.close()
    # the trained state first, then the records, then the checkpoint goes: a call stopped between two of these
    # writes (a full disk, a kill) leaves the entry unfinished (a record missing) with its checkpoint, and the next
    # call writes them again; records first would leave a finished entry whose trained state is never written
    trained_state.save(entry.experiment, entry.name, cfg.to_dict(), state["population"], results_dir)
    write_records(entry, state, dev, results_dir)
    path.unlink()
    if entry.batch_check:
        return batch_check(entry, seconds - (time.perf_counter() - began), device, results_dir, data_root, cache_dir,
                           progress, splits)
    return True


def batch_check(entry: Entry, seconds: float, device: str = "auto", results_dir=None, data_root=None, cache_dir=None,
                progress: bool = True, splits=None) -> bool:
    """The evaluation-batch check ``entry`` plans after its records (``Entry.batch_check``): the networks of its
    trained state evaluated with each of those batches on all of its final evaluation's tasks, one record
    (:func:`reptile.campaign.trained.record_eval_batches`), for at most about ``seconds``. Returns whether the
    record is written.

    Its pieces (one per seed and batch) are kept as each finishes (:func:`.plan.check_partial_path`), so a call
    that runs out of time or is told to stop ends between two blocks of tasks, and the next call goes on from the
    pieces done (the one in progress starts over)."""
    from .trained import batch_check as BC
    from .trained import state as TS

    deadline = time.perf_counter() + seconds
    if seconds <= 0 or STOP.is_set():
        return False
    cfg, seeds = entry.config, list(entry.seeds)
    if progress:
        print(f"campaign: {entry.key}: evaluating its trained networks with batches "
              f"{', '.join(map(str, entry.batch_check))} on its {cfg.eval_tasks:,} final test tasks per seed",
              file=sys.stderr, flush=True)
    state = TS.trained_path(entry.experiment, entry.name, seeds, results_dir)
    where = {"trained_state": state.relative_to(R.results_root(results_dir)).as_posix()}  # not this machine's path
    out = BC.record_eval_batches(state, seeds, cfg.eval_tasks, list(entry.batch_check), source=where, device=device,
                                 data_root=data_root, cache_dir=cache_dir, results_dir=results_dir,
                                 splits=None if splits is None else dict(zip(seeds, splits)), progress=progress,
                                 stop=lambda: STOP.is_set() or time.perf_counter() >= deadline,
                                 partial=check_partial_path(entry, results_dir))
    return out is not None


def advance_maml(entry: Entry, seconds: float, device: str = "auto", results_dir=None, data_root=None,
                 cache_dir=None, progress: bool = True) -> bool:
    """:func:`advance` for a 'maml' entry: its seeds one after another, each a run of
    :func:`reptile.maml.experiment.run` that checkpoints under ``results/campaign/maml/`` and stops when the time is
    up or the campaign is told to stop, to resume at the next call. Returns whether every seed is finished."""
    from ..maml import experiment as MX

    began = time.perf_counter()
    cfg = entry.config
    for seed in entry.seeds:
        p = R.run_path(entry.experiment, entry.name, seed, results_dir)
        if p.exists() and R.read_run(p).get("digest") == cfg.digest():
            continue
        left = seconds - (time.perf_counter() - began)
        if left <= 0 or STOP.is_set():
            return False
        with kept_switches(maml_checkpoint(entry, seed, results_dir), resolve_device(device), progress):
            record = MX.run(cfg, seed, device, data_root, cache_dir, results_dir, campaign_root(results_dir),
                            progress, stop_after=left, stop=STOP.is_set)
        if record is None:
            return False
    return True


CPU_SWITCHES = ("REPTILE_ONEDNN", "REPTILE_FUSED")  # the engine switches that choose how a CPU computes


@contextlib.contextmanager
def kept_switches(checkpoint: Path, dev: torch.device, progress: bool = True):
    """Within the block, the CPU switches (:data:`CPU_SWITCHES`) of the latest piece of the run under way whose
    checkpoint is ``checkpoint`` (the 'pieces' a MAML run records), when it resumes on a CPU: each switch computes
    otherwise, so a run keeps its arithmetic from piece to piece whatever the campaign process was started with, and
    a run that starts (no checkpoint) takes the process's. The process's environment is restored afterwards."""
    from ..train import load_checkpoint

    pieces = load_checkpoint(checkpoint).get("pieces", []) if dev.type == "cpu" and checkpoint.exists() else []
    if not pieces:
        yield
        return
    want = {k: v for k, v in pieces[-1].get("switches", {}).items() if k in CPU_SWITCHES}
    if progress and want != {k: os.environ[k] for k in CPU_SWITCHES if k in os.environ}:
        print(f"{checkpoint.parent.name} of {checkpoint.parent.parent.name}: resumes with the CPU switches of its "
              f"latest piece ({', '.join(f'{k}={v}' for k, v in want.items()) or 'none'}), not this process's",
              file=sys.stderr, flush=True)
    with with_environ(**{k: want.get(k) for k in CPU_SWITCHES}):
        yield


def resume_note(entry: Entry, state: dict[str, Any], path: Path) -> str:
    """Where a call resumes ``entry`` from its checkpoint ``state`` (read from ``path``): the outer iteration of its
    training, or the task of its final evaluation, with the devices that ran it so far."""
    total = entry.config.meta.outer_iters
    done = devices_label(state.get("segments", []))
    if "evaluation" in state:
        ev = state["evaluation"]
        n = sum(len(a["non_transductive"]) for a in ev["accuracies"])
        of = entry.config.eval_tasks * len(entry.seeds)
        return (f"{entry.key}: resuming its final evaluation at task {n:,} of {of:,} from {path} (training done: "
                f"{total:,} outer iterations; {done})")
    return (f"{entry.key}: resuming from {path} at outer iteration {state['population']['iteration']:,} of "
            f"{total:,} (so far {done})")


def thread_warning(entry: Entry, state: dict[str, Any], dev: torch.device) -> str | None:
    """A warning when ``entry`` resumes on a CPU with another thread count than its latest piece ran with: the
    thread count changes the order of a CPU's floating-point sums, so the numbers from there on are no longer
    exactly those of an uninterrupted run. None when unchanged, on a GPU, after a piece on another device, or when
    the checkpoint does not say (pieces run before the campaign recorded it)."""
    if dev.type != "cpu":
        return None
    before = None
    ev = state.get("evaluation")
    if ev is not None and "threads" in ev:
        before = ev["threads"]
    elif state.get("segments"):
        last = state["segments"][-1]
        before = last.get("threads") if last.get("device") == "cpu" else None
    now = torch.get_num_threads()
    if before is None or before == now:
        return None
    return (f"{entry.key} ran its latest piece with {before} CPU thread{'s' if before > 1 else ''} and resumes with "
            f"{now}: the thread count changes the order of the CPU's floating-point sums, so its numbers from here "
            f"on differ slightly from those of an uninterrupted run. Stop now and pass --threads {before} to keep "
            f"them exact")


def write_records(entry: Entry, state: dict[str, Any], dev, results_dir=None) -> None:
    """One results JSON per seed, as :func:`reptile.experiments.fewshot.run_population` writes them."""
    from ..engine.network import Conv4
    from ..experiments.fewshot import fewshot_record

    cfg, seeds = entry.config, list(entry.seeds)
    env = environment(dev)
    ev = state["evaluation"]
    for i, seed in enumerate(seeds):
        record = fewshot_record(
            entry.experiment, cfg, seed, env, time.perf_counter(), Conv4(cfg.n_way).size, state["train_seconds"],
            ev["seconds"], cfg.eval_tasks * len(seeds), state["curves"][i], ev["accuracies"][i],
            engine={"name": "population", "seeds": seeds, "campaign": True, "segments": state["segments"],
                    "evaluation_devices": ev["devices"],
                    "note": "trained a piece at a time by `python -m reptile.campaign`; times are device "
                            "wall-clock times summed over the pieces (the population's, shared by its seeds)"})
        record["wall_seconds"] = round(state["train_seconds"] + ev["seconds"], 3)
        R.save_run(record, R.run_path(entry.experiment, entry.name, seed, results_dir))


@contextlib.contextmanager
def claim(entry: Entry, results_dir=None):
    """Hold ``entry`` for this process while advancing it: an exclusive lock on ``results/campaign/<key>.lock``,
    which the system releases when the process ends, however it ends, and which holds the process id of its holder
    (:func:`holder`). Yields whether the entry was free: a second process (a second worker, or a second campaign
    started by mistake) is refused and passes over it, so no entry is advanced twice at once and no two processes
    write its checkpoint."""
    if fcntl is None:
        yield True
        return
    path = campaign_root(results_dir) / f"{entry.key}.lock"
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a") as f:
        try:
            fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            yield False
            return
        try:
            f.seek(0)
            f.truncate()
            f.write(f"{os.getpid()}\n")
            f.flush()
            yield True
        finally:
            fcntl.flock(f, fcntl.LOCK_UN)


def holder(entry: Entry, results_dir=None) -> int | None:
    """The process id that holds ``entry`` (:func:`claim`) or held it last; None when unknown."""
    try:
        text = (campaign_root(results_dir) / f"{entry.key}.lock").read_text().strip()
    except OSError:
        return None
    return int(text) if text.isdigit() else None


def run(minutes: float, device: str = "auto", plan=PLAN, results_dir=None, data_root=None, cache_dir=None,
        progress: bool = True) -> list[str]:
    """Advance ``plan`` in order for ``minutes`` of wall time. Returns the keys of the entries finished now.

    An entry another process is advancing (see :func:`claim`) is passed over, so several workers started together
    (``--workers``) advance the first unfinished entries side by side."""
    check(is_positive(minutes), f"minutes must be a finite number > 0, got {minutes!r}")
    deadline = time.perf_counter() + 60 * minutes
    done = []
    for entry in plan:
        if finished(entry, results_dir):
            continue
        left = deadline - time.perf_counter()
        if left <= 0 or STOP.is_set():
            break
        with claim(entry, results_dir) as mine:
            if not mine or finished(entry, results_dir):  # another worker has it, or has just finished it
                if not mine and progress:
                    pid = holder(entry, results_dir)
                    print(f"campaign: {entry.key} is being advanced by another process"
                          f"{f' (pid {pid})' if pid else ''}; passing over it", file=sys.stderr, flush=True)
                continue
            if progress:
                print(f"campaign: {entry.key}, {left / 60:.0f} minutes left", file=sys.stderr, flush=True)
            if not advance(entry, left, device, results_dir, data_root, cache_dir, progress):
                break
        done.append(entry.key)
    return done


def failure(error: BaseException) -> tuple[int, str] | None:
    """``(exit code, message)`` for an error that stops a campaign call with one line rather than a traceback: 2 for
    what was given or found before the work (a damaged or foreign checkpoint, missing data: ValueError,
    FileNotFoundError), 1 for what stopped the work (a full disk, a diverged run); None for anything else (a bug)."""
    if isinstance(error, (ValueError, FileNotFoundError)):
        return 2, str(error)
    if isinstance(error, (OSError, DivergedError)):
        return 1, str(error)
    return None


PROG = "python -m reptile.campaign"
