# ruff: noqa: E501
"""Injected anomalies and their ground truth (``labels.json``).

Four kinds, chosen per seed among the microservices and sized like real incidents, in dollars
proportional to the scale: a **spike** (+$900/day at scale 1 for two days), a **level shift**
(+$350/day from the middle of the last month on), a **slow drift** (storage accumulating
linearly through the last month, +$400/day by its last day: S3 Standard, or Intelligent-Tiering's
Frequent Access tier in a bucket of ``company.S3_CLASSES`` ``intelligent-tiering``) and the **new-service ramp** (the
new microservice, ~$450/day at full size, ramping from 10 % to full size over 14 days). None
starts in the first ``QUIET_DAYS`` of the history. The expected daily impact is measured on the
generated data itself: the sum over the window of cost minus the cost without the anomaly, divided
by the window's days.
"""

from __future__ import annotations

import random
from dataclasses import asdict, dataclass
from datetime import datetime, timedelta
from decimal import Decimal

import duckdb

from costlens.sample import company as co
from costlens.sample.meters import QUIET_DAYS, Meter, expected_hourly_cost
from costlens.sample.tables import create_temp_table

__all__ = ["Anomaly", "Label", "choose_targets", "load_anomalies", "place_anomalies"]


@dataclass(frozen=True)
class Anomaly:
    """One injected change on a set of meters."""

    kind: str
    microservice: str
    meter_ids: tuple[int, ...]
    start: datetime
    end: datetime
    factor: float


@dataclass
class Label:
    """Ground truth of one anomaly, as written to ``labels.json``."""

    kind: str
    microservice: str
    owner: str
    account: str
    service: str
    usage_type: str
    resource_id: str
    start: str
    end: str
    expected_daily_impact_usd: str

    def as_json(self) -> dict[str, str]:
        """The label as a JSON object."""
        return asdict(self)


_KINDS = (
    ("spike", ("lambda", "dynamodb", "cloudfront"),
     ("Request", "Lambda-GB-Second", "ReadRequestUnits", "WriteRequestUnits", "US-DataTransfer-Out-Bytes")),
    ("level_shift", ("dynamodb", "lambda"), ("WriteRequestUnits", "ReadRequestUnits", "Lambda-GB-Second")),
    ("slow_drift", ("s3",), ("TimedStorage-ByteHrs", "TimedStorage-INT-FA-ByteHrs")),
)  # fmt: skip

SPIKE_USD_PER_DAY = 900.0
"""Cost a spike adds per day, at scale 1 (a runaway retry loop, a crawler, a bad deploy)."""
SPIKE_DAYS = 2
LEVEL_SHIFT_USD_PER_DAY = 350.0
"""Cost a level shift adds per day from its start on, at scale 1 (a feature doubling traffic)."""
DRIFT_USD_PER_DAY_AT_END = 400.0
"""Cost a slow drift adds on its last day, at scale 1 (linear: a log bucket without lifecycle)."""


def choose_targets(seed: int) -> dict[str, str]:
    """``{kind: microservice}`` for the three usage anomalies of ``seed``."""
    rng = random.Random(seed * 7919 + 17)
    chosen: dict[str, str] = {}
    excluded = {co.RETIRED_MICROSERVICE, co.NEW_MICROSERVICE}
    for kind, workloads, _ in _KINDS:
        candidates = [
            m.name
            for m in co.MICROSERVICES
            if m.name not in excluded
            and m.name not in chosen.values()
            and any(w in m.workloads for w in workloads)
        ]
        chosen[kind] = rng.choice(candidates)
    return chosen


def _bare(usage_type: str) -> str:
    """The usage type without its region prefix (``USW2-Request`` → ``Request``)."""
    return usage_type.removeprefix("USW2-")


def place_anomalies(
    meters: list[Meter],
    targets: dict[str, str],
    history_start: datetime,
    history_end: datetime,
    last_month: datetime,
    scale: float,
) -> list[Anomaly]:
    """The anomalies on concrete meters, in the last month of the history and never in its
    first ``QUIET_DAYS``, each on its microservice's costliest eligible meter and sized in
    dollars (proportional to ``scale``): the multiplier is what adds that cost to the meter."""
    quiet = history_start + QUIET_DAYS
    spike = max(last_month + timedelta(days=7), quiet)
    shift = max(last_month + timedelta(days=14), quiet + timedelta(days=3))
    drift = max(last_month, quiet)
    windows = {
        "spike": (spike, spike + timedelta(days=SPIKE_DAYS)),
        "level_shift": (shift, history_end),
        "slow_drift": (drift, history_end),
    }
    out: list[Anomaly] = []
    for kind, _, usage_types in _KINDS:
        name = targets[kind]
        start, end = windows[kind]
        months_in = (start - history_start).total_seconds() / (720 * 3600)
        meter = max(
            (m for m in meters if m.microservice == name and _bare(m.usage_type) in usage_types),
            key=lambda m: (expected_hourly_cost(m, months_in), -m.meter_id),
        )
        daily = expected_hourly_cost(meter, months_in) * 24
        if kind == "spike":
            factor = 1 + SPIKE_USD_PER_DAY * scale / daily
        elif kind == "level_shift":
            factor = 1 + LEVEL_SHIFT_USD_PER_DAY * scale / daily
        else:  # the multiplier grows by ``factor`` a day
            days = (end - start).total_seconds() / 86400
            factor = DRIFT_USD_PER_DAY_AT_END * scale / daily / days
        out.append(Anomaly(kind, name, (meter.meter_id,), start, end, factor))
    new = [m for m in meters if m.microservice == co.NEW_MICROSERVICE]
    if new:
        out.append(
            Anomaly(
                "new_service_ramp",
                co.NEW_MICROSERVICE,
                tuple(m.meter_id for m in new),
                new[0].active_from,
                history_end,
                14.0,
            )
        )
    return out


_ANOMALY_COLUMNS = (
    ("kind", "VARCHAR"), ("meter_id", "INTEGER"), ("start_ts", "TIMESTAMP"),
    ("end_ts", "TIMESTAMP"), ("factor", "DOUBLE"),
)  # fmt: skip


def load_anomalies(con: duckdb.DuckDBPyConnection, anomalies: list[Anomaly]) -> None:
    """Create the temp table ``anomalies`` in ``con``: one row per (anomaly, meter)."""
    rows = [
        {"kind": a.kind, "meter_id": mid, "start_ts": a.start, "end_ts": a.end, "factor": a.factor}
        for a in anomalies
        for mid in a.meter_ids
    ]
    create_temp_table(con, "anomalies", _ANOMALY_COLUMNS, rows)


def make_label(a: Anomaly, meters: list[Meter], impact: Decimal) -> Label:
    """The label of ``a`` given its measured total impact over the window (USD)."""
    first = meters[a.meter_ids[0]]
    days = Decimal((a.end - a.start).total_seconds()) / Decimal(86400)
    many = len(a.meter_ids) > 1
    return Label(
        kind=a.kind,
        microservice=a.microservice,
        owner=co.microservice(a.microservice).owner,
        account=first.account_id,
        service="" if many else first.service_code,
        usage_type="" if many else first.usage_type,
        resource_id="" if many else first.resource_id,
        start=a.start.isoformat() + "Z",
        end=a.end.isoformat() + "Z",
        expected_daily_impact_usd=str((impact / days).quantize(Decimal("0.01"))),
    )
