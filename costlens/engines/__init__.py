"""Where attribution runs: DuckDB on the local warehouse (``costlens.attribution``, the default)
or Spark where the line items live (``costlens.engines.spark``; ``ingest.on_spark`` reads an
export there); see docs/scale.md."""

from costlens.errors import EngineError

__all__ = ["ENGINES", "check_engine"]

ENGINES = ("duckdb", "spark")
"""The values of ``--engine``."""


def check_engine(engine: str) -> None:
    """Raise ``EngineError`` unless ``engine`` is one of ``ENGINES``."""
    if engine not in ENGINES:
        raise EngineError(
            f"unknown engine {engine!r}", where="--engine", fix=f"use one of: {', '.join(ENGINES)}"
        )
