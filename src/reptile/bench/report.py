"""The benchmark's report as a table (what ``python -m reptile.bench`` prints; the status page shows every stored
report through :mod:`reptile.artifacts.status`)."""

from __future__ import annotations

import pandas as pd


def bench_table(report: dict):
    """The report as a pandas DataFrame: rates, GFLOP/s, their fraction of the matrix-multiply rate on the cores
    used, and ratios to the reference (and to the authors' code when timed) of the same setting."""
    mm = report["matmul_gflops"]
    out = []
    for r in report["rows"]:
        ref = next(x for x in report["rows"] if x["setting"] == r["setting"] and x["path"] == "reference")
        authors = next((x for x in report["rows"] if x["setting"] == r["setting"] and x["path"].startswith("authors")),
                       None)
        used = r["threads"] * r["processes"]
        peak = mm["gpu"] if "gpu" in mm else mm.get(str(used)) or mm["1"] * used

        def ratio(key, base):
            return None if base is None or r[key] is None or not base[key] else r[key] / base[key]

        out.append({
            "setting": r["setting"], "path": r["path"], "cores": used,
            "train run-steps/s": r["run_steps_per_s"], "train GFLOP/s": r["train_gflops"],
            "train GFLOP/s per core": None if r["train_gflops"] is None else r["train_gflops"] / used,
            "train % of matmul": None if r["train_gflops"] is None else 100 * r["train_gflops"] / peak,
            "train x reference": ratio("run_steps_per_s", ref), "train x authors": ratio("run_steps_per_s", authors),
            "eval tasks/s": r["eval_tasks_per_s"],
            "eval core-s per task": None if not r["eval_tasks_per_s"] else used / r["eval_tasks_per_s"],
            "eval % of matmul": None if r.get("eval_gflops") is None else 100 * r["eval_gflops"] / peak,
            "eval x reference": ratio("eval_tasks_per_s", ref), "eval x authors": ratio("eval_tasks_per_s", authors),
        })
    return pd.DataFrame(out)
