"""Few-shot classification: models, task sampling, the evaluation protocol, resume, and a short real run."""

import os
from pathlib import Path

import pytest
import torch

from reptile.config import FEWSHOT_PRESETS, resolve
from reptile.core import MetaLearner
from reptile.fewshot import FunctionalNet, TaskSampler, conv4, evaluate, param_count, predict
from reptile.experiments.fewshot import load_or_run, run

ROOT = Path(__file__).resolve().parents[1]


def shared_data() -> Path:
    """The data root: $REPTILE_DATA, else ../shared/data beside the repository (how CI finds it)."""
    for p in (os.environ.get("REPTILE_DATA"), ROOT.parent / "shared" / "data"):
        if p and (Path(p) / "omniglot").exists():
            return Path(p)
    if os.environ.get("CI"):
        pytest.fail("Omniglot not found: set REPTILE_DATA (CI uses ../shared/data)")
    pytest.skip("Omniglot not found here: set REPTILE_DATA to a data root holding omniglot/")


def numbered_images(n_classes=12, n_per_class=6, shape=(1, 28, 28)):
    """uint8 images whose first pixel encodes (class, index), so every drawn image can be traced back."""
    x = torch.zeros(n_classes, n_per_class, *shape, dtype=torch.uint8)
    for c in range(n_classes):
        for i in range(n_per_class):
            x[c, i].view(-1)[0] = c * 10 + i
            x[c, i].view(-1)[1:] = torch.randint(0, 255, (x[c, i].numel() - 1,), generator=torch.Generator().manual_seed(c * 100 + i), dtype=torch.uint8)
    return x


def ids(x: torch.Tensor) -> list[int]:
    return [round(float(v) * 255) for v in x.flatten(1)[:, 0]]


def test_conv4_architectures_match_finn_et_al():
    om = FunctionalNet(conv4("omniglot", 5))
    mi = FunctionalNet(conv4("miniimagenet", 5))
    assert param_count(om.init_params(0)) == 113_221  # 4 x 64-filter conv + BN, 256 -> 5
    assert param_count(mi.init_params(0)) == 34_661  # 4 x 32-filter conv + BN, 6x6x32 = 1152 -> 5
    assert om(om.init_params(0), torch.rand(3, 1, 28, 28)).shape == (3, 5)
    assert mi(mi.init_params(0), torch.rand(3, 3, 84, 84)).shape == (3, 5)
    assert all(torch.equal(a, b) for a, b in zip(om.init_params(3), om.init_params(3), strict=True))


def test_batch_norm_uses_the_statistics_of_the_batch():
    net = FunctionalNet(conv4("omniglot", 5))
    p, x = net.init_params(0), torch.rand(4, 1, 28, 28)
    alone = net(p, x[:2])
    together = net(p, x)[:2]
    assert not torch.allclose(alone, together, atol=1e-4)  # the other samples change the statistics
    assert not list(net.module.buffers())  # no running averages anywhere


def test_task_images_are_disjoint_and_labels_remapped():
    s = TaskSampler(numbered_images())
    g = torch.Generator().manual_seed(0)
    mappings = set()
    for _ in range(20):
        t = s.eval_task(5, 3, g)
        train_ids, query_ids = ids(t.x), ids(t.query_x)
        assert len(set(train_ids)) == 15 and len(set(query_ids)) == 5
        assert not set(train_ids) & set(query_ids), "an image is both in the training set and the test set"
        assert sorted(t.y.tolist()) == sorted(list(range(5)) * 3) and sorted(t.query_y.tolist()) == list(range(5))
        for label, i in zip(t.y.tolist(), train_ids):  # one class per label within a task
            assert all(j // 10 == i // 10 for lab, j in zip(t.y.tolist(), train_ids) if lab == label)
        mappings.add(tuple(i // 10 for i in ids(t.query_x)))
    assert len(mappings) > 10, "labels must be remapped per task"
    tt = s.training_task(4, 6, g)
    assert len(tt) == 24 and len(set(ids(tt.x))) == 24


def test_non_transductive_prediction_ignores_the_other_queries():
    net = FunctionalNet(conv4("omniglot", 5))
    p = net.init_params(1)
    train_x, q = torch.rand(5, 1, 28, 28), torch.rand(5, 1, 28, 28)
    q2 = q.clone()
    q2[1:] = torch.rand(4, 1, 28, 28)
    a = predict(net, p, train_x, q, transductive=False)
    b = predict(net, p, train_x, q2, transductive=False)
    torch.testing.assert_close(a[0], b[0], atol=1e-5, rtol=0)
    ref = net(p, torch.cat([train_x, q[:1]]))[-1]  # the authors' definition, one query at a time
    torch.testing.assert_close(a[0], ref, atol=1e-5, rtol=0)
    t1, t2 = predict(net, p, train_x, q, True), predict(net, p, train_x, q2, True)
    assert not torch.allclose(t1[0], t2[0], atol=1e-5), "transductive predictions share batch statistics"


def test_evaluation_restores_weights_and_optimizer_state():
    net = FunctionalNet(conv4("omniglot", 5))
    cfg = FEWSHOT_PRESETS["ci"].meta
    learner = MetaLearner(net.loss, net.init_params(0), cfg)
    s = TaskSampler(numbered_images(12, 11))
    learner.meta_step([s.training_task(5, 10, torch.Generator().manual_seed(i)) for i in range(cfg.meta_batch)])
    before = learner.state_dict()
    evaluate(learner, net, s, 5, 5, eval_iters=4, eval_batch=6, n_tasks=2, generator=torch.Generator().manual_seed(1))
    after = learner.state_dict()
    assert after["inner_state"]["step"] == before["inner_state"]["step"] > 0
    for key in ("phi",):
        assert all(torch.equal(a, b) for a, b in zip(after[key], before[key], strict=True))
    for key in ("m", "v"):
        assert all(torch.equal(a, b) for a, b in zip(after["inner_state"][key], before["inner_state"][key], strict=True))


TINY = {"outer_iters": 6, "eval_tasks": 3, "curve_every": 3, "curve_tasks": 2, "checkpoint_every": 2,
        "eval_iters": 3}


def test_resume_gives_the_same_numbers_as_an_uninterrupted_run(tmp_store, monkeypatch):
    root = shared_data()
    from reptile.experiments.fewshot import load_splits

    cfg = resolve(FEWSHOT_PRESETS, "ci", TINY)
    splits = load_splits(cfg, 0, root)
    whole = run(cfg, 0, "cpu", root, results_dir=tmp_store / "a", checkpoint_dir=tmp_store / "ca", progress=False,
                splits=splits)
    original = TaskSampler.training_task
    calls = {"n": 0}

    def dies(self, *a, **k):
        calls["n"] += 1
        if calls["n"] == 5 * cfg.meta.meta_batch:  # in iteration 5, after the checkpoint at iteration 4
            raise KeyboardInterrupt
        return original(self, *a, **k)

    monkeypatch.setattr(TaskSampler, "training_task", dies)
    with pytest.raises(KeyboardInterrupt):
        run(cfg, 0, "cpu", root, results_dir=tmp_store / "b", checkpoint_dir=tmp_store / "cb", progress=False,
            splits=splits)
    after = {"n": 0}

    def counted(self, *a, **k):
        after["n"] += 1
        return original(self, *a, **k)

    monkeypatch.setattr(TaskSampler, "training_task", counted)
    assert (tmp_store / "cb" / "fewshot" / cfg.name / "seed-0" / "meta.pt").exists()
    resumed = run(cfg, 0, "cpu", root, results_dir=tmp_store / "b", checkpoint_dir=tmp_store / "cb",
                  progress=False, splits=splits)
    assert resumed["eval"] == whole["eval"] and resumed["curve"] == whole["curve"]
    # it resumed at the checkpoint's iteration 4: two iterations' tasks drawn, not six (a restart)
    assert after["n"] == 2 * cfg.meta.meta_batch


def test_short_real_omniglot_run_is_clearly_above_chance(tmp_store):
    runs = load_or_run("ci", seeds=[0], device="cpu", data_root=shared_data(), progress=False)
    ev = runs[0]["eval"]
    assert ev["non_transductive"]["tasks"] == 20
    assert ev["non_transductive"]["accuracy"] > 0.5 and ev["transductive"]["accuracy"] > 0.5  # chance is 0.2
    assert runs[0]["curve"]["iteration"] == [0, 20, 40]


@pytest.mark.parametrize("kwargs,match", [
    (dict(preset="omniglot-3shot-5way"), r"unknown preset 'omniglot-3shot-5way'; allowed: omniglot-1shot-5way"),
    (dict(overrides={"shots": 20}), r"shots=20 does not fit: a task takes shots \+ 1 query images of each class, "
                                    r"and a class of this split holds 20; allowed: shots in 1..19"),
    (dict(overrides={"train_shots": 25, "inner_batch": 10}),
     r"train_shots=25 does not fit: .* holds 20; allowed: train_shots in 1..20"),
    (dict(overrides={"n_way": 1}), r"n_way must be an integer >= 2 \(a task tells at least two classes apart\), got 1"),
    (dict(overrides={"n_way": 0}), r"n_way must be an integer >= 2 .*got 0"),
    (dict(overrides={"n_way": 500, "eval_batch": 5, "inner_batch": 10}),
     r"n_way=500 does not fit: the split has 423 classes; allowed: 2..423"),
    (dict(overrides={"eval_batch": 0}), r"eval_batch must be an integer >= 1, got 0"),
    (dict(overrides={"inner_iters": 0}), r"inner_iters must be an integer >= 1, got 0"),
    (dict(seeds=[-2]), r"seed must be an integer >= 0, got -2"),
])
def test_bad_input_fails_before_training(tmp_store, kwargs, match):
    with pytest.raises(ValueError, match=match):
        load_or_run(**{"preset": "ci", "device": "cpu", "data_root": shared_data(), "progress": False, **kwargs})
    assert not (tmp_store / "results").exists() and not (tmp_store / "checkpoints").exists()


def test_missing_data_says_what_was_looked_for(tmp_store, tmp_path):
    from reptile.data.datasets import DataNotFoundError

    with pytest.raises(DataNotFoundError, match="omniglot"):
        load_or_run("ci", seeds=[0], device="cpu", data_root=tmp_path / "empty", progress=False,
                    cache_dir=tmp_path / "cache")
    assert not (tmp_store / "results").exists()


def test_the_chapter_quotes_transductions_gain_from_the_papers_tables():
    from reptile.artifacts import fewshot as FA
    from reptile.paper import TABLE1, TABLE2

    said = FA.paper_transduction_gain()
    want = [t["rows"]["Reptile + Transduction"][0][0] - t["rows"]["Reptile"][0][0] for t in (TABLE1, TABLE2)]
    assert TABLE1["columns"][0] == TABLE2["columns"][0] == "1-shot 5-way"
    assert said == f"{want[0]:.1f} (Mini-ImageNet, Table 1) and {want[1]:.1f} (Omniglot, Table 2)"


def test_the_chapter_quotes_a_cells_verdict_from_the_tables():
    from reptile.artifacts import fewshot as FA
    from reptile.experiments import fewshot as FS

    stored = FS.stored_runs()
    row = [c for c in FA.paper_checks(stored) if c.item == "paper Table 2 (Omniglot), Reptile + Transduction, 1-shot 5-way"]
    assert FA.cell_verdict(stored, "Reptile + Transduction", "1-shot 5-way") == f"{row[0].verdict} (z = {row[0].z:+.1f})"
    assert FA.cell_verdict({}, "Reptile", "1-shot 5-way") == "not yet run"
    with pytest.raises(ValueError, match="no cell 'Reptile', '2-shot 5-way' in paper Table 2"):
        FA.cell_verdict(stored, "Reptile", "2-shot 5-way")


def test_the_chapter_names_the_cells_that_keep_their_trained_state(tmp_path):
    from reptile.artifacts import fewshot as FA

    assert FA.trained_states(tmp_path) == "none yet"
    for name in ("omniglot-5shot-5way", "omniglot-1shot-20way"):
        (tmp_path / "fewshot" / name).mkdir(parents=True)
        (tmp_path / "fewshot" / name / "trained-seeds0-1-2.pt").write_bytes(b"")
    (tmp_path / "fewshot" / "omniglot-1shot-5way").mkdir()  # records only
    assert FA.trained_states(tmp_path) == "omniglot-1shot-20way, omniglot-5shot-5way"


def _cell_runs(accs, transductive=None):
    return [{"eval": {"non_transductive": {"accuracy": a / 100, "ci95": 0.01, "tasks": 10_000},
                      "transductive": {"accuracy": (transductive or accs)[i] / 100, "ci95": 0.01, "tasks": 10_000}},
             "config": {"budget": "paper"}} for i, a in enumerate(accs)]


def test_the_papers_plus_minus_read_three_ways():
    """The paper's ± (0.05 on Reptile 1-shot 5-way, Table 2) as a standard deviation over 3 seeds (se 0.05 / sqrt 3),
    as a standard error (0.05), or as a 95% t interval over 3 seeds (se 0.05 / 4.303): z by hand for each."""
    import math

    from reptile.artifacts import fewshot as FA
    from reptile.stats import t975, z_text

    assert FA.pm_readings({}) == "No Reptile cell of Tables 1 and 2 is finished at the paper's protocol yet."
    ours = [95.0, 95.1, 95.2]  # mean 95.1, sd 0.1: 0.22 below the paper's 95.32
    se_ours = 0.1 / math.sqrt(3)
    zs = [(95.1 - 95.32) / math.hypot(se_ours, se) for se in (0.05 / math.sqrt(3), 0.05, 0.05 / t975(2))]
    assert zs[0] < -3 < zs[1]  # differs as the book reads it, reproduces as a standard error
    said = FA.pm_readings({"omniglot-1shot-5way": _cell_runs(ours)})
    assert said.startswith("Read as the standard error of the mean or as a 95% interval over 3 seeds (Student's t) "
                           "instead of the standard deviation over 3 seeds, the paper's ± changes the verdicts of "
                           f"Table 2's Reptile, 1-shot 5-way (the standard error of the mean: reproduces, z = "
                           f"{z_text(zs[1])}) among the 1 finished Reptile cells.")
    assert f"between {z_text(min(zs))} and {z_text(max(zs))}" in said
    same = FA.pm_readings({"omniglot-1shot-5way": _cell_runs([95.3, 95.32, 95.34])})
    assert "changes no verdict among the 1 finished Reptile cells" in same


def test_transduction_alone_on_our_runs_and_cells_under_way():
    from reptile.artifacts import fewshot as FA

    assert FA.our_transduction_gain({}) == "not yet run"
    runs = {"omniglot-1shot-5way": _cell_runs([95.0, 95.2, 95.4], transductive=[96.0, 96.4, 96.8])}
    assert FA.our_transduction_gain(runs) == "1.20 ± 0.20 (3 seeds)"
    # a cell the campaign is training is under way, with its progress; the summary dates it when told the date
    progress = {"omniglot-5shot-20way": "training: 10 / 200,000"}
    row = [c for c in FA.paper_checks(runs, progress) if c.item.endswith("Reptile, 5-shot 20-way")][0]
    assert (row.verdict, row.ours, row.z) == ("under way", "training: 10 / 200,000", None)
    assert "under way: Reptile, 5-shot 20-way (training: 10 / 200,000)" in FA.status_summary(runs, progress)
    assert "(training: 10 / 200,000) (as of 2026-01-02)" in FA.status_summary(runs, progress, as_of="2026-01-02")
    # the quoted MAML rows say where each comes from: the first-order Omniglot row is not in Finn et al.
    quoted = {c.item: c.paper for c in FA.paper_checks(runs) if "MAML" in c.item}
    assert quoted["paper Table 2 (Omniglot), first-order MAML + Transduction"].endswith(
        "(as the paper prints it; not in Finn et al., no source given)")
    assert quoted["paper Table 2 (Omniglot), MAML + Transduction"].endswith("(quoted from Finn et al.)")
    assert not any("Table 1" in k for k in quoted)  # no Mini-ImageNet preset runs MAML here: nothing checks them


def test_the_progress_is_dated_by_when_its_checkpoints_were_written(tmp_path):
    from reptile.campaign.report import snapshot_date
    from reptile.train import save_checkpoint

    assert snapshot_date(tmp_path) is None  # no campaign folder
    (tmp_path / "campaign" / "maml" / "x").mkdir(parents=True)
    save_checkpoint(tmp_path / "campaign" / "a.pt", {"segments": [{"written": "2026-01-02T03:04:05+00:00"}, {}]})
    assert snapshot_date(tmp_path) is None  # its latest segment was written before checkpoints said when
    save_checkpoint(tmp_path / "campaign" / "b.pt", {"segments": [{"written": "2026-01-02T03:04:05+00:00"}],
                                                     "evaluation": {"written": "2026-01-05T00:00:00+00:00"}})
    save_checkpoint(tmp_path / "campaign" / "maml" / "x" / "seed-0.pt",
                    {"pieces": [{"written": "2026-01-03T23:59:59+00:00"}]})
    assert snapshot_date(tmp_path) == "2026-01-05"  # the newest, from the final evaluation's
    (tmp_path / "campaign" / "b.pt").unlink()
    assert snapshot_date(tmp_path) == "2026-01-03"  # a MAML run's latest piece


def test_a_quoted_maml_row_is_under_way_while_the_campaign_trains_its_cells():
    from reptile.artifacts import fewshot as FA
    from reptile.artifacts.maml import quoted_row_checks
    from reptile.paper import TABLE2

    progress = {"finn-maml-omniglot-1shot-5way": "training: 10 / 180,000",
                "maml-omniglot-5shot-5way": "training: 5 / 180,000"}  # Reptile's protocol: not the quoted row's
    assert quoted_row_checks("maml", {}, progress)[0] == {"cells": ["1-shot 5-way"], "ours": "training: 10 / 180,000",
                                                         "z": None, "verdict": "under way"}
    assert [it["verdict"] for it in quoted_row_checks("fomaml", {}, progress)] == ["no source"]  # run or not
    rows = {c.item: c for c in FA.paper_checks({}, None, {}, progress)}
    assert rows["paper Table 2 (Omniglot), MAML + Transduction, 1-shot 5-way"].verdict == "under way"
    rest = rows["paper Table 2 (Omniglot), MAML + Transduction"]
    assert (rest.verdict, rest.claim) == ("not yet run", "3 other cells: 5-shot 5-way, 1-shot 20-way, 5-shot 20-way")
    assert rest.paper.startswith(", ".join(f"{m:g} ± {s:g}" for m, s in TABLE2["rows"]["MAML + Transduction"][1:]))
    assert rows["paper Table 2 (Omniglot), first-order MAML + Transduction"].verdict == "no source"
    # the chapter's status line counts them as the front page does
    said = FA.status_summary({}, None, None, {}, progress)
    assert ("its quoted MAML row, run by this companion under Finn et al.'s protocol: 1 cell under way, 3 cells not "
            "yet run; its first-order MAML row has no source to reproduce, so no verdict") in said
    assert said.startswith("Paper Table 2 (Omniglot): its 8 Reptile cells not yet run;")
    assert "quoted MAML" not in FA.status_summary({})  # not asked: not said


def test_the_basis_gives_each_device_its_own_rate():
    """A population trained on two devices: seconds per outer iteration per device, from its pieces; one device:
    the runs' mean."""
    from reptile.artifacts import fewshot as FA

    segs = [{"device": "NVIDIA H200", "start": 0, "end": 100, "seconds": 5.0},
            {"device": "cpu", "start": 100, "end": 150, "seconds": 20.0},
            {"device": "NVIDIA H200", "start": 150, "end": 200, "seconds": 2.5}]
    runs = [{"engine": {"segments": segs}, "seconds_per_outer_iter": 0.1375}]
    assert FA._seconds_by_device(runs) == "NVIDIA H200: 0.05; cpu: 0.4"  # 7.5 s / 150 it, 20 s / 50 it
    assert FA._seconds_by_device([{"engine": {"segments": segs[1:2]}, "seconds_per_outer_iter": 0.4},
                                  {"seconds_per_outer_iter": 0.6}]) == "0.5"
