"""``python -m reptile.campaign.trained``: evaluate a finished run's network again, or record an evaluation-batch check.

What the kept state is and the Python functions that read it are in :mod:`reptile.campaign.trained` (the package)
and :mod:`.state`. From a shell::

    python -m reptile.campaign.trained --preset omniglot-5shot-5way --seed 0 --tasks 500
    python -m reptile.campaign.trained --preset omniglot-5shot-5way --seed 0 --tasks 500 --eval-iters 100
    python -m reptile.campaign.trained --checkpoint results/campaign/<key>.pt --seed 0 --tasks 500   # a run under way

A recorded check (:func:`reptile.campaign.trained.batch_check.record_eval_batches`) evaluates seeds 0, 1 and 2 of a
state with several evaluation batches on the same tasks and writes one results JSON with its environment; the
transductive 1-shot 5-way cell's, from the campaign checkpoint in the repository's history at 86,836 of its 100,000
outer iterations (``--from-commit`` needs that history: a full clone, not ``--depth 1``)::

    python -m reptile.campaign.trained --record --from-commit fc9ebb1 --threads 1 --tasks 3000 \\
        --checkpoint results/campaign/fewshot-omniglot-1shot-5way-transductive-seeds0-1-2.pt
"""

from __future__ import annotations

import argparse
from pathlib import Path

import torch

from ... import results as R
from ...cli import check_device_argument, check_seeds_argument, check_threads_argument, fail
from ...validate import check, is_positive
from . import state
from .batch_check import DEFAULT_BATCHES, DEFAULT_SEEDS, read_check, record_eval_batches


def from_git(commit: str, path: str, into: Path) -> tuple[Path, dict[str, str]]:
    """The file ``path`` as it was at ``commit`` in this repository's history (a campaign checkpoint of a run
    under way, say), copied into the folder ``into``; returns the copy and ``{"commit": full hash, "path": path}``.
    A ValueError when the commit or the file is not there."""
    import subprocess

    def git(*args, text=True):
        return subprocess.run(["git", *args], cwd=R.REPO_ROOT, capture_output=True, text=text, timeout=60)

    full = git("rev-parse", "--verify", "--quiet", f"{commit}^{{commit}}")
    shallow = git("rev-parse", "--is-shallow-repository").stdout.strip() == "true"
    check(full.returncode == 0, f"no commit {commit!r} in the repository at {R.REPO_ROOT}" +
          (" (a shallow clone, such as `git clone --depth 1` makes: `git fetch --unshallow` brings the history)"
           if shallow else ""))
    sha = full.stdout.strip()
    blob = git("show", f"{sha}:{path}", text=False)
    check(blob.returncode == 0, f"commit {sha[:7]} has no file {path!r}")
    out = Path(into) / Path(path).name
    out.write_bytes(blob.stdout)
    return out, {"commit": sha, "path": str(path)}



PROG = "python -m reptile.campaign.trained"


def experiments() -> list[str]:
    """The experiments whose runs keep a trained state: those of the campaign's plan (:data:`reptile.campaign.PLAN`)
    trained as populations (a MAML entry keeps its seeds' states beside their checkpoints instead)."""
    from ..plan import PLAN

    return list(dict.fromkeys(e.experiment for e in PLAN if e.experiment != "maml"))  # MAML runs are not populations


def known_names(experiment: str, results_dir=None) -> list[str]:
    """The configurations of ``experiment`` that keep a trained state: the campaign's populations of it (in the
    plan's order), then any other stored under the results folder."""
    from ..plan import PLAN

    names = [e.name for e in PLAN if e.experiment == experiment]
    stored = sorted({p.parent.name for p in R.results_root(results_dir).glob(f"{experiment}/*/trained-seeds*.pt")})
    return names + [n for n in stored if n not in names]


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog=PROG, description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--preset", default=None, help="the finished configuration, e.g. omniglot-5shot-5way")
    parser.add_argument("--checkpoint", default=None, help="a trained-state file or campaign checkpoint to read "
                                                           "instead (its configuration is its own)")
    parser.add_argument("--from-commit", default=None, metavar="COMMIT",
                        help="read --checkpoint PATH as it was at this git commit (a checkpoint in the history)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--tasks", type=int, default=None,
                        help="the final evaluation's first TASKS tasks, at most its eval_tasks (10,000 under the "
                             "paper's protocol; default: 500; with --record 2,000 per seed)")
    parser.add_argument("--eval-iters", type=int, default=None, help="default: the run's")
    parser.add_argument("--eval-batch", type=int, default=None, help="default: the run's")
    parser.add_argument("--lr", type=float, default=None, help="the inner Adam's step size (default: the run's)")
    parser.add_argument("--record", action="store_true",
                        help="evaluate --seeds with every batch of --eval-batches on the same tasks and write one "
                             "results JSON, <results>/<experiment>/<name>/eval-batch-check-<outer iteration>.json")
    parser.add_argument("--seeds", type=int, nargs="+", default=list(DEFAULT_SEEDS),
                        help="with --record (default: 0 1 2)")
    parser.add_argument("--eval-batches", type=int, nargs="+", default=list(DEFAULT_BATCHES),
                        help="with --record (default: 5 25)")
    parser.add_argument("--results-dir", default=None, help="with --record (default: results/ or $REPTILE_RESULTS)")
    parser.add_argument("--threads", type=int, default=None,
                        help="CPU threads for torch (default: torch's; 1 is fastest on a CPU other work shares)")
    parser.add_argument("--experiment", default="fewshot")
    parser.add_argument("--device", default="auto")
    parser.add_argument("--data-root", default=None, help="data root (default: $REPTILE_DATA)")
    a = parser.parse_args(argv)
    # every value is checked before any data is loaded (reptile.validate); the state file is read to check --tasks
    # and the seeds against its configuration
    if (a.preset is None) == (a.checkpoint is None):
        fail(parser, "give --preset (a finished run's stored state) or --checkpoint FILE, one of them")
    if a.from_commit is not None and a.checkpoint is None:
        fail(parser, "--from-commit reads --checkpoint PATH from that commit: give --checkpoint")
    if a.experiment not in experiments():
        fail(parser, f"--experiment {a.experiment!r}: unknown experiment; allowed: {', '.join(experiments())}")
    if a.preset is not None:
        check_preset(parser, a.preset, a.experiment)
    if not 0 <= a.seed:
        fail(parser, f"--seed {a.seed}: allowed: an integer >= 0, a seed the state holds")
    if a.tasks is not None and a.tasks < 1:
        fail(parser, f"--tasks {a.tasks}: allowed: an integer from 1 to the final evaluation's tasks (10,000 under "
                     f"the paper's protocol)")
    for flag, value in (("--eval-iters", a.eval_iters), ("--eval-batch", a.eval_batch)):
        if value is not None and value < 1:
            fail(parser, f"{flag} {value}: allowed: an integer >= 1 (default: the run's)")
    if a.lr is not None and not is_positive(a.lr):
        fail(parser, f"--lr {a.lr:g}: allowed: a finite number > 0 (default: the run's)")
    check_threads_argument(parser, a.threads)
    check_device_argument(parser, a.device)
    if a.record:
        if a.eval_batch is not None or a.eval_iters is not None or a.lr is not None:
            fail(parser, "--record evaluates with --eval-batches and the run's eval_iters and lr; drop --eval-batch, "
                         "--eval-iters and --lr")
        check_seeds_argument(parser, a.seeds)
    if a.threads is not None:
        torch.set_num_threads(a.threads)
    if a.record:
        _record_cli(a, parser)
        return
    from ...stats import format_accuracy, mean_ci95

    try:
        with _checkpoint_file(a) as (path, _):
            t = state.load(a.preset, a.seed, a.experiment, path=path)
            tasks = min(500, t.config.eval_tasks) if a.tasks is None else a.tasks
            state.check_tasks(tasks, t.config, "--tasks")
            accs = state.evaluate(a.preset, a.seed, tasks, experiment=a.experiment, device=a.device,
                            eval_iters=a.eval_iters, eval_batch=a.eval_batch, lr=a.lr, data_root=a.data_root,
                            path=path, progress=True)
    except (ValueError, FileNotFoundError) as e:
        fail(parser, e)
    for mode, values in accs.items():
        mean, ci = mean_ci95(values)
        print(f"{a.preset or a.checkpoint} seed {a.seed}, {len(values):,} tasks: {mode} "
              f"{format_accuracy(mean, ci, len(values))}")


def check_preset(parser, preset: str, experiment: str) -> None:
    """``--preset``: a configuration of ``experiment`` that keeps a trained state (:func:`known_names`), or stop
    with :func:`reptile.cli.fail` naming those allowed (and the experiment it belongs to, if another)."""
    from ...config import FEWSHOT_PRESETS, FIGURE3_PRESETS

    names = known_names(experiment)
    if preset in names:
        return
    presets = FIGURE3_PRESETS if experiment == "gradcomb" else FEWSHOT_PRESETS
    why = ("no trained state is kept for it (only the campaign's populations keep one)" if preset in presets else
           f"unknown preset of {experiment}")
    elsewhere = [e for e in experiments() if e != experiment and preset in known_names(e)]
    if elsewhere:
        why += f"; it is a preset of {elsewhere[0]}: add --experiment {elsewhere[0]}"
    fail(parser, f"--preset {preset!r}: {why}; allowed: {', '.join(names)}")


class _checkpoint_file:
    """``(path, source)`` of the command line's state: ``--checkpoint`` (from ``--from-commit``'s history, copied
    into a temporary folder for the duration), or ``--preset``'s trained-state file (path None: :func:`find`)."""

    def __init__(self, a):
        self.a, self.tmp = a, None

    def __enter__(self):
        import tempfile

        a = self.a
        if a.checkpoint is None:
            return None, None
        if a.from_commit is None:
            return a.checkpoint, None
        self.tmp = tempfile.TemporaryDirectory(prefix="reptile-checkpoint-")
        return from_git(a.from_commit, a.checkpoint, Path(self.tmp.name))

    def __exit__(self, *exc):
        if self.tmp is not None:
            self.tmp.cleanup()


def _record_cli(a, parser) -> None:
    try:
        with _checkpoint_file(a) as (path, source):
            if path is None:
                path = state.find(a.preset, a.seeds[0], a.experiment)
            cfg = state.load(None, a.seeds[0], path=path).config
            tasks = min(2000, cfg.eval_tasks) if a.tasks is None else a.tasks
            state.check_tasks(tasks, cfg, "--tasks")
            out = record_eval_batches(path, a.seeds, tasks, a.eval_batches, source=source, device=a.device,
                                      data_root=a.data_root, results_dir=a.results_dir)
    except (ValueError, FileNotFoundError) as e:
        fail(parser, e)
    r = read_check(out)
    print(f"wrote {out} ({r['wall_seconds']:.0f} s)")
    for b in r["eval_batches"]:
        for mode in ("transductive", "non_transductive"):
            accs = r["metrics"][str(b)][mode]["accuracy"]
            print(f"batch {b:>3}, {mode:<16}: " + "  ".join(f"seed {s} {100 * x:.2f}%" for s, x in
                                                           zip(r["seeds"], accs)))
