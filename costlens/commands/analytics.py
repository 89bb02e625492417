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
from collections.abc import Collection, Iterator
from datetime import date
from pathlib import Path
from typing import Annotated, Any

import duckdb
import typer

from costlens.commands._common import console, emit_json, record_json, settings
from costlens.config import Settings
from costlens.errors import CostlensError, WarehouseBusyError, data_dir_error
from costlens.progress import terminal_progress
from costlens.schema import COST_COLUMNS
from costlens.sql import has_table

__all__ = [
    "describe_attribution",
    "periods_to_attribute",
    "register",
    "run_refresh",
    "run_sync",
    "sync_lock",
]

SYNC_LOCK = "sync.lock"


@contextlib.contextmanager
def sync_lock(data_dir: Path) -> Iterator[None]:
    """Hold ``<data_dir>/sync.lock`` (exclusive, non-blocking) for the block."""
    path = data_dir / SYNC_LOCK
    try:
        data_dir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise data_dir_error(exc, data_dir, "create the data folder") from exc
    try:
        lock_file = path.open("a+")
    except OSError as exc:
        raise data_dir_error(exc, data_dir, "open the sync lock") from exc
    with lock_file as fh:
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


_ATTRIBUTED = """
SELECT list(DISTINCT rule_version), list(DISTINCT billing_period) FROM allocations
"""
_LOADED_PERIODS = "SELECT list(DISTINCT billing_period) FROM line_items"
_LEDGER_SUMS = ", ".join(f"SUM(total_{c}) AS {c}" for c in COST_COLUMNS)
_ALLOCATED_SUMS = ", ".join(f"COALESCE(SUM({c}), 0) AS {c}" for c in COST_COLUMNS)
_UNBALANCED = f"""
WITH ledger AS (
  SELECT billing_period, {_LEDGER_SUMS} FROM deliveries WHERE status = 'current' GROUP BY 1
),
allocated AS (SELECT billing_period, {_ALLOCATED_SUMS} FROM allocations GROUP BY 1)
SELECT list(billing_period) FROM ledger JOIN allocated USING (billing_period)
WHERE {" OR ".join(f"ledger.{c} <> allocated.{c}" for c in COST_COLUMNS)}
"""  # noqa: S608 (fixed column names)
"""Periods whose allocations no longer sum to their current deliveries' ledger totals (the exact
sums of their line items, so ``line_items`` is not scanned): loaded, but a sync stopped (killed,
or failed) before attributing them."""


def periods_to_attribute(
    con: duckdb.DuckDBPyConnection, rule_version: str, changed: Collection[date]
) -> list[date] | None:
    """The billing periods ``sync`` must (re-)attribute: ``None`` for all of them.

    All, when there are no allocations yet or they were made by other rules; otherwise only the
    periods whose delivery changed in this run, any loaded period not yet attributed and any
    whose allocations no longer sum to its ledger totals (a sync stopped between its ingest and its
    attribution; an empty list when nothing changed). Shared splits are computed per period,
    so attributing a period alone gives exactly what attributing everything gives for it.
    """
    if not has_table(con, "allocations"):
        return None
    row = con.execute(_ATTRIBUTED).fetchone()
    versions, attributed = (row[0] or [], row[1] or []) if row else ([], [])
    if set(versions) - {rule_version}:
        return None
    loaded_row = con.execute(_LOADED_PERIODS).fetchone()
    loaded = set(loaded_row[0] or []) if loaded_row else set()
    unbalanced_row = con.execute(_UNBALANCED).fetchone()
    unbalanced = set(unbalanced_row[0] or []) if unbalanced_row else set()
    return sorted(set(changed) | (loaded - set(attributed)) | unbalanced)


def _attribute(cfg: Settings, changed: Collection[date] | None = None) -> dict[str, Any]:
    """Apply the rules: to every period (``changed`` None), or only where ``sync`` needs to."""
    from costlens.attribution import attribute, load_owners, load_rules
    from costlens.attribution.versions import ensure_state_database, record_rule_set_version
    from costlens.warehouse import open_warehouse

    rules = load_rules(cfg.rules, load_owners(cfg.owners))
    with open_warehouse(cfg.data_dir) as wh:
        ensure_state_database(cfg.state_database_url)  # before anything is rewritten
        wh.con.execute("SET enable_progress_bar = false")  # never write to a script's stdout
        periods = None if changed is None else periods_to_attribute(wh.con, rules.version, changed)
        if periods == []:
            return {"rule_version": rules.version, "periods": [], "rows": 0, "skipped": True}
        result = attribute(wh, rules, periods=periods)
    record_rule_set_version(cfg.state_database_url, rules, periods=periods, rows=result.rows)
    return {
        "rule_version": result.rule_version,
        "periods": [str(p) for p in result.periods],
        "rows": result.rows,
        "unallocated_share": float(result.unallocated_share()),
        "skipped": False,
    }


def describe_attribution(summary: dict[str, Any]) -> str:
    """One line for a person about what ``_attribute`` did."""
    if summary.get("skipped"):
        return "nothing new to attribute"
    periods = ", ".join(p[:7] for p in summary["periods"]) or "every period"
    return (
        f"{summary['rows']:,} allocation rows ({periods}), "
        f"{summary['unallocated_share']:.1%} of amortized charges unallocated"
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
        attributed = _attribute(cfg, changed)
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
        if json_output:
            emit_json(summary)
            return
        loaded = sum(d["status"] in ("new", "replaced") for d in summary["ingest"]["deliveries"])
        att = summary["attribute"]
        console.print(f"ingest: {loaded} deliveries loaded; attribute: {describe_attribution(att)}")
        _print_refresh(summary["refresh"])
