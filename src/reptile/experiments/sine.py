"""The sine-wave case study end to end: train every method for one seed, evaluate, store one JSON.

``run(config, seed)`` trains Reptile, MAML, first-order MAML and joint training from the same initialisation on
the same sequence of tasks, then fine-tunes each on the same held-out tasks (``eval_shots`` points, ``eval_iters``
full-batch SGD steps) and records the MSE on the 50-point grid after every step.
``load_or_run`` is what the chapter calls: it loads stored seeds and runs only what is missing (or everything,
when told to recompute). The command line runs the same code path (the chapter, book/sine.ipynb, draws the figures):

    python -m reptile.experiments.sine --preset ci --seeds 0
    python -m reptile.experiments.sine --preset paper --seeds 0 1 2 --methods reptile joint --set outer_iters=3000
"""

from __future__ import annotations

import time
from typing import Any, Mapping

import torch

from .. import params as P
from .. import results as R
from .. import seeding
from ..cli import experiment_parser, run_experiment
from ..config import SINE_METHODS, SINE_PRESETS, SineConfig, resolve
from ..core import MetaLearner, finetune_losses, fomaml_gradient, inner_loop, joint_gradient, maml_gradient
from ..optim import SGD
from ..provenance import environment
from ..sine import SineTasks, init_mlp, mlp, mse_loss_fn
from ..train import save_checkpoint, train
from ..validate import DivergedError, check, check_size, resolve_device, validate_seed

EXPERIMENT = "sine"
RECORD_STEPS = (0, 1, 32)  # the steps the paper's Figure 1 shows
FIGURE_POINTS = 200  # x values on which Figure 1's curves are drawn


def _r(values) -> list[float]:
    """Six significant digits: what float32 results carry, at a third of the JSON size."""
    return [float(f"{v:.6g}") for v in values]


def _heldout(dist: SineTasks, n: int, shots: int, g: torch.Generator, device) -> dict[str, torch.Tensor]:
    a, b = dist.sample(n, g)
    xs = dist.points(n, shots, g)
    grid = dist.grid().expand(n, -1)
    return {k: v.to(device) for k, v in dict(a=a, b=b, xs=xs, ys=SineTasks.f(a, b, xs), grid=grid,
                                               gy=SineTasks.f(a, b, grid)).items()}


def _finetune(loss_fn, phi, h, steps: int, lr: float) -> torch.Tensor:
    """MSE on the grid after 0..steps SGD steps on the sampled points, one row per task."""
    return finetune_losses(loss_fn, phi, (h["xs"][..., None], h["ys"][..., None]),
                           (h["grid"][..., None], h["gy"][..., None]), steps, lr)


def _figure_predictions(cfg: SineConfig, loss_fn, phi, h, dist: SineTasks) -> list[dict[str, Any]]:
    """For the first ``figure_tasks`` held-out tasks: the points and the prediction after each recorded step."""
    xplot = torch.linspace(*dist.x_range, FIGURE_POINTS, device=phi[0].device)[:, None]
    out = []
    for t in range(cfg.figure_tasks):
        x, y = h["xs"][t][:, None], h["ys"][t][:, None]
        w = phi
        preds = {}
        for step in range(cfg.eval_iters + 1):
            if step in RECORD_STEPS:
                preds[str(step)] = _r(mlp(w, xplot, cfg.activation).squeeze(1).tolist())
            if step < cfg.eval_iters:
                w = tuple(p.detach().requires_grad_(True) for p in w)
                g = torch.autograd.grad(loss_fn(w, (x, y)), w)
                w = tuple((p - cfg.eval_lr * gi).detach() for p, gi in zip(w, g))
        out.append({"a": float(h["a"][t]), "b": float(h["b"][t]), "x_support": _r(x.squeeze(1).tolist()),
                    "y_support": _r(y.squeeze(1).tolist()), "x": _r(xplot.squeeze(1).tolist()), "prediction": preds})
    return out


def jacobian_alignment(loss_fn, phi, tasks: list, mc, generator: torch.Generator) -> dict[str, float]:
    """What the Jacobian of the inner loop does to the mean meta-gradient at ``phi``.

    First-order MAML's meta-gradient is ``L'_q(W)``; MAML's is ``J^T L'_q(W)`` with ``J = dW/dphi`` (the only
    difference, see ``tests/test_fomaml_jacobian.py``). Over ``tasks``, with ``mc``'s inner loop (plain SGD,
    ``inner_iters`` steps), this returns the cosine between the two mean gradients, ``fo_maml_cosine``, and the
    cosine of each with the joint-training gradient ``AvgGrad = E[L'_q(phi)]`` (``fo_avggrad_cosine``,
    ``maml_avggrad_cosine``): a positive value means that the method's step also lowers the error before adaptation.
    """
    opt = SGD(mc.inner_lr)
    fo, maml, avg = [], [], []
    state = generator.get_state()
    for task in tasks:
        w, _ = inner_loop(loss_fn, phi, task, opt, {}, mc.inner_iters, mc.inner_batch, generator)
        fo.append(fomaml_gradient(loss_fn, w, task))
        avg.append(joint_gradient(loss_fn, phi, task))
    generator.set_state(state)  # MAML's inner loop sees the same minibatches
    for task in tasks:
        maml.append(maml_gradient(loss_fn, phi, task, opt, {}, mc.inner_iters, mc.inner_batch, generator)[0])
    f, m, a = P.mean(fo), P.mean(maml), P.mean(avg)

    def cos(x, y) -> float:
        return _r([float(P.dot(x, y) / (P.dot(x, x).sqrt() * P.dot(y, y).sqrt()))])[0]

    return {"fo_maml_cosine": cos(f, m), "fo_avggrad_cosine": cos(f, a), "maml_avggrad_cosine": cos(m, a)}


def check_memory(cfg: SineConfig, memory: int | None = None) -> None:
    """Refuse, before any work, a number of held-out or learning-curve tasks whose memory cannot fit here
    (:func:`reptile.validate.check_size`): the tasks are fine-tuned all at once, each holding its grid's
    activations through the MLP, forward and backward, at every one of ``eval_iters`` steps' losses."""
    check(isinstance(cfg, SineConfig), f"cfg must be a SineConfig, got {cfg!r}")
    each = 4 * cfg.grid_points * (6 + 3 * sum(cfg.hidden)) + 4 * (cfg.eval_iters + 1 + 2 * cfg.eval_shots)
    for name in ("eval_tasks", "curve_tasks"):
        check_size(name, getattr(cfg, name), each, "the tasks fine-tuned together (float32 activations on the grid)",
                   memory)


def run(cfg: SineConfig, seed: int, device: str = "auto", results_dir=None, checkpoint_dir=None,
        progress: bool = True) -> dict[str, Any]:
    """Train and evaluate every method of ``cfg`` for ``seed``; write and return the run's record."""
    seed = validate_seed(seed)
    dev = resolve_device(device)
    seeding.deterministic(dev)
    started = time.perf_counter()
    env = environment(dev)  # before training: the commit and tree state of the code that runs
    dist = SineTasks(grid_points=cfg.grid_points)
    loss_fn = mse_loss_fn(cfg.activation)
    # every random draw comes from the run's streams (reptile.seeding); all methods of a seed share them
    heldout = _heldout(dist, cfg.eval_tasks, cfg.eval_shots, seeding.generator(seed, "eval"), dev)
    curve_tasks = _heldout(dist, cfg.curve_tasks, cfg.eval_shots, seeding.generator(seed, "curve"), dev)
    ckpt_dir = R.checkpoint_root(checkpoint_dir) / EXPERIMENT / cfg.name / f"seed-{seed}"

    def sample_tasks(g: torch.Generator, n: int):
        a, b = dist.sample(n, g)
        return [dist.training_task(a[i], b[i], device=dev) for i in range(n)]

    curve_train_tasks = [dist.training_task(a, b, device=dev) for a, b in zip(curve_tasks["a"], curve_tasks["b"])]

    def curve_eval(learner: MetaLearner) -> dict[str, float]:
        losses = _finetune(loss_fn, learner.phi, curve_tasks, cfg.eval_iters, cfg.eval_lr)
        out = {f"mse_step{s}": _r([losses[:, s].mean()])[0] for s in RECORD_STEPS if s <= cfg.eval_iters}
        if learner.config.inner_optimizer == "sgd":
            out.update(jacobian_alignment(loss_fn, learner.phi, curve_train_tasks, learner.config,
                                          seeding.generator(seed, "curve", 1)))
        return out

    methods: dict[str, Any] = {}
    for name, mc in cfg.methods.items():
        learner = MetaLearner(loss_fn, init_mlp(cfg.hidden, seeding.stream_seed(seed, "init"), device=dev), mc,
                              seeding.generator(seed, "inner"))
        label = f"sine/{cfg.name} seed {seed} {name}"
        trained = train(learner, lambda g: sample_tasks(g, mc.meta_batch), seeding.generator(seed, "tasks"),
                        mc.outer_iters, evaluate=curve_eval, eval_every=cfg.curve_every,
                        checkpoint=ckpt_dir / f"{name}.pt", checkpoint_every=cfg.checkpoint_every,
                        label=label, progress=progress,
                        run_config={"experiment": EXPERIMENT, "seed": seed, "config": cfg.to_dict(), "method": name})
        losses = _finetune(loss_fn, learner.phi, heldout, cfg.eval_iters, cfg.eval_lr)
        if not bool(torch.isfinite(losses).all()):
            bad = int((~torch.isfinite(losses)).any(1).sum())
            raise DivergedError(f"{label}: fine-tuning diverged (NaN or inf test error) on {bad} of {len(losses)} "
                                f"held-out tasks; no result is written. Lower the fine-tuning step (eval_lr, now "
                                f"{cfg.eval_lr})")
        methods[name] = {
            "train_seconds": round(trained["train_seconds"], 3),
            "seconds_per_outer_iter": trained["train_seconds"] / mc.outer_iters,
            "curve": trained["curve"],
            "eval": {
                "mse_by_step": _r(losses.mean(0).tolist()),
                "mse_tasks": {str(s): _r(losses[:, s].tolist()) for s in RECORD_STEPS if s <= cfg.eval_iters},
            },
            "figure": _figure_predictions(cfg, loss_fn, learner.phi, heldout, dist),
        }
        save_checkpoint(ckpt_dir / f"{name}-final.pt", {"phi": learner.phi, "config": mc.to_dict()})
    record = R.make_record(EXPERIMENT, cfg, seed, env, started, methods=methods)
    R.save_run(record, R.run_path(EXPERIMENT, cfg.name, seed, results_dir))
    for name in cfg.methods:  # the run is stored: its resume points are no longer needed
        (ckpt_dir / f"{name}.pt").unlink(missing_ok=True)
    return record


def load_or_run(preset: str = "paper", seeds=(0,), recompute: bool = False, overrides: Mapping[str, Any] | None = None,
                methods: list[str] | None = None, device: str = "auto", results_dir=None, checkpoint_dir=None,
                progress: bool = True) -> list[dict[str, Any]]:
    """Make sure ``seeds`` exist for the (possibly overridden) preset, running what is missing, then return every
    seed stored for that configuration (not only ``seeds``), so the chapter aggregates all of them.

    Everything is validated before any training starts.
    """
    cfg = resolve(SINE_PRESETS, preset, overrides, methods)
    check_memory(cfg)
    return R.compute_or_load(EXPERIMENT, cfg, seeds, recompute,
                             lambda seed: run(cfg, seed, device, results_dir, checkpoint_dir, progress),
                             results_dir, device, progress, checkpoint_dir=checkpoint_dir)


def main(argv: list[str] | None = None) -> None:
    parser = experiment_parser("python -m reptile.experiments.sine", __doc__, SINE_PRESETS,
                               "outer_iters=1000 or reptile.outer_step=0.2")
    parser.add_argument("--methods", nargs="+", default=None, metavar="METHOD",
                        help=f"some of: {' '.join(SINE_METHODS)} (default: all of the preset's)")
    runs = run_experiment(parser, argv, load_or_run, ("methods",))
    for r in runs:
        for m, v in r["methods"].items():
            mse = v["eval"]["mse_by_step"]
            print(f"sine/{r['name']} seed {r['seed']} {m}: test MSE {mse[0]:.4g} before fine-tuning, {mse[-1]:.4g} "
                  f"after {len(mse) - 1} steps")
    print(f"{len(runs)} seed(s) stored in {R.run_path(EXPERIMENT, runs[0]['name'], runs[0]['seed']).parent}; the "
          f"chapter (book/sine.ipynb) draws them")


if __name__ == "__main__":
    main()
