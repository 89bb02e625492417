"""root_cause() given Decimal costs computes every dollar exactly; given floats, floats."""

from __future__ import annotations

from decimal import Decimal

import pandas as pd
import pytest

from costlens.anomalies import root_cause
from costlens.anomalies.root_cause import prorate

D = Decimal
# Baseline 1-3 January (3 days), event 4 January (1 day).
_ROWS = [
    ("2024-01-01", "EC2", D("0.1000000001")),
    ("2024-01-02", "EC2", D("0.2000000002")),
    ("2024-01-03", "EC2", D("0.3000000003")),
    ("2024-01-04", "EC2", D("1.0000000001")),
    ("2024-01-01", "S3", D("1")),
    ("2024-01-02", "S3", D("1")),
    ("2024-01-03", "S3", D("2")),
    ("2024-01-04", "S3", D("1.0000000001")),
    ("2024-01-04", "S3", D("0.0000000001")),
    ("2024-01-04", "RDS", None),  # no cost: zero
]


def _frame() -> pd.DataFrame:
    frame = pd.DataFrame(_ROWS, columns=["usage_date", "service_code", "cost"])
    frame["usage_date"] = pd.to_datetime(frame["usage_date"])
    return frame


def test_decimal_costs_give_exact_decimal_contributions() -> None:
    out = root_cause(
        _frame(), ("2024-01-04", "2024-01-04"), ("2024-01-01", "2024-01-03"),
        drivers=["service_code"], cost_column="cost",
    )  # fmt: skip
    got = {r.value: (r.baseline_cost, r.event_cost, r.delta_cost) for r in out.itertuples()}
    # EC2: 0.6000000006 over 3 days -> 0.2000000002 a day; S3: 4 / 3 -> 1.3333333333 (10 places).
    assert got == {
        "EC2": (D("0.2000000002"), D("1.0000000001"), D("0.7999999999")),
        "S3": (D("1.3333333333"), D("1.0000000002"), D("-0.3333333331")),
        "RDS": (D(0), D(0), D(0)),
    }
    assert all(isinstance(m, Decimal) for v in got.values() for m in v)
    assert list(out["value"]) == ["EC2", "S3", "RDS"]  # largest absolute change first
    # Total change: 2.0000000003 - 4.6000000006 / 3 (1.5333333335) = 0.4666666668.
    assert out.set_index("value").loc["EC2", "share"] == pytest.approx(0.7999999999 / 0.4666666668)


def test_float_costs_still_give_floats() -> None:
    frame = _frame()
    frame["cost"] = [None if c is None else float(c) for c in frame["cost"]]
    out = root_cause(
        frame, ("2024-01-04", "2024-01-04"), ("2024-01-01", "2024-01-03"),
        drivers=["service_code"], cost_column="cost",
    )  # fmt: skip
    assert out["delta_cost"].dtype == "float64"
    assert out.set_index("value").loc["EC2", "delta_cost"] == pytest.approx(0.8, abs=1e-9)


@pytest.mark.parametrize(
    ("baseline_sum", "days", "want"),
    [
        (D("0.0000000005"), (1, 2), D("0.0000000003")),  # half up, not half even
        (D("-0.0000000005"), (1, 2), D("-0.0000000003")),
        (D("300"), (7, 28), D("75.0000000000")),
        (D("99999999.9999999999"), (2, 3), D("66666666.6666666666")),
    ],
)
def test_prorate_scales_exactly_and_rounds_half_up(
    baseline_sum: Decimal, days: tuple[int, int], want: Decimal
) -> None:
    assert prorate(baseline_sum, days) == want
    assert prorate(baseline_sum, days).as_tuple().exponent == -10
