"""The campaign (:mod:`reptile.campaign`) on several workers at once, each advancing the first unfinished entries
of the plan that no other holds (:func:`reptile.campaign.claim`): processes on a CPU's cores (:func:`run_workers`),
or threads on CUDA streams of one GPU (:func:`run_streams`). Stopping the campaign process stops every worker at
its next step, with its checkpoint."""

from __future__ import annotations

import multiprocessing as mp
import os
import signal
import sys
import threading
import time

from ..validate import check, is_positive, resolve_device
from . import runs as C
from .plan import PLAN


def die_with_parent() -> bool:
    """Have the kernel end this process when its parent ends (Linux ``prctl(PR_SET_PDEATHSIG, SIGTERM)``), so that
    stopping ``python -m reptile.campaign --workers N`` stops its workers too, rather than leaving them to advance
    (and hold) their entries unseen. Returns whether that was arranged (not on other systems)."""
    import ctypes

    if not sys.platform.startswith("linux"):
        return False
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        armed = libc.prctl(1, int(signal.SIGTERM), 0, 0, 0) == 0  # 1: PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        return False
    if armed and os.getppid() == 1:  # the parent died before the request: end now, as it would have
        os.kill(os.getpid(), signal.SIGTERM)
    return armed


def _worker(minutes: float, device: str, data_root, threads: int, delay: float, plan=PLAN,
            workers: int = 1) -> None:
    from ..threads import configure

    die_with_parent()  # the kernel sends SIGTERM when the campaign process ends: checkpoint and stop
    C.stop_on_signals()
    time.sleep(delay)  # claims in the plan's order
    configure(threads)
    C.AT_ONCE.n = workers
    try:
        done = C.run(minutes, device, plan, data_root=data_root)
    except Exception as e:  # one line, as the campaign's own command line says it (reptile.campaign.failure)
        code_message = C.failure(e)
        if code_message is None:
            raise
        print(f"{C.PROG}: error: {code_message[1]}", file=sys.stderr, flush=True)
        sys.exit(code_message[0])
    print(f"campaign worker: finished {', '.join(done) or 'none'}", file=sys.stderr, flush=True)


def run_workers(minutes: float, workers: int, device: str = "cpu", data_root=None, threads: int | None = None,
                plan=PLAN) -> list[int]:
    """``workers`` processes, each advancing ``plan`` (:func:`reptile.campaign.run`) on ``threads`` threads
    (default: the cores divided among them): on a CPU of several cores, populations side by side go faster than one
    on all cores; on a GPU, whose small kernels leave it mostly idle, processes side by side each launch their own.
    Returns the workers' exit codes (0: stopped normally; a worker stopped by an error has said why on stderr)."""
    from ..threads import cores

    check(isinstance(workers, int) and workers >= 1, f"workers must be an integer >= 1, got {workers!r}")
    check(is_positive(minutes), f"minutes must be a finite number > 0, got {minutes!r}")
    resolve_device(device)  # an unavailable device stops here, before any process starts
    threads = threads or max(1, cores() // workers)
    procs = [mp.get_context("spawn").Process(target=_worker, args=(minutes, device, data_root, threads, 5.0 * k,
                                                                   plan, workers))
             for k in range(workers)]
    def forward(signum, frame):  # stop the workers gracefully, and wait for their checkpoints
        for p in procs:
            if p.pid is not None and p.is_alive():
                os.kill(p.pid, signal.SIGTERM)

    saved = {sig: signal.signal(sig, forward) for sig in (signal.SIGTERM, signal.SIGINT)}
    try:
        for p in procs:
            p.start()
        for p in procs:
            p.join()
    finally:
        for sig, h in saved.items():
            signal.signal(sig, h)
    return [p.exitcode for p in procs]


def run_streams(minutes: float, workers: int, device: str = "cuda", data_root=None, plan=PLAN, results_dir=None,
                progress: bool = True, delay: float = 5.0) -> list[str]:
    """``workers`` threads of this process, each advancing ``plan`` (:func:`reptile.campaign.run`) on a CUDA stream
    of its own. Returns the keys of the entries finished.

    A population's outer iteration on a GPU is a replayed graph of small kernels that occupies a few of the device's
    multiprocessors, and processes take turns on a GPU rather than share it; graphs launched on different streams of
    one process run at the same time. Each thread launches its own (it never waits for the GPU within an iteration,
    so the interpreter lock is held only while tasks are drawn), and the threads record their graphs one at a time
    (:data:`reptile.engine.graphs.RECORDING`). Each population's numbers are those it gives alone. Off CUDA the threads
    share the CPU and no stream is made (for tests; on a CPU, :func:`run_workers` is the way). SIGTERM or SIGINT
    (to this process) stops every thread at its next step, with its checkpoint."""
    check(isinstance(workers, int) and workers >= 1, f"workers must be an integer >= 1, got {workers!r}")
    check(is_positive(minutes), f"minutes must be a finite number > 0, got {minutes!r}")
    dev = resolve_device(device)
    from ..engine import graphs

    check(not graphs.compiling(), "streams (threads) do not combine with REPTILE_COMPILE=1: torch.compile is not "
                                  "made for several threads; use processes (--workers without --streams)")
    done: list[str] = []
    errors: list[BaseException] = []

    def work(k: int) -> None:
        try:
            time.sleep(delay * k)  # claims in the plan's order
            C.AT_ONCE.n = workers
            with graphs.own_stream(dev):
                done.extend(C.run(minutes, device, plan, results_dir, data_root, progress=progress))
        except BaseException as e:  # reported after the others have stopped
            errors.append(e)
            print(f"campaign thread {k} stopped: {type(e).__name__}: {e}", file=sys.stderr, flush=True)

    if threading.current_thread() is threading.main_thread():
        C.stop_on_signals()
    threads = [threading.Thread(target=work, args=(k,), name=f"campaign-{k}", daemon=True) for k in range(workers)]
    for t in threads:
        t.start()
    for t in threads:
        while t.is_alive():
            t.join(0.5)  # short waits, so that this thread runs its signal handler
    if errors:
        raise errors[0]
    return done
