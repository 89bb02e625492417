"""Named fault points, so tests can kill an ingest at an exact moment (never used otherwise).

Set ``COSTLENS_INGEST_KILL_AT`` to a point name (``after-delete``, ``after-insert``,
``before-commit``, ``after-commit``, ``mid-download``) and the process SIGKILLs itself there,
the way an OOM killer or a reboot would.
"""

from __future__ import annotations

import os
import signal

__all__ = ["KILL_ENV", "POINTS", "checkpoint"]

KILL_ENV = "COSTLENS_INGEST_KILL_AT"
POINTS = ("mid-download", "after-delete", "after-insert", "before-commit", "after-commit")


def checkpoint(name: str) -> None:
    """Die at once with SIGKILL when ``COSTLENS_INGEST_KILL_AT`` names this point."""
    if os.environ.get(KILL_ENV) == name:
        os.kill(os.getpid(), signal.SIGKILL)
