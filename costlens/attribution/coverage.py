"""Tag coverage and allocation health, for the dashboard and ``rules check``.

Both functions take a DuckDB connection that sees an ``allocations`` table and return typed rows
(named tuples: ``pd.DataFrame(rows)`` makes a frame with the documented columns). ``basis`` on
every allocation row says how its owner was decided: ``tag`` (a rule reading tags), ``rule``
(account, service, resource... rules), ``split`` (a shared-cost split) or ``unallocated``.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date
from decimal import Decimal
from typing import NamedTuple

import duckdb

from costlens.schema import COST_COLUMNS

__all__ = [
    "COVERAGE_GROUPS",
    "CoverageRow",
    "UntaggedResource",
    "tag_coverage",
    "top_untagged_resources",
]


class CoverageRow(NamedTuple):
    """Cost of one group by how it was attributed (costs None when there is none)."""

    key: str
    total_cost: Decimal
    tag_cost: Decimal | None
    rule_cost: Decimal | None
    split_cost: Decimal | None
    unallocated_cost: Decimal | None
    tag_share: float | None
    rule_share: float | None
    split_share: float | None
    unallocated_share: float | None
    """Shares of ``total_cost`` (None when the total is 0)."""


class UntaggedResource(NamedTuple):
    """A resource whose cost was not attributed by tags."""

    resource_id: str
    account_id: str
    service_code: str
    owner: str
    microservice: str
    basis: str
    cost: Decimal


COVERAGE_GROUPS = ("account_id", "service_code", "billing_period")
"""Columns coverage can be broken down by (None: one row for everything)."""

_COVERAGE = """
SELECT {key} AS key,
  SUM({cost}) AS total_cost,
  SUM({cost}) FILTER (WHERE basis = 'tag') AS tag_cost,
  SUM({cost}) FILTER (WHERE basis = 'rule') AS rule_cost,
  SUM({cost}) FILTER (WHERE basis = 'split') AS split_cost,
  SUM({cost}) FILTER (WHERE basis = 'unallocated') AS unallocated_cost,
  CAST(COALESCE(tag_cost, 0) AS DOUBLE) / NULLIF(CAST(total_cost AS DOUBLE), 0) AS tag_share,
  CAST(COALESCE(rule_cost, 0) AS DOUBLE) / NULLIF(CAST(total_cost AS DOUBLE), 0) AS rule_share,
  CAST(COALESCE(split_cost, 0) AS DOUBLE) / NULLIF(CAST(total_cost AS DOUBLE), 0) AS split_share,
  CAST(COALESCE(unallocated_cost, 0) AS DOUBLE) / NULLIF(CAST(total_cost AS DOUBLE), 0)
    AS unallocated_share
FROM allocations
WHERE $periods IS NULL OR list_contains(CAST($periods AS DATE[]), billing_period)
GROUP BY 1 ORDER BY total_cost DESC
"""

_UNTAGGED = """
SELECT resource_id, account_id, service_code, owner, microservice, basis,
  SUM({cost}) AS cost
FROM allocations
WHERE basis <> 'tag' AND allocation = 'direct' AND COALESCE(resource_id, '') <> ''
  AND ($periods IS NULL OR list_contains(CAST($periods AS DATE[]), billing_period))
GROUP BY ALL ORDER BY cost DESC, resource_id LIMIT $limit
"""


def _cost(column: str) -> str:
    if column not in COST_COLUMNS:
        raise ValueError(f"unknown cost column {column!r}; use one of {COST_COLUMNS}")
    return f'"{column}"'


def tag_coverage(
    con: duckdb.DuckDBPyConnection,
    by: str | None = None,
    *,
    cost_column: str = "amortized_cost",
    periods: Sequence[date] | None = None,
) -> list[CoverageRow]:
    """Cost by how it was attributed, per ``by`` (``account_id``, ``service_code``,
    ``billing_period``) or overall (``key`` = 'all').

    Rows (``CoverageRow``), largest total first: ``key``, ``total_cost``, ``tag_cost``,
    ``rule_cost``, ``split_cost``, ``unallocated_cost`` and the four ``*_share`` of the total.
    """
    if by is not None and by not in COVERAGE_GROUPS:
        raise ValueError(f"cannot group coverage by {by!r}; use one of {COVERAGE_GROUPS}")
    key = f'CAST("{by}" AS VARCHAR)' if by else "'all'"
    sql = _COVERAGE.format(key=key, cost=_cost(cost_column))
    params = {"periods": None if periods is None else list(periods)}
    return [CoverageRow(*row) for row in con.execute(sql, params).fetchall()]


def top_untagged_resources(
    con: duckdb.DuckDBPyConnection,
    *,
    limit: int = 20,
    cost_column: str = "amortized_cost",
    periods: Sequence[date] | None = None,
) -> list[UntaggedResource]:
    """The costliest resources not attributed by tags (rules, or unallocated).

    Rows (``UntaggedResource``): ``resource_id``, ``account_id``, ``service_code``, ``owner``,
    ``microservice``, ``basis``, ``cost`` (DECIMAL), largest first.
    """
    sql = _UNTAGGED.format(cost=_cost(cost_column))
    params = {"periods": None if periods is None else list(periods), "limit": int(limit)}
    return [UntaggedResource(*row) for row in con.execute(sql, params).fetchall()]
