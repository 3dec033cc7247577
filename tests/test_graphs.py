"""The recorded outer iteration (:mod:`reptile.engine.graphs`) against the eager one.

On a CPU the graph's body runs without recording (``Population(cuda_graphs=True)``), in float64, so these tests
check its arithmetic, its inputs (the same tasks and minibatches from the same streams) and Adam's step sizes read
from device scalars. On a GPU (``.ci/device-session`` runs this file there) the CUDA tests record a real CUDA graph
and replay it; CI has no GPU, and there those tests are skipped.
"""

import dataclasses

import pytest
import torch

from reptile.config import FIGURE3_PRESETS
from reptile.engine import graphs, trainer
from reptile.engine.population import Population

from test_engine import images, small_config

GRAPH_TOL = 1e-12  # float64: 10 outer iterations, the recorded body vs the eager step (Adam's division reordered)
CUDA_TOL = 1e-4  # float32 on a GPU: relative to the largest weight, after 10 outer iterations


def figure3_config(curve="last3"):
    cfg = FIGURE3_PRESETS[f"figure3-{curve}"]
    return dataclasses.replace(cfg, meta=dataclasses.replace(cfg.meta, outer_iters=10))


CONFIGS = {
    "reptile, inner Adam": lambda: small_config("reptile", outer_iters=10),
    "first-order MAML, inner Adam": lambda: small_config("fomaml_last_step", outer_iters=10),
    "Figure 3 sum3, inner SGD": lambda: figure3_config("sum3"),
    "Figure 3 last3, inner SGD": lambda: figure3_config("last3"),
}


def pair(cfg, device="cpu", dtype=torch.float64, seeds=(0, 1, 2)):
    imgs = [images(seed=s) for s in seeds]
    return [Population(cfg, list(seeds), imgs, torch.device(device), dtype, cuda_graphs=g) for g in (False, True)]


@pytest.mark.parametrize("name", list(CONFIGS))
def test_recorded_body_gives_the_eager_numbers(name):
    cfg = CONFIGS[name]()
    eager, graphed = pair(cfg)
    for _ in range(cfg.meta.outer_iters):
        assert eager.meta_step() == graphed.meta_step()
    assert graphed._graph is not None and graphed.iteration == eager.iteration == 10
    assert graphed.inner.step == eager.inner.step == 10 * cfg.meta.meta_batch * cfg.meta.inner_iters
    scale = float(eager.phi.abs().max())
    assert torch.allclose(graphed.phi, eager.phi, rtol=0, atol=GRAPH_TOL * scale), \
        float((graphed.phi - eager.phi).abs().max())
    assert torch.allclose(graphed.inner.v, eager.inner.v, rtol=1e-9, atol=1e-30)
    # the random streams advanced alike: the next tasks are the same
    assert all(torch.equal(a.get_state(), b.get_state()) for a, b in zip(eager.task_generators,
                                                                          graphed.task_generators))
    assert all(torch.equal(a.get_state(), b.get_state()) for a, b in zip(eager.inner_generators,
                                                                          graphed.inner_generators))


def test_resuming_drops_the_recorded_buffers(tmp_path):
    cfg = small_config(outer_iters=6)
    seeds, imgs = [0, 1], [images(seed=s) for s in (0, 1)]
    whole = Population(cfg, seeds, imgs, cuda_graphs=True)
    trainer.train(whole, 6, progress=False)
    ck = tmp_path / "pop.pt"
    trainer.train(Population(cfg, seeds, imgs, cuda_graphs=True), 6, checkpoint=ck, stop_after=0.0, progress=False)
    resumed = Population(cfg, seeds, imgs, cuda_graphs=True)
    resumed.meta_step()  # records buffers, which loading the checkpoint must replace
    trainer.train(resumed, 6, checkpoint=ck, progress=False)
    assert torch.equal(resumed.phi, whole.phi) and torch.equal(resumed.inner.v, whole.inner.v)
    assert resumed._graph.phi is resumed.phi  # the graph in use updates the population's own weights


def test_graphs_are_on_by_default_on_cuda_only(monkeypatch):
    assert not graphs.enabled(torch.device("cpu"))
    assert graphs.enabled(torch.device("cuda"))
    monkeypatch.setenv("REPTILE_CUDA_GRAPHS", "0")
    assert not graphs.enabled(torch.device("cuda"))
    assert Population(small_config(), [0], [images()]).cuda_graphs is False


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a GPU (run by .ci/device-session)")
@pytest.mark.parametrize("name", list(CONFIGS))
def test_cuda_graph_replays_the_eager_step(name):
    cfg = CONFIGS[name]()
    eager, graphed = pair(cfg, "cuda", torch.float32)
    for _ in range(cfg.meta.outer_iters):
        eager.meta_step(), graphed.meta_step()
    assert graphed._graph.graph is not None  # a real recorded graph, replayed
    scale = float(eager.phi.abs().max())
    diff = float((graphed.phi - eager.phi).abs().max())
    print(f"{name}: largest difference {diff:.2e} (relative {diff / scale:.2e}), bitwise equal {diff == 0}")
    assert diff <= CUDA_TOL * scale


COMPILE_TOL = 1e-10  # float64: 3 outer iterations, the compiled inner step (its reductions reordered) vs eager


@pytest.mark.slow
def test_compiled_inner_step_gives_the_eager_numbers():
    """``REPTILE_COMPILE=1``: TorchInductor compiles the network's PyTorch path (here for the CPU; about a minute)."""
    cfg = small_config("reptile", outer_iters=3)
    imgs = [images(seed=s) for s in (0, 1)]
    eager = Population(cfg, [0, 1], imgs, dtype=torch.float64)
    compiled = Population(cfg, [0, 1], imgs, dtype=torch.float64, cuda_graphs=True, compile=True)
    for _ in range(3):
        eager.meta_step(), compiled.meta_step()
    assert hasattr(compiled._graph.update, "__wrapped__")  # the compiled inner step ran (gradient and Adam)
    scale = float(eager.phi.abs().max())
    assert torch.allclose(compiled.phi, eager.phi, rtol=0, atol=COMPILE_TOL * scale), \
        float((compiled.phi - eager.phi).abs().max())
    with pytest.raises(ValueError, match="needs cuda_graphs=True"):
        Population(cfg, [0], imgs[:1], compile=True)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a GPU (run by .ci/device-session)")
def test_compiled_inner_step_in_a_cuda_graph_gives_the_eager_numbers():
    cfg = small_config("reptile", outer_iters=3)
    imgs = [images(seed=s) for s in (0, 1)]
    cuda = torch.device("cuda")
    eager = Population(cfg, [0, 1], imgs, cuda, torch.float64, cuda_graphs=False)
    compiled = Population(cfg, [0, 1], imgs, cuda, torch.float64, cuda_graphs=True, compile=True)
    for _ in range(3):
        eager.meta_step(), compiled.meta_step()
    assert compiled._graph.graph is not None
    scale = float(eager.phi.abs().max())
    diff = float((compiled.phi - eager.phi).abs().max())
    print(f"compiled inner step in a CUDA graph, float64: largest difference {diff:.2e} (relative {diff / scale:.2e})")
    assert diff <= COMPILE_TOL * scale


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a GPU (run by .ci/device-session)")
def test_graphed_outer_iteration_never_waits_for_the_gpu():
    """Once recorded, an outer iteration and the divergence check between reads of the weights make no call that
    waits for the GPU (torch's sync debug mode raises on one), so the host runs ahead and prepares the next iteration
    while the graph replays: the task indices, the minibatches and Adam's step sizes go out from pinned memory."""
    cfg = small_config()
    pop = Population(cfg, [0, 1, 2], [images(seed=s) for s in range(3)], torch.device("cuda"))
    assert pop.cuda_graphs and pop.finite_every > 3
    pop.meta_step()  # records the graph
    pop.check_finite()
    torch.cuda.synchronize()
    torch.cuda.set_sync_debug_mode("error")
    try:
        for _ in range(3):
            pop.meta_step()
            pop.check_finite()
    finally:
        torch.cuda.set_sync_debug_mode("default")
    pop.check_finite(now=True)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a GPU (run by .ci/device-session)")
def test_populations_on_threads_with_streams_of_their_own_give_their_numbers_alone():
    """What ``campaign --streams`` does: populations advanced at the same time by threads of one process, each on a
    CUDA stream of its own (their graphs recorded one at a time), give the numbers each gives alone."""
    import threading

    cfg = small_config()
    cuda = torch.device("cuda")

    def make(seeds):
        return Population(cfg, list(seeds), [images(seed=s) for s in seeds], cuda)

    alone = [make((0, 1)), make((2, 3)), make((4, 5))]
    for pop in alone:
        for _ in range(6):
            pop.meta_step()
    together, errors = [make((0, 1)), make((2, 3)), make((4, 5))], []

    def advance(pop):
        try:
            with torch.cuda.stream(torch.cuda.Stream(cuda)):
                for _ in range(6):
                    pop.meta_step()
                    pop.check_finite()
                torch.cuda.current_stream().synchronize()
        except BaseException as e:
            errors.append(e)

    threads = [threading.Thread(target=advance, args=(pop,)) for pop in together]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors, errors
    for a, b in zip(alone, together, strict=True):
        assert a._graph is not None and b._graph is not None
        scale = float(a.phi.abs().max())
        assert torch.allclose(a.phi, b.phi, rtol=0, atol=CUDA_TOL * scale), float((a.phi - b.phi).abs().max())
