"""``costlens generate-sample``: write a realistic billing export of the sample company."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from costlens.commands._common import console, emit_json, parse_month, record_json, settings
from costlens.errors import SampleError
from costlens.progress import terminal_progress
from costlens.schema import EXPORT_FORMATS

__all__ = ["register"]


def generate_sample_command(
    ctx: typer.Context,
    out: Annotated[Path, typer.Argument(help="Folder playing the S3 bucket root + prefix.")],
    format: Annotated[
        str, typer.Option("--format", "-f", help=f"One of {', '.join(EXPORT_FORMATS)}.")
    ] = "cur2",
    months: Annotated[int, typer.Option(help="Months of history.")] = 3,
    seed: Annotated[int, typer.Option(help="Seed: same seed, same data.")] = 1,
    scale: Annotated[float, typer.Option(help="1 ≈ 150k line items a month.")] = 1.0,
    restate: Annotated[
        bool,
        typer.Option("--restate", help="Also write a later, restated delivery of the last month."),
    ] = False,
    overwrite: Annotated[
        bool, typer.Option("--overwrite", help="Legacy CUR OVERWRITE layout (no assembly folders).")
    ] = False,
    last_month: Annotated[
        str | None,
        typer.Option(
            "--end-month",
            help="Last month, YYYY-MM (default: the last complete month; COSTLENS_TODAY pins "
            "today).",
        ),
    ] = None,
    as_json: Annotated[
        bool, typer.Option("--json", help="Print the result as JSON.", callback=record_json)
    ] = False,
) -> None:
    """Generate a sample AWS billing export (CUR 2.0, legacy CUR CSV/Parquet or FOCUS 1.0)."""
    from costlens.sample import generate_sample, last_complete_month

    if last_month is None:
        end = last_complete_month(settings(ctx).current_date())
    else:
        end = parse_month(last_month, "--end-month", SampleError)
    result = generate_sample(
        out,
        format=format,
        months=months,
        seed=seed,
        scale=scale,
        restate=restate,
        overwrite=overwrite,
        end_month=end,
        progress=terminal_progress(),
    )
    if as_json:
        emit_json(
            {
                "format": result.format,
                "export": result.export,
                "files": [str(p) for p in result.files],
                "line_items": result.line_items,
                "periods": [p.isoformat() for p in result.periods],
                "labels_path": str(result.labels_path),
                "deliveries": result.deliveries,
                "seconds": round(result.seconds, 3),
            }
        )
        return
    console.print(
        f"Wrote {result.line_items:,} line items in {len(result.files)} files "
        f"({result.format}, {result.periods[0]:%Y-%m}..{result.periods[-1]:%Y-%m}) to {out} "
        f"in {result.seconds:.1f}s; ground truth in {result.labels_path}"
    )


def register(app: typer.Typer) -> None:
    """Add ``generate-sample`` to ``app``."""
    app.command("generate-sample")(generate_sample_command)
