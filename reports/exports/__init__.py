"""The month-end finance export: a ``Showback`` (``model``) written as XLSX, CSV or Parquet.

``write_export(showback, fmt, path)`` picks the writer; every file lands atomically.
"""

from __future__ import annotations

from reports.exports.csv import write_csv
from reports.exports.files import write_export
from reports.exports.model import Col, Sheet, Showback
from reports.exports.parquet import write_parquet
from reports.exports.xlsx import write_xlsx

__all__ = ["Col", "Sheet", "Showback", "write_csv", "write_export", "write_parquet", "write_xlsx"]
