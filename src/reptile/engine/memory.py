"""Memory: keep freed memory in the process, and copy to a GPU without waiting for it.

**Freed memory.**

PyTorch's CPU allocator hands each tensor to ``malloc``. glibc serves blocks over a threshold (128 KiB at first) with
fresh ``mmap`` pages and returns them on ``free``, so every step of a small network page-faults its activations in
again, which here cost more than the arithmetic of some layers. Raising the mmap and trim thresholds makes ``malloc``
reuse the heap, the effect ``MALLOC_MMAP_THRESHOLD_``/``MALLOC_TRIM_THRESHOLD_`` would have if set before start-up.

**Copies to a GPU.** A copy from ordinary (pageable) host memory to a GPU first waits for the work already queued on
the stream, so a training loop that sends each iteration's task indices that way never gets ahead of the GPU: the
host draws the next tasks only once the device is idle. :func:`to_device` sends them from page-locked memory,
asynchronously; PyTorch's pinned-memory cache keeps each host block until its copy has completed.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import sys

import torch
from torch import Tensor

M_TRIM_THRESHOLD, M_MMAP_THRESHOLD = -1, -3
THRESHOLD = 32 * 1024 * 1024  # glibc's largest mmap threshold on 64-bit systems

_done = False


def keep_freed_memory() -> bool:
    """Set glibc's thresholds once per process (a no-op elsewhere). Returns whether they are set."""
    global _done
    if _done or not sys.platform.startswith("linux"):
        return _done
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        ok = libc.mallopt(M_MMAP_THRESHOLD, THRESHOLD) == 1 and libc.mallopt(M_TRIM_THRESHOLD, 4 * THRESHOLD) == 1
    except (OSError, AttributeError):  # not glibc
        ok = False
    _done = ok
    return ok


def to_device(t: Tensor, device: torch.device) -> Tensor:
    """``t`` (on the host) on ``device``: on CUDA from page-locked memory without waiting for the device, elsewhere
    an ordinary copy (or ``t`` itself)."""
    if device.type == "cuda":
        return t.pin_memory().to(device, non_blocking=True)
    return t.to(device)
