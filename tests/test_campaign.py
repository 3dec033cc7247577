"""The campaign: a population advanced a piece at a time gives the numbers of one uninterrupted advance."""

import dataclasses
import json
import os
import signal
import statistics
import subprocess
import sys
import time
from pathlib import Path
from types import SimpleNamespace

import pytest
import torch

from reptile import campaign
from reptile.campaign import workers as campaign_workers
from reptile.artifacts.status import campaign_view, progress_frame
from reptile.config import FIGURE3_PRESETS
from test_engine import images

TOL_FORWARD = 1e-4  # float32 logits of the module and the engine's network, same weights (different kernels)


def tiny_entry():
    cfg = FIGURE3_PRESETS["reduced-figure3-last2"]
    cfg = dataclasses.replace(cfg, name="tiny", eval_tasks=6, curve_every=2, curve_tasks=3,
                              meta=dataclasses.replace(cfg.meta, outer_iters=4))
    return campaign.Entry("gradcomb", "tiny", (0, 1), cfg)


def splits():
    return [(SimpleNamespace(images=images(seed=s)), SimpleNamespace(images=images(seed=10 + s))) for s in (0, 1)]


def records(root, entry):
    out = []
    for s in entry.seeds:
        r = json.loads((root / "gradcomb" / "tiny" / f"seed-{s}.json").read_text())
        out.append((r["curve"], r["eval"]))
    return out


def test_a_campaign_resumed_piece_by_piece_gives_the_uninterrupted_numbers(tmp_path, monkeypatch):
    monkeypatch.setattr(campaign.runs, "EVAL_BLOCK", 4)  # evaluation blocks that straddle calls too
    entry = tiny_entry()
    whole, pieces = tmp_path / "whole", tmp_path / "pieces"
    assert campaign.advance(entry, 1e9, "cpu", whole, progress=False, splits=splits())
    calls = 0
    while not campaign.advance(entry, 0.0, "cpu", pieces, progress=False, splits=splits()):
        calls += 1
        (row,) = campaign.progress([entry], pieces)
        assert row["state"] in ("training", "evaluating")
        assert calls < 20
    assert calls >= 4 + 2  # one outer iteration per call, then the evaluation in blocks
    assert records(pieces, entry) == records(whole, entry)
    assert not campaign.checkpoint_path(entry, pieces).exists()  # deleted once the records are written
    assert campaign.finished(entry, pieces)
    row = campaign.progress([entry], pieces)[0]
    assert row["state"] == "done"
    accs = [100 * ev["non_transductive"]["accuracy"] for _, ev in records(pieces, entry)]
    assert row["test accuracy (%)"] == f"{statistics.mean(accs):.2f} ± {statistics.stdev(accs):.2f}"
    # a configuration trained for transduction reports its transductive accuracy, and says so
    table5 = campaign.Entry("gradcomb", "tiny-transductive", entry.seeds, entry.config)
    for s in entry.seeds:
        src = json.loads((pieces / "gradcomb" / "tiny" / f"seed-{s}.json").read_text())
        src["name"] = "tiny-transductive"
        dest = pieces / "gradcomb" / "tiny-transductive" / f"seed-{s}.json"
        dest.parent.mkdir(exist_ok=True)
        dest.write_text(json.dumps(src))
    accs = [100 * ev["transductive"]["accuracy"] for _, ev in records(pieces, entry)]
    assert campaign.progress([table5], pieces)[0]["test accuracy (%)"] == \
        f"{statistics.mean(accs):.2f} ± {statistics.stdev(accs):.2f} (transductive)"


def test_campaign_refuses_bad_input(tmp_path, monkeypatch, capsys):
    with pytest.raises(ValueError, match="minutes must be a finite number > 0, got 0"):
        campaign.run(0)
    with pytest.raises(ValueError, match="minutes must be a finite number > 0, got inf"):
        campaign.run(float("inf"))
    with pytest.raises(ValueError, match="workers must be an integer >= 1, got 0"):
        campaign_workers.run_workers(1.0, 0)
    monkeypatch.setenv("REPTILE_RESULTS", str(tmp_path))  # a refusal that slipped through would show an empty plan
    for argv, message in (([], "give --minutes N to advance the campaign, or --status"),
                          (["--minutes", "1", "--workers", "0"], "--workers 0: allowed: an integer >= 1"),
                          (["--minutes", "1", "--only", "figure3-last9"], "no planned population named 'figure3-last9'")):
        with pytest.raises(SystemExit) as stop:
            campaign.main(argv)
        assert stop.value.code == 2 and message in capsys.readouterr().err, argv


def test_workers_pass_over_an_entry_another_process_is_advancing(tmp_path, monkeypatch):
    first, second = tiny_entry(), dataclasses.replace(tiny_entry(), seeds=(2, 3))
    advanced = []
    monkeypatch.setattr(campaign.runs, "advance", lambda entry, *a, **k: advanced.append(entry.key) or True)
    with campaign.claim(first, tmp_path) as mine:
        assert mine
        with campaign.claim(first, tmp_path) as again:  # a second holder (another worker) is refused
            assert not again
        assert campaign.run(1, "cpu", [first, second], tmp_path, progress=False) == [second.key]
    assert advanced == [second.key]
    assert campaign.run(1, "cpu", [first], tmp_path, progress=False) == [first.key]  # released: free again


def test_stream_workers_are_threads_that_share_the_plan_and_give_the_numbers_of_one_worker(tmp_path, monkeypatch,
                                                                                           capsys):
    """``campaign --streams`` (on a GPU, each thread on a CUDA stream of its own): here on the CPU, without streams,
    the orchestration: two threads claim the two entries, and each entry's records are those of an advance alone."""
    import torch

    monkeypatch.setattr(campaign.runs, "EVAL_BLOCK", 4)
    first, second = tiny_entry(), dataclasses.replace(tiny_entry(), name="tiny2", seeds=(2, 3))
    original = campaign.advance
    monkeypatch.setattr(campaign.runs, "advance", lambda entry, *a, **k: original(
        entry, *a, **k, splits=[(SimpleNamespace(images=images(seed=s)), SimpleNamespace(images=images(seed=10 + s)))
                                for s in entry.seeds]))
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # the same arithmetic in both threads as alone
    try:
        done = campaign_workers.run_streams(1.0, 2, "cpu", plan=[first, second], results_dir=tmp_path / "streams",
                                    progress=False, delay=0.2)
        for e in (first, second):
            assert campaign.runs.advance(e, 1e9, "cpu", tmp_path / "alone", progress=False)
    finally:
        torch.set_num_threads(threads)
    assert sorted(done) == sorted([first.key, second.key])

    def records_of(root, e):
        return [json.loads((root / "gradcomb" / e.name / f"seed-{s}.json").read_text())["eval"] for s in e.seeds]

    for e in (first, second):
        assert records_of(tmp_path / "streams", e) == records_of(tmp_path / "alone", e)
        # each segment says how many populations shared the device: two threads here, one alone
        for root, n in (("streams", 2), ("alone", 1)):
            rec = json.loads((tmp_path / root / "gradcomb" / e.name / f"seed-{e.seeds[0]}.json").read_text())
            assert [seg["populations_at_once"] for seg in rec["engine"]["segments"]] == [n]
    with pytest.raises(ValueError, match="workers must be an integer >= 1, got 0"):
        campaign_workers.run_streams(1.0, 0, "cpu")
    monkeypatch.setenv("REPTILE_COMPILE", "1")
    with pytest.raises(ValueError, match="do not combine with REPTILE_COMPILE=1"):
        campaign_workers.run_streams(1.0, 2, "cpu")
    monkeypatch.delenv("REPTILE_COMPILE")
    capsys.readouterr()
    with pytest.raises(SystemExit) as stop:  # --streams needs a GPU
        campaign.main(["--minutes", "1", "--streams", "--device", "cpu"])
    assert stop.value.code == 2 and "--streams runs the workers on CUDA streams: it needs a GPU" in capsys.readouterr().err


def test_the_plan_is_the_issue_order():
    names = [e.name for e in campaign.PLAN]
    assert names[:10] == [f"figure3-{c}" for c in campaign.FIGURE3_CURVES]
    assert names[10:16] == ["omniglot-5shot-5way", "omniglot-1shot-5way", "omniglot-1shot-5way-transductive",
                          "omniglot-1shot-20way", "omniglot-5shot-20way",
                          "omniglot-1shot-5way-transductive-eval25"]  # after the issue's order: the authors' batch
    assert {e.experiment for e in campaign.PLAN[16:]} == {"maml"}  # beyond the paper, after Reptile's cells
    assert all(e.seeds == (0, 1, 2) and e.config.budget == "paper" for e in campaign.PLAN)
    # only the eval-batch-25 rerun plans an evaluation-batch check, with the two batches its chapter compares
    from reptile.artifacts import transduction_batch as TB

    assert [(e.name, e.batch_check) for e in campaign.PLAN if e.batch_check] == \
        [(TB.RERUN, (TB.TABLE5_BATCH, TB.AUTHORS_BATCH))]


def test_only_selects_planned_populations_in_the_order_named():
    chosen = campaign.select(["omniglot-5shot-5way", "figure3-last4", "gradcomb-figure3-sum3-seeds0-1-2",
                              "figure3-last4"])
    assert [e.name for e in chosen] == ["omniglot-5shot-5way", "figure3-last4", "figure3-sum3"]
    assert campaign.select(None) == campaign.PLAN == campaign.select([])
    with pytest.raises(ValueError, match="no planned population named 'figure3-last9'; allowed: figure3-g1, "):
        campaign.select(["figure3-last9"])


def _sleep_as_a_worker(ready, seconds):
    assert campaign_workers.die_with_parent()
    Path(ready).touch()
    time.sleep(seconds)


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="PR_SET_PDEATHSIG is Linux's")
def test_workers_end_when_the_campaign_process_is_killed(tmp_path):
    """A campaign stopped with kill (not only Ctrl-C) takes its workers with it."""
    script, ready = tmp_path / "parent.py", tmp_path / "armed"
    script.write_text(
        "import multiprocessing as mp, sys, time\n"
        f"sys.path[:0] = [{str(Path(__file__).parent)!r}]\n"
        "from test_campaign import _sleep_as_a_worker\n"
        "if __name__ == '__main__':\n"
        f"    p = mp.get_context('spawn').Process(target=_sleep_as_a_worker, args=({str(ready)!r}, 120))\n"
        "    p.start()\n"
        "    print(p.pid, flush=True)\n"
        "    time.sleep(120)\n")
    parent = subprocess.Popen([sys.executable, str(script)], stdout=subprocess.PIPE, text=True)
    child = int(parent.stdout.readline())
    deadline = time.time() + 60
    while not ready.exists() and time.time() < deadline:  # the worker has armed its parent-death signal
        time.sleep(0.1)
    assert ready.exists() and _alive(child)
    parent.kill()
    parent.wait()
    deadline = time.time() + 10
    while _alive(child) and time.time() < deadline:
        time.sleep(0.1)
    assert not _alive(child)


def _alive(pid):
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().split(")")[-1].split()[0] != "Z"  # a zombie has ended
    except FileNotFoundError:
        return False


@pytest.fixture
def stop_flag():
    handlers = {sig: signal.getsignal(sig) for sig in (signal.SIGTERM, signal.SIGINT)}
    campaign.STOP.clear()
    yield campaign.STOP
    campaign.STOP.clear()
    for sig, h in handlers.items():
        signal.signal(sig, h)


def test_a_signal_stops_the_campaign_with_a_checkpoint_and_nothing_lost(tmp_path, stop_flag):
    entry = tiny_entry()
    assert campaign.advance(entry, 1e9, "cpu", tmp_path / "whole", progress=False, splits=splits())
    campaign.stop_on_signals()
    os.kill(os.getpid(), signal.SIGTERM)  # kill, or the end of a session
    assert stop_flag.is_set()
    pieces = tmp_path / "pieces"
    assert campaign.run(60, "cpu", [entry], pieces, progress=False) == []  # nothing started once asked to stop
    assert not campaign.advance(entry, 1e9, "cpu", pieces, progress=False, splits=splits())
    (row,) = campaign.progress([entry], pieces)
    assert row["outer iterations"] == "1 / 4"  # one outer iteration, then its checkpoint
    stop_flag.clear()
    assert campaign.advance(entry, 1e9, "cpu", pieces, progress=False, splits=splits())
    assert records(pieces, entry) == records(tmp_path / "whole", entry)


def test_a_signal_during_the_final_evaluation_stops_after_one_block(tmp_path, monkeypatch, stop_flag):
    monkeypatch.setattr(campaign.runs, "EVAL_BLOCK", 2)
    entry = tiny_entry()
    while campaign.progress([entry], tmp_path)[0]["state"] != "evaluating":
        assert not campaign.advance(entry, 0.0, "cpu", tmp_path, progress=False, splits=splits())
    stop_flag.set()
    assert not campaign.advance(entry, 1e9, "cpu", tmp_path, progress=False, splits=splits())
    (row,) = campaign.progress([entry], tmp_path)
    assert row["evaluation tasks"] == "4 / 12"  # the block the first call began, and one more


def test_progress_during_the_final_evaluation_counts_its_time_and_the_time_left(tmp_path, monkeypatch):
    from reptile.engine import trainer

    monkeypatch.setattr(campaign.runs, "EVAL_BLOCK", 3)
    entry = tiny_entry()  # 2 seeds, 6 evaluation tasks each
    while campaign.progress([entry], tmp_path)[0]["evaluation tasks"] in ("-", "0 / 12"):
        assert not campaign.advance(entry, 0.0, "cpu", tmp_path, progress=False, splits=splits())
    path = campaign.checkpoint_path(entry, tmp_path)
    state = trainer.load_checkpoint(path)
    assert sum(len(a["non_transductive"]) for a in state["evaluation"]["accuracies"]) == 3
    # each checkpoint says when it was written (its training segments, its evaluation): the pages' "as of" date
    import datetime

    written = [datetime.datetime.fromisoformat(t) for t in (state["segments"][-1]["written"],
                                                            state["evaluation"]["written"])]
    now = datetime.datetime.now(datetime.timezone.utc)
    assert all(now - datetime.timedelta(minutes=30) < t <= now for t in written), written
    from reptile.campaign.report import snapshot_date

    assert snapshot_date(tmp_path) == state["evaluation"]["written"][:10]
    train = sum(s["seconds"] for s in state["segments"])
    state["evaluation"]["seconds"] = 1800.0  # 3 tasks in half an hour: 9 more take 1.5 hours
    trainer.save_checkpoint(path, state)
    row = campaign.progress([entry], tmp_path)[0]
    assert row["state"] == "evaluating" and row["evaluation tasks"] == "3 / 12"
    assert row["hours left (training)"] == 0.0 and row["hours left (evaluation)"] == 1.5
    assert row["device hours"] == round((train + 1800.0) / 3600, 2)
    assert row["evaluation tasks/s"] == 0.00167  # 3 tasks in 1,800 s, to 3 significant digits
    assert campaign.progress([campaign.Entry("gradcomb", "figure3-g1")], tmp_path)[0]["hours left (evaluation)"] is None

    # The pages' compact view shows the phase each population is in, with that phase's rate and time left.
    rows = campaign.progress([entry, campaign.Entry("gradcomb", "figure3-g1")], tmp_path)
    view = campaign_view(progress_frame(rows))
    assert list(view.columns) == ["seeds", "progress", "device hours", "devices", "rate", "hours left",
                                  "test accuracy (%)"]  # the seeds, because they differ: 0 1 and 0 1 2
    assert view.iloc[0].tolist() == ["0 1", "3 / 12 test tasks", row["device hours"], "cpu: 4", "0.00167 tasks/s", 1.5,
                                     "-"]
    assert view.loc["gradcomb/figure3-g1"].tolist() == ["0 1 2", "0 / 40,000 outer it", 0.0, "-", "-", "-", "-"]
    assert "seeds" not in campaign_view(progress_frame(rows[:1])).columns


def test_progress_names_the_devices_and_goes_at_the_latest_ones_rate():
    segments = [{"device": "NVIDIA H100 80GB HBM3", "start": 0, "end": 30_000, "seconds": 300.0},
                {"device": "cpu", "start": 30_000, "end": 31_000, "seconds": 100.0},
                {"device": "cpu", "start": 31_000, "end": 31_000, "seconds": 5.0}]  # resumed, nothing trained
    assert campaign.devices_label(segments) == "NVIDIA H100 80GB HBM3: 30,000; cpu: 1,000"
    assert campaign.latest_rate(segments) == 10.0
    assert campaign.latest_rate(segments[2:]) is None and campaign.devices_label(segments[2:]) == "-"


def test_a_finished_fewshot_entry_fills_its_table_2_cells(tmp_path, monkeypatch, capsys):
    """The whole path the campaign's paper-protocol populations take, at a toy size: advance a few-shot entry to its
    records, then the chapter's and the status page's artifacts read them. Both 5-shot 5-way rows fill from the same
    runs (non-transductive and transductive accuracy); the other columns stay as they were."""
    from reptile.experiments import fewshot as FS
    from reptile.artifacts.fewshot import OURS, fewshot_basis, fewshot_learning_curves, fewshot_table
    from reptile.artifacts.status import environment_table
    from reptile.config import FEWSHOT_PRESETS

    monkeypatch.setattr(campaign.runs, "EVAL_BLOCK", 2)
    base = FEWSHOT_PRESETS["omniglot-5shot-5way"]
    cfg = dataclasses.replace(base, eval_tasks=4, eval_iters=2, curve_every=1, curve_tasks=2,
                              meta=dataclasses.replace(base.meta, outer_iters=2, meta_batch=2, inner_iters=2))
    entry = campaign.Entry("fewshot", "omniglot-5shot-5way", (0, 1), cfg)
    assert campaign.advance(entry, 1e9, "cpu", tmp_path, progress=False, splits=splits())
    stored = FS.stored_runs(tmp_path)
    runs = stored["omniglot-5shot-5way"]
    assert [r["seed"] for r in runs] == [0, 1] and all(r["engine"]["campaign"] for r in runs)

    table = fewshot_table(2, stored, budget="paper").frame
    for row, mode in (("Reptile", "non_transductive"), ("Reptile + Transduction", "transductive")):
        accs = [100 * r["eval"][mode]["accuracy"] for r in runs]
        assert table.loc[(row, OURS["paper"]), "5-shot 5-way"] == \
            f"{statistics.mean(accs):.2f} ± {statistics.stdev(accs):.2f}"
        assert table.loc[(row, OURS["paper"]), "1-shot 5-way"] == "not yet run"
    assert table.loc[("Reptile", "paper"), "5-shot 5-way"] == "98.87 ± 0.02"  # the paper's, beside ours
    assert "± is the standard deviation over 2 seeds" in fewshot_table(2, stored, budget="paper").caption
    assert fewshot_table(2, stored, budget="reduced").frame.loc[("Reptile", OURS["reduced"]), "5-shot 5-way"] == \
        "not yet run"  # a paper-protocol run never fills the reduced-budget row
    basis = fewshot_basis(stored).frame.loc["omniglot-5shot-5way"]  # one configuration: nothing is shared
    assert basis["outer iterations"] == "2" and basis["evaluation tasks"] == "4" and basis["trained on"] == "cpu: 2"
    assert basis["evaluated on"] == "cpu" and float(basis["s / evaluation task"]) > 0  # three significant figures
    assert environment_table(runs).iloc[0]["device"] == "cpu: 2"  # the device of every outer iteration

    # the trained state stays beside the records: the module is the engine's network, and evaluating it again
    # draws the final evaluation's tasks and gives its accuracies (the record's, to the last bit)
    from reptile.campaign import trained
    from reptile.engine.network import Conv4

    assert trained.find("omniglot-5shot-5way", 1, results_dir=tmp_path).name == "trained-seeds0-1.pt"
    x = torch.rand(7, 1, 28, 28, generator=torch.Generator().manual_seed(3))
    for i, run in enumerate(runs):
        t = trained.load("omniglot-5shot-5way", run["seed"], results_dir=tmp_path)
        net = trained.module("omniglot-5shot-5way", run["seed"], results_dir=tmp_path)
        engine = Conv4(cfg.n_way, use_fused=False).forward(t.phi, Conv4.images(x)[None, None])[0, 0]
        torch.testing.assert_close(net(x), engine, rtol=0, atol=TOL_FORWARD)
        got = trained.evaluate("omniglot-5shot-5way", run["seed"], cfg.eval_tasks, device="cpu",
                               results_dir=tmp_path, splits=splits()[i])
        for mode in ("non_transductive", "transductive"):
            assert statistics.mean(got[mode]) == run["eval"][mode]["accuracy"]
        other = trained.evaluate("omniglot-5shot-5way", run["seed"], 2, eval_iters=1, device="cpu",
                                 results_dir=tmp_path, splits=splits()[i])
        assert len(other["transductive"]) == 2  # the same tasks under other settings
    with pytest.raises(FileNotFoundError, match="seed 7.*stored: omniglot-5shot-5way/trained-seeds0-1.pt"):
        trained.load("omniglot-5shot-5way", 7, results_dir=tmp_path)
    with pytest.raises(ValueError, match="seed must be an integer >= 0, got 'a'"):
        trained.module("omniglot-5shot-5way", "a", results_dir=tmp_path)
    for bad, message in (({"n_tasks": 0}, "n_tasks must be an integer >= 1, got 0"),
                         ({"eval_iters": 0}, "eval_iters must be None or an integer >= 1, got 0"),
                         ({"lr": -1.0}, "lr must be None or a finite number > 0, got -1.0")):
        with pytest.raises(ValueError, match=message):
            trained.evaluate("omniglot-5shot-5way", 0, **{"n_tasks": 2, **bad}, results_dir=tmp_path,
                             splits=splits()[0])
    # a campaign checkpoint (here made from the trained state: its run's configuration, its population) reads the same
    from reptile.train import load_checkpoint, save_checkpoint

    kept = load_checkpoint(trained.find("omniglot-5shot-5way", 0, results_dir=tmp_path))
    save_checkpoint(tmp_path / "ck.pt", {"run": {"config": kept["config"]}, "population": kept["population"]})
    assert trained.evaluate(None, 1, 2, path=tmp_path / "ck.pt", device="cpu", splits=splits()[1]) == \
        trained.evaluate("omniglot-5shot-5way", 1, 2, results_dir=tmp_path, device="cpu", splits=splits()[1])
    with pytest.raises(ValueError, match="holds 'omniglot-5shot-5way', not 'figure3-g1'"):
        trained.load("figure3-g1", 0, path=tmp_path / "ck.pt")
    with pytest.raises(ValueError, match=r"holds seeds \[0, 1\], not 2"):
        trained.load(None, 2, path=tmp_path / "ck.pt")
    monkeypatch.setenv("REPTILE_RESULTS", str(tmp_path))
    with pytest.raises(SystemExit) as stop:
        trained.main(["--preset", "omniglot-5shot-5wya", "--seed", "0"])
    assert stop.value.code == 2 and ("--preset 'omniglot-5shot-5wya': unknown preset of fewshot; allowed: "
                                     "omniglot-5shot-5way, omniglot-1shot-5way") in capsys.readouterr().err
    with pytest.raises(SystemExit) as stop:  # one source, not both or neither
        trained.main(["--preset", "omniglot-5shot-5way", "--checkpoint", str(tmp_path / "ck.pt")])
    assert stop.value.code == 2 and "one of them" in capsys.readouterr().err
    fig = fewshot_learning_curves(stored)
    assert [len(ax.lines) for ax in fig.axes] == [0, 1]  # drawn in the paper's-budget panel, solid
    assert fig.axes[1].lines[0].get_linestyle() == "-"


def test_status_says_when_the_newest_checkpoint_was_written(tmp_path, monkeypatch, capsys):
    from reptile.engine import trainer

    results = tmp_path / "results"
    (results / "campaign").mkdir(parents=True)
    (results / "fewshot").mkdir()
    monkeypatch.setenv("REPTILE_RESULTS", str(results))
    path = campaign.checkpoint_path(campaign.Entry("gradcomb", "figure3-g1"), results)
    trainer.save_checkpoint(path, {"format": trainer.FORMAT, "population": {"iteration": 7},
                                   "segments": [{"device": "cpu", "start": 0, "end": 7, "seconds": 7.0,
                                                 "written": "2026-01-02T03:04:05+00:00"}]})
    campaign.main(["--status"])
    out = capsys.readouterr().out
    assert "7 / 40,000" in out and out.rstrip().endswith("the newest checkpoint was written on 2026-01-02 (UTC)")


def checked_entry():
    """A toy Table 5 entry that plans an evaluation-batch check after its records (as the eval-batch-25 rerun)."""
    from reptile.config import FEWSHOT_PRESETS

    base = FEWSHOT_PRESETS["omniglot-1shot-5way-transductive-eval25"]
    cfg = dataclasses.replace(base, eval_tasks=4, eval_iters=2, curve_every=1, curve_tasks=2,
                              meta=dataclasses.replace(base.meta, outer_iters=2, meta_batch=2, inner_iters=2))
    return campaign.Entry("fewshot", base.name, (0, 1), cfg, batch_check=(5, 25))


def test_an_entry_that_plans_a_batch_check_is_finished_when_its_check_is_written(tmp_path, monkeypatch):
    """The eval-batch-25 rerun's follow-up: once its records are written, its trained networks are evaluated with
    both batches on all of its final test tasks; the check's own batch gives the records' accuracies exactly."""
    from reptile.campaign import trained

    monkeypatch.setattr(campaign.runs, "EVAL_BLOCK", 2)
    entry = checked_entry()
    assert campaign.advance(entry, 1e9, "cpu", tmp_path, progress=False, splits=splits())
    path = campaign.check_record_path("fewshot", entry.name, 2, tmp_path)
    check = trained.read_check(path)
    assert check["eval_batches"] == [5, 25] and check["tasks_per_seed"] == 4 and check["own_batch"] == 25
    assert check["checkpoint"]["trained_state"] == f"fewshot/{entry.name}/trained-seeds0-1.pt"  # no machine's path
    for i, s in enumerate(entry.seeds):
        run = json.loads((tmp_path / "fewshot" / entry.name / f"seed-{s}.json").read_text())
        for mode in ("transductive", "non_transductive"):
            assert check["metrics"]["25"][mode]["accuracy"][i] == run["eval"][mode]["accuracy"]
    assert campaign.finished(entry, tmp_path) and campaign.progress([entry], tmp_path)[0]["state"] == "done"
    assert not campaign.check_partial_path(entry, tmp_path).exists()  # deleted with the record written

    # with the check missing, the entry is recorded but not finished: the status says so, a call with no time
    # leaves it, and the next call writes the same record again
    path.unlink()
    assert not campaign.finished(entry, tmp_path)
    (row,) = campaign.progress([entry], tmp_path)
    assert row["state"] == "checking evaluation batches" and row["outer iterations"] == "2 / 2"
    assert row["evaluation tasks"] == "0 / 4 evaluations (seed and batch)"
    assert campaign_view(progress_frame([row])).iloc[0]["progress"] == \
        "recorded; its evaluation-batch check: 0 / 4 evaluations (seed and batch)"
    assert not campaign.advance(entry, 0.0, "cpu", tmp_path, progress=False, splits=splits())
    assert not path.exists()
    assert campaign.advance(entry, 1e9, "cpu", tmp_path, progress=False, splits=splits())
    assert trained.read_check(path)["metrics"] == check["metrics"]  # the same evaluation again, to the last bit
    # a check of another configuration does not count
    other = json.loads(path.read_text())
    other["digest"] = "0" * len(other["digest"])
    path.write_text(json.dumps(other))
    assert campaign.check_pending(entry, tmp_path) and not campaign.finished(entry, tmp_path)


def test_a_batch_check_stopped_part_way_goes_on_from_its_finished_pieces(tmp_path, monkeypatch):
    """A stop (the time, or a signal) between two blocks of tasks: the pieces finished so far (one per seed and
    batch) are kept, the next call evaluates only the rest, and the record is the uninterrupted one's."""
    from reptile.campaign import trained
    from reptile.campaign.trained import batch_check

    monkeypatch.setattr(campaign.runs, "EVAL_BLOCK", 2)
    monkeypatch.setattr(batch_check, "BLOCK", 3)  # each piece of 4 tasks in blocks of 3 and 1
    entry = checked_entry()
    whole, pieces = tmp_path / "whole", tmp_path / "pieces"
    assert campaign.advance(entry, 1e9, "cpu", whole, progress=False, splits=splits())
    want = trained.read_check(campaign.check_record_path("fewshot", entry.name, 2, whole))
    assert campaign.advance(dataclasses.replace(entry, batch_check=()), 1e9, "cpu", pieces, progress=False,
                            splits=splits())  # records and trained state, no check yet
    assert campaign.check_pending(entry, pieces)

    evaluated = []
    real = batch_check.final_tasks

    def counting(cfg, seed, images, n_tasks, eval_iters, eval_batch):
        evaluated.append((seed, eval_batch))
        return real(cfg, seed, images, n_tasks, eval_iters, eval_batch)

    monkeypatch.setattr(batch_check, "final_tasks", counting)

    class SignalAtTheSixthQuestion:  # the campaign's stop flag, set by a signal while the sixth block is asked for
        asked = 0

        def is_set(self):
            self.asked += 1  # once by batch_check before it starts, then before each block
            return self.asked >= 7  # pieces (0, 5) and (0, 25) done in two blocks each, (1, 5) begun

    monkeypatch.setattr(campaign.runs, "STOP", SignalAtTheSixthQuestion())
    assert not campaign.advance(entry, 1e9, "cpu", pieces, progress=False, splits=splits())
    monkeypatch.undo()
    assert evaluated == [(0, 5), (0, 25), (1, 5)]
    (row,) = campaign.progress([entry], pieces)
    assert row["state"] == "checking evaluation batches" and row["evaluation tasks"] == \
        "2 / 4 evaluations (seed and batch)"
    evaluated.clear()
    monkeypatch.setattr(batch_check, "final_tasks", counting)
    monkeypatch.setattr(batch_check, "BLOCK", 3)
    assert campaign.advance(entry, 1e9, "cpu", pieces, progress=False, splits=splits())
    assert evaluated == [(1, 5), (1, 25)]  # the finished pieces are not evaluated again
    got = trained.read_check(campaign.check_record_path("fewshot", entry.name, 2, pieces))
    assert got["metrics"] == want["metrics"] and got["devices"] == want["devices"]
    assert not campaign.check_partial_path(entry, pieces).exists() and campaign.finished(entry, pieces)


def test_a_batch_check_in_blocks_gives_the_numbers_of_one_call_and_a_stop_writes_nothing(tmp_path, monkeypatch):
    from reptile.campaign import trained
    from reptile.campaign.trained import batch_check

    monkeypatch.setattr(campaign.runs, "EVAL_BLOCK", 2)
    entry = dataclasses.replace(checked_entry(), batch_check=())
    assert campaign.advance(entry, 1e9, "cpu", tmp_path, progress=False, splits=splits())
    state = trained.trained_path("fewshot", entry.name, entry.seeds, tmp_path)
    data = dict(zip(entry.seeds, splits()))
    whole = trained.read_check(trained.record_eval_batches(state, entry.seeds, 4, [5, 25], device="cpu",
                                                           results_dir=tmp_path / "a", splits=data, progress=False))
    monkeypatch.setattr(batch_check, "BLOCK", 3)  # blocks of 3 and 1 tasks
    asked = []
    blocks = trained.read_check(trained.record_eval_batches(state, entry.seeds, 4, [5, 25], device="cpu",
                                                            results_dir=tmp_path / "b", splits=data, progress=False,
                                                            stop=lambda: asked.append(1) and False))
    assert blocks["metrics"] == whole["metrics"] and len(asked) == 2 * 2 * 2  # seeds x batches x blocks
    assert trained.record_eval_batches(state, entry.seeds, 4, [5, 25], device="cpu", results_dir=tmp_path / "c",
                                       splits=data, progress=False, stop=lambda: True) is None
    assert not (tmp_path / "c").exists() or not list((tmp_path / "c").rglob("*.json"))
    # a partial file of other work (another number of tasks) is not used: the call starts over
    part = tmp_path / "part.pt"
    assert trained.record_eval_batches(state, entry.seeds, 3, [5, 25], device="cpu", results_dir=tmp_path / "d",
                                       splits=data, progress=False, partial=part,
                                       stop=lambda: part.exists()) is None  # stopped after its first piece
    out = trained.record_eval_batches(state, entry.seeds, 4, [5, 25], device="cpu", results_dir=tmp_path / "d",
                                      splits=data, progress=False, partial=part)
    assert trained.read_check(out)["metrics"] == whole["metrics"] and not part.exists()
