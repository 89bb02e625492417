"""The frame every dashboard page shares: the freshness line (last delivery, snapshot build time,
months not final yet), checked against the warehouse the snapshot was built from."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date
from pathlib import Path

import duckdb
import pytest
from app_snapshot import APP_FILE, DemoData
from streamlit.testing.v1 import AppTest

from app_pages import pages
from app_pages._shared import freshness_text
from costlens import queries

pytestmark = pytest.mark.slow


@pytest.fixture
def app(demo: DemoData, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[AppTest]:
    monkeypatch.setenv("COSTLENS_DATA_DIR", str(demo.data_dir))
    monkeypatch.setenv("COSTLENS_STATE_URL", f"sqlite:///{tmp_path / 'state.db'}")
    yield AppTest.from_file(str(APP_FILE), default_timeout=60).run()


def test_freshness_reads_the_warehouse_the_snapshot_was_built_from(demo: DemoData) -> None:
    with duckdb.connect(str(demo.data_dir / "warehouse.duckdb"), read_only=True) as con:
        [(last_at,)] = con.execute(
            "SELECT max(ingested_at) FROM deliveries WHERE status = 'current'"
        ).fetchall()
        open_months = [
            p
            for (p,) in con.execute(
                "SELECT billing_period FROM line_items GROUP BY 1"
                " HAVING count(*) FILTER (WHERE invoice_id = '') > 0 ORDER BY 1"
            ).fetchall()
        ]
        [(months,)] = con.execute(
            "SELECT count(DISTINCT billing_period) FROM line_items"
        ).fetchall()
    with queries.open_snapshot(demo.data_dir) as snap:
        fresh = queries.freshness(snap)
        built = snap.info.built_at
    assert fresh.last_delivery_at == last_at and fresh.built_at == built
    assert list(fresh.not_final) == open_months == [date(2025, 6, 1)]  # the sample's last month
    assert months == 3  # ... and the two before it are final (invoiced)


def test_every_page_shows_the_freshness_line(demo: DemoData, app: AppTest) -> None:
    with queries.open_snapshot(demo.data_dir) as snap:
        want = freshness_text(queries.freshness(snap))
    assert "not final yet (no invoice id): Jun 2025" in want
    for page in (p.path for p in pages.PAGES):
        app.switch_page(page).run()
        assert not app.exception, (page, [e.value for e in app.exception])
        assert [c.value for c in app.caption][:1] == [want], page


def test_reports_previews_the_weekly_digest_an_owner_gets(demo: DemoData, app: AppTest) -> None:
    from costlens.attribution import load_owners
    from reports.digest import owner_digest, render_digest
    from reports.digest.week import last_complete_week

    app.switch_page("app_pages/reports.py").run()
    assert not app.exception, [e.value for e in app.exception]
    owner = app.selectbox(key="digest_owner").value
    week = app.selectbox(key="digest_week").value
    registry = load_owners(demo.owners)
    with queries.open_snapshot(demo.data_dir) as snap:
        assert week == last_complete_week(snap.info.last_date)
        want = render_digest(snap, registry.owner(owner), week)
        digest = owner_digest(snap, registry.owner(owner), week, cost_type="unblended")
    shown = [e.proto.body for e in app.get("html")]
    assert shown == [want]
    assert digest.total > 0 and f"${digest.total:,.2f}" in shown[0]  # the week's spend, exact


def test_top_movers_warn_when_the_days_before_are_not_all_in_the_data(
    demo: DemoData, app: AppTest
) -> None:
    with queries.open_snapshot(demo.data_dir) as snap:
        first, _ = queries.date_range(snap)
    assert first is not None
    controls = app.session_state["_costlens_controls"]
    moved = queries.range_windows(controls.start, controls.end)
    assert moved.previous_start < first  # the default range: last month and this month
    covered = (moved.previous_end - first).days + 1
    notes = [w.value for w in app.warning if str(w.value).startswith("Only ")]
    assert notes == [
        f"Only {covered} of the {moved.days} days before the chosen dates have data (it starts "
        f"{first:%d %b %Y}): the changes overstate growth. Choose a shorter range."
    ]
