"""The authors' TensorFlow code timed on each machine, beyond the benchmark's pairs: how its rate and the ratio of
ours to it move with the load (extra busy processes beside it), and how the harness that times it compares with
their own ``run_omniglot.py`` on real Omniglot. Drawn from the records of ``python -m reptile.bench.authors_record``
(``results/bench/authors/<cpu>.json``, one per CPU); nothing here times anything or types a number."""

from __future__ import annotations

import json
import statistics

import pandas as pd

from ..results import results_root
from .common import Aligned, Table, fmt_number

COMMAND = "python -m reptile.bench.authors_record (results/bench/authors/README.md)"
LEVEL = {"amx": "AMX", "avx512": "AVX-512", "avx2": "AVX2"}  # a record's widest vector extension, as written


def records(results_dir=None) -> list[dict]:
    """Every stored record, oldest first, each with ``"label"``: its CPU's model and widest vector extension."""
    out = []
    for path in sorted((results_root(results_dir) / "bench" / "authors").glob("*.json")):
        r = json.loads(path.read_text())
        cpu = r.get("cpu", {})
        r["label"] = f"{cpu.get('model', path.stem)}, {LEVEL.get(cpu.get('level'), cpu.get('level') or '?')}"
        out.append(r)
    return sorted(out, key=lambda r: r.get("created", ""))


def _none(what: str) -> Table:
    from .speed import _none as none  # the benchmark's tables say "not yet run" the same way

    return none(what, COMMAND)


def _loads(values) -> str:
    if not values:
        return "-"
    low, high = f"{min(values):.1f}", f"{max(values):.1f}"
    return low if low == high else f"{low} to {high}"


def _note(record: dict) -> str:
    """What else ran on the machine, as the record says it (its ``load_note`` after the description of the load
    average), or empty."""
    note = record.get("load_note", "")
    return note.split("; ", 1)[1] if "; " in note else ""


def load_view(results_dir=None) -> Table:
    """The load test of each record: 1-shot 5-way with 0, 1, 2 and again 0 extra busy single-thread processes beside
    it, their time per outer iteration (wall and CPU), the share of a core each side had, and the ratio of our rate
    to theirs in turns."""
    recs = [r for r in records(results_dir) if r.get("load_test")]
    if not recs:
        return _none("The authors' code under load")
    rows = []
    for r in recs:
        seen = set()
        for p in r["load_test"]["phases"]:
            n = p["extra_busy_processes"]
            phase = f"{n} extra" + (" (again)" if n in seen else "")
            seen.add(n)
            ratio = p.get("ours_over_theirs_run_steps_per_s") or {}
            rows.append({
                "CPU": r["label"], "busy processes beside": phase,
                "theirs: s per outer iteration": fmt_number(p["authors_seconds_per_outer_iter"]["median"], 3),
                "theirs: CPU s per outer iteration": fmt_number(p["authors_cpu_seconds_per_outer_iter"]["median"], 3),
                "core share, theirs / ours": (f"{statistics.median(p['authors_cpu_share']):.2f} / "
                                              f"{statistics.median(p['ours_cpu_share']):.2f}"
                                              if p.get("ours_cpu_share") else
                                              f"{statistics.median(p['authors_cpu_share']):.2f} / -"),
                "ratio ours / theirs (median)": fmt_number(ratio.get("median"), 2),
                "ratio range": f"{ratio['min']:.2f} to {ratio['max']:.2f}" if ratio else "-",
                "load average": _loads(p.get("load_1min", []))})
    frame = pd.DataFrame(rows).set_index(["CPU", "busy processes beside"])
    words = "; ".join(f"{r['label']}: {r['load_test']['cores']} cores, TensorFlow {r.get('tensorflow', '?')}, "
                      f"recorded {r.get('created', '?')[:10]}" + (f" ({_note(r)})" if _note(r) else "") for r in recs)
    return Aligned(frame,
                   "The authors' Reptile.train_step on 1-shot 5-way (synthetic Omniglot-shaped images, one thread) "
                   "with 0, 1, 2 and again 0 extra busy single-thread processes at normal priority beside it, each "
                   "phase timed in turns with the engine's population of 1 (the same work per step): their wall "
                   "and CPU seconds per outer iteration (medians of three), the median share of a core each side "
                   "had (CPU time over wall time), and the ratio of our run-steps per second to theirs (above 1, "
                   "ours is faster), its median and range over the pairs, and the 1-minute load average while it "
                   "was timed. " + words + ".",
                   nowrap_index=[1])


def real_data_view(results_dir=None) -> Table:
    """The harness against the authors' own script: ``run_omniglot.py``, unchanged, on real Omniglot (1-shot 5-way,
    one thread), with its image cache filling as it goes (cold) and filled first (warm), against the synthetic
    harness's train_step measured between them."""
    recs = [r for r in records(results_dir) if r.get("run_omniglot_check")]
    if not recs:
        return _none("The harness against run_omniglot.py")
    rows = []
    for r in recs:
        c = r["run_omniglot_check"]
        runs = {bool(x["warm_cache"]): x for x in c["run_omniglot"]}
        synth = c["synthetic_seconds_per_outer_iter"]
        for warm, key in ((False, "real_over_synthetic_cold"), (True, "real_over_synthetic_warm")):
            if warm not in runs:
                continue
            x, ratio = runs[warm], c[key]
            rows.append({
                "CPU": r["label"], "image cache": "filled first (warm)" if warm else "filling (cold)",
                "script: s per step": fmt_number(x["seconds_per_train_step_median"], 3),
                "harness: s per step": fmt_number(synth["median"]["median"], 3),
                "script / harness": fmt_number(ratio["median_step"], 2),
                "the same in CPU time": fmt_number(ratio["cpu_median_step"], 2),
                "script's core share": fmt_number(x["cpu_share"], 2)})
    frame = pd.DataFrame(rows).set_index(["CPU", "image cache"])
    return Aligned(frame,
                   "The authors' run_omniglot.py, unchanged, on real Omniglot in their layout (1-shot 5-way with "
                   "paper Table 3's flags, one thread; 20 iterations to warm up, then 200 timed from inside), its "
                   "image cache filling as the run goes (cold: PNGs decoded in the first iterations) or filled "
                   "before training (warm), against the synthetic harness's Reptile.train_step measured between "
                   "them (three measurements; the median of their medians): the seconds per train_step of each by "
                   "the wall clock, their ratio (the script's over the harness's) by the wall clock and in CPU "
                   "time, and the share of a core the script had. CPU time is what other work on the machine "
                   "changes least.", nowrap_index=[1])


def summary(results_dir=None) -> str:
    """One Markdown paragraph from the records: for each CPU, the range of the ratio over the load phases, how much
    their time per outer iteration grows with the most busy processes beside it (wall and CPU time), and what their
    own script on real data takes against the harness."""
    parts = []
    for r in records(results_dir):
        said = []
        phases = (r.get("load_test") or {}).get("phases", [])
        medians = [p["ours_over_theirs_run_steps_per_s"]["median"] for p in phases
                   if p.get("ours_over_theirs_run_steps_per_s")]
        if phases and medians:
            alone = [p for p in phases if p["extra_busy_processes"] == 0]
            busiest = max(phases, key=lambda p: p["extra_busy_processes"])
            t0 = [p["authors_seconds_per_outer_iter"]["median"] for p in alone]
            c0 = [p["authors_cpu_seconds_per_outer_iter"]["median"] for p in alone]
            t1 = busiest["authors_seconds_per_outer_iter"]["median"]
            c1 = busiest["authors_cpu_seconds_per_outer_iter"]["median"]
            n = busiest["extra_busy_processes"]
            if len({f"{t:.3f}" for t in t0}) == 1:
                moves = (f"their time per outer iteration goes from {t0[0]:.3f} s with no extra process to {t1:.3f} s "
                         f"with {n} ({t1 / t0[0]:.1f} times), and their CPU time per iteration from {c0[0]:.3f} to "
                         f"{c1:.3f} s")
            else:  # the phases without extra processes, first and last, disagree: both are given
                moves = (f"their time per outer iteration is {t0[0]:.3f} s with no extra process in the first phase "
                         f"and {t0[-1]:.3f} s in the last, and {t1:.3f} s with {n} extra ({t1 / t0[0]:.1f} and "
                         f"{t1 / t0[-1]:.1f} times those); their CPU time per iteration is {c0[0]:.3f} and "
                         f"{c0[-1]:.3f} s without, {c1:.3f} s with them")
            said.append(f"ours runs {min(medians):.2f} to {max(medians):.2f} times as fast as theirs across the load "
                        f"phases (the medians of their pairs); " + moves)
        check = r.get("run_omniglot_check")
        if check:
            warm, cold = check["real_over_synthetic_warm"], check["real_over_synthetic_cold"]
            said.append(f"their own run_omniglot.py on real Omniglot takes {warm['median_step']:.2f} times the "
                        f"harness's time per step with its image cache filled ({warm['cpu_median_step']:.2f} in CPU "
                        f"time) and {cold['median_step']:.2f} times while it fills ({cold['cpu_median_step']:.2f})")
        if said:
            parts.append(f"On the {r['label']}, " + "; ".join(said) + ".")
    return " ".join(parts) if parts else f"No record of the authors' code under load is stored yet ({COMMAND})."

