"""Shared SQL pieces of the normalization into ``line_items``.

Each format module maps its own columns; the expressions that mean the same thing for every
format live here: exact money casts, timestamps, the amortization CASE of DESIGN.md, the
derivation of ``charge_category`` and ``purchase_option``, and the one rule for empty versus
missing text (``first_text``), which ``line_items_select`` applies to every text column of every
format.

Every function takes trusted SQL expressions (quoted identifiers built by ``column``) and returns
an SQL expression; no value ever goes into these strings.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

from costlens.schema import LINE_ITEMS, MONEY
from costlens.sql import quote as sql_quote

__all__ = [
    "Part",
    "amortized_cost_sql",
    "charge_category_sql",
    "column",
    "double",
    "first_text",
    "json_text",
    "line_items_select",
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
    return sql_quote(name, allow=None)


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


def text(columns: Columns, name: str) -> str:
    """``name`` as VARCHAR, NULL when absent: a candidate value for ``first_text``.

    >>> text({"c": "BIGINT"}, "c"), text({}, "c")
    ('CAST("c" AS VARCHAR)', 'CAST(NULL AS VARCHAR)')
    """
    return f"CAST({quote(name)} AS VARCHAR)" if name in columns else _ABSENT


_ABSENT = "CAST(NULL AS VARCHAR)"


def first_text(*candidates: str) -> str:
    """The first of ``candidates`` (VARCHAR expressions) that is neither NULL nor '', else ''.

    The one rule for empty versus missing, for every text column of ``line_items`` in every
    format: an empty value, a NULL (a CSV's empty field) and an absent column all mean "none",
    are stored as '' (never NULL), and make the next candidate (a fallback) count. Absent
    columns are left out of the SQL.

    >>> print(first_text('"a"', text({}, "b"), "'x'"))
    COALESCE(NULLIF("a", ''), NULLIF('x', ''), '')
    >>> first_text(text({}, "b"))
    "''"
    """
    present = [c for c in candidates if c != _ABSENT]
    if not present:
        return "''"
    return "COALESCE(" + ", ".join(f"NULLIF({c}, '')" for c in present) + ", '')"


Part = str | tuple[str, ...]
"""A column's SQL for ``line_items_select``: one expression, or a text column's candidates."""

_NOT_LOADED = ("delivery_id", "line_key", "source_lines")
_LOADED = tuple(c for c in LINE_ITEMS if c.name not in _NOT_LOADED)


def line_items_select(parts: dict[str, Part]) -> str:
    """The SELECT list of ``line_items`` (all columns but ``delivery_id``, ``line_key`` and
    ``source_lines``, in table order) from each column's SQL. Every text (VARCHAR) column goes
    through ``first_text``; given as a tuple, its candidates in order of preference (its fallbacks).

    >>> sql = line_items_select({c.name: "x" for c in _LOADED} | {"region": ('"r"', '"p"')})
    >>> print("\\n".join(ln for ln in sql.splitlines() if "region" in ln or "usage_start" in ln))
      x AS usage_start,
      COALESCE(NULLIF("r", ''), NULLIF("p", ''), '') AS region,
    """
    names = [c.name for c in _LOADED]
    assert list(parts) == names, f"not the line_items columns: {set(parts) ^ set(names)}"
    out = []
    for col in _LOADED:
        part = parts[col.name]
        if col.sql_type == "VARCHAR":
            part = first_text(*((part,) if isinstance(part, str) else part))
        assert isinstance(part, str), f"{col.name} is not text: give one expression"
        out.append(f"{part} AS {col.name}")
    return ",\n  ".join(out)


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


def purchase_option_sql(line_item_type: str, spot: str) -> str:
    """OnDemand, Spot, Reserved or SavingsPlan from a CUR line item type (a FOCUS line's is
    derived) and ``spot``, an SQL condition saying the usage is Spot (as AWS CID does: a
    reservation's upfront Fee is OnDemand)."""
    return (
        "CASE"
        f" WHEN {line_item_type} IN ('DiscountedUsage', 'RIFee') THEN 'Reserved'"
        f" WHEN {line_item_type} LIKE 'SavingsPlan%' THEN 'SavingsPlan'"
        f" WHEN {spot} THEN 'Spot'"
        " ELSE 'OnDemand' END"
    )
