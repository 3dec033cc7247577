"""The campaign's MAML entries with their cost: each full-budget cell of the MAML chapter as the campaign plans it
(:data:`reptile.campaign.plan.PLAN`), how far it has come, and the CPU hours its three seeds' training takes at the
rate the MAML benchmark measured (``python -m reptile.bench --maml``, ``results/bench/maml/``). Rebuilt from the
stored checkpoints, records and benchmark reports; nothing here runs or types a number."""

from __future__ import annotations

import pandas as pd

from .common import Aligned, Table, fmt_number
from .speed import _commit, _load, device_name

ALGORITHM = {"maml": "MAML", "fomaml": "first-order MAML"}  # as the benchmark's rows name them
PROTOCOL = {"finn": "Finn et al.'s", "reptile": "Reptile's"}
# the benchmark's path a seed that starts trains by: the plain engine's (the campaign is started without
# REPTILE_ONEDNN; a seed under way keeps the switches of its latest piece, and its hours left are at its own rate);
# oneDNN's convolutions where a report lacks the plain row
PATHS = ("engine, populations of tasks", "engine, populations of tasks, oneDNN where it pays")
CPU_CELLS = ("1-shot 5-way",)  # the cells the campaign plans for a CPU; the others want a GPU


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


def _seeds_under_way(results_dir=None) -> list[tuple[str, int, dict]]:
    """Every seed of the campaign's MAML entries with a checkpoint (under way): its entry, its seed and the CPU
    switches of its latest piece (empty: the plain engine)."""
    from ..campaign.plan import PLAN, maml_checkpoint
    from ..campaign.runs import CPU_SWITCHES
    from ..train import load_checkpoint

    out = []
    for entry in (e for e in PLAN if e.experiment == "maml"):
        for seed in entry.seeds:
            path = maml_checkpoint(entry, seed, results_dir)
            if path.exists():
                pieces = load_checkpoint(path).get("pieces") or [{}]
                out.append((entry.name, seed, {k: v for k, v in pieces[-1].get("switches", {}).items()
                                               if k in CPU_SWITCHES}))
    return out


def _faster_path(report: dict, results_dir=None) -> str:
    """Which of the engine's two CPU paths the report found faster for MAML, as the caption says it: the count of
    its MAML and first-order MAML rows in which the plain engine beat oneDNN's convolutions; and the path each seed
    under way keeps (read from its checkpoint's latest piece)."""
    rows = {(r["setting"], r["algorithm"], r["path"]): r["seconds_per_iteration"] for r in report["rows"]
            if r.get("seconds_per_iteration") is not None}
    pairs = [(rows[(s, a, PATHS[0])], rows[(s, a, PATHS[1])]) for s, a, p in rows
             if p == PATHS[1] and a in ALGORITHM.values() and (s, a, PATHS[0]) in rows]
    if not pairs:
        return ""
    plain = sum(1 for a, b in pairs if a < b)
    text = f" In that report the plain engine was the faster in {plain} of its {len(pairs)} MAML rows."
    going = _seeds_under_way(results_dir)
    if going:
        text += (" A seed keeps the path it began on, as a run's numbers depend on it, and its hours left are at its "
                 "own rate: " + "; ".join(
                     f"{name} seed {seed}, " + (", ".join(f"{k}={v}" for k, v in sorted(sw.items())) or
                                                "the plain engine") for name, seed, sw in going) + ".")
    return text


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
    gpu = [r["cell"] not in CPU_CELLS and r["state"] == "not started" for r in rows]
    frame["hours left"] = ["GPU: not timed" if g else v for g, v in zip(gpu, frame["hours left"])]
    where = ("no CPU report of the MAML benchmark is stored (`python -m reptile.bench --maml`), so no cost is given"
             if report is None else
             f"the newest CPU report of the MAML benchmark ({device_name(report, results_dir)}, "
             f"{report.get('threads', 1)} thread{'s' if report.get('threads', 1) != 1 else ''}; code "
             f"{_commit(report)}), which times Reptile's Conv4 with Finn et al.'s hyper-parameters (Finn et al.'s "
             f"network differs in its dense layer and batch norm only) on the path a seed that starts trains by: the "
             f"plain engine (the campaign started without REPTILE_ONEDNN), or oneDNN's convolutions where a report "
             f"lacks that row")
    total = (f" In all, {fmt_number(sum(known), 0)} CPU hours of training for the {len(known)} entries whose cost "
             f"is measured, {fmt_number(first_hours, 0)} of them for the 1-shot 5-way entries, which run first, on a CPU; the "
             f"campaign plans the 5-shot and 20-way entries for a GPU, where a meta-batch's tasks run side by side"
             + ("" if any(r.get("environment", {}).get("device", "cpu") != "cpu" for r in _load("maml", results_dir))
                else " (no GPU timing of MAML is stored yet)") + "."
             if known else "")
    caption = ("The campaign's MAML entries at the full budget (60,000 outer iterations per seed, seeds 0 1 2 one "
               "after another), in the order it runs them after Reptile's: their state and outer iterations (all "
               "seeds together), the CPU hours their training takes at the rate of " + where + "; and the hours "
               "left, at the entry's own measured rate once it has one (not timed for an entry planned for a GPU "
               "that has not started). The final evaluations are not counted."
               + ("" if report is None else _faster_path(report, results_dir)) + total)
    return Aligned(frame.astype(str), caption, nowrap=["state"], nowrap_index=[0, 2])
