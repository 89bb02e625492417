"""``costlens refresh`` and ``costlens sync`` (= ingest + attribute + refresh, safe from cron).

``sync`` holds ``<data_dir>/sync.lock`` for its whole run, so two overlapping cron runs never
interleave: the second exits at once with status 75 (EX_TEMPFAIL) and one line naming the holder.
Each stage takes the warehouse's writer lock as it goes; readers (dashboard, exports, digests)
only ever open the published snapshot and never wait.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Annotated, Any

import typer

from costlens.commands._common import console, emit_json, settings
from costlens.config import Settings
from costlens.errors import WarehouseBusyError
from costlens.progress import terminal_progress

__all__ = ["register", "run_refresh", "run_sync", "sync_lock"]

SYNC_LOCK = "sync.lock"


@contextlib.contextmanager
def sync_lock(data_dir: Path) -> Iterator[None]:
    """Hold ``<data_dir>/sync.lock`` (exclusive, non-blocking) for the block."""
    data_dir.mkdir(parents=True, exist_ok=True)
    path = data_dir / SYNC_LOCK
    with path.open("a+") as fh:
        try:
            fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            fh.seek(0)
            holder = fh.read().strip() or "another process"
            raise WarehouseBusyError(
                f"a sync is already running ({holder})",
                where=str(path),
                fix="let it finish; cron's next run will pick up anything new",
            ) from None
        fh.seek(0)
        fh.truncate()
        fh.write(f"PID {os.getpid()}")
        fh.flush()
        try:
            yield
        finally:
            fh.seek(0)
            fh.truncate()
            fcntl.flock(fh, fcntl.LOCK_UN)


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


def _attribute(cfg: Settings) -> dict[str, Any]:
    from costlens.attribution import attribute, load_owners, load_rules
    from costlens.attribution.versions import record_rule_set_version
    from costlens.warehouse import open_warehouse

    rules = load_rules(cfg.rules, load_owners(cfg.owners))
    with open_warehouse(cfg.data_dir) as wh:
        wh.con.execute("SET enable_progress_bar = false")  # never write to a script's stdout
        result = attribute(wh, rules)
    record_rule_set_version(cfg.state_database_url, rules, periods=None, rows=result.rows)
    return {
        "rule_version": result.rule_version,
        "periods": [str(p) for p in result.periods],
        "rows": result.rows,
        "unallocated_share": float(result.unallocated_share()),
    }


def run_sync(
    cfg: Settings, target: str | None = None, *, show_progress: bool = True
) -> dict[str, Any]:
    """Ingest (every source, or ``target``), attribute and refresh under ``sync.lock``."""
    from ingest import ingest

    started = time.perf_counter()
    progress = terminal_progress() if show_progress else None
    with sync_lock(cfg.data_dir):
        ingested = ingest(cfg, target, progress=progress)
        attributed = _attribute(cfg)
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
        f"{summary['budgets']} budgets; built in {summary['seconds']:.1f}s"
    )


def register(app: typer.Typer) -> None:
    """Add ``refresh`` and ``sync`` to the ``costlens`` command."""

    @app.command("refresh")
    def refresh_command(
        ctx: typer.Context,
        json_output: Annotated[bool, typer.Option("--json", help="Print a JSON summary.")] = False,
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
        json_output: Annotated[bool, typer.Option("--json", help="Print a JSON summary.")] = False,
    ) -> None:
        """Ingest new deliveries, attribute them and publish a new snapshot (safe from cron)."""
        summary = run_sync(settings(ctx), target, show_progress=not json_output)
        if json_output:
            emit_json(summary)
            return
        loaded = sum(d["status"] in ("new", "replaced") for d in summary["ingest"]["deliveries"])
        att = summary["attribute"]
        console.print(
            f"ingest: {loaded} deliveries loaded; attribute: {att['rows']:,} allocation rows, "
            f"{att['unallocated_share']:.1%} unallocated"
        )
        _print_refresh(summary["refresh"])
