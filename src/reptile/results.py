"""The results store: one JSON file per run, written atomically, with the environment that produced it.

Layout: ``<results root>/<experiment>/<config name>/seed-<seed>.json``. The root is the ``results_dir`` argument,
else ``$REPTILE_RESULTS``, else the repository's ``results/``.
"""

from __future__ import annotations

import ast
import hashlib
import json
import os
import platform
import re
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import warnings
from datetime import datetime, timezone
from importlib import metadata
from pathlib import Path
from typing import Any, BinaryIO, Callable, Mapping, Sequence

import torch

REPO_ROOT = Path(__file__).resolve().parents[2]
SCHEMA_VERSION = 1


def config_digest(config: dict[str, Any]) -> str:
    """A short hash of a configuration's fields, its name excepted: runs with equal digests are seeds of one
    experiment, and a stored run whose digest differs from its preset's was made with other settings."""
    d = {k: v for k, v in config.items() if k != "name"}
    return hashlib.sha256(json.dumps(d, sort_keys=True).encode()).hexdigest()[:10]


def results_root(results_dir: str | os.PathLike | None = None) -> Path:
    if results_dir is not None:
        return Path(results_dir)
    if os.environ.get("REPTILE_RESULTS"):
        return Path(os.environ["REPTILE_RESULTS"])
    if (REPO_ROOT / "pyproject.toml").exists():
        return REPO_ROOT / "results"
    return Path.cwd() / "results"


def checkpoint_root(checkpoint_dir=None) -> Path:
    """Where runs keep their resume points: the argument, else ``$REPTILE_CHECKPOINTS``, else ``checkpoints/``."""
    if checkpoint_dir is not None:
        return Path(checkpoint_dir)
    if os.environ.get("REPTILE_CHECKPOINTS"):
        return Path(os.environ["REPTILE_CHECKPOINTS"])
    return REPO_ROOT / "checkpoints" if (REPO_ROOT / "pyproject.toml").exists() else Path.cwd() / "checkpoints"


def run_path(experiment: str, name: str, seed: int, results_dir=None) -> Path:
    return results_root(results_dir) / experiment / name / f"seed-{seed}.json"


_HOST_TAG = hashlib.sha256(socket.gethostname().encode()).hexdigest()[:8]
STALE_TEMP_SECONDS = 6 * 3600  # a temporary file of another machine (or of an unknown writer) older than this is debris


def _temp_pattern(name: str) -> re.Pattern:
    """The temporary files :func:`atomic_write` makes for the target ``name``: ``.<name>.<random>.<pid>-<host>.tmp``
    (and the older ``.<name>.<random>.tmp``, without the writer's process id)."""
    return re.compile(rf"^\.{re.escape(name)}\.[A-Za-z0-9_]+?(?:\.(\d+)-([0-9a-f]{{8}}))?\.tmp$")


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:  # PermissionError: it exists, under another user
        return True
    return True


def remove_stale_temp_files(path: Path) -> list[Path]:
    """Delete the temporary files that writers of ``path`` killed mid-write (SIGKILL, power loss) left behind: those
    of a process of this machine that no longer runs, and any older than ``STALE_TEMP_SECONDS``. A temporary file of
    a writer still running is left alone. Returns what was removed."""
    removed = []
    pattern = _temp_pattern(path.name)
    try:
        candidates = [p for p in path.parent.iterdir() if pattern.match(p.name)]
    except OSError:
        return removed
    now = time.time()
    for p in candidates:
        m = pattern.match(p.name)
        try:
            dead = m[1] is not None and m[2] == _HOST_TAG and int(m[1]) != os.getpid() and not _pid_alive(int(m[1]))
            if dead or now - p.stat().st_mtime > STALE_TEMP_SECONDS:
                p.unlink()
                removed.append(p)
        except OSError:  # gone meanwhile, or not ours to delete
            pass
    return removed


class _Terminated(BaseException):
    """SIGTERM arrived during an atomic write: cleaned up, then the signal is delivered again."""


def atomic_write(path: Path, write: Callable[[BinaryIO], Any]) -> None:
    """``write(f)`` into a temporary file in the same folder, then rename it to ``path``: readers see the old file or
    the new one, never half of one, and an interrupted write leaves no debris: an exception or a SIGTERM (when the
    process has no SIGTERM handler of its own) removes the temporary file before the process goes on dying, and the
    temporary files a SIGKILL leaves are removed by the next write of ``path`` (:func:`remove_stale_temp_files`).
    Loaders never read them (they are hidden files with another name)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    remove_stale_temp_files(path)
    handle_term = (threading.current_thread() is threading.main_thread()
                   and signal.getsignal(signal.SIGTERM) is signal.SIG_DFL)
    if handle_term:
        def on_term(signum, frame):
            raise _Terminated

        signal.signal(signal.SIGTERM, on_term)
    tmp = None
    try:
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=f".{os.getpid()}-{_HOST_TAG}.tmp")
        with os.fdopen(fd, "wb") as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException as e:
        if tmp is not None and os.path.exists(tmp):
            os.unlink(tmp)
        if isinstance(e, _Terminated):  # die of the SIGTERM, as the process would have without us
            signal.signal(signal.SIGTERM, signal.SIG_DFL)
            os.kill(os.getpid(), signal.SIGTERM)
            raise SystemExit(128 + signal.SIGTERM) from None
        raise
    finally:
        if handle_term:
            signal.signal(signal.SIGTERM, signal.SIG_DFL)


def atomic_write_bytes(path: Path, data: bytes) -> None:
    atomic_write(path, lambda f: f.write(data))


def make_record(experiment: str, config: Any, seed: int, env: dict[str, Any], started: float,
                **metrics: Any) -> dict[str, Any]:
    """The fields every stored run has, around the experiment's own ``metrics``. ``started`` is the
    ``time.perf_counter()`` at the start of the run; ``env`` the :func:`environment` taken then."""
    return {"schema": SCHEMA_VERSION, "experiment": experiment, "name": config.name, "digest": config.digest(),
            "seed": seed, "config": config.to_dict(), **metrics,
            "wall_seconds": round(time.perf_counter() - started, 3), "environment": env}


def save_run(record: dict[str, Any], path: Path) -> Path:
    atomic_write_bytes(path, (json.dumps(record, indent=1, sort_keys=False) + "\n").encode())
    return path


class ResultsFileError(ValueError):
    """A stored result file that cannot be read. The message names the file and what to do."""


class CheckpointError(ValueError):
    """A checkpoint that cannot be read (:func:`reptile.train.load_checkpoint`). The message names the file and
    says to delete it to start that run over."""


def _seed_of(path: Path) -> str:
    m = re.fullmatch(r"seed-(.+)\.json", path.name)
    return m[1] if m else "?"


def read_run(path: Path, required: Sequence[str] = ("experiment", "name", "seed", "digest")) -> dict[str, Any]:
    """One stored run; :class:`ResultsFileError` naming the file when it is truncated, damaged or not a run."""
    path = Path(path)
    seed = _seed_of(path)
    fix = (f"it is truncated or damaged (an interrupted copy?). Delete it ({path}) or rerun seed {seed} with "
           f"recompute=True, which overwrites it")
    try:
        record = json.loads(path.read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
        raise ResultsFileError(f"cannot read the results file {path} ({type(e).__name__}: {e}); {fix}") from e
    if not isinstance(record, dict) or any(k not in record for k in required):
        have = sorted(record)[:8] if isinstance(record, dict) else type(record).__name__
        raise ResultsFileError(f"the results file {path} is not a stored run (found {have}; expected the keys "
                               f"{', '.join(required)}); {fix}")
    return record


def load_runs(experiment: str, name: str, results_dir=None) -> list[dict[str, Any]]:
    """Every seed found for ``experiment``/``name``, sorted by seed. A file that cannot be read raises
    :class:`ResultsFileError` naming it."""
    folder = results_root(results_dir) / experiment / name
    runs = [read_run(p, ("seed",)) for p in sorted(folder.glob("seed-*.json"))]
    return sorted(runs, key=lambda r: r["seed"])


SEED_MAX = 2**32 - 1  # the largest seed: the random streams and Omniglot's split take any seed up to here


def validate_seed(seed: Any) -> int:
    """A run's seed: an integer in 0..:data:`SEED_MAX` (the one rule for the API, the notebooks and the command
    lines)."""
    if not isinstance(seed, int) or isinstance(seed, bool) or seed < 0:
        raise ValueError(f"seed must be an integer >= 0, got {seed!r}")
    if seed > SEED_MAX:
        raise ValueError(f"seed must be an integer in 0..{SEED_MAX}, got {seed!r}")
    return seed


def validate_seeds(seeds: Any) -> list[int]:
    """An integer or a non-empty list of integers >= 0."""
    if isinstance(seeds, int) and not isinstance(seeds, bool):
        seeds = [seeds]
    if not isinstance(seeds, (list, tuple)) or not seeds:
        raise ValueError(f"seeds must be a non-empty list of integers >= 0, got {seeds!r}")
    seeds = [validate_seed(s) for s in seeds]
    repeated = sorted({s for s in seeds if seeds.count(s) > 1})
    if repeated:
        raise ValueError(f"seeds {seeds} name {repeated} more than once; give each seed once")
    return seeds


TRUE_WORDS, FALSE_WORDS = ("true",), ("false",)


def parse_bool(value: Any, name: str) -> bool:
    """``True``/``False``, or the strings ``"true"``/``"false"`` in any case (what ``papermill -p x false`` and
    ``--set x=false`` give); anything else is a ValueError naming ``name``, the value and what is allowed."""
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.strip().lower() in TRUE_WORDS + FALSE_WORDS:
        return value.strip().lower() in TRUE_WORDS
    raise ValueError(f"{name} must be True or False, got {value!r}; allowed: True, False, or the strings "
                     f"'true'/'false' (any case)")


def parse_overrides(overrides: Any, name: str = "overrides") -> dict[str, Any]:
    """``overrides`` as a dict: None gives ``{}``, a mapping is copied, and a string (what ``papermill -p overrides
    "{'outer_iters': 100}"`` passes) is read as a Python or JSON literal that must be a dict."""
    how = (f"pass a dict such as {{'outer_iters': 100}}: with papermill, -y \"{name}: {{outer_iters: 100}}\" or "
           f"-p {name} \"{{'outer_iters': 100}}\"; with the runner, -p {name} \"{{'outer_iters': 100}}\"")
    if overrides is None:
        return {}
    if isinstance(overrides, Mapping):
        return dict(overrides)
    if isinstance(overrides, str):
        text = overrides.strip()
        if text in ("", "None", "null", "none"):
            return {}
        value: Any = None
        for parse in (ast.literal_eval, json.loads):
            try:
                value = parse(text)
                break
            except (ValueError, SyntaxError, TypeError, MemoryError, RecursionError):
                continue
        if isinstance(value, Mapping):
            return dict(value)
        raise ValueError(f"{name} must be a dict, got the string {overrides!r}, which is not a Python or JSON dict "
                         f"literal; {how}")
    raise ValueError(f"{name} must be a dict, got {type(overrides).__name__} {overrides!r}; {how}")


class NotWritableError(ValueError):
    """The results or checkpoint folder cannot be written: found before any work starts."""


def check_writable(folder: Path, what: str, fix: str) -> None:
    """Create ``folder`` (with its parents), write and delete a probe file in it, and remove again the folders this
    made, so that a run never learns at its final write that its results cannot be stored."""
    folder = Path(folder)
    made: list[Path] = []
    p = folder
    while not p.exists() and p != p.parent:
        made.append(p)
        p = p.parent
    try:
        folder.mkdir(parents=True, exist_ok=True)
        fd, probe = tempfile.mkstemp(dir=folder, prefix=".write-probe.", suffix=".tmp")
        os.close(fd)
        os.unlink(probe)
    except OSError as e:
        raise NotWritableError(f"cannot write the {what} folder {folder} ({type(e).__name__}: "
                               f"{e.strerror or e}); nothing was run. {fix}") from e
    finally:
        for d in made:  # deepest first; a folder another process filled meanwhile stays
            try:
                d.rmdir()
            except OSError:
                break


def compute_or_load(experiment: str, config: Any, seeds: Any, recompute: Any, compute: Callable[[int], Any],
                    results_dir=None, device: str = "auto", progress: bool = True,
                    checkpoint_dir=None, checkpoints: bool = True,
                    compute_all: Callable[[list[int]], Any] | None = None) -> list[dict[str, Any]]:
    """The compute-or-load step every chapter shares.

    Before any work: validates ``seeds``, ``recompute`` (a bool, or the string ``"true"``/``"false"``) and
    ``device``; reads the stored files it will return (a damaged one, or one written with another configuration,
    stops here, not after hours of training); and, when something is to be computed, checks that the results folder
    and (for an experiment that keeps ``checkpoints``) the checkpoint root, ``checkpoint_root(checkpoint_dir)``, can
    be written. Then calls ``compute(seed)`` (which writes the run's file) for each seed
    that is not stored yet, or for all of them with ``recompute`` (or ``compute_all(seeds)`` once, for an experiment
    that trains its seeds together as a population), and returns every seed stored for
    ``config.name``, refusing files written with another configuration (a different ``config.digest()``).
    """
    seeds = validate_seeds(seeds)
    recompute = parse_bool(recompute, "recompute")
    resolve_device(device)
    todo = [s for s in seeds if recompute or not run_path(experiment, config.name, s, results_dir).exists()]
    folder = results_root(results_dir) / experiment / config.name
    kept = [read_run(p, ("seed",)) for p in sorted(folder.glob("seed-*.json"))
            if p.name not in {f"seed-{s}.json" for s in todo}]  # the files of ``todo`` are about to be overwritten
    refuse_stale(experiment, config, kept)
    if todo:
        check_writable(run_path(experiment, config.name, todo[0], results_dir).parent, "results",
                       "Set $REPTILE_RESULTS (or pass results_dir=...) to a folder you can write.")
        if checkpoints:
            check_writable(checkpoint_root(checkpoint_dir), "checkpoint",
                           "Set $REPTILE_CHECKPOINTS (or pass checkpoint_dir=...) to a folder you can write.")
    if todo and compute_all is not None:
        if progress:
            print(f"running {experiment}/{config.name} seeds {todo} as one population -> "
                  f"{run_path(experiment, config.name, todo[0], results_dir).parent}", file=sys.stderr, flush=True)
        compute_all(todo)
        todo = []
    for seed in todo:
        path = run_path(experiment, config.name, seed, results_dir)
        if progress:
            print(f"running {experiment}/{config.name} seed {seed} -> {path}", file=sys.stderr, flush=True)
        compute(seed)
    runs = load_runs(experiment, config.name, results_dir)
    refuse_stale(experiment, config, runs)
    return runs


def refuse_stale(experiment: str, config: Any, runs: Sequence[dict[str, Any]]) -> None:
    """Refuse stored ``runs`` made with another configuration than ``config`` now defines (their digests differ)."""
    stale = [r["seed"] for r in runs if r.get("digest") != config.digest()]
    if stale:
        raise ValueError(f"results for {experiment}/{config.name} seeds {stale} were made with another configuration "
                         f"than the preset now defines; rerun them with recompute=True or move them away")


def pick_run(runs: Sequence[dict[str, Any]], seed: int | None = None) -> dict[str, Any]:
    """The run of ``seed`` among ``runs`` (the first one if ``seed`` is None)."""
    if not runs:
        raise ValueError("no runs to show: run the experiment first (load_or_run)")
    if seed is None:
        return runs[0]
    for r in runs:
        if r["seed"] == seed:
            return r
    raise ValueError(f"seed {seed!r} not among the stored seeds {[r['seed'] for r in runs]}")


def resolve_device(device: str = "auto") -> torch.device:
    """``"auto"``: CUDA when present, else the CPU. Otherwise any name ``torch.device`` accepts."""
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        dev = torch.device(device)
    except RuntimeError as e:
        raise ValueError(f"unknown device {device!r}; allowed: 'auto', 'cpu', 'cuda', 'cuda:N'") from e
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise ValueError(f"device {device!r} asked for, but CUDA is not available here; use 'auto' or 'cpu'")
    return dev


SOURCE_MANIFEST = "SOURCE.json"  # in a source tree exported without .git: {"commit": sha, "files": {path: sha256}}


def git_commit() -> dict[str, Any]:
    """The commit the code comes from and whether ``src/`` differs from it.

    A tree copied elsewhere (a GPU machine) may carry no ``.git``, or an older one, so a manifest written by
    :func:`write_source_manifest` (``make source-manifest``) names the commit sent: when every ``src/`` file still
    has the hash it records, that commit is the answer. Otherwise git says; without git, the manifest's commit with
    ``dirty`` true."""
    manifest = REPO_ROOT / SOURCE_MANIFEST
    m = json.loads(manifest.read_text()) if manifest.is_file() else None
    if m is not None and _source_hashes() == m["files"]:
        return {"commit": m["commit"], "dirty": False}

    def git(*args):
        return subprocess.run(["git", *args], cwd=REPO_ROOT, capture_output=True, text=True, timeout=10)

    try:
        head = git("rev-parse", "HEAD")
        if head.returncode == 0:
            dirty = git("status", "--porcelain", "--untracked-files=normal", "--", "src")
            return {"commit": head.stdout.strip(), "dirty": bool(dirty.stdout.strip())}
    except (OSError, subprocess.SubprocessError):
        pass
    return {"commit": m["commit"], "dirty": True} if m is not None else {"commit": None, "dirty": None}


def short_commit(env: dict[str, Any]) -> str:
    """``env``'s commit (a :func:`git_commit` result or an environment record), short, ``+dirty`` with uncommitted
    changes in ``src/``."""
    return (env.get("commit") or "unknown")[:7] + ("+dirty" if env.get("dirty") else "")


def _source_hashes() -> dict[str, str]:
    return {str(p.relative_to(REPO_ROOT)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted((REPO_ROOT / "src").rglob("*")) if p.is_file() and "__pycache__" not in p.parts}


def write_source_manifest(commit: str) -> Path:
    """Record ``commit`` and the hash of every ``src/`` file in an exported tree (see :func:`git_commit`)."""
    path = REPO_ROOT / SOURCE_MANIFEST
    atomic_write_bytes(path, json.dumps({"commit": commit, "files": _source_hashes()}, indent=1).encode())
    return path


# the environment variables that choose how the engine computes (not what): a result records those set, and a
# resumed run each piece's (reptile.engine.trainer)
ENGINE_SWITCHES = ("REPTILE_CUDA_GRAPHS", "REPTILE_COMPILE", "REPTILE_FEW_KERNELS", "REPTILE_FUSED", "REPTILE_ONEDNN")


def engine_switches() -> dict[str, str]:
    """The engine switches (:data:`ENGINE_SWITCHES`) set in the environment, which chose how the engine computed."""
    return {k: os.environ[k] for k in ENGINE_SWITCHES if k in os.environ}


def environment(device: torch.device) -> dict[str, Any]:
    """What produced a result: package versions, device, commit, machine, and the engine switches set."""
    pkgs = {}
    for name in ("torch", "torchvision", "numpy", "matplotlib", "pandas", "jupyter-book", "papermill", "nbval"):
        try:
            pkgs[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            pkgs[name] = None
    env = {
        "python": sys.version.split()[0],
        "packages": pkgs,
        "device": str(device),
        "device_name": torch.cuda.get_device_name(device) if device.type == "cuda" else platform.processor() or "cpu",
        "torch_threads": torch.get_num_threads(),
        "cpu_count": os.cpu_count(),
        "platform": platform.platform(),
        "date": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        **git_commit(),
        "switches": engine_switches(),
    }
    return env


class LoadedRuns(list):
    """The runs :func:`load_all` read (a list), and ``unreadable``: ``(path, reason)`` of the files it skipped."""

    unreadable: list[tuple[Path, str]]

    def __init__(self, runs=(), unreadable=()):
        super().__init__(runs)
        self.unreadable = list(unreadable)


def load_all(results_dir=None, on_error: str = "raise") -> LoadedRuns:
    """Every run stored under the results root, sorted by experiment, configuration and seed.

    ``on_error``: what a file that cannot be read does: ``"raise"`` (:class:`ResultsFileError` naming it),
    ``"warn"`` (a warning naming it, and it is skipped) or ``"skip"`` (skipped silently). Skipped files are listed
    in the result's ``unreadable`` attribute, so a page can report them without failing the whole book.
    """
    if on_error not in ("raise", "warn", "skip"):
        raise ValueError(f"on_error must be 'raise', 'warn' or 'skip', got {on_error!r}")
    root = results_root(results_dir)
    runs, bad = [], []
    for p in sorted(root.glob("*/*/seed-*.json")):
        try:
            runs.append(read_run(p, ("experiment", "name", "seed")))
        except ResultsFileError as e:
            if on_error == "raise":
                raise
            bad.append((p, str(e)))
            if on_error == "warn":
                warnings.warn(f"skipped: {e}", stacklevel=2)
    return LoadedRuns(sorted(runs, key=lambda r: (r["experiment"], r["name"], r["seed"])), bad)


def show(table, index: bool = True) -> None:
    """Print a table (a pandas DataFrame) whole, for the command lines: every column, no wrapping, floats to 3
    significant digits."""
    print(table.to_string(index=index, float_format="{:.3g}".format))
