"""The Detail rows as CSV, with the reconciliation in a side file ``<stem>.reconciliation.csv``.

The header is each column's machine name (``Col.name``); money is written exactly as the
``Decimal`` holds it (``format(value, "f")``: ``0.3``, never ``0.30000000000000004``), dates as
ISO ``YYYY-MM-DD``, an empty field for None. UTF-8, ``\\n`` line endings, quoting only where a
field needs it (the ``csv`` module's minimal quoting).
"""

from __future__ import annotations

import csv
from collections.abc import Callable
from decimal import Decimal
from pathlib import Path
from typing import Any

from reports.exports.files import atomic_write_all, side_path
from reports.exports.model import ColumnKind, Sheet, Showback

__all__ = ["csv_field", "write_csv"]


def write_csv(showback: Showback, path: Path) -> list[Path]:
    """Write the Detail sheet at ``path`` and the reconciliation beside it; returns both paths.

    Both are written to temporary files first and renamed together (``atomic_write_all``).
    """
    path = Path(path)
    recon = side_path(path, "reconciliation")
    return atomic_write_all(
        [
            (path, lambda tmp: _write_sheet(showback.detail, tmp)),
            (recon, lambda tmp: _write_sheet(showback.reconciliation, tmp)),
        ]
    )


def _number(value: Any) -> str:
    return format(value, "f") if isinstance(value, Decimal) else repr(value)


def _date(value: Any) -> str:
    return str(value.isoformat())


_FIELD: dict[ColumnKind, Callable[[Any], str]] = {
    "money": _number,
    "percent": _number,
    "date": _date,
    "count": str,
    "text": str,
}


def csv_field(kind: ColumnKind, value: Any) -> str:
    """One value as its CSV field.

    >>> csv_field("money", Decimal("0.1") + Decimal("0.2")), csv_field("money", Decimal("-1E+2"))
    ('0.3', '-100')
    >>> from datetime import date
    >>> csv_field("date", date(2026, 11, 1)), csv_field("percent", 0.25), csv_field("text", None)
    ('2026-11-01', '0.25', '')
    """
    return "" if value is None else _FIELD[kind](value)


def _write_sheet(sheet: Sheet, target: Path) -> None:
    fields = [_FIELD[c.kind] for c in sheet.columns]
    with target.open("w", encoding="utf-8", newline="") as f:
        writer = csv.writer(f, lineterminator="\n")
        writer.writerow(sheet.names)
        writer.writerows(
            ["" if v is None else to_field(v) for to_field, v in zip(fields, row, strict=True)]
            for row in sheet.rows
        )
