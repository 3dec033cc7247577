"""MAML and first-order MAML on Omniglot end to end: meta-train one cell, evaluate, store one JSON.

    python -m reptile.maml.experiment --list
    python -m reptile.maml.experiment --preset reduced-finn-maml-omniglot-1shot-5way --seeds 0
    python -m reptile.maml.experiment --preset finn-maml-omniglot-1shot-5way --seeds 0 1 2 --device cuda
    python -m reptile.maml.experiment --preset maml-omniglot-5shot-5way --seeds 0 --set eval_tasks=2000

The presets (``finn-*``: Finn et al.'s protocol; ``maml-*`` and ``fomaml-*``: Reptile's; ``reduced-*``; ``ci``) and
their configuration are in :mod:`reptile.maml.presets`; the test-time scoring in :mod:`reptile.maml.evaluation`.

Every run records the accuracy after each test step 0..k (k = ``eval_inner_steps``), in both prediction modes.
A run checkpoints every ``checkpoint_every`` iterations or ``checkpoint_minutes`` minutes, whichever comes first,
and resumes from the checkpoint when run again; its numbers are those of an uninterrupted run. A non-finite loss,
gradient or weight stops it with :class:`reptile.validate.DivergedError` and writes no result.
"""

from __future__ import annotations

import math
import sys
import time
from typing import Any, Mapping

import torch

from .. import results as R
from .. import seeding
from ..cli import check_arguments, experiment_parser, fail
from ..engine.memory import keep_freed_memory
from ..fewshot import param_count
from ..provenance import engine_switches, environment, utc_now
from ..threads import configure
from ..validate import DivergedError, check, resolve_device, validate_seed, validate_seeds
from .algorithm import PATH_LABELS, MAMLLearner, TaskBatch
from .evaluation import EVAL_CHUNK, evaluate, summarise
from .population import EngineNet
from .presets import EXPERIMENT, MODES, PRESETS, MAMLExperimentConfig, describe, resolve
from .protocol import ProtocolData, build_net, draw_tasks, load_finn_omniglot, load_reptile_omniglot

CHECKPOINT_FORMAT = 1


# --------------------------------------------------------------------------------------------------- the data


def load_data(cfg: MAMLExperimentConfig, seed: int, data_root=None, cache_dir=None) -> ProtocolData:
    """The protocol's classes for the run of ``seed`` (Finn's split is the same for every seed; Reptile's is the
    seed's own)."""
    if cfg.protocol == "finn":
        return load_finn_omniglot(data_root, cache_dir)
    return load_reptile_omniglot(seed, data_root, cache_dir)


def check_fits(cfg: MAMLExperimentConfig, data: ProtocolData) -> None:
    """Ways and shots against the data's splits, before any training starts."""
    from ..fewshot import TaskSampler

    TaskSampler(data.train).check(cfg.n_way, cfg.shots, "shots", queries=cfg.queries)
    TaskSampler(data.test).check(cfg.n_way, cfg.shots, "shots", queries=cfg.eval_queries)
    if data.val is not None:
        TaskSampler(data.val).check(cfg.n_way, cfg.shots, "shots", queries=cfg.eval_queries)


def training_tasks(cfg: MAMLExperimentConfig, data: ProtocolData, seed: int, iteration: int,
                   device=None) -> TaskBatch:
    """The meta-batch of outer iteration ``iteration`` (0-based), a function of the seed and the iteration alone (so
    a resumed run draws what an uninterrupted one does): fresh tasks from the stream ``tasks`` keyed by the
    iteration, or, with a pool of P tasks (Finn's 200,000), task ``j = iteration * meta_batch + b`` is the draw keyed
    ``j mod P`` (the same classes and drawings whenever it comes round). Finn's rotations come from the stream
    ``inner`` keyed by the iteration, afresh each time."""
    n = cfg.meta_batch
    if cfg.train_task_pool:
        first = iteration * n
        pickers = [seeding.generator(seed, "tasks", 1, (first + b) % cfg.train_task_pool) for b in range(n)]
    else:
        g = seeding.generator(seed, "tasks", 0, iteration)
        pickers = [g] * n
    rot = seeding.generator(seed, "inner", iteration) if data.rotate else None
    return draw_tasks(data.train, cfg.n_way, cfg.shots, cfg.queries, pickers, rot, device)


# ------------------------------------------------------------------------------------------------------ the run


EVAL_BLOCK = 20 * EVAL_CHUNK  # test tasks between the checkpoints of a stoppable run's final evaluation


def meta_gradient_path(cfg: MAMLExperimentConfig, device: torch.device, results_dir=None) -> str:
    """How the meta-gradient is computed (:data:`reptile.maml.PATHS`), whichever the benchmark (``python -m
    reptile.bench --maml``) measured fastest. On a CPU the engine (:mod:`reptile.maml.population`: 1.6-2.3 times
    the faster of the two ``torch.func`` paths on every cell in the stored reports). Off the CPU, the faster of the
    engine and ``vmap`` over the meta-batch for this cell and algorithm in the benchmark's report of this device
    (``results/bench/maml/``, matched by the device's name; :func:`faster_path`), and ``vmap`` where no report of
    it is stored. All give the same meta-gradient to rounding (tests/test_maml.py, tests/test_maml_population.py,
    tests/test_maml_gpu.py); the record says which ran, piece by piece."""
    if device.type == "cpu":
        return "engine"
    reports = [r for r in _bench_reports(results_dir) if r.get("environment", {}).get("device", "cpu") != "cpu"]
    name = environment(device)["device_name"] if reports else None
    for report in reports:
        if report["environment"].get("device_name") == name:
            return faster_path(report.get("rows", []), cfg) or "vmap"
    return "vmap"


def faster_path(rows: list[dict[str, Any]], cfg: MAMLExperimentConfig) -> str | None:
    """Of the engine and ``vmap``, the path with the shorter outer iteration for ``cfg``'s cell (ways and shots)
    and algorithm among a ``--maml`` report's ``rows``; None when the report lacks either."""
    setting = f"{cfg.shots}-shot {cfg.n_way}-way"
    algorithm = "first-order MAML" if cfg.algorithm == "fomaml" else "MAML"
    times = {path: r["seconds_per_iteration"] for r in rows for path in ("engine", "vmap")
             if (r.get("setting"), r.get("algorithm"), r.get("path")) == (setting, algorithm, PATH_LABELS[path])}
    return min(times, key=times.get) if len(times) == 2 else None


def _bench_reports(results_dir=None) -> list[dict[str, Any]]:
    import json

    folder = R.results_root(results_dir) / "bench" / "maml"
    out = []
    for p in sorted(folder.glob("*.json")) if folder.is_dir() else []:
        try:
            out.append(json.loads(p.read_text()))
        except (OSError, ValueError):  # a report being written or damaged: as if absent
            continue
    return out


def checkpoint_path(cfg: MAMLExperimentConfig, seed: int, checkpoint_dir=None):
    return R.checkpoint_root(checkpoint_dir) / EXPERIMENT / cfg.name / f"seed-{seed}" / "meta.pt"


def _finite_params(phi) -> bool:
    return all(bool(torch.isfinite(p).all()) for p in phi)


def run(cfg: MAMLExperimentConfig, seed: int, device: str = "auto", data_root=None, cache_dir=None,
        results_dir=None, checkpoint_dir=None, progress: bool = True, data: ProtocolData | None = None,
        stop_after: float | None = None, stop=None) -> dict[str, Any] | None:
    """Meta-train and evaluate one cell for ``seed``; write and return the run's record.

    Random streams (:mod:`reptile.seeding`): ``init`` the weights, ``tasks`` the training tasks (keyed by iteration
    or pool index), ``inner`` Finn's training rotations (keyed by iteration), ``curve`` the learning curve's tasks,
    ``eval`` the test tasks (of the fixed ``eval_task_seed`` when set). ``data`` may be passed to skip loading; it
    must be the protocol's data for this seed.

    ``stop_after`` (seconds of wall time from the call) and ``stop`` (a function returning True to stop): the run
    checkpoints and returns None at the next outer iteration after either, to be resumed by a later call (the
    campaign advances long runs so); the final evaluation is checkpointed between blocks of :data:`EVAL_BLOCK` tasks
    too, and resumes at its block with the same draws."""
    from ..train import load_checkpoint, save_checkpoint

    check(isinstance(cfg, MAMLExperimentConfig), f"cfg must be a MAMLExperimentConfig, got {cfg!r}")
    seed = validate_seed(seed)
    dev = resolve_device(device)
    seeding.deterministic(dev)
    keep_freed_memory()  # on a CPU, malloc reuses the heap instead of page-faulting each step's activations in
    started = time.perf_counter()
    env = environment(dev)
    data = data if data is not None else load_data(cfg, seed, data_root, cache_dir)
    check_fits(cfg, data)
    net = build_net(cfg.network, cfg.n_way)
    net.module.to(dev)
    mcfg = cfg.maml()
    path = meta_gradient_path(cfg, dev, results_dir)
    learner = MAMLLearner(net, mcfg, init=seeding.generator(seed, "init"), device=dev, path=path,
                          engine=EngineNet(cfg.network, cfg.n_way) if path == "engine" else None)
    label = f"{EXPERIMENT}/{cfg.name} seed {seed}"
    run_config = {"experiment": EXPERIMENT, "seed": seed, "config": cfg.to_dict()}
    ckpt = checkpoint_path(cfg, seed, checkpoint_dir)
    curve: dict[str, list] = {"iteration": [], "train_query_accuracy": [], "train_query_loss": [],
                              "curve_accuracy_transductive": [], "curve_accuracy_non_transductive": []}
    train_seconds, window = 0.0, {"loss": 0.0, "acc": 0.0, "n": 0}
    wall_before, pieces = 0.0, []  # earlier calls' wall time and pieces, from the checkpoint
    evaluation = None  # the final evaluation so far, when a call stopped during it
    if ckpt.exists():
        state = load_checkpoint(ckpt)
        if state.get("format") != CHECKPOINT_FORMAT or state.get("run") != run_config:
            raise ValueError(f"checkpoint {ckpt} was written with another configuration or seed; delete it to start "
                             f"this run over, or run it with the configuration it was written with")
        learner.load_state_dict(state["learner"])
        curve, train_seconds, window = state["curve"], state["train_seconds"], state["window"]
        wall_before, pieces = state.get("wall_seconds", 0.0), list(state.get("pieces", []))
        evaluation = state.get("evaluation")
        if progress:
            print(f"[{label}] resumed from {ckpt} at outer iteration {learner.iteration} of {cfg.outer_iters}",
                  file=sys.stderr, flush=True)

    curve_images = data.val if data.val is not None else data.test
    # this call's piece of the run (a run advanced by the campaign has several, perhaps on other devices)
    switches = engine_switches()  # how this piece computed (REPTILE_ONEDNN: oneDNN's convolutions or not)
    pieces.append({"device": env.get("device_name") or str(dev), "start": learner.iteration,
                   "end": learner.iteration, "path": learner.path, **({"switches": switches} if switches else {})})

    def record_curve() -> None:
        acc = evaluate(learner, curve_images, cfg, cfg.curve_tasks,
                       seeding.generator(seed, "curve", learner.iteration), data.rotate)
        curve["iteration"].append(learner.iteration)
        curve["train_query_accuracy"].append(window["acc"] / window["n"] if window["n"] else None)
        curve["train_query_loss"].append(window["loss"] / window["n"] if window["n"] else None)
        for m in MODES:
            if m in acc:
                curve[f"curve_accuracy_{m}"].append(sum(r[-1] for r in acc[m]) / len(acc[m]))
        window.update(loss=0.0, acc=0.0, n=0)

    def save(evaluation_state: dict | None = None) -> None:
        pieces[-1].update(end=learner.iteration, written=utc_now())  # written: how current the checkpoint is
        save_checkpoint(ckpt, {"format": CHECKPOINT_FORMAT, "run": run_config, "learner": learner.state_dict(),
                               "curve": curve, "train_seconds": train_seconds, "window": dict(window),
                               "wall_seconds": wall_before + time.perf_counter() - started, "pieces": pieces,
                               **({"evaluation": evaluation_state} if evaluation_state is not None else {})})

    if learner.iteration == 0 and not curve["iteration"]:
        record_curve()
    last_save = time.perf_counter()
    report_every = max(1, cfg.outer_iters // 20)
    while learner.iteration < cfg.outer_iters:
        tasks = training_tasks(cfg, data, seed, learner.iteration, dev)
        t0 = time.perf_counter()
        try:
            out = learner.meta_step(tasks)
        except DivergedError as e:  # the learner says what diverged; the run adds which run and what it did not write
            raise DivergedError(f"{label}: {e}; the run diverged and no result is written") from e
        train_seconds += time.perf_counter() - t0
        it = learner.iteration
        if not (math.isfinite(out["query_loss"]) and _finite_params(learner.phi)):
            raise DivergedError(f"{label}: the query loss or the meta-parameters became NaN or infinite at outer "
                                f"iteration {it}: the run diverged and no result is written. Lower inner_step (now "
                                f"{cfg.inner_step}) or outer_lr (now {cfg.outer_lr})")
        window["loss"] += out["query_loss"]
        window["acc"] += out["query_accuracy"]
        window["n"] += 1
        if it % cfg.curve_every == 0 or it == cfg.outer_iters:
            record_curve()
        now = time.perf_counter()
        if it < cfg.outer_iters and (it % cfg.checkpoint_every == 0 or now - last_save > 60 * cfg.checkpoint_minutes):
            save()
            last_save = now
        if it < cfg.outer_iters and ((stop_after is not None and now - started >= stop_after)
                                     or (stop is not None and stop())):
            save()
            if progress:
                print(f"[{label}] stopped at outer iteration {it} of {cfg.outer_iters}; checkpoint {ckpt}",
                      file=sys.stderr, flush=True)
            return None
        if progress and (it % report_every == 0 or it == cfg.outer_iters):
            rate = train_seconds / it
            print(f"[{label}] {it}/{cfg.outer_iters} outer iterations ({100 * it / cfg.outer_iters:.0f}%), "
                  f"{rate:.3f} s/iteration, ~{rate * (cfg.outer_iters - it):.0f}s left; train query accuracy "
                  f"{out['query_accuracy']:.3f}", file=sys.stderr, flush=True)

    stoppable = stop_after is not None or stop is not None
    gen = seeding.generator(cfg.eval_task_seed if cfg.eval_task_seed >= 0 else seed, "eval")
    accs: dict[str, list] = {m: [] for m in (MODES if cfg.non_transductive else MODES[:1])}
    eval_seconds = 0.0
    if evaluation is not None:  # resumed during the evaluation: its tasks so far and where the draws stood
        gen.set_state(evaluation["generator"])
        accs, eval_seconds = evaluation["accuracies"], evaluation["seconds"]
    step = max(EVAL_CHUNK, (cfg.eval_tasks // 10) // EVAL_CHUNK * EVAL_CHUNK)

    def tell(done: int) -> None:
        if progress and (done % step == 0 or done == cfg.eval_tasks):
            print(f"[{label}] evaluation: {done}/{cfg.eval_tasks} test tasks", file=sys.stderr, flush=True)

    # in blocks of whole chunks (the draws are those of one call), checkpointed when the call may be stopped
    while (done := len(next(iter(accs.values())))) < cfg.eval_tasks:
        if stoppable:
            save({"generator": gen.get_state(), "accuracies": accs, "seconds": eval_seconds})
            if (stop_after is not None and time.perf_counter() - started >= stop_after) or (stop is not None and stop()):
                if progress:
                    print(f"[{label}] stopped at test task {done} of {cfg.eval_tasks}; checkpoint {ckpt}",
                          file=sys.stderr, flush=True)
                return None
        t_eval = time.perf_counter()
        got = evaluate(learner, data.test, cfg, min(EVAL_BLOCK, cfg.eval_tasks - done), gen, data.rotate,
                       lambda n: tell(done + n))
        for m in accs:
            accs[m] += got[m]
        eval_seconds += time.perf_counter() - t_eval
    record = R.make_record(
        EXPERIMENT, cfg, seed, env, started - wall_before,  # wall time of all the run's pieces
        description=describe(cfg.name),
        protocol=data.info,
        mean_loss_inner_step=cfg.mean_loss_step,
        parameters=param_count(learner.phi),
        train_seconds=round(train_seconds, 3),
        seconds_per_iteration=train_seconds / cfg.outer_iters,
        meta_gradient_path=learner.path,
        pieces=[{**p, "end": learner.iteration} if i == len(pieces) - 1 else p for i, p in enumerate(pieces)],
        eval_seconds=round(eval_seconds, 3),
        seconds_per_eval_task=eval_seconds / cfg.eval_tasks,
        curve=curve,
        eval={m: summarise(a, cfg.protocol) for m, a in accs.items()},
        primary_mode="transductive" if cfg.protocol == "finn" else "non_transductive",
    )
    R.save_run(record, R.run_path(EXPERIMENT, cfg.name, seed, results_dir))
    if cfg.name != "ci":  # the folder's README lists every stored run (ci runs are the tests')
        from .report import write_readme

        write_readme(results_dir)
    save_checkpoint(ckpt.parent / "final.pt", {"format": CHECKPOINT_FORMAT, "run": run_config,
                                               "learner": learner.state_dict()})  # the trained state, for analysis
    ckpt.unlink(missing_ok=True)
    return record


def load_or_run(preset: str = "ci", seeds=(0,), recompute: bool = False, overrides: Mapping[str, Any] | None = None,
                device: str = "auto", data_root=None, cache_dir=None, results_dir=None, checkpoint_dir=None,
                progress: bool = True) -> list[dict[str, Any]]:
    """Make sure ``seeds`` are stored for the preset (running what is missing, one seed after another), then return
    every stored seed; a stored file of another configuration is refused (:func:`reptile.results.compute_or_load`).
    Everything is checked before any training starts."""
    cfg = resolve(preset, overrides)
    seeds = validate_seeds(seeds)
    resolve_device(device)
    return R.compute_or_load(EXPERIMENT, cfg, seeds, recompute,
                             lambda s: run(cfg, s, device, data_root, cache_dir, results_dir, checkpoint_dir,
                                           progress),
                             results_dir, device, progress, checkpoint_dir=checkpoint_dir)


def format_run(r: dict[str, Any]) -> str:
    """One line per run: each mode's accuracy after each test step."""
    parts = []
    for m, v in r["eval"].items():
        steps = ", ".join(f"{100 * a:.2f}±{100 * h:.2f}" for a, h in zip(v["accuracy_per_step"], v["ci95_per_step"]))
        parts.append(f"{m} [steps 0..{len(v['accuracy_per_step']) - 1}] {steps}")
    return f"{r['name']} seed {r['seed']} ({r['seconds_per_iteration']:.3f} s/iteration): " + "; ".join(parts)


def main(argv: list[str] | None = None) -> None:
    parser = experiment_parser("python -m reptile.maml.experiment", __doc__, None, "eval_tasks=2000", data_root=True)
    parser.add_argument("--preset", default=None, help=f"one of: {', '.join(PRESETS)}")
    parser.add_argument("--list", action="store_true", help="list the presets with their key values, and stop")
    a = parser.parse_args(argv)
    if a.list:
        for name, c in PRESETS.items():
            print(f"{name}: {c.protocol} protocol, {c.network} net, {c.algorithm}, {c.shots}-shot {c.n_way}-way, "
                  f"meta-batch {c.meta_batch}, inner {c.inner_step} x {c.inner_steps} ({c.loss_scale} loss; "
                  f"{c.mean_loss_step:g} on the mean), test steps {c.eval_inner_steps}, {c.outer_iters} iterations, "
                  f"{c.eval_tasks} test tasks [{c.budget}]")
        return
    if a.preset is None:
        fail(parser, f"--preset is required (or --list); allowed: {', '.join(PRESETS)}")
    overrides, seeds = check_arguments(parser, a)
    try:
        resolve(a.preset, overrides)  # a bad preset or key stops here, before anything is loaded
        configure(a.threads)
        runs = load_or_run(a.preset, seeds, a.recompute, overrides, a.device, a.data_root)
    except (ValueError, FileNotFoundError, DivergedError) as e:
        fail(parser, e)
    for r in runs:
        print(format_run(r))


if __name__ == "__main__":
    main()
