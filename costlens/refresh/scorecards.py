# ruff: noqa: S608  (SQL from a fixed name)
"""The scorecards step of the refresh: every period's scorecards per owner, microservice and
account (``costlens.scorecards``), from the warehouse's allocations and line keys.

Computed whole on every refresh that builds a snapshot: the KPIs read one pre-aggregate of
``allocations`` (small beside the line items), and a snapshot's age or a goal in
``owners.yaml`` can change any period's figures.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pandas as pd

from costlens.refresh.context import SNAPSHOT, BuildContext, Step, insert_frame
from costlens.scorecards.compute import ScorecardInputs, compute_scorecards
from costlens.serving.tables import SCORECARDS_SQL
from costlens.sql import quote

__all__ = ["STEP", "write"]

_OPEN_INCIDENTS_SQL = (
    "SELECT dimension, value, owner, start_date, last_seen"
    f" FROM {quote(SNAPSHOT)}.anomalies"
    " WHERE incident_id = anomaly_id AND feedback IS NULL"
)


def _exact(frame: pd.DataFrame) -> pd.DataFrame:
    """``frame`` with its Decimal columns as text: DuckDB would type a column of Python
    Decimals from its first values (too narrow for the rest); the insert casts text exactly."""
    out = frame.copy()
    for column in out.columns:
        if any(isinstance(v, Decimal) for v in out[column]):
            out[column] = [None if v is None else str(v) for v in out[column]]
    return out


def write(ctx: BuildContext) -> dict[str, Any]:
    """Write ``scorecard_kpis``, ``scorecards`` and ``scorecard_actions``."""
    con = ctx.con
    con.execute(SCORECARDS_SQL)
    incidents = con.execute(_OPEN_INCIDENTS_SQL).fetch_df()
    for column in ("start_date", "last_seen"):
        incidents[column] = pd.to_datetime(incidents[column]).dt.date
    inputs = ctx.scorecards
    cards = compute_scorecards(con, ScorecardInputs(
        goals=inputs.goals, budgets=inputs.budgets, metrics=inputs.metrics, anomalies=incidents,
    ), resources=True)  # fmt: skip
    for table, frame in (
        ("scorecard_kpis", cards.kpis),
        ("scorecards", cards.cards),
        ("scorecard_actions", cards.actions),
        ("scorecard_resources", cards.resources),
    ):
        if frame is not None:
            insert_frame(con, table, _exact(frame))
    return {"scorecards": int((cards.cards["scope"] == "owner").sum()) if len(cards.cards) else 0}


STEP = Step(
    "scorecards",
    write,
    tables=("scorecard_kpis", "scorecards", "scorecard_actions", "scorecard_resources"),
)
