# ruff: noqa: S608  (SQL from fixed table and column names; values are bound parameters)
"""``costlens attribute --engine spark SOURCE``: normalize and attribute an export on Spark and
bring home what the local warehouse needs.

On the engine, per delivery (a report's billing period, found by ``ingest.discover`` as ingest
finds it): the files are read where they lie, normalized by the format's own SELECT in Spark SQL
(``dialects.normalization_to_spark``), totalled (line count and each cost column: the engine's
own line-item totals) and summed per day and description (``DAILY_SQL``: one row per day and
line-item description, a few percent of hourly lines). Those rows come home and get their line
keys from ``costlens.line_keys``, the very function ingest uses, so a description has the key
it would have had locally; the keys go back to the engine, which attributes the daily lines with
the compiled rules (``costlens.engines.spark.run_attribution``) and returns the allocations.

At home, per billing period, one transaction replaces the period's lines of the source with the
daily lines (``source_lines`` says how many export lines each sums), records the ledger row with
the engine's totals and ``engine = 'spark'``, writes the engine's allocations through
``attribute`` (closed periods, adjustments, conservation: allocations = line items = the
engine's totals, exactly, per cost column) and commits; any failure rolls it back. Nothing is
written before the engine has returned every period. The refresh, dashboard, exports and digests
then read the warehouse as after ``costlens sync``.
"""

from __future__ import annotations

import time
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from typing import TYPE_CHECKING, Any

import duckdb

from costlens.attribution.dialects import normalization_to_spark
from costlens.attribution.engine import AttributionResult, attribute
from costlens.attribution.rules import RuleSet
from costlens.config import Settings
from costlens.errors import CostlensError, EngineError, first_line
from costlens.line_keys import KEY_COLUMNS, key_sql, prune_line_keys, register_line_keys
from costlens.progress import NullProgress, Progress
from costlens.schema import COST_COLUMNS, LINE_ITEMS, Column, column_names
from costlens.tags import TagKey, name_tag_keys
from costlens.warehouse import Warehouse, open_warehouse
from ingest import ledger
from ingest.diagnose import diagnose
from ingest.discover import discover
from ingest.formats import FORMATS
from ingest.formats.readers import PARQUET_READER
from ingest.loader import (
    DELETE_LINES_SQL,
    TOTALS_SQL,
    _merged_columns,
    _refuse_other_periods,
    _same_bill,
    _tag_source,
    prepare_files,
    single_format,
)
from ingest.model import Delivery, PreparedFile
from ingest.normalize import quote
from ingest.pipeline import _configure, _slug, resolve_targets, updating_reports
from ingest.sources.local import LocalStore
from ingest.tag_maps import record_tag_keys

if TYPE_CHECKING:
    import pyarrow as pa
    from pyspark.sql import DataFrame, SparkSession

__all__ = ["ENGINE", "EngineRun", "PeriodLoaded", "attribute_on_spark"]

ENGINE = "spark"
"""``deliveries.engine`` of what this module loads."""

FORMATS_ON_SPARK = ("cur2", "cur1-parquet")
"""The formats the engine normalizes (Parquet: the formats of large bills)."""

_TEXT_KEYS = [c for c in KEY_COLUMNS if c not in ("billing_period", "tags")]
_TEXT = ", ".join(_TEXT_KEYS)
_SUMS = ", ".join(f"SUM({c}) AS {c}" for c in (*COST_COLUMNS, "usage_amount"))
_DAY = "CAST(COALESCE(usage_start, billing_period) AS DATE)"

DAILY_SQL = f"""
SELECT delivery_id, billing_period, min(usage_start) AS usage_start,
       max(usage_end) AS usage_end, {_TEXT},
       first(tags) AS tags, {_SUMS}, count(*) AS source_lines,
       xxhash64(billing_period, {_TEXT}, to_json(tags))
         AS engine_key
FROM {{lines}}
GROUP BY delivery_id, billing_period, {_DAY}, usage_start IS NULL,
         {_TEXT}, to_json(tags)
"""
"""The engine's lines summed per delivery, day and description (the columns of a line key; tags
compared through their JSON text, as ``costlens.line_keys`` does): what comes home. A line
without a usage start stays apart from the dated lines of its day (its day is its period's
first). ``engine_key`` joins the home keys back to these rows on the engine."""

ENGINE_TOTALS_SQL = f"""
SELECT delivery_id, count(*) AS lines, {", ".join(f"SUM({c})" for c in COST_COLUMNS)}
FROM {{lines}} GROUP BY delivery_id
"""

_HOME_KEYS_SQL = f"""
CREATE OR REPLACE TEMP TABLE _engine_keys AS
SELECT DISTINCT engine_key, {key_sql()} AS line_key FROM _engine_daily
"""
"""Each description's home key: ``key_sql`` over the columns as stored, as ingest computes it."""

_SPLIT_KEYS_SQL = (
    "SELECT count(*) FROM (SELECT engine_key FROM _engine_keys GROUP BY 1 HAVING count(*) > 1)"
)


def _home_column(column: Column) -> str:
    if column.name == "line_key":
        return "k.line_key"
    return f"CAST(d.{quote(column.name)} AS {column.sql_type})"


_INSERT_SQL = f"""
INSERT INTO line_items ({", ".join(quote(c) for c in column_names(LINE_ITEMS))})
SELECT {", ".join(_home_column(c) for c in LINE_ITEMS)}
FROM _engine_daily d JOIN _engine_keys k USING (engine_key)
WHERE d.delivery_id = $delivery_id
"""

_LINE_KEYS_VIEW = f"""
SELECT line_key, {", ".join(f"first({c}) AS {c}" for c in KEY_COLUMNS)}
FROM line_items GROUP BY line_key
"""
"""The engine's ``line_keys``: one row per key (a key stands for one description)."""

_WITH_KEYS_SQL = f"""
SELECT {", ".join(f"d.{c}" for c in column_names(LINE_ITEMS) if c != "line_key")},
       k.line_key
FROM _costlens_daily d JOIN _costlens_keys k ON d.engine_key = k.engine_key
"""
"""The engine's ``line_items``: its daily lines with their home keys."""


@dataclass
class _OnEngine:
    """One delivery being read on the engine."""

    delivery: Delivery
    period: date
    files: list[PreparedFile]
    id_: str
    keys: tuple[TagKey, ...]
    view: str


@dataclass(frozen=True)
class PeriodLoaded:
    """One delivery brought home."""

    source: str
    report: str
    period: date
    delivery_id: str
    lines: int
    """The export's line items (as the engine counted them)."""
    rows: int
    """Rows of ``line_items`` they became (per day and description)."""
    totals: dict[str, Decimal]
    status: str
    """new or replaced (a delivery of the same report and period was current)."""

    def as_dict(self) -> dict[str, Any]:
        """For ``--json``."""
        return {
            "source": self.source,
            "report": self.report,
            "billing_period": str(self.period),
            "delivery_id": self.delivery_id,
            "line_items": self.lines,
            "rows": self.rows,
            "totals": self.totals,
            "status": self.status,
        }


@dataclass
class EngineRun:
    """What one ``attribute_on_spark`` run did."""

    loaded: list[PeriodLoaded] = field(default_factory=list)
    attributed: list[AttributionResult] = field(default_factory=list)
    seconds: dict[str, float] = field(default_factory=dict)

    @property
    def periods(self) -> tuple[date, ...]:
        return tuple(sorted({p for r in self.attributed for p in r.periods}))

    @property
    def rows(self) -> int:
        return sum(r.rows for r in self.attributed)


def _engine_error(exc: Exception, where: str) -> EngineError:
    return EngineError(
        f"the Spark job failed: {first_line(exc)}",
        where=where,
        fix="check the export's files; run `costlens ingest` on them to see the line at fault",
    )


def _deliveries(
    settings: Settings, target: str | None, con: duckdb.DuckDBPyConnection, progress: Progress
) -> list[tuple[Delivery, list[PreparedFile]]]:
    """The deliveries of ``target`` (as ``ingest`` finds them), with their files' columns and
    format; refuses what the engine does not read."""
    found = []
    for src in resolve_targets(settings, target):
        if src.kind != "local":
            raise EngineError(
                f"the Spark engine reads local folders; {src.name!r} is on S3",
                where=src.name,
                fix="give a folder both this machine and the Spark cluster read (a shared "
                "mount of the export), or load it with `costlens sync` (docs/scale.md)",
            )
        assert src.path is not None
        store = LocalStore(src.path)
        listing = store.list_files()
        updating = updating_reports(con, store, listing, progress)
        unzip = settings.staging_dir / _slug(src.name) / "unzipped"
        for d in discover(
            listing, store.read_bytes, source=src.name, export=src.export, where=store.label
        ):
            if d.problem is not None:
                raise d.problem
            if d.report in updating:
                continue
            if d.period_from_data or d.billing_period is None:
                raise EngineError(
                    "the Spark engine reads deliveries with their manifest; these files have none",
                    where=", ".join(f.key for f in d.files[:3]),
                    fix="point it at the export's folder (with its metadata/ or manifest files), "
                    "or load loose files with `costlens ingest`",
                )
            fetched = [store.fetch(f, progress) for f in d.files]
            files = prepare_files(con, fetched, unzip, src.format)
            fmt, kind = single_format(files, f"{store.label}/{d.manifest}")
            if fmt not in FORMATS_ON_SPARK or kind != "parquet":
                raise EngineError(
                    f"the Spark engine normalizes CUR 2.0 and legacy CUR Parquet; this delivery "
                    f"is {fmt} ({kind})",
                    where=f"{store.label}/{d.manifest}",
                    fix="load it with `costlens sync` (DuckDB reads every format)",
                )
            found.append((d, files))
    return found


def _read(session: SparkSession, i: int, d: Delivery, files: list[PreparedFile]) -> _OnEngine:
    """The delivery's normalized lines as the temporary view ``_costlens_lines_<i>``."""
    assert d.billing_period is not None
    raw = f"_costlens_export_{i}"
    reader = session.read.option("mergeSchema", "true")
    reader.parquet(*(str(p.path) for p in files)).createOrReplaceTempView(raw)
    fmt = FORMATS[files[0].format]
    tags = _tag_source(files)
    delivered: list[str] = []
    if tags.keys_sql is not None:
        keys_sql = normalization_to_spark(tags.keys_sql, PARQUET_READER, raw)
        delivered = [str(r[0]) for r in session.sql(keys_sql).collect()]
    else:
        delivered = list(tags.column_keys)
    keys = name_tag_keys(delivered, drop_prefix=tags.drop_prefix)
    columns = _merged_columns(files)
    select = normalization_to_spark(fmt.build_sql(columns, "parquet"), PARQUET_READER, raw)
    id_ = ledger.delivery_id(
        d.source, d.report, d.billing_period, d.assembly_id, [p.origin for p in files]
    )
    view = f"_costlens_lines_{i}"
    lines = session.sql(
        f"SELECT *, :delivery_id AS delivery_id FROM ({select})",
        args={**tags.params(keys), "delivery_id": id_},
    )
    lines.createOrReplaceTempView(view)
    return _OnEngine(d, d.billing_period, files, id_, keys, view)


def _collect(frame: DataFrame) -> pa.Table:
    return frame.toArrow()


def attribute_on_spark(
    settings: Settings,
    rules: RuleSet,
    session: SparkSession,
    target: str | None = None,
    *,
    periods: Sequence[date] | None = None,
    replace: bool = False,
    progress: Progress | None = None,
) -> EngineRun:
    """Normalize and attribute ``target``'s deliveries (``ingest``'s targets: a source's name, a
    path; default: every configured source) on ``session``, and write them home, one
    transaction per billing period (``periods``: only those). Raises ``CostlensError``; a
    period whose transaction failed, and those after it, are left as they were, and nothing is
    written when the engine fails."""
    progress = progress or NullProgress()
    if settings.anomalies.hourly_window is not None:
        raise EngineError(
            'the Spark engine brings home daily lines, and [anomalies] grain = "hour" needs '
            "hourly ones",
            where=str(settings.config_file or "configuration"),
            fix='set [anomalies] grain = "day", or load this export with `costlens sync`',
        )
    run = EngineRun()
    started = time.perf_counter()
    with open_warehouse(settings.data_dir) as wh:
        _configure(wh.con)
        found = _deliveries(settings, target, wh.con, progress)
        if periods is not None:
            found = [(d, f) for d, f in found if d.billing_period in set(periods)]
        if not found:
            raise EngineError(
                "no delivery to attribute",
                where=target or "the configured sources",
                fix="check the path holds an export (its manifests and data files)"
                + (" of the --period months" if periods is not None else ""),
            )
        run.seconds["discover"] = time.perf_counter() - started
        daily, totals, allocations = _on_engine(session, rules, found, wh, run, progress)
        _bring_home(wh, rules, _by_period(daily), totals, allocations, run, replace)
    return run


def _by_period(items: list[_OnEngine]) -> dict[date, list[_OnEngine]]:
    by_period: dict[date, list[_OnEngine]] = defaultdict(list)
    for item in items:
        by_period[item.period].append(item)
    return dict(sorted(by_period.items()))


def _on_engine(
    session: SparkSession,
    rules: RuleSet,
    found: list[tuple[Delivery, list[PreparedFile]]],
    wh: Warehouse,
    run: EngineRun,
    progress: Progress,
) -> tuple[list[_OnEngine], dict[str, tuple[int, tuple[Decimal, ...]]], Any]:
    """Run everything on the engine; returns the deliveries read, their engine totals (by
    delivery id) and the allocations (Arrow). The daily lines are left in ``wh``'s connection as
    ``_engine_daily`` and their keys as ``_engine_keys`` (temporary tables)."""
    from costlens.engines.spark import drop_stages, run_attribution

    con = wh.con
    items: list[_OnEngine] = []
    step = time.perf_counter()
    with progress.task("read on Spark", total=len(found)) as task:
        for i, (d, files) in enumerate(found):
            try:
                items.append(_read(session, i, d, files))
            except CostlensError:
                raise
            except Exception as exc:
                raise _engine_error(exc, ", ".join(p.where for p in files)) from None
            task.advance()
    lines = " UNION ALL ".join(f"SELECT * FROM {item.view}" for item in items)
    lines_view = f"({lines})"
    try:
        rows = session.sql(ENGINE_TOTALS_SQL.format(lines=lines_view)).collect()
    except Exception as exc:
        raise _first_bad_file(con, items, exc) from None
    totals = {str(r[0]): (int(r[1]), tuple(Decimal(v or 0) for v in r[2:])) for r in rows}
    for item in items:
        if item.id_ not in totals:
            raise EngineError(
                "the delivery holds no line items",
                where=", ".join(p.where for p in item.files),
                fix="the export holds no rows: remove it or wait for AWS to deliver data",
            )
    run.seconds["normalize"] = time.perf_counter() - step
    step = time.perf_counter()
    daily = session.sql(DAILY_SQL.format(lines=lines_view)).cache()
    daily.createOrReplaceTempView("_costlens_daily")
    try:
        home = _collect(daily)
    except Exception as exc:
        raise _engine_error(exc, "the Spark engine's daily lines") from None
    con.register("_engine_daily_arrow", home)
    con.execute("CREATE OR REPLACE TEMP TABLE _engine_daily AS SELECT * FROM _engine_daily_arrow")
    con.unregister("_engine_daily_arrow")
    con.execute(_HOME_KEYS_SQL)
    (split,) = con.execute(_SPLIT_KEYS_SQL).fetchall()[0]
    if split:
        raise EngineError(
            f"{split} engine key(s) stand for more than one line-item description",
            where="the Spark engine's daily lines",
            fix="this is a bug in costlens (a 64-bit collision): please report it; `costlens "
            "sync` loads the export meanwhile",
        )
    keys = con.sql(
        "SELECT engine_key, CAST(line_key AS DECIMAL(20,0)) AS line_key FROM _engine_keys"
    ).to_arrow_table()
    run.seconds["daily"] = time.perf_counter() - step
    step = time.perf_counter()
    try:
        session.createDataFrame(keys).createOrReplaceTempView("_costlens_keys")
        session.sql(_WITH_KEYS_SQL).createOrReplaceTempView("line_items")
        session.sql(_LINE_KEYS_VIEW).createOrReplaceTempView("line_keys")
        frame = run_attribution(
            session, rules, periods=sorted({i.period for i in items}), rule_version=rules.version
        )
        allocations = _collect(frame)
    except Exception as exc:
        raise _engine_error(exc, "the Spark attribution") from None
    finally:
        drop_stages(session)
        daily.unpersist()
        for name in ("line_items", "line_keys", "_costlens_keys", "_costlens_daily"):
            session.catalog.dropTempView(name)
    run.seconds["attribute"] = time.perf_counter() - step
    return items, totals, allocations


def _first_bad_file(
    con: duckdb.DuckDBPyConnection, items: list[_OnEngine], exc: Exception
) -> CostlensError:
    """The engine refused a value: find the file, row, column and value, as ingest does."""
    for item in items:
        found = diagnose(con, item.files, exc)
        if not found.message.startswith("cannot load the delivery"):
            return found
    return _engine_error(exc, ", ".join(p.where for i in items for p in i.files))


def _bring_home(
    wh: Warehouse,
    rules: RuleSet,
    by_period: dict[date, list[_OnEngine]],
    totals: dict[str, tuple[int, tuple[Decimal, ...]]],
    allocations: Any,
    run: EngineRun,
    replace: bool,
) -> None:
    step = time.perf_counter()
    con = wh.con
    con.register("_engine_allocations", allocations)
    try:
        for period, items in by_period.items():
            with wh.transaction() as tx:
                loaded = [_load(tx, item, totals[item.id_], replace) for item in items]
                result = attribute(
                    tx, rules, periods=[period], computed="_engine_allocations",
                    in_transaction=True,
                )  # fmt: skip
            run.loaded.extend(loaded)
            run.attributed.append(result)
    finally:
        con.unregister("_engine_allocations")
        con.execute("DROP TABLE IF EXISTS _engine_daily")
        con.execute("DROP TABLE IF EXISTS _engine_keys")
    run.seconds["write"] = time.perf_counter() - step


def _load(
    con: duckdb.DuckDBPyConnection,
    item: _OnEngine,
    engine_totals: tuple[int, tuple[Decimal, ...]],
    replace: bool,
) -> PeriodLoaded:
    """Replace the delivery's report and period with its daily lines (in ``con``'s open
    transaction), checked against the engine's totals."""
    d, period, id_ = item.delivery, item.period, item.id_
    old = ledger.current_ids(con, d.source, d.report, period)
    if old:
        con.execute(DELETE_LINES_SQL, {"ids": old})
    con.execute(_INSERT_SQL, {"delivery_id": id_})
    _refuse_other_periods(con, item.files, id_, period)
    same_bill = _same_bill(con, item.files, id_, period, replace=replace)
    if same_bill:
        con.execute(DELETE_LINES_SQL, {"ids": same_bill})
    if register_line_keys(con, id_):
        raise EngineError(
            "a line key of the engine's lines collides with one already in the warehouse",
            where="line_keys",
            fix="this is a bug in costlens (a 64-bit collision): please report it; `costlens "
            "sync` loads the export meanwhile",
        )
    record_tag_keys(con, id_, item.keys)
    if old or same_bill:
        prune_line_keys(con, period)
    row = con.execute(TOTALS_SQL, {"delivery_id": id_}).fetchone()
    assert row is not None
    rows, *sums = row
    count, want = engine_totals
    got = tuple(Decimal(s) for s in sums)
    for column, w, g in zip(COST_COLUMNS, want, got, strict=True):
        if w != g:
            raise EngineError(
                f"the daily lines' {column} is {g} but the engine's line items sum to {w}",
                where=", ".join(p.where for p in item.files),
                fix="this is a bug in costlens: please report it",
            )
    totals = dict(zip(COST_COLUMNS, got, strict=True))
    ledger.record(
        con,
        id_=id_,
        source=d.source,
        report=d.report,
        format_=item.files[0].format,
        period=period,
        assembly_id=d.assembly_id,
        files=[p.origin for p in item.files],
        rows=count,
        totals=totals,
        superseded=[o for o in [*old, *same_bill] if o != id_],
        engine=ENGINE,
    )
    status = "replaced" if old or same_bill else "new"
    return PeriodLoaded(d.source, d.report, period, id_, count, int(rows), totals, status)
