"""What ``costlens sync`` does beyond calling each stage: one sync at a time, and attribution of
only what changed.

``sync`` holds ``<data_dir>/sync.lock`` for its whole run, so two overlapping cron runs never
interleave: the second fails at once (``WarehouseBusyError``, exit 75) naming the holder. Each
stage takes the warehouse's writer lock as it goes. The CLI (``costlens.commands.analytics``)
adds ingest (which lives above ``costlens``) and the output.
"""

from __future__ import annotations

import contextlib
from collections.abc import Collection, Iterator
from datetime import date
from pathlib import Path
from typing import Any

import duckdb

from costlens.closing import closed_periods, unbalanced_closed_periods
from costlens.config import Settings
from costlens.errors import WarehouseBusyError, data_dir_error
from costlens.schema import COST_COLUMNS
from costlens.sql import has_table
from costlens.warehouse import FileLock

__all__ = ["SYNC_LOCK", "attribute_changed", "periods_to_attribute", "sync_lock"]

SYNC_LOCK = "sync.lock"


@contextlib.contextmanager
def sync_lock(data_dir: Path) -> Iterator[None]:
    """Hold ``<data_dir>/sync.lock`` (exclusive, non-blocking) for the block."""
    path = data_dir / SYNC_LOCK
    try:
        data_dir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise data_dir_error(exc, data_dir, "create the data folder") from exc

    def busy(holder: str) -> WarehouseBusyError:
        return WarehouseBusyError(
            f"a sync is already running ({holder})",
            where=str(path),
            fix="let it finish; cron's next run will pick up anything new",
        )

    with FileLock(path, what="sync lock", busy=busy):
        yield


_ATTRIBUTED = """
SELECT list(DISTINCT rule_version), list(DISTINCT billing_period) FROM allocations
WHERE NOT list_contains(CAST($closed AS DATE[]), billing_period)
"""
"""The rule versions and periods of the open periods' allocations (closed ones are frozen, with
the rules of their close)."""
_LOADED_PERIODS = "SELECT list(DISTINCT billing_period) FROM line_items"
_LEDGER_SUMS = ", ".join(f"SUM(total_{c}) AS {c}" for c in COST_COLUMNS)
_ALLOCATED_SUMS = ", ".join(f"COALESCE(SUM({c}), 0) AS {c}" for c in COST_COLUMNS)
_UNBALANCED = f"""
WITH ledger AS (
  SELECT billing_period, {_LEDGER_SUMS} FROM deliveries WHERE status = 'current' GROUP BY 1
),
allocated AS (
  SELECT billing_period, {_ALLOCATED_SUMS} FROM (
    SELECT billing_period, {", ".join(COST_COLUMNS)} FROM allocations
    UNION ALL
    SELECT billing_period, {", ".join(COST_COLUMNS)} FROM {{adjustments}}
  ) GROUP BY 1
)
SELECT list(billing_period) FROM ledger JOIN allocated USING (billing_period)
WHERE {" OR ".join(f"ledger.{c} <> allocated.{c}" for c in COST_COLUMNS)}
"""  # noqa: S608 (fixed column names)
"""Periods whose allocations (plus adjustments) no longer sum to their current deliveries' ledger
totals (the exact sums of their line items, so ``line_items`` is not scanned): loaded, but a sync
stopped (killed, or failed) before attributing them."""
_NO_ADJUSTMENTS = "(SELECT * FROM allocations WHERE FALSE)"
"""Stands for ``adjustments`` in a warehouse without it (a bare connection)."""


def periods_to_attribute(
    con: duckdb.DuckDBPyConnection, rule_version: str, changed: Collection[date]
) -> list[date] | None:
    """The billing periods ``sync`` must (re-)attribute: ``None`` for all of them.

    All, when there are no allocations yet or the open periods' were made by other rules;
    otherwise only the periods whose delivery changed in this run, any loaded period not yet
    attributed and any whose allocations (plus adjustments) no longer sum to its ledger totals (a
    sync stopped between its ingest and its attribution; an empty list when nothing changed).
    Closed periods (``costlens.closing``) never are in the list: ``attribute`` leaves them
    frozen (and records their restatements as adjustments). Shared splits are computed per
    period, so attributing a period alone gives exactly what attributing everything gives for it.
    """
    if not has_table(con, "allocations"):
        return None
    closed = set(closed_periods(con))
    row = con.execute(_ATTRIBUTED, {"closed": sorted(closed)}).fetchone()
    versions, attributed = (row[0] or [], row[1] or []) if row else ([], [])
    if set(versions) - {rule_version}:
        return None
    loaded_row = con.execute(_LOADED_PERIODS).fetchone()
    loaded = set(loaded_row[0] or []) if loaded_row else set()
    adjustments = "adjustments" if has_table(con, "adjustments") else _NO_ADJUSTMENTS
    unbalanced_row = con.execute(_UNBALANCED.format(adjustments=adjustments)).fetchone()
    unbalanced = set(unbalanced_row[0] or []) if unbalanced_row else set()
    return sorted((set(changed) | (loaded - set(attributed)) | unbalanced) - closed)


def attribute_changed(cfg: Settings, changed: Collection[date] | None = None) -> dict[str, Any]:
    """Apply the rules: to every period (``changed`` None), or only where ``sync`` needs to
    (``periods_to_attribute``); records the rule-set version. A restated closed period gets
    its adjustments recorded even when nothing else needs attributing (``skipped`` stays True:
    no allocation was written). Returns the CLI's summary."""
    from costlens.attribution import attribute, load_owners, load_rules
    from costlens.attribution.hourly import hourly_current
    from costlens.attribution.versions import ensure_state_database, record_rule_set_version
    from costlens.warehouse import open_warehouse

    rules = load_rules(cfg.rules, load_owners(cfg.owners))
    with open_warehouse(cfg.data_dir) as wh:
        ensure_state_database(cfg.state_database_url)  # before anything is rewritten
        wh.con.execute("SET enable_progress_bar = false")  # never write to a script's stdout
        periods = None if changed is None else periods_to_attribute(wh.con, rules.version, changed)
        if periods == []:
            skipped: dict[str, Any] = {
                "rule_version": rules.version, "periods": [], "rows": 0, "skipped": True,
            }  # fmt: skip
            hourly = cfg.anomalies.hourly_window
            if not unbalanced_closed_periods(wh.con) and hourly_current(wh.con, hourly):
                return skipped
            only_adjustments = attribute(wh, rules, periods=[], hourly_days=hourly)
            return {**skipped, **_close_summary(only_adjustments.closed, only_adjustments)}
        result = attribute(wh, rules, periods=periods, hourly_days=cfg.anomalies.hourly_window)
    record_rule_set_version(cfg.state_database_url, rules, periods=periods, rows=result.rows)
    return {
        "rule_version": result.rule_version,
        "periods": [str(p) for p in result.periods],
        "rows": result.rows,
        "unallocated_share": float(result.unallocated_share()),
        "skipped": False,
        **_close_summary(result.closed, result),
    }


def _close_summary(closed: Collection[date], result: Any) -> dict[str, Any]:
    """The closed periods left frozen and the adjustments recorded, and the hourly allocations
    (``[anomalies] grain = "hour"``) when written, for the summary."""
    hourly = result.hourly
    written = hourly is not None and hourly.written
    return {
        "closed": [str(p) for p in sorted(closed)],
        "adjustments": [a.as_dict() for a in result.adjustments],
        **({"hourly": {"since": str(hourly.since), "rows": hourly.rows}} if written else {}),
    }
