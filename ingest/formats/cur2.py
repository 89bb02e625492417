"""CUR 2.0 (AWS Data Exports): Athena-style columns, ``resource_tags`` and ``product`` maps.

Tag keys in the ``resource_tags`` map read ``user_cost_center`` (AWS's spelling of
``user:CostCenter``); the ``user_`` prefix is dropped like ``user:`` elsewhere.
"""

from __future__ import annotations

from pathlib import Path

from ingest.formats import _cur
from ingest.formats.readers import FileKind, reader_sql
from ingest.normalize import Columns
from ingest.tag_maps import NO_TAGS, Tags, tags_from_json_sql, tags_from_map_sql

NAME = "cur2"


def recognizes(columns: Columns, path: Path) -> bool:
    """CUR 2.0: Athena-style CUR columns with its ``resource_tags`` / ``product`` maps."""
    return _cur.is_cur2(columns, path)


def missing_columns(columns: Columns) -> list[str]:
    """Required columns absent from ``columns``."""
    return [c for c in _cur.REQUIRED if c not in columns]


def tag_source(columns: Columns, kind: FileKind) -> Tags:
    """The ``tags`` column and where its keys come from (``ingest.tag_maps``)."""
    kind_of_tags = columns.get("resource_tags", "")
    if kind_of_tags.startswith("MAP"):
        return tags_from_map_sql('"resource_tags"', reader_sql(kind), drop_user_underscore=True)
    if "resource_tags" in columns:  # CSV exports write the map as JSON text
        return tags_from_json_sql('"resource_tags"', reader_sql(kind), drop_user_underscore=True)
    return NO_TAGS


def build_sql(columns: Columns, kind: FileKind) -> str:
    """``SELECT`` of ``line_items`` columns (no delivery_id) from CUR 2.0 files in ``$files``."""
    tags = tag_source(columns, kind)
    select = _cur.select_list(columns, tags.expr)
    return f"SELECT\n  {select}\nFROM {tags.select_from(reader_sql(kind))}"
