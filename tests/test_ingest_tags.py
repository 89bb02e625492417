"""Tag-key normalization: the Python function and its SQL twin agree, on examples and at random."""

from __future__ import annotations

import duckdb
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from costlens.tags import normalize_tag_key, tag_key_sql

EXAMPLES = [
    ("user:CostCenter", "cost_center"),
    ("aws:createdBy", "aws_created_by"),
    ("user:Name", "name"),
    (" org", "org"),
    ("Cost Center", "cost_center"),
    ("team-name", "team_name"),
    ("user:user:x", "user_x"),
    ("app.kubernetes.io/name", "app_kubernetes_io_name"),
    ("ReservationARN", "reservation_a_r_n"),
]


@pytest.mark.parametrize(("raw", "expected"), EXAMPLES)
def test_normalize_tag_key_examples(raw: str, expected: str) -> None:
    assert normalize_tag_key(raw) == expected


def _sql(con: duckdb.DuckDBPyConnection, raw: str) -> str:
    row = con.execute(f"SELECT {tag_key_sql('k')} FROM (SELECT ? AS k)", [raw]).fetchone()
    assert row is not None
    return str(row[0])


@pytest.mark.parametrize(("raw", "expected"), EXAMPLES)
def test_sql_twin_examples(con: duckdb.DuckDBPyConnection, raw: str, expected: str) -> None:
    assert _sql(con, raw) == expected


_CON = duckdb.connect()


@settings(max_examples=50, deadline=None)
@given(st.text(alphabet=st.characters(min_codepoint=32, max_codepoint=126), max_size=20))
def test_sql_twin_agrees_with_python(raw: str) -> None:
    assert _sql(_CON, raw) == normalize_tag_key(raw)
