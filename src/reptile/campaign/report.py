"""The campaign's progress as a table (what ``python -m reptile.campaign --status`` prints; the status page and the
chapters show it through :mod:`reptile.artifacts.status`)."""

from __future__ import annotations

import datetime
import os
import subprocess
from typing import Sequence

import pandas as pd

from . import plan as P


def campaign_table(results_dir=None, experiment: str | None = None) -> pd.DataFrame:
    """The campaign's progress (:func:`reptile.campaign.plan.progress`), one row per planned population (only those of
    ``experiment`` if given)."""
    plan = [e for e in P.PLAN if experiment is None or e.experiment == experiment]  # read when called, as progress
    return progress_frame(P.progress(plan, results_dir))


def progress_frame(rows: Sequence[dict]) -> pd.DataFrame:
    """:func:`reptile.campaign.plan.progress`'s rows as a table indexed by population, '-' where a row has no value."""
    return pd.DataFrame(rows).set_index("population").astype(object).fillna("-")


def snapshot_date(results_dir=None) -> str | None:
    """How current the progress tables are: the date (YYYY-MM-DD, UTC) of the latest commit that changed the
    campaign's checkpoints (``results/campaign/``), or, where they differ from that commit, of the newest checkpoint
    file. None outside a git checkout, or where the folder does not exist."""
    root = P.campaign_root(results_dir)

    def git(*args: str) -> str:
        return subprocess.run(["git", *args, "--", "."], cwd=root, capture_output=True, text=True, timeout=10,
                              env={**os.environ, "TZ": "UTC"}).stdout

    try:
        changed = git("status", "--porcelain", "--untracked-files=all").strip()
        committed = git("log", "-1", "--format=%cd", "--date=format-local:%Y-%m-%d").strip()
    except (OSError, subprocess.SubprocessError):
        return None
    if changed:
        newest = max((f.stat().st_mtime for f in root.rglob("*.pt")), default=None)
        if newest is not None:
            return datetime.datetime.fromtimestamp(newest, datetime.timezone.utc).strftime("%Y-%m-%d")
    return committed or None
