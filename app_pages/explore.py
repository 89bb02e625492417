"""Explore: spend by any allowed dimension, at any grain, with filters; download it as CSV."""

from __future__ import annotations

import plotly.express as px
import streamlit as st

from app_pages import _shared as ui
from costlens import queries

TOP_VALUES = 10


def _label(dimension: str) -> str:
    return ui.DIMENSION_LABELS.get(dimension, dimension.replace("_", " ").capitalize())


with ui.page_errors():
    snap = ui.snapshot()
    ctl = ui.controls()
    st.title("Explore")

    dim_col, grain_col = st.columns([3, 1])
    dimension = dim_col.selectbox(
        "Group by", snap.dimensions, format_func=_label, key="explore_dimension"
    )
    grain = (
        grain_col.segmented_control("Grain", queries.GRAINS, default="week", key="explore_grain")
        or "week"
    )
    filter_col, values_col = st.columns([1, 3])
    filter_dimension = filter_col.selectbox(
        "Filter on", ["(none)", *snap.dimensions], format_func=_label, key="explore_filter"
    )
    where: dict[str, list[str]] = {}
    if filter_dimension != "(none)":
        chosen = values_col.multiselect(
            f"{_label(filter_dimension)} is one of",
            queries.dimension_values(snap, filter_dimension),
            key=f"explore_filter_{filter_dimension}",
        )
        if chosen:
            where[filter_dimension] = chosen

    frame = queries.spend(
        snap,
        grain=grain,
        by=(dimension,),
        cost_type=ctl.cost_type,
        start=ctl.start,
        end=ctl.end,
        where=where,
    )
    st.metric(
        "Total",
        ui.money(ui.total(frame)),
        border=True,
        help=f"{ui.COST_TYPES[ctl.cost_type]}, {ctl.start:%d %b %Y} – {ctl.end:%d %b %Y}",
    )

    bars, order = ui.top_with_other(frame, dimension, TOP_VALUES)
    chart = px.bar(
        bars,
        x="period",
        y="cost",
        color=dimension,
        category_orders={dimension: order},
        color_discrete_map={"Other": ui.OTHER_COLOR},
        labels={"period": grain.capitalize(), "cost": "Cost", dimension: _label(dimension)},
    )
    chart.update_layout(height=380, margin={"t": 10, "b": 10}, yaxis_tickprefix="$")
    st.plotly_chart(chart)

    st.dataframe(
        ui.as_float(frame, ["cost"]),
        hide_index=True,
        column_config={
            "period": st.column_config.DateColumn(grain.capitalize()),
            dimension: _label(dimension),
            **ui.money_columns("cost"),
        },
    )
    st.download_button(
        "Download CSV",
        frame.to_csv(index=False).encode(),
        file_name=f"costlens-{ctl.cost_type}-by-{dimension}-{grain}.csv",
        mime="text/csv",
        icon=":material/download:",
    )
