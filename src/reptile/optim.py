"""Functional optimisers whose state is an explicit value.

The inner loop of Reptile must be able to (a) carry Adam's moments on from task to task, (b) back them up and
restore them around an evaluation, and (c) for MAML, let autograd differentiate through the update. A functional
optimiser, ``params, state = opt.step(params, grads, state)``, gives all three: nothing is updated in place.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import torch

from .params import Params

State = dict[str, Any]


@dataclass(frozen=True)
class SGD:
    """Plain gradient descent, ``w <- w - lr * g``. It has no state."""

    lr: float

    def init(self, params: Params) -> State:
        return {}

    def step(self, params: Params, grads: Params, state: State, lr: float | None = None) -> tuple[Params, State]:
        lr = self.lr if lr is None else lr
        return tuple(p - lr * g for p, g in zip(params, grads, strict=True)), state


@dataclass(frozen=True)
class Adam:
    """Adam (Kingma & Ba 2015, Algorithm 1 with the efficient form of its Section 2).

    ``lr_t = lr * sqrt(1 - beta2^t) / (1 - beta1^t)`` and ``w <- w - lr_t * m / (sqrt(v) + eps)``, the form used by
    TensorFlow's ``AdamOptimizer`` and so by the authors' code. Reptile's few-shot runs use ``beta1 = 0``.
    """

    lr: float
    betas: tuple[float, float] = (0.9, 0.999)
    eps: float = 1e-8

    def init(self, params: Params) -> State:
        return {
            "step": 0,
            "m": tuple(torch.zeros_like(p) for p in params),
            "v": tuple(torch.zeros_like(p) for p in params),
        }

    def step(self, params: Params, grads: Params, state: State, lr: float | None = None) -> tuple[Params, State]:
        lr = self.lr if lr is None else lr
        b1, b2 = self.betas
        t = state["step"] + 1
        m = tuple(b1 * m_ + (1 - b1) * g for m_, g in zip(state["m"], grads, strict=True))
        v = tuple(b2 * v_ + (1 - b2) * g * g for v_, g in zip(state["v"], grads, strict=True))
        lr_t = lr * math.sqrt(1 - b2**t) / (1 - b1**t)
        new = tuple(p - lr_t * m_ / (v_.sqrt() + self.eps) for p, m_, v_ in zip(params, m, v, strict=True))
        return new, {"step": t, "m": m, "v": v}


Optimizer = SGD | Adam


def make_optimizer(name: str, lr: float, betas: tuple[float, float] = (0.9, 0.999), eps: float = 1e-8) -> Optimizer:
    if name == "sgd":
        return SGD(lr)
    if name == "adam":
        return Adam(lr, tuple(betas), eps)
    raise ValueError(f"unknown optimizer {name!r}; allowed: 'sgd', 'adam'")


def detach_state(state: State) -> State:
    """A copy of ``state`` cut from any autograd graph (used after a differentiable MAML inner loop)."""
    out: State = {}
    for k, v in state.items():
        if isinstance(v, tuple):
            out[k] = tuple(x.detach().clone() for x in v)
        elif isinstance(v, torch.Tensor):
            out[k] = v.detach().clone()
        else:
            out[k] = v
    return out
