"""The Omniglot Conv4 network for a population of S independent weight vectors, with a hand-written backward pass.

The network is the one of :func:`reptile.fewshot.conv4` (TensorFlow 'SAME' padding, batch norm on batch statistics
with epsilon 1e-3, ReLU, a dense layer, the cross-entropy summed over the minibatch); this module computes it for S
members at once, each with its own weights and its own minibatch:

* Activations are channels-last, ``(S, G, B, H, W, C)``: member, group, image, height, width, channel. Batch norm
  normalises each (member, group) with its own statistics (training uses one group; the non-transductive
  prediction puts each query in a group of its own with the task's training images).
* A convolution is one batched matrix multiply per layer: the 3x3 patches of every output pixel (an ``as_strided``
  view of the padded input, copied once) times the member's kernel, ``(S, M, 9 C_in) @ (S, 9 C_in, C_out)``. Its
  backward is two more batched multiplies and col2im (:func:`conv_input_grad`: fused on a CPU, ``fold`` on a GPU, where
  each kernel launch costs more than the arithmetic, per kernel offset otherwise). Off the CPU the PyTorch path is
  written for the fewest kernels (``Conv4(few_kernels=...)``; tests force it on a CPU).
* On a CPU the convolutions can instead go through PyTorch's own convolution, oneDNN's (``Conv4(onednn=True)`` or
  ``REPTILE_ONEDNN=1``), one member at a time on its channels-last input and the same zero-padded buffers, its
  backward through ``convolution_backward``: no im2col, no col2im, and oneDNN's kernels rather than the BLAS's
  multiplies. It takes the layers where it pays (:meth:`Conv4.onednn_layers`: several input channels and at
  least :data:`ONEDNN_MIN_ROWS` output pixels per member), or every layer (``onednn="all"``,
  ``REPTILE_ONEDNN=all``). Which is faster depends on the CPU and the batch (``python -m reptile.bench`` times
  all three); they give the same numbers to float rounding (``tests/test_engine.py``).
* A member's weights are one row of a flat ``(S, P)`` tensor, so the optimiser updates every member and every
  layer in a handful of vector operations.
* On a CPU, batch norm + ReLU (forward and backward) and the col2im of the input gradients run as fused C kernels
  (:mod:`.fused`), two or three passes over memory instead of a dozen PyTorch operations; elsewhere, or without a C
  compiler, as PyTorch operations. Both paths are tested against autograd.

Nothing goes through autograd: :meth:`Conv4.loss_and_grad` returns the summed loss of each member and the gradient
as an ``(S, P)`` tensor. ``tests/test_engine.py`` checks it against autograd on the ``nn.Module`` in float64.

The layout of a member's row differs from the module's tensors in two places, which :meth:`Conv4.pack` and
:meth:`Conv4.unpack` translate: kernels are stored ``(kh, kw, C_in, C_out)`` (the patch order), and the dense
layer's weight is ``(features, n_way)`` with features in ``(h, w, c)`` order (the module flattens ``(c, h, w)``).
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import torch
from torch import Tensor

from ..fewshot import BN_EPS, same_padding
from ..params import Params
from ..validate import check
from . import fused

KERNEL, STRIDE = 3, 2
# oneDNN's convolution pays against im2col and the BLAS's batched multiplies only on a layer with several input
# channels and enough output pixels per member (images x out x out): timed layer by layer on an AMD EPYC (family 26,
# MKL; ad hoc, under load, im2col and col2im counted with the multiplies), through oneDNN the first layer (one input
# channel) ran 1.4 to 3.5 times slower, the last with 5 to 20 images (2x2 outputs, 20 to 80 rows) 2 to 5 times
# slower, the second (245 to 980 rows) 1.2 to 1.8 times faster, the third (4x4 outputs) 1.6 times slower at 80 rows
# and 1.2 times faster at 320. Only the layer's time changes, never its numbers beyond float rounding
ONEDNN_MIN_CHANNELS, ONEDNN_MIN_ROWS = 2, 200
ONEDNN_MODES = {"0": False, "1": True, "all": "all"}  # REPTILE_ONEDNN's values and the mode each one sets


@dataclass(frozen=True)
class Layer:
    """One conv -> batch norm -> ReLU block: ``size`` is the input's height (= width)."""

    c_in: int
    c_out: int
    size: int

    @property
    def out(self) -> int:
        return -(-self.size // STRIDE)

    @property
    def pad(self) -> tuple[int, int]:
        return same_padding(self.size, KERNEL, STRIDE)


class Conv4:
    """The Omniglot Conv4 (28x28x1 -> 14 -> 7 -> 4 -> 2, 64 channels, dense to ``n_way``) for populations."""

    def __init__(self, n_way: int, channels: int = 64, size: int = 28, c_in: int = 1, use_fused: bool = True,
                 few_kernels: bool | None = None, onednn: bool | str | None = None):
        check(isinstance(n_way, int) and n_way >= 2, f"n_way must be an integer >= 2, got {n_way!r}")
        check(onednn in (None, False, True, "all"), f"onednn must be None, False, True or 'all', got {onednn!r}")
        if onednn is None:
            _onednn_environment()  # a mistyped REPTILE_ONEDNN stops here, before any work
        self.n_way = n_way
        self.use_fused = use_fused  # the fused C kernels where usable (False: PyTorch operations only)
        # the PyTorch path written for the fewest kernels (a GPU replaying a graph is bound by their count): the
        # padding zeroed in one kernel, batch statistics by var_mean, col2im by fold; None: off a CPU, where the
        # other formulations are faster
        self.few_kernels = few_kernels
        # the convolutions through PyTorch's (oneDNN on a CPU) instead of im2col and batched multiplies: True on the
        # layers where it pays (onednn_layers), "all" on every layer; None: as the environment says (REPTILE_ONEDNN=1
        # or all), off by default; only on a CPU with the fused kernels
        self.onednn = onednn
        self.layers: list[Layer] = []
        for _ in range(4):
            self.layers.append(Layer(c_in, channels, size))
            c_in, size = channels, -(-size // STRIDE)
        self.features = size * size * channels
        # (name, shape in this layout) of each tensor of a member's row, in the module's parameter order
        self.shapes: list[tuple[int, ...]] = []
        for lay in self.layers:
            self.shapes += [(KERNEL * KERNEL * lay.c_in, lay.c_out), (lay.c_out,), (lay.c_out,), (lay.c_out,)]
        self.shapes += [(self.features, n_way), (n_way,)]
        self.offsets = [0]
        for s in self.shapes:
            self.offsets.append(self.offsets[-1] + _numel(s))
        self.size = self.offsets[-1]  # P, numbers per member

    def _few_kernels(self, t: Tensor) -> bool:
        if self.few_kernels is not None:
            return self.few_kernels
        # the default: off the CPU, unless the environment sets REPTILE_FEW_KERNELS=0 (the earlier GPU formulation,
        # which the benchmark times against this one)
        return t.device.type != "cpu" and os.environ.get("REPTILE_FEW_KERNELS", "1") != "0"

    def _onednn(self, t: Tensor) -> bool | str:
        """The oneDNN mode for tensors like ``t``: False, True (the layers where it pays) or "all"."""
        on = self.onednn if self.onednn is not None else _onednn_environment()
        return on if t.device.type == "cpu" else False

    def onednn_layers(self, t: Tensor, images: int, fast: bool = True) -> tuple[bool, ...]:
        """Which layers take oneDNN's convolution for ``images`` images per member like ``t`` (``fast``: with the
        fused kernels, which the path needs): with ``onednn=True`` those with at least :data:`ONEDNN_MIN_CHANNELS`
        input channels and :data:`ONEDNN_MIN_ROWS` output pixels per member, with ``"all"`` every one."""
        mode = self._onednn(t) if fast else False
        return tuple(bool(mode) and (mode == "all" or (lay.c_in >= ONEDNN_MIN_CHANNELS and
                                                       images * lay.out * lay.out >= ONEDNN_MIN_ROWS))
                     for lay in self.layers)

    # ------------------------------------------------------------------------------------------ layout

    def views(self, flat: Tensor, ws: dict | None = None, role: str = "weights") -> list[Tensor]:
        """Each tensor of every member, ``(S, *shape)``, as a contiguous view of the population's ``flat`` (S * P,)
        buffer, which holds one block per tensor: tensor ``i`` of all S members, member after member. With a
        workspace ``ws`` (see :meth:`loss_and_grad`), the views of the last buffer seen in each ``role`` are kept
        there and given again while the same tensor comes back."""
        if ws is not None:
            got = ws.get(("views", role))
            if got is None or got[0] is not flat:
                got = ws["views", role] = (flat, self.views(flat))
            return got[1]
        S = flat.numel() // self.size
        return [flat[S * a: S * b].view(S, *shape) for a, b, shape in zip(self.offsets[:-1], self.offsets[1:],
                                                                            self.shapes)]

    def stack(self, rows: Tensor) -> Tensor:
        """The population buffer (S * P,) of members given as rows (S, P) in member layout (:meth:`pack`)."""
        return torch.cat([rows[:, a:b].reshape(-1) for a, b in zip(self.offsets[:-1], self.offsets[1:])])

    def rows(self, flat: Tensor) -> Tensor:
        """The inverse of :meth:`stack`: one row (P,) per member, (S, P)."""
        S = flat.numel() // self.size
        return torch.cat([v.reshape(S, -1) for v in self.views(flat)], 1)

    def pack(self, params: Params) -> Tensor:
        """One member's row (P,) from the module's parameter tuple (:class:`reptile.fewshot.FunctionalNet` order)."""
        check(len(params) == len(self.shapes), f"expected {len(self.shapes)} parameter tensors, got {len(params)}")
        out = []
        for i, p in enumerate(params):
            if i < 16 and i % 4 == 0:  # conv kernel (C_out, C_in, kh, kw) -> (kh, kw, C_in, C_out)
                p = p.permute(2, 3, 1, 0)
            elif i == 16:  # dense (n_way, C*H*W) -> (H*W*C, n_way)
                side = self.layers[-1].out
                p = p.view(self.n_way, -1, side, side).permute(2, 3, 1, 0)
            out.append(p.reshape(-1))
        return torch.cat(out)

    def unpack(self, row: Tensor) -> Params:
        """The module's parameter tuple from one member's row (P,): the inverse of :meth:`pack`."""
        out = []
        for i, (a, b, shape) in enumerate(zip(self.offsets[:-1], self.offsets[1:], self.shapes)):
            p = row[a:b]
            if i < 16 and i % 4 == 0:
                lay = self.layers[i // 4]
                p = p.view(KERNEL, KERNEL, lay.c_in, lay.c_out).permute(3, 2, 0, 1)
            elif i == 16:
                side = self.layers[-1].out
                p = p.view(side, side, -1, self.n_way).permute(3, 2, 0, 1).reshape(self.n_way, -1)
            else:
                p = p.view(shape)
            out.append(p.contiguous())
        return tuple(out)

    def population(self, members: list[Params]) -> Tensor:
        """The population buffer of several members given as module parameter tuples."""
        return self.stack(torch.stack([self.pack(p) for p in members]))

    def members(self, flat: Tensor) -> list[Params]:
        """The module parameter tuple of every member of the population buffer ``flat``."""
        return [self.unpack(r) for r in self.rows(flat)]

    @staticmethod
    def images(x: Tensor) -> Tensor:
        """Images ``(..., C, H, W)`` (the samplers' layout) to channels-last ``(..., H, W, C)``."""
        return x.movedim(-3, -1)

    # ----------------------------------------------------------------------------------------- forward

    def forward(self, flat: Tensor, x: Tensor, keep: bool = False, ws: dict | None = None):
        """Logits ``(S, G, B, n_way)`` of channels-last images ``x`` ``(S, G, B, H, W, C_in)`` under the weights
        ``flat`` (S * P,). With ``keep``, also what :meth:`backward` needs. ``ws``: see :meth:`loss_and_grad`."""
        S, G, B = x.shape[:3]
        N = G * B
        w = self.views(flat, ws)
        fast = self.use_fused and fused.usable(x)
        few = self._few_kernels(x)
        dnn = self.onednn_layers(x, N, fast)
        saved = []
        ap, a = padded_input(x, S, N, self.layers[0], few, ws, 0)
        a.copy_(x.reshape(S, N, *a.shape[2:]))
        for li, lay in enumerate(self.layers):
            kernel, _, gamma, beta = w[4 * li: 4 * li + 4]
            # the convolution's bias is not added: batch norm subtracts the batch mean, which removes it exactly (its
            # gradient is 0, so the engine keeps it at its initial 0, where adding it would change no number)
            if dnn[li]:  # oneDNN's convolution; the backward pass takes the padded input in place of the patches
                patches, z = ap, onednn_conv(ap, kernel, lay).view(S, G, -1, lay.c_out)
            else:
                patches = fused.im2col(ap, lay.out) if fast else im2col_patches(ap, lay)  # (S, M, 9 C_in), M = N out²
                z = torch.bmm(patches, kernel).view(S, G, -1, lay.c_out)
            if li + 1 < len(self.layers):  # the output goes straight into the next layer's padded input
                ap, a = padded_input(x, S, N, self.layers[li + 1], few, ws, li + 1)
            else:
                a = x.new_empty(S, N, lay.out, lay.out, lay.c_out)
            # batch norm on the statistics of each (member, group), then ReLU
            if fast:
                xhat, inv = fused.bn_relu_forward(z, gamma, beta, a, BN_EPS)
            else:
                if few:  # the statistics in one reduction
                    var, mean = torch.var_mean(z, 2, correction=0, keepdim=True)
                    inv = torch.rsqrt(var.add_(BN_EPS))
                    xhat = z.sub_(mean).mul_(inv)
                else:  # two passes, faster than var_mean on a CPU
                    xhat = z.sub_(z.mean(2, keepdim=True))
                    inv = torch.rsqrt(xhat.square().mean(2, keepdim=True).add_(BN_EPS))
                    xhat.mul_(inv)
                y = torch.addcmul(beta[:, None, None, :], xhat, gamma[:, None, None, :])
                if torch.compiler.is_compiling():  # torch.compile takes no out= into a strided view
                    a.copy_(y.view(a.shape).clamp_min(0.0))
                else:
                    torch.clamp_min(y.view(a.shape), 0.0, out=a)
            if keep:
                saved.append((patches, xhat, inv, a))
        feats = a.view(S, N, self.features)
        if x.device.type == "cpu":  # one product per member: a BLAS may round a batched product of such small matrices
            # by the batch's size (MKL on an AMD EPYC), and members trained in groups (Population.member_group) must
            # give the numbers of the whole population
            logits = torch.stack([torch.addmm(w[-1][s], feats[s], w[-2][s]) for s in range(S)])
        else:
            logits = torch.baddbmm(w[-1][:, None, :], feats, w[-2])
        logits = logits.view(S, G, B, self.n_way)
        return (logits, (feats, saved)) if keep else logits

    def loss_and_grad(self, flat: Tensor, x: Tensor, y: Tensor, loss: bool = True,
                      ws: dict | None = None) -> tuple[Tensor | None, Tensor]:
        """The loss of each member, cross-entropy summed over its minibatch, ``(S,)``, and its gradient, a buffer
        laid out like ``flat``. ``x`` is ``(S, B, H, W, C)`` channels-last, ``y`` ``(S, B)`` integer labels. With
        ``loss=False`` the loss is not computed (None): the inner loop only needs the gradient.

        ``ws``, a workspace (a dict, empty at first, owned by one inner loop): the buffers a step needs (the padded
        layer inputs with their zero borders, the gradient, the weights' views) are made on the first call and
        reused by the next ones, which saves some sixty small operations per step. The gradient returned is then
        that buffer, overwritten by the next call with the same workspace: use it before."""
        logits, saved = self.forward(flat, x[:, None], keep=True, ws=ws)
        logp = torch.log_softmax(logits[:, 0], -1)
        total = -logp.gather(-1, y[..., None]).sum((1, 2)) if loss else None
        dlogits = logp.exp_()
        dlogits.scatter_add_(-1, y[..., None], torch.full_like(dlogits[..., :1], -1.0))
        return total, self.backward(flat, dlogits, saved, ws)

    # ---------------------------------------------------------------------------------------- backward

    def backward(self, flat: Tensor, dlogits: Tensor, saved, ws: dict | None = None) -> Tensor:
        """The gradient (laid out like ``flat``) of a loss whose gradient with respect to the logits
        ``(S, B, n_way)`` is ``dlogits``, from the activations :meth:`forward` kept for one group (``G = 1``: a
        minibatch per member, as training passes it).

        The bias of a convolution has gradient exactly 0 here: batch norm subtracts the mean over the batch, so the
        bias cancels. (Autograd returns rounding noise of order 1e-7 there instead, which Adam, dividing by its
        equally tiny second moment, turns into steps of about the learning rate: a random walk of a bias that
        changes nothing the network computes.)"""
        feats, layers = saved
        S, N = dlogits.shape[:2]
        check(layers[0][1].shape[1] == 1, "backward takes one group per member (a minibatch), as training passes it")
        w = self.views(flat, ws)
        fast = self.use_fused and fused.usable(flat)
        few = self._few_kernels(flat)
        # the convolutions' bias gradients stay 0 (see above); every other slot is written below. Off the CPU one
        # kernel zeroes the whole buffer; on a CPU, where a pass over it costs, only those slots are zeroed (once
        # per workspace, whose buffer keeps them)
        key = ("grad", flat.numel(), flat.dtype, flat.device)
        grad = None if ws is None else ws.get(key)
        if grad is None:
            grad = torch.zeros_like(flat) if few else torch.empty_like(flat)
            if not few:
                for li in range(len(self.layers)):
                    self.views(grad)[4 * li + 1].zero_()
            if ws is not None:
                ws[key] = grad
        g = self.views(grad, ws, "gradient")
        torch.bmm(feats.transpose(1, 2), dlogits, out=g[-2])
        torch.sum(dlogits, 1, out=g[-1])
        da = torch.bmm(dlogits, w[-2].transpose(1, 2)).view(layers[-1][3].shape)  # (S, N, o, o, C)
        for li in range(len(self.layers) - 1, -1, -1):
            lay = self.layers[li]
            kernel, gamma = w[4 * li], w[4 * li + 2]
            patches, xhat, inv, a = layers[li]
            if fast:
                dz = fused.bn_relu_backward(da, a, xhat, inv, gamma, g[4 * li + 2], g[4 * li + 3])
            else:
                dy = torch.ops.aten.threshold_backward(da, a, 0.0).view(xhat.shape)  # ReLU
                n = xhat.shape[2]
                # (S, 1, 1, C), written straight into the gradient buffer (one group)
                dbeta = torch.sum(dy, 2, keepdim=True, out=g[4 * li + 3].view(S, 1, 1, lay.c_out))
                dgamma = torch.sum(dy * xhat, 2, keepdim=True, out=g[4 * li + 2].view(S, 1, 1, lay.c_out))
                # batch norm on batch statistics: dz = gamma * inv * (dy - mean(dy) - xhat * mean(dy * xhat))
                c1 = gamma[:, None, None, :] * inv
                k = c1 * (-1.0 / n)
                dz = torch.addcmul(k * dbeta, dy, c1).addcmul_(xhat, k * dgamma).view(S, -1, lay.c_out)
            if patches.dim() == 5:  # the forward pass ran oneDNN's convolution: this is its padded input
                da = onednn_conv_backward(dz, patches, kernel, lay, g[4 * li], li > 0)
                continue
            torch.bmm(patches.transpose(1, 2), dz, out=g[4 * li])
            if li > 0:
                da = conv_input_grad(dz, kernel, lay, S, N, fast, few)
        return grad


def _onednn_environment() -> bool | str:
    """The mode ``REPTILE_ONEDNN`` sets (unset or 0: off, 1: where it pays, all: every layer); any other value stops
    with a message naming it."""
    value = os.environ.get("REPTILE_ONEDNN", "0")
    check(value in ONEDNN_MODES, f"REPTILE_ONEDNN={value!r}: allowed: 0 (off, the default), 1 (oneDNN's convolutions "
                                 "on the layers where they pay) or all (on every layer)")
    return ONEDNN_MODES[value]


def _numel(shape: tuple[int, ...]) -> int:
    n = 1
    for s in shape:
        n *= s
    return n


def padded_input(like: Tensor, S: int, N: int, lay: Layer, whole: bool = False, ws: dict | None = None,
                 index: int = 0) -> tuple[Tensor, Tensor]:
    """A new input buffer of ``lay`` with its TF 'SAME' padding zeroed, ``(S, N, H', W', C)``, and its interior
    ``(S, N, H, W, C)``, a view to write the layer's input into. With a workspace ``ws``, the buffer of the
    ``index``-th layer is made once and reused: its border stays zero, and its interior is written at every call."""
    if ws is not None:
        key = ("padded", index, S, N, like.dtype, like.device)
        got = ws.get(key)
        if got is None:
            got = ws[key] = padded_input(like, S, N, lay, whole)
        return got
    top, bottom = lay.pad
    full = lay.size + top + bottom
    if whole:  # one kernel (a GPU is bound by launches, not by these few bytes)
        buf = like.new_zeros(S, N, full, full, lay.c_in)
    else:  # only the border: the interior is written next
        buf = like.new_empty(S, N, full, full, lay.c_in)
        for sl in (slice(0, top), slice(full - bottom, full)):
            buf[:, :, sl].zero_()
            buf[:, :, :, sl].zero_()
    return buf, buf[:, :, top: full - bottom, top: full - bottom]


def im2col_patches(ap: Tensor, lay: Layer) -> Tensor:
    """The 3x3 patches of every output pixel, stride 2, of the padded input ``ap`` ``(S, N, H', W', C)``:
    ``(S, N * out * out, 9 C)`` in (kh, kw, C) order (one copy; ``unfold`` views are the fastest path to it)."""
    S, N = ap.shape[:2]
    u = ap.unfold(2, KERNEL, STRIDE).unfold(3, KERNEL, STRIDE)  # (S, N, out, out, C, kh, kw)
    return u.permute(0, 1, 2, 3, 5, 6, 4).reshape(S, N * lay.out * lay.out, KERNEL * KERNEL * lay.c_in)


def _torch_kernel(kernel: Tensor, lay: Layer) -> Tensor:
    """The members' kernels ``(S, 9 C_in, C_out)`` in ``(kh, kw, C_in)`` order as PyTorch's ``(S, C_out, C_in, kh,
    kw)``: a view (writing into it writes the kernels)."""
    return kernel.view(-1, KERNEL, KERNEL, lay.c_in, lay.c_out).permute(0, 4, 3, 1, 2)


def onednn_conv(ap: Tensor, kernel: Tensor, lay: Layer) -> Tensor:
    """The stride-2 convolution of each member's padded input ``ap`` ``(S, N, H', W', C_in)`` by its kernel,
    through ``torch.nn.functional.conv2d`` (oneDNN on a CPU) on the channels-last views: ``(S, M, C_out)``,
    contiguous, rows in ``(image, y, x)`` order as the batched multiply gives them."""
    S, wt = ap.shape[0], _torch_kernel(kernel, lay)
    outs = [torch.nn.functional.conv2d(ap[s].permute(0, 3, 1, 2), wt[s], stride=STRIDE).permute(0, 2, 3, 1)
            for s in range(S)]
    if S == 1 and outs[0].is_contiguous():  # channels-last out of channels-last in: no copy
        return outs[0].reshape(1, -1, lay.c_out)
    return torch.stack(outs).reshape(S, -1, lay.c_out)


def onednn_conv_backward(dz: Tensor, ap: Tensor, kernel: Tensor, lay: Layer, gkernel: Tensor | None,
                         input_grad: bool, add: bool = False) -> Tensor | None:
    """The backward of :func:`onednn_conv` through ``convolution_backward``: the kernels' gradient written into
    ``gkernel`` ``(S, 9 C_in, C_out)`` (added to it with ``add``; not computed when None), and with ``input_grad``
    that of the unpadded input, ``(S, N, H, W, C_in)`` with a unit channel stride (a view of oneDNN's result when it
    allows, else a copy)."""
    S, N = ap.shape[:2]
    wt = _torch_kernel(kernel, lay)
    gk = None if gkernel is None else _torch_kernel(gkernel, lay)
    inner = slice(lay.pad[0], lay.pad[0] + lay.size)
    parts = []
    for s in range(S):
        gy = dz[s].view(N, lay.out, lay.out, lay.c_out).permute(0, 3, 1, 2)
        gx, gw, _ = torch.ops.aten.convolution_backward(gy, ap[s].permute(0, 3, 1, 2), wt[s], None, [STRIDE, STRIDE],
                                                        [0, 0], [1, 1], False, [0, 0], 1,
                                                        [input_grad, gk is not None, False])
        if gk is not None:
            gk[s].add_(gw) if add else gk[s].copy_(gw)
        if input_grad:
            parts.append(gx.permute(0, 2, 3, 1)[:, inner, inner])  # (N, H, W, C_in)
    if not input_grad:
        return None
    if S == 1 and parts[0].stride(-1) == 1:
        return parts[0][None]
    return torch.stack(parts)


def conv_input_grad(dz: Tensor, kernel: Tensor, lay: Layer, S: int, N: int, fast: bool = False,
                    fold: bool = False) -> Tensor:
    """The gradient of a layer's input ``(S, N, H, W, C_in)`` from that of its pre-activations ``dz``
    ``(S, M, C_out)``, by one of three routes, all of them gathers or ordered additions (no atomic additions, so the
    sums are the same from run to run on a GPU too):

    * with the fused kernels (a CPU): one product ``dz @ kernel^T`` ``(S, M, 9 C_in)``, then each input pixel
      gathers what the offsets sent it (:func:`.fused.col2im`);
    * with ``fold`` (off a CPU, where launches cost more than arithmetic): the same single product, with the kernel's
      rows reordered so that it comes out in ``(C_in, kh, kw)`` order, then ``torch.nn.functional.fold``, channels-
      first, and one copy back to channels-last: six kernels instead of twenty;
    * otherwise, for each kernel offset, ``dz @ kernel[offset]^T`` added where that offset read the input (col2im
      done per offset so that each product stays in cache: on a CPU this is faster than fold); the four offsets
      (0|1, 0|1) tile the padded input but its last row and column exactly once, so they are written, not added,
      and nothing else needs zeroing."""
    top, bottom = lay.pad
    if fast:
        return fused.col2im(torch.bmm(dz, kernel.transpose(1, 2)), N, lay.size, lay.out, top)
    o, c = lay.out, lay.c_in
    full = lay.size + top + bottom  # = 2 o + 1: the padded input that o x o patches of 3x3, stride 2, tile
    if fold:
        k = kernel.view(S, KERNEL * KERNEL, c, -1).transpose(1, 2).reshape(S, c * KERNEL * KERNEL, -1)
        cols = torch.bmm(dz, k.transpose(1, 2)).view(S * N, o * o, c * KERNEL * KERNEL).transpose(1, 2)
        dx = torch.nn.functional.fold(cols, (full, full), KERNEL, stride=STRIDE)  # (S N, C_in, full, full)
        dx = dx.view(S, N, c, full, full)[:, :, :, top: top + lay.size, top: top + lay.size]
        return dx.permute(0, 1, 3, 4, 2).contiguous()
    k = kernel.view(S, KERNEL * KERNEL, c, -1)
    dx = dz.new_empty(S, N, full, full, c)
    dx[:, :, STRIDE * o:].zero_()  # rows and columns beyond the tiles (full = 2 o + 1 for a 3x3 kernel)
    dx[:, :, :, STRIDE * o:].zero_()
    for i, j in [(0, 0), (0, 1), (1, 0), (1, 1), (0, 2), (1, 2), (2, 0), (2, 1), (2, 2)]:
        part = torch.bmm(dz, k[:, KERNEL * i + j].transpose(1, 2)).view(S, N, o, o, c)
        where = dx[:, :, i: i + STRIDE * o: STRIDE, j: j + STRIDE * o: STRIDE]
        if i < STRIDE and j < STRIDE:
            where.copy_(part)
        else:
            where += part
    return dx[:, :, top: top + lay.size, top: top + lay.size]
