"""What each chapter's prose says about its runs, checked on the runs shown.

A chapter's prose was written from its committed runs, and some of its sentences describe
them in words: "nearly flat", "drifts", "a few percent", "keeps falling". Each such statement is listed here with the
threshold that makes its words precise, and checked on the runs a build shows (a :data:`Statement`: the sentence and
True, False, or None where these runs cannot tell, say a method not run or a curve too short). A chapter shows
:func:`note` at its top and :func:`table` at its end, so that a reader of a rerun (other seeds, another preset)
sees which sentences no longer describe it. The note speaks of the statements checked here, not of every sentence of
the prose. These are descriptions of means, not the book's statistical verdicts
(:class:`reptile.artifacts.common.Check`).
"""

from __future__ import annotations

from typing import Sequence

import numpy as np
import pandas as pd

from .. import results as R
from . import manifolds as M
from . import sine as S
from . import sine_jacobian as SJ
from . import taylor as T
from .common import Note, Table

Statement = tuple[str, "bool | None"]
WORDS = {True: "true of these runs", False: "not true of these runs", None: "cannot be checked on these runs"}


def note(statements: Sequence[Statement]) -> Note:
    """One paragraph on a chapter's checked statements: all true of the runs shown, or which are not."""
    false = [s for s, ok in statements if ok is False]
    unknown = [s for s, ok in statements if ok is None]
    n = len(statements)
    if not false and not unknown:
        return Note(f"All {n} checked statements of this chapter's prose about its runs are true of the runs shown "
                    f"here (each is listed, with the threshold that makes its words precise, at the end of the "
                    f"chapter).")
    parts = [f"{len(false)} of them {'is' if len(false) == 1 else 'are'} not true of these runs: {'; '.join(false)}"
             ] if false else []
    parts += [f"{len(unknown)} of them cannot be checked on these runs: {'; '.join(unknown)}"] if unknown else []
    return Note(f"This chapter's prose was written from the committed runs; {n} of its statements about them are "
                f"checked on the runs shown. "
                f"{'. '.join(parts)}. The numbers, tables and figures show the runs at hand.")


def table(statements: Sequence[Statement]) -> Table:
    """A chapter's statements, each with whether the runs shown bear it out."""
    frame = pd.DataFrame({"statement of the prose": [s for s, _ in statements],
                          "on the runs shown": [WORDS[ok] for _, ok in statements]})
    return Table(frame, "What this chapter's prose says about its runs, checked on the runs shown (descriptions, "
                        "not the book's statistical verdicts).", index=False)


def _all(ok) -> bool | None:
    """``ok`` (an iterable of bools) all true; None when any is None (a quantity these runs lack)."""
    ok = list(ok)
    return None if any(v is None for v in ok) else all(ok)


# ------------------------------------------------------------------------------------------ sine (Section 3)

FLAT = 0.25  # "nearly flat": an output whose root mean square is below FLAT × the tasks' (sqrt of the f = 0 error)
FITS = 0.1  # "fits the task": a test error below FITS × the f = 0 level
LITTLE = 0.5  # "recovers little": a test error that stays above LITTLE × the f = 0 level
ORTHOGONAL = 0.25  # "nearly orthogonal": a mean cosine of magnitude below this; "well below zero": below -ORTHOGONAL


def _long_enough(runs: Sequence[dict], m: str) -> bool:
    """Whether ``m``'s learning curve reaches ``SETTLED`` outer iterations (a shorter run cannot show a drift)."""
    return m in S.held_methods(runs) and S.curve_mean(runs, m, "mse_step0")[0][-1] >= SJ.SETTLED


def _settled_cosine(runs: Sequence[dict], m: str, key: str) -> float | None:
    """``key``'s mean over the curve points from ``SETTLED`` on and over seeds, at ``m``'s initialisation."""
    if m not in SJ.jacobian_methods(runs):
        return None
    its, vals = S.curve_mean(runs, m, key)
    return float(vals[its >= SJ.SETTLED].mean()) if (its >= SJ.SETTLED).any() else None


def _drifts(runs: Sequence[dict], m: str) -> bool | None:
    if not _long_enough(runs, m):
        return None
    return bool((S.curve_mean(runs, m, "mse_step0")[1] > SJ.DRIFT * S.zero_function_mse()).any())


def _low_during_drift(runs: Sequence[dict], m: str) -> bool | None:
    """The cosine of ``m``'s mean step with MAML's below -``ORTHOGONAL`` at some curve point from the drift's start
    on (the first point where the error before adaptation passes ``DRIFT`` x the f = 0 level); False if ``m`` does
    not drift."""
    if m not in SJ.jacobian_methods(runs) or not _long_enough(runs, m):
        return None
    pre = S.curve_mean(runs, m, "mse_step0")[1]
    drift = np.nonzero(pre > SJ.DRIFT * S.zero_function_mse())[0]
    if not len(drift):
        return False
    cos = S.curve_mean(runs, m, "fo_maml_cosine")[1]
    return bool((cos[drift[0]:] < -ORTHOGONAL).any())


def sine(runs: Sequence[dict]) -> list[Statement]:
    """The sine chapter's statements: on paper Figure 1 and joint training (the pooled test error and the stored
    figure tasks), on the learning curves, and on first-order MAML's drift and the Jacobian it drops (the curves'
    cosines)."""
    held, zero = S.held_methods(runs), S.zero_function_mse()
    st = S.sine_mse_stats(runs, (0, 32)).set_index(["method", "steps"])

    def each(methods, ok):
        return None if any(m not in held for m in methods) else all(ok(m) for m in methods)

    def sign(m, key, positive):
        c = _settled_cosine(runs, m, key)
        return None if c is None else (c > 0) == positive

    def never(m):
        d = _drifts(runs, m)
        return None if d is None else not d

    def falls(m):
        after = S.curve_mean(runs, m, "mse_step32")[1]
        return bool(after[-1] < after[0])

    orth = _settled_cosine(runs, "maml", "fo_maml_cosine")
    return [
        (f"before adaptation, Reptile's and MAML's initialisations predict a nearly flat function (the root mean "
         f"square of the output below {FLAT} × the tasks' root mean square)",
         each(("reptile", "maml"), lambda m: S.prediction_rms(runs, m) < FLAT * zero ** 0.5)),
        (f"after 32 steps, Reptile and MAML fit the tasks (test error below {FITS} × the f = 0 level)",
         each(("reptile", "maml"), lambda m: st.loc[(m, 32), "mse"] < FITS * zero)),
        (f"32 steps recover little of the task for joint training (test error above {LITTLE} × the f = 0 level)",
         each(("joint",), lambda m: st.loc[(m, 32), "mse"] > LITTLE * zero)),
        ("during meta-training the error after 32 steps falls (lower at the last curve point than at the first) for "
         "Reptile, MAML and first-order MAML with one step", each(("reptile", "maml", "fomaml_k1"), falls)),
        (f"first-order MAML with five steps drifts: its error before adaptation passes {SJ.DRIFT} × the f = 0 "
         f"level at some curve point", _drifts(runs, "fomaml")),
        ("first-order MAML with one step does not drift", never("fomaml_k1")),
        ("MAML does not drift", never("maml")),
        (f"at first-order MAML's initialisation (five steps), the cosine of its mean step with MAML's falls well "
         f"below zero once the drift has begun (below -{ORTHOGONAL} at some curve point from the first at which the error "
         f"before adaptation passes {SJ.DRIFT} × the f = 0 level)", _low_during_drift(runs, "fomaml")),
        ("at first-order MAML's initialisation (five steps), its mean step has a negative mean cosine with MAML's",
         sign("fomaml", "fo_maml_cosine", False)),
        ("at first-order MAML's initialisation (five steps), its mean step has a negative mean cosine with AvgGrad",
         sign("fomaml", "fo_avggrad_cosine", False)),
        ("at first-order MAML's initialisation (five steps), MAML's mean step has a positive mean cosine with "
         "AvgGrad", sign("fomaml", "maml_avggrad_cosine", True)),
        ("at the initialisation of first-order MAML with one step, its mean step has a positive mean cosine with "
         "MAML's", sign("fomaml_k1", "fo_maml_cosine", True)),
        (f"at MAML's initialisation, the first-order and MAML steps are nearly orthogonal (mean cosine of magnitude "
         f"below {ORTHOGONAL})", None if orth is None else abs(orth) < ORTHOGONAL),
    ]


# -------------------------------------------------------------------------------------- taylor (Section 4.1)

IDENTICAL = 1e-6  # "identical": a relative difference below this at every step size
NOT_SMALL = 0.1  # "not small in absolute terms": a remainder at least this fraction of the first-order term
AS_LARGE = 0.5  # "as large as the term": a standard error at least this fraction of the term's norm
FEW_PERCENT = 0.1  # "a few percent of its size": a standard error below this fraction of the residual
UNRESOLVED = 3  # a departure "not resolved" by one step size: within this many standard errors (the book's rule's 3)
LINEAR = 0.1  # "moves linearly": |fitted - paper| has a log-log slope on alpha within LINEAR of 1 at the smallest steps
SMALLEST = 3  # ... over this many of the smallest step sizes


def taylor(runs: Sequence[dict], seed: int | None = None) -> list[Statement]:
    """The leading-order chapter's statements, on one run (``seed``; the first stored by default)."""
    r = R.pick_run(runs, seed)
    models, e, ks = r["exact_vs_leading"]["models"], r["expectation"], r["k_steps"]
    mlp = models.get("sine_mlp")
    i, j02 = T.mid_index(e["alphas"]), T.mid_index(e["alphas"], 0.02)  # the step sizes nearest 0.01 and 0.02
    fits = {m: np.array([f["c_inner"] for f in e["methods"][m]["fit"]]) for m in T.METHODS}
    paper_inner = {m: e["methods"][m]["paper"][1] for m in T.METHODS}

    def identical(d):
        a, b = np.asarray(d["errors"]["reptile"]), np.asarray(d["errors"]["fomaml"])
        return bool((np.abs(a - b) <= IDENTICAL * np.abs(a)).all())

    def keeps_falling(m):
        larger = fits[m][i:]
        return None if len(larger) < 2 else bool((np.diff(larger) < 0).all())

    def linear(m):
        dev = np.abs(fits[m][:SMALLEST] - paper_inner[m])
        if len(dev) < SMALLEST or not (dev > 0).all():
            return None
        slope = np.polyfit(np.log(e["alphas"][:SMALLEST]), np.log(dev), 1)[0]
        return bool(abs(slope - 1) < LINEAR)

    dev = [abs(ks["limit"][m][c][j] - ks["formula"][m][c][j]) / ks["formula"][m][c][j]
           for m in T.METHODS for c in ("c_grad", "c_inner") for j in range(len(ks["k"])) if ks["formula"][m][c][j]]
    o = e["methods"]["reptile"]
    return [
        (f"Reptile's and first-order MAML's errors are identical (relative difference below {IDENTICAL:g} at every "
         f"step size, for both models)", _all(identical(d) for d in models.values())),
        (f"for the MLP, MAML's O(α²) remainder at the largest step is not small (at least {NOT_SMALL} × its "
         f"first-order term)", None if mlp is None else
         bool(mlp["errors"]["maml"][-1] >= NOT_SMALL * mlp["first_order_term"][-1])),
        (f"a plain Monte Carlo estimate cannot resolve Reptile's α term: at α = {e['alphas'][i]:.3g} its standard "
         f"error is at least {AS_LARGE} × the term", bool(o["naive_se"][i] >= AS_LARGE * o["inner_term_norm"][i])),
        (f"the residual's standard errors are a few percent of it (below {FEW_PERCENT} × the residual) at every step "
         f"size, for every method", bool(all((np.asarray(e["methods"][m]["residual_se"])
                                             < FEW_PERCENT * np.asarray(e["methods"][m]["residual_norm"])).all()
                                            for m in T.METHODS))),
        ("the fitted AvgGradInner coefficient moves towards the paper's as α → 0: nearer it at the smallest step "
         "size than at the largest, for every method",
         bool(all(abs(fits[m][0] - paper_inner[m]) < abs(fits[m][-1] - paper_inner[m]) for m in T.METHODS))),
        (f"near α = 0 the fitted AvgGradInner coefficient moves linearly: its distance from the paper's value is "
         f"proportional to α (log-log slope within {LINEAR} of 1 over the {SMALLEST} smallest step sizes), for every "
         f"method",
         _all(linear(m) for m in T.METHODS)),
        (f"at larger steps Reptile's and MAML's fitted AvgGradInner coefficients keep falling (lower at each step "
         f"size from α = {e['alphas'][i]:.3g} to the largest)", _all(keeps_falling(m) for m in ("reptile", "maml"))),
        (f"at α = {e['alphas'][j02]:.3g} a single step size does not resolve the departure of Reptile's fitted "
         f"AvgGradInner coefficient from the paper's 1 (it is within {UNRESOLVED} standard errors of it)",
         bool(abs(o["fit"][j02]["c_inner"] - paper_inner["reptile"]) < UNRESOLVED * o["fit"][j02]["c_inner_se"])),
        (f"the k-step coefficients fitted in the limit match the formula for every k and method (relative "
         f"deviation below {T.COEF_TOL:g})", bool(max(dev) < T.COEF_TOL)),
    ]


# ----------------------------------------------------------------------------------- manifolds (Section 4.2)

SETTLES = 0.1  # a serial run "settles at" a point when it ends within SETTLES x ||phi_L - phi_D|| of it (seed mean)
LEVELS_OFF = 0.1  # "levels off at the bias": over the last half of the iterations, the seed-mean distance to phi_D
# stays within this fraction of ||phi_k - phi_D|| of it
ROUNDING = 1e-6  # a distance below this is rounding (the chapter's tables say so too)


def manifolds(runs: Sequence[dict]) -> list[Statement]:
    """The solution-manifolds chapter's statements, on the seed means of the serial runs' last iterates and the
    closed-form fixed points, for every task family, and on where the two reference points lie among the lines."""
    fams = list(runs[0]["families"])

    def final(f, variant, key):
        return float(np.mean([r["families"][f]["serial"]["final"][variant][key] for r in runs]))

    def bias(f):
        fam = runs[0]["families"][f]
        k = str(fam["serial"]["k"])
        return float(np.linalg.norm(np.asarray(fam["fixed_points"][k]) - np.asarray(fam["phi_D"])))

    def gap(f):
        return runs[0]["families"][f]["gap"]

    def levels_off(f):
        fam = runs[0]["families"][f]
        its = np.asarray(fam["serial"]["iterations"])
        dist = np.mean([np.linalg.norm(np.asarray(r["families"][f]["serial"]["partial"])
                                       - np.asarray(fam["phi_D"]), axis=1) for r in runs], axis=0)
        late = its >= its.max() / 2
        return bool((np.abs(dist[late] - bias(f)) < LEVELS_OFF * bias(f)).all())

    def pulled_to_steepest_line():
        """On the lines: phi_L is nearer than phi_D to the line with the largest scale."""
        if "lines" not in runs[0]["families"]:
            return None
        fam = runs[0]["families"]["lines"]
        t = fam["tasks"]
        j = int(np.argmax(t["scales"]))
        n, c = np.asarray(t["normals"][j], float), float(t["offsets"][j])

        def dist(p):
            return abs(float(n @ np.asarray(p)) - c) / float(np.linalg.norm(n))

        return dist(fam["phi_L"]) < dist(fam["phi_D"])

    def phi_1_is_phi_L(f):
        fam = runs[0]["families"][f]
        return float(np.linalg.norm(np.asarray(fam["fixed_points"]["1"]) - np.asarray(fam["phi_L"]))) < ROUNDING

    def objectives_differ(f):
        fam = runs[0]["families"][f]
        o = fam["objective"]
        return fam["gap"] > M.DIST_TOL and o["mean_sq_distance_at_phi_D"] < o["mean_sq_distance_at_phi_L"]

    return [
        (f"on these constructed problems, whose task scales were chosen to set them apart, the two objectives' "
         f"minimisers differ (||φ_L - φ_D|| above {M.DIST_TOL:.0e}) and φ_D has the smaller mean squared distance to "
         f"the manifolds, in every family (true by construction: an illustration of paper Figure 2's caption, not a "
         f"test of it)", all(objectives_differ(f) for f in fams)),
        (f"with the exact projection the serial runs settle at φ_D (within {SETTLES} × ||φ_L - φ_D||), in every "
         f"family", all(final(f, "exact", "to_phi_D") < SETTLES * gap(f) for f in fams)),
        (f"with k steps the serial runs settle at φ*_k (within {SETTLES} × ||φ_L - φ_D||), not at φ_D, in every "
         f"family", all(final(f, "partial", "to_phi_k") < SETTLES * gap(f) <= final(f, "partial", "to_phi_D")
                        for f in fams)),
        ("on the lines, the expected loss pulls φ_L towards the line with the largest scale s: φ_L is nearer that "
         "line than φ_D is", pulled_to_steepest_line()),
        (f"the k-step runs' distance to φ_D levels off at the bias ||φ*_k - φ_D|| (within {LEVELS_OFF:.0%} of it "
         f"over the last half of the iterations, seed mean), in every family", all(levels_off(f) for f in fams)),
        (f"at k = 1 the fixed point is the expected loss's minimiser φ_L (distance below {ROUNDING:g}), in every "
         f"family", all(phi_1_is_phi_L(f) for f in fams) if all("1" in runs[0]["families"][f]["fixed_points"]
                                                                 for f in fams) else None),
    ]
