"""The subcommands of ``costlens``, one module per stage; each has ``register(app)``."""

from __future__ import annotations

from types import ModuleType

COMMAND_MODULES: tuple[ModuleType, ...] = ()
