"""``costlens serve``: run the Streamlit dashboard on the serving snapshot."""

from __future__ import annotations

import errno
import os
import socket
import sys
from pathlib import Path
from typing import Annotated, NoReturn

import typer

from costlens.commands._common import console, settings
from costlens.config import CONFIG_ENV, Settings
from costlens.errors import CostlensError

__all__ = ["APP_FILE", "check_port_free", "register", "run_dashboard"]

APP_FILE = Path(__file__).resolve().parents[2] / "app.py"
"""The Streamlit entry point, at the root of the checkout."""


def dashboard_command(cfg: Settings, *, host: str, port: int) -> list[str]:
    """The ``streamlit run`` command line for the dashboard."""
    return [
        sys.executable,
        "-m",
        "streamlit",
        "run",
        str(APP_FILE),
        "--server.headless=true",
        f"--server.address={host}",
        f"--server.port={port}",
        "--browser.gatherUsageStats=false",
        "--client.toolbarMode=viewer",
        "--client.showErrorDetails=none",
        "--server.fileWatcherType=none",
    ]


def dashboard_env(cfg: Settings) -> dict[str, str]:
    """The environment that points the dashboard at the same settings as this command."""
    env = dict(os.environ)
    env["COSTLENS_DATA_DIR"] = str(cfg.data_dir)
    env["COSTLENS_RULES"] = str(cfg.rules)
    env["COSTLENS_OWNERS"] = str(cfg.owners)
    # The demo's own state database, not the one a costlens.toml may name (anomaly marks).
    env["COSTLENS_STATE_URL"] = cfg.state_database_url
    if cfg.config_file is not None:
        env[CONFIG_ENV] = str(cfg.config_file)
    return env


def check_port_free(host: str, port: int) -> None:
    """Raise ``CostlensError`` when ``port`` cannot be listened on at ``host`` (in use, or the
    host does not resolve). An address family the machine lacks (no IPv6) is no objection."""
    try:
        addresses = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
    except socket.gaierror as exc:
        raise CostlensError(
            f"cannot listen on host {host!r} ({exc.strerror})",
            where="--host",
            fix="give an address of this machine, e.g. localhost, 127.0.0.1 or 0.0.0.0",
        ) from None
    for family, kind, proto, _, address in addresses:
        with socket.socket(family, kind, proto) as probe:
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as servers do
            try:
                probe.bind(address)
            except OSError as exc:
                if exc.errno == errno.EADDRINUSE:
                    raise CostlensError(
                        f"port {port} on {host} is in use",
                        where="--port",
                        fix=f"stop what listens there, or pass another port (--port {port + 1})",
                    ) from None
                if exc.errno not in (errno.EADDRNOTAVAIL, errno.EAFNOSUPPORT):
                    raise CostlensError(
                        f"cannot listen on {host}:{port} ({exc.strerror})",
                        where="--port",
                        fix="pass a port above 1023 this user may listen on",
                    ) from None


def run_dashboard(cfg: Settings, *, host: str = "localhost", port: int = 8501) -> NoReturn:
    """Replace this process with the dashboard's Streamlit server; never returns.

    ``exec``, not a child process: a supervisor's SIGTERM (or Ctrl+C) reaches the server itself,
    which stops and frees the port, instead of leaving it running under PID 1.
    """
    if not APP_FILE.is_file():
        raise CostlensError(
            "the dashboard's app.py is not installed",
            where=str(APP_FILE),
            fix="run costlens from a checkout of the repository (pip install -e .)",
        )
    check_port_free(host, port)  # before announcing a URL nobody will answer on
    url = f"http://{host}:{port}"
    console.print(f"costlens dashboard on {url} (data: {cfg.data_dir}); Ctrl+C stops it")
    command = dashboard_command(cfg, host=host, port=port)
    sys.stdout.flush()
    sys.stderr.flush()
    os.execve(command[0], command, dashboard_env(cfg))


def register(app: typer.Typer) -> None:
    @app.command()
    def serve(
        ctx: typer.Context,
        port: Annotated[int, typer.Option(help="Port to listen on.")] = 8501,
        host: Annotated[str, typer.Option(help="Address to listen on.")] = "localhost",
    ) -> None:
        """Run the dashboard on the current serving snapshot."""
        run_dashboard(settings(ctx), host=host, port=port)
