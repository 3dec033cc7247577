"""A finished population's trained state: the file, one seed's network, and evaluating it again.

A campaign population (:mod:`reptile.campaign`) that finishes its training and its final evaluation leaves, next to
its results JSONs, ``results/<experiment>/<name>/trained-seeds<0-1-2>.pt``: the population's state after its last
outer iteration (float32 ``phi`` of every seed, the inner Adam's moments and step count, the generators), compact,
written atomically (:func:`save`). :func:`load` reads one seed of it, or of a campaign checkpoint of a run under way;
:func:`module` gives that seed as a ``torch.nn.Module``; :func:`evaluate` draws the final evaluation's own tasks
again and adapts them as it did, or with other settings. The command line is :mod:`reptile.campaign.trained.cli`.
"""


from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import Tensor, nn

from ... import results as R
from ... import seeding
from ...config import FewShotConfig
from ...train import load_checkpoint, save_checkpoint
from ...validate import check, is_int, is_positive, resolve_device

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
    return member(load_checkpoint(path, kind_of(path)), path, name, seed)


def kind_of(path) -> str:
    """What the file ``path`` is, for the message when it cannot be read (:func:`reptile.train.load_checkpoint`):
    a finished run's ``"trained state"`` (``trained-seeds*.pt``), else a campaign ``"checkpoint"``."""
    return "trained state" if Path(path).name.startswith("trained-seeds") else "checkpoint"


def member(state: dict[str, Any], path: Path, name: str | None, seed: int) -> Trained:
    """Seed ``seed`` of the trained state or campaign checkpoint ``state`` read from ``path`` (:func:`load`)."""
    from ...engine.network import Conv4

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
    from ...engine.network import Conv4
    from ...fewshot import conv4

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
    from ...engine import evaluation as E
    from ...engine.network import Conv4
    from ...engine.population import AdamState
    from ...experiments.fewshot import load_splits

    check(is_int(n_tasks) and n_tasks >= 1, f"n_tasks must be an integer >= 1, got {n_tasks!r}")
    for key, value in (("eval_iters", eval_iters), ("eval_batch", eval_batch)):
        check(value is None or (is_int(value) and value >= 1), f"{key} must be None or an integer >= 1, got {value!r}")
    check(lr is None or is_positive(lr), f"lr must be None or a finite number > 0, got {lr!r}")
    t = load(name, seed, experiment, results_dir, path)
    cfg, m = t.config, t.config.meta
    check_tasks(n_tasks, cfg)
    dev = resolve_device(device)
    seeding.deterministic(dev)
    _, test = splits if splits is not None else load_splits(cfg, seed, data_root, cache_dir)
    net = Conv4(cfg.n_way)
    state = AdamState(t.m.to(dev), t.v.to(dev), t.step)  # one member: its row is its population buffer
    iters = cfg.eval_iters if eval_iters is None else eval_iters
    batch = cfg.eval_batch if eval_batch is None else eval_batch
    sampler, generator = final_tasks(cfg, seed, test.images.to(dev), n_tasks, iters, batch)
    bar = task_bar(n_tasks, f"{cfg.name} seed {seed}: evaluation", progress)
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


def task_bar(total: int, desc: str, enabled: bool):
    """A live progress bar over ``total`` tasks (:func:`reptile.engine.trainer.progress_bar`), or None."""
    from ...engine.trainer import progress_bar

    return progress_bar(total, 0, desc, "task", enabled)


def final_tasks(cfg: FewShotConfig, seed: int, images: Tensor, n_tasks: int, eval_iters: int, eval_batch: int):
    """``(sampler, generator)`` from which :func:`reptile.engine.evaluation.evaluate` draws the first ``n_tasks``
    tasks of seed ``seed``'s final evaluation and their fine-tuning minibatches, on the test ``images``.

    The final evaluation draws each task and then its minibatches from one stream (``eval``), so another
    ``eval_iters`` or ``eval_batch`` would take another number of shuffles between two tasks and draw other tasks
    from the second on. Its tasks are therefore drawn first, as the final evaluation's settings draw them, and
    handed out in order: with those settings the minibatches come from the ``eval`` stream as in the final
    evaluation (the record's accuracies, each task drawn again and checked), with others from its sub-stream
    ``("eval", eval_batch, eval_iters)``."""
    from ...engine.population import draw_minibatches
    from ...fewshot import TaskSampler

    g, draws, plain = seeding.generator(seed, "eval"), [], TaskSampler(images)
    for _ in range(n_tasks):
        draws.append(plain.pick(cfg.n_way, cfg.shots + 1, g))
        draw_minibatches(cfg.n_way * cfg.shots, cfg.eval_batch, cfg.eval_iters, [g])
    if (eval_iters, eval_batch) == (cfg.eval_iters, cfg.eval_batch):
        return replaying(images, draws, check_only=True), seeding.generator(seed, "eval")
    return replaying(images, draws), seeding.generator(seed, "eval", eval_batch, eval_iters)


def replaying(images: Tensor, draws: list[Tensor], check_only: bool = False):
    """A test split whose tasks are ``draws``, in order. Its ``pick`` hands out the next one and leaves the
    generator alone, so the generator the evaluation is given draws the fine-tuning minibatches only; with
    ``check_only`` it draws as usual and checks each draw against the next of ``draws`` instead."""
    from ...fewshot import TaskSampler

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
