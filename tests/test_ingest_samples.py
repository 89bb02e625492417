"""Ingest of the real public exports in ../shared/samples: totals to the last decimal.

The expected figures are the ones ../shared/samples/README.md states (computed independently of
costlens); the FOCUS provider of each billing account is read from the raw file with ``csv``.
"""

from __future__ import annotations

import csv
import gzip
import shutil
import zipfile
from decimal import Decimal
from pathlib import Path

import duckdb
import pytest

from costlens.config import Settings
from ingest import ingest

CUR1_CSV = "cur1-csv-anonymized/sample-anonymous-aws-export-dataset.csv"
FOCUS_CSV = "focus-1.0/focus_sample.csv"


def _by_type(data_dir: Path) -> dict[str, tuple[int, Decimal]]:
    with duckdb.connect(str(data_dir / "warehouse.duckdb"), read_only=True) as con:
        rows = con.execute(
            "SELECT line_item_type, count(*), SUM(unblended_cost) FROM line_items GROUP BY 1"
        ).fetchall()
    return {t: (n, Decimal(s)) for t, n, s in rows}


@pytest.mark.parametrize("packing", ["plain", "gzip", "zip"])
def test_legacy_csv_totals_per_line_item_type(
    samples_dir: Path, data_dir: Path, tmp_path: Path, packing: str
) -> None:
    src = samples_dir / CUR1_CSV
    if packing == "plain":
        target = src
    elif packing == "gzip":
        target = tmp_path / "cur-00001.csv.gz"
        with src.open("rb") as fin, gzip.open(target, "wb") as fout:
            shutil.copyfileobj(fin, fout)
    else:
        target = tmp_path / "cur-00001.csv.zip"
        with zipfile.ZipFile(target, "w", zipfile.ZIP_DEFLATED) as zf:
            zf.write(src, "cur-00001.csv")
    report = ingest(Settings(data_dir=data_dir), str(target))

    assert _by_type(data_dir) == {
        "Usage": (1269, Decimal("1.6023086974")),
        "Tax": (12, Decimal("0.0800000000")),
    }
    [result] = report.deliveries
    assert (result.format, result.status, result.rows) == ("cur1-csv", "new", 1281)
    assert str(result.billing_period) == "2023-11-01"
    assert result.totals["unblended_cost"] == Decimal("1.6823086974")


def test_legacy_csv_charge_category_and_tax(samples_dir: Path, data_dir: Path) -> None:
    ingest(Settings(data_dir=data_dir), str(samples_dir / CUR1_CSV))
    with duckdb.connect(str(data_dir / "warehouse.duckdb"), read_only=True) as con:
        rows = con.execute(
            "SELECT charge_category, purchase_option, SUM(amortized_cost) FROM line_items "
            "GROUP BY ALL ORDER BY 1"
        ).fetchall()
    assert rows == [
        ("Tax", "OnDemand", Decimal("0.0800000000")),
        ("Usage", "OnDemand", Decimal("1.6023086974")),
    ]


def test_reingesting_the_same_file_is_a_noop(samples_dir: Path, data_dir: Path) -> None:
    settings = Settings(data_dir=data_dir)
    first = ingest(settings, str(samples_dir / CUR1_CSV))
    again = ingest(settings, str(samples_dir / CUR1_CSV))
    assert [d.status for d in again.deliveries] == ["unchanged"]
    assert again.deliveries[0].delivery_id == first.deliveries[0].delivery_id
    assert again.deliveries[0].totals == first.deliveries[0].totals
    assert not again.changed
    with duckdb.connect(str(data_dir / "warehouse.duckdb"), read_only=True) as con:
        assert con.execute("SELECT count(*) FROM line_items").fetchone() == (1281,)
        assert con.execute("SELECT count(*) FROM deliveries").fetchone() == (1,)


def _providers(path: Path) -> dict[str, str]:
    with path.open(newline="") as fh:
        return {row["BillingAccountId"]: row["ProviderName"] for row in csv.DictReader(fh)}


def test_focus_billed_cost_per_provider(samples_dir: Path, data_dir: Path) -> None:
    report = ingest(Settings(data_dir=data_dir), str(samples_dir / FOCUS_CSV))
    provider_of = _providers(samples_dir / FOCUS_CSV)
    with duckdb.connect(str(data_dir / "warehouse.duckdb"), read_only=True) as con:
        rows = con.execute(
            "SELECT payer_account_id, count(*), SUM(unblended_cost) FROM line_items GROUP BY 1"
        ).fetchall()
    per_provider = {provider_of[acct]: (n, Decimal(s)) for acct, n, s in rows}
    assert per_provider == {
        "AWS": (942, Decimal("18.0066386184")),
        "Microsoft": (51, Decimal("1.9765141858")),
        "Oracle": (7, Decimal("0.5370739247")),
    }
    # one file, two billing periods in its data: one delivery per period
    assert [(str(d.billing_period), d.rows) for d in report.deliveries] == [
        ("2024-09-01", 999),
        ("2024-10-01", 1),
    ]


def test_focus_nulls_and_messy_tag_keys(samples_dir: Path, data_dir: Path) -> None:
    ingest(Settings(data_dir=data_dir), str(samples_dir / FOCUS_CSV))
    with duckdb.connect(str(data_dir / "warehouse.duckdb"), read_only=True) as con:
        keys = {
            r[0]
            for r in con.execute(
                "SELECT DISTINCT unnest(map_keys(tags)) FROM line_items"
            ).fetchall()
        }
        nulls = con.execute(
            "SELECT count(*) FROM line_items WHERE region = 'NULL' OR resource_id = 'NULL'"
        ).fetchone()
    assert keys and all(k == k.strip() and k == k.lower() and " " not in k for k in keys)
    assert "org" in keys or not any("org" in k for k in keys)
    assert nulls == (0,)
