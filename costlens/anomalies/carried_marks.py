"""Marks that survive a restatement: a marked anomaly whose first day moves keeps its mark.

An anomaly's id hashes its series and its first anomalous day, so when AWS restates a month and an
event now starts a day earlier, it gets a new id and the mark made on the old one no longer
applies: the event would be raised again. ``carry_marks`` pairs the events of a new scan without
a mark of its own with the marked events of the published snapshot on the same series (dimension,
value, cost type) and in the same direction whose days overlap theirs, one to one (most
overlapping days first, then the closest first day), and carries each mark's id over. The
snapshot records it (``anomalies.marked_as``), so the mark follows the event through later
restatements too, and removing the original mark releases it.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import duckdb
import numpy as np
import pandas as pd

from costlens.errors import QueryError
from costlens.serving import open_serving

__all__ = ["carry_marks", "published_events"]

_SERIES = ("dimension", "value", "cost_type", "direction")
"""An event's series and direction: a mark is carried only between events that share them."""
_COLUMNS = ["anomaly_id", *_SERIES, "start_date", "last_seen", "marked_as"]
_COLUMNS_SQL = "SELECT column_name FROM duckdb_columns() WHERE table_name = 'anomalies'"
_EVENTS_SQL = (
    "SELECT anomaly_id, dimension, value, cost_type, direction, start_date, last_seen, "
    "{marked_as} AS marked_as FROM anomalies"
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
        if not {"anomaly_id", "last_seen", "cost_type", "direction"} <= columns:
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
    """The id of the mark (in ``marks``) each event of ``events`` falls under; None when none.

    An event's own id when it is marked; else, when the published snapshot holds the event itself
    (same id) with a mark, that mark; else the mark of a marked published event of the same series
    (dimension, value, cost type) and direction whose days (first to last seen) overlap its own.
    The carry is one to one: pairs are taken by the most overlapping days, then the closest first
    day, and each published event gives, each event takes, at most one mark.

    >>> day = pd.Timestamp
    >>> old = pd.DataFrame({"anomaly_id": ["a-old"], "dimension": ["owner"], "value": ["pay"],
    ...     "cost_type": ["amortized"], "direction": ["increase"],
    ...     "start_date": [day("2024-03-11")], "last_seen": [day("2024-03-20")],
    ...     "marked_as": [None]})
    >>> new = old.assign(anomaly_id="a-new", start_date=day("2024-03-10"), marked_as=None)
    >>> carry_marks(new, old, {"a-old": "expected"}).tolist()
    ['a-old']
    >>> carry_marks(new.assign(direction="decrease"), old, {"a-old": "expected"}).tolist()
    [None]
    """
    ids = [str(i) for i in events["anomaly_id"].tolist()]
    carried: list[str | None] = [i if i in marks else None for i in ids]
    if not marks or published.empty:
        return pd.Series(carried, index=events.index, dtype=object)
    keys = [
        str(own) if isinstance(own, str) else str(aid)
        for aid, own in zip(
            published["anomaly_id"].tolist(), published["marked_as"].tolist(), strict=True
        )
    ]
    rows = [row for row, key in enumerate(keys) if key in marks]
    if not rows:
        return pd.Series(carried, index=events.index, dtype=object)
    # The same event (same id) keeps the mark it had; its published row is spent on it.
    scanned = dict(zip(ids, range(len(ids)), strict=True))
    pool_rows: list[int] = []
    for row, aid in zip(rows, published["anomaly_id"].iloc[rows].tolist(), strict=True):
        pos = scanned.get(str(aid))
        if pos is None:
            pool_rows.append(row)
        elif carried[pos] is None:
            carried[pos] = keys[row]
    free = [pos for pos, mark in enumerate(carried) if mark is None]
    if pool_rows and free:
        pool = published.iloc[pool_rows].assign(key=[keys[row] for row in pool_rows])
        for pos, mark in _pair_by_overlap(events.iloc[free].assign(pos=free), pool):
            carried[pos] = mark
    return pd.Series(carried, index=events.index, dtype=object)


def _pair_by_overlap(free: pd.DataFrame, pool: pd.DataFrame) -> list[tuple[int, str]]:
    """(position in events, mark) one to one: most overlapping days first, then closest start."""
    new = free[[*_SERIES, "pos"]].assign(
        first=_days(free["start_date"]), last=_days(free["last_seen"])
    )
    old = pool[[*_SERIES, "key"]].assign(
        old_first=_days(pool["start_date"]),
        old_last=_days(pool["last_seen"]),
        old_pos=range(len(pool)),
    )
    pairs = new.merge(old, on=list(_SERIES))
    if pairs.empty:
        return []
    first, old_first = pairs["first"].to_numpy(), pairs["old_first"].to_numpy()
    overlap_days = (
        np.minimum(pairs["last"].to_numpy(), pairs["old_last"].to_numpy())
        - np.maximum(first, old_first)
        + 1
    )
    pairs = pairs.assign(overlap_days=overlap_days, start_distance_days=np.abs(first - old_first))
    pairs = pairs[pairs["overlap_days"] >= 1].sort_values(
        ["overlap_days", "start_distance_days", "pos", "old_pos"],
        ascending=[False, True, True, True],
        kind="stable",
    )
    taken_new: set[int] = set()
    taken_old: set[int] = set()
    chosen: list[tuple[int, str]] = []
    for pos, old_pos, mark in zip(
        pairs["pos"].tolist(), pairs["old_pos"].tolist(), pairs["key"].tolist(), strict=True
    ):
        if pos in taken_new or old_pos in taken_old:
            continue
        taken_new.add(pos)
        taken_old.add(old_pos)
        chosen.append((int(pos), str(mark)))
    return chosen


def _days(dates: pd.Series) -> np.ndarray:
    """Dates as whole days since the epoch (int64), for interval arithmetic."""
    days: np.ndarray = pd.to_datetime(dates).to_numpy(dtype="datetime64[D]").astype(np.int64)
    return days
