# ruff: noqa: S608  (SQL from fixed table and column names; values are bound $-placeholders)
"""``attribute``: re-write ``allocations`` from ``line_items`` with a rule set, atomically.

One transaction deletes the periods' allocations, inserts the compiled query's rows, marks the
scorecards' pre-aggregates of those periods stale (``costlens.scorecards.facts``: the next
refresh rewrites them) and checks conservation (per billing period and cost column, allocations
sum exactly to line items); any failure rolls everything back, so readers never see a
half-attributed period.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal

import duckdb

from costlens.attribution._sql import quote_ident
from costlens.attribution.compile import allocation_columns, compile_attribution
from costlens.attribution.coverage import UnallocatedFigure
from costlens.attribution.owners import UNALLOCATED
from costlens.attribution.rules import RuleSet
from costlens.errors import RuleError
from costlens.line_keys import key_unkeyed_lines
from costlens.schema import COST_COLUMNS, column_names, create_table_sql
from costlens.scorecards.facts import mark_stale
from costlens.warehouse import Warehouse

__all__ = ["ALLOCATIONS", "AttributionResult", "attribute", "check_conservation"]

ALLOCATIONS = "allocations"

_EXISTING_COLUMNS = """
SELECT column_name FROM information_schema.columns
WHERE table_name = 'allocations' AND table_schema = current_schema()
ORDER BY ordinal_position
"""

_IN_PERIODS = "($periods IS NULL OR list_contains(CAST($periods AS DATE[]), billing_period))"
"""Rows of the billing periods ``$periods`` (all when NULL)."""

_SUMS = ", ".join(f"SUM({c})" for c in COST_COLUMNS)

_PERIOD_TOTALS = {
    table: f"SELECT billing_period, {_SUMS} FROM {table} WHERE {_IN_PERIODS} GROUP BY 1"
    for table in ("line_items", ALLOCATIONS)
}
"""Per-period sums of the cost columns (in ``COST_COLUMNS`` order), of both tables."""

_DELETE_PERIODS = f"DELETE FROM allocations WHERE {_IN_PERIODS}"

_UNALLOCATED_TOTALS = (
    "SELECT "
    + ", ".join(
        f"SUM({c}) FILTER (WHERE owner = $owner), SUM({c}) FILTER (WHERE {c} > 0),"
        f" SUM({c}) FILTER (WHERE {c} > 0 AND owner = $owner)"
        for c in COST_COLUMNS
    )
    + f" FROM allocations WHERE {_IN_PERIODS}"
)
"""Per cost column: the net amount left ``unallocated``, the charges (positive allocation rows)
and the charges left ``unallocated``."""


@dataclass(frozen=True)
class AttributionResult:
    """What one ``attribute`` run did."""

    rule_version: str
    periods: tuple[date, ...]
    """Billing periods re-attributed (those with line items)."""
    rows: int
    """Allocation rows written."""
    totals: dict[str, Decimal]
    """Sum of each cost column over the periods (equal in line items and allocations)."""
    unallocated: dict[str, Decimal]
    """Sum of each cost column left with the owner ``unallocated``."""
    seconds: float
    rebuilt: bool = False
    """True when the table was re-created (new dimensions), so every period was re-attributed."""
    notes: list[str] = field(default_factory=list)
    charges: dict[str, Decimal] = field(default_factory=dict)
    """Sum of each cost column over the positive allocation rows (charges before credits)."""
    unallocated_charges: dict[str, Decimal] = field(default_factory=dict)
    """The part of ``charges`` left with the owner ``unallocated``."""

    def unallocated_figure(self, column: str = "amortized_cost") -> UnallocatedFigure:
        """What is left unallocated of ``column``, gross and net of credits."""
        zero = Decimal(0)
        return UnallocatedFigure(
            column,
            total=self.totals.get(column, zero),
            unallocated=self.unallocated.get(column, zero),
            charges=self.charges.get(column, zero),
            unallocated_charges=self.unallocated_charges.get(column, zero),
        )

    def unallocated_share(self, column: str = "amortized_cost") -> Decimal:
        """The share of the charges (positive amounts) of ``column`` left unallocated, in [0, 1]
        (0 without charges); see ``UnallocatedFigure``."""
        return self.unallocated_figure(column).share

    def describe_unallocated(self, column: str = "amortized_cost") -> str:
        """One line for a person: ``UnallocatedFigure.describe``."""
        return self.unallocated_figure(column).describe()


@contextlib.contextmanager
def _transaction(
    target: Warehouse | duckdb.DuckDBPyConnection,
) -> Iterator[duckdb.DuckDBPyConnection]:
    if isinstance(target, Warehouse):
        with target.transaction() as con:
            yield con
        return
    target.execute("BEGIN TRANSACTION")
    try:
        yield target
    except BaseException:
        target.execute("ROLLBACK")
        raise
    target.execute("COMMIT")


def _totals(
    con: duckdb.DuckDBPyConnection, table: str, periods: Sequence[date] | None
) -> dict[date, tuple[Decimal, ...]]:
    params = {"periods": None if periods is None else list(periods)}
    rows = con.execute(_PERIOD_TOTALS[table], params).fetchall()
    return {row[0]: tuple(Decimal(v or 0) for v in row[1:]) for row in rows}


def check_conservation(
    con: duckdb.DuckDBPyConnection, periods: Sequence[date] | None = None
) -> dict[date, tuple[Decimal, ...]]:
    """Per-period line-item totals; raises ``RuleError`` if ``allocations`` differ anywhere."""
    want, got = _totals(con, "line_items", periods), _totals(con, ALLOCATIONS, periods)
    for period in sorted(set(want) | set(got)):
        zero = (Decimal(0),) * len(COST_COLUMNS)
        for column, w, g in zip(
            COST_COLUMNS, want.get(period, zero), got.get(period, zero), strict=True
        ):
            if w != g:
                raise RuleError(
                    f"conservation failed: {column} of {period} is {g} in allocations but "
                    f"{w} in line_items",
                    where=ALLOCATIONS,
                    fix="this is a bug in costlens: please report it with `costlens rules check`",
                )
    return want


def attribute(
    target: Warehouse | duckdb.DuckDBPyConnection,
    rules: RuleSet,
    *,
    periods: Sequence[date] | None = None,
    rule_version: str | None = None,
) -> AttributionResult:
    """Re-write ``allocations`` for ``periods`` (1st of the month; None: all), atomically.

    Each row carries ``rule_version`` (default ``rules.version``). Raises ``RuleError`` (and
    changes nothing) if conservation would not hold.
    """
    started = time.perf_counter()
    con = target.con if isinstance(target, Warehouse) else target
    columns = allocation_columns(rules)
    existing = tuple(r[0] for r in con.execute(_EXISTING_COLUMNS).fetchall())
    rebuild = bool(existing) and existing != column_names(columns)
    notes = []
    if rebuild and periods is not None:
        notes.append("the rules' dimensions changed: re-attributed every period")
        periods = None
    version = rule_version or rules.version
    query = compile_attribution(rules, periods=periods, rule_version=version)
    names = ", ".join(quote_ident(c) for c in column_names(columns))
    setting = con.execute("SELECT current_setting('preserve_insertion_order')").fetchone()
    con.execute("SET preserve_insertion_order = false")  # allocations have no order: faster
    try:
        with _transaction(target) as tx:
            if rebuild:
                tx.execute(f"DROP TABLE {quote_ident(ALLOCATIONS)}")
            tx.execute(create_table_sql(ALLOCATIONS, columns))
            in_periods = {"periods": None if periods is None else list(periods)}
            tx.execute(_DELETE_PERIODS, in_periods)
            keyed = key_unkeyed_lines(tx, periods)  # none when ingest loaded every line
            if keyed:
                notes.append(f"keyed {keyed} line item(s) not loaded by costlens ingest")
            row = tx.execute(
                f"INSERT INTO {quote_ident(ALLOCATIONS)} ({names})\n{query.sql}", query.params
            ).fetchone()
            written = int(row[0]) if row else 0
            totals_by_period = check_conservation(tx, periods)
            mark_stale(tx, periods)  # the scorecards' pre-aggregates: the refresh rewrites them
            left = tx.execute(_UNALLOCATED_TOTALS, {**in_periods, "owner": UNALLOCATED}).fetchone()
    finally:
        restore = "true" if setting is None or setting[0] else "false"
        con.execute(f"SET preserve_insertion_order = {restore}")
    totals = {
        c: sum((t[i] for t in totals_by_period.values()), Decimal(0))
        for i, c in enumerate(COST_COLUMNS)
    }
    figures = [Decimal(v or 0) for v in left] if left else [Decimal(0)] * 3 * len(COST_COLUMNS)
    return AttributionResult(
        rule_version=version,
        periods=tuple(sorted(totals_by_period)),
        rows=written,
        totals=totals,
        unallocated={c: figures[3 * i] for i, c in enumerate(COST_COLUMNS)},
        seconds=time.perf_counter() - started,
        rebuilt=rebuild,
        notes=notes,
        charges={c: figures[3 * i + 1] for i, c in enumerate(COST_COLUMNS)},
        unallocated_charges={c: figures[3 * i + 2] for i, c in enumerate(COST_COLUMNS)},
    )
