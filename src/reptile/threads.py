"""How many CPU threads a process uses: the cores it is given, never more.

Small convolutions do not speed up with a second thread, and two threads on a core another process is using run
several times slower than one. So a process takes ``cores // processes`` threads, where ``processes`` is the number
started together: the runner's ``--jobs``, or the ranks of ``torchrun`` on this machine (``LOCAL_WORLD_SIZE``).
``REPTILE_THREADS`` (set by the runner for each job) overrides the rule, and so does ``OMP_NUM_THREADS`` outside
``torchrun`` (which sets it itself): a user who asks every OpenMP program for one thread, to run two processes side by
side, must not get one process of two threads each, which on two cores spend their time waiting for each other.
"""

from __future__ import annotations

import os

import torch

from .validate import check, is_int


def cores() -> int:
    """The CPU cores this process may run on."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return os.cpu_count() or 1


def share(processes: int) -> int:
    """Threads for each of ``processes`` processes started together: the cores divided among them, at least 1."""
    check(is_int(processes) and processes >= 1, f"processes must be an integer >= 1, got {processes!r}")
    return max(1, cores() // processes)


def configure(threads: int | None = None) -> int:
    """Set this process's thread count: ``threads`` if given, else ``$REPTILE_THREADS``, else ``$OMP_NUM_THREADS``
    outside ``torchrun``, else the cores divided among the local ranks of ``torchrun`` (1 rank without it).
    Returns the count set."""
    names = ["REPTILE_THREADS"] + ([] if "LOCAL_WORLD_SIZE" in os.environ else ["OMP_NUM_THREADS"])
    for name in names:
        text = os.environ.get(name, "").strip()
        if threads is None and text:
            check(text.isdigit() and int(text) >= 1, f"{name} must be an integer >= 1, got {text!r}")
            threads = int(text)
    if threads is None:
        threads = share(int(os.environ.get("LOCAL_WORLD_SIZE", "1")))
    check(is_int(threads) and threads >= 1, f"threads must be an integer >= 1, got {threads!r}")
    torch.set_num_threads(threads)
    return threads


def cpu_model() -> str:
    """The CPU's model name (``/proc/cpuinfo``), or ``platform.processor()`` where that is not readable."""
    import platform
    from pathlib import Path

    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor()
