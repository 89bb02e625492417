"""Labelled daily cost series for the anomaly and forecast evaluations.

Every series starts on the 1st of a month (a CUR export starts at a billing period) and has a
scale drawn log-uniformly from $50 to $50k a day, multiplicative Gaussian noise (2-10 %) and a
random mix of benign patterns: weekends (weekend days at 50-95 % of weekdays), steady growth
(-5 % to +20 % a month), a month-start fee (0.5-4 days of spend on day 1, fixed or following the
spend) and one-day credits (a 50-200 % of a day negative amount, the bill can go negative).

Each series has one kind (``none`` for benign only, or an anomaly kind) and its labels:

* ``spike``: 1-3 spikes of 1-3 days, +60 % to +400 % of the day's cost;
* ``level_shift``: a permanent step of x1.5-x3 up or x0.3-x0.6 down;
* ``drift``: extra cost growing linearly over 21-42 days to +60-150 %, then staying;
* ``ramp``: a new service ramping from 0 to 50-300 % of the base in 5-21 days (half of them on
  a series that was exactly zero before);
* ``drop_to_zero``: the cost falls to 0 (or a 1-5 % residue) and stays there.

A label's window is where a detector should alert: the spike's days; for a persistent change
its first 14 days (a ramp or drift: the growth phase plus 7 days).

Those ranges are the ``classic`` :class:`Profile`. :data:`SETTINGS` holds the others the
evaluation reports one by one (``anomaly_eval.py --by-setting``), each moving one range to where
real bills also go: small ($30-$300 a day) and large ($1.5k-$15k) series, more noise, strong
weekends, fast growth, large month-start fees, slow (0.5-1.5 % a day) and fast (1.5-3 % a day)
drifts, new series (45-90 days of history) and one-day gaps (1-4 days at $0, as the scan reads
a day without line items).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

KINDS = ("none", "spike", "level_shift", "drift", "ramp", "drop_to_zero")
_KIND_WEIGHTS = (0.25, 0.15, 0.15, 0.15, 0.15, 0.15)


@dataclass(frozen=True)
class Profile:
    """The ranges a series' patterns are drawn from (uniform; the scale log-uniform)."""

    scale: tuple[float, float] = (50.0, 50_000.0)
    """Dollars a day."""
    noise: tuple[float, float] = (0.02, 0.10)
    weekend: tuple[float, float] = (0.5, 0.95)
    """Weekend days' share of a weekday's cost (when the series has weekends, 60 %)."""
    growth: tuple[float, float] = (-0.05, 0.20)
    """A month's growth (when the series grows, 50 %)."""
    fee_days: tuple[float, float] = (0.5, 4.0)
    """A month-start fee in days of spend (when the series has one, 40 %)."""
    drift_per_day: tuple[float, float] | None = None
    """A drift's growth per day in fractions of the base; None: +60-150 % over 21-42 days."""
    days: tuple[int, int] = (150, 300)
    gaps: tuple[int, int] = (0, 0)
    """One-day gaps (a day without line items, which the scan reads as $0) per series, outside
    the label windows; benign (a one-day drop is not reported)."""


CLASSIC = Profile()
SETTINGS: dict[str, Profile] = {
    "classic": CLASSIC,
    "small series": Profile(scale=(30.0, 300.0)),
    "large series": Profile(scale=(1_500.0, 15_000.0)),
    "noisy (10-15 %)": Profile(noise=(0.10, 0.15)),
    "strong weekends": Profile(weekend=(0.25, 0.5)),
    "fast growth": Profile(growth=(0.2, 0.5)),
    "large fees": Profile(fee_days=(4.0, 10.0)),
    "slow drifts": Profile(drift_per_day=(0.005, 0.015)),
    "fast drifts": Profile(drift_per_day=(0.015, 0.03)),
    "new series": Profile(days=(45, 90)),
    "gaps (1-day zeros)": Profile(gaps=(1, 4)),
}
"""The generator settings of the evaluation's by-setting table; each differs from ``classic`` in
one range."""


@dataclass(frozen=True)
class Label:
    """One injected anomaly."""

    kind: str
    start: int
    """Index of its first day."""
    end: int
    """Index of the last day of its alert window (inclusive)."""
    daily_impact: float
    """Largest absolute daily excess over the alert window, in dollars."""
    total_impact: float
    """Sum of absolute daily excess over the alert window, in dollars."""


@dataclass
class LabelledSeries:
    """A generated series, its kind, labels and the benign patterns it contains."""

    series: pd.Series
    kind: str
    labels: list[Label] = field(default_factory=list)
    benign: list[str] = field(default_factory=list)
    scale: float = 0.0


def _benign(
    rng: np.random.Generator, idx: pd.DatetimeIndex, profile: Profile
) -> tuple[np.ndarray, list[str]]:
    n = len(idx)
    t = np.arange(n)
    patterns: list[str] = []
    curve = np.ones(n)
    if rng.random() < 0.6:
        weekend = rng.uniform(*profile.weekend)
        curve = curve * np.where(np.asarray(idx.day_of_week) >= 5, weekend, 1.0)
        patterns.append("weekends")
    if rng.random() < 0.5:
        monthly = rng.uniform(*profile.growth)
        curve = curve * (1.0 + monthly) ** (t / 30.4)
        patterns.append("growth")
    return curve, patterns


def _with_excess(labels: list[Label], excess: np.ndarray) -> list[Label]:
    """The labels with their largest and total absolute excess over their windows."""
    return [
        Label(
            lab.kind,
            lab.start,
            lab.end,
            float(excess[lab.start : lab.end + 1].max()),
            float(excess[lab.start : lab.end + 1].sum()),
        )
        for lab in labels
    ]


def _spikes(
    rng: np.random.Generator,
    factor: np.ndarray,
    candidates: np.ndarray,
    *,
    apart: int,
    length: tuple[int, int],
    rise: tuple[float, float],
    once: bool = True,
) -> list[Label]:
    """1-3 spikes multiplied into ``factor`` at points drawn from ``candidates`` (each at most
    once when ``once``), at least ``apart`` points after the one before, ``length`` points long
    (high exclusive), rising by ``rise`` (a share of the point's cost). Returns their labels."""
    starts = sorted(rng.choice(candidates, size=int(rng.integers(1, 4)), replace=not once))
    labels, last = [], -(10 * apart)
    for s in starts:
        if s - last < apart:
            continue
        points = int(rng.integers(*length))
        factor[s : s + points] *= 1.0 + rng.uniform(*rise)
        labels.append(Label("spike", int(s), int(s) + points - 1, 0.0, 0.0))
        last = s + points
    return labels


def generate(
    rng: np.random.Generator, kind: str | None = None, profile: Profile = CLASSIC
) -> LabelledSeries:
    """One labelled series; ``kind`` is drawn from :data:`KINDS` when not given."""
    if kind is None:
        kind = str(rng.choice(KINDS, p=_KIND_WEIGHTS))
    n = int(rng.integers(profile.days[0], profile.days[1] + 1))
    first = pd.Timestamp("2023-01-01") + pd.DateOffset(months=int(rng.integers(0, 24)))
    idx = pd.date_range(first, periods=n, freq="D")
    low, high = profile.scale
    scale = float(np.exp(rng.uniform(np.log(low), np.log(high))))
    noise = rng.uniform(*profile.noise)
    curve, benign = _benign(rng, idx, profile)
    base = scale * curve  # expected cost without anomalies, fees or credits
    extra = np.zeros(n)  # anomaly excess (dollars), before noise
    factor = np.ones(n)  # multiplicative anomaly effect
    labels: list[Label] = []
    zero_before = False
    early, late = (45, 90) if n >= 150 else (n // 3, n // 3)  # a new series: a third in
    start = int(rng.integers(early, max(early + 1, n - 30)))
    if kind == "drift":
        start = int(rng.integers(late, max(late + 1, n - 50)))
    if kind == "spike":
        labels = _spikes(
            rng, factor, np.arange(30, n - 5), apart=10, length=(1, 4), rise=(0.6, 4.0)
        )
    elif kind == "level_shift":
        step = rng.uniform(1.5, 3.0) if rng.random() < 0.6 else rng.uniform(0.3, 0.6)
        factor[start:] *= step
        labels.append(Label(kind, start, min(n - 1, start + 13), 0.0, 0.0))
    elif kind == "drift":
        length, size = int(rng.integers(21, 43)), rng.uniform(0.6, 1.5)
        if profile.drift_per_day is not None:  # a rate: as long as it takes to reach +60-150 %
            rate = rng.uniform(*profile.drift_per_day)
            length = max(14, min(n - start - 1, int(size / rate)))
            size = rate * length
        growth = np.clip((np.arange(n) - start + 1) / length, 0.0, 1.0)
        extra += size * base[start] * growth
        labels.append(Label(kind, start, min(n - 1, start + length + 7), 0.0, 0.0))
    elif kind == "ramp":
        length, size = int(rng.integers(5, 22)), rng.uniform(0.5, 3.0)
        zero_before = rng.random() < 0.5
        ramp = np.clip((np.arange(n) - start + 1) / length, 0.0, 1.0)
        extra += size * scale * ramp * curve
        if zero_before:
            factor[:] = 0.0
        labels.append(Label(kind, start, min(n - 1, start + length + 7), 0.0, 0.0))
    elif kind == "drop_to_zero":
        factor[start:] = 0.0 if rng.random() < 0.5 else rng.uniform(0.01, 0.05)
        labels.append(Label(kind, start, min(n - 1, start + 13), 0.0, 0.0))

    fee = np.zeros(n)
    if rng.random() < 0.4 and not zero_before:
        days_of_spend = rng.uniform(*profile.fee_days)
        follows = rng.random() < 0.5
        for m in np.flatnonzero(np.asarray(idx.day) == 1):
            ref = base[max(0, m - 30) : m].mean() if follows and m > 0 else scale
            fee[m] = days_of_spend * ref * (factor[m] > 0.2)
        benign.append("month_start_fee")
    credits = np.zeros(n)
    if rng.random() < 0.3 and not zero_before:
        for d in rng.choice(np.arange(20, n), size=int(rng.integers(1, 4)), replace=False):
            credits[d] = -rng.uniform(0.5, 2.0) * scale
        benign.append("credits")

    clean_cost = base * factor + extra
    noisy = clean_cost * (1.0 + noise * rng.standard_normal(n))
    noisy = np.maximum(noisy, 0.0)
    values = noisy + fee + credits
    normal = base + fee + credits  # the counterfactual without the anomaly
    if zero_before:
        normal = np.zeros(n)
    excess = np.abs(clean_cost + fee + credits - normal)
    labels = _with_excess(labels, excess)
    if profile.gaps[1] > 0:  # drawn last, so every other setting's series are unchanged
        labelled = np.zeros(n, dtype=bool)
        for lab in labels:
            labelled[max(0, lab.start - 3) : lab.end + 4] = True
        free = np.flatnonzero(~labelled[20:]) + 20
        count = min(len(free), int(rng.integers(profile.gaps[0], profile.gaps[1] + 1)))
        values[rng.choice(free, size=count, replace=False)] = 0.0
        benign.append("gaps")
    series = pd.Series(np.round(values, 2), index=idx, name="cost")
    return LabelledSeries(series, kind, labels, benign, scale)


def generate_many(
    seeds: list[int], per_seed: int, profile: Profile = CLASSIC
) -> list[LabelledSeries]:
    """``per_seed`` series for every seed (each seed its own generator)."""
    out = []
    for seed in seeds:
        rng = np.random.default_rng(seed)
        out.extend(generate(rng, profile=profile) for _ in range(per_seed))
    return out


HOURLY_KINDS = ("none", "spike", "level_shift", "runaway", "drop_to_zero")
_HOURLY_WEIGHTS = (0.3, 0.2, 0.15, 0.2, 0.15)


def generate_hourly(rng: np.random.Generator, kind: str | None = None) -> LabelledSeries:
    """One labelled hourly series of 4-8 weeks (the hourly variant of :func:`generate`).

    Its benign patterns: office hours (8:00-19:00 at 1.5-3x the night, half the series), weekends
    (50-95 % of a weekday, 60 %), growth (-5 % to +20 % a month, half) and 3-15 % noise an hour;
    scale $50-$50k a day. Kinds: ``spike`` (1-3 spikes of 1-6 hours, +100-400 %),
    ``level_shift`` (x1.5-3 up or x0.3-0.6 down), ``runaway`` (a resource left running: a flat
    extra of 30-300 % of the hour's base, day and night) and ``drop_to_zero``. Every anomaly
    starts after the first 15 days (the detector's two weeks of quiet); a persistent change's
    label window is its first 24 hours. ``daily_impact`` is the largest hourly excess.
    """
    if kind is None:
        kind = str(rng.choice(HOURLY_KINDS, p=_HOURLY_WEIGHTS))
    days = int(rng.integers(28, 57))
    n = 24 * days
    first = pd.Timestamp("2024-01-01") + pd.Timedelta(days=int(rng.integers(0, 700)))
    idx = pd.date_range(first, periods=n, freq="h")
    scale = float(np.exp(rng.uniform(np.log(50.0), np.log(50_000.0)))) / 24.0
    hours, weekday = np.asarray(idx.hour), np.asarray(idx.day_of_week)
    curve = np.ones(n)
    benign: list[str] = []
    if rng.random() < 0.5:
        curve = curve * np.where((hours >= 8) & (hours < 19), rng.uniform(1.5, 3.0), 1.0)
        benign.append("office_hours")
    if rng.random() < 0.6:
        curve = curve * np.where(weekday >= 5, rng.uniform(0.5, 0.95), 1.0)
        benign.append("weekends")
    if rng.random() < 0.5:
        curve = curve * (1.0 + rng.uniform(-0.05, 0.20)) ** (np.arange(n) / (24 * 30.4))
        benign.append("growth")
    base = scale * curve
    factor, extra = np.ones(n), np.zeros(n)
    labels: list[Label] = []
    start = int(rng.integers(24 * 15, n - 24))
    if kind == "spike":
        candidates = np.arange(24 * 15, n - 6)
        labels = _spikes(
            rng, factor, candidates, apart=48, length=(1, 7), rise=(1.0, 4.0), once=False
        )
    elif kind == "level_shift":
        factor[start:] *= rng.uniform(1.5, 3.0) if rng.random() < 0.6 else rng.uniform(0.3, 0.6)
        labels.append(Label(kind, start, min(n - 1, start + 23), 0.0, 0.0))
    elif kind == "runaway":
        extra[start:] = rng.uniform(0.3, 3.0) * float(base[start - 24 * 7 : start].mean())
        labels.append(Label(kind, start, min(n - 1, start + 23), 0.0, 0.0))
    elif kind == "drop_to_zero":
        factor[start:] = 0.0
        labels.append(Label(kind, start, min(n - 1, start + 23), 0.0, 0.0))
    clean_cost = base * factor + extra
    noise = rng.uniform(0.03, 0.15)
    values = np.maximum(clean_cost * (1.0 + noise * rng.standard_normal(n)), 0.0)
    excess = np.abs(clean_cost - base)
    labels = _with_excess(labels, excess)
    series = pd.Series(np.round(values, 4), index=idx, name="cost")
    return LabelledSeries(series, kind, labels, benign, scale)
