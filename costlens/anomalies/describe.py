"""Root-cause drivers in words a business owner reads.

A driver value that is empty is named for what it means (a charge with no region is global, one
with no usage type or resource has none), and the combined driver
``service_code/account_id/region/usage_type`` reads as its four values.

>>> describe_driver("region", "")
'Region: (global)'
>>> describe_driver("service_code/account_id/region/usage_type",
...                 "AWSLambda/210987654301/us-east-1/Request")
'AWSLambda · 210987654301 · us-east-1 · Request'
>>> describe_driver("usage_type", "")
'Usage type: (none)'
>>> describe_headline("resource_id", "table/sessions", Decimal("1640.004"), Decimal("2001.12"))
'Resource: table/sessions: +$1,640.00 of +$2,001.12 (82 %)'
"""

from __future__ import annotations

import datetime as dt
from decimal import ROUND_HALF_UP, Decimal

from costlens.anomalies.driver_ranking import COMBINATION, COMBINED
from costlens.anomalies.follow import STATES
from costlens.schema import DIMENSION_LABELS

__all__ = [
    "DRIVER_LABELS",
    "describe_driver",
    "describe_followed",
    "describe_headline",
    "describe_hourly",
    "signed_dollars",
]

DRIVER_LABELS: dict[str, str] = {
    **DIMENSION_LABELS,
    "resource_id": "Resource",
    COMBINATION: "Service · account · region · usage type",
}
"""How a driver dimension is named for people."""


def _value(dimension: str, value: str) -> str:
    if value:
        return value
    return "(global)" if dimension == "region" else "(none)"


def describe_driver(dimension: str, value: str) -> str:
    """One driver (a ``dimension`` and ``value`` of a root cause) as a short readable label."""
    if dimension == COMBINATION:
        parts = value.split("/", len(COMBINED) - 1)
        if len(parts) == len(COMBINED):
            return " · ".join(_value(d, v) for d, v in zip(COMBINED, parts, strict=True))
    return f"{DRIVER_LABELS.get(dimension, dimension)}: {_value(dimension, value)}"


def signed_dollars(value: Decimal) -> str:
    """A change in dollars with its sign, to the cent (half up).

    >>> signed_dollars(Decimal("-1234.565")), signed_dollars(Decimal("0"))
    ('-$1,234.57', '+$0.00')
    """
    cents = Decimal(value).quantize(Decimal("0.01"), rounding=ROUND_HALF_UP)
    return f"{'-' if cents < 0 else '+'}${abs(cents):,.2f}"


def describe_headline(dimension: str, value: str, delta: Decimal, impact: Decimal) -> str:
    """The headline root cause: the driver, its contribution and the impact it is part of, with
    the share it explains."""
    share = f" ({float(delta) / float(impact):.0%})".replace("%", " %") if impact else ""
    return (
        f"{describe_driver(dimension, value)}: {signed_dollars(delta)} of "
        f"{signed_dollars(impact)}{share}"
    )


def describe_followed(
    state: object,
    since: dt.date | None,
    start: dt.date,
    until: dt.date,
    total: Decimal | None,
    excess: Decimal | None,
) -> str | None:
    """An event's change followed to its end (``follow_state`` and its figures) in a sentence;
    None for a snapshot that does not follow events.

    >>> d = dt.date
    >>> describe_followed("settled", d(2026, 10, 30), d(2026, 10, 22), d(2026, 11, 30),
    ...                   Decimal("17201.789"), Decimal("502.01"))
    'New level since 30 Oct 2026, +$502.01/day: +$17,201.79 since 22 Oct 2026.'
    >>> describe_followed("ended", None, d(2026, 11, 8), d(2026, 11, 11), Decimal("1714.06"), None)
    'Ended: back near the level before after 11 Nov 2026; +$1,714.06 in all.'
    """
    if state not in STATES or total is None:
        return None
    if state == "ended":
        back = f"Ended: back near the level before after {until:%d %b %Y}"
        return f"{back}; {signed_dollars(total)} in all."
    per_day = f"{signed_dollars(excess)}/day" if excess is not None else "a new level"
    so_far = f"{signed_dollars(total)} since {start:%d %b %Y}"
    if state == "settled" and since is not None:
        return f"New level since {since:%d %b %Y}, {per_day}: {so_far}."
    return f"Still changing, {per_day} over the level before in the last week: {so_far}."


def describe_hourly(started_at: dt.datetime, impact: Decimal) -> str:
    """An hourly event (``[anomalies] grain = "hour"``) in a sentence: when the hourly scan
    first flagged it and its excess so far.

    >>> describe_hourly(dt.datetime(2024, 2, 3, 14), Decimal("36.071"))
    "First flagged by the hourly scan at 14:00 on 03 Feb 2024, +$36.07 over the expected cost in \
the flagged hours; the daily scan follows a lasting change once a day's total shows it."
    """
    return (
        f"First flagged by the hourly scan at {started_at:%H:%M on %d %b %Y}, "
        f"{signed_dollars(impact)} over the expected cost in the flagged hours; the daily scan "
        "follows a lasting change once a day's total shows it."
    )
