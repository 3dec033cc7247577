"""The status page's tables (reptile.artifacts.status: the *_view functions, speed_summary, speed_report): captions
that say what the rows are and hold the columns every row shares, formatted numbers, and the short speed table's
choice of row."""

import json

import pytest

from reptile.artifacts import speed, status
from reptile.artifacts.common import Table


def _row(setting, path, rate, gflops, eval_rate=None, threads=1, processes=1):
    return {"setting": setting, "path": path, "threads": threads, "processes": processes, "population": None,
            "run_steps_per_s": rate, "eval_tasks_per_s": eval_rate, "train_gflops": gflops, "eval_gflops": None}


def bench_reports(root):
    folder = root / "bench"
    folder.mkdir(parents=True)
    cpu = {"device": "cpu-test", "matmul_gflops": {"1": 100.0, "2": 190.0}, "environment": {"commit": "a" * 40},
           "rows": [_row("1-shot 5-way", "reference", 200.0, 15.0, 2.0),
                    _row("1-shot 5-way", "population of 8", 600.0, 45.0, 7.0),
                    _row("1-shot 5-way", "population of 8, 2 processes", 1100.0, 90.0, 13.0, processes=2),
                    _row("1-shot 5-way", "authors (TensorFlow)", 300.0, 22.5, 4.0)]}
    gpu = {"device": "gpu-test", "matmul_gflops": {"gpu": 50000.0}, "environment": {"commit": "b" * 40, "dirty": True},
           "rows": [_row("1-shot 5-way", "reference", 250.0, 20.0, 3.0),
                    _row("1-shot 5-way", "population of 64", 40000.0, 3000.0),
                    _row("1-shot 5-way", "population of 64, graph replay only", 80000.0, 6000.0)]}
    for rep in (cpu, gpu):
        (folder / f"{rep['device']}.json").write_text(json.dumps(rep))


def test_the_short_speed_table_is_the_fastest_engine_path_on_one_core(tmp_path):
    bench_reports(tmp_path)
    t = speed.speed_summary(tmp_path)
    assert isinstance(t, Table)
    df = t.frame
    assert list(df.columns) == ["engine path", "run-steps/s", "useful GFLOP/s", "% of matmul", "× reference",
                                "× authors"]
    # the CPU: 2 processes use 2 cores, the reference 1; the GPU: "graph replay only" is no training rate
    assert df.loc[("cpu-test", "1-shot 5-way")].tolist() == ["population of 8", "600", "45", "45.0", "3.00", "2.00"]
    assert df.loc[("gpu-test", "1-shot 5-way")].tolist() == ["population of 64", "40,000", "3,000", "6.0", "160.00",
                                                             "-"]
    assert "cpu-test 100 on 1 core, 190 on 2 cores (code aaaaaaa)" in t.caption
    assert "gpu-test 50,000 on the GPU (code bbbbbbb+dirty)" in t.caption
    html = t._repr_html_()
    assert "<caption>" in html and "text-align: right" in html
    assert "No ratio to the authors' code" not in t.caption
    assert "+dirty: measured with uncommitted changes" in t.caption  # the GPU report's
    # a report measured under load (load average above its cores): no ratio to the authors' code, and the caption
    # says why and where the comparison in turns is
    path = tmp_path / "bench" / "cpu-test.json"
    rep = json.loads(path.read_text())
    path.write_text(json.dumps({**rep, "load_average": [5.6, 5.0, 4.0], "cores": 2}))
    loaded = speed.speed_summary(tmp_path)
    assert loaded.frame.loc[("cpu-test", "1-shot 5-way"), "× authors"] == "-"
    assert loaded.frame.loc[("cpu-test", "1-shot 5-way"), "× reference"] == "3.00"
    assert "No ratio to the authors' code is given for cpu-test: measured under load" in loaded.caption


def test_the_full_speed_report_has_every_path_for_training_and_the_timed_ones_for_evaluation(tmp_path):
    bench_reports(tmp_path)
    train = speed.speed_report(tmp_path, part="training").frame
    assert len(train) == 7 and list(train.columns) == ["run-steps/s", "GFLOP/s per core", "% of matmul",
                                                       "× reference", "× authors"]
    assert train.loc[("cpu-test", "1-shot 5-way", "population of 8, 2 processes")].tolist() == \
        ["1,100", "45.0", "47.4", "5.50", "3.67"]  # 90 GFLOP/s on 2 cores, of 190
    assert "one CPU core, or the one GPU, except: 'population of 8, 2 processes' 2 cores." in \
        speed.speed_report(tmp_path).caption
    ev = speed.speed_report(tmp_path, part="evaluation").frame
    assert len(ev) == 5  # the GPU's populations timed no evaluation
    assert ev.loc[("cpu-test", "1-shot 5-way", "reference")].tolist() == ["500", "1.00", "0.50"]
    assert ev.loc[("cpu-test", "1-shot 5-way", "population of 8, 2 processes")].tolist() == \
        ["154", "6.50", "3.25"]  # core-milliseconds: 2 cores / 13 tasks/s
    with pytest.raises(ValueError, match="part must be 'training' or 'evaluation', got 'eval'"):
        speed.speed_report(tmp_path, part="eval")
    assert "not yet run: python -m reptile.bench" in repr(speed.speed_summary(tmp_path / "empty"))


def _run(experiment, name, seed, python="3.11.7", torch="2.14.1", commit="c" * 40, wall=10.0):
    return {"experiment": experiment, "name": name, "seed": seed, "wall_seconds": wall,
            "environment": {"python": python, "device_name": "cpu", "packages": {"torch": torch, "numpy": "2.0"},
                            "commit": commit, "dirty": False, "date": "2026-12-01T00:00:00+00:00"}}


def test_the_environment_table_numbers_the_package_tables_columns_and_says_what_rows_share(tmp_path):
    runs = [_run("sine", "paper", s) for s in (0, 1, 2)] + \
           [_run("taylor", "default", 0, python="3.12.3", torch="2.11.0", wall=5.0)]
    env = status.environment_view(runs)
    assert list(env.frame.index) == [("sine/paper", "0 1 2"), ("taylor/default", "0")]
    assert env.frame["env."].tolist() == ["1", "2"]
    # the columns every row shares are said in the caption, not repeated in the table
    assert "devices" not in env.frame.columns and "commit" not in env.frame.columns
    assert "devices: cpu; evaluated on: cpu; commit: ccccccc; trained at: -; date: 2026-12-01." in env.caption
    assert "evaluated on: the device(s) of the final evaluation" in env.caption
    # a population trained on two devices and evaluated on the first: the evaluation's device is its own column
    moved = dict(_run("fewshot", "x", 0), engine={"name": "population", "segments": [
        {"device": "NVIDIA H200", "start": 0, "end": 10}, {"device": "cpu", "start": 10, "end": 15}],
        "evaluation_devices": ["NVIDIA H200"]})
    row = status.environment_view(runs + [moved]).frame.loc[("fewshot/x", "0")]
    assert row["evaluated on"] == "NVIDIA H200" and "cpu" in row["devices"]
    assert row["trained at"] == "not recorded"  # its pieces record no code
    # the code of each piece, where recorded: one commit, or how many with the first and the last
    segs = moved["engine"]["segments"]
    assert status.trained_at(moved) == "not recorded" and status.trained_at(runs[0]) == "-"
    segs[0]["code"], segs[1]["code"] = "aaaaaaa", "aaaaaaa"
    assert status.trained_at(moved) == "aaaaaaa"
    segs.append({"device": "cpu", "start": 15, "end": 20, "code": "bbbbbbb"})
    segs.append({"device": "cpu", "start": 20, "end": 25})
    assert status.trained_at(moved) == "2 commits, aaaaaaa to bbbbbbb (1 of 4 pieces unrecorded)"
    # seeds of one configuration from two commits: a row each, labelled by their seeds, and the page can draw it
    later = [_run("taylor", "default", s, python="3.12.3", torch="2.11.0", commit="d" * 40) for s in (1, 2)]
    two = status.environment_view(runs + later)
    assert [i for i in two.frame.index if i[0] == "taylor/default"] == [("taylor/default", "0"), ("taylor/default", "1 2")]
    assert "<table" in two._repr_html_()
    (tmp_path / "requirements.txt").write_text("# pins\ntorch==2.14.1  # the CUDA build\nnumpy==2.0\npapermill>=2\n")
    (tmp_path / "environment.yml").write_text("dependencies:\n  - python=3.11\n  - pip\n")
    assert status.pins(tmp_path) == {"torch": "2.14.1", "numpy": "2.0", "python": "3.11"}
    pk = status.package_view(runs, root=tmp_path)
    assert list(pk.frame.columns) == ["1 (3 runs)", "2 (1 runs)"]
    assert pk.frame.loc["python"].tolist() == ["3.11.7", "3.12.3"] and pk.frame.loc["torch"].tolist() == \
        ["2.14.1", "2.11.0"]
    # the caption says which environment the pins are, and what the others ran instead
    assert "(requirements.txt with constraints.txt, and Python 3.11 in environment.yml) are environment 1." in pk.caption
    assert "Environment 2 is not: it ran python 3.12.3, torch 2.11.0, so the pins" in pk.caption
    for r in runs[:3]:
        r["environment"]["packages"]["numpy"] = "2.1"
    assert "No environment is the pinned one" in status.package_view(runs, root=tmp_path).caption
    assert status.pins()["python"] and status.pins()["torch"]  # the repository's own pins are read
    cov = status.coverage_view(runs)
    assert cov.frame.loc[("paper Section 3, Figure 1: sine-wave regression", "paper"), "seeds"] == "0 1 2"
    assert cov.frame.loc[("paper Section 5.2, Figure 3: gradient combinations", "-"), "seeds"] == "not yet run"


def test_the_campaign_table_formats_hours_and_names_the_shared_seeds(tmp_path, monkeypatch):
    from reptile import campaign

    rows = [{"population": "fewshot/a", "seeds": "0 1 2", "state": "training", "outer iterations": "10 / 100",
             "evaluation tasks": "-", "device hours": 1.234, "devices": "cpu: 10", "outer it/s": 2.5,
             "hours left (training)": 0.01, "evaluation tasks/s": "-", "hours left (evaluation)": "-",
             "test accuracy (%)": "-"},
            {"population": "gradcomb/b", "seeds": "0 1 2", "state": "done", "outer iterations": "100 / 100",
             "evaluation tasks": "30 / 30", "device hours": 2.0, "devices": "cpu: 100", "outer it/s": "-",
             "hours left (training)": "-", "evaluation tasks/s": "-", "hours left (evaluation)": "-",
             "test accuracy (%)": "95.00 ± 0.10"}]
    monkeypatch.setattr(campaign.plan, "progress", lambda plan=campaign.PLAN, results_dir=None: rows)
    t = status.campaign_view_table(tmp_path)
    assert t.frame.loc["fewshot/a"].tolist() == ["10 / 100", "1.23", "cpu: 10", "2.5 it/s", "0.01", "-"]
    assert t.frame.loc["gradcomb/b"].tolist() == ["done", "2.00", "cpu: 100", "-", "-", "95.00 ± 0.10"]
    assert "Each population trains seeds 0 1 2 of its configuration together." in t.caption
    rows.append({**rows[0], "population": "maml/c"})  # a MAML entry trains its seeds one after another
    t = status.campaign_view_table(tmp_path)
    assert "seeds 0 1 2 of its configuration (Reptile's together, MAML's one after another)." in t.caption


def test_the_timed_population_runs_put_what_every_row_shares_in_the_caption(tmp_path):
    folder = tmp_path / "bench" / "population"
    folder.mkdir(parents=True)
    for device, rate, commit in (("GPU one", 40.0, "d" * 40), ("GPU two", 50.0, "e" * 40)):
        (folder / f"{device}.json").write_text(json.dumps({
            "device": device, "preset": "omniglot-1shot-5way", "seeds": [0, 1, 2], "outer_iters": 2000,
            "outer_iters_per_s": rate, "eval_tasks_per_s": 400.0, "commit": commit, "switches": {},
            "accuracy": {"non_transductive": [0.7, 0.72, 0.74]},
            "full_protocol": {"outer_iters": 200000, "eval_tasks_per_seed": 10000, "hours": 200000 / rate / 3600}}))
    t = speed.population_run_view(tmp_path)
    assert list(t.frame.index) == ["GPU one", "GPU two"]
    assert t.frame.loc["GPU one"].tolist() == ["ddddddd", "40.0", "1.39"]
    assert ("Every row has preset: omniglot-1shot-5way; engine switches: defaults; seeds: 0 1 2; outer iterations: "
            "2,000; eval tasks/s: 400.0; accuracy (%): 72.00 ± 2.00; full protocol: 200,000 outer it., 10,000 tasks "
            "per seed.") in t.caption
    assert "python -m reptile.bench --population-run DIR" in repr(speed.population_run_view(tmp_path / "none"))
    # paper Table 3's 1-shot 5-way cell: a meta-batch of 3 tasks of 12 inner steps, 200,000 outer iterations
    said = speed.dependent_steps("omniglot-1shot-5way")
    assert "is 36 inner steps (3 tasks of 12)" in said and "7.2 million dependent steps per seed" in said


def test_chapter_costs_are_read_from_the_records():
    """One wall time per population (its seeds share it), per-seed times for solo runs, Figure 3's curves as one
    row, and each device's training rate from the pieces a population was trained in."""
    from reptile.artifacts.status import chapter_costs

    env = {"device_name": "cpu"}
    segs = [{"device": "cpu", "start": 0, "end": 100, "seconds": 50.0},
            {"device": "NVIDIA H200", "start": 100, "end": 1100, "seconds": 40.0}]
    pop = [{"experiment": "fewshot", "name": "omniglot-1shot-5way", "seed": s, "wall_seconds": 7200.0,
            "environment": env, "engine": {"name": "population", "seeds": [0, 1], "segments": segs}} for s in (0, 1)]
    solo = [{"experiment": "sine", "name": "paper", "seed": s, "wall_seconds": w, "environment": env}
            for s, w in ((0, 1140.0), (1, 1440.0))]
    curves = [{"experiment": "gradcomb", "name": f"figure3-{c}", "seed": 0, "wall_seconds": w, "environment": env}
              for c, w in (("g1", 30.0), ("sum2", 90.0))]
    frame = chapter_costs(pop + solo + curves).frame
    sine = frame.loc[("Sine wave (paper Section 3)", "paper")]
    assert sine["time per run"] == "19 to 24 min" and sine["seeds"] == "0 1"
    few = frame.loc[("Few-shot (paper Tables 1-2)", "omniglot-1shot-5way")]
    assert few["time per run"] == "2.0 h"  # the population's, counted once
    assert few["outer it/s by device"] == "NVIDIA H200: 25.0; cpu: 2.0"  # 1,000 / 40 s and 100 / 50 s
    assert frame.loc[("Figure 3 (paper Section 5.2)", "figure3-*"), "time per run"] == "30 to 90 s"
    assert list(frame.index.get_level_values(0)) == ["Sine wave (paper Section 3)", "Few-shot (paper Tables 1-2)",
                                                     "Figure 3 (paper Section 5.2)"]
