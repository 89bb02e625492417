"""Anomalies: the events, one event's actual against expected and root cause, and feedback."""

from __future__ import annotations

from datetime import timedelta

import numpy as np
import pandas as pd
import plotly.express as px
import plotly.graph_objects as go
import streamlit as st

from app_pages import _accounts as accounts
from app_pages import _charts as charts
from app_pages import _scorecard_format as sc
from app_pages import _shared as ui
from costlens import queries
from costlens.anomalies import describe_driver
from costlens.anomalies.describe import DRIVER_LABELS, describe_followed, describe_hourly
from costlens.anomalies.driver_ranking import HEADLINE_ORDER

SCANNED = ("owner", "microservice", "service_code", "account_id")
VERDICTS = {
    "expected": ":material/event_available:",
    "planned": ":material/event_note:",
    "real": ":material/report:",
}
CONTEXT_DAYS = 21
_JUST_MARKED = "anomaly_just_marked"
_WRITTEN = "anomaly_written"  # the anomaly this page last put in the address
"""Session key of the anomaly marked last: it stays on the list, selected, showing its mark."""


def _short(label: str, width: int = 56) -> str:
    return label if len(label) <= width else label[: width - 1] + "…"


def _root_cause(causes: pd.DataFrame, event: pd.Series, names: dict[str, str]) -> None:
    """The headline, then one view of the impact's split (the headline's by default), its rows
    adding up to the impact."""
    headline = str(accounts.with_account_names(names, str(event["top_driver"])))
    st.markdown(f"**Root cause:** {sc.plain_text(headline)}")
    views = [v for v in HEADLINE_ORDER if v in set(causes["dimension"])]
    view = st.segmented_control(
        "Split by",
        views,
        default=str(causes["dimension"].iloc[0]),
        format_func=lambda v: DRIVER_LABELS.get(v, v),
        key=f"cause_view_{event['anomaly_id']}",
    ) or str(causes["dimension"].iloc[0])
    rows = causes[causes["dimension"] == view].copy()
    rows["driver"] = [
        f"({n} others)"
        if n
        else _short(str(accounts.with_account_names(names, describe_driver(d, v))))
        for d, v, n in zip(rows["dimension"], rows["value"], rows["others"], strict=True)
    ]
    rows = ui.as_float(rows, ["delta_cost"]).sort_values("delta_cost")
    ranking = px.bar(
        rows, x="delta_cost", y="driver", orientation="h",
        color=np.where(rows["delta_cost"] >= 0, "increase", "decrease"),
        color_discrete_map={"increase": "#d62728", "decrease": "#2ca02c"},
        labels={"delta_cost": "Contribution to the impact", "driver": "", "color": ""},
    )  # fmt: skip
    ranking.update_layout(
        height=320, margin={"t": 10, "b": 10}, xaxis_tickprefix="$", showlegend=False
    )
    charts.show(ranking)
    st.caption(
        f"These rows add up to the impact, {ui.money(event['impact_cost'])}: each is the "
        "driver's actual cost on the anomalous days less its part of the expected cost (the "
        "expected cost split by its cost in the 28 days before)."
    )


with ui.page_errors():
    snap = ui.snapshot()
    ctl = ui.controls()
    st.title("Anomalies")
    detected_on = snap.info.anomaly_cost_type.replace("_", " ")
    st.caption(
        f"Detection runs on {detected_on} cost, whatever the cost type chosen "
        f"({ctl.cost_type.replace('_', ' ')}): every figure on this page is {detected_on}. "
        f"Incidents overlapping {ctl.start:%d %b %Y} – {ctl.end:%d %b %Y}, scanned on the daily "
        "cost of usage per microservice, owner, AWS service and account (tax, credits, refunds "
        "and fees are billing events, not scanned). A change seen on a microservice and on its "
        "owner, account or service is one incident; pick a dimension to see each series' events."
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
        snap,
        dimension=dimension,
        include_marked=True,
        marked=ui.feedback_marks(),
        incidents=dimension is None,
        start=ctl.start,
        end=ctl.end,
    )
    if not include_marked:  # the one just marked stays, selected, its verdict in "Marked"
        just_marked = st.session_state.get(_JUST_MARKED)
        keep = events["feedback"].isna() | (events["anomaly_id"] == just_marked)
        events = events[keep].reset_index(drop=True)
    if events.empty:
        st.success("No open anomalies.", icon=":material/check:")
        st.stop()
    names = accounts.account_names(snap)
    shown = events.assign(
        value=[
            accounts.account_label(names, v) if d in accounts.ACCOUNT_DIMENSIONS else v
            for d, v in zip(events["dimension"], events["value"], strict=True)
        ],
        top_driver=[accounts.with_account_names(names, t) for t in events["top_driver"]],
        also_seen=[accounts.with_account_names(names, t) for t in events["also_seen"]],
    )
    st.dataframe(ui.anomaly_table(shown), hide_index=True, column_config=ui.ANOMALY_COLUMNS)

    # --- one event in detail --------------------------------------------------------------------
    st.subheader("Detail")
    labels = {
        r.anomaly_id: f"{ui.DIMENSION_LABELS.get(r.dimension, r.dimension)} {r.value} · "
        f"{r.start_date:%d %b} · {ui.money(r.impact_cost)}"
        for r in shown.itertuples()
    }
    linked = st.query_params.get("anomaly")
    # A link's choice: an address naming another anomaly than the one this page last wrote there
    # (which, after the reader picks another, is the one they left).
    written = st.session_state.get(_WRITTEN)
    if linked is not None and linked not in (written, st.session_state.get("anomaly_id")):
        if linked in labels:
            st.session_state["anomaly_id"] = linked
        else:
            ui.show_notices(
                [
                    f"Ignored anomaly={linked} (no such open anomaly in these dates); showing the "
                    "first listed."
                ]
            )
    chosen = st.selectbox("Anomaly", list(labels), format_func=labels.__getitem__, key="anomaly_id")
    st.query_params["anomaly"] = chosen  # the address names the anomaly shown, to share it
    st.session_state[_WRITTEN] = chosen
    event = events[events["anomaly_id"] == chosen].iloc[0]
    if isinstance(event["also_seen"], str):
        seen = accounts.with_account_names(names, event["also_seen"])
        st.caption(f"Also seen on {seen} (the same change, one incident).")
    elif event["incident_id"] != event["anomaly_id"]:
        st.caption("Part of a microservice's incident (listed without a dimension chosen).")
    end = event["end_date"] if not event["ongoing"] else event["last_seen"]
    actual_col, expected_col, impact_col, days_col = st.columns(4)
    actual_col.metric("Actual", ui.money(event["actual_cost"]), border=True)
    expected_col.metric("Expected", ui.money(event["expected_cost"]), border=True)
    impact_col.metric(
        "Impact",
        ui.money(event["impact_cost"]),
        border=True,
        delta=ui.impact_percent(event["impact_percent"]),
        delta_color="inverse",
    )
    days_col.metric(
        "Days",
        int(event["days"]),
        border=True,
        help="ongoing" if event["ongoing"] else f"ended {end:%d %b %Y}",
    )
    followed = describe_followed(
        event["follow_state"], event["settled_since"], event["start_date"],
        event["followed_until"], event["total_impact"], event["daily_excess"],
    )  # fmt: skip
    if event["grain"] == "hour":  # raised before a day's total shows it: no level to follow yet
        said = describe_hourly(event["started_at"], event["impact_cost"])
        st.markdown(f"**Hourly scan:** {sc.plain_text(said)}")
    elif followed is not None:
        st.markdown(f"**Since it began:** {sc.plain_text(followed)}")

    chart_col, cause_col = st.columns(2)
    with chart_col:
        days = ui.as_float(queries.anomaly_days(snap, chosen), ["actual_cost", "expected_cost"])
        if days.empty:  # a snapshot built before per-day expectations were kept
            days = queries.spend(
                snap,
                grain="day",
                cost_type=snap.info.anomaly_cost_type,
                start=event["start_date"] - timedelta(days=CONTEXT_DAYS),
                end=end + timedelta(days=7),
                where={event["dimension"]: [event["value"]]},
            ).rename(columns={"period": "usage_date", "cost": "actual_cost"})
            days = ui.as_float(days, ["actual_cost"]).assign(expected_cost=None)
        detail = go.Figure(
            go.Scatter(
                x=days["usage_date"],
                y=days["actual_cost"],
                mode="lines+markers",
                name="Actual (usage)",
                line={"color": "#3182bd"},
            )
        )
        detail.add_trace(
            go.Scatter(
                x=days["usage_date"],
                y=days["expected_cost"],
                mode="lines",
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
            title=f"Actual against expected ({detected_on} cost)",
        )
        charts.legend_below(detail, "")
        detail.update_layout(margin={"t": 30, "b": 10})
        charts.show(detail)
    with cause_col:
        causes = queries.anomaly_root_cause(snap, chosen)
        if causes.empty:
            st.info("No root cause was computed for this anomaly.")
        else:
            _root_cause(causes, event, names)

    # --- feedback -------------------------------------------------------------------------------
    if isinstance(event["feedback"], str):
        st.info(
            f"Marked **{event['feedback']}**: it stays listed until you mark another one (or "
            "open the dashboard anew), then only with *Include marked*.",
            icon=":material/bookmark:",
        )
    st.write("Mark this anomaly (marked anomalies are not raised again):")
    for column, (verdict, icon) in zip(st.columns(len(VERDICTS)), VERDICTS.items(), strict=True):
        if column.button(verdict.capitalize(), icon=icon, key=f"mark_{verdict}", width="stretch"):
            ui.mark_anomaly(chosen, verdict)
            st.session_state[_JUST_MARKED] = chosen
            st.toast(f"Marked {labels[chosen]} as {verdict}")
            st.rerun()
