"""The documented seed runner: papermill executions of a chapter, one result file per seed."""

import json
import os
import sys
import subprocess
from pathlib import Path

import pytest

from reptile import runner
from reptile.runner import parse_value

ROOT = Path(__file__).resolve().parents[1]


def test_parse_value():
    assert parse_value("True") is True
    assert parse_value("3") == 3
    assert parse_value("{'outer_iters': 10}") == {"outer_iters": 10}
    assert parse_value("['reptile', 'joint']") == ["reptile", "joint"]
    assert parse_value("paper") == "paper"


def test_runner_executes_the_sine_chapter_once_per_seed(tmp_store):
    out = tmp_store / "runs"
    cmd = [sys.executable, "-m", "reptile.runner", "run", "book/sine.ipynb", "--seeds", "0", "1", "-p", "preset", "ci",
           "-p", "overrides", "{'outer_iters': 20, 'curve_every': 10}", "--out", str(out)]
    proc = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    files = sorted((tmp_store / "results" / "sine").glob("ci-custom-*/seed-*.json"))
    assert [json.loads(f.read_text())["seed"] for f in files] == [0, 1]
    assert sorted(p.name for p in (out / "sine").iterdir()) == ["ci-seed0.ipynb", "ci-seed1.ipynb"]
    executed = json.loads((out / "sine" / "ci-seed1.ipynb").read_text())
    text = "".join("".join(o.get("text", "")) for c in executed["cells"] for o in c.get("outputs", []))
    assert "2 seed(s) [0, 1]" in text, "the chapter aggregates every stored seed"


@pytest.mark.parametrize("args,message", [
    (["--seeds", "-1"], "seeds must be integers in 0..4294967295, got [-1]"),
    (["--seeds", "4294967296"], "seeds must be integers in 0..4294967295, got [4294967296]"),
    (["--seeds", "0", "-p", "seed", "3"], "give seeds with --seeds"),
    (["--seeds", "0", "--jobs", "0"], "--jobs must be >= 1"),
    (["--seeds", "0", "0"], "--seeds names [0] more than once; give each seed once"),
    (["--seeds", "0", "-p", "tyop", "3"],
     "unknown parameter 'tyop' for book/sine.ipynb; allowed: preset, recompute, overrides, methods, device"),
    (["--seeds", "0", "-p", "recompute", "yes"],
     "-p recompute 'yes': recompute is True or False; allowed: True, False, true, false"),
    (["--seeds", "0", "-p", "preset", "ci", "-p", "preset", "paper"], "-p preset is given more than once"),
])
def test_runner_rejects_bad_arguments(args, message):
    proc = subprocess.run([sys.executable, "-m", "reptile.runner", "run", "book/sine.ipynb", *args], cwd=ROOT,
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2 and message in proc.stderr and "Traceback" not in proc.stderr


@pytest.fixture
def executions(monkeypatch):
    """The runner's executions, recorded instead of run: (notebook, output, parameters)."""
    calls = []

    def fake(notebook, output, parameters, threads):
        calls.append((Path(notebook).name, Path(output).name, parameters))
        return output

    monkeypatch.setattr(runner, "_execute", fake)
    return calls


def test_runner_gives_a_seeds_notebook_all_seeds_in_one_execution(executions, tmp_path):
    """The few-shot chapter declares `seeds` (a list): --seeds 7 must run seed 7, not the default [0]."""
    runner.main(["run", "book/fewshot.ipynb", "--seeds", "7", "-p", "preset", "ci", "--out", str(tmp_path)])
    assert executions == [("fewshot.ipynb", "ci-seeds7.ipynb", {"preset": "ci", "seeds": [7]})]
    executions.clear()
    runner.main(["run", "book/fewshot.ipynb", "--seeds", "3", "1", "2", "-p", "preset", "ci", "--jobs", "2",
                 "--out", str(tmp_path)])
    assert executions == [("fewshot.ipynb", "ci-seeds3-1-2.ipynb", {"preset": "ci", "seeds": [3, 1, 2]})]


def test_runner_gives_a_seed_notebook_one_execution_per_seed(executions, tmp_path):
    runner.main(["run", "book/sine.ipynb", "--seeds", "4", "9", "-p", "preset", "ci", "-p", "recompute", "false",
                 "--out", str(tmp_path)])
    assert executions == [
        ("sine.ipynb", "ci-seed4.ipynb", {"preset": "ci", "recompute": False, "seed": 4}),
        ("sine.ipynb", "ci-seed9.ipynb", {"preset": "ci", "recompute": False, "seed": 9}),
    ]


@pytest.mark.parametrize("notebook,message", [
    ("book/fewshot.ipynb", "book/fewshot.ipynb trains only when given a preset"),
    ("book/status.ipynb", "book/status.ipynb declares neither 'seed' nor 'seeds' among its parameters"),
])
def test_runner_refuses_notebooks_it_cannot_run_for_seeds(executions, notebook, message, capsys):
    with pytest.raises(SystemExit) as stop:
        runner.main(["run", notebook, "--seeds", "0"])
    assert stop.value.code == 2 and message in capsys.readouterr().err
    assert executions == []


def test_the_chapters_declare_what_the_runner_injects():
    """Read from the real notebooks with papermill: the few-shot chapter takes `seeds`, the others `seed`."""
    declared = {ch: set(runner.declared_parameters(ROOT / "book" / f"{ch}.ipynb"))
                for ch in ("sine", "taylor", "manifolds", "fewshot")}
    assert "seeds" in declared["fewshot"] and "seed" not in declared["fewshot"]
    for ch in ("sine", "taylor", "manifolds"):
        assert "seed" in declared[ch] and "seeds" not in declared[ch]


def test_runner_gives_each_execution_its_share_of_the_cores(monkeypatch, tmp_path):
    """One execution takes every core; its kernel inherits the count (OMP_NUM_THREADS, REPTILE_THREADS)."""
    import papermill

    seen = []
    monkeypatch.setattr("reptile.threads.cores", lambda: 6)
    monkeypatch.setattr(papermill, "execute_notebook", lambda *a, **k: seen.append(
        (os.environ["OMP_NUM_THREADS"], os.environ["REPTILE_THREADS"])))
    monkeypatch.setenv("OMP_NUM_THREADS", "99")
    monkeypatch.setenv("REPTILE_THREADS", "99")
    runner.run(Path("book/fewshot.ipynb"), [0, 1], {"preset": "ci"}, 1, tmp_path)
    assert seen == [("6", "6")]
    from reptile.threads import share

    assert [share(j) for j in (1, 2, 3, 6, 7)] == [6, 3, 2, 1, 1]
