"""Costs at the edges of DECIMAL(18,10): the storage rule, and what cannot be stored.

Rule (docs/ingest.md): each cost is kept to 10 decimal places, rounded half away from zero
(Python's ``ROUND_HALF_UP``); ``-0`` is 0; scientific notation of either sign is read exactly; a
Parquet double is read at its shortest decimal spelling. The ledger's totals are the sums of the
stored values. A cost of 10^8 or more in absolute value does not fit: the load is refused with an
error naming the file, the line (or Parquet row) and the column, and the period keeps its data.
"""

from __future__ import annotations

import gzip
from datetime import date, datetime
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from test_ingest_support import Line, cur1_csv_bytes

from costlens.config import Settings
from costlens.errors import IngestError
from ingest import ingest

NOV = date(2024, 11, 1)

# (text as exported, value stored) -- the stored values worked out by hand from the rule.
EDGE_CASES = [
    ("0.12345678905", "0.1234567891"),  # a tie rounds away from zero
    ("-0.12345678905", "-0.1234567891"),
    ("0.123456789049999", "0.1234567890"),  # below the tie
    ("0.00000000005", "0.0000000001"),
    ("0.000000000049", "0"),
    ("-0", "0"),
    ("-0.0", "0"),
    ("-0E0", "0"),
    ("1.5E-7", "0.00000015"),
    ("-1.2e-5", "-0.000012"),
    ("2.5E+3", "2500"),
    ("-4E+2", "-400"),
    ("6.123233995736766E-17", "0"),
    ("1.2345678901234567890123E+3", "1234.5678901235"),
    ("99999999.9999999999", "99999999.9999999999"),  # the largest cost that fits
    ("-99999999.9999999999", "-99999999.9999999999"),
]


def _stored(data_dir: Path) -> list[Decimal]:
    with duckdb.connect(str(data_dir / "warehouse.duckdb"), read_only=True) as con:
        rows = con.execute("SELECT unblended_cost FROM line_items ORDER BY resource_id").fetchall()
    return [r[0] for r in rows]


def _csv(path: Path, costs: list[str]) -> Path:
    lines = [Line(unblended_cost=c, resource_id=f"r{i:03d}") for i, c in enumerate(costs)]
    data = cur1_csv_bytes(NOV, lines)
    path.write_bytes(data)
    return path


def test_rounding_rule_negative_zero_and_scientific_notation(
    tmp_path: Path, data_dir: Path
) -> None:
    texts = [text for text, _ in EDGE_CASES]
    report = ingest(Settings(data_dir=data_dir), str(_csv(tmp_path / "cur.csv.gz", texts)))

    stored = _stored(data_dir)
    assert stored == [Decimal(v) for _, v in EDGE_CASES]
    # the rule, independently: Python's decimal, half away from zero at 10 places
    assert stored == [Decimal(t).quantize(Decimal("1e-10"), ROUND_HALF_UP) for t in texts]
    negative_zeros = [v for v, t in zip(stored, texts, strict=True) if t[0] == "-" and v == 0]
    assert len(negative_zeros) == 3 and not any(v.is_signed() for v in negative_zeros)
    [delivery] = report.deliveries
    assert delivery.totals["unblended_cost"] == sum(stored) == Decimal("3334.6913350626")


def test_a_cost_too_large_names_file_line_and_column(tmp_path: Path, data_dir: Path) -> None:
    settings = Settings(data_dir=data_dir)
    path = _csv(tmp_path / "cur.csv.gz", ["1.00", "2.00"])
    ingest(settings, str(path))
    _csv(path, ["1.00", "2.00", "100000000", "3.00"])  # 10^8: one digit too many

    with pytest.raises(IngestError) as caught:
        ingest(settings, str(path))
    message = str(caught.value)
    assert message.startswith("cur.csv.gz: line 4, column lineItem/UnblendedCost: cost ")
    assert "'100000000' is out of range" in message and "Fix:" in message
    assert _stored(data_dir) == [Decimal("1.00"), Decimal("2.00")]  # the period kept its data
    assert gzip.decompress(path.read_bytes()).decode().splitlines()[3].count("100000000") == 1


def test_a_parquet_double_too_large_names_the_row(tmp_path: Path, data_dir: Path) -> None:
    start = datetime(2024, 11, 1)
    table = pa.table(
        {
            "bill_billing_period_start_date": pa.array([start] * 3, pa.timestamp("ms")),
            "line_item_line_item_type": ["Usage"] * 3,
            "line_item_usage_start_date": pa.array([start] * 3, pa.timestamp("ms")),
            "line_item_unblended_cost": pa.array([1.0, 1234567.89, 2.5e9], pa.float64()),
            "resource_tags_user_team": ["a", "b", "c"],
        }
    )
    pq.write_table(table, tmp_path / "cur-00001.snappy.parquet")
    with pytest.raises(IngestError) as caught:
        ingest(Settings(data_dir=data_dir), str(tmp_path))
    assert str(caught.value).startswith(
        "cur-00001.snappy.parquet: row 3, column line_item_unblended_cost: cost '2500000000.0' is "
        "out of range"
    )
