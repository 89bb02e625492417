"""The digest through Amazon SES (moto's server on 127.0.0.1), its log on SQLite and PostgreSQL,
and its HTML in headless Chromium (a screenshot kept in build/screenshots/digest.png)."""

from __future__ import annotations

import email
import os
from email.policy import default
from pathlib import Path

import pytest
from app_snapshot import DemoData
from digest_servers import Inbox, free_port, smtp_server

from costlens import queries
from costlens.attribution import load_owners
from costlens.config import DigestSettings, MailSettings, Settings
from reports.digest import IsoWeek, SesTransport, digest_log, plan_digests, send_digests
from reports.digest.message import dollars
from reports.digest.run import render_digest

pytestmark = pytest.mark.slow
WEEK = IsoWeek.parse("2025-W25")
CHROMIUM = Path("/usr/bin/chromium")
SCREENSHOTS = Path(
    os.environ.get("COSTLENS_SCREENSHOTS")
    or Path(__file__).resolve().parent.parent / "build" / "screenshots"
)


def test_digest_log_is_idempotent_on_sqlite_and_postgresql(
    demo: DemoData, snap: queries.Snapshot, state_url: str
) -> None:
    inbox = Inbox()
    with smtp_server(inbox) as port:
        cfg = Settings(
            data_dir=demo.data_dir, owners=demo.owners, state_url=state_url,
            mail=MailSettings(host="127.0.0.1", port=port, security="none", rate_per_second=100),
        )  # fmt: skip
        planned = plan_digests(cfg, snap, load_owners(demo.owners), WEEK)
        from reports.digest import SmtpTransport

        with SmtpTransport(cfg.mail, None) as t:
            first = send_digests(cfg, planned, WEEK, t)
            again = send_digests(cfg, planned, WEEK, t)
            resent = send_digests(cfg, planned[:1], WEEK, t, resend=True)
    assert {o.status for o in first} == {"sent"} and {o.status for o in again} == {"skipped"}
    log = digest_log(state_url, week=str(WEEK))
    assert len(log) == len(planned) + 1
    assert log[-1].references == first[0].message_id != resent[0].message_id
    assert all(r.sent_at is not None and r.status == "sent" for r in log)
    assert [r.recipients for r in log[: len(planned)]] == [",".join(p.recipients) for p in planned]
    assert len(inbox.received) == len(planned) + 1


def test_ses_through_moto_server(
    demo: DemoData, snap: queries.Snapshot, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    boto3 = pytest.importorskip("boto3")
    from moto.server import ThreadedMotoServer

    for k, v in {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing"}.items():
        monkeypatch.setenv(k, v)
    port = free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port)
    server.start()
    try:
        endpoint = f"http://127.0.0.1:{port}"
        mail = MailSettings(
            transport="ses", ses_region="us-east-1", ses_endpoint_url=endpoint,
            sender="costlens@example.com",
        )  # fmt: skip
        cfg = Settings(
            data_dir=demo.data_dir, owners=demo.owners,
            state_url=f"sqlite:///{tmp_path / 'state.db'}", mail=mail,
            digest=DigestSettings(leadership=["cfo@example.com"]),
        )  # fmt: skip
        planned = plan_digests(cfg, snap, load_owners(demo.owners), WEEK, owner="payments")
        unverified = send_digests(cfg, planned, WEEK, SesTransport(mail))
        assert unverified[0].status == "failed" and "SES:" in unverified[0].answer
        ses = boto3.client("ses", region_name="us-east-1", endpoint_url=endpoint)
        ses.verify_email_identity(EmailAddress="costlens@example.com")
        sent = send_digests(cfg, planned, WEEK, SesTransport(mail))
        assert sent[0].status == "sent"
        from moto.backends import get_backend

        backend = get_backend("ses")["123456789012"]["us-east-1"]
        raw = [m for m in backend.sent_messages if hasattr(m, "raw_data")]
        assert len(raw) == 1
        msg = email.message_from_string(raw[0].raw_data, policy=default)
        assert msg["Message-ID"].strip() == sent[0].message_id
        body = msg.get_body(("plain",))
        assert body is not None and "Payments" in str(body.get_content())
    finally:
        server.stop()


@pytest.mark.browser
@pytest.mark.skipif(not CHROMIUM.exists(), reason=f"no Chromium at {CHROMIUM}")
def test_digest_html_in_chromium_fetches_nothing_and_shows_the_figures(
    demo: DemoData, snap: queries.Snapshot, tmp_path: Path
) -> None:
    from playwright.sync_api import sync_playwright

    owner = load_owners(demo.owners).owners["payments"]
    page_html = render_digest(snap, owner, WEEK)
    total = queries.spend(
        snap, grain="week", start=WEEK.start, end=WEEK.end, where={"owner": ["payments"]}
    )["cost"].sum()
    file = tmp_path / "digest.html"
    file.write_text(page_html, encoding="utf-8")
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    requests: list[str] = []
    with sync_playwright() as p:
        browser = p.chromium.launch(
            executable_path=str(CHROMIUM), args=["--no-sandbox", "--disable-gpu"]
        )
        try:
            page = browser.new_page(viewport={"width": 800, "height": 1400})
            page.on("request", lambda r: requests.append(r.url))
            page.goto(file.as_uri())
            assert dollars(total) in page.inner_text("body")
            assert page.locator("table[role=img] tr").count() == 8
            page.screenshot(path=str(SCREENSHOTS / "digest.png"), full_page=True)
        finally:
            browser.close()
    assert requests == [file.as_uri()]  # nothing remote: no pixel, font or image
    assert (SCREENSHOTS / "digest.png").stat().st_size > 10_000
