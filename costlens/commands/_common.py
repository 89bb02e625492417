"""What every subcommand shares: the global options, the consoles, JSON output."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path
from typing import Any

import typer
from rich.console import Console

from costlens.config import Settings, load_settings
from costlens.errors import CostlensError

__all__ = [
    "State",
    "console",
    "emit_json",
    "err_console",
    "parse_month",
    "record_json",
    "settings",
]

# Messages carry user text (paths, rule regexes such as "[a-z]+", "[[sources]]"): printed
# verbatim, never read as Rich markup or emoji codes. Soft wrap: a line is never broken by us
# (a terminal wraps it on screen; a log from cron keeps it whole).
console = Console(highlight=False, markup=False, emoji=False, soft_wrap=True)
err_console = Console(stderr=True, highlight=False, markup=False, emoji=False, soft_wrap=True)


@dataclass
class State:
    """Global options given before the subcommand."""

    config_path: Path | None = None
    debug: bool = False
    json_output: bool = False
    """``--json`` was given: an error is printed as a JSON object on stdout too."""
    _settings: Settings | None = None


def settings(ctx: typer.Context) -> Settings:
    """The settings for this invocation, loaded once."""
    state: State = ctx.find_root().obj
    if state._settings is None:
        state._settings = load_settings(state.config_path)
    return state._settings


def record_json(ctx: typer.Context, value: bool) -> bool:
    """The callback of every ``--json`` option: it tells ``main`` to print errors as JSON."""
    state = ctx.find_root().obj
    if value and isinstance(state, State):
        state.json_output = True
    return value


def emit_json(payload: Any) -> None:
    """Print ``payload`` as JSON on stdout (dates, decimals and paths as strings)."""
    typer.echo(json.dumps(payload, indent=2, default=str))


def parse_month(text: str, option: str, error: type[CostlensError] = CostlensError) -> date:
    """``YYYY-MM`` as the first day of that month; ``error`` naming ``option`` otherwise."""
    try:
        return datetime.strptime(text, "%Y-%m").date()
    except ValueError:
        raise error(
            f"not a month: {text!r}", where=option, fix="write it as YYYY-MM, e.g. 2024-03"
        ) from None
