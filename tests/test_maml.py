"""MAML and first-order MAML (reptile.maml) against float64 references: central finite differences, the inner
gradients stopped by hand, one task at a time, and SGD steps on the softmax cross-entropy written out by hand."""

import math

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from reptile import params as P
from reptile.fewshot import BN_EPS, FunctionalNet, SameConv2d, TaskSampler, conv4
from reptile.maml import (MAMLConfig, MAMLLearner, TaskBatch, evaluate_task, inner_adapt, inner_mask, meta_gradient,
                          resolve_device, sample_tasks, task_loss)

TOL = 1e-12  # float64, the same arithmetic in another order (vmap against a loop; closed forms): rounding only
FD_H = 1e-5  # central-difference step
FD_TOL = 1e-7  # central differences in float64: truncation O(h^2) plus rounding O(eps / h), on gradients of O(1)
DIFF = 1e-4  # first- and second-order meta-gradients must differ by far more than any tolerance above
D = torch.float64


def tiny_net(n_way=3) -> FunctionalNet:
    """Two conv4 blocks on 8x8 inputs: [3x3 conv stride 2 'same' -> batch norm (batch statistics) -> ReLU] x 2 ->
    dense; 8 -> 4 -> 2, 2x2x4 = 16 features."""
    return FunctionalNet(nn.Sequential(
        SameConv2d(1, 3, 3, stride=2), nn.BatchNorm2d(3, eps=BN_EPS, track_running_stats=False), nn.ReLU(),
        SameConv2d(3, 4, 3, stride=2), nn.BatchNorm2d(4, eps=BN_EPS, track_running_stats=False), nn.ReLU(),
        nn.Flatten(), nn.Linear(16, n_way)))


def tiny_params(net, seed=0):
    """Glorot weights plus small random biases and batch-norm parameters (zero biases would hide their terms)."""
    g = torch.Generator().manual_seed(seed + 100)
    return tuple((p.to(D) + 0.1 * torch.randn(p.shape, generator=g, dtype=D)) for p in net.init_params(seed))


def tiny_tasks(n_tasks=2, n_way=3, shots=2, queries=3, seed=0) -> TaskBatch:
    g = torch.Generator().manual_seed(seed)
    labels = lambda per: torch.arange(n_way).repeat_interleave(per).expand(n_tasks, -1)  # noqa: E731
    return TaskBatch(torch.rand(n_tasks, n_way * shots, 1, 8, 8, generator=g, dtype=D), labels(shots),
                     torch.rand(n_tasks, n_way * queries, 1, 8, 8, generator=g, dtype=D), labels(queries))


def cfg_for(**kw) -> MAMLConfig:
    base = dict(n_way=3, shots=2, queries=3, meta_batch=2, inner_step=0.3, inner_steps=2)
    return MAMLConfig(**{**base, **kw})


def post_adaptation_loss(net, phi, tasks, cfg) -> float:
    """The MAML objective by itself, ``(1/n) sum_tau L_query(W_tau(phi))``, written without reptile.maml's
    meta-gradient code (its value does not depend on first_order)."""
    mask = inner_mask(net, cfg.adapt_norm)
    total = 0.0
    for sx, sy, qx, qy in zip(*tasks):
        w = inner_adapt(net, phi, (sx, sy), cfg.inner_step, cfg.inner_steps, cfg.loss_scale, True, cfg.shots, mask)
        total += float(F.cross_entropy(net(w, qx), qy, reduction="sum")) / cfg.shots
    return total / len(tasks.support_x)


@pytest.mark.parametrize("adapt_norm", [False, True])
@pytest.mark.parametrize("vectorised", [True, False])
def test_second_order_meta_gradient_matches_central_differences(adapt_norm, vectorised):
    """MAML's meta-gradient, through 2 inner steps of a conv net with batch norm, is the derivative of the
    post-adaptation query loss: every coordinate against a central difference in float64."""
    net, cfg = tiny_net(), cfg_for(adapt_norm=adapt_norm)
    phi, tasks = tiny_params(net), tiny_tasks()
    g, loss, _ = meta_gradient(net, phi, tasks, cfg, first_order=False, vectorised=vectorised)
    assert float(loss) == pytest.approx(post_adaptation_loss(net, phi, tasks, cfg), abs=TOL)
    flat = P.flatten(phi)
    fd = torch.empty_like(flat)
    for i in range(flat.numel()):
        e = torch.zeros_like(flat)
        e[i] = FD_H
        fd[i] = (post_adaptation_loss(net, P.unflatten(flat + e, phi), tasks, cfg)
                 - post_adaptation_loss(net, P.unflatten(flat - e, phi), tasks, cfg)) / (2 * FD_H)
    got = P.flatten(g)
    assert fd.abs().max() > 0.05  # a gradient of substance, not a flat spot
    torch.testing.assert_close(got, fd, atol=FD_TOL, rtol=0)


def test_first_order_is_the_query_gradient_with_the_inner_gradients_stopped():
    """First-order MAML = the query gradient at W where W was reached with constant inner gradients (here: plain
    autograd without create_graph, batch norm's parameters not adapted); MAML differs from it."""
    net, cfg = tiny_net(), cfg_for()
    phi, tasks = tiny_params(net, seed=1), tiny_tasks(seed=1)
    mask = inner_mask(net, adapt_norm=False)
    ref = [torch.zeros_like(p) for p in phi]
    for sx, sy, qx, qy in zip(*tasks):
        w = tuple(p.clone() for p in phi)
        for _ in range(cfg.inner_steps):
            leaves = tuple(p.detach().requires_grad_() for p in w)
            loss = F.cross_entropy(net(leaves, sx), sy, reduction="sum") / cfg.shots
            gs = torch.autograd.grad(loss, leaves)  # no create_graph: the inner gradient is a constant
            w = tuple(p - cfg.inner_step * d if a else p for p, d, a in zip(w, gs, mask))
        leaves = tuple(p.detach().requires_grad_() for p in w)
        q = torch.autograd.grad(F.cross_entropy(net(leaves, qx), qy, reduction="sum") / cfg.shots, leaves)
        ref = [r + d / len(tasks.support_x) for r, d in zip(ref, q)]
    fo, _, _ = meta_gradient(net, phi, tasks, cfg, first_order=True)
    so, _, _ = meta_gradient(net, phi, tasks, cfg, first_order=False)
    for a, b in zip(fo, ref, strict=True):
        torch.testing.assert_close(a, b, atol=TOL, rtol=0)
    gap = max(float((a - b).abs().max()) for a, b in zip(fo, so, strict=True))
    assert gap > DIFF, f"first- and second-order meta-gradients agree to {gap:.2e}: no second-order term"
    # and with cfg.first_order the default comes from the configuration
    fo_cfg, _, _ = meta_gradient(net, phi, tasks, cfg_for(first_order=True))
    assert all(torch.equal(a, b) for a, b in zip(fo_cfg, fo, strict=True))


@pytest.mark.parametrize("first_order", [False, True])
def test_vectorised_meta_batch_equals_one_task_at_a_time(first_order):
    """vmap over 4 different tasks (batch-norm statistics per task, not across the meta-batch) = the loop."""
    net, cfg = tiny_net(), cfg_for(meta_batch=4)
    phi, tasks = tiny_params(net, seed=2), tiny_tasks(n_tasks=4, seed=2)
    gv, lv, av = meta_gradient(net, phi, tasks, cfg, first_order=first_order, vectorised=True)
    gl, ll, al = meta_gradient(net, phi, tasks, cfg, first_order=first_order, vectorised=False)
    for a, b in zip(gv, gl, strict=True):
        torch.testing.assert_close(a, b, atol=TOL, rtol=0)
    assert float(lv) == pytest.approx(float(ll), abs=TOL) and float(av) == float(al)
    one = [meta_gradient(net, phi, TaskBatch(*(t[i:i + 1] for t in tasks)), cfg, first_order)[0] for i in range(4)]
    assert float((one[0][0] - one[1][0]).abs().max()) > DIFF  # the tasks really differ
    # statistics pooled over the whole meta-batch would not give the per-task answer
    pooled = net(phi, tasks.query_x.flatten(0, 1))[: len(tasks.query_x[0])]
    assert float((pooled - net(phi, tasks.query_x[0])).abs().max()) > DIFF


def hand_sgd(W, b, x, y, n_way, step, steps, divide_by):
    """SGD on sum_i CE_i / divide_by for logits x W^T + b: dL/dlogits = (softmax - onehot) / divide_by."""
    onehot = F.one_hot(y, n_way).to(D)
    for _ in range(steps):
        G = (torch.softmax(x @ W.T + b, dim=1) - onehot) / divide_by
        W, b = W - step * G.T @ x, b - step * G.sum(0)
    return W, b


@pytest.mark.parametrize("loss_scale,steps", [("finn", 1), ("finn", 3), ("mean", 2)])
def test_inner_steps_on_a_dense_model_against_a_hand_computation(loss_scale, steps):
    """Finn's loss sum_i CE_i / K (and the mean loss, sum / (N K)): the SGD steps written out for softmax regression."""
    n_way, shots = 3, 2
    net = FunctionalNet(nn.Linear(4, n_way))
    g = torch.Generator().manual_seed(3)
    W, b = torch.randn(n_way, 4, generator=g, dtype=D), torch.randn(n_way, generator=g, dtype=D)
    x, y = torch.randn(n_way * shots, 4, generator=g, dtype=D), torch.arange(n_way).repeat(shots)
    got = inner_adapt(net, (W, b), (x, y), 0.4, steps, loss_scale, first_order=False, shots=shots)
    want = hand_sgd(W, b, x, y, n_way, 0.4, steps, shots if loss_scale == "finn" else n_way * shots)
    for a, c in zip(got, want):
        torch.testing.assert_close(a, c, atol=TOL, rtol=0)
    assert float((got[0] - W).abs().max()) > DIFF  # the step moved the weights


@pytest.mark.parametrize("n_way,shots,steps", [(5, 1, 1), (3, 2, 2), (20, 1, 2)])
def test_step_on_finns_loss_is_n_way_times_the_step_on_the_mean_loss(n_way, shots, steps):
    """sum_i CE_i / K on N*K examples is N * mean_i CE_i: Finn's 0.4 is 0.4 * N on PyTorch's mean loss (2.0 for
    5-way), not 0.4."""
    net = tiny_net(n_way)
    phi = tiny_params(net, seed=4)
    g = torch.Generator().manual_seed(4)
    x, y = torch.rand(n_way * shots, 1, 8, 8, generator=g, dtype=D), torch.arange(n_way).repeat(shots)
    logits = net(phi, x)
    assert float(task_loss(logits, y, "finn", shots)) == pytest.approx(n_way * float(task_loss(logits, y, "mean")),
                                                                       abs=TOL)
    finn = inner_adapt(net, phi, (x, y), 0.4, steps, "finn", False, shots)
    mean_n = inner_adapt(net, phi, (x, y), 0.4 * n_way, steps, "mean", False)
    mean_same = inner_adapt(net, phi, (x, y), 0.4, steps, "mean", False)
    for a, c in zip(finn, mean_n):
        torch.testing.assert_close(a, c, atol=1e-10, rtol=0)
    assert max(float((a - c).abs().max()) for a, c in zip(finn, mean_same)) > DIFF


def test_batch_norm_parameters_are_meta_learned_but_not_adapted_by_default():
    net = tiny_net()
    phi = tiny_params(net, seed=5)
    assert inner_mask(net) == (True, True, False, False, True, True, False, False, True, True)
    assert all(inner_mask(net, adapt_norm=True))
    om = FunctionalNet(conv4("omniglot", 5))
    assert sum(not a for a in inner_mask(om)) == 8  # 4 batch norms x (scale, shift)
    tasks = tiny_tasks(seed=5)
    support = (tasks.support_x[0], tasks.support_y[0])
    w = inner_adapt(net, phi, support, 0.3, 2, "finn", False, 2, inner_mask(net))
    moved = [not torch.equal(a, c) for a, c in zip(w, phi)]
    assert moved == list(inner_mask(net))
    g, _, _ = meta_gradient(net, phi, tasks, cfg_for())
    norm = [t for t, a in zip(g, inner_mask(net)) if not a]
    assert len(norm) == 4 and all(float(t.abs().max()) > DIFF for t in norm)  # still meta-learned


def test_evaluate_task_adapts_then_classifies_the_query_batch():
    """Transductive: the adapted network on the query batch alone; otherwise each query beside the support set."""
    net, cfg = tiny_net(), cfg_for(eval_inner_steps=3)
    phi, t = tiny_params(net, seed=6), tiny_tasks(seed=6, queries=3)
    support, query = (t.support_x[0], t.support_y[0]), (t.query_x[0], t.query_y[0])
    w = inner_adapt(net, phi, support, cfg.inner_step, 3, "finn", True, cfg.shots, inner_mask(net))
    want_t = float((net(w, query[0]).argmax(1) == query[1]).double().mean())
    alone = torch.stack([net(w, torch.cat([support[0], q[None]]))[-1] for q in query[0]])
    want_n = float((alone.argmax(1) == query[1]).double().mean())
    assert evaluate_task(net, phi, support, query, cfg) == want_t
    assert evaluate_task(net, phi, support, query, cfg_for(eval_inner_steps=3, transductive=False)) == want_n
    before = [p.clone() for p in phi]
    evaluate_task(net, phi, support, query, cfg)
    assert all(torch.equal(a, c) for a, c in zip(phi, before))


def test_learner_takes_tensorflow_adam_steps_deterministically():
    """The first outer step is Adam's: lr * sqrt(1 - b2) / (1 - b1) * m / (sqrt(v) + eps) with m, v from the
    meta-gradient; two learners from one seed on the same tasks agree bit for bit, and the query loss falls."""
    net, cfg = tiny_net(), cfg_for(outer_lr=1e-2)
    tasks = tiny_tasks(seed=7)
    a = MAMLLearner(net, cfg, init=3, device="auto", dtype=D)
    assert a.device == torch.device("cuda" if torch.cuda.is_available() else "cpu")
    phi0 = tuple(p.clone() for p in a.phi)
    g, _, _ = meta_gradient(net, phi0, TaskBatch(*(t.to(a.device) for t in tasks)), cfg)
    a.meta_step(tasks)
    for p, p0, d in zip(a.phi, phi0, g):
        m, v = 0.1 * d, 0.001 * d * d
        torch.testing.assert_close(p, p0 - 1e-2 * math.sqrt(0.001) / 0.1 * m / (v.sqrt() + 1e-8), atol=TOL, rtol=0)
    b = MAMLLearner(net, cfg, init=3, device="cpu", dtype=D)
    b.meta_step(tasks)
    assert all(torch.equal(x.cpu(), y) for x, y in zip(a.phi, b.phi))
    losses = [a.meta_step(tasks)["query_loss"] for _ in range(15)]
    assert losses[-1] < 0.8 * losses[0]
    state = a.state_dict()
    c = MAMLLearner(net, cfg, init=9, device="cpu", dtype=D)
    c.load_state_dict(state)
    assert c.iteration == 16 and all(torch.equal(x.cpu(), y) for x, y in zip(a.phi, c.phi))


def test_sample_tasks_draws_disjoint_support_and_query_images_from_the_generator():
    images = torch.arange(12 * 6, dtype=torch.uint8).view(12, 6, 1, 1, 1).expand(12, 6, 1, 2, 2).contiguous()
    sampler, cfg = TaskSampler(images), MAMLConfig(n_way=4, shots=2, queries=3)
    t = sample_tasks(sampler, cfg, 5, torch.Generator().manual_seed(0))
    assert t.support_x.shape == (5, 8, 1, 2, 2) and t.query_x.shape == (5, 12, 1, 2, 2)
    assert t.support_y[0].tolist() == [0, 0, 1, 1, 2, 2, 3, 3]
    assert t.query_y[0].tolist() == [0, 0, 0, 1, 1, 1, 2, 2, 2, 3, 3, 3]
    ids = lambda x: (x[..., 0, 0, 0] * 255).round().long()  # noqa: E731  flat image index: class * 6 + image
    for s, q, sy, qy in zip(ids(t.support_x), ids(t.query_x), t.support_y, t.query_y):
        assert len(set(s.tolist()) | set(q.tolist())) == 20  # 8 + 12 distinct images
        for lab in range(4):  # one class per label, in support and query
            assert len(set((s[sy == lab] // 6).tolist()) | set((q[qy == lab] // 6).tolist())) == 1
    again = sample_tasks(sampler, cfg, 5, torch.Generator().manual_seed(0))
    assert all(torch.equal(a, b) for a, b in zip(t, again, strict=True))
    with pytest.raises(ValueError, match=r"shots=2 does not fit: .*holds 6; allowed: shots in 1\.\.1"):
        sample_tasks(sampler, MAMLConfig(n_way=4, shots=2, queries=5), 1, torch.Generator())


@pytest.mark.parametrize("field,value,match", [
    ("n_way", 1, r"n_way must be an integer >= 2, got 1"),
    ("shots", 0, r"shots must be an integer >= 1, got 0"),
    ("queries", 1.5, r"queries must be an integer >= 1, got 1\.5"),
    ("meta_batch", True, r"meta_batch must be an integer >= 1, got True"),
    ("inner_steps", -1, r"inner_steps must be an integer >= 1, got -1"),
    ("eval_inner_steps", 0, r"eval_inner_steps must be an integer >= 1, got 0"),
    ("outer_iters", 0, r"outer_iters must be an integer >= 1, got 0"),
    ("inner_step", 0.0, r"inner_step must be a finite number > 0, got 0\.0"),
    ("outer_lr", float("nan"), r"outer_lr must be a finite number > 0, got nan"),
    ("loss_scale", "sum", r"unknown loss_scale 'sum'; allowed: finn, mean"),
    ("first_order", "yes", r"first_order must be True or False, got 'yes'"),
    ("transductive", 1, r"transductive must be True or False, got 1"),
    ("adapt_norm", None, r"adapt_norm must be True or False, got None"),
])
def test_bad_config_values_raise_naming_the_value(field, value, match):
    with pytest.raises(ValueError, match=match):
        MAMLConfig(**{field: value})


def test_bad_arguments_raise_before_any_work():
    net = tiny_net()
    with pytest.raises(ValueError, match=r"unknown device 'tpu0'; allowed: 'auto', 'cpu'"):
        resolve_device("tpu0")
    with pytest.raises(ValueError, match=r"meta_step got 2 tasks but meta_batch is 3"):
        MAMLLearner(net, cfg_for(meta_batch=3), device="cpu", dtype=D).meta_step(tiny_tasks())
    with pytest.raises(ValueError, match=r"shots must be an integer >= 1, got None"):
        task_loss(torch.zeros(2, 3), torch.zeros(2, dtype=torch.long), "finn")
    with pytest.raises(ValueError, match=r"unknown loss_scale 'sum'"):
        task_loss(torch.zeros(2, 3), torch.zeros(2, dtype=torch.long), "sum", 1)
