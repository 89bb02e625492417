"""Root causes that add up: each anomaly event's impact split over its drivers, exactly.

An event's impact is its actual cost over its anomalous days less the detector's expected cost
of those days (``scan``). The split starts from the finest breakdown the snapshot holds for the
event's series: every combination of its driver columns (``DRIVERS_BY_DIMENSION``: service,
account, region, usage type, and the microservice or owner where that is not the scanned
dimension), and for the largest events also the resource, read from ``allocations``. Each finest
row gets

* ``actual_cost``: its exact ``DECIMAL`` cost over the anomalous days;
* ``expected_cost``: the event's expected cost in proportion to the row's cost over the
  baseline window (the ``BASELINE_DAYS`` before the event), allocated to the 10th decimal by
  largest remainder so the rows' expected costs add up to the event's exactly (a row with no
  baseline cost, a new resource, expects nothing; with no baseline at all, the split follows
  the actual costs);
* ``delta_cost`` = ``actual_cost - expected_cost``, its contribution.

The finest rows' contributions add up to the impact exactly, and so do the rows of every coarser
view, each the sum of the finest rows it holds: by resource, by service · account · region ·
usage type (``COMBINATION``), by usage type, service, account, microservice, owner, region.
Each view keeps its ``ROOT_CAUSE_ROWS`` largest contributions, positive and negative, and folds
the rest into one row (``others``: how many values it holds), so it still adds up.

The headline (rank 1) is the most specific row that carries most of the change: going from the
finest view to the coarsest (``HEADLINE_ORDER``), the first view whose largest contribution in
the impact's direction explains at least ``HEADLINE_SHARE`` of it. When no single row does (the
change is spread), it is the largest row in the impact's direction by service (by account,
region, ... when the event is on one service: ``_FALLBACK_ORDER``). The other rows follow view by
view, finest first.

All of it runs in DuckDB (``rank_finest``), whatever the number of finest rows (a large event
at 100M line items has tens of thousands); Python sees the kept rows only. $10 expected over
three equal rows is split 3.3333333334, 3.3333333333, 3.3333333333.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal, localcontext
from typing import Any

import duckdb
import pandas as pd

from costlens.schema import SUM_MONEY
from costlens.sql import quote

__all__ = [
    "COMBINATION",
    "COMBINED",
    "DRIVERS_BY_DIMENSION",
    "FINEST_COLUMNS",
    "HEADLINE_ORDER",
    "HEADLINE_SHARE",
    "ROOT_CAUSE_ROWS",
    "CauseRequest",
    "Contribution",
    "FinestQuery",
    "rank_drivers",
    "rank_finest",
    "views_of",
]

DRIVERS_BY_DIMENSION: dict[str, tuple[str, ...]] = {
    "owner": ("microservice", "service_code", "account_id", "region", "usage_type"),
    "microservice": ("service_code", "account_id", "region", "usage_type"),
    "service_code": ("owner", "microservice", "account_id", "region", "usage_type"),
    "account_id": ("owner", "microservice", "service_code", "region", "usage_type"),
}
"""Driver columns of the root cause of an event on each scanned dimension (the microservice of
a broader event is always a view: it says which microservice incident the event belongs to)."""

ROOT_CAUSE_ROWS = 10
"""Rows kept per view, the rest folded into one."""
HEADLINE_SHARE = 0.5
"""Share of the impact the headline row must explain to be chosen over a coarser view."""
COMBINED = ("service_code", "account_id", "region", "usage_type")
COMBINATION = "service_code/account_id/region/usage_type"
"""The view that combines ``COMBINED`` (values joined by ``/``)."""
RESOURCE = "resource_id"
HEADLINE_ORDER = (
    RESOURCE, COMBINATION, "usage_type", "service_code", "account_id", "microservice", "owner",
    "region",
)  # fmt: skip
"""Views from the most specific to the least: the headline is sought in this order, and the
views are listed in it. A region comes last: it is the hardest to act on."""
_FALLBACK_ORDER = (
    "service_code", "account_id", "region", "owner", "microservice", "usage_type", COMBINATION,
    RESOURCE,
)  # fmt: skip
"""Where the headline of a spread-out change is taken from, coarsest first."""
_QUANTUM = Decimal("1E-10")


@dataclass(frozen=True)
class CauseRequest:
    """One event whose impact is to be split over its drivers."""

    key: str
    """The caller's id of the event (the anomaly id)."""
    dimension: str
    """Scanned dimension (a key of ``DRIVERS_BY_DIMENSION``)."""
    value: str
    days: tuple[dt.date, ...]
    """The event's anomalous days (its impact's days)."""
    baseline_start: dt.date
    baseline_end: dt.date
    expected: Decimal
    """The detector's expected cost over ``days`` (the event's ``expected_cost``)."""
    with_resources: bool
    """Also split by resource (one pass over ``allocations`` for all such events)."""


@dataclass(frozen=True)
class Contribution:
    """One row of a view of an event's change: exact dollars, not rounded to cents."""

    dimension: str
    """The view (a driver column, ``COMBINATION`` or ``resource_id``)."""
    value: str
    """The driver's value (``/``-joined for ``COMBINATION``; empty for folded rows)."""
    expected_cost: Decimal
    """Its part of the event's expected cost."""
    actual_cost: Decimal
    """Its exact cost over the event's anomalous days."""
    delta_cost: Decimal
    """``actual_cost - expected_cost``: its contribution to the impact."""
    share: float
    """``delta_cost`` over the impact."""
    others: int = 0
    """How many values this row folds together (0: one value, ``value``)."""


@dataclass(frozen=True)
class FinestQuery:
    """A query of finest rows: one row per event (``anomaly_id``) and combination of
    ``columns`` (driver columns of ``FINEST_COLUMNS``, in the order their rows sort in), with
    its exact ``actual_sum`` over the event's anomalous days and ``base_sum`` over its
    baseline; ``params`` are bound to it."""

    sql: str
    columns: tuple[str, ...]
    params: Mapping[str, Any] = field(default_factory=dict)


FINEST_COLUMNS = ("owner", "microservice", "service_code", "account_id", "region", "usage_type",
                  RESOURCE)  # fmt: skip
"""The columns a finest row can hold (the scanned one is the event's value)."""

_CUBE_SQL = """
SELECT e.anomaly_id, {drivers},
       SUM(CASE WHEN a.usage_date IS NOT NULL THEN d.{cost} END) AS actual_sum,
       SUM(CASE WHEN d.usage_date BETWEEN e.b_start AND e.b_end THEN d.{cost} END) AS base_sum
FROM {schema}.daily d
JOIN _cause_events e ON e.dimension = $dimension AND d.{dimension} = e.value
 AND d.usage_date BETWEEN e.b_start AND e.last_day
LEFT JOIN _cause_days a ON a.anomaly_id = e.anomaly_id AND a.usage_date = d.usage_date
WHERE d.charge_category = $charge_category AND e.with_resources = $with_resources
GROUP BY ALL
"""

_RESOURCES_SQL = """
WITH candidates AS MATERIALIZED (
  SELECT usage_date, {columns}, SUM({cost}) AS cost FROM allocations
  WHERE usage_date BETWEEN $first AND $last AND charge_category = $charge_category
    AND {dimension} IN (SELECT value FROM _cause_events WHERE with_resources
                        AND dimension = $dimension)
  GROUP BY ALL
)
SELECT e.anomaly_id, {drivers}, c.resource_id,
       SUM(CASE WHEN a.usage_date IS NOT NULL THEN c.cost END) AS actual_sum,
       SUM(CASE WHEN c.usage_date BETWEEN e.b_start AND e.b_end THEN c.cost END) AS base_sum
FROM candidates c
JOIN _cause_events e ON e.dimension = $dimension AND e.with_resources
 AND c.{dimension} = e.value AND c.usage_date BETWEEN e.b_start AND e.last_day
LEFT JOIN _cause_days a ON a.anomaly_id = e.anomaly_id AND a.usage_date = c.usage_date
GROUP BY ALL
"""

_FINEST_TABLE_SQL = f"""
CREATE OR REPLACE TEMP TABLE _cause_finest (
  anomaly_id VARCHAR, ord BIGINT, {", ".join(f"{quote(c)} VARCHAR" for c in FINEST_COLUMNS)},
  actual {SUM_MONEY}, base {SUM_MONEY}
)
"""

_INSERT_SQL = """
INSERT INTO _cause_finest BY NAME
SELECT anomaly_id,
       row_number() OVER (PARTITION BY anomaly_id ORDER BY {order}, actual_sum, base_sum) AS ord,
       {columns}, COALESCE(actual_sum, 0) AS actual, COALESCE(base_sum, 0) AS base
FROM ({sql})
"""
"""A query's finest rows numbered in the order of their columns as text (a missing value is
``''``; ties, a NULL and an empty value of one driver, by their sums), the order in which the
split's ties are broken."""

_SPLIT_SQL = """
WITH finest AS (
  SELECT f.anomaly_id, f.ord, f.actual, f.base, CAST(r.units AS HUGEINT) AS units, {columns}
  FROM _cause_finest f JOIN _cause_requests r USING (anomaly_id)
), events AS (
  SELECT anomaly_id, bool_or(base <> 0) AS by_base, count(*) AS n_rows,
         CAST(CASE WHEN bool_or(base <> 0) THEN SUM(base) ELSE SUM(actual) END * 10000000000
              AS HUGEINT) AS total
  FROM _cause_finest GROUP BY anomaly_id
), scaled AS (
  SELECT f.*,
         f.units * CASE WHEN e.total = 0 THEN 1 ELSE CAST(
           CASE WHEN e.by_base THEN f.base ELSE f.actual END * 10000000000 AS HUGEINT) END AS num,
         CASE WHEN e.total = 0 THEN CAST(e.n_rows AS HUGEINT) ELSE e.total END AS den
  FROM finest f JOIN events e USING (anomaly_id)
), floored AS (
  SELECT *, num // den - CASE WHEN num % den <> 0 AND (num < 0) <> (den < 0) THEN 1 ELSE 0 END
         AS q
  FROM scaled
), ranked AS (
  SELECT *, units - SUM(q) OVER (PARTITION BY anomaly_id) AS left_over,
         row_number() OVER (PARTITION BY anomaly_id ORDER BY abs(num - q * den) DESC, ord) AS pos
  FROM floored
), split AS MATERIALIZED (
  SELECT * EXCLUDE (expected),
         CAST(expected AS DECIMAL(38, 0)) * 0.0000000001 AS expected
  FROM (SELECT *, q + CASE WHEN pos <= left_over THEN 1 ELSE 0 END AS expected FROM ranked)
), views AS (
  {views}
), listed AS (
  SELECT v.*, v.actual - v.expected AS delta
  FROM views v JOIN _cause_views USING (anomaly_id, view)
), totals AS (
  SELECT anomaly_id, view, count(*) AS n_values, SUM(expected) AS expected,
         SUM(actual) AS actual, list_min(max(abs(delta), $rows)) AS threshold
  FROM listed GROUP BY ALL
), top AS (
  SELECT l.anomaly_id, l.view, l.value, l.expected, l.actual, t.n_values,
         row_number() OVER (PARTITION BY l.anomaly_id, l.view
                            ORDER BY abs(l.delta) DESC, l.value) AS pos
  FROM listed l JOIN totals t USING (anomaly_id, view)
  WHERE abs(l.delta) >= t.threshold
  QUALIFY pos <= $rows
)
SELECT anomaly_id, view, pos, value, expected, actual, 0 AS others, n_values FROM top
UNION ALL
SELECT t.anomaly_id, t.view, $rows + 1, '', t.expected - k.expected, t.actual - k.actual,
       t.n_values - k.n, t.n_values
FROM totals t JOIN (SELECT anomaly_id, view, SUM(expected) AS expected, SUM(actual) AS actual,
                           count(*) AS n FROM top GROUP BY ALL) k USING (anomaly_id, view)
WHERE t.n_values > $rows
ORDER BY anomaly_id, view, pos
"""
"""Every event's expected cost split over its finest rows in proportion to their weights (the
baseline costs, else the actual ones, else equally), in units of 1E-10 by largest remainder:
each row gets the floor of ``units * weight / total`` (exact integer arithmetic in
``HUGEINT``), and the units left over go to the largest remainders, ties to the earlier row.
Then every view's sums, ranked by ``abs(delta)`` then value, the rows after ``$rows`` folded
into one (only the rows at or above a view's ``$rows``-th largest ``abs(delta)`` are sorted: a
large event has a hundred thousand resources). Exact while an event's expected cost times a
row's weight stays under ≈ 1.7E18 dollars² (``HUGEINT``'s range; beyond it DuckDB raises an
overflow error, never a wrong figure)."""


def _view_sql(i: int, view: str) -> str:
    """The sums of ``view`` (its name bound as ``$view{i}``)."""
    value = " || '/' || ".join(quote(c) for c in COMBINED) if view == COMBINATION else quote(view)
    return (
        f"SELECT anomaly_id, $view{i} AS view, {value} AS value, SUM(expected) AS expected, "  # noqa: S608
        f"SUM(actual) AS actual FROM split WHERE {value} IS NOT NULL GROUP BY ALL"
    )


def _requests_frame(requests: Sequence[CauseRequest]) -> pd.DataFrame:
    units = []
    for r in requests:
        with localcontext() as ctx:
            ctx.prec = 80
            units.append(str((Decimal(r.expected) / _QUANTUM).to_integral_value()))
    return pd.DataFrame(
        {
            "anomaly_id": [r.key for r in requests],
            "dimension": [r.dimension for r in requests],
            "value": [r.value for r in requests],
            "units": units,
        }
    )


def views_of(request: CauseRequest) -> tuple[str, ...]:
    """The views of the request's change, finest first (``HEADLINE_ORDER``)."""
    columns = set(DRIVERS_BY_DIMENSION[request.dimension])
    if request.with_resources:
        columns.add(RESOURCE)
    return tuple(v for v in HEADLINE_ORDER if v == COMBINATION or v in columns)


def rank_finest(
    con: duckdb.DuckDBPyConnection,
    requests: Sequence[CauseRequest],
    queries: Sequence[FinestQuery],
) -> dict[str, list[Contribution]]:
    """The ranked contributions of every request, by its key, from its finest rows (returned
    by ``queries``), all in DuckDB: the split of the expected cost, the views and their ranking.
    Python sees the kept rows only (at most ``ROOT_CAUSE_ROWS`` + 1 per view), whatever the
    number of finest rows. A request with no finest rows gets none."""
    scanned = tuple(DRIVERS_BY_DIMENSION)
    con.execute(_FINEST_TABLE_SQL)
    con.register("_cause_requests", _requests_frame(requests))
    views = [(r.key, v) for r in requests for v in views_of(r)]
    con.register(
        "_cause_views",
        pd.DataFrame({"anomaly_id": [k for k, _ in views], "view": [v for _, v in views]}),
    )
    try:
        for query in queries:
            names = set(query.columns)
            con.execute(
                _INSERT_SQL.format(
                    order=", ".join(f"COALESCE(CAST({quote(c)} AS VARCHAR), '')"
                                    for c in query.columns),
                    columns=", ".join(
                        f"COALESCE(CAST({quote(c)} AS VARCHAR), '') AS {quote(c)}"
                        if c in names else f"NULL AS {quote(c)}"
                        for c in FINEST_COLUMNS
                    ),
                    sql=query.sql,
                ),
                dict(query.params),
            )  # fmt: skip
        columns = ", ".join(
            f"CASE WHEN r.dimension = $scan{i} THEN r.value ELSE f.{quote(c)} END AS {quote(c)}"
            if c in scanned
            else f"f.{quote(c)}"
            for i, c in enumerate(FINEST_COLUMNS)
        )
        sql = _SPLIT_SQL.format(
            columns=columns,
            views="\n  UNION ALL ".join(_view_sql(i, v) for i, v in enumerate(HEADLINE_ORDER)),
        )
        params: dict[str, Any] = {"rows": ROOT_CAUSE_ROWS}
        params |= {f"view{i}": v for i, v in enumerate(HEADLINE_ORDER)}
        params |= {f"scan{i}": c for i, c in enumerate(FINEST_COLUMNS) if c in scanned}
        rows = con.execute(sql, params).fetchall()
    finally:
        con.unregister("_cause_requests")
        con.unregister("_cause_views")
        con.execute("DROP TABLE IF EXISTS temp._cause_finest")
    listed: dict[str, dict[str, list[tuple[str, Decimal, Decimal, int, int]]]] = {}
    for key, view, _, value, expected, actual, others, n_values in rows:
        of_event = listed.setdefault(str(key), {})
        of_event.setdefault(str(view), []).append(
            (str(value), Decimal(expected), Decimal(actual), int(others), int(n_values))
        )
    return {r.key: _ranked(listed[r.key]) if r.key in listed else [] for r in requests}


def _ranked(
    views: dict[str, list[tuple[str, Decimal, Decimal, int, int]]],
) -> list[Contribution]:
    """The event's views ranked: the headline first, then view by view (``HEADLINE_ORDER``),
    each view's rows adding up to the impact exactly."""
    impact = sum((a - e for _, e, a, _, _ in views.get(COMBINATION, [])), Decimal(0))
    sign = 1 if impact >= 0 else -1

    def share(delta: Decimal) -> float:
        return float(delta) / float(impact) if impact else 0.0

    listed: dict[str, list[Contribution]] = {}
    for view in HEADLINE_ORDER:
        rows = views.get(view)
        if not rows or (rows[0][4] < 2 and view not in (COMBINATION, RESOURCE, "microservice")):
            continue  # one value: the whole change, said by the finer views already
        listed[view] = [
            Contribution(view, v, e, a, a - e, share(a - e), others) for v, e, a, others, _ in rows
        ]
    headline = None
    for view in HEADLINE_ORDER:
        for c in listed.get(view, []):
            if not c.others and sign * c.delta_cost > 0 and c.share >= HEADLINE_SHARE:
                headline = c
                break
        if headline is not None:
            break
    if headline is None:  # spread out: the largest row in the impact's direction of the
        # coarsest view that has one (by service first), else the largest row there is
        candidates = [c for view in _FALLBACK_ORDER for c in listed.get(view, []) if not c.others]
        headline = next((c for c in candidates if sign * c.delta_cost > 0), None) or next(
            iter(candidates), None
        )
    ranked = [headline] if headline is not None else []
    ranked += [c for view in HEADLINE_ORDER for c in listed.get(view, []) if c is not headline]
    return ranked


def _events_frame(requests: Sequence[CauseRequest]) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "anomaly_id": [r.key for r in requests],
            "dimension": [r.dimension for r in requests],
            "value": [r.value for r in requests],
            "b_start": pd.to_datetime([r.baseline_start for r in requests]),
            "b_end": pd.to_datetime([r.baseline_end for r in requests]),
            "last_day": pd.to_datetime([max(r.days) for r in requests]),
            "with_resources": [r.with_resources for r in requests],
        }
    ).astype({c: "datetime64[us]" for c in ("b_start", "b_end", "last_day")})


def _days_frame(requests: Sequence[CauseRequest]) -> pd.DataFrame:
    keys = [r.key for r in requests for _ in r.days]
    days = [d for r in requests for d in r.days]
    return pd.DataFrame(
        {"anomaly_id": keys, "usage_date": pd.to_datetime(days).astype("datetime64[us]")}
    )


def _daily_queries(
    schema: str, cost: str, requests: Sequence[CauseRequest], charge_category: str
) -> list[FinestQuery]:
    """Per scanned dimension, the finest rows from the ``daily`` cube, and with the resource
    from ``allocations`` for the events ``with_resources`` (the same sums, one level finer)."""
    queries = []
    for dimension in sorted({r.dimension for r in requests}):
        drivers = DRIVERS_BY_DIMENSION[dimension]
        of_dimension = [r for r in requests if r.dimension == dimension]
        params = {"dimension": dimension, "charge_category": charge_category}
        if any(not r.with_resources for r in of_dimension):
            sql = _CUBE_SQL.format(
                drivers=", ".join(f"d.{quote(d)}" for d in drivers),
                cost=cost,
                schema=schema,
                dimension=quote(dimension),
            )
            queries.append(FinestQuery(sql, drivers, {**params, "with_resources": False}))
        fine = [r for r in of_dimension if r.with_resources]
        if fine:
            sql = _RESOURCES_SQL.format(
                columns=", ".join(quote(c) for c in (dimension, *drivers, RESOURCE)),
                drivers=", ".join(f"c.{quote(d)}" for d in drivers),
                cost=cost,
                dimension=quote(dimension),
            )
            first = min(r.baseline_start for r in fine)
            last = max(max(r.days) for r in fine)
            queries.append(
                FinestQuery(sql, (*drivers, RESOURCE), {**params, "first": first, "last": last})
            )
    return queries


def rank_drivers(
    con: duckdb.DuckDBPyConnection,
    schema: str,
    requests: Sequence[CauseRequest],
    cost_column: str,
    *,
    charge_category: str = "Usage",
) -> dict[str, list[Contribution]]:
    """The ranked contributions of every request (``rank_finest``), by its key.

    ``con`` sees ``allocations`` and the snapshot attached as ``schema`` (quoted) with its
    ``daily`` cube built; ``cost_column`` is the quoted cost column. Only the charges of
    ``charge_category`` count (the scanned series are made of them).
    """
    requests = [r for r in requests if r.days]
    if not requests:
        return {}
    con.register("_cause_events", _events_frame(requests))
    con.register("_cause_days", _days_frame(requests))
    try:
        queries = _daily_queries(schema, cost_column, requests, charge_category)
        return rank_finest(con, requests, queries)
    finally:
        con.unregister("_cause_events")
        con.unregister("_cause_days")
