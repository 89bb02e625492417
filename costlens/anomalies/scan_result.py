"""What an anomaly scan returns (``costlens.anomalies.scan``): :class:`ScanResult` and the
columns of each of its frames, the events and their ranked root causes, the days around each
event kept for its chart, and what the next scan re-uses (per series its hash, events and
detector state; per event the key of its root cause)."""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd

__all__ = [
    "CAUSE_KEY_COLUMNS",
    "DAY_COLUMNS",
    "EVENT_COLUMNS",
    "GRAIN_COLUMNS",
    "ROOT_CAUSE_COLUMNS",
    "SERIES_CACHE_COLUMNS",
    "ScanResult",
    "empty_frame",
]

EVENT_COLUMNS = (
    "anomaly_id", "dimension", "value", "owner", "start_date", "end_date", "last_seen",
    "ongoing", "direction", "actual_cost", "expected_cost", "impact_cost", "impact_percent",
    "max_score", "days", "top_driver", "follow_state", "followed_until", "settled_since",
    "total_impact", "daily_excess", "cost_type", "incident_id", "also_seen",
)  # fmt: skip
GRAIN_COLUMNS = ("grain", "started_at")
"""Appended to every scanned event: the grain that found it ('day' or 'hour') and, for an hourly
event, its first anomalous hour (``costlens.anomalies.hourly_scan``)."""
ROOT_CAUSE_COLUMNS = (
    "anomaly_id", "rank", "dimension", "value", "expected_cost", "actual_cost", "delta_cost",
    "share", "others",
)  # fmt: skip
SERIES_CACHE_COLUMNS = ("dimension", "value", "series_hash", "events", "state")
CAUSE_KEY_COLUMNS = ("anomaly_id", "cause_key")
DAY_COLUMNS = ("anomaly_id", "usage_date", "actual_cost", "expected_cost", "anomalous")


@dataclass(frozen=True)
class ScanResult:
    """Events (``EVENT_COLUMNS``) and their ranked root causes (``ROOT_CAUSE_COLUMNS``), plus
    what the next scan re-uses: per series its hash and events (``SERIES_CACHE_COLUMNS``), per
    event the key of its root cause (``CAUSE_KEY_COLUMNS``)."""

    events: pd.DataFrame
    root_causes: pd.DataFrame
    series_scanned: int
    series_cache: pd.DataFrame | None = None
    cause_keys: pd.DataFrame | None = None
    series_reused: int = 0
    causes_reused: int = 0
    days: pd.DataFrame | None = None
    """Per event and day around it: the scanned cost (exact), the expected one (cents) and
    whether the day is one of the event's anomalous days (``DAY_COLUMNS``)."""
    cause_seconds: float = 0.0
    """Seconds spent on the daily events' root causes (``rank_drivers``; the rest is the
    detector)."""


def empty_frame(columns: tuple[str, ...]) -> pd.DataFrame:
    """A frame with ``columns`` and no rows (what a scan that found nothing returns)."""
    return pd.DataFrame({c: [] for c in columns})
