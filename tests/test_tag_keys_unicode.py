"""Tag keys outside ASCII (issue 11, defect 2): kept in every script, never empty, never merged
with another key silently; loaded warehouses are brought to the new rule by the next ingest.

Before: ``user:コスト`` and ``user:成本中心`` both normalized to ``''`` (one column's values were
lost in the merge), ``user:Équipe`` to ``quipe``.
"""

from __future__ import annotations

import csv
import itertools
import json
import unicodedata
from collections.abc import Iterable
from datetime import date
from decimal import Decimal
from pathlib import Path
from random import Random

import duckdb
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from test_ingest_support import Line, write_cur1_report, write_cur2_export

from costlens.config import Settings
from costlens.tags import (
    TagKey,
    TagKeyCollision,
    deliveries_named_by_older_rule,
    legacy_tag_key,
    name_tag_keys,
    normalize_tag_key,
    tag_key_collisions,
    warehouse_tag_key_collisions,
)
from ingest import ingest

NORMALIZED = [
    ("user:コスト", "コスト"),  # Japanese
    ("user:成本中心", "成本中心"),  # Chinese
    ("user:Équipe", "équipe"),  # accented Latin, precomposed
    ("user:E\u0301quipe", "équipe"),  # the same, E + combining acute: NFKC first
    ("user:Ｔｅａｍ", "team"),  # full-width (NFKC)
    ("user:ｺｽﾄ", "コスト"),  # half-width katakana (NFKC)
    ("user:ΚόστοςΚέντρο", "κόστος_κέντρο"),  # Greek CamelCase
    ("user:ЦентрЗатрат", "центр_затрат"),  # Cyrillic CamelCase
    ("user:CostCenter日本", "cost_center日本"),  # mixed scripts
    ("user:Équipe-コスト", "équipe_コスト"),
    ("user:लागत केंद्र", "लागत_केंद्र"),  # Devanagari: vowel signs and virama are kept
    ("user:\u0301x", "x"),  # a combining mark with nothing before it is a separator
    ("user:***", "tag_2a_2a_2a"),  # punctuation only: named after its code points
    ("user:💰", "tag_1f4b0"),  # emoji only
    ("user:* *", "tag_2a_20_2a"),
    ("user:", ""),  # blank: no key (rules refuse it; ingest names it "tag")
]


@pytest.mark.parametrize(("raw", "expected"), NORMALIZED)
def test_normalize_unicode_keys(raw: str, expected: str) -> None:
    assert normalize_tag_key(raw) == expected


def test_old_rule_lost_them() -> None:
    """What rule 1 did (kept as ``legacy_tag_key`` for the migration): the defect."""
    assert legacy_tag_key("user:コスト") == legacy_tag_key("user:成本中心") == ""
    assert legacy_tag_key("user:Équipe") == "quipe"


_KEYS = st.text(max_size=12)


@settings(max_examples=400, deadline=None)
@given(_KEYS)
def test_names_are_never_empty_and_normalize_to_themselves(raw: str) -> None:
    name = normalize_tag_key(raw)
    blank = not unicodedata.normalize("NFKC", raw).strip().removeprefix("user:").strip()
    assert bool(name) != blank
    assert normalize_tag_key(name) == name  # a rule naming the key finds it
    assert all(c.isalnum() or c == "_" or unicodedata.category(c).startswith("M") for c in name)


def _fold(key: str) -> str:
    bare = unicodedata.normalize("NFKC", key).strip().removeprefix("user:").strip()
    return unicodedata.normalize("NFKC", bare.casefold())


@settings(max_examples=200, deadline=None)
@given(st.lists(_KEYS, max_size=8), st.randoms(use_true_random=False))
def test_names_are_distinct_and_independent_of_order(keys: list[str], rnd: Random) -> None:
    named = name_tag_keys(keys)
    shuffled = list(keys)
    rnd.shuffle(shuffled)
    assert name_tag_keys(shuffled) == named
    folds_by_name: dict[str, set[str]] = {}
    for k in named:
        assert k.tag_key
        folds_by_name.setdefault(k.tag_key, set()).add(_fold(k.raw_key))
    assert all(len(folds) == 1 for folds in folds_by_name.values())  # one name: one key up to case


COLLIDING = ["user:cost-center", "user:cost_center", "user:Cost Center", "user:Team", "user:team"]


@pytest.mark.parametrize("order", list(itertools.permutations(range(5)))[::17])
def test_collisions_keep_both_with_a_stable_suffix(order: tuple[int, ...]) -> None:
    keys = [COLLIDING[i] for i in order]
    names = {k.raw_key: k.tag_key for k in name_tag_keys(keys)}
    assert names == {
        "user:cost_center": "cost_center",  # already spelled as its name: keeps it
        "user:Cost Center": "cost_center_f152",
        "user:cost-center": "cost_center_4102",
        "user:Team": "team",  # equal up to case: one tag, deliberately
        "user:team": "team",
    }
    assert tag_key_collisions(name_tag_keys(keys)) == (
        TagKeyCollision(
            "cost_center",
            (
                ("user:cost_center", "cost_center"),
                ("user:cost-center", "cost_center_4102"),
                ("user:Cost Center", "cost_center_f152"),
            ),
        ),
    )


def test_suffix_depends_on_the_key_not_on_the_others() -> None:
    alone = {k.raw_key: k.tag_key for k in name_tag_keys(["user:cost_center", "user:cost-center"])}
    assert alone["user:cost-center"] == "cost_center_4102"


def test_non_ascii_collisions_and_case_merge() -> None:
    names = {
        k.raw_key: k.tag_key
        for k in name_tag_keys(["user:コスト", "user:コスト!", "user:Équipe", "user:équipe"])
    }
    assert names["user:コスト"] == "コスト"
    assert names["user:コスト!"].startswith("コスト_") and len(names["user:コスト!"]) == 8
    assert names["user:Équipe"] == names["user:équipe"] == "équipe"  # case folding: one tag


def test_a_taken_suffix_grows() -> None:
    # "a-b" would get a_b_d443, which "a_b_d443" itself already is
    names = {k.raw_key: k.tag_key for k in name_tag_keys(["a_b", "a-b", "a_b_d443"])}
    assert names == {"a_b": "a_b", "a_b_d443": "a_b_d443", "a-b": "a_b_d4436"}


def test_blank_and_cur2_prefix() -> None:
    assert name_tag_keys(["user:", " "]) == (
        TagKey(" ", "tag", "tag"),
        TagKey("user:", "tag", "tag"),
    )
    assert name_tag_keys(["user_コスト"], drop_prefix="user_") == (
        TagKey("user_コスト", "コスト", "コスト"),
    )


# --- ingest of small hand-written exports -------------------------------------------------

CUR1_HEADER = [
    "bill/BillingPeriodStartDate",
    "lineItem/UsageAccountId",
    "lineItem/LineItemType",
    "lineItem/UsageStartDate",
    "lineItem/ProductCode",
    "lineItem/ResourceId",
    "lineItem/UnblendedCost",
    "resourceTags/user:コスト",
    "resourceTags/user:成本中心",
    "resourceTags/user:Équipe",
    "resourceTags/user:cost-center",
    "resourceTags/user:cost_center",
    "resourceTags/user:Team",
    "resourceTags/user:team",
]
CUR1_ROWS = [
    # resource, cost, コスト, 成本中心, Équipe, cost-center, cost_center, Team, team
    ["r1", "1.10", "c-jp", "c-cn", "eq", "cc-dash", "cc-under", "pay", ""],
    ["r2", "2.25", "", "c-cn2", "", "", "cc-under2", "", "chk"],
    ["r3", "0.0000000001", "c-jp3", "", "eq3", "cc-dash3", "", "", ""],
]
CUR1_EXPECTED = {
    "r1": {
        "コスト": "c-jp",
        "成本中心": "c-cn",
        "équipe": "eq",
        "cost_center_4102": "cc-dash",
        "cost_center": "cc-under",
        "team": "pay",
    },
    "r2": {"成本中心": "c-cn2", "cost_center": "cc-under2", "team": "chk"},
    "r3": {"コスト": "c-jp3", "équipe": "eq3", "cost_center_4102": "cc-dash3"},
}
CUR1_TOTAL = Decimal("3.3500000001")


def _cur1_csv(path: Path, order: list[int], account: str = "111111111111") -> Path:
    header = [CUR1_HEADER[i] for i in order]
    with path.open("w", newline="", encoding="utf-8") as fh:
        w = csv.writer(fh)
        w.writerow(header)
        for resource, cost, *tags in CUR1_ROWS:
            fixed = ["2024-11-01T00:00:00Z", account, "Usage", "2024-11-03T00:00:00Z"]
            row = [*fixed, "AmazonEC2", resource, cost, *tags]
            w.writerow([row[i] for i in order])
    return path


def _tags_by_resource(data_dir: Path) -> dict[str, dict[str, str]]:
    con = duckdb.connect(str(data_dir / "warehouse.duckdb"), read_only=True)
    try:
        rows = con.execute("SELECT resource_id, tags FROM line_items ORDER BY 1").fetchall()
    finally:
        con.close()
    return {str(r): dict(t) for r, t in rows}


def _warehouse(data_dir: Path) -> duckdb.DuckDBPyConnection:
    return duckdb.connect(str(data_dir / "warehouse.duckdb"), read_only=True)


COLLISION = TagKeyCollision(
    "cost_center",
    (("user:cost_center", "cost_center"), ("user:cost-center", "cost_center_4102")),
)


@pytest.mark.parametrize(
    "order",
    [list(range(len(CUR1_HEADER))), [0, 1, 2, 3, 4, 5, 6, 13, 12, 11, 10, 9, 8, 7]],
    ids=["as-written", "tag-columns-reversed"],
)
def test_legacy_csv_keeps_every_key(tmp_path: Path, data_dir: Path, order: list[int]) -> None:
    export = tmp_path / "export"
    export.mkdir()
    _cur1_csv(export / "cur-00001.csv", order)
    report = ingest(Settings(data_dir=data_dir), str(export))
    [d] = report.deliveries
    assert (d.format, d.rows, d.status) == ("cur1-csv", 3, "new")
    assert d.totals["unblended_cost"] == CUR1_TOTAL
    assert _tags_by_resource(data_dir) == CUR1_EXPECTED
    [seen] = report.tag_key_collisions
    assert (seen.normalized_key, seen.keys) == (COLLISION.normalized_key, COLLISION.keys)
    assert [p.isoformat() for p in seen.periods] == ["2024-11-01"]
    assert report.as_dict()["tag_key_collisions"] == [
        {
            "normalized_key": "cost_center",
            "keys": [
                {"raw_key": "user:cost_center", "tag_key": "cost_center"},
                {"raw_key": "user:cost-center", "tag_key": "cost_center_4102"},
            ],
            "periods": ["2024-11"],
        }
    ]
    assert seen.message() == (
        "tag keys 'user:cost_center' and 'user:cost-center' both normalize to cost_center: kept "
        "apart as cost_center and cost_center_4102 (use these names in rules)"
    )
    con = _warehouse(data_dir)
    try:
        [stored] = warehouse_tag_key_collisions(con)
        assert (stored.keys, [p.isoformat() for p in stored.periods]) == (
            COLLISION.keys,
            ["2024-11-01"],
        )
        assert deliveries_named_by_older_rule(con) == 0
        assert con.execute("SELECT sum(unblended_cost) FROM line_items").fetchone() == (CUR1_TOTAL,)
    finally:
        con.close()
    again = ingest(Settings(data_dir=data_dir), str(export))
    assert [d.status for d in again.deliveries] == ["unchanged"]
    assert again.tag_key_collisions == []  # reported once: when loaded


FOCUS_HEADER = [
    "BillingPeriodStart",
    "BillingPeriodEnd",
    "ChargePeriodStart",
    "ChargePeriodEnd",
    "ChargeCategory",
    "BilledCost",
    "EffectiveCost",
    "ListCost",
    "SubAccountId",
    "ServiceName",
    "ResourceId",
    "Tags",
]
FOCUS_TAGS = [
    (
        "f1",
        "10.50",
        {"user:コスト": "jp", "user:成本中心": "cn", "user:Équipe": "eq", "env": "prod"},
    ),
    ("f2", "0.3333333333", {"user:E\u0301quipe": "eq2", "user:***": "stars", "user:💰": "bag"}),
    ("f3", "-1.25", {"user:Team": "t", "user:team": "", "user:ЦентрЗатрат": "ru"}),
    ("f4", "4", {}),
]
FOCUS_EXPECTED = {
    "f1": {"コスト": "jp", "成本中心": "cn", "équipe": "eq", "env": "prod"},
    "f2": {"équipe": "eq2", "tag_2a_2a_2a": "stars", "tag_1f4b0": "bag"},
    "f3": {"team": "t", "центр_затрат": "ru"},
    "f4": {},
}


def _focus_csv(path: Path) -> Path:
    with path.open("w", newline="", encoding="utf-8") as fh:
        w = csv.writer(fh)
        w.writerow(FOCUS_HEADER)
        for resource, cost, tags in FOCUS_TAGS:
            start, end = "2024-11-01T00:00:00Z", "2024-12-01T00:00:00Z"
            charge = ["2024-11-05T00:00:00Z", "2024-11-06T00:00:00Z", "Usage"]
            where = ["111111111111", "Amazon EC2", resource]
            w.writerow([start, end, *charge, cost, cost, cost, *where, json.dumps(tags)])
    return path


def test_focus_tags_json_keeps_every_key(tmp_path: Path, data_dir: Path) -> None:
    export = tmp_path / "focus"
    export.mkdir()
    _focus_csv(export / "focus.csv")
    report = ingest(Settings(data_dir=data_dir), str(export))
    [d] = report.deliveries
    assert (d.format, d.rows, d.status) == ("focus", 4, "new")
    assert d.totals["unblended_cost"] == Decimal("13.5833333333")
    assert _tags_by_resource(data_dir) == FOCUS_EXPECTED
    assert report.tag_key_collisions == []  # Équipe written two ways is one key


# --- migration: warehouses loaded under rule 1 --------------------------------------------


def _legacy_names(raw_keys: Iterable[str], *, drop_prefix: str = "") -> tuple[TagKey, ...]:
    """Rule 1's naming, to build a warehouse as the previous release wrote it."""
    named = ((r, legacy_tag_key(r.removeprefix(drop_prefix))) for r in sorted(set(raw_keys)))
    return tuple(TagKey(r, name, name) for r, name in named)


def _load_as_rule_1(monkeypatch: pytest.MonkeyPatch, data_dir: Path, *targets: Path) -> None:
    with monkeypatch.context() as m:
        m.setattr("ingest.tag_maps.name_tag_keys", _legacy_names)
        for target in targets:
            ingest(Settings(data_dir=data_dir), str(target))
    con = duckdb.connect(str(data_dir / "warehouse.duckdb"))
    try:
        con.execute("DROP TABLE tag_keys")  # rule 1 recorded nothing
    finally:
        con.close()


def test_next_ingest_migrates_a_rule_1_warehouse(
    tmp_path: Path, data_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    unicode_export, ascii_export = tmp_path / "unicode", tmp_path / "ascii"
    unicode_export.mkdir()
    ascii_export.mkdir()
    _cur1_csv(unicode_export / "cur-00001.csv", list(range(len(CUR1_HEADER))))
    ascii_only = [0, 1, 2, 3, 4, 5, 6, 12]  # ... and resourceTags/user:Team only
    _cur1_csv(ascii_export / "cur-00001.csv", ascii_only, account="222222222222")
    _load_as_rule_1(monkeypatch, data_dir, unicode_export, ascii_export)
    con = _warehouse(data_dir)
    try:
        assert deliveries_named_by_older_rule(con) == 2
        lost = con.execute("SELECT count(*) FROM line_keys WHERE map_contains(tags, '')")
        assert lost.fetchone() == (3,)  # the defect, as loaded: コスト and 成本中心 merged as ''
    finally:
        con.close()

    report = ingest(Settings(data_dir=data_dir), str(unicode_export))
    assert [d.status for d in report.deliveries] == ["replaced"]  # its tags change: reloaded
    assert report.deliveries[0].totals["unblended_cost"] == CUR1_TOTAL
    report = ingest(Settings(data_dir=data_dir), str(ascii_export))
    assert [d.status for d in report.deliveries] == ["unchanged"]  # same tags: only re-checked

    con = _warehouse(data_dir)
    try:
        assert deliveries_named_by_older_rule(con) == 0
        rows = con.execute(
            "SELECT d.source, l.resource_id, l.tags FROM line_items l JOIN deliveries d "
            "USING (delivery_id) ORDER BY 1, 2"
        ).fetchall()
        by_source = {(Path(s).name, r): dict(t) for s, r, t in rows}
        assert {r: t for (s, r), t in by_source.items() if s == "unicode"} == CUR1_EXPECTED
        assert {r: t for (s, r), t in by_source.items() if s == "ascii"} == {
            "r1": {"team": "pay"},
            "r2": {},
            "r3": {},
        }
        stale = con.execute("SELECT count(*) FROM line_keys WHERE map_contains(tags, '')")
        assert stale.fetchone() == (0,)  # the old descriptions' keys were pruned
        assert con.execute("SELECT sum(unblended_cost) FROM line_items").fetchone() == (
            2 * CUR1_TOTAL,
        )
    finally:
        con.close()


def test_migration_of_map_and_manifest_deliveries(
    tmp_path: Path, data_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """CUR 2.0 (a tags map, its keys listed from the file) and a legacy report with a manifest."""
    nov = date(2024, 11, 1)
    cur2_root, cur1_root = tmp_path / "cur2", tmp_path / "cur1"
    cur2_lines = [
        Line(unblended_cost="5.05", resource_id="m1", tags={"user_コスト": "jp", "user_Team": "a"}),
        Line(
            unblended_cost="0.95", resource_id="m2", tags={"user_成本中心": "cn", "user_team": "b"}
        ),
    ]
    write_cur2_export(cur2_root, "cur2", nov, cur2_lines, "exec-1", payer="333333333333")
    ascii_lines = [Line(unblended_cost="2.50", account_id="444444444444",
                        tags={"user:CostCenter": "cc1"})]  # fmt: skip
    write_cur1_report(cur1_root, "legacy", nov, ascii_lines, "asm-1")
    _load_as_rule_1(monkeypatch, data_dir, cur2_root, cur1_root)
    assert _tags_by_resource(data_dir)["m2"] == {"": "cn", "team": "b"}  # as rule 1 loaded it

    report = ingest(Settings(data_dir=data_dir), str(cur2_root))
    assert [(d.status, d.totals["unblended_cost"]) for d in report.deliveries] == [
        ("replaced", Decimal("6.00"))
    ]
    report = ingest(Settings(data_dir=data_dir), str(cur1_root))
    assert [(d.status, d.totals["unblended_cost"]) for d in report.deliveries] == [
        ("unchanged", Decimal("2.50"))
    ]
    assert _tags_by_resource(data_dir) == {
        "i-0001": {"cost_center": "cc1"},
        "m1": {"コスト": "jp", "team": "a"},
        "m2": {"成本中心": "cn", "team": "b"},
    }
    con = _warehouse(data_dir)
    try:
        assert deliveries_named_by_older_rule(con) == 0
        assert warehouse_tag_key_collisions(con) == []
    finally:
        con.close()
    again = ingest(Settings(data_dir=data_dir), str(cur2_root))
    assert [d.status for d in again.deliveries] == ["unchanged"]
