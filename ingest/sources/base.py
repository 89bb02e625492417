"""What every source of export files offers the discovery and the loader."""

from __future__ import annotations

from typing import Protocol

from costlens.progress import Progress
from ingest.model import ExportFile


class Store(Protocol):
    """A listing of export files, with a way to read small files and to fetch data files."""

    label: str
    """How messages name this source (a path or an ``s3://`` URL)."""

    def list_files(self) -> list[ExportFile]:
        """Every file under the source's root (key, size, ETag where known)."""
        ...

    def read_bytes(self, key: str) -> bytes:
        """The content of a small file (a manifest)."""
        ...

    def fetch(self, file: ExportFile, progress: Progress) -> ExportFile:
        """``file`` with a local ``path`` (downloaded if needed) and its identity filled in."""
        ...

    def identity_known(self) -> bool:
        """True when listed files carry an ETag, so a delivery is identified before fetching."""
        ...
