"""Month-end forecast and budget status."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from costlens.errors import CostlensError
from costlens.forecast import budget_status, forecast_month_end


def _weekday_series(start: str, end: str, weekday: float, weekend: float) -> pd.Series:
    idx = pd.date_range(start, end, freq="D")
    return pd.Series(np.where(np.asarray(idx.day_of_week) >= 5, weekend, weekday), index=idx)


def test_projection_is_weekday_aware() -> None:
    s = _weekday_series("2024-01-01", "2024-03-10", 100.0, 20.0)
    f = forecast_month_end(s)
    march = _weekday_series("2024-03-01", "2024-03-31", 100.0, 20.0)
    assert str(f.month) == "2024-03"
    assert (f.days_elapsed, f.days_remaining) == (10, 21)
    assert f.actual_to_date == pytest.approx(float(s["2024-03"].sum()))
    assert f.projected == pytest.approx(float(march.sum()), rel=0.01)
    assert f.lower <= f.projected <= f.upper


def test_last_day_of_month_is_the_actual_total() -> None:
    s = _weekday_series("2024-01-01", "2024-02-29", 100.0, 50.0)
    f = forecast_month_end(s)
    assert f.days_remaining == 0
    assert f.projected == f.lower == f.upper == pytest.approx(float(s["2024-02"].sum()))


def test_month_start_fee_is_not_projected_onto_other_days() -> None:
    s = _weekday_series("2024-01-01", "2024-04-05", 100.0, 100.0)
    s[s.index.day == 1] += 2000.0
    f = forecast_month_end(s)
    assert f.projected == pytest.approx(30 * 100.0 + 2000.0, rel=0.01)


def _generated(rng: np.random.Generator) -> pd.Series:
    """Benign daily cost: weekends, growth, noise and a month-start fee."""
    n = 200
    idx = pd.date_range("2023-01-01", periods=n, freq="D") + pd.Timedelta(
        days=int(rng.integers(0, 60))
    )
    weekend = rng.uniform(0.5, 1.0)
    growth = rng.uniform(-0.05, 0.2)
    noise = rng.uniform(0.02, 0.08)
    base = 10 ** rng.uniform(2, 4) * (1 + growth) ** (np.arange(n) / 30.4)
    values = base * np.where(np.asarray(idx.day_of_week) >= 5, weekend, 1.0)
    values = values * (1 + noise * rng.standard_normal(n))
    if rng.random() < 0.4:
        values = values + np.where(np.asarray(idx.day) == 1, 2.0 * base, 0.0)
    return pd.Series(values, index=idx)


def test_backtest_error_stays_within_bound() -> None:
    """On generated benign series the month total is within 5 % (MAPE) from day 7 on."""
    rng = np.random.default_rng(2024)
    errors: dict[int, list[float]] = {7: [], 14: [], 21: []}
    covered = []
    for _ in range(25):
        s = _generated(rng)
        for month_start in s.index[
            (s.index.day == 1) & (s.index >= s.index[0] + pd.Timedelta(28, "D"))
        ]:
            last_day = month_start + pd.Timedelta(days=month_start.days_in_month - 1)
            if last_day > s.index[-1]:
                continue
            total = float(s[month_start:last_day].sum())
            for cut in errors:
                f = forecast_month_end(s[: month_start + pd.Timedelta(days=cut - 1)])
                errors[cut].append(abs(f.projected - total) / total)
                covered.append(f.lower <= total <= f.upper)
    mape = {cut: float(np.mean(e)) for cut, e in errors.items()}
    assert len(errors[7]) >= 80
    assert mape[7] < 0.05
    assert mape[14] < 0.03
    assert mape[21] < 0.02
    assert mape[21] < mape[7]
    assert 0.8 <= float(np.mean(covered)) <= 0.99  # the nominal 90 % interval


@pytest.mark.parametrize(
    ("projected", "lower", "upper", "budget", "status"),
    [
        (880.0, 850.0, 999.0, 1000.0, "on track"),
        (880.0, 850.0, 1000.0, 1000.0, "on track"),  # the upper end exactly at the budget
        (880.0, 850.0, 1000.01, 1000.0, "at risk"),
        (899.99, 899.99, 899.99, 1000.0, "on track"),  # a complete month: no interval
        (900.0, 900.0, 900.0, 1000.0, "at risk"),  # ... at 90 % of the budget
        (1000.0, 950.0, 1050.0, 1000.0, "at risk"),  # the projection exactly at the budget
        (1000.01, 950.0, 1050.0, 1000.0, "over"),
        (10.0, 10.0, 10.0, 0.0, "over"),
    ],
)
def test_budget_status_thresholds(
    projected: float, lower: float, upper: float, budget: float, status: str
) -> None:
    assert budget_status(projected, lower, upper, budget) == status


def test_budget_status_rejects_nonsense() -> None:
    with pytest.raises(CostlensError, match="negative"):
        budget_status(10.0, 5.0, 15.0, -1.0)
    with pytest.raises(CostlensError, match="does not contain"):
        budget_status(20.0, 5.0, 15.0, 100.0)


def test_forecast_refuses_a_series_without_dates() -> None:
    with pytest.raises(CostlensError, match="DatetimeIndex"):
        forecast_month_end(pd.Series([1.0, 2.0]))


def test_forecast_refuses_repeated_dates_and_fills_missing_days_with_zero() -> None:
    repeated = pd.DatetimeIndex(["2024-11-01", "2024-11-01", "2024-11-03"])
    with pytest.raises(CostlensError, match=r"repeats dates.*groupby"):
        forecast_month_end(pd.Series([100.0, 100.0, 100.0], index=repeated))
    gappy = pd.Series(100.0, index=pd.DatetimeIndex(["2024-11-01", "2024-11-03"]))
    f = forecast_month_end(gappy)  # 2 November cost nothing
    assert (f.days_elapsed, f.actual_to_date, f.days_remaining) == (3, 200.0, 27)


def test_spend_on_scattered_days_has_no_weekly_pattern() -> None:
    """An owner billed on a few scattered days: every weekday's median ratio is zero, so there is
    no weekly pattern to learn, and the projection stays finite (no divide-by-zero)."""
    import warnings

    idx = pd.date_range("2024-03-01", "2024-04-20", freq="D")
    values = np.where(np.arange(len(idx)) % 10 == 3, 700.0, 0.0)
    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)
        f = forecast_month_end(pd.Series(values, index=idx))
    assert np.isfinite([f.projected, f.lower, f.upper]).all()
    assert f.actual_to_date == 1400.0  # April 4 and 14
