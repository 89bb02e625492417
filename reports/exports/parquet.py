"""The Detail rows as Parquet, with the reconciliation in ``<stem>.reconciliation.parquet``.

Column types follow ``Col.kind``: money ``decimal128(38, 10)`` (exact: the ``Decimal`` values
as they are, at most 10 decimals), dates ``date32``, counts ``int64``, percentages ``float64``,
text ``string``. The schema's metadata names the export: ``costlens.cost_type``,
``costlens.periods`` and ``costlens.not_final`` (comma-separated ISO dates).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from costlens.errors import ReportError
from reports.exports.files import atomic_write_all, side_path
from reports.exports.model import ColumnKind, Sheet, Showback

__all__ = ["MONEY_TYPE", "arrow_table", "write_parquet"]

MONEY_TYPE = pa.decimal128(38, 10)
"""Money in Parquet: exact, ten decimals like the warehouse's costs."""

_TYPES: dict[ColumnKind, Any] = {
    "money": MONEY_TYPE,
    "percent": pa.float64(),
    "date": pa.date32(),
    "count": pa.int64(),
    "text": pa.string(),
}


def write_parquet(showback: Showback, path: Path) -> list[Path]:
    """Write the Detail sheet at ``path`` and the reconciliation beside it; returns both paths.

    Both are written to temporary files first and renamed together (``atomic_write_all``).
    Raises ``ReportError`` when a money value has more than 10 decimals (it cannot be kept
    exactly).
    """
    path = Path(path)
    recon = side_path(path, "reconciliation")
    tables = [
        arrow_table(showback.detail, showback),
        arrow_table(showback.reconciliation, showback),
    ]
    return atomic_write_all(
        [
            (path, lambda tmp: pq.write_table(tables[0], tmp)),
            (recon, lambda tmp: pq.write_table(tables[1], tmp)),
        ]
    )


def arrow_table(sheet: Sheet, showback: Showback) -> Any:
    """``sheet``'s rows as a ``pyarrow.Table`` typed by its columns' kinds."""
    arrays = []
    for i, col in enumerate(sheet.columns):
        values = [row[i] for row in sheet.rows]
        if col.kind == "percent":
            values = [None if v is None else float(v) for v in values]
        try:
            arrays.append(pa.array(values, type=_TYPES[col.kind]))
        except (pa.ArrowInvalid, pa.ArrowTypeError) as exc:
            raise ReportError(
                f"column {col.name} of the {sheet.name} sheet cannot be written as"
                f" {_TYPES[col.kind]} ({exc})",
                where=f"{sheet.name}.{col.name}",
                fix="this is a bug in the export's builder: report it",
            ) from exc
    metadata = {
        "costlens.sheet": sheet.name,
        "costlens.cost_type": showback.cost_type,
        "costlens.periods": ",".join(p.isoformat() for p in showback.periods),
        "costlens.not_final": ",".join(p.isoformat() for p in sorted(showback.not_final)),
    }
    schema = pa.schema([pa.field(c.name, _TYPES[c.kind]) for c in sheet.columns], metadata=metadata)
    return pa.Table.from_arrays(arrays, schema=schema)
