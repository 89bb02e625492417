"""Cost anomalies: a causal detector, events, root cause and the baselines it is measured against.

>>> from costlens.anomalies import detect, find_events
"""

from costlens.anomalies.describe import describe_driver
from costlens.anomalies.detect import COLUMNS, detect, detect_from
from costlens.anomalies.detector_options import DetectorOptions
from costlens.anomalies.detector_state import DetectorState
from costlens.anomalies.events import AnomalyEvent, find_events
from costlens.anomalies.incidents import group_incidents
from costlens.anomalies.root_cause import DRIVERS, root_cause
from costlens.anomalies.time_index import infer_period

__all__ = [
    "COLUMNS",
    "DRIVERS",
    "AnomalyEvent",
    "DetectorOptions",
    "DetectorState",
    "describe_driver",
    "detect",
    "detect_from",
    "find_events",
    "group_incidents",
    "infer_period",
    "root_cause",
]
