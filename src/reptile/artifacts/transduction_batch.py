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
from ..stats import Comparison, Estimate, compare, z_text
from .common import Table, seed_list

EXPERIMENT, NAME = "fewshot", "omniglot-1shot-5way-transductive"
TABLE5_BATCH, AUTHORS_BATCH = 5, 25  # paper Table 5's evaluation batch; the authors' command's
HOW = ("python -m reptile.campaign.trained --record --from-commit fc9ebb1 --threads 1 --tasks 3000 --checkpoint "
       "results/campaign/fewshot-omniglot-1shot-5way-transductive-seeds0-1-2.pt")


def record_path(results_dir=None) -> Path:
    """The stored check of the cell: the one of the latest outer iteration, when there are several."""
    from ..campaign.trained.batch_check import CHECK_PREFIX

    folder = results_root(results_dir) / EXPERIMENT / NAME
    found = sorted(folder.glob(f"{CHECK_PREFIX}-*.json"),
                   key=lambda p: int(p.stem.rsplit("-", 1)[1]) if p.stem.rsplit("-", 1)[1].isdigit() else -1)
    if not found:
        raise FileNotFoundError(f"no evaluation-batch check stored under {folder}: run `{HOW}`")
    return found[-1]


def load_record(results_dir=None) -> dict[str, Any]:
    """The stored check (:func:`record_path`), read and checked for the two batches this page compares."""
    from ..campaign.trained.batch_check import read_check

    path = record_path(results_dir)
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
    where = (f"the campaign checkpoint of commit {c['commit'][:7]}" if "commit" in c else f"the state {c['file']}")
    return (f"{where}, after {c['outer_iteration']:,} of {c['outer_iters']:,} outer iterations; "
            f"{r['tasks_per_seed']:,} test tasks per seed, the same tasks for both batches")


def batch_table(results_dir=None) -> Table:
    """One row per evaluation batch (paper Table 5's 5, the authors' command's 25): the transductive accuracy (%) of
    each seed and their mean ± standard deviation over seeds, and the non-transductive mean ± standard deviation of
    the same networks."""
    r = load_record(results_dir)
    rows = []
    for batch, label in ((TABLE5_BATCH, "5 (paper Table 5)"), (AUTHORS_BATCH, "25 (the authors' command)")):
        accs = _accuracies(r, batch)
        row = {"evaluation batch": label}
        row.update({f"seed {s}": f"{a:.2f}" for s, a in zip(r["seeds"], accs)})
        e, nt = Estimate.of(accs), Estimate.of(_accuracies(r, batch, "non_transductive"))
        row["mean ± sd"] = f"{e.mean:.2f} ± {e.sd:.2f}"
        row["non-transductive, mean ± sd"] = f"{nt.mean:.2f} ± {nt.sd:.2f}"
        rows.append(row)
    caption = (f"Transductive 1-shot 5-way Omniglot accuracy (%) of the networks of seeds {seed_list(r['seeds'])} "
               f"(the cell of paper Table 2, trained with paper Table 5's settings), evaluated with fine-tuning "
               f"batches of 5 and of 25: {_basis(r)}. ± is the standard deviation over {len(r['seeds'])} seeds; the "
               f"last column is the same networks' non-transductive accuracy.")
    return Table(pd.DataFrame(rows).set_index("evaluation batch"), caption)


def batch_comparison(results_dir=None) -> Comparison:
    """Batch 25 minus batch 5, transductive accuracy in points, over the seeds by the book's rule
    (:func:`reptile.stats.compare`; each side's standard error is its standard deviation over seeds / sqrt(n))."""
    r = load_record(results_dir)
    return compare(Estimate.of(_accuracies(r, AUTHORS_BATCH)), Estimate.of(_accuracies(r, TABLE5_BATCH)))


def _after(r: dict, b5: Estimate, results_dir=None) -> str:
    """How the finished run's accuracy (its records of the check's seeds, with the evaluation batch they record)
    compares with this checkpoint's at that batch, and where the checkpoint is: a sentence or two for
    :func:`batch_summary` (the first empty where the finished records are not stored)."""
    from ..results import read_run

    c = r["checkpoint"]
    kept = (f" The campaign deletes a population's checkpoint when it finishes; a full clone's history keeps this one "
            f"(`git show {c['commit'][:7]}:{c['path']}`)." if "commit" in c and "path" in c else "")
    folder = results_root(results_dir) / EXPERIMENT / NAME
    recs = [read_run(p, required=("seed", "eval")) for p in sorted(folder.glob("seed-*.json"))]
    recs = [x for x in recs if x.get("seed") in r["seeds"]]
    batches = {x.get("config", {}).get("eval_batch") for x in recs}
    if len(recs) < 2 or batches != {TABLE5_BATCH}:
        return kept
    done = Estimate.of([100 * x["eval"]["transductive"]["accuracy"] for x in recs])
    return (f" Trained on to its end, the same run reached {done.mean:.2f} ± {done.sd:.2f}% with batches of "
            f"{TABLE5_BATCH} ({recs[0]['eval']['transductive']['tasks']:,} test tasks per seed, seeds "
            f"{seed_list(x['seed'] for x in recs)}), {done.mean - b5.mean:+.2f} points from this checkpoint's, so the "
            f"finished networks' accuracy with batches of {AUTHORS_BATCH} need not be this checkpoint's either." + kept)


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
    return (f"The same networks (seeds {seed_list(r['seeds'])}, {c['outer_iteration']:,} of {c['outer_iters']:,} "
            f"outer iterations) evaluated on the same {r['tasks_per_seed']:,} test tasks per seed reach "
            f"{b5.mean:.2f} ± {b5.sd:.2f}% transductively with fine-tuning batches of {TABLE5_BATCH} (paper Table 5) "
            f"and {b25.mean:.2f} ± {b25.sd:.2f}% with batches of {AUTHORS_BATCH} (the authors' command), ± the "
            f"standard deviation over seeds: batch {AUTHORS_BATCH} minus batch {TABLE5_BATCH} is "
            f"{cmp.describe()} of the difference ({verdict}: \"batch {AUTHORS_BATCH} beats batch {TABLE5_BATCH}\" "
            f"{cmp.claim()} by the book's rule, z = {z_text(cmp.z)}). The paper reports {paper_mean:.2f} ± "
            f"{paper_sd:.2f}% for this cell. The networks are a checkpoint of the run before its end, so these "
            f"accuracies are not the finished cell's: that run kept no trained state at its end (it finished before "
            f"the campaign kept one), and the rerun with the authors' batch keeps its own, evaluated with both batches "
            f"when it finishes.{_after(r, b5, results_dir)} The record (`results/"
            f"{record_path(results_dir).relative_to(results_root(results_dir)).as_posix()}`, code "
            f"{short_commit(r['environment'])}) keeps every task's result.")
