"""The front page's verdict: one row per number or claim of the paper, against this companion's stored runs.

Each chapter's artifact module gives its own rows (``paper_checks``, a list of :class:`~.common.Check`), computed
from the runs it shows, and judged by the book's one rule (:func:`reptile.stats.compare`). This module only gathers
them, in the paper's order, and draws the table; nothing here types a number or a verdict.
"""

from __future__ import annotations

import html
from collections import Counter
from typing import Sequence

import pandas as pd

from ..stats import (DIFFERS, DOES_NOT_HOLD, HOLDS, NO_SOURCE, NOT_RESOLVED, NOT_YET_RUN, REPRODUCES, THRESHOLD,
                     UNDER_WAY, z_text)
from ..validate import check
from .common import Check, Table

# how a verdict reads on the front page: agreement (a number of the paper) and claims share one scale
GOOD, BAD = (REPRODUCES, HOLDS), (DIFFERS, DOES_NOT_HOLD)
ORDER = (REPRODUCES, HOLDS, DIFFERS, DOES_NOT_HOLD, NOT_RESOLVED, NO_SOURCE, UNDER_WAY, NOT_YET_RUN)


def checks(results_dir=None) -> list[Check]:
    """Every row, in the paper's order: Section 3 (Figure 1), Section 4.1, Section 4.2 (Figure 2), Tables 2 and 1,
    Section 5.2 (Figure 3); each from the chapter module's ``paper_checks`` on the runs that chapter shows."""
    from ..experiments import fewshot as FS
    from ..experiments import gradcomb as GC
    from . import fewshot, gradcomb, maml

    rows: list[Check] = []
    rows += chapter_checks(results_dir)
    rows += fewshot.paper_checks(FS.stored_runs(results_dir), fewshot.campaign_progress(results_dir),
                                 maml.stored(results_dir), fewshot.campaign_progress(results_dir, "maml"))
    rows += gradcomb.paper_checks(GC.stored("figure3", None, {}, results_dir))
    return rows


def chapter_checks(results_dir=None) -> list[Check]:
    """The rows of the chapters of paper Sections 3 and 4 (sine, Taylor expansion, solution manifolds), from the runs
    each chapter shows by default (read, never computed)."""
    from . import manifolds, sine, taylor

    return [row for chapter in (sine, taylor, manifolds) for row in chapter.paper_checks(chapter.chapter_runs(results_dir))]


def _link(check: Check) -> str:
    """The row's item as a link to the section that shows it (the built book's pages are .html)."""
    page, _, anchor = check.where.partition("#")
    href = page.replace(".ipynb", ".html").replace(".md", ".html") + (f"#{anchor}" if anchor else "")
    text = check.item + (f": {check.claim}" if check.claim else "")
    return f'<a href="{html.escape(href)}">{html.escape(text)}</a>'


SECOND_RUN = ", a second run"  # the item of a row that runs another row's item again (the rerun of a cell)
AT_END, OVER_CURVE = ", at the end of training", ", over the learning curve (a second reading, added later)"
PLURAL = {REPRODUCES: "reproduce", HOLDS: "hold", DIFFERS: "differ", DOES_NOT_HOLD: "do not hold"}


def _split(rows: Sequence[Check]) -> tuple[list[Check], list[Check], list[Check], list[Check]]:
    """``rows`` as judged first (as planned), the second runs of an item, the second readings of a claim, and the
    numbers the paper prints without a source (no verdict: nothing to reproduce, so they are judged in no count)."""
    runs = [r for r in rows if r.item.endswith(SECOND_RUN)]
    readings = [r for r in rows if r.item.endswith(OVER_CURVE)]
    unsourced = [r for r in rows if r.verdict == NO_SOURCE]
    rest = [r for r in rows if r not in runs and r not in readings and r not in unsourced]
    return rest, runs, readings, unsourced


def _unsourced(rows: Sequence[Check]) -> str:
    """What a count says of the rows without a source: how many, and that they get no verdict."""
    return (f"{len(rows)} {'row is a number' if len(rows) == 1 else 'rows are numbers'} the paper prints without a "
            f"source, which no run can reproduce (no verdict; ours beside {'it' if len(rows) == 1 else 'them'} where "
            f"run)")


def _quoted(claim: str) -> str:
    """A claim as an exception names it after its item: ``, "a beats b",`` (empty for a number of the paper)."""
    return f', "{claim[0].lower() + claim[1:]}",' if claim else ""


def _said(n: Counter) -> list[str]:
    """``["3 reproduce", "1 holds", ...]``: each verdict's count, in :data:`ORDER`."""
    return [f"{n[v]} {v if n[v] == 1 else PLURAL.get(v, v)}" for v in ORDER if n[v]]


def progress_date(results_dir=None) -> str | None:
    """The date of the campaign's checkpoints that the rows under way read their progress from
    (:func:`reptile.campaign.report.snapshot_date`)."""
    from ..campaign.report import snapshot_date

    return snapshot_date(results_dir)


def summary(rows: Sequence[Check], as_of: str | None = None, exceptions: bool = True) -> str:
    """The verdict up front: how many rows reach each verdict, then by name the rows that differ, do not hold or are
    not resolved (with z), the rows under way (their progress ``as_of`` a date, :func:`progress_date`), and where the
    rows not yet run are (``exceptions=False``: without the exceptions, which :func:`bottom_line` gives by part). A row
    is one number or claim of the paper, or one of its quoted MAML rows (several cells)."""
    main, runs, readings, unsourced = _split(rows)
    out = (f"Of the {len(rows)} rows below, {len(main)} are a number or claim of the paper (or one of its quoted MAML "
           f"rows), judged as first planned: {_counts(main)}.")
    if runs:
        out += (f" {len(runs)} {'is a second run' if len(runs) == 1 else 'are second runs'} of one of them, with a "
                f"setting chosen after the first run's verdict was known: {_counts(runs)}.")
    if readings:
        out += (f" {len(readings)} {'is a second reading' if len(readings) == 1 else 'are second readings'} of "
                f"claims, added after the first reading's verdicts were known: {_counts(readings)}.")
    if unsourced:
        out += f" {_unsourced(unsourced)}."
    again = {r.item.removesuffix(SECOND_RUN): r for r in rows if r.item.endswith(SECOND_RUN)}
    curve = {r.item.replace(OVER_CURVE, AT_END): r for r in rows if r.item.endswith(OVER_CURVE)}
    odd = [r for r in rows if r.verdict in (*BAD, NOT_RESOLVED)]
    first = {r.item for r in odd}  # a second reading is said beside its first reading when that is an exception too
    odd = [r for r in odd if not (r.item.endswith(OVER_CURVE) and r.item.replace(OVER_CURVE, AT_END) in first)]

    def second(r: Check) -> str:  # a second run, or the second reading, of the same item, said beside the exception
        a, reading = again.get(r.item), curve.get(r.item)
        if reading is not None:
            is_ = "is " if reading.verdict == NOT_RESOLVED else ""  # "it is not resolved", "it holds"
            also = "also " if reading.verdict == r.verdict else ""
            return (f"; read again over the learning curve, after this verdict was known, it "
                    f"{is_}{also}**{reading.verdict}**"
                    + (f", z = {z_text(reading.z)}" if reading.z is not None else ""))
        if a is None or a.verdict in (UNDER_WAY, NOT_YET_RUN):
            return ""
        return (f"; a second run, {a.claim}, **{a.verdict}**" if a.claim else f"; a second run **{a.verdict}**") + (
            f", z = {z_text(a.z)}" if a.z is not None else "")

    if odd and exceptions:
        out += " The exceptions: " + "; ".join(
            f"{r.item}{_quoted(r.claim)} **{r.verdict}**"
            + (f" (z = {z_text(r.z)}{second(r)})" if r.z is not None else f" ({second(r)[2:]})" if second(r) else "")
            for r in odd) + "."
    for verdict, head in ((UNDER_WAY, "Under way"), (NOT_YET_RUN, "Not yet run")):
        rows_of = Counter(r.item.split(",")[0] for r in rows if r.verdict == verdict)
        if rows_of:
            parts = [f"{v} row{'s' if v > 1 else ''} of {k}" for k, v in rows_of.items()]
            out += (f" {head}: " + ", ".join(parts[:-1]) + (" and " if len(parts) > 1 else "") + parts[-1]
                    + (f", progress as of {as_of}" if verdict == UNDER_WAY and as_of else "") + ".")
    return out


PARTS = (  # the front page's bottom line: the paper's parts, each a test on a row (its page and item)
    ("Sections 3-4: the sine-wave case study, the leading-order expansion and the solution manifolds",
     lambda r: r.where.split(".")[0] in ("sine", "taylor", "manifolds")),
    ("Table 2 (Omniglot), Reptile's cells", lambda r: r.item.startswith("paper Table 2") and ", Reptile" in r.item),
    ("Table 2 (Omniglot), its MAML and first-order MAML rows, run here under Finn et al.'s protocol",
     lambda r: r.item.startswith("paper Table 2") and "MAML" in r.item),
    ("Table 1 (Mini-ImageNet)", lambda r: r.item.startswith("paper Table 1")),  # see NOT_RUN_NOTE
    ("Figure 3 (Section 5.2), its four claims", lambda r: r.item.startswith("paper Figure 3")),
)


# said of a part none of whose rows has a run: why (Mini-ImageNet's images are not distributed with the data)
NOT_RUN_NOTE = {"Table 1 (Mini-ImageNet)": "Mini-ImageNet is drawn from ImageNet, whose terms have each user bring "
                                           "their own copy of the images; none was at hand for the stored runs, and "
                                           "the chapter says how to run its cells with one"}


def _counts(rows: Sequence[Check]) -> str:
    n = Counter(r.verdict for r in rows)
    said = _said(n)
    return ", ".join(said[:-1]) + (" and " if len(said) > 1 else "") + said[-1]


def _part_text(part: Sequence[Check], noun: str = "row") -> str:
    """What :func:`bottom_line` says of one part's rows: how many reach each verdict, a second run or a second
    reading of them apart, and by name its exceptions (the part's name, said in its heading, left out)."""
    main, runs, readings, unsourced = _split(part)
    text = f"{len(main)} {noun}{'s' if len(main) > 1 else ''}, {_counts(main)}" if main else ""
    if runs:
        text += (f"; a second run of one of them {runs[0].verdict}" if len(runs) == 1 else
                 f"; second runs of {len(runs)} of them: {_counts(runs)}")
    if readings:
        text += (f"; each read again over the learning curve (a second reading, added after the first's verdicts were "
                 f"known): {_counts(readings)}")
    if unsourced:
        text += ("; " if text else "") + _unsourced(unsourced)
    if any(r.verdict in (*BAD, NOT_RESOLVED) for r in part):
        exceptions = summary(part).split(" The exceptions: ", 1)[1]
        exceptions = exceptions.split(". Under way:")[0].split(". Not yet run:")[0].rstrip(".")
        prefix = part[0].item.split(",")[0] + ", "  # the part's name
        text += ". Exceptions: " + exceptions.replace(prefix, "")
    return text


def headline(rows: Sequence[Check]) -> str:
    """The verdict in one sentence (Markdown): of the rows judged as first planned (:func:`_split`), how many agree
    with the paper (reproduce or hold), how many do not or are not resolved, and how many wait for their runs."""
    main = _split(rows)[0]
    n = Counter(r.verdict for r in main)
    agree, against = sum(n[v] for v in GOOD), sum(n[v] for v in (*BAD, NOT_RESOLVED))
    waiting = n[UNDER_WAY] + n[NOT_YET_RUN]
    judged = agree + against
    return (f"**In one line:** of the {len(main)} numbers and claims of the paper that this book judges as first "
            f"planned, {judged} have their runs: {agree} agree with the paper (they reproduce or hold) and "
            f"{against} {'does' if against == 1 else 'do'} not or {'is' if against == 1 else 'are'} not resolved, "
            f"each named below; {waiting} wait for their runs.")


def bottom_line(rows: Sequence[Check]) -> str:
    """The verdict in a minute, in Markdown: one bullet per part of the paper (:data:`PARTS`), :func:`_part_text` of
    its rows, and where a part has nothing run, why (:data:`NOT_RUN_NOTE`). Every row of :func:`checks` falls in one
    part."""
    missed = [r.item for r in rows if not any(test(r) for _, test in PARTS)]
    check(not missed, f"rows in no part of the bottom line: {missed}")
    out = []
    for head, test in PARTS:
        part = [r for r in rows if test(r)]
        if not part:
            continue
        line = f"- **{head}**: {_part_text(part)}"
        if head in NOT_RUN_NOTE and all(r.verdict == NOT_YET_RUN for r in part):
            line += f" ({NOT_RUN_NOTE[head]})"
        out.append(line + ".")
    return "\n".join(out)


def in_brief(rows: Sequence[Check], where: str) -> str:
    """A chapter's verdicts against the paper in one paragraph, for its opening (Markdown): :func:`_part_text` of
    the rows it contributes to the front page, and ``where`` they are listed in full."""
    if not rows:
        return "**The verdicts in brief:** none yet."
    return f"**The verdicts in brief:** {_part_text(rows, 'check')}. {where}"


def verdict_table(rows: Sequence[Check]) -> Table:
    """The front page's table: what of the paper, the paper's value, ours, z and the verdict; each item links to the
    section that shows it."""
    frame = pd.DataFrame([{"paper's item": _link(r), "the paper": r.paper, "ours": r.ours,
                           "z": "-" if r.z is None else z_text(r.z), "verdict": r.verdict} for r in rows])
    caption = (f"This companion against the paper (accuracies in %; other quantities as each row names them). z: the "
               f"difference over its standard error (seeds' spreads, and the paper's where it gives one); a number "
               f"reproduces when |z| < {THRESHOLD:g} and differs otherwise; a claim holds at z ≥ {THRESHOLD:g}, does "
               f"not hold at z ≤ -{THRESHOLD:g}, and is not resolved in between (the Protocol page states the rule). "
               f"±: ours is the standard deviation over the seeds a row names, or for one seed the 95% interval over "
               f"its test tasks; the paper's Reptile numbers are its intervals from the standard deviation across "
               f"three seeds, read as that standard deviation; Finn et al.'s numbers, quoted in the MAML rows, are 95% "
               f"intervals over 600 test tasks. A row under way or not yet run has no verdict yet, nor has a number "
               f"the paper prints without a source (no source); any other row without z is checked against a stated "
               f"tolerance (paper Section 4.1's float64 computations and Monte Carlo fits, Section 4.2's batched runs, "
               f"closed forms and fixed points). Each item links to the section that shows it, where its symbols are "
               f"defined; in Figure 3's rows g_i is the gradient of the i-th inner minibatch, so g1+...+gk is k-step "
               f"Reptile and gk k-step first-order MAML.")
    return VerdictTable(frame, caption, index=False)


class VerdictTable(Table):
    """A :class:`~.common.Table` whose first column holds links (HTML), with each verdict marked for the eye."""

    def _styler(self):
        sty = super()._styler()
        colour = {**{v: "#e6f4ea" for v in GOOD}, **{v: "#fdecea" for v in BAD}, NOT_RESOLVED: "#fff8e1",
                  UNDER_WAY: "#e8f0fe", NOT_YET_RUN: "#f1f3f4", NO_SOURCE: "#f1f3f4"}
        return sty.format(escape=None, subset=["paper's item"]).map(
            lambda v: f"background-color: {colour.get(v, 'transparent')}", subset=["verdict"])

    def __repr__(self) -> str:
        df = self.frame.copy()
        df["paper's item"] = df["paper's item"].str.replace(r"<[^>]+>", "", regex=True).map(html.unescape)
        return f"{self.caption}\n\n{df.to_string(index=False)}"
