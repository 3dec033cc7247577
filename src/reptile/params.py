"""Parameter-vector arithmetic.

A parameter vector is a tuple of tensors (one per model parameter, in the model's order). These small pure helpers
keep the algorithms readable: ``lerp(phi, w, eps)`` is the Reptile update ``phi + eps * (w - phi)``.
"""

from __future__ import annotations

from typing import Sequence

import torch
from torch import Tensor

Params = tuple[Tensor, ...]


def add(a: Params, b: Params) -> Params:
    return tuple(x + y for x, y in zip(a, b, strict=True))


def sub(a: Params, b: Params) -> Params:
    return tuple(x - y for x, y in zip(a, b, strict=True))


def scale(a: Params, s: float | Tensor) -> Params:
    return tuple(x * s for x in a)


def lerp(a: Params, b: Params, t: float) -> Params:
    """``a + t * (b - a)``: the Reptile interpolation towards the adapted weights."""
    return tuple(x + t * (y - x) for x, y in zip(a, b, strict=True))


def mean(vectors: Sequence[Params]) -> Params:
    """Elementwise mean of several parameter vectors (the ``1/n sum_i W_i`` of Algorithm 2)."""
    if not vectors:
        raise ValueError("mean() of an empty list of parameter vectors")
    n = len(vectors)
    return tuple(torch.stack(xs).sum(0) / n for xs in zip(*vectors, strict=True))


def dot(a: Params, b: Params) -> Tensor:
    return sum((x * y).sum() for x, y in zip(a, b, strict=True))


def detach(a: Params) -> Params:
    return tuple(x.detach() for x in a)


def clone(a: Params) -> Params:
    return tuple(x.detach().clone() for x in a)


def requires_grad(a: Params) -> Params:
    """Detached leaves that autograd tracks, for differentiating a loss with respect to ``a``."""
    return tuple(x.detach().requires_grad_(True) for x in a)


def flatten(a: Params) -> Tensor:
    return torch.cat([x.reshape(-1) for x in a])


def unflatten(v: Tensor, like: Params) -> Params:
    out, i = [], 0
    for x in like:
        out.append(v[i : i + x.numel()].view_as(x))
        i += x.numel()
    if i != v.numel():
        raise ValueError(f"vector of {v.numel()} numbers does not fit parameters of {i} numbers")
    return tuple(out)
