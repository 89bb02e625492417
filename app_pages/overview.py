"""Overview: this month against last, the budget, what is unallocated, and where spend moves."""

from __future__ import annotations

import plotly.express as px
import plotly.graph_objects as go
import streamlit as st

from app_pages import _charts as charts
from app_pages import _shared as ui
from costlens import queries

TOP_SERVICES = 8

with ui.page_errors():
    snap = ui.snapshot()
    ctl = ui.controls()
    st.title("Overview")
    first, last = queries.date_range(snap)
    assert first is not None and last is not None
    windows = queries.period_windows("month", last)
    month_start, prev_start, prev_end = (
        windows.current_start,
        windows.previous_start,
        windows.previous_end,
    )
    st.caption(
        f"Month to date: {month_start:%d %b} – {last:%d %b %Y} · {ui.COST_TYPES[ctl.cost_type]}"
    )

    # --- the metric row -------------------------------------------------------------------------
    mtd = ui.total(queries.spend(snap, cost_type=ctl.cost_type, start=month_start, end=last))
    prev = ui.total(queries.spend(snap, cost_type=ctl.cost_type, start=prev_start, end=prev_end))
    forecast = queries.forecasts(snap, cost_type=ctl.cost_type)
    company = forecast[forecast["owner"] == "*"]
    budget_total = ui.total(queries.budgets(snap), "budget")
    budget_cost = snap.info.anomaly_cost_type  # what budgets are tracked on
    health = queries.allocation_health(snap, cost_type=ctl.cost_type)
    latest_period = health["billing_period"].max()
    latest = health[health["billing_period"] == latest_period]
    unallocated = latest.loc[latest["allocation"] == "unallocated", "share"].sum()
    open_anomalies = queries.anomalies(snap, marked=ui.feedback_marks())

    mtd_col, projected_col, unallocated_col, anomalies_col = st.columns(4)
    mtd_col.metric(
        "Month-to-date spend",
        ui.money(mtd),
        delta=ui.money(mtd - prev) if prev else None,
        delta_color="inverse",
        delta_description="vs last month",
        border=True,
        help=f"{month_start:%d %b}–{last:%d %b} against {prev_start:%d %b}–{prev_end:%d %b}",
    )
    if company.empty:
        projected_col.metric("Projected month end", "—", border=True)
    else:
        projected = company.iloc[0]["projected"]
        comparable = budget_total and ctl.cost_type == budget_cost
        projected_col.metric(
            "Projected month end",
            ui.money(projected),
            delta=ui.money(projected - budget_total) if comparable else None,
            delta_color="inverse",
            delta_description="vs budget" if comparable else None,
            border=True,
            help=(
                f"Interval {ui.money(company.iloc[0]['lower'])} – "
                f"{ui.money(company.iloc[0]['upper'])}; the owners' budgets total "
                f"{ui.money(budget_total)} of {budget_cost.replace('_', ' ')} cost"
            ),
        )
    unallocated_col.metric(
        f"Unallocated, {latest_period:%b %Y}",
        ui.percent(unallocated),
        help=(
            f"Share of {latest_period:%B %Y}'s {ctl.cost_type.replace('_', ' ')} charges no "
            "rule attributed." + ui.share_note(unallocated)
        ),
        border=True,
    )
    anomalies_col.metric(
        "Open anomalies",
        len(open_anomalies),
        help="Anomalies not yet marked expected/planned/real",
        border=True,
    )

    # --- daily trend with anomalies marked ------------------------------------------------------
    st.subheader("Daily spend")
    daily = ui.as_float(
        queries.spend(snap, grain="day", cost_type=ctl.cost_type, start=ctl.start, end=ctl.end),
        ["cost"],
    )
    trend = go.Figure(
        go.Scatter(
            x=daily["period"],
            y=daily["cost"],
            mode="lines+markers" if len(daily) <= 1 else "lines",
            name="Daily spend",
            hovertemplate="%{x|%a %d %b}: $%{y:,.2f}<extra></extra>",
        )
    )
    in_range = open_anomalies[
        (open_anomalies["start_date"] >= ctl.start) & (open_anomalies["start_date"] <= ctl.end)
    ]
    if not in_range.empty:
        by_day = daily.set_index("period")["cost"]
        trend.add_trace(
            go.Scatter(
                x=in_range["start_date"],
                y=[by_day.get(d) for d in in_range["start_date"]],
                mode="markers",
                name="Anomaly starts",
                marker={"color": "#d62728", "size": 11, "symbol": "diamond"},
                text=[
                    f"{r.dimension} {r.value}: {ui.money(r.impact_cost)}"
                    for r in in_range.itertuples()
                ],
                hovertemplate="%{x|%d %b}<br>%{text}<extra></extra>",
            )
        )
    trend.update_layout(
        height=320,
        margin={"t": 10, "b": 10},
        yaxis_tickprefix="$",
    )
    charts.legend_below(trend, "")
    charts.time_axis(trend, "day", ctl.start, ctl.end)
    charts.show(trend)

    # --- spend by AWS service -------------------------------------------------------------------
    st.subheader("Spend by AWS service")
    grain = ui.trend_grain(ctl)
    by_service = queries.spend(
        snap,
        grain=grain,
        by=("service_code",),
        cost_type=ctl.cost_type,
        start=ctl.start,
        end=ctl.end,
    )
    bars_frame, order = ui.top_with_other(by_service, "service_code", TOP_SERVICES)
    chart = px.bar(
        bars_frame,
        x="period",
        y="cost",
        color="service_code",
        category_orders={"service_code": order},
        color_discrete_map={"Other": ui.OTHER_COLOR},
        labels={
            "period": grain.capitalize(),
            "cost": "Cost",
            "service_code": ui.DIMENSION_LABELS["service_code"],
        },
    )
    chart.update_layout(height=360, yaxis_tickprefix="$", bargap=0.15)
    charts.legend_below(chart, ui.DIMENSION_LABELS["service_code"])
    notes = charts.mark_partial(chart, grain, ctl.start, ctl.end)
    charts.time_axis(chart, grain, ctl.start, ctl.end)
    charts.show(chart, notes)

    # --- top movers -----------------------------------------------------------------------------
    st.subheader("Top movers")
    moved = queries.range_windows(ctl.start, ctl.end)
    st.caption(
        "Microservices whose spend changed most: the chosen dates "
        f"({moved.current_start:%d %b %Y} – {moved.current_end:%d %b %Y}) against the "
        f"{moved.days} days before them ({moved.previous_start:%d %b %Y} – "
        f"{moved.previous_end:%d %b %Y}), {ui.COST_TYPES[ctl.cost_type].lower()}"
    )
    if moved.previous_start < first:
        covered = max(0, (moved.previous_end - first).days + 1)
        st.warning(
            f"Only {covered} of the {moved.days} days before the chosen dates have data (it "
            f"starts {first:%d %b %Y}): the changes overstate growth. Choose a shorter range.",
            icon=":material/warning:",
        )
    movers = queries.top_movers(
        snap,
        dimension="microservice",
        cost_type=ctl.cost_type,
        start=ctl.start,
        end=ctl.end,
        limit=10,
    )
    movers["change"] = [
        "new" if pct is None or pct != pct else f"{pct:+.1f}%" for pct in movers["delta_percent"]
    ]
    money_cols = {"previous_cost": "Days before", "current_cost": "Chosen dates",
                  "delta_cost": "Change"}  # fmt: skip
    st.dataframe(
        ui.as_float(movers, list(money_cols)),
        hide_index=True,
        column_order=["value", *money_cols, "change"],
        column_config={
            "value": "Microservice",
            **{c: st.column_config.NumberColumn(label, format="dollar")
               for c, label in money_cols.items()},
            "change": st.column_config.TextColumn("Change %"),
        },
    )  # fmt: skip
