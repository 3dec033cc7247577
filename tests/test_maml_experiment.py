"""MAML's experiments (reptile.maml.protocol, reptile.maml.experiment): Finn's split, rotations and network, the
presets, a ci run end to end, resume, bad input and divergence."""

import json
import math
import random

import pytest
import torch
from torch import nn

from reptile import results as R
from reptile.fewshot import BN_EPS, SameConv2d
from reptile.maml import inner_mask
from reptile.maml import experiment as E
from reptile.maml.algorithm import MAMLLearner
from reptile.maml.protocol import (FINN_SIZES, FinnNet, OffsetBatchNorm2d, ProtocolData, SpatialMean, build_net,
                                   draw_tasks, finn_conv4, finn_split)
from reptile.validate import DivergedError


@pytest.fixture(scope="module")
def finn_data():
    return E.load_data(E.PRESETS["ci"], 0)


# ------------------------------------------------------------------------------------------------------ split


def test_finn_split_sizes_disjoint_and_his_procedure():
    tr, va, te = finn_split(1623)
    assert (len(tr), len(va), len(te)) == FINN_SIZES == (1100, 100, 423)
    assert sorted(tr + va + te) == list(range(1623))
    assert finn_split(1623) == (tr, va, te)  # deterministic
    assert finn_split(1623, seed=2)[0] != tr  # the seed matters
    # their code, written out: random.seed(1); random.shuffle(folders); [:1100], [1100:1200], [1200:]
    state = random.getstate()
    try:
        random.seed(1)
        folders = [f"f{i}" for i in range(1623)]
        random.shuffle(folders)
    finally:
        random.setstate(state)
    assert [f"f{i}" for i in te] == folders[1200:] and [f"f{i}" for i in va] == folders[1100:1200]
    with pytest.raises(ValueError, match="1623 characters"):
        finn_split(1600)


def test_finn_data_is_his_split_inverted_and_rotated_per_task(finn_data):
    d = finn_data
    assert d.protocol == "finn" and d.rotate
    assert d.train.shape == (1100, 20, 1, 28, 28) and d.val.shape == (100, 20, 1, 28, 28)
    assert d.test.shape == (423, 20, 1, 28, 28) and d.test.dtype == torch.uint8
    ink = (d.test == 255).double().mean()
    assert 0.02 < ink < 0.3  # inverted: strokes (a minority of pixels) are 255
    # no character in two splits
    flat = lambda t: {bytes(t[i].numpy().tobytes()) for i in range(len(t))}  # noqa: E731
    assert not (flat(d.test) & flat(d.train)) and not (flat(d.val) & flat(d.train))


# -------------------------------------------------------------------------------------------------- rotations


def marked_images(n_classes=12):
    """Each image has one 255 pixel at the top-left corner (where it goes tells the rotation), its class + 1 at
    pixel (1, 5) and its drawing + 1 at (1, 6)."""
    x = torch.zeros(n_classes, 20, 1, 28, 28, dtype=torch.uint8)
    x[..., 0, 0] = 255
    for c in range(n_classes):
        for d in range(20):
            x[c, d, 0, 1, 5], x[c, d, 0, 1, 6] = c + 1, d + 1
    return x


def rotation_of(img: torch.Tensor) -> int:
    corner = (img[0] == 1.0).nonzero()
    marker = torch.zeros(28, 28)
    marker[0, 0] = 1
    for k in range(4):
        if torch.equal((torch.rot90(marker, k) == 1).nonzero(), corner):
            return k
    raise AssertionError("no rotation found")


def test_rotations_are_one_per_class_per_task_support_and_query_alike():
    images = marked_images()
    g = torch.Generator().manual_seed(0)
    tasks = draw_tasks(images, 5, 2, 3, [g] * 40, torch.Generator().manual_seed(1))
    seen = set()
    for sx, sy, qx, qy in zip(*tasks):
        for label in range(5):
            ks = {rotation_of(im) for im in torch.cat([sx[sy == label], qx[qy == label]])}
            assert len(ks) == 1, ks  # one rotation for the whole class in this task
            seen |= ks
    assert seen == {0, 1, 2, 3}
    plain = draw_tasks(images, 5, 2, 3, [torch.Generator().manual_seed(0)] * 10, None)
    assert all(rotation_of(im) == 0 for t in (plain.support_x, plain.query_x) for im in t.flatten(0, 1))


def test_training_rotations_by_protocol():
    """Finn's protocol rotates its training and test tasks; Reptile's never rotates a task (its rotations are
    extra classes of the training split)."""
    images = marked_images()
    cfg = E.resolve("ci", {"shots": 2, "queries": 2})
    for rotate in (True, False):
        data = ProtocolData("finn" if rotate else "reptile", images, images, images, rotate)
        t = E.training_tasks(cfg, data, 0, 5)
        ks = {rotation_of(im) for im in t.support_x.flatten(0, 1)}
        assert (len(ks) > 1) == rotate
        assert torch.equal(t.support_x, E.training_tasks(cfg, data, 0, 5).support_x)  # a function of the iteration
        assert not torch.equal(t.support_x, E.training_tasks(cfg, data, 0, 6).support_x)


def test_reptile_protocol_data_rotates_training_classes_only():
    d = E.load_data(E.PRESETS["reduced-maml-omniglot-1shot-5way"], 0)
    assert d.protocol == "reptile" and not d.rotate and d.val is None
    assert d.train.shape[0] == 4800 and d.test.shape[0] == 423
    assert torch.equal(d.train[1], torch.rot90(d.train[0], 1, dims=(-2, -1)))  # a character's rotations adjacent


def test_finn_task_pool_cycles_the_same_characters():
    images = marked_images(40)
    cfg = E.resolve("ci", {"train_task_pool": 8})  # 2 meta-batches of 4 tasks
    data = ProtocolData("finn", images, images, images, False)
    ids = lambda t: t.support_x[..., 1, 5:7]  # noqa: E731
    assert torch.equal(ids(E.training_tasks(cfg, data, 0, 0)), ids(E.training_tasks(cfg, data, 0, 2)))
    assert not torch.equal(ids(E.training_tasks(cfg, data, 0, 0)), ids(E.training_tasks(cfg, data, 0, 1)))


# ---------------------------------------------------------------------------------------------- Finn's network


def test_finn_network_structure():
    net = build_net("finn", 5)
    mods = list(net.module)
    assert [type(m) for m in mods[:3]] == [SameConv2d, OffsetBatchNorm2d, nn.ReLU] and len(mods) == 14
    assert isinstance(mods[12], SpatialMean) and isinstance(mods[13], nn.Linear)
    assert mods[13].in_features == 64 and mods[13].out_features == 5
    bns = [m for m in mods if isinstance(m, OffsetBatchNorm2d)]
    assert len(bns) == 4 and all(m.weight is None and m.eps == BN_EPS == 1e-3 for m in bns)
    params = net.init_params(0)
    assert sum(p.numel() for p in params) == 640 + 3 * 36928 + 4 * 64 + 64 * 5 + 5
    assert inner_mask(net) == tuple(not n.endswith(("1.bias", "4.bias", "7.bias", "10.bias")) for n in net.names)
    assert sum(not a for a in inner_mask(net)) == 4  # the offsets are meta-learned, not adapted
    x = torch.rand(7, 1, 28, 28)
    assert net(params, x).shape == (7, 5)
    # batch norm: (x - batch mean) / sqrt(batch var + 1e-3) + offset, no scale
    h = torch.randn(6, 64, 4, 4) * 3 + 1
    beta = torch.randn(64)
    bn = OffsetBatchNorm2d(64)
    with torch.no_grad():
        bn.bias.copy_(beta)
        m, v = h.mean((0, 2, 3), keepdim=True), h.var((0, 2, 3), unbiased=False, keepdim=True)
        torch.testing.assert_close(bn(h), (h - m) / torch.sqrt(v + 1e-3) + beta[None, :, None, None])
    # the last block leaves a 2x2 map, whose spatial mean the dense layer reads (tests/test_maml_population.py
    # checks the logits against the engine's dense layer on the flattened map, its kernel tiled and divided by 4)
    feats = net.module[:12](x)
    assert feats.shape == (7, 64, 2, 2)


def test_finn_initialisation_statistics():
    net = FinnNet(finn_conv4(20))
    p = dict(zip(net.names, net.init_params(3)))
    for name, fan in (("0.weight", (1 + 64) * 9), ("3.weight", 128 * 9), ("9.weight", 128 * 9)):
        w, limit = p[name].double(), math.sqrt(6 / fan)
        assert w.abs().max() <= limit and w.abs().max() > 0.95 * limit
        assert w.std().item() == pytest.approx(limit / math.sqrt(3), rel=0.1)
    dense = p["13.weight"].double()
    assert dense.shape == (20, 64)
    assert abs(dense.mean().item()) < 0.1 and dense.std().item() == pytest.approx(1.0, rel=0.08)
    assert all(float(p[n].abs().max()) == 0 for n in net.names if n.endswith("bias"))
    assert torch.equal(p["13.weight"], dict(zip(net.names, net.init_params(3)))["13.weight"])
    reptile = dict(zip(build_net("reptile", 20).names, build_net("reptile", 20).init_params(3)))
    assert reptile["13.weight"].abs().max() < 0.3  # Reptile's dense kernel is Glorot, not N(0, 1)


# -------------------------------------------------------------------------------------------------- presets


def test_presets_hold_finns_and_reptiles_values():
    for alg in ("maml", "fomaml"):
        for k in (1, 5):
            for n, mb, step, steps, test_steps in ((5, 32, 0.4, 1, 3), (20, 16, 0.1, 5, 5)):
                f = E.PRESETS[f"finn-{alg}-omniglot-{k}shot-{n}way"]
                assert (f.protocol, f.network, f.algorithm, f.shots, f.queries, f.eval_queries) == \
                       ("finn", "finn", alg, k, k, k)
                assert (f.meta_batch, f.inner_step, f.inner_steps, f.eval_inner_steps) == (mb, step, steps, test_steps)
                assert (f.loss_scale, f.outer_lr, f.outer_iters, f.eval_tasks, f.train_task_pool,
                        f.eval_task_seed) == ("finn", 1e-3, 60_000, 600, 200_000, 6)
                assert f.maml().first_order == (alg == "fomaml") and f.budget == "paper"
                r = E.PRESETS[f"{alg}-omniglot-{k}shot-{n}way"]
                assert (r.protocol, r.network, r.eval_queries, r.eval_tasks, r.train_task_pool, r.eval_task_seed,
                        r.non_transductive) == ("reptile", "reptile", 1, 10_000, 0, -1, True)
                assert r.mean_loss_step == f.mean_loss_step == step * n  # the same effective step as Finn's
    reduced = [n for n in E.PRESETS if n.startswith("reduced-")]
    assert len(reduced) == 8
    for n in reduced + ["ci"]:
        assert E.PRESETS[n].budget == "reduced" and "REDUCED" in E.describe(n)
        assert E.PRESETS[n].outer_iters < 60_000


@pytest.mark.parametrize("key, value, message", [
    ("protocol", "mine", "unknown protocol 'mine'; allowed: finn, reptile"),
    ("algorithm", "reptile", "unknown algorithm 'reptile'; allowed: maml, fomaml"),
    ("inner_step", -1.0, "inner_step must be a finite number > 0, got -1.0"),
    ("meta_batch", 0, "meta_batch must be an integer >= 1, got 0"),
    ("queries", 20, "shots \\+ queries = 1 \\+ 20 does not fit"),
    ("eval_task_seed", -2, "eval_task_seed must be -1"),
])
def test_bad_configuration_names_the_value(key, value, message):
    with pytest.raises(ValueError, match=message):
        E.resolve("ci", {key: value})
    with pytest.raises(ValueError, match="unknown preset 'nope'; allowed: finn-maml"):
        E.resolve("nope")
    with pytest.raises(ValueError, match="unknown parameter 'bogus'"):
        E.resolve("ci", {"bogus": 1})


# ------------------------------------------------------------------------------------------------ end to end


def numbers(record):
    return record["eval"], record["curve"]


def test_ci_run_writes_a_valid_record_and_resume_gives_the_same_numbers(finn_data, tmp_store, monkeypatch):
    cfg = E.PRESETS["ci"]
    a = E.run(cfg, 0, "cpu", results_dir=tmp_store / "a", checkpoint_dir=tmp_store / "ca", progress=False,
              data=finn_data)
    path = tmp_store / "a" / "maml" / "ci" / "seed-0.json"
    stored = R.read_run(path)
    assert json.loads(path.read_text()) == stored and stored["eval"] == a["eval"]
    ev = stored["eval"]["transductive"]
    assert len(ev["accuracy_per_step"]) == cfg.eval_inner_steps + 1 == len(ev["ci95_per_step"])
    assert ev["tasks"] == cfg.eval_tasks and all(0 <= x <= 1 for x in ev["accuracy_per_step"])
    assert ev["accuracy"] == ev["accuracy_per_step"][-1] and "1.96" in ev["interval"]
    assert stored["config"] == cfg.to_dict() and stored["seed"] == 0 and stored["digest"] == cfg.digest()
    assert stored["seconds_per_iteration"] > 0 and stored["environment"]["device"] == "cpu"
    assert stored["curve"]["iteration"] == [0, 3, 6] and stored["primary_mode"] == "transductive"
    assert "non_transductive" not in stored["eval"]  # Finn's protocol is transductive
    assert not (tmp_store / "ca" / "maml" / "ci" / "seed-0" / "meta.pt").exists()  # done: checkpoint gone

    # interrupted after iteration 3 (checkpoint at 2), then run again: resumes and gives the same numbers
    real_step = MAMLLearner.meta_step

    def interrupted(self, tasks):
        if self.iteration == 3:
            raise KeyboardInterrupt
        return real_step(self, tasks)

    monkeypatch.setattr(MAMLLearner, "meta_step", interrupted)
    with pytest.raises(KeyboardInterrupt):
        E.run(cfg, 0, "cpu", results_dir=tmp_store / "b", checkpoint_dir=tmp_store / "cb", progress=False,
              data=finn_data)
    ckpt = tmp_store / "cb" / "maml" / "ci" / "seed-0" / "meta.pt"
    assert ckpt.exists() and not (tmp_store / "b" / "maml" / "ci" / "seed-0.json").exists()
    monkeypatch.setattr(MAMLLearner, "meta_step", real_step)
    b = E.run(cfg, 0, "cpu", results_dir=tmp_store / "b", checkpoint_dir=tmp_store / "cb", progress=False,
              data=finn_data)
    assert numbers(b) == numbers(a)
    # and it did resume: a second piece starting at the checkpoint's iteration, not a fresh run from 0
    assert [p["start"] for p in b["pieces"]] == [0, 2] and [p["start"] for p in a["pieces"]] == [0]
    # a different seed gives different numbers (the comparison above can fail)
    c = E.run(cfg, 1, "cpu", results_dir=tmp_store / "c", checkpoint_dir=tmp_store / "cc", progress=False,
              data=finn_data)
    assert numbers(c) != numbers(a)


@pytest.mark.parametrize("preset", ["finn-maml-omniglot-1shot-20way", "fomaml-omniglot-5shot-20way"])
def test_a_20_way_cell_runs_end_to_end_with_its_five_steps(preset, tmp_store):
    """The 20-way cells (5 inner steps in training and at test, meta-batch 16) have no reduced runs; a few iterations
    of each protocol's preset check the whole path: data, training, both prediction modes, the record."""
    cfg = E.resolve(preset, {"outer_iters": 2, "meta_batch": 2, "eval_tasks": 3, "curve_every": 1, "curve_tasks": 2,
                             "checkpoint_every": 1})
    assert (cfg.n_way, cfg.inner_steps, cfg.eval_inner_steps) == (20, 5, 5)
    rec = E.run(cfg, 0, "cpu", results_dir=tmp_store / "r", checkpoint_dir=tmp_store / "c", progress=False)
    modes = ["transductive"] + (["non_transductive"] if cfg.protocol == "reptile" else [])
    assert sorted(rec["eval"]) == sorted(modes)
    for mode in modes:
        ev = rec["eval"][mode]
        assert len(ev["accuracy_per_step"]) == 6 and ev["tasks"] == 3
        assert all(0 <= a <= 1 for a in ev["accuracy_per_step"]) and ev["accuracy"] == ev["accuracy_per_step"][5]
    assert rec["curve"]["iteration"] == [0, 1, 2] and rec["config"]["n_way"] == 20
    assert R.read_run(tmp_store / "r" / "maml" / cfg.name / "seed-0.json")["eval"] == rec["eval"]


def test_non_finite_loss_stops_the_run_and_writes_nothing(tmp_store):
    images = torch.full((30, 20, 1, 28, 28), float("nan"))
    data = ProtocolData("finn", images, images, images, True)
    with pytest.raises(DivergedError, match=r"maml/ci seed 0.*outer iteration 1: the meta-gradient is not finite .* "
                                            r"the run diverged and no result is written"):
        E.run(E.PRESETS["ci"], 0, "cpu", results_dir=tmp_store / "r", checkpoint_dir=tmp_store / "c",
              progress=False, data=data)
    assert not (tmp_store / "r" / "maml" / "ci" / "seed-0.json").exists()


# ------------------------------------------------------------------------------------------------ command line


@pytest.mark.parametrize("argv, message", [
    (["--preset", "nope"], "unknown preset 'nope'; allowed: finn-maml-omniglot-1shot-5way"),
    (["--preset", "ci", "--seeds", "-1"], "--seeds -1: seeds must be integers in 0.."),
    (["--preset", "ci", "--set", "bogus=1"], "unknown parameter 'bogus'; allowed: "),
    (["--preset", "ci", "--set", "inner_step=-1"], "inner_step must be a finite number > 0, got -1.0"),
    (["--preset", "ci", "--set", "outer_iters=ten"], "outer_iters='ten' is not allowed"),
    (["--seeds", "0"], "--preset is required (or --list); allowed: finn-maml"),
    (["--preset", "ci", "--device", "tpu"], "unknown device 'tpu'"),
    (["--preset", "ci", "--set", "inner_step=inf"], "inner_step must be a finite number > 0, got inf"),
    (["--preset", "ci", "--set", "outer_lr=nan"], "outer_lr must be a finite number > 0, got nan"),
    (["--preset", "ci", "--data-root", "/nonexistent/maml"], "--data-root /nonexistent/maml: not a folder"),
])
def test_command_line_refuses_bad_input_with_one_line(argv, message, capsys, tmp_store):
    with pytest.raises(SystemExit) as e:
        E.main(argv)
    assert e.value.code == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("python -m reptile.maml.experiment: error: ") and message in err[0]
    assert not (tmp_store / "results").exists()  # nothing was run


def test_command_line_lists_presets_and_runs_ci(capsys, tmp_store, finn_data):
    E.main(["--list"])
    out = capsys.readouterr().out
    assert out.count("\n") == len(E.PRESETS) and "finn-maml-omniglot-1shot-20way: finn protocol" in out
    assert "inner 0.1 x 5 (finn loss; 2 on the mean)" in out
    E.main(["--preset", "ci", "--seeds", "0", "--device", "cpu"])
    out = capsys.readouterr().out
    assert out.startswith("ci seed 0 (") and "transductive [steps 0..3]" in out
    assert (tmp_store / "results" / "maml" / "ci" / "seed-0.json").exists()


def test_the_meta_gradient_path_is_the_one_the_benchmark_found_faster(tmp_path, monkeypatch):
    """The engine on a CPU; on a GPU the faster of engine and vmap in that GPU's stored ``--maml`` report, for the
    cell and algorithm; vmap without a report of that GPU (another GPU's, a CPU's, or a row missing)."""
    cpu, cuda = torch.device("cpu"), torch.device("cuda")
    names = ("finn-maml-omniglot-1shot-5way", "maml-omniglot-5shot-20way", "fomaml-omniglot-1shot-20way")
    for name in names:
        assert E.meta_gradient_path(E.PRESETS[name], cpu, tmp_path) == "engine"
        assert E.meta_gradient_path(E.PRESETS[name], cuda, tmp_path) == "vmap"  # no report stored

    def row(setting, algorithm, path, seconds):
        return {"setting": setting, "algorithm": algorithm, "path": E.PATH_LABELS[path],
                "seconds_per_iteration": seconds}

    rows = [row("1-shot 5-way", "MAML", "engine", 0.02), row("1-shot 5-way", "MAML", "vmap", 0.03),
            row("1-shot 5-way", "MAML", "loop", 0.001),  # not a candidate: one task at a time
            row("5-shot 20-way", "MAML", "engine", 0.5), row("5-shot 20-way", "MAML", "vmap", 0.2),
            row("1-shot 20-way", "first-order MAML", "engine", 0.1)]  # no vmap row: vmap, the default
    folder = tmp_path / "bench" / "maml"
    folder.mkdir(parents=True)
    for device, device_name in (("cpu", "Some GPU"), ("cuda:0", "Another GPU")):  # neither is this GPU
        (folder / f"{device_name.lower().replace(' ', '-')}-{device[:3]}.json").write_text(json.dumps(
            {"rows": [row("1-shot 5-way", "MAML", "engine", 0.01), row("1-shot 5-way", "MAML", "vmap", 0.02)],
             "environment": {"device": device, "device_name": device_name}}))
    monkeypatch.setattr(E, "environment", lambda device: {"device": str(device), "device_name": "Some GPU"})
    assert E.meta_gradient_path(E.PRESETS[names[0]], cuda, tmp_path) == "vmap"
    (folder / "some-gpu.json").write_text(json.dumps({"rows": rows, "environment": {"device": "cuda:0",
                                                                                    "device_name": "Some GPU"}}))
    assert [E.meta_gradient_path(E.PRESETS[n], cuda, tmp_path) for n in names] == ["engine", "vmap", "vmap"]
    assert E.meta_gradient_path(E.PRESETS[names[0]], cpu, tmp_path) == "engine"
    assert E.faster_path(rows, E.PRESETS["maml-omniglot-1shot-5way"]) == "engine"
    assert E.faster_path(rows, E.PRESETS["fomaml-omniglot-1shot-5way"]) is None  # no first-order rows


def test_each_piece_records_the_engine_switches_it_ran_with(finn_data, tmp_store, monkeypatch):
    cfg = E.resolve("ci", {"eval_tasks": 5})
    monkeypatch.setattr(E, "meta_gradient_path", lambda cfg, device, results_dir=None: "engine")
    monkeypatch.delenv("REPTILE_ONEDNN", raising=False)
    rec = E.run(cfg, 0, "cpu", results_dir=tmp_store / "a", checkpoint_dir=tmp_store / "ca", progress=False,
                data=finn_data)
    assert "switches" not in rec["pieces"][0]
    monkeypatch.setenv("REPTILE_ONEDNN", "1")
    rec = E.run(cfg, 0, "cpu", results_dir=tmp_store / "b", checkpoint_dir=tmp_store / "cb", progress=False,
                data=finn_data)
    assert rec["pieces"][0]["switches"] == {"REPTILE_ONEDNN": "1"}


def test_a_run_records_its_path_and_matches_the_autograd_path(finn_data, tmp_store, monkeypatch):
    """The engine's path and torch.func's train the same network: after a few outer iterations of float32 the
    weights agree to float32 rounding grown over the steps (but the convolutions' biases, which only the engine keeps
    at 0), and the record names the path that ran. (The meta-gradients themselves agree in float64 to 1e-10:
    tests/test_maml_population.py.) The engine with oneDNN's convolutions on every layer (REPTILE_ONEDNN=all) too."""
    cfg = E.resolve("ci", {"eval_tasks": 5})
    got = {}
    for key, path, onednn in (("engine", "engine", "0"), ("vmap", "vmap", "0"), ("onednn", "engine", "all")):
        monkeypatch.setenv("REPTILE_ONEDNN", onednn)
        monkeypatch.setattr(E, "meta_gradient_path", lambda cfg, device, results_dir=None, path=path: path)
        rec = E.run(cfg, 0, "cpu", results_dir=tmp_store / key, checkpoint_dir=tmp_store / f"c-{key}",
                    progress=False, data=finn_data)
        assert rec["meta_gradient_path"] == path and rec["pieces"][0]["path"] == path
        final = E.checkpoint_path(cfg, 0, tmp_store / f"c-{key}").parent / "final.pt"
        got[key] = torch.load(final)["learner"]["phi"]
    biases = {1, 4, 7, 10}  # Finn's network: [kernel, bias, offset] x 4, dense: the convolutions' biases
    for engine in ("engine", "onednn"):
        for i, (a, b) in enumerate(zip(got[engine], got["vmap"])):
            if i in biases:  # batch norm cancels them: the engine's gradient is 0, autograd's rounding noise, which
                assert float(a.abs().max()) == 0.0  # Adam turns into steps of about its learning rate
            else:
                # Adam moved each weight by up to 6 x 1e-3; float32 rounding in the gradients moves a few of the
                # smallest-gradient entries by a fraction of one step, and the rest by ~1e-6
                assert float((a - b).abs().mean()) < 1e-5 and float((a - b).abs().max()) < 1e-3
    assert any(not torch.equal(a, b) for a, b in zip(got["engine"], got["onednn"]))  # another path was taken


def test_the_probe_at_the_training_step_gives_the_run_s_own_evaluation(finn_data, tmp_store, monkeypatch):
    from reptile.maml import probe

    over = {"eval_tasks": 2 * E.EVAL_CHUNK + 5}  # several chunks, under Finn's protocol (tasks rotated)
    cfg = E.resolve("ci", over)
    assert cfg.protocol == "finn" and finn_data.rotate
    record = E.run(cfg, 0, "cpu", results_dir=tmp_store / "r", checkpoint_dir=tmp_store / "c", progress=False,
                   data=finn_data)
    monkeypatch.setattr(probe, "load_data", lambda cfg, seed, data_root=None: finn_data)
    got = probe.probe("ci", 0, cfg.eval_inner_steps, (cfg.inner_step, 0.01), cfg.eval_tasks, overrides=over,
                      results_dir=tmp_store / "r", checkpoint_dir=tmp_store / "c")
    # the same test tasks (the run's evaluation stream), the same steps: the record's accuracy after each step
    at_train = got["by_step_size"][str(cfg.inner_step)]["transductive"]
    assert at_train == pytest.approx(record["eval"]["transductive"]["accuracy_per_step"], abs=1e-6)
    small = got["by_step_size"]["0.01"]
    assert small["transductive"][0] == at_train[0]  # before any step the step size cannot matter
    assert small["support_loss_mean_ce"][1] < small["support_loss_mean_ce"][0]  # a small step lowers the loss
    assert got["environment"]["device"] == "cpu"
    assert (tmp_store / "r" / "maml" / cfg.name / "probe-seed-0.json").exists()
    with pytest.raises(ValueError, match=r"step sizes \[0.0\]: allowed: one or more finite numbers > 0"):
        probe.probe("ci", 0, 2, (0.0,), 4, overrides=over, results_dir=tmp_store / "r", checkpoint_dir=tmp_store / "c")
