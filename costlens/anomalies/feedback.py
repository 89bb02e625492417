"""Feedback on anomalies: mark one expected, planned or real, in the state database.

Marks are kept by anomaly id (stable across refreshes), so a marked incident is not raised again:
``costlens refresh`` copies them into the snapshot and ``queries.anomalies`` leaves marked events
out unless asked. The dashboard writes marks with ``mark_anomaly`` and passes
``marked_anomalies`` to ``queries.anomalies`` to hide a mark made since the last refresh.
"""

from __future__ import annotations

import functools

from sqlalchemy import Engine, delete, select
from sqlalchemy.orm import Session

from costlens.errors import QueryError
from costlens.state import AnomalyFeedback, create_all, make_engine, utc_now

__all__ = ["VERDICTS", "AnomalyFeedback", "mark_anomaly", "marked_anomalies", "unmark_anomaly"]

VERDICTS: tuple[str, ...] = ("expected", "planned", "real")
"""What a user may say about an anomaly."""


@functools.lru_cache(maxsize=8)
def _engine(state_url: str) -> Engine:
    engine = make_engine(state_url)
    create_all(engine)
    return engine


def mark_anomaly(
    state_url: str, anomaly_id: str, verdict: str, *, note: str = "", by: str = ""
) -> None:
    """Record ``verdict`` (expected, planned or real) for ``anomaly_id``; a new mark replaces
    the old one."""
    if verdict not in VERDICTS:
        raise QueryError(f"unknown verdict {verdict!r}", fix=f"use one of: {', '.join(VERDICTS)}")
    if not anomaly_id:
        raise QueryError("no anomaly id given", fix="take one from queries.anomalies()")
    with Session(_engine(state_url)) as session, session.begin():
        session.merge(
            AnomalyFeedback(
                anomaly_id=anomaly_id,
                verdict=verdict,
                note=note,
                marked_by=by,
                marked_at=utc_now(),
            )
        )


def unmark_anomaly(state_url: str, anomaly_id: str) -> bool:
    """Remove the mark of ``anomaly_id``; True when there was one."""
    with Session(_engine(state_url)) as session, session.begin():
        result = session.execute(
            delete(AnomalyFeedback).where(AnomalyFeedback.anomaly_id == anomaly_id)
        )
        return bool(getattr(result, "rowcount", 0))


def marked_anomalies(state_url: str) -> dict[str, str]:
    """``{anomaly_id: verdict}`` of every marked anomaly."""
    with Session(_engine(state_url)) as session:
        rows = session.execute(select(AnomalyFeedback.anomaly_id, AnomalyFeedback.verdict))
        return {aid: verdict for aid, verdict in rows}
