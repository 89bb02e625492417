"""Tag coverage and allocation health, for the dashboard and ``rules check``.

Both functions take a DuckDB connection that sees an ``allocations`` table and return typed rows
(named tuples: ``pd.DataFrame(rows)`` makes a frame with the documented columns). ``basis`` on
every allocation row says how its owner was decided: ``tag`` (a rule reading tags), ``rule``
(account, service, resource... rules), ``split`` (a shared-cost split) or ``unallocated``.

Shares are of the **charges**: the positive allocation rows (a day's cost of one kind of line
item for one owner), before credits. A share of the net total is not a share once credits are
in it: 20 unallocated of a net 15 (charges 18, credits -3) would read "120 %", and a net total
of zero or less has no shares at all. Shares of the charges always lie in [0, 1] and sum to 1;
the net amounts are reported beside them. ``UnallocatedFigure`` says it in one line:

>>> f = UnallocatedFigure("amortized_cost", total=Decimal("15"), unallocated=Decimal("15"),
...                       charges=Decimal("18"), unallocated_charges=Decimal("18"))
>>> f.share, f.credits
(Decimal('1'), Decimal('-3'))
>>> print(f.describe())
100.00% of amortized charges unallocated (18.00 of 18.00; after 3.00 of credits, 15.00 of 15.00)
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from typing import NamedTuple

import duckdb

from costlens.schema import COST_COLUMNS

__all__ = [
    "COVERAGE_GROUPS",
    "CoverageRow",
    "UnallocatedFigure",
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
    """Shares of ``charges`` by basis, each in [0, 1] (None when there are no charges)."""
    charges: Decimal | None
    """Sum of the positive allocation rows (charges before credits)."""
    credits: Decimal | None
    """Sum of the negative allocation rows (credits, refunds), None when there are none."""


@dataclass(frozen=True)
class UnallocatedFigure:
    """What is left with the owner ``unallocated`` of one cost column: net and of the charges."""

    column: str
    total: Decimal
    """Net total (charges + credits)."""
    unallocated: Decimal
    """Net amount left unallocated."""
    charges: Decimal
    """Sum of the positive allocation rows."""
    unallocated_charges: Decimal
    """The part of ``charges`` left unallocated."""

    @property
    def credits(self) -> Decimal:
        """Sum of the negative allocation rows (0 or less)."""
        return self.total - self.charges

    @property
    def share(self) -> Decimal:
        """``unallocated_charges / charges``, in [0, 1] (0 without charges)."""
        return self.unallocated_charges / self.charges if self.charges > 0 else Decimal(0)

    def describe(self) -> str:
        """One line for a person; a share is only ever of the charges, so within [0 %, 100 %]."""
        label = self.column.removesuffix("_cost").replace("_", " ")
        if not self.charges and not self.credits:
            return f"no {label} cost to attribute"
        if not self.credits:
            return (
                f"{self.share:.2%} of {label} cost unallocated "
                f"({self.unallocated:,.2f} of {self.total:,.2f})"
            )
        exceed = ", credits exceed charges" if self.total < 0 else ""
        return (
            f"{self.share:.2%} of {label} charges unallocated ({self.unallocated_charges:,.2f} "
            f"of {self.charges:,.2f}; after {-self.credits:,.2f} of credits, "
            f"{self.unallocated:,.2f} of {self.total:,.2f}{exceed})"
        )


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

_BASES = ("tag", "rule", "split", "unallocated")

_COVERAGE = """
SELECT {key} AS key,
  SUM({cost}) AS total_cost,
  {costs},
  {shares},
  SUM({cost}) FILTER (WHERE {cost} > 0) AS charges,
  SUM({cost}) FILTER (WHERE {cost} < 0) AS credits
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
    ``rule_cost``, ``split_cost``, ``unallocated_cost`` (net), the four ``*_share`` of the
    charges (in [0, 1]), ``charges`` and ``credits``.
    """
    if by is not None and by not in COVERAGE_GROUPS:
        raise ValueError(f"cannot group coverage by {by!r}; use one of {COVERAGE_GROUPS}")
    key = f'CAST("{by}" AS VARCHAR)' if by else "'all'"
    cost = _cost(cost_column)
    costs = ",\n  ".join(f"SUM({cost}) FILTER (WHERE basis = '{b}') AS {b}_cost" for b in _BASES)
    shares = ",\n  ".join(
        f"CAST(COALESCE(SUM({cost}) FILTER (WHERE basis = '{b}' AND {cost} > 0), 0) AS DOUBLE)"
        f" / NULLIF(CAST(SUM({cost}) FILTER (WHERE {cost} > 0) AS DOUBLE), 0) AS {b}_share"
        for b in _BASES
    )
    sql = _COVERAGE.format(key=key, cost=cost, costs=costs, shares=shares)
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
