"""``costlens export``: the month-end showback/chargeback of finance, reconciled to the invoice.

Reads the published snapshot through ``costlens.queries`` (``reports.exports``); the files land
atomically, and every export is logged in the state database.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, get_args

import typer

from costlens.commands._common import (
    console,
    emit_json,
    err_console,
    parse_month,
    record_json,
    settings,
)
from costlens.errors import QueryError, ReportError

__all__ = ["register"]


def register(app: typer.Typer) -> None:
    """Add ``export`` to the ``costlens`` command."""

    @app.command("export")
    def export_command(
        ctx: typer.Context,
        period: Annotated[str, typer.Option("--period", help="First month, YYYY-MM.")],
        out: Annotated[Path, typer.Option("--out", help="File to write (.xlsx, .csv, .parquet).")],
        to: Annotated[
            str | None, typer.Option("--to", help="Last month, YYYY-MM (default: --period).")
        ] = None,
        fmt: Annotated[
            str | None,
            typer.Option("--format", help="xlsx, csv or parquet (default: from --out's suffix)."),
        ] = None,
        by: Annotated[
            str,
            typer.Option(
                "--by",
                help="Extra Detail dimensions, comma-separated (e.g. cost_center,region); the "
                "Detail always has owner, microservice, service and account.",
            ),
        ] = "",
        cost_type: Annotated[
            str,
            typer.Option(
                "--cost-type", help="unblended (the invoice; default), amortized, net_amortized."
            ),
        ] = "unblended",
        json_output: Annotated[
            bool, typer.Option("--json", help="Print a JSON summary.", callback=record_json)
        ] = False,
    ) -> None:
        """Write the showback of a month (or range): Summary, Detail, Shared costs, Unallocated,
        Reconciliation (difference 0.00), Adjustments and Assumptions.

        XLSX holds every sheet; CSV and Parquet hold the Detail rows, with the reconciliation
        in a side file (<name>.reconciliation.csv/.parquet). Exits non-zero when the
        reconciliation is not exactly 0.00 (the files show where).
        """
        from reports.exports.files import ExportFormat
        from reports.exports.run import adjustments_total, export_payload, run_export

        start = parse_month(period, "--period", QueryError)
        end = None if to is None else parse_month(to, "--to", QueryError)
        chosen = fmt or out.suffix.lstrip(".").lower()
        formats = get_args(ExportFormat)
        if chosen not in formats:
            raise ReportError(
                f"unknown export format {chosen or '(none)'!r}",
                where="--format",
                fix=f"use --format {' | '.join(formats)}, or an --out ending in one of them",
            )
        dims = tuple(d.strip() for d in by.split(",") if d.strip())
        result = run_export(
            settings(ctx), start, end, fmt=chosen, out=out, cost_type=cost_type, by=dims,  # type: ignore[arg-type]
        )  # fmt: skip
        sb = result.showback
        if json_output:
            emit_json(export_payload(result))
        else:
            span = ", ".join(f"{p:%Y-%m}" for p in sb.periods)
            console.print(
                f"{span} in {sb.cost_type} cost: ${sb.total:,.2f} in "
                f"{len(sb.detail.rows):,} Detail rows; reconciliation "
                + ("0.00" if sb.reconciled else "NOT 0.00")
                + f"; written {', '.join(str(f) for f in result.files)}"
            )
            if sb.not_final:
                months = ", ".join(f"{p:%Y-%m}" for p in sorted(sb.not_final))
                console.print(f"not final (no invoice id yet): {months}")
            if sb.adjustments.rows:
                console.print(
                    f"restated after close by ${adjustments_total(sb):,.2f} "
                    f"({len(sb.adjustments.rows)} adjustment row(s), on the Adjustments sheet)"
                )
        if not sb.reconciled:
            off = "; ".join(f"{t} off by up to {v}" for t, v in sb.differences.items() if v)
            err_console.print(
                "error: the export does NOT reconcile to the line items "
                f"({off}); see its Reconciliation sheet. Fix: run `costlens sync` (a line "
                "item changed after it was attributed), then export again."
            )
            raise typer.Exit(3)
