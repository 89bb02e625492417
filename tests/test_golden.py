"""The figures do not move: the allocations' totals and every ``costlens.queries`` answer on a
small pinned sample, against ``tests/golden/queries.json``.

The sample is fixed (CUR 2.0, seed 11, three months ending 2025-06, scale 0.15: the dashboard
tests' data, large enough for anomalies) and goes through the real pipeline (generate-sample,
ingest, attribute with ``data/rules.yaml``, refresh). A refactor must leave every answer equal;
a change that moves a figure on purpose re-records the file (``GOLDEN_WRITE=1 pytest
tests/test_golden.py``) and says so in its note. Decimals are compared as their exact text, row
order as written (it is part of the contract), floats to 12 significant digits (the forecasts'
float arithmetic may reorder).
"""

from __future__ import annotations

import datetime as dt
import json
import math
import os
from decimal import Decimal
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from app_snapshot import SAMPLE_ARGS, DemoData, generate_sample, sync_exports

from costlens import queries as q

GOLDEN = Path(__file__).resolve().parent / "golden" / "queries.json"
WRITE = os.environ.get("GOLDEN_WRITE") == "1"
"""Not a ``COSTLENS_*`` name: ``conftest._isolated_env`` removes those."""


def _value(v: Any) -> Any:
    if v is None or (isinstance(v, float) and math.isnan(v)):
        return None
    if isinstance(v, Decimal):
        return f"D:{v}"
    if isinstance(v, float):
        return f"F:{v:.12g}"
    if isinstance(v, dt.datetime | pd.Timestamp):
        return v.isoformat()
    if isinstance(v, dt.date):
        return v.isoformat()
    if isinstance(v, tuple | list):
        return [_value(x) for x in v]
    if isinstance(v, dict):
        return {str(k): _value(x) for k, x in v.items()}
    if hasattr(v, "item"):  # numpy scalars
        return _value(v.item())
    return v


def _frame(frame: pd.DataFrame) -> dict[str, Any]:
    return {
        "columns": list(map(str, frame.columns)),
        "rows": [[_value(v) for v in row] for row in frame.itertuples(index=False)],
    }


def _answers(data_dir: Path, *, presorted: bool = True) -> dict[str, Any]:
    out: dict[str, Any] = {}
    with q.open_snapshot(data_dir) as snap:
        snap.presorted = snap.presorted and presorted
        info = snap.info
        out["info"] = _value(
            [info.first_date, info.last_date, info.deliveries, info.rule_set_version,
             info.allocation_rows, list(info.extra_dimensions), info.anomaly_cost_type]
        )  # fmt: skip
        first, last = q.date_range(snap)
        out["date_range"] = _value([first, last])
        assert first is not None and last is not None
        for dim in (*q.DIMENSIONS, *info.extra_dimensions):
            out[f"dimension_values/{dim}"] = q.dimension_values(snap, dim)
        owners = q.dimension_values(snap, "owner")
        mid = first + (last - first) / 2
        for grain in q.GRAINS:
            for cost_type in q.COST_TYPES:
                for by in ((), ("owner",), ("service_code", "region")):
                    for where in (None, {"owner": owners[:1]}):
                        for start, end in ((None, None), (mid, last)):
                            key = f"spend/{grain}/{cost_type}/{','.join(by)}/{bool(where)}/{start}"
                            out[key] = _frame(
                                q.spend(snap, grain=grain, by=by, cost_type=cost_type,
                                        start=start, end=end, where=where)
                            )  # fmt: skip
        for grain in ("week", "month"):
            out[f"period_windows/{grain}"] = _value(
                list(vars(q.period_windows(grain, last)).values())
            )
            for dim in ("owner", "microservice", "service_code", "account_id"):
                out[f"top_movers/{dim}/{grain}"] = _frame(
                    q.top_movers(snap, dimension=dim, grain=grain)  # type: ignore[arg-type]
                )
        for cost_type in q.COST_TYPES:
            out[f"forecasts/{cost_type}"] = _frame(q.forecasts(snap, cost_type=cost_type))
            out[f"allocation_health/{cost_type}"] = _frame(
                q.allocation_health(snap, cost_type=cost_type)
            )
        out["budgets"] = _frame(q.budgets(snap))
        for period in q.scorecard_periods(snap):
            out[f"owner_ranking/{period}"] = _frame(q.owner_ranking(snap, period=period))
            for owner in owners:
                out[f"scorecard/{period}/{owner}"] = _frame(
                    q.scorecard_kpis(snap, "owner", owner, period=period)
                )
                out[f"top_actions/{period}/{owner}"] = _value(
                    q.top_actions(snap, owner, 5, period=period)
                )
        out["untagged_resources"] = _frame(q.untagged_resources(snap))
        for incidents in (True, False):
            for include_marked in (False, True):
                out[f"anomalies/{incidents}/{include_marked}"] = _frame(
                    q.anomalies(snap, incidents=incidents, include_marked=include_marked)
                )
        for aid in q.anomalies(snap, incidents=False)["anomaly_id"]:
            out[f"root_cause/{aid}"] = _frame(q.anomaly_root_cause(snap, aid))
            out[f"days/{aid}"] = _frame(q.anomaly_days(snap, aid))
    return out


def _totals(data_dir: Path) -> dict[str, str]:
    import duckdb

    with duckdb.connect(str(data_dir / "warehouse.duckdb"), read_only=True) as con:
        rows = con.execute(
            "SELECT billing_period, SUM(unblended_cost), SUM(amortized_cost), "
            "SUM(net_amortized_cost), SUM(list_cost), COUNT(*) FROM allocations "
            "GROUP BY 1 ORDER BY 1"
        ).fetchall()
    return {str(p): " ".join(str(v) for v in values) for p, *values in rows}


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Its own data folder: the dashboard tests' shared one collects their anomaly marks."""
    root = tmp_path_factory.mktemp("golden")
    exports = generate_sample(root / "exports", *SAMPLE_ARGS)
    return sync_exports(DemoData(root / "data"), exports).data_dir


@pytest.mark.slow
def test_every_answer_equals_the_golden_file(data_dir: Path) -> None:
    answers = {"allocations": _totals(data_dir), **_answers(data_dir)}
    if WRITE:
        GOLDEN.parent.mkdir(exist_ok=True)
        GOLDEN.write_text(json.dumps(answers, indent=1, sort_keys=True) + "\n")
    golden = json.loads(GOLDEN.read_text())
    assert sorted(answers) == sorted(golden)
    for key in sorted(golden):
        assert answers[key] == golden[key], key
    assert len(golden) > 150 and any(k.startswith("root_cause/") for k in golden)


@pytest.mark.slow
def test_the_writers_row_order_is_the_readers(data_dir: Path) -> None:
    """The refresh stores the small tables in the order the questions return them, so a current
    snapshot's reads need no ORDER BY: with the ORDER BY put back, every answer is the same
    (allocation_health aside: without the stored shares it falls back to an older layout's
    definition)."""
    stored = _answers(data_dir)
    ordered = _answers(data_dir, presorted=False)
    differ = [
        k for k in stored if stored[k] != ordered[k] and not k.startswith("allocation_health")
    ]
    assert differ == []
