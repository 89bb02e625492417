"""The subcommands of ``costlens``, one module per stage; each has ``register(app)``."""

from __future__ import annotations

from types import ModuleType

from costlens.commands import (
    analytics,
    close,
    dashboard,
    demo,
    digest,
    export,
    ingest,
    rules,
    sample,
    scorecard,
)

COMMAND_MODULES: tuple[ModuleType, ...] = (
    demo,
    sample,
    ingest,
    rules,
    analytics,
    scorecard,
    export,
    digest,
    close,
    dashboard,
)
