"""A recorded check: the networks of one trained state evaluated with several evaluation batches on the same tasks.

:func:`record_eval_batches` writes one results JSON (``results/<experiment>/<name>/eval-batch-check-<outer
iteration>.json``) with every seed's accuracies under every batch and the environment; :func:`read_check` reads it.
The command line (``python -m reptile.campaign.trained --record``) is :mod:`reptile.campaign.trained.cli`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Callable, Mapping

import torch

from ... import results as R
from ... import seeding
from ...provenance import environment, utc_now
from ...train import load_checkpoint, save_checkpoint
from ...validate import check, is_int, resolve_device, validate_seeds
from ..plan import CHECK_PREFIX, check_record_path  # noqa: F401 (CHECK_PREFIX re-exported)
from .state import check_tasks, final_tasks, kind_of, member, task_bar

DIGITS = "0123456789abcdefghijklmnopqrstuvwxyz"  # a task's correct queries, one character (up to 35-way tasks)
BLOCK = 500  # tasks evaluated between two questions to ``stop`` (record_eval_batches)
check_path = check_record_path  # where record_eval_batches writes its record of the state after an outer iteration
DEFAULT_SEEDS, DEFAULT_BATCHES = (0, 1, 2), (5, 25)  # the command line's --seeds and --eval-batches


def record_eval_batches(checkpoint, seeds=(0, 1, 2), n_tasks: int = 2000, batches=(5, 25), *,
                        source: dict[str, str] | None = None, device: str = "auto", data_root=None, cache_dir=None,
                        results_dir=None, splits: dict | None = None, progress: bool = True,
                        stop: Callable[[], bool] | None = None, partial=None) -> Path | None:
    """Evaluate the networks of ``seeds`` in the trained state or campaign checkpoint ``checkpoint`` with each
    evaluation batch of ``batches`` on the same ``n_tasks`` test tasks per seed, and write one results JSON
    (:func:`check_path`, atomically) with the per-seed accuracies, transductive and not, and the environment.

    The tasks are the first ``n_tasks`` of the run's final evaluation (its fresh ``eval`` stream). Under the
    configuration's own batch (``eval_batch``) they are adapted exactly as that evaluation adapts them; under another
    batch the same tasks are adapted with fine-tuning minibatches from a sub-stream of ``eval`` of their own
    (:func:`.state.final_tasks`). ``source``: where the file came from, recorded (``{"commit", "path"}`` from
    :func:`.cli.from_git`); otherwise its path is. Every argument, the file and the results folder are checked
    before any evaluation starts. ``splits``: ``{seed: (training, test)}``, to skip loading the data.

    The work is one piece per seed and batch, each evaluated in blocks of :data:`BLOCK` tasks (the numbers of one
    call: each block goes on with the same draws). ``stop``: asked between blocks (the campaign's stop signal or its
    time); when it says True the call returns None without writing the record. ``partial``: a file that keeps each
    finished piece (its per-task accuracies, exactly), written as each finishes, read by the next call with the same
    state, seeds, batches and tasks, which goes on from there (a piece stopped part-way starts over), and deleted
    when the record is written."""
    import hashlib
    import sys
    import time

    from ...engine import evaluation as E
    from ...engine.network import Conv4
    from ...engine.population import AdamState
    from ...experiments.fewshot import load_splits
    from ...stats import mean_ci95

    seeds = validate_seeds(list(seeds) if isinstance(seeds, tuple) else seeds)
    check(is_int(n_tasks) and n_tasks >= 1, f"n_tasks must be an integer >= 1, got {n_tasks!r}")
    batches = list(batches) if isinstance(batches, (list, tuple)) else [batches]
    check(len(batches) >= 1 and all(is_int(b) and b >= 1 for b in batches),
          f"batches must be integers >= 1, got {batches!r}")
    check(len(set(batches)) == len(batches), f"batches {batches} name a batch more than once")
    path = Path(checkpoint)
    if not path.is_file():
        raise FileNotFoundError(f"no checkpoint {path}: give a trained-state file or campaign checkpoint (with "
                                f"--from-commit, its path in that commit)")
    dev = resolve_device(device)
    raw = path.read_bytes()
    state = load_checkpoint(path, kind_of(path))
    members = {s: member(state, path, None, s) for s in seeds}
    cfg = members[seeds[0]].config
    check_tasks(n_tasks, cfg)
    check(cfg.n_way < len(DIGITS), f"{cfg.n_way}-way tasks: a record keeps up to {len(DIGITS) - 1} queries a task")
    experiment = state["run"]["experiment"] if "run" in state else state.get("experiment", "fewshot")
    iteration = int(state["population"]["iteration"])
    out = check_path(experiment, cfg.name, iteration, results_dir)
    R.check_writable(out.parent, "results", "Set $REPTILE_RESULTS (or pass results_dir=...) to a folder you can "
                                            "write.")
    env, started = environment(dev), time.perf_counter()
    sha = hashlib.sha256(raw).hexdigest()
    work = {"sha256": sha, "seeds": seeds, "batches": batches, "n_tasks": n_tasks}  # what a partial file is of
    pieces: dict[str, dict] = {}  # "seed/batch" -> its per-task accuracies (float64 tensors), seconds and device
    if partial is not None and Path(partial).exists():
        kept = load_checkpoint(Path(partial))
        if kept.get("work") == work:
            pieces = kept["pieces"]
            if progress:
                print(f"resuming from {partial}: {len(pieces)} of {len(seeds) * len(batches)} evaluations (seed and "
                      f"batch) done", file=sys.stderr, flush=True)
    seeding.deterministic(dev)
    net = Conv4(cfg.n_way)
    m = cfg.meta
    acc = {b: {"non_transductive": [], "transductive": []} for b in batches}
    correct = {b: {"non_transductive": [], "transductive": []} for b in batches}
    seconds = {b: 0.0 for b in batches}
    devices, reused = {}, 0.0
    for s in seeds:
        t = members[s]
        images = None
        for b in batches:
            key = f"{s}/{b}"
            if key in pieces:
                got = {mode: pieces[key][mode].tolist() for mode in ("non_transductive", "transductive")}
                seconds[b] += pieces[key]["seconds"]
                reused += pieces[key]["seconds"]
                devices[key] = pieces[key]["device"]
                for mode, values in got.items():
                    acc[b][mode].append(values)
                    correct[b][mode].append("".join(DIGITS[round(v * cfg.n_way)] for v in values))
                continue
            if images is None:
                _, test = splits[s] if splits is not None else load_splits(cfg, s, data_root, cache_dir)
                images = test.images.to(dev)
            sampler, gen = final_tasks(cfg, s, images, n_tasks, cfg.eval_iters, b)
            state_s = AdamState(t.m.to(dev), t.v.to(dev), t.step)  # read, never written, by the evaluation
            t0 = time.perf_counter()
            bar = task_bar(n_tasks, f"seed {s}, batch {b}", progress)
            got = {"non_transductive": [], "transductive": []}
            try:
                while len(got["transductive"]) < n_tasks:
                    if stop is not None and stop():
                        return None
                    n = min(BLOCK, n_tasks - len(got["transductive"]))
                    part = E.evaluate(net, t.phi.to(dev), state_s, [sampler], [gen], cfg.n_way, cfg.shots,
                                      cfg.eval_iters, b, n, m.inner_lr, m.inner_betas, optimizer=m.inner_optimizer,
                                      progress=bar)[0]
                    for mode in got:
                        got[mode] += part[mode]
            finally:
                if bar is not None:
                    bar.close()
            seconds[b] += time.perf_counter() - t0
            devices[key] = env["device_name"]
            for mode, values in got.items():
                acc[b][mode].append(values)
                correct[b][mode].append("".join(DIGITS[round(v * cfg.n_way)] for v in values))
            if partial is not None:
                pieces[key] = {**{mode: torch.tensor(v, dtype=torch.float64) for mode, v in got.items()},
                               "seconds": time.perf_counter() - t0, "device": devices[key]}
                save_checkpoint(Path(partial), {"work": work, "pieces": pieces, "written": utc_now()})
            if progress:
                print(f"seed {s}, batch {b}: {n_tasks:,} tasks in {time.perf_counter() - t0:.0f} s, transductive "
                      f"{100 * sum(got['transductive']) / n_tasks:.2f}%", file=sys.stderr, flush=True)

    def summary(b, mode):
        stats = [mean_ci95(v) for v in acc[b][mode]]
        return {"accuracy": [a for a, _ in stats], "ci95": [c for _, c in stats], "correct": correct[b][mode]}

    record = {
        "schema": R.SCHEMA_VERSION, "experiment": experiment, "name": cfg.name, "digest": cfg.digest(),
        "kind": "evaluation-batch check", "config": cfg.to_dict(), "seeds": seeds,
        "checkpoint": {**(source or {"file": str(path)}), "sha256": sha,
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
        "devices": devices,  # "seed/batch" -> the device that evaluated it (several calls may have made the record)
        "wall_seconds": round(time.perf_counter() - started + reused, 3),  # this call's and earlier pieces' times
        "environment": env,
    }
    written = R.save_run(record, out)
    if partial is not None and Path(partial).exists():
        Path(partial).unlink()
    return written


def command(record: Mapping[str, Any]) -> str:
    """The shell command that computes the check ``record`` again and writes it over its file, so that ``git diff``
    shows whether a reader's run agrees: the same state (a campaign checkpoint at its commit in the repository's
    history, which needs a full clone; a finished run's kept state, by its preset; or the file it names), seeds,
    tasks per seed, batches and thread count. Flags at the command line's default are left out."""
    c = record["checkpoint"]
    if "commit" in c:
        words = [f"--from-commit {c['commit'][:7]}", f"--checkpoint {c['path']}"]
    elif "trained_state" in c:
        words = [f"--preset {record['name']}"]
    else:
        words = [f"--checkpoint {c['file']}"]
    if record.get("experiment", "fewshot") != "fewshot":
        words.append(f"--experiment {record['experiment']}")
    if tuple(record["seeds"]) != DEFAULT_SEEDS:
        words.append("--seeds " + " ".join(str(s) for s in record["seeds"]))
    words.append(f"--tasks {record['tasks_per_seed']}")
    if tuple(record.get("eval_batches", DEFAULT_BATCHES)) != DEFAULT_BATCHES:
        words.append("--eval-batches " + " ".join(str(b) for b in record["eval_batches"]))
    threads = record.get("environment", {}).get("torch_threads")
    if threads:
        words.append(f"--threads {threads}")
    return " ".join(["python -m reptile.campaign.trained --record"] + words)


def read_check(path) -> dict[str, Any]:
    """A record of :func:`record_eval_batches`; :class:`reptile.results.ResultsFileError` naming a damaged one."""
    return R.read_run(Path(path), ("kind", "seeds", "checkpoint", "tasks_per_seed", "metrics", "environment"))
