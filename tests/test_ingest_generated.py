"""The sample generator writes one set of line items in four formats (and AWS's layouts): each
ingests to exactly the same per-period totals, so each format's mapping is checked against the
three others."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from pathlib import Path

import duckdb
import pytest

from costlens.config import Settings
from costlens.sample import generate_sample
from ingest import ingest

FORMATS = ("cur2", "cur1-csv", "cur1-parquet", "focus")


@pytest.fixture(scope="module")
def generated(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("generated")
    for fmt in FORMATS:
        generate_sample(
            root / fmt, format=fmt, months=1, seed=5, scale=0.01, end_month=date(2025, 3, 1)
        )
    return {fmt: root / fmt for fmt in FORMATS}


def _totals(data_dir: Path) -> list[tuple[object, ...]]:
    with duckdb.connect(str(data_dir / "warehouse.duckdb"), read_only=True) as con:
        return con.execute(
            "SELECT billing_period, count(*), SUM(unblended_cost), SUM(amortized_cost),"
            " SUM(list_cost) FROM line_items GROUP BY 1 ORDER BY 1"
        ).fetchall()


@pytest.mark.slow
def test_every_format_ingests_to_the_same_totals(
    generated: dict[str, Path], tmp_path: Path
) -> None:
    results = {}
    for fmt, path in generated.items():
        report = ingest(Settings(data_dir=tmp_path / fmt), str(path))
        assert {d.format for d in report.deliveries} == {fmt}
        assert {d.status for d in report.deliveries} == {"new"}
        results[fmt] = _totals(tmp_path / fmt)
    reference = results["cur2"]
    assert reference and reference[0][0] == date(2025, 3, 1)
    assert all(isinstance(v, Decimal) for v in reference[0][2:])
    for fmt in FORMATS:
        assert results[fmt] == reference, fmt
