"""The benchmark's arithmetic and report (timings themselves are never asserted)."""

import pytest

from reptile import bench
from reptile.artifacts.status import bench_table
from reptile.engine import fused


def test_useful_work_is_counted_by_hand():
    convs = 14 * 14 * 9 * 1 * 64 + 7 * 7 * 576 * 64 + 4 * 4 * 576 * 64 + 2 * 2 * 576 * 64
    assert bench.forward_flops(5) == 2 * (convs + 256 * 5)
    first = 2 * 14 * 14 * 9 * 64
    assert bench.step_flops(5, 10) == 10 * (3 * bench.forward_flops(5) - first)
    cfg = bench.setting("1-shot 5-way")
    assert bench.eval_task_flops(cfg) == (86 * bench.step_flops(5, 5) + bench.forward_flops(5) * (5 * 6 + 5))


def test_report_has_every_path_and_ratios_to_the_reference(monkeypatch):
    monkeypatch.setattr("reptile.engine.threads.cores", lambda: 1)  # no multi-process rows in a unit test
    report = bench.run(seconds=0.01, sizes=(1, 2), device="cpu", settings=("1-shot 5-way",), progress=False)
    paths = [r["path"] for r in report["rows"]]
    with_fused = fused.library() is not None  # then the PyTorch path is timed too
    assert paths == ["reference", "solo", "population of 1", "population of 2"] + \
        ["population of 2, PyTorch kernels"] * with_fused
    assert report["fused_kernels"] is with_fused
    assert all(r["run_steps_per_s"] > 0 for r in report["rows"])
    table = bench_table(report)
    assert table.loc[0, "train x reference"] == 1.0
    row = report["rows"][2]
    assert table.loc[2, "train GFLOP/s"] == pytest.approx(row["run_steps_per_s"] * bench.step_flops(5, 5) / 1e9)
    assert table.loc[2, "train % of matmul"] == pytest.approx(100 * table.loc[2, "train GFLOP/s"]
                                                              / report["matmul_gflops"]["1"])


def test_bench_refuses_bad_options():
    with pytest.raises(SystemExit):
        bench.main(["--seconds", "0"])
    with pytest.raises(SystemExit):
        bench.main(["--tf"])
