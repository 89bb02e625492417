"""Owners: one business owner's budget, scorecard, microservices, anomalies and month-over-month
table. ``?owner=ID`` in the address chooses the owner (the Scorecards page links here so)."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

import pandas as pd
import plotly.express as px
import plotly.graph_objects as go
import streamlit as st

from app_pages import _charts as charts
from app_pages import _scorecard_format as sc
from app_pages import _shared as ui
from costlens import links, queries
from costlens.scorecards.model import GRADES  # each grade's lowest score, drawn on the trend
from costlens.scorecards.registry import kpi as kpi_info

# How the scorecard's KPI table is shown, in order.
DIRECTIONS = {"higher": "↑ higher is better", "lower": "↓ lower is better"}
KPI_COLUMNS: dict[str, Any] = {
    "title": st.column_config.TextColumn("KPI", help="Hover a row's KPI in the list below"),
    "value": "Value",
    "goal": "Goal",
    "direction": "Better",
    "eligible_spend": st.column_config.NumberColumn("Eligible spend", format="dollar"),
    "potential_savings": st.column_config.NumberColumn(
        "Potential savings / month",
        format="dollar",
        help="The KPI's own savings at 100 %; KPIs may overlap, so add up the scorecard's total",
    ),
    "grade": "Grade",
}


def _keep_owner() -> None:
    # The address names the owner chosen, so that it can be shared or bookmarked.
    st.query_params["owner"] = st.session_state["owner"]


STATUS_ICONS = {
    "on track": ":material/check_circle:",
    "at risk": ":material/warning:",
    "over": ":material/error:",
}

with ui.page_errors():
    snap = ui.snapshot()
    ctl = ui.controls()
    st.title("Owners")
    budgets = queries.budgets(snap)
    names = dict(zip(budgets["owner"], budgets["display_name"], strict=True))
    # The owners with spend, most expensive first, then those with a budget but no spend yet.
    spending = queries.dimension_values(snap, "owner")
    owners = [*spending, *sorted(set(budgets["owner"]) - set(spending))]
    wanted, notice = links.parse_choice(
        st.query_params.to_dict(),
        "owner",
        owners,
        None,
        what="owner",
        showing=owners[0] if owners else "none",
    )
    if wanted is not None:
        st.session_state["owner"] = wanted
    elif notice:  # said once: the address no longer names the unknown owner
        ui.show_notices([notice])
        del st.query_params["owner"]
    owner = st.columns([2, 3])[0].selectbox(
        "Owner",
        owners,
        format_func=lambda o: f"{names[o]} ({o})" if o in names else o,
        key="owner",
        on_change=_keep_owner,
    )
    first, last = queries.date_range(snap)
    assert first is not None and last is not None
    windows = queries.period_windows("month", last)
    month_start = windows.current_start
    prev_end = month_start - dt.timedelta(days=1)
    prev_start = prev_end.replace(day=1)

    # --- budget status with the forecast interval -----------------------------------------------
    st.subheader("Budget this month")
    budget_kind = snap.info.anomaly_cost_type.replace("_", " ")
    chosen_kind = ctl.cost_type.replace("_", " ")
    same_kind = ctl.cost_type == snap.info.anomaly_cost_type
    st.caption(
        f"Budgets are set on {budget_kind} cost: the budget row is {budget_kind}, whatever the "
        "cost type chosen"
        + ("." if same_kind else f"; the row below it is the chosen {chosen_kind} cost.")
    )
    row = budgets[budgets["owner"] == owner]
    # The owner's month to date and month-end projection in the chosen cost type.
    chosen_mtd = ui.total(
        queries.spend(
            snap, cost_type=ctl.cost_type, start=month_start, end=last, where={"owner": [owner]}
        )
    )
    chosen_forecast = queries.forecasts(snap, cost_type=ctl.cost_type)
    chosen_forecast = chosen_forecast[chosen_forecast["owner"] == owner]
    if row.empty:
        st.info(f"{owner} has no monthly budget in owners.yaml.", icon=":material/info:")
    else:
        b = row.iloc[0]
        budget_col, mtd_col, projected_col, status_col = st.columns(4)
        budget_col.metric(f"Monthly budget ({budget_kind})", ui.money(b["budget"]), border=True)
        mtd_col.metric(f"Month to date ({budget_kind})", ui.money(b["month_to_date"]), border=True)
        projected_col.metric(
            f"Projected month end ({budget_kind})",
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
            help=f"over: projected above budget; at risk: the interval reaches it, or the "
            "projection is at 90 % of it or more "
            f"({budget_kind} cost)",
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
            annotation_text=f"budget {ui.money(b['budget'])} ({budget_kind})",
            annotation_position="top left",
        )
        gauge.update_layout(
            height=180, margin={"t": 30, "b": 10}, showlegend=False, xaxis_tickprefix="$"
        )
        st.plotly_chart(gauge, config=charts.CONFIG)
    if row.empty or not same_kind:
        _, chosen_mtd_col, chosen_projected_col, _ = st.columns(4)
        chosen_mtd_col.metric(
            f"Month to date ({chosen_kind})",
            ui.money(chosen_mtd),
            border=True,
            help=f"{month_start:%d %b}–{last:%d %b}, {ui.COST_TYPES[ctl.cost_type]}",
        )
        chosen_projected_col.metric(
            f"Projected month end ({chosen_kind})",
            "—" if chosen_forecast.empty else ui.money(chosen_forecast.iloc[0]["projected"]),
            border=True,
            help=None
            if chosen_forecast.empty
            else f"Interval {ui.money(chosen_forecast.iloc[0]['lower'])} – "
            f"{ui.money(chosen_forecast.iloc[0]['upper'])} ({chosen_kind} cost)",
        )

    # --- scorecard: KPIs against goals, grade trend, top actions ---------------------------------
    st.subheader("Scorecard")
    card = queries.scorecard(snap, "owner", owner) if owner is not None else None
    if card is None:
        st.info(
            f"No scorecard for {owner} yet — the next `costlens refresh` computes it.",
            icon=":material/info:",
        )
    else:
        period = card["billing_period"]
        st.caption(
            f"{sc.SCORECARD_COST_NOTE}, whatever the cost type chosen; "
            f"{sc.scorecard_period(period)}."
        )
        grade_col, savings_col, goal_col, rank_col = st.columns(4)
        grade_col.metric(
            "Overall grade",
            card["grade"] or "n/a",
            border=True,
            delta=sc.grade_change(card["grade"], card["previous_grade"])
            if card["previous_grade"]
            else None,
            delta_arrow="off",
            delta_color="off",
            delta_description="from last month",
            help="The efficiency KPIs' scores weighted by their eligible spend",
        )
        savings_col.metric(
            "Savings left / month",
            ui.money(card["potential_savings"]),
            border=True,
            help="Each resource counted once, at its best action",
        )
        goal_col.metric("Savings at goal / month", ui.money(card["savings_at_goal"]), border=True)
        rank_col.metric(
            "Rank",
            "—" if card["rank"] is None else f"{int(card['rank'])}",
            border=True,
            help="Among all owners, by savings left (Scorecards page)",
        )
        kpis = card["kpis"]
        table = pd.DataFrame(
            {
                "title": [
                    kpi_info(k["kpi"]).title + (f" ({k['detail']})" if k["detail"] else "")
                    for k in kpis
                ],
                "value": [sc.kpi_figure(k["value"], k["unit"]) for k in kpis],
                "goal": [sc.kpi_figure(k["goal"], k["unit"]) for k in kpis],
                "direction": [DIRECTIONS.get(k["direction"], k["direction"]) for k in kpis],
                "eligible_spend": [k["eligible_spend"] for k in kpis],
                "potential_savings": [k["potential_savings"] for k in kpis],
                "grade": [k["grade"] or "n/a" for k in kpis],
            },
            columns=list(KPI_COLUMNS),
        )
        st.dataframe(
            ui.as_float(table, ["eligible_spend", "potential_savings"]),
            hide_index=True,
            column_config=KPI_COLUMNS,
            height=35 * (len(table) + 1) + 3,  # every KPI at once, no scrolling
        )
        with st.expander("What each KPI measures"):
            for name in dict.fromkeys(k["kpi"] for k in kpis):
                info = kpi_info(name)
                assumption = f" Savings: {info.assumption}" if info.assumption else ""
                st.markdown(f"**{info.title}** — {sc.plain_text(info.description + assumption)}")

        trend = queries.grade_trend(snap, "owner", owner)
        trend = trend[trend["score"].notna()]
        if len(trend) >= 1:
            st.markdown("**Overall grade by month**")
            chart = go.Figure(
                go.Scatter(
                    x=list(trend["billing_period"]),
                    y=[float(v) for v in trend["score"]],
                    mode="lines+markers+text",
                    line_shape="hv",
                    text=list(trend["grade"]),
                    textposition="top center",
                    name="Score",
                    hovertemplate="%{x|%B %Y}: grade %{text}, score %{y:.2f}<extra></extra>",
                )
            )
            for floor, letter in GRADES:
                chart.add_hline(
                    y=floor,
                    line_dash="dot",
                    line_color="#b8bcc4",
                    annotation_text=letter,
                    annotation_position="right",
                )
            chart.update_layout(
                height=260,
                margin={"t": 20, "b": 10, "r": 30},
                yaxis={"range": [0, 1.08], "title": "Score"},
                xaxis={"tickformat": "%b %Y", "dtick": "M1"},
                showlegend=False,
            )
            st.plotly_chart(chart)

        st.markdown("**Top actions**")
        actions = queries.top_actions(snap, owner, 3, period=period)
        if not actions:
            st.success("Nothing left to save: no action found.", icon=":material/check:")
        for i, action in enumerate(actions, start=1):
            st.markdown(f"{i}\\. {sc.plain_text(action['text'])}")

    # --- spend trend of the owner's microservices -----------------------------------------------
    st.subheader("Spend by microservice")
    st.caption(f"{ui.COST_TYPES[ctl.cost_type]}, {ctl.start:%d %b %Y} – {ctl.end:%d %b %Y}")
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
            labels={
                "period": grain.capitalize(),
                "cost": "Cost",
                "microservice": ui.DIMENSION_LABELS["microservice"],
            },
        )
        chart.update_layout(height=340, yaxis_tickprefix="$")
        charts.legend_below(chart, ui.DIMENSION_LABELS["microservice"])
        notes = charts.mark_partial(chart, grain, ctl.start, ctl.end)
        charts.time_axis(chart, grain, ctl.start, ctl.end)
        charts.show(chart, notes)

    # --- open anomalies -------------------------------------------------------------------------
    st.subheader("Open anomalies")
    st.caption(f"Detected and measured on {budget_kind} cost, whatever the cost type chosen")
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
        f"{prev_start:%B}, {ui.COST_TYPES[ctl.cost_type].lower()}"
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
