"""Atomic replacement: SIGKILL at every named point leaves the previous data intact, and the next
run completes; ingesting A then A' leaves exactly what A' alone leaves."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import date
from decimal import Decimal
from pathlib import Path

import duckdb
import pyarrow.parquet as pq
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from test_ingest_support import Line, cur2_table, total, write_cur2_export

from costlens.config import Settings
from costlens.errors import IngestError
from costlens.schema import LINE_ITEMS, column_names
from ingest import ingest
from ingest.hooks import KILL_ENV

NOV = date(2024, 11, 1)
A = [Line(unblended_cost="1.10"), Line(unblended_cost="2.20")]
A2 = [Line(unblended_cost="1.10"), Line(unblended_cost="2.25"), Line("Credit", "-0.35")]

_UNBLENDED = column_names(LINE_ITEMS).index("unblended_cost")


def _state(data_dir: Path) -> tuple[list[tuple[object, ...]], list[tuple[object, ...]]]:
    with duckdb.connect(str(data_dir / "warehouse.duckdb"), read_only=True) as con:
        lines = con.execute(
            "SELECT * EXCLUDE (tags), CAST(tags AS VARCHAR) FROM line_items ORDER BY ALL"
        ).fetchall()
        ledger = con.execute(
            "SELECT * EXCLUDE (ingested_at, engine) FROM deliveries ORDER BY ALL"
        ).fetchall()
    return lines, ledger


def _run_cli(data_dir: Path, target: Path, kill_at: str | None) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k != KILL_ENV}
    env["COSTLENS_DATA_DIR"] = str(data_dir)
    if kill_at:
        env[KILL_ENV] = kill_at
    return subprocess.run(
        [sys.executable, "-m", "costlens", "ingest", str(target), "--json"],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


@pytest.mark.slow
@pytest.mark.parametrize("point", ["after-delete", "after-insert", "before-commit", "after-commit"])
def test_sigkill_leaves_previous_data_and_next_run_completes(
    tmp_path: Path, data_dir: Path, point: str
) -> None:
    exports = tmp_path / "exports"
    write_cur2_export(exports, "cur2", NOV, A, "exec-1")
    ingest(Settings(data_dir=data_dir), str(exports))
    before = _state(data_dir)

    write_cur2_export(exports, "cur2", NOV, A2, "exec-2")
    killed = _run_cli(data_dir, exports, point)
    assert killed.returncode == -9, killed.stderr

    lines, ledger = _state(data_dir)
    if point == "after-commit":  # the new delivery was committed before the kill
        assert sum(Decimal(str(r[_UNBLENDED])) for r in lines) == total(A2)
    else:
        assert (lines, ledger) == before

    [done] = ingest(Settings(data_dir=data_dir), str(exports)).deliveries
    assert done.status == ("unchanged" if point == "after-commit" else "replaced")
    lines, ledger = _state(data_dir)
    assert sum(Decimal(str(r[_UNBLENDED])) for r in lines) == total(A2) == Decimal("3.00")
    assert [r[-1] for r in ledger].count("current") == 1


@pytest.mark.slow
@settings(
    max_examples=10, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    first=st.lists(st.decimals("-50", "50", places=4).map(str), min_size=1, max_size=4),
    second=st.lists(st.decimals("-50", "50", places=4).map(str), min_size=1, max_size=4),
)
def test_a_then_a_prime_equals_a_prime_alone(
    tmp_path_factory: pytest.TempPathFactory, first: list[str], second: list[str]
) -> None:
    base = tmp_path_factory.mktemp("prop")
    exports, both, alone = base / "exports", base / "both", base / "alone"
    write_cur2_export(exports, "cur2", NOV, [Line(unblended_cost=c) for c in first], "exec-a")
    ingest(Settings(data_dir=both), str(exports))
    write_cur2_export(exports, "cur2", NOV, [Line(unblended_cost=c) for c in second], "exec-b")
    ingest(Settings(data_dir=both), str(exports))
    ingest(Settings(data_dir=alone), str(exports))

    lines_both, ledger_both = _state(both)
    lines_alone, ledger_alone = _state(alone)
    assert lines_both == lines_alone
    assert [r for r in ledger_both if r[-1] == "current"] == ledger_alone
    assert sum(Decimal(str(r[_UNBLENDED])) for r in lines_both) == sum(Decimal(c) for c in second)


def _current(data_dir: Path) -> list[tuple[object, ...]]:
    with duckdb.connect(str(data_dir / "warehouse.duckdb"), read_only=True) as con:
        return con.execute(
            "SELECT source, report, SUM(l.unblended_cost) FROM deliveries d "
            "JOIN line_items l USING (delivery_id) WHERE d.status = 'current' "
            "GROUP BY ALL ORDER BY ALL"
        ).fetchall()


def test_the_same_bill_through_two_sources_is_refused_or_replaced_on_request(
    tmp_path: Path, data_dir: Path
) -> None:
    """The same accounts loaded through a second path, source or report would count twice: the
    second is refused and changes nothing, unless it is asked to replace the first."""
    first, second = tmp_path / "first", tmp_path / "second"
    write_cur2_export(first, "cur2", NOV, A, "exec-1")
    write_cur2_export(second, "cur2-copy", NOV, A2, "exec-1")
    ingest(Settings(data_dir=data_dir), str(first))
    before = _state(data_dir)
    with pytest.raises(
        IngestError,
        match=r"holds usage account\(s\) 111111111111 \(payer 999999999999\) already loaded "
        r"from report 'cur2' of source '.*first': loading both would count them twice\. Fix: .*"
        r"--replace",
    ):
        ingest(Settings(data_dir=data_dir), str(second))
    assert _state(data_dir) == before
    report = ingest(Settings(data_dir=data_dir), str(second), replace=True)
    assert [d.status for d in report.deliveries] == ["replaced"]
    assert _current(data_dir) == [(str(second), "cur2-copy", Decimal("3.00"))]  # A2 alone
    after = _state(data_dir)
    with pytest.raises(IngestError, match="already loaded from report 'cur2-copy'"):
        ingest(Settings(data_dir=data_dir), str(first))  # the old source, not removed: refused
    assert _state(data_dir) == after


def test_the_same_accounts_with_and_without_a_payer_id_are_one_bill(
    tmp_path: Path, data_dir: Path
) -> None:
    write_cur2_export(tmp_path / "with", "cur2", NOV, A, "exec-1")
    write_cur2_export(tmp_path / "without", "cur2", NOV, A, "exec-1", payer=None)
    ingest(Settings(data_dir=data_dir), str(tmp_path / "with"))
    with pytest.raises(IngestError, match="would count them twice"):
        ingest(Settings(data_dir=data_dir), str(tmp_path / "without"))
    assert _current(data_dir) == [(str(tmp_path / "with"), "cur2", Decimal("3.30"))]


def test_lines_without_a_usage_account_identify_no_bill(tmp_path: Path, data_dir: Path) -> None:
    """Two member accounts' exports, each with a payer-level tax line (no usage account)."""
    for name, account in (("a", "111111111111"), ("b", "222222222222")):
        lines = [Line(unblended_cost="10", account_id=account), Line("Tax", "1", account_id="")]
        write_cur2_export(tmp_path / name, "cur2", NOV, lines, "exec-1")
        ingest(Settings(data_dir=data_dir), str(tmp_path / name))
    assert _current(data_dir) == [
        (str(tmp_path / "a"), "cur2", Decimal("11.00")),
        (str(tmp_path / "b"), "cur2", Decimal("11.00")),
    ]


def test_member_account_bills_of_one_payer_are_both_current(tmp_path: Path, data_dir: Path) -> None:
    """Member accounts (or billing groups) each export their own accounts, under one payer."""
    write_cur2_export(tmp_path / "a", "cur2", NOV, A, "exec-1")
    member = [Line(unblended_cost="20", account_id="222222222222")]
    write_cur2_export(tmp_path / "b", "cur2", NOV, member, "exec-1")
    for name in ("a", "b"):
        ingest(Settings(data_dir=data_dir), str(tmp_path / name))
    assert _current(data_dir) == [
        (str(tmp_path / "a"), "cur2", Decimal("3.30")),
        (str(tmp_path / "b"), "cur2", Decimal("20.00")),
    ]


def test_bills_of_two_payer_accounts_are_both_current(tmp_path: Path, data_dir: Path) -> None:
    write_cur2_export(tmp_path / "a", "cur2", NOV, A, "exec-1", payer="111111111111")
    write_cur2_export(tmp_path / "b", "cur2", NOV, A2, "exec-1", payer="222222222222")
    ingest(Settings(data_dir=data_dir), str(tmp_path / "a"))
    ingest(Settings(data_dir=data_dir), str(tmp_path / "b"))
    assert _current(data_dir) == [
        (str(tmp_path / "a"), "cur2", Decimal("3.30")),
        (str(tmp_path / "b"), "cur2", Decimal("3.00")),
    ]


def test_part_of_a_loaded_bill_is_refused_and_changes_nothing(
    tmp_path: Path, data_dir: Path
) -> None:
    both = tmp_path / "both"
    data, manifest = write_cur2_export(both, "cur2", NOV, A, "exec-1", payer="111111111111")
    pq.write_table(cur2_table(NOV, A2, "222222222222"), data.with_name("cur2-00002.parquet"))
    meta = json.loads(manifest.read_text())
    meta["dataFiles"].append(meta["dataFiles"][0].replace("-00001.snappy", "-00002"))
    manifest.write_text(json.dumps(meta))
    ingest(Settings(data_dir=data_dir), str(both))
    before = _state(data_dir)
    assert _current(data_dir) == [(str(both), "cur2", Decimal("6.30"))]

    write_cur2_export(tmp_path / "part", "part", NOV, A, "exec-9", payer="111111111111")
    with pytest.raises(
        IngestError,
        match=r"2024-11 holds usage account\(s\) 111111111111 \(payer 111111111111\) already "
        r"loaded from report 'cur2' of source '.*both', which also holds 111111111111 \(payer "
        r"222222222222\): loading both would count the shared accounts twice\. Fix: load each",
    ):
        ingest(Settings(data_dir=data_dir), str(tmp_path / "part"))
    assert _state(data_dir) == before
