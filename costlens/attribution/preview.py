"""``rules preview``: what a rule change would move, per owner and microservice, writing nothing.

Both rule sets are compiled and aggregated in read-only queries over ``line_items`` (a CTE each);
nothing is created, not even a temporary table, so it runs on a read-only connection.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from decimal import Decimal

import duckdb

from costlens.attribution._sql import quote_ident
from costlens.attribution.compile import compile_attribution
from costlens.attribution.rules import RuleSet
from costlens.errors import RuleError
from costlens.line_keys import unkeyed_lines
from costlens.schema import COST_COLUMNS

__all__ = ["Delta", "Preview", "preview_rules"]


@dataclass(frozen=True)
class Delta:
    """Cost of one owner or microservice under the current and the new rules."""

    dimension: str
    value: str
    current: Decimal
    new: Decimal

    @property
    def delta(self) -> Decimal:
        return self.new - self.current


@dataclass(frozen=True)
class Preview:
    """Deltas per owner and per microservice (changed ones first, largest moves first)."""

    cost_column: str
    deltas: tuple[Delta, ...]
    total: Decimal

    def changed(self) -> tuple[Delta, ...]:
        return tuple(d for d in self.deltas if d.delta != 0)


def _totals(
    con: duckdb.DuckDBPyConnection,
    rules: RuleSet,
    dimension: str,
    column: str,
    periods: Sequence[date] | None,
) -> dict[str, Decimal]:
    q = compile_attribution(rules, periods=periods)
    sql = (
        f"SELECT {quote_ident(dimension)}, SUM({quote_ident(column)}) FROM ({q.sql}) "  # noqa: S608
        "GROUP BY 1"
    )
    return {str(k): Decimal(v or 0) for k, v in con.execute(sql, q.params).fetchall()}


def preview_rules(
    con: duckdb.DuckDBPyConnection,
    current: RuleSet,
    new: RuleSet,
    *,
    periods: Sequence[date] | None = None,
    cost_column: str = "amortized_cost",
) -> Preview:
    """Per-owner and per-microservice cost under ``current`` and ``new`` rules."""
    if cost_column not in COST_COLUMNS:
        types = ", ".join(c.removesuffix("_cost") for c in COST_COLUMNS)
        raise RuleError(
            f"unknown cost type {cost_column.removesuffix('_cost')!r}",
            where="--cost-type",
            fix=f"use one of {types}",
        )
    unkeyed = unkeyed_lines(con, periods)
    if unkeyed:
        raise RuleError(
            f"{unkeyed} line item(s) have no line key, so a preview would leave them out",
            where="line_items",
            fix="run `costlens attribute` once (it keys them), then preview again",
        )
    deltas: list[Delta] = []
    total = Decimal(0)
    for dim in ("owner", "microservice"):
        before = _totals(con, current, dim, cost_column, periods)
        after = _totals(con, new, dim, cost_column, periods)
        total = sum(before.values(), Decimal(0))
        for key in set(before) | set(after):
            deltas.append(Delta(dim, key, before.get(key, Decimal(0)), after.get(key, Decimal(0))))
    deltas.sort(key=lambda d: (d.dimension != "owner", -abs(d.delta), d.value))
    return Preview(cost_column, tuple(deltas), total)
