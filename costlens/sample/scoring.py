"""Score open anomaly incidents against the ground truth a sample wrote (``labels.json``).

One definition for the end-to-end test and ``benchmarks/demo_calendar_sweep.py``: an injected
anomaly is *found* when an incident on its microservice starts from 2 days before its label to
``START_TOLERANCE`` days after; every other open incident is *unlabelled* when it lies on no
labelled microservice within that label's window, and *other* when it does (a drift re-reported
from its new level, a shift's series dipping once after it adapts).

>>> label = {"kind": "spike", "microservice": "search", "start": "2026-03-08T00:00:00Z",
...          "end": "2026-03-10T00:00:00Z"}
>>> found = Incident("a1", "microservice", "search", date(2026, 3, 8))
>>> noise = Incident("a2", "account_id", "210987654301", date(2026, 2, 20))
>>> score = score_incidents([label], [found, noise])
>>> score.found, [i.anomaly_id for i in score.unlabelled], score.others
({'spike': 'a1'}, ['a2'], [])
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Any

__all__ = ["START_TOLERANCE", "Incident", "IncidentScore", "label_day", "score_incidents"]

START_TOLERANCE = {"spike": 2, "level_shift": 2, "new_service_ramp": 4, "slow_drift": 26}
"""Days an incident may start after its label (and 2 before): a couple of days for a step; for
the ramp and the drift the detector's delay p90 in BENCHMARKS.md (anomaly evaluation: ramp 4,
drift 26 days: a drift is only called once the trend test has the evidence)."""
EARLY_DAYS = 2
"""Days an incident may start before its label (a day's partial hours, a weekday baseline)."""


@dataclass(frozen=True)
class Incident:
    """The fields of an open incident that scoring reads (a row of ``queries.anomalies``)."""

    anomaly_id: str
    dimension: str
    value: str
    start_date: date


@dataclass
class IncidentScore:
    """Which labels an incident found, and the incidents left over."""

    found: dict[str, str] = field(default_factory=dict)
    """Label kind -> the anomaly id of the earliest incident that found it."""
    missed: list[str] = field(default_factory=list)
    """Label kinds no incident found."""
    unlabelled: list[Incident] = field(default_factory=list)
    """Incidents on no labelled microservice, or outside every label's window: false alerts."""
    others: list[Incident] = field(default_factory=list)
    """Further incidents on a labelled microservice within its label's window."""


def label_day(text: str) -> date:
    """The day of a label's ISO timestamp.

    >>> label_day("2026-03-08T00:00:00Z")
    datetime.date(2026, 3, 8)
    """
    return date.fromisoformat(text[:10])


def _finds(label: Mapping[str, Any], incident: Incident) -> bool:
    start = label_day(label["start"])
    return (
        incident.dimension == "microservice"
        and incident.value == label["microservice"]
        and start - timedelta(days=EARLY_DAYS)
        <= incident.start_date
        <= start + timedelta(days=START_TOLERANCE[label["kind"]])
    )


def _within(label: Mapping[str, Any], incident: Incident) -> bool:
    return (
        incident.dimension == "microservice"
        and incident.value == label["microservice"]
        and label_day(label["start"]) - timedelta(days=EARLY_DAYS)
        <= incident.start_date
        < label_day(label["end"])
    )


def score_incidents(
    labels: Iterable[Mapping[str, Any]], incidents: Iterable[Incident]
) -> IncidentScore:
    """Match ``incidents`` (open ones, one row per incident) to ``labels``."""
    labels, incidents = list(labels), list(incidents)
    score = IncidentScore()
    for label in labels:
        hits = [i for i in incidents if _finds(label, i)]
        if hits:
            score.found[label["kind"]] = min(hits, key=lambda i: i.start_date).anomaly_id
        else:
            score.missed.append(label["kind"])
    matched = set(score.found.values())
    for incident in incidents:
        if incident.anomaly_id in matched:
            continue
        if any(_within(label, incident) for label in labels):
            score.others.append(incident)
        else:
            score.unlabelled.append(incident)
    return score
