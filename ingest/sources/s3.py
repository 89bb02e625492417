"""Exports in S3: list, read manifests, download changed files to staging. The only boto3 user.

boto3 is configured the standard way (credential chain, profiles, ``AWS_ENDPOINT_URL_S3``), plus
the source's optional ``profile``, ``region`` and ``role_arn``. Downloads go to a ``.part`` file
that is resumed with a ranged GET (pinned to the ETag) after an interruption, verified (size, and
MD5 where the ETag is a plain MD5) and renamed into place; a file whose ETag and size match the
staged copy is not downloaded again.
"""

from __future__ import annotations

import hashlib
import json
import re
from pathlib import Path
from typing import TYPE_CHECKING, Any

import boto3
from botocore.exceptions import BotoCoreError, ClientError, NoCredentialsError

from costlens.config import SourceSettings
from costlens.errors import IngestError
from costlens.progress import Progress
from ingest.hooks import checkpoint
from ingest.model import ExportFile

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client

__all__ = ["S3Store", "make_client"]

CHUNK_BYTES = 1 << 20
_PLAIN_MD5 = re.compile(r"^[0-9a-f]{32}$")


def make_client(src: SourceSettings) -> S3Client:
    """An S3 client from the standard configuration, the source's profile/region, and its role."""
    try:
        session = boto3.Session(profile_name=src.profile, region_name=src.region)
        if src.role_arn:
            creds = session.client("sts").assume_role(
                RoleArn=src.role_arn, RoleSessionName="costlens-ingest"
            )["Credentials"]
            session = boto3.Session(
                aws_access_key_id=creds["AccessKeyId"],
                aws_secret_access_key=creds["SecretAccessKey"],
                aws_session_token=creds["SessionToken"],
                region_name=src.region,
            )
        return session.client("s3")
    except (BotoCoreError, ClientError) as exc:
        raise _explain(exc, f"source {src.name}", src) from exc


_BAD_CREDENTIALS = {
    "InvalidAccessKeyId": "the access key id is not known to AWS",
    "SignatureDoesNotMatch": "the secret key does not belong to the access key id",
    "ExpiredToken": "the session token has expired",
    "InvalidToken": "the session token is malformed or not valid",
    "TokenRefreshRequired": "the session token must be refreshed",
}
"""S3 error codes that mean the credentials themselves are wrong, not their permissions."""


def _explain(exc: Exception, where: str, src: SourceSettings) -> IngestError:
    if isinstance(exc, NoCredentialsError):
        return IngestError(
            "no AWS credentials found",
            where=where,
            fix="configure credentials the standard way (AWS_PROFILE, AWS_ACCESS_KEY_ID/"
            "AWS_SECRET_ACCESS_KEY, ~/.aws/credentials or an instance role), or set profile/"
            "role_arn on the source",
        )
    if isinstance(exc, ClientError):
        code = str(exc.response.get("Error", {}).get("Code", ""))
        if code in ("NoSuchBucket", "404", "NotFound"):
            return IngestError(
                f"bucket {src.bucket!r} does not exist",
                where=where,
                fix="check the bucket name (and region) in costlens.toml or the s3:// URL",
            )
        if code in _BAD_CREDENTIALS:
            return IngestError(
                f"AWS does not accept these credentials ({code}: {_BAD_CREDENTIALS[code]})",
                where=where,
                fix="use valid credentials: check AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY / "
                "AWS_SESSION_TOKEN or the profile in use (`aws sts get-caller-identity` shows "
                "which one), or refresh expired ones",
            )
        if code in ("AccessDenied", "403"):
            return IngestError(
                f"access denied ({code})",
                where=where,
                fix="grant s3:ListBucket and s3:GetObject on the bucket to these credentials, "
                "or set role_arn on the source",
            )
        return IngestError(f"S3 refused the request ({code})", where=where, fix="check the source")
    return IngestError(
        f"cannot reach S3 ({exc})",
        where=where,
        fix="check the network, the region and AWS_ENDPOINT_URL_S3 if you set it",
    )


class S3Store:
    """The objects under ``s3://bucket/prefix``; data files are staged under ``staging``."""

    def __init__(self, src: SourceSettings, staging: Path, client: Any = None) -> None:
        assert src.bucket is not None
        self.src = src
        self.bucket = src.bucket
        self.prefix = src.prefix.strip("/")
        self.label = f"s3://{self.bucket}/{self.prefix}".rstrip("/")
        self.staging = staging
        self.client: S3Client = client if client is not None else make_client(src)

    def list_files(self) -> list[ExportFile]:
        """Every object under the prefix, with its size and ETag."""
        prefix = f"{self.prefix}/" if self.prefix else ""
        out = []
        try:
            pages = self.client.get_paginator("list_objects_v2").paginate(
                Bucket=self.bucket, Prefix=prefix
            )
            for page in pages:
                for obj in page.get("Contents", []):
                    out.append(
                        ExportFile(
                            key=obj["Key"], size=int(obj["Size"]), etag=obj["ETag"].strip('"')
                        )
                    )
        except (BotoCoreError, ClientError) as exc:
            raise _explain(exc, self.label, self.src) from exc
        return out

    def read_bytes(self, key: str) -> bytes:
        """The content of a small object (a manifest)."""
        try:
            return self.client.get_object(Bucket=self.bucket, Key=key)["Body"].read()
        except (BotoCoreError, ClientError) as exc:
            raise _explain(exc, f"s3://{self.bucket}/{key}", self.src) from exc

    def identity_known(self) -> bool:
        """S3 listings carry ETags: a delivery is known unchanged before any download."""
        return True

    def fetch(self, file: ExportFile, progress: Progress) -> ExportFile:
        """Download ``file`` into staging unless the staged copy has the same ETag and size."""
        local = self.staging / file.key
        meta = local.with_name(local.name + ".meta.json")
        want = {"etag": file.etag, "size": file.size}
        if local.is_file() and meta.is_file() and json.loads(meta.read_text()) == want:
            return ExportFile(file.key, file.size, file.etag, local)
        local.parent.mkdir(parents=True, exist_ok=True)
        part = local.with_name(local.name + ".part")
        part_meta = part.with_name(part.name + ".meta.json")
        resume = (
            part.is_file() and part_meta.is_file() and json.loads(part_meta.read_text()) == want
        )
        start = part.stat().st_size if resume else 0
        if start > file.size:
            start = 0
        part_meta.write_text(json.dumps(want))
        where = f"s3://{self.bucket}/{file.key}"
        with progress.task(f"download {file.key}", total=file.size) as task:
            task.advance(start)
            if start < file.size:
                self._download(file, part, start, task.advance, where)
        self._verify(file, part, where)
        part.replace(local)
        meta.write_text(json.dumps(want))
        part_meta.unlink(missing_ok=True)
        return ExportFile(file.key, file.size, file.etag, local)

    def _download(self, file: ExportFile, part: Path, start: int, advance: Any, where: str) -> None:
        extra: dict[str, str] = {}
        if start:
            extra["Range"] = f"bytes={start}-"
        if file.etag:
            extra["IfMatch"] = f'"{file.etag}"'
        try:
            body = self.client.get_object(Bucket=self.bucket, Key=file.key, **extra)["Body"]  # type: ignore[arg-type]
            with part.open("ab" if start else "wb") as fh:
                while chunk := body.read(CHUNK_BYTES):
                    fh.write(chunk)
                    fh.flush()
                    advance(len(chunk))
                    checkpoint("mid-download")
        except ClientError as exc:
            code = str(exc.response.get("Error", {}).get("Code", ""))
            if code in ("PreconditionFailed", "412"):
                part.unlink(missing_ok=True)
                raise IngestError(
                    "the object changed while it was being downloaded",
                    where=where,
                    fix="run the ingest again (AWS re-delivered the file meanwhile)",
                ) from exc
            raise _explain(exc, where, self.src) from exc
        except BotoCoreError as exc:
            raise _explain(exc, where, self.src) from exc

    def _verify(self, file: ExportFile, part: Path, where: str) -> None:
        size = part.stat().st_size
        if size != file.size:
            part.unlink(missing_ok=True)
            raise IngestError(
                f"downloaded {size} bytes, S3 lists {file.size}",
                where=where,
                fix="run the ingest again to download it anew",
            )
        if file.etag and _PLAIN_MD5.match(file.etag):
            digest = hashlib.md5(usedforsecurity=False)
            with part.open("rb") as fh:
                while block := fh.read(CHUNK_BYTES):
                    digest.update(block)
            if digest.hexdigest() != file.etag:
                part.unlink(missing_ok=True)
                raise IngestError(
                    "downloaded content does not match the object's MD5 (ETag)",
                    where=where,
                    fix="run the ingest again to download it anew",
                )
