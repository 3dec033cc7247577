"""Fused CPU kernels for the population Conv4: batch norm + ReLU forward and backward, and col2im (``fused.c``);
also the directional derivatives of the first two, for MAML's Hessian-vector product.

The PyTorch path of :mod:`.network` spends about as long in a dozen elementwise passes per layer as in its matrix
multiplies. ``fused.c`` does the same arithmetic in two or three passes: batch norm's statistics, normalisation,
affine map and ReLU in one function, their backward in another, and a stride-2 convolution's input gradient as one
gather over the columns of a single matrix multiply instead of nine small products and strided additions.

The C file is compiled on first use with the system's C compiler (``$CC``, else ``cc``; ``-O3 -march=native``) into
the cache root (:func:`reptile.data.datasets.cache_root`), under a name that hashes the source, the flags and the CPU, and
loaded with :mod:`ctypes`. Without a compiler, on GPUs, and with ``REPTILE_FUSED=0`` the network keeps its PyTorch
path (where the kernels cannot be built or loaded, for example in an unwritable cache, a RuntimeWarning says so once
per process, with the reason); both give the same numbers to float rounding (``tests/test_engine.py`` checks each
against autograd in float64).
With OpenMP (``-fopenmp``, which resolves to the runtime PyTorch has already loaded) the kernels use the threads
PyTorch uses, and give the same numbers on any thread count; a compiler without OpenMP builds them single-threaded.
"""

from __future__ import annotations

import ctypes
import hashlib
import os
import platform
import shutil
import subprocess
import tempfile
from pathlib import Path
from typing import Any

import torch
from torch import Tensor

from ..threads import cpu_model

SOURCE = Path(__file__).with_name("fused.c")
# no -ffast-math: exact IEEE (-fno-math-errno only lets sqrt vectorise: the values are the same)
FLAGS = ["-O3", "-march=native", "-fno-trapping-math", "-fno-math-errno", "-shared", "-fPIC", "-std=c99"]
OPENMP = ["-fopenmp"]  # tried first; without it the pragmas are ignored
DTYPES = {torch.float32: "f32", torch.float64: "f64"}


class _Shape(ctypes.Structure):
    _fields_ = [(n, ctypes.c_int64) for n in "S G B H W C sS sN sH sW dS dN dH dW".split()]


class _Conv(ctypes.Structure):
    _fields_ = [(n, ctypes.c_int64) for n in "S N H W C o top left".split()]


_lib: ctypes.CDLL | None = None
_tried = False
_why = ""


def _compile(cache_dir=None) -> ctypes.CDLL:
    from ..data.datasets import cache_root

    cc = os.environ.get("CC") or "cc"
    if shutil.which(cc) is None:
        raise OSError(f"no C compiler ({cc!r} not found)")
    key = hashlib.sha256(SOURCE.read_bytes() + " ".join([cc, *FLAGS, *OPENMP, platform.machine(), cpu_model()]).encode())
    path = cache_root(cache_dir) / f"fused-{key.hexdigest()[:16]}.so"
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(suffix=".so", dir=path.parent)
        os.close(fd)
        try:
            for extra in (OPENMP, ["-Wno-unknown-pragmas"]):
                done = subprocess.run([cc, *FLAGS, *extra, "-o", tmp, str(SOURCE), "-lm"], capture_output=True,
                                      text=True)
                if done.returncode == 0:
                    break
            else:
                raise OSError(f"{cc} failed: {done.stderr.strip()[:500]}")
            os.replace(tmp, path)  # atomic: concurrent processes each compile, one file wins
        finally:
            if os.path.exists(tmp):
                os.unlink(tmp)
    return ctypes.CDLL(str(path))


def library() -> ctypes.CDLL | None:
    """The compiled kernels, or ``None`` where they are unavailable or switched off (``REPTILE_FUSED=0``); then
    :func:`unavailable` says why."""
    global _lib, _tried, _why
    if os.environ.get("REPTILE_FUSED", "1") == "0":
        _why = "switched off (REPTILE_FUSED=0)"
        return None
    if not _tried:
        _tried = True
        try:
            _lib = _compile()
        except OSError as e:
            _why = str(e)
            import warnings

            warnings.warn(f"the fused CPU kernels are not available ({_why}); the population engine uses its "
                          f"PyTorch path instead: the same numbers, slower (1.2-1.3x in results/bench/). Set "
                          f"$REPTILE_CACHE to a folder you can write (and $CC to a C compiler), or REPTILE_FUSED=0 "
                          f"to use the PyTorch path without this warning", RuntimeWarning, stacklevel=2)
    return _lib


def unavailable() -> str:
    """Why :func:`library` returned ``None`` (empty when it did not)."""
    return _why


def usable(t: Tensor) -> bool:
    """Whether the fused kernels can run on ``t``: a CPU tensor of float32 or float64, and the library loaded."""
    return t.device.type == "cpu" and t.dtype in DTYPES and library() is not None


def _ptr(t: Tensor) -> ctypes.c_void_p:
    return ctypes.c_void_p(t.data_ptr())


_functions: dict[tuple[str, torch.dtype], Any] = {}  # the library's functions, looked up once


def _call(name: str, t: Tensor, *args) -> None:
    """The kernel ``name`` for ``t``'s dtype, on PyTorch's thread count (callers have checked :func:`usable`)."""
    f = _functions.get((name, t.dtype))
    if f is None:
        f = _functions[name, t.dtype] = getattr(library(), f"{name}_{DTYPES[t.dtype]}")
    f(*args, ctypes.c_int(torch.get_num_threads()))


def _strides(t: Tensor) -> tuple[int, ...]:
    if t.stride(-1) != 1:
        raise ValueError(f"the channel dimension must be contiguous, got strides {t.stride()}")
    return t.stride()[:4]


def bn_relu_forward(z: Tensor, gamma: Tensor, beta: Tensor, out: Tensor, eps: float) -> tuple[Tensor, Tensor]:
    """Batch norm on each (member, group)'s statistics, affine map and ReLU.

    ``z`` ``(S, G, R, C)`` contiguous pre-activations (overwritten with ``xhat``), ``gamma``/``beta`` ``(S, C)``;
    the ReLU output goes to ``out`` ``(S, G * B, H, W, C)`` (any strides, unit channel stride; R = B H W). Returns
    ``xhat`` (= ``z``) and ``inv = 1 / sqrt(var + eps)`` ``(S, G, 1, C)``."""
    S, G, R, C = z.shape
    _, N, H, W, _ = out.shape
    inv = z.new_empty(S, G, 1, C)
    gamma, beta = gamma.contiguous(), beta.contiguous()  # held here until the call returns
    sh = _Shape(S, G, N // G, H, W, C, *_strides(out), 0, 0, 0, 0)
    _call("bn_relu_forward", z, ctypes.byref(sh), _ptr(z), _ptr(inv), _ptr(out), _ptr(gamma), _ptr(beta),
          ctypes.c_double(eps))
    return z, inv


def bn_relu_backward(da: Tensor, a: Tensor, xhat: Tensor, inv: Tensor, gamma: Tensor, dgamma: Tensor,
                     dbeta: Tensor) -> Tensor:
    """The backward of :func:`bn_relu_forward`: ``dz`` ``(S, G * R, C)`` from the gradient ``da`` of its output
    ``a`` (both ``(S, N, H, W, C)``, any strides, unit channel stride); the gradients of ``gamma`` and ``beta``,
    summed over groups, are written to the contiguous ``(S, C)`` tensors ``dgamma`` and ``dbeta``."""
    S, G, R, C = xhat.shape
    _, N, H, W, _ = a.shape
    dz = xhat.new_empty(S, G * R, C)
    inv, gamma = inv.contiguous(), gamma.contiguous()
    sh = _Shape(S, G, N // G, H, W, C, *_strides(a), *_strides(da))
    _call("bn_relu_backward", xhat, ctypes.byref(sh), _ptr(da), _ptr(a), _ptr(xhat), _ptr(inv), _ptr(gamma),
          _ptr(dz), _ptr(dgamma), _ptr(dbeta))
    return dz


def bn_relu_rop_forward(u: Tensor, xhat: Tensor, inv: Tensor, a: Tensor, gamma: Tensor, rgamma: Tensor,
                        rbeta: Tensor) -> tuple[Tensor, Tensor, Tensor]:
    """The directional derivative (R-operator) of :func:`bn_relu_forward` for one group per member, as MAML's
    Hessian-vector product needs it (:mod:`reptile.maml.population`): from ``u = R{z}`` ``(S, R, C)`` contiguous
    (overwritten with ``R{xhat}``), the forward's ``xhat`` (``R`` rows per member) and ``inv``, its output ``a``
    ``(S, N, H, W, C)`` (any strides, unit channel stride: the ReLU's derivative is ``a > 0``) and the direction's
    ``rgamma``/``rbeta`` ``(S, C)``. Returns ``(R{xhat} (= u), R{inv} (S, 1, C), R{a} (S, R, C))``."""
    S, R, C = u.shape
    _, N, H, W, _ = a.shape
    if not (u.is_contiguous() and xhat.is_contiguous() and xhat.numel() == u.numel() and N * H * W == R):
        raise ValueError(f"bn_relu_rop_forward takes contiguous u and xhat of one group per member, got "
                         f"{tuple(u.shape)}, {tuple(xhat.shape)} for a of {tuple(a.shape)}")
    ra, rinv = u.new_empty(S, R, C), u.new_empty(S, 1, C)
    inv, gamma, rgamma, rbeta = (t.contiguous() for t in (inv, gamma, rgamma, rbeta))
    sh = _Shape(S, 1, N, H, W, C, *_strides(a), 0, 0, 0, 0)
    _call("bn_relu_rop_forward", u, ctypes.byref(sh), _ptr(u), _ptr(xhat), _ptr(inv), _ptr(a), _ptr(gamma),
          _ptr(rgamma), _ptr(rbeta), _ptr(ra), _ptr(rinv))
    return u, rinv, ra


def bn_relu_rop_backward(da: Tensor, rda: Tensor, a: Tensor, xhat: Tensor, rxhat: Tensor, inv: Tensor, rinv: Tensor,
                         gamma: Tensor, rgamma: Tensor, hgamma: Tensor, hbeta: Tensor) -> tuple[Tensor, Tensor]:
    """The directional derivative of :func:`bn_relu_backward` (one group per member): from the gradient ``da`` of
    ``a`` and its derivative ``rda`` (both ``S R C`` numbers, contiguous), the forward's ``a``, ``xhat``, ``inv``
    and their derivatives ``rxhat``, ``rinv``, and ``gamma`` and ``rgamma``, returns ``(dz, R{dz})`` ``(S, R, C)``
    and writes the derivatives of the gradients of ``gamma`` and ``beta`` to the contiguous ``(S, C)`` tensors
    ``hgamma`` and ``hbeta``."""
    S, R, C = rxhat.shape
    _, N, H, W, _ = a.shape
    da, rda = da.contiguous(), rda.contiguous()
    if not (da.numel() == rda.numel() == xhat.numel() == rxhat.numel() == S * R * C and N * H * W == R
            and xhat.is_contiguous() and rxhat.is_contiguous() and hgamma.is_contiguous() and hbeta.is_contiguous()):
        raise ValueError(f"bn_relu_rop_backward takes contiguous tensors of one group per member, got rxhat "
                         f"{tuple(rxhat.shape)} for a of {tuple(a.shape)}")
    dz, rdz = rxhat.new_empty(S, R, C), rxhat.new_empty(S, R, C)
    inv, rinv, gamma, rgamma = (t.contiguous() for t in (inv, rinv, gamma, rgamma))
    sh = _Shape(S, 1, N, H, W, C, *_strides(a), 0, 0, 0, 0)
    _call("bn_relu_rop_backward", rxhat, ctypes.byref(sh), _ptr(da), _ptr(rda), _ptr(a), _ptr(xhat), _ptr(rxhat),
          _ptr(inv), _ptr(rinv), _ptr(gamma), _ptr(rgamma), _ptr(dz), _ptr(rdz), _ptr(hgamma), _ptr(hbeta))
    return dz, rdz


def im2col(ap: Tensor, out: int) -> Tensor:
    """The 3x3 patches, stride 2, of every output pixel of the padded input ``ap`` ``(S, N, 2 out + 1, 2 out + 1,
    C)`` contiguous: ``(S, N * out * out, 9 C)`` in (kh, kw, C) order, as ``network.im2col_patches`` gives them."""
    S, N, H, W, C = ap.shape
    if not ap.is_contiguous() or H != 2 * out + 1 or W != H:
        raise ValueError(f"im2col takes a contiguous padded input of {2 * out + 1} x {2 * out + 1}, got "
                         f"{tuple(ap.shape)} with strides {ap.stride()}")
    cols = ap.new_empty(S, N * out * out, 9 * C)
    cv = _Conv(S, N, H, W, C, out, 0, 0)
    _call("im2col", ap, ctypes.byref(cv), _ptr(ap), _ptr(cols))
    return cols


def col2im(cols: Tensor, N: int, size: int, out: int, top: int) -> Tensor:
    """The input gradient ``(S, N, size, size, C)`` of a stride-2 3x3 convolution from ``cols`` ``(S, N * out *
    out, 9 C)`` contiguous, ``dz @ kernel^T`` with columns in (kh, kw, C) order; ``top`` is the 'SAME' padding
    before the first row and column."""
    S, _, C9 = cols.shape
    C = C9 // 9
    dx = cols.new_empty(S, N, size, size, C)
    cv = _Conv(S, N, size, size, C, out, top, top)
    _call("col2im", cols, ctypes.byref(cv), _ptr(cols), _ptr(dx))
    return dx


def adam_b1zero(w: Tensor, g: Tensor, v: Tensor, b2: float, neg_lr: float, eps: float) -> None:
    """One inner Adam step with beta1 = 0, in place on the contiguous ``w`` and ``v`` (``g`` is the gradient, and
    the first moment): ``v = b2 v + (1 - b2) g^2``, ``w = w + neg_lr g / (sqrt(v) + eps)``, in one pass instead of
    five, with the numbers of those five PyTorch operations."""
    if not (w.is_contiguous() and g.is_contiguous() and v.is_contiguous()):
        raise ValueError("adam_b1zero takes contiguous tensors")
    _call("adam_b1zero", w, ctypes.c_int64(w.numel()), _ptr(w), _ptr(g), _ptr(v), ctypes.c_double(b2),
          ctypes.c_double(1 - b2), ctypes.c_double(neg_lr), ctypes.c_double(eps))
