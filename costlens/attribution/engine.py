# ruff: noqa: S608  (SQL from fixed table and column names; values are bound $-placeholders)
"""``attribute``: re-write ``allocations`` from ``line_items`` with a rule set, atomically.

One transaction deletes the periods' allocations, inserts the compiled query's rows, marks the
scorecards' pre-aggregates of those periods stale (``costlens.scorecards.facts``: the next
refresh rewrites them) and checks conservation (per billing period and cost column, allocations
sum exactly to line items); any failure rolls everything back, so readers never see a
half-attributed period.

Closed periods (``costlens.closing``) are never re-attributed: their allocations are frozen,
kept even when the table is rebuilt for new dimensions, and a restatement of one is recorded as
adjustments in the same transaction; their conservation is frozen allocations + adjustments =
line items.
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
from costlens.attribution.hourly import HourlyResult, write_hourly
from costlens.attribution.owners import UNALLOCATED
from costlens.attribution.rules import RuleSet
from costlens.closing import Adjustment, adjustment_totals, closed_periods, record_adjustments
from costlens.errors import RuleError
from costlens.line_keys import key_unkeyed_lines
from costlens.schema import COST_COLUMNS, Column, column_names, create_table_sql
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

_ALL_PERIODS = """
SELECT DISTINCT billing_period FROM line_items
UNION SELECT DISTINCT billing_period FROM {allocations}
"""

_FROZEN_ASIDE = (
    "CREATE OR REPLACE TEMP TABLE _frozen_allocations AS SELECT * FROM allocations"
    " WHERE list_contains(CAST($closed AS DATE[]), billing_period)"
)
"""The frozen rows of the closed periods, kept while ``allocations`` is rebuilt."""

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
    closed: tuple[date, ...] = ()
    """Closed periods left as they were (frozen; ``costlens.closing``)."""
    adjustments: tuple[Adjustment, ...] = ()
    """Adjustments recorded for restated closed periods in this run."""
    hourly: HourlyResult | None = None
    """The hourly allocations (``costlens.attribution.hourly``); None without ``hourly_days``."""

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
    target: Warehouse | duckdb.DuckDBPyConnection, *, open_: bool = False
) -> Iterator[duckdb.DuckDBPyConnection]:
    if open_:  # the caller's transaction
        yield target.con if isinstance(target, Warehouse) else target
        return
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
    """Per-period line-item totals; raises ``RuleError`` if ``allocations`` differ anywhere
    (for a closed period: if frozen allocations + adjustments do)."""
    want, got = _totals(con, "line_items", periods), _totals(con, ALLOCATIONS, periods)
    zero = (Decimal(0),) * len(COST_COLUMNS)
    closed = [p for p in closed_periods(con) if periods is None or p in periods]
    for period, adjusted in adjustment_totals(con, closed).items():
        got[period] = tuple(a + b for a, b in zip(got.get(period, zero), adjusted, strict=True))
    for period in sorted(set(want) | set(got)):
        table = "allocations + adjustments" if period in closed else "allocations"
        for column, w, g in zip(
            COST_COLUMNS, want.get(period, zero), got.get(period, zero), strict=True
        ):
            if w != g:
                raise RuleError(
                    f"conservation failed: {column} of {period} is {g} in {table} but "
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
    hourly_days: int | None = None,
    computed: str | None = None,
    in_transaction: bool = False,
) -> AttributionResult:
    """Re-write ``allocations`` for ``periods`` (1st of the month; None: all), atomically.

    ``computed`` names a relation on the connection holding the allocation rows of exactly
    ``periods`` (not None), computed by another engine (``costlens.engines``) with the same
    compiled rules: they are written instead of running the query, and checked the same way
    (a rebuild for new dimensions attributes the other periods here). ``in_transaction``: run
    in the caller's open transaction (a connection's), which commits or rolls back.

    With ``hourly_days`` (``[anomalies] grain = "hour"``) the hourly allocations of the last
    ``hourly_days`` days are re-written in the same transaction when a period of theirs is
    (``costlens.attribution.hourly``); without it they are dropped.

    Closed periods are left out (their allocations are frozen; a list of closed periods only
    writes nothing) and restatements of them are recorded as adjustments
    (``costlens.closing.record_adjustments``). Each row carries ``rule_version`` (default
    ``rules.version``). Raises ``RuleError`` (and changes nothing) if conservation would not hold.
    """
    started = time.perf_counter()
    con = target.con if isinstance(target, Warehouse) else target
    assert computed is None or periods is not None, "computed rows are of given periods"
    engine_periods = set(periods or ()) if computed is not None else set()
    columns = allocation_columns(rules)
    existing = tuple(r[0] for r in con.execute(_EXISTING_COLUMNS).fetchall())
    rebuild = bool(existing) and existing != column_names(columns)
    notes = []
    if rebuild and periods is not None:
        notes.append("the rules' dimensions changed: re-attributed every open period")
        periods = None
    closed = closed_periods(con)
    skipped: tuple[date, ...] = ()
    if closed:
        wanted = set(periods) if periods is not None else _every_period(con, bool(existing))
        skipped = tuple(sorted(closed if periods is None else wanted & set(closed)))
        periods = sorted(wanted - set(closed))
        if skipped:
            shown = ", ".join(f"{p:%Y-%m}" for p in skipped)
            notes.append(f"closed period(s) {shown} kept frozen (`costlens reopen` to change)")
    frozen = sorted(closed) if rebuild else []
    version = rule_version or rules.version
    here = periods  # the periods attributed by the compiled query, here
    if computed is not None:
        others = _every_period(con, bool(existing)) - engine_periods - set(closed)
        here = sorted(others) if rebuild else []
    query = compile_attribution(rules, periods=here, rule_version=version)
    names = ", ".join(quote_ident(c) for c in column_names(columns))
    setting = con.execute("SELECT current_setting('preserve_insertion_order')").fetchone()
    con.execute("SET preserve_insertion_order = false")  # allocations have no order: faster
    try:
        with _transaction(target, open_=in_transaction) as tx:
            if rebuild:
                if frozen:
                    tx.execute(_FROZEN_ASIDE, {"closed": frozen})
                tx.execute(f"DROP TABLE {quote_ident(ALLOCATIONS)}")
            tx.execute(create_table_sql(ALLOCATIONS, columns))
            if frozen:
                _restore_frozen(tx, columns, existing)
            in_periods = {"periods": None if periods is None else list(periods)}
            written = 0
            if periods != []:
                tx.execute(_DELETE_PERIODS, in_periods)
                keyed = key_unkeyed_lines(tx, periods)  # none when ingest loaded every line
                if keyed:
                    notes.append(f"keyed {keyed} line item(s) not loaded by costlens ingest")
                if here != []:
                    row = tx.execute(
                        f"INSERT INTO {quote_ident(ALLOCATIONS)} ({names})\n{query.sql}",
                        query.params,
                    ).fetchone()
                    written = int(row[0]) if row else 0
                if computed is not None:
                    open_periods = sorted(engine_periods - set(closed))  # closed ones: frozen
                    written += _insert_computed(tx, computed, names, open_periods)
            adjustments = tuple(record_adjustments(tx, rules, version))
            if adjustments:
                notes.append(f"recorded {len(adjustments)} adjustment(s) of restated closed months")
            totals_by_period = check_conservation(tx, periods)
            if closed:
                check_conservation(tx, sorted(closed))  # frozen + adjustments = line items
            if periods != []:
                mark_stale(tx, periods)  # the scorecards' pre-aggregates: the refresh rewrites
            hourly = write_hourly(tx, rules, version, hourly_days, periods)
            if hourly is not None and hourly.written and hourly.since is not None:
                notes.append(f"hourly allocations from {hourly.since}: {hourly.rows} row(s)")
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
        closed=skipped,
        adjustments=adjustments,
        hourly=hourly,
    )


def _insert_computed(
    con: duckdb.DuckDBPyConnection, relation: str, names: str, periods: list[date]
) -> int:
    """Insert the rows of ``relation`` (an engine's allocations) of ``periods`` by column name;
    returns how many."""
    row = con.execute(
        f"INSERT INTO {quote_ident(ALLOCATIONS)} ({names}) SELECT {names} FROM "
        f"{quote_ident(relation)} WHERE list_contains(CAST($periods AS DATE[]), billing_period)",
        {"periods": periods},
    ).fetchone()
    return int(row[0]) if row else 0


def _every_period(con: duckdb.DuckDBPyConnection, allocated: bool) -> set[date]:
    """Every billing period of the line items (and of the allocations, when there are any)."""
    sql = _ALL_PERIODS.format(allocations=ALLOCATIONS if allocated else "line_items")
    return {row[0] for row in con.execute(sql).fetchall() if row[0] is not None}


_EMPTY = "''"


def _restore_frozen(
    con: duckdb.DuckDBPyConnection, columns: tuple[Column, ...], existing: tuple[str, ...]
) -> None:
    """Put the closed periods' frozen rows back into the rebuilt table, by name: a dimension
    the rules added is '' for them, one they dropped is gone."""
    kept = set(existing)
    select = ", ".join(
        quote_ident(c.name)
        if c.name in kept
        else f"{_EMPTY if c.sql_type == 'VARCHAR' else 'NULL'} AS {quote_ident(c.name)}"
        for c in columns
    )
    con.execute(
        f"INSERT INTO {quote_ident(ALLOCATIONS)} BY NAME SELECT {select} FROM _frozen_allocations"
    )
    con.execute("DROP TABLE _frozen_allocations")
