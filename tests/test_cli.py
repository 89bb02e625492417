"""The CLI's edge behaviour: one line per error, exit codes, --debug."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

from costlens.cli import app
from costlens.commands._common import settings

COSTLENS = [sys.executable, "-m", "costlens"]


def run(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*COSTLENS, *args], capture_output=True, text=True, cwd=cwd, timeout=60)


def test_help_lists_commands() -> None:
    out = run("--help")
    assert out.returncode == 0
    assert "serve" in out.stdout


def test_config_error_is_one_line_with_exit_2(tmp_path: Path) -> None:
    cfg = tmp_path / "c.toml"
    cfg.write_text('[mail]\nport = "lots"\n')
    out = run("--config", str(cfg), "serve")
    assert out.returncode == 2
    lines = out.stderr.strip().splitlines()
    assert len(lines) == 1, out.stderr
    assert lines[0].startswith("costlens: error: ")
    assert "mail.port" in lines[0] and "Traceback" not in out.stderr


def test_debug_shows_traceback(tmp_path: Path) -> None:
    out = run("--debug", "--config", str(tmp_path / "missing.toml"), "serve")
    assert out.returncode != 0
    assert "Traceback" in out.stderr and "ConfigError" in out.stderr


def test_each_invocation_loads_its_own_settings(tmp_path: Path) -> None:
    """Two invocations in one process (as CliRunner does) do not share loaded settings."""
    seen: list[Path] = []

    @app.command("_where", hidden=True)
    def _where(ctx: typer.Context) -> None:
        seen.append(settings(ctx).data_dir)

    runner = CliRunner()
    for name in ("one", "two"):
        result = runner.invoke(app, ["_where"], env={"COSTLENS_DATA_DIR": str(tmp_path / name)})
        assert result.exit_code == 0, result.output
    assert seen == [tmp_path / "one", tmp_path / "two"]


def test_refresh_summary_says_when_the_snapshot_was_kept(
    capsys: pytest.CaptureFixture[str],
) -> None:
    from costlens.commands.analytics import _print_refresh

    summary = {
        "path": "serving.duckdb",
        "allocation_rows": 40362,
        "first_date": "2026-07-01",
        "last_date": "2026-10-31",
        "deliveries": 4,
        "open_anomalies": 7,
        "anomalies": 17,
        "budgets": 10,
        "seconds": 0.004,
    }
    _print_refresh({**summary, "unchanged": True})
    kept = " ".join(capsys.readouterr().out.split())
    _print_refresh({**summary, "unchanged": False, "seconds": 2.34})
    built = " ".join(capsys.readouterr().out.split())
    assert kept.endswith("10 budgets; unchanged (nothing new since it was built)")
    assert built.endswith("10 budgets; built in 2.3s")


def test_serve_on_a_busy_port_fails_before_announcing_a_url(tmp_path: Path) -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        out = subprocess.run(
            [sys.executable, "-m", "costlens", "serve", "--host", "127.0.0.1", "--port", str(port)],
            capture_output=True, text=True, timeout=60, cwd=tmp_path,
            env={**os.environ, "COSTLENS_DATA_DIR": str(tmp_path / "data")},
        )  # fmt: skip
    assert out.returncode == 1 and out.stdout == ""
    assert out.stderr.strip() == (
        f"costlens: error: --port: port {port} on 127.0.0.1 is in use. Fix: stop what listens "
        f"there, or pass another port (--port {port + 1})"
    )
