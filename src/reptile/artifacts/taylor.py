"""Paper Section 4.1: the taylor chapter's figures, tables and verdict rows, rebuilt from stored runs of
:mod:`reptile.experiments.taylor` without recomputing anything: the errors of the leading-order expansion against
alpha, paper Eqs. 15-17 by Monte Carlo, the AvgGradInner identity and the k-step coefficients.

The checks are float64 computations at one point phi, not measurements over seeds: :func:`paper_checks` judges
each against a stated numerical tolerance (``SLOPE_TOL``, ``ROUNDOFF_TOL``, ``COEF_TOL``), except the AvgGradInner
identity in expectation, a Monte Carlo difference with its own standard error, which the book's rule judges."""

from __future__ import annotations

import math
from typing import Any, Sequence

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from .. import results as R
from ..stats import DIFFERS, NOT_YET_RUN, REPRODUCES, Estimate, compare
from ..taylor import METHODS
from .common import Check, Table, verdict_words
from .common import table_checks  # noqa: F401 (the chapter's checks: taylor.table_checks() in the notebook)

METHOD_LABELS = {"reptile": "Reptile", "maml": "MAML", "fomaml": "First-order MAML"}
METHOD_COLORS = {"reptile": "tab:green", "maml": "tab:blue", "fomaml": "tab:purple"}


def mid_index(alphas: Sequence[float], near: float = 1e-2) -> int:
    """Index of the alpha nearest ``near`` (log scale)."""
    return int(np.argmin(np.abs(np.log(np.asarray(alphas)) - math.log(near))))


def _short(m: str) -> str:
    return "FOMAML" if m == "fomaml" else METHOD_LABELS[m]


def _paper_form(c_grad: int, c_inner: int) -> str:
    g = "AvgGrad" if c_grad == 1 else f"{c_grad} AvgGrad"
    if c_inner == 0:
        return g
    return f"{g} - {'' if c_inner == 1 else c_inner}α AvgGradInner"


def run_summary(runs: Sequence[dict], seed: int | None = None) -> str:
    """A few short lines on what the chapter's numbers rest on."""
    r = R.pick_run(runs, seed)
    c = r["config"]
    return (f"taylor/{r['name']} seed {r['seed']} ({len(runs)} seed(s) stored)\n{c['n_alphas']} step sizes in "
            f"[{c['alpha_min']:g}, {c['alpha_max']:g}], {c['mc_samples']:,} draws for paper Eqs. 15-17\n"
            f"{c['k_samples']:,} draws for k = 1..{c['k_max']}, minibatches of {c['batch']}, float64")


def figure_errors(runs: Sequence[dict], seed: int | None = None):
    """Log-log: ``||exact - leading order||`` against alpha for Reptile (Eq 9 vs 10), MAML (Eq 11 vs 13) and
    first-order MAML (Eq 14), one panel per model, with the size of MAML's first-order term and an ``alpha^2``
    guide."""
    r = R.pick_run(runs, seed)
    ev = r["exact_vs_leading"]
    alphas = np.asarray(ev["alphas"])
    fig, axes = plt.subplots(1, len(ev["models"]), figsize=(10, 3.9))
    for ax, d in zip(np.atleast_1d(axes), ev["models"].values()):
        for m, style, ms in zip(METHODS, ("-o", "-s", "--^"), (8, 4, 4)):  # Reptile's errors equal FOMAML's (k = 2)
            ax.plot(alphas, d["errors"][m], style, color=METHOD_COLORS[m], ms=ms, mfc="none" if ms == 8 else None,
                    label=f"{METHOD_LABELS[m]} (slope {d['slopes'][m]:.2f})")
        ax.plot(alphas, d["first_order_term"], ":", color="gray", label=r"MAML's $\alpha$ term (slope 1)")
        guide = 0.3 * d["errors"]["fomaml"][0] * (alphas / alphas[0]) ** 2
        ax.plot(alphas, guide, color="black", lw=0.8, alpha=0.5, label=r"$\propto \alpha^2$")
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_xlabel(r"step size $\alpha$")
        ax.set_title(d["label"], fontsize=10)
        ax.legend(fontsize=7)
    np.atleast_1d(axes)[0].set_ylabel("||exact - leading order||")
    fig.tight_layout()
    return fig


def slopes_table(runs: Sequence[dict], seed: int | None = None) -> pd.DataFrame:
    """Fitted log-log slopes of ``||exact - leading order||`` (expected: 2), per model and method, and the relative
    difference between Eq 11 (Hessian-vector products) and automatic differentiation through the SGD step."""
    r = R.pick_run(runs, seed)
    rows = {}
    for d in r["exact_vs_leading"]["models"].values():
        row = {METHOD_LABELS[m]: f"{d['slopes'][m]:.3f}" for m in METHODS}
        row["parameters"] = str(d["n_params"])
        row["Eq 11 vs autograd"] = f"{d['maml_autograd_rel_diff']:.0e}"
        rows[d["label"]] = row
    df = pd.DataFrame(rows).T
    df.index.name = "slope of log error on log alpha"
    return df


def figure_expectation(runs: Sequence[dict], seed: int | None = None):
    """Left: ``||E[g] - (Eq 15/16/17)||`` against alpha with Monte Carlo standard errors, beside the size of the
    ``alpha AvgGradInner`` term (dotted, slope 1). Right: the coefficient of AvgGradInner fitted freely at each
    alpha, with standard errors, against the paper's 1 (Reptile, first-order MAML) and 2 (MAML)."""
    r = R.pick_run(runs, seed)
    e = r["expectation"]
    alphas = np.asarray(e["alphas"])
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(10, 3.9))
    shifts = {"reptile": 0.93, "maml": 1.0, "fomaml": 1.07}  # spread the markers so that error bars do not overlap
    for m in METHODS:
        o = e["methods"][m]
        ax1.errorbar(alphas * shifts[m], o["residual_norm"], yerr=o["residual_se"], fmt="o-", ms=3.5, capsize=2,
                     color=METHOD_COLORS[m], label=f"{METHOD_LABELS[m]} (slope {o['slope']:.2f})")
        ax1.plot(alphas, o["inner_term_norm"], ":", color=METHOD_COLORS[m], lw=1.2)
        ci = [f["c_inner"] for f in o["fit"]]
        se = [f["c_inner_se"] for f in o["fit"]]
        ax2.errorbar(alphas * shifts[m], ci, yerr=se, fmt="o", ms=3.5, capsize=2, color=METHOD_COLORS[m],
                     label=METHOD_LABELS[m])
        ax2.axhline(o["paper"][1], color=METHOD_COLORS[m], ls="--", lw=0.8)
    ax1.plot([], [], ":", color="gray", label=r"$\|c\,\alpha\,$AvgGradInner$\|$")
    ax1.set_xscale("log")
    ax1.set_yscale("log")
    ax1.set_xlabel(r"step size $\alpha$")
    ax1.set_ylabel("||E[g] - paper's form||")
    ax1.set_title(f"residual of paper Eqs. 15-17 ({e['n_samples']:,} draws, ± s.e.)", fontsize=10)
    ax1.legend(fontsize=7)
    ax2.set_xscale("log")
    ax2.set_xlabel(r"step size $\alpha$")
    ax2.set_ylabel(r"fitted coefficient of $-\alpha\,$AvgGradInner")
    ax2.set_title("AvgGradInner coefficient (dashed: the paper's)", fontsize=10)
    ax2.legend(fontsize=7)
    fig.tight_layout()
    return fig


def identity_table(runs: Sequence[dict], seed: int | None = None) -> pd.DataFrame:
    """``AvgGradInner = 1/2 E[d/dphi (L0' . L1')]``: per draw (exact) and in expectation (Monte Carlo)."""
    d = R.pick_run(runs, seed)["identity"]
    rows = [
        ("per draw, max over draws: ||∇(L0'·L1') - (L0''L1' + L1''L0')|| / ||∇(L0'·L1')||",
         f"{d['per_sample_max_rel_error']:.0e}"),
        ("||E[L0'' L1']||  (AvgGradInner)", f"{d['avg_grad_inner_norm']:.3f}"),
        ("||½ E[∇(L0'·L1')]||", f"{d['half_grad_dot_norm']:.3f}"),
        ("||E[L0'' L1'] - ½ E[∇(L0'·L1')]||", f"{d['mc_difference_norm']:.3f}"),
        ("its noise floor, sqrt(Σ s.e.²) over coordinates", f"{d['mc_noise_floor']:.3f}"),
        ("mean z² over coordinates (≈ 1 if zero within noise and the coordinates independent)",
         f"{d['mc_mean_z2']:.2f}"),
        ("z along AvgGradInner", f"{d['mc_z_along_avg_grad_inner']:.2f}"),
    ]
    df = pd.DataFrame(rows, columns=["quantity", "value"]).set_index("quantity")
    df.index.name = f"{d['n_samples']:,} draws"
    return df


def k_step_table(runs: Sequence[dict], seed: int | None = None) -> pd.DataFrame:
    """The k-step coefficients of AvgGrad and AvgGradInner: ``formula | fitted`` (fitted freely, taken to
    alpha -> 0 by ``coefficient_limit``), one row per k."""
    ks = R.pick_run(runs, seed)["k_steps"]
    rows = []
    for i, k in enumerate(ks["k"]):
        row: dict[str, Any] = {"k": k}
        for m in METHODS:
            f, fit = ks["formula"][m], ks["limit"][m]
            row[f"{_short(m)}: AvgGrad"] = f"{f['c_grad'][i]} | {fit['c_grad'][i]:.4f}"
            ci = fit["c_inner"][i]
            row[f"{_short(m)}: AvgGradInner"] = f"{f['c_inner'][i]} | " + ("-" if ci is None else f"{ci:.4f}")
        rows.append(row)
    df = pd.DataFrame(rows).set_index("k")
    df.columns.name = f"formula | fitted ({ks['n_samples']:,} draws)"
    return df


def k_step_slopes(runs: Sequence[dict], seed: int | None = None) -> pd.DataFrame:
    """Per draw, the log-log slope of ``||exact - leading order||`` for k minibatches (expected 2; for k = 1 the
    leading-order form is exact)."""
    ks = R.pick_run(runs, seed)["k_steps"]
    ps = ks["per_sample"]
    rows = {}
    for k in ks["k"]:
        rows[k] = {METHOD_LABELS[m]: ("exact" if str(k) not in ps["methods"][m]
                                      else f"{ps['methods'][m][str(k)]['slope']:.3f}") for m in METHODS}
    df = pd.DataFrame(rows).T
    df.index.name = f"k (α in [{ps['alphas'][0]:g}, {ps['alphas'][-1]:g}])"
    return df


def figure_k_steps(runs: Sequence[dict], seed: int | None = None):
    """Against k: the coefficient of ``-alpha AvgGradInner`` and its ratio to the coefficient of AvgGrad, formula
    (lines) and fitted (markers); and per draw, ``||exact - leading order||`` against alpha for each k (Reptile)."""
    ks = R.pick_run(runs, seed)["k_steps"]
    k = np.asarray(ks["k"])
    fig, (ax1, ax2, ax3) = plt.subplots(1, 3, figsize=(12, 3.6))
    for m, marker in zip(METHODS, ("o", "s", "^")):
        f, fit = ks["formula"][m], ks["limit"][m]
        ci = np.array([np.nan if v is None else v for v in fit["c_inner"]])
        ax1.plot(k, f["c_inner"], "-", color=METHOD_COLORS[m], lw=1)
        ax1.plot(k, ci, marker, ms=5, color=METHOD_COLORS[m], label=METHOD_LABELS[m])
        ax2.plot(k, np.asarray(f["c_inner"], float) / np.asarray(f["c_grad"], float), "-", color=METHOD_COLORS[m],
                 lw=1)
        ax2.plot(k, ci / np.asarray(fit["c_grad"]), marker, ms=5, color=METHOD_COLORS[m], label=METHOD_LABELS[m])
    ax1.set_title(r"coefficient of $-\alpha\,$AvgGradInner", fontsize=10)
    ax2.set_title("AvgGradInner coefficient / AvgGrad coefficient", fontsize=10)
    for ax in (ax1, ax2):
        ax.set_xlabel("k (minibatches per task)")
        ax.set_xticks(k)
        ax.legend(fontsize=8)
    ps = ks["per_sample"]
    alphas = np.asarray(ps["alphas"])
    for kk, errs in ps["methods"]["reptile"].items():
        ax3.plot(alphas, errs["errors"], "-o", ms=3, label=f"k = {kk} (slope {errs['slope']:.2f})")
    ax3.set_xscale("log")
    ax3.set_yscale("log")
    ax3.set_xlabel(r"step size $\alpha$")
    ax3.set_title("Reptile, one draw: ||exact - leading order||", fontsize=10)
    ax3.legend(fontsize=7)
    fig.tight_layout()
    return fig


def key_numbers(runs: Sequence[dict], seed: int | None = None) -> dict[str, str]:
    """The numbers the chapter's prose quotes, formatted, keyed by name (glued into the text)."""
    r = R.pick_run(runs, seed)
    cfg = r["config"]
    out: dict[str, str] = {"mlp_layers": " → ".join(["1", *map(str, cfg["hidden"]), "1"]),
                           "grid_points": str(cfg["grid_points"]), "batch": str(cfg["batch"]),
                           "logistic_dim": str(cfg["logistic_dim"]), "logistic_points": str(cfg["logistic_points"])}
    slopes = []
    for model, d in r["exact_vs_leading"]["models"].items():
        for m in METHODS:
            out[f"slope_{model}_{m}"] = f"{d['slopes'][m]:.3f}"  # three decimals, as the table
            slopes.append(d["slopes"][m])
        out[f"{model}_params"] = str(d["n_params"])
        out[f"{model}_maml_autograd"] = f"{d['maml_autograd_rel_diff']:.0e}"
        out[f"{model}_maml_remainder_ratio"] = f"{d['errors']['maml'][-1] / d['first_order_term'][-1]:.2f}"
    out["slope_min"], out["slope_max"] = f"{min(slopes):.3f}", f"{max(slopes):.3f}"
    e = r["expectation"]
    i = mid_index(e["alphas"])
    out.update(mc_samples=f"{e['n_samples']:,}", alpha_min=f"{e['alphas'][0]:g}", alpha_max=f"{e['alphas'][-1]:g}",
               alpha_mid=f"{e['alphas'][i]:.3g}", n_alphas=str(len(e["alphas"])),
               avg_grad_norm=f"{e['avg_grad_norm']:.3f}", avg_grad_inner_norm=f"{e['avg_grad_inner_norm']:.3f}")
    mc_slopes = []
    for m in METHODS:
        o = e["methods"][m]
        mc_slopes.append(o["slope"])
        out[f"mc_slope_{m}"] = f"{o['slope']:.2f}"
        out[f"mc_residual_{m}"] = f"{o['residual_norm'][i]:.1e}"
        out[f"mc_residual_se_{m}"] = f"{o['residual_se'][i]:.0e}"
        out[f"mc_inner_term_{m}"] = f"{o['inner_term_norm'][i]:.1e}"
        out[f"mc_naive_se_{m}"] = f"{o['naive_se'][i]:.1e}"
        out[f"mc_naive_se_min_{m}"] = f"{o['naive_se'][0]:.1e}"
        out[f"mc_inner_term_min_{m}"] = f"{o['inner_term_norm'][0]:.1e}"
        out[f"mc_cinner_min_{m}"] = f"{o['fit'][0]['c_inner']:.3f}"
        out[f"mc_cinner_limit_{m}"] = f"{o['fit_limit']['c_inner']:.5f}"
        out[f"mc_cgrad_min_{m}"] = f"{o['fit'][0]['c_grad']:.4f}"
    out["mc_slope_min"], out["mc_slope_max"] = f"{min(mc_slopes):.2f}", f"{max(mc_slopes):.2f}"
    for tag, near in (("01", 0.01), ("02", 0.02), ("03", 0.03)):  # where the leading-order picture fades
        j = mid_index(e["alphas"], near)
        out[f"alpha_{tag}"] = f"{e['alphas'][j]:.3g}"
        for m in METHODS:
            out[f"mc_cinner_{tag}_{m}"] = f"{e['methods'][m]['fit'][j]['c_inner']:.2f}"
            out[f"mc_cinner_se_{tag}_{m}"] = f"{e['methods'][m]['fit'][j]['c_inner_se']:.2f}"
    d = r["identity"]
    out.update(id_per_sample=f"{d['per_sample_max_rel_error']:.0e}", id_inner=f"{d['avg_grad_inner_norm']:.3f}",
               id_half=f"{d['half_grad_dot_norm']:.3f}", id_diff=f"{d['mc_difference_norm']:.3f}",
               id_floor=f"{d['mc_noise_floor']:.3f}", id_z2=f"{d['mc_mean_z2']:.2f}",
               id_z=f"{d['mc_z_along_avg_grad_inner']:.2f}",
               id_diff_ratio=f"{d['mc_difference_norm'] / d['mc_noise_floor']:.2f}")
    coords = r["exact_vs_leading"]["models"]["sine_mlp"]["n_params"]  # the identity is checked on the same sine MLP
    out.update(id_coords=str(coords), id_z2_spread=f"{math.sqrt(2 / coords):.2f}")
    ks = r["k_steps"]
    out.update(k_max=str(ks["k"][-1]), k_alpha=f"{ks['alpha']:g}", k_samples=f"{ks['n_samples']:,}",
               k_alpha_min=f"{ks['per_sample']['alphas'][0]:g}", k_alpha_max=f"{ks['per_sample']['alphas'][-1]:g}")
    for m in METHODS:
        out[f"k_cinner_{m}"] = f"{ks['limit'][m]['c_inner'][-1]:.4f}"
        out[f"k_formula_{m}"] = str(ks["formula"][m]["c_inner"][-1])
    k_slopes = [v["slope"] for m in METHODS for v in ks["per_sample"]["methods"][m].values()]
    out["k_slope_min"], out["k_slope_max"] = f"{min(k_slopes):.2f}", f"{max(k_slopes):.2f}"
    dev = [abs(ks["limit"][m][c][i] - ks["formula"][m][c][i]) / ks["formula"][m][c][i]
           for m in METHODS for c in ("c_grad", "c_inner") for i in range(len(ks["k"])) if ks["formula"][m][c][i]]
    out["k_max_rel_dev"] = f"{max(dev):.0e}"
    out["se_groups"] = str(r["config"]["se_groups"])
    cgrad_dev = max(abs(e["methods"][m]["fit"][0]["c_grad"] - e["methods"][m]["paper"][0]) for m in METHODS)
    out["mc_cgrad_dev_max"] = f"{cgrad_dev:.0e}"
    out["mc_cinner_limit_dev_max"] = (
        f"{max(abs(e['methods'][m]['fit_limit']['c_inner'] - e['methods'][m]['paper'][1]) for m in METHODS):.0e}")
    return out


# ------------------------------------------------------------------------------------- the chapter's tables


def _draws(n: int) -> str:
    return f"{n:,} draws"


def table_slopes(runs: Sequence[dict], seed: int | None = None) -> Table:
    """:func:`slopes_table` as the book shows it."""
    df = slopes_table(runs, seed).rename(columns={"Eq 11 vs autograd": "paper Eq. 11 vs autograd"})
    df.index.name = None
    r = R.pick_run(runs, seed)
    a = r["exact_vs_leading"]["alphas"]
    return Table(df, f"Slope of log ||exact - leading order|| on log α over {len(a)} step sizes α in "
                     f"[{a[0]:g}, {a[-1]:g}] (expected: 2), one row per model, one draw (a task and two minibatches), "
                     f"float64. Last column: the relative difference between MAML's gradient from paper Eq. 11 "
                     f"(Hessian-vector products) and automatic differentiation through the SGD step.")


def table_expectation(runs: Sequence[dict], seed: int | None = None, near_alpha: float = 1e-2) -> Table:
    """Paper Eqs. 15-17 in expectation, one column per method: the paper's form; the coefficients fitted freely (no
    formula assumed) at the smallest alpha and their limit alpha -> 0; at the alpha nearest ``near_alpha`` and at the
    smallest, the residual ``||E[g] - paper||`` beside the size of the ``alpha AvgGradInner`` term and the standard
    error a plain Monte Carlo estimate of E[g] would have (the prose quotes both step sizes); the residual's log-log
    slope. Every ± is a Monte Carlo standard error, as the caption says."""
    r = R.pick_run(runs, seed)
    e = r["expectation"]
    i = mid_index(e["alphas"], near_alpha)
    a0, al = e["alphas"][0], e["alphas"][i]
    cols = {}
    for m in METHODS:
        o = e["methods"][m]
        f0, lim = o["fit"][0], o["fit_limit"]
        cols[METHOD_LABELS[m]] = {
            "the paper's form": _paper_form(*o["paper"]),
            f"fitted AvgGrad coefficient, α = {a0:g}": f"{f0['c_grad']:.4f} ± {f0['c_grad_se']:.0e}",
            f"fitted AvgGradInner coefficient, α = {a0:g}": f"{f0['c_inner']:.3f} ± {f0['c_inner_se']:.0e}",
            "fitted AvgGradInner coefficient, α → 0": f"{lim['c_inner']:.5f} ± {lim['c_inner_se']:.0e}",
            f"||E[g] - paper's form||, α = {al:.3g}": f"{o['residual_norm'][i]:.2e} ± {o['residual_se'][i]:.0e}",
            f"||c α AvgGradInner||, α = {al:.3g}": f"{o['inner_term_norm'][i]:.2e}",
            f"plain Monte Carlo s.e. of E[g], α = {al:.3g}": f"{o['naive_se'][i]:.2e}",
            f"||c α AvgGradInner||, α = {a0:g}": f"{o['inner_term_norm'][0]:.2e}",
            f"plain Monte Carlo s.e. of E[g], α = {a0:g}": f"{o['naive_se'][0]:.2e}",
            "slope of log residual on log α": f"{o['slope']:.2f}",
        }
    se_groups = r["config"]["se_groups"]
    return Table(pd.DataFrame(cols), f"Paper Eqs. 15-17 by Monte Carlo over {_draws(e['n_samples'])} (a sine task "
                 f"and two minibatches each), one column per method. ± is a Monte Carlo standard error: of a fitted "
                 f"coefficient, the spread of the fits on {se_groups} groups of draws; of the residual, the spread "
                 f"of the draws along it. c: the paper's coefficient of α AvgGradInner.")


def table_identity(runs: Sequence[dict], seed: int | None = None) -> Table:
    """The AvgGradInner identity (:func:`identity_table`) as the book shows it."""
    d = R.pick_run(runs, seed)["identity"]
    df = identity_table(runs, seed).reset_index()
    df.columns = ["quantity", "value"]
    return Table(df, index=False, caption=f"AvgGradInner = ½ E[∇(L0'·L1')]: per draw (the product rule, exact up to "
                                          f"round-off) and in expectation (Monte Carlo over {_draws(d['n_samples'])}; "
                                          f"the test is z along AvgGradInner, the rows above it describe the whole "
                                          f"vector).")


def table_k_steps(runs: Sequence[dict], seed: int | None = None) -> Table:
    """The k-step coefficients (:func:`k_step_table`) as the book shows it: k as a column."""
    ks = R.pick_run(runs, seed)["k_steps"]
    df = k_step_table(runs, seed).reset_index()
    df.columns.name = None
    return Table(df, f"Coefficients of AvgGrad and of -α AvgGradInner in E[g] for k minibatches (rows), each cell "
                     f"'formula | fitted': fitted freely on {_draws(ks['n_samples'])} at α = {ks['alpha']:g} and "
                     f"{2 * ks['alpha']:g}, then taken to α → 0. '-': no AvgGradInner term for k = 1.", index=False)


def table_k_slopes(runs: Sequence[dict], seed: int | None = None) -> Table:
    """The per-draw k-step slopes (:func:`k_step_slopes`) as the book shows it: k as a column."""
    ps = R.pick_run(runs, seed)["k_steps"]["per_sample"]
    df = k_step_slopes(runs, seed)
    df.index.name = "k"
    df = df.reset_index()
    return Table(df, f"Slope of log ||exact - leading order|| on log α for k minibatches (rows), one draw, α in "
                     f"[{ps['alphas'][0]:g}, {ps['alphas'][-1]:g}] (expected: 2; for k = 1 the leading-order form is "
                     f"exact).", index=False)


# ------------------------------------------------------------------------------ the front page's verdict rows

SLOPE_TOL = 0.1  # a log-log slope "is 2" when it lies within 0.1 of 2
ROUNDOFF_TOL = 1e-12  # two float64 computations of one quantity agree when their relative difference is below this
COEF_TOL = 1e-3  # a fitted coefficient "is" the paper's when within this relative difference (α -> 0 or α_min)
EQ_OF = {"reptile": ("paper Eq. 10", "paper Eq. 15"), "maml": ("paper Eq. 13", "paper Eq. 16"),
         "fomaml": ("paper Eq. 14", "paper Eq. 17")}
LEADING_ORDER = {"reptile": "g_Reptile = L0' + L1' - α L1''L0' + O(α²)",
                 "maml": "g_MAML = L1' - α L1''L0' - α L0''L1' + O(α²)",
                 "fomaml": "g_FOMAML = L1' - α L1''L0' + O(α²)"}
EXPECTED = {"reptile": "E[g_Reptile] = 2 AvgGrad - α AvgGradInner + O(α²)",
            "maml": "E[g_MAML] = AvgGrad - 2α AvgGradInner + O(α²)",
            "fomaml": "E[g_FOMAML] = AvgGrad - α AvgGradInner + O(α²)"}


def _within(ok: bool) -> str:
    return REPRODUCES if ok else DIFFERS


def _keyed_checks(runs: Sequence[dict], seed: int | None = None) -> list[tuple[str, Check]]:
    r = R.pick_run(runs, seed) if runs else None
    rows: list[tuple[str, Check]] = []

    def add(key: str, judge, **fields) -> None:
        """``judge()`` gives (ours, z, verdict); with no runs the row says "not yet run"."""
        if r is None:
            rows.append((key, Check(ours="-", z=None, verdict=NOT_YET_RUN, **fields)))
        else:
            ours, z, verdict = judge()
            rows.append((key, Check(ours=f"{ours}; seed {r['seed']}, float64", z=z, verdict=verdict, **fields)))

    def leading(m: str):
        slopes = {d["label"]: d["slopes"][m] for d in r["exact_vs_leading"]["models"].values()}
        ok = all(abs(v - 2) <= SLOPE_TOL for v in slopes.values())
        return "slope " + ", ".join(f"{v:.3f} ({k})" for k, v in slopes.items()) + "; one draw", None, _within(ok)

    def autograd():
        diffs = {d["label"]: d["maml_autograd_rel_diff"] for d in r["exact_vs_leading"]["models"].values()}
        ours = "relative difference " + ", ".join(f"{v:.0e} ({k})" for k, v in diffs.items())
        return ours, None, _within(all(v <= ROUNDOFF_TOL for v in diffs.values()))

    def expectation(m: str):
        e = r["expectation"]
        o = e["methods"][m]
        c_grad, c_inner = o["paper"]
        fg, fi = o["fit"][0]["c_grad"], o["fit_limit"]["c_inner"]
        ok = (abs(o["slope"] - 2) <= SLOPE_TOL and abs(fg - c_grad) <= COEF_TOL * c_grad
              and abs(fi - c_inner) <= COEF_TOL * c_inner)
        return (f"slope {o['slope']:.2f}; fitted AvgGrad coefficient {fg:.4f} (α = {e['alphas'][0]:g}), AvgGradInner "
                f"{fi:.5f} (α → 0); {e['n_samples']:,} draws"), None, _within(ok)

    def per_draw():
        d = r["identity"]
        return (f"largest relative difference {d['per_sample_max_rel_error']:.0e} over {d['n_samples']:,} draws", None,
                _within(d["per_sample_max_rel_error"] <= ROUNDOFF_TOL))

    def in_expectation():
        # the Monte Carlo difference along AvgGradInner in units of its standard error (stored as a z): the book's rule
        d = r["identity"]
        c = compare(Estimate(d["mc_z_along_avg_grad_inner"], se=1.0), Estimate(0.0, se=0.0))
        return (f"the difference along AvgGradInner, in standard errors: {d['mc_z_along_avg_grad_inner']:+.1f} (its "
                f"norm {d['mc_difference_norm']:.3f}, noise floor {d['mc_noise_floor']:.3f}, mean z² over "
                f"coordinates {d['mc_mean_z2']:.2f}); {d['n_samples']:,} draws"), c.z, c.agreement()

    for m in METHODS:
        add(f"{m}_leading", lambda m=m: leading(m), item=EQ_OF[m][0],
            claim=f"{METHOD_LABELS[m]}'s exact gradient minus its leading-order form falls as α² (log-log slope within "
                  f"{SLOPE_TOL:g} of 2)",
            paper=LEADING_ORDER[m], where="taylor.ipynb#taylor-exact")
    add("maml_autograd", autograd, item="paper Eq. 11",
        claim=f"MAML's gradient (I - α L0'')L1'(φ1) equals automatic differentiation through the SGD step (relative "
              f"difference below {ROUNDOFF_TOL:.0e})",
        paper="g_MAML = (I - α L0''(φ0)) L1'(φ1)", where="taylor.ipynb#taylor-exact")
    for m in METHODS:
        add(f"{m}_expectation", lambda m=m: expectation(m), item=EQ_OF[m][1],
            claim=f"the residual of E[g_{_short(m)}] falls as α² (slope within {SLOPE_TOL:g} of 2) and the freely fitted "
                  f"coefficients are the paper's (within {COEF_TOL:g}, relative)",
            paper=EXPECTED[m], where="taylor.ipynb#taylor-expectation")
    add("identity_per_draw", per_draw, item="paper Section 4.1, AvgGradInner",
        claim=f"∇(L0'·L1') = L0''L1' + L1''L0' on every draw (relative difference below {ROUNDOFF_TOL:.0e})",
        paper="AvgGradInner = E[L0''L1'] = ½ E[∂/∂φ (L0'·L1')]", where="taylor.ipynb#taylor-identity")
    add("identity_mc", in_expectation, item="paper Section 4.1, AvgGradInner",
        claim="in expectation, E[L0''L1'] - ½ E[∇(L0'·L1')] is zero within its Monte Carlo error along "
              "AvgGradInner, the direction of the update term the identity rewrites (the whole vector's mean z² over "
              "coordinates is shown too; its coordinates are correlated, so 1 is only a rough reference for it)",
        paper="E[L0''L1'] = ½ E[L0''L1' + L1''L0'] (the minibatches are exchangeable)",
        where="taylor.ipynb#taylor-identity")
    return rows


def paper_checks(runs: Sequence[dict], seed: int | None = None) -> list[Check]:
    """The rows of the front page's verdict table for paper Section 4.1, from the stored run of ``seed`` (default:
    the first stored): paper Eqs. 10, 13, 14 (exact minus leading order falls as alpha², slope within ``SLOPE_TOL``
    of 2, both models), paper Eq. 11 against automatic differentiation (``ROUNDOFF_TOL``), paper Eqs. 15-17 in
    expectation (residual slope within ``SLOPE_TOL`` of 2 and the freely fitted coefficients within ``COEF_TOL`` of
    the paper's), and the AvgGradInner identity: per draw (``ROUNDOFF_TOL``; these verdicts are reproduces /
    differs, with no z), and in expectation (a Monte Carlo difference, judged by the book's rule). With no runs,
    every row says "not yet run"."""
    return [c for _, c in _keyed_checks(runs, seed)]


def verdict_numbers(runs: Sequence[dict], seed: int | None = None) -> dict[str, str]:
    """Each verdict as the prose quotes it, keyed ``check_<name>``, and the tolerances (glued into the text)."""
    out = {f"check_{k}": verdict_words(c) for k, c in _keyed_checks(runs, seed)}
    out.update(slope_tol=f"{SLOPE_TOL:g}", roundoff_tol=f"{ROUNDOFF_TOL:.0e}", coef_tol=f"{COEF_TOL:g}")
    return out


def chapter_runs(results_dir=None) -> list[dict]:
    """The runs this chapter shows with its default parameters (preset ``default``; the chapter shows seed 0, the
    first stored), for :func:`paper_checks` on the front page: ``paper_checks(chapter_runs())``."""
    from ..experiments.taylor import resolve
    from .common import stored_runs

    return stored_runs("taylor", resolve("default"), results_dir)
