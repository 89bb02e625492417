"""Scan every owner, microservice, AWS service and account for anomalies, with root causes.

The daily series come from the snapshot's ``rollup_daily`` (zero on days without cost, from the
first day of data, so a new service's ramp is seen as one); each goes through ``detect`` and
``find_events``, so a level shift or a ramp is one event, not one alert a day. Every event gets a
stable id (dimension, value, first anomalous day and cost type) and a root cause: the ranked
contributions of its drivers (service, account, region, usage type, and the owner or
microservice where it is not the scanned dimension) from the ``daily`` cube, plus resources from
``allocations`` for the largest events.

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
from typing import Any

import duckdb
import numpy as np
import pandas as pd

from costlens.anomalies.detect import DetectorOptions, detect
from costlens.anomalies.events import AnomalyEvent, find_events
from costlens.anomalies.root_cause import root_cause
from costlens.rollups import cost_column, quote

__all__ = ["DRIVERS_BY_DIMENSION", "SCAN_DIMENSIONS", "ScanResult", "anomaly_id", "scan_anomalies"]

SCAN_DIMENSIONS: tuple[str, ...] = ("owner", "microservice", "service_code", "account_id")
"""The dimensions whose every value's daily series is scanned."""

DRIVERS_BY_DIMENSION: dict[str, tuple[str, ...]] = {
    "owner": ("microservice", "service_code", "account_id", "region", "usage_type"),
    "microservice": ("service_code", "account_id", "region", "usage_type"),
    "service_code": ("owner", "account_id", "region", "usage_type"),
    "account_id": ("owner", "service_code", "region", "usage_type"),
}
"""Driver columns of the root cause of an event on each scanned dimension."""

BASELINE_DAYS = 28
"""Days before an event that its root cause compares against."""
RESOURCE_EVENTS = 25
"""Events (largest impact first) whose root cause also ranks resources, read from allocations."""
ROOT_CAUSE_ROWS = 10
"""Contributions kept per event."""
TIE_SHARE = 0.02
"""Contributions within 2 % of the largest one count as ties, broken by specificity."""
COMBINED = ("service_code", "account_id", "region", "usage_type")
COMBINATION = "service_code/account_id/region/usage_type"
"""The driver that combines ``COMBINED`` (values joined by ``/``)."""
_SPECIFICITY = {
    d: i
    for i, d in enumerate(
        ("owner", "microservice", "service_code", "account_id", "region", "usage_type",
         COMBINATION, "resource_id")
    )
}  # fmt: skip

EVENT_COLUMNS = (
    "anomaly_id", "dimension", "value", "owner", "start_date", "end_date", "last_seen",
    "ongoing", "direction", "actual_cost", "expected_cost", "impact_cost", "impact_percent",
    "max_score", "days", "top_driver", "cost_type",
)  # fmt: skip
ROOT_CAUSE_COLUMNS = (
    "anomaly_id", "rank", "dimension", "value", "baseline_cost", "event_cost", "delta_cost",
    "share",
)  # fmt: skip


SERIES_CACHE_COLUMNS = ("dimension", "value", "series_hash", "events")
CAUSE_KEY_COLUMNS = ("anomaly_id", "cause_key")


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


def _series_hash(series: pd.Series, opts: Mapping[str, Any], cost_type: str) -> str:
    digest = hashlib.sha256(json.dumps([sorted(opts.items()), cost_type], default=str).encode())
    digest.update(series.index.to_numpy(dtype="datetime64[ns]").view(np.int64).tobytes())
    digest.update(series.to_numpy(np.float64).tobytes())
    return digest.hexdigest()[:32]


def _events_json(events: list[AnomalyEvent]) -> str:
    return json.dumps([
        [e.start.isoformat(), e.last_seen.isoformat(),
         None if e.end is None else e.end.isoformat(), e.actual, e.expected, e.max_score, e.points]
        for e in events
    ])  # fmt: skip


def _events_from_json(text: str) -> list[AnomalyEvent]:
    return [
        AnomalyEvent(pd.Timestamp(a), pd.Timestamp(b), None if c is None else pd.Timestamp(c),
                     float(d), float(e), float(f), int(g))
        for a, b, c, d, e, f, g in json.loads(text)
    ]  # fmt: skip


def _previous(
    con: duckdb.DuckDBPyConnection, previous: str | None, sql: str
) -> list[tuple[Any, ...]]:
    if previous is None:
        return []
    try:
        return con.execute(sql.format(previous=quote(previous))).fetchall()
    except duckdb.Error:
        return []  # an older snapshot without the table: nothing to re-use


_PREVIOUS_SERIES_SQL = "SELECT dimension, value, series_hash, events FROM {previous}.anomaly_series"
_PREVIOUS_CAUSES_SQL = """
SELECT k.anomaly_id, k.cause_key, c.rank, c.dimension, c.value, c.baseline_cost, c.event_cost,
       c.delta_cost, c.share
FROM {previous}.anomaly_cause_keys k
LEFT JOIN {previous}.anomaly_root_causes c USING (anomaly_id)
ORDER BY k.anomaly_id, c.rank
"""


def _months(start: pd.Timestamp, end: pd.Timestamp) -> set[dt.date]:
    return {p.date() for p in pd.date_range(start.replace(day=1), end, freq="MS")}


def anomaly_id(dimension: str, value: str, start: pd.Timestamp, cost_type: str) -> str:
    """Stable id of an event: the same incident keeps it across refreshes.

    >>> anomaly_id("owner", "payments", pd.Timestamp("2024-03-05"), "amortized")
    'a-...'
    """
    key = f"{dimension}\x1f{value}\x1f{start.date().isoformat()}\x1f{cost_type}"
    return "a-" + hashlib.sha256(key.encode()).hexdigest()[:16]


_SERIES_SQL = """
SELECT dimension, value, usage_date, CAST(SUM({cost}) AS DOUBLE) AS cost
FROM {schema}.rollup_daily
WHERE dimension IN ('owner', 'microservice', 'service_code', 'account_id')
GROUP BY ALL
"""

_OWNERS_SQL = """
SELECT microservice, arg_max(owner, total) FROM (
  SELECT microservice, owner, SUM(unblended_cost) AS total FROM {schema}.daily GROUP BY ALL
) GROUP BY microservice
"""


def _series(frame: pd.DataFrame, days: pd.DatetimeIndex) -> dict[tuple[str, str], pd.Series]:
    out = {}
    for (dimension, value), group in frame.groupby(["dimension", "value"], sort=True):
        s = pd.Series(
            group["cost"].to_numpy(np.float64), index=pd.DatetimeIndex(group["usage_date"])
        )
        out[(str(dimension), str(value))] = s.groupby(level=0).sum().reindex(days, fill_value=0.0)
    return out


def _root_cause(
    con: duckdb.DuckDBPyConnection,
    schema: str,
    dimension: str,
    value: str,
    event: AnomalyEvent,
    cost: str,
    first_day: pd.Timestamp,
    with_resources: bool,
) -> pd.DataFrame:
    e_start, e_end = event.start, event.last_seen
    b_end = e_start - pd.Timedelta(days=1)
    b_start = max(first_day, e_start - pd.Timedelta(days=BASELINE_DAYS))
    if b_end < b_start:
        b_start = b_end = e_start  # no history before it: compare with its own first day
    drivers = DRIVERS_BY_DIMENSION[dimension]
    cols = ", ".join(quote(d) for d in drivers)
    combined = ", ".join(quote(d) for d in COMBINED)
    params = {"value": value, "start": b_start.date(), "end": e_end.date()}
    sql = (
        f"SELECT usage_date, {cols}, concat_ws('/', {combined}) AS combination, "  # noqa: S608
        f"CAST(SUM({cost}) AS DOUBLE) AS cost "
        f"FROM {schema}.daily WHERE {quote(dimension)} = $value "
        "AND usage_date BETWEEN $start AND $end GROUP BY ALL"
    )
    frame = con.execute(sql, params).df().rename(columns={"combination": COMBINATION})
    if frame.empty:
        return pd.DataFrame(columns=list(ROOT_CAUSE_COLUMNS[2:]))
    frame["usage_date"] = pd.to_datetime(frame["usage_date"])
    # A driver with one value over both windows (one region, say) explains nothing.
    names = [d for d in drivers if frame[d].nunique() > 1] or list(drivers)
    if frame[COMBINATION].nunique() > 1:
        names.append(COMBINATION)
    windows = ((e_start, e_end), (b_start, b_end))
    ranked = root_cause(frame, *windows, drivers=names, cost_column="cost")
    if with_resources:
        res = con.execute(
            "SELECT usage_date, resource_id, CAST(SUM(" + cost + ") AS DOUBLE) AS cost "
            f"FROM allocations WHERE {quote(dimension)} = $value AND resource_id <> '' "
            "AND usage_date BETWEEN $start AND $end GROUP BY ALL",
            params,
        ).df()
        if res["resource_id"].nunique() > 1:
            res["usage_date"] = pd.to_datetime(res["usage_date"])
            by_resource = root_cause(res, *windows, drivers=["resource_id"], cost_column="cost")
            total = _total_change(frame, windows)
            by_resource["share"] = by_resource["delta_cost"] / total if total else 0.0
            ranked = pd.concat([ranked, by_resource], ignore_index=True)
    return _rank(ranked).head(ROOT_CAUSE_ROWS)


def _rank(ranked: pd.DataFrame) -> pd.DataFrame:
    """Largest contribution first; among contributions within ``TIE_SHARE`` of each other, the
    most specific driver (the dimension with the most values) first: a resource or a
    service/account/region/usage type combination names the cause more precisely than its
    account, whose delta also carries the noise of everything else in it."""
    if ranked.empty:
        return ranked
    size = ranked["delta_cost"].abs()
    top = float(size.max()) or 1.0
    keys = pd.DataFrame(
        {
            "bucket": (size / top / TIE_SHARE).round(),
            "values": ranked.groupby("dimension")["value"].transform("count"),
            "specific": ranked["dimension"].map(_SPECIFICITY).fillna(0),
            "size": size,
        }
    )
    by = ["bucket", "values", "specific", "size"]
    order = keys.sort_values(by, ascending=False, kind="stable").index
    return ranked.loc[order].reset_index(drop=True)


def _total_change(
    frame: pd.DataFrame, windows: tuple[tuple[pd.Timestamp, pd.Timestamp], ...]
) -> float:
    (e_start, e_end), (b_start, b_end) = windows
    dates, cost = frame["usage_date"], frame["cost"]
    event = float(cost[(dates >= e_start) & (dates <= e_end)].sum())
    base = float(cost[(dates >= b_start) & (dates <= b_end)].sum())
    e_days, b_days = (e_end - e_start).days + 1, (b_end - b_start).days + 1
    return event - base * e_days / b_days


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
    it gave unchanged) let unchanged series and root causes be re-used.
    """
    cost = quote(cost_column(cost_type))
    opts = dict(options or {})
    min_impact = float(opts.get("min_impact", DetectorOptions.min_impact))
    target = quote(schema)
    frame = con.execute(_SERIES_SQL.format(cost=cost, schema=target)).df()
    owners = dict(con.execute(_OWNERS_SQL.format(schema=target)).fetchall())
    if frame.empty:
        return ScanResult(_empty(EVENT_COLUMNS), _empty(ROOT_CAUSE_COLUMNS), 0)
    first, last = pd.Timestamp(frame["usage_date"].min()), pd.Timestamp(frame["usage_date"].max())
    days = pd.date_range(first, last, freq="D")
    found: list[tuple[str, str, AnomalyEvent]] = []
    scanned = reused_series = 0
    known = {(str(d), str(v)): (str(h), str(e)) for d, v, h, e in _previous(
        con, previous, _PREVIOUS_SERIES_SQL)}  # fmt: skip
    cache = []
    for (dimension, value), series in _series(frame, days).items():
        if float(np.abs(series.to_numpy()).max()) < min_impact:
            continue  # no day can move by min_impact dollars
        scanned += 1
        key = _series_hash(series, opts, cost_type)
        hit = known.get((dimension, value))
        if hit is not None and hit[0] == key:
            series_events = _events_from_json(hit[1])
            reused_series += 1
        else:
            series_events = find_events(series, detect(series, **opts))
        cache.append((dimension, value, key, _events_json(series_events)))
        found.extend((dimension, value, e) for e in series_events)
    old_causes: dict[str, tuple[str, list[tuple[Any, ...]]]] = {}
    for aid, cause_key, *cause in _previous(con, previous, _PREVIOUS_CAUSES_SQL):
        entry = old_causes.setdefault(str(aid), (str(cause_key), []))
        if cause[0] is not None:
            entry[1].append(tuple(cause))
    stable = set(stable_periods)
    keys, reused_causes = [], 0
    found.sort(key=lambda f: -abs(f[2].impact))
    events, causes = [], []
    for i, (dimension, value, event) in enumerate(found):
        aid = anomaly_id(dimension, value, event.start, cost_type)
        b_start = max(first, event.start - pd.Timedelta(days=BASELINE_DAYS))
        cause_key = hashlib.sha256(
            json.dumps([dimension, value, str(b_start), str(event.start), str(event.last_seen),
                        i < RESOURCE_EVENTS, cost_type]).encode()
        ).hexdigest()[:32]  # fmt: skip
        keys.append((aid, cause_key))
        old = old_causes.get(aid)
        if old is not None and old[0] == cause_key and _months(b_start, event.last_seen) <= stable:
            reused_causes += 1
            for rank, dim, val, *money, share in old[1]:
                causes.append(
                    (aid, int(rank), str(dim), str(val), *map(float, money), float(share))
                )
            top = f"{old[1][0][1]}={old[1][0][2]}" if old[1] else None
        else:
            ranked = _root_cause(
                con, target, dimension, value, event, cost, first, i < RESOURCE_EVENTS
            )
            top = (
                f"{ranked.iloc[0]['dimension']}={ranked.iloc[0]['value']}" if len(ranked) else None
            )
            for rank, row in enumerate(ranked.to_dict("records"), start=1):
                causes.append((
                    aid, rank, str(row["dimension"]), str(row["value"]),
                    round(float(row["baseline_cost"]), 2), round(float(row["event_cost"]), 2),
                    round(float(row["delta_cost"]), 2), round(float(row["share"]), 4),
                ))  # fmt: skip
        pct = event.impact_percent
        owner = {"owner": value, "microservice": owners.get(value)}.get(dimension)
        events.append((
            aid, dimension, value, owner, event.start.date(),
            event.end.date() if event.end is not None else None, event.last_seen.date(),
            event.ongoing, event.direction, round(event.actual, 2), round(event.expected, 2),
            round(event.impact, 2), None if not np.isfinite(pct) else round(pct, 2),
            round(event.max_score, 4), event.points, top, cost_type,
        ))  # fmt: skip
    return ScanResult(
        pd.DataFrame(events, columns=list(EVENT_COLUMNS)) if events else _empty(EVENT_COLUMNS),
        pd.DataFrame(causes, columns=list(ROOT_CAUSE_COLUMNS))
        if causes
        else _empty(ROOT_CAUSE_COLUMNS),
        scanned,
        pd.DataFrame(cache, columns=list(SERIES_CACHE_COLUMNS)),
        pd.DataFrame(keys, columns=list(CAUSE_KEY_COLUMNS)),
        reused_series,
        reused_causes,
    )


def _empty(columns: tuple[str, ...]) -> pd.DataFrame:
    return pd.DataFrame({c: [] for c in columns})
