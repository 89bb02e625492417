"""Scorecard questions of ``costlens.queries``: one scorecard, the owners' ranking, the trend of
an owner's grade and the top actions in dollars (``costlens.scorecards``; snapshot tables
``scorecard_kpis``, ``scorecards``, ``scorecard_actions``).

Every question takes a billing period (the first of its month); None means the latest period
with scorecards. A snapshot of an older layout has none: the answers are empty.
"""

from __future__ import annotations

import datetime as dt
import json
import math
from typing import Any, Literal

import pandas as pd

from costlens.errors import QueryError
from costlens.serving.snapshot import Snapshot
from costlens.serving.tables import SCORECARD_LAYOUTS

__all__ = [
    "SCOPES",
    "grade_trend",
    "kpi_resources",
    "owner_ranking",
    "scorecard",
    "scorecard_kpis",
    "scorecard_periods",
    "top_actions",
]

Scope = Literal["owner", "microservice", "account"]
SCOPES: tuple[str, ...] = ("owner", "microservice", "account")

_CARD = (
    "billing_period, scope, scope_id, owner, spend, eligible_spend, potential_savings, "
    "savings_at_goal, score, grade, previous_grade, rank"
)
_KPI = (
    "billing_period, scope, scope_id, owner, kpi, detail, value, goal, direction, unit, "
    "eligible_spend, numerator, denominator, potential_savings, savings_at_goal, trend, score, "
    "grade"
)


def _records(frame: pd.DataFrame) -> list[dict[str, Any]]:
    """``frame``'s rows as dicts, with None (n/a) where pandas holds NaN."""
    return [
        {str(k): (None if isinstance(v, float) and math.isnan(v) else v) for k, v in r.items()}
        for r in frame.to_dict("records")
    ]


def _has(snap: Snapshot) -> bool:
    return snap.layout in SCORECARD_LAYOUTS


def scorecard_periods(snap: Snapshot) -> list[dt.date]:
    """Billing periods with scorecards, latest first."""
    if not _has(snap):
        return []
    frame = snap.frame("SELECT DISTINCT billing_period FROM scorecards ORDER BY 1 DESC")
    return list(frame["billing_period"])


def _period(snap: Snapshot, period: dt.date | None) -> dt.date | None:
    periods = scorecard_periods(snap)
    if period is None:
        return periods[0] if periods else None
    return period.replace(day=1)


def _scope(scope: str) -> str:
    if scope not in SCOPES:
        raise QueryError(f"unknown scope {scope!r}", fix=f"use one of: {', '.join(SCOPES)}")
    return scope


def _empty(columns: str) -> pd.DataFrame:
    return pd.DataFrame({c.strip(): [] for c in columns.split(",")}, dtype=object)


def scorecard_kpis(
    snap: Snapshot, scope: Scope, scope_id: str, *, period: dt.date | None = None
) -> pd.DataFrame:
    """Each KPI of one scorecard, in the registry's order: ``kpi``, ``value`` (None: n/a),
    ``goal``, ``direction``, ``unit``, ``eligible_spend``, ``potential_savings``,
    ``savings_at_goal`` (Decimal dollars), ``score``, ``grade``, ..."""
    chosen = _period(snap, period)
    if chosen is None:
        return _empty(_KPI)
    from costlens.scorecards.registry import KPI_NAMES  # the registry's order

    frame = snap.frame(
        f"SELECT {_KPI} FROM scorecard_kpis WHERE billing_period = $period"  # noqa: S608
        " AND scope = $scope AND scope_id = $id",
        {"period": chosen, "scope": _scope(scope), "id": scope_id},
    )
    order = {name: i for i, name in enumerate(KPI_NAMES)}
    return frame.iloc[
        sorted(
            range(len(frame)), key=lambda i: (order[frame["kpi"].iloc[i]], frame["detail"].iloc[i])
        )
    ]


def scorecard(
    snap: Snapshot, scope: Scope, scope_id: str, *, period: dt.date | None = None
) -> dict[str, Any] | None:
    """One scorecard: its overall ``grade``, ``score``, ``previous_grade``, ``spend``,
    ``eligible_spend``, ``potential_savings`` (each resource counted once), ``savings_at_goal``
    and ``rank`` (owners), with its ``kpis`` (``scorecard_kpis`` records); None if absent."""
    chosen = _period(snap, period)
    if chosen is None:
        return None
    frame = snap.frame(
        f"SELECT {_CARD} FROM scorecards WHERE billing_period = $period"  # noqa: S608
        " AND scope = $scope AND scope_id = $id",
        {"period": chosen, "scope": _scope(scope), "id": scope_id},
    )
    if frame.empty:
        return None
    card = _records(frame)[0]
    card["kpis"] = _records(scorecard_kpis(snap, scope, scope_id, period=chosen))
    return card


def owner_ranking(snap: Snapshot, *, period: dt.date | None = None) -> pd.DataFrame:
    """Every owner's scorecard of the period, ranked by potential savings (dollars) left."""
    chosen = _period(snap, period)
    if chosen is None:
        return _empty(_CARD)
    return snap.frame(
        f"SELECT {_CARD} FROM scorecards WHERE billing_period = $period"  # noqa: S608
        " AND scope = 'owner' ORDER BY rank, scope_id",
        {"period": chosen},
    )


def grade_trend(snap: Snapshot, scope: Scope, scope_id: str) -> pd.DataFrame:
    """The overall ``grade`` and ``score`` of one scorecard per period, oldest first."""
    if not _has(snap):
        return _empty("billing_period, grade, score, potential_savings")
    return snap.frame(
        "SELECT billing_period, grade, score, potential_savings FROM scorecards"
        " WHERE scope = $scope AND scope_id = $id ORDER BY billing_period",
        {"scope": _scope(scope), "id": scope_id},
    )


def top_actions(
    snap: Snapshot, owner: str, n: int = 3, *, period: dt.date | None = None
) -> list[dict[str, Any]]:
    """``owner``'s top ``n`` actions of the period by dollars: ``text`` (plain words naming the
    resources, e.g. "checkout-api: move 14 gp2 volumes to gp3 (vol-..., ...), about
    $212/month"), ``microservice``, ``kpi``, ``resources`` (how many), ``resource_ids`` (up to
    five), ``savings`` (Decimal dollars a month)."""
    chosen = _period(snap, period)
    if chosen is None or n <= 0:
        return []
    frame = snap.frame(
        "SELECT microservice, kpi, resources, resource_ids, savings, text FROM scorecard_actions"
        " WHERE billing_period = $period AND owner = $owner ORDER BY rank LIMIT $n",
        {"period": chosen, "owner": owner, "n": int(n)},
    )
    rows = _records(frame)
    for row in rows:
        row["resource_ids"] = json.loads(row["resource_ids"])
    return rows


def kpi_resources(
    snap: Snapshot,
    owner: str,
    kpi: str,
    *,
    microservice: str | None = None,
    period: dt.date | None = None,
) -> pd.DataFrame:
    """The resources behind a KPI's savings for ``owner`` (one of its microservices): per
    microservice, the 20 that would save most, ``resource`` (an id, or the usage type of lines
    without one), ``spend`` and ``savings`` (Decimal dollars a month), largest first."""
    from costlens.scorecards.registry import KPI_NAMES

    if kpi not in KPI_NAMES:
        raise QueryError(f"unknown KPI {kpi!r}", fix=f"use one of: {', '.join(KPI_NAMES)}")
    chosen = _period(snap, period)
    columns = "microservice, resource, spend, savings"
    if chosen is None:
        return _empty(columns)
    return snap.frame(
        f"SELECT {columns} FROM scorecard_resources WHERE billing_period = $period"  # noqa: S608
        " AND owner = $owner AND kpi = $kpi"
        " AND ($microservice IS NULL OR microservice = $microservice)"
        " ORDER BY savings DESC, microservice, resource",
        {"period": chosen, "owner": owner, "kpi": kpi, "microservice": microservice},
    )
