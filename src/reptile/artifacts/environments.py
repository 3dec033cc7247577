"""Where the stored runs came from, for the status page: the devices that trained and evaluated each run, the
environments (Python, device, package versions) and whether the pinned toolchain is one of them.

The ``*_table`` functions give pandas DataFrames (command lines and tests read their columns); the ``*_view``
functions give the page's tables. :mod:`reptile.artifacts.status` re-exports them.
"""

from __future__ import annotations

import re
from typing import Sequence

import pandas as pd

from .common import Aligned, Table, seed_list, shared_columns, shown_name


def _name(r: dict) -> str:
    """A run's configuration as the page names it: ``experiment/preset`` (a customised preset by what it changed)."""
    return f"{r['experiment']}/{shown_name(r['experiment'], r['name'], r.get('config', {}))}"


def run_device(run: dict) -> str:
    """The device that trained ``run``: the devices and their outer iterations when it records its segments (a
    population, perhaps trained a piece at a time on several devices), else the device it ran on."""
    from ..campaign.plan import devices_label

    engine = run.get("engine") if isinstance(run.get("engine"), dict) else {}
    return devices_label(engine["segments"]) if engine.get("segments") else run["environment"]["device_name"]


def eval_device(run: dict) -> str:
    """The device(s) of ``run``'s final evaluation: those a campaign's evaluation ran on (in order, when it was
    done a piece at a time), else the device the run was written on."""
    engine = run.get("engine") if isinstance(run.get("engine"), dict) else {}
    return ", ".join(engine.get("evaluation_devices") or [run["environment"]["device_name"]])


def environment_table(runs: Sequence[dict]) -> pd.DataFrame:
    """Where the stored runs came from: one row per configuration and environment, the seeds that share both
    together (so the table stays whole on the page as runs accumulate). ``device`` names the devices that trained
    a run and their outer iterations, when it records its segments (a population); ``wall time`` is each seed's, in
    the order of ``seeds``, or one number where they are the same (the seeds of a population share theirs)."""
    groups: dict[tuple, list[dict]] = {}
    for r in sorted(runs, key=lambda r: (r["experiment"], r["name"], r["seed"])):
        e = r["environment"]
        key = (_name(r), run_device(r), e["packages"].get("torch") or "-", e["python"],
               (e["commit"] or "none")[:10] + ("+dirty" if e.get("dirty") else ""), e["date"][:10])
        groups.setdefault(key, []).append(r)
    rows = []
    for (name, device, torch, python, commit, date), group in groups.items():
        walls = [f"{round(r['wall_seconds']):,}" for r in group]
        population = all((r.get("engine") or {}).get("name") == "population" for r in group)
        # one population's time: exactly equal, or, for the engine's populations (whose seeds' times differ by their
        # milliseconds of bookkeeping), equal once rounded
        shared = len({r["wall_seconds"] for r in group}) == 1 or (population and len(set(walls)) == 1)
        rows.append({"experiment": name, "seeds": seed_list(r["seed"] for r in group), "device": device,
                     "torch": torch, "python": python, "commit": commit, "date": date,
                     "wall time (s)": walls[0] if shared else " ".join(walls)})
    columns = ["experiment", "seeds", "device", "torch", "python", "commit", "date", "wall time (s)"]
    return pd.DataFrame(rows, columns=columns).set_index("experiment")


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


def _environment_numbers(runs: Sequence[dict]) -> list[int]:
    """Each run's environment, numbered as :func:`package_table`'s columns (in order of first appearance)."""
    seen: dict[tuple, int] = {}
    out = []
    for r in runs:
        e = r["environment"]
        key = (("python", e["python"]), ("device", e["device_name"]),
               *sorted((k, v or "-") for k, v in e["packages"].items()))
        out.append(seen.setdefault(key, len(seen) + 1))
    return out


def trained_at(run: dict) -> str:
    """The code that trained ``run``, from the pieces it records (a population's segments): one commit, or how many
    and the first and last, and how many pieces recorded none; '-' for a run of one piece (its commit is the one that
    wrote it)."""
    segments = ((run.get("engine") or {}).get("segments") if isinstance(run.get("engine"), dict) else None) or []
    if not segments:
        return "-"
    codes = [s.get("code") for s in segments]
    known = list(dict.fromkeys(c for c in codes if c))
    missing = sum(c is None for c in codes)
    if not known:
        return "not recorded"
    text = known[0] if len(known) == 1 else f"{len(known)} commits, {known[0]} to {known[-1]}"
    return text + (f" ({missing} of {len(codes)} pieces unrecorded)" if missing else "")


def environment_view(runs: Sequence[dict]) -> Table:
    """Where each stored configuration came from: one row per configuration and environment (the seeds that share
    both together), with the devices that trained it, its environment (a column of :func:`package_view`), the
    commit, the date and the wall time."""
    numbers = dict(zip((id(r) for r in runs), _environment_numbers(runs)))
    groups: dict[tuple, list[dict]] = {}
    for r in sorted(runs, key=lambda r: (r["experiment"], r["name"], r["seed"])):
        e = r["environment"]
        key = (_name(r), run_device(r), eval_device(r), numbers[id(r)],
               (e["commit"] or "none")[:7] + ("+dirty" if e.get("dirty") else ""), e["date"][:10])
        groups.setdefault(key, []).append(r)
    rows = []
    for (name, device, evaluated, env, commit, date), group in groups.items():
        walls = [f"{round(r['wall_seconds']):,}" for r in group]
        population = all((r.get("engine") or {}).get("name") == "population" for r in group)
        shared = len({r["wall_seconds"] for r in group}) == 1 or (population and len(set(walls)) == 1)
        rows.append({"configuration": name, "seeds": seed_list(r["seed"] for r in group), "devices": device,
                     "evaluated on": evaluated, "env.": str(env), "commit": commit,
                     "trained at": " / ".join(sorted({trained_at(r) for r in group})), "date": date,
                     "wall time (s)": walls[0] if shared else " ".join(walls)})
    if not rows:
        return Table(pd.DataFrame({"configuration": ["none stored yet"]}).set_index("configuration"),
                     "The environment of every stored run.")
    # a configuration whose seeds came from several environments or commits has a row for each: the seeds make the
    # rows' labels unique (the page's styling needs unique labels)
    frame, words = shared_columns(pd.DataFrame(rows).set_index(["configuration", "seeds"]))
    return Aligned(frame,
                  "The environment of every stored run, one row per configuration (experiment/preset) and "
                  "environment, labelled by the configuration and the seeds it holds. devices: those that trained "
                  "the runs, with the outer iterations each ran when the runs record them (a population trained a "
                  "piece at a time); evaluated on: the device(s) of the final evaluation; "
                  "env.: the environment, a column of the package table below, of the process that wrote the "
                  "results; commit: the code that wrote them (+dirty with uncommitted changes in src/); trained at: "
                  "the code of each piece of training, where the pieces record it (a run trained a piece at a time "
                  "can span commits; the pieces record their code and device, not their packages); wall time: the whole run, training and evaluation, per seed, or "
                  "one number for seeds trained together as one population." + words,
                  nowrap=[c for c in ("date", "commit") if c in frame.columns], nowrap_index=[1])


def pins(root=None) -> dict[str, str]:
    """The pinned toolchain: ``name: version`` from requirements.txt's ``name==version`` lines, and ``python`` from
    environment.yml's ``python=X.Y`` (a prefix: any patch release)."""
    from ..results import REPO_ROOT

    root = REPO_ROOT if root is None else root
    out = {}
    for line in (root / "requirements.txt").read_text().splitlines():
        m = re.match(r"\s*([A-Za-z0-9_.-]+)==([^\s#;]+)", line)
        if m:
            out[m.group(1).lower()] = m.group(2)
    m = re.search(r"^\s*-\s*python=([0-9.]+)", (root / "environment.yml").read_text(), re.M)
    if m:
        out["python"] = m.group(1)
    return out


def unpinned(table: pd.DataFrame, pinned: dict[str, str]) -> dict[str, list[str]]:
    """For each environment (a column of :func:`package_table`), the rows whose version is not the pinned one
    (Python by its pinned prefix; a package the environment did not install is not counted)."""
    out = {}
    for col in table.columns:
        bad = []
        for name, version in table[col].items():
            want = pinned.get(str(name).lower())
            if want is None or version in ("-", None):
                continue
            same = (str(version) == want or str(version).startswith(want + ".")) if name == "python" else \
                str(version) == want
            if not same:
                bad.append(f"{name} {version}")
        out[col] = bad
    return out


def package_view(runs: Sequence[dict], root=None) -> Table:
    """:func:`package_table` for the page: Python, device and package versions of each environment, and which of
    them the pins (:func:`pins`) reproduce."""
    t = package_table(runs)
    t.columns = [c.replace("environment ", "") for c in t.columns]
    pinned = pins(root)
    off = unpinned(t, pinned)
    number = {c: c.split(" ")[0] for c in t.columns}
    same = [number[c] for c, bad in off.items() if not bad]
    words = (f" The pins (requirements.txt with constraints.txt, and Python {pinned.get('python', '?')} in "
             f"environment.yml) are environment{'s' if len(same) > 1 else ''} {', '.join(same)}." if same else
             " No environment is the pinned one (requirements.txt, constraints.txt, environment.yml).")
    words += "".join(f" Environment {number[c]} is not: it ran {', '.join(bad)}, so the pins reproduce its code but not "
                     f"its exact toolchain." for c, bad in off.items() if bad)
    return Table(t, "Python, device and package versions (rows) of each environment among the stored runs "
                    "(columns: its number, and how many runs it made); '-' where a package was not installed." + words)
