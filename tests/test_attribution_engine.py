"""attribute(): every condition and action kind, first-match-wins, defaults, periods, versions."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from pathlib import Path

import pytest
from attribution_fixtures import by_resource, insert, line, owners
from helpers import assert_reconciles

from costlens.attribution import attribute, parse_owners, parse_rules
from costlens.attribution.explain import explain_resource
from costlens.warehouse import Warehouse, open_warehouse

LINES = [
    line("r-app", "1.10", {"app": "payments-api", "env": "prod"}),
    line("r-app-messy", "2.20", {"app": " Refund-Svc ", "team": "checkout"}),
    line("r-service-alias", "3.30", {"service": "cart"}),
    line("r-team", "4.40", {"team": "Payments-Team "}),
    line("r-unknown-app", "5.50", {"app": "ghost", "owner": "checkout"}),
    line("r-none", "6.60", account="222", account_name="acme-sandbox", service="AmazonS3",
         region="eu-west-1", usage_type="EUW1-TimedStorage", operation="PutObject"),
    line("r-tax", "0.70", lit="Tax", cat="Tax", service="AWSSupportEnterprise", region="",
         operation="", usage_type="Tax"),
    line("r-credit", "-0.80", lit="Credit", cat="Credit", po="SavingsPlan",
         operation="Credit"),
]  # fmt: skip


@pytest.fixture
def wh(data_dir: Path):  # type: ignore[no-untyped-def]
    with open_warehouse(data_dir) as w:
        insert(w.con, LINES)
        yield w


def _run(wh: Warehouse, rules_yaml: str, **kw):  # type: ignore[no-untyped-def]
    rules = parse_rules(rules_yaml, "rules.yaml", owners())
    result = attribute(wh, rules, **kw)
    assert_reconciles(wh.con, "allocations")
    return result


# Each condition kind against LINES: the resources it must select (worked out by hand).
CONDITIONS = [
    ("{tag: {key: app, equals: payments-api}}", {"r-app"}),
    ("{tag: {key: app, equals: refund-svc, ignore_case: true}}", {"r-app-messy"}),
    ("{tag: {key: team | owner, in: [checkout]}}", {"r-app-messy", "r-unknown-app"}),
    ("{tag: {key: app, glob: '*-*'}}", {"r-app", "r-app-messy"}),
    ("{tag: {key: app, regex: '^(gh|pay)'}}", {"r-app", "r-unknown-app"}),
    ("{tag: {key: Team, present: true}}", {"r-app-messy", "r-team"}),
    ("{tag: env}", {"r-app"}),
    ("{tag: {key: app | service, absent: true}}",
     {"r-team", "r-none", "r-tax", "r-credit"}),
    ("{account: '222'}", {"r-none"}),
    ("{account_name: {glob: '*sandbox'}}", {"r-none"}),
    ("{account_name: {equals: ACME-SANDBOX, ignore_case: true}}", {"r-none"}),
    ("{payer_account: '900'}", {r["resource"] for r in LINES}),
    ("{service: [AmazonS3, AWSSupportEnterprise]}", {"r-none", "r-tax"}),
    ("{usage_type: {glob: 'EUW1-*'}}", {"r-none"}),
    ("{operation: PutObject}", {"r-none"}),
    ("{region: eu-west-1}", {"r-none"}),
    ("{resource: {regex: '^r-(tax|credit)$'}}", {"r-tax", "r-credit"}),
    ("{line_item_type: Tax}", {"r-tax"}),
    ("{charge_category: {in: [Credit, Tax]}}", {"r-tax", "r-credit"}),
    ("{purchase_option: SavingsPlan}", {"r-credit"}),
    ("{all: [{service: AmazonEC2}, {tag: team}]}", {"r-app-messy", "r-team"}),
    ("{any: [{region: eu-west-1}, {line_item_type: Credit}]}", {"r-none", "r-credit"}),
    ("{not: {service: AmazonEC2}}", {"r-none", "r-tax"}),
    ("{service: AmazonEC2, tag: app}", {"r-app", "r-app-messy", "r-unknown-app"}),
]  # fmt: skip


@pytest.mark.parametrize(("condition", "expected"), CONDITIONS)
def test_each_condition_kind_selects_exactly(
    wh: Warehouse, condition: str, expected: set[str]
) -> None:
    _run(wh, f"rules:\n  - name: r\n    match: {condition}\n    set: {{owner: platform}}\n")
    got = {res for res, (owner,) in by_resource(wh.con, "owner").items() if owner == "platform"}
    assert got == expected


RULES = """\
dimensions: [environment, cost_center, team_label]
defaults: {environment: unknown}
normalize: {aliases: {"refund-svc": refunds}}
rules:
  - name: app
    match: {tag: app | service}
    set: {microservice: "{tag:app | service}", environment: "{tag:env}"}
  - name: team
    set: {owner: "{tag:team | owner}", team_label: "team-{tag:team}"}
  - name: sandbox
    match: {account_name: {glob: "*sandbox"}}
    set: {owner: platform, microservice: eks-shared, environment: "{account_name}"}
"""


def test_actions_inherit_normalize_and_first_match_per_dimension(wh: Warehouse) -> None:
    _run(wh, RULES)
    got = by_resource(
        wh.con, "microservice", "owner", "environment", "cost_center", "team_label", "rule", "basis"
    )
    assert got == {
        # tag app -> microservice; owner from the microservice's owner (rule 1 decides it)
        "r-app": ("payments-api", "payments", "prod", "CC-1010", None, "app", "tag"),
        # ' Refund-Svc ' trimmed, lowered, aliased; the rule-1 owner beats the team tag of rule 2
        "r-app-messy": ("refunds", "payments", "unknown", "CC-1010", "team-checkout", "app", "tag"),
        # tag-key alias `service`
        "r-service-alias": ("cart", "checkout", "unknown", "CC-1020", None, "app", "tag"),
        # owner alias 'Payments-Team ' -> payments; no microservice rule matched
        "r-team": ("unallocated", "payments", "unknown", "CC-1010", "team-payments-team", "team",
                   "tag"),
        # unknown microservice is kept, its owner falls through to the owner tag (rule 2)
        "r-unknown-app": ("ghost", "checkout", "unknown", "CC-1020", None, "team", "tag"),
        # account-name rule; environment inherited from the account name
        "r-none": ("eks-shared", "platform", "acme-sandbox", "CC-4010", None, "sandbox", "rule"),
        "r-tax": ("unallocated", "unallocated", "unknown", None, None, "default", "unallocated"),
        "r-credit": ("unallocated", "unallocated", "unknown", None, None, "default",
                     "unallocated"),
    }  # fmt: skip


def test_result_totals_unallocated_and_version(wh: Warehouse) -> None:
    rules = parse_rules(RULES, "rules.yaml", owners())
    result = attribute(wh, rules)
    assert result.totals["unblended_cost"] == Decimal("23.00")  # 1.1+2.2+...+6.6+0.7-0.8
    assert result.unallocated["unblended_cost"] == Decimal("-0.10")  # 0.70 tax - 0.80 credit
    assert result.periods == (date(2024, 1, 1),)
    assert result.rows == 8
    versions = wh.con.execute("SELECT DISTINCT rule_version FROM allocations").fetchall()
    assert versions == [(rules.version,)]


def test_periods_rewrite_only_those_periods(wh: Warehouse) -> None:
    insert(wh.con, [line("r-feb", "9.99", {"app": "cart"}, period=date(2024, 2, 1), day=5)])
    _run(wh, RULES)
    attribute(wh, parse_rules(RULES, "r.yaml", owners()), periods=[date(2024, 2, 1)],
              rule_version="v2")  # fmt: skip
    rows = wh.con.execute(
        "SELECT billing_period, rule_version, COUNT(*) FROM allocations GROUP BY ALL ORDER BY 1"
    ).fetchall()
    first = parse_rules(RULES, "rules.yaml", owners()).version
    assert rows == [(date(2024, 1, 1), first, 8), (date(2024, 2, 1), "v2", 1)]
    assert_reconciles(wh.con, "allocations")


def test_new_dimensions_rebuild_every_period(wh: Warehouse) -> None:
    _run(wh, RULES)
    result = _run(
        wh, "rules:\n  - name: all\n    set: {owner: platform}\n", periods=[date(2024, 1, 1)]
    )
    assert result.rebuilt and result.notes
    cols = [r[0] for r in wh.con.execute("DESCRIBE allocations").fetchall()]
    assert "environment" not in cols and cols[-8:-6] == ["basis", "rule_version"]


def test_daily_grain_sums_hours_of_the_same_day(data_dir: Path) -> None:
    with open_warehouse(data_dir) as w:
        insert(w.con, [line("r", "0.0000000001", {"app": "cart"}, usage=2.0)] * 3)
        insert(w.con, [line("r", "1", {"app": "cart"}, day=3)])
        _run(w, RULES)
        rows = w.con.execute(
            "SELECT usage_date, unblended_cost, usage_amount FROM allocations ORDER BY 1"
        ).fetchall()
    assert rows == [
        (date(2024, 1, 2), Decimal("0.0000000003"), 6.0),
        (date(2024, 1, 3), Decimal("1.0000000000"), 1.0),
    ]


def test_works_on_a_plain_connection_and_empty_table(data_dir: Path) -> None:
    with open_warehouse(data_dir) as w:
        result = attribute(w.con, parse_rules(RULES, "r.yaml", owners()))
        assert result.rows == 0 and result.totals["unblended_cost"] == 0


CASE_OWNERS = """\
owners:
  - id: payments
    cost_center: Cost002
    microservices: [payments-api]
  - id: checkout
    microservices: [cart]
"""
CASE_RULES = """\
dimensions: [workload, cost_center]
rules:
  - name: app
    match: {tag: app}
    set: {microservice: "{tag:app}"}
  - name: workload
    match: {tag: workload}
    set: {workload: "{tag:workload}"}
    normalize: {lower: false, aliases: {"Base Load": baseload}}
  - name: cost-center-tag
    match: {tag: cost_center}
    set: {cost_center: "{tag:cost_center}"}
  - name: sandbox
    match: {account_name: acme-sandbox}
    set: {cost_center: COST002}
shared:
  - {name: support, match: {service: AWSSupportEnterprise}, by: even, to: [payments, checkout]}
"""


def test_aliases_match_case_insensitively_and_values_keep_one_spelling(data_dir: Path) -> None:
    # Issue 11 (7): `lower: false` keeps 'Peak' as delivered and still lets ' base LOAD' match
    # the alias "Base Load"; a cost center tagged 'cost002' takes its owners.yaml spelling
    # 'Cost002' (as does a literal COST002), so the dimension holds one spelling; an owner
    # without a cost center and `unallocated` both get NULL (the checkout owner used to get '').
    lines = [
        line("r-base", "1", {"app": "payments-api", "workload": " base LOAD"}),
        line("r-peak", "2", {"app": "payments-api", "workload": "Peak"}),
        line("r-tagged", "3", {"app": "cart", "cost_center": "cost002 "}),
        line("r-checkout", "4", {"app": "cart"}),
        line("r-literal", "7", {"app": "cart"}, account_name="acme-sandbox"),
        line("r-none", "5"),
        line("r-support", "6", service="AWSSupportEnterprise"),
    ]
    rules = parse_rules(CASE_RULES, "rules.yaml", parse_owners(CASE_OWNERS, "owners.yaml"))
    with open_warehouse(data_dir) as wh:
        insert(wh.con, lines)
        attribute(wh, rules)
        assert_reconciles(wh.con, "allocations")
        got = by_resource(wh.con, "owner", "workload", "cost_center")
        shared = wh.con.execute(
            "SELECT owner, cost_center, unblended_cost FROM allocations "
            "WHERE allocation = 'shared' ORDER BY 1"
        ).fetchall()
        (checkout,) = explain_resource(wh.con, rules, "r-checkout")
    assert got == {
        "r-base": ("payments", "baseload", "Cost002"),
        "r-peak": ("payments", "Peak", "Cost002"),
        "r-tagged": ("checkout", None, "Cost002"),
        "r-checkout": ("checkout", None, None),
        "r-literal": ("checkout", None, "Cost002"),
        "r-none": ("unallocated", None, None),
    }
    assert shared == [
        ("checkout", None, Decimal("3.0000000000")),
        ("payments", "Cost002", Decimal("3.0000000000")),
    ]
    assert checkout.decisions[-1].value is None
