"""Allocation health: how the cost was attributed, and what no rule caught yet."""

from __future__ import annotations

import plotly.express as px
import streamlit as st

from app_pages import _accounts as accounts
from app_pages import _charts as charts
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
UNTAGGED_SHOWN = 10
BASIS_COLORS = {"tag": "#3182bd", "rule": "#6baed6", "split": "#9ecae1", "unallocated": "#d62728"}

with ui.page_errors():
    snap = ui.snapshot()
    ctl = ui.controls()
    st.title("Allocation health")

    # --- how the cost was attributed ------------------------------------------------------------
    health = queries.allocation_health(snap, cost_type=ctl.cost_type)
    latest_period = health["billing_period"].max()
    latest = health[health["billing_period"] == latest_period].set_index("allocation")
    kind = ctl.cost_type.replace("_", " ")
    st.caption(
        f"Shares of {latest_period:%B %Y}'s {kind} charges (its positive amounts; credits move "
        f"the dollars, not the shares) · {ui.COST_TYPES[ctl.cost_type]}"
    )
    names = accounts.account_names(snap)
    for column, method in zip(st.columns(len(METHODS)), METHODS, strict=True):
        share = latest["share"].get(method, 0.0)
        cost = latest["cost"].get(method)
        column.metric(
            METHODS[method],
            ui.percent(share),
            border=True,
            help=f"{ui.percent(share)} of {latest_period:%B %Y}'s {kind} charges; "
            f"{ui.money(cost)} of {kind} cost that billing period." + ui.share_note(share),
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
        labels={
            "period": "Billing period",
            "share": f"Share of the period's {kind} charges",
            "method": "",
        },
        custom_data=["cost"],
    )
    chart.update_traces(hovertemplate="%{y:.1%} · $%{customdata[0]:,.2f}<extra></extra>")
    chart.update_layout(height=300, yaxis_tickformat=".0%")
    charts.legend_below(chart, "Allocation")
    charts.show(chart)

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
            if dimension == "account_id":
                grid[dimension] = [accounts.account_label(names, a) for a in grid[dimension]]
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
            bars.update_layout(height=380, xaxis_tickprefix="$", yaxis={"type": "category"})
            charts.legend_below(bars, "Attributed")
            with column:
                charts.show(bars)

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
        grid["account_id"] = [accounts.account_label(names, a) for a in grid["account_id"]]
        bars = px.bar(
            ui.as_float(grid, ["cost"]),
            x="cost",
            y="account_id",
            color="service_code",
            orientation="h",
            labels={
                "cost": f"Unallocated {kind} cost",
                "account_id": ui.DIMENSION_LABELS["account_id"],
                "service_code": ui.DIMENSION_LABELS["service_code"],
            },
        )
        bars.update_layout(height=300, xaxis_tickprefix="$", yaxis={"type": "category"})
        charts.legend_below(bars, ui.DIMENSION_LABELS["service_code"])
        charts.show(bars)
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
    resources = queries.untagged_resources(snap, limit=UNTAGGED_SHOWN, costing_only=True)
    resources["account_id"] = [accounts.account_label(names, a) for a in resources["account_id"]]
    st.caption(
        f"The {len(resources)} most expensive resources no rule attributed in "
        f"{latest_period:%B %Y} (unblended cost, the invoice's, whatever the cost type chosen; "
        "resources that cost nothing are left out): tag them, or add a rule"
    )
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
