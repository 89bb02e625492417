"""Marks that survive a restatement: a marked anomaly whose first day moves keeps its mark.

An anomaly's id hashes its series and its first anomalous day, so when AWS restates a month and an
event now starts a day earlier, it gets a new id and the mark made on the old one no longer
applies: the event would be raised again. ``carry_marks`` finds, for each event of a new scan
without a mark of its own, a marked event of the published snapshot on the same series
(dimension, value, cost type) whose days overlap it, and carries that mark's id over. The
snapshot records it (``anomalies.marked_as``), so the mark follows the event through later
restatements too, and removing the original mark releases it.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import duckdb
import pandas as pd

from costlens.errors import QueryError
from costlens.serving import open_serving

__all__ = ["carry_marks", "published_events"]

_COLUMNS = ["anomaly_id", "dimension", "value", "cost_type", "start_date", "last_seen", "marked_as"]
_COLUMNS_SQL = "SELECT column_name FROM duckdb_columns() WHERE table_name = 'anomalies'"
_EVENTS_SQL = (
    "SELECT anomaly_id, dimension, value, cost_type, start_date, last_seen, {marked_as} "
    "AS marked_as FROM anomalies"
)


def published_events(path: Path) -> pd.DataFrame:
    """The anomaly events of the snapshot at ``path`` (none when there is no readable one)."""
    empty = pd.DataFrame({c: [] for c in _COLUMNS})
    if not path.is_file():
        return empty
    try:
        con = open_serving(path)
    except QueryError:
        return empty
    try:
        columns = {str(r[0]) for r in con.execute(_COLUMNS_SQL).fetchall()}
        if not {"anomaly_id", "last_seen", "cost_type"} <= columns:
            return empty
        marked_as = "marked_as" if "marked_as" in columns else "CAST(NULL AS VARCHAR)"
        frame: pd.DataFrame = con.execute(_EVENTS_SQL.format(marked_as=marked_as)).df()
        return frame
    except duckdb.Error:
        return empty
    finally:
        con.close()


def carry_marks(
    events: pd.DataFrame, published: pd.DataFrame, marks: Mapping[str, str]
) -> pd.Series:
    """The id of the mark (in ``marks``) each event of ``events`` falls under: its own id when it
    is marked, else the mark of a published event of the same series whose days (first to last
    seen) overlap its own; None when there is none.

    >>> day = pd.Timestamp
    >>> old = pd.DataFrame({"anomaly_id": ["a-old"], "dimension": ["owner"], "value": ["pay"],
    ...     "cost_type": ["amortized"], "start_date": [day("2024-03-11")],
    ...     "last_seen": [day("2024-03-20")], "marked_as": [None]})
    >>> new = old.assign(anomaly_id="a-new", start_date=day("2024-03-10"), marked_as=None)
    >>> carry_marks(new, old, {"a-old": "expected"}).tolist()
    ['a-old']
    """
    key_of = published["marked_as"].where(published["marked_as"].notna(), published["anomaly_id"])
    marked = published.assign(
        key=key_of,
        first=pd.to_datetime(published["start_date"]),
        last=pd.to_datetime(published["last_seen"]),
    )[key_of.isin(list(marks))]
    carried: list[str | None] = []
    for aid, dimension, value, cost_type, first, last in zip(
        events["anomaly_id"],
        events["dimension"],
        events["value"],
        events["cost_type"],
        pd.to_datetime(events["start_date"]),
        pd.to_datetime(events["last_seen"]),
        strict=True,
    ):
        if aid in marks:
            carried.append(str(aid))
            continue
        same = marked[
            (marked["dimension"] == dimension)
            & (marked["value"] == value)
            & (marked["cost_type"] == cost_type)
            & (marked["first"] <= last)
            & (marked["last"] >= first)
        ]
        carried.append(str(same["key"].iloc[0]) if len(same) else None)
    return pd.Series(carried, index=events.index, dtype=object)
