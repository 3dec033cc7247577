"""A population of independent Reptile runs of one few-shot configuration, trained in lockstep.

Member ``s`` of the population is exactly the solo run of its seed (:func:`reptile.experiments.fewshot.run`): the same
initial weights, the same tasks, the same minibatch shuffles, drawn from the same streams (:mod:`reptile.seeding`),
so each member gives the numbers of its solo run to float tolerance (``tests/test_engine.py``). What differs is how
the arithmetic is laid out: every inner step of every member is one call of :class:`~.network.Conv4` on a batch of
S minibatches, and the inner Adam and the outer update act on one flat buffer for all members and all layers.

On a CPU the members go through an outer iteration in groups (:meth:`Population.member_groups`), each group with a
buffer of its own: as many members as keep a group's minibatches within :data:`CPU_GROUP_IMAGES` images. Larger
groups make larger matrix products; smaller ones keep a step's activations in the core's cache. Timed on one thread
with the campaign's population of 3, members one at a time were faster than all three together from inner batches of
20 images up, slower below 15 (``python -m reptile.bench --versus REV`` times a change of this kind). On one thread
(the campaign's workers) a member's numbers are the same bit for bit in any grouping; on several, a batched product
may round an item differently with the batch's size, so they agree to float tolerance.

One outer iteration (Algorithm 2, the tasks of a meta-batch one after another, Adam's moments running on):

    for each of the meta_batch tasks:          W = phi;  inner_iters Adam steps on minibatches of the task
    phi <- phi + eps * (1/n) sum_i (W_i - phi)                         (all S members at once)

On a GPU the whole outer iteration is recorded once as a CUDA graph and replayed (:mod:`.graphs`), with the same
numbers as the eager step, and the host never waits for the device within an iteration: the tasks' random draws are
made on the host and sent as one asynchronous copy of indices into the images resident on the device
(:func:`.memory.to_device`), and the divergence check reads the weights only every :data:`FINITE_EVERY_GPU`
iterations. So the host prepares iteration ``t + 1`` while the GPU runs iteration ``t``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Sequence

import torch
from torch import Tensor

from .. import seeding
from ..config import FewShotConfig
from ..fewshot import FunctionalNet, TaskSampler, conv4, to_float
from ..schedule import outer_step_size
from ..tasks import minibatch_indices
from ..train import WEIGHT_LIMIT
from ..validate import DivergedError, check, is_int
from . import fused, graphs, memory
from .network import Conv4

FORMAT = 1  # of the population checkpoint (state_dict)
CPU_GROUP_IMAGES = 30  # on a CPU, members run together while their minibatches hold at most this many images
FINITE_EVERY_GPU = 100  # on CUDA: outer iterations between the divergence check's reads of the weights (a read waits)


def supports(cfg: FewShotConfig) -> bool:
    """Whether the population engine runs ``cfg``: the Omniglot network, Reptile or first-order MAML (the authors'
    last-step form), an inner Adam (Tables 1-2) or plain SGD (Figure 3), and the plain outer step."""
    m = cfg.meta
    return (cfg.dataset == "omniglot" and m.algorithm in ("reptile", "fomaml_last_step")
            and m.inner_optimizer in ("adam", "sgd") and m.outer_optimizer == "sgd")


@dataclass
class AdamState:
    """The inner Adam's state for a population: moments laid out like the weights, one step count for all."""

    m: Tensor
    v: Tensor
    step: int = 0

    @classmethod
    def zeros(cls, like: Tensor) -> "AdamState":
        return cls(torch.zeros_like(like), torch.zeros_like(like), 0)

    def clone(self) -> "AdamState":
        return AdamState(self.m.clone(), self.v.clone(), self.step)


def adam_step(w: Tensor, g: Tensor, state: AdamState, lr: float, betas: tuple[float, float],
              eps: float = 1e-8) -> None:
    """One Adam step in place on the flat weights ``w`` (TensorFlow's form, as :class:`reptile.optim.Adam`):
    ``lr_t = lr sqrt(1 - b2^t) / (1 - b1^t)``, ``w <- w - lr_t m / (sqrt(v) + eps)``. On a CPU with the fused
    kernels and ``b1 = 0`` (the few-shot runs) in one pass over memory (:func:`.fused.adam_b1zero`)."""
    b1, b2 = betas
    state.step += 1
    t = state.step
    lr_t = lr * math.sqrt(1 - b2**t) / (1 - b1**t)
    if b1 == 0 and fused.usable(w) and w.is_contiguous() and g.is_contiguous() and state.v.is_contiguous():
        fused.adam_b1zero(w, g, state.v, b2, -lr_t, eps)
        return
    if b1 == 0:  # the few-shot runs: the first moment is the gradient itself (m is left as it is, unused)
        m = g
    else:
        m = state.m.mul_(b1).add_(g, alpha=1 - b1)
    state.v.mul_(b2).addcmul_(g, g, value=1 - b2)
    w.addcdiv_(m, state.v.sqrt().add_(eps), value=-lr_t)


def adapt(net: Conv4, w: Tensor, state: AdamState, x: Tensor, y: Tensor, idx: Tensor, lr: float,
          betas: tuple[float, float], last_step: bool = False, optimizer: str = "adam", ws: dict | None = None):
    """``W = SGD(L_tau, phi, k)`` for every member at once, in place on ``w`` (S * P,) and ``state``.

    ``x`` ``(S, N, H, W, C)`` channels-last and ``y`` ``(S, N)`` hold each member's task; ``idx`` ``(S, k, B)`` its
    minibatches. The inner optimiser is Adam, or plain ``w <- w - lr g`` with ``optimizer="sgd"`` (then ``state``
    only counts steps). With ``last_step``, returns the last step's weight change ``W_k - W_{k-1}``.

    On a CPU the steps share one workspace of buffers (:meth:`.Conv4.loss_and_grad`): ``ws``, kept by the caller
    across calls, or one of this call's own."""
    S, N = x.shape[:2]
    rows = torch.arange(S, device=x.device)[:, None]
    prev = None
    if ws is None and x.device.type == "cpu":
        ws = {}
    if x.device.type == "cpu":  # each step's minibatches by one index_select over all members' images (the same
        # rows as x[rows, batch], in a fraction of the time of PyTorch's general advanced indexing on a CPU)
        images, labels = x.reshape(S * N, *x.shape[2:]), y.reshape(S * N)
        at = idx + N * rows[:, :, None]  # (S, k, B): each index into the flattened images

        def minibatch(k: int) -> tuple[Tensor, Tensor]:
            i = at[:, k].reshape(-1)
            return images.index_select(0, i).view(S, -1, *x.shape[2:]), labels.index_select(0, i).view(S, -1)
    else:
        def minibatch(k: int) -> tuple[Tensor, Tensor]:
            return x[rows, idx[:, k]], y[rows, idx[:, k]]
    for k in range(idx.shape[1]):
        _, g = net.loss_and_grad(w, *minibatch(k), loss=False, ws=ws)
        if last_step and k == idx.shape[1] - 1:
            prev = w.clone()
        if optimizer == "sgd":
            w.add_(g, alpha=-lr)
            state.step += 1
        else:
            adam_step(w, g, state, lr, betas)
    return None if prev is None else w - prev


def draw_minibatches(n: int, batch: int, iters: int, generators: Sequence[torch.Generator]) -> Tensor:
    """``(S, iters, batch)`` minibatch indices, member ``s`` drawn from ``generators[s]`` exactly as the solo
    inner loop draws them (:func:`reptile.tasks.minibatch_indices`)."""
    return torch.stack([torch.stack(list(minibatch_indices(n, batch, iters, g))) for g in generators])


@dataclass
class Population:
    """S runs of ``cfg``, one per seed, trained in lockstep on ``device``.

    ``train_images[s]`` is member ``s``'s training split (classes, images, C, H, W), uint8; Omniglot's character
    split depends on the seed, so each member has its own.
    """

    cfg: FewShotConfig
    seeds: list[int]
    train_images: list[Tensor]
    device: torch.device = field(default_factory=lambda: torch.device("cpu"))
    dtype: torch.dtype = torch.float32
    iteration: int = 0
    cuda_graphs: bool | None = None  # record the outer iteration as one CUDA graph (None: on CUDA, see .graphs)
    compile: bool | None = None  # with cuda_graphs: torch.compile the inner step (None: REPTILE_COMPILE=1)
    finite_every: int | None = None  # iterations between reads of the weights by check_finite (None: 1, CUDA 100)
    member_group: int | None = None  # members whose inner loops run together off a graph (None: see member_groups)

    def __post_init__(self) -> None:
        check(supports(self.cfg), f"the population engine does not run {self.cfg.name!r} (dataset "
                                  f"{self.cfg.dataset}, algorithm {self.cfg.meta.algorithm}); run it solo")
        check(len(self.seeds) >= 1 and len(set(self.seeds)) == len(self.seeds),
              f"a population needs distinct seeds, got {self.seeds!r}")
        check(len(self.train_images) == len(self.seeds),
              f"{len(self.train_images)} training splits for {len(self.seeds)} seeds")
        check(self.finite_every is None or (is_int(self.finite_every) and self.finite_every >= 1),
              f"finite_every must be None or an integer >= 1, got {self.finite_every!r}")
        check(self.member_group is None or (is_int(self.member_group) and self.member_group >= 1),
              f"member_group must be None or an integer >= 1, got {self.member_group!r}")
        memory.keep_freed_memory()
        self.net = Conv4(self.cfg.n_way)
        module = FunctionalNet(conv4(self.cfg.dataset, self.cfg.n_way))
        members = [module.init_params(seeding.generator(s, "init")) for s in self.seeds]
        self.phi = self.net.population(members).to(self.device, self.dtype)
        self.inner = AdamState.zeros(self.phi)
        self.samplers = [TaskSampler(im.to(self.device)) for im in self.train_images]
        c = self.cfg
        self.labels = TaskSampler.labels(c.n_way, c.train_shots, self.device).flatten()  # every task's y
        self.task_generators = [seeding.generator(s, "tasks") for s in self.seeds]
        self.inner_generators = [seeding.generator(s, "inner") for s in self.seeds]
        if self.cuda_graphs is None:
            self.cuda_graphs = graphs.enabled(self.device)
        if self.compile is None:
            self.compile = graphs.compiling() and self.cuda_graphs
        check(not self.compile or self.cuda_graphs, "compile=True compiles the recorded outer iteration's inner step: "
                                                    "it needs cuda_graphs=True (on a CPU, for tests)")
        if self.finite_every is None:
            self.finite_every = FINITE_EVERY_GPU if self.device.type == "cuda" else 1
        self._graph: graphs.OuterGraph | None = None
        self._workspace: dict = {}  # the inner steps' buffers on a CPU (adapt), kept from task to task
        self._peak: Tensor | None = None  # each member's largest weight magnitude since the last read (device)
        self._peak_since = 0

    @property
    def size(self) -> int:
        return len(self.seeds)

    def outer_step_size(self) -> float:
        m = self.cfg.meta
        return outer_step_size(m.outer_step, m.anneal, self.iteration, m.outer_iters)

    def sample_tasks(self) -> tuple[Tensor, Tensor]:
        """The meta-batch of every member: images ``x`` ``(meta_batch, S, N, H, W, C)`` and labels ``y``
        ``(meta_batch, S, N)``, each member's tasks drawn from its ``tasks`` stream as the solo run draws them
        (:meth:`TaskSampler.training_task <reptile.fewshot.TaskSampler.training_task>`: all tasks of the meta-batch
        first, the same images in the same order with the same labels). The draws are made on the host; the images
        are gathered on the device, after one copy of their indices."""
        c, mb = self.cfg, self.cfg.meta.meta_batch
        index = torch.empty(self.size, mb, c.n_way * c.train_shots, dtype=torch.long)
        for s, (sampler, g) in enumerate(zip(self.samplers, self.task_generators)):
            for j in range(mb):
                index[s, j] = sampler.pick(c.n_way, c.train_shots, g).flatten()
        index = memory.to_device(index, self.device)
        x = torch.stack([sampler.gather(i) for sampler, i in zip(self.samplers, index)], 1)  # (mb, S, N, C, H, W)
        return Conv4.images(to_float(x)).to(self.dtype), self.labels.expand(mb, self.size, -1)

    def member_groups(self) -> list[range]:
        """The members whose inner loops run together, in order: all of them at once on a GPU (and in a recorded
        graph); on a CPU groups of :attr:`member_group`, by default as many members as keep a group's minibatches
        within :data:`CPU_GROUP_IMAGES` images (at least one). A member's numbers do not depend on its group (on one
        thread bit for bit; on several to float tolerance): the members are independent."""
        size = self.member_group
        if size is None:
            size = self.size if self.device.type != "cpu" else max(1, CPU_GROUP_IMAGES // self.cfg.meta.inner_batch)
        return [range(i, min(i + size, self.size)) for i in range(0, self.size, size)]

    def meta_step(self) -> float:
        """One outer iteration of every member. Returns the outer step size used."""
        m = self.cfg.meta
        eps = self.outer_step_size()
        if self.cuda_graphs:
            return self._graphed_meta_step(eps)
        tasks = list(zip(*self.sample_tasks()))
        # every task's minibatches, drawn first: each member draws from its own stream, task after task, as solo
        idx = [memory.to_device(draw_minibatches(x.shape[1], m.inner_batch, m.inner_iters, self.inner_generators),
                                self.device) for x, _ in tasks]
        groups = self.member_groups()
        if len(groups) == 1:
            self._outer_step(self.phi, self.inner, tasks, idx, eps)
        else:  # each group through the whole meta-batch in turn, in a buffer of its own (its working set in cache)
            adam_m = m.inner_optimizer == "adam" and m.inner_betas[0] != 0  # with beta1 = 0 the first moment is unused
            rows = {k: self.net.rows(t) for k, t in (("phi", self.phi), ("v", self.inner.v)) +
                    ((("m", self.inner.m),) if adam_m else ())}
            out: dict[str, list[Tensor]] = {k: [] for k in rows}
            start = self.inner.step
            for g in groups:
                phi = self.net.stack(rows["phi"][g.start: g.stop])
                state = AdamState(self.net.stack(rows["m"][g.start: g.stop]) if adam_m else torch.zeros_like(phi),
                                  self.net.stack(rows["v"][g.start: g.stop]), start)
                self._outer_step(phi, state, [(x[g.start: g.stop], y[g.start: g.stop]) for x, y in tasks],
                                 [i[g.start: g.stop] for i in idx], eps)
                for k, t in (("phi", phi), ("v", state.v), ("m", state.m)):
                    if k in out:
                        out[k].append(self.net.rows(t))
            self.phi = self.net.stack(torch.cat(out["phi"]))
            self.inner.v = self.net.stack(torch.cat(out["v"]))
            if adam_m:
                self.inner.m = self.net.stack(torch.cat(out["m"]))
            self.inner.step = state.step
        self.iteration += 1
        return eps

    def _outer_step(self, phi: Tensor, state: AdamState, tasks, idx: list[Tensor], eps: float) -> None:
        """Algorithm 2's outer iteration, in place on the population buffer ``phi`` and ``state``, from each task's
        ``(x, y)`` and minibatch indices (the members of ``phi``)."""
        m = self.cfg.meta
        total = torch.zeros_like(phi)
        for (x, y), i in zip(tasks, idx):
            w = phi.clone()
            step = adapt(self.net, w, state, x, y, i, m.inner_lr, m.inner_betas,
                         last_step=m.algorithm == "fomaml_last_step", optimizer=m.inner_optimizer,
                         ws=self._workspace if self.device.type == "cpu" else None)
            # first-order MAML (the authors' form) moves phi along the last step only: "W" = phi + (W_k - W_{k-1})
            total += w if step is None else phi + step
        # phi <- phi + eps * (1/n) sum_i (W_i - phi)          (Algorithm 2)
        phi += eps * (total / m.meta_batch - phi)

    def _graphed_meta_step(self, eps: float) -> float:
        """:meth:`meta_step` as one replay of a recorded outer iteration (:class:`.graphs.OuterGraph`): the same
        tasks and minibatches, drawn here on the host, then copied into the graph's buffers."""
        m = self.cfg.meta
        x, y = self.sample_tasks()
        idx = memory.to_device(torch.stack([draw_minibatches(x.shape[2], m.inner_batch, m.inner_iters,
                                                             self.inner_generators) for _ in range(len(x))]),
                               self.device)
        if self._graph is None:
            self._graph = graphs.OuterGraph(self, x, y, idx)
        self._graph.step(x, y, idx, self.inner.step + 1, eps)
        self.inner.step += m.meta_batch * m.inner_iters
        self.iteration += 1
        return eps

    def check_finite(self, now: bool = False) -> None:
        """Stop if any member's weights stopped being finite or grew beyond :data:`reptile.train.WEIGHT_LIMIT`, naming it.

        Called after every outer iteration. Reading the weights makes the host wait for the device, so every
        iteration only folds each member's largest weight magnitude into a running maximum on the device, and the
        host reads it every :attr:`finite_every` iterations (1 on a CPU, where reading costs nothing; 100 on CUDA)
        and whenever ``now`` (before a checkpoint or a result is written). A diverged run then stops at most that
        many iterations late, and the error names the iterations in which it diverged."""
        largest = self.net.rows(self.phi).abs().amax(1)
        self._peak = largest if self._peak is None else torch.maximum(self._peak, largest)
        if not now and self.iteration % self.finite_every:
            return
        peak, since, self._peak, self._peak_since = self._peak, self._peak_since, None, self.iteration
        bad = [(s, float(v)) for s, v in zip(self.seeds, peak.tolist()) if not v <= WEIGHT_LIMIT]
        if bad:
            s, v = bad[0]
            what = "became NaN or infinite" if not math.isfinite(v) else \
                f"grew beyond {WEIGHT_LIMIT:.0e} in magnitude (largest {v:.2e})"
            when = f"at outer iteration {self.iteration}" if self.iteration - since <= 1 else \
                f"between outer iterations {since} and {self.iteration}"
            m = self.cfg.meta
            raise DivergedError(
                f"{self.cfg.name} seed {s}: the meta-parameters {what} {when}: the run diverged and no result is "
                f"written. Lower the inner step size (inner_lr, now {m.inner_lr}) or the outer step size "
                f"(outer_step, now {m.outer_step})")

    # -- members as solo learners see them
    def member_params(self, i: int) -> tuple[Tensor, ...]:
        """Member ``i``'s meta-parameters as the module's parameter tuple."""
        return self.net.unpack(self.net.rows(self.phi)[i])

    # -- checkpointing
    def state_dict(self) -> dict[str, Any]:
        """Everything a resumed population needs, compact: float32 weights, the inner optimiser's moments that
        are in use (Adam's second moment; its first only with ``beta1 > 0``; none for plain SGD), the step count,
        the random generators' states, the iteration."""
        m = self.cfg.meta
        adam = m.inner_optimizer == "adam"

        def keep(t: Tensor, used: bool):
            return t.detach().float().cpu().clone() if used else None

        return {"format": FORMAT, "iteration": self.iteration, "seeds": list(self.seeds),
                "phi": keep(self.phi, True), "m": keep(self.inner.m, adam and m.inner_betas[0] != 0),
                "v": keep(self.inner.v, adam), "step": self.inner.step,
                "task_generators": [g.get_state() for g in self.task_generators],
                "inner_generators": [g.get_state() for g in self.inner_generators],
                "config": self.cfg.to_dict()}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        check(state.get("format") == FORMAT, f"population checkpoint format {state.get('format')!r}, expected {FORMAT}")
        check(state["seeds"] == list(self.seeds), f"checkpoint of seeds {state['seeds']}, population of {self.seeds}")
        check(state["config"] == self.cfg.to_dict(), "checkpoint written with another configuration")
        self.iteration = state["iteration"]
        self.phi = state["phi"].to(self.device, self.dtype)
        self._graph = None  # a recorded graph holds the old buffers
        self._peak, self._peak_since = None, self.iteration

        def moment(t):
            return torch.zeros_like(self.phi) if t is None else t.to(self.device, self.dtype)

        self.inner = AdamState(moment(state["m"]), moment(state["v"]), state["step"])
        for g, s in zip(self.task_generators, state["task_generators"]):
            g.set_state(s)
        for g, s in zip(self.inner_generators, state["inner_generators"]):
            g.set_state(s)
