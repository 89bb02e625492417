"""The showback workbook: one sheet per ``Sheet`` of a ``Showback``, then ``Assumptions``.

Every sheet has a note line (``Sheet.note``; below it, in red, "Not final: 2026-11 has no
invoice id yet" when a month without an invoice id is among the sheet's periods), a bold
header row frozen in place, an autofilter over the table (the total row stays out of it, so
sorting never moves it), column widths from the content and real number formats: money in
dollars to the cent, percentages, ISO dates, counts with thousands separators. The rows of
months that are not final are in red, the total row is bold. The Summary carries a native bar
chart of total spend by owner.

The workbook is written with openpyxl in write-only mode: it streams rows to disk instead of
holding a cell object per value (on 50,000 Detail rows it is faster than the normal mode and
uses a fraction of the memory; see ``benchmarks/bench_export.py``), and it still writes
styles, frozen panes, autofilters, column widths and charts. One styled cell per column and
style is reused for every row, as write-only mode allows (it serialises each row as it is
appended).

Money is an exact ``Decimal``; the cell gets it as a float (what Excel stores), rounded to 10
decimals.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import Any

from openpyxl import Workbook  # type: ignore[import-untyped]
from openpyxl.cell import WriteOnlyCell  # type: ignore[import-untyped]
from openpyxl.cell.cell import ILLEGAL_CHARACTERS_RE  # type: ignore[import-untyped]
from openpyxl.chart import BarChart, Reference  # type: ignore[import-untyped]
from openpyxl.chart.data_source import AxDataSource, StrRef  # type: ignore[import-untyped]
from openpyxl.styles import Font, PatternFill  # type: ignore[import-untyped]
from openpyxl.utils import get_column_letter  # type: ignore[import-untyped]
from openpyxl.worksheet._write_only import WriteOnlyWorksheet  # type: ignore[import-untyped]

from costlens.errors import ReportError
from reports.exports.files import atomic_write
from reports.exports.model import Col, ColumnKind, Sheet, Showback

__all__ = [
    "DATE_FORMAT",
    "MAX_ROWS",
    "MONEY_FORMAT",
    "PERCENT_FORMAT",
    "RED",
    "not_final_note",
    "write_xlsx",
]

MONEY_FORMAT = '"$"#,##0.00'
"""Dollars to the cent (a negative amount shows as -$1.00)."""
PERCENT_FORMAT = "0.0%"
DATE_FORMAT = "yyyy-mm-dd"
COUNT_FORMAT = "#,##0"
RED = "FFFF0000"
"""The font colour of everything about a month that is not final."""
MAX_ROWS = 1_048_576
"""Excel's limit of rows per sheet."""

_FORMATS: dict[ColumnKind, str | None] = {
    "money": MONEY_FORMAT,
    "percent": PERCENT_FORMAT,
    "date": DATE_FORMAT,
    "count": COUNT_FORMAT,
    "text": None,
}
_HEADER_FILL = PatternFill("solid", start_color="FFD9E1F2", end_color="FFD9E1F2")
_FONTS = {
    (False, False): Font(),
    (True, False): Font(bold=True),
    (False, True): Font(color=RED),
    (True, True): Font(bold=True, color=RED),
}
_NOTE_FONT = Font(italic=True)
_MIN_WIDTH, _MAX_WIDTH = 8, 60


def write_xlsx(showback: Showback, path: Path) -> Path:
    """Write ``showback`` as an Excel workbook at ``path`` (atomically: a temporary file in the
    same folder, renamed when complete); returns ``path``.

    Raises ``ReportError`` when the folder cannot be written or a sheet has more rows than
    Excel holds.
    """
    path = Path(path)
    for sheet in showback.sheets():
        if len(sheet.rows) + 3 > MAX_ROWS:
            raise ReportError(
                f"the {sheet.name} sheet has {len(sheet.rows):,} rows, more than Excel holds"
                f" ({MAX_ROWS:,})",
                where=str(path),
                fix="export it as csv or parquet, or group by fewer dimensions",
            )
    return atomic_write(path, lambda tmp: _save(showback, tmp))


def not_final_note(periods: Iterable[date]) -> str:
    """The red line of a sheet that shows months without an invoice id.

    >>> not_final_note([date(2026, 11, 1)])
    'Not final: 2026-11 has no invoice id yet'
    >>> not_final_note([date(2026, 11, 1), date(2026, 10, 1)])
    'Not final: 2026-10, 2026-11 have no invoice id yet'
    """
    months = sorted({f"{p:%Y-%m}" for p in periods})
    verb = "has" if len(months) == 1 else "have"
    return f"Not final: {', '.join(months)} {verb} no invoice id yet"


def _save(showback: Showback, target: Path) -> None:
    wb = Workbook(write_only=True)
    wb.properties.creator = "costlens"
    wb.properties.title = f"Showback {', '.join(f'{p:%Y-%m}' for p in showback.periods)}"
    for sheet in showback.sheets():
        ws = wb.create_sheet(sheet.name)
        header_row, last_row = _write_table(ws, sheet, _flagged(sheet, showback))
        if sheet is showback.summary:
            _add_chart(ws, sheet, header_row, last_row, showback.cost_type)
    assumptions = Sheet(
        "Assumptions",
        (Col("label", "Label", "text"), Col("value", "Value", "text")),
        list(showback.assumptions),
        period_column=None,
        note="How this export was made",
    )
    ws = wb.create_sheet(assumptions.name)
    _write_table(ws, assumptions, _flagged(assumptions, showback))
    wb.save(target)


def _flagged(sheet: Sheet, showback: Showback) -> list[date]:
    """The months of ``sheet`` that are not final: among its rows' periods when it has a
    period column and rows, else among the export's periods."""
    periods: set[date] = set(showback.periods)
    if sheet.period_column in sheet.names and sheet.rows:
        i = sheet.names.index(sheet.period_column)
        periods = {row[i] for row in sheet.rows}
    return sorted(showback.not_final & periods)


def _write_table(ws: WriteOnlyWorksheet, sheet: Sheet, flagged: Sequence[date]) -> tuple[int, int]:
    """Write the note lines, the header and the rows of ``sheet``; returns the header's row
    number and the last data row's (the total row excluded)."""
    notes: list[tuple[str, Font]] = []
    if sheet.note:
        notes.append((sheet.note, _NOTE_FONT))
    if flagged:
        notes.append((not_final_note(flagged), Font(bold=True, color=RED)))
    header_row = len(notes) + 1
    for i, width in enumerate(_widths(sheet), 1):
        ws.column_dimensions[get_column_letter(i)].width = width
    ws.freeze_panes = f"A{header_row + 1}"  # must be set before the first row is written

    for text, font in notes:
        cell = WriteOnlyCell(ws, _text(text))
        cell.font = font
        ws.append([cell])
    header = []
    for col in sheet.columns:
        cell = WriteOnlyCell(ws, _text(col.header))
        cell.font = _FONTS[True, False]
        cell.fill = _HEADER_FILL
        header.append(cell)
    ws.append(header)

    convert = [_CONVERT[c.kind] for c in sheet.columns]
    styles: dict[tuple[bool, bool], list[WriteOnlyCell]] = {}
    period = sheet.names.index(sheet.period_column) if sheet.period_column in sheet.names else -1
    red = frozenset(flagged)
    total_at = len(sheet.rows) - 1 if sheet.total_row else -1
    for n, values in enumerate(sheet.rows):
        key = (n == total_at, period >= 0 and values[period] in red)
        cells = styles.get(key) or styles.setdefault(key, _template(ws, sheet.columns, key))
        out: list[WriteOnlyCell | None] = []
        for cell, to_cell, value in zip(cells, convert, values, strict=True):
            if value is None:
                out.append(None)
                continue
            cell.value = to_cell(value)
            if cell.data_type in ("f", "e"):  # text like "=x" or "#N/A" stays text
                cell.data_type = "s"
            out.append(cell)
        ws.append(out)

    last_row = header_row + len(sheet.rows) - (1 if sheet.total_row and sheet.rows else 0)
    ncols = len(sheet.columns)
    if ncols:
        ws.auto_filter.ref = f"A{header_row}:{get_column_letter(ncols)}{max(last_row, header_row)}"
    return header_row, last_row


def _template(ws: WriteOnlyWorksheet, columns: Sequence[Col], key: tuple[bool, bool]) -> list[Any]:
    """One styled cell per column for rows of style ``key`` (bold total, red not-final)."""
    cells = []
    for col in columns:
        cell = WriteOnlyCell(ws)
        fmt = _FORMATS[col.kind]
        if fmt:
            cell.number_format = fmt
        if key != (False, False):
            cell.font = _FONTS[key]
        cells.append(cell)
    return cells


def _add_chart(
    ws: WriteOnlyWorksheet, sheet: Sheet, header_row: int, last_row: int, cost_type: str
) -> None:
    """A clustered bar chart of the Summary's total per owner, right of the table."""
    if last_row <= header_row:
        return  # no owner to chart
    names = sheet.names
    kinds = [c.kind for c in sheet.columns]
    owner = names.index("owner") if "owner" in names else kinds.index("text")
    money = [i for i, k in enumerate(kinds) if k == "money"]
    if not money:
        return
    total = names.index("total") if "total" in names else money[-1]
    chart = BarChart()
    chart.type = "bar"
    chart.style = 10
    chart.title = f"Total spend by owner ({cost_type.replace('_', ' ')})"
    chart.y_axis.title = "USD"
    chart.y_axis.numFmt = '"$"#,##0'
    chart.y_axis.majorGridlines = None
    chart.x_axis.delete = False  # openpyxl >= 3.1 hides both axes unless told otherwise
    chart.y_axis.delete = False
    chart.legend = None
    data = Reference(ws, min_col=total + 1, min_row=header_row, max_row=last_row)
    cats = Reference(ws, min_col=owner + 1, min_row=header_row + 1, max_row=last_row)
    chart.add_data(data, titles_from_data=True)
    for series in chart.series:  # owners are text: a string reference, not openpyxl's numRef
        series.cat = AxDataSource(strRef=StrRef(f=str(cats)))
    chart.width = 18
    chart.height = max(7.5, 0.6 * (last_row - header_row) + 3)
    ws.add_chart(chart, f"{get_column_letter(len(names) + 2)}{header_row}")


def _money(value: Any) -> float:
    """A money value as the double Excel stores, rounded to 10 decimals.

    >>> _money(Decimal("0.1") + Decimal("0.2")), _money(Decimal("1.00000000004"))
    (0.3, 1.0)
    """
    return float(round(value, 10)) if isinstance(value, Decimal) else float(value)


def _text(value: Any) -> str:
    """Text as a cell can hold it: control characters (not allowed in the file) dropped, at
    most 32,767 characters (Excel's limit).

    >>> _text("a\\x00b\\x1fc")
    'abc'
    """
    return str(ILLEGAL_CHARACTERS_RE.sub("", str(value)))[:32767]


_CONVERT: dict[ColumnKind, Callable[[Any], Any]] = {
    "money": _money,
    "percent": float,
    "date": lambda v: v,
    "count": int,
    "text": _text,
}


def _shown(col: Col, value: Any) -> int:
    """How many characters ``value`` takes in its column's number format."""
    if value is None:
        return 0
    if col.kind == "money":
        return len(f"{value:,.2f}") + 1
    if col.kind == "percent":
        return len(f"{float(value):.1%}")
    if col.kind == "date":
        return 10
    if col.kind == "count":
        return len(f"{value:,}")
    return len(str(value))


def _widths(sheet: Sheet) -> list[float]:
    """Column widths (in characters) that fit the header and the widest value, within bounds."""
    widths = []
    for i, col in enumerate(sheet.columns):
        widest = max((_shown(col, row[i]) for row in sheet.rows), default=0)
        widest = max(widest, len(col.header) + 2)  # room for the filter button
        widths.append(float(min(max(widest + 2, _MIN_WIDTH), _MAX_WIDTH)))
    return widths
