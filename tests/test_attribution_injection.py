"""Tag values and rule values holding quotes, SQL or unicode cannot change the attribution query."""

from __future__ import annotations

import json
from decimal import Decimal
from pathlib import Path

import pytest
from attribution_fixtures import insert, line, owners
from helpers import assert_reconciles

from costlens.attribution import attribute, compile_attribution, parse_rules
from costlens.attribution.explain import explain_resource
from costlens.warehouse import open_warehouse

NASTY = [
    "'; DROP TABLE line_items; --",
    'x" OR "1"="1',
    "it's",
    "$p0",
    "Zürich — 東京 🚀",
    "') UNION SELECT * FROM deliveries --",
]


@pytest.mark.parametrize("value", NASTY)
def test_hostile_values_are_data_not_sql(data_dir: Path, value: str) -> None:
    quoted = json.dumps(value, ensure_ascii=False)  # JSON strings are YAML flow scalars
    rules_yaml = (
        "dimensions: [label]\n"
        "rules:\n"
        "  - name: hostile\n"
        f"    match: {{tag: {{key: app, equals: {quoted}}}}}\n"
        "    set: {owner: payments, label: '{tag:app}'}\n"
        "  - name: literal\n"
        f"    match: {{resource: {{in: [{quoted}]}}}}\n"
        f"    set: {{owner: checkout, label: {quoted}}}\n"
    )
    rules = parse_rules(rules_yaml, "rules.yaml", owners())
    query = compile_attribution(rules)
    assert value not in query.sql  # values only ever travel as parameters
    assert value in query.params.values()
    with open_warehouse(data_dir) as wh:
        insert(wh.con, [line("r-hostile", "1.25", {"app": value}), line(value, "2.50"),
                        line("r-other", "4.00", {"app": "other"})])  # fmt: skip
        attribute(wh, rules)
        assert_reconciles(wh.con, "allocations")
        rows = wh.con.execute(
            "SELECT resource_id, owner, label, unblended_cost FROM allocations ORDER BY 4"
        ).fetchall()
        # trim/lower normalization applies to the inherited label only
        assert rows == [
            ("r-hostile", "payments", value.strip().lower(), Decimal("1.25")),
            (value, "checkout", value, Decimal("2.50")),
            ("r-other", "unallocated", None, Decimal("4.00")),
        ]
        assert wh.con.execute("SELECT COUNT(*) FROM line_items").fetchone() == (3,)
        explained = explain_resource(wh.con, rules, value)
        assert explained[0].decisions[1].value == "checkout"
