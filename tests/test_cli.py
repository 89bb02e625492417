"""The CLI's edge behaviour: one line per error, exit codes, --debug."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

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
