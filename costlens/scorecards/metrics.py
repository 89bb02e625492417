"""The business-metrics CSV behind the unit-cost KPI (``business_metrics`` in the settings).

One row per owner or microservice, day and metric::

    owner,microservice,date,metric,value
    checkout,,2025-06-01,orders,1520
    ,search-api,2025-06-01,queries,880000

``owner`` or ``microservice`` names the subject (one of the two per row; a file may have only
one of the columns), ``date`` is ISO (``YYYY-MM-DD``), ``value`` a non-negative number, read
exactly. A malformed file is refused with its line and column and how to fix it, and nothing is
computed from it.

>>> import io
>>> frame = parse_metrics(io.StringIO("owner,date,metric,value\\ncheckout,2025-06-01,orders,3\\n"))
>>> frame.to_dict("records")[0]["value"]
Decimal('3')
"""

from __future__ import annotations

import csv
import datetime as dt
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import IO

import pandas as pd

from costlens.errors import ConfigError

__all__ = ["METRIC_COLUMNS", "load_metrics", "parse_metrics"]

METRIC_COLUMNS = ("scope", "scope_id", "date", "metric", "value")
_FIX = "write owner or microservice, date (YYYY-MM-DD), metric, value (a number) on each row"


def load_metrics(path: Path) -> pd.DataFrame:
    """The metrics of the CSV file at ``path`` (``ConfigError`` if missing or malformed)."""
    try:
        with path.open(newline="", encoding="utf-8-sig") as fh:
            return parse_metrics(fh, str(path))
    except OSError as exc:
        raise ConfigError(
            f"cannot read the business metrics ({exc.strerror or exc})",
            where=str(path),
            fix="point business_metrics at a readable CSV file, or unset it",
        ) from exc
    except UnicodeDecodeError as exc:
        raise ConfigError(
            "the business metrics are not UTF-8 text", where=str(path), fix="save it as UTF-8 CSV"
        ) from exc


def parse_metrics(fh: IO[str], name: str = "business metrics") -> pd.DataFrame:
    """The rows of a metrics CSV as a frame of ``METRIC_COLUMNS``."""
    reader = csv.DictReader(fh)
    header = [h.strip().lower() for h in reader.fieldnames or []]
    missing = [c for c in ("date", "metric", "value") if c not in header]
    if missing or not {"owner", "microservice"} & set(header):
        need = missing or ["owner or microservice"]
        raise ConfigError(f"the header lacks {', '.join(need)}", where=f"{name}:1", fix=_FIX)
    reader.fieldnames = header
    rows = []
    for number, raw in enumerate(reader, start=2):
        rows.append(_row({k: (v or "").strip() for k, v in raw.items() if k}, f"{name}:{number}"))
    return pd.DataFrame(rows, columns=list(METRIC_COLUMNS))


def _row(raw: dict[str, str], where: str) -> tuple[str, str, dt.date, str, Decimal]:
    owner, microservice = raw.get("owner", ""), raw.get("microservice", "")
    if bool(owner) == bool(microservice):
        raise ConfigError(
            "give an owner or a microservice" + (", not both" if owner else ""),
            where=f"{where}, column owner/microservice",
            fix=_FIX,
        )
    try:
        day = dt.date.fromisoformat(raw["date"])
    except ValueError:
        raise ConfigError(
            f"{raw['date']!r} is not a date", where=f"{where}, column date", fix=_FIX
        ) from None
    if not raw["metric"]:
        raise ConfigError("the metric name is empty", where=f"{where}, column metric", fix=_FIX)
    try:
        value = Decimal(raw["value"])
    except InvalidOperation:
        value = Decimal("NaN")
    if not value.is_finite() or value < 0:
        raise ConfigError(
            f"{raw['value']!r} is not a number of zero or more",
            where=f"{where}, column value",
            fix=_FIX,
        )
    scope = "owner" if owner else "microservice"
    return scope, owner or microservice, day, raw["metric"], value
