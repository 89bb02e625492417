"""Domain assertions shared by the tests."""

from __future__ import annotations

from decimal import Decimal

import duckdb

from costlens.schema import COST_COLUMNS


def totals_by_period(
    con: duckdb.DuckDBPyConnection, table: str, columns: tuple[str, ...] = COST_COLUMNS
) -> dict[tuple[str, str], Decimal]:
    """``{(billing_period, cost column): exact sum}`` of a table."""
    sums = ", ".join(f'SUM("{c}")' for c in columns)
    rows = con.execute(
        f'SELECT CAST(billing_period AS VARCHAR), {sums} FROM "{table}" GROUP BY 1'
    ).fetchall()
    return {
        (period, column): Decimal(value or 0)
        for period, *values in rows
        for column, value in zip(columns, values, strict=True)
    }


def assert_reconciles(
    con: duckdb.DuckDBPyConnection, table: str, reference: str = "line_items"
) -> None:
    """Per billing period and cost column, ``table`` sums to exactly what ``reference`` does."""
    got, want = totals_by_period(con, table), totals_by_period(con, reference)
    assert got == want, {
        k: (got.get(k), want.get(k)) for k in set(got) | set(want) if got.get(k) != want.get(k)
    }


def create_allocations(con: duckdb.DuckDBPyConnection, extra: tuple[str, ...] = ()) -> None:
    """An empty ``allocations`` table of the DESIGN.md shape, with ``extra`` dimensions."""
    from costlens.schema import ALLOCATION_BASE, MONEY

    cols = [f'"{c.name}" {c.sql_type}' for c in ALLOCATION_BASE]
    cols += [f'"{d}" VARCHAR' for d in (*extra, "allocation", "rule")]
    cols += [f'"{c}" {MONEY}' for c in COST_COLUMNS] + ['"usage_amount" DOUBLE']
    con.execute(f"CREATE TABLE allocations ({', '.join(cols)})")


class WallClockReached(AssertionError):
    """Code under test asked the machine for today's date (``conftest._no_wall_clock``)."""


def free_port() -> int:
    """A loopback port nothing listens on now (bound, then closed)."""
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port
