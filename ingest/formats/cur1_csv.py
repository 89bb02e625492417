"""Legacy CUR CSV: ``category/Name`` headers (``lineItem/UnblendedCost``), plain, gzip or zip.

Headers are renamed to their Athena spelling (``line_item_unblended_cost``) and then share the
mapping of the Parquet flavour; every value is read as text so costs are parsed exactly.
"""

from __future__ import annotations

from costlens.tags import athena_column_name
from ingest.formats import _cur
from ingest.formats.readers import FileKind, reader_sql
from ingest.normalize import Columns, quote, tags_from_columns_sql

NAME = "cur1-csv"
TAG_CATEGORY = "resourceTags/"


def renamed(columns: Columns) -> dict[str, str]:
    """Athena name → original header (first header wins when two map to one name).

    >>> renamed({"lineItem/UnblendedCost": "VARCHAR"})
    {'line_item_unblended_cost': 'lineItem/UnblendedCost'}
    """
    out: dict[str, str] = {}
    for name in columns:
        out.setdefault(athena_column_name(name), name)
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


def build_sql(columns: Columns, kind: FileKind) -> str:
    """``SELECT`` of ``line_items`` columns from legacy CSV files in ``$files``."""
    names = renamed(columns)
    tag_cols = [
        (athena, original[len(TAG_CATEGORY) :])
        for athena, original in names.items()
        if original.startswith(TAG_CATEGORY)
    ]
    inner = ", ".join(f"{quote(orig)} AS {quote(athena)}" for athena, orig in names.items())
    typed = dict.fromkeys(names, "VARCHAR")
    select = _cur.select_list(typed, tags_from_columns_sql(tag_cols))
    sql = f"SELECT\n  {select}\nFROM (SELECT {inner} FROM {reader_sql(kind)})"  # noqa: S608
    return sql
