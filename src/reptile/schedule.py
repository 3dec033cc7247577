"""Step-size schedules."""

from __future__ import annotations


def linear_anneal(initial: float, iteration: int, total: int, final: float = 0.0) -> float:
    """Outer step size at ``iteration`` (0-based) of ``total``, annealed linearly from ``initial`` to ``final``.

    This is the authors' schedule: ``frac = iteration / total``, ``eps = frac * final + (1 - frac) * initial``, so
    the first update uses ``initial`` and the step reaches ``final`` only after the last update.
    """
    if total <= 0:
        raise ValueError(f"total iterations must be positive, got {total}")
    if not 0 <= iteration <= total:
        raise ValueError(f"iteration must be in [0, {total}], got {iteration}")
    frac = iteration / total
    return frac * final + (1.0 - frac) * initial


def outer_step_size(outer_step: float, anneal: bool, iteration: int, outer_iters: int) -> float:
    """The outer step epsilon of paper Algorithms 1-2 at outer iteration ``iteration`` (0-based): ``outer_step``
    throughout, or with ``anneal`` linearly annealed to 0 over ``outer_iters`` (:func:`linear_anneal`, the
    authors' schedule), held at its last value beyond them. One rule for the per-run code and the engine."""
    if not anneal:
        return outer_step
    return linear_anneal(outer_step, min(iteration, outer_iters), outer_iters)
