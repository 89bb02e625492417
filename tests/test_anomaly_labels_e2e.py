"""End to end: the product finds what was injected into the demo company's bill, and little else.

The demo's own data (``costlens demo``: 4 months, scale 1, seed 1) is generated, synced
(ingest → attribute → refresh) in-process, and the open incidents are checked against the
ground truth the generator wrote (``labels.json``). Scale 1 is the smallest that works: every
injected cost is proportional to the scale and the slow drift adds ~$200/day at its end at
scale 1, so below ~0.8 it never clears the detector's $100 gate (at 0.6 it is missed).
"""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Any

import pytest

from costlens import queries as q
from costlens.anomalies.driver_ranking import COMBINATION
from costlens.commands.demo import run_demo
from costlens.config import load_settings
from costlens.sample.scoring import START_TOLERANCE, Incident, score_incidents

REPO = Path(__file__).resolve().parent.parent
END_MONTH = dt.date(2026, 11, 1)
"""The calendar this test runs on: the one on which the demo of 2026-12-01 raised two false
alerts (issue 10). ``benchmarks/demo_calendar_sweep.py`` checks 12 calendars x 3 seeds."""

MAX_OTHER_INCIDENTS = 3
"""Open incidents beyond the one per label. The detector re-reports a drift once it watches from
the new level, and a level shift's series can dip once after it adapts; a false alert on an
unlabelled series is rare (0.29 per 100 series-weeks in the evaluation: ~1 over the ~30
scanned series x 17 weeks here). More than 3 would be noise a business owner would notice."""
MAX_UNLABELLED_INCIDENTS = 1
"""Incidents on no labelled microservice, or outside every label's window."""


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[dict[str, Any]]]:
    data_dir = tmp_path_factory.mktemp("demo-labels")
    settings = load_settings(
        None, rules=REPO / "data" / "rules.yaml", owners=REPO / "data" / "owners.yaml"
    )
    run_demo(
        settings, data_dir, end_month=END_MONTH, months=4, seed=1, scale=1.0, show_progress=False
    )
    labels = json.loads((data_dir / "exports" / "labels.json").read_text())["anomalies"]
    return data_dir, labels


def _names_label(label: dict[str, Any], dimension: str, value: str) -> bool:
    """The driver names the labelled resource or usage type (alone or in a combination)."""
    if dimension == "resource_id":
        return value == label["resource_id"]
    if dimension == "usage_type":
        return value == label["usage_type"]
    if dimension == "service_code/account_id/region/usage_type":
        service, account, _, usage_type = value.split("/")
        return (service, account, usage_type) == (
            label["service"], label["account"], label["usage_type"]
        )  # fmt: skip
    return False


@pytest.mark.slow
def test_every_injected_anomaly_is_one_incident_with_its_cause_and_little_else(
    demo: tuple[Path, list[dict[str, Any]]],
) -> None:
    data_dir, labels = demo
    assert {label["kind"] for label in labels} == set(START_TOLERANCE)
    with q.open_snapshot(data_dir) as snap:
        incidents = q.anomalies(snap)
        events = q.anomalies(snap, incidents=False)
        rows = incidents.set_index("anomaly_id", drop=False)
        score = score_incidents(
            labels,
            [Incident(i.anomaly_id, i.dimension, i.value, i.start_date) for i in rows.itertuples()],
        )
        assert not score.missed, f"not reported: {score.missed}"
        for label in labels:
            first = rows.loc[score.found[label["kind"]]]
            assert first.direction == "increase" and first.owner == label["owner"]
            if label["kind"] != "new_service_ramp":  # a new microservice: every resource is new
                cause = q.anomaly_root_cause(snap, first.anomaly_id)
                top = cause.iloc[0]
                assert _names_label(label, top["dimension"], top["value"]), (label, top.to_dict())
            # The owner's view lists it; the owner's own event of it is not a second incident.
            assert first.anomaly_id in set(q.anomalies(snap, owner=label["owner"])["anomaly_id"])
            owner_events = events[(events["dimension"] == "owner")
                                  & (events["value"] == label["owner"])]  # fmt: skip
            assert set(owner_events["incident_id"]) <= set(incidents["anomaly_id"])
        left = score.others + score.unlabelled
        assert len(left) <= MAX_OTHER_INCIDENTS, left
        assert len(score.unlabelled) <= MAX_UNLABELLED_INCIDENTS, score.unlabelled
        # No billing event (tax, fees, credits on the 1st) is an incident or an event.
        assert not any(d.day == 1 for d in events["start_date"])


@pytest.mark.slow
def test_every_incident_of_the_demo_has_root_causes_that_add_up_to_its_impact(
    demo: tuple[Path, list[dict[str, Any]]],
) -> None:
    data_dir, _ = demo
    with q.open_snapshot(data_dir) as snap:
        events = q.anomalies(snap, incidents=False, include_marked=True)
        assert len(events) >= 5
        for event in events.itertuples():
            cause = q.anomaly_root_cause(snap, event.anomaly_id)
            assert COMBINATION in set(cause["dimension"]), event.anomaly_id
            for view, rows in cause.groupby("dimension"):
                assert sum(rows["delta_cost"]) == event.impact_cost, (event.anomaly_id, view)
            # The headline names its dollars and share of the impact.
            head = cause.iloc[0]
            assert f"{abs(head['delta_cost']):,.2f}" in event.top_driver, event.top_driver


@pytest.mark.slow
def test_the_new_service_is_followed_to_the_end_with_everything_it_cost(
    demo: tuple[Path, list[dict[str, Any]]],
) -> None:
    """The ramp of a new microservice is one incident that stays open to the last day, with
    its whole spend since it began as its impact (nothing was expected of it), and is listed
    for the last week though the detector stopped flagging it weeks before."""
    data_dir, labels = demo
    (label,) = [x for x in labels if x["kind"] == "new_service_ramp"]
    with q.open_snapshot(data_dir) as snap:
        last = snap.info.last_date
        late = q.anomalies(snap, start=last - dt.timedelta(days=6), end=last)
        ramp = late[late["value"] == label["microservice"]]
        assert len(ramp) == 1, late[["dimension", "value"]]
        event = ramp.iloc[0]
        assert event["follow_state"] in ("changing", "settled")
        assert event["followed_until"] == last and event["expected_cost"] == 0
        spent = q.spend(
            snap, grain="month", cost_type="amortized", start=event["start_date"], end=last,
            where={"microservice": [label["microservice"]], "charge_category": ["Usage"]},
        )["cost"].sum()  # fmt: skip
        assert event["total_impact"] == spent
        assert event["total_impact"] > 10 * event["impact_cost"]
