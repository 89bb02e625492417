"""One incident, one alert: the events that show the same change on a microservice, its owner,
its account and its AWS service are grouped under the microservice's event.

A change on one microservice also moves its owner's, its account's and its AWS service's daily
cost, so the scan finds it up to four times. An event on an owner, a service or an account
*belongs to* a microservice event when

* they overlap in time, allowing ``SLACK_DAYS`` between them (the broader series is noisier,
  so it may clear the gates a day or two earlier or later). A microservice event spans its
  anomalous days and, after them, as long as its change holds (``effect_until``: the detector
  stops flagging a level shift or a ramp once it accepts the new level, while the broader
  series, where the change is a smaller part, may cross its dollar and percent gates only
  later); before them, it reaches back ``LEAD_DAYS`` (a slow drift clears the gates of its own
  series later than those of a broader series that is moving anyway, as a ramp does), and
* the microservices with such overlapping events contribute at least ``MIN_SHARE`` of the
  broader event's change together (the ``microservice`` drivers of its root cause): the incidents
  already listed explain it.

The broader event joins the incident of the microservice contributing most (of its events, the
one starting closest) and takes its id as ``incident_id``; the microservice
event (the incident) lists where else it is visible in ``also_seen``. Events that belong to no
microservice event (an owner-wide change spread over several microservices, spend no rule
attributed) are incidents of their own. Ids stay those of the events, so they are stable across
refreshes and a mark on an incident is a mark on its event.

>>> events = pd.DataFrame({
...     "anomaly_id": ["m", "o"], "dimension": ["microservice", "owner"],
...     "value": ["reviews", "catalog"], "owner": ["catalog", "catalog"],
...     "start_date": [dt.date(2026, 10, 8)] * 2, "last_seen": [dt.date(2026, 10, 9)] * 2})
>>> causes = pd.DataFrame({"anomaly_id": ["o"], "dimension": ["microservice"],
...     "value": ["reviews"], "share": [0.98]})
>>> group_incidents(events, causes)[["anomaly_id", "incident_id", "also_seen"]].values.tolist()
[['m', 'm', 'owner catalog'], ['o', 'm', None]]
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from typing import Any

import pandas as pd

__all__ = ["LEAD_DAYS", "MIN_SHARE", "SLACK_DAYS", "group_incidents"]

MIN_SHARE = 0.5
"""Share of a broader event's change that microservice incidents must explain to absorb it."""
SLACK_DAYS = 3
"""Days that may separate the anomalous days of two events of one incident (as ``max_gap``)."""
LEAD_DAYS = 28
"""Days a broader event may precede the microservice event that explains it: the root cause's
baseline (``scan.BASELINE_DAYS``), so the microservice's share was measured against its cost
before the change. The share test keeps an unrelated earlier change apart: it must be explained
by the microservice's cost moving at the broader event's own time."""

_ORDER = {"owner": 0, "account_id": 1, "service_code": 2}
_WORDS = {"owner": "owner", "account_id": "account", "service_code": "AWS service"}


def _day(value: Any) -> dt.date:
    return pd.Timestamp(value).date()


def _overlap(a_start: dt.date, a_end: dt.date, b_start: dt.date, b_end: dt.date) -> bool:
    slack = dt.timedelta(days=SLACK_DAYS)
    return a_start <= b_end + slack and b_start <= a_end + slack


def group_incidents(
    events: pd.DataFrame,
    causes: pd.DataFrame,
    effect_until: Mapping[str, dt.date] | None = None,
) -> pd.DataFrame:
    """``events`` (the scan's ``EVENT_COLUMNS``) with ``incident_id`` (the id of the event that
    represents its incident: a microservice event, or itself) and ``also_seen`` (on an incident's
    own event: the broader series it is also visible on, e.g. ``"owner catalog · account 2109…"``;
    None otherwise). ``causes`` has the ranked root causes (``anomaly_id``, ``dimension``,
    ``value``, ``share``). ``effect_until`` (anomaly id -> day) extends a microservice event to
    the last day its change held (``events.effect_until``); by default its last anomalous day."""
    out = events.copy()
    out["incident_id"] = out["anomaly_id"]
    out["also_seen"] = None
    if out.empty:
        return out
    shares: dict[tuple[str, str], float] = {}
    by_ms = causes[causes["dimension"] == "microservice"]
    for aid, value, share in zip(by_ms["anomaly_id"], by_ms["value"], by_ms["share"], strict=True):
        shares[(str(aid), str(value))] = max(float(share), shares.get((str(aid), str(value)), -1))
    rows = list(
        zip(out.index, out["anomaly_id"].astype(str), out["dimension"].astype(str),
            out["value"].astype(str), map(_day, out["start_date"]), map(_day, out["last_seen"]),
            strict=True)
    )  # fmt: skip
    held = effect_until or {}
    lead = dt.timedelta(days=LEAD_DAYS)
    micro = [
        (i, aid, dimension, value, start - lead, max(last, held.get(aid, last)), start)
        for i, aid, dimension, value, start, last in rows
        if dimension == "microservice"
    ]
    attached: dict[str, list[tuple[str, str]]] = {}
    for i, aid, dimension, value, start, last in rows:
        if dimension == "microservice":
            continue
        best: tuple[float, int, str] | None = None
        explained: dict[str, float] = {}
        for _, m_id, _, m_value, m_from, m_until, m_start in micro:
            share = shares.get((aid, m_value), 0.0)
            if share <= 0 or not _overlap(start, last, m_from, m_until):
                continue
            explained[m_value] = share
            # The microservice explaining most of it; of its events, the one starting closest.
            key = (share, -abs((m_start - start).days), m_id)
            if best is None or key > best:
                best = key
        if best is not None and sum(explained.values()) >= MIN_SHARE:
            out.at[i, "incident_id"] = best[2]
            attached.setdefault(best[2], []).append((dimension, value))
    for i, aid in zip(out.index, out["anomaly_id"], strict=True):
        members = sorted(set(attached.get(str(aid), [])), key=lambda m: (_ORDER[m[0]], m[1]))
        if members:
            out.at[i, "also_seen"] = " · ".join(f"{_WORDS[d]} {v}" for d, v in members)
    return out
