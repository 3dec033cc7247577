"""The MAML chapter's tables (reptile.artifacts.maml): the book's rule applied to hand-made runs, the paper's quoted
rows beside ours, and the stored reduced runs read back."""

import math

import pytest

from reptile.artifacts import maml as M
from reptile.artifacts import maml_steps as S
from reptile.paper import TABLE2


def _run(protocol, algorithm, accs, ci95=0.02, budget="paper", shots=1, n_way=5, seed=0, modes=("transductive",)):
    """A record as reptile.maml.experiment writes it, with the accuracy after each test step."""
    ev = {m: {"accuracy": accs[-1], "ci95": ci95, "tasks": 600, "accuracy_per_step": list(accs),
              "ci95_per_step": [ci95] * len(accs)} for m in modes}
    return {"seed": seed, "seconds_per_iteration": 0.5, "eval": ev,
            "primary_mode": "transductive" if protocol == "finn" else "non_transductive",
            "config": {"protocol": protocol, "algorithm": algorithm, "budget": budget, "shots": shots,
                       "n_way": n_way, "outer_iters": 60_000, "eval_tasks": 600}}


def test_maml_against_first_order_by_the_rule():
    runs = {"a": [_run("finn", "maml", [0.2, 0.90], ci95=0.0196)],  # se 1 point
            "b": [_run("finn", "fomaml", [0.2, 0.86], ci95=0.0196)]}
    got = {it["comparison"]: it for it in M.comparisons(runs, budget="paper")}
    within = got["MAML exceeds first-order MAML (Finn et al.'s protocol, 1-shot 5-way, transductive)"]
    assert within["z"] == pytest.approx(4 / math.sqrt(2))  # 4 points over sqrt(1 + 1)
    assert within["verdict"] == "not resolved"  # 2.8 < 3
    assert not any("first-order MAML under Finn" in k for k in got)  # that quoted row has no source to reproduce
    # each finn MAML run is checked against the row the paper quotes (Finn's ± is a 95% interval over 600 tasks)
    m, s = TABLE2["rows"]["MAML + Transduction"][0]
    quoted = got["MAML under Finn et al.'s protocol reproduces paper Table 2's quoted 1-shot 5-way cell"]
    assert quoted["z"] == pytest.approx((90 - m) / math.sqrt(1 + (s / 1.96) ** 2))
    assert quoted["verdict"] == "differs"


def test_three_seeds_use_their_spread_and_reptile_is_compared_under_its_protocol():
    maml_runs = [_run("reptile", "maml", [0.2, a], modes=("transductive", "non_transductive"), seed=s)
                 for s, a in enumerate((0.95, 0.96, 0.97))]
    reptile = [{"eval": {"non_transductive": {"accuracy": a}, "transductive": {"accuracy": a - 0.5}}}
               for a in (0.95, 0.96, 0.97)]
    # paper Table 2's Reptile + Transduction 1-shot 5-way cell is a run of its own (Table 5's settings)
    table5 = [{"eval": {"non_transductive": {"accuracy": a - 0.5}, "transductive": {"accuracy": a + 0.01}}}
              for a in (0.95, 0.96, 0.97)]
    reptile_runs = {"omniglot-1shot-5way": reptile, "omniglot-1shot-5way-transductive": table5}
    got = M.comparisons({"maml-omniglot-1shot-5way": maml_runs}, reptile_runs, "paper")
    agree = [it for it in got if it["comparison"].startswith("MAML reproduces Reptile's accuracy")]
    assert len(agree) == 2
    non = next(it for it in agree if "non-transductive" in it["comparison"])
    assert non["z"] == pytest.approx(0.0, abs=1e-9) and non["verdict"] == "reproduces"
    trans = next(it for it in agree if "(1-shot 5-way, transductive)" in it["comparison"])
    assert trans["z"] == pytest.approx(1.0 / math.sqrt(2 * (1.0 ** 2 / 3)))  # sd 1 point over 3 seeds on each side
    assert non["a"] == "96.00 ± 1.00" and trans["a"] == "97.00 ± 1.00"
    # while the MAML entry still trains, its comparisons wait: under way, no z
    going = M.comparisons({"maml-omniglot-1shot-5way": maml_runs[:1]}, reptile_runs, "paper",
                          {"maml-omniglot-1shot-5way": "training: seed 1 at 10 / 60,000"})
    assert {it["verdict"] for it in going} == {"under way"} and all(math.isnan(it["z"]) for it in going)
    assert going[0]["b"].endswith("(1 of 3 seeds; training: seed 1 at 10 / 60,000)")


def test_table2_shows_how_far_a_maml_entry_under_way_has_come():
    from reptile.artifacts.fewshot import fewshot_table

    progress = {"finn-maml-omniglot-1shot-5way": "training: 30,469 / 180,000"}
    row = ("MAML + Transduction", "this companion, Finn et al.'s protocol")
    for frame in (M.table2_table({}, "paper", progress).frame,
                  fewshot_table(2, {}, "paper", maml_runs={}, maml_progress=progress).frame):
        assert frame.loc[row, "1-shot 5-way"] == "training: 30,469 / 180,000"
        assert frame.loc[row, "5-shot 5-way"] == "not yet run"
    # a seed finished and the entry's next seed under way: the cell says both
    runs = {"finn-maml-omniglot-1shot-5way": [_run("finn", "maml", [0.2, 0.99])]}
    cell = M.table2_table(runs, "paper", progress).frame.loc[row, "1-shot 5-way"]
    assert cell.startswith("99.00 ± ") and cell.endswith(" (1 of 3 seeds; training: 30,469 / 180,000)")


def test_a_reduced_budget_is_never_shown_as_the_paper_s():
    runs = {"reduced-finn-maml-omniglot-1shot-5way": [_run("finn", "maml", [0.2, 0.5], budget="reduced")]}
    paper = M.table2_rows(runs, "paper")
    assert set(paper[("MAML + Transduction", "this companion, Finn et al.'s protocol")].values()) == {"not yet run"}
    reduced = M.table2_rows(runs, "reduced")
    cells = reduced[("MAML + Transduction", "this companion, Finn et al.'s protocol, reduced")]
    assert cells["1-shot 5-way"] == "50.00 ± 2.00" and cells["1-shot 20-way"] == "-"  # no reduced 20-way preset
    assert "at the reduced budget (not the paper's" in M.runs_table(runs, "reduced").caption
    assert M.runs_table(runs, "paper").frame.iloc[0, 0] == "not yet run"
    with pytest.raises(ValueError, match="budget must be 'paper' or 'reduced', got 'full'"):
        M.runs_table(runs, "full")


def test_the_stored_reduced_runs_read_back():
    stored = M.stored()
    table = M.runs_table(stored, "reduced")
    assert len(table.frame) >= 8  # every reduced 5-way preset, Reptile's protocol in two prediction modes
    assert any("-custom-" in name for name in stored)  # a customised run is shown too (Reptile's, Finn's network)
    for name, runs in stored.items():
        if "-custom-" in name or not name.startswith("reduced-"):
            continue  # a customised run, or one at the full budget (the paper-budget table's)
        for r in runs:
            mode = r["primary_mode"]
            row = table.frame.loc[(f"{r['config']['shots']}-shot 5-way", M.SHORT[r["config"]["algorithm"]],
                                   M.PROTOCOL[r["config"]["protocol"]].replace(" et al.'s", "'s"), M.SHORT[mode])]
            assert row.iloc[-1].startswith(f"{100 * r['eval'][mode]['accuracy']:.1f} ±")
    assert "Finn et al.'s protocol (finn-*)" in M.protocols_table().frame.columns


def test_every_table_of_the_chapter_renders_as_html():
    """IPython shows a failing _repr_html_ as a traceback and goes on; the book's build stops on it."""
    stored = M.stored()
    for table in (M.runs_table(stored, "reduced"), M.runs_table(stored, "paper"), S.probe_table(),
                  M.comparison_table(stored, budget="reduced"), M.comparison_table(stored, budget="paper"),
                  M.table2_table(stored, "paper"), M.table2_table(stored, "reduced"), M.protocols_table()):
        assert "<table" in table._repr_html_()


def test_the_cost_table_gives_a_maml_run_its_rate():
    from reptile.artifacts.status import chapter_costs

    run = {"experiment": "maml", "name": "reduced-finn-maml-omniglot-1shot-5way", "seed": 0, "wall_seconds": 90.0,
           "train_seconds": 50.0, "config": {"outer_iters": 100},
           "environment": {"device": "cuda:0", "device_name": "Some GPU"}}
    row = chapter_costs([run]).frame.loc[("Reptile and MAML (beyond the paper)", run["name"])]
    assert row["outer it/s by device"] == "Some GPU: 2.0" and row["time per run"] == "90 s"


def test_one_reptile_seed_is_judged_over_its_tasks():
    maml_runs = [_run("reptile", "maml", [0.2, 0.95], ci95=0.0196, modes=("non_transductive",))]
    reptile = [{"eval": {"non_transductive": {"accuracy": 0.99, "ci95": 0.0196}}}]
    got = M.comparisons({"maml-omniglot-1shot-5way": maml_runs}, {"omniglot-1shot-5way": reptile}, "paper")
    agree = next(it for it in got if it["comparison"].startswith("MAML reproduces Reptile's accuracy"))
    assert agree["z"] == pytest.approx(4 / math.sqrt(2)) and agree["a"] == "99.00 ± 1.96"


def test_the_front_page_judges_the_quoted_rows_cell_by_cell_by_our_runs_of_them():
    idle = {"cells": list(M.COLUMNS), "ours": "-", "z": None, "verdict": "not yet run"}
    assert M.quoted_row_checks("maml", {}) == [idle]
    m, s = TABLE2["rows"]["MAML + Transduction"][0]  # its 1-shot 5-way cell: 95% interval s over 600 tasks
    near = {"finn-maml-omniglot-1shot-5way": [_run("finn", "maml", [0.2, (m + s / 1.96) / 100], ci95=s / 100)]}
    first, rest = M.quoted_row_checks("maml", near)
    assert first["cells"] == ["1-shot 5-way"] and first["verdict"] == "reproduces"
    assert first["z"] == pytest.approx(1 / math.sqrt(2))  # one standard error apart, each side's se s / 1.96
    assert first["ours"] == f"{m + s / 1.96:.2f} ± {s:.2f} (1 seed)"
    assert rest == {**idle, "cells": list(M.COLUMNS[1:])}  # the other three share a row, not yet run
    far = {"finn-maml-omniglot-1shot-5way": [_run("finn", "maml", [0.2, (m - 10) / 100], ci95=s / 100)]}
    assert M.quoted_row_checks("maml", far)[0]["verdict"] == "differs"
    # seeds still training: under way, whatever the finished seeds say, with how far it has come
    going = M.quoted_row_checks("maml", far, {"finn-maml-omniglot-1shot-5way": "training: 60,237 / 180,000"})[0]
    assert (going["verdict"], going["z"]) == ("under way", None)
    assert going["ours"] == f"{m - 10:.2f} ± {s:.2f} (1 of 3 seeds; training: 60,237 / 180,000)"
    every = {f"finn-maml-omniglot-{c}": [_run("finn", "maml", [0.2, mm / 100], ci95=ss / 100)]
             for c, (mm, ss) in zip(("1shot-5way", "5shot-5way", "1shot-20way", "5shot-20way"),
                                    TABLE2["rows"]["MAML + Transduction"])}
    assert [it["verdict"] for it in M.quoted_row_checks("maml", every)] == ["reproduces"] * 4
    fo = {"finn-fomaml-omniglot-1shot-5way": [_run("finn", "fomaml", [0.2, 0.98])]}
    assert M.quoted_row_checks("fomaml", fo)[0]["verdict"] == "no source"  # nothing to reproduce: no verdict
    going = {"finn-fomaml-omniglot-1shot-5way": "training: 15,403 / 60,000"}  # nor while it trains, nor before
    first, rest = M.quoted_row_checks("fomaml", fo, going)
    assert (first["verdict"], first["z"], rest["verdict"]) == ("no source", None, "no source")
    assert first["ours"].endswith("(1 of 3 seeds; training: 15,403 / 60,000)") and rest["ours"] == "-"


def test_under_finn_s_protocol_the_shared_test_tasks_enter_the_standard_error():
    """Every seed under Finn et al.'s protocol is tested on the same 600 tasks, so the mean over seeds keeps those
    tasks' sampling error, which the seeds' spread cannot show: se = sqrt(sd² / n + task se²). Under Reptile's, each
    seed draws its own tasks and the spread over seeds is the whole standard error."""
    accs = (0.97, 0.98, 0.99)  # sd 1 point over 3 seeds
    finn = [_run("finn", "maml", [0.2, a], ci95=0.0196, seed=s) for s, a in enumerate(accs)]  # task se 1 point
    est = M._estimate(finn, "transductive")
    assert (est.mean, est.sd) == (pytest.approx(98), pytest.approx(1))
    assert est.standard_error() == pytest.approx(math.sqrt(1 / 3 + 1))
    ours = M._estimate([_run("reptile", "maml", [0.2, a], ci95=0.0196, seed=s) for s, a in enumerate(accs)],
                       "transductive")
    assert ours.standard_error() == pytest.approx(math.sqrt(1 / 3))
    m, s = TABLE2["rows"]["MAML + Transduction"][0]
    quoted = M.quoted_row_checks("maml", {"finn-maml-omniglot-1shot-5way": finn})[0]
    assert quoted["z"] == pytest.approx((98 - m) / math.sqrt(1 / 3 + 1 + (s / 1.96) ** 2))


def test_the_comparisons_not_yet_made_are_listed_by_kind_without_an_index():
    table = M.comparison_table({}, {}, budget="paper")
    assert list(table.frame["verdict"]) == ["not yet run"] * 4
    assert table.frame["comparison"].iloc[1].startswith("MAML under Finn et al.'s protocol reproduces")
    assert ">0</th>" not in table._repr_html_() and "none is yet" in table.caption
    assert len(M.comparison_table({}, {}, budget="reduced").frame) == 1


def test_the_chapter_opens_with_what_is_finished_and_whether_the_claim_is_tested_yet():
    from reptile.maml.presets import PRESETS

    full = [n for n in PRESETS if not n.startswith("reduced-") and n != "ci"]
    assert len(full) == 16  # 2 protocols x 2 algorithms x 4 cells
    reduced = {"reduced-maml-omniglot-1shot-5way": [{}], "reduced-fomaml-omniglot-1shot-5way": [{}]}
    text = M.standing(reduced)
    assert text.startswith("**Where this chapter stands:** 0 of the 16 full-budget cells")
    assert "does **not** test the paper's claim" in text and "the 2 reduced-budget runs (1 seed each" in text
    partial = {**reduced, "maml-omniglot-1shot-5way": [{}, {}], "finn-maml-omniglot-1shot-5way": [{}, {}, {}]}
    text = M.standing(partial)  # two seeds are not a finished cell; a finished cell under Finn's tests no claim
    assert "1 of the 16 full-budget cells (MAML and first-order MAML, both protocols, Omniglot's four columns) is " \
        "finished" in text and ": `finn-maml-omniglot-1shot-5way`." in text
    assert "does **not** test the paper's claim" in text and "campaign entries, queued after Reptile's" in text
    assert "(`maml-omniglot-1shot-5way`, 2 of 3 seeds finished)" in text and "cell under Finn et al.'s protocol checks the MAML rows" in text
    text = M.standing({**partial, "maml-omniglot-1shot-5way": [{}, {}, {}]})  # under Reptile's: the claim is tested
    assert "does **not**" not in text and "rest on those under Reptile's protocol" in text
    under_way = {"finn-maml-omniglot-1shot-5way": "training: 30,469 / 180,000"}
    text = M.standing(reduced, under_way, "2026-01-02")  # the campaign's entry under way, with its progress and date
    assert "under way as of 2026-01-02: `finn-maml-omniglot-1shot-5way`, training: 30,469 / 180,000 (Status page)." \
        in text
    assert "queued" not in text


def test_the_steps_summary_judges_whether_accuracy_falls_after_the_first_step():
    def run(protocol, network, per_step, half=0.01):
        cfg = {"budget": "reduced", "algorithm": "maml", "protocol": protocol, "network": network, "shots": 1,
               "n_way": 5}
        ev = {"accuracy": per_step[-1], "ci95": half, "accuracy_per_step": per_step,
              "ci95_per_step": [half] * len(per_step)}
        return {"config": cfg, "seed": 0, "eval": {"transductive": ev}}

    runs = {"a": [run("reptile", "reptile", [0.2, 0.5, 0.3, 0.27])],
            "b": [run("finn", "finn", [0.2, 0.52, 0.55, 0.58])],
            "c": [run("reptile", "finn", [0.2, 0.5, 0.49, 0.505])],
            "d": [{**run("reptile", "reptile", [0.2, 0.9, 0.1, 0.1]),
                   "config": {**run("reptile", "reptile", [0])["config"], "algorithm": "fomaml"}}]}  # not MAML
    text = S.steps_summary(runs)
    se = 100 * 0.01 / 1.96  # each side's standard error, from its 95% half-width over the test tasks
    z = (50 - 27) / (2 * se ** 2) ** 0.5
    assert f"Under Reptile's protocol: 1-shot 5-way transductive, 50.0 ± 1.0 after 1 step and 27.0 ± 1.0 after 3 " \
           f"(falls: holds, z = {z:+.1f})." in text
    assert "Under Finn et al.'s protocol: 1-shot 5-way transductive, 52.0 ± 1.0 after 1 step and 58.0 ± 1.0 after 3 " \
           "(falls: does not hold, z = " in text
    assert "Under Reptile's protocol with Finn et al.'s network: 1-shot 5-way transductive, 50.0 ± 1.0 after 1 step " \
           "and 50.5 ± 1.0 after 3 (falls: not resolved, z = -0.7)." in text
    assert text.count("after 1 step") == 3  # first-order MAML's run is not among them
    assert S.steps_summary(runs, budget="paper") == "No MAML run is stored at the paper budget."
    with pytest.raises(ValueError, match="budget must be .paper. or .reduced., got .full."):
        S.steps_summary(runs, budget="full")


def test_the_network_swap_is_read_against_the_protocol_s_own_network():
    def run(network, per_step, half=0.01):
        ev = {"accuracy": per_step[-1], "ci95": half, "accuracy_per_step": per_step,
              "ci95_per_step": [half] * len(per_step)}
        return [{"config": {"budget": "reduced", "algorithm": "maml", "protocol": "reptile", "network": network,
                            "shots": 1, "n_way": 5, "outer_iters": 250}, "seed": 0,
                 "eval": {"transductive": ev, "non_transductive": ev}}]

    own = run("reptile", [0.2, 0.5, 0.3, 0.27])  # falls: z = 23 / (sqrt(2) * 0.51) = +31.9
    runs = {"reduced-maml-omniglot-1shot-5way": own,
            "reduced-maml-omniglot-1shot-5way-custom-0123456789": run("finn", [0.2, 0.5, 0.49, 0.505])}
    text = S.network_summary(runs)
    assert text.startswith("With Finn et al.'s network under Reptile's protocol, everything else as in "
                           "`reduced-maml-omniglot-1shot-5way`")
    assert "transductive, not resolved (z = -0.7)" in text and "transductive, holds (z = +31.9)" in text
    assert "the fall goes with the network, not with the rest of the protocol" in text
    assert "(1 seed each, 250 outer iterations)" in text
    runs["reduced-maml-omniglot-1shot-5way-custom-0123456789"] = run("finn", [0.2, 0.5, 0.3, 0.3])
    assert "falls on both networks" in S.network_summary(runs)
    assert S.network_summary({"reduced-maml-omniglot-1shot-5way": own}) == ""  # no swap stored: nothing to say


def test_the_probe_s_changes_are_judged_with_each_standard_error_at_its_bound():
    assert S.bound_se(0.5, 100) == pytest.approx(0.05)  # sqrt(0.25 / 100)
    # 0.578 -> 0.626 over 100 tasks: 0.048 / sqrt(0.578 * 0.422 / 100 + 0.626 * 0.374 / 100) = 0.70
    assert S._change(0.578, 0.626, 100).startswith("not resolved by this probe: |z| is at least 0.7")
    assert S._change(0.458, 0.274, 200).startswith("resolved: |z| is at least 3.9")


def test_the_results_readme_keeps_full_budget_runs_apart_from_the_reduced(tmp_path, monkeypatch):
    """results/maml/README.md (python -m reptile.maml.report): the campaign's full-budget runs under their own heading,
    never under the REDUCED statement, with the device each ran on."""
    import dataclasses

    from reptile.maml import report
    from reptile.maml.presets import PRESETS

    def rec(name, seed, device):
        cfg = dataclasses.asdict(PRESETS[name])
        ev = {"tasks": 600, "accuracy_per_step": [0.2, 0.9], "ci95_per_step": [0.01, 0.02]}
        return {"experiment": "maml", "name": name, "seed": seed, "config": cfg, "seconds_per_iteration": 0.5,
                "environment": {"device_name": device}, "eval": {"transductive": ev}}

    runs = [rec("finn-maml-omniglot-1shot-5way", s, "NVIDIA H200") for s in (0, 1, 2)] + \
        [rec("reduced-maml-omniglot-1shot-5way", 0, "cpu")]
    assert {r["config"]["budget"] for r in runs} == {"paper", "reduced"}
    monkeypatch.setattr(report.R, "load_all", lambda *a, **k: runs)
    text = report.render(tmp_path)
    full, reduced = text.split("## At the full budget")[1].split("## Reduced runs")
    assert full.count("`finn-maml-omniglot-1shot-5way` (seed") == 3 and "NVIDIA H200" in full
    assert "60,000" in full and "REDUCED" not in full and "reduced-maml" not in full.split("## Presets")[0]
    assert "**These are REDUCED budgets, not the paper's**" in reduced and "`reduced-maml-omniglot-1shot-5way` (seed 0)" \
        in reduced
    monkeypatch.setattr(report.R, "load_all", lambda *a, **k: runs[3:])
    assert "None finished yet" in report.render(tmp_path)


def test_the_campaigns_maml_plan_is_costed_at_the_benchmarks_rate(tmp_path, monkeypatch):
    """The MAML chapter's plan: every MAML entry of the campaign in its order, its cost the newest CPU report's hours
    per seed times its seeds (by the plain engine's path, by which a seed that starts trains, where measured), its
    hours left at its own rate once it has one, an entry planned for a GPU not timed; with no report, no cost."""
    import json

    from reptile.artifacts import maml_plan
    from reptile.campaign import plan

    entries = [e for e in plan.PLAN if e.experiment == "maml"]
    rows = maml_plan.plan_rows(tmp_path)  # nothing stored: not started, no cost
    assert len(rows) == len(entries) == 16 and {r["state"] for r in rows} == {"not started"}
    assert [(r["cell"], r["algorithm"], r["protocol"]) for r in rows[:4]] == [
        ("1-shot 5-way", "MAML", "Finn et al.'s"), ("1-shot 5-way", "first-order MAML", "Finn et al.'s"),
        ("1-shot 5-way", "MAML", "Reptile's"), ("1-shot 5-way", "first-order MAML", "Reptile's")]
    assert all(r["CPU hours (benchmark)"] is None and r["hours left"] is None for r in rows)
    assert "no CPU report of the MAML benchmark is stored" in maml_plan.plan_table(tmp_path).caption

    folder = tmp_path / "bench" / "maml"
    folder.mkdir(parents=True)

    def report(name, created, hours):
        rows = [{"setting": "1-shot 5-way", "algorithm": "MAML", "path": path, "hours_per_run": h,
                 "seconds_per_iteration": h / 10}
                for path, h in ((maml_plan.PATHS[1], 2 * hours), ("engine, populations of tasks", hours))]
        rows.append({"setting": "1-shot 5-way", "algorithm": "first-order MAML",  # no plain row: oneDNN's
                     "path": maml_plan.PATHS[1], "hours_per_run": 0.5})
        (folder / f"{name}.json").write_text(json.dumps({
            "device": name, "created": created, "rows": rows, "environment": {"device": "cpu", "commit": "abc1234"}}))

    report("cpu-old", "2026-01-01T00:00:00Z", 9.0)
    report("cpu-new", "2026-02-01T00:00:00Z", 2.0)
    rows = maml_plan.plan_rows(tmp_path)
    assert rows[0]["CPU hours (benchmark)"] == 3 * 2.0 and rows[1]["CPU hours (benchmark)"] == 3 * 0.5
    assert rows[4]["CPU hours (benchmark)"] is None  # 5-shot: not in these reports
    # an entry under way: its hours left at its own measured rate
    real = plan.progress

    def under_way(entries, results_dir=None):
        out = real(entries, results_dir)
        out[0] = {**out[0], "state": "training", "outer iterations": "90,000 / 180,000", "outer it/s": 5.0}
        return out

    monkeypatch.setattr(plan, "progress", under_way)
    rows = maml_plan.plan_rows(tmp_path)
    assert rows[0]["hours left"] == 90_000 / 5.0 / 3600 and rows[1]["hours left"] == 3 * 0.5
    table = maml_plan.plan_table(tmp_path)
    assert "cpu-new, 1 thread; code abc1234" in table.caption and "no GPU timing of MAML is stored yet" in table.caption
    assert ("In all, 15 CPU hours of training for the 4 entries whose cost is measured, 15 of them for the 1-shot "
            "5-way") in table.caption
    # which path the report found faster is said, from the pairs it timed both ways (the plain one here)
    assert "the plain engine was the faster in 1 of its 1 MAML rows" in table.caption
    assert list(table.frame["hours left"])[4:] == ["GPU: not timed"] * 12  # the 5-shot and 20-way entries
    assert "A seed keeps the path" not in table.caption  # no seed under way: nothing said of their paths
    from reptile.campaign.plan import maml_checkpoint
    from reptile.train import save_checkpoint
    for seed, switches in ((0, {"REPTILE_ONEDNN": "1", "OTHER": "x"}), (1, {})):  # each seed's path, from its pieces
        path = maml_checkpoint(entries[0], seed, tmp_path)
        path.parent.mkdir(parents=True)
        piece = {"device": "cpu", "start": 0, "end": 5, "seconds": 0.5, "switches": {}}
        save_checkpoint(path, {"pieces": [piece, {**piece, "start": 5, "end": 10, "switches": switches}],
                               "learner": {"iteration": 10}, "train_seconds": 1.0})
    said = maml_plan.plan_table(tmp_path).caption
    assert (f"{entries[0].name} seed 0, REPTILE_ONEDNN=1; {entries[0].name} seed 1, the plain engine.") in said


def test_the_kinds_not_yet_reached_stay_listed_beside_the_comparisons_made():
    runs = {"a": [_run("finn", "maml", [0.2, 0.90])], "b": [_run("finn", "fomaml", [0.2, 0.86])]}
    table = M.comparison_table(runs, {}, budget="paper")
    rows = table.frame
    made = [c for c in rows.index if rows.loc[c, "verdict"] != "not yet run"]
    assert made == ["MAML exceeds first-order MAML (Finn et al.'s protocol, 1-shot 5-way, transductive)",
                    "MAML under Finn et al.'s protocol reproduces paper Table 2's quoted 1-shot 5-way cell"]
    waiting = [c for c in rows.index if rows.loc[c, "verdict"] == "not yet run"]
    assert waiting == ["MAML reproduces Reptile's accuracy under Reptile's protocol (each cell, both predictions)",
                       "first-order MAML reproduces Reptile's accuracy under Reptile's protocol (each cell, both "
                       "predictions)"]
    assert "listed once, not yet run" in table.caption and "under way" not in table.caption
    reduced = M.comparison_table({k: [{**r, "config": {**r["config"], "budget": "reduced"}} for r in v]
                                  for k, v in runs.items()}, budget="reduced")
    assert list(reduced.frame["verdict"]) == ["not resolved"] and "600 test tasks" not in reduced.caption
