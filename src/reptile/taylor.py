"""Section 4.1: the Reptile, MAML and first-order MAML gradients, exactly and to leading order in the step size.

Two SGD steps of size ``alpha`` from ``phi = phi_0``, first on minibatch loss ``L0``, then on ``L1`` (Eqs 4-6)::

    phi_1 = phi_0 - alpha L0'(phi_0)
    g_Reptile = (phi_0 - phi_2) / alpha = L0'(phi_0) + L1'(phi_1)                          (Eq 9)
              = L0' + L1' - alpha L1'' L0' + O(alpha^2)                                     (Eq 10)
    g_MAML    = d/dphi_0 L1(phi_1) = (I - alpha L0''(phi_0)) L1'(phi_1)                      (Eq 11)
              = L1' - alpha L1'' L0' - alpha L0'' L1' + O(alpha^2)                          (Eq 13)
    g_FOMAML  = L1'(phi_1) = L1' - alpha L1'' L0' + O(alpha^2)                              (Eq 14)

(derivatives without an argument are taken at ``phi``). In expectation over the task and the minibatches, with
``AvgGrad = E[L0'(phi)]`` and ``AvgGradInner = E[L0''(phi) L1'(phi)] = 1/2 E[d/dphi (L0'(phi) . L1'(phi))]``::

    E[g_Reptile] = 2 AvgGrad -   alpha AvgGradInner + O(alpha^2)                            (Eq 15)
    E[g_MAML]    =   AvgGrad - 2 alpha AvgGradInner + O(alpha^2)                            (Eq 16)
    E[g_FOMAML]  =   AvgGrad -   alpha AvgGradInner + O(alpha^2)                            (Eq 17)

Beyond the paper, the same expansion for ``k`` minibatches ``L_0 .. L_{k-1}`` (``k`` SGD steps for Reptile; ``k - 1``
inner steps and a meta-gradient on ``L_{k-1}`` for MAML and first-order MAML, so that ``k = 2`` is the paper's case)::

    g_Reptile = sum_i L_i'(phi_i)   = sum_i L_i' - alpha sum_{j<i} L_i'' L_j' + O(alpha^2)
    g_FOMAML  = L_{k-1}'(phi_{k-1}) = L_{k-1}' - alpha sum_{j<k-1} L_{k-1}'' L_j' + O(alpha^2)
    g_MAML    = (I - alpha L_0''(phi_0)) ... (I - alpha L_{k-2}''(phi_{k-2})) L_{k-1}'(phi_{k-1})
              = L_{k-1}' - alpha sum_{j<k-1} (L_{k-1}'' L_j' + L_j'' L_{k-1}') + O(alpha^2)

    E[g_Reptile] = k AvgGrad - alpha k(k-1)/2 AvgGradInner + O(alpha^2)
    E[g_FOMAML]  =   AvgGrad - alpha (k-1)    AvgGradInner + O(alpha^2)
    E[g_MAML]    =   AvgGrad - alpha 2(k-1)   AvgGradInner + O(alpha^2)

The functions here are pure functions of a loss ``L(phi, x, y)`` of a flat parameter vector: the exact
gradients come from running the SGD steps, the leading-order forms from gradients and Hessian-vector products at
``phi`` (``torch.func``: forward-over-reverse ``jvp(grad)``), and the Monte Carlo estimators of AvgGrad and
AvgGradInner from per-sample terms; the chapter runs them in float64 (``DTYPE``).
:mod:`reptile.experiments.taylor` checks them on sampled tasks and stores the chapter's record.
"""

from __future__ import annotations

import math
from typing import Callable, Sequence

import numpy as np
import torch
from torch import Tensor
from torch.func import grad, jvp

from .validate import is_int

METHODS = ("reptile", "maml", "fomaml")
DTYPE = torch.float64
LossFn = Callable[[Tensor, Tensor, Tensor], Tensor]  # L(phi, x, y): a flat parameter vector and a minibatch


# --------------------------------------------------------------------------------------------- derivatives


def hvp(loss: LossFn, phi: Tensor, v: Tensor, x: Tensor, y: Tensor) -> Tensor:
    """The Hessian-vector product ``L''(phi) v`` (forward-over-reverse: the directional derivative of ``L'``)."""
    return jvp(lambda p: grad(loss)(p, x, y), (phi,), (v,))[1]

def sgd_steps(loss: LossFn, phi: Tensor, xs: Tensor, ys: Tensor, alpha: float) -> tuple[list[Tensor], list[Tensor]]:
    """``phi_0 = phi``, ``phi_{i+1} = phi_i - alpha L_i'(phi_i)`` (Eqs 4-6, for as many steps as minibatches).
    Returns ``[phi_0 .. phi_{k-1}]`` and ``[L_0'(phi_0) .. L_{k-1}'(phi_{k-1})]``."""
    phis, grads = [phi], []
    for i in range(len(xs)):
        grads.append(grad(loss)(phis[i], xs[i], ys[i]))
        if i < len(xs) - 1:
            phis.append(phis[i] - alpha * grads[i])
    return phis, grads

def exact_gradients(loss: LossFn, phi: Tensor, xs: Tensor, ys: Tensor, alpha: float) -> dict[str, Tensor]:
    """The exact gradients for minibatches ``L_0 .. L_{k-1}`` (``k = len(xs)``; ``k = 2`` is the paper's case):

    * Reptile, Eq 9: ``(phi - phi_k) / alpha = sum_i L_i'(phi_i)``;
    * MAML, Eq 11: ``d/dphi L_{k-1}(phi_{k-1}) = (I - alpha L_0''(phi_0)) ... (I - alpha L_{k-2}''(phi_{k-2}))
      L_{k-1}'(phi_{k-1})``, the chain rule through the SGD steps, applied right to left with Hessian-vector products;
    * first-order MAML, Eq 14: ``L_{k-1}'(phi_{k-1})``.
    """
    phis, grads = sgd_steps(loss, phi, xs, ys, alpha)
    v = grads[-1]
    for i in reversed(range(len(xs) - 1)):
        v = v - alpha * hvp(loss, phis[i], v, xs[i], ys[i])
    return {"reptile": sum(grads), "maml": v, "fomaml": grads[-1]}

def maml_by_autograd(loss: LossFn, phi: Tensor, xs: Tensor, ys: Tensor, alpha: float) -> Tensor:
    """MAML's gradient by automatic differentiation of ``phi -> L_{k-1}(SGD steps on L_0..L_{k-2} from phi)``: a
    second route to Eq 11, for checking ``exact_gradients``."""

    def meta_loss(p: Tensor) -> Tensor:
        for i in range(len(xs) - 1):
            p = p - alpha * grad(loss)(p, xs[i], ys[i])
        return loss(p, xs[-1], ys[-1])

    return grad(meta_loss)(phi)

def expansion_terms(loss: LossFn, phi: Tensor, xs: Tensor, ys: Tensor) -> tuple[Tensor, Tensor]:
    """The ingredients of the expansion, all at ``phi``: ``a[i] = L_i'(phi)`` (shape ``(k, P)``) and
    ``Ha[i, j] = L_i''(phi) L_j'(phi)`` for ``i != j`` (shape ``(k, k, P)``, zero on the diagonal)."""
    k = len(xs)
    a = torch.stack([grad(loss)(phi, xs[i], ys[i]) for i in range(k)])
    rows = []
    for i in range(k):
        row = [hvp(loss, phi, a[j], xs[i], ys[i]) if j != i else torch.zeros_like(phi) for j in range(k)]
        rows.append(torch.stack(row))
    return a, torch.stack(rows)


# ------------------------------------------------------------------------------------ the expansion's forms


def leading_order(a: Tensor, Ha: Tensor, alpha: float) -> dict[str, Tensor]:
    """The leading-order gradients from ``expansion_terms`` (Eqs 10, 13 and 14 for ``k = 2``; their ``k``-step form
    in general): with ``j < i`` ranging over earlier minibatches and ``l = k - 1`` the last,

    * Reptile: ``sum_i L_i' - alpha sum_{j<i} L_i'' L_j'``;
    * MAML: ``L_l' - alpha sum_{j<l} (L_l'' L_j' + L_j'' L_l')``;
    * first-order MAML: ``L_l' - alpha sum_{j<l} L_l'' L_j'``.
    """
    k, last = len(a), len(a) - 1
    lower = sum((Ha[i, j] for i in range(k) for j in range(i)), torch.zeros_like(a[0]))
    last_row = sum((Ha[last, j] for j in range(last)), torch.zeros_like(a[0]))
    last_col = sum((Ha[j, last] for j in range(last)), torch.zeros_like(a[0]))
    return {"reptile": a.sum(0) - alpha * lower,
            "maml": a[last] - alpha * (last_row + last_col),
            "fomaml": a[last] - alpha * last_row}

def expansion_coefficients(k: int) -> dict[str, tuple[int, int]]:
    """``(c_grad, c_inner)`` with ``E[g] = c_grad AvgGrad - alpha c_inner AvgGradInner + O(alpha^2)`` for ``k``
    minibatches: Reptile ``(k, k(k-1)/2)``, MAML ``(1, 2(k-1))``, first-order MAML ``(1, k-1)``. For ``k = 2``:
    Eqs 15, 16 and 17. (Each ordered pair ``i != j`` of minibatches has ``E[L_i'' L_j'] = AvgGradInner``.)"""
    if not is_int(k) or k < 1:
        raise ValueError(f"k must be an integer >= 1, got {k!r}")
    return {"reptile": (k, k * (k - 1) // 2), "maml": (1, 2 * (k - 1)), "fomaml": (1, k - 1)}

def orderings(k: int) -> list[tuple[int, ...]]:
    """The rotations of ``0..k-1`` and their reversals (deduplicated). Averaged over these orderings, every
    minibatch is last equally often and every pair comes in either order equally often, so the per-sample
    leading-order gradients average exactly to ``c_grad Gbar - alpha c_inner Ibar`` with ``Gbar`` the mean of the
    ``L_i'`` and ``Ibar`` the mean of the ``L_i'' L_j'`` (``i != j``) of that sample: common random numbers."""
    rots = [tuple((r + i) % k for i in range(k)) for r in range(k)]
    return list(dict.fromkeys(rots + [o[::-1] for o in rots]))

def fitted_slope(alphas: Sequence[float], errors: Sequence[float]) -> float | None:
    """Least-squares slope of ``log(error)`` against ``log(alpha)``; ``None`` if an error is zero (exact)."""
    e = np.asarray(errors, dtype=float)
    if np.any(e <= 0) or not np.all(np.isfinite(e)):
        return None
    return float(np.polyfit(np.log(np.asarray(alphas, dtype=float)), np.log(e), 1)[0])


# ------------------------------------------------------------------------------ Monte Carlo estimators


def sample_estimates(a: Tensor, Ha: Tensor) -> tuple[Tensor, Tensor]:
    """Per-sample unbiased estimates of AvgGrad (the mean of the ``L_i'``) and AvgGradInner (the mean of the
    ``L_i'' L_j'`` over ordered pairs ``i != j``; zero when ``k = 1``), each ``(n, P)``."""
    k = a.shape[1]
    G = a.mean(1)
    I = Ha.sum((1, 2)) / (k * (k - 1)) if k > 1 else torch.zeros_like(G)
    return G, I

def fit_coefficients(g: Tensor, G: Tensor, I: Tensor, alpha: float, groups: int) -> tuple[np.ndarray, np.ndarray]:
    """Least squares ``mean(g) ~ c_grad mean(G) - alpha c_inner mean(I)`` over the parameter coordinates (no formula
    is assumed): ``(c_grad, c_inner)`` fitted on all draws, and on each of ``groups`` groups of draws (for standard
    errors). ``c_inner`` is NaN when ``I`` is zero (``k = 1``)."""

    def fit(gb: Tensor, Gb: Tensor, Ib: Tensor) -> np.ndarray:
        if not torch.any(Ib != 0):
            return np.array([float((gb @ Gb) / (Gb @ Gb)), np.nan])
        X = torch.stack([Gb, -alpha * Ib], 1)
        return torch.linalg.lstsq(X.cpu(), gb.cpu()[:, None]).solution[:, 0].numpy()

    full = fit(g.mean(0), G.mean(0), I.mean(0))
    parts = np.stack([fit(gg.mean(0), GG.mean(0), II.mean(0)) for gg, GG, II in
                      zip(g.chunk(groups), G.chunk(groups), I.chunk(groups))])
    return full, parts

def coefficient_limit(alphas: Sequence[float], fits: np.ndarray) -> np.ndarray:
    """The fitted ``(c_grad, c_inner)`` as alpha -> 0, from fits at the two smallest alphas (``fits[0]``,
    ``fits[1]``; the last axis holds the two coefficients). The ``alpha^2`` terms of ``E[g]`` bias the fitted
    ``c_grad`` by ``O(alpha^2)``, so it is taken at the smallest alpha, but ``c_inner`` (the coefficient of
    ``alpha AvgGradInner``) by ``O(alpha)``, so it is extrapolated linearly to alpha = 0, leaving ``O(alpha^2)``."""
    a1, a2 = alphas[0], alphas[1]
    out = np.array(fits[0], dtype=float, copy=True)
    out[..., 1] = fits[0][..., 1] - a1 * (fits[1][..., 1] - fits[0][..., 1]) / (a2 - a1)
    return out

def norm_with_se(r: Tensor) -> tuple[float, float]:
    """``||mean(r)||`` over draws (rows) and its standard error (the delta method: the spread of the draws along
    the direction of the mean)."""
    m = r.mean(0)
    nm = torch.linalg.vector_norm(m)
    if nm == 0:
        return 0.0, 0.0
    proj = r @ (m / nm)
    return float(nm), float(proj.std() / math.sqrt(len(r)))
