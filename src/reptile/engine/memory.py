"""Keep freed memory in the process instead of returning it to the kernel after every step.

PyTorch's CPU allocator hands each tensor to ``malloc``. glibc serves blocks over a threshold (128 KiB at first) with
fresh ``mmap`` pages and returns them on ``free``, so every step of a small network page-faults its activations in
again, which here cost more than the arithmetic of some layers. Raising the mmap and trim thresholds makes ``malloc``
reuse the heap, the effect ``MALLOC_MMAP_THRESHOLD_``/``MALLOC_TRIM_THRESHOLD_`` would have if set before start-up.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import sys

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
