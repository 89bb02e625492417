"""``costlens refresh``: build the next serving snapshot from ``allocations`` and publish it.

One pass, on the warehouse connection (the writer holds the lock): a new DuckDB file is attached
beside the warehouse; the rollups, the anomaly scan, the forecasts and budget status and the
allocation health are written into it together with ``snapshot_info`` (build time, deliveries
covered, rule-set version); then it is detached and published by ``os.replace``. A failure at any
step discards the new file and leaves the previous snapshot in service.

The refresh is incremental: when some billing period's fingerprint (current deliveries, rule-set
version, rows; see ``costlens.snapshot_periods``) and ledger totals are unchanged, the new file
starts as a byte copy of the published one (so its cube rows are not rewritten), every derived
table but ``daily`` and ``rollup_daily`` is dropped, the rows of the other periods are deleted and
aggregated again from ``allocations``; the previous snapshot is also attached read-only for the
anomaly scan's caches. ``full=True`` rebuilds everything.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import shutil
import time
from collections.abc import Callable, Collection
from dataclasses import asdict, dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

import duckdb
import numpy as np
import pandas as pd

from costlens.anomalies.scan import scan_anomalies
from costlens.config import Settings
from costlens.progress import NullProgress, Progress
from costlens.rollups import COST_TYPES, build_rollups, cost_column, extra_dimensions, quote
from costlens.serving import (
    SERVING_FILE,
    SERVING_LAYOUT,
    build_target,
    discard,
    fetch_one,
    publish,
)
from costlens.snapshot_periods import (
    PeriodState,
    as_json,
    current_periods,
    files_stamp,
    inputs_key,
    record_source,
    recorded_source,
    reusable_periods,
)
from costlens.warehouse import Warehouse

__all__ = ["PREVIOUS", "SNAPSHOT", "RefreshReport", "refresh", "rule_set_version"]

SNAPSHOT = "snapshot"
"""Name under which the snapshot being built is attached to the warehouse connection."""
PREVIOUS = "previous_snapshot"
"""Name under which the published snapshot is attached (read-only) while the next is built."""

_TABLES_SQL = """
CREATE TABLE snapshot.anomalies (
  anomaly_id VARCHAR PRIMARY KEY, dimension VARCHAR, value VARCHAR, owner VARCHAR,
  start_date DATE, end_date DATE, last_seen DATE, ongoing BOOLEAN, direction VARCHAR,
  actual_cost DECIMAL(38,10), expected_cost DECIMAL(18,2), impact_cost DECIMAL(38,10),
  impact_percent DOUBLE, max_score DOUBLE, days INTEGER, top_driver VARCHAR, cost_type VARCHAR,
  incident_id VARCHAR, also_seen VARCHAR, feedback VARCHAR
);
CREATE TABLE snapshot.anomaly_root_causes (
  anomaly_id VARCHAR, rank INTEGER, dimension VARCHAR, value VARCHAR,
  baseline_cost DECIMAL(38,10), event_cost DECIMAL(38,10), delta_cost DECIMAL(38,10),
  share DOUBLE
);
CREATE TABLE snapshot.anomaly_series (
  dimension VARCHAR, value VARCHAR, series_hash VARCHAR, events VARCHAR, state VARCHAR
);
CREATE TABLE snapshot.anomaly_cause_keys (anomaly_id VARCHAR, cause_key VARCHAR);
CREATE TABLE snapshot.anomaly_days (
  anomaly_id VARCHAR, usage_date DATE, actual_cost DECIMAL(38,10), expected_cost DECIMAL(18,2),
  anomalous BOOLEAN
);
CREATE TABLE snapshot.forecasts (
  billing_period DATE, owner VARCHAR, month_to_date DECIMAL(38,10),
  projected DECIMAL(18,2), lower DECIMAL(18,2), upper DECIMAL(18,2)
);
CREATE TABLE snapshot.budgets (
  owner VARCHAR, display_name VARCHAR, budget DECIMAL(18,2), month_to_date DECIMAL(38,10),
  projected DECIMAL(18,2), lower DECIMAL(18,2), upper DECIMAL(18,2), status VARCHAR
);
CREATE TABLE snapshot.snapshot_periods (
  billing_period DATE, fingerprint VARCHAR, allocation_rows BIGINT, rule_versions VARCHAR,
  deliveries INTEGER, rebuilt BOOLEAN
);
CREATE TABLE snapshot.snapshot_info (
  built_at TIMESTAMP, first_date DATE, last_date DATE, deliveries INTEGER,
  rule_set_version VARCHAR, allocation_rows BIGINT, extra_dimensions VARCHAR,
  anomaly_cost_type VARCHAR, anomaly_series INTEGER, seconds DOUBLE, layout VARCHAR,
  inputs VARCHAR, days_in_one_period BOOLEAN
);
"""

_DELIVERIES_SQL = """
CREATE TABLE snapshot.snapshot_deliveries AS
SELECT delivery_id, source, report, format, billing_period, assembly_id, row_count, ingested_at
FROM deliveries WHERE status = 'current' ORDER BY billing_period, delivery_id
"""

_NO_DELIVERIES_SQL = """
CREATE TABLE snapshot.snapshot_deliveries (
  delivery_id VARCHAR, source VARCHAR, report VARCHAR, format VARCHAR, billing_period DATE,
  assembly_id VARCHAR, row_count BIGINT, ingested_at TIMESTAMP
)
"""

_UNTAGGED_SQL = """
CREATE TABLE snapshot.untagged_resources AS
SELECT resource_id, service_code, account_id, region,
       CAST(SUM(unblended_cost) AS DECIMAL(38,10)) AS unblended_cost
FROM allocations
WHERE owner = 'unallocated' AND resource_id <> ''
  AND billing_period = (SELECT max(billing_period) FROM snapshot.daily)
GROUP BY ALL ORDER BY unblended_cost DESC, resource_id LIMIT 200
"""

_COVERAGE_SQL = """
CREATE TABLE snapshot.allocation_coverage AS
WITH coverage AS (
  SELECT billing_period,
         CASE WHEN owner = 'unallocated' THEN 'unallocated' ELSE allocation END AS allocation,
         CAST(SUM(unblended_cost) AS DECIMAL(38,10)) AS unblended_cost,
         CAST(SUM(amortized_cost) AS DECIMAL(38,10)) AS amortized_cost,
         CAST(SUM(net_amortized_cost) AS DECIMAL(38,10)) AS net_amortized_cost
  FROM snapshot.daily GROUP BY ALL
)
SELECT *, {shares} FROM coverage ORDER BY billing_period, unblended_cost DESC, allocation
"""
_SHARE = "CAST({c} / NULLIF(SUM({c}) OVER (PARTITION BY billing_period), 0) AS DOUBLE) AS {share}"
"""A cost type's share of its billing period (what ``queries.allocation_health`` returns)."""

_INFO_SQL = """
INSERT INTO snapshot.snapshot_info
SELECT $built_at, min(usage_date), max(usage_date), $deliveries, $rule_set_version,
       COALESCE(SUM(line_items), 0), $extra, $cost_type, $series, $seconds, $layout,
       $inputs, (SELECT count(*) = 0 FROM (
         SELECT usage_date FROM snapshot.rollup_daily WHERE dimension = 'owner'
         GROUP BY usage_date HAVING count(DISTINCT billing_period) > 1))
FROM snapshot.daily
"""


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

    def as_dict(self) -> dict[str, Any]:
        """A JSON-friendly dict."""
        return {
            k: (str(v) if isinstance(v, Path | dt.date) else v) for k, v in asdict(self).items()
        }


def rule_set_version(
    con: duckdb.DuckDBPyConnection,
    settings: Settings,
    periods: dict[dt.date, PeriodState] | None = None,
) -> str:
    """The rule-set version(s) recorded on ``allocations`` (``rule_version``), else a short hash
    of the rules and owners files. ``periods`` (from ``current_periods``) saves a scan."""
    if periods is not None:
        versions = sorted({v for state in periods.values() for v in state.rule_versions})
        if versions:
            return ",".join(versions)
        return _files_version(settings)
    has_column = fetch_one(
        con,
        "SELECT count(*) FROM information_schema.columns WHERE table_catalog = current_database()"
        " AND table_name = 'allocations' AND column_name = 'rule_version'",
    )
    if has_column and has_column[0]:
        row = fetch_one(
            con,
            "SELECT string_agg(DISTINCT rule_version, ',' ORDER BY rule_version) FROM allocations",
        )
        if row and row[0]:
            return str(row[0])
    return _files_version(settings)


def _files_version(settings: Settings) -> str:
    digest = hashlib.sha256()
    for path in (settings.rules, settings.owners):
        digest.update(path.read_bytes() if path.is_file() else b"-")
    return digest.hexdigest()[:12]


def _attach(
    con: duckdb.DuckDBPyConnection, path: Path, name: str = SNAPSHOT, read_only: bool = False
) -> None:
    mode = " (READ_ONLY)" if read_only else ""
    con.execute(f"ATTACH $path AS {quote(name)}{mode}", {"path": str(path)})


_PREVIOUS_PERIODS_SQL = "SELECT billing_period, fingerprint FROM previous_snapshot.snapshot_periods"
_PREVIOUS_INFO_SQL = "SELECT * FROM previous_snapshot.snapshot_info"
_PREVIOUS_TOTALS_SQL = """
SELECT billing_period, SUM(unblended_cost), SUM(amortized_cost), SUM(net_amortized_cost),
       SUM(list_cost)
FROM previous_snapshot.daily GROUP BY billing_period
"""


def _reusable(
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
        _attach(con, path, PREVIOUS, read_only=True)
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


def _still_current(
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


def _kept_report(
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


def _recorded_report(recorded: dict[str, Any], path: Path, started: float) -> RefreshReport | None:
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
            }
        )
    except (KeyError, TypeError, ValueError):
        return None


def _source(
    warehouse: Warehouse, settings: Settings, cost_type: str, options: dict[str, Any] | None
) -> dict[str, Any]:
    """What a snapshot is built from, but the anomaly marks (JSON-able): the warehouse files'
    and the SQLite state database's stamps, a key of the rules, owners and options."""
    url = settings.state_database_url
    state = (
        files_stamp(Path(url.removeprefix("sqlite:///")), "-wal", "-journal")
        if url.startswith("sqlite:///")
        else None
    )
    rules, owners = _file_digest(settings.rules), _file_digest(settings.owners)
    source: dict[str, Any] = as_json(
        {
            "warehouse": files_stamp(warehouse.path, ".wal"),
            "state": state,
            "inputs": inputs_key(SERVING_LAYOUT, rules, owners, cost_type, options or {}),
        }
    )
    return source


def _unchanged(
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
    marks = _marks(settings)
    return known.get("marks") == _marks_key(marks), marks


def _marks_key(marks: dict[str, str]) -> str:
    return inputs_key(sorted(marks.items()))


def _record_source(
    warehouse: Warehouse, published: Path, source: dict[str, Any], report: RefreshReport
) -> None:
    """Record what ``published`` was built from (and its report), when the warehouse did not
    change meanwhile."""
    same = as_json(files_stamp(warehouse.path, ".wal")) == source["warehouse"]
    known = same and source["warehouse"][0] is not None
    record_source(published, {**source, "report": report.as_dict()} if known else None)


def _file_digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest() if path.is_file() else "-"


_SNAPSHOT_TABLES_SQL = """
SELECT table_name FROM duckdb_tables() WHERE database_name = $name ORDER BY table_name
"""
_KEPT_TABLES = frozenset({"daily", "rollup_daily", "forecast_series"})
"""Tables of the copied previous snapshot that the refresh updates instead of rebuilding."""


def _drop_derived(con: duckdb.DuckDBPyConnection, also_keep: Collection[str] = ()) -> None:
    """In a copy of the previous snapshot, drop every table but ``_KEPT_TABLES`` (and
    ``also_keep``: tables still right as they are)."""
    for (table,) in con.execute(_SNAPSHOT_TABLES_SQL, {"name": SNAPSHOT}).fetchall():
        if table not in _KEPT_TABLES and table not in also_keep:
            con.execute(f"DROP TABLE {quote(SNAPSHOT)}.{quote(str(table))}")


def _last_period(periods: dict[dt.date, PeriodState]) -> dt.date | None:
    known = [p for p in periods if p is not None]
    return max(known) if known else None


def _record_periods(
    con: duckdb.DuckDBPyConnection, periods: dict[dt.date, PeriodState], reused: set[dt.date]
) -> None:
    rows = [
        (p, s.fingerprint, s.rows, ",".join(s.rule_versions), len(s.deliveries), p not in reused)
        for p, s in sorted(periods.items(), key=lambda item: (item[0] is None, item[0]))
    ]
    con.executemany("INSERT INTO snapshot.snapshot_periods VALUES (?, ?, ?, ?, ?, ?)", rows)


def _has_table(con: duckdb.DuckDBPyConnection, name: str) -> bool:
    row = fetch_one(
        con,
        "SELECT count(*) FROM information_schema.tables "
        "WHERE table_catalog = current_database() AND table_name = $name",
        {"name": name},
    )
    return bool(row and row[0])


def _sorted(frame: pd.DataFrame, key: Callable[[dict[Any, Any]], Any]) -> pd.DataFrame:
    """``frame``'s rows in the order of ``key`` over each row (exact Decimal comparisons)."""
    rows = frame.to_dict("records")
    order = sorted(range(len(rows)), key=lambda i: key(rows[i]))
    return frame.iloc[order]


def _insert(con: duckdb.DuckDBPyConnection, table: str, frame: pd.DataFrame) -> None:
    """Append ``frame`` to the snapshot's ``table`` in the frame's row order."""
    if frame.empty:
        return
    con.register("_incoming", frame)
    try:
        cols = ", ".join(quote(c) for c in frame.columns)
        con.execute(
            f"INSERT INTO {quote(SNAPSHOT)}.{quote(table)} ({cols}) "  # noqa: S608
            f"SELECT {cols} FROM _incoming"
        )
    finally:
        con.unregister("_incoming")


def _marks(settings: Settings) -> dict[str, str]:
    url = settings.state_database_url
    if url.startswith("sqlite:///") and not Path(url.removeprefix("sqlite:///")).exists():
        return {}  # no state database yet: nothing marked (and no SQLAlchemy import)
    from costlens.anomalies.feedback import marked_anomalies

    return marked_anomalies(settings.state_database_url)


def refresh(
    warehouse: Warehouse,
    settings: Settings,
    *,
    progress: Progress | None = None,
    anomaly_cost_type: str = "amortized",
    detector_options: dict[str, Any] | None = None,
    full: bool = False,
) -> RefreshReport:
    """Build a new ``serving.duckdb`` from the warehouse's ``allocations`` and publish it.

    ``warehouse`` is open for writing (its lock keeps a second refresh out). Anomalies and
    forecasts use ``anomaly_cost_type``; forecasts project the month of the last usage date.
    Unchanged billing periods are copied from the previous snapshot unless ``full``.
    """
    progress = progress or NullProgress()
    started = time.perf_counter()
    con = warehouse.con
    con.execute("SET enable_progress_bar = false")  # never write to a script's stdout
    # The small tables are written in the order queries read them (SERVING_LAYOUT).
    con.execute("SET preserve_insertion_order = true")
    cost_column(anomaly_cost_type)
    source = _source(warehouse, settings, anomaly_cost_type, detector_options)
    published = settings.data_dir / SERVING_FILE
    recorded = None if full else recorded_source(published)
    unchanged, marks = _unchanged(source, recorded, settings)
    if unchanged and recorded is not None:
        kept = _recorded_report(recorded, published, started)
        if kept is not None:
            return kept
    marks = _marks(settings) if marks is None else marks
    source["marks"] = _marks_key(marks)
    inputs = inputs_key(source["inputs"], source["marks"])
    extra = extra_dimensions(con)
    periods = current_periods(con, extra)
    version = rule_set_version(con, settings, periods)
    reused: set[dt.date] = set()
    if not full:
        reused, previous = _reusable(con, settings, extra, periods)
        if reused and _still_current(con, previous, periods, reused, version, inputs):
            try:
                kept = _kept_report(con, PREVIOUS, published, started)
            finally:
                con.execute(f"DETACH {quote(PREVIOUS)}")
            _record_source(warehouse, published, source, kept)
            return kept
    tmp = build_target(settings.data_dir)
    try:
        with progress.task("Refresh", total=5) as task:
            try:
                if reused:  # start from the published file: its kept rows need no rewrite
                    shutil.copyfile(settings.data_dir / SERVING_FILE, tmp)
                _attach(con, tmp)
            except BaseException:
                if reused:
                    con.execute(f"DETACH {quote(PREVIOUS)}")
                raise
            try:
                try:
                    # The last period's unallocated resources are unchanged when it is kept.
                    untagged_kept = bool(reused) and _last_period(periods) in reused
                    if reused:
                        _drop_derived(con, {"untagged_resources"} if untagged_kept else ())
                    rollup_rows = build_rollups(con, SNAPSHOT, extra, kept_periods=reused)
                    task.advance()
                    con.execute(_TABLES_SQL)
                    _record_periods(con, periods, reused)
                    scan = scan_anomalies(
                        con,
                        SNAPSHOT,
                        cost_type=anomaly_cost_type,
                        options=detector_options,
                        previous=PREVIOUS if reused else None,
                        stable_periods=reused,
                    )
                finally:
                    if reused:
                        con.execute(f"DETACH {quote(PREVIOUS)}")
                # An event grouped into an incident shares the incident's mark.
                own, shared = (scan.events[c].map(marks) for c in ("anomaly_id", "incident_id"))
                events = scan.events.assign(feedback=own.where(own.notna(), shared))
                _insert(
                    con,
                    "anomalies",
                    _sorted(events, lambda r: (-abs(r["impact_cost"]), r["anomaly_id"])),
                )
                _insert(
                    con,
                    "anomaly_root_causes",
                    _sorted(scan.root_causes, lambda r: (r["anomaly_id"], r["rank"])),
                )
                if scan.series_cache is not None:
                    _insert(con, "anomaly_series", scan.series_cache)
                if scan.cause_keys is not None:
                    _insert(con, "anomaly_cause_keys", scan.cause_keys)
                if scan.days is not None:
                    _insert(
                        con,
                        "anomaly_days",
                        _sorted(scan.days, lambda r: (r["anomaly_id"], r["usage_date"])),
                    )
                task.advance()
                budgets = _plan(con, settings, anomaly_cost_type)
                task.advance()
                has_deliveries = _has_table(con, "deliveries")
                con.execute(_DELIVERIES_SQL if has_deliveries else _NO_DELIVERIES_SQL)
                if not untagged_kept:
                    con.execute(_UNTAGGED_SQL)
                con.execute(
                    _COVERAGE_SQL.format(
                        shares=", ".join(
                            _SHARE.format(c=quote(cost_column(t)), share=quote(f"{t}_share"))
                            for t in COST_TYPES
                        )
                    )
                )
                task.advance()
                row = fetch_one(con, "SELECT count(*) FROM snapshot.snapshot_deliveries")
                deliveries = int(row[0]) if row else 0
                built_at = dt.datetime.now(dt.UTC).replace(tzinfo=None, microsecond=0)
                con.execute(
                    _INFO_SQL,
                    {
                        "built_at": built_at,
                        "deliveries": deliveries,
                        "rule_set_version": version,
                        "extra": json.dumps(list(extra)),
                        "cost_type": anomaly_cost_type,
                        "series": scan.series_scanned,
                        "seconds": round(time.perf_counter() - started, 3),
                        "layout": SERVING_LAYOUT,
                        "inputs": inputs,
                    },
                )
                info = fetch_one(
                    con, "SELECT first_date, last_date, allocation_rows FROM snapshot.snapshot_info"
                )
                task.advance()
            finally:
                con.execute(f"DETACH {quote(SNAPSHOT)}")
        path = publish(tmp, settings.data_dir)
    except BaseException:
        discard(tmp)
        raise
    assert info is not None
    incidents = events[events["incident_id"] == events["anomaly_id"]]
    n_open = int(incidents["feedback"].isna().sum()) if not events.empty else 0
    report = RefreshReport(
        path=path,
        built_at=built_at,
        first_date=info[0],
        last_date=info[1],
        allocation_rows=int(info[2]),
        rollup_rows=rollup_rows,
        deliveries=deliveries,
        rule_set_version=version,
        anomaly_series=scan.series_scanned,
        anomalies=len(events),
        open_anomalies=n_open,
        budgets=budgets,
        seconds=round(time.perf_counter() - started, 3),
        rebuilt_periods=len(periods) - len(reused),
        reused_periods=len(reused),
    )
    _record_source(warehouse, path, source, report)
    return report


_OWNER_SERIES_SQL = """
SELECT value AS owner, usage_date, CAST(SUM({cost}) AS DOUBLE) AS cost
FROM snapshot.rollup_daily WHERE dimension = 'owner' GROUP BY ALL ORDER BY usage_date
"""

_MONTH_TO_DATE_SQL = """
SELECT value AS owner, SUM({cost}) FROM snapshot.rollup_daily
WHERE dimension = 'owner' AND usage_date >= $month_start GROUP BY ALL
"""


_FORECAST_INPUTS_SQL = """
CREATE TABLE IF NOT EXISTS snapshot.forecast_series (
  owner VARCHAR, series_hash VARCHAR, projected DOUBLE, lower DOUBLE, upper DOUBLE,
  actual_to_date DOUBLE
)
"""


def _series_key(daily: pd.Series, cost_type: str) -> str:
    digest = hashlib.sha256(cost_type.encode())
    digest.update(daily.index.to_numpy(dtype="datetime64[ns]").view(np.int64).tobytes())
    digest.update(daily.to_numpy(np.float64).tobytes())
    return digest.hexdigest()[:32]


def _forecasts(
    con: duckdb.DuckDBPyConnection, series: dict[str, pd.Series], cost_type: str
) -> dict[str, tuple[float, float, float, float]]:
    """(projected, lower, upper, actual to date) per owner; a series equal to the one the
    previous snapshot forecast (kept in ``forecast_series`` of the copy) re-uses its result."""
    from costlens.forecast import forecast_month_end

    con.execute(_FORECAST_INPUTS_SQL)
    known = {
        str(owner): (str(key), tuple(float(v) for v in values))
        for owner, key, *values in con.execute("SELECT * FROM snapshot.forecast_series").fetchall()
    }
    con.execute("DELETE FROM snapshot.forecast_series")
    out, rows = {}, []
    for owner, daily in series.items():
        key = _series_key(daily, cost_type)
        hit = known.get(owner)
        if hit is not None and hit[0] == key:
            out[owner] = (hit[1][0], hit[1][1], hit[1][2], hit[1][3])
        else:
            f = forecast_month_end(daily)
            out[owner] = (f.projected, f.lower, f.upper, f.actual_to_date)
        rows.append((owner, key, *out[owner]))
    con.executemany("INSERT INTO snapshot.forecast_series VALUES (?, ?, ?, ?, ?, ?)", rows)
    return out


def _plan(con: duckdb.DuckDBPyConnection, settings: Settings, cost_type: str) -> int:
    """Month-end forecasts per owner and in total (``'*'``), and budget status from
    ``owners.yaml``; returns the number of budgets written."""
    from costlens.forecast import budget_status

    cost = quote(cost_column(cost_type))
    frame = con.execute(_OWNER_SERIES_SQL.format(cost=cost)).df()
    if frame.empty:
        return 0
    frame["usage_date"] = pd.to_datetime(frame["usage_date"])
    days = pd.date_range(frame["usage_date"].min(), frame["usage_date"].max(), freq="D")
    month_start = days[-1].date().replace(day=1)
    exact = {
        str(o): Decimal(v or 0)
        for o, v in con.execute(
            _MONTH_TO_DATE_SQL.format(cost=cost), {"month_start": month_start}
        ).fetchall()
    }
    exact["*"] = sum(exact.values(), Decimal(0))
    series = {
        str(owner): part.groupby("usage_date")["cost"].sum().reindex(days, fill_value=0.0)
        for owner, part in frame.groupby("owner")
    }
    series["*"] = frame.groupby("usage_date")["cost"].sum().reindex(days, fill_value=0.0)
    rows = []
    plans = {}
    for owner, (f_projected, f_lower, f_upper, f_actual) in _forecasts(
        con, series, cost_type
    ).items():
        mtd = exact.get(owner, Decimal(0))
        if not np.isfinite([f_projected, f_lower, f_upper, f_actual]).all():
            # No spend to learn a pattern from (an owner gone before this month): nothing more.
            plans[owner] = (mtd, mtd, mtd, mtd)
            rows.append((month_start, owner, *plans[owner]))
            continue
        rest = Decimal(repr(round(f_projected - f_actual, 2)))
        spread = (Decimal(repr(round(f_projected - f_lower, 2))),
                  Decimal(repr(round(f_upper - f_projected, 2))))  # fmt: skip
        projected = mtd + rest
        plans[owner] = (mtd, projected, projected - spread[0], projected + spread[1])
        rows.append((month_start, owner, *plans[owner]))
    rows.sort(key=lambda r: (r[1] != "*", -r[3], r[1]))  # as queries.forecasts orders them
    con.executemany("INSERT INTO snapshot.forecasts VALUES (?, ?, ?, ?, ?, ?)", rows)
    if not settings.owners.is_file():
        return 0
    from costlens.attribution.owners import load_owners

    budgets = []
    for entry in load_owners(settings.owners).owners.values():
        budget = entry.monthly_budget
        if budget is None:
            continue
        mtd, projected, lower, upper = plans.get(entry.id, (Decimal(0),) * 4)
        status = budget_status(
            float(projected), float(min(lower, projected)), float(max(upper, projected)),
            float(budget),
        )  # fmt: skip
        budgets.append((entry.id, entry.display_name, budget, mtd, projected, lower, upper, status))
    budgets.sort(key=lambda b: (b[7] != "over", b[7] != "at risk", b[0]))  # queries.budgets
    con.executemany("INSERT INTO snapshot.budgets VALUES (?, ?, ?, ?, ?, ?, ?, ?)", budgets)
    return len(budgets)
