# ruff: noqa: S608  (SQL from fixed table and column names; values are bound $-placeholders)
"""The hourly scan (``[anomalies] grain = "hour"``): every microservice's and owner's hourly
spend of ``allocations_hourly`` through the same detector, so a runaway cost is raised within
hours of the delivery that shows it rather than after a full day's total.

Each hourly series runs from the window's first hour to the last hour any line item was used
(zero-filled). ``detect`` infers an hour-of-day × weekday season from the step and gives no
verdict over its first two weeks; the dollar gate is the daily one spread over 24 hours
(``min_impact / 24`` an hour). Anomalous hours at most ``MAX_GAP_HOURS`` apart are one event, so a
resource left running all night is one event, not one per hour; and a flag while an event's
change still holds (its trailing day's mean on the event's side, ``join_held``) joins that event,
so the following nights of a runaway resource are the same event, not one a night.

Money as the daily scan's: the observed costs are exact ``DECIMAL(38,10)`` sums read back from
a temporary table of the hourly series; the expected cost is the detector's estimate in cents;
the root cause splits the impact exactly over the hourly table's drivers (service · account ·
region · usage type, and the microservice of an owner event) against the ``BASELINE_HOURS``
before the event (``driver_ranking.rank_finest``). An hourly event is followed only while its
hours are flagged (``follow_state`` changing, or ended once ``MAX_GAP_HOURS`` pass quietly): the
daily scan follows a lasting change to its end, and ``merge_grains`` folds the hourly event into
the daily incident of the same series once that finds it.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from collections.abc import Mapping, Sequence
from decimal import Decimal
from typing import Any

import duckdb
import numpy as np
import numpy.typing as npt
import pandas as pd

from costlens.anomalies.describe import describe_headline
from costlens.anomalies.detect import detect
from costlens.anomalies.detector_options import DetectorOptions
from costlens.anomalies.driver_ranking import (
    DRIVERS_BY_DIMENSION,
    CauseRequest,
    FinestQuery,
    rank_finest,
)
from costlens.anomalies.events import AnomalyEvent, find_events, join_held
from costlens.anomalies.incidents import group_incidents
from costlens.anomalies.scan_amounts import cents, money, percent
from costlens.anomalies.scan_result import EVENT_COLUMNS, GRAIN_COLUMNS, ROOT_CAUSE_COLUMNS
from costlens.attribution.hourly import HOURLY_ALLOCATIONS, hourly_table_exists
from costlens.sql import quote

__all__ = [
    "BASELINE_HOURS",
    "HELD_WINDOW",
    "HOURLY_DIMENSIONS",
    "MAX_GAP_HOURS",
    "RELEARN_HOURS",
    "HourlyScan",
    "hourly_anomaly_id",
    "hourly_events",
    "merge_grains",
    "scan_hourly",
]

HOURLY_DIMENSIONS = ("microservice", "owner")
MAX_GAP_HOURS = 24
"""Most normal hours between two anomalous hours of one event (a day: one incident)."""
HELD_WINDOW = 24
"""Hours of the trailing mean that tells whether an event's change still holds (a day: the hours
of the day cancel), so a later flag of the same change joins its event (``join_held``)."""
RELEARN_HOURS = 7 * 24
"""Hours after an event within which a flag the other way, while its change holds, is the
detector learning the hours of the new level (``join_held``): the season's cycle, a week."""
BASELINE_HOURS = 7 * 24
"""Hours before an event that its root cause compares against (a week: every hour of a day)."""
_TABLE = "_costlens_scan_hours"

_SERIES_SQL = f"""
CREATE OR REPLACE TEMP TABLE {_TABLE} AS
SELECT CASE GROUPING(owner) WHEN 0 THEN 'owner' ELSE 'microservice' END AS dimension,
       COALESCE(owner, microservice) AS value, usage_hour,
       CAST(SUM({{cost}}) AS DECIMAL(38,10)) AS cost
FROM {HOURLY_ALLOCATIONS}
WHERE charge_category = $charge_category
GROUP BY GROUPING SETS ((owner, usage_hour), (microservice, usage_hour))
"""
_SPAN_SQL = f"SELECT min(usage_date), max(usage_hour) FROM {HOURLY_ALLOCATIONS}"
_FLOAT_SQL = f"SELECT dimension, value, usage_hour, CAST(cost AS DOUBLE) AS cost FROM {_TABLE}"
_EXACT_SQL = f"""
SELECT h.anomaly_id, h.usage_hour, h.anomalous, CAST(COALESCE(s.cost, 0) AS DECIMAL(38,10))
FROM _scan_hours h
LEFT JOIN {_TABLE} s
  ON s.dimension = h.dimension AND s.value = h.value AND s.usage_hour = h.usage_hour
"""
_FINEST_SQL = f"""
SELECT e.anomaly_id, {{drivers}},
       SUM({{cost}}) FILTER (WHERE a.anomaly_id IS NOT NULL) AS actual_sum,
       SUM({{cost}}) FILTER (WHERE h.usage_hour < e.start_hour) AS base_sum
FROM _scan_hour_events e
JOIN {HOURLY_ALLOCATIONS} h
  ON h.{{dimension}} = e.value AND h.usage_hour >= e.b_start AND h.usage_hour <= e.last_hour
LEFT JOIN _scan_hours a
  ON a.anomaly_id = e.anomaly_id AND a.usage_hour = h.usage_hour AND a.anomalous
WHERE h.charge_category = $charge_category AND e.dimension = $dimension
GROUP BY ALL
"""


def hourly_anomaly_id(dimension: str, value: str, start: pd.Timestamp, cost_type: str) -> str:
    """Stable id of an hourly event (its first anomalous hour; never a daily event's id)."""
    key = f"hour\x1f{dimension}\x1f{value}\x1f{start.isoformat()}\x1f{cost_type}"
    return "a-" + hashlib.sha256(key.encode()).hexdigest()[:16]


class HourlyScan:
    """What ``scan_hourly`` found: events (``EVENT_COLUMNS`` with ``grain`` 'hour' and
    ``started_at``, the first anomalous hour), their ranked causes and their days for the chart."""

    def __init__(
        self, events: pd.DataFrame, causes: list[tuple[Any, ...]], days: list[tuple[Any, ...]]
    ) -> None:
        self.events, self.causes, self.days = events, causes, days
        self.series_scanned = 0


def scan_hourly(
    con: duckdb.DuckDBPyConnection,
    cost_column: str,
    cost_type: str,
    options: Mapping[str, Any],
    owners: Mapping[str, str],
    charge_category: str,
) -> HourlyScan | None:
    """Detect events in the hourly series of every microservice and owner; None without
    ``allocations_hourly`` in ``con``'s warehouse. ``cost_column`` is quoted; ``owners`` maps
    a microservice to its owner."""
    if not hourly_table_exists(con):
        return None
    con.execute(_SERIES_SQL.format(cost=cost_column), {"charge_category": charge_category})
    try:
        return _scan(con, cost_column, cost_type, dict(options), owners, charge_category)
    finally:
        con.execute(f"DROP TABLE IF EXISTS {quote(_TABLE)}")


def _scan(
    con: duckdb.DuckDBPyConnection,
    cost: str,
    cost_type: str,
    opts: dict[str, Any],
    owners: Mapping[str, str],
    charge_category: str,
) -> HourlyScan:
    first_day, last_hour = con.execute(_SPAN_SQL).fetchone() or (None, None)
    frame = con.execute(_FLOAT_SQL).df()
    result = HourlyScan(pd.DataFrame(columns=[*EVENT_COLUMNS[:-2], *GRAIN_COLUMNS]), [], [])
    if frame.empty or first_day is None:
        return result
    hours = pd.date_range(pd.Timestamp(first_day), pd.Timestamp(last_hour), freq="h")
    per_hour = float(opts.get("min_impact", DetectorOptions.min_impact)) / 24.0
    opts = {**opts, "min_impact": per_hour}
    names = sorted(
        set(zip(frame["dimension"].astype(str), frame["value"].astype(str), strict=True))
    )
    row_of = {k: i for i, k in enumerate(names)}
    matrix = np.zeros((len(names), len(hours)))
    rows = [
        row_of[(str(d), str(v))] for d, v in zip(frame["dimension"], frame["value"], strict=True)
    ]
    cols = hours.get_indexer(pd.DatetimeIndex(frame["usage_hour"]))
    np.add.at(matrix, (np.asarray(rows, dtype=np.intp), cols), frame["cost"].to_numpy(np.float64))
    found: list[tuple[str, str, AnomalyEvent, pd.DataFrame]] = []
    for (dimension, value), i in row_of.items():
        series = pd.Series(matrix[i], index=hours)
        if float(np.abs(matrix[i]).max()) < per_hour:
            continue
        result.series_scanned += 1
        verdicts = detect(series, **opts)
        found.extend((dimension, value, e, verdicts) for e in hourly_events(series, verdicts))
    if not found:
        return result
    hour_rows: list[tuple[Any, ...]] = []
    events: list[tuple[str, str, str, AnomalyEvent]] = []
    for dimension, value, event, verdicts in found:
        aid = hourly_anomaly_id(dimension, value, event.start, cost_type)
        span = verdicts.loc[event.start - pd.Timedelta(hours=BASELINE_HOURS) : event.last_seen]
        flags = _flags(matrix[row_of[(dimension, value)]], verdicts, event, span)
        hour_rows.extend(
            (aid, dimension, value, h.to_pydatetime(), bool(f), e)
            for h, f, e in zip(span.index, flags, span["expected"], strict=True)
        )
        events.append((aid, dimension, value, event))
    hour_frame = pd.DataFrame(
        hour_rows, columns=["anomaly_id", "dimension", "value", "usage_hour", "anomalous", "exp"]
    ).astype({"usage_hour": "datetime64[us]"})
    con.register("_scan_hours", hour_frame)
    con.register("_scan_hour_events", _events_frame(events))
    try:
        exact = con.execute(_EXACT_SQL).df()
        exact.columns = ["anomaly_id", "usage_hour", "anomalous", "cost"]
        merged = hour_frame.merge(exact, on=["anomaly_id", "usage_hour", "anomalous"])
        measured = []
        for aid, dimension, value, event in events:
            mine = merged[merged["anomaly_id"] == aid]
            flagged = mine[mine["anomalous"]]
            actual = sum((money(c) for c in flagged["cost"]), Decimal(0))
            expected = cents(event.expected) or Decimal(0)
            days_of = tuple(sorted({pd.Timestamp(h).date() for h in flagged["usage_hour"]}))
            b_start = (event.start - pd.Timedelta(hours=BASELINE_HOURS)).date()
            request = CauseRequest(
                aid, dimension, value, days_of, b_start, event.start.date(), expected, False
            )
            measured.append((mine, actual, request))
        queries = _finest_queries(cost, sorted({e[1] for e in events}), charge_category)
        ranked_by_id = rank_finest(con, [m[2] for m in measured], queries)
    finally:
        con.unregister("_scan_hours")
        con.unregister("_scan_hour_events")
    rows_out = []
    for (aid, dimension, value, event), (mine, actual, request) in zip(
        events, measured, strict=True
    ):
        expected, days_of = request.expected, request.days
        impact = actual - expected
        ranked = ranked_by_id[aid]
        for rank, c in enumerate(ranked, start=1):
            result.causes.append(
                (aid, rank, c.dimension, c.value, c.expected_cost, c.actual_cost, c.delta_cost,
                 round(c.share, 4), c.others)
            )  # fmt: skip
        top = (
            describe_headline(ranked[0].dimension, ranked[0].value, ranked[0].delta_cost, impact)
            if ranked
            else None
        )
        by_day = mine.assign(day=pd.DatetimeIndex(mine["usage_hour"]).date)
        for day, part in by_day.groupby("day", sort=True):
            exp = part["exp"].to_numpy(dtype=np.float64)
            day_expected = None if np.isnan(exp).all() else cents(float(np.nansum(exp)))
            result.days.append(
                (aid, day, sum((money(c) for c in part["cost"]), Decimal(0)), day_expected,
                 bool(part["anomalous"].any()))
            )  # fmt: skip
        owner = {"owner": value, "microservice": owners.get(value)}.get(dimension)
        rows_out.append((
            aid, dimension, value, owner, event.start.date(),
            event.end.date() if event.end is not None else None, event.last_seen.date(),
            event.ongoing, "increase" if impact >= 0 else "decrease", actual, expected, impact,
            percent(impact, expected), round(event.max_score, 4), len(days_of), top,
            "changing" if event.ongoing else "ended", event.last_seen.date(), None, impact, None,
            cost_type, "hour", event.start.to_pydatetime(),
        ))  # fmt: skip
    frame_out = pd.DataFrame(rows_out, columns=[*EVENT_COLUMNS[:-2], *GRAIN_COLUMNS])
    causes = pd.DataFrame(result.causes, columns=list(ROOT_CAUSE_COLUMNS))
    result.events = group_incidents(frame_out, causes)
    return result


def hourly_events(series: pd.Series, verdicts: pd.DataFrame) -> list[AnomalyEvent]:
    """The events of one hourly series: its rises and its falls grouped apart (``find_events``,
    ``MAX_GAP_HOURS``), then each joined to the change it belongs to (``join_held``): a runaway
    resource is one event that rose, even where the detector, learning the hours of the new
    level, flags its busy hours low."""
    above = (series.to_numpy() >= verdicts["expected"].to_numpy()) & verdicts["is_anomaly"]
    rises = find_events(series, verdicts.assign(is_anomaly=above), max_gap=MAX_GAP_HOURS)
    falls = find_events(
        series, verdicts.assign(is_anomaly=verdicts["is_anomaly"] & ~above), max_gap=MAX_GAP_HOURS
    )
    events = sorted(rises + falls, key=lambda e: (e.start, e.last_seen))
    return join_held(
        series, events, window=HELD_WINDOW, max_gap=MAX_GAP_HOURS, relearn=RELEARN_HOURS
    )


def _flags(
    values: npt.NDArray[np.float64],
    verdicts: pd.DataFrame,
    event: AnomalyEvent,
    span: pd.DataFrame,
) -> npt.NDArray[np.bool_]:
    """The event's own flagged hours within ``span``: from its start, in its direction."""
    at = verdicts.index.get_indexer(span.index)
    above = values[at] >= span["expected"].to_numpy(dtype=np.float64)
    own = above if event.impact >= 0 else ~above
    flagged: npt.NDArray[np.bool_] = (
        span["is_anomaly"].to_numpy(dtype=bool) & (span.index >= event.start) & own
    )
    return flagged


def _events_frame(events: list[tuple[str, str, str, AnomalyEvent]]) -> pd.DataFrame:
    """The events as ``_FINEST_SQL`` reads them (``_scan_hour_events``)."""
    return pd.DataFrame(
        {
            "anomaly_id": [e[0] for e in events],
            "dimension": [e[1] for e in events],
            "value": [e[2] for e in events],
            "b_start": [e[3].start - pd.Timedelta(hours=BASELINE_HOURS) for e in events],
            "start_hour": [e[3].start for e in events],
            "last_hour": [e[3].last_seen for e in events],
        }
    ).astype({c: "datetime64[us]" for c in ("b_start", "start_hour", "last_hour")})


def _finest_queries(
    cost: str, dimensions: Sequence[str], charge_category: str
) -> list[FinestQuery]:
    """Per scanned dimension, the events' cost by driver combination over their anomalous hours
    and their baselines (``rank_finest`` splits and ranks them)."""
    return [
        FinestQuery(
            _FINEST_SQL.format(
                drivers=", ".join(f"h.{quote(d)}" for d in DRIVERS_BY_DIMENSION[dimension]),
                cost=f"h.{cost}",
                dimension=quote(dimension),
            ),
            DRIVERS_BY_DIMENSION[dimension],
            {"charge_category": charge_category, "dimension": dimension},
        )
        for dimension in dimensions
    ]


def merge_grains(daily: pd.DataFrame, hourly: pd.DataFrame) -> pd.DataFrame:
    """The daily and hourly events as one frame: an hourly incident on the same series as a
    daily event that overlaps it (the daily event from the day before its first anomalous day
    to the day its change held, ``followed_until``) joins that daily event's incident, with its
    own grouped events. When the hourly scan saw it first (before the daily event's first day
    was over), the daily incident says since when in ``also_seen`` ("hourly from 28 Nov 2026
    14:00"); a change older than the hourly window joins silently. Daily events get ``grain``
    'day'."""
    daily = daily.assign(grain="day", started_at=pd.Series(pd.NaT, index=daily.index))
    if hourly.empty:
        return daily
    hourly = hourly.copy()
    spans: dict[tuple[str, str], list[tuple[dt.date, dt.date, str, pd.Timestamp]]] = {}
    for dim, value, start, until, last, incident in zip(
        daily["dimension"], daily["value"], daily["start_date"], daily["followed_until"],
        daily["last_seen"], daily["incident_id"], strict=True,
    ):  # fmt: skip
        end = pd.Timestamp(until if until is not None and not pd.isna(until) else last).date()
        begin = pd.Timestamp(start).date() - dt.timedelta(days=1)
        day_over = pd.Timestamp(start) + pd.Timedelta(days=1)  # when the daily scan can see it
        spans.setdefault((str(dim), str(value)), []).append((begin, end, str(incident), day_over))
    moved: dict[str, str] = {}
    seen_from: dict[str, pd.Timestamp] = {}
    heads = hourly[hourly["incident_id"] == hourly["anomaly_id"]]
    for aid, dim, value, start, last, started in zip(
        heads["anomaly_id"], heads["dimension"], heads["value"], heads["start_date"],
        heads["last_seen"], heads["started_at"], strict=True,
    ):  # fmt: skip
        h_start, h_last = pd.Timestamp(start).date(), pd.Timestamp(last).date()
        for begin, end, incident, day_over in spans.get((str(dim), str(value)), []):
            if h_start <= end and begin <= h_last:
                moved[str(aid)] = incident
                stamp = pd.Timestamp(started)
                first = seen_from.get(incident)
                if stamp < day_over and (first is None or stamp < first):
                    seen_from[incident] = stamp
                break
    if moved:
        hourly["incident_id"] = hourly["incident_id"].map(lambda i: moved.get(str(i), i))
        hourly.loc[hourly["anomaly_id"].isin(list(moved)), "also_seen"] = None
        daily = daily.copy()
        for incident, stamp in seen_from.items():
            at = daily.index[daily["anomaly_id"] == incident]
            note = f"hourly from {stamp:%d %b %Y %H:%M}"
            for i in at:
                old = daily.at[i, "also_seen"]
                daily.at[i, "also_seen"] = f"{old} · {note}" if isinstance(old, str) else note
    return pd.concat([daily, hourly], ignore_index=True)
