"""Legacy CUR as Athena-style Parquet: one ``resource_tags_*`` column per tag key."""

from __future__ import annotations

from pathlib import Path

from ingest.formats import _cur
from ingest.formats.readers import FileKind, reader_sql
from ingest.normalize import Columns
from ingest.tag_maps import Tags, tags_from_columns_sql

NAME = "cur1-parquet"
TAG_PREFIX = "resource_tags_"


def recognizes(columns: Columns, path: Path) -> bool:
    """Legacy CUR in Parquet: Athena-style CUR columns that are not CUR 2.0's."""
    return bool(set(columns) & _cur.MARKERS) and not _cur.is_cur2(columns, path)


def missing_columns(columns: Columns) -> list[str]:
    """Required columns absent from ``columns``."""
    return [c for c in _cur.REQUIRED if c not in columns]


def tag_columns(columns: Columns) -> list[tuple[str, str]]:
    """``(column, raw key)`` of the tag columns (``resource_tags_user_cost_center``).

    >>> tag_columns({"resource_tags_user_cost_center": "VARCHAR", "x": "VARCHAR"})
    [('resource_tags_user_cost_center', 'cost_center')]
    """
    out = []
    for name in columns:
        if name.startswith(TAG_PREFIX):
            key = name[len(TAG_PREFIX) :]
            out.append((name, key.removeprefix("user_")))
    return out


def tag_source(columns: Columns, kind: FileKind) -> Tags:
    """The ``tags`` column and where its keys come from (``ingest.tag_maps``)."""
    return tags_from_columns_sql(tag_columns(columns))


def build_sql(columns: Columns, kind: FileKind) -> str:
    """``SELECT`` of ``line_items`` columns from legacy Parquet files in ``$files``."""
    tags = tag_source(columns, kind).expr
    return f"SELECT\n  {_cur.select_list(columns, tags)}\nFROM {reader_sql(kind)}"
