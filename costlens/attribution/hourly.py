# ruff: noqa: S608  (SQL from fixed table and column names; values are bound $-placeholders)
"""Hourly allocations: the last days of spend per hour, for the hourly anomaly scan.

With ``[anomalies] grain = "hour"`` attribution also writes ``allocations_hourly``: the line items
used in the last ``hourly_days`` whole days of data (up to the last day any line item was used,
across billing periods), attributed by the same compiled rules, hour by hour
(``compile_attribution(..., hourly_since=...)``), and summed per hour, microservice, owner,
account, service, region, usage type and charge category (no line key: the table stays small).
It is re-written in ``attribute``'s transaction whenever a period of its window is re-attributed
and checked like ``allocations``: per day and cost column its rows sum exactly to the line items
used that day. Its rows use the current rules also on a closed period's days (the table feeds
the anomaly scan only; the closed period's allocations stay frozen). The window starts on the
first day of use when there are fewer days.

Without that grain the table is dropped, so no stale hourly spend is ever scanned.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from decimal import Decimal

import duckdb

from costlens.attribution._sql import quote_ident
from costlens.attribution.compile import compile_attribution
from costlens.attribution.rules import RuleSet
from costlens.errors import RuleError
from costlens.schema import COST_COLUMNS, SUM_MONEY, Column, create_table_sql

__all__ = [
    "HOURLY_ALLOCATIONS",
    "HOURLY_COLUMNS",
    "HourlyResult",
    "hourly_current",
    "hourly_table_exists",
    "write_hourly",
]

HOURLY_ALLOCATIONS = "allocations_hourly"

_KEYS: tuple[Column, ...] = (
    Column("usage_hour", "TIMESTAMP", "Hour of usage (UTC), its start."),
    Column("usage_date", "DATE", "Day of usage (UTC)."),
    Column("billing_period", "DATE", "First day of the billing month."),
    Column("charge_category", "VARCHAR", "Usage, Purchase, Tax, Credit, Refund, ..."),
    Column("account_id", "VARCHAR", "Usage account."),
    Column("service_code", "VARCHAR", "AWS product code."),
    Column("region", "VARCHAR", "AWS region."),
    Column("usage_type", "VARCHAR", "AWS usage type."),
    Column("microservice", "VARCHAR", "Attributed microservice."),
    Column("owner", "VARCHAR", "Attributed business owner."),
)
HOURLY_COLUMNS: tuple[Column, ...] = (
    *_KEYS,
    *(Column(c, SUM_MONEY, f"Sum of line_items.{c}.") for c in COST_COLUMNS),
)
"""Columns of ``allocations_hourly``."""

_USED = "COALESCE(usage_start, billing_period)"
_DAYS = f"SELECT min(CAST({_USED} AS DATE)), max(CAST({_USED} AS DATE)) FROM line_items"
_WINDOW_PERIODS = f"SELECT DISTINCT billing_period FROM line_items WHERE {_USED} >= $since"
_SUMS = ", ".join(f"SUM({quote_ident(c)})" for c in COST_COLUMNS)
_LINE_DAYS = (
    f"SELECT CAST({_USED} AS DATE) AS d, {_SUMS} FROM line_items WHERE {_USED} >= $since GROUP BY 1"
)
_HOURLY_DAYS = f"SELECT usage_date AS d, {_SUMS} FROM {HOURLY_ALLOCATIONS} GROUP BY 1"
_EXISTS = (
    "SELECT count(*) FROM information_schema.tables "
    "WHERE table_name = $name AND table_schema = current_schema()"
)


@dataclass(frozen=True)
class HourlyResult:
    """What ``write_hourly`` did."""

    since: date | None
    """First day of the hourly window (None: no line items)."""
    rows: int
    written: bool
    """False when no period of the window was re-attributed (the table was kept)."""


def hourly_table_exists(con: duckdb.DuckDBPyConnection) -> bool:
    """Whether ``con``'s warehouse holds ``allocations_hourly``."""
    row = con.execute(_EXISTS, {"name": HOURLY_ALLOCATIONS}).fetchone()
    return bool(row and row[0])


def _day_sums(
    con: duckdb.DuckDBPyConnection, sql: str, params: dict[str, object]
) -> dict[date, tuple[Decimal, ...]]:
    return {
        r[0]: tuple(Decimal(v or 0) for v in r[1:]) for r in con.execute(sql, params).fetchall()
    }


def _window(con: duckdb.DuckDBPyConnection, days: int) -> date | None:
    """First day of the hourly window: ``days`` days up to the last day of use, or the first day
    of use when that is later (None: no data)."""
    row = con.execute(_DAYS).fetchone()
    if not row or row[1] is None:
        return None
    first: date = max(row[0], row[1] - timedelta(days=days - 1))
    return first


def _starts_on(con: duckdb.DuckDBPyConnection, first: date | None) -> bool:
    row = con.execute(f"SELECT min(usage_date) FROM {quote_ident(HOURLY_ALLOCATIONS)}").fetchone()
    return row is not None and row[0] == first


def hourly_current(con: duckdb.DuckDBPyConnection, days: int | None) -> bool:
    """True when ``allocations_hourly`` is what ``days`` asks for with the line items as they
    are: absent without ``days``; else present and starting on the window's first day (a
    changed ``hourly_days`` or grain needs an attribution run even when no period changed)."""
    if days is None:
        return not hourly_table_exists(con)
    return hourly_table_exists(con) and _starts_on(con, _window(con, days))


def write_hourly(
    con: duckdb.DuckDBPyConnection,
    rules: RuleSet,
    rule_version: str,
    days: int | None,
    attributed: Sequence[date] | None,
) -> HourlyResult | None:
    """Re-write ``allocations_hourly`` for the last ``days`` days when a period of that window is
    among ``attributed`` (None: all), inside the caller's transaction; drop it when ``days`` is
    None. Raises ``RuleError`` (the caller rolls back) if a day does not sum to its line items."""
    if days is None:
        con.execute(f"DROP TABLE IF EXISTS {quote_ident(HOURLY_ALLOCATIONS)}")
        return None
    first = _window(con, days)
    existed = hourly_table_exists(con)
    if not existed:
        con.execute(create_table_sql(HOURLY_ALLOCATIONS, HOURLY_COLUMNS))
    if first is None:
        con.execute(f"DELETE FROM {quote_ident(HOURLY_ALLOCATIONS)}")
        return HourlyResult(None, 0, True)
    since = datetime.combine(first, time())
    window = sorted(r[0] for r in con.execute(_WINDOW_PERIODS, {"since": since}).fetchall())
    kept = existed and attributed is not None and not set(attributed) & set(window)
    if kept and _starts_on(con, first):
        count = con.execute(f"SELECT count(*) FROM {quote_ident(HOURLY_ALLOCATIONS)}").fetchone()
        return HourlyResult(first, int(count[0]) if count else 0, False)
    query = compile_attribution(
        rules, periods=window, rule_version=rule_version, hourly_since=since
    )
    keys = ", ".join(quote_ident(c.name) for c in _KEYS)
    sums = ", ".join(f"SUM({quote_ident(c)})" for c in COST_COLUMNS)
    con.execute(f"DELETE FROM {quote_ident(HOURLY_ALLOCATIONS)}")
    written = con.execute(
        f"INSERT INTO {quote_ident(HOURLY_ALLOCATIONS)}\n"
        f"SELECT {keys}, {sums} FROM (\n{query.sql}\n) GROUP BY ALL ORDER BY ALL",
        query.params,
    ).fetchone()
    want = _day_sums(con, _LINE_DAYS, {"since": since})
    got = _day_sums(con, _HOURLY_DAYS, {})
    zero = (Decimal(0),) * len(COST_COLUMNS)
    for day in sorted(set(want) | set(got)):
        for column, w, g in zip(COST_COLUMNS, want.get(day, zero), got.get(day, zero), strict=True):
            if w != g:
                raise RuleError(
                    f"conservation failed: {column} of {day} is {g} in {HOURLY_ALLOCATIONS} "
                    f"but {w} in line_items",
                    where=HOURLY_ALLOCATIONS,
                    fix="this is a bug in costlens: please report it with `costlens rules check`",
                )
    return HourlyResult(first, int(written[0]) if written else 0, True)
