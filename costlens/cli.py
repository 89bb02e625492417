"""The ``costlens`` command: one binary, one subcommand per stage.

This is an edge of the system: it loads the settings, calls the library, and turns a
``CostlensError`` into one line on stderr and a non-zero exit (``--debug`` shows the traceback).
Subcommands live in ``costlens.commands``; those that need ``ingest`` or ``reports`` import them
inside the command, so ``import costlens`` never pulls in boto3 or streamlit.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer
from rich.text import Text

from costlens.commands import COMMAND_MODULES
from costlens.commands._common import State, emit_json, err_console
from costlens.errors import CostlensError

__all__ = ["app", "main"]

app = typer.Typer(
    name="costlens",
    help="Attribute every dollar of an AWS bill to a microservice and a business owner.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)

_last_state = State()
"""The global options of the latest invocation, for ``main``'s error handling (``--debug``)."""


@app.callback()
def _root(
    ctx: typer.Context,
    config: Annotated[
        Path | None,
        typer.Option(
            "--config",
            "-c",
            help="costlens.toml to use (default: $COSTLENS_CONFIG or ./costlens.toml)",
        ),
    ] = None,
    debug: Annotated[bool, typer.Option("--debug", help="Show tracebacks on errors.")] = False,
) -> None:
    global _last_state
    _last_state = State(config_path=config, debug=debug)
    ctx.obj = _last_state


for _module in COMMAND_MODULES:
    _module.register(app)


def _print_error(message: str) -> None:
    err_console.print(Text.assemble(("costlens: error:", "bold red"), " ", message))


def _usage_error(exc: typer.TyperException) -> int:
    """Print a usage error (unknown option or command, bad value) as one line; its exit code."""
    if type(exc).__name__ == "NoArgsIsHelpError":  # the help was printed already (as typer does)
        return exc.exit_code
    ctx = getattr(exc, "ctx", None)
    see = f"; see `{ctx.command_path} --help`" if ctx is not None else ""
    _print_error(f"{exc.format_message().rstrip('.')}{see}")
    return exc.exit_code


def main() -> None:
    """Entry point of the ``costlens`` console script."""
    try:
        status = app(prog_name="costlens", standalone_mode=False)
    except CostlensError as exc:
        if _last_state.debug:
            raise
        _print_error(str(exc))
        if _last_state.json_output:  # a script reading stdout gets the error, and what was done
            emit_json(exc.as_json())
        sys.exit(exc.exit_code)
    except typer.TyperException as exc:  # click's usage errors (typer's vendored click)
        sys.exit(_usage_error(exc))
    except OSError as exc:  # a safety net: the library turns the ones it expects into errors
        if _last_state.debug:
            raise
        if exc.filename is not None:
            _print_error(
                f"{exc.filename}: {exc.strerror or exc}. Fix: check that this path exists and is "
                "writable by this user (for the data folder: set data_dir or COSTLENS_DATA_DIR)"
            )
        else:  # not about a file (a connection, a socket): say what it is, not a path fix
            _print_error(f"{type(exc).__name__}: {exc}. Fix: run again with --debug for details")
        sys.exit(1)
    except (KeyboardInterrupt, typer.Abort):
        err_console.print("costlens: interrupted")
        sys.exit(130)
    sys.exit(status if isinstance(status, int) else 0)
