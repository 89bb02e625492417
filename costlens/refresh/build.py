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

This module holds the orchestration (``refresh``: reuse check, inputs (``inputs``), ``STEPS``,
publish) and ``rule_set_version``. The steps live beside it, each declaring the tables it writes:
``rollups``, ``anomalies``, ``forecasts`` (and budgets), ``scorecards``, ``finance``,
``coverage``; ``reuse`` decides whether the published snapshot or some of its periods can be
kept, ``context`` holds the build context and the attached snapshot's helpers, ``report`` the
``RefreshReport``.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import shutil
import time
from typing import Any

import duckdb

from costlens.config import Settings
from costlens.progress import NullProgress, Progress
from costlens.refresh import anomalies, coverage, finance, forecasts, rollups, scorecards
from costlens.refresh.context import (
    PREVIOUS,
    SNAPSHOT,
    BuildContext,
    Step,
    attach,
    drop_derived,
    record_periods,
)
from costlens.refresh.fingerprints import (
    PeriodState,
    as_json,
    current_periods,
    inputs_key,
    recorded_source,
)
from costlens.refresh.inputs import load_inputs
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
from costlens.refresh.rollups import extra_dimensions
from costlens.schema import cost_column
from costlens.serving import (
    SERVING_FILE,
    SERVING_LAYOUT,
    build_target,
    discard,
    files_stamp,
    publish,
)
from costlens.serving.tables import INFO_SQL, TABLES_SQL
from costlens.sql import fetch_one, has_column, quote
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


STEPS: tuple[Step, ...] = (
    rollups.STEP,
    anomalies.STEP,
    forecasts.STEP,
    scorecards.STEP,
    finance.STEP,
    coverage.STEP,
)
"""The refresh, in order: each step writes its tables into the attached snapshot. A new analytic
is a model module, one step here, its tables in ``costlens.serving.tables`` and its questions in
``costlens.queries``. After the first step, ``TABLES_SQL`` creates the fixed tables; after the
last, ``snapshot_info`` is written (the progress bar counts it as one more)."""


def _still_right(ctx: BuildContext) -> set[str]:
    """Tables of the copied published snapshot that need no rewrite in this refresh."""
    return {"untagged_resources"} if coverage.untagged_kept(ctx) else set()


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
    inputs = inputs_key(source["inputs"], source["marks"], finance.finance_key(con))
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
    ctx = BuildContext(
        con, published, periods, frozenset(reused), tuple(extra),
        load_inputs(settings, anomaly_cost_type, detector_options, marks),
    )  # fmt: skip
    results: dict[str, Any] = {}
    took: dict[str, float] = {}
    tmp = build_target(settings.data_dir)
    try:
        with progress.task("Refresh", total=len(STEPS) + 1) as task:
            try:
                if reused:  # start from the published file: its kept rows need no rewrite
                    shutil.copyfile(settings.data_dir / SERVING_FILE, tmp)
                attach(con, tmp)
                took["prepare"] = time.perf_counter() - started
            except BaseException:
                if reused:
                    con.execute(f"DETACH {quote(PREVIOUS)}")
                raise
            try:
                try:
                    if reused:
                        keep = {t for step in STEPS for t in step.keeps}
                        drop_derived(con, keep | _still_right(ctx))
                    for i, step in enumerate(STEPS):
                        step_started = time.perf_counter()
                        results.update(step.write(ctx))
                        if i == 0:  # the tables every snapshot holds, beside the cube
                            con.execute(TABLES_SQL)
                            record_periods(con, periods, reused)
                        took[step.name] = time.perf_counter() - step_started
                        for part, seconds in results.pop("parts", {}).items():
                            took[f"{step.name}.{part}"] = seconds
                        task.advance()
                finally:
                    if reused:
                        con.execute(f"DETACH DATABASE IF EXISTS {quote(PREVIOUS)}")
                publish_started = time.perf_counter()
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
                        "series": results["series_scanned"],
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
        # the scorecards step may have written the KPI pre-aggregates of the periods attribute
        # re-wrote into the warehouse; this run holds its writer lock, so no one else wrote it
        source["warehouse"] = as_json(files_stamp(warehouse.path, ".wal"))
        path = publish(tmp, settings.data_dir)
        took["publish"] = time.perf_counter() - publish_started
    except BaseException:
        discard(tmp)
        raise
    assert info is not None
    events = results["events"]
    incidents = events[events["incident_id"] == events["anomaly_id"]]
    n_open = int(incidents["feedback"].isna().sum()) if not events.empty else 0
    report = RefreshReport(
        path=path,
        built_at=built_at,
        first_date=info[0],
        last_date=info[1],
        allocation_rows=int(info[2]),
        rollup_rows=results["rollup_rows"],
        deliveries=deliveries,
        rule_set_version=version,
        anomaly_series=results["series_scanned"],
        anomalies=len(events),
        open_anomalies=n_open,
        budgets=results["budgets"],
        seconds=round(time.perf_counter() - started, 3),
        rebuilt_periods=len(periods) - len(reused),
        reused_periods=len(reused),
        step_seconds={name: round(seconds, 3) for name, seconds in took.items()},
    )
    record_refresh_source(warehouse, path, source, report)
    return report
