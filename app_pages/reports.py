"""Reports: finance's month-end showback, previewed and downloaded (XLSX, CSV, Parquet), with
each month's status (final or not, closed or open) and the restatements of closed months.

The files are the ones ``costlens export`` writes (``reports.exports``), in the sidebar's cost
type; each download is logged in the state database like an export from the CLI. Below them,
the weekly digest of an owner and week as ``costlens digest`` would send it (``reports.digest``).
"""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

import pandas as pd
import streamlit as st

from app_pages import _shared as ui
from costlens import queries
from costlens.attribution import load_owners
from reports.digest import IsoWeek, last_complete_week, render_digest
from reports.exports.build import build_showback
from reports.exports.files import write_export
from reports.exports.run import log_export

_MIME = {
    "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    "csv": "text/csv",
    "parquet": "application/vnd.apache.parquet",
}


def _status(periods: pd.DataFrame) -> pd.DataFrame:
    """One line per month for people: invoice, closed, restated."""
    rows = []
    for p in periods.itertuples(index=False):
        restated = ""
        if p.closed and p.adjustments != 0:
            restated = f"restated by {ui.money(p.adjustments)} on {p.last_adjusted:%Y-%m-%d}"
        rows.append({
            "Month": f"{p.billing_period:%Y-%m}",
            "Invoice": p.invoice_ids if p.final else "not final (no invoice id yet)",
            "Line items": ui.money(p.line_items),
            "Status": f"closed {p.closed_at:%Y-%m-%d}" if p.closed else "open",
            "Restatement": restated,
        })  # fmt: skip
    return pd.DataFrame(rows)


def _file(showback: Any, fmt: str) -> bytes:
    """The export's main file in ``fmt``, as bytes."""
    with tempfile.TemporaryDirectory(prefix="costlens-report-") as tmp:
        path = Path(tmp) / f"showback.{fmt}"
        write_export(showback, fmt, path)  # type: ignore[arg-type]
        return path.read_bytes()


with ui.page_errors():
    snap = ui.snapshot()
    chosen = ui.controls()
    st.title("Reports")
    periods = queries.finance_periods(snap, cost_type=chosen.cost_type)
    months = list(periods["billing_period"])
    cost_label = ui.COST_TYPES[chosen.cost_type]
    st.caption(
        f"Month-end showback in **{cost_label}** cost (the sidebar's cost type; finance's "
        "default is unblended, the invoice). Every figure ties to the line items to the cent: "
        "the Reconciliation sheet proves it."
    )
    st.dataframe(_status(periods), hide_index=True, width="stretch")
    for p in periods.itertuples(index=False):
        if p.closed and p.adjustments != 0:
            st.warning(
                f"{p.billing_period:%B %Y} is closed and was restated by "
                f"{ui.money(p.adjustments)} on {p.last_adjusted:%Y-%m-%d}: the closed figures "
                "are unchanged, the difference is an adjustment in the export.",
                icon=":material/history:",
            )
    left, right = st.columns(2)
    start = left.selectbox(
        "From", months, index=len(months) - 1, format_func=lambda d: f"{d:%Y-%m}", key="r_from"
    )
    ends = [m for m in months if m >= start]
    end = right.selectbox("To", ends, format_func=lambda d: f"{d:%Y-%m}", key="r_to")
    extra = [d for d in snap.dimensions if d not in queries.DETAIL_DIMENSIONS]
    by = st.multiselect(
        "Detail also by", extra, format_func=lambda d: queries.DIMENSION_LABELS.get(d, d)
    )
    showback = build_showback(snap, start, end, cost_type=chosen.cost_type, by=by)
    if showback.not_final:
        st.warning(
            "Not final: "
            + ", ".join(f"{p:%Y-%m}" for p in sorted(showback.not_final))
            + " has no invoice id yet; figures can still change.",
            icon=":material/pending:",
        )
    if showback.reconciled:
        st.success(
            f"Reconciled: line items = direct + shared + unallocated, difference 0.00 "
            f"(total {ui.money(showback.total)}).",
            icon=":material/check_circle:",
        )
    else:
        st.error(
            "The export does NOT reconcile to the line items: see its Reconciliation sheet, "
            "then run `costlens sync`.",
            icon=":material/error:",
        )
    st.subheader("Summary")
    summary = showback.summary
    frame = pd.DataFrame(summary.rows, columns=list(summary.headers))
    money = [c.header for c in summary.columns if c.kind == "money"]
    shares = [c.header for c in summary.columns if c.kind == "percent"]
    shown = ui.as_float(frame, money)
    for column in shares:
        shown[column] = [None if v is None else float(v) * 100 for v in shown[column]]
    st.dataframe(
        shown,
        hide_index=True,
        width="stretch",
        column_config={
            **{c: st.column_config.NumberColumn(c, format="dollar") for c in money},
            **{c: st.column_config.NumberColumn(c, format="%.1f%%") for c in shares},
        },
    )
    st.caption(summary.note)
    name = f"showback-{start:%Y-%m}" + ("" if end == start else f"-to-{end:%Y-%m}")
    cols = st.columns(3)
    for column, fmt in zip(cols, ("xlsx", "csv", "parquet"), strict=True):
        column.download_button(
            f"Download {fmt.upper()}",
            data=lambda fmt=fmt: _file(showback, fmt),
            file_name=f"{name}.{fmt}",
            mime=_MIME[fmt],
            on_click=lambda fmt=fmt: log_export(
                ui.settings(), showback, fmt, f"dashboard:{name}.{fmt}", actor="dashboard"
            ),
            key=f"download_{fmt}",
        )
    st.caption(
        "XLSX holds every sheet (Summary, Detail, Shared costs, Unallocated, Reconciliation, "
        "Adjustments, Assumptions); CSV and Parquet hold the Detail rows. The CLI writes the "
        "same files: `costlens export --period YYYY-MM --format xlsx --out m.xlsx`."
    )

    # --- the weekly digest, as its owners receive it ----------------------------------------
    st.subheader("Weekly digest preview")
    registry = load_owners(ui.settings().owners)
    emailed = {o.id: o for o in sorted(registry.owners.values(), key=lambda o: o.id) if o.emails}
    newest = last_complete_week(snap.info.last_date)
    first = snap.info.first_date
    weeks: list[IsoWeek] = []
    if newest is not None and first is not None:
        weeks = [w for w in (newest.shift(-i) for i in range(8)) if w.start >= first]
    if not emailed or not weeks:
        st.info(
            "Nothing to preview: no owner has an email address in owners.yaml, or the data "
            "holds no complete ISO week yet.",
            icon=":material/mail:",
        )
    else:
        owner_col, week_col = st.columns(2)
        owner_id = owner_col.selectbox(
            "Owner",
            list(emailed),
            format_func=lambda o: f"{emailed[o].display_name} ({o})",
            key="digest_owner",
        )
        week = week_col.selectbox("Week", weeks, format_func=str, key="digest_week")
        digest_owner = emailed[owner_id]
        st.caption(
            f"What `costlens digest --week {week} --owner {owner_id} --send` sends to "
            f"{', '.join(digest_owner.emails)} (docs/digest.md)."
        )
        st.html(render_digest(snap, digest_owner, week, dashboard_url=ui.settings().dashboard_url))
