"""The campaign cannot lose compute: every fault that stopping its processes can cause, with real processes.

Each test runs ``python -m reptile.campaign``'s own ``main`` in a separate process (:data:`DRIVER`: the plan is one
tiny population on synthetic images, checkpointed every outer iteration, and a fault is injected where the test says)
or the module itself, against a scratch results folder, then checks that what is on disk is whole and that resuming
gives the numbers of an uninterrupted run: SIGKILL during a checkpoint write, SIGTERM during the final evaluation, a
full disk while writing a checkpoint or the trained state, a damaged checkpoint that is committed to git, and two
processes started on the same entry. The input contract of the command line (``--minutes inf``, a results folder
that does not exist, a resumed run that says so and warns of another thread count) is tested here too.
"""

from __future__ import annotations

import dataclasses
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from reptile import campaign
from reptile.engine import trainer
from test_campaign import records, splits, tiny_entry

ROOT = Path(__file__).resolve().parents[1]
TESTS = Path(__file__).resolve().parent
KEY = "gradcomb-tiny-seeds0-1"
BLOCK = 2  # final-evaluation tasks per block: 2 seeds x 6 tasks = 6 blocks

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="signals and flock as on Linux")


def entry() -> campaign.Entry:
    """The tiny population of test_campaign, checkpointed after every outer iteration (4 of them)."""
    e = tiny_entry()
    return dataclasses.replace(e, cfg=dataclasses.replace(e.config, checkpoint_every=1))


# The driver: `python -m reptile.campaign`'s main with the plan replaced by entry() and its data by synthetic images.
# Faults, from the JSON spec in argv[1]:
#   "write": [prefix, k, "hang" | "enospc"]: the k-th atomic write of a .pt file whose name starts with prefix writes
#            half its bytes, then hangs (after touching "ready") or raises OSError(ENOSPC), a full disk
#   "block": k: at the start of the final evaluation's k-th block, touch "ready", then wait for the file "release"
#            (if given) or sleep "sleep" seconds: the block is under way when the test acts
#   "wait_for": a file to wait for before the command starts
# Every .pt write and evaluation block is appended to "log".
DRIVER = r"""
import errno, io, json, os, sys, time
from pathlib import Path
spec = json.loads(sys.argv[1])
sys.path[:0] = [spec["tests"]]
from test_campaign import splits
from test_campaign_faults import entry
from reptile import campaign
from reptile import results as R
from reptile.engine import evaluation as E

log = Path(spec["log"])
def note(text):
    with open(log, "a") as f:
        f.write(text + "\n")

campaign.plan.PLAN = (entry(),)  # each module reads these where they are defined, when called
campaign.runs.EVAL_BLOCK = spec["block_size"]
advance = campaign.runs.advance
campaign.runs.advance = lambda e, *a, **k: advance(e, *a, **{**k, "splits": splits()})

real_write, counts = R.atomic_write, {}
def atomic_write(path, write):
    path = Path(path)
    if path.suffix != ".pt":
        return real_write(path, write)
    note(f"write {path.name}")
    prefix, k, action = spec.get("write") or ("", 0, "")
    if not path.name.startswith(prefix):
        return real_write(path, write)
    counts[prefix] = counts.get(prefix, 0) + 1
    if counts[prefix] != k:
        return real_write(path, write)
    buf = io.BytesIO()
    write(buf)
    data = buf.getvalue()
    def faulty(f):
        f.write(data[: len(data) // 2])
        f.flush()
        if action == "hang":
            Path(spec["ready"]).touch()
            time.sleep(120)
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
    return real_write(path, faulty)
R.atomic_write = atomic_write

real_evaluate, blocks = E.evaluate, [0]
def evaluate(net, phi, state, samplers, *a, **k):
    if len(samplers) == 1:  # a block of the final evaluation (one member); the learning curve evaluates both
        blocks[0] += 1
        note(f"block {blocks[0]}")
        if blocks[0] == spec.get("block"):
            Path(spec["ready"]).touch()
            release = spec.get("release")
            deadline = time.time() + 60
            while release and not Path(release).exists() and time.time() < deadline:
                time.sleep(0.05)
            time.sleep(spec.get("sleep", 0))
    return real_evaluate(net, phi, state, samplers, *a, **k)
E.evaluate = evaluate

deadline = time.time() + 60
while spec.get("wait_for") and not Path(spec["wait_for"]).exists() and time.time() < deadline:
    time.sleep(0.05)  # started beside another driver: claim only once that one holds the entry
campaign.main(["--minutes", "5", "--device", "cpu", "--threads", "1"])
"""


class Store:
    """A scratch results folder and the processes run against it."""

    def __init__(self, root: Path):
        self.root = root
        self.procs: list[subprocess.Popen] = []
        self.results = root / "results"
        self.results.mkdir(parents=True, exist_ok=True)
        self.env = {**os.environ, "REPTILE_RESULTS": str(self.results),
                    "REPTILE_CHECKPOINTS": str(root / "checkpoints"), "PYTHONPATH": str(ROOT / "src")}
        self.script = root / "driver.py"
        self.script.write_text(DRIVER)
        self.ready = root / "ready"
        self.release = root / "release"

    @property
    def checkpoint(self) -> Path:
        return self.results / "campaign" / f"{KEY}.pt"

    def start(self, log: str = "log", **spec) -> subprocess.Popen:
        spec = {"tests": str(TESTS), "log": str(self.root / log), "block_size": BLOCK, "ready": str(self.ready),
                **spec}
        proc = subprocess.Popen([sys.executable, str(self.script), json.dumps(spec)], cwd=ROOT, env=self.env,
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        self.procs.append(proc)
        return proc

    def stop_all(self) -> None:
        """Kill what a failed test left running."""
        for proc in self.procs:
            if proc.poll() is None:
                proc.kill()
                proc.communicate(timeout=30)

    def wait_ready(self, proc: subprocess.Popen, timeout: float = 120) -> None:
        deadline = time.monotonic() + timeout
        while not self.ready.exists():
            if proc.poll() is not None or time.monotonic() > deadline:
                out, err = proc.communicate(timeout=30) if proc.poll() is not None else ("", "")
                proc.kill()
                pytest.fail(f"the driver never reached its fault (exit {proc.returncode}):\n{err[-3000:]}")
            time.sleep(0.05)

    def log(self, name: str = "log") -> list[str]:
        path = self.root / name
        return path.read_text().splitlines() if path.exists() else []

    def temporary_files(self) -> list[Path]:
        return sorted(self.results.rglob(".*.tmp"))


@pytest.fixture
def store(tmp_path):
    s = Store(tmp_path)
    yield s
    s.stop_all()


def one_thread(f, *a, **k):
    """``f(*a, **k)`` with torch on one thread, as the driver runs (the numbers of a population depend on it)."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        return f(*a, **k)
    finally:
        torch.set_num_threads(before)


@pytest.fixture(scope="module")
def whole(tmp_path_factory):
    """The records of the tiny population advanced in one call, without faults."""
    root = tmp_path_factory.mktemp("whole")
    mp = pytest.MonkeyPatch()
    mp.setattr(campaign.runs, "EVAL_BLOCK", BLOCK)
    try:
        assert one_thread(campaign.advance, entry(), 1e9, "cpu", root, progress=False, splits=splits())
    finally:
        mp.undo()
    return records(root, entry())


def finish(store: Store, monkeypatch) -> None:
    """Resume the store's population in this process, to the end (its records)."""
    monkeypatch.setattr(campaign.runs, "EVAL_BLOCK", BLOCK)
    assert one_thread(campaign.advance, entry(), 1e9, "cpu", store.results, progress=False, splits=splits())


# ----------------------------------------------------------------------------------------- killed and stopped


def test_sigkill_during_a_checkpoint_write_leaves_the_previous_checkpoint_readable(store, whole, monkeypatch):
    proc = store.start(write=[KEY, 2, "hang"])  # the checkpoint after outer iteration 2, half written
    store.wait_ready(proc)
    proc.kill()
    proc.wait(30)
    state = trainer.load_checkpoint(store.checkpoint)  # the previous one, whole
    assert state["population"]["iteration"] == 1
    assert [p.name.startswith(f".{KEY}.pt.") for p in store.temporary_files()] == [True]  # the killed write's
    assert campaign.progress([entry()], store.results)[0]["outer iterations"] == "1 / 4"
    finish(store, monkeypatch)
    assert records(store.results, entry()) == whole
    assert store.temporary_files() == []  # removed by the next write of the same file


def test_sigterm_during_the_final_evaluation_resumes_at_the_block(store, whole, monkeypatch, capsys):
    from reptile.engine import evaluation as E

    proc = store.start(block=2, sleep=1.0)  # SIGTERM while the second block is being evaluated
    store.wait_ready(proc)
    proc.send_signal(signal.SIGTERM)
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 0, err[-3000:]
    assert "finished this call: none" in out
    state = trainer.load_checkpoint(store.checkpoint)
    done = [len(a["non_transductive"]) for a in state["evaluation"]["accuracies"]]
    assert done == [2 * BLOCK, 0]  # the block under way was finished and checkpointed, then the process stopped
    assert store.log().count("block 2") == 1 and "block 3" not in store.log()

    blocks = []
    real = E.evaluate
    monkeypatch.setattr(E, "evaluate", lambda net, phi, st, samplers, *a, **k: (
        blocks.append(a[5]) if len(samplers) == 1 else None, real(net, phi, st, samplers, *a, **k))[1])
    monkeypatch.setattr(campaign.runs, "EVAL_BLOCK", BLOCK)
    assert one_thread(campaign.advance, entry(), 1e9, "cpu", store.results, progress=True, splits=splits())
    assert sum(blocks) == 12 - 2 * BLOCK and len(blocks) == 4  # the blocks left, not the evaluation over again
    assert f"campaign: {KEY}: resuming its final evaluation at task 4 of 12 from {store.checkpoint}" in \
        capsys.readouterr().err
    assert records(store.results, entry()) == whole


# ------------------------------------------------------------------------------------------------ a full disk


@pytest.mark.parametrize("target,k", [(KEY, 2), ("trained-seeds", 1)], ids=["checkpoint", "trained-state"])
def test_a_full_disk_leaves_nothing_half_written_and_the_next_run_resumes(store, whole, monkeypatch, target, k):
    proc = store.start(write=[target, k, "enospc"])
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 1, err[-3000:]
    assert "Traceback" not in err
    path = store.checkpoint if target == KEY else store.results / "gradcomb" / "tiny" / "trained-seeds0-1.pt"
    assert err.strip().splitlines()[-1] == (
        f"python -m reptile.campaign: error: cannot write {path} (No space left on device): "
        + ("the previous version there is untouched" if target == KEY else "nothing was written there")
        + " and no part of this write was left behind. Free some space (or make the folder writable) and run the "
          "same command again: it resumes from the last checkpoint")
    assert store.temporary_files() == []
    state = trainer.load_checkpoint(store.checkpoint)
    if target == KEY:
        assert state["population"]["iteration"] == 1 and not path.with_name("tiny").exists()
    else:  # the evaluation was done; neither the trained state nor any record is there: the entry is not finished
        assert sum(len(a["non_transductive"]) for a in state["evaluation"]["accuracies"]) == 12
        assert not path.exists() and not list((store.results / "gradcomb").rglob("seed-*.json"))
        assert not campaign.finished(entry(), store.results)
    finish(store, monkeypatch)
    assert records(store.results, entry()) == whole
    assert (store.results / "gradcomb" / "tiny" / "trained-seeds0-1.pt").exists() and not store.checkpoint.exists()


# --------------------------------------------------------------------------------- a checkpoint damaged in git


def git(repo: Path, *args: str) -> str:
    return subprocess.run(["git", "-C", str(repo), "-c", "user.name=test", "-c", "user.email=test@example.com",
                           *args], check=True, capture_output=True, text=True).stdout.strip()


def test_a_damaged_committed_checkpoint_is_named_with_the_commit_to_restore_it_from(tmp_path):
    repo = tmp_path / "repo"
    results = repo / "results"
    path = results / "campaign" / "gradcomb-figure3-g1-seeds0-1-2.pt"  # the plan's first entry
    trainer.save_checkpoint(path, {"format": trainer.FORMAT, "population": {"iteration": 7}})
    git(repo.parent, "init", "-q", str(repo))
    git(repo, "add", ".")
    git(repo, "commit", "-q", "-m", "campaign advanced")
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 3])  # an interrupted copy
    commit = git(repo, "log", "-1", "--format=%h", "--", "results/campaign/gradcomb-figure3-g1-seeds0-1-2.pt")
    env = {**os.environ, "REPTILE_RESULTS": str(results), "REPTILE_DATA": str(tmp_path / "no-data"),
           "PYTHONPATH": str(ROOT / "src")}
    for args in (["--status"], ["--minutes", "1", "--only", "figure3-g1"]):
        proc = subprocess.run([sys.executable, "-m", "reptile.campaign", *args], cwd=ROOT, env=env,
                              capture_output=True, text=True, timeout=120)
        assert proc.returncode == 2 and "Traceback" not in proc.stderr, proc.stderr
        *before, line = proc.stderr.strip().splitlines()
        assert before == ([] if args == ["--status"] else ["campaign: gradcomb-figure3-g1-seeds0-1-2, 1 minutes left"])
        assert line.startswith(f"python -m reptile.campaign: error: cannot read the checkpoint {path} (")
        assert (f"It is committed to the repository: restore the version of commit {commit} with: git -C '{repo}' "
                f"checkout {commit} -- 'results/campaign/gradcomb-figure3-g1-seeds0-1-2.pt', then run again "
                f"(deleting it instead would start that run over from the beginning and lose the compute it "
                f"holds)") in line
        assert "Delete it" not in line and "DataNotFound" not in line  # found before any data was looked for
        assert path.read_bytes() == data[: len(data) // 3]  # left as it was
    git(repo, "checkout", commit, "--", "results/campaign/gradcomb-figure3-g1-seeds0-1-2.pt")  # the advice works
    assert trainer.load_checkpoint(path)["population"]["iteration"] == 7


# ------------------------------------------------------------------------------- two processes, one entry


def test_a_second_process_on_the_same_entry_passes_over_it_and_writes_nothing(store, whole):
    first = store.start(log="first", block=1, release=str(store.release))  # holds the entry, mid-evaluation
    second = store.start(log="second", wait_for=str(store.ready))  # starts its command once the first holds it
    store.wait_ready(first)
    out, err = second.communicate(timeout=120)
    assert second.returncode == 0, err[-3000:]
    assert f"campaign: {KEY} is being advanced by another process (pid {first.pid}); passing over it" in err
    assert "finished this call: none" in out
    assert store.log("second") == []  # no evaluation, no write: nothing done twice, no interleaved writes
    store.release.touch()
    out, err = first.communicate(timeout=120)
    assert first.returncode == 0, err[-3000:]
    assert f"finished this call: {KEY}" in out
    assert records(store.results, entry()) == whole
    assert store.log("first").count("block 1") == 1  # each block evaluated once


# ------------------------------------------------------------------------------------ the command line's input


def run_cli(*args: str, results: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "REPTILE_RESULTS": str(results), "PYTHONPATH": str(ROOT / "src")}
    return subprocess.run([sys.executable, "-m", "reptile.campaign", *args], cwd=ROOT, env=env, capture_output=True,
                          text=True, timeout=120)


def test_minutes_must_be_finite_and_the_results_folder_must_exist(tmp_path, capsys, monkeypatch):
    proc = run_cli("--minutes", "inf", results=tmp_path)  # a real process: nothing starts, no traceback
    assert proc.returncode == 2 and proc.stdout == ""
    assert proc.stderr == ("python -m reptile.campaign: error: --minutes inf: allowed: a finite number of minutes > 0 "
                           "(the wall time this call advances the plan for; run it again to go on)\n")
    missing = tmp_path / "resluts"
    monkeypatch.setenv("REPTILE_RESULTS", str(missing))
    for argv, then in ((["--status"], "every planned run would show 'not started'"),
                       (["--minutes", "1"], "every planned run would start over from the beginning there")):
        with pytest.raises(SystemExit) as stop:
            campaign.main(argv)
        assert stop.value.code == 2
        assert capsys.readouterr().err == (
            f"python -m reptile.campaign: error: the results folder {missing} ($REPTILE_RESULTS={missing}) does not "
            f"exist: the campaign's checkpoints and records are read from it, so {then} (a typo in the path?). "
            f"Allowed: an existing folder; to begin a campaign in a new one, create it first: mkdir -p '{missing}'\n")
        assert not missing.exists()
    for argv, message in ((["--minutes", "nan"], "--minutes nan: allowed: a finite number of minutes > 0"),
                          (["--minutes", "1", "--threads", "0"], "--threads 0: allowed: an integer from 1 to"),
                          (["--minutes", "1", "--workers", "0"], "--workers 0: allowed: an integer >= 1"),
                          (["--status", "--device", "tpu"], "unknown device 'tpu'")):
        with pytest.raises(SystemExit) as stop:
            campaign.main(argv)
        assert stop.value.code == 2 and message in capsys.readouterr().err


def test_a_resumed_entry_says_where_and_warns_of_another_thread_count(tmp_path, monkeypatch, capsys):
    e = entry()
    monkeypatch.setattr(campaign.runs, "EVAL_BLOCK", BLOCK)
    assert not one_thread(campaign.advance, e, 0.0, "cpu", tmp_path, progress=False, splits=splits())
    capsys.readouterr()
    assert not one_thread(campaign.advance, e, 0.0, "cpu", tmp_path, progress=True, splits=splits())
    err = capsys.readouterr().err
    assert (f"campaign: {KEY}: resuming from {campaign.checkpoint_path(e, tmp_path)} at outer iteration 1 of 4 "
            f"(so far cpu: 1)") in err
    assert "warning" not in err  # the same thread count
    before = torch.get_num_threads()
    torch.set_num_threads(2)
    try:
        assert not campaign.advance(e, 0.0, "cpu", tmp_path, progress=False, splits=splits())
    finally:
        torch.set_num_threads(before)
    assert capsys.readouterr().err.strip() == (
        f"campaign: warning: {KEY} ran its latest piece with 1 CPU thread and resumes with 2: the thread count "
        f"changes the order of the CPU's floating-point sums, so its numbers from here on differ slightly from "
        f"those of an uninterrupted run. Stop now and pass --threads 1 to keep them exact")
    state = trainer.load_checkpoint(campaign.checkpoint_path(e, tmp_path))
    assert [s["threads"] for s in state["segments"]] == [1, 1, 2]  # each piece records its thread count
