"""Issue 4 §8 experiment: attribute's daily aggregation grouped by ONE 64-bit hash, with a proof.

The exact ``src`` step (``costlens.attribution.compile.source_sql``) groups 10M line items by 19
keys (day, 12 plain columns, 6 tags). This module builds the alternative tried for the 3x target:
``GROUP BY hash(day, <plain columns>, <tags>)``, each key carried as ``min(k)``, and in the same
pass a proof that no hash group holds two different key tuples: for every key ``k``,
``min(k) IS NOT DISTINCT FROM max(k) AND count(k) IN (0, count(*))`` (min/max ignore NULLs, so
the counts catch a group mixing NULL and a value). A group failing it would be a collision and the
exact grouping would be re-run. The variants differ in how the tags are hashed and checked.

``time_hash_grouping`` times each variant (wall and DuckDB profiler CPU) against the exact step
and the baseline, and checks the proof held and the group count equals the exact one. It is a
measurement only: the variants were not adopted (see BENCHMARKS.md, Attribution).
"""

from __future__ import annotations

import json
import tempfile
import time
from pathlib import Path

import duckdb

from costlens.attribution._sql import Bind, quote_ident
from costlens.attribution.compile import _GROUP_COLUMNS, source_columns, source_sql
from costlens.attribution.rules import RuleSet
from costlens.schema import COST_COLUMNS

__all__ = ["TAG_VARIANTS", "hash_source_sql", "time_hash_grouping"]

_DAY = "CAST(COALESCE(usage_start, billing_period) AS DATE)"

TAG_VARIANTS = {
    "unchecked": "hash of the tags map, keys carried with any_value, NO proof (unsafe floor)",
    "plain only": "proof on the 13 plain keys only, tags map unchecked (not exact either)",
    "map keys/values": "hash of the tags map; proof on map_keys(tags) and map_values(tags) lists",
    "map": "hash of the tags map; proof on the MAP itself",
    "6 tags": "hash of the 6 extracted tags; proof on each extracted tag",
}
"""The variants measured, by name."""


def _proof(expr: str) -> str:
    return f"(min({expr}) IS NOT DISTINCT FROM max({expr}) AND count({expr}) IN (0, count(*)))"


def hash_source_sql(rules: RuleSet, bind: Bind, variant: str) -> str:
    """The hash-grouped ``src`` step of ``variant`` with a boolean ``_one_tuple`` per group."""
    plain = [quote_ident(c) for c in _GROUP_COLUMNS if c != "usage_date"]
    plain += [quote_ident(c) for c in source_columns(rules)]
    tags = [f"tags[{bind(k)}]" for k in sorted(rules.tag_keys())]
    hashed_tags = tags if variant == "6 tags" else ["tags"]
    checked = {
        "unchecked": [],
        "plain only": [_DAY, *plain],
        "map keys/values": [_DAY, *plain, "map_keys(tags)", "map_values(tags)"],
        "map": [_DAY, *plain, "tags"],
        "6 tags": [_DAY, *plain, *tags],
    }[variant]
    pick = "any_value" if variant == "unchecked" else "min"
    carried = [f"{pick}({_DAY}) AS usage_date", *(f"{pick}({c}) AS {c}" for c in plain)]
    if variant == "6 tags":
        carried += [
            f"min({t}) AS {quote_ident('tag:' + k)}"
            for t, k in zip(tags, sorted(rules.tag_keys()), strict=True)
        ]
    elif variant == "map keys/values":
        carried += ["min(map_keys(tags)) AS _tag_keys", "min(map_values(tags)) AS _tag_values"]
    else:
        carried.append(f"{'min' if 'map' in variant else 'any_value'}(tags) AS tags")
    sums = [f"SUM({quote_ident(c)}) AS {quote_ident(c)}" for c in (*COST_COLUMNS, "usage_amount")]
    proof = " AND ".join(_proof(e) for e in checked) or "TRUE"
    return (
        f"SELECT hash({_DAY}, {', '.join(plain)}, {', '.join(hashed_tags)}) AS _group_hash,\n"
        f"    {', '.join(carried)},\n    {', '.join(sums)},\n    {proof} AS _one_tuple\n"
        f"  FROM line_items GROUP BY _group_hash"
    )


def _profiled(
    con: duckdb.DuckDBPyConnection, sql: str, params: dict[str, object]
) -> tuple[float, float]:
    """(wall seconds, DuckDB profiler CPU seconds) of ``CREATE TEMP TABLE stage AS sql``."""
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "profile.json"
        con.execute("PRAGMA enable_profiling = 'json'")
        con.execute(f"PRAGMA profiling_output = '{out}'")
        t = time.perf_counter()
        con.execute(f"CREATE OR REPLACE TEMP TABLE stage AS {sql}", params)
        wall = time.perf_counter() - t
        con.execute("PRAGMA disable_profiling")
        cpu = float(json.loads(out.read_text())["query"]["cpu_time"])
    return wall, cpu


def time_hash_grouping(
    con: duckdb.DuckDBPyConnection, rules: RuleSet, baseline_select: str
) -> None:
    """Print wall and CPU of the baseline, the exact ``src`` step and each hash variant."""
    con.execute("SET preserve_insertion_order = false")  # as attribute does
    base_wall, base_cpu = _profiled(con, baseline_select, {})
    print(f"  hash grouping: baseline {base_wall:.2f}s wall, {base_cpu:.2f} CPU-s", flush=True)
    bind = Bind()
    exact = source_sql(rules, bind, None)
    wall, cpu = _profiled(con, exact, bind.used(exact))
    (groups,) = con.execute("SELECT count(*) FROM stage").fetchone() or (0,)
    print(
        f"  exact src (19 keys): {wall:.2f}s, {cpu:.2f} CPU-s ="
        f" {cpu / base_cpu:.2f}x baseline CPU, {groups:,} groups",
        flush=True,
    )
    for variant, what in TAG_VARIANTS.items():
        bind = Bind()
        sql = hash_source_sql(rules, bind, variant)
        wall, cpu = _profiled(con, sql, bind.used(sql))
        n, collisions = con.execute(
            "SELECT count(*), count(*) FILTER (WHERE NOT _one_tuple) FROM stage"
        ).fetchone() or (0, 0)
        print(
            f"  hash, {variant} ({what}): {wall:.2f}s, {cpu:.2f} CPU-s ="
            f" {cpu / base_cpu:.2f}x baseline CPU, {n:,} groups, {collisions} collisions",
            flush=True,
        )
    con.execute(f"DROP TABLE {quote_ident('stage')}")
    con.execute("SET preserve_insertion_order = true")
