"""Bad input: one IngestError naming the file (row, column) and the fix; the warehouse untouched."""

from __future__ import annotations

import csv
import gzip
import io
import json
import os
import random
import subprocess
import sys
from collections.abc import Callable
from datetime import date, datetime
from pathlib import Path

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from test_ingest_support import CUR1_HEADER, Line, cur1_csv_bytes, write_cur2_export

from costlens.config import Settings
from costlens.errors import IngestError
from ingest import ingest

NOV = date(2024, 11, 1)


def _snapshot(data_dir: Path) -> tuple[list[tuple[object, ...]], ...]:
    with duckdb.connect(str(data_dir / "warehouse.duckdb"), read_only=True) as con:
        return (
            con.execute(
                "SELECT * EXCLUDE (tags), CAST(tags AS VARCHAR) FROM line_items ORDER BY ALL"
            ).fetchall(),
            con.execute("SELECT * FROM deliveries ORDER BY ALL").fetchall(),
        )


@pytest.fixture
def loaded(tmp_path: Path, data_dir: Path) -> Path:
    """A warehouse holding one good delivery already."""
    good = tmp_path / "good"
    write_cur2_export(good, "cur2", NOV, [Line(unblended_cost="7.77")], "exec-1")
    ingest(Settings(data_dir=data_dir), str(good))
    return data_dir


def _csv(path: Path, body: bytes) -> Path:
    path.write_bytes(body)
    return path


def _corrupt_gzip(d: Path) -> Path:
    good = cur1_csv_bytes(NOV, [Line()] * 50)
    return _csv(d / "cur-00001.csv.gz", good[:10] + b"\x00garbage" + good[40:])


def _gzip_damaged_inside(d: Path) -> Path:
    """A gzip CSV whose start reads well and whose middle is damaged: DuckDB decompresses the
    damage into garbage and called it "CSV Error on Line: 23990"."""
    good = cur1_csv_bytes(NOV, [Line(unblended_cost=f"{i / 1000}") for i in range(40_000)])
    at = len(good) * 6 // 10
    noise = bytes(random.Random(1).randrange(256) for _ in range(16))
    return _csv(d / "cur-00001.csv.gz", good[:at] + noise + good[at + 16 :])


def _truncated_gzip(d: Path) -> Path:
    good = cur1_csv_bytes(NOV, [Line(unblended_cost=f"{i / 1000}") for i in range(40_000)])
    return _csv(d / "cur-00001.csv.gz", good[: len(good) // 2])


def _truncated_parquet(d: Path) -> Path:
    write_cur2_export(d, "x", NOV, [Line()] * 20, "e")
    [src] = list(d.rglob("*.parquet"))
    out = d / "truncated.parquet"
    out.write_bytes(src.read_bytes()[: src.stat().st_size // 2])
    return out


def _missing_column(d: Path) -> Path:
    header = [h for h in CUR1_HEADER if h != "lineItem/UnblendedCost"]
    return _csv(d / "cur.csv.gz", cur1_csv_bytes(NOV, [Line()], header))


def _non_numeric_cost(d: Path) -> Path:
    lines = [Line(unblended_cost="1.5"), Line(unblended_cost="1.2E-5"), Line(unblended_cost="n/a")]
    return _csv(d / "cur.csv.gz", cur1_csv_bytes(NOV, lines))


def _cur1_with(rows: int, record: int, column: str, value: str) -> bytes:
    """A legacy CUR CSV of ``rows`` good lines where data record ``record`` (1-based) has
    ``value`` in ``column``."""
    table = list(
        csv.reader(io.StringIO(gzip.decompress(cur1_csv_bytes(NOV, [Line()] * rows)).decode()))
    )
    table[record][table[0].index(column)] = value
    out = io.StringIO()
    csv.writer(out).writerows(table)
    return gzip.compress(out.getvalue().encode())


def _bad_usage_end(d: Path) -> Path:
    # November has 30 days.
    return _csv(d / "cur.csv.gz", _cur1_with(4, 2, "lineItem/UsageEndDate", "2024-11-31T00:00:00Z"))


def _bad_billing_period(d: Path) -> Path:
    return _csv(d / "cur.csv.gz", _cur1_with(3, 3, "bill/BillingPeriodStartDate", "Nov 2024"))


def _non_numeric_usage(d: Path) -> Path:
    return _csv(d / "cur.csv.gz", _cur1_with(5, 3, "lineItem/UsageAmount", "12 hrs"))


# Line 3 holds FOCUS's NULLs (not errors); line 4 a start time with no day.
FOCUS_CSV = b"""BillingAccountId,BillingPeriodStart,ChargePeriodStart,ChargePeriodEnd,\
ChargeCategory,BilledCost,EffectiveCost,ConsumedQuantity
999999999999,2024-11-01T00:00:00Z,2024-11-02T00:00:00Z,2024-11-02T01:00:00Z,Usage,1.5,1.5,1
999999999999,2024-11-01T00:00:00Z,2024-11-02T01:00:00Z,NULL,Tax,0.2,0.2,NULL
999999999999,2024-11-01T00:00:00Z,2024-11-0 02:00:00,2024-11-02T03:00:00Z,Usage,1.5,1.5,1
"""


def _bad_focus_charge_period(d: Path) -> Path:
    return _csv(d / "focus.csv", FOCUS_CSV)


def _unknown_format(d: Path) -> Path:
    return _csv(d / "people.csv", b"name,age\nada,36\n")


def _empty_file(d: Path) -> Path:
    return _csv(d / "cur-00001.csv.gz", b"")


def _manifest_missing_file(d: Path) -> Path:
    write_cur2_export(d, "cur2", NOV, [Line()], "exec-9")
    for p in d.rglob("*.parquet"):
        p.unlink()
    return d


def _manifest_lists_nothing(d: Path) -> Path:
    write_cur2_export(d, "cur2", NOV, [Line()], "exec-8")
    [manifest] = list(d.rglob("*-Manifest.json"))
    body = json.loads(manifest.read_text())
    body.pop("dataFiles", None)
    body.pop("reportKeys", None)
    manifest.write_text(json.dumps(body))
    return d


DAMAGED = (
    "Fix: the file is damaged or truncated: re-download it (from S3: delete its staged copy "
    "under <data_dir>/staging) or let AWS re-deliver it"
)

CASES: dict[str, tuple[Callable[[Path], Path], list[str]]] = {
    "corrupt gzip": (
        _corrupt_gzip,
        ["cur-00001.csv.gz: the file is not valid gzip: it is damaged (", DAMAGED],
    ),
    "gzip damaged inside": (
        _gzip_damaged_inside,
        ["cur-00001.csv.gz: the file is not valid gzip: it is damaged (CRC check failed", DAMAGED],
    ),
    "truncated gzip": (
        _truncated_gzip,
        ["cur-00001.csv.gz: the file is not valid gzip: it is truncated (", DAMAGED],
    ),
    "truncated parquet": (
        _truncated_parquet,
        ["truncated.parquet: cannot read the parquet file (", "'truncated.parquet'", DAMAGED],
    ),
    "missing column": (_missing_column, ["cur.csv.gz", "lineItem/UnblendedCost", "Fix:"]),
    "non-numeric cost": (
        _non_numeric_cost,
        ["cur.csv.gz", "line 4", "column lineItem/UnblendedCost", "'n/a'", "Fix:"],
    ),
    "bad usage end": (
        _bad_usage_end,
        [
            "cur.csv.gz: line 3, column lineItem/UsageEndDate: timestamp '2024-11-31T00:00:00Z' "
            "is not a date and time. Fix: correct or remove that value (dates and times are ISO "
            "8601, e.g. 2024-11-01T00:00:00Z)"
        ],
    ),
    "bad billing period": (
        _bad_billing_period,
        ["line 4, column bill/BillingPeriodStartDate: timestamp 'Nov 2024' is not a date"],
    ),
    "non-numeric usage amount": (
        _non_numeric_usage,
        [
            "cur.csv.gz: line 4, column lineItem/UsageAmount: quantity '12 hrs' is not a number."
            " Fix: correct or remove that value (quantities are numbers, e.g. 1.5 or 2E3)"
        ],
    ),
    "bad FOCUS charge period start": (
        _bad_focus_charge_period,
        [
            "focus.csv: line 4, column ChargePeriodStart: timestamp '2024-11-0 02:00:00' is not a"
            " date and time. Fix:"
        ],
    ),
    "unknown format": (_unknown_format, ["people.csv", "unknown export format", "Fix:"]),
    "empty file": (_empty_file, ["cur-00001.csv.gz", "the file is empty", "Fix:"]),
    "manifest lists missing file": (
        _manifest_missing_file,
        ["cur2-Manifest.json", "cur2-00001.snappy.parquet", "not there", "Fix:"],
    ),
    "manifest lists no files": (
        _manifest_lists_nothing,
        ["cur2-Manifest.json", "lists no data files", "Fix:"],
    ),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_bad_input_names_file_and_fix_and_leaves_warehouse(
    case: str, loaded: Path, tmp_path: Path
) -> None:
    make, expected = CASES[case]
    bad_dir = tmp_path / "bad"
    bad_dir.mkdir()
    target = make(bad_dir)
    before = _snapshot(loaded)
    with pytest.raises(IngestError) as err:
        ingest(Settings(data_dir=loaded), str(target))
    message = str(err.value)
    for part in expected:
        assert part in message, (part, message)
    assert "CSV Error" not in message
    assert _snapshot(loaded) == before


def _bad_parquet_cost(d: Path) -> Path:
    start = pa.array([NOV] * 2, pa.date32())
    table = pa.table(
        {
            "bill_billing_period_start_date": start,
            "line_item_line_item_type": ["Usage"] * 2,
            "line_item_unblended_cost": ["1.5", "1,5"],
            "line_item_usage_start_date": start,
            "resource_tags_user_team": ["a", "b"],
        }
    )
    pq.write_table(table, d / "cur.parquet")
    return d / "cur.parquet"


def _truncated_parquet_alone(d: Path) -> Path:
    whole = _bad_parquet_cost(d).read_bytes()
    (d / "cur.parquet").unlink()
    return _csv(d / "truncated.parquet", whole[: len(whole) // 2])


NAMED_BY_KEY: dict[str, tuple[Callable[[Path], Path], str]] = {
    "corrupt gzip (csv)": (_corrupt_gzip, ": the file is not valid gzip"),
    "gzip damaged inside (csv)": (_gzip_damaged_inside, ": the file is not valid gzip"),
    "non-numeric cost (csv)": (_non_numeric_cost, ": line 4, column lineItem/UnblendedCost:"),
    "missing column (csv)": (_missing_column, " (column lineItem/UnblendedCost): required"),
    "truncated (parquet)": (_truncated_parquet_alone, ": cannot read the parquet file"),
    "text cost (parquet)": (_bad_parquet_cost, ": row 2, column line_item_unblended_cost:"),
    "unknown format": (_unknown_format, ": unknown export format"),
}


@pytest.mark.parametrize("case", sorted(NAMED_BY_KEY))
def test_csv_and_parquet_errors_name_the_file_by_its_key(
    case: str, data_dir: Path, tmp_path: Path
) -> None:
    """One way to name a file, whatever the format and the problem: its key, the path under
    the folder given (or the S3 key), never an absolute or staged path."""
    make, after = NAMED_BY_KEY[case]
    folder = tmp_path / "exports" / "cur" / "20241101-20241201"
    folder.mkdir(parents=True)
    name = make(folder).name
    with pytest.raises(IngestError) as err:
        ingest(Settings(data_dir=data_dir), str(tmp_path / "exports"))
    message = str(err.value)
    assert message.startswith(f"cur/20241101-20241201/{name}{after}"), message
    assert str(tmp_path) not in message, message


def test_cli_prints_one_line_and_exits_non_zero(loaded: Path, tmp_path: Path) -> None:
    target = _non_numeric_cost(tmp_path)
    env = {**os.environ, "COSTLENS_DATA_DIR": str(loaded)}
    out = subprocess.run(
        [sys.executable, "-m", "costlens", "ingest", str(target)],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert out.returncode == 1
    lines = [ln for ln in out.stderr.splitlines() if ln.startswith("costlens: error:")]
    assert len(lines) == 1 and "line 4, column lineItem/UnblendedCost" in out.stderr
    assert "Traceback" not in out.stderr


def test_earlier_periods_stay_loaded_when_a_later_one_fails(tmp_path: Path, data_dir: Path) -> None:
    exports = tmp_path / "exports"
    write_cur2_export(exports, "cur2", NOV, [Line(unblended_cost="1.00")], "exec-nov")
    write_cur2_export(exports, "cur2", date(2024, 12, 1), [Line()], "exec-dec")
    manifest = exports / "cur2/metadata/BILLING_PERIOD=2024-12/cur2-Manifest.json"
    body = json.loads(manifest.read_text())
    body["dataFiles"] = ["s3://billing/exports/cur2/data/BILLING_PERIOD=2024-12/gone.parquet"]
    manifest.write_text(json.dumps(body))
    with pytest.raises(IngestError, match=r"gone\.parquet"):
        ingest(Settings(data_dir=data_dir), str(exports))
    lines, ledger = _snapshot(data_dir)
    assert [(r[4], r[5], r[-3]) for r in ledger] == [(NOV, "exec-nov", "current")]
    assert len(lines) == 1


def test_gzip_that_is_plain_text_still_reads(tmp_path: Path, data_dir: Path) -> None:
    body = gzip.decompress(cur1_csv_bytes(NOV, [Line(unblended_cost="2.5")]))
    target = _csv(tmp_path / "cur.csv", body)
    [d] = ingest(Settings(data_dir=data_dir), str(target)).deliveries
    assert str(d.totals["unblended_cost"]) == "2.5000000000"


def test_corrupt_status_file_is_named(loaded: Path, tmp_path: Path) -> None:
    exports = tmp_path / "exports"
    data = exports / "pq" / "pq" / "year=2024" / "month=11"
    data.mkdir(parents=True)
    table = pa.table(
        {
            "bill_billing_period_start_date": pa.array([datetime(2024, 11, 1)]),
            "line_item_line_item_type": ["Usage"],
            "line_item_unblended_cost": [2.5],
            "line_item_usage_start_date": pa.array([datetime(2024, 11, 1)]),
        }
    )
    pq.write_table(table, data / "pq-00001.snappy.parquet")
    status = exports / "pq" / "cost_and_usage_data_status"
    status.mkdir()
    good = io.BytesIO()
    pq.write_table(pa.table({"status": ["READY"]}), good)
    (status / "cost_and_usage_data_status.parquet").write_bytes(good.getvalue()[:-20])
    before = _snapshot(loaded)
    with pytest.raises(IngestError) as err:
        ingest(Settings(data_dir=loaded), str(exports))
    message = str(err.value)
    assert message.startswith(
        f"{exports}/pq/cost_and_usage_data_status/cost_and_usage_data_status.parquet: "
        "cannot read the report's status file ("
    ), message
    assert message.endswith(
        "Fix: the file is damaged or truncated: wait for AWS to rewrite it (it is replaced on "
        "each delivery) and run again, or delete its staged copy"
    ), message
    assert _snapshot(loaded) == before
