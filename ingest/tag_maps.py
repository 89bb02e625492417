"""The ``tags`` column of ``line_items``: a ``MAP(VARCHAR, VARCHAR)`` with normalized keys.

Empty values mean "no tag" and are dropped. Two raw keys can normalize to one (``user:Team`` and
``user:team``): on each line the first with a value wins, so an empty one never hides the other.

Cost: normalizing a key takes five regular expressions, too many to run on every tag of every
line (it was 90 % of a 10-million-line CUR 2.0 load). Tags from a map (CUR 2.0, FOCUS) therefore
normalize each *distinct* key once: the FROM clause joins a one-row map raw key → normalized key,
built by the same SQL from the same files, and lines look their keys up in it. Tags from one
column per key (legacy CUR) know their keys when the SQL is built: no lookup, and columns whose
keys normalize alike are merged with ``COALESCE`` in column order (no per-line de-duplication).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from costlens.tags import normalize_tag_key, tag_key_sql
from ingest.normalize import json_text, quote

__all__ = ["NO_TAGS", "Tags", "tags_from_columns_sql", "tags_from_json_sql", "tags_from_map_sql"]

_ENTRIES = '"__costlens_tag_entries"'
_KEY_MAP = '"__costlens_tag_keys"'
_EMPTY = "CAST(MAP {} AS MAP(VARCHAR, VARCHAR))"

KEY_MAP_SQL = """(SELECT map(COALESCE(list(k), []), COALESCE(list({normalized}), [])) AS {key_map}
FROM (SELECT DISTINCT unnest(map_keys({map_sql})) AS k FROM {reader}))"""
"""A one-row relation: each distinct raw key of the map column → its normalized key."""
WITH_ENTRIES_SQL = "(SELECT *, {entries} AS {entries_name} FROM {reader}, {key_map})"
"""The reader's lines with their normalized, non-empty tag entries."""


@dataclass(frozen=True)
class Tags:
    """A format's ``tags`` column: its expression, and the map its keys come from (if any).

    ``select_from(reader)`` is the FROM source the expression needs: ``reader`` itself, or, for
    a map, ``reader`` joined with the key map and with each line's normalized entries.
    """

    expr: str
    map_sql: str | None = None
    drop_user_underscore: bool = False

    def select_from(self, reader: str) -> str:
        """The FROM source over ``reader`` (a table function or subquery) for ``expr``."""
        if self.map_sql is None:
            return reader
        raw_key = "k"
        if self.drop_user_underscore:
            raw_key = "regexp_replace(k, '^user_', '')"
        key_map = KEY_MAP_SQL.format(
            normalized=tag_key_sql(raw_key), key_map=_KEY_MAP, map_sql=self.map_sql, reader=reader
        )
        # A key missing from the map cannot happen (same files, same statement); normalizing it
        # in place keeps the result right regardless.
        fallback = tag_key_sql(
            "regexp_replace(e.key, '^user_', '')" if self.drop_user_underscore else "e.key"
        )
        entries = (
            f"list_filter(list_transform(map_entries(COALESCE({self.map_sql}, MAP {{}})), "
            f"lambda e: {{'key': COALESCE(map_extract_value({_KEY_MAP}, e.key), {fallback}), "
            "'value': CAST(e.value AS VARCHAR)}), "
            "lambda e: e.value IS NOT NULL AND e.value <> '')"
        )
        return WITH_ENTRIES_SQL.format(
            entries=entries, entries_name=_ENTRIES, reader=reader, key_map=key_map
        )


NO_TAGS = Tags(_EMPTY)
"""No tag source: every line gets an empty map."""


def tags_from_map_sql(map_sql: str, *, drop_user_underscore: bool = False) -> Tags:
    """Tags from a map expression over the reader's columns.

    ``drop_user_underscore`` removes CUR 2.0's ``user_`` key prefix (its spelling of ``user:``).
    """
    first_of_each_key = (
        f"list_filter({_ENTRIES}, lambda e, i: "
        f"list_position(list_transform({_ENTRIES}, lambda x: x.key), e.key) = i)"
    )
    return Tags(f"map_from_entries({first_of_each_key})", map_sql, drop_user_underscore)


def tags_from_json_sql(json_sql: str, *, drop_user_underscore: bool = False) -> Tags:
    """Tags from a JSON object string (FOCUS ``Tags``, CUR 2.0 CSV ``resource_tags``); NULL,
    ``''`` or ``'NULL'`` gives an empty map."""
    as_map = f"json_transform({json_text(json_sql)}, '\"MAP(VARCHAR, VARCHAR)\"')"
    return tags_from_map_sql(as_map, drop_user_underscore=drop_user_underscore)


def tags_from_columns_sql(tag_columns: Sequence[tuple[str, str]]) -> Tags:
    """Tags from one column per key (legacy CUR), given ``(column, raw key)`` pairs.

    Columns whose keys normalize alike (``user:Team``, ``user:team``) all count: the first with
    a value on a line gives the tag.

    >>> tags_from_columns_sql([]).expr
    'CAST(MAP {} AS MAP(VARCHAR, VARCHAR))'
    >>> print(tags_from_columns_sql([("a", "user:Team"), ("b", "env"), ("c", "user:team")]).expr)
    map_from_entries(list_filter([{'key': 'team', 'value': COALESCE(NULLIF(CAST("a" AS VARCHAR), \
''), NULLIF(CAST("c" AS VARCHAR), ''))}, {'key': 'env', 'value': NULLIF(CAST("b" AS VARCHAR), \
'')}], lambda e: e.value IS NOT NULL))
    """
    if not tag_columns:
        return NO_TAGS
    by_key: dict[str, list[str]] = {}
    for col, raw_key in tag_columns:
        by_key.setdefault(normalize_tag_key(raw_key), []).append(
            f"NULLIF(CAST({quote(col)} AS VARCHAR), '')"
        )
    structs = ", ".join(
        f"{{'key': '{key}', 'value': {values[0] if len(values) == 1 else _coalesce(values)}}}"
        for key, values in by_key.items()
    )  # keys normalized to [a-z0-9_] only: safe as literals
    return Tags(f"map_from_entries(list_filter([{structs}], lambda e: e.value IS NOT NULL))")


def _coalesce(values: list[str]) -> str:
    return f"COALESCE({', '.join(values)})"
