"""The front page's verdict table: every row computed from the stored results by the book's one rule."""

import json
import math
import re
import shutil
import statistics
from pathlib import Path

import pytest

from reptile.artifacts import verdict
from reptile.paper import TABLE1, TABLE2
from reptile.stats import THRESHOLD, z_text

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "results"
VERDICTS = {"reproduces", "differs", "holds", "does not hold", "not resolved", "under way", "not yet run", "no source"}

# The paper's Tables 1 and 2 (arXiv:1803.02999v1), transcribed here a second time, independently of reptile.paper:
# every verdict against the paper rests on these numbers, so a typo in either copy fails the test below.
PAPER_TABLE1 = {"MAML + Transduction": [(48.70, 1.84), (63.11, 0.92)],
                "first-order MAML + Transduction": [(48.07, 1.75), (63.15, 0.91)],
                "Reptile": [(45.79, 0.44), (61.98, 0.69)],
                "Reptile + Transduction": [(48.21, 0.69), (66.00, 0.62)]}
PAPER_TABLE2 = {"MAML + Transduction": [(98.7, 0.4), (99.9, 0.1), (95.8, 0.3), (98.9, 0.2)],
                "first-order MAML + Transduction": [(98.3, 0.5), (99.2, 0.2), (89.4, 0.5), (97.9, 0.1)],
                "Reptile": [(95.32, 0.05), (98.87, 0.02), (88.27, 0.30), (97.07, 0.12)],
                "Reptile + Transduction": [(97.97, 0.08), (99.47, 0.04), (89.36, 0.20), (97.47, 0.10)]}


def test_the_papers_numbers_are_the_papers():
    assert TABLE1["rows"] == PAPER_TABLE1 and TABLE1["columns"] == ["1-shot 5-way", "5-shot 5-way"]
    assert TABLE2["rows"] == PAPER_TABLE2
    assert TABLE2["columns"] == ["1-shot 5-way", "5-shot 5-way", "1-shot 20-way", "5-shot 20-way"]


@pytest.fixture(scope="module")
def rows():
    return verdict.checks(RESULTS)


def _accuracies(preset: str, mode: str, results=RESULTS) -> list[float]:
    files = sorted((results / "fewshot" / preset).glob("seed-*.json"))
    return [100 * json.loads(f.read_text())["eval"][mode]["accuracy"] for f in files]


def test_every_row_has_a_verdict_a_link_and_the_papers_value(rows):
    assert len(rows) >= 20
    for r in rows:
        assert r.verdict in VERDICTS, r
        assert r.item.startswith("paper "), r.item
        page, _, anchor = r.where.partition("#")
        source = (ROOT / "book" / page).read_text()
        assert anchor and (f"({anchor})=" in source or f":name: {anchor}" in source), f"{r.where}: no such label"
        if r.verdict in ("not yet run", "under way", "no source"):
            assert r.z is None
        if r.verdict == "under way":  # says how far its run has come, after the seeds already finished if any
            going = (r"(training: (seed \d+ at )?[\d,]+ / [\d,]+|evaluating: [\d,]+ / [\d,]+ tasks( of a seed)?"
                     r"|seed \d+ not started)")
            assert re.fullmatch(rf"{going}|[\d.]+ ± [\d.]+ \(\d of \d seeds; {going}\)", r.ours), r
        elif r.z is not None:
            resolved = abs(r.z) >= THRESHOLD
            assert r.verdict in ({"differs", "holds", "does not hold"} if resolved else
                                 {"reproduces", "not resolved"}), r


def test_the_table_cells_are_the_stored_runs_by_hand():
    """Each finished Reptile cell of paper Tables 1-2: our mean and standard deviation over the seeds' JSON files and
    z = d / sqrt(s² / n + s_paper² / 3), recomputed here from the files, not from the package."""
    got = {r.item: r for r in verdict.checks(RESULTS)}
    compared = 0
    for number, paper, dataset in ((2, PAPER_TABLE2, "omniglot"), (1, PAPER_TABLE1, "miniimagenet")):
        name = "Omniglot" if number == 2 else "Mini-ImageNet"
        columns = ["1-shot 5-way", "5-shot 5-way", "1-shot 20-way", "5-shot 20-way"][:len(paper["Reptile"])]
        for row in ("Reptile", "Reptile + Transduction"):
            for column, (pm, ps) in zip(columns, paper[row], strict=True):
                shots, way = column.split("-shot ")
                preset = f"{dataset}-{shots}shot-{way.replace('-way', 'way')}"
                if row.endswith("Transduction") and column == "1-shot 5-way":
                    preset += "-transductive"
                accs = _accuracies(preset, "transductive" if row.endswith("Transduction") else "non_transductive")
                check = got[f"paper Table {number} ({name}), {row}, {column}"]
                assert check.paper == f"{pm:.2f} ± {ps:.2f}"
                if len(accs) < 3:
                    assert check.verdict in ("not yet run", "under way")
                    continue
                m, s = statistics.mean(accs), statistics.stdev(accs)
                z = (m - pm) / math.sqrt(s ** 2 / len(accs) + ps ** 2 / 3)
                assert check.z == pytest.approx(z, rel=1e-9)
                assert check.ours == f"{m:.2f} ± {s:.2f} ({len(accs)} seeds)"
                assert check.verdict == ("reproduces" if abs(z) < THRESHOLD else "differs")
                compared += 1
    assert compared >= 4  # the four finished 5-way cells at least


@pytest.mark.parametrize("reading", ["at the end of training",
                                     "over the learning curve (a second reading, added later)"])
def test_figure3_claim_2_by_hand(rows, reading):
    def per_seed(curve):
        files = sorted((RESULTS / "gradcomb" / f"figure3-{curve}").glob("seed-*.json"))
        records = [json.loads(f.read_text()) for f in files]
        if reading == "at the end of training":  # else the mean of the learning curve's points
            return [100 * r["eval"]["non_transductive"]["accuracy"] for r in records]
        return [100 * statistics.mean(r["curve"]["test_accuracy"]) for r in records]

    reptile2, fomaml2 = per_seed("sum2"), per_seed("last2")
    z = (statistics.mean(fomaml2) - statistics.mean(reptile2)) / math.sqrt(
        statistics.variance(fomaml2) / 3 + statistics.variance(reptile2) / 3)
    claim = {r.item: r for r in rows}[f"paper Figure 3, claim 2, {reading}"]
    assert claim.z == pytest.approx(z, rel=1e-9)


def test_a_changed_result_changes_the_verdict(tmp_path):
    """Nothing is typed: move one stored seed and the row's numbers and verdict move with it."""
    results = tmp_path / "results"
    shutil.copytree(RESULTS, results, ignore=shutil.ignore_patterns("*.pt"))
    item = "paper Table 2 (Omniglot), Reptile, 5-shot 5-way"
    before = {r.item: r for r in verdict.checks(results)}[item]
    for f in sorted((results / "fewshot" / "omniglot-5shot-5way").glob("seed-*.json")):
        record = json.loads(f.read_text())
        record["eval"]["non_transductive"]["accuracy"] -= 0.02  # two points lower on every seed
        f.write_text(json.dumps(record))
    after = {r.item: r for r in verdict.checks(results)}[item]
    assert before.verdict == "reproduces" and after.verdict == "differs"
    assert after.z < before.z - 10


def _named(r, odd, said: str) -> bool:
    """Whether the exception ``r`` (one of ``odd``) is said with its z: on its own, or, a second reading whose first
    reading is an exception too, beside that first reading."""
    if r.item.endswith(verdict.OVER_CURVE) and any(o.item == r.item.replace(verdict.OVER_CURVE, verdict.AT_END)
                                                    for o in odd):
        return f"**{r.verdict}**, z = {z_text(r.z)}" in said
    return r.item.split("paper Figure 3, ")[-1] in said and f"**{r.verdict}** (z = {z_text(r.z)}" in said


def test_the_table_and_its_summary(rows):
    table = verdict.verdict_table(rows)
    html = table._repr_html_()
    assert "<caption>This companion against the paper" in html
    assert html.count("<tr>") == len(rows) + 1
    assert all(f'href="{r.where.replace(".ipynb", ".html")}"' in html for r in rows)
    text = repr(table)
    assert "<a " not in text and "paper Figure 3, claim 2, at the end of training" in text
    said = verdict.summary(rows)
    # the rows as first planned, then second runs and second readings, each counted apart; together all the rows
    # and the numbers the paper prints without a source, which get no verdict, said apart and counted in none
    unsourced = [r for r in rows if r.verdict == "no source"]
    assert unsourced and all(r.z is None and "first-order MAML" in r.item for r in unsourced)
    main = [r for r in rows if not r.item.endswith((verdict.SECOND_RUN, verdict.OVER_CURVE)) and r not in unsourced]
    first = said.split(". ")[0]
    counts = {int(n) for n in re.findall(r"(\d+) (?:reproduce|hold|differ|do|does|not)", first)}
    assert sum(int(n) for n in re.findall(r"(\d+) ", first.split("judged as first planned: ")[1])) == len(main)
    later = [p for p in said.split(". ") if p[:1].isdigit() and ("second run" in p or "second reading" in p)]
    assert sum(int(n) for p in later for n in re.findall(r"(\d+) ", p.split(": ", 1)[1])) == (
        len(rows) - len(main) - len(unsourced))
    assert f" {len(unsourced)} rows are numbers the paper prints without a source, which no run can reproduce " in said
    # then each row that differs, does not hold or is not resolved, by name with its z; and where the rest waits
    odd = [r for r in rows if r.verdict in ("differs", "does not hold", "not resolved")]
    assert all(_named(r, odd, said) for r in odd if r.z is not None)
    assert ("The exceptions: " in said) == bool(odd)
    waiting = [r for r in rows if r.verdict == "not yet run"]
    assert ("Not yet run: " in said) == bool(waiting)
    going = [r for r in rows if r.verdict == "under way"]
    assert ("Under way: " in said) == bool(going)
    assert sum(int(n) for n in re.findall(r"(\d+) rows? of ", said)) == len(waiting) + len(going)
    assert said.startswith(f"Of the {len(rows)} rows below, {len(main)} are a number or claim of the paper") and counts
    if going:
        assert said.endswith(".") and "progress as of" not in said  # no date given: none said
        assert ", progress as of 2026-01-02." in verdict.summary(rows, as_of="2026-01-02")


def test_an_exception_run_again_says_the_second_run_beside_it():
    import dataclasses

    from reptile.artifacts.common import Check

    cell = Check(item="paper Table 2 (Omniglot), a cell", claim="", paper="97.97 ± 0.08", ours="97.37 ± 0.03", z=-12.2,
                 verdict="differs", where="fewshot.ipynb")
    again = Check(item="paper Table 2 (Omniglot), a cell, a second run", claim="evaluated with batches of 25",
                  paper="97.97 ± 0.08", ours="97.86 ± 0.08", z=-1.7, verdict="reproduces", where="fewshot.ipynb")
    said = verdict.summary([cell, again])
    assert ("The exceptions: paper Table 2 (Omniglot), a cell **differs** (z = -12.2; a second run, evaluated with "
            "batches of 25, **reproduces**, z = -1.7).") in said
    waiting = dataclasses.replace(again, verdict="under way", z=None)
    assert "a cell **differs** (z = -12.2)." in verdict.summary([cell, waiting])  # a second run under way: not said


def test_an_exception_read_again_says_the_other_reading_beside_it():
    from reptile.artifacts.common import Check

    end = Check(item="paper Figure 3, claim 2" + verdict.AT_END, claim="A beats B", paper="", ours="", z=-3.4,
                verdict="does not hold", where="gradient_combinations.ipynb")
    curve = Check(item="paper Figure 3, claim 2" + verdict.OVER_CURVE, claim="A beats B", paper="", ours="", z=8.3,
                  verdict="holds", where="gradient_combinations.ipynb")
    said = verdict.summary([end, curve])
    assert ('claim 2, at the end of training, "a beats B", **does not hold** (z = -3.4; read again over the learning '
            "curve, after this verdict was known, it **holds**, z = +8.3)") in said
    assert "read again" not in verdict.summary([end])  # no second reading stored: nothing said
    import dataclasses  # both readings exceptions: the second is said beside the first, not as an exception of its own
    end3, curve3 = (dataclasses.replace(c, verdict="not resolved", z=z) for c, z in ((end, -1.4), (curve, -2.0)))
    said = verdict.summary([end3, curve3])
    assert ("**not resolved** (z = -1.4; read again over the learning curve, after this verdict was known, it is "
            "also **not resolved**, z = -2.0).") in said and said.count("**not resolved**") == 2


def test_the_verdict_in_one_line_adds_up(rows):
    said = verdict.headline(rows)
    main = verdict._split(rows)[0]
    got = [int(n) for n in re.findall(r"(\d+) ", said)]  # planned, judged, agree, against, waiting
    assert got[0] == len(main) and got[1] == got[2] + got[3] and got[1] + got[4] == len(main)
    assert got[2] == sum(r.verdict in ("reproduces", "holds") for r in main)


def test_the_bottom_line_gives_each_part_of_the_paper_its_counts_and_exceptions(rows):
    said = verdict.bottom_line(rows)
    bullets = said.split("\n")
    assert len(bullets) == len(verdict.PARTS) and all(b.startswith("- **") for b in bullets)
    counted = 0
    for (head, test), bullet in zip(verdict.PARTS, bullets):
        part = [r for r in rows if test(r)]
        assert bullet.startswith(f"- **{head}**: ")
        counted += len(part)
        for r in part:  # each exception by name (its part's name said once, in the heading), with its z
            if r.verdict in ("differs", "does not hold", "not resolved") and not r.item.endswith(verdict.OVER_CURVE):
                name = r.item.replace(r.item.split(",")[0] + ", ", "")
                assert f"{name}" in bullet and f"**{r.verdict}** (z = {z_text(r.z)}" in bullet, (r, bullet)
    assert counted == len(rows)  # every row in exactly one part (the parts' tests do not overlap)
    for (head, test), bullet in zip(verdict.PARTS, bullets):  # a part with nothing run says why, where it knows
        idle = all(r.verdict == "not yet run" for r in rows if test(r))
        assert (verdict.NOT_RUN_NOTE.get(head, "\0") in bullet) == (idle and head in verdict.NOT_RUN_NOTE)
    assert sum(1 for r in rows for _, test in verdict.PARTS if test(r)) == len(rows)
    from reptile.artifacts.common import Check
    with pytest.raises(ValueError, match="rows in no part of the bottom line"):
        verdict.bottom_line([Check(item="paper Table 9", claim="", paper="", ours="", z=None, verdict="not yet run",
                                   where="x.ipynb")])


def test_a_chapter_opens_with_its_verdicts_in_brief(rows):
    figure3 = [r for r in rows if r.item.startswith("paper Figure 3")]
    said = verdict.in_brief(figure3, "See below.")
    assert said.startswith(f"**The verdicts in brief:** {len(figure3) // 2} checks, ") and said.endswith(" See below.")
    assert "each read again over the learning curve" in said  # the second reading apart from the first
    odd = [r for r in figure3 if r.verdict in ("differs", "does not hold", "not resolved")]
    assert all(_named(r, odd, said) for r in odd)  # each exception by name, with its z
    assert verdict.in_brief([], "See below.") == "**The verdicts in brief:** none yet."
