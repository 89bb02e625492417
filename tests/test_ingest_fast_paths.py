"""The shortcuts that make a large load fast give the results of the plain rules they replace.

- Tags from a map (CUR 2.0 Parquet) normalize each distinct key once through a key map joined in
  the FROM clause; tags from columns (legacy Parquet) merge alike keys with COALESCE. Oracle:
  ``name_tag_keys`` in Python, entries in map (or column) order, the first non-empty value
  of each named key wins, names given to the file's keys together by ``name_tag_keys`` (keys
  alike up to case share one, others keep their own).
- A Parquet double cost is cast directly when that is exact, else through its shortest
  spelling. Oracle: ``Decimal(repr(v))`` rounded half away from zero to 10 places.
"""

from __future__ import annotations

import random
from datetime import date
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from test_ingest_support import Line, cur2_table

from costlens.tags import name_tag_keys
from ingest.formats import FORMATS
from ingest.formats.detect import describe_columns
from ingest.normalize import money
from ingest.tag_maps import delivered_tag_keys

NOV = date(2024, 11, 1)
# raw keys as CUR 2.0 writes them; several normalize alike (team, app, cost_center)
RAW_KEYS = [
    "user_team",
    "user_Team",
    "user_CostCenter",
    "user_cost_center",
    "user_cost-center",
    "aws_createdBy",
    "user_app",
    "user_App",
    "user_ App",
    "user_env",
]
# legacy Parquet column names (DuckDB renames names that differ only in case: none here)
LEGACY_KEYS = [
    "user_team",
    "user_team_",
    "user_cost_center",
    "user_cost-center",
    "user_cost__center",
    "aws_created_by",
    "user_app",
    "user_ app",
    "user_env",
]
VALUES = ["", "", "a", "b", " ", "c d"]

_FIXTURE = HealthCheck.function_scoped_fixture
_tags = st.dictionaries(st.sampled_from(RAW_KEYS), st.sampled_from(VALUES), max_size=8)


def _expected(
    entries: list[tuple[str, str | None]], prefix: str, all_keys: list[str]
) -> dict[str, str]:
    names = {k.raw_key: k.tag_key for k in name_tag_keys(all_keys, drop_prefix=prefix)}
    out: dict[str, str] = {}
    for raw, value in entries:
        if value:
            out.setdefault(names[raw], value)
    return out


def _tags_loaded(con: duckdb.DuckDBPyConnection, fmt: str, path: Path) -> list[dict[str, str]]:
    columns = describe_columns(con, path, "parquet")
    sql = FORMATS[fmt].build_sql(columns, "parquet")
    tags = FORMATS[fmt].tag_source(columns, "parquet")
    params: dict[str, object] = {"files": [str(path)]}
    params.update(tags.params(delivered_tag_keys(con, tags, params)))
    rows = con.execute(f"SELECT tags FROM ({sql}) ORDER BY resource_id", params).fetchall()
    return [dict(r[0]) for r in rows]


@settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(st.lists(_tags, min_size=1, max_size=6))
def test_cur2_map_tags_match_the_plain_rule(
    tmp_path: Path, con: duckdb.DuckDBPyConnection, per_line: list[dict[str, str]]
) -> None:
    lines = [Line(resource_id=f"r{i:02d}", tags=t) for i, t in enumerate(per_line)]
    path = tmp_path / "cur2.parquet"
    pq.write_table(cur2_table(NOV, lines), path)
    all_keys = [k for t in per_line for k in t]
    expected = [_expected(list(t.items()), "user_", all_keys) for t in per_line]
    assert _tags_loaded(con, "cur2", path) == expected


@settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    st.lists(st.sampled_from(LEGACY_KEYS), min_size=1, max_size=6, unique=True),
    st.lists(st.lists(st.sampled_from([*VALUES, None]), min_size=6, max_size=6), min_size=1),
)
def test_legacy_tag_columns_match_the_plain_rule(
    tmp_path: Path, con: duckdb.DuckDBPyConnection, keys: list[str], values: list[list[str | None]]
) -> None:
    table = cur2_table(NOV, [Line(resource_id=f"r{i:02d}") for i in range(len(values))])
    table = table.drop_columns(["resource_tags", "product"])
    for k, key in enumerate(keys):
        table = table.append_column(
            f"resource_tags_{key}", pa.array([v[k] for v in values], pa.string())
        )
    path = tmp_path / "cur1.parquet"
    pq.write_table(table, path)
    expected = [_expected(list(zip(keys, v, strict=False)), "user_", keys) for v in values]
    assert _tags_loaded(con, "cur1-parquet", path) == expected


def _random_costs(rng: random.Random) -> list[float]:
    """Doubles of at most 10 decimals at every magnitude up to 10^7, both signs, plus doubles
    with more digits (11-decimal ties, 17 significant digits) around the 10^5 cut-over."""
    values = []
    for exponent in range(-10, 8):
        for _ in range(4000):
            decimals = rng.randint(0, 10)
            units = rng.randint(0, 10 ** max(0, exponent + decimals))
            values.append(float(Decimal(units).scaleb(-decimals) * rng.choice((1, -1))))
    for _ in range(10_000):
        values.append(float(f"{rng.randint(0, 99_999)}.{rng.randint(0, 10**10 - 1):010d}5"))
        values.append(rng.uniform(-2e5, 2e5))
        values.append(rng.uniform(-1, 1) * 10 ** rng.randint(-12, 7))
    return values


def test_double_costs_are_read_at_their_shortest_spelling(con: duckdb.DuckDBPyConnection) -> None:
    values = _random_costs(random.Random(18))
    con.register("costs", pa.table({"i": range(len(values)), "c": pa.array(values, pa.float64())}))
    sql = money({"c": "DOUBLE"}, "c")
    stored = con.execute(f"SELECT {sql} FROM costs ORDER BY i").fetchall()
    tenth = Decimal("1e-10")
    expected = [Decimal(repr(v)).quantize(tenth, ROUND_HALF_UP) for v in values]
    wrong = [(v, s[0], e) for v, s, e in zip(values, stored, expected, strict=True) if s[0] != e]
    assert wrong == []
    assert any(abs(v) >= 1e5 for v in values) and any(0 < abs(v) < 1e-9 for v in values)
