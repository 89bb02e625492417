"""The real dashboard server (``streamlit run app.py``) driven in headless Chromium.

Screenshots of every page are saved as test artefacts, ``build/screenshots/<page>.png`` in the
checkout (``COSTLENS_SCREENSHOTS`` names another folder; ``make screenshots`` runs this test
and copies the README's pictures into ``docs/img``). Every request the browser makes is
recorded: the dashboard must work on a network without internet, so none may leave 127.0.0.1.
"""

from __future__ import annotations

import datetime as dt
import os
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
from app_snapshot import (
    APP_FILE,
    DemoData,
    dollars,
    month_to_date_windows,
    warehouse_dates,
)
from app_snapshot import warehouse_spend as spend

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
SCREENSHOTS = Path(
    os.environ.get("COSTLENS_SCREENSHOTS")
    or Path(__file__).resolve().parent.parent / "build" / "screenshots"
)

pytestmark = [
    pytest.mark.browser,
    pytest.mark.slow,
    pytest.mark.skipif(not CHROMIUM.exists(), reason=f"no Chromium at {CHROMIUM} to drive"),
]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def _wait_healthy(url: str, proc: subprocess.Popen[bytes], timeout: float = 45) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            pytest.fail(f"the dashboard exited early with {proc.returncode}", pytrace=False)
        try:
            with urllib.request.urlopen(f"{url}/_stcore/health", timeout=2) as resp:
                if resp.status == 200:
                    return
        except OSError:
            time.sleep(0.2)
    pytest.fail(f"the dashboard did not answer {url}/_stcore/health in {timeout}s", pytrace=False)


def _record_outside(url: str, outside: list[str]) -> None:
    """Keep ``url`` in ``outside`` when it leaves the loopback server (data: and blob: URLs are
    the page's own)."""
    parsed = urlsplit(url)
    if parsed.scheme in ("data", "blob", "about"):
        return
    if parsed.hostname not in ("127.0.0.1", "localhost"):
        outside.append(url)


@contextmanager
def _browser_page() -> Iterator[Any]:
    """A page of headless Chromium that records every request; on leaving, none may have gone
    to a host other than 127.0.0.1 (the dashboard works without internet)."""
    from playwright.sync_api import expect, sync_playwright

    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    outside: list[str] = []
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": 1440, "height": 2000})
            page.on("request", lambda request: _record_outside(request.url, outside))
            page.set_default_timeout(30_000)
            expect.set_options(timeout=30_000)  # a busy 2-core machine: charts take a moment
            yield page
        finally:
            browser.close()
    assert outside == [], f"the dashboard asked hosts other than 127.0.0.1 for {outside}"


@pytest.fixture(scope="module")
def dashboard(demo: DemoData, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The URL of a real dashboard server on the demo snapshot, as ``costlens serve`` runs it."""
    port = _free_port()
    state = tmp_path_factory.mktemp("state") / "state.db"
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("COSTLENS_")},
        **demo.env(),
        "COSTLENS_STATE_URL": f"sqlite:///{state}",
    }
    proc = subprocess.Popen(
        [
            sys.executable, "-m", "streamlit", "run", str(APP_FILE),
            "--server.headless=true", "--server.address=127.0.0.1", f"--server.port={port}",
            "--browser.gatherUsageStats=false", "--server.fileWatcherType=none",
        ],
        env=env,
        cwd=APP_FILE.parent,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    try:
        _wait_healthy(url, proc)
        yield url
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def test_dashboard_in_chromium_shows_exact_figures_and_navigates(
    dashboard: str, demo: DemoData
) -> None:
    from playwright.sync_api import expect

    from costlens import queries

    _, last = warehouse_dates(demo)
    month_start, prev_start, prev_same_day = month_to_date_windows(last)
    mtd = spend(demo, month_start, last)
    prev = spend(demo, prev_start, prev_same_day)
    with queries.open_snapshot(demo.data_dir) as snap:
        ranking = queries.owner_ranking(snap)
        budgets = queries.budgets(snap)
        top = ranking.iloc[0]
        top_action = queries.top_actions(snap, str(top["scope_id"]), 1)[0]["text"]
    names = dict(zip(budgets["owner"], budgets["display_name"], strict=True))
    savings = sum(ranking["potential_savings"])
    top_name = names.get(top["scope_id"], top["scope_id"])
    top_grade, top_savings = str(top["grade"]), top["potential_savings"]

    with _browser_page() as page:
        page.goto(dashboard)
        metric = page.get_by_test_id("stMetric").filter(has_text="Month-to-date spend")
        # The first run imports plotly and opens the snapshot: allow for a busy machine.
        expect(metric.get_by_test_id("stMetricValue")).to_have_text(dollars(mtd), timeout=90_000)
        expect(metric.get_by_test_id("stMetricDelta")).to_contain_text(dollars(mtd - prev))
        expect(page.get_by_test_id("stPlotlyChart").first).to_be_visible()
        expect(page.get_by_test_id("stAppDeployButton")).to_have_count(0)
        page.wait_for_timeout(500)  # let the charts draw before the picture
        page.screenshot(path=str(SCREENSHOTS / "overview.png"),
                        full_page=True)  # fmt: skip

        for title, heading in [
            ("Owners", "Budget this month"),
            ("Scorecards", "Savings left by owner"),
            ("Anomalies", "Anomalies"),
            ("Allocation health", "Top untagged resources"),
            ("Explore", "Explore"),
            ("Reports", "Summary"),
        ]:
            page.get_by_test_id("stSidebarNav").get_by_text(title, exact=True).click()
            expect(page.get_by_role("heading", name=heading).first).to_be_visible()
            expect(page.get_by_text("snapshot built", exact=False).first).to_be_visible()
            expect(page.get_by_test_id("stException")).to_have_count(0)
            expect(page.get_by_test_id("stAlertContentError")).to_have_count(0)
            page.wait_for_timeout(500)
            name = title.lower().replace(" ", "-")
            page.screenshot(path=str(SCREENSHOTS / f"{name}.png"),
                            full_page=True)  # fmt: skip

        # Scorecards: the top owner's grade and savings left, and its link to the Owners page.
        page.get_by_test_id("stSidebarNav").get_by_text("Scorecards", exact=True).click()
        total = page.get_by_test_id("stMetric").filter(has_text="Savings left / month, all")
        expect(total.get_by_test_id("stMetricValue")).to_have_text(dollars(savings))
        link = page.get_by_test_id("stPageLink").filter(has_text=f"1. {top_name} — grade")
        expect(link).to_contain_text(f"grade {top_grade}")
        expect(link).to_contain_text(f"{dollars(top_savings)} left / month")
        link.click()
        expect(page.get_by_role("heading", name="Scorecard", exact=True)).to_be_visible()
        grade = page.get_by_test_id("stMetric").filter(has_text="Overall grade")
        expect(grade.get_by_test_id("stMetricValue")).to_have_text(top_grade)
        expect(page.get_by_text(top_action, exact=False).first).to_be_visible()
        expect(page.get_by_test_id("stException")).to_have_count(0)
        expect(page.get_by_test_id("stAlertContentError")).to_have_count(0)
        page.wait_for_timeout(500)
        page.screenshot(path=str(SCREENSHOTS / "owner-scorecard.png"),
                        full_page=True)  # fmt: skip


def _metric(page: Any, label: str) -> Any:
    return page.get_by_test_id("stMetric").filter(has_text=label).get_by_test_id("stMetricValue")


def test_deep_links_land_where_they_say(dashboard: str, demo: DemoData) -> None:
    """Three shared links, opened in a fresh browser: an owner's page, the Overview in another
    cost type, one anomaly; each shows the figures of ``costlens.queries`` for what it names. An
    unknown page path lands on the Overview with Streamlit's "Page not found" notice."""
    from playwright.sync_api import expect

    from costlens import queries

    _, last = warehouse_dates(demo)
    month_start, _, _ = month_to_date_windows(last)
    with queries.open_snapshot(demo.data_dir) as snap:
        owners = queries.dimension_values(snap, "owner")
        listed = queries.anomalies(snap, start=month_start - dt.timedelta(days=62), end=last)
    owner = next(o for o in owners[1:] if o != "unallocated")  # not the page's default
    owner_mtd = spend(demo, month_start, last, owner=owner)
    amortized_mtd = spend(demo, month_start, last, "amortized_cost")
    unblended_mtd = spend(demo, month_start, last)
    assert not listed.empty, "the dashboard's sample has anomalies"
    anomaly = listed.iloc[-1]  # not the page's default selection

    with _browser_page() as page:
        for link, label, want, shot in (
            (f"/owners?owner={owner}", "Month to date (unblended)", dollars(owner_mtd),
             "link-owner"),
            ("/?cost_type=amortized", "Month-to-date spend", dollars(amortized_mtd),
             "link-overview-amortized"),
            (f"/anomalies?anomaly={anomaly['anomaly_id']}", "Impact",
             dollars(anomaly["impact_cost"]), "link-anomaly"),
        ):  # fmt: skip
            page.goto(dashboard + link)
            expect(_metric(page, label)).to_have_text(want, timeout=90_000)
            expect(page.get_by_test_id("stException")).to_have_count(0)
            expect(page.get_by_test_id("stAlertContentError")).to_have_count(0)
            page.wait_for_timeout(300)
            page.screenshot(path=str(SCREENSHOTS / f"{shot}.png"), full_page=True)
        # An unknown page: Streamlit says so and runs the main page, the Overview.
        page.goto(dashboard + "/no-such-page")
        expect(page.get_by_text("Page not found").first).to_be_visible(timeout=90_000)
        expect(_metric(page, "Month-to-date spend")).to_have_text(dollars(unblended_mtd))
