"""costlens: every dollar of an AWS bill belongs to a microservice and a business owner.

The core package: configuration, the canonical schema, the warehouse, attribution, rollups,
anomalies, forecasts, scorecards and the read API (``costlens.queries``). It never imports boto3
or streamlit; ``ingest``, ``reports`` and the dashboard depend on it, not the other way round.
"""

from costlens.config import Settings, load_settings
from costlens.errors import CostlensError
from costlens.warehouse import Warehouse, open_warehouse

__all__ = ["CostlensError", "Settings", "Warehouse", "load_settings", "open_warehouse"]
__version__ = "0.1.0"
