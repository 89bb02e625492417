"""Every line of a delivery belongs to the delivery's billing period, or the delivery is refused.

A line without a billing period used to be dropped silently when a file was read without a
manifest (its cost missing from every total), and a line of another period inside a manifest's
delivery was loaded under that other period, where the next delivery of that period could not
replace it (counted twice). Both are now one ``IngestError`` and the warehouse is unchanged.
"""

from __future__ import annotations

import gzip
from datetime import date
from decimal import Decimal
from pathlib import Path

import duckdb
import pytest
from test_ingest_support import Line, cur1_csv_bytes, write_cur1_report, write_cur2_export

from costlens.config import Settings
from costlens.errors import IngestError
from ingest import ingest

NOV = date(2024, 11, 1)
TWO_LINES = [Line(unblended_cost="1.00"), Line(unblended_cost="2.00")]
_NOV_START = "999999999999,2024-11-01T00:00:00.000Z"


def _rewrite_second_line(path: Path, billing_period_start: str) -> None:
    """Replace the billing period start of the file's second line item."""
    lines = gzip.decompress(path.read_bytes()).decode().splitlines()
    assert _NOV_START in lines[2]
    lines[2] = lines[2].replace(_NOV_START, f"999999999999,{billing_period_start}", 1)
    path.write_bytes(gzip.compress(("\n".join(lines) + "\n").encode()))


def _line_items(data_dir: Path) -> list[tuple[object, ...]]:
    with duckdb.connect(str(data_dir / "warehouse.duckdb"), read_only=True) as con:
        return con.execute(
            "SELECT billing_period, unblended_cost FROM line_items ORDER BY ALL"
        ).fetchall()


def test_a_line_without_billing_period_is_refused_not_dropped(
    tmp_path: Path, data_dir: Path
) -> None:
    export = tmp_path / "cur.csv.gz"
    export.write_bytes(cur1_csv_bytes(NOV, TWO_LINES))
    _rewrite_second_line(export, "")
    with pytest.raises(IngestError) as info:
        ingest(Settings(data_dir=data_dir), str(export))
    assert "cur.csv.gz" in str(info.value)
    assert "1 line item(s) have no billing period" in str(info.value)
    assert "Fix:" in str(info.value)
    assert _line_items(data_dir) == []


@pytest.mark.parametrize(
    ("start", "found"),
    [("2024-10-01T00:00:00.000Z", "billing period 2024-10"), ("", "no billing period")],
)
def test_a_manifest_delivery_with_lines_of_another_period_is_refused(
    tmp_path: Path, data_dir: Path, start: str, found: str
) -> None:
    good = tmp_path / "good"
    write_cur1_report(good, "cur", NOV, [Line(unblended_cost="7.77")], "a1")
    ingest(Settings(data_dir=data_dir), str(good))
    before = _line_items(data_dir)
    bad = tmp_path / "bad"
    write_cur1_report(bad, "cur", NOV, TWO_LINES, "a2")
    [data] = list(bad.rglob("*.csv.gz"))
    _rewrite_second_line(data, start)
    with pytest.raises(IngestError) as info:
        ingest(Settings(data_dir=data_dir), str(bad))
    assert f"the delivery of 2024-11 holds 1 line item(s) of {found}" in str(info.value)
    assert "cur-00001.csv.gz" in str(info.value)
    assert before == [(NOV, Decimal("7.7700000000"))]
    assert _line_items(data_dir) == before


def _rename_period_folders(root: Path, old: str, new: str) -> None:
    for path in sorted(root.rglob("*"), key=lambda p: -len(p.parts)):
        if old in path.name:
            path.rename(path.with_name(path.name.replace(old, new)))


@pytest.mark.parametrize("flavour", ["cur2", "cur1"])
def test_a_period_folder_naming_month_13_is_an_ingest_error(
    tmp_path: Path, data_dir: Path, flavour: str
) -> None:
    root = tmp_path / "exports"
    if flavour == "cur2":
        write_cur2_export(root, "cur2", NOV, [Line()], "e1")
        _rename_period_folders(root, "BILLING_PERIOD=2024-11", "BILLING_PERIOD=2024-13")
    else:
        write_cur1_report(root, "cur", NOV, [Line()], "a1")
        _rename_period_folders(root, "20241101-20241201", "20241301-20241401")
    with pytest.raises(IngestError) as info:
        ingest(Settings(data_dir=data_dir), str(root))
    assert "Manifest.json: the manifest's folder names no valid billing period (2024-13)" in str(
        info.value
    )
    assert "Fix:" in str(info.value)
