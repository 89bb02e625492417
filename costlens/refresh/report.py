"""What one refresh did: ``RefreshReport``, for a snapshot built or one kept as it was.

A kept snapshot's report is read either from its own tables (``kept_report``) or, when nothing
changed at all, from the report recorded with its source (``recorded_report``).
"""

from __future__ import annotations

import datetime as dt
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import duckdb

from costlens.sql import quote

__all__ = ["RefreshReport", "kept_report", "recorded_report"]


@dataclass(frozen=True)
class RefreshReport:
    """What one refresh built (also the ``--json`` summary)."""

    path: Path
    built_at: dt.datetime
    first_date: dt.date | None
    last_date: dt.date | None
    allocation_rows: int
    rollup_rows: int
    deliveries: int
    rule_set_version: str
    anomaly_series: int
    anomalies: int
    """Anomaly events found (on every scanned dimension)."""
    open_anomalies: int
    """Open incidents (events grouped, see ``costlens.anomalies.incidents``), not marked."""
    budgets: int
    seconds: float
    rebuilt_periods: int = 0
    """Billing periods aggregated from ``allocations``."""
    reused_periods: int = 0
    """Billing periods whose cube rows were copied from the previous snapshot."""
    unchanged: bool = False
    """Nothing changed since the published snapshot was built: it was kept as it is (the
    other fields describe it; ``built_at`` is when it was built)."""
    step_seconds: dict[str, float] = field(default_factory=dict)
    """Seconds of each part of a build: ``prepare`` (deciding what to keep, copying the
    published file), each step of ``STEPS`` by name (and a part of one as ``step.part``:
    ``anomalies.root_causes``), ``publish`` (``snapshot_info``, writing the file out and
    replacing the published one). Empty when the snapshot was kept."""

    def as_dict(self) -> dict[str, Any]:
        """A JSON-friendly dict."""
        return {
            k: (str(v) if isinstance(v, Path | dt.date) else v) for k, v in asdict(self).items()
        }


_KEPT_REPORT_SQL = """
SELECT i.built_at, i.first_date, i.last_date, i.allocation_rows, i.deliveries,
       i.rule_set_version, i.anomaly_series,
       (SELECT count(*) FROM {s}.daily),
       (SELECT count(*) FROM {s}.anomalies),
       (SELECT count(*) FROM {s}.anomalies WHERE incident_id = anomaly_id AND feedback IS NULL),
       (SELECT count(*) FROM {s}.budgets),
       (SELECT count(*) FROM {s}.snapshot_periods)
FROM {s}.snapshot_info i
"""


def kept_report(
    con: duckdb.DuckDBPyConnection, schema: str, path: Path, started: float
) -> RefreshReport:
    """The report of a refresh that kept the published snapshot (attached as ``schema``)."""
    row = con.execute(_KEPT_REPORT_SQL.format(s=quote(schema))).fetchall()[0]
    return RefreshReport(
        path=path,
        built_at=row[0],
        first_date=row[1],
        last_date=row[2],
        allocation_rows=int(row[3]),
        rollup_rows=int(row[7]),
        deliveries=int(row[4]),
        rule_set_version=str(row[5]),
        anomaly_series=int(row[6]),
        anomalies=int(row[8]),
        open_anomalies=int(row[9]),
        budgets=int(row[10]),
        seconds=round(time.perf_counter() - started, 3),
        rebuilt_periods=0,
        reused_periods=int(row[11]),
        unchanged=True,
    )


def recorded_report(recorded: dict[str, Any], path: Path, started: float) -> RefreshReport | None:
    """The report of a refresh that kept the published snapshot, from the one recorded with
    its source (``RefreshReport.as_dict``); None when there is none or it cannot be read."""
    try:
        fields = dict(recorded["report"])
        for name in ("first_date", "last_date"):
            value = fields[name]
            fields[name] = None if value is None else dt.date.fromisoformat(value)
        periods = int(fields["rebuilt_periods"]) + int(fields["reused_periods"])
        return RefreshReport(
            **{
                **fields,
                "path": path,
                "built_at": dt.datetime.fromisoformat(fields["built_at"]),
                "seconds": round(time.perf_counter() - started, 3),
                "rebuilt_periods": 0,
                "reused_periods": periods,
                "unchanged": True,
                "step_seconds": {},
            }
        )
    except (KeyError, TypeError, ValueError):
        return None
