"""Format detection: exactly one format of ``ingest.formats.FORMATS`` recognizes a file."""

from __future__ import annotations

from pathlib import Path

import pytest

from costlens.errors import IngestError
from costlens.schema import EXPORT_FORMATS
from ingest.formats import FORMATS
from ingest.formats.detect import detect_format

_CUR = {"line_item_unblended_cost": "DOUBLE", "bill_billing_period_start_date": "TIMESTAMP"}
_MAP = "MAP(VARCHAR, VARCHAR)"
CASES = {
    "cur2": ({**_CUR, "resource_tags": _MAP}, "x/data/BILLING_PERIOD=2025-01/a.parquet"),
    "cur1-parquet": ({**_CUR, "resource_tags_user_app": "VARCHAR"}, "x/2025/a.parquet"),
    "cur1-csv": ({"lineItem/UnblendedCost": "VARCHAR", "bill/InvoiceId": "VARCHAR"}, "a.csv"),
    "focus": ({"BilledCost": "DECIMAL(18,6)", "ChargePeriodStart": "TIMESTAMP"}, "a.parquet"),
}


def test_every_format_detects_its_own_columns_and_only_them() -> None:
    assert set(CASES) == set(FORMATS) == set(EXPORT_FORMATS)
    for name, (columns, path) in CASES.items():
        assert detect_format(columns, Path(path)) == name
        assert [n for n, m in FORMATS.items() if m.recognizes(columns, Path(path))] == [name]


def test_a_cur2_csv_is_told_apart_by_its_folder() -> None:
    text = {c: "VARCHAR" for c in _CUR}
    assert detect_format(text, Path("e/data/BILLING_PERIOD=2025-01/a.csv.gz")) == "cur2"
    assert detect_format(text, Path("e/20250101-20250201/a.csv.gz")) == "cur1-parquet"


def test_unknown_and_mixed_columns_are_one_clear_error() -> None:
    with pytest.raises(IngestError, match=r"unknown export format \(columns: a, b\.\.\.\)"):
        detect_format({"a": "VARCHAR", "b": "VARCHAR"}, Path("x.csv"), "exports/x.csv")
    mixed = {**CASES["cur1-csv"][0], **CASES["cur1-parquet"][0]}
    with pytest.raises(IngestError, match="columns of cur1-csv and cur1-parquet at once") as err:
        detect_format(mixed, Path("x.csv"), "exports/x.csv")
    assert err.value.where == "exports/x.csv" and "set format" in (err.value.fix or "")
