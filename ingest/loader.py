"""Load one delivery into ``line_items``, replacing the report's billing period atomically.

Inside one DuckDB transaction: delete the lines of the period's current delivery, insert the new
lines (normalized by the format's SELECT, streamed from the files), total them, and swap the
ledger rows. Any error or a kill at any point leaves the previous data as it was.

Errors name a data file by its key (its path relative to the source's folder, or its S3 key),
whatever went wrong and whatever the format, never by the path of a staged or unzipped copy.
"""

from __future__ import annotations

import hashlib
import zipfile
from collections.abc import Sequence
from datetime import date
from decimal import Decimal
from pathlib import Path

import duckdb

from costlens.errors import IngestError
from costlens.line_keys import key_sql, prune_line_keys, register_line_keys
from costlens.schema import COST_COLUMNS, LINE_ITEMS, column_names
from costlens.tags import TagKey, TagKeyCollision, tag_key_collisions
from costlens.warehouse import Warehouse
from ingest import ledger
from ingest.diagnose import diagnose
from ingest.formats import FORMATS
from ingest.formats.detect import DAMAGED_FIX, describe_columns, detect_format, file_kind
from ingest.formats.readers import FileKind
from ingest.hooks import checkpoint
from ingest.model import ExportFile, PreparedFile
from ingest.normalize import quote
from ingest.tag_maps import Tags, delivered_tag_keys, named_as_before, record_tag_keys

__all__ = [
    "PreparedFile",
    "load_period",
    "periods_in",
    "prepare_files",
    "recheck_tag_keys",
    "single_format",
    "tag_keys_of",
]

_LINE_COLUMNS = ", ".join(quote(c) for c in column_names(LINE_ITEMS) if c != "source_lines")
DELETE_LINES_SQL = "DELETE FROM line_items WHERE list_contains($ids, delivery_id)"
TOTALS_SQL = (
    "SELECT count(*), "  # noqa: S608 (fixed names)
    + ", ".join(f"COALESCE(SUM({quote(c)}), 0)" for c in COST_COLUMNS)
    + " FROM line_items WHERE delivery_id = $delivery_id"
)
SAME_BILL_SQL = """
WITH new AS (
  SELECT DISTINCT COALESCE(payer_account_id, '') AS payer, account_id AS account
  FROM line_items WHERE delivery_id = $delivery_id AND COALESCE(account_id, '') <> ''
),
other AS (
  SELECT DISTINCT delivery_id, COALESCE(payer_account_id, '') AS payer, account_id AS account
  FROM line_items
  WHERE billing_period = $period AND delivery_id <> $delivery_id
    AND COALESCE(account_id, '') <> ''
    AND delivery_id IN (SELECT delivery_id FROM deliveries
                        WHERE status = 'current' AND billing_period = $period)
),
marked AS (
  SELECT o.*, EXISTS (
    SELECT 1 FROM new n
    WHERE n.account = o.account AND (n.payer = o.payer OR n.payer = '' OR o.payer = '')
  ) AS shared
  FROM other o
)
SELECT m.delivery_id, d.source, d.report,
       list_sort(list([m.account, m.payer]) FILTER (WHERE m.shared)),
       list_sort(list([m.account, m.payer]) FILTER (WHERE NOT m.shared))
FROM marked m JOIN deliveries d USING (delivery_id)
GROUP BY ALL HAVING bool_or(m.shared)
ORDER BY 1
"""
"""Other current deliveries of the period holding usage accounts the new one holds (of the same
payer, or where either lacks a payer id): the same bill loaded through another source or report.
(Their accounts in the new delivery, and outside it, as [account, payer].) Lines without a usage
account (a payer-level tax line) identify no bill and are left out."""
OTHER_PERIOD_SQL = """
SELECT count(*), min(billing_period), max(billing_period) FROM line_items
WHERE delivery_id = $delivery_id AND billing_period IS DISTINCT FROM $period
"""


def _unzip(path: Path, unzip_root: Path, where: str) -> list[Path]:
    digest = hashlib.sha256(str(path.resolve()).encode()).hexdigest()[:16]
    target = unzip_root / digest
    try:
        with zipfile.ZipFile(path) as archive:
            members = [m for m in archive.infolist() if not m.is_dir()]
            out = []
            for member in members:
                dest = target / Path(member.filename).name
                if not dest.exists() or dest.stat().st_size != member.file_size:
                    dest.parent.mkdir(parents=True, exist_ok=True)
                    part = dest.with_name(dest.name + ".part")
                    with archive.open(member) as src, part.open("wb") as dst:
                        while chunk := src.read(1 << 20):
                            dst.write(chunk)
                    part.replace(dest)
                out.append(dest)
    except (zipfile.BadZipFile, OSError, EOFError) as exc:
        raise IngestError(
            f"cannot read the zip archive ({exc})", where=where, fix=DAMAGED_FIX
        ) from exc
    if not out:
        raise IngestError(
            "the zip archive holds no file", where=where, fix="remove it or re-download it"
        )
    return out


def prepare_files(
    con: duckdb.DuckDBPyConnection, files: list[ExportFile], unzip_root: Path, forced: str
) -> list[PreparedFile]:
    """Expand zips, read each file's columns and detect (or take) its format."""
    prepared = []
    for f in files:
        assert f.path is not None, "files are fetched before they are prepared"
        kind = file_kind(f.path, f.key)
        paths = _unzip(f.path, unzip_root, f.key) if kind == "zip" else [f.path]
        for path in paths:
            where = f"{f.key} ({path.name})" if len(paths) > 1 else f.key
            real_kind: FileKind = "parquet" if file_kind(path, where) == "parquet" else "csv"
            columns = describe_columns(con, path, real_kind, where)
            fmt = forced if forced != "auto" else detect_format(columns, path, where)
            missing = FORMATS[fmt].missing_columns(columns)
            if missing:
                raise IngestError(
                    f"required column {missing[0]!r} is missing for format {fmt}",
                    where=f"{where} (column {missing[0]})",
                    fix="export with the standard columns (include the cost and period columns), "
                    "or set the source's format if detection picked the wrong one",
                )
            prepared.append(PreparedFile(f, path, real_kind, columns, fmt, where))
    return prepared


def single_format(files: list[PreparedFile], where: str) -> tuple[str, FileKind]:
    """The one format and kind of a delivery's files; refuses a mix."""
    kinds = {(p.format, p.kind) for p in files}
    if len(kinds) != 1:
        shown = ", ".join(sorted(f"{p.path.name}={p.format}/{p.kind}" for p in files))
        raise IngestError(
            f"one delivery mixes formats ({shown})",
            where=where,
            fix="keep each report's files in its own folder, or ingest the files one at a time",
        )
    return next(iter(kinds))


def _merged_columns(files: list[PreparedFile]) -> dict[str, str]:
    """The union of the files' columns as DuckDB's ``union_by_name`` reads them: names match
    case-insensitively (``resourceTags/user:TEAM`` is ``resourceTags/user:Team``), the first
    file's spelling is kept."""
    merged: dict[str, str] = {}
    seen: set[str] = set()
    for p in files:
        for name, kind in p.columns.items():
            if name.lower() not in seen:
                seen.add(name.lower())
                merged[name] = kind
    return merged


def _tag_source(files: list[PreparedFile]) -> Tags:
    fmt, kind = files[0].format, files[0].kind
    source: Tags = FORMATS[fmt].tag_source(_merged_columns(files), kind)
    return source


def _select_sql(
    files: list[PreparedFile], keys: Sequence[TagKey] = ()
) -> tuple[str, dict[str, object]]:
    """The format's SELECT over ``files`` and its parameters; ``keys`` names the tag keys of a
    map (``tag_keys_of``; without them keys keep their delivered spelling)."""
    fmt, kind = files[0].format, files[0].kind
    sql = FORMATS[fmt].build_sql(_merged_columns(files), kind)
    return sql, {"files": [str(p.path) for p in files], **_tag_source(files).params(keys)}


def tag_keys_of(con: duckdb.DuckDBPyConnection, files: list[PreparedFile]) -> tuple[TagKey, ...]:
    """The tag keys of ``files`` (all their lines), named together (``costlens.tags``)."""
    return delivered_tag_keys(con, _tag_source(files), {"files": [str(p.path) for p in files]})


def recheck_tag_keys(wh: Warehouse, files: list[PreparedFile], delivery_id: str) -> bool:
    """For the current delivery ``delivery_id``, loaded under an older tag-key rule: when the
    current rule names its keys as the older one did, its lines already hold the right tags;
    record that (no reload) and return True. False: the delivery must be loaded again."""
    try:
        keys = tag_keys_of(wh.con, files)
    except duckdb.Error as exc:
        raise diagnose(wh.con, files, exc) from exc
    if not named_as_before(keys, _tag_source(files)):
        return False
    with wh.transaction() as con:
        record_tag_keys(con, delivery_id, keys)
    return True


def periods_in(con: duckdb.DuckDBPyConnection, files: list[PreparedFile]) -> list[date]:
    """The billing periods the data of ``files`` holds (read from the data itself)."""
    sql, params = _select_sql(files)
    try:
        rows = con.execute(
            f"SELECT billing_period, count(*) FROM ({sql}) GROUP BY 1 ORDER BY 1",  # noqa: S608
            params,
        ).fetchall()
    except duckdb.Error as exc:
        raise diagnose(con, files, exc) from exc
    names = ", ".join(p.where for p in files)
    undated = sum(int(n) for p, n in rows if p is None)
    if undated:
        # Loading only the dated lines would silently drop money from the totals.
        raise IngestError(
            f"{undated} line item(s) have no billing period (its start column is empty)",
            where=names,
            fix="every line needs its billing period start date: re-download the file or let "
            "AWS re-deliver it",
        )
    periods = [r[0] for r in rows if r[0] is not None]
    if not periods:
        raise IngestError(
            "no line items with a billing period",
            where=names,
            fix="the export holds no rows: remove it or wait for AWS to deliver data",
        )
    return periods


def load_period(
    wh: Warehouse,
    files: list[PreparedFile],
    *,
    delivery_id: str,
    source: str,
    report: str,
    period: date,
    assembly_id: str | None,
    filter_period: bool,
    replace_same_bill: bool = False,
) -> tuple[int, dict[str, Decimal], bool, tuple[TagKeyCollision, ...]]:
    """Replace ``report``'s ``period`` of ``source`` with the lines of ``files``, atomically.

    Returns the row count, the per-cost-column totals recorded in the ledger, whether it
    replaced the same bill loaded through another source or report, and the tag keys that
    normalize alike but were kept apart (``costlens.tags.tag_key_collisions``).
    """
    where = " WHERE billing_period = $period" if filter_period else ""
    try:
        keys = tag_keys_of(wh.con, files)
        sql, params = _select_sql(files, keys)
        insert = (
            f"INSERT INTO line_items ({_LINE_COLUMNS})\n"  # noqa: S608 (fixed names; values bound)
            f"SELECT *, {key_sql()} FROM (SELECT *, $delivery_id AS delivery_id "
            f"FROM ({sql}){where})"
        )
        params = {**params, "delivery_id": delivery_id}
        if filter_period:
            params["period"] = period
        with wh.transaction() as con:
            old = ledger.current_ids(con, source, report, period)
            if old:
                con.execute(DELETE_LINES_SQL, {"ids": old})
            checkpoint("after-delete")
            con.execute(insert, params)
            checkpoint("after-insert")
            _refuse_other_periods(con, files, delivery_id, period)
            same_bill = _same_bill(con, files, delivery_id, period, replace=replace_same_bill)
            if same_bill:
                con.execute(DELETE_LINES_SQL, {"ids": same_bill})
            register_line_keys(con, delivery_id)
            record_tag_keys(con, delivery_id, keys)
            if old or same_bill:  # a restatement: forget the keys only the replaced lines held
                prune_line_keys(con, period)
            row = con.execute(TOTALS_SQL, {"delivery_id": delivery_id}).fetchone()
            assert row is not None
            rows, *sums = row
            totals = {c: Decimal(s) for c, s in zip(COST_COLUMNS, sums, strict=True)}
            ledger.record(
                con,
                id_=delivery_id,
                source=source,
                report=report,
                format_=files[0].format,
                period=period,
                assembly_id=assembly_id,
                files=[p.origin for p in files],
                rows=int(rows),
                totals=totals,
                superseded=[o for o in [*old, *same_bill] if o != delivery_id],
            )
            checkpoint("before-commit")
    except duckdb.Error as exc:
        raise diagnose(wh.con, files, exc) from exc
    checkpoint("after-commit")
    return int(rows), totals, bool(same_bill), tag_key_collisions(keys)


def _accounts(pairs: list[list[str]], limit: int = 5) -> str:
    """``111 (payer 999), 222 (payer 999) and 3 more``."""
    shown = [f"{account or '(none)'} (payer {payer or '(none)'})" for account, payer in pairs]
    more = f" and {len(shown) - limit} more" if len(shown) > limit else ""
    return ", ".join(shown[:limit]) + more


def _same_bill(
    con: duckdb.DuckDBPyConnection,
    files: list[PreparedFile],
    delivery_id: str,
    period: date,
    *,
    replace: bool,
) -> list[str]:
    """The current deliveries of ``period`` from another source or report that hold usage
    accounts the new delivery holds: the same bill, which would count twice. Refused, unless
    ``replace`` (a new export of that bill): then they are returned, to be replaced. One that
    also holds accounts the new delivery lacks cannot be replaced by a part of it: refused."""
    params = {"delivery_id": delivery_id, "period": period}
    found = con.execute(SAME_BILL_SQL, params).fetchall()
    where = ", ".join(p.where for p in files)
    for _, source, report, shared, others in found:
        loaded = (
            f"the delivery of {period:%Y-%m} holds usage account(s) {_accounts(shared)} already "
            f"loaded from report {report!r} of source {source!r}"
        )
        if others:
            raise IngestError(
                f"{loaded}, which also holds {_accounts(others)}: loading both would count the "
                "shared accounts twice",
                where=where,
                fix="load each account's bill through one source and report",
            )
        if not replace:
            raise IngestError(
                f"{loaded}: loading both would count them twice",
                where=where,
                fix=f"if this is a second copy of that export, remove one of the two sources; if "
                f"it is a new export of the same bill, run `costlens ingest <this> --replace` once "
                f"to replace {source!r}, then remove that source from costlens.toml",
            )
    return [str(row[0]) for row in found]


def _refuse_other_periods(
    con: duckdb.DuckDBPyConnection, files: list[PreparedFile], delivery_id: str, period: date
) -> None:
    """Refuse a delivery of ``period`` holding lines of another (or no) billing period: they
    would escape the period swap of the next delivery and be counted twice."""
    row = con.execute(OTHER_PERIOD_SQL, {"delivery_id": delivery_id, "period": period}).fetchone()
    if row is None or not row[0]:
        return
    count, first, last = row
    found = "no billing period" if first is None else f"billing period {first:%Y-%m}"
    if last is not None and last != first:
        found = f"billing periods {first:%Y-%m} to {last:%Y-%m}"
    raise IngestError(
        f"the delivery of {period:%Y-%m} holds {count} line item(s) of {found}",
        where=", ".join(p.where for p in files),
        fix="keep each billing period's files under its own manifest (as AWS delivers them), "
        "or ingest the data folder without the manifest",
    )
