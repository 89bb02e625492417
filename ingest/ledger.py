"""The ingest ledger: the ``deliveries`` table, one row per delivery of a report's period.

A delivery's id is a hash of what identifies it (source, report, period, assembly id and each
file's ETag or SHA-256), so the same delivery always gets the same id and re-ingesting it is a
no-op. Exactly one row per source, report and period is ``current``; older ones are
``superseded``. (The loader also refuses a second current delivery of a period holding the same
usage account, unless asked to replace the first.)
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import UTC, date, datetime
from decimal import Decimal

import duckdb

from costlens.schema import COST_COLUMNS
from ingest.model import ExportFile

__all__ = ["LedgerRow", "current_ids", "delivery_id", "find", "record"]

_TOTAL_COLUMNS = ", ".join(f"total_{c}" for c in COST_COLUMNS)

FIND_SQL = (
    f"SELECT status, format, row_count, {_TOTAL_COLUMNS} "  # noqa: S608 (fixed names)
    "FROM deliveries WHERE delivery_id = $id"
)
CURRENT_SQL = """
SELECT delivery_id FROM deliveries
WHERE source = $source AND report = $report AND billing_period = $period AND status = 'current'
"""
SUPERSEDE_SQL = "UPDATE deliveries SET status = 'superseded' WHERE list_contains($ids, delivery_id)"
FORGET_SQL = "DELETE FROM deliveries WHERE delivery_id = $id"
INSERT_SQL = f"""
INSERT INTO deliveries (delivery_id, source, report, format, billing_period, assembly_id, files,
                        row_count, {_TOTAL_COLUMNS}, status, ingested_at, engine)
VALUES ($id, $source, $report, $format, $period, $assembly_id, $files, $rows,
        {", ".join(f"$total_{c}" for c in COST_COLUMNS)}, 'current', $at, $engine)
"""  # noqa: S608 (fixed names; values are bound)


@dataclass(frozen=True)
class LedgerRow:
    """What the ledger knows about one delivery."""

    status: str
    format: str
    rows: int
    totals: dict[str, Decimal]


def delivery_id(
    source: str, report: str, period: date, assembly_id: str | None, files: list[ExportFile]
) -> str:
    """Stable id of a delivery: the same files (by ETag or SHA-256) give the same id."""
    body = json.dumps(
        {
            "source": source,
            "report": report,
            "period": period.isoformat(),
            "assembly": assembly_id,
            "files": sorted({(f.key, f.etag or f.sha256 or "", f.size) for f in files}),
        },
        sort_keys=True,
    )
    return hashlib.sha256(body.encode()).hexdigest()[:32]


def find(con: duckdb.DuckDBPyConnection, id_: str) -> LedgerRow | None:
    """The ledger row of delivery ``id_``, if any."""
    row = con.execute(FIND_SQL, {"id": id_}).fetchone()
    if row is None:
        return None
    status, format_, rows, *totals = row
    return LedgerRow(
        str(status),
        str(format_),
        int(rows),
        {c: Decimal(t) for c, t in zip(COST_COLUMNS, totals, strict=True)},
    )


def current_ids(
    con: duckdb.DuckDBPyConnection, source: str, report: str, period: date
) -> list[str]:
    """Ids of the current delivery (normally one) of a report's period."""
    rows = con.execute(CURRENT_SQL, {"source": source, "report": report, "period": period})
    return [str(r[0]) for r in rows.fetchall()]


def record(
    con: duckdb.DuckDBPyConnection,
    *,
    id_: str,
    source: str,
    report: str,
    format_: str,
    period: date,
    assembly_id: str | None,
    files: list[ExportFile],
    rows: int,
    totals: dict[str, Decimal],
    superseded: list[str],
    engine: str = "duckdb",
) -> None:
    """Mark ``superseded`` as such and record delivery ``id_`` as current (inside the caller's
    transaction), loaded by ``engine`` (``duckdb``: ingest; ``spark``: ``costlens.engines``)."""
    if superseded:
        con.execute(SUPERSEDE_SQL, {"ids": superseded})
    con.execute(FORGET_SQL, {"id": id_})
    params: dict[str, object] = {
        "id": id_,
        "source": source,
        "report": report,
        "format": format_,
        "period": period,
        "assembly_id": assembly_id,
        "files": json.dumps([f.ledger_entry() for f in files]),
        "rows": rows,
        "at": datetime.now(UTC).replace(tzinfo=None),
        "engine": engine,
    }
    params.update({f"total_{c}": totals[c] for c in COST_COLUMNS})
    con.execute(INSERT_SQL, params)
