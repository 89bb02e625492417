"""Explore: spend by any allowed dimension, at any grain, with filters; download it as CSV."""

from __future__ import annotations

import plotly.express as px
import streamlit as st

from app_pages import _accounts as accounts
from app_pages import _charts as charts
from app_pages import _shared as ui
from costlens import queries

TOP_VALUES = 10
GRAIN_HEADERS = {"day": "Day", "week": "Week starting", "month": "Billing period"}


def _label(dimension: str) -> str:
    return ui.DIMENSION_LABELS.get(dimension, dimension.replace("_", " ").capitalize())


with ui.page_errors():
    snap = ui.snapshot()
    ctl = ui.controls()
    st.title("Explore")

    # Each widget starts at its link parameter (group_by, grain, filter, value) and writes it.
    ui.link_choice("group_by", "explore_dimension", snap.dimensions, None)
    ui.link_choice("grain", "explore_grain", queries.GRAINS, "week")
    ui.link_choice("filter", "explore_filter", ["(none)", *snap.dimensions], None)
    dim_col, grain_col = st.columns([3, 1])
    dimension = dim_col.selectbox(
        "Group by",
        snap.dimensions,
        format_func=_label,
        key="explore_dimension",
        on_change=ui.keep_param,
        args=("group_by", "explore_dimension"),
    )
    grain = (
        grain_col.segmented_control(
            "Grain",
            queries.GRAINS,
            key="explore_grain",
            on_change=ui.keep_param,
            args=("grain", "explore_grain"),
        )
        or "week"
    )
    filter_col, values_col = st.columns([1, 3])
    filter_dimension = filter_col.selectbox(
        "Filter on",
        ["(none)", *snap.dimensions],
        format_func=_label,
        key="explore_filter",
        on_change=ui.keep_param,
        args=("filter", "explore_filter"),
    )
    where: dict[str, list[str]] = {}
    if filter_dimension != "(none)":
        values = queries.dimension_values(snap, filter_dimension)
        values_key = f"explore_filter_{filter_dimension}"
        if values_key not in st.session_state and "value" in st.query_params:
            linked = st.query_params.get_all("value")
            unknown = [v for v in linked if v not in values]
            if unknown:
                ui.show_notices(
                    [
                        f"Ignored value={', '.join(unknown)} (no such {_label(filter_dimension)}); "
                        "showing the others."
                    ]
                )
            st.session_state[values_key] = [v for v in linked if v in values]
        chosen = values_col.multiselect(
            f"{_label(filter_dimension)} is one of",
            values,
            key=values_key,
            on_change=ui.keep_param,
            args=("value", values_key),
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

    names = accounts.account_names(snap)
    if dimension in accounts.ACCOUNT_DIMENSIONS:  # "Payments prod (210987654301)"
        frame[dimension] = [accounts.account_label(names, a) for a in frame[dimension]]
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
    chart.update_layout(height=380, yaxis_tickprefix="$")
    charts.legend_below(chart, _label(dimension))
    notes = charts.mark_partial(chart, grain, ctl.start, ctl.end)
    charts.time_axis(chart, grain, ctl.start, ctl.end)
    charts.show(chart, notes)

    st.dataframe(
        ui.as_float(frame, ["cost"]),
        hide_index=True,
        column_config={
            "period": st.column_config.DateColumn(grain.capitalize()),
            dimension: _label(dimension),
            **ui.money_columns("cost"),
        },
    )
    charts.csv_download(
        frame,
        {
            "period": GRAIN_HEADERS[grain],
            dimension: _label(dimension),
            "cost": f"{ctl.cost_type.replace('_', ' ').capitalize()} cost (USD)",
        },
        charts.csv_file_name(
            f"{ctl.cost_type} spend by {_label(dimension)}", ctl.start, ctl.end, f"by-{grain}"
        ),
    )
