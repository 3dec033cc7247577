"""The campaign's MAML entries: a run advanced in pieces (stopped by the clock, resumed from its committed checkpoint)
gives the numbers of one uninterrupted run, and the status row follows it."""

import pytest
import torch

from reptile import provenance
from reptile.campaign import plan as P
from reptile.campaign import runs
from reptile.maml import experiment as E


@pytest.fixture(scope="module")
def ci_data():
    return E.load_data(E.PRESETS["ci"], 0)


def test_a_maml_entry_in_pieces_gives_the_numbers_of_one_run(ci_data, tmp_path, monkeypatch):
    monkeypatch.setattr(E, "load_data", lambda cfg, seed, data_root=None, cache_dir=None: ci_data)
    entry = P.Entry("maml", "ci", seeds=(0,))
    whole = E.run(E.PRESETS["ci"], 0, "cpu", results_dir=tmp_path / "whole", checkpoint_dir=tmp_path / "ck",
                  progress=False, data=ci_data)

    root = tmp_path / "results"
    assert P.progress([entry], root)[0]["state"] == "not started"
    assert runs.advance(entry, 0.02, "cpu", root, progress=False) is False  # the clock stops it after an iteration
    checkpoint = P.maml_checkpoint(entry, 0, root)
    assert checkpoint.exists() and checkpoint.is_relative_to(root / "campaign" / "maml")
    row = P.progress([entry], root)[0]
    done = int(row["outer iterations"].split(" / ")[0])
    assert row["state"] == "training" and 1 <= done < E.PRESETS["ci"].outer_iters
    device = provenance.environment(torch.device("cpu"))["device_name"]  # what the pieces record
    assert row["devices"] == f"{device}: {done:,}"

    assert runs.advance(entry, 600, "cpu", root, progress=False) is True
    assert not checkpoint.exists() and P.finished(entry, root)
    got = P.progress([entry], root)[0]
    assert got["state"] == "done" and got["test accuracy (%)"].endswith("(transductive)")
    assert got["devices"] == f"{device}: {E.PRESETS['ci'].outer_iters:,}"  # both pieces, on one device
    stored = E.R.read_run(E.R.run_path("maml", "ci", 0, root))
    assert stored["eval"] == whole["eval"]  # the same numbers as the run made in one go
    pieces = stored["pieces"]  # the two calls, each with the iterations it trained
    assert len(pieces) == 2 and pieces[0]["start"] == 0 and pieces[0]["end"] == pieces[1]["start"] == done
    assert pieces[1]["end"] == E.PRESETS["ci"].outer_iters and pieces[0]["device"] == pieces[1]["device"]
    assert stored["curve"]["curve_accuracy_transductive"] == whole["curve"]["curve_accuracy_transductive"]


def test_the_plan_queues_maml_after_every_reptile_cell():
    kinds = [e.experiment for e in P.PLAN]
    first = kinds.index("maml")
    assert set(kinds[first:]) == {"maml"} and "fewshot" in kinds[:first]
    names = [e.name for e in P.PLAN[first:first + 4]]
    assert sorted(names) == sorted(["finn-maml-omniglot-1shot-5way", "finn-fomaml-omniglot-1shot-5way",
                                    "maml-omniglot-1shot-5way", "fomaml-omniglot-1shot-5way"])
    assert all(P.Entry("maml", n).outer_iters == 60_000 for n in names)


def test_a_run_stopped_during_its_evaluation_resumes_at_its_block(ci_data, tmp_path, monkeypatch):
    cfg = E.resolve("ci", {"eval_tasks": 60})
    monkeypatch.setattr(E, "EVAL_BLOCK", 25)
    whole = E.run(cfg, 0, "cpu", results_dir=tmp_path / "a", checkpoint_dir=tmp_path / "ca", progress=False,
                  data=ci_data)
    readme = (tmp_path / "a" / "maml" / "README.md").read_text()  # each stored run rewrites the folder's README
    assert f"`{cfg.name}` (seed 0)" in readme.split("## Reduced runs")[1]
    calls = []

    def stop():  # asked after each outer iteration but the last (5), then before each block of the evaluation
        calls.append(1)
        return len(calls) == cfg.outer_iters - 1 + 2  # before the second block: 25 tasks done

    assert E.run(cfg, 0, "cpu", results_dir=tmp_path / "b", checkpoint_dir=tmp_path / "cb", progress=False,
                 data=ci_data, stop=stop) is None
    state = E.R.checkpoint_root(tmp_path / "cb")  # the checkpoint holds the evaluation so far
    from reptile.train import load_checkpoint

    saved = load_checkpoint(E.checkpoint_path(cfg, 0, tmp_path / "cb"))
    assert len(saved["evaluation"]["accuracies"]["transductive"]) == 25 and state.exists()
    # the campaign's status reads it as a seed under evaluation
    monkeypatch.setattr(P, "maml_checkpoint",
                        lambda entry, seed, results_dir=None: E.checkpoint_path(cfg, 0, tmp_path / "cb"))
    row = P.progress([P.Entry("maml", "ci", seeds=(0,), cfg=cfg)], tmp_path / "b")[0]
    assert row["state"] == "evaluating" and row["evaluation tasks"] == "25 / 60 (a seed)"
    asked, real_evaluate = [], E.evaluate

    def counted(learner, images, cfg_, n_tasks, *a, **k):
        asked.append(n_tasks)
        return real_evaluate(learner, images, cfg_, n_tasks, *a, **k)

    monkeypatch.setattr(E, "evaluate", counted)
    again = E.run(cfg, 0, "cpu", results_dir=tmp_path / "b", checkpoint_dir=tmp_path / "cb", progress=False,
                  data=ci_data, stop=lambda: False)
    assert again["eval"] == whole["eval"]  # the same tasks, the same numbers
    assert asked == [25, 10]  # and it resumed at its block: the 35 tasks left, no training, no task twice


def test_the_campaign_s_stop_signal_stops_a_maml_run_at_its_next_iteration(ci_data, tmp_path, monkeypatch):
    from reptile.maml.algorithm import MAMLLearner

    monkeypatch.setattr(E, "load_data", lambda cfg, seed, data_root=None, cache_dir=None: ci_data)
    real_step = MAMLLearner.meta_step

    def step_then_signal(self, tasks):  # SIGTERM arriving during the second outer iteration
        out = real_step(self, tasks)
        if self.iteration == 2:
            runs.STOP.set()
        return out

    monkeypatch.setattr(MAMLLearner, "meta_step", step_then_signal)
    entry = P.Entry("maml", "ci", seeds=(0,))
    try:
        assert runs.advance(entry, 600, "cpu", tmp_path, progress=False) is False
    finally:
        runs.STOP.clear()
    from reptile.train import load_checkpoint

    saved = load_checkpoint(P.maml_checkpoint(entry, 0, tmp_path))
    assert saved["learner"]["iteration"] == 2
    assert saved["pieces"][-1]["written"][:4].isdigit() and saved["pieces"][-1]["written"].endswith("+00:00")


def test_a_run_under_way_keeps_the_cpu_switches_of_its_latest_piece(ci_data, tmp_path, monkeypatch):
    """A seed started with oneDNN's convolutions on every layer and resumed by a campaign process started without
    them computes on as it began (runs.kept_switches): the numbers of one run made with them throughout."""
    monkeypatch.setattr(E, "load_data", lambda cfg, seed, data_root=None, cache_dir=None: ci_data)
    monkeypatch.setenv("REPTILE_ONEDNN", "all")
    with_dnn = E.run(E.PRESETS["ci"], 0, "cpu", results_dir=tmp_path / "a", checkpoint_dir=tmp_path / "ca",
                     progress=False, data=ci_data)
    monkeypatch.delenv("REPTILE_ONEDNN")
    plain = E.run(E.PRESETS["ci"], 0, "cpu", results_dir=tmp_path / "b", checkpoint_dir=tmp_path / "cb",
                  progress=False, data=ci_data)
    assert plain["curve"] != with_dnn["curve"]  # the switch changes the arithmetic: the check below can tell

    entry, root = P.Entry("maml", "ci", seeds=(0,)), tmp_path / "results"
    monkeypatch.setenv("REPTILE_ONEDNN", "all")
    assert runs.advance(entry, 0.02, "cpu", root, progress=False) is False  # the first piece, with the switch
    monkeypatch.delenv("REPTILE_ONEDNN")
    assert runs.advance(entry, 600, "cpu", root, progress=False) is True  # resumed by a process without it
    stored = E.R.read_run(E.R.run_path("maml", "ci", 0, root))
    assert [p["switches"] for p in stored["pieces"]] == [{"REPTILE_ONEDNN": "all"}] * 2
    assert stored["eval"] == with_dnn["eval"] and stored["curve"] == with_dnn["curve"]
    assert "REPTILE_ONEDNN" not in runs.os.environ  # the process's environment restored
    fresh = P.Entry("maml", "ci", seeds=(1,))  # a seed that starts takes the process's switches (none here)
    assert runs.advance(fresh, 600, "cpu", root, progress=False) is True
    assert "switches" not in E.R.read_run(E.R.run_path("maml", "ci", 1, root))["pieces"][0]


def test_an_entry_under_way_shows_the_accuracy_of_its_finished_seeds(ci_data, tmp_path, monkeypatch):
    monkeypatch.setattr(E, "load_data", lambda cfg, seed, data_root=None, cache_dir=None: ci_data)
    entry, root = P.Entry("maml", "ci", seeds=(0, 1)), tmp_path / "results"
    first = E.run(E.PRESETS["ci"], 0, "cpu", results_dir=root, checkpoint_dir=tmp_path / "ck", progress=False,
                  data=ci_data)
    assert runs.advance(entry, 0.02, "cpu", root, progress=False) is False  # seed 1 begun, seed 0 stored
    row = P.progress([entry], root)[0]
    mode = first["primary_mode"]
    assert row["state"] == "training"
    assert row["test accuracy (%)"] == (f"{100 * first['eval'][mode]['accuracy']:.2f} (1 of 2 seeds; "
                                        f"{mode.replace('_', '-')})")
