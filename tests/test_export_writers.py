"""The finance export's file writers (``reports.exports``): XLSX, CSV, Parquet, atomic files.

The showback is built by hand (``make_showback``): three owners, exact ``Decimal`` money such
as ``0.1 + 0.2``, two months of which the later has no invoice id yet (not final), a total row.
"""

from __future__ import annotations

import csv
import doctest
import importlib
import os
import shutil
import subprocess
import uuid
from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import Any

import openpyxl
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from costlens.errors import CostlensError, ReportError
from reports.exports import Col, Sheet, Showback, write_csv, write_export, write_parquet, write_xlsx
from reports.exports.files import TEMP_PREFIX, atomic_write, atomic_write_all
from reports.exports.xlsx import DATE_FORMAT, MONEY_FORMAT, PERCENT_FORMAT, RED

OCT, NOV = date(2026, 10, 1), date(2026, 11, 1)
OWNERS = ("payments", "search", "platform")
POINT_THREE = Decimal("0.1") + Decimal("0.2")


def _money(text: str) -> Decimal:
    return Decimal(text)


def make_showback(*, bridge: bool = True, not_final: bool = True) -> Showback:
    """A realistic two-month showback of three owners; November has no invoice id."""
    detail_cols = (
        Col("billing_period", "Billing period", "date"),
        Col("owner", "Owner", "text"),
        Col("microservice", "Microservice", "text"),
        Col("service_code", "Service", "text"),
        Col("account_id", "Account", "text"),
        Col("environment", "Environment", "text"),
        Col("line_items", "Line items", "count"),
        Col("amortized_cost", "Amortized cost", "money"),
        Col("share", "Share of owner", "percent"),
    )
    detail: list[tuple[Any, ...]] = []
    costs = [POINT_THREE, _money("1234.5678901234"), _money("-12.5"), _money("0.0000000001")]
    for period in (OCT, NOV):
        for o, owner in enumerate(OWNERS):
            for s, service in enumerate(("AmazonEC2", "AmazonS3")):
                cost = costs[(o + s) % len(costs)] + o
                detail.append(
                    (period, owner, f"{owner}-api", service, f"1000000000{o}", "prod", 10 + s,
                     cost, Decimal("0.5"))
                )  # fmt: skip
    detail.append((NOV, "unallocated", "unallocated", "AWSDataTransfer", "", None, 3, None, None))
    total = sum((r[7] for r in detail if r[7] is not None), Decimal(0))

    summary_rows: list[tuple[Any, ...]] = []
    for owner in OWNERS:
        direct = sum((r[7] for r in detail if r[1] == owner), Decimal(0))
        change = Decimal("-0.05")
        summary_rows.append(
            (owner, direct, POINT_THREE, direct + POINT_THREE, Decimal(100), 0.125, change)
        )
    grand = sum((r[3] for r in summary_rows), Decimal(0))
    summary_rows.append(
        ("Total", grand - 3 * POINT_THREE, 3 * POINT_THREE, grand, None, None, None)
    )
    summary = Sheet(
        "Summary",
        (
            Col("owner", "Owner", "text"),
            Col("direct", "Direct", "money"),
            Col("shared", "Shared", "money"),
            Col("total", "Total", "money"),
            Col("budget", "Budget", "money"),
            Col("variance", "Variance", "percent"),
            Col("mom_change", "Month over month", "percent"),
        ),
        summary_rows,
        period_column=None,
        total_row=True,
        note="Amortized cost per owner, 2026-10 to 2026-11",
    )
    period_cols = (Col("billing_period", "Billing period", "date"),)
    shared = Sheet(
        "Shared costs",
        (*period_cols, Col("split", "Split", "text"), Col("method", "Method", "text"),
         Col("owner", "Owner", "text"), Col("share", "Share", "percent"),
         Col("cost", "Cost", "money")),
        [(NOV, "data-transfer", "proportional", o, 1 / 3, POINT_THREE) for o in OWNERS],
        note="Shared costs and how they were split",
    )  # fmt: skip
    unallocated = Sheet(
        "Unallocated",
        (*period_cols, Col("account_id", "Account", "text"), Col("service_code", "Service", "text"),
         Col("top_resources", "Top resources", "text"), Col("cost", "Cost", "money")),
        [(NOV, "100000000009", "AWSDataTransfer", "=cmd|' /C calc'!A0", Decimal("7.07"))],
        note="Cost no rule attributed",
    )  # fmt: skip
    reconciliation = Sheet(
        "Reconciliation",
        (*period_cols, Col("payer_account_id", "Payer account", "text"),
         Col("invoice_id", "Invoice", "text"), Col("line_items", "Line items", "money"),
         Col("direct", "Direct", "money"), Col("shared", "Shared", "money"),
         Col("unallocated", "Unallocated", "money"), Col("difference", "Difference", "money")),
        [(OCT, "900000000000", "INV-2026-10", total, total, Decimal(0), Decimal(0), Decimal(0)),
         (NOV, "900000000000", None, POINT_THREE, POINT_THREE, Decimal(0), Decimal(0),
          Decimal("0.00"))],
        note="Line items = direct + shared + unallocated",
    )  # fmt: skip
    adjustments = Sheet(
        "Adjustments",
        (*period_cols, Col("owner", "Owner", "text"), Col("restated", "Restated", "money")),
        [],
        note="Restatements of closed months",
    )
    bridge_sheet = Sheet(
        "Bridge",
        (*period_cols, Col("line_item_type", "Line item type", "text"),
         Col("unblended_cost", "Unblended", "money"), Col("amortized_cost", "Amortized", "money")),
        [(OCT, "SavingsPlanCoveredUsage", Decimal("10"), Decimal("7.2"))],
        note="Unblended to amortized",
    )  # fmt: skip
    return Showback(
        periods=(OCT, NOV),
        cost_type="amortized_cost",
        by=("environment",),
        summary=summary,
        detail=Sheet("Detail", detail_cols, detail, note="Owner x microservice x service"),
        shared=shared,
        unallocated=unallocated,
        reconciliation=reconciliation,
        adjustments=adjustments,
        bridge=bridge_sheet if bridge else None,
        assumptions=[("Cost type", "amortized_cost"), ("Rules version", "r-12")],
        not_final=frozenset({NOV}) if not_final else frozenset(),
        total=total,
    )


def _header_row(ws: Any) -> int:
    """The frozen header's row (the row above the first unfrozen one)."""
    return int(ws.freeze_panes[1:]) - 1


def _is_red(cell: Any) -> bool:
    color = cell.font.color
    return color is not None and color.type == "rgb" and color.rgb == RED


def _rows(ws: Any) -> list[tuple[Any, ...]]:
    return list(ws.iter_rows(min_row=_header_row(ws) + 1))


# --- XLSX -----------------------------------------------------------------------------------


@pytest.fixture
def workbook(tmp_path: Path) -> tuple[Showback, Any]:
    showback = make_showback()
    path = write_xlsx(showback, tmp_path / "m.xlsx")
    return showback, openpyxl.load_workbook(path)


def test_xlsx_sheet_names_in_order(workbook: tuple[Showback, Any]) -> None:
    _, wb = workbook
    assert wb.sheetnames == [
        "Summary", "Detail", "Shared costs", "Unallocated", "Reconciliation", "Bridge",
        "Adjustments", "Assumptions",
    ]  # fmt: skip


def test_xlsx_unblended_export_has_no_bridge(tmp_path: Path) -> None:
    wb = openpyxl.load_workbook(write_xlsx(make_showback(bridge=False), tmp_path / "u.xlsx"))
    assert "Bridge" not in wb.sheetnames


def test_xlsx_headers_bold_frozen_and_filtered(workbook: tuple[Showback, Any]) -> None:
    showback, wb = workbook
    for sheet in showback.sheets():
        ws = wb[sheet.name]
        h = _header_row(ws)
        cells = next(ws.iter_rows(min_row=h, max_row=h))
        assert tuple(c.value for c in cells) == sheet.headers
        assert all(c.font.b for c in cells)
        assert ws.freeze_panes == f"A{h + 1}"
        last_col = openpyxl.utils.get_column_letter(len(sheet.columns))
        data_rows = len(sheet.rows) - (1 if sheet.total_row else 0)
        assert ws.auto_filter.ref == f"A{h}:{last_col}{h + max(data_rows, 0)}"
        assert ws["A1"].value == sheet.note
        for i in range(1, len(sheet.columns) + 1):
            width = ws.column_dimensions[openpyxl.utils.get_column_letter(i)].width
            assert 8 <= width <= 60


def test_xlsx_column_widths_fit_content(workbook: tuple[Showback, Any]) -> None:
    _, wb = workbook
    ws = wb["Detail"]
    # "Amortized cost" header (14) + filter button; "$1,236.57" fits; microservice names
    assert ws.column_dimensions["H"].width >= len("Amortized cost") + 2
    assert ws.column_dimensions["C"].width >= len("unallocated")


def test_xlsx_number_formats_and_exact_values(workbook: tuple[Showback, Any]) -> None:
    showback, wb = workbook
    for sheet in showback.sheets():
        ws = wb[sheet.name]
        for row, cells in zip(sheet.rows, _rows(ws), strict=True):
            for col, value, cell in zip(sheet.columns, row, cells, strict=True):
                if value is None:
                    assert cell.value is None
                elif col.kind == "money":
                    assert cell.number_format == MONEY_FORMAT
                    assert abs(Decimal(str(cell.value)) - value) < Decimal("1e-9")
                elif col.kind == "percent":
                    assert cell.number_format == PERCENT_FORMAT
                    assert cell.value == pytest.approx(float(value), abs=1e-12)
                elif col.kind == "date":
                    assert cell.number_format == DATE_FORMAT
                    assert cell.value.date() == value
                elif col.kind == "count":
                    assert cell.value == value and isinstance(cell.value, int)
                elif value == "":
                    assert cell.value is None  # an empty text is an empty cell
                else:
                    assert cell.value == value and cell.data_type == "s"


def test_xlsx_money_is_currency_to_the_cent(workbook: tuple[Showback, Any]) -> None:
    _, wb = workbook
    cell = wb["Detail"].cell(_header_row(wb["Detail"]) + 1, 8)
    assert cell.value == 0.3  # 0.1 + 0.2 as a Decimal: no 0.30000000000000004
    assert "$" in cell.number_format and cell.number_format.endswith("0.00")


def test_xlsx_formula_like_text_stays_text(workbook: tuple[Showback, Any]) -> None:
    _, wb = workbook
    ws = wb["Unallocated"]
    cell = _rows(ws)[0][3]
    assert cell.data_type == "s" and cell.value == "=cmd|' /C calc'!A0"


def test_xlsx_not_final_flagged_in_red_on_every_sheet(workbook: tuple[Showback, Any]) -> None:
    showback, wb = workbook
    for name in wb.sheetnames:
        ws = wb[name]
        h = _header_row(ws)
        notes = [ws.cell(r, 1) for r in range(1, h)]
        flagged = [c for c in notes if c.value and str(c.value).startswith("Not final")]
        if name in ("Bridge",):  # its only row is October: final
            assert not flagged
            continue
        assert [c.value for c in flagged] == ["Not final: 2026-11 has no invoice id yet"], name
        assert _is_red(flagged[0])
    for sheet in showback.sheets():
        if sheet.period_column not in sheet.names:
            continue
        p = sheet.names.index(sheet.period_column)
        for row, cells in zip(sheet.rows, _rows(wb[sheet.name]), strict=True):
            red = {_is_red(c) for c in cells if c.value is not None}
            assert red == {row[p] in showback.not_final}, sheet.name


def test_xlsx_final_months_have_no_red(tmp_path: Path) -> None:
    wb = openpyxl.load_workbook(write_xlsx(make_showback(not_final=False), tmp_path / "f.xlsx"))
    for ws in wb.worksheets:
        for row in ws.iter_rows():
            for cell in row:
                assert not _is_red(cell), ws.title
                assert not str(cell.value or "").startswith("Not final")


def test_xlsx_total_row_bold(workbook: tuple[Showback, Any]) -> None:
    _, wb = workbook
    rows = _rows(wb["Summary"])
    assert rows[-1][0].value == "Total" and all(c.font.b for c in rows[-1] if c.value is not None)
    assert not any(c.font.b for c in rows[0])


def test_xlsx_summary_has_bar_chart_of_total_by_owner(workbook: tuple[Showback, Any]) -> None:
    _, wb = workbook
    ws = wb["Summary"]
    assert len(ws._charts) == 1
    chart = ws._charts[0]
    assert isinstance(chart, openpyxl.chart.BarChart)
    h = _header_row(ws)
    series = chart.series[0]
    # the owners' totals, without the total row
    assert series.val.numRef.f == f"'Summary'!$D${h + 1}:$D${h + len(OWNERS)}"
    assert series.cat.strRef.f == f"'Summary'!$A${h + 1}:$A${h + len(OWNERS)}"
    for other in wb.worksheets[1:]:
        assert not other._charts


def test_xlsx_assumptions_two_columns(workbook: tuple[Showback, Any]) -> None:
    showback, wb = workbook
    ws = wb["Assumptions"]
    h = _header_row(ws)
    assert [c.value for c in next(ws.iter_rows(min_row=h, max_row=h))] == ["Label", "Value"]
    assert [(r[0].value, r[1].value) for r in _rows(ws)] == showback.assumptions


def test_xlsx_control_characters_dropped(tmp_path: Path) -> None:
    showback = make_showback()
    showback.detail.rows[0] = (OCT, "pay\x00ments", *showback.detail.rows[0][2:])
    wb = openpyxl.load_workbook(write_xlsx(showback, tmp_path / "c.xlsx"))
    assert _rows(wb["Detail"])[0][1].value == "payments"


def test_xlsx_too_many_rows_for_excel(tmp_path: Path) -> None:
    showback = make_showback()
    showback.detail.rows.extend([showback.detail.rows[0]] * 1_048_576)
    with pytest.raises(ReportError, match="more than Excel holds") as err:
        write_xlsx(showback, tmp_path / "big.xlsx")
    assert "csv or parquet" in str(err.value)
    assert list(tmp_path.iterdir()) == []


@pytest.mark.slow
def test_xlsx_opens_in_libreoffice(tmp_path: Path) -> None:
    soffice = shutil.which("soffice") or shutil.which("libreoffice")
    if soffice is None:
        pytest.skip("LibreOffice (soffice) is not installed")
    path = write_xlsx(make_showback(), tmp_path / "m.xlsx")
    profile = Path("/tmp") / f"costlens-lo-{uuid.uuid4().hex}"
    try:
        out = subprocess.run(
            [soffice, f"-env:UserInstallation=file://{profile}", "--headless", "--convert-to",
             "pdf", "--outdir", str(tmp_path / "pdf"), str(path)],
            capture_output=True, text=True, timeout=120, check=False,
        )  # fmt: skip
    finally:
        shutil.rmtree(profile, ignore_errors=True)
    assert out.returncode == 0, out.stderr
    # LibreOffice warns that it runs without Java (not needed for spreadsheets): not an error
    errors = [line for line in out.stderr.splitlines() if line.strip() and "javaldx" not in line]
    assert errors == [], out.stderr
    pdf = tmp_path / "pdf" / "m.pdf"
    assert pdf.is_file() and pdf.read_bytes().startswith(b"%PDF")


# --- CSV ------------------------------------------------------------------------------------


def test_csv_detail_exact_and_reconciliation_side_file(tmp_path: Path) -> None:
    showback = make_showback()
    paths = write_csv(showback, tmp_path / "m.csv")
    assert paths == [tmp_path / "m.csv", tmp_path / "m.reconciliation.csv"]
    for path, sheet in zip(paths, (showback.detail, showback.reconciliation), strict=True):
        raw = path.read_bytes()
        assert b"\r\n" not in raw
        with path.open(encoding="utf-8", newline="") as f:
            rows = list(csv.reader(f))
        assert tuple(rows[0]) == sheet.names
        assert len(rows) == len(sheet.rows) + 1
        for row, fields in zip(sheet.rows, rows[1:], strict=True):
            for col, value, text in zip(sheet.columns, row, fields, strict=True):
                if value is None:
                    assert text == ""
                elif col.kind == "money":
                    assert Decimal(text) == value and text == format(value, "f")
                elif col.kind == "date":
                    assert date.fromisoformat(text) == value
                else:
                    assert text == str(value)
    text = paths[0].read_text()
    assert ",0.3," in text and "0.30000000000000004" not in text
    assert ",2.0000000001," in text and "E-" not in text


# --- Parquet --------------------------------------------------------------------------------


def test_parquet_keeps_decimal_and_types(tmp_path: Path) -> None:
    showback = make_showback()
    paths = write_parquet(showback, tmp_path / "m.parquet")
    assert paths == [tmp_path / "m.parquet", tmp_path / "m.reconciliation.parquet"]
    table = pq.read_table(paths[0])
    schema = table.schema
    assert schema.field("amortized_cost").type == pa.decimal128(38, 10)
    assert schema.field("billing_period").type == pa.date32()
    assert schema.field("line_items").type == pa.int64()
    assert schema.field("share").type == pa.float64()
    assert schema.field("owner").type == pa.string()
    assert table.column_names == list(showback.detail.names)
    costs = table.column("amortized_cost").to_pylist()
    assert costs == [r[7] for r in showback.detail.rows]
    assert costs[0] == Decimal("0.3")
    assert table.column("billing_period").to_pylist() == [r[0] for r in showback.detail.rows]
    assert schema.metadata[b"costlens.not_final"] == b"2026-11-01"
    recon = pq.read_table(paths[1])
    assert recon.column("difference").type == pa.decimal128(38, 10)
    assert recon.column("line_items").to_pylist() == [r[3] for r in showback.reconciliation.rows]


def test_parquet_refuses_money_it_cannot_keep_exactly(tmp_path: Path) -> None:
    showback = make_showback()
    showback.detail.rows[0] = (*showback.detail.rows[0][:7], Decimal("0.12345678901"), None)
    with pytest.raises(ReportError, match="amortized_cost"):
        write_parquet(showback, tmp_path / "m.parquet")
    assert list(tmp_path.iterdir()) == []


# --- atomic files and bad paths -------------------------------------------------------------


@pytest.mark.parametrize("fmt", ["xlsx", "csv", "parquet"])
def test_write_export_dispatches(tmp_path: Path, fmt: Any) -> None:
    paths = write_export(make_showback(), fmt, tmp_path / f"m.{fmt}")
    assert paths[0] == tmp_path / f"m.{fmt}"
    assert all(p.is_file() for p in paths)
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(p.name for p in paths)


def test_write_export_unknown_format(tmp_path: Path) -> None:
    with pytest.raises(ReportError, match="use one of xlsx, csv, parquet"):
        write_export(make_showback(), "pdf", tmp_path / "m.pdf")  # type: ignore[arg-type]


def test_exception_while_writing_leaves_nothing(tmp_path: Path) -> None:
    def broken(tmp: Path) -> None:
        tmp.write_text("half a file")
        raise RuntimeError("disk on fire")

    with pytest.raises(RuntimeError, match="disk on fire"):
        atomic_write(tmp_path / "m.xlsx", broken)
    assert list(tmp_path.iterdir()) == []


def test_exception_keeps_the_previous_file(tmp_path: Path) -> None:
    target = tmp_path / "m.csv"
    target.write_text("previous")

    def broken(tmp: Path) -> None:
        raise ValueError("boom")

    with pytest.raises(ValueError):
        atomic_write(target, broken)
    assert target.read_text() == "previous"
    assert [p.name for p in tmp_path.iterdir()] == ["m.csv"]


def test_multi_file_all_or_none(tmp_path: Path) -> None:
    def good(tmp: Path) -> None:
        tmp.write_text("ok")

    def bad(tmp: Path) -> None:
        raise RuntimeError("second file failed")

    with pytest.raises(RuntimeError):
        atomic_write_all([(tmp_path / "a.csv", good), (tmp_path / "a.reconciliation.csv", bad)])
    assert list(tmp_path.iterdir()) == []


def test_writer_failure_mid_export_leaves_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import reports.exports.csv as csv_module

    calls: list[Path] = []
    real = csv_module._write_sheet

    def second_fails(sheet: Sheet, target: Path) -> None:
        calls.append(target)
        real(sheet, target)
        if len(calls) == 2:
            raise OSError(28, "No space left on device")

    monkeypatch.setattr(csv_module, "_write_sheet", second_fails)
    with pytest.raises(ReportError, match="no space left") as err:
        write_csv(make_showback(), tmp_path / "m.csv")
    assert err.value.where == str(tmp_path / "m.reconciliation.csv")
    assert list(tmp_path.iterdir()) == []
    assert all(p.name.startswith(TEMP_PREFIX) for p in calls)


@pytest.mark.parametrize("fmt", ["xlsx", "csv", "parquet"])
def test_parent_is_a_file_gives_one_clear_line(tmp_path: Path, fmt: Any) -> None:
    (tmp_path / "notes.txt").write_text("a file, not a folder")
    path = tmp_path / "notes.txt" / f"m.{fmt}"
    with pytest.raises(CostlensError) as err:
        write_export(make_showback(), fmt, path)
    text = str(err.value)
    assert isinstance(err.value, ReportError) and "\n" not in text
    assert text == (
        f"{path}: cannot write m.{fmt}: {tmp_path / 'notes.txt'} is a file, not a folder."
        " Fix: choose a folder you can write to"
    )
    assert sorted(p.name for p in tmp_path.iterdir()) == ["notes.txt"]


def test_missing_folder(tmp_path: Path) -> None:
    path = tmp_path / "no" / "such" / "m.xlsx"
    with pytest.raises(ReportError, match="does not exist") as err:
        write_xlsx(make_showback(), path)
    assert err.value.where == str(path) and "create it first" in str(err.value)


def test_path_is_a_folder(tmp_path: Path) -> None:
    with pytest.raises(ReportError, match="it is a folder"):
        write_xlsx(make_showback(), tmp_path)


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes into a 0o500 folder anyway")
def test_unwritable_folder(tmp_path: Path) -> None:
    folder = tmp_path / "ro"
    folder.mkdir()
    folder.chmod(0o500)
    try:
        with pytest.raises(ReportError) as err:
            write_xlsx(make_showback(), folder / "m.xlsx")
        assert str(err.value) == (
            f"{folder / 'm.xlsx'}: cannot write m.xlsx: permission denied."
            " Fix: choose a folder you can write to"
        )
        assert list(folder.iterdir()) == []
    finally:
        folder.chmod(0o700)


# --- doctests -------------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["files", "xlsx", "csv", "parquet", "model"])
def test_doctests(name: str) -> None:
    module = importlib.import_module(f"reports.exports.{name}")
    result = doctest.testmod(module, optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
    assert result.failed == 0
