"""Paper Section 4.2 and paper Figure 2: the manifolds chapter's figures, tables and verdict rows, rebuilt from
stored runs of :mod:`reptile.experiments.manifolds` without recomputing anything: Reptile's iterates among the
solution manifolds, the fixed points of k-step Reptile, and the distances to the two reference points ``phi_D``
(paper Eq. 18's minimiser) and ``phi_L`` (the expected loss's)."""

from __future__ import annotations

from typing import Sequence

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from .. import results as R
from ..stats import DIFFERS, DOES_NOT_HOLD, HOLDS, NOT_YET_RUN, REPRODUCES, Estimate, combine, compare
from ..validate import check
from .common import Check, Table, require_runs, verdict_words
from .common import table_checks  # noqa: F401 (the chapter's checks: manifolds.table_checks() in the notebook)

TINY = 1e-6  # distances below this are shown as "< 1e-6" (their exact value is rounding, machine-dependent)
VARIANT_COLORS = {"exact": "tab:orange", "partial": "tab:blue"}
TASK_COLORS = ("tab:green", "tab:purple", "tab:brown", "tab:pink", "tab:olive", "tab:cyan")


def _check_runs(runs: Sequence[dict]) -> None:
    require_runs(runs, "load_or_run")


def _fmt(x: float, digits: int = 4) -> str:
    return f"< {TINY:.0e}" if abs(x) < TINY else f"{x:.{digits}f}"


def run_summary(runs: Sequence[dict]) -> str:
    """A few short lines on what the numbers rest on."""
    _check_runs(runs)
    c = runs[0]["config"]
    fams = ", ".join(f"{f} ({v['n_tasks']} tasks in R^{v['dim']})" for f, v in runs[0]["families"].items())
    return (f"manifolds/{runs[0]['name']}: {len(runs)} seed(s) {[r['seed'] for r in runs]}\n{fams}\nalpha = "
            f"{c['inner_lr']}, serial: T = {c['outer_iters']:,}, k = {c['inner_iters']}, eps_t = {c['outer_step']} * "
            f"{c['outer_decay']:g} / ({c['outer_decay']:g} + t)\nk table: {c['k_values']}")


def _draw_manifolds(ax, family: str, fam: dict, lim: tuple[float, float, float, float]) -> None:
    t = fam["tasks"]
    x0, x1, y0, y1 = lim
    if family == "lines":
        span = 2 * max(x1 - x0, y1 - y0)
        for i, (n, c, s) in enumerate(zip(t["normals"], t["offsets"], t["scales"])):
            n = np.asarray(n)
            p, d = c * n, np.array([-n[1], n[0]])
            pts = p + np.linspace(-span, span, 2)[:, None] * d
            ax.plot(pts[:, 0], pts[:, 1], color=TASK_COLORS[i % 6], lw=2.2, alpha=0.8,
                    label=f"$\\mathcal{{W}}^*_{i + 1}$ ($s = {s:g}$)")
    else:
        th = np.linspace(0, 2 * np.pi, 300)
        for i, (c, r, s) in enumerate(zip(t["centres"], t["radii"], t["scales"])):
            ax.plot(c[0] + r * np.cos(th), c[1] + r * np.sin(th), color=TASK_COLORS[i % 6], lw=2.2, alpha=0.8,
                    label=f"$\\mathcal{{W}}^*_{i + 1}$ ($s = {s:g}$)")


def _limits(family: str, fam: dict, margin: float = 0.45) -> tuple[float, float, float, float]:
    pts = [fam["start"], fam["phi_D"], fam["phi_L"]]
    if family == "circles":
        for c, r in zip(fam["tasks"]["centres"], fam["tasks"]["radii"]):
            pts += [[c[0] - r, c[1] - r], [c[0] + r, c[1] + r]]
    else:  # the paths and the corners where two lines cross
        pts += fam["serial"]["exact"] + fam["serial"]["partial"]
        n, c = np.asarray(fam["tasks"]["normals"]), np.asarray(fam["tasks"]["offsets"])
        for i in range(len(n)):
            for j in range(i + 1, len(n)):
                if abs(np.linalg.det(n[[i, j]])) > 1e-9:
                    pts.append(np.linalg.solve(n[[i, j]], c[[i, j]]).tolist())
    a = np.asarray(pts)
    lo, hi = a.min(0) - margin, a.max(0) + margin
    return lo[0], hi[0], lo[1], hi[1]


def _panel(ax, family: str, fam: dict, early: int = 25) -> None:
    lim = _limits(family, fam)
    _draw_manifolds(ax, family, fam, lim)
    k = fam["serial"]["k"]
    its = fam["serial"]["iterations"]
    n_early = sum(1 for i in its if i <= early)
    for variant, label in (("exact", "Reptile, exact projection $W^*_\\tau(\\phi)$"),
                           ("partial", f"Reptile, $k = {k}$ SGD steps")):
        p = np.asarray(fam["serial"][variant])
        col = VARIANT_COLORS[variant]
        ax.plot(p[:n_early, 0], p[:n_early, 1], "-o", color=col, ms=3.5, lw=1.1, alpha=0.9, label=label)
        ax.plot(p[n_early - 1:, 0], p[n_early - 1:, 1], "-", color=col, lw=0.8, alpha=0.6)
    fp = sorted(((int(kk), v) for kk, v in fam["fixed_points"].items()), key=lambda kv: kv[0])
    fpa = np.asarray([v for _, v in fp] + [fam["phi_D"]])
    ax.plot(fpa[:, 0], fpa[:, 1], ":", color="0.35", lw=1.4, zorder=4,
            label="fixed points of $k$-step Reptile, $k = 1 \\to \\infty$")
    span = max(lim[1] - lim[0], lim[3] - lim[2])
    for kk, v in fp:  # label k = 5 and k = 20 where they stand clear of the two reference points
        clear = min(np.linalg.norm(np.subtract(v, fam["phi_D"])), np.linalg.norm(np.subtract(v, fam["phi_L"])))
        if kk in (5, 20) and clear > 0.03 * span:
            ax.plot(*v, "s", color="0.35", ms=4, zorder=5)
            off, ha = ((7, -3), "left") if family == "lines" else ((0, -14), "center")
            ax.annotate(f"$k={kk}$", v, textcoords="offset points", xytext=off, ha=ha, fontsize=8, color="0.25")
    ax.plot(*fam["start"], "o", color="black", ms=7, mfc="white", zorder=6, label="$\\phi_0$")
    ax.plot(*fam["phi_L"], "X", color="tab:red", ms=12, mec="white", zorder=7,
            label="argmin $E_\\tau[L_\\tau]$ (= $k = 1$ fixed point)")
    ax.plot(*fam["phi_D"], "*", color="black", ms=17, mec="white", zorder=7,
            label="argmin $E_\\tau[\\frac{1}{2}D(\\phi, W^*_\\tau)^2]$ (paper Eq. 18)")
    ax.set_xlim(lim[0], lim[1])
    ax.set_ylim(lim[2], lim[3])
    ax.set_aspect("equal")
    ax.set_xlabel("$\\phi_1$")
    ax.set_ylabel("$\\phi_2$")


def figure2(runs: Sequence[dict], seed: int | None = None):
    """Paper Figure 2 redrawn: the iterates of serial Reptile (one task drawn uniformly per iteration) moving towards the solution
    manifolds and converging near the point of Equation 18, for the lines and the circles. Both variants share the
    task sequence; the first iterates are dotted, the rest of the path is a thin line."""
    run = R.pick_run(runs, seed)
    fams = [f for f in ("lines", "circles") if f in run["families"]]
    check(len(fams) > 0, "figure2 needs a 2-D family (lines or circles) in the runs")
    fig, axes = plt.subplots(1, len(fams), figsize=(6.2 * len(fams), 6.0), squeeze=False)
    for ax, f, tag in zip(axes[0], fams, "ab"):
        _panel(ax, f, run["families"][f])
        ax.set_title(f"({tag}) {run['families'][f]['n_tasks']} {f}", fontsize=11)
    handles: dict = {}
    for ax in axes[0]:
        for h, lab in zip(*ax.get_legend_handles_labels()):
            if not lab.startswith("$W^*"):
                handles.setdefault(lab, h)
        ax.legend([h for h, lab in zip(*ax.get_legend_handles_labels()) if lab.startswith("$W^*")],
                  [lab for lab in ax.get_legend_handles_labels()[1] if lab.startswith("$W^*")],
                  loc="upper right", fontsize=8, framealpha=0.9)
    fig.legend(list(handles.values()), list(handles), loc="lower center", ncol=2, fontsize=9, frameon=False)
    fig.tight_layout(rect=(0, 0.14, 1, 1))
    return fig


def convergence_figure(runs: Sequence[dict]):
    """Distance of the serial iterates to the point of Equation 18 (exact projection) and to the k-step fixed point
    (partial minimisation) against the iteration, one line per seed, for every family. The dotted line is the bias
    of k-step Reptile, ``||phi_k - phi_D||``: the partial-minimisation iterates settle there, not at ``phi_D``."""
    _check_runs(runs)
    fams = list(runs[0]["families"])
    fig, axes = plt.subplots(1, len(fams), figsize=(4.6 * len(fams), 3.8), squeeze=False, sharey=True)
    for ax, f in zip(axes[0], fams):
        for j, r in enumerate(runs):
            fam = r["families"][f]
            k = fam["serial"]["k"]
            its = np.asarray(fam["serial"]["iterations"])
            its = np.maximum(its, 0.7)  # iteration 0 at the left edge of the log axis
            d_ref = np.asarray(fam["phi_D"])
            d_k = np.asarray(fam["fixed_points"][str(k)])
            ex = np.linalg.norm(np.asarray(fam["serial"]["exact"]) - d_ref, axis=1)
            pa_k = np.linalg.norm(np.asarray(fam["serial"]["partial"]) - d_k, axis=1)
            pa_d = np.linalg.norm(np.asarray(fam["serial"]["partial"]) - d_ref, axis=1)
            first = j == 0
            ax.plot(its, ex, color=VARIANT_COLORS["exact"], lw=1,
                    label="exact: $\\|\\phi_t - \\phi_D\\|$" if first else None)
            ax.plot(its, pa_k, color=VARIANT_COLORS["partial"], lw=1,
                    label=f"$k = {k}$: $\\|\\phi_t - \\phi^*_k\\|$" if first else None)
            ax.plot(its, pa_d, color=VARIANT_COLORS["partial"], lw=1, ls="--",
                    label=f"$k = {k}$: $\\|\\phi_t - \\phi_D\\|$" if first else None)
        fam = runs[0]["families"][f]
        phi_k = np.asarray(fam["fixed_points"][str(fam["serial"]["k"])])
        bias = float(np.linalg.norm(phi_k - np.asarray(fam["phi_D"])))
        ax.axhline(bias, color="0.3", ls=":", lw=1.2, label="$\\|\\phi^*_k - \\phi_D\\|$")
        ax.axhline(fam["gap"], color="tab:red", ls=":", lw=1.2, label="$\\|\\phi_L - \\phi_D\\|$")
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_title(f"{f} ({fam['n_tasks']} tasks in $R^{{{fam['dim']}}}$)", fontsize=10)
        ax.set_xlabel("outer iteration $t$")
    axes[0][0].set_ylabel("distance")
    axes[0][-1].legend(fontsize=7.5, loc="lower left")
    fig.tight_layout()
    return fig


def fixed_point_figure(runs: Sequence[dict]):
    """Where k-step Reptile converges, as k grows: ``||phi_k - phi_D||`` and ``||phi_k - phi_L||`` relative to
    ``||phi_L - phi_D||`` (closed form, lines), and batched Reptile through MetaLearner (markers)."""
    run = R.pick_run(runs, None)
    fig, ax = plt.subplots(figsize=(6.4, 3.8))
    for j, (f, fam) in enumerate(run["families"].items()):
        col = ("tab:green", "tab:purple", "tab:brown")[j % 3]
        phi_D, phi_L, gap = np.asarray(fam["phi_D"]), np.asarray(fam["phi_L"]), fam["gap"]
        ks = sorted(int(k) for k in fam["fixed_points"])
        fp = np.asarray([fam["fixed_points"][str(k)] for k in ks])
        ax.plot(ks, np.linalg.norm(fp - phi_D, axis=1) / gap, color=col, label=f"{f}: $\\|\\phi^*_k - \\phi_D\\|$")
        ax.plot(ks, np.linalg.norm(fp - phi_L, axis=1) / gap, color=col, ls="--",
                label=f"{f}: $\\|\\phi^*_k - \\phi_L\\|$")
        bk = sorted(int(k) for k in fam["batched"]["partial"])
        bp = np.asarray([fam["batched"]["partial"][str(k)]["phi"] for k in bk])
        ax.plot(bk, np.linalg.norm(bp - phi_D, axis=1) / gap, "o", color=col, mfc="none", ms=7)
    ax.plot([], [], "o", color="0.3", mfc="none", label="batched Reptile (paper Algorithm 2), $k$ steps")
    ax.set_xscale("log")
    ax.set_xlabel("inner SGD steps $k$")
    ax.set_ylabel("distance / $\\|\\phi_L - \\phi_D\\|$")
    ax.set_ylim(-0.03, 1.05)
    ax.legend(fontsize=7.5, loc="center right")
    fig.tight_layout()
    return fig


def _serial_mean(runs: Sequence[dict], family: str, variant: str, key: str) -> float:
    return float(np.mean([r["families"][family]["serial"]["final"][variant][key] for r in runs]))


def distance_table(runs: Sequence[dict]) -> pd.DataFrame:
    """Distances from where each variant ends to the two reference points: ``phi_D`` (Equation 18's minimiser) and
    ``phi_L`` (the expected loss's). Serial rows are means over the seeds; batched rows are deterministic."""
    _check_runs(runs)
    rows = []
    for f, fam in runs[0]["families"].items():
        k = fam["serial"]["k"]
        bk = fam["batched"]["partial"][str(k)]
        T = runs[0]["config"]["outer_iters"]
        rows += [
            (f, "phi_L, the expected-loss minimiser", fam["gap"], 0.0, None),
            (f, f"serial Reptile, exact W*, T = {T}", _serial_mean(runs, f, "exact", "to_phi_D"),
             _serial_mean(runs, f, "exact", "to_phi_L"), None),
            (f, f"serial Reptile, k = {k}, T = {T}", _serial_mean(runs, f, "partial", "to_phi_D"),
             _serial_mean(runs, f, "partial", "to_phi_L"), _serial_mean(runs, f, "partial", "to_phi_k")),
            (f, "batched Reptile (Alg. 2), exact W*", fam["batched"]["exact"]["to_phi_D"],
             fam["batched"]["exact"]["to_phi_L"], None),
            (f, f"batched Reptile (Alg. 2), k = {k}", bk["to_phi_D"], bk["to_phi_L"], bk["to_phi_k"]),
        ]
    df = pd.DataFrame([{"family": f, "point": p, "‖φ − φ_D‖": _fmt(a), "‖φ − φ_L‖": _fmt(b),
                        "‖φ − φ*_k‖": "" if c is None else _fmt(c)} for f, p, a, b, c in rows])
    return df.set_index(["family", "point"])


def k_table(runs: Sequence[dict]) -> pd.DataFrame:
    """The fixed point ``phi_k`` of k-step Reptile for each k of the config (closed form), its distance to the two
    reference points, and how far batched Reptile (Algorithm 2 through MetaLearner) ends from it."""
    _check_runs(runs)
    rows = []
    for f, fam in runs[0]["families"].items():
        for row in fam["k_table"]:
            rows.append({"family": f, "k": str(row["k"]), "‖φ*_k − φ_D‖": _fmt(row["fixed_to_phi_D"]),
                         "‖φ*_k − φ_L‖": _fmt(row["fixed_to_phi_L"]),
                         "‖φ*_k − φ_D‖ / ‖φ_L − φ_D‖": f"{row['fixed_to_phi_D'] / fam['gap']:.3f}",
                         "Reptile (Alg. 2): ‖φ − φ*_k‖": _fmt(row["batched_to_phi_k"]),
                         "outer iterations": row["batched_iterations"]})
        ex = fam["batched"]["exact"]
        rows.append({"family": f, "k": "∞ (exact W*)", "‖φ*_k − φ_D‖": _fmt(0.0), "‖φ*_k − φ_L‖": _fmt(fam["gap"]),
                     "‖φ*_k − φ_D‖ / ‖φ_L − φ_D‖": f"{0.0:.3f}", "Reptile (Alg. 2): ‖φ − φ*_k‖": _fmt(ex["to_phi_D"]),
                     "outer iterations": ex["iterations"]})
    return pd.DataFrame(rows).set_index(["family", "k"])


def key_numbers(runs: Sequence[dict]) -> dict[str, str]:
    """The numbers the chapter's prose quotes, formatted, keyed by name (glued into the text)."""
    _check_runs(runs)
    r0 = runs[0]
    c = r0["config"]
    out = {"n_seeds": str(len(runs)), "outer_iters": f"{c['outer_iters']:,}", "k": str(c["inner_iters"]),
           "alpha": f"{c['inner_lr']:g}", "eps0": f"{c['outer_step']:g}", "t0": f"{c['outer_decay']:g}",
           "kmax": str(max(c["k_values"])), "kmin": str(min(c["k_values"]))}
    worst_batched = 0.0
    for f, fam in r0["families"].items():
        rows = {row["k"]: row for row in fam["k_table"]}
        out[f"{f}_gap"] = f"{fam['gap']:.3f}"
        out[f"{f}_dim"] = str(fam["dim"])
        out[f"{f}_n"] = str(fam["n_tasks"])
        if "rank" in fam["tasks"]:
            out[f"{f}_rank"] = str(fam["tasks"]["rank"][0])
            out[f"{f}_manifold_dim"] = str(fam["dim"] - fam["tasks"]["rank"][0])
        for v, key in (("exact", "to_phi_D"), ("exact", "to_phi_L"), ("partial", "to_phi_D"), ("partial", "to_phi_L"),
                       ("partial", "to_phi_k")):
            out[f"{f}_serial_{v}_{key[3:]}"] = _fmt(_serial_mean(runs, f, v, key), 3)
        out[f"{f}_kmin_to_L"] = _fmt(rows[min(rows)]["fixed_to_phi_L"], 3)
        out[f"{f}_kmax_to_D"] = _fmt(rows[max(rows)]["fixed_to_phi_D"], 3)
        phi_k = np.asarray(fam["fixed_points"][str(c["inner_iters"])])
        k_to_D = float(np.linalg.norm(phi_k - np.asarray(fam["phi_D"])))
        out[f"{f}_k_to_D"] = _fmt(k_to_D, 3)
        out[f"{f}_k_frac"] = f"{k_to_D / fam['gap']:.2f}"
        obj = fam["objective"]
        out[f"{f}_msd_D"] = f"{obj['mean_sq_distance_at_phi_D']:.3f}"
        out[f"{f}_msd_L"] = f"{obj['mean_sq_distance_at_phi_L']:.3f}"
        out[f"{f}_loss_D"] = f"{obj['expected_loss_at_phi_D']:.3f}"
        out[f"{f}_loss_L"] = f"{obj['expected_loss_at_phi_L']:.3f}"
        worst_batched = max([worst_batched, fam["batched"]["exact"]["to_phi_D"]]
                            + [row["batched_to_phi_k"] for row in fam["k_table"]])
    out["batched_worst"] = _fmt(worst_batched)
    out["wall_seconds"] = f"{np.mean([r['wall_seconds'] for r in runs]):.0f}"
    return out


# ------------------------------------------------------------------------------------- the chapter's tables


def _seeds_words(runs: Sequence[dict]) -> str:
    return f"{len(runs)} seed{'s' if len(runs) != 1 else ''}"


def table_distances(runs: Sequence[dict]) -> Table:
    """:func:`distance_table` as the book shows it (the iteration count in the caption, not in every row)."""
    df = distance_table(runs)
    T = runs[0]["config"]["outer_iters"]
    k = runs[0]["config"]["inner_iters"]
    df.index = df.index.set_levels([lvl.replace(f", T = {T}", "").replace("phi_L, the expected-loss minimiser",
                                                                           "φ_L, the expected-loss minimiser")
                                    for lvl in df.index.levels[1]], level=1)
    df.index.names = [None, None]
    return Table(df, f"Distance from where each run ends (rows, per family) to φ_D, the minimiser of paper Eq. 18, "
                     f"to φ_L, the expected loss's, and for k-step Reptile (k = {k}) to its own fixed point φ*_k. "
                     f"Serial rows: the last iterate after T = {T:,} iterations, mean over {_seeds_words(runs)}; "
                     f"batched rows (paper Algorithm 2) are deterministic. '< 1e-06': rounding; blank: no fixed "
                     f"point φ*_k for that run.")


def table_k(runs: Sequence[dict]) -> Table:
    """:func:`k_table` as the book shows it."""
    c = runs[0]["config"]
    df = k_table(runs)
    df.index.names = [None, None]
    return Table(df, f"The fixed point φ*_k of k-step Reptile (closed form; full-batch SGD steps of α = "
                     f"{c['inner_lr']:g}) for each k (rows, per family): its distance to φ_D and to φ_L, that distance "
                     f"as a fraction of ||φ_L − φ_D||, and how far batched Reptile (paper Algorithm 2, run by the "
                     f"package's Reptile, reptile.core.MetaLearner) ends from φ*_k after the outer iterations shown. "
                     f"The last row of each family is the exact projection (k → ∞), whose fixed point is φ_D.")


def caption_numbers(runs: Sequence[dict], seed: int | None = None) -> dict[str, str]:
    """The numbers the figure captions quote (glued)."""
    run = R.pick_run(runs, seed)
    return {"fig2_seed": str(run["seed"]), "seed_list": ", ".join(str(r["seed"]) for r in runs),
            "seeds_words": _seeds_words(runs),
            "early": "25"}


# ------------------------------------------------------------------------------ the front page's verdict rows

DIST_TOL = 1e-6  # a deterministic (batched) run has reached a point when it ends closer than this (rounding)
SERIAL_FRAC = 0.1  # a serial run ends "at" phi_D within this fraction of ||phi_L - phi_D||
FIXED_FRAC = 0.01  # the k-step fixed point "reaches" phi_D within this fraction of ||phi_L - phi_D||


def _serial(runs: Sequence[dict], f: str, variant: str, key: str) -> list[float]:
    return [r["families"][f]["serial"]["final"][variant][key] for r in runs]


def _nums(values) -> str:
    return ", ".join(f"{v:.3f}" for v in values)


def _keyed_checks(runs: Sequence[dict]) -> list[tuple[str, Check]]:
    fams = runs[0]["families"] if runs else {}
    names = ", ".join(fams)
    T = runs[0]["config"]["outer_iters"] if runs else None
    k = runs[0]["config"]["inner_iters"] if runs else "k"
    several = len(runs) >= 2
    rows: list[tuple[str, Check]] = []

    def add(key: str, judge, **fields) -> None:
        """``judge()`` gives (ours, z, verdict); with no runs the row says "not yet run"."""
        if not runs:
            rows.append((key, Check(ours="-", z=None, verdict=NOT_YET_RUN, **fields)))
        else:
            ours, z, verdict = judge()
            rows.append((key, Check(ours=ours, z=z, verdict=verdict, **fields)))

    def batched_exact():
        exact = [fam["batched"]["exact"]["to_phi_D"] for fam in fams.values()]
        return (f"||φ − φ_D|| at most {max(exact):.0e} ({names}); deterministic", None,
                REPRODUCES if max(exact) <= DIST_TOL else DIFFERS)

    def serial_exact():
        to_D = {f: _serial(runs, f, "exact", "to_phi_D") for f in fams}
        to_L = {f: _serial(runs, f, "exact", "to_phi_L") for f in fams}
        if several:  # the book's rule in every family: "SERIAL_FRAC ||phi_L - phi_D|| exceeds the distance to phi_D"
            comps = [compare(Estimate(SERIAL_FRAC * fams[f]["gap"], se=0.0), Estimate.of(to_D[f])) for f in fams]
            verdict, z = combine([c.claim() for c in comps]), min(c.z for c in comps)
        else:
            ok = all(to_D[f][0] <= SERIAL_FRAC * fams[f]["gap"] and to_D[f][0] < to_L[f][0] for f in fams)
            verdict, z = (HOLDS if ok else DOES_NOT_HOLD), None
        return (f"||φ_T − φ_D|| = {_nums(np.mean(v) for v in to_D.values())} against {SERIAL_FRAC:g} ||φ_L − φ_D|| = "
                f"{_nums(SERIAL_FRAC * fam['gap'] for fam in fams.values())}; ||φ_T − φ_L|| = "
                f"{_nums(np.mean(v) for v in to_L.values())} ({names}; T = {T:,}, {_seeds_words(runs)})", z, verdict)

    def serial_partial():
        part = {f: _serial(runs, f, "partial", "to_phi_D") for f in fams}
        if several:  # the book's rule: "||phi_L - phi_D|| exceeds the distance of the run's end to phi_D"
            comps = [compare(Estimate(fams[f]["gap"], se=0.0), Estimate.of(part[f])) for f in fams]
            verdict, z = combine([c.claim() for c in comps]), min(c.z for c in comps)
        else:
            verdict, z = (HOLDS if all(part[f][0] < fams[f]["gap"] for f in fams) else DOES_NOT_HOLD), None
        return (f"||φ_T − φ_D|| = {_nums(np.mean(v) for v in part.values())} against ||φ_L − φ_D|| = "
                f"{_nums(fam['gap'] for fam in fams.values())} ({names}; T = {T:,}, {_seeds_words(runs)})", z, verdict)

    def fixed_points():
        fracs, reached = {}, []
        for f, fam in fams.items():
            rows_k = sorted(fam["k_table"], key=lambda row: row["k"])
            fracs[f] = [row["fixed_to_phi_D"] / fam["gap"] for row in rows_k]
            reached += [row["batched_to_phi_k"] for row in rows_k]
        ks = sorted(row["k"] for row in next(iter(fams.values()))["k_table"])
        ok = (all(all(b <= a + DIST_TOL for a, b in zip(v, v[1:])) and v[-1] <= FIXED_FRAC for v in fracs.values())
              and max(reached) <= DIST_TOL)
        return (f"||φ*_k − φ_D|| / ||φ_L − φ_D|| at k = {', '.join(map(str, ks))}: "
                + "; ".join(f"{f} {', '.join(f'{x:.3f}' for x in v)}" for f, v in fracs.items())
                + f"; batched runs within {max(reached):.0e} of φ*_k; deterministic", None,
                HOLDS if ok else DOES_NOT_HOLD)

    add("batched_exact", batched_exact, item="paper Eqs. 19-23",
        claim=f"with the exact projection W*_τ(φ), Reptile is gradient descent on paper Eq. 18: batched Reptile "
              f"(paper Algorithm 2) converges to its minimiser φ_D (within {DIST_TOL:.0e}, every family)",
        paper="φ ← (1 − ε)φ + ε W*_τ(φ) is SGD on E_τ[½ D(φ, W*_τ)²]",
        where="manifolds.ipynb#manifolds-where-each-ends")
    rule = ("by the book's rule in every family; z: the smallest" if several
            else "one seed: its last iterate, in every family")
    add("serial_exact", serial_exact, item="paper Figure 2",
        claim=f"serial Reptile (exact projection) converges to a point near all solution manifolds: it ends at φ_D, "
              f"within {SERIAL_FRAC:g} ||φ_L − φ_D|| of it, and so closer to it than to joint training's φ_L ({rule})",
        paper="the iterates converge to the point that minimises the average squared distance to the manifolds",
        where="manifolds.ipynb#fig-manifolds-figure2")
    add("serial_partial", serial_partial, item="paper Section 4.2 (partial minimisation)",
        claim=f"Reptile with k = {k} SGD steps in place of W*_τ(φ) ends closer to φ_D than joint training's φ_L is"
              + (" (by the book's rule in every family; z: the smallest)" if several else ""),
        paper="in Reptile, W*_τ(φ) is replaced by SGD(L_τ, φ, k), a partial minimisation",
        where="manifolds.ipynb#manifolds-where-each-ends")
    add("fixed_points", fixed_points, item="paper Section 4.2 (partial minimisation)",
        claim=f"k-step Reptile converges to its fixed point φ*_k, which moves from φ_L (k = 1) towards φ_D as k grows "
              f"(||φ*_k − φ_D|| / ||φ_L − φ_D|| falls with k, below {FIXED_FRAC:g} at the largest k)",
        paper="partial minimisation by k gradient steps stands in for the projection W*_τ(φ)",
        where="manifolds.ipynb#manifolds-fixed-points")
    return rows


def paper_checks(runs: Sequence[dict]) -> list[Check]:
    """The rows of the front page's verdict table for paper Section 4.2 and paper Figure 2:

    * paper Eqs. 19-23: batched Reptile with the exact projection ends at phi_D (within ``DIST_TOL``; reproduces /
      differs);
    * paper Figure 2: serial Reptile with the exact projection ends at phi_D, within ``SERIAL_FRAC`` of
      ``||phi_L - phi_D||`` of it, hence closer to it than to phi_L (with several seeds, the book's rule on
      ``SERIAL_FRAC ||phi_L - phi_D||`` against the distance to phi_D in every family; with one seed, the inequality);
    * partial minimisation: k-step serial Reptile ends closer to phi_D than phi_L is (several seeds: the book's
      rule; one seed: the inequality), and the fixed points phi_k approach phi_D as k grows (``FIXED_FRAC``).

    That phi_D differs from phi_L on these problems is no row: their task scales were chosen to set the two apart,
    so it is true by construction, and the chapter lists it among its statements (:func:`statements.manifolds`).

    Claims are holds / does not hold; z is given where the book's rule formed one. With no runs, every row says
    "not yet run"."""
    return [c for _, c in _keyed_checks(runs)]


def verdict_numbers(runs: Sequence[dict]) -> dict[str, str]:
    """Each verdict as the prose quotes it, keyed ``check_<name>``, and the tolerances (glued into the text)."""
    out = {f"check_{k}": verdict_words(c) for k, c in _keyed_checks(runs)}
    out.update(dist_tol=f"{DIST_TOL:.0e}", serial_frac=f"{SERIAL_FRAC:g}", fixed_frac=f"{FIXED_FRAC:g}")
    return out


def chapter_runs(results_dir=None) -> list[dict]:
    """The runs this chapter shows with its default parameters (preset ``default``, every stored seed), for
    :func:`paper_checks` on the front page: ``paper_checks(chapter_runs())``."""
    from ..experiments.manifolds import resolve
    from .common import stored_runs

    return stored_runs("manifolds", resolve("default"), results_dir)
