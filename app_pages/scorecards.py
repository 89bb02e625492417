"""Scorecards: every owner ranked by the potential savings left on the table in a billing month,
with their grade and its change from the previous month (``queries.owner_ranking``)."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import plotly.graph_objects as go
import streamlit as st

from app_pages import _scorecard_format as sc
from app_pages import _shared as ui
from costlens import queries

# How the ranking's columns are shown, in order.
RANKING_COLUMNS: dict[str, Any] = {
    "rank": st.column_config.NumberColumn("Rank", format="%d"),
    "owner_name": "Owner",
    "grade_change": st.column_config.TextColumn(
        "Grade", help="Overall grade A–F, after the previous month's (↑ better, ↓ worse)"
    ),
    "spend": st.column_config.NumberColumn("Spend", format="dollar"),
    "potential_savings": st.column_config.NumberColumn(
        "Savings left / month",
        format="dollar",
        help="Potential monthly savings, each resource counted once (its best action)",
    ),
    "savings_at_goal": st.column_config.NumberColumn(
        "Savings at goal",
        format="dollar",
        help="What reaching every KPI's goal would save a month (AWS's KPI dashboard's figure)",
    ),
}

with ui.page_errors():
    snap = ui.snapshot()
    st.title("Scorecards")
    st.caption(
        f"{sc.SCORECARD_COST_NOTE}, whatever the cost type chosen. Owners are ranked by the "
        "potential savings they leave on the table each month, in dollars."
    )
    periods = queries.scorecard_periods(snap)
    if not periods:
        st.info(
            "No scorecards in this snapshot yet — run `costlens refresh` (or `costlens sync`) "
            "to compute them.",
            icon=":material/hourglass_empty:",
        )
        st.stop()
    period = st.columns([2, 3])[0].selectbox(
        "Billing period", periods, format_func=sc.scorecard_period, key="scorecard_period"
    )
    ranking = queries.owner_ranking(snap, period=period)
    if ranking.empty:
        st.info(
            f"No owner has a scorecard for {sc.scorecard_period(period)}.", icon=":material/info:"
        )
        st.stop()
    names = sc.owner_names(snap)
    ranking = ranking.assign(
        owner_name=[names.get(o, o) for o in ranking["scope_id"]],
        grade_change=[
            sc.grade_change(g, p)
            for g, p in zip(ranking["grade"], ranking["previous_grade"], strict=True)
        ],
    )

    left, at_goal, owners = st.columns(3)
    left.metric(
        "Savings left / month, all owners",
        ui.money(ui.total(ranking, "potential_savings")),
        border=True,
        help="Each resource counted once, at its best action (amortized cost)",
    )
    at_goal.metric(
        "Savings at goal / month, all owners",
        ui.money(ui.total(ranking, "savings_at_goal")),
        border=True,
    )
    owners.metric("Owners ranked", f"{len(ranking)}", border=True)

    st.subheader(f"Owners ranked, {sc.scorecard_period(period)}")
    money_cols = ["spend", "potential_savings", "savings_at_goal"]
    st.dataframe(
        ui.as_float(ranking, money_cols)[list(RANKING_COLUMNS)],
        hide_index=True,
        column_config=RANKING_COLUMNS,
    )
    st.caption(
        "Savings left count each resource once (its best action, never more than it costs) and "
        "are on amortized cost, as AWS's KPI dashboard; an owner's top actions add up to them. "
        "Savings at goal: what reaching each KPI's goal would save."
    )

    st.subheader("Savings left by owner")
    chart = go.Figure(
        go.Bar(
            x=[float(v) for v in ranking["potential_savings"]],  # float for the chart only
            y=list(ranking["owner_name"]),
            orientation="h",
            text=[g if isinstance(g, str) else "n/a" for g in ranking["grade"]],
            textposition="outside",
            marker_color="#3182bd",
            hovertemplate="%{y}: $%{x:,.2f} a month<extra></extra>",
            name="Savings left / month",
        )
    )
    chart.update_layout(
        height=max(240, 34 * len(ranking) + 60),
        margin={"t": 10, "b": 10},
        xaxis_tickprefix="$",
        xaxis_title="Potential savings left / month (amortized cost)",
        yaxis_autorange="reversed",  # rank 1 on top
    )
    st.plotly_chart(chart)

    st.subheader("Open an owner's scorecard")
    st.caption("Each owner's KPIs against their goals, grade trend and top actions")
    for rank, name, change, savings, owner in zip(
        ranking["rank"],
        ranking["owner_name"],
        ranking["grade_change"],
        ranking["potential_savings"],
        ranking["scope_id"],
        strict=True,
    ):
        st.page_link(
            "app_pages/owners.py",
            label=f"{rank}. {name} — grade {change}, {ui.money(Decimal(savings))} left / month",
            icon=":material/scoreboard:",
            query_params={"owner": str(owner)},
        )
