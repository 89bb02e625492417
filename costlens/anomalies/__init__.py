"""Cost anomalies: a causal detector, events, root cause and the baselines it is measured against.

>>> from costlens.anomalies import detect, find_events
"""

from costlens.anomalies.detect import COLUMNS, DetectorOptions, detect, infer_period
from costlens.anomalies.events import AnomalyEvent, find_events
from costlens.anomalies.root_cause import DRIVERS, root_cause

__all__ = [
    "COLUMNS",
    "DRIVERS",
    "AnomalyEvent",
    "DetectorOptions",
    "detect",
    "find_events",
    "infer_period",
    "root_cause",
]
