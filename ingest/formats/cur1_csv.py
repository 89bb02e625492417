"""Legacy CUR CSV: ``category/Name`` headers (``lineItem/UnblendedCost``), plain, gzip or zip.

Headers are renamed to their Athena spelling (``line_item_unblended_cost``) and then share the
mapping of the Parquet flavour; every value is read as text so costs are parsed exactly.

Tag columns (``resourceTags/user:Team``) keep their own header: AWS's tag keys are
case-sensitive, so ``user:Team`` and ``user:team`` can be two columns of one file (DuckDB reads
the second as ``resourceTags/user:team_1``); both feed the one normalized key ``team``.
"""

from __future__ import annotations

import re
from pathlib import Path

from costlens.tags import athena_column_name
from ingest.formats import _cur
from ingest.formats.readers import FileKind, reader_sql
from ingest.normalize import Columns, quote
from ingest.tag_maps import Tags, tags_from_columns_sql

NAME = "cur1-csv"
TAG_CATEGORY = "resourcetags/"
"""Header prefix of tag columns, compared case-insensitively."""

_DEDUPED = re.compile(r"^(?P<name>.+)_\d+$")


_CATEGORIES = frozenset({"lineItem", "bill", "identity", "product", "pricing"})


def recognizes(columns: Columns, path: Path) -> bool:
    """Legacy CUR CSV: ``category/Name`` headers (``lineItem/UnblendedCost``)."""
    return any("/" in n and n.split("/", 1)[0] in _CATEGORIES for n in columns)


def _is_tag(name: str) -> bool:
    return name.lower().startswith(TAG_CATEGORY)


def renamed(columns: Columns) -> dict[str, str]:
    """Athena name → original header of the non-tag columns (first header wins when two map to
    one name).

    >>> renamed({"lineItem/UnblendedCost": "VARCHAR", "resourceTags/user:Team": "VARCHAR"})
    {'line_item_unblended_cost': 'lineItem/UnblendedCost'}
    """
    out: dict[str, str] = {}
    for name in columns:
        if not _is_tag(name):
            out.setdefault(athena_column_name(name), name)
    return out


def tag_columns(columns: Columns) -> list[tuple[str, str]]:
    """``(column, raw tag key)`` of the tag columns, undoing DuckDB's ``_1`` suffix of a header
    repeated in another case.

    >>> tag_columns({"resourceTags/user:Team": "VARCHAR", "resourceTags/user:team_1": "VARCHAR",
    ...              "resourceTags/aws:createdBy": "VARCHAR", "lineItem/UsageType": "VARCHAR"})
    [('resourceTags/user:Team', 'user:Team'), ('resourceTags/user:team_1', 'user:team'), \
('resourceTags/aws:createdBy', 'aws:createdBy')]
    """
    lowered = {name.lower() for name in columns}
    out = []
    for name in columns:
        if not _is_tag(name):
            continue
        m = _DEDUPED.match(name)
        header = m["name"] if m and m["name"].lower() in lowered else name
        out.append((name, header[len(TAG_CATEGORY) :]))
    return out


def missing_columns(columns: Columns) -> list[str]:
    """Required columns absent from ``columns``, in the CSV header spelling."""
    have = renamed(columns)
    spelled = {
        "bill_billing_period_start_date": "bill/BillingPeriodStartDate",
        "line_item_line_item_type": "lineItem/LineItemType",
        "line_item_unblended_cost": "lineItem/UnblendedCost",
        "line_item_usage_start_date": "lineItem/UsageStartDate",
    }
    return [spelled[c] for c in _cur.REQUIRED if c not in have]


def tag_source(columns: Columns, kind: FileKind) -> Tags:
    """The ``tags`` column (over the tag columns aliased ``__tag_<i>`` by ``build_sql``) and
    where its keys come from (``ingest.tag_maps``)."""
    aliased = [(f"__tag_{i}", key) for i, (_, key) in enumerate(tag_columns(columns))]
    return tags_from_columns_sql(aliased)


def build_sql(columns: Columns, kind: FileKind) -> str:
    """``SELECT`` of ``line_items`` columns from legacy CSV files in ``$files``."""
    names = renamed(columns)
    tags = tag_columns(columns)
    inner = ", ".join(
        [f"{quote(orig)} AS {quote(athena)}" for athena, orig in names.items()]
        + [f"{quote(col)} AS {quote(f'__tag_{i}')}" for i, (col, _) in enumerate(tags)]
    )
    typed = dict.fromkeys(names, "VARCHAR")
    select = _cur.select_list(typed, tag_source(columns, kind).expr)
    sql = f"SELECT\n  {select}\nFROM (SELECT {inner} FROM {reader_sql(kind)})"  # noqa: S608
    return sql
