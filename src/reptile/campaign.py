"""The paper's budget as a campaign: full-protocol runs advanced a piece at a time, across sessions and devices.

    python -m reptile.campaign --minutes 170            # advance the plan for 170 minutes on this device
    python -m reptile.campaign --minutes 170 --workers 2   # two populations side by side, a core each
    python -m reptile.campaign --status                 # where every planned run stands
    python -m reptile.campaign --minutes 9 --workers 3 --streams   # on a GPU: three populations at the same time

A session of a few hours cannot train a full-protocol cell (tens of CPU-hours), and every process it started ends
with it. So the campaign keeps one compact checkpoint per population under ``results/campaign/`` (float32 weights,
the inner optimiser's moments, the random generators' states, the learning curve so far and which device ran which
iterations), overwritten in place at least every 10 minutes and at the end, and meant to be committed; each call
resumes the first unfinished entry of :data:`PLAN`. When an entry's training is done, its final evaluation (10,000
test tasks per seed) runs in blocks that are checkpointed too; then each seed's results JSON is written as a solo run
would write it, the population's trained state beside them (:mod:`reptile.trained`), and the checkpoint is deleted.
Resuming on the same device gives the numbers of an uninterrupted run; resuming on another (CPU to GPU or back)
works, and the records list the devices. Several workers (``--workers``, ``--streams``) are
:mod:`reptile.campaign_workers`.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import signal
import statistics
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from . import results as R
from . import seeding
from . import trained as trained_state
from .config import FEWSHOT_PRESETS, FIGURE3_PRESETS, FewShotConfig
from .validate import DivergedError, check, check_device_argument, check_threads_argument, fail, is_positive

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


@dataclass(frozen=True)
class Entry:
    """One population of the plan: ``seeds`` of the preset ``name`` of ``experiment``."""

    experiment: str  # 'gradcomb' (Figure 3) or 'fewshot' (Tables 1-2)
    name: str
    seeds: tuple[int, ...] = (0, 1, 2)
    cfg: FewShotConfig | None = None  # None: the preset ``name``

    @property
    def config(self) -> FewShotConfig:
        if self.cfg is not None:
            return self.cfg
        presets = FIGURE3_PRESETS if self.experiment == "gradcomb" else FEWSHOT_PRESETS
        return presets[self.name]

    @property
    def key(self) -> str:
        return f"{self.experiment}-{self.name}-seeds{'-'.join(map(str, self.seeds))}"


FIGURE3_CURVES = ("g1", "sum2", "avg2", "last2", "sum3", "avg3", "last3", "sum4", "avg4", "last4")
PLAN: tuple[Entry, ...] = (
    *(Entry("gradcomb", f"figure3-{c}") for c in FIGURE3_CURVES),  # Figure 3's ten curves
    Entry("fewshot", "omniglot-5shot-5way"),  # its transductive column comes from the same runs
    Entry("fewshot", "omniglot-1shot-5way"),
    Entry("fewshot", "omniglot-1shot-5way-transductive"),  # Table 5
    Entry("fewshot", "omniglot-1shot-20way"),
    Entry("fewshot", "omniglot-5shot-20way"),
    # Table 5's Omniglot cell with the evaluation batch of the authors' command for it (25, the table says 5): the
    # finished cell above is under the paper's by more than its seeds' spread; this batch raised a checkpoint's
    # transductive accuracy on every seed
    Entry("fewshot", "omniglot-1shot-5way-transductive-eval25"),
)


def campaign_root(results_dir=None) -> Path:
    return R.results_root(results_dir) / "campaign"


def checkpoint_path(entry: Entry, results_dir=None) -> Path:
    return campaign_root(results_dir) / f"{entry.key}.pt"


def finished(entry: Entry, results_dir=None) -> bool:
    """Whether every seed of ``entry`` has its results file (of this configuration)."""
    for s in entry.seeds:
        p = R.run_path(entry.experiment, entry.name, s, results_dir)
        if not p.exists() or R.read_run(p).get("digest") != entry.config.digest():
            return False
    return True


# ------------------------------------------------------------------------------------------------ advancing

_AT_ONCE = threading.local()  # how many populations this campaign advances at the same time on the device


def at_once() -> int:
    """How many populations the campaign call running in this thread advances at once on its device (its workers:
    processes, each with its share of a CPU's cores, or threads on streams of one GPU); 1 for a plain call. Each
    training segment records it, since a population's device hours are its wall-clock time on a device it may have
    shared."""
    return getattr(_AT_ONCE, "n", 1)


def advance(entry: Entry, seconds: float, device: str = "auto", results_dir=None, data_root=None, cache_dir=None,
            progress: bool = True, splits=None) -> bool:
    """Advance ``entry`` for at most about ``seconds`` of wall time: training, then the final evaluation, then the
    records. Returns whether the entry is finished. ``splits`` (one (training, test) pair per seed) skips loading.

    Its checkpoint is read and checked (:func:`reptile.engine.trainer.check_same_run`) before any data is loaded: a
    damaged or foreign one stops the call with a message naming it, and nothing is written. A resumed entry says
    where it resumes (:func:`resume_note`), and warns when its CPU thread count changed (:func:`thread_warning`)."""
    from .engine import evaluation as E
    from .engine import trainer
    from .engine.population import AdamState, Population
    from .fewshot import TaskSampler
    from .fewshot_experiment import check_fits, load_splits, population_curve

    began = time.perf_counter()
    cfg, seeds = entry.config, list(entry.seeds)
    dev = R.resolve_device(device)
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
    write_records(entry, state, splits, dev, results_dir)
    path.unlink()
    return True


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


def write_records(entry: Entry, state: dict[str, Any], splits, dev, results_dir=None) -> None:
    """One results JSON per seed, as :func:`reptile.fewshot_experiment.run_population` writes them."""
    from .engine.network import Conv4
    from .fewshot_experiment import _summary, split_seed

    cfg, seeds = entry.config, list(entry.seeds)
    env = R.environment(dev)
    ev = state["evaluation"]
    for i, seed in enumerate(seeds):
        record = R.make_record(
            entry.experiment, cfg, seed, env, time.perf_counter(),
            split_seed=split_seed(cfg, seed), parameters=Conv4(cfg.n_way).size,
            train_seconds=round(state["train_seconds"], 3),
            seconds_per_outer_iter=state["train_seconds"] / cfg.meta.outer_iters,
            eval_seconds=round(ev["seconds"], 3), seconds_per_eval_task=ev["seconds"] / (cfg.eval_tasks * len(seeds)),
            curve=state["curves"][i], eval={mode: _summary(a) for mode, a in ev["accuracies"][i].items()},
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


def select(names=None, plan=None) -> tuple[Entry, ...]:
    """The entries of ``plan`` named in ``names`` (preset names such as ``figure3-last4``, or keys), in the order
    named, so that a call can put first what is nearly done; all of them, in the plan's order, when ``names`` is
    empty or None. An unknown name stops with the names allowed. ``plan``: :data:`PLAN` (read when called)."""
    plan = PLAN if plan is None else plan
    if not names:
        return tuple(plan)
    known = {e.name for e in plan} | {e.key for e in plan}
    unknown = [n for n in names if n not in known]
    check(not unknown, f"no planned population named {', '.join(map(repr, unknown))}; "
                       f"allowed: {', '.join(e.name for e in plan)}")
    chosen = [next(e for e in plan if n in (e.name, e.key)) for n in names]
    return tuple(dict.fromkeys(chosen))  # in the order named, each once


# --------------------------------------------------------------------------------------------------- status


def devices_label(segments) -> str:
    """Which device trained how many outer iterations, in the order they ran, from a run's segments, such as
    ``"NVIDIA H100 80GB HBM3: 30,026; cpu: 9,974"`` (a segment that trained nothing adds nothing)."""
    done: dict[str, int] = {}
    for s in segments:
        done[s["device"]] = done.get(s["device"], 0) + s["end"] - s["start"]
    return "; ".join(f"{d}: {n:,}" for d, n in done.items() if n > 0) or "-"


def latest_rate(segments) -> float | None:
    """Outer iterations per second of the latest segment that trained any (the device a run is on now: a run
    begun on a GPU and continued on a CPU goes at the CPU's rate); None before any."""
    for s in reversed(segments):
        if s["end"] > s["start"] and s["seconds"] > 0:
            return (s["end"] - s["start"]) / s["seconds"]
    return None


def progress(plan=PLAN, results_dir=None) -> list[dict[str, Any]]:
    """One row per planned population: iterations done of total (and on which devices), device time spent
    (training, and the final evaluation so far), the measured rate (of its latest segment) and the training time
    left at that rate; during the final evaluation, its tasks done of total, their rate so far and the time left at
    that rate; once done, the test accuracy (non-transductive, mean ± standard deviation over the seeds). The
    status page and the Figure 3 chapter draw it as a table (:func:`reptile.artifacts.status.campaign_table`, shown
    compactly by :func:`reptile.artifacts.status.campaign_view`)."""
    from .train import load_checkpoint

    rows = []
    for entry in plan:
        cfg = entry.config
        total = cfg.meta.outer_iters
        row = {"population": f"{entry.experiment}/{entry.name}", "seeds": " ".join(map(str, entry.seeds)),
               "outer iterations": f"0 / {total:,}", "device hours": 0.0, "devices": "-",
               "outer it/s": None, "hours left (training)": None, "evaluation tasks": "-",
               "evaluation tasks/s": None, "hours left (evaluation)": None, "state": "not started",
               "test accuracy (%)": "-"}
        path = checkpoint_path(entry, results_dir)
        if finished(entry, results_dir):
            runs = [R.read_run(R.run_path(entry.experiment, entry.name, s, results_dir)) for s in entry.seeds]
            segs = runs[0].get("engine", {}).get("segments", [])
            # a configuration trained for transduction (Table 5's, *-transductive*) reports its transductive accuracy
            mode = "transductive" if "-transductive" in entry.name else "non_transductive"
            accs = [100 * r["eval"][mode]["accuracy"] for r in runs]
            spread = f" ± {statistics.stdev(accs):.2f}" if len(accs) > 1 else ""
            spread += " (transductive)" if mode == "transductive" else ""
            row.update({"outer iterations": f"{total:,} / {total:,}", "state": "done",
                        "device hours": round(runs[0]["wall_seconds"] / 3600, 2),
                        "devices": devices_label(segs),
                        "evaluation tasks": f"{cfg.eval_tasks:,} per seed",
                        "test accuracy (%)": f"{statistics.mean(accs):.2f}{spread}"})
        elif path.exists():
            st = load_checkpoint(path)
            it = st["population"]["iteration"]
            secs = sum(s["seconds"] for s in st["segments"])
            rate = latest_rate(st["segments"])
            row.update({"outer iterations": f"{it:,} / {total:,}", "device hours": round(secs / 3600, 2),
                        "devices": devices_label(st["segments"]),
                        "outer it/s": None if rate is None else round(rate, 2),
                        "hours left (training)": None if rate is None else round((total - it) / rate / 3600, 1),
                        "state": "training"})
            if "evaluation" in st:
                ev = st["evaluation"]
                n, of = sum(len(a["non_transductive"]) for a in ev["accuracies"]), cfg.eval_tasks * len(entry.seeds)
                row.update({"state": "evaluating", "hours left (training)": 0.0,
                            "device hours": round((secs + ev["seconds"]) / 3600, 2),
                            "evaluation tasks": f"{n:,} / {of:,}",
                            "evaluation tasks/s": float(f"{n / ev['seconds']:.3g}") if n and ev["seconds"] else None,
                            "hours left (evaluation)": round(ev["seconds"] / n * (of - n) / 3600, 1) if n else None})
        rows.append(row)
    return rows


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


def check_results_folder(parser, advancing: bool) -> Path:
    """The results folder the campaign reads (``$REPTILE_RESULTS`` or the repository's ``results/``): it must exist,
    since a mistyped path would show every entry 'not started' (``--status``) or start every run over from the
    beginning (``--minutes``); and, to advance, be writable. Stops with :func:`reptile.validate.fail` otherwise."""
    root = R.results_root()
    given = os.environ.get("REPTILE_RESULTS")
    where = f"{root} ($REPTILE_RESULTS={given})" if given else str(root)
    if not root.is_dir():
        what = "is not a folder" if root.exists() else "does not exist"
        then = ("every planned run would show 'not started'" if not advancing else
                "every planned run would start over from the beginning there")
        fail(parser, f"the results folder {where} {what}: the campaign's checkpoints and records are read from it, "
                     f"so {then} (a typo in the path?). Allowed: an existing folder; to begin a campaign in a new "
                     f"one, create it first: mkdir -p '{root}'")
    if advancing:
        try:
            R.check_writable(campaign_root(), "campaign", "Make it writable, or set $REPTILE_RESULTS to a folder you "
                                                          "can write.")
        except ValueError as e:
            fail(parser, e)
    return root


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog=PROG, description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--minutes", type=float, default=None,
                        help="advance the plan for this wall time (a finite number > 0; run again to go on)")
    parser.add_argument("--status", action="store_true", help="print where every planned run stands")
    parser.add_argument("--device", default="auto")
    parser.add_argument("--threads", type=int, default=None,
                        help="CPU threads per process (default: the cores divided among the workers)")
    parser.add_argument("--workers", type=int, default=1,
                        help="processes (threads with --streams) advancing the first unfinished entries side by side "
                             "(default 1)")
    parser.add_argument("--streams", action="store_true",
                        help="on a GPU: the workers are threads of this process, each on its own CUDA stream, so "
                             "that their populations run on the GPU at the same time (processes take turns)")
    parser.add_argument("--only", nargs="+", default=None, metavar="NAME",
                        help="advance only these planned populations, in this order (e.g. figure3-last4 "
                             "omniglot-5shot-5way)")
    parser.add_argument("--data-root", default=None)
    a = parser.parse_args(argv)
    # every value is checked here, before any checkpoint or data is read (reptile.validate's command-line checks)
    try:
        plan = select(a.only)
    except ValueError as e:
        fail(parser, e)
    if a.minutes is None and not a.status:
        fail(parser, "give --minutes N to advance the campaign, or --status")
    if a.minutes is not None and not is_positive(a.minutes):
        fail(parser, f"--minutes {a.minutes:g}: allowed: a finite number of minutes > 0 (the wall time this call "
                     f"advances the plan for; run it again to go on)")
    if a.workers < 1:
        fail(parser, f"--workers {a.workers}: allowed: an integer >= 1")
    check_threads_argument(parser, a.threads)
    dev = check_device_argument(parser, a.device)
    if a.streams and dev.type != "cuda":
        fail(parser, f"--streams runs the workers on CUDA streams: it needs a GPU, and the device is {dev}; on a CPU "
                     f"use --workers alone (processes)")
    check_results_folder(parser, advancing=a.minutes is not None)
    from .campaign_workers import run_streams, run_workers

    stopped = []
    try:
        if a.minutes is not None and a.streams:
            done = run_streams(a.minutes, a.workers, a.device, a.data_root, plan)
            print(f"finished this call: {', '.join(done) or 'none'}")
        elif a.minutes is not None and a.workers > 1:
            codes = run_workers(a.minutes, a.workers, a.device, a.data_root, a.threads, plan)
            stopped = [(k, c) for k, c in enumerate(codes) if c]
        elif a.minutes is not None:
            from .engine.threads import configure

            configure(a.threads)
            stop_on_signals()
            done = run(a.minutes, a.device, plan, data_root=a.data_root)
            print(f"finished this call: {', '.join(done) or 'none'}")
        from .artifacts.status import campaign_table, show

        show(campaign_table())
    except Exception as e:
        code_message = failure(e)
        if code_message is None:
            raise
        parser.exit(code_message[0], f"{PROG}: error: {code_message[1]}\n")
    if stopped:
        parser.exit(1, f"{PROG}: error: " + "; ".join(
            f"worker {k} " + (f"stopped with exit code {c}" if c > 0 else f"was killed by signal {-c}")
            for k, c in stopped) + " (see above); the other workers stopped normally\n")


if __name__ == "__main__":
    main()
