import math

import matplotlib
import pandas as pd
import pytest

from reptile.artifacts.common import pm_label, seed_spread
from reptile.artifacts.fewshot import comparison_table, comparisons, fewshot_table, paper_checks
from reptile.artifacts.sine import METHOD_COLORS, METHOD_LABELS, sine_mse_stats, sine_table
from reptile.artifacts.status import coverage_table, environment_table
from reptile.stats import mean_ci95, std, t975

matplotlib.use("Agg")


def test_mean_ci95_by_hand():
    m, h = mean_ci95([1.0, 2.0, 4.0])
    s = math.sqrt(((1 - 7 / 3) ** 2 + (2 - 7 / 3) ** 2 + (4 - 7 / 3) ** 2) / 2)
    assert m == pytest.approx(7 / 3, abs=1e-15)
    assert h == pytest.approx(4.303 * s / math.sqrt(3), abs=1e-12)
    assert math.isnan(mean_ci95([5.0])[1])
    assert t975(1000) == 1.96
    assert std([1.0, 3.0]) == pytest.approx(math.sqrt(2), abs=1e-15)
    with pytest.raises(ValueError, match="degrees of freedom must be >= 1, got 0"):
        t975(0)


def test_pm_label_says_std_over_seeds_or_the_interval_over_tasks():
    assert pm_label(3) == "std over 3 seeds"
    assert pm_label(1) == "95% interval over tasks, 1 seed"
    assert seed_spread([1.0, 2.0, 6.0], 0.5) == (3.0, pytest.approx(math.sqrt(7)), "std over 3 seeds")
    assert seed_spread([4.0], 0.5) == (4.0, 0.5, "95% interval over tasks, 1 seed")


def _record(seed, values, methods=("reptile",)):
    return {"seed": seed, "experiment": "sine", "name": "x",
            "methods": {m: {"eval": {"mse_tasks": {"0": values, "1": values, "32": values}}} for m in methods}}


def test_sine_stats_pool_seeds_and_tasks():
    runs = [_record(0, [1.0, 2.0]), _record(1, [3.0, 6.0])]
    st = sine_mse_stats(runs, steps=(32,)).iloc[0]
    assert st["mse"] == pytest.approx(3.0) and st["median"] == pytest.approx(2.5)
    assert st["tasks"] == 4 and st["seeds"] == 2
    assert st["seed_mean"] == pytest.approx(3.0)
    assert st["seed_std"] == pytest.approx(std([1.5, 4.5]))
    assert st["ci95"] == pytest.approx(mean_ci95([1.0, 2.0, 3.0, 6.0])[1])


def test_sine_table_with_three_seeds_is_mean_and_std_over_seeds():
    # per-seed means 1.5, 4.5 and 3.0 (tasks of unequal number: the mean over seeds is not the pooled mean)
    runs = [_record(0, [1.0, 2.0]), _record(1, [3.0, 6.0]), _record(2, [2.0, 3.0, 4.0])]
    sd = math.sqrt(((1.5 - 3.0) ** 2 + (4.5 - 3.0) ** 2 + (3.0 - 3.0) ** 2) / 2)  # = 1.5, by hand
    t = sine_table(runs, steps=(0, 32))
    assert t.loc["Reptile", "MSE after 32 steps"] == f"3.000 ± {sd:.3f}" == "3.000 ± 1.500"
    assert t.loc["Reptile", "± is"] == "std over 3 seeds"
    assert t.loc["Reptile", "median after 32"] == "3.000"
    assert t.index.name == "7 tasks, 3 seeds"


def test_sine_table_with_one_seed_is_the_95_interval_over_tasks():
    values = [1.0, 2.0, 4.0]
    t = sine_table([_record(0, values)], steps=(1,))
    half = 4.303 * std(values) / math.sqrt(3)  # Student's t with 2 degrees of freedom
    assert t.loc["Reptile", "MSE after 1 step"] == f"2.333 ± {half:.3f}"
    assert t.loc["Reptile", "± is"] == "95% interval over tasks, 1 seed"
    assert t.index.name == "3 tasks, 1 seed"


def test_sine_shows_whatever_methods_a_run_holds_in_a_fixed_order():
    assert METHOD_LABELS["fomaml_k1"] == "First-order MAML (k = 1)"
    assert METHOD_COLORS["fomaml_k1"] not in {c for m, c in METHOD_COLORS.items() if m != "fomaml_k1"}
    stored = ("joint", "fomaml_k1", "reptile", "fomaml", "maml")
    t = sine_table([_record(0, [1.0, 2.0], stored), _record(1, [1.0, 3.0], stored)], steps=(0,))
    assert list(t.index) == ["Reptile", "MAML", "First-order MAML", "First-order MAML (k = 1)", "Joint training"]
    t = sine_table([_record(0, [1.0, 2.0], ("joint", "fomaml_k1"))], steps=(0,))
    assert list(t.index) == ["First-order MAML (k = 1)", "Joint training"]


def test_coverage_marks_what_is_not_run():
    table = coverage_table([_record(2, [1.0]), _record(0, [1.0])])
    assert table.loc[("Section 3, Figure 1: sine-wave regression", "x"), "seeds"] == "0 2"
    for table_name in ("Table 1: few-shot classification on Mini-ImageNet",
                       "Table 2: few-shot classification on Omniglot"):
        assert table.loc[(table_name, "-"), "seeds"] == "not yet run"
    assert table.index[-1][0].startswith("beyond the paper: MAML") and table["seeds"].iloc[-1] == "not yet run"
    maml = dict(_record(1, [1.0]), experiment="maml", name="reduced-maml-omniglot-1shot-5way")
    table = coverage_table([_record(2, [1.0]), maml])
    assert table.loc[(table.index[-1][0], "reduced-maml-omniglot-1shot-5way"), "seeds"] == "1"
    # each paper table has its own row; a customised preset is named by what it changed
    from reptile.maml.presets import PRESETS

    custom = dict(_record(0, [1.0]), experiment="maml", name="reduced-maml-omniglot-1shot-5way-custom-0123456789",
                  config={**PRESETS["reduced-maml-omniglot-1shot-5way"].to_dict(), "network": "finn", "name": "x"})
    omniglot = dict(_record(0, [1.0]), experiment="fewshot", name="omniglot-5shot-5way")
    table = coverage_table([custom, omniglot])
    assert table.loc[("Table 2: few-shot classification on Omniglot", "omniglot-5shot-5way"), "seeds"] == "0"
    assert table.loc[("Table 1: few-shot classification on Mini-ImageNet", "-"), "seeds"] == "not yet run"
    assert (table.index[-1][0], "reduced-maml-omniglot-1shot-5way, customised: network=finn") in table.index


def _env_run(name, seed, wall, device="cpu", commit="abc", segments=None):
    return {"experiment": "fewshot", "name": name, "seed": seed, "wall_seconds": wall,
            "engine": {"segments": segments} if segments else None,
            "environment": {"device_name": device, "packages": {"torch": "2.14.1"}, "python": "3.11.7",
                            "commit": commit, "dirty": False, "date": "2026-11-28T10:00:00Z"}}


def test_environment_table_is_one_row_per_configuration_and_environment():
    segs = [{"device": "NVIDIA H200", "start": 0, "end": 300, "seconds": 10.0},
            {"device": "cpu", "start": 300, "end": 1000, "seconds": 200.0}]
    runs = [_env_run("a", 2, 12.4), _env_run("a", 0, 11.6), _env_run("a", 1, 12.0, commit="def"),
            _env_run("pop", 0, 99.0, segments=segs), _env_run("pop", 1, 99.0, segments=segs)]
    table = environment_table(runs)
    assert list(table.index) == ["fewshot/a", "fewshot/a", "fewshot/pop"]
    first, other, pop = (table.iloc[i] for i in range(3))
    assert (first["seeds"], first["wall time (s)"], first["commit"]) == ("0 2", "12 12", "abc")
    assert (other["seeds"], other["commit"]) == ("1", "def")
    assert pop["device"] == "NVIDIA H200: 300; cpu: 700"
    assert (pop["seeds"], pop["wall time (s)"]) == ("0 1", "99")


def test_environment_table_shows_one_wall_time_for_a_population_whose_seeds_differ_by_milliseconds():
    runs = [_env_run("p", s, w) for s, w in [(0, 435.138), (1, 435.14), (2, 435.141)]]
    for r in runs:
        r["engine"] = {"name": "population", "segments": None}
    assert environment_table(runs).iloc[0]["wall time (s)"] == "435"
    solo = [_env_run("p", s, w) for s, w in [(0, 435.138), (1, 435.14)]]  # separate runs keep one time each
    assert environment_table(solo).iloc[0]["wall time (s)"] == "435 435"


def _fewshot_run(name, seed, nt, tr, budget="reduced"):
    return {"name": name, "seed": seed, "experiment": "fewshot",
            "config": {"budget": budget, "meta": {"outer_iters": 5000}},
            "eval": {"non_transductive": {"accuracy": nt, "ci95": 0.01, "tasks": 1000},
                     "transductive": {"accuracy": tr, "ci95": 0.02, "tasks": 1000}}}


def test_fewshot_tables_put_runs_in_the_papers_cells_and_mark_the_rest():
    runs = {"reduced-omniglot-1shot-5way": [_fewshot_run("reduced-omniglot-1shot-5way", s, a, b)
                                            for s, a, b in ((0, 0.90, 0.95), (1, 0.92, 0.97))],
            "reduced-omniglot-1shot-5way-transductive": [_fewshot_run("x", 0, 0.5, 0.96)]}
    t = fewshot_table(2, runs, budget="reduced").frame
    ours = ("Reptile", "this companion, reduced budget")
    # our cells rest on 2 seeds and on 1: each says what its ± is
    assert t.loc[ours, "1-shot 5-way"] == f"91.00 ± {std([90.0, 92.0]):.2f} (std over 2 seeds)"  # mean ± std
    assert t.loc[("Reptile + Transduction", "this companion, reduced budget"), "1-shot 5-way"] == \
        "96.00 ± 2.00 (95% interval over tasks, 1 seed)"
    same = {k: v for k, v in runs.items() if k == "reduced-omniglot-1shot-5way"}  # one kind of ±: in the caption
    assert "± is the standard deviation over 2 seeds" in fewshot_table(2, same, budget="reduced").caption
    assert fewshot_table(2, same, budget="reduced").frame.loc[ours, "1-shot 5-way"] == "91.00 ± 1.41"
    assert t.loc[ours, "5-shot 5-way"] == "not yet run"
    assert t.loc[ours, "1-shot 20-way"] == "-"  # no reduced preset for that cell: nothing to run, said apart
    assert "'-' marks a cell with no reduced preset" in fewshot_table(2, runs, budget="reduced").caption
    assert t.loc[("Reptile", "paper"), "1-shot 5-way"] == "95.32 ± 0.05"
    assert t.loc[("MAML + Transduction", "paper"), "1-shot 5-way"] == "98.7 ± 0.4"  # as printed, one decimal
    assert fewshot_table(1, {}).frame.loc[("MAML + Transduction", "paper"), "1-shot 5-way"] == "48.70 ± 1.84"
    paper_budget = fewshot_table(2, runs, budget="paper").frame  # reduced runs never fill the paper-protocol rows
    assert paper_budget.loc[("Reptile", "this companion, paper protocol"), "1-shot 5-way"] == "not yet run"
    assert "± is" not in paper_budget.columns
    assert fewshot_table(1, {}).frame.loc[("Reptile", "paper"), "5-shot 5-way"] == "61.98 ± 0.69"
    # a run under way in the campaign says how far it is, in its own cell; a stored run wins over it
    under_way = {"omniglot-1shot-5way": "training: 10 / 200,000", "reduced-omniglot-1shot-5way": "training: 1 / 2"}
    t = fewshot_table(2, runs, budget="paper", progress=under_way).frame
    assert t.loc[("Reptile", "this companion, paper protocol"), "1-shot 5-way"] == "training: 10 / 200,000"
    assert t.loc[("Reptile", "this companion, paper protocol"), "5-shot 5-way"] == "not yet run"
    assert fewshot_table(2, runs, budget="reduced", progress=under_way).frame.loc[ours, "1-shot 5-way"].startswith("91.00")
    with pytest.raises(ValueError, match="table must be 1 .* or 2 .*, got 3"):
        fewshot_table(3, {})


def test_fewshot_tables_say_what_each_plus_minus_is():
    accs = (0.90, 0.93, 0.96)
    runs = {"reduced-omniglot-1shot-5way": [_fewshot_run("a", s, a, a) for s, a in enumerate(accs)],
            "reduced-omniglot-1shot-5way-transductive": [_fewshot_run("b", 0, 0.5, 0.96)],
            "reduced-omniglot-5shot-5way": [_fewshot_run("c", 0, 0.98, 0.99)]}
    t = fewshot_table(2, runs, budget="reduced").frame
    caption = fewshot_table(2, runs, budget="reduced").caption
    assert "mean ± standard deviation over 3 seeds for Reptile" in caption  # the paper's Reptile rows
    assert ("the MAML rows as the paper gives them (quoted from Finn et al., ± their 95% interval, but for the "
            "first-order MAML row, which is not in Finn et al. and has no source)") in caption
    table1 = fewshot_table(1, {}, budget="reduced").caption  # Table 1's first-order MAML row is in Finn et al.
    assert "the MAML rows as the paper gives them (quoted from Finn et al., ± their 95% interval)" in table1
    assert "no source" not in table1
    assert "; ± is" not in caption  # ours differ per cell: each cell says its own
    # Reptile: 3 seeds in 1-shot, 1 seed in 5-shot: each cell says its own
    sd = math.sqrt(((90 - 93) ** 2 + (93 - 93) ** 2 + (96 - 93) ** 2) / 2)  # = 3, by hand
    ours = ("Reptile", "this companion, reduced budget")
    assert t.loc[ours, "1-shot 5-way"] == f"93.00 ± {sd:.2f} (std over 3 seeds)" == "93.00 ± 3.00 (std over 3 seeds)"
    assert t.loc[ours, "5-shot 5-way"] == "98.00 ± 1.00 (95% interval over tasks, 1 seed)"
    # Reptile + Transduction: one seed in each filled cell, said once for the row
    tr = ("Reptile + Transduction", "this companion, reduced budget")
    assert t.loc[tr, "1-shot 5-way"] == "96.00 ± 2.00 (95% interval over tasks, 1 seed)"
    assert t.loc[tr, "5-shot 5-way"] == "99.00 ± 2.00 (95% interval over tasks, 1 seed)"
    with pd.option_context("display.max_columns", 20):  # a notebook's text repr, the one nbval compares
        text = repr(t)
    assert "(std over 3 seeds)" in text and "(95% interval over tasks, 1 seed)" in text
    assert "..." not in text  # no label cut short


def test_the_cells_finished_at_the_papers_protocol_are_compared_with_the_papers_numbers():
    runs = {"omniglot-5shot-5way": [_fewshot_run("omniglot-5shot-5way", s, a, 0.9947, budget="paper")
                                    for s, a in enumerate((0.9880, 0.9890, 0.9900))],
            "omniglot-1shot-5way": [_fewshot_run("omniglot-1shot-5way", 0, 0.95, 0.98, budget="paper")],
            "reduced-omniglot-1shot-20way": [_fewshot_run("r", s, 0.8, 0.8) for s in range(3)],
            "omniglot-1shot-5way-transductive": [
                _fewshot_run("omniglot-1shot-5way-transductive", s, 0.94, a, budget="paper")
                for s, a in enumerate((0.973, 0.974, 0.975))]}
    got = {(c["row"], c["column"]): c for c in comparisons(2, runs)}
    # ours 98.90 ± 0.10 against the paper's 98.87 ± 0.02: +0.03 points; the standard error of the difference is
    # sqrt(0.10² / 3 + 0.02² / 3) = 0.0589, by hand, so z = 0.03 / 0.0589 = 0.51: reproduces
    five = got[("Reptile", "5-shot 5-way")]
    assert five["comparison"].z == pytest.approx(0.03 / math.sqrt(0.10 ** 2 / 3 + 0.02 ** 2 / 3), rel=1e-6)
    assert (five["ours"], five["verdict"]) == ("98.90 ± 0.10", "reproduces")
    # ours 97.40 ± 0.10 against the paper's 97.97 ± 0.08: -0.57 points, sqrt(0.10² / 3 + 0.08² / 3) = 0.0739 by
    # hand, z = -7.7: differs
    tr = got[("Reptile + Transduction", "1-shot 5-way")]
    assert tr["comparison"].z == pytest.approx(-0.57 / math.sqrt(0.10 ** 2 / 3 + 0.08 ** 2 / 3), rel=1e-6)
    assert tr["verdict"] == "differs"
    # one seed: its standard error over tasks (its 95% interval / 1.96) against the paper's
    one = got[("Reptile", "1-shot 5-way")]
    assert one["comparison"].z == pytest.approx(-0.32 / math.sqrt((1 / 1.96) ** 2 + 0.05 ** 2 / 3), rel=1e-6)
    assert one["ours"] == "95.00 ± 1.00 (95%, 1 seed)" and one["verdict"] == "reproduces"
    # reduced runs never stand in for the paper's protocol; a run under way says how far it is
    assert got[("Reptile", "1-shot 20-way")]["verdict"] == "not yet run"
    under_way = comparisons(2, runs, {"omniglot-1shot-20way": "training: 10 / 200,000"})
    assert [c["ours"] for c in under_way if c["column"] == "1-shot 20-way"] == ["training: 10 / 200,000"] * 2
    table = comparison_table(2, runs)
    assert table.frame.loc["Reptile + Transduction, 1-shot 5-way", "z"] == "-7.7"
    assert table.frame.loc["Reptile + Transduction, 1-shot 5-way", "verdict"] == "differs"
    assert "reproduces when |z| < 3" in table.caption
    assert {c["verdict"] for c in comparisons(1, runs)} == {"not yet run"}
    # the front page's rows are these verdicts, and each MAML row of the paper is marked as not run here
    checks = paper_checks(runs)
    assert [r.verdict for r in checks[:8]] == [c["verdict"] for c in comparisons(2, runs)]
    assert [r.item for r in checks if "MAML" in r.item] == [  # Table 1's are quoted by the chapter, checked by none
        "paper Table 2 (Omniglot), MAML + Transduction", "paper Table 2 (Omniglot), first-order MAML + Transduction"]
    with pytest.raises(ValueError, match="table must be 1 .* or 2 .*, got 3"):
        comparisons(3, runs)


def test_only_the_artifacts_package_draws():
    """Computation and presentation live apart: no module outside ``reptile.artifacts`` imports matplotlib or
    pandas, but for the tables the benchmark's and the campaign's command lines print (``bench/report.py``,
    ``campaign/report.py``, which the status page draws too: presentation must not be imported below it)."""
    import ast
    from pathlib import Path

    import reptile

    root = Path(reptile.__file__).parent
    offenders = []
    tables = {root / "bench" / "report.py", root / "campaign" / "report.py"}
    for path in sorted(p for p in root.rglob("*.py") if "artifacts" not in p.parts and p not in tables):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            names = ([a.name for a in node.names] if isinstance(node, ast.Import)
                     else [node.module or ""] if isinstance(node, ast.ImportFrom) else [])
            offenders += [f"{path.relative_to(root)}: {n}" for n in names if n.split(".")[0] in ("matplotlib", "pandas")]
    assert offenders == []
    assert (root / "artifacts" / "__init__.py").exists() and not (root / "artifacts.py").exists()


def test_source_manifest_names_the_commit_sent_while_src_is_unchanged(tmp_path, monkeypatch):
    """A copy with a stale or no .git records the manifest's commit; once src/ differs, git (none here) or the
    manifest's commit marked dirty."""
    from reptile import provenance

    (tmp_path / "src" / "pkg").mkdir(parents=True)
    (tmp_path / "src" / "pkg" / "a.py").write_text("x = 1\n")
    monkeypatch.setattr(provenance, "REPO_ROOT", tmp_path)  # tmp_path is no git checkout
    assert provenance.git_commit() == {"commit": None, "dirty": None}
    provenance.write_source_manifest("f" * 40)
    assert provenance.git_commit() == {"commit": "f" * 40, "dirty": False}
    (tmp_path / "src" / "pkg" / "a.py").write_text("x = 2\n")
    assert provenance.git_commit() == {"commit": "f" * 40, "dirty": True}


def test_the_campaign_progress_of_a_few_shot_cell_names_its_state(tmp_path, monkeypatch):
    from reptile import campaign
    from reptile.artifacts.fewshot import campaign_progress

    rows = [{"population": "fewshot/omniglot-1shot-5way", "state": "training", "outer iterations": "10 / 200,000",
             "evaluation tasks": "-"},
            {"population": "fewshot/omniglot-5shot-5way", "state": "evaluating", "outer iterations": "9 / 9",
             "evaluation tasks": "5 / 30,000"},
            {"population": "fewshot/omniglot-1shot-20way", "state": "not started", "outer iterations": "0 / 9",
             "evaluation tasks": "-"},
            {"population": "gradcomb/figure3-g1", "state": "training", "outer iterations": "1 / 9",
             "evaluation tasks": "-"}]
    monkeypatch.setattr(campaign.plan, "progress", lambda plan=campaign.PLAN, results_dir=None: rows)
    assert campaign_progress(tmp_path) == {"omniglot-1shot-5way": "training: 10 / 200,000",
                                           "omniglot-5shot-5way": "evaluating: 5 / 30,000 tasks"}
    # a MAML entry trains its seeds one after another: the seed under way and how far it has come
    rows[:] = [{"population": "maml/finn-maml-omniglot-1shot-5way", "state": "training",
                "outer iterations": "60,237 / 180,000", "evaluation tasks": "-"},
               {"population": "maml/finn-fomaml-omniglot-1shot-5way", "state": "training",
                "outer iterations": "46,256 / 180,000", "evaluation tasks": "-"},
               {"population": "maml/maml-omniglot-1shot-5way", "state": "training",
                "outer iterations": "120,000 / 180,000", "evaluation tasks": "-"}]
    assert campaign_progress(tmp_path, "maml") == {
        "finn-maml-omniglot-1shot-5way": "training: seed 1 at 237 / 60,000",
        "finn-fomaml-omniglot-1shot-5way": "training: seed 0 at 46,256 / 60,000",
        "maml-omniglot-1shot-5way": "seed 2 not started"}  # two seeds finished, the third without a checkpoint


def _curve(its, accs):
    return {"iteration": list(its), "test_accuracy": list(accs)}


def test_the_learning_curves_put_each_budget_in_its_panel_and_runs_under_way_dashed(tmp_path):
    from reptile import campaign
    from reptile.artifacts.fewshot import campaign_curves, fewshot_learning_curves
    from reptile.train import save_checkpoint

    entry = next(e for e in campaign.PLAN if e.name == "omniglot-1shot-5way")
    curves = [_curve([0, 1000, 2000], [0.2, 0.5 + 0.1 * s, 0.6]) for s in range(3)]
    save_checkpoint(campaign.checkpoint_path(entry, tmp_path),
                    {"population": {"iteration": 2345}, "curves": curves, "segments": []})
    got = campaign_curves(tmp_path)
    assert list(got) == ["omniglot-1shot-5way"]
    assert got["omniglot-1shot-5way"]["done"] == 2345 and got["omniglot-1shot-5way"]["total"] == 200_000
    assert got["omniglot-1shot-5way"]["curves"] == curves

    def run(name, budget, seed):
        return {"config": {"budget": budget, "curve_tasks": 20}, "seed": seed,
                "curve": _curve([0, 500, 1000], [0.2, 0.4, 0.5 + 0.01 * seed])}

    runs = {"reduced-omniglot-1shot-5way": [run("r", "reduced", s) for s in range(3)]}
    fig = fewshot_learning_curves(runs, got)
    reduced, paper = fig.axes[:2]
    assert [l.get_label() for l in reduced.lines] == ["Omniglot 1-shot 5-way (3 seeds)"]  # in words
    (dashed,) = paper.lines
    assert dashed.get_linestyle() == "--" and "so far, 2,345 / 200,000" in dashed.get_label()
    assert list(dashed.get_ydata()) == pytest.approx([20.0, 60.0, 60.0])  # the mean over seeds, in percent
    assert dashed.get_color() == reduced.lines[0].get_color()  # one colour per configuration in both panels
    assert "20 test tasks" in reduced.get_title() and "100 test tasks" in paper.get_title()
    empty = fewshot_learning_curves({}, {})
    assert [t.get_text() for t in empty.axes[1].texts] == ["no runs stored yet"]


def test_a_printed_z_never_crosses_the_threshold():
    from reptile.stats import z_text

    assert (z_text(8.83), z_text(-1.44), z_text(0.0), z_text(3.04), z_text(-3.4)) == ("+8.8", "-1.4", "+0.0", "+3.0",
                                                                                      "-3.4")
    assert (z_text(-2.998), z_text(2.96), z_text(2.9996)) == ("-2.998", "+2.96", "+2.999")  # the last one cut
    assert (z_text(3.0), z_text(-3.0004), z_text(2.94)) == ("+3.0", "-3.0", "+2.9")
    assert z_text(float("nan")) == "+nan" and z_text(float("-inf")) == "-inf"


def test_a_speed_report_measured_under_load_says_so():
    from reptile.artifacts.speed import _load_flag

    assert _load_flag({"load_average": [1.3, 1.0, 1.0], "cores": 2}) == "" == _load_flag({})
    said = _load_flag({"load_average": [5.59, 4.6, 3.8], "environment": {"cpu_count": 2}})
    assert said.startswith(", measured under load: load average 5.6 on 2 cores, so other work shared them")


def test_the_rule_at_its_edges():
    """compare's degenerate cases, by hand: no spread on either side, a side without a standard error, and a z
    exactly at the threshold."""
    import math

    from reptile.stats import Estimate, compare

    same = compare(Estimate(5.0, se=0.0), Estimate(5.0, se=0.0))
    assert (same.difference, same.z, same.claim(), same.agreement()) == (0.0, 0.0, "not resolved", "reproduces")
    apart = compare(Estimate(5.0, se=0.0), Estimate(4.0, se=0.0))
    assert apart.z == math.inf and (apart.claim(), apart.agreement()) == ("not resolved", "not resolved")
    assert compare(Estimate(4.0, se=0.0), Estimate(5.0, se=0.0)).z == -math.inf
    blind = compare(Estimate(5.0), Estimate(4.0, se=0.1))  # one seed and no per-task spread: no standard error
    assert math.isnan(blind.z) and (blind.claim(), blind.agreement()) == ("not resolved", "not resolved")
    assert blind.describe() == "+1.00 points"
    edge = compare(Estimate(0.3, se=0.06), Estimate(0.0, se=0.08))  # d = 0.3 over SE = 0.1: z = 3 up to rounding
    assert edge.z == pytest.approx(3.0) and edge.se == pytest.approx(0.1)
    assert compare(Estimate(3.0, se=0.0), Estimate(0.0, se=1.0)).claim() == "holds"  # exactly 3: holds
    assert compare(Estimate(-3.0, se=0.0), Estimate(0.0, se=1.0)).claim() == "does not hold"
    assert compare(Estimate(0.3 + 1e-12, se=0.06), Estimate(0.0, se=0.08)).claim() == "holds"
    assert compare(Estimate(-0.3 - 1e-12, se=0.06), Estimate(0.0, se=0.08)).claim() == "does not hold"
    assert compare(Estimate(0.2999, se=0.06), Estimate(0.0, se=0.08)).agreement() == "reproduces"


def test_a_few_shot_preset_reads_in_words_in_a_legend():
    from reptile.artifacts.fewshot import readable

    assert readable("omniglot-1shot-5way-transductive-eval25") == (
        "Omniglot 1-shot 5-way, trained for transduction (paper Table 5), evaluated in batches of 25")
    assert readable("reduced-miniimagenet-5shot-5way-v2-custom-0123") == (
        "Mini-ImageNet 5-shot 5-way, the authors' later settings, customised")
    assert readable("ci") == "ci"  # not a cell's preset: its name
