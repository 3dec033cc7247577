"""The paths the benchmark (:mod:`reptile.bench`) times, and the work they do: the settings, the useful
floating-point operations of a step and of an evaluation task, the matrix-multiply rate they compare with, and one
function per timed path (each returns run-steps or tasks per second)."""

from __future__ import annotations

import multiprocessing as mp
import re
import time
from typing import Any

import torch

from ..config import FEWSHOT_PRESETS, FIGURE3_PRESETS, FewShotConfig
from .reference import timed
from ..validate import check

# Table 2's Omniglot cells (the 20-way ones and the transductive rerun with evaluation batches of 25 are what the
# campaign spends its time on) and Figure 3's four-step plain-SGD setting
SETTINGS = ("1-shot 5-way", "5-shot 5-way", "1-shot 20-way", "5-shot 20-way", "1-shot 5-way transductive, eval 25",
            "Figure 3, 4 steps")
AUTHORS_SETTING = {"1-shot 5-way": "1shot-5way", "5-shot 5-way": "5shot-5way", "1-shot 20-way": "1shot-20way",
                   "5-shot 20-way": "5shot-20way",
                   "1-shot 5-way transductive, eval 25": "1shot-5way-transductive-eval25"}  # tf_harness's names


def setting(name: str) -> FewShotConfig:
    """The preset each setting times (Figure 3: the four-step Reptile curve, plain SGD, four minibatches of 25)."""
    check(name in SETTINGS, f"unknown benchmark setting {name!r}; allowed: {', '.join(SETTINGS)}")
    return {"1-shot 5-way": FEWSHOT_PRESETS["omniglot-1shot-5way"],
            "5-shot 5-way": FEWSHOT_PRESETS["omniglot-5shot-5way"],
            "1-shot 20-way": FEWSHOT_PRESETS["omniglot-1shot-20way"],
            "5-shot 20-way": FEWSHOT_PRESETS["omniglot-5shot-20way"],
            "1-shot 5-way transductive, eval 25": FEWSHOT_PRESETS["omniglot-1shot-5way-transductive-eval25"],
            "Figure 3, 4 steps": FIGURE3_PRESETS["figure3-sum4"]}[name]


def device_name(device: torch.device) -> str:
    if device.type == "cuda":
        name = torch.cuda.get_device_name(device)
    else:
        from ..threads import cpu_model

        model = cpu_model()
        name = f"cpu {model}" if model else "cpu"
    return slug(name)


def slug(text: str) -> str:
    """``text`` as a file name: lower case, runs of other characters as one '-'."""
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")


# ------------------------------------------------------------------------------------------------- the work


def forward_flops(n_way: int) -> float:
    """Multiply-adds x 2 of one Omniglot image through the Conv4 network (28 -> 14 -> 7 -> 4 -> 2, 64 channels)."""
    total, c_in, size = 0, 1, 28
    for _ in range(4):
        out = -(-size // 2)
        total += 2 * out * out * 9 * c_in * 64
        c_in, size = 64, out
    return float(total + 2 * size * size * 64 * n_way)


def step_flops(n_way: int, batch: int) -> float:
    """One training step on ``batch`` images: forward, weight gradients (as much again), and input gradients of
    every layer but the first."""
    f = forward_flops(n_way)
    first = 2 * 14 * 14 * 9 * 1 * 64
    return batch * (f + f + (f - first))


def eval_task_flops(cfg: FewShotConfig) -> float:
    """An evaluation task: ``eval_iters`` steps, then the non-transductive forward passes (one batch of the
    ``n_way * shots`` training images plus one query per query) and the transductive one."""
    n = cfg.n_way * cfg.shots
    return (cfg.eval_iters * step_flops(cfg.n_way, cfg.eval_batch)
            + forward_flops(cfg.n_way) * (cfg.n_way * (n + 1) + cfg.n_way))


def _cpu_rate(op, flop: float, threads: int, seconds: float) -> float:
    """GFLOP/s of ``op()`` (``flop`` per call) on ``threads`` CPU threads: three calls to warm up, then as many as
    fit in ``seconds``; torch's thread count is restored after."""
    before = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        for _ in range(3):
            op()
        count, start = 0, time.perf_counter()
        while time.perf_counter() - start < seconds:
            op()
            count += 1
        return flop * count / (time.perf_counter() - start) / 1e9
    finally:
        torch.set_num_threads(before)


def matmul_rate(threads: int, n: int = 1024, seconds: float = 2.0) -> float:
    """GFLOP/s of float32 ``n x n`` matrix multiplies on ``threads`` threads."""
    a, b = torch.randn(n, n), torch.randn(n, n)
    return _cpu_rate(lambda: a @ b, 2 * n**3, threads, seconds)


def conv_rate(threads: int = 1, images: int = 64, seconds: float = 2.0) -> float:
    """GFLOP/s of PyTorch's float32 convolution (oneDNN's on a CPU) on ``threads`` threads, on the shape of the
    engine's second layer: ``images`` channels-last 14x14x64 inputs, 3x3 kernels, stride 2, to 7x7x64. A second
    yardstick beside :func:`matmul_rate`: where the BLAS's multiplies fall short of the CPU's vector units, oneDNN's
    kernels may not."""
    x = torch.randn(images, 64, 14, 14).contiguous(memory_format=torch.channels_last)
    w = torch.randn(64, 64, 3, 3).contiguous(memory_format=torch.channels_last)
    return _cpu_rate(lambda: torch.nn.functional.conv2d(x, w, stride=2, padding=1), 2 * images * 7 * 7 * 9 * 64 * 64,
                     threads, seconds)


def gpu_matmul_rate(device: torch.device, n: int = 4096, seconds: float = 2.0) -> float:
    """GFLOP/s of float32 ``n x n`` matrix multiplies on the GPU ``device``, in PyTorch's default precision for
    float32 (what the engine's batched products get)."""
    a, b = torch.randn(n, n, device=device), torch.randn(n, n, device=device)
    for _ in range(3):
        a @ b
    torch.cuda.synchronize(device)
    count, start = 0, time.perf_counter()
    while time.perf_counter() - start < seconds:
        for _ in range(10):
            a @ b
        torch.cuda.synchronize(device)
        count += 10
    return 2 * n**3 * count / (time.perf_counter() - start) / 1e9


def synthetic_images(classes: int = 200, per_class: int = 20, seed: int = 0) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    return torch.randint(0, 256, (classes, per_class, 1, 28, 28), generator=g, dtype=torch.uint8)


# ---------------------------------------------------------------------------------------------------- paths


def solo_training(cfg: FewShotConfig, seconds: float, device: torch.device) -> float:
    """Run-steps per second of the project's per-run code."""
    from ..core import MetaLearner
    from ..fewshot import FunctionalNet, TaskSampler, conv4

    net = FunctionalNet(conv4(cfg.dataset, cfg.n_way).to(device))
    learner = MetaLearner(net.loss, net.init_params(0, device), cfg.meta, torch.Generator().manual_seed(1))
    sampler, g = TaskSampler(synthetic_images().to(device)), torch.Generator().manual_seed(2)
    n, dt = timed(lambda: learner.meta_step([sampler.training_task(cfg.n_way, cfg.train_shots, g, device)
                                               for _ in range(cfg.meta.meta_batch)]), seconds, device)
    return n * cfg.meta.meta_batch * cfg.meta.inner_iters / dt


def solo_evaluation(cfg: FewShotConfig, seconds: float, device: torch.device) -> float:
    """Evaluation tasks per second of the project's per-run code (:func:`reptile.fewshot.evaluate`)."""
    from ..core import MetaLearner
    from ..fewshot import FunctionalNet, TaskSampler, conv4, evaluate

    net = FunctionalNet(conv4(cfg.dataset, cfg.n_way).to(device))
    learner = MetaLearner(net.loss, net.init_params(0, device), cfg.meta, torch.Generator().manual_seed(1))
    sampler, g = TaskSampler(synthetic_images().to(device)), torch.Generator().manual_seed(2)
    n, dt = timed(lambda: evaluate(learner, net, sampler, cfg.n_way, cfg.shots, cfg.eval_iters, cfg.eval_batch, 1,
                                    g, device), seconds, device)
    return n / dt


def population_training(cfg: FewShotConfig, size: int, seconds: float, device: torch.device,
                        threads: int | None = None) -> float:
    """Run-steps per second of a population of ``size`` runs."""
    from ..engine.population import Population

    if threads is not None:
        torch.set_num_threads(threads)
    pop = Population(cfg, list(range(size)), [synthetic_images(seed=s) for s in range(size)], device)
    n, dt = timed(pop.meta_step, seconds, device)
    return size * n * cfg.meta.meta_batch * cfg.meta.inner_iters / dt


def population_replay(cfg: FewShotConfig, size: int, seconds: float, device: torch.device) -> float:
    """Run-steps per second of replaying a population's recorded outer iteration alone, on the same inputs (a GPU
    with CUDA graphs): the GPU's time, without the host's task sampling and copies that a full step adds."""
    from ..engine.population import Population

    check(device.type == "cuda", f"a recorded outer iteration is replayed on a GPU, not on {device}")
    pop = Population(cfg, list(range(size)), [synthetic_images(seed=s) for s in range(size)], device)
    pop.meta_step()  # records the graph
    n, dt = timed(pop._graph.graph.replay, seconds, device)
    return size * n * cfg.meta.meta_batch * cfg.meta.inner_iters / dt


def kernel_profile(cfg: FewShotConfig, size: int, device: torch.device, iterations: int = 3) -> dict[str, Any]:
    """What one inner step of a population of ``size`` runs is made of, over ``iterations`` eager outer iterations
    (no CUDA graph, which would hide its kernels; the graph replays the same kernels), each part with its count and
    time per inner step, the longest first.

    * On a GPU, its kernels by the profiler. A replayed graph's step costs about the sum of its kernels' times plus a
      few microseconds per kernel, so the count says what fusing would save, and the times which kernels to fuse.
    * On a CPU, every matrix multiply (by its operands' shapes: each layer's forward, weight gradient and input
      gradient), every oneDNN convolution (by layer, forward and backward, with the copies around it: the layers
      ``REPTILE_ONEDNN`` sends there) and every fused C kernel, timed by the clock around each call; the rest of the
      step (the other operations and the Python between them) is the step's time less theirs. (The profiler is not
      used on a CPU: its records change the heap's reuse, and some large multiplies then measured several times
      their time.) ``split_us_per_step`` gives the four parts."""
    from ..engine import fused
    from ..engine import network
    from ..engine.population import Population
    from .reference import _sync

    check(isinstance(iterations, int) and iterations >= 1, f"iterations must be an integer >= 1, got {iterations!r}")
    pop = Population(cfg, list(range(size)), [synthetic_images(seed=s) for s in range(size)], device,
                     cuda_graphs=False)
    for _ in range(2):  # warm up: allocator, cuBLAS handles, first-call paths
        pop.meta_step()
    _sync(device)
    steps = iterations * cfg.meta.meta_batch * cfg.meta.inner_iters
    useful = size * step_flops(cfg.n_way, cfg.meta.inner_batch) / 1e9
    if device.type == "cuda":
        from torch.profiler import ProfilerActivity, profile

        with profile(activities=[ProfilerActivity.CPU, ProfilerActivity.CUDA]) as prof:
            for _ in range(iterations):
                pop.meta_step()
            _sync(device)
        events = [(e.name, e.device_time_total) for e in prof.events() if e.device_type.name == "CUDA"]
        rows = _rows(events, steps)
        return {"setting": cfg.name, "population": size, "member_groups": [len(g) for g in pop.member_groups()],
                "device": device_name(device), "inner_steps": steps, "kernels": sum(r["per_step"] for r in rows), "us_per_step": sum(r["us_per_step"] for r in rows),
                "useful_gflop_per_step": useful, "rows": rows}
    events: list[tuple[str, float]] = []
    clock = time.perf_counter
    saved = {name: getattr(torch, name) for name in ("bmm", "baddbmm", "addmm")}

    def timed_matmul(name):
        f = saved[name]

        def call(*args, **kwargs):
            start = clock()
            out = f(*args, **kwargs)
            a, b = args[-2:]
            events.append((f"{name} {tuple(a.shape)} @ {tuple(b.shape)}", 1e6 * (clock() - start)))
            return out
        return call

    call = fused._call

    def timed_fused(name, t, *args):
        start = clock()
        call(name, t, *args)
        events.append((f"fused {name}", 1e6 * (clock() - start)))

    convs = {"forward": network.onednn_conv, "backward": network.onednn_conv_backward}

    def timed_conv(way):
        f = convs[way]

        def conv(*args):
            start = clock()
            out = f(*args)
            lay = next(a for a in args if isinstance(a, network.Layer))
            events.append((f"oneDNN {way} {lay.c_in}->{lay.c_out} channels, {lay.size}x{lay.size} -> "
                           f"{lay.out}x{lay.out}", 1e6 * (clock() - start)))
            return out
        return conv

    try:
        for name in saved:
            setattr(torch, name, timed_matmul(name))
        fused._call = timed_fused
        network.onednn_conv, network.onednn_conv_backward = timed_conv("forward"), timed_conv("backward")
        start = clock()
        for _ in range(iterations):
            pop.meta_step()
        wall = 1e6 * (clock() - start) / steps
    finally:
        for name, f in saved.items():
            setattr(torch, name, f)
        fused._call = call
        network.onednn_conv, network.onednn_conv_backward = convs["forward"], convs["backward"]
    rows = _rows(events, steps)

    def part(prefix: str) -> float:
        return sum(r["us_per_step"] for r in rows if r["name"].startswith(prefix))
    split = {"matrix multiplies": part("") - part("fused") - part("oneDNN"), "oneDNN convolutions": part("oneDNN"),
             "fused kernels": part("fused")}
    split["the rest (other operations, Python between them)"] = wall - sum(split.values())
    return {"setting": cfg.name, "population": size, "member_groups": [len(g) for g in pop.member_groups()],
            "device": device_name(device), "inner_steps": steps, "operations": sum(r["per_step"] for r in rows),
            "us_per_step": wall, "wall_us_per_step": wall, "onednn_layers": list(pop.net.onednn_layers(
                pop.phi, cfg.meta.inner_batch, pop.net.use_fused and fused.usable(pop.phi))),
            "useful_gflop_per_step": useful, "split_us_per_step": split, "rows": rows}


def _rows(events: list[tuple[str, float]], steps: int) -> list[dict[str, Any]]:
    """Events ``(name, microseconds)`` summed by name, per inner step, the longest first."""
    table: dict[str, list[float]] = {}
    for name, us in events:
        row = table.setdefault(name, [0, 0.0])
        row[0] += 1
        row[1] += us
    return sorted(({"name": n, "per_step": c / steps, "us_per_step": t / steps} for n, (c, t) in table.items()),
                  key=lambda r: -r["us_per_step"])


def population_streams(cfg: FewShotConfig, size: int, count: int, seconds: float, device: torch.device) -> float:
    """Run-steps per second, all together, of ``count`` populations of ``size`` runs advanced at the same time by
    threads of this process, each on a CUDA stream of its own (what ``campaign --streams`` does; off CUDA the
    threads share the CPU, without streams)."""
    import threading

    from ..engine import graphs
    from ..engine.population import Population
    from .reference import _sync

    cuda = device.type == "cuda"
    pops = [Population(cfg, list(range(k * size, (k + 1) * size)),
                       [synthetic_images(seed=s) for s in range(k * size, (k + 1) * size)], device) for k in range(count)]
    for pop in pops:
        pop.meta_step()  # records its graph
    _sync(device)
    steps, errors, go = [0] * count, [], threading.Event()

    def work(k: int) -> None:
        try:
            with graphs.own_stream(device):
                while not go.is_set():
                    pops[k].meta_step()
                    steps[k] += 1
                if cuda:
                    torch.cuda.current_stream(device).synchronize()
        except BaseException as e:  # noqa: BLE001 - raised below, in the calling thread
            errors.append(e)
            go.set()

    threads = [threading.Thread(target=work, args=(k,)) for k in range(count)]
    start = time.perf_counter()
    for t in threads:
        t.start()
    go.wait(seconds)
    go.set()
    for t in threads:
        t.join()
    dt = time.perf_counter() - start
    if errors:
        raise errors[0]
    return size * sum(steps) * cfg.meta.meta_batch * cfg.meta.inner_iters / dt


def population_evaluation(cfg: FewShotConfig, seconds: float, device: torch.device, chunk: int | None = None,
                          threads: int | None = None) -> float:
    """Evaluation tasks per second of the vectorised evaluation (``chunk`` tasks at once)."""
    from ..engine import evaluation as E
    from ..engine.population import Population
    from ..fewshot import TaskSampler

    if threads is not None:
        torch.set_num_threads(threads)
    chunk = chunk or E.default_chunk(device, cfg.n_way, cfg.shots, cfg.eval_batch)
    pop = Population(cfg, [0], [synthetic_images()], device)
    sampler, g, m = TaskSampler(synthetic_images().to(device)), torch.Generator().manual_seed(2), cfg.meta
    n, dt = timed(lambda: E.evaluate(pop.net, pop.phi, pop.inner, [sampler], [g], cfg.n_way, cfg.shots,
                                      cfg.eval_iters, cfg.eval_batch, chunk, m.inner_lr, m.inner_betas, chunk=chunk,
                                      optimizer=m.inner_optimizer), seconds, device)
    return n * chunk / dt


def _child(args: tuple) -> float:
    kind, name, size, seconds = args
    torch.set_num_threads(1)
    cpu = torch.device("cpu")
    if kind == "train":
        return population_training(setting(name), size, seconds, cpu)
    return population_evaluation(setting(name), seconds, cpu)


def one_process_per_core(kind: str, name: str, size: int, seconds: float, processes: int) -> float:
    """The summed rate of ``processes`` single-thread processes running at the same time."""
    with mp.get_context("spawn").Pool(processes) as pool:
        return sum(pool.map(_child, [(kind, name, size, seconds)] * processes))


def onednn_timed(device: torch.device) -> bool:
    """Whether the benchmark times the oneDNN paths on ``device``: a CPU with the fused C kernels, which they need."""
    from ..engine import fused

    return device.type == "cpu" and fused.usable(torch.empty(0))
