"""The meta-trained networks of finished paper-budget runs, kept beside their records.

A campaign population (:mod:`reptile.campaign`) that finishes its training and its final evaluation leaves, next to
its results JSONs, ``results/<experiment>/<name>/trained-seeds<0-1-2>.pt``: the population's state after its last
outer iteration (float32 ``phi`` of every seed, the inner Adam's moments and step count, the generators), compact,
written atomically. With it a reader can

* take a seed's meta-learned initialisation as a ``torch.nn.Module`` (:func:`module`), to fine-tune or inspect;
* evaluate it again (:func:`evaluate`): the final evaluation's own tasks, drawn from the run's fresh ``eval`` stream,
  with the inner Adam state each task's adaptation starts from (the protocol's backup-and-restore), so the stored
  settings give the record's accuracies again, and other ``eval_iters`` / ``eval_batch`` / ``lr`` evaluate the same
  tasks another way.

Runs that finished before this file was kept have none; :func:`find` says which are stored. From a shell::

    python -m reptile.campaign.trained --preset omniglot-5shot-5way --seed 0 --tasks 500
    python -m reptile.campaign.trained --preset omniglot-5shot-5way --seed 0 --tasks 500 --eval-iters 100
    python -m reptile.campaign.trained --checkpoint results/campaign/<key>.pt --seed 0 --tasks 500   # a run under way

A recorded check (:func:`record_eval_batches`) evaluates seeds 0, 1 and 2 of a state with several evaluation batches
on the same tasks and writes one results JSON with its environment; the transductive 1-shot 5-way cell's, from the
campaign checkpoint in the repository's history at 86,836 of its 100,000 outer iterations::

    python -m reptile.campaign.trained --record --from-commit fc9ebb1 --threads 1 --tasks 3000 \
        --checkpoint results/campaign/fewshot-omniglot-1shot-5way-transductive-seeds0-1-2.pt
"""

from __future__ import annotations

import argparse
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import Tensor, nn

from .. import results as R
from .. import seeding
from ..config import FewShotConfig
from ..train import load_checkpoint, save_checkpoint
from ..validate import (check, check_device_argument, check_seeds_argument, check_threads_argument, fail, is_int,
                       is_positive)

FORMAT = 1  # of the trained-seeds*.pt file


def trained_path(experiment: str, name: str, seeds, results_dir=None) -> Path:
    """Where the population of ``seeds`` of configuration ``name`` keeps its trained state."""
    return R.results_root(results_dir) / experiment / name / f"trained-seeds{'-'.join(map(str, seeds))}.pt"


def save(experiment: str, name: str, config: dict[str, Any], population: dict[str, Any], results_dir=None,
         note: str | None = None) -> Path:
    """Write a finished population's state (``Population.state_dict()``) beside its records, atomically."""
    path = trained_path(experiment, name, population["seeds"], results_dir)
    path.parent.mkdir(parents=True, exist_ok=True)
    save_checkpoint(path, {"format": FORMAT, "experiment": experiment, "name": name, "seeds": population["seeds"],
                           "config": config, "population": population, "note": note})
    return path


def find(name: str, seed: int, experiment: str = "fewshot", results_dir=None) -> Path:
    """The trained-state file that holds ``seed`` of configuration ``name``; a clear error naming what is stored."""
    check(is_int(seed) and seed >= 0, f"seed must be an integer >= 0, got {seed!r}")
    folder = R.results_root(results_dir) / experiment / name
    files = sorted(folder.glob("trained-seeds*.pt"))
    for f in files:
        if str(seed) in f.stem.removeprefix("trained-seeds").split("-"):
            return f
    stored = sorted(f"{p.parent.name}/{p.name}"
                    for p in R.results_root(results_dir).glob(f"{experiment}/*/trained-*.pt"))
    raise FileNotFoundError(f"no trained state of {experiment}/{name} seed {seed} under {folder} (a campaign run "
                            f"keeps one when it finishes; stored: {', '.join(stored) or 'none'})")


@dataclass
class Trained:
    """One seed's meta-trained state: its configuration, weights and the inner Adam state (rows ``(P,)`` in the
    population engine's layout, :class:`reptile.engine.network.Conv4`)."""

    config: FewShotConfig
    seed: int
    phi: Tensor
    m: Tensor
    v: Tensor
    step: int
    path: Path
    note: str | None = None


def load(name: str | None, seed: int, experiment: str = "fewshot", results_dir=None, path=None) -> Trained:
    """Seed ``seed`` of configuration ``name``, from its trained-state file (:func:`find`); or, with ``path``, from
    that file: a trained state, or a campaign checkpoint (``results/campaign/*.pt``, of a run under way or taken
    from the repository's history), whose configuration it carries (``name`` is then not needed)."""
    check(is_int(seed) and seed >= 0, f"seed must be an integer >= 0, got {seed!r}")
    check(name is not None or path is not None, "give a configuration name or a path")
    path = find(name, seed, experiment, results_dir) if path is None else Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no checkpoint {path}: give a trained-state file or campaign checkpoint (with "
                                f"--from-commit, its path in that commit)")
    return _member(load_checkpoint(path, kind_of(path)), path, name, seed)


def kind_of(path) -> str:
    """What the file ``path`` is, for the message when it cannot be read (:func:`reptile.train.load_checkpoint`):
    a finished run's ``"trained state"`` (``trained-seeds*.pt``), else a campaign ``"checkpoint"``."""
    return "trained state" if Path(path).name.startswith("trained-seeds") else "checkpoint"


def _member(state: dict[str, Any], path: Path, name: str | None, seed: int) -> Trained:
    """Seed ``seed`` of the trained state or campaign checkpoint ``state`` read from ``path`` (:func:`load`)."""
    from ..engine.network import Conv4

    if "run" in state:  # a campaign checkpoint: the configuration is its run's
        config = state["run"]["config"]
    else:
        check(state.get("format") == FORMAT, f"{path}: trained-state format {state.get('format')!r}, expected {FORMAT}")
        config = state["config"]
    cfg = FewShotConfig.from_dict(config)
    check(name is None or name == cfg.name, f"{path} holds {cfg.name!r}, not {name!r}")
    check(cfg.dataset == "omniglot", f"{path}: a {cfg.dataset!r} state; the population engine's layout is Omniglot's")
    pop = state["population"]
    net = Conv4(cfg.n_way)
    check(seed in pop["seeds"], f"{path} holds seeds {pop['seeds']}, not {seed}")
    i = list(pop["seeds"]).index(seed)
    phi = net.rows(pop["phi"])[i]
    v = net.rows(pop["v"])[i] if pop["v"] is not None else torch.zeros_like(phi)
    m = net.rows(pop["m"])[i] if pop["m"] is not None else torch.zeros_like(phi)  # beta1 = 0 keeps no first moment
    return Trained(cfg, seed, phi, m, v, pop["step"], path, state.get("note"))


def module(name: str, seed: int, experiment: str = "fewshot", results_dir=None) -> nn.Sequential:
    """Seed ``seed``'s meta-learned initialisation as the chapter's ``torch.nn.Module``
    (:func:`reptile.fewshot.conv4`, batch norm on batch statistics)."""
    from ..engine.network import Conv4
    from ..fewshot import conv4

    t = load(name, seed, experiment, results_dir)
    net = conv4(t.config.dataset, t.config.n_way)
    params = Conv4(t.config.n_way).unpack(t.phi)
    with torch.no_grad():
        for p, value in zip(net.parameters(), params):
            p.copy_(value)
    return net


def evaluate(name: str | None, seed: int, n_tasks: int, *, experiment: str = "fewshot", device: str = "auto",
             eval_iters: int | None = None, eval_batch: int | None = None, lr: float | None = None, data_root=None,
             cache_dir=None, results_dir=None, splits=None, path=None,
             progress: bool = False) -> dict[str, list[float]]:
    """The accuracy of seed ``seed`` of ``name`` on the first ``n_tasks`` tasks of its final evaluation (the same
    draws, from the run's fresh ``eval`` stream), ``{"non_transductive": [...], "transductive": [...]}``, one
    accuracy per task. With the stored settings (``None``) these are the record's; ``eval_iters``, ``eval_batch``
    and ``lr`` (the inner Adam's step size) evaluate the same tasks with other settings. ``n_tasks`` is at most the
    final evaluation's ``eval_tasks`` (checked against the state's configuration before the data is loaded).
    ``splits``: the seed's (training, test) splits, to skip loading them. ``path``: a trained-state file or campaign
    checkpoint to read instead (:func:`load`). ``progress``: a live progress bar (tasks done, rate, time left)."""
    from ..engine import evaluation as E
    from ..engine.network import Conv4
    from ..engine.population import AdamState
    from ..experiments.fewshot import load_splits

    check(is_int(n_tasks) and n_tasks >= 1, f"n_tasks must be an integer >= 1, got {n_tasks!r}")
    for key, value in (("eval_iters", eval_iters), ("eval_batch", eval_batch)):
        check(value is None or (is_int(value) and value >= 1), f"{key} must be None or an integer >= 1, got {value!r}")
    check(lr is None or is_positive(lr), f"lr must be None or a finite number > 0, got {lr!r}")
    t = load(name, seed, experiment, results_dir, path)
    cfg, m = t.config, t.config.meta
    check_tasks(n_tasks, cfg)
    dev = R.resolve_device(device)
    seeding.deterministic(dev)
    _, test = splits if splits is not None else load_splits(cfg, seed, data_root, cache_dir)
    net = Conv4(cfg.n_way)
    state = AdamState(t.m.to(dev), t.v.to(dev), t.step)  # one member: its row is its population buffer
    iters = cfg.eval_iters if eval_iters is None else eval_iters
    batch = cfg.eval_batch if eval_batch is None else eval_batch
    sampler, generator = _test_tasks(cfg, seed, test.images.to(dev), n_tasks, iters, batch)
    bar = _bar(n_tasks, f"{cfg.name} seed {seed}: evaluation", progress)
    try:
        return E.evaluate(net, t.phi.to(dev), state, [sampler], [generator], cfg.n_way, cfg.shots, iters, batch,
                          n_tasks, m.inner_lr if lr is None else lr, m.inner_betas, optimizer=m.inner_optimizer,
                          progress=bar)[0]
    finally:
        if bar is not None:
            bar.close()


def check_tasks(n_tasks: int, cfg: FewShotConfig, name: str = "n_tasks") -> None:
    """``n_tasks`` of a state of configuration ``cfg``: from 1 to its final evaluation's ``eval_tasks``; the tasks
    beyond were never part of its record (the final evaluation's own are evaluated again)."""
    check(is_int(n_tasks) and 1 <= n_tasks <= cfg.eval_tasks,
          f"{name} {n_tasks!r}: allowed: an integer from 1 to {cfg.eval_tasks:,}, the tasks of the final evaluation "
          f"of {cfg.name} (per seed); more would evaluate tasks its record never saw")


def _bar(total: int, desc: str, enabled: bool):
    """A live progress bar over ``total`` tasks (:func:`reptile.engine.trainer.progress_bar`), or None."""
    from ..engine.trainer import progress_bar

    return progress_bar(total, 0, desc, "task", enabled)


def _test_tasks(cfg: FewShotConfig, seed: int, images: Tensor, n_tasks: int, eval_iters: int, eval_batch: int):
    """``(sampler, generator)`` from which :func:`reptile.engine.evaluation.evaluate` draws the first ``n_tasks``
    tasks of seed ``seed``'s final evaluation and their fine-tuning minibatches, on the test ``images``.

    The final evaluation draws each task and then its minibatches from one stream (``eval``), so another
    ``eval_iters`` or ``eval_batch`` would take another number of shuffles between two tasks and draw other tasks
    from the second on. Its tasks are therefore drawn first, as the final evaluation's settings draw them, and
    handed out in order: with those settings the minibatches come from the ``eval`` stream as in the final
    evaluation (the record's accuracies, each task drawn again and checked), with others from its sub-stream
    ``("eval", eval_batch, eval_iters)``."""
    from ..engine.population import draw_minibatches
    from ..fewshot import TaskSampler

    g, draws, plain = seeding.generator(seed, "eval"), [], TaskSampler(images)
    for _ in range(n_tasks):
        draws.append(plain.pick(cfg.n_way, cfg.shots + 1, g))
        draw_minibatches(cfg.n_way * cfg.shots, cfg.eval_batch, cfg.eval_iters, [g])
    if (eval_iters, eval_batch) == (cfg.eval_iters, cfg.eval_batch):
        return _replaying(images, draws, check_only=True), seeding.generator(seed, "eval")
    return _replaying(images, draws), seeding.generator(seed, "eval", eval_batch, eval_iters)


# ------------------------------------------------------------ a recorded check: one network, several evaluation batches

CHECK_PREFIX = "eval-batch-check"  # results/<experiment>/<name>/eval-batch-check-<outer iteration>.json
DIGITS = "0123456789abcdefghijklmnopqrstuvwxyz"  # a task's correct queries, one character (up to 35-way tasks)


def check_path(experiment: str, name: str, iteration: int, results_dir=None) -> Path:
    """Where :func:`record_eval_batches` writes its record for the state after outer iteration ``iteration``."""
    return R.results_root(results_dir) / experiment / name / f"{CHECK_PREFIX}-{iteration}.json"


def from_git(commit: str, path: str, into: Path) -> tuple[Path, dict[str, str]]:
    """The file ``path`` as it was at ``commit`` in this repository's history (a campaign checkpoint of a run
    under way, say), copied into the folder ``into``; returns the copy and ``{"commit": full hash, "path": path}``.
    A ValueError when the commit or the file is not there."""
    import subprocess

    def git(*args, text=True):
        return subprocess.run(["git", *args], cwd=R.REPO_ROOT, capture_output=True, text=text, timeout=60)

    full = git("rev-parse", "--verify", "--quiet", f"{commit}^{{commit}}")
    check(full.returncode == 0, f"no commit {commit!r} in the repository at {R.REPO_ROOT}")
    sha = full.stdout.strip()
    blob = git("show", f"{sha}:{path}", text=False)
    check(blob.returncode == 0, f"commit {sha[:7]} has no file {path!r}")
    out = Path(into) / Path(path).name
    out.write_bytes(blob.stdout)
    return out, {"commit": sha, "path": str(path)}


def _replaying(images: Tensor, draws: list[Tensor], check_only: bool = False):
    """A test split whose tasks are ``draws``, in order. Its ``pick`` hands out the next one and leaves the
    generator alone, so the generator the evaluation is given draws the fine-tuning minibatches only; with
    ``check_only`` it draws as usual and checks each draw against the next of ``draws`` instead."""
    from ..fewshot import TaskSampler

    upcoming = iter(draws)

    class Replay(TaskSampler):
        def pick(self, n_way, per_class, generator):
            expected = next(upcoming)
            if not check_only:
                return expected
            got = super().pick(n_way, per_class, generator)
            check(torch.equal(got, expected), "an evaluation drew another task than the final evaluation's")
            return got

    return Replay(images)


def record_eval_batches(checkpoint, seeds=(0, 1, 2), n_tasks: int = 2000, batches=(5, 25), *,
                        source: dict[str, str] | None = None, device: str = "auto", data_root=None, cache_dir=None,
                        results_dir=None, splits: dict | None = None, progress: bool = True) -> Path:
    """Evaluate the networks of ``seeds`` in the trained state or campaign checkpoint ``checkpoint`` with each
    evaluation batch of ``batches`` on the same ``n_tasks`` test tasks per seed, and write one results JSON
    (:func:`check_path`, atomically) with the per-seed accuracies, transductive and not, and the environment.

    The tasks are the first ``n_tasks`` of the run's final evaluation (its fresh ``eval`` stream). Under the
    configuration's own batch (``eval_batch``) they are adapted exactly as that evaluation adapts them; under another
    batch the same tasks are adapted with fine-tuning minibatches from a sub-stream of ``eval`` of their own
    (:func:`_test_tasks`). ``source``: where the file came from, recorded (``{"commit", "path"}``
    from :func:`from_git`); otherwise its path is. Every argument, the file and the results folder are checked
    before any evaluation starts. ``splits``: ``{seed: (training, test)}``, to skip loading the data."""
    import hashlib
    import sys
    import time

    from ..engine import evaluation as E
    from ..engine.network import Conv4
    from ..engine.population import AdamState
    from ..experiments.fewshot import load_splits
    from ..stats import mean_ci95

    seeds = R.validate_seeds(list(seeds) if isinstance(seeds, tuple) else seeds)
    check(is_int(n_tasks) and n_tasks >= 1, f"n_tasks must be an integer >= 1, got {n_tasks!r}")
    batches = list(batches) if isinstance(batches, (list, tuple)) else [batches]
    check(len(batches) >= 1 and all(is_int(b) and b >= 1 for b in batches),
          f"batches must be integers >= 1, got {batches!r}")
    check(len(set(batches)) == len(batches), f"batches {batches} name a batch more than once")
    path = Path(checkpoint)
    if not path.is_file():
        raise FileNotFoundError(f"no checkpoint {path}: give a trained-state file or campaign checkpoint (with "
                                f"--from-commit, its path in that commit)")
    dev = R.resolve_device(device)
    raw = path.read_bytes()
    state = load_checkpoint(path, kind_of(path))
    members = {s: _member(state, path, None, s) for s in seeds}
    cfg = members[seeds[0]].config
    check_tasks(n_tasks, cfg)
    check(cfg.n_way < len(DIGITS), f"{cfg.n_way}-way tasks: a record keeps up to {len(DIGITS) - 1} queries a task")
    experiment = state["run"]["experiment"] if "run" in state else state.get("experiment", "fewshot")
    iteration = int(state["population"]["iteration"])
    out = check_path(experiment, cfg.name, iteration, results_dir)
    R.check_writable(out.parent, "results", "Set $REPTILE_RESULTS (or pass results_dir=...) to a folder you can "
                                            "write.")
    env, started = R.environment(dev), time.perf_counter()
    seeding.deterministic(dev)
    net = Conv4(cfg.n_way)
    m = cfg.meta
    acc = {b: {"non_transductive": [], "transductive": []} for b in batches}
    correct = {b: {"non_transductive": [], "transductive": []} for b in batches}
    seconds = {b: 0.0 for b in batches}
    for s in seeds:
        t = members[s]
        _, test = splits[s] if splits is not None else load_splits(cfg, s, data_root, cache_dir)
        images = test.images.to(dev)
        for b in batches:
            sampler, gen = _test_tasks(cfg, s, images, n_tasks, cfg.eval_iters, b)
            state_s = AdamState(t.m.to(dev), t.v.to(dev), t.step)
            t0 = time.perf_counter()
            bar = _bar(n_tasks, f"seed {s}, batch {b}", progress)
            try:
                got = E.evaluate(net, t.phi.to(dev), state_s, [sampler], [gen], cfg.n_way, cfg.shots, cfg.eval_iters,
                                 b, n_tasks, m.inner_lr, m.inner_betas, optimizer=m.inner_optimizer, progress=bar)[0]
            finally:
                if bar is not None:
                    bar.close()
            seconds[b] += time.perf_counter() - t0
            for mode, values in got.items():
                acc[b][mode].append(values)
                correct[b][mode].append("".join(DIGITS[round(v * cfg.n_way)] for v in values))
            if progress:
                print(f"seed {s}, batch {b}: {n_tasks:,} tasks in {time.perf_counter() - t0:.0f} s, transductive "
                      f"{100 * sum(got['transductive']) / n_tasks:.2f}%", file=sys.stderr, flush=True)

    def summary(b, mode):
        stats = [mean_ci95(v) for v in acc[b][mode]]
        return {"accuracy": [a for a, _ in stats], "ci95": [c for _, c in stats], "correct": correct[b][mode]}

    record = {
        "schema": R.SCHEMA_VERSION, "experiment": experiment, "name": cfg.name, "digest": cfg.digest(),
        "kind": "evaluation-batch check", "config": cfg.to_dict(), "seeds": seeds,
        "checkpoint": {**(source or {"file": str(path)}), "sha256": hashlib.sha256(raw).hexdigest(),
                       "outer_iteration": iteration, "outer_iters": cfg.meta.outer_iters},
        "tasks_per_seed": n_tasks, "eval_iters": cfg.eval_iters, "eval_batches": batches,
        "own_batch": cfg.eval_batch,
        "tasks": (f"the first {n_tasks:,} tasks of each seed's final evaluation (its 'eval' stream), the same tasks "
                  f"for every batch; batch {cfg.eval_batch} (the configuration's) adapts them as that evaluation "
                  f"does, another batch b with fine-tuning minibatches from the sub-stream ('eval', b, "
                  f"{cfg.eval_iters})"),
        "metrics": {str(b): {mode: summary(b, mode) for mode in ("transductive", "non_transductive")}
                    for b in batches},
        "correct_is": f"per seed, one character a task: how many of its {cfg.n_way} queries were classified "
                      f"correctly (a digit in base 36, 0-9 then a-z)",
        "eval_seconds": {str(b): round(seconds[b], 3) for b in batches},
        "wall_seconds": round(time.perf_counter() - started, 3), "environment": env,
    }
    return R.save_run(record, out)


def read_check(path) -> dict[str, Any]:
    """A record of :func:`record_eval_batches`; :class:`reptile.results.ResultsFileError` naming a damaged one."""
    return R.read_run(Path(path), ("kind", "seeds", "checkpoint", "tasks_per_seed", "metrics", "environment"))


PROG = "python -m reptile.campaign.trained"


def experiments() -> list[str]:
    """The experiments whose runs keep a trained state: those of the campaign's plan (:data:`reptile.campaign.PLAN`)
    trained as populations (a MAML entry keeps its seeds' states beside their checkpoints instead)."""
    from .plan import PLAN

    return list(dict.fromkeys(e.experiment for e in PLAN if e.experiment != "maml"))  # MAML runs are not populations


def known_names(experiment: str, results_dir=None) -> list[str]:
    """The configurations of ``experiment`` that keep a trained state: the campaign's populations of it (in the
    plan's order), then any other stored under the results folder."""
    from .plan import PLAN

    names = [e.name for e in PLAN if e.experiment == experiment]
    stored = sorted({p.parent.name for p in R.results_root(results_dir).glob(f"{experiment}/*/trained-seeds*.pt")})
    return names + [n for n in stored if n not in names]


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog=PROG, description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--preset", default=None, help="the finished configuration, e.g. omniglot-5shot-5way")
    parser.add_argument("--checkpoint", default=None, help="a trained-state file or campaign checkpoint to read "
                                                           "instead (its configuration is its own)")
    parser.add_argument("--from-commit", default=None, metavar="COMMIT",
                        help="read --checkpoint PATH as it was at this git commit (a checkpoint in the history)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--tasks", type=int, default=None,
                        help="the final evaluation's first TASKS tasks, at most its eval_tasks (10,000 under the "
                             "paper's protocol; default: 500; with --record 2,000 per seed)")
    parser.add_argument("--eval-iters", type=int, default=None, help="default: the run's")
    parser.add_argument("--eval-batch", type=int, default=None, help="default: the run's")
    parser.add_argument("--lr", type=float, default=None, help="the inner Adam's step size (default: the run's)")
    parser.add_argument("--record", action="store_true",
                        help="evaluate --seeds with every batch of --eval-batches on the same tasks and write one "
                             "results JSON, <results>/<experiment>/<name>/eval-batch-check-<outer iteration>.json")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2], help="with --record (default: 0 1 2)")
    parser.add_argument("--eval-batches", type=int, nargs="+", default=[5, 25],
                        help="with --record (default: 5 25)")
    parser.add_argument("--results-dir", default=None, help="with --record (default: results/ or $REPTILE_RESULTS)")
    parser.add_argument("--threads", type=int, default=None,
                        help="CPU threads for torch (default: torch's; 1 is fastest on a CPU other work shares)")
    parser.add_argument("--experiment", default="fewshot")
    parser.add_argument("--device", default="auto")
    parser.add_argument("--data-root", default=None, help="data root (default: $REPTILE_DATA)")
    a = parser.parse_args(argv)
    # every value is checked before any data is loaded (reptile.validate); the state file is read to check --tasks
    # and the seeds against its configuration
    if (a.preset is None) == (a.checkpoint is None):
        fail(parser, "give --preset (a finished run's stored state) or --checkpoint FILE, one of them")
    if a.from_commit is not None and a.checkpoint is None:
        fail(parser, "--from-commit reads --checkpoint PATH from that commit: give --checkpoint")
    if a.experiment not in experiments():
        fail(parser, f"--experiment {a.experiment!r}: unknown experiment; allowed: {', '.join(experiments())}")
    if a.preset is not None:
        check_preset(parser, a.preset, a.experiment)
    if not 0 <= a.seed:
        fail(parser, f"--seed {a.seed}: allowed: an integer >= 0, a seed the state holds")
    if a.tasks is not None and a.tasks < 1:
        fail(parser, f"--tasks {a.tasks}: allowed: an integer from 1 to the final evaluation's tasks (10,000 under "
                     f"the paper's protocol)")
    for flag, value in (("--eval-iters", a.eval_iters), ("--eval-batch", a.eval_batch)):
        if value is not None and value < 1:
            fail(parser, f"{flag} {value}: allowed: an integer >= 1 (default: the run's)")
    if a.lr is not None and not is_positive(a.lr):
        fail(parser, f"--lr {a.lr:g}: allowed: a finite number > 0 (default: the run's)")
    check_threads_argument(parser, a.threads)
    check_device_argument(parser, a.device)
    if a.record:
        if a.eval_batch is not None or a.eval_iters is not None or a.lr is not None:
            fail(parser, "--record evaluates with --eval-batches and the run's eval_iters and lr; drop --eval-batch, "
                         "--eval-iters and --lr")
        check_seeds_argument(parser, a.seeds)
    if a.threads is not None:
        torch.set_num_threads(a.threads)
    if a.record:
        _record_cli(a, parser)
        return
    from ..stats import format_accuracy, mean_ci95

    try:
        with _checkpoint_file(a) as (path, _):
            t = load(a.preset, a.seed, a.experiment, path=path)
            tasks = min(500, t.config.eval_tasks) if a.tasks is None else a.tasks
            check_tasks(tasks, t.config, "--tasks")
            accs = evaluate(a.preset, a.seed, tasks, experiment=a.experiment, device=a.device,
                            eval_iters=a.eval_iters, eval_batch=a.eval_batch, lr=a.lr, data_root=a.data_root,
                            path=path, progress=True)
    except (ValueError, FileNotFoundError) as e:
        fail(parser, e)
    for mode, values in accs.items():
        mean, ci = mean_ci95(values)
        print(f"{a.preset or a.checkpoint} seed {a.seed}, {len(values):,} tasks: {mode} "
              f"{format_accuracy(mean, ci, len(values))}")


def check_preset(parser, preset: str, experiment: str) -> None:
    """``--preset``: a configuration of ``experiment`` that keeps a trained state (:func:`known_names`), or stop
    with :func:`reptile.validate.fail` naming those allowed (and the experiment it belongs to, if another)."""
    from ..config import FEWSHOT_PRESETS, FIGURE3_PRESETS

    names = known_names(experiment)
    if preset in names:
        return
    presets = FIGURE3_PRESETS if experiment == "gradcomb" else FEWSHOT_PRESETS
    why = ("no trained state is kept for it (only the campaign's populations keep one)" if preset in presets else
           f"unknown preset of {experiment}")
    elsewhere = [e for e in experiments() if e != experiment and preset in known_names(e)]
    if elsewhere:
        why += f"; it is a preset of {elsewhere[0]}: add --experiment {elsewhere[0]}"
    fail(parser, f"--preset {preset!r}: {why}; allowed: {', '.join(names)}")


class _checkpoint_file:
    """``(path, source)`` of the command line's state: ``--checkpoint`` (from ``--from-commit``'s history, copied
    into a temporary folder for the duration), or ``--preset``'s trained-state file (path None: :func:`find`)."""

    def __init__(self, a):
        self.a, self.tmp = a, None

    def __enter__(self):
        import tempfile

        a = self.a
        if a.checkpoint is None:
            return None, None
        if a.from_commit is None:
            return a.checkpoint, None
        self.tmp = tempfile.TemporaryDirectory(prefix="reptile-checkpoint-")
        return from_git(a.from_commit, a.checkpoint, Path(self.tmp.name))

    def __exit__(self, *exc):
        if self.tmp is not None:
            self.tmp.cleanup()


def _record_cli(a, parser) -> None:
    try:
        with _checkpoint_file(a) as (path, source):
            if path is None:
                path = find(a.preset, a.seeds[0], a.experiment)
            cfg = load(None, a.seeds[0], path=path).config
            tasks = min(2000, cfg.eval_tasks) if a.tasks is None else a.tasks
            check_tasks(tasks, cfg, "--tasks")
            out = record_eval_batches(path, a.seeds, tasks, a.eval_batches, source=source, device=a.device,
                                      data_root=a.data_root, results_dir=a.results_dir)
    except (ValueError, FileNotFoundError) as e:
        fail(parser, e)
    r = read_check(out)
    print(f"wrote {out} ({r['wall_seconds']:.0f} s)")
    for b in r["eval_batches"]:
        for mode in ("transductive", "non_transductive"):
            accs = r["metrics"][str(b)][mode]["accuracy"]
            print(f"batch {b:>3}, {mode:<16}: " + "  ".join(f"seed {s} {100 * x:.2f}%" for s, x in
                                                           zip(r["seeds"], accs)))


if __name__ == "__main__":
    main()
