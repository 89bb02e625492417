"""The dashboard's shared UI helpers: money and percentages as a person reads them."""

from __future__ import annotations

import doctest
from decimal import Decimal

import app_snapshot  # noqa: F401  (puts the checkout on sys.path for app_pages)
import pytest

from app_pages import _shared


def test_doctests() -> None:
    assert doctest.testmod(_shared).failed == 0


@pytest.mark.parametrize(
    ("value", "shown"),
    [
        (Decimal("0"), "$0.00"),
        (Decimal("0.005"), "$0.01"),
        (Decimal("0.0049999999"), "$0.00"),
        (Decimal("1234567.8912345678"), "$1,234,567.89"),
        (Decimal("-1234567.895"), "-$1,234,567.90"),
        (Decimal("999.995"), "$1,000.00"),
        (12, "$12.00"),
        (0.1 + 0.2, "$0.30"),
    ],
)
def test_money_has_separators_two_decimals_and_rounds_half_up(
    value: Decimal | int | float, shown: str
) -> None:
    assert _shared.money(value) == shown
