"""The benchmark's arithmetic and report (timings themselves are never asserted)."""

import json
import os

import pandas as pd
import pytest
import torch

from reptile import bench
from reptile.bench import cli as bench_cli
from reptile.bench import paths as bench_paths
from reptile.bench.report import bench_table
from reptile.engine import fused


def test_useful_work_is_counted_by_hand():
    convs = 14 * 14 * 9 * 1 * 64 + 7 * 7 * 576 * 64 + 4 * 4 * 576 * 64 + 2 * 2 * 576 * 64
    assert bench_paths.forward_flops(5) == 2 * (convs + 256 * 5)
    first = 2 * 14 * 14 * 9 * 64
    assert bench_paths.step_flops(5, 10) == 10 * (3 * bench_paths.forward_flops(5) - first)
    cfg = bench_paths.setting("1-shot 5-way")
    assert bench_paths.eval_task_flops(cfg) == (86 * bench_paths.step_flops(5, 5) + bench_paths.forward_flops(5) * (5 * 6 + 5))


def test_report_has_every_path_and_ratios_to_the_reference(monkeypatch):
    monkeypatch.setattr("reptile.threads.cores", lambda: 1)  # no multi-process rows in a unit test
    report = bench.run(seconds=0.01, sizes=(1, 2), device="cpu", settings=("1-shot 5-way",), progress=False)
    paths = [r["path"] for r in report["rows"]]
    with_fused = fused.library() is not None  # then the PyTorch path and oneDNN's convolutions are timed too
    assert paths == ["reference", "solo", "population of 1", "population of 2"] + \
        ["population of 2, PyTorch kernels", "population of 3, oneDNN convolutions",
         "population of 3, oneDNN where it pays"] * with_fused
    assert report["fused_kernels"] is with_fused
    assert all(r["run_steps_per_s"] > 0 for r in report["rows"])
    table = bench_table(report)
    assert table.loc[0, "train x reference"] == 1.0
    row = report["rows"][2]
    assert table.loc[2, "train GFLOP/s"] == pytest.approx(row["run_steps_per_s"] * bench_paths.step_flops(5, 5) / 1e9)
    assert table.loc[2, "train % of matmul"] == pytest.approx(100 * table.loc[2, "train GFLOP/s"]
                                                              / report["matmul_gflops"]["1"])


def test_bench_refuses_bad_options(capsys):
    for args, message in [(["--seconds", "0"], "--seconds 0.0: allowed: a finite number of seconds per measurement"),
                          (["--tf"], "--tf needs --authors-code PATH")]:
        with pytest.raises(SystemExit) as stop:
            bench_cli.main(args)
        assert stop.value.code == 2 and message in capsys.readouterr().err


def _timed_run(folder, seeds=(0, 1, 2), digest="abc", switches=None):
    import json

    folder.mkdir(parents=True, exist_ok=True)
    for s in seeds:
        record = {"schema": 1, "experiment": "fewshot", "name": "omniglot-1shot-5way-custom-abc", "digest": digest,
                  "seed": s, "config": {"meta": {"outer_iters": 2000}, "eval_tasks": 100},
                  "train_seconds": 50.0, "seconds_per_eval_task": 0.001, "engine": {"name": "population"},
                  "eval": {"non_transductive": {"accuracy": 0.7 + s / 100}, "transductive": {"accuracy": 0.8}},
                  "environment": {"device": "cuda", "device_name": "Some GPU", "commit": "c0ffee", "date": "today"}}
        if switches is not None:
            record["environment"]["switches"] = switches
        (folder / f"seed-{s}.json").write_text(json.dumps(record))
    return folder


def test_a_timed_population_run_extrapolates_its_full_protocol(tmp_path):
    from reptile.artifacts.speed import population_run_table

    got = bench.population_run(_timed_run(tmp_path / "run"))
    assert got["preset"] == "omniglot-1shot-5way" and got["seeds"] == [0, 1, 2] and got["device"] == "Some GPU"
    assert got["outer_iters_per_s"] == 2000 / 50.0 and got["eval_tasks_per_s"] == 1000.0
    # the preset's 200,000 outer iterations at 40/s, and 10,000 tasks of each of 3 seeds at 1,000/s
    assert got["full_protocol"]["hours"] == pytest.approx((200_000 / 40 + 30_000 / 1000) / 3600, rel=1e-12)
    bench_cli.main(["--population-run", str(tmp_path / "run"), "--out", str(tmp_path / "results/bench/population")])
    table = population_run_table(tmp_path / "results")
    assert table.loc[("Some GPU", "omniglot-1shot-5way"), "accuracy of the timed run (%)"] == "71.00 ± 1.00"
    assert table.loc[("Some GPU", "omniglot-1shot-5way"), "full protocol, hours at these rates"] == 1.40
    assert table.loc[("Some GPU", "omniglot-1shot-5way"), "code"] == "c0ffee"  # the commit it was measured at
    assert table.loc[("Some GPU", "omniglot-1shot-5way"), "engine switches"] == "not recorded"
    for switches, shown in (({"REPTILE_COMPILE": "1", "REPTILE_FEW_KERNELS": "0"},
                             "REPTILE_COMPILE=1 REPTILE_FEW_KERNELS=0"), ({}, "defaults")):
        bench_cli.main(["--population-run", str(_timed_run(tmp_path / "run", switches=switches)),
                    "--out", str(tmp_path / "results/bench/population")])
        assert population_run_table(tmp_path / "results").loc[("Some GPU", "omniglot-1shot-5way"),
                                                              "engine switches"] == shown


def test_results_record_the_engine_switches_set(monkeypatch):
    from reptile import provenance

    for k in provenance.ENGINE_SWITCHES:
        monkeypatch.delenv(k, raising=False)
    assert provenance.environment(torch.device("cpu"))["switches"] == {}
    monkeypatch.setenv("REPTILE_COMPILE", "1")
    assert provenance.environment(torch.device("cpu"))["switches"] == {"REPTILE_COMPILE": "1"}


def test_a_population_run_summary_refuses_what_is_not_one(tmp_path):
    with pytest.raises(FileNotFoundError, match="no results files"):
        bench.population_run(tmp_path)
    _timed_run(tmp_path / "mixed", seeds=(0,))
    _timed_run(tmp_path / "mixed", seeds=(1,), digest="other")
    with pytest.raises(ValueError, match="does not hold the seeds of one population run"):
        bench.population_run(tmp_path / "mixed")


def test_an_optional_row_that_fails_is_left_empty_and_said():
    said = []

    def broken(*args):
        raise RuntimeError("no graph here")

    assert bench._measured(said.append, broken, 1) is None
    assert said == ["  not measured: RuntimeError: no graph here"]
    assert bench._measured(said.append, lambda a, b: a + b, 1, 2) == 3
    with pytest.raises(ValueError, match="replayed on a GPU, not on cpu"):
        bench_paths.population_replay(bench_paths.setting("1-shot 5-way"), 2, 0.1, torch.device("cpu"))


def test_populations_on_streams_are_timed_all_together(monkeypatch):
    """The row of ``campaign --streams`` (CUDA streams on a GPU; here threads on the CPU): every population advances,
    and the rate counts the run-steps of all of them."""
    import dataclasses

    from reptile.engine.population import Population

    cfg = bench_paths.setting("1-shot 5-way")
    cfg = dataclasses.replace(cfg, meta=dataclasses.replace(cfg.meta, meta_batch=1, inner_iters=2))
    advanced = []
    original = Population.meta_step
    monkeypatch.setattr(Population, "meta_step", lambda self: advanced.append(tuple(self.seeds)) or original(self))
    rate = bench_paths.population_streams(cfg, 2, 3, 0.5, torch.device("cpu"))
    assert rate > 0
    # three populations of 2, distinct seeds, each advanced by its thread after its first, untimed step
    assert {p: advanced.count(p) >= 2 for p in set(advanced)} == {(0, 1): True, (2, 3): True, (4, 5): True}


def test_the_profile_of_an_inner_step_counts_its_operations(capsys, tmp_path, monkeypatch):
    monkeypatch.delenv("REPTILE_ONEDNN", raising=False)  # the default path: no oneDNN convolution
    got = bench_paths.kernel_profile(bench_paths.setting("1-shot 5-way"), 2, torch.device("cpu"), iterations=1)
    assert got["inner_steps"] == 3 * 12 and got["operations"] > 20 and got["us_per_step"] > 0
    times = [r["us_per_step"] for r in got["rows"]]
    assert times == sorted(times, reverse=True)
    assert sum(r["per_step"] for r in got["rows"]) == pytest.approx(got["operations"])
    # every matrix multiply by its operands' shapes (layer 2's forward: 2 members x 5 images x 7 x 7 pixels, 3 x 3 x
    # 64 inputs), once per inner step, and each fused kernel: four batch norms forward and back, three col2im
    names = {r["name"]: r["per_step"] for r in got["rows"]}
    assert names["bmm (2, 245, 576) @ (2, 576, 64)"] == 1  # no bias: batch norm removes it
    assert names["fused bn_relu_forward"] == names["fused bn_relu_backward"] == 4 and names["fused col2im"] == 3
    split = got["split_us_per_step"]
    assert sum(split.values()) == pytest.approx(got["wall_us_per_step"]) and split.pop("oneDNN convolutions") == 0
    assert min(split.values()) > 0 and got["onednn_layers"] == [False] * 4
    assert got["useful_gflop_per_step"] == pytest.approx(2 * bench_paths.step_flops(5, 5) / 1e9)
    with pytest.raises(ValueError, match="iterations must be"):
        bench_paths.kernel_profile(bench_paths.setting("1-shot 5-way"), 2, torch.device("cpu"), iterations=0)
    out_dir = tmp_path / "results" / "bench" / "profile"
    bench_cli.main(["--profile", "--device", "cpu", "--population", "1", "--settings", "5-shot 5-way", "--out",
                str(out_dir)])
    out = capsys.readouterr().out
    assert "5-shot 5-way, population of 1 on cpu" in out and "% of the matrix-multiply rate" in out
    from reptile.artifacts.speed import KERNELS, profile_kernels_view, profile_rows, profile_view

    (stored,) = [json.loads(p.read_text()) for p in out_dir.glob("*.json")]
    row = profile_rows(stored)[0]
    assert row["setting"] == "5-shot 5-way" and row["member groups"] == "1" and stored["profiles"]["5-shot 5-way"][
        "member_groups"] == [1]
    stored["profiles"]["5-shot 5-way"].pop("member_groups")  # a report from before the groups: all members at once
    assert profile_rows(stored)[0]["member groups"] == "1"
    assert row["path"] == "default" and row["oneDNN layers"] == "-" and row["oneDNN convolutions %"] == 0
    assert row["matrix multiplies %"] + row["fused kernels %"] + row["rest %"] == pytest.approx(100)
    # the multiplies alone are faster than the whole step, by the step's time over theirs
    assert row["arithmetic alone, % of rate"] == pytest.approx(row["% of matmul rate"] * 100 / row["matrix multiplies %"])
    if fused.library() is not None:  # then also oneDNN's convolutions where they pay: the second layer, 5 x 7 x 7 rows
        dnn = profile_rows(stored)[1]
        assert (dnn["path"], dnn["oneDNN layers"]) == ("oneDNN where it pays", "2") and dnn["oneDNN convolutions %"] > 0
        assert dnn["matrix multiplies %"] + dnn["oneDNN convolutions %"] + dnn["fused kernels %"] + dnn["rest %"] == \
            pytest.approx(100)
        rows = {r["name"]: r["per_step"] for r in stored["profiles_onednn"]["5-shot 5-way"]["rows"]}
        assert rows["oneDNN forward 64->64 channels, 14x14 -> 7x7"] == rows["oneDNN backward 64->64 channels, 14x14 -> 7x7"] == 1
        assert not any(k.startswith("oneDNN") and "14x14" not in k for k in rows)
    else:
        assert stored["profiles_onednn"] == {}
    shown = profile_view(tmp_path / "results")
    assert "5-shot 5-way" in str(shown) and KERNELS not in shown.frame.columns  # apart, so the table fits the page
    kernels = profile_kernels_view(tmp_path / "results").frame
    assert list(kernels.columns) == ["oneDNN layers", "member groups", KERNELS]
    assert list(kernels.index) == list(shown.frame.index)
    assert kernels[KERNELS].iloc[0] == row[KERNELS] and row[KERNELS].count(",") == 2  # the three longest


def test_eval_share_of_the_matmul_rate_is_its_useful_gflops_over_the_rate():
    report = {"matmul_gflops": {"1": 100.0}, "rows": [
        {"setting": "1-shot 5-way", "path": "reference", "threads": 1, "processes": 1, "run_steps_per_s": 10.0,
         "eval_tasks_per_s": 2.0, "train_gflops": 20.0, "eval_gflops": 30.0},
        {"setting": "1-shot 5-way", "path": "population of 1", "threads": 1, "processes": 1,
         "run_steps_per_s": 20.0, "eval_tasks_per_s": None, "train_gflops": 40.0, "eval_gflops": None}]}
    table = bench_table(report)
    assert table.loc[0, "eval % of matmul"] == 30.0 and table.loc[0, "train % of matmul"] == 20.0
    assert pd.isna(table.loc[1, "eval % of matmul"]) and table.loc[1, "train x reference"] == 2.0


def test_versus_pairs_ratios_ours_over_theirs():
    from reptile.bench.versus import summary

    got = summary([2.0, 4.0, 1.0], [3.0, 4.0, 1.5])
    assert got["ratios"] == [1.5, 1.0, 1.5] and got["median"] == 1.5 and (got["min"], got["max"]) == (1.0, 1.5)


@pytest.mark.parametrize("mode", ["train", "eval"])
def test_versus_times_training_and_evaluation_in_a_fresh_process(mode):
    """What --versus runs in each tree: a fresh one-thread process importing the package from that tree, here this
    checkout's on the ci preset, reporting outer iterations or test tasks per second."""
    from reptile import results as R
    from reptile.bench.versus import _rate

    assert _rate(R.REPO_ROOT / "src", "ci", 2, 0.01, mode) > 0


def test_versus_refuses_what_is_not_a_commit_before_any_timing(capsys):
    from reptile.bench.versus import versus

    with pytest.raises(ValueError, match="--versus no-such-rev: not a commit"):
        versus("no-such-rev", ["omniglot-1shot-20way"])
    for args, message in [(["--versus", "HEAD", "--versus-presets", "omniglot-2shot"],
                           "--versus-presets omniglot-2shot: allowed: few-shot or Figure 3 presets"),
                          (["--versus", "HEAD", "--repetitions", "0"], "--repetitions 0: allowed: an integer >= 1"),
                          (["--versus", "no-such-rev", "--seconds", "0.01"], "--versus no-such-rev: not a commit")]:
        with pytest.raises(SystemExit) as stop:
            bench_cli.main(args)
        assert stop.value.code == 2 and message in capsys.readouterr().err


def test_authors_comparison_alternates_and_reports_each_pair(monkeypatch):
    """With the authors' timer and our timings replaced by counters: the order is ours, theirs, theirs, ours, ...
    and each ratio is ours over theirs of one pair."""
    import reptile.bench.tf_harness as H

    calls = []

    class FakeTimer:
        info = {"tensorflow": "x"}

        def __init__(self, *a, **k):
            pass

        def __enter__(self):
            return self

        def __exit__(self, *a):
            pass

        def train(self, seconds):
            calls.append("theirs")
            return {"run_steps_per_s": 10.0, "cpu_share": 0.5}

        def evaluate(self, seconds):
            calls.append("theirs eval")
            return {"eval_tasks_per_s": 4.0}

    monkeypatch.setattr(H, "AuthorsTimer", FakeTimer)
    def ours(size):  # the oneDNN path (REPTILE_ONEDNN=1) twice as fast as the default one
        calls.append(f"ours {size}")
        return 5.0 * size * (2 if os.environ.get("REPTILE_ONEDNN") == "1" else 1)

    monkeypatch.setattr(bench, "population_training", lambda cfg, size, s, dev: ours(size))
    monkeypatch.setattr(bench, "population_evaluation", lambda cfg, s, dev: calls.append("ours eval") or 2.0)
    got = bench.authors_versus(bench_paths.setting("1-shot 20-way"), "1shot-20way", 0.01, torch.device("cpu"),
                               repetitions=2)
    assert calls[:4] == ["ours 1", "theirs", "theirs", "ours 1"]
    assert got["train, population of 1"]["ratios"] == [0.5, 0.5]
    assert got["train, population of 3"]["ratios"] == [1.5, 1.5]
    assert got["train, population of 3"]["their_cpu_share"] == [0.5, 0.5]
    assert got["evaluation"]["median"] == 0.5 and got["tensorflow"] == "x"
    if fused.library() is not None:  # on a CPU with the fused kernels: oneDNN's convolutions where they pay too
        assert got["train, population of 3, oneDNN where it pays"]["ratios"] == [3.0, 3.0]
        assert got["evaluation, oneDNN where it pays"]["median"] == 0.5
        assert "train, population of 1, oneDNN where it pays" not in got
    else:
        assert not any("oneDNN" in k for k in got)
    assert set(bench_paths.AUTHORS_SETTING.values()) == set(H.SETTINGS)  # every campaign setting is compared


def test_speed_views_read_the_stored_reports(tmp_path):
    from reptile.artifacts.speed import authors_view, profile_view, versus_view

    assert "not yet run: python -m reptile.bench --versus REV" in str(versus_view(tmp_path))
    assert "not yet run" in str(authors_view(tmp_path)) and "not yet run" in str(profile_view(tmp_path))
    folder = tmp_path / "bench" / "versus"
    folder.mkdir(parents=True)
    from reptile.bench.versus import summary

    (folder / "cpu-abc1234.json").write_text(json.dumps({  # a report from before evaluation was timed
        "versus": "abc1234" + "0" * 33, "this": "def5678", "population": 3, "seconds_per_measurement": 20.0,
        "repetitions": 2, "settings": {"omniglot-1shot-20way": summary([2.0, 3.0], [3.0, 3.3])}}))
    (folder / "cpu-def5678.json").write_text(json.dumps({
        "versus": "def5678" + "0" * 33, "this": "f00d123", "population": 3, "seconds_per_measurement": 20.0,
        "repetitions": 2, "settings": {"omniglot-1shot-20way": summary([2.0, 2.0], [2.0, 2.2])},
        "evaluation": {"omniglot-1shot-20way": summary([1.0, 1.0], [1.5, 1.7])}}))
    shown = versus_view(tmp_path).frame
    row = shown.loc[("abc1234 → def5678 (2 pairs of 20 s)", "omniglot-1shot-20way", "training, outer it/s")]
    assert row["ratio (median)"] == "1.30" and row["ratio range"] == "1.10 to 1.50"
    assert row["earlier"] == "2.50" and row["later"] == "3.15"
    old = ("abc1234 → def5678 (2 pairs of 20 s)", "omniglot-1shot-20way", "evaluation, test tasks/s")
    assert old not in shown.index
    row = shown.loc[("def5678 → f00d123 (2 pairs of 20 s)", "omniglot-1shot-20way", "evaluation, test tasks/s")]
    assert row["ratio (median)"] == "1.60" and row["earlier"] == "1.00" and row["later"] == "1.60"
    t = {"ours": [2.0, 4.0], "theirs": [1.0, 1.0], "ratios": [2.0, 4.0], "median": 3.0, "min": 2.0, "max": 4.0,
         "our_cpu_share": [0.9, 1.0], "their_cpu_share": [0.5, 0.7]}
    (tmp_path / "bench" / "cpu.json").write_text(json.dumps({
        "device": "cpu-x", "matmul_gflops": {"1": 100.0}, "rows": [], "environment": {"commit": "c0ffee0"},
        "load_average": [1.5, 1.0, 1.0], "cpu": {"model": "Some CPU", "features": ["avx2"]},
        "authors_interleaved": {"1-shot 20-way": {"train, population of 1": t, "tensorflow": "2.21.0"}}}))
    view = authors_view(tmp_path)
    row = view.frame.loc[("1-shot 20-way", "train, population of 1")]  # one device: named in the caption
    assert row["ratio (median)"] == "3.00" and row["ratio range"] == "2.00 to 4.00"
    assert row["core share, ours / theirs"] == "0.95 / 0.60"
    assert "Some CPU (CPU), flags avx2, TensorFlow 2.21.0" in view.caption
    from reptile.artifacts.speed import device_name  # a page names devices, not the slugs that key the reports
    assert device_name({"device": "cpu-x"}, tmp_path) == "Some CPU (CPU)"  # a profile: the main report's name
    assert device_name({"device": "cpu-y", "cpu": {"model": "Intel(R) Xeon(R)  Gold"}}) == "Intel Xeon Gold (CPU)"
    assert device_name({"device": "nvidia-h200", "environment": {"device": "cuda", "device_name": "NVIDIA H200"}}) \
        == "NVIDIA H200"
    assert device_name({"device": "cpu-z"}, tmp_path) == "cpu-z"  # nothing names it: its slug


def test_versus_on_a_shallow_clone_says_how_to_fetch_the_history(tmp_path):
    """A reader who cloned with --depth 1 (as the README advises) and asks for an older commit is told why it is
    missing and how to get it, before anything is timed."""
    import subprocess

    from reptile.bench.versus import versus

    origin = tmp_path / "origin"
    origin.mkdir()
    git = ["git", "-c", "user.name=t", "-c", "user.email=t@t", "-c", "init.defaultBranch=main"]
    subprocess.run(git + ["init", "-q", str(origin)], check=True)
    for i in range(2):
        (origin / "f").write_text(str(i))
        subprocess.run(git + ["-C", str(origin), "add", "f"], check=True)
        subprocess.run(git + ["-C", str(origin), "commit", "-qm", f"c{i}"], check=True)
    first = subprocess.run(["git", "-C", str(origin), "rev-parse", "HEAD~1"], capture_output=True, text=True,
                           check=True).stdout.strip()
    clone = tmp_path / "clone"
    subprocess.run(["git", "clone", "-q", "--depth", "1", f"file://{origin}", str(clone)], check=True)
    with pytest.raises(ValueError, match=r"not a commit of .*shallow clone .*git fetch --unshallow"):
        versus(first, ["omniglot-1shot-5way"], repo=clone, progress=lambda *a: None)
    with pytest.raises(ValueError, match=r"not a commit of") as full:
        versus("0" * 40, ["omniglot-1shot-5way"], repo=origin, progress=lambda *a: None)
    assert "shallow clone (git clone" not in str(full.value)
