"""Turn per-point verdicts into anomaly events: one alert per incident, not one per day.

Anomalous points separated by at most ``max_gap`` normal points belong to one event, so a level
shift, a multi-day spike or a new-service ramp is a single event with its start, its end (None
while it is ongoing), the actual and expected cost over its anomalous points and their difference.
``effect_until`` tells how long the change an event saw lasted after its last anomalous point (the
detector stops flagging a level shift once it accepts the new level; the cost stays moved).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

__all__ = ["AnomalyEvent", "effect_until", "find_events", "join_held"]


@dataclass(frozen=True)
class AnomalyEvent:
    """One anomaly incident."""

    start: pd.Timestamp
    """First anomalous point."""
    last_seen: pd.Timestamp
    """Last anomalous point."""
    end: pd.Timestamp | None
    """Last anomalous point once the event is over; None while it is ongoing."""
    actual: float
    """Sum of the series over the event's anomalous points."""
    expected: float
    """Sum of the detector's expectation over the same points."""
    max_score: float
    """Highest score in the event."""
    points: int
    """Number of anomalous points."""

    @property
    def ongoing(self) -> bool:
        """True while the series has not been normal for more than ``max_gap`` points since."""
        return self.end is None

    @property
    def impact(self) -> float:
        """Actual minus expected cost (negative for a decrease)."""
        return self.actual - self.expected

    @property
    def impact_percent(self) -> float:
        """Impact as a percentage of the expected cost (inf when nothing was expected)."""
        if self.expected == 0:
            return float("inf") if self.impact else 0.0
        return 100.0 * self.impact / abs(self.expected)

    @property
    def direction(self) -> str:
        """``"increase"`` or ``"decrease"``."""
        return "increase" if self.impact >= 0 else "decrease"


def find_events(
    series: pd.Series, verdicts: pd.DataFrame, *, max_gap: int = 3
) -> list[AnomalyEvent]:
    """Group the anomalous points of ``verdicts`` (the output of ``detect``) into events.

    An event is ongoing while at most ``max_gap`` points follow its last anomalous point.

    >>> idx = pd.date_range("2024-01-01", periods=7)
    >>> s = pd.Series([10.0, 50, 60, 10, 10, 10, 10], index=idx)
    >>> v = pd.DataFrame({"expected": 10.0, "is_anomaly": [0, 1, 1, 0, 0, 0, 0]}, index=idx)
    >>> [(e.start.day, e.end.day if e.end else None, e.impact) for e in find_events(s, v)]
    [(2, 3, 90.0)]
    >>> find_events(s.iloc[:5], v.iloc[:5])[0].ongoing  # the next day could still belong to it
    True
    """
    flags = verdicts["is_anomaly"].to_numpy(dtype=bool)
    hits = np.flatnonzero(flags)
    if hits.size == 0:
        return []
    actual = series.to_numpy(dtype=np.float64)
    expected = verdicts["expected"].to_numpy(dtype=np.float64)
    scores = (
        verdicts["score"].to_numpy(dtype=np.float64) if "score" in verdicts else np.ones(len(flags))
    )
    breaks = np.flatnonzero(np.diff(hits) > max_gap + 1)
    groups = np.split(hits, breaks + 1)
    index = series.index
    n = len(flags)
    events = []
    for group in groups:
        first, last = int(group[0]), int(group[-1])
        ongoing = n - 1 - last <= max_gap  # a next anomaly could still join it
        events.append(
            AnomalyEvent(
                start=pd.Timestamp(index[first]),
                last_seen=pd.Timestamp(index[last]),
                end=None if ongoing else pd.Timestamp(index[last]),
                actual=float(actual[group].sum()),
                expected=float(expected[group].sum()),
                max_score=float(scores[group].max()),
                points=len(group),
            )
        )
    return events


EFFECT_WINDOW = 7
"""Points of the trailing mean ``effect_until`` follows (a week of daily data: weekends cancel)."""


def effect_until(
    series: pd.Series, event: AnomalyEvent, *, window: int = EFFECT_WINDOW
) -> pd.Timestamp:
    """The last point at which ``event``'s change still holds: from its last anomalous point on,
    while the mean of the last ``window`` points (none before the event's start) stays on
    the event's side of the midpoint between its expected and its actual mean level. A spike
    ends within a few points of its last anomalous one; a level shift, a ramp or a drift holds
    to the end of the series.

    >>> idx = pd.date_range("2024-01-01", periods=12)
    >>> shift = pd.Series([10.0] * 4 + [50.0] * 8, index=idx)
    >>> e = AnomalyEvent(idx[4], idx[5], idx[5], 100.0, 20.0, 1.0, 2)
    >>> effect_until(shift, e).day
    12
    >>> spike = pd.Series([10.0] * 4 + [50.0] * 2 + [10.0] * 6, index=idx)
    >>> effect_until(spike, e).day
    8
    """
    if event.points == 0:
        return event.last_seen
    midpoint = (event.actual + event.expected) / (2.0 * event.points)
    sign = 1.0 if event.impact >= 0 else -1.0
    index = series.index
    values = series.to_numpy(dtype=np.float64)
    first = int(index.searchsorted(event.start))
    held = int(index.searchsorted(event.last_seen))
    for t in range(held + 1, len(values)):
        trailing = values[max(first, t + 1 - window) : t + 1]
        if sign * (float(trailing.mean()) - midpoint) < 0:
            break
        held = t
    return pd.Timestamp(index[held])


def join_held(
    series: pd.Series, events: list[AnomalyEvent], *, window: int, max_gap: int, relearn: int = 0
) -> list[AnomalyEvent]:
    """``events`` (in order of their start; rises and falls may be grouped apart) with each
    event that belongs to the previous one's change joined to it: one change, one event.

    An event in the same direction belongs to it when it starts at most ``max_gap`` points after
    that change stopped holding (``effect_until`` over ``window`` points). One in the other
    direction belongs to it when it starts within ``max_gap`` points of the previous event's last
    flag (as ``find_events`` groups flags), or within ``relearn`` points of it while the change
    held throughout it and for ``max_gap`` points after, or to the end of the series (a return to
    the old level ends the hold within hours, so it stays an event of its own; so does a later
    spike). A runaway resource's flat extra cost is a larger share of the quiet hours than of the
    busy ones, so an hourly detector with a multiplicative season flags it again on the following
    nights, and flags the busy hours of the new level low until it has learnt them: those flags
    are the same change still holding. Whether the change holds, its direction and its cost
    (``actual``, ``expected``, ``points``) are those of its same-direction events only; the
    others only extend it in time.

    >>> idx = pd.date_range("2024-01-01", periods=12, freq="h")
    >>> s = pd.Series([1.0] * 3 + [5.0] * 9, index=idx)
    >>> a = AnomalyEvent(idx[3], idx[4], idx[4], 10.0, 2.0, 0.9, 2)
    >>> b = AnomalyEvent(idx[9], idx[9], None, 5.0, 1.0, 0.8, 1)
    >>> [(e.start.hour, e.last_seen.hour, e.points, e.ongoing) for e in join_held(s, [a, b],
    ...  window=4, max_gap=2)]
    [(3, 9, 3, True)]
    """
    out: list[AnomalyEvent] = []
    core: list[AnomalyEvent] = []  # per joined event, its change: its same-direction events
    index = series.index
    for event in events:
        if out:
            change = core[-1]
            held = int(index.searchsorted(effect_until(series, change, window=window)))
            start, last = (int(index.searchsorted(t)) for t in (event.start, event.last_seen))
            same_way = (change.impact >= 0) == (event.impact >= 0)
            if same_way:
                joins = start <= held + max_gap + 1
            else:  # the model erring the other way on the new level, the change held throughout
                since = start - int(index.searchsorted(out[-1].last_seen))
                joins = since <= max_gap + 1 or (
                    since <= relearn and held >= min(last + max_gap, len(index) - 1)
                )
            if joins:
                out[-1] = _joined(out[-1], event, money=same_way)
                if same_way:
                    core[-1] = _joined(change, event)
                continue
        out.append(event)
        core.append(event)
    return out


def _joined(first: AnomalyEvent, then: AnomalyEvent, *, money: bool = True) -> AnomalyEvent:
    """``first`` extended to ``then``'s points; with ``money``, its cost and points added too."""
    last = max(first.last_seen, then.last_seen)
    ongoing = first.end is None or then.end is None
    return AnomalyEvent(
        start=first.start,
        last_seen=last,
        end=None if ongoing else last,
        actual=first.actual + then.actual if money else first.actual,
        expected=first.expected + then.expected if money else first.expected,
        max_score=max(first.max_score, then.max_score),
        points=first.points + then.points if money else first.points,
    )
