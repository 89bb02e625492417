"""Scan every owner, microservice, AWS service and account for anomalies, with root causes.

The daily series come from the snapshot's ``rollup_daily`` (zero on days without cost, from the
first day of data, so a new service's ramp is seen as one); each goes through ``detect`` and
``find_events``, so a level shift or a ramp is one event, not one alert a day. Every event gets a
stable id (dimension, value, first anomalous day and cost type) and a root cause: the ranked
contributions of its drivers (service, account, region, usage type, and the owner or
microservice where it is not the scanned dimension) from the ``daily`` cube, plus resources from
``allocations`` for the largest events.

Money: the detector works on floats (its ``expected`` is a statistical estimate), but every
observed amount is an exact ``DECIMAL(38,10)`` sum of the scanned charges, read back from SQL:
an event's ``actual_cost`` (over its anomalous days), each chart day's ``actual_cost`` and the
root causes' costs. ``expected_cost`` is the model's estimate rounded half up to the cent;
``impact_cost`` = ``actual_cost`` - ``expected_cost``. Nothing is rounded to cents but the
estimate: the UI rounds at display.

Incremental: with the previous snapshot attached (``previous``), a series whose values are
unchanged (same hash; the detector is causal and deterministic) re-uses its events, and an event
whose root-cause window lies in billing periods re-used unchanged (``stable_periods``) re-uses
its ranked drivers. Both give exactly what a full scan would.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from collections.abc import Collection, Mapping
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

import duckdb
import numpy as np
import pandas as pd

from costlens.anomalies.describe import describe_driver
from costlens.anomalies.detect import DetectorOptions, DetectorState, detect_from
from costlens.anomalies.driver_ranking import (
    DRIVERS_BY_DIMENSION,
    CauseRequest,
    rank_drivers,
)
from costlens.anomalies.events import AnomalyEvent, effect_until, find_events
from costlens.anomalies.incidents import group_incidents
from costlens.anomalies.scan_cache import (
    PREVIOUS_CAUSES_SQL as _PREVIOUS_CAUSES_SQL,
)
from costlens.anomalies.scan_cache import (
    PREVIOUS_DAYS_SQL as _PREVIOUS_DAYS_SQL,
)
from costlens.anomalies.scan_cache import (
    PREVIOUS_SERIES_SQL as _PREVIOUS_SERIES_SQL,
)
from costlens.anomalies.scan_cache import (
    events_from_json as _events_from_json,
)
from costlens.anomalies.scan_cache import (
    events_json as _events_json,
)
from costlens.anomalies.scan_cache import (
    months as _months,
)
from costlens.anomalies.scan_cache import (
    previous as _previous,
)
from costlens.anomalies.scan_cache import (
    series_hash as _series_hash,
)
from costlens.schema import cost_column
from costlens.sql import quote

__all__ = [
    "DRIVERS_BY_DIMENSION",
    "SCANNED_CHARGE_CATEGORY",
    "SCAN_DIMENSIONS",
    "ScanResult",
    "anomaly_id",
    "scan_anomalies",
]

SCAN_DIMENSIONS: tuple[str, ...] = ("owner", "microservice", "service_code", "account_id")
"""The dimensions whose every value's daily series is scanned."""

SCANNED_CHARGE_CATEGORY = "Usage"
"""The charges whose amortized daily cost is scanned: usage (on-demand, spot, and usage covered
by a reservation or a Savings Plan at its effective cost). Tax, credits, refunds and purchases
(support and other fees, RI and Savings Plan fees) are billing events on fixed days, not
usage-driven spend: they are left out of the series and of the root causes."""

BASELINE_DAYS = 28
"""Days before an event that its root cause compares against."""
RESOURCE_EVENTS = 25
"""Events (largest impact first) whose root cause also ranks resources, read from allocations."""
DAYS_BEFORE = 21
"""Days before an event whose scanned cost and expectation are kept for its chart."""
DAYS_AFTER = 7
"""Days after an event's last anomalous day kept for its chart."""
CAUSE_METHOD = "sql-4"
"""Version of the root-cause computation; a cached cause of another version is recomputed."""

EVENT_COLUMNS = (
    "anomaly_id", "dimension", "value", "owner", "start_date", "end_date", "last_seen",
    "ongoing", "direction", "actual_cost", "expected_cost", "impact_cost", "impact_percent",
    "max_score", "days", "top_driver", "cost_type", "incident_id", "also_seen",
)  # fmt: skip
ROOT_CAUSE_COLUMNS = (
    "anomaly_id", "rank", "dimension", "value", "baseline_cost", "event_cost", "delta_cost",
    "share",
)  # fmt: skip


SERIES_CACHE_COLUMNS = ("dimension", "value", "series_hash", "events", "state")
CAUSE_KEY_COLUMNS = ("anomaly_id", "cause_key")
DAY_COLUMNS = ("anomaly_id", "usage_date", "actual_cost", "expected_cost", "anomalous")
_CENT = Decimal("0.01")
_MONEY_PLACES = Decimal("1E-10")


@dataclass(frozen=True)
class ScanResult:
    """Events (``EVENT_COLUMNS``) and their ranked root causes (``ROOT_CAUSE_COLUMNS``), plus
    what the next scan re-uses: per series its hash and events (``SERIES_CACHE_COLUMNS``), per
    event the key of its root cause (``CAUSE_KEY_COLUMNS``)."""

    events: pd.DataFrame
    root_causes: pd.DataFrame
    series_scanned: int
    series_cache: pd.DataFrame | None = None
    cause_keys: pd.DataFrame | None = None
    series_reused: int = 0
    causes_reused: int = 0
    days: pd.DataFrame | None = None
    """Per event and day around it: the scanned cost (exact), the expected one (cents) and
    whether the day is one of the event's anomalous days (``DAY_COLUMNS``)."""


def _cents(estimate: float) -> Decimal | None:
    """A model estimate in dollars, rounded half up to the cent (None when not finite).

    >>> _cents(1234.565), _cents(float("nan"))
    (Decimal('1234.57'), None)
    """
    if not np.isfinite(estimate):
        return None
    return Decimal(repr(float(estimate))).quantize(_CENT, rounding=ROUND_HALF_UP)


def _event_days(
    event: AnomalyEvent, series: pd.Series, verdicts: pd.DataFrame
) -> list[tuple[dt.date, Decimal | None, bool]]:
    """The event's days with ``DAYS_BEFORE`` days before and ``DAYS_AFTER`` after it: the day,
    the detector's expectation (None in its quiet period) in cents, and whether it is one of
    the event's anomalous days. The scanned cost is added exactly from SQL (``_exact_days``)."""
    index = series.index
    lo = max(0, int(index.searchsorted(event.start)) - DAYS_BEFORE)
    hi = min(len(index) - 1, int(index.searchsorted(event.last_seen)) + DAYS_AFTER)
    expected = verdicts["expected"].to_numpy(np.float64)
    flags = verdicts["is_anomaly"].to_numpy(dtype=bool)
    return [
        (index[t].date(), _cents(float(expected[t])),
         bool(flags[t]) and event.start <= index[t] <= event.last_seen)
        for t in range(lo, hi + 1)
    ]  # fmt: skip


def anomaly_id(dimension: str, value: str, start: pd.Timestamp, cost_type: str) -> str:
    """Stable id of an event: the same incident keeps it across refreshes.

    >>> anomaly_id("owner", "payments", pd.Timestamp("2024-03-05"), "amortized")
    'a-...'
    """
    key = f"{dimension}\x1f{value}\x1f{start.date().isoformat()}\x1f{cost_type}"
    return "a-" + hashlib.sha256(key.encode()).hexdigest()[:16]


_SERIES_TABLE = "_costlens_scan_series"
"""Temporary table of the scanned series: exact ``DECIMAL(38,10)`` cost per dimension, value and
day (a day without cost has no row)."""

_SERIES_SQL = """
CREATE OR REPLACE TEMP TABLE {table} AS
SELECT CASE GROUPING(owner, microservice, service_code)
         WHEN 3 THEN 'owner' WHEN 5 THEN 'microservice' WHEN 6 THEN 'service_code'
         ELSE 'account_id' END AS dimension,
       COALESCE(owner, microservice, service_code, account_id) AS value,
       usage_date, CAST(SUM({cost}) AS DECIMAL(38,10)) AS cost
FROM {schema}.daily
WHERE charge_category = $charge_category
GROUP BY GROUPING SETS ((owner, usage_date), (microservice, usage_date),
                        (service_code, usage_date), (account_id, usage_date))
"""

_SERIES_FLOAT_SQL = "SELECT dimension, value, usage_date, CAST(cost AS DOUBLE) AS cost FROM {table}"

_EXACT_DAYS_SQL = """
SELECT d.anomaly_id, d.usage_date, CAST(COALESCE(s.cost, 0) AS DECIMAL(38,10)) AS actual_cost,
       CAST(SUM(CASE WHEN d.anomalous THEN COALESCE(s.cost, 0) ELSE 0 END)
            OVER (PARTITION BY d.anomaly_id) AS DECIMAL(38,10)) AS event_cost
FROM _scan_event_days d
LEFT JOIN {table} s
  ON s.dimension = d.dimension AND s.value = d.value AND s.usage_date = d.usage_date
"""

_OWNERS_SQL = """
SELECT microservice, arg_max(owner, total) FROM (
  SELECT microservice, owner, SUM(unblended_cost) AS total FROM {schema}.daily GROUP BY ALL
) GROUP BY microservice
"""


def _series(frame: pd.DataFrame, days: pd.DatetimeIndex) -> dict[tuple[str, str], pd.Series]:
    """One zero-filled daily series per (dimension, value), sorted; ``frame`` has one row per
    dimension, value and day (the scan's query groups by them)."""
    keys = list(zip(frame["dimension"].astype(str), frame["value"].astype(str), strict=True))
    names = sorted(set(keys))
    row = {k: i for i, k in enumerate(names)}
    matrix = np.zeros((len(names), len(days)))
    cols = days.get_indexer(pd.DatetimeIndex(frame["usage_date"]))
    rows = np.fromiter((row[k] for k in keys), dtype=np.intp, count=len(keys))
    np.add.at(matrix, (rows, cols), frame["cost"].to_numpy(np.float64))
    return {k: pd.Series(matrix[i], index=days) for i, k in enumerate(names)}


def scan_anomalies(
    con: duckdb.DuckDBPyConnection,
    schema: str,
    *,
    cost_type: str = "amortized",
    options: Mapping[str, Any] | None = None,
    previous: str | None = None,
    stable_periods: Collection[dt.date] = (),
) -> ScanResult:
    """Detect anomaly events in the daily series of every value of ``SCAN_DIMENSIONS``.

    ``con`` sees ``allocations`` and the snapshot attached as ``schema`` (with its rollups built);
    ``options`` are passed to ``detect`` (``min_impact``, ``min_percent``, ...). ``previous``
    (the previous snapshot, attached) and ``stable_periods`` (billing periods whose cube rows
    it gave unchanged) let unchanged series and root causes be re-used. Observed amounts are
    exact ``Decimal`` sums; ``expected_cost`` is the model's estimate in cents.
    """
    cost = quote(cost_column(cost_type))
    table = quote(_SERIES_TABLE)
    con.execute(
        _SERIES_SQL.format(table=table, cost=cost, schema=quote(schema)),
        {"charge_category": SCANNED_CHARGE_CATEGORY},
    )
    try:
        return _scan(con, schema, cost_type, dict(options or {}), previous, set(stable_periods))
    finally:
        con.execute(f"DROP TABLE IF EXISTS {table}")


def _scan(
    con: duckdb.DuckDBPyConnection,
    schema: str,
    cost_type: str,
    opts: dict[str, Any],
    previous: str | None,
    stable: set[dt.date],
) -> ScanResult:
    cost = quote(cost_column(cost_type))
    min_impact = float(opts.get("min_impact", DetectorOptions.min_impact))
    target = quote(schema)
    frame = con.execute(_SERIES_FLOAT_SQL.format(table=quote(_SERIES_TABLE))).df()
    owners = dict(con.execute(_OWNERS_SQL.format(schema=target)).fetchall())
    if frame.empty:
        return ScanResult(_empty(EVENT_COLUMNS), _empty(ROOT_CAUSE_COLUMNS), 0)
    first, last = pd.Timestamp(frame["usage_date"].min()), pd.Timestamp(frame["usage_date"].max())
    days = pd.date_range(first, last, freq="D")
    found: list[tuple[str, str, AnomalyEvent]] = []
    scanned = reused_series = 0
    known = {(str(d), str(v)): (str(h), str(e), st) for d, v, h, e, st in _previous(
        con, previous, _PREVIOUS_SERIES_SQL)}  # fmt: skip
    # The detector's state entering the last month is saved: when only that month is
    # re-delivered, the next scan resumes there instead of replaying the whole history.
    month_start = int(np.flatnonzero(np.asarray(days.day) == 1)[-1]) if (days.day == 1).any() else 0
    cache = []
    old_days: dict[str, list[tuple[Any, ...]]] = {}
    for aid, *day_row in _previous(con, previous, _PREVIOUS_DAYS_SQL):
        old_days.setdefault(str(aid), []).append(tuple(day_row))
    day_rows: list[tuple[Any, ...]] = []  # anomaly id, dimension, value, day, expected, anomalous
    held: dict[str, dt.date] = {}  # microservice event -> the last day its change held
    for (dimension, value), series in _series(frame, days).items():
        if float(np.abs(series.to_numpy()).max()) < min_impact:
            continue  # no day can move by min_impact dollars
        scanned += 1
        key = _series_hash(series, opts, cost_type)
        hit = known.get((dimension, value))
        reused = None
        if hit is not None and hit[0] == key:
            reused = _events_from_json(hit[1])
            ids = [anomaly_id(dimension, value, e.start, cost_type) for e in reused]
            if all(i in old_days for i in ids):  # an older snapshot has no per-day rows
                series_events, state_json = reused, hit[2]
                day_rows.extend((i, dimension, value, *row) for i in ids for row in old_days[i])
                reused_series += 1
            else:
                reused = None
        if reused is None:
            resume = DetectorState.from_json(hit[2]) if hit is not None and hit[2] else None
            verdicts, state = detect_from(series, resume, save_at=month_start or None, **opts)
            series_events = find_events(series, verdicts)
            state_json = state.to_json() if state is not None else None
            for e in series_events:
                aid = anomaly_id(dimension, value, e.start, cost_type)
                day_rows.extend(
                    (aid, dimension, value, *row) for row in _event_days(e, series, verdicts)
                )
        cache.append((dimension, value, key, _events_json(series_events), state_json))
        found.extend((dimension, value, e) for e in series_events)
        if dimension == "microservice":
            held.update(
                (anomaly_id(dimension, value, e.start, cost_type), effect_until(series, e).date())
                for e in series_events
            )
    day_frame, actual_by_id = _exact_days(con, day_rows)
    old_causes: dict[str, tuple[str, list[tuple[Any, ...]]]] = {}
    for aid, cause_key, *cause in _previous(con, previous, _PREVIOUS_CAUSES_SQL):
        entry = old_causes.setdefault(str(aid), (str(cause_key), []))
        if cause[0] is not None:
            entry[1].append(tuple(cause))
    keys, reused_causes = [], 0
    found.sort(key=lambda f: -abs(f[2].impact))
    kept: dict[str, list[tuple[Any, ...]]] = {}
    requests = []
    for i, (dimension, value, event) in enumerate(found):
        aid = anomaly_id(dimension, value, event.start, cost_type)
        b_start = max(first, event.start - pd.Timedelta(days=BASELINE_DAYS))
        cause_key = hashlib.sha256(
            json.dumps([CAUSE_METHOD, dimension, value, str(b_start), str(event.start),
                        str(event.last_seen), i < RESOURCE_EVENTS, cost_type]).encode()
        ).hexdigest()[:32]  # fmt: skip
        keys.append((aid, cause_key))
        old = old_causes.get(aid)
        if old is not None and old[0] == cause_key and _months(b_start, event.last_seen) <= stable:
            reused_causes += 1
            kept[aid] = [
                (aid, int(rank), str(dim), str(val), *map(_money, money), float(share))
                for rank, dim, val, *money, share in old[1]
            ]
            continue
        b_end = event.start - pd.Timedelta(days=1)
        if b_end < b_start:
            b_start = b_end = event.start  # no history before it: compare with its first day
        requests.append(
            CauseRequest(aid, dimension, value, event.start.date(), event.last_seen.date(),
                         b_start.date(), b_end.date(), i < RESOURCE_EVENTS)
        )  # fmt: skip
    ranked_by_id = rank_drivers(
        con, target, requests, cost, charge_category=SCANNED_CHARGE_CATEGORY
    )
    for aid, ranked in ranked_by_id.items():
        kept[aid] = [
            (aid, rank, c.dimension, c.value, c.baseline_cost, c.event_cost, c.delta_cost,
             round(c.share, 4))
            for rank, c in enumerate(ranked, start=1)
        ]  # fmt: skip
    events, causes = [], []
    for (dimension, value, event), (aid, _) in zip(found, keys, strict=True):
        ranked_causes = kept.get(aid, [])
        causes.extend(ranked_causes)
        top = describe_driver(ranked_causes[0][2], ranked_causes[0][3]) if ranked_causes else None
        owner = {"owner": value, "microservice": owners.get(value)}.get(dimension)
        actual = actual_by_id[aid]
        expected = _cents(event.expected) or Decimal(0)
        impact = actual - expected
        events.append((
            aid, dimension, value, owner, event.start.date(),
            event.end.date() if event.end is not None else None, event.last_seen.date(),
            event.ongoing, "increase" if impact >= 0 else "decrease", actual, expected, impact,
            _percent(impact, expected), round(event.max_score, 4), event.points, top, cost_type,
        ))  # fmt: skip
    cause_frame = (
        pd.DataFrame(causes, columns=list(ROOT_CAUSE_COLUMNS))
        if causes
        else _empty(ROOT_CAUSE_COLUMNS)
    )
    event_frame = (
        group_incidents(pd.DataFrame(events, columns=list(EVENT_COLUMNS[:-2])), cause_frame, held)
        if events
        else _empty(EVENT_COLUMNS)
    )
    return ScanResult(
        event_frame,
        cause_frame,
        scanned,
        pd.DataFrame(cache, columns=list(SERIES_CACHE_COLUMNS)),
        pd.DataFrame(keys, columns=list(CAUSE_KEY_COLUMNS)),
        reused_series,
        reused_causes,
        day_frame,
    )


def _money(value: Any) -> Decimal:
    return Decimal(value).quantize(_MONEY_PLACES)


def _percent(impact: Decimal, expected: Decimal) -> float | None:
    """Impact as a percentage of the expected cost (None when nothing was expected).

    >>> _percent(Decimal("50.0000000001"), Decimal("-200.00")), _percent(Decimal(1), Decimal(0))
    (25.0, None)
    """
    if expected == 0:
        return None if impact else 0.0
    return round(float(100 * impact / abs(expected)), 2)


def _exact_days(
    con: duckdb.DuckDBPyConnection, day_rows: list[tuple[Any, ...]]
) -> tuple[pd.DataFrame, dict[str, Decimal]]:
    """``DAY_COLUMNS`` rows with each day's exact scanned cost, and per event the exact sum over
    its anomalous days, both summed by DuckDB from the scanned series."""
    if not day_rows:
        return _empty(DAY_COLUMNS), {}
    rows = pd.DataFrame(
        day_rows,
        columns=["anomaly_id", "dimension", "value", "usage_date", "expected_cost", "anomalous"],
    )
    keys = rows[["anomaly_id", "dimension", "value", "usage_date", "anomalous"]].astype(
        {"usage_date": "datetime64[us]", "anomalous": bool}
    )
    con.register("_scan_event_days", keys)
    try:
        exact = con.execute(_EXACT_DAYS_SQL.format(table=quote(_SERIES_TABLE))).fetchall()
    finally:
        con.unregister("_scan_event_days")
    by_day = {(str(a), pd.Timestamp(d).date()): Decimal(c) for a, d, c, _ in exact}
    by_event = {str(a): Decimal(e) for a, _, _, e in exact}
    out = pd.DataFrame({
        "anomaly_id": rows["anomaly_id"].astype(str),
        "usage_date": [pd.Timestamp(d).date() for d in rows["usage_date"]],
        "actual_cost": [by_day[(str(a), pd.Timestamp(d).date())]
                        for a, d in zip(rows["anomaly_id"], rows["usage_date"], strict=True)],
        "expected_cost": [None if v is None or v != v else _money(v).quantize(_CENT)
                          for v in rows["expected_cost"]],
        "anomalous": rows["anomalous"].astype(bool),
    })  # fmt: skip
    return out[list(DAY_COLUMNS)], by_event


def _empty(columns: tuple[str, ...]) -> pd.DataFrame:
    return pd.DataFrame({c: [] for c in columns})
