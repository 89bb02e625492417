"""Whether the next refresh can keep the published snapshot, whole or by billing period.

Nothing changed (``is_unchanged``): the published snapshot's recorded source (see
``costlens.refresh.fingerprints``: file stamps of the warehouse and the SQLite state database,
keys of the rules, owners, options and anomaly marks) equals ``snapshot_source`` now, so the refresh
returns the recorded report without reading ``allocations``; ``record_refresh_source`` writes
that record after each refresh.

Some periods unchanged (``attach_reusable``): the published snapshot is attached as ``PREVIOUS``
and its periods whose fingerprints and ledger totals still match are re-used; when that is every
period and the ledger, rule-set version and inputs are the same too (``still_current``), the
snapshot is kept as it is.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from decimal import Decimal
from pathlib import Path
from typing import Any

import duckdb

from costlens.config import Settings
from costlens.refresh.context import PREVIOUS, attach
from costlens.refresh.fingerprints import (
    PeriodState,
    as_json,
    inputs_key,
    record_source,
    reusable_periods,
)
from costlens.refresh.report import RefreshReport
from costlens.serving import SERVING_FILE, SERVING_LAYOUT, files_stamp
from costlens.sql import quote
from costlens.warehouse import Warehouse

__all__ = [
    "anomaly_marks",
    "attach_reusable",
    "is_unchanged",
    "marks_key",
    "record_refresh_source",
    "snapshot_source",
    "still_current",
]

_PREVIOUS_PERIODS_SQL = "SELECT billing_period, fingerprint FROM previous_snapshot.snapshot_periods"
_PREVIOUS_INFO_SQL = "SELECT * FROM previous_snapshot.snapshot_info"
_PREVIOUS_TOTALS_SQL = """
SELECT billing_period, SUM(unblended_cost), SUM(amortized_cost), SUM(net_amortized_cost),
       SUM(list_cost)
FROM previous_snapshot.daily GROUP BY billing_period
"""


def attach_reusable(
    con: duckdb.DuckDBPyConnection,
    settings: Settings,
    extra: tuple[str, ...],
    periods: dict[dt.date, PeriodState],
) -> tuple[set[dt.date], dict[str, Any]]:
    """Attach the published snapshot as ``PREVIOUS`` and return the periods it can give and its
    ``snapshot_info``; an empty set (and nothing attached) when there is none or it cannot be
    used."""
    path = settings.data_dir / SERVING_FILE
    info: dict[str, Any] = {}
    if not path.is_file() or not any(s.fingerprint for s in periods.values()):
        return set(), info
    try:
        attach(con, path, PREVIOUS, read_only=True)
    except duckdb.Error:
        return set(), info
    try:
        cursor = con.execute(_PREVIOUS_INFO_SQL)
        names = [str(d[0]) for d in cursor.description or ()]
        info = dict(zip(names, cursor.fetchall()[0], strict=True))
        if tuple(json.loads(info["extra_dimensions"])) != extra:
            raise LookupError("other dimensions")
        fingerprints = dict(con.execute(_PREVIOUS_PERIODS_SQL).fetchall())
        totals = {
            p: tuple(Decimal(v or 0) for v in sums)
            for p, *sums in con.execute(_PREVIOUS_TOTALS_SQL).fetchall()
        }
        keep = reusable_periods(periods, fingerprints, totals)
        if set(fingerprints) != set(periods):
            info["periods_differ"] = True
    except (duckdb.Error, LookupError, ValueError, IndexError):
        keep = set()
    if not keep:
        con.execute(f"DETACH {quote(PREVIOUS)}")
    return keep, info


_LEDGER_NOW_SQL = """
SELECT delivery_id, source, report, format, billing_period, assembly_id, row_count, ingested_at
FROM deliveries WHERE status = 'current' ORDER BY billing_period, delivery_id
"""
_LEDGER_THEN_SQL = """
SELECT delivery_id, source, report, format, billing_period, assembly_id, row_count, ingested_at
FROM previous_snapshot.snapshot_deliveries ORDER BY billing_period, delivery_id
"""


def still_current(
    con: duckdb.DuckDBPyConnection,
    previous: dict[str, Any],
    periods: dict[dt.date, PeriodState],
    reused: set[dt.date],
    version: str,
    inputs: str,
) -> bool:
    """Whether the attached previous snapshot is exactly what a rebuild would give: every
    period re-usable and no other, the same ledger, rule-set version and other inputs."""
    if not reused or reused != set(periods) or previous.get("periods_differ"):
        return False
    if previous.get("layout") != SERVING_LAYOUT or previous.get("inputs") != inputs:
        return False
    if previous.get("rule_set_version") != version:
        return False
    return bool(con.execute(_LEDGER_NOW_SQL).fetchall() == con.execute(_LEDGER_THEN_SQL).fetchall())


def snapshot_source(
    warehouse: Warehouse, settings: Settings, cost_type: str, options: dict[str, Any] | None
) -> dict[str, Any]:
    """What a snapshot is built from, but the anomaly marks (JSON-able): the warehouse files'
    and the SQLite state database's stamps, a key of the rules, owners, business metrics and
    options."""
    url = settings.state_database_url
    state = (
        files_stamp(Path(url.removeprefix("sqlite:///")), "-wal", "-journal")
        if url.startswith("sqlite:///")
        else None
    )
    rules, owners = _file_digest(settings.rules), _file_digest(settings.owners)
    metrics = None if settings.business_metrics is None else _file_digest(settings.business_metrics)
    key: tuple[Any, ...] = (SERVING_LAYOUT, rules, owners, cost_type, options or {})
    if settings.anomalies.hourly_window is not None:  # joins the key only when configured
        key = (*key, {"hourly_days": settings.anomalies.hourly_window})
    source: dict[str, Any] = as_json(
        {
            "warehouse": files_stamp(warehouse.path, ".wal"),
            "state": state,
            # the metrics file joins the key only when configured: snapshots without it stay valid
            "inputs": inputs_key(*key) if metrics is None else inputs_key(*key, metrics),
        }
    )
    return source


def is_unchanged(
    source: dict[str, Any], known: dict[str, Any] | None, settings: Settings
) -> tuple[bool, dict[str, str] | None]:
    """Whether the published snapshot (built from ``known``) is still current, and the marks if
    they had to be read to tell (an unchanged SQLite state file spares that)."""
    if (
        known is None
        or source["warehouse"][0] is None
        or known.get("warehouse") != source["warehouse"]
        or known.get("inputs") != source["inputs"]
    ):
        return False, None
    state = source["state"]
    if state is not None and state[0] is not None and known.get("state") == state:
        return True, None
    marks = anomaly_marks(settings)
    return known.get("marks") == marks_key(marks), marks


def marks_key(marks: dict[str, str]) -> str:
    """A key of the anomaly marks (as recorded in the source)."""
    return inputs_key(sorted(marks.items()))


def record_refresh_source(
    warehouse: Warehouse, published: Path, source: dict[str, Any], report: RefreshReport
) -> None:
    """Record what ``published`` was built from (and its report), when the warehouse did not
    change meanwhile."""
    same = as_json(files_stamp(warehouse.path, ".wal")) == source["warehouse"]
    known = same and source["warehouse"][0] is not None
    record_source(published, {**source, "report": report.as_dict()} if known else None)


def anomaly_marks(settings: Settings) -> dict[str, str]:
    """``{anomaly_id: verdict}`` of every marked anomaly ({} before the state database exists)."""
    url = settings.state_database_url
    if url.startswith("sqlite:///") and not Path(url.removeprefix("sqlite:///")).exists():
        return {}  # no state database yet: nothing marked (and no SQLAlchemy import)
    from costlens.anomalies.feedback import marked_anomalies

    return marked_anomalies(settings.state_database_url)


def _file_digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest() if path.is_file() else "-"
