"""``costlens refresh``: build the next serving snapshot from ``allocations`` and publish it.

One pass, on the warehouse connection (the writer holds the lock): a new DuckDB file is attached
beside the warehouse; the rollups, the anomaly scan, the forecasts and budget status and the
allocation health are written into it together with ``snapshot_info`` (build time, deliveries
covered, rule-set version); then it is detached and published by ``os.replace``. A failure at any
step discards the new file and leaves the previous snapshot in service.

The refresh is incremental: when some billing period's fingerprint (current deliveries, rule-set
version, rows; see ``costlens.refresh.fingerprints``) and ledger totals are unchanged, the new file
starts as a byte copy of the published one (so its cube rows are not rewritten), every derived
table but ``daily`` and ``rollup_daily`` is dropped, the rows of the other periods are deleted and
aggregated again from ``allocations``; the previous snapshot is also attached read-only for the
anomaly scan's caches. ``full=True`` rebuilds everything.

This module holds the orchestration (``refresh``) and ``rule_set_version``; the steps live beside
it: ``costlens.refresh.reuse`` (whether the published snapshot or some of its periods can be
kept), ``costlens.refresh.context`` (the snapshot's fixed tables and small SQL),
``costlens.refresh.forecasts`` (forecasts and budgets) and ``costlens.refresh.report``
(``RefreshReport``, re-exported here with ``SNAPSHOT`` and ``PREVIOUS``).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import shutil
import time
from typing import Any

import duckdb

from costlens.anomalies.carried_marks import carry_marks, published_events
from costlens.anomalies.scan import scan_anomalies
from costlens.config import Settings
from costlens.progress import NullProgress, Progress
from costlens.refresh.context import (
    COVERAGE_SQL,
    DELIVERIES_SQL,
    INFO_SQL,
    NO_DELIVERIES_SQL,
    PREVIOUS,
    SHARE_SQL,
    SNAPSHOT,
    TABLES_SQL,
    UNTAGGED_SQL,
    attach,
    drop_derived,
    insert_frame,
    last_period,
    record_periods,
)
from costlens.refresh.fingerprints import (
    PeriodState,
    current_periods,
    inputs_key,
    recorded_source,
)
from costlens.refresh.forecasts import write_forecasts_and_budgets
from costlens.refresh.report import RefreshReport, kept_report, recorded_report
from costlens.refresh.reuse import (
    anomaly_marks,
    attach_reusable,
    is_unchanged,
    marks_key,
    record_refresh_source,
    snapshot_source,
    still_current,
)
from costlens.refresh.rollups import build_rollups, extra_dimensions
from costlens.schema import COST_TYPES, cost_column
from costlens.serving import (
    SERVING_FILE,
    SERVING_LAYOUT,
    build_target,
    discard,
    publish,
)
from costlens.sql import fetch_one, has_column, has_table, quote, sorted_rows
from costlens.warehouse import Warehouse

__all__ = ["PREVIOUS", "SNAPSHOT", "RefreshReport", "refresh", "rule_set_version"]


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
    if has_column(con, "allocations", "rule_version"):
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
    source = snapshot_source(warehouse, settings, anomaly_cost_type, detector_options)
    published = settings.data_dir / SERVING_FILE
    recorded = None if full else recorded_source(published)
    unchanged, marks = is_unchanged(source, recorded, settings)
    if unchanged and recorded is not None:
        kept = recorded_report(recorded, published, started)
        if kept is not None:
            return kept
    marks = anomaly_marks(settings) if marks is None else marks
    source["marks"] = marks_key(marks)
    inputs = inputs_key(source["inputs"], source["marks"])
    extra = extra_dimensions(con)
    periods = current_periods(con, extra)
    version = rule_set_version(con, settings, periods)
    reused: set[dt.date] = set()
    if not full:
        reused, previous = attach_reusable(con, settings, extra, periods)
        if reused and still_current(con, previous, periods, reused, version, inputs):
            try:
                kept = kept_report(con, PREVIOUS, published, started)
            finally:
                con.execute(f"DETACH {quote(PREVIOUS)}")
            record_refresh_source(warehouse, published, source, kept)
            return kept
    tmp = build_target(settings.data_dir)
    try:
        with progress.task("Refresh", total=5) as task:
            try:
                if reused:  # start from the published file: its kept rows need no rewrite
                    shutil.copyfile(settings.data_dir / SERVING_FILE, tmp)
                attach(con, tmp)
            except BaseException:
                if reused:
                    con.execute(f"DETACH {quote(PREVIOUS)}")
                raise
            try:
                try:
                    # The last period's unallocated resources are unchanged when it is kept.
                    untagged_kept = bool(reused) and last_period(periods) in reused
                    if reused:
                        drop_derived(con, {"untagged_resources"} if untagged_kept else ())
                    rollup_rows = build_rollups(con, SNAPSHOT, extra, kept_periods=reused)
                    task.advance()
                    con.execute(TABLES_SQL)
                    record_periods(con, periods, reused)
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
                # A mark follows its event when a restatement moved its first day (new id); an
                # event grouped into an incident shares the incident's mark.
                marked_as = carry_marks(scan.events, published_events(published), marks)
                own = marked_as.map(marks)
                by_event = dict(zip(scan.events["anomaly_id"], own, strict=True))
                shared = scan.events["incident_id"].map(by_event)
                events = scan.events.assign(
                    feedback=own.where(own.notna(), shared),
                    marked_as=marked_as.where(marked_as != scan.events["anomaly_id"]),
                )
                insert_frame(
                    con,
                    "anomalies",
                    sorted_rows(events, lambda r: (-abs(r["impact_cost"]), r["anomaly_id"])),
                )
                insert_frame(
                    con,
                    "anomaly_root_causes",
                    sorted_rows(scan.root_causes, lambda r: (r["anomaly_id"], r["rank"])),
                )
                if scan.series_cache is not None:
                    insert_frame(con, "anomaly_series", scan.series_cache)
                if scan.cause_keys is not None:
                    insert_frame(con, "anomaly_cause_keys", scan.cause_keys)
                if scan.days is not None:
                    insert_frame(
                        con,
                        "anomaly_days",
                        sorted_rows(scan.days, lambda r: (r["anomaly_id"], r["usage_date"])),
                    )
                task.advance()
                budgets = write_forecasts_and_budgets(con, settings, anomaly_cost_type)
                task.advance()
                has_deliveries = has_table(con, "deliveries")
                con.execute(DELIVERIES_SQL if has_deliveries else NO_DELIVERIES_SQL)
                if not untagged_kept:
                    con.execute(UNTAGGED_SQL)
                con.execute(
                    COVERAGE_SQL.format(
                        shares=", ".join(
                            SHARE_SQL.format(c=quote(cost_column(t)), share=quote(f"{t}_share"))
                            for t in COST_TYPES
                        )
                    )
                )
                task.advance()
                row = fetch_one(con, "SELECT count(*) FROM snapshot.snapshot_deliveries")
                deliveries = int(row[0]) if row else 0
                built_at = dt.datetime.now(dt.UTC).replace(tzinfo=None, microsecond=0)
                con.execute(
                    INFO_SQL,
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
    record_refresh_source(warehouse, path, source, report)
    return report
