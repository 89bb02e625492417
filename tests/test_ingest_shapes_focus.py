"""FOCUS 1.0: the real sample as CSV and the same data as Parquet (costs ``double``, ``Tags`` a real
``map<string,string>`` column, timestamps in milliseconds: AWS's FOCUS 1.0 export types).

The sample mixes providers (AWS, Microsoft, Oracle) in one file. Decision (docs/ingest.md): every
provider's lines are loaded with their BilledCost, so the warehouse's totals are the file's
totals; rules can tell providers apart by account. Some Microsoft and Oracle costs carry 11
decimals: each is stored rounded half away from zero to 10 places, and the ledger total is the
sum of what was stored. Expected figures are computed here from the CSV text with ``decimal``.
"""

from __future__ import annotations

import csv
import json
from datetime import UTC, datetime
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from helpers import totals_by_period

from costlens.config import Settings
from ingest import ingest

FOCUS_CSV = "focus-1.0/focus_sample.csv"
TEN_PLACES = Decimal("1e-10")
COSTS = {
    "unblended_cost": "BilledCost",
    "amortized_cost": "EffectiveCost",
    "net_amortized_cost": "EffectiveCost",
    "list_cost": "ListCost",
}
MONEY_COLUMNS = ("BilledCost", "EffectiveCost", "ListCost", "ContractedCost")
FLOAT_COLUMNS = ("ConsumedQuantity", "PricingQuantity", "ContractedUnitPrice")
TIME_COLUMNS = ("BillingPeriodStart", "BillingPeriodEnd", "ChargePeriodStart", "ChargePeriodEnd")


def _stored(value: str) -> Decimal:
    return Decimal(value).quantize(TEN_PLACES, rounding=ROUND_HALF_UP)


def _records(samples_dir: Path) -> list[dict[str, str]]:
    with (samples_dir / FOCUS_CSV).open(newline="") as fh:
        return list(csv.DictReader(fh))


def _text_sums(records: list[dict[str, str]]) -> dict[tuple[str, str], Decimal]:
    """Per (billing period, cost column) sums of the CSV text, each value rounded as stored."""
    sums: dict[tuple[str, str], Decimal] = {}
    for r in records:
        period = r["BillingPeriodStart"][:10]
        for column, focus in COSTS.items():
            sums[period, column] = sums.get((period, column), Decimal(0)) + _stored(r[focus])
    return sums


def _as_parquet(records: list[dict[str, str]], path: Path) -> None:
    """The CSV's records as AWS's FOCUS Parquet types: double costs, ms timestamps, Tags map."""

    def value(name: str, text: str) -> object:
        if text == "NULL":
            return None
        if name in MONEY_COLUMNS or name in FLOAT_COLUMNS:
            return float(text)
        if name in TIME_COLUMNS:
            return datetime.fromisoformat(text).replace(tzinfo=UTC)
        if name == "Tags":
            return list(json.loads(text).items())
        return text

    names = list(records[0])
    types = {
        **{n: pa.float64() for n in (*MONEY_COLUMNS, *FLOAT_COLUMNS)},
        **{n: pa.timestamp("ms", tz="UTC") for n in TIME_COLUMNS},
        "Tags": pa.map_(pa.string(), pa.string()),
    }
    table = pa.table(
        {n: pa.array([value(n, r[n]) for r in records], types.get(n, pa.string())) for n in names}
    )
    pq.write_table(table, path)


def _per_provider(data_dir: Path, records: list[dict[str, str]]) -> dict[str, Decimal]:
    provider_of = {r["BillingAccountId"]: r["ProviderName"] for r in records}
    with duckdb.connect(str(data_dir / "warehouse.duckdb"), read_only=True) as con:
        rows = con.execute(
            "SELECT payer_account_id, SUM(unblended_cost) FROM line_items GROUP BY 1"
        ).fetchall()
    return {provider_of[acct]: Decimal(total) for acct, total in rows}


def _want_per_provider(records: list[dict[str, str]]) -> dict[str, Decimal]:
    out: dict[str, Decimal] = {}
    for r in records:
        out[r["ProviderName"]] = out.get(r["ProviderName"], Decimal(0)) + _stored(r["BilledCost"])
    return out


@pytest.mark.parametrize("shape", ["csv", "parquet"])
def test_focus_sample_totals_per_period_and_provider(
    samples_dir: Path, data_dir: Path, tmp_path: Path, shape: str
) -> None:
    records = _records(samples_dir)
    target = samples_dir / FOCUS_CSV
    if shape == "parquet":
        target = tmp_path / "focus-00001.snappy.parquet"
        _as_parquet(records, target)
    report = ingest(Settings(data_dir=data_dir), str(target))

    want = _text_sums(records)
    with duckdb.connect(str(data_dir / "warehouse.duckdb"), read_only=True) as con:
        assert totals_by_period(con, "line_items") == want
    for d in report.deliveries:  # ledger = sum of what was stored
        assert d.totals == {c: want[str(d.billing_period), c] for c in COSTS}
    assert sum(d.rows for d in report.deliveries) == len(records) == 1000

    per_provider = _want_per_provider(records)
    assert _per_provider(data_dir, records) == per_provider
    assert per_provider == {  # ../shared/samples/README.md's figures
        "AWS": Decimal("18.0066386184"),
        "Microsoft": Decimal("1.9765141858"),
        "Oracle": Decimal("0.5370739247"),
    }
    # Rounding each 11-decimal cost: within half a unit of the 10th place per line of the
    # exact total (Microsoft's exact 1.97651418586 would itself round to ...859).
    exact = sum(Decimal(r["BilledCost"]) for r in records if r["ProviderName"] == "Microsoft")
    assert exact == Decimal("1.97651418586")
    assert abs(per_provider["Microsoft"] - exact) <= 6 * Decimal("0.5e-10")


def test_focus_parquet_tags_map_column(samples_dir: Path, data_dir: Path, tmp_path: Path) -> None:
    records = _records(samples_dir)
    path = tmp_path / "focus.parquet"
    _as_parquet(records, path)
    ingest(Settings(data_dir=data_dir), str(path))
    tagged = next(r for r in records if r["Tags"] != "NULL" and "application" in r["Tags"])
    with duckdb.connect(str(data_dir / "warehouse.duckdb"), read_only=True) as con:
        [(tags,)] = con.execute(
            "SELECT tags FROM line_items WHERE resource_id = ? AND usage_start = ?"
            " AND unblended_cost = ?",
            [
                tagged["ResourceId"],
                datetime.fromisoformat(tagged["ChargePeriodStart"]),
                _stored(tagged["BilledCost"]),
            ],
        ).fetchall()
        empty = con.execute("SELECT count(*) FROM line_items WHERE tags = MAP {}").fetchone()
    assert tags == {k.strip(): v for k, v in json.loads(tagged["Tags"]).items()}
    assert empty == (sum(1 for r in records if r["Tags"] in ("NULL", "{}")),)
