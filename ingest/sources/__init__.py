"""Where exports come from: a local file or folder, or an S3 bucket (the only boto3 user)."""

from __future__ import annotations

from ingest.sources.base import Store
from ingest.sources.local import LocalStore

__all__ = ["LocalStore", "Store"]
