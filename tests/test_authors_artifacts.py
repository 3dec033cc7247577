"""The status page's tables of the authors' code under load and on real data (reptile.artifacts.authors): every
number is the record's, each CPU is named with its widest vector extension, and with no record the tables say so."""

import json
import statistics

from reptile.artifacts import authors


def stats(values):
    return {"values": values, "median": statistics.median(values), "min": min(values), "max": max(values)}


def phase(n, theirs, ratios, share=0.9):
    return {"extra_busy_processes": n, "authors_seconds_per_outer_iter": stats(theirs),
            "authors_cpu_seconds_per_outer_iter": stats([t * share for t in theirs]),
            "authors_cpu_share": [share] * 3, "ours_cpu_share": [0.5, 0.6, 0.7], "load_1min": [2.0, 2.5, 3.25],
            "ours_over_theirs_run_steps_per_s": stats(ratios)}


def write(root, name, level, created):
    folder = root / "bench" / "authors"
    folder.mkdir(parents=True, exist_ok=True)
    r = {"cpu": {"model": name, "level": level}, "created": created, "tensorflow": "2.21.0",
         "load_test": {"cores": 2, "phases": [phase(0, [0.1, 0.2, 0.3], [1.5, 1.25, 2.0]),
                                              phase(2, [0.4, 0.5, 0.6], [0.75, 1.0, 1.125]),
                                              phase(0, [0.05, 0.06, 0.07], [1.0, 1.0, 1.0])]},
         "run_omniglot_check": {
             "run_omniglot": [{"warm_cache": False, "seconds_per_train_step_median": 0.25,
                               "cpu_seconds_per_train_step_median": 0.125, "cpu_share": 0.5},
                              {"warm_cache": True, "seconds_per_train_step_median": 0.2,
                               "cpu_seconds_per_train_step_median": 0.1, "cpu_share": 0.75}],
             "synthetic_seconds_per_outer_iter": {"median": stats([0.1, 0.125, 0.15]), "cpu": stats([0.1, 0.1, 0.1])},
             "real_over_synthetic_cold": {"median_step": 2.0, "cpu_median_step": 1.25},
             "real_over_synthetic_warm": {"median_step": 1.5, "cpu_median_step": 1.0}}}
    (folder / f"{name}.json").write_text(json.dumps(r))


def test_the_tables_are_the_records(tmp_path):
    assert "not yet run" in authors.load_view(tmp_path).caption
    assert "not yet run" in authors.real_data_view(tmp_path).caption
    write(tmp_path, "newer-cpu", "avx512", "2026-12-07T00:00:00Z")
    write(tmp_path, "older-cpu", "amx", "2026-12-05T00:00:00Z")
    load = authors.load_view(tmp_path)
    df = load.frame
    assert list(df.index.get_level_values(0).unique()) == ["older-cpu, AMX", "newer-cpu, AVX-512"]  # oldest first
    assert list(df.loc["older-cpu, AMX"].index) == ["0 extra", "2 extra", "0 extra (again)"]
    row = df.loc[("newer-cpu, AVX-512", "2 extra")]
    assert row["theirs: s per outer iteration"] == "0.500" and row["theirs: CPU s per outer iteration"] == "0.450"
    assert row["core share, theirs / ours"] == "0.90 / 0.60" and row["load average"] == "2.0 to 3.2"
    assert authors._loads([4.21, 4.24]) == "4.2"  # one number where the range rounds to one
    assert row["ratio ours / theirs (median)"] == "1.00" and row["ratio range"] == "0.75 to 1.12"
    assert "newer-cpu, AVX-512: 2 cores, TensorFlow 2.21.0, recorded 2026-12-07" in load.caption
    real = authors.real_data_view(tmp_path).frame
    cold = real.loc[("older-cpu, AMX", "filling (cold)")]
    assert cold["script: s per step"] == "0.250" and cold["harness: s per step"] == "0.125"
    assert cold["script / harness"] == "2.00" and cold["the same in CPU time"] == "1.25"
    assert real.loc[("older-cpu, AMX", "filled first (warm)"), "script's core share"] == "0.75"


def test_the_stored_records_are_shown():
    """The committed records (results/bench/authors/): one row block per CPU in both tables."""
    recs = authors.records()
    assert recs and all(r["label"].split(", ")[-1] in authors.LEVEL.values() for r in recs)
    labels = set(authors.load_view().frame.index.get_level_values(0))
    assert labels == {r["label"] for r in recs if r.get("load_test")}


def test_the_summary_says_each_cpus_numbers(tmp_path):
    assert "No record of the authors' code under load" in authors.summary(tmp_path)
    write(tmp_path, "a-cpu", "avx2", "2026-12-07T00:00:00Z")
    text = authors.summary(tmp_path)
    assert text.startswith("On the a-cpu, AVX2, ours runs 1.00 to 1.50 times as fast as theirs")
    # the two phases without extra processes disagree (0.200 and 0.060 s): both are given
    assert ("is 0.200 s with no extra process in the first phase and 0.060 s in the last, and 0.500 s with 2 extra "
            "(2.5 and 8.3 times those); their CPU time per iteration is 0.180 and 0.054 s without, 0.450 s with them"
            ) in text
    assert "takes 1.50 times the harness's time per step with its image cache filled (1.00 in CPU time) and 2.00 " \
           "times while it fills (1.25)." in text
