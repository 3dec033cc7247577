"""The verdict rows of the chapters on paper Sections 3 and 4 (``paper_checks`` of the sine, taylor and manifolds
artifact modules): every number a row quotes is the committed results' number, every verdict is the book's rule
(or the stated tolerance) applied to them, and a verdict follows the stored results when they change (it is
computed, never typed). Also the chapters' captioned tables and the labels the rows link to."""

from __future__ import annotations

import json
import math
import re
import shutil
from pathlib import Path

import numpy as np
import pytest

from reptile import results as R
from reptile.artifacts import manifolds as MA
from reptile.artifacts import sine as SA
from reptile.artifacts import sine_jacobian as SJ
from reptile.artifacts import taylor as TA
from reptile.artifacts import statements as ST
from reptile.artifacts.common import Check, Note, Table
from reptile.stats import (DIFFERS, DOES_NOT_HOLD, HOLDS, NOT_RESOLVED, NOT_YET_RUN, REPRODUCES, Estimate, compare,
                           std)

ROOT = Path(__file__).resolve().parents[1]
VERDICTS = {REPRODUCES, DIFFERS, HOLDS, DOES_NOT_HOLD, NOT_RESOLVED, NOT_YET_RUN}


@pytest.fixture(scope="module")
def sine_runs():
    runs = SA.chapter_runs(R.REPO_ROOT / "results")
    assert [r["seed"] for r in runs] == [0, 1, 2], "results/sine/paper/seed-{0,1,2}.json must be committed"
    return runs


@pytest.fixture(scope="module")
def taylor_runs():
    runs = TA.chapter_runs(R.REPO_ROOT / "results")
    assert runs, "results/taylor/default/seed-0.json must be committed"
    return runs


@pytest.fixture(scope="module")
def manifolds_runs():
    runs = MA.chapter_runs(R.REPO_ROOT / "results")
    assert runs, "results/manifolds/default/seed-{0,1,2}.json must be committed"
    return runs


def _per_seed_mean(runs, method, step):
    return [sum(r["methods"][method]["eval"]["mse_tasks"][str(step)]) / len(r["methods"][method]["eval"]["mse_tasks"]
                                                                         [str(step)]) for r in runs]


def _anchors(notebook: str) -> set[str]:
    """The MyST labels ``(x)=`` and figure names ``:name: x`` of a chapter: the targets a row may link to."""
    nb = json.loads((ROOT / "book" / notebook).read_text())
    text = "\n".join("".join(c["source"]) for c in nb["cells"] if c["cell_type"] == "markdown")
    return set(re.findall(r"^\(([\w-]+)\)=", text, re.M)) | set(re.findall(r"^:name: ([\w-]+)", text, re.M))


def _well_formed(rows, notebook):
    anchors = _anchors(notebook)
    for c in rows:
        assert isinstance(c, Check) and c.verdict in VERDICTS, c
        assert c.item.startswith("paper "), c.item
        page, _, anchor = c.where.partition("#")
        assert page == notebook and anchor in anchors, f"{c.where} is not a label of {notebook}"
        assert c.z is None or isinstance(c.z, float)


# --------------------------------------------------------------------------------------------------- sine


def test_sine_rows_are_the_stored_numbers_judged_by_the_rule(sine_runs):
    rows = SA.paper_checks(sine_runs)
    _well_formed(rows, "sine.ipynb")
    assert [c.item for c in rows] == ["paper Section 3"] * 2 + [
        "paper Section 3 and Figure 1",
        "paper Figure 1, extended by this book (the paper sets joint training beside Reptile only)"]
    zero = 4.9 ** -1 * (5.0 ** 3 - 0.1 ** 3) / 3 / 2  # E[a²]/2 for a ~ U[0.1, 5], by hand
    assert SA.zero_function_mse() == pytest.approx(zero, rel=1e-12)
    for c, m in zip(rows[:2], ("joint", "reptile")):
        seeds = _per_seed_mean(sine_runs, m, 0)
        expected = compare(Estimate(np.mean(seeds), std(seeds), 3), Estimate(zero, se=0.0))
        assert c.z == pytest.approx(expected.z, rel=1e-9) and c.verdict == expected.agreement()
        assert f"{np.mean(seeds):.3f} ± {std(seeds):.3f} against {zero:.3f}" in c.ours and "3 seeds" in c.ours
    joint = _per_seed_mean(sine_runs, "joint", 32)
    for c, m in zip(rows[2:], ("reptile", "maml")):
        seeds = _per_seed_mean(sine_runs, m, 32)
        expected = compare(Estimate.of(joint), Estimate.of(seeds))
        assert c.z == pytest.approx(expected.z, rel=1e-9) and c.verdict == expected.claim()
        assert c.ours.startswith(f"{np.mean(seeds):.3f} ± {std(seeds):.3f} against {np.mean(joint):.3f} ± ")
    # what the committed runs show: the two Figure 1 claims hold, both initialisations predict about f = 0
    assert [c.verdict for c in rows] == [REPRODUCES, REPRODUCES, HOLDS, HOLDS]
    assert SA.verdict_numbers(sine_runs)["check_reptile_vs_joint"] == f"holds (z = {rows[2].z:+.1f})"


def test_sine_with_one_seed_uses_its_standard_error_over_tasks(sine_runs):
    one = sine_runs[:1]
    vals = one[0]["methods"]["reptile"]["eval"]["mse_tasks"]["32"]
    e = SA.mse_estimate(one, "reptile", 32)
    assert e.n == 1 and e.standard_error() == pytest.approx(std(vals) / math.sqrt(len(vals)), rel=1e-12)
    row = SA.paper_checks(one)[2]
    assert "(s.e. over tasks)" in row.ours and row.ours.endswith("1 seed")


def test_sine_rows_without_runs_say_not_yet_run_and_skip_methods_not_held(sine_runs):
    assert {c.verdict for c in SA.paper_checks([])} == {NOT_YET_RUN}
    assert all(c.ours == "-" and c.z is None for c in SA.paper_checks([]))
    no_maml = [dict(r, methods={k: v for k, v in r["methods"].items() if k != "maml"}) for r in sine_runs]
    assert [c.claim for c in SA.paper_checks(no_maml)] == [c.claim for c in SA.paper_checks(sine_runs)][:3]


def test_sine_tables_have_captions_and_no_nan(sine_runs):
    t = SA.table_mse(sine_runs)
    assert isinstance(t, Table) and "± is" not in t.frame.columns
    assert "mean over 3 seeds" in t.caption and "standard deviation across seeds" in t.caption
    assert "95% interval" in SA.table_mse(sine_runs[:1]).caption
    j = SJ.table_jacobian(sine_runs)
    assert isinstance(j, Table) and "nan" not in repr(j).lower()
    # a run shorter than the settling point (the ci preset) gets a note, not a table of NaN
    short = json.loads(json.dumps(sine_runs[0]))
    for m in short["methods"].values():
        m["curve"] = {k: v[:3] for k, v in m["curve"].items()}
    note = SJ.table_jacobian([short])
    assert isinstance(note, Note) and "2,000" in repr(note) and "5,000" in repr(note) and "nan" not in repr(note)
    assert "30,000" in repr(note)
    settings = SA.table_maml_settings(sine_runs)
    assert settings.frame.loc["tasks per meta-batch"].tolist() == ["1", "25"]


# ------------------------------------------------------------------------------------------------- taylor


def test_taylor_rows_are_the_stored_numbers_against_their_tolerances(taylor_runs):
    rows = TA.paper_checks(taylor_runs)
    _well_formed(rows, "taylor.ipynb")
    assert [c.item for c in rows] == ["paper Eq. 10", "paper Eq. 13", "paper Eq. 14", "paper Eq. 11", "paper Eq. 15",
                                      "paper Eq. 16", "paper Eq. 17"] + ["paper Section 4.1, AvgGradInner"] * 2
    r = taylor_runs[0]
    models = r["exact_vs_leading"]["models"]
    for c, m in zip(rows[:3], ("reptile", "maml", "fomaml")):
        slopes = [d["slopes"][m] for d in models.values()]
        assert c.z is None and c.verdict == (REPRODUCES if all(abs(s - 2) <= 0.1 for s in slopes) else DIFFERS)
        assert all(f"{s:.3f}" in c.ours for s in slopes)
    diffs = [d["maml_autograd_rel_diff"] for d in models.values()]
    assert rows[3].verdict == (REPRODUCES if max(diffs) <= 1e-12 else DIFFERS)
    e = r["expectation"]
    for c, m, paper in zip(rows[4:7], ("reptile", "maml", "fomaml"), ((2, 1), (1, 2), (1, 1))):
        o = e["methods"][m]
        assert tuple(o["paper"]) == paper
        ok = (abs(o["slope"] - 2) <= 0.1 and abs(o["fit"][0]["c_grad"] - paper[0]) <= 1e-3 * paper[0]
              and abs(o["fit_limit"]["c_inner"] - paper[1]) <= 1e-3 * paper[1])
        assert c.z is None and c.verdict == (REPRODUCES if ok else DIFFERS)
        assert f"slope {o['slope']:.2f}" in c.ours and f"{o['fit_limit']['c_inner']:.5f}" in c.ours
    d = r["identity"]
    assert rows[7].verdict == (REPRODUCES if d["per_sample_max_rel_error"] <= 1e-12 else DIFFERS)
    assert rows[8].z == pytest.approx(d["mc_z_along_avg_grad_inner"])
    assert rows[8].verdict == (REPRODUCES if abs(d["mc_z_along_avg_grad_inner"]) < 3 else DIFFERS)
    # the row shows the statistic it judges first, the norm only beside it
    assert rows[8].ours.startswith(f"the difference along AvgGradInner, in standard errors: "
                                   f"{d['mc_z_along_avg_grad_inner']:+.1f} (its norm")
    assert {c.verdict for c in rows} == {REPRODUCES}  # what the committed run shows
    assert {c.verdict for c in TA.paper_checks([])} == {NOT_YET_RUN}


def test_taylor_tables_quote_the_step_sizes_the_text_quotes(taylor_runs):
    """The chapter's text quotes the plain Monte Carlo standard error at the table's α and at the smallest α: both
    are rows of the table, with the glued numbers."""
    t = TA.table_expectation(taylor_runs)
    nums = TA.key_numbers(taylor_runs)
    rows = list(t.frame.index)
    for a, se, term in ((nums["alpha_mid"], nums["mc_naive_se_reptile"], nums["mc_inner_term_reptile"]),
                        (nums["alpha_min"], nums["mc_naive_se_min_reptile"], nums["mc_inner_term_min_reptile"])):
        se_row = f"plain Monte Carlo s.e. of E[g], α = {a}"
        term_row = f"||c α AvgGradInner||, α = {a}"
        assert se_row in rows and term_row in rows
        assert float(t.frame.loc[se_row, "Reptile"]) == pytest.approx(float(se), rel=0.06)
        assert float(t.frame.loc[term_row, "Reptile"]) == pytest.approx(float(term), rel=0.06)
    for table in (TA.table_slopes, TA.table_identity, TA.table_k_steps, TA.table_k_slopes):
        shown = table(taylor_runs)
        assert isinstance(shown, Table) and len(shown.caption) > 60 and shown.frame.index.name is None


# ---------------------------------------------------------------------------------------------- manifolds


def test_manifolds_rows_are_the_stored_numbers_against_their_tolerances(manifolds_runs):
    assert len(manifolds_runs) == 3  # the stored seeds: the serial claims are judged by the book's rule, with z
    stored = MA.paper_checks(manifolds_runs)
    _well_formed(stored, "manifolds.ipynb")
    assert [c.verdict for c in stored] == [REPRODUCES, HOLDS, HOLDS, HOLDS]
    assert stored[1].z >= 3 and stored[2].z >= 3 and "3 seeds" in stored[1].ours
    assert [stored[i].z for i in (0, 3)] == [None] * 2  # deterministic: batched runs, fixed points
    rows = MA.paper_checks(manifolds_runs[:1])  # one seed: the serial claims are judged by the stated tolerance
    fams = manifolds_runs[0]["families"]
    exact = max(f["batched"]["exact"]["to_phi_D"] for f in fams.values())
    assert rows[0].verdict == (REPRODUCES if exact <= MA.DIST_TOL else DIFFERS) and f"{exact:.0e}" in rows[0].ours
    fin = {n: f["serial"]["final"] for n, f in fams.items()}
    ok = all(fin[n]["exact"]["to_phi_D"] <= MA.SERIAL_FRAC * f["gap"] < fin[n]["exact"]["to_phi_L"]
             for n, f in fams.items())
    assert rows[1].verdict == (HOLDS if ok else DOES_NOT_HOLD) and rows[1].z is None
    assert all(f"{fin[n]['exact']['to_phi_D']:.3f}" in rows[1].ours for n in fams)
    ok = all(fin[n]["partial"]["to_phi_D"] < f["gap"] for n, f in fams.items())
    assert rows[2].verdict == (HOLDS if ok else DOES_NOT_HOLD)
    assert all(f"{f['gap']:.3f}" in rows[2].ours for f in fams.values())
    assert [c.verdict for c in rows] == [REPRODUCES, HOLDS, HOLDS, HOLDS]
    assert {c.verdict for c in MA.paper_checks([])} == {NOT_YET_RUN}


def test_manifolds_with_seeds_judges_the_serial_runs_by_the_rule(manifolds_runs):
    r1 = json.loads(json.dumps(manifolds_runs[0]))
    r1["seed"] = 1
    for f in r1["families"].values():
        for v in ("exact", "partial"):
            f["serial"]["final"][v]["to_phi_D"] *= 1.1
    runs = [manifolds_runs[0], r1]
    row = MA.paper_checks(runs)[1]
    zs = []
    for n, fam in manifolds_runs[0]["families"].items():  # "ends at phi_D": within SERIAL_FRAC ||phi_L - phi_D|| of it
        to_D = [r["families"][n]["serial"]["final"]["exact"]["to_phi_D"] for r in runs]
        zs.append(compare(Estimate(MA.SERIAL_FRAC * fam["gap"], se=0.0), Estimate.of(to_D)).z)
    assert row.z == pytest.approx(min(zs)) and row.verdict == HOLDS and "book's rule" in row.claim
    assert f"within {MA.SERIAL_FRAC:g} ||φ_L − φ_D||" in row.claim
    # that phi_D differs from phi_L is true by construction on these problems: a statement, not a verdict row
    assert not any("φ_D ≠ φ_L" in c.claim or "illustrat" in c.claim for c in MA.paper_checks(runs))


def test_manifolds_tables_have_captions_and_no_index_names(manifolds_runs):
    for shown in (MA.table_distances(manifolds_runs), MA.table_k(manifolds_runs)):
        assert isinstance(shown, Table) and all(n is None for n in shown.frame.index.names)
        assert "family" not in repr(shown).splitlines()[3]
    assert "T = 2,000" in MA.table_distances(manifolds_runs).caption


# ---------------------------------------------------------------- verdicts follow the stored results


def _copy(tmp_path, experiment, name):
    dst = tmp_path / experiment / name
    shutil.copytree(R.REPO_ROOT / "results" / experiment / name, dst)
    return dst


def _edit(path: Path, change) -> None:
    record = json.loads(path.read_text())
    change(record)
    path.write_text(json.dumps(record))


def test_verdicts_are_computed_from_the_results_store(tmp_path, monkeypatch):
    """A verdict that was typed would survive a change of the stored numbers; these follow them. The results are
    copied, perturbed, and read back through $REPTILE_RESULTS as the chapters and the front page read them."""
    monkeypatch.setenv("REPTILE_RESULTS", str(tmp_path))

    sine = _copy(tmp_path, "sine", "paper")
    for p in sine.glob("seed-*.json"):  # Reptile's error after 32 steps made joint training's, times 2
        _edit(p, lambda r: r["methods"]["reptile"]["eval"]["mse_tasks"].update(
            {"32": [2 * v for v in r["methods"]["joint"]["eval"]["mse_tasks"]["32"]]}))
    rows = {c.claim: c for c in SA.paper_checks(SA.chapter_runs())}
    row = rows["after 32 SGD steps on 10 points, Reptile's test MSE is below joint training's"]
    assert row.verdict == DOES_NOT_HOLD and row.z < -3
    assert rows["after 32 SGD steps on 10 points, MAML's test MSE is below joint training's"].verdict == HOLDS
    for p in sine.glob("seed-*.json"):  # joint training's error before adaptation 1 above f = 0's on every task
        _edit(p, lambda r: r["methods"]["joint"]["eval"]["mse_tasks"].update(
            {"0": [v + 1 for v in r["methods"]["joint"]["eval"]["mse_tasks"]["0"]]}))
    row = SA.paper_checks(SA.chapter_runs())[0]
    assert row.verdict == DIFFERS and row.z > 3

    taylor = _copy(tmp_path, "taylor", "default")
    runs = TA.chapter_runs()
    assert {c.verdict for c in TA.paper_checks(runs)} == {REPRODUCES}

    def break_taylor(r):
        r["exact_vs_leading"]["models"]["sine_mlp"]["slopes"]["maml"] = 1.5
        r["expectation"]["methods"]["fomaml"]["fit_limit"]["c_inner"] = 1.01
        r["identity"]["per_sample_max_rel_error"] = 1e-6
        r["identity"]["mc_z_along_avg_grad_inner"] = 4.0

    _edit(taylor / "seed-0.json", break_taylor)
    verdicts = {c.item + c.claim[:12]: c.verdict for c in TA.paper_checks(TA.chapter_runs())}
    assert [v for k, v in verdicts.items() if v == DIFFERS] == [DIFFERS] * 4
    assert verdicts["paper Eq. 13MAML's exact"] == DIFFERS and verdicts["paper Eq. 17the residual"] == DIFFERS
    assert verdicts["paper Eq. 10Reptile's ex"] == REPRODUCES

    manifolds = _copy(tmp_path, "manifolds", "default")

    def break_manifolds(r):
        r["families"]["circles"]["batched"]["exact"]["to_phi_D"] = 1e-3
        fin = r["families"]["lines"]["serial"]["final"]
        fin["exact"]["to_phi_D"] = fin["exact"]["to_phi_L"] + r["families"]["lines"]["gap"]
        fin["partial"]["to_phi_D"] = r["families"]["lines"]["gap"] * (2 + 0.1 * r["seed"])  # a spread over seeds

    for stored in sorted(manifolds.glob("seed-*.json")):  # every seed, so the rule's z falls below -3 too
        _edit(stored, break_manifolds)
    assert [c.verdict for c in MA.paper_checks(MA.chapter_runs())] == [DIFFERS, DOES_NOT_HOLD, DOES_NOT_HOLD, HOLDS]


def test_a_run_made_with_other_settings_is_refused(tmp_path, monkeypatch):
    monkeypatch.setenv("REPTILE_RESULTS", str(tmp_path))
    _edit(_copy(tmp_path, "taylor", "default") / "seed-0.json", lambda r: r.update(digest="0000000000"))
    with pytest.raises(ValueError, match="another configuration"):
        TA.chapter_runs()
    assert MA.chapter_runs() == [] and SA.chapter_runs() == []  # nothing stored: the rows say "not yet run"


def test_the_sine_prose_statements_are_checked_on_the_runs(sine_runs):
    """Every statement the sine chapter's prose makes about its runs is true of the committed runs, and a run that
    does not bear one out makes it false, named in the chapter's note (computed, never typed)."""
    said = ST.sine(sine_runs)
    assert len(said) == 13 and all(ok is True for _, ok in said), said
    assert "All 13 checked statements" in repr(ST.note(said))
    assert ST.table(said).frame["on the runs shown"].tolist() == [ST.WORDS[True]] * 13
    # first-order MAML with one step made to drift, and joint training made to fit the tasks after 32 steps
    runs = json.loads(json.dumps(sine_runs))
    for r in runs:
        r["methods"]["fomaml_k1"]["curve"]["mse_step0"][-1] = 10 * SA.zero_function_mse()
        tasks = r["methods"]["joint"]["eval"]["mse_tasks"]
        tasks["32"] = [0.01 * v for v in tasks["32"]]
    false = [s for s, ok in ST.sine(runs) if ok is False]
    assert false == ["32 steps recover little of the task for joint training (test error above 0.5 × the f = 0 level)",
                     "first-order MAML with one step does not drift"]
    note = repr(ST.note(ST.sine(runs)))
    assert "2 of them are not true of these runs" in note and false[1] in note
    # a run without MAML cannot check the statements about it
    no_maml = json.loads(json.dumps(sine_runs))
    for r in no_maml:
        del r["methods"]["maml"]
    assert "MAML does not drift" in [s for s, ok in ST.sine(no_maml) if ok is None]
    assert "cannot be checked on these runs" in repr(ST.note(ST.sine(no_maml)))
    # a run shorter than the drift can show (the ci preset's 200 outer iterations) cannot tell whether a method drifts
    short = json.loads(json.dumps(sine_runs))
    for r in short:
        for m in r["methods"].values():
            m["curve"] = {k: v[:3] for k, v in m["curve"].items()}
    assert all(ok is None for s, ok in ST.sine(short) if "drift" in s)
    # first-order MAML (five steps) far from the f = 0 level from the start, and its cosine low only before the drift
    runs = json.loads(json.dumps(sine_runs))
    for r in runs:
        curve = r["methods"]["fomaml"]["curve"]
        curve["mse_step0"] = [10 * SA.zero_function_mse()] * len(curve["mse_step0"])
    said = dict(ST.sine(runs))
    assert [ok for s, ok in said.items() if "once the drift has begun" in s] == [True]  # it begins at the first point
    runs = json.loads(json.dumps(sine_runs))
    for r in runs:
        curve = r["methods"]["fomaml"]["curve"]
        curve["fo_maml_cosine"] = [-0.9 if it < 1000 else 0.0 for it in curve["iteration"]]
    assert [ok for s, ok in ST.sine(runs) if "once the drift has begun" in s] == [False]


def test_the_taylor_and_manifolds_prose_statements_are_checked_on_the_runs(taylor_runs, manifolds_runs):
    """The same for the chapters on paper Section 4: true of the committed runs, false when a run says otherwise."""
    assert all(ok is True for _, ok in ST.taylor(taylor_runs)) and len(ST.taylor(taylor_runs)) == 9
    assert all(ok is True for _, ok in ST.manifolds(manifolds_runs)) and len(ST.manifolds(manifolds_runs)) == 6
    runs = json.loads(json.dumps(taylor_runs))
    for r in runs:  # the residual's standard errors made as large as the residual
        for o in r["expectation"]["methods"].values():
            o["residual_se"] = list(o["residual_norm"])
        o = r["expectation"]["methods"]["reptile"]  # Reptile's fitted coefficient rising at larger steps
        for f in o["fit"]:
            f["c_inner"] = 2 - f["c_inner"]
    false = [s for s, ok in ST.taylor(runs) if ok is False]
    assert len(false) == 2 and "a few percent" in false[0] and "keep falling" in false[1]
    runs = json.loads(json.dumps(taylor_runs))
    for r in runs:  # the fitted coefficients' departure from the paper's made to grow as sqrt(alpha), not linearly
        e = r["expectation"]
        for m, o in e["methods"].items():
            for a, f in zip(e["alphas"], o["fit"]):
                f["c_inner"] = o["paper"][1] - a ** 0.5
    assert [ok for s, ok in ST.taylor(runs) if "linearly" in s] == [False]
    assert "1 of them is not true" in repr(ST.note([(false[0], False), ("x", True)]))
    runs = json.loads(json.dumps(manifolds_runs))
    for r in runs:  # the exact-projection runs stopped far from phi_D on the circles
        r["families"]["circles"]["serial"]["final"]["exact"]["to_phi_D"] = r["families"]["circles"]["gap"]
    assert [ok for _, ok in ST.manifolds(runs)] == [True, False, True, True, True, True]
    for r in runs:  # phi_L moved onto phi_D: no longer pulled towards the line with the largest scale
        r["families"]["lines"]["phi_L"] = list(r["families"]["lines"]["phi_D"])
    assert [ok for _, ok in ST.manifolds(runs)][3] is False
    no_lines = [dict(r, families={f: v for f, v in r["families"].items() if f != "lines"}) for r in manifolds_runs]
    assert [ok for _, ok in ST.manifolds(no_lines)][3] is None
    runs = json.loads(json.dumps(manifolds_runs))
    for r in runs:  # phi_D no longer the nearer to the manifolds on the subspaces: the illustration fails
        o = r["families"]["subspaces"]["objective"]
        o["mean_sq_distance_at_phi_D"] = o["mean_sq_distance_at_phi_L"]
    assert [ok for _, ok in ST.manifolds(runs)][0] is False
