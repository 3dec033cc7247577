"""One input contract for every command (book/contract.md): a bad value stops the command before any work with one
line, ``<prog>: error: <the value and what is allowed>``, exit code 2 and no traceback.

``test_every_command_refuses_each_kind_of_bad_value`` runs the real entry points (``python -m reptile.<module>``, one
interpreter per command) with one bad value of each kind (a number out of range, infinity, NaN, a path, a name) per
command, all of them in a module-scoped fixture; the other tests pin the cases of the issue that asked for the
contract, each one failing if its fix is reverted.
"""

import json
import os
import subprocess
import sys
import warnings
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
import torch

from reptile import bench, runner, stats
from reptile.bench import cli as bench_cli
from reptile.experiments import fewshot as FS
from reptile.config import FEWSHOT_PRESETS, resolve
from reptile.engine import distributed, fused

ROOT = Path(__file__).resolve().parents[1]
DATA = os.environ.get("REPTILE_DATA", "/work/shared/data")
BAD_PATH = "/nonexistent/reptile-contract"
RESULTS_FILE = "<a file>"  # REPTILE_RESULTS pointing below a regular file: an unwritable results folder

# command -> kind -> (arguments, a fragment of the message the user sees); the campaign and trained commands only
# where they already hold to the contract
CASES = {
    "bench": {
        "number": (["--population", "0"], "--population 0: allowed: population sizes >= 1"),
        "infinity": (["--seconds", "inf"], "--seconds inf: allowed: a finite number of seconds per measurement"),
        "nan": (["--seconds", "nan"], "--seconds nan: allowed: a finite number of seconds per measurement"),
        "path": (["--tf", "--authors-code", BAD_PATH],
                 f"--authors-code {BAD_PATH}: not a checkout of openai/supervised-reptile"),
        "name": (["--device", "tpu"], "unknown device 'tpu'; allowed: 'auto', 'cpu', 'cuda', 'cuda:N'"),
    },
    "experiments.sine": {
        "number": (["--preset", "ci", "--set", "outer_iters=-1"], "outer_iters must be an integer >= 1, got -1"),
        "infinity": (["--preset", "ci", "--set", "eval_lr=inf"], "eval_lr must be a finite number > 0, got inf"),
        "nan": (["--preset", "ci", "--set", "reptile.inner_lr=nan"], "inner_lr must be a finite number > 0, got nan"),
        "path": (["--preset", "ci"], "cannot write the results folder"),
        "name": (["--preset", "nope"], "unknown preset 'nope'; allowed: paper, paper-relu, reduced-3k, ci"),
    },
    "experiments.taylor": {
        "number": (["--preset", "ci", "--set", "n_alphas=2"], "n_alphas must be >= 3 (a slope needs points), got 2"),
        "infinity": (["--preset", "ci", "--set", "alpha_max=inf"], "alpha_max must be a number in (0, 1], got inf"),
        "nan": (["--preset", "ci", "--set", "alpha_min=nan"], "alpha_min must be a number in (0, 1], got nan"),
        "path": (["--preset", "ci"], "cannot write the results folder"),
        "name": (["--preset", "nope"], "unknown preset 'nope'; allowed: default, ci"),
    },
    "experiments.manifolds": {
        "number": (["--preset", "ci", "--set", "inner_iters=0"], "inner_iters must be an integer >= 1, got 0"),
        "infinity": (["--preset", "ci", "--set", "outer_step=inf"], "outer_step must be a number > 0, got inf"),
        "nan": (["--preset", "ci", "--set", "inner_lr=nan"], "inner_lr must be a number > 0, got nan"),
        "path": (["--preset", "ci"], "cannot write the results folder"),
        "name": (["--preset", "ci", "--set", "nope=1"], "unknown parameter 'nope'; allowed: lines, lines_start"),
    },
    "experiments.fewshot": {
        "number": (["--preset", "ci", "--set", "eval_tasks=1e12"],
                   "eval_tasks=1000000000000 does not fit in this machine's memory"),
        "infinity": (["--preset", "ci", "--set", "meta.outer_step=inf"],
                     "outer_step must be a finite number > 0, got inf"),
        "nan": (["--preset", "ci", "--set", "meta.inner_lr=nan"], "inner_lr must be a finite number > 0, got nan"),
        "path": (["--preset", "ci", "--data-root", BAD_PATH], f"--data-root {BAD_PATH}: not a folder"),
        "name": (["--preset", "ci", "--device", "tpu"], "unknown device 'tpu'"),
    },
    "experiments.gradcomb": {
        "number": (["--seeds", "-1"], "--seeds -1: seeds must be integers in 0..4294967295"),
        "infinity": (["--set", "outer_step=inf"], "outer_step must be a finite number > 0, got inf"),
        "nan": (["--set", "inner_lr=nan"], "inner_lr must be a finite number > 0, got nan"),
        "path": (["--data-root", BAD_PATH], f"--data-root {BAD_PATH}: not a folder"),
        "name": (["--curves", "g9"], "unknown or empty curves ['g9']; allowed: a non-empty list of g1"),
    },
    "runner": {
        "number": (["run", "book/sine.ipynb", "--seeds", "0", "--jobs", "0"], "--jobs must be >= 1, got 0"),
        "infinity": (["run", "book/sine.ipynb", "--seeds", "0", "-p", "overrides", "{'eval_lr': 'inf'}"],
                     "book/sine.ipynb: eval_lr must be a finite number > 0, got inf"),
        "nan": (["run", "book/taylor.ipynb", "--seeds", "0", "-p", "overrides", "{'alpha_min': 'nan'}"],
                "book/taylor.ipynb: alpha_min must be a number in (0, 1], got nan"),
        "path": (["refresh", "book/nope.ipynb"], "notebook book/nope.ipynb not found"),
        "name": (["run", "book/sine.ipynb", "--seeds", "0", "-p", "preset", "nope"],
                 "book/sine.ipynb: unknown preset 'nope'; allowed: paper, paper-relu, reduced-3k, ci"),
    },
    "maml.experiment": {
        "number": (["--preset", "ci", "--set", "meta_batch=0"], "meta_batch must be an integer >= 1, got 0"),
        "infinity": (["--preset", "ci", "--set", "inner_step=inf"], "inner_step must be a finite number > 0, got inf"),
        "nan": (["--preset", "ci", "--set", "outer_lr=nan"], "outer_lr must be a finite number > 0, got nan"),
        "path": (["--preset", "ci", "--data-root", BAD_PATH], f"--data-root {BAD_PATH}: not a folder"),
        "name": (["--preset", "nope"], "unknown preset 'nope'; allowed: finn-maml-omniglot-1shot-5way"),
    },
    "maml.probe": {
        "number": (["--preset", "reduced-maml-omniglot-1shot-5way", "--steps", "0"],
                   "steps 0: allowed: an integer from 1 to 100"),
        "infinity": (["--preset", "reduced-maml-omniglot-1shot-5way", "--step-sizes", "inf"],
                     "step sizes [inf]: allowed: one or more finite numbers > 0"),
        "nan": (["--preset", "reduced-maml-omniglot-1shot-5way", "--step-sizes", "nan"],
                "step sizes [nan]: allowed: one or more finite numbers > 0"),
        "path": (["--preset", "reduced-maml-omniglot-1shot-5way"],  # its checkpoints folder holds no trained state
                 "no trained state of preset reduced-maml-omniglot-1shot-5way, seed 0, at "),
        "name": (["--preset", "nope"], "unknown preset 'nope'; allowed: finn-maml-omniglot-1shot-5way"),
    },
    # another module's commands, whose wording is its own: the message need only name the value
    "campaign": {
        "number": (["--minutes", "-1"], "-1"),
        "nan": (["--minutes", "nan"], "nan"),
        "name": (["--minutes", "1", "--only", "nope"], "nope"),
    },
    "campaign.trained": {
        "nan": (["--preset", "omniglot-5shot-5way", "--seed", "0", "--lr", "nan"], "nan"),
        "path": (["--checkpoint", BAD_PATH + ".pt", "--seed", "0"], BAD_PATH + ".pt"),
    },
}
PARAMS = [(command, kind) for command, kinds in CASES.items() for kind in kinds]
# the path case of the experiments: their results folder cannot be written ($REPTILE_RESULTS below a file)
UNWRITABLE_RESULTS = {("experiments.sine", "path"), ("experiments.taylor", "path"), ("experiments.manifolds", "path")}


# One interpreter per command runs its cases one after another, each exactly as `python -m reptile.<command> ARGS`
# runs it (runpy, as __main__, with its own sys.argv and environment), so that the interpreter's start (importing
# torch: most of a case's seconds) is paid once per command, not once per case.
DRIVER = r"""
import io, json, os, runpy, sys, traceback
command, cases = json.loads(sys.argv[1])
out = {}
for kind, (args, env) in cases.items():
    os.environ.update(env)
    sys.argv = [f"python -m reptile.{command}", *args]
    err, real = io.StringIO(), sys.stderr
    sys.stderr = err
    try:
        runpy.run_module(f"reptile.{command}", run_name="__main__", alter_sys=True)
        code = 0
    except SystemExit as e:
        code = e.code if isinstance(e.code, int) else (0 if e.code is None else 1)
        if isinstance(e.code, str):
            err.write(e.code + "\n")
    except BaseException:
        code = 1
        err.write(traceback.format_exc())
    finally:
        sys.stderr = real
    out[kind] = [code, err.getvalue()]
print(json.dumps(out))
"""


@pytest.fixture(scope="module")
def outcomes(tmp_path_factory):
    """(command, kind) -> (exit code, stderr, whether anything was written to the case's scratch folders)."""
    root = tmp_path_factory.mktemp("contract")
    (root / "a-file").write_text("")

    def scratch(command, kind):
        return root / f"{command}-{kind}"

    def one(command):
        cases = {}
        for kind, (args, _) in CASES[command].items():
            folder = scratch(command, kind)
            results = root / "a-file" / "results" if (command, kind) in UNWRITABLE_RESULTS else folder / "results"
            cases[kind] = (args, {"REPTILE_RESULTS": str(results), "REPTILE_CHECKPOINTS": str(folder / "checkpoints"),
                                  "REPTILE_CACHE": str(folder / "cache")})
        env = {**os.environ, "REPTILE_DATA": DATA, "OMP_NUM_THREADS": "1"}
        env.pop("WORLD_SIZE", None)
        done = subprocess.run([sys.executable, "-c", DRIVER, json.dumps([command, cases])], cwd=ROOT, env=env,
                              capture_output=True, text=True, timeout=300)
        assert done.returncode == 0, done.stderr[-3000:]
        got = json.loads(done.stdout.strip().splitlines()[-1])
        out = {}
        for kind, (code, err) in got.items():
            folder = scratch(command, kind)
            wrote = [p for p in (folder / "results", folder / "checkpoints") if p.exists() and any(p.rglob("*"))]
            out[(command, kind)] = (code, err, wrote)
        return out

    with ThreadPoolExecutor(max_workers=3) as pool:
        return {k: v for part in pool.map(one, CASES) for k, v in part.items()}


@pytest.mark.parametrize("command,kind", PARAMS)
def test_every_command_refuses_each_kind_of_bad_value(outcomes, command, kind):
    code, err, wrote = outcomes[(command, kind)]
    _, message = CASES[command][kind]
    assert "Traceback" not in err, err[-3000:]
    assert code == 2, err[-3000:]
    last = err.strip().splitlines()[-1]
    assert "error: " in last and message in last, err[-3000:]
    assert not wrote, f"{command} wrote {wrote} before refusing its input"


# ------------------------------------------------------------------------------------ 1. silent, now said


def test_sine_taylor_and_manifolds_have_the_few_shot_command_line(tmp_store, capsys):
    """They exited 0 having done nothing: now `--preset ci --seeds 0` computes and stores the seed and says so."""
    from reptile.experiments import manifolds as manifolds_experiment
    from reptile.experiments import sine as sine_experiment
    from reptile.experiments import taylor as taylor_experiment

    manifolds_experiment.main(["--preset", "ci", "--seeds", "0", "--set", "outer_iters=50", "--set", "k_values=[1]"])
    out = capsys.readouterr().out
    assert "manifolds/ci-custom-" in out and "seed 0: lines (3 tasks in R^2" in out
    taylor_experiment.main(["--preset", "ci", "--seeds", "1", "--set", "mc_samples=20", "--set", "k_samples=20",
                            "--set", "se_groups=2", "--set", "n_alphas=3"])
    out = capsys.readouterr().out
    assert "seed 1: slopes of |exact - leading order| against alpha (2 expected)" in out
    sine_experiment.main(["--preset", "ci", "--seeds", "2", "--methods", "joint", "--set", "outer_iters=2",
                          "--set", "curve_every=1", "--set", "eval_tasks=4", "--set", "curve_tasks=2", "--set",
                          "eval_iters=2", "--set", "figure_tasks=1"])
    out = capsys.readouterr().out
    assert "seed 2 joint: test MSE" in out and "after 2 steps" in out
    stored = sorted(p.relative_to(tmp_store / "results").parts[0] for p in (tmp_store / "results").rglob("seed-*.json"))
    assert stored == ["manifolds", "sine", "taylor"]


def test_an_accuracy_interval_stays_within_0_and_100_percent():
    """Two tasks at 20% and 80%: Student's t gave '50.00% ± 381.18'."""
    mean, ci = stats.mean_ci95([0.2, 0.8])
    assert round(100 * ci, 2) == 381.18  # the record keeps the t interval's half-width (the verdicts use it)
    assert stats.bounded_interval(mean, ci) == (0.0, 1.0, True)
    assert stats.format_accuracy(mean, ci, 2) == ("50.00%, 95% interval [0.00, 100.00]% (clipped to [0, 100]: "
                                                  "± 381.18 over 2 tasks; more tasks narrow it)")
    assert stats.format_accuracy(0.974, 0.0031, 10_000) == "97.40% ± 0.31"
    assert stats.format_accuracy(1.0, float("nan"), 1) == ("100.00% (over 1 task: no interval; 2 tasks or more "
                                                           "give one)")
    lo, hi, clipped = stats.bounded_interval(0.97, 0.05)
    assert (lo, hi, clipped) == (pytest.approx(0.92), 1.0, True)


def test_the_few_shot_command_prints_the_clipped_interval(monkeypatch, capsys):
    mean, ci = stats.mean_ci95([0.2, 0.8])
    record = {"name": "ci-custom-x", "seed": 0,
              "eval": {"non_transductive": {"accuracy": mean, "ci95": ci, "tasks": 2}}}
    monkeypatch.setattr(FS, "load_or_run", lambda *a, **k: [record])
    FS.main(["--preset", "ci", "--set", "eval_tasks=2"])
    out = capsys.readouterr().out
    assert out.strip() == ("ci-custom-x seed 0: non_transductive 50.00%, 95% interval [0.00, 100.00]% (clipped to "
                           "[0, 100]: ± 381.18 over 2 tasks; more tasks narrow it)")


# ------------------------------------------------------------------------------------ 2. checked before the work


@pytest.mark.parametrize("args,message", [
    (["--seconds", "nan"], "--seconds nan: allowed: a finite number of seconds per measurement in (0, 600]"),
    (["--seconds", "inf"], "--seconds inf: allowed"),
    (["--seconds", "1e9"], "--seconds 1000000000.0: allowed"),
    (["--device", "tpu"], "unknown device 'tpu'; allowed: 'auto', 'cpu', 'cuda', 'cuda:N'"),
    (["--tf", "--authors-code", BAD_PATH], f"--authors-code {BAD_PATH}: not a checkout of openai/supervised-reptile"),
    (["--authors-code", BAD_PATH], "--authors-code is used only with --tf"),
    (["--population", "100000000"], "--population=100000000 does not fit in this machine's memory"),
    (["--population-run", BAD_PATH], f"--population-run {BAD_PATH}: not a folder"),
    (["--versus", "HEAD", "--maml"], "--versus and --maml: each replaces the report with a measurement of its own; "
                                     "allowed: one of --population-run, --profile, --versus and --maml at a time"),
])
def test_bench_checks_every_argument_before_timing(monkeypatch, capsys, tmp_store, args, message):
    """--seconds nan divided by zero, inf never finished, a missing --authors-code came after 34 s of timing."""
    def timed(*a, **k):
        raise AssertionError("the benchmark started timing")

    monkeypatch.setattr(bench, "run", timed)
    monkeypatch.setattr(bench, "kernel_profile", timed)
    with pytest.raises(SystemExit) as stop:
        bench_cli.main(args)
    err = capsys.readouterr().err
    assert stop.value.code == 2 and err.startswith("python -m reptile.bench: error: ") and message in err


def test_bench_refuses_a_device_it_does_not_have(monkeypatch, capsys):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    with pytest.raises(SystemExit) as stop:
        bench_cli.main(["--device", "cuda"])
    assert stop.value.code == 2
    assert capsys.readouterr().err == ("python -m reptile.bench: error: device 'cuda' asked for, but CUDA is not "
                                       "available here; use 'auto' or 'cpu'\n")


def test_runner_refresh_names_a_missing_notebook(capsys):
    with pytest.raises(SystemExit) as stop:
        runner.main(["refresh", "book/sine.ipynb", "book/nope.ipynb"])  # the first is not run either
    assert stop.value.code == 2
    assert capsys.readouterr().err == ("python -m reptile.runner: error: notebook book/nope.ipynb not found; allowed: "
                                       "existing .ipynb files, e.g. book/sine.ipynb\n")


def test_few_shot_sizes_are_bounded_by_memory_before_training():
    """--set eval_tasks=1e12 trained, then was killed for memory at the final evaluation, leaving a checkpoint."""
    cfg = resolve(FEWSHOT_PRESETS, "ci", {"eval_tasks": 10**12})
    with pytest.raises(ValueError, match=r"eval_tasks=1000000000000 does not fit in this machine's memory: the final "
                                         r"evaluation's per-task records \(3 seeds\) take about 1.2 kB each, 1.2 PB "
                                         r"in all, and 16.0 GB is available; allowed here: eval_tasks <= 10,666,666 "
                                         r"\(the paper's protocol: 10,000\). Nothing was run"):
        FS.check_memory(cfg, 3, "cpu", memory=16 * 10**9)
    for key, value in (("eval_batch", 10**9), ("meta.meta_batch", 10**9), ("eval_iters", 10**12),
                       ("meta.inner_iters", 10**12), ("curve_tasks", 10**12)):
        name = key.split(".")[-1]
        with pytest.raises(ValueError, match=rf"^{name}={value} does not fit"):
            FS.check_memory(resolve(FEWSHOT_PRESETS, "ci", {key: value}), 3, "cpu", memory=16 * 10**9)
    for preset in FEWSHOT_PRESETS.values():  # every preset fits a 16 GB machine with 3 seeds
        FS.check_memory(preset, 3, "cpu", memory=16 * 10**9)


def test_a_too_large_evaluation_is_refused_before_any_checkpoint(tmp_store, monkeypatch):
    def loaded(*a, **k):
        raise AssertionError("data were loaded")

    monkeypatch.setattr(FS, "load_splits", loaded)
    with pytest.raises(ValueError, match="eval_tasks=1000000000000 does not fit"):
        FS.load_or_run("ci", [0], overrides={"eval_tasks": 10**12}, device="cpu")
    assert not (tmp_store / "checkpoints").exists() and not (tmp_store / "results").exists()


# ------------------------------------------------------------------------------------------------ 3. smaller


def test_split_text_says_which_rank_trains_which_seeds():
    assert distributed.split_text([0, 1, 2], 2) == "rank 0: seeds 0 2; rank 1: seed 1"
    assert distributed.split_text([5], 2) == "rank 0: seed 5; rank 1: none"


def test_an_unusable_cache_makes_the_fused_kernels_warn_once(monkeypatch, tmp_path):
    """The kernels fell back to PyTorch without a word when they could not be built in the cache."""
    (tmp_path / "file").write_text("")
    monkeypatch.setattr(fused, "_lib", None)
    monkeypatch.setattr(fused, "_tried", False)
    monkeypatch.delenv("REPTILE_FUSED", raising=False)
    monkeypatch.setenv("REPTILE_CACHE", str(tmp_path / "file" / "cache"))
    with pytest.warns(RuntimeWarning, match=r"the fused CPU kernels are not available \(.*Not a directory.*\); the "
                                            r"population engine uses its PyTorch path instead"):
        assert fused.library() is None
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert fused.library() is None and not fused.usable(torch.zeros(1))  # once per process


def test_a_resumed_few_shot_population_says_so(tmp_store, monkeypatch, capsys):
    from test_distributed import synthetic_splits

    from reptile.engine import trainer
    from reptile.engine.population import Population

    monkeypatch.setattr(FS, "load_splits", synthetic_splits)
    cfg = resolve(FEWSHOT_PRESETS, "omniglot-1shot-5way", {
        "meta.outer_iters": 3, "meta.meta_batch": 1, "meta.inner_iters": 1, "eval_iters": 1, "eval_tasks": 2,
        "curve_every": 10, "curve_tasks": 1, "checkpoint_every": 1})
    seeds = [0]
    ckpt = FS.population_checkpoint(cfg, seeds)
    pop = Population(cfg, seeds, [synthetic_splits(cfg, 0)[0].images])  # an interrupted run: 1 of 3 iterations
    trainer.train(pop, 3, checkpoint=ckpt, stop_after=0, progress=False,
                  run_config={"experiment": FS.EXPERIMENT, "seeds": seeds, "config": cfg.to_dict()})
    assert ckpt.exists()
    FS.run_population(cfg, seeds, "cpu", progress=True)
    err = capsys.readouterr().err
    assert f"resuming from the checkpoint {ckpt} at outer iteration 1 of 3" in err
    assert not ckpt.exists()


def test_runner_checks_the_chapters_values_before_any_kernel_starts(monkeypatch, capsys):
    """A bad preset or override surfaced as a papermill traceback 8 s in; now before any execution."""
    started = []
    monkeypatch.setattr(runner, "_execute", lambda *a: started.append(a))
    for args, message in [
        (["book/sine.ipynb", "--seeds", "0", "-p", "preset", "nope"], "unknown preset 'nope'"),
        (["book/sine.ipynb", "--seeds", "0", "-p", "methods", "['maml', 'bogus']"], "unknown or empty methods"),
        (["book/taylor.ipynb", "--seeds", "0", "-p", "device", "tpu"], "unknown device 'tpu'"),
        (["book/manifolds.ipynb", "--seeds", "0", "-p", "overrides", "{'inner_iters': 0}"],
         "inner_iters must be an integer >= 1, got 0"),
        (["book/fewshot.ipynb", "--seeds", "0", "-p", "preset", "ci", "-p", "overrides", "{'eval_tasks': 1e12}"],
         "eval_tasks=1000000000000 does not fit"),
        (["book/fewshot.ipynb", "--seeds", "0", "-p", "preset", "ci", "-p", "data_root", BAD_PATH],
         f"data_root '{BAD_PATH}' is not a folder"),
        (["book/gradient_combinations.ipynb", "--seeds", "0", "-p", "curves", "['g9']"], "unknown or empty curves"),
        (["book/gradient_combinations.ipynb", "--seeds", "0", "-p", "run_missing", "maybe"],
         "-p run_missing 'maybe': run_missing is True or False"),
    ]:
        with pytest.raises(SystemExit) as stop:
            runner.main(["run", *args])
        err = capsys.readouterr().err
        assert stop.value.code == 2 and err.startswith("python -m reptile.runner: error: ") and message in err, err
    assert started == []
