"""Root causes of many anomaly events at once, summed in DuckDB.

The same contributions as ``costlens.anomalies.root_cause`` (per driver value: its baseline daily
average times the event days, its event cost and the difference), but for every event of a scan
in one query per scanned dimension over the snapshot's ``daily`` cube, plus one filtered pass
over ``allocations`` for the resources of the largest events. The money stays exact: event costs
are the ``DECIMAL(38,10)`` sums of the scanned charges, baseline costs the baseline window's exact
sum pro-rated to the event's days (``prorate``: to ``MONEY_PLACES``, half up), deltas their
difference; only ``share`` is a float. The ranking then puts the largest contribution first and,
among contributions within ``TIE_SHARE`` of the largest, the most specific driver first.

>>> DRIVERS_BY_DIMENSION["microservice"]
('service_code', 'account_id', 'region', 'usage_type')
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import duckdb
import pandas as pd

from costlens.anomalies.root_cause import prorate
from costlens.sql import quote

__all__ = [
    "COMBINATION",
    "COMBINED",
    "DRIVERS_BY_DIMENSION",
    "ROOT_CAUSE_ROWS",
    "TIE_SHARE",
    "CauseRequest",
    "Contribution",
    "rank_drivers",
]

DRIVERS_BY_DIMENSION: dict[str, tuple[str, ...]] = {
    "owner": ("microservice", "service_code", "account_id", "region", "usage_type"),
    "microservice": ("service_code", "account_id", "region", "usage_type"),
    "service_code": ("owner", "microservice", "account_id", "region", "usage_type"),
    "account_id": ("owner", "microservice", "service_code", "region", "usage_type"),
}
"""Driver columns of the root cause of an event on each scanned dimension (the microservice of
a broader event is always ranked: it says which microservice incident the event belongs to)."""

ROOT_CAUSE_ROWS = 10
"""Contributions kept per event (plus the largest microservice one when it is not among them)."""
TIE_SHARE = 0.02
"""Contributions within 2 % of the largest one count as ties, broken by specificity."""
COMBINED = ("service_code", "account_id", "region", "usage_type")
COMBINATION = "service_code/account_id/region/usage_type"
"""The driver that combines ``COMBINED`` (values joined by ``/``)."""
_RESOURCE = "resource_id"
_MICROSERVICE = "microservice"
_SPECIFICITY = {
    d: i
    for i, d in enumerate(
        ("owner", "microservice", "service_code", "account_id", "region", "usage_type",
         COMBINATION, _RESOURCE)
    )
}  # fmt: skip
_COMBINATION_COLUMN = "combination"


@dataclass(frozen=True)
class CauseRequest:
    """One event whose drivers are to be ranked (windows are inclusive days)."""

    key: str
    """The caller's id of the event (the anomaly id)."""
    dimension: str
    """Scanned dimension (a key of ``DRIVERS_BY_DIMENSION``)."""
    value: str
    event_start: dt.date
    event_end: dt.date
    baseline_start: dt.date
    baseline_end: dt.date
    with_resources: bool
    """Also rank resources (one pass over ``allocations`` for all such events)."""

    @property
    def factor(self) -> tuple[int, int]:
        """Event days and baseline days."""
        return (
            (self.event_end - self.event_start).days + 1,
            (self.baseline_end - self.baseline_start).days + 1,
        )


@dataclass(frozen=True)
class Contribution:
    """One ranked driver value of an event's change: exact dollars, not rounded to cents."""

    dimension: str
    value: str
    baseline_cost: Decimal
    """The baseline window's cost pro-rated to the event's days (``prorate``)."""
    event_cost: Decimal
    """The exact cost over the event's days."""
    delta_cost: Decimal
    """``event_cost - baseline_cost``."""
    share: float
    """``delta_cost`` over the change of the whole series."""


_Sums = dict[str, dict[str, tuple[Decimal, Decimal]]]
"""driver -> value -> (event sum, baseline sum)."""

_CUBE_SQL = """
SELECT anomaly_id, driver, value,
       SUM(CASE WHEN in_event THEN cost END) AS event_sum,
       SUM(CASE WHEN in_base THEN cost END) AS base_sum
FROM (
  SELECT e.anomaly_id, d.usage_date BETWEEN e.e_start AND e.e_end AS in_event,
         d.usage_date BETWEEN e.b_start AND e.b_end AS in_base, {drivers},
         concat_ws('/', {combined}) AS {combination}, d.{cost} AS cost
  FROM {schema}.daily d JOIN _cause_events e
    ON e.dimension = $dimension AND d.{dimension} = e.value
   AND d.usage_date BETWEEN e.b_start AND e.e_end
  WHERE d.charge_category = $charge_category
) UNPIVOT (value FOR driver IN ({names}))
GROUP BY ALL
"""

_RESOURCES_SQL = """
WITH candidates AS MATERIALIZED (
  SELECT usage_date, resource_id, {dimensions}, SUM({cost}) AS cost FROM allocations
  WHERE usage_date BETWEEN $first AND $last AND resource_id <> ''
    AND charge_category = $charge_category AND ({prefilter})
  GROUP BY ALL
)
SELECT anomaly_id, resource_id,
       SUM(CASE WHEN usage_date BETWEEN e_start AND e_end THEN cost END) AS event_sum,
       SUM(CASE WHEN usage_date BETWEEN b_start AND b_end THEN cost END) AS base_sum
FROM ({joins}) GROUP BY ALL
"""

_RESOURCE_JOIN = """
SELECT e.anomaly_id, e.e_start, e.e_end, e.b_start, e.b_end, c.usage_date, c.resource_id, c.cost
FROM candidates c JOIN _resource_events e
  ON e.dimension = '{name}' AND c.{dimension} = e.value
 AND c.usage_date BETWEEN e.b_start AND e.e_end
"""


def _frame(requests: Sequence[CauseRequest]) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "anomaly_id": [r.key for r in requests],
            "dimension": [r.dimension for r in requests],
            "value": [r.value for r in requests],
            "b_start": pd.to_datetime([r.baseline_start for r in requests]),
            "b_end": pd.to_datetime([r.baseline_end for r in requests]),
            "e_start": pd.to_datetime([r.event_start for r in requests]),
            "e_end": pd.to_datetime([r.event_end for r in requests]),
        }
    ).astype({c: "datetime64[us]" for c in ("b_start", "b_end", "e_start", "e_end")})


def _collect(rows: list[tuple[Any, ...]], into: dict[str, _Sums], driver: str | None) -> None:
    for row in rows:
        if driver is None:
            key, name, value, event, base = row
        else:
            (key, value, event, base), name = row, driver
        into[str(key)][str(name)][str(value)] = (Decimal(event or 0), Decimal(base or 0))


def _cube_sums(
    con: duckdb.DuckDBPyConnection,
    schema: str,
    cost: str,
    requests: Sequence[CauseRequest],
    charge_category: str,
) -> dict[str, _Sums]:
    sums: dict[str, _Sums] = defaultdict(lambda: defaultdict(dict))
    con.register("_cause_events", _frame(requests))
    try:
        for dimension in sorted({r.dimension for r in requests}):
            drivers = DRIVERS_BY_DIMENSION[dimension]
            sql = _CUBE_SQL.format(
                drivers=", ".join(f"d.{quote(d)}" for d in drivers),
                combined=", ".join(f"d.{quote(d)}" for d in COMBINED),
                combination=quote(_COMBINATION_COLUMN),
                cost=cost,
                schema=schema,
                dimension=quote(dimension),
                names=", ".join(quote(d) for d in (*drivers, _COMBINATION_COLUMN)),
            )
            params = {"dimension": dimension, "charge_category": charge_category}
            _collect(con.execute(sql, params).fetchall(), sums, None)
    finally:
        con.unregister("_cause_events")
    return sums


def _resource_sums(
    con: duckdb.DuckDBPyConnection,
    cost: str,
    requests: Sequence[CauseRequest],
    charge_category: str,
) -> dict[str, _Sums]:
    sums: dict[str, _Sums] = defaultdict(lambda: defaultdict(dict))
    if not requests:
        return sums
    params: dict[str, Any] = {
        "first": min(r.baseline_start for r in requests),
        "last": max(r.event_end for r in requests),
        "charge_category": charge_category,
    }
    dimensions = sorted({r.dimension for r in requests})
    prefilter = []
    for i, dimension in enumerate(dimensions):
        values = sorted({r.value for r in requests if r.dimension == dimension})
        names = []
        for j, value in enumerate(values):
            params[f"v{i}_{j}"] = value
            names.append(f"$v{i}_{j}")
        prefilter.append(f"{quote(dimension)} IN ({', '.join(names)})")
    joins = "\nUNION ALL\n".join(
        _RESOURCE_JOIN.format(name=d, dimension=quote(d)) for d in dimensions
    )
    sql = _RESOURCES_SQL.format(
        dimensions=", ".join(quote(d) for d in dimensions),
        cost=cost,
        prefilter=" OR ".join(prefilter),
        joins=joins,
    )
    con.register("_resource_events", _frame(requests))
    try:
        _collect(con.execute(sql, params).fetchall(), sums, _RESOURCE)
    finally:
        con.unregister("_resource_events")
    return sums


_Row = tuple[str, str, Decimal, Decimal, Decimal, float]


def _contributions(
    name: str, values: dict[str, tuple[Decimal, Decimal]], days: tuple[int, int], total: Decimal
) -> list[_Row]:
    out = []
    for value, (event_sum, base_sum) in values.items():
        baseline = prorate(base_sum, days)
        delta = event_sum - baseline
        share = float(delta) / float(total) if total else 0.0
        out.append((name, value, baseline, event_sum, delta, share))
    return out


def _rank(rows: list[_Row]) -> list[Contribution]:
    """Largest contribution first; among contributions within ``TIE_SHARE`` of each other, the
    most specific driver (the dimension with the most values) first: a resource or a
    service/account/region/usage type combination names the cause more precisely than its
    account, whose delta also carries the noise of everything else in it."""
    if not rows:
        return []
    top = max(abs(float(r[4])) for r in rows) or 1.0
    count: dict[str, int] = defaultdict(int)
    for r in rows:
        count[r[0]] += 1
    order = {name: i for i, name in enumerate(dict.fromkeys(r[0] for r in rows))}

    def key(r: _Row) -> tuple[Any, ...]:
        size = abs(float(r[4]))
        return (-round(size / top / TIE_SHARE), -count[r[0]], -_SPECIFICITY.get(r[0], 0),
                -size, -round(size, 2), order[r[0]], r[1])  # fmt: skip

    return [Contribution(*r) for r in sorted(rows, key=key)]


def rank_drivers(
    con: duckdb.DuckDBPyConnection,
    schema: str,
    requests: Sequence[CauseRequest],
    cost_column: str,
    *,
    charge_category: str = "Usage",
) -> dict[str, list[Contribution]]:
    """The ranked contributions (``ROOT_CAUSE_ROWS``, plus the largest microservice one when it
    is not among them) of every request, by its key.

    ``con`` sees ``allocations`` and the snapshot attached as ``schema`` (quoted) with its
    ``daily`` cube built; ``cost_column`` is the quoted cost column. Only the charges of
    ``charge_category`` count (the scanned series are made of them).
    """
    if not requests:
        return {}
    cube = _cube_sums(con, schema, cost_column, requests, charge_category)
    with_resources = [r for r in requests if r.with_resources]
    resources = _resource_sums(con, cost_column, with_resources, charge_category)
    out: dict[str, list[Contribution]] = {}
    for request in requests:
        sums = cube.get(request.key)
        if not sums:
            out[request.key] = []
            continue
        drivers = DRIVERS_BY_DIMENSION[request.dimension]
        e_days, b_days = request.factor
        first = sums.get(drivers[0], {})
        event_total = sum((e for e, _ in first.values()), Decimal(0))
        base_total = sum((b for _, b in first.values()), Decimal(0))
        total = event_total - prorate(base_total, (e_days, b_days))
        names = [d for d in drivers if len(sums.get(d, {})) > 1 or d == _MICROSERVICE] or list(
            drivers
        )
        rows = []
        for name in names:
            rows += _contributions(name, sums.get(name, {}), (e_days, b_days), total)
        if len(sums.get(_COMBINATION_COLUMN, {})) > 1:
            rows += _contributions(COMBINATION, sums[_COMBINATION_COLUMN], (e_days, b_days), total)
        by_resource = resources.get(request.key, {}).get(_RESOURCE, {})
        if len(by_resource) > 1:
            rows += _contributions(_RESOURCE, by_resource, (e_days, b_days), total)
        ranked = _rank(rows)
        kept = ranked[:ROOT_CAUSE_ROWS]
        if not any(c.dimension == _MICROSERVICE for c in kept):
            # The microservice behind a broader event groups it into its incident: keep it.
            kept += [c for c in ranked if c.dimension == _MICROSERVICE][:1]
        out[request.key] = kept
    return out
