"""The sine experiment end to end on the CI preset: determinism, resume, the store, and bad input."""

import json
from importlib import metadata

import pytest
import torch

from reptile import results as R
from reptile import validate
from reptile.artifacts.sine import sine_mse_stats, zero_function_mse
from reptile.config import SINE_PRESETS, resolve
from reptile.core import MetaConfig, MetaLearner
from reptile.sine import SineTasks, init_mlp, mse_loss_fn
from reptile.experiments.sine import load_or_run, run
from reptile.train import train

FAST = {"outer_iters": 60, "eval_tasks": 6, "curve_every": 30, "curve_tasks": 4, "checkpoint_every": 20,
        "figure_tasks": 1}


def _metrics(record):
    return {m: (v["eval"], v["curve"], v["figure"]) for m, v in record["methods"].items()}


def test_same_seed_same_numbers_other_seed_other_numbers(tmp_store):
    cfg = resolve(SINE_PRESETS, "ci", FAST)
    a = run(cfg, 0, device="cpu", results_dir=tmp_store / "a", checkpoint_dir=tmp_store / "ca", progress=False)
    b = run(cfg, 0, device="cpu", results_dir=tmp_store / "b", checkpoint_dir=tmp_store / "cb", progress=False)
    c = run(cfg, 1, device="cpu", results_dir=tmp_store / "c", checkpoint_dir=tmp_store / "cc", progress=False)
    assert _metrics(a) == _metrics(b)
    assert _metrics(a) != _metrics(c)


def test_run_record_has_config_metrics_curves_and_environment(tmp_store):
    runs = load_or_run("ci", seeds=[0, 1], overrides=FAST, device="cpu", progress=False)
    assert [r["seed"] for r in runs] == [0, 1]
    r = runs[0]
    assert r["config"]["methods"]["reptile"]["outer_iters"] == 60
    assert set(r["methods"]) == {"reptile", "maml", "fomaml", "fomaml_k1", "joint"}
    for m in r["methods"].values():
        assert len(m["eval"]["mse_by_step"]) == 33
        assert len(m["eval"]["mse_tasks"]["32"]) == 6
        assert m["curve"]["iteration"] == [0, 30, 60]
    env = r["environment"]
    assert env["device"] == "cpu" and env["packages"]["torch"] == metadata.version("torch")
    assert {"python", "commit", "date", "platform"} <= set(env)
    stored = sorted((tmp_store / "results" / "sine").glob("*/seed-*.json"))
    assert len(stored) == 2 and not list((tmp_store / "results").rglob("*.tmp"))
    assert json.loads(stored[0].read_text())["seed"] == 0
    # a second call loads instead of training: the file is untouched
    mtime = stored[0].stat().st_mtime_ns
    again = load_or_run("ci", seeds=[0], overrides=FAST, device="cpu", progress=False)
    assert stored[0].stat().st_mtime_ns == mtime and len(again) == 2


def test_committed_paper_results_show_the_papers_claim():
    """Section 3's claim, on the committed paper-protocol runs: joint training stays at the f = 0 error even after
    32 steps, while Reptile and MAML fit the task."""
    runs = R.load_runs("sine", "paper", R.REPO_ROOT / "results")
    assert len(runs) >= 3, "the paper-protocol sine results (3 seeds) must be committed"
    st = sine_mse_stats(runs).set_index(["method", "steps"])["mse"]
    assert st[("joint", 0)] == pytest.approx(zero_function_mse(), rel=0.1)
    assert st[("joint", 32)] > 0.5 * zero_function_mse()
    for m in ("reptile", "maml"):
        assert st[(m, 32)] < 0.2 * st[("joint", 32)]
        assert st[(m, 32)] < st[(m, 1)] < st[(m, 0)]
    assert all(r["config"]["methods"]["reptile"]["outer_iters"] == 30_000 for r in runs)


def test_resume_gives_the_same_numbers_as_an_uninterrupted_run(tmp_path):
    d, loss = SineTasks(), mse_loss_fn()
    cfg = MetaConfig(outer_iters=50)

    def fresh():
        return MetaLearner(loss, init_mlp((16, 16), 0), cfg, torch.Generator().manual_seed(0))

    def sample(g):
        a, b = d.sample(1, g)
        return [d.training_task(a[0], b[0])]

    def evaluate(learner):
        return {"norm": float(sum(p.pow(2).sum() for p in learner.phi))}

    whole = fresh()
    ref = train(whole, sample, torch.Generator().manual_seed(1), 50, evaluate=evaluate, eval_every=10, progress=False)

    class Interrupt(Exception):
        pass

    calls = {"n": 0}

    def sample_then_die(g):
        calls["n"] += 1
        if calls["n"] == 28:  # dies 7 iterations after the checkpoint at 20
            raise Interrupt
        return sample(g)

    ckpt = tmp_path / "ckpt.pt"
    with pytest.raises(Interrupt):
        train(fresh(), sample_then_die, torch.Generator().manual_seed(1), 50, evaluate=evaluate, eval_every=10,
              checkpoint=ckpt, checkpoint_every=10, progress=False)
    assert ckpt.exists()
    resumed = fresh()
    after = {"n": 0}

    def counted(g):
        after["n"] += 1
        return sample(g)

    out = train(resumed, counted, torch.Generator().manual_seed(1), 50, evaluate=evaluate, eval_every=10,
                checkpoint=ckpt, checkpoint_every=10, progress=False)
    assert after["n"] == 30  # it resumed at the checkpoint's iteration 20, not from the start (a restart draws 50)
    assert resumed.iteration == 50
    assert all(torch.equal(a, b) for a, b in zip(resumed.phi, whole.phi, strict=True))
    assert out["curve"] == ref["curve"]


@pytest.mark.parametrize("kwargs,match", [
    (dict(preset="nope"), r"unknown preset 'nope'; allowed: paper, paper-relu, reduced-3k, ci"),
    (dict(overrides={"outer_iterations": 5}), r"unknown parameter 'outer_iterations'; allowed: .*outer_iters"),
    (dict(overrides={"inner_iters": 0}), r"inner_iters must be an integer >= 1, got 0"),
    (dict(overrides={"outer_iters": -3}), r"outer_iters must be an integer >= 1, got -3"),
    (dict(overrides={"eval_iters": 0}), r"eval_iters must be an integer >= 1, got 0"),
    (dict(overrides={"inner_lr": 0}), r"inner_lr must be a finite number > 0, got 0.0"),
    (dict(overrides={"inner_batch": 51}), r"inner_batch=51 does not fit the task's 50 grid points; allowed: 1..50"),
    (dict(overrides={"figure_tasks": 500}), r"figure_tasks must be in \[0, eval_tasks=20\], got 500"),
    (dict(overrides={"activation": "gelu"}), r"unknown activation 'gelu'; allowed: tanh, relu"),
    (dict(overrides={"inner_optimizer": "rmsprop"}), r"unknown inner_optimizer 'rmsprop'; allowed: sgd, adam"),
    (dict(overrides={"maml.outer_step": -1}), r"outer_step must be a finite number > 0, got -1.0"),
    (dict(overrides={"foo.outer_step": 1}), r"unknown parameter 'foo.outer_step'"),
    (dict(methods=["reptile", "protonet"]), r"unknown or empty methods \['reptile', 'protonet'\]"),
    (dict(seeds=[-1]), r"seed must be an integer >= 0, got -1"),
    (dict(seeds=["0"]), r"seed must be an integer >= 0, got '0'"),
    (dict(device="tpu"), r"unknown device 'tpu'; allowed: 'auto', 'cpu', 'cuda', 'cuda:N'"),
])
def test_bad_input_fails_before_any_training(tmp_store, kwargs, match):
    kwargs = {"preset": "ci", **kwargs}
    with pytest.raises(ValueError, match=match):
        load_or_run(**kwargs, progress=False)
    assert not (tmp_store / "results").exists() and not (tmp_store / "checkpoints").exists()


def test_cuda_without_a_gpu_is_a_clear_error():
    if torch.cuda.is_available():
        assert validate.resolve_device("cuda").type == "cuda"
    else:
        with pytest.raises(ValueError, match="CUDA is not available here; use 'auto' or 'cpu'"):
            validate.resolve_device("cuda")
    assert validate.resolve_device("auto").type == ("cuda" if torch.cuda.is_available() else "cpu")


def test_stored_results_of_another_configuration_are_refused(tmp_store):
    load_or_run("ci", seeds=[0], overrides=FAST, device="cpu", progress=False)
    path = next((tmp_store / "results").rglob("seed-0.json"))
    rec = json.loads(path.read_text())
    rec["digest"] = "0000000000"
    path.write_text(json.dumps(rec))
    with pytest.raises(ValueError, match=r"seeds \[0\] were made with another configuration"):
        load_or_run("ci", seeds=[0], overrides=FAST, device="cpu", progress=False)
