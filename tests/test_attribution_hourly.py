"""Hourly allocations (``[anomalies] grain = "hour"``): the window, exact sums per day and the
same owners and shares as the daily allocations, kept or re-written with the periods."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from typing import Any

import duckdb
import pytest
from attribution_fixtures import insert, line, owners

from costlens.attribution import attribute, parse_rules
from costlens.attribution.hourly import HOURLY_ALLOCATIONS, hourly_current
from costlens.schema import COST_COLUMNS, LINE_ITEMS, create_table_sql

RULES = """\
rules:
  - name: app
    match: {tag: app}
    set: {microservice: "{tag:app}"}
shared:
  - {name: support, match: {service: AWSSupportEnterprise}, by: proportional,
     cost_column: unblended_cost}
"""
JAN, FEB = date(2024, 1, 1), date(2024, 2, 1)


def _at(row: dict[str, Any], when: datetime) -> dict[str, Any]:
    return {**row, "start": when, "period": date(when.year, when.month, 1)}


def _lines() -> list[dict[str, Any]]:
    """Two owners a day from 25 January to 20 February at several hours, and a support charge
    (split 3:1 by their unblended cost of the period) at 05:00 each day."""
    rows = []
    for day in [*(datetime(2024, 1, d) for d in range(25, 32)),
                *(datetime(2024, 2, d) for d in range(1, 21))]:  # fmt: skip
        for hour in (0, 5, 13, 23):
            rows.append(
                _at(line("a", "3.0000000000", {"app": "payments-api"}), day.replace(hour=hour))
            )
            rows.append(_at(line("b", "1.0000000000", {"app": "cart"}), day.replace(hour=hour)))
        rows.append(_at(line("b", "0.5000000000", {"app": "cart"}), day.replace(hour=13)))
        support = line("s", "0.8000000000", service="AWSSupportEnterprise")
        rows.append(_at(support, day.replace(hour=5)))
    return rows


def _con() -> duckdb.DuckDBPyConnection:
    con = duckdb.connect()
    con.execute(create_table_sql("line_items", LINE_ITEMS))
    insert(con, _lines())
    return con


def _rules() -> Any:
    return parse_rules(RULES, "rules.yaml", owners())


def test_hourly_window_sums_to_line_items_and_matches_daily_shares() -> None:
    con = _con()
    result = attribute(con, _rules(), hourly_days=15)
    assert result.hourly is not None and result.hourly.written
    assert result.hourly.since == date(2024, 2, 6)  # 15 days up to 20 February
    assert "hourly allocations from 2024-02-06" in " ".join(result.notes)
    first, last, hours = con.execute(
        "SELECT min(usage_hour), max(usage_hour), count(DISTINCT usage_hour)"
        f" FROM {HOURLY_ALLOCATIONS}"
    ).fetchone()
    assert (first, last, hours) == (datetime(2024, 2, 6), datetime(2024, 2, 20, 23), 15 * 4)
    # each hour's owners: 13:00 holds payments 3 and checkout 1.5; 05:00 also the support split
    # 3:1 of the period's direct cost (payments 12, checkout 4.5 a day: weights 24:9 of 33)
    rows = con.execute(
        f"SELECT usage_hour, owner, microservice, SUM(unblended_cost) FROM {HOURLY_ALLOCATIONS}"
        " WHERE usage_date = DATE '2024-02-10' GROUP BY ALL ORDER BY ALL"
    ).fetchall()
    d = datetime(2024, 2, 10)
    assert [(h.hour, o, m, c) for h, o, m, c in rows] == [
        (0, "checkout", "cart", Decimal("1")),
        (0, "payments", "payments-api", Decimal("3")),
        (5, "checkout", "cart", Decimal("1")),
        (5, "checkout", "unallocated", Decimal("0.2181818182")),
        (5, "payments", "payments-api", Decimal("3")),
        (5, "payments", "unallocated", Decimal("0.5818181818")),
        (13, "checkout", "cart", Decimal("1.5")),
        (13, "payments", "payments-api", Decimal("3")),
        (23, "checkout", "cart", Decimal("1")),
        (23, "payments", "payments-api", Decimal("3")),
    ]
    assert all(h.date() == d.date() for h, *_ in rows)
    # per day and owner, the hourly rows add up to the daily allocations (same weights)
    daily = con.execute(
        "SELECT usage_date, owner, microservice, SUM(unblended_cost), SUM(amortized_cost)"
        " FROM allocations WHERE usage_date >= DATE '2024-02-06' GROUP BY ALL ORDER BY ALL"
    ).fetchall()
    hourly = con.execute(
        "SELECT usage_date, owner, microservice, SUM(unblended_cost), SUM(amortized_cost)"
        f" FROM {HOURLY_ALLOCATIONS} GROUP BY ALL ORDER BY ALL"
    ).fetchall()
    assert hourly == daily and len(hourly) == 15 * 4
    sums = ", ".join(f"SUM({c})" for c in COST_COLUMNS)
    assert (
        con.execute(f"SELECT {sums} FROM {HOURLY_ALLOCATIONS}").fetchone()
        == con.execute(
            f"SELECT {sums} FROM line_items WHERE usage_start >= TIMESTAMP '2024-02-06'"
        ).fetchone()
    )


def test_hourly_rows_kept_or_rewritten_with_the_periods_of_their_window() -> None:
    con = _con()
    rules = _rules()
    attribute(con, rules, hourly_days=30)  # from the first day, 25 January: both periods
    assert hourly_current(con, 30) and not hourly_current(con, 15)
    again = attribute(con, rules, periods=[JAN], hourly_days=30)
    assert again.hourly is not None and again.hourly.written  # January is in the window
    assert attribute(con, rules, periods=[JAN], hourly_days=15).hourly.written  # new window
    kept = attribute(con, rules, periods=[JAN], hourly_days=15)  # January is outside it now
    assert kept.hourly is not None and not kept.hourly.written and kept.hourly.rows == 15 * 10
    assert attribute(con, rules, periods=[FEB], hourly_days=15).hourly.written
    assert attribute(con, rules, periods=[FEB]).hourly is None  # grain back to day: dropped
    assert hourly_current(con, None) and not hourly_current(con, 15)
    assert not con.execute(
        f"SELECT 1 FROM information_schema.tables WHERE table_name = '{HOURLY_ALLOCATIONS}'"
    ).fetchall()


def test_failed_hourly_conservation_leaves_the_warehouse_as_it_was(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from costlens.attribution import hourly
    from costlens.errors import RuleError

    con = _con()
    rules = _rules()
    attribute(con, rules)
    before = con.execute("SELECT * FROM allocations ORDER BY ALL").fetchall()
    monkeypatch.setattr(hourly, "_HOURLY_DAYS", hourly._HOURLY_DAYS.replace("SUM(", "2 * SUM("))
    with pytest.raises(RuleError, match=r"conservation failed: .* in allocations_hourly"):
        attribute(con, rules, hourly_days=15)
    assert con.execute("SELECT * FROM allocations ORDER BY ALL").fetchall() == before
    assert not con.execute(
        f"SELECT 1 FROM information_schema.tables WHERE table_name = '{HOURLY_ALLOCATIONS}'"
    ).fetchall()
