"""Owners: one business owner's microservices, budget, anomalies and month-over-month table."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import plotly.express as px
import plotly.graph_objects as go
import streamlit as st

from app_pages import _shared as ui
from costlens import queries

STATUS_ICONS = {
    "on track": ":material/check_circle:",
    "at risk": ":material/warning:",
    "over": ":material/error:",
}

with ui.page_errors():
    snap = ui.snapshot()
    ctl = ui.sidebar_controls(snap)
    st.title("Owners")
    budgets = queries.budgets(snap)
    names = dict(zip(budgets["owner"], budgets["display_name"], strict=True))
    # The owners with spend, most expensive first, then those with a budget but no spend yet.
    spending = queries.dimension_values(snap, "owner")
    owners = [*spending, *sorted(set(budgets["owner"]) - set(spending))]
    owner = st.columns([2, 3])[0].selectbox(
        "Owner",
        owners,
        format_func=lambda o: f"{names[o]} ({o})" if o in names else o,
        key="owner",
    )
    first, last = queries.date_range(snap)
    assert first is not None and last is not None
    windows = queries.period_windows("month", last)
    month_start = windows.current_start
    prev_end = month_start - dt.timedelta(days=1)
    prev_start = prev_end.replace(day=1)

    # --- budget status with the forecast interval -----------------------------------------------
    st.subheader("Budget this month")
    st.caption(
        f"{snap.info.anomaly_cost_type.replace('_', ' ').capitalize()} cost, the cost budgets "
        "are tracked on, whatever the cost type chosen"
    )
    row = budgets[budgets["owner"] == owner]
    if row.empty:
        st.info(f"{owner} has no monthly budget in owners.yaml.", icon=":material/info:")
    else:
        b = row.iloc[0]
        budget_col, mtd_col, projected_col, status_col = st.columns(4)
        budget_col.metric("Monthly budget", ui.money(b["budget"]), border=True)
        mtd_col.metric("Month to date", ui.money(b["month_to_date"]), border=True)
        projected_col.metric(
            "Projected month end",
            ui.money(b["projected"]),
            border=True,
            delta=ui.money(b["projected"] - b["budget"]),
            delta_color="inverse",
            delta_description="against budget",
            help=f"Interval {ui.money(b['lower'])} – {ui.money(b['upper'])} "
            f"({snap.info.anomaly_cost_type} cost)",
        )
        status_col.metric(
            "Status",
            str(b["status"]).capitalize(),
            border=True,
            help="over: projected above budget; at risk: the interval reaches it",
        )
        gauge = go.Figure()
        gauge.add_trace(
            go.Bar(
                y=["Projected"],
                x=[float(b["projected"])],
                orientation="h",
                name="Projected",
                marker_color="#9ecae1",
                error_x={
                    "type": "data",
                    "symmetric": False,
                    "array": [float(b["upper"] - b["projected"])],
                    "arrayminus": [float(b["projected"] - b["lower"])],
                },
                hovertemplate="Projected $%{x:,.2f}<extra></extra>",
            )
        )
        gauge.add_trace(
            go.Bar(
                y=["Month to date"],
                x=[float(b["month_to_date"])],
                orientation="h",
                name="Month to date",
                marker_color="#3182bd",
                hovertemplate="Month to date $%{x:,.2f}<extra></extra>",
            )
        )
        gauge.add_vline(
            x=float(b["budget"]),
            line_color="#d62728",
            line_width=3,
            annotation_text=f"budget {ui.money(b['budget'])}",
            annotation_position="top left",
        )
        gauge.update_layout(
            height=180, margin={"t": 30, "b": 10}, showlegend=False, xaxis_tickprefix="$"
        )
        st.plotly_chart(gauge)

    # --- spend trend of the owner's microservices -----------------------------------------------
    st.subheader("Spend by microservice")
    grain = ui.trend_grain(ctl)
    trend = queries.spend(
        snap,
        grain=grain,
        by=("microservice",),
        cost_type=ctl.cost_type,
        start=ctl.start,
        end=ctl.end,
        where={"owner": [owner]},
    )
    if trend.empty:
        st.info(
            f"No spend by {owner} from {ctl.start:%d %b %Y} to {ctl.end:%d %b %Y}.",
            icon=":material/info:",
        )
    else:
        chart = px.area(
            ui.as_float(trend, ["cost"]),
            x="period",
            y="cost",
            color="microservice",
            labels={"period": grain.capitalize(), "cost": "Cost"},
        )
        chart.update_layout(height=340, margin={"t": 10, "b": 10}, yaxis_tickprefix="$")
        st.plotly_chart(chart)

    # --- open anomalies -------------------------------------------------------------------------
    st.subheader("Open anomalies")
    events = queries.anomalies(snap, owner=owner, marked=ui.feedback_marks())
    if events.empty:
        st.success("No open anomalies for this owner.", icon=":material/check:")
    else:
        st.dataframe(ui.anomaly_table(events), hide_index=True, column_config=ui.ANOMALY_COLUMNS)

    # --- microservices: this month against last --------------------------------------------------
    st.subheader("Microservices this month")
    st.caption(
        f"Month to date ({month_start:%d %b}–{last:%d %b}) against as many days of last month "
        f"({windows.previous_start:%d %b}–{windows.previous_end:%d %b}) and the whole of "
        f"{prev_start:%B}"
    )

    def _by_microservice(start: dt.date, end: dt.date) -> dict[str, Decimal]:
        frame = queries.spend(
            snap,
            grain="month",
            by=("microservice",),
            cost_type=ctl.cost_type,
            start=start,
            end=end,
            where={"owner": [owner]},
        )
        return ui.sums_by(frame, "microservice")

    # Exact Decimal columns, Decimal(0) where a window has no spend (a first month, an owner
    # with no spend, a month of credits only): never a float 0 mixed into Decimal money.
    table = ui.side_by_side(
        "microservice",
        {
            "month_to_date": _by_microservice(month_start, last),
            "same_days_last_month": _by_microservice(windows.previous_start, windows.previous_end),
            "last_month": _by_microservice(prev_start, prev_end),
        },
    )
    table["delta"] = [
        now - before
        for now, before in zip(table["month_to_date"], table["same_days_last_month"], strict=True)
    ]
    table = table.sort_values(["month_to_date", "microservice"], ascending=[False, True])
    money_cols = ["month_to_date", "same_days_last_month", "last_month", "delta"]
    if table.empty:
        st.info(f"No spend by {owner} this month or last month.", icon=":material/info:")
    else:
        st.dataframe(
            ui.as_float(table, money_cols),
            hide_index=True,
            column_config={"microservice": "Microservice", **ui.money_columns(*money_cols)},
        )
