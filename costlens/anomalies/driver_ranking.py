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

>>> split_expected(Decimal("10"), [Decimal("1"), Decimal("1"), Decimal("1")])
[Decimal('3.3333333334'), Decimal('3.3333333333'), Decimal('3.3333333333')]
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import ROUND_FLOOR, Decimal, localcontext
from typing import Any

import duckdb
import pandas as pd

from costlens.sql import quote

__all__ = [
    "COMBINATION",
    "COMBINED",
    "DRIVERS_BY_DIMENSION",
    "HEADLINE_ORDER",
    "HEADLINE_SHARE",
    "ROOT_CAUSE_ROWS",
    "CauseRequest",
    "Contribution",
    "decompose",
    "rank_drivers",
    "split_expected",
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


_Finest = dict[tuple[str, ...], tuple[Decimal, Decimal]]
"""Finest row (its values in the order of the request's columns) -> (actual, baseline) sums."""

_CUBE_SQL = """
SELECT e.anomaly_id, {drivers},
       SUM(CASE WHEN a.usage_date IS NOT NULL THEN d.{cost} END) AS actual_sum,
       SUM(CASE WHEN d.usage_date BETWEEN e.b_start AND e.b_end THEN d.{cost} END) AS base_sum
FROM {schema}.daily d
JOIN _cause_events e ON e.dimension = $dimension AND d.{dimension} = e.value
 AND d.usage_date BETWEEN e.b_start AND e.last_day
LEFT JOIN _cause_days a ON a.anomaly_id = e.anomaly_id AND a.usage_date = d.usage_date
WHERE d.charge_category = $charge_category
GROUP BY ALL
"""

_RESOURCES_SQL = """
WITH candidates AS MATERIALIZED (
  SELECT usage_date, {columns}, SUM({cost}) AS cost FROM allocations
  WHERE usage_date BETWEEN $first AND $last AND charge_category = $charge_category
    AND {dimension} IN (SELECT value FROM _cause_events)
  GROUP BY ALL
)
SELECT e.anomaly_id, {drivers}, c.resource_id,
       SUM(CASE WHEN a.usage_date IS NOT NULL THEN c.cost END) AS actual_sum,
       SUM(CASE WHEN c.usage_date BETWEEN e.b_start AND e.b_end THEN c.cost END) AS base_sum
FROM candidates c
JOIN _cause_events e ON c.{dimension} = e.value AND c.usage_date BETWEEN e.b_start AND e.last_day
LEFT JOIN _cause_days a ON a.anomaly_id = e.anomaly_id AND a.usage_date = c.usage_date
GROUP BY ALL
"""


def _events_frame(requests: Sequence[CauseRequest]) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "anomaly_id": [r.key for r in requests],
            "dimension": [r.dimension for r in requests],
            "value": [r.value for r in requests],
            "b_start": pd.to_datetime([r.baseline_start for r in requests]),
            "b_end": pd.to_datetime([r.baseline_end for r in requests]),
            "last_day": pd.to_datetime([max(r.days) for r in requests]),
        }
    ).astype({c: "datetime64[us]" for c in ("b_start", "b_end", "last_day")})


def _days_frame(requests: Sequence[CauseRequest]) -> pd.DataFrame:
    keys = [r.key for r in requests for _ in r.days]
    days = [d for r in requests for d in r.days]
    return pd.DataFrame(
        {"anomaly_id": keys, "usage_date": pd.to_datetime(days).astype("datetime64[us]")}
    )


def _sums(
    con: duckdb.DuckDBPyConnection,
    sql: str,
    requests: Sequence[CauseRequest],
    params: dict[str, Any],
    into: dict[str, _Finest],
) -> None:
    con.register("_cause_events", _events_frame(requests))
    con.register("_cause_days", _days_frame(requests))
    try:
        for key, *values, actual, base in con.execute(sql, params).fetchall():
            row = tuple("" if v is None else str(v) for v in values)
            into[str(key)][row] = (Decimal(actual or 0), Decimal(base or 0))
    finally:
        con.unregister("_cause_events")
        con.unregister("_cause_days")


def _finest_sums(
    con: duckdb.DuckDBPyConnection,
    schema: str,
    cost: str,
    requests: Sequence[CauseRequest],
    charge_category: str,
) -> dict[str, _Finest]:
    """Per event, its finest rows: from the ``daily`` cube, or with the resource from
    ``allocations`` for the events ``with_resources`` (the same sums, one level finer)."""
    out: dict[str, _Finest] = defaultdict(dict)
    for dimension in sorted({r.dimension for r in requests}):
        drivers = DRIVERS_BY_DIMENSION[dimension]
        of_dimension = [r for r in requests if r.dimension == dimension]
        params = {"dimension": dimension, "charge_category": charge_category}
        cube = [r for r in of_dimension if not r.with_resources]
        if cube:
            sql = _CUBE_SQL.format(
                drivers=", ".join(f"d.{quote(d)}" for d in drivers),
                cost=cost,
                schema=schema,
                dimension=quote(dimension),
            )
            _sums(con, sql, cube, params, out)
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
            _sums(con, sql, fine, {"charge_category": charge_category, "first": first,
                                   "last": last}, out)  # fmt: skip
    return out


def split_expected(expected: Decimal, weights: Sequence[Decimal]) -> list[Decimal]:
    """``expected`` split in proportion to ``weights``, to the 10th decimal, adding up to it
    exactly (largest remainder; ties to the earlier weight). Weights that add up to zero give
    an equal split."""
    if not weights:
        return []
    with localcontext() as ctx:
        ctx.prec = 80
        total = sum(weights, Decimal(0))
        if total == 0:
            weights, total = [Decimal(1)] * len(weights), Decimal(len(weights))
        units = (Decimal(expected) / _QUANTUM).to_integral_value()
        raw = [units * w / total for w in weights]
        floors = [r.to_integral_value(rounding=ROUND_FLOOR) for r in raw]
        left = int(units - sum(floors, Decimal(0)))
        order = sorted(range(len(raw)), key=lambda i: (-(raw[i] - floors[i]), i))
        for i in order[:left]:
            floors[i] += 1
        return [(f * _QUANTUM).quantize(_QUANTUM) for f in floors]


def _views(request: CauseRequest, finest: _Finest) -> dict[str, dict[str, tuple[Decimal, ...]]]:
    """Every view of the event: view -> value -> (expected, actual)."""
    columns = list(DRIVERS_BY_DIMENSION[request.dimension])
    if request.with_resources:
        columns.append(RESOURCE)
    rows = sorted(finest)
    actual = [finest[r][0] for r in rows]
    base = [finest[r][1] for r in rows]
    weights = base if any(base) else actual
    expected = split_expected(request.expected, weights)

    def of(row: tuple[str, ...], column: str) -> str:  # the scanned column is the event's
        if column == COMBINATION:
            return "/".join(of(row, c) for c in COMBINED)
        return request.value if column == request.dimension else row[columns.index(column)]

    views: dict[str, dict[str, tuple[Decimal, ...]]] = {}
    for view in HEADLINE_ORDER:
        if view != COMBINATION and view not in columns:
            continue
        sums: dict[str, list[Decimal]] = {}
        for row, e, a in zip(rows, expected, actual, strict=True):
            acc = sums.setdefault(of(row, view), [Decimal(0), Decimal(0)])
            acc[0] += e
            acc[1] += a
        views[view] = {v: (e, a) for v, (e, a) in sums.items()}
    return views


def decompose(request: CauseRequest, finest: _Finest) -> list[Contribution]:
    """The event's views ranked: the headline first, then view by view (``HEADLINE_ORDER``),
    each view's rows adding up to the impact exactly."""
    views = _views(request, finest)
    impact = sum((a - e for e, a in views.get(COMBINATION, {}).values()), Decimal(0))
    sign = 1 if impact >= 0 else -1

    def share(delta: Decimal) -> float:
        return float(delta) / float(impact) if impact else 0.0

    listed: dict[str, list[Contribution]] = {}
    for view, values in views.items():
        if len(values) < 2 and view not in (COMBINATION, RESOURCE, "microservice"):
            continue  # one value: the whole change, said by the finer views already
        rows = sorted(
            (Contribution(view, v, e, a, a - e, share(a - e)) for v, (e, a) in values.items()),
            key=lambda c: (-abs(c.delta_cost), c.value),
        )
        kept, rest = rows[:ROOT_CAUSE_ROWS], rows[ROOT_CAUSE_ROWS:]
        if rest:
            e = sum((c.expected_cost for c in rest), Decimal(0))
            a = sum((c.actual_cost for c in rest), Decimal(0))
            kept.append(Contribution(view, "", e, a, a - e, share(a - e), len(rest)))
        listed[view] = kept
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


def rank_drivers(
    con: duckdb.DuckDBPyConnection,
    schema: str,
    requests: Sequence[CauseRequest],
    cost_column: str,
    *,
    charge_category: str = "Usage",
) -> dict[str, list[Contribution]]:
    """The ranked contributions of every request (``decompose``), by its key.

    ``con`` sees ``allocations`` and the snapshot attached as ``schema`` (quoted) with its
    ``daily`` cube built; ``cost_column`` is the quoted cost column. Only the charges of
    ``charge_category`` count (the scanned series are made of them).
    """
    requests = [r for r in requests if r.days]
    if not requests:
        return {}
    finest = _finest_sums(con, schema, cost_column, requests, charge_category)
    return {r.key: decompose(r, finest[r.key]) if finest.get(r.key) else [] for r in requests}
