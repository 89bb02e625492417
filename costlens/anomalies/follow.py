"""A change followed to its end: an event's state once the detector has stopped flagging it.

The detector flags the first days of a change; once it has accepted a new level (a level
shift, a ramp, a new service) it flags nothing more, though the money keeps moving. An event is
therefore followed from its first anomalous day for as long as its change holds
(``events.effect_until``), against its **reference level**: the detector's expected daily cost
over the event's anomalous days, the level before the change. Its state at the last day of data:

* ``ended``: the change no longer holds (the trailing week's mean went back past the midpoint
  between the reference and the changed level), so spend returned towards the level before;
* ``settled``: it holds, and the trailing week's mean has stayed within ``STABLE_BAND`` of the
  excess over the reference for the last ``SETTLE_DAYS`` days: a new level, reported with the
  day it was first reached (``since``);
* ``changing``: it holds and is still moving (a ramp that grows, a drift).

The decision is statistical and made on the detector's floats; the dollars (``total_impact``,
``daily_excess``) are summed exactly by the scan (``scan_amounts.followed_amounts``).

>>> idx = pd.date_range("2024-01-01", periods=40)
>>> shift = pd.Series([10.0] * 10 + [50.0] * 30, index=idx)
>>> f = follow(shift, 10.0, idx[10], idx[-1])
>>> f.state, f.since.day
('settled', 11)
>>> ramp = pd.Series([10.0] * 10 + [10.0 + 5 * i for i in range(30)], index=idx)
>>> follow(ramp, 10.0, idx[11], idx[-1]).state
'changing'
>>> follow(shift, 10.0, idx[10], idx[30]).state
'ended'
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from costlens.anomalies.events import EFFECT_WINDOW

__all__ = ["SETTLE_DAYS", "STABLE_BAND", "STATES", "Followed", "follow"]

SETTLE_DAYS = 14
"""Days the trailing week's mean must stay within ``STABLE_BAND`` for the change to be settled
(two weeks: one weekly cycle is too short to tell a plateau from the top of a ramp)."""
STABLE_BAND = 0.1
"""How far the trailing week's mean may move, as a share of the excess over the reference, and
still count as the same level (10 %: a ramp of 1 % a day leaves it within a fortnight)."""
STATES = ("changing", "settled", "ended")


@dataclass(frozen=True)
class Followed:
    """An event's change at the last day of data."""

    state: str
    """One of ``STATES``."""
    until: pd.Timestamp
    """The last day the change held (the last day of data unless ``ended``)."""
    since: pd.Timestamp | None
    """When ``settled``: the first day of the trailing week that reached the new level."""


def follow(
    series: pd.Series, reference: float, start: pd.Timestamp, held_until: pd.Timestamp
) -> Followed:
    """``series``' change from ``start`` against ``reference`` (dollars a day), held until
    ``held_until`` (``events.effect_until``): its state at the series' last day."""
    index = series.index
    if held_until < index[-1]:
        return Followed("ended", held_until, None)
    values = series.to_numpy(dtype=np.float64)
    first = int(index.searchsorted(start))
    if len(values) - first < SETTLE_DAYS + EFFECT_WINDOW - 1:
        return Followed("changing", held_until, None)
    means = np.convolve(values[first:], np.ones(EFFECT_WINDOW) / EFFECT_WINDOW, mode="valid")
    level = float(means[-1])
    band = STABLE_BAND * abs(level - reference)
    inside = np.abs(means - level) <= band
    stable = int(np.argmin(inside[::-1])) if not inside.all() else len(inside)
    if band == 0 or stable < SETTLE_DAYS:
        return Followed("changing", held_until, None)
    # means[k] is the week ending on point first + k + EFFECT_WINDOW - 1; the first stable one
    # starts on point first + k.
    since = first + len(means) - stable
    return Followed("settled", held_until, pd.Timestamp(index[since]))
