# ruff: noqa: S608  (SQL from the fixed column lists of costlens.schema; values are bound)
"""Period close: finance freezes a month's allocations; a later restatement is an adjustment.

A closed month's frozen figures are simply its ``allocations`` rows: attribution never rewrites
them while the month is in ``closed_periods`` (which also keeps their totals at close). When AWS
restates the month afterwards, ``record_adjustments`` attributes the restated line items with
the current rules (for that month only, without touching ``allocations``) and writes the
difference, per owner, microservice, payer, invoice, account and service, into
``adjustments``. The invoice comes from the line keys: the one the restated line items carry,
and for the frozen allocations the one their line items carried at close (``prune_line_keys``
keeps the keys of closed months). So for a
closed month and every cost column, exactly::

    frozen allocations + adjustments = line items

Pure warehouse logic on a DuckDB connection, in the caller's transaction; the CLI's side
(locks, the state-database log, the refresh) is ``reports.close``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import TYPE_CHECKING, Any

import duckdb

from costlens.errors import ReportError
from costlens.line_keys import key_unkeyed_lines
from costlens.schema import (
    ADJUSTMENT_GRAIN,
    ADJUSTMENTS,
    CLOSED_PERIODS,
    COST_COLUMNS,
    column_names,
    create_table_sql,
)
from costlens.sql import has_table

if TYPE_CHECKING:
    from costlens.attribution.rules import RuleSet

__all__ = [
    "Adjustment",
    "CloseError",
    "ClosedPeriod",
    "adjustment_totals",
    "close_period",
    "closed_periods",
    "record_adjustments",
    "reopen_period",
    "unbalanced_closed_periods",
    "utc_now",
]


class CloseError(ReportError):
    """A month cannot be closed or reopened as asked."""


def utc_now() -> datetime:
    """When a close or an adjustment happens (UTC); tests pin it by replacing this function."""
    return datetime.now(UTC)


@dataclass(frozen=True)
class ClosedPeriod:
    """A closed billing month: when, by whom, with which rules, and its frozen totals."""

    billing_period: date
    closed_at: datetime
    closed_by: str
    rule_version: str
    totals: dict[str, Decimal]
    """The frozen allocations' sum of each of ``COST_COLUMNS`` at close."""

    def as_dict(self) -> dict[str, Any]:
        """JSON-friendly (``--json``, the state database's log)."""
        return {
            "billing_period": str(self.billing_period),
            "closed_at": self.closed_at.isoformat(),
            "closed_by": self.closed_by,
            "rule_version": self.rule_version,
            "totals": {c: str(v) for c, v in self.totals.items()},
        }


@dataclass(frozen=True)
class Adjustment:
    """One row of ``adjustments``: what a restatement changed of a closed month, at one grain."""

    adjustment_id: str
    billing_period: date
    owner: str
    microservice: str
    payer_account_id: str
    invoice_id: str
    account_id: str
    service_code: str
    costs: dict[str, Decimal]
    """The change of each of ``COST_COLUMNS``."""
    delivery_id: str
    recorded_at: datetime

    def as_dict(self) -> dict[str, Any]:
        """JSON-friendly."""
        return {
            "adjustment_id": self.adjustment_id,
            "billing_period": str(self.billing_period),
            **{g: getattr(self, g) for g in ADJUSTMENT_GRAIN},
            **{c: str(v) for c, v in self.costs.items()},
            "delivery_id": self.delivery_id,
            "recorded_at": self.recorded_at.isoformat(),
        }


_CLOSED_COLUMNS = ", ".join(column_names(CLOSED_PERIODS))
_CLOSED_SQL = f"SELECT {_CLOSED_COLUMNS} FROM closed_periods ORDER BY billing_period"
_CLOSED_VALUES = ", ".join(f"${c}" for c in column_names(CLOSED_PERIODS))
_INSERT_CLOSED = f"INSERT INTO closed_periods ({_CLOSED_COLUMNS}) VALUES ({_CLOSED_VALUES})"
_SUMS = ", ".join(f"COALESCE(SUM({c}), 0)" for c in COST_COLUMNS)
_PERIOD_SUMS = {
    table: f"SELECT count(*), {_SUMS} FROM {table} WHERE billing_period = $period"
    for table in ("line_items", "allocations", "adjustments")
}
_TOTALS_BY_PERIOD = {
    table: f"SELECT billing_period, {_SUMS} FROM {table}"
    " WHERE list_contains(CAST($periods AS DATE[]), billing_period) GROUP BY 1"
    for table in ("line_items", "allocations", "adjustments")
}
_RULE_VERSIONS = (
    "SELECT string_agg(DISTINCT rule_version, ',' ORDER BY rule_version) FROM allocations"
    " WHERE billing_period = $period"
)
_LOADED = "SELECT list(DISTINCT billing_period ORDER BY billing_period) FROM line_items"
_ADJUSTMENT_COLUMNS = ", ".join(column_names(ADJUSTMENTS))
_ADJUSTMENTS_OF = (
    f"SELECT {_ADJUSTMENT_COLUMNS} FROM adjustments WHERE billing_period = $period"
    f" ORDER BY {', '.join(ADJUSTMENT_GRAIN)}, recorded_at"
)
_DELETE_ADJUSTMENTS = "DELETE FROM adjustments WHERE billing_period = $period"
_DELETE_CLOSED = "DELETE FROM closed_periods WHERE billing_period = $period"
_DELIVERIES_OF = (
    "SELECT string_agg(DISTINCT delivery_id, ',' ORDER BY delivery_id) FROM line_items"
    " WHERE billing_period = $closing_period"
)

_GRAIN = ", ".join(ADJUSTMENT_GRAIN)
_GRAIN_TEXT = ", ".join(f"COALESCE({g}, '') AS {g}" for g in ADJUSTMENT_GRAIN)
_GRAIN_SUMS = ", ".join(f"SUM({c}) AS {c}" for c in COST_COLUMNS)
_DIFFERENCES = ", ".join(f"COALESCE(n.{c}, 0) - COALESCE(o.{c}, 0) AS {c}" for c in COST_COLUMNS)
_NONZERO = " OR ".join(f"{c} <> 0" for c in COST_COLUMNS)
_ID = (
    "left(sha256(concat_ws('|', CAST($closing_period AS VARCHAR), $closing_deliveries, "
    + ", ".join(ADJUSTMENT_GRAIN)
    + ")), 32)"
)
_RECORD_SQL = """
INSERT INTO adjustments ({columns})
SELECT * FROM (
WITH restated AS (
  SELECT {grain_text}, {grain_sums} FROM (
    SELECT r.*, k.invoice_id FROM ({attribution}) r LEFT JOIN line_keys k USING (line_key)
  ) GROUP BY ALL
),
recorded AS (
  SELECT {grain_text}, {grain_sums} FROM (
    SELECT {grain}, {costs} FROM (
      SELECT a.*, k.invoice_id FROM allocations a LEFT JOIN line_keys k USING (line_key)
      WHERE a.billing_period = $closing_period
    )
    UNION ALL
    SELECT {grain}, {costs} FROM adjustments WHERE billing_period = $closing_period
  ) GROUP BY ALL
),
changed AS (
  SELECT {grain}, {differences}
  FROM restated n FULL OUTER JOIN recorded o USING ({grain})
)
SELECT {id} AS adjustment_id, CAST($closing_period AS DATE) AS billing_period, {grain}, {costs},
       $closing_deliveries AS delivery_id, CAST($closing_at AS TIMESTAMP) AS recorded_at
FROM changed WHERE {nonzero}
ORDER BY {grain}
)
RETURNING {columns}
"""
"""The restated period attributed with the current rules, minus what is recorded (frozen
allocations and earlier adjustments), per grain (the invoice from the line keys); the non-zero
differences become adjustments."""


def _ensure_tables(con: duckdb.DuckDBPyConnection) -> None:
    """The close tables (the warehouse's migration makes them; bare connections in tests)."""
    con.execute(create_table_sql("closed_periods", CLOSED_PERIODS))
    con.execute(create_table_sql("adjustments", ADJUSTMENTS))


def _naive_utc(moment: datetime) -> datetime:
    """``moment`` as the naive UTC value a TIMESTAMP column holds."""
    return moment.astimezone(UTC).replace(tzinfo=None) if moment.tzinfo else moment


def _aware(moment: datetime) -> datetime:
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def closed_periods(con: duckdb.DuckDBPyConnection) -> dict[date, ClosedPeriod]:
    """Every closed billing month, by its first day ({} when none, or no such table)."""
    if not has_table(con, "closed_periods"):
        return {}
    out = {}
    for period, at, by, version, *totals in con.execute(_CLOSED_SQL).fetchall():
        out[period] = ClosedPeriod(
            period,
            _aware(at),
            by or "",
            version or "",
            {c: Decimal(v or 0) for c, v in zip(COST_COLUMNS, totals, strict=True)},
        )
    return out


def _sums(
    con: duckdb.DuckDBPyConnection, table: str, period: date
) -> tuple[int, tuple[Decimal, ...]]:
    row = con.execute(_PERIOD_SUMS[table], {"period": period}).fetchone()
    if row is None:
        return 0, (Decimal(0),) * len(COST_COLUMNS)
    return int(row[0]), tuple(Decimal(v) for v in row[1:])


def _month(period: date) -> str:
    return f"{period:%Y-%m}"


def close_period(con: duckdb.DuckDBPyConnection, period: date, closed_by: str) -> ClosedPeriod:
    """Close ``period`` (1st of the month): its allocations become the frozen figures.

    Raises ``CloseError`` when it is already closed, has no allocations (not loaded, or not
    attributed yet) or its allocations do not sum to its line items (a sync is due).
    """
    _ensure_tables(con)
    month = _month(period)
    if period in closed_periods(con):
        raise CloseError(
            f"{month} is already closed",
            where=f"closed_periods {month}",
            fix=f'to change it, run `costlens reopen {month} --reason "..."` first',
        )
    lines, line_totals = _sums(con, "line_items", period)
    allocated, totals = (
        _sums(con, "allocations", period) if has_table(con, "allocations") else (0, ())
    )
    if not lines:
        row = con.execute(_LOADED).fetchone()
        loaded = [_month(p) for p in (row[0] or [])] if row else []
        fix = "run `costlens sync` to load it first"
        if loaded:
            fix += f" (months loaded: {', '.join(loaded)})"
        raise CloseError(f"{month} is not loaded: it has no line items", where=month, fix=fix)
    if not allocated:
        raise CloseError(
            f"{month} has no allocations yet", where=month, fix="run `costlens sync` first"
        )
    if totals != line_totals:
        column, got, want = next(
            (c, g, w) for c, g, w in zip(COST_COLUMNS, totals, line_totals, strict=True) if g != w
        )
        raise CloseError(
            f"the allocations of {month} do not balance with its line items ({column}: {got} "
            f"allocated, {want} in line items)",
            where=month,
            fix="run `costlens sync` first, then close it",
        )
    version_row = con.execute(_RULE_VERSIONS, {"period": period}).fetchone()
    closed = ClosedPeriod(
        period,
        _aware(utc_now()),
        closed_by,
        str(version_row[0] or "") if version_row else "",
        dict(zip(COST_COLUMNS, totals, strict=True)),
    )
    con.execute(
        _INSERT_CLOSED,
        {
            "billing_period": period,
            "closed_at": _naive_utc(closed.closed_at),
            "closed_by": closed_by,
            "rule_version": closed.rule_version,
            **{f"total_{c}": v for c, v in closed.totals.items()},
        },
    )
    return closed


def _adjustments(rows: Sequence[tuple[Any, ...]]) -> list[Adjustment]:
    out = []
    n = len(ADJUSTMENT_GRAIN)
    for adjustment_id, period, *rest in rows:
        grain, costs, (delivery_id, at) = rest[:n], rest[n : n + 4], rest[n + 4 :]
        out.append(
            Adjustment(
                adjustment_id=str(adjustment_id),
                billing_period=period,
                **{g: str(v) for g, v in zip(ADJUSTMENT_GRAIN, grain, strict=True)},
                costs={c: Decimal(v) for c, v in zip(COST_COLUMNS, costs, strict=True)},
                delivery_id=str(delivery_id or ""),
                recorded_at=_aware(at),
            )
        )
    return out


def reopen_period(con: duckdb.DuckDBPyConnection, period: date) -> list[Adjustment]:
    """Reopen ``period``: forget its close and drop its adjustments (returned). Attribute the
    period afterwards (``reports.close`` does) so that its allocations follow the line items."""
    month = _month(period)
    if period not in closed_periods(con):
        closed = ", ".join(_month(p) for p in closed_periods(con)) or "none"
        raise CloseError(
            f"{month} is not closed",
            where=month,
            fix=f"name a closed month (closed: {closed})",
        )
    dropped = _adjustments(con.execute(_ADJUSTMENTS_OF, {"period": period}).fetchall())
    con.execute(_DELETE_ADJUSTMENTS, {"period": period})
    con.execute(_DELETE_CLOSED, {"period": period})
    return dropped


def _totals(
    con: duckdb.DuckDBPyConnection, table: str, periods: Sequence[date]
) -> dict[date, tuple[Decimal, ...]]:
    if not periods or not has_table(con, table):
        return {}
    rows = con.execute(_TOTALS_BY_PERIOD[table], {"periods": list(periods)}).fetchall()
    return {row[0]: tuple(Decimal(v) for v in row[1:]) for row in rows}


def adjustment_totals(
    con: duckdb.DuckDBPyConnection, periods: Sequence[date]
) -> dict[date, tuple[Decimal, ...]]:
    """Per period of ``periods``, the sums of its adjustments in ``COST_COLUMNS`` order."""
    return _totals(con, "adjustments", periods)


def unbalanced_closed_periods(con: duckdb.DuckDBPyConnection) -> list[date]:
    """The closed periods whose line items no longer equal frozen allocations + adjustments
    (restated since): ``record_adjustments`` is due for them."""
    closed = sorted(closed_periods(con))
    lines = _totals(con, "line_items", closed)
    frozen = _totals(con, "allocations", closed)
    adjusted = adjustment_totals(con, closed)
    zero = (Decimal(0),) * len(COST_COLUMNS)
    out = []
    for period in closed:
        recorded = tuple(
            a + b for a, b in zip(frozen.get(period, zero), adjusted.get(period, zero), strict=True)
        )
        if lines.get(period, zero) != recorded:
            out.append(period)
    return out


def record_adjustments(
    con: duckdb.DuckDBPyConnection, rules: RuleSet, rule_version: str | None = None
) -> list[Adjustment]:
    """Record the restatements of closed periods as adjustments, in the caller's transaction.

    For every closed period whose line items differ from its frozen allocations plus its
    adjustments, the current ``rules`` attribute the period's line items (for that period only;
    ``allocations`` is not touched), and the difference from what is recorded, per
    ``ADJUSTMENT_GRAIN``, is inserted where it is not zero. Afterwards, for each closed period
    and cost column: frozen allocations + adjustments = line items, exactly.
    """
    from costlens.attribution.compile import compile_attribution

    periods = unbalanced_closed_periods(con)
    if not periods:
        return []
    _ensure_tables(con)
    at = _naive_utc(utc_now())
    recorded: list[Adjustment] = []
    costs = ", ".join(COST_COLUMNS)
    for period in periods:
        key_unkeyed_lines(con, [period])
        query = compile_attribution(rules, periods=[period], rule_version=rule_version)
        row = con.execute(_DELIVERIES_OF, {"closing_period": period}).fetchone()
        deliveries = str(row[0] or "") if row else ""
        sql = _RECORD_SQL.format(
            columns=_ADJUSTMENT_COLUMNS,
            grain=_GRAIN,
            grain_text=_GRAIN_TEXT,
            grain_sums=_GRAIN_SUMS,
            attribution=query.sql,
            costs=costs,
            differences=_DIFFERENCES,
            id=_ID,
            nonzero=_NONZERO,
        )
        params = {
            **query.params,
            "closing_period": period,
            "closing_deliveries": deliveries,
            "closing_at": at,
        }
        recorded += _adjustments(con.execute(sql, params).fetchall())
    return recorded
