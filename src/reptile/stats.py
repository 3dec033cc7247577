"""Small statistics helpers for aggregating seeds and tasks, and the book's one rule for judging a difference
(:func:`compare`)."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Sequence

# two-sided 97.5% quantiles of Student's t for 1..30 degrees of freedom (beyond: the normal 1.96)
_T975 = [12.706, 4.303, 3.182, 2.776, 2.571, 2.447, 2.365, 2.306, 2.262, 2.228, 2.201, 2.179, 2.160, 2.145, 2.131,
         2.120, 2.110, 2.101, 2.093, 2.086, 2.080, 2.074, 2.069, 2.064, 2.060, 2.056, 2.052, 2.048, 2.045, 2.042]


def t975(dof: int) -> float:
    if dof < 1:
        raise ValueError(f"degrees of freedom must be >= 1, got {dof}")
    return _T975[dof - 1] if dof <= len(_T975) else 1.96


def mean_ci95(values: Sequence[float]) -> tuple[float, float]:
    """Mean and half-width of its 95% confidence interval (Student's t; NaN half-width for a single value)."""
    n = len(values)
    if n == 0:
        raise ValueError("mean_ci95 of no values")
    m = sum(values) / n
    if n == 1:
        return m, float("nan")
    var = sum((v - m) ** 2 for v in values) / (n - 1)
    return m, t975(n - 1) * math.sqrt(var / n)


def std(values: Sequence[float]) -> float:
    """Sample standard deviation (n - 1); NaN for fewer than two values."""
    n = len(values)
    if n < 2:
        return float("nan")
    m = sum(values) / n
    return math.sqrt(sum((v - m) ** 2 for v in values) / (n - 1))


# ------------------------------------------------------------------------------------- the book's one rule
#
# Every verdict in the book comes from :func:`compare`: a difference of two means over its standard error. The rule
# is stated for readers on the Protocol page ("How a result is judged").

THRESHOLD = 3.0  # standard errors: with 3 seeds a side the standard error is itself estimated from few values, so
#                  the normal 1.96 would call too many differences resolved

# what a comparison can conclude: a claim that one mean exceeds another, or agreement with a reference number
HOLDS, DOES_NOT_HOLD, NOT_RESOLVED = "holds", "does not hold", "not resolved"
REPRODUCES, DIFFERS, NOT_YET_RUN = "reproduces", "differs", "not yet run"
UNDER_WAY = "under way"  # no verdict yet: its run has begun and is not finished (the campaign's progress says how far)
NO_SOURCE = "no source"  # no verdict: the paper prints a number with no source, so there is nothing to reproduce


@dataclass(frozen=True)
class Estimate:
    """A mean over ``n`` seeds with ``sd``, the standard deviation over those seeds (n - 1). For a single seed,
    ``se`` gives the standard error over its test tasks instead (``sd`` is then NaN). ``shared_se``: a standard
    error every seed shares, which their spread cannot show (seeds tested on the very same tasks share those tasks'
    sampling error), added in quadrature to sd / sqrt(n)."""

    mean: float
    sd: float = float("nan")
    n: int = 1
    se: float | None = None
    shared_se: float = 0.0

    @classmethod
    def of(cls, values: Sequence[float]) -> "Estimate":
        """The estimate from per-seed values."""
        if not len(values):
            raise ValueError("Estimate.of needs at least one value")
        return cls(float(sum(values) / len(values)), std(values), len(values))

    def standard_error(self) -> float:
        """sd / sqrt(n) over seeds (with ``shared_se`` in quadrature), else the stored per-task standard error, else
        NaN (nothing to form one from)."""
        if self.n >= 2 and math.isfinite(self.sd):
            return math.sqrt(self.sd ** 2 / self.n + self.shared_se ** 2)
        return float(self.se) if self.se is not None else float("nan")


@dataclass(frozen=True)
class Comparison:
    """``a - b`` judged by the book's rule: ``z`` is the difference over its standard error."""

    difference: float
    se: float
    z: float

    @property
    def resolved(self) -> bool:
        return math.isfinite(self.z) and abs(self.z) >= THRESHOLD

    def claim(self) -> str:
        """The verdict on the claim "a exceeds b": holds (z >= 3), does not hold (z <= -3), else not resolved."""
        if not math.isfinite(self.z):
            return NOT_RESOLVED
        return HOLDS if self.z >= THRESHOLD else DOES_NOT_HOLD if self.z <= -THRESHOLD else NOT_RESOLVED

    def agreement(self) -> str:
        """The verdict on "a agrees with b" (ours against the paper's): reproduces (|z| < 3), differs (|z| >= 3),
        not resolved where no standard error can be formed."""
        if not math.isfinite(self.z):
            return NOT_RESOLVED
        return DIFFERS if abs(self.z) >= THRESHOLD else REPRODUCES

    def describe(self, unit: str = " points") -> str:
        """``"+0.06 points, 0.8 standard errors"`` (or without the standard errors where there are none)."""
        head = f"{self.difference:+.2f}{unit}"
        return head + (f", {abs(self.z):.1f} standard errors" if math.isfinite(self.z) else "")


def z_text(z: float) -> str:
    """A z as the book prints it: signed, with one decimal (``+8.8``), or with as many more (up to three, then cut
    towards zero) as it takes for the printed number to fall on the same side of the threshold as z itself, so that a
    printed z never contradicts its verdict (``2.998`` reads ``+2.998``, not ``+3.0``)."""
    if not math.isfinite(z):
        return f"{z:+.1f}"
    for digits in (1, 2, 3):
        text = f"{z:+.{digits}f}"
        if (abs(float(text)) >= THRESHOLD) == (abs(z) >= THRESHOLD):
            return text
    return f"{math.copysign(math.floor(abs(z) * 1000) / 1000, z):+.3f}"


def compare(a: Estimate, b: Estimate) -> Comparison:
    """The book's one statistical rule: ``d = a.mean - b.mean`` over ``SE = sqrt(se_a² + se_b²)``, each side's
    standard error being sd / sqrt(n) over its seeds (:meth:`Estimate.standard_error`). An exact zero difference
    with no spread on either side has z = 0; a non-zero one has an infinite z, which is not resolved (no spread on
    either side is degenerate data, not certainty: the book judges exact computations by tolerances instead); a side
    with no standard error makes z NaN (not resolved)."""
    d = a.mean - b.mean
    se = math.sqrt(a.standard_error() ** 2 + b.standard_error() ** 2)
    if math.isnan(se):
        return Comparison(d, se, float("nan"))
    z = d / se if se > 0 else (0.0 if d == 0 else math.copysign(math.inf, d))
    return Comparison(d, se, z)


def combine(verdicts: Sequence[str]) -> str:
    """The verdict on a claim made of several (each "a exceeds b"): it does not hold if any part does not hold,
    holds if every part holds, and is not resolved otherwise (and when there are no parts)."""
    if DOES_NOT_HOLD in verdicts:
        return DOES_NOT_HOLD
    return HOLDS if verdicts and all(v == HOLDS for v in verdicts) else NOT_RESOLVED


# ------------------------------------------------------------------------------------ an accuracy's interval


def bounded_interval(mean: float, half_width: float, low: float = 0.0, high: float = 1.0
                     ) -> tuple[float, float, bool]:
    """The 95% interval ``mean ± half_width`` of a quantity bounded by ``[low, high]`` (an accuracy), clipped to
    those bounds, and whether it was clipped. With few tasks Student's t widens the interval past the bounds (two
    tasks at 20% and 80%: 50% ± 381 points), where it says nothing the bounds do not already say."""
    lo, hi = mean - half_width, mean + half_width
    return max(lo, low), min(hi, high), lo < low or hi > high


def format_accuracy(mean: float, half_width: float, tasks: int) -> str:
    """An accuracy (a fraction) and the half-width of its 95% interval over ``tasks`` tasks, in percent:
    ``"97.40% ± 0.31"``; where the interval passes 0 or 100%, the interval clipped to [0, 100] and why
    (``"50.00%, 95% interval [0.00, 100.00]% (clipped to [0, 100]: ± 381.18 over 2 tasks; more tasks narrow
    it)"``); with one task, no interval."""
    if tasks < 2 or not math.isfinite(half_width):
        plural = "s" if tasks != 1 else ""
        return f"{100 * mean:.2f}% (over {tasks} task{plural}: no interval; 2 tasks or more give one)"
    lo, hi, clipped = bounded_interval(mean, half_width)
    if not clipped:
        return f"{100 * mean:.2f}% ± {100 * half_width:.2f}"
    return (f"{100 * mean:.2f}%, 95% interval [{100 * lo:.2f}, {100 * hi:.2f}]% (clipped to [0, 100]: "
            f"± {100 * half_width:.2f} over {tasks} tasks; more tasks narrow it)")
