"""What produced a result: the commit (and whether ``src/`` differs from it), the packages, the device and machine,
and the engine switches set. Every stored run, benchmark report and checkpoint segment records it."""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import platform
import subprocess
import sys
from datetime import datetime, timezone
from importlib import metadata
from pathlib import Path
from typing import Any

import torch

from .results import REPO_ROOT, atomic_write_bytes

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


def utc_now() -> str:
    """The current time in UTC, to the second (``2026-12-07T10:21:16+00:00``): when a checkpoint was written."""
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


@contextlib.contextmanager
def with_environ(**values: str | None):
    """Within the block, the environment variables ``values`` set (None: unset); each restored afterwards."""
    saved = {k: os.environ.get(k) for k in values}
    for k, v in values.items():
        if v is None:
            os.environ.pop(k, None)
        else:
            os.environ[k] = v
    try:
        yield
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


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
        "date": utc_now(),
        **git_commit(),
        "switches": engine_switches(),
    }
    return env
