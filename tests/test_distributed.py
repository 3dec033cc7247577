"""Several processes (``torchrun``, gloo on the CPU) against one process.

The test starts ``python -m torch.distributed.run --nproc_per_node 2`` on this file, whose ``__main__`` is the
worker: on synthetic images, each rank (a) evaluates one population with ``share=(rank, 2)``, (b) trains its members
of the seeds 0 1 2 (rank 0: 0 and 2, rank 1: 1) and gathers them, (c) runs ``reptile.experiments.fewshot``'s
``main`` end to end. The test compares what the ranks return with the same work done in one process, everything
with one thread per process.

What is exact and what is not: a member's arithmetic can differ in the last bits with its place in its population
(a batched matrix product of small matrices rounds by groups of batch items on the CPU), so a seed trained by a rank
whose population holds other seeds than in one process matches one process to float tolerance, as a population
member matches its solo run. Gathering is exact: the gathered members are bit for bit those the ranks trained, in
the order of the seeds; and the shared evaluation adapts exactly the chunks one process adapts, so it returns one
process's accuracies.
"""

import dataclasses
import json
import os
import socket
import subprocess
import sys
import time
import types
from pathlib import Path

import pytest
import torch

from test_engine import images, small_config

from reptile.experiments import fewshot as X
from reptile.engine import distributed
from reptile.engine import evaluation as E
from reptile.engine.population import Population
from reptile.fewshot import TaskSampler

SEEDS = [0, 1, 2]  # over 2 ranks: an uneven split, rank 0 holding seeds 0 and 2 (concatenating the ranks is wrong)
EVAL_SEEDS, EVAL_TASKS, CHUNK = [0, 1], 7, 3  # 14 jobs in 5 chunks: rank 0 adapts chunks 0, 2, 4; rank 1: 1, 3
TRAIN_STEPS = 3
TRAIN_TOL = 1e-5  # float32, 3 outer iterations: a seed trained in another population layout than in one process
# the few-shot command on synthetic images (load_splits replaced), a few seconds
ARGS = ["--preset", "omniglot-1shot-5way", "--seeds", *map(str, SEEDS), "--device", "cpu", "--threads", "1",
        "--recompute", "--engine", "population",
        *(f"--set={kv}" for kv in ("meta.outer_iters=4", "meta.meta_batch=2", "meta.inner_iters=3", "eval_iters=6",
                                   "eval_tasks=6", "curve_every=2", "curve_tasks=3", "checkpoint_every=2"))]
TIMING = ("wall_seconds", "environment", "train_seconds", "seconds_per_outer_iter", "eval_seconds",
          "seconds_per_eval_task")
ENGINE_RUN = ("segments", "world", "trained_with", "note")  # how the seeds were run, not what they gave


def synthetic_splits(cfg, seed=0, data_root=None, cache_dir=None):
    """A stand-in for :func:`reptile.experiments.fewshot.load_splits`: each seed its own random images."""
    return (types.SimpleNamespace(images=images(classes=30, seed=seed)),
            types.SimpleNamespace(images=images(classes=20, seed=100 + seed)))


def eval_population():
    cfg = small_config()
    pop = Population(cfg, EVAL_SEEDS, [images(seed=s) for s in EVAL_SEEDS])
    for _ in range(2):
        pop.meta_step()
    return cfg, pop


def shared_evaluation(share=(0, 1)):
    """(a): the accuracies of a 2-member population on 7 tasks each, in chunks of 3."""
    cfg, pop = eval_population()
    test = [TaskSampler(synthetic_splits(cfg, s)[1].images) for s in EVAL_SEEDS]
    gens = [torch.Generator().manual_seed(50 + s) for s in EVAL_SEEDS]
    return E.evaluate(pop.net, pop.phi, pop.inner, test, gens, cfg.n_way, cfg.shots, cfg.eval_iters, cfg.eval_batch,
                      EVAL_TASKS, cfg.meta.inner_lr, cfg.meta.inner_betas, chunk=CHUNK, share=share)


def train(seeds):
    cfg = small_config()
    pop = Population(cfg, seeds, [synthetic_splits(cfg, s)[0].images for s in seeds])
    for _ in range(TRAIN_STEPS):
        pop.meta_step()
    return pop


def worker(out: Path) -> None:
    """One rank of ``torchrun --nproc_per_node 2 tests/test_distributed.py OUT``."""
    torch.set_num_threads(1)
    X.load_splits = synthetic_splits
    r = distributed.init("cpu")
    assert r.world == 2
    got = {"ranks": dataclasses.astuple(r), "evaluation": shared_evaluation(r.share)}
    mine = distributed.members_of(r.rank, r.world, SEEDS)
    pop = train(mine)
    phi, inner, extra = X.gather_members(pop.net, pop, SEEDS, pop.device, pop.dtype, [f"seed {s}" for s in mine])
    got["trained"] = {"mine": mine, "phi": phi, "m": inner.m, "v": inner.v, "step": inner.step, "extra": extra}
    X.main(ARGS)  # initialises nothing more; closes the process group at its end
    torch.save(got, out / f"rank{r.rank}.pt")


# ------------------------------------------------------------------------------------------------- the test


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def ranks_output(tmp_path_factory):
    """What the 2 ranks returned, and the folder of the results they wrote."""
    root = tmp_path_factory.mktemp("distributed")
    env = {**os.environ, "OMP_NUM_THREADS": "1", "REPTILE_RESULTS": str(root / "results"),
           "REPTILE_CHECKPOINTS": str(root / "checkpoints")}
    env.pop("WORLD_SIZE", None)
    began, failed = time.perf_counter(), ""
    for attempt in range(2):  # a second try on a new port: the rendezvous can fail to connect on a loaded machine
        cmd = [sys.executable, "-m", "torch.distributed.run", "--nnodes", "1", "--nproc_per_node", "2",
               "--master_addr", "127.0.0.1", "--master_port", str(free_port()), __file__, str(root)]
        done = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=300)
        if done.returncode == 0:
            break
        failed += f"\n--- attempt {attempt + 1}:\n{done.stdout[-3000:]}\n{done.stderr[-6000:]}"
        print(f"torchrun attempt {attempt + 1} failed:{failed}")
    assert done.returncode == 0, f"torchrun failed twice:{failed}"
    (root / "stderr.txt").write_text(done.stderr)  # what the ranks said
    print(f"torchrun with 2 ranks: {time.perf_counter() - began:.1f} s")
    return [torch.load(root / f"rank{k}.pt", weights_only=False) for k in range(2)], root, done.stdout


@pytest.fixture
def one_thread():
    before = torch.get_num_threads()
    torch.set_num_threads(1)  # as each rank
    yield
    torch.set_num_threads(before)


def test_ranks_and_how_seeds_are_split(monkeypatch):
    monkeypatch.delenv("WORLD_SIZE", raising=False)
    assert distributed.init() == distributed.Ranks(0, 1, 0) and distributed.ranks().share == (0, 1)
    assert distributed.all_gather_objects("x") == ["x"]
    assert distributed.members_of(0, 2, SEEDS) == [0, 2] and distributed.members_of(1, 2, SEEDS) == [1]
    assert distributed.members_of(2, 3, [0, 1]) == []
    with pytest.raises(ValueError, match="rank must be in 0..1, got 2"):
        distributed.members_of(2, 2, SEEDS)
    with pytest.raises(ValueError, match=r"share must be \(rank, world\) with 0 <= rank < world, got \(2, 2\)"):
        shared_evaluation((2, 2))


def test_shared_evaluation_returns_the_accuracies_of_one_process(ranks_output, one_thread):
    got, _, _ = ranks_output
    want = shared_evaluation()
    assert [g["ranks"] for g in got] == [(0, 2, 0), (1, 2, 1)]
    for g in got:  # every rank holds every task's accuracy, in task order
        assert g["evaluation"] == want
    # the check can see a misplaced task: the accuracies vary from task to task and from member to member
    assert want[0] != want[1] and all(len(set(w["non_transductive"])) > 1 for w in want)


def test_gathered_members_are_those_the_ranks_trained_in_seed_order(ranks_output, one_thread):
    got, _, _ = ranks_output
    assert [g["trained"]["mine"] for g in got] == [[0, 2], [1]]
    pops = [train([0, 2]), train([1])]  # what each rank trained, in one process: bit for bit

    def by_seed(tensor):  # seed -> its row in the population of its rank
        return {s: p.net.rows(tensor(p))[i] for p in pops for i, s in enumerate(p.seeds)}

    rows, v_rows = by_seed(lambda p: p.phi), by_seed(lambda p: p.inner.v)
    whole = train(SEEDS)  # one process, all seeds in one population
    for g in got:
        t = g["trained"]
        net = whole.net
        assert torch.equal(net.rows(t["phi"]), torch.stack([rows[s] for s in SEEDS]))
        assert torch.equal(net.rows(t["v"]), torch.stack([v_rows[s] for s in SEEDS]))
        assert t["step"] == whole.inner.step and t["extra"] == [f"seed {s}" for s in SEEDS]
        # against the one-process population: seed 0 sits first in both, the others elsewhere (float tolerance)
        assert torch.equal(net.rows(t["phi"])[0], net.rows(whole.phi)[0])
        assert torch.allclose(t["phi"], whole.phi, rtol=0, atol=TRAIN_TOL)
        assert torch.allclose(t["m"], whole.inner.m, rtol=0, atol=TRAIN_TOL)


def test_torchrun_command_writes_the_records_of_one_process(ranks_output, tmp_store, monkeypatch, one_thread):
    _, root, stdout = ranks_output
    monkeypatch.setattr(X, "load_splits", synthetic_splits)
    X.main(ARGS)
    assert torch.get_num_threads() == 1  # main's --threads 1
    shared = sorted((root / "results" / "fewshot").glob("*/seed-*.json"))
    single = sorted((tmp_store / "results" / "fewshot").glob("*/seed-*.json"))
    assert [p.relative_to(root / "results") for p in shared] == [p.relative_to(tmp_store / "results") for p in single]
    assert len(shared) == len(SEEDS)
    assert not list((root / "checkpoints").rglob("*.pt"))  # each rank dropped its checkpoint
    assert stdout.count("seed 0: non_transductive") == 1  # rank 0 prints, rank 1 does not
    for a, b in zip(shared, single, strict=True):
        two, one = json.loads(a.read_text()), json.loads(b.read_text())
        assert two["engine"]["world"] == 2 and one["engine"]["world"] == 1
        assert two["engine"]["trained_with"] == ([1] if two["seed"] == 1 else [0, 2])
        for r in (two, one):
            for k in TIMING:
                r.pop(k)
            for k in ENGINE_RUN:
                r["engine"].pop(k, None)
        assert two == one


def test_under_torchrun_rank_0_says_how_the_seeds_are_split(ranks_output):
    """Every rank said it ran 'seeds [0, 1, 2] as one population', though each trained its share."""
    _, root, _ = ranks_output
    said = (root / "stderr.txt").read_text()
    assert said.count("seeds [0, 1, 2] split among 2 processes (rank 0: seeds 0 2; rank 1: seed 1) -> ") == 1, said
    assert "as one population" not in said


if __name__ == "__main__":
    worker(Path(sys.argv[1]))
