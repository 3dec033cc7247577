"""Section 5.2, Figure 3 (inner-loop gradient combinations), rebuilt from stored runs of
:mod:`reptile.gradcomb_experiment` (or of the campaign) without re-running anything.

Every function takes ``runs_by_curve``, curve name (``g1``, ``sum2``, ..., ``last4``) -> that curve's stored records
(what :func:`reptile.gradcomb_experiment.load_or_run` and :func:`~reptile.gradcomb_experiment.stored` return); a curve
with no records is shown as not yet run. The paper gives no numbers for Figure 3 (:data:`reptile.paper.FIGURE3`), so
its claims are checked against our numbers only, and every sentence is computed from them.
"""

from __future__ import annotations

from typing import Any, Mapping, Sequence

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from ..config import FIGURE3_PRESETS
from ..gradcomb_experiment import CURVES
from .common import PM_COLUMN, seed_list, seed_spread
from .status import campaign_view  # noqa: F401  (the campaign's compact display, shared with the status page)

PAPER_OUTER_ITERS = FIGURE3_PRESETS["figure3-g1"].meta.outer_iters  # the authors' --meta-iters (40,000)
KIND_NAME = {"g1": "first gradient only", "sum": "sum (Reptile)", "avg": "average",
             "last": "last gradient (first-order MAML)"}
LINESTYLE = {"g1": "-", "sum": "-", "avg": "--", "last": ":"}
COLOUR = {1: "black", 2: "tab:blue", 3: "tab:orange", 4: "tab:green"}  # by the number of inner minibatches

RunsByCurve = Mapping[str, Sequence[dict]]


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


# ------------------------------------------------------------------------------------------------- figures


def figure3(runs_by_curve: RunsByCurve):
    """Figure 3 redrawn: test accuracy against outer iteration, the mean over seeds with a band from the lowest to
    the highest seed. Line style by kind (solid: sum, dashed: average, dotted: last gradient; ``g1`` solid black),
    colour by the number of inner minibatches."""
    fig, ax = plt.subplots(figsize=(9.5, 4.8))
    shown = 0
    for curve in CURVES:
        runs = _runs(runs_by_curve, curve)
        if not runs:
            continue
        kind, k = kind_and_steps(curve)
        n = min(len(r["curve"]["iteration"]) for r in runs)
        its = np.asarray(runs[0]["curve"]["iteration"][:n])
        vals = 100 * np.array([r["curve"]["test_accuracy"][:n] for r in runs])
        lw = 2.2 if kind == "sum" else 1.6
        ax.plot(its, vals.mean(0), LINESTYLE[kind], color=COLOUR[k], lw=lw, label=_tex(curve))
        if len(runs) >= 2:
            ax.fill_between(its, vals.min(0), vals.max(0), color=COLOUR[k], alpha=0.08, lw=0)
        shown += 1
    ax.set_xlabel("outer iteration")
    ax.set_ylabel("test accuracy (%)")
    ax.set_title("5-shot 5-way Omniglot, " + overall_budget(runs_by_curve, tasks=False), fontsize=10)
    if shown:
        ax.legend(fontsize=8, title="mean over seeds\n(band: lowest to highest seed)", title_fontsize=8,
                  loc="upper left", bbox_to_anchor=(1.01, 1.0))
    else:
        ax.text(0.5, 0.5, "not yet run", ha="center", va="center", transform=ax.transAxes)
    ax.grid(alpha=0.3)
    fig.tight_layout()
    return fig


def accuracy_by_minibatches(runs_by_curve: RunsByCurve):
    """Final accuracy against the number of inner minibatches k for the sums, averages and last gradients, each
    starting from ``g1`` (k = 1, where the three coincide); error bars: the spread over seeds."""
    fig, ax = plt.subplots(figsize=(5.2, 3.6))
    g1 = final_accuracy(_runs(runs_by_curve, "g1"))
    shown = 0
    for kind, colour, dx in (("sum", "tab:red", -0.06), ("avg", "tab:purple", 0.0), ("last", "tab:gray", 0.06)):
        pts = [(1, g1)] + [(k, final_accuracy(_runs(runs_by_curve, f"{kind}{k}"))) for k in (2, 3, 4)]
        pts = [(k, a) for k, a in pts if a is not None]
        if not pts:
            continue
        ax.errorbar([k + dx for k, _ in pts], [a["mean"] for _, a in pts], yerr=[a["spread"] for _, a in pts],
                    fmt="o" + LINESTYLE[kind], color=colour, capsize=3, label=KIND_NAME[kind])
        shown += 1
    ax.set_xticks([1, 2, 3, 4])
    ax.set_xlabel("inner minibatches k")
    ax.set_ylabel("final test accuracy (%)")
    if shown:
        ax.legend(fontsize=8)
    else:
        ax.text(0.5, 0.5, "not yet run", ha="center", va="center", transform=ax.transAxes)
    ax.grid(alpha=0.3)
    fig.tight_layout()
    return fig


# --------------------------------------------------------------------------------------------------- table


def settings_table(configs: Mapping[str, Any]) -> pd.DataFrame:
    """The setting of each curve, read from its configuration (curve -> :class:`reptile.config.FewShotConfig`,
    :func:`reptile.gradcomb_experiment.configs`): what the outer update moves along, the inner loop, the outer step,
    the budget and the evaluation."""
    rows = {}
    for curve, cfg in configs.items():
        m = cfg.meta
        rows[curve] = {"outer update along": combination(curve), "inner SGD steps": m.inner_iters,
                       "training shots": cfg.train_shots, "inner batch": m.inner_batch,
                       "inner step (summed loss)": f"{m.inner_lr:g}",
                       "outer step": f"{m.outer_step:g}" + (" → 0" if m.anneal else ""),
                       "outer iterations": f"{m.outer_iters:,}",
                       "curve: every / tasks": f"{cfg.curve_every:,} / {cfg.curve_tasks:,}",
                       "evaluation": f"{cfg.eval_iters} steps of {cfg.eval_batch}, {cfg.eval_tasks:,} tasks"}
    df = pd.DataFrame(rows).T
    df.index.name = "curve"
    return df



def final_table(runs_by_curve: RunsByCurve) -> pd.DataFrame:
    """One row per curve of Figure 3: its combination, kind and number of minibatches, the final accuracy as
    mean ± spread (the column '± is' says which), the seeds, the evaluation tasks per seed and the budget."""
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
                       "budget": budget_label(runs)}
    df = pd.DataFrame(rows).T
    df.index.name = "curve"
    return df


# -------------------------------------------------------------------------------------------------- claims


def _pct(a: dict) -> str:
    return f"{a['mean']:.2f}%" + (f" ± {a['spread']:.2f}" if a["seeds"] >= 2 else "")


def _resolved(a: dict, b: dict) -> str:
    """Whether the difference of two curves' means exceeds the spread across seeds of both."""
    d = round(abs(a["mean"] - b["mean"]), 2)
    if a["seeds"] < 2 or b["seeds"] < 2:
        return "with a single seed for at least one of them, there is no spread across seeds to compare it with"
    if d > max(a["spread"], b["spread"]):
        return "larger than the standard deviation over seeds of either"
    return f"within the standard deviation over seeds ({a['spread']:.2f}, {b['spread']:.2f}), so not resolved by " \
           f"{min(a['seeds'], b['seeds'])} seeds"


def _missing(acc: dict[str, dict | None], needed: Sequence[str]) -> list[str]:
    return [c for c in needed if acc.get(c) is None]


CLAIMS = (  # (short name, the paper's words (Section 5.2), what is checked)
    ("g1 alone is the worst",
     "using only the first gradient g1 is quite ineffective, since it amounts to optimizing the expected loss over "
     "all tasks", "g1's final accuracy is below every other curve's"),
    ("Two-step Reptile is worse than two-step first-order MAML",
     "two-step Reptile is noticeably worse than two-step FOMAML", "g1+g2 ends below g2"),
    ("Every method improves with more minibatches",
     "all the methods improve as the number of mini-batches increases",
     "each added minibatch raises the final accuracy of the sum, the average and the last gradient, from g1 (one "
     "minibatch) to four"),
    ("The sum gains more from more minibatches than the last gradient",
     "this improvement is more significant when using a sum of all gradients (Reptile) rather than using just the "
     "final gradient (FOMAML)",
     "with four minibatches the sum beats the last gradient, and its lead is larger than with two (so from two to "
     "four minibatches the sum gains more than the last gradient)"),
)


def claims(runs_by_curve: RunsByCurve) -> list[dict[str, Any]]:
    """The paper's four claims about Figure 3 (Section 5.2), each with ``holds`` (True, False, or None where a
    curve it needs has no stored runs) and a sentence with our numbers: final accuracies, mean ± standard
    deviation over seeds."""
    # compared as shown, to 0.01 points: a sentence never calls two equal-looking numbers different
    acc = {c: final_accuracy(_runs(runs_by_curve, c)) for c in CURVES}
    acc = {c: a and {**a, "mean": round(a["mean"], 2), "spread": round(a["spread"], 2)} for c, a in acc.items()}
    out = []

    def add(i: int, holds: bool | None, text: str) -> None:
        out.append({"claim": CLAIMS[i][0], "paper": CLAIMS[i][1], "checked": CLAIMS[i][2], "holds": holds,
                    "text": text})

    def not_yet(i: int, needed: Sequence[str]) -> bool:
        missing = _missing(acc, needed)
        if missing:
            add(i, None, f"Cannot be checked yet: no stored runs of {', '.join(missing)}.")
        return bool(missing)

    # 1. g1 is the worst of all the curves
    others = [c for c in CURVES if c != "g1" and acc[c] is not None]
    if not not_yet(0, ["g1"]):
        g1 = acc["g1"]
        below = [c for c in others if acc[c]["mean"] <= g1["mean"]]
        incomplete = f" (of the {len(others) + 1} curves stored)" if len(others) + 1 < len(CURVES) else ""
        if not others:
            add(0, None, "Cannot be checked yet: no stored runs of any other curve.")
        elif not below:
            lowest = min(others, key=lambda c: acc[c]["mean"])
            add(0, True, f"Holds{incomplete}: g1 reaches {_pct(g1)}, below every other curve; the next lowest, "
                         f"{combination(lowest)}, reaches {_pct(acc[lowest])}, a difference of "
                         f"{acc[lowest]['mean'] - g1['mean']:.2f} points, {_resolved(g1, acc[lowest])}.")
        else:
            listed = ", ".join(f"{combination(c)} ({_pct(acc[c])})" for c in below)
            add(0, False, f"Does not hold{incomplete}: g1 reaches {_pct(g1)}, and {listed} "
                          f"{'does' if len(below) == 1 else 'do'} not exceed it.")

    # 2. two-step Reptile (sum2) below two-step first-order MAML (last2)
    if not not_yet(1, ["sum2", "last2"]):
        r, f = acc["sum2"], acc["last2"]
        d = round(f["mean"] - r["mean"], 2)
        holds = d > 0
        side = "below" if holds else ("level with" if d == 0 else "above")
        add(1, holds, f"{'Holds' if holds else 'Does not hold'}: g1+g2 reaches {_pct(r)} and g2 {_pct(f)}; two-step "
                      f"Reptile is {abs(d):.2f} points {side} two-step first-order MAML, a difference "
                      f"{_resolved(r, f)}.")

    # 3. every kind improves with each added minibatch, from g1 (k = 1) to k = 4
    if not not_yet(2, CURVES):
        seqs, falls = [], []
        for kind in ("sum", "avg", "last"):
            chain = ["g1"] + [f"{kind}{k}" for k in (2, 3, 4)]
            seqs.append(f"{KIND_NAME[kind]} " + " → ".join(f"{acc[c]['mean']:.2f}" for c in chain) + "%")
            falls += [f"{KIND_NAME[kind]} from {kind_and_steps(a)[1]} to {kind_and_steps(b)[1]} minibatches "
                      f"({acc[a]['mean']:.2f}% to {acc[b]['mean']:.2f}%)"
                      for a, b in zip(chain, chain[1:]) if not acc[b]["mean"] > acc[a]["mean"]]
        if not falls:
            add(2, True, "Holds: from 1 to 4 minibatches (1: g1), " + "; ".join(seqs) + ".")
        else:
            add(2, False, "Does not hold: no gain for the " + "; the ".join(falls) + ". From 1 to 4 minibatches "
                          "(1: g1), " + "; ".join(seqs) + ".")

    # 4. at four minibatches the sum beats the last gradient, by more than at two
    if not not_yet(3, ["sum2", "last2", "sum4", "last4"]):
        gap4 = round(acc["sum4"]["mean"] - acc["last4"]["mean"], 2)
        gap2 = round(acc["sum2"]["mean"] - acc["last2"]["mean"], 2)
        holds = gap4 > 0 and gap4 > gap2
        why = [] if holds else (["the sum does not beat the last gradient at four"] if gap4 <= 0 else []) + \
            (["its lead at four is not larger than at two"] if gap4 <= gap2 else [])
        add(3, holds, f"{'Holds' if holds else 'Does not hold (' + ' and '.join(why) + ')'}: with four minibatches "
                      f"g1+g2+g3+g4 reaches {_pct(acc['sum4'])} and g4 {_pct(acc['last4'])} (sum minus last "
                      f"{gap4:+.2f} points, {_resolved(acc['sum4'], acc['last4'])}); with two, g1+g2 "
                      f"{_pct(acc['sum2'])} and g2 {_pct(acc['last2'])} ({gap2:+.2f} points). From two to four "
                      f"minibatches the sum gains {acc['sum4']['mean'] - acc['sum2']['mean']:+.2f} points, the last "
                      f"gradient {acc['last4']['mean'] - acc['last2']['mean']:+.2f}.")
    return out


def claims_markdown(runs_by_curve: RunsByCurve) -> str:
    """The claims as a Markdown list, headed by the budget the numbers rest on."""
    head = (f"Final test accuracy, mean ± standard deviation over seeds ({overall_budget(runs_by_curve)}). "
            f"The paper quotes no numbers for Figure 3, so each claim is checked against ours only.")
    items = [f"{i}. **{c['claim']}.** The paper: \"{c['paper']}\". Checked: {c['checked']}. {c['text']}"
             for i, c in enumerate(claims(runs_by_curve), start=1)]
    return head + "\n\n" + "\n".join(items)


# ------------------------------------------------------------------------------------------------ campaign


def campaign_table(results_dir=None) -> pd.DataFrame:
    """The campaign's rows for Figure 3's paper-budget curves (:func:`reptile.campaign.progress`)."""
    from .status import campaign_table as table

    return table(results_dir, "gradcomb")


def campaign_summary(table: pd.DataFrame, preset_prefix: str = "reduced-figure3") -> str:
    """One sentence on where the paper-budget curves stand, from :func:`campaign_table`'s rows, and what the
    chapter (showing the presets ``<preset_prefix>-*``) shows meanwhile."""
    n = len(table)
    if n == 0:
        return "The campaign plans no paper-budget runs of Figure 3."
    states = table["state"].tolist()
    done_iters, total_iters = 0, 0
    for cell in table["outer iterations"]:
        a, b = (int(x.replace(",", "")) for x in str(cell).split("/"))
        done_iters, total_iters = done_iters + a, total_iters + b
    counts = {s: states.count(s) for s in ("done", "evaluating", "training", "not started")}
    seeds = sorted({len(str(s).split()) for s in table["seeds"]})
    what = ", ".join(f"{v} {k}" for k, v in counts.items() if v)
    sentence = (f"Of the {n} paper-budget curves ({'/'.join(map(str, seeds))} seeds each, "
                f"{total_iters // n:,} outer iterations), {what}; {done_iters:,} of {total_iters:,} outer iterations "
                f"are trained.")
    paper = preset_prefix == "figure3"
    if counts["done"] == n:
        return sentence + (" All are in, and this chapter shows them." if paper else
                           " All are in: preset_prefix = \"figure3\" shows them.")
    return sentence + (" This chapter shows the paper-budget curves stored so far." if paper else
                       " Until all are in, this chapter shows the reduced runs.")
