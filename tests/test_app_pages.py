"""The dashboard's pages under Streamlit's AppTest: real snapshots, exact figures, no tracebacks."""

from __future__ import annotations

import base64
import json
import os
import shutil
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import duckdb
import numpy as np
import pytest
from app_snapshot import (
    APP_FILE,
    DemoData,
    build_demo_data,
    dollars,
    month_to_date_windows,
    warehouse_dates,
    warehouse_spend,
)
from streamlit.testing.v1 import AppTest

from app_pages import pages
from costlens import queries

PAGES = tuple(p.path for p in pages.PAGES)


def _app(data_dir: Path, monkeypatch: pytest.MonkeyPatch, state: Path) -> AppTest:
    monkeypatch.setenv("COSTLENS_DATA_DIR", str(data_dir))
    monkeypatch.setenv("COSTLENS_STATE_URL", f"sqlite:///{state}")
    return AppTest.from_file(str(APP_FILE), default_timeout=60)


def _page(at: AppTest, page: str) -> AppTest:
    at.switch_page(page).run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def test_every_page_says_run_sync_when_there_is_no_snapshot(
    data_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    at = _app(data_dir, monkeypatch, tmp_path / "state.db").run()
    for page in PAGES:
        _page(at, page)
        assert [i.value for i in at.info] == [
            "No data yet — run `costlens sync` to ingest your billing exports and build the "
            "dashboard's snapshot (or `costlens demo` for generated sample data)."
        ], page
        assert not at.error and not at.metric


def test_a_broken_snapshot_is_an_error_message_not_a_traceback(
    data_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (data_dir / "serving.duckdb").write_bytes(b"this is not a DuckDB database" * 100)
    at = _app(data_dir, monkeypatch, tmp_path / "state.db").run()
    for page in PAGES:
        _page(at, page)
        assert len(at.error) == 1, page
        message = at.error[0].value
        assert str(data_dir / "serving.duckdb") in message
        assert "Traceback" not in message


# --- on a real snapshot built by the pipeline --------------------------------------------------


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> DemoData:
    return build_demo_data(tmp_path_factory.mktemp("dashboard"))


@pytest.fixture
def app(demo: DemoData, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[AppTest]:
    yield _app(demo.data_dir, monkeypatch, tmp_path / "state.db").run()


@pytest.mark.slow  # the first one builds the snapshot with the real pipeline
def test_overview_month_to_date_equals_the_warehouse_sum(demo: DemoData, app: AppTest) -> None:
    _page(app, "app_pages/overview.py")
    _, last = warehouse_dates(demo)
    month_start, prev_start, prev_same_day = month_to_date_windows(last)
    mtd = warehouse_spend(demo, month_start, last)
    prev = warehouse_spend(demo, prev_start, prev_same_day)
    metric = app.metric[0]
    assert metric.label == "Month-to-date spend"
    assert metric.value == dollars(mtd)
    assert metric.delta == dollars(mtd - prev)
    assert not app.error


@pytest.mark.slow
def test_overview_projects_the_month_end_in_the_chosen_cost_type(
    demo: DemoData, app: AppTest
) -> None:
    _, last = warehouse_dates(demo)
    month_start = last.replace(day=1)
    assert (last + timedelta(days=1)).day == 1, "the sample ends on a month's last day"
    _page(app, "app_pages/overview.py")
    for cost_type in ("unblended", "amortized", "net_amortized"):
        app.selectbox(key="cost_type").set_value(cost_type).run()
        metrics = {m.label: m for m in app.metric}
        # A complete month is projected at exactly what it cost, in the cost type shown.
        mtd = warehouse_spend(demo, month_start, last, f"{cost_type}_cost")
        assert metrics["Month-to-date spend"].value == dollars(mtd), cost_type
        assert metrics["Projected month end"].value == dollars(mtd), cost_type
        # Budgets are tracked on amortized cost: only then is the projection compared with them.
        assert bool(metrics["Projected month end"].delta) == (cost_type == "amortized")
        shown = app.get("metric")[1].proto.delta_description
        assert shown == ("vs budget" if cost_type == "amortized" else ""), cost_type


@pytest.mark.slow
def test_every_page_renders_on_real_data(app: AppTest) -> None:
    for page in PAGES:
        _page(app, page)
        assert not app.error, (page, [e.value for e in app.error])
        assert app.title[0].value


@pytest.mark.slow
def test_explore_total_equals_the_warehouse_sum_over_the_chosen_dates(
    demo: DemoData, app: AppTest
) -> None:
    first, last = warehouse_dates(demo)
    _page(app, "app_pages/explore.py")
    app.date_input(key="dates").set_value((first + timedelta(days=3), last)).run()
    assert [(m.label, m.value) for m in app.metric] == [
        ("Total", dollars(warehouse_spend(demo, first + timedelta(days=3), last)))
    ]


@pytest.mark.slow
def test_cost_type_and_dates_follow_the_user_across_pages(demo: DemoData, app: AppTest) -> None:
    first, last = warehouse_dates(demo)
    _page(app, "app_pages/explore.py")
    app.selectbox(key="cost_type").set_value("amortized")
    app.date_input(key="dates").set_value((first, last)).run()
    _page(app, "app_pages/owners.py")
    _page(app, "app_pages/explore.py")
    assert app.selectbox(key="cost_type").value == "amortized"
    assert tuple(app.date_input(key="dates").value) == (first, last)


@pytest.mark.slow
def test_a_marked_anomaly_stays_selected_with_its_mark_the_others_of_its_incident_leave(
    demo: DemoData, app: AppTest, tmp_path: Path
) -> None:
    from costlens.anomalies.feedback import marked_anomalies

    _page(app, "app_pages/anomalies.py")
    dates = warehouse_dates(demo)
    app.date_input(key="dates").set_value(dates).run()
    listed = app.dataframe[0].value
    assert len(listed) == len(app.selectbox(key="anomaly_id").options) >= 1
    assert list(listed.columns[:7]) == [
        "dimension", "value", "start_date", "end", "impact_cost", "impact_percent", "feedback"
    ]  # fmt: skip
    # Mark an incident that is also seen on an account (an event of its own there).
    with queries.open_snapshot(demo.data_dir) as snap:
        incidents = list(queries.anomalies(snap, start=dates[0], end=dates[1])["anomaly_id"])
        every = queries.anomalies(snap, incidents=False, start=dates[0], end=dates[1])
    on_accounts = every[every["dimension"] == "account_id"]
    seen = on_accounts.loc[on_accounts["incident_id"] != on_accounts["anomaly_id"], "incident_id"]
    chosen = str(seen.iloc[0])
    row = incidents.index(chosen)
    app.selectbox(key="anomaly_id").set_value(chosen).run()
    app.button(key="mark_planned").click().run()
    assert not app.exception, [e.value for e in app.exception]
    assert marked_anomalies(f"sqlite:///{tmp_path / 'state.db'}") == {chosen: "planned"}
    # The selection stays on it, listed with its mark, instead of jumping to another row.
    assert app.selectbox(key="anomaly_id").value == chosen
    table = app.dataframe[0].value
    assert len(table) == len(listed)
    assert list(table["feedback"]) == ["planned" if i == row else "" for i in range(len(listed))]
    assert any("Marked **planned**" in i.value for i in app.info)
    # Its event on the account leaves the list with it; other incidents' account events stay.
    stay = list(on_accounts.loc[on_accounts["incident_id"] != chosen, "anomaly_id"])
    app.segmented_control(key="anomaly_dimension").set_value("account_id").run()
    if stay:
        assert len(app.dataframe[0].value) == len(stay)
        assert app.selectbox(key="anomaly_id").value in stay
    else:
        assert [s.value for s in app.success] == ["No open anomalies."]
    app.toggle(key="anomaly_include_marked").set_value(True).run()
    assert "planned" in list(app.dataframe[0].value["feedback"])


def _publish(demo: DemoData, data_dir: Path, built_at: str) -> None:
    """Publish a copy of the demo snapshot stamped ``built_at``, as `costlens refresh` does."""
    staged = data_dir / ".serving-test.duckdb"
    shutil.copyfile(demo.data_dir / "serving.duckdb", staged)
    with duckdb.connect(str(staged)) as con:
        con.execute("UPDATE snapshot_info SET built_at = CAST($t AS TIMESTAMP)", {"t": built_at})
    os.replace(staged, data_dir / "serving.duckdb")


@pytest.mark.slow
def test_a_newly_published_snapshot_is_picked_up_on_the_next_rerun(
    demo: DemoData, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    data_dir = tmp_path / "data"
    data_dir.mkdir()
    at = _app(data_dir, monkeypatch, tmp_path / "state.db").run()
    _page(at, "app_pages/overview.py")
    assert "No data yet" in at.info[0].value
    _publish(demo, data_dir, "2030-01-02 03:04:00")
    at.run()
    assert "snapshot built 02 Jan 2030 03:04 UTC" in at.caption[0].value
    _publish(demo, data_dir, "2031-05-06 07:08:00")
    at.run()
    assert "snapshot built 06 May 2031 07:08 UTC" in at.caption[0].value


def test_a_new_snapshot_opens_while_another_tab_still_holds_the_old_one(
    demo: DemoData, tmp_path: Path
) -> None:
    from costlens import queries

    _publish(demo, tmp_path, "2030-01-02 03:04:00")
    with queries.open_snapshot(tmp_path) as idle_tab:  # one process serves every browser tab
        _publish(demo, tmp_path, "2031-05-06 07:08:00")
        with queries.open_snapshot(tmp_path) as fresh:
            assert idle_tab.info.built_at.year == 2030
            assert fresh.info.built_at.year == 2031


@pytest.mark.slow
def test_allocation_health_shows_attribution_by_basis(app: AppTest) -> None:
    """Tag, rule, split and unallocated, per account and per service (issue 4 §5)."""
    _page(app, "app_pages/allocation_health.py")
    headers = [h.value for h in app.subheader]
    assert "Attribution by account and by service" in headers
    charts = [c for c in app.get("plotly_chart")]
    names = {
        trace["name"]
        for chart in charts
        for trace in json.loads(chart.proto.spec)["data"]
        if "name" in trace
    }
    assert {"By a tag", "Split from shared costs"} <= names


def _plotly_values(values: object) -> list[float]:
    """A trace's numbers: a list, or plotly's typed array ``{"dtype", "bdata"}`` decoded."""
    if isinstance(values, dict):
        raw = base64.b64decode(values["bdata"])
        return [float(v) for v in np.frombuffer(raw, dtype=np.dtype(values["dtype"]))]
    assert isinstance(values, list)
    return [float(v) for v in values]


@pytest.mark.slow
def test_an_anomaly_shows_its_impact_percent_and_new_when_nothing_was_expected(
    demo: DemoData, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from costlens import queries

    _publish(demo, tmp_path, "2030-01-02 03:04:00")
    with queries.open_snapshot(tmp_path) as snap:
        events = queries.anomalies(snap)
    assert len(events) >= 1
    first = events.iloc[0]
    at = _page(_app(tmp_path, monkeypatch, tmp_path / "state.db").run(), "app_pages/anomalies.py")
    percent = f"{first['impact_percent']:+.1f}%"
    assert at.dataframe[0].value["impact_percent"].iloc[0] == percent
    assert next(m.delta for m in at.metric if m.label == "Impact") == percent

    # The root cause: the headline, then the headline's view, whose bars add up to the impact;
    # another view of the same event adds up to the same impact.
    chosen = at.selectbox(key="anomaly_id").value
    with queries.open_snapshot(tmp_path) as snap:
        event = queries.anomalies(snap).set_index("anomaly_id").loc[chosen]
        causes = queries.anomaly_root_cause(snap, chosen)
    headline = f"**Root cause:** {event['top_driver']}".replace("$", "\\$")
    assert headline in [m.value for m in at.markdown]
    split = at.segmented_control(key=f"cause_view_{chosen}")
    assert split.value == causes["dimension"].iloc[0] and "AWS service" in split.options
    for view in (split.value, "service_code"):
        split.set_value(view).run()
        bars = [json.loads(c.proto.spec) for c in at.get("plotly_chart")][-1]["data"]
        shown = sum(sum(_plotly_values(trace["x"])) for trace in bars)
        assert abs(shown - float(event["impact_cost"])) < 1e-4, view
        expected = causes.loc[causes["dimension"] == view, "delta_cost"].sum()
        assert expected == event["impact_cost"], view
    # Followed to its end: the list's state and the detail's sentence, its dollars exact.
    state = at.dataframe[0].value["state"].iloc[0]
    assert state in ("changing", "ended") or state.startswith("new level since ")
    since = [m.value for m in at.markdown if m.value.startswith("**Since it began:**")]
    assert len(since) == 1 and dollars(abs(event["total_impact"])).replace("$", "\\$") in since[0]
    assert any(f"add up to the impact, {dollars(event['impact_cost'])}" in c.value
               for c in at.caption)  # fmt: skip

    # A series that cost nothing before (a new service): the scan stores no percentage.
    staged = tmp_path / ".serving-test.duckdb"
    shutil.copyfile(tmp_path / "serving.duckdb", staged)
    with duckdb.connect(str(staged)) as con:
        con.execute(
            "UPDATE anomalies SET expected_cost = 0, impact_percent = NULL WHERE anomaly_id = $a",
            {"a": first["anomaly_id"]},
        )
    os.replace(staged, tmp_path / "serving.duckdb")
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    assert at.dataframe[0].value["impact_percent"].iloc[0] == "new"
    assert next(m.delta for m in at.metric if m.label == "Impact") == "new"


# --- scorecards --------------------------------------------------------------------------------


def _grade_change(grade: str | None, previous: str | None) -> str:
    """ "C → B ↑" (better), "B → C ↓" (worse), "B → B", just "B" on a first month: written
    independently of the app's formatter."""
    if previous not in tuple("ABCDF"):
        return grade or "n/a"
    if grade not in tuple("ABCDF"):
        return f"{previous} → n/a"
    arrow = "" if grade == previous else " ↑" if grade < previous else " ↓"  # "A" < "B"
    return f"{previous} → {grade}{arrow}"


def _unescaped(markdown: str) -> str:
    return markdown.replace("\\", "")


@pytest.mark.slow
def test_scorecards_page_ranks_every_owner_with_the_figures_of_the_queries(
    demo: DemoData, app: AppTest
) -> None:
    from costlens import queries

    with queries.open_snapshot(demo.data_dir) as snap:
        periods = queries.scorecard_periods(snap)  # the refresh's 'scorecards' step wrote them
        ranking = queries.owner_ranking(snap)
        earlier = queries.owner_ranking(snap, period=periods[-1])
        budgets = queries.budgets(snap)
    names = dict(zip(budgets["owner"], budgets["display_name"], strict=True))
    assert len(periods) >= 2 and len(ranking) >= 2
    assert len(set(ranking["grade"])) > 1, "every owner got the same grade"

    _page(app, "app_pages/scorecards.py")
    assert not app.error, [e.value for e in app.error]
    assert app.selectbox(key="scorecard_period").value == periods[0]  # the latest by default
    (shown,) = [d.value for d in app.dataframe]
    assert list(shown.columns) == [
        "rank", "owner_name", "grade_change", "spend", "potential_savings", "savings_at_goal",
    ]  # fmt: skip
    assert list(shown["rank"]) == list(ranking["rank"])
    assert list(shown["owner_name"]) == [names.get(o, o) for o in ranking["scope_id"]]
    assert list(shown["grade_change"]) == [
        _grade_change(g, p if isinstance(p, str) else None)
        for g, p in zip(ranking["grade"], ranking["previous_grade"], strict=True)
    ]
    for column in ("spend", "potential_savings", "savings_at_goal"):
        assert list(shown[column]) == [float(v) for v in ranking[column]], column
    # Ranked by the dollars left on the table, largest first.
    assert list(shown["potential_savings"]) == sorted(shown["potential_savings"], reverse=True)

    metrics = {m.label: m.value for m in app.metric}
    left, at_goal = (sum(ranking[c]) for c in ("potential_savings", "savings_at_goal"))
    assert metrics["Savings left / month, all owners"] == dollars(left)
    assert metrics["Savings at goal / month, all owners"] == dollars(at_goal)
    captions = " ".join(c.value for c in app.caption)
    assert "Scorecards use amortized cost (as AWS's KPI dashboard)" in captions
    assert "each resource once" in captions

    # The bar chart of savings left, in rank order, and a link to each owner's scorecard.
    (chart,) = [json.loads(c.proto.spec) for c in app.get("plotly_chart")]
    assert chart["data"][0]["x"] == [float(v) for v in ranking["potential_savings"]]
    links = [link.proto for link in app.get("page_link")]
    assert [link.query_string for link in links] == [f"owner={o}" for o in ranking["scope_id"]]
    top = ranking.iloc[0]
    assert dollars(top["potential_savings"]) in links[0].label
    assert _grade_change(top["grade"], None) in links[0].label

    app.selectbox(key="scorecard_period").set_value(periods[-1]).run()
    assert not app.exception, [e.value for e in app.exception]
    assert list(app.dataframe[0].value["potential_savings"]) == [
        float(v) for v in earlier["potential_savings"]
    ]


@pytest.mark.slow
def test_owners_page_shows_the_owner_scorecard_with_its_top_actions(
    demo: DemoData, app: AppTest
) -> None:
    from costlens import queries
    from costlens.scorecards.registry import kpi

    with queries.open_snapshot(demo.data_dir) as snap:
        owner, other = (str(o) for o in queries.owner_ranking(snap)["scope_id"].iloc[:2])
        card = queries.scorecard(snap, "owner", owner)
        trend = queries.grade_trend(snap, "owner", owner)
        actions = queries.top_actions(snap, owner, 3)
    assert card is not None and actions

    # The Scorecards page links here with ?owner=...
    app.query_params["owner"] = owner
    _page(app, "app_pages/owners.py")
    assert app.selectbox(key="owner").value == owner
    assert "Scorecard" in [h.value for h in app.subheader]
    assert "Scorecards use amortized cost (as AWS's KPI dashboard)" in " ".join(
        c.value for c in app.caption
    )
    metrics = {m.label: m for m in app.metric}
    assert metrics["Overall grade"].value == (card["grade"] or "n/a")
    if card["previous_grade"]:
        change = _grade_change(card["grade"], card["previous_grade"])
        assert metrics["Overall grade"].delta == change
    assert metrics["Savings left / month"].value == dollars(card["potential_savings"])

    (kpis,) = [d.value for d in app.dataframe if "goal" in d.value.columns]
    assert list(kpis["title"]) == [
        kpi(k["kpi"]).title + (f" ({k['detail']})" if k["detail"] else "") for k in card["kpis"]
    ]
    for k, value, grade in zip(card["kpis"], kpis["value"], kpis["grade"], strict=True):
        if k["value"] is None:  # no eligible spend: n/a, never 0 %
            assert (value, grade) == ("n/a", "n/a"), k["kpi"]
        elif k["unit"] in ("share", "ratio"):
            assert value == f"{float(k['value']) * 100:.1f}%", k["kpi"]
    assert any(k["value"] is None for k in card["kpis"]) == ("n/a" in set(kpis["value"]))

    (chart,) = [
        json.loads(c.proto.spec)
        for c in app.get("plotly_chart")
        if json.loads(c.proto.spec)["data"][0].get("name") == "Score"
    ]
    assert chart["data"][0]["text"] == list(trend["grade"])
    assert chart["data"][0]["y"] == [float(v) for v in trend["score"]]

    shown = [_unescaped(m.value) for m in app.markdown]
    for i, action in enumerate(actions, start=1):
        assert f"{i}. {action['text']}" in shown

    # Choosing another owner puts it in the address, for a link to share.
    app.selectbox(key="owner").set_value(other).run()
    assert app.query_params["owner"] == other
