"""The no-collision proof of the hash-grouping experiment (benchmarks/hash_grouping.py, issue 4 §8).

A real 64-bit collision cannot be produced on demand, so the tests force one by grouping every
row under one hash (``0 * hash(...)``) and check the proof then tells identical key tuples from
different ones, including a NULL against a value (which min/max alone would miss).
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import duckdb
import pytest
from attribution_fixtures import insert, line, owners

from costlens.attribution import parse_rules
from costlens.attribution._sql import Bind
from costlens.attribution.compile import source_sql
from costlens.schema import LINE_ITEMS, create_table_sql

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))

from hash_grouping import TAG_VARIANTS, hash_source_sql

RULES = parse_rules(
    """\
rules:
  - {name: by-app, match: {tag: {key: app, equals: payments-api}}, set: {microservice: '{tag:app}'}}
  - {name: by-op, match: {operation: NatGateway}, set: {owner: platform}}
""",
    "rules.yaml",
    owners(),
)
EXACT_VARIANTS = ("map keys/values", "map", "6 tags")
"""The variants whose proof covers every key (``plain only`` leaves the tags unchecked)."""


def _con(lines: list[dict[str, Any]]) -> duckdb.DuckDBPyConnection:
    con = duckdb.connect()
    con.execute(create_table_sql("line_items", LINE_ITEMS))
    insert(con, lines)
    return con


def _proofs(con: duckdb.DuckDBPyConnection, variant: str, *, collide: bool) -> list[bool]:
    bind = Bind()
    sql = hash_source_sql(RULES, bind, variant)
    if collide:
        sql = sql.replace("SELECT hash(", "SELECT 0 * hash(", 1)
    return [r[0] for r in con.execute(f"SELECT _one_tuple FROM ({sql})", bind.used(sql)).fetchall()]


@pytest.mark.parametrize("variant", EXACT_VARIANTS)
def test_real_hash_gives_the_exact_groups_and_proves_them(variant: str) -> None:
    con = _con(
        [
            line("i-1", "1.0000000001", {"app": "payments-api"}),
            line("i-1", "2", {"app": "payments-api"}, day=3),
            line("i-2", "3", {"app": "cart", "team": "x"}),
            line("i-3", "4", operation="NatGateway", region=None),
        ]
    )
    bind = Bind()
    exact = source_sql(RULES, bind, None)
    want = con.execute(
        f"SELECT usage_date, resource_id, unblended_cost FROM ({exact}) ORDER BY ALL",
        bind.used(exact),
    ).fetchall()
    bind = Bind()
    hashed = hash_source_sql(RULES, bind, variant)
    got = con.execute(
        f"SELECT usage_date, resource_id, unblended_cost FROM ({hashed}) ORDER BY ALL",
        bind.used(hashed),
    ).fetchall()
    assert got == want
    assert len(got) == 4
    assert _proofs(con, variant, collide=False) == [True] * 4


@pytest.mark.parametrize("variant", EXACT_VARIANTS)
def test_forced_collision_of_identical_tuples_is_proved_harmless(variant: str) -> None:
    same = {"app": "payments-api", "team": "a"}
    con = _con([line("i-1", "1", same), line("i-1", "2", same)])  # two hours of one day
    assert _proofs(con, variant, collide=True) == [True]


@pytest.mark.parametrize("variant", EXACT_VARIANTS)
def test_forced_collision_of_different_tags_is_caught(variant: str) -> None:
    con = _con([line("i-1", "1", {"app": "payments-api"}), line("i-1", "2", {"app": "cart"})])
    assert _proofs(con, variant, collide=True) == [False]


@pytest.mark.parametrize("variant", (*EXACT_VARIANTS, "plain only"))
def test_forced_collision_of_null_and_value_is_caught(variant: str) -> None:
    con = _con([line("i-1", "1", region=None), line("i-1", "2", region="us-east-1")])
    assert _proofs(con, variant, collide=True) == [False]


def test_plain_only_misses_a_tag_collision_and_unchecked_misses_all() -> None:
    con = _con([line("i-1", "1", {"app": "payments-api"}), line("i-2", "2", {"app": "cart"})])
    assert _proofs(con, "unchecked", collide=True) == [True]
    con = _con([line("i-1", "1", {"app": "payments-api"}), line("i-1", "2", {"app": "cart"})])
    assert _proofs(con, "plain only", collide=True) == [True]
    assert set(TAG_VARIANTS) == {"unchecked", "plain only", *EXACT_VARIANTS}
