"""The anomaly step of the refresh: scan every owner, microservice, service and account series,
carry the marks of the state database to the events, and write the anomaly tables."""

from __future__ import annotations

from typing import Any

from costlens.anomalies.carried_marks import carry_marks, published_events
from costlens.anomalies.scan import scan_anomalies
from costlens.refresh.context import PREVIOUS, SNAPSHOT, BuildContext, Step, insert_frame
from costlens.sql import quote, sorted_rows

__all__ = ["STEP", "write"]


def write(ctx: BuildContext) -> dict[str, Any]:
    """Scan (re-using the published snapshot's caches for kept periods) and write the events with
    their marks, root causes, days and caches; returns ``events``, ``series_scanned`` and the
    seconds of the root causes (``parts``)."""
    con = ctx.con
    try:
        scan = scan_anomalies(
            con,
            SNAPSHOT,
            cost_type=ctx.cost_type,
            options=ctx.detector_options,
            previous=PREVIOUS if ctx.reused else None,
            stable_periods=ctx.reused,
            hourly=ctx.inputs.hourly,
        )
    finally:
        if ctx.reused:  # the scan was the last reader of the published snapshot
            con.execute(f"DETACH DATABASE IF EXISTS {quote(PREVIOUS)}")
    # A mark follows its event when a restatement moved its first day (new id); an event
    # grouped into an incident shares the incident's mark. An hourly incident marked before the
    # daily scan found the same change marks the daily incident it joins.
    marked_as = carry_marks(scan.events, published_events(ctx.published), ctx.marks)
    own = marked_as.map(ctx.marks)
    early: dict[str, str] = {}
    for aid, incident, grain, mark in zip(
        scan.events["anomaly_id"], scan.events["incident_id"], scan.events["grain"], own,
        strict=True,
    ):  # fmt: skip
        if grain == "hour" and aid != incident and isinstance(mark, str):
            early.setdefault(str(incident), mark)
    by_event = {
        aid: mark if isinstance(mark, str) else early.get(str(aid))
        for aid, mark in zip(scan.events["anomaly_id"], own, strict=True)
    }
    shared = scan.events["incident_id"].map(by_event)
    events = scan.events.assign(
        feedback=own.where(own.notna(), shared),
        marked_as=marked_as.where(marked_as != scan.events["anomaly_id"]),
    )
    insert_frame(
        con, "anomalies", sorted_rows(events, lambda r: (-abs(r["impact_cost"]), r["anomaly_id"]))
    )
    insert_frame(
        con,
        "anomaly_root_causes",
        sorted_rows(scan.root_causes, lambda r: (r["anomaly_id"], r["rank"])),
    )
    if scan.series_cache is not None:
        insert_frame(con, "anomaly_series", scan.series_cache)
    if scan.cause_keys is not None:
        insert_frame(con, "anomaly_cause_keys", scan.cause_keys)
    if scan.days is not None:
        insert_frame(
            con,
            "anomaly_days",
            sorted_rows(scan.days, lambda r: (r["anomaly_id"], r["usage_date"])),
        )
    return {
        "events": events,
        "series_scanned": scan.series_scanned,
        "parts": {"root_causes": scan.cause_seconds},
    }


STEP = Step(
    "anomalies",
    write,
    tables=("anomalies", "anomaly_root_causes", "anomaly_series", "anomaly_cause_keys",
            "anomaly_days"),
)  # fmt: skip
