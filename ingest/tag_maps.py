"""The ``tags`` column of ``line_items``: a ``MAP(VARCHAR, VARCHAR)`` with normalized keys.

Empty values mean "no tag" and are dropped. A delivery's keys are named together, in Python, by
``costlens.tags.name_tag_keys``: keys equal up to case (``user:Team``, ``user:team``) share a
name, and on each line the first with a value wins, so an empty one never hides the other; keys
alike for another reason get names of their own (a suffix), reported as collisions.

Cost: a key is named once per delivery, never per line. Tags from a map (CUR 2.0, FOCUS) list
their distinct keys first (``Tags.keys_sql``, one scan of the tag column); the load statement
then joins a one-row map raw key → name, bound as ``$tag_raw_keys``/``$tag_names``
(``Tags.params``), and lines look their keys up in it. Tags from one column per key (legacy CUR)
know their keys when the SQL is built: no lookup, and columns sharing a name are merged with
``COALESCE`` in column order (no per-line de-duplication).

Each load records its keys and their names in the ``tag_keys`` table (``record_tag_keys``), with
the rule's version: that is where ``rules check`` finds collisions, and how ingest knows a
delivery was loaded under an older rule (``named_by_current_rule``).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import duckdb

from costlens.sql import has_table
from costlens.tags import (
    TAG_KEY_RULE,
    TAG_KEYS_TABLE,
    TagKey,
    legacy_tag_key,
    name_tag_keys,
    tag_keys_table_sql,
)
from ingest.normalize import json_text, quote

__all__ = [
    "NO_TAGS",
    "Tags",
    "delivered_tag_keys",
    "named_as_before",
    "named_by_current_rule",
    "record_tag_keys",
    "tags_from_columns_sql",
    "tags_from_json_sql",
    "tags_from_map_sql",
]

_ENTRIES = '"__costlens_tag_entries"'
_KEY_MAP = '"__costlens_tag_keys"'
_EMPTY = "CAST(MAP {} AS MAP(VARCHAR, VARCHAR))"
CUR2_PREFIX = "user_"
"""CUR 2.0's spelling of ``user:`` in ``resource_tags`` keys (``user_cost_center``)."""

KEY_MAP_SQL = (
    "(SELECT map(CAST($tag_raw_keys AS VARCHAR[]), CAST($tag_names AS VARCHAR[])) AS {key_map})"
)
"""A one-row relation: each delivered key of the map column → its name (bound parameters)."""
KEYS_SQL = "SELECT DISTINCT unnest(map_keys({map_sql})) AS k FROM {reader}"
"""The distinct delivered keys of a map column."""
WITH_ENTRIES_SQL = "(SELECT *, {entries} AS {entries_name} FROM {reader}, {key_map})"
"""The reader's lines with their normalized, non-empty tag entries."""

RECORD_SQL = """
INSERT INTO tag_keys (delivery_id, tag_key_rule, raw_keys, normalized_keys, tag_keys)
VALUES ($delivery_id, $rule, $raw_keys, $normalized_keys, $tag_keys)
"""
FORGET_SQL = "DELETE FROM tag_keys WHERE delivery_id = $delivery_id"
RULE_SQL = "SELECT max(tag_key_rule) FROM tag_keys WHERE delivery_id = $delivery_id"


@dataclass(frozen=True)
class Tags:
    """A format's ``tags`` column: its expression, and where its keys come from.

    ``select_from(reader)`` is the FROM source the expression needs: ``reader`` itself, or, for
    a map, ``reader`` joined with the key map and with each line's normalized entries. A map's
    keys are listed by ``keys_sql`` (over the same reader); columns' keys are ``column_keys``.
    """

    expr: str
    map_sql: str | None = None
    drop_user_underscore: bool = False
    keys_sql: str | None = None
    column_keys: tuple[str, ...] = ()

    @property
    def drop_prefix(self) -> str:
        """The prefix dropped from each delivered key before it is normalized."""
        return CUR2_PREFIX if self.drop_user_underscore else ""

    def select_from(self, reader: str) -> str:
        """The FROM source over ``reader`` (a table function or subquery) for ``expr``."""
        if self.map_sql is None:
            return reader
        # A key missing from the map cannot happen when it was listed from the same files
        # (``params``); it keeps its delivered spelling then (``periods_in`` reads no tags).
        entries = (
            f"list_filter(list_transform(map_entries(COALESCE({self.map_sql}, MAP {{}})), "
            f"lambda e: {{'key': COALESCE(map_extract_value({_KEY_MAP}, e.key), e.key), "
            "'value': CAST(e.value AS VARCHAR)}), "
            "lambda e: e.value IS NOT NULL AND e.value <> '')"
        )
        key_map = KEY_MAP_SQL.format(key_map=_KEY_MAP)
        return WITH_ENTRIES_SQL.format(
            entries=entries, entries_name=_ENTRIES, reader=reader, key_map=key_map
        )

    def params(self, keys: Sequence[TagKey]) -> dict[str, object]:
        """The parameters ``select_from`` binds: the names of ``keys`` (``delivered_tag_keys``).

        >>> NO_TAGS.params([])
        {}
        """
        if self.map_sql is None:
            return {}
        return {"tag_raw_keys": [k.raw_key for k in keys], "tag_names": [k.tag_key for k in keys]}


NO_TAGS = Tags(_EMPTY)
"""No tag source: every line gets an empty map."""


def tags_from_map_sql(map_sql: str, reader: str, *, drop_user_underscore: bool = False) -> Tags:
    """Tags from a map expression over the columns of ``reader`` (the format's FROM).

    ``drop_user_underscore`` removes CUR 2.0's ``user_`` key prefix (its spelling of ``user:``).
    """
    first_of_each_key = (
        f"list_filter({_ENTRIES}, lambda e, i: "
        f"list_position(list_transform({_ENTRIES}, lambda x: x.key), e.key) = i)"
    )
    return Tags(
        f"map_from_entries({first_of_each_key})",
        map_sql,
        drop_user_underscore,
        KEYS_SQL.format(map_sql=f"COALESCE({map_sql}, MAP {{}})", reader=reader),
    )


def tags_from_json_sql(json_sql: str, reader: str, *, drop_user_underscore: bool = False) -> Tags:
    """Tags from a JSON object string (FOCUS ``Tags``, CUR 2.0 CSV ``resource_tags``); NULL,
    ``''`` or ``'NULL'`` gives an empty map."""
    as_map = f"json_transform({json_text(json_sql)}, '\"MAP(VARCHAR, VARCHAR)\"')"
    return tags_from_map_sql(as_map, reader, drop_user_underscore=drop_user_underscore)


def _literal(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def tags_from_columns_sql(tag_columns: Sequence[tuple[str, str]]) -> Tags:
    """Tags from one column per key (legacy CUR), given ``(column, raw key)`` pairs.

    Columns whose keys are equal up to case (``user:Team``, ``user:team``) share a name: the
    first with a value on a line gives the tag. Keys alike for another reason keep both.

    >>> tags_from_columns_sql([]).expr
    'CAST(MAP {} AS MAP(VARCHAR, VARCHAR))'
    >>> print(tags_from_columns_sql([("a", "user:Team"), ("b", "env"), ("c", "user:team")]).expr)
    map_from_entries(list_filter([{'key': 'team', 'value': COALESCE(NULLIF(CAST("a" AS VARCHAR), \
''), NULLIF(CAST("c" AS VARCHAR), ''))}, {'key': 'env', 'value': NULLIF(CAST("b" AS VARCHAR), \
'')}], lambda e: e.value IS NOT NULL))
    """
    if not tag_columns:
        return NO_TAGS
    names = {k.raw_key: k.tag_key for k in name_tag_keys(key for _, key in tag_columns)}
    by_name: dict[str, list[str]] = {}
    for col, raw_key in tag_columns:
        by_name.setdefault(names[raw_key], []).append(f"NULLIF(CAST({quote(col)} AS VARCHAR), '')")
    structs = ", ".join(
        f"{{'key': {_literal(name)}, 'value': {_first(values)}}}"
        for name, values in by_name.items()
    )  # names hold letters, digits, marks and '_' only; quoted all the same
    expr = f"map_from_entries(list_filter([{structs}], lambda e: e.value IS NOT NULL))"
    return Tags(expr, column_keys=tuple(dict.fromkeys(key for _, key in tag_columns)))


def _first(values: list[str]) -> str:
    return values[0] if len(values) == 1 else f"COALESCE({', '.join(values)})"


def delivered_tag_keys(
    con: duckdb.DuckDBPyConnection, tags: Tags, params: Mapping[str, object]
) -> tuple[TagKey, ...]:
    """The delivery's keys, named: listed from the files (``params`` binds ``$files``) for a
    map, known from the columns otherwise."""
    if tags.keys_sql is None:
        raw = list(tags.column_keys)
    else:
        raw = [str(r[0]) for r in con.execute(tags.keys_sql, dict(params)).fetchall()]
    return name_tag_keys(raw, drop_prefix=tags.drop_prefix)


def named_as_before(keys: Sequence[TagKey], tags: Tags) -> bool:
    """True when the older rule (``legacy_tag_key``) named every key alike: lines loaded under
    it hold the very tags the current rule gives."""
    return all(legacy_tag_key(k.raw_key.removeprefix(tags.drop_prefix)) == k.tag_key for k in keys)


def record_tag_keys(
    con: duckdb.DuckDBPyConnection, delivery_id: str, keys: Sequence[TagKey]
) -> None:
    """Record how ``delivery_id``'s keys were named, under ``TAG_KEY_RULE`` (in the caller's
    transaction)."""
    con.execute(tag_keys_table_sql())
    con.execute(FORGET_SQL, {"delivery_id": delivery_id})
    con.execute(
        RECORD_SQL,
        {
            "delivery_id": delivery_id,
            "rule": TAG_KEY_RULE,
            "raw_keys": [k.raw_key for k in keys],
            "normalized_keys": [k.normalized_key for k in keys],
            "tag_keys": [k.tag_key for k in keys],
        },
    )


def named_by_current_rule(con: duckdb.DuckDBPyConnection, delivery_id: str) -> bool:
    """True when ``delivery_id`` was loaded (or re-checked) under ``TAG_KEY_RULE``."""
    if not has_table(con, TAG_KEYS_TABLE):
        return False
    row = con.execute(RULE_SQL, {"delivery_id": delivery_id}).fetchone()
    return row is not None and row[0] is not None and int(row[0]) >= TAG_KEY_RULE
