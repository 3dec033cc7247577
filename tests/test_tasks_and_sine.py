import math

import pytest
import torch

from reptile.artifacts.sine import zero_function_mse
from reptile.sine import SineTasks, init_mlp, mlp, mse_loss_fn
from reptile.tasks import Task, minibatch_indices


def test_minibatches_are_without_replacement_and_straddle_epochs():
    n, b, k = 10, 4, 7  # 28 samples drawn: epochs of 10, batches cross epoch boundaries
    batches = list(minibatch_indices(n, b, k, torch.Generator().manual_seed(0)))
    assert len(batches) == k and all(len(x) == b for x in batches)
    stream = torch.cat(batches)
    for e in range(2):  # each full epoch is a permutation of all samples
        assert sorted(stream[e * n:(e + 1) * n].tolist()) == list(range(n))
    assert len(set(stream[20:].tolist())) == 8  # the partial third epoch repeats nothing


def test_minibatches_depend_only_on_the_generator():
    a = list(minibatch_indices(50, 10, 5, torch.Generator().manual_seed(3)))
    b = list(minibatch_indices(50, 10, 5, torch.Generator().manual_seed(3)))
    c = list(minibatch_indices(50, 10, 5, torch.Generator().manual_seed(4)))
    assert all(torch.equal(x, y) for x, y in zip(a, b))
    assert not all(torch.equal(x, y) for x, y in zip(a, c))


def test_minibatch_size_must_be_positive():
    with pytest.raises(ValueError, match=r"inner batch size 0 must be >= 1 \(the task holds 10 samples\)"):
        list(minibatch_indices(10, 0, 1, torch.Generator()))


def test_a_minibatch_larger_than_the_task_spans_epochs():
    """The authors' _mini_batches on a 1-shot 5-way task with batches of 25 (their Table 5 Omniglot command): each
    batch is five whole epochs, so it holds each of the 5 samples five times; the draws are the epochs' shuffles."""
    g = torch.Generator().manual_seed(5)
    batches = list(minibatch_indices(5, 25, 3, g))
    assert all(sorted(b.tolist()) == sorted(list(range(5)) * 5) for b in batches)
    g = torch.Generator().manual_seed(5)
    epochs = [torch.randperm(5, generator=g) for _ in range(15)]
    assert torch.equal(torch.cat(batches), torch.cat(epochs))


def test_task_rejects_mismatched_lengths():
    with pytest.raises(ValueError, match="3 inputs but 2 targets"):
        Task(torch.zeros(3, 1), torch.zeros(2, 1))


def test_sine_task_distribution():
    d = SineTasks()
    a, b = d.sample(20000, torch.Generator().manual_seed(0), dtype=torch.float64)
    assert 0.1 <= a.min() and a.max() <= 5.0 and 0 <= b.min() and b.max() <= 2 * math.pi
    assert a.mean() == pytest.approx(2.55, abs=0.05) and b.mean() == pytest.approx(math.pi, abs=0.05)
    x = d.grid()
    assert len(x) == 50 and x[0] == -5 and x[-1] == 5
    task = d.training_task(2.0, 0.5)
    torch.testing.assert_close(task.y[:, 0], 2.0 * torch.sin(x + 0.5))
    # the mean task function is zero, and E[MSE of f = 0] = E[a^2] / 2
    grid = x.double().expand(20000, -1)
    ys = SineTasks.f(a, b, grid)
    assert ys.mean(0).abs().max() < 0.06
    assert (ys**2).mean() == pytest.approx(zero_function_mse(), rel=0.02)
    assert zero_function_mse() == pytest.approx((5**3 - 0.1**3) / (3 * 4.9) / 2, rel=1e-12)


def test_mlp_shapes_and_seeded_init():
    p1, p2, p3 = init_mlp((64, 64), 0), init_mlp((64, 64), 0), init_mlp((64, 64), 1)
    assert [tuple(p.shape) for p in p1] == [(64, 1), (64,), (64, 64), (64,), (1, 64), (1,)]
    assert all(torch.equal(a, b) for a, b in zip(p1, p2, strict=True))
    assert not torch.equal(p1[0], p3[0])
    out = mlp(p1, torch.zeros(5, 1))
    assert out.shape == (5, 1)
    relu = mse_loss_fn("relu")(p1, (torch.ones(3, 1), torch.zeros(3, 1)))
    tanh = mse_loss_fn("tanh")(p1, (torch.ones(3, 1), torch.zeros(3, 1)))
    assert relu.item() != tanh.item()
