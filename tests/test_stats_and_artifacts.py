import math

import pytest

from reptile.artifacts import coverage_table, sine_mse_stats
from reptile.stats import mean_ci95, std, t975


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


def _record(seed, values):
    return {"seed": seed, "experiment": "sine", "name": "x",
            "methods": {"reptile": {"eval": {"mse_tasks": {"0": values, "1": values, "32": values}}}}}


def test_sine_stats_pool_seeds_and_tasks():
    runs = [_record(0, [1.0, 2.0]), _record(1, [3.0, 6.0])]
    st = sine_mse_stats(runs, steps=(32,)).iloc[0]
    assert st["mse"] == pytest.approx(3.0) and st["median"] == pytest.approx(2.5)
    assert st["tasks"] == 4 and st["seeds"] == 2
    assert st["seed_std"] == pytest.approx(std([1.5, 4.5]))
    assert st["ci95"] == pytest.approx(mean_ci95([1.0, 2.0, 3.0, 6.0])[1])


def test_coverage_marks_what_is_not_run():
    table = coverage_table([_record(2, [1.0]), _record(0, [1.0])])
    assert table.loc[("Section 3, Figure 1: sine-wave regression", "x"), "seeds"] == "[0, 2]"
    assert table.loc[("Tables 1-2: few-shot classification (Mini-ImageNet, Omniglot)", "-"), "seeds"] == "not yet run"


def _fewshot_run(name, seed, nt, tr, budget="reduced"):
    return {"name": name, "seed": seed, "experiment": "fewshot",
            "config": {"budget": budget, "meta": {"outer_iters": 5000}},
            "eval": {"non_transductive": {"accuracy": nt, "ci95": 0.01, "tasks": 1000},
                     "transductive": {"accuracy": tr, "ci95": 0.02, "tasks": 1000}}}


def test_fewshot_tables_put_runs_in_the_papers_cells_and_mark_the_rest():
    from reptile.artifacts import fewshot_table

    runs = {"reduced-omniglot-1shot-5way": [_fewshot_run("reduced-omniglot-1shot-5way", s, a, b)
                                            for s, a, b in ((0, 0.90, 0.95), (1, 0.92, 0.97))],
            "reduced-omniglot-1shot-5way-transductive": [_fewshot_run("x", 0, 0.5, 0.96)]}
    t = fewshot_table(2, runs, budget="reduced")
    ours = ("Reptile", "this companion, reduced budget")
    assert t.loc[ours, "1-shot 5-way"] == f"91.00 ± {std([90.0, 92.0]):.2f}"  # mean ± std over seeds
    assert t.loc[("Reptile + Transduction", "this companion, reduced budget"), "1-shot 5-way"] == "96.00 ± 2.00"
    assert t.loc[ours, "5-shot 5-way"] == "not yet run"
    assert t.loc[("Reptile", "paper"), "1-shot 5-way"] == "95.32 ± 0.05"
    paper_budget = fewshot_table(2, runs, budget="paper")  # reduced runs never fill the paper-protocol rows
    assert paper_budget.loc[("Reptile", "this companion"), "1-shot 5-way"] == "not yet run"
    assert fewshot_table(1, {}).loc[("Reptile", "paper"), "5-shot 5-way"] == "61.98 ± 0.69"
    with pytest.raises(ValueError, match="table must be 1 .* or 2 .*, got 3"):
        fewshot_table(3, {})
