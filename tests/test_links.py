"""Shareable links: ``costlens.links`` builds them and reads them back, never raising."""

from __future__ import annotations

from datetime import date
from urllib.parse import parse_qsl, urlsplit

import pytest

from costlens import links

FIRST, LAST = date(2026, 9, 1), date(2026, 11, 30)
DEFAULT = (date(2026, 10, 1), LAST)


def _view(**params: str) -> tuple[links.View, list[str]]:
    return links.parse_view(params, first=FIRST, last=LAST, owners={"payments", "checkout"})


@pytest.mark.parametrize("page", list(links.PAGE_PATHS))
def test_a_built_link_reads_back_as_the_same_view(page: str) -> None:
    url = links.page_url(
        "http://localhost:8501", page, cost_type="net_amortized", week="2026-W47", owner="checkout"
    )
    parts = urlsplit(url)
    assert parts.path == "/" + links.PAGE_PATHS[page]
    view, notices = _view(**dict(parse_qsl(parts.query)))
    assert notices == []
    assert view == links.View("net_amortized", date(2026, 11, 16), date(2026, 11, 22), "checkout")


def test_page_paths_are_streamlits_defaults_from_the_page_files() -> None:
    from app_pages.pages import PAGES

    assert [p.path.removeprefix("app_pages/").removesuffix(".py") for p in PAGES] == list(
        links.PAGE_PATHS
    )


def test_no_parameters_is_the_default_view() -> None:
    assert _view() == (links.View("unblended", *DEFAULT), [])


def test_dates_are_kept_within_the_data() -> None:
    view, notices = _view(start="2026-08-01", end="2026-12-31")
    assert (view.start, view.end, notices) == (FIRST, LAST, [])
    early, _ = _view(end="2026-10-15")
    assert (early.start, early.end) == (date(2026, 10, 1), date(2026, 10, 15))
    earlier, _ = _view(end="2026-09-15")
    assert (earlier.start, earlier.end) == (FIRST, date(2026, 9, 15))


@pytest.mark.parametrize(
    ("params", "why"),
    [
        ({"start": "2026-13-45"}, "not a date YYYY-MM-DD"),
        ({"end": "yesterday"}, "not a date YYYY-MM-DD"),
        ({"start": "2026-11-02", "end": "2026-11-01"}, "start after end"),
        ({"start": "2030-01-01"}, "outside the data"),
        ({"week": "2026-W60"}, "not an ISO week YYYY-Www"),
        ({"week": "2020-W01"}, "outside the data"),
    ],
)
def test_a_bad_date_is_one_notice_and_the_default_dates(params: dict[str, str], why: str) -> None:
    view, notices = _view(**params)
    assert (view.start, view.end) == DEFAULT
    assert len(notices) == 1 and why in notices[0], notices
    assert notices[0].startswith("Ignored ") and notices[0].endswith(
        "showing 01 Oct – 30 Nov 2026."
    )


def test_a_bad_cost_type_and_owner_are_a_notice_each() -> None:
    view, notices = _view(cost_type="bogus", owner="nobody", start="2026-11-01")
    assert view == links.View("unblended", date(2026, 11, 1), LAST, None)
    assert notices == [
        "Ignored cost_type=bogus (not one of unblended, amortized, net_amortized); "
        "showing unblended.",
        "Ignored owner=nobody (no such owner); showing all owners.",
    ]


def test_week_wins_over_start_and_end() -> None:
    view, _ = _view(week="2026-W40", start="2026-11-01")
    assert (view.start, view.end) == (date(2026, 9, 28), date(2026, 10, 4))


@pytest.mark.parametrize("day", [date(2026, 1, 1), date(2026, 11, 18), date(2027, 1, 3)])
def test_week_param_and_iso_week_agree(day: date) -> None:
    monday, sunday = links.iso_week(links.week_param(day))
    assert monday <= day <= sunday and monday.weekday() == 0 and (sunday - monday).days == 6


def test_parse_choice_keeps_an_option_and_explains_the_rest() -> None:
    assert links.parse_choice({"g": "day"}, "g", ["day", "week"], "week") == ("day", None)
    assert links.parse_choice({"g": "x"}, "g", ["day"], None, showing="none") == (
        None,
        "Ignored g=x (not one of day); showing none.",
    )
