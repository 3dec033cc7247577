"""The benchmark's baselines: the plain-PyTorch reference Reptile and the harness timing the authors' TensorFlow code.

Synthetic random uint8 images only; no dataset and no TensorFlow needed (the tests that run the authors' code are in
tests/test_tf_harness.py, skipped where the TensorFlow environment or the authors' checkout is absent).
"""

import ast
import dataclasses
import importlib.util
import sys

import pytest
import torch
import torch.nn.functional as F

from reptile.config import FEWSHOT_PRESETS
from reptile.bench import tf_harness
from reptile.bench.reference import ReferenceReptile, minibatches, time_evaluation, time_training

N_WAY, TRAIN_SHOTS = 5, 3


def images(n_classes=8, per_class=6, seed=0):
    g = torch.Generator().manual_seed(seed)
    return torch.randint(0, 256, (n_classes, per_class, 1, 28, 28), generator=g, dtype=torch.uint8)


def config(**meta):
    base = FEWSHOT_PRESETS["omniglot-1shot-5way"]
    m = dataclasses.replace(base.meta, **{"inner_lr": 1e-3, "inner_iters": 1, "inner_batch": N_WAY * TRAIN_SHOTS,
                                          "meta_batch": 2, **meta})
    return dataclasses.replace(base, train_shots=TRAIN_SHOTS, meta=m, eval_iters=3)


def task(seed):
    g = torch.Generator().manual_seed(seed)
    x = torch.rand(N_WAY * TRAIN_SHOTS, 1, 28, 28, generator=g)
    return x, torch.arange(N_WAY).repeat_interleave(TRAIN_SHOTS)


def grad_at(model, x, y):
    model.zero_grad()
    F.cross_entropy(model(x), y, reduction="sum").backward()
    return [p.grad.detach().clone() for p in model.parameters()]


def test_minibatches_cover_each_epoch_without_repeats():
    batches = torch.cat(list(minibatches(10, 4, 5, torch.Generator().manual_seed(0))))
    assert len(batches) == 20
    assert sorted(batches[:10].tolist()) == list(range(10)) and sorted(batches[10:].tolist()) == list(range(10))


def test_outer_iteration_is_reptile_with_adam_state_carried_between_tasks():
    """One outer iteration on two tasks, one full-batch Adam step each: phi moves by eps * (mean W - phi), where
    task 2's step uses the second moment left by task 1 (its state_dict carried), computed here by hand."""
    cfg = config()
    ref = ReferenceReptile(cfg, "cpu", seed=0)
    phi = [p.detach().clone() for p in ref.model.parameters()]
    (x1, y1), (x2, y2) = task(1), task(2)
    g1, g2 = grad_at(ref.model, x1, y1), grad_at(ref.model, x2, y2)  # both at phi: each task starts there
    eps, lr, b2 = 0.5, cfg.meta.inner_lr, 0.999

    adapted = ref.outer_iteration([(x1, y1), (x2, y2)], eps=eps)

    for i, (p, a, b) in enumerate(zip(phi, g1, g2)):
        v1 = (1 - b2) * a**2
        w1 = p - lr * a / ((v1 / (1 - b2)).sqrt() + 1e-8)
        v2 = b2 * v1 + (1 - b2) * b**2
        w2 = p - lr * b / ((v2 / (1 - b2**2)).sqrt() + 1e-8)  # carried: step 2 of one Adam, not step 1 of a new one
        fresh_w2 = p - lr * b / (b.abs() + 1e-8)
        # a conv bias feeding batch norm has a zero gradient up to rounding, where Adam's step is the sign of noise:
        # there only Adam's bound holds (|step| <= lr on a first step, <= lr sqrt(1 + b2) on the carried second)
        conv_bias = i < 16 and i % 4 == 1  # per block: conv weight, conv bias, batch-norm scale, shift
        if conv_bias:
            assert float((adapted[0][i] - p).abs().max()) <= lr * (1 + 1e-5)
            assert float((adapted[1][i] - p).abs().max()) <= lr * (1 + b2) ** 0.5 * (1 + 1e-5)
            continue
        # elsewhere every entry whose gradients stand above float32's rounding of the largest one (the rest take
        # steps of lr times the sign of rounding noise, as the bias rows do)
        ok = (a.abs() > 1e-4 * a.abs().max()) & (b.abs() > 1e-4 * b.abs().max())
        assert ok.float().mean() > 0.9, (i, float(ok.float().mean()))
        torch.testing.assert_close(adapted[0][i][ok], w1[ok], rtol=1e-5, atol=1e-7)
        torch.testing.assert_close(adapted[1][i][ok], w2[ok], rtol=1e-5, atol=1e-7)
        torch.testing.assert_close(list(ref.model.parameters())[i].detach()[ok], (p + eps * ((w1 + w2) / 2 - p))[ok],
                                   rtol=1e-5, atol=1e-7)
        if i == 0:
            assert not torch.allclose(w2[ok], fresh_w2[ok], rtol=0, atol=lr * 1e-3)
    # the Reptile direction of a tiny Adam step is a descent direction of the tasks' summed loss at phi
    moved = [q.detach() - p for q, p in zip(ref.model.parameters(), phi)]
    assert sum(float((m * (a + b)).sum()) for m, a, b in zip(moved, g1, g2)) < 0
    assert float(ref.optimizer_state["state"][0]["step"]) == 2


def test_state_runs_on_across_outer_iterations_and_evaluation_changes_nothing():
    cfg = config(inner_iters=2, inner_batch=5)
    ref = ReferenceReptile(cfg, "cpu", seed=0)
    ref.outer_iteration([task(1), task(2)])
    ref.outer_iteration([task(3), task(4)])
    assert float(ref.optimizer_state["state"][0]["step"]) == 8  # 2 iterations x 2 tasks x 2 steps, one Adam
    phi = [p.detach().clone() for p in ref.model.parameters()]
    state = {k: {n: t.clone() for n, t in s.items()} for k, s in ref.optimizer_state["state"].items()}
    x, y = task(5)
    pred = ref.evaluate_task(x[:5], y[::TRAIN_SHOTS], x[5:10])
    assert pred.shape == (5,) and pred.dtype == torch.int64
    for p, q in zip(phi, ref.model.parameters()):
        assert torch.equal(p, q)
    for k, s in state.items():
        for n, t in s.items():
            assert torch.equal(t, ref.optimizer_state["state"][k][n]), (k, n)


def test_timing_functions_report_their_counts():
    torch.set_num_threads(1)
    cfg = config(inner_iters=2, inner_batch=5)
    imgs = images()
    t = time_training(cfg, imgs, 0.01, "cpu", warmup=1)
    assert t["outer_iters"] >= 1 and t["seconds"] >= 0.01
    assert t["run_steps_per_s"] == pytest.approx(t["outer_iters"] * 2 * 2 / t["seconds"])
    e = time_evaluation(cfg, imgs, 0.01, "cpu", warmup=0)
    assert e["tasks"] >= 1 and e["tasks_per_s"] == pytest.approx(e["tasks"] / e["seconds"])


# --------------------------------------------------------------------------------- the authors' code harness


def script_settings():
    tree = ast.parse(tf_harness.SCRIPT.read_text(encoding="utf-8"))
    for node in tree.body:
        if isinstance(node, ast.Assign) and any(getattr(t, "id", None) == "SETTINGS" for t in node.targets):
            return ast.literal_eval(node.value)
    raise AssertionError("no SETTINGS in authors_tf.py")


def test_script_settings_are_the_presets():
    table = script_settings()
    assert sorted(table) == sorted(tf_harness.SETTINGS)
    for setting, hp in table.items():
        assert hp["preset"] == f"omniglot-{setting}"
        flags = dict(f[2:].split("=") for f in tf_harness.preset_flags(setting))
        assert {k.replace("-", "_"): float(v) for k, v in flags.items()} == \
            {k: float(v) for k, v in hp.items() if k != "preset"}
        # their --transductive (evaluation only) exactly for the preset evaluated transductively
        assert hp["transductive"] is ("transductive" in hp["preset"])
    assert {"1shot-20way", "5shot-20way", "1shot-5way-transductive-eval25"} <= set(table)


def test_script_imports_only_stdlib_numpy_tensorflow():
    tree = ast.parse(tf_harness.SCRIPT.read_text(encoding="utf-8"))
    top = set()
    for node in tree.body:
        nodes = [node] + (node.body if isinstance(node, ast.Try) else [])
        for n in nodes:
            if isinstance(n, ast.Import):
                top |= {a.name.split(".")[0] for a in n.names}
            elif isinstance(n, ast.ImportFrom):
                top.add((n.module or "").split(".")[0])
    assert top - set(sys.stdlib_module_names) <= {"numpy", "tensorflow"}


def test_harness_names_what_is_missing(tmp_path):
    with pytest.raises(tf_harness.AuthorsCodeUnavailable, match="make tf-env"):
        tf_harness.time_authors_code(tmp_path / "no-python", tmp_path, "1shot-5way", 1)
    with pytest.raises(tf_harness.AuthorsCodeUnavailable, match="git clone"):
        tf_harness.time_authors_code(sys.executable, tmp_path, "1shot-5way", 1)
    with pytest.raises(ValueError, match="allowed"):
        tf_harness.time_authors_code(sys.executable, tmp_path, "2shot-5way", 1)


@pytest.mark.skipif(importlib.util.find_spec("tensorflow") is not None, reason="TensorFlow is installed here")
def test_harness_says_when_tensorflow_is_missing(tmp_path):
    (tmp_path / "supervised_reptile").mkdir()
    (tmp_path / "supervised_reptile" / "reptile.py").write_text("")
    with pytest.raises(tf_harness.AuthorsCodeUnavailable, match="TensorFlow could not be imported"):
        tf_harness.time_authors_code(sys.executable, tmp_path, "omniglot-1shot-5way", 1)
