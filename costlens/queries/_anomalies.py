"""The anomaly questions of ``costlens.queries``: incidents and events, their root causes and
their days, read from the serving snapshot (see ``docs/analytics.md`` for the columns)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping

import duckdb
import pandas as pd

from costlens.errors import QueryError
from costlens.queries._where import Where
from costlens.serving.snapshot import Snapshot
from costlens.serving.tables import ADDITIVE_CAUSE_LAYOUTS, GRAIN_LAYOUTS

__all__ = ["anomalies", "anomaly_days", "anomaly_root_cause"]

_ANOMALY_COLUMNS = (
    "anomaly_id, dimension, value, owner, start_date, end_date, last_seen, ongoing, direction, "
    "actual_cost, expected_cost, impact_cost, impact_percent, max_score, days, top_driver, "
    "incident_id, also_seen, feedback, "
)
_FOLLOWED_COLUMNS = "follow_state, followed_until, settled_since, total_impact, daily_excess"
_GRAIN_COLUMNS = ", grain, started_at"
_DAILY_ONLY = ", 'day' AS grain, CAST(NULL AS TIMESTAMP) AS started_at"  # an older layout
_NOT_FOLLOWED = (  # an older layout: the detector's own window is all there is
    "CAST(NULL AS VARCHAR) AS follow_state, "
    "CASE WHEN ongoing THEN last_seen ELSE end_date END AS followed_until, "
    "CAST(NULL AS DATE) AS settled_since, CAST(NULL AS DECIMAL(38,10)) AS total_impact, "
    "CAST(NULL AS DECIMAL(18,2)) AS daily_excess"
)


def anomalies(
    snap: Snapshot,
    *,
    dimension: str | None = None,
    value: str | None = None,
    owner: str | None = None,
    include_marked: bool = False,
    marked: Mapping[str, str] | None = None,
    incidents: bool = True,
    start: dt.date | None = None,
    end: dt.date | None = None,
) -> pd.DataFrame:
    """Anomaly incidents (or events), largest absolute impact first.

    One change seen on a microservice, its owner, its account and its AWS service is one
    incident: by default only the event that represents it is returned (``incident_id`` equals
    its ``anomaly_id``; ``also_seen`` names the broader series it also moved), so a list shows
    each incident once. ``incidents=False`` returns every event (each grouped one with the
    ``incident_id`` it belongs to). ``dimension`` (owner, microservice, service_code,
    account_id) and ``value`` narrow them; ``owner`` keeps the events of an owner and of its
    microservices. Events marked expected, planned or real (or whose incident is) are left out
    unless ``include_marked``; ``marked`` (anomaly id -> verdict, from
    ``costlens.anomalies.feedback.marked_anomalies``) adds marks made since the snapshot was
    built. ``start``/``end`` keep the events overlapping those dates (inclusive: started by
    ``end`` and held, ``followed_until``, to ``start`` or later: a level shift of October still
    holding is an incident of November). ``grain`` says which scan found an event (day or
    hour: ``[anomalies] grain = "hour"``) and ``started_at`` an hourly event's first anomalous
    hour. Columns: see ``docs/analytics.md``.
    """
    clauses = Where()
    if not include_marked and not marked:
        clauses.add("feedback IS NULL")
    if incidents:
        clauses.add("incident_id = anomaly_id")
    if end is not None:
        clauses.add("start_date <= $range_end", range_end=end)
    followed = snap.layout in ADDITIVE_CAUSE_LAYOUTS
    if start is not None:
        clauses.add(
            "followed_until >= $range_start"
            if followed
            else "CASE WHEN ongoing THEN last_seen ELSE end_date END >= $range_start",
            range_start=start,
        )
    for column, wanted in (("dimension", dimension), ("value", value), ("owner", owner)):
        if wanted is not None:
            clauses.equals(column, column, wanted)
    sql = (
        f"SELECT {_ANOMALY_COLUMNS}{_FOLLOWED_COLUMNS if followed else _NOT_FOLLOWED}"  # noqa: S608
        f"{_GRAIN_COLUMNS if snap.layout in GRAIN_LAYOUTS else _DAILY_ONLY} "
        "FROM anomalies "
        f"WHERE {clauses.sql()}"
        f"{snap.order_by('abs(impact_cost) DESC, anomaly_id')}"
    )
    frame = snap.frame(sql, clauses.params)
    if marked:
        late = frame["anomaly_id"].map(marked)
        late = late.where(late.notna(), frame["incident_id"].map(marked))
        frame["feedback"] = late.where(late.notna(), frame["feedback"])
    if not include_marked and marked:
        frame = frame[frame["feedback"].isna()].reset_index(drop=True)
    return frame


def anomaly_root_cause(snap: Snapshot, anomaly_id: str) -> pd.DataFrame:
    """One anomaly's impact split over its drivers: ``rank``, ``dimension`` (the view: a driver
    column, ``service_code/account_id/region/usage_type`` or ``resource_id``), ``value``,
    ``expected_cost``, ``actual_cost``, ``delta_cost`` (``Decimal``), ``share`` of the impact
    and ``others`` (on the row that folds a view's smallest values, how many). Rank 1 is the
    headline; within each view the rows' ``delta_cost`` add up to the impact exactly (a snapshot
    of an older layout compared windows instead, and has ``others`` 0)."""
    columns = (
        "expected_cost, actual_cost, delta_cost, share, others"
        if snap.layout in ADDITIVE_CAUSE_LAYOUTS
        else "baseline_cost AS expected_cost, event_cost AS actual_cost, delta_cost, share, "
        "0 AS others"
    )
    frame = snap.frame(
        f"SELECT rank, dimension, value, {columns} "  # noqa: S608
        f"FROM anomaly_root_causes WHERE anomaly_id = $id{snap.order_by('rank')}",
        {"id": anomaly_id},
    )
    if (
        frame.empty
        and not snap.con.execute(
            "SELECT 1 FROM anomalies WHERE anomaly_id = $id", {"id": anomaly_id}
        ).fetchone()
    ):
        raise QueryError(
            f"no anomaly {anomaly_id!r} in this snapshot",
            fix="take an anomaly_id from queries.anomalies()",
        )
    return frame


_ANOMALY_DAYS_SQL = """
SELECT usage_date, actual_cost, expected_cost, anomalous FROM anomaly_days
WHERE anomaly_id = $id"""
_ANOMALY_DAYS_BEFORE_FLAGS_SQL = """
SELECT usage_date, actual_cost, expected_cost, CAST(NULL AS BOOLEAN) AS anomalous
FROM anomaly_days WHERE anomaly_id = $id"""


def anomaly_days(snap: Snapshot, anomaly_id: str) -> pd.DataFrame:
    """One anomaly's days, from three weeks before it to a week after its last anomalous day:
    ``usage_date``, ``actual_cost`` (the scanned usage cost of its series that day: an exact
    ``Decimal`` sum, not rounded), ``expected_cost`` (the detector's estimate in ``Decimal``
    cents; None in its first two weeks) and ``anomalous`` (one of the event's anomalous days:
    their ``actual_cost`` adds up to the event's). Empty for a snapshot built before these
    were kept; ``anomalous`` is None in one built before it was."""
    try:
        return snap.frame(_ANOMALY_DAYS_SQL + snap.order_by("usage_date"), {"id": anomaly_id})
    except duckdb.CatalogException:
        return pd.DataFrame(
            {"usage_date": [], "actual_cost": [], "expected_cost": [], "anomalous": []}
        )
    except duckdb.BinderException:
        return snap.frame(
            _ANOMALY_DAYS_BEFORE_FLAGS_SQL + " ORDER BY usage_date", {"id": anomaly_id}
        )
