"""``ingest()``: discover deliveries in each source, skip the unchanged, load the rest.

Each billing period is loaded in its own transaction, in period order. A failure stops the run
with an ``IngestError``: periods already loaded stay loaded, the failing period and everything
after it (in that source and the sources after it) are left as they were.
"""

from __future__ import annotations

import re
from collections import defaultdict
from datetime import date
from pathlib import Path

import duckdb

from costlens.config import Settings, SourceSettings
from costlens.errors import CostlensError, IngestError, first_line
from costlens.progress import NullProgress, Progress
from costlens.schema import COST_COLUMNS
from costlens.warehouse import Warehouse, open_warehouse
from ingest import ledger
from ingest.discover import discover, status_keys
from ingest.loader import (
    PreparedFile,
    load_period,
    periods_in,
    prepare_files,
    recheck_tag_keys,
    single_format,
)
from ingest.model import Delivery, DeliveryResult, ExportFile, IngestReport, Status, Untouched
from ingest.sources.base import Store
from ingest.sources.local import LocalStore
from ingest.tag_maps import named_by_current_rule

__all__ = ["ingest", "resolve_targets", "updating_reports"]

MEMORY_LIMIT = "1GB"
"""DuckDB's memory limit while ingesting (it spills to disk beyond it)."""

STATUS_SQL = "SELECT status FROM read_parquet($files)"


def resolve_targets(settings: Settings, target: str | None) -> list[SourceSettings]:
    """The sources to ingest: all configured, one by name, or an ad-hoc path or s3:// URL."""
    if target is None:
        if not settings.sources:
            raise IngestError(
                "no sources configured",
                where=str(settings.config_file or "configuration"),
                fix="add a [[sources]] table to costlens.toml, or pass a path or s3:// URL",
            )
        return list(settings.sources)
    if any(s.name == target for s in settings.sources):
        return [settings.source(target)]
    if target.startswith("s3://"):
        bucket, _, prefix = target[len("s3://") :].partition("/")
        if not bucket:
            raise IngestError(
                "the S3 URL has no bucket", where=target, fix="write s3://bucket/prefix"
            )
        return [SourceSettings(name=target, kind="s3", bucket=bucket, prefix=prefix.strip("/"))]
    path = Path(target)
    if not path.exists():
        known = ", ".join(s.name for s in settings.sources) or "none configured"
        raise IngestError(
            "not a configured source, a path or an s3:// URL",
            where=target,
            fix=f"use a source name ({known}), an existing file or folder, or s3://bucket/prefix",
        )
    return [SourceSettings(name=target, kind="local", path=path.resolve())]


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "_", text).strip("_") or "source"


def _open_store(src: SourceSettings, settings: Settings, s3_client: object | None) -> Store:
    if src.kind == "local":
        assert src.path is not None
        return LocalStore(src.path)
    from ingest.sources.s3 import S3Store  # boto3 only when S3 is used

    return S3Store(src, settings.staging_dir / _slug(src.name), client=s3_client)


def ingest(
    settings: Settings,
    target: str | None = None,
    *,
    progress: Progress | None = None,
    s3_client: object | None = None,
    replace: bool = False,
) -> IngestReport:
    """Ingest every configured source, or ``target`` (a source name, path or ``s3://`` URL).

    A delivery holding usage accounts another source or report already loaded for the period
    is refused (they would count twice), unless ``replace``: then it replaces that delivery (a
    new export of the same bill). ``s3_client`` replaces the boto3 S3 client built from the
    standard configuration (tests).
    Raises ``IngestError`` naming the file at fault; the warehouse keeps its previous data for
    the failing period.
    """
    progress = progress or NullProgress()
    sources = resolve_targets(settings, target)
    report = IngestReport()
    pending: list[Delivery] = []  # of the source being processed, not yet done
    run: _SourceRun | None = None
    try:
        with open_warehouse(settings.data_dir) as wh:
            _configure(wh.con)
            for src in sources:
                store = _open_store(src, settings, s3_client)
                listing = store.list_files()
                found = discover(
                    listing, store.read_bytes, source=src.name, export=src.export, where=store.label
                )
                updating = updating_reports(wh.con, store, listing, progress)
                run = _SourceRun(
                    wh, store, src, settings.staging_dir / _slug(src.name), progress,
                    replace=replace, results=report.deliveries,
                )  # fmt: skip
                pending = found  # a source that fails before this point refuses no delivery
                while pending:
                    delivery = pending[0]
                    if delivery.report in updating:
                        pending.pop(0)
                        continue
                    if delivery.period_from_data and updating:
                        delivery.files = [f for f in delivery.files if not _under(f.key, updating)]
                        if not delivery.files:
                            pending.pop(0)
                            continue
                    run.process(delivery)
                    pending.pop(0)
    except CostlensError as exc:
        by_data = (run.loading, run.loading_after) if pending and run else (None, [])
        _record_failure(report, pending, by_data, exc)
        raise
    return report


def _record_failure(
    report: IngestReport,
    pending: list[Delivery],
    by_data: tuple[date | None, list[date]],
    exc: CostlensError,
) -> None:
    """Put on ``exc`` what the failed run loaded, refused and did not reach (``partial``):
    the delivery being processed is refused, those after it were not reached. ``by_data``: for
    a delivery whose periods come from the data, the period it was loading and those after."""
    if pending:
        first, *rest = pending
        loading, after = by_data
        report.refused.append(
            Untouched(first.source, first.report, first.billing_period or loading, str(exc))
        )
        report.not_reached.extend(Untouched(first.source, first.report, p) for p in after)
        report.not_reached.extend(Untouched(d.source, d.report, d.billing_period) for d in rest)
    exc.partial = {"ingest": report.as_dict()}


def _under(key: str, reports: set[str]) -> bool:
    """True when ``key`` lies in the folder of one of ``reports``."""
    parts = key.split("/")[:-1]
    return any(r in parts for r in reports)


def _configure(con: duckdb.DuckDBPyConnection) -> None:
    con.execute("SET preserve_insertion_order = false")
    con.execute("SET enable_progress_bar = false")  # DuckDB's own bar writes to stdout
    con.execute(f"SET memory_limit = '{MEMORY_LIMIT}'")


def updating_reports(
    con: duckdb.DuckDBPyConnection, store: Store, listing: list[ExportFile], progress: Progress
) -> set[str]:
    """Legacy Parquet reports whose status file says UPDATING (skipped until READY)."""
    updating = set()
    by_key = {f.key: f for f in listing}
    for report_name, key in status_keys(listing).items():
        local = store.fetch(by_key[key], progress)
        try:
            rows = con.execute(STATUS_SQL, {"files": [str(local.path)]}).fetchall()
        except duckdb.Error as exc:
            detail = first_line(exc)
            raise IngestError(
                f"cannot read the report's status file ({detail})",
                where=f"{store.label}/{key}",
                fix="the file is damaged or truncated: wait for AWS to rewrite it (it is replaced "
                "on each delivery) and run again, or delete its staged copy",
            ) from exc
        if any(str(r[0]).upper() == "UPDATING" for r in rows):
            updating.add(report_name)
    return updating


class _SourceRun:
    """Processing of one source's deliveries."""

    def __init__(
        self,
        wh: Warehouse,
        store: Store,
        src: SourceSettings,
        staging: Path,
        progress: Progress,
        *,
        replace: bool = False,
        results: list[DeliveryResult],
    ) -> None:
        self.wh, self.store, self.src, self.progress = wh, store, src, progress
        self.unzip_root = staging / "unzipped"
        self.replace = replace
        self.results = results
        """Where each delivery's result goes once it is done (a failed run keeps them)."""
        self.loading: date | None = None
        """The period being loaded from a delivery whose periods come from the data..."""
        self.loading_after: list[date] = []
        """... and its periods after that one."""

    def process(self, delivery: Delivery) -> None:
        if delivery.problem is not None:
            raise delivery.problem
        if delivery.period_from_data:
            self._process_by_data(delivery)
            return
        assert delivery.billing_period is not None
        if self.store.identity_known():
            done = self._unchanged(delivery, delivery.files, delivery.billing_period)
            if done is not None:
                self.results.append(done)
                return
        fetched = [self.store.fetch(f, self.progress) for f in delivery.files]
        if not self.store.identity_known():
            done = self._unchanged(delivery, fetched, delivery.billing_period)
            if done is not None:
                self.results.append(done)
                return
        prepared = prepare_files(self.wh.con, fetched, self.unzip_root, self.src.format)
        where = f"{self.store.label}/{delivery.manifest}"
        single_format(prepared, where)
        self.results.append(
            self._load(delivery, prepared, delivery.billing_period, filter_period=False)
        )

    def _process_by_data(self, delivery: Delivery) -> None:
        fetched = [self.store.fetch(f, self.progress) for f in delivery.files]
        prepared = prepare_files(self.wh.con, fetched, self.unzip_root, self.src.format)
        by_format: dict[str, list[PreparedFile]] = defaultdict(list)
        for p in prepared:
            by_format[p.format].append(p)
        for fmt, group in sorted(by_format.items()):
            single_format(group, self.store.label)
            by_period: dict[date, list[PreparedFile]] = defaultdict(list)
            for p in group:
                for period in periods_in(self.wh.con, [p]):
                    by_period[period].append(p)
            report_name = delivery.report or fmt
            periods = sorted(by_period)
            for i, (period, files) in enumerate(sorted(by_period.items())):
                self.loading, self.loading_after = period, periods[i + 1 :]
                d = Delivery(
                    source=delivery.source,
                    report=report_name,
                    files=[p.origin for p in files],
                    billing_period=period,
                    period_from_data=True,
                )
                done = self._unchanged(d, d.files, period)
                if done is None:
                    done = self._load(d, files, period, filter_period=True)
                self.results.append(done)
        self.loading, self.loading_after = None, []

    def _unchanged(
        self, d: Delivery, files: list[ExportFile], period: date
    ) -> DeliveryResult | None:
        id_ = ledger.delivery_id(d.source, d.report, period, d.assembly_id, files)
        row = ledger.find(self.wh.con, id_)
        if row is None or row.status != "current":
            return None
        if not named_by_current_rule(self.wh.con, id_):  # loaded under an older tag-key rule
            return None  # fetched and re-checked by _load
        return DeliveryResult(
            d.source, d.report, period, row.format, id_, row.rows, row.totals, "unchanged"
        )

    def _load(
        self, d: Delivery, prepared: list[PreparedFile], period: date, *, filter_period: bool
    ) -> DeliveryResult:
        origins = [p.origin for p in prepared]
        unique = list({f.key: f for f in origins}.values())
        id_ = ledger.delivery_id(d.source, d.report, period, d.assembly_id, unique)
        row = ledger.find(self.wh.con, id_)
        if row and row.status == "current" and recheck_tag_keys(self.wh, prepared, id_):
            # loaded under an older tag-key rule that named its keys alike: nothing to reload
            return DeliveryResult(
                d.source, d.report, period, row.format, id_, row.rows, row.totals, "unchanged"
            )
        replaced = bool(ledger.current_ids(self.wh.con, d.source, d.report, period))
        label = f"load {d.report} {period:%Y-%m}"
        with self.progress.task(label, total=len(prepared)) as task:
            rows, totals, same_bill, collisions = load_period(
                self.wh,
                prepared,
                delivery_id=id_,
                source=d.source,
                report=d.report,
                period=period,
                assembly_id=d.assembly_id,
                filter_period=filter_period,
                replace_same_bill=self.replace,
            )
            task.advance(len(prepared))
        status: Status = "replaced" if replaced or same_bill else "new"
        return DeliveryResult(
            d.source,
            d.report,
            period,
            prepared[0].format,
            id_,
            rows,
            {c: totals[c] for c in COST_COLUMNS},
            status,
            collisions,
        )
