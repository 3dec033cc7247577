"""A MAML run's test-time scoring: the accuracy of each test task after 0, 1, ..., k inner steps on its support
set, in both prediction modes (:func:`score_steps`), over the test tasks drawn in fixed chunks (:func:`evaluate`,
:func:`test_task_chunks`), and their summary with the protocol's interval (:func:`summarise`)."""

from __future__ import annotations

import math
from typing import Any

import torch

from ..fewshot import predict
from ..stats import mean_ci95
from ..validate import DivergedError
from .algorithm import MAMLConfig, MAMLLearner, TaskBatch, inner_adapt, inner_mask
from .population import EngineNet
from .presets import MODES, MAMLExperimentConfig
from .protocol import draw_tasks

EVAL_CHUNK = 25  # test tasks adapted together (vmap); fixed, so that the numbers do not depend on the machine


def score_steps(net, phi, tasks: TaskBatch, cfg: MAMLConfig, steps: int,
                non_transductive: bool = True, engine: EngineNet | None = None) -> dict[str, torch.Tensor]:
    """Query accuracy of each task after 0, 1, ..., ``steps`` inner SGD steps on its support set (``phi``
    untouched), ``(tasks, steps + 1)`` per mode: ``transductive`` (the query batch alone, its own batch statistics:
    Finn's) and ``non_transductive`` (each query in a batch with the support set, Reptile's). All tasks at once
    (vmap), or, given the run's ``engine`` network, as populations on it (:func:`reptile.maml.population.score_steps`,
    the same numbers to rounding); a non-finite output raises :class:`DivergedError`."""
    if engine is not None:
        t, n, ok = engine.score_steps(phi, tasks, cfg, steps, non_transductive)
        return _checked(t, n, ok[None], cfg)
    mask = inner_mask(net, cfg.adapt_norm)
    phi = tuple(p.detach() for p in phi)

    def one(sx, sy, qx, qy):
        w, out_t, out_n, ok = phi, [], [], []
        for s in range(steps + 1):
            if s:
                w = inner_adapt(net, w, (sx, sy), cfg.inner_step, 1, cfg.loss_scale, first_order=True,
                                shots=cfg.shots, adapt=mask)
                w = tuple(t.detach() for t in w)
            lt = predict(net, w, sx, qx, transductive=True)
            ln = predict(net, w, sx, qx, transductive=False) if non_transductive else lt
            out_t.append((lt.argmax(-1) == qy).to(lt.dtype).mean())
            out_n.append((ln.argmax(-1) == qy).to(ln.dtype).mean())
            ok.append(torch.isfinite(lt).all() & torch.isfinite(ln).all())
        return torch.stack(out_t), torch.stack(out_n), torch.stack(ok)

    t, n, ok = torch.vmap(one)(*tasks)
    return _checked(t, n if non_transductive else None, ok, cfg)


def _checked(t, n, ok, cfg: MAMLConfig) -> dict[str, torch.Tensor]:
    """The scores by mode, once every output was finite (``ok`` ``(tasks or 1, steps + 1)``)."""
    if not bool(ok.all()):
        first = int((~ok).any(0).nonzero()[0])
        raise DivergedError(f"evaluation: the adapted network's outputs are not finite (NaN or inf) after {first} "
                            f"inner steps; lower inner_step ({cfg.inner_step})")
    return {"transductive": t, "non_transductive": n} if n is not None else {"transductive": t}


def test_task_chunks(images, cfg: MAMLExperimentConfig, n_tasks: int, generator: torch.Generator, rotate: bool,
                     device=None):
    """The test tasks of an evaluation, in the order and chunks (:data:`EVAL_CHUNK`) it draws them from
    ``generator`` (each chunk: its tasks' picks, then their rotations): whoever draws through here sees the same
    tasks (the evaluation, :mod:`reptile.maml.probe`)."""
    done = 0
    while done < n_tasks:
        n = min(EVAL_CHUNK, n_tasks - done)
        yield draw_tasks(images, cfg.n_way, cfg.shots, cfg.eval_queries, [generator] * n,
                         generator if rotate else None, device)
        done += n


def evaluate(learner: MAMLLearner, images, cfg: MAMLExperimentConfig, n_tasks: int, generator: torch.Generator,
             rotate: bool, progress=None) -> dict[str, list[list[float]]]:
    """Per-task accuracies after each test step 0..``eval_inner_steps`` on ``n_tasks`` tasks drawn in order from
    ``generator`` (picks and rotations), in chunks of :data:`EVAL_CHUNK`: ``{mode: [[acc at step s] per task]}``."""
    modes = MODES if cfg.non_transductive else MODES[:1]
    out: dict[str, list[list[float]]] = {m: [] for m in modes}
    done = 0
    for tasks in test_task_chunks(images, cfg, n_tasks, generator, rotate, learner.device):
        n = tasks.support_x.shape[0]
        tasks = tasks._replace(support_x=tasks.support_x.to(learner.phi[0].dtype),
                               query_x=tasks.query_x.to(learner.phi[0].dtype))
        with torch.no_grad():
            acc = score_steps(learner.net, learner.phi, tasks, learner.cfg, cfg.eval_inner_steps,
                              cfg.non_transductive, learner.engine)
        for m in modes:
            out[m].extend(acc[m].double().cpu().tolist())
        done += n
        if progress is not None:
            progress(done)
    return out


def summarise(per_task: list[list[float]], protocol: str) -> dict[str, Any]:
    """Mean accuracy and its 95% interval after each test step: Finn's ``1.96 * std / sqrt(n)`` (``np.std``,
    ddof 0) under their protocol, Student's t over tasks (:func:`reptile.stats.mean_ci95`) under Reptile's."""
    n = len(per_task)
    steps = len(per_task[0])
    means, halves = [], []
    for s in range(steps):
        v = [row[s] for row in per_task]
        if protocol == "finn":
            m = sum(v) / n
            sd = math.sqrt(sum((x - m) ** 2 for x in v) / n)
            h = 1.96 * sd / math.sqrt(n)
        else:
            m, h = mean_ci95(v)
        means.append(m)
        halves.append(h)
    return {"accuracy": means[-1], "ci95": halves[-1], "tasks": n, "accuracy_per_step": means,
            "ci95_per_step": halves,
            "interval": "1.96 x std / sqrt(tasks) (Finn's)" if protocol == "finn" else "Student's t 95% over tasks"}
