"""Which billing periods of the previous snapshot are still current (incremental refresh).

AWS re-delivers only the current month day after day, so a refresh need not re-aggregate the
closed months. Every snapshot records, per billing period, a fingerprint of what built it
(``snapshot_periods``): the current deliveries of the period in the ingest ledger, the rule-set
version(s) and row count of its ``allocations``, the extra dimensions and the cube layout. The
next refresh computes the same fingerprints and re-uses the previous snapshot's cube rows of a
period only when

* both fingerprints exist and are equal (a period with no ledger row, e.g. allocations written
  by hand, is never re-used), and
* the previous cube's sums of the period equal the ledger totals of its current deliveries to
  the last decimal (so a refresh that ran between ``ingest`` and ``attribute`` is caught).

Anything else is rebuilt from ``allocations``, so an incremental snapshot is exactly the one a
full rebuild would produce.

When nothing at all changed the refresh keeps the published snapshot. It knows that without
reading ``allocations`` from ``SOURCE_FILE`` beside the snapshot (``record_source``): the
identity (inode, size, modification and change time, ``files_stamp``) of ``warehouse.duckdb``
and its write-ahead log when the snapshot was built, and keys of every other input (rules and
owners files, anomaly marks, options). Any commit to the warehouse (ingest, attribute, by any
process) writes one of the two files, so equal stamps and equal keys mean the snapshot is still
exactly what a rebuild would give.

This module holds the fingerprints, stamps and the record's file; ``costlens.refresh.reuse``
makes the refresh's decisions with them.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import hashlib
import json
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

import duckdb

from costlens.closing import adjustment_totals
from costlens.schema import COST_COLUMNS
from costlens.serving import file_stamp
from costlens.sql import has_column

__all__ = [
    "CUBE_LAYOUT",
    "SOURCE_FILE",
    "PeriodState",
    "as_json",
    "current_periods",
    "inputs_key",
    "record_source",
    "recorded_source",
    "reusable_periods",
]

SOURCE_FILE = "refresh-source.json"
"""Beside ``serving.duckdb``: what the published snapshot was built from (see above)."""

CUBE_LAYOUT = "cube-1"
"""Version of the cube's shape; a snapshot built with another layout is never re-used."""

_ALLOCATION_PERIODS_SQL = """
SELECT billing_period, any_value({version}) AS rule_version, count(*) AS rows
FROM allocations GROUP BY billing_period, hash({version})
"""
"""Rows and rule versions per period. Grouping by the version's 64-bit hash instead of the text
runs in a third of the time (10M rows: 0.045 s against 0.15 s, about half a plain scan); two
versions of one period would have to collide in 64 bits for one to be missed."""

_LEDGER_SQL = """
SELECT billing_period, list(delivery_id ORDER BY delivery_id) AS deliveries,
       {totals}
FROM deliveries WHERE status = 'current' GROUP BY billing_period
"""


@dataclass(frozen=True)
class PeriodState:
    """What one billing period of ``allocations`` is built from right now."""

    billing_period: dt.date
    rows: int
    """Rows of ``allocations`` in the period."""
    rule_versions: tuple[str, ...]
    """Distinct ``rule_version`` values of its rows (empty without that column)."""
    deliveries: tuple[str, ...]
    """Current ledger deliveries of the period (empty: not from the ledger)."""
    ledger_totals: tuple[Decimal, ...] | None
    """Sum of the current deliveries' ``total_<cost column>``, in ``COST_COLUMNS`` order, less
    the period's adjustments when it is closed and restated (what its allocations sum to)."""
    fingerprint: str | None
    """Hash of all of the above plus the layout; None when the period cannot be trusted."""


def _ledger(
    con: duckdb.DuckDBPyConnection,
) -> dict[dt.date, tuple[tuple[str, ...], tuple[Decimal, ...]]]:
    if not has_column(con, "deliveries", "delivery_id"):
        return {}
    totals = ", ".join(f'SUM("total_{c}")' for c in COST_COLUMNS)
    out = {}
    for period, deliveries, *sums in con.execute(_LEDGER_SQL.format(totals=totals)).fetchall():
        out[period] = (
            tuple(str(d) for d in deliveries),
            tuple(Decimal(s) if s is not None else Decimal(0) for s in sums),
        )
    return out


def current_periods(
    con: duckdb.DuckDBPyConnection, extra: Sequence[str]
) -> dict[dt.date, PeriodState]:
    """The state of every billing period of ``allocations`` (one narrow scan of it)."""
    version = "rule_version" if has_column(con, "allocations", "rule_version") else "NULL"
    per_period: dict[dt.date, tuple[int, set[str]]] = {}
    for period, rule_version, rows in con.execute(
        _ALLOCATION_PERIODS_SQL.format(version=version)
    ).fetchall():
        count, versions = per_period.get(period, (0, set()))
        if rule_version is not None:
            versions.add(str(rule_version))
        per_period[period] = (count + int(rows), versions)
    ledger = _ledger(con)
    # A restated closed period: its allocations are frozen, its ledger restated; the cube holds
    # the frozen figures, which are the ledger's minus the adjustments (costlens.closing).
    adjusted = adjustment_totals(con, sorted(per_period))
    states = {}
    for period, (rows, versions) in sorted(per_period.items()):
        deliveries, totals = ledger.get(period, ((), None))
        if totals is not None and period in adjusted:
            totals = tuple(t - a for t, a in zip(totals, adjusted[period], strict=True))
        fingerprint = None
        if deliveries:
            key = json.dumps(
                [CUBE_LAYOUT, list(extra), str(period), rows, sorted(versions), list(deliveries)]
            )
            fingerprint = hashlib.sha256(key.encode()).hexdigest()[:32]
        states[period] = PeriodState(
            period, rows, tuple(sorted(versions)), deliveries, totals, fingerprint
        )
    return states


def reusable_periods(
    current: Mapping[dt.date, PeriodState],
    previous_fingerprints: Mapping[dt.date, str | None],
    previous_totals: Mapping[dt.date, tuple[Decimal, ...]],
) -> set[dt.date]:
    """The periods whose previous cube rows may be copied as they are.

    ``previous_fingerprints`` come from the previous snapshot's ``snapshot_periods``;
    ``previous_totals`` are its cube's sums per period in ``COST_COLUMNS`` order.

    >>> p = PeriodState(dt.date(2024, 1, 1), 3, ("v1",), ("d1",), (Decimal(1),) * 4, "f")
    >>> sorted(reusable_periods({p.billing_period: p}, {p.billing_period: "f"},
    ...                         {p.billing_period: (Decimal("1.0"),) * 4}))
    [datetime.date(2024, 1, 1)]
    >>> reusable_periods({p.billing_period: p}, {p.billing_period: "g"}, {})
    set()
    """
    keep = set()
    for period, state in current.items():
        if state.fingerprint is None or previous_fingerprints.get(period) != state.fingerprint:
            continue
        if state.ledger_totals is None or previous_totals.get(period) != state.ledger_totals:
            continue
        keep.add(period)
    return keep


def inputs_key(*parts: object) -> str:
    """A hash of JSON-able ``parts`` (with the cube layout).

    >>> inputs_key("a", 1) == inputs_key("a", 1) != inputs_key("a", 2)
    True
    """
    text = json.dumps([CUBE_LAYOUT, *parts], default=str, sort_keys=True)
    return hashlib.sha256(text.encode()).hexdigest()[:32]


def record_source(snapshot: Path, source: Mapping[str, object] | None) -> None:
    """Write ``SOURCE_FILE`` beside the published ``snapshot``: what it was built from
    (JSON-able: file stamps, input keys), tied to the snapshot file's own stamp. ``None``
    removes it (the source is not known)."""
    target = snapshot.with_name(SOURCE_FILE)
    if source is None:
        with contextlib.suppress(FileNotFoundError):
            target.unlink()
        return
    tmp = target.with_name(f".{SOURCE_FILE}.{os.getpid()}")
    tmp.write_text(json.dumps({"snapshot": file_stamp(snapshot), "source": source}))
    os.replace(tmp, target)


def recorded_source(snapshot: Path) -> dict[str, Any] | None:
    """What ``record_source`` wrote for the published ``snapshot``, with its values as JSON
    reads them (lists for tuples); None when there is none or it was written for another
    file (the snapshot was replaced since)."""
    current = file_stamp(snapshot)
    if current is None:
        return None
    try:
        record = json.loads(snapshot.with_name(SOURCE_FILE).read_text())
    except (OSError, ValueError):
        return None
    if not isinstance(record, dict) or record.get("snapshot") != list(current):
        return None
    source = record.get("source")
    return source if isinstance(source, dict) else None


def as_json(value: object) -> Any:
    """``value`` as ``recorded_source`` gives it back (tuples become lists)."""
    return json.loads(json.dumps(value))
