"""An open serving snapshot, the handle every ``costlens.queries`` question takes.

``open_snapshot`` opens ``<data_dir>/serving.duckdb`` read-only (a private DuckDB instance, so a
newly published file is always the one read); ``Snapshot`` carries its ``snapshot_info`` and the
dimensions a question may use, and runs SQL with bound parameters into pandas with exact
``Decimal`` money.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Any, Literal

import duckdb
import pandas as pd

from costlens.errors import QueryError
from costlens.schema import DIMENSIONS
from costlens.serving.files import (
    SnapshotStamp,
    open_serving,
    serving_path,
    snapshot_stamp,
)
from costlens.serving.tables import PRESORTED_LAYOUTS
from costlens.sql import quote

__all__ = [
    "GRAINS",
    "CostType",
    "Grain",
    "Snapshot",
    "SnapshotInfo",
    "dimension_column",
    "open_snapshot",
]

Grain = Literal["day", "week", "month"]
GRAINS: tuple[str, ...] = ("day", "week", "month")
"""``day`` and ``week`` (Monday) group by usage date; ``month`` by billing period (the invoice)."""

CostType = Literal["unblended", "amortized", "net_amortized"]


@dataclass(frozen=True)
class SnapshotInfo:
    """What a snapshot covers (its ``snapshot_info`` row)."""

    built_at: dt.datetime
    """When ``costlens refresh`` built it (UTC)."""
    first_date: dt.date | None
    """First usage date covered (None when there is no data)."""
    last_date: dt.date | None
    """Last usage date covered."""
    deliveries: int
    """Number of current billing-export deliveries behind it."""
    rule_set_version: str
    """Version of the attribution rules and owners that produced the allocations."""
    allocation_rows: int
    """Rows of ``allocations`` aggregated."""
    extra_dimensions: tuple[str, ...]
    """Dimensions the rules declared beyond ``DIMENSIONS`` (environment, cost_center, ...)."""
    anomaly_cost_type: str
    """Cost type the anomaly scan and forecasts used."""


_INFO_SQL = "SELECT * FROM snapshot_info"


class Snapshot:
    """An open, read-only serving snapshot. Close it (or use ``with``) when done.

    ``is_stale()`` says whether a newer snapshot has been published since it was opened;
    ``reopen()`` opens the current one.
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        self.stamp: SnapshotStamp | None = snapshot_stamp(path)
        self.con = open_serving(path)
        try:
            cursor = self.con.execute(_INFO_SQL)
            names = [str(d[0]) for d in cursor.description or ()]
            rows = cursor.fetchall()
        except duckdb.Error as exc:
            self.con.close()
            raise QueryError(
                f"not a costlens snapshot ({exc})", where=str(path), fix="run `costlens refresh`"
            ) from exc
        if not rows:
            self.con.close()
            raise QueryError(
                "the snapshot has no info row", where=str(path), fix="run `costlens refresh`"
            )
        row = dict(zip(names, rows[0], strict=True))
        self.info = SnapshotInfo(
            built_at=row["built_at"],
            first_date=row["first_date"],
            last_date=row["last_date"],
            deliveries=int(row["deliveries"]),
            rule_set_version=str(row["rule_set_version"]),
            allocation_rows=int(row["allocation_rows"]),
            extra_dimensions=tuple(json.loads(row["extra_dimensions"])),
            anomaly_cost_type=str(row["anomaly_cost_type"]),
        )
        # A snapshot of this layout stores its small tables in the order the questions ask
        # for (a scan keeps insertion order), so they need no ORDER BY (≈ 0.5 ms a call).
        self.layout = str(row.get("layout") or "")
        self.presorted = self.layout in PRESORTED_LAYOUTS
        # Every usage date lies in one billing period: ``rollup_daily`` has one row per
        # dimension, value and day, so a day-by-value question needs no GROUP BY (≈ 1 ms).
        self.days_in_one_period = row.get("days_in_one_period") is True

    @property
    def dimensions(self) -> tuple[str, ...]:
        """Every dimension a question may group or filter by in this snapshot."""
        return (*DIMENSIONS, *self.info.extra_dimensions)

    def is_stale(self) -> bool:
        """True when ``serving.duckdb`` is no longer the file this snapshot opened."""
        return snapshot_stamp(self.path) != self.stamp

    def reopen(self) -> Snapshot:
        """Close this snapshot and open the current one."""
        self.close()
        return Snapshot(self.path)

    def order_by(self, order: str) -> str:
        """`` ORDER BY order`` unless the snapshot's tables are stored in that order already."""
        return "" if self.presorted else f" ORDER BY {order}"

    def frame(self, sql: str, params: Mapping[str, Any] | None = None) -> pd.DataFrame:
        """Run ``sql`` with bound ``params``; decimals stay exact ``Decimal`` objects."""
        table = self.con.sql(sql, params=dict(params or {})).to_arrow_table()
        frame: pd.DataFrame = table.to_pandas(date_as_object=True)
        return frame

    def close(self) -> None:
        self.con.close()

    def __enter__(self) -> Snapshot:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


def open_snapshot(data_dir_or_path: Path | str) -> Snapshot:
    """Open the current snapshot of a data folder (or a ``serving.duckdb`` path) read-only.

    Raises ``QueryError`` "no snapshot yet: run costlens sync" when there is none.
    """
    return Snapshot(serving_path(data_dir_or_path))


def dimension_column(snap: Snapshot, name: str) -> str:
    """``name`` quoted as a column, when it is one of the snapshot's dimensions."""
    if name not in snap.dimensions:
        raise QueryError(
            f"unknown dimension {name!r}", fix=f"use one of: {', '.join(snap.dimensions)}"
        )
    return quote(name)
