"""Timing the authors' TensorFlow code: interleaved measurements and the CPU's features (reptile.bench.measure), the
long-lived timing server's client and the data layout for their run_omniglot.py (reptile.bench.tf_harness), the
load test and the record of it all (reptile.bench.authors_record).

The pure parts run everywhere (no TensorFlow). The tests that run the authors' code need the TensorFlow environment
(``make tf-env``: .venv-tf, or $REPTILE_TF_PYTHON) and a checkout of openai/supervised-reptile ($REPTILE_AUTHORS_CODE,
default /tmp/supervised-reptile); they are skipped only where one of the two is absent.
"""

import json
import os
import sys
import textwrap
import zipfile
from pathlib import Path

import pytest

from reptile.bench import authors_record, measure, tf_harness
from reptile.bench.measure import cpu_features, cpu_slug, interleaved

TF_PYTHON = Path(os.environ.get("REPTILE_TF_PYTHON", str(tf_harness.DEFAULT_PYTHON)))
AUTHORS_CODE = Path(os.environ.get("REPTILE_AUTHORS_CODE", "/tmp/supervised-reptile"))
needs_tf = pytest.mark.skipif(not TF_PYTHON.exists() or not (AUTHORS_CODE / "supervised_reptile" / "reptile.py")
                              .is_file(), reason="no TensorFlow environment (make tf-env) or no authors' checkout")


# ------------------------------------------------------------------------------------------------ interleaved


class Counter:
    """A fake measurement: returns the next of ``values`` and logs its name in a shared call log."""

    def __init__(self, name, values, log):
        self.name, self.values, self.log = name, list(values), log

    def __call__(self):
        self.log.append(self.name)
        return self.values[len([n for n in self.log if n == self.name]) - 1]


def test_interleaved_alternates_and_reports_ratios_per_pair():
    log = []
    r = interleaved(Counter("ours", [10.0, 12.0, 9.0], log), Counter("theirs", [5.0, 4.0, 6.0], log), 3)
    assert log == ["ours", "theirs"] * 3 == r["sequence"]
    assert r["ours"] == [10.0, 12.0, 9.0] and r["theirs"] == [5.0, 4.0, 6.0]
    assert r["ratios"] == pytest.approx([2.0, 3.0, 1.5])
    assert r["median"] == pytest.approx(2.0) and r["min"] == pytest.approx(1.5) and r["max"] == pytest.approx(3.0)
    assert r["spread"] == pytest.approx((3.0 - 1.5) / 2.0)
    assert r["repetitions"] == 3 and r["order"] == "ABAB"


def test_interleaved_abba_swaps_every_other_pair_and_keeps_pairs_aligned():
    log = []
    r = interleaved(Counter("ours", [1, 2, 3, 4], log), Counter("theirs", [1, 1, 2, 2], log), 4, order="ABBA")
    assert log == ["ours", "theirs", "theirs", "ours", "ours", "theirs", "theirs", "ours"]
    assert r["ratios"] == pytest.approx([1.0, 2.0, 1.5, 2.0]) and r["median"] == pytest.approx(1.75)


def test_interleaved_one_repetition_has_no_spread():
    r = interleaved(lambda: 3.0, lambda: 2.0, 1)
    assert r["ratios"] == [1.5] and r["min"] == r["max"] == r["median"] == 1.5 and r["spread"] == 0


@pytest.mark.parametrize("bad", [0.0, -1.0, float("nan"), float("inf"), None, "1", True])
def test_interleaved_refuses_a_bad_measurement(bad):
    with pytest.raises(ValueError, match=r"measurement 2 \(theirs\)"):
        interleaved(lambda: 1.0, lambda: bad, 2)


@pytest.mark.parametrize("reps, order", [(0, "ABAB"), (-1, "ABAB"), (1.5, "ABAB"), (True, "ABAB"), (2, "AABB")])
def test_interleaved_refuses_bad_arguments(reps, order):
    with pytest.raises(ValueError, match="repetitions|order"):
        interleaved(lambda: 1.0, lambda: 1.0, reps, order=order)


# ------------------------------------------------------------------------------------------------ the CPU

SAPPHIRE = textwrap.dedent("""\
    processor\t: 0
    vendor_id\t: GenuineIntel
    model name\t: Intel(R) Xeon(R) Platinum 8480+ @ 2.00GHz
    flags\t\t: fpu sse sse2 ssse3 fma sse4_1 sse4_2 avx f16c avx2 avx512f avx512dq avx512bw avx512vl avx_vnni \
avx512_bf16 avx512_vnni amx_bf16 avx512_fp16 amx_tile amx_int8

    processor\t: 1
    model name\t: something else
    flags\t\t: fpu
    """)
AVX2_ONLY = ("processor : 0\ncpu family : 23\nmodel : 49\nmodel name : AMD EPYC 7B12\nstepping : 0\n"
             "cpu MHz : 2250.000\nflags : fpu sse4_2 avx fma avx2 sha_ni\n")
ARM = "processor : 0\nBogoMIPS : 50.00\nFeatures : fp asimd evtstrm sve sve2\nCPU implementer : 0x41\nCPU part : 0xd4f\n"


def test_cpu_features_reads_model_and_vector_extensions_of_the_first_processor():
    c = cpu_features(SAPPHIRE)
    assert c["model"] == "Intel(R) Xeon(R) Platinum 8480+ @ 2.00GHz"
    assert c["features"] == ["sse4_2", "avx", "avx2", "fma", "avx512f", "avx512bw", "avx512vl", "avx512_vnni",
                             "avx512_bf16", "avx512_fp16", "avx_vnni", "amx_tile", "amx_bf16", "amx_int8"]
    assert c["avx2"] and c["avx512"] and c["amx"] and c["level"] == "amx"
    assert cpu_slug(c) == "intel-xeon-platinum-8480-amx" and c["family_model_stepping"] == "?/?/?"


def test_cpu_features_avx2_only_and_arm():
    c = cpu_features(AVX2_ONLY)
    assert c == {"model": "AMD EPYC 7B12", "features": ["sse4_2", "avx", "avx2", "fma"], "avx2": True,
                 "avx512": False, "amx": False, "level": "avx2", "family_model_stepping": "23/49/0", "mhz": "2250.000"}
    assert cpu_slug(c) == "amd-epyc-7b12-avx2"
    a = cpu_features(ARM)
    assert a["features"] == ["asimd", "sve", "sve2"] and a["level"] == "sve" and "0xd4f" in a["model"]
    assert cpu_features("")["level"] == "" and cpu_slug(cpu_features("")) == "cpu"


def test_cpu_features_of_this_machine_is_well_formed():
    c = cpu_features()
    assert isinstance(c["model"], str) and set(c["features"]) <= set(measure.VECTOR_FLAGS)
    assert cpu_slug(c) and "/" not in cpu_slug(c)


# ------------------------------------------------------------------------------------------------ settings


def test_transductive_flag_only_for_the_transductive_setting():
    for s in tf_harness.SETTINGS:
        flags = tf_harness.preset_flags(s)
        assert ("--transductive=1" in flags) is (s == "1shot-5way-transductive-eval25")
        assert ("--transductive=0" in flags) is (s != "1shot-5way-transductive-eval25")
    assert tf_harness.check_setting("omniglot-5shot-20way") == "5shot-20way"
    with pytest.raises(ValueError, match="allowed"):
        tf_harness.check_setting("1shot-5way-transductive")


# ------------------------------------------------------------------------------------------------ the server's client

FAKE_SERVER = textwrap.dedent("""\
    import json, sys
    args = sys.argv[1:]
    if "--fail" in open(sys.argv[0] + ".mode").read():
        sys.stderr.write("boom\\n"); sys.exit(3)
    print("a warning on stdout that is not JSON", flush=True)
    print(json.dumps({"ready": True, "tensorflow": "fake", "hyper": {}, "argv": args}), flush=True)
    for line in sys.stdin:
        words = line.split()
        if words[0] == "quit":
            break
        if words[0] == "train":
            s = float(words[1])
            print(json.dumps({"seconds_per_outer_iter": s / 10, "run_steps_per_s": 10 / s, "load": 1.0,
                              "cpu_seconds_per_outer_iter": s / 20, "cpu_share": 0.5, "outer_iters": 10}))
        elif words[0] == "evaluate":
            s = float(words[1])
            print(json.dumps({"seconds_per_eval_task": s, "eval_tasks": int(words[2]), "load": 1.0,
                              "cpu_seconds_per_eval_task": s / 2, "cpu_share": 0.5}))
        else:
            print(json.dumps({"error": "unknown"}))
        sys.stdout.flush()
    """)


@pytest.fixture
def fake_server(tmp_path, monkeypatch):
    script = tmp_path / "server.py"
    script.write_text(FAKE_SERVER)
    (tmp_path / "server.py.mode").write_text("")
    code = tmp_path / "code"
    (code / "supervised_reptile").mkdir(parents=True)
    (code / "supervised_reptile" / "reptile.py").write_text("")
    monkeypatch.setattr(tf_harness, "SCRIPT", script)
    return script, code


def test_authors_timer_speaks_the_serve_protocol(fake_server):
    script, code = fake_server
    with tf_harness.AuthorsTimer(sys.executable, code, "omniglot-1shot-20way") as t:
        assert t.info["tensorflow"] == "fake"
        assert "--serve" in t.info["argv"] and "--classes=20" in t.info["argv"]
        assert t.train(2.0)["seconds_per_outer_iter"] == pytest.approx(0.2)
        ev = t.evaluate(1.5, min_tasks=4)
        assert (ev["seconds_per_eval_task"], ev["eval_tasks"]) == (1.5, 4)
        with pytest.raises(ValueError):
            t.train(0)
        r = interleaved(lambda: 1.0, lambda: t.train(1.0)["run_steps_per_s"], 2)
        assert r["ratios"] == [0.1, 0.1]
    assert t.proc.returncode == 0
    with pytest.raises(RuntimeError, match="ended"):
        t.train(1.0)


def test_measure_load_runs_each_phase_beside_its_extra_processes_and_ends_them(fake_server, monkeypatch):
    script, code = fake_server
    monkeypatch.setattr(authors_record, "SPIN", "import time; time.sleep(120)")  # idle stand-ins, not busy loops
    started = []
    real_popen = authors_record.subprocess.Popen

    def popen(cmd, *a, **kw):
        proc = real_popen(cmd, *a, **kw)
        if cmd[-1] == authors_record.SPIN:
            started.append(proc)
        return proc

    monkeypatch.setattr(authors_record.subprocess, "Popen", popen)
    r = authors_record.measure_load(sys.executable, code, "1shot-5way", 0.5, 2, (0, 2), ours=lambda s, sec: 10.0,
                                ours_name="fake")
    assert [p["extra_busy_processes"] for p in r["phases"]] == [0, 2] and len(started) == 2
    assert all(p.returncode is not None for p in started)  # ended right after their phase
    for phase in r["phases"]:
        assert phase["authors_seconds_per_outer_iter"]["values"] == [0.05, 0.05]
        assert phase["ours_over_theirs_run_steps_per_s"]["ratios"] == pytest.approx([0.5, 0.5])
        assert phase["ours_over_theirs_run_steps_per_s"]["ours_name"] == "fake"
        assert phase["authors_cpu_share"] == [0.5, 0.5] and len(phase["ours_cpu_share"]) == 2
        assert phase["ratios_per_cpu_second"] == pytest.approx([0.5 * 0.5 / o for o in phase["ours_cpu_share"]])
    with pytest.raises(ValueError, match="extra"):
        authors_record.measure_load(sys.executable, code, "1shot-5way", 0.5, 2, (-1,))



def busy_rate(setting, seconds):
    """A stand-in for our training rate: 20 inner steps per second, after some CPU work (so a share of a core)."""
    return sum(range(50_000)) and 20.0


def test_record_writes_each_setting_its_interleaved_ratio_and_the_cpu(fake_server, tmp_path):
    """record() against the fake server: every setting's repeated train and evaluate measurements, the ratio of
    each interleaved pair (ours 20 steps/s over theirs 10 / 0.5 s), per CPU second too, in <out>/<cpu-slug>.json."""
    script, code = fake_server
    path = authors_record.record(code, tmp_path / "out", sys.executable,
                                 settings=["1shot-5way", "omniglot-5shot-20way"], seconds=0.5, eval_seconds=0.2,
                                 repetitions=2, ours=busy_rate, ours_name="fake", log=lambda line: None)
    doc = json.loads(path.read_text())
    assert path == tmp_path / "out" / f"{cpu_slug(doc['cpu'])}.json" and doc["tensorflow"] == "fake"
    assert sorted(doc["settings"]) == ["1shot-5way", "5shot-20way"] and doc["repetitions"] == 2
    for d in doc["settings"].values():
        assert d["seconds_per_outer_iter"]["values"] == [0.05, 0.05] and d["outer_iters"] == [10, 10]
        assert d["seconds_per_eval_task"]["values"] == [0.2, 0.2] and d["cpu_share_eval"] == [0.5, 0.5]
        r = d["ours_over_theirs_run_steps_per_s"]
        assert r["ours_name"] == "fake" and r["ours"] == [20.0, 20.0] and r["order"] == "ABAB"
        assert r["ratios"] == pytest.approx([1.0, 1.0])
        assert r["ratios_per_cpu_second"] == pytest.approx([0.5 / o for o in r["ours_cpu_share"]])
    assert "load_test" not in doc and len(doc["load_end"]) == 3
    with pytest.raises(ValueError, match="repetitions"):
        authors_record.record(code, tmp_path / "o2", sys.executable, repetitions=0)
    assert not (tmp_path / "o2").exists()


def test_authors_timer_reports_a_failed_start(fake_server):
    script, code = fake_server
    Path(str(script) + ".mode").write_text("--fail")
    with pytest.raises(tf_harness.AuthorsCodeUnavailable, match="TensorFlow could not be imported"):
        tf_harness.AuthorsTimer(sys.executable, code, "1shot-5way")


def test_authors_timer_names_what_is_missing(tmp_path):
    with pytest.raises(tf_harness.AuthorsCodeUnavailable, match="make tf-env"):
        tf_harness.AuthorsTimer(tmp_path / "no-python", tmp_path, "1shot-5way")
    with pytest.raises(tf_harness.AuthorsCodeUnavailable, match="git clone"):
        tf_harness.AuthorsTimer(sys.executable, tmp_path, "1shot-5way")
    with pytest.raises(tf_harness.AuthorsCodeUnavailable, match="run_omniglot.py"):
        (tmp_path / "supervised_reptile").mkdir()
        (tmp_path / "supervised_reptile" / "reptile.py").write_text("")
        tf_harness.time_run_omniglot(sys.executable, tmp_path, tmp_path, "1shot-5way")


# ------------------------------------------------------------------------------------------------ data layout


def test_prepare_omniglot_puts_both_zips_alphabets_side_by_side(tmp_path):
    zips = tmp_path / "zips"
    zips.mkdir()
    for name, alphabet in (("images_background", "Latin"), ("images_evaluation", "Kannada")):
        with zipfile.ZipFile(zips / f"{name}.zip", "w") as z:
            z.writestr(f"{name}/", "")
            z.writestr(f"{name}/{alphabet}/character01/0001_01.png", b"png")
    dest = tf_harness.prepare_omniglot(zips, tmp_path / "data" / "omniglot")
    assert sorted(p.name for p in dest.iterdir()) == ["Kannada", "Latin"]
    assert (dest / "Latin" / "character01" / "0001_01.png").read_bytes() == b"png"
    assert tf_harness.prepare_omniglot(tmp_path / "nowhere", dest) == dest  # done once
    with pytest.raises(FileNotFoundError, match="images_background.zip"):
        tf_harness.prepare_omniglot(tmp_path / "nowhere", tmp_path / "other")


# ------------------------------------------------------------------------------------------------ the real thing


@needs_tf
def test_authors_timer_times_their_code_for_every_setting():
    for setting in tf_harness.SETTINGS:
        with tf_harness.AuthorsTimer(TF_PYTHON, AUTHORS_CODE, setting, warmup=1) as t:
            hp = t.info["hyper"]
            assert {k: v for k, v in hp.items() if k != "preset"} == tf_harness.preset_values(setting)
            tr = t.train(0.2)
            assert tr["outer_iters"] >= 1 and tr["seconds_per_outer_iter"] > 0
            assert 0 < tr["cpu_seconds_per_outer_iter"] and 0 < tr["cpu_share"] < 1.5  # one thread, or about
            assert tr["seconds_per_outer_iter_p10"] <= tr["seconds_per_outer_iter_median"] * 1.0001
            assert tr["run_steps_per_s"] == pytest.approx(
                tr["outer_iters"] * hp["meta_batch"] * hp["inner_iters"] / tr["train_seconds"])
            ev = t.evaluate(0.1, min_tasks=1)
            assert ev["eval_tasks"] >= 1 and ev["seconds_per_eval_task"] > 0


@needs_tf
def test_run_omniglot_check_on_a_fake_dataset(tmp_path):
    """Their run_omniglot.py, unchanged, on 1,210 fake characters in their layout (12 links to one blank PNG each:
    their split keeps 1,200 for training, and 5-way test tasks need 5 more): the wrapper counts every train_step
    of their loop and times it."""
    from PIL import Image

    png = tmp_path / "blank.png"
    Image.new("1", (105, 105), color=1).save(png)
    root = tmp_path / "omniglot"
    for c in range(1210):
        d = root / f"Alphabet{c // 100:02d}" / f"character{c % 100 + 1:03d}"
        d.mkdir(parents=True)
        for i in range(12):
            (d / f"{c:04d}_{i:02d}.png").symlink_to(png)
    r = tf_harness.time_run_omniglot(TF_PYTHON, AUTHORS_CODE, root, "1shot-5way", iters=3, warmup_iters=1)
    assert r["timed_iters"] == 3 and r["warmup_iters"] == 1
    assert 0 < r["seconds_per_train_step_min"] <= r["seconds_per_train_step_median"] <= r["seconds_per_train_step_max"]
    assert r["seconds_per_loop_iter"] >= r["seconds_per_train_step_min"]
    assert len(r["train_step_seconds"]) == 3 and r["cpu_seconds_per_train_step_median"] > 0
    assert "--inner-iters" in r["argv"] and r["argv"][r["argv"].index("--inner-iters") + 1] == "12"
    assert r["threads"]["TF_NUM_INTRAOP_THREADS"] == "1"
    assert json.dumps(r)
