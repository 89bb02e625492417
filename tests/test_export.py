"""``costlens export`` end to end: files from the real pipeline whose totals equal the warehouse's
to the cent in every cost type, a reconciliation that is exactly 0.00 (or loudly not, after a line
item is changed), the workbook read back and opened by LibreOffice, and bad arguments."""

from __future__ import annotations

import csv
import json
import os
import shutil
import subprocess
import sys
from datetime import date
from decimal import Decimal
from pathlib import Path

import duckdb
import openpyxl
import pyarrow.parquet as pq
import pytest
from app_snapshot import DemoData, build_demo_data

from costlens.attribution import attribute, load_owners, load_rules
from costlens.config import Settings
from costlens.queries import open_snapshot
from costlens.refresh import refresh
from costlens.warehouse import open_warehouse
from ingest import ingest
from reports.exports.build import build_showback

PERIOD = "2025-06"
COST_COLUMNS = {"unblended": "unblended_cost", "amortized": "amortized_cost",
                "net_amortized": "net_amortized_cost"}  # fmt: skip


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> DemoData:
    return build_demo_data(tmp_path_factory.mktemp("export"))


def _cli(data: DemoData, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "costlens", *args],
        env={**os.environ, **data.env()}, capture_output=True, text=True, timeout=300,
        check=False,
    )  # fmt: skip


def _line_items_total(data: DemoData, column: str, period: str = PERIOD) -> Decimal:
    with duckdb.connect(str(data.data_dir / "warehouse.duckdb"), read_only=True) as con:
        row = con.execute(
            f"SELECT SUM({column}) FROM line_items WHERE billing_period = $p",
            {"p": date.fromisoformat(f"{period}-01")},
        ).fetchone()
    assert row is not None and row[0] is not None
    return Decimal(row[0])


@pytest.mark.parametrize("cost_type", sorted(COST_COLUMNS))
def test_csv_and_parquet_detail_equal_the_line_items_exactly(
    demo: DemoData, tmp_path: Path, cost_type: str
) -> None:
    want = _line_items_total(demo, COST_COLUMNS[cost_type])
    out = _cli(
        demo,
        "export",
        "--period",
        PERIOD,
        "--format",
        "csv",
        "--cost-type",
        cost_type,
        "--by",
        "cost_center,region",
        "--out",
        str(tmp_path / "m.csv"),
        "--json",
    )
    assert out.returncode == 0, out.stderr
    payload = json.loads(out.stdout)
    assert Decimal(payload["total"]) == want
    assert payload["reconciled"] is True
    with (tmp_path / "m.csv").open(newline="") as f:
        rows = list(csv.DictReader(f))
    assert {"owner", "microservice", "service_code", "account_id", "cost_center", "region"} <= set(
        rows[0]
    )
    assert sum(Decimal(r["cost"]) for r in rows) == want  # exact: no float on the way
    assert len(rows) == payload["detail_rows"]
    with (tmp_path / "m.reconciliation.csv").open(newline="") as f:
        checks = list(csv.DictReader(f))
    assert checks and all(Decimal(r["difference"]) == 0 for r in checks)
    invoices = [r for r in checks if r["check"] == "allocations"]
    assert sum(Decimal(r["line_items"]) for r in invoices) == want

    pq_out = _cli(demo, "export", "--period", PERIOD, "--cost-type", cost_type,
                  "--out", str(tmp_path / "m.parquet"))  # fmt: skip
    assert pq_out.returncode == 0, pq_out.stderr
    table = pq.read_table(tmp_path / "m.parquet")
    assert str(table.schema.field("cost").type) == "decimal128(38, 10)"
    assert sum(table.column("cost").to_pylist(), Decimal(0)) == want


def test_xlsx_workbook_reconciles_and_opens_in_libreoffice(demo: DemoData, tmp_path: Path) -> None:
    target = tmp_path / "m.xlsx"
    out = _cli(demo, "export", "--period", PERIOD, "--format", "xlsx", "--cost-type",
               "amortized", "--out", str(target))  # fmt: skip
    assert out.returncode == 0, out.stderr
    assert "reconciliation 0.00" in out.stdout
    book = openpyxl.load_workbook(target)
    assert book.sheetnames[:6] == [
        "Summary", "Detail", "Shared costs", "Unallocated", "Reconciliation", "Bridge",
    ]  # fmt: skip
    assert {"Adjustments", "Assumptions"} <= set(book.sheetnames)
    want = _line_items_total(demo, "amortized_cost")
    unblended = _line_items_total(demo, "unblended_cost")

    def table(name: str) -> tuple[list[str], list[tuple[object, ...]]]:
        rows = list(book[name].iter_rows(values_only=True))
        header = next(i for i, r in enumerate(rows) if r and r[0] == "Billing period")
        return [str(h) for h in rows[header]], [r for r in rows[header + 1 :] if any(r)]

    headers, rows = table("Summary")
    total = rows[-1][headers.index("Total (amortized)")]
    assert total == pytest.approx(float(want), abs=1e-6)
    owners = rows[:-1]
    assert sum(
        Decimal(str(r[headers.index("Total (amortized)")])) for r in owners
    ) == pytest.approx(want, abs=Decimal("1e-6"))
    headers, rows = table("Reconciliation")
    assert rows and all(r[headers.index("Difference")] == 0 for r in rows)
    headers, rows = table("Bridge")
    assert rows[-1][headers.index("Difference")] == pytest.approx(float(want - unblended), abs=1e-6)
    summary = book["Summary"]
    assert summary._charts, "the Summary has a native chart of spend by owner"
    assert summary.freeze_panes is not None and summary.auto_filter.ref
    soffice = shutil.which("soffice") or shutil.which("libreoffice")
    if soffice is None:
        pytest.skip(
            "LibreOffice (soffice) is not installed: apt-get install libreoffice-calc-nogui"
        )
    converted = subprocess.run(
        [soffice, f"-env:UserInstallation=file://{tmp_path / 'lo'}", "--headless",
         "--convert-to", "pdf", "--outdir", str(tmp_path / "pdf"), str(target)],
        capture_output=True, text=True, timeout=180, check=False,
    )  # fmt: skip
    assert converted.returncode == 0, converted.stderr
    assert (tmp_path / "pdf" / "m.pdf").stat().st_size > 1000
    assert "error" not in converted.stderr.lower()


def test_a_line_item_changed_after_attribution_is_reported_loudly(
    demo: DemoData, tmp_path: Path
) -> None:
    data = DemoData(tmp_path / "data")
    shutil.copytree(demo.data_dir, data.data_dir)
    with duckdb.connect(str(data.data_dir / "warehouse.duckdb")) as con:
        con.execute(
            "UPDATE line_items SET unblended_cost = unblended_cost + 1.23 WHERE rowid = ("
            "SELECT min(rowid) FROM line_items WHERE billing_period = $p)",
            {"p": date.fromisoformat(f"{PERIOD}-01")},
        )
    assert _cli(data, "refresh").returncode == 0
    out = _cli(data, "export", "--period", PERIOD, "--format", "csv", "--out",
               str(tmp_path / "m.csv"))  # fmt: skip
    assert out.returncode == 3
    assert "does NOT reconcile" in out.stderr and "costlens sync" in out.stderr
    with (tmp_path / "m.reconciliation.csv").open(newline="") as f:
        diffs = {(r["check"], Decimal(r["difference"])) for r in csv.DictReader(f)}
    # the line items are 1.23 above both what was attributed and what the delivery recorded
    assert diffs == {("allocations", Decimal("1.23")), ("ledger", Decimal("1.23"))}


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--period", "2030-01"], "no line items for 2030-01"),
        (["--period", "2025-06", "--to", "2025-05"], "before --period"),
        (["--period", "2025-13"], "not a month"),
        (["--period", "2025-06", "--by", "colour"], "unknown dimension 'colour'"),
        (["--period", "2025-06", "--cost-type", "bogus"], "unknown cost type"),
        (["--period", "2025-06", "--format", "pdf"], "unknown export format"),
    ],
)
def test_bad_arguments_are_one_line_and_leave_no_file(
    demo: DemoData, tmp_path: Path, args: list[str], message: str
) -> None:
    target = tmp_path / "m.xlsx"
    out = _cli(demo, "export", *args, "--out", str(target))
    assert out.returncode == 1
    assert message in out.stderr
    assert len(out.stderr.strip().splitlines()) == 1
    assert list(tmp_path.iterdir()) == []


def test_an_unwritable_path_is_one_line_and_leaves_no_file(demo: DemoData, tmp_path: Path) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    out = _cli(demo, "export", "--period", PERIOD, "--out", str(blocker / "m.xlsx"))
    assert out.returncode == 1
    assert "cannot write" in out.stderr and len(out.stderr.strip().splitlines()) == 1
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a-file"]


def test_real_samples_reconcile_to_zero(samples_dir: Path, tmp_path: Path) -> None:
    root = Path(__file__).resolve().parent.parent
    for name in ("cur1-csv-anonymized/sample-anonymous-aws-export-dataset.csv",
                 "focus-1.0/focus_sample.csv"):  # fmt: skip
        settings = Settings(
            data_dir=tmp_path / name.split("/")[0],
            rules=root / "data" / "rules.yaml",
            owners=root / "data" / "owners.yaml",
        )
        ingest(settings, str(samples_dir / name))
        rules = load_rules(settings.rules, load_owners(settings.owners))
        with open_warehouse(settings.data_dir) as wh:
            attribute(wh, rules)
            refresh(wh, settings)
            totals = wh.con.execute(
                "SELECT billing_period, SUM(unblended_cost) FROM line_items GROUP BY 1 ORDER BY 1"
            ).fetchall()
        with open_snapshot(settings.data_dir) as snap:
            for period, total in totals:
                showback = build_showback(snap, period)
                assert showback.reconciled, (name, period)
                assert showback.total == Decimal(total), (name, period)
                differences = [r[-1] for r in showback.reconciliation.rows]
                assert differences and all(d == 0 for d in differences)


def test_unallocated_lists_the_costliest_resources_of_each_account_and_service(
    demo: DemoData, tmp_path: Path
) -> None:
    from costlens import queries
    from costlens.schema import cost_column

    period = date.fromisoformat(f"{PERIOD}-01")
    column = cost_column("unblended")
    # The sample leaves one resource per account and service: give each five more, two of them
    # costing the same (ordered by id), in a copy of the snapshot.
    shutil.copyfile(demo.data_dir / "serving.duckdb", tmp_path / "serving.duckdb")
    with duckdb.connect(str(tmp_path / "serving.duckdb")) as con:
        con.execute(
            "INSERT INTO finance_unallocated SELECT f.* REPLACE ("
            "  resource_id || '-' || (6 - i) AS resource_id,"
            f'  CAST(least(i, 4) AS DECIMAL(18, 2)) AS "{column}")'
            " FROM finance_unallocated AS f, (SELECT range AS i FROM range(1, 6))"
            " WHERE resource_id <> ''"
        )
        rows = con.execute(
            f'SELECT account_id, service_code, resource_id, SUM("{column}") '
            "FROM finance_unallocated WHERE billing_period = $p GROUP BY 1, 2, 3",
            {"p": period},
        ).fetchall()
    groups: dict[tuple[str, str], list[tuple[str, Decimal]]] = {}
    for account, service, resource, cost in rows:
        groups.setdefault((account, service), []).append((resource, cost))
    with open_snapshot(tmp_path) as snap:
        got = queries.unallocated_costs(snap, period, period, top=3)
    assert len(got) == len(groups) >= 1
    for row in got.itertuples():
        items = groups[(row.account_id, row.service_code)]
        named = sorted(((r, c) for r, c in items if r), key=lambda rc: (-rc[1], rc[0]))
        assert row.cost == sum((c for _, c in items), Decimal(0))
        assert row.resources == len(named)
        assert row.top_resources == "; ".join(f"{r} (${c:,.2f})" for r, c in named[:3])
