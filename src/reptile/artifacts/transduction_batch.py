"""The transductive 1-shot 5-way Omniglot cell under two evaluation batches: a recorded check.

Paper Table 5 gives the cell's evaluation batch as 5; the authors' command for the cell (their README's "commands
used for the paper") evaluates with ``--eval-batch 25``. The record (``python -m reptile.campaign.trained --record``,
:func:`reptile.campaign.trained.record_eval_batches`) evaluates the same networks of seeds 0, 1 and 2 with both batches on
the same test tasks; this module shows it as a table (:func:`batch_table`), judges the difference by the book's rule
(:func:`batch_comparison`) and says it in a paragraph (:func:`batch_summary`). Every number comes from the record.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd

from ..provenance import short_commit
from ..results import results_root
from ..stats import DIFFERS, HOLDS, REPRODUCES, Comparison, Estimate, compare, z_text
from .common import Check, Table, seed_list

EXPERIMENT, NAME = "fewshot", "omniglot-1shot-5way-transductive"
RERUN = "omniglot-1shot-5way-transductive-eval25"  # the campaign's rerun of the cell, evaluated the authors' way
TABLE5_BATCH, AUTHORS_BATCH = 5, 25  # paper Table 5's evaluation batch; the authors' command's
HOW = ("python -m reptile.campaign.trained --record --from-commit fc9ebb1 --threads 1 --tasks 3000 --checkpoint "
       "results/campaign/fewshot-omniglot-1shot-5way-transductive-seeds0-1-2.pt")


def record_path(results_dir=None, name: str = NAME) -> Path:
    """The stored check of the configuration ``name`` (the cell's by default, :data:`RERUN` for the rerun's
    finished networks): the one of the latest outer iteration, when there are several."""
    from ..campaign.plan import CHECK_PREFIX

    folder = results_root(results_dir) / EXPERIMENT / name
    found = sorted(folder.glob(f"{CHECK_PREFIX}-*.json"),
                   key=lambda p: int(p.stem.rsplit("-", 1)[1]) if p.stem.rsplit("-", 1)[1].isdigit() else -1)
    if not found:
        how = HOW if name == NAME else f"python -m reptile.campaign (its entry {name}, when its records are written)"
        raise FileNotFoundError(f"no evaluation-batch check stored under {folder}: run `{how}`")
    return found[-1]


def _stored(results_dir, name: str) -> bool:
    """Whether a check of ``name`` is stored (:func:`record_path`)."""
    try:
        record_path(results_dir, name)
    except FileNotFoundError:
        return False
    return True


def load_record(results_dir=None, name: str = NAME) -> dict[str, Any]:
    """The stored check (:func:`record_path`), read and checked for the two batches this page compares."""
    from ..campaign.trained.batch_check import read_check

    path = record_path(results_dir, name)
    r = read_check(path)
    missing = [b for b in (TABLE5_BATCH, AUTHORS_BATCH) if str(b) not in r["metrics"]]
    if missing:
        raise ValueError(f"{path} has no evaluation with batch {missing}; it holds {r['eval_batches']}")
    return r


def _accuracies(r: dict, batch: int, mode: str = "transductive") -> list[float]:
    """Per-seed accuracies (%) of the record ``r`` with evaluation batch ``batch``."""
    return [100 * a for a in r["metrics"][str(batch)][mode]["accuracy"]]


def _basis(r: dict) -> str:
    c = r["checkpoint"]
    where = (f"the campaign checkpoint of commit {c['commit'][:7]}" if "commit" in c else
             f"the trained state the campaign kept at the run's end (results/{c['trained_state']})"
             if "trained_state" in c else f"the state {c['file']}")
    return (f"{where}, after {c['outer_iteration']:,} of {c['outer_iters']:,} outer iterations; "
            f"{r['tasks_per_seed']:,} test tasks per seed, the same tasks for both batches")


def batch_table(results_dir=None, name: str = NAME) -> Table:
    """One row per evaluation batch (paper Table 5's 5, the authors' command's 25): the transductive accuracy (%) of
    each seed and their mean ± standard deviation over seeds, and the non-transductive mean ± standard deviation of
    the same networks; of the check of ``name`` (the cell's checkpoint, or :data:`RERUN`'s finished networks)."""
    r = load_record(results_dir, name)
    rows = []
    for batch, label in ((TABLE5_BATCH, "5 (paper Table 5)"), (AUTHORS_BATCH, "25 (the authors' command)")):
        accs = _accuracies(r, batch)
        row = {"evaluation batch": label}
        row.update({f"seed {s}": f"{a:.2f}" for s, a in zip(r["seeds"], accs)})
        e, nt = Estimate.of(accs), Estimate.of(_accuracies(r, batch, "non_transductive"))
        row["mean ± sd"] = f"{e.mean:.2f} ± {e.sd:.2f}"
        row["non-transductive, mean ± sd"] = f"{nt.mean:.2f} ± {nt.sd:.2f}"
        rows.append(row)
    which = ("the cell of paper Table 2, trained with paper Table 5's settings" if name == NAME else
             "the same cell trained again to the end with the same settings, the campaign's rerun " + name)
    caption = (f"Transductive 1-shot 5-way Omniglot accuracy (%) of the networks of seeds {seed_list(r['seeds'])} "
               f"({which}), evaluated with fine-tuning batches of 5 and of 25: {_basis(r)}. ± is the standard "
               f"deviation over {len(r['seeds'])} seeds; the last column is the same networks' non-transductive "
               f"accuracy.")
    return Table(pd.DataFrame(rows).set_index("evaluation batch"), caption)


def batch_comparison(results_dir=None, name: str = NAME) -> Comparison:
    """Batch 25 minus batch 5, transductive accuracy in points, over the seeds by the book's rule
    (:func:`reptile.stats.compare`; each side's standard error is its standard deviation over seeds / sqrt(n))."""
    r = load_record(results_dir, name)
    return compare(Estimate.of(_accuracies(r, AUTHORS_BATCH)), Estimate.of(_accuracies(r, TABLE5_BATCH)))


def _after(r: dict, b5: Estimate, results_dir=None) -> str:
    """How the finished run's accuracy (its records of the check's seeds, with the evaluation batch they record)
    compares with this checkpoint's at that batch: a sentence for :func:`batch_summary`, empty where the finished
    records are not stored."""
    from ..results import read_run

    folder = results_root(results_dir) / EXPERIMENT / NAME
    recs = [read_run(p, required=("seed", "eval")) for p in sorted(folder.glob("seed-*.json"))]
    recs = [x for x in recs if x.get("seed") in r["seeds"]]
    batches = {x.get("config", {}).get("eval_batch") for x in recs}
    if len(recs) < 2 or batches != {TABLE5_BATCH}:
        return ""
    done = Estimate.of([100 * x["eval"]["transductive"]["accuracy"] for x in recs])
    return (f" Trained on to its end, the same run reached {done.mean:.2f} ± {done.sd:.2f}% with batches of "
            f"{TABLE5_BATCH} ({recs[0]['eval']['transductive']['tasks']:,} test tasks per seed, seeds "
            f"{seed_list(x['seed'] for x in recs)}), {done.mean - b5.mean:+.2f} points from this checkpoint's, so the "
            f"finished networks' accuracy with batches of {AUTHORS_BATCH} need not be this checkpoint's either.")


def batch_summary(results_dir=None) -> str:
    """One Markdown paragraph, generated from the record: what was evaluated, the two means, the difference and
    its verdict, and the paper's number beside them."""
    from ..paper import TABLE2

    r = load_record(results_dir)
    paper_mean, paper_sd = TABLE2["rows"]["Reptile + Transduction"][TABLE2["columns"].index("1-shot 5-way")]
    b5, b25 = (Estimate.of(_accuracies(r, b)) for b in (TABLE5_BATCH, AUTHORS_BATCH))
    cmp = batch_comparison(results_dir)
    verdict = ("the larger batch gives the higher accuracy" if cmp.claim() == "holds" else
               "the smaller batch gives the higher accuracy" if cmp.claim() == "does not hold" else
               "the difference is not resolved")
    c = r["checkpoint"]
    rerun = ("is evaluated with both batches below" if _stored(results_dir, RERUN) else
             "is to be evaluated with both batches by the campaign")
    return (f"The same networks (seeds {seed_list(r['seeds'])}, {c['outer_iteration']:,} of {c['outer_iters']:,} "
            f"outer iterations) evaluated on the same {r['tasks_per_seed']:,} test tasks per seed reach "
            f"{b5.mean:.2f} ± {b5.sd:.2f}% transductively with fine-tuning batches of {TABLE5_BATCH} (paper Table 5) "
            f"and {b25.mean:.2f} ± {b25.sd:.2f}% with batches of {AUTHORS_BATCH} (the authors' command), ± the "
            f"standard deviation over seeds: batch {AUTHORS_BATCH} minus batch {TABLE5_BATCH} is "
            f"{cmp.describe()} of the difference ({verdict}: \"batch {AUTHORS_BATCH} beats batch {TABLE5_BATCH}\" "
            f"{cmp.claim()} by the book's rule, z = {z_text(cmp.z)}). The paper reports {paper_mean:.2f} ± "
            f"{paper_sd:.2f}% for this cell. The networks are a checkpoint of the run before its end, so these "
            f"accuracies are not the finished cell's: that run kept no trained state at its end (it finished before "
            f"the campaign kept one), and the rerun with the authors' batch keeps its own, which {rerun}."
            f"{_after(r, b5, results_dir)} {_provenance(r, results_dir)}")


def _provenance(r: dict, results_dir=None, name: str = NAME) -> str:
    """Where the check ``r`` of ``name`` is stored and the command that computes it again
    (:func:`reptile.campaign.trained.batch_check.command`), as a sentence."""
    from ..campaign.trained.batch_check import command

    path = record_path(results_dir, name).relative_to(results_root(results_dir)).as_posix()
    source = r["checkpoint"]
    where = (" from the checkpoint, which the campaign deleted when the run finished and the repository's history "
             "keeps (a full clone, not `git clone --depth 1`)" if "commit" in source else
             " from the trained state kept beside the run's records" if "trained_state" in source else "")
    return (f"The record (`results/{path}`, code {short_commit(r['environment'])}) keeps every task's result; "
            f"`{command(r)}` computes it again{where}.")


# ------------------------------------------------------------------------------------- the rerun, trained to the end


def _paper_cell() -> Estimate:
    """Paper Table 2's Reptile + Transduction 1-shot 5-way cell, its ± read as the standard deviation over 3 seeds
    (the book's reading of the paper's ±)."""
    from ..paper import TABLE2

    pm, ps = TABLE2["rows"]["Reptile + Transduction"][TABLE2["columns"].index("1-shot 5-way")]
    return Estimate(pm, ps, 3)


def _transductive(runs: list[dict]) -> Estimate:
    return Estimate.of([100 * r["eval"]["transductive"]["accuracy"] for r in runs])


def _trained_on(run: dict) -> str:
    """Where a run was trained, as prose, from the segments it records: "the CPU for all 100,000 outer iterations",
    or each device's share; a run without segments, by its device's name."""
    from ..campaign.plan import device_iterations

    engine = run.get("engine") if isinstance(run.get("engine"), dict) else {}
    done = device_iterations(engine.get("segments") or [])
    if not done:
        return run["environment"]["device_name"]
    name = {"cpu": "the CPU"}
    if len(done) == 1:
        (d, n), = done.items()
        return f"{name.get(d, d)} for all {n:,} outer iterations"
    return " and ".join(f"{n:,} outer iterations on {name.get(d, 'an ' + d)}" for d, n in done.items())


def rerun_check(runs_by_name: dict[str, list[dict]], progress: dict[str, str] | None = None) -> Check:
    """The front page's row for the rerun (:data:`RERUN`): Table 2's transductive 1-shot 5-way cell trained again
    and evaluated as the authors' command does (batches of 25), against the paper's number by the book's rule; under
    way (with its progress) or not yet run until its seeds are recorded."""
    from ..stats import NOT_YET_RUN, UNDER_WAY

    paper = _paper_cell()
    row = dict(item="paper Table 2 (Omniglot), Reptile + Transduction, 1-shot 5-way, a second run",
               claim=f"evaluated with batches of {AUTHORS_BATCH}, as the authors' command does (paper Table 5 says "
                     f"{TABLE5_BATCH}; run after the first run differed)",
               paper=f"{paper.mean:.2f} ± {paper.sd:.2f}", where="fewshot.ipynb#fewshot-gap")
    runs = runs_by_name.get(RERUN, [])
    if len(runs) < 2:  # the campaign writes all its seeds at once
        under = (progress or {}).get(RERUN)
        return Check(**row, ours=under or "not yet run", z=None, verdict=UNDER_WAY if under else NOT_YET_RUN)
    ours = _transductive(runs)
    cmp = compare(ours, paper)
    return Check(**row, ours=f"{ours.mean:.2f} ± {ours.sd:.2f} ({ours.n} seeds)", z=cmp.z, verdict=cmp.agreement())


def _against(verdict: str, what: str) -> str:
    """A verdict against ``what`` as the paragraph says it."""
    return {REPRODUCES: f"it **reproduces** {what}", DIFFERS: f"it **differs** from {what}"}.get(
        verdict, f"its agreement with {what} is **{verdict}**")


def rerun_summary(runs_by_name: dict[str, list[dict]], progress: dict[str, str] | None = None,
                  results_dir=None) -> str:
    """One Markdown paragraph, generated from the records: the rerun's accuracy with the authors' batch against the
    paper's; then, from its evaluation-batch check, the same networks with both batches on the same tasks (the
    batch's effect), and its batch-5 accuracy against Table 2's cell (the first run: the same seeds and settings,
    trained on other devices); and what the verdicts together say about Table 2's gap, case by case. Says how far
    the rerun has come until it is finished."""
    runs = runs_by_name.get(RERUN, [])
    check = rerun_check(runs_by_name, progress)
    if len(runs) < 2:
        where = (f"is under way ({check.ours}, as of the newest checkpoint; the Status page shows its rate)"
                 if progress and RERUN in progress else "has not started")
        return (f"The campaign's rerun `{RERUN}` {where}. When its training ends, its final evaluation uses batches "
                f"of {AUTHORS_BATCH}, and its trained networks are then evaluated with batches of {TABLE5_BATCH} and "
                f"{AUTHORS_BATCH} on the same test tasks; this paragraph then says what both show.")
    ours, paper = _transductive(runs), _paper_cell()
    tasks = runs[0]["eval"]["transductive"]["tasks"]
    text = (f"The rerun `{RERUN}` has the seeds and training settings of Table 2's cell; it was trained on "
            f"{_trained_on(runs[0])} and evaluated as the authors' command does "
            f"(batches of {AUTHORS_BATCH}; {tasks:,} test tasks per seed, seeds {seed_list(r['seed'] for r in runs)}). "
            f"It reaches {ours.mean:.2f} ± {ours.sd:.2f}% against the paper's {paper.mean:.2f} ± {paper.sd:.2f}%: "
            f"by the book's rule {_against(check.verdict, 'the paper')} (z = {z_text(check.z)}).")
    try:
        r = load_record(results_dir, RERUN)
    except FileNotFoundError:
        return text + (f" Its trained networks are still to be evaluated with batches of {TABLE5_BATCH} and "
                       f"{AUTHORS_BATCH} on the same tasks (the campaign does it next).")
    b5, b25 = (Estimate.of(_accuracies(r, b)) for b in (TABLE5_BATCH, AUTHORS_BATCH))
    batch = batch_comparison(results_dir, RERUN)
    text += (f" Its networks evaluated with both batches on the same {r['tasks_per_seed']:,} test tasks per seed "
             f"(the table below) reach {b5.mean:.2f} ± {b5.sd:.2f}% with batches of {TABLE5_BATCH} and "
             f"{b25.mean:.2f} ± {b25.sd:.2f}% with batches of {AUTHORS_BATCH}: the batch alone moves the accuracy by "
             f"{batch.describe()} (\"batch {AUTHORS_BATCH} beats batch {TABLE5_BATCH}\" {batch.claim()}, z = "
             f"{z_text(batch.z)}).")
    if _stored(results_dir, NAME):  # the earlier check, on a checkpoint before the end of training
        early = load_record(results_dir, NAME)
        c = early["checkpoint"]
        text += (f" The check above, on the first run's networks at {c['outer_iteration']:,} of {c['outer_iters']:,} "
                 f"outer iterations, found {batch_comparison(results_dir).difference:+.2f} points; the finished "
                 f"rerun's {batch.difference:+.2f} is the estimate for networks trained to the end, as Table 2's "
                 f"were.")
    text += f" {_provenance(r, results_dir, RERUN)}"
    own = [100 * x["eval"]["transductive"]["accuracy"] for x in runs]
    again = _accuracies(r, AUTHORS_BATCH)
    if again == own:
        text += (f" With batches of {AUTHORS_BATCH} the check gives each seed the accuracy of the run's own final "
                 f"evaluation exactly (the same tasks and draws, evaluated again).")
    else:
        gap = max(abs(a - b) for a, b in zip(again, own))
        text += (f" With batches of {AUTHORS_BATCH} the check should give each seed the accuracy of the run's own "
                 f"final evaluation exactly (the same tasks and draws), and it differs from it by up to {gap:.2f} "
                 f"points: the check is in doubt.")
    first_runs = runs_by_name.get(NAME, [])
    if len(first_runs) < 2:
        return text
    first = _transductive(first_runs)
    trainings = compare(b5, first)
    same = {REPRODUCES: "agree", DIFFERS: "differ"}.get(trainings.agreement(), "are not resolved")
    text += (f" With batches of {TABLE5_BATCH} the rerun's networks and Table 2's cell ({first.mean:.2f} ± "
             f"{first.sd:.2f}%, trained with {_trained_on(first_runs[0])}) {same} by the book's rule (z = "
             f"{z_text(trainings.z)}): the same seeds and settings, trained (and evaluated) on other devices, "
             f"whose floating-point differences training can amplify; the runs do not test that cause, and a "
             f"difference this large between two trainings of one configuration says that three seeds' spread "
             f"can understate how far a rerun lands, so verdicts near |z| = 3 are fragile.")
    weaker = trainings.agreement() == DIFFERS and b5.mean < first.mean  # the rerun's training the weaker one
    if batch.claim() != HOLDS:
        text += (f" Since \"batch {AUTHORS_BATCH} beats batch {TABLE5_BATCH}\" {batch.claim()} on the same "
                 f"networks, the check does not show that the batch closes Table 2's gap.")
    elif trainings.agreement() == DIFFERS and not weaker:
        text += (f" The rerun's training is the stronger at batch {TABLE5_BATCH}, so part of what separates Table "
                 f"2's cell from the paper's number may be the training: the rerun cannot say how much of that gap is "
                 f"the evaluation batch.")
    elif trainings.agreement() != REPRODUCES and not weaker:
        text += (f" Whether the two trainings agree at batch {TABLE5_BATCH} is not resolved, so the rerun cannot say "
                 f"how much of Table 2's gap is the evaluation batch.")
    elif check.verdict == REPRODUCES and not weaker:
        text += (f" So the evaluation batch accounts for Table 2's gap: the cell's networks, trained as paper Table 5 "
                 f"says, reproduce the paper's number when evaluated with the authors' batch of {AUTHORS_BATCH}, and "
                 f"with Table 5's batch of {TABLE5_BATCH} they agree with Table 2's cell, which differs from it.")
    elif check.verdict == REPRODUCES:
        low = compare(b5, paper)
        text += (f" The rerun's training is the weaker one (by {first.mean - b5.mean:.2f} points at batch "
                 f"{TABLE5_BATCH}), so the difference between trainings does not explain Table 2's gap of "
                 f"{paper.mean - first.mean:.2f} points below the paper's number; on the rerun's networks the batch is "
                 f"worth {batch.difference:+.2f} points.")
        if low.agreement() == DIFFERS:
            text += (f" On those networks the batch alone decides the verdict: with batches of {TABLE5_BATCH} they "
                     f"differ from the paper's number (z = {z_text(low.z)}), with batches of {AUTHORS_BATCH} they "
                     f"reproduce it (z = {z_text(check.z)}). So, as far as one rerun can show, the evaluation batch "
                     f"accounts for Table 2's gap; Table 2's own networks were not kept at the end of their training, "
                     f"so they cannot be evaluated with batches of {AUTHORS_BATCH} themselves.")
        else:
            text += (f" With batches of {TABLE5_BATCH} their agreement with the paper's number is "
                     f"**{low.agreement()}** too (z = {z_text(low.z)}), so the check does not show that the batch "
                     f"closes Table 2's gap.")
    elif check.verdict == DIFFERS and ours.mean > paper.mean:
        text += (f" With the authors' batch the cell lies above the paper's number: the batch of {AUTHORS_BATCH} "
                 f"more than closes Table 2's gap.")
    elif check.verdict == DIFFERS:
        text += (" The authors' batch raises the accuracy but not to the paper's number: it accounts for part of "
                 "Table 2's gap only.")
    else:
        text += " Whether the batch closes Table 2's gap is not resolved."
    return text


def rerun_table(results_dir=None, seeds=(0, 1, 2)) -> Table:
    """:func:`batch_table` of the rerun's finished networks; before its check is recorded, the same table with every
    cell not yet run (``seeds``: the rerun's, the campaign's entry's)."""
    try:
        return batch_table(results_dir, RERUN)
    except FileNotFoundError:
        pass
    from ..stats import NOT_YET_RUN

    columns = [f"seed {s}" for s in seeds] + ["mean ± sd", "non-transductive, mean ± sd"]
    frame = pd.DataFrame([[NOT_YET_RUN] * len(columns)] * 2, columns=columns,
                         index=pd.Index(["5 (paper Table 5)", "25 (the authors' command)"], name="evaluation batch"))
    return Table(frame, f"Transductive 1-shot 5-way Omniglot accuracy (%) of the networks of the campaign's rerun "
                        f"{RERUN} (paper Table 2's cell trained again to the end with paper Table 5's settings), "
                        f"evaluated with fine-tuning batches of 5 and of 25 on the same test tasks: not yet run (the "
                        f"campaign records it when the rerun's records are written).")
