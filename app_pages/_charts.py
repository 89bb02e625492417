"""What every dashboard chart shares, so that none misleads: partial periods marked, month bars
labelled by month, a one-day range drawn as a point on a readable axis, the legend below the plot
(clear of Plotly's toolbar) titled for people, and CSV downloads with human headers.

The pure parts (``period_coverage``, ``partial_note``, ``csv_file_name``) are doctested; the rest
decorate a Plotly figure before ``show`` draws it.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping
from typing import Any

import pandas as pd
import plotly.graph_objects as go
import streamlit as st

__all__ = [
    "CONFIG",
    "PARTIAL_OPACITY",
    "PARTIAL_PATTERN",
    "csv_download",
    "csv_file_name",
    "legend_below",
    "mark_partial",
    "partial_caption",
    "partial_note",
    "period_coverage",
    "period_length",
    "show",
    "time_axis",
]

PARTIAL_PATTERN = "/"
"""The hatching of a bar whose period is only partly inside the data or the chosen dates."""
PARTIAL_OPACITY = 0.55
"""How light such a bar is drawn (a complete period's bar is opaque)."""
CONFIG: dict[str, Any] = {"displaylogo": False, "displayModeBar": "hover"}
"""Plotly's toolbar only on hover (and the legend is below the plot, never under it)."""

_TICKS = {"day": "%d %b", "week": "%d %b", "month": "%b %Y"}
_HOVER = {"day": "%a %d %b %Y", "week": "week of %d %b %Y", "month": "%B %Y"}


def period_length(period: dt.date, grain: str) -> int:
    """Days in the ``grain`` period starting on ``period`` (a day, a Monday, a month's 1st).

    >>> period_length(dt.date(2026, 2, 1), "month"), period_length(dt.date(2026, 7, 27), "week")
    (28, 7)
    """
    if grain == "day":
        return 1
    if grain == "week":
        return 7
    following = (period.replace(day=28) + dt.timedelta(days=4)).replace(day=1)
    return (following - period).days


def period_coverage(
    periods: Iterable[dt.date], grain: str, start: dt.date, end: dt.date
) -> dict[dt.date, tuple[int, int]]:
    """For each period (its first day, as ``queries.spend`` returns it), the days of it inside
    ``start``..``end`` (inclusive: the data's dates within the chosen range) and its length.

    A period whose first number is smaller than its second is partial: its bar holds fewer days
    than the others and would look like a dip.

    >>> weeks = [dt.date(2026, 7, 27), dt.date(2026, 8, 3), dt.date(2026, 11, 30)]
    >>> period_coverage(weeks, "week", dt.date(2026, 8, 1), dt.date(2026, 11, 30))
    {datetime.date(2026, 7, 27): (2, 7), datetime.date(2026, 8, 3): (7, 7), \
datetime.date(2026, 11, 30): (1, 7)}
    >>> nov = dt.date(2026, 11, 1)
    >>> period_coverage([nov], "month", nov, dt.date(2026, 11, 20))
    {datetime.date(2026, 11, 1): (20, 30)}
    >>> day = dt.date(2026, 11, 5)
    >>> period_coverage([day], "day", day, day)
    {datetime.date(2026, 11, 5): (1, 1)}
    """
    coverage: dict[dt.date, tuple[int, int]] = {}
    for period in periods:
        length = period_length(period, grain)
        last = period + dt.timedelta(days=length - 1)
        inside = (min(last, end) - max(period, start)).days + 1
        coverage[period] = (max(inside, 0), length)
    return coverage


def partial_note(covered: int, length: int) -> str:
    """The hover text of a period: ``""`` when complete.

    >>> partial_note(2, 7), partial_note(7, 7)
    ('partial: 2 of 7 days', '')
    """
    return "" if covered >= length else f"partial: {covered} of {length} days"


def _as_date(value: Any) -> dt.date:
    stamp = pd.Timestamp(value)
    return dt.date(stamp.year, stamp.month, stamp.day)


def mark_partial(fig: go.Figure, grain: str, start: dt.date, end: dt.date) -> list[str]:
    """Hatch and lighten the bars of partial periods (a shaded band behind areas and lines),
    with "partial: N of 7 days" on hover; returns the partial periods' notes for a caption."""
    notes: dict[dt.date, str] = {}
    for trace in fig.data:
        xs = [_as_date(x) for x in (trace.x if trace.x is not None else ())]
        coverage = period_coverage(xs, grain, start, end)
        texts = [partial_note(*coverage[x]) for x in xs]
        notes.update({x: t for x, t in zip(xs, texts, strict=True) if t})
        extra = [f" · {t}" if t else "" for t in texts]
        name = trace.name or ""
        hover = (
            f"{name}<br>" if name else ""
        ) + f"%{{x|{_HOVER.get(grain, '%d %b %Y')}}}: $%{{y:,.2f}}%{{customdata}}<extra></extra>"
        trace.update(customdata=extra, hovertemplate=hover)
        if isinstance(trace, go.Bar):
            trace.update(
                marker_pattern_shape=[PARTIAL_PATTERN if t else "" for t in texts],
                marker_opacity=[PARTIAL_OPACITY if t else 1.0 for t in texts],
            )
    if not any(isinstance(t, go.Bar) for t in fig.data):
        for period in notes:
            length = period_length(period, grain)
            fig.add_vrect(
                x0=period,
                x1=period + dt.timedelta(days=length),
                fillcolor="#b8bcc4",
                opacity=0.2,
                line_width=0,
                layer="below",
                annotation_text="partial",
                annotation_position="top left",
            )
    return [
        f"{grain} of {period:%d %b %Y}: {note}" if grain != "month" else f"{period:%B %Y}: {note}"
        for period, note in sorted(notes.items())
    ]


def partial_caption(notes: list[str]) -> str:
    """The caption under a chart with partial periods (``""`` without any).

    >>> partial_caption(["week of 27 Jul 2026: partial: 2 of 7 days"])[:40]
    'Hatched, lighter: a period only partly i'
    """
    if not notes:
        return ""
    return (
        "Hatched, lighter: a period only partly inside the data or the chosen dates, so its "
        "total is smaller than a whole one's — " + "; ".join(notes) + "."
    )


def time_axis(fig: go.Figure, grain: str, start: dt.date, end: dt.date) -> None:
    """Tick labels for ``grain`` (months as "Nov 2026", one tick a month); a one-day range as a
    single point on a day-wide axis (never "23:59:59.999")."""
    axis: dict[str, Any] = {"type": "date", "tickformat": _TICKS.get(grain, "%d %b")}
    if grain == "month":
        axis["dtick"] = "M1"
    shown = _distinct_x(fig)
    if grain == "week":  # on Mondays, as the weeks' bars; at most about 16 labels
        axis.update(tick0="2000-01-03", dtick=7 * 86_400_000 * (1 + len(shown) // 17))
    if start == end or len(shown) == 1:
        only = shown[0] if shown else start
        days = period_length(only, grain)
        axis.update(
            range=[
                f"{only - dt.timedelta(days=days):%Y-%m-%d}",
                f"{only + dt.timedelta(days=days):%Y-%m-%d}",
            ],
            tickvals=[f"{only:%Y-%m-%d}"],
            ticktext=[f"{only:%b %Y}" if grain == "month" else f"{only:%d %b %Y}"],
        )
        axis.pop("dtick", None)
    for trace in fig.data:
        if isinstance(trace, go.Scatter) and (trace.x is None or len(trace.x) <= 1):
            mode = trace.mode or "lines"
            if "markers" not in mode:
                trace.update(mode=f"{mode}+markers")
    fig.update_xaxes(**axis)


def _distinct_x(fig: go.Figure) -> list[dt.date]:
    return sorted({_as_date(x) for t in fig.data for x in (t.x if t.x is not None else ())})


def legend_below(fig: go.Figure, title: str) -> None:
    """The legend under the plot, horizontal, titled ``title`` (a human label)."""
    fig.update_layout(
        legend={
            "orientation": "h",
            "yanchor": "top",
            "y": -0.18,
            "xanchor": "left",
            "x": 0,
            "title": {"text": title},
        },
        margin={"t": 10, "b": 10},
    )


def show(fig: go.Figure, notes: list[str] | None = None) -> None:
    """Draw ``fig`` with the shared config, and the partial periods' caption under it."""
    st.plotly_chart(fig, config=CONFIG)
    caption = partial_caption(notes or [])
    if caption:
        st.caption(caption)


def csv_file_name(what: str, start: dt.date, end: dt.date, *parts: str) -> str:
    """A download's file name saying what it holds and for which dates.

    >>> csv_file_name("spend by service", dt.date(2026, 11, 1), dt.date(2026, 11, 30), "weekly")
    'costlens-spend-by-service-weekly-2026-11-01-to-2026-11-30.csv'
    """
    words = "-".join(w for w in (what, *parts) if w).lower()
    slug = "".join(c if c.isalnum() else "-" for c in words)
    slug = "-".join(p for p in slug.split("-") if p)
    return f"costlens-{slug}-{start:%Y-%m-%d}-to-{end:%Y-%m-%d}.csv"


def csv_download(frame: pd.DataFrame, headers: Mapping[str, str], file_name: str) -> None:
    """A Download CSV button: ``frame`` with its columns renamed to ``headers`` (human labels),
    money written exactly as its ``Decimal`` (never a float)."""
    data = frame[list(headers)].rename(columns=dict(headers)).to_csv(index=False)
    st.download_button(
        "Download CSV",
        data.encode(),
        file_name=file_name,
        mime="text/csv",
        icon=":material/download:",
    )
