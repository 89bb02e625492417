"""Realistic sample billing exports (CUR 2.0, legacy CUR, FOCUS) of a fictional company."""

from __future__ import annotations

__all__: list[str] = []
