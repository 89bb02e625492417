"""The published serving snapshot: the file and its atomic publish (``files``), the DDL of its
tables next to their layout version (``tables``), and the read-only ``Snapshot`` every reader
opens (``snapshot``). ``costlens.refresh`` writes it; ``costlens.queries`` reads it.
"""

from __future__ import annotations

from costlens.serving.files import (
    SERVING_FILE,
    SERVING_LAYOUT,
    FileStamp,
    SnapshotStamp,
    build_target,
    discard,
    file_stamp,
    files_stamp,
    open_serving,
    publish,
    serving_path,
    snapshot_stamp,
)
from costlens.serving.snapshot import (
    GRAINS,
    CostType,
    Grain,
    Snapshot,
    SnapshotInfo,
    dimension_column,
    open_snapshot,
)

__all__ = [
    "GRAINS",
    "SERVING_FILE",
    "SERVING_LAYOUT",
    "CostType",
    "FileStamp",
    "Grain",
    "Snapshot",
    "SnapshotInfo",
    "SnapshotStamp",
    "build_target",
    "dimension_column",
    "discard",
    "file_stamp",
    "files_stamp",
    "open_serving",
    "open_snapshot",
    "publish",
    "serving_path",
    "snapshot_stamp",
]
