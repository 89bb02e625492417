"""Realistic sample billing exports (CUR 2.0, legacy CUR, FOCUS) of a fictional company.

>>> FORMATS
('cur2', 'cur1-csv', 'cur1-parquet', 'focus')
"""

from __future__ import annotations

from costlens.sample.generate import (
    DEFAULT_EXPORT_NAMES,
    FORMATS,
    SampleResult,
    generate_sample,
    last_complete_month,
    sample_periods,
    validate_sample_arguments,
)

__all__ = [
    "DEFAULT_EXPORT_NAMES",
    "FORMATS",
    "SampleResult",
    "generate_sample",
    "last_complete_month",
    "sample_periods",
    "validate_sample_arguments",
]
