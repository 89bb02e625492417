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

import pandas as pd
import pytest

from costlens import queries as q
from costlens.commands.demo import run_demo
from costlens.config import load_settings

REPO = Path(__file__).resolve().parent.parent

START_TOLERANCE = {"spike": 2, "level_shift": 2, "new_service_ramp": 4, "slow_drift": 26}
"""Days an incident may start after its label (and 2 before): a couple of days for a step; for
the ramp and the drift the detector's delay p90 in BENCHMARKS.md (anomaly evaluation: ramp 4,
drift 26 days: a drift is only called once the trend test has the evidence)."""
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
    run_demo(settings, data_dir, months=4, seed=1, scale=1.0, show_progress=False)
    labels = json.loads((data_dir / "exports" / "labels.json").read_text())["anomalies"]
    return data_dir, labels


def _day(text: str) -> dt.date:
    return dt.date.fromisoformat(text[:10])


def _matches(label: dict[str, Any], incident: Any) -> bool:
    start = _day(label["start"])
    return (
        incident.dimension == "microservice"
        and incident.value == label["microservice"]
        and start - dt.timedelta(days=2)
        <= incident.start_date
        <= start + dt.timedelta(days=START_TOLERANCE[label["kind"]])
    )


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
        matched: set[str] = set()
        for label in labels:
            found = [i for i in incidents.itertuples() if _matches(label, i)]
            assert found, f"{label['kind']} on {label['microservice']} not reported"
            first = min(found, key=lambda i: i.start_date)
            matched.add(first.anomaly_id)
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
        others = incidents[~incidents["anomaly_id"].isin(matched)]
        unlabelled = [
            i for i in others.itertuples()
            if not any(
                i.dimension == "microservice" and i.value == label["microservice"]
                and _day(label["start"]) - dt.timedelta(days=2) <= i.start_date
                < _day(label["end"])
                for label in labels
            )
        ]  # fmt: skip
        assert len(others) <= MAX_OTHER_INCIDENTS, others[["dimension", "value", "start_date"]]
        assert len(unlabelled) <= MAX_UNLABELLED_INCIDENTS, pd.DataFrame(unlabelled)
        # No billing event (tax, fees, credits on the 1st) is an incident or an event.
        assert not any(d.day == 1 for d in events["start_date"])
