"""The population engine against the plain per-run code it replaces.

References are the solo path (``nn.Module`` + autograd + :class:`reptile.core.MetaLearner`), in float64 so that the
comparisons are limited by rounding, not by float32's chaos over many Adam steps. Tolerances are named. Every test
runs twice: with the fused C kernels (:mod:`reptile.engine.fused`) and with the network's PyTorch path.
"""

import dataclasses
import os

import pytest
import torch

from reptile import seeding
from reptile.config import FEWSHOT_PRESETS
from reptile.core import MetaLearner
from reptile.engine import evaluation as E
from reptile.engine import fused, trainer
from reptile.engine.network import Conv4
from reptile.engine.population import AdamState, Population, supports
from reptile.threads import configure, share
from reptile.fewshot import FunctionalNet, TaskSampler, conv4, evaluate
from reptile.tasks import Task
from reptile.validate import DivergedError

GRAD_TOL = 1e-10  # float64: hand-written backward vs autograd, one minibatch
RUN_TOL = 1e-9  # float64: 20 outer iterations of a population member vs its solo run
PRE_BN_BIASES = (1, 5, 9, 13)  # conv biases: batch norm cancels them; their true gradient is 0


@pytest.fixture(autouse=True, params=["fused", "pytorch"])
def kernels(request, monkeypatch):
    """The network's elementwise path: the fused C kernels, or PyTorch operations (``REPTILE_FUSED=0``)."""
    monkeypatch.setenv("REPTILE_FUSED", "1" if request.param == "fused" else "0")
    if request.param == "fused" and fused.library() is None:
        pytest.fail(f"the fused kernels did not load ({fused.unavailable()}); set REPTILE_FUSED=0 to test without")
    return request.param


class Float64Net(FunctionalNet):
    """The solo network in float64 (the samplers hand it float32 images)."""

    def __call__(self, params, x):
        return super().__call__(params, x.double())


def images(classes=30, per_class=20, seed=0):
    g = torch.Generator().manual_seed(seed)
    return torch.randint(0, 256, (classes, per_class, 1, 28, 28), generator=g, dtype=torch.uint8)


def small_config(algorithm="reptile", outer_iters=20):
    base = FEWSHOT_PRESETS["omniglot-1shot-5way"]
    meta = dataclasses.replace(base.meta, algorithm=algorithm, outer_iters=outer_iters, meta_batch=2, inner_iters=3)
    return dataclasses.replace(base, meta=meta, eval_iters=6, curve_tasks=3, curve_every=2)


def solo_learner(cfg, seed):
    net = Float64Net(conv4("omniglot", cfg.n_way).double())
    phi = tuple(p.double() for p in FunctionalNet(conv4("omniglot", cfg.n_way)).init_params(
        seeding.generator(seed, "init")))
    return net, MetaLearner(net.loss, phi, cfg.meta, seeding.generator(seed, "inner"))


def test_layout_round_trips():
    eng = Conv4(5)
    members = [FunctionalNet(conv4("omniglot", 5)).init_params(s) for s in range(3)]
    flat = eng.population(members)
    assert flat.shape == (3 * eng.size,) and eng.size == sum(p.numel() for p in members[0])
    for got, want in zip(eng.members(flat), members):
        assert all(torch.equal(a, b) for a, b in zip(got, want, strict=True))
    assert torch.equal(eng.stack(eng.rows(flat)), flat)


@pytest.mark.parametrize("few,onednn", [(None, False), (True, False), (None, True), (None, "all")],
                         ids=["this device's formulation", "fewest kernels (a GPU's)",
                              "PyTorch's convolutions where they pay", "PyTorch's convolutions on every layer"])
def test_loss_and_gradient_match_autograd(few, onednn):
    torch.manual_seed(0)
    eng, net = Conv4(5, few_kernels=few, onednn=onednn), FunctionalNet(conv4("omniglot", 5).double())
    members = [tuple(q.double() + 0.1 * torch.randn_like(q.double()) for q in params) for params in
               (FunctionalNet(conv4("omniglot", 5)).init_params(s) for s in range(3))]
    x, y = torch.rand(3, 5, 1, 28, 28, dtype=torch.float64), torch.randint(0, 5, (3, 5))
    loss, grad = eng.loss_and_grad(eng.population(members), Conv4.images(x), y)
    for s, (params, g) in enumerate(zip(members, eng.members(grad))):
        leaves = tuple(p.clone().requires_grad_() for p in params)
        ref_loss = net.loss(leaves, (x[s], y[s]))
        ref = torch.autograd.grad(ref_loss, leaves)
        assert abs(float(loss[s] - ref_loss.detach())) < GRAD_TOL
        for i, (a, b) in enumerate(zip(g, ref)):
            if i in PRE_BN_BIASES:  # exactly 0 here; autograd gives rounding noise
                assert torch.count_nonzero(a) == 0 and float(b.abs().max()) < 1e-12
            else:
                assert torch.allclose(a, b, rtol=0, atol=GRAD_TOL * max(1.0, float(b.abs().max()))), i


def test_every_slot_of_the_gradient_buffer_is_written(monkeypatch):
    """The CPU formulation allocates the gradient uninitialised and zeroes only the convolutions' biases: with the
    allocation filled with NaN, the gradient is still autograd's (every other slot written)."""
    empty_like = torch.empty_like
    monkeypatch.setattr(torch, "empty_like", lambda t, **kw: empty_like(t, **kw).fill_(float("nan")))
    test_loss_and_gradient_match_autograd(None, False)
    test_loss_and_gradient_match_autograd(None, True)
    test_loss_and_gradient_match_autograd(None, "all")


@pytest.mark.parametrize("few", [False, True])
def test_a_workspace_reused_over_steps_gives_the_numbers_of_fresh_buffers(few, monkeypatch):
    """The inner loop's workspace (padded inputs, gradient buffer and views made once, then reused): over several
    steps on different weights and minibatches, every gradient equals the one of fresh buffers, bit for bit; the
    buffers really are reused (the same gradient tensor comes back), and a reused padded input's border stays zero
    although its first allocation was filled with NaN."""
    empty = torch.Tensor.new_empty
    monkeypatch.setattr(torch.Tensor, "new_empty", lambda t, *a, **kw: empty(t, *a, **kw).fill_(float("nan")))
    torch.manual_seed(1)
    eng = Conv4(5, few_kernels=few)
    flat = eng.population([FunctionalNet(conv4("omniglot", 5)).init_params(s) for s in range(3)]).double()
    ws, grads = {}, []
    for step in range(3):
        x, y = torch.rand(3, 5, 28, 28, 1, dtype=torch.float64), torch.randint(0, 5, (3, 5))
        _, fresh = eng.loss_and_grad(flat, x, y, loss=False)
        _, reused = eng.loss_and_grad(flat, x, y, loss=False, ws=ws)
        assert torch.equal(fresh, reused), step
        grads.append(reused)
        flat = flat - 0.01 * fresh  # the next step's weights: a new tensor, as a new task's clone of phi is
    assert all(g is grads[0] for g in grads)  # one buffer, overwritten by each step
    assert any(k[0] == "padded" for k in ws)
    assert sum(k[0] == "views" for k in ws) == 2  # of the last weights and of the gradient: no growth per task


def test_fewest_kernels_off_the_cpu_unless_the_environment_says_no(monkeypatch):
    """The formulation's default: the fewest kernels off a CPU (a meta tensor stands for a GPU's), the earlier one
    with REPTILE_FEW_KERNELS=0, and what the constructor names wins over both."""
    monkeypatch.delenv("REPTILE_FEW_KERNELS", raising=False)
    cpu, gpu = torch.empty(1), torch.empty(1, device="meta")
    assert not Conv4(5)._few_kernels(cpu) and Conv4(5)._few_kernels(gpu)
    monkeypatch.setenv("REPTILE_FEW_KERNELS", "0")
    assert not Conv4(5)._few_kernels(gpu)
    assert Conv4(5, few_kernels=True)._few_kernels(gpu) and Conv4(5, few_kernels=True)._few_kernels(cpu)


ONEDNN_TOL = 1e-5  # float32: oneDNN's convolutions against im2col and batched multiplies, relative to the largest


@pytest.mark.parametrize("mode", [True, "all"], ids=["where they pay", "every layer"])
@pytest.mark.parametrize("members,batch,n_way", [(1, 20, 20), (3, 5, 5), (2, 15, 20)])
def test_onednn_convolutions_give_the_numbers_of_the_batched_multiplies_in_float32(members, batch, n_way, mode,
                                                                                   kernels):
    """In float32 PyTorch's convolution is oneDNN's on a CPU (in float64, above, its reference kernels): the loss,
    the gradient (reused workspace too) and the grouped forward of the evaluation agree with the im2col path to
    float rounding. Without the fused kernels the switch is ignored (batch norm stays PyTorch's): bit for bit."""
    torch.manual_seed(members)
    bmm, dnn = Conv4(n_way, onednn=False), Conv4(n_way, onednn=mode)
    flat = torch.randn(members * bmm.size) * 0.1
    x, y = torch.rand(members, batch, 28, 28, 1), torch.randint(0, n_way, (members, batch))
    (l1, g1), (l2, g2) = bmm.loss_and_grad(flat, x, y), dnn.loss_and_grad(flat, x, y)
    ws = {}
    for _ in range(2):
        _, g3 = dnn.loss_and_grad(flat, x, y, ws=ws)
    xg = torch.rand(members, 3, 4, 28, 28, 1)
    f1, f2 = bmm.forward(flat, xg), dnn.forward(flat, xg)
    if kernels == "pytorch":
        assert torch.equal(g1, g2) and torch.equal(f1, f2)
        return
    scale = float(g1.abs().max())
    assert float((g1 - g2).abs().max()) < ONEDNN_TOL * scale and 0 < float((g1 - g2).abs().max())  # another path
    assert torch.equal(g2, g3)
    assert torch.allclose(l1, l2, rtol=ONEDNN_TOL)
    assert torch.allclose(f1, f2, rtol=0, atol=ONEDNN_TOL * float(f1.abs().max()))


def test_onednn_convolutions_on_a_cpu_when_asked(monkeypatch):
    """The default: the batched multiplies; REPTILE_ONEDNN=1 switches a CPU to PyTorch's convolutions where they
    pay, REPTILE_ONEDNN=all on every layer, never a GPU; what the constructor names wins over the environment; any
    other value stops at construction, naming it."""
    monkeypatch.delenv("REPTILE_ONEDNN", raising=False)
    cpu, gpu = torch.empty(1), torch.empty(1, device="meta")
    assert not Conv4(5)._onednn(cpu) and Conv4(5, onednn=True)._onednn(cpu) and not Conv4(5, onednn=True)._onednn(gpu)
    monkeypatch.setenv("REPTILE_ONEDNN", "1")
    assert Conv4(5)._onednn(cpu) is True and not Conv4(5)._onednn(gpu) and not Conv4(5, onednn=False)._onednn(cpu)
    monkeypatch.setenv("REPTILE_ONEDNN", "all")
    assert Conv4(5)._onednn(cpu) == "all" and Conv4(5, onednn=True)._onednn(cpu) is True
    monkeypatch.setenv("REPTILE_ONEDNN", "yes")
    with pytest.raises(ValueError, match="REPTILE_ONEDNN='yes': allowed: 0 .* 1 .* or all"):
        Conv4(5)
    Conv4(5, onednn=False)  # named in the constructor: the environment is not read
    with pytest.raises(ValueError, match="onednn must be None, False, True or 'all', got 'on'"):
        Conv4(5, onednn="on")


@pytest.mark.parametrize("images,want", [(5, (False, True, False, False)), (15, (False, True, True, False)),
                                         (49, (False, True, True, False)), (50, (False, True, True, True))])
def test_onednn_takes_the_layers_where_it_pays(images, want):
    """With onednn=True, oneDNN takes a layer with several input channels (not the first, one channel) and at
    least ONEDNN_MIN_ROWS (200) output pixels per member: the second layer (7x7 outputs) from 5 images, the third
    (4x4) from 13, the last (2x2) from 50; "all" takes every layer; a GPU or the PyTorch kernels none."""
    cpu, gpu = torch.empty(1), torch.empty(1, device="meta")
    assert Conv4(5, onednn=True).onednn_layers(cpu, images) == want
    assert Conv4(5, onednn="all").onednn_layers(cpu, images) == (True,) * 4
    assert Conv4(5, onednn=True).onednn_layers(gpu, images) == (False,) * 4
    assert Conv4(5, onednn="all").onednn_layers(cpu, images, fast=False) == (False,) * 4


def test_grouped_forward_is_per_group_batch_norm():
    """Groups of one forward call normalise by themselves: the same as separate calls."""
    torch.manual_seed(1)
    eng = Conv4(5)
    flat = eng.population([FunctionalNet(conv4("omniglot", 5)).init_params(0)]).double()
    x = torch.rand(1, 3, 4, 28, 28, 1, dtype=torch.float64)
    together = eng.forward(flat, x)
    apart = torch.cat([eng.forward(flat, x[:, g: g + 1]) for g in range(3)], 1)
    assert torch.allclose(together, apart, atol=1e-12)


@pytest.mark.parametrize("algorithm", ["reptile", "fomaml_last_step"])
def test_population_members_match_their_solo_runs(algorithm):
    cfg, seeds = small_config(algorithm), [0, 1, 2]
    imgs = [images(seed=s) for s in seeds]
    pop = Population(cfg, seeds, imgs, dtype=torch.float64)
    for _ in range(cfg.meta.outer_iters):
        pop.meta_step()
    assert pop.iteration == 20 and pop.inner.step == 20 * 2 * 3  # Adam's state ran on through every task
    for i, seed in enumerate(seeds):
        _, learner = solo_learner(cfg, seed)
        sampler, tasks = TaskSampler(imgs[i]), seeding.generator(seed, "tasks")
        for _ in range(cfg.meta.outer_iters):
            batch = [sampler.training_task(cfg.n_way, cfg.train_shots, tasks) for _ in range(cfg.meta.meta_batch)]
            learner.meta_step([Task(t.x.double(), t.y) for t in batch])
        mine = pop.member_params(i)
        moments = pop.net.unpack(pop.net.rows(pop.inner.v)[i])
        for k, (a, b) in enumerate(zip(mine, learner.phi, strict=True)):
            if k in PRE_BN_BIASES:  # the engine's gradient there is exactly 0, so they stay at their initial zeros
                assert torch.count_nonzero(a) == 0, (seed, k)  # (autograd's rounding walks the solo run's a little)
                continue
            assert torch.allclose(a, b, rtol=0, atol=RUN_TOL), (seed, k, float((a - b).abs().max()))
            assert torch.allclose(moments[k], learner.inner_state["v"][k], rtol=1e-6, atol=1e-20)
        assert learner.inner_state["step"] == pop.inner.step


@pytest.mark.parametrize("algorithm,beta1", [("reptile", 0.0), ("fomaml_last_step", 0.0), ("reptile", 0.5)])
def test_members_in_groups_give_the_numbers_of_the_whole_population(algorithm, beta1):
    """On a CPU the members' inner loops may run in groups (Population.member_group); on one thread (the campaign's
    workers) the numbers are those of the whole population bit for bit: each member's products and kernels are
    computed on their own either way. (On several threads a batched product may split its work, and so round an
    item, differently with the batch's size: the groups then agree to float tolerance, as a member with its solo
    run.)"""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        _members_in_groups(algorithm, beta1)
    finally:
        torch.set_num_threads(before)


def _members_in_groups(algorithm, beta1):
    cfg = small_config(algorithm, outer_iters=3)
    cfg = dataclasses.replace(cfg, meta=dataclasses.replace(cfg.meta, inner_betas=(beta1, 0.999)))
    seeds = [0, 1, 2]
    imgs = [images(seed=s) for s in seeds]
    pops = {g: Population(cfg, seeds, imgs, member_group=g) for g in (3, 2, 1)}
    assert [[list(r) for r in p.member_groups()] for p in pops.values()] == [[[0, 1, 2]], [[0, 1], [2]],
                                                                             [[0], [1], [2]]]
    for p in pops.values():
        for _ in range(3):
            p.meta_step()
    whole = pops[3]
    for g in (2, 1):
        p = pops[g]
        assert p.iteration == whole.iteration and p.inner.step == whole.inner.step == 3 * 2 * 3
        assert torch.equal(p.phi, whole.phi) and torch.equal(p.inner.v, whole.inner.v), g
        if beta1:
            assert torch.equal(p.inner.m, whole.inner.m) and bool(p.inner.m.abs().sum() > 0)
        assert all(torch.equal(a.get_state(), b.get_state()) for a, b in zip(p.inner_generators,
                                                                               whole.inner_generators))


def test_member_groups_on_a_cpu_hold_about_cpu_group_images():
    from reptile.engine.population import CPU_GROUP_IMAGES

    imgs = [images(seed=s) for s in range(3)]
    for batch in (5, CPU_GROUP_IMAGES // 2, CPU_GROUP_IMAGES, 2 * CPU_GROUP_IMAGES):
        cfg = small_config()
        cfg = dataclasses.replace(cfg, meta=dataclasses.replace(cfg.meta, inner_batch=batch))
        groups = Population(cfg, [0, 1, 2], imgs).member_groups()
        size = max(1, min(3, CPU_GROUP_IMAGES // batch))
        assert [len(r) for r in groups] == [size] * (3 // size) + ([3 % size] if 3 % size else []), batch
    with pytest.raises(ValueError, match="member_group must be None or an integer >= 1, got 0"):
        Population(small_config(), [0], imgs[:1], member_group=0)


@pytest.mark.parametrize("over", [False, True])  # True: batches larger than a task's samples (the authors' code)
def test_vectorised_evaluation_predicts_as_one_at_a_time(over):
    cfg, seeds = small_config(), [0, 1]
    if over:  # each batch holds a task's samples about twice, straddling epochs
        cfg = dataclasses.replace(cfg, eval_batch=2 * cfg.n_way * cfg.shots + 1)
    imgs = [images(seed=s) for s in seeds]
    pop = Population(cfg, seeds, imgs, dtype=torch.float64)
    for _ in range(3):
        pop.meta_step()
    samplers = [TaskSampler(im) for im in imgs]
    got = E.evaluate(pop.net, pop.phi, pop.inner, samplers, [torch.Generator().manual_seed(10 + i) for i in range(2)],
                     cfg.n_way, cfg.shots, cfg.eval_iters, cfg.eval_batch, 9, cfg.meta.inner_lr,
                     cfg.meta.inner_betas, torch.float64, chunk=4)  # chunks that straddle the two members
    for i in range(2):
        net, learner = solo_learner(cfg, seeds[i])
        learner.phi = pop.member_params(i)
        rows = lambda t: pop.net.unpack(pop.net.rows(t)[i])  # noqa: E731
        learner.inner_state = {"step": pop.inner.step, "m": rows(pop.inner.m), "v": rows(pop.inner.v)}
        want = evaluate(learner, net, samplers[i], cfg.n_way, cfg.shots, cfg.eval_iters, cfg.eval_batch, 9,
                        torch.Generator().manual_seed(10 + i))
        assert got[i] == want
    assert pop.inner.step == 3 * 2 * 3  # evaluation adapted copies: the population's state is untouched


def test_resumed_population_gives_the_numbers_of_an_uninterrupted_one(tmp_path):
    cfg, seeds = small_config(outer_iters=6), [0, 1]
    imgs = [images(seed=s) for s in seeds]

    def curve(p):
        return [{"mean_weight": float(r.mean())} for r in p.net.rows(p.phi)]

    whole = Population(cfg, seeds, imgs)
    full = trainer.train(whole, 6, evaluate=curve, eval_every=2, progress=False)
    ck = tmp_path / "pop.pt"
    first = trainer.train(Population(cfg, seeds, imgs), 6, evaluate=curve, eval_every=2, checkpoint=ck,
                          stop_after=0.0, progress=False, run_config={"seeds": seeds})
    assert not first["done"] and ck.exists()
    resumed = Population(cfg, seeds, imgs)
    rest = trainer.train(resumed, 6, evaluate=curve, eval_every=2, checkpoint=ck, progress=False,
                         run_config={"seeds": seeds})
    assert rest["done"] and torch.equal(resumed.phi, whole.phi) and torch.equal(resumed.inner.v, whole.inner.v)
    assert rest["curves"] == full["curves"]
    assert [s["start"] for s in rest["segments"]] == [0, 1] and rest["segments"][-1]["end"] == 6
    from reptile.provenance import git_commit  # each segment names the code that ran it

    here = git_commit()
    assert all(s["code"] == (here["commit"] or "unknown")[:7] + ("+dirty" if here["dirty"] else "")
               for s in rest["segments"])
    with pytest.raises(ValueError, match="another configuration"):
        trainer.train(Population(cfg, seeds, imgs), 6, checkpoint=ck, progress=False, run_config={"seeds": [9]})


def test_each_piece_of_a_resumed_run_records_its_engine_switches(tmp_path, monkeypatch):
    """A run resumed with another engine switch (here oneDNN's convolutions) says which iterations ran with it: each
    segment has the switches set when it ran (the fixture sets REPTILE_FUSED for both). The numbers stay those of
    the same weights to float rounding (another path), so the record is what tells the pieces apart."""
    cfg, seeds = small_config(outer_iters=4), [0]
    imgs = [images(seed=0)]
    ck = tmp_path / "pop.pt"
    monkeypatch.delenv("REPTILE_ONEDNN", raising=False)
    first = trainer.train(Population(cfg, seeds, imgs), 4, checkpoint=ck, stop_after=0.0, progress=False,
                          run_config={"seeds": seeds})
    fused_switch = {"REPTILE_FUSED": os.environ["REPTILE_FUSED"]}
    assert not first["done"] and first["segments"][0]["switches"] == fused_switch
    monkeypatch.setenv("REPTILE_ONEDNN", "1")
    rest = trainer.train(Population(cfg, seeds, imgs), 4, checkpoint=ck, progress=False, run_config={"seeds": seeds})
    assert rest["done"] and [s["switches"] for s in rest["segments"]] == [fused_switch,
                                                                         {**fused_switch, "REPTILE_ONEDNN": "1"}]
    monkeypatch.delenv("REPTILE_FUSED")  # none set: the segment has no switches
    monkeypatch.delenv("REPTILE_ONEDNN")
    assert "switches" not in trainer.train(Population(cfg, seeds, imgs), 1, progress=False)["segments"][0]


def test_diverging_member_stops_the_population():
    cfg = small_config()
    cfg = dataclasses.replace(cfg, meta=dataclasses.replace(cfg.meta, inner_lr=1e6))
    pop = Population(cfg, [0, 1], [images(), images(seed=1)])
    pop.meta_step()
    with pytest.raises(DivergedError, match="seed 0: the meta-parameters .* at outer iteration 1"):
        pop.check_finite()


def test_deferred_divergence_check_reads_every_finite_every_iterations_and_before_checkpoints(tmp_path):
    """As on a GPU (finite_every=100 there): the weights are read every ``finite_every`` iterations, and a member
    that diverged in between is caught at the next read, named with the iterations in which it diverged."""
    cfg = small_config()
    pop = Population(cfg, [0, 1], [images(), images(seed=1)], finite_every=4)
    assert Population(cfg, [0], [images()]).finite_every == 1  # a CPU reads every iteration
    for _ in range(4):
        pop.meta_step()
        pop.check_finite()
    big = pop.net.rows(pop.phi)
    big[1, 3] = 3e6  # member 1 (seed 1) diverges in iteration 5; the weights recover, the running maximum does not
    bad = pop.net.stack(big)
    pop.phi = bad
    pop.iteration += 1
    pop.check_finite()  # iteration 5: not read
    pop.phi = pop.net.stack(pop.net.rows(bad).clamp(-1, 1))
    for it in (6, 7):
        pop.iteration = it
        pop.check_finite()
    pop.iteration = 8
    with pytest.raises(DivergedError, match=r"seed 1: the meta-parameters grew beyond 1e\+06 in magnitude \(largest "
                                            r"3.00e\+06\) between outer iterations 4 and 8"):
        pop.check_finite()
    pop.phi[0] = float("nan")  # read at once with now=True, whatever the iteration
    pop.iteration = 9
    with pytest.raises(DivergedError, match="seed 0: the meta-parameters became NaN or infinite at outer iteration 9"):
        pop.check_finite(now=True)
    with pytest.raises(ValueError, match="finite_every must be None or an integer >= 1, got 0"):
        Population(cfg, [0], [images()], finite_every=0)
    # the trainer reads before every checkpoint: a diverged population is never saved
    nan = Population(cfg, [0], [images()], finite_every=1000)
    nan.phi[0] = float("nan")
    ck = tmp_path / "ck.pt"
    with pytest.raises(DivergedError, match="seed 0"):
        trainer.train(nan, 3, checkpoint=ck, stop_after=0.0, progress=False)
    assert not ck.exists()


def test_engine_covers_omniglot_and_says_what_it_does_not():
    from reptile.experiments.fewshot import pick_engine

    assert supports(FEWSHOT_PRESETS["omniglot-1shot-5way"])
    mini = FEWSHOT_PRESETS["miniimagenet-1shot-5way"]
    assert not supports(mini) and pick_engine(mini) == "solo"
    with pytest.raises(ValueError, match="does not run 'miniimagenet-1shot-5way'"):
        pick_engine(mini, "population")
    with pytest.raises(ValueError, match="unknown engine 'fast'; allowed: auto, population, solo"):
        pick_engine(mini, "fast")
    with pytest.raises(ValueError, match="distinct seeds"):
        Population(small_config(), [0, 0], [images(), images()])


def test_adam_in_place_matches_the_functional_adam():
    from reptile.optim import Adam

    torch.manual_seed(2)
    w, g1, g2 = (torch.randn(7, dtype=torch.float64) for _ in range(3))
    state, opt = AdamState.zeros(w), Adam(1e-2, (0.5, 0.99))
    mine = w.clone()
    ref, ref_state = (w,), opt.init((w,))
    for g in (g1, g2):
        from reptile.engine.population import adam_step
        adam_step(mine, g, state, 1e-2, (0.5, 0.99))
        ref, ref_state = opt.step(ref, (g,), ref_state)
    assert torch.allclose(mine, ref[0], rtol=0, atol=1e-15) and state.step == ref_state["step"] == 2


def test_threads_are_the_cores_divided_among_processes(monkeypatch):
    before = torch.get_num_threads()
    try:
        monkeypatch.setattr("reptile.threads.cores", lambda: 2)
        assert share(1) == 2 and share(2) == 1 and share(3) == 1
        monkeypatch.setenv("LOCAL_WORLD_SIZE", "2")
        monkeypatch.delenv("REPTILE_THREADS", raising=False)
        assert configure() == 1 and torch.get_num_threads() == 1
        monkeypatch.setenv("REPTILE_THREADS", "2")
        assert configure() == 2
        monkeypatch.setenv("REPTILE_THREADS", "two")
        with pytest.raises(ValueError, match="REPTILE_THREADS must be an integer >= 1, got 'two'"):
            configure()
        with pytest.raises(ValueError, match="threads must be an integer >= 1, got 0"):
            configure(0)
        # OMP_NUM_THREADS is the user's count outside torchrun (which sets it to 1 itself); REPTILE_THREADS wins
        monkeypatch.delenv("REPTILE_THREADS")
        monkeypatch.setenv("OMP_NUM_THREADS", "1")
        assert configure() == 1  # under torchrun: the cores divided among its 2 ranks
        monkeypatch.setattr("reptile.threads.cores", lambda: 4)
        assert configure() == 2
        monkeypatch.delenv("LOCAL_WORLD_SIZE")
        assert configure() == 1 and torch.get_num_threads() == 1  # alone, on 4 cores: the user's one thread
        monkeypatch.delenv("OMP_NUM_THREADS")
        assert configure() == 4
        monkeypatch.setenv("OMP_NUM_THREADS", "3")
        monkeypatch.setenv("REPTILE_THREADS", "2")
        assert configure() == 2
        monkeypatch.delenv("REPTILE_THREADS")
        monkeypatch.setenv("OMP_NUM_THREADS", "all")
        with pytest.raises(ValueError, match="OMP_NUM_THREADS must be an integer >= 1, got 'all'"):
            configure()
    finally:
        torch.set_num_threads(before)


def test_vectorised_evaluation_with_plain_sgd_matches_one_at_a_time():
    """Figure 3's setting adapts test tasks with plain SGD, not Adam."""
    from reptile.config import FIGURE3_PRESETS

    cfg = FIGURE3_PRESETS["reduced-figure3-sum2"]
    pop = Population(cfg, [0], [images()], dtype=torch.float64)
    pop.meta_step()
    sampler = TaskSampler(images(seed=3))
    got = E.evaluate(pop.net, pop.phi, pop.inner, [sampler], [torch.Generator().manual_seed(4)], cfg.n_way,
                     cfg.shots, cfg.eval_iters, cfg.eval_batch, 5, cfg.meta.inner_lr, cfg.meta.inner_betas,
                     torch.float64, optimizer="sgd")
    net, learner = solo_learner(cfg, 0)
    learner.phi = pop.member_params(0)
    want = evaluate(learner, net, sampler, cfg.n_way, cfg.shots, cfg.eval_iters, cfg.eval_batch, 5,
                    torch.Generator().manual_seed(4))
    assert got[0] == want
    adam = E.evaluate(pop.net, pop.phi, pop.inner, [sampler], [torch.Generator().manual_seed(4)], cfg.n_way,
                      cfg.shots, cfg.eval_iters, cfg.eval_batch, 5, cfg.meta.inner_lr, cfg.meta.inner_betas,
                      torch.float64, optimizer="adam")
    assert adam[0] != want  # the optimiser matters: the check above can fail


def test_without_a_compiler_the_network_keeps_its_pytorch_path(monkeypatch, kernels):
    monkeypatch.setattr(fused, "_lib", None)
    monkeypatch.setattr(fused, "_tried", False)
    monkeypatch.setenv("CC", "no-such-compiler")
    if kernels == "pytorch":  # switched off: nothing to say
        assert fused.library() is None and not fused.usable(torch.zeros(1))
    else:  # the fallback is said once, with the reason
        with pytest.warns(RuntimeWarning, match=r"fused CPU kernels are not available \(no C compiler"):
            assert fused.library() is None and not fused.usable(torch.zeros(1))
    want = "switched off (REPTILE_FUSED=0)" if kernels == "pytorch" else "no C compiler ('no-such-compiler' not found)"
    assert fused.unavailable() == want
    eng = Conv4(5)
    flat = eng.population([FunctionalNet(conv4("omniglot", 5)).init_params(s) for s in range(2)])
    x = torch.rand(2, 5, 28, 28, 1)
    loss, grad = eng.loss_and_grad(flat, x, torch.randint(0, 5, (2, 5)))
    assert loss.shape == (2,) and grad.shape == flat.shape and torch.isfinite(grad).all()


def test_evaluation_chunks_fit_the_device():
    cpu, gpu = torch.device("cpu"), torch.device("cuda")
    # on a CPU, sized by an inner step's minibatches (predict splits the prediction's larger batches)
    assert E.default_chunk(cpu, 5, 1, 5) == E.CHUNK_IMAGES // 5 == 6  # 1-shot 5-way: minibatches of 5
    assert E.default_chunk(cpu, 20, 5, 10) == E.CHUNK_IMAGES // 10 == 3  # 5-shot 20-way: minibatches of 10
    assert E.default_chunk(cpu, 5, 5, 25) == 1 and E.default_chunk(cpu, 5, 1, 2 * E.CHUNK_IMAGES) == 1
    assert E.default_chunk(gpu, 5, 1, 5) == E.CHUNK_GPU == 1024  # 30 images a task: 1,024 tasks fit
    assert E.default_chunk(gpu, 5, 5, 25) == 32_768 // 130 == 252  # Figure 3's evaluation: bounded by images
    assert E.default_chunk(gpu, 20, 5, 5) == 32_768 // (20 * 101) == 16


@pytest.mark.parametrize("tasks,images", [(1, 11), (1, 33), (2, 44), (3, 165), (3, 11), (3, 22)])
def test_non_transductive_prediction_in_several_passes_gives_the_logits_of_one(tasks, images, monkeypatch):
    """On a CPU predict() sends a non-transductive prediction's groups (each query with its task's 10 training
    images) through the network a few tasks and queries at a time, about PREDICT_IMAGES images per pass; each group
    is normalised by itself and each task has its own weights, so the logits are those of one pass over all groups."""
    n_way, shots = 5, 2
    eng = Conv4(n_way)
    g = torch.Generator().manual_seed(3)
    w = eng.population([FunctionalNet(conv4("omniglot", n_way)).init_params(torch.Generator().manual_seed(s))
                        for s in range(tasks)]).double()
    x = torch.rand(tasks, n_way * shots, 28, 28, 1, generator=g, dtype=torch.float64)
    q = torch.rand(tasks, n_way, 28, 28, 1, generator=g, dtype=torch.float64)
    monkeypatch.setattr(E, "PREDICT_IMAGES", 10**9)
    whole = E.predict(eng, w, x, q, False)
    passes = []
    forward = eng.forward
    monkeypatch.setattr(eng, "forward", lambda *a, **k: passes.append(a[1].shape[:3]) or forward(*a, **k))
    monkeypatch.setattr(E, "PREDICT_IMAGES", images)
    parts = E.predict(eng, w, x, q, False)
    per_task = n_way * shots + 1
    assert all(t * groups * b <= max(images, per_task) and b == per_task for t, groups, b in passes), passes
    assert sum(t * groups for t, groups, _ in passes) == tasks * n_way  # every query once
    assert len(passes) == -(-tasks * n_way * per_task // images)  # as few passes as that allows here
    assert parts.shape == whole.shape == (tasks, n_way, n_way)
    assert torch.allclose(parts, whole, rtol=0, atol=1e-12)
