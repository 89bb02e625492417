"""Shared SQL pieces of the normalization into ``line_items``.

Each format module maps its own columns; the expressions that mean the same thing for every
format live here: exact money casts, timestamps, tag maps with normalized keys, the amortization
CASE of DESIGN.md, and the derivation of ``charge_category`` and ``purchase_option``.

Every function takes trusted SQL expressions (quoted identifiers built by ``column``) and returns
an SQL expression; no value ever goes into these strings.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence

from costlens.schema import MONEY
from costlens.tags import normalize_tag_key, tag_key_sql

__all__ = [
    "amortized_cost_sql",
    "charge_category_sql",
    "column",
    "double",
    "money",
    "purchase_option_sql",
    "quote",
    "tags_from_columns_sql",
    "tags_from_json_sql",
    "tags_from_map_sql",
    "text",
    "text_casts",
    "timestamp",
]

Columns = Mapping[str, str]
"""Column name → DuckDB type name of an input relation."""


def quote(name: str) -> str:
    """``name`` as a quoted SQL identifier.

    >>> quote('lineItem/UnblendedCost')
    '"lineItem/UnblendedCost"'
    """
    return '"' + name.replace('"', '""') + '"'


def column(columns: Columns, name: str, sql_type: str = "VARCHAR") -> str:
    """The column ``name`` when the input has it, else a typed NULL (absence is no error)."""
    return quote(name) if name in columns else f"CAST(NULL AS {sql_type})"


def _is_text(columns: Columns, name: str) -> bool:
    return columns.get(name, "VARCHAR") == "VARCHAR"


def money(columns: Columns, name: str) -> str:
    """``name`` as ``DECIMAL(18,10)``: text parsed exactly (also ``1.2E-5``); 0 if absent.

    >>> money({"c": "VARCHAR"}, "c")
    'COALESCE(CAST(NULLIF(trim("c"), \\'\\') AS DECIMAL(18,10)), 0)'
    >>> money({}, "c")
    'CAST(0 AS DECIMAL(18,10))'
    """
    if name not in columns:
        return f"CAST(0 AS {MONEY})"
    if _is_text(columns, name):
        return f"COALESCE(CAST(NULLIF(trim({quote(name)}), '') AS {MONEY}), 0)"
    return f"COALESCE(CAST({quote(name)} AS {MONEY}), 0)"


def timestamp(columns: Columns, name: str) -> str:
    """``name`` as a UTC ``TIMESTAMP`` (text such as ``2023-11-01T00:00:00.000Z`` is parsed)."""
    if name not in columns:
        return "CAST(NULL AS TIMESTAMP)"
    kind = columns[name]
    if kind == "VARCHAR":
        return f"CAST(NULLIF(trim({quote(name)}), '') AS TIMESTAMP)"
    if kind.startswith("TIMESTAMP WITH TIME ZONE"):
        return f"CAST(timezone('UTC', {quote(name)}) AS TIMESTAMP)"
    return f"CAST({quote(name)} AS TIMESTAMP)"


def double(columns: Columns, name: str) -> str:
    """``name`` as DOUBLE (a quantity, never money)."""
    if name not in columns:
        return "CAST(NULL AS DOUBLE)"
    if _is_text(columns, name):
        return f"CAST(NULLIF(trim({quote(name)}), '') AS DOUBLE)"
    return f"CAST({quote(name)} AS DOUBLE)"


_TEXT_CAST = re.compile(
    r"CAST\(NULLIF\(trim\((\"(?:[^\"]|\"\")+\")\), ''\) AS "
    + f"({re.escape(MONEY)}|TIMESTAMP|DOUBLE)\\)"
)


def text_casts(sql: str) -> dict[str, str]:
    """Text column → type it is cast to by ``money``, ``timestamp`` and ``double`` in ``sql``.

    The casts a load can fail on, found in the very SQL that ran (ingest's error diagnosis).

    >>> text_casts(money({"c": "VARCHAR"}, "c") + timestamp({'a"b': "VARCHAR"}, 'a"b'))
    {'c': 'DECIMAL(18,10)', 'a"b': 'TIMESTAMP'}
    >>> text_casts(double({"q": "VARCHAR"}, "q") + double({"n": "DOUBLE"}, "n"))
    {'q': 'DOUBLE'}
    """
    return {m[1][1:-1].replace('""', '"'): m[2] for m in _TEXT_CAST.finditer(sql)}


def text(columns: Columns, name: str, default: str | None = None) -> str:
    """``name`` as VARCHAR; ``default`` (an SQL literal such as ``''``) when absent or NULL."""
    expr = f"CAST({quote(name)} AS VARCHAR)" if name in columns else "CAST(NULL AS VARCHAR)"
    return f"COALESCE({expr}, {default})" if default is not None else expr


def _dedupe_and_drop_empty(entries: str) -> str:
    """Keep the first entry of each normalized key and drop empty values ("no tag")."""
    keys = f"list_transform({entries}, lambda e: e.key)"
    firsts = f"list_filter({entries}, lambda e, i: list_position({keys}, e.key) = i)"
    non_empty = f"list_filter({firsts}, lambda e: e.value IS NOT NULL AND e.value <> '')"
    return f"map_from_entries({non_empty})"


def tags_from_map_sql(map_sql: str, *, drop_user_underscore: bool = False) -> str:
    """A ``MAP(VARCHAR, VARCHAR)`` with keys normalized, from a map expression.

    ``drop_user_underscore`` removes CUR 2.0's ``user_`` key prefix (its spelling of ``user:``).
    """
    key = "e.key"
    if drop_user_underscore:
        key = "regexp_replace(e.key, '^user_', '')"
    entries = (
        f"list_transform(map_entries(COALESCE({map_sql}, MAP {{}})), "
        f"lambda e: {{'key': {tag_key_sql(key)}, 'value': CAST(e.value AS VARCHAR)}})"
    )
    return _dedupe_and_drop_empty(entries)


def tags_from_json_sql(json_sql: str, *, drop_user_underscore: bool = False) -> str:
    """Tags from a JSON object string (FOCUS ``Tags``); NULL or ``'NULL'`` gives an empty map."""
    as_map = f"json_transform(NULLIF(trim({json_sql}), 'NULL'), '\"MAP(VARCHAR, VARCHAR)\"')"
    return tags_from_map_sql(as_map, drop_user_underscore=drop_user_underscore)


def tags_from_columns_sql(tag_columns: Sequence[tuple[str, str]]) -> str:
    """Tags from one column per key (legacy CUR), given ``(column, raw key)`` pairs.

    >>> tags_from_columns_sql([])
    'CAST(MAP {} AS MAP(VARCHAR, VARCHAR))'
    """
    if not tag_columns:
        return "CAST(MAP {} AS MAP(VARCHAR, VARCHAR))"
    seen: dict[str, str] = {}
    for col, raw_key in tag_columns:
        seen.setdefault(normalize_tag_key(raw_key), col)
    structs = ", ".join(
        f"{{'key': '{key}', 'value': CAST({quote(col)} AS VARCHAR)}}" for key, col in seen.items()
    )
    return _dedupe_and_drop_empty(f"[{structs}]")


AMORTIZED_CASE = """CASE
    WHEN {line_item_type} = 'SavingsPlanCoveredUsage' THEN {sp_effective_cost}
    WHEN {line_item_type} = 'SavingsPlanRecurringFee'
        THEN {sp_total_commitment_to_date} - {sp_used_commitment}
    WHEN {line_item_type} IN ('SavingsPlanNegation', 'SavingsPlanUpfrontFee') THEN 0
    WHEN {line_item_type} = 'DiscountedUsage' THEN {reservation_effective_cost}
    WHEN {line_item_type} = 'RIFee'
        THEN {reservation_unused_upfront} + {reservation_unused_recurring}
    WHEN {line_item_type} = 'Fee' AND COALESCE({reservation_arn}, '') <> '' THEN 0
    ELSE {unblended_cost}
END"""


def amortized_cost_sql(**parts: str) -> str:
    """The amortized-cost CASE of DESIGN.md (AWS CID logic) over the given money expressions.

    Keys: line_item_type, unblended_cost, sp_effective_cost, sp_total_commitment_to_date,
    sp_used_commitment, reservation_effective_cost, reservation_unused_upfront,
    reservation_unused_recurring, reservation_arn.
    """
    return f"CAST({AMORTIZED_CASE.format(**parts)} AS {MONEY})"


_CATEGORY_BY_TYPE = {
    "Usage": "Usage",
    "DiscountedUsage": "Usage",
    "SavingsPlanCoveredUsage": "Usage",
    "SavingsPlanNegation": "Usage",
    "RIFee": "Purchase",
    "Fee": "Purchase",
    "SavingsPlanRecurringFee": "Purchase",
    "SavingsPlanUpfrontFee": "Purchase",
    "Tax": "Tax",
    "Credit": "Credit",
    "Refund": "Credit",
}


def charge_category_sql(line_item_type: str) -> str:
    """Usage, Purchase, Tax, Credit or Adjustment from a CUR line item type (discounts and
    anything unknown are Adjustment)."""
    whens = " ".join(f"WHEN '{t}' THEN '{c}'" for t, c in _CATEGORY_BY_TYPE.items())
    return f"CASE {line_item_type} {whens} ELSE 'Adjustment' END"


def purchase_option_sql(line_item_type: str, pricing_term: str, usage_type: str) -> str:
    """OnDemand, Spot, Reserved or SavingsPlan from CUR columns."""
    return (
        "CASE"
        f" WHEN {line_item_type} IN ('DiscountedUsage', 'RIFee') THEN 'Reserved'"
        f" WHEN {line_item_type} LIKE 'SavingsPlan%' THEN 'SavingsPlan'"
        f" WHEN {pricing_term} = 'Spot' OR {usage_type} LIKE '%SpotUsage%' THEN 'Spot'"
        " ELSE 'OnDemand' END"
    )
