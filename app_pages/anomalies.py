"""Anomalies: the events, one event's actual against expected and root cause, and feedback."""

from __future__ import annotations

from datetime import timedelta

import plotly.express as px
import plotly.graph_objects as go
import streamlit as st

from app_pages import _shared as ui
from costlens import queries

SCANNED = ("owner", "microservice", "service_code", "account_id")
VERDICTS = {
    "expected": ":material/event_available:",
    "planned": ":material/event_note:",
    "real": ":material/report:",
}
CONTEXT_DAYS = 21


def _short(label: str, width: int = 48) -> str:
    return label if len(label) <= width else label[: width - 1] + "…"


with ui.page_errors():
    snap = ui.snapshot()
    ui.sidebar_controls(snap)
    st.title("Anomalies")
    st.caption(
        f"Detected on {snap.info.anomaly_cost_type} daily cost per owner, microservice, "
        "AWS service and account"
    )

    # --- the list -------------------------------------------------------------------------------
    dim_col, marked_col = st.columns([3, 1])
    dimension = dim_col.segmented_control(
        "Dimension",
        list(SCANNED),
        format_func=ui.DIMENSION_LABELS.__getitem__,
        key="anomaly_dimension",
    )
    include_marked = marked_col.toggle("Include marked", key="anomaly_include_marked")
    events = queries.anomalies(
        snap, dimension=dimension, include_marked=include_marked, marked=ui.feedback_marks()
    )
    if events.empty:
        st.success("No open anomalies.", icon=":material/check:")
        st.stop()
    st.dataframe(ui.anomaly_table(events), hide_index=True, column_config=ui.ANOMALY_COLUMNS)

    # --- one event in detail --------------------------------------------------------------------
    st.subheader("Detail")
    labels = {
        r.anomaly_id: f"{ui.DIMENSION_LABELS.get(r.dimension, r.dimension)} {r.value} · "
        f"{r.start_date:%d %b} · {ui.money(r.impact_cost)}"
        for r in events.itertuples()
    }
    chosen = st.selectbox("Anomaly", list(labels), format_func=labels.__getitem__, key="anomaly_id")
    event = events[events["anomaly_id"] == chosen].iloc[0]
    end = event["end_date"] if not event["ongoing"] else event["last_seen"]
    actual_col, expected_col, impact_col, days_col = st.columns(4)
    actual_col.metric("Actual", ui.money(event["actual_cost"]), border=True)
    expected_col.metric("Expected", ui.money(event["expected_cost"]), border=True)
    impact_col.metric(
        "Impact",
        ui.money(event["impact_cost"]),
        border=True,
        delta=ui.percent(event["impact_percent"] / 100, signed=True)
        if abs(event["impact_percent"]) != float("inf")
        else None,
        delta_color="inverse",
    )
    days_col.metric(
        "Days",
        int(event["days"]),
        border=True,
        help="ongoing" if event["ongoing"] else f"ended {end:%d %b %Y}",
    )

    chart_col, cause_col = st.columns(2)
    with chart_col:
        series = queries.spend(
            snap,
            grain="day",
            cost_type=snap.info.anomaly_cost_type,
            start=event["start_date"] - timedelta(days=CONTEXT_DAYS),
            end=end + timedelta(days=7),
            where={event["dimension"]: [event["value"]]},
        )
        series = ui.as_float(series, ["cost"])
        expected_per_day = float(event["expected_cost"]) / max(int(event["days"]), 1)
        detail = go.Figure(
            go.Scatter(
                x=series["period"],
                y=series["cost"],
                mode="lines+markers",
                name="Actual",
                line={"color": "#3182bd"},
            )
        )
        detail.add_trace(
            go.Scatter(
                x=[event["start_date"], end],
                y=[expected_per_day, expected_per_day],
                mode="lines+markers",
                name="Expected (per day)",
                line={"color": "#555", "dash": "dash"},
            )
        )
        detail.add_vrect(
            x0=event["start_date"] - timedelta(hours=12),
            x1=end + timedelta(hours=12),
            fillcolor="#d62728",
            opacity=0.12,
            line_width=0,
        )
        detail.update_layout(
            height=320,
            margin={"t": 30, "b": 10},
            yaxis_tickprefix="$",
            title="Actual against expected",
            legend={"orientation": "h"},
        )
        st.plotly_chart(detail)
    with cause_col:
        causes = queries.anomaly_root_cause(snap, chosen).head(10)
        if causes.empty:
            st.info("No root cause was computed for this anomaly.")
        else:
            causes["driver"] = [
                _short(f"{ui.DIMENSION_LABELS.get(d, d)}: {v}")
                for d, v in zip(causes["dimension"], causes["value"], strict=True)
            ]
            ranking = px.bar(
                ui.as_float(causes, ["delta_cost"]).iloc[::-1],
                x="delta_cost",
                y="driver",
                orientation="h",
                title="Root cause",
                labels={"delta_cost": "Contribution", "driver": ""},
            )
            ranking.update_layout(height=320, margin={"t": 30, "b": 10}, xaxis_tickprefix="$")
            st.plotly_chart(ranking)

    # --- feedback -------------------------------------------------------------------------------
    if isinstance(event["feedback"], str):
        st.info(f"Marked **{event['feedback']}**.", icon=":material/bookmark:")
    st.write("Mark this anomaly (marked anomalies are not raised again):")
    for column, (verdict, icon) in zip(st.columns(len(VERDICTS)), VERDICTS.items(), strict=True):
        if column.button(verdict.capitalize(), icon=icon, key=f"mark_{verdict}", width="stretch"):
            ui.mark_anomaly(chosen, verdict)
            st.toast(f"Marked {labels[chosen]} as {verdict}")
            st.rerun()
