"""Find where a failed load broke: the file, and the line, column and value at fault.

Runs only after DuckDB refused a delivery (the fast path never pays for it). Each file is read on
its own with one thread and insertion order preserved, so row numbers follow the file whatever
its size. The values checked are exactly the text casts of the format's SELECT (costs, timestamps,
quantities), with ``TRY_CAST``; the first bad value in file order is reported.

Positions: in a CSV, ``line N`` is the physical line of the decompressed file where the record
starts (the header is line 1), as an editor or ``zcat | sed -n Np`` shows it; when a quoted
value spanning several lines comes before it, the record number is given too
(``line 7 (record 4)``: the 4th data record). In Parquet, ``row N`` counts rows from 1.
"""

from __future__ import annotations

import csv
import gzip
import io
from collections.abc import Iterator
from contextlib import contextmanager
from decimal import Decimal, InvalidOperation
from pathlib import Path

import duckdb

from costlens.errors import IngestError, first_line
from costlens.schema import MONEY
from ingest.formats import FORMATS, cur1_csv
from ingest.formats.detect import DAMAGED_FIX, detail, not_gzip
from ingest.formats.readers import reader_sql
from ingest.model import PreparedFile
from ingest.normalize import quote, text_casts

__all__ = ["diagnose"]

COUNT_SQL = "SELECT count(*) FROM {reader}"
FIRST_BAD_SQL = """
SELECT rn, k, vals[k] FROM (
    SELECT row_number() OVER () AS rn, {first_bad} AS k, [{values}] AS vals FROM {reader}
) WHERE k IS NOT NULL ORDER BY rn LIMIT 1
"""
SETTINGS_SQL = "SELECT current_setting('threads'), current_setting('preserve_insertion_order')"

_WHAT = {MONEY: "cost", "TIMESTAMP": "timestamp", "DOUBLE": "quantity"}
_EXPECTED = {MONEY: "a number", "TIMESTAMP": "a date and time", "DOUBLE": "a number"}
_FIX = {
    MONEY: "correct or remove that value (costs are decimal numbers, e.g. 0.0123 or 1.2E-5)",
    "TIMESTAMP": "correct or remove that value (dates and times are ISO 8601, e.g. "
    "2024-11-01T00:00:00Z)",
    "DOUBLE": "correct or remove that value (quantities are numbers, e.g. 1.5 or 2E3)",
}
_SHOWN_CHARS = 60
_MONEY_LIMIT = "99999999.9999999999"


def diagnose(
    con: duckdb.DuckDBPyConnection, files: list[PreparedFile], exc: Exception
) -> IngestError:
    """Turn a failed load (DuckDB's, or an engine's reading the same files) into an error
    naming the file (and line, column, value) at fault."""
    with _file_order(con):
        for p in files:
            found = _diagnose_file(con, p)
            if found is not None:
                return found
    return IngestError(
        f"cannot load the delivery ({first_line(exc)})",
        where=", ".join(p.where for p in files),
        fix="check the files are complete exports; run with --debug for details",
    )


@contextmanager
def _file_order(con: duckdb.DuckDBPyConnection) -> Iterator[None]:
    """One thread, insertion order kept: ``row_number() OVER ()`` then counts in file order."""
    row = con.execute(SETTINGS_SQL).fetchone()
    assert row is not None
    threads, preserve = int(row[0]), str(row[1]).lower() == "true"
    con.execute("SET threads = 1")
    con.execute("SET preserve_insertion_order = true")
    try:
        yield
    finally:
        con.execute(f"SET threads = {threads:d}")
        con.execute(f"SET preserve_insertion_order = {'true' if preserve else 'false'}")


def _checked_columns(p: PreparedFile) -> list[tuple[str, str]]:
    """``(column as in the file, type)`` of the text values the format casts, in file order."""
    casts = text_casts(FORMATS[p.format].build_sql(p.columns, p.kind))
    if p.format == cur1_csv.NAME:  # the SELECT names the renamed (Athena) columns
        original = cur1_csv.renamed(p.columns)
        casts = {original.get(name, name): sql_type for name, sql_type in casts.items()}
    return [(c, casts[c]) for c in p.columns if c in casts]


def _bad_sql(col: str, sql_type: str) -> str:
    text = f"trim(CAST({quote(col)} AS VARCHAR))"
    return f"{text} IS NOT NULL AND {text} <> '' AND TRY_CAST({text} AS {sql_type}) IS NULL"


def _diagnose_file(con: duckdb.DuckDBPyConnection, p: PreparedFile) -> IngestError | None:
    broken = not_gzip(p.path, p.where) if p.kind == "csv" else None
    if broken is not None:  # checked first: DuckDB reads a damaged stream's garbage as CSV
        return broken
    reader = reader_sql(p.kind, focus=p.format == "focus")
    one = {"files": [str(p.path)]}
    try:
        con.execute(COUNT_SQL.format(reader=reader), one).fetchone()
    except duckdb.Error as inner:
        return IngestError(
            f"cannot read the file ({detail(inner, p.path, p.where)})",
            where=p.where,
            fix=DAMAGED_FIX,
        )
    checked = _checked_columns(p)
    if not checked:
        return None
    whens = " ".join(f"WHEN {_bad_sql(c, t)} THEN {i}" for i, (c, t) in enumerate(checked, start=1))
    sql = FIRST_BAD_SQL.format(
        first_bad=f"CASE {whens} END",
        values=", ".join(f"CAST({quote(c)} AS VARCHAR)" for c, _ in checked),
        reader=reader,
    )
    try:
        bad = con.execute(sql, one).fetchone()
    except duckdb.Error:  # the generic message (with DuckDB's own) is the best we have
        return None
    if bad is None:
        return None
    record, index, value = int(bad[0]), int(bad[1]), str(bad[2])
    col, sql_type = checked[index - 1]
    shown = value if len(value) <= _SHOWN_CHARS else value[:_SHOWN_CHARS] + "…"
    where = f"{p.where}: {_position(p, record)}, column {col}"
    if sql_type == MONEY and _is_number(value):
        return IngestError(
            f"cost {shown!r} is out of range: costs are kept as {MONEY}, at most "
            f"{_MONEY_LIMIT} in absolute value",
            where=where,
            fix="check the value (a cost this large is almost certainly a damaged export); "
            "re-download the file or let AWS re-deliver it",
        )
    return IngestError(
        f"{_WHAT[sql_type]} {shown!r} is not {_EXPECTED[sql_type]}", where=where, fix=_FIX[sql_type]
    )


def _is_number(text: str) -> bool:
    """True for a finite decimal number (``1e12``, ``-3.5``): then only its size is wrong."""
    try:
        return Decimal(text.strip()).is_finite()
    except InvalidOperation:
        return False


def _position(p: PreparedFile, record: int) -> str:
    """``line N`` (CSV, physical, header = 1; with the record when they differ) or ``row N``."""
    if p.kind == "parquet":
        return f"row {record}"
    line = _physical_line(p.path, record)
    if line is None:
        return f"record {record} after the header"
    return f"line {line}" if line == record + 1 else f"line {line} (record {record})"


def _physical_line(path: Path, record: int) -> int | None:
    """The line where data record ``record`` (1-based, after the header) starts, or None when
    Python's CSV reader does not see the file the way DuckDB did."""
    try:
        with path.open("rb") as raw:
            gzipped = raw.read(2) == b"\x1f\x8b"
            raw.seek(0)
            binary = gzip.GzipFile(fileobj=raw) if gzipped else raw
            text = io.TextIOWrapper(binary, encoding="utf-8", errors="replace", newline="")
            reader = csv.reader(text)
            ended, seen = 0, -1  # the header is record 0
            for row in reader:
                start, ended = ended + 1, reader.line_num
                if not row:  # DuckDB skips blank lines
                    continue
                seen += 1
                if seen == record:
                    return start
    except (OSError, EOFError, csv.Error, gzip.BadGzipFile):
        return None
    return None
