"""Deep links into the dashboard for the digest: page path under ``dashboard_url`` plus the
dashboard's URL parameters (``owner``, ``cost_type``, ``start``, ``end``, ``week``,
``anomaly``; docs/dashboard.md "Links")."""

from __future__ import annotations

from urllib.parse import urlencode

__all__ = ["dashboard_link"]


def dashboard_link(base: str, page: str, **params: str | None) -> str:
    """The URL of ``page`` (``owners``, ``anomalies``, ``scorecards``) with ``params``.

    >>> dashboard_link("http://localhost:8501/", "owners", owner="pay ments", week="2025-W26")
    'http://localhost:8501/owners?owner=pay+ments&week=2025-W26'
    """
    query = urlencode({k: v for k, v in params.items() if v is not None})
    return f"{base.rstrip('/')}/{page}" + (f"?{query}" if query else "")
