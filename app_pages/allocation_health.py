"""Allocation health: how the cost was attributed, and what no rule caught yet."""

from __future__ import annotations

import plotly.express as px
import streamlit as st

from app_pages import _shared as ui
from costlens import queries

METHODS = {
    "direct": "Attributed by a rule",
    "shared": "Split from shared costs",
    "unallocated": "Unallocated",
}
COLORS = {"direct": "#3182bd", "shared": "#9ecae1", "unallocated": "#d62728"}
BASES = {
    "tag": "By a tag",
    "rule": "By an account or service rule",
    "split": "Split from shared costs",
    "unallocated": "Unallocated",
}
BASIS_COLORS = {"tag": "#3182bd", "rule": "#6baed6", "split": "#9ecae1", "unallocated": "#d62728"}

with ui.page_errors():
    snap = ui.snapshot()
    ctl = ui.controls()
    st.title("Allocation health")

    # --- how the cost was attributed ------------------------------------------------------------
    health = queries.allocation_health(snap, cost_type=ctl.cost_type)
    latest_period = health["billing_period"].max()
    latest = health[health["billing_period"] == latest_period].set_index("allocation")
    st.caption(f"Billing period {latest_period:%B %Y} · {ui.COST_TYPES[ctl.cost_type]}")
    for column, method in zip(st.columns(len(METHODS)), METHODS, strict=True):
        share = latest["share"].get(method, 0.0)
        cost = latest["cost"].get(method)
        column.metric(
            METHODS[method],
            ui.percent(share),
            border=True,
            help=f"{ui.money(cost)} this billing period." + ui.share_note(share),
        )
    shares = ui.as_float(health, ["cost"]).assign(
        method=lambda f: f["allocation"].map(METHODS),
        period=lambda f: f["billing_period"].map(lambda d: f"{d:%b %Y}"),
    )
    chart = px.bar(
        shares,
        x="period",
        y="share",
        color="method",
        color_discrete_map={METHODS[k]: v for k, v in COLORS.items()},
        category_orders={"method": list(METHODS.values())},
        labels={"period": "Billing period", "share": "Share of cost", "method": ""},
        custom_data=["cost"],
    )
    chart.update_traces(hovertemplate="%{y:.1%} · $%{customdata[0]:,.2f}<extra></extra>")
    chart.update_layout(
        height=300,
        margin={"t": 10, "b": 10},
        yaxis_tickformat=".0%",
        legend={"orientation": "h", "y": 1.12},
    )
    st.plotly_chart(chart)

    # --- how each account's and service's cost was attributed ------------------------------------
    if "basis" in snap.dimensions:
        st.subheader("Attribution by account and by service")
        st.caption(
            f"{ctl.start:%d %b %Y} – {ctl.end:%d %b %Y}: by a tag, by an account or service rule, "
            "split from shared costs, or unallocated"
        )
        for column, dimension, label in zip(
            st.columns(2),
            ("account_id", "service_code"),
            ("Account", "Service"),
            strict=True,
        ):
            by_basis = queries.spend(
                snap,
                grain="month",
                by=("basis", dimension),
                cost_type=ctl.cost_type,
                start=ctl.start,
                end=ctl.end,
            )
            grid = ui.as_float(
                by_basis.groupby([dimension, "basis"], as_index=False)["cost"].sum(), ["cost"]
            )
            # Dollars, not shares: an account's credits can net its total to about zero.
            largest = grid.groupby(dimension)["cost"].sum().abs().nlargest(12).index
            grid = grid[grid[dimension].isin(largest)]
            bars = px.bar(
                grid,
                x="cost",
                y=dimension,
                color="basis",
                orientation="h",
                color_discrete_map=BASIS_COLORS,
                category_orders={"basis": list(BASES), dimension: list(largest)},
                labels={"cost": "Cost", dimension: label, "basis": ""},
            )
            bars.for_each_trace(lambda t: t.update(name=BASES.get(t.name, t.name)))
            bars.update_traces(hovertemplate="$%{x:,.2f}<extra></extra>")
            bars.update_layout(
                height=380,
                margin={"t": 10, "b": 10},
                xaxis_tickprefix="$",
                yaxis={"type": "category"},
                legend={"orientation": "h", "y": -0.15},
            )
            column.plotly_chart(bars)

    # --- unallocated by account and service -----------------------------------------------------
    st.subheader("Unallocated cost by account and service")
    st.caption(f"{ctl.start:%d %b %Y} – {ctl.end:%d %b %Y}")
    unallocated = queries.spend(
        snap,
        grain="month",
        by=("account_id", "service_code"),
        cost_type=ctl.cost_type,
        start=ctl.start,
        end=ctl.end,
        where={"owner": ["unallocated"]},
    )
    if unallocated.empty:
        st.success("Every dollar in this range has an owner.", icon=":material/check:")
    else:
        grid = (
            unallocated.groupby(["account_id", "service_code"], as_index=False)["cost"]
            .sum()
            .sort_values("cost", ascending=False)
        )
        bars = px.bar(
            ui.as_float(grid, ["cost"]),
            x="cost",
            y="account_id",
            color="service_code",
            orientation="h",
            labels={"cost": "Unallocated cost", "account_id": "Account", "service_code": "Service"},
        )
        bars.update_layout(
            height=300, margin={"t": 10, "b": 10}, xaxis_tickprefix="$", yaxis={"type": "category"}
        )
        st.plotly_chart(bars)
        st.dataframe(
            ui.as_float(grid, ["cost"]),
            hide_index=True,
            column_config={
                "account_id": "Account",
                "service_code": "Service",
                **ui.money_columns("cost"),
            },
        )

    # --- top untagged resources -----------------------------------------------------------------
    st.subheader("Top untagged resources")
    st.caption(
        "Resources no rule attributed, most expensive first (unblended, last billing "
        "period): tag them, or add a rule"
    )
    resources = queries.untagged_resources(snap, limit=20)
    st.dataframe(
        ui.as_float(resources, ["unblended_cost"]),
        hide_index=True,
        column_config={
            "resource_id": "Resource",
            "service_code": "Service",
            "account_id": "Account",
            "region": "Region",
            **ui.money_columns("unblended_cost"),
        },
    )
