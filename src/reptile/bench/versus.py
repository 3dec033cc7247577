"""The engine at this checkout against the engine at another commit: outer iterations per second of the same
populations, and test tasks per second of their evaluation, timed in turns (theirs, ours, theirs, ours, ...) in one
run, so that both see the same machine load.

    python -m reptile.bench --versus 9371099            # the campaign's settings, 3 repetitions of 20 s each

The other commit is checked out into a temporary git worktree; each measurement is a fresh single-thread process
that imports the package from one tree or the other and, on synthetic Omniglot-shaped images, through the API both
commits share, either trains a population of 3 seeds (the campaign's) or evaluates it (the campaign's learning-curve
points and final evaluations: :func:`reptile.engine.evaluation.evaluate` with the preset's test-time settings and
its default chunks). The report (every repetition, the ratio of each adjacent pair, their median and range; training
under ``settings``, evaluation under ``evaluation``) goes to ``results/bench/versus/``.
"""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import torch

# run in a child process, in either tree: only what both commits have (Population, synthetic_images, the presets)
CHILD = r"""
import sys, time, torch
sys.path.insert(0, sys.argv[1])
torch.set_num_threads(1)
import reptile
assert reptile.__file__.startswith(sys.argv[1]), reptile.__file__
try:  # the package's layout since the commit that gave it subpackages; an earlier commit has reptile.bench_paths
    from reptile.bench.paths import synthetic_images
except ImportError:
    from reptile.bench_paths import synthetic_images
from reptile.config import FEWSHOT_PRESETS, FIGURE3_PRESETS
from reptile.engine.population import Population
cfg = {**FEWSHOT_PRESETS, **FIGURE3_PRESETS}[sys.argv[2]]
size, seconds, mode = int(sys.argv[3]), float(sys.argv[4]), sys.argv[5]
pop = Population(cfg, list(range(size)), [synthetic_images(seed=s) for s in range(size)], torch.device("cpu"))
if mode == "train":  # outer iterations per second
    def work():
        pop.meta_step()
        return 1
else:  # test tasks per second: TASKS tasks of each member per call, the preset's test-time settings
    from reptile.engine import evaluation as E
    from reptile.fewshot import TaskSampler
    samplers = [TaskSampler(synthetic_images(seed=100 + s)) for s in range(size)]
    m = cfg.meta
    def work():
        E.evaluate(pop.net, pop.phi, pop.inner, samplers, [torch.Generator().manual_seed(s) for s in range(size)],
                   cfg.n_way, cfg.shots, cfg.eval_iters, cfg.eval_batch, TASKS, m.inner_lr, m.inner_betas,
                   optimizer=m.inner_optimizer)
        return size * TASKS
for _ in range(2):
    work()
n, start = 0, time.perf_counter()
while time.perf_counter() - start < seconds:
    n += work()
print(n / (time.perf_counter() - start))
"""
TASKS = 6  # test tasks of each member per evaluation call
MODES = {"train": "outer it/s", "eval": "test tasks/s"}


def _rate(src: Path, preset: str, size: int, seconds: float, mode: str = "train") -> float:
    env = {**os.environ, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
    child = CHILD.replace("TASKS", str(TASKS))
    done = subprocess.run([sys.executable, "-c", child, str(src), preset, str(size), repr(seconds), mode],
                          capture_output=True, text=True, env=env, timeout=600 + 10 * seconds)
    if done.returncode != 0:
        raise RuntimeError(f"timing {preset} in {src} failed: {done.stderr.strip()[-800:]}")
    return float(done.stdout.strip().splitlines()[-1])


def summary(theirs: list[float], ours: list[float]) -> dict[str, Any]:
    """Rates measured in turns: each repetition's ratio ours / theirs, and their median, smallest and largest."""
    ratios = [b / a for a, b in zip(theirs, ours)]
    return {"theirs": theirs, "ours": ours, "ratios": ratios, "median": statistics.median(ratios),
            "min": min(ratios), "max": max(ratios)}


def versus(rev: str, presets: list[str], repetitions: int = 3, seconds: float = 20.0, size: int = 3,
           repo: Path | None = None, progress=print, evaluation: bool = True) -> dict[str, Any]:
    """Outer iterations per second of ``presets`` at commit ``rev`` and at this checkout, in turns; with
    ``evaluation``, also test tasks per second of their evaluation."""
    from .. import results as R
    from ..provenance import environment, git_commit, short_commit

    if not (isinstance(repetitions, int) and repetitions >= 1):
        raise ValueError(f"repetitions={repetitions!r}: allowed: an integer >= 1")
    if not (isinstance(size, int) and size >= 1):
        raise ValueError(f"size={size!r}: allowed: a population size >= 1")
    repo = repo or R.REPO_ROOT
    commit = subprocess.run(["git", "-C", str(repo), "rev-parse", "--verify", f"{rev}^{{commit}}"],
                            capture_output=True, text=True)
    if commit.returncode != 0:
        shallow = subprocess.run(["git", "-C", str(repo), "rev-parse", "--is-shallow-repository"],
                                 capture_output=True, text=True).stdout.strip() == "true"
        raise ValueError(f"--versus {rev}: not a commit of {repo} ({commit.stderr.strip()})" +
                         ("; this is a shallow clone (git clone --depth 1): `git fetch --unshallow` brings the "
                          "history" if shallow else ""))
    full = commit.stdout.strip()
    out: dict[str, Any] = {"versus": full, "this": short_commit(git_commit()), "population": size,
                           "seconds_per_measurement": seconds, "repetitions": repetitions, "settings": {},
                           "evaluation": {}, "eval_tasks_per_call": TASKS, "load_before": os.getloadavg()}
    with tempfile.TemporaryDirectory(prefix="reptile-versus-") as tmp:
        tree = Path(tmp) / "tree"
        subprocess.run(["git", "-C", str(repo), "worktree", "add", "--detach", str(tree), full], check=True,
                       capture_output=True)
        try:
            for preset in presets:
                for mode, key in (("train", "settings"), ("eval", "evaluation"))[: 2 if evaluation else 1]:
                    theirs, ours = [], []
                    for k in range(repetitions):
                        theirs.append(_rate(tree / "src", preset, size, seconds, mode))
                        ours.append(_rate(repo / "src", preset, size, seconds, mode))
                        progress(f"  {preset}: repetition {k + 1}: {full[:7]} {theirs[-1]:.3f}, this "
                                 f"{ours[-1]:.3f} {MODES[mode]}")
                    out[key][preset] = summary(theirs, ours)
        finally:
            subprocess.run(["git", "-C", str(repo), "worktree", "remove", "--force", str(tree)], capture_output=True)
    out["load_after"] = os.getloadavg()
    out["environment"] = environment(torch.device("cpu"))
    out["created"] = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    return out
