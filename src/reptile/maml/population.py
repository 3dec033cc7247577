"""MAML's meta-gradient on the engine's network: the meta-batch's tasks as one population, second order by hand.

:func:`reptile.maml.meta_gradient` differentiates through the inner loop with autograd (``torch.func``); here the
same quantity is computed on :class:`reptile.engine.network.Conv4`, which holds one weight vector per member (a task
of the meta-batch is a member, each starting from ``phi``) and computes its gradient with a hand-written backward
pass and fused kernels. Second-order MAML needs one more thing the engine lacks, the Hessian-vector product of the
support loss, which :func:`grad_and_hvp` computes by hand too: the directional derivative (Pearlmutter's R-operator) of the
engine's forward and backward passes. Finn et al.'s Eq. 1 repeated ``k`` times,

    W_0 = phi,  W_{i+1} = W_i - alpha Q grad L_support(W_i),  meta-gradient = J^T grad L_query(W_k),

is differentiated backwards: ``v_k = grad L_query(W_k)``, ``v_i = (I - alpha Q H_support(W_i))^T v_{i+1} =
v_{i+1} - alpha H_support(W_i) Q v_{i+1}`` (the transpose drops because ``H`` is symmetric and so is ``Q``, a 0/1 mask
or ``Lin Lin^T`` below), and the meta-gradient is ``v_0`` (first-order MAML: ``v_0 = v_k``). ``Q`` is the inner loop's
step in the engine's layout: the parameters it adapts (batch norm's are left alone unless ``adapt_norm``) and, for
Finn's network, the map below.

Both networks run on the engine's Conv4. Reptile's is it. Finn's (:func:`reptile.maml.protocol.finn_conv4`) differs
in two places, both an affine change of parameters ``W = E(w)``: batch norm has no scale (the engine's ``gamma`` is
held at 1) and the dense layer reads the spatial mean of the last 2x2 map, which equals a dense layer on the
flattened map with the kernel repeated at the four positions and divided by 4. An inner step on ``w`` is then the
step ``Lin Lin^T`` (``Lin`` the linear part of ``E``) on ``W``, and a gradient in ``W`` maps back by ``Lin^T``.

The losses are the engine's cross-entropy summed over a minibatch, times the scale of ``cfg.loss_scale`` (Finn's
``1 / shots`` or the mean's ``1 / (N shots)``). Convolution biases get gradient exactly 0, as in the engine (batch
norm cancels them), so they stay 0; autograd gives rounding noise there, which Adam turns into a random walk of
steps of about its learning rate, changing nothing the network computes. ``tests/test_maml_population.py`` checks everything
against :func:`reptile.maml.meta_gradient` in float64.
"""

from __future__ import annotations

import torch
from torch import Tensor

from ..engine import fused
from ..engine.evaluation import predict
from ..engine.network import (Conv4, conv_input_grad, im2col_patches, onednn_conv, onednn_conv_backward,
                              padded_input)
from ..params import Params
from ..validate import check
from .algorithm import MAMLConfig, TaskBatch

NETWORKS = ("reptile", "finn")
SIDE = 2  # the last feature map is 2x2 (28 -> 14 -> 7 -> 4 -> 2)


class EngineNet:
    """One of the MAML networks (``"reptile"``: :func:`reptile.fewshot.conv4`; ``"finn"``: Finn et al.'s) on the
    engine's :class:`Conv4`: the change of parameters from the module's tuple to the engine's rows and back."""

    def __init__(self, network: str, n_way: int, use_fused: bool = True, onednn: bool | str | None = None):
        check(network in NETWORKS, f"unknown network {network!r}; allowed: {', '.join(NETWORKS)}")
        self.network, self.n_way = network, n_way
        # onednn: the convolutions through oneDNN's (Conv4's argument: None as REPTILE_ONEDNN says, True where they
        # pay, "all" everywhere), the Hessian-vector product's too
        self.conv = Conv4(n_way, use_fused=use_fused, onednn=onednn)
        n = len(self.conv.shapes)
        self.dense = n - 2  # index of the dense kernel among the engine's tensors
        self.gammas = [4 * li + 2 for li in range(4)]
        self.betas = [4 * li + 3 for li in range(4)]
        self._workspaces: dict = {}

    def workspace(self, role, device: torch.device) -> dict | None:
        """The workspace (:meth:`Conv4.loss_and_grad`) of one role of the meta-gradient's passes, kept from
        population to population; on a CPU only, as the engine's training keeps one (elsewhere None: fresh
        buffers)."""
        return self._workspaces.setdefault(role, {}) if device.type == "cpu" else None

    # ------------------------------------------------------------------------------------------ parameters

    def row(self, params: Params) -> Tensor:
        """The engine's row ``E(w)`` (P,) of the module's parameter tuple ``w``."""
        if self.network == "reptile":
            return self.conv.pack(params)
        p = list(params)
        full = []
        for li in range(4):
            k, b, beta = p[3 * li: 3 * li + 3]
            full += [k, b, torch.ones_like(beta), beta]
        wd, bd = p[12:]
        # mean over the 2x2 positions = a dense layer on the flattened (c, h, w) features with w[:, c] / 4
        flat = (wd[:, :, None, None] / SIDE ** 2).expand(-1, -1, SIDE, SIDE).reshape(self.n_way, -1)
        return self.conv.pack(tuple(full) + (flat, bd))

    def params(self, row: Tensor) -> Params:
        """The module's parameter tuple of an engine row: the inverse of :meth:`row`."""
        full = self.conv.unpack(row)
        if self.network == "reptile":
            return full
        out = []
        for li in range(4):
            k, b, _, beta = full[4 * li: 4 * li + 4]
            out += [k, b, beta]
        flat, bd = full[16:]
        return tuple(out) + (flat.view(self.n_way, -1, SIDE ** 2)[:, :, 0] * SIDE ** 2, bd)

    def pull_back(self, grads: list[Tensor]) -> list[Tensor]:
        """``Lin^T``: a gradient in the engine's tensors ``(S, *shape)`` to one in the module's parameters (still in
        the engine's per-tensor layout; :meth:`module_grads` reorders it). Reptile's network: unchanged."""
        if self.network == "reptile":
            return grads
        g = list(grads)
        d = g[self.dense]  # (S, H W C, N), rows in (h, w, c) order
        S = d.shape[0]
        g[self.dense] = d.view(S, SIDE * SIDE, -1, self.n_way).sum(1) / SIDE ** 2  # (S, C, N)
        for i in self.gammas:
            g[i] = torch.zeros_like(g[i])  # not a parameter of Finn's network
        return g

    def step_map(self, g: Tensor, adapt_norm: bool) -> Tensor:
        """``Q g``, in place on the population buffer ``g`` (S P,) of an engine-layout gradient, which it returns:
        the inner loop's step in the engine's layout (the parameters it adapts, batch norm's only with
        ``adapt_norm``; for Finn's network ``Lin Lin^T``, which makes the dense kernel's four positions their mean /
        4)."""
        conv = self.conv
        S = g.numel() // conv.size
        off = conv.offsets
        for li in range(4):  # each layer's gamma and beta are adjacent blocks of the buffer
            first = 4 * li + 2 if (self.network == "finn" or not adapt_norm) else 4 * li + 3
            last = 4 * li + 4 if not adapt_norm else 4 * li + 3
            if first < last:
                g[S * off[first]: S * off[last]].zero_()
        if self.network == "finn":
            t = g[S * off[self.dense]: S * off[self.dense + 1]].view(S, SIDE * SIDE, -1, self.n_way)
            t.copy_(t.sum(1, keepdim=True).div_(SIDE ** 4).expand_as(t))
        return g

    def meta_gradient(self, params: Params, tasks: TaskBatch, cfg: MAMLConfig) -> tuple[Params, Tensor, Tensor]:
        """:func:`meta_gradient` on this network (what :class:`reptile.maml.MAMLLearner` calls)."""
        return meta_gradient(self, params, tasks, cfg)

    def score_steps(self, params: Params, tasks: TaskBatch, cfg: MAMLConfig, steps: int,
                    non_transductive: bool = True) -> tuple[Tensor, Tensor, Tensor]:
        """:func:`score_steps` on this network."""
        return score_steps(self, params, tasks, cfg, steps, non_transductive)

    def module_grads(self, grads: list[Tensor]) -> Params:
        """The mean over members of :meth:`pull_back`'s gradient (or of a sum over them, ``(1, *shape)``), as the
        module's parameter tuple."""
        mean = [g.mean(0) for g in grads]
        if self.network == "reptile":
            return self.conv.unpack(torch.cat([t.reshape(-1) for t in mean]))
        out = []
        for li in range(4):
            k, b, _, beta = mean[4 * li: 4 * li + 4]
            lay = self.conv.layers[li]
            out += [k.view(3, 3, lay.c_in, lay.c_out).permute(3, 2, 0, 1).contiguous(), b, beta]
        return tuple(out) + (mean[self.dense].t().contiguous(), mean[-1])


# --------------------------------------------------------------------------------- the Hessian-vector product


def grad_and_hvp(conv: Conv4, flat: Tensor, x: Tensor, y: Tensor, direction: Tensor | None,
                 saved=None, ws: dict | None = None) -> tuple[Tensor, Tensor | None, Tensor | None, object]:
    """The summed cross-entropy's logits, gradient and Hessian-vector product ``H direction`` for every member.

    ``flat`` (S P,) the population's weights (the engine's layout), ``x`` ``(S, B, H, W, C)`` channels-last, ``y``
    ``(S, B)``; ``direction`` a buffer like ``flat`` or None (no product). ``saved``: the forward pass at ``flat`` on
    ``x`` from an earlier call, reused (the gradient is then not computed again: None). ``ws``: a workspace for the
    forward and backward passes (:meth:`Conv4.loss_and_grad`: the gradient returned is then its buffer, and the
    saved activations live in it until its next use). Returns ``(logits (S, B, n_way), gradient, product or None,
    saved)``."""
    again = saved is not None
    if not again:
        logits, saved = conv.forward(flat, x[:, None], keep=True, ws=ws)
        logits = logits[:, 0]
    else:
        logits = saved[2]
    feats, layers = saved[0], saved[1]
    logp = torch.log_softmax(logits, -1)
    p = logp.exp()
    dlogits = p.clone()
    dlogits.scatter_add_(-1, y[..., None], torch.full_like(dlogits[..., :1], -1.0))
    grad = None if again else conv.backward(flat, dlogits, (feats, layers), ws)
    if direction is None:
        return logits, grad, None, (feats, layers, logits)
    return logits, grad, _hvp(conv, flat, direction, layers, feats, p, dlogits), (feats, layers, logits)


def _hvp(conv: Conv4, flat: Tensor, direction: Tensor, layers, feats: Tensor, p: Tensor, dlogits: Tensor) -> Tensor:
    """``R{grad}``: the forward pass's directional derivative along ``direction``, then the backward pass's. A layer
    the forward pass ran through oneDNN's convolution (its saved "patches" are then its padded input) is
    differentiated through oneDNN too: the tangent's convolutions forward, ``convolution_backward`` backward."""
    w, r = conv.views(flat), conv.views(direction)
    S, N = p.shape[:2]
    fast = conv.use_fused and fused.usable(flat)
    out = torch.empty_like(flat)
    h = conv.views(out)
    for li in range(len(conv.layers)):  # every block below is written, but the convolutions' biases' (exactly 0)
        h[4 * li + 1].zero_()
    # forward: R{z} = R{P} K + P R{K} + R{b}; batch norm's R{xhat} = inv (u - mean u - xhat mean(xhat u)); ReLU's mask
    tangents = []
    ra = None
    for li, lay in enumerate(conv.layers):
        kernel, gamma = w[4 * li], w[4 * li + 2]
        rk, rb, rg, rbeta = r[4 * li: 4 * li + 4]
        patches, xhat, inv, a = layers[li]
        dnn = patches.dim() == 5  # the forward ran oneDNN's convolution: its padded input in place of the patches
        u = onednn_conv(patches, rk, lay).add_(rb[:, None, :]) if dnn else torch.baddbmm(rb[:, None, :], patches, rk)
        rp = None  # R{P}: the tangent's patches (its padded input on a oneDNN layer)
        if ra is not None:
            ap, inner = padded_input(ra, S, N, lay)
            inner.copy_(ra)
            if dnn:
                rp = ap
                u.add_(onednn_conv(ap, kernel, lay))
            else:
                rp = fused.im2col(ap, lay.out) if fast else im2col_patches(ap, lay)
                u.baddbmm_(rp, kernel)
        xh = xhat.view(S, -1, lay.c_out)
        iv = inv.view(S, 1, lay.c_out)
        if fast:  # the lines below in two passes (fused.c); the ReLU's derivative is read from a where needed
            rxhat, rinv, ra = fused.bn_relu_rop_forward(u, xh, iv, a, gamma, rg, rbeta)
            ra, on = ra.view(a.shape), None
        else:
            m_xu = torch.linalg.vecdot(xh.transpose(1, 2), u.transpose(1, 2)).unsqueeze(1) / xh.shape[1]
            rxhat = u.sub_(u.mean(1, keepdim=True)).addcmul_(xh, m_xu, value=-1.0).mul_(iv)  # u is not needed again
            rinv = -iv * iv * m_xu  # (S, 1, C)
            on = (a > 0).to(a.dtype).view(S, -1, lay.c_out)  # the ReLU's derivative (masked_fill is slower on a CPU)
            ry = torch.addcmul(rbeta[:, None, :], rxhat, gamma[:, None, :]).addcmul_(xh, rg[:, None, :])
            ra = ry.mul_(on).view(a.shape)
        tangents.append((rp, rxhat, rinv, on))
    rf = ra.reshape(S, N, conv.features)
    wd, rwd, rbd = w[-2], r[-2], r[-1]
    rlogits = torch.baddbmm(rbd[:, None, :], rf, wd).baddbmm_(feats, rwd)
    rdlog = p * (rlogits - (p * rlogits).sum(-1, keepdim=True))
    # backward: the product rule on every line of Conv4.backward
    torch.baddbmm(torch.bmm(rf.transpose(1, 2), dlogits), feats.transpose(1, 2), rdlog, out=h[-2])
    torch.sum(rdlog, 1, out=h[-1])
    da = torch.bmm(dlogits, wd.transpose(1, 2))
    rda = torch.bmm(rdlog, wd.transpose(1, 2)).baddbmm_(dlogits, rwd.transpose(1, 2))
    for li in range(len(conv.layers) - 1, -1, -1):
        lay = conv.layers[li]
        kernel, gamma = w[4 * li], w[4 * li + 2]
        rk, rg = r[4 * li], r[4 * li + 2]
        patches, xhat, inv, a = layers[li]
        rp, rxhat, rinv, on = tangents[li]
        xh = xhat.view(S, -1, lay.c_out)
        iv = inv.view(S, 1, lay.c_out)
        if fast:
            dz, rdz = fused.bn_relu_rop_backward(da, rda, a, xh, rxhat, iv, rinv, gamma, rg, h[4 * li + 2],
                                                 h[4 * li + 3])
        else:
            dz, rdz = _bn_relu_rop_backward(da, rda, xh, rxhat, iv, rinv, gamma, rg, on, h[4 * li + 2],
                                            h[4 * li + 3])
        if patches.dim() == 5:  # oneDNN's backward: R{dK} = P^T R{dz} + R{P}^T dz and, below the first layer,
            # the input's gradient dz K^T and its derivative R{dz} K^T + dz R{K}^T, each col2im'd by the call
            rda = onednn_conv_backward(rdz, patches, kernel, lay, h[4 * li], li > 0)
            if li > 0:  # rp: the tangent's padded input (the first layer's input, the images, has none)
                rda = rda + onednn_conv_backward(dz, rp, rk, lay, h[4 * li], True, add=True)
                da = onednn_conv_backward(dz, patches, kernel, lay, None, True)
            continue
        torch.bmm(patches.transpose(1, 2), rdz, out=h[4 * li])
        if rp is not None:
            h[4 * li].baddbmm_(rp.transpose(1, 2), dz)
        if li > 0:
            da = conv_input_grad(dz, kernel, lay, S, N, fast)
            cols = torch.bmm(rdz, kernel.transpose(1, 2)).baddbmm_(dz, rk.transpose(1, 2))
            rda = _cols_to_input(cols, lay, S, N, fast)
    return out


def _bn_relu_rop_backward(da: Tensor, rda: Tensor, xh: Tensor, rxhat: Tensor, iv: Tensor, rinv: Tensor,
                          gamma: Tensor, rg: Tensor, on: Tensor, hgamma: Tensor, hbeta: Tensor):
    """:func:`reptile.engine.fused.bn_relu_rop_backward` in PyTorch operations: ``(dz, R{dz})`` ``(S, R, C)``, the
    derivatives of the gradients of gamma and beta written to ``hgamma`` and ``hbeta``."""
    S, n, C = xh.shape
    dy = da.reshape(S, -1, C) * on
    rdy = rda.reshape(S, -1, C) * on

    def dot(p: Tensor, q: Tensor) -> Tensor:  # sum over rows, (S, 1, C)
        return torch.linalg.vecdot(p.transpose(1, 2), q.transpose(1, 2)).unsqueeze(1)

    dbeta, dgamma = dy.sum(1, keepdim=True), dot(dy, xh)
    rdbeta, rdgamma = rdy.sum(1, keepdim=True), dot(rdy, xh) + dot(dy, rxhat)
    hbeta.copy_(rdbeta[:, 0])
    hgamma.copy_(rdgamma[:, 0])
    c1 = gamma[:, None, :] * iv
    rc1 = rg[:, None, :] * iv + gamma[:, None, :] * rinv
    # inner = dy - mean(dy) - xhat mean(dy xhat); dz = c1 inner; rdz = rc1 inner + c1 R{inner}
    inner = dy.sub_(dbeta / n).addcmul_(xh, dgamma, value=-1.0 / n)
    rinner = rdy.sub_(rdbeta / n).addcmul_(rxhat, dgamma, value=-1.0 / n).addcmul_(xh, rdgamma, value=-1.0 / n)
    rdz = rinner.mul_(c1).addcmul_(inner, rc1)
    return inner.mul_(c1), rdz


def _cols_to_input(cols: Tensor, lay, S: int, N: int, fast: bool) -> Tensor:
    """col2im of ``cols`` ``(S, M, 9 C_in)`` (an input gradient's columns, (kh, kw, C) order)."""
    if fast:
        return fused.col2im(cols, N, lay.size, lay.out, lay.pad[0])
    eye = torch.eye(cols.shape[-1], dtype=cols.dtype, device=cols.device).expand(S, -1, -1)
    return conv_input_grad(cols, eye, lay, S, N)  # dz @ I^T = cols, then col2im


# -------------------------------------------------------------------------------------------- the meta-gradient


def _scale(cfg: MAMLConfig, batch: int) -> float:
    """The factor from the engine's summed cross-entropy to ``cfg.loss_scale``'s loss on a batch of ``batch``."""
    return 1.0 / cfg.shots if cfg.loss_scale == "finn" else 1.0 / batch


def meta_gradient(net: EngineNet, params: Params, tasks: TaskBatch, cfg: MAMLConfig,
                  first_order: bool | None = None, chunk: int | None = None,
                  population: int | None = None) -> tuple[Params, Tensor, Tensor]:
    """The same as :func:`reptile.maml.meta_gradient` (the mean over tasks of the meta-gradient, the mean query
    loss and accuracy after adaptation), on the engine: the tasks' meta-gradients summed ``chunk`` at a time
    (default :func:`default_chunk`), those sums added in order to make the mean; the tasks run side by side as the
    members of populations of ``population`` tasks (a multiple of ``chunk``; default :func:`default_population`).
    The numbers are those of populations of one chunk wherever the default enlarges them (1-shot 5-way, tested bit for
    bit in ``tests/test_maml_population.py``); elsewhere a population of several tasks may round differently (a
    second-order 5-shot 5-way meta-gradient does, by a few units in the last place)."""
    first_order = cfg.first_order if first_order is None else first_order
    check(isinstance(first_order, bool), f"first_order must be True or False, got {first_order!r}")
    n = tasks.support_x.shape[0]
    chunk = default_chunk(tasks.support_x) if chunk is None else chunk
    check(isinstance(chunk, int) and chunk >= 1, f"chunk must be an integer >= 1, got {chunk!r}")
    population = default_population(tasks.support_x, chunk) if population is None else population
    check(isinstance(population, int) and population >= 1 and population % chunk == 0,
          f"population must be a positive multiple of chunk ({chunk}), got {population!r}")
    row = net.row(tuple(p.detach() for p in params))
    starts: dict[int, Tensor] = {}  # the population buffer of S copies of phi, by S (read, never written)
    total, losses, accs = torch.zeros_like(row), [], []
    for i in range(0, n, population):
        part = TaskBatch(*(t[i: i + population] for t in tasks))
        S = part.support_x.shape[0]
        if S not in starts:
            starts[S] = net.conv.stack(row.expand(S, -1))
        loss, acc = _population_gradient(net, starts[S], part, cfg, first_order, total, chunk)
        losses.append(loss)
        accs.append(acc)
    total.div_(n)
    grads = net.pull_back(net.conv.views(total))  # (1, *shape) each, the engine's layout
    return net.module_grads(grads), torch.cat(losses).mean(), torch.cat(accs).mean()


def default_chunk(support_x: Tensor) -> int:
    """Tasks per population: on a CPU about 20 support images at once, at least one task (measured on 1-shot and
    5-shot 5-way and 1-shot 20-way: the working set of a step stays in cache; all 32 tasks of a 5-shot meta-batch
    at once ran twice as slow as one at a time), on a GPU all of them."""
    if support_x.device.type != "cpu":
        return support_x.shape[0]
    return max(1, CPU_IMAGES // support_x.shape[1])


CPU_IMAGES = 20  # support images per summed chunk of tasks on a CPU (see default_chunk)


def default_population(support_x: Tensor, chunk: int) -> int:
    """Tasks side by side on a CPU where a chunk holds several small tasks: whole chunks of about
    :data:`CPU_POPULATION_IMAGES` support images (1-shot 5-way, 80 images per population against 20, measured in
    four interleaved pairs with the campaign running: 1.00-1.25x as fast second-order, 1.03-1.18x first-order, and
    the same numbers); one chunk otherwise, and off a CPU (5-shot 5-way and 1-shot 20-way, one task per chunk,
    measured no faster with more)."""
    if support_x.device.type != "cpu" or chunk == 1:
        return chunk
    return chunk * max(1, CPU_POPULATION_IMAGES // (chunk * support_x.shape[1]))


CPU_POPULATION_IMAGES = 80  # support images run side by side on a CPU (see default_population)


def _population_gradient(net: EngineNet, flat: Tensor, tasks: TaskBatch, cfg: MAMLConfig, first_order: bool,
                         total: Tensor, chunk: int | None = None) -> tuple[Tensor, Tensor]:
    """The meta-gradient of each task of ``tasks`` (one population: ``flat``, the buffer of S copies of phi's engine
    row, left as it is), summed ``chunk`` tasks at a time (default all S) and each sum added in order to ``total``
    (P,) in the engine's layout; each task's query loss and accuracy. The inner steps run forward (``W_{i+1} = W_i -
    alpha Q grad L_support(W_i)``), then the backward recursion of the module's doc (``v_i = v_{i+1} - alpha
    H_support(W_i) Q v_{i+1}`` from ``v_k = grad L_query(W_k)``; first-order MAML stops at ``v_k``).

    The forward passes keep their buffers in workspaces of ``net`` (:meth:`Conv4.loss_and_grad`), one per inner
    step and one for the query, so that the next population of the same shape reuses them; each inner step's saved
    activations are still there when its Hessian-vector product reads them."""
    conv = net.conv
    sx, sy, qx, qy = tasks
    S = sx.shape[0]
    sx, qx = Conv4.images(sx), Conv4.images(qx)
    s_scale, q_scale = _scale(cfg, sy.shape[1]), _scale(cfg, qy.shape[1])
    alpha = cfg.inner_step * s_scale
    weights, saves = [flat], []
    for i in range(cfg.inner_steps):
        _, g, _, saved = grad_and_hvp(conv, weights[-1], sx, sy, None, ws=net.workspace(("support", i), sx.device))
        saves.append(saved if not first_order else None)
        weights.append(torch.add(weights[-1], net.step_map(g, cfg.adapt_norm), alpha=-alpha))
    logits, v, _, _ = grad_and_hvp(conv, weights[-1], qx, qy, None, ws=net.workspace("query", qx.device))
    v.mul_(q_scale)  # the query workspace's gradient buffer, written again by the next population's query pass
    if not first_order:
        for i in range(cfg.inner_steps - 1, -1, -1):
            d = net.step_map(v.clone(), cfg.adapt_norm)
            _, _, hv, _ = grad_and_hvp(conv, weights[i], sx, sy, d, saves[i])
            v.add_(hv, alpha=-alpha)
    logp = torch.log_softmax(logits, -1)
    loss = -logp.gather(-1, qy[..., None]).sum((1, 2)) * q_scale
    accuracy = (logits.argmax(-1) == qy).to(logits.dtype).mean(1)
    chunk = S if chunk is None else chunk
    for a, b in zip(conv.offsets[:-1], conv.offsets[1:]):  # the sums over chunks of members, tensor by tensor
        rows = v[S * a: S * b].view(S, b - a)
        for k in range(0, S, chunk):
            total[a:b].add_(rows[k: k + chunk].sum(0))
    return loss, accuracy


# -------------------------------------------------------------------------------------------------- evaluation


EVAL_CPU_IMAGES = 200  # images per population when scoring on a CPU (60 to 400 measured within 20% of each other)


def score_steps(net: EngineNet, params: Params, tasks: TaskBatch, cfg: MAMLConfig, steps: int,
                non_transductive: bool = True) -> tuple[Tensor, Tensor, Tensor]:
    """Each task's query accuracy after 0, 1, ..., ``steps`` inner SGD steps on its support set from ``params``
    (left as they are), ``(tasks, steps + 1)``, transductive (the queries in one batch) and non-transductive (each
    query in a batch with the support set; None unless asked), and whether every output was finite after each step
    ``(steps + 1,)``: what :func:`reptile.maml.evaluation.score_steps` computes with ``torch.func``, the tasks here
    as populations on the engine's network (about :data:`EVAL_CPU_IMAGES` images at once on a CPU)."""
    conv = net.conv
    sx, sy, qx, qy = tasks
    n, b, q = sx.shape[0], sx.shape[1], qx.shape[1]
    per_task = q * (b + 1) if non_transductive else max(b, q)
    chunk = n if sx.device.type != "cpu" else max(1, EVAL_CPU_IMAGES // per_task)
    row = net.row(tuple(p.detach() for p in params))
    alpha = cfg.inner_step * _scale(cfg, b)
    out_t, out_n, ok = [], [], torch.ones(steps + 1, dtype=torch.bool, device=sx.device)
    for i in range(0, n, chunk):
        x, y = Conv4.images(sx[i: i + chunk]), sy[i: i + chunk]
        xq, yq = Conv4.images(qx[i: i + chunk]), qy[i: i + chunk]
        flat = conv.stack(row.expand(x.shape[0], -1))
        acc_t, acc_n = [], []
        for s in range(steps + 1):
            if s:
                _, g = conv.loss_and_grad(flat, x, y, loss=False)
                flat = torch.add(flat, net.step_map(g, cfg.adapt_norm), alpha=-alpha)
            lt = predict(conv, flat, x, xq, True)
            acc_t.append((lt.argmax(-1) == yq).to(lt.dtype).mean(1))
            fine = torch.isfinite(lt).all()
            if non_transductive:
                ln = predict(conv, flat, x, xq, False)
                acc_n.append((ln.argmax(-1) == yq).to(ln.dtype).mean(1))
                fine = fine & torch.isfinite(ln).all()
            ok[s] &= fine
        out_t.append(torch.stack(acc_t, 1))
        if non_transductive:
            out_n.append(torch.stack(acc_n, 1))
    return torch.cat(out_t), (torch.cat(out_n) if non_transductive else None), ok


__all__ = ["EngineNet", "NETWORKS", "grad_and_hvp", "meta_gradient", "score_steps"]
