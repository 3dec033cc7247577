"""The campaign's MAML entries with their cost: each full-budget cell of the MAML chapter as the campaign plans it
(:data:`reptile.campaign.plan.PLAN`), how far it has come, and the CPU hours its three seeds' training takes at the
rate the MAML benchmark measured (``python -m reptile.bench --maml``, ``results/bench/maml/``). Rebuilt from the
stored checkpoints, records and benchmark reports; nothing here runs or types a number."""

from __future__ import annotations

import pandas as pd

from .common import Aligned, Table, fmt_number
from .speed import _commit, _load

ALGORITHM = {"maml": "MAML", "fomaml": "first-order MAML"}  # as the benchmark's rows name them
PROTOCOL = {"finn": "Finn et al.'s", "reptile": "Reptile's"}
# the benchmark's path the campaign trains by: the engine's, with oneDNN's convolutions where they pay (the campaign
# runs with REPTILE_ONEDNN=1 on a CPU); the plain engine's where a report lacks it
PATHS = ("engine, populations of tasks, oneDNN where it pays", "engine, populations of tasks")


def _cpu_report(results_dir=None) -> dict | None:
    """The newest MAML benchmark report of a CPU with rows, or None."""
    reports = [r for r in _load("maml", results_dir)
               if r.get("rows") and r.get("environment", {}).get("device", "cpu") == "cpu"]
    return max(reports, key=lambda r: r.get("created", "")) if reports else None


def _hours_per_seed(report: dict | None, column: str, algorithm: str) -> float | None:
    """One seed's training hours at the report's rate for a cell and algorithm, by the first of :data:`PATHS` it
    measured; None where it measured neither."""
    if report is None:
        return None
    rows = {(r["setting"], r["algorithm"], r["path"]): r for r in report["rows"]}
    for path in PATHS:
        row = rows.get((column, ALGORITHM[algorithm], path))
        if row is not None:
            return row["hours_per_run"]
    return None


def _faster_path(report: dict) -> str:
    """Which of the engine's two CPU paths the report found faster for MAML, as the caption says it: the count of
    its MAML and first-order MAML rows in which the plain engine beat oneDNN's convolutions."""
    rows = {(r["setting"], r["algorithm"], r["path"]): r["seconds_per_iteration"] for r in report["rows"]
            if r.get("seconds_per_iteration") is not None}
    pairs = [(rows[(s, a, PATHS[1])], rows[(s, a, PATHS[0])]) for s, a, p in rows
             if p == PATHS[0] and a in ALGORITHM.values() and (s, a, PATHS[1]) in rows]
    if not pairs:
        return ""
    plain = sum(1 for a, b in pairs if a < b)
    return (f"; in that report the plain engine was the faster in {plain} of its {len(pairs)} MAML rows (the entries "
            f"under way began on oneDNN's, and a run's numbers depend on the path, so they keep it)")


def plan_rows(results_dir=None) -> list[dict]:
    """One row per MAML entry of the campaign's plan, in its order: cell, algorithm, protocol, its state and outer
    iterations (all seeds together), the CPU hours its seeds' training takes at the benchmark's rate, and the hours
    left (at the rate measured on the entry itself once it has one, else at the benchmark's)."""
    from ..campaign.plan import PLAN, progress

    entries = [e for e in PLAN if e.experiment == "maml"]
    report = _cpu_report(results_dir)
    rows = []
    for entry, row in zip(entries, progress(entries, results_dir)):
        cfg = entry.config
        column = f"{cfg.shots}-shot {cfg.n_way}-way"
        per_seed = _hours_per_seed(report, column, cfg.algorithm)
        total = entry.outer_iters * len(entry.seeds)
        done = int(row["outer iterations"].split(" / ")[0].replace(",", ""))
        if row["state"] == "done":
            left = 0.0
        elif row["outer it/s"]:
            left = (total - done) / row["outer it/s"] / 3600
        else:
            left = None if per_seed is None else per_seed * len(entry.seeds) * (total - done) / total
        rows.append({"cell": column, "algorithm": ALGORITHM[cfg.algorithm], "protocol": PROTOCOL[cfg.protocol],
                     "state": row["state"], "outer iterations": row["outer iterations"],
                     "CPU hours (benchmark)": None if per_seed is None else per_seed * len(entry.seeds),
                     "hours left": left})
    return rows


def plan_table(results_dir=None) -> Table:
    """:func:`plan_rows` as the MAML chapter shows it, with the totals in the caption."""
    rows = plan_rows(results_dir)
    report = _cpu_report(results_dir)
    frame = pd.DataFrame(rows).set_index(["cell", "algorithm", "protocol"])
    known = [r["CPU hours (benchmark)"] for r in rows if r["CPU hours (benchmark)"] is not None]
    first = [r for r in rows if r["cell"] == "1-shot 5-way"]
    first_hours = sum(r["CPU hours (benchmark)"] or 0.0 for r in first)
    for col in ("CPU hours (benchmark)", "hours left"):
        frame[col] = [fmt_number(v, 1) for v in frame[col]]
    where = ("no CPU report of the MAML benchmark is stored (`python -m reptile.bench --maml`), so no cost is given"
             if report is None else
             f"the newest CPU report of the MAML benchmark ({report['device']}, {report.get('threads', 1)} "
             f"thread{'s' if report.get('threads', 1) != 1 else ''}; code "
             f"{_commit(report)}), which times Reptile's Conv4 with Finn et al.'s hyper-parameters (Finn et al.'s "
             f"network differs in its dense layer and batch norm only) on the path the campaign trains by: the engine "
             f"with oneDNN's convolutions where they pay (REPTILE_ONEDNN=1), or the plain engine where a report lacks "
             f"that row" + _faster_path(report))
    total = (f" In all, {fmt_number(sum(known), 0)} CPU hours of training for the {len(known)} entries costed, "
             f"{fmt_number(first_hours, 0)} of them for the 1-shot 5-way entries, which run first, on a CPU; the "
             f"campaign plans the 5-shot and 20-way entries for a GPU, where a meta-batch's tasks run side by side"
             + ("" if any(r.get("environment", {}).get("device", "cpu") != "cpu" for r in _load("maml", results_dir))
                else " (no GPU timing of MAML is stored yet)") + "."
             if known else "")
    caption = ("The campaign's MAML entries at the full budget (60,000 outer iterations per seed, seeds 0 1 2 one "
               "after another), in the order it runs them after Reptile's: their state and outer iterations (all "
               "seeds together), the CPU hours their training takes at the rate of " + where + ", and the hours "
               "left (at the entry's own measured rate once it has one). The final evaluations are not counted."
               + total)
    return Aligned(frame.astype(str), caption, nowrap=["state"], nowrap_index=[0, 2])
