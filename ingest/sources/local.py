"""Exports on the local disk: one file, or a folder (with or without AWS's manifests)."""

from __future__ import annotations

import hashlib
from pathlib import Path

from costlens.errors import IngestError
from costlens.progress import Progress
from ingest.model import ExportFile

__all__ = ["LocalStore", "sha256_of"]


def sha256_of(path: Path) -> str:
    """Hex SHA-256 of a file's content, read in 1 MiB blocks."""
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        while block := fh.read(1 << 20):
            digest.update(block)
    return digest.hexdigest()


class LocalStore:
    """A file or a folder of export files; keys are paths relative to the folder."""

    def __init__(self, path: Path) -> None:
        if not path.exists():
            raise IngestError(
                "no such file or folder",
                where=str(path),
                fix="check the path (in costlens.toml [[sources]] path, or on the command line)",
            )
        self.path = path
        self.root = path if path.is_dir() else path.parent
        self.label = str(path)

    def list_files(self) -> list[ExportFile]:
        """Every file under the folder (or the one file), hidden and partial files aside."""
        candidates = [self.path] if self.path.is_file() else sorted(self.path.rglob("*"))
        out = []
        for p in candidates:
            rel = p.relative_to(self.root)
            if not p.is_file() or any(part.startswith(".") for part in rel.parts):
                continue
            if p.name.endswith(".part"):
                continue
            out.append(ExportFile(key=rel.as_posix(), size=p.stat().st_size, path=p))
        return out

    def read_bytes(self, key: str) -> bytes:
        """Content of the file at ``key``."""
        return (self.root / key).read_bytes()

    def fetch(self, file: ExportFile, progress: Progress) -> ExportFile:
        """The file as it is, with its SHA-256 (its identity in the ledger)."""
        path = self.root / file.key
        if not path.is_file():
            raise IngestError(
                "file listed by the export is not there",
                where=str(path),
                fix="wait for the delivery to complete, or restore the file",
            )
        return ExportFile(file.key, path.stat().st_size, None, path, sha256_of(path))

    def identity_known(self) -> bool:
        """Local files are identified by their SHA-256, known only once read."""
        return False
