"""The cost-anomaly detector: a causal, seasonal, robust baseline with a drift test.

For every point the detector predicts an ``expected`` value from the points before it only:

* **level** - the median of the last cycle (7 days for daily data, a day for finer data) of
  *cleaned*, deseasonalized values inside the current regime;
* **seasonality** - inferred from the series' step: daily data has a weekly season, hourly data a
  daily and a weekly one (a factor per hour of the day times a factor per day of the week, the
  latter from the days' totals), 5-minute (or any step under an hour that divides a day) a daily
  one. A factor is the median over the last 6 cycles of each raw value divided by its centred
  moving average (so a changed pattern is learnt and a trend or ramp does not bias it; before 3
  cycles exist, each value divided by its cycle's mean);
* **month-start effect** (daily data) - on day 1 of a month, the extra cost seen on the previous
  months' day 1 (a support fee, a monthly RI fee), as a fixed amount or as a share of the spend
  around it, whichever the previous months agree on more, is added to the expectation;
* **spread** - a robust scale from the median absolute day-to-day change of the raw
  deseasonalized values over 8 cycles, relative to their level (insensitive to trend and to a
  single outlier, and not shrunk by the replaced outliers of the history), widened for the
  estimation error of the level and of the seasonal factors.

A point is an anomaly when its robust z-score exceeds ``threshold`` *and* it clears both
``min_impact`` (dollars) and ``min_percent`` like AWS Cost Anomaly Detection's thresholds.
Outliers are replaced by their expectation in the history (so one spike does not mask the next);
a decrease is only reported once it lasts ``min_drop_days`` (a one-day credit is benign); after
``adapt_after`` consecutive outliers in one direction the detector accepts the new normal (a
level shift is reported on its first days, then stops). An upward drift is caught by an
acceleration test at three scales: the growth between medians of the last cycle against the
growth two cycles before, and between medians of the last 2 cycles against 4 and against 8 cycles
before (a drift of 0.5 % a day only shows over the longest).

A reported rise is followed while it goes on: for a cycle after each point reported by the
z-score, a point whose rise from the level before the rise (the *anchor*) is significant against
the noise from before, clears ``min_impact`` and keeps half the last reported excess is reported
too, so a drift that shows on its weekends first (a flat extra cost over a weekly pattern) is one
event rather than one a week. A reported step (``adapt_after`` outliers, accepted) ends it.
An upward change that keeps moving without ever being reported (a drift large against its own
series: storage growing from $15 to $400 a day in a month) is a chain of adaptations, each step
too small in dollars to report, after which its own steepness passes for noise. So when the
detector accepts a new level that it never reported, it anchors the level and the noise from
before; while the series keeps growing (the median of its last cycle significantly above the cycle
before, or another adaptation, within the last ``2 * cycle`` points), a point whose rise from the
anchor is significant and clears both gates is reported, with the anchor as its expectation. Once
the series settles, the chain ends and its level is the new normal.

History: no verdict for the first ``min_history`` points (default 14 = two weeks of daily data;
for hourly data two whole weeks, so that the weekly season is known; two days of 5-minute
data); the day-1 effect is learnt from the previous month's day 1; the drift test at its three
scales needs 5, 10 and 18 cycles of history since the last regime change.

This module holds the scoring loop; its options are in ``detector_options``, its resumable state
in ``detector_state``, the index checks and the inferred period in ``time_index`` and the
statistical estimates it composes in ``components``.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pandas as pd

from costlens.anomalies.components import (
    month_start_effect as _month_start_effect,
)
from costlens.anomalies.components import (
    relative_scale as _relative_scale,
)
from costlens.anomalies.components import (
    season_factors as _season_factors,
)
from costlens.anomalies.components import (
    still_growing as _still_growing,
)
from costlens.anomalies.components import (
    weekday_and_hour_factors as _weekday_and_hour_factors,
)
from costlens.anomalies.detector_options import DetectorOptions
from costlens.anomalies.detector_options import parse_options as _parse_options
from costlens.anomalies.detector_state import STATE_ARRAYS as _STATE_ARRAYS
from costlens.anomalies.detector_state import DetectorState
from costlens.anomalies.detector_state import prefix_key as _prefix_key
from costlens.anomalies.time_index import check_regular as _check_regular
from costlens.anomalies.time_index import infer_period
from costlens.anomalies.time_index import is_daily as _is_daily
from costlens.anomalies.time_index import is_hourly as _is_hourly
from costlens.errors import CostlensError
from costlens.stats import median as _median

__all__ = ["COLUMNS", "detect", "detect_from"]

COLUMNS = ("expected", "lower", "upper", "score", "is_anomaly")
"""The columns of every detector's (and baseline's) output, in order."""

_SIGMA_FLOOR_REL = 0.01  # relative noise never assumed below 1 %
_SIGMA_FLOOR_ABS = 0.01  # one cent: a flat-zero series still has a finite scale
_FEE_SLACK = 0.1  # a month-start fee may vary 10 % from month to month
_SEASON_CYCLES = 6
_LONG_DRIFT_SHARE = 0.7  # of drift_threshold, over 8 cycles
_GOES_ON = 0.5  # a reported rise goes on while its excess is half its last reported one
_MEDIAN_VAR = math.pi / 2  # variance of a median of m normal points: (pi/2) sigma^2 / m


def detect(series: pd.Series, **options: Any) -> pd.DataFrame:
    """Flag anomalous points of a regular time series (daily spend first of all).

    Causal: a verdict uses only the point itself and the points before it, so appending data
    never changes past verdicts. Options are the fields of :class:`DetectorOptions`.
    Returns a frame on the same index with the columns ``expected``, ``lower``, ``upper``
    (NaN during the quiet period), ``score`` in [0, 1] (0.5 at the threshold) and ``is_anomaly``.

    >>> s = pd.Series([100.0] * 20 + [900.0], index=pd.date_range("2024-03-04", periods=21))
    >>> detect(s)["is_anomaly"].tolist()[-2:]
    [False, True]
    """
    return _detect(series, _parse_options(options), None, None)[0]


def detect_from(
    series: pd.Series,
    resume: DetectorState | None = None,
    *,
    save_at: int | None = None,
    **options: Any,
) -> tuple[pd.DataFrame, DetectorState | None]:
    """:func:`detect`, resumed from ``resume`` when it was saved on a series whose first
    ``resume.t`` points (values and dates) and options equal this one's (else from the start),
    and saving the state entering point ``save_at`` (None when not reached). The verdicts are
    exactly ``detect``'s: the detector is causal, so the state at ``t`` depends only on the
    points before it.

    >>> s = pd.Series([100.0] * 40 + [900.0], index=pd.date_range("2024-03-04", periods=41))
    >>> _, state = detect_from(s.iloc[:35], save_at=30)
    >>> out, _ = detect_from(s, state)
    >>> out.equals(detect(s))
    True
    """
    return _detect(series, _parse_options(options), resume, save_at)


def _detect(
    series: pd.Series,
    opts: DetectorOptions,
    resume: DetectorState | None,
    save_at: int | None,
) -> tuple[pd.DataFrame, DetectorState | None]:
    if not isinstance(series.index, pd.DatetimeIndex):
        raise CostlensError(
            "detect() needs a series on a DatetimeIndex", fix="index the series by date"
        )
    x = series.to_numpy(dtype=np.float64, na_value=np.nan)
    if np.isnan(x).any():
        raise CostlensError(
            "the series has missing values", fix="fill missing days, e.g. series.fillna(0.0)"
        )
    if not np.isfinite(x).all():
        raise CostlensError(
            "the series has infinite values", fix="replace them, e.g. with series.clip(-1e15, 1e15)"
        )
    index = series.index
    _check_regular(index)
    n = len(x)
    p = opts.period if opts.period is not None else infer_period(index)
    cycle = max(p, 7)
    level_w, scale_w = (p if p > 1 else 7), 8 * cycle
    # (window, span, share of drift_threshold) of the drift test's scales: medians of a cycle two
    # cycles apart, of 2 cycles 4 apart, and 8 apart, where a drift of 0.5 %/day adds up to 0.25
    drift_scales = (
        (cycle, 2 * cycle, 1.0),
        (2 * cycle, 4 * cycle, 1.0),
        (2 * cycle, 8 * cycle, _LONG_DRIFT_SHARE),
    )
    month_starts = (
        np.flatnonzero(np.asarray(index.day) == 1).tolist()
        if opts.month_start and _is_daily(index)
        else []
    )
    is_start = np.zeros(n, dtype=bool)
    is_start[month_starts] = True
    weekly = opts.period is None and _is_hourly(index)  # hourly: a weekday factor times an hour's
    h0 = int(index[0].hour) if weekly else 0
    positions = (np.arange(n) + h0) % p
    day_positions = (np.arange(n) + h0) // 24 % 7
    week, week_cycles = np.ones(7), 1

    expected = np.full(n, np.nan)
    sigma = np.full(n, np.nan)
    score = np.zeros(n)
    flag = np.zeros(n, dtype=bool)
    clean = x.copy()  # history with outliers replaced by their expectation, fees removed
    seasonal = x.copy()  # what the season is learnt from: fees removed, a day 1 within bounds
    fee = np.zeros(n)
    factors, cycles = np.ones(p), 1
    regime = 0  # first point of the current regime (level window never reaches before it)
    drift_from = 0  # first point the drift test may look at
    run, run_dir = 0, 0
    run_level, run_rel, run_reported = 0.0, 0.0, False  # where the current run began
    anchor, anchor_rel, chain_until = 0.0, 0.0, -1  # before an unreported upward chain
    chain_from = -1  # the point a chain opened at with a reported rise
    chain_dev = 0.0  # the excess of its last point reported by the z-score
    chain_gap = 2 * cycle
    k = opts.threshold
    adapt_after = opts.adapt_after if opts.adapt_after is not None else max(5, p // 24)
    pct = opts.min_percent / 100.0

    # Two cycles of the longest season: for hourly data two whole weeks from its first midnight
    quiet = max(14, 2 * p) if not weekly else 2 * 168 + (-h0) % 24
    quiet = opts.min_history if opts.min_history is not None else quiet
    start = quiet
    if (
        resume is not None
        and quiet <= resume.t <= n
        and resume.key == _prefix_key(index, x, opts, resume.t)
    ):
        start = resume.t
        arrays = {name: np.asarray(resume.arrays[name], dtype=np.float64) for name in _STATE_ARRAYS}
        clean[:start], fee[:start] = arrays["clean"], arrays["fee"]
        seasonal[:start] = arrays["seasonal"]
        expected[:start], sigma[:start] = arrays["expected"], arrays["sigma"]
        score[:start], flag[:start] = arrays["score"], arrays["flag"].astype(bool)
        factors = np.asarray(resume.arrays["factors"], dtype=np.float64)
        *saved_week, saved_cycles = resume.arrays["week"]
        week, week_cycles = np.asarray(saved_week, dtype=np.float64), int(saved_cycles)
        cycles, regime, drift_from, run, run_dir = resume.scalars
        run_level, run_rel, reported, anchor, anchor_rel, until, since, chain_dev = resume.arrays[
            "chain"
        ]
        run_reported, chain_until, chain_from = bool(reported), int(until), int(since)
    saved = None
    factor_at = factors[positions] * week[day_positions]  # every point's, refreshed with them
    for t in range(start, n):
        if t == save_at:
            values = {"clean": clean, "seasonal": seasonal, "fee": fee, "expected": expected,
                      "sigma": sigma, "score": score, "flag": flag.astype(np.float64)}  # fmt: skip
            saved = DetectorState(
                t,
                _prefix_key(index, x, opts, t),
                {
                    **{name: values[name][:t].tolist() for name in _STATE_ARRAYS},
                    "factors": factors.tolist(),
                    "week": [*week.tolist(), float(week_cycles)],
                    "chain": [
                        run_level,
                        run_rel,
                        float(run_reported),
                        anchor,
                        anchor_rel,
                        chain_until,
                        chain_from,
                        chain_dev,
                    ],
                },
                (cycles, regime, drift_from, run, run_dir),
            )
        if weekly and ((t + h0) % 24 == 0 or t == quiet):
            factors, cycles, week, week_cycles = _weekday_and_hour_factors(
                seasonal[:t], t, h0, (factors, cycles, week, week_cycles), regime or None
            )
            factor_at = factors[positions] * week[day_positions]
        elif not weekly and p > 1 and (t % p == 0 or t == quiet):
            lo_s = max(0, t - (_SEASON_CYCLES + 1) * p)
            factors, cycles = _season_factors(seasonal[lo_s:t], t, p, (factors, cycles))
            factor_at = factors[positions]
        f_t = float(factor_at[t])
        lo = max(regime, t - level_w)
        level = _median(clean[lo:t] / factor_at[lo:t])
        s_lo = max(regime, t - scale_w) if t - regime >= 8 else max(0, t - scale_w)
        rel = _relative_scale((x[s_lo:t] - fee[s_lo:t]) / factor_at[s_lo:t])
        rel = max(rel, _SIGMA_FLOOR_REL) if not math.isnan(rel) else _SIGMA_FLOOR_REL
        base = level * f_t
        if is_start[t]:
            seen = [m for m in month_starts if m < t - 3]
            fee[t] = _month_start_effect(x, clean, factors, seen, t, rel, base)
        e = base + fee[t]
        # Prediction error = noise + error of the level (median of m points: 1.57 sigma^2 / m)
        # + error of the seasonal factor (median over the cycles).
        n_level = t - lo
        inflate = math.sqrt(1.0 + _MEDIAN_VAR / n_level + (_MEDIAN_VAR / cycles if p > 1 else 0.0))
        s = math.hypot(max(rel * inflate * abs(base), _SIGMA_FLOOR_ABS), _FEE_SLACK * fee[t])
        dev = float(x[t]) - e
        z = dev / s
        outlier = abs(z) > k
        direction = 1 if dev > 0 else -1
        run = run + 1 if outlier and run > 0 and direction == run_dir else int(outlier)
        run_dir = direction if outlier else 0
        if run == 1:
            run_level, run_rel, run_reported = level, rel, False
        gates = abs(dev) >= opts.min_impact and abs(dev) >= pct * abs(e) and dev != 0.0
        flag[t] = outlier and gates and (direction > 0 or run >= opts.min_drop_days)
        expected[t], sigma[t] = e, s
        if flag[t] and direction > 0:  # a reported rise: follow it while it goes on
            if t > chain_until:
                anchor, anchor_rel, chain_from = run_level, run_rel, t
            chain_until, chain_dev = max(chain_until, t + cycle), dev
        if t <= chain_until:
            if (
                chain_from < 0
                and t - regime >= 2 * p
                and _still_growing(x, factor_at, t, p, anchor_rel)
            ):
                chain_until = max(chain_until, t + chain_gap)
            base_anchor = anchor * f_t
            s_anchor = max(anchor_rel * inflate * abs(base_anchor), _SIGMA_FLOOR_ABS)
            dev_anchor = float(x[t]) - base_anchor - fee[t]
            if (
                not flag[t]
                and dev_anchor > k * s_anchor
                and dev_anchor >= opts.min_impact
                and (chain_from < 0 or dev_anchor >= _GOES_ON * chain_dev)
                and (chain_from >= 0 or dev_anchor >= pct * abs(base_anchor + fee[t]))
            ):  # a reported rise goes on while it keeps half its excess, significant and over $
                flag[t], expected[t], sigma[t] = True, base_anchor + fee[t], s_anchor
        run_reported = run_reported or bool(flag[t])
        score[t] = abs(z) / (abs(z) + k)
        clean[t] = (e if outlier else float(x[t])) - fee[t]
        seasonal[t] = float(x[t]) - fee[t]
        if is_start[t] or (weekly and outlier):  # a fee not learnt yet, or an outlying hour
            # (a spike, until a lasting change is accepted), must not bend the season: hourly
            # data's weekday factors come from a few weeks' day totals, which one spike moves
            seasonal[t] = min(max(seasonal[t], base - k * s), base + k * s)
        if run >= adapt_after:  # a persistent change: accept the new normal
            if run_dir > 0 and chain_from > t - run:
                chain_until = -1  # a reported step: the new level is normal from here
            elif run_dir > 0 and t - run < chain_until:
                chain_until = max(chain_until, t + chain_gap)  # the chain goes on
            elif run_dir > 0 and not run_reported:
                anchor, anchor_rel, chain_until = run_level, run_rel, t + chain_gap
                chain_from = -1
            else:
                chain_until = -1
            regime = t - run + 1
            clean[regime : t + 1] = x[regime : t + 1] - fee[regime : t + 1]
            seasonal[regime : t + 1] = clean[regime : t + 1]
            drift_from = max(drift_from, regime)
            run, run_dir = 0, 0
            continue
        if outlier:
            continue
        for drift_w, drift_span, share in drift_scales:
            if t - drift_from + 1 < drift_w + 2 * drift_span:
                continue
            # Drift: has the level's growth over the last span accelerated against the span before?
            window = clean[t + 1 - drift_w - 2 * drift_span : t + 1]
            des = window / factor_at[t + 1 - len(window) : t + 1]
            far = _median(des[:drift_w])
            mid = _median(des[drift_span : drift_span + drift_w])
            now = _median(des[-drift_w:])
            if min(far, mid, now) <= 0:
                continue
            accel = math.log(now) - 2 * math.log(mid) + math.log(far)
            noise = 4.0 * math.sqrt(6.0) * 1.25 * rel / math.sqrt(drift_w)
            needed = max(share * opts.drift_threshold, noise)
            if accel <= needed:
                continue
            e_drift = mid * (mid / far) * f_t + fee[t]
            dev = float(x[t]) - e_drift
            if dev >= opts.min_impact and dev >= pct * abs(e_drift) and now >= (1 + pct) * mid:
                flag[t] = True
                expected[t], sigma[t] = e_drift, max(rel * abs(e_drift), _SIGMA_FLOOR_ABS)
                score[t] = max(score[t], accel / (accel + needed))
                drift_from = t + 1 - drift_w  # report a drift once, then watch from its new level
                break

    frame = pd.DataFrame(
        {
            "expected": expected,
            "lower": expected - k * sigma,
            "upper": expected + k * sigma,
            "score": score,
            "is_anomaly": flag,
        },
        index=index,
    )
    return frame, saved
