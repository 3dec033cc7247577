"""The results store: one JSON file per run, written atomically (the record of what produced it is
:mod:`reptile.provenance`'s).

Layout: ``<results root>/<experiment>/<config name>/seed-<seed>.json``. The root is the ``results_dir`` argument,
else ``$REPTILE_RESULTS``, else the repository's ``results/``.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import signal
import socket
import sys
import tempfile
import threading
import time
import warnings
from pathlib import Path
from typing import Any, BinaryIO, Callable, Sequence

from .validate import parse_bool, resolve_device, validate_seeds

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
    ``time.perf_counter()`` at the start of the run; ``env`` the :func:`reptile.provenance.environment` taken then."""
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
