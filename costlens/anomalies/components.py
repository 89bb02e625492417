"""The detector's statistical components, pure functions of arrays: seasonal factors per position
in the cycle, the robust relative noise scale, the month-start fee and the growth test of an
anchored chain (``costlens.anomalies.detect`` composes them)."""

from __future__ import annotations

import math

import numpy as np
import numpy.typing as npt

from costlens.stats import median as _median

__all__ = [
    "cma_ratios",
    "column_medians",
    "month_start_effect",
    "relative_scale",
    "row_ratios",
    "season_factors",
    "still_growing",
    "weekday_and_hour_factors",
]

_FloatArray = npt.NDArray[np.float64]
_MAD_TO_SIGMA = 1.4826 / math.sqrt(2.0)  # median |diff| of iid noise -> its sigma
_SEASON_CYCLES = 6
_MIN_FACTOR = 0.02  # a weekday that costs nothing still divides safely


def column_medians(rows: _FloatArray) -> _FloatArray:
    """``np.median(rows, axis=0)`` of a small 2-d array, without its overhead (same values)."""
    ordered: _FloatArray = np.sort(rows, axis=0)
    half = len(ordered) // 2
    if len(ordered) % 2:
        middle: _FloatArray = ordered[half]
        return middle
    mean: _FloatArray = (ordered[half - 1] + ordered[half]) / 2.0
    return mean


def row_ratios(values: _FloatArray, p: int, brk: int | None = None) -> _FloatArray:
    """Each complete cycle divided by its own mean (a fallback for short histories); the cycle
    holding point ``brk`` (a level change) is NaN."""
    cycles = len(values) // p
    start = len(values) - cycles * p
    rows = values[start:].reshape(cycles, p)
    means = rows.mean(axis=1)
    with np.errstate(divide="ignore", invalid="ignore"):
        out: _FloatArray = np.where(means[:, None] > 0, rows / means[:, None], np.nan)
    if brk is not None and start <= brk < len(values):
        out[(brk - start) // p] = np.nan
    return out


def cma_ratios(values: _FloatArray, p: int, brk: int | None = None) -> _FloatArray:
    """Values divided by their centred moving average over one cycle (classical decomposition).

    The centred average follows a trend or a ramp, so the ratios keep only the seasonality; not
    a step: the ratios whose average spans point ``brk`` (where the level changed) would read
    the step as seasonality (high on one side, low on the other), so they are NaN.
    Returns complete cycles ending ``p // 2`` points before the end, shaped (cycles, p).
    """
    kernel = np.ones(p) / p if p % 2 else np.r_[0.5, np.ones(p - 1), 0.5] / p
    if len(values) < len(kernel) + p:
        return np.empty((0, p))
    cma = np.convolve(values, kernel, mode="valid")
    half = p // 2
    with np.errstate(divide="ignore", invalid="ignore"):
        ratios = np.where(cma > 0, values[half : len(values) - half] / cma, np.nan)
    if brk is not None:  # ratio k is point k + half, its average points k .. k + 2 * half
        ratios[max(0, brk - 2 * half) : max(0, brk + 1)] = np.nan
    cycles = len(ratios) // p
    return ratios[len(ratios) - cycles * p :].reshape(cycles, p)


def season_factors(
    values: _FloatArray, t: int, p: int, old: tuple[_FloatArray, int], brk: int | None = None
) -> tuple[_FloatArray, int]:
    """Factors per absolute position (``i % p``) from the last cycles of ``values`` (ending at t).

    Raw values are used, not cleaned ones, so that a changed weekly pattern is learnt; the median
    over cycles keeps one spike out, and a cycle around ``brk`` (the index in ``values`` where the
    level last changed) is left out. ``old`` is kept when fewer than two cycles are usable.
    Returns the factors and the number of cycles they come from.
    """
    rows = cma_ratios(values, p, brk)
    end = t - p // 2
    if len(rows) < 2:
        rows, end = row_ratios(values, p, brk), t
    rows = rows[-_SEASON_CYCLES:]
    valid = np.isfinite(rows).all(axis=1)
    if valid.sum() < 2:
        return old
    ratios = column_medians(rows[valid])
    level = ratios.mean()
    if not np.isfinite(level) or level <= 0:  # cycles of zero spend: no pattern to learn
        return old
    ratios = np.maximum(ratios / level, _MIN_FACTOR)
    factors = np.empty(p)
    factors[(end - p + np.arange(p)) % p] = ratios
    return factors, int(valid.sum())


def weekday_and_hour_factors(
    values: _FloatArray,
    t: int,
    h0: int,
    old: tuple[_FloatArray, int, _FloatArray, int],
    brk: int | None = None,
) -> tuple[_FloatArray, int, _FloatArray, int]:
    """Hourly data's two seasons from ``values[:t]`` (the series, fees removed; its point 0 at
    hour ``h0`` of its day): a factor per day of the week, from the complete days' totals, and a
    factor per hour of the day, from the last cycles of hours divided by their day's factor.
    A point's factor is their product: ``hour[(i + h0) % 24] * weekday[(i + h0) // 24 % 7]``.
    ``old`` (hour factors, their cycles, weekday factors, theirs) is kept where too few cycles
    are usable; the cycles around point ``brk`` (where the level last changed) are left out.
    Returns the same four."""
    hour, hour_cycles, weekday, weekday_cycles = old
    first = (-h0) % 24  # the first point at midnight
    end = first + max(0, (t - first) // 24) * 24  # the last midnight at or before t
    first = max(first, end - (_SEASON_CYCLES + 1) * 7 * 24)  # the last cycles' days only
    if end > first:
        days = values[first:end].reshape(-1, 24).sum(axis=1)
        day_brk = (brk - first) // 24 if brk is not None and first <= brk < end else None
        weekday, weekday_cycles = season_factors(
            days, (end + h0) // 24, 7, (weekday, weekday_cycles), day_brk
        )
    lo = max(0, t - (_SEASON_CYCLES + 1) * 24)
    day_of = (np.arange(lo, t) + h0) // 24 % 7
    hour, hour_cycles = season_factors(
        values[lo:t] / weekday[day_of], t + h0, 24, (hour, hour_cycles),
        brk - lo if brk is not None and lo <= brk < t else None,
    )  # fmt: skip
    return hour, hour_cycles, weekday, weekday_cycles


def relative_scale(des: _FloatArray) -> float:
    """Robust relative noise of a deseasonalized window, from its day-to-day changes."""
    a, b = des[1:], des[:-1]
    size = np.abs(des)
    denom = (size[1:] + size[:-1]) / 2.0
    ok = denom > 1e-12
    usable = int(np.count_nonzero(ok))
    if usable < 3:
        return math.nan
    if usable == denom.size:  # the usual case: no boolean selection needed
        return _MAD_TO_SIGMA * _median(np.abs(a - b) / denom)
    return _MAD_TO_SIGMA * _median(np.abs(a[ok] - b[ok]) / denom[ok])


def month_start_effect(
    x: _FloatArray,
    clean: _FloatArray,
    factors: _FloatArray,
    starts: list[int],
    t: int,
    rel: float,
    base: float,
) -> float:
    """Extra cost of day 1 learnt from up to three previous month starts (all before ``t``);
    ``base`` is day ``t``'s expectation without it.

    A previous day 1 counts as a fee only when it was significantly (3 sigma) above its
    neighbours. A fee is either a fixed amount or a share of the spend around it (a support plan,
    a percentage of usage): both are estimated (the smaller of two months, or the median of three)
    and the one the months agree on more is used; from one month alone, the larger of the two.
    """
    p = len(factors)
    amounts: list[float] = []
    shares: list[float] = []
    for m in starts[-3:]:
        lo, hi = max(0, m - 3), min(t, m + 4)
        idx = np.array([j for j in range(lo, hi) if j != m])
        if idx.size < 3:
            continue
        normal = _median(clean[idx] / factors[idx % p]) * float(factors[m % p])
        extra = float(x[m]) - normal
        extra = extra if extra > 3.0 * rel * abs(normal) else 0.0
        amounts.append(extra)
        shares.append(extra / normal if normal > 0 else math.nan)
    if not amounts:
        return 0.0
    amount = _typical(amounts)
    if any(math.isnan(v) for v in shares) or base <= 0:
        return amount
    share = _typical(shares) * base
    if len(amounts) == 1:
        return max(amount, share)
    return share if _dispersion(shares) < _dispersion(amounts) else amount


def _typical(values: list[float]) -> float:
    """The smaller of two values, else the median (one fee-less month means no fee)."""
    if len(values) == 2:
        return min(values)
    return float(np.median(values))


def _dispersion(values: list[float]) -> float:
    """Range over mean; infinite when the mean is not positive."""
    mean = sum(values) / len(values)
    return (max(values) - min(values)) / mean if mean > 0 else math.inf


def still_growing(x: _FloatArray, factor_at: _FloatArray, t: int, p: int, rel: float) -> bool:
    """Is the median of the last cycle (deseasonalized) significantly above the cycle before?
    The difference of two medians of ``p`` points has a spread of about ``rel * level *
    sqrt(pi / p)``; twice as much, at least 2 %, is growth."""
    now = _median(x[t + 1 - p : t + 1] / factor_at[t + 1 - p : t + 1])
    before = _median(x[t + 1 - 2 * p : t + 1 - p] / factor_at[t + 1 - 2 * p : t + 1 - p])
    return before > 0 and now - before > max(2.0 * rel * math.sqrt(math.pi / p), 0.02) * before
