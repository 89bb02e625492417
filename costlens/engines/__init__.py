"""Where attribution runs: DuckDB on the local warehouse (``costlens.attribution``, the default)
or Spark where the line items live (``costlens.engines.spark``); see docs/scale.md."""

ENGINES = ("duckdb", "spark")
"""The values of ``--engine``."""
