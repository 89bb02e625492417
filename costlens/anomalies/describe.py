"""Root-cause drivers in words a business owner reads.

A driver value that is empty is named for what it means (a charge with no region is global, one
with no usage type or resource has none), and the combined driver
``service_code/account_id/region/usage_type`` reads as its four values.

>>> describe_driver("region", "")
'Region: (global)'
>>> describe_driver("service_code/account_id/region/usage_type",
...                 "AWSLambda/210987654301/us-east-1/Request")
'AWSLambda · 210987654301 · us-east-1 · Request'
>>> describe_driver("usage_type", "")
'Usage type: (none)'
"""

from __future__ import annotations

from costlens.anomalies.driver_ranking import COMBINATION, COMBINED
from costlens.schema import DIMENSION_LABELS

__all__ = ["DRIVER_LABELS", "describe_driver"]

DRIVER_LABELS: dict[str, str] = {
    **DIMENSION_LABELS,
    "resource_id": "Resource",
    COMBINATION: "Service · account · region · usage type",
}
"""How a driver dimension is named for people."""


def _value(dimension: str, value: str) -> str:
    if value:
        return value
    return "(global)" if dimension == "region" else "(none)"


def describe_driver(dimension: str, value: str) -> str:
    """One driver (a ``dimension`` and ``value`` of a root cause) as a short readable label."""
    if dimension == COMBINATION:
        parts = value.split("/", len(COMBINED) - 1)
        if len(parts) == len(COMBINED):
            return " · ".join(_value(d, v) for d, v in zip(COMBINED, parts, strict=True))
    return f"{DRIVER_LABELS.get(dimension, dimension)}: {_value(dimension, value)}"
