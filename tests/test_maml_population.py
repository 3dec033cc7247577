"""MAML's meta-gradient on the engine's network (reptile.maml.population) against torch.func's
(reptile.maml.meta_gradient) in float64, on both networks (Reptile's Conv4 and Finn et al.'s), first and second
order, one and two inner steps, with and without batch norm adapted, both loss scales; and its Hessian-vector
product against autograd's double backward."""

import itertools

import pytest
import torch
import torch.nn.functional as F

from reptile.engine import fused
from reptile.engine.network import Conv4
from reptile.maml import MAMLConfig, MAMLLearner, TaskBatch, meta_gradient
from reptile.maml import population as P
from reptile.maml.protocol import build_net

D = torch.float64
TOL = 1e-10  # float64, the same sums in another order, relative to the largest entry (the meta-gradients reach ~50)
N_WAY, SHOTS, QUERIES, TASKS = 5, 2, 3, 3


def tasks(seed=0) -> TaskBatch:
    g = torch.Generator().manual_seed(seed)
    labels = lambda per: torch.arange(N_WAY).repeat_interleave(per).expand(TASKS, -1)  # noqa: E731
    return TaskBatch(torch.rand(TASKS, N_WAY * SHOTS, 1, 28, 28, generator=g, dtype=D), labels(SHOTS),
                     torch.rand(TASKS, N_WAY * QUERIES, 1, 28, 28, generator=g, dtype=D), labels(QUERIES))


def params(network, seed=0):
    """The network's initialisation plus small random offsets (zero biases and unit scales would hide terms)."""
    g = torch.Generator().manual_seed(seed + 100)
    return tuple(p.to(D) + 0.05 * torch.randn(p.shape, generator=g, dtype=D)
                 for p in build_net(network, N_WAY).init_params(seed))


def close(a, b, tol=TOL) -> bool:
    scale = max(float(t.abs().max()) for t in b)
    return all(float((x - y).abs().max()) <= tol * max(scale, 1.0) for x, y in zip(a, b, strict=True))


CASES = [(net, fo, steps, adapt, scale) for net, fo, (steps, adapt), scale in itertools.product(
    ("reptile", "finn"), (False, True), ((1, False), (2, False), (1, True)), ("finn", "mean"))
    if scale == "finn" or (steps, adapt) == (1, False)]


@pytest.mark.parametrize("network,first_order,inner_steps,adapt_norm,loss_scale", CASES)
def test_the_engine_meta_gradient_is_torch_func_s(network, first_order, inner_steps, adapt_norm, loss_scale):
    cfg = MAMLConfig(n_way=N_WAY, shots=SHOTS, queries=QUERIES, meta_batch=TASKS, inner_step=0.1,
                     inner_steps=inner_steps, loss_scale=loss_scale, first_order=first_order, adapt_norm=adapt_norm)
    phi, t = params(network), tasks()
    want, want_loss, want_acc = meta_gradient(build_net(network, N_WAY), phi, t, cfg)
    got, loss, acc = P.meta_gradient(P.EngineNet(network, N_WAY), phi, t, cfg, chunk=2)  # populations of 2 and 1
    assert [g.shape for g in got] == [w.shape for w in want]
    assert close(got, want)
    assert float(loss) == pytest.approx(float(want_loss), rel=TOL) and float(acc) == float(want_acc)


def test_first_and_second_order_differ_by_far_more_than_the_tolerance():
    cfg = MAMLConfig(n_way=N_WAY, shots=SHOTS, queries=QUERIES, meta_batch=TASKS, inner_step=0.1)
    net, phi, t = P.EngineNet("reptile", N_WAY), params("reptile"), tasks()
    so = P.meta_gradient(net, phi, t, cfg, first_order=False)[0]
    fo = P.meta_gradient(net, phi, t, cfg, first_order=True)[0]
    assert not close(so, fo, 1e-3)


@pytest.mark.parametrize("network,first_order,onednn", [(n, fo, mode) for n in ("reptile", "finn")
                                                          for fo in (False, True) for mode in (True, "all")])
def test_the_meta_gradient_through_onednn_convolutions_is_torch_func_s(network, first_order, onednn):
    """Two inner steps with oneDNN's convolutions where they pay (the second layer of the 10 support and 15 query
    images) and on every layer."""
    if fused.library() is None:
        pytest.skip(f"the fused kernels are not built here: {fused.unavailable()}")
    cfg = MAMLConfig(n_way=N_WAY, shots=SHOTS, queries=QUERIES, meta_batch=TASKS, inner_step=0.1, inner_steps=2,
                     first_order=first_order)
    phi, t = params(network), tasks()
    want, want_loss, _ = meta_gradient(build_net(network, N_WAY), phi, t, cfg)
    got, loss, _ = P.meta_gradient(P.EngineNet(network, N_WAY, onednn=onednn), phi, t, cfg, chunk=2)
    assert close(got, want) and float(loss) == pytest.approx(float(want_loss), rel=TOL)


def test_the_engine_network_takes_onednn_from_its_argument_or_the_environment(monkeypatch):
    monkeypatch.setenv("REPTILE_ONEDNN", "1")
    assert P.EngineNet("finn", N_WAY).conv._onednn(torch.zeros(1)) is True
    assert P.EngineNet("finn", N_WAY, onednn=False).conv._onednn(torch.zeros(1)) is False
    monkeypatch.setenv("REPTILE_ONEDNN", "yes")
    with pytest.raises(ValueError, match="REPTILE_ONEDNN='yes': allowed: 0"):
        P.EngineNet("finn", N_WAY)


@pytest.mark.parametrize("network", ["reptile", "finn"])
def test_without_the_fused_kernels_and_in_other_chunks_the_same(network):
    cfg = MAMLConfig(n_way=N_WAY, shots=SHOTS, queries=QUERIES, meta_batch=TASKS, inner_step=0.1, inner_steps=2)
    phi, t = params(network), tasks()
    base = P.meta_gradient(P.EngineNet(network, N_WAY), phi, t, cfg, chunk=TASKS)[0]
    for net, chunk in ((P.EngineNet(network, N_WAY, use_fused=False), TASKS), (P.EngineNet(network, N_WAY), 1)):
        assert close(P.meta_gradient(net, phi, t, cfg, chunk=chunk)[0], base)


@pytest.mark.parametrize("use_fused,onednn", [(True, False), (False, False), (True, True), (True, "all")])
def test_the_hessian_vector_product_is_autograd_s(use_fused, onednn):
    """``H v`` of the summed cross-entropy for two members with different weights and directions, against
    ``d/dw (grad L . v)`` by autograd on the module; the gradient itself too (conv biases: exactly 0 here). With
    oneDNN's convolutions where they pay (10 images: the second layer) and on every layer."""
    if use_fused and fused.library() is None:
        pytest.skip(f"the fused kernels are not built here: {fused.unavailable()}")
    net = build_net("reptile", N_WAY)
    conv = Conv4(N_WAY, use_fused=use_fused, onednn=onednn)
    assert conv.onednn_layers(torch.zeros(1, dtype=D), 10) == {False: (False,) * 4, True: (False, True, False, False),
                                                               "all": (True,) * 4}[onednn]
    g = torch.Generator().manual_seed(3)
    members = [params("reptile", s) for s in (0, 1)]
    directions = [tuple(torch.randn(p.shape, generator=g, dtype=D) for p in members[0]) for _ in range(2)]
    x = torch.rand(2, 10, 1, 28, 28, generator=g, dtype=D)
    y = torch.arange(N_WAY).repeat(2).expand(2, -1)
    _, grad, hv, _ = P.grad_and_hvp(conv, conv.population(members), Conv4.images(x), y, conv.population(directions))
    for m in range(2):
        w = tuple(p.clone().requires_grad_() for p in members[m])
        loss = F.cross_entropy(net(w, x[m]), y[m], reduction="sum")
        gw = torch.autograd.grad(loss, w, create_graph=True)
        hw = torch.autograd.grad(sum((a * b).sum() for a, b in zip(gw, directions[m])), w)
        got_g, got_h = conv.members(grad)[m], conv.members(hv)[m]
        for i, (a, b) in enumerate(zip(got_g, gw)):
            assert torch.allclose(a, b.detach(), rtol=0, atol=1e-12 if i % 4 != 1 or i >= 16 else 1e-10)
        for i, (a, b) in enumerate(zip(got_h, hw)):
            if i < 16 and i % 4 == 1:  # a convolution's bias: 0 exactly here, autograd's rounding noise there
                assert float(a.abs().max()) == 0.0 and float(b.abs().max()) < 1e-10
            else:
                assert torch.allclose(a, b, rtol=0, atol=TOL * max(1.0, float(b.abs().max())))


@pytest.mark.parametrize("network", ["reptile", "finn"])
def test_the_change_of_parameters_gives_the_module_s_logits(network):
    """``E(w)``: the engine's Conv4 with the row of ``w`` computes the module's logits (for Finn's network: the
    scale held at 1, the spatial mean as a tiled dense layer), and ``params`` inverts ``row``."""
    en, module = P.EngineNet(network, N_WAY), build_net(network, N_WAY)
    w = params(network)
    row = en.row(w)
    assert all(torch.equal(a, b) for a, b in zip(en.params(row), w, strict=True)) or network == "finn"
    assert close(en.params(row), w, 1e-15)
    x = torch.rand(4, 1, 28, 28, dtype=D)
    got = en.conv.forward(en.conv.stack(row[None]), Conv4.images(x)[None, None])[0, 0]
    assert torch.allclose(got, module(w, x), rtol=0, atol=1e-12)


def test_the_learner_on_the_engine_path_steps_as_on_torch_func():
    cfg = MAMLConfig(n_way=N_WAY, shots=SHOTS, queries=QUERIES, meta_batch=TASKS, inner_step=0.1)
    a = MAMLLearner(build_net("finn", N_WAY), cfg, init=0, device="cpu", dtype=D, path="engine",
                    engine=P.EngineNet("finn", N_WAY))
    b = MAMLLearner(build_net("finn", N_WAY), cfg, init=0, device="cpu", dtype=D, path="vmap")
    for seed in range(2):
        assert a.meta_step(tasks(seed)) == pytest.approx(b.meta_step(tasks(seed)), rel=1e-9)
    assert close(a.phi, b.phi, 1e-9)


def test_the_engine_path_and_its_network_go_together():
    cfg = MAMLConfig()
    with pytest.raises(ValueError, match="the 'engine' path needs its network as engine="):
        MAMLLearner(build_net("finn", 5), cfg, device="cpu", path="engine")
    with pytest.raises(ValueError, match="unknown meta-gradient path 'jit'; allowed: engine, vmap, loop"):
        MAMLLearner(build_net("finn", 5), cfg, device="cpu", path="jit")
    with pytest.raises(ValueError, match="unknown network 'resnet'; allowed: reptile, finn"):
        P.EngineNet("resnet", 5)
    with pytest.raises(ValueError, match="chunk must be an integer >= 1, got 0"):
        P.meta_gradient(P.EngineNet("finn", N_WAY), params("finn"), tasks(), MAMLConfig(n_way=N_WAY), chunk=0)


@pytest.mark.parametrize("network", ["reptile", "finn"])
def test_scoring_on_the_engine_is_torch_func_s(network):
    """Accuracy after 0..3 test steps, both modes, against the experiment's torch.func scoring (float64: the same
    argmax), in populations of one task and of all; and outputs that are not finite are reported so."""
    from reptile.maml.evaluation import score_steps

    cfg = MAMLConfig(n_way=N_WAY, shots=SHOTS, queries=QUERIES, meta_batch=TASKS, inner_step=0.4)
    phi, t, en = params(network), tasks(), P.EngineNet(network, N_WAY)
    want = score_steps(build_net(network, N_WAY), phi, t, cfg, 3)
    for images in (1, 10_000):
        P.EVAL_CPU_IMAGES, old = images, P.EVAL_CPU_IMAGES
        try:
            got_t, got_n, ok = P.score_steps(en, phi, t, cfg, 3)
        finally:
            P.EVAL_CPU_IMAGES = old
        assert bool(ok.all()) and got_t.shape == (TASKS, 4)
        assert torch.equal(got_t, want["transductive"]) and torch.equal(got_n, want["non_transductive"])
    assert torch.equal(score_steps(None, phi, t, cfg, 3, engine=en)["transductive"], want["transductive"])
    broken = phi[:-1] + (torch.full_like(phi[-1], float("nan")),)  # a NaN in the dense bias: nothing is finite
    assert not bool(P.score_steps(en, broken, t, cfg, 2)[2].any())


@pytest.mark.parametrize("network,first_order,onednn", [("reptile", False, True), ("finn", False, True),
                                                        ("finn", True, False), ("reptile", True, None)])
def test_larger_populations_of_1_shot_5_way_give_the_same_numbers_bit_for_bit(network, first_order, onednn):
    """float32, as the campaign trains: the default population (16 one-shot tasks side by side, 4 chunks of 4) gives
    the meta-gradient, loss and accuracy of populations of one chunk exactly."""
    g = torch.Generator().manual_seed(5)
    n = 16
    labels = torch.arange(N_WAY).expand(n, -1)
    t = TaskBatch(torch.rand(n, N_WAY, 1, 28, 28, generator=g), labels, torch.rand(n, N_WAY, 1, 28, 28, generator=g),
                  labels)
    cfg = MAMLConfig(n_way=N_WAY, shots=1, queries=1, meta_batch=n, inner_step=0.4, inner_steps=1,
                     first_order=first_order)
    phi = tuple(p.float() for p in params(network))
    net = P.EngineNet(network, N_WAY, onednn=onednn)
    chunk = P.default_chunk(t.support_x)
    assert chunk == 4 and P.default_population(t.support_x, chunk) == 16
    one = P.meta_gradient(net, phi, t, cfg, population=chunk)
    whole = P.meta_gradient(net, phi, t, cfg)
    assert all(torch.equal(a, b) for a, b in zip(one[0], whole[0], strict=True))
    assert torch.equal(one[1], whole[1]) and torch.equal(one[2], whole[2])


def test_a_population_is_whole_chunks_and_grows_only_chunks_of_several_tasks():
    five_shot = torch.zeros(8, 25, 1, 28, 28)  # 25 support images: a chunk of one task, a population of one
    assert P.default_chunk(five_shot) == 1 and P.default_population(five_shot, 1) == 1
    cfg = MAMLConfig(n_way=N_WAY, shots=SHOTS, queries=QUERIES, meta_batch=TASKS, inner_step=0.1)
    with pytest.raises(ValueError, match=r"population must be a positive multiple of chunk \(2\), got 3"):
        P.meta_gradient(P.EngineNet("reptile", N_WAY), params("reptile"), tasks(), cfg, chunk=2, population=3)
