"""Export formats: each maps its columns to ``line_items`` in one DuckDB SELECT."""

from __future__ import annotations

from types import ModuleType

from ingest.formats import cur1_csv, cur1_parquet, cur2, focus

__all__ = ["FORMATS", "cur1_csv", "cur1_parquet", "cur2", "focus"]

FORMATS: dict[str, ModuleType] = {m.NAME: m for m in (cur2, cur1_csv, cur1_parquet, focus)}
"""Format name (as in ``SourceSettings.format``) → module with ``recognizes`` (detection:
exactly one format recognizes a file's columns), ``missing_columns`` and ``build_sql``."""
