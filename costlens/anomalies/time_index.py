"""The time index a detector runs on: its step, the seasonality period inferred from it (weekly
for daily data, daily for hourly and shorter steps, hourly data's weekly season too) and the
check that its points are strictly increasing at a regular or calendar step
(``costlens.anomalies.detect`` refuses any other series)."""

from __future__ import annotations

import numpy as np
import pandas as pd

from costlens.errors import CostlensError

__all__ = ["check_regular", "infer_period", "is_daily", "is_hourly"]


def _step(index: pd.DatetimeIndex) -> pd.Timedelta:
    """The median spacing of the index (any datetime unit)."""
    return pd.Timedelta(int(np.median(np.diff(index.as_unit("ns").asi8))), unit="ns")


def infer_period(index: pd.DatetimeIndex) -> int:
    """The seasonality period of a regular index in points: a week (7) for daily data, a day for
    hourly data (24; the detector adds the weekly season, see :func:`is_hourly`) and for any
    step shorter than an hour that divides a day (288 for 5-minute telemetry), otherwise 1.

    >>> infer_period(pd.date_range("2024-01-01", periods=30, freq="D"))
    7
    >>> infer_period(pd.date_range("2024-01-01", periods=30, freq="5min"))
    288
    >>> infer_period(pd.date_range("2024-01-01", periods=30, freq="W"))
    1
    """
    if len(index) < 3:
        return 1
    step = _step(index)
    day = pd.Timedelta(days=1)
    if step == day:
        return 7
    if pd.Timedelta(0) < step <= pd.Timedelta(hours=1) and day % step == pd.Timedelta(0):
        return int(day // step)
    return 1


def is_hourly(index: pd.DatetimeIndex) -> bool:
    """Whether the index steps one hour (the detector then learns a daily and a weekly season)."""
    return len(index) >= 3 and _step(index) == pd.Timedelta(hours=1)


def _calendar_freq(index: pd.DatetimeIndex) -> object:
    """The calendar frequency (month starts, business days) pandas infers, or None."""
    with pd.option_context("future.infer_freq_returns_offset", True):
        return pd.infer_freq(index)


def check_regular(index: pd.DatetimeIndex) -> None:
    """Refuse an index whose points are not in time order at a regular step: the verdicts would
    then use later points for earlier ones, or treat a gap as adjacent days."""
    if not index.is_monotonic_increasing or index.has_duplicates:
        raise CostlensError(
            "the series' dates are not strictly increasing",
            fix="sort it and add up repeated dates: series.groupby(level=0).sum()",
        )
    steps = np.diff(index.as_unit("ns").asi8)
    if steps.size and (steps != steps[0]).any() and _calendar_freq(index) is None:
        raise CostlensError(
            f"the series is not regular: its steps range from {pd.Timedelta(int(steps.min()))} "
            f"to {pd.Timedelta(int(steps.max()))}",
            fix="put it on a full range of dates, e.g. series.asfreq('D', fill_value=0.0)",
        )


def is_daily(index: pd.DatetimeIndex) -> bool:
    """Whether the index steps one day (the month-start effect is learnt on daily data only)."""
    return len(index) >= 2 and _step(index) == pd.Timedelta(days=1)
