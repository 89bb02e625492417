"""Links to the dashboard's views: build them (the weekly digest) and read them back (the app).

A view lives in the address's query parameters (``docs/dashboard.md``, "Links"), so a link can
be shared or bookmarked. ``page_url`` writes one; ``parse_view`` and ``parse_choice`` read one
back, validating every value: a bad one becomes a one-line notice and the default, never an
exception. Pure functions, no Streamlit: the digest CLI imports this module too.
"""

from __future__ import annotations

import re
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from urllib.parse import urlencode

__all__ = [
    "COST_TYPES",
    "PAGE_PATHS",
    "View",
    "default_dates",
    "iso_week",
    "page_url",
    "parse_choice",
    "parse_view",
    "week_param",
]

COST_TYPES = ("unblended", "amortized", "net_amortized")
"""The values of ``cost_type``; the first is the default."""

PAGE_PATHS: dict[str, str] = {
    "overview": "",
    "owners": "owners",
    "scorecards": "scorecards",
    "anomalies": "anomalies",
    "allocation_health": "allocation_health",
    "explore": "explore",
    "reports": "reports",
}
"""Each page's URL path: Streamlit's default, the page file's name (the Overview is the root)."""

_WEEK = re.compile(r"(\d{4})-W(\d{2})")


@dataclass(frozen=True)
class View:
    """What a link chooses for the sidebar (and the Owners page): cost type, dates, owner."""

    cost_type: str
    start: date
    end: date
    owner: str | None = None


def page_url(base: str, page: str, **params: object) -> str:
    """The address of ``page`` (``''`` or ``'overview'`` for the root) with ``params`` as its
    query string; ``None`` values are left out and dates written ISO (``2026-11-30``).

    >>> page_url("http://host:8501/", "owners", owner="payments", week="2026-W47",
    ...          cost_type="amortized")
    'http://host:8501/owners?owner=payments&week=2026-W47&cost_type=amortized'
    >>> page_url("http://host:8501", "overview", start=date(2026, 11, 1), end=None)
    'http://host:8501/?start=2026-11-01'
    >>> page_url("http://host:8501", "", owner="a b&c")
    'http://host:8501/?owner=a+b%26c'
    >>> page_url("http://host:8501", "budgets")
    Traceback (most recent call last):
    ValueError: unknown page 'budgets': use one of overview, owners, scorecards, anomalies, \
allocation_health, explore, reports
    """
    key = page or "overview"
    if key not in PAGE_PATHS:
        raise ValueError(f"unknown page {page!r}: use one of {', '.join(PAGE_PATHS)}")
    query = urlencode({k: _text(v) for k, v in params.items() if v is not None})
    return f"{base.rstrip('/')}/{PAGE_PATHS[key]}" + (f"?{query}" if query else "")


def _text(value: object) -> str:
    return value.isoformat() if isinstance(value, date) else str(value)


def week_param(day: date) -> str:
    """The ``week`` value of the ISO week holding ``day``.

    >>> week_param(date(2026, 11, 18)), week_param(date(2027, 1, 1))
    ('2026-W47', '2026-W53')
    """
    year, week, _ = day.isocalendar()
    return f"{year}-W{week:02d}"


def iso_week(text: str) -> tuple[date, date]:
    """Monday and Sunday of the ISO week ``YYYY-Www``; ``ValueError`` when it is not one.

    >>> iso_week("2026-W47")
    (datetime.date(2026, 11, 16), datetime.date(2026, 11, 22))
    >>> iso_week("2026-W54")
    Traceback (most recent call last):
    ValueError: not an ISO week YYYY-Www
    """
    match = _WEEK.fullmatch(text)
    if match is None:
        raise ValueError("not an ISO week YYYY-Www")
    try:
        monday = date.fromisocalendar(int(match[1]), int(match[2]), 1)
    except ValueError:
        raise ValueError("not an ISO week YYYY-Www") from None
    return monday, monday + timedelta(days=6)


def default_dates(first: date, last: date) -> tuple[date, date]:
    """The dates shown without a link: last month and this one, within the data.

    >>> default_dates(date(2026, 9, 1), date(2026, 11, 30))
    (datetime.date(2026, 10, 1), datetime.date(2026, 11, 30))
    >>> default_dates(date(2026, 11, 10), date(2026, 11, 30))
    (datetime.date(2026, 11, 10), datetime.date(2026, 11, 30))
    """
    previous_month = (last.replace(day=1) - timedelta(days=1)).replace(day=1)
    return max(first, previous_month), last


def _showing_dates(start: date, end: date) -> str:
    if start.year == end.year:
        return f"showing {start:%d %b} – {end:%d %b %Y}"
    return f"showing {start:%d %b %Y} – {end:%d %b %Y}"


def _iso_date(text: str) -> date | None:
    if not re.fullmatch(r"\d{4}-\d{2}-\d{2}", text):
        return None
    try:
        return date.fromisoformat(text)
    except ValueError:
        return None


def parse_choice(
    params: Mapping[str, str],
    name: str,
    options: Sequence[str],
    default: str | None,
    *,
    what: str = "",
    showing: str | None = None,
) -> tuple[str | None, str | None]:
    """The value of parameter ``name`` when it is one of ``options``, else ``default``; and a
    one-line notice when the link's value was not one (``None`` when all is well). ``what``
    names an option in the notice ("owner"); short option lists are spelled out instead.

    >>> parse_choice({"grain": "month"}, "grain", ["day", "week", "month"], "week")
    ('month', None)
    >>> parse_choice({}, "grain", ["day", "week", "month"], "week")
    ('week', None)
    >>> parse_choice({"grain": "year"}, "grain", ["day", "week", "month"], "week")
    ('week', 'Ignored grain=year (not one of day, week, month); showing week.')
    >>> parse_choice({"owner": "nobody"}, "owner", ["payments"], "payments", what="owner")
    ('payments', 'Ignored owner=nobody (no such owner); showing payments.')
    """
    value = params.get(name)
    if value is None or value in options:
        return (value if value is not None else default), None
    why = f"no such {what}" if what else f"not one of {', '.join(options)}"
    shown = showing or (default if default is not None else "the default")
    return default, f"Ignored {name}={value} ({why}); showing {shown}."


def parse_view(
    params: Mapping[str, str],
    *,
    first: date,
    last: date,
    owners: Collection[str] | None = None,
    cost_type: str = COST_TYPES[0],
) -> tuple[View, list[str]]:
    """The view a link's ``params`` choose, within the data's ``first`` and ``last`` days, and
    a one-line notice per value ignored. ``cost_type``; ``start`` and ``end`` (ISO dates, kept
    within the data; either may be left out); or ``week`` (``YYYY-Www``, Monday to Sunday; it
    wins over ``start``/``end``); ``owner``, checked against ``owners`` when they are given.

    >>> first, last = date(2026, 9, 1), date(2026, 11, 30)
    >>> parse_view({}, first=first, last=last)
    (View(cost_type='unblended', start=datetime.date(2026, 10, 1), \
end=datetime.date(2026, 11, 30), owner=None), [])
    >>> view, notes = parse_view({"cost_type": "amortized", "start": "2026-11-03",
    ...     "end": "2026-11-09", "owner": "payments"}, first=first, last=last)
    >>> view.cost_type, f"{view.start} {view.end}", view.owner, notes
    ('amortized', '2026-11-03 2026-11-09', 'payments', [])
    >>> view, notes = parse_view({"week": "2026-W47"}, first=first, last=last)
    >>> f"{view.start} {view.end}", notes
    ('2026-11-16 2026-11-22', [])
    >>> parse_view({"week": "2026-W49"}, first=first, last=last)[0].end  # clipped to the data
    datetime.date(2026, 11, 30)
    >>> parse_view({"start": "2026-13-45"}, first=first, last=last)[1]
    ['Ignored start=2026-13-45 (not a date YYYY-MM-DD); showing 01 Oct – 30 Nov 2026.']
    >>> parse_view({"cost_type": "bogus"}, first=first, last=last)[1]
    ['Ignored cost_type=bogus (not one of unblended, amortized, net_amortized); showing unblended.']
    >>> parse_view({"start": "2026-11-20", "end": "2026-11-10"}, first=first, last=last)[1]
    ['Ignored start=2026-11-20 and end=2026-11-10 (start after end); showing 01 Oct – 30 Nov 2026.']
    >>> parse_view({"start": "2027-01-01"}, first=first, last=last)[1]  # doctest: +ELLIPSIS
    ['Ignored start=2027-01-01 (outside the data, 01 Sep – 30 Nov 2026); showing ...']
    >>> parse_view({"week": "W47"}, first=first, last=last)[1]
    ['Ignored week=W47 (not an ISO week YYYY-Www); showing 01 Oct – 30 Nov 2026.']
    >>> parse_view({"owner": "nobody"}, first=first, last=last, owners={"payments"})
    ... # doctest: +NORMALIZE_WHITESPACE
    (View(cost_type='unblended', start=datetime.date(2026, 10, 1),
          end=datetime.date(2026, 11, 30), owner=None),
     ['Ignored owner=nobody (no such owner); showing all owners.'])
    """
    notices: list[str] = []
    kind, note = parse_choice(params, "cost_type", COST_TYPES, cost_type)
    notices += [note] if note else []
    start, end = _parse_dates(params, first, last, notices)
    owner = params.get("owner")
    if owner is not None and owners is not None and owner not in owners:
        notices.append(f"Ignored owner={owner} (no such owner); showing all owners.")
        owner = None
    return View(cost_type=kind or cost_type, start=start, end=end, owner=owner), notices


def _parse_dates(
    params: Mapping[str, str], first: date, last: date, notices: list[str]
) -> tuple[date, date]:
    default_start, default_end = default_dates(first, last)
    showing = _showing_dates(default_start, default_end)
    if "week" in params:
        text, given = f"week={params['week']}", params["week"]
        try:
            start, end = iso_week(given)
        except ValueError as exc:
            notices.append(f"Ignored {text} ({exc}); {showing}.")
            return default_start, default_end
    elif "start" in params or "end" in params:
        named = [f"{k}={params[k]}" for k in ("start", "end") if k in params]
        text = " and ".join(named)
        parsed = {k: _iso_date(params[k]) for k in ("start", "end") if k in params}
        bad = [f"{k}={params[k]}" for k, v in parsed.items() if v is None]
        if bad:
            notices.append(f"Ignored {' and '.join(bad)} (not a date YYYY-MM-DD); {showing}.")
            return default_start, default_end
        end = parsed.get("end") or default_end
        start = parsed.get("start") or (default_start if default_start <= end else first)
        if start > end and len(parsed) == 2:
            notices.append(f"Ignored {text} (start after end); {showing}.")
            return default_start, default_end
    else:
        return default_start, default_end
    if end < first or start > last:
        data = _showing_dates(first, last).removeprefix("showing ")
        notices.append(f"Ignored {text} (outside the data, {data}); {showing}.")
        return default_start, default_end
    return max(start, first), min(end, last)
