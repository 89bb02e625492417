"""Tag-key normalization: one spelling of a tag key whatever export format it came from.

AWS names the Athena columns of legacy CUR tags by putting an underscore before every capital
letter and lower-casing (``user:CostCenter`` → ``resource_tags_user_cost_center``). costlens
keys tags the same way without the ``resource_tags_`` and ``user:`` prefixes, so rules look the
same for every input format, and extends the rule to every script (``TAG_KEY_RULE`` 2):

- the key is NFKC-normalized first (``É`` typed as ``E`` + combining accent is ``É``; full-width
  ``Ｔｅａｍ`` is ``Team``), surrounding spaces and the ``user:`` prefix are dropped;
- letters and digits of any script are kept (``str.isalnum``), an upper-case (or title-case)
  letter becomes ``_`` and its lower case; a combining mark is kept after a letter, digit or
  mark (Devanagari vowel signs), elsewhere it is a separator;
- every other character becomes ``_``, runs of ``_`` collapse, leading/trailing ``_`` go;
- a key with no letter or digit at all is named ``tag_`` and its code points in hex
  (``user:***`` → ``tag_2a_2a_2a``), so it is never empty. Only a blank key (nothing but spaces
  after ``user:``) gives ``''``: it is no key (rules refuse it; ``name_tag_keys`` calls it ``tag``).

For ASCII keys this is the rule AWS and costlens always used, except that symbol-only keys were
``''`` before.

>>> normalize_tag_key("user:CostCenter")
'cost_center'
>>> normalize_tag_key("aws:createdBy")
'aws_created_by'
>>> normalize_tag_key(" org")
'org'
>>> normalize_tag_key("team-name/Primary")
'team_name_primary'
>>> normalize_tag_key("user:コスト"), normalize_tag_key("user:成本中心")
('コスト', '成本中心')
>>> normalize_tag_key("user:Équipe"), normalize_tag_key("user:E\\u0301quipe")
('équipe', 'équipe')
>>> normalize_tag_key("user:ЦентрЗатрат"), normalize_tag_key("user:***")
('центр_затрат', 'tag_2a_2a_2a')

Two distinct keys may normalize alike. Keys that differ only in case (``user:Team``,
``user:team``: equal under Unicode case folding) are one tag, deliberately. Keys alike for any
other reason (``user:cost-center``, ``user:cost_center``) are kept apart by ``name_tag_keys``:
one keeps the name, the others get a suffix of their own, and ``tag_key_collisions`` lists them.
"""

from __future__ import annotations

import hashlib
import re
import unicodedata
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date
from typing import Any

import duckdb

from costlens.schema import Column, create_table_sql
from costlens.sql import has_table

__all__ = [
    "TAG_KEYS",
    "TAG_KEY_RULE",
    "TagKey",
    "TagKeyCollision",
    "athena_column_name",
    "deliveries_named_by_older_rule",
    "legacy_tag_key",
    "name_tag_keys",
    "normalize_tag_key",
    "tag_key_collisions",
    "tag_keys_table_sql",
    "warehouse_tag_key_collisions",
]

TAG_KEY_RULE = 2
"""Version of the naming rule. 1 was ASCII only (other letters were lost: ``user:コスト`` → ``''``
and alike keys were merged); 2 keeps every script and keeps alike keys apart."""

BLANK_NAME = "tag"
"""The name of a blank key in ``line_items.tags`` (and the prefix of symbol-only names)."""

SUFFIX_DIGITS = 4
"""Hex digits of the suffix a colliding key gets (more if that name is taken)."""

_CAPITAL = re.compile(r"([A-Z])")
_OTHER = re.compile(r"[^a-z0-9]+")
_RUNS = re.compile(r"_+")


def athena_column_name(name: str) -> str:
    """Athena-style snake_case of a legacy CUR name (``lineItem/UnblendedCost``), ASCII only.

    >>> athena_column_name("lineItem/UnblendedCost")
    'line_item_unblended_cost'
    >>> athena_column_name("reservation/ReservationARN")
    'reservation_reservation_a_r_n'
    >>> athena_column_name("resourceTags/user:CostCenter")
    'resource_tags_user_cost_center'
    """
    text = _CAPITAL.sub(r"_\1", name.strip()).lower()
    return _RUNS.sub("_", _OTHER.sub("_", text)).strip("_")


def legacy_tag_key(key: str) -> str:
    """A key's name under rule 1 (before Unicode keys), to tell which loaded lines rule 2 changes.

    >>> legacy_tag_key("user:CostCenter"), legacy_tag_key("user:Équipe"), legacy_tag_key("コスト")
    ('cost_center', 'quipe', '')
    """
    return athena_column_name(key.strip().removeprefix("user:"))


def _bare(key: str) -> str:
    """The key as compared: NFKC, without surrounding spaces and the ``user:`` prefix."""
    return unicodedata.normalize("NFKC", key).strip().removeprefix("user:").strip()


def _fold(key: str) -> str:
    """The key up to case (Unicode case folding): keys equal here are one tag."""
    return unicodedata.normalize("NFKC", _bare(key).casefold())


def _is_capital(ch: str) -> bool:
    return ch.isupper() or unicodedata.category(ch) == "Lt"


def _snake(text: str) -> str:
    out: list[str] = []
    in_word = False  # the last character written is a letter, digit or mark
    for ch in text:
        if ch.isalnum():
            out.append(f"_{ch.lower()}" if _is_capital(ch) else ch)
            in_word = True
        elif in_word and unicodedata.category(ch).startswith("M"):
            out.append(ch)
        else:
            out.append("_")
            in_word = False
    return _RUNS.sub("_", "".join(out)).strip("_")


def _symbols_name(bare: str) -> str:
    return "_".join([BLANK_NAME, *(f"{ord(ch):x}" for ch in bare)])


def normalize_tag_key(key: str) -> str:
    """The canonical spelling of a tag key (see the module docstring); ``''`` only when blank.

    >>> normalize_tag_key("user:ΚόστοςΚέντρο"), normalize_tag_key("🙂"), normalize_tag_key("user:")
    ('κόστος_κέντρο', 'tag_1f642', '')
    """
    bare = _bare(key)
    if not bare:
        return ""
    if not any(ch.isalnum() for ch in bare):
        return _symbols_name(bare)
    return _snake(bare)


@dataclass(frozen=True)
class TagKey:
    """A delivered tag key and its name in ``line_items.tags``."""

    raw_key: str
    """As delivered (``user:Cost Center``, CUR 2.0's ``user_cost_center``)."""
    normalized_key: str
    """What the rule gives (``cost_center``)."""
    tag_key: str
    """The name in ``line_items.tags``: ``normalized_key``, or it with a suffix when other keys
    normalize alike (``cost_center_3f2a``)."""


def _suffixed(name: str, fold: str, taken: set[str]) -> str:
    """``name`` with the first free prefix of the hex SHA-256 of ``fold`` as suffix."""
    digest = hashlib.sha256(fold.encode()).hexdigest()
    candidates = [f"{name}_{digest[:n]}" for n in range(SUFFIX_DIGITS, len(digest) + 1)]
    count = 2
    while all(c in taken for c in candidates):  # 2^-256: for totality only
        candidates = [f"{name}_{digest}_{count}"]
        count += 1
    return next(c for c in candidates if c not in taken)


def name_tag_keys(raw_keys: Iterable[str], *, drop_prefix: str = "") -> tuple[TagKey, ...]:
    """Name each distinct delivered key, sorted by raw key; ``drop_prefix`` is removed first
    (CUR 2.0's ``user_``).

    Keys that normalize alike and are equal up to case share the name. Otherwise the one whose
    folded key is already its name keeps it, else the first by code point; each other gets
    ``_`` and the first 4 hex digits of the SHA-256 of its folded key (more if that name is
    taken). Names depend on the set of keys only, never on their order.

    >>> keys = ["user:team", "user:Cost Center", "user:Team", "user:cost-center"]
    >>> keys.append("user:cost_center")
    >>> {k.raw_key: k.tag_key for k in name_tag_keys(keys)}  # doctest: +NORMALIZE_WHITESPACE
    {'user:Cost Center': 'cost_center_f152', 'user:Team': 'team',
     'user:cost-center': 'cost_center_4102', 'user:cost_center': 'cost_center', 'user:team': 'team'}
    """
    raws = sorted(set(raw_keys))
    ready = {r: r.removeprefix(drop_prefix) for r in raws}
    natural = {r: normalize_tag_key(ready[r]) or BLANK_NAME for r in raws}
    folds = {r: _fold(ready[r]) for r in raws}
    groups: dict[str, set[str]] = {}
    for r in raws:
        groups.setdefault(natural[r], set()).add(folds[r])
    taken = set(groups)
    names: dict[tuple[str, str], str] = {}
    for name in sorted(groups):
        first, *others = sorted(groups[name], key=lambda fold: (fold != name, fold))
        names[(name, first)] = name
        for fold in others:
            names[(name, fold)] = _suffixed(name, fold, taken)
            taken.add(names[(name, fold)])
    return tuple(TagKey(r, natural[r], names[(natural[r], folds[r])]) for r in raws)


@dataclass(frozen=True)
class TagKeyCollision:
    """Distinct tag keys (not only by case) that normalize to one name, kept apart."""

    normalized_key: str
    keys: tuple[tuple[str, str], ...]
    """``(raw key, tag key)``, the one keeping the name first."""
    periods: tuple[date, ...] = ()
    """Billing periods where the warehouse holds them so (``warehouse_tag_key_collisions``)."""

    def message(self) -> str:
        """One line for a person.

        >>> TagKeyCollision("a_b", (("user:a-b", "a_b"), ("user:a_b", "a_b_1f2e"))).message()
        "tag keys 'user:a-b' and 'user:a_b' both normalize to a_b: kept apart as a_b and \
a_b_1f2e (use these names in rules)"
        """
        raws = [repr(raw) for raw, _ in self.keys]
        names = [tag for _, tag in self.keys]
        how = "both" if len(raws) == 2 else "all"
        return (
            f"tag keys {_and(raws)} {how} normalize to {self.normalized_key}: kept apart as "
            f"{_and(names)} (use these names in rules)"
        )

    def as_dict(self) -> dict[str, Any]:
        """JSON-friendly form."""
        return {
            "normalized_key": self.normalized_key,
            "keys": [{"raw_key": raw, "tag_key": tag} for raw, tag in self.keys],
            "periods": [p.isoformat()[:7] for p in self.periods],
        }


def _and(items: list[str]) -> str:
    return items[0] if len(items) == 1 else f"{', '.join(items[:-1])} and {items[-1]}"


def tag_key_collisions(keys: Sequence[TagKey]) -> tuple[TagKeyCollision, ...]:
    """The collisions among ``keys`` (named together by ``name_tag_keys``), by normalized key.

    >>> [c.keys for c in tag_key_collisions(name_tag_keys(["a-b", "a_b", "Team", "team"]))]
    [(('a_b', 'a_b'), ('a-b', 'a_b_d443'))]
    """
    by_name: dict[str, list[TagKey]] = {}
    for k in keys:
        by_name.setdefault(k.normalized_key, []).append(k)
    out = []
    for name, group in sorted(by_name.items()):
        if len({k.tag_key for k in group}) > 1:
            ordered = sorted(group, key=lambda k: (k.tag_key != name, k.tag_key, k.raw_key))
            out.append(TagKeyCollision(name, tuple((k.raw_key, k.tag_key) for k in ordered)))
    return tuple(out)


TAG_KEYS_TABLE = "tag_keys"
TAG_KEYS: tuple[Column, ...] = (
    Column("delivery_id", "VARCHAR", "The delivery (``deliveries``) whose lines hold these keys."),
    Column("tag_key_rule", "INTEGER", "The naming rule the keys were loaded with (TAG_KEY_RULE)."),
    Column("raw_keys", "VARCHAR[]", "The delivered keys, sorted."),
    Column("normalized_keys", "VARCHAR[]", "What the rule gives each (parallel list)."),
    Column("tag_keys", "VARCHAR[]", "Each one's name in line_items.tags (parallel list)."),
)
"""One row per loaded delivery: how its tag keys were named (written by ingest)."""


def tag_keys_table_sql() -> str:
    """``CREATE TABLE IF NOT EXISTS`` of the ``tag_keys`` table."""
    return create_table_sql(TAG_KEYS_TABLE, TAG_KEYS)


_CURRENT_KEYS_SQL = """
SELECT t.raw_keys, t.normalized_keys, t.tag_keys, d.billing_period
FROM tag_keys t JOIN deliveries d USING (delivery_id)
WHERE d.status = 'current' AND t.tag_key_rule = $rule
ORDER BY d.billing_period
"""
_OLDER_RULE_SQL = """
SELECT count(*) FROM deliveries d WHERE d.status = 'current' AND NOT EXISTS (
  SELECT 1 FROM tag_keys t WHERE t.delivery_id = d.delivery_id AND t.tag_key_rule = $rule
)
"""
_CURRENT_DELIVERIES_SQL = "SELECT count(*) FROM deliveries WHERE status = 'current'"


def _has_tag_keys(con: duckdb.DuckDBPyConnection) -> bool:
    return has_table(con, TAG_KEYS_TABLE)


def warehouse_tag_key_collisions(con: duckdb.DuckDBPyConnection) -> list[TagKeyCollision]:
    """The collisions of the warehouse's current deliveries, each once with its periods.

    Read-only (a read-only connection will do); ``[]`` before the first ingest that names keys.
    """
    if not _has_tag_keys(con):
        return []
    seen: dict[tuple[str, tuple[tuple[str, str], ...]], list[date]] = {}
    rows = con.execute(_CURRENT_KEYS_SQL, {"rule": TAG_KEY_RULE}).fetchall()
    for raws, normalized, names, period in rows:
        keys = [TagKey(*k) for k in zip(raws, normalized, names, strict=True)]
        for c in tag_key_collisions(keys):
            periods = seen.setdefault((c.normalized_key, c.keys), [])
            if period not in periods:
                periods.append(period)
    return [TagKeyCollision(n, k, tuple(p)) for (n, k), p in sorted(seen.items())]


def deliveries_named_by_older_rule(con: duckdb.DuckDBPyConnection) -> int:
    """Current deliveries loaded before ``TAG_KEY_RULE``: the next ``ingest``/``sync`` re-checks
    them (re-loading those whose tags the rule changes). Read-only."""
    if not _has_tag_keys(con):
        row = con.execute(_CURRENT_DELIVERIES_SQL).fetchone()
    else:
        row = con.execute(_OLDER_RULE_SQL, {"rule": TAG_KEY_RULE}).fetchone()
    return int(row[0]) if row else 0
