"""Find deliveries in a listing of export files, from AWS's manifests where there are some.

- CUR 2.0 / FOCUS (Data Exports):
  ``<export>/metadata/BILLING_PERIOD=YYYY-MM/<export>-Manifest.json`` lists the period's
  ``dataFiles``; its ``executionId`` identifies the delivery.
- Legacy CUR: the period-level ``<report>/yyyymmdd-yyyymmdd/<report>-Manifest.json`` lists the
  ``reportKeys`` of the newest assembly (CREATE_NEW) or the overwritten files (OVERWRITE), with
  its ``assemblyId``. Assembly-level manifests are ignored (the period one points at the newest).
- Legacy Parquet: ``<report>/cost_and_usage_data_status/cost_and_usage_data_status.parquet``
  says READY or UPDATING; while UPDATING the report is skipped.
- No manifest at all: every data file is taken, and periods are read from the data.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date
from typing import Any

from costlens.errors import IngestError
from ingest.model import Delivery, ExportFile

__all__ = ["DATA_SUFFIXES", "STATUS_FILE", "discover"]

CUR2_MANIFEST = re.compile(
    r"(?:^|/)(?P<name>[^/]+)/metadata/BILLING_PERIOD=(?P<year>\d{4})-(?P<month>\d{2})/"
    r"(?:[^/]+/)?[^/]*Manifest\.json$"
)
CUR1_MANIFEST = re.compile(
    r"(?:^|/)(?P<name>[^/]+)/(?P<start>(?P<year>\d{4})(?P<month>\d{2})\d{2})-(?P<end>\d{8})/"
    r"(?P=name)-Manifest\.json$"
)
STATUS_FILE = "cost_and_usage_data_status/cost_and_usage_data_status.parquet"
DATA_SUFFIXES = (".parquet", ".csv", ".csv.gz", ".gz", ".zip")


def _is_data(key: str) -> bool:
    name = key.rsplit("/", 1)[-1].lower()
    return name.endswith(DATA_SUFFIXES) and not key.endswith(STATUS_FILE)


def _load_manifest(read: Callable[[str], bytes], key: str, where: str) -> dict[str, Any]:
    try:
        body = json.loads(read(key))
    except (ValueError, UnicodeDecodeError) as exc:
        raise IngestError(
            f"manifest is not valid JSON ({exc})",
            where=f"{where}/{key}",
            fix="wait for AWS to rewrite it (it is replaced on each delivery) and run again",
        ) from exc
    if not isinstance(body, dict):
        raise IngestError(
            "manifest is not a JSON object", where=f"{where}/{key}", fix="check the export"
        )
    return body


def _period(year: str, month: str, manifest: str) -> date:
    """The billing period a manifest's folder names (``IngestError`` for a month like 13)."""
    try:
        return date(int(year), int(month), 1)
    except ValueError:
        raise IngestError(
            f"the manifest's folder names no valid billing period ({year}-{month})",
            where=manifest,
            fix="AWS names period folders after a real month: rename or remove this folder",
        ) from None


def _locate(
    uri_or_key: str, anchor: str, by_key: dict[str, ExportFile], manifest: str
) -> ExportFile:
    """The listed file a manifest entry names (by full key, or by its path from ``anchor``)."""
    key = re.sub(r"^s3://[^/]+/", "", uri_or_key)
    if key in by_key:
        return by_key[key]
    # A local folder's keys are relative to it: the longest listed key ending the manifest's
    # key is that file (Athena's year=/month= folders all hold a <report>-00001.snappy.parquet).
    suffixes = [listed for listed in by_key if key.endswith("/" + listed)]
    if suffixes:
        return by_key[max(suffixes, key=len)]
    cut = key.find(anchor)
    tail = key[cut:] if cut >= 0 else key.rsplit("/", 1)[-1]
    for listed, f in by_key.items():
        if listed == tail or listed.endswith("/" + tail):
            return f
    raise IngestError(
        f"the manifest lists {key!r}, which is not there",
        where=manifest,
        fix="the delivery is incomplete: wait for AWS to finish it (or restore the file) "
        "and run again",
    )


def _locate_all(
    entries: list[Any], anchor: str, by_key: dict[str, ExportFile], manifest: str
) -> tuple[list[ExportFile], IngestError | None]:
    """The files a manifest lists, or the error for the first one missing (or for none)."""
    if not entries:
        return [], IngestError(
            "the manifest lists no data files (neither dataFiles nor reportKeys)",
            where=manifest,
            fix="wait for AWS to finish the delivery and run again; if it persists, ingest the "
            "data folder directly (its files are then read without a manifest)",
        )
    try:
        return [_locate(str(k), anchor, by_key, manifest) for k in entries], None
    except IngestError as exc:
        return [], exc


@dataclass(frozen=True)
class _ManifestKind:
    """Where one kind of manifest lives and how it names its files and its delivery."""

    pattern: re.Pattern[str]
    """Matches the manifest's key; groups ``name``, ``year``, ``month`` (and more)."""
    anchor: str
    """Path of the data files from the export's folder, formatted with the match's groups."""
    file_keys: tuple[str, ...]
    """Manifest fields listing the data files, in the order they are looked for."""
    id_keys: tuple[str, ...]
    """Manifest fields holding the delivery's execution or assembly id."""


_MANIFEST_KINDS = (
    # CUR 2.0 and FOCUS (AWS Data Exports)
    _ManifestKind(
        CUR2_MANIFEST, "{name}/data/", ("dataFiles", "reportKeys"), ("executionId", "assemblyId")
    ),
    # legacy CUR (CSV or Parquet), period-level manifest
    _ManifestKind(
        CUR1_MANIFEST, "{name}/{start}-{end}/", ("reportKeys", "dataFiles"), ("assemblyId",)
    ),
)


def _from_manifests(
    kind: _ManifestKind,
    files: list[ExportFile],
    by_key: dict[str, ExportFile],
    read: Callable[[str], bytes],
    source: str,
    export: str | None,
    where: str,
) -> list[Delivery]:
    out = []
    for f in files:
        m = kind.pattern.search(f.key)
        if m is None or (export and m["name"] != export):
            continue
        body = _load_manifest(read, f.key, where)
        listed_keys: list[Any] = next((body[k] for k in kind.file_keys if body.get(k)), [])
        anchor = kind.anchor.format(**m.groupdict())
        listed, problem = _locate_all(listed_keys, anchor, by_key, f"{where}/{f.key}")
        delivery_id = next((str(body[k]) for k in kind.id_keys if body.get(k)), None)
        out.append(
            Delivery(
                source=source,
                report=m["name"],
                files=listed,
                billing_period=_period(m["year"], m["month"], f"{where}/{f.key}"),
                assembly_id=delivery_id,
                manifest=f.key,
                problem=problem,
            )
        )
    return out


def discover(
    files: list[ExportFile],
    read: Callable[[str], bytes],
    *,
    source: str,
    export: str | None,
    where: str,
) -> list[Delivery]:
    """Deliveries found in ``files`` (a source's listing), oldest period first."""
    by_key = {f.key: f for f in files}
    found = [
        delivery
        for kind in _MANIFEST_KINDS
        for delivery in _from_manifests(kind, files, by_key, read, source, export, where)
    ]
    if found:
        return sorted(found, key=lambda d: (d.report, d.billing_period or date.min))
    data = [f for f in files if _is_data(f.key)]
    if not data:
        raise IngestError(
            "no export found" + (f" named {export!r}" if export else ""),
            where=where,
            fix="check the bucket, prefix and export (or report) name; AWS's first delivery "
            "can take up to 24 hours after the export is created",
        )
    return [Delivery(source=source, report=export or "", files=data, period_from_data=True)]


def status_keys(files: list[ExportFile]) -> dict[str, str]:
    """Report name → key of its legacy Parquet ``cost_and_usage_data_status`` file."""
    out = {}
    for f in files:
        if f.key.endswith(STATUS_FILE):
            head = f.key[: -len(STATUS_FILE)].rstrip("/")
            out[head.rsplit("/", 1)[-1]] = f.key
    return out
