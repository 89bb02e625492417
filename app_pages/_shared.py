"""What every dashboard page shares: settings, the open snapshot, the sidebar, money.

Caching lives here, in the UI layer: the settings are loaded once per browser session, and the
serving snapshot is opened once per published file (keyed on its inode and modification time, so
a snapshot newly published by ``costlens sync`` is picked up on the next rerun).
"""

from __future__ import annotations

import logging
import math
import os
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date, datetime
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path
from typing import Any, Literal, NoReturn

import pandas as pd
import streamlit as st

from costlens import links, queries
from costlens.anomalies import feedback
from costlens.config import Settings, load_settings
from costlens.errors import CostlensError

__all__ = [
    "ANOMALY_COLUMNS",
    "COST_TYPES",
    "DIMENSION_LABELS",
    "Controls",
    "anomaly_table",
    "as_float",
    "controls",
    "draw_freshness",
    "draw_sidebar",
    "feedback_marks",
    "freshness_text",
    "keep_param",
    "link_choice",
    "mark_anomaly",
    "money",
    "money_columns",
    "page_errors",
    "percent",
    "settings",
    "share_note",
    "show_notices",
    "side_by_side",
    "snapshot",
    "sums_by",
    "top_with_other",
    "total",
    "trend_grain",
]

log = logging.getLogger("costlens.dashboard")

COST_TYPES: dict[str, str] = {
    "unblended": "Unblended (as invoiced)",
    "amortized": "Amortized (RI/SP spread)",
    "net_amortized": "Net amortized (after discounts)",
}
"""The cost types a user can pick, with their labels."""

NO_DATA = (
    "No data yet — run `costlens sync` to ingest your billing exports and build the "
    "dashboard's snapshot (or `costlens demo` for generated sample data)."
)
_CENT = Decimal("0.01")


def money(value: Decimal | int | float | None) -> str:
    """Dollars with thousands separators and two decimals, rounded half up.

    >>> money(Decimal("12345.675"))
    '$12,345.68'
    >>> money(Decimal("-0.004"))
    '$0.00'
    >>> money(Decimal("-1234.5"))
    '-$1,234.50'
    >>> money(None)
    '—'
    """
    if value is None:
        return "—"
    cents = Decimal(str(value)) if isinstance(value, float) else Decimal(value)
    cents = cents.quantize(_CENT, rounding=ROUND_HALF_UP)
    if cents == 0:
        cents = abs(cents)
    sign = "-" if cents < 0 else ""
    return f"{sign}${abs(cents):,.2f}"


def percent(value: Decimal | float | None, *, signed: bool = False) -> str:
    """A fraction as a percentage with one decimal (``0.1234`` → ``12.3%``).

    >>> percent(Decimal("0.1234")), percent(-0.05, signed=True), percent(None), percent(math.nan)
    ('12.3%', '-5.0%', '—', '—')
    """
    if value is None or not math.isfinite(value):
        return "—"
    return f"{float(value) * 100:{'+' if signed else ''}.1f}%"


def share_note(value: Decimal | float | None) -> str:
    """Why a share of a period's net cost lies outside 0–100 %, or ``""`` when it does not: the
    period's credits and refunds make its net cost smaller than that part of it, or negative.

    >>> share_note(0.42), share_note(1.2)[:24], share_note(-0.1)[:24], share_note(None)
    ('', ' Outside 0–100 % because', ' Outside 0–100 % because', '')
    """
    if value is None or not math.isfinite(value) or 0 <= value <= 1:
        return ""
    return (
        " Outside 0–100 % because this period's credits and refunds make its net cost smaller "
        "than this part of it (or negative); the dollars are exact."
    )


def total(frame: pd.DataFrame, column: str = "cost") -> Decimal:
    """The exact sum of a Decimal money column (0 for an empty frame)."""
    return sum((Decimal(v) for v in frame[column] if v is not None), Decimal(0))


def sums_by(frame: pd.DataFrame, key: str, column: str = "cost") -> dict[str, Decimal]:
    """The exact sum of a Decimal money ``column`` per value of ``key`` ({} for an empty frame).

    >>> sums_by(pd.DataFrame({"k": ["a", "b", "a"], "cost": ["1.10", "2", "-0.10"]}).assign(
    ...     cost=lambda f: f["cost"].map(Decimal)), "k")
    {'a': Decimal('1.00'), 'b': Decimal('2')}
    >>> sums_by(pd.DataFrame({"k": [], "cost": []}), "k")
    {}
    """
    sums: dict[str, Decimal] = {}
    for name, value in zip(frame[key], frame[column], strict=True):
        if value is not None:
            sums[str(name)] = sums.get(str(name), Decimal(0)) + Decimal(value)
    return sums


def side_by_side(key: str, columns: dict[str, dict[str, Decimal]]) -> pd.DataFrame:
    """One row per ``key`` value found in any of ``columns`` (column name -> {value: amount}),
    in the order they are first found, with ``Decimal(0)`` where a column has no amount: money
    stays exact ``Decimal`` however little data there is (never a float ``0.0`` or ``NaN``).

    >>> side_by_side("k", {"now": {"a": Decimal("2.5")}, "before": {"b": Decimal("1")}})
       k  now before
    0  a  2.5      0
    1  b    0      1
    >>> side_by_side("k", {"now": {}, "before": {}}).columns.tolist()
    ['k', 'now', 'before']
    """
    keys = list(dict.fromkeys(k for amounts in columns.values() for k in amounts))
    data: dict[str, list[Any]] = {key: keys}
    for name, amounts in columns.items():
        data[name] = [amounts.get(k, Decimal(0)) for k in keys]
    return pd.DataFrame(data, columns=[key, *columns], dtype=object)


def top_with_other(frame: pd.DataFrame, column: str, n: int) -> tuple[pd.DataFrame, list[str]]:
    """A bar chart's rows: cost per ``period`` and ``column`` value, with every value beyond the
    ``n`` costliest summed as ``"Other"`` (float dollars, for the chart only); and the legend
    order (costliest first, ``"Other"`` last).

    >>> f = pd.DataFrame({"period": [1, 1, 1], "svc": ["a", "b", "c"],
    ...                   "cost": [Decimal("5"), Decimal("1"), Decimal("2")]})
    >>> bars, order = top_with_other(f, "svc", 2)
    >>> bars.values.tolist(), order
    ([[1, 'Other', 1.0], [1, 'a', 5.0], [1, 'c', 2.0]], ['a', 'c', 'Other'])
    """
    top = list(frame.groupby(column)["cost"].sum().sort_values(ascending=False).index)[:n]
    shown = frame.assign(**{column: frame[column].where(frame[column].isin(top), "Other")})
    bars = as_float(shown, ["cost"]).groupby(["period", column], as_index=False)["cost"].sum()
    return bars, [*top, "Other"]


def money_columns(*names: str) -> dict[str, Any]:
    """``column_config`` showing ``names`` as dollars (``$12,345.67``) in ``st.dataframe``."""
    return {
        n: st.column_config.NumberColumn(n.replace("_", " ").capitalize(), format="dollar")
        for n in names
    }


DIMENSION_LABELS = queries.DIMENSION_LABELS
"""How dimensions are named for people (``costlens.schema.DIMENSION_LABELS``)."""

ANOMALY_COLUMNS: dict[str, Any] = {
    "dimension": "Dimension",
    "value": "Value",
    "start_date": st.column_config.DateColumn("Start", format="YYYY-MM-DD"),
    "end": "End",
    "impact_cost": st.column_config.NumberColumn("Impact", format="dollar"),
    "impact_percent": st.column_config.TextColumn("Impact %"),
    "feedback": "Marked",
    "state": st.column_config.TextColumn(
        "State", help="Followed after the detector's days: still changing, a new level, or ended"
    ),
    "total_impact": st.column_config.NumberColumn(
        "Impact so far", format="dollar", help="Against the level before, from its start on"
    ),
    "found": st.column_config.TextColumn(
        "Found by",
        help='The daily scan, or the hourly one (grain = "hour") with the hour it first flagged',
    ),
    "also_seen": "Also seen on",
    "top_driver": "Top driver",
}
"""How ``anomaly_table`` columns are shown."""


def impact_percent(value: float | None) -> str:
    """An anomaly's impact in percent of what was expected; ``new`` when nothing was expected.

    >>> impact_percent(92.456), impact_percent(-31.2), impact_percent(math.nan)
    ('+92.5%', '-31.2%', 'new')
    """
    if value is None or not math.isfinite(value):
        return "new"
    return f"{value:+.1f}%"


OTHER_COLOR = "#b8bcc4"
"""The colour of the "Other" bucket of a chart's top-N categories: grey, never a category's."""


def _state_label(state: object, since: object) -> str:
    """ "changing", "ended", "new level since 30 Oct"; "" where a snapshot does not follow."""
    if state == "settled" and isinstance(since, date):
        return f"new level since {since:%d %b}"
    return state if isinstance(state, str) else ""


def anomaly_table(events: pd.DataFrame) -> pd.DataFrame:
    """The columns of ``queries.anomalies`` a person reads, ready for ``st.dataframe``."""
    table = events.assign(
        end=[
            "ongoing" if ongoing else f"{end:%Y-%m-%d}"
            for ongoing, end in zip(events["ongoing"], events["end_date"], strict=True)
        ],
        dimension=events["dimension"].map(lambda d: DIMENSION_LABELS.get(d, d)),
        feedback=events["feedback"].where(events["feedback"].notna(), ""),
        also_seen=[s if isinstance(s, str) else "" for s in events["also_seen"]],
        impact_percent=[impact_percent(p) for p in events["impact_percent"]],
        state=[
            _state_label(state, since)
            for state, since in zip(events["follow_state"], events["settled_since"], strict=True)
        ],
        found=[
            f"hourly, {at:%d %b %H:%M}" if grain == "hour" and isinstance(at, datetime) else "daily"
            for grain, at in zip(events["grain"], events["started_at"], strict=True)
        ],
    )
    return as_float(table, ["impact_cost", "total_impact"])[list(ANOMALY_COLUMNS)]


def feedback_marks() -> dict[str, str]:
    """``{anomaly_id: verdict}`` from the state database, including marks made since the sync."""
    return feedback.marked_anomalies(settings().state_database_url)


def mark_anomaly(anomaly_id: str, verdict: str) -> None:
    """Record a user's verdict (expected, planned, real) on an anomaly in the state database."""
    feedback.mark_anomaly(settings().state_database_url, anomaly_id, verdict, by="dashboard")


def as_float(frame: pd.DataFrame, columns: Sequence[str]) -> pd.DataFrame:
    """A copy of ``frame`` with Decimal money ``columns`` as floats, for charts only."""
    out = frame.copy()
    for column in columns:
        out[column] = pd.to_numeric(out[column].map(lambda v: None if v is None else float(v)))
    return out


@contextmanager
def page_errors() -> Iterator[None]:
    """Show a costlens error as ``st.error`` with its message; never a traceback.

    Anything unexpected is logged on the server with its traceback and shown as one line.
    Streamlit's own control flow (``st.stop``, reruns) passes through untouched.
    """
    try:
        yield
    except CostlensError as exc:
        st.error(str(exc), icon=":material/error:")
    except Exception as exc:
        log.exception("dashboard page failed")
        st.error(
            f"Something went wrong on this page ({type(exc).__name__}). The details are in the "
            "dashboard's log; try again after the next `costlens sync`.",
            icon=":material/error:",
        )


def settings() -> Settings:
    """The costlens settings (``COSTLENS_CONFIG``, ``COSTLENS_DATA_DIR``...), once per session."""
    if "_costlens_settings" not in st.session_state:
        st.session_state["_costlens_settings"] = load_settings()
    cfg: Settings = st.session_state["_costlens_settings"]
    return cfg


def _close(snap: queries.Snapshot) -> None:
    snap.close()


@st.cache_resource(max_entries=2, show_spinner=False, scope="session", on_release=_close)
def _open_snapshot(path: str, inode: int, mtime_ns: int) -> queries.Snapshot:
    # The stamp arguments are the cache key: a newly published file is a new entry. One
    # connection per browser session, since a DuckDB connection is not shared across threads.
    return queries.open_snapshot(Path(path))


def _current_snapshot() -> queries.Snapshot | None:
    """The current serving snapshot, or None when there is none or it holds no data yet."""
    path = settings().serving_path
    try:
        stat = os.stat(path)
    except FileNotFoundError:
        return None
    key = (str(path), stat.st_ino, stat.st_mtime_ns)
    previous = st.session_state.get("_snapshot_key")
    if previous is not None and previous != key:
        # Close the old snapshot before opening the new one: while a connection to the old
        # file is open in this process, DuckDB would hand the same old database back.
        _open_snapshot.clear(*previous)
    st.session_state["_snapshot_key"] = key
    snap = _open_snapshot(*key)
    return None if snap.info.last_date is None else snap


def snapshot() -> queries.Snapshot:
    """The current serving snapshot; shows "no data yet" and stops the page when there is none."""
    snap = _current_snapshot()
    if snap is None:
        _no_data()
    return snap


def _no_data() -> NoReturn:
    st.info(NO_DATA, icon=":material/hourglass_empty:")
    st.stop()


@dataclass(frozen=True)
class Controls:
    """The sidebar's choices, shared by every page."""

    cost_type: str
    start: date
    end: date


def trend_grain(controls: Controls) -> Literal["day", "week"]:
    """Daily points for up to about three months, weekly beyond (a readable chart either way)."""
    return "day" if (controls.end - controls.start).days <= 92 else "week"


_CONTROLS = "_costlens_controls"
_LINK_ICON = ":material/link_off:"


def show_notices(notices: Sequence[str | None]) -> None:
    """Say, one line each, which of the link's parameters were ignored (``costlens.links``)."""
    for notice in notices:
        if notice:
            st.warning(notice, icon=_LINK_ICON)


def link_choice(name: str, key: str, options: Sequence[str], default: str | None) -> None:
    """Start the widget ``key`` at the link's parameter ``name`` when it is one of ``options``
    (a notice when it is not); only while the widget has no value yet, so a user's choice
    stands."""
    if key in st.session_state:
        return
    value, notice = links.parse_choice(st.query_params.to_dict(), name, options, default)
    show_notices([notice])
    if value is not None:
        st.session_state[key] = value


def keep_param(name: str, key: str) -> None:
    """An ``on_change`` callback: the address's parameter ``name`` follows the widget ``key``."""
    value = st.session_state.get(key)
    if value is None or value == []:
        st.query_params.pop(name, None)
    else:
        st.query_params[name] = value


def _keep_view() -> None:
    # The address holds the sidebar's choices, so that the view can be shared or bookmarked.
    st.query_params["cost_type"] = st.session_state["cost_type"]
    dates = st.session_state.get("dates") or ()
    if len(dates) == 2:
        st.query_params["start"], st.query_params["end"] = (d.isoformat() for d in dates)
    st.query_params.pop("week", None)


def draw_sidebar() -> None:
    """Draw the cost type and date range pickers, from ``app.py`` on every rerun before the page.

    Drawn by the entry script, the widgets are the same on every page, so Streamlit keeps the
    user's choices across page switches. Pages read them with ``controls()``. Without a snapshot
    (or when it cannot be opened) there is no sidebar: the page says so, once.
    """
    st.session_state.pop(_CONTROLS, None)
    try:
        snap = _current_snapshot()
        if snap is None:
            return
        first, last = queries.date_range(snap)
    except Exception:  # the page opens the same snapshot and shows the error (page_errors)
        return
    assert first is not None and last is not None  # a snapshot with data has dates
    default_start, _ = links.default_dates(first, last)
    if "cost_type" not in st.session_state and "dates" not in st.session_state:
        # A fresh session: a shared link's parameters choose the view (a bad one: a notice).
        view, notices = links.parse_view(st.query_params.to_dict(), first=first, last=last)
        st.session_state["cost_type"] = view.cost_type
        st.session_state["dates"] = (view.start, view.end)
        show_notices(notices)
    st.session_state.setdefault("cost_type", "unblended")
    # A newer snapshot may cover other dates: keep the chosen range inside it.
    chosen = st.session_state.get("dates", (default_start, last))
    kept = [min(max(d, first), last) for d in chosen]
    st.session_state["dates"] = tuple(kept) or (default_start, last)
    with st.sidebar:
        st.selectbox(
            "Cost type",
            list(COST_TYPES),
            format_func=COST_TYPES.__getitem__,
            key="cost_type",
            on_change=_keep_view,
        )
        st.date_input("Dates", min_value=first, max_value=last, key="dates", on_change=_keep_view)
        st.caption(f"Data from {first:%d %b %Y} to {last:%d %b %Y}")
    dates = st.session_state["dates"]
    start, end = (dates[0], dates[-1]) if dates else (default_start, last)
    st.session_state[_CONTROLS] = Controls(
        cost_type=st.session_state["cost_type"], start=start, end=end
    )


def controls() -> Controls:
    """The sidebar's choices on this rerun (``draw_sidebar``); call it after ``snapshot()``."""
    chosen: Controls | None = st.session_state.get(_CONTROLS)
    if chosen is None:  # the snapshot was published after the sidebar was drawn: draw it now
        st.rerun()
    return chosen


def freshness_text(fresh: queries.Freshness) -> str:
    """The freshness line every page shows: the data's last day, the last delivery loaded, the
    snapshot's build time and the months that are not final yet.

    >>> from datetime import datetime
    >>> fresh = queries.Freshness(datetime(2026, 12, 1, 6, 12), date(2026, 11, 30),
    ...     datetime(2026, 12, 1, 6, 5), date(2026, 11, 1), (date(2026, 11, 1),))
    >>> for part in freshness_text(fresh).split(" · "):
    ...     print(part)
    Data to 30 Nov 2026
    last delivery loaded 01 Dec 2026 06:05 UTC (Nov 2026)
    snapshot built 01 Dec 2026 06:12 UTC
    not final yet (no invoice id): Nov 2026
    """
    parts = []
    if fresh.last_date is not None:
        parts.append(f"Data to {fresh.last_date:%d %b %Y}")
    if fresh.last_delivery_at is not None:
        month = f" ({fresh.last_delivery_period:%b %Y})" if fresh.last_delivery_period else ""
        parts.append(f"last delivery loaded {fresh.last_delivery_at:%d %b %Y %H:%M} UTC{month}")
    parts.append(f"snapshot built {fresh.built_at:%d %b %Y %H:%M} UTC")
    if fresh.not_final:
        months = ", ".join(f"{p:%b %Y}" for p in fresh.not_final)
        parts.append(f"not final yet (no invoice id): {months}")
    else:
        parts.append("every month final (invoiced)")
    return " · ".join(parts)


def draw_freshness() -> None:
    """The freshness line, above every page (from ``app.py``); nothing without a snapshot."""
    try:
        snap = _current_snapshot()
        if snap is None:
            return
        text = freshness_text(queries.freshness(snap))
    except Exception:  # the page opens the same snapshot and shows the error (page_errors)
        return
    st.caption(text, help="Months not final yet can still change: AWS re-delivers them.")
