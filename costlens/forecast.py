"""Month-end projection of a daily cost series and its budget status.

The projection is the month-to-date actual cost plus, for every remaining day, a weekday-aware
expectation: a robust recent level (median of the last 14 deseasonalized days, month-start days
left out since their fee does not recur before next month), a weekday factor (median over the
last 8 weeks of each day divided by its centred 7-day mean) and the growth of the last 28 days
against the 28 before, damped by half. The interval combines day-to-day noise with the error of
the level and of the growth, widened by an empirically calibrated factor (see
``benchmarks/forecast_eval.py``: about 90 % of generated month totals fall inside the 90 %
interval).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from statistics import NormalDist
from typing import Literal

import numpy as np
import numpy.typing as npt
import pandas as pd
from numpy.lib.stride_tricks import sliding_window_view

from costlens.errors import CostlensError
from costlens.stats import median as _median

__all__ = [
    "AT_RISK_SHARE",
    "BudgetStatus",
    "MonthEndForecast",
    "budget_status",
    "forecast_month_end",
]

BudgetStatus = Literal["on track", "at risk", "over"]

_LEVEL_DAYS = 14
_SEASON_WEEKS = 8
_GROWTH_DAYS = 28
_GROWTH_DAMPING = 0.5
_MAX_DAILY_GROWTH = 0.03
_CALIBRATION = 1.6  # model error beyond noise (level changes, fee drift), from the backtest
_MEDIAN_VAR = math.pi / 2


@dataclass(frozen=True)
class MonthEndForecast:
    """The projected total of the month the series ends in."""

    month: pd.Period
    actual_to_date: float
    """Cost of the month's days observed so far."""
    projected: float
    """Projected month total (actual to date + expected remaining days)."""
    lower: float
    upper: float
    """Interval for the month total at the requested probability."""
    days_elapsed: int
    days_remaining: int


def _weekday_factors(
    values: npt.NDArray[np.float64], dow: npt.NDArray[np.int64]
) -> npt.NDArray[np.float64]:
    """Seven factors indexed by day of week (Monday = 0), mean 1, from the last weeks of daily
    ``values`` (``dow`` their days of week); ones without 3 weeks of data."""
    values, dow = values[-7 * (_SEASON_WEEKS + 1) :], dow[-7 * (_SEASON_WEEKS + 1) :]
    if len(values) < 21:
        return np.ones(7)
    cma = sliding_window_view(values, 7).mean(axis=1)  # centred: day i is in window i - 3
    middle, middle_dow = values[3:-3], dow[3:-3]
    usable = cma > 0
    if np.count_nonzero(usable) < 14:
        return np.ones(7)
    ratios, ratio_dow = middle[usable] / cma[usable], middle_dow[usable]
    factors = np.array([_median(ratios[ratio_dow == d]) for d in range(7)])
    factors[np.isnan(factors)] = 1.0
    level = factors.mean()
    if not np.isfinite(level) or level <= 0:  # spend on scattered days only: no weekly pattern
        return np.ones(7)
    normalized: npt.NDArray[np.float64] = np.maximum(factors / level, 0.02)
    return normalized


def forecast_month_end(series: pd.Series, *, interval: float = 0.9) -> MonthEndForecast:
    """Project the total of the month of the series' last day, with an ``interval`` range.

    ``series`` is daily cost on a daily DatetimeIndex: history plus the month to date; the
    last point is the latest complete day.

    >>> idx = pd.date_range("2024-03-01", "2024-04-10", freq="D")
    >>> f = forecast_month_end(pd.Series(100.0, index=idx))
    >>> (str(f.month), f.actual_to_date, round(f.projected), f.days_remaining)
    ('2024-04', 1000.0, 3000, 20)
    """
    if not isinstance(series.index, pd.DatetimeIndex) or len(series) == 0:
        raise CostlensError(
            "forecast_month_end() needs a non-empty daily series on a DatetimeIndex",
            fix="index the daily cost by date",
        )
    if not 0 < interval < 1:
        raise CostlensError(f"interval {interval} is not a probability", fix="pass e.g. 0.9")
    if series.index.has_duplicates:
        raise CostlensError(
            "the series repeats dates", fix="add up each day's cost: series.groupby(level=0).sum()"
        )
    s = series.astype("float64")
    first, last = pd.Timestamp(s.index[0]), pd.Timestamp(s.index[-1])
    if not s.index.is_monotonic_increasing or len(s) != (last - first).days + 1:
        # a missing day cost nothing
        s = s.asfreq("D", fill_value=0.0)
    values = np.asarray(s.to_numpy(), dtype=np.float64)
    month = last.to_period("M")
    day_of_month = np.asarray(pd.DatetimeIndex(s.index).day)
    dow = (last.day_of_week - np.arange(len(values))[::-1]) % 7  # Monday = 0
    elapsed = min(last.day, len(values))
    actual = float(values[len(values) - elapsed :].sum())
    remaining = month.days_in_month - last.day
    if remaining == 0:
        return MonthEndForecast(month, actual, actual, actual, actual, elapsed, 0)

    factors = _weekday_factors(values, dow)
    des = (values / factors[dow])[day_of_month != 1]  # day 1 carries month-start fees
    recent = des[-_LEVEL_DAYS:]
    level = _median(recent)
    diffs = np.abs(np.diff(des[-2 * _GROWTH_DAYS :]))
    scale = max(abs(level), 1e-9)
    noise = _median(diffs) * 1.4826 / math.sqrt(2) / scale if len(diffs) >= 3 else 0.25
    growth, growth_var = 0.0, 0.0
    if len(des) >= 2 * _GROWTH_DAYS:
        now = _median(des[-_GROWTH_DAYS:])
        before = _median(des[-2 * _GROWTH_DAYS : -_GROWTH_DAYS])
        if now > 0 and before > 0:
            raw = math.log(now / before) / _GROWTH_DAYS
            growth = _GROWTH_DAMPING * max(-_MAX_DAILY_GROWTH, min(_MAX_DAILY_GROWTH, raw))
            growth_var = 2 * _MEDIAN_VAR * noise**2 / _GROWTH_DAYS / _GROWTH_DAYS**2

    lag = (len(recent) + 1) / 2.0  # the median sits this many days before the cut-off
    ahead = np.arange(1, remaining + 1) + lag
    daily = level * factors[(last.day_of_week + np.arange(1, remaining + 1)) % 7]
    daily = daily * np.exp(growth * ahead)
    rest = float(daily.sum())
    level_var = _MEDIAN_VAR * noise**2 / max(len(recent), 1)
    var = float(np.sum((noise * daily) ** 2))
    var += rest**2 * level_var + float(np.sum(daily * ahead)) ** 2 * growth_var
    sd = _CALIBRATION * math.sqrt(var)
    z = NormalDist().inv_cdf(0.5 + interval / 2)
    projected = actual + rest
    return MonthEndForecast(
        month=month,
        actual_to_date=actual,
        projected=projected,
        lower=projected - z * sd,
        upper=projected + z * sd,
        days_elapsed=elapsed,
        days_remaining=remaining,
    )


AT_RISK_SHARE = 0.9
"""A projection at or above this share of the budget is "at risk" even when its interval stays
within it (AWS Budgets' alerts are commonly set at 80–90 % of a budget)."""


def budget_status(projected: float, lower: float, upper: float, budget: float) -> BudgetStatus:
    """Classify a month-end projection against a budget.

    ``"over"`` when the projection itself exceeds the budget (more likely than not);
    ``"at risk"`` when only the interval's upper end does (plausible), or when the projection
    reaches ``AT_RISK_SHARE`` (90 %) of the budget: a complete month has no interval, and an
    owner who spent 97 % of the budget is not simply on track;
    ``"on track"`` otherwise.
    ``lower`` is accepted for symmetry and validated, not used by the rule.

    >>> budget_status(850.0, 800.0, 950.0, 1000.0)
    'on track'
    >>> budget_status(850.0, 800.0, 1100.0, 1000.0), budget_status(970.0, 970.0, 970.0, 1000.0)
    ('at risk', 'at risk')
    >>> budget_status(1050.0, 980.0, 1120.0, 1000.0)
    'over'
    """
    if budget < 0:
        raise CostlensError(f"budget {budget} is negative", fix="set a budget of 0 or more")
    if not lower <= projected <= upper:
        raise CostlensError(
            f"interval [{lower}, {upper}] does not contain the projection {projected}",
            fix="pass the forecast's projected, lower and upper as returned",
        )
    if projected > budget:
        return "over"
    if upper > budget or projected >= AT_RISK_SHARE * budget:
        return "at risk"
    return "on track"
