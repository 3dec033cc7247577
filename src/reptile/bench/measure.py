"""Measurements that compare two programs on one machine: the interleaving that makes their ratio robust to a
changing load, the summary of repeated measurements, the share of a core a process had, and the CPU they ran on.

* :func:`interleaved`: ours and theirs alternately, the ratio of each adjacent pair, its median and spread.
* :func:`summary`: median, range and relative spread of repeated measurements.
* :func:`cpu_shared`: a measurement and the share of a core this process had meanwhile.
* :func:`cpu_features`, :func:`cpu_slug`: the CPU's model and vector extensions (which the ratio to the authors'
  code depends on) and a file name for it.
"""

from __future__ import annotations

import math
import re
import statistics
import time
from pathlib import Path
from typing import Callable, Sequence

# The x86 and Arm vector extensions that matter for float32 convolutions, in /proc/cpuinfo's spelling.
VECTOR_FLAGS = ("sse4_2", "avx", "avx2", "fma", "avx512f", "avx512bw", "avx512vl", "avx512_vnni", "avx512_bf16",
                "avx512_fp16", "avx_vnni", "amx_tile", "amx_bf16", "amx_int8", "asimd", "sve", "sve2")


# ------------------------------------------------------------------------------------------- interleaving


def interleaved(ours: Callable[[], float], theirs: Callable[[], float], repetitions: int,
                order: str = "ABAB") -> dict:
    """Measure ``ours`` and ``theirs`` alternately, ``repetitions`` times each, and the ratio ``ours / theirs``
    of each adjacent pair.

    Both callables return the same quantity (a rate such as inner steps per second, where a ratio above 1 means
    ours is faster; or seconds per iteration, where it means ours is slower). ``order``: ``"ABAB"`` calls ours
    then theirs in every pair; ``"ABBA"`` swaps the order every other pair (ours, theirs, theirs, ours, ...), so
    that a load drifting steadily is shared between the two.

    Returns ``{"ours": [...], "theirs": [...], "ratios": [...], "median": m, "min": lo, "max": hi,
    "spread": (hi - lo) / m, "repetitions": n, "order": order, "sequence": ["ours", "theirs", ...]}``: the values
    per repetition in the order measured, the ratio per pair, the median ratio, its range, and the range relative
    to the median. Raises ``ValueError`` for ``repetitions < 1``, an unknown ``order``, or a measurement that is
    not a finite number > 0.
    """
    if not (isinstance(repetitions, int) and not isinstance(repetitions, bool) and repetitions >= 1):
        raise ValueError(f"repetitions must be an integer >= 1, got {repetitions!r}")
    if order not in ("ABAB", "ABBA"):
        raise ValueError(f"order must be 'ABAB' or 'ABBA', got {order!r}")
    values: dict[str, list[float]] = {"ours": [], "theirs": []}
    calls = {"ours": ours, "theirs": theirs}
    sequence = []
    for i in range(repetitions):
        pair = ("theirs", "ours") if order == "ABBA" and i % 2 else ("ours", "theirs")
        for name in pair:
            v = calls[name]()
            if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v) or v <= 0:
                raise ValueError(f"measurement {len(sequence) + 1} ({name}) must be a finite number > 0, got {v!r}")
            values[name].append(float(v))
            sequence.append(name)
    ratios = [a / b for a, b in zip(values["ours"], values["theirs"])]
    med = statistics.median(ratios)
    return {"ours": values["ours"], "theirs": values["theirs"], "ratios": ratios, "median": med,
            "min": min(ratios), "max": max(ratios), "spread": (max(ratios) - min(ratios)) / med,
            "repetitions": repetitions, "order": order, "sequence": sequence}


def summary(values: Sequence[float]) -> dict:
    """Median, minimum, maximum and relative spread ((max - min) / median) of repeated measurements."""
    med = statistics.median(values)
    return {"values": list(values), "median": med, "min": min(values), "max": max(values),
            "spread": (max(values) - min(values)) / med}

def cpu_shared(fn: Callable[[str, float], float], setting: str, seconds: float) -> tuple[float, float]:
    """``fn(setting, seconds)`` and the share of a core this process had meanwhile (CPU time / wall time)."""
    t0, c0 = time.perf_counter(), time.process_time()
    value = fn(setting, seconds)
    return value, (time.process_time() - c0) / (time.perf_counter() - t0)



# ----------------------------------------------------------------------------------------------- the CPU


def cpu_features(cpuinfo: str | None = None) -> dict:
    """The CPU's model and vector extensions, from ``cpuinfo`` (the text of ``/proc/cpuinfo``; ``None``: read it).

    Returns ``{"model": str, "features": [...], "avx2": bool, "avx512": bool, "amx": bool, "level": str}``:
    ``features`` are those of :data:`VECTOR_FLAGS` the first processor lists (in that order), ``level`` the widest
    of ``"amx"``, ``"avx512"``, ``"avx2"``, ``"avx"``, ``"sve"``, ``"asimd"`` present (``""`` if none). Where
    ``/proc/cpuinfo`` cannot be read, the model is ``platform.processor()`` and the features are empty.
    ``family_model_stepping`` (x86's numbers, ``"?"`` where absent) and ``mhz`` are as the kernel reports them: under
    a hypervisor (KVM's generic "Intel Xeon Processor") they need not be the host's.
    """
    if cpuinfo is None:
        try:
            cpuinfo = Path("/proc/cpuinfo").read_text()
        except OSError:
            import platform

            return {"model": platform.processor(), "features": [], "avx2": False, "avx512": False, "amx": False,
                    "level": "", "family_model_stepping": "?/?/?", "mhz": None}
    model, flags, ident = "", None, {}
    for line in cpuinfo.splitlines():
        key, _, value = line.partition(":")
        key = key.strip().lower()
        if key in ("model name", "cpu model") and not model:
            model = value.strip()
        elif key in ("flags", "features") and flags is None:  # x86 'flags', Arm 'Features'
            flags = set(value.split())
        elif key in ("cpu family", "model", "stepping", "cpu mhz") and key not in ident:
            ident[key] = value.strip()
    flags = flags or set()
    if not model:  # Arm: no model name; the implementer and part numbers say which core
        ids = {k.strip().lower(): v.strip() for k, _, v in (ln.partition(":") for ln in cpuinfo.splitlines())}
        if "cpu implementer" in ids:
            model = f"arm implementer {ids['cpu implementer']} part {ids.get('cpu part', '?')}"
    features = [f for f in VECTOR_FLAGS if f in flags]
    avx512, amx = "avx512f" in flags, "amx_tile" in flags
    level = next((name for name, present in (("amx", amx), ("avx512", avx512), ("avx2", "avx2" in flags),
                                             ("avx", "avx" in flags), ("sve", "sve" in flags),
                                             ("asimd", "asimd" in flags)) if present), "")
    return {"model": model, "features": features, "avx2": "avx2" in flags, "avx512": avx512, "amx": amx,
            "level": level, "family_model_stepping": "/".join(ident.get(k, "?") for k in ("cpu family", "model",
                                                                                          "stepping")),
            "mhz": ident.get("cpu mhz")}


def cpu_slug(cpu: dict) -> str:
    """A file name for a CPU (:func:`cpu_features`'s dict): its model without trademarks, frequency and the word
    'CPU', then its widest vector extension (two machines may give the same generic model name)."""
    text = re.sub(r"\((r|tm)\)|\bcpu\b|@.*$", " ", cpu["model"].lower())
    parts = [re.sub(r"[^a-z0-9]+", "-", text).strip("-") or "cpu", cpu.get("level", "")]
    return "-".join(p for p in parts if p)
