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

    python -m reptile.trained --preset omniglot-5shot-5way --seed 0 --tasks 500
    python -m reptile.trained --preset omniglot-5shot-5way --seed 0 --tasks 500 --eval-iters 100
    python -m reptile.trained --checkpoint results/campaign/<key>.pt --seed 0 --tasks 500   # a run under way
"""

from __future__ import annotations

import argparse
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import Tensor, nn

from . import results as R
from . import seeding
from .config import FewShotConfig
from .train import load_checkpoint, save_checkpoint
from .validate import check, is_int

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
    from .engine.network import Conv4

    check(is_int(seed) and seed >= 0, f"seed must be an integer >= 0, got {seed!r}")
    check(name is not None or path is not None, "give a configuration name or a path")
    path = find(name, seed, experiment, results_dir) if path is None else Path(path)
    state = load_checkpoint(path)
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
    from .engine.network import Conv4
    from .fewshot import conv4

    t = load(name, seed, experiment, results_dir)
    net = conv4(t.config.dataset, t.config.n_way)
    params = Conv4(t.config.n_way).unpack(t.phi)
    with torch.no_grad():
        for p, value in zip(net.parameters(), params):
            p.copy_(value)
    return net


def evaluate(name: str | None, seed: int, n_tasks: int, *, experiment: str = "fewshot", device: str = "auto",
             eval_iters: int | None = None, eval_batch: int | None = None, lr: float | None = None, data_root=None,
             cache_dir=None, results_dir=None, splits=None, path=None) -> dict[str, list[float]]:
    """The accuracy of seed ``seed`` of ``name`` on the first ``n_tasks`` tasks of its final evaluation (the same
    draws, from the run's fresh ``eval`` stream), ``{"non_transductive": [...], "transductive": [...]}``, one
    accuracy per task. With the stored settings (``None``) these are the record's; ``eval_iters``, ``eval_batch``
    and ``lr`` (the inner Adam's step size) evaluate the same tasks with other settings. More tasks than the final
    evaluation's go on drawing from the same stream. ``splits``: the seed's (training, test) splits, to skip loading
    them. ``path``: a trained-state file or campaign checkpoint to read instead (:func:`load`)."""
    from .engine import evaluation as E
    from .engine.network import Conv4
    from .engine.population import AdamState
    from .fewshot import TaskSampler
    from .fewshot_experiment import load_splits

    check(is_int(n_tasks) and n_tasks >= 1, f"n_tasks must be an integer >= 1, got {n_tasks!r}")
    for key, value in (("eval_iters", eval_iters), ("eval_batch", eval_batch)):
        check(value is None or (is_int(value) and value >= 1), f"{key} must be None or an integer >= 1, got {value!r}")
    check(lr is None or (isinstance(lr, (int, float)) and not isinstance(lr, bool) and lr > 0),
          f"lr must be None or a number > 0, got {lr!r}")
    t = load(name, seed, experiment, results_dir, path)
    cfg, m = t.config, t.config.meta
    dev = R.resolve_device(device)
    seeding.deterministic(dev)
    _, test = splits if splits is not None else load_splits(cfg, seed, data_root, cache_dir)
    net = Conv4(cfg.n_way)
    state = AdamState(t.m.to(dev), t.v.to(dev), t.step)  # one member: its row is its population buffer
    return E.evaluate(net, t.phi.to(dev), state, [TaskSampler(test.images.to(dev))], [seeding.generator(seed, "eval")],
                      cfg.n_way, cfg.shots, cfg.eval_iters if eval_iters is None else eval_iters,
                      cfg.eval_batch if eval_batch is None else eval_batch, n_tasks,
                      m.inner_lr if lr is None else lr, m.inner_betas, optimizer=m.inner_optimizer)[0]


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m reptile.trained", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--preset", default=None, help="the finished configuration, e.g. omniglot-5shot-5way")
    parser.add_argument("--checkpoint", default=None, help="a trained-state file or campaign checkpoint to read "
                                                           "instead (its configuration is its own)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--tasks", type=int, default=500, help="the final evaluation's first TASKS tasks")
    parser.add_argument("--eval-iters", type=int, default=None, help="default: the run's")
    parser.add_argument("--eval-batch", type=int, default=None, help="default: the run's")
    parser.add_argument("--lr", type=float, default=None, help="the inner Adam's step size (default: the run's)")
    parser.add_argument("--experiment", default="fewshot")
    parser.add_argument("--device", default="auto")
    parser.add_argument("--data-root", default=None, help="data root (default: $REPTILE_DATA)")
    a = parser.parse_args(argv)
    if (a.preset is None) == (a.checkpoint is None):
        parser.error("give --preset (a finished run's stored state) or --checkpoint FILE, one of them")
    from .stats import mean_ci95

    try:
        accs = evaluate(a.preset, a.seed, a.tasks, experiment=a.experiment, device=a.device, eval_iters=a.eval_iters,
                        eval_batch=a.eval_batch, lr=a.lr, data_root=a.data_root, path=a.checkpoint)
    except (ValueError, FileNotFoundError) as e:
        parser.exit(2, f"error: {e}\n")
    for mode, values in accs.items():
        mean, ci = mean_ci95(values)
        print(f"{a.preset or a.checkpoint} seed {a.seed}, {len(values):,} tasks: {mode} {100 * mean:.2f}% ± "
              f"{100 * ci:.2f}")


if __name__ == "__main__":
    main()
