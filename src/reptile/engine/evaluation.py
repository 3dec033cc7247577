"""Vectorised evaluation: many test tasks adapted at once, with the predictions of one at a time.

:func:`reptile.fewshot.evaluate` adapts a copy of ``phi`` to one task after another. Here the tasks of a chunk are
the members of a population: each gets its own copy of its run's ``phi`` and of the inner Adam state, its own
minibatches, and its own batch-norm statistics, so the predictions are those of the one-at-a-time loop
(``tests/test_engine.py``). The random draws are made in the loop's order, task after task from the run's generator
(the task, then its fine-tuning shuffles), before the arithmetic of the chunk runs; the draws are indices, made on
the host, and the chunk's images are gathered on the device from them (one copy of indices per chunk, not one per
task).

Several processes (:mod:`.distributed`) share an evaluation chunk by chunk: every rank draws every task, in the order
of one process (drawing is cheap, and the random streams stay those of one process), and adapts only the chunks of
its turn, each the chunk one process would adapt. Each task's numbers are thus computed from the same batch as in one
process, bit for bit (a batched matrix product's rounding may depend on an item's place in its batch, so splitting
the jobs of a chunk would not be), and every rank returns every task's accuracy (``tests/test_distributed.py``).
"""

from __future__ import annotations

import itertools
from typing import Sequence

import torch
from torch import Tensor

from ..fewshot import TaskSampler, to_float
from ..validate import DivergedError, check, is_int
from . import distributed, memory
from .network import Conv4
from .population import AdamState, adapt, draw_minibatches

CHUNK_IMAGES = 30  # on a CPU, tasks are adapted together in chunks of about this many images per inner step
PREDICT_IMAGES = 100  # and their queries predicted in forward passes of about this many images
CHUNK_GPU = 1024  # on a GPU, tasks per chunk at most: only many tasks per kernel fill the device
# and at most this many images per forward pass: the largest activation, the second layer's 3x3 patches, is then
# about 3.7 GB in float32 (a Figure 3 curve evaluation of 1,024 tasks, 133,120 images, ran out of an H100's memory
# with three processes on it)
CHUNK_GPU_IMAGES = 32_768


def default_chunk(device: torch.device, n_way: int, shots: int, eval_batch: int) -> int:
    """Tasks adapted together: on a CPU, as many as keep an inner step's minibatches near :data:`CHUNK_IMAGES`
    images, so that a step's activations stay in the core's cache (:func:`predict` then splits the non-transductive
    prediction's larger batches); on a GPU, :data:`CHUNK_GPU` tasks, or fewer when the non-transductive prediction's
    ``n_way`` groups of ``n_way * shots + 1`` images per task would pass more than :data:`CHUNK_GPU_IMAGES` images
    at once."""
    if device.type != "cpu":
        per_task = max(eval_batch, n_way * (n_way * shots + 1))
        return max(1, min(CHUNK_GPU, CHUNK_GPU_IMAGES // per_task))
    return max(1, CHUNK_IMAGES // eval_batch)


def _images(samplers: Sequence[TaskSampler], members: list[int], index: Tensor, shots: int) -> tuple[Tensor, Tensor]:
    """The training images ``(T, n_way * shots, H, W, C)`` and queries ``(T, n_way, H, W, C)`` (channels-last,
    float) of ``T`` tasks, task ``t`` of member ``members[t]`` drawn as ``index[t]`` ``(n_way, shots + 1)``
    (:meth:`TaskSampler.pick <reptile.fewshot.TaskSampler.pick>`, on the images' device); as :meth:`TaskSampler.eval_task
    <reptile.fewshot.TaskSampler.eval_task>` cuts them. One gather per run of consecutive tasks of a member."""
    parts, start = [], 0
    for s, run in itertools.groupby(members):
        n = len(list(run))
        parts.append(samplers[s].gather(index[start:start + n]))
        start += n
    x = Conv4.images(to_float(torch.cat(parts)))  # (T, n_way, shots + 1, H, W, C)
    return x[:, :, :shots].flatten(1, 2), x[:, :, shots]


def predict(net: Conv4, w: Tensor, train_x: Tensor, query_x: Tensor, transductive: bool) -> Tensor:
    """Logits ``(T, Q, n_way)`` of each task's queries ``query_x`` ``(T, Q, H, W, C)`` after adaptation.

    Transductive: a task's queries in one batch. Non-transductive: each query in a batch of its own with all of the
    task's training images ``train_x`` ``(T, n, H, W, C)`` (a group: batch norm normalises each group by itself). On
    a CPU the groups go through the network a few tasks and queries at a time, about :data:`PREDICT_IMAGES` images
    per pass (a 5-shot 20-way task alone makes 20 groups of 101 images, whose activations would not stay in cache);
    each group's logits are the same as in one pass."""
    T, Q = query_x.shape[:2]
    if transductive:
        return net.forward(w, query_x[:, None])[:, 0]
    n = train_x.shape[1]
    per = Q
    if w.device.type == "cpu":
        tasks = max(1, PREDICT_IMAGES // (n + 1))
        if T > tasks:  # a few tasks at a time (the members of w are independent)
            rows = net.rows(w)
            return torch.cat([predict(net, net.stack(rows[i: i + tasks]), train_x[i: i + tasks],
                                      query_x[i: i + tasks], False) for i in range(0, T, tasks)])
        per = max(1, PREDICT_IMAGES // (T * (n + 1)))
    out = []
    for j in range(0, Q, per):
        q = query_x[:, j: j + per]
        groups = torch.cat([train_x[:, None].expand(T, q.shape[1], *train_x.shape[1:]), q[:, :, None]], dim=2)
        out.append(net.forward(w, groups)[:, :, n])
    return out[0] if len(out) == 1 else torch.cat(out, 1)


def evaluate(net: Conv4, phi: Tensor, state: AdamState, samplers: Sequence[TaskSampler],
             generators: Sequence[torch.Generator], n_way: int, shots: int, eval_iters: int, eval_batch: int,
             n_tasks: int, lr: float, betas: tuple[float, float], dtype: torch.dtype = torch.float32,
             chunk: int | None = None, progress=None, share: tuple[int, int] = (0, 1),
             optimizer: str = "adam") -> list[dict[str, list[float]]]:
    """The accuracy on ``n_tasks`` test tasks of each member of the population ``phi`` (S * P,), with the inner
    Adam ``state`` the members carry: for member ``s``, tasks from ``samplers[s]`` drawn with ``generators[s]``.
    Returns, per member, ``{"non_transductive": [...], "transductive": [...]}`` (one accuracy per task), as
    :func:`reptile.fewshot.evaluate` does for one run. ``progress`` (a tqdm bar or None) is advanced per task.
    ``optimizer``: the inner optimiser the tasks are adapted with, ``"adam"`` or ``"sgd"`` (:func:`.adapt`).

    ``share=(rank, world)``: this process is ``rank`` of ``world`` processes evaluating the same population with
    the same generators (every rank calls this with the same arguments); it adapts the chunks ``rank``,
    ``rank + world``, ... of the ``S * n_tasks`` tasks (member by member, ``chunk`` at a time), and the ranks
    exchange their accuracies, so every rank returns what one process returns."""
    rank, world = share
    check(is_int(world) and world >= 1 and is_int(rank) and 0 <= rank < world,
          f"share must be (rank, world) with 0 <= rank < world, got {share!r}")
    if chunk is None:
        chunk = default_chunk(phi.device, n_way, shots, eval_batch)
    check(is_int(chunk) and chunk >= 1, f"chunk must be an integer >= 1, got {chunk!r}")
    S = len(samplers)
    check(len(generators) == S, f"{len(generators)} generators for {S} members")
    for s in samplers:
        s.check(n_way, shots, "shots", queries=1)
    check(is_int(eval_batch) and eval_batch >= 1, f"eval_batch must be an integer >= 1, got {eval_batch!r} (a batch "
          f"larger than a task's {n_way * shots} training samples holds them more than once, as the authors' code "
          f"does)")
    rows, m_rows, v_rows = (net.rows(t) for t in (phi, state.m, state.v))
    device = phi.device
    jobs = [(s, t) for s in range(S) for t in range(n_tasks)]  # member by member, in each member's draw order
    done: list[tuple[int, float, float]] = []  # (job, non-transductive, transductive) of the chunks adapted here
    failed = None  # with several ranks, a rank's DivergedError is raised on every rank after the exchange
    for c, start in enumerate(range(0, len(jobs), chunk)):
        part = jobs[start: start + chunk]
        index, idx = [], []
        for s, _ in part:  # every rank draws every task, so each generator runs as in one process
            # the draws of TaskSampler.eval_task (shots + 1 images of each class, the last one the query), then the
            # task's fine-tuning minibatches, from the member's generator
            index.append(samplers[s].pick(n_way, shots + 1, generators[s]))
            idx.append(draw_minibatches(n_way * shots, eval_batch, eval_iters, [generators[s]])[0])
        if c % world == rank:
            try:
                members = [s for s, _ in part]
                x, qxs = _images(samplers, members, memory.to_device(torch.stack(index), device), shots)
                x, qxs = x.to(dtype), qxs.to(dtype)
                T = len(part)
                ys = TaskSampler.labels(n_way, shots, device).flatten().expand(T, -1)
                qys = TaskSampler.labels(n_way, 1, device).flatten().expand(T, -1)
                which = memory.to_device(torch.tensor(members), device)
                w = net.stack(rows[which])
                st = AdamState(net.stack(m_rows[which]), net.stack(v_rows[which]), state.step)
                adapt(net, w, st, x, ys, memory.to_device(torch.stack(idx), device), lr, betas, optimizer=optimizer)
                accs = {}
                with torch.no_grad():
                    for mode, trans in (("non_transductive", False), ("transductive", True)):
                        logits = predict(net, w, x, qxs, trans)
                        if not bool(torch.isfinite(logits).all()):
                            raise DivergedError("an evaluation task's adapted network gave outputs that are not finite "
                                                "(NaN or inf); lower the inner step size (inner_lr)")
                        accs[mode] = (logits.argmax(-1) == qys).float().mean(1).tolist()  # as the solo loop rounds
            except DivergedError as e:
                if world == 1:
                    raise
                failed = str(e)
                break
            done += zip(range(start, start + len(part)), accs["non_transductive"], accs["transductive"])
        if progress is not None:  # every chunk, adapted here or by another rank meanwhile
            progress.update(len(part))
    shares = [(failed, done)]
    if world > 1:
        shares = distributed.all_gather_objects(shares[0])
        check(len(shares) == world, f"share={share!r}, but the process group has {len(shares)} ranks")
    for e, _ in shares:
        if e is not None:
            raise DivergedError(e)
    out = [{"non_transductive": [None] * n_tasks, "transductive": [None] * n_tasks} for _ in range(S)]
    for _, part in shares:
        for j, nt, tr in part:
            s, t = divmod(j, n_tasks)
            out[s]["non_transductive"][t], out[s]["transductive"][t] = nt, tr
    check(all(None not in o[mode] for o in out for mode in o), "some evaluation tasks were adapted by no rank")
    return out
