"""The benchmark's MAML rows (reptile.bench.maml): the work counted per outer iteration by hand, Finn et al.'s
hyper-parameters per cell, the rows' arithmetic on fixed timings, and one real (short) timing."""

import math

import pytest
import torch

from reptile.bench import maml as B

# One Omniglot image through Conv4 (28 -> 14 -> 7 -> 4 -> 2, 64 channels, 3x3 kernels) and a 5-way dense layer,
# 2 x multiply-adds, by hand:
FIRST = 2 * 14 * 14 * 9 * 1 * 64  # 225,792
FORWARD_5 = FIRST + 2 * 7 * 7 * 9 * 64 * 64 + 2 * 4 * 4 * 9 * 64 * 64 + 2 * 2 * 2 * 9 * 64 * 64 + 2 * 2 * 2 * 64 * 5
STEP_PER_IMAGE_5 = 3 * FORWARD_5 - FIRST  # forward, weight gradients, input gradients above the first layer


def test_hand_counts():
    assert FORWARD_5 == 5_315_584 and STEP_PER_IMAGE_5 == 15_720_960
    cfg = B.maml_setting("1-shot 5-way")  # 32 tasks, 1 inner step on 5 support images, 5 query images
    assert B.maml_iteration_flops(cfg, first_order=True) == 32 * (5 + 5) * STEP_PER_IMAGE_5
    assert B.maml_iteration_flops(cfg, first_order=False) == 32 * (3 * 5 + 5) * STEP_PER_IMAGE_5
    # Reptile's cells (paper Tables 3 and 5): 5-shot 5-way 5 tasks x 5 inner steps x 10 images; 1-shot 5-way
    # 3 tasks x 12 inner steps x 5 images
    assert B.reptile_iteration_flops("5-shot 5-way") == 5 * 5 * 10 * STEP_PER_IMAGE_5
    assert B.reptile_iteration_flops("1-shot 5-way") == 3 * 12 * 5 * STEP_PER_IMAGE_5


@pytest.mark.parametrize("name, way, shots, meta_batch, step, steps, test_steps", [
    ("1-shot 5-way", 5, 1, 32, 0.4, 1, 3), ("5-shot 5-way", 5, 5, 32, 0.4, 1, 3),
    ("1-shot 20-way", 20, 1, 16, 0.1, 5, 5), ("5-shot 20-way", 20, 5, 16, 0.1, 5, 5)])
def test_finn_settings(name, way, shots, meta_batch, step, steps, test_steps):
    c = B.maml_setting(name)
    assert (c.n_way, c.shots, c.queries, c.meta_batch, c.inner_step, c.inner_steps, c.eval_inner_steps,
            c.loss_scale) == (way, shots, shots, meta_batch, step, steps, test_steps, "finn")


def test_unknown_setting_is_refused():
    with pytest.raises(ValueError, match="unknown benchmark setting '2-shot 5-way' for MAML"):
        B.maml_setting("2-shot 5-way")


def test_rows_on_fixed_timings(monkeypatch):
    monkeypatch.setattr(B, "onednn_timed", lambda device: False)
    monkeypatch.setattr(B, "reptile_seconds", lambda name, seconds, device, onednn=False: 0.05)
    factor = {"engine": 0.5, "vmap": 1, "loop": 2}
    monkeypatch.setattr(B, "maml_seconds", lambda name, fo, seconds, device, path="engine", onednn=False:
                        (0.2 if fo else 0.5) * factor[path])
    rows = B.run(("1-shot 5-way",), 1.0, torch.device("cpu"), matmul=100.0)
    assert [(r["algorithm"], r["path"]) for r in rows] == [
        ("Reptile", "engine, population of 1"),
        ("MAML", "engine, populations of tasks"), ("MAML", "vmap over the meta-batch"), ("MAML", "one task at a time"),
        ("first-order MAML", "engine, populations of tasks"), ("first-order MAML", "vmap over the meta-batch"),
        ("first-order MAML", "one task at a time")]
    reptile, maml = rows[0], rows[2]
    assert reptile["gflops"] == pytest.approx(180 * STEP_PER_IMAGE_5 / 0.05 / 1e9)
    assert reptile["fraction_of_matmul"] == pytest.approx(reptile["gflops"] / 100.0)
    assert reptile["hours_per_run"] == pytest.approx(0.05 * 200_000 / 3600)  # the cell's 200,000 outer iterations
    assert maml["gflops"] == pytest.approx(32 * 20 * STEP_PER_IMAGE_5 / 0.5 / 1e9)
    assert maml["hours_per_run"] == pytest.approx(0.5 * 60_000 / 3600)
    assert rows[1]["seconds_per_iteration"] == 0.25 and rows[3]["seconds_per_iteration"] == 1.0
    assert rows[6]["seconds_per_iteration"] == 0.4


def test_the_onednn_rows_on_a_cpu_with_the_fused_kernels(monkeypatch):
    """Reptile and the engine's MAML timed twice, the default path (onednn=False, whatever the environment says) and
    oneDNN's convolutions where they pay; vmap and the loop once."""
    monkeypatch.setattr(B, "onednn_timed", lambda device: True)
    calls = []
    monkeypatch.setattr(B, "reptile_seconds", lambda name, seconds, device, onednn=False:
                        calls.append(("Reptile", onednn)) or (0.04 if onednn else 0.05))
    monkeypatch.setattr(B, "maml_seconds", lambda name, fo, seconds, device, path="engine", onednn=False:
                        calls.append((path, onednn)) or (0.3 if onednn else 0.5))
    rows = B.run(("1-shot 5-way",), 1.0, torch.device("cpu"), matmul=100.0, loop=False)
    assert [(r["algorithm"], r["path"], r["seconds_per_iteration"]) for r in rows] == [
        ("Reptile", "engine, population of 1", 0.05),
        ("Reptile", "engine, population of 1, oneDNN where it pays", 0.04),
        *((a, p, t) for a in ("MAML", "first-order MAML")
          for p, t in (("engine, populations of tasks", 0.5),
                       ("engine, populations of tasks, oneDNN where it pays", 0.3), ("vmap over the meta-batch", 0.5)))]
    assert calls == [("Reptile", False), ("Reptile", True)] + [("engine", False), ("engine", True), ("vmap", False)] * 2


@pytest.mark.parametrize("path,onednn", [("engine", False), ("vmap", False), ("engine", True)])
def test_one_real_timing(path, onednn):
    torch.set_num_threads(1)
    s = B.maml_seconds("1-shot 5-way", True, 0.01, torch.device("cpu"), path, onednn)
    assert math.isfinite(s) and 0 < s < 60


def test_the_status_view_reads_stored_reports(tmp_path, monkeypatch):
    import json

    from reptile.artifacts.speed import maml_view

    assert "not yet run" in maml_view(tmp_path).caption
    monkeypatch.setattr(B, "onednn_timed", lambda device: False)
    monkeypatch.setattr(B, "reptile_seconds", lambda name, seconds, device, onednn=False: 0.05)
    monkeypatch.setattr(B, "maml_seconds",
                        lambda name, fo, seconds, device, path="engine", onednn=False: 0.2 if fo else 0.5)
    report = {"device": "cpu-test", "matmul_gflops_1_thread": 100.0, "seconds_per_measurement": 1.0,
              "maml_outer_iters": B.MAML_OUTER_ITERS, "second_order_factor": B.SECOND_ORDER_FACTOR,
              "load_average": [1.0, 1.0, 1.0], "environment": {"git_commit": "abcdef0123"},
              "rows": B.run(("1-shot 5-way",), 1.0, torch.device("cpu"), matmul=100.0)}
    (tmp_path / "bench" / "maml").mkdir(parents=True)
    (tmp_path / "bench" / "maml" / "cpu-test.json").write_text(json.dumps(report))
    view = maml_view(tmp_path)
    frame = view.frame
    assert len(frame) == 7 and "60,000 outer iterations" in view.caption and "cpu-test" in view.caption
    row = frame.loc[("1-shot 5-way", "MAML", "vmap")]  # one device: named in the caption, not a column
    assert row["ms per outer iteration"] == "500" and row["hours per seed"] == "8.3"


def test_the_command_refuses_a_setting_maml_does_not_time(capsys):
    from reptile.bench import cli as bench_cli

    with pytest.raises(SystemExit) as stop:
        bench_cli.main(["--maml", "--settings", "Figure 3, 4 steps"])
    assert stop.value.code == 2
    assert "--maml --settings Figure 3, 4 steps: allowed: one or more of the cells 1-shot 5-way" in capsys.readouterr().err


def test_the_view_of_a_report_without_a_matmul_rate(tmp_path, monkeypatch):
    import json

    from reptile.artifacts.speed import maml_view

    monkeypatch.setattr(B, "onednn_timed", lambda device: False)
    monkeypatch.setattr(B, "reptile_seconds", lambda name, seconds, device, onednn=False: 0.01)
    monkeypatch.setattr(B, "maml_seconds", lambda name, fo, seconds, device, path="engine", onednn=False: 0.1)
    report = {"device": "some-gpu", "matmul_gflops_1_thread": None, "seconds_per_measurement": 1.0,
              "maml_outer_iters": B.MAML_OUTER_ITERS, "second_order_factor": B.SECOND_ORDER_FACTOR,
              "load_average": [0.5, 0.5, 0.5], "environment": {},
              "rows": B.run(("1-shot 5-way",), 1.0, torch.device("cpu"), matmul=0.0)}
    assert all(r["fraction_of_matmul"] is None for r in report["rows"])
    (tmp_path / "bench" / "maml").mkdir(parents=True)
    (tmp_path / "bench" / "maml" / "some-gpu.json").write_text(json.dumps(report))
    view = maml_view(tmp_path)
    assert set(view.frame["% of matmul rate"]) == {"-"} and "rate not measured" in view.caption


def test_the_view_of_a_cpu_and_a_gpu_report(tmp_path, monkeypatch):
    """Reports of two devices: the table gains a device level, and the caption gives each device's rate as measured
    (a CPU's on one thread, a GPU's in float32)."""
    import json

    from reptile.artifacts.speed import maml_view

    monkeypatch.setattr(B, "onednn_timed", lambda device: False)
    monkeypatch.setattr(B, "reptile_seconds", lambda name, seconds, device, onednn=False: 0.01)
    monkeypatch.setattr(B, "maml_seconds", lambda name, fo, seconds, device, path="engine", onednn=False: 0.1)
    (tmp_path / "bench" / "maml").mkdir(parents=True)
    for name, device, rate, created in (("cpu-test", "cpu", 100.0, "2026-12-07T00:39:34Z"),
                                        ("some-gpu", "cuda:0", 50_000.0, "2026-12-06T03:46:24Z")):
        report = {"device": name, "matmul_gflops_1_thread": rate, "seconds_per_measurement": 1.0,
                  "maml_outer_iters": B.MAML_OUTER_ITERS, "second_order_factor": B.SECOND_ORDER_FACTOR,
                  "load_average": [0.5, 0.5, 0.5], "environment": {"device": device}, "created": created,
                  "rows": B.run(("1-shot 5-way",), 1.0, torch.device("cpu"), matmul=rate)}
        (tmp_path / "bench" / "maml" / f"{name}.json").write_text(json.dumps(report))
    view = maml_view(tmp_path)
    assert len(view.frame) == 14 and view.frame.index.names[0] == "device"
    assert "cpu-test: matrix multiply 100 GFLOP/s on one thread" in view.caption
    assert "some-gpu: matrix multiply 50,000 GFLOP/s in float32" in view.caption
    # the MAML chapter's view: the report made last only, the device named in the caption
    latest = maml_view(tmp_path, latest=True)
    assert len(latest.frame) == 7 and "device" not in latest.frame.index.names
    assert "cpu-test: matrix multiply" in latest.caption and "some-gpu" not in latest.caption
