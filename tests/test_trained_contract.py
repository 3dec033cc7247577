"""``python -m reptile.campaign.trained``'s input contract: bad input stops with one line naming the value and what is
allowed, exit code 2, before any data is loaded; a damaged trained state says what it is and how to get it back; a
long evaluation shows its progress."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import pytest

from reptile.campaign import trained
from reptile.config import FEWSHOT_PRESETS
from test_engine import images

ROOT = Path(__file__).resolve().parents[1]
NAME = "omniglot-5shot-5way"
PLANNED = ("omniglot-5shot-5way, omniglot-1shot-5way, omniglot-1shot-5way-transductive, omniglot-1shot-20way, "
           "omniglot-5shot-20way, omniglot-1shot-5way-transductive-eval25")


def store_state(results: Path, seeds=(0, 1)) -> Path:
    """A trained state of the paper's 5-shot 5-way configuration (an untrained population on synthetic images), where
    a finished campaign run keeps it."""
    from reptile.engine.population import Population

    cfg = FEWSHOT_PRESETS[NAME]
    pop = Population(cfg, list(seeds), [images(seed=s) for s in seeds])
    return trained.save("fewshot", NAME, cfg.to_dict(), pop.state_dict(), results)


def synthetic(cfg, seed, data_root=None, cache_dir=None):
    return SimpleNamespace(images=images(seed=seed)), SimpleNamespace(images=images(seed=10 + seed))


@pytest.fixture
def no_work(monkeypatch):
    """Loading data or evaluating fails the test: bad input must stop before."""
    import reptile.engine.evaluation as E
    import reptile.experiments.fewshot as FX

    def work(*a, **k):
        raise AssertionError("work started")

    monkeypatch.setattr(FX, "load_splits", work)
    monkeypatch.setattr(E, "evaluate", work)


def refused(argv, capsys) -> str:
    with pytest.raises(SystemExit) as stop:
        trained.main(argv)
    err = capsys.readouterr().err
    assert stop.value.code == 2, err
    assert err.startswith("python -m reptile.campaign.trained: error: ") and err.count("\n") == 1, err
    return err.removeprefix("python -m reptile.campaign.trained: error: ").rstrip("\n")


def test_tasks_beyond_the_final_evaluation_are_refused(tmp_store, no_work, capsys):
    path = store_state(tmp_store / "results")
    allowed = (f"--tasks 20000: allowed: an integer from 1 to 10,000, the tasks of the final evaluation of {NAME} "
               f"(per seed); more would evaluate tasks its record never saw")
    for argv in (["--preset", NAME, "--seed", "0", "--tasks", "20000"],
                 ["--checkpoint", str(path), "--seed", "1", "--tasks", "20000"],
                 ["--record", "--preset", NAME, "--seeds", "0", "1", "--tasks", "20000"]):
        assert refused(argv, capsys) == allowed
    assert refused(["--preset", NAME, "--tasks", "0"], capsys) == (
        "--tasks 0: allowed: an integer from 1 to the final evaluation's tasks (10,000 under the paper's protocol)")
    with pytest.raises(ValueError, match="n_tasks 10001: allowed: an integer from 1 to 10,000"):
        trained.evaluate(NAME, 0, 10_001)
    # and from a shell: one line, exit code 2, no traceback
    proc = subprocess.run([sys.executable, "-m", "reptile.campaign.trained", "--checkpoint", str(path), "--tasks", "20000"],
                          cwd=ROOT, capture_output=True, text=True, timeout=120,
                          env={**os.environ, "PYTHONPATH": str(ROOT / "src")})
    assert proc.returncode == 2 and proc.stderr == f"python -m reptile.campaign.trained: error: {allowed}\n"


def test_a_misspelt_preset_or_experiment_names_what_is_allowed(tmp_store, no_work, capsys):
    store_state(tmp_store / "results")
    assert refused(["--preset", "omniglot-5shot-5wya"], capsys) == (
        f"--preset 'omniglot-5shot-5wya': unknown preset of fewshot; allowed: {PLANNED}")
    assert refused(["--preset", "figure3-g1"], capsys) == (
        f"--preset 'figure3-g1': unknown preset of fewshot; it is a preset of gradcomb: add --experiment gradcomb; "
        f"allowed: {PLANNED}")
    assert refused(["--preset", "ci"], capsys) == (
        f"--preset 'ci': no trained state is kept for it (only the campaign's populations keep one); allowed: "
        f"{PLANNED}")
    assert refused(["--preset", NAME, "--experiment", "fewshott"], capsys) == (
        "--experiment 'fewshott': unknown experiment; allowed: gradcomb, fewshot")
    # a planned preset without a stored state says what is stored
    assert refused(["--preset", "omniglot-1shot-20way"], capsys).startswith(
        "no trained state of fewshot/omniglot-1shot-20way seed 0 under ")


@pytest.mark.parametrize("argv,message", [
    (["--seed", "-1"], "--seed -1: allowed: an integer >= 0, a seed the state holds"),
    (["--seed", "5"], "seed 5 under "),  # and what is stored: trained-seeds0-1.pt
    (["--eval-iters", "0"], "--eval-iters 0: allowed: an integer >= 1 (default: the run's)"),
    (["--eval-batch", "-2"], "--eval-batch -2: allowed: an integer >= 1 (default: the run's)"),
    (["--lr", "inf"], "--lr inf: allowed: a finite number > 0 (default: the run's)"),
    (["--lr", "nan"], "--lr nan: allowed: a finite number > 0 (default: the run's)"),
    (["--threads", "0"], "--threads 0: allowed: an integer from 1 to"),
    (["--device", "tpu"], "unknown device 'tpu'; allowed: 'auto', 'cpu', 'cuda', 'cuda:N'"),
    (["--record", "--seeds", "0", "0"], "--seeds names [0] more than once; give each seed once"),
])
def test_other_bad_values_are_refused_before_any_work(tmp_store, no_work, capsys, argv, message):
    path = store_state(tmp_store / "results")
    assert message in refused(["--preset", NAME, *argv], capsys)
    if argv[0] == "--seed" and argv[1] == "5":
        assert "stored: omniglot-5shot-5way/trained-seeds0-1.pt" in refused(["--preset", NAME, *argv], capsys)
        assert refused(["--checkpoint", str(path), *argv], capsys) == f"{path} holds seeds [0, 1], not 5"


def test_a_damaged_trained_state_says_what_it_is_and_how_to_get_it_back(tmp_path, monkeypatch, no_work, capsys):
    repo = tmp_path / "repo"
    monkeypatch.setenv("REPTILE_RESULTS", str(repo / "results"))
    path = store_state(repo / "results")
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    lost = ("It is the meta-trained network of a finished run, kept beside its records (seed-*.json, which stay "
            "valid): deleting it would lose that network and start nothing over")
    err = refused(["--preset", NAME], capsys)  # not in a repository
    assert err.startswith(f"cannot read the trained state {path} (")
    assert f"{lost}. Restore it from the copy it came from: the repository commits the trained states" in err
    assert "Delete it" not in err and "start that run over" not in err

    def git(*args):
        return subprocess.run(["git", "-C", str(repo), "-c", "user.name=test", "-c", "user.email=test@example.com",
                               *args], check=True, capture_output=True, text=True).stdout.strip()

    repo.mkdir(exist_ok=True)
    git("init", "-q")
    path.write_bytes(data)
    git("add", ".")
    git("commit", "-q", "-m", "a finished run")
    path.write_bytes(b"\x00garbage")
    commit = git("log", "-1", "--format=%h", "--", f"results/fewshot/{NAME}/trained-seeds0-1.pt")
    err = refused(["--preset", NAME, "--seed", "1"], capsys)
    assert err.startswith(f"cannot read the trained state {path} (")
    assert err.endswith(f"{lost}. It is committed to the repository: restore the version of commit {commit} with: "
                        f"git -C '{repo}' checkout {commit} -- 'results/fewshot/{NAME}/trained-seeds0-1.pt'")
    git("checkout", commit, "--", f"results/fewshot/{NAME}/trained-seeds0-1.pt")
    assert trained.load(NAME, 1).seed == 1  # the advice works


def test_an_evaluation_shows_its_progress(tmp_store, monkeypatch, capsys):
    import reptile.experiments.fewshot as FX

    monkeypatch.setattr(FX, "load_splits", synthetic)
    store_state(tmp_store / "results")
    trained.main(["--preset", NAME, "--seed", "1", "--tasks", "3", "--device", "cpu", "--eval-iters", "1"])
    captured = capsys.readouterr()
    assert f"{NAME} seed 1: evaluation: 100%" in captured.err and "3/3" in captured.err  # a live bar, on stderr
    assert f"{NAME} seed 1, 3 tasks: transductive" in captured.out


def test_a_few_tasks_print_an_interval_within_0_and_100_percent(tmp_store, monkeypatch, capsys):
    """Two tasks, one right and one wrong, give a 95% interval of ± 635 points (12.706 x 0.7071 / sqrt 2): printed clipped to [0, 100], saying
    so (it printed "50.00% ± 635.30")."""
    import reptile.experiments.fewshot as FX

    monkeypatch.setattr(FX, "load_splits", synthetic)
    monkeypatch.setattr(trained.state, "evaluate", lambda *a, **k: {"transductive": [0.0, 1.0], "non_transductive": [1.0, 0.0]})
    store_state(tmp_store / "results")
    trained.main(["--preset", NAME, "--seed", "1", "--tasks", "2", "--device", "cpu"])
    out = capsys.readouterr().out
    assert out.count("50.00%, 95% interval [0.00, 100.00]% (clipped to [0, 100]: ± 635.30 over 2 tasks") == 2, out
