"""The update rules against hand-computed float64 references."""

import math

import pytest
import torch

from reptile import params as P
from reptile.core import MetaConfig, MetaLearner, inner_loop, maml_gradient
from reptile.optim import SGD, Adam
from reptile.schedule import linear_anneal
from reptile.tasks import Task

TOL = 1e-12  # float64 closed forms: only rounding error is allowed
FD_TOL = 1e-7  # finite differences in float64 (central, h = 1e-5): truncation error O(h^2)
D = 4


def quad_setup(n_tasks=3, seed=0):
    """Quadratic losses L_i(w) = 1/2 mean_j (w - c_ij)^T A (w - c_ij), one task per i; full-batch minima cbar_i."""
    g = torch.Generator().manual_seed(seed)
    M = torch.randn(D, D, generator=g, dtype=torch.float64)
    A = M @ M.T / D + 0.5 * torch.eye(D, dtype=torch.float64)
    tasks = []
    for _ in range(n_tasks):
        c = torch.randn(6, D, generator=g, dtype=torch.float64)
        tasks.append(Task(c, torch.zeros(6, dtype=torch.float64)))

    def loss(params, batch):
        (w,) = params
        c, _ = batch
        r = w - c
        return 0.5 * ((r @ A) * r).sum(1).mean()

    phi = (torch.randn(D, generator=g, dtype=torch.float64),)
    return A, tasks, loss, phi


def full_batch(cfg_kwargs, n_samples=6):
    return dict(inner_batch=n_samples, **cfg_kwargs)


def grad_quadratic(A, task, w):
    return A @ (w - task.x.mean(0))


def test_reptile_one_inner_step_is_sgd_on_expected_loss():
    """Equation 1: with k = 1, the batched Reptile update is an SGD step on the mean loss of the meta-batch."""
    A, tasks, loss, phi = quad_setup(3)
    alpha, eps = 0.05, 0.3
    cfg = MetaConfig(inner_lr=alpha, outer_step=eps, **full_batch(dict(inner_iters=1, meta_batch=3)), anneal=False)
    learner = MetaLearner(loss, phi, cfg)
    learner.meta_step(tasks)
    mean_grad = sum(grad_quadratic(A, t, phi[0]) for t in tasks) / 3
    expected = phi[0] - eps * alpha * mean_grad
    torch.testing.assert_close(learner.phi[0], expected, atol=TOL, rtol=0)


@pytest.mark.parametrize("k,n", [(3, 2), (5, 4), (2, 1)])
def test_reptile_k_steps_on_quadratics_is_exact(k, n):
    """k SGD steps on a quadratic: W = cbar + (I - alpha A)^k (phi - cbar); Algorithm 2 averages over the n tasks."""
    A, tasks, loss, phi = quad_setup(n, seed=k)
    alpha, eps = 0.1, 0.7
    cfg = MetaConfig(inner_lr=alpha, outer_step=eps, **full_batch(dict(inner_iters=k, meta_batch=n)), anneal=False)
    learner = MetaLearner(loss, phi, cfg)
    learner.meta_step(tasks)
    T = torch.linalg.matrix_power(torch.eye(D, dtype=torch.float64) - alpha * A, k)
    Ws = [t.x.mean(0) + T @ (phi[0] - t.x.mean(0)) for t in tasks]
    expected = phi[0] + eps * sum(W - phi[0] for W in Ws) / n  # 1/n, not the paper's typo 1/k
    torch.testing.assert_close(learner.phi[0], expected, atol=TOL, rtol=0)


def test_reptile_serial_over_iterations_with_annealing():
    """Algorithm 1 for three iterations with eps annealed linearly: each step uses eps_t = eps0 (1 - t/T)."""
    A, tasks, loss, phi = quad_setup(3, seed=7)
    alpha, eps0, T, k = 0.1, 0.9, 3, 2
    cfg = MetaConfig(inner_lr=alpha, outer_step=eps0, outer_iters=T, **full_batch(dict(inner_iters=k)))
    learner = MetaLearner(loss, phi, cfg)
    w = phi[0].clone()
    M = torch.linalg.matrix_power(torch.eye(D, dtype=torch.float64) - alpha * A, k)
    for t, task in enumerate(tasks):
        learner.meta_step([task])
        c = task.x.mean(0)
        W = c + M @ (w - c)
        w = w + eps0 * (1 - t / T) * (W - w)
    torch.testing.assert_close(learner.phi[0], w, atol=TOL, rtol=0)


def test_reptile_gradient_fed_to_adam():
    """The Section 2 variant: Adam's first step on g = (phi - W) / alpha (TensorFlow's form of Adam)."""
    A, tasks, loss, phi = quad_setup(1, seed=3)
    alpha, lr, k = 0.1, 0.01, 3
    b1, b2 = 0.9, 0.999
    cfg = MetaConfig(inner_lr=alpha, outer_step=lr, outer_optimizer="adam", anneal=False,
                     **full_batch(dict(inner_iters=k)))
    learner = MetaLearner(loss, phi, cfg)
    learner.meta_step(tasks)
    c = tasks[0].x.mean(0)
    W = c + torch.linalg.matrix_power(torch.eye(D, dtype=torch.float64) - alpha * A, k) @ (phi[0] - c)
    g = (phi[0] - W) / alpha
    m, v = (1 - b1) * g, (1 - b2) * g * g
    lr_t = lr * math.sqrt(1 - b2) / (1 - b1)
    expected = phi[0] - lr_t * m / (v.sqrt() + 1e-8)
    torch.testing.assert_close(learner.phi[0], expected, atol=TOL, rtol=0)


def tiny_mlp(seed=0):
    g = torch.Generator().manual_seed(seed)
    shapes = [(8, 1), (8,), (8, 8), (8,), (1, 8), (1,)]
    phi = tuple(0.5 * torch.randn(s, generator=g, dtype=torch.float64) for s in shapes)

    def loss(params, batch):
        x, y = batch
        h = torch.tanh(x @ params[0].T + params[1])
        h = torch.tanh(h @ params[2].T + params[3])
        return ((h @ params[4].T + params[5] - y) ** 2).mean()

    x = torch.linspace(-2, 2, 7, dtype=torch.float64)[:, None]
    xq = torch.linspace(-1.7, 1.9, 5, dtype=torch.float64)[:, None]
    task = Task(x, torch.sin(2 * x), query_x=xq, query_y=torch.sin(2 * xq))
    return phi, loss, task


def _adapted(loss, phi, task, k, alpha):
    w, _ = inner_loop(loss, phi, task, SGD(alpha), {}, k, len(task), torch.Generator().manual_seed(0))
    return w


def test_maml_gradient_matches_finite_differences():
    """MAML's meta-gradient d/dphi L_q(SGD(L, phi, k)) against central differences of that function, in float64."""
    phi, loss, task = tiny_mlp()
    k, alpha, h = 3, 0.3, 1e-5
    g, _ = maml_gradient(loss, phi, task, SGD(alpha), {}, k, len(task), torch.Generator().manual_seed(0))

    def F(v):
        return float(loss(_adapted(loss, P.unflatten(v, phi), task, k, alpha), task.query()))

    v0 = P.flatten(phi)
    fd = torch.zeros_like(v0)
    for i in range(len(v0)):
        e = torch.zeros_like(v0)
        e[i] = h
        fd[i] = (F(v0 + e) - F(v0 - e)) / (2 * h)
    torch.testing.assert_close(P.flatten(g), fd, atol=FD_TOL, rtol=1e-6)


def test_fomaml_and_maml_differ_by_the_second_order_terms():
    """First-order MAML is L'_q(W); MAML multiplies it by dW/dphi = prod (I - alpha L''), so they must differ."""
    phi, loss, task = tiny_mlp(1)
    k, alpha = 2, 0.3
    w = _adapted(loss, phi, task, k, alpha)
    wq = P.requires_grad(w)
    expected_fo = torch.autograd.grad(loss(wq, task.query()), wq)
    cfg = MetaConfig(algorithm="fomaml", inner_lr=alpha, inner_iters=k, inner_batch=len(task), outer_step=0.1,
                     anneal=False)
    learner = MetaLearner(loss, phi, cfg)
    learner.meta_step([task])
    torch.testing.assert_close(P.flatten(learner.phi), P.flatten(phi) - 0.1 * P.flatten(expected_fo), atol=TOL, rtol=0)
    g_maml, _ = maml_gradient(loss, phi, task, SGD(alpha), {}, k, len(task), torch.Generator().manual_seed(0))
    assert (P.flatten(g_maml) - P.flatten(expected_fo)).abs().max() > 1e-4


def test_joint_training_is_sgd_on_the_task_loss():
    phi, loss, task = tiny_mlp(2)
    cfg = MetaConfig(algorithm="joint", outer_step=0.05, anneal=False, inner_batch=len(task))
    learner = MetaLearner(loss, phi, cfg)
    learner.meta_step([task])
    pq = P.requires_grad(phi)
    g = torch.autograd.grad(loss(pq, task.query()), pq)
    torch.testing.assert_close(P.flatten(learner.phi), P.flatten(phi) - 0.05 * P.flatten(g), atol=TOL, rtol=0)


def test_linear_anneal_schedule():
    assert linear_anneal(0.1, 0, 100) == 0.1
    assert linear_anneal(0.1, 50, 100) == pytest.approx(0.05, abs=1e-15)
    assert linear_anneal(0.1, 99, 100) == pytest.approx(0.001, abs=1e-15)
    assert linear_anneal(1.0, 100, 100) == 0.0
    assert linear_anneal(1.0, 25, 100, final=0.2) == pytest.approx(0.8, abs=1e-15)
    with pytest.raises(ValueError, match="iteration must be in"):
        linear_anneal(1.0, 101, 100)
    with pytest.raises(ValueError, match="total iterations must be positive"):
        linear_anneal(1.0, 0, 0)


def test_outer_step_size_is_constant_or_annealed_and_held_past_the_end():
    from reptile.schedule import outer_step_size

    assert [outer_step_size(0.4, False, t, 4) for t in (0, 3, 9)] == [0.4, 0.4, 0.4]
    assert [outer_step_size(0.4, True, t, 4) for t in (0, 1, 3)] == pytest.approx([0.4, 0.3, 0.1], abs=1e-15)
    assert outer_step_size(0.4, True, 9, 4) == outer_step_size(0.4, True, 4, 4) == 0.0  # held at its last value


def test_learner_uses_annealed_step_each_iteration():
    A, tasks, loss, phi = quad_setup(1)
    cfg = MetaConfig(outer_step=0.4, outer_iters=4, **full_batch(dict(inner_iters=1)))
    learner = MetaLearner(loss, phi, cfg)
    used = [learner.meta_step(tasks) for _ in range(4)]
    assert used == pytest.approx([0.4, 0.3, 0.2, 0.1], abs=1e-15)


def test_the_annealed_step_drives_the_outer_adam():
    """Reptile's direction (phi - W) / alpha fed to an outer Adam whose learning rate is the annealed step of each
    iteration, computed here by hand: one full-batch inner SGD step makes that direction the task's gradient."""
    import math

    A, tasks, loss, phi = quad_setup(1)
    cfg = MetaConfig(outer_step=0.4, outer_iters=4, outer_optimizer="adam", inner_optimizer="sgd",
                     **full_batch(dict(inner_iters=1)))
    learner = MetaLearner(loss, phi, cfg)
    w, m, v = phi[0].clone(), torch.zeros_like(phi[0]), torch.zeros_like(phi[0])
    (b1, b2), eps = cfg.outer_betas, 1e-8
    for t, lr in enumerate([0.4, 0.3, 0.2, 0.1], start=1):
        g = grad_quadratic(A, tasks[0], w)
        m, v = b1 * m + (1 - b1) * g, b2 * v + (1 - b2) * g * g
        w = w - lr * math.sqrt(1 - b2 ** t) / (1 - b1 ** t) * m / (v.sqrt() + eps)
        assert learner.meta_step(tasks) == pytest.approx(lr, abs=1e-15)
        torch.testing.assert_close(learner.phi[0], w, rtol=0, atol=1e-12)
    assert float((learner.phi[0] - phi[0]).abs().max()) > 0.1  # it moved: the check above is not of a standstill


def test_adam_matches_hand_computed_steps_with_beta1_zero():
    """Three Adam steps (beta1 = 0, as in the few-shot runs) against the formula computed by hand."""
    opt = Adam(lr=0.01, betas=(0.0, 0.999), eps=1e-8)
    w = (torch.tensor([1.0, -2.0], dtype=torch.float64),)
    state = opt.init(w)
    grads = [torch.tensor([0.5, -1.0], dtype=torch.float64), torch.tensor([-0.2, 3.0], dtype=torch.float64),
             torch.tensor([1.5, 0.1], dtype=torch.float64)]
    ref, v = w[0].clone(), torch.zeros(2, dtype=torch.float64)
    for t, g in enumerate(grads, start=1):
        w, state = opt.step(w, (g,), state)
        v = 0.999 * v + 0.001 * g * g
        ref = ref - 0.01 * math.sqrt(1 - 0.999**t) * g / (v.sqrt() + 1e-8)
    torch.testing.assert_close(w[0], ref, atol=TOL, rtol=0)
    assert state["step"] == 3


def test_inner_adam_state_runs_on_through_tasks_and_meta_batches():
    A, tasks, loss, phi = quad_setup(2)
    cfg = MetaConfig(inner_optimizer="adam", inner_lr=1e-3, inner_betas=(0.0, 0.999), inner_iters=3, inner_batch=4,
                     meta_batch=2, outer_step=1.0)
    learner = MetaLearner(loss, phi, cfg)
    learner.meta_step(tasks)
    assert learner.inner_state["step"] == 6  # never reset between the two tasks
    v_after_first = learner.inner_state["v"][0].clone()
    learner.meta_step(tasks)
    assert learner.inner_state["step"] == 12
    assert not torch.equal(v_after_first, learner.inner_state["v"][0])


def test_adapt_leaves_weights_and_optimizer_state_untouched():
    A, tasks, loss, phi = quad_setup(2)
    cfg = MetaConfig(inner_optimizer="adam", inner_lr=1e-2, inner_betas=(0.0, 0.999), inner_iters=3, inner_batch=4,
                     meta_batch=2, outer_step=1.0)
    learner = MetaLearner(loss, phi, cfg)
    learner.meta_step(tasks)
    before = learner.state_dict()
    w = learner.adapt(tasks[0], iters=10, batch=3, generator=torch.Generator().manual_seed(5))
    after = learner.state_dict()
    assert not torch.equal(w[0], learner.phi[0])
    torch.testing.assert_close(after["phi"], before["phi"], atol=0, rtol=0)
    assert after["inner_state"]["step"] == before["inner_state"]["step"]
    torch.testing.assert_close(after["inner_state"]["m"], before["inner_state"]["m"], atol=0, rtol=0)
    torch.testing.assert_close(after["inner_state"]["v"], before["inner_state"]["v"], atol=0, rtol=0)


def test_meta_step_rejects_wrong_meta_batch():
    A, tasks, loss, phi = quad_setup(3)
    learner = MetaLearner(loss, phi, MetaConfig(meta_batch=2, inner_batch=4))
    with pytest.raises(ValueError, match="got 3 tasks but meta_batch is 2"):
        learner.meta_step(tasks)


def test_first_order_maml_as_the_authors_run_it_moves_along_the_last_step():
    """``fomaml_last_step``: phi <- phi + eps * mean_i (W_ik - W_i,k-1), on quadratics in closed form."""
    A, tasks, loss, phi = quad_setup(2, seed=11)
    alpha, eps, k = 0.1, 0.5, 3
    cfg = MetaConfig(algorithm="fomaml_last_step", inner_lr=alpha, outer_step=eps, anneal=False,
                     **full_batch(dict(inner_iters=k, meta_batch=2)))
    learner = MetaLearner(loss, phi, cfg)
    learner.meta_step(tasks)
    I = torch.eye(D, dtype=torch.float64)
    steps = []
    for t in tasks:
        c = t.x.mean(0)
        w_prev = c + torch.linalg.matrix_power(I - alpha * A, k - 1) @ (phi[0] - c)
        steps.append(-alpha * A @ (w_prev - c))
    torch.testing.assert_close(learner.phi[0], phi[0] + eps * sum(steps) / 2, atol=TOL, rtol=0)


def test_a_cuda_run_keeps_float32_precision_and_deterministic_convolutions():
    """seeding.deterministic on CUDA: deterministic cuDNN without benchmarking, and no TF32 (PyTorch lets cuDNN's
    convolutions use it by default), so a GPU run's float32 is the CPU's float32. Only flags: no GPU needed."""
    from reptile import seeding

    flags = [(torch.backends.cudnn, "deterministic"), (torch.backends.cudnn, "benchmark"),
             (torch.backends.cudnn, "allow_tf32"), (torch.backends.cuda.matmul, "allow_tf32")]
    before = [getattr(obj, name) for obj, name in flags]
    try:
        torch.backends.cudnn.allow_tf32, torch.backends.cudnn.benchmark = True, True
        seeding.deterministic(torch.device("cpu"))
        assert torch.backends.cudnn.allow_tf32 and torch.backends.cudnn.benchmark  # the CPU needs nothing
        seeding.deterministic(torch.device("cuda"))
        assert [getattr(obj, name) for obj, name in flags] == [True, False, False, False]
    finally:
        for (obj, name), value in zip(flags, before):
            setattr(obj, name, value)
