"""A failed run says what it did: the periods loaded, the one refused and those not reached, on
stdout and in ``--json``; every command's ``--json`` prints an error as a JSON object."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import date
from pathlib import Path

import pytest
from test_ingest_support import Line, write_cur2_export

from costlens.config import Settings
from costlens.errors import IngestError
from ingest import ingest

REPO = Path(__file__).resolve().parent.parent
NOV, DEC, JAN = date(2024, 11, 1), date(2024, 12, 1), date(2025, 1, 1)


@pytest.fixture
def exports(tmp_path: Path) -> Path:
    """November good, December's manifest naming a file that is not there, January good."""
    root = tmp_path / "exports"
    write_cur2_export(root, "cur2", NOV, [Line(unblended_cost="1.25")], "exec-nov")
    write_cur2_export(root, "cur2", DEC, [Line()], "exec-dec")
    write_cur2_export(root, "cur2", JAN, [Line(unblended_cost="3.00")], "exec-jan")
    manifest = root / "cur2/metadata/BILLING_PERIOD=2024-12/cur2-Manifest.json"
    body = json.loads(manifest.read_text())
    body["dataFiles"] = ["s3://billing/exports/cur2/data/BILLING_PERIOD=2024-12/gone.parquet"]
    manifest.write_text(json.dumps(body))
    return root


def _costlens(data_dir: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "COSTLENS_DATA_DIR": str(data_dir)}
    return subprocess.run(
        [sys.executable, "-m", "costlens", *args],
        env=env, capture_output=True, text=True, timeout=120, cwd=REPO,
    )  # fmt: skip


def test_the_library_error_carries_what_was_loaded_refused_and_not_reached(
    exports: Path, data_dir: Path
) -> None:
    with pytest.raises(IngestError) as info:
        ingest(Settings(data_dir=data_dir), str(exports))
    done = info.value.partial["ingest"]
    assert [(d["billing_period"], d["status"], d["totals"]["unblended_cost"])
            for d in done["deliveries"]] == [("2024-11-01", "new", "1.2500000000")]  # fmt: skip
    [refused] = done["refused"]
    assert (refused["billing_period"], refused["report"]) == ("2024-12-01", "cur2")
    assert "gone.parquet" in refused["error"]
    assert [u["billing_period"] for u in done["not_reached"]] == ["2025-01-01"]


def test_the_cli_lists_them_on_stdout_and_the_error_on_stderr(
    exports: Path, data_dir: Path
) -> None:
    out = _costlens(data_dir, "ingest", str(exports))
    assert out.returncode == 1
    errors = [ln for ln in out.stderr.splitlines() if ln.startswith("costlens: error: ")]
    assert len(errors) == 1 and "gone.parquet" in errors[0]  # (progress lines aside)
    lines = out.stdout.strip().splitlines()
    assert len(lines) == 3, out.stdout
    assert lines[0].startswith("ingest: ") and lines[0].endswith(
        "cur2 2024-11: 1 rows, unblended 1.25, new"
    )
    assert lines[1].endswith("cur2 2024-12: refused, kept as it was")
    assert lines[2].endswith("cur2 2025-01: not reached, kept as it was")


def test_json_is_one_object_with_the_error_and_what_was_done(exports: Path, data_dir: Path) -> None:
    out = _costlens(data_dir, "ingest", str(exports), "--json")
    assert out.returncode == 1
    payload = json.loads(out.stdout)
    assert payload["error"]["type"] == "IngestError" and payload["error"]["exit_code"] == 1
    assert payload["error"]["text"] in out.stderr
    assert [d["billing_period"] for d in payload["ingest"]["deliveries"]] == ["2024-11-01"]
    assert [u["billing_period"] for u in payload["ingest"]["refused"]] == ["2024-12-01"]
    assert [u["billing_period"] for u in payload["ingest"]["not_reached"]] == ["2025-01-01"]


def test_sync_says_the_same(exports: Path, data_dir: Path) -> None:
    out = _costlens(data_dir, "sync", str(exports))
    assert out.returncode == 1
    assert out.stdout.strip().splitlines()[1].endswith("cur2 2024-12: refused, kept as it was")
    payload = json.loads(_costlens(data_dir, "sync", str(exports), "--json").stdout)
    assert payload["ingest"]["deliveries"][0]["status"] == "unchanged"  # November, loaded before
    assert payload["ingest"]["refused"][0]["billing_period"] == "2024-12-01"


def test_json_on_any_command_error_is_an_object(tmp_path: Path, data_dir: Path) -> None:
    out = _costlens(data_dir, "generate-sample", str(tmp_path / "s"), "--format", "cur3", "--json")
    assert out.returncode == 1
    payload = json.loads(out.stdout)
    assert payload == {
        "error": {
            "type": "SampleError",
            "message": "unknown format 'cur3'",
            "where": "--format",
            "fix": "use one of cur2, cur1-csv, cur1-parquet, focus",
            "exit_code": 1,
            "text": "--format: unknown format 'cur3'. Fix: use one of cur2, cur1-csv, "
            "cur1-parquet, focus",
        }
    }
    assert (
        _costlens(data_dir, "generate-sample", str(tmp_path / "s"), "--format", "cur3").stdout == ""
    )
