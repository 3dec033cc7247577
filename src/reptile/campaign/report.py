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
