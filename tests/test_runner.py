"""The documented seed runner: papermill executions of a chapter, one result file per seed."""

import json
import sys
import subprocess
from pathlib import Path

import pytest

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
    (["--seeds", "-1"], "seeds must be integers >= 0"),
    (["--seeds", "0", "-p", "seed", "3"], "give seeds with --seeds"),
    (["--seeds", "0", "--jobs", "0"], "--jobs must be >= 1"),
])
def test_runner_rejects_bad_arguments(args, message):
    proc = subprocess.run([sys.executable, "-m", "reptile.runner", "run", "book/sine.ipynb", *args], cwd=ROOT,
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode != 0 and message in proc.stderr
