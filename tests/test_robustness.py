"""Bad input and bad states found by review: each fails early, with a message naming the value or file and what to do.

Unknown notebook parameters, booleans and dicts given as strings, an unwritable results folder, truncated results
and checkpoints, temporary files of killed writes, and a wrong data root.
"""

from __future__ import annotations

import io
import os
import signal
import subprocess
import sys
import textwrap
import time
import urllib.error
import zipfile
from pathlib import Path

import nbformat
import pytest
import torch

from reptile.data import miniimagenet as mini
from reptile.data import omniglot
from reptile import results as R
from reptile import validate
from reptile.config import FEWSHOT_PRESETS, SINE_PRESETS, resolve
from reptile.data.datasets import DataNotFoundError
from reptile.notebook import check_parameters
from reptile.train import load_checkpoint, save_checkpoint

ROOT = Path(__file__).resolve().parents[1]
CHAPTERS = ("sine", "taylor", "manifolds", "fewshot", "status")


class FakeConfig:
    """What compute_or_load needs of a configuration."""

    def __init__(self, name="cfg", digest="d1"):
        self.name, self._digest = name, digest

    def digest(self):
        return self._digest

    def to_dict(self):
        return {"name": self.name}


def _storing(calls, results_dir=None, experiment="exp", config=None):
    config = config or FakeConfig()

    def compute(seed):
        calls.append(seed)
        R.save_run({"experiment": experiment, "name": config.name, "digest": config.digest(), "seed": seed},
                   R.run_path(experiment, config.name, seed, results_dir))

    return compute


def _listing(folder: Path) -> list[tuple[str, int]]:
    return sorted((str(p.relative_to(folder)), p.stat().st_size if p.is_file() else -1) for p in folder.rglob("*"))


# ------------------------------------------------------------------------- 2. unknown parameters (direct papermill)

def _tiny_notebook(path: Path, body: str) -> Path:
    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    params = nbformat.v4.new_code_cell("preset = 'ci'\nrecompute = False\noverrides = {}")
    params.metadata["tags"] = ["parameters"]
    check = nbformat.v4.new_code_cell(
        'from reptile.notebook import check_parameters; check_parameters(globals(), "preset recompute overrides")')
    nb.cells = [params, check, nbformat.v4.new_code_cell(body)]
    nbformat.write(nb, path)
    return path


def test_papermill_with_an_unknown_parameter_fails_naming_it(tmp_path):
    import papermill as pm

    nb = _tiny_notebook(tmp_path / "t.ipynb", "print('ran with', preset)")
    with pytest.raises(pm.PapermillExecutionError) as e:
        pm.execute_notebook(str(nb), str(tmp_path / "out.ipynb"), parameters={"tyop": 3}, progress_bar=False,
                            kernel_name="python3")
    assert "ValueError" in e.value.ename
    assert ("unknown parameter 'tyop': this chapter's parameters are preset, recompute, overrides"
            in e.value.evalue)
    out = nbformat.read(tmp_path / "out.ipynb", as_version=4)
    assert not any("ran with" in o.get("text", "") for c in out.cells for o in c.get("outputs", []))


def test_check_parameters_ignores_the_kernels_names_and_runs_once():
    ns = {"In": [], "Out": {}, "get_ipython": print, "exit": None, "quit": None, "open": open, "_": 1, "_i1": "",
          "preset": "ci", "os": os, "f": lambda: 0}
    check_parameters(ns, "preset seed")
    ns2 = {"preset": "ci", "tyop": 3, "seeed": 1}
    with pytest.raises(ValueError, match=r"unknown parameters 'seeed', 'tyop': this chapter's parameters are "
                                         r"preset, seed"):
        check_parameters(ns2, ["preset", "seed"])
    ns["runs"] = []  # a later cell defined it; re-running the check cell is harmless
    check_parameters(ns, "preset seed")


@pytest.mark.parametrize("chapter", CHAPTERS)
def test_every_chapter_checks_its_parameters_right_after_the_parameters_cell(chapter):
    """The cell after the parameters cell and the setup cell (reptile.launch; papermill's injected cell lands
    before both) calls check_parameters with exactly the names the parameters cell declares."""
    import papermill as pm

    path = ROOT / "book" / f"{chapter}.ipynb"
    nb = nbformat.read(path, as_version=4)
    code = [c for c in nb.cells if c.cell_type == "code"]
    assert "parameters" in code[0].metadata.get("tags", [])
    assert code[1].id == "reptile-setup", f"{path}: the setup cell follows the parameters cell"
    check = code[2].source
    assert "check_parameters(globals()" in check, f"{path}: the cell after the setup cell must check the parameters"
    namespace: dict = {}
    exec(code[0].source, namespace)  # the defaults alone pass the check
    namespace.pop("__builtins__")
    exec(check, namespace)
    declared = set(pm.inspect_notebook(str(path)))
    namespace = {k: None for k in declared} | {"tyop": 3}
    with pytest.raises(ValueError, match="unknown parameter 'tyop'") as e:
        exec(check, namespace)
    listed = str(e.value).split("parameters are ")[1].split(". ")[0].split(", ")
    assert set(listed) == declared


# --------------------------------------------------------------------------------- 3. booleans given as strings

@pytest.mark.parametrize("text,value", [("false", False), ("False", False), ("FALSE", False), ("true", True),
                                        (" True ", True), (False, False), (True, True)])
def test_boolean_overrides_parse_strictly(text, value):
    assert resolve(FEWSHOT_PRESETS, "ci", {"meta.anneal": text}).meta.anneal is value
    assert all(m.anneal is value for m in resolve(SINE_PRESETS, "ci", {"anneal": text}).methods.values())


@pytest.mark.parametrize("bad", ["yes", "no", "0", "", 1, 0, None, [True]])
def test_boolean_overrides_reject_anything_else(bad):
    with pytest.raises(ValueError, match=r"meta\.anneal=.* is not allowed: meta\.anneal is True or False; allowed: "
                                         r"True, False, or the strings 'true'/'false' \(any case\)"):
        resolve(FEWSHOT_PRESETS, "ci", {"meta.anneal": bad})


def test_overrides_take_the_type_of_the_field_they_replace():
    cfg = resolve(FEWSHOT_PRESETS, "ci", {"eval_tasks": "30", "meta.outer_iters": 1e3, "meta.inner_lr": "1e-3",
                                          "meta.outer_step": 1, "meta.inner_betas": [0, "0.99"]})
    assert cfg.eval_tasks == 30 and cfg.meta.outer_iters == 1000
    assert cfg.meta.inner_lr == 1e-3 and type(cfg.meta.outer_step) is float
    assert cfg.meta.inner_betas == (0.0, 0.99)
    # an int for a float field is the same configuration as the float: same name, same stored results
    assert resolve(FEWSHOT_PRESETS, "ci", {"meta.outer_step": 1}).name == \
        resolve(FEWSHOT_PRESETS, "ci", {"meta.outer_step": 1.0}).name
    assert resolve(FEWSHOT_PRESETS, "ci", {"meta.outer_step": 0.7}).name == "ci"
    for overrides, message in [
        ({"eval_tasks": 2.5}, "eval_tasks=2.5 is not allowed: eval_tasks is an integer; allowed: an integer"),
        ({"eval_tasks": True}, "eval_tasks=True is not allowed: eval_tasks is an integer"),
        ({"eval_tasks": "many"}, "eval_tasks='many' is not allowed: eval_tasks is an integer"),
        ({"meta.inner_lr": "fast"}, "meta.inner_lr='fast' is not allowed: meta.inner_lr is a number"),
        ({"dataset": 3}, "dataset=3 is not allowed: dataset is a string; allowed: a string such as 'omniglot'"),
        ({"meta.inner_betas": 0.9}, "meta.inner_betas=0.9 is not allowed: meta.inner_betas is a list"),
    ]:
        with pytest.raises(ValueError, match=message.replace(".", r"\.").replace("(", r"\(")):
            resolve(FEWSHOT_PRESETS, "ci", overrides)


def test_fewshot_cli_parses_set_false_as_false(monkeypatch, capsys):
    from reptile.experiments import fewshot as FS

    seen = {}

    def fake(preset, seeds, recompute, overrides, *args, **kwargs):
        seen["cfg"] = resolve(FEWSHOT_PRESETS, preset, overrides)
        return []

    monkeypatch.setattr(FS, "load_or_run", fake)
    FS.main(["--preset", "ci", "--set", "meta.anneal=false", "--set", " eval_tasks = 30"])
    assert seen["cfg"].meta.anneal is False and seen["cfg"].eval_tasks == 30
    capsys.readouterr()
    seen.clear()
    for args, message in [(["--set", "meta.anneal"], "--set takes KEY=VALUE (e.g. "),
                          (["--set", "eval_tasks=10", "--set", "eval_tasks=20"],
                           "--set eval_tasks=... is given more than once; give each key once")]:
        with pytest.raises(SystemExit) as stop:
            FS.main(["--preset", "ci", *args])
        assert stop.value.code == 2 and message in capsys.readouterr().err, args
    assert seen == {}  # neither refused command reached load_or_run


def test_cli_reports_a_bad_boolean(tmp_store):
    proc = subprocess.run([sys.executable, "-m", "reptile.experiments.fewshot", "--preset", "ci", "--set",
                           "meta.anneal=yes"], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2
    assert ("error: meta.anneal='yes' is not allowed: meta.anneal is True or False; allowed: True, False, or the "
            "strings 'true'/'false' (any case)") in proc.stderr


@pytest.mark.parametrize("text,value", [("false", False), ("False", False), ("true", True), ("TRUE", True)])
def test_recompute_given_as_a_string(tmp_store, text, value):
    calls = []
    R.compute_or_load("exp", FakeConfig(), [0], False, _storing(calls))
    R.compute_or_load("exp", FakeConfig(), [0], text, _storing(calls))
    assert calls == ([0, 0] if value else [0])


@pytest.mark.parametrize("bad", ["yes", "1", 1, None])
def test_recompute_rejects_anything_else(tmp_store, bad):
    calls = []
    with pytest.raises(ValueError, match=r"recompute must be True or False, got .*; allowed: True, False, or the "
                                         r"strings 'true'/'false' \(any case\)"):
        R.compute_or_load("exp", FakeConfig(), [0], bad, _storing(calls))
    assert calls == [] and not (tmp_store / "results").exists()


def test_repeated_seeds_are_refused(tmp_store):
    with pytest.raises(ValueError, match=r"seeds \[0, 1, 0\] name \[0\] more than once; give each seed once"):
        R.compute_or_load("exp", FakeConfig(), [0, 1, 0], True, _storing([]))


# ----------------------------------------------------------------------------------- 4. dicts given as strings

@pytest.mark.parametrize("given,expected", [
    (None, {}), ({}, {}), ({"outer_iters": 100}, {"outer_iters": 100}), ("{'outer_iters': 100}", {"outer_iters": 100}),
    ('{"anneal": false, "x": null}', {"anneal": False, "x": None}), ("{}", {}), ("", {}), ("None", {}),
])
def test_parse_overrides(given, expected):
    assert validate.parse_overrides(given) == expected


@pytest.mark.parametrize("given", ["outer_iters: 100", "[1, 2]", "{'a': ", 3, ["outer_iters", 100]])
def test_parse_overrides_says_how_to_pass_a_dict(given):
    with pytest.raises(ValueError, match=r"overrides must be a dict.*-y \"overrides: \{outer_iters: 100\}\""):
        validate.parse_overrides(given)


def test_resolve_accepts_the_strings_papermill_passes():
    cfg = resolve(SINE_PRESETS, "ci", "{'outer_iters': 20, 'activation': 'relu'}", "['reptile', 'joint']")
    assert cfg.activation == "relu" and list(cfg.methods) == ["reptile", "joint"]
    assert all(m.outer_iters == 20 for m in cfg.methods.values())
    assert list(resolve(SINE_PRESETS, "ci", None, "reptile").methods) == ["reptile"]


def test_strings_from_the_papermill_command_line_reach_the_store(tmp_path):
    """papermill's -p turns "false" and "{...}" into strings: the chapter code path parses them (no AttributeError,
    recompute false does not recompute). Executed with papermill on a small chapter-like notebook."""
    import papermill as pm

    body = textwrap.dedent("""
        from reptile import results as R
        from reptile.config import SINE_PRESETS, resolve
        cfg = resolve(SINE_PRESETS, preset, overrides)
        calls = []
        def compute(seed):
            calls.append(seed)
            R.save_run({"experiment": "t", "name": cfg.name, "digest": cfg.digest(), "seed": seed},
                       R.run_path("t", cfg.name, seed))
        R.compute_or_load("t", cfg, [0], recompute, compute)
        print("outer_iters", cfg.methods["reptile"].outer_iters, "computed", calls)
    """)
    nb = _tiny_notebook(tmp_path / "t.ipynb", body)
    env = {"REPTILE_RESULTS": str(tmp_path / "results"), "REPTILE_CHECKPOINTS": str(tmp_path / "ckpt")}
    old = {k: os.environ.get(k) for k in env}
    os.environ.update(env)
    try:
        texts = []
        for recompute in ("true", "false"):
            out = pm.execute_notebook(str(nb), str(tmp_path / f"out-{recompute}.ipynb"), progress_bar=False,
                                      kernel_name="python3",
                                      parameters={"overrides": "{'outer_iters': 20}", "recompute": recompute})
            texts.append("".join(o.get("text", "") for o in out.cells[-1].outputs if o.get("name") == "stdout"))
    finally:
        for k, v in old.items():
            os.environ.pop(k) if v is None else os.environ.__setitem__(k, v)
    assert texts == ["outer_iters 20 computed [0]\n", "outer_iters 20 computed []\n"]


# ------------------------------------------------------------------------------ 5. an unwritable results folder

def test_unwritable_results_folder_fails_before_computing(tmp_path, monkeypatch):
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    monkeypatch.setenv("REPTILE_RESULTS", str(blocker / "results"))
    monkeypatch.setenv("REPTILE_CHECKPOINTS", str(tmp_path / "ckpt"))
    calls = []
    with pytest.raises(R.NotWritableError) as e:
        R.compute_or_load("exp", FakeConfig(), [0], False, _storing(calls))
    msg = str(e.value)
    assert calls == []
    assert f"cannot write the results folder {blocker / 'results' / 'exp' / 'cfg'}" in msg
    assert "nothing was run. Set $REPTILE_RESULTS (or pass results_dir=...) to a folder you can write" in msg


def test_unwritable_checkpoint_root_fails_before_computing(tmp_path, monkeypatch):
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    monkeypatch.setenv("REPTILE_RESULTS", str(tmp_path / "results"))
    monkeypatch.setenv("REPTILE_CHECKPOINTS", str(blocker / "ckpt"))
    calls = []
    with pytest.raises(R.NotWritableError, match=r"cannot write the checkpoint folder .*a-file/ckpt .*Set "
                                                 r"\$REPTILE_CHECKPOINTS \(or pass checkpoint_dir=\.\.\.\)"):
        R.compute_or_load("exp", FakeConfig(), [0], False, _storing(calls))
    assert calls == [] and not (tmp_path / "results").exists(), "the probe leaves no folders behind"
    # an experiment without checkpoints does not need the checkpoint root
    R.compute_or_load("exp", FakeConfig(), [0], False, _storing(calls), checkpoints=False)
    assert calls == [0]


def test_read_only_results_folder_fails_before_computing(tmp_path, monkeypatch):
    (tmp_path / "ro").mkdir()
    monkeypatch.setenv("REPTILE_RESULTS", str(tmp_path / "ro"))
    monkeypatch.setenv("REPTILE_CHECKPOINTS", str(tmp_path / "ckpt"))
    real = R.tempfile.mkstemp

    def refuse(*args, dir=None, **kwargs):  # a read-only folder, as the system says it (root is never refused)
        if Path(dir) == tmp_path / "ro" / "exp" / "cfg":
            raise PermissionError(13, "Permission denied")
        return real(*args, dir=dir, **kwargs)

    monkeypatch.setattr(R.tempfile, "mkstemp", refuse)
    calls = []
    with pytest.raises(R.NotWritableError, match=r"cannot write the results folder .*\(PermissionError: Permission "
                                                 r"denied\); nothing was run"):
        R.compute_or_load("exp", FakeConfig(), [0], False, _storing(calls))
    assert calls == []


def test_loading_only_needs_no_writable_folder(tmp_store, tmp_path, monkeypatch):
    calls = []
    R.compute_or_load("exp", FakeConfig(), [0], False, _storing(calls))
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    monkeypatch.setenv("REPTILE_CHECKPOINTS", str(blocker / "ckpt"))
    assert [r["seed"] for r in R.compute_or_load("exp", FakeConfig(), [0], False, _storing(calls))] == [0]
    assert calls == [0]


# ------------------------------------------------------------------------- 6. truncated results and checkpoints

def test_truncated_results_file_names_the_file_and_the_fix(tmp_store):
    calls = []
    R.compute_or_load("exp", FakeConfig(), [0, 3], False, _storing(calls))
    bad = R.run_path("exp", "cfg", 3)
    bad.write_text(bad.read_text()[:20])
    with pytest.raises(R.ResultsFileError) as e:
        R.load_runs("exp", "cfg")
    msg = str(e.value)
    assert f"cannot read the results file {bad} (JSONDecodeError" in msg
    assert f"Delete it ({bad}) or rerun seed 3 with recompute=True" in msg
    # before any computing: asking for a new seed stops at the damaged file, not after training
    with pytest.raises(R.ResultsFileError, match="seed-3.json"):
        R.compute_or_load("exp", FakeConfig(), [5], False, _storing(calls))
    assert calls == [0, 3]
    # recomputing that seed overwrites the damaged file
    runs = R.compute_or_load("exp", FakeConfig(), [3], True, _storing(calls))
    assert [r["seed"] for r in runs] == [0, 3] and calls == [0, 3, 3]


def test_load_all_raises_or_skips_and_reports_damaged_files(tmp_store):
    R.compute_or_load("exp", FakeConfig(), [0, 1], False, _storing([]))
    bad = R.run_path("exp", "cfg", 1)
    bad.write_bytes(b"")
    (bad.parent / "seed-2.json").write_text("[1, 2]")
    with pytest.raises(R.ResultsFileError, match=r"seed-1\.json.*Delete it"):
        R.load_all()
    with pytest.warns(UserWarning, match=r"skipped: ") as caught:
        runs = R.load_all(on_error="warn")
    assert [str(w.message).split(" (")[0] for w in caught] == [
        f"skipped: cannot read the results file {bad}", f"skipped: the results file {bad.parent / 'seed-2.json'} "
        f"is not a stored run"]
    assert [r["seed"] for r in runs] == [0]
    assert [p for p, _ in runs.unreadable] == [bad, bad.parent / "seed-2.json"]
    assert "is not a stored run" in runs.unreadable[1][1]
    assert [r["seed"] for r in R.load_all(on_error="skip")] == [0]
    with pytest.raises(ValueError, match="on_error must be 'raise', 'warn' or 'skip'"):
        R.load_all(on_error="ignore")


@pytest.mark.parametrize("damage", ["truncate", "empty", "garbage"])
def test_truncated_checkpoint_names_the_file_and_says_to_delete_it(tmp_path, damage):
    path = tmp_path / "ckpt" / "meta.pt"
    save_checkpoint(path, {"learner": {"phi": [torch.ones(100)]}, "iteration": 3})
    assert load_checkpoint(path)["iteration"] == 3
    data = path.read_bytes()
    path.write_bytes({"truncate": data[: len(data) // 2], "empty": b"", "garbage": b"\x00not a checkpoint"}[damage])
    with pytest.raises(R.CheckpointError) as e:
        load_checkpoint(path)
    msg = str(e.value)
    assert msg.startswith(f"cannot read the checkpoint {path} (")
    assert f"Delete it to start that run over from the beginning: rm '{path}'" in msg


# ------------------------------------------------------------------------------ 7. no debris from killed writes

WRITER = """
import sys, time
from pathlib import Path
from reptile.results import atomic_write
target, ready = Path(sys.argv[1]), Path(sys.argv[2])
def write(f):
    f.write(b"partial" * 1000)
    f.flush()
    ready.write_text("writing")
    time.sleep(60)
atomic_write(target, write)
"""


def _start_writer(tmp_path: Path, target: Path) -> subprocess.Popen:
    ready = tmp_path / f"ready-{time.monotonic_ns()}"
    proc = subprocess.Popen([sys.executable, "-c", WRITER, str(target), str(ready)])
    deadline = time.monotonic() + 60
    while not ready.exists():
        assert proc.poll() is None and time.monotonic() < deadline, "the writer did not start"
        time.sleep(0.05)
    return proc


def _temps(target: Path) -> list[Path]:
    return sorted(target.parent.glob(f".{target.name}.*.tmp"))


def test_sigterm_mid_write_leaves_no_temporary_file(tmp_path):
    target = tmp_path / "exp" / "cfg" / "seed-0.json"
    proc = _start_writer(tmp_path, target)
    assert len(_temps(target)) == 1
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(30) == -signal.SIGTERM, "the process still dies of the SIGTERM"
    assert _temps(target) == [] and not target.exists()


def test_sigkill_mid_write_debris_is_ignored_then_removed(tmp_path):
    results = tmp_path / "results"
    target = R.run_path("exp", "cfg", 0, results)
    proc = _start_writer(tmp_path, target)
    proc.kill()
    proc.wait(30)
    (stale,) = _temps(target)  # SIGKILL cannot be cleaned up after ...
    assert R.load_runs("exp", "cfg", results) == [] and R.load_all(results) == []  # ... loaders never read it ...
    R.save_run({"experiment": "exp", "name": "cfg", "digest": "d", "seed": 0}, target)
    assert _temps(target) == [], "... and the next write of the same file removes it"
    assert [r["seed"] for r in R.load_runs("exp", "cfg", results)] == [0]


def test_a_running_writers_temporary_file_is_left_alone(tmp_path):
    target = tmp_path / "cache.npz"
    proc = _start_writer(tmp_path, target)
    try:
        (theirs,) = _temps(target)
        R.atomic_write_bytes(target, b"mine")
        assert _temps(target) == [theirs] and target.read_bytes() == b"mine"
    finally:
        proc.kill()
        proc.wait(30)


def test_old_temporary_files_of_unknown_writers_are_removed(tmp_path):
    target = tmp_path / "seed-0.json"
    old_style = tmp_path / ".seed-0.json.abc123_x.tmp"
    other_host = tmp_path / ".seed-0.json.k2j4h5.4242-00000000.tmp"
    fresh = tmp_path / ".seed-0.json.k2j4h6.4243-00000000.tmp"
    unrelated = tmp_path / ".seed-01.json.k2j4h5.tmp"
    for p in (old_style, other_host, fresh, unrelated):
        p.write_bytes(b"x")
    week_ago = time.time() - 7 * 24 * 3600
    for p in (old_style, other_host, unrelated):
        os.utime(p, (week_ago, week_ago))
    R.atomic_write_bytes(target, b"{}")
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted([target.name, fresh.name, unrelated.name])


# ----------------------------------------------------------------------------- 8. a wrong data root is not written

def _offline(calls):
    def fetch(url, folder, filename):
        calls.append(url)
        (folder / filename).write_bytes(b"partial")
        raise urllib.error.URLError("[Errno -2] Name or service not known")

    return fetch


@pytest.mark.parametrize("how", ["root", "env"])
def test_empty_data_root_is_left_empty(tmp_path, monkeypatch, how):
    root = tmp_path / "empty"
    root.mkdir()
    calls = []
    monkeypatch.setattr(omniglot, "_fetch", _offline(calls))
    monkeypatch.setenv("REPTILE_DATA", str(root))
    arg = root if how == "root" else None
    with pytest.raises(DataNotFoundError, match="download=True tried that and failed"):
        omniglot.load_omniglot(arg, cache_dir=tmp_path / "cache", download=True)
    assert calls, "a download was tried (an empty folder is a new data root)"
    with pytest.raises(DataNotFoundError, match="Mini-ImageNet not found"):
        mini.load_miniimagenet(arg, cache_dir=tmp_path / "cache")
    assert list(root.iterdir()) == [], "nothing written into the data root"


@pytest.mark.parametrize("how", ["root", "env"])
def test_unrelated_folder_as_data_root_is_left_unchanged(tmp_path, monkeypatch, how):
    root = tmp_path / "home"
    (root / "photos").mkdir(parents=True)
    (root / "notes.txt").write_text("hello")
    (root / "photos" / "a.jpg").write_bytes(b"\xff\xd8")
    before = _listing(root)
    calls = []
    monkeypatch.setattr(omniglot, "_fetch", _offline(calls))
    monkeypatch.setenv("REPTILE_DATA", str(root))
    arg = root if how == "root" else None
    with pytest.raises(DataNotFoundError) as e:
        omniglot.load_omniglot(arg, cache_dir=tmp_path / "cache", download=True)
    assert calls == [], "no download into a folder that does not look like a data root"
    assert (f"no download was tried: the data root {root} holds other things (notes.txt, photos) and no omniglot/ "
            f"or miniimagenet/ folder") in str(e.value)
    assert f"create the folder {root / 'omniglot'} first" in str(e.value)
    with pytest.raises(DataNotFoundError):
        omniglot.load_omniglot(arg, cache_dir=tmp_path / "cache", download=False)
    with pytest.raises(DataNotFoundError, match="Mini-ImageNet not found"):
        mini.load_miniimagenet(arg, cache_dir=tmp_path / "cache")
    assert _listing(root) == before


def test_a_file_as_data_root(tmp_path, monkeypatch):
    root = tmp_path / "data.txt"
    root.write_text("x")
    calls = []
    monkeypatch.setattr(omniglot, "_fetch", _offline(calls))
    with pytest.raises(DataNotFoundError, match=r"the data root .*data\.txt is a file, not a folder"):
        omniglot.load_omniglot(root, cache_dir=tmp_path / "cache", download=True)
    with pytest.raises(DataNotFoundError):
        mini.load_miniimagenet(root, cache_dir=tmp_path / "cache")
    assert calls == [] and root.read_text() == "x"


def test_a_download_lands_only_when_complete(tmp_path, monkeypatch):
    """A download that fails on the second zip leaves nothing; one that succeeds puts both zips in place."""
    def fake_zip(set_name: str) -> bytes:
        buf = io.BytesIO()
        with zipfile.ZipFile(buf, "w") as z:
            z.writestr(f"{set_name}/Alpha/character01/0001_01.png", b"")
        return buf.getvalue()

    monkeypatch.setattr(omniglot, "EXPECTED", {"images_background": (1, 1), "images_evaluation": (1, 1)})
    monkeypatch.setattr(omniglot, "N_DRAWINGS", 1)
    root = tmp_path / "data"
    root.mkdir()

    def second_fails(url, folder, filename):
        if "evaluation" in url:
            raise urllib.error.URLError("timed out")
        (folder / filename).write_bytes(fake_zip("images_background"))

    with pytest.raises(DataNotFoundError):
        omniglot.locate(root, True, fetch=second_fails)
    assert list(root.iterdir()) == []

    def works(url, folder, filename):
        (folder / filename).write_bytes(fake_zip(url.rsplit("/", 1)[1][:-4]))

    found = omniglot.locate(root, True, fetch=works)
    assert sorted(p.name for p in (root / "omniglot").iterdir()) == ["images_background.zip",
                                                                     "images_evaluation.zip"]
    assert all(s.kind == "zip" for s in found.values())


# ------------------------------------------------------------------------------- divergence and non-finite input


def test_a_diverging_sine_run_stops_and_writes_nothing(tmp_store):
    from reptile.experiments.sine import load_or_run
    from reptile.validate import DivergedError

    with pytest.raises(DivergedError, match=r"sine/ci-custom-\w+ seed 0 reptile: the meta-parameters became NaN or "
                                            r"infinite at outer iteration \d+: .*Lower the inner step size \(inner_lr, "
                                            r"now 1000000.0\)"):
        load_or_run("ci", seeds=[0], overrides={"inner_lr": 1e6}, methods=["reptile"], device="cpu", progress=False)
    assert not list((tmp_store / "results").rglob("*.json"))


def test_a_huge_adam_step_is_caught_although_the_weights_stay_finite(tmp_store):
    """Adam moves every weight by about its step size whatever the gradient, and batch norm hides the scale, so with
    inner_lr = 1e6 the weights stay finite and the run used to store a chance-level result."""
    from reptile.experiments.fewshot import load_or_run
    from reptile.validate import DivergedError

    from test_fewshot import shared_data

    tiny = {"outer_iters": 4, "eval_tasks": 2, "curve_every": 4, "curve_tasks": 1, "meta.inner_lr": 1e6}
    with pytest.raises(DivergedError, match=r"grew beyond 1e\+06 in magnitude .* at outer iteration 1: the run "
                                            r"diverged and no result is written"):
        load_or_run("ci", seeds=[0], overrides=tiny, device="cpu", data_root=shared_data(), progress=False)
    assert not list((tmp_store / "results").rglob("*.json"))


@pytest.mark.parametrize("bad", [float("inf"), float("-inf"), float("nan")])
@pytest.mark.parametrize("chapter,key", [
    ("sine", "inner_lr"), ("sine", "outer_step"), ("sine", "eval_lr"), ("sine", "reptile.inner_betas"),
    ("fewshot", "meta.inner_lr"), ("fewshot", "meta.outer_step"), ("fewshot", "eval_tasks"),
    ("taylor", "alpha_max"), ("manifolds", "inner_lr"), ("manifolds", "outer_decay"),
])
def test_non_finite_settings_are_refused(chapter, key, bad, tmp_store):
    from reptile import config
    from reptile.experiments import manifolds as manifolds_experiment
    from reptile.experiments import taylor as taylor_experiment

    value = [0.0, bad] if key.endswith("betas") else bad
    resolve = {"sine": lambda o: config.resolve(config.SINE_PRESETS, "ci", o),
               "fewshot": lambda o: config.resolve(config.FEWSHOT_PRESETS, "ci", o),
               "taylor": lambda o: taylor_experiment.resolve("ci", o),
               "manifolds": lambda o: manifolds_experiment.resolve("ci", o)}[chapter]
    with pytest.raises(ValueError) as refused:
        resolve({key: value})
    # the message names the field and the value given (a refusal for some other reason would not)
    said = str(refused.value)
    assert key.split(".")[-1] in said and repr(bad) in said, said


# ------------------------------------------------------------------------------------- resume: the whole config


def test_resume_refuses_a_checkpoint_of_another_configuration(tmp_path):
    import torch

    from reptile import seeding
    from reptile.config import SINE_PRESETS
    from reptile.core import MetaLearner
    from reptile.sine import SineTasks, init_mlp, mse_loss_fn
    from reptile.train import train

    mc = SINE_PRESETS["ci"].methods["reptile"]
    dist = SineTasks()
    calls = {"n": 0}

    def sample(g):
        calls["n"] += 1
        if calls["n"] == 4:
            raise KeyboardInterrupt
        a, b = dist.sample(1, g)
        return [dist.training_task(a[0], b[0])]

    def learner():
        return MetaLearner(mse_loss_fn(), init_mlp((8,), 0), mc, seeding.generator(0, "inner"))

    ckpt = tmp_path / "meta.pt"
    run_config = {"experiment": "sine", "seed": 0, "config": {"train_shots": 12, "n_way": 5}}
    with pytest.raises(KeyboardInterrupt):
        train(learner(), sample, seeding.generator(0, "tasks"), 10, checkpoint=ckpt, checkpoint_every=2,
              progress=False, run_config=run_config)
    assert ckpt.exists()
    changed = {**run_config, "config": {"train_shots": 10, "n_way": 5}}
    with pytest.raises(ValueError, match=r"checkpoint .*meta.pt was written with another configuration: "
                                         r"run.config.train_shots \(12 in the checkpoint, 10 now\)\. delete .*meta.pt"):
        train(learner(), sample, seeding.generator(0, "tasks"), 10, checkpoint=ckpt, progress=False,
              run_config=changed)
    state = torch.load(ckpt, weights_only=False)
    state.pop("format")
    torch.save(state, ckpt)
    with pytest.raises(ValueError, match=r"written by an older version of this code \(format 1, now 2\)"):
        train(learner(), sample, seeding.generator(0, "tasks"), 10, checkpoint=ckpt, progress=False,
              run_config=run_config)


@pytest.mark.parametrize("hidden", [(True, 2), 5, (), (4, 2.0), (0,)])
def test_the_sine_networks_widths_are_integers(hidden):
    """A boolean is not a width, and a single number is not a list of them: both used to pass or fail with a bare
    TypeError."""
    from reptile import config

    with pytest.raises(ValueError, match=r"hidden must be a non-empty list of integers >= 1, got "):
        config.SineConfig(hidden=hidden)


def test_one_seed_rule_for_the_api_and_the_command_lines():
    """A seed beyond the random streams' range is refused by the API (notebooks, load_or_run) as by --seeds."""
    from reptile.validate import SEED_MAX

    assert SEED_MAX == 2**32 - 1 and validate.validate_seed(SEED_MAX) == SEED_MAX
    with pytest.raises(ValueError, match=r"seed must be an integer in 0\.\.4294967295, got 4294967296"):
        validate.validate_seed(SEED_MAX + 1)
    with pytest.raises(ValueError, match="seed must be an integer >= 0, got -1"):
        validate.validate_seeds([0, -1])
