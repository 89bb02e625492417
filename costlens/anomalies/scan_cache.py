"""What one anomaly scan leaves for the next: per series its hash, events and detector state, per
event its root-cause key and days, read back from the previous snapshot (attached) so that an
unchanged series or root cause is re-used instead of recomputed (``costlens.anomalies.scan``)."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from collections.abc import Mapping
from typing import Any

import duckdb
import numpy as np
import pandas as pd

from costlens.anomalies.events import AnomalyEvent
from costlens.sql import quote

__all__ = [
    "PREVIOUS_CAUSES_SQL",
    "PREVIOUS_DAYS_SQL",
    "PREVIOUS_SERIES_SQL",
    "events_from_json",
    "events_json",
    "months",
    "previous",
    "series_hash",
]


def series_hash(series: pd.Series, opts: Mapping[str, Any], cost_type: str) -> str:
    digest = hashlib.sha256(json.dumps([sorted(opts.items()), cost_type], default=str).encode())
    digest.update(series.index.to_numpy(dtype="datetime64[ns]").view(np.int64).tobytes())
    digest.update(series.to_numpy(np.float64).tobytes())
    return digest.hexdigest()[:32]


def events_json(events: list[AnomalyEvent]) -> str:
    return json.dumps([
        [e.start.isoformat(), e.last_seen.isoformat(),
         None if e.end is None else e.end.isoformat(), e.actual, e.expected, e.max_score, e.points]
        for e in events
    ])  # fmt: skip


def events_from_json(text: str) -> list[AnomalyEvent]:
    return [
        AnomalyEvent(pd.Timestamp(a), pd.Timestamp(b), None if c is None else pd.Timestamp(c),
                     float(d), float(e), float(f), int(g))
        for a, b, c, d, e, f, g in json.loads(text)
    ]  # fmt: skip


def previous(
    con: duckdb.DuckDBPyConnection, previous: str | None, sql: str
) -> list[tuple[Any, ...]]:
    if previous is None:
        return []
    try:
        return con.execute(sql.format(previous=quote(previous))).fetchall()
    except duckdb.Error:
        return []  # an older snapshot without the table: nothing to re-use


PREVIOUS_SERIES_SQL = (
    "SELECT dimension, value, series_hash, events, state FROM {previous}.anomaly_series"
)
PREVIOUS_CAUSES_SQL = """
SELECT k.anomaly_id, k.cause_key, c.rank, c.dimension, c.value, c.expected_cost, c.actual_cost,
       c.delta_cost, c.share, c.others
FROM {previous}.anomaly_cause_keys k
LEFT JOIN {previous}.anomaly_root_causes c USING (anomaly_id)
ORDER BY k.anomaly_id, c.rank
"""


def months(start: pd.Timestamp, end: pd.Timestamp) -> set[dt.date]:
    return {p.date() for p in pd.date_range(start.replace(day=1), end, freq="MS")}


PREVIOUS_DAYS_SQL = (
    "SELECT anomaly_id, usage_date, expected_cost, anomalous FROM {previous}.anomaly_days"
)
