"""Deep links into the dashboard for the digest: ``costlens.links.page_url`` (the one definition
of the dashboard's pages and URL parameters, docs/dashboard.md "Links")."""

from __future__ import annotations

from costlens.links import page_url

__all__ = ["dashboard_link"]


def dashboard_link(base: str, page: str, **params: str | None) -> str:
    """The URL of ``page`` (``owners``, ``anomalies``, ``scorecards``) with ``params``.

    >>> dashboard_link("http://localhost:8501/", "owners", owner="pay ments", week="2025-W26")
    'http://localhost:8501/owners?owner=pay+ments&week=2025-W26'
    """
    return page_url(base, page, **params)
