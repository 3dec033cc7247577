"""The campaign's progress as a table (what ``python -m reptile.campaign --status`` prints; the status page and the
chapters show it through :mod:`reptile.artifacts.status`)."""

from __future__ import annotations

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
    """How current the progress tables are: the date (YYYY-MM-DD, UTC) at which the newest of the campaign's
    checkpoints (``results/campaign/``) was written, as each records it (its latest training segment, its final
    evaluation, or a MAML run's latest piece: ``written``). Read from the files, so that every copy of the repository
    says the same; None where no checkpoint records it."""
    from ..train import load_checkpoint

    root = P.campaign_root(results_dir)
    times = []
    for path in sorted(root.rglob("*.pt")) if root.is_dir() else []:
        state = load_checkpoint(path)
        last = [(state.get("segments") or [{}])[-1], state.get("evaluation") or {}, (state.get("pieces") or [{}])[-1]]
        for part in last:
            if isinstance(part, dict) and part.get("written"):
                times.append(part["written"])
    return max(times)[:10] if times else None
