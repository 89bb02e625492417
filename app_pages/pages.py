"""The dashboard's pages, listed once: ``app.py`` builds its navigation from ``PAGES`` and the
tests render each of them (``tests/test_app_pages.py``, ``tests/test_app_data_shapes.py``).

>>> [p.path for p in PAGES][:2]
['app_pages/overview.py', 'app_pages/owners.py']
"""

from __future__ import annotations

from typing import NamedTuple

__all__ = ["PAGES", "PageSpec"]


class PageSpec(NamedTuple):
    """One page: its file (relative to the checkout), title and Material icon."""

    path: str
    title: str
    icon: str
    default: bool = False


PAGES: tuple[PageSpec, ...] = (
    PageSpec("app_pages/overview.py", "Overview", ":material/dashboard:", default=True),
    PageSpec("app_pages/owners.py", "Owners", ":material/groups:"),
    PageSpec("app_pages/scorecards.py", "Scorecards", ":material/scoreboard:"),
    PageSpec("app_pages/anomalies.py", "Anomalies", ":material/warning:"),
    PageSpec("app_pages/allocation_health.py", "Allocation health", ":material/rule:"),
    PageSpec("app_pages/explore.py", "Explore", ":material/query_stats:"),
    PageSpec("app_pages/reports.py", "Reports", ":material/request_quote:"),
)
