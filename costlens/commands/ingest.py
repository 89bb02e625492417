"""``costlens ingest``: load billing exports into the warehouse (a thin layer over ``ingest``)."""

from __future__ import annotations

from decimal import Decimal
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.table import Table

from costlens.commands._common import console, emit_json, record_json, settings
from costlens.errors import CostlensError
from costlens.progress import terminal_progress

if TYPE_CHECKING:
    from ingest.model import IngestReport

__all__ = ["print_partial", "register"]


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


def _delivery_line(d: dict[str, Any]) -> str:
    """One whole line for a delivery (``DeliveryResult.as_dict``), as a log reads it."""
    return (
        f"ingest: {d['source']} {d['report']} {d['billing_period'][:7]}: {d['rows']:,} rows, "
        f"unblended {Decimal(d['totals']['unblended_cost']):,.2f}, {d['status']}"
    )


def print_partial(exc: CostlensError) -> None:
    """On stdout, what a failed ingest loaded, refused and did not reach (``exc.partial``);
    the error itself goes to stderr as one line."""
    report = exc.partial.get("ingest")
    if not report:
        return
    for d in report["deliveries"]:
        console.print(_delivery_line(d))
    for kind, rows in (("refused", report["refused"]), ("not reached", report["not_reached"])):
        for u in rows:
            period = (u["billing_period"] or "(period from the data)")[:7]
            console.print(f"ingest: {u['source']} {u['report']} {period}: {kind}, kept as it was")


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
    as_json: Annotated[
        bool, typer.Option("--json", help="Print the results as JSON.", callback=record_json)
    ] = False,
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

    try:
        report = ingest(settings(ctx), target, progress=terminal_progress(), replace=replace)
    except CostlensError as exc:
        if not as_json:  # --json: main prints the error with what was done (exc.partial)
            print_partial(exc)
        raise
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
            console.print(_delivery_line(d.as_dict()))
    for collision in report.tag_key_collisions:
        console.print(f"ingest: warning: {collision.message()}")


def register(app: typer.Typer) -> None:
    """Add ``ingest`` to the ``costlens`` command."""
    app.command("ingest")(ingest_command)
