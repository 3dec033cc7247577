"""The status page: which of the paper's artifacts have stored runs, and the environments that produced them."""

from __future__ import annotations

from typing import Sequence

import pandas as pd

# The paper's artifacts and where this book stands on each (a chapter fills its row once its runs are stored).
PAPER_ARTIFACTS = [
    ("Section 3, Figure 1: sine-wave regression", "sine", "paper"),
    ("Section 4.1: Taylor-expansion identities", "taylor", None),
    ("Section 4.2, Figure 2: solution manifolds", "manifolds", None),
    ("Tables 1-2: few-shot classification (Mini-ImageNet, Omniglot)", "fewshot", None),
    ("Section 5.2, Figure 3: gradient combinations", "gradcomb", None),
]


def coverage_table(runs: Sequence[dict]) -> pd.DataFrame:
    """One row per paper artifact and stored configuration, with its seeds; 'not yet run' where nothing is stored."""
    rows = []
    for label, experiment, _ in PAPER_ARTIFACTS:
        by_name: dict[str, list[int]] = {}
        for r in runs:
            if r["experiment"] == experiment:
                by_name.setdefault(r["name"], []).append(r["seed"])
        if not by_name:
            rows.append({"paper artifact": label, "configuration": "-", "seeds": "not yet run"})
        for name, seeds in sorted(by_name.items()):
            rows.append({"paper artifact": label, "configuration": name, "seeds": str(sorted(seeds))})
    return pd.DataFrame(rows).set_index(["paper artifact", "configuration"])


def environment_table(runs: Sequence[dict]) -> pd.DataFrame:
    """Where each stored run came from."""
    rows = []
    for r in runs:
        e = r["environment"]
        rows.append({"experiment": f"{r['experiment']}/{r['name']}", "seed": r["seed"], "device": e["device"],
                     "torch": e["packages"].get("torch"), "python": e["python"],
                     "commit": (e["commit"] or "none")[:10] + ("+dirty" if e.get("dirty") else ""),
                     "date": e["date"][:10], "wall time (s)": round(r["wall_seconds"])})
    return pd.DataFrame(rows)


def package_table(runs: Sequence[dict]) -> pd.DataFrame:
    """Python, device and package versions (rows) of each distinct environment among the stored runs (columns)."""
    combos: dict[tuple, list[str]] = {}
    for r in runs:
        e = r["environment"]
        key = (("python", e["python"]), ("device", e["device_name"]),
               *sorted((k, v or "-") for k, v in e["packages"].items()))
        combos.setdefault(key, []).append(f"{r['experiment']}/{r['name']}")
    columns = {}
    for i, (key, names) in enumerate(combos.items(), start=1):
        columns[f"environment {i} ({len(names)} runs)"] = dict(key)
    return pd.DataFrame(columns)
