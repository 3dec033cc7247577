"""The paper's budget as a campaign: full-protocol runs advanced a piece at a time, across sessions and devices.

    python -m reptile.campaign --minutes 170            # advance the plan for 170 minutes on this device
    python -m reptile.campaign --minutes 170 --workers 2   # two populations side by side, a core each
    python -m reptile.campaign --status                 # where every planned run stands
    python -m reptile.campaign --minutes 9 --workers 3 --streams   # on a GPU: three populations at the same time

A session of a few hours cannot train a full-protocol cell (tens of CPU-hours), and every process it started ends
with it. So the campaign keeps one compact checkpoint per population under ``results/campaign/`` (float32 weights,
the inner optimiser's moments, the random generators' states, the learning curve so far and which device ran which
iterations), overwritten in place at least every 10 minutes and at the end, and meant to be committed; each call
resumes the first unfinished entry of :data:`PLAN`. When an entry's training is done, its final evaluation (10,000
test tasks per seed) runs in blocks that are checkpointed too; then each seed's results JSON is written as a solo run
would write it, the population's trained state beside them (:mod:`reptile.campaign.trained`), and the checkpoint is
deleted; an entry that plans an evaluation-batch check (the eval-batch-25 rerun) then evaluates that state with each
batch on all of its final test tasks, a piece at a time too (:func:`reptile.campaign.runs.batch_check`). Resuming on
the same device gives the numbers of an uninterrupted run; resuming on another (CPU to GPU or back) works, and the
records list the devices. Several workers (``--workers``, ``--streams``) are
:mod:`reptile.campaign.workers`.

The package, from the bottom: :mod:`.plan` (the plan, paths, progress), :mod:`.trained` (a finished run's trained
state), :mod:`.runs` (advancing populations), :mod:`.workers` (several at once), :mod:`.report` (the progress table
the command prints and the status page shows); this module is the command line and re-exports the public names. To
replace one of them in a test, patch the module that defines it (``reptile.campaign.runs.EVAL_BLOCK``).
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path

from .. import results as R
from ..cli import check_device_argument, check_threads_argument, fail
from ..validate import is_positive
from .plan import (FIGURE3_CURVES, PLAN, Entry, campaign_root, check_partial_path, check_pending,  # noqa: F401
                   check_record_path, checkpoint_path, devices_label, finished, latest_rate, progress,
                   records_written, select)
from .runs import (PROG, STOP, advance, at_once, batch_check, claim, failure, holder, resume_note,  # noqa: F401
                   run, stop_on_signals, thread_warning, write_records)


def check_results_folder(parser, advancing: bool) -> Path:
    """The results folder the campaign reads (``$REPTILE_RESULTS`` or the repository's ``results/``): it must exist,
    since a mistyped path would show every entry 'not started' (``--status``) or start every run over from the
    beginning (``--minutes``); and, to advance, be writable. Stops with :func:`reptile.cli.fail` otherwise."""
    root = R.results_root()
    given = os.environ.get("REPTILE_RESULTS")
    where = f"{root} ($REPTILE_RESULTS={given})" if given else str(root)
    if not root.is_dir():
        what = "is not a folder" if root.exists() else "does not exist"
        then = ("every planned run would show 'not started'" if not advancing else
                "every planned run would start over from the beginning there")
        fail(parser, f"the results folder {where} {what}: the campaign's checkpoints and records are read from it, "
                     f"so {then} (a typo in the path?). Allowed: an existing folder; to begin a campaign in a new "
                     f"one, create it first: mkdir -p '{root}'")
    if advancing:
        try:
            R.check_writable(campaign_root(), "campaign", "Make it writable, or set $REPTILE_RESULTS to a folder you "
                                                          "can write.")
        except ValueError as e:
            fail(parser, e)
    return root


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog=PROG, description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--minutes", type=float, default=None,
                        help="advance the plan for this wall time (a finite number > 0; run again to go on)")
    parser.add_argument("--status", action="store_true", help="print where every planned run stands")
    parser.add_argument("--device", default="auto")
    parser.add_argument("--threads", type=int, default=None,
                        help="CPU threads per process (default: the cores divided among the workers)")
    parser.add_argument("--workers", type=int, default=1,
                        help="processes (threads with --streams) advancing the first unfinished entries side by side "
                             "(default 1)")
    parser.add_argument("--streams", action="store_true",
                        help="on a GPU: the workers are threads of this process, each on its own CUDA stream, so "
                             "that their populations run on the GPU at the same time (processes take turns)")
    parser.add_argument("--only", nargs="+", default=None, metavar="NAME",
                        help="advance only these planned populations, in this order (e.g. figure3-last4 "
                             "omniglot-5shot-5way)")
    parser.add_argument("--data-root", default=None)
    a = parser.parse_args(argv)
    # every value is checked here, before any checkpoint or data is read (reptile.validate's command-line checks)
    try:
        plan = select(a.only)
    except ValueError as e:
        fail(parser, e)
    if a.minutes is None and not a.status:
        fail(parser, "give --minutes N to advance the campaign, or --status")
    if a.minutes is not None and not is_positive(a.minutes):
        fail(parser, f"--minutes {a.minutes:g}: allowed: a finite number of minutes > 0 (the wall time this call "
                     f"advances the plan for; run it again to go on)")
    if a.workers < 1:
        fail(parser, f"--workers {a.workers}: allowed: an integer >= 1")
    check_threads_argument(parser, a.threads)
    dev = check_device_argument(parser, a.device)
    if a.streams and dev.type != "cuda":
        fail(parser, f"--streams runs the workers on CUDA streams: it needs a GPU, and the device is {dev}; on a CPU "
                     f"use --workers alone (processes)")
    check_results_folder(parser, advancing=a.minutes is not None)
    from .workers import run_streams, run_workers

    stopped = []
    try:
        if a.minutes is not None and a.streams:
            done = run_streams(a.minutes, a.workers, a.device, a.data_root, plan)
            print(f"finished this call: {', '.join(done) or 'none'}")
        elif a.minutes is not None and a.workers > 1:
            codes = run_workers(a.minutes, a.workers, a.device, a.data_root, a.threads, plan)
            stopped = [(k, c) for k, c in enumerate(codes) if c]
        elif a.minutes is not None:
            from ..threads import configure

            configure(a.threads)
            stop_on_signals()
            done = run(a.minutes, a.device, plan, data_root=a.data_root)
            print(f"finished this call: {', '.join(done) or 'none'}")
        from ..cli import show
        from .report import campaign_table, snapshot_date

        show(campaign_table())
        date = snapshot_date()
        print(f"the newest checkpoint was written on {date} (UTC)" if date else
              "no checkpoint records when it was written")
    except Exception as e:
        code_message = failure(e)
        if code_message is None:
            raise
        parser.exit(code_message[0], f"{PROG}: error: {code_message[1]}\n")
    if stopped:
        parser.exit(1, f"{PROG}: error: " + "; ".join(
            f"worker {k} " + (f"stopped with exit code {c}" if c > 0 else f"was killed by signal {-c}")
            for k, c in stopped) + " (see above); the other workers stopped normally\n")
