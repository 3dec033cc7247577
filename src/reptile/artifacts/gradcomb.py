"""Section 5.2, Figure 3 (inner-loop gradient combinations), rebuilt from stored runs of
:mod:`reptile.experiments.gradcomb` (or of the campaign) without re-running anything.

Every function takes ``runs_by_curve``, curve name (``g1``, ``sum2``, ..., ``last4``) -> that curve's stored records
(what :func:`reptile.experiments.gradcomb.load_or_run` and :func:`~reptile.experiments.gradcomb.stored` return); a curve
with no records is shown as not yet run. The paper gives no numbers for Figure 3 (:data:`reptile.paper.FIGURE3`), so
its claims are checked against our numbers only, and every sentence is computed from them.
"""

from __future__ import annotations

from typing import Any, Mapping, Sequence

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from ..config import FIGURE3_PRESETS
from ..experiments.gradcomb import CURVES
from ..stats import HOLDS, NOT_YET_RUN, THRESHOLD, Comparison, Estimate, combine, compare, z_text
from .common import PM_COLUMN, Check, Table, constant_columns, seed_list, seed_spread

PAPER_OUTER_ITERS = FIGURE3_PRESETS["figure3-g1"].meta.outer_iters  # the authors' --meta-iters (40,000)
KIND_NAME = {"g1": "first gradient only", "sum": "sum (Reptile)", "avg": "average",
             "last": "last gradient (first-order MAML)"}
LINESTYLE = {"g1": "-", "sum": "-", "avg": "--", "last": ":"}
COLOUR = {1: "black", 2: "tab:blue", 3: "tab:orange", 4: "tab:green"}  # by the number of inner minibatches

RunsByCurve = Mapping[str, Sequence[dict]]
ROWS_NAMED = "rows: the curve names that the chapter's curves parameter and the command line's --curves take"


def kind_and_steps(curve: str) -> tuple[str, int]:
    """``("sum", 3)`` for ``"sum3"``; ``("g1", 1)`` for ``"g1"``."""
    if curve not in CURVES:
        raise ValueError(f"unknown curve {curve!r}; allowed: {', '.join(CURVES)}")
    return ("g1", 1) if curve == "g1" else (curve[:-1], int(curve[-1]))


def combination(curve: str) -> str:
    """The outer update's direction in the paper's notation (plain text): ``g1+g2``, ``(g1+g2)/2``, ``g2``."""
    kind, k = kind_and_steps(curve)
    total = "+".join(f"g{i}" for i in range(1, k + 1))
    return {"g1": "g1", "sum": total, "avg": f"({total})/{k}", "last": f"g{k}"}[kind]


def _tex(curve: str) -> str:
    kind, k = kind_and_steps(curve)
    total = "+".join(f"g_{i}" for i in range(1, k + 1))
    return "$" + {"g1": "g_1", "sum": total, "avg": f"({total})/{k}", "last": f"g_{k}"}[kind] + "$"


def _runs(runs_by_curve: RunsByCurve, curve: str) -> list[dict]:
    return list(runs_by_curve.get(curve) or [])


def budget_label(runs: Sequence[dict], tasks: bool = True) -> str:
    """What budget ``runs`` (records of one configuration) were trained at, from their stored configuration:
    the paper's (40,000 outer iterations) or a reduced one, always saying which; with ``tasks``, the evaluation
    tasks per seed too."""
    if not runs:
        return "not yet run"
    c = runs[0]["config"]
    iters, n = c["meta"]["outer_iters"], runs[0]["eval"]["non_transductive"]["tasks"]
    what = f"paper budget: {iters:,} outer iterations" if c.get("budget") == "paper" and iters == PAPER_OUTER_ITERS \
        else f"reduced budget: {iters:,} of {PAPER_OUTER_ITERS:,} outer iterations"
    return what + (f", {n:,} evaluation tasks per seed" if tasks else "")


def overall_budget(runs_by_curve: RunsByCurve, tasks: bool = True) -> str:
    """The budget label shared by every stored curve ('mixed budgets: ...' if they differ)."""
    labels = sorted({budget_label(_runs(runs_by_curve, c), tasks) for c in CURVES if _runs(runs_by_curve, c)})
    if not labels:
        return "not yet run"
    return labels[0] if len(labels) == 1 else "mixed budgets: " + "; ".join(labels)


def final_accuracy(runs: Sequence[dict]) -> dict[str, Any] | None:
    """Final (non-transductive) test accuracy of one curve in percent: ``mean``, ``spread`` and what the spread is
    (the standard deviation over seeds; with one seed the 95% interval over its tasks), ``seeds``, ``tasks``; None
    when nothing is stored."""
    if not runs:
        return None
    accs = [100 * r["eval"]["non_transductive"]["accuracy"] for r in runs]
    mean, spread, label = seed_spread(accs, 100 * runs[0]["eval"]["non_transductive"]["ci95"])
    return {"mean": mean, "spread": spread, "spread_is": label, "seeds": len(runs),
            "tasks": runs[0]["eval"]["non_transductive"]["tasks"]}


def curve_accuracy(runs: Sequence[dict]) -> dict[str, Any] | None:
    """The mean test accuracy (%) over one curve's learning-curve points (every point with equal weight, each over
    the curve's ``curve_tasks`` test tasks, cut to the shortest seed's length: about the area under the learning
    curve over its length), shaped as :func:`final_accuracy`'s result; ``points`` is the number of points. With one
    seed the spread is a 95% interval over tasks from a bound on each point's variance: a task's accuracy lies in
    [0, 1], so its variance is at most p (1 - p) at a point of mean p. None when nothing is stored."""
    if not runs:
        return None
    vals = _curves(runs)[1]
    means = [float(v.mean()) for v in vals]
    points, per_point = vals.shape[1], runs[0]["config"]["curve_tasks"]
    p = vals[0] / 100
    ci = 100 * 1.96 * float(np.sqrt((p * (1 - p) / per_point).sum())) / points
    mean, spread, label = seed_spread(means, ci)
    return {"mean": mean, "spread": spread, "spread_is": label, "seeds": len(runs), "tasks": points * per_point,
            "points": points}


# ------------------------------------------------------------------------------------------------- figures


def _curves(runs: Sequence[dict]) -> tuple[np.ndarray, np.ndarray]:
    """A curve's iterations and its test accuracy (%) per seed, cut to the shortest seed's length."""
    n = min(len(r["curve"]["iteration"]) for r in runs)
    return np.asarray(runs[0]["curve"]["iteration"][:n]), 100 * np.array([r["curve"]["test_accuracy"][:n] for r in runs])


N_WAY = 5  # Figure 3's tasks: 5-shot 5-way Omniglot (the figure's title)


def g1_summary(runs_by_curve: RunsByCurve) -> str:
    """Markdown: how g1's final accuracy stands against the accuracy that fine-tuning reaches from the untrained
    initialisation (the learning curve's first point, outer iteration 0), over seeds, judged by the book's rule on the
    claim "training on g1 lowers it" (empty when g1 has no run or its curve does not start at iteration 0)."""
    runs = _runs(runs_by_curve, "g1")
    if len(runs) < 2 or runs[0]["curve"]["iteration"][0] != 0:
        return ""
    start = Estimate.of([100 * r["curve"]["test_accuracy"][0] for r in runs])
    end = Estimate.of([100 * r["eval"]["non_transductive"]["accuracy"] for r in runs])
    c = compare(start, end)  # "the untrained initialisation beats g1's": training on g1 lowers the accuracy
    return (f"Fine-tuning from the untrained initialisation (outer iteration 0 of g1's learning curves, "
            f"{runs[0]['config']['curve_tasks']:,} test tasks per seed) reaches {start.mean:.1f} ± {start.sd:.1f}%; "
            f"from the initialisation that training on g1 ends at, {end.mean:.1f} ± {end.sd:.1f}% (the final "
            f"evaluation; ± the standard deviation over {len(runs)} seeds). By the book's rule, the claim \"training "
            f"on g1 lowers the accuracy that fine-tuning reaches\" **{c.claim()}** (z = {z_text(c.z)}). The paper "
            f"calls g1 \"quite ineffective\"; this claim asks whether it is worse than no meta-training at all. It "
            f"is this book's, not the paper's, and was posed after the learning curves were seen, so it describes "
            f"these runs rather than testing a prediction.")


def figure3(runs_by_curve: RunsByCurve):
    """Figure 3 redrawn, in two panels. Left: test accuracy against outer iteration for the ten combinations, the
    mean over seeds with a band of ± one standard deviation over seeds. Right: the same for the nine curves with two
    to four minibatches over the second half of training, on an axis fitted to them, where their differences of a
    point or two can be seen. Line style by kind (solid: sum, dashed: average, dotted: last gradient; ``g1`` solid
    black), colour by the number of inner minibatches."""
    fig, (ax, zoom) = plt.subplots(1, 2, figsize=(11, 4.6), gridspec_kw={"width_ratios": [1, 1]})
    shown, lows, highs = 0, [], []
    for curve in CURVES:
        runs = _runs(runs_by_curve, curve)
        if not runs:
            continue
        kind, k = kind_and_steps(curve)
        its, vals = _curves(runs)
        mean = vals.mean(0)
        sd = vals.std(0, ddof=1) if len(runs) >= 2 else np.zeros_like(mean)
        lw = 2.2 if kind == "sum" else 1.6
        for axis in (ax, zoom) if k > 1 else (ax,):
            axis.plot(its, mean, LINESTYLE[kind], color=COLOUR[k], lw=lw, label=_tex(curve))
            if len(runs) >= 2:
                axis.fill_between(its, mean - sd, mean + sd, color=COLOUR[k], alpha=0.12, lw=0)
        if k > 1:
            late = its >= its[-1] / 2
            lows.append(float((mean - sd)[late].min()))
            highs.append(float((mean + sd)[late].max()))
        shown += 1
    ax.set_xlabel("outer iteration")
    ax.set_ylabel("test accuracy (%)")
    ax.set_title("all ten combinations", fontsize=10)
    zoom.set_xlabel("outer iteration")
    zoom.set_title("two to four minibatches, second half of training", fontsize=10)
    if lows:
        end = max(_curves(_runs(runs_by_curve, c))[0][-1] for c in CURVES if _runs(runs_by_curve, c))
        zoom.set_xlim(end / 2, end)
        pad = 0.1 * (max(highs) - min(lows))
        zoom.set_ylim(min(lows) - pad, max(highs) + pad)
    if shown:
        ax.axhline(100 / N_WAY, color="0.5", ls=":", lw=1, label=f"chance (1 in {N_WAY})")
        ax.legend(fontsize=8, ncol=2, loc="center right")
    else:
        for axis in (ax, zoom):
            axis.text(0.5, 0.5, "not yet run", ha="center", va="center", transform=axis.transAxes)
    for axis in (ax, zoom):
        axis.grid(alpha=0.3)
    fig.suptitle(f"5-shot {N_WAY}-way Omniglot, " + overall_budget(runs_by_curve, tasks=False), fontsize=10)
    fig.tight_layout()
    return fig


def accuracy_by_minibatches(runs_by_curve: RunsByCurve):
    """Final accuracy against the number of inner minibatches k for the sums, averages and last gradients, each
    starting from ``g1`` (k = 1, where the three coincide); error bars: the spread over seeds. Left, every k; right,
    k = 2 to 4 on an axis fitted to them, where the chapter's claims 3 and 4 lie."""
    fig, (ax, zoom) = plt.subplots(1, 2, figsize=(8.4, 3.6), gridspec_kw={"width_ratios": (1, 1.15)})
    g1 = final_accuracy(_runs(runs_by_curve, "g1"))
    shown, near = 0, []
    for kind, colour, dx in (("sum", "tab:red", -0.06), ("avg", "tab:purple", 0.0), ("last", "tab:gray", 0.06)):
        pts = [(1, g1)] + [(k, final_accuracy(_runs(runs_by_curve, f"{kind}{k}"))) for k in (2, 3, 4)]
        pts = [(k, a) for k, a in pts if a is not None]
        if not pts:
            continue
        for panel, which in ((ax, pts), (zoom, [(k, a) for k, a in pts if k >= 2])):
            if which:
                panel.errorbar([k + dx for k, _ in which], [a["mean"] for _, a in which],
                               yerr=[a["spread"] for _, a in which], fmt="o" + LINESTYLE[kind], color=colour,
                               capsize=3, label=KIND_NAME[kind])
        near += [(a["mean"] - a["spread"], a["mean"] + a["spread"]) for k, a in pts if k >= 2]
        shown += 1
    ax.set_xticks([1, 2, 3, 4])
    zoom.set_xticks([2, 3, 4])
    zoom.set_xlim(1.7, 4.3)
    if near:
        lo, hi = min(v for v, _ in near), max(v for _, v in near)
        pad = 0.15 * max(hi - lo, 0.1)
        zoom.set_ylim(lo - pad, hi + pad)
    for panel in (ax, zoom):
        panel.set_xlabel("inner minibatches k")
        panel.grid(alpha=0.3)
    ax.set_ylabel("final test accuracy (%)")
    ax.set_title("every k", fontsize=9)
    zoom.set_title("k = 2 to 4, on a fitted axis", fontsize=9)
    if shown:
        zoom.legend(fontsize=8)
    else:
        ax.text(0.5, 0.5, "not yet run", ha="center", va="center", transform=ax.transAxes)
    fig.tight_layout()
    return fig


# --------------------------------------------------------------------------------------------------- table


def settings_table(configs: Mapping[str, Any]) -> Table:
    """The setting of each curve, read from its configuration (curve -> :class:`reptile.config.FewShotConfig`,
    :func:`reptile.experiments.gradcomb.configs`): what the outer update moves along, the inner loop, the outer step;
    what every curve shares (the budget, the inner batch and step, the evaluation) goes into the caption."""
    rows = {}
    for curve, cfg in configs.items():
        m = cfg.meta
        rows[curve] = {"outer update along": combination(curve), "inner SGD steps": m.inner_iters,
                       "training shots": cfg.train_shots, "inner batch": m.inner_batch,
                       "inner step (summed loss)": f"{m.inner_lr:g}",
                       "outer step": f"{m.outer_step:g}" + (" → 0" if m.anneal else ""),
                       "outer iterations": f"{m.outer_iters:,}",
                       "learning curve": f"every {cfg.curve_every:,} iterations, {cfg.curve_tasks:,} test tasks",
                       "evaluation": f"{cfg.eval_iters} SGD steps of batch {cfg.eval_batch}, "
                                     f"{cfg.eval_tasks:,} test tasks per seed"}
    df = pd.DataFrame(rows).T
    shared = constant_columns(df)
    caption = f"The ten curves' settings, read from the presets ({ROWS_NAMED}). Shared by every curve: " + "; ".join(
        f"{k} {v}" for k, v in shared.items()) + "." + (
        " An average's outer step applies to the sum g1+...+gk, as the authors' script does: 0.125 on g1+g2 is 0.25 "
        "on their average (0.08325, paper Table 6's value, is 0.25 × 0.333, short of 0.25/3 = 0.08333)."
        if any(c.startswith("avg") for c in configs) else "")
    return Table(df.drop(columns=list(shared)), caption)


def final_table(runs_by_curve: RunsByCurve) -> Table:
    """One row per curve of Figure 3: its combination, kind and number of minibatches, and the final test accuracy
    as mean ± the standard deviation over seeds (for a single seed, the 95% interval over its tasks); the caption
    says which, with the seeds, the evaluation tasks and the budget where every curve shares them."""
    rows = {}
    for curve in CURVES:
        kind, k = kind_and_steps(curve)
        runs = _runs(runs_by_curve, curve)
        a = final_accuracy(runs)
        rows[curve] = {"combination": combination(curve), "kind": KIND_NAME[kind], "minibatches": k,
                       "final accuracy (%)": "not yet run" if a is None else f"{a['mean']:.2f} ± {a['spread']:.2f}",
                       PM_COLUMN: "-" if a is None else a["spread_is"],
                       "seeds": "-" if a is None else seed_list(r["seed"] for r in runs),
                       "evaluation tasks": "-" if a is None else f"{a['tasks']:,}",
                       "budget": budget_label(runs, tasks=False)}
    df = pd.DataFrame(rows).T
    extra = df.drop(columns=["combination", "kind", "minibatches", "final accuracy (%)"])
    stored = extra[df["final accuracy (%)"] != "not yet run"]  # what the stored curves share goes to the caption
    shared = {} if stored.empty else {c: stored[c].iloc[0] for c in stored.columns if stored[c].nunique() == 1}
    said = {PM_COLUMN: "± is the {}", "seeds": "seeds {}", "evaluation tasks": "{} test tasks per seed",
            "budget": "{}"}
    shared = {k: str(v).replace("std over", "standard deviation over") for k, v in shared.items()}
    caption = f"Final test accuracy of each combination (non-transductive evaluation; {ROWS_NAMED})" + (
        ": " + "; ".join(said[k].format(v) for k, v in shared.items()) if shared else "") + "."
    return Table(df.drop(columns=list(shared)), caption)


# -------------------------------------------------------------------------------------------------- claims


def _pct(a: dict) -> str:
    return f"{a['mean']:.2f}%" + (f" ± {a['spread']:.2f}" if a["seeds"] >= 2 else "")


def _estimate(runs: Sequence[dict], reading: str = "end") -> Estimate:
    """A curve's accuracy (%) in one reading (:data:`READINGS`) for the book's rule: over seeds, or for one seed over
    its tasks (the standard error behind the 95% interval that :data:`ACCURACY` gives it)."""
    a = ACCURACY[reading](runs)
    if a["seeds"] >= 2:
        return Estimate.of([float(v) for v in _per_seed(runs, reading)])
    return Estimate(a["mean"], se=a["spread"] / 1.96)


def _per_seed(runs: Sequence[dict], reading: str) -> list[float]:
    if reading == "end":
        return [100 * r["eval"]["non_transductive"]["accuracy"] for r in runs]
    return [float(v.mean()) for v in _curves(runs)[1]]


def _z(c: Comparison) -> str:
    return f"{c.difference:+.2f} points, z = {z_text(c.z)}" if np.isfinite(c.z) else f"{c.difference:+.2f} points"


# The paper states its claims about Figure 3's learning curves without saying at which point of training they are
# meant; each is judged in both readings: on the final evaluation, and on the mean over the learning curve's points.
READINGS = ("end", "curve")
READING_NAME = {"end": "at the end of training", "curve": "over the learning curve"}
# the front page's words for a reading: the second was added after the first one's verdicts were known
READING_ITEM = {"end": READING_NAME["end"], "curve": "over the learning curve (a second reading, added later)"}
ACCURACY = {"end": final_accuracy, "curve": curve_accuracy}
_WORDS = {"end": {"ends": "ends", "accuracy": "final accuracy", "reaches": "reaches"},
          "curve": {"ends": "lies, on average over its learning curve,", "accuracy": "mean accuracy over the learning "
                    "curve", "reaches": "averages"}}

CLAIMS = (  # (short name, the paper's words (paper Section 5.2), what is checked, in a reading's words)
    ("g1 alone is the worst",
     "using only the first gradient g1 is quite ineffective, since it amounts to optimizing the expected loss over "
     "all tasks", "every other curve {ends} above g1"),
    ("Two-step Reptile is worse than two-step first-order MAML",
     "two-step Reptile is noticeably worse than two-step FOMAML", "g2 {ends} above g1+g2"),
    ("Every method improves with more minibatches",
     "all the methods improve as the number of mini-batches increases",
     "each added minibatch raises the {accuracy} of the sum, the average and the last gradient, from g1 (one "
     "minibatch) to four: nine steps"),
    ("The sum gains more from more minibatches than the last gradient",
     "this improvement is more significant when using a sum of all gradients (Reptile) rather than using just the "
     "final gradient (FOMAML)",
     "with four minibatches the sum {ends} above the last gradient, and its lead over the last gradient is larger at "
     "four than at two"),
)


def claims(runs_by_curve: RunsByCurve, reading: str = "end") -> list[dict[str, Any]]:
    """The paper's four claims about Figure 3 (paper Section 5.2) in one reading (:data:`READINGS`: ``"end"``, the
    final evaluation; ``"curve"``, the mean over the learning curve), each judged by the book's rule
    (:func:`reptile.stats.compare`, "a exceeds b" over the seeds' standard errors): ``verdict`` is holds / does
    not hold / not resolved, or not yet run where a curve it needs has no stored runs; ``z`` is the deciding
    comparison's (the weakest part of a claim made of several), ``deciding`` the curves it compares and ``parts``
    how many comparisons the claim is made of; ``text`` gives our numbers."""
    if reading not in READINGS:
        raise ValueError(f"unknown reading {reading!r}; allowed: {', '.join(READINGS)}")
    words = _WORDS[reading]
    reaches = words["reaches"]
    acc = {c: ACCURACY[reading](_runs(runs_by_curve, c)) for c in CURVES}
    est = {c: _estimate(_runs(runs_by_curve, c), reading) for c in CURVES if acc[c] is not None}
    out = []

    def add(i: int, verdict: str, z: float | None, text: str, deciding: Sequence[str] = (), parts: int = 1) -> None:
        out.append({"claim": CLAIMS[i][0], "paper": CLAIMS[i][1], "checked": CLAIMS[i][2].format(**words),
                    "reading": reading, "verdict": verdict, "z": z, "text": text, "deciding": list(deciding),
                    "parts": parts})

    def not_yet(i: int, needed: Sequence[str]) -> bool:
        missing = [c for c in needed if acc.get(c) is None]
        if missing:
            add(i, NOT_YET_RUN, None, f"Not yet run: no stored runs of {', '.join(missing)}.")
        return bool(missing)

    def judged(parts: Sequence[tuple[str, Comparison, Sequence[str]]]) -> tuple[str, float, str, dict]:
        """The combined verdict, the deciding z, the parts that are not resolved or fail (in words), and the
        deciding comparison's curves and the number of parts, as keywords for ``add``."""
        verdict = combine([c.claim() for _, c, _ in parts])
        deciding = min(parts, key=lambda p: p[1].z)
        weak = [f"{name} ({_z(c)}, {c.claim()})" for name, c, _ in parts if c.claim() != HOLDS]
        return verdict, deciding[1].z, "; ".join(weak), {"deciding": deciding[2], "parts": len(parts)}

    # 1. g1 is the worst of all the curves
    if not not_yet(0, CURVES):
        parts = [(f"{combination(c)} over g1", compare(est[c], est["g1"]), ["g1", c]) for c in CURVES if c != "g1"]
        verdict, z, weak, deciding = judged(parts)
        lowest = min((c for c in CURVES if c != "g1"), key=lambda c: acc[c]["mean"])
        closest = deciding["deciding"][1]  # the comparison that sets the claim's z (its spread counts, not only its mean)
        add(0, verdict, z, f"{verdict.capitalize()}: g1 {reaches} {_pct(acc['g1'])}; the lowest of the other nine, "
                           f"{combination(lowest)}, {reaches} {_pct(acc[lowest])}; the comparison with the smallest z "
                           f"is {combination(closest)} ({_pct(acc[closest])}) over g1, "
                           f"{_z(compare(est[closest], est['g1']))}." + (f" Not resolved or failing: {weak}." if weak
                                                                         else ""), **deciding)

    # 2. two-step Reptile (sum2) below two-step first-order MAML (last2)
    if not not_yet(1, ["sum2", "last2"]):
        c = compare(est["last2"], est["sum2"])
        add(1, c.claim(), c.z, f"{c.claim().capitalize()}: g1+g2 {reaches} {_pct(acc['sum2'])} and g2 "
                               f"{_pct(acc['last2'])}; g2 minus g1+g2 is {_z(c)}.", deciding=["sum2", "last2"])

    # 3. every kind improves with each added minibatch, from g1 (k = 1) to k = 4
    if not not_yet(2, CURVES):
        seqs, parts = [], []
        for kind in ("sum", "avg", "last"):
            chain = ["g1"] + [f"{kind}{k}" for k in (2, 3, 4)]
            seqs.append(f"{KIND_NAME[kind]} " + " → ".join(f"{acc[c]['mean']:.2f}" for c in chain) + "%")
            parts += [(f"{KIND_NAME[kind]} from {kind_and_steps(a)[1]} to {kind_and_steps(b)[1]}",
                       compare(est[b], est[a]), [a, b]) for a, b in zip(chain, chain[1:])]
        verdict, z, weak, deciding = judged(parts)
        add(2, verdict, z, f"{verdict.capitalize()}: from 1 to 4 minibatches (1: g1), " + "; ".join(seqs) + "." +
            (f" Not resolved or failing: {weak}." if weak else ""), **deciding)

    # 4. at four minibatches the sum beats the last gradient, by more than at two
    if not not_yet(3, ["sum2", "last2", "sum4", "last4"]):
        lead4, lead2 = compare(est["sum4"], est["last4"]), compare(est["sum2"], est["last2"])
        gain = compare(Estimate(lead4.difference, se=lead4.se), Estimate(lead2.difference, se=lead2.se))
        verdict, z, weak, deciding = judged([("the sum over the last gradient at four", lead4, ["sum4", "last4"]),
                                             ("the lead at four over the lead at two", gain,
                                              ["sum2", "last2", "sum4", "last4"])])
        add(3, verdict, z, f"{verdict.capitalize()}: with four minibatches g1+g2+g3+g4 {reaches} {_pct(acc['sum4'])} "
                           f"and g4 {_pct(acc['last4'])} (sum minus last {_z(lead4)}); with two, g1+g2 "
                           f"{_pct(acc['sum2'])} and g2 {_pct(acc['last2'])} ({_z(lead2)}). The lead grows by "
                           f"{_z(gain)}." + (f" Not resolved or failing: {weak}." if weak else ""), **deciding)
    return out


def _curve_points(runs_by_curve: RunsByCurve) -> str:
    """How the learning curves were measured ("41 points, every 1,000 iterations, 200 test tasks each"), from the
    first stored curve; empty when nothing is stored."""
    stored = [c for c in CURVES if _runs(runs_by_curve, c)]
    if not stored:
        return ""
    runs = _runs(runs_by_curve, stored[0])
    cfg = runs[0]["config"]
    every = f", every {cfg['curve_every']:,} iterations" if "curve_every" in cfg else ""
    tasks = f", {cfg['curve_tasks']:,} test tasks each" if "curve_tasks" in cfg else ""
    return f"{curve_accuracy(runs)['points']} points{every}{tasks}"


def claims_markdown(runs_by_curve: RunsByCurve) -> str:
    """The claims as a Markdown list, each in both readings, headed by the budget the numbers rest on and closed by
    the claims on which the two readings disagree."""
    head = (f"Mean ± standard deviation over seeds ({overall_budget(runs_by_curve)}). *At the end of training* is the "
            f"final evaluation; *over the learning curve* is the mean of the curve's points "
            f"({_curve_points(runs_by_curve) or 'none stored'}, each with equal weight), about the area under the curve over "
            f"its length. "
            f"z is a difference over its standard error, and a claim holds at z ≥ {THRESHOLD:g} (the book's rule, "
            f"linked above). The paper quotes no numbers for Figure 3, so each claim is checked against ours only.")
    by = {r: claims(runs_by_curve, r) for r in READINGS}
    items = []
    for i, c in enumerate(by["end"]):
        items.append(f"{i + 1}. **{c['claim']}.** The paper: \"{c['paper']}\".")
        items += [f"   - {READING_NAME[r].capitalize()}: **{by[r][i]['verdict']}.** Checked: {by[r][i]['checked']}. "
                  f"{by[r][i]['text']}" for r in READINGS]
    judged = [i for i in range(len(CLAIMS)) if NOT_YET_RUN not in (by["end"][i]["verdict"], by["curve"][i]["verdict"])]
    differ = [i for i in judged if by["end"][i]["verdict"] != by["curve"][i]["verdict"]]
    if not judged:
        tail = ""
    elif not differ:
        tail = "The two readings give the same verdict on every claim judged."
    else:
        tail = "The two readings differ on " + "; ".join(
            f"claim {i + 1}, which {by['end'][i]['verdict']} at the end of training and "
            f"{by['curve'][i]['verdict']} over the learning curve" for i in differ) + "."
    return head + "\n\n" + "\n".join(items) + ("\n\n" + tail if tail else "")


def paper_checks(runs_by_curve: RunsByCurve) -> list[Check]:
    """The front page's rows for paper Figure 3: one per claim of paper Section 5.2 and reading (:data:`READINGS`),
    showing the curves of the comparison that sets the claim's z (the weakest, for a claim made of several)."""
    rows = []
    by = {r: claims(runs_by_curve, r) for r in READINGS}
    for i in range(len(CLAIMS)):
        for r in READINGS:
            c = by[r][i]
            a = {k: ACCURACY[r](_runs(runs_by_curve, k)) for k in c["deciding"]}
            if c["verdict"] == NOT_YET_RUN:
                ours = "-"
            else:
                shown = c["deciding"]
                ours = (f"smallest z of {c['parts']} comparisons: " if c["parts"] > 1 else "") + ", ".join(
                    f"{combination(k)} {_pct(a[k])}" for k in shown) + f" ({a[shown[0]]['seeds']} seeds)"
            rows.append(Check(
                item=f"paper Figure 3, claim {i + 1}, {READING_ITEM[r]}", claim=c["claim"],
                paper=f"\"{c['paper']}\"", ours=ours, z=c["z"], verdict=c["verdict"],
                where="gradient_combinations.ipynb#gradcomb-claims"))
    return rows
