"""Where a bad value is: physical CSV lines (quoted newlines, big parallel reads), Parquet rows."""

from __future__ import annotations

import csv
import gzip
import io
from datetime import date
from pathlib import Path

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from test_ingest_support import CUR1_HEADER, Line, cur1_csv_bytes

from costlens.config import Settings
from costlens.errors import IngestError
from ingest import ingest
from ingest.diagnose import diagnose
from ingest.loader import prepare_files
from ingest.model import ExportFile

NOV = date(2024, 11, 1)
COST = "lineItem/UnblendedCost"


def _message(data_dir: Path, target: Path) -> str:
    with pytest.raises(IngestError) as err:
        ingest(Settings(data_dir=data_dir), str(target))
    return str(err.value)


def test_quoted_newline_before_the_bad_row(tmp_path: Path, data_dir: Path) -> None:
    text = gzip.decompress(cur1_csv_bytes(NOV, [Line()] * 5)).decode()
    table = list(csv.reader(io.StringIO(text)))
    table[2][table[0].index("resourceTags/user:CostCenter")] = "cc-1\nsecond line\nthird"
    table[4][table[0].index(COST)] = "n/a"  # data record 4
    out = io.StringIO()
    csv.writer(out).writerows(table)
    body = out.getvalue()
    target = tmp_path / "cur.csv.gz"
    target.write_bytes(gzip.compress(body.encode()))
    # The physical line an editor shows: found by plain line splitting, not by a CSV parser.
    [line] = [n for n, ln in enumerate(body.splitlines(), start=1) if ",n/a," in ln]
    assert line == 7
    message = _message(data_dir, target)
    assert message.startswith(f"cur.csv.gz: line 7 (record 4), column {COST}: cost 'n/a'"), message


def _big_cur1_csv(path: Path, rows: int, bad: dict[int, tuple[str, str]]) -> None:
    """A plain legacy CUR CSV of ``rows`` records written by DuckDB; ``bad`` maps a record
    number to (column, value)."""
    good = dict.fromkeys(CUR1_HEADER, "'x'")
    good.update(
        {
            "bill/BillingPeriodStartDate": "'2024-11-01T00:00:00.000Z'",
            "lineItem/LineItemType": "'Usage'",
            "lineItem/UsageStartDate": "'2024-11-01T00:00:00.000Z'",
            "lineItem/UsageEndDate": "'2024-11-01T01:00:00.000Z'",
            "lineItem/ResourceId": "'i-' || i",
            "lineItem/UsageAmount": "'1.0'",
            COST: "'0.0123'",
            "pricing/publicOnDemandCost": "'0.02'",
        }
    )
    exprs = []
    for name, expr in good.items():
        cases = " ".join(
            f"WHEN i = {int(n)} THEN '{value}'" for n, (col, value) in bad.items() if col == name
        )
        exprs.append(
            f'CASE {cases} ELSE {expr} END AS "{name}"' if cases else f'{expr} AS "{name}"'
        )
    with duckdb.connect() as con:
        con.execute(
            f"COPY (SELECT {', '.join(exprs)} FROM range(1, {rows + 1}) t(i) ORDER BY i) "
            f"TO '{path}' (HEADER)"
        )


def test_line_number_of_a_file_read_in_parallel(tmp_path: Path, data_dir: Path) -> None:
    target = tmp_path / "cur.csv"
    # 200k records (~24 MB): DuckDB splits the file between threads. The first bad value in
    # file order is reported, whatever its column; a later one is not.
    _big_cur1_csv(
        target,
        200_000,
        {
            170_000: ("lineItem/UsageAmount", "lots"),
            190_000: (COST, "n/a"),
            199_999: ("lineItem/UsageStartDate", "soon"),
        },
    )
    assert target.stat().st_size > 16 << 20
    message = _message(data_dir, target)
    # One line per record here, and the header is line 1.
    assert message.startswith(
        "cur.csv: line 170001, column lineItem/UsageAmount: quantity 'lots' is not a number"
    ), message


def test_diagnosis_runs_in_file_order_and_restores_the_settings(
    tmp_path: Path, con: duckdb.DuckDBPyConnection
) -> None:
    path = tmp_path / "cur.csv"
    _big_cur1_csv(path, 1000, {600: ("lineItem/UsageEndDate", "2024-02-30T00:00:00Z")})
    con.execute("SET threads = 2")
    con.execute("SET preserve_insertion_order = false")
    files = [ExportFile("cur.csv", path.stat().st_size, None, path)]
    prepared = prepare_files(con, files, tmp_path / "unzipped", "auto")
    error = diagnose(con, prepared, duckdb.ConversionException("from the load"))
    assert str(error).startswith(
        "cur.csv: line 601, column lineItem/UsageEndDate: timestamp '2024-02-30T00:00:00Z'"
    )
    settings = "SELECT current_setting('threads'), current_setting('preserve_insertion_order')"
    assert con.execute(settings).fetchone() == (2, False)


def test_parquet_text_cost_names_the_row(tmp_path: Path, data_dir: Path) -> None:
    start = pa.array([date(2024, 11, 1)] * 3, pa.date32())
    table = pa.table(
        {
            "bill_billing_period_start_date": start,
            "line_item_line_item_type": ["Usage"] * 3,
            "line_item_unblended_cost": ["1.5", "2", "1,5"],
            "line_item_usage_start_date": start,
            "resource_tags_user_cost_center": ["a", "b", "c"],
        }
    )
    target = tmp_path / "cur.parquet"
    pq.write_table(table, target)
    message = _message(data_dir, target)
    assert message.startswith(
        "cur.parquet: row 3, column line_item_unblended_cost: cost '1,5' is not a number"
    ), message
