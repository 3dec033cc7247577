"""What happens at each test step of a trained MAML state: accuracy and support loss after 0..S inner steps, for
several test step sizes, in both prediction modes.

    python -m reptile.maml.probe --preset reduced-maml-omniglot-1shot-5way --seed 0 --steps 5 --step-sizes 0.1 0.4

It reads the trained state a run leaves beside its checkpoint (``checkpoints/maml/<preset>/seed-<n>/final.pt``),
draws ``--tasks`` test tasks from the run's evaluation stream and writes ``results/maml/<preset>/probe-seed-<n>.json``
(not a run record). Used to find out why accuracy can fall after the first test step (the book's MAML chapter).
"""

from __future__ import annotations

import argparse
import json
import sys

import torch

from .. import results as R
from .. import seeding
from ..fewshot import predict
from ..provenance import environment
from ..train import load_checkpoint
from ..validate import check, is_int, is_positive, validate_seed
from .algorithm import MAMLLearner, inner_adapt, inner_mask
from .evaluation import test_task_chunks
from .experiment import checkpoint_path, load_data
from .presets import resolve
from .protocol import build_net


def probe(preset: str, seed: int = 0, steps: int = 5, step_sizes=(0.1, 0.2, 0.4), n_tasks: int = 200,
          overrides=None, data_root=None, results_dir=None, checkpoint_dir=None) -> dict:
    """Adapt the trained state of ``preset`` (its run for ``seed`` must have left ``final.pt``) to ``n_tasks`` of
    its evaluation's test tasks for ``steps`` steps of each size in ``step_sizes`` (on the preset's loss scale: Finn
    et al.'s summed loss, N times the mean loss's step, for the presets that keep it) and record, after each step,
    the query accuracy in both prediction modes and the support accuracy and loss; written to
    ``results/maml/<preset>/probe-seed-<seed>.json`` and returned."""
    cfg = resolve(preset, overrides)
    seed = validate_seed(seed)
    check(is_int(steps) and 1 <= steps <= 100, f"steps {steps!r}: allowed: an integer from 1 to 100")
    check(is_int(n_tasks) and 1 <= n_tasks <= 10_000, f"tasks {n_tasks!r}: allowed: an integer from 1 to 10,000")
    check(len(step_sizes) >= 1 and all(is_positive(a) for a in step_sizes),
          f"step sizes {list(step_sizes)!r}: allowed: one or more finite numbers > 0")
    final = checkpoint_path(cfg, seed, checkpoint_dir).parent / "final.pt"
    check(final.is_file(), f"no trained state of preset {cfg.name}, seed {seed}, at {final}; allowed: a preset and seed "
                           f"whose run has finished here (python -m reptile.maml.experiment --preset {cfg.name} "
                           f"--seeds {seed} leaves it)")
    state = load_checkpoint(final, "trained state")
    data = load_data(cfg, seed, data_root)
    net = build_net(cfg.network, cfg.n_way)
    learner = MAMLLearner(net, cfg.maml(), device="cpu")
    learner.load_state_dict(state["learner"])
    mask = inner_mask(net)
    gen = seeding.generator(cfg.eval_task_seed if cfg.eval_task_seed >= 0 else seed, "eval")
    chunks = list(test_task_chunks(data.test, cfg, n_tasks, gen, data.rotate))  # the evaluation's own tasks
    tasks = type(chunks[0])(*(torch.cat(parts) for parts in zip(*chunks)))
    out = {"preset": cfg.name, "seed": seed, "iterations": state["learner"]["iteration"], "tasks": n_tasks,
           "train_inner_step": cfg.inner_step, "loss_scale": cfg.loss_scale, "by_step_size": {},
           "environment": environment(torch.device("cpu"))}
    for alpha in step_sizes:
        def one(sx, sy, qx, qy):
            w, rows = learner.phi, []
            for s in range(steps + 1):
                if s:
                    w = tuple(t.detach() for t in inner_adapt(net, w, (sx, sy), alpha, 1, cfg.loss_scale,
                                                               first_order=True, shots=cfg.shots, adapt=mask))
                lt, ln = predict(net, w, sx, qx, transductive=True), predict(net, w, sx, qx, transductive=False)
                ls = net(w, sx)
                rows.append(torch.stack([
                    (lt.argmax(-1) == qy).float().mean(), (ln.argmax(-1) == qy).float().mean(),
                    (ls.argmax(-1) == sy).float().mean(), torch.nn.functional.cross_entropy(ls, sy),
                    torch.nn.functional.cross_entropy(lt, qy)]))
            return torch.stack(rows)

        with torch.no_grad():
            m = torch.cat([torch.vmap(one)(*(t[i:i + 25] for t in tasks)) for i in range(0, n_tasks, 25)]).mean(0)
        out["by_step_size"][str(alpha)] = {
            "mean_loss_step": alpha * cfg.n_way if cfg.loss_scale == "finn" else alpha,
            "transductive": m[:, 0].tolist(), "non_transductive": m[:, 1].tolist(),
            "support_accuracy": m[:, 2].tolist(), "support_loss_mean_ce": m[:, 3].tolist(),
            "query_loss_mean_ce_transductive": m[:, 4].tolist()}
    path = R.results_root(results_dir) / "maml" / cfg.name / f"probe-seed-{seed}.json"
    R.atomic_write_bytes(path, (json.dumps(out, indent=1) + "\n").encode())
    return out


def main(argv=None) -> None:
    p = argparse.ArgumentParser(prog="python -m reptile.maml.probe", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--preset", required=True)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--steps", type=int, default=5)
    p.add_argument("--step-sizes", type=float, nargs="+", default=[0.1, 0.2, 0.4],
                   help="test step sizes on the preset's loss scale (Finn et al.'s summed loss: N times the step on "
                        "the mean loss; default: %(default)s)")
    p.add_argument("--tasks", type=int, default=200)
    a = p.parse_args(argv)
    try:
        out = probe(a.preset, a.seed, a.steps, a.step_sizes, a.tasks)
    except (ValueError, FileNotFoundError) as e:
        p.exit(2, f"{p.prog}: error: {e}\n")
    for alpha, v in out["by_step_size"].items():
        print(f"{out['preset']} step {alpha} (mean-loss {v['mean_loss_step']:g}):")
        for k in ("transductive", "non_transductive", "support_accuracy", "support_loss_mean_ce"):
            print(f"  {k:>22}: " + " ".join(f"{x:.3f}" for x in v[k]))
    sys.stdout.flush()


if __name__ == "__main__":
    main()
