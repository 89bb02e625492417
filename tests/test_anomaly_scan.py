"""The anomaly scan: one event per incident, stable ids, root cause, feedback."""

from __future__ import annotations

import datetime as dt
import random
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from helpers import create_allocations

from costlens import queries as q
from costlens.anomalies import describe
from costlens.anomalies.feedback import mark_anomaly, marked_anomalies, unmark_anomaly
from costlens.config import Settings, load_settings
from costlens.errors import QueryError
from costlens.refresh import refresh
from costlens.warehouse import open_warehouse

START = dt.date(2024, 1, 1)  # a Monday
SPIKE_DAY = 60
SHIFT_DAY = 50
NEW_DAY = 56
TAX_DAY = 31  # 1 February


def _rows(days: int) -> pd.DataFrame:
    """Daily allocations of four microservices with ±2 % noise and weekly seasonality."""
    rnd = random.Random(7)
    rows = []

    def add(d: int, ms: str, owner: str, usage_type: str, resource: str, account: str,
            cost: float, category: str = "Usage") -> None:  # fmt: skip
        day = START + dt.timedelta(days=d)
        noise = rnd.uniform(-0.02, 0.02) if category == "Usage" else 0.0  # billing: exact
        value = f"{cost * (1 + noise):.10f}"
        rows.append((day, day.replace(day=1), "999", account, "AmazonEC2", "us-east-1",
                     usage_type, resource, category, category, "OnDemand", ms, owner, "direct",
                     "r", value, value, value, value, 1.0))  # fmt: skip

    for d in range(days):
        weekend = (START + dt.timedelta(days=d)).weekday() >= 5
        add(d, "steady", "team-a", "BoxUsage", "i-1", "acct-a", 300 if weekend else 500)
        add(d, "spiky", "team-b", "BoxUsage", "i-2", "acct-b", 400)
        add(d, "spiky", "team-b", "NatGateway-Bytes", "nat-1", "acct-b", 5)
        add(d, "spiky", "team-b", "EBS:VolumeUsage", "vol-1", "acct-c", 150)
        if d == SPIKE_DAY:
            add(d, "spiky", "team-b", "NatGateway-Bytes", "nat-1", "acct-b", 2500)
        add(d, "shifted", "team-a", "BoxUsage", "i-3", "acct-a", 900 if d >= SHIFT_DAY else 300)
        if d == TAX_DAY:  # billing events on the 1st: not usage, never an anomaly
            add(d, "steady", "team-a", "", "", "acct-a", 2500, "Tax")
            add(d, "steady", "team-a", "", "", "acct-a", 900, "Purchase")
            add(d, "shifted", "team-a", "", "", "acct-a", -800, "Credit")
        if d >= NEW_DAY:
            add(d, "newsvc", "team-c", "BoxUsage", "i-4", "acct-c", min(200 * (d - NEW_DAY + 1),
                                                                          1000))  # fmt: skip
    cols = ["usage_date", "billing_period", "payer_account_id", "account_id", "service_code",
            "region", "usage_type", "resource_id", "line_item_type", "charge_category",
            "purchase_option", "microservice", "owner", "allocation", "rule", "unblended_cost",
            "amortized_cost", "net_amortized_cost", "list_cost", "usage_amount"]  # fmt: skip
    return pd.DataFrame(rows, columns=cols)


def _settings(data_dir: Path) -> Settings:
    return load_settings(
        None, data_dir=data_dir, rules=data_dir / "rules.yaml", owners=data_dir / "owners.yaml"
    )


def _load(data_dir: Path, days: int, *, full: bool = False) -> None:
    with open_warehouse(data_dir) as wh:
        wh.con.execute("DROP TABLE IF EXISTS allocations")
        create_allocations(wh.con)
        frame = _rows(days)
        wh.con.register("incoming", frame)
        wh.con.execute("INSERT INTO allocations SELECT * FROM incoming")
        wh.con.unregister("incoming")
        refresh(wh, _settings(data_dir), full=full)


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> Path:
    data_dir = tmp_path_factory.mktemp("scan") / "data"
    _load(data_dir, 70)
    return data_dir


@pytest.fixture
def snap(built: Path) -> Iterator[q.Snapshot]:
    with q.open_snapshot(built) as s:
        yield s


def _events(snap: q.Snapshot, value: str) -> pd.DataFrame:
    return q.anomalies(snap, dimension="microservice", value=value, include_marked=True)


def test_a_spike_is_one_event_on_its_day_with_its_impact(snap: q.Snapshot) -> None:
    spike = _events(snap, "spiky")
    assert len(spike) == 1
    event = spike.iloc[0]
    day = START + dt.timedelta(days=SPIKE_DAY)
    assert (event["start_date"], event["end_date"], event["ongoing"]) == (day, day, False)
    assert event["direction"] == "increase"
    assert event["owner"] == "team-b"
    # 2500 injected on a ~555/day series (±2 % noise): the impact is the injection, within noise.
    assert float(event["impact_cost"]) == pytest.approx(2500, abs=60)
    assert float(event["actual_cost"]) == pytest.approx(555 + 2500, abs=60)


def test_the_root_cause_ranks_the_injected_driver_first(snap: q.Snapshot) -> None:
    spike = _events(snap, "spiky").iloc[0]
    cause = q.anomaly_root_cause(snap, spike["anomaly_id"])
    # The headline is the most specific row carrying most of the change: the NAT gateway.
    assert (cause["dimension"].iloc[0], cause["value"].iloc[0]) == ("resource_id", "nat-1")
    first = cause.groupby("dimension", sort=False).head(1)  # each view's largest row
    tops = dict(zip(first["dimension"], first["value"], strict=True))
    assert tops["service_code/account_id/region/usage_type"] == (
        "AmazonEC2/acct-b/us-east-1/NatGateway-Bytes"
    )
    assert tops["usage_type"] == "NatGateway-Bytes" and tops["account_id"] == "acct-b"
    assert list(cause["rank"]) == list(range(1, len(cause) + 1))
    delta = cause["delta_cost"].iloc[0]
    assert float(delta) == pytest.approx(2500, abs=60)  # +$2,500 on a day of ~$555 expected
    assert spike["top_driver"] == (
        f"Resource: nat-1: {describe.signed_dollars(delta)} of "
        f"{describe.signed_dollars(spike['impact_cost'])} "
        f"({float(delta) / float(spike['impact_cost']):.0%})".replace("%", " %")
    )


def test_the_chart_days_are_the_scanned_cost_and_the_expectation_per_day(
    snap: q.Snapshot,
) -> None:
    spike = _events(snap, "spiky").iloc[0]
    days = q.anomaly_days(snap, spike["anomaly_id"]).set_index("usage_date")
    day = START + dt.timedelta(days=SPIKE_DAY)
    # Three weeks before the spike and one after it (the data goes on to day 69).
    span = range(SPIKE_DAY - 21, SPIKE_DAY + 8)
    assert list(days.index) == [START + dt.timedelta(days=d) for d in span]
    # The anomalous day's figures are the event's; the day's cost is the exact usage spend.
    assert days.loc[day, "actual_cost"] == spike["actual_cost"]
    assert days.loc[day, "expected_cost"] == spike["expected_cost"]
    usage = q.spend(snap, grain="day", cost_type="amortized", start=day, end=day,
                    where={"microservice": ["spiky"]})  # fmt: skip
    assert days.loc[day, "actual_cost"] == usage["cost"].iloc[0]  # to the last decimal
    assert list(days.index[days["anomalous"]]) == [day]
    # Other days: an expectation within the ±2 % noise of the ~555/day series, never flat.
    others = days.drop(index=day)["expected_cost"].astype(float)
    assert others.between(540, 570).all() and others.nunique() > 5


def test_a_level_shift_is_one_event_not_one_a_day(snap: q.Snapshot) -> None:
    shift = _events(snap, "shifted")
    assert len(shift) == 1
    assert shift.iloc[0]["start_date"] == START + dt.timedelta(days=SHIFT_DAY)
    assert shift.iloc[0]["days"] < 10


def test_a_new_service_ramp_is_one_event(snap: q.Snapshot) -> None:
    ramp = _events(snap, "newsvc")
    assert len(ramp) == 1
    assert ramp.iloc[0]["start_date"] == START + dt.timedelta(days=NEW_DAY)
    assert ramp.iloc[0]["owner"] == "team-c"


def test_weekly_seasonality_is_not_an_anomaly(snap: q.Snapshot) -> None:
    assert _events(snap, "steady").empty
    owner_events = q.anomalies(snap, owner="team-a", dimension="owner", incidents=False)
    assert owner_events.shape[0] == 1  # the shift only


def test_every_scanned_dimension_is_covered(snap: q.Snapshot) -> None:
    found = set(q.anomalies(snap, incidents=False)["dimension"])
    assert found == {"owner", "microservice", "service_code", "account_id"}


def test_one_change_on_four_dimensions_is_one_incident(snap: q.Snapshot) -> None:
    """The spike moves spiky, its owner team-b, its account acct-b and AmazonEC2 (every
    microservice's service): four events, one incident listed once, on the microservice."""
    spike_day = START + dt.timedelta(days=SPIKE_DAY)
    events = q.anomalies(snap, incidents=False)
    on_spike = events[events["start_date"] == spike_day]
    spike_id = _events(snap, "spiky").iloc[0]["anomaly_id"]
    assert set(zip(on_spike["dimension"], on_spike["value"], strict=True)) >= {
        ("microservice", "spiky"), ("owner", "team-b"), ("account_id", "acct-b"),
    }  # fmt: skip
    assert set(on_spike["incident_id"]) == {spike_id}
    listed = q.anomalies(snap)
    assert list(listed["anomaly_id"]).count(spike_id) == 1
    assert not (listed["start_date"] == spike_day).sum() > 1
    incident = listed.set_index("anomaly_id").loc[spike_id]
    assert incident["also_seen"].startswith("owner team-b · account acct-b")
    # Every listed row is an incident; every event belongs to a listed incident.
    assert (listed["incident_id"] == listed["anomaly_id"]).all()
    assert set(events["incident_id"]) == set(listed["anomaly_id"])
    # The owner's page sees its incidents: the spike (team-b) is listed for team-b only.
    assert spike_id in set(q.anomalies(snap, owner="team-b")["anomaly_id"])
    assert spike_id not in set(q.anomalies(snap, owner="team-a")["anomaly_id"])


def test_unknown_anomaly_id_is_a_clear_error(snap: q.Snapshot) -> None:
    with pytest.raises(QueryError, match="no anomaly 'a-nope'"):
        q.anomaly_root_cause(snap, "a-nope")


def test_feedback_hides_an_event_and_its_id_is_stable_as_data_arrives(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    _load(data_dir, 66)
    settings = _settings(data_dir)
    with q.open_snapshot(data_dir) as snap:
        spike_id = _events(snap, "spiky").iloc[0]["anomaly_id"]
    mark_anomaly(settings.state_database_url, spike_id, "planned", note="load test", by="ana")
    assert marked_anomalies(settings.state_database_url) == {spike_id: "planned"}
    with q.open_snapshot(data_dir) as snap:  # marked after this snapshot was built
        assert spike_id in set(q.anomalies(snap)["anomaly_id"])
        late = q.anomalies(snap, marked=marked_anomalies(settings.state_database_url))
        assert spike_id not in set(late["anomaly_id"])
    _load(data_dir, 70)  # four more days arrive; the spike keeps its id and is not raised again
    with q.open_snapshot(data_dir) as snap:
        assert spike_id not in set(q.anomalies(snap)["anomaly_id"])
        marked = q.anomalies(snap, include_marked=True)
        assert marked.set_index("anomaly_id").loc[spike_id, "feedback"] == "planned"
        # The owner's event of the same spike is grouped into it and shares its mark.
        grouped = q.anomalies(snap, incidents=False, include_marked=True)
        members = grouped[grouped["incident_id"] == spike_id]
        assert len(members) >= 3 and set(members["feedback"]) == {"planned"}
    assert unmark_anomaly(settings.state_database_url, spike_id) is True
    with pytest.raises(QueryError, match="use one of: expected, planned, real"):
        mark_anomaly(settings.state_database_url, spike_id, "fine")


def test_a_mark_follows_its_event_when_a_restatement_moves_its_first_day(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An event's id hashes its first day: restated data that moves it must not re-raise it."""
    data_dir = tmp_path / "data"
    _load(data_dir, 70)
    state = _settings(data_dir).state_database_url
    with q.open_snapshot(data_dir) as snap:
        (old_id, first_day) = _events(snap, "shifted").iloc[0][["anomaly_id", "start_date"]]
    assert first_day == START + dt.timedelta(days=SHIFT_DAY)
    mark_anomaly(state, old_id, "expected", note="the new cluster", by="ana")

    earlier = SHIFT_DAY - 1
    monkeypatch.setattr(f"{__name__}.SHIFT_DAY", earlier)  # AWS restates: a day earlier
    _load(data_dir, 70, full=True)
    with q.open_snapshot(data_dir) as snap:
        moved = _events(snap, "shifted").iloc[0]
        assert moved["start_date"] == START + dt.timedelta(days=earlier)
        assert (moved["anomaly_id"] != old_id, moved["feedback"]) == (True, "expected")
        assert moved["anomaly_id"] not in set(q.anomalies(snap)["anomaly_id"])  # not raised again
    _load(data_dir, 70, full=True)  # and again: the mark keeps following it
    with q.open_snapshot(data_dir) as snap:
        assert _events(snap, "shifted").iloc[0]["feedback"] == "expected"

    assert unmark_anomaly(state, old_id) is True  # removing the original mark releases it
    _load(data_dir, 70, full=True)
    with q.open_snapshot(data_dir) as snap:
        assert moved["anomaly_id"] in set(q.anomalies(snap)["anomaly_id"])


def test_a_crafted_request_splits_its_expected_cost_by_the_baseline_exactly(built: Path) -> None:
    """``rank_drivers`` on a request whose expected cost is given: every view's expected costs
    add up to it and its contributions to actual - expected, to the last decimal; each row's
    actual cost is its allocations' exact sum over the days and its expected cost the given one
    in proportion to its baseline cost (to within the 10th decimal of the split)."""
    from costlens.anomalies.driver_ranking import CauseRequest, rank_drivers

    day = START + dt.timedelta(days=SPIKE_DAY)
    base = (day - dt.timedelta(days=28), day - dt.timedelta(days=1))
    expected = Decimal("555.00")
    sql = (
        "SELECT resource_id, usage_type, SUM(amortized_cost) FILTER (usage_date = $day), "
        "SUM(amortized_cost) FILTER (usage_date BETWEEN $b0 AND $b1) FROM allocations "
        "WHERE microservice = 'spiky' AND charge_category = 'Usage' GROUP BY ALL"
    )
    with open_warehouse(built, read_only=True) as wh:
        wh.con.execute(f"ATTACH '{built / 'serving.duckdb'}' AS snap (READ_ONLY)")
        rows = wh.con.execute(sql, {"day": day, "b0": base[0], "b1": base[1]}).fetchall()
        got = {}
        for resources in (True, False):
            request = CauseRequest("e", "microservice", "spiky", (day,), *base, expected, resources)
            got[resources] = rank_drivers(wh.con, '"snap"', [request], '"amortized_cost"')["e"]
    actual = {r[0]: Decimal(r[2] or 0) for r in rows}
    baseline = {r[0]: Decimal(r[3] or 0) for r in rows}
    by_usage = {r[1]: Decimal(r[2] or 0) for r in rows}
    total, base_total = sum(actual.values(), Decimal(0)), sum(baseline.values(), Decimal(0))
    for ranked in got.values():
        for view in {c.dimension for c in ranked}:
            rows_of = [c for c in ranked if c.dimension == view]
            assert sum(c.expected_cost for c in rows_of) == expected, view
            assert sum(c.delta_cost for c in rows_of) == total - expected, view
            assert all(c.delta_cost == c.actual_cost - c.expected_cost for c in rows_of)
    resources = {c.value: c for c in got[True] if c.dimension == "resource_id"}
    assert set(resources) == set(actual)
    for rid, c in resources.items():
        assert c.actual_cost == actual[rid]
        assert abs(c.expected_cost - expected * baseline[rid] / base_total) < Decimal("1E-9")
    usage = {c.value: c.actual_cost for c in got[False] if c.dimension == "usage_type"}
    assert usage == by_usage
    assert (got[True][0].dimension, got[True][0].value) == ("resource_id", "nat-1")
    assert got[False][0].dimension == "service_code/account_id/region/usage_type"
    assert got[False][0].value.endswith("/NatGateway-Bytes")


# --- money is exact: every observed figure is the DECIMAL sum of the allocations ---------------

_ALLOCATIONS_SUM_SQL = """
SELECT SUM(amortized_cost) FROM allocations
WHERE charge_category = 'Usage' AND {column} = $value AND usage_date IN (SELECT UNNEST($days))
"""
_DRIVER_SUM_SQL = """
SELECT SUM(amortized_cost) FROM allocations
WHERE charge_category = 'Usage' AND {column} = $value AND usage_date IN (SELECT UNNEST($days))
  AND {drivers}
"""
_COMBINED = ("service_code", "account_id", "region", "usage_type")


def _allocations_sum(con: Any, column: str, value: str, days: list[dt.date]) -> Decimal:
    (total,) = con.execute(
        _ALLOCATIONS_SUM_SQL.format(column=column), {"value": value, "days": days}
    ).fetchone()
    return Decimal(0) if total is None else Decimal(total)


def test_every_event_actual_is_the_exact_sum_of_its_allocations(built: Path) -> None:
    """An event's actual cost is SUM(amortized_cost) of the Usage allocations of its series over
    its anomalous days, to the last decimal (10 places, as stored), not a float rounded to cents;
    each chart day's actual cost is that day's exact sum; impact = actual - expected (cents)."""
    with q.open_snapshot(built) as snap:
        events = q.anomalies(snap, incidents=False, include_marked=True)
        days = {aid: q.anomaly_days(snap, aid) for aid in events["anomaly_id"]}
    assert len(events) >= 8
    with open_warehouse(built, read_only=True) as wh:
        for event in events.itertuples():
            chart = days[event.anomaly_id]
            anomalous = [d for d, flag in zip(chart["usage_date"], chart["anomalous"],
                                              strict=True) if flag]  # fmt: skip
            # The anomalous days are the event's: from its start to its last day, `days` of them.
            assert (anomalous[0], anomalous[-1]) == (event.start_date, event.last_seen)
            assert len(anomalous) == event.days
            want = _allocations_sum(wh.con, event.dimension, event.value, anomalous)
            assert event.actual_cost == want, event.anomaly_id
            assert event.actual_cost.as_tuple().exponent == -10
            assert event.expected_cost.as_tuple().exponent == -2  # the model's estimate
            assert event.impact_cost == event.actual_cost - event.expected_cost
            for d, actual in zip(chart["usage_date"], chart["actual_cost"], strict=True):
                assert actual == _allocations_sum(wh.con, event.dimension, event.value, [d])
    spike = events[(events["dimension"] == "microservice") & (events["value"] == "spiky")]
    # Independently: the spike day's rows as loaded, parsed from text and added as Decimal.
    spike_day = START + dt.timedelta(days=SPIKE_DAY)
    rows = _rows(70)
    on_day = rows[(rows["usage_date"] == spike_day) & (rows["microservice"] == "spiky")]
    assert spike["actual_cost"].iloc[0] == sum(map(Decimal, on_day["amortized_cost"]), Decimal(0))


def test_every_root_cause_adds_up_to_its_impact_and_its_allocations(built: Path) -> None:
    """Per event and view, the rows' contributions add up to the impact and their expected
    costs to the expected cost, exactly; every row of one value has as actual cost the exact
    sum of its allocations over the event's anomalous days."""
    with q.open_snapshot(built) as snap:
        events = q.anomalies(snap, incidents=False, include_marked=True)
        causes = {aid: q.anomaly_root_cause(snap, aid) for aid in events["anomaly_id"]}
        days = {aid: q.anomaly_days(snap, aid) for aid in events["anomaly_id"]}
    checked = 0
    with open_warehouse(built, read_only=True) as wh:
        for event in events.itertuples():
            cause = causes[event.anomaly_id]
            assert not cause.empty
            for view, rows in cause.groupby("dimension"):
                assert sum(rows["delta_cost"]) == event.impact_cost, (event.anomaly_id, view)
                assert sum(rows["expected_cost"]) == event.expected_cost, (event.anomaly_id, view)
            chart = days[event.anomaly_id]
            anomalous = list(chart.loc[chart["anomalous"], "usage_date"])
            for c in cause[cause["others"] == 0].itertuples():
                columns = c.dimension.split("/")
                values = c.value.split("/", len(columns) - 1)
                drivers = " AND ".join(f"{col} = $d{i}" for i, col in enumerate(columns))
                sql = _DRIVER_SUM_SQL.format(column=event.dimension, drivers=drivers)
                params = {"value": event.value, "days": anomalous,
                          **{f"d{i}": v for i, v in enumerate(values)}}  # fmt: skip
                (total,) = wh.con.execute(sql, params).fetchone()
                assert c.actual_cost == Decimal(total or 0), (event.anomaly_id, c.value)
                checked += 1
    assert checked >= 40


_SPAN_SUM_SQL = """
SELECT SUM(amortized_cost) FROM allocations
WHERE charge_category = 'Usage' AND {column} = $value AND usage_date BETWEEN $first AND $last
"""


def test_a_change_is_followed_to_its_end_with_its_impact_so_far(
    snap: q.Snapshot, built: Path
) -> None:
    """The spike has ended; the level shift (20 days at +600/day by the end) is a new level
    since its first day; the new service still ramps up to the last day (its plateau is 10
    days old, short of two stable weeks) and, nothing being expected of it, its impact so far
    is exactly everything it cost."""
    last = START + dt.timedelta(days=69)
    spike = _events(snap, "spiky").iloc[0]
    assert spike["follow_state"] == "ended" and spike["daily_excess"] is None
    assert spike["followed_until"] < last
    assert float(spike["total_impact"]) == pytest.approx(2500, abs=80)

    shift = _events(snap, "shifted").iloc[0]
    assert (shift["follow_state"], shift["followed_until"]) == ("settled", last)
    assert shift["settled_since"] == START + dt.timedelta(days=SHIFT_DAY)
    assert float(shift["daily_excess"]) == pytest.approx(600, abs=15)
    assert float(shift["total_impact"]) == pytest.approx(600 * 20, abs=300)
    assert shift["total_impact"] > 2 * shift["impact_cost"]  # the detector saw its first days
    assert describe.describe_followed(
        "settled", shift["settled_since"], shift["start_date"], last, shift["total_impact"],
        shift["daily_excess"],
    ).startswith(f"New level since {shift['settled_since']:%d %b %Y}, +$")  # fmt: skip

    ramp = _events(snap, "newsvc").iloc[0]
    assert (ramp["follow_state"], ramp["followed_until"]) == ("changing", last)
    assert ramp["expected_cost"] == 0
    start = START + dt.timedelta(days=NEW_DAY)
    with open_warehouse(built, read_only=True) as wh:
        (spent,) = wh.con.execute(
            _SPAN_SUM_SQL.format(column="microservice"),
            {"value": "newsvc", "first": start, "last": last},
        ).fetchone()
    assert ramp["total_impact"] == Decimal(spent)
    assert float(ramp["daily_excess"]) == pytest.approx(1000, abs=20)

    # Dates: a change still holding is listed for a range after its detected days.
    late = q.anomalies(snap, incidents=False, include_marked=True, start=last, end=last)
    assert {"shifted", "newsvc"} <= set(late["value"]) and "spiky" not in set(late["value"])


def test_the_impact_so_far_is_the_exact_spend_less_a_reference_in_cents(built: Path) -> None:
    """For every event: exact spend over its followed days less ``total_impact`` is the same
    cent amount each day (the reference level: the detector's mean expectation per anomalous
    day), within a cent of ``expected_cost / days``."""
    with q.open_snapshot(built) as snap:
        events = q.anomalies(snap, incidents=False, include_marked=True)
    assert len(events) >= 5
    with open_warehouse(built, read_only=True) as wh:
        for e in events.itertuples():
            (spent,) = wh.con.execute(
                _SPAN_SUM_SQL.format(column=e.dimension),
                {"value": e.value, "first": e.start_date, "last": e.followed_until},
            ).fetchone()
            days = (e.followed_until - e.start_date).days + 1
            reference = (Decimal(spent) - e.total_impact) / days
            assert reference == reference.quantize(Decimal("0.01")), e.anomaly_id
            assert abs(reference - e.expected_cost / e.days) <= Decimal("0.01"), e.anomaly_id
