"""MAML and first-order MAML on a GPU, both meta-gradient paths (the engine's network with the second order by hand,
and torch.func's vmap over the meta-batch), against the CPU: the meta-gradient and the test-time scoring in float64
(the same sums in another order), and a few float32 outer steps no further from float64 than the CPU's float32.

Skipped without CUDA (CI has none); ``.ci/device-session`` runs it on a lent GPU. ``REPTILE_GPU_TEST_DEVICE=cpu``
runs the same checks with the CPU standing in for the GPU, to try the file itself without one."""

import os

import pytest
import torch

from reptile import seeding
from reptile.maml import MAMLConfig, MAMLLearner, TaskBatch, meta_gradient
from reptile.maml import population as P
from reptile.maml.evaluation import score_steps
from reptile.maml.protocol import build_net

DEVICE = torch.device(os.environ.get("REPTILE_GPU_TEST_DEVICE", "cuda"))
pytestmark = pytest.mark.skipif(DEVICE.type == "cuda" and not torch.cuda.is_available(), reason="no CUDA device")

D = torch.float64
TOL = 1e-10  # float64, the same sums in another order (and the GPU's own kernels), relative to the largest entry
FLOAT32_MARGIN = 3.0  # the GPU's float32 may be this many times as far from float64 as the CPU's float32 is
N_WAY, SHOTS, QUERIES, TASKS = 5, 2, 3, 4


@pytest.fixture(autouse=True)
def _as_runs_go():
    """What every run sets on its device (:func:`reptile.seeding.deterministic`): on CUDA, float32 without TF32."""
    seeding.deterministic(DEVICE)


def tasks(seed=0, device="cpu", dtype=D) -> TaskBatch:
    g = torch.Generator().manual_seed(seed)
    labels = lambda per: torch.arange(N_WAY).repeat_interleave(per).expand(TASKS, -1)  # noqa: E731
    t = TaskBatch(torch.rand(TASKS, N_WAY * SHOTS, 1, 28, 28, generator=g, dtype=D), labels(SHOTS),
                  torch.rand(TASKS, N_WAY * QUERIES, 1, 28, 28, generator=g, dtype=D), labels(QUERIES))
    return TaskBatch(t[0].to(device, dtype), t[1].to(device), t[2].to(device, dtype), t[3].to(device))


def params(network, seed=0, device="cpu"):
    """The network's initialisation plus small random offsets (zero biases and unit scales would hide terms)."""
    g = torch.Generator().manual_seed(seed + 100)
    return tuple((p.to(D) + 0.05 * torch.randn(p.shape, generator=g, dtype=D)).to(device)
                 for p in build_net(network, N_WAY).init_params(seed))


def largest_difference(a, b) -> float:
    """The largest entry of ``a - b`` (both moved to the CPU in float64), relative to the largest entry of ``b``."""
    a, b = [t.detach().cpu().double() for t in a], [t.detach().cpu().double() for t in b]
    scale = max(float(t.abs().max()) for t in b)
    return max(float((x - y).abs().max()) for x, y in zip(a, b, strict=True)) / max(scale, 1.0)


def grads(path, network, cfg, phi, t):
    if path == "engine":
        return P.meta_gradient(P.EngineNet(network, N_WAY), phi, t, cfg)
    net = build_net(network, N_WAY)
    net.module.to(phi[0].device)
    return meta_gradient(net, phi, t, cfg)


@pytest.mark.parametrize("path", ["engine", "vmap"])
@pytest.mark.parametrize("network", ["reptile", "finn"])
@pytest.mark.parametrize("first_order", [False, True])
def test_the_meta_gradient_on_the_device_is_the_cpu_s(path, network, first_order):
    cfg = MAMLConfig(n_way=N_WAY, shots=SHOTS, queries=QUERIES, meta_batch=TASKS, inner_step=0.1, inner_steps=2,
                     first_order=first_order)
    want, want_loss, want_acc = meta_gradient(build_net(network, N_WAY), params(network), tasks(), cfg)
    got, loss, acc = grads(path, network, cfg, params(network, device=DEVICE), tasks(device=DEVICE))
    assert all(g.device.type == DEVICE.type for g in got)
    assert largest_difference(got, want) <= TOL
    assert float(loss) == pytest.approx(float(want_loss), rel=TOL) and float(acc) == float(want_acc)


@pytest.mark.parametrize("path", ["engine", "vmap"])
def test_float32_on_the_device_is_as_close_to_float64_as_the_cpu_s(path):
    """Second-order MAML on Finn et al.'s network in float32: a meta-gradient, then three outer Adam steps, on the
    device against the CPU's float64, measured by the CPU's own float32 (engine path) against the same."""
    cfg = MAMLConfig(n_way=N_WAY, shots=SHOTS, queries=QUERIES, meta_batch=TASKS, inner_step=0.4)
    f32 = lambda ps: tuple(p.float() for p in ps)  # noqa: E731
    want = grads("vmap", "finn", cfg, params("finn"), tasks())[0]
    cpu = largest_difference(grads("engine", "finn", cfg, f32(params("finn")), tasks(dtype=torch.float32))[0], want)
    mine = largest_difference(grads(path, "finn", cfg, f32(params("finn", device=DEVICE)),
                                    tasks(device=DEVICE, dtype=torch.float32))[0], want)
    print(f"a float32 meta-gradient from float64: CPU {cpu:.2e}, {DEVICE} ({path}) {mine:.2e}")
    assert 0 < cpu < 1e-4 and mine <= FLOAT32_MARGIN * cpu

    def learner(device, dtype, path):
        net = build_net("finn", N_WAY)
        net.module.to(device)
        return MAMLLearner(net, cfg, init=0, device=device, dtype=dtype, path=path,
                           engine=P.EngineNet("finn", N_WAY) if path == "engine" else None)

    runs = {"float64": learner("cpu", D, "vmap"), "cpu float32": learner("cpu", torch.float32, "engine"),
            "device float32": learner(DEVICE, torch.float32, path)}
    for seed in range(3):
        for name, run in runs.items():
            device = DEVICE if name.startswith("device") else "cpu"
            run.meta_step(tasks(seed, device, D if name == "float64" else torch.float32))
    # Adam's first steps are about its learning rate times the gradient's sign, so a gradient entry near 0 may step
    # either way in float32: the yardstick (the CPU's float32) is of that size, about 1e-3 of the largest weight
    ref = runs["float64"].phi
    cpu, mine = largest_difference(runs["cpu float32"].phi, ref), largest_difference(runs["device float32"].phi, ref)
    print(f"after 3 outer steps, float32 from float64: CPU {cpu:.2e}, {DEVICE} ({path}) {mine:.2e}")
    assert 0 < cpu < 1e-2 and mine <= FLOAT32_MARGIN * cpu


@pytest.mark.parametrize("network", ["reptile", "finn"])
def test_scoring_on_the_device_is_the_cpu_s(network):
    """Accuracy after 0..3 test steps, both modes, on the device (engine and torch.func) equals the CPU's in
    float64 (the same argmax)."""
    cfg = MAMLConfig(n_way=N_WAY, shots=SHOTS, queries=QUERIES, meta_batch=TASKS, inner_step=0.4)
    want = score_steps(build_net(network, N_WAY), params(network), tasks(), cfg, 3)
    phi, t = params(network, device=DEVICE), tasks(device=DEVICE)
    got_t, got_n, ok = P.score_steps(P.EngineNet(network, N_WAY), phi, t, cfg, 3)
    assert bool(ok.all()) and got_t.device.type == DEVICE.type
    assert torch.equal(got_t.cpu(), want["transductive"]) and torch.equal(got_n.cpu(), want["non_transductive"])
    net = build_net(network, N_WAY)
    net.module.to(DEVICE)
    by_vmap = score_steps(net, phi, t, cfg, 3)
    assert torch.equal(by_vmap["transductive"].cpu(), want["transductive"])
    assert torch.equal(by_vmap["non_transductive"].cpu(), want["non_transductive"])
