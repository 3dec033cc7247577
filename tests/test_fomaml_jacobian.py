"""What separates first-order MAML from MAML: the Jacobian of the inner steps, and nothing else.

MAML's meta-gradient is ``J^T L'_q(W)`` with ``J = dW/dphi``; first-order MAML's is ``L'_q(W)``, the same vector
without ``J^T``. For plain SGD, ``J = prod_i (I - alpha L_i''(W_i))``, a product of ``k`` factors: the identity plus
``O(alpha)`` for ``k = 1``, and further from the identity with every step (the sine chapter measures this).
"""

import pytest
import torch

from reptile import params as P
from reptile.core import fomaml_gradient, inner_loop, maml_gradient
from reptile.optim import SGD
from reptile.tasks import Task

TOL = 1e-10  # float64: products of k Jacobian factors, rounding only


def _adapt_flat(loss, phi, task, k, alpha, batch):
    def W(v):
        w, _ = inner_loop(loss, P.unflatten(v, phi), task, SGD(alpha), {}, k, batch,
                          torch.Generator().manual_seed(0), create_graph=True)
        return P.flatten(w)

    return W


def _mlp_task(seed=0):
    g = torch.Generator().manual_seed(seed)
    shapes = [(6, 1), (6,), (1, 6), (1,)]
    phi = tuple(0.7 * torch.randn(s, generator=g, dtype=torch.float64) for s in shapes)

    def loss(params, batch):
        x, y = batch
        h = torch.tanh(x @ params[0].T + params[1])
        return ((h @ params[2].T + params[3] - y) ** 2).mean()

    x = torch.linspace(-2, 2, 8, dtype=torch.float64)[:, None]
    xq = torch.linspace(-1.5, 1.8, 6, dtype=torch.float64)[:, None]
    return phi, loss, Task(x, torch.sin(2 * x), query_x=xq, query_y=torch.sin(2 * xq))


@pytest.mark.parametrize("k", [1, 2, 3])
def test_maml_is_first_order_maml_times_the_transposed_jacobian(k):
    phi, loss, task = _mlp_task()
    alpha, batch = 0.2, 4
    W = _adapt_flat(loss, phi, task, k, alpha, batch)
    J = torch.autograd.functional.jacobian(W, P.flatten(phi))
    w, _ = inner_loop(loss, phi, task, SGD(alpha), {}, k, batch, torch.Generator().manual_seed(0))
    g_fo = P.flatten(fomaml_gradient(loss, w, task))
    g_maml, _ = maml_gradient(loss, phi, task, SGD(alpha), {}, k, batch, torch.Generator().manual_seed(0))
    torch.testing.assert_close(P.flatten(g_maml), J.T @ g_fo, atol=TOL, rtol=0)
    assert (P.flatten(g_maml) - g_fo).abs().max() > 1e-3  # dropping J^T changes the direction


def test_the_jacobian_of_k_sgd_steps_on_a_quadratic_is_the_product_of_k_factors():
    """L(w) = 1/2 mean_j (w - c_j)^T A (w - c_j): every step multiplies dW/dphi by (I - alpha A), so J = (I - alpha A)^k."""
    g = torch.Generator().manual_seed(1)
    d = 3
    M = torch.randn(d, d, generator=g, dtype=torch.float64)
    A = M @ M.T + torch.eye(d, dtype=torch.float64)
    c = torch.randn(5, d, generator=g, dtype=torch.float64)
    task = Task(c, torch.zeros(5, dtype=torch.float64))

    def loss(params, batch):
        r = params[0] - batch[0]
        return 0.5 * ((r @ A) * r).sum(1).mean()

    phi, alpha = (torch.randn(d, generator=g, dtype=torch.float64),), 0.3
    eye = torch.eye(d, dtype=torch.float64)
    for k in (1, 2, 4):
        J = torch.autograd.functional.jacobian(_adapt_flat(loss, phi, task, k, alpha, 2), P.flatten(phi))
        torch.testing.assert_close(J, torch.linalg.matrix_power(eye - alpha * A, k), atol=TOL, rtol=0)


@pytest.mark.parametrize("k", [1, 3])
def test_maml_gradient_against_an_explicit_product_of_hessian_factors(k):
    """MAML's meta-gradient against ``J^T L'_q(W_k)`` with ``J = (I - alpha H_{k-1}) ... (I - alpha H_0)`` built from
    explicit Hessians of the full-batch support loss at the hand-computed SGD iterates: no path through the package's
    inner loop or its differentiation."""
    phi, loss, task = _mlp_task()
    alpha, n = 0.2, len(task.x)  # full batch: the inner steps are deterministic
    flat0 = P.flatten(phi).detach()

    def support(v):
        return loss(P.unflatten(v, phi), (task.x, task.y))

    def query(v):
        return loss(P.unflatten(v, phi), (task.query_x, task.query_y))

    w, J = flat0.clone(), torch.eye(len(flat0), dtype=torch.float64)
    for _ in range(k):
        H = torch.autograd.functional.hessian(support, w)
        g = torch.autograd.functional.jacobian(support, w)
        J = (torch.eye(len(w), dtype=torch.float64) - alpha * H) @ J
        w = w - alpha * g
    want = J.T @ torch.autograd.functional.jacobian(query, w)
    got, _ = maml_gradient(loss, phi, task, SGD(alpha), {}, k, n, torch.Generator().manual_seed(0))
    torch.testing.assert_close(P.flatten(got), want, atol=TOL, rtol=0)
