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

import re
import time
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING, Any

import duckdb

from costlens.attribution.dialects import normalization_to_spark
from costlens.attribution.engine import AttributionResult, attribute
from costlens.attribution.rules import RuleSet
from costlens.config import Settings
from costlens.errors import CostlensError, EngineError, IngestError, first_line
from costlens.line_keys import KEY_COLUMNS, key_sql, prune_line_keys, register_line_keys
from costlens.progress import NullProgress, Progress
from costlens.schema import COST_COLUMNS, LINE_ITEMS, Column, column_names
from costlens.tags import TagKey, name_tag_keys
from costlens.warehouse import Warehouse, open_warehouse
from ingest import ledger
from ingest.diagnose import diagnose
from ingest.discover import discover
from ingest.formats import FORMATS
from ingest.formats.detect import detect_format
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
    from pyspark.sql import SparkSession

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
class _Found:
    """A delivery to read on the engine: its files (columns and format) and where the engine
    reads each one (a local path, or an ``s3a://`` URL through the cluster's connector)."""

    delivery: Delivery
    files: list[PreparedFile]
    urls: list[str]
    local: bool
    """Whether ``files`` are on this machine (then a bad value is located as ingest does)."""


@dataclass
class _OnEngine:
    """One delivery being read on the engine."""

    delivery: Delivery
    period: date
    files: list[PreparedFile]
    id_: str
    keys: tuple[TagKey, ...]
    view: str
    local: bool


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


_JAVA_CAUSE = re.compile(r"^(?:: |Caused by: )?[\w.$]+(?:Exception|Error): (.+)$", re.MULTILINE)


def spark_message(exc: Exception) -> str:
    """What went wrong in one line: the Java cause of a Py4J error (its first line says only
    "An error occurred while calling o42.parquet"), else the error's first line."""
    text = str(exc)
    if type(exc).__name__ == "Py4JJavaError":
        found = _JAVA_CAUSE.findall(text)
        if found:
            return str(found[-1]).strip()
    return first_line(exc)


def _engine_error(exc: Exception, where: str) -> EngineError:
    return EngineError(
        f"the Spark job failed: {spark_message(exc)}",
        where=where,
        fix="check the export's files; run `costlens ingest` on them to see the line at fault",
    )


_SPARK_TYPES = {
    "StringType": "VARCHAR",
    "TimestampType": "TIMESTAMP WITH TIME ZONE",
    "TimestampNTZType": "TIMESTAMP",
    "DateType": "DATE",
    "DoubleType": "DOUBLE",
    "FloatType": "FLOAT",
    "LongType": "BIGINT",
    "IntegerType": "INTEGER",
    "ShortType": "SMALLINT",
    "BooleanType": "BOOLEAN",
    "MapType": "MAP(VARCHAR, VARCHAR)",
}
"""Spark's type of a column → the DuckDB type name ``ingest.formats`` builds its SQL for."""


def spark_columns(schema: Any) -> dict[str, str]:
    """A Spark schema as ``ingest.normalize.Columns`` (what DuckDB would call the types)."""
    out = {}
    for f in schema.fields:
        kind = type(f.dataType).__name__
        if kind == "DecimalType":
            out[f.name] = f"DECIMAL({f.dataType.precision},{f.dataType.scale})"
        else:
            out[f.name] = _SPARK_TYPES.get(kind, f.dataType.simpleString().upper())
    return out


def _on_s3(
    session: SparkSession, store: Any, d: Delivery, scheme: str
) -> tuple[list[PreparedFile], list[str]]:
    """A delivery on S3: each file's columns and format, read by the engine (its S3 connector)
    from the file's footer."""
    files, urls = [], []
    for f in d.files:
        url, where = f"{scheme}://{store.bucket}/{f.key}", f"s3://{store.bucket}/{f.key}"
        try:
            columns = spark_columns(session.read.parquet(url).schema)
        except Exception as exc:
            raise EngineError(
                f"Spark cannot read the file: {spark_message(exc)}",
                where=where,
                fix="the cluster reads S3 through its own connector (hadoop-aws for s3a://, "
                "EMR's s3://: set [engine] s3_scheme); give it the bucket's read permission",
            ) from None
        fmt = detect_format(columns, Path(f.key), where)
        missing = FORMATS[fmt].missing_columns(columns)
        if missing:
            raise IngestError(
                f"required column {missing[0]!r} is missing for format {fmt}",
                where=f"{where} (column {missing[0]})",
                fix="export with the standard columns (include the cost and period columns)",
            )
        files.append(PreparedFile(f, Path(f.key), "parquet", columns, fmt, where))
        urls.append(url)
    return files, urls


def _deliveries(
    settings: Settings,
    target: str | None,
    con: duckdb.DuckDBPyConnection,
    progress: Progress,
    session: SparkSession,
    s3_client: object | None,
    periods: Sequence[date] | None,
) -> list[_Found]:
    """The deliveries of ``target`` (as ``ingest`` finds them), with their files' columns and
    format; refuses what the engine does not read. Local files are read here as ingest reads
    them; files on S3 by the engine (this machine lists them and reads the manifests)."""
    found = []
    for src in resolve_targets(settings, target):
        staging = settings.staging_dir / _slug(src.name)
        store: Any
        if src.kind == "s3":
            from ingest.sources.s3 import S3Store  # boto3 only when S3 is used

            store = S3Store(src, staging, client=s3_client)
        else:
            assert src.path is not None
            store = LocalStore(src.path)
        listing = store.list_files()
        updating = updating_reports(con, store, listing, progress)
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
            if periods is not None and d.billing_period not in periods:
                continue  # (before any of its files is read)
            if src.kind == "s3":
                files, urls = _on_s3(session, store, d, settings.engine.s3_scheme)
            else:
                fetched = [store.fetch(f, progress) for f in d.files]
                files = prepare_files(con, fetched, staging / "unzipped", src.format)
                urls = [str(p.path) for p in files]
            fmt, kind = single_format(files, f"{store.label}/{d.manifest}")
            if fmt not in FORMATS_ON_SPARK or kind != "parquet":
                raise EngineError(
                    f"the Spark engine normalizes CUR 2.0 and legacy CUR Parquet; this delivery "
                    f"is {fmt} ({kind})",
                    where=f"{store.label}/{d.manifest}",
                    fix="load it with `costlens sync` (DuckDB reads every format)",
                )
            found.append(_Found(d, files, urls, local=src.kind != "s3"))
    return found


def _read(session: SparkSession, i: int, found: _Found) -> _OnEngine:
    """The delivery's normalized lines as the temporary view ``_costlens_lines_<i>``."""
    d, files = found.delivery, found.files
    assert d.billing_period is not None
    raw = f"_costlens_export_{i}"
    reader = session.read.option("mergeSchema", "true")
    reader.parquet(*found.urls).createOrReplaceTempView(raw)
    fmt = FORMATS[files[0].format]
    tags = _tag_source(files)
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
    return _OnEngine(d, d.billing_period, files, id_, keys, view, found.local)


def attribute_on_spark(
    settings: Settings,
    rules: RuleSet,
    session: SparkSession,
    target: str | None = None,
    *,
    periods: Sequence[date] | None = None,
    replace: bool = False,
    progress: Progress | None = None,
    s3_client: object | None = None,
) -> EngineRun:
    """Normalize and attribute ``target``'s deliveries (``ingest``'s targets: a source's name, a
    path; default: every configured source) on ``session``, and write them home, one
    transaction per billing period (``periods``: only those). Raises ``CostlensError``; a
    period whose transaction failed, and those after it, are left as they were, and nothing is
    written when the engine fails. ``s3_client`` replaces the boto3 client that lists S3
    sources (tests)."""
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
        found = _deliveries(settings, target, wh.con, progress, session, s3_client, periods)
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
    found: list[_Found],
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
        for i, f in enumerate(found):
            try:
                items.append(_read(session, i, f))
            except CostlensError:
                raise
            except Exception as exc:
                raise _engine_error(exc, ", ".join(p.where for p in f.files)) from None
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
        home = daily.toArrow()
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
        allocations = frame.toArrow()
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
        if not item.local:
            continue  # on S3: the engine's message is all there is
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
