"""One outer iteration of a population as a single CUDA graph, replayed once per iteration.

On a GPU the population's arithmetic is tiny (a 1-shot 5-way inner step of 3 members is about 3 MFLOP per
member), so an eager outer iteration is bound by launching its few thousand kernels from Python, not by the GPU.
:class:`OuterGraph` records the whole outer iteration of :meth:`Population.meta_step
<reptile.engine.population.Population.meta_step>` once (every task of the meta-batch, every inner step, the outer
update) and replays it with one call. What changes from iteration to iteration lives in static device buffers that
are filled before each replay:

* the meta-batch's images, labels and minibatch indices (drawn on the host from the same random streams as the
  eager step, so the numbers are the same runs', and sent without waiting for the device: the host prepares the next
  iteration while the graph runs);
* the inner Adam's step sizes ``-lr_t`` (they depend on Adam's step count, a host integer) and the outer step
  size ``eps`` (annealed), as device scalars instead of the constants an eager kernel would bake in.

The arithmetic is the eager step's, operation for operation; the Adam update ``w - lr_t m / (sqrt(v) + eps)`` is
written as a division, then a multiply-add by the device scalar, which gives the eager ``addcdiv`` values to
rounding (tested against the eager step in float64 on the CPU, where :meth:`OuterGraph.step` runs the same body
without recording, and on a GPU by ``.ci/device-session``).

Used when :attr:`Population.cuda_graphs <reptile.engine.population.Population.cuda_graphs>` is set: by default on
CUDA unless ``REPTILE_CUDA_GRAPHS=0``. With :attr:`Population.compile` (``REPTILE_COMPILE=1``) the inner step
inside it (the gradient and the optimiser's update, :meth:`OuterGraph._update`) is compiled by ``torch.compile``
first.
"""

from __future__ import annotations

import contextlib
import math
import os
import threading

import torch
from torch import Tensor

from . import memory


RECORDING = threading.Lock()  # one recording at a time in a process (threads of `campaign --streams` record theirs)


def own_stream(device: torch.device):
    """A context in which the calling thread's work goes to a CUDA stream of its own (``campaign --streams``);
    nothing off CUDA."""
    device = torch.device(device)
    return torch.cuda.stream(torch.cuda.Stream(device)) if device.type == "cuda" else contextlib.nullcontext()


def enabled(device: torch.device) -> bool:
    """Whether populations on ``device`` record their outer iteration as a CUDA graph by default: on CUDA, unless
    the environment sets ``REPTILE_CUDA_GRAPHS=0``."""
    return torch.device(device).type == "cuda" and os.environ.get("REPTILE_CUDA_GRAPHS", "1") != "0"


def compiling() -> bool:
    """Whether the recorded outer iteration compiles its inner step with ``torch.compile`` (TorchInductor fuses
    the elementwise work of batch norm, ReLU and the loss into a few kernels; the graph then replays those):
    with ``REPTILE_COMPILE=1``. Off by default: compiling takes a minute or so per configuration, and what it
    brings is measured by the benchmark's "compiled" row on a GPU."""
    return os.environ.get("REPTILE_COMPILE", "0") == "1"


class OuterGraph:
    """The outer iteration of ``pop`` with its changing inputs in static buffers (see the module's docstring).

    The population's weights and inner optimiser state become this object's buffers (``pop.phi`` and
    ``pop.inner.m``/``v`` are rebound to them), since a recorded graph reads and writes fixed addresses; loading a
    checkpoint into the population drops the graph (:meth:`Population.load_state_dict`)."""

    WARMUP = 2  # eager runs of the body on a side stream before recording (as torch.cuda.graphs asks)

    def __init__(self, pop, x: Tensor, y: Tensor, idx: Tensor):
        m = pop.cfg.meta
        self.loss_and_grad = pop.net.loss_and_grad
        self.update = self._update
        if pop.compile:  # the PyTorch path of the network (no C kernels; tested on a CPU) and the optimiser's update,
            from .network import Conv4  # compiled together for these shapes

            plain = Conv4(pop.net.n_way, use_fused=False, few_kernels=True)  # the GPU formulation, on a CPU too
            self.loss_and_grad = plain.loss_and_grad
            self.update = torch.compile(self._update, dynamic=False, fullgraph=True)
        self.adam = m.inner_optimizer == "adam"
        self.last_step = m.algorithm == "fomaml_last_step"
        self.lr, self.betas, self.meta_batch, self.inner_iters = m.inner_lr, m.inner_betas, m.meta_batch, m.inner_iters
        dev, dt = pop.phi.device, pop.phi.dtype
        # the changing inputs: (meta_batch, S, ...) images, labels, minibatch indices; the step sizes
        self.x, self.y, self.idx = torch.empty_like(x), torch.empty_like(y), torch.empty_like(idx)
        # a row of 4 per step: each step's scalar starts 16-byte aligned, as a compiled kernel's inputs should
        self.neg_lr = torch.zeros(self.meta_batch * self.inner_iters, 4, device=dev, dtype=dt)
        self.eps = torch.zeros(1, device=dev, dtype=dt)
        self.rows = torch.arange(x.shape[1], device=dev)[:, None]
        # the state the graph updates in place
        self.phi, self.m, self.v = pop.phi.clone(), pop.inner.m.clone(), pop.inner.v.clone()
        self.w, self.total = torch.empty_like(self.phi), torch.empty_like(self.phi)
        pop.phi, pop.inner.m, pop.inner.v = self.phi, self.m, self.v
        self.graph = None
        if dev.type == "cuda":
            self._record(x, y, idx)

    # --------------------------------------------------------------------------------------------- the body

    def _body(self) -> None:
        """One outer iteration on the static buffers: the arithmetic of ``Population.meta_step``."""
        w, phi, rows = self.w, self.phi, self.rows
        self.total.zero_()
        for j in range(self.meta_batch):
            x, y, idx = self.x[j], self.y[j], self.idx[j]
            w.copy_(phi)
            prev = None
            for k in range(self.inner_iters):
                batch = idx[:, k]
                if self.last_step and k == self.inner_iters - 1:
                    prev = w.clone()
                self.update(w, self.m, self.v, x[rows, batch], y[rows, batch],
                            self.neg_lr[j * self.inner_iters + k, :1])
            self.total += w if prev is None else phi + (w - prev)
        # phi <- phi + eps * (1/n) sum_i (W_i - phi)          (Algorithm 2)
        phi += (self.total / self.meta_batch - phi) * self.eps

    def _update(self, w: Tensor, m: Tensor, v: Tensor, x: Tensor, y: Tensor, neg_lr: Tensor) -> None:
        """One inner step, in place on ``w`` and the optimiser's moments ``m``, ``v``: the gradient on the minibatch
        ``x``, ``y``, then plain SGD or Adam (:func:`reptile.engine.population.adam_step`) with its step size
        ``-lr_t`` read from the device scalar ``neg_lr``."""
        _, g = self.loss_and_grad(w, x, y, loss=False)
        if not self.adam:
            w.add_(g, alpha=-self.lr)
            return
        b1, b2 = self.betas
        mom = g if b1 == 0 else m.mul_(b1).add_(g, alpha=1 - b1)
        v.mul_(b2).addcmul_(g, g, value=1 - b2)
        w.addcmul_(torch.div(mom, v.sqrt().add_(1e-8)), neg_lr)

    def _record(self, x: Tensor, y: Tensor, idx: Tensor) -> None:
        """Warm up on a side stream, restore the state, then record :meth:`_body` once. Threads of one process
        record one at a time (:data:`RECORDING`), and a recording forbids unsafe calls in its own thread only
        (``capture_error_mode="thread_local"``): other threads go on with their populations on their own streams."""
        with RECORDING:
            self._record_alone(x, y, idx)

    def _record_alone(self, x: Tensor, y: Tensor, idx: Tensor) -> None:
        saved = (self.phi.clone(), self.m.clone(), self.v.clone())
        self.x.copy_(x), self.y.copy_(y), self.idx.copy_(idx)
        side = torch.cuda.Stream(self.phi.device)
        side.wait_stream(torch.cuda.current_stream(self.phi.device))
        with torch.cuda.stream(side):
            for _ in range(self.WARMUP):
                self._body()
        torch.cuda.current_stream(self.phi.device).wait_stream(side)
        for t, s in zip((self.phi, self.m, self.v), saved):
            t.copy_(s)
        self.graph = torch.cuda.CUDAGraph()
        with torch.cuda.graph(self.graph, capture_error_mode="thread_local"):
            self._body()

    # ---------------------------------------------------------------------------------------------- a step

    def step(self, x: Tensor, y: Tensor, idx: Tensor, first_step: int, eps: float) -> None:
        """One outer iteration: the meta-batch's ``x`` ``(meta_batch, S, N, H, W, C)``, ``y`` ``(meta_batch, S,
        N)``, ``idx`` ``(meta_batch, S, inner_iters, inner_batch)``; Adam's steps are numbered from
        ``first_step``; ``eps`` is the outer step size. Replays the graph (CUDA) or runs the body (elsewhere)."""
        self.x.copy_(x), self.y.copy_(y), self.idx.copy_(idx)
        if self.adam:
            b1, b2 = self.betas
            steps = range(first_step, first_step + self.meta_batch * self.inner_iters)
            lrs = [-(self.lr * math.sqrt(1 - b2**t) / (1 - b1**t)) for t in steps]
            lrs = torch.tensor(lrs, dtype=torch.float64).to(self.neg_lr.dtype)[:, None]  # rounded as eager rounds them
            self.neg_lr[:, :1].copy_(memory.to_device(lrs, self.neg_lr.device))
        self.eps.fill_(eps)
        if self.graph is not None:
            self.graph.replay()
        else:
            self._body()
