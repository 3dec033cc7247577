"""Vectorised evaluation: many test tasks adapted at once, with the predictions of one at a time.

:func:`reptile.fewshot.evaluate` adapts a copy of ``phi`` to one task after another. Here the tasks of a chunk are
the members of a population: each gets its own copy of its run's ``phi`` and of the inner Adam state, its own
minibatches, and its own batch-norm statistics, so the predictions are those of the one-at-a-time loop
(``tests/test_engine.py``). The random draws are made in the loop's order, task after task from the run's generator
(the task, then its fine-tuning shuffles), before the arithmetic of the chunk runs.
"""

from __future__ import annotations

from typing import Sequence

import torch
from torch import Tensor

from ..fewshot import TaskSampler
from ..validate import DivergedError, check
from .network import Conv4
from .population import AdamState, adapt, draw_minibatches

CHUNK = 64  # tasks adapted together (activations of about 15 MB per layer for 1-shot 5-way)


def predict(net: Conv4, w: Tensor, train_x: Tensor, query_x: Tensor, transductive: bool) -> Tensor:
    """Logits ``(T, Q, n_way)`` of each task's queries ``query_x`` ``(T, Q, H, W, C)`` after adaptation.

    Transductive: a task's queries in one batch. Non-transductive: each query in a batch of its own with all of the
    task's training images ``train_x`` ``(T, n, H, W, C)`` (a group: batch norm normalises each group by itself)."""
    T, Q = query_x.shape[:2]
    if transductive:
        return net.forward(w, query_x[:, None])[:, 0]
    n = train_x.shape[1]
    groups = torch.cat([train_x[:, None].expand(T, Q, *train_x.shape[1:]), query_x[:, :, None]], dim=2)
    return net.forward(w, groups)[:, :, n]


def evaluate(net: Conv4, phi: Tensor, state: AdamState, samplers: Sequence[TaskSampler],
             generators: Sequence[torch.Generator], n_way: int, shots: int, eval_iters: int, eval_batch: int,
             n_tasks: int, lr: float, betas: tuple[float, float], dtype: torch.dtype = torch.float32,
             chunk: int = CHUNK, progress=None) -> list[dict[str, list[float]]]:
    """The accuracy on ``n_tasks`` test tasks of each member of the population ``phi`` (S * P,), with the inner
    Adam ``state`` the members carry: for member ``s``, tasks from ``samplers[s]`` drawn with ``generators[s]``.
    Returns, per member, ``{"non_transductive": [...], "transductive": [...]}`` (one accuracy per task), as
    :func:`reptile.fewshot.evaluate` does for one run. ``progress`` (a tqdm bar or None) is advanced per task."""
    S = len(samplers)
    check(len(generators) == S, f"{len(generators)} generators for {S} members")
    for s in samplers:
        s.check(n_way, shots, "shots", queries=1)
    check(1 <= eval_batch <= n_way * shots,
          f"eval_batch={eval_batch} does not fit a task's {n_way * shots} training samples; allowed: 1..{n_way * shots}")
    rows, m_rows, v_rows = (net.rows(t) for t in (phi, state.m, state.v))
    device = phi.device
    out = [{"non_transductive": [], "transductive": []} for _ in range(S)]
    jobs = [(s, t) for s in range(S) for t in range(n_tasks)]  # member by member, in each member's draw order
    for start in range(0, len(jobs), chunk):
        part = jobs[start: start + chunk]
        members = torch.tensor([s for s, _ in part], device=device)
        xs, ys, qx, qy, idx = [], [], [], [], []
        for s, _ in part:
            task = samplers[s].eval_task(n_way, shots, generators[s], device)
            xs.append(task.x), ys.append(task.y), qx.append(task.query_x), qy.append(task.query_y)
            idx.append(draw_minibatches(len(task), eval_batch, eval_iters, [generators[s]])[0])
        x = Conv4.images(torch.stack(xs)).to(dtype)
        w = net.stack(rows[members])
        st = AdamState(net.stack(m_rows[members]), net.stack(v_rows[members]), state.step)
        adapt(net, w, st, x, torch.stack(ys), torch.stack(idx).to(device), lr, betas)
        qxs, qys = Conv4.images(torch.stack(qx)).to(dtype), torch.stack(qy)
        with torch.no_grad():
            for mode, trans in (("non_transductive", False), ("transductive", True)):
                logits = predict(net, w, x, qxs, trans)
                if not bool(torch.isfinite(logits).all()):
                    raise DivergedError("an evaluation task's adapted network gave outputs that are not finite (NaN "
                                        "or inf); lower the inner step size (inner_lr)")
                accs = (logits.argmax(-1) == qys).float().mean(1).tolist()  # as the solo loop rounds them
                for (s, _), a in zip(part, accs):
                    out[s][mode].append(a)
        if progress is not None:
            progress.update(len(part))
    return out
