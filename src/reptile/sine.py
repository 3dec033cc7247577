"""The sine-wave regression problem of Section 3 (from Finn et al. 2017).

A task is ``f(x) = a sin(x + b)`` with ``a ~ U[0.1, 5]``, ``b ~ U[0, 2 pi]``. Its loss is the squared error on the
whole interval [-5, 5], computed on 50 equally spaced points (Equation 3; we use the mean, which differs from the
integral by a constant factor). At test time the learner sees ``p = 10`` points ``x ~ U[-5, 5]``.
The network is an MLP 1 -> 64 -> 64 -> 1 with tanh (the authors' demo) or ReLU (which the demo attributes to the paper,
whose text names no activation).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import Tensor, nn

from .params import Params
from .tasks import Task

ACTIVATIONS = {"tanh": torch.tanh, "relu": torch.relu}


@dataclass(frozen=True)
class SineTasks:
    """The task distribution. All sampling goes through an explicit ``torch.Generator``."""

    amplitude: tuple[float, float] = (0.1, 5.0)
    phase: tuple[float, float] = (0.0, 2 * math.pi)
    x_range: tuple[float, float] = (-5.0, 5.0)
    grid_points: int = 50

    def sample(self, n: int, generator: torch.Generator, dtype=torch.float32) -> tuple[Tensor, Tensor]:
        """``n`` tasks as amplitudes ``a`` and phases ``b``."""
        a = _uniform(n, *self.amplitude, generator, dtype)
        b = _uniform(n, *self.phase, generator, dtype)
        return a, b

    def grid(self, dtype=torch.float32) -> Tensor:
        return torch.linspace(*self.x_range, self.grid_points, dtype=dtype)

    def points(self, n_tasks: int, shots: int, generator: torch.Generator, dtype=torch.float32) -> Tensor:
        """``shots`` inputs ``x ~ U[x_range]`` for each of ``n_tasks`` tasks, shape ``(n_tasks, shots)``."""
        return _uniform(n_tasks * shots, *self.x_range, generator, dtype).view(n_tasks, shots)

    @staticmethod
    def f(a: Tensor, b: Tensor, x: Tensor) -> Tensor:
        """``a sin(x + b)``, broadcasting ``a``/``b`` of shape ``(T,)`` against ``x`` of shape ``(T, m)``."""
        return a[..., None] * torch.sin(x + b[..., None])

    def training_task(self, a: float | Tensor, b: float | Tensor, device=None, dtype=torch.float32) -> Task:
        """The meta-training task: the 50 grid points (the paper's loss), which are also its query set."""
        x = self.grid(dtype)
        y = torch.as_tensor(a, dtype=dtype) * torch.sin(x + torch.as_tensor(b, dtype=dtype))
        x, y = x[:, None].to(device), y[:, None].to(device)
        return Task(x, y, query_x=x, query_y=y)


def _uniform(n: int, low: float, high: float, generator: torch.Generator, dtype) -> Tensor:
    return low + (high - low) * torch.rand(n, generator=generator, dtype=torch.float64).to(dtype)


# ------------------------------------------------------------------------------------------------------ the MLP


def init_mlp(hidden: tuple[int, ...], seed: int, dtype=torch.float32, device=None) -> Params:
    """Parameters of an MLP ``1 -> hidden... -> 1`` with PyTorch's default ``nn.Linear`` initialisation, drawn from a
    private generator so that the same seed gives the same network whatever else has used the global RNG."""
    sizes = (1, *hidden, 1)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        layers = [nn.Linear(i, o, dtype=dtype) for i, o in zip(sizes[:-1], sizes[1:])]
    return tuple(p.detach().to(device) for layer in layers for p in (layer.weight, layer.bias))


def mlp(params: Params, x: Tensor, activation: str = "tanh") -> Tensor:
    """Forward pass of the MLP: ``x`` of shape ``(m, 1)`` to predictions ``(m, 1)``."""
    act = ACTIVATIONS[activation]
    h = x
    n_layers = len(params) // 2
    for i in range(n_layers):
        w, b = params[2 * i], params[2 * i + 1]
        h = torch.addmm(b, h, w.t()) if h.dim() == 2 else h @ w.t() + b
        if i < n_layers - 1:
            h = act(h)
    return h


def mse_loss_fn(activation: str = "tanh"):
    """The loss ``L(params, (x, y))``: mean squared error of the MLP on the batch."""

    def loss(params: Params, batch: tuple[Tensor, Tensor]) -> Tensor:
        x, y = batch
        return ((mlp(params, x, activation) - y) ** 2).mean()

    return loss
