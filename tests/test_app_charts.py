"""The dashboard's charts do not mislead, and each screen keeps to one cost type (issue 15 §2-3):
AppTest on the real demo snapshot, asserting the figures equal ``costlens.queries``."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import date, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pandas as pd
import plotly.express as px
import pytest
import streamlit
from app_snapshot import APP_FILE, DemoData, dollars, warehouse_dates
from streamlit.testing.v1 import AppTest

from app_pages._charts import PARTIAL_PATTERN, mark_partial, period_coverage
from costlens import queries

pytestmark = pytest.mark.slow


@pytest.fixture
def app(demo: DemoData, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[AppTest]:
    monkeypatch.setenv("COSTLENS_DATA_DIR", str(demo.data_dir))
    monkeypatch.setenv("COSTLENS_STATE_URL", f"sqlite:///{tmp_path / 'state.db'}")
    yield AppTest.from_file(str(APP_FILE), default_timeout=60).run()


def _page(at: AppTest, page: str) -> AppTest:
    at.switch_page(page).run()
    assert not at.exception, [e.value for e in at.exception]
    assert not at.error, [e.value for e in at.error]
    return at


def _charts(at: AppTest) -> list[dict[str, Any]]:
    return [json.loads(c.proto.spec) for c in at.get("plotly_chart")]


def _day(value: str) -> date:
    return date.fromisoformat(str(value)[:10])


def _explore(at: AppTest, start: date, end: date, grain: str, by: str = "service_code") -> None:
    _page(at, "app_pages/explore.py")
    at.date_input(key="dates").set_value((start, end))
    at.selectbox(key="explore_dimension").set_value(by).run()
    grains = next(g for g in at.get("button_group") if g.key == "explore_grain")
    grains.set_value(grain).run()
    assert not at.exception, [e.value for e in at.exception]


def test_partial_weeks_are_hatched_with_their_days_on_hover(app: AppTest, demo: DemoData) -> None:
    first, last = warehouse_dates(demo)
    _explore(app, first, last, "week")
    (chart,) = _charts(app)
    partial = {
        p for p, (n, length) in period_coverage(
            [first - timedelta(days=first.weekday()), last - timedelta(days=last.weekday())],
            "week", first, last,
        ).items() if n < length
    }  # fmt: skip
    assert partial, "the sample starts or ends mid-week"
    for trace in chart["data"]:
        xs = [_day(x) for x in trace["x"]]
        shapes = trace["marker"]["pattern"]["shape"]
        assert [s == PARTIAL_PATTERN for s in shapes] == [x in partial for x in xs], trace["name"]
        for x, note in zip(xs, trace["customdata"], strict=True):
            if x in partial:
                n, length = period_coverage([x], "week", first, last)[x]
                assert note == f" · partial: {n} of {length} days"
    captions = " ".join(c.value for c in app.caption)
    assert "Hatched, lighter" in captions


def test_daily_bars_have_no_partial_period_and_areas_shade_partial_weeks(
    app: AppTest, demo: DemoData
) -> None:
    first, last = warehouse_dates(demo)
    _page(app, "app_pages/overview.py")
    app.date_input(key="dates").set_value((first, last)).run()  # 91 days: daily bars
    bars = next(c for c in _charts(app) if c["data"][0]["type"] == "bar")
    assert all(s == "" for t in bars["data"] for s in t["marker"]["pattern"]["shape"])
    # An area chart (the Owners page's trend beyond 92 days) shades its partial weeks.
    weeks = [date(2026, 7, 27), date(2026, 8, 3), date(2026, 11, 30)]
    area = px.area(pd.DataFrame({"period": weeks, "cost": [2.0, 7.0, 1.0]}), x="period", y="cost")
    notes = mark_partial(area, "week", date(2026, 8, 1), date(2026, 11, 30))
    assert notes == [
        "week of 27 Jul 2026: partial: 2 of 7 days",
        "week of 30 Nov 2026: partial: 1 of 7 days",
    ]
    bands = [(s["x0"], s["x1"]) for s in area.to_plotly_json()["layout"]["shapes"]]
    assert [(_day(a), _day(b)) for a, b in bands] == [
        (date(2026, 7, 27), date(2026, 8, 3)),
        (date(2026, 11, 30), date(2026, 12, 7)),
    ]


def test_month_bars_are_labelled_by_month(app: AppTest, demo: DemoData) -> None:
    first, last = warehouse_dates(demo)
    _explore(app, first + timedelta(days=3), last, "month")
    (chart,) = _charts(app)
    axis = chart["layout"]["xaxis"]
    assert (axis["tickformat"], axis["dtick"]) == ("%b %Y", "M1")
    # The first month holds 3 days fewer than it has: marked partial.
    shapes = chart["data"][0]["marker"]["pattern"]["shape"]
    xs = [_day(x) for x in chart["data"][0]["x"]]
    assert shapes[xs.index(first.replace(day=1))] == PARTIAL_PATTERN


def test_a_one_day_range_draws_a_point_on_a_day_axis(app: AppTest, demo: DemoData) -> None:
    _, last = warehouse_dates(demo)
    _page(app, "app_pages/overview.py")
    app.date_input(key="dates").set_value((last, last)).run()
    assert not app.exception
    daily = next(c for c in _charts(app) if c["data"][0].get("name") == "Daily spend")
    assert "markers" in daily["data"][0]["mode"]
    assert len(daily["data"][0]["x"]) == 1
    axis = daily["layout"]["xaxis"]
    assert axis["tickvals"] == [f"{last:%Y-%m-%d}"]
    assert axis["ticktext"] == [f"{last:%d %b %Y}"]
    assert all(":" not in str(v) for v in axis["range"])  # whole days, no 23:59:59.999


def test_legends_are_below_the_plot_and_titled_for_people(app: AppTest, demo: DemoData) -> None:
    _page(app, "app_pages/overview.py")
    bars = next(c for c in _charts(app) if c["data"][0]["type"] == "bar")
    legend = bars["layout"]["legend"]
    assert legend["title"]["text"] == "AWS service"
    assert legend["orientation"] == "h" and legend["y"] < 0  # clear of the toolbar
    _page(app, "app_pages/owners.py")
    titles = {c["layout"].get("legend", {}).get("title", {}).get("text") for c in _charts(app)}
    assert "Microservice" in titles
    assert not titles & {"microservice", "service_code", "account_id"}


def test_accounts_show_their_name_from_the_bill_with_the_id(
    app: AppTest, demo: DemoData, snap: queries.Snapshot
) -> None:
    names = queries.account_names(snap)
    assert names, "the sample's bill names its accounts"
    first, last = warehouse_dates(demo)
    _explore(app, first, last, "month", by="account_id")
    (chart,) = _charts(app)
    assert chart["layout"]["legend"]["title"]["text"] == "Account"
    shown = {t["name"] for t in chart["data"]} - {"Other"}
    expected = {f"{n} ({a})" for a, n in names.items()}
    assert shown and shown <= expected
    table = app.dataframe[0].value
    assert set(table["account_id"]) <= expected | set(names)
    _page(app, "app_pages/allocation_health.py")
    untagged = next(d.value for d in app.dataframe if "resource_id" in d.value.columns)
    assert all(a in expected or a not in names for a in untagged["account_id"])
    assert any(a in expected for a in untagged["account_id"])


def test_explore_csv_has_human_headers_exact_money_and_a_meaningful_name(
    app: AppTest, demo: DemoData, snap: queries.Snapshot, monkeypatch: pytest.MonkeyPatch
) -> None:
    downloads: list[dict[str, Any]] = []
    real = streamlit.download_button

    def spy(label: str, data: bytes, **kwargs: Any) -> Any:
        downloads.append({"data": data, **kwargs})
        return real(label, data, **kwargs)

    monkeypatch.setattr(streamlit, "download_button", spy)
    _, last = warehouse_dates(demo)
    start = last.replace(day=1)
    _explore(app, start, last, "week")
    download = downloads[-1]
    assert download["file_name"] == (
        f"costlens-unblended-spend-by-aws-service-by-week-{start}-to-{last}.csv"
    )
    csv = download["data"].decode()
    header, *rows = csv.strip().splitlines()
    assert header == "Week starting,AWS service,Unblended cost (USD)"
    frame = queries.spend(
        snap, grain="week", by=("service_code",), start=start, end=last, cost_type="unblended"
    )
    assert [r.rsplit(",", 1)[1] for r in rows] == [str(c) for c in frame["cost"]]
    assert sum((Decimal(r.rsplit(",", 1)[1]) for r in rows), Decimal(0)) == sum(
        frame["cost"], Decimal(0)
    )


def test_untagged_resources_leave_out_zero_cost_and_show_ten(
    app: AppTest, snap: queries.Snapshot
) -> None:
    _page(app, "app_pages/allocation_health.py")
    untagged = next(d.value for d in app.dataframe if "resource_id" in d.value.columns)
    expected = queries.untagged_resources(snap, limit=10, costing_only=True)
    assert list(untagged["resource_id"]) == list(expected["resource_id"])
    assert len(untagged) == min(10, len(queries.untagged_resources(snap, limit=200)))
    assert all(c > 0 for c in untagged["unblended_cost"])
    caption = next(c.value for c in app.caption if "resources no rule attributed" in c.value)
    assert f"The {len(untagged)} most expensive" in caption
    assert "cost nothing are left out" in caption


def test_top_movers_follow_the_chosen_dates(
    app: AppTest, demo: DemoData, snap: queries.Snapshot
) -> None:
    first, _ = warehouse_dates(demo)
    start, end = first + timedelta(days=30), first + timedelta(days=44)
    _page(app, "app_pages/overview.py")
    app.date_input(key="dates").set_value((start, end)).run()
    movers = queries.top_movers(
        snap, dimension="microservice", cost_type="unblended", start=start, end=end, limit=10
    )
    table = next(d.value for d in app.dataframe if "previous_cost" in d.value.columns)
    assert list(table["value"]) == list(movers["value"])
    assert list(table["current_cost"]) == [float(v) for v in movers["current_cost"]]
    before = start - timedelta(days=15)
    caption = next(c.value for c in app.caption if "changed most" in c.value)
    assert f"{start:%d %b %Y} – {end:%d %b %Y}" in caption
    assert f"{before:%d %b %Y} – {start - timedelta(days=1):%d %b %Y}" in caption


def test_owners_page_shows_the_chosen_cost_type_beside_the_budget(
    app: AppTest, demo: DemoData, snap: queries.Snapshot
) -> None:
    budgets = queries.budgets(snap)
    owner = str(budgets["owner"].iloc[0])
    _, last = warehouse_dates(demo)
    month_start = last.replace(day=1)
    app.query_params["owner"] = owner
    _page(app, "app_pages/owners.py")
    for cost_type in ("unblended", "net_amortized", "amortized"):
        app.selectbox(key="cost_type").set_value(cost_type).run()
        metrics = {m.label: m.value for m in app.metric}
        spent = sum(
            queries.spend(
                snap, cost_type=cost_type, start=month_start, end=last, where={"owner": [owner]}
            )["cost"],
            Decimal(0),
        )
        b = budgets.iloc[0]
        kind = cost_type.replace("_", " ")
        assert metrics["Monthly budget (amortized)"] == dollars(b["budget"])
        assert metrics["Month to date (amortized)"] == dollars(b["month_to_date"])
        if cost_type == "amortized":  # one cost type: no second row
            assert dollars(spent) == metrics["Month to date (amortized)"]
        else:
            assert metrics[f"Month to date ({kind})"] == dollars(spent), cost_type
            forecast = queries.forecasts(snap, cost_type=cost_type)
            projected = forecast.loc[forecast["owner"] == owner, "projected"].iloc[0]
            assert metrics[f"Projected month end ({kind})"] == dollars(projected)


def test_anomalies_follow_the_dates_and_say_their_cost_type(
    app: AppTest, demo: DemoData, snap: queries.Snapshot
) -> None:
    first, last = warehouse_dates(demo)
    every = queries.anomalies(snap)
    assert len(every) >= 1
    _page(app, "app_pages/anomalies.py")
    assert "Detection runs on amortized cost" in " ".join(c.value for c in app.caption)
    app.date_input(key="dates").set_value((first, last)).run()
    assert len(app.dataframe[0].value) == len(every)
    event = every.iloc[0]
    start = event["start_date"]
    # An event is an incident of the dates it is followed to (a new level still held).
    ended = event["followed_until"]
    assert ended >= (event["last_seen"] if event["ongoing"] else event["end_date"])
    if not event["ongoing"] and ended > event["end_date"]:
        held = queries.anomalies(snap, start=event["end_date"] + timedelta(days=1), end=ended)
        assert event["anomaly_id"] in set(held["anomaly_id"])
    # A range ending the day before it starts, and one starting the day after it ended.
    for chosen in ((first, start - timedelta(days=1)), (ended + timedelta(days=1), last)):
        if chosen[0] > chosen[1]:
            continue
        expected = queries.anomalies(snap, start=chosen[0], end=chosen[1])
        assert event["anomaly_id"] not in set(expected["anomaly_id"])
        app.date_input(key="dates").set_value(chosen).run()
        if expected.empty:
            assert [s.value for s in app.success] == ["No open anomalies."]
        else:
            assert list(app.dataframe[0].value["value"].index) == list(range(len(expected)))
            assert len(app.dataframe[0].value) == len(expected)


def test_shares_state_their_scope(app: AppTest, demo: DemoData, snap: queries.Snapshot) -> None:
    _, last = warehouse_dates(demo)
    _page(app, "app_pages/overview.py")
    metric = next(m for m in app.get("metric") if m.proto.label.startswith("Unallocated"))
    assert metric.proto.label == f"Unallocated, {last:%b %Y}"
    assert f"{last:%B %Y}'s unblended charges" in metric.proto.help
    _page(app, "app_pages/allocation_health.py")
    assert f"Shares of {last:%B %Y}'s unblended charges" in " ".join(c.value for c in app.caption)


def test_cli_unallocated_share_names_its_cost_type_and_periods() -> None:
    from costlens.commands.analytics import describe_attribution

    line = describe_attribution(
        {"periods": ["2026-10-01", "2026-11-01"], "rows": 1200, "unallocated_share": 0.016}
    )
    assert line == (
        "1,200 allocation rows, 1.6% of the amortized charges of 2026-10, 2026-11 unallocated"
    )
