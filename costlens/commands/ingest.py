"""``costlens ingest``: load billing exports into the warehouse (a thin layer over ``ingest``)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

import typer
from rich.table import Table

from costlens.commands._common import console, emit_json, settings
from costlens.progress import terminal_progress

if TYPE_CHECKING:
    from ingest.model import DeliveryResult, IngestReport

__all__ = ["register"]


def _summary(report: IngestReport) -> Table:
    table = Table(title="ingest")
    for name, justify in (
        ("source", "left"),
        ("report", "left"),
        ("period", "left"),
        ("rows", "right"),
        ("unblended total", "right"),
        ("status", "left"),
    ):
        table.add_column(name, justify=justify)  # type: ignore[arg-type]
    for d in report.deliveries:
        table.add_row(
            d.source,
            d.report,
            f"{d.billing_period:%Y-%m}",
            f"{d.rows:,}",
            f"{d.totals['unblended_cost']:,.2f}",
            d.status,
        )
    return table


def _delivery_line(d: DeliveryResult) -> str:
    return (
        f"ingest: {d.source} {d.report} {d.billing_period:%Y-%m}: {d.rows:,} rows, "
        f"unblended {d.totals['unblended_cost']:,.2f}, {d.status}"
    )


def ingest_command(
    ctx: typer.Context,
    target: Annotated[
        str | None,
        typer.Argument(
            help="A configured source name, a file or folder, or s3://bucket/prefix "
            "(default: every configured source).",
            show_default=False,
        ),
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the results as JSON.")] = False,
    replace: Annotated[
        bool,
        typer.Option(
            "--replace",
            help="Let these deliveries replace another source's or report's deliveries of the "
            "same usage accounts (a new export of the same bill), instead of refusing them.",
        ),
    ] = False,
) -> None:
    """Ingest CUR 2.0, legacy CUR (CSV/Parquet) or FOCUS exports; unchanged ones are skipped."""
    from ingest import ingest

    report = ingest(settings(ctx), target, progress=terminal_progress(), replace=replace)
    if as_json:
        emit_json(report.as_dict())
        return
    if not report.deliveries:
        console.print("nothing to ingest")
        return
    if console.is_terminal:
        console.print(_summary(report))
    else:  # a log: one whole line per delivery, never a cut source name
        for d in report.deliveries:
            console.print(_delivery_line(d))


def register(app: typer.Typer) -> None:
    """Add ``ingest`` to the ``costlens`` command."""
    app.command("ingest")(ingest_command)
