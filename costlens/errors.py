"""One error root and one family per stage.

Every message says *what* went wrong, *where* (file, line, column, rule, key) and *how to fix it*.
The library raises; the CLI turns an error into one line and a non-zero exit, the dashboard into
``st.error``.

>>> str(ConfigError("expected an integer", where="costlens.toml: mail.port", fix="write 587"))
'costlens.toml: mail.port: expected an integer. Fix: write 587'
"""

from __future__ import annotations

import os
from typing import Any

__all__ = [
    "ConfigError",
    "CostlensError",
    "EngineError",
    "IngestError",
    "MailError",
    "QueryError",
    "ReportError",
    "RuleError",
    "SampleError",
    "WarehouseBusyError",
    "WarehouseError",
    "data_dir_error",
    "data_dir_fix",
    "first_line",
]


class CostlensError(Exception):
    """Root of every error costlens raises on purpose.

    ``where`` names the object at fault (a file with its line, a config key, a rule); ``fix`` says
    what the user should do about it.
    """

    exit_code = 1

    def __init__(self, message: str, *, where: str | None = None, fix: str | None = None) -> None:
        self.message = message
        self.where = where
        self.fix = fix
        self.partial: dict[str, Any] = {}
        """What the failing command did before it failed (JSON-friendly: e.g. ``{"ingest":
        {...}}`` with the periods loaded, refused and kept), shown beside the error."""
        super().__init__(str(self))

    def as_json(self) -> dict[str, Any]:
        """The error as ``--json`` prints it: ``{"error": {...}}`` plus ``partial``.

        >>> err = CostlensError("no such source 'x'", where="ingest", fix="use cur")
        >>> err.as_json()["error"]["text"], err.as_json()["error"]["exit_code"]
        ("ingest: no such source 'x'. Fix: use cur", 1)
        """
        error = {
            "type": type(self).__name__,
            "message": self.message,
            "where": self.where,
            "fix": self.fix,
            "exit_code": self.exit_code,
            "text": str(self),
        }
        return {"error": error, **self.partial}

    def __str__(self) -> str:
        text = f"{self.where}: {self.message}" if self.where else self.message
        if self.fix:
            text = f"{text.rstrip('.')}. Fix: {self.fix}"
        return text


class ConfigError(CostlensError):
    """The configuration file or an environment override is invalid."""

    exit_code = 2


class WarehouseError(CostlensError):
    """The warehouse cannot be opened, migrated or written."""


class WarehouseBusyError(WarehouseError):
    """Another process holds the warehouse's writer lock."""

    exit_code = 75  # EX_TEMPFAIL: cron may simply try again later


class SampleError(CostlensError):
    """The sample generator was asked for something it cannot make."""


class EngineError(CostlensError):
    """The engine attribution was pushed to (Spark) is missing, unreachable or failed."""


class IngestError(CostlensError):
    """A billing export could not be read, verified or loaded."""


class RuleError(CostlensError):
    """The attribution rules or the owners registry are invalid."""


class QueryError(CostlensError):
    """A read through ``costlens.queries`` was asked for something not allowed."""


class ReportError(CostlensError):
    """A finance export or a digest could not be produced."""


class MailError(CostlensError):
    """A digest could not be delivered."""


def data_dir_fix(data_dir: str | os.PathLike[str]) -> str:
    """What to do when the data folder cannot be created, locked or written."""
    return (
        f"check that the data directory {data_dir} exists, is a folder and is writable by this "
        "user; set data_dir or COSTLENS_DATA_DIR"
    )


def data_dir_error(
    exc: OSError, data_dir: str | os.PathLike[str], doing: str, *, fix: str | None = None
) -> WarehouseError:
    """A ``WarehouseError`` for an ``OSError`` met while ``doing`` something in ``data_dir``.

    It names the path the system refused (or the folder), the system's reason and the fix.

    >>> str(data_dir_error(PermissionError(13, "Permission denied", "/d/x.lock"), "/d", "lock"))
    '/d/x.lock: cannot lock (Permission denied). Fix: check that the data directory /d exists, \
is a folder and is writable by this user; set data_dir or COSTLENS_DATA_DIR'
    """
    path = exc.filename if exc.filename is not None else data_dir
    reason = exc.strerror or str(exc) or type(exc).__name__
    return WarehouseError(
        f"cannot {doing} ({reason})", where=os.fsdecode(path), fix=fix or data_dir_fix(data_dir)
    )


def first_line(exc: BaseException, default: str | None = None) -> str:
    """The first line of ``exc``'s text (a driver's message often goes on for lines), or
    ``default`` (the exception's type name) when it has none.

    >>> first_line(ValueError("bad value\\nat line 3")), first_line(KeyError())
    ('bad value', 'KeyError')
    >>> first_line(OSError(), "?")
    '?'
    """
    text = str(exc).strip()
    return text.splitlines()[0] if text else (default or type(exc).__name__)
