"""Section 4.2 and Figure 2: Reptile converges towards a point near all solution manifolds.

Notation follows the paper. A task ``tau`` has a loss ``L_tau`` whose minimisers form its solution manifold
``W*_tau``; ``D(phi, W*_tau)`` is the Euclidean distance from ``phi`` to it and ``W*_tau(phi)`` the closest point
(Equation 20). Reptile with the exact projection is SGD on the mean squared distance (Equations 18-23)::

    E_tau[1/2 D(phi, W*_tau)^2]                                   (18)
    grad = E_tau[phi - W*_tau(phi)]                               (19-20)
    phi <- phi + eps (W*_tau(phi) - phi)                          (21-23)

In practice ``W*_tau(phi)`` is replaced by ``SGD(L_tau, phi, k)``, k gradient steps from ``phi`` (partial
minimisation). Three task families make every target exact:

* ``lines``: rank-1 regression tasks in the plane, ``L(w) = 1/2 s^2 (n.w - c)^2``; ``W*`` is the line ``n.w = c``.
* ``circles``: range-measurement tasks, ``L(w) = 1/2 s^2 (||w - c|| - R)^2``; ``W*`` is a circle.
* ``subspaces``: under-determined linear regression in ``R^d``, ``L(w) = 1/2 ||A w - b||^2 / m`` with ``A`` of
  rank ``r < d``; ``W*`` is the affine subspace ``{w : A w = b}`` of dimension ``d - r``.

On all three, k full-batch gradient steps have a closed form, ``W = W*(phi) + T_k (phi - W*(phi))`` (``T_k`` is
``(I - alpha H)^k`` for the affine tasks and ``(1 - alpha s^2)^k`` for the circles), so the fixed point of
partial-minimisation Reptile is itself the minimiser of a weighted problem: ``E_tau[M_tau (phi - p_tau)] = 0`` with
``M_tau = I - T_k``. For ``k = 1``, ``M_tau = alpha H_tau`` and the fixed point is the minimiser of the expected loss
(Equation 1: one-step Reptile is SGD on ``E_tau[L_tau]``); as ``k`` grows, ``M_tau`` tends to the normal-space
projector ``P_tau`` and the fixed point to the minimiser of Equation 18.

Here: the three families (their losses, exact projections, minimisers and partial-minimisation fixed points) and
Reptile on them, serial (Algorithm 1) and batched (Algorithm 2), with the exact projection or with ``k`` SGD steps
through :class:`reptile.core.MetaLearner`; everything in float64. :mod:`reptile.experiments.manifolds` configures
and runs the chapter's experiment.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Sequence

import torch
from torch import Tensor

from .core import MetaConfig, MetaLearner
from .tasks import Task

DTYPE = torch.float64


# ------------------------------------------------------------------------------------------ the task families


def affine_loss(params: tuple[Tensor, ...], batch: tuple[Tensor, Tensor]) -> Tensor:
    """``L_tau(w) = 1/2 ||A w - b||^2 / m`` on a batch of rows ``(A, b)``: the regression loss of lines/subspaces."""
    (w,) = params
    a, b = batch
    return 0.5 * ((a @ w - b) ** 2).mean()

def circle_loss(params: tuple[Tensor, ...], batch: tuple[Tensor, Tensor]) -> Tensor:
    """``L_tau(w) = 1/2 s^2 (||w - c|| - R)^2``, the squared error of a range measurement ``R`` from a beacon ``c``.
    A row of ``x`` is ``(c_x, c_y, s)``, ``y`` holds ``R``. Its minimisers are the circle of radius R about c."""
    (w,) = params
    x, radius = batch
    c, s = x[:, :2], x[:, 2]
    return 0.5 * (s**2 * (torch.linalg.vector_norm(w - c, dim=1) - radius) ** 2).mean()

class AffineFamily:
    """Tasks ``L_tau(w) = 1/2 ||A_tau w - b_tau||^2 / m`` with consistent ``b_tau`` (``b in range(A)``), so that
    ``W*_tau = {w : A_tau w = b_tau}`` is an affine subspace of dimension ``d - rank(A_tau)``."""

    kind = "affine"

    def __init__(self, A: Sequence[Tensor], b: Sequence[Tensor]):
        self.A = [a.to(DTYPE) for a in A]
        self.b = [v.to(DTYPE) for v in b]
        self.n, self.dim = len(self.A), self.A[0].shape[1]
        self.pinv = [torch.linalg.pinv(a) for a in self.A]
        self.P = [pi @ a for pi, a in zip(self.pinv, self.A)]  # projector onto the normal space row(A_tau)
        self.p = [pi @ v for pi, v in zip(self.pinv, self.b)]  # the point of W*_tau nearest the origin
        self.H = [a.T @ a / len(a) for a in self.A]  # the Hessian of L_tau
        self.g = [a.T @ v / len(a) for a, v in zip(self.A, self.b)]

    def project(self, phi: Tensor, i: int) -> Tensor:
        """``W*_tau(phi)``, the closest point of ``W*_tau`` to ``phi`` (Equation 20): ``phi - A^+ (A phi - b)``."""
        return phi - self.pinv[i] @ (self.A[i] @ phi - self.b[i])

    def loss(self, phi: Tensor, i: int) -> Tensor:
        return 0.5 * ((self.A[i] @ phi - self.b[i]) ** 2).mean()

    def tasks(self) -> list[Task]:
        """One :class:`Task` per tau: its rows of ``A`` are the inputs, ``b`` the targets (loss :func:`affine_loss`)."""
        return [Task(a, v) for a, v in zip(self.A, self.b)]

    loss_fn = staticmethod(affine_loss)

    def weighted_point(self, M: Sequence[Tensor]) -> Tensor:
        """The solution of ``sum_tau M_tau (phi - p_tau) = 0`` (a linear system, solved directly)."""
        lhs = sum(M)
        rhs = sum(m @ p for m, p in zip(M, self.p))
        return torch.linalg.solve(lhs, rhs)

    def distance_minimiser(self) -> Tensor:
        """The minimiser of Equation 18: ``sum_tau P_tau (phi - p_tau) = 0``."""
        return self.weighted_point(self.P)

    def loss_minimiser(self) -> Tensor:
        """The minimiser of ``E_tau[L_tau]``: least squares on the stacked system ``(A_tau / sqrt(m)) w = b_tau /
        sqrt(m)``."""
        A = torch.cat([a / math.sqrt(len(a)) for a in self.A])
        b = torch.cat([v / math.sqrt(len(v)) for v in self.b])
        return torch.linalg.lstsq(A, b[:, None], driver="gelsd").solution[:, 0]

    def inner_map(self, phi: Tensor, i: int, alpha: float, k: int) -> Tensor:
        """``SGD(L_tau, phi, k)`` with full-batch steps, in closed form:
        ``W*(phi) + (I - alpha H)^k (phi - W*(phi))``."""
        T = torch.linalg.matrix_power(torch.eye(self.dim, dtype=DTYPE) - alpha * self.H[i], k)
        w_star = self.project(phi, i)
        return w_star + T @ (phi - w_star)

    def fixed_point(self, alpha: float, k: int) -> Tensor:
        """Where partial-minimisation Reptile converges: ``E_tau[M_tau (phi - p_tau)] = 0`` with
        ``M_tau = I - (I - alpha H_tau)^k``. ``k = 1`` gives ``alpha E[H] phi = alpha E[g]``, the expected-loss
        minimiser; ``k -> infinity`` gives ``M_tau -> P_tau``, Equation 18's minimiser."""
        eye = torch.eye(self.dim, dtype=DTYPE)
        return self.weighted_point([eye - torch.linalg.matrix_power(eye - alpha * h, k) for h in self.H])

class CircleFamily:
    """Tasks ``L_tau(w) = 1/2 s_tau^2 (||w - c_tau|| - R_tau)^2``, whose solution manifolds are circles. The
    minimisers of Equation 18, of the expected loss and the partial-minimisation fixed points are found with a
    generic optimiser (L-BFGS); Reptile is never used for them."""

    kind = "circle"

    def __init__(self, centres: Tensor, radii: Tensor, scales: Tensor):
        self.c, self.radius, self.s = centres.to(DTYPE), radii.to(DTYPE), scales.to(DTYPE)
        self.n, self.dim = len(self.c), 2

    def project(self, phi: Tensor, i: int) -> Tensor:
        """``W*_tau(phi) = c + R (phi - c) / ||phi - c||`` (Equation 20; undefined at the centre)."""
        v = phi - self.c[i]
        return self.c[i] + self.radius[i] * v / torch.linalg.vector_norm(v)

    def loss(self, phi: Tensor, i: int) -> Tensor:
        return 0.5 * self.s[i] ** 2 * (torch.linalg.vector_norm(phi - self.c[i]) - self.radius[i]) ** 2

    def tasks(self) -> list[Task]:
        return [Task(torch.cat([self.c[i], self.s[i : i + 1]])[None], self.radius[i : i + 1]) for i in range(self.n)]

    loss_fn = staticmethod(circle_loss)

    def weighted_point(self, weights: Sequence[float], start: Tensor | None = None) -> Tensor:
        """The minimiser of ``sum_tau w_tau / 2 D(phi, W*_tau)^2`` by L-BFGS from the weighted mean of the centres."""
        wt = torch.as_tensor(list(weights), dtype=DTYPE)
        x = (wt[:, None] * self.c).sum(0) / wt.sum() if start is None else start.clone()
        x = x.clone().requires_grad_(True)
        opt = torch.optim.LBFGS([x], lr=1, max_iter=500, tolerance_grad=1e-14, tolerance_change=1e-16,
                                history_size=20, line_search_fn="strong_wolfe")

        def closure():
            opt.zero_grad()
            f = 0.5 * (wt * (torch.linalg.vector_norm(x - self.c, dim=1) - self.radius) ** 2).sum()
            f.backward()
            return f

        for _ in range(5):
            opt.step(closure)
            if x.grad is not None and float(torch.linalg.vector_norm(x.grad)) < 1e-13:
                break
        return x.detach()

    def distance_minimiser(self) -> Tensor:
        """The minimiser of Equation 18 (all weights 1)."""
        return self.weighted_point([1.0] * self.n)

    def loss_minimiser(self) -> Tensor:
        """The minimiser of ``E_tau[L_tau]``: the same problem weighted by ``s_tau^2``."""
        return self.weighted_point((self.s**2).tolist())

    def inner_map(self, phi: Tensor, i: int, alpha: float, k: int) -> Tensor:
        """``SGD(L_tau, phi, k)``: each step moves along the ray from the centre and multiplies ``||phi - c|| - R`` by
        ``1 - alpha s^2``, so ``W = W*(phi) + (1 - alpha s^2)^k (phi - W*(phi))``."""
        w_star = self.project(phi, i)
        return w_star + (1 - alpha * self.s[i] ** 2) ** k * (phi - w_star)

    def fixed_point(self, alpha: float, k: int) -> Tensor:
        """Where partial-minimisation Reptile converges: the minimiser of ``E[(1 - (1 - alpha s^2)^k) / 2 D^2]``."""
        return self.weighted_point((1 - (1 - alpha * self.s**2) ** k).tolist())

Family = AffineFamily | CircleFamily

def lines_family(lines: Sequence[Sequence[float]]) -> AffineFamily:
    """``(angle, c, s)`` -> ``A = s n^T`` (one row), ``b = s c``: ``L(w) = 1/2 s^2 (n.w - c)^2``, ``W*`` the line."""
    A, b = [], []
    for angle, c, s in lines:
        n = torch.tensor([math.cos(math.radians(angle)), math.sin(math.radians(angle))], dtype=DTYPE)
        A.append(s * n[None])
        b.append(torch.tensor([s * c], dtype=DTYPE))
    return AffineFamily(A, b)

def circles_family(circles: Sequence[Sequence[float]]) -> CircleFamily:
    t = torch.tensor([list(c) for c in circles], dtype=DTYPE)
    return CircleFamily(t[:, :2], t[:, 2], t[:, 3])

def subspace_family(dim: int, rank: int, n_tasks: int, rows: int, scale_range: Sequence[float], cond: float,
                    seed: int) -> AffineFamily:
    """``n_tasks`` regression tasks in ``R^dim``: ``A = sqrt(m) U diag(sqrt(h)) V^T`` with ``U``, ``V`` random
    orthonormal (m x r, d x r), ``h = s^2 [1/cond .. 1]`` (so ``H = A^T A / m = V diag(h) V^T``), ``s`` log-uniform
    in ``scale_range``; ``b = A w_tau`` with ``w_tau ~ N(0, I)`` (the task is consistent: ``min L_tau = 0``)."""
    g = torch.Generator().manual_seed(seed)
    lo, hi = math.log(scale_range[0]), math.log(scale_range[1])
    A, b = [], []
    for _ in range(n_tasks):
        V = torch.linalg.qr(torch.randn(dim, rank, generator=g, dtype=DTYPE))[0]
        U = torch.linalg.qr(torch.randn(rows, rank, generator=g, dtype=DTYPE))[0]
        s = math.exp(lo + (hi - lo) * float(torch.rand((), generator=g, dtype=DTYPE)))
        h = s**2 * torch.logspace(-math.log10(cond), 0, rank, dtype=DTYPE)
        a = math.sqrt(rows) * U @ torch.diag(h.sqrt()) @ V.T
        A.append(a)
        b.append(a @ torch.randn(dim, generator=g, dtype=DTYPE))
    return AffineFamily(A, b)


# ------------------------------------------------------------------------------------- distances and losses


def distance(fam: Family, phi: Tensor, i: int) -> Tensor:
    """``D(phi, W*_tau)``."""
    return torch.linalg.vector_norm(phi - fam.project(phi, i))

def mean_sq_distance(fam: Family, phi: Tensor) -> float:
    """Equation 18's objective, ``E_tau[1/2 D(phi, W*_tau)^2]``, tasks uniform."""
    return float(sum(0.5 * distance(fam, phi, i) ** 2 for i in range(fam.n)) / fam.n)

def expected_loss(fam: Family, phi: Tensor) -> float:
    """``E_tau[L_tau(phi)]``, tasks uniform."""
    return float(sum(fam.loss(phi, i) for i in range(fam.n)) / fam.n)

def distance_gradient(fam: Family, phi: Tensor) -> Tensor:
    """Equations 19-20: ``grad E_tau[1/2 D^2] = E_tau[phi - W*_tau(phi)]``. Zero at Equation 18's minimiser."""
    return sum(phi - fam.project(phi, i) for i in range(fam.n)) / fam.n

def normal_residual_check(fam: AffineFamily, phi: Tensor, i: int) -> tuple[float, float]:
    """For the projection of ``phi`` onto ``W*_tau``: the residual ``||A W - b||`` (on the manifold) and the largest
    component of ``phi - W`` along the manifold, ``||(I - P_tau)(phi - W)||`` (orthogonal to it). Both ~ 0."""
    w = fam.project(phi, i)
    eye = torch.eye(fam.dim, dtype=DTYPE)
    return (float(torch.linalg.vector_norm(fam.A[i] @ w - fam.b[i])),
            float(torch.linalg.vector_norm((eye - fam.P[i]) @ (phi - w))))


# ------------------------------------------------------------------------------------------------- Reptile


def serial_step_size(t: int, eps0: float, t0: float) -> float:
    """The serial runs' outer step, ``eps_t = eps_0 t_0 / (t_0 + t)``: sum eps = infinity, sum eps^2 < infinity
    (Robbins-Monro), so the stochastic iterates converge. (A linear anneal to 0 leaves an O(T^-1/4) error.)"""
    return eps0 * t0 / (t0 + t)

@dataclass
class DecayingReptile(MetaLearner):
    """:class:`MetaLearner` with the outer step :func:`serial_step_size` instead of a linear anneal."""

    decay: float = 10.0

    def outer_step_size(self) -> float:
        return serial_step_size(self.iteration, self.config.outer_step, self.decay)

def reptile_exact_serial(fam: Family, phi0: Tensor, order: Sequence[int], eps0: float, t0: float) -> Tensor:
    """Reptile with the exact projection, one task per iteration: ``phi <- phi + eps_t (W*_tau(phi) - phi)``
    (Equations 21-23). Returns every iterate, shape ``(len(order) + 1, d)``."""
    path = [phi0.clone()]
    phi = phi0.clone()
    for t, i in enumerate(order):
        phi = phi + serial_step_size(t, eps0, t0) * (fam.project(phi, i) - phi)
        path.append(phi)
    return torch.stack(path)

def reptile_partial_serial(fam: Family, phi0: Tensor, order: Sequence[int], alpha: float, k: int, eps0: float,
                           t0: float, seed: int) -> Tensor:
    """Reptile with partial minimisation (Algorithm 1) through :class:`reptile.core.MetaLearner`: ``W = SGD(L_tau,
    phi, k)``, k full-batch SGD steps of ``alpha``, then ``phi <- phi + eps_t (W - phi)`` with the outer step
    :func:`serial_step_size` (``eps0``, ``t0``). ``seed`` seeds the learner's generator. Returns every iterate."""
    tasks = fam.tasks()
    mc = MetaConfig(algorithm="reptile", inner_optimizer="sgd", inner_lr=alpha, inner_iters=k,
                    inner_batch=len(tasks[0]), meta_batch=1, outer_optimizer="sgd", outer_step=eps0,
                    outer_iters=len(order), anneal=False)
    learner = DecayingReptile(fam.loss_fn, (phi0.clone(),), mc, torch.Generator().manual_seed(seed), decay=t0)
    path = [phi0.clone()]
    for i in order:
        learner.meta_step([tasks[i]])
        path.append(learner.phi[0].clone())
    return torch.stack(path)

def reptile_exact_batched(fam: Family, phi0: Tensor, eps: float, max_iters: int, tol: float) -> tuple[Tensor, int]:
    """Algorithm 2 over all tasks with the exact projection: ``phi <- phi + eps E_tau[W*_tau(phi) - phi]``, i.e.
    gradient descent on Equation 18 with step ``eps``; no sampling noise. Stops when a step is below ``tol``."""
    phi = phi0.clone()
    for it in range(1, max_iters + 1):
        step = -eps * distance_gradient(fam, phi)
        phi = phi + step
        if torch.linalg.vector_norm(step) < tol:
            return phi, it
    return phi, max_iters

def reptile_partial_batched(fam: Family, phi0: Tensor, alpha: float, k: int, eps: float, max_iters: int,
                            tol: float) -> tuple[Tensor, int]:
    """Algorithm 2 over all tasks with ``W_tau = SGD(L_tau, phi, k)``, through :class:`MetaLearner`
    (``meta_batch`` = all tasks, constant ``eps``): deterministic, so it converges to the partial-minimisation fixed
    point itself. Stops when a step is below ``tol``."""
    tasks = fam.tasks()
    mc = MetaConfig(algorithm="reptile", inner_optimizer="sgd", inner_lr=alpha, inner_iters=k,
                    inner_batch=len(tasks[0]), meta_batch=len(tasks), outer_optimizer="sgd", outer_step=eps,
                    outer_iters=max_iters, anneal=False)
    learner = MetaLearner(fam.loss_fn, (phi0.clone(),), mc, torch.Generator().manual_seed(0))
    for it in range(1, max_iters + 1):
        before = learner.phi[0]
        learner.meta_step(tasks)
        if torch.linalg.vector_norm(learner.phi[0] - before) < tol:
            return learner.phi[0], it
    return learner.phi[0], max_iters
