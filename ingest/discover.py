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
from datetime import date
from typing import Any

from costlens.errors import IngestError
from ingest.model import Delivery, ExportFile

__all__ = ["DATA_SUFFIXES", "STATUS_FILE", "discover"]

CUR2_MANIFEST = re.compile(
    r"(?:^|/)(?P<export>[^/]+)/metadata/BILLING_PERIOD=(?P<year>\d{4})-(?P<month>\d{2})/"
    r"(?:[^/]+/)?[^/]*Manifest\.json$"
)
CUR1_MANIFEST = re.compile(
    r"(?:^|/)(?P<report>[^/]+)/(?P<start>\d{8})-(?P<end>\d{8})/(?P=report)-Manifest\.json$"
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


def _cur2(
    files: list[ExportFile],
    by_key: dict[str, ExportFile],
    read: Callable[[str], bytes],
    source: str,
    export: str | None,
    where: str,
) -> list[Delivery]:
    out = []
    for f in files:
        m = CUR2_MANIFEST.search(f.key)
        if m is None or (export and m["export"] != export):
            continue
        body = _load_manifest(read, f.key, where)
        data = body.get("dataFiles") or body.get("reportKeys") or []
        anchor = f"{m['export']}/data/"
        listed, problem = _locate_all(data, anchor, by_key, f"{where}/{f.key}")
        out.append(
            Delivery(
                source=source,
                report=m["export"],
                files=listed,
                billing_period=_period(m["year"], m["month"], f"{where}/{f.key}"),
                assembly_id=str(body.get("executionId") or body.get("assemblyId") or "") or None,
                manifest=f.key,
                problem=problem,
            )
        )
    return out


def _cur1(
    files: list[ExportFile],
    by_key: dict[str, ExportFile],
    read: Callable[[str], bytes],
    source: str,
    export: str | None,
    where: str,
) -> list[Delivery]:
    out = []
    for f in files:
        m = CUR1_MANIFEST.search(f.key)
        if m is None or (export and m["report"] != export):
            continue
        body = _load_manifest(read, f.key, where)
        keys = body.get("reportKeys") or body.get("dataFiles") or []
        anchor = f"{m['report']}/{m['start']}-{m['end']}/"
        listed, problem = _locate_all(keys, anchor, by_key, f"{where}/{f.key}")
        start = m["start"]
        out.append(
            Delivery(
                source=source,
                report=m["report"],
                files=listed,
                billing_period=_period(start[:4], start[4:6], f"{where}/{f.key}"),
                assembly_id=str(body.get("assemblyId") or "") or None,
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
    found = _cur2(files, by_key, read, source, export, where)
    found += _cur1(files, by_key, read, source, export, where)
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
