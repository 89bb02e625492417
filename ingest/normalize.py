"""Shared SQL pieces of the normalization into ``line_items``.

Each format module maps its own columns; the expressions that mean the same thing for every
format live here: exact money casts, timestamps, the amortization CASE of DESIGN.md, and the
derivation of ``charge_category`` and ``purchase_option``.

Every function takes trusted SQL expressions (quoted identifiers built by ``column``) and returns
an SQL expression; no value ever goes into these strings.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

from costlens.schema import MONEY

__all__ = [
    "amortized_cost_sql",
    "charge_category_sql",
    "column",
    "double",
    "json_text",
    "money",
    "money_or_null",
    "purchase_option_sql",
    "quote",
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


_BINARY_FLOATS = ("DOUBLE", "FLOAT", "REAL")


def money(columns: Columns, name: str) -> str:
    """``name`` as ``DECIMAL(18,10)``, rounded half away from zero to 10 places; 0 if absent.

    Text is parsed exactly (also ``1.2E-5``). A binary float (Parquet ``double``) is taken at its
    shortest decimal spelling (the digits the exporter wrote, ``1234567.89``), like text:
    DuckDB's direct DOUBLE → DECIMAL cast is off in the last places for large values
    (``1234567.89`` → ``1234567.8899999998``), so it is used only where it gives the same
    result (``_double_money``). Other types (DECIMAL, integers) cast directly.

    >>> money({"c": "VARCHAR"}, "c")
    'COALESCE(CAST(NULLIF(trim("c"), \\'\\') AS DECIMAL(18,10)), 0)'
    >>> print(money({"c": "DOUBLE"}, "c"))
    COALESCE(CASE WHEN abs("c") < 1e5 AND CAST(CAST("c" AS DECIMAL(18,10)) AS DOUBLE) = "c" \
THEN CAST("c" AS DECIMAL(18,10)) ELSE CAST(CAST("c" AS VARCHAR) AS DECIMAL(18,10)) END, 0)
    >>> money({}, "c")
    'CAST(0 AS DECIMAL(18,10))'
    """
    if name not in columns:
        return f"CAST(0 AS {MONEY})"
    return f"COALESCE({money_or_null(columns, name)}, 0)"


def money_or_null(columns: Columns, name: str) -> str:
    """``name`` as ``DECIMAL(18,10)`` like ``money``, but NULL where empty or absent.

    >>> money_or_null({"c": "DECIMAL(38,20)"}, "c")
    'CAST("c" AS DECIMAL(18,10))'
    >>> money_or_null({}, "c")
    'CAST(NULL AS DECIMAL(18,10))'
    """
    if name not in columns:
        return f"CAST(NULL AS {MONEY})"
    if _is_text(columns, name):
        return f"CAST(NULLIF(trim({quote(name)}), '') AS {MONEY})"
    if columns[name] in _BINARY_FLOATS:
        return _double_money(quote(name))
    return f"CAST({quote(name)} AS {MONEY})"


def _double_money(value: str) -> str:
    """A DOUBLE as DECIMAL(18,10), exactly as its shortest spelling rounded half away from zero.

    The spelling (``CAST(v AS VARCHAR)``) costs about 1 s per 10 million values; DuckDB's direct
    cast about 0.05 s, but it is off in the last places from 10^6 on and rounds the binary
    value, not the spelling (``0.12345678905`` is stored as ``0.1234567890499999...``). The
    direct result ``d`` is therefore taken only when ``|v| < 10^5`` and ``d`` converts back to
    exactly ``v``: below 2^19 at most one number of 10 decimals converts to a given double, so
    ``d`` is then the shortest spelling itself. Other values (larger, or with more than 10
    decimals) take the spelling; CASE evaluates each branch on its own rows only.
    """
    direct = f"CAST({value} AS {MONEY})"
    return (
        f"CASE WHEN abs({value}) < 1e5 AND CAST({direct} AS DOUBLE) = {value} THEN {direct} "
        f"ELSE CAST(CAST({value} AS VARCHAR) AS {MONEY}) END"
    )


def timestamp(columns: Columns, name: str, *, as_written: bool = False) -> str:
    """``name`` as a UTC ``TIMESTAMP``. Text such as ``2023-11-01T00:00:00.000Z`` is parsed; an
    offset (``2023-11-01T01:00:00+01:00``) is honoured; text without one is UTC (the warehouse
    connection's time zone, see ``costlens.warehouse``). ``as_written`` keeps the date and time
    as written and drops an offset: a billing period starts on the day its start names."""
    if name not in columns:
        return "CAST(NULL AS TIMESTAMP)"
    kind = columns[name]
    if kind == "VARCHAR" and as_written:
        return f"CAST(NULLIF(trim({quote(name)}), '') AS TIMESTAMP)"
    if kind == "VARCHAR":
        text = f"CAST(NULLIF(trim({quote(name)}), '') AS TIMESTAMPTZ)"
        return f"CAST(timezone('UTC', {text}) AS TIMESTAMP)"
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
    + f"({re.escape(MONEY)}|TIMESTAMPTZ|TIMESTAMP|DOUBLE)\\)"
)
_NUMBER_TO_MONEY = re.compile(
    r"CAST\((?:CAST\()?(\"(?:[^\"]|\"\")+\")(?: AS VARCHAR\))? AS " + f"({re.escape(MONEY)})\\)"
)


def text_casts(sql: str) -> dict[str, str]:
    """Column → type it is cast to by ``money``, ``timestamp`` and ``double`` in ``sql``.

    The casts a load can fail on, found in the very SQL that ran (ingest's error diagnosis):
    those of text columns, and the money casts of numeric (Parquet) columns, which fail on a
    value too large for ``DECIMAL(18,10)``.

    >>> text_casts(money({"c": "VARCHAR"}, "c") + timestamp({'a"b': "VARCHAR"}, 'a"b'))
    {'c': 'DECIMAL(18,10)', 'a"b': 'TIMESTAMP'}
    >>> text_casts(double({"q": "VARCHAR"}, "q") + double({"n": "DOUBLE"}, "n"))
    {'q': 'DOUBLE'}
    >>> text_casts(money({"d": "DOUBLE"}, "d") + money({"e": "DECIMAL(38,20)"}, "e"))
    {'d': 'DECIMAL(18,10)', 'e': 'DECIMAL(18,10)'}
    """
    found = {
        m[1][1:-1].replace('""', '"'): m[2].replace("TIMESTAMPTZ", "TIMESTAMP")
        for m in _TEXT_CAST.finditer(sql)
    }
    for m in _NUMBER_TO_MONEY.finditer(sql):
        found.setdefault(m[1][1:-1].replace('""', '"'), m[2])
    return found


def text(columns: Columns, name: str, default: str | None = None) -> str:
    """``name`` as VARCHAR; ``default`` (an SQL literal such as ``''``) when absent or NULL."""
    expr = f"CAST({quote(name)} AS VARCHAR)" if name in columns else "CAST(NULL AS VARCHAR)"
    return f"COALESCE({expr}, {default})" if default is not None else expr


def json_text(text_sql: str) -> str:
    """A JSON text column with the CSV spellings of "nothing" (``''``, ``NULL``) as NULL."""
    return f"NULLIF(NULLIF(trim({text_sql}), ''), 'NULL')"


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
