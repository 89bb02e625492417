"""The serving snapshot's fixed tables and the helpers that write them during a refresh.

``SNAPSHOT`` and ``PREVIOUS`` name the snapshot being built and the published one while they are
attached to the warehouse connection (``attach``); the DDL of the snapshot's tables is
``costlens.serving.tables``. ``drop_derived`` clears a copy of the previous snapshot down to the
tables an incremental refresh updates in place.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Collection
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

import duckdb
import pandas as pd

from costlens.attribution.owners import OwnersRegistry
from costlens.refresh.fingerprints import PeriodState
from costlens.refresh.inputs import RefreshInputs
from costlens.scorecards.compute import ScorecardInputs
from costlens.sql import insert_rows, quote

__all__ = [
    "PREVIOUS",
    "SNAPSHOT",
    "BuildContext",
    "Step",
    "attach",
    "drop_derived",
    "insert_frame",
    "last_period",
    "record_periods",
]


@dataclass(frozen=True)
class BuildContext:
    """Everything a refresh step reads: the warehouse connection with the next snapshot attached
    as ``SNAPSHOT`` (and the published one as ``PREVIOUS`` while ``reused`` is not empty), the
    billing periods and those kept from the published snapshot, and the inputs loaded once."""

    con: duckdb.DuckDBPyConnection
    published: Path
    """The published snapshot (still in service while the next is built)."""
    periods: dict[dt.date, PeriodState]
    reused: frozenset[dt.date]
    """Billing periods whose rows are kept from the published snapshot."""
    extra: tuple[str, ...]
    """The rules' extra dimensions."""
    inputs: RefreshInputs
    """What the refresh reads besides the warehouse, loaded once (``costlens.refresh.inputs``)."""

    @property
    def cost_type(self) -> str:
        """The cost type of the anomaly scan, forecasts and budgets."""
        return self.inputs.cost_type

    @property
    def detector_options(self) -> dict[str, Any] | None:
        return self.inputs.detector_options

    @property
    def marks(self) -> dict[str, str]:
        """Anomaly marks of the state database (anomaly id -> verdict)."""
        return self.inputs.marks

    @property
    def owners(self) -> OwnersRegistry | None:
        """``owners.yaml`` (for the budgets); None without one."""
        return self.inputs.owners

    @property
    def scorecards(self) -> ScorecardInputs:
        """The scorecards' goals, budgets and business metrics."""
        return self.inputs.scorecards


@dataclass(frozen=True)
class Step:
    """One step of the refresh: ``write`` fills ``tables`` of the snapshot (``keeps``: those an
    incremental refresh updates in place instead of rebuilding) and returns what the report
    needs of it (under ``parts``, optionally, the seconds of named parts of the step, which
    ``RefreshReport.step_seconds`` lists as ``step.part``)."""

    name: str
    write: Callable[[BuildContext], dict[str, Any]]
    tables: tuple[str, ...]
    keeps: tuple[str, ...] = ()


SNAPSHOT = "snapshot"
"""Name under which the snapshot being built is attached to the warehouse connection."""
PREVIOUS = "previous_snapshot"
"""Name under which the published snapshot is attached (read-only) while the next is built."""


def attach(
    con: duckdb.DuckDBPyConnection, path: Path, name: str = SNAPSHOT, read_only: bool = False
) -> None:
    """Attach the DuckDB file at ``path`` to ``con`` as ``name`` (read-only if asked)."""
    mode = " (READ_ONLY)" if read_only else ""
    con.execute(f"ATTACH $path AS {quote(name)}{mode}", {"path": str(path)})


_SNAPSHOT_TABLES_SQL = """
SELECT table_name FROM duckdb_tables() WHERE database_name = $name ORDER BY table_name
"""


def drop_derived(con: duckdb.DuckDBPyConnection, keep: Collection[str]) -> None:
    """In a copy of the previous snapshot, drop every table but ``keep`` (the tables the steps
    update in place, and those still right as they are)."""
    for (table,) in con.execute(_SNAPSHOT_TABLES_SQL, {"name": SNAPSHOT}).fetchall():
        if table not in keep:
            con.execute(f"DROP TABLE {quote(SNAPSHOT)}.{quote(str(table))}")


def last_period(periods: dict[dt.date, PeriodState]) -> dt.date | None:
    """The latest billing period of ``periods`` (None when there is none)."""
    known = [p for p in periods if p is not None]
    return max(known) if known else None


def record_periods(
    con: duckdb.DuckDBPyConnection, periods: dict[dt.date, PeriodState], reused: set[dt.date]
) -> None:
    """Write ``snapshot_periods``: each period's fingerprint and whether it was rebuilt."""
    rows = [
        (p, s.fingerprint, s.rows, ",".join(s.rule_versions), len(s.deliveries), p not in reused)
        for p, s in sorted(periods.items(), key=lambda item: (item[0] is None, item[0]))
    ]
    insert_rows(con, "INSERT INTO snapshot.snapshot_periods VALUES (?, ?, ?, ?, ?, ?)", rows)


def _exact_text(frame: pd.DataFrame) -> pd.DataFrame:
    """``frame`` with its ``Decimal`` columns as text: DuckDB types an object column of Decimals
    from a sample of its first rows (``pandas_analyze_sample``), so a later, larger amount would
    not fit the width it chose; the text is cast exactly into the table's DECIMAL column."""
    money = [
        c
        for c in frame.columns
        if frame[c].dtype == object and frame[c].map(lambda v: isinstance(v, Decimal)).any()
    ]
    if not money:
        return frame
    return frame.assign(
        **{c: frame[c].map(lambda v: str(v) if isinstance(v, Decimal) else None) for c in money}
    )


def insert_frame(con: duckdb.DuckDBPyConnection, table: str, frame: pd.DataFrame) -> None:
    """Append ``frame`` to the snapshot's ``table`` in the frame's row order (money exactly,
    whatever its size: ``_exact_text``)."""
    if frame.empty:
        return
    con.register("_incoming", _exact_text(frame))
    try:
        cols = ", ".join(quote(c) for c in frame.columns)
        con.execute(
            f"INSERT INTO {quote(SNAPSHOT)}.{quote(table)} ({cols}) "  # noqa: S608
            f"SELECT {cols} FROM _incoming"
        )
    finally:
        con.unregister("_incoming")
