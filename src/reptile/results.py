"""The results store: one JSON file per run, written atomically, with the environment that produced it.

Layout: ``<results root>/<experiment>/<config name>/seed-<seed>.json``. The root is the ``results_dir`` argument,
else ``$REPTILE_RESULTS``, else the repository's ``results/``.
"""

from __future__ import annotations

import hashlib
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from datetime import datetime, timezone
from importlib import metadata
from pathlib import Path
from typing import Any, BinaryIO, Callable, Sequence

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


def atomic_write(path: Path, write: Callable[[BinaryIO], Any]) -> None:
    """``write(f)`` into a temporary file in the same folder, then rename it to ``path``: readers see the old file or
    the new one, never half of one, and an interrupted write leaves no debris."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


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


def load_runs(experiment: str, name: str, results_dir=None) -> list[dict[str, Any]]:
    """Every seed found for ``experiment``/``name``, sorted by seed."""
    folder = results_root(results_dir) / experiment / name
    runs = [json.loads(p.read_text()) for p in sorted(folder.glob("seed-*.json"))]
    return sorted(runs, key=lambda r: r["seed"])


def validate_seed(seed: Any) -> int:
    if not isinstance(seed, int) or isinstance(seed, bool) or seed < 0:
        raise ValueError(f"seed must be an integer >= 0, got {seed!r}")
    return seed


def validate_seeds(seeds: Any) -> list[int]:
    """An integer or a non-empty list of integers >= 0."""
    if isinstance(seeds, int) and not isinstance(seeds, bool):
        seeds = [seeds]
    if not isinstance(seeds, (list, tuple)) or not seeds:
        raise ValueError(f"seeds must be a non-empty list of integers >= 0, got {seeds!r}")
    return [validate_seed(s) for s in seeds]


def compute_or_load(experiment: str, config: Any, seeds: Any, recompute: Any, compute: Callable[[int], Any],
                    results_dir=None, device: str = "auto", progress: bool = True) -> list[dict[str, Any]]:
    """The compute-or-load step every chapter shares.

    Validates ``seeds``, ``recompute`` and ``device`` before any work; calls ``compute(seed)`` (which writes the
    run's file) for each seed that is not stored yet, or for all of them with ``recompute``; then returns every seed
    stored for ``config.name``, refusing files written with another configuration (a different ``config.digest()``).
    """
    seeds = validate_seeds(seeds)
    if not isinstance(recompute, bool):
        raise ValueError(f"recompute must be True or False, got {recompute!r}")
    resolve_device(device)
    for seed in seeds:
        path = run_path(experiment, config.name, seed, results_dir)
        if recompute or not path.exists():
            if progress:
                print(f"running {experiment}/{config.name} seed {seed} -> {path}", file=sys.stderr, flush=True)
            compute(seed)
    runs = load_runs(experiment, config.name, results_dir)
    stale = [r["seed"] for r in runs if r["digest"] != config.digest()]
    if stale:
        raise ValueError(f"results for {experiment}/{config.name} seeds {stale} were made with another configuration "
                         f"than the preset now defines; rerun them with recompute=True or move them away")
    return runs


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


def git_commit() -> dict[str, Any]:
    def git(*args):
        return subprocess.run(["git", *args], cwd=REPO_ROOT, capture_output=True, text=True, timeout=10)

    try:
        head = git("rev-parse", "HEAD")
        if head.returncode != 0:
            return {"commit": None, "dirty": None}
        dirty = git("status", "--porcelain", "--untracked-files=normal", "--", "src")
        return {"commit": head.stdout.strip(), "dirty": bool(dirty.stdout.strip())}
    except (OSError, subprocess.SubprocessError):
        return {"commit": None, "dirty": None}


def environment(device: torch.device) -> dict[str, Any]:
    """What produced a result: package versions, device, commit, machine."""
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
    }
    return env


def load_all(results_dir=None) -> list[dict[str, Any]]:
    """Every run stored under the results root, sorted by experiment, configuration and seed."""
    root = results_root(results_dir)
    runs = [json.loads(p.read_text()) for p in sorted(root.glob("*/*/seed-*.json"))]
    return sorted(runs, key=lambda r: (r["experiment"], r["name"], r["seed"]))
