"""``costlens refresh`` and ``costlens sync`` (= ingest + attribute + refresh, safe from cron).

The library side of sync (its lock, what to re-attribute) is ``costlens.sync``; an overlapping
run exits at once with status 75 (EX_TEMPFAIL) and one line naming the holder. Readers
(dashboard, exports, digests) only ever open the published snapshot and never wait.
"""

from __future__ import annotations

import time
from decimal import Decimal
from typing import Annotated, Any

import typer

from costlens.commands._common import console, emit_json, record_json, settings
from costlens.config import Settings
from costlens.errors import CostlensError
from costlens.progress import terminal_progress
from costlens.sync import attribute_changed, periods_to_attribute, sync_lock

__all__ = [
    "describe_attribution",
    "periods_to_attribute",
    "register",
    "run_refresh",
    "run_sync",
    "sync_lock",
]


def run_refresh(cfg: Settings, *, show_progress: bool = True, full: bool = False) -> dict[str, Any]:
    """Build and publish a new snapshot from the warehouse; returns the refresh summary.
    ``full`` rebuilds every billing period instead of re-using unchanged ones."""
    from costlens.refresh import refresh
    from costlens.warehouse import open_warehouse

    with open_warehouse(cfg.data_dir) as wh:
        report = refresh(
            wh, cfg, progress=terminal_progress() if show_progress else None, full=full
        )
    return report.as_dict()


def describe_attribution(summary: dict[str, Any]) -> str:
    """One line for a person about what ``costlens.sync.attribute_changed`` did."""
    restated = _describe_adjustments(summary.get("adjustments") or [])
    if summary.get("skipped") or (not summary["periods"] and not summary["rows"]):
        return restated or "nothing new to attribute"
    periods = ", ".join(p[:7] for p in summary["periods"]) or "every period"
    return (
        f"{summary['rows']:,} allocation rows, {summary['unallocated_share']:.1%} of the "
        f"amortized charges of {periods} unallocated"
    ) + (f"; {restated}" if restated else "")


def _describe_adjustments(adjustments: list[dict[str, Any]]) -> str:
    """What the restatements of closed months recorded ("" when none), per month in unblended
    cost, the invoice's.

    >>> _describe_adjustments([{"billing_period": "2026-10-01", "unblended_cost": "-12.5"},
    ...                        {"billing_period": "2026-10-01", "unblended_cost": "2"}])
    'closed 2026-10 restated: -$10.50 unblended recorded as 2 adjustment rows'
    """
    months: dict[str, list[Decimal]] = {}
    for row in adjustments:
        months.setdefault(str(row["billing_period"])[:7], []).append(Decimal(row["unblended_cost"]))
    return "; ".join(
        f"closed {month} restated: {'-' if sum(v) < 0 else ''}${abs(sum(v)):,.2f} unblended "
        f"recorded as {len(v)} adjustment row{'s' if len(v) != 1 else ''}"
        for month, v in sorted(months.items())
    )


def run_sync(
    cfg: Settings, target: str | None = None, *, show_progress: bool = True
) -> dict[str, Any]:
    """Ingest (every source, or ``target``), attribute and refresh under ``sync.lock``."""
    from ingest import ingest

    started = time.perf_counter()
    progress = terminal_progress() if show_progress else None
    with sync_lock(cfg.data_dir):
        ingested = ingest(cfg, target, progress=progress)
        changed = {d.billing_period for d in ingested.deliveries if d.status in ("new", "replaced")}
        attributed = attribute_changed(cfg, changed)
        refreshed = run_refresh(cfg, show_progress=show_progress)
    return {
        "ingest": ingested.as_dict(),
        "attribute": attributed,
        "refresh": refreshed,
        "seconds": round(time.perf_counter() - started, 3),
    }


def _print_refresh(summary: dict[str, Any]) -> None:
    console.print(
        f"snapshot {summary['path']}: {summary['allocation_rows']:,} allocation rows "
        f"({summary['first_date']} to {summary['last_date']}), {summary['deliveries']} "
        f"deliveries, {summary['open_anomalies']} open anomalies of {summary['anomalies']}, "
        f"{summary['budgets']} budgets; "
        + (
            "unchanged (nothing new since it was built)"
            if summary.get("unchanged")
            else f"built in {summary['seconds']:.1f}s"
        )
    )


def register(app: typer.Typer) -> None:
    """Add ``refresh`` and ``sync`` to the ``costlens`` command."""

    @app.command("refresh")
    def refresh_command(
        ctx: typer.Context,
        json_output: Annotated[
            bool, typer.Option("--json", help="Print a JSON summary.", callback=record_json)
        ] = False,
        full: Annotated[
            bool,
            typer.Option(
                "--full",
                help="Rebuild every billing period (default: re-use the periods whose "
                "deliveries, rules and rows are unchanged).",
            ),
        ] = False,
    ) -> None:
        """Rebuild the serving snapshot (rollups, anomalies, forecasts, budgets) and publish it."""
        summary = run_refresh(settings(ctx), show_progress=not json_output, full=full)
        if json_output:
            emit_json(summary)
        else:
            _print_refresh(summary)

    @app.command("sync")
    def sync_command(
        ctx: typer.Context,
        target: Annotated[
            str | None,
            typer.Argument(help="A source name, path or s3:// URL (default: every source)."),
        ] = None,
        json_output: Annotated[
            bool, typer.Option("--json", help="Print a JSON summary.", callback=record_json)
        ] = False,
    ) -> None:
        """Ingest new deliveries, attribute them and publish a new snapshot (safe from cron)."""
        from costlens.commands.ingest import print_partial

        try:
            summary = run_sync(settings(ctx), target, show_progress=not json_output)
        except CostlensError as exc:
            if not json_output:  # --json: main prints the error with what was done
                print_partial(exc)
            raise
        if settings(ctx).digest.auto:  # `[digest] auto`: the last complete week, sent once
            from costlens.commands.digest import deliver_week, exit_if_failed

            summary["digest"] = deliver_week(settings(ctx), send=True)
        if json_output:
            emit_json(summary)
            if "digest" in summary:
                exit_if_failed(summary["digest"])
            return
        loaded = sum(d["status"] in ("new", "replaced") for d in summary["ingest"]["deliveries"])
        att = summary["attribute"]
        console.print(f"ingest: {loaded} deliveries loaded; attribute: {describe_attribution(att)}")
        _print_refresh(summary["refresh"])
        if "digest" in summary:
            d = summary["digest"]
            sent = sum(x["status"] == "sent" for x in d["digests"])
            console.print(f"digest {d['week']}: {sent} sent")
            exit_if_failed(d)
