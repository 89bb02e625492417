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

Layout: this module holds the scan itself; the series it reads are prepared in ``scan_series``,
the events' money is in ``scan_amounts``, what it returns in ``scan_result`` and what it re-uses
from the previous snapshot in ``scan_cache``.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import time
from collections.abc import Collection, Mapping
from dataclasses import replace
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

import duckdb
import numpy as np
import pandas as pd

from costlens.anomalies.describe import describe_headline
from costlens.anomalies.detect import detect_from
from costlens.anomalies.detector_options import DetectorOptions
from costlens.anomalies.detector_state import DetectorState
from costlens.anomalies.driver_ranking import (
    DRIVERS_BY_DIMENSION,
    CauseRequest,
    rank_drivers,
)
from costlens.anomalies.events import EFFECT_WINDOW, AnomalyEvent, effect_until, find_events
from costlens.anomalies.follow import Followed, follow
from costlens.anomalies.hourly_scan import merge_grains, scan_hourly
from costlens.anomalies.incidents import group_incidents
from costlens.anomalies.scan_amounts import cents as _cents
from costlens.anomalies.scan_amounts import event_days as _event_days
from costlens.anomalies.scan_amounts import exact_days as _exact_days
from costlens.anomalies.scan_amounts import followed_amounts as _followed_amounts
from costlens.anomalies.scan_amounts import money as _money
from costlens.anomalies.scan_amounts import percent as _percent
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
from costlens.anomalies.scan_result import (
    CAUSE_KEY_COLUMNS,
    DAY_COLUMNS,
    EVENT_COLUMNS,
    ROOT_CAUSE_COLUMNS,
    SERIES_CACHE_COLUMNS,
    ScanResult,
)
from costlens.anomalies.scan_result import empty_frame as _empty_frame
from costlens.anomalies.scan_series import SERIES_FLOAT_SQL as _SERIES_FLOAT_SQL
from costlens.anomalies.scan_series import SERIES_SQL as _SERIES_SQL
from costlens.anomalies.scan_series import SERIES_TABLE as _SERIES_TABLE
from costlens.anomalies.scan_series import daily_series as _daily_series
from costlens.schema import cost_column
from costlens.sql import quote

__all__ = [
    "DRIVERS_BY_DIMENSION",
    "SCANNED_CHARGE_CATEGORY",
    "SCAN_DIMENSIONS",
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
CAUSE_METHOD = "additive-2"
"""Version of the root-cause computation; a cached cause of another version is recomputed."""


def _followed_figures(
    event: AnomalyEvent, f: Followed, reference: Decimal | None, money: tuple[Decimal, Decimal]
) -> tuple[str, dt.date, dt.date | None, Decimal | None, Decimal | None]:
    """``follow_state``, ``followed_until``, ``settled_since``, ``total_impact`` (the exact cost
    from the first anomalous day to ``followed_until`` less the reference level on each of those
    days) and ``daily_excess`` (the last week's mean over the reference, to the cent; None once
    ended). Without a reference (no anomalous point) there is no excess to measure."""
    total, recent = money
    if reference is None:
        return f.state, f.until.date(), None, None, None
    days = (f.until - event.start).days + 1
    excess = None
    if f.state != "ended":
        week = min(EFFECT_WINDOW, days)
        excess = _money(recent / week - reference).quantize(Decimal("0.01"), ROUND_HALF_UP)
    since = f.since.date() if f.since is not None else None
    return f.state, f.until.date(), since, total - reference * days, excess


def anomaly_id(dimension: str, value: str, start: pd.Timestamp, cost_type: str) -> str:
    """Stable id of an event: the same incident keeps it across refreshes.

    >>> anomaly_id("owner", "payments", pd.Timestamp("2024-03-05"), "amortized")
    'a-...'
    """
    key = f"{dimension}\x1f{value}\x1f{start.date().isoformat()}\x1f{cost_type}"
    return "a-" + hashlib.sha256(key.encode()).hexdigest()[:16]


_OWNERS_SQL = """
SELECT microservice, arg_max(owner, total) FROM (
  SELECT microservice, owner, SUM(unblended_cost) AS total FROM {schema}.daily GROUP BY ALL
) GROUP BY microservice
"""


def scan_anomalies(
    con: duckdb.DuckDBPyConnection,
    schema: str,
    *,
    cost_type: str = "amortized",
    options: Mapping[str, Any] | None = None,
    previous: str | None = None,
    stable_periods: Collection[dt.date] = (),
    hourly: bool = False,
) -> ScanResult:
    """Detect anomaly events in the daily series of every value of ``SCAN_DIMENSIONS``.

    ``con`` sees ``allocations`` and the snapshot attached as ``schema`` (with its rollups built);
    ``options`` are passed to ``detect`` (``min_impact``, ``min_percent``, ...). ``previous``
    (the previous snapshot, attached) and ``stable_periods`` (billing periods whose cube rows
    it gave unchanged) let unchanged series and root causes be re-used. Observed amounts are
    exact ``Decimal`` sums; ``expected_cost`` is the model's estimate in cents. With ``hourly``
    the warehouse's ``allocations_hourly`` is scanned too (``hourly_scan``) and its events join
    the daily incidents of the same change (``merge_grains``).
    """
    cost = quote(cost_column(cost_type))
    table = quote(_SERIES_TABLE)
    con.execute(
        _SERIES_SQL.format(table=table, cost=cost, schema=quote(schema)),
        {"charge_category": SCANNED_CHARGE_CATEGORY},
    )
    try:
        daily = _scan(con, schema, cost_type, dict(options or {}), previous, set(stable_periods))
    finally:
        con.execute(f"DROP TABLE IF EXISTS {table}")
    found = None
    if hourly:
        owners = dict(con.execute(_OWNERS_SQL.format(schema=quote(schema))).fetchall())
        found = scan_hourly(
            con, cost, cost_type, dict(options or {}), owners, SCANNED_CHARGE_CATEGORY
        )
    if found is None or found.events.empty:
        return replace(daily, events=merge_grains(daily.events, _empty_frame(())))
    causes = pd.DataFrame(found.causes, columns=list(ROOT_CAUSE_COLUMNS))
    days = pd.DataFrame(found.days, columns=list(DAY_COLUMNS))
    return replace(
        daily,
        events=merge_grains(daily.events, found.events),
        root_causes=pd.concat([daily.root_causes, causes], ignore_index=True),
        series_scanned=daily.series_scanned + found.series_scanned,
        days=days if daily.days is None else pd.concat([daily.days, days], ignore_index=True),
    )


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
        return ScanResult(_empty_frame(EVENT_COLUMNS), _empty_frame(ROOT_CAUSE_COLUMNS), 0)
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
    followed: dict[str, tuple[Followed, Decimal | None]] = {}  # event -> its state, reference
    follow_rows: list[tuple[str, str, str, dt.date, dt.date, dt.date]] = []
    for (dimension, value), series in _daily_series(frame, days).items():
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
        for e in series_events:
            aid = anomaly_id(dimension, value, e.start, cost_type)
            until = effect_until(series, e)
            reference = _cents(e.expected / e.points) if e.points else None
            followed[aid] = (follow(series, float(reference or 0), e.start, until), reference)
            follow_rows.append((aid, dimension, value, e.start.date(), until.date(),
                                (until - pd.Timedelta(days=EFFECT_WINDOW - 1)).date()))  # fmt: skip
    day_frame, actual_by_id = _exact_days(con, day_rows)
    followed_money = _followed_amounts(con, follow_rows)
    old_causes: dict[str, tuple[str, list[tuple[Any, ...]]]] = {}
    for aid, cause_key, *cause in _previous(con, previous, _PREVIOUS_CAUSES_SQL):
        entry = old_causes.setdefault(str(aid), (str(cause_key), []))
        if cause[0] is not None:
            entry[1].append(tuple(cause))
    keys, reused_causes = [], 0
    found.sort(key=lambda f: -abs(f[2].impact))
    kept: dict[str, list[tuple[Any, ...]]] = {}
    requests = []
    anomalous: dict[str, list[dt.date]] = {}
    for aid, _, _, day, _, flag in day_rows:
        if flag:
            anomalous.setdefault(str(aid), []).append(pd.Timestamp(day).date())
    for i, (dimension, value, event) in enumerate(found):
        aid = anomaly_id(dimension, value, event.start, cost_type)
        days_of = tuple(sorted(set(anomalous.get(aid, ()))))
        expected = _cents(event.expected) or Decimal(0)
        b_start = max(first, event.start - pd.Timedelta(days=BASELINE_DAYS))
        cause_key = hashlib.sha256(
            json.dumps([CAUSE_METHOD, dimension, value, str(b_start), [str(d) for d in days_of],
                        str(expected), i < RESOURCE_EVENTS, cost_type]).encode()
        ).hexdigest()[:32]  # fmt: skip
        keys.append((aid, cause_key))
        old = old_causes.get(aid)
        if old is not None and old[0] == cause_key and _months(b_start, event.last_seen) <= stable:
            reused_causes += 1
            kept[aid] = [
                (aid, int(rank), str(dim), str(val), *map(_money, money), float(share), int(n))
                for rank, dim, val, *money, share, n in old[1]
            ]
            continue
        b_end = event.start - pd.Timedelta(days=1)
        if b_end < b_start:
            b_start = b_end = event.start  # no history before it: compare with its first day
        requests.append(
            CauseRequest(aid, dimension, value, days_of, b_start.date(), b_end.date(), expected,
                         i < RESOURCE_EVENTS)
        )  # fmt: skip
    causes_started = time.perf_counter()
    ranked_by_id = rank_drivers(
        con, target, requests, cost, charge_category=SCANNED_CHARGE_CATEGORY
    )
    cause_seconds = time.perf_counter() - causes_started
    for aid, ranked in ranked_by_id.items():
        kept[aid] = [
            (aid, rank, c.dimension, c.value, c.expected_cost, c.actual_cost, c.delta_cost,
             round(c.share, 4), c.others)
            for rank, c in enumerate(ranked, start=1)
        ]  # fmt: skip
    events, causes = [], []
    for (dimension, value, event), (aid, _) in zip(found, keys, strict=True):
        ranked_causes = kept.get(aid, [])
        causes.extend(ranked_causes)
        owner = {"owner": value, "microservice": owners.get(value)}.get(dimension)
        actual = actual_by_id[aid]
        expected = _cents(event.expected) or Decimal(0)
        impact = actual - expected
        top = (
            describe_headline(ranked_causes[0][2], ranked_causes[0][3], ranked_causes[0][6], impact)
            if ranked_causes
            else None
        )
        events.append((
            aid, dimension, value, owner, event.start.date(),
            event.end.date() if event.end is not None else None, event.last_seen.date(),
            event.ongoing, "increase" if impact >= 0 else "decrease", actual, expected, impact,
            _percent(impact, expected), round(event.max_score, 4), event.points, top,
            *_followed_figures(event, *followed[aid], followed_money[aid]), cost_type,
        ))  # fmt: skip
    cause_frame = (
        pd.DataFrame(causes, columns=list(ROOT_CAUSE_COLUMNS))
        if causes
        else _empty_frame(ROOT_CAUSE_COLUMNS)
    )
    event_frame = (
        group_incidents(
            pd.DataFrame(events, columns=list(EVENT_COLUMNS[:-2])),
            cause_frame,
            {aid: f.until.date() for aid, (f, _) in followed.items()},  # the days each held
        )
        if events
        else _empty_frame(EVENT_COLUMNS)
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
        cause_seconds,
    )
