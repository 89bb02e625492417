"""Benchmark: the XLSX finance export of one month against openpyxl writing the same rows alone.

Target (finance export issue): the XLSX of one month with N line items behind it (default 10
million) -- ``reports.exports.build.build_showback`` from the serving snapshot plus
``reports.exports.xlsx.write_xlsx`` -- takes at most 2x writing the same sheets and rows with
openpyxl alone from rows already in memory (the floor: the library's own write speed, in
write-only mode with the same number formats, fonts, widths, frozen header and autofilter, no
costlens code), measured in the same run. Both are run ``--repeat`` times, alternating; the
medians are compared (the best of each is printed too). The exit status is 1 when the target
is missed.

The pipeline before the timed part is the real one: the line items of one month are generated
in a warehouse as ``bench_scorecards`` generates them (its ``GENERATE`` statement, owners and
rules), keyed, attributed (``attribute``) and published (``refresh``); each step's time is
printed, not compared. The Detail row count of the export is printed next to the figures, and
the export must reconcile (exit 1 otherwise): the generated delivery is recorded in the ledger
as ingest records it.

With ``--modes`` it also times write_xlsx's own choice, openpyxl's write-only mode, against
its normal mode on the same Detail rows (the floor's writer with a cell object per value).

Usage: ``python benchmarks/bench_export.py [--rows 10000000] [--repeat 3] [--keep DIR]
[--modes]``
"""

from __future__ import annotations

import argparse
import datetime as dt
import importlib
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from decimal import Decimal
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

TARGET = 2.0
PERIOD = dt.date(2024, 3, 1)  # the month bench_scorecards' GENERATE writes
COST_TYPE = "amortized"
BY = ("environment",)

# The floor writes these itself (no costlens code): the same formats write_xlsx uses.
_FLOOR_FORMATS = {
    "money": '"$"#,##0.00',
    "percent": "0.0%",
    "date": "yyyy-mm-dd",
    "count": "#,##0",
    "text": None,
}


_LEDGER = """
INSERT INTO deliveries
SELECT delivery_id, 'bench', 'bench', 'cur2', billing_period, '', '[]', count(*),
       SUM(unblended_cost), SUM(amortized_cost), SUM(net_amortized_cost), SUM(list_cost),
       'current', TIMESTAMP '2024-04-01 00:00:00', 'duckdb'
FROM line_items GROUP BY delivery_id, billing_period
"""
"""The ingest ledger's row for the generated delivery (ingest records its file sums so)."""


_INCIDENTS = """
INSERT INTO line_items BY NAME
SELECT *, <key> AS line_key FROM (
  SELECT l.* EXCLUDE (line_key) REPLACE (
    'incident-' || i.app AS resource_id,
    TIMESTAMP '2024-03-01' + INTERVAL (i.h) HOUR AS usage_start,
    TIMESTAMP '2024-03-01' + INTERVAL (i.h + 1) HOUR AS usage_end,
    i.cost AS unblended_cost, i.cost AS amortized_cost, i.cost AS net_amortized_cost,
    i.cost AS list_cost)
  FROM (SELECT DISTINCT ON (tags['app']) * FROM line_items
        WHERE tags['app'] IN ('svc-1', 'svc-2') AND line_item_type = 'Usage'
        ORDER BY tags['app'], line_key) AS l
  JOIN (SELECT 'svc-1' AS app, h, CAST(25 AS DECIMAL(18,10)) AS cost
        FROM range(23 * 24, 31 * 24) t(h)
        UNION ALL
        SELECT 'svc-2', h, CAST(60 AS DECIMAL(18,10)) FROM range(17 * 24, 18 * 24) t(h)) AS i
    ON l.tags['app'] = i.app
)
"""
"""Two changes of the same dollars at any size, as new resources: microservice svc-1 at +$25 an
hour from 24 March on (a level shift, ongoing) and svc-2 at +$60 an hour on 18 March (a
spike)."""


def build_warehouse(data_dir: Path, rows: int, *, incidents: bool = False) -> Any:
    """Generate, key, attribute and refresh ``rows`` line items of one month (with
    ``incidents``, the ``_INCIDENTS`` changes in them); returns the settings (the published
    snapshot is in ``data_dir``)."""
    from bench_scorecards import (
        ACCOUNTS,
        GENERATE,
        LINES_PER_RESOURCE,
        OWNERS,
        SERVICES,
        owners_yaml,
        rules_yaml,
    )

    from costlens.attribution import attribute, parse_owners, parse_rules
    from costlens.config import load_settings
    from costlens.line_keys import key_sql, register_line_keys
    from costlens.refresh import refresh
    from costlens.warehouse import open_warehouse

    root = data_dir.parent
    (root / "owners.yaml").write_text(owners_yaml())
    (root / "rules.yaml").write_text(rules_yaml())
    settings = load_settings(
        None, data_dir=data_dir, rules=root / "rules.yaml", owners=root / "owners.yaml"
    )
    owners = parse_owners(owners_yaml(), "bench-owners.yaml")
    rules = parse_rules(rules_yaml(), "bench-rules.yaml", owners)
    resources = max(1, rows // LINES_PER_RESOURCE)
    with open_warehouse(data_dir) as wh:
        t = time.perf_counter()
        params = {"rows": resources * LINES_PER_RESOURCE, "resources": resources,
                  "accounts": ACCOUNTS, "services": SERVICES, "owners": OWNERS}  # fmt: skip
        wh.con.execute(GENERATE.replace("<key>", key_sql()), params)
        if incidents:
            wh.con.execute(_INCIDENTS.replace("<key>", key_sql()))
        wh.con.execute("BEGIN TRANSACTION")
        register_line_keys(wh.con, "bench")
        wh.con.execute(_LEDGER)  # what ingest records, so the export reconciles to a ledger
        wh.con.execute("COMMIT")
        print(f"generated and keyed {params['rows']:,} line items in"
              f" {time.perf_counter() - t:.1f}s", flush=True)  # fmt: skip
        t = time.perf_counter()
        result = attribute(wh, rules)
        print(f"attribute: {time.perf_counter() - t:.1f}s, {result.rows:,} allocation rows",
              flush=True)  # fmt: skip
        t = time.perf_counter()
        refresh(wh, settings, full=True)
        print(f"refresh: {time.perf_counter() - t:.1f}s", flush=True)
    return settings


def export_once(data_dir: Path, out: Path) -> tuple[float, Any]:
    """Time ``build_showback`` + ``write_xlsx`` once; returns (seconds, the showback)."""
    from costlens.serving.snapshot import open_snapshot
    from reports.exports.xlsx import write_xlsx

    # reports/exports/build.py is the lead's: looked up here so this module imports without it
    build_showback = importlib.import_module("reports.exports.build").build_showback

    t = time.perf_counter()
    with open_snapshot(data_dir) as snap:
        # build_showback(snap, start, end=None, *, cost_type, by) as reports/exports/build.py has it
        showback = build_showback(snap, PERIOD, cost_type=COST_TYPE, by=BY)
    write_xlsx(showback, out)
    return time.perf_counter() - t, showback


def plain_rows(showback: Any) -> list[tuple[str, list[str], list[str | None], list[list[Any]]]]:
    """The showback's sheets as plain Python data the floor writes: (name, headers, formats,
    rows with money as floats)."""
    sheets = []
    for sheet in [*showback.sheets()]:
        kinds = [c.kind for c in sheet.columns]
        rows = [[float(v) if isinstance(v, Decimal) else v for v in row] for row in sheet.rows]
        sheets.append((sheet.name, list(sheet.headers), [_FLOOR_FORMATS[k] for k in kinds], rows))
    pairs = [[label, value] for label, value in showback.assumptions]
    sheets.append(("Assumptions", ["Label", "Value"], [None, None], pairs))
    return sheets


def floor_write(sheets: list[tuple[str, list[str], list[str | None], list[list[Any]]]],
                out: Path) -> float:  # fmt: skip
    """openpyxl alone (write-only mode): the same sheets, headers, rows and number formats, a
    bold header, frozen panes, autofilter and column widths; returns the seconds."""
    from openpyxl import Workbook
    from openpyxl.cell import WriteOnlyCell
    from openpyxl.styles import Font
    from openpyxl.utils import get_column_letter

    t = time.perf_counter()
    wb = Workbook(write_only=True)
    bold = Font(bold=True)
    for name, headers, formats, rows in sheets:
        ws = wb.create_sheet(name)
        for i, header in enumerate(headers, 1):
            ws.column_dimensions[get_column_letter(i)].width = max(10, len(header) + 4)
        ws.freeze_panes = "A3"
        ws.append(["note"])
        head = []
        for header in headers:
            cell = WriteOnlyCell(ws, header)
            cell.font = bold
            head.append(cell)
        ws.append(head)
        template = []
        for fmt in formats:
            cell = WriteOnlyCell(ws)
            if fmt:
                cell.number_format = fmt
            template.append(cell)
        for row in rows:
            out_row: list[Any] = []
            for cell, value in zip(template, row, strict=True):
                if value is None:
                    out_row.append(None)
                else:
                    cell.value = value
                    out_row.append(cell)
            ws.append(out_row)
        ws.auto_filter.ref = f"A2:{get_column_letter(len(headers))}{len(rows) + 2}"
    wb.save(out)
    return time.perf_counter() - t


def normal_mode_write(sheet: tuple[str, list[str], list[str | None], list[list[Any]]],
                      out: Path) -> float:  # fmt: skip
    """The same Detail sheet in openpyxl's normal mode (a cell object per value)."""
    from openpyxl import Workbook
    from openpyxl.styles import Font

    t = time.perf_counter()
    name, headers, formats, rows = sheet
    wb = Workbook()
    ws = wb.active
    ws.title = name
    ws.cell(1, 1, "note")
    for j, header in enumerate(headers, 1):
        ws.cell(2, j, header).font = Font(bold=True)
    for i, row in enumerate(rows, 3):
        for j, (value, fmt) in enumerate(zip(row, formats, strict=True), 1):
            if value is not None:
                cell = ws.cell(i, j, value)
                if fmt:
                    cell.number_format = fmt
    ws.freeze_panes = "A3"
    wb.save(out)
    return time.perf_counter() - t


def _median_runs(fn: Callable[[], float], repeat: int) -> list[float]:
    return [fn() for _ in range(repeat)]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rows", type=int, default=10_000_000)
    ap.add_argument("--repeat", type=int, default=3, help="Runs of each; medians compared.")
    ap.add_argument("--keep", type=Path, help="Folder to keep the warehouse and files in.")
    ap.add_argument("--modes", action="store_true", help="Also time openpyxl's normal mode.")
    args = ap.parse_args()
    root = args.keep or Path(tempfile.mkdtemp(prefix="bench-export-"))
    root.mkdir(parents=True, exist_ok=True)
    data_dir = root / "data"
    build_warehouse(data_dir, args.rows)

    exports, floors = [], []
    showback = None
    for n in range(args.repeat):
        seconds, showback = export_once(data_dir, root / f"export-{n}.xlsx")
        exports.append(seconds)
        floors.append(floor_write(plain_rows(showback), root / f"floor-{n}.xlsx"))
    assert showback is not None
    detail_rows = len(showback.detail.rows)
    cells = sum(len(s.rows) * len(s.columns) for s in showback.sheets())
    export, floor = statistics.median(exports), statistics.median(floors)
    ratio = export / floor
    runs = ", ".join(f"{f:.2f}/{e:.2f}" for f, e in zip(floors, exports, strict=True))
    print(f"runs (floor/export, s): {runs}")
    print(f"floor: openpyxl alone writing the same {len(showback.sheets()) + 1} sheets"
          f" ({detail_rows:,} Detail rows, {cells:,} cells): {floor:.2f}s (median; best"
          f" {min(floors):.2f}s; {detail_rows / floor:,.0f} Detail rows/s)")  # fmt: skip
    print(f"export: build_showback + write_xlsx of {PERIOD:%Y-%m} ({args.rows:,} line items"
          f" behind it, {detail_rows:,} Detail rows): {export:.2f}s (median; best"
          f" {min(exports):.2f}s; {detail_rows / export:,.0f} Detail rows/s)")  # fmt: skip
    print(f"ratio export / floor: {ratio:.2f}x (medians; best of each:"
          f" {min(exports) / min(floors):.2f}x); target <= {TARGET:.1f}x:"
          f" {'met' if ratio <= TARGET else 'MISSED'}", flush=True)  # fmt: skip
    print(f"reconciled: {showback.reconciled} (largest differences: "
          f"{', '.join(f'{t} {v}' for t, v in showback.differences.items())})")  # fmt: skip
    if args.modes:
        detail = plain_rows(showback)[1]
        normal = statistics.median(
            _median_runs(lambda: normal_mode_write(detail, root / "normal.xlsx"), args.repeat)
        )
        write_only = statistics.median(
            _median_runs(lambda: floor_write([detail], root / "wo.xlsx"), args.repeat)
        )
        print(f"openpyxl on the Detail sheet alone: write-only {write_only:.2f}s"
              f" ({detail_rows / write_only:,.0f} rows/s), normal mode {normal:.2f}s"
              f" ({detail_rows / normal:,.0f} rows/s)")  # fmt: skip
    return 0 if ratio <= TARGET and showback.reconciled else 1


if __name__ == "__main__":
    sys.exit(main())
