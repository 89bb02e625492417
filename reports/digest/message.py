"""The digest as an email: subject, plain text, HTML (inline CSS, no remote resources, no
JavaScript), assembled as ``multipart/alternative``.

The 8-week chart is pure HTML/CSS bars (table cells with a width), not an inline PNG: it needs no
image library, shows in clients that block images by default (Outlook, Gmail's first view), has
no attachment a client may list separately, and its figures stay readable as text. Every value
that came from data (owner names, microservices, tag values, root causes) is ``html.escape``d;
header values have CR/LF replaced before they reach ``email.headerregistry``.
"""

from __future__ import annotations

import datetime as dt
import html
import re
from collections.abc import Sequence
from decimal import ROUND_HALF_UP, Decimal
from email.headerregistry import Address
from email.message import EmailMessage
from email.policy import SMTP
from email.utils import format_datetime

from costlens.links import page_url
from reports.digest.figures import LeadershipDigest, OwnerDigest, change_percent

__all__ = [
    "build_message",
    "change_colour",
    "one_line",
    "render_html",
    "render_text",
    "subject",
]

GREEN, AMBER, RED = "#1a7f37", "#b26b00", "#c0262d"


def one_line(text: str) -> str:
    """``text`` safe for a header: CR, LF and other control characters become spaces.

    >>> one_line("Pay\\r\\nBcc: x@evil")
    'Pay  Bcc: x@evil'
    """
    return re.sub(r"[\x00-\x1f\x7f]", " ", text)


def dollars(value: Decimal, cents: bool = True) -> str:
    """``$12,340.10`` (or ``$12,340``), negative as ``-$5.00``.

    >>> dollars(Decimal("12340.104")), dollars(Decimal("-5"), cents=False)
    ('$12,340.10', '-$5')
    """
    q = value.quantize(Decimal("0.01") if cents else Decimal("1"), rounding=ROUND_HALF_UP)
    text = f"{abs(q):,.2f}" if cents else f"{abs(q):,.0f}"
    return ("-$" if q < 0 else "$") + text


def percent(value: Decimal | None) -> str:
    """``+8.2 %``, ``-3.0 %`` or ``new`` (no previous spend).

    >>> percent(Decimal("8.2")), percent(None)
    ('+8.2 %', 'new')
    """
    return "new" if value is None else f"{value:+.1f} %"


def change_colour(value: Decimal | None) -> str:
    """Green at or below 0 %, amber above 0 %, red above 20 % (new spend is red).

    >>> change_colour(Decimal("0")) == GREEN, change_colour(Decimal("0.1")) == AMBER
    (True, True)
    >>> change_colour(Decimal("20.1")) == RED
    True
    """
    if value is None:
        return RED
    if value <= 0:
        return GREEN
    return AMBER if value <= 20 else RED


def subject(d: OwnerDigest | LeadershipDigest) -> str:
    """``costlens · Payments · week 2026-W47: $12,340 (+8.2 %)``."""
    if isinstance(d, OwnerDigest):
        name, total, pct = d.display_name, d.total, d.percent
    else:
        name, total, pct = "all owners", d.total, change_percent(d.previous, d.total)
    return one_line(f"costlens · {name} · week {d.week}: {dollars(total, False)} ({percent(pct)})")


def _e(value: object) -> str:
    return html.escape(str(value), quote=True)


_TD = "padding:4px 8px;border-bottom:1px solid #e5e5e5;"
_NUM = _TD + "text-align:right;white-space:nowrap;"


def _change_td(pct: Decimal | None) -> str:
    return f'<td style="{_NUM}color:{change_colour(pct)};font-weight:bold">{_e(percent(pct))}</td>'


def _page(title: str, body: str) -> str:
    return (
        '<!DOCTYPE html><html lang="en"><head><meta charset="utf-8">'
        f"<title>{_e(title)}</title></head>"
        '<body style="margin:0;padding:16px;background:#f6f6f6;font-family:Arial,Helvetica,'
        'sans-serif;color:#222;font-size:14px">'
        '<div style="max-width:720px;margin:0 auto;background:#fff;padding:16px 24px">'
        f"{body}"
        '<p style="color:#777;font-size:12px">Sent by costlens. All figures from the published '
        "snapshot; budgets, forecasts and savings are in amortized cost.</p></div></body></html>"
    )


def _h2(text: str) -> str:
    return f'<h2 style="font-size:16px;margin:20px 0 8px">{_e(text)}</h2>'


def _chart(d: OwnerDigest) -> str:
    top = max((v for _, v in d.weekly), default=Decimal(0)) or Decimal(1)
    rows = []
    for week, value in d.weekly:
        width = max(int(value / top * 100), 0)
        colour = "#2f6fba" if week == d.week else "#9db9dc"
        rows.append(
            f'<tr><td style="{_TD}white-space:nowrap">{_e(week)}</td>'
            f'<td style="{_TD}width:100%"><div style="background:{colour};height:14px;'
            f'width:{width}%"></div></td><td style="{_NUM}">{_e(dollars(value, False))}</td></tr>'
        )
    return _table("".join(rows), chart=True)


def _table(rows: str, head: Sequence[str] = (), chart: bool = False) -> str:
    th = "".join(f'<th style="{_TD}text-align:left;background:#f0f0f0">{_e(h)}</th>' for h in head)
    label = ' role="img" aria-label="spend of the last 8 weeks"' if chart else ""
    return (
        f'<table{label} style="border-collapse:collapse;width:100%" cellpadding="0" '
        f'cellspacing="0">{f"<tr>{th}</tr>" if th else ""}{rows}</table>'
    )


def plan_line(d: OwnerDigest) -> str:
    """The month to date against budget and forecast, each with the day it is as of."""
    spent = dollars(d.month_to_date or Decimal(0))
    line = f"{d.billing_period:%B %Y} through {d.through:%d %b}: {spent}"
    if d.budget is not None:
        status = f" ({d.budget_status})" if d.budget_status else ""
        line += f" of a {dollars(d.budget)} budget{status}"
    if d.projected is not None:
        line += (
            f"; forecast {dollars(d.projected)} (interval {dollars(d.lower or Decimal(0))} to "
            f"{dollars(d.upper or Decimal(0))}, on data through {d.forecast_through:%d %b})"
        )
    return line


def render_html(d: OwnerDigest, dashboard_url: str) -> str:
    """The owner's digest as a complete HTML document."""
    link = page_url(
        dashboard_url, "owners", owner=d.owner, cost_type=d.cost_type, week=str(d.week),
        start=d.week.start.isoformat(), end=d.week.end.isoformat(),
    )  # fmt: skip
    parts = [
        f'<h1 style="font-size:20px;margin:0 0 4px">{_e(d.display_name)} · week {_e(d.week)}</h1>',
        f'<p style="color:#555;margin:0 0 12px">{_e(d.week.start)} to {_e(d.week.end)}, '
        f"{_e(d.cost_type)} cost (the dashboard's default)</p>",
        f'<p style="font-size:24px;margin:8px 0"><b>{_e(dollars(d.total))}</b></p>',
        _table(
            f'<tr><td style="{_TD}">Previous week ({_e(d.week.shift(-1))})</td>'
            f'<td style="{_NUM}">{_e(dollars(d.previous))}</td>{_change_td(d.percent)}</tr>'
            f'<tr><td style="{_TD}">Four weeks earlier ({_e(d.week.shift(-4))})</td>'
            f'<td style="{_NUM}">{_e(dollars(d.four_weeks_ago))}</td>'
            f"{_change_td(d.percent_four_weeks)}</tr>"
        ),
    ]
    if d.month_to_date is not None:
        parts += [
            _h2(f"Month to date ({d.plan_cost_type} cost)"),
            f"<p>{_e(plan_line(d))}</p>",
        ]
    parts += [_h2("Last 8 weeks"), _chart(d), _h2("By account and region")]
    parts.append(
        _table(
            "".join(
                f'<tr><td style="{_TD}">{_e(r.account_name)} ({_e(r.account_id)})</td>'
                f'<td style="{_TD}">{_e(r.region)}</td>'
                f'<td style="{_NUM}">{_e(dollars(r.previous))}</td>'
                f'<td style="{_NUM}">{_e(dollars(r.current))}</td>{_change_td(r.percent)}</tr>'
                for r in d.table
            ),
            ("Account", "Region", str(d.week.shift(-1)), str(d.week), "Change"),
        )
    )
    if d.movers:
        parts += [_h2("Top movers by microservice")]
        parts.append(
            _table(
                "".join(
                    f'<tr><td style="{_TD}">{_e(m.microservice)}</td>'
                    f'<td style="{_NUM}">{_e(dollars(m.delta))}</td>{_change_td(m.percent)}</tr>'
                    for m in d.movers
                ),
                ("Microservice", "Change ($)", "Change (%)"),
            )
        )
    parts.append(_h2("Anomalies"))
    if d.anomalies:
        rows = []
        for a in d.anomalies:
            href = page_url(dashboard_url, "anomalies", owner=d.owner, anomaly=a.anomaly_id)
            state = "new" if a.new else "ongoing" if a.ongoing else "continued"
            rows.append(
                f'<tr><td style="{_TD}"><a href="{_e(href)}">{_e(a.dimension)} {_e(a.value)}</a>'
                f" ({_e(state)}, since {_e(a.start_date)})</td>"
                f'<td style="{_NUM}">{_e(dollars(a.impact))}</td>'
                f'<td style="{_TD}">{_e(a.root_cause)}'
                + (f"<br>{_e(a.followed)}" if a.followed else "")
                + "</td></tr>"
            )
        parts.append(_table("".join(rows), ("Anomaly", "Impact", "Root cause")))
    else:
        parts.append("<p>No anomaly this week.</p>")
    if d.grade is not None:
        was = f" (was {d.previous_grade})" if d.previous_grade else ""
        card = page_url(dashboard_url, "scorecards", owner=d.owner)
        parts += [
            _h2("Scorecard"),
            f"<p>Grade <b>{_e(d.grade)}</b>{_e(was)}; savings left "
            f"{_e(dollars(d.potential_savings or Decimal(0)))} a month "
            f'({_e(d.plan_cost_type)}). <a href="{_e(card)}">Scorecard</a></p>',
        ]
        if d.actions:
            items = "".join(f"<li>{_e(a['text'])}</li>" for a in d.actions)
            parts.append(f"<ol>{items}</ol>")
    parts.append(f'<p><a href="{_e(link)}">Open {_e(d.display_name)} in the dashboard</a></p>')
    return _page(subject(d), "".join(parts))


def render_text(d: OwnerDigest, dashboard_url: str) -> str:
    """The owner's digest as plain text (the same figures as the HTML)."""
    out = [
        f"{d.display_name} · week {d.week} ({d.week.start} to {d.week.end}), {d.cost_type} cost",
        "",
        f"Week total: {dollars(d.total)}",
        f"Previous week ({d.week.shift(-1)}): {dollars(d.previous)} ({percent(d.percent)})",
        f"Four weeks earlier ({d.week.shift(-4)}): {dollars(d.four_weeks_ago)} "
        f"({percent(d.percent_four_weeks)})",
    ]
    if d.month_to_date is not None:
        out.append(f"Month to date ({d.plan_cost_type}): {plan_line(d)}")
    out += ["", "Last 8 weeks:"]
    out += [f"  {w}  {dollars(v)}" for w, v in d.weekly]
    out += ["", "By account and region (previous week, this week, change):"]
    out += [
        f"  {r.account_name} ({r.account_id}) {r.region}: {dollars(r.previous)} -> "
        f"{dollars(r.current)} ({percent(r.percent)})"
        for r in d.table
    ]
    if d.movers:
        out += ["", "Top movers by microservice:"]
        out += [f"  {m.microservice}: {dollars(m.delta)} ({percent(m.percent)})" for m in d.movers]
    out += ["", "Anomalies:"]
    for a in d.anomalies:
        href = page_url(dashboard_url, "anomalies", owner=d.owner, anomaly=a.anomaly_id)
        out.append(
            f"  {a.dimension} {a.value} ({'new' if a.new else 'ongoing'}, since {a.start_date}): "
            f"impact {dollars(a.impact)}; root cause {a.root_cause}; "
            + (f"{a.followed} " if a.followed else "")
            + href
        )
    if not d.anomalies:
        out.append("  none this week")
    if d.grade is not None:
        was = f" (was {d.previous_grade})" if d.previous_grade else ""
        out += [
            "",
            f"Scorecard grade {d.grade}{was}; savings left "
            f"{dollars(d.potential_savings or Decimal(0))} a month ({d.plan_cost_type})",
        ]
        out += [f"  {i}. {a['text']}" for i, a in enumerate(d.actions, 1)]
    link = page_url(dashboard_url, "owners", owner=d.owner, week=str(d.week))
    out += ["", f"Dashboard: {link}", ""]
    return "\n".join(out)


def render_leadership_html(d: LeadershipDigest, dashboard_url: str) -> str:
    """The all-owners ranking as HTML."""
    rows = "".join(
        f'<tr><td style="{_TD}"><a href="'
        f'{_e(page_url(dashboard_url, "owners", owner=r.owner, week=str(d.week)))}">'
        f'{_e(r.display_name)}</a></td><td style="{_NUM}">{_e(dollars(r.total))}</td>'
        f'{_change_td(r.percent)}<td style="{_TD}">{_e(r.budget_status or "")}</td>'
        f'<td style="{_NUM}">{_e(dollars(r.potential_savings or Decimal(0)))}</td></tr>'
        for r in d.rows
    )
    body = (
        f'<h1 style="font-size:20px">All owners · week {_e(d.week)}</h1>'
        f"<p>{_e(d.cost_type)} cost; budget status and savings in {_e(d.plan_cost_type)} cost. "
        f"Total {_e(dollars(d.total))} ({_e(percent(change_percent(d.previous, d.total)))})</p>"
        + _table(rows, ("Owner", "Week", "Change", "Budget", "Savings left"))
    )
    return _page(subject(d), body)


def render_leadership_text(d: LeadershipDigest, dashboard_url: str) -> str:
    """The all-owners ranking as plain text."""
    out = [f"All owners · week {d.week}, {d.cost_type} cost; total {dollars(d.total)}", ""]
    out += [
        f"{i}. {r.display_name}: {dollars(r.total)} ({percent(r.percent)}), budget "
        f"{r.budget_status or '-'}, savings left {dollars(r.potential_savings or Decimal(0))}"
        for i, r in enumerate(d.rows, 1)
    ]
    out += ["", f"Dashboard: {page_url(dashboard_url, 'owners', week=str(d.week))}", ""]
    return "\n".join(out)


def _address(text: str, name: str = "") -> Address:
    return Address(display_name=one_line(name), addr_spec=one_line(text).strip())


def build_message(
    *,
    subject_line: str,
    text: str,
    html_body: str,
    sender: str,
    recipients: Sequence[str],
    message_id: str,
    date: dt.datetime,
    references: str | None = None,
    unsubscribe: str | None = None,
    owner_name: str = "",
) -> EmailMessage:
    """A ``multipart/alternative`` message (text first, HTML preferred) with safe headers."""
    msg = EmailMessage(policy=SMTP)
    msg["Subject"] = one_line(subject_line)
    msg["From"] = _address(sender, "costlens")
    msg["To"] = tuple(_address(r, owner_name) for r in recipients)
    msg["Date"] = format_datetime(date)
    msg["Message-ID"] = one_line(message_id)
    if references:
        msg["References"] = one_line(references)
        msg["In-Reply-To"] = one_line(references)
    if unsubscribe:
        target = unsubscribe if ":" in unsubscribe else f"mailto:{unsubscribe}"
        msg["List-Unsubscribe"] = f"<{one_line(target)}>"
    msg["Auto-Submitted"] = "auto-generated"
    msg.set_content(text, subtype="plain", charset="utf-8")
    msg.add_alternative(html_body, subtype="html", charset="utf-8")
    return msg
