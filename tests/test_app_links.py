"""Shared links under AppTest: each parameter restores its view, a widget writes it back, and a
bad one is one notice and the default (``costlens.links``, docs/dashboard.md "Links")."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from app_snapshot import (
    APP_FILE,
    DemoData,
    dollars,
    warehouse_dates,
    warehouse_spend,
)
from streamlit.testing.v1 import AppTest

from costlens import links, queries

pytestmark = pytest.mark.slow


@pytest.fixture
def app(demo: DemoData, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[AppTest]:
    """A fresh session, not run yet: set ``query_params`` first, as a link opened does."""
    monkeypatch.setenv("COSTLENS_DATA_DIR", str(demo.data_dir))
    monkeypatch.setenv("COSTLENS_STATE_URL", f"sqlite:///{tmp_path / 'state.db'}")
    yield AppTest.from_file(str(APP_FILE), default_timeout=60)


def _open(at: AppTest, page: str, **params: str) -> AppTest:
    for name, value in params.items():
        at.query_params[name] = value
    at.switch_page(page).run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def _notices(at: AppTest) -> list[str]:
    return [w.value for w in at.warning if str(w.value).startswith("Ignored ")]


def _total(at: AppTest) -> str:
    return {m.label: m.value for m in at.metric}["Total"]


def test_cost_type_and_dates_restore_the_view(demo: DemoData, app: AppTest) -> None:
    first, _last = warehouse_dates(demo)
    start, end = first + timedelta(days=5), first + timedelta(days=20)
    _open(app, "app_pages/explore.py", cost_type="amortized", start=f"{start}", end=f"{end}")
    assert app.selectbox(key="cost_type").value == "amortized"
    assert tuple(app.date_input(key="dates").value) == (start, end)
    assert _total(app) == dollars(warehouse_spend(demo, start, end, "amortized_cost"))
    assert _notices(app) == []


def test_week_restores_monday_to_sunday(demo: DemoData, app: AppTest) -> None:
    _, last = warehouse_dates(demo)
    week_day = last - timedelta(days=14)
    monday, sunday = links.iso_week(links.week_param(week_day))
    _open(app, "app_pages/explore.py", week=links.week_param(week_day))
    assert tuple(app.date_input(key="dates").value) == (monday, sunday)
    assert _total(app) == dollars(warehouse_spend(demo, monday, sunday))


def test_changing_a_widget_writes_the_address(demo: DemoData, app: AppTest) -> None:
    first, last = warehouse_dates(demo)
    _open(app, "app_pages/explore.py", week=links.week_param(last - timedelta(days=14)))
    app.selectbox(key="cost_type").set_value("net_amortized").run()
    assert app.query_params["cost_type"] == "net_amortized"
    assert "week" not in app.query_params
    app.date_input(key="dates").set_value((first, last)).run()
    assert (app.query_params["start"], app.query_params["end"]) == (f"{first}", f"{last}")


@pytest.mark.parametrize(
    "params",
    [
        {"start": "2026-13-45"},
        {"cost_type": "bogus"},
        {"week": "2026-W99"},
        {"start": "2099-01-01"},
    ],
)
def test_a_bad_parameter_is_one_notice_and_the_default(
    demo: DemoData, app: AppTest, params: dict[str, str]
) -> None:
    first, last = warehouse_dates(demo)
    _open(app, "app_pages/explore.py", **params)
    (notice,) = _notices(app)
    name, value = next(iter(params.items()))
    assert notice.startswith(f"Ignored {name}={value} (")
    assert app.selectbox(key="cost_type").value == "unblended"
    assert tuple(app.date_input(key="dates").value) == links.default_dates(first, last)
    assert not app.error


def test_owner_link_and_unknown_owner(demo: DemoData, app: AppTest) -> None:
    with queries.open_snapshot(demo.data_dir) as snap:
        owners = queries.dimension_values(snap, "owner")
    _open(app, "app_pages/owners.py", owner=owners[-1])
    assert app.selectbox(key="owner").value == owners[-1]
    assert _notices(app) == []


def test_an_unknown_owner_is_a_notice_and_the_first_owner(demo: DemoData, app: AppTest) -> None:
    with queries.open_snapshot(demo.data_dir) as snap:
        owners = queries.dimension_values(snap, "owner")
    _open(app, "app_pages/owners.py", owner="nobody")
    assert _notices(app) == [f"Ignored owner=nobody (no such owner); showing {owners[0]}."]
    assert app.selectbox(key="owner").value == owners[0]


def test_anomaly_link_selects_the_incident_and_writes_it(demo: DemoData, app: AppTest) -> None:
    first, last = warehouse_dates(demo)
    dates = {"start": f"{first}", "end": f"{last}"}
    with queries.open_snapshot(demo.data_dir) as snap:
        events = queries.anomalies(snap, start=first, end=last)
    ids = list(events["anomaly_id"])
    _open(app, "app_pages/anomalies.py", **dates)
    assert app.selectbox(key="anomaly_id").value == ids[0]
    assert app.query_params["anomaly"] == ids[0]
    wanted = ids[-1]
    other = AppTest.from_file(str(APP_FILE), default_timeout=60)
    _open(other, "app_pages/anomalies.py", anomaly=wanted, **dates)
    assert other.selectbox(key="anomaly_id").value == wanted
    assert _notices(other) == []
    impact = {m.label: m.value for m in other.metric}["Impact"]
    assert impact == dollars(events[events["anomaly_id"] == wanted].iloc[0]["impact_cost"])
    if len(ids) > 1:  # choosing another writes it
        other.selectbox(key="anomaly_id").set_value(ids[0]).run()
        assert other.query_params["anomaly"] == ids[0]


def test_an_unknown_anomaly_is_a_notice(demo: DemoData, app: AppTest) -> None:
    first, last = warehouse_dates(demo)
    _open(app, "app_pages/anomalies.py", anomaly="no-such-id", start=f"{first}", end=f"{last}")
    (notice,) = _notices(app)
    assert notice.startswith("Ignored anomaly=no-such-id (")
    assert app.query_params["anomaly"] == app.selectbox(key="anomaly_id").value


def test_explore_widgets_follow_their_parameters(demo: DemoData, app: AppTest) -> None:
    first, last = warehouse_dates(demo)
    with queries.open_snapshot(demo.data_dir) as snap:
        owner = queries.dimension_values(snap, "owner")[0]
    _open(
        app,
        "app_pages/explore.py",
        group_by="microservice",
        grain="month",
        filter="owner",
        value=owner,
        start=f"{first}",
        end=f"{last}",
    )
    assert app.selectbox(key="explore_dimension").value == "microservice"
    assert app.segmented_control(key="explore_grain").value == "month"
    assert app.selectbox(key="explore_filter").value == "owner"
    assert app.multiselect(key="explore_filter_owner").value == [owner]
    assert _total(app) == dollars(warehouse_spend(demo, first, last, owner=owner))
    app.selectbox(key="explore_dimension").set_value("service_code").run()
    assert app.query_params["group_by"] == "service_code"


@pytest.mark.parametrize(
    ("name", "value"), [("group_by", "nope"), ("grain", "year"), ("filter", "nope")]
)
def test_a_bad_explore_parameter_is_one_notice(
    demo: DemoData, app: AppTest, name: str, value: str
) -> None:
    _open(app, "app_pages/explore.py", **{name: value})
    (notice,) = _notices(app)
    assert notice.startswith(f"Ignored {name}={value} (not one of ")
