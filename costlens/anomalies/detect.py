"""The cost-anomaly detector: a causal, seasonal, robust baseline with a drift test.

For every point the detector predicts an ``expected`` value from the points before it only:

* **level** - the median of the last cycle (7 days for daily data) of *cleaned*, deseasonalized
  values inside the current regime;
* **seasonality** - one factor per position in the cycle (weekday for daily data), the median
  over the last 6 cycles of each raw value divided by its centred moving average (so a changed
  weekly pattern is learnt and a trend or ramp does not bias it; before 3 cycles exist, each
  value divided by its cycle's mean);
* **month-start effect** (daily data) - on day 1 of a month, the extra cost seen on the previous
  months' day 1 (a support fee, a monthly RI fee) is added to the expectation;
* **spread** - a robust scale from the median absolute day-to-day change of the deseasonalized
  values over 8 cycles, relative to their level (insensitive to trend and to a single outlier),
  widened for the estimation error of the level and of the seasonal factors.

A point is an anomaly when its robust z-score exceeds ``threshold`` *and* it clears both
``min_impact`` (dollars) and ``min_percent`` like AWS Cost Anomaly Detection's thresholds.
Outliers are replaced by their expectation in the history (so one spike does not mask the next);
a decrease is only reported once it lasts ``min_drop_days`` (a one-day credit is benign); after
``adapt_after`` consecutive outliers in one direction the detector accepts the new normal (a
level shift is reported on its first days, then stops). An upward slow drift is caught by an
acceleration test that compares the growth of the last 4 cycles against the 4 before.

An upward change that keeps moving (a drift large against its own series: storage growing from
$15 to $400 a day in a month) is a chain of such adaptations, each step too small in dollars to
report, after which its own steepness passes for noise. So when the detector accepts a new level
that it never reported, it remembers the level and the noise from before (the *anchor*); while
the series keeps growing (the median of its last cycle significantly above the cycle before, or
another adaptation, within the last ``2 * cycle`` points), a point whose rise from the anchor
is significant against the anchor's noise and clears both gates is reported, with the anchor as
its expectation. Once the series settles, the chain ends and its level is the new normal.

History: no verdict for the first ``min_history`` points (default 14 = two weeks of daily data,
48 hours for hourly data); the day-1 effect is learnt from the previous month's day 1; the drift
test needs 10 cycles (70 days) of history since the last regime change.
"""

from __future__ import annotations

import hashlib
import json
import math
from dataclasses import dataclass, fields
from typing import Any

import numpy as np
import numpy.typing as npt
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
from costlens.errors import CostlensError
from costlens.stats import median as _median

__all__ = ["COLUMNS", "DetectorOptions", "DetectorState", "detect", "detect_from", "infer_period"]

COLUMNS = ("expected", "lower", "upper", "score", "is_anomaly")
"""The columns of every detector's (and baseline's) output, in order."""

_FloatArray = npt.NDArray[np.float64]
_SIGMA_FLOOR_REL = 0.01  # relative noise never assumed below 1 %
_SIGMA_FLOOR_ABS = 0.01  # one cent: a flat-zero series still has a finite scale
_MAD_TO_SIGMA = 1.4826 / math.sqrt(2.0)  # median |diff| of iid noise -> its sigma
_FEE_SLACK = 0.1  # a month-start fee may vary 10 % from month to month
_SEASON_CYCLES = 6
_MEDIAN_VAR = math.pi / 2  # variance of a median of m normal points: (pi/2) sigma^2 / m
_MIN_FACTOR = 0.02  # a weekday that costs nothing still divides safely
_STATE_VERSION = 2  # saved states of another version are not resumed


@dataclass(frozen=True)
class DetectorOptions:
    """Options of :func:`detect`; every field can be passed to it as a keyword."""

    min_impact: float = 100.0
    """Minimum absolute impact ``|actual - expected|`` of a point, in the series' unit (dollars)."""
    min_percent: float = 20.0
    """Minimum impact as a percentage of the expected value."""
    threshold: float = 5.0
    """Robust z-score (deviation / noise scale) a point must exceed; ``score`` is 0.5 there."""
    min_history: int | None = None
    """Points observed before the first verdict (the quiet period); None: 14, or two cycles when
    that is longer (48 points for hourly data)."""
    period: int | None = None
    """Seasonality period in points; None infers it (7 daily, 24 hourly, else 1 = none)."""
    adapt_after: int = 5
    """Consecutive same-direction outliers after which the new level is accepted as normal."""
    min_drop_days: int = 2
    """Consecutive low points before a decrease is reported (a one-off credit is benign)."""
    drift_threshold: float = 0.3
    """Minimum log-acceleration of the level (4 cycles vs the 4 before) to report a drift."""
    month_start: bool = True
    """Learn the day-1-of-month effect (daily series only)."""

    def __post_init__(self) -> None:
        for name in ("min_history", "adapt_after", "min_drop_days"):
            value = getattr(self, name)
            if value is not None and value < 1:
                raise CostlensError(f"option {name} must be >= 1", fix=f"pass {name}=1 or more")
        if self.period is not None and self.period < 1:
            raise CostlensError("option period must be >= 1", fix="pass period=None to infer it")
        if self.threshold <= 0 or self.min_impact < 0 or self.min_percent < 0:
            raise CostlensError(
                "options threshold must be > 0, min_impact and min_percent >= 0",
                fix="use non-negative thresholds",
            )


def _options(options: dict[str, Any]) -> DetectorOptions:
    valid = {f.name for f in fields(DetectorOptions)}
    unknown = sorted(set(options) - valid)
    if unknown:
        raise CostlensError(
            f"unknown detector option(s) {', '.join(unknown)}",
            fix=f"use one of {', '.join(sorted(valid))}",
        )
    return DetectorOptions(**options)


def _step(index: pd.DatetimeIndex) -> pd.Timedelta:
    """The median spacing of the index (any datetime unit)."""
    return pd.Timedelta(int(np.median(np.diff(index.as_unit("ns").asi8))), unit="ns")


def infer_period(index: pd.DatetimeIndex) -> int:
    """The seasonality period of a regular index: 7 for daily, 24 for hourly, otherwise 1.

    >>> infer_period(pd.date_range("2024-01-01", periods=30, freq="D"))
    7
    >>> infer_period(pd.date_range("2024-01-01", periods=30, freq="W"))
    1
    """
    if len(index) < 3:
        return 1
    step = _step(index)
    if step == pd.Timedelta(days=1):
        return 7
    if step == pd.Timedelta(hours=1):
        return 24
    return 1


def _calendar_freq(index: pd.DatetimeIndex) -> object:
    """The calendar frequency (month starts, business days) pandas infers, or None."""
    with pd.option_context("future.infer_freq_returns_offset", True):
        return pd.infer_freq(index)


def _check_regular(index: pd.DatetimeIndex) -> None:
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


def _is_daily(index: pd.DatetimeIndex) -> bool:
    return len(index) >= 2 and _step(index) == pd.Timedelta(days=1)


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
    return _detect(series, _options(options), None, None)[0]


@dataclass(frozen=True)
class DetectorState:
    """The detector's state entering point ``t`` of a series (see :func:`detect_from`)."""

    t: int
    key: str
    """Hash of the options and of the series' first ``t`` points and dates."""
    arrays: dict[str, list[float]]
    """``clean``, ``fee``, ``expected``, ``sigma``, ``score``, ``flag`` up to ``t``; ``factors``;
    ``chain``: the run's level and whether it was reported, the anchor, its direction and the
    last point its chain lasts to."""
    scalars: tuple[int, int, int, int, int]
    """cycles, regime, drift_from, run, run_dir."""

    def to_json(self) -> str:
        """A JSON text (floats round-trip exactly)."""
        return json.dumps([self.t, self.key, self.arrays, list(self.scalars)])

    @classmethod
    def from_json(cls, text: str) -> DetectorState:
        """The state ``to_json`` wrote."""
        t, key, arrays, scalars = json.loads(text)
        return cls(int(t), str(key), dict(arrays), tuple(int(v) for v in scalars))  # type: ignore[arg-type]


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
    return _detect(series, _options(options), resume, save_at)


def _prefix_key(index: pd.DatetimeIndex, x: _FloatArray, opts: DetectorOptions, t: int) -> str:
    digest = hashlib.sha256(repr([_STATE_VERSION, *sorted(vars(opts).items())]).encode())
    digest.update(np.asarray(index[:t].as_unit("ns").asi8).tobytes())
    digest.update(x[:t].tobytes())
    return f"{t}:{digest.hexdigest()[:32]}"


_STATE_ARRAYS = ("clean", "fee", "expected", "sigma", "score", "flag")


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
    drift_w, drift_span = 2 * cycle, 4 * cycle
    month_starts = (
        np.flatnonzero(np.asarray(index.day) == 1).tolist()
        if opts.month_start and _is_daily(index)
        else []
    )
    is_start = np.zeros(n, dtype=bool)
    is_start[month_starts] = True
    positions = np.arange(n) % p

    expected = np.full(n, np.nan)
    sigma = np.full(n, np.nan)
    score = np.zeros(n)
    flag = np.zeros(n, dtype=bool)
    clean = x.copy()  # history with outliers replaced by their expectation, fees removed
    fee = np.zeros(n)
    factors, cycles = np.ones(p), 1
    regime = 0  # first point of the current regime (level window never reaches before it)
    drift_from = 0  # first point the drift test may look at
    run, run_dir = 0, 0
    run_level, run_rel, run_reported = 0.0, 0.0, False  # where the current run began
    anchor, anchor_rel, chain_until = 0.0, 0.0, -1  # before an unreported upward chain
    chain_gap = 2 * cycle
    k = opts.threshold
    pct = opts.min_percent / 100.0

    quiet = opts.min_history if opts.min_history is not None else max(14, 2 * p)
    start = quiet
    if (
        resume is not None
        and quiet <= resume.t <= n
        and resume.key == _prefix_key(index, x, opts, resume.t)
    ):
        start = resume.t
        arrays = {name: np.asarray(resume.arrays[name], dtype=np.float64) for name in _STATE_ARRAYS}
        clean[:start], fee[:start] = arrays["clean"], arrays["fee"]
        expected[:start], sigma[:start] = arrays["expected"], arrays["sigma"]
        score[:start], flag[:start] = arrays["score"], arrays["flag"].astype(bool)
        factors = np.asarray(resume.arrays["factors"], dtype=np.float64)
        cycles, regime, drift_from, run, run_dir = resume.scalars
        run_level, run_rel, reported, anchor, anchor_rel, until = resume.arrays["chain"]
        run_reported, chain_until = bool(reported), int(until)
    saved = None
    factor_at = factors[positions]  # the factor of every point, refreshed with the factors
    for t in range(start, n):
        if t == save_at:
            values = {"clean": clean, "fee": fee, "expected": expected, "sigma": sigma,
                      "score": score, "flag": flag.astype(np.float64)}  # fmt: skip
            saved = DetectorState(
                t,
                _prefix_key(index, x, opts, t),
                {
                    **{name: values[name][:t].tolist() for name in _STATE_ARRAYS},
                    "factors": factors.tolist(),
                    "chain": [
                        run_level,
                        run_rel,
                        float(run_reported),
                        anchor,
                        anchor_rel,
                        chain_until,
                    ],
                },
                (cycles, regime, drift_from, run, run_dir),
            )
        if p > 1 and (t % p == 0 or t == quiet):
            lo_s = max(0, t - (_SEASON_CYCLES + 1) * p)
            factors, cycles = _season_factors(x[lo_s:t] - fee[lo_s:t], t, p, (factors, cycles))
            factor_at = factors[positions]
        f_t = float(factor_at[t])
        lo = max(regime, t - level_w)
        level = _median(clean[lo:t] / factor_at[lo:t])
        s_lo = max(regime, t - scale_w) if t - regime >= 8 else max(0, t - scale_w)
        rel = _relative_scale(clean[s_lo:t] / factor_at[s_lo:t])
        rel = max(rel, _SIGMA_FLOOR_REL) if not math.isnan(rel) else _SIGMA_FLOOR_REL
        base = level * f_t
        if is_start[t]:
            seen = [m for m in month_starts if m < t - 3]
            fee[t] = _month_start_effect(x, clean, factors, seen, t, rel)
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
        if t <= chain_until:
            if t - regime >= 2 * p and _still_growing(x, factor_at, t, p, anchor_rel):
                chain_until = max(chain_until, t + chain_gap)
            base_anchor = anchor * f_t
            s_anchor = max(anchor_rel * inflate * abs(base_anchor), _SIGMA_FLOOR_ABS)
            dev_anchor = float(x[t]) - base_anchor - fee[t]
            if (
                not flag[t]
                and dev_anchor > k * s_anchor
                and dev_anchor >= opts.min_impact
                and dev_anchor >= pct * abs(base_anchor + fee[t])
            ):
                flag[t], expected[t], sigma[t] = True, base_anchor + fee[t], s_anchor
        run_reported = run_reported or bool(flag[t])
        score[t] = abs(z) / (abs(z) + k)
        clean[t] = (e if outlier else float(x[t])) - fee[t]
        if run >= opts.adapt_after:  # a persistent change: accept the new normal
            if run_dir > 0 and t - run < chain_until:
                chain_until = max(chain_until, t + chain_gap)  # the chain goes on
            elif run_dir > 0 and not run_reported:
                anchor, anchor_rel, chain_until = run_level, run_rel, t + chain_gap
            else:
                chain_until = -1
            regime = t - run + 1
            clean[regime : t + 1] = x[regime : t + 1] - fee[regime : t + 1]
            drift_from = max(drift_from, regime)
            run, run_dir = 0, 0
            continue
        if outlier or t - drift_from + 1 < drift_w + 2 * drift_span:
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
        needed = max(opts.drift_threshold, 4.0 * math.sqrt(6.0) * 1.25 * rel / math.sqrt(drift_w))
        if accel <= needed:
            continue
        e_drift = mid * (mid / far) * f_t + fee[t]
        dev = float(x[t]) - e_drift
        if dev >= opts.min_impact and dev >= pct * abs(e_drift) and now >= (1 + pct) * mid:
            flag[t] = True
            expected[t], sigma[t] = e_drift, max(rel * abs(e_drift), _SIGMA_FLOOR_ABS)
            score[t] = max(score[t], accel / (accel + needed))
            drift_from = t + 1 - drift_w  # report a drift once, then watch from its new level

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
