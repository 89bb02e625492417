"""Shared-cost splits: exact shares, credits, empty targets, and conservation as a property."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import duckdb
import pytest
from attribution_fixtures import insert, line, owners
from helpers import assert_reconciles
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from costlens.attribution import attribute, parse_rules
from costlens.attribution.coverage import tag_coverage
from costlens.attribution.shared import split_exact
from costlens.schema import COST_COLUMNS, LINE_ITEMS, create_table_sql

BASE = """\
rules:
  - name: app
    match: {tag: app}
    set: {microservice: "{tag:app}"}
shared:
"""


def _shares(con: duckdb.DuckDBPyConnection, column: str = "unblended_cost") -> dict[str, Decimal]:
    rows = con.execute(
        f"SELECT owner, SUM({column}) FROM allocations WHERE allocation = 'shared' GROUP BY 1"
    ).fetchall()
    return dict(rows)


def _con(lines: list[dict[str, object]]) -> duckdb.DuckDBPyConnection:
    con = duckdb.connect()
    con.execute(create_table_sql("line_items", LINE_ITEMS))
    insert(con, lines)
    return con


def _run(con: duckdb.DuckDBPyConnection, shared: str) -> None:
    attribute(con, parse_rules(BASE + shared, "rules.yaml", owners()))
    assert_reconciles(con, "allocations")


DIRECT = [
    line("a", "30", {"app": "payments-api"}, amortized="10"),
    line("b", "10", {"app": "cart"}, amortized="30"),
]
SUPPORT = line("s", "1", service="AWSSupportEnterprise", amortized="1")


def test_proportional_by_the_chosen_cost_column() -> None:
    split = "  - {name: support, match: {service: AWSSupportEnterprise}, by: proportional, %s}\n"
    con = _con([*DIRECT, SUPPORT])
    _run(con, split % "cost_column: unblended_cost")
    # weights 30:10 (platform has no direct cost: weight 0, no row)
    assert _shares(con) == {"payments": Decimal("0.75"), "checkout": Decimal("0.25")}
    _run(con, split % "cost_column: amortized_cost")
    assert _shares(con) == {"payments": Decimal("0.25"), "checkout": Decimal("0.75")}
    rows = con.execute(
        "SELECT DISTINCT microservice, rule, basis FROM allocations WHERE allocation = 'shared'"
    ).fetchall()
    assert rows == [("unallocated", "support", "split")]


def test_even_thirds_assign_the_remainder_unit_deterministically() -> None:
    con = _con([*DIRECT, SUPPORT])
    _run(con, "  - {name: s, match: {service: AWSSupportEnterprise}, by: even, to: all}\n")
    # 1 / 3 in units of 1e-10: 3333333333 each, 1 unit left -> first target in order (checkout)
    assert _shares(con) == {
        "checkout": Decimal("0.3333333334"),
        "payments": Decimal("0.3333333333"),
        "platform": Decimal("0.3333333333"),
    }


def test_fixed_weights_with_credit_and_label() -> None:
    credit = line("c", "-10", service="AWSSupportEnterprise", lit="Credit", cat="Credit")
    con = _con([*DIRECT, credit])
    _run(
        con,
        "  - name: s\n    match: {service: AWSSupportEnterprise}\n    by: fixed\n"
        "    weights: {payments: 2, platform: 1}\n    microservice: eks-shared\n",
    )
    # -10 * 2/3 = -6.66666666666..., -10 * 1/3 = -3.333...: the larger remainder gets the unit
    assert _shares(con) == {
        "payments": Decimal("-6.6666666667"),
        "platform": Decimal("-3.3333333333"),
    }
    labels = con.execute(
        "SELECT DISTINCT microservice FROM allocations WHERE allocation = 'shared'"
    ).fetchall()
    assert labels == [("eks-shared",)]


def test_no_target_with_direct_cost_keeps_charge_and_credit_unallocated() -> None:
    # Issue 11 (4): with no spend to be proportional to, neither a charge nor a credit is spread
    # evenly over owners without spend (a credit made each of them "earn" money).
    credit = line("c", "-0.40", service="AWSSupportEnterprise", lit="Credit", cat="Credit")
    con = _con([*DIRECT, SUPPORT, credit])
    _run(
        con,
        "  - {name: s, match: {service: AWSSupportEnterprise}, by: proportional, to: [platform]}\n",
    )
    rows = con.execute(
        "SELECT resource_id, owner, microservice, rule, basis, unblended_cost FROM allocations "
        "WHERE allocation = 'shared' ORDER BY 1"
    ).fetchall()
    assert rows == [
        ("c", "unallocated", "unallocated", "s", "unallocated", Decimal("-0.4000000000")),
        ("s", "unallocated", "unallocated", "s", "unallocated", Decimal("1.0000000000")),
    ]


def test_credit_is_split_like_the_charges_it_offsets_to_the_cent() -> None:
    # Charge 1.00 and credit -0.40 of the same split: both by the owners' direct unblended cost
    # (payments 30, checkout 10, platform none): 3/4 and 1/4 each; platform gets neither.
    credit = line("c", "-0.40", service="AWSSupportEnterprise", lit="Credit", cat="Credit")
    con = _con([*DIRECT, SUPPORT, credit])
    _run(
        con,
        "  - {name: s, match: {service: AWSSupportEnterprise}, by: proportional,"
        " cost_column: unblended_cost}\n",
    )
    rows = con.execute(
        "SELECT resource_id, owner, unblended_cost FROM allocations "
        "WHERE allocation = 'shared' ORDER BY 1, 2"
    ).fetchall()
    assert rows == [
        ("c", "checkout", Decimal("-0.1000000000")),
        ("c", "payments", Decimal("-0.3000000000")),
        ("s", "checkout", Decimal("0.2500000000")),
        ("s", "payments", Decimal("0.7500000000")),
    ]


def test_credits_exceeding_charges_give_shares_of_the_charges() -> None:
    # payments 1.00 direct, a -5.00 credit split to it, 2.00 unallocated: a net total of -2.00.
    # Shares of the net total would read -50 % by tags and -100 % unallocated; of the charges
    # (3.00) they are 1/3 and 2/3, and the line says that credits exceed charges.
    lines = [
        line("a", "1.00", {"app": "payments-api"}),
        line("c", "-5.00", service="AWSSupportEnterprise", lit="Credit", cat="Credit"),
        line("n", "2.00", service="AmazonS3"),
    ]
    con = _con(lines)
    rules = parse_rules(
        BASE + "  - {name: s, match: {service: AWSSupportEnterprise}, by: proportional,"
        " cost_column: unblended_cost}\n",
        "rules.yaml",
        owners(),
    )
    result = attribute(con, rules)
    assert result.unallocated_share("unblended_cost") == Decimal(2) / Decimal(3)
    assert result.describe_unallocated("unblended_cost") == (
        "66.67% of unblended charges unallocated (2.00 of 3.00; after 5.00 of credits, "
        "2.00 of -2.00, credits exceed charges)"
    )
    (row,) = tag_coverage(con, cost_column="unblended_cost")
    assert row.total_cost == Decimal("-2.00") and row.split_cost == Decimal("-5.00")
    assert (row.tag_share, row.rule_share, row.split_share) == (1 / 3, 0.0, 0.0)
    assert row.unallocated_share == 2 / 3
    assert (row.charges, row.credits) == (Decimal("3.00"), Decimal("-5.00"))


def test_proportional_weights_are_per_billing_period() -> None:
    feb = date(2024, 2, 1)
    lines = [
        *DIRECT,
        SUPPORT,
        line("b2", "5", {"app": "cart"}, period=feb),
        line("s2", "2", service="AWSSupportEnterprise", period=feb),
    ]
    con = _con(lines)
    _run(
        con,
        "  - {name: s, match: {service: AWSSupportEnterprise}, by: proportional,"
        " cost_column: unblended_cost}\n",
    )
    rows = con.execute(
        "SELECT billing_period, owner, SUM(unblended_cost) FROM allocations "
        "WHERE allocation = 'shared' GROUP BY ALL ORDER BY ALL"
    ).fetchall()
    assert rows == [
        (date(2024, 1, 1), "checkout", Decimal("0.25")),
        (date(2024, 1, 1), "payments", Decimal("0.75")),
        (date(2024, 2, 1), "checkout", Decimal("2")),
    ]


def test_first_matching_split_wins() -> None:
    con = _con([*DIRECT, SUPPORT])
    _run(
        con,
        "  - {name: first, match: {service: AWSSupportEnterprise}, by: even, to: [platform]}\n"
        "  - {name: second, match: {service: AWSSupportEnterprise}, by: even, to: [payments]}\n",
    )
    assert _shares(con) == {"platform": Decimal("1")}


@given(
    st.lists(st.decimals(min_value=-1000, max_value=1000, places=10), min_size=1, max_size=6),
    st.lists(st.integers(min_value=0, max_value=10**12), min_size=1, max_size=6).filter(any),
)
@settings(max_examples=50, deadline=None)
def test_split_exact_conserves(amounts: list[Decimal], weights: list[int]) -> None:
    for amount in amounts:
        shares = split_exact(amount, weights)
        assert sum(shares) == amount
        assert all(abs(s) <= abs(amount) for s in shares)


_money = st.decimals(min_value=-50, max_value=500, places=10)
_apps = st.sampled_from(["payments-api", "cart", "refunds", "eks-shared", "ghost", ""])
_accounts = st.sampled_from(["111", "222", "333"])
_services = st.sampled_from(["AmazonEC2", "AmazonS3", "AWSSupportEnterprise"])
_line = st.builds(
    lambda i, cost, amort, app, acct, svc, day, month: line(
        f"r{i}",
        str(cost),
        {"app": app} if app else {},
        amortized=str(amort),
        account=acct,
        service=svc,
        day=day,
        period=date(2024, month, 1),
    ),
    st.integers(0, 5),
    _money,
    _money,
    _apps,
    _accounts,
    _services,
    st.integers(1, 3),
    st.integers(1, 2),
)
_cond = st.sampled_from(
    [
        "{account: '222'}",
        "{service: AmazonS3}",
        "{tag: app}",
        "{not: {tag: app}}",
        "{service: [AmazonEC2, AWSSupportEnterprise]}",
    ]
)
_owner = st.sampled_from(["payments", "checkout", "platform"])
_rule = st.builds(lambda c, o: f"  - {{name: R, match: {c}, set: {{owner: {o}}}}}\n", _cond, _owner)
_split = st.one_of(
    st.builds(lambda c, col: f"  - {{name: S, match: {c}, by: proportional, cost_column: {col}}}\n",
              _cond, st.sampled_from(["unblended_cost", "amortized_cost"])),
    st.builds(lambda c: f"  - {{name: S, match: {c}, by: even, to: [checkout, platform]}}\n",
              _cond),
    st.builds(lambda c, w: f"  - {{name: S, match: {c}, by: fixed,"
                           f" weights: {{payments: {w}, platform: 1}}}}\n",
              _cond, st.integers(0, 7)),
)  # fmt: skip


@given(
    lines=st.lists(_line, min_size=1, max_size=12),
    rules=st.lists(_rule, max_size=4),
    splits=st.lists(_split, max_size=3),
)
@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@pytest.mark.slow
def test_random_rules_lines_and_splits_conserve_exactly(
    lines: list[dict[str, object]], rules: list[str], splits: list[str]
) -> None:
    text = "rules:\n" + "".join(r.replace("name: R", f"name: r{i}") for i, r in enumerate(rules))
    text += "shared:\n" + "".join(s.replace("name: S", f"name: s{i}") for i, s in enumerate(splits))
    text = text.replace("rules:\nshared:", "rules: []\nshared:")
    text = text + " []\n" if text.endswith("shared:\n") else text
    con = _con(lines)
    result = attribute(con, parse_rules(text, "rules.yaml", owners()))  # checks conservation
    assert_reconciles(con, "allocations")
    bad = con.execute(
        "SELECT COUNT(*) FROM allocations WHERE owner IS NULL OR microservice IS NULL"
    ).fetchone()
    assert bad == (0,)
    # Whatever the credits, every share printed lies in [0, 1].
    for column in COST_COLUMNS:
        assert 0 <= result.unallocated_share(column) <= 1
        for row in tag_coverage(con, cost_column=column):
            shares = (row.tag_share, row.rule_share, row.split_share, row.unallocated_share)
            assert all(s is None or 0 <= s <= 1 for s in shares), row


@given(
    st.decimals(min_value=-1000, max_value=1000, places=10),
    st.lists(st.integers(min_value=0, max_value=9), min_size=3, max_size=3).filter(any),
)
@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
def test_sql_shares_equal_the_python_twin(amount: Decimal, weights: list[int]) -> None:
    # Fixed weights over the three owners, in the `weights` order: the SQL split of one shared
    # line gives each owner exactly what split_exact gives (spare units in target order).
    owners_ = ["payments", "checkout", "platform"]
    pairs = ", ".join(f"{o}: {w}" for o, w in zip(owners_, weights, strict=True) if w)
    con = _con([line("s", str(amount), service="AWSSupportEnterprise")])
    _run(con, f"  - {{name: s, match: {{service: AWSSupportEnterprise}}, by: fixed,"
              f" weights: {{{pairs}}}}}\n")  # fmt: skip
    kept = [(o, w) for o, w in zip(owners_, weights, strict=True) if w]
    expected = split_exact(amount, [w for _, w in kept])
    want = {o: s for (o, _), s in zip(kept, expected, strict=True) if s != 0}
    got = {o: s for o, s in _shares(con).items() if s != 0}
    assert got == want


def test_spare_units_go_to_the_targets_in_order() -> None:
    # 1e-10 split 1:3 -> floor gives 0 and 0, one spare unit: the first target in order gets it
    # (largest remainders would have given it to the second).
    con = _con([line("s", "0.0000000001", service="AWSSupportEnterprise")])
    _run(con, "  - {name: s, match: {service: AWSSupportEnterprise}, by: fixed,"
              " weights: {checkout: 1, payments: 3}}\n")  # fmt: skip
    assert _shares(con) == {"checkout": Decimal("1E-10"), "payments": Decimal("0E-10")}
