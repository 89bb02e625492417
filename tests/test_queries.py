"""costlens.queries: every answer equals the warehouse's totals exactly; dimensions are
allowlisted and values bound."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path

import pandas as pd
import pytest
from helpers import create_allocations

from costlens import queries as q
from costlens.config import Settings, load_settings
from costlens.errors import QueryError
from costlens.refresh import refresh
from costlens.warehouse import open_warehouse

_GENERATED = """
INSERT INTO allocations SELECT
  DATE '2024-01-01' + CAST(i % 75 AS INTEGER) AS d, date_trunc('month', d),
  '999', 'acct-' || (i % 3), ['AmazonEC2', 'AmazonS3', 'AmazonRDS'][1 + i % 3],
  CASE WHEN i % 9 = 0 THEN NULL ELSE 'eu-west-' || (1 + i % 2) END,
  'ut-' || (i % 5), 'i-' || (i % 40), CASE WHEN i % 13 = 0 THEN 'Credit' ELSE 'Usage' END,
  CASE WHEN i % 13 = 0 THEN 'Credit' ELSE 'Usage' END, ['OnDemand', 'Spot'][1 + i % 2],
  'ms-' || (i % 4), CASE WHEN i % 17 = 0 THEN 'unallocated' ELSE 'owner-' || (i % 4 // 2) END,
  ['prod', 'dev'][1 + i % 2], ['direct', 'shared'][1 + i % 2], 'r' || (i % 3),
  CAST((CASE WHEN i % 13 = 0 THEN -1 ELSE 1 END) * (i % 97) * 0.1000000001 AS DECIMAL(18,10)),
  CAST((i % 89) * 0.0300000007 AS DECIMAL(18,10)),
  CAST((i % 83) * 0.0200000003 AS DECIMAL(18,10)),
  CAST((i % 79) * 0.0500000001 AS DECIMAL(18,10)),
  (i % 13) * 0.5
FROM range(6000) t(i)
"""


def _settings(data_dir: Path) -> Settings:
    return load_settings(
        None, data_dir=data_dir, rules=data_dir / "rules.yaml", owners=data_dir / "owners.yaml"
    )


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> Path:
    data_dir = tmp_path_factory.mktemp("queries") / "data"
    with open_warehouse(data_dir) as wh:
        create_allocations(wh.con, ("environment",))
        wh.con.execute(_GENERATED)
        refresh(wh, _settings(data_dir))
    return data_dir


@pytest.fixture
def snap(built: Path) -> Iterator[q.Snapshot]:
    with q.open_snapshot(built) as s:
        yield s


def _warehouse_total(data_dir: Path, column: str, sql_filter: str = "TRUE") -> Decimal:
    with open_warehouse(data_dir, read_only=True) as wh:
        rows = wh.con.execute(
            f"SELECT SUM({column}) FROM allocations WHERE {sql_filter}"
        ).fetchall()
    return Decimal(rows[0][0])


@pytest.mark.parametrize("grain", ["day", "week", "month"])
@pytest.mark.parametrize("cost_type", ["unblended", "amortized", "net_amortized"])
@pytest.mark.parametrize("by", [(), ("owner",), ("service_code", "region"), ("environment",)])
def test_spend_totals_equal_the_warehouse(
    built: Path, snap: q.Snapshot, grain: q.Grain, cost_type: q.CostType, by: tuple[str, ...]
) -> None:
    frame = q.spend(snap, grain=grain, by=by, cost_type=cost_type)
    assert list(frame.columns) == ["period", *by, "cost"]
    assert all(isinstance(c, Decimal) for c in frame["cost"])
    assert sum(frame["cost"], Decimal(0)) == _warehouse_total(built, f"{cost_type}_cost")


def test_spend_per_owner_and_month_matches_group_by_in_the_warehouse(
    built: Path, snap: q.Snapshot
) -> None:
    frame = q.spend(snap, grain="month", by=("owner",), cost_type="amortized")
    got = {(r.period, r.owner): r.cost for r in frame.itertuples()}
    with open_warehouse(built, read_only=True) as wh:
        rows = wh.con.execute(
            "SELECT billing_period, owner, SUM(amortized_cost) FROM allocations GROUP BY 1, 2"
        ).fetchall()
    assert got == {(p, o): Decimal(c) for p, o, c in rows}
    assert len(got) == 3 * 3  # three months, two owners plus 'unallocated'


@pytest.mark.parametrize(
    ("where", "start", "end", "sql_filter"),
    [
        ({"owner": ["owner-1"]}, None, None, "owner = 'owner-1'"),
        ({"region": [""]}, None, None, "region IS NULL"),
        (
            {"service_code": ["AmazonS3", "AmazonRDS"], "environment": ["prod"]},
            dt.date(2024, 2, 10),
            dt.date(2024, 3, 3),
            "service_code IN ('AmazonS3', 'AmazonRDS') AND environment = 'prod' "
            "AND usage_date BETWEEN DATE '2024-02-10' AND DATE '2024-03-03'",
        ),
        ({"microservice": []}, None, None, "FALSE"),
    ],
)
def test_spend_filters_equal_the_same_filter_in_the_warehouse(
    built: Path,
    snap: q.Snapshot,
    where: dict[str, list[str]],
    start: dt.date | None,
    end: dt.date | None,
    sql_filter: str,
) -> None:
    for grain in ("day", "month"):
        frame = q.spend(snap, grain=grain, by=("account_id",), where=where, start=start, end=end)
        want = (
            _warehouse_total(built, "unblended_cost", sql_filter)
            if sql_filter != "FALSE"
            else Decimal(0)
        )
        assert sum(frame["cost"], Decimal(0)) == want


def test_week_grain_starts_on_monday(snap: q.Snapshot) -> None:
    frame = q.spend(snap, grain="week")
    assert {p.weekday() for p in frame["period"]} == {0}
    assert frame["period"].iloc[0] == dt.date(2024, 1, 1)  # a Monday


def test_unknown_dimension_lists_the_valid_ones(snap: q.Snapshot) -> None:
    with pytest.raises(QueryError, match=r"unknown dimension 'team'.*owner, microservice"):
        q.spend(snap, by=("team",))
    with pytest.raises(QueryError, match="environment"):
        q.spend(snap, where={"owner; DROP TABLE daily": ["x"]})
    with pytest.raises(QueryError, match="use one of: day, week, month"):
        q.spend(snap, grain="year")  # type: ignore[arg-type]


def test_values_are_bound_not_spliced(snap: q.Snapshot) -> None:
    frame = q.spend(snap, by=("owner",), where={"owner": ["x' OR '1'='1"]})
    assert frame.empty
    assert list(frame.columns) == ["period", "owner", "cost"]


def test_dimension_values_and_date_range(snap: q.Snapshot) -> None:
    assert sorted(q.dimension_values(snap, "owner")) == ["owner-0", "owner-1", "unallocated"]
    assert q.dimension_values(snap, "environment")[0] in {"prod", "dev"}
    assert q.date_range(snap) == (dt.date(2024, 1, 1), dt.date(2024, 3, 15))
    assert snap.info.allocation_rows == 6000
    assert snap.info.extra_dimensions == ("environment",)


def test_allocation_health_shares_sum_to_one_per_period(built: Path, snap: q.Snapshot) -> None:
    health = q.allocation_health(snap)
    assert set(health["allocation"]) == {"direct", "shared", "unallocated"}
    for _, part in health.groupby("billing_period"):
        assert sum(part["share"]) == pytest.approx(1.0)
    unallocated = health[health["allocation"] == "unallocated"]["cost"].sum()
    assert unallocated == _warehouse_total(built, "unblended_cost", "owner = 'unallocated'")


def test_untagged_resources_are_the_unallocated_ones_of_the_last_period(
    built: Path, snap: q.Snapshot
) -> None:
    top = q.untagged_resources(snap, limit=5)
    assert len(top) == 5
    assert list(top["unblended_cost"]) == sorted(top["unblended_cost"], reverse=True)
    first = top.iloc[0]
    assert first["unblended_cost"] == _warehouse_total(
        built,
        "unblended_cost",
        f"owner = 'unallocated' AND resource_id = '{first['resource_id']}' "
        f"AND service_code = '{first['service_code']}' AND account_id = '{first['account_id']}' "
        f"AND COALESCE(region, '') = '{first['region']}' AND billing_period = DATE '2024-03-01'",
    )


@pytest.mark.parametrize("dimension", ["owner", "service_code", "environment"])
def test_day_by_one_dimension_without_group_by_is_the_grouped_answer(
    snap: q.Snapshot, dimension: str
) -> None:
    assert snap.days_in_one_period  # every usage date of the data lies in its own month
    fast = q.spend(snap, by=(dimension,), cost_type="amortized", where={dimension: ["x", ""]})
    fast_all = q.spend(snap, by=(dimension,), cost_type="net_amortized")
    snap.days_in_one_period = False
    grouped = q.spend(snap, by=(dimension,), cost_type="amortized", where={dimension: ["x", ""]})
    pd.testing.assert_frame_equal(fast, grouped, check_exact=True)
    pd.testing.assert_frame_equal(
        fast_all, q.spend(snap, by=(dimension,), cost_type="net_amortized"), check_exact=True
    )
    assert len(fast_all) >= 75  # every day has spend


def test_a_usage_date_in_two_billing_periods_is_summed_over_both(tmp_path: Path) -> None:
    """A credit dated in the previous month (as AWS bills some) puts one usage date into two
    billing periods: the day's spend of a value is the sum of both rows."""
    data_dir = tmp_path / "data"
    with open_warehouse(data_dir) as wh:
        create_allocations(wh.con, ())
        wh.con.execute(
            "INSERT INTO allocations BY NAME SELECT DATE '2024-01-31' AS usage_date, "
            "p AS billing_period, 'owner-1' AS owner, 'ms-1' AS microservice, "
            "'AmazonEC2' AS service_code, 'Usage' AS charge_category, 'direct' AS allocation, "
            "CAST(c AS DECIMAL(18,10)) AS unblended_cost, CAST(c AS DECIMAL(18,10)) AS "
            "amortized_cost, CAST(c AS DECIMAL(18,10)) AS net_amortized_cost, "
            "CAST(c AS DECIMAL(18,10)) AS list_cost, 1.0 AS usage_amount "
            "FROM (VALUES (DATE '2024-01-01', '10.0000000001'), "
            "(DATE '2024-02-01', '-2.5000000003')) v(p, c)"
        )
        refresh(wh, _settings(data_dir))
    with q.open_snapshot(data_dir) as two:
        assert not two.days_in_one_period
        frame = q.spend(two, by=("owner",))
    assert frame.to_dict("records") == [
        {"period": dt.date(2024, 1, 31), "owner": "owner-1", "cost": Decimal("7.4999999998")}
    ]


def test_no_snapshot_says_run_sync(tmp_path: Path) -> None:
    with pytest.raises(QueryError, match="no snapshot yet: run costlens sync"):
        q.open_snapshot(tmp_path)


def test_top_movers_compare_month_to_date_with_the_same_days_before(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    with open_warehouse(data_dir) as wh:
        create_allocations(wh.con)
        # checkout: 10.25/day in February, 30.5/day in March; search: 7/day in both; cart: gone.
        for ms, feb, mar in (("checkout", "10.25", "30.5"), ("search", "7", "7"),
                             ("cart", "4", None)):  # fmt: skip
            for day in range(1, 29):
                for month, cost in ((2, feb), (3, mar)):
                    if cost is None or (month == 3 and day > 10):
                        continue
                    wh.con.execute(
                        "INSERT INTO allocations VALUES (?, ?, 'p', 'a', 'AmazonEC2', 'r', 'u', "
                        "'', 'Usage', 'Usage', 'OnDemand', ?, 'o', 'direct', 'r', ?, ?, ?, ?, 1)",
                        [dt.date(2024, month, day), dt.date(2024, month, 1), ms, cost, cost,
                         cost, cost],
                    )  # fmt: skip
        refresh(wh, _settings(data_dir))
    with q.open_snapshot(data_dir) as snap:
        movers = q.top_movers(snap, dimension="microservice", grain="month")
        # Mar 1-10 against Feb 1-10: checkout 102.5 -> 305, cart 40 -> 0, search 70 -> 70.
        assert movers.to_dict("list") == {
            "value": ["checkout", "cart", "search"],
            "previous_cost": [Decimal("102.5"), Decimal("40"), Decimal("70")],
            "current_cost": [Decimal("305"), Decimal("0"), Decimal("70")],
            "delta_cost": [Decimal("202.5"), Decimal("-40"), Decimal("0")],
            "delta_percent": [pytest.approx(197.5609756), -100.0, 0.0],
        }
        weekly = q.top_movers(snap, dimension="microservice", grain="week", limit=1)
        # Mar 10 2024 is a Sunday: Mon Mar 4 - Sun Mar 10 against Feb 26 - Mar 3.
        # checkout (no row on Feb 29): Feb 26-28 at 10.25 + Mar 1-3 at 30.5 = 122.25 -> 213.5
        assert weekly.iloc[0].to_dict() == {
            "value": "checkout",
            "previous_cost": Decimal("122.25"),
            "current_cost": Decimal("213.5"),
            "delta_cost": Decimal("91.25"),
            "delta_percent": pytest.approx(74.6421268),
        }
        with pytest.raises(QueryError, match=r"unknown dimension 'environment'\. Fix: use one of"):
            q.top_movers(snap, dimension="environment")  # this snapshot has no such dimension


def test_top_movers_at_month_end_compare_as_many_days_of_the_shorter_month(
    tmp_path: Path,
) -> None:
    data_dir = tmp_path / "data"
    with open_warehouse(data_dir) as wh:
        create_allocations(wh.con)
        # search: 7/day, flat from 1 January to 31 March 2023; checkout: 1/day, 2/day in March.
        day = dt.date(2023, 1, 1)
        while day <= dt.date(2023, 3, 31):
            for ms, cost in (("search", "7"), ("checkout", "2" if day.month == 3 else "1")):
                wh.con.execute(
                    "INSERT INTO allocations VALUES (?, ?, 'p', 'a', 'AmazonEC2', 'r', 'u', "
                    "'', 'Usage', 'Usage', 'OnDemand', ?, 'o', 'direct', 'r', ?, ?, ?, ?, 1)",
                    [day, day.replace(day=1), ms, cost, cost, cost, cost],
                )
            day += dt.timedelta(days=1)
        refresh(wh, _settings(data_dir))
    with q.open_snapshot(data_dir) as snap:
        movers = q.top_movers(snap, dimension="microservice", grain="month")
    # 1-31 March against the 31 days ending 28 February (29 Jan - 28 Feb), not February's 28:
    # flat spend does not move. checkout: 31 x 1 -> 31 x 2.
    assert movers.to_dict("list") == {
        "value": ["checkout", "search"],
        "previous_cost": [Decimal("31"), Decimal("217")],
        "current_cost": [Decimal("62"), Decimal("217")],
        "delta_cost": [Decimal("31"), Decimal("0")],
        "delta_percent": [100.0, 0.0],
    }


_OWNERS = """
owners:
  - id: payments
    display_name: Payments
    email: pay@example.com
    monthly_budget: 2500
  - id: search
    display_name: Search
    email: search@example.com
    monthly_budget: 3500.50
  - id: idle
    display_name: Idle
    email: idle@example.com
    monthly_budget: 10
  - id: nobudget
    display_name: No budget
    email: nb@example.com
"""


def _owners_snapshot(tmp_path: Path, allocations_sql: str) -> tuple[Path, int]:
    """A snapshot of the allocations ``allocations_sql`` inserts, with ``_OWNERS``' budgets;
    returns its data folder and the number of budgets the refresh wrote."""
    data_dir = tmp_path / "data"
    settings = _settings(data_dir)
    data_dir.mkdir()
    settings.owners.write_text(_OWNERS)
    with open_warehouse(data_dir) as wh:
        create_allocations(wh.con)
        wh.con.execute(allocations_sql)
        return data_dir, refresh(wh, settings).budgets


_MARCH_1_TO_APRIL_10 = (
    "(SELECT CAST(unnest(range(DATE '2024-03-01', DATE '2024-04-11', INTERVAL 1 DAY)) AS DATE) d)"
)


def test_forecasts_and_budgets_from_owners_yaml(tmp_path: Path) -> None:
    # A flat 100.0000000001/day for payments and 50/day for search, Mar 1 - Apr 10 2024.
    data_dir, budgets = _owners_snapshot(
        tmp_path,
        "INSERT INTO allocations SELECT d, date_trunc('month', d), 'p', 'a', 'AmazonEC2', "
        "'r', 'u', '', 'Usage', 'Usage', 'OnDemand', o || '-api', o, 'direct', 'r', c, c, "
        f"c, c, 1 FROM {_MARCH_1_TO_APRIL_10}, (VALUES ('payments', "
        "100.0000000001::DECIMAL(18,10)), ('search', 50::DECIMAL(18,10))) v(o, c)",
    )
    assert budgets == 3
    with q.open_snapshot(data_dir) as snap:
        fc = q.forecasts(snap).set_index("owner")
        # 10 days observed of 30: month to date exact, 20 flat days projected.
        assert fc.loc["payments", "month_to_date"] == Decimal("1000.0000000010")
        assert fc.loc["payments", "projected"] == Decimal("3000.00")
        assert fc.loc["*", "month_to_date"] == Decimal("1500.0000000010")
        assert fc.loc["*", "projected"] == Decimal("4500.00")
        assert set(fc["billing_period"]) == {dt.date(2024, 4, 1)}
        got = q.budgets(snap)[["owner", "budget", "projected", "status"]].to_dict("records")
        assert got == [
            {"owner": "payments", "budget": Decimal("2500.00"), "projected": Decimal("3000.00"),
             "status": "over"},
            {"owner": "idle", "budget": Decimal("10.00"), "projected": Decimal("0.00"),
             "status": "on track"},
            {"owner": "search", "budget": Decimal("3500.50"), "projected": Decimal("1500.00"),
             "status": "on track"},
        ]  # fmt: skip


def test_forecasts_in_every_cost_type_budgets_in_the_budget_cost_type(tmp_path: Path) -> None:
    # payments, Mar 1 - Apr 10 2024, per day: 100 unblended, 90.5 amortized, 80.25 net.
    data_dir, _ = _owners_snapshot(
        tmp_path,
        "INSERT INTO allocations SELECT d, date_trunc('month', d), 'p', 'a', 'AmazonEC2', "
        "'r', 'u', '', 'Usage', 'Usage', 'OnDemand', 'payments-api', 'payments', 'direct', "
        f"'r', 100, 90.5, 80.25, 120, 1 FROM {_MARCH_1_TO_APRIL_10}",
    )
    with q.open_snapshot(data_dir) as snap:
        assert snap.info.anomaly_cost_type == "amortized"
        for cost_type, daily in (("unblended", "100"), ("amortized", "90.5"),
                                 ("net_amortized", "80.25")):  # fmt: skip
            fc = q.forecasts(snap, cost_type=cost_type).set_index("owner")
            # 10 days observed of 30: the exact month to date, 20 flat days projected.
            assert list(fc.index) == ["*", "payments"], cost_type
            assert fc.loc["*", "month_to_date"] == 10 * Decimal(daily), cost_type
            assert fc.loc["payments", "projected"] == 30 * Decimal(daily), cost_type
        pd.testing.assert_frame_equal(q.forecasts(snap), q.forecasts(snap, cost_type="amortized"))
        budget = q.budgets(snap).set_index("owner").loc["payments"]
        assert (budget["month_to_date"], budget["projected"]) == (Decimal("905"), Decimal("2715"))
        with pytest.raises(QueryError, match="unknown cost type 'list'"):
            q.forecasts(snap, cost_type="list")  # type: ignore[arg-type]


def test_every_dimension_has_a_label() -> None:
    from costlens.anomalies.describe import DRIVER_LABELS

    assert set(q.DIMENSION_LABELS) == set(q.DIMENSIONS)
    assert {k: DRIVER_LABELS[k] for k in q.DIMENSION_LABELS} == q.DIMENSION_LABELS


# --- the dashboard's honest charts (issue 15 §2-3) ---------------------------------------------


def test_top_movers_over_a_range_compare_the_as_many_days_before_it(
    built: Path, snap: q.Snapshot
) -> None:
    start, end = dt.date(2024, 2, 10), dt.date(2024, 2, 19)
    movers = q.top_movers(snap, dimension="microservice", start=start, end=end, limit=100)
    for row in movers.itertuples():
        now = _warehouse_total(
            built,
            "unblended_cost",
            f"microservice = '{row.value}' AND usage_date BETWEEN DATE '{start}' AND DATE '{end}'",
        )
        before = _warehouse_total(
            built,
            "unblended_cost",
            f"microservice = '{row.value}' "
            "AND usage_date BETWEEN DATE '2024-01-31' AND DATE '2024-02-09'",
        )
        assert (row.current_cost, row.previous_cost) == (now, before), row.value
        assert row.delta_cost == now - before
    w = q.range_windows(start, end)
    assert (w.previous_start, w.previous_end, w.days) == (
        dt.date(2024, 1, 31),
        dt.date(2024, 2, 9),
        10,
    )
    with pytest.raises(QueryError, match="ends before it starts"):
        q.range_windows(end, start)


def test_untagged_resources_costing_only_leaves_out_zero_and_credited_ones(
    snap: q.Snapshot,
) -> None:
    every = q.untagged_resources(snap, limit=1000)
    costing = q.untagged_resources(snap, limit=1000, costing_only=True)
    assert all(c > 0 for c in costing["unblended_cost"])
    assert list(costing["resource_id"]) == [
        r for r, c in zip(every["resource_id"], every["unblended_cost"], strict=True) if c > 0
    ]


def test_account_names_is_empty_without_names_on_the_bill(snap: q.Snapshot) -> None:
    # This warehouse holds allocations only (no line items, so no names): ids stay bare.
    assert q.account_names(snap) == {}
