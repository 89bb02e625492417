"""Simple anomaly detectors the evaluation compares :func:`costlens.anomalies.detect` against.

Each has the same contract as ``detect`` (same index; ``expected``, ``lower``, ``upper``,
``score`` in [0, 1], ``is_anomaly``), is causal (rolling windows end at the previous point) and
applies the same ``min_impact`` / ``min_percent`` gates.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pandas as pd

__all__ = ["BASELINES", "day_over_day", "rolling_mad", "rolling_zscore"]


def _frame(
    series: pd.Series,
    expected: pd.Series,
    half_width: pd.Series,
    stat_flag: pd.Series,
    min_impact: float,
    min_percent: float,
) -> pd.DataFrame:
    dev = (series - expected).abs()
    gates = (dev >= min_impact) & (dev >= min_percent / 100.0 * expected.abs()) & (dev > 0)
    width = half_width.where(half_width > 0, np.nan)
    ratio = (dev / width).fillna(0.0)
    return pd.DataFrame(
        {
            "expected": expected,
            "lower": expected - half_width,
            "upper": expected + half_width,
            "score": (ratio / (ratio + 1.0)).clip(0.0, 1.0),
            "is_anomaly": (stat_flag & gates).fillna(False).astype(bool),
        },
        index=series.index,
    )


def day_over_day(
    series: pd.Series, *, percent: float = 50.0, min_impact: float = 100.0, min_percent: float = 0.0
) -> pd.DataFrame:
    """Flag a point that differs from the previous one by more than ``percent`` and the floor.

    >>> s = pd.Series([100.0, 100, 400, 100], index=pd.date_range("2024-01-01", periods=4))
    >>> day_over_day(s)["is_anomaly"].tolist()
    [False, False, True, True]
    """
    expected = series.shift(1)
    half = expected.abs() * percent / 100.0
    stat = (series - expected).abs() > half
    return _frame(series, expected, half, stat, min_impact, max(min_percent, 0.0))


def rolling_mad(
    series: pd.Series,
    *,
    window: int = 28,
    k: float = 3.5,
    min_impact: float = 100.0,
    min_percent: float = 20.0,
) -> pd.DataFrame:
    """Flag a point more than ``k`` robust sigmas (1.4826·MAD) from the trailing median."""
    past = series.shift(1).rolling(window, min_periods=14)
    median = past.median()
    mad = (
        series.shift(1)
        .rolling(window, min_periods=14)
        .apply(lambda w: float(np.median(np.abs(w - np.median(w)))), raw=True)
    )
    half = k * 1.4826 * mad.clip(lower=0.01)
    stat = (series - median).abs() > half
    return _frame(series, median, half, stat, min_impact, min_percent)


def rolling_zscore(
    series: pd.Series,
    *,
    window: int = 28,
    k: float = 3.0,
    min_impact: float = 100.0,
    min_percent: float = 20.0,
) -> pd.DataFrame:
    """Flag a point more than ``k`` standard deviations from the trailing mean."""
    past = series.shift(1).rolling(window, min_periods=14)
    mean, std = past.mean(), past.std()
    half = k * std.clip(lower=0.01)
    stat = (series - mean).abs() > half
    return _frame(series, mean, half, stat, min_impact, min_percent)


BASELINES: dict[str, Callable[..., pd.DataFrame]] = {
    "day_over_day": day_over_day,
    "rolling_mad": rolling_mad,
    "rolling_zscore": rolling_zscore,
}
"""The baselines by name, as the evaluation harness runs them."""
