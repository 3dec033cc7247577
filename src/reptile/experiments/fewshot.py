"""Few-shot classification end to end (Tables 1-2): meta-train Reptile on one cell, evaluate, store one JSON.

The notebook chapter and the command line share this code path:

    python -m reptile.experiments.fewshot --preset reduced-omniglot-1shot-5way --seeds 0 1 2
    python -m reptile.experiments.fewshot --preset omniglot-1shot-5way --seeds 0 --set eval_tasks=2000 --device cuda

A run meta-trains on the training split with checkpoints (resumed when run again after an interruption), then
adapts to ``eval_tasks`` test-split tasks and records the accuracy of non-transductive and transductive prediction
from the same adapted weights, with a 95% interval over tasks.

The seeds of a cell are trained together as one population (:mod:`reptile.engine`), each seed giving the numbers of
its solo run; ``engine="solo"`` (``--engine solo``) runs them one after another with the plain per-run code
(:func:`run`), which is also what runs the configurations the population engine does not cover (Mini-ImageNet).

Under ``torchrun`` the seeds are split among the processes and the final evaluation's tasks too
(:mod:`reptile.engine.distributed`); each seed keeps its streams, so the numbers are those of one process (training
to float tolerance, as a population member's are to its solo run's):

    torchrun --nproc_per_node 2 -m reptile.experiments.fewshot --preset ci --seeds 0 1 2
"""

from __future__ import annotations

import sys
import time
from typing import Any, Mapping

from .. import results as R
from .. import seeding
from ..cli import check_arguments, experiment_parser, fail
from ..config import FEWSHOT_PRESETS, FewShotConfig, resolve
from ..core import MetaLearner
from ..fewshot import FunctionalNet, TaskSampler, conv4, evaluate, param_count
from ..provenance import environment
from ..stats import format_accuracy, mean_ci95
from ..threads import configure
from ..train import train
from ..validate import (DivergedError, check, check_size, is_int, parse_bool, resolve_device, validate_seed,
                        validate_seeds)

EXPERIMENT = "fewshot"
ENGINES = ("auto", "population", "solo")


def split_seed(cfg: FewShotConfig, seed: int) -> int:
    """The seed of Omniglot's character split for the run of ``seed``: the run's own seed, as the authors'
    ``random.seed(args.seed)`` before ``split_dataset`` has it, unless the configuration fixes one."""
    return seed if cfg.split_seed is None else cfg.split_seed


def load_splits(cfg: FewShotConfig, seed: int = 0, data_root=None, cache_dir=None):
    """(training split, test split) of ``cfg.dataset`` for the run of ``seed``, as
    :class:`reptile.data.datasets.FewShotSplit`."""
    if cfg.dataset == "omniglot":
        from ..data.omniglot import load_omniglot

        data = load_omniglot(data_root, split_seed=split_seed(cfg, seed), cache_dir=cache_dir)
        return data.train, data.test
    from ..data.miniimagenet import load_miniimagenet

    data = load_miniimagenet(data_root, cache_dir=cache_dir)
    return data.train, data.test


def check_fits(cfg: FewShotConfig, train_split, test_split) -> None:
    """Shots, ways and batch sizes against the data, before any training starts."""
    TaskSampler(train_split.images).check(cfg.n_way, cfg.train_shots, "train_shots")
    TaskSampler(test_split.images).check(cfg.n_way, cfg.shots, "shots", queries=1)


# Memory a configuration's sizes take, for the bounds checked before any work (:func:`check_memory`):
TASK_RECORD_BYTES = 400  # per evaluation task and seed: its job, its two accuracies (Python objects), its places
IMAGE_BYTES = {"omniglot": 28 * 28 * 4, "miniimagenet": 84 * 84 * 3 * 4}  # one image as float32
ACTIVATION_BYTES = {"omniglot": 1 << 20, "miniimagenet": 8 << 20}  # one image through Conv4, forward and backward


def check_memory(cfg: FewShotConfig, n_seeds: int = 1, device: str = "cpu", memory: int | None = None) -> None:
    """Refuse, before any work, a size of ``cfg`` whose memory cannot fit on this machine (:func:`check_size`):
    ``--set eval_tasks=1e12`` would otherwise train, then be killed at the final evaluation, leaving a checkpoint
    behind. Each bound is derived from the memory available now (``memory`` bytes, for tests) and what the sizes
    cost: the final evaluation and each learning-curve point keep a record per task and seed
    (:data:`TASK_RECORD_BYTES`); a meta-batch holds its tasks' images and their minibatch indices; an evaluation
    step, its images' activations and its tasks' minibatch indices. Where two sizes multiply, the larger is named."""
    from ..engine.evaluation import default_chunk

    check(is_int(n_seeds) and n_seeds >= 1, f"n_seeds must be an integer >= 1, got {n_seeds!r}")
    m, img, act = cfg.meta, IMAGE_BYTES[cfg.dataset], ACTIVATION_BYTES[cfg.dataset]
    chunk = default_chunk(resolve_device(device), cfg.n_way, cfg.shots, cfg.eval_batch)
    seeds = f"{n_seeds} seed{'s' if n_seeds > 1 else ''}"
    sizes = {"eval_tasks": cfg.eval_tasks, "curve_tasks": cfg.curve_tasks, "meta_batch": m.meta_batch,
             "inner_iters": m.inner_iters, "eval_batch": cfg.eval_batch, "eval_iters": cfg.eval_iters}
    for names, unit, what in [  # (the sizes that multiply, bytes per unit of their product, what they hold)
        (("eval_tasks",), n_seeds * TASK_RECORD_BYTES, f"the final evaluation's per-task records ({seeds})"),
        (("curve_tasks",), n_seeds * TASK_RECORD_BYTES, f"a learning-curve point's per-task records ({seeds})"),
        (("meta_batch",), n_seeds * cfg.n_way * cfg.train_shots * img, f"a meta-batch's task images ({seeds})"),
        (("meta_batch", "inner_iters"), n_seeds * 8 * m.inner_batch, f"a meta-batch's minibatch indices ({seeds})"),
        (("eval_batch",), act, "an evaluation step's activations"),
        (("eval_batch", "eval_iters"), chunk * 8, f"the minibatch indices of {chunk} evaluation task(s) adapted "
                                                  f"together"),
    ]:
        name = max(names, key=lambda n: sizes[n])  # the size to lower
        others = [n for n in names if n != name]
        each = unit
        for n in others:
            each *= sizes[n]
        check_size(name, sizes[name], each, what + "".join(f" (with {n}={sizes[n]})" for n in others), memory,
                   hint=" (the paper's protocol: 10,000)" if name == "eval_tasks" else "")


def accuracy_summary(accs: list[float]) -> dict[str, float]:
    mean, ci = mean_ci95(accs)
    return {"accuracy": mean, "ci95": ci, "tasks": len(accs)}



def fewshot_record(experiment: str, cfg: FewShotConfig, seed: int, env: dict, started: float, parameters: int,
                   train_seconds: float, eval_seconds: float, tasks_timed: int, curve: dict, accs: dict,
                   engine: dict | None = None) -> dict[str, Any]:
    """One seed's results record, the same fields whether a solo run, a population or the campaign wrote it:
    ``tasks_timed`` is the number of evaluation tasks ``eval_seconds`` covers (a population evaluates all its seeds'
    tasks together), ``accs`` each prediction mode's per-task accuracies (:func:`accuracy_summary`)."""
    extra = {} if engine is None else {"engine": engine}
    return R.make_record(
        experiment, cfg, seed, env, started,
        split_seed=split_seed(cfg, seed),
        parameters=parameters,
        train_seconds=round(train_seconds, 3),
        seconds_per_outer_iter=train_seconds / cfg.meta.outer_iters,
        eval_seconds=round(eval_seconds, 3),
        seconds_per_eval_task=eval_seconds / tasks_timed,
        curve=curve,
        eval={mode: accuracy_summary(a) for mode, a in accs.items()},
        **extra,
    )

def run(cfg: FewShotConfig, seed: int, device: str = "auto", data_root=None, cache_dir=None, results_dir=None,
        checkpoint_dir=None, progress: bool = True, splits=None) -> dict[str, Any]:
    """Meta-train and evaluate one cell for ``seed``; write and return the run's record.

    Every random draw comes from the run's streams (:mod:`reptile.seeding`): ``init`` for the weights, ``tasks`` for
    the meta-training tasks, ``inner`` for their minibatch shuffles, ``curve`` and ``eval`` for the test-split tasks.
    ``splits`` (training, test) may be passed to skip loading; they must be the split of this seed.
    """
    seed = validate_seed(seed)
    dev = resolve_device(device)
    check_memory(cfg, 1, device)
    seeding.deterministic(dev)
    started = time.perf_counter()
    env = environment(dev)
    train_split, test_split = splits if splits is not None else load_splits(cfg, seed, data_root, cache_dir)
    check_fits(cfg, train_split, test_split)
    train_sampler = TaskSampler(train_split.images.to(dev))
    test_sampler = TaskSampler(test_split.images.to(dev))
    net = FunctionalNet(conv4(cfg.dataset, cfg.n_way).to(dev))
    learner = MetaLearner(net.loss, net.init_params(seeding.generator(seed, "init"), dev), cfg.meta,
                          seeding.generator(seed, "inner"))

    def curve_eval(lr: MetaLearner) -> dict[str, float]:
        accs = evaluate(lr, net, test_sampler, cfg.n_way, cfg.shots, cfg.eval_iters, cfg.eval_batch,
                        cfg.curve_tasks, seeding.generator(seed, "curve", lr.iteration), dev)
        return {"test_accuracy": sum(accs["non_transductive"]) / cfg.curve_tasks}

    ckpt_dir = R.checkpoint_root(checkpoint_dir) / EXPERIMENT / cfg.name / f"seed-{seed}"
    trained = train(learner,
                    lambda g: [train_sampler.training_task(cfg.n_way, cfg.train_shots, g, dev)
                               for _ in range(cfg.meta.meta_batch)],
                    seeding.generator(seed, "tasks"), cfg.meta.outer_iters, evaluate=curve_eval,
                    eval_every=cfg.curve_every, checkpoint=ckpt_dir / "meta.pt", checkpoint_every=cfg.checkpoint_every,
                    label=f"{EXPERIMENT}/{cfg.name} seed {seed}", progress=progress,
                    run_config={"experiment": EXPERIMENT, "seed": seed, "config": cfg.to_dict()})
    t_eval = time.perf_counter()
    accs = evaluate(learner, net, test_sampler, cfg.n_way, cfg.shots, cfg.eval_iters, cfg.eval_batch, cfg.eval_tasks,
                    seeding.generator(seed, "eval"), dev)
    eval_seconds = time.perf_counter() - t_eval
    record = fewshot_record(EXPERIMENT, cfg, seed, env, started, param_count(learner.phi), trained["train_seconds"],
                            eval_seconds, cfg.eval_tasks, trained["curve"], accs)
    R.save_run(record, R.run_path(EXPERIMENT, cfg.name, seed, results_dir))
    (ckpt_dir / "meta.pt").unlink(missing_ok=True)
    return record


def population_checkpoint(cfg: FewShotConfig, seeds: list[int], checkpoint_dir=None, experiment: str = EXPERIMENT):
    """Where the population of ``seeds`` of ``cfg`` keeps its checkpoint."""
    return R.checkpoint_root(checkpoint_dir) / experiment / cfg.name / f"population-{'-'.join(map(str, seeds))}.pt"


def gather_members(net, pop, seeds: list[int], device, dtype, extra=None):
    """Every seed's meta-parameters and inner Adam state as one population's ``(phi, AdamState)``, in the order of
    ``seeds``, on every rank, with each seed's item of ``extra``.

    Under ``torchrun``, rank ``r`` trained the seeds ``members_of(r, world, seeds)`` as its population ``pop``
    (None for a rank without seeds) and passes ``extra``, one item per member of ``pop``; the ranks exchange their
    members' rows (:meth:`Conv4.rows`) and the rows are put back in the order of ``seeds``. In one process, ``pop``
    holds every seed: its own tensors are returned."""
    import torch

    from ..engine import distributed
    from ..engine.population import AdamState

    mine = list(pop.seeds) if pop is not None else []
    extra = list(extra) if extra is not None else [None] * len(mine)
    check(len(extra) == len(mine), f"{len(extra)} extra items for the {len(mine)} members of this rank")
    if distributed.ranks().world == 1:
        check(mine == list(seeds), f"one process trained seeds {mine}, not {list(seeds)}")
        return pop.phi, pop.inner, extra
    part: dict = {"seeds": mine, "extra": extra}
    if pop is not None:  # rows on the CPU: they travel pickled
        part.update(step=pop.inner.step, **{k: net.rows(t).cpu() for k, t in
                                            (("phi", pop.phi), ("m", pop.inner.m), ("v", pop.inner.v))})
    parts = distributed.all_gather_objects(part)
    where = {s: (p, i) for p in parts for i, s in enumerate(p["seeds"])}
    check(sorted(where) == sorted(seeds) and sum(len(p["seeds"]) for p in parts) == len(seeds),
          f"the ranks trained seeds {[p['seeds'] for p in parts]}, not each of {list(seeds)} once")
    steps = {p["step"] for p in parts if p["seeds"]}
    check(len(steps) == 1, f"the ranks' inner Adam states count different steps: {sorted(steps)}")

    def full(key: str):
        return net.stack(torch.stack([where[s][0][key][where[s][1]] for s in seeds])).to(device, dtype)

    return full("phi"), AdamState(full("m"), full("v"), steps.pop()), [where[s][0]["extra"][where[s][1]]
                                                                       for s in seeds]


def population_curve(cfg: FewShotConfig, seeds, samplers):
    """The learning-curve evaluation of a population of ``seeds`` (test-split ``samplers``, one per seed): each
    member's mean non-transductive accuracy on ``cfg.curve_tasks`` tasks drawn from its ``curve`` stream at the
    current iteration, as :func:`run` records it for one seed."""
    from ..engine import evaluation as E

    m = cfg.meta

    def curve_eval(p) -> list[dict[str, float]]:
        accs = E.evaluate(p.net, p.phi, p.inner, samplers, [seeding.generator(s, "curve", p.iteration) for s in seeds],
                          cfg.n_way, cfg.shots, cfg.eval_iters, cfg.eval_batch, cfg.curve_tasks, m.inner_lr,
                          m.inner_betas, p.dtype, optimizer=m.inner_optimizer)
        return [{"test_accuracy": sum(a["non_transductive"]) / cfg.curve_tasks} for a in accs]

    return curve_eval


def run_population(cfg: FewShotConfig, seeds, device: str = "auto", data_root=None, cache_dir=None, results_dir=None,
                   checkpoint_dir=None, progress: bool = True, dtype=None,
                   experiment: str = EXPERIMENT) -> list[dict[str, Any]]:
    """Meta-train and evaluate ``seeds`` of one cell as one population; write and return one record per seed.
    ``experiment`` names the records' folder, ``results/<experiment>/<cfg.name>/`` (Figure 3's curves are
    ``"gradcomb"``, :mod:`reptile.experiments.gradcomb`).

    Each seed draws from its own streams exactly as :func:`run` does, so its record holds the numbers of its solo
    run (to float tolerance); the record says it was made by the population engine and with which seeds.

    Under ``torchrun`` (:mod:`reptile.engine.distributed`), every rank is called with the same arguments: rank
    ``r`` of ``world`` trains ``seeds[r::world]`` as a population of its own (its own checkpoint, its own learning
    curves), the ranks then exchange their members, share the final evaluation's tasks, and rank 0 writes the
    records; every rank returns them. The records are those of one process, but for the times, the environment and
    ``engine`` (``world``, the seeds each seed was trained with)."""
    import torch

    from ..engine import distributed
    from ..engine import evaluation as E
    from ..engine import trainer
    from ..engine.network import Conv4
    from ..engine.population import Population

    seeds = validate_seeds(seeds)
    dev = resolve_device(device)
    check_memory(cfg, len(seeds), device)
    ranks = distributed.init(dev)
    dev = distributed.device_of(dev, ranks)
    if ranks.world > 1:
        asked = distributed.all_gather_objects(seeds)
        check(all(a == seeds for a in asked),
              f"the ranks were given different seeds to train, {asked}: every rank must run the same seeds (the "
              f"results folder must be shared by all machines, or pass --recompute)")
    mine = distributed.members_of(ranks.rank, ranks.world, seeds)
    lead = ranks.rank == 0  # writes the records and shows the progress bars
    seeding.deterministic(dev)
    started = time.perf_counter()
    env = environment(dev)
    splits = [load_splits(cfg, s, data_root, cache_dir) for s in seeds]  # every rank evaluates every seed
    for tr, te in splits:
        check_fits(cfg, tr, te)
    m = cfg.meta
    dtype = dtype or torch.float32
    test = [TaskSampler(te.images.to(dev)) for _, te in splits]
    label = f"{experiment}/{cfg.name} seeds {' '.join(map(str, seeds))}"
    if ranks.world > 1:
        label += f" on {ranks.world} ranks (rank {ranks.rank}: {' '.join(map(str, mine)) or 'none'})"

    pop, ckpt = None, None
    trained: dict[str, Any] = {"curves": [], "train_seconds": 0.0, "segments": []}
    if mine:  # a rank has no seeds when there are fewer seeds than ranks
        own = [test[seeds.index(s)] for s in mine]
        pop = Population(cfg, mine, [splits[seeds.index(s)][0].images for s in mine], dev, dtype)

        curve_eval = population_curve(cfg, mine, own)  # this rank's members only

        ckpt = population_checkpoint(cfg, mine, checkpoint_dir, experiment)
        if ckpt.exists() and progress:  # the trainer resumes from it: say so, and from where
            from ..train import load_checkpoint

            at = load_checkpoint(ckpt).get("population", {}).get("iteration", "?")
            print(f"[{label}] resuming from the checkpoint {ckpt} at outer iteration {at} of {m.outer_iters}"
                  f"{f' (rank {ranks.rank})' if ranks.world > 1 else ''}", file=sys.stderr, flush=True)
        trained = trainer.train(pop, m.outer_iters, evaluate=curve_eval, eval_every=cfg.curve_every,
                                checkpoint=ckpt, checkpoint_every=cfg.checkpoint_every, label=label,
                                progress=progress and lead,
                                run_config={"experiment": experiment, "seeds": mine, "config": cfg.to_dict()})
    net = pop.net if pop is not None else Conv4(cfg.n_way)
    phi, inner, per_seed = gather_members(
        net, pop, seeds, dev, dtype,
        [(curve, trained["train_seconds"], trained["segments"], mine) for curve in trained["curves"]])
    t_eval = time.perf_counter()
    bar = trainer.progress_bar(len(seeds) * cfg.eval_tasks, 0, f"{label}: evaluation", "task", progress and lead)
    accs = E.evaluate(net, phi, inner, test, [seeding.generator(s, "eval") for s in seeds], cfg.n_way,
                      cfg.shots, cfg.eval_iters, cfg.eval_batch, cfg.eval_tasks, m.inner_lr, m.inner_betas, dtype,
                      progress=bar, share=ranks.share, optimizer=m.inner_optimizer)
    if bar is not None:
        bar.close()
    eval_seconds = time.perf_counter() - t_eval
    records = []
    for i, seed in enumerate(seeds):
        curve, train_seconds, segments, together = per_seed[i]
        engine = {"name": "population", "seeds": seeds, "world": ranks.world, "segments": segments,
                  "note": "the seeds were trained together; the times are the population's wall-clock times "
                          "(per evaluation task: over all seeds' tasks)"}
        if ranks.world > 1:
            engine.update(trained_with=together,
                          note=f"the seeds were split among {ranks.world} processes (torchrun), each training its "
                               f"seeds together (trained_with); the training times are those of this seed's "
                               f"process, the evaluation's are shared by all (per evaluation task: over all seeds' "
                               f"tasks)")
        record = fewshot_record(experiment, cfg, seed, env, started, net.size, train_seconds, eval_seconds,
                                cfg.eval_tasks * len(seeds), curve, accs[i], engine)
        if lead:
            R.save_run(record, R.run_path(experiment, cfg.name, seed, results_dir))
        records.append(record)
    distributed.barrier()  # the records are written before any rank reads them or drops its checkpoint
    if ckpt is not None:
        ckpt.unlink(missing_ok=True)
    return records


def pick_engine(cfg: FewShotConfig, engine: str = "auto") -> str:
    """'population' or 'solo' for ``cfg``: ``auto`` is the population engine wherever it runs the configuration."""
    from ..engine.population import supports

    check(engine in ENGINES, f"unknown engine {engine!r}; allowed: {', '.join(ENGINES)}")
    if engine == "population":
        check(supports(cfg), f"the population engine does not run {cfg.name!r} (dataset {cfg.dataset}); allowed "
                             f"engines for it: solo, auto")
        return engine
    if engine == "auto":
        return "population" if supports(cfg) else "solo"
    return engine


def load_or_run(preset: str = "ci", seeds=(0,), recompute: bool = False, overrides: Mapping[str, Any] | None = None,
                device: str = "auto", data_root=None, cache_dir=None, results_dir=None, checkpoint_dir=None,
                progress: bool = True, engine: str = "auto") -> list[dict[str, Any]]:
    """Make sure ``seeds`` are stored for the preset (training what is missing, the missing seeds together as one
    population unless ``engine="solo"``), then return every stored seed. Everything, the data's fit included, is
    checked before any training starts."""
    cfg = resolve(FEWSHOT_PRESETS, preset, overrides)
    seeds = validate_seeds(seeds)
    recompute = parse_bool(recompute, "recompute")
    resolve_device(device)
    engine = pick_engine(cfg, engine)
    check_memory(cfg, len(seeds) if engine == "population" else 1, device)
    from ..engine import distributed

    check(engine == "population" or not distributed.launched(),
          f"under torchrun, {cfg.name!r} would run on every process: the solo engine runs in one process; allowed "
          f"under torchrun: the population engine (--engine auto or population), which splits the seeds among them")
    missing = [s for s in seeds if recompute or not R.run_path(EXPERIMENT, cfg.name, s, results_dir).exists()]
    if distributed.launched():  # under torchrun, the ranks train the missing seeds together: all must see the same
        distributed.init(device)
        seen = distributed.all_gather_objects(missing)
        check(all(m == missing for m in seen),
              f"the ranks find different seeds of {cfg.name!r} to train, {seen}: under torchrun on several machines "
              f"the results folder must be one they share, or pass --recompute")
    if missing:  # every split has the same shape, so one check covers all seeds
        check_fits(cfg, *load_splits(cfg, missing[0], data_root, cache_dir))
    split = distributed.launched()  # under torchrun the seeds are split among the processes: rank 0 says how

    def together(todo: list[int]) -> None:  # the missing seeds as one population
        if split and progress:
            r = distributed.init(device)
            if r.rank == 0:
                print(f"running {EXPERIMENT}/{cfg.name} seeds {todo} split among {r.world} processes "
                      f"({distributed.split_text(todo, r.world)}) -> "
                      f"{R.run_path(EXPERIMENT, cfg.name, todo[0], results_dir).parent}", file=sys.stderr, flush=True)
        run_population(cfg, todo, device, data_root, cache_dir, results_dir, checkpoint_dir, progress)

    return R.compute_or_load(EXPERIMENT, cfg, seeds, recompute,
                             lambda s: run(cfg, s, device, data_root, cache_dir, results_dir, checkpoint_dir, progress),
                             results_dir, device, progress and not split, checkpoint_dir=checkpoint_dir,
                             compute_all=together if engine == "population" else None)


def stored_runs(results_dir=None) -> dict[str, list[dict[str, Any]]]:
    """Every stored few-shot run, grouped by configuration name."""
    out: dict[str, list[dict[str, Any]]] = {}
    for r in R.load_all(results_dir, on_error="warn"):  # a damaged file is named and skipped, not fatal
        if r["experiment"] == EXPERIMENT:
            out.setdefault(r["name"], []).append(r)
    return out


def main(argv: list[str] | None = None) -> None:
    parser = experiment_parser("python -m reptile.experiments.fewshot", __doc__, FEWSHOT_PRESETS,
                               "eval_tasks=2000 or meta.anneal=false", data_root=True)
    parser.add_argument("--engine", default="auto", choices=ENGINES,
                        help="population: the seeds trained together (the default wherever it applies); solo: one "
                             "seed after another with the plain per-run code")
    a = parser.parse_args(argv)
    # every value of the command line is checked here or in load_or_run before any data is loaded
    overrides, seeds = check_arguments(parser, a)
    from ..engine import distributed

    try:
        ranks = distributed.init(resolve_device(a.device))  # one of several processes under torchrun
        configure(a.threads)
        runs = load_or_run(a.preset, seeds, a.recompute, overrides, a.device, a.data_root, engine=a.engine)
    except (ValueError, FileNotFoundError, DivergedError) as e:
        fail(parser, e)
    finally:
        distributed.close()
    if ranks.rank != 0:
        return
    for r in runs:
        ev = r["eval"]
        print(f"{r['name']} seed {r['seed']}: " + ", ".join(
            f"{m} {format_accuracy(v['accuracy'], v['ci95'], v['tasks'])}" for m, v in ev.items()))


if __name__ == "__main__":
    main()
